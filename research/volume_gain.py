"""Volumes (issue #22 item 3): bits of per-frame mic against volume mic (``volume_group``)
on consecutive slices of CT and MR series, with JPEG XL e7 lossless per frame beside them,
and the encode/decode time of each.  Measures only; nothing is fitted.

Usage: .venv/bin/python research/volume_gain.py CORPUS_DIR [GROUP] [MAX_FRAMES]
(CORPUS_DIR holds manifest.csv; series are the sources below, slices sorted by
src_path and frame.)  With ``--restarts`` as GROUP: the gain at G = 2, 4, 8, 16 and with
no restart on totalseg_ct and on two synthetic volumes (thin slices of a CT crop plus a
ramp and noise, as tests/test_lossless_volume.py builds them; a smooth signed volume).
With ``--correlation``: how much the previous slice's residual tells (see correlation()).
"""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import numpy as np

import mic
from mic.io import read_image

SERIES = (("train", "tcia_lungdx_dashvtk"), ("train", "uih_t1_3d"),
          ("train", "tcia_pgbm_dashvtk"), ("train", "tcga_luad_kmader"),
          ("eval", "totalseg_ct"))


def load(corpus: Path, split: str, source: str, limit: int) -> tuple[np.ndarray, str, int]:
    with open(corpus / "manifest.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["source"] == source and r["split"] == split]
    rows.sort(key=lambda r: (r["src_path"], int(r["frame"])))
    rows = rows[:limit]
    frames = [read_image(corpus / r["png"])[0] for r in rows]
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:  # keep the longest run of one shape
        keep = max(shapes, key=lambda s: sum(f.shape == s for f in frames))
        frames = [f for f in frames if f.shape == keep]
    return np.stack(frames), rows[0]["modality"], int(rows[0]["bits_stored"])


def timed(fn, *a, **k):
    t = time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t


def each(fn, items, **k) -> list:
    """``fn(item, **k)`` of every item (a codec applied frame by frame)."""
    return [fn(a, **k) for a in items]


def synthetic() -> list[tuple[str, np.ndarray]]:
    from mic.io import read_image as ri

    root = Path(__file__).resolve().parents[1] / "tests" / "data"
    ct = ri(root / "ct_abdomen_u16.png")[0].astype(np.int32)
    rng = np.random.default_rng(7)
    ramp = np.add.outer(np.arange(96), np.arange(112)) // 16
    thin = np.stack([ct[150:246, 140:252] + f * ramp + rng.integers(-1, 2, (96, 112))
                     for f in range(16)]).clip(0, 65535).astype(np.uint16)
    yy, xx = np.mgrid[:40, :52]
    smooth = np.stack([(500 + 200 * np.sin(xx / 7 + f / 4) + 150 * np.cos(yy / 6 - f / 6))
                       .astype(np.int16) for f in range(16)])
    return [("synthetic thin CT slices 16 x 96 x 112", thin),
            ("synthetic smooth int16 16 x 40 x 52", smooth)]


def restarts(corpus: Path) -> None:
    print("| volume | per-frame bytes | G=2 | G=4 | G=8 | G=16 | no restart | G=8, model 22 "
          "(inter_nlms=False) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    real = load(corpus, "eval", "totalseg_ct", 10**9)[0]
    for name, vol in [("totalseg_ct (eval, 4 x 512 x 512)", real)] + synthetic():
        per = len(mic.encode(vol))
        cells = [f"{100 * (1 - len(mic.encode(vol, volume_group=g)) / per):.1f} %"
                 for g in (2, 4, 8, 16, max(2, len(vol)))]
        old = len(mic.encode(vol, volume_group=8, inter_nlms=False))
        cells.append(f"{100 * (1 - old / per):.1f} %")
        print(f"| {name} | {per} | " + " | ".join(cells) + " |", flush=True)


def _med(a, b, c):
    mx, mn = np.maximum(a, b), np.minimum(a, b)
    return np.where(c >= mx, mn, np.where(c <= mn, mx, a + b - c))


def correlation(corpus: Path) -> None:
    """How much the previous slice can tell: on the first 4 slices of each series, the
    correlation of frame f's MED residual with frame f-1's co-located MED residual, and of
    its magnitude with the local activity alone and with the reference's |residual| added."""
    print("| series | frame | rho(residuals) | corr(abs e, activity) | + abs ref residual |")
    print("|---|---:|---:|---:|---:|")
    for split, source in SERIES:
        vol = load(corpus, split, source, 4)[0].astype(np.float64)
        for f in range(1, len(vol)):
            def parts(x):
                return x[1:-1, :-2], x[:-2, 1:-1], x[:-2, :-2], x[1:-1, 1:-1]
            w, n, nw, x = parts(vol[f])
            rw, rn, rnw, r = parts(vol[f - 1])
            e, er = x - _med(w, n, nw), r - _med(rw, rn, rnw)
            act = np.abs(w - nw) + np.abs(n - nw)
            def c(a, b):
                return np.corrcoef(a.ravel(), b.ravel())[0, 1]

            print(f"| {source} | {f} | {c(e, er):.3f} | {c(np.abs(e), act):.3f} | "
                  f"{c(np.abs(e), act + np.abs(er)):.3f} |")


def main() -> None:
    corpus = Path(sys.argv[1])
    if len(sys.argv) > 2 and sys.argv[2] == "--restarts":
        return restarts(corpus)
    if len(sys.argv) > 2 and sys.argv[2] == "--correlation":
        return correlation(corpus)
    group = int(sys.argv[2]) if len(sys.argv) > 2 else 8
    limit = int(sys.argv[3]) if len(sys.argv) > 3 else 10**9
    import imagecodecs

    warm = np.arange(2 * 32 * 32, dtype=np.uint16).reshape(2, 32, 32) % 999
    mic.decode(mic.encode(warm, volume_group=2))  # compile the kernels before timing
    print(f"| series | split | modality | frames | rows x cols | per-frame mic bpp | volume mic "
          f"bpp (G={group}) | gain | model 22 volume bpp | gain over it | no restarts gain | "
          f"tiles of xform 0 / 4 / 7 | JPEG XL e7 bpp | vol / JXL | enc MP/s frame / vol | "
          f"dec MP/s frame / vol | vol x JPEG XL e7's time (enc / dec) | vol x CharLS's time "
          f"(enc / dec) |")
    print("|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|---|---|---|")
    for split, source in SERIES:
        vol, modality, bits = load(corpus, split, source, limit)
        f, r, c = vol.shape
        mp = f * r * c / 1e6
        per, te0 = timed(mic.encode, vol)
        blob, te1 = timed(mic.encode, vol, volume_group=group)
        old = mic.encode(vol, volume_group=group, inter_nlms=False)  # model id 22's volume
        whole = mic.encode(vol, volume_group=min(f, 1 << 16)) if f >= 2 else blob
        d0, td0 = timed(mic.decode, per)
        d1, td1 = timed(mic.decode, blob)
        assert (d0 == vol).all() and (d1 == vol).all() and (mic.decode(whole) == vol).all()
        assert (mic.decode(old) == vol).all()
        # the anchors per frame, timed in the same run: JPEG XL e7 and CharLS (JPEG-LS, on
        # the samples less their minimum: it takes no signed data)
        jx, tj = timed(each, imagecodecs.jpegxl_encode, vol, lossless=True, effort=7,
                       bitspersample=bits, numthreads=1)
        _, tjd = timed(each, imagecodecs.jpegxl_decode, jx, numthreads=1)
        jl, tl = timed(each, imagecodecs.jpegls_encode,
                       (vol.astype(np.int64) - int(vol.min())).astype(np.uint16))
        _, tld = timed(each, imagecodecs.jpegls_decode, jl)
        jxl = sum(len(b) for b in jx)
        def bpp(n: int, px: int = f * r * c) -> float:
            return 8 * n / px

        print(f"| {source} | {split} | {modality} | {f} | {r} x {c} | {bpp(len(per)):.3f} | "
              f"{bpp(len(blob)):.3f} | {100 * (1 - len(blob) / len(per)):.1f} % | "
              f"{bpp(len(old)):.3f} | {100 * (1 - len(blob) / len(old)):.1f} % | "
              f"{100 * (1 - len(whole) / len(per)):.1f} % | {xforms(blob)} | {bpp(jxl):.3f} | "
              f"{len(blob) / jxl:.3f} | {mp / te0:.1f} / {mp / te1:.1f} | "
              f"{mp / td0:.1f} / {mp / td1:.1f} | {te1 / tj:.2f} / {td1 / tjd:.2f} | "
              f"{te1 / tl:.2f} / {td1 / tld:.2f} |", flush=True)


def xforms(blob: bytes) -> str:
    """How many tiles of the stream ``blob`` are of xform 0 (intra), 4 (SPEC 5.5's inter
    tiles) and 7 (model id 25's, SPEC 5.15)."""
    from mic.bitstream.container import read_stream

    first = [bytes(p[:1]) for p in read_stream(blob).tiles.values()]
    return " / ".join(str(first.count(bytes((x,)))) for x in (0, 4, 7))

if __name__ == "__main__":
    main()
