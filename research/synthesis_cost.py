"""What a learned synthesis transform would cost the decoder on this CPU: time of a
Ballé-style synthesis (four 5 x 5 transposed convolutions, stride 2, N channels, ReLU in
place of IGDN, which adds about a 1 x 1 convolution per layer) from a 32 x 32 latent to a
512 x 512 plane, in PyTorch on the CPU (oneDNN: a lower bound for a NumPy port), with 1
and 2 threads.  Planning data for a learned transform under the decode target (512 x 512
CT <= 150 ms, entropy decoding included).

    .venv/bin/python research/synthesis_cost.py

Measured 2026-12-03 (this 2-core AMD EPYC, idle): N = 32: 58 / 25 ms (1 / 2 threads),
N = 64: 147 / 68 ms, N = 128 (192 latent channels): 494 / 265 ms.  So N = 32-64 would fit
beside the entropy decoding with two threads; N = 128, the usual size, would not.
"""

from __future__ import annotations

import time

import torch


def synthesis(n: int, latent: int) -> torch.nn.Module:
    layers: list[torch.nn.Module] = []
    for i in range(4):
        layers.append(torch.nn.ConvTranspose2d(latent if i == 0 else n, n if i < 3 else 1,
                                               5, stride=2, padding=2, output_padding=1))
        if i < 3:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers).eval()


def main() -> None:
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for n, latent in ((32, 32), (64, 64), (128, 192)):
            net, y = synthesis(n, latent), torch.randn(1, latent, 32, 32)
            with torch.no_grad():
                net(y)
                t0 = time.perf_counter()
                for _ in range(5):
                    out = net(y)
            ms = (time.perf_counter() - t0) / 5 * 1000
            print(f"threads {threads}  N={n:3d}  {tuple(y.shape[1:])} -> "
                  f"{tuple(out.shape[-2:])}: {ms:.0f} ms", flush=True)


if __name__ == "__main__":
    main()
