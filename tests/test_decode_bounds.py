"""Decoder resource bounds (SPEC.md 4.1, issue #19 part 4).

A forged header of any size up to ``max_pixels`` over tiles that do not back it fails fast
and small; no valid stream is refused (the bound is exact, the quantized probabilities
are constriction's own); valid huge constant images still decode, in about their output's
memory; the DICOM plugin decodes with the caller's limit; the lossy positions cache is
bounded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest

import mic
from mic.bitstream.samples import crc32_combine, crc32_power, crc32_repeat
from mic.entropy.bounds import (
    MeteredDecoder, categorical_costs, check_words, quantized_probabilities, uniform_cost,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mic_test_helpers import load_forge  # noqa: E402

forge = load_forge()
ROOT = Path(__file__).resolve().parents[1]
FORMATS = ROOT / "formats"
#: what a forged stream may cost at most (wall seconds, growth of the peak RSS in MB)
MAX_SECONDS = 1.0
MAX_RSS_MB = 200


def _vector(name: str) -> bytes:
    return (FORMATS / name).read_bytes()


def _lossy(major: int, samples: int) -> bytes:
    """A committed lossy vector of model id 6 (the context model), stream version
    ``major``, ``samples`` samples per pixel."""
    meta = json.loads((FORMATS / "lossy" / "vectors.json").read_text())
    for v in meta["vectors"]:
        blob = (FORMATS / "lossy" / v["stream"]).read_bytes()
        i = mic.info(blob)
        if i.model_id == 6 and blob[8] == major and i.samples_per_pixel == samples:
            return blob
    pytest.skip(f"no lossy vector of model id 6, version {major}, {samples} samples")


def _zz(v: int) -> bytes:
    return forge.uvarint(2 * v if v >= 0 else -2 * v - 1)


#: a coded lossless plane with no words (kind 1, offset 0, maxval 1, 8x8 blocks)
UNWORDED = bytes([1, 0, 1, 3, 0, 0])


def _lossy_plane_v2(words: list[int]) -> bytes:
    """A v2 lossy tile: xform 0, lo 0, 11 bits, LL mean 0, CRC 0, the given words."""
    return bytes([0, 0, 11, 0, 0, 0, 0, 0]) + forge.uvarint(len(words)) + \
        np.asarray(words, "<u4").tobytes()


# ----------------------------------------------------------------------------- the bound
def _first_symbol(model: object, point: int) -> int:
    import constriction

    w = np.array([point >> 32, point & 0xFFFFFFFF], np.uint32)
    return int(constriction.stream.queue.RangeDecoder(w).decode(model, 1)[0])


def _probe(model: object, q: np.ndarray) -> None:
    """Every boundary of the quantized CDF ``q`` is where constriction's decoder changes
    symbol: at the start ``range = 2**64 - 1``, so a point ``p`` reads the quantile
    ``p // ((2**64 - 1) >> 24)``."""
    scale = ((1 << 64) - 1) >> 24
    left = np.concatenate(([0], np.cumsum(q)[:-1]))
    for s in range(1, len(q)):
        assert _first_symbol(model, int(left[s]) * scale) == s
        assert _first_symbol(model, int(left[s]) * scale - 1) == s - 1


def test_quantized_probabilities_are_constrictions():
    import constriction

    from mic.entropy.shape import _bank
    from mic.lossless import _tables_v1 as T
    from mic.lossy.model import available_models, load_model

    cat = constriction.stream.model.Categorical
    tables = [np.asarray(f, np.float64) / T.TOTAL for f in T.TOKEN_FREQS]
    d = np.asarray(T.CLASS_DELTA_FREQS, np.float64)
    tables.append(d / d.sum())
    banks = [_bank()] + [b for m in available_models()
                         for b in (load_model(m).ybank, load_model(m).zbank) if b is not None]
    for bank in banks:
        t = bank.tables
        for k in range(0, len(t.half), 9):
            f = t.flat[t.offsets[k]:t.offsets[k + 1]]
            if f.size <= 600:
                tables.append(f.astype(np.float64) / 2**20)
    for p in tables:
        q = quantized_probabilities(p)
        assert q.sum() == 1 << 24 and q.min() >= 1
        _probe(cat(p, perfect=False), q)
    for n in (2, 3, 12, 33, 96, 1000):
        per = (1 << 24) // n
        q = np.array([per] * (n - 1) + [(1 << 24) - (n - 1) * per])
        if n <= 96:
            _probe(constriction.stream.model.Uniform(n), q)
        assert uniform_cost(n) == pytest.approx(24 - np.log2(q.max()))


