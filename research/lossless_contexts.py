"""Would more contexts, cheaper tables or table sets help model 14's plane coder (issue #22)?
Ideal costs of kind-5 planes (SPEC 5.8) on a corpus split, three probes:

* ``features``: the plane's tokens costed (fitted tables, as the encoder fits them, plus
  their bytes and the extra bits) with the 24 activity classes against classes × one more
  decoder-side feature (a table set per feature value): exact flatness of W, N, NW, NE
  (``flat4``; ``flat6`` adds WW, NN), which of W = N, N = NE, W = NW hold (``eqWN``), the
  number of distinct values among W, N, NW, NE (``ndist``), and the level (W + N) / 2 in
  quartiles of the plane (``quart``) or halves (``half``).  Screens (``is_screen``) as
  RGB planes G, R − G, B − G or grey, whole and in 128 × 128 tiles; other images grey,
  the first channel of the middle image of each source.
* ``tiles``: screens coded in tiles of 2048 (whole), 128, 64 and 32 with and without
  palettes, and the share of the stream the tables take.
* ``sets``: whole-frame screens with a table set chosen per 32 × 32 or 64 × 64 block
  (2, 4 or 8 sets, refitted by reassignment; the selector costed at log2(sets) bits).

    PYTHONPATH=. python research/lossless_contexts.py CORPUS/train features
    PYTHONPATH=. python research/lossless_contexts.py CORPUS/train tiles
    PYTHONPATH=. python research/lossless_contexts.py CORPUS/train sets

A research probe (train split only): nothing here changes the format.  Findings:
``benches/results/2026-12-06-lossless-contexts.txt``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np
from PIL import Image

import mic.lossless.encoder_fast as EF
import mic.lossless.kernels_fast as KF
import mic.lossless.kernels_fast_enc as KE
import mic.lossless.kernels_fit as KFIT
from mic.lossless.encoder import is_screen, offer_palette

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_sample import sample_images  # noqa: E402


def fit(hist: np.ndarray) -> tuple[int, np.ndarray]:
    """Table bytes and the per-(class, token) code length in bits of the fitted tables."""
    tabmap, freq = KFIT.fit_tables(hist)
    tb = np.empty(1 + KF.N_CLASS + freq.shape[0] * (1 + 2 * KF.N_TOKENS), np.uint8)
    return int(KFIT.write_tables(tabmap, freq, tb)), KF.PREC - np.log2(np.maximum(freq[tabmap], 0.5))


def hist_bytes(hist: np.ndarray) -> float:
    nb, lp = fit(hist)
    return nb + float((hist * lp).sum()) / 8


def tokens(x: np.ndarray, mv: int) -> tuple[np.ndarray, np.ndarray, int, np.ndarray]:
    """Kind-5 tokens and classes of plane ``x`` (values in [0, mv]), extra bytes, counts."""
    h, w = x.shape
    tok, cls = np.empty(h * w, np.uint8), np.empty(h * w, np.uint8)
    bits = np.zeros(2 * h * w + 16, np.uint8)
    hist = np.zeros((KF.N_CLASS, KF.N_TOKENS), np.int64)
    nb = KE.fast_tokens(x, mv, tok, cls, bits, hist, *KF.encode_constants(), True)
    return tok, cls, nb, hist


def as_coded(plane: np.ndarray) -> tuple[np.ndarray, int] | None:
    """The plane less its minimum, through its palette where the encoder would offer one."""
    x = np.ascontiguousarray(plane.astype(np.int32) - int(plane.min()))
    mv = int(x.max())
    if mv == 0:
        return None
    if mv >= 3:
        cnt = KE.value_counts(x, mv)
        if offer_palette(cnt):
            flags = (cnt > 0).astype(np.uint8)
            return KE.palette_indices(x, flags), int(flags.sum()) - 1
    return x, mv


def features(x: np.ndarray) -> dict[str, np.ndarray]:
    p = np.pad(x.astype(np.int64), ((2, 0), (2, 2)), mode="edge")
    h, w = x.shape
    W, N, NW, NE = p[2:, 1:w + 1], p[1:h + 1, 2:w + 2], p[1:h + 1, 1:w + 1], p[1:h + 1, 3:w + 3]
    WW, NN = p[2:, 0:w], p[0:h, 2:w + 2]
    flat4 = (W == N) & (N == NW) & (N == NE)
    st = np.sort(np.stack([W, N, NW, NE]), axis=0)
    lvl = (W + N) // 2
    qs = np.quantile(lvl, [0.25, 0.5, 0.75])
    return {"flat4": flat4.astype(int), "flat6": (flat4 & (WW == W) & (NN == N)).astype(int),
            "eqWN": (W == N) + 2 * (N == NE) + 4 * (W == NW),
            "ndist": (np.diff(st, axis=0) != 0).sum(0),
            "quart": np.searchsorted(qs, lvl), "half": (lvl > qs[1]).astype(int)}


def feature_costs(x: np.ndarray, mv: int) -> dict[str, float]:
    """Bytes of the plane's token payload: 24 classes (``base``), and classes × each feature
    (never more than ``base``: the encoder would keep the plain classes)."""
    tok, cls, nb, hist = tokens(x, mv)
    out = {"base": nb + hist_bytes(hist)}
    for k, f in features(x).items():
        f = f.ravel()
        tot = float(nb)
        for v in np.unique(f):
            m = f == v
            hh = np.zeros_like(hist)
            np.add.at(hh, (cls[m], tok[m]), 1)
            tot += hist_bytes(hh)
        out[k] = min(tot, out["base"])
    return out


def screens(split: Path):
    man = split.parent / "manifest.csv"
    for r in csv.DictReader(open(man, newline="")):
        if not (man.parent / r["png"]).resolve().is_relative_to(split.resolve()):
            continue
        if int(r["bits_stored"]) > 8:
            continue
        a = np.asarray(Image.open(man.parent / r["png"]))
        if is_screen(a, 8):
            g = a[..., 1].astype(np.int32) if a.ndim == 3 else a.astype(np.int32)
            yield r, ([g] if a.ndim == 2 else [g, a[..., 0] - g, a[..., 2] - g])


def tiled(planes, t):
    for pl in planes:
        for y in range(0, pl.shape[0], t):
            for x in range(0, pl.shape[1], t):
                yield np.ascontiguousarray(pl[y:y + t, x:x + t])


def show(name: str, res: dict[str, float]) -> None:
    print(f"{name[-44:]:44s} base {res['base']:9.0f} "
          + " ".join(f"{k} {v / res['base']:.4f}" for k, v in res.items() if k != "base"),
          flush=True)


def add(acc: dict[str, float], res: dict[str, float]) -> None:
    for k, v in res.items():
        acc[k] = acc.get(k, 0.0) + v


def run_features(split: Path) -> None:
    for tile in (4096, 128):
        acc: dict[str, float] = {}
        print(f"## screens, tiles of {tile if tile < 4096 else 'the whole frame'}")
        for r, planes in screens(split):
            res: dict[str, float] = {}
            for t in tiled(planes, tile):
                c = as_coded(t)
                if c is not None:
                    add(res, feature_costs(*c))
            show(r["png"], res)
            add(acc, res)
        show("total", acc)
    print("## other images (first channel of each source's middle image, at most 1024²)")
    acc = {}
    for r, a, bits in sample_images(split, per_source=1, max_side=1024):
        c = None if is_screen(a, bits) else as_coded(a)
        if c is not None:
            res = feature_costs(*c)
            show(r["source"], res)
            add(acc, res)
    show("total", acc)


def run_tiles(split: Path) -> None:
    rec: list[int] = []
    orig = KFIT.write_tables

    def counted(tabmap, freq, out):  # noqa: ANN001, ANN202
        n = orig(tabmap, freq, out)
        rec.append(int(n))
        return n

    EF.KFIT.write_tables = counted
    try:
        for r, planes in screens(split):
            row = []
            for t in (2048, 128, 64, 32):
                for pal in (0, 2):
                    tot = tb = 0
                    for x in tiled(planes, t):
                        rec.clear()
                        b = EF.encode_plane_fast(x, palette=pal, lms=True)
                        tot += len(b)
                        tb += rec[-1] if rec else 0
                    row.append(f"T{t}{'p' if pal else ''} {tot} ({100 * tb / tot:.1f} % tables)")
            print(f"{r['png'][-40:]}: " + " | ".join(row), flush=True)
    finally:
        EF.KFIT.write_tables = orig


def block_sets(x: np.ndarray, mv: int, B: int, S: int, iters: int = 8) -> float:
    tok, cls, nb, _ = tokens(x, mv)
    h, w = x.shape
    bx = -(-w // B)
    bid = (np.arange(h)[:, None] // B) * bx + (np.arange(w)[None, :] // B)
    nbk = int(bid.max()) + 1
    bh = np.zeros((nbk, KF.N_CLASS, KF.N_TOKENS), np.int64)
    np.add.at(bh, (bid.ravel(), cls, tok), 1)
    mt = (bh.sum(1) * np.arange(KF.N_TOKENS)).sum(1) / np.maximum(bh.sum((1, 2)), 1)
    assign = np.minimum((np.argsort(np.argsort(mt)) * S) // nbk, S - 1)
    best = np.inf
    for _ in range(iters):
        lps, tbs = [], 0
        for s in range(S):
            hs = bh[assign == s].sum(0)
            if hs.sum() == 0:
                lps.append(np.full((KF.N_CLASS, KF.N_TOKENS), 30.0))
                continue
            t, lp = fit(hs)
            tbs += t
            lps.append(lp)
        cost = np.stack([(bh * lp).sum((1, 2)) for lp in lps], 1)
        best = min(best, nb + tbs + (cost[np.arange(nbk), assign].sum() + nbk * np.log2(S)) / 8)
        assign = cost.argmin(1)
    return float(best)


def run_sets(split: Path) -> None:
    for r, planes in screens(split):
        res: dict[str, float] = {}
        for pl in planes:
            c = as_coded(pl)
            if c is None:
                continue
            tok, cls, nb, hist = tokens(*c)
            add(res, {"base": nb + hist_bytes(hist)})
            add(res, {f"B{B}S{S}": block_sets(*c, B, S) for B in (32, 64) for S in (2, 4, 8)})
        show(r["png"], res)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("split", type=Path, help="CORPUS/train (the findings were made there)")
    ap.add_argument("probe", choices=("features", "tiles", "sets"))
    a = ap.parse_args()
    {"features": run_features, "tiles": run_tiles, "sets": run_sets}[a.probe](a.split)


if __name__ == "__main__":
    main()
