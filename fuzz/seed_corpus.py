"""Seed a fuzzing corpus with every conformance stream under ``formats/``.

    python fuzz/seed_corpus.py [DIR]        (default: fuzz/work/seeds)

Copies ``formats/**/*.mic`` -- the valid lossless vectors (stream versions 1 and 2),
the ``compat_*`` ones, ``formats/invalid/``, the lossy vectors and
``formats/lossy/invalid/`` -- into DIR under flat names (``lossy__invalid__x.mic``).
libFuzzer reads DIR as a read-only seed corpus; new units go to the first corpus
directory given to it.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import oracle  # noqa: E402


def seed(dest: Path) -> int:
    """Copy the seeds into ``dest`` (replacing what was there); return how many."""
    dest = Path(dest)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    paths = oracle.seed_paths()
    for p in paths:
        shutil.copyfile(p, dest / oracle.seed_name(p))
    return len(paths)


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else oracle.ROOT / "fuzz" / "work" / "seeds"
    print(f"{seed(out)} seeds -> {out}")