def test_n_words_carry_at_most_32n_bits():
    """The word bound on real encoder output: runs of the likeliest symbol (the tight
    case), samples of the model, uniform garbage; every prefix too."""
    import constriction

    from mic.lossless import _tables_v1 as T
    from mic.entropy.rangedec import cdf_of
    from mic.lossy.model import load_model

    rng = np.random.default_rng(4)
    probs = [np.asarray(f, np.float64) / T.TOTAL for f in T.TOKEN_FREQS[:6]]
    t = load_model("wavelet-context").ybank.tables
    probs += [t.flat[t.offsets[k]:t.offsets[k + 1]].astype(np.float64) / 2**20
              for k in (0, 1, 4, 20)]
    slack = []
    for i in range(300):
        p = probs[i % len(probs)]
        m = constriction.stream.model.Categorical(p, perfect=False)
        n = int(rng.choice([1, 3, 40, 2000, 200000]))
        sym = [np.full(n, int(np.argmax(p))), rng.choice(p.size, n, p=p / p.sum()),
               rng.integers(0, p.size, n)][i % 3].astype(np.int32)
        enc = constriction.stream.queue.RangeEncoder()
        enc.encode(sym, m)
        words = enc.get_compressed()
        info = categorical_costs(p)[sym]
        assert info.sum() <= 32 * len(words) + 1e-6
        slack.append(32 * len(words) - info.sum())
        # the decoder's meter accepts the real words and every prefix of their symbols
        dec = MeteredDecoder(words)
        c = cdf_of(p)
        got = np.concatenate([dec.decode(c, k) for k in np.diff(np.r_[0:n:max(1, n // 7), n])])
        for part in np.array_split(info, 7):
            dec.charge(float(part.sum()))
        assert np.array_equal(got, sym)
    assert min(slack) < 32  # tight: some messages use nearly all of their words' bits


def test_check_words_and_meter_refuse_too_little():
    check_words(1, 32.0, "x")
    with pytest.raises(mic.MicFormatError, match="cannot hold"):
        check_words(0, 2.0, "x")
    with pytest.raises(mic.MicFormatError, match="cannot hold"):
        check_words(10, 400.0, "x")
    dec = MeteredDecoder(np.zeros(2, np.uint32))
    dec.charge(64.0)
    with pytest.raises(mic.MicFormatError, match="more than its 2 words"):
        dec.charge(2.0)


def test_crc_algebra_matches_zlib():
    rng = np.random.default_rng(2)
    for _ in range(200):
        a = rng.bytes(int(rng.integers(0, 40)))
        b = rng.bytes(int(rng.integers(0, 40)))
        assert crc32_combine(zlib.crc32(a), zlib.crc32(b), len(b)) == zlib.crc32(a + b)
        blk = rng.bytes(int(rng.integers(1, 7)))
        n = int(rng.integers(0, 5000))
        c = int(rng.integers(0, 2**32))
        assert crc32_repeat(blk, n, c) == zlib.crc32(blk * n, c)
        if n:
            assert crc32_power(zlib.crc32(blk), len(blk), n) == zlib.crc32(blk * n)


# ----------------------------------------------------------------------------- forged streams
def _forged_cases() -> list[tuple[str, bytes]]:
    one = _vector("one_by_one_u16.mic")  # v1, a constant plane of 1234, 11 bits
    const = bytes(one[forge.spans(one)[0].mode_start:forge.spans(one)[0].payload_end])
    ct2 = _vector("ct_abdomen_u16_v2.mic")
    coded = _vector("bits10_u16.mic")  # v1, 31x33 coded
    rgb2 = _vector("rgb_frames_u8_v2.mic")  # v2, 2 frames of 16x16x3
    rgb_const = bytes([1]) + b"".join(bytes([0]) + _zz(v) for v in (100, 5, -7))
    ly1, ly2, lyrgb = _lossy(1, 1), _lossy(2, 1), _lossy(2, 3)
    g = forge.regrid
    return [
        ("const 1x1 as 4096^2 v1", g(one, rows=4096, cols=4096)),
        ("const 1x1 as 16384^2 v1", g(one, rows=16384, cols=16384)),
        ("const 1x1 as 32768^2 v1 (fuzz finding)", g(one, rows=32768, cols=32768)),
        ("const as 64 frames of 4096^2 v1", g(one, frames=64, layout=1, rows=4096, cols=4096)),
        ("const 16 tiles as 16384^2 v2", g(ct2, const, rows=16384, cols=16384, tile_rows=4096,
                                          tile_cols=4096)),
        ("const 1024 tiles as 32768^2 v2", g(ct2, const, rows=32768, cols=32768,
                                             tile_rows=1024, tile_cols=1024)),
        ("const RGB (colour transform) 16384^2 v2", g(rgb2, rgb_const, frames=1, rows=16384,
                                                      cols=16384)),
        ("coded 31x33 as 8192^2 v1", g(coded, rows=8192, cols=8192)),
        ("coded 31x33 as 32768^2 v1", g(coded, rows=32768, cols=32768)),
        ("coded 31x33 as 64 tiles of 4096^2 v1", g(coded, rows=32768, cols=32768,
                                                   tile_rows=4096, tile_cols=4096)),
        ("unworded plane 32768^2 v1", g(one, bytes([0]) + UNWORDED, rows=32768, cols=32768)),
        ("unworded 16 tiles 16384^2 v2", g(ct2, bytes([0]) + UNWORDED, rows=16384, cols=16384,
                                          tile_rows=4096, tile_cols=4096)),
        ("unworded RGB 2 frames 8192^2 v2", g(rgb2, bytes([0]) + UNWORDED * 3, rows=8192,
                                             cols=8192)),
        ("RGB frames as 2 x 8192^2 v2", g(rgb2, rows=8192, cols=8192)),
        ("lossy one tile as 32768^2 v2", g(ly2, rows=32768, cols=32768, tile_rows=0,
                                           tile_cols=0)),
        ("lossy one tile as 8192^2 v2", g(ly2, rows=8192, cols=8192, tile_rows=0, tile_cols=0)),
        ("lossy tiles as 16384^2 in 2048^2 v1", g(ly1, rows=16384, cols=16384, tile_rows=2048,
                                                  tile_cols=2048)),
        ("lossy unworded 2048^2 v2", g(ly2, _lossy_plane_v2([]), rows=2048, cols=2048,
                                       tile_rows=0, tile_cols=0)),
        ("lossy one zero word 2048^2 v2", g(ly2, _lossy_plane_v2([0]), rows=2048, cols=2048,
                                            tile_rows=0, tile_cols=0)),
        ("lossy 3 zero words 4096^2 v2", g(ly2, _lossy_plane_v2([0, 0, 0]), rows=4096,
                                           cols=4096, tile_rows=0, tile_cols=0)),
        ("lossy 3 garbage words 4096^2 v2",
         g(ly2, _lossy_plane_v2([0x12345678, 0x9ABCDEF0, 0x0F1E2D3C]), rows=4096, cols=4096,
           tile_rows=0, tile_cols=0)),
        ("lossy 100000 zero words 16384^2 v2", g(ly2, _lossy_plane_v2([0] * 100000),
                                                 rows=16384, cols=16384, tile_rows=0,
                                                 tile_cols=0)),
        ("lossy RGB as 16384^2 v2", g(lyrgb, rows=16384, cols=16384, tile_rows=0, tile_cols=0)),
    ]


CHILD = textwrap.dedent("""
    import json, resource, sys, time
    import mic
    for w in sys.argv[2:]:  # warm-up: imports, Numba, the lossy model
        mic.decode(open(w, "rb").read())
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = []
    for path in open(sys.argv[1]).read().split():
        data = open(path, "rb").read()
        t = time.perf_counter()
        try:
            mic.decode(data)
            err = None
        except mic.MicError as exc:
            err = type(exc).__name__ + ": " + str(exc)[:80]
        out.append({"error": err, "s": time.perf_counter() - t,
                    "rss_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024})
    print(json.dumps(out))
""")


def _run_child(paths: list[Path], tmp_path: Path, warm: list[Path]) -> list[dict]:
    lst = tmp_path / "list.txt"
    lst.write_text("\n".join(str(p) for p in paths))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT),
                                                        os.environ.get("PYTHONPATH", "")])}
    p = subprocess.run([sys.executable, "-c", CHILD, str(lst)] + [str(w) for w in warm],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_forged_headers_fail_fast_and_small(tmp_path):
    """Each forged stream (up to the default max_pixels, 2**30 samples) raises a MicError
    subclass in under a second, and all of them together raise the peak RSS by under
    200 MB (measured in a fresh process, after a warm-up)."""
    cases = _forged_cases()
    paths = []
    for i, (_, blob) in enumerate(cases):
        paths.append(tmp_path / f"case{i}.mic")
        paths[-1].write_bytes(blob)
    for _, blob in cases:
        i = mic.info(blob)
        assert i.frames * i.rows * i.cols * i.samples_per_pixel <= mic.DEFAULT_MAX_PIXELS
    warm = [FORMATS / "ct_abdomen_u16.mic", FORMATS / "rgb_frames_u8_v2.mic",
            *(FORMATS / "lossy" / v["stream"] for v in
              json.loads((FORMATS / "lossy" / "vectors.json").read_text())["vectors"][:1])]
    res = _run_child(paths, tmp_path, warm)
    report = "\n".join(f"{n}: {r}" for (n, _), r in zip(cases, res))
    for (name, _), r in zip(cases, res):
        assert r["error"] is not None, f"{name} decoded\n{report}"
        assert r["s"] < MAX_SECONDS, f"{name} took {r['s']:.2f} s\n{report}"
        # the class the full decode would raise in the end, only sooner
        want = "MicChecksumError" if name.startswith("const") else "MicFormatError"
        assert r["error"].split(":")[0] == want, f"{name}: {r['error']}"
    assert max(r["rss_mb"] for r in res) < MAX_RSS_MB, report


# ----------------------------------------------------------------------------- valid streams
def test_valid_huge_constant_images_decode_in_their_output(tmp_path):
    """16384 x 16384 constant images, lossless (one tile, v1; 64 tiles of different values,
    v2) and lossy (whole-tile regions): they decode, with the peak RSS growing by about
    the output (256 MB) and no more."""
    one8 = mic.encode(np.array([[77]], np.uint8), stream_version=1)
    n = 16384
    crc = crc32_repeat(b"\x4d", n * n)
    a = forge.regrid(one8, rows=n, cols=n, sample_crc32=crc)
    # 64 tiles of 2048^2, tile k holding the value k: the CRC of the whole image, built row
    # by row of tiles (each row of the image repeats down its band of tiles)
    tiles = []
    for k in range(64):
        blob = mic.encode(np.array([[k]], np.uint8))
        s = forge.spans(blob)[0]
        tiles.append(bytes(blob[s.mode_start:s.payload_end]))
    crc2 = 0
    for ty in range(8):
        row = b"".join(bytes([ty * 8 + tx]) * 2048 for tx in range(8))
        crc2 = crc32_repeat(row, 2048, crc2)
    b = forge.regrid(mic.encode(np.array([[0]], np.uint8)), tiles, rows=n, cols=n,
                     tile_rows=2048, tile_cols=2048, bits_stored=8, sample_crc32=crc2)
    lossy = mic.encode(np.full((64, 64), 200, np.uint8), quality=0, regions=True)
    c = forge.regrid(lossy, rows=n, cols=n, tile_rows=0, tile_cols=0)
    d = forge.regrid(lossy, rows=n, cols=n, tile_rows=4096, tile_cols=4096)
    child = textwrap.dedent("""
        import json, resource, sys, time
        import numpy as np, mic
        mic.decode(open(sys.argv[5], "rb").read())  # warm-up (the lossy model)
        out = []
        for path in sys.argv[1:5]:
            base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            t = time.perf_counter()
            a = mic.decode(open(path, "rb").read())
            s = time.perf_counter() - t
            rss = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base) / 1024
            tiles = [int(a[i * 2048, j * 2048]) for i in range(8) for j in range(8)]
            ok = all(int(a[i * 2048:(i + 1) * 2048, j * 2048:(j + 1) * 2048].min()) ==
                     int(a[i * 2048:(i + 1) * 2048, j * 2048:(j + 1) * 2048].max())
                     for i in range(8) for j in range(8))
            out.append({"shape": a.shape, "dtype": str(a.dtype), "tiles": tiles, "flat": ok,
                        "s": s, "rss_mb": rss})
            del a
        print(json.dumps(out))
    """)
    paths = []
    for i, blob in enumerate((a, b, c, d)):
        paths.append(tmp_path / f"v{i}.mic")
        paths[-1].write_bytes(blob)
    warm = tmp_path / "warm.mic"
    warm.write_bytes(lossy)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT),
                                                        os.environ.get("PYTHONPATH", "")])}
    p = subprocess.run([sys.executable, "-c", child] + [str(x) for x in paths] + [str(warm)],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    res = json.loads(p.stdout.strip().splitlines()[-1])
    want_tiles = [[77] * 64, list(range(64)), [200] * 64, [200] * 64]
    for r, want in zip(res, want_tiles):
        assert r["shape"] == [n, n] and r["dtype"] == "uint8" and r["flat"], r
        assert r["tiles"] == want, r
        assert r["rss_mb"] < 256 + 64, r  # the output (256 MB) and next to nothing else
        assert r["s"] < 10, r


def test_constant_tiles_decode_and_windows():
    """An image of constant tiles of different values (the CRC computed from the tile
    values) decodes, whole and by windows; its corrupted CRC is refused."""
    a = np.zeros((37, 45, 3), np.uint8)
    for i in range(0, 37, 16):
        for j in range(0, 45, 10):
            a[i:i + 16, j:j + 10] = (i + j, 2 * i, 255 - j)
    blob = mic.encode(a, tile=(16, 10))
    assert np.array_equal(mic.decode(blob), a)
    assert np.array_equal(mic.decode(blob, region=(5, 30, 7, 33)), a[5:30, 7:33])
    bad = forge.set_header_fields(mic.encode(a, tile=(16, 10), stream_version=1),
                                  sample_crc32=mic.info(blob).sample_crc32 ^ 1)
    with pytest.raises(mic.MicChecksumError):
        mic.decode(bad)
    assert np.array_equal(mic.decode(bad, region=(0, 37, 0, 44)), a[:, :44])  # no CRC


def test_colour_transform_with_constant_and_coded_planes():
    """The in-place inverse colour transform, with each of Y, U, V constant or coded."""
    from mic.lossless.decoder import LosslessTileDecoder
    from mic.lossless.encoder import encode_plane
    from mic.lossless.syntax import XFORM_RCT

    rng = np.random.default_rng(3)
    y = rng.integers(0, 200, (9, 11)).astype(np.int32)
    u = rng.integers(-20, 20, (9, 11)).astype(np.int32)
    v = rng.integers(-20, 20, (9, 11)).astype(np.int32)
    h = mic.bitstream.Header(mode=0, model_id=1, coder_id=1, bits_allocated=16, signed=1,
                             bits_stored=16, photometric=2, layout=2, samples=3, frames=1,
                             rows=9, cols=11)
    dec = LosslessTileDecoder(h, None)
    for mask in range(8):
        planes = [p if not mask >> i & 1 else np.full_like(p, int(p[0, 0]))
                  for i, p in enumerate((y, u, v))]
        payload = bytes([XFORM_RCT]) + b"".join(encode_plane(p) for p in planes)
        yy, uu, vv = planes
        g = yy - ((uu + vv) >> 2)
        want = np.stack([uu + g, g, vv + g], -1)
        assert np.array_equal(dec.decode_tile(memoryview(payload), 9, 11), want), mask
        out = np.empty((9, 11, 3), np.int16)
        dec.decode_into(memoryview(payload), 9, 11, out)
        assert np.array_equal(out, want), mask
        value = dec.check_tile(memoryview(payload), 9, 11)
        assert (value is not None) == (mask == 7)
        if value is not None:
            assert list(value) == want[0, 0].tolist()


# ----------------------------------------------------------------------------- DICOM, caches
class _Runner:
    """The attributes of a pydicom DecodeRunner the mic frame decoder reads."""

    def __init__(self, rows: int, cols: int, spp: int = 1, **opts) -> None:
        self.rows, self.columns, self.samples_per_pixel = rows, cols, spp
        self.pixel_representation = 0
        self.pixel_dtype = np.dtype("<u2")
        self.opts = opts

    def get_option(self, name, default=None):
        return self.opts.get(name, default)

    def set_option(self, name, value):
        self.opts[name] = value


def test_dicom_frame_uses_the_callers_limit():
    from mic.dicom import _plugin

    img = (np.arange(100 * 100) % 4000).astype(np.uint16).reshape(100, 100)
    blob = mic.encode(img)
    out = _plugin._decode_frame(blob, _Runner(100, 100))
    assert np.array_equal(np.frombuffer(out, "<u2").reshape(100, 100), img)
    with pytest.raises(mic.MicLimitError):  # the caller's limit, not the dataset's
        _plugin._decode_frame(blob, _Runner(100, 100, max_pixels=5000))
    with pytest.raises(mic.MicInputError):
        _plugin._decode_frame(blob, _Runner(100, 100, max_pixels=0))
    # a dataset claiming 65536 x 32768 cannot lift the library default (2**30)
    big = forge.regrid(_vector("one_by_one_u16.mic"), rows=65535, cols=32768)
    with pytest.raises(mic.MicLimitError):
        _plugin._decode_frame(big, _Runner(65535, 32768))
    # nor can one claiming exactly the forged frame's size get past the bounds
    with pytest.raises(mic.MicChecksumError):
        _plugin._decode_frame(_vector("invalid/forged_constant_plane_32768.mic"),
                              _Runner(32768, 32768))


def test_lossy_positions_cache_is_bounded():
    from mic.lossy import passes

    p = passes.Planes.__new__(passes.Planes)
    for h in range(1, 400, 3):  # many shapes: the cache keeps within its byte budget
        ii, jj = p._positions(h * 7, h * 5 + 3, h % 2)
        assert ii.size == jj.size == (h * 7 * (h * 5 + 3) + (h % 2 == 0)) // 2
        assert passes.positions_cache_bytes() <= passes.POSITIONS_CACHE_BYTES
    ii, jj = p._positions(4, 5, 0)
    assert ii.tolist()[:4] == [0, 0, 0, 1] and jj.tolist()[:4] == [0, 2, 4, 1]
    assert p._positions(4, 5, 0)[0] is ii  # cached
