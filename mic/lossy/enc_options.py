"""Every choice of the lossy encoder as one value: :class:`EncoderOptions`.

The decoder never needs any of them (the stream says what it must do), so they are the
encoder's alone; ``mic.encode(..., options=EncoderOptions(...))`` passes them down to
the tile encoder and every helper that reads one.  They are values, not module state:
encodes with different options may run side by side in threads.

Every tool switch left at ``None`` follows the **effort** (1 fastest .. 7 smallest,
default :data:`DEFAULT_EFFORT`; :data:`EFFORT_TOOLS` says which tools each level turns on);
a switch given explicitly wins over the effort.

>>> o = EncoderOptions(dq=False)
>>> o.dq, o.model, o.effort, o.with_choices(regions=False).regions
(False, 'wavelet-context-fast', 3, False)
>>> EncoderOptions(effort=4).model, EncoderOptions(effort=4, model="wavelet-context-fast").model
('wavelet-context', 'wavelet-context-fast')
>>> o.with_choices(dq=True)
Traceback (most recent call last):
...
mic.errors.MicInputError: dq=True contradicts the options' dq=False
>>> e1, e7 = EncoderOptions(effort=1), EncoderOptions(effort=7)
>>> e1.rdo, e7.zopt, EncoderOptions().with_choices(effort=7) == e7
(False, True, True)
>>> EncoderOptions(effort=0)
Traceback (most recent call last):
...
mic.errors.MicInputError: effort must be an int in 1..7 (1 fastest, 7 smallest; default 3), got 0
"""

from __future__ import annotations

import dataclasses
import operator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import MicInputError
from .model import default_model

#: the lossy tools' switches: None (their default) follows the effort
TOOLS = ("rdo", "regions", "adapt", "restore", "means", "dq", "zadapt", "zopt", "tilings",
         "region_search", "inline_biases", "restore_search", "bias_rdo", "half_res",
         "half_search", "exact_samples")
#: the tools of the conv models alone (a wavelet model given one is a MicInputError)
CONV_TOOLS = ("half_res", "half_search", "exact_samples")
#: the per-call choices ``mic.encode`` accepts as keywords (the lossy tools' switches)
CHOICES = ("model", "effort") + TOOLS
#: the effort levels, fastest first
EFFORTS = range(1, 8)
DEFAULT_EFFORT = 3
#: the tools each effort turns on (each level adds to the one below).  Chosen from each
#: tool's measured BD-rate gain and encode-time cost (README, "Effort levels"): the cheap
#: tools first, the searches last.  Effort 7 is every tool, the encoder of stream 2.0.
EFFORT_TOOLS: dict[int, frozenset[str]] = {}
_ADDED = {1: (), 2: ("rdo", "means", "zadapt", "inline_biases", "bias_rdo"),
          3: ("dq", "regions", "restore", "tilings", "half_res", "exact_samples"),
          4: ("region_search", "half_search"),
          5: ("restore_search",), 6: ("zopt",), 7: ("adapt",)}
for _e in EFFORTS:
    EFFORT_TOOLS[_e] = EFFORT_TOOLS.get(_e - 1, frozenset()) | frozenset(_ADDED[_e])
#: the constant-region candidates (opening radii) each effort codes beside the plain coding
#: when ``regions`` is on: the smoothest alone (one extra coding) below effort 5; all three
#: from 5 (up to three extra codings).  On the train sample the smoothest alone gains
#: nearly all of the search (an ultrasound: -6.6 % against -6.6 %, at half the time).
EFFORT_REGION_RADII: dict[int, tuple[int, ...]] = {
    e: ((6,) if e < 5 else (1, 3, 6)) for e in EFFORTS}
#: the encoder's tuned settings: once the module globals of ``mic.lossy`` (upper case, as
#: formats/lossy/vectors.json still names them in ``encoder_constants``)
SETTINGS = ("long_model_segment", "colour_transform", "restore_directions", "pass_biases",
            "bias_min_gain_bits",
            "rdo_lambda_scale", "region_stop", "region_radii", "region_lambda_scale",
            "region_rule_fraction", "region_rule_pixels", "region_rule_exact_ratio",
            "region_rule_contrast", "zrec_min_gain_bits",
            "inline_min_pixels")


