"""How much rate would the wavelet-context model lose if its context MLP became a lookup?

Issue #20 item 2: the context MLP is ~40 % of lossy decode time; "it may become a lookup
over quantised features, if that keeps the rate within 0.5 %".  This script decodes mic
streams of train images and records, per MLP-coded pass, the positions' hyper cell, the 8
context features, the MLP's table index and the coded symbol.  It then compares the ideal
code length of those symbols under

* ``mlp``: the shipped MLP's tables (what the stream uses);
* ``hyper``: the MLP at a zero context (one evaluation per hyper cell), i.e. no context;
* ``lut-*``: a table fitted by counting on the first half of the images (each bin takes
  the table index that codes its symbols in the fewest bits, backing off to ``hyper``
  when the bin is rare), evaluated on the second half.

Usage: python research/context_lut.py CORPUS/train [--qualities 2,6,10] [--per-source 1]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_sample import sample_images  # noqa: E402

import mic  # noqa: E402
import mic.lossy.passes as P  # noqa: E402
from mic.models.intnet import mlp_scale_index  # noqa: E402


def collect(a: np.ndarray, bits: int, q: int) -> list[dict]:
    """Decode ``mic.encode(a, quality=q)`` (inline table biases off: the passes' tables
    are the MLP's own) and return one record per MLP-coded pass: quality, band, anchor
    pass and ``key`` (the three), context features, hyper features per position (``hyp``),
    the MLP's table indexes, its index at a zero context (``hyper``) and the values."""
    recs: list[dict] = []
    scales0, run0 = P.Planes._scales, P.Planes.run

    def scales(self, level, ii, jj, ctx, band, anchor):  # noqa: ANN001
        tab = scales0(self, level, ii, jj, ctx, band, anchor)
        lm = self.lm
        if self.h16 is not None:
            cells = self.cells(level, ii, jj)
            z = mlp_scale_index(lm.mlp, self.hyper, cells, np.zeros_like(ctx), self.q, band,
                                0 if anchor else 1, lm.thresholds)
            hyp = self.hyper[cells].astype(np.float32)
        else:
            z = np.full(ii.size, -1, np.int32)
            hyp = np.zeros((ii.size, 0), np.float32)
        recs.append(dict(q=self.q, band=band, anchor=anchor, key=(self.q, band, int(not anchor)),
                         ctx=ctx.copy(), hyp=hyp, tab=tab.copy(), hyper=z, sym=None, ref=tab))
        return tab

    def run(self, coder, *args, **kw):  # noqa: ANN001
        def wrapped(yv, mu, tab, band):  # noqa: ANN001
            k = coder(yv, mu, tab, band)
            if recs and recs[-1]["sym"] is None and recs[-1]["ref"] is tab:
                recs[-1]["sym"] = np.asarray(k, np.int64).copy()
            return k
        return run0(self, wrapped, *args, **kw)

    P.Planes._scales, P.Planes.run = scales, run
    P.Planes.fused_features = False  # see the features in _scales
    try:
        mic.decode(mic.encode(a, quality=q, bits_stored=bits, inline_biases=False))
    finally:
        P.Planes._scales, P.Planes.run = scales0, run0
        P.Planes.fused_features = True
    for r in recs:
        r.pop("ref")
    return [r for r in recs if r["sym"] is not None]


class Costs:
    """Ideal bits of value v under table t (escapes: escape symbol + Elias-gamma bits)."""

    def __init__(self, lm) -> None:  # noqa: ANN001
        t = lm.ybank.tables
        self.half = t.half.astype(np.int64)
        self.off = t.offsets.astype(np.int64)
        self.c = lm.ybank.costs
        self.n = len(self.half)

    def __call__(self, v: np.ndarray, t: np.ndarray) -> np.ndarray:
        L = self.half[t]
        inside = np.abs(v) <= L
        sym = np.where(inside, v + L, 2 * L + 1)
        bits = self.c[self.off[t] + sym]
        k = np.floor(np.log2(np.maximum(np.abs(v), 1) * 2 + 1)) + 1
        return bits + np.where(inside, 0.0, np.log2(33.0) + k - 1)

    def matrix(self, v: np.ndarray) -> np.ndarray:
        """(N, T) bits of each value under every table."""
        return np.stack([self(v, np.full(v.size, t)) for t in range(self.n)], 1)


def quantise(ctx: np.ndarray, levels: int, kind: str) -> np.ndarray:
    """A small integer code of the context features (16ths of a log2 magnitude)."""
    f = ctx / 64.0  # ACT_FRAC fixed point -> logmag units (4 fractional bits -> x16)
    if kind == "sum":  # activity: all features summed, log-ish bins
        s = f.sum(1)
        return np.minimum((np.log2(1 + s) * levels / 10).astype(np.int64), levels - 1)
    if kind == "pair":  # parent+siblings sum, neighbours sum, each in `levels` bins
        a = f[:, :6].sum(1)
        b = f[:, 6:].sum(1)
        qa = np.minimum((np.log2(1 + a) * levels / 10).astype(np.int64), levels - 1)
        qb = np.minimum((np.log2(1 + b) * levels / 10).astype(np.int64), levels - 1)
        return qa * levels + qb
    raise ValueError(kind)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("split", type=Path)
    ap.add_argument("--qualities", default="2,6,10")
    ap.add_argument("--per-source", type=int, default=1)
    ap.add_argument("--max-side", type=int, default=512)
    args = ap.parse_args()
    qs = [int(x) for x in args.qualities.split(",")]
    imgs = list(sample_images(args.split, per_source=args.per_source, max_side=args.max_side))
    print(f"{len(imgs)} images; qualities {qs}")
    from mic.lossy.model import load_model
    lm = load_model("wavelet-context")
    cost = Costs(lm)
    data = []  # (image index, record)
    for i, (row, a, bits) in enumerate(imgs):
        for q in qs:
            for r in collect(a, bits, q):
                data.append((i, r))
    fit = [r for i, r in data if i % 2 == 0]
    test = [r for i, r in data if i % 2 == 1]
    print(f"passes: fit {len(fit)}, test {len(test)}; test symbols "
          f"{sum(r['sym'].size for r in test)}")

    def key_base(r: dict) -> tuple:
        return (r["q"], r["band"], r["anchor"])

    for kind, levels in (("sum", 8), ("sum", 16), ("sum", 32), ("pair", 6), ("pair", 10)):
        tables: dict[tuple, np.ndarray] = {}
        counts: dict[tuple, np.ndarray] = {}
        nb = levels if kind == "sum" else levels * levels
        for r in fit:
            hz = np.maximum(r["hyper"], 0)
            code = quantise(r["ctx"], levels, kind)
            kb = key_base(r)
            bits = tables.setdefault(kb, np.zeros((cost.n, nb, cost.n)))
            cnt = counts.setdefault(kb, np.zeros((cost.n, nb)))
            m = cost.matrix(r["sym"])
            np.add.at(bits, (hz, code), m)
            np.add.at(cnt, (hz, code), 1)
        luts, backs = {}, {}
        for kb, bits in tables.items():
            lut = np.argmin(bits, axis=2)
            lut[counts[kb] < 8] = -1
            luts[kb] = lut
            backs[kb] = np.argmin(bits.sum(0), axis=1)  # by the context code alone
        for name, part in (("fit", fit), ("test", test)):
            tot = {"mlp": 0.0, "hyper": 0.0, "lut": 0.0}
            for r in part:
                v = r["sym"]
                tot["mlp"] += cost(v, r["tab"].astype(np.int64)).sum()
                hz = np.maximum(r["hyper"], 0).astype(np.int64)
                tot["hyper"] += cost(v, hz).sum()
                lut = luts.get(key_base(r))
                if lut is None:
                    t = hz
                else:
                    code = quantise(r["ctx"], levels, kind)
                    t = lut[hz, code]
                    t = np.where(t < 0, backs[key_base(r)][code], t)
                tot["lut"] += cost(v, t).sum()
            print(f"{kind:5s} {levels:3d} {name:4s}: mlp {tot['mlp']/8:.0f} B  hyper "
                  f"{tot['hyper']/tot['mlp']-1:+.2%}  lut {tot['lut']/tot['mlp']-1:+.2%}",
                  flush=True)


if __name__ == "__main__":
    main()
