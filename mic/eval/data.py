"""The images a benchmark runs on: a folder of files, optionally described by a ``manifest.csv``.

A manifest in the corpus format (columns ``split, modality, source, rows, cols,
channels, dtype, bits_stored, eff_bits, offset, photometric, png`` ...) is looked
for in the folder and in its parent; ``png`` paths are relative to the
manifest's folder.  Rows whose file lies under the folder are used; by default
only ``split == "eval"`` rows when there are any, otherwise all of them.

Each image becomes a :class:`BenchImage` holding two views of the same samples:

* ``native`` — what mic codes: signed data (``offset`` != 0) shifted back to
  ``int16``, everything else as stored;
* ``stored`` — the unsigned stored values (the PNG's samples);
* ``unsigned`` — what anchors whose imagecodecs binding refuses signed input get:
  the stored values for unsigned data, ``native - min`` for signed data (the most
  favourable unsigned form; the shift is constant, so errors are unchanged), with
  ``ubits`` = the bits its largest value needs (told to JPEG XL / JPEG).

Without a manifest every PNG/TIFF/NPY/DICOM file under the folder is read, the
modality is the DICOM Modality or the parent folder's name, and the bits are
the fewest that hold the data.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MicInputError

__all__ = ["IMAGE_SUFFIXES", "BenchImage", "find_manifest", "load_images", "read_image"]

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".npy", ".dcm")


def read_image(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Read one image file to (array, metadata).

    Uses :func:`mic.io.read_image` when that module exists; otherwise Pillow for
    PNG (keeps uint16), tifffile for TIFF, numpy for NPY, pydicom for DICOM.

    >>> import numpy as np, tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.npy"); np.save(p, np.eye(3, dtype=np.uint16))
    >>> read_image(p)[0].dtype
    dtype('uint16')
    """
    try:
        from ..io import read_image as _mic_read  # type: ignore[attr-defined]
    except ImportError:
        _mic_read = None
    if _mic_read is not None:
        arr, m = _mic_read(path)
        extra = dict(getattr(m, "extra", {}) or {})
        meta = {"modality": str(extra.get("modality") or extra.get("Modality") or ""),
                "bits_stored": getattr(m, "bits_stored", None),
                "photometric": getattr(m, "photometric", None)}
        return np.asarray(arr), meta
    p = Path(path)
    suf = p.suffix.lower()
    try:
        if suf == ".npy":
            return np.load(p, allow_pickle=False), {}
        if suf in (".tif", ".tiff"):
            import tifffile

            return tifffile.imread(p), {}
        if suf == ".dcm":
            import pydicom

            ds = pydicom.dcmread(p)
            return ds.pixel_array, {"modality": str(getattr(ds, "Modality", "") or "")}
        from PIL import Image

        with Image.open(p) as im:
            return np.asarray(im), {}
    except (OSError, ValueError) as exc:
        raise MicInputError(f"cannot read image {p}: {exc}") from None


@dataclass
class BenchImage:
    """One image of a benchmark, with the facts the metrics need."""

    name: str
    modality: str
    native: np.ndarray
    stored: np.ndarray
    bits: int
    eff_bits: int
    offset: int = 0
    unsigned: np.ndarray | None = None
    ubits: int = 0
    source: str = ""
    path: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return int(self.native.shape[0])

    @property
    def cols(self) -> int:
        return int(self.native.shape[1])

    @property
    def samples(self) -> int:
        return 1 if self.native.ndim == 2 else int(self.native.shape[2])

    @property
    def pixels(self) -> int:
        return self.rows * self.cols

    @property
    def stored_bytes(self) -> int:
        """Uncompressed size: rows x cols x samples x bytes per stored sample."""
        return int(self.native.size * self.native.dtype.itemsize)

    @property
    def signed(self) -> bool:
        return self.native.dtype.kind == "i"


def _bits_from_data(a: np.ndarray) -> int:
    if a.dtype.kind == "i":
        lo, hi = int(a.min()), int(a.max())
        b = 2
        while not (-(1 << (b - 1)) <= lo and hi <= (1 << (b - 1)) - 1):
            b += 1
        return b
    return max(1, int(a.max()).bit_length())


