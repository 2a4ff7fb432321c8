"""The fuzzing oracle: what every input to mic's decoders must do, and byte helpers.

Shared by the atheris harness (``fuzz/fuzz_decode.py``), the campaign runner
(``fuzz/run_campaign.py``) and the plain tests (``tests/test_fuzz_smoke.py``); it needs
no atheris.

**Outcome contract.** For any bytes ``data``:

* ``mic.check(data)`` returns a ``bool`` equal to ``data[:8] == MAGIC``;
* ``mic.info(data)`` returns a :class:`mic.MicInfo` or raises a :class:`mic.MicError`
  subclass;
* ``mic.decode(data, max_pixels=...)`` returns an ``ndarray`` or raises a ``MicError``
  subclass. A returned array has exactly ``info``'s dtype and shape, holds no more than
  ``max_pixels`` samples, its values lie in the ``bits_stored`` range, and decoding a
  window of it (``region=``) gives the same samples as slicing it;
* the DICOM frame decoder (``mic.dicom._plugin._decode_frame``), driven by a pydicom
  ``DecodeRunner`` as pydicom drives it, returns ``bytes`` of exactly
  rows x cols x samples x (bits allocated / 8) or raises a ``MicError`` subclass.

Anything else -- another exception type (``IndexError``, ``MemoryError``, a pyo3
``PanicException``...), the bare ``MicError`` base class (mic raises it only for
"internal" errors), a wrong dtype/shape/range, an input that takes more than a second
or blows up memory -- is a *finding*. Checks here raise :class:`Finding` for contract
breaches and let unexpected exceptions propagate unchanged, so their traceback points
into mic.
"""

from __future__ import annotations

import random
import struct
import time
import zlib
from pathlib import Path
from typing import Any, Callable

import numpy as np

#: the .mic magic (SPEC.md section 1)
MAGIC = b"\x8bMIC\r\n\x1a\n"
#: repository root (this file is ``<root>/fuzz/oracle.py``)
ROOT = Path(__file__).resolve().parents[1]
#: ``max_pixels`` the harness decodes with unless told otherwise: 4 Mi samples (a
#: 2048 x 2048 frame), what a service decoding untrusted streams would set; the
#: library default (2**30) is a campaign option (``--max-pixels``).
FUZZ_MAX_PIXELS = 1 << 22
#: the DICOM description used when the bytes have no readable header
DEFAULT_DICOM = dict(rows=64, columns=64, samples_per_pixel=1, bits_allocated=16,
                     bits_stored=12, pixel_representation=0,
                     photometric_interpretation="MONOCHROME2")
#: header fields in order: (name, v1 struct code)  -- SPEC.md section 3
HEADER_FIELDS = (("mode", "B"), ("model_id", "H"), ("coder_id", "B"),
                 ("bits_allocated", "B"), ("signed", "B"), ("bits_stored", "B"),
                 ("photometric", "B"), ("layout", "B"), ("samples", "B"), ("frames", "I"),
                 ("rows", "I"), ("cols", "I"), ("tile_rows", "I"), ("tile_cols", "I"),
                 ("quality", "B"), ("flags", "H"), ("sample_crc32", "I"))
V1_BODY = struct.Struct("<" + "".join(c for _, c in HEADER_FIELDS))
TYPE_MAX = {"B": 0xFF, "H": 0xFFFF, "I": 0xFFFF_FFFF}


class Finding(AssertionError):
    """An input whose outcome breaks the contract (not an ordinary ``MicError``)."""


# ----------------------------------------------------------------------------- seeds
def seed_paths() -> list[Path]:
    """Every conformance stream under ``formats/`` (lossless, lossy, invalid; v1 and v2)."""
    return sorted((ROOT / "formats").rglob("*.mic"))


def seed_name(path: Path) -> str:
    """A flat file name for a seed: ``formats/lossy/invalid/x.mic`` -> ``lossy__invalid__x.mic``."""
    return "__".join(path.relative_to(ROOT / "formats").parts)


# ----------------------------------------------------------------------------- oracle
def _mic_error(exc: BaseException) -> bool:
    """An acceptable refusal: a ``MicError`` *subclass* (the bare base class is only raised
    for internal errors, ``mic/codec.py``)."""
    import mic

    return isinstance(exc, mic.MicError) and type(exc) is not mic.MicError


