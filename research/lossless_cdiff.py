"""Lossless RGB with and without model id 15's colour differences (SPEC 5.9, xform 5), side
by side in one run: every RGB image of a corpus split (the manifest's ``channels`` = 3),
mic's default (model 15 where a tile keeps xform 5), ``colour_diff=False`` (model 14: xforms
0 and 1 only), JPEG XL lossless e7 (one thread, the better of with and without
``bitspersample``) and CharLS; bits per pixel (a pixel counts its three samples), the xform
of every tile, and encode / decode times (medians of ``--rounds``, one thread), each as a
ratio to the other coders' in the same run.  Every mic stream is decoded back exactly.

    PYTHONPATH=. python research/lossless_cdiff.py /work/shared/corpus train
    PYTHONPATH=. python research/lossless_cdiff.py /work/shared/corpus eval
"""

from __future__ import annotations

import argparse
import csv
import pathlib
import time

import numpy as np


def xforms(blob: bytes) -> list[int]:
    """Every tile's xform (its payload's first byte), in (frame, tile) order."""
    from mic.bitstream.container import read_stream

    st = read_stream(blob)
    return [st.tiles[k][0] for k in sorted(st.tiles)]


def _median_time(fn, rounds: int) -> tuple[float, object]:
    out, ts = None, []
    for _ in range(rounds):
        t = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t)
    return float(np.median(ts)), out


def main() -> None:
    import imagecodecs as ic
    from PIL import Image

    import mic

    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", type=pathlib.Path)
    ap.add_argument("split", choices=("train", "eval"))
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    rows = [r for r in csv.DictReader(open(a.corpus / "manifest.csv"))
            if r["split"] == a.split and r["channels"] == "3"]
    tot = {k: 0.0 for k in ("px", "m15", "m14", "jxl", "jls", "t15", "t14", "tj", "tl",
                            "d15", "d14", "dj", "dl")}
    print(f"{'image':44s} {'shape':15s} {'mic':>6s} {'mic14':>6s} {'jxl7':>6s} {'jls':>6s} "
          f"{'15/14':>6s} {'15/jxl':>6s}  enc ms 15 / 14 / jxl / jls   dec ms 15 / 14   xforms")
    for r in rows:
        x = np.asarray(Image.open(a.corpus / r["png"]))
        px = x.shape[0] * x.shape[1]
        t15, b15 = _median_time(lambda: mic.encode(x), a.rounds)
        t14, b14 = _median_time(lambda: mic.encode(x, colour_diff=False), a.rounds)
        for b in (b15, b14):
            assert np.array_equal(mic.decode(b), x), r["png"]
        d15, _ = _median_time(lambda: mic.decode(b15), a.rounds)
        d14, _ = _median_time(lambda: mic.decode(b14), a.rounds)
        jx = []
        for kw in ({"bitspersample": 8}, {}):
            jx.append(_median_time(lambda: ic.jpegxl_encode(x, lossless=True, effort=7,
                                                            numthreads=1, **kw), a.rounds))
        tj, bj = min(jx, key=lambda tb: len(tb[1]))
        assert np.array_equal(ic.jpegxl_decode(bj), x)
        dj, _ = _median_time(lambda: ic.jpegxl_decode(bj, numthreads=1), a.rounds)
        tl, bl = _median_time(lambda: ic.jpegls_encode(x), a.rounds)
        dl, _ = _median_time(lambda: ic.jpegls_decode(bl), a.rounds)
        print(f"{pathlib.Path(r['png']).stem[:44]:44s} {str(x.shape):15s} "
              f"{8 * len(b15) / px:6.3f} {8 * len(b14) / px:6.3f} {8 * len(bj) / px:6.3f} "
              f"{8 * len(bl) / px:6.3f} {len(b15) / len(b14):6.3f} {len(b15) / len(bj):6.3f}  "
              f"{1e3 * t15:7.1f} {1e3 * t14:7.1f} {1e3 * tj:7.1f} {1e3 * tl:6.1f}   "
              f"{1e3 * d15:6.1f} {1e3 * d14:6.1f}   {mic.info(b15).model_id} "
              f"{xforms(b15)}", flush=True)
        for k, v in (("px", px), ("m15", len(b15)), ("m14", len(b14)), ("jxl", len(bj)),
                     ("jls", len(bl)), ("t15", t15), ("t14", t14), ("tj", tj), ("tl", tl),
                     ("d15", d15), ("d14", d14), ("dj", dj), ("dl", dl)):
            tot[k] += v
    px = tot["px"]
    print(f"\n{len(rows)} RGB images of {a.split}, {px / 1e6:.2f} MP, every mic stream decoded "
          "back exactly\n")
    print("| | bpp | × mic 14 | × JPEG XL e7 | encode, time × mic 14 / × JPEG XL e7 / × CharLS"
          " | decode, time × mic 14 / × JPEG XL e7 / × CharLS |")
    print("|---|---|---|---|---|---|")
    for name, b, t, d in (("mic (default: 15 where it wins)", "m15", "t15", "d15"),
                          ("mic `colour_diff=False` (14)", "m14", "t14", "d14"),
                          ("JPEG XL e7", "jxl", "tj", "dj"), ("CharLS JPEG-LS", "jls", "tl", "dl")):
        print(f"| {name} | {8 * tot[b] / px:.3f} | {tot[b] / tot['m14']:.3f} | "
              f"{tot[b] / tot['jxl']:.3f} | {tot[t] / tot['t14']:.2f} / {tot[t] / tot['tj']:.2f}"
              f" / {tot[t] / tot['tl']:.2f} | {tot[d] / tot['d14']:.2f} / "
              f"{tot[d] / tot['dj']:.2f} / {tot[d] / tot['dl']:.2f} |")


if __name__ == "__main__":
    main()
