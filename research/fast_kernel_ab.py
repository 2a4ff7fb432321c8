"""A/B timing of two versions of mic's coders in one process, with CharLS in the same rounds.

A kernel change that must keep every stream (a faster way to the same bits) is timed against
the code it replaces: ``--old REV`` extracts ``mic/`` at git revision REV as a package named
``micb`` under a scratch folder, imports both, checks that the lossless streams (default
and effort 1) and the near-lossless streams at k = 1, 2, 4 are byte-identical, then times
encode and decode of each and CharLS JPEG-LS (NEAR = k) in turn within every round, in
alternating order (a busy machine slows all alike); medians.  On a 2-core VM whose speed
drifts by 10 % within minutes, only such interleaved ratios say what a change is worth.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=. python research/fast_kernel_ab.py \\
        --old HEAD~1 --rounds 15 [IMAGE]
"""

from __future__ import annotations

import argparse
import importlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def old_package(rev: str) -> Path:
    """``mic/`` at ``rev`` as the package ``micb`` in a fresh folder; returns the folder."""
    out = Path(tempfile.mkdtemp(prefix="mic_ab_"))
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "mic"], check=True,
                         capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(tar)) as tf:
        tf.extractall(out, filter="data")
    shutil.move(out / "mic", out / "micb")
    return out


def main() -> None:
    import imagecodecs
    from PIL import Image

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", nargs="?", default=str(ROOT / "mic/data/ct_abdomen.png"))
    ap.add_argument("--old", default="HEAD", help="git revision of the code to time against")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--streams-differ", action="store_true", help="time a change that is "
                    "meant to change the streams (a format change) instead of refusing it")
    ap.add_argument("--only", action="append", help="time only this case (lossless, "
                    "'effort 1', 'near k=1', 'near k=2', 'near k=4'); may be repeated")
    args = ap.parse_args()
    sys.path.insert(0, str(old_package(args.old)))
    new = importlib.import_module("mic")
    old = importlib.import_module("micb")
    img = np.asarray(Image.open(args.image))
    n = img.size
    print(f"# {Path(args.image).name} {img.shape} {img.dtype}; new = working tree, old = "
          f"{args.old}; one thread; medians of {args.rounds} rounds; MP/s")
    cases = (("lossless", {}), ("effort 1", {"effort": 1}), ("near k=1", {"max_error": 1}),
             ("near k=2", {"max_error": 2}), ("near k=4", {"max_error": 4}))
    for name, kw in cases:
        if args.only and name not in args.only:
            continue
        sn, so = new.encode(img, **kw), old.encode(img, **kw)
        if sn != so:
            if not args.streams_differ:
                raise SystemExit(f"{name}: the streams differ ({len(sn)} against {len(so)} "
                                 "bytes)")
            print(f"{name}: {len(sn)} bytes against {len(so)} (--streams-differ)")
        jk = {"level": kw["max_error"]} if "max_error" in kw else {}
        j = imagecodecs.jpegls_encode(img, **jk)
        runs = (("enc_new", lambda a, kw=kw: new.encode(a, **kw), img),
                ("enc_old", lambda a, kw=kw: old.encode(a, **kw), img),
                ("dec_new", new.decode, sn), ("dec_old", old.decode, so),
                ("enc_charls", lambda a, jk=jk: imagecodecs.jpegls_encode(a, **jk), img),
                ("dec_charls", imagecodecs.jpegls_decode, j))
        times: dict[str, list[float]] = {k: [] for k, _, _ in runs}
        for r in range(args.rounds):
            # alternate the order: whatever runs first after another case pays for its
            # cold caches (about 3 % in a fixed order, on code that did not change)
            for k, f, a in (runs if r % 2 == 0 else runs[::-1]):
                t = time.perf_counter()
                f(a)
                times[k].append(time.perf_counter() - t)
        md = {k: sorted(v)[len(v) // 2] for k, v in times.items()}
        speeds = " ".join(f"{k} {n / 1e6 / v:.1f}" for k, v in md.items())
        print(f"{name:9s} {speeds} | new/old time enc {md['enc_new'] / md['enc_old']:.3f} "
              f"dec {md['dec_new'] / md['dec_old']:.3f} | x CharLS new "
              f"{md['enc_new'] / md['enc_charls']:.2f}/{md['dec_new'] / md['dec_charls']:.2f} "
              f"old {md['enc_old'] / md['enc_charls']:.2f}/{md['dec_old'] / md['dec_charls']:.2f}",
              flush=True)


if __name__ == "__main__":
    main()