#: CPU seconds of each decoder call since the caller last cleared it (the harness
#: judges "slow" per call: one input runs up to three decodes)
CALL_TIMES: list[float] = []


def _run(fn: Callable[[], Any]) -> tuple[Any, BaseException | None]:
    """``fn()``'s result, or the ``MicError`` subclass it raised; anything else propagates."""
    t0 = time.process_time()
    try:
        return fn(), None
    except Exception as exc:  # noqa: BLE001 - sorted below
        if _mic_error(exc):
            return None, exc
        raise
    finally:
        CALL_TIMES.append(time.process_time() - t0)


def check_codec(data: bytes, max_pixels: int = FUZZ_MAX_PIXELS) -> str:
    """Run ``mic.check``, ``mic.info`` and ``mic.decode`` on ``data``; enforce the contract.

    Returns a short outcome label (``"MicFormatError"``, ``"ok uint16 (3, 4)"``...)."""
    import mic

    chk = mic.check(data)
    if chk is not (bytes(data[:8]) == MAGIC):
        raise Finding(f"mic.check returned {chk!r} for a stream starting {bytes(data[:8])!r}")
    inf, info_err = _run(lambda: mic.info(data))
    arr, dec_err = _run(lambda: mic.decode(data, max_pixels=max_pixels))
    if dec_err is not None:
        return type(dec_err).__name__
    if info_err is not None:
        raise Finding(f"mic.decode returned an array but mic.info raised "
                      f"{type(info_err).__name__}: {info_err}")
    check_array(arr, inf, max_pixels)
    _check_region(data, arr, inf)
    return f"ok {arr.dtype} {arr.shape}"


def check_array(arr: Any, inf: Any, max_pixels: int | None = None) -> None:
    """A decoded array agrees with its stream's :class:`mic.MicInfo`."""
    from mic.codec import sample_range

    if not isinstance(arr, np.ndarray):
        raise Finding(f"mic.decode returned {type(arr).__name__}, not an ndarray")
    if arr.dtype != np.dtype(inf.dtype) or arr.shape != tuple(inf.shape):
        raise Finding(f"mic.decode returned {arr.dtype} {arr.shape}; info says "
                      f"{inf.dtype} {inf.shape}")
    if max_pixels is not None and arr.size > max_pixels:
        raise Finding(f"mic.decode returned {arr.size} samples > max_pixels={max_pixels}")
    if arr.size:
        lo, hi = sample_range(inf.bits_stored, inf.signed)
        amin, amax = int(arr.min()), int(arr.max())
        if amin < lo or amax > hi:
            raise Finding(f"decoded samples span [{amin}, {amax}], outside the "
                          f"{inf.bits_stored}-bit range [{lo}, {hi}]")


