#!/usr/bin/env python
"""Write the model-23 near-lossless conformance vectors under formats/near23/ (SPEC.md 7.10;
formats/README.md): the sources and fields of ``make_near_vectors.py`` (whose docstring
describes them; the sources model 12 leaves out, ``NEAR12_SKIP``, left out here too), with
the encoder writing model id 23 at the default effort (model 21's planes, SPEC 7.9, whose
table sections are bit-packed as SPEC 5.13 says) and two of them also at effort 4
(``NEAR17_EFFORT4``, named ``*_e4``), each vector's ``source`` the ``.npy`` of near/ (the
same samples); three crops of its own with
samples next to their minimum (a CT crop with its air in 8 low classes at k = 1, a CT crop
at k = 4, an MR crop at k = 2, near21/'s crops, their samples here); and two invalid cases
of its own (a model-23 stream relabelled model id 21; mode 2 with model id 22).

    .venv/bin/python formats/make_near23_vectors.py            # rewrite them
    .venv/bin/python formats/make_near23_vectors.py --check    # only report what would change
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_near_vectors as base  # noqa: E402

base.MODEL = 23
base.OUT = HERE / "near23"

if __name__ == "__main__":
    sys.exit(base.run_generator(__doc__, base.OUT, base.build))
