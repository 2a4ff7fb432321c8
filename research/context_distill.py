"""Could a smaller context MLP keep the wavelet-context model's rate?  (issue #20: the
context MLP, 8+8 -> 32 -> 16 -> 1, is ~40 % of the lossy decode time.)

Decodes mic streams of train images (default effort) and records, per position coded
under the context model, the hyper features, the 8 context features, (quality, band,
pass), the shipped MLP's table index and the coded value.  Then trains, on the images of
even index, MLPs of the shipped shape (8+8 -> h1 -> h2 -> 1, a first-layer bias per
quality, band and pass) to minimise the values' code length (linear interpolation of the
table costs between adjacent table indexes), and compares the code length on the images
of odd index under the shipped MLP and under each trained one (rounded to a table).
The retrained 32/16 row controls for the training recipe: a smaller net is worth shipping
only if it comes within 0.5 % of the shipped MLP while that control does.

Usage: python research/context_distill.py CORPUS/train [--qualities 2,6,10] [--epochs 4]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from context_lut import Costs, collect  # noqa: E402
from train_sample import sample_images  # noqa: E402



def stack(recs: list[tuple[int, dict]], keys: dict) -> dict[str, np.ndarray]:
    return {
        "x": np.concatenate([np.concatenate([r["hyp"], r["ctx"].astype(np.float32)], 1)
                            for _, r in recs]) / 1024.0,
        "k": np.concatenate([np.full(r["sym"].size, keys[r["key"]]) for _, r in recs]),
        "v": np.concatenate([r["sym"] for _, r in recs]),
        "tab": np.concatenate([r["tab"] for _, r in recs]).astype(np.int64),
    }


def train(d: dict, cmat: np.ndarray, n_keys: int, h1: int, h2: int, epochs: int,
          seed: int = 0, decay: float = 0.7):  # noqa: ANN201
    import torch

    torch.manual_seed(seed)
    n_tab = cmat.shape[1]
    l1 = torch.nn.Linear(d["x"].shape[1], h1)
    emb = torch.nn.Embedding(n_keys, h1)
    torch.nn.init.zeros_(emb.weight)
    l2 = torch.nn.Linear(h1, h2)
    l3 = torch.nn.Linear(h2, 1)
    with torch.no_grad():
        l3.bias.fill_(n_tab / 2)
    params = [*l1.parameters(), *emb.parameters(), *l2.parameters(), *l3.parameters()]
    opt = torch.optim.Adam(params, lr=3e-3)
    mean, std = d["x"].mean(0), d["x"].std(0) + 1e-6
    x = torch.tensor((d["x"] - mean) / std, dtype=torch.float32)
    k = torch.tensor(d["k"])
    c = torch.tensor(cmat, dtype=torch.float32)

    def fwd(xb, kb):  # noqa: ANN001, ANN202
        a = torch.relu(l1(xb) + emb(kb))
        return l3(torch.relu(l2(a)))[:, 0]

    n = x.shape[0]
    for ep in range(epochs):
        perm = torch.randperm(n)
        for g in opt.param_groups:
            g["lr"] = 3e-3 * (decay ** ep)
        for s in range(0, n, 4096):
            idx = perm[s:s + 4096]
            t = fwd(x[idx], k[idx]).clamp(0, n_tab - 1.001)
            lo = t.floor().long()
            w = t - lo
            cb = c[idx]
            cost = (1 - w) * cb.gather(1, lo[:, None])[:, 0] + w * cb.gather(1, lo[:, None] + 1)[:, 0]
            loss = cost.mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return lambda xx, kk: fwd(torch.tensor((xx - mean) / std, dtype=torch.float32),
                              torch.tensor(kk)).detach().numpy()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("split", type=Path)
    ap.add_argument("--qualities", default="2,6,10")
    ap.add_argument("--per-source", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--train-samples", type=int, default=600_000)
    ap.add_argument("--sizes", default="32x16,16x8,12x6,8x4", help="h1xh2,...")
    ap.add_argument("--decay", type=float, default=0.7, help="learning rate factor per epoch")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    qs = [int(x) for x in args.qualities.split(",")]
    imgs = list(sample_images(args.split, per_source=args.per_source, max_side=512))
    from mic.lossy.model import load_model
    cost = Costs(load_model("wavelet-context"))
    data = []
    t0 = time.time()
    for i, (_, a, bits) in enumerate(imgs):
        for q in qs:
            data += [(i, r) for r in collect(a, bits, q)]
    keys = {kk: n for n, kk in enumerate(sorted({r["key"] for _, r in data}))}
    fit = stack([x for x in data if x[0] % 2 == 0], keys)
    test = stack([x for x in data if x[0] % 2 == 1], keys)
    print(f"{len(imgs)} images, qualities {qs}: fit {fit['v'].size} values, test "
          f"{test['v'].size} ({time.time() - t0:.0f} s)", flush=True)
    rng = np.random.default_rng(0)
    sel = rng.choice(fit["v"].size, min(args.train_samples, fit["v"].size), replace=False)
    sub = {kk: vv[sel] for kk, vv in fit.items()}
    cmat = cost.matrix(sub["v"]).astype(np.float32)
    base = cost(test["v"], test["tab"]).sum()
    print(f"shipped 32/16 MLP: {base / 8:.0f} B on the test half", flush=True)
    for h1, h2 in (tuple(int(v) for v in hw.split("x")) for hw in args.sizes.split(",")):
        t0 = time.time()
        f = train(sub, cmat, len(keys), h1, h2, args.epochs, decay=args.decay)
        t = np.clip(np.rint(f(test["x"], test["k"])), 0, cost.n - 1).astype(np.int64)
        bits = cost(test["v"], t).sum()
        macs = 16 * h1 + h1 * h2 + h2
        print(f"retrained {h1}/{h2} ({macs} MAC): {bits / base - 1:+.2%} against the shipped "
              f"MLP ({time.time() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