def make_image(arr: np.ndarray, *, name: str, modality: str = "unknown", bits: int | None = None,
               eff_bits: int | None = None, offset: int = 0, source: str = "",
               path: str = "") -> BenchImage:
    """Build a :class:`BenchImage` from stored samples (``offset`` subtracted for ``native``).

    >>> im = make_image(np.array([[32768, 33000]], np.uint16), name="x", bits=16, offset=32768)
    >>> im.native.dtype, im.native.tolist(), im.stored.tolist()
    (dtype('int16'), [[0, 232]], [[32768, 33000]])
    """
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[-1] == 4:  # RGBA PNG: drop alpha
        a = a[..., :3]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] != 3):
        raise MicInputError(f"{name}: expected (rows, cols) or (rows, cols, 3), got {a.shape}")
    if a.dtype.kind not in "ui" or a.dtype.itemsize > 2:
        raise MicInputError(f"{name}: unsupported dtype {a.dtype}")
    a = np.ascontiguousarray(a)
    if offset:
        if a.dtype != np.uint16:
            raise MicInputError(f"{name}: an offset needs uint16 stored data, got {a.dtype}")
        native = (a.astype(np.int32) - int(offset)).astype(np.int16)
        stored = a
    elif a.dtype.kind == "i":
        native = a
        stored = (a.astype(np.int32) + (1 << (8 * a.dtype.itemsize - 1))).astype(
            np.uint8 if a.dtype.itemsize == 1 else np.uint16)
        offset = 1 << (8 * a.dtype.itemsize - 1)
    else:
        native = stored = a
    data_bits = _bits_from_data(native)
    if bits is None or bits < data_bits:
        bits = max(bits or 0, data_bits)
    if eff_bits is None:
        eff_bits = data_bits
    if native.dtype.kind == "i":
        unsigned = (native.astype(np.int32) - int(native.min())).astype(stored.dtype)
    else:
        unsigned = stored
    ubits = max(1, int(unsigned.max()).bit_length())
    return BenchImage(name=name, modality=modality or "unknown", native=native, stored=stored,
                      bits=int(bits), eff_bits=int(eff_bits), offset=int(offset),
                      unsigned=unsigned, ubits=ubits, source=source, path=path)


def top8(im: BenchImage) -> BenchImage:
    """``im`` reduced to its top 8 bits, as the seed paper's table codes images: the
    unsigned form shifted right by its bit length less 8 (``ubits``: the bit length of its
    largest value, so that the 8 bits hold the image's range; 8-bit images are unchanged),
    as uint8 with 8 bits stored.

    >>> im = make_image(np.array([[0, 1000, 4095]], np.uint16), name="ct", bits=12)
    >>> t = top8(im)
    >>> t.native.dtype, t.native.tolist(), t.bits, t.name
    (dtype('uint8'), [[0, 62, 255]], 8, 'ct')
    """
    u = np.asarray(im.unsigned if im.unsigned is not None else im.stored)
    shift = max(0, im.ubits - 8)
    if im.samples == 3 and u.dtype == np.uint8:
        a8 = u
    else:
        a8 = (u.astype(np.int64) >> shift).astype(np.uint8)
    out = make_image(a8, name=im.name, modality=im.modality, bits=8, eff_bits=8,
                     source=im.source, path=im.path)
    out.meta["top8_of"] = im  # (a worker reloads the original and reduces it again)
    return out


def find_manifest(folder: Path) -> Path | None:
    """``manifest.csv`` in ``folder`` or its parent, else None."""
    for cand in (folder / "manifest.csv", folder.parent / "manifest.csv"):
        if cand.is_file():
            return cand
    return None


def _int(v: str | None, default: int | None = None) -> int | None:
    try:
        return int(str(v).strip())
    except (TypeError, ValueError):
        return default


def load_images(folder: str | Path, *, split: str | None = None, limit: int | None = None,
                manifest: str | Path | None = None,
                problems: list[str] | None = None) -> list[BenchImage]:
    """Read the images of ``folder`` (see the module doc); sorted by modality then name.

    ``split``: ``None`` = "eval" rows if any, else all; ``"all"`` = every row; any
    other value keeps rows of that split.  Without a manifest, a stack of frames
    becomes one image per frame (``name#k``), and files that cannot be read or
    coded are skipped with a line appended to ``problems`` (raised when it is None).
    """
    root = Path(folder)
    if not root.is_dir():
        raise MicInputError(f"not a folder: {root}")
    man = Path(manifest) if manifest else find_manifest(root)
    images: list[BenchImage] = []
    if man is not None:
        base = man.parent.resolve()
        rroot = root.resolve()
        with open(man, newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.DictReader(fh) if r.get("png")]
        rows = [r for r in rows if (base / r["png"]).resolve().is_relative_to(rroot)]
        if split is None:
            ev = [r for r in rows if r.get("split") == "eval"]
            rows = ev or rows
        elif split != "all":
            rows = [r for r in rows if r.get("split") == split]
        for r in rows:
            p = base / r["png"]
            arr, meta = read_image(p)
            images.append(make_image(
                arr, name=Path(r["png"]).stem, modality=r.get("modality") or "unknown",
                bits=_int(r.get("bits_stored")), eff_bits=_int(r.get("eff_bits")),
                offset=_int(r.get("offset"), 0) or 0, source=r.get("source", ""), path=str(p)))
    else:
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        for p in files:
            try:
                arr, meta = read_image(p)
                mod = str(meta.get("modality")
                          or (p.parent.name if p.parent != root else "unknown"))
                arr = np.asarray(arr)
                bits = _int(meta.get("bits_stored"))
                stack = arr.ndim == 4 or (arr.ndim == 3 and arr.shape[-1] not in (3, 4))
                if stack:  # one image per frame
                    for f in range(arr.shape[0]):
                        images.append(make_image(arr[f], name=f"{p.stem}#{f}", modality=mod,
                                                 path=str(p), bits=bits))
                else:
                    images.append(make_image(arr, name=p.stem, modality=mod, path=str(p),
                                             bits=bits))
            except MicInputError as exc:
                if problems is None:
                    raise
                problems.append(f"{p}: {exc}")
    if not images:
        raise MicInputError(f"no images found under {root}")
    images.sort(key=lambda im: (im.modality, im.name))
    if limit is not None:
        images = images[:limit]
    return images
