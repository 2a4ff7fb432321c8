"""Build the lossless coder's frozen probability tables.

The tables are *data*, frozen into ``_tables_v1.py`` and shipped; encoder and
decoder both load the same integers, so no floating point computed at run time
decides how bytes are read.

Two steps:

* ``parametric()`` — a starting bank: token distributions of a geometric law on
  the folded residual at geometrically spaced scales;
* ``train(folder)`` — Lloyd iterations (k-means with cross-entropy) on the
  token histograms of 16x16 blocks of the **training** images: each block goes to
  the table that codes it cheapest, each table becomes the pooled histogram of
  its blocks.  The class-map delta table is fitted the same way.

Run ``python -m mic.lossless.make_tables /path/to/corpus/train --out mic/lossless/_tables_v1.py``.
"""

from __future__ import annotations

import argparse
import csv
import pathlib
import sys

import numpy as np

from .kernels import N_TOKENS, _token_of  # noqa: F401

K_TABLES = 24
TOTAL = 1 << 20


def _u_token_matrix(umax: int = 1 << 17) -> np.ndarray:
    from .kernels import DIRECT_TOKENS, MSB_IN_TOKEN

    u = np.arange(umax, dtype=np.int64)
    tok = np.empty(umax, np.int64)
    tok[:DIRECT_TOKENS] = u[:DIRECT_TOKENS]
    big = u[DIRECT_TOKENS:]
    n = np.floor(np.log2(big)).astype(np.int64)
    tok[DIRECT_TOKENS:] = (DIRECT_TOKENS + ((n - 4) << MSB_IN_TOKEN)
                           + ((big >> (n - MSB_IN_TOKEN)) & ((1 << MSB_IN_TOKEN) - 1)))
    return tok


def quantize(p: np.ndarray, total: int = TOTAL) -> np.ndarray:
    """Probabilities -> positive integers summing to ``total`` (largest-remainder)."""
    p = np.asarray(p, np.float64)
    p = p / p.sum()
    f = np.maximum(1, np.floor(p * (total - len(p))).astype(np.int64))
    rem = total - f.sum()
    order = np.argsort(-(p * total - f))
    i = 0
    while rem > 0:
        f[order[i % len(p)]] += 1
        rem -= 1
        i += 1
    while rem < 0:
        j = int(np.argmax(f))
        f[j] -= 1
        rem += 1
    return f


def parametric(k: int = K_TABLES) -> np.ndarray:
    tok = _u_token_matrix()
    u = np.arange(len(tok), dtype=np.float64)
    out = np.zeros((k, N_TOKENS))
    for i, s in enumerate(np.geomspace(0.03, 40000, k)):
        pu = np.exp(-u / s) * (1 - np.exp(-1 / s))
        pu += 1e-12
        out[i] = np.bincount(tok, weights=pu, minlength=N_TOKENS)
    return np.stack([quantize(r) for r in out])


def _delta_table(k: int = K_TABLES, counts: np.ndarray | None = None) -> np.ndarray:
    n = 2 * k - 1
    if counts is None:
        p = 0.5 ** np.arange(n, dtype=np.float64)
    else:
        p = counts.astype(np.float64) + 0.5
    return quantize(p, 1 << 16)


def _block_hists(path: pathlib.Path, bs: int = 16) -> np.ndarray:
    from PIL import Image

    from .encoder import plane_tokens

    a = np.asarray(Image.open(path))
    if a.ndim == 3:
        a = a[..., 1]
    tokens, h, w = plane_tokens(a.astype(np.int32))
    by, bx = -(-h // bs), -(-w // bs)
    blk = (np.arange(h)[:, None] // bs) * bx + (np.arange(w)[None, :] // bs)
    hist = np.zeros((by * bx, N_TOKENS), np.int64)
    np.add.at(hist, (blk.ravel(), tokens), 1)
    return hist


def train(folder: pathlib.Path, max_images: int = 400, iters: int = 12, seed: int = 0):
    rows = list(csv.DictReader(open(folder.parent / "manifest.csv")))
    paths = [folder.parent / r["png"] for r in rows if r["split"] == "train"]
    rng = np.random.default_rng(seed)
    # balance sources: at most max_images // n_sources per source
    by_src: dict[str, list] = {}
    for r in rows:
        if r["split"] == "train":
            by_src.setdefault(r["source"], []).append(folder.parent / r["png"])
    per = max(2, max_images // max(1, len(by_src)))
    chosen = []
    for src, ps in sorted(by_src.items()):
        idx = rng.permutation(len(ps))[:per]
        chosen += [ps[i] for i in idx]
    del paths
    hists = np.concatenate([_block_hists(p) for p in chosen])
    print(f"{len(chosen)} images, {len(hists)} blocks", file=sys.stderr)
    tables = parametric().astype(np.float64)
    w = hists.sum(1)
    for it in range(iters):
        cost = -np.log2(tables / tables.sum(1, keepdims=True))
        c = hists @ cost.T
        assign = c.argmin(1)
        total_bits = c[np.arange(len(c)), assign].sum()
        print(f"iter {it}: {total_bits / w.sum():.4f} bits/pixel (tokens only)", file=sys.stderr)
        new = np.zeros_like(tables)
        for k in range(len(tables)):
            sel = assign == k
            if sel.any():
                new[k] = hists[sel].sum(0) + 0.02 * sel.sum()
            else:
                new[k] = tables[k]
        tables = new / new.sum(1, keepdims=True)
    # order by entropy so neighbouring blocks have nearby class indices
    ent = -(tables * np.log2(tables)).sum(1)
    order = np.argsort(ent)
    tables = tables[order]
    return np.stack([quantize(t) for t in tables])


def write_module(tables: np.ndarray, delta: np.ndarray, out: pathlib.Path, note: str) -> None:
    lines = [
        '"""Frozen tables of the lossless coder, model id 1 (generated by make_tables.py; do not edit).',
        "",
        note,
        '"""',
        "",
        f"TOTAL = {TOTAL}",
        "TOKEN_FREQS = [",
    ]
    lines += ["    [" + ", ".join(str(int(v)) for v in row) + "]," for row in tables]
    lines += ["]", "CLASS_DELTA_FREQS = [" + ", ".join(str(int(v)) for v in delta) + "]", ""]
    out.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("train_dir", nargs="?", help="corpus train/ folder (manifest.csv beside it)")
    ap.add_argument("--out", default=str(pathlib.Path(__file__).with_name("_tables_v1.py")))
    ap.add_argument("--max-images", type=int, default=400)
    a = ap.parse_args(argv)
    if a.train_dir:
        tables = train(pathlib.Path(a.train_dir), a.max_images)
        note = f"Trained on {a.train_dir} (train split only) with --max-images {a.max_images}."
    else:
        tables = parametric()
        note = "Parametric bank (geometric law on the folded residual)."
    write_module(tables, _delta_table(), pathlib.Path(a.out), note)


if __name__ == "__main__":
    main()
