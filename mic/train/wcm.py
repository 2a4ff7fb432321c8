"""The wavelet lossy models (training side, torch): learned transforms and entropy models.

One class, three entropy models (``kind``), sharing the transform:

* analysis: 5 levels of the CDF 9/7 lifting wavelet (exactly invertible), each subband
  scaled by its synthesis norm and by a learned per-quality gain (variable rate: one set
  of weights, ``n_qualities`` rate points);
* synthesis: inverse gains (with a learned per-band shrink), inverse wavelet, then a
  learned convolutional post-filter ``x + R(x, q)`` working in units of the quality's
  quantisation step (initialised to add nothing);
* entropy model of the rounded subbands ``q``: a Gaussian scale mixture (learned shape)
  per symbol whose log-scale comes from a small MLP (frozen as an integer network at
  export, :mod:`mic.models.intnet`) over integer context features:

  - ``factorized`` (wavelet-factorized): no features: a learned scale per quality, subband and pass;
  - ``scale`` (wavelet-hyperprior): hyperprior features only (``z = h_a(y)`` coded with a learned
    factorized prior; ``h_s(z)`` integer network);
  - ``meanscale`` (wavelet-context): hyperprior features, plus parent (next coarser level), sibling
    (earlier orientations of the level) and checkerboard-neighbour log-magnitudes, and
    a mean for the LL band predicted from its decoded neighbours.

Coding order per plane: LL anchors, LL non-anchors, then each level from coarse to fine,
orientations LH, HL, HH, each as anchors (``(i + j)`` even) then non-anchors.  Every
feature is an exact integer function of already decoded symbols (see
:mod:`mic.models.logmag`), so the codec (``mic.lossy``) recomputes them bit-exactly.

>>> import torch
>>> m = WaveletModel("meanscale", n_qualities=2, n=8, nh=4, hid=8, post_ch=4)
>>> out = m(torch.rand(2, 1, 128, 128), torch.tensor([0, 1]))
>>> out["x_hat"].shape, out["bits"].shape
(torch.Size([2, 1, 128, 128]), torch.Size([2]))
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..models.registry import kind_uses_context, kind_uses_hyper
from ..models.wavelet import ALPHA, BETA, DELTA, GAMMA, KAPPA, LEVELS, NBANDS, synthesis_norms
from .layers import FactorizedDensity, conv, deconv, logmag_torch, round_ste

KINDS = ("factorized", "scale", "meanscale")
N_CTX = 8  # P, PB, S1, S1B, S2, S2B, N4, NX
#: quality index -> lambda of ``lambda * 255^2 * MSE + bpp`` (x in [0, 1])
LAMBDAS: tuple[float, ...] = tuple(0.004 * 2.5 ** k for k in range(10))
SCALE_MIN = 0.11
LIK_MIN = 1e-9
ZGAIN_MIN, ZGAIN_MAX = 0.125, 8.0  # range of the hyper-latents' per-quality gain


# ----------------------------------------------------------------------------- wavelet
def _sl(s: torch.Tensor) -> torch.Tensor:
    return torch.cat([s[..., 1:], s[..., -1:]], -1)


def _sr(d: torch.Tensor) -> torch.Tensor:
    return torch.cat([d[..., :1], d[..., :-1]], -1)


def _fwd1(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    s, d = x[..., 0::2], x[..., 1::2]
    d = d + ALPHA * (s + _sl(s))
    s = s + BETA * (_sr(d) + d)
    d = d + GAMMA * (s + _sl(s))
    s = s + DELTA * (_sr(d) + d)
    return s / KAPPA, d * KAPPA


def _inv1(s: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    s = s * KAPPA
    d = d / KAPPA
    s = s - DELTA * (_sr(d) + d)
    d = d - GAMMA * (s + _sl(s))
    s = s - BETA * (_sr(d) + d)
    d = d - ALPHA * (s + _sl(s))
    return torch.stack([s, d], -1).flatten(-2)


def dwt(x: torch.Tensor, levels: int = LEVELS) -> tuple[torch.Tensor, list[list[torch.Tensor]]]:
    """Torch twin of :func:`mic.models.wavelet.dwt97` on (B, 1, H, W)."""
    t = lambda a: a.transpose(-1, -2)  # noqa: E731
    ll, out = x, []
    for _ in range(levels):
        lo, hi = _fwd1(ll)
        a, lh = _fwd1(t(lo))
        hl, hh = _fwd1(t(hi))
        ll = t(a)
        out.append([t(lh), t(hl), t(hh)])
    return ll, out


def idwt(ll: torch.Tensor, bands: list[list[torch.Tensor]]) -> torch.Tensor:
    t = lambda a: a.transpose(-1, -2)  # noqa: E731
    for lh, hl, hh in reversed(bands):
        lo = t(_inv1(t(ll), t(lh)))
        hi = t(_inv1(t(hl), t(hh)))
        ll = _inv1(lo, hi)
    return ll


_NLL, _NB = synthesis_norms(LEVELS)
#: synthesis norm per band index
BAND_NORMS = torch.tensor([_NLL] + [_NB[l][o] for l in range(LEVELS) for o in range(3)])


# ----------------------------------------------------------------------------- features
_NB4 = torch.tensor([[0., 1, 0], [1, 0, 1], [0, 1, 0]]).view(1, 1, 3, 3)
_BOX = torch.ones(1, 1, 3, 3)


def cb_mask(h: int, w: int, parity: int) -> torch.Tensor:
    i = torch.arange(h).view(-1, 1)
    j = torch.arange(w).view(1, -1)
    return ((i + j) % 2 == parity).view(1, 1, h, w)


def nb4_sum(v: torch.Tensor) -> torch.Tensor:
    """Sum of the 4 neighbours, reflected at the borders (a neighbour of a non-anchor is
    always an anchor)."""
    return F.conv2d(F.pad(v, (1, 1, 1, 1), mode="reflect"), _NB4.to(v))


def nb4(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(up, down, left, right) neighbours, reflected at the borders."""
    p = F.pad(v, (1, 1, 1, 1), mode="reflect")
    return p[..., :-2, 1:-1], p[..., 2:, 1:-1], p[..., 1:-1, :-2], p[..., 1:-1, 2:]


