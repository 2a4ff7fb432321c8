"""What the default lossless encoder's three coders buy on small frames, and for what time.

At the default effort a frame of at most ``SMALL_FRAME`` pixels (and a screen) is coded by
effort 4's three plane coders, keeping the smallest (``LosslessTileEncoder._plane_mixed``):
model 1's coder (kinds 0-2), the fast coder (kinds 0, 3, 4) and the NLMS coder (model 22's
planes), the last two with and without a palette where the histogram is sparse.  This codes
every such plane of a split through ``mic.encode`` (the planes ``_plane_mixed`` receives), each
coder alone, timed, and scores rules: every coder (today), the NLMS coder alone, the NLMS and
fast coders, and ranking on a row sample (``encode_near._rows_sample``) with a margin.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=. python research/lossless_small_frames.py \\
        CORPUS/train [--limit N] [--large] [--ab REV [--rounds R]]
"""

from __future__ import annotations

import argparse
import collections
import csv
import sys
import time
from pathlib import Path

import numpy as np


def ab(a: argparse.Namespace, rows: list[dict]) -> None:
    """``--ab REV``: whole ``mic.encode`` calls of the selected images by this mic and by mic
    at ``REV`` (research/fast_kernel_ab.py's ``micb``), interleaved in alternating order, the
    best of ``--rounds`` each, with CharLS and JPEG XL e7 (one thread) in the same rounds;
    every stream decoded back by this mic."""
    import imagecodecs

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fast_kernel_ab import old_package

    import mic
    from mic.io import read_image
    from mic.lossless import encoder as LE

    sys.path.insert(0, str(old_package(a.ab)))
    import micb

    imgs = []
    for r in rows:
        if int(r["rows"]) * int(r["cols"]) > LE.SMALL_FRAME or int(r["channels"]) != 1:
            continue
        imgs.append(read_image(a.split.parent / r["png"])[0])
        if a.limit and len(imgs) >= a.limit:
            break
    codecs = {"new": mic.encode, "old": micb.encode,
              "CharLS": imagecodecs.jpegls_encode,
              "JPEG XL e7": lambda x: imagecodecs.jpegxl_encode(x, lossless=True, effort=7,
                                                                numthreads=1)}
    best = {k: [float("inf")] * len(imgs) for k in codecs}
    size = {k: 0 for k in codecs}
    for rnd in range(a.rounds):
        order = list(codecs) if rnd % 2 == 0 else list(codecs)[::-1]
        for i, img in enumerate(imgs):
            for k in order:
                t0 = time.perf_counter()
                b = codecs[k](img)
                best[k][i] = min(best[k][i], time.perf_counter() - t0)
                if rnd == 0:
                    size[k] += len(b)
                    if k in ("new", "old"):
                        assert np.array_equal(mic.decode(b).reshape(img.shape), img)
    px = sum(x.size for x in imgs)
    print(f"# {len(imgs)} one-sample frames of at most SMALL_FRAME pixels, {px / 1e6:.2f} MP; "
          f"best of {a.rounds} rounds each; every mic stream decoded back")
    for k in codecs:
        t = sum(best[k])
        print(f"{k:11s}: {size[k]:10d} bytes ({size[k] / size['old'] - 1:+.4%} vs old), "
              f"encode {t:6.2f} s, {px / t / 1e6:5.1f} MP/s, x{t / sum(best['CharLS']):5.2f} "
              f"CharLS's time, x{t / sum(best['JPEG XL e7']):5.2f} JPEG XL e7's")


