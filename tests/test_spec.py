"""SPEC.md and the code must describe the same bitstream.

The header table in SPEC.md section 3 is generated from
``mic.bitstream.schema.HEADER_FIELDS``.  After changing the schema, regenerate it::

    .venv/bin/python tests/test_spec.py --write
"""

from __future__ import annotations

import re
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "SPEC.md"
MARKER = "<!-- generated from mic/bitstream/schema.py HEADER_FIELDS"
TYPE_NAMES = {"B": "u8", "H": "u16", "I": "u32"}


def render_header_table() -> str:
    """The markdown table of the header body, one row per HEADER_FIELDS entry."""
    from mic.bitstream.schema import HEADER_FIELDS, PREFIX_SIZE

    rows = ["| stream offset | body offset | size | field | type | meaning |",
            "|---:|---:|---:|---|---|---|"]
    off = 0
    for name, code, meaning in HEADER_FIELDS:
        size = struct.calcsize("<" + code)
        rows.append(f"| {PREFIX_SIZE + off} | {off} | {size} | `{name}` | {TYPE_NAMES[code]} "
                    f"| {meaning.replace('|', '/')} |")
        off += size
    rows.append(f"| {PREFIX_SIZE + off} | — | 4 | `header_crc` | u32 | CRC-32 of bytes 0 to "
                f"{PREFIX_SIZE + off - 1} (the prefix and the body; follows the body, so at "
                f"`12 + body_len` when a later minor version lengthens the body) |")
    return "\n".join(rows)


def _spec_text() -> str:
    return SPEC.read_text(encoding="utf-8")


def _table_in_spec(text: str) -> tuple[int, int, str]:
    """(start, end, table) of the block after the generated-table marker."""
    i = text.index(MARKER)
    start = text.index("\n", i) + 1
    end = text.find("\n\n", start)
    end = len(text) if end < 0 else end
    return start, end, text[start:end]


def write_table() -> None:
    text = _spec_text()
    start, end, _ = _table_in_spec(text)
    SPEC.write_text(text[:start] + render_header_table() + text[end:], encoding="utf-8")


# ----------------------------------------------------------------------------- tests
def test_header_table_matches_the_schema():
    _, _, table = _table_in_spec(_spec_text())
    assert table == render_header_table(), (
        "SPEC.md header table is out of date: run `.venv/bin/python tests/test_spec.py --write`"
    )


def test_no_header_placeholder_left():
    assert not re.search(r"^HEADER_TABLE$", _spec_text(), re.MULTILINE)


def test_header_table_offsets_are_consistent():
    from mic.bitstream.schema import HEADER_BODY_SIZE, HEADER_SIZE, PREFIX_SIZE

    _, _, table = _table_in_spec(_spec_text())
    off = PREFIX_SIZE
    body_rows = [r for r in table.splitlines()[2:] if "`header_crc`" not in r]
    for row in body_rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert int(cells[0]) == off and int(cells[1]) == off - PREFIX_SIZE
        off += int(cells[2])
    assert off == PREFIX_SIZE + HEADER_BODY_SIZE == HEADER_SIZE - 4


def test_body_size_and_version_in_the_text():
    from mic.bitstream.schema import HEADER_BODY_SIZE, VERSION_MAJOR, VERSION_MINOR

    from mic.bitstream.schema import MAJORS

    text = _spec_text()
    m = re.search(r"Header body \(v1\.(\d+), (\d+) bytes; v2\.(\d+), the same fields as varints\)",
                  text)
    assert m, "section 3 title 'Header body (v1.Y, N bytes; v2.Y, ...)' not found"
    assert (int(m[1]), int(m[2]), int(m[3])) == (VERSION_MINOR, HEADER_BODY_SIZE, VERSION_MINOR)
    m = re.search(r"^# The \.mic bitstream, version (\d+)\.(\d+)", text, re.MULTILINE)
    assert m and (int(m[1]), int(m[2])) == (VERSION_MAJOR, VERSION_MINOR)
    assert MAJORS == (1, 2) and "normative for major versions 1 and 2" in text


def test_prefix_layout_in_the_text():
    from mic.bitstream.schema import MAGIC, PREFIX_FMT

    text = _spec_text()
    m = re.search(r"`magic` = `((?:[0-9A-F]{2} ?){8})`", text)
    assert m, "magic bytes not found in SPEC.md"
    assert bytes.fromhex(m[1]) == MAGIC
    assert PREFIX_FMT == "<8sBBH"
    assert "header   = magic(8) major(u8) minor(u8) body_len(u16) body(body_len) header_crc(u32)" \
        in text
    assert "segment  = tag(4 ASCII) length(u32) payload(length) crc(u32)" in text
    assert "header   = magic(8) major(u8) minor(u8) body_len(varint) body(body_len) " \
        "header_crc(u32)" in text
    assert "segment  = tag(4 ASCII) length(varint) payload(length) crc(u32)" in text


def test_segment_layout_matches_the_container():
    from mic.bitstream.container import SEG_HEAD_FMT, TAG_TILE_PREFIX

    assert SEG_HEAD_FMT == "<4sI"
    assert TAG_TILE_PREFIX.format in ("<II", b"<II")
    assert "TILE payload = frame(u32) tile_index(u32) mode_payload        (v1)" in _spec_text()
    assert "TILE payload = frame(varint) tile_index(varint) mode_payload  (v2)" in _spec_text()


