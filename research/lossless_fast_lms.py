"""Would an NLMS correction make the fast lossless coder (model id 3, SPEC 5.6) as small as
model id 13 (the default of 2026-12-05) at twice its speed?  (Issue #22: the default >= 20
MP/s.)  It did: model id 14 (SPEC 5.8), the column "model 14" below, is variant "1/16 12t
s2" with the first filter's output clamped and the residual of NW among the second's taps.

For the middle image of each train source: every plane (RGB through the RCT, palettes as
the fast coder offers them) coded by the fast coder's body, by the same body with its
prediction corrected by an integer NLMS filter (variants below), and by model 13's body;
bytes per modality, pixel-weighted, and the kernels' time on the bundled CT.

    PYTHONPATH=. python research/lossless_fast_lms.py CORPUS/train [--per-source 1]
"""

from __future__ import annotations

import argparse
import collections
import csv
import time
from pathlib import Path

import numpy as np
from numba import njit

from mic.lossless.kernels_fast import U, _class_t, _context, _init, _qlut, _update, thresholds

TAPS = 12
WMAX = 1 << 20


@njit(cache=True, nogil=True)
def lms_tokens(img, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, mul, sh, bias_first,
               nsets=1, ntaps=9, stage2=0, cls=0, base=0, shiftnorm=False):
    """fast_tokens with p0 = (2 MED + W + N + 2) >> 2 corrected by a 9-tap NLMS filter on
    (W, N, NW, NE, WW, NN, NEE) - p0 and the signed residuals of W and N, then the context
    bias of JPEG-LS (``bias_first``: the bias before the filter, the filter on its output)."""
    h, w = img.shape
    t1, t2, t3 = thresholds(maxval)
    lut = _qlut(t1, t2, t3)
    S = _init(maxval)
    half = np.int64((maxval + 1) >> 1)
    eabs = np.zeros(w + 2, np.int64)
    rsig = np.zeros(w + 2, np.int64)
    lw = np.zeros((nsets, TAPS), np.int64)
    lz = np.zeros(TAPS, np.int64)
    hs = np.int64(1) << (sh - 1)
    lw2 = np.zeros((4, 8), np.int64)
    lz2 = np.zeros(8, np.int64)
    acc = np.int64(0)
    cnt = np.int64(0)
    pos = 0
    k = 0
    for y in range(h):
        row = img[y]
        up = img[y - 1] if y > 0 else row
        up2 = img[y - 2] if y > 1 else up
        ew = np.int64(0)
        rw = np.int64(0)
        for x in range(w):
            if y == 0:
                w_ = np.int64(row[x - 1]) if x > 0 else half
                n_ = w_
                nw = w_
                ne = w_
                nn = w_
                nee = w_
                nne = w_
                nnw = w_
            else:
                n_ = np.int64(up[x])
                w_ = np.int64(row[x - 1]) if x > 0 else n_
                nw = np.int64(up[x - 1]) if x > 0 else n_
                ne = np.int64(up[x + 1]) if x + 1 < w else n_
                nee = np.int64(up[x + 2]) if x + 2 < w else ne
                nn = np.int64(up2[x])
                nne = np.int64(up2[x + 1]) if x + 1 < w else nn
                nnw = np.int64(up2[x - 1]) if x > 0 else nn
            ww = np.int64(row[x - 2]) if x > 1 else w_
            q, sign = _context(w_, n_, nw, ne, t3, lut)
            uq = U(q)
            mx = max(n_, w_)
            mn = min(n_, w_)
            med = min(max(w_ + n_ - nw, mn), mx)
            if base == 0:
                p0 = (2 * med + w_ + n_ + 2) >> 2
            elif base == 1:
                p0 = med
            else:
                p0 = (3 * med + w_ + n_ + ne - nw + 2) >> 2
            if bias_first:
                p0 += S[uq, 2] * sign
            lz[0] = w_ - p0
            lz[1] = n_ - p0
            lz[2] = nw - p0
            lz[3] = ne - p0
            lz[4] = ww - p0
            lz[5] = nn - p0
            lz[6] = nee - p0
            lz[7] = rw
            lz[8] = rsig[x + 1]
            if ntaps > 9:
                lz[9] = nne - p0
                lz[10] = nnw - p0
                lz[11] = (np.int64(row[x - 3]) if x > 2 else ww) - p0
            ls = 0
            if nsets > 1:
                act = abs(w_ - nw) + abs(n_ - nw) + abs(n_ - ne) + abs(rw) + abs(rsig[x + 1])
                b = 0
                while act > 0 and b < 15:
                    act >>= 1
                    b += 1
                ls = min(b * nsets // 12, nsets - 1)
            dot = np.int64(0)
            nrm = np.int64(1)
            for t in range(ntaps):
                dot += lw[ls, t] * lz[t]
                nrm += lz[t] * lz[t]
            p = p0 + ((dot + (np.int64(1) << 15)) >> 16)
            p1 = p
            dot2 = np.int64(0)
            nrm2 = np.int64(1)
            ls2 = 0
            if stage2:
                act = abs(w_ - nw) + abs(n_ - nw) + abs(n_ - ne) + abs(rw) + abs(rsig[x + 1])
                b = 0
                while act > 0 and b < 15:
                    act >>= 1
                    b += 1
                ls2 = 0 if b < 4 else min((b - 2) >> 1, 3)
                lz2[0] = med - p1
                lz2[1] = w_ + ne - n_ - p1
                lz2[2] = p0 - p1
                lz2[3] = rw
                lz2[4] = rsig[x + 1]
                lz2[5] = rsig[x]
                lz2[6] = rsig[x + 2]
                lz2[7] = n_ + w_ - nw - p1
                for t in range(8):
                    dot2 += lw2[ls2, t] * lz2[t]
                    nrm2 += lz2[t] * lz2[t]
                p = p1 + ((dot2 + (np.int64(1) << 15)) >> 16)
            if not bias_first and cls >= 0:
                p += S[uq, 2] * sign
            p = min(max(p, np.int64(0)), np.int64(maxval))
            m = min(p, maxval - p)
            v = np.int64(row[x])
            dd = (v - p) if sign > 0 else (p - v)
            ad = dd if dd >= 0 else -dd
            if cls <= 0:
                c = U(CL[_class_t(S[uq, 4], ew, eabs[U(x)])])
            elif cls == 1:
                tt = S[uq, 4] + ((2 * ew + 2 * eabs[U(x)] + (eabs[U(x - 1)] if x > 0 else 0) + eabs[U(x + 1)]) << 2)
                c = U(CL[min(tt, np.int64(CL.shape[0] - 1))])
            else:
                tt = ((2 * ew + 2 * eabs[U(x)] + (eabs[U(x - 1)] if x > 0 else 0) + eabs[U(x + 1)]) << 3)
                c = U(CL[min(tt, np.int64(CL.shape[0] - 1))])
            classes[k] = c
            u = (dd << 1) ^ (dd >> 63)
            u = u if ad <= m else m + ad
            tok = U(TOK[U(u)])
            nb = NB[tok]
            tokens[k] = tok
            hist[c, tok] += 1
            acc = (acc << nb) | (u & ((np.int64(1) << nb) - 1))
            cnt += nb
            if cnt >= 32:
                cnt -= 32
                word = acc >> cnt
                bits[U(pos)] = (word >> 24) & 0xFF
                bits[U(pos + 1)] = (word >> 16) & 0xFF
                bits[U(pos + 2)] = (word >> 8) & 0xFF
                bits[U(pos + 3)] = word & 0xFF
                pos += 4
                acc &= (np.int64(1) << cnt) - 1
            _update(S, q, dd, R)
            # NLMS step on the filter's own error
            e = ((v - p0) << 16) - dot
            if shiftnorm:
                L = np.int64(0)
                t_ = nrm
                while t_ > 0:
                    t_ >>= 1
                    L += 1
                g = (e << 12) >> L
            else:
                g = (e << 12) // nrm
            for t in range(ntaps):
                lw[ls, t] = min(max(lw[ls, t] + ((mul * g * lz[t] + hs) >> sh), -WMAX), WMAX)
            if stage2 and ((x & 1) == 0 or stage2 == 2):
                e2 = ((v - p1) << 16) - dot2
                if shiftnorm:
                    L = np.int64(0)
                    t_ = nrm2
                    while t_ > 0:
                        t_ >>= 1
                        L += 1
                    g2 = (e2 << 12) >> L
                else:
                    g2 = (e2 << 12) // nrm2
                for t in range(8):
                    lw2[ls2, t] = min(max(lw2[ls2, t] + ((g2 * lz2[t] + (1 << 19)) >> 20), -WMAX), WMAX)
            ew = ad
            eabs[U(x)] = ad
            rsig[x + 1] = v - p
            rw = v - p
            k += 1
    while cnt > 0:
        take = min(cnt, np.int64(8))
        bits[pos] = ((acc >> (cnt - take)) << (8 - take)) & 0xFF
        cnt -= take
        acc &= (np.int64(1) << cnt) - 1
        pos += 1
    return pos


def body_size(x, maxval, variant):
    from mic.lossless import kernels_fast as KF
    from mic.lossless import kernels_fast_enc as KE
    from mic.lossless import kernels_fit as KFIT
    from mic.lossless import kernels_tables as KT

    h, w = x.shape
    n = h * w
    tokens = np.empty(n, np.uint8)
    classes = np.empty(n, np.uint8)
    bits = np.zeros(2 * n + 16, np.uint8)
    hist = np.zeros((KF.N_CLASS, KF.N_TOKENS), np.int64)
    R, CL, TOK, NB = KF.encode_constants()
    if variant is None:
        nbytes = KE.fast_tokens(x, maxval, tokens, classes, bits, hist, R, CL, TOK, NB)
    else:
        nbytes = lms_tokens(x, maxval, tokens, classes, bits, hist, R, CL, TOK, NB, *variant)
    tabmap, freq = KFIT.fit_tables(hist)
    tb = np.empty(1 + KF.N_CLASS + freq.shape[0] * (1 + 2 * KF.N_TOKENS), np.uint8)
    ntb = KFIT.write_tables(tabmap, freq, tb)
    _, cum, _ = KT.build_decode_tables(freq)
    words = np.empty(n + 2, np.uint16)
    nw = KE.rans_encode(tokens, classes, tabmap, freq, cum, words)
    return ntb + 2 * nw + nbytes + 4


def planes_of(a):
    from mic.lossless.encoder import offer_palette
    from mic.lossless.encoder_rgb import rct_forward as _rct_forward
    from mic.lossless import kernels_fast_enc as KE

    a = a.astype(np.int32)
    ps = _rct_forward(a) if a.ndim == 3 and a.shape[2] == 3 else (
        [a] if a.ndim == 2 else [a[..., i] for i in range(a.shape[2])])
    out = []
    for p in ps:
        lo, hi = int(p.min()), int(p.max())
        if lo == hi:
            continue
        x = np.ascontiguousarray(p - lo, np.int32)
        maxval = hi - lo
        if maxval >= 3:
            counts = KE.value_counts(x, maxval)
            if offer_palette(counts):
                flags = (counts > 0).astype(np.uint8)
                x = KE.palette_indices(x, flags).astype(np.int32).reshape(x.shape)
                maxval = int(flags.sum()) - 1
        out.append((x, maxval))
    return out


VARIANTS = {"fast": None, "lms 3/17": (3, 17, False), "lms 3/17 bias first": (3, 17, True),
            "lms 1/16": (1, 16, False), "lms 3/16": (3, 16, False),
            "1/16 12t": (1, 16, False, 1, 12), "1/16 2s": (1, 16, False, 2, 9),
            "1/16 4s": (1, 16, False, 4, 9), "1/16 4s 12t": (1, 16, False, 4, 12),
            "1/17": (1, 17, False), "3/18": (3, 18, False),
            "1/16 s2": (1, 16, False, 1, 9, 1), "1/16 s2all": (1, 16, False, 1, 9, 2),
            "1/16 4s 12t s2": (1, 16, False, 4, 12, 1), "1/16 12t s2": (1, 16, False, 1, 12, 1),
            "12t s2 c1": (1, 16, False, 1, 12, 1, 1), "12t s2 c2": (1, 16, False, 1, 12, 1, 2),
            "lms c1": (1, 16, False, 1, 9, 0, 1), "12t s2 nobias": (1, 16, False, 1, 12, 1, -1),
            "12t s2all c1": (1, 16, False, 1, 12, 2, 1),
            "12t s2 med": (1, 16, False, 1, 12, 1, 0, 1), "12t s2 b2": (1, 16, False, 1, 12, 1, 0, 2),
            "12t s2 nobias med": (1, 16, False, 1, 12, 1, -1, 1),
            "12t s2 shift": (1, 16, False, 1, 12, 1, 0, 0, True), "12t s2 shift mu2": (2, 16, False, 1, 12, 1, 0, 0, True), "2s 12t s2all c1": (1, 16, False, 2, 12, 2, 1)}


def main() -> None:
    from mic.io import read_image
    from mic.lossless.encoder import _encode_coded
    from mic.lossless.encoder_fast import _body

    ap = argparse.ArgumentParser()
    ap.add_argument("split", type=Path)
    ap.add_argument("--per-source", type=int, default=1)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args()
    if "eval" in {p.lower() for p in args.split.resolve().parts}:
        raise SystemExit("this probe reads the train split only")
    names = [v for v in args.variants.split(",") if v] + ["model 14", "model 13"]
    rows = [r for r in csv.DictReader(open(args.split.parent / "manifest.csv"))
            if r["split"] == args.split.name]
    by = collections.defaultdict(list)
    for r in rows:
        by[r["source"]].append(r)
    tot = collections.defaultdict(lambda: collections.defaultdict(float))
    px = collections.defaultdict(float)
    for src in sorted(by):
        rs = by[src]
        mid = len(rs) // 2
        for r in rs[max(0, mid - args.per_source // 2):][:args.per_source]:
            a, _ = read_image(str(args.split.parent / r["png"]))
            npx = a.shape[0] * a.shape[1]
            mod = r["modality"]
            px[mod] += npx
            px["all"] += npx
            line = []
            for nm in names:
                b = 0
                for x, maxval in planes_of(a):
                    if nm == "model 13":
                        b += len(_encode_coded(x.copy(), maxval, lms=True))
                    elif nm == "model 14":  # the shipped kind 5 (SPEC 5.8)
                        b += len(_body(x.copy(), maxval, True))
                    else:
                        b += body_size(x.copy(), maxval, VARIANTS[nm])
                tot[mod][nm] += 8 * b
                tot["all"][nm] += 8 * b
                line.append(f"{8 * b / npx:6.3f}")
            print(f"{mod:3s} {src[:28]:28s}", " ".join(line), flush=True)
    print("\nbpp, pixel-weighted:", " | ".join(names))
    for mod in sorted(tot):
        print(f"{mod:4s}", " ".join(f"{tot[mod][nm] / px[mod]:7.3f}" for nm in names),
              " rel. model 13:", " ".join(f"{tot[mod][nm] / tot[mod]['model 13']:.3f}" for nm in names))
    # kernel time on the bundled CT
    from PIL import Image
    ct = np.asarray(Image.open(Path(__file__).resolve().parents[1] / "mic/data/ct_abdomen.png"))
    x, maxval = planes_of(ct)[0]
    for nm in names:
        ts = []
        for _ in range(7):
            t0 = time.perf_counter()
            if nm == "model 13":
                _encode_coded(x.copy(), maxval, lms=True)
            elif nm == "model 14":
                _body(x.copy(), maxval, True)
            else:
                body_size(x.copy(), maxval, VARIANTS[nm])
            ts.append(time.perf_counter() - t0)
        print(f"CT body {nm:22s} {1e3 * min(ts):6.1f} ms")


if __name__ == "__main__":
    main()
