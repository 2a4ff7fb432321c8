"""Decode time of the learned conv synthesis ``g_s`` (mic/train/conv_models.py) in NumPy
(mic/models/conv_synthesis.py: float32, BLAS products, channel-last), from a 32 x 32 x M
latent to a 512 x 512 plane, for the shipped size and a few alternatives; checks first
that the NumPy forward matches torch.  Planning data for issue #21 (512 x 512 decode
<= 150 ms, entropy decoding included).

    PYTHONPATH=. .venv/bin/python research/conv_synthesis_numpy.py [CKPT]
    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. .venv/bin/python research/conv_synthesis_numpy.py

Measured 2026-12-04 on this 2-core AMD EPYC while shared with three other agents' jobs
(load average 3.5-5.7; the training run paused), NumPy's BLAS on one thread, best of 15,
CPU time (wall time is inflated by the contention):

    base (N=64, N1=32, M=96)   55-66 ms CPU  (best wall 81 ms)
    N=N1=64, M=96             100-104 ms CPU
    N=N1=48, M=96              66-71 ms CPU
    N=N1=32, M=64              31-32 ms CPU

With two BLAS threads the wall times under that load were worse than with one (OpenBLAS
threads waiting on busy cores), so no two-thread figure is recorded; an idle-machine
measurement is still to be made (expect about half the one-thread time).
"""

from __future__ import annotations

import sys
import time

import numpy as np
import torch

from mic.models.conv_synthesis import ConvSynthesis
from mic.train.conv_models import build_model, from_config


def timed(f, reps: int = 15) -> tuple[float, float, float]:  # noqa: ANN001
    """Best and median wall ms, and best CPU ms (all threads) of ``f()``."""
    f()
    ts, cs = [], []
    for _ in range(reps):
        t0, c0 = time.perf_counter(), time.process_time()
        f()
        ts.append(time.perf_counter() - t0)
        cs.append(time.process_time() - c0)
    return min(ts) * 1000, float(np.median(ts)) * 1000, min(cs) * 1000


def main() -> None:
    torch.manual_seed(0)
    if len(sys.argv) > 1:
        ck = torch.load(sys.argv[1], map_location="cpu", weights_only=False)
        nets = {"ckpt": from_config(ck["config"])}
        nets["ckpt"].load_state_dict(ck["model"])
    else:
        nets = {"base (N=64, N1=32, M=96)": build_model("vae"),
                "N=N1=64, M=96": build_model("vae", n1=64),
                "N=N1=48, M=96": build_model("vae", n=48, n1=48),
                "N=N1=32, M=64": build_model("vae", n=32, n1=32, m=64)}
    rng = np.random.default_rng(0)
    for name, net in nets.items():
        gs = ConvSynthesis(net.synthesis_tensors())
        y = (rng.standard_normal((net.m, 4, 5)) * 3).round().astype(np.float32)
        with torch.no_grad():
            ref = net.synthesis(torch.from_numpy(y)[None], torch.tensor([3]))[0, 0].numpy()
        got = gs(y, 3, clamp=False)
        err = float(np.abs(got - ref).max())
        assert err < 1e-4, err
        y = (rng.standard_normal((net.m, 32, 32)) * 3).round().astype(np.float32)
        mn, md, cpu = timed(lambda: gs(y, 3))  # noqa: B023
        print(f"{name}: NumPy g_s 32x32x{net.m} -> 512x512: best {mn:.0f} ms, median "
              f"{md:.0f} ms, CPU {cpu:.0f} ms (max |NumPy - torch| {err:.1e})", flush=True)


if __name__ == "__main__":
    main()
