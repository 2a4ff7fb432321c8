"""Could a smaller context MLP keep the wavelet-context model's rate?  (issue #20: the
context MLP, 8+8 -> 32 -> 16 -> 1, is ~40 % of the lossy decode time.)

Decodes mic streams of train images (default effort) and records, per position coded
under the context model, the hyper features, the 8 context features, (quality, band,
pass), the shipped MLP's table index and the coded value (``--cache FILE.npz`` keeps the
records, so that later runs skip the decoding).  Then trains, on the images of even index
(the fit half), MLPs of the shipped shape (8+8 -> h1 -> h2 -> 1, a first-layer bias per
quality, band and pass) in up to two stages:

1. ``--distill-epochs N`` (knowledge distillation, default 0: off): regress the net's
   continuous output on the shipped MLP's table index ``tab`` (``--distill-loss mse`` or
   ``huber``, delta 1 table), on ``--distill-samples`` values of the fit half;
2. ``--epochs N``: minimise the values' code length (linear interpolation of the table
   costs between adjacent table indexes), optionally plus ``--distill-weight`` times the
   stage-1 loss, on ``--train-samples`` values.

It reports the code length on the whole fit half and on the images of odd index (the
test half) under each trained net (rounded to a table) against the shipped MLP.  The
retrained 32/16 row controls for the training recipe: a smaller net is worth shipping
only if it comes within 0.5 % of the shipped MLP.  ``--save DIR`` writes each net's float
weights to ``DIR/ctx-mlp-H1xH2.pt`` (layout in :func:`train`'s docstring).

Usage: python research/context_distill.py CORPUS/train [--qualities 2,6,10] [--epochs 4]
           [--distill-epochs 8] [--cache /tmp/ctx.npz] [--save /tmp/out]
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

BATCH = 4096
CHUNK = 1 << 20  # positions per evaluation call


def stack(recs: list[tuple[int, dict]], keys: dict) -> dict[str, np.ndarray]:
    return {
        "x": np.concatenate([np.concatenate([r["hyp"], r["ctx"].astype(np.float32)], 1)
                            for _, r in recs]).astype(np.float32) / 1024.0,
        "k": np.concatenate([np.full(r["sym"].size, keys[r["key"]]) for _, r in recs]),
        "v": np.concatenate([r["sym"] for _, r in recs]),
        "tab": np.concatenate([r["tab"] for _, r in recs]).astype(np.int64),
    }


def load_halves(args: argparse.Namespace) -> tuple[dict, dict, list]:
    """(fit half, test half, keys): from ``args.cache`` if it exists, else decoded (and
    saved there).  keys[i] = (quality, band, pass) of key index i."""
    if args.cache is not None and args.cache.is_file():
        z = np.load(args.cache)
        halves = [{n: z[f"{h}_{n}"] for n in ("x", "k", "v", "tab")} for h in ("fit", "test")]
        return halves[0], halves[1], [tuple(int(u) for u in kk) for kk in z["keys"]]
    qs = [int(x) for x in args.qualities.split(",")]
    imgs = list(sample_images(args.split, per_source=args.per_source, max_side=512))
    data = []
    for i, (_, a, bits) in enumerate(imgs):
        for q in qs:
            data += [(i, r) for r in collect(a, bits, q)]
    keys = sorted({r["key"] for _, r in data})
    index = {kk: n for n, kk in enumerate(keys)}
    fit = stack([x for x in data if x[0] % 2 == 0], index)
    test = stack([x for x in data if x[0] % 2 == 1], index)
    print(f"{len(imgs)} images, qualities {qs}", flush=True)
    if args.cache is not None:
        np.savez(args.cache, keys=np.array(keys), **{f"fit_{n}": v for n, v in fit.items()},
                 **{f"test_{n}": v for n, v in test.items()})
    return fit, test, keys


def subsample(d: dict, n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    sel = rng.choice(d["v"].size, min(n, d["v"].size), replace=False)
    return {kk: vv[sel] for kk, vv in d.items()}


def train(d: dict, cmat: np.ndarray, n_keys: int, h1: int, h2: int, epochs: int,
          seed: int = 0, decay: float = 0.7, lr: float = 3e-3, dd: dict | None = None,
          distill_epochs: int = 0, distill_loss: str = "mse", distill_lr: float = 3e-3,
          distill_decay: float = 0.8, distill_weight: float = 0.0):  # noqa: ANN201
    """Train one MLP; returns (predict(x, k) -> float table index, float weights).

    Stage 1 (``distill_epochs`` over ``dd``): loss(net output, shipped ``tab``); stage 2
    (``epochs`` over ``d`` with its (N, T) table costs ``cmat``): interpolated code length
    + ``distill_weight`` x loss(output, ``tab``).  Learning rate ``lr * decay**epoch`` per
    stage.  The weights dict: ``mean``, ``std`` (16,) the input normalisation (input =
    (concat(8 hyper, 8 context features) / 2**10 - mean) / std), ``w1`` (h1, 16), ``b1``
    (h1,), ``emb`` (n_keys, h1) the first layer's extra bias per key, ``w2`` (h2, h1),
    ``b2``, ``w3`` (1, h2), ``b3``; output = w3 relu(w2 relu(w1 x + b1 + emb[key]) + b2)
    + b3, in table indexes (round and clip to [0, T - 1])."""
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
    opt = torch.optim.Adam(params, lr=lr)
    mean, std = d["x"].mean(0), d["x"].std(0) + 1e-6

    def tensors(dx: dict) -> tuple:
        return (torch.tensor((dx["x"] - mean) / std, dtype=torch.float32),
                torch.tensor(dx["k"]), torch.tensor(dx["tab"], dtype=torch.float32))

    def fwd(xb, kb):  # noqa: ANN001, ANN202
        a = torch.relu(l1(xb) + emb(kb))
        return l3(torch.relu(l2(a)))[:, 0]

    def teacher_loss(t, tb):  # noqa: ANN001, ANN202
        if distill_loss == "huber":
            return torch.nn.functional.huber_loss(t, tb, delta=1.0)
        return torch.nn.functional.mse_loss(t, tb)

    def rate(t, cb):  # noqa: ANN001, ANN202
        t = t.clamp(0, n_tab - 1.001)
        lo = t.floor().long()
        w = t - lo
        return ((1 - w) * cb.gather(1, lo[:, None])[:, 0]
                + w * cb.gather(1, lo[:, None] + 1)[:, 0]).mean()

    stages = []
    if distill_epochs:
        stages.append((tensors(dd if dd is not None else d), None, distill_epochs, distill_lr,
                       distill_decay))
    if epochs:
        stages.append((tensors(d), torch.tensor(cmat, dtype=torch.float32), epochs, lr, decay))
    for (x, k, tb), c, n_ep, lr0, dec in stages:
        n = x.shape[0]
        for ep in range(n_ep):
            perm = torch.randperm(n)
            for g in opt.param_groups:
                g["lr"] = lr0 * (dec ** ep)
            for s in range(0, n, BATCH):
                idx = perm[s:s + BATCH]
                t = fwd(x[idx], k[idx])
                if c is None:
                    loss = teacher_loss(t, tb[idx])
                else:
                    loss = rate(t, c[idx])
                    if distill_weight:
                        loss = loss + distill_weight * teacher_loss(t, tb[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()

    def predict(xx: np.ndarray, kk: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return np.concatenate([
                fwd(torch.tensor((xx[s:s + CHUNK] - mean) / std, dtype=torch.float32),
                    torch.tensor(kk[s:s + CHUNK])).numpy()
                for s in range(0, len(kk), CHUNK)])

    def np_(p):  # noqa: ANN001, ANN202
        return p.detach().numpy().copy()

    weights = dict(mean=mean, std=std, w1=np_(l1.weight), b1=np_(l1.bias), emb=np_(emb.weight),
                   w2=np_(l2.weight), b2=np_(l2.bias), w3=np_(l3.weight), b3=np_(l3.bias))
    return predict, weights


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("split", type=Path)
    ap.add_argument("--qualities", default="2,6,10")
    ap.add_argument("--per-source", type=int, default=1)
    ap.add_argument("--cache", type=Path, help="npz of the recorded values (read or written)")
    ap.add_argument("--epochs", type=int, default=4, help="code-length epochs")
    ap.add_argument("--train-samples", type=int, default=600_000)
    ap.add_argument("--sizes", default="32x16,16x8,12x6,8x4", help="h1xh2,...")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--decay", type=float, default=0.7, help="learning rate factor per epoch")
    ap.add_argument("--distill-epochs", type=int, default=0,
                    help="epochs fitting the shipped table index first (0: no distillation)")
    ap.add_argument("--distill-samples", type=int, help="default: --train-samples")
    ap.add_argument("--distill-loss", choices=("mse", "huber"), default="mse")
    ap.add_argument("--distill-lr", type=float, default=3e-3)
    ap.add_argument("--distill-decay", type=float, default=0.8)
    ap.add_argument("--distill-weight", type=float, default=0.0,
                    help="weight of the distillation loss added to the code length")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--save", type=Path, help="folder for each net's float weights (.pt)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from mic.lossy.model import load_model
    cost = Costs(load_model("wavelet-context"))
    t0 = time.time()
    fit, test, keys = load_halves(args)
    print(f"fit {fit['v'].size} values, test {test['v'].size} ({time.time() - t0:.0f} s)",
          flush=True)
    sub = subsample(fit, args.train_samples, 0)
    dsub = None
    if args.distill_epochs:
        ds = args.distill_samples or args.train_samples
        dsub = sub if ds == args.train_samples else subsample(fit, ds, 1)
    cmat = cost.matrix(sub["v"]).astype(np.float32) if args.epochs else np.zeros((1, cost.n))
    base = {h: cost(d["v"], d["tab"]).sum() for h, d in (("fit", fit), ("test", test))}
    print(f"shipped 32/16 MLP: {base['fit'] / 8:.0f} B on the fit half, {base['test'] / 8:.0f} B "
          "on the test half", flush=True)
    for h1, h2 in (tuple(int(v) for v in hw.split("x")) for hw in args.sizes.split(",")):
        t0, c0 = time.time(), time.process_time()
        f, w = train(sub, cmat, len(keys), h1, h2, args.epochs, seed=args.seed,
                     decay=args.decay, lr=args.lr, dd=dsub, distill_epochs=args.distill_epochs,
                     distill_loss=args.distill_loss, distill_lr=args.distill_lr,
                     distill_decay=args.distill_decay, distill_weight=args.distill_weight)
        gap = {}
        for h, d in (("fit", fit), ("test", test)):
            t = np.clip(np.rint(f(d["x"], d["k"])), 0, cost.n - 1).astype(np.int64)
            gap[h] = cost(d["v"], t).sum() / base[h] - 1
        macs = 16 * h1 + h1 * h2 + h2
        print(f"retrained {h1}/{h2} ({macs} MAC): fit half {gap['fit']:+.2%}, test half "
              f"{gap['test']:+.2%} against the shipped MLP ({time.time() - t0:.0f} s, "
              f"{(time.process_time() - c0) / 60:.1f} CPU-min)", flush=True)
        if args.save is not None:
            args.save.mkdir(parents=True, exist_ok=True)
            torch.save({**w, "keys": keys, "args": vars(args) | {"split": str(args.split)},
                        "gap": gap}, args.save / f"ctx-mlp-{h1}x{h2}.pt")


if __name__ == "__main__":
    main()
