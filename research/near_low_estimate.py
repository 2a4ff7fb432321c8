"""Would model id 20's low classes (SPEC 5.12) pay in near-lossless planes too?  An estimate,
not a format: a copy of ``mic`` (package ``micb`` in a scratch folder) whose near-lossless
kind-5/6 token pass codes a low sample (``(W + N + 1) >> 1`` of the reconstruction below
``nl``) as ``q = (v + k) // (2k + 1)`` under its low class, reconstructed as ``min(q (2k +
1), maxval)`` (within k of ``v``), every other sample as model 19 codes it; each plane is
coded with ``nl`` = 0, 2, 8 and 24 and the smallest kept.  Only the encoder is patched (the
streams are not decodable by mic): what is measured is the bytes against model 19's.  The
copy is of ``mic/`` at git revision ``2248253^`` (the code the patch was written against,
before model 21 made the estimate a format), so the script reruns as it ran.

    # train: make_tables16's sample, 4 a source; eval (measuring only): every image
    PYTHONPATH=. OMP_NUM_THREADS=1 python research/near_low_estimate.py CORPUS/train
    PYTHONPATH=. OMP_NUM_THREADS=1 python research/near_low_estimate.py CORPUS/eval --all
"""

from __future__ import annotations

import argparse
import collections
import importlib
import io
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
BASE = "2248253^"  # the encoder the patch below applies to

KERNEL_EDITS = [('''            v = np.int64(row[U(x)])
            if near:  # quantise (SPEC 7.4 step 3) and reconstruct where the decoder will
                m = min(((p + near) * rcp) >> 40, ((maxval - p + near) * rcp) >> 40)
                e = v - p
                qe = ((e + near) * rcp) >> 40 if e >= 0 else -(((near - e) * rcp) >> 40)
                v = min(max(p + qe * delta, np.int64(0)), np.int64(maxval))''', '''            v = np.int64(row[U(x)])
            nlow = False
            qv = np.int64(0)
            if near:  # quantise (SPEC 7.4 step 3) and reconstruct where the decoder will
                m = min(((p + near) * rcp) >> 40, ((maxval - p + near) * rcp) >> 40)
                if low and ((w_ + n_ + 1) >> 1) < nl:
                    nlow = True
                    qv = ((v + near) * rcp) >> 40
                    v = min(qv * delta, np.int64(maxval))
                e = v - p
                qe = ((e + near) * rcp) >> 40 if e >= 0 else -(((near - e) * rcp) >> 40)
                if not nlow:
                    v = min(max(p + qe * delta, np.int64(0)), np.int64(maxval))'''),
                ('''                    c = U(lowbase + lw)
                    u = v''', '''                    c = U(lowbase + lw)
                    u = qv if near else v''')]
KERNEL_ADD = '''

@njit(cache=True, nogil=True)
def fast_tokens_near_low(img, maxval, near, tokens, classes, bits, hist, R, CL, TOK, NB, la, lb,
                         fine, nl, lowbase, uout):
    return _fast_tokens(img, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, True, la, lb,
                        np.int64(near), True, fine, True, np.int64(nl), np.int64(lowbase), uout)
'''
BODY_EDIT = ('''    if bands and prior:
        if low and not near:''', '''    if bands and prior and near:
        return _body_near_low(x, maxval, tokens, bits, la, lb, builtin, near, counts)
    if bands and prior:
        if low and not near:''')
BODY_ADD = '''

def _body_near_low(x, maxval, tokens, bits, la, lb, builtin, near, counts):
    from . import encoder_bands as EB
    R, CL, TOK, NB = KF.encode_constants()
    n = tokens.size
    x0 = x.copy()
    if counts is None:
        counts = KE.value_counts(x, maxval)
    edges = np.zeros(0, np.int64)
    fine = np.zeros(maxval + 1, np.uint8)
    if n >= EB.BAND_MIN_SAMPLES:
        fine, edges = EB.fine_bins(x, maxval, counts)
    nf = len(edges) + 1
    lowbase = nf * KF.N_CLASS
    best = None
    for nl in (0, 2, 8, 24):
        xx = x0.copy()
        classes = np.empty(n, np.uint16)
        hist = np.zeros((lowbase + KF.N_CLASS, KF.N_TOKENS), np.int64)
        bb = np.zeros_like(bits)
        nbytes = KE.fast_tokens_near_low(xx, maxval, near, tokens, classes, bb, hist, R, CL,
                                         TOK, NB, la.copy(), lb.copy(), fine, nl, lowbase,
                                         np.empty(n, np.int32))
        if nf > 1:
            thresholds, band = EB.choose_bands(hist[:lowbase], edges, builtin)
        else:
            thresholds, band = [], np.zeros(1, np.int64)
        tables, fine_map, freq = EB.banded_tables(hist[:lowbase], band, thresholds, builtin,
                                                  hist[lowbase:] if nl else None, nl)
        out = _coded(tables, tokens, classes, fine_map, freq, bb, nbytes)
        if best is None or len(out) < len(best[0]):
            best = (out, xx)
    x[...] = best[1]
    return best[0]
'''


def patched_copy() -> object:
    """``mic`` copied as ``micb`` with the estimate's encoder, imported."""
    out = pathlib.Path(tempfile.mkdtemp(prefix="mic_nearlow_"))
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", BASE, "mic"], check=True,
                         capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        tf.extractall(out, filter="data")
    shutil.move(out / "mic", out / "micb")
    k = out / "micb" / "lossless" / "kernels_fast_enc.py"
    s = k.read_text()
    for old, new in KERNEL_EDITS:
        assert old in s, old[:60]
        s = s.replace(old, new)
    k.write_text(s + KERNEL_ADD)
    b = out / "micb" / "lossless" / "encoder_fast.py"
    s = b.read_text()
    assert BODY_EDIT[0] in s
    b.write_text(s.replace(*BODY_EDIT) + BODY_ADD)
    sys.path.insert(0, str(out))
    return importlib.import_module("micb")


def main() -> None:
    from PIL import Image

    import mic
    from mic.lossless.make_tables16 import sample_or_split

    ap = argparse.ArgumentParser()
    ap.add_argument("folder", type=pathlib.Path)
    ap.add_argument("--all", action="store_true", help="every image of the folder's split")
    ap.add_argument("--per-source", type=int, default=4)
    a = ap.parse_args()
    micb = patched_copy()
    rows, paths = sample_or_split(a.folder, a.all, a.per_source)
    tot = collections.defaultdict(lambda: [0, 0])
    for path in paths:
        r = rows[str(path.relative_to(a.folder.parent))]
        img = np.asarray(Image.open(path))
        key = r["modality"] if a.all else r["source"]
        for k in (1, 2, 4):
            try:
                old = len(mic.encode(img, max_error=k))
            except mic.MicInputError:  # k too large for its bits
                continue
            new = len(micb.encode(img, max_error=k))
            for g in (key, "all"):
                tot[g, k][0] += new
                tot[g, k][1] += old
    print("| group | k = 1 | k = 2 | k = 4 |")
    print("|---|---|---|---|")
    for g in sorted({g for g, _ in tot}, key=lambda g: (g == "all", g)):
        print(f"| {g} | " + " | ".join(f"{tot[g, k][0] / tot[g, k][1]:.4f}" if tot[g, k][1]
                                        else "" for k in (1, 2, 4)) + " |")


if __name__ == "__main__":
    main()
