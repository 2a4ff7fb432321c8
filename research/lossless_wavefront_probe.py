"""Probe (issue #22, default speed): is model 14's kind-5 token pass bound by its per-pixel
dependency chain (NLMS weights -> prediction -> residual -> weights)?  A two-row wavefront
token pass (rows y and y + 1 in one loop, the second three samples behind, its own NLMS
filters, shared context counters: the order a decoder could also follow) against
``fast_tokens``, interleaved rounds on the bundled 512 x 512 16-bit CT, one thread.  Were the
chain the limit, the core would overlap the two rows' chains and the wavefront would run
faster; it does not (benches/results/2026-12-06-lossless-wavefront.txt), so the pass is
bound by its instruction count and no format change was made.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=. python research/lossless_wavefront_probe.py 31
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
from numba import njit
from PIL import Image

from mic.lossless.kernels_fast import (
    N_CLASS, N_TOKENS, U, _class_t, _context, _init, _neighbours, _qlut, _update,
    encode_constants, lms_predict, lms_state, thresholds,
)
from mic.lossless.kernels_fast_enc import fast_tokens

sys.path.insert(0, str(__import__('pathlib').Path(__file__).resolve().parent))
from _lms_now import lms_learn_now  # noqa: E402


@njit(cache=False, nogil=True, inline="always")
def _px(img, y, x, w, maxval, half, t3, lut, S, R, CL, TOK, la, lb, lz, lz2, lres, eabs, ew):
    w_, n_, nw, ne = _neighbours(img, y, x, w, half)
    q, sign = _context(w_, n_, nw, ne, t3, lut)
    uq = U(q)
    p, p0, p1, dot1, nrm1, dot2, nrm2, ls = lms_predict(
        img, y, x, w, w_, n_, nw, ne, maxval, S[uq, 2] * sign, la, lb, lz, lz2, lres,
        0, 0, np.int64(0))
    m = min(p, maxval - p)
    v = np.int64(img[U(y), U(x)])
    dd = (v - p) if sign > 0 else (p - v)
    ad = dd if dd >= 0 else -dd
    c = U(CL[_class_t(S[uq, 4], ew, eabs[U(x)])])
    u = (dd << 1) ^ (dd >> 63)
    u = u if ad <= m else m + ad
    tok = U(TOK[U(u)])
    _update(S, q, dd, R)
    lms_learn_now(y, x, v, p, p0, p1, dot1, nrm1, dot2, nrm2, ls, la, lb, lz, lz2, lres)
    eabs[U(x)] = ad
    return tok, c, u, ad


@njit(cache=False, nogil=True)
def tokens2(img, maxval, tokens, classes, hist, R, CL, TOK, NB, lag):
    h, w = img.shape
    t1, t2, t3 = thresholds(maxval)
    lut = _qlut(t1, t2, t3)
    S = _init(maxval)
    half = np.int64((maxval + 1) >> 1)
    eabs = np.zeros(w + 1, np.int64)
    la, lb, lz, lz2, lres = lms_state(w)
    ma, mb, mz, mz2, _ = lms_state(w)
    k = 0
    nbits = 0
    for y in range(0, h, 2):
        ewa = np.int64(0)
        ewb = np.int64(0)
        two = y + 1 < h
        for i in range(w + lag):
            if i < w:
                tok, c, u, ad = _px(img, y, i, w, maxval, half, t3, lut, S, R, CL, TOK,
                                    la, lb, lz, lz2, lres, eabs, ewa)
                ewa = ad
                tokens[k] = tok; classes[k] = c; hist[c, tok] += 1; nbits += NB[tok]; k += 1
            if two and i >= lag:
                tok, c, u, ad = _px(img, y + 1, i - lag, w, maxval, half, t3, lut, S, R, CL, TOK,
                                    ma, mb, mz, mz2, lres, eabs, ewb)
                ewb = ad
                tokens[k] = tok; classes[k] = c; hist[c, tok] += 1; nbits += NB[tok]; k += 1
    return nbits


def main() -> None:
    R, CL, TOK, NB = encode_constants()
    img = np.asarray(Image.open("mic/data/ct_abdomen.png")).astype(np.int32)
    img = img - img.min()
    maxval = int(img.max())
    n = img.size
    tokens = np.zeros(n, np.uint8)
    classes = np.zeros(n, np.uint8)
    bits = np.zeros(2 * n + 16, np.uint8)

    def one():
        hist = np.zeros((N_CLASS, N_TOKENS), np.int64)
        return fast_tokens(img, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, True)

    def two():
        hist = np.zeros((N_CLASS, N_TOKENS), np.int64)
        return tokens2(img, maxval, tokens, classes, hist, R, CL, TOK, NB, 3)

    times = {"one row (fast_tokens)": [], "two-row wavefront": []}
    one(), two()
    for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 21):
        for name, f in zip(times, (one, two)):
            t0 = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t0)
    for name, v in times.items():
        print(f"{name}: median {n / statistics.median(v) / 1e6:.1f} MP/s, best {n / min(v) / 1e6:.1f}")


if __name__ == "__main__":
    main()
