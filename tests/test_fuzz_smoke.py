"""Fuzzing in the test suite (issue #19 part 5; the campaign tooling is in ``fuzz/``).

* Every conformance stream under ``formats/`` goes through the fuzzing oracle
  (``fuzz/oracle.py``: ``mic.check``/``mic.info``/``mic.decode`` plus a ``region=``
  decode, and the DICOM plugin's frame decoder): each must end in a ``MicError``
  subclass or a well-formed array -- valid vectors decode, invalid ones are refused.
* Seeded random mutants of every seed (bit flips, byte edits, truncations, insertions,
  with and without the CRCs recomputed, and stream-aware edits of header fields and
  segments), from a fixed RNG, go through the same oracle: no atheris needed, the same
  inputs on every run. ``MIC_FUZZ_MUTANTS`` sets the number per seed (default 10).
* A short coverage-guided run of the atheris harness (``fuzz/fuzz_decode.py``) in a
  subprocess, bounded in executions and time; skipped when atheris is not installed.

Any finding -- another exception type, a malformed result, a decoder call over
:data:`SLOW_S` CPU seconds, a memory blow-up -- fails the test and names the input.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import random
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FUZZ = ROOT / "fuzz"


def _load_oracle():
    name = "mic_fuzz_oracle"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, FUZZ / "oracle.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


oracle = _load_oracle()
SEEDS = oracle.seed_paths()
IDS = [oracle.seed_name(p) for p in SEEDS]
#: CPU seconds one decoder call may take on a fuzzed input (the campaign uses 1 s; the
#: suite leaves room for slow CI machines)
SLOW_S = 2.0
#: the smoke run's RSS limit.  Alone, the fuzzer holds about 250 MB after loading its 223
#: seeds; inside a full `make test` on a fresh checkout it measured 2.7 GB at that point
#: (twice, 2026-12-05; the cause is not found yet: every subset of the suite tried ran it
#: under 2 GB).  4 GB leaves room for that and still stops a runaway allocation; the
#: decoder's own memory bounds are tested in test_decode_bounds.py.
RSS_LIMIT_MB = 4096
#: peak-RSS growth the mutants may cause over the warmed-up process, MB
RSS_GROWTH_MB = 1024
MUTANTS = int(os.environ.get("MIC_FUZZ_MUTANTS", "10"))


def _maxrss_mb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10


@pytest.fixture(scope="module")
def warm() -> int:
    """Decode every seed once (Numba JIT, lossy weights) so timing excludes compilation;
    the peak RSS after it."""
    for p in SEEDS:
        oracle.check_input("all", p.read_bytes())
    return _maxrss_mb()


def test_seed_corpus_covers_formats():
    names = set(IDS)
    assert len(SEEDS) >= 100
    assert any(n.startswith("invalid__") for n in names)
    assert any(n.startswith("lossy__invalid__") for n in names)
    assert any(n.startswith("lossy__") and "__invalid__" not in n for n in names)
    assert any(n.endswith("_v2.mic") for n in names) and any(n.startswith("v2_") or
                                                             "__v2_" in n for n in names)


@pytest.mark.parametrize("path", SEEDS, ids=IDS)
def test_seed_outcome(path: Path, warm: int):
    """Each seed meets the contract; valid vectors decode, invalid ones are refused."""
    label = oracle.check_input("all", path.read_bytes())
    codec, dicom = label.split(" | ")
    if "invalid" in path.relative_to(ROOT / "formats").parts:
        assert not codec.startswith("ok"), f"{path.name}: invalid vector decoded ({label})"
    else:
        assert codec.startswith("ok"), f"{path.name}: valid vector refused ({label})"
    assert dicom.split(" ")[0] in ("ok", *oracle_mic_errors()), label


def oracle_mic_errors() -> tuple[str, ...]:
    import mic

    return tuple(c.__name__ for c in vars(mic).values()
                 if isinstance(c, type) and issubclass(c, mic.MicError) and c is not mic.MicError)


@pytest.mark.parametrize("path", SEEDS, ids=IDS)
def test_seeded_mutants(path: Path, warm: int, tmp_path: Path):
    """Fixed-RNG mutants of each seed end in a MicError subclass or a well-formed array,
    each decoder call within SLOW_S CPU seconds, without a memory blow-up."""
    data = path.read_bytes()
    rng = random.Random(int.from_bytes(hashlib.sha256(oracle.seed_name(path).encode())
                                       .digest()[:8], "little"))
    for i, m in enumerate(oracle.mutants(data, rng, MUTANTS)):
        oracle.CALL_TIMES.clear()
        try:
            label = oracle.check_input("all", m)
        except Exception as exc:  # noqa: BLE001 - a finding: report the input
            keep = tmp_path / f"{path.stem}-mutant{i}.mic"
            keep.write_bytes(m)
            pytest.fail(f"mutant {i} of {path.name} ({keep}, sha1 "
                        f"{hashlib.sha1(m).hexdigest()}): {type(exc).__name__}: {exc}")
        slowest = max(oracle.CALL_TIMES, default=0.0)
        assert slowest < SLOW_S, f"mutant {i} of {path.name}: {slowest:.2f} s CPU ({label})"
        grown = _maxrss_mb() - warm
        assert grown < RSS_GROWTH_MB, f"mutant {i} of {path.name}: peak RSS +{grown} MB"


def test_fix_crcs_and_parse_round_trip():
    """The mutator's helpers: rewriting the CRCs of a valid stream changes nothing, and a
    parsed stream writes back byte for byte; a stream-aware edit keeps the framing valid."""
    import mic

    for p in SEEDS:
        if "invalid" in p.parts:
            continue
        data = p.read_bytes()
        assert oracle.fix_crcs(data) == data, p.name
        assert oracle.Parsed.parse(data).dump() == data, p.name
    data = (ROOT / "formats" / "ct_abdomen_u16_v2.mic").read_bytes()
    rng = random.Random(7)
    framed = 0
    for _ in range(40):
        m = oracle.structured_mutate(data, rng)
        try:
            mic.info(m)
            framed += 1
        except mic.MicError:
            pass
    assert framed > 10  # most edits keep a readable header and segment framing


def _atheris_available() -> bool:
    return importlib.util.find_spec("atheris") is not None


@pytest.mark.slow
@pytest.mark.skipif(not _atheris_available(),
                    reason="atheris is not installed (pip install atheris): the coverage-guided "
                           "smoke run needs it; the seeded-mutant tests above still run")
def test_atheris_smoke(tmp_path: Path):
    """A bounded coverage-guided run of the harness over both targets finds nothing."""
    seeds = tmp_path / "seeds"
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    seeds.mkdir()
    for p in SEEDS:
        shutil.copyfile(p, seeds / oracle.seed_name(p))
    stats = tmp_path / "stats.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # Decode every seed once in a plain process first: Numba then finds its kernels in its
    # on-disk cache instead of compiling them inside the instrumented fuzzer, whose RSS the
    # compiler would push past -rss_limit_mb on a fresh checkout (2.7 GB measured).
    warm = ("import sys, mic\nfor p in sys.argv[1:]:\n    try:\n"
            "        mic.decode(open(p, 'rb').read())\n    except mic.MicError:\n        pass\n")
    subprocess.run([sys.executable, "-c", warm, *map(str, SEEDS)], cwd=ROOT, env=env,
                   check=True, timeout=600, capture_output=True)
    cmd = [sys.executable, str(FUZZ / "fuzz_decode.py"), "--target=all", f"--stats={stats}",
           f"--slow-s={SLOW_S}", "--as-limit-mb=8192", str(corpus), str(seeds),
           "-runs=3000", "-max_total_time=30", "-seed=1", "-timeout=20", f"-rss_limit_mb={RSS_LIMIT_MB}",
           "-max_len=1048576", "-print_final_stats=1", f"-artifact_prefix={tmp_path}/"]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=900)
    log = r.stdout + r.stderr
    artifacts = [p.name for p in tmp_path.iterdir()
                 if p.name.split("-")[0] in ("crash", "timeout", "oom", "leak", "slow")]
    assert r.returncode == 0 and not artifacts, \
        f"fuzzing found something (rc {r.returncode}, {artifacts}):\n{log[-6000:]}"
    final = {}
    for line in log.splitlines():
        if line.startswith("stat::"):
            key, value = line[len("stat::"):].split(":", 1)
            final[key.strip()] = value.strip()
    assert int(final.get("number_of_executed_units", 0)) > 200, log[-3000:]
    summary = json.loads(stats.read_text())
    assert summary["findings"] == []
    assert summary["outcomes"], summary
