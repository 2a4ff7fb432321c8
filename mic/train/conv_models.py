"""Learned convolutional transform models (issue #21), training side (torch).

Four models share one pair of transforms and one variable-rate scheme:

* ``ae``  — :class:`FactorizedPrior`: ``g_a`` (four 5x5 convs, stride 2, GDN) to ``M``
  latent channels at stride 16, ``g_s`` mirrored (four 5x5 transposed convs, IGDN); a
  learned factorized density per (quality, channel) for the rounded latents (Balle et
  al. 2017).
* ``vae`` — :class:`ScaleHyperprior`: the same transforms plus a scale hyperprior
  ``z = h_a(|y|)``, ``log s = h_s(z)`` (Balle et al. 2018).
* ``cnn`` — :class:`CheckerboardHyperprior`: mean-scale hyperprior with a parallel
  checkerboard context (He et al. 2021): anchors (``(i + j)`` even) are coded from the
  hyperprior alone, non-anchors from the hyperprior and a 5x5 convolution ``ctx`` over
  the decoded anchors; ``ep`` (1x1 convs) maps (hyper features, context) to (mean,
  log-scale).
* ``gan`` — ``cnn``'s transforms and bitstream; only ``g_s`` is fine-tuned, against a
  :class:`PatchDiscriminator` (non-saturating adversarial loss) plus the distortion loss.

**Variable rate**: one set of weights, ``len(lambdas)`` qualities.  Quality ``q`` scales
the latents by a learned per-channel gain before rounding (``y_s = y * exp(log_gain[q])``)
and by a learned inverse gain after (``y_hat * exp(log_igain[q])``, Cui et al. 2021); the
hyper-latents by a scalar ``zgain[q]``.  Training draws a quality per crop and minimises
``lambda_q * 255^2 * MSE + bpp`` (inputs in [0, 1], from the native bit depth).

**Deterministic entropy path** (designed for :mod:`mic.models.intnet`): everything the
decoder needs to pick a latent's table is a chain of ``Conv2d`` / ``ConvTranspose2d`` /
``ReLU`` (``nn.Sequential``), so :func:`mic.train.export.freeze_hyper_synthesis` turns
it into exact integer arithmetic:

* ``h_s`` reads ``round(z * zgain_q) * K_q / 2**ZK_FRAC`` with the integer
  ``K_q = round(2**ZK_FRAC / zgain_q)`` (freeze with ``in_frac=ZK_FRAC``, call with
  ``scale=K_q``), as the wavelet models do;
* vae: the last layer of ``h_s`` is linear; its accumulator is the log-scale, compared
  with :func:`mic.entropy.tables.log_scale_thresholds` to give the scale index;
* cnn: ``h_s`` ends in a ReLU (hyper features, ``ACT_FRAC`` fixed point); ``ctx`` (5x5
  conv + ReLU) reads the decoded anchors ``y_hat * 2**MEAN_FRAC`` (integers: means are
  on a ``2**-MEAN_FRAC`` grid; freeze with ``in_frac=MEAN_FRAC``), clamped to
  ``+-2**15``; ``ep`` (1x1 convs) reads the concatenated features (``in_frac=ACT_FRAC``;
  inputs up to ``2**ACT_BITS``, so its runtime must not apply ``Z_CLAMP``); its first
  ``M`` outputs are the means, rounded to ``2**-MEAN_FRAC``, the next ``M`` the
  log-scales.  Anchors see a zero context.

Scales live on the Gaussian scale table of :mod:`mic.entropy.tables` (``SCALE_MIN`` to
``SCALE_MAX``); symbols are ``round(y_s - mean)`` under zero-mean discretised Gaussians.

>>> import torch
>>> m = build_model("cnn", size="tiny")
>>> out = m(torch.rand(2, 1, 64, 64), torch.tensor([0, 5]))
>>> out["x_hat"].shape, out["bits"].shape
(torch.Size([2, 1, 64, 64]), torch.Size([2]))
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..entropy.tables import SCALE_MAX, SCALE_MIN
from .layers import FactorizedDensity, conv, deconv, round_ste

#: quality index -> lambda of ``lambda * 255^2 * MSE + bpp`` (x in [0, 1]); log-spaced,
#: about 0.1 to 1.5 bpp on 8-bit-range images
LAMBDAS: tuple[float, ...] = tuple(0.002 * 2.0 ** k for k in range(8))
LIK_MIN = 1e-9
#: fractional bits of the means (cnn): decoded anchors * 2**MEAN_FRAC are integers
MEAN_FRAC = 3
#: fractional bits of h_s's input round(z * zgain) * K (same rule as the wavelet models)
ZK_FRAC = 8
ZGAIN_MIN, ZGAIN_MAX = 0.125, 8.0
#: the context conv's input (decoded anchors * 2**MEAN_FRAC) is clamped to +-CTX_CLAMP
CTX_CLAMP = 1 << 15
STRIDE = 16  # latents
HYPER_STRIDE = 64  # hyper-latents: inputs must be multiples of this (the codec pads)

#: model sizes: N (transform channels at strides 4 to 16), N1 (at stride 2: g_a's first
#: and g_s's third layer output; the widest maps, so they set most of the decode time),
#: M (latents), nh (hyper width), nz (hyper-latents), ne (entropy-parameter width, cnn).
#: base: NumPy g_s of a 512 x 512 plane ~55 ms of CPU (one BLAS thread), against ~100 ms
#: with N1 = 64 (research/conv_synthesis_numpy.py)
SIZES: dict[str, dict[str, int]] = {
    "base": {"n": 64, "n1": 32, "m": 96, "nh": 64, "nz": 64, "ne": 128},
    # base with twice the latent channels (0.75 values a pixel): mic.train.conv_widen
    "wide": {"n": 64, "n1": 32, "m": 192, "nh": 64, "nz": 64, "ne": 128},
    "tiny": {"n": 8, "n1": 6, "m": 12, "nh": 8, "nz": 4, "ne": 8},
    "tiny-wide": {"n": 8, "n1": 6, "m": 24, "nh": 8, "nz": 4, "ne": 8},  # tests of widening
}


# ----------------------------------------------------------------------------- layers
class GDN(nn.Module):
    """Generalised divisive normalisation (Balle et al. 2016), or its inverse:
    ``y_c = x_c / sqrt(beta_c + sum_j gamma_cj x_j^2)`` (inverse: ``*`` instead of ``/``).
    ``beta = beta_p^2 + BETA_MIN`` and ``gamma = gamma_p^2`` keep both non-negative; the
    off-diagonal ``gamma_p`` start at 0.01 so that they receive gradients."""

    BETA_MIN = 1e-6

    def __init__(self, ch: int, inverse: bool = False) -> None:
        super().__init__()
        self.inverse = inverse
        self.beta_p = nn.Parameter(torch.ones(ch))
        g = torch.full((ch, ch), 0.01)
        g.fill_diagonal_(math.sqrt(0.1))
        self.gamma_p = nn.Parameter(g)

    def effective(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(beta (C,), gamma (C, C)) as the runtime applies them."""
        return self.beta_p ** 2 + self.BETA_MIN, self.gamma_p ** 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        beta, gamma = self.effective()
        norm = torch.sqrt(F.conv2d(x * x, gamma[:, :, None, None], beta))
        return x * norm if self.inverse else x / norm