def _check_region(data: bytes, arr: np.ndarray, inf: Any) -> None:
    """Decoding the first tile's window (or the top-left quarter of a one-tile frame) with
    ``region=`` gives the same samples as slicing the whole decode."""
    import mic

    th, tw = inf.tile_shape
    r1, c1 = min(th, inf.rows), min(tw, inf.cols)
    if (r1, c1) == (inf.rows, inf.cols):
        r1, c1 = max(1, inf.rows // 2), max(1, inf.cols // 2)
    win, err = _run(lambda: mic.decode(data, region=(0, r1, 0, c1)))
    if err is not None:
        raise Finding(f"the whole stream decodes but region (0, {r1}, 0, {c1}) raises "
                      f"{type(err).__name__}: {err}")
    f, s = inf.frames, inf.samples_per_pixel
    want = arr.reshape(f, inf.rows, inf.cols, s)[:, :r1, :c1, :]
    if win.dtype != arr.dtype or win.size != want.size or \
            not np.array_equal(win.reshape(want.shape), want):
        raise Finding(f"region (0, {r1}, 0, {c1}) decodes to other samples than the whole "
                      f"image ({win.dtype} {win.shape})")


def dicom_description(data: bytes) -> tuple[dict[str, Any], str]:
    """The Image Pixel description a pydicom runner gets for the frame ``data``.

    Mostly what a dataset written by ``mic.dicom.compress`` would say (from the stream's
    own header; :data:`DEFAULT_DICOM` when it has none); for one input in eight, chosen
    by the CRC-32 of the bytes (so a reproducer replays the same case), a dataset that
    disagrees with the stream: one row more (variant ``rows+1``) or the other Pixel
    Representation (variant ``sign``)."""
    import mic

    try:
        inf = mic.info(data)
        d = dict(rows=inf.rows, columns=inf.cols, samples_per_pixel=inf.samples_per_pixel,
                 bits_allocated=np.dtype(inf.dtype).itemsize * 8,
                 bits_stored=inf.bits_stored, pixel_representation=int(inf.signed),
                 photometric_interpretation=inf.photometric)
        variant = "match"
    except Exception as exc:  # noqa: BLE001
        if not _mic_error(exc):
            raise
        d, variant = dict(DEFAULT_DICOM), "default"
    pick = zlib.crc32(data) & 7
    if pick == 6:
        d["rows"] += 1
        variant += ",rows+1"
    elif pick == 7:
        d["pixel_representation"] ^= 1
        variant += ",sign"
    if not 1 <= d["rows"] <= 0xFFFF or not 1 <= d["columns"] <= 0xFFFF:
        d, variant = dict(DEFAULT_DICOM), variant + ",default"  # not expressible in DICOM (US)
    return d, variant


def dicom_runner(desc: dict[str, Any]) -> Any:
    """A pydicom ``DecodeRunner`` for the mic transfer syntax set up as ``desc`` says."""
    from pydicom.pixels.decoders.base import DecodeRunner

    import mic.dicom

    runner = DecodeRunner(mic.dicom.MIC_TRANSFER_SYNTAX)
    runner.set_options(number_of_frames=1, **desc)
    if desc["samples_per_pixel"] > 1:
        runner.set_option("planar_configuration", 0)
    runner._validate_options()  # what pydicom checks before it calls a plugin
    return runner


def check_dicom(data: bytes, max_pixels: int = FUZZ_MAX_PIXELS) -> str:
    """Run the DICOM plugin's frame decoder on ``data`` as pydicom would, with the caller's
    ``max_pixels`` decoding option (as :func:`check_codec` bounds ``mic.decode``); enforce
    the contract."""
    from mic.dicom import _plugin

    desc, variant = dicom_description(data)
    runner = dicom_runner(desc)
    runner.set_option("max_pixels", max_pixels)
    out, err = _run(lambda: _plugin._decode_frame(data, runner))
    if err is not None:
        return f"{type(err).__name__} [{variant}]"
    want = desc["rows"] * desc["columns"] * desc["samples_per_pixel"] * \
        (desc["bits_allocated"] // 8)
    if not isinstance(out, (bytes, bytearray)) or len(out) != want:
        raise Finding(f"DICOM frame decoder returned {type(out).__name__} of "
                      f"{len(out) if hasattr(out, '__len__') else '?'} bytes, {want} expected "
                      f"[{variant}]")
    if desc["samples_per_pixel"] > 1 and runner.get_option("planar_configuration") != 0:
        raise Finding("DICOM frame decoder left Planar Configuration != 0 for RGB")
    return f"ok {len(out)} bytes [{variant}]"


TARGETS: dict[str, Callable[..., str]] = {"codec": check_codec, "dicom": check_dicom}


def check_input(target: str, data: bytes, max_pixels: int = FUZZ_MAX_PIXELS) -> str:
    """Run the named target ("codec", "dicom" or "all") on ``data``."""
    if target == "codec":
        return check_codec(data, max_pixels)
    if target == "dicom":
        return check_dicom(data, max_pixels)
    if target == "all":
        return check_codec(data, max_pixels) + " | " + check_dicom(data, max_pixels)
    raise ValueError(f"unknown target {target!r}")


# ----------------------------------------------------------------------------- bytes
def read_varint(buf: bytes | bytearray, pos: int, limit: int = 10) -> tuple[int, int] | None:
    """A lenient LEB128 read (no over-long or range checks): (value, next pos) or None."""
    value = shift = 0
    for i in range(limit):
        if pos + i >= len(buf):
            return None
        b = buf[pos + i]
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos + i + 1
        shift += 7
    return None


def _segment_head(b: bytes | bytearray, pos: int, major: int) -> tuple[int, int] | None:
    """The length of the segment whose tag is at ``b[pos:]`` and where its payload starts:
    a u32 (stream version 1) or a varint (2); None when the buffer ends inside it."""
    if major == 1:
        if pos + 8 > len(b):
            return None
        return struct.unpack_from("<I", b, pos + 4)[0], pos + 8
    return read_varint(b, pos + 4)


def varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b, v = v & 0x7F, v >> 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def fix_crcs(data: bytes) -> bytes:
    """``data`` with its header CRC and every segment CRC recomputed, as far as its framing
    can be followed (v1 or v2; anything that does not parse is left as it is).  The
    sample CRC-32 of a lossless stream and the symbol CRCs of lossy tiles are not touched.
    """
    if len(data) < 12 or data[:8] != MAGIC:
        return data
    b = bytearray(data)
    major = b[8]
    if major == 1:
        body_len, start = struct.unpack_from("<H", b, 10)[0], 12
    elif major == 2:
        r = read_varint(b, 10)
        if r is None:
            return data
        body_len, start = r
    else:
        return data
    end = start + body_len
    if end + 4 > len(b):
        return data
    struct.pack_into("<I", b, end, zlib.crc32(b[:end]))
    pos = end + 4
    while pos + 5 <= len(b):
        tag = bytes(b[pos:pos + 4])
        head = _segment_head(b, pos, major)
        if head is None:
            break
        length, s = head
        e = s + length
        if e + 4 > len(b):
            break
        struct.pack_into("<I", b, e, zlib.crc32(b[pos:e]))
        pos = e + 4
        if tag == b"MEND":
            break
    return bytes(b)


class Parsed:
    """A leniently parsed stream that can be edited and written back with right lengths
    and CRCs: version bytes, header fields, extra body bytes, (tag, payload) segments and
    the bytes after ``MEND``."""

    def __init__(self, major: int, minor: int, fields: list[int], extra: bytes,
                 segments: list[list[bytes]], tail: bytes) -> None:
        self.major, self.minor, self.fields, self.extra = major, minor, fields, extra
        self.segments, self.tail = segments, tail

    @classmethod
    def parse(cls, data: bytes) -> "Parsed | None":
        if len(data) < 12 or data[:8] != MAGIC or data[8] not in (1, 2):
            return None
        major, minor = data[8], data[9]
        if major == 1:
            body_len, start = struct.unpack_from("<H", data, 10)[0], 12
            if body_len < V1_BODY.size or start + body_len + 4 > len(data):
                return None
            fields = list(V1_BODY.unpack_from(data, start))
            extra = bytes(data[start + V1_BODY.size:start + body_len])
        else:
            r = read_varint(data, 10)
            if r is None:
                return None
            body_len, start = r
            if start + body_len + 4 > len(data):
                return None
            fields, p = [], start
            for _ in HEADER_FIELDS:
                r = read_varint(data, p)
                if r is None or r[1] > start + body_len:
                    return None
                fields.append(r[0])
                p = r[1]
            extra = bytes(data[p:start + body_len])
        pos = start + body_len + 4
        segments: list[list[bytes]] = []
        while pos + 5 <= len(data):
            tag = bytes(data[pos:pos + 4])
            head = _segment_head(data, pos, major)
            if head is None:
                break
            length, s = head
            if s + length + 4 > len(data):
                break
            segments.append([tag, bytes(data[s:s + length])])
            pos = s + length + 4
            if tag == b"MEND":
                break
        return cls(major, minor, fields, extra, segments, bytes(data[pos:]))

    def dump(self) -> bytes:
        if self.major == 1:
            vals = [min(max(v, 0), TYPE_MAX[c]) for v, (_, c) in zip(self.fields, HEADER_FIELDS)]
            body = V1_BODY.pack(*vals) + self.extra
            prefix = MAGIC + bytes((1, self.minor)) + struct.pack("<H", min(len(body), 0xFFFF))
        else:
            body = b"".join(varint(max(v, 0)) for v in self.fields) + self.extra
            prefix = MAGIC + bytes((2, self.minor)) + varint(len(body))
        out = [prefix, body, struct.pack("<I", zlib.crc32(prefix + body))]
        for tag, payload in self.segments:
            head = tag + (struct.pack("<I", len(payload)) if self.major == 1
                          else varint(len(payload)))
            out += [head, payload, struct.pack("<I", zlib.crc32(head + payload))]
        out.append(self.tail)
        return b"".join(out)


#: values that sit on the decisions a decoder makes about a header field
INTERESTING = (0, 1, 2, 3, 4, 7, 8, 9, 12, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 255,
               256, 511, 512, 513, 1023, 1024, 2047, 2048, 4095, 4096, 32767, 32768, 65535,
               65536, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 1 << 22, 1 << 24, 1 << 30,
               (1 << 31) - 1, 1 << 31, (1 << 32) - 1)


def structured_mutate(data: bytes, rng: random.Random,
                      mutate: Callable[[bytes, int], bytes] | None = None) -> bytes | None:
    """One stream-aware edit of ``data`` with lengths and CRCs rewritten (or None if ``data``
    does not parse): a header field set to an interesting value or nudged, a segment's
    payload mutated by ``mutate(payload, max_size)`` (default: a few random byte edits),
    or segments dropped, duplicated, swapped, re-tagged, or the stream version switched."""
    p = Parsed.parse(data)
    if p is None:
        return None
    mutate = mutate or (lambda b, n: bytes(random_edit(b, rng)))
    k = rng.random()
    if k < 0.4 or not p.segments:
        i = rng.randrange(len(HEADER_FIELDS))
        code = HEADER_FIELDS[i][1]
        r = rng.random()
        if r < 0.6:
            v = rng.choice(INTERESTING)
        elif r < 0.9:
            v = p.fields[i] + rng.choice((-1, 1, -2, 2, 8, -8))
        else:
            v = rng.randrange(TYPE_MAX[code] + 1)
        if p.major == 1 or rng.random() < 0.95:
            v = min(max(v, 0), TYPE_MAX[code])
        p.fields[i] = max(v, 0)
        if rng.random() < 0.1:  # drop the sample CRC flag so a wrong decode can come back
            p.fields[15] &= ~1
    elif k < 0.85:
        tiles = [s for s in p.segments if s[0] != b"MEND"] or p.segments
        seg = rng.choice(tiles)
        seg[1] = mutate(seg[1], max(64, 2 * len(seg[1])))
    else:
        segs = p.segments
        op = rng.randrange(6)
        j = rng.randrange(len(segs))
        if op == 0 and len(segs) > 1:
            del segs[j]
        elif op == 1:
            segs.insert(j, [segs[j][0], segs[j][1]])
        elif op == 2:
            i = rng.randrange(len(segs))
            segs[i], segs[j] = segs[j], segs[i]
        elif op == 3:
            segs.insert(j, [rng.choice((b"LMDL", b"LMDS", b"TILE", b"nOTE", b"ZZZZ")),
                            bytes(rng.randrange(256) for _ in range(rng.randrange(48)))])
        elif op == 4:
            p.major = 3 - p.major
        else:
            p.tail = bytes(rng.randrange(256) for _ in range(rng.randrange(4)))
    return p.dump()


def random_edit(data: bytes, rng: random.Random, n: int | None = None) -> bytearray:
    """A few random byte-level edits: bit flips, byte sets, truncation, insertion, deletion."""
    b = bytearray(data)
    for _ in range(n or rng.randint(1, 4)):
        op = rng.randrange(6)
        if not b:
            b.append(rng.randrange(256))
            continue
        i = rng.randrange(len(b))
        if op == 0:
            b[i] ^= 1 << rng.randrange(8)
        elif op == 1:
            b[i] = rng.choice((0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        elif op == 2:
            del b[i:]
        elif op == 3:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 4:
            del b[i:i + rng.randint(1, 8)]
        else:
            j = rng.randrange(len(b))
            b[i:i] = b[j:j + rng.randint(1, 16)]
    return b


def mutants(data: bytes, rng: random.Random, n: int) -> list[bytes]:
    """``n`` deterministic mutants of ``data`` (for the plain tests): raw edits, edits with
    the CRCs fixed, and stream-aware edits, in turn."""
    out = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            m = bytes(random_edit(data, rng))
        elif kind == 1:
            m = fix_crcs(bytes(random_edit(data, rng)))
        else:
            m = structured_mutate(data, rng) or fix_crcs(bytes(random_edit(data, rng)))
        out.append(m)
    return out
