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
    return [blob[s.mode_start:s.payload_end] for s in forge.spans(blob)
            if s.tag == b"TILE"]


def tile_xforms(blob: bytes) -> list[int]:
    """The lossy ``xform`` (colour transform and tile flags) of every TILE segment, read as
    the stream's version writes it (v1 one byte, v2 a varint whose first byte alone
    would misread the flags from 128 up)."""
    import mic
    from mic.lossy.syntax import TileFields

    fields = TileFields(int(mic.info(blob).version.split(".")[0]))
    return [fields.read_xform(p, 0)[0] for p in tile_payloads(blob)]


def cli_xforms_with_and_without(tmp_path: Path, src: Path, quality: int, flag: str
                                ) -> tuple[int, int]:
    """``mic encode SRC --quality Q --effort 7`` (every tool) with and without the lossy-only
    ``flag`` (e.g. ``--no-means``): both must succeed, and ``flag`` without a quality must be a usage
    error; returns the first tile's xform of each stream (with the tool, without)."""
    from click.testing import CliRunner

    from mic.cli import main

    run = CliRunner().invoke
    res = run(main, ["encode", str(src), str(tmp_path / "a.mic"), "--quality", str(quality),
                     "--effort", "7"])
    assert res.exit_code == 0, res.output
    res = run(main, ["encode", str(src), str(tmp_path / "b.mic"), "--quality", str(quality),
                     "--effort", "7", flag])
    assert res.exit_code == 0, res.output
    res = run(main, ["encode", str(src), str(tmp_path / "c.mic"), flag])
    assert res.exit_code == 2 and "lossy only" in res.output
    return tuple(tile_xforms((tmp_path / n).read_bytes())[0] for n in ("a.mic", "b.mic"))
