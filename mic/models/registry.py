"""Permanent ids and honest names of the lossy models (no torch import here).

The ids are written into every lossy stream (header ``model_id`` and the model
segment, ``LMDS`` or ``LMDL``).  They are **permanent**: a model keeps its id forever, a
new model gets a new id, and ids are never derived from the order of a dict.  A name says
what the model is.  The three shipped models share one transform, JPEG 2000's fixed CDF
9/7 wavelet with learned band gains, and differ in their learned entropy model:

* ``wavelet-factorized`` (id 4): a factorized (per-band, context-free) entropy model;
* ``wavelet-hyperprior`` (id 5): a scale hyperprior (Balle et al. 2018);
* ``wavelet-context`` (id 6): a mean-scale hyperprior with a parallel context model
  (checkerboard anchors, parent and sibling bands) -- the default from effort 4;
* ``wavelet-context-fast`` (id 11): ``wavelet-context`` with its context MLP (32/16
  hidden units) distilled to 12/6, the rest of the model the same -- the default up to
  effort 3, for its decoding speed.

The names ``ae``, ``vae``, ``cnn`` and ``gan`` belong to the models with learned
convolutional analysis/synthesis transforms (issue #21), with the permanent ids 7, 8, 9
and 10 (:data:`CONV_MODEL_IDS`):

* ``vae`` (id 8, shipped): four 5x5 stride-2 convolutions with GDN (``g_a``) and their
  mirror with inverse GDN (``g_s``), with a scale hyperprior (Balle et al. 2018);
* ``ae`` (id 7, shipped): the same transforms with a factorized prior (one learned
  non-parametric density per quality and latent channel, Balle et al. 2017/2018; no side
  information);
* ``cnn`` (id 9, shipped): the same transforms with a mean-scale hyperprior and a
  parallel checkerboard context (He et al. 2021), its whole entropy path integer;
* ``gan`` (id 10, shipped): the ``cnn`` model's bitstream and encoder (the same ``g_a``,
  entropy path and tables) with a synthesis ``g_s`` fine-tuned against a patch
  discriminator (adversarial loss plus distortion).  It is **generative**
  (:data:`GENERATIVE_MODELS`): its decoder may synthesise texture that was not in the
  original, so its streams set header flag bit 1 (SPEC 3, 6.13) and are not for primary
  diagnosis.

>>> from mic.models.registry import MODEL_IDS, model_name
>>> MODEL_IDS["wavelet-context"], model_name(6), model_name(8)
(6, 'wavelet-context', 'vae')
"""

from __future__ import annotations

from ..errors import MicUnsupportedError

#: name -> permanent id of the model this build ships under that name.  Ids are never
#: renumbered or reused; a new architecture gets new ids and the old ones are retired.
MODEL_IDS: dict[str, int] = {
    "wavelet-factorized": 4,
    "wavelet-hyperprior": 5,
    "wavelet-context": 6,
    "ae": 7,
    "vae": 8,
    "cnn": 9,
    "gan": 10,
    "wavelet-context-fast": 11,
}

#: id -> entropy-model kind of that architecture (``conv-scale``: learned convolutional
#: transforms with a scale hyperprior, SPEC 6.10; ``conv-factorized``: the same transforms
#: with a factorized prior, SPEC 6.11; ``conv-meanscale``: with a mean-scale hyperprior
#: and a checkerboard context, SPEC 6.12).
MODEL_KINDS: dict[int, str] = {4: "factorized", 5: "scale", 6: "meanscale",
                               7: "conv-factorized", 8: "conv-scale", 9: "conv-meanscale",
                               10: "conv-meanscale", 11: "meanscale"}

#: name -> permanent id of every learned convolutional-transform model, shipped or not
#: (issue #21).  Written out once: these ids are never given to another model.
CONV_MODEL_IDS: dict[str, int] = {"ae": 7, "vae": 8, "cnn": 9, "gan": 10}

