#!/usr/bin/env python
"""Write the model-19 near-lossless conformance vectors under formats/near19/ (SPEC.md 7.8;
formats/README.md): the sources and fields of ``make_near_vectors.py`` (whose docstring
describes them; the sources model 12 leaves out, ``NEAR12_SKIP``, left out here too), with
the encoder writing model id 19 at the default effort (plane kinds 5 and 6 with the bands of
SPEC 5.11) and two of them also at effort 4 (model 12's kind 1 where it is smaller,
``NEAR17_EFFORT4``, named ``*_e4``), each vector's ``source`` the ``.npy`` of near/ (the
same samples); two crops of its own large enough for more than one band (a signed CT crop
in 4 bands at k = 1, a CT crop in 2 at k = 2, their samples here); and two invalid cases of
its own (a model-19 stream relabelled model id 17; mode 2 with model id 18).

    .venv/bin/python formats/make_near19_vectors.py            # rewrite them
    .venv/bin/python formats/make_near19_vectors.py --check    # only report what would change
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_near_vectors as base  # noqa: E402

base.MODEL = 19
base.OUT = HERE / "near19"

if __name__ == "__main__":
    sys.exit(base.run_generator(__doc__, base.OUT, base.build))
