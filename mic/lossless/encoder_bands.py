"""Model id 18's banded tables (SPEC.md 5.11), the encoder's side: a kind-5/6 plane's token
classes split by the band of the pixel's prediction, each band with its own table section.

Where the spread of the residuals follows the intensity (photon noise in NM, PET and
radiographs, the flat black of ultrasound screens and CT surroundings), the same activity
class codes differently in dark and bright parts; a band of its own gives each its table.

1. :func:`fine_bins`: up to :data:`FINE_BINS` bins of the plane's values, about equal in
   count (the predictions follow the values);
2. the token pass (:func:`mic.lossless.kernels_fast_enc.fast_tokens_banded`) counts each
   class's tokens per fine bin of the prediction;
3. :func:`choose_bands`: 1, 2, 4 or 8 bands, each a run of fine bins, whichever
   :func:`mic.lossless.kernels_fit.section_cost` says codes smallest;
4. :func:`banded_tables`: each band's tables as model 16 fits them (built-in tables where
   they cost less), serialised as SPEC 5.11 writes them.

>>> import numpy as np
>>> x = np.repeat(np.arange(64, dtype=np.int32), 64).reshape(64, 64)
>>> fine, edges = fine_bins(x, 63)
>>> len(edges) + 1, int(fine[0]), int(fine[63])
(16, 0, 15)
"""

from __future__ import annotations

import numpy as np

from ..bitstream.varint import pack_uvarints
from . import kernels_compact_enc as KC
from . import kernels_fast as KF
from . import kernels_fast_enc as KE
from . import kernels_fit as KFIT
from . import kernels_low_enc as KL
from . import kernels_tables as KT

#: fine bins of the values (a band is a run of them)
FINE_BINS = 16
#: the band counts tried (SPEC 5.11 allows 1..8)
BAND_CHOICES = (1, 2, 4, 8)
#: planes with fewer samples are coded in one band (the split would not pay for its tables)
BAND_MIN_SAMPLES = 4096


