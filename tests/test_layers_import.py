"""Each part of the package stays in its room (issue #19): torch is for training only.

* No module under ``mic/`` outside ``mic/train/`` has an import statement for torch (at the
  top or inside a function), nor one for ``mic.train``: coding, I/O, DICOM, the CLI and the
  bench run on NumPy/Numba, and ``mic/models/`` is runtime only.
* Importing the runtime (``mic``, every module of ``mic.models``, ``mic.lossy``, ``mic.io``,
  ``mic.cli``, ``mic.dicom``, ``mic.batch``, ...) leaves torch out of ``sys.modules``, and
  Dask and pyarrow too (``--dask`` and Parquet manifests import them when used).
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
            "mic.batch", "mic.manifest", "mic.storage", "mic.dicom", "mic.dicom.cli",
            "mic.eval.cli"]
    code = (f"import importlib, sys\nfor m in {mods!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in sys.modules\n"
            "             if m.split('.')[0] in ('torch', 'dask', 'distributed', 'pyarrow')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_training_models_live_in_mic_train() -> None:
    pytest.importorskip("torch")
    from mic.train import layers, wcm

    assert wcm.WaveletModel and layers.FactorizedDensity and layers.logmag_torch
    assert not (PKG / "models" / "wcm.py").exists() and not (PKG / "models" / "layers.py").exists()


# ----------------------------------------------------------------------------- layers
#: The rooms of the package from the bottom up (issue #19; README "Architecture").  A module
#: may import modules of its own layer or below, never above: shared stream syntax and the
#: runtime primitives at the bottom, the decoders above them, encoder-only code on top of the
#: decoders, then the public API, then the applications, then training.  (prefix, layer);
#: the longest matching prefix wins.
LAYERS: tuple[tuple[str, int], ...] = (
    ("mic.errors", 0),
    ("mic.bitstream", 1),
    ("mic.parallel", 1),
    ("mic.entropy", 2), ("mic.quant", 2), ("mic.models", 2),
    ("mic.lossless.syntax", 3), ("mic.lossless.kernels", 3), ("mic.lossless._tables_v1", 3),
    ("mic.lossless._tables_v16", 3),
    ("mic.lossless.kernels_volume", 3), ("mic.lossless.kernels_fast", 3),
    ("mic.lossless.kernels_classes", 3), ("mic.lossless.kernels_tables", 3),
    ("mic.lossless.kernels_simd", 3), ("mic.lossless.kernels_opaque", 3),
    ("mic.lossless.kernels_fast_lms", 3),
    ("mic.lossless.kernels_fast_enc", 4), ("mic.lossless.kernels_low_enc", 4),
    ("mic.lossless.kernels_fit", 4),
    ("mic.lossless.encoder_fast", 4),
    ("mic.lossless.encoder_near", 4),
    ("mic.lossless.decoder", 3), ("mic.lossless.encoder", 4), ("mic.lossless.make_tables", 4),
    ("mic.lossless", 4),
    ("mic.lossy.syntax", 3), ("mic.lossy.model", 3), ("mic.lossy.passes", 3),
    ("mic.lossy.restore", 3), ("mic.lossy.dec_tile", 3),
    ("mic.lossy.conv_syntax", 3), ("mic.lossy.conv_model", 3), ("mic.lossy.dec_conv", 3),
    ("mic.lossy.upsample", 3),
    ("mic.lossy.enc_", 4), ("mic.lossy", 4),
    ("mic.codec", 5), ("mic.encoder", 5), ("mic", 5),
    ("mic.io", 6), ("mic.atomic", 6), ("mic.batch", 6), ("mic.batch_dask", 6), ("mic.batch_local", 6), ("mic.manifest", 6), ("mic.storage", 6),
    ("mic.extras", 6), ("mic.dicom", 6), ("mic.cli", 6),
    ("mic.cli_codec", 6), ("mic.cli_decode", 6), ("mic.cli_inspect", 6), ("mic.eval", 6),
    ("mic.train", 7),
)
LAYER_NAMES = ("errors", "stream syntax", "runtime primitives", "decoders", "encoders",
               "public API", "applications", "training")


def layer_of(mod: str) -> int | None:
    """The layer of module ``mod`` (None: not part of mic)."""
    best: tuple[int, int] | None = None
    for prefix, layer in LAYERS:
        hit = mod == prefix or mod.startswith(prefix + ".") or (
            prefix.endswith("_") and mod.startswith(prefix))
        if hit and (best is None or len(prefix) > best[0]):
            best = (len(prefix), layer)
    return None if best is None else best[1]


def test_layer_table_covers_every_module() -> None:
    mods = [_module_name(p) for p in PKG.rglob("*.py")]
    assert all(layer_of(m) is not None for m in mods)
    assert layer_of("mic.lossy.enc_tile") == 4 and layer_of("mic.lossy.dec_tile") == 3
    assert layer_of("mic.lossless.decoder") == 3 and layer_of("mic.lossless.encoder") == 4
    assert layer_of("mic.lossy") == 4 and layer_of("mic") == 5 and layer_of("numpy") is None


def upward_imports(me: str, imports: list[tuple[int, str]]) -> list[str]:
    """The imports of module ``me`` (``(line, module)``) that reach above its layer."""
    mine = layer_of(me)
    assert mine is not None, me
    out = []
    for line, mod in imports:
        other = layer_of(mod)
        if other is None or mod == me or me.startswith(mod + "."):
            continue  # outside mic, itself, or its own package (run by Python first)
        if other > mine:
            out.append(f"{line}: {me} ({LAYER_NAMES[mine]}) imports {mod} ({LAYER_NAMES[other]})")
    return out


def test_no_module_imports_a_layer_above_its_own() -> None:
    """The AST of every module under mic/ (imports inside functions too): an import of a
    higher layer fails, naming both rooms.  The lossy package's face (``mic.lossy``) counts
    as encoder side: decoder modules import its parts, never the package's names."""
    bad = [f"{p.relative_to(PKG.parent)}:{row}" for p in sorted(PKG.rglob("*.py"))
           for row in upward_imports(_module_name(p), _imported_modules(p))]
    assert not bad, "imports above the importer's layer:\n" + "\n".join(bad)


def test_the_layer_check_catches_upward_imports() -> None:
    """The check itself can fail: a decoder importing the encoder (lazily too), the stream
    syntax importing the API, and a runtime model importing training code are caught."""
    src = ("from . import enc_tile\n"
           "def f():\n    from .enc_rdo import SubbandBits\n    from .. import codec\n")
    tree = ast.parse(src)
    imports = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = "mic.lossy" if node.level == 1 else "mic"
            base = base + (f".{node.module}" if node.module else "")
            imports += [(node.lineno, base)] + [(node.lineno, f"{base}.{a.name}") for a in node.names]
    found = upward_imports("mic.lossy.dec_tile", imports)
    assert any("enc_tile" in r for r in found) and any("enc_rdo" in r for r in found)
    assert any("mic.codec" in r for r in found)
    assert upward_imports("mic.bitstream.container", [(1, "mic.codec")])
    assert upward_imports("mic.models.weights", [(1, "mic.train.wcm")])
    assert not upward_imports("mic.lossy.enc_tile", [(1, "mic.lossy.dec_tile")])
