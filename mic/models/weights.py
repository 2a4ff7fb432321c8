"""Shipped weights: ``mic/models/weights/models.json`` + one safetensors file per model.

``models.json`` maps a model name to its permanent id, weights file, the file's sha256,
the frozen-table id, its config and how it was trained.  Loading checks the sha256, so a
damaged weights file is refused rather than silently decoding garbage.  Extra weights
(e.g. a model just exported to another folder) can be added for this process with
:func:`register_weights`; each change of the registry bumps :func:`generation`, which
caches of loaded models (``mic.lossy.model``) compare, so nothing here imports them.

>>> from mic.models.weights import registry
>>> isinstance(registry(), dict)
True
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..errors import MicUnsupportedError

WEIGHTS_DIR = Path(__file__).with_name("weights")
REGISTRY_FILE = WEIGHTS_DIR / "models.json"

_extra: dict[str, dict[str, Any]] = {}
_generation = 0


def generation() -> int:
    """A counter bumped by every :func:`register_weights` and :func:`unregister_weights`:
    a model loaded under another generation may be stale."""
    return _generation


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _read_json(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    out = {}
    for name, ent in data.get("models", {}).items():
        ent = dict(ent)
        ent["path"] = str(path.parent / ent["file"])
        out[name] = ent
    return out


def registry() -> dict[str, dict[str, Any]]:
    """name -> entry (id, file, path, sha256, table_id, config, qualities, training)."""
    reg = _read_json(REGISTRY_FILE)
    reg.update(_extra)
    return reg


def register_weights(json_path: str | Path) -> list[str]:
    """Add the models of another ``models.json`` (its files beside it) for this process;
    they take precedence over the shipped ones.  Returns the names added."""
    ents = _read_json(Path(json_path))
    if not ents:
        raise MicUnsupportedError(f"no models listed in {json_path}")
    global _generation
    _extra.update(ents)
    _generation += 1  # loaded models may be stale now
    return sorted(ents)


def unregister_weights() -> None:
    """Forget every :func:`register_weights` entry."""
    global _generation
    _extra.clear()
    _generation += 1


def load_tensors(entry: dict[str, Any]) -> dict[str, Any]:
    """The tensors (numpy) of a registry entry, after checking the file's sha256."""
    from safetensors.numpy import load_file

    path = Path(entry["path"])
    if not path.is_file():
        raise MicUnsupportedError(f"weights file {path} of model {entry.get('name')} is missing")
    digest = sha256_file(path)
    if digest != entry["sha256"]:
        raise MicUnsupportedError(
            f"weights file {path} has sha256 {digest}, the registry says {entry['sha256']}")
    return load_file(str(path))