#: id -> one line saying what the model is (``mic info`` prints it).
MODEL_DESCRIPTIONS: dict[int, str] = {
    4: "CDF 9/7 wavelet with learned band gains; learned factorized entropy model",
    5: "CDF 9/7 wavelet with learned band gains; learned scale hyperprior (Balle 2018)",
    6: "CDF 9/7 wavelet with learned band gains; learned mean-scale hyperprior with a "
       "parallel checkerboard/parent context model",
    7: "learned convolutional analysis/synthesis (4x 5x5 stride-2 conv, GDN) with a "
       "factorized prior (Balle 2017; no side information)",
    8: "learned convolutional analysis/synthesis (4x 5x5 stride-2 conv, GDN) with a scale "
       "hyperprior (Balle 2018)",
    9: "learned convolutional analysis/synthesis (4x 5x5 stride-2 conv, GDN) with a "
       "mean-scale hyperprior and a parallel checkerboard context (He 2021)",
    10: "learned convolutional analysis/synthesis: the cnn model's bitstream (id 9) with "
        "a synthesis fine-tuned adversarially (patch discriminator + distortion); "
        "generative: the decoder may synthesise texture that was not in the original",
    11: "wavelet-context (id 6) with its context MLP distilled to 12/6 hidden units: "
        "the same transform, hyper-latents and tables, 4.5x fewer multiply-adds per "
        "coefficient to choose a table (faster decoding, about 0.2 % more bits)",
}

#: ids of the **generative** models: their decoder may synthesise texture that was not in
#: the original (not for primary diagnosis).  Their streams, and only theirs, set header
#: ``flags`` bit 1 (:data:`FLAG_GENERATIVE`, SPEC 3); a decoder refuses a stream whose bit
#: disagrees with the model it names.
GENERATIVE_MODELS: frozenset[int] = frozenset({10})

#: header ``flags`` bit 1: "generative decoder: decoded images may contain synthesised
#: texture" (SPEC 3)
FLAG_GENERATIVE = 2

#: names (and, in :data:`CONV_MODEL_IDS`, ids) reserved for the learned
#: convolutional-transform models this build does not ship.
RESERVED_NAMES: dict[str, str] = {}

#: ids of earlier architectures, no longer decodable by this build (the decoder names them).
RETIRED_MODELS: dict[int, str] = {
    1: "ae with the 16x16 block transform of mic 0.1 (2026-11)",
    2: "vae with the 16x16 block transform of mic 0.1 (2026-11)",
    3: "cnn with the 16x16 block transform of mic 0.1 (2026-11)",
}

#: the name :class:`mic.MicInfo` gives the lossless mode's model
LOSSLESS_NAME = "lossless-predictive"
LOSSLESS_DESCRIPTION = "predictive lossless coder with frozen context tables (SPEC 5)"
#: ... and the fast lossless coder's (model id 3, ``effort`` 1-2)
LOSSLESS_FAST_NAME = "lossless-fast"
LOSSLESS_FAST_DESCRIPTION = ("fast lossless coder: median-edge prediction with context bias "
                             "correction, static rANS tables per plane (SPEC 5.6)")
#: ... and the NLMS lossless coder's (model id 13, ``fast_nlms=False``)
LOSSLESS_LMS_NAME = "lossless-nlms"
LOSSLESS_LMS_DESCRIPTION = ("predictive lossless coder with its prediction corrected by two "
                            "integer NLMS filters, frozen context tables (SPEC 5.7)")
#: ... and the fast NLMS lossless coder's (model id 14, the default from effort 3)
LOSSLESS_FAST_LMS_NAME = "lossless-fast-nlms"
LOSSLESS_FAST_LMS_DESCRIPTION = ("fast lossless coder with its median-edge prediction corrected "
                                 "by two integer NLMS filters, static rANS tables per plane "
                                 "(SPEC 5.8)")
#: ... and model id 15's: model 14 with xform 5 (the encoder writes it where an RGB tile keeps it)
LOSSLESS_FAST_LMS_CDIFF_NAME = "lossless-fast-nlms-colour-diff"
LOSSLESS_FAST_LMS_CDIFF_DESCRIPTION = ("the fast NLMS lossless coder (model id 14) with RGB tiles "
                                       "coded as one channel and the others less a channel "
                                       "(SPEC 5.9)")