def nb4_max(v: torch.Tensor) -> torch.Tensor:
    u, d, lf, r = nb4(v)
    return torch.maximum(torch.maximum(u, d), torch.maximum(lf, r))


def ll_activity(ya: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Context of an LL non-anchor from its 4 decoded anchor neighbours: logmag of their
    range and of ``|up - down| + |left - right|``."""
    u, d, lf, r = nb4(ya)
    rng = torch.maximum(torch.maximum(u, d), torch.maximum(lf, r)) - \
        torch.minimum(torch.minimum(u, d), torch.minimum(lf, r))
    return logmag_torch(rng), logmag_torch((u - d).abs() + (lf - r).abs())


def box_sum(v: torch.Tensor) -> torch.Tensor:
    return F.conv2d(F.pad(v, (1, 1, 1, 1), mode="replicate"), _BOX.to(v))


def up2(v: torch.Tensor) -> torch.Tensor:
    return v.repeat_interleave(2, -2).repeat_interleave(2, -1)


def hyper_at(h16: torch.Tensor, level: int) -> torch.Tensor:
    """Hyper features (stride 16) at the resolution of wavelet level ``level`` (1-based;
    LL uses LEVELS): nearest upsampling, or taking every other sample at stride 32."""
    s = 4 - level
    if s > 0:
        return h16.repeat_interleave(1 << s, -2).repeat_interleave(1 << s, -1)
    if s == 0:
        return h16
    return h16[..., ::2, ::2]


# ----------------------------------------------------------------------------- model
class GSM(nn.Module):
    """Learned shape of the conditional: ``sum_k pi_k N(0, (s r_k)^2)`` discretised to
    unit bins (tables are built from the same formula at export)."""

    def __init__(self, k: int = 3) -> None:
        super().__init__()
        self.logit = nn.Parameter(torch.zeros(k))
        self.log_r = nn.Parameter(torch.linspace(-0.7, 0.9, k))

    def params(self) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.softmax(self.logit, 0), torch.exp(self.log_r)

    def likelihood(self, v: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        pi, r = self.params()
        av = v.abs().unsqueeze(-1)
        sr = (s.unsqueeze(-1) * r).clamp_min(1e-6) * math.sqrt(2)
        p = 0.5 * (torch.erfc((av - 0.5) / sr) - torch.erfc((av + 0.5) / sr))
        return (p * pi).sum(-1).clamp_min(LIK_MIN)


class PostFilter(nn.Module):
    """``x + R(x, q) / s_q``: three 3x3 convs on ``(x - 0.5) * s_q`` (s_q = the quality's
    mean gain, so R sees errors in quantisation steps), output scaled per quality
    (initialised to zero: the filter starts as the identity)."""

    def __init__(self, n_qualities: int, ch: int = 16) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, ch, 3)
        self.c2 = nn.Conv2d(ch, ch, 3)
        self.c3 = nn.Conv2d(ch, 1, 3)
        self.qbias = nn.Parameter(torch.zeros(n_qualities, ch))
        self.qout = nn.Parameter(torch.zeros(n_qualities))

    def forward(self, x: torch.Tensor, q: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        pad = lambda t: F.pad(t, (1, 1, 1, 1), mode="replicate")  # noqa: E731
        u = (x - 0.5) * s.view(-1, 1, 1, 1)
        h = F.relu(self.c1(pad(u)) + self.qbias[q].view(-1, self.qbias.shape[1], 1, 1))
        h = F.relu(self.c2(pad(h)))
        r = self.c3(pad(h)) * self.qout[q].view(-1, 1, 1, 1)
        return x + r / s.view(-1, 1, 1, 1)


class WaveletModel(nn.Module):
    """Transforms + entropy model of one lossy architecture (see module docstring)."""

    def __init__(self, kind: str = "meanscale", n_qualities: int = len(LAMBDAS), n: int = 32,
                 nh: int = 8, hid: int = 32, hid2: int = 16, n_scales: int = 96,
                 scale_max: float = 16384.0,
                 post_ch: int = 16, lambdas: list[float] | None = None) -> None:
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        self.kind, self.n_qualities, self.n, self.nh, self.hid = kind, n_qualities, n, nh, hid
        self.hid2 = hid2
        self.uses_hyper, self.uses_context = kind_uses_hyper(kind), kind_uses_context(kind)
        self.n_scales, self.scale_max, self.post_ch = n_scales, scale_max, post_ch
        lams = list(lambdas) if lambdas is not None else list(LAMBDAS[:n_qualities])
        if len(lams) != n_qualities:
            raise ValueError("one lambda per quality")
        self.lambdas = lams
        # gains at the high-rate optimum step of each lambda (MSE = step^2 / 12)
        lg = torch.tensor([0.5 * math.log(lam * 255.0 ** 2 * 2 * math.log(2) / 12) for lam in lams])
        self.log_gain = nn.Parameter(lg.view(-1, 1).repeat(1, NBANDS).clone())
        self.log_shrink = nn.Parameter(torch.zeros(n_qualities, NBANDS))
        self.gsm = GSM()
        if kind != "factorized":
            self.h_a = nn.Sequential(
                conv(3 * LEVELS + 1, 64, 3, 1), nn.LeakyReLU(0.1), conv(64, 64, 5, 2),
                nn.LeakyReLU(0.1), conv(64, n, 5, 2))
            self.z_density = FactorizedDensity(n)
            # per-quality step of the hyper-latents: z is rounded in units of 1/zgain, h_s
            # reads round(z * zgain) * K / 256 with K = round(256 / zgain) (exact integers)
            self.log_zgain = nn.Parameter(torch.zeros(n_qualities))
            # hyper-synthesis, frozen to integers at export; ReLU everywhere (features >= 0)
            self.h_s = nn.Sequential(
                deconv(n, 64, 5, 2), nn.ReLU(), deconv(64, 64, 5, 2), nn.ReLU(),
                conv(64, nh, 1, 1), nn.ReLU())
        nf = nh + N_CTX
        self.bias1 = nn.Parameter(torch.zeros(n_qualities, NBANDS, 2, hid))
        self.l1 = nn.Linear(nf, hid, bias=False)
        self.l2 = nn.Linear(hid, hid2)
        self.l3 = nn.Linear(hid2, 1)
        with torch.no_grad():  # start near log-scale 1 everywhere
            self.l3.bias.fill_(0.0)
            self.l3.weight.mul_(0.1)
        self.post = PostFilter(n_qualities, post_ch) if post_ch else None

    # -- bookkeeping ------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {"arch": "wavelet", "kind": self.kind, "n_qualities": self.n_qualities,
                "n": self.n, "nh": self.nh, "hid": self.hid, "hid2": self.hid2,
                "n_scales": self.n_scales,
                "scale_max": self.scale_max, "post_ch": self.post_ch,
                "lambdas": [float(v) for v in self.lambdas]}

    def step_scale(self, q: torch.Tensor) -> torch.Tensor:
        """Mean gain of each quality (the post-filter's unit)."""
        return torch.exp(self.log_gain[q].mean(-1)).detach()

    # -- entropy model pieces -----------------------------------------------------------
    def mlp(self, feats: torch.Tensor, q: torch.Tensor, band: int, anchor: bool) -> torch.Tensor:
        """feats (B, nf, h, w) float -> log-scale (B, 1, h, w)."""
        t = feats.permute(0, 2, 3, 1)
        b1 = self.bias1[q, band, 0 if anchor else 1].view(-1, 1, 1, self.hid)
        h = F.relu(self.l1(t) + b1)
        h = F.relu(self.l2(h))
        return self.l3(h).permute(0, 3, 1, 2)

    def hyper_input(self, ys: list[torch.Tensor]) -> torch.Tensor:
        """Encoder-side input of h_a: log-magnitudes of the scaled subbands at stride 16."""
        maps = []
        for i, y in enumerate(ys):
            lvl = LEVELS if i == 0 else (i - 1) // 3 + 1
            m = torch.log2(1 + y.abs())
            s = 4 - lvl
            maps.append(F.avg_pool2d(m, 1 << s) if s > 0 else (m if s == 0 else up2(m)))
        return torch.cat(maps, 1)

    def likelihood(self, v: torch.Tensor, log_s: torch.Tensor) -> torch.Tensor:
        s = torch.exp(log_s.clamp(math.log(SCALE_MIN), math.log(self.scale_max)))
        return self.gsm.likelihood(v, s)

    # -- forward ------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, q: torch.Tensor, noise: bool = True, rate: bool = True,
                post: bool = True) -> dict[str, torch.Tensor]:
        """x in [0, 1], (B, 1, H, W), sides multiples of 64; q (B,) quality indexes.
        Returns x_hat and bits per image (noise proxy for the rate when ``noise``).
        ``rate=False`` skips the entropy model (bits = 0; the reconstruction is the same,
        since every mean is an integer: ``round(y - mu) + mu = round(y)``);
        ``post=False`` skips the post-filter."""
        B = x.shape[0]
        gain = torch.exp(self.log_gain[q])  # (B, NBANDS)
        ll, bands = dwt(x - 0.5)
        norms = BAND_NORMS.to(x)
        ys = [ll * norms[0] * gain[:, 0].view(B, 1, 1, 1)]
        for lv in range(LEVELS):
            for o in range(3):
                b = 1 + 3 * lv + o
                ys.append(bands[lv][o] * norms[b] * gain[:, b].view(B, 1, 1, 1))
        bits = x.new_zeros(B)
        if not rate:
            return {"x_hat": self.synthesize([round_ste(y) for y in ys], q, post), "bits": bits}
        h16 = None
        if self.uses_hyper:
            zg = torch.exp(self.log_zgain[q].clamp(math.log(ZGAIN_MIN), math.log(ZGAIN_MAX)))
            z = self.h_a(self.hyper_input(ys)) * zg.view(B, 1, 1, 1)
            zt = z + torch.empty_like(z).uniform_(-0.5, 0.5) if noise else torch.round(z)
            bits = bits - torch.log2(self.z_density.likelihood(zt)).sum((1, 2, 3))
            k = 256.0 / zg
            k = k + (torch.round(k) - k).detach()  # the integer K of the codec, STE gradient
            h16 = self.h_s(round_ste(z) * (k / 256.0).view(B, 1, 1, 1))

        def feats(hf: torch.Tensor | None, like: torch.Tensor, ctx: list[torch.Tensor | None]) -> torch.Tensor:
            parts = [hf if hf is not None else like.new_zeros(B, self.nh, *like.shape[2:])]
            for c in ctx:
                parts.append(c / 16.0 if (c is not None and self.uses_context) else torch.zeros_like(like))
            return torch.cat(parts, 1)

        def code(v: torch.Tensor, log_s: torch.Tensor) -> torch.Tensor:
            vt = v + torch.empty_like(v).uniform_(-0.5, 0.5) if noise else torch.round(v)
            return -torch.log2(self.likelihood(vt, log_s)).sum((1, 2, 3))

        # LL: anchors around the plane mean, non-anchors around their neighbours' mean
        y = ys[0]
        h, w = y.shape[2:]
        a_m, n_m = cb_mask(h, w, 0).to(x.device), cb_mask(h, w, 1).to(x.device)
        hf = hyper_at(h16, LEVELS) if h16 is not None else None
        mean = torch.round(y.mean((2, 3), keepdim=True)).detach()
        ya = torch.where(a_m, round_ste(y - mean) + mean, torch.zeros_like(y))
        mu_n = torch.floor((nb4_sum(ya) + 2) / 4).detach()
        mu = torch.where(a_m, mean.expand_as(y), mu_n)
        ls_a = self.mlp(feats(hf, y, [None] * N_CTX), q, 0, True)
        ctx_n = [None] * 6 + (list(ll_activity(ya.detach())) if self.uses_context else [None, None])
        ls_n = self.mlp(feats(hf, y, ctx_n), q, 0, False)
        v = y - mu
        bits = bits + code(v, torch.where(a_m, ls_a, ls_n))
        hats = [round_ste(v) + mu]
        # detail bands, coarse to fine
        lm_prev: list[torch.Tensor] | None = None  # logmag of the coarser level's bands
        for lv in range(LEVELS - 1, -1, -1):
            hf = hyper_at(h16, lv + 1) if h16 is not None else None
            lm_here: list[torch.Tensor] = []
            for o in range(3):
                b = 1 + 3 * lv + o
                y = ys[b]
                h, w = y.shape[2:]
                a_m, n_m = cb_mask(h, w, 0).to(x.device), cb_mask(h, w, 1).to(x.device)
                if lm_prev is not None:
                    p = up2(lm_prev[o])
                    pb = up2(box_sum(lm_prev[o]))
                else:
                    p = pb = None
                s1 = lm_here[0] if o >= 1 else None
                s2 = lm_here[1] if o >= 2 else None
                ctx_a = [p, pb, s1, box_sum(s1) if s1 is not None else None,
                         s2, box_sum(s2) if s2 is not None else None, None, None]
                ls_a = self.mlp(feats(hf, y, ctx_a), q, b, True)
                yq = round_ste(y)
                lma = logmag_torch(yq) * a_m
                ctx_n = ctx_a[:6] + [nb4_sum(lma), nb4_max(lma)]
                ls_n = self.mlp(feats(hf, y, ctx_n), q, b, False)
                bits = bits + code(y, torch.where(a_m, ls_a, ls_n))
                hats.append(yq)
                lm_here.append(logmag_torch(yq))
            lm_prev = lm_here
        # hats are in coding order: LL, then levels coarse to fine; back to band order
        order = [0] + [1 + 3 * lv + o for lv in range(LEVELS - 1, -1, -1) for o in range(3)]
        by_band: list[torch.Tensor] = [None] * NBANDS  # type: ignore[list-item]
        for k, b in enumerate(order):
            by_band[b] = hats[k]
        return {"x_hat": self.synthesize(by_band, q, post), "bits": bits}

    def synthesize(self, yhat: list[torch.Tensor], q: torch.Tensor, post: bool = True) -> torch.Tensor:
        """Decoded subbands (band order, quantised units) -> image in [0, 1] units."""
        B = yhat[0].shape[0]
        norms = BAND_NORMS.to(yhat[0])
        inv = torch.exp(-self.log_gain[q] + self.log_shrink[q] * _shrink_mask(yhat[0]))
        sc = [yhat[b] * (inv[:, b] / norms[b]).view(B, 1, 1, 1) for b in range(NBANDS)]
        dense = [[sc[1 + 3 * lv + o] for o in range(3)] for lv in range(LEVELS)]
        x_hat = idwt(sc[0], dense) + 0.5
        if post and self.post is not None:
            x_hat = self.post(x_hat, q, self.step_scale(q))
        return x_hat


def _shrink_mask(x: torch.Tensor) -> torch.Tensor:
    """The LL band keeps its exact inverse gain (a shrink there would bias the mean)."""
    m = torch.ones(NBANDS, device=x.device)
    m[0] = 0
    return m


def rd_loss(x: torch.Tensor, out: dict[str, torch.Tensor], lmbda: torch.Tensor) -> dict[str, torch.Tensor]:
    """``lambda * 255^2 * MSE + bpp`` averaged over the batch."""
    npix = x.shape[2] * x.shape[3]
    mse = ((out["x_hat"] - x) ** 2).mean(dim=(1, 2, 3))
    bpp = out["bits"] / npix
    loss = (lmbda * 255.0 ** 2 * mse + bpp).mean()
    psnr = -10 * torch.log10(mse.detach().clamp_min(1e-12))
    return {"loss": loss, "mse": mse.mean(), "bpp": bpp.mean(), "psnr": psnr.mean()}
