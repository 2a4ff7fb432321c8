"""Torch layers of the learned lossy models (our own; no compressai).

* :class:`FactorizedDensity` — the learned non-parametric univariate density of Balle et
  al. 2018 (appendix 6.1), one per channel, used for the hyper-latents ``z``;
* :func:`conv`, :func:`deconv` — 'same' (transposed) convolutions; :func:`round_ste`;
* :func:`logmag_torch` — the torch twin of :func:`mic.models.logmag.logmag`.

The wavelet models themselves are in :mod:`mic.train.wcm`.

>>> import torch
>>> d = FactorizedDensity(4)
>>> d.likelihood(torch.zeros(1, 4, 2, 2)).shape
torch.Size([1, 4, 2, 2])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..models.logmag import MAX_ABS, THRESHOLDS

LIKELIHOOD_MIN = 1e-9


def conv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.Conv2d:
    """'same' convolution, downsampling by ``stride``."""
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


def deconv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    """Transposed convolution upsampling by ``stride`` (exact inverse shapes of :func:`conv`)."""
    return nn.ConvTranspose2d(cin, cout, k, stride=stride, padding=k // 2,
                              output_padding=stride - 1)


class FactorizedDensity(nn.Module):
    """Per-channel learned CDF c(x) (Balle et al. 2018), filters (3, 3, 3).

    ``likelihood(v)`` is the mass of [v - 1/2, v + 1/2] for each element of
    ``v`` shaped (B, C, H, W).
    """

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3),
                 init_scale: float = 10.0) -> None:
        super().__init__()
        self.channels = channels
        dims = (1, *filters, 1)
        scale = init_scale ** (1 / (len(filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(filters) + 1):
            init = math.log(math.expm1(1 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(filters):
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))

    def logits_cdf(self, x: torch.Tensor) -> torch.Tensor:
        """x: (C, 1, n) -> logits of the CDF, (C, 1, n)."""
        for i, m in enumerate(self.matrices):
            x = torch.matmul(F.softplus(m), x) + self.biases[i]
            if i < len(self.factors):
                x = x + torch.tanh(self.factors[i]) * torch.tanh(x)
        return x

    def likelihood(self, v: torch.Tensor) -> torch.Tensor:
        b, c, h, w = v.shape
        x = v.permute(1, 0, 2, 3).reshape(c, 1, -1)
        lo = self.logits_cdf(x - 0.5)
        hi = self.logits_cdf(x + 0.5)
        sign = -torch.sign(lo + hi).detach()
        p = (torch.sigmoid(sign * hi) - torch.sigmoid(sign * lo)).abs()
        return p.reshape(c, b, h, w).permute(1, 0, 2, 3).clamp_min(LIKELIHOOD_MIN)

    @torch.no_grad()
    def cdf_grid(self, lo: int, hi: int) -> torch.Tensor:
        """Probability masses of the integers lo..hi per channel (C, hi-lo+1), plus tails
        folded into the end bins."""
        x = torch.arange(lo, hi + 1, dtype=torch.float32).view(1, 1, -1).expand(self.channels, 1, -1)
        edges = torch.cat([x - 0.5, x[..., -1:] + 0.5], dim=-1)
        cdf = torch.sigmoid(self.logits_cdf(edges.contiguous())).squeeze(1)  # (C, n+1)
        pmf = cdf[:, 1:] - cdf[:, :-1]
        pmf[:, 0] += cdf[:, 0]
        pmf[:, -1] += 1 - cdf[:, -1]
        return pmf.clamp_min(0)


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round with a straight-through gradient."""
    return x + (torch.round(x) - x).detach()


def logmag_torch(v: torch.Tensor) -> torch.Tensor:
    """Torch twin of :func:`mic.models.logmag.logmag` on integer-valued float tensors
    (no gradient): it searches the same integer thresholds."""
    a = (v.detach().abs().clamp(max=MAX_ABS) + 1).to(torch.int64)
    th = torch.from_numpy(THRESHOLDS)
    return torch.searchsorted(th, a, right=True).to(v.dtype)
