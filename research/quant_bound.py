#!/usr/bin/env python
"""How much could a better quantiser gain on wavelet-context's own entropy model?

An analysis tool (not a codec): it encodes train images with wavelet-context (plain tools:
``regions=False, adapt=False, restore=False``), records every detail pass's values
``u = y / shrink``, scale indexes and RD Lagrangian, and compares, pass by pass, the
Lagrangian cost ``bits + lambda * error^2`` of

* the encoder's scalar RD rounding (round, or one step towards 0), and
* 4-state **dependent (trellis-coded) quantisation** as in H.266: two scalar quantisers
  (even and odd multiples of the step, both holding 0) switched by a state machine
  driven by the parity of each index, chosen by a Viterbi search; its index
  probabilities come from the same frozen tables (a Q0 cell [2k-1, 2k+1] and a Q1 cell
  take the table's unit-cell masses, boundary cells halved), at the step that costs
  least among 1, 1.13, 1.28, 1.45 and 1.65 times finer (scale indexes moved alike).

The result is the Lagrangian saving as a share of the stream's bits (negative = the
trellis would save), which is about the BD-rate such a quantiser could bring.  The
decoder cost is not modelled: the state makes decoding serial within a pass, which the
grouped (per table) range decoding of SPEC 6.3 cannot do.

    .venv/bin/python research/quant_bound.py /path/to/corpus/train [--qualities 2,5,8,11]

Measured 2026-12-02 on the train sample (20 sources): README, Results.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numba as nb
import numpy as np

import mic
import mic.lossy as lossy
import mic.quant
from mic.entropy.tables import SCALE_MIN
from train_sample import sample_images

#: H.266 dependent quantisation: next state from (state, parity); states 0, 1 use Q0
TRANS = np.array([[0, 2], [2, 0], [1, 3], [3, 1]], np.int64)
#: finer steps tried for the trellis, as scale-index shifts
SHIFTS = (0, 1, 2, 3, 4)


@nb.njit(cache=True)
def _freq(v, t, half, offsets, flat):  # pragma: no cover - numba
    h = half[t]
    if -h <= v <= h:
        return float(flat[offsets[t] + v + h])
    return 0.5


@nb.njit(cache=True)
def _unit_bits(v, t, half, offsets, flat):  # pragma: no cover - numba
    h = half[t]
    if -h <= v <= h:
        return 20.0 - math.log2(flat[offsets[t] + v + h])
    return 20.0 - math.log2(flat[offsets[t] + 2 * h + 1]) + 2 * math.log2(1 + abs(v)) + 1


@nb.njit(cache=True)
def _dq_bits(v, q, t, half, offsets, flat):  # pragma: no cover - numba
    """Bits of the reconstruction ``v`` (in steps) under quantiser ``q`` of table ``t``."""
    f0 = _freq(v, t, half, offsets, flat)
    lo = _freq(v - 1, t, half, offsets, flat)
    hi = _freq(v + 1, t, half, offsets, flat)
    if q == 0:
        p = f0 + 0.5 * (lo + hi)
    elif v == 0:
        p = f0
    elif v == 1:
        p = f0 + 0.5 * hi
    elif v == -1:
        p = f0 + 0.5 * lo
    else:
        p = f0 + 0.5 * (lo + hi)
    return 20.0 - math.log2(max(p, 0.5))


@nb.njit(cache=True)
def scalar_cost(u, tab, lam, half, offsets, flat):  # pragma: no cover - numba
    """Lagrangian cost of the encoder's RD rounding (round or one step towards 0)."""
    total = 0.0
    for i in range(u.size):
        q0 = np.rint(u[i])
        best = 1e300
        for st in range(2):
            q = q0 if st == 0 else (q0 - (1.0 if q0 > 0 else -1.0) if q0 != 0 else 0.0)
            c = lam * (u[i] - q) ** 2 + _unit_bits(int(q), tab[i], half, offsets, flat)
            best = min(best, c)
        total += best
    return total


@nb.njit(cache=True)
def trellis_cost(u, tab, lam, half, offsets, flat, trans):  # pragma: no cover - numba
    """Lagrangian cost of the best 4-state dependent quantisation of ``u`` (C order)."""
    inf = 1e300
    cost = np.full(4, inf)
    cost[0] = 0.0
    for i in range(u.size):
        new = np.full(4, inf)
        x = u[i]
        for s in range(4):
            if cost[s] >= inf:
                continue
            q = 0 if s < 2 else 1
            a = 2 * math.floor(x / 2) if q == 0 else 2 * math.floor((x - 1) / 2) + 1
            for v in (a, a + 2, 0):
                k = v // 2 if q == 0 else (v + (1 if v > 0 else (-1 if v < 0 else 0))) // 2
                c = cost[s] + lam * (x - v) ** 2 + _dq_bits(v, q, tab[i], half, offsets, flat)
                ns = trans[s, k & 1]
                if c < new[ns]:
                    new[ns] = c
        cost = new
    return cost.min()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path, help="the corpus train split folder (../manifest.csv)")
    ap.add_argument("--qualities", default="2,5,8,11")
    ap.add_argument("--max-side", type=int, default=512)
    args = ap.parse_args()
    quals = [int(q) for q in args.qualities.split(",")]
    lm = lossy.load_model("wavelet-context")
    tables = lm.ybank.tables
    half, off, flat = (np.asarray(a, np.int64) for a in (tables.half, tables.offsets, tables.flat))
    n_tab = len(half)
    # the scale table is log-spaced (SPEC 6): one index is this factor in scale
    dlog = math.log(float(lm.config["scale_max"]) / SCALE_MIN) / (n_tab - 1)
    record: list[tuple[np.ndarray, np.ndarray, float]] = []
    plain = mic.quant.quantize_rdo

    def recording(y, mu, tab, tabs, lam):  # noqa: ANN001, ANN202
        record.append((np.ravel(np.asarray(y, np.float64) - mu), np.ravel(tab).astype(np.int32),
                       float(lam)))
        return plain(y, mu, tab, tabs, lam)

    mic.quant.quantize_rdo = recording
    sums: dict[int, list[float]] = {q: [] for q in quals}
    try:
        for row, a, bits in sample_images(args.data, max_side=args.max_side):
            line = f"{row['modality']:3s} {row['source'][:24]:24s}"
            for q in quals:
                record.clear()
                blob = mic.encode(a, quality=q, bits_stored=bits, regions=False, adapt=False,
                                  restore=False)
                sq = sum(scalar_cost(u, t, lam, half, off, flat) for u, t, lam in record)
                best = math.inf
                for k in SHIFTS:
                    c = math.exp(dlog * k)
                    dq = sum(trellis_cost(u * c, np.clip(t + k, 0, n_tab - 1).astype(np.int32),
                                          lam / (c * c), half, off, flat, TRANS)
                             for u, t, lam in record)
                    best = min(best, dq)
                share = (best - sq) / (8 * len(blob))
                sums[q].append(share)
                line += f"  q{q} {8 * len(blob) / a.size:6.3f} bpp {100 * share:+5.1f} %"
            print(line, flush=True)
    finally:
        mic.quant.quantize_rdo = plain
    print("mean " + "  ".join(f"q{q} {100 * np.mean(v):+.2f} %" for q, v in sums.items()))


if __name__ == "__main__":
    main()