def main() -> None:
    import mic
    from mic.io import read_image
    from mic.lossless import encoder as LE
    from mic.lossless.encoder_fast import encode_plane_fast
    from mic.lossless.encoder_near import _rows_sample

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("split", type=Path)
    ap.add_argument("--limit", type=int, default=0, help="at most this many images")
    ap.add_argument("--large", action="store_true",
                    help="frames larger than SMALL_FRAME instead, coded at effort 4 (every "
                         "--large-step'th such image)")
    ap.add_argument("--large-step", type=int, default=10)
    ap.add_argument("--ab", metavar="REV", help="time whole encodes against mic at REV")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--margins", type=float, nargs="*", default=[0.0, 0.01, 0.03])
    a = ap.parse_args()
    with open(a.split.parent / "manifest.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["split"] == a.split.name]
    if a.ab:
        return ab(a, rows)
    planes: list[np.ndarray] = []
    orig = LE.LosslessTileEncoder._plane_mixed

    def spy(plane, *args, **kw):  # noqa: ANN001, ANN202 - research
        planes.append(plane.copy())
        return orig(plane, *args, **kw)

    LE.LosslessTileEncoder._plane_mixed = staticmethod(spy)
    kw22 = {"lms": True, "prior": True, "bands": True, "low": True, "compact": True}
    ways = {"m1": lambda p: LE.encode_plane(p, False),
            "fast": lambda p: encode_plane_fast(p, 2),
            "nlms": lambda p: encode_plane_fast(p, 2, **kw22)}
    recs = []
    seen = large_seen = 0
    for r in rows:
        if a.limit and seen >= a.limit:
            break
        small = int(r["rows"]) * int(r["cols"]) <= LE.SMALL_FRAME
        if a.large:
            large_seen += not small
            if small or large_seen % a.large_step:
                continue
        img = read_image(a.split.parent / r["png"])[0]
        if not a.large and not small and not LE.is_screen(img, int(r["bits_stored"])):
            continue
        seen += 1
        planes.clear()
        mic.encode(img, effort=4 if a.large else None)
        for p in planes:
            size, secs, samp = {}, {}, {}
            s = _rows_sample(p) if p.shape[0] >= 16 else p
            for k, fn in ways.items():
                fn(p)  # compiled, warm
                t0 = time.perf_counter()
                size[k] = len(fn(p))
                secs[k] = time.perf_counter() - t0
                samp[k] = len(fn(s))
            recs.append((r["png"], r["modality"], p.shape, size, secs, samp))
            print(f"{r['png'][:60]:60s} {p.shape} " + " ".join(
                f"{k} {size[k]} ({secs[k] * 1e3:.1f} ms)" for k in ways), flush=True)
    best = sum(min(s.values()) for *_, s, _, _ in recs)
    t_all = sum(sum(t.values()) for *_, t, _ in recs)
    wins = collections.Counter(min(s, key=s.get) for *_, s, _, _ in recs)
    print(f"\n# {len(recs)} planes of {seen} images; all three: {best} bytes, "
          f"{t_all:.2f} s; wins {dict(wins)}")
    for name, keep in (("nlms alone", ("nlms",)), ("nlms + fast", ("nlms", "fast")),
                       ("nlms + m1", ("nlms", "m1"))):
        b = sum(min(s[k] for k in keep) for *_, s, _, _ in recs)
        t = sum(sum(ts[k] for k in keep) for *_, ts, _ in recs)
        print(f"{name:12s}: {b} bytes ({b / best - 1:+.3%}), time {t / t_all:.2f} of all three")
    for m in a.margins:  # rank on the row sample; code the sample's best and any within m
        b, t = 0, 0.0
        for *_, s, ts, sm in recs:
            lo = min(sm.values())
            keep = [k for k in sm if sm[k] <= lo * (1 + m)]
            b += min(s[k] for k in keep)
            t += sum(ts[k] for k in keep) + sum(ts.values()) / 4  # the sample ~ a quarter
        print(f"rank m={m:.2f}: {b} bytes ({b / best - 1:+.3%}), time {t / t_all:.2f} of all three")
    by = collections.defaultdict(lambda: [0, 0])
    for _, mod, _, s, _, _ in recs:
        by[mod][0] += min(s.values())
        by[mod][1] += s["nlms"]
    print("per modality, nlms alone vs all three: " + ", ".join(
        f"{m} {v[1] / v[0] - 1:+.2%}" for m, v in sorted(by.items())))


if __name__ == "__main__":
    sys.exit(main())
