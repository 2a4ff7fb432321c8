"""The three lossy architectures, one variable-rate class.

``LossyModel(kind=...)`` with ``kind``:

* ``"factorized"`` — ``ae``: y coded with a learned per-channel factorized prior.
* ``"scale"``      — ``vae``: scale hyperprior, y ~ N(0, sigma(z)).
* ``"meanscale"``  — ``cnn``: mean-scale hyperprior, y ~ N(mu(z), sigma(z)).

Variable rate: each quality ``q`` owns a gain vector (Cui et al. 2021) multiplying
the latents before quantization and an inverse gain applied before synthesis, so one
set of weights serves every quality.

>>> import torch
>>> m = LossyModel("meanscale", n=16, m=16, n_qualities=2, enc_ch=(8, 8, 8))
>>> out = m(torch.rand(2, 1, 64, 64), torch.tensor([0, 1]))
>>> out["x_hat"].shape, out["bits"].shape
(torch.Size([2, 1, 64, 64]), torch.Size([2]))
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from .layers import (
    GDN, BlockAnalysis, BlockSynthesis, FactorizedDensity, conv, deconv, gaussian_likelihood,
    round_ste,
)

KINDS = ("factorized", "scale", "meanscale")
#: every spatial side of the input must be a multiple of this (4 stride-2 + 2 stride-2)
ALIGN = 64


class LossyModel(nn.Module):
    """Analysis/synthesis transforms + entropy model of one lossy architecture."""

    def __init__(self, kind: str = "meanscale", n: int = 64, m: int = 96, n_qualities: int = 8,
                 enc_ch: tuple[int, int, int] = (48, 64, 64),
                 hs_ch: tuple[int, int] | None = None, hs_k: int = 3, block: int = 0,
                 scale_max: float | None = None, n_scales: int | None = None) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.kind, self.n, self.m, self.n_qualities = kind, n, m, n_qualities
        self.enc_ch = tuple(enc_ch)
        self.hs_ch = tuple(hs_ch) if hs_ch is not None else None
        self.hs_k = hs_k
        self.block, self.scale_max, self.n_scales = block, scale_max, n_scales
        c1, c2, c3 = self.enc_ch
        g_a = nn.Sequential(
            conv(1, c1), GDN(c1), conv(c1, c2), GDN(c2), conv(c2, c3), GDN(c3), conv(c3, m))
        g_s = nn.Sequential(
            deconv(m, c3), GDN(c3, True), deconv(c3, c2), GDN(c2, True), deconv(c2, c1),
            GDN(c1, True), deconv(c1, 1))
        if block:
            if block != 16:
                raise ValueError("the linear block path needs block=16 (the latents' stride)")
            # a learned linear block transform beside the nonlinear one (initialised to the
            # orthonormal 16x16 DCT, nonlinear paths initialised to add nothing)
            self.g_a: nn.Module = BlockAnalysis(g_a, block, m)
            self.g_s: nn.Module = BlockSynthesis(g_s, block, m)
        else:
            self.g_a, self.g_s = g_a, g_s
        # Gains: quality 0 coarsest. Initialised log-spaced so qualities differ from step 0;
        # with the DCT path, at the high-rate optimum step of each lambda (D = 1/(2 ln2 K)).
        if block and n_qualities == len(LAMBDAS):
            lg = [0.5 * math.log(lam * 255.0 ** 2 * 2 * math.log(2) / 12) for lam in LAMBDAS]
            init = torch.tensor(lg).view(-1, 1).repeat(1, m)
        else:
            init = torch.linspace(-1.5, 2.0, n_qualities).view(-1, 1).repeat(1, m)
        self.log_gain = nn.Parameter(init.clone())
        self.log_inv_gain = nn.Parameter(-init.clone())
        if kind == "factorized":
            self.y_density = FactorizedDensity(m)
        else:
            self.h_a = nn.Sequential(
                conv(m, n, 3, 1), nn.LeakyReLU(0.1), conv(n, n), nn.LeakyReLU(0.1), conv(n, n))
            self.z_density = FactorizedDensity(n)
            out = 2 * m if kind == "meanscale" else m
            if hs_ch is None:  # the published widths
                hs_ch = (m, 3 * m // 2) if kind == "meanscale" else (n, n)
            first, mid = hs_ch
            # Hyper-synthesis: exported as an integer network (mic.models.intnet); ReLU only.
            self.h_s = nn.Sequential(
                deconv(n, first), nn.ReLU(), deconv(first, mid), nn.ReLU(), conv(mid, out, hs_k, 1))

    def config(self) -> dict[str, Any]:
        """Constructor arguments (stored with exported weights; defaults of the later
        options are left out, so older configs stay as they were)."""
        cfg: dict[str, Any] = {
            "kind": self.kind, "n": self.n, "m": self.m, "n_qualities": self.n_qualities,
            "enc_ch": list(self.enc_ch),
            "hs_ch": list(self.hs_ch) if self.hs_ch is not None else None, "hs_k": self.hs_k}
        for key in ("block", "scale_max", "n_scales"):
            if getattr(self, key):
                cfg[key] = getattr(self, key)
        return cfg

    def scale_table_args(self) -> dict[str, Any]:
        """Keyword arguments of :func:`mic.entropy.scale_table` for this model's tables."""
        return {k: v for k, v in (("scale_max", self.scale_max), ("n", self.n_scales)) if v}

    def hyper_params(self, z_hat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mu, log_scale) of y from hyper-latents (float path, training)."""
        h = self.h_s(z_hat)
        if self.kind == "meanscale":
            mu, log_s = h.chunk(2, dim=1)
        else:
            mu, log_s = torch.zeros_like(h), h
        return mu, log_s

    def forward(self, x: torch.Tensor, q: torch.Tensor) -> dict[str, torch.Tensor]:
        """x in [0, 1], (B, 1, H, W) with H, W multiples of 64; q: (B,) quality indexes.

        Returns x_hat and bits (per image, differentiable; noise proxy for rate).
        """
        gain = torch.exp(self.log_gain[q]).view(-1, self.m, 1, 1)
        inv = torch.exp(self.log_inv_gain[q]).view(-1, self.m, 1, 1)
        y = self.g_a(x - 0.5) * gain
        noise = lambda t: t + torch.empty_like(t).uniform_(-0.5, 0.5)  # noqa: E731
        if self.kind == "factorized":
            lik_y = self.y_density.likelihood(noise(y))
            y_hat = round_ste(y)
            bits = -torch.log2(lik_y).sum(dim=(1, 2, 3))
        else:
            z = self.h_a(y)
            lik_z = self.z_density.likelihood(noise(z))
            z_hat = round_ste(z)
            mu, log_s = self.hyper_params(z_hat)
            v = y - mu
            # the tables end at scale_max (the codec saturates the index): clamp the same way,
            # which also keeps exp() and its gradient finite
            hi = math.log(self.scale_max or 256.0)
            lik_y = gaussian_likelihood(noise(v), torch.exp(log_s.clamp(-4.0, hi)))
            y_hat = round_ste(v) + mu
            bits = -(torch.log2(lik_y).sum(dim=(1, 2, 3)) + torch.log2(lik_z).sum(dim=(1, 2, 3)))
        x_hat = self.g_s(y_hat * inv) + 0.5
        return {"x_hat": x_hat, "bits": bits}


def rate_distortion_loss(x: torch.Tensor, out: dict[str, torch.Tensor],
                         lmbda: torch.Tensor) -> dict[str, torch.Tensor]:
    """``lambda * 255^2 * MSE + bpp`` per image, averaged (the usual convention)."""
    npix = x.shape[2] * x.shape[3]
    mse = ((out["x_hat"] - x) ** 2).mean(dim=(1, 2, 3))
    bpp = out["bits"] / npix
    loss = (lmbda * 255.0 ** 2 * mse + bpp).mean()
    psnr = -10 * torch.log10(mse.detach().clamp_min(1e-12))
    return {"loss": loss, "mse": mse.mean(), "bpp": bpp.mean(), "psnr": psnr.mean()}


#: quality index -> lambda of the rate-distortion loss (x normalised to [0, 1]).  Chosen for
#: 8-16 bit medical images: from ~0.05 bpp / ~33 dB to ~2 bpp / ~55 dB on 12-bit CT.
LAMBDAS: tuple[float, ...] = tuple(0.03 * (2.68 ** k) for k in range(8))
#: the first runs' lambdas (too low for medical images: a ~36 dB ceiling on 12-bit CT)
LAMBDAS_V0: tuple[float, ...] = tuple(0.0016 * (2.15 ** k) for k in range(8))


def lambda_for(q: torch.Tensor) -> torch.Tensor:
    return torch.tensor(LAMBDAS, dtype=torch.float32)[q]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = ["LossyModel", "rate_distortion_loss", "LAMBDAS", "LAMBDAS_V0", "lambda_for", "ALIGN", "KINDS",
           "n_params", "math"]
