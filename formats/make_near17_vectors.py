#!/usr/bin/env python
"""Write the model-17 near-lossless conformance vectors under formats/near17/ (SPEC.md 7.7;
formats/README.md): the sources and fields of ``make_near_vectors.py`` (whose docstring
describes them; the sources model 12 leaves out, ``NEAR12_SKIP``, left out here too), with
the encoder writing model id 17 at the default effort (plane kinds 5 and 6) and three of
them also at effort 1 (kinds 3 and 4, ``NEAR17_EFFORT1``, named ``*_e1``) and two at effort 4
(model 12's kind 1 where it is smaller, ``NEAR17_EFFORT4``, ``*_e4``), each vector's
``source`` the ``.npy`` of near/ (the same samples), and two invalid cases of its own (a
model-17 stream relabelled model id 12; mode 2 with model id 16).

    .venv/bin/python formats/make_near17_vectors.py            # rewrite them
    .venv/bin/python formats/make_near17_vectors.py --check    # only report what would change
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_near_vectors as base  # noqa: E402

base.MODEL = 17
base.OUT = HERE / "near17"

if __name__ == "__main__":
    sys.exit(base.run_generator(__doc__, base.OUT, base.build))
