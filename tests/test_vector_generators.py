"""The conformance vectors under ``formats/`` are what their generators make today:
each generator's ``--check`` (it writes nothing) lists no stale file, so no generator
claims (or would delete) another's vectors; the generators whose encoders are integer
arithmetic (lossless, near-lossless, volumes: the same bytes on every machine) list no
file that differs either.  The lossy and learned-transform generators' encoders decide in
floating point, so their bytes may legitimately differ on another CPU: for them only the
staleness is checked here (their streams' decoding is checked by the conformance tests)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

FORMATS = Path(__file__).resolve().parent.parent / "formats"
INTEGER = ("make_vectors.py", "make_near_vectors.py", "make_near12_vectors.py",
           "make_volume_vectors.py", "make_lossless13_vectors.py",
           "make_lossless14_vectors.py", "make_lossless15_vectors.py",
           "make_lossless16_vectors.py", "make_near17_vectors.py", "make_lossless18_vectors.py",
           "make_near19_vectors.py", "make_lossless20_vectors.py", "make_near21_vectors.py",
           "make_lossless22_vectors.py", "make_near23_vectors.py",
           "make_lossless24_vectors.py", "make_volume25_vectors.py")
ALL = sorted(p.name for p in FORMATS.glob("make_*vectors.py"))


def test_every_generator_is_listed() -> None:
    assert set(INTEGER) <= set(ALL) and len(ALL) >= 7


@pytest.mark.parametrize("gen", ALL)
def test_generator_check(gen: str) -> None:
    r = subprocess.run([sys.executable, str(FORMATS / gen), "--check"], capture_output=True,
                       text=True, timeout=600, cwd=FORMATS.parent)
    lines = (r.stdout + r.stderr).splitlines()
    stale = [ln for ln in lines if ln.startswith("stale:")]
    assert not stale, f"{gen} --check: {stale}"
    if gen in INTEGER:
        assert r.returncode == 0, f"{gen} --check failed:\n{r.stdout}{r.stderr}"
    else:  # float encoders: differing streams are allowed, a crash is not
        assert r.returncode in (0, 1), f"{gen} --check crashed:\n{r.stdout}{r.stderr}"
        assert not [ln for ln in lines if ln.startswith("Traceback")], r.stderr
        # (their decoded samples, stored as lossless .mic files, come from float synthesis
        # transforms too: they may differ in the last level on another CPU)
