"""Build model id 16's frozen priors (SPEC 5.10): the NLMS filters' starting weights and one
built-in token table per class, fitted on the **train** split and written to
``_tables_v16.py`` (data: encoder and decoder load the same integers).

Images: up to ``--per-source`` of each train source, every other one of an evenly spaced
pick (``--half 0``; ``--half 1`` is the other half, kept for measuring), planes of at most
600,000 samples, each grey plane or colour channel with its minimum subtracted, as the
encoder codes it.

1. Weights: every plane coded by model 14's kind-5 pass from zero weights; the starting
   weights are the median, weight by weight, of where the planes' filters end.
2. Tables: every plane coded again from those weights; each class's table is the mean of
   the planes' normalised token histograms of that class (each plane weighs the same, so
   small images count as much as large ones), scaled to sum to 2**11, every token up to the
   largest the class saw at least 1 and the tokens above it 0 (an encoder cannot code them
   with this table).

    python -m mic.lossless.make_tables16 CORPUS/train --out mic/lossless/_tables_v16.py
"""

from __future__ import annotations

import argparse
import csv
import pathlib

import numpy as np

from . import kernels_fast as KF
from . import kernels_fast_enc as KE
from . import kernels_fit as KFIT

MAX_PLANE = 600_000


def sample(train_dir: pathlib.Path, per_source: int, half: int) -> list[pathlib.Path]:
    """Evenly spaced train images of every source, the ``half``-th of each pair."""
    rows = [r for r in csv.DictReader(open(train_dir.parent / "manifest.csv"))
            if r["split"] == "train"]
    by: dict[str, list[str]] = {}
    for r in rows:
        by.setdefault(r["source"], []).append(r["png"])
    out = []
    for _, pngs in sorted(by.items()):
        pick = pngs[:: max(1, len(pngs) // per_source)][:per_source]
        out += [train_dir.parent / p for p in pick[half::2]]
    return out


def sample_or_split(folder: pathlib.Path, every: bool, per_source: int,
                    halves: tuple[int, ...] = (0, 1)) -> tuple[dict[str, dict], list[pathlib.Path]]:
    """(manifest rows by png path, images): every image of ``folder``'s split (``every``:
    eval, measuring only), else :func:`sample`'s ``halves`` of the train sample, sorted,
    each once: what the research scripts that compare models on either measure."""
    rows = {r["png"]: r for r in csv.DictReader(open(folder.parent / "manifest.csv"))}
    if every:
        paths = [folder.parent / p for p, r in rows.items() if r["split"] == folder.name]
    else:
        paths = [p for h in halves for p in sample(folder, per_source, h)]
    return rows, sorted(set(paths))


def planes(path: pathlib.Path):
    """The planes of one image as the encoder codes them: (values - min, maxval)."""
    from PIL import Image

    a = np.asarray(Image.open(path))
    for p in ([a] if a.ndim == 2 else [a[..., c] for c in range(a.shape[2])]):
        x = p.astype(np.int32)
        x = np.ascontiguousarray(x - x.min())
        if 0 < x.max() and x.size <= MAX_PLANE:
            yield x, int(x.max())


def code(x: np.ndarray, maxval: int, la: np.ndarray, lb: np.ndarray) -> np.ndarray:
    """Model 14's kind-5 token pass over ``x`` from weights ``la``, ``lb`` (updated in place
    to where they end); returns the class x token histogram."""
    n = x.size
    hist = np.zeros((KF.N_CLASS, KF.N_TOKENS), np.int64)
    KE.fast_tokens(x, maxval, np.empty(n, np.uint8), np.empty(n, np.uint8),
                   np.zeros(2 * n + 16, np.uint8), hist, *KF.encode_constants(), True, la, lb)
    return hist


def fit(paths: list[pathlib.Path]) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(A0 (12,), B0 (4, 8), tables (24, 68), planes used)."""
    ends_a, ends_b = [], []
    data = [pl for p in paths for pl in planes(p)]
    for x, mv in data:
        la = np.zeros(KF.LMS_TAPS, np.int64)
        lb = np.zeros((KF.LMS2_SETS, KF.LMS2_TAPS), np.int64)
        code(x, mv, la, lb)
        ends_a.append(la)
        ends_b.append(lb)
    a0 = np.round(np.median(np.array(ends_a), 0)).astype(np.int64)
    b0 = np.round(np.median(np.array(ends_b), 0)).astype(np.int64)
    pooled = np.zeros((KF.N_CLASS, KF.N_TOKENS))
    seen = np.zeros((KF.N_CLASS, KF.N_TOKENS), bool)
    for x, mv in data:
        h = code(x, mv, a0.copy(), b0.copy())
        pooled += h / h.sum()
        seen |= h > 0
    tables = np.zeros((KF.N_CLASS, KF.N_TOKENS), np.int64)
    for c in range(KF.N_CLASS):
        if not seen[c].any():  # a class no plane reached: a flat table over the alphabet
            pooled[c] = 1.0
            seen[c] = True
        # counts in proportion, every token up to the largest seen at least 1
        top = int(np.flatnonzero(seen[c])[-1]) + 1
        cnt = np.zeros(KF.N_TOKENS)
        cnt[:top] = np.maximum(np.round(pooled[c, :top] / pooled[c].sum() * 1e9), 1)
        tables[c] = KFIT._normalise(cnt.astype(np.int64))
    return a0, b0, tables, len(data)


def write_module(a0, b0, tables, out: pathlib.Path, note: str) -> None:
    rows = ["    [" + ", ".join(str(int(v)) for v in t) + "]," for t in tables]
    text = "\n".join([
        '"""Frozen priors of lossless model id 16 (SPEC 5.10): generated by make_tables16.py;',
        "do not edit.",
        "",
        note,
        '"""',
        "",
        "#: the first NLMS filter's starting weights (12 taps, SPEC 5.8 step 4.1)",
        "LMS_A0 = [" + ", ".join(str(int(v)) for v in a0) + "]",
        "#: the second filter's starting weights, one row of 8 a weight set (SPEC 5.8 step 4.2)",
        "LMS_B0 = [",
        *["    [" + ", ".join(str(int(v)) for v in r) + "]," for r in b0],
        "]",
        "#: class c's built-in token table (68 frequencies summing to 2048; 0: not codable)",
        "BUILTIN_FREQS = [",
        *rows,
        "]",
        "",
    ])
    out.write_text(text)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train_dir", type=pathlib.Path, help="corpus train/ folder")
    ap.add_argument("--out", type=pathlib.Path,
                    default=pathlib.Path(__file__).with_name("_tables_v16.py"))
    ap.add_argument("--per-source", type=int, default=16)
    ap.add_argument("--half", type=int, default=0, choices=(0, 1))
    a = ap.parse_args(argv)
    if a.train_dir.name != "train":
        ap.error("fit on the corpus's train/ folder only")
    paths = sample(a.train_dir, a.per_source, a.half)
    a0, b0, tables, n = fit(paths)
    note = (f"Fitted on {len(paths)} images ({n} planes) of the train split: "
            f"--per-source {a.per_source} --half {a.half}.")
    write_module(a0, b0, tables, a.out, note)
    print(note)


if __name__ == "__main__":
    main()
