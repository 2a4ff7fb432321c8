#!/usr/bin/env python
"""Write the model-21 near-lossless conformance vectors under formats/near21/ (SPEC.md 7.9;
formats/README.md): the sources and fields of ``make_near_vectors.py`` (whose docstring
describes them; the sources model 12 leaves out, ``NEAR12_SKIP``, left out here too), with
the encoder writing model id 21 at the default effort (plane kinds 5 and 6 with the bands of
SPEC 5.11 and the low classes of SPEC 5.12, a low sample coding its value's index on the
grid of 2k + 1) and two of them also at effort 4 (``NEAR17_EFFORT4``, named ``*_e4``), each
vector's ``source`` the ``.npy`` of near/ (the same samples); three crops of its own with
samples next to their minimum (a CT crop with its air in 8 low classes at k = 1, a CT crop
at k = 4, an MR crop at k = 2, their samples here); and two invalid cases of its own (a
model-21 stream relabelled model id 19; mode 2 with model id 20); every one with
``compact_tables=False`` (model id 23, SPEC 7.10, the default since, is formats/near23/).

    .venv/bin/python formats/make_near21_vectors.py            # rewrite them
    .venv/bin/python formats/make_near21_vectors.py --check    # only report what would change
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_near_vectors as base  # noqa: E402

base.MODEL = 21
base.OUT = HERE / "near21"

if __name__ == "__main__":
    sys.exit(base.run_generator(__doc__, base.OUT, base.build))