#: ... and model id 16's: model 15 with fixed priors in kinds 5 and 6 (the default from effort 3)
LOSSLESS_FAST_LMS_PRIOR_NAME = "lossless-fast-nlms-priors"
LOSSLESS_FAST_LMS_PRIOR_DESCRIPTION = ("the fast NLMS lossless coder (model ids 14 and 15) with "
                                       "filters starting from fixed weights and built-in token "
                                       "tables a class may use (SPEC 5.10)")
LOSSLESS_FAST_LMS_BANDS_NAME = "lossless-fast-nlms-bands"
LOSSLESS_FAST_LMS_BANDS_DESCRIPTION = ("model id 16's lossless coder whose token tables are "
                                       "split into bands of the coded sample above (SPEC 5.11)")
LOSSLESS_FAST_LMS_LOW_NAME = "lossless-fast-nlms-low"
LOSSLESS_FAST_LMS_LOW_DESCRIPTION = ("model id 18's lossless coder whose samples next to the "
                                     "plane's minimum may be coded as values under tables of "
                                     "their own (SPEC 5.12)")
LOSSLESS_FAST_LMS_COMPACT_NAME = "lossless-fast-nlms-compact"
LOSSLESS_FAST_LMS_COMPACT_DESCRIPTION = ("model id 20's lossless coder whose table sections are "
                                         "bit-packed: class maps as runs, frequencies as bit "
                                         "lengths at a precision per table (SPEC 5.13)")
LOSSLESS_FAST_LMS_WRAP_NAME = "lossless-fast-nlms-wrap"
LOSSLESS_FAST_LMS_WRAP_DESCRIPTION = ("model id 22's lossless coder whose RGB tiles may code a "
                                      "channel difference wrapped modulo 2^bits about a base "
                                      "(xform 6, SPEC 5.14)")
LOSSLESS_FAST_LMS_INTER_NAME = "lossless-fast-nlms-inter"
LOSSLESS_FAST_LMS_INTER_DESCRIPTION = ("model id 22's lossless coder whose volume tiles may "
                                       "give the previous frame's prediction to the NLMS filters "
                                       "(xform 7, SPEC 5.15)")
#: the name and description :class:`mic.MicInfo` gives the near-lossless mode's model (mode 2)
NEAR_LOSSLESS_NAME = "near-lossless-predictive"
NEAR_LOSSLESS_DESCRIPTION = ("the lossless predictive coder with residuals quantised to step "
                             "2k+1, predicting from the reconstruction (JPEG-LS NEAR; SPEC 7)")
#: ... and of its second model (model id 12), what the encoder wrote until 2026-12-06
NEAR_LOSSLESS_LMS_NAME = NEAR_LOSSLESS_NAME
NEAR_LOSSLESS_LMS_DESCRIPTION = ("the near-lossless predictive coder (model id 2) with its "
                                 "prediction corrected by two integer NLMS filters (SPEC 7.6)")

#: ... and of its third (model id 17), what the encoder writes since 2026-12-07
NEAR_LOSSLESS_FAST_NAME = "near-lossless-fast"
NEAR_LOSSLESS_FAST_DESCRIPTION = ("near-lossless with the fast lossless coder's planes (model id "
                                  "16's median-edge prediction, NLMS filters with their priors, "
                                  "static rANS tables per plane) quantising residuals to step "
                                  "2k+1 (SPEC 7.7)")
NEAR_LOSSLESS_FAST_BANDS_NAME = "near-lossless-fast-bands"
NEAR_LOSSLESS_FAST_BANDS_DESCRIPTION = ("model id 17's near-lossless coder whose token tables are "
                                        "split into bands of the reconstruction above (SPEC 7.8)")
NEAR_LOSSLESS_FAST_LOW_NAME = "near-lossless-fast-low"
NEAR_LOSSLESS_FAST_LOW_DESCRIPTION = ("model id 19's near-lossless coder whose samples next to "
                                      "the plane's minimum may be coded as grid indices of their "
                                      "values under tables of their own (SPEC 7.9)")
