"""Training crops from a folder of PNGs (with an optional corpus ``manifest.csv``).

Each image is normalised the way the codec normalises a tile: subtract its minimum
and divide by ``2**b - 1`` where ``b`` is the bit length of its value span.  Crops are
random, flipped, and drawn with modality balancing (modality, then source, then image,
each chosen uniformly, with CT and MR weighted up).

>>> import numpy as np, tempfile, pathlib
>>> from PIL import Image
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> Image.fromarray(np.arange(4096, dtype=np.uint16).reshape(64, 64)).save(d / "a.png")
>>> ds = CropDataset(d, crop=32, seed=0)
>>> ds.batch(2).shape
(2, 1, 32, 32)
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from ..errors import MicInputError

#: relative sampling weight per modality (others get 1.0)
MODALITY_WEIGHTS = {"CT": 3.0, "MR": 2.0}


def normalise(a: np.ndarray) -> np.ndarray:
    """Map integer samples to [0, 1] by (a - min) / (2**bits(span) - 1) (the codec's rule)."""
    lo = int(a.min())
    span = int(a.max()) - lo
    scale = float((1 << max(1, span.bit_length())) - 1)
    return ((a.astype(np.float32) - lo) / scale).astype(np.float32)


def _find_manifest(root: Path) -> Path | None:
    for cand in (root / "manifest.csv", root.parent / "manifest.csv"):
        if cand.is_file():
            return cand
    return None


class CropDataset:
    """Random, modality-balanced crops of the PNGs under ``root`` (loaded once into RAM)."""

    def __init__(self, root: str | Path, crop: int = 128, seed: int = 0,
                 max_images: int | None = None) -> None:
        root = Path(root)
        if not root.is_dir():
            raise MicInputError(f"training data folder {root} does not exist")
        self.crop = crop
        self.rng = np.random.default_rng(seed)
        entries: list[tuple[Path, str, str]] = []  # path, modality, source
        man = _find_manifest(root)
        if man is not None:
            base = man.parent
            with open(man, newline="") as fh:
                for row in csv.DictReader(fh):
                    p = (base / row["png"]).resolve()
                    if row.get("split") == "eval":
                        continue  # never train on the evaluation split
                    if root.resolve() in p.parents and p.is_file():
                        entries.append((p, row.get("modality", "?"), row.get("source", "?")))
        if not entries:
            entries = [(p, "?", p.parent.name) for p in sorted(root.rglob("*.png"))]
        if "eval" in {part.lower() for part in root.resolve().parts}:
            raise MicInputError(f"refusing to train on an evaluation folder: {root}")
        if max_images is not None:
            self.rng.shuffle(entries)
            entries = entries[:max_images]
        if not entries:
            raise MicInputError(f"no PNG images under {root}")
        from PIL import Image

        self.images: list[np.ndarray] = []
        self.norms: list[tuple[int, float]] = []
        self.groups: dict[str, dict[str, list[int]]] = {}
        for p, mod, src in entries:
            a = np.asarray(Image.open(p))
            if a.ndim == 3:
                a = a[..., :3]
                planes = [np.ascontiguousarray(a[..., c]) for c in range(a.shape[2])]
            else:
                planes = [a]
            for pl in planes:
                self.groups.setdefault(mod, {}).setdefault(src, []).append(len(self.images))
                self.images.append(pl)
                lo = int(pl.min())
                self.norms.append((lo, float((1 << max(1, (int(pl.max()) - lo).bit_length())) - 1)))
        mods = sorted(self.groups)
        w = np.array([MODALITY_WEIGHTS.get(m, 1.0) for m in mods])
        self.modalities = mods
        self.mod_p = w / w.sum()

    def __len__(self) -> int:
        return len(self.images)

    def _pick(self) -> int:
        mod = self.modalities[self.rng.choice(len(self.modalities), p=self.mod_p)]
        srcs = sorted(self.groups[mod])
        idxs = self.groups[mod][srcs[self.rng.integers(len(srcs))]]
        return int(idxs[self.rng.integers(len(idxs))])

    def sample(self) -> np.ndarray:
        """One normalised crop (crop, crop) float32, flipped at random."""
        c = self.crop
        for _ in range(4):  # avoid mostly-flat background crops
            i = self._pick()
            a = self.images[i]
            lo, scale = self.norms[i]
            h, w = a.shape
            if h < c or w < c:
                a = np.pad(a, ((0, max(0, c - h)), (0, max(0, c - w))), mode="reflect")
                h, w = a.shape
            r0 = self.rng.integers(0, h - c + 1)
            c0 = self.rng.integers(0, w - c + 1)
            x = (a[r0:r0 + c, c0:c0 + c].astype(np.float32) - lo) / scale
            if x.std() > 1e-3:
                break
        if self.rng.random() < 0.5:
            x = x[:, ::-1]
        if self.rng.random() < 0.5:
            x = x[::-1, :]
        return np.ascontiguousarray(x)

    def batch(self, n: int) -> np.ndarray:
        """``n`` crops stacked as (n, 1, crop, crop) float32."""
        return np.stack([self.sample() for _ in range(n)])[:, None]