class _Bound(torch.autograd.Function):
    """Clamp whose gradient still flows where it would move the value back into range."""

    @staticmethod
    def forward(ctx, x, lo, hi):  # noqa: ANN001, ANN205
        ctx.save_for_backward(x)
        ctx.lo, ctx.hi = lo, hi
        return x.clamp(lo, hi)

    @staticmethod
    def backward(ctx, g):  # noqa: ANN001, ANN205
        (x,) = ctx.saved_tensors
        ok = ((x >= ctx.lo) | (g < 0)) & ((x <= ctx.hi) | (g > 0))
        return g * ok, None, None


def bound(x: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
    return _Bound.apply(x, lo, hi)


LOG_SCALE_MIN, LOG_SCALE_MAX = math.log(SCALE_MIN), math.log(SCALE_MAX)


def gaussian_likelihood(v: torch.Tensor, log_s: torch.Tensor) -> torch.Tensor:
    """Mass of [v - 1/2, v + 1/2] under N(0, s^2), s = exp(log_s) on the scale table's
    range (the same formula :func:`mic.entropy.tables.mixture_tables` discretises)."""
    s = torch.exp(bound(log_s, LOG_SCALE_MIN, LOG_SCALE_MAX)) * math.sqrt(2)
    av = v.abs()
    p = 0.5 * (torch.erfc((av - 0.5) / s) - torch.erfc((av + 0.5) / s))
    return p.clamp_min(LIK_MIN)


def noisy(v: torch.Tensor, noise: bool) -> torch.Tensor:
    """Additive uniform noise (training proxy of rounding) or rounding."""
    return v + torch.empty_like(v).uniform_(-0.5, 0.5) if noise else torch.round(v)


def checkerboard(h: int, w: int, device: torch.device | None = None) -> torch.Tensor:
    """(1, 1, h, w) float mask of the anchors, ``(i + j)`` even."""
    i = torch.arange(h, device=device).view(-1, 1)
    j = torch.arange(w, device=device).view(1, -1)
    return ((i + j) % 2 == 0).float().view(1, 1, h, w)


class QualityDensity(FactorizedDensity):
    """A :class:`FactorizedDensity` per (quality, channel): ``Q * C`` densities; sample
    ``b`` of a batch uses the ``C`` densities of its quality ``q[b]``."""

    def __init__(self, n_qualities: int, channels: int) -> None:
        super().__init__(n_qualities * channels)
        self.n_qualities, self.per_q = n_qualities, channels

    def likelihood_q(self, v: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        b, c, h, w = v.shape
        idx = (q.view(-1, 1) * c + torch.arange(c, device=v.device).view(1, -1)).reshape(-1)

        def logits(x: torch.Tensor) -> torch.Tensor:  # x (B*C, 1, n)
            for i, m in enumerate(self.matrices):
                x = torch.matmul(F.softplus(m[idx]), x) + self.biases[i][idx]
                if i < len(self.factors):
                    x = x + torch.tanh(self.factors[i][idx]) * torch.tanh(x)
            return x

        x = v.reshape(b * c, 1, h * w)
        lo, hi = logits(x - 0.5), logits(x + 0.5)
        sign = -torch.sign(lo + hi).detach()
        p = (torch.sigmoid(sign * hi) - torch.sigmoid(sign * lo)).abs()
        return p.reshape(b, c, h, w).clamp_min(LIK_MIN)


# ----------------------------------------------------------------------------- models
class ConvCodecModel(nn.Module):
    """Shared part: transforms, per-quality gains, bookkeeping.  Subclasses implement
    :meth:`code_latents` (rate of the latents and their dequantised values)."""

    name = "?"
    #: training only: per-channel weights (M,) of the latents' rate in the loss
    #: (``loss_bits``), e.g. channels a widening added brought in gradually; None: all 1
    rate_weight: torch.Tensor | None = None

    def __init__(self, n: int = 64, m: int = 96, nh: int = 64, nz: int = 64, ne: int = 128,
                 n1: int | None = None, lambdas: list[float] | None = None) -> None:
        super().__init__()
        n1 = n if n1 is None else n1
        self.n, self.n1, self.m, self.nh, self.nz, self.ne = n, n1, m, nh, nz, ne
        self.lambdas = [float(v) for v in (lambdas if lambdas is not None else LAMBDAS)]
        self.n_qualities = len(self.lambdas)
        self.g_a = nn.Sequential(
            conv(1, n1), GDN(n1), conv(n1, n), GDN(n), conv(n, n), GDN(n), conv(n, m))
        self.g_s = nn.Sequential(
            deconv(m, n), GDN(n, inverse=True), deconv(n, n), GDN(n, inverse=True),
            deconv(n, n1), GDN(n1, inverse=True), deconv(n1, 1))
        # high-rate rule: the step scales as lambda^-1/2; the top quality starts at gain 1
        top = max(self.lambdas)
        lg = torch.tensor([0.5 * math.log(lam / top) for lam in self.lambdas])
        self.log_gain = nn.Parameter(lg.view(-1, 1).repeat(1, m).clone())
        self.log_igain = nn.Parameter(-lg.view(-1, 1).repeat(1, m).clone())

    def config(self) -> dict[str, Any]:
        return {"arch": "conv", "model": self.name, "n": self.n, "n1": self.n1, "m": self.m,
                "nh": self.nh,
                "nz": self.nz, "ne": self.ne, "lambdas": list(self.lambdas)}

    def analysis(self, x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """x in [0, 1] (B, 1, H, W) -> gained latents y_s (B, M, H/16, W/16)."""
        return self.g_a(x - 0.5) * torch.exp(self.log_gain[q])[:, :, None, None]

    def synthesis(self, y_hat: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """Dequantised gained latents -> image in [0, 1] units (not clamped)."""
        return self.g_s(y_hat * torch.exp(self.log_igain[q])[:, :, None, None]) + 0.5

    def code_latents(self, y: torch.Tensor, q: torch.Tensor, noise: bool
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """-> (y_hat, bits of y per image and channel (B, M), bits of z per image)."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor, q: torch.Tensor, noise: bool = True,
                synthesize: bool = True) -> dict[str, torch.Tensor]:
        """x in [0, 1] (B, 1, H, W), sides multiples of 64; q (B,) quality indexes.
        Rates use additive noise when ``noise`` (training), rounding otherwise; the
        reconstruction always uses rounded latents (straight-through gradients)."""
        y = self.analysis(x, q)
        y_hat, ych, zbits = self.code_latents(y, q, noise)
        ybits = ych.sum(1)
        out = {"y_hat": y_hat, "y_bits": ybits, "z_bits": zbits, "bits": ybits + zbits}
        if self.rate_weight is not None:  # training: some channels' rate counted in part
            out["loss_bits"] = (ych * self.rate_weight).sum(1) + zbits
        if synthesize:
            out["x_hat"] = self.synthesis(y_hat, q)
        return out

    def synthesis_tensors(self) -> dict[str, Any]:
        """The float32 arrays a NumPy ``g_s`` needs (``g_s.{i}.weight``/``bias`` of the
        transposed convs, ``g_s.{i}.beta``/``gamma`` of the IGDNs) and the inverse gains."""
        t: dict[str, Any] = {"log_igain": self.log_igain.detach().float().numpy().copy()}
        for i, mod in enumerate(self.g_s):
            if isinstance(mod, GDN):
                beta, gamma = mod.effective()
                t[f"g_s.{i}.beta"] = beta.detach().float().numpy().copy()
                t[f"g_s.{i}.gamma"] = gamma.detach().float().numpy().copy()
            else:
                t[f"g_s.{i}.weight"] = mod.weight.detach().float().numpy().copy()
                t[f"g_s.{i}.bias"] = mod.bias.detach().float().numpy().copy()
        return t


class FactorizedPrior(ConvCodecModel):
    """``ae``: symbols ``round(y_s)`` under a learned density per (quality, channel)."""

    name = "ae"

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.y_density = QualityDensity(self.n_qualities, self.m)

    def code_latents(self, y, q, noise):  # noqa: ANN001, ANN201
        bits = -torch.log2(self.y_density.likelihood_q(noisy(y, noise), q)).sum((2, 3))
        return round_ste(y), bits, torch.zeros_like(bits[:, 0])


class _Hyperprior(ConvCodecModel):
    """Hyper-latents ``z = h_a(.) * zgain_q`` with a factorized density; ``h_s`` reads
    ``round(z) * K_q / 2**ZK_FRAC`` (see the module docstring)."""

    def __init__(self, hyper_relu: bool, **kw: Any) -> None:
        super().__init__(**kw)
        m, nh, nz = self.m, self.nh, self.nz
        self.h_a = nn.Sequential(
            conv(m, nh, 3, 1), nn.LeakyReLU(0.1), conv(nh, nh), nn.LeakyReLU(0.1), conv(nh, nz))
        hs: list[nn.Module] = [deconv(nz, nh), nn.ReLU(), deconv(nh, nh), nn.ReLU(),
                               conv(nh, m, 3, 1)]
        if hyper_relu:
            hs.append(nn.ReLU())
        self.h_s = nn.Sequential(*hs)
        self.z_density = FactorizedDensity(nz)
        self.log_zgain = nn.Parameter(torch.zeros(self.n_qualities))

    def hyper_input(self, y: torch.Tensor) -> torch.Tensor:
        return y

    def zgain(self, q: torch.Tensor) -> torch.Tensor:
        return torch.exp(self.log_zgain[q].clamp(math.log(ZGAIN_MIN), math.log(ZGAIN_MAX)))

    def hyper(self, y: torch.Tensor, q: torch.Tensor, noise: bool
              ) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (h_s output at stride 16, bits of z per image)."""
        zg = self.zgain(q)[:, None, None, None]
        z = self.h_a(self.hyper_input(y)) * zg
        zbits = -torch.log2(self.z_density.likelihood(noisy(z, noise))).sum((1, 2, 3))
        k = 2.0 ** ZK_FRAC / zg
        k = k + (torch.round(k) - k).detach()  # the codec's integer K_q, STE gradient
        return self.h_s(round_ste(z) * k / 2.0 ** ZK_FRAC), zbits


class ScaleHyperprior(_Hyperprior):
    """``vae``: zero-mean Gaussians, log-scale = ``h_s(z)`` (linear last layer)."""

    name = "vae"

    def __init__(self, **kw: Any) -> None:
        super().__init__(hyper_relu=False, **kw)

    def hyper_input(self, y: torch.Tensor) -> torch.Tensor:
        return y.abs()

    def code_latents(self, y, q, noise):  # noqa: ANN001, ANN201
        log_s, zbits = self.hyper(y, q, noise)
        ybits = -torch.log2(gaussian_likelihood(noisy(y, noise), log_s)).sum((2, 3))
        return round_ste(y), ybits, zbits


class CheckerboardHyperprior(_Hyperprior):
    """``cnn`` (and ``gan``): mean-scale hyperprior with a parallel checkerboard context."""

    name = "cnn"

    def __init__(self, **kw: Any) -> None:
        super().__init__(hyper_relu=True, **kw)  # M hyper features (ACT_FRAC at runtime)
        m, ne = self.m, self.ne
        self.ctx = nn.Sequential(conv(m, m, 5, 1), nn.ReLU())
        self.ep = nn.Sequential(conv(2 * m, ne, 1, 1), nn.ReLU(), conv(ne, ne, 1, 1), nn.ReLU(),
                                conv(ne, 2 * m, 1, 1))

    def params(self, hf: torch.Tensor, ctx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean on the 2**-MEAN_FRAC grid, log-scale) from hyper and context features."""
        p = self.ep(torch.cat([hf, ctx], 1))
        mu = round_ste(p[:, :self.m] * 2.0 ** MEAN_FRAC) / 2.0 ** MEAN_FRAC
        return mu, p[:, self.m:]

    def context(self, y_hat_anchors: torch.Tensor) -> torch.Tensor:
        lim = CTX_CLAMP / 2.0 ** MEAN_FRAC
        return self.ctx(y_hat_anchors.clamp(-lim, lim))

    def code_latents(self, y, q, noise):  # noqa: ANN001, ANN201
        hf, zbits = self.hyper(y, q, noise)
        anchor = checkerboard(y.shape[2], y.shape[3], y.device)
        mu_a, ls_a = self.params(hf, torch.zeros_like(hf))
        ya_hat = (round_ste(y - mu_a) + mu_a) * anchor
        mu_n, ls_n = self.params(hf, self.context(ya_hat) * (1 - anchor))
        mu = torch.lerp(mu_n, mu_a, anchor)
        ls = torch.lerp(ls_n, ls_a, anchor)
        ybits = -torch.log2(gaussian_likelihood(noisy(y - mu, noise), ls)).sum((2, 3))
        return round_ste(y - mu) + mu, ybits, zbits


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator (Isola et al. 2017) on one-channel images in [0, 1]: three
    4x4 stride-2 convs (spectral norm, LeakyReLU 0.2) and a 3x3 conv to one logit per
    patch (receptive field 46 pixels)."""

    def __init__(self, ch: int = 32) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        self.net = nn.Sequential(
            sn(nn.Conv2d(1, ch, 4, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(ch, 2 * ch, 4, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(2 * ch, 4 * ch, 4, 2, 1)), nn.LeakyReLU(0.2),
            sn(nn.Conv2d(4 * ch, 1, 3, 1, 1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x - 0.5)


def discriminator_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating GAN loss of the discriminator (real -> 1, fake -> 0)."""
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def generator_adv_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Non-saturating adversarial loss of the generator (g_s)."""
    return F.softplus(-d_fake).mean()


# ----------------------------------------------------------------------------- helpers
MODELS: dict[str, type[ConvCodecModel]] = {
    "ae": FactorizedPrior, "vae": ScaleHyperprior, "cnn": CheckerboardHyperprior,
    "gan": CheckerboardHyperprior,
}


def build_model(name: str, size: str = "base", lambdas: list[float] | None = None,
                **over: int) -> ConvCodecModel:
    """A fresh model ``name`` (ae, vae, cnn, gan) of size ``size`` (see :data:`SIZES`),
    marked as trained as ``name`` (:func:`trained_as`)."""
    if name not in MODELS:
        raise ValueError(f"model must be one of {sorted(MODELS)}, got {name!r}")
    kw = dict(SIZES[size], **over)
    return mark_trained_as(MODELS[name](lambdas=lambdas, **kw), name)


def mark_trained_as(net: ConvCodecModel, name: str) -> ConvCodecModel:
    """Record that ``net`` is trained as model ``name`` (one of :data:`MODELS` whose class
    ``net`` is): a ``gan`` is a :class:`CheckerboardHyperprior`, whose :meth:`config`
    says ``"model": "cnn"`` (its architecture; unchanged so that gan checkpoints resume),
    but it is exported as ``gan`` (:mod:`mic.train.conv_export`).  Returns ``net``."""
    if type(net) is not MODELS.get(name):
        raise ValueError(f"a {type(net).__name__} cannot be trained as {name!r}")
    net.trained_as = name
    return net


def trained_as(net: ConvCodecModel) -> str:
    """The model ``net`` is trained (and exported) as: :func:`mark_trained_as`'s name, else
    its architecture's name (:attr:`ConvCodecModel.name`)."""
    return str(getattr(net, "trained_as", net.name))


def from_config(cfg: dict[str, Any]) -> ConvCodecModel:
    """Rebuild a model from :meth:`ConvCodecModel.config`."""
    if cfg.get("arch") != "conv":
        raise ValueError(f"not a conv model config: {cfg}")
    kw = {k: int(cfg[k]) for k in ("n", "n1", "m", "nh", "nz", "ne")}
    return MODELS[cfg["model"]](lambdas=cfg["lambdas"], **kw)


def rd_loss(x: torch.Tensor, out: dict[str, torch.Tensor], lam: torch.Tensor
            ) -> dict[str, torch.Tensor]:
    """``mean(lambda_q * 255^2 * MSE + bpp)`` and the batch means of bpp and PSNR
    (PSNR of the reconstruction clamped to [0, 1], as the decoder clamps it)."""
    npix = x.shape[2] * x.shape[3]
    mse = (out["x_hat"] - x).pow(2).mean((1, 2, 3))
    bpp = out["bits"] / npix
    with torch.no_grad():
        mse_c = (out["x_hat"].clamp(0, 1) - x).pow(2).mean((1, 2, 3)).clamp_min(1e-10)
        psnr = (-10 * torch.log10(mse_c)).mean()
    rate = out.get("loss_bits", out["bits"]) / npix  # the rate the loss counts
    return {"loss": (lam * 255.0 ** 2 * mse + rate).mean(), "bpp": bpp.mean(),
            "mse": mse.mean(), "psnr": psnr}


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
