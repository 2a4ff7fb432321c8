"""BD-rate of one lossy encoder option, on (its default) against off, on a train-split
sample, model wavelet-context, six qualities: ``regions`` (constant regions, SPEC 6.6), ``adapt``
(table biases, SPEC 6.4), ``restore`` (restoration filter, SPEC 6.7), ``means``
(non-anchor mean predictors, SPEC 6.4), ``dq`` (dependent quantisation, SPEC 6.8) or
``zadapt`` (hyper-latent records, SPEC 6.9).

    .venv/bin/python research/option_gain.py /path/to/corpus/train regions [per_source]
    .venv/bin/python research/option_gain.py /path/to/corpus/train adapt [per_source]
    .venv/bin/python research/option_gain.py /path/to/corpus/train restore [per_source]
    .venv/bin/python research/option_gain.py /path/to/corpus/train means [per_source]
    .venv/bin/python research/option_gain.py /path/to/corpus/train dq [per_source]
    .venv/bin/python research/option_gain.py /path/to/corpus/train zadapt [per_source]
    .venv/bin/python research/option_gain.py /path/to/corpus/train restore_directions

Any on/off field of :class:`mic.EncoderOptions` may be named, the tuned settings beside the
``encode`` options: ``restore_directions`` (direction classes of the restoration filter,
stream version 2, SPEC 6.7; also accepted as ``RESTORE_DIRECTIONS``, its name when it was
a module constant of ``mic.lossy``), ``pass_biases``, ``long_model_segment``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import dataclasses

import numpy as np

import mic
import mic.lossy.enc_options
from mic.eval.bdrate import bd_rate
from train_sample import rate_psnr, sample_images

QUALITIES = (0, 2, 4, 6, 8, 10)
#: the on/off fields of mic.EncoderOptions (the encode options and the boolean settings)
#: (the tool switches are ``bool | None``: None follows the effort, default 3)
OPTIONS = tuple(f.name for f in dataclasses.fields(mic.EncoderOptions) if f.type == "bool") + \
    tuple(mic.lossy.enc_options.TOOLS)


def encode_with(a: np.ndarray, q: int, bits: int, option: str, on: bool) -> bytes:
    """``mic.encode`` at quality ``q`` with ``option`` (an on/off field of
    :class:`mic.EncoderOptions`) on or off."""
    return mic.encode(a, quality=q, bits_stored=bits, options=mic.EncoderOptions(**{option: on}))


def main(argv: list[str]) -> None:
    split, option = Path(argv[0]), argv[1]
    option = option.lower() if option.isupper() else option
    if option not in OPTIONS:
        raise SystemExit(f"option must be one of {', '.join(OPTIONS)}, not {option!r}")
    per_source = int(argv[2]) if len(argv) > 2 else 1
    bds: dict[str, list[float]] = {}
    for row, a, bits in sample_images(split, per_source=per_source):
        curves: dict[bool, list[tuple[float, float]]] = {False: [], True: []}
        t = {False: 0.0, True: 0.0}
        for q in QUALITIES:
            for on in (False, True):
                t0 = time.perf_counter()
                blob = encode_with(a, q, bits, option, on)
                t[on] += time.perf_counter() - t0
                curves[on].append(rate_psnr(8 * len(blob), a, mic.decode(blob), bits))
        bd = bd_rate(*zip(*curves[False]), *zip(*curves[True]))
        bds.setdefault(row["modality"], []).append(bd)
        print(f"{row['modality']:3s} {row['source'][:30]:30s} {a.shape[0]:5d}x{a.shape[1]:<5d} "
              f"BD {100 * bd:+6.1f} %  encode {t[False]:.1f} s -> {t[True]:.1f} s", flush=True)
    allv = [v for vs in bds.values() for v in vs]
    for mod, vs in sorted(bds.items()):
        print(f"{mod:3s} n={len(vs):2d} mean BD {100 * np.nanmean(vs):+6.1f} %")
    print(f"all n={len(allv)} mean BD {100 * np.nanmean(allv):+6.1f} %")


if __name__ == "__main__":
    main(sys.argv[1:])
