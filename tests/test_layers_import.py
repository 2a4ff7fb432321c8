"""Each part of the package stays in its room (issue #19): torch is for training only.

* No module under ``mic/`` outside ``mic/train/`` has an import statement for torch (at the
  top or inside a function), nor one for ``mic.train``: coding, I/O, DICOM, the CLI and the
  bench run on NumPy/Numba, and ``mic/models/`` is runtime only.
* Importing the runtime (``mic``, every module of ``mic.models``, ``mic.lossy``, ``mic.io``,
  ``mic.cli``, ``mic.dicom``, ...) leaves torch out of ``sys.modules``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "mic"
#: the only room where torch may be imported
TRAIN = PKG / "train"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import statement in ``path``."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, a.name) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            # ``from . import x`` may import a module x: count both
            out.append((node.lineno, base))
            out.extend((node.lineno, f"{base}.{a.name}") for a in node.names)
    return out


def _runtime_files() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if TRAIN not in p.parents)


def _is(mod: str, root: str) -> bool:
    return mod == root or mod.startswith(root + ".")


def test_scan_sees_relative_imports() -> None:
    """The scan itself: a relative import resolves to the module it names."""
    mods = dict((m, line) for line, m in _imported_modules(TRAIN / "wcm.py"))
    assert "torch" in mods and "mic.models.wavelet" in mods and "mic.train.layers" in mods


def test_no_runtime_module_imports_torch_or_training_code() -> None:
    files = _runtime_files()
    assert PKG / "models" / "intnet.py" in files and len(files) > 30
    bad = [f"{p.relative_to(PKG.parent)}:{line}: imports {m}"
           for p in files for line, m in _imported_modules(p)
           if _is(m, "torch") or _is(m, "mic.train")]
    assert not bad, "torch code outside mic/train:\n" + "\n".join(bad)


def test_importing_the_runtime_leaves_torch_out() -> None:
    models = sorted(f"mic.models.{p.stem}" for p in (PKG / "models").glob("*.py")
                    if p.stem != "__init__")
    mods = ["mic", "mic.models", *models, "mic.lossy", "mic.io", "mic.cli", "mic.cli_codec",
            "mic.batch", "mic.dicom", "mic.dicom.cli", "mic.eval.cli"]
    code = (f"import importlib, sys\nfor m in {mods!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_training_models_live_in_mic_train() -> None:
    pytest.importorskip("torch")
    from mic.train import layers, wcm

    assert wcm.WaveletModel and layers.FactorizedDensity and layers.logmag_torch
    assert not (PKG / "models" / "wcm.py").exists() and not (PKG / "models" / "layers.py").exists()