NEAR_LOSSLESS_FAST_COMPACT_NAME = "near-lossless-fast-compact"
NEAR_LOSSLESS_FAST_COMPACT_DESCRIPTION = ("model id 21's near-lossless coder whose table sections "
                                          "are bit-packed as model id 22's (SPEC 7.10, 5.13)")


def is_conv(mid: int) -> bool:
    """Whether model id ``mid`` is one of the learned convolutional-transform models (ids
    7-10, SPEC 6.10), whose tiles have their own syntax.

    >>> is_conv(8), is_conv(6)
    (True, False)
    """
    return mid in CONV_MODEL_IDS.values()


def is_generative(mode_lossy: bool, mid: int) -> bool:
    """Whether a stream of this mode (lossy or not) and model id must set header flag bit 1
    (:data:`FLAG_GENERATIVE`): a lossy stream of a generative model (``gan``, id 10).

    >>> is_generative(True, 10), is_generative(True, 9), is_generative(False, 10)
    (True, False, False)
    """
    return bool(mode_lossy) and mid in GENERATIVE_MODELS


def kind_uses_hyper(kind: str) -> bool:
    """Whether models of this entropy-model kind send hyper-latents (the hyperprior kinds)."""
    return kind != "factorized"


def kind_uses_context(kind: str) -> bool:
    """Whether models of this kind use the parallel context features and LL means."""
    return kind == "meanscale"


def model_id(name: str) -> int:
    """The permanent id of model ``name``; :class:`MicUnsupportedError` if unknown or reserved.

    >>> model_id("wavelet-hyperprior")
    5
    >>> model_id("gan")
    10
    >>> model_id("jpeg")
    Traceback (most recent call last):
    ...
    mic.errors.MicUnsupportedError: unknown lossy model 'jpeg'; known models: ['ae', 'cnn', 'gan', 'vae', 'wavelet-context', 'wavelet-context-fast', 'wavelet-factorized', 'wavelet-hyperprior']
    """
    try:
        return MODEL_IDS[name]
    except KeyError:
        pass
    known = sorted(MODEL_IDS)
    if name in RESERVED_NAMES:
        raise MicUnsupportedError(
            f"model name {name!r} (id {CONV_MODEL_IDS[name]}) is reserved for "
            f"{RESERVED_NAMES[name]}, which this build "
            f"does not ship yet; the lossy models of this build are {known} "
            "(default wavelet-context)")
    raise MicUnsupportedError(f"unknown lossy model {name!r}; known models: {known}")


def model_name(mid: int) -> str:
    """The name of permanent model id ``mid``; :class:`MicUnsupportedError` if unknown.

    >>> model_name(4)
    'wavelet-factorized'
    """
    for k, v in MODEL_IDS.items():
        if v == mid:
            return k
    if mid in RETIRED_MODELS:
        raise MicUnsupportedError(
            f"lossy model id {mid} is retired ({RETIRED_MODELS[mid]}); this build decodes "
            f"{MODEL_IDS}")
    for k, v in CONV_MODEL_IDS.items():
        if v == mid and k in RESERVED_NAMES:
            raise MicUnsupportedError(
                f"lossy model id {mid} is reserved for {k} ({RESERVED_NAMES[k]}), which this "
                f"build does not ship; this build decodes {MODEL_IDS}")
    raise MicUnsupportedError(f"unknown lossy model id {mid}; this build knows {MODEL_IDS}")


def describe(mid: int) -> tuple[str, str]:
    """``(name, one-line description)`` of lossy model id ``mid``, for reports; never raises.

    >>> describe(5)[0], describe(2)[0], describe(10)[0], describe(99)[0]
    ('wavelet-hyperprior', 'retired(2)', 'gan', 'unknown(99)')
    """
    for k, v in MODEL_IDS.items():
        if v == mid:
            return k, MODEL_DESCRIPTIONS[mid]
    if mid in RETIRED_MODELS:
        return f"retired({mid})", RETIRED_MODELS[mid]
    for k, v in CONV_MODEL_IDS.items():
        if v == mid and k in RESERVED_NAMES:
            return f"reserved({mid})", f"{k}: {RESERVED_NAMES[k]} (not shipped by this build)"
    return f"unknown({mid})", "not a model of this build"
