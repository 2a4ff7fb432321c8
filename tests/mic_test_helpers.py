"""Shared by several test modules (not a test module itself)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_forge() -> ModuleType:
    """``formats/forge.py`` (stream forging helpers), imported once under a private name."""
    name = "mic_formats_forge"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parents[1] / "formats" / "forge.py"
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def tile_payloads(blob: bytes) -> list[bytes]:
    """The payload of every TILE segment of a .mic stream (after its 8-byte frame/tile
    prefix), in stream order."""
    forge = load_forge()
    return [blob[s.payload_start + 8:s.payload_end] for s in forge.spans(blob)
            if s.tag == b"TILE"]
