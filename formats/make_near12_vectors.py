#!/usr/bin/env python
"""Write the model-12 near-lossless conformance vectors under formats/near12/ (SPEC.md 7.6;
formats/README.md): the sources and fields of ``make_near_vectors.py`` (whose docstring
describes them; three of its sources left out, see ``NEAR12_SKIP``), with the encoder
writing model id 12 and each vector's ``source`` the ``.npy`` of near/ (the same samples),
and two invalid cases of its own (model id 13; a model-12 stream relabelled model id 2).

    .venv/bin/python formats/make_near12_vectors.py            # rewrite them
    .venv/bin/python formats/make_near12_vectors.py --check    # only report what would change
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_near_vectors as base  # noqa: E402

base.MODEL = 12
base.OUT = HERE / "near12"

if __name__ == "__main__":
    sys.exit(base.run_generator(__doc__, base.OUT, base.build))
