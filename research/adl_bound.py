"""How much adaptive directional lifting (ADL) could give the lossy mode: an upper bound.

ADL (Ding, Wu & Li, IEEE TIP 2007) lifts the 9/7 along a direction chosen per block, so an
oblique edge is predicted along itself instead of across.  This replaces the codec's
``dwt97``/``idwt97`` for the call by a directional version whose directions the encoder
chooses per ``block`` x ``block`` block of each lifting pass (the one of 9 half-pel offsets,
-2..2 samples per step, of least high-pass L1 norm, zero preferred by 3 %) at the first
``levels`` levels; the decoder is handed the same directions (an oracle: they are not
coded), so the bound counts them two ways: free, and at the zeroth-order entropy of each
map plus 4 bits per direction used.  Everything else (learned gains, context model, tools)
is the codec's own, unchanged, so the subbands keep statistics the model was not trained
on: a retrained model would gain somewhat more.

    .venv/bin/python research/adl_bound.py /path/to/corpus/train [levels] [block]

Measured 2026-12-03 (train sample, 18 images, crops of at most 512, qualities 0-10 step 2,
levels 2, block 16): BD-rate -1.3 % with free directions (CT to -6.7 %, MR to -5.3 %;
CR/DX/MG/US about 0), +2.4 % with them coded; level 1 only, block 16: -0.8 % / +1.8 %;
block 32: -0.4 % / +0.2 %.  Not worth a stream tool (SPEC change, decoder time).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numba as nb
import numpy as np

import mic
import mic.models.wavelet as wavelet
from mic.eval.bdrate import bd_rate
from mic.models.wavelet import ALPHA, BETA, DELTA, GAMMA, KAPPA, dwt97_level, idwt97_level
from train_sample import rate_psnr, sample_images

QUALITIES = (0, 2, 4, 6, 8, 10)
#: offsets in half samples per lifting step
OFFSETS = (-4, -3, -2, -1, 0, 1, 2, 3, 4)
ZERO_PREFERENCE = 1.03


@nb.njit(cache=True)
def _reflect(i, n):  # pragma: no cover - numba
    if i < 0:
        i = -i
    if i >= n:
        i = 2 * (n - 1) - i
    return min(max(i, 0), n - 1)


@nb.njit(cache=True)
def _sample(row, p2):  # pragma: no cover - numba
    """row at position p2 / 2 (half samples: 4-tap interpolation)."""
    n = row.size
    if p2 % 2 == 0:
        return row[_reflect(p2 // 2, n)]
    i = (p2 - 1) // 2
    return (9.0 * (row[_reflect(i, n)] + row[_reflect(i + 1, n)])
            - row[_reflect(i - 1, n)] - row[_reflect(i + 2, n)]) / 16.0


@nb.njit(cache=True)
def _predict(d, s, c, dirs):  # pragma: no cover - numba
    """odd rows d_k += c (s_k at +o + s_k+1 at -o)."""
    m, w = d.shape
    for k in range(m):
        kb = k + 1 if k + 1 < m else k
        for n in range(w):
            o = dirs[k, n]
            d[k, n] += c * (_sample(s[k], 2 * n + o) + _sample(s[kb], 2 * n - o))


@nb.njit(cache=True)
def _update(s, d, c, dirs):  # pragma: no cover - numba
    """even rows s_k += c (d_k-1 at +o + d_k at -o)."""
    m, w = s.shape
    for k in range(m):
        ka = k - 1 if k > 0 else 0
        for n in range(w):
            o = dirs[k, n]
            s[k, n] += c * (_sample(d[ka], 2 * n + o) + _sample(d[k], 2 * n - o))


def lift(x: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Directional 9/7 along axis 0: (low rows, high rows)."""
    s, d = np.ascontiguousarray(x[0::2]), np.ascontiguousarray(x[1::2])
    _predict(d, s, ALPHA, dirs)
    _update(s, d, BETA, dirs)
    _predict(d, s, GAMMA, dirs)
    _update(s, d, DELTA, dirs)
    return s / KAPPA, d * KAPPA


