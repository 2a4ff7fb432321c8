"""Helpers shared by the lossless probes (research/lossless_bands_probe.py,
research/lossless_lowp_probe.py): the estimated bits of a table section with model 16's
real tables, and the middle image of each source of a split."""
import numpy as np
from mic.lossless import kernels_fast_enc as KE, kernels_tables as KT
from mic.lossless.syntax import model16_priors

_, _, BI = model16_priors()


def section_bits(hist):
    """Bits of the tokens counted in ``hist`` (24, 68) and of their table section, with
    model 16's fits (built-in tables where they cost less)."""
    tabmap, freq = KE.fit_tables(hist)
    tabmap, freq = KE.assign_builtin(hist, tabmap, freq, BI)
    tb = np.empty(1 + 24 + freq.shape[0] * (1 + 2 * 68), np.uint8)
    nbytes = KE.write_tables(tabmap, freq, tb)
    tm, fr = KT.with_builtin(tabmap, freq, BI)
    return 8 * nbytes + KE._bits(hist, fr[tm]).sum()


def pick(folder):
    """The middle image (in manifest order) of each source of a split folder."""
    import csv, collections, pathlib
    folder = pathlib.Path(folder)
    by = collections.defaultdict(list)
    for r in csv.DictReader(open(folder.parent / "manifest.csv")):
        if r["split"] == folder.name:
            by[r["source"]].append(r)
    return [str(folder.parent / rs[len(rs) // 2]["png"]) for _, rs in sorted(by.items())]