@dataclass(frozen=True)
class EncoderOptions:
    """The lossy encoder's choices; the defaults are ``mic.encode``'s.

    Per call (also ``mic.encode`` keywords):

    * ``model``: ``None`` (default: ``"wavelet-context-fast"`` up to effort 3,
      ``"wavelet-context"`` from effort 4, :func:`mic.lossy.model.default_model`),
      ``"wavelet-context"``, ``"wavelet-context-fast"``, ``"wavelet-hyperprior"``,
      ``"wavelet-factorized"``, ``"vae"``, ``"ae"`` or ``"cnn"`` (learned convolutional
      transforms, SPEC 6.10-6.13: of these options only those of
      :data:`mic.lossy.enc_conv.CONV_FIELDS` apply to them, and giving another explicitly
      is a :class:`MicInputError`, as is giving a wavelet model a tool of
      :data:`CONV_TOOLS`);
    * ``effort``: 1 (fastest) .. 7 (smallest), default 3: which tools a switch left at
      ``None`` turns on (:data:`EFFORT_TOOLS`); every effort decodes with the same decoder
      (the conv models' tools: ``regions``, ``half_res``, ``exact_samples`` from 3,
      ``region_search``, ``half_search`` from 4);
    * ``tile``: an int or (rows, cols): fixed tiles (of both modes; the only choice of the
      lossless coder); None: the encoder's choice (lossless:
      whole frames; lossy: 512 x 512 tiles, and for a frame larger than that also the
      fewest even tiles of at most 2048 a side, keeping the stream of lower rate +
      lambda * distortion, :func:`mic.lossy.tilings`);
    * ``rdo``: rate-distortion optimised rounding of the subbands;
    * ``regions``: exact-constant regions sent as a shape and a value (SPEC 6.6; for the
      conv models SPEC 6.10's xform flag 16, by :func:`mic.lossy.enc_conv.conv_region`'s
      rule);
    * ``adapt``: per-tile table biases (SPEC 6.4; a second coding pass) in the tiles that
      carry no inline biases (since 2026-12-06: in the others inline biases with
      ``bias_rdo`` do as well for less time);
    * ``inline_biases`` (stream version 2): each pass's own table bias, chosen after the
      pass is quantised and sent before its symbols (SPEC 6.4, tile flag 512; no second
      coding pass), in tiles of at least ``inline_min_pixels``;
    * ``bias_rdo`` (with ``inline_biases`` and ``rdo``): where a pass's own table bias is
      not 0, quantise the pass again with its tables so biased (the RD rounding then knows
      what the symbols will cost) and send that pass with its best bias; one more rounding
      of the pass, no second coding;
    * ``restore``: the restoration filter (SPEC 6.7);
    * ``restore_search`` (with ``restore``): the directional filters' greedy merges under
      every clip code; off, only under the clip code the filters without directions
      prefer (the merges are most of the fit's time);
    * ``means``: predicted means of the detail non-anchors (SPEC 6.4);
    * ``dq``: dependent quantisation of the detail bands (SPEC 6.8);
    * ``zadapt``: hyper-latent records (SPEC 6.9; the hyperprior models);
    * ``zopt``: hyper-latent channels sent as 0 where they cost more bits than they save
      (an encoder choice, SPEC 6.9; the hyperprior models);
    * ``region_search`` (with ``regions``): code the plane plainly and with the
      constant-region candidates of ``region_radii`` and keep the cheapest in rate + lambda
      * distortion (with the smoothest alone, ``(6,)`` below effort 5, the rule's candidate:
      the exact region instead where the rule would take it, as by rule; the smoothest alone
      cost a lung CT 10 % on the train sample); off: by rule, the smoothest candidate
      (radius 6, or the exact one of its value, ``region_rule_exact_ratio``) whenever it
      covers at least ``region_rule_fraction`` of a tile of at least ``region_rule_pixels``
      pixels and its edge passes ``region_rule_contrast``, else none, coding the plane once
      (``region_rule_fraction`` 0.02 since 2026-12-06, from 0.15: the search beat the rule
      on radiograph tiles whose black border covers 6-9 % of them, by 6-41 % of their rate +
      lambda * distortion; -0.12 % over 33 train images, CR -1.6 / -2.4 %, no image worse,
      ``research/lossy_region_search_log.py``, ``research/setting_gain.py``);
    * ``half_res`` (the conv models only): also code a tile at half resolution (SPEC 6.10
      xform flag 32) where that may pay, in images of at least
      :data:`~mic.lossy.enc_conv.HALF_MIN_SIDE` on both sides and tiles whose upsampling
      alone costs less than their plain bits, keeping the coding of lower rate + lambda *
      distortion (both decoded; taken without a decode where the upsampling costs under
      :data:`~mic.lossy.enc_conv.HALF_ACCEPT` times those bits);
    * ``half_search`` (the conv models only): every tile also at half resolution (and
      with ``region_search`` also without its region), keeping the cheapest;
    * ``exact_samples`` (the conv models only): where a tile decodes with samples far from
      the original (text and graphics on a screen), also code it with the samples whose
      error exceeds a threshold set exactly by lossless planes (SPEC 6.10 xform flag 64),
      keeping the coding of lower rate + lambda * distortion;
    * ``tilings`` (with ``tile=None``, frames larger than 512): code both tilings of
      :func:`mic.lossy.tilings` and keep the lower rate + lambda * distortion (the squared
      error of the tiles the encoder restored, without a decode; from effort 3); off:
      512 x 512 tiles.

    The tool switches are ``None`` by default: on or off as the effort says.

    Tuned settings (how earlier encoders made their streams, and what research scripts
    vary):

    * ``long_model_segment``: write the 39-byte ``LMDL`` instead of the 15-byte ``LMDS``;
    * ``restore_directions``: in stream version 2 the restoration fit may split classes
      by direction (tile flag 256);
    * ``colour_transform``: the conv models code RGB tiles as the colour planes of SPEC
      6.10's xform 1 (False: R, G, B as three planes, xform 0); the wavelet models always
      use 6.1's colour transform, and refuse False;
    * ``pass_biases``: table biases may be per pass (flag 32) where that saves more than
      per band;
    * ``bias_min_gain_bits``: table biases are sent only where they save more than this
      many bits per plane;
    * ``rdo_lambda_scale``: the RD rounding's Lagrangian relative to the training lambda
      (tuned on the corpus train split, research/rdo_tune.py);
    * ``region_radii``: the openings (:func:`mic.lossy.enc_region.opening` radii) of the
      constant-region candidates the encoder codes beside the plain coding, in order;
      None: as the effort says (:data:`EFFORT_REGION_RADII`: the smoothest alone below
      effort 5, where it gains nearly all of the search at half its time);
    * ``region_rule_exact_ratio``: the region rule (``regions`` without ``region_search``)
      takes the exact candidate (radius 1) instead of the smoothest where its shape costs
      at most this many times the smoothest's (0: always the smoothest; the smoothest
      opening drops thin strips of the value beside the image, which then keep the costly
      step edge; the exact region is of the smoothest candidate's value; 3 on the train
      sample: -0.47 % BD over 46 images, -9 to -11 % on a lung CT, no image worse; 5: +1.7 % on ultrasound, whose exact sector borders cost shape
      bits; ``research/region_rule.py``, ``benches/results/2026-12-05-region-rule.txt``);
    * ``region_rule_contrast``: the rule takes a region only where the median step from
      its value to the pixels just outside it is at least this many times the RMS error
      the quality's lambda implies at high rate (a faint edge costs the wavelet less than
      the shape: a CT whose field of view is padded with 0 beside air at 26 gained 5-23 %
      below quality 7 without its region); 0.5 on the train sample: -0.05 % over 46
      images (1: -0.02 %, 2: +0.05 %), ``research/region_rule.py``;
    * ``region_stop``: the smoother constant-region candidates are tried only while the
      last one's shape cost at least this fraction of the best rate + lambda * distortion;
    * ``region_lambda_scale``: the region decision's Lagrangian relative to the training
      lambda (runs of x0.6 and x1.6 were +0.08 % and +0.02 % BD against x1);
    * ``zrec_min_gain_bits``: a tile carries hyper-latent records only where they save more
      than this many bits net of the records (one 32-bit range-coder word: smaller savings
      often vanish in the word rounding of a small plane's stream);
    * ``inline_min_pixels``: inline table biases only in tiles of at least this many pixels
      (a bias costs about a bit a pass even where it is 0: on the train sample they cost
      0.4-1.4 % on 80 x 80 and 128 x 128 images and saved 1-5 % from 256 x 256 up).
    """

    model: str | None = None
    tile: int | tuple[int, int] | None = None
    effort: int = DEFAULT_EFFORT
    rdo: bool | None = None
    regions: bool | None = None
    adapt: bool | None = None
    restore: bool | None = None
    means: bool | None = None
    dq: bool | None = None
    zadapt: bool | None = None
    zopt: bool | None = None
    tilings: bool | None = None
    region_search: bool | None = None
    inline_biases: bool | None = None
    restore_search: bool | None = None
    bias_rdo: bool | None = None
    half_res: bool | None = None
    half_search: bool | None = None
    exact_samples: bool | None = None
    long_model_segment: bool = False
    colour_transform: bool = True
    restore_directions: bool = True
    pass_biases: bool = True
    bias_min_gain_bits: float = 16.0
    rdo_lambda_scale: float = 1.4
    region_stop: float = 0.02
    region_radii: tuple[int, ...] | None = None
    region_lambda_scale: float = 1.0
    region_rule_fraction: float = 0.02
    region_rule_pixels: float = 65536.0
    region_rule_exact_ratio: float = 3.0
    region_rule_contrast: float = 0.5
    zrec_min_gain_bits: float = 32.0
    inline_min_pixels: float = 65536.0
    #: the tool switches that were None (set from the effort)
    _auto: frozenset[str] = dataclasses.field(default=frozenset(), init=False, repr=False,
                                               compare=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalise the fields once, here
        set_(self, "tile", _tile(self.tile))
        set_(self, "effort", check_effort(self.effort))
        auto = frozenset(t for t in (*TOOLS, "region_radii", "model") if getattr(self, t) is None)
        set_(self, "_auto", auto)
        if self.model is None:
            set_(self, "model", default_model(self.effort))
        if not isinstance(self.model, str):
            raise MicInputError(f"model must be a name like 'wavelet-context', got {self.model!r}")
        if self.region_radii is None:
            radii = EFFORT_REGION_RADII[self.effort]
        else:
            try:
                radii = tuple(int(r) for r in self.region_radii)
            except (TypeError, ValueError):
                radii = (0,)
        if any(r < 1 for r in radii):
            raise MicInputError(f"region_radii must be opening radii >= 1, got "
                                f"{self.region_radii!r}")
        set_(self, "region_radii", radii)
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.name in ("region_radii", "model"):
                continue
            if f.name in auto:
                set_(self, f.name, f.name in EFFORT_TOOLS[self.effort])
            elif f.type in ("bool", "bool | None"):
                set_(self, f.name, bool(v))
            elif f.type == "float":
                try:
                    set_(self, f.name, float(v))
                except (TypeError, ValueError):
                    raise MicInputError(f"{f.name} must be a number, got {v!r}") from None

    def with_choices(self, **choices: Any) -> EncoderOptions:
        """These options with ``choices`` (field names, such as ``mic.encode``'s keywords)
        filled in: a choice may set a field these options leave at its default, or repeat
        the value they hold; one that contradicts a value they set is a
        :class:`MicInputError`, as is an unknown name."""
        names = {f.name: f for f in dataclasses.fields(self) if f.init}
        unknown = sorted(k for k in choices if k not in names)
        if unknown:
            raise MicInputError(f"unknown lossy option(s): {unknown}")
        mine_set = {k: (None if k in self._auto else getattr(self, k)) for k in names}
        given = EncoderOptions(**{**mine_set, **choices})
        for k in choices:
            mine, theirs = mine_set[k], getattr(given, k)
            if mine is not None and mine != theirs and mine != names[k].default:
                raise MicInputError(f"{k}={choices[k]!r} contradicts the options' {k}={mine!r}")
        return given

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> EncoderOptions:
        """Options from the upper-case names of the tuned settings (the former module
        globals of ``mic.lossy``, as ``formats/lossy/vectors.json`` records them in
        ``encoder_constants``), e.g. ``{"PASS_BIASES": False}``.

        >>> EncoderOptions.from_settings({"LONG_MODEL_SEGMENT": True}).long_model_segment
        True
        """
        unknown = sorted(k for k in settings if k.lower() not in SETTINGS or not k.isupper())
        if unknown:
            raise MicInputError(f"no encoder setting(s) {unknown}; known: "
                                f"{[s.upper() for s in SETTINGS]}")
        return cls(**{k.lower(): v for k, v in settings.items()})

    def only_tile(self) -> bool:
        """Whether these options choose nothing but (perhaps) the tile size: the lossless
        coder has no other choice."""
        return all(getattr(self, f.name) == f.default for f in dataclasses.fields(self)
                   if f.init and f.name not in ("tile", "effort") and f.name not in self._auto)

    def explicit(self) -> dict[str, Any]:
        """The fields these options set (the tool switches the effort set left out): what
        ``EncoderOptions(**o.explicit())`` needs to rebuild them."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.init and f.name not in self._auto}


def check_effort(effort: Any) -> int:
    """``effort`` as an int in :data:`EFFORTS`, else :class:`MicInputError` naming the range."""
    if isinstance(effort, bool) or not isinstance(effort, (int, np.integer)) \
            or int(effort) not in EFFORTS:
        raise MicInputError(f"effort must be an int in {EFFORTS[0]}..{EFFORTS[-1]} (1 fastest, "
                            f"{EFFORTS[-1]} smallest; default {DEFAULT_EFFORT}), got {effort!r}")
    return int(effort)


def _tile(tile: Any) -> Any:
    """``tile`` as (rows, cols) where it reads as an int or a pair, else as given
    (``mic.encode`` checks it and names what is wrong)."""
    if tile is None:
        return None
    try:
        return (operator.index(tile),) * 2
    except TypeError:
        pass
    try:
        th, tw = (int(t) for t in tile)
    except (TypeError, ValueError):
        return tile
    return th, tw


__all__ = ["CHOICES", "CONV_TOOLS", "DEFAULT_EFFORT", "EFFORTS", "EFFORT_REGION_RADII",
           "EFFORT_TOOLS", "SETTINGS", "TOOLS",
           "EncoderOptions", "check_effort"]