def unlift(lo: np.ndarray, hi: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    s, d = lo * KAPPA, hi / KAPPA
    _update(s, d, -DELTA, dirs)
    _predict(d, s, -GAMMA, dirs)
    _update(s, d, -BETA, dirs)
    _predict(d, s, -ALPHA, dirs)
    x = np.empty((2 * s.shape[0], s.shape[1]))
    x[0::2], x[1::2] = s, d
    return x


def expand(blocks: np.ndarray, shape: tuple[int, int], block: int) -> np.ndarray:
    full = np.repeat(np.repeat(blocks, block, 0), block, 1)[:shape[0], :shape[1]]
    return np.ascontiguousarray(full, np.int64)


def choose(x: np.ndarray, block: int) -> np.ndarray:
    """Per block of the high rows, the offset of least L1 norm (zero preferred)."""
    m, w = x.shape[0] // 2, x.shape[1]
    bm, bw = -(-m // block), -(-w // block)
    cost = np.empty((len(OFFSETS), bm, bw))
    for t, o in enumerate(OFFSETS):
        hi = np.abs(lift(x, np.full((m, w), o, np.int64))[1])
        pad = np.zeros((bm * block, bw * block))
        pad[:m, :w] = hi
        cost[t] = pad.reshape(bm, block, bw, block).sum(axis=(1, 3))
    cost[np.array(OFFSETS) != 0] *= ZERO_PREFERENCE
    return np.array(OFFSETS)[cost.argmin(0)]


class Oracle:
    """dwt97/idwt97 stand-ins: directions chosen by the first analysis of a shape, reused
    by every later analysis and synthesis of that shape (one image at a time)."""

    def __init__(self, levels: int, block: int) -> None:
        self.levels, self.block, self.maps = levels, block, {}

    def _fwd(self, x: np.ndarray, maps: list | None) -> tuple:
        b, new = self.block, maps is None
        maps = [] if new else maps
        xt = np.ascontiguousarray(x.T)
        if new:
            maps.append(choose(xt, b))
        lo, hi = lift(xt, expand(maps[0], (xt.shape[0] // 2, xt.shape[1]), b))
        out = []
        for k, part in ((1, np.ascontiguousarray(lo.T)), (2, np.ascontiguousarray(hi.T))):
            if new:
                maps.append(choose(part, b))
            out.extend(lift(part, expand(maps[k], (part.shape[0] // 2, part.shape[1]), b)))
        ll, lh, hl, hh = out
        return (ll, lh, hl, hh), maps

    def dwt(self, x: np.ndarray, levels: int) -> tuple:
        known = self.maps.get(x.shape)
        ll, bands, maps = np.asarray(x, np.float64), [], []
        for lv in range(levels):
            if lv < self.levels:
                (ll, lh, hl, hh), m = self._fwd(ll, None if known is None else known[lv])
                maps.append(m)
            else:
                ll, lh, hl, hh = dwt97_level(ll)
            bands.append((lh, hl, hh))
        self.maps.setdefault(x.shape, maps)
        return ll, bands

    def idwt(self, ll: np.ndarray, bands: list) -> np.ndarray:
        shape = (ll.shape[0] << len(bands), ll.shape[1] << len(bands))
        maps = self.maps.get(shape)
        for lv in reversed(range(len(bands))):
            lh, hl, hh = bands[lv]
            if maps is None or lv >= self.levels:
                ll = idwt97_level(ll, lh, hl, hh)
                continue
            b, (m0, m1, m2) = self.block, maps[lv]
            lo = unlift(ll, lh, expand(m1, ll.shape, b))
            hi = unlift(hl, hh, expand(m2, hl.shape, b))
            ll = unlift(np.ascontiguousarray(lo.T), np.ascontiguousarray(hi.T),
                        expand(m0, (lo.shape[1], lo.shape[0]), b)).T
        return ll

    def side_bits(self) -> float:
        bits = 0.0
        for maps in self.maps.values():
            for m in (m for lv in maps for m in lv):
                _, c = np.unique(m, return_counts=True)
                bits += float(-(c * np.log2(c / c.sum())).sum()) + 4 * len(c)
        return bits


def main(argv: list[str]) -> None:
    split = Path(argv[0])
    levels = int(argv[1]) if len(argv) > 1 else 2
    block = int(argv[2]) if len(argv) > 2 else 16
    plain = (wavelet.dwt97, wavelet.idwt97)
    free, coded = [], []
    for row, a, bits in sample_images(split, max_side=512):
        if a.min() == a.max():
            continue
        curves: dict[str, list] = {"9/7": [], "free": [], "coded": []}
        for q in QUALITIES:
            wavelet.dwt97, wavelet.idwt97 = plain
            blob = mic.encode(a, quality=q, bits_stored=bits)
            curves["9/7"].append(rate_psnr(8 * len(blob), a, mic.decode(blob), bits))
            oracle = Oracle(levels, block)
            wavelet.dwt97, wavelet.idwt97 = oracle.dwt, oracle.idwt
            try:
                blob = mic.encode(a, quality=q, bits_stored=bits)
                dec = mic.decode(blob)
            finally:
                wavelet.dwt97, wavelet.idwt97 = plain
            curves["free"].append(rate_psnr(8 * len(blob), a, dec, bits))
            curves["coded"].append(rate_psnr(8 * len(blob) + oracle.side_bits(), a, dec, bits))
        ref = list(zip(*curves["9/7"]))
        free.append(bd_rate(*ref, *zip(*curves["free"])))
        coded.append(bd_rate(*ref, *zip(*curves["coded"])))
        print(f"{row['modality']:3s} {row['source'][:28]:28s} BD free {100 * free[-1]:+6.1f} %  "
              f"coded {100 * coded[-1]:+6.1f} %", flush=True)
    print(f"mean over {len(free)} images: free {100 * np.mean(free):+.2f} %, "
          f"coded {100 * np.mean(coded):+.2f} % (levels {levels}, block {block})")


if __name__ == "__main__":
    main(sys.argv[1:])