def fine_bins(x: np.ndarray, maxval: int, counts: np.ndarray | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
    """(``fine``, ``edges``): ``fine[v]`` (uint8, ``v`` in ``0..maxval``) is the bin of value
    ``v``, the number of ``edges`` (increasing, in ``1..maxval``) at or below it; the edges
    cut the plane's values into bins of about equal count (``counts``: how often each value
    occurs, where the caller has counted them)."""
    cum = np.cumsum(KE.value_counts(x, maxval) if counts is None else counts)
    n = int(cum[-1])
    q = np.searchsorted(cum, n * np.arange(1, FINE_BINS) / FINE_BINS, side="right")
    edges = np.unique(q[(q >= 1) & (q <= maxval)]).astype(np.int64)
    fine = np.searchsorted(edges, np.arange(maxval + 1), side="right").astype(np.uint8)
    return fine, edges


def choose_bands(hist: np.ndarray, edges: np.ndarray, builtin: np.ndarray
                 ) -> tuple[list[int], np.ndarray]:
    """(thresholds, band of each fine bin) of the cheapest split of the fine bins' counts
    ``hist`` ((len(edges) + 1) * N_CLASS, N_TOKENS) into :data:`BAND_CHOICES` bands of
    consecutive fine bins (a threshold is the first value of a band after the first)."""
    nf = len(edges) + 1
    per = hist.reshape(nf, KF.N_CLASS, KF.N_TOKENS)
    best_nb, best_cost = 1, np.inf
    for nb in BAND_CHOICES:
        if nb > nf:
            break
        cost, _ = KFIT.split_cost(per, nb, builtin)
        if cost > best_cost and nb > 2:
            break  # more bands cost more: stop doubling (twice 1 is always tried)
        if cost < best_cost:
            best_nb, best_cost = nb, cost
    return split_at(edges, equal_runs(nf, best_nb))


def equal_runs(nf: int, nb: int) -> list[int]:
    """The first fine bin of each of ``nb`` runs of about equal length of ``nf`` bins (as
    :func:`mic.lossless.kernels_fit.split_cost` cuts them; runs that would be empty
    are left out)."""
    return sorted({(b * nf) // nb for b in range(nb)})


def split_at(edges: np.ndarray, starts: list[int]) -> tuple[list[int], np.ndarray]:
    """(thresholds, band of each fine bin) of bands that start at the fine bins ``starts``
    (increasing, the first 0) of the bins cut at ``edges``."""
    band = np.searchsorted(np.array(starts), np.arange(len(edges) + 1), side="right") - 1
    return [int(edges[s - 1]) for s in starts[1:]], band


def banded_tables(hist: np.ndarray, band: np.ndarray, thresholds: list[int],
                  builtin: np.ndarray, low_hist: np.ndarray | None = None,
                  nl: int | None = None, compact: bool = False
                  ) -> tuple[bytes, np.ndarray, np.ndarray]:
    """(table section, class map over the fine classes, tables): SPEC 5.11's section (the
    band count, the thresholds, then each band's model-16 section) of the fine counts
    ``hist`` joined into bands by ``band``; the map and tables are what the rANS coder uses
    (built-in tables added, each band's after the one before).  ``nl`` (model id 20, SPEC
    5.12; None: model id 18): then the low class count and, if not 0, the low classes'
    section of ``low_hist`` (N_CLASS, N_TOKENS), whose classes follow the fine ones in the
    map.  ``compact`` (model id 22, SPEC 5.13): each model-16 section written in its
    bit-packed form, the tables as it quantises them."""
    nf = len(band)
    nb = len(thresholds) + 1
    per = hist.reshape(nf, KF.N_CLASS, KF.N_TOKENS)
    parts = [bytes((nb,)), pack_uvarints(*thresholds)]
    sections = []
    groups = [per[band == b].sum(axis=0) for b in range(nb)]
    if nl is not None:
        groups.append(low_hist if nl else None)
    for b, h in enumerate(groups):
        if b == nb:
            parts.append(bytes((nl,)))
            if h is None:
                break
        tabmap, freq = KFIT.fit_tables(h)
        tabmap, freq = KFIT.assign_builtin(h, tabmap, freq, builtin)
        if compact:
            section, freq = KC.compact_section(tabmap, freq, h)
            parts.append(section)
        else:
            tb = np.empty(1 + KF.N_CLASS + freq.shape[0] * (1 + 2 * KF.N_TOKENS), np.uint8)
            parts.append(tb[:KFIT.write_tables(tabmap, freq, tb)].tobytes())
        sections.append(KT.with_builtin(tabmap, freq, builtin))
    band_map, tables = KT.join_bands(sections)  # what the decoder builds (SPEC 5.11)
    fine_map = band_map[:nb * KF.N_CLASS].reshape(nb, KF.N_CLASS)[band].ravel()
    if nl is not None:  # the low classes' entries after the fine ones (padded when none)
        low_map = band_map[nb * KF.N_CLASS:] if nl else np.zeros(KF.N_CLASS, np.int64)
        fine_map = np.concatenate([fine_map, low_map])
    return b"".join(parts), fine_map, tables


#: the low class counts model id 20's encoder tries (SPEC 5.12 allows 0..N_CLASS)
LOW_CHOICES = (1, 2, 4, 8, 16, 24)
#: the group of each L (0..N_CLASS-1) that low_stats counts band tokens in: group j holds
#: the L from LOW_CHOICES[j - 1] (0 for j = 0) up to LOW_CHOICES[j]
_LOW_GROUP = np.searchsorted(LOW_CHOICES, np.arange(KF.N_CLASS), side="right").astype(np.int64)
_LOW_CHOICES = np.array(LOW_CHOICES, np.int64)
#: planes with fewer samples below N_CLASS (of values) than this, or than 1/256 of the
#: plane, have no low classes (too few to pay for their tables)
LOW_MIN_SAMPLES = 256


def choose_low(counts: np.ndarray, tokens: np.ndarray, classes: np.ndarray,
               hist: np.ndarray, band: np.ndarray, builtin: np.ndarray, vals: np.ndarray,
               cand: np.ndarray, nc: int, near: int = 0) -> int:
    """How many low classes (SPEC 5.12) a plane codes smallest with, 0 or one of
    :data:`LOW_CHOICES`, from its pass without them: ``tokens`` and ``classes`` (fine bin *
    N_CLASS + class) of every sample, the fine counts ``hist``, the bins' ``band`` and the
    pass's ``nc`` candidates ``cand`` (the samples whose ``L`` is below N_CLASS, see
    :mod:`mic.lossless.kernels_low_enc`).  For each count, the samples that would be low
    leave their band's counts and code their values' tokens in their low classes
    (:func:`mic.lossless.kernels_low_enc.low_stats`); the estimate is
    :func:`mic.lossless.kernels_fit.section_cost` of the bands they leave and of the
    low section, plus the change in extra bits (weighed in
    :func:`mic.lossless.kernels_low_enc.weigh_low`).  ``vals``: the plane's values, flat in
    raster order (``counts`` theirs).  Near-lossless (model id 21, SPEC 7.9; ``near`` = k):
    the pass ran on the reconstruction; a low sample would code ``(v + k) // (2k + 1)``."""
    n = tokens.size
    # too few values below N_CLASS, or too few candidates (each one low_stats counts once)
    if int(counts[:KF.N_CLASS].sum()) < max(LOW_MIN_SAMPLES, n >> 8) or nc < LOW_MIN_SAMPLES:
        return 0
    _, _, TOK, NB = KF.encode_constants()
    hx, hsub, dbits = KL.low_stats(vals, tokens, classes, band, TOK, NB, near, cand, nc,
                                   _LOW_GROUP, len(LOW_CHOICES))
    nb = int(band.max()) + 1
    per = hist.reshape(len(band), KF.N_CLASS, KF.N_TOKENS)
    hb = np.stack([per[band == b].sum(axis=0) for b in range(nb)])
    return KL.weigh_low(hx, hsub, dbits, hb, builtin, _LOW_CHOICES)
