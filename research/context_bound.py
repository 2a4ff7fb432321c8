#!/usr/bin/env python
"""How much can entropy coding alone gain over JPEG 2000 on its own transform?

An analysis tool (not a codec): for each image, the 5-level 9/7 wavelet of the lossy mode,
uniform rounding at a sweep of steps, and the ideal code length of a strong *serial*
adaptive context model (adaptive counts in 24 context bins per band from 6 causal
neighbours, the parent and the siblings, the kind of model a parallel-decodable learned
context can at best approach); the BD-rate of that curve against OpenJPEG at the same
PSNR.  A result near 0 % means that JPEG 2000's EBCOT is already about as good as
context modelling gets on this transform, so a large BD-rate gain has to come from the
transform or the quantiser, not from the entropy model.

    .venv/bin/python research/context_bound.py /path/to/corpus/train [--per-source 1]

With ``--against-mic`` it instead runs the same serial adaptive model on wavelet-context's own
quantised detail subbands (plain tools, qualities 2, 6, 10) and compares its ideal code
length with wavelet-context's (its tables' information content, escapes included): how much a
serial adaptive context model would gain over mic's parallel learned one on the same
symbols (2026-12-02, train sample of 18 images: it needs more bits in 51 of 54
(image, quality) cases, median +31 / +9 / +6 % at q2 / q6 / q10; README).

Run it on the train split (it tunes nothing, but keep eval for measuring the codec).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numba as nb
import numpy as np

from mic.eval.bdrate import bd_rate
from mic.models.wavelet import dwt97, idwt97, synthesis_norms
from train_sample import rate_psnr, sample_images

LEVELS = 5


@nb.njit(cache=True)
def _adaptive_bits(q, par, sib1, sib2, nbins, alpha):  # pragma: no cover - numba
    h, w = q.shape
    k = 64
    cnt = np.ones((nbins, k + 1)) * alpha
    tot = np.full(nbins, alpha * (k + 1))
    bits = 0.0
    for i in range(h):
        for j in range(w):
            m = 0.0
            if j > 0:
                m += 2 * abs(q[i, j - 1])
            if i > 0:
                m += 2 * abs(q[i - 1, j])
            if i > 0 and j > 0:
                m += abs(q[i - 1, j - 1])
            if i > 0 and j + 1 < w:
                m += abs(q[i - 1, j + 1])
            if j > 1:
                m += 0.5 * abs(q[i, j - 2])
            if i > 1:
                m += 0.5 * abs(q[i - 2, j])
            m += 1.5 * par[i, j] + sib1[i, j] + 0.5 * sib2[i, j]
            b = min(nbins - 1, int(2.0 * math.log2(1.0 + m)))
            a = min(abs(q[i, j]), k)
            bits += -math.log2(cnt[b, a] / tot[b])
            if a >= k:
                bits += 2 * math.log2(1 + abs(q[i, j]) - k) + 1
            if a > 0:
                bits += 1.0
            cnt[b, a] += 1
            tot[b] += 1
    return bits


def context_curve(a: np.ndarray, bits: int, steps: list[float]) -> np.ndarray:
    nll, nb_ = synthesis_norms(LEVELS)
    lo = int(a.min())
    sc = (1 << max(1, (int(a.max()) - lo).bit_length())) - 1
    h, w = a.shape
    x = np.pad((a - lo) / sc, ((0, -h % 64), (0, -w % 64)), mode="symmetric") - 0.5
    ll, bands = dwt97(x, LEVELS)
    out = []
    for st in steps:
        g = 1.0 / st
        qll = np.rint(ll * nll * g)
        d = np.diff(qll, axis=1, prepend=0)
        _, c = np.unique(d, return_counts=True)
        total = -(c * np.log2(c / c.sum())).sum() + 16 * len(c)
        qs = [[np.rint(bands[lv][o] * nb_[lv][o] * g) for o in range(3)] for lv in range(LEVELS)]
        for lv in range(LEVELS - 1, -1, -1):
            for o in range(3):
                q = qs[lv][o].astype(np.int64)
                par = (np.abs(np.repeat(np.repeat(qs[lv + 1][o], 2, 0), 2, 1))
                       if lv + 1 < LEVELS else np.zeros(q.shape))
                zero = np.zeros(q.shape)
                s1 = np.abs(qs[lv][0]) if o >= 1 else zero
                s2 = np.abs(qs[lv][1]) if o >= 2 else zero
                total += _adaptive_bits(q, par.astype(np.float64), s1.astype(np.float64),
                                        s2.astype(np.float64), 24, 0.05)
        rec = idwt97(qll / g / nll, [[qs[lv][o] / g / nb_[lv][o] for o in range(3)]
                                     for lv in range(LEVELS)])[:h, :w]
        v = np.clip(np.rint((rec + 0.5) * sc + lo), 0, 2 ** bits - 1)
        out.append(rate_psnr(total, a, v, bits))
    return np.array(out)


def j2k_curve(a: np.ndarray, bits: int) -> np.ndarray:
    import imagecodecs as ic

    out = []
    for lv in np.arange(30, 100, 3):
        b = ic.jpeg2k_encode(a, level=float(lv), reversible=False, bitspersample=bits,
                             numthreads=1)
        out.append(rate_psnr(len(b) * 8, a, ic.jpeg2k_decode(b), bits))
    return np.array(out)


def serial_bits(yhat: list[np.ndarray]) -> float:
    """Ideal bits of the serial adaptive model on decoded detail subbands (band order)."""
    total = 0.0
    for lv in range(LEVELS - 1, -1, -1):
        for o in range(3):
            q = yhat[1 + 3 * lv + o].astype(np.int64)
            zero = np.zeros(q.shape)
            par = (np.abs(np.repeat(np.repeat(yhat[1 + 3 * (lv + 1) + o], 2, 0), 2, 1))
                   .astype(np.float64) if lv + 1 < LEVELS else zero)
            s1 = np.abs(yhat[1 + 3 * lv]).astype(np.float64) if o >= 1 else zero
            s2 = np.abs(yhat[2 + 3 * lv]).astype(np.float64) if o >= 2 else zero
            total += _adaptive_bits(q, par, s1, s2, 24, 0.05)
    return total


def against_mic(a: np.ndarray, bits: int, qualities: tuple[int, ...] = (2, 6, 10)
                ) -> list[tuple[int, float, float]]:
    """(quality, wavelet-context detail bits, serial adaptive bits) on wavelet-context's own quantised subbands."""
    import mic
    import mic.lossy as lossy
    from mic.lossy.passes import Planes
    from mic.entropy import escape_bits, information_bits
    from mic.bitstream.varint import zigzag_array
    from mic.quant import split_escapes

    lm = lossy.load_model("wavelet-context")
    half = lm.ybank.tables.half
    got: dict[str, object] = {}
    plain_run = Planes.run

    def run(self, coder, ll_mean, h16, ys=None, ll_table=None, *more):  # noqa: ANN001, ANN202
        def counted(yv, mu, tab, band):  # noqa: ANN001, ANN202
            q = coder(yv, mu, tab, band)
            if band >= 1:
                t = np.asarray(tab, np.int32)
                sym, esc = split_escapes(q.astype(np.int32), t, half)
                got["bits"] = got.get("bits", 0.0) + information_bits(sym, t, lm.ybank) + \
                    escape_bits(zigzag_array(esc, np.uint32))
            return q
        got["yhat"] = out = plain_run(self, counted, ll_mean, h16, ys, ll_table, *more)
        return out

    Planes.run = run
    try:
        res = []
        for q in qualities:
            got.clear()
            mic.encode(a, quality=q, bits_stored=bits, regions=False, adapt=False, restore=False)
            res.append((q, float(got["bits"]), serial_bits(got["yhat"])))  # type: ignore[arg-type]
        return res
    finally:
        Planes.run = plain_run


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path, help="a corpus split folder with ../manifest.csv")
    ap.add_argument("--per-source", type=int, default=1, help="images per source")
    ap.add_argument("--max-side", type=int, default=1024, help="crop larger images")
    ap.add_argument("--against-mic", action="store_true",
                    help="compare with wavelet-context's own entropy model on its symbols")
    args = ap.parse_args()
    res = []
    if args.against_mic:
        for r, a, bits in sample_images(args.data, per_source=args.per_source, max_side=512):
            if a.size < 4096 or int(a.min()) == int(a.max()):
                continue
            pts = against_mic(a, bits)
            res.append([s / m - 1 for _, m, s in pts if m > 0])
            print(f"{r['modality']:3s} {r['source']:24s} " + "  ".join(
                f"q{q} wavelet-context {m / 8:8.0f} B serial {s / 8:8.0f} B ({100 * (s / m - 1):+6.1f} %)"
                for q, m, s in pts), flush=True)
        print(f"serial adaptive vs wavelet-context, mean over {len(res)} images: "
              f"{100 * np.mean([np.mean(v) for v in res]):+.1f} % bits")
        return
    for r, a, bits in sample_images(args.data, per_source=args.per_source,
                                    max_side=args.max_side):
        j = j2k_curve(a, bits)
        c = context_curve(a, bits, [0.05 * 2 ** (-k / 2) for k in range(12)])
        bd = bd_rate(j[:, 0], j[:, 1], c[:, 0], c[:, 1])
        res.append(bd)
        print(f"{r['modality']:3s} {r['source']:24s} {100 * bd:+6.1f} %", flush=True)
    print(f"mean over {len(res)} images: {100 * np.mean(res):+.1f} % vs JPEG 2000")


if __name__ == "__main__":
    main()
