"""Helpers shared by the lossless probes (research/lossless_bands_probe.py,
research/lossless_lowp_probe.py): the estimated bits of a table section with model 16's
real tables, and the middle image of each source of a split."""
import numpy as np
from mic.lossless import kernels_fast as KF, kernels_fit as KFIT, kernels_tables as KT
from mic.lossless.syntax import model16_priors

_, _, BI = model16_priors()


def _bits(hist, f):
    """Bits of each class's tokens ``hist`` (N_CLASS, N_TOKENS) under the tables ``f`` (one
    a class, same shape); inf where a counted token has frequency 0."""
    with np.errstate(divide="ignore"):
        cost = KF.PREC - np.log2(f.astype(np.float64))
    return np.where(hist > 0, hist * np.where(hist > 0, cost, 0.0), 0.0).sum(axis=1)


def section_bits(hist):
    """Bits of the tokens counted in ``hist`` (24, 68) and of their table section, with
    model 16's fits (built-in tables where they cost less)."""
    tabmap, freq = KFIT.fit_tables(hist)
    tabmap, freq = KFIT.assign_builtin(hist, tabmap, freq, BI)
    tb = np.empty(1 + 24 + freq.shape[0] * (1 + 2 * 68), np.uint8)
    nbytes = KFIT.write_tables(tabmap, freq, tb)
    tm, fr = KT.with_builtin(tabmap, freq, BI)
    return 8 * nbytes + _bits(hist, fr[tm]).sum()


def pick(folder):
    """The middle image (in manifest order) of each source of a split folder."""
    import csv, collections, pathlib
    folder = pathlib.Path(folder)
    by = collections.defaultdict(list)
    for r in csv.DictReader(open(folder.parent / "manifest.csv")):
        if r["split"] == folder.name:
            by[r["source"]].append(r)
    return [str(folder.parent / rs[len(rs) // 2]["png"]) for _, rs in sorted(by.items())]
