"""Torch layers of the learned lossy models (our own; no compressai).

* :class:`GDN` — simplified generalized divisive normalisation (Johnston et al. 2019):
  ``y = x / (beta + gamma * |x|)`` (inverse: multiply), cheap and as good as the sqrt form.
* :class:`FactorizedDensity` — the learned non-parametric univariate density of Balle et
  al. 2018 (appendix 6.1), one per channel, used for hyper-latents ``z`` (and for ``y`` in
  the factorized-prior model).
* :func:`gaussian_likelihood` — probability mass of a unit bin under N(mu, sigma).

>>> import torch
>>> g = GDN(4)
>>> g(torch.ones(1, 4, 2, 2)).shape
torch.Size([1, 4, 2, 2])
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SCALE_MIN = 0.11  # lower bound of Gaussian scales (as in the literature)
LIKELIHOOD_MIN = 1e-9


def conv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.Conv2d:
    """'same' convolution, downsampling by ``stride``."""
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


def deconv(cin: int, cout: int, k: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    """Transposed convolution upsampling by ``stride`` (exact inverse shapes of :func:`conv`)."""
    return nn.ConvTranspose2d(cin, cout, k, stride=stride, padding=k // 2,
                              output_padding=stride - 1)


class GDN(nn.Module):
    """Simplified (inverse) GDN: ``x / (beta + gamma |x|)`` or ``x * (beta + gamma |x|)``."""

    def __init__(self, ch: int, inverse: bool = False) -> None:
        super().__init__()
        self.inverse = inverse
        self.beta_p = nn.Parameter(torch.ones(ch))
        self.gamma_p = nn.Parameter(0.1 * torch.eye(ch).view(ch, ch, 1, 1) + 0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta = self.beta_p.abs() + 1e-4
        gamma = self.gamma_p.abs()
        norm = F.conv2d(x.abs(), gamma, beta)
        return x * norm if self.inverse else x / norm


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


def dct_matrix(n: int) -> torch.Tensor:
    """Orthonormal 2-D DCT-II of n x n blocks as a (n*n, n*n) matrix: row = frequency
    (u*n + v), column = pixel (i*n + j) in ``pixel_unshuffle`` order."""
    k = torch.arange(n, dtype=torch.float64)
    c = torch.cos(math.pi * (2 * k[None, :] + 1) * k[:, None] / (2 * n)) * math.sqrt(2 / n)
    c[0] /= math.sqrt(2)
    return torch.kron(c, c).float()


class BlockAnalysis(nn.Module):
    """``y = nl(x) + L(unshuffle_b(x))``: a nonlinear analysis plus a learned linear block
    transform (1x1 conv over the b*b pixels of each block), initialised to the DCT with the
    nonlinear path's last layer at zero, so training starts from a complete transform."""

    def __init__(self, nl: nn.Sequential, block: int, m: int) -> None:
        super().__init__()
        self.block = block
        self.nl = nl
        self.lin = nn.Conv2d(block * block, m, 1, bias=False)
        d = dct_matrix(block)
        w = torch.zeros(m, block * block)
        w[:min(m, block * block)] = d[:m]
        with torch.no_grad():
            self.lin.weight.copy_(w.view(m, block * block, 1, 1))
            nl[-1].weight.zero_()
            nl[-1].bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nl(x) + self.lin(F.pixel_unshuffle(x, self.block))


class BlockSynthesis(nn.Module):
    """``x = nl(y) + shuffle_b(L'(y))``, the mirror of :class:`BlockAnalysis` (init: the
    inverse DCT, nonlinear path at zero)."""

    def __init__(self, nl: nn.Sequential, block: int, m: int) -> None:
        super().__init__()
        self.block = block
        self.nl = nl
        self.lin = nn.Conv2d(m, block * block, 1, bias=False)
        d = dct_matrix(block)
        w = torch.zeros(block * block, m)
        w[:, :min(m, block * block)] = d[:m].T
        with torch.no_grad():
            self.lin.weight.copy_(w.view(block * block, m, 1, 1))
            nl[-1].weight.zero_()
            nl[-1].bias.zero_()

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return self.nl(y) + F.pixel_shuffle(self.lin(y), self.block)


def gaussian_likelihood(v: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Mass of [v-1/2, v+1/2] under N(0, scale) (v = y - mu), clamped below."""
    s = scale.clamp_min(SCALE_MIN)
    av = v.abs()
    # upper-tail form keeps precision: P(|v|-.5 < X < |v|+.5) = Q(|v|-.5) - Q(|v|+.5)
    q_lo = 0.5 * torch.erfc((av - 0.5) / (s * math.sqrt(2)))
    q_hi = 0.5 * torch.erfc((av + 0.5) / (s * math.sqrt(2)))
    return (q_lo - q_hi).clamp_min(LIKELIHOOD_MIN)


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """Round with a straight-through gradient."""
    return x + (torch.round(x) - x).detach()