def test_every_known_critical_tag_is_specified():
    from mic.bitstream.container import KNOWN_CRITICAL

    text = _spec_text()
    for tag in sorted(KNOWN_CRITICAL):
        assert re.search(rf"^\| `{tag.decode()}` \| yes \|", text, re.MULTILINE), tag


def test_limits_and_flags_in_the_text():
    from mic.codec import DEFAULT_MAX_PIXELS, FLAG_SAMPLE_CRC, MAX_DIMENSION

    text = _spec_text()
    assert DEFAULT_MAX_PIXELS == 2**30 and "at most 2^30 decoded samples" in text
    assert MAX_DIMENSION == 2**20 and "rows, cols ≤ 2^20" in text
    assert FLAG_SAMPLE_CRC == 1 and "`flags` bit 0 (value 1)" in text


def test_enumerations_in_the_field_meanings():
    from mic.bitstream.schema import (
        CODER_NAMES,
        HEADER_FIELDS,
        LAYOUT_NAMES,
        MODE_NAMES,
        PHOTOMETRIC_NAMES,
    )

    meaning = {n: m for n, _, m in HEADER_FIELDS}
    for value, name in PHOTOMETRIC_NAMES.items():
        assert f"{value} {name}" in meaning["photometric"]
    for value, name in MODE_NAMES.items():
        assert f"{value} {name}" in meaning["mode"]
    for value in LAYOUT_NAMES:
        assert f"{value} (" in meaning["layout"]
    for value in CODER_NAMES:
        assert f"{value} = " in meaning["coder_id"]


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        sys.path.insert(0, str(ROOT))
        write_table()
        print(f"wrote the header table into {SPEC}")
    else:
        print(render_header_table())


def _spec_fields() -> list[tuple[int, int, str, str]]:
    """(stream offset, size, name, type) read from SPEC.md's table, not from the code."""
    _, _, table = _table_in_spec(_spec_text())
    out = []
    for row in table.splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        out.append((int(cells[0]), int(cells[2]), cells[3].strip("`"), cells[4]))
    return out


def test_the_spec_alone_parses_the_conformance_vectors():
    """A reader written from SPEC.md sections 1, 3 and 4 only (offsets from the table, CRC
    rules, segment walk) agrees with mic.info on every committed vector."""
    import json
    import zlib

    import mic

    from mic_test_helpers import load_forge

    leb = load_forge().uvarint_at  # section 1's LEB128, written apart from mic
    fields = _spec_fields()
    fmt = {"u8": "<B", "u16": "<H", "u32": "<I"}

    meta = json.loads((ROOT / "formats" / "vectors.json").read_text())
    majors = set()
    for v in meta["vectors"]:
        b = (ROOT / "formats" / v["stream"]).read_bytes()
        assert b[:8] == bytes.fromhex("8B 4D 49 43 0D 0A 1A 0A")
        major, minor = b[8], b[9]
        majors.add(major)
        if major == 1:
            body_len, at = struct.unpack_from("<H", b, 10)[0], 12
            h = {name: struct.unpack_from(fmt[t], b, off)[0]
                 for off, _, name, t in fields if name != "header_crc"}
        else:
            assert major == 2
            body_len, at = leb(b, 10)
            h, p = {}, at
            for _, _, name, _ in fields:
                if name != "header_crc":
                    h[name], p = leb(b, p)
            assert p <= at + body_len
        crc_at = at + body_len
        assert struct.unpack_from("<I", b, crc_at)[0] == zlib.crc32(b[:crc_at])
        pos, tiles, ended = crc_at + 4, set(), False
        while not ended:
            tag = b[pos:pos + 4]
            n, start = (struct.unpack_from("<I", b, pos + 4)[0], pos + 8) if major == 1 \
                else leb(b, pos + 4)
            payload = b[start:start + n]
            assert struct.unpack_from("<I", b, start + n)[0] == zlib.crc32(b[pos:start + n])
            if tag == b"TILE":
                if major == 1:
                    tiles.add(struct.unpack_from("<II", payload))
                else:
                    f, k = leb(payload, 0)
                    tiles.add((f, leb(payload, k)[0]))
            ended = tag == b"MEND"
            pos = start + n + 4
        assert pos <= len(b)
        th = min(h["tile_rows"] or h["rows"], h["rows"])
        tw = min(h["tile_cols"] or h["cols"], h["cols"])
        per_frame = -(-h["rows"] // th) * -(-h["cols"] // tw)
        assert tiles == {(f, t) for f in range(h["frames"]) for t in range(per_frame)}
        i = mic.info(b)
        assert i.version == f"{major}.{minor}" and i.compressed_size == pos
        assert (i.frames, i.rows, i.cols, i.samples_per_pixel) == \
            (h["frames"], h["rows"], h["cols"], h["samples"])
        assert i.bits_stored == h["bits_stored"] and i.model_id == h["model_id"]
        assert i.tiles == len(tiles) and i.sample_crc32 == h["sample_crc32"]
        assert i.dtype == ("int" if h["signed"] else "uint") + str(h["bits_allocated"])
    assert majors == {1, 2}
