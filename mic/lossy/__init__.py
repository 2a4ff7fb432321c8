"""The learned lossy mode (mode 1): tile encoder/decoder used by :mod:`mic.codec`.

No torch at coding time: the transforms are NumPy/Numba, the entropy parameters integer
networks.  Each tile is coded independently; per tile:

1. normalise: ``x = (v - lo) / (2**b - 1)`` with ``lo`` the tile's minimum and ``b`` the
   bit length of the image's largest span (the same for every tile, so one quality is one
   quantiser step; any bit depth, signed data included).  RGB tiles share one
   normalisation and go through an orthonormal colour transform (Y, C1, C2), so each
   component is coded as a grayscale plane and squared errors add up as in RGB;
2. pad to a multiple of 64 (edge replication); 5-level CDF 9/7 wavelet; each subband
   times its synthesis norm and the quality's learned gain;
3. (hyperprior models) hyper-latents ``z = h_a(...)`` rounded and coded with frozen factorized
   tables; the integer hyper-synthesis gives hyper features;
4. subbands coded in passes (LL, then coarse to fine, anchors then non-anchors of a
   checkerboard); each symbol's scale index comes from the integer context MLP over
   exact integer features of what is already decoded (:mod:`mic.train.wcm`); values
   ``round(y - mu)`` coded with frozen Gaussian-scale-mixture tables, escapes after
   each pass;
5. decoder: the same passes, then inverse gains, inverse wavelet, the learned
   post-filter, de-normalise, round and clip.

Six encoder tools the stream records per tile (the decoder only obeys): a **constant
region** (:mod:`mic.lossy.enc_region`: an exact-valued area such as CT padding, sent as a
shape, :mod:`mic.entropy.shape`, filled smoothly before step 2 and written back after
step 5; SPEC 6.6), **table biases** (one per band, or per pass: a band's anchors and
non-anchors apart, added to the MLP's scale indexes in step 4, chosen from a first
coding pass; SPEC 6.4), **predicted means** of the detail non-anchors (two weights per
band on the sums of their left + right and upper + lower decoded anchors, fitted by
least squares and sent where they save bits; SPEC 6.4), a **restoration filter**
(:mod:`mic.lossy.restore`: integer diamond filters with activity classes run over the
decoded samples after step 5, fitted to the original by least squares; SPEC 6.7), and
**dependent quantisation** of the detail bands (two interleaved quantisers switched by a
4-state machine on the parity of each symbol, the symbols chosen by a Viterbi search of
rate + lambda * distortion over each pass; SPEC 6.8), and a **hyper-latent record**
(per channel an offset and one of the latents' tables instead of the learned prior, where
an image's hyper-latents sit far from it; SPEC 6.9).  The encoder keeps each only where
it lowers rate + lambda * distortion (regions, filter) or the size (biases, means);
dependent quantisation is on unless ``dq=False``, the hyper-latent record unless
``zadapt=False``.  Not a stream tool but an encoder choice: ``zopt`` sends as 0 the
hyper-latent channels that cost more bits than they save (``zopt=False``: as analysed).

A CRC-32 of all decoded symbols is stored per plane: a desync raises
:class:`~mic.MicChecksumError` instead of returning garbage.  The byte layout is in
SPEC.md section 6.

The package is split by side, as libjxl is (an ``enc_`` module may import the shared and
the decoder's modules, never the reverse):

* shared: :mod:`~mic.lossy.syntax` (the stream's fields, flags and records),
  :mod:`~mic.lossy.model` (loading the models, their cache), :mod:`~mic.lossy.passes`
  (the pass schedule, context features, reconstruction);
* decoder: :mod:`~mic.lossy.dec_tile` (:class:`LossyTileDecoder`),
  :mod:`~mic.lossy.restore` (the restoration record and filter);
* encoder: :mod:`~mic.lossy.enc_options` (:class:`EncoderOptions`, every encoder
  choice), :mod:`~mic.lossy.enc_tile` (:class:`LossyTileEncoder`),
  :mod:`~mic.lossy.enc_tilings` (the tilings), :mod:`~mic.lossy.enc_rdo` (bit estimates
  and searches), :mod:`~mic.lossy.enc_region`,
  :mod:`~mic.lossy.enc_restore`.

The learned convolutional-transform models (``vae``, model id 8, SPEC 6.10) have their
own tiles, in the same rooms: :mod:`~mic.lossy.conv_syntax` and
:mod:`~mic.lossy.conv_model` (shared), :mod:`~mic.lossy.dec_conv` (decoder) with
:mod:`~mic.lossy.upsample` (its half-resolution tiles' upsampling),
:mod:`~mic.lossy.enc_conv` (encoder; its constant regions reuse
:mod:`~mic.lossy.enc_region`, its half planes :mod:`~mic.lossy.enc_downsample`);
:mod:`mic.codec` and :mod:`mic.encoder` pick them by the model id.

This module only names them: each is imported on first use, so decoding (or
``import mic``) never imports an encoder module, and decoding a wavelet stream never
imports a conv module.

>>> from mic.lossy import available_models, qualities
>>> all(isinstance(q, int) for m in available_models() for q in qualities(m))
True
"""


from __future__ import annotations

import importlib
from typing import Any

#: the module of each name this package offers (imported on first use); any other name
#: is looked up in :mod:`mic.lossy.syntax` (the stream's constants, e.g. ``XFORM_DQ``)
_HOMES = {
    "LossyTileDecoder": "dec_tile",
    "DEFAULT_MODEL": "model", "LoadedModel": "model", "available_models": "model",
    "clear_cache": "model", "load_model": "model", "qualities": "model",
    "EncoderOptions": "enc_options",
    "LossyTileEncoder": "enc_tile", "tilings": "enc_tilings", "even_tiles": "enc_tilings",
    "DEFAULT_TILE": "enc_tilings", "LARGE_TILE": "enc_tilings",
}


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    module = importlib.import_module(f".{_HOMES.get(name, 'syntax')}", __name__)
    try:
        value = getattr(module, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    from . import syntax

    return sorted(set(globals()) | set(_HOMES) | set(syntax.__all__))


__all__ = ["LossyTileEncoder", "LossyTileDecoder", "EncoderOptions", "available_models",
           "qualities", "load_model", "clear_cache", "DEFAULT_MODEL", "tilings", "even_tiles"]
