"""How much would a context-mixing residual coder save over model 14's frozen token tables?
(Issue #22 item 1: "mixing of several predictors' probability distributions (logistic mixing,
as in context-mixing coders) instead of one blended prediction; adaptive rather than frozen
symbol statistics".)

Each grey plane of a train sample is predicted exactly as model 14's kind-5 planes are (SPEC
5.8: median edge, two NLMS filters, JPEG-LS context bias).  Its residual ``d = v - p`` is then
binarised (zero flag; unary bit length of ``|d|``; the bits below the leading one; the sign
when both signs are possible) and each binary decision is costed, in ideal bits, under a
logistic mix of adaptive counters in several contexts (token class, the JPEG-LS context, the
neighbours' residual sizes, the predictors' disagreement, ...), followed by an SSE stage:
the lpaq recipe, float here (a format would need it in integers).  Planes with a sparse
histogram are also costed through their palette of values, keeping the smaller, as model 14
does with kind 6.

    PYTHONPATH=. python research/lossless_cm.py CORPUS/train [--per-source 1]

Compared with the real model-14 stream (``mic.encode(a, fast_nlms=True)``, effort 3, and the
default).  A research probe: nothing here changes the format.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

from mic.lossless.kernels_fast import (
    N_CTX, U, _bitlen, _class_t, _context, _init, _qlut, _update, class_tables,
    lms_predict, lms_state, thresholds,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_sample import sample_images  # noqa: E402
from _lms_now import lms_learn_now  # noqa: E402

NSLOT = 96
SIGN_SLOT = 92
N_IN = 7  # mixer inputs: six models and a bias


@njit(cache=True, inline="always")
def _st(p):
    return math.log(p / (1.0 - p))


@njit(cache=True, inline="always")
def _sq(x):
    return 1.0 / (1.0 + math.exp(-x))


NLS = 12
OFFS = np.array([[0, -1], [-1, 0], [-1, -1], [-1, 1], [0, -2], [-2, 0], [-1, 2], [-2, 1],
                 [-2, -1], [0, -3], [-1, -2], [-2, 2]], np.int64)


@njit(cache=True)
def ls_predict(img, y, x, R, M, b, tap, lam):  # pragma: no cover - numba
    """Least-squares prediction of (y, x) from its 12 causal neighbours, fitted on the causal
    window of radius R (rows y-R..y, the current row left of x); None-like -1 if too near an
    edge."""
    h, w = img.shape
    if y < 3 or x < 3 or x + 3 > w:
        return -1.0
    M[:, :] = 0.0
    b[:] = 0.0
    n = 0
    for yy in range(max(3, y - R), y + 1):
        x1 = x + R if yy < y else x - 1
        for xx in range(max(3, x - R), min(x1, w - 3) + 1):
            for k in range(NLS):
                tap[k] = img[yy + OFFS[k, 0], xx + OFFS[k, 1]]
            t = float(img[yy, xx])
            for i in range(NLS):
                ti = tap[i]
                b[i] += ti * t
                for j in range(i, NLS):
                    M[i, j] += ti * tap[j]
            n += 1
    if n < 2 * NLS:
        return -1.0
    tr = 0.0
    for i in range(NLS):
        tr += M[i, i]
    for i in range(NLS):
        M[i, i] += lam * tr / NLS + 1e-6
        for j in range(i):
            M[i, j] = M[j, i]
    # Cholesky solve
    L = np.linalg.cholesky(M)
    z = np.linalg.solve(L, b)
    c = np.linalg.solve(L.T, z)
    pr = 0.0
    for k in range(NLS):
        pr += c[k] * img[y + OFFS[k, 0], x + OFFS[k, 1]]
    return pr


@njit(cache=True)
def cm_cost(img, maxval, limit, lr, n_mix_ctx, R_ls, mode):  # pragma: no cover - numba
    """Ideal bits of the plane ``img`` (values in [0, maxval]) under the mix; ``img`` is
    overwritten with itself in raster order (the kernel reads decoded neighbours)."""
    h, w = img.shape
    t1, t2, t3 = thresholds(maxval)
    lut = _qlut(t1, t2, t3)
    S = _init(maxval)
    R, CL = class_tables()
    half = np.int64((maxval + 1) >> 1)
    la, lb, lz, lz2, lres = lms_state(w)
    eabs = np.zeros(w + 1, np.int64)
    # model tables: probability and count per (context, slot)
    sizes = np.array([32, 32, 18 * 18, N_CTX * 2, 18 * 18, 18 * 18], np.int64)
    P = np.full((6, 18 * 18 * 2 + N_CTX * 2, NSLOT), 0.5)
    C = np.zeros((6, 18 * 18 * 2 + N_CTX * 2, NSLOT))
    W = np.full((NSLOT, n_mix_ctx, N_IN), 0.3)
    apm = np.empty((NSLOT, 32, 33))
    for i in range(33):
        apm[:, :, i] = _sq((i - 16) / 2.0)
    ctx = np.zeros(6, np.int64)
    sctx = np.zeros(6, np.int64)
    st = np.zeros(N_IN)
    total = 0.0
    emax = _bitlen(maxval)
    rowres = np.zeros((2, w + 2), np.int64)
    Mls = np.zeros((NLS, NLS))
    bls = np.zeros(NLS)
    tap = np.zeros(NLS)
    eL = np.zeros((2, w + 2))
    eP = np.zeros((2, w + 2))
    imf = img.astype(np.float64)
    for y in range(h):
        ew = np.int64(0)
        for x in range(w):
            if y == 0:
                w_ = np.int64(img[0, x - 1]) if x > 0 else half
                n_ = w_
                nw = w_
                ne = w_
            else:
                n_ = np.int64(img[y - 1, x])
                w_ = np.int64(img[y, x - 1]) if x > 0 else n_
                nw = np.int64(img[y - 1, x - 1]) if x > 0 else n_
                ne = np.int64(img[y - 1, x + 1]) if x + 1 < w else n_
            q, sign = _context(w_, n_, nw, ne, t3, lut)
            uq = U(q)
            p, p0, p1, dot1, nrm1, dot2, nrm2, ls = lms_predict(
                img, y, x, w, w_, n_, nw, ne, maxval, S[uq, 2] * sign, la, lb, lz, lz2, lres,
                0, 0, np.int64(0))
            v = np.int64(img[y, x])
            pb = p
            if R_ls > 0:
                pl = ls_predict(imf, y, x, R_ls, Mls, bls, tap, 1e-4)
                cur0 = y & 1
                if pl >= 0:
                    if mode == 0:
                        pf_ = pl
                    else:
                        sl = 1e-3 + eL[cur0, x] + eL[cur0 ^ 1, x + 1] + 0.5 * (
                            eL[cur0 ^ 1, x] + eL[cur0 ^ 1, x + 2])
                        sp = 1e-3 + eP[cur0, x] + eP[cur0 ^ 1, x + 1] + 0.5 * (
                            eP[cur0 ^ 1, x] + eP[cur0 ^ 1, x + 2])
                        wl = 1.0 / (sl * sl)
                        wp_ = 1.0 / (sp * sp)
                        pf_ = (wl * pl + wp_ * (p - S[uq, 2] * sign)) / (wl + wp_) + S[uq, 2] * sign
                    p = min(max(np.int64(round(pf_)), np.int64(0)), np.int64(maxval))
                    eL[cur0, x + 1] = abs(v - pl)
                else:
                    eL[cur0, x + 1] = abs(v - p)
                eP[cur0, x + 1] = abs(v - pb)
            d = v - p
            t = _class_t(S[uq, 4], ew, eabs[U(x)])
            cls = CL[t]
            cur = y & 1
            prv = cur ^ 1
            rw = rowres[cur, x]
            rn = rowres[prv, x + 1]
            rnw = rowres[prv, x]
            rne = rowres[prv, x + 2]
            med = min(max(w_ + n_ - nw, min(w_, n_)), max(w_, n_))
            act = abs(w_ - nw) + abs(n_ - nw) + abs(n_ - ne)
            ctx[0] = cls
            ctx[1] = min(_bitlen(S[uq, 4]), 31)
            ctx[2] = min(_bitlen(abs(rw)), 17) * 18 + min(_bitlen(abs(rn)), 17)
            ctx[3] = q * 2 + (1 if abs(rw) + abs(rn) > (S[uq, 4] >> 3) else 0)
            ctx[4] = min(_bitlen(abs(p - p0)), 17) * 18 + min(_bitlen(abs(med - p)), 17)
            ctx[5] = min(_bitlen(act), 17) * 18 + min(_bitlen(abs(rnw) + abs(rne)), 17)
            # sign contexts
            sctx[0] = (np.sign(rw) + 1) * 3 + np.sign(rn) + 1 + 9 * min(cls >> 2, 3)
            sctx[1] = (np.sign(p0 - p) + 1) * 9 + (np.sign(med - p) + 1) * 3 + np.sign(
                n_ + w_ - nw - p) + 1
            sctx[2] = (np.sign(p1 - p) + 1) * 3 + np.sign(rnw + rne) + 1
            sctx[3] = q * 2 + (1 if sign > 0 else 0)
            sctx[4] = (np.sign(w_ - p) + 1) * 3 + np.sign(n_ - p) + 1
            sctx[5] = (np.sign(ne - p) + 1) * 3 + np.sign(nw - p) + 1
            mc = min(cls, n_mix_ctx - 1)
            a = abs(d)
            lo = p
            hi = maxval - p
            # binary decisions: (slot, bit)
            e = _bitlen(a)
            nd = 0
            slots = np.empty(64, np.int64)
            bits = np.empty(64, np.int64)
            slots[nd] = 0
            bits[nd] = 1 if a == 0 else 0
            nd += 1
            if a > 0:
                amax = max(lo, hi)
                em = _bitlen(amax)
                j = 1
                while j < em:
                    slots[nd] = j
                    bits[nd] = 1 if e > j else 0
                    nd += 1
                    if e <= j:
                        break
                    j += 1
                prefix = 0
                for bpos in range(e - 2, -1, -1):
                    b = (a >> bpos) & 1
                    k = e - 2 - bpos
                    sub = 0 if k == 0 else (1 + prefix if k == 1 else 3)
                    slots[nd] = 18 + min(e, 17) * 4 + sub
                    bits[nd] = b
                    nd += 1
                    if k == 0:
                        prefix = b
                if a <= min(lo, hi):
                    slots[nd] = SIGN_SLOT
                    bits[nd] = 1 if d * sign > 0 else 0
                    nd += 1
            for i in range(nd):
                s = slots[i]
                bit = bits[i]
                for m in range(6):
                    c = sctx[m] if s == SIGN_SLOT else ctx[m]
                    pm = min(max(P[m, c, s], 1e-4), 1 - 1e-4)
                    st[m] = _st(pm)
                st[6] = 0.3
                wv = W[s, mc]
                dot = 0.0
                for m in range(N_IN):
                    dot += wv[m] * st[m]
                pmix = min(max(_sq(dot), 1e-5), 1 - 1e-5)
                # SSE on (slot, class)
                sx = min(max(dot, -7.999), 7.999) * 2 + 16
                k0 = int(sx)
                fr = sx - k0
                pa = apm[s, cls, k0] * (1 - fr) + apm[s, cls, k0 + 1] * fr
                pf = min(max(0.25 * pmix + 0.75 * pa, 1e-5), 1 - 1e-5)
                total -= math.log2(pf if bit else 1 - pf)
                err = bit - pmix
                for m in range(N_IN):
                    wv[m] += lr * err * st[m]
                apm[s, cls, k0] += (bit - apm[s, cls, k0]) * 0.02 * (1 - fr)
                apm[s, cls, k0 + 1] += (bit - apm[s, cls, k0 + 1]) * 0.02 * fr
                for m in range(6):
                    c = sctx[m] if s == SIGN_SLOT else ctx[m]
                    n = C[m, c, s]
                    P[m, c, s] += (bit - P[m, c, s]) / (n + 1.5)
                    if n < limit:
                        C[m, c, s] = n + 1
            # updates as the coder does them
            dd = d * sign
            _update(S, q, dd, R)
            lms_learn_now(y, x, v, pb, p0, p1, dot1, nrm1, dot2, nrm2, ls, la, lb, lz, lz2, lres)
            rowres[cur, x + 1] = d
            ad = abs(dd)
            ew = ad
            eabs[U(x)] = ad
    return total


def plane_cost(a: np.ndarray, limit: float, lr: float, nmc: int, R: int, mode: int) -> tuple[float, str]:
    lo = int(a.min())
    x = (a.astype(np.int64) - lo)
    mx = int(x.max())
    if mx == 0:
        return 0.0, "const"
    best = (cm_cost(x.copy(), mx, limit, lr, nmc, R, mode), "raw")
    vals = np.unique(x)
    if len(vals) < mx + 1 and len(vals) > 1:
        idx = np.searchsorted(vals, x)
        c = cm_cost(idx.astype(np.int64), len(vals) - 1, limit, lr, nmc, R, mode)
        c += min(len(vals) * 16, (mx + 8) // 8 * 8 * 0.3)  # a rough palette cost
        best = min(best, (c, "pal"))
    return best


def main(argv: list[str] | None = None) -> int:
    import mic

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("split", type=Path)
    ap.add_argument("--per-source", type=int, default=1)
    ap.add_argument("--max-side", type=int, default=512)
    ap.add_argument("--limit", type=float, default=127)
    ap.add_argument("--lr", type=float, default=0.02)
    ap.add_argument("--mix-ctx", type=int, default=24)
    ap.add_argument("--sources", default=None)
    ap.add_argument("--ls", type=int, default=0, help="least-squares window radius (0: off)")
    ap.add_argument("--mode", type=int, default=1, help="0: LS alone, 1: blended with model 14's")
    args = ap.parse_args(argv)
    srcs = args.sources.split(",") if args.sources else None
    tot = {"m14": 0.0, "def": 0.0, "cm": 0.0}
    t0 = time.time()
    for r, a, _bits in sample_images(args.split, per_source=args.per_source,
                                     max_side=args.max_side, sources=srcs):
        b14 = 8 * len(mic.encode(a, fast_nlms=True))
        bdef = 8 * len(mic.encode(a))
        tc = time.time()
        cm, how = plane_cost(a, args.limit, args.lr, args.mix_ctx, args.ls, args.mode)
        tc = time.time() - tc
        cm += 8 * 40  # header, roughly
        tot["m14"] += b14
        tot["def"] += bdef
        tot["cm"] += cm
        print(f"{r['source'][:28]:28s} {a.shape!s:12s} m14 {b14 / a.size:.3f} def "
              f"{bdef / a.size:.3f} cm {cm / a.size:.3f} ({how}) {cm / b14:.3f} "
              f"{a.size / tc / 1e6:.2f} MP/s", flush=True)
    print(f"total: cm / m14 {tot['cm'] / tot['m14']:.4f}, cm / default "
          f"{tot['cm'] / tot['def']:.4f} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
