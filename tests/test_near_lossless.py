"""Near-lossless coding (mode 2, SPEC.md section 7; issue #22 item 4): the bound, the
encoder's reconstruction, the stream, bad input, ``mic info``, the CLI, DICOM and the bench."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mic
from mic.bitstream import iter_tiles, unpack_header
from mic.cli import main
from mic.io import read_image
from mic.lossless.encoder import LosslessTileEncoder
from mic_test_helpers import load_forge, tile_payloads

DATA = Path(__file__).parent / "data"
KS = (1, 2, 3, 5)


def _every_test_image() -> list[tuple[str, np.ndarray]]:
    """Every image under tests/data: the PNG/NPY files, the bench crops, and each DICOM
    file's stored values (all frames)."""
    out = []
    for p in sorted(DATA.glob("*.png")) + sorted(DATA.glob("*.npy")) \
            + sorted((DATA / "bench").rglob("*.png")) + sorted((DATA / "dicom").glob("*.dcm")):
        arr, _ = read_image(p)
        out.append((str(p.relative_to(DATA)), np.ascontiguousarray(arr)))
    return out


IMAGES = _every_test_image()


def _err(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int64) - b.astype(np.int64)).max())


# ----------------------------------------------------------------------------- the bound
@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("name,arr", IMAGES, ids=[n for n, _ in IMAGES])
def test_every_test_image_within_k(name, arr, k):
    assert len(IMAGES) >= 12
    blob = mic.encode(arr, max_error=k)
    out = mic.decode(blob)
    assert out.dtype == arr.dtype and out.shape == arr.shape
    assert _err(out, arr) <= k
    i = mic.info(blob)
    assert (i.mode, i.max_error, i.model_id, i.model) == ("near-lossless", k, 23,
                                                          "near-lossless-fast-compact")


def test_near_lossless_is_smaller_than_lossless_and_shrinks_with_k():
    ct = read_image(DATA / "ct_abdomen_u16.png")[0]
    sizes = [len(mic.encode(ct, max_error=k)) for k in (0, 1, 2, 4, 8)]
    assert sizes == sorted(sizes, reverse=True) and sizes[1] < 0.9 * sizes[0]


def _generated(kind: str, dtype, shape, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    if kind == "noise":
        a = rng.integers(info.min, info.max, shape, endpoint=True)
    elif kind == "smooth":
        a = np.cumsum(rng.integers(-3, 4, shape), axis=-1) + (info.min + info.max) // 2
    elif kind == "extremes":
        a = rng.choice([info.min, info.max, info.min + 1, info.max - 1], shape)
    elif kind == "sparse":
        a = rng.choice(rng.integers(info.min, info.max, 6, endpoint=True), shape)
    else:
        a = np.full(shape, rng.integers(info.min, info.max, endpoint=True))
    return np.clip(a, info.min, info.max).astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16])
@pytest.mark.parametrize("kind", ["noise", "smooth", "extremes", "sparse", "const"])
def test_generated_images_within_k(dtype, kind):
    a = _generated(kind, dtype, (23, 31), 5)
    for k in KS:
        out = mic.decode(mic.encode(a, max_error=k))
        assert _err(out, a) <= k, (kind, k)


def test_largest_k_and_clamping_at_both_ends():
    a = np.array([[0, 65535] * 8, [65535, 0] * 8] * 6, np.uint16)
    k = (1 << 15) - 1
    out = mic.decode(mic.encode(a, max_error=k))
    assert _err(out, a) <= k and 0 <= int(out.min()) and int(out.max()) <= 65535
    s = np.array([[-128, 127, 0, -1]] * 5, np.int8)
    assert _err(mic.decode(mic.encode(s, max_error=127)), s) <= 127


def test_a_plane_spanning_at_most_2k_is_one_constant():
    a = (1000 + np.random.default_rng(1).integers(0, 7, (64, 64))).astype(np.uint16)
    blob = mic.encode(a, max_error=3)
    assert len(blob) < 80 and _err(mic.decode(blob), a) <= 3
    assert tile_payloads(blob)[0][1] == 0  # plane kind 0 (SPEC 7.2)


def test_sparse_histograms_never_cost_more_than_lossless():
    """SPEC 7.2: a palette plane's indices carry k' = k // (largest gap), so data on every
    4th value at k < 4 codes as the lossless palette (exact), and never larger."""
    ct = read_image(DATA / "ct_abdomen_u16.png")[0]
    lattice = ct * 4
    lossless = len(mic.encode(lattice, fast_nlms=False))  # model 13: model 12's planes at k = 0
    for k in (1, 2, 3, 4, 8):
        blob = mic.encode(lattice, max_error=k)
        assert len(blob) <= lossless + 10 and _err(mic.decode(blob), lattice) <= k  # + NEAR
    blob = mic.encode(lattice, max_error=1)  # model id 19: kind 6, kind 5's palette
    assert tile_payloads(blob)[0][1] == 6 and np.array_equal(mic.decode(blob), lattice)
    blob = mic.encode(lattice, max_error=1, fast_nlms=False)  # model id 12: kind 2
    assert tile_payloads(blob)[0][1] == 2 and np.array_equal(mic.decode(blob), lattice)
    ramp = np.add.outer(np.arange(40), np.arange(40)) // 2
    a = ((ramp + np.random.default_rng(7).integers(0, 2, ramp.shape)) * 4).astype(np.uint16)
    for fast_nlms, kind in ((None, 6), (False, 2)):  # model ids 19 and 12
        blob = mic.encode(a, max_error=4, fast_nlms=fast_nlms)  # k' = 1: index errors of one
        out = mic.decode(blob)  # step, value errors 4
        assert tile_payloads(blob)[0][1] == kind and _err(out, a) <= 4
        assert not np.array_equal(out, a)


# ----------------------------------------------------------------------------- layouts
def test_tiles_frames_rgb_signed():
    ct = read_image(DATA / "ct_abdomen_u16.png")[0]
    lung = read_image(DATA / "ct_lung_i16.npy")[0]
    rgb = read_image(DATA / "us_breast_rgb.png")[0]
    frames = np.stack([ct[:100, :90], ct[100:200, :90], ct[50:150, 100:190]])
    cases = [(ct, dict(tile=(64, 50))), (lung, dict(tile=37)), (lung, dict(bits_stored=16)),
             (frames, {}), (frames, dict(tile=32)), (rgb, {}), (rgb, dict(tile=100)),
             (np.stack([rgb[:64, :64], rgb[64:128, :64]]), {}),
             (ct, dict(stream_version=1))]
    for a, kw in cases:
        for k in (1, 4):
            blob = mic.encode(a, max_error=k, **kw)
            out = mic.decode(blob)
            assert out.shape == a.shape and out.dtype == a.dtype and _err(out, a) <= k, kw
            assert mic.decode(blob, threads=2).tobytes() == out.tobytes()


def test_rgb_picks_the_green_difference_transform_on_grey_ultrasound():
    """SPEC 7.3: xform 2 (G near-lossless, exact R - G, B - G) wins on grey-with-overlay
    RGB; noise keeps xform 0; both decode within k."""
    rgb = read_image(DATA / "us_breast_rgb.png")[0]
    noise = np.random.default_rng(2).integers(0, 256, (32, 32, 3)).astype(np.uint8)
    for a, want in ((rgb, 2), (noise, 0)):
        blob = mic.encode(a, max_error=2)
        assert tile_payloads(blob)[0][0] == want
        assert _err(mic.decode(blob), a) <= 2
    # xform 2 beats coding the three planes alone by far on this image
    plain = sum(len(mic.encode(np.ascontiguousarray(rgb[..., c]), max_error=2)) for c in range(3))
    assert len(mic.encode(rgb, max_error=2)) < 0.6 * plain


def test_region_decode_matches_the_full_decode():
    ct = read_image(DATA / "ct_abdomen_u16.png")[0]
    blob = mic.encode(ct, max_error=2, tile=64)
    full = mic.decode(blob)
    assert np.array_equal(mic.decode(blob, region=(30, 150, 70, 200)), full[30:150, 70:200])


# ----------------------------------------------------------------------------- determinism
def test_deterministic_and_thread_independent():
    ct = read_image(DATA / "ct_abdomen_u16.png")[0]
    a = mic.encode(ct, max_error=3, tile=64)
    assert mic.encode(ct, max_error=3, tile=64) == a
    assert mic.encode(ct, max_error=3, tile=64, threads=3) == a


def test_zero_or_none_is_lossless_byte_for_byte():
    ct = read_image(DATA / "ct_abdomen_u16.png")[0]
    blob = mic.encode(ct)
    assert mic.encode(ct, max_error=0) == blob == mic.encode(ct, max_error=None)
    assert mic.encode(ct, max_error=np.int64(0)) == blob
    assert mic.info(blob).max_error == 0 and mic.info(blob).mode == "lossless"


def _encoder_reconstruction(a: np.ndarray, blob: bytes, k: int) -> np.ndarray:
    """The samples the encoder itself reconstructs, tile by tile (LosslessTileEncoder writes
    them into the tile it codes), laid out as mic.encode lays them out."""
    h, _ = unpack_header(blob)
    v = a.reshape(h.frames, h.rows, h.cols, h.samples)
    rec = np.empty(v.shape, np.int64)
    enc = LosslessTileEncoder(h.__class__(**{**h.as_dict(), "mode": 0}), near=k)
    for fi in range(h.frames):
        for _, r0, r1, c0, c1 in iter_tiles(h):
            t = np.ascontiguousarray(v[fi, r0:r1, c0:c1, :], dtype=np.int32)
            enc.encode_tile(t)
            rec[fi, r0:r1, c0:c1, :] = t
    return rec.reshape(a.shape)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dtype=st.sampled_from([np.uint8, np.uint16, np.int8, np.int16]),
    shape=st.sampled_from([(1, 1), (1, 9), (7, 1), (5, 6), (13, 17), (6, 7, 3), (2, 5, 4),
                           (2, 4, 3, 3), (33, 20)]),
    kind=st.sampled_from(["noise", "smooth", "sparse", "extremes", "const"]),
    tile=st.sampled_from([None, 4, (3, 8)]),
    k=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_bound_and_decoder_equals_encoder_reconstruction(dtype, shape, kind, tile, k,
                                                                   seed):
    a = _generated(kind, dtype, shape, seed)
    pm = "MONOCHROME2" if len(shape) == 3 and shape[-1] != 3 else None
    bits = np.iinfo(dtype).bits
    k = min(k, (1 << (bits - 1)) - 1)
    blob = mic.encode(a, max_error=k, tile=tile, photometric=pm, bits_stored=bits)
    out = mic.decode(blob)  # checks the sample CRC-32 the encoder took of its reconstruction
    assert out.dtype == a.dtype and out.shape == a.shape
    assert _err(out, a) <= k
    assert np.array_equal(out.astype(np.int64), _encoder_reconstruction(a, blob, k))
    assert mic.info(blob).sample_crc32 == mic.codec.samples_crc32(out)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("bad", [-1, 1.0, 2.5, True, False, "2", [1], 2048, 4096])
def test_bad_max_error_is_refused(bad):
    ct = read_image(DATA / "ct_abdomen_u16.png")[0]  # 12 bits used: k < 2048
    with pytest.raises(mic.MicInputError):
        mic.encode(ct, max_error=bad)


def test_bound_follows_bits_stored():
    a = (np.arange(64, dtype=np.uint16).reshape(8, 8) * 50)  # 12 bits used
    mic.encode(a, max_error=2047)
    with pytest.raises(mic.MicInputError):
        mic.encode(a, max_error=2048)
    assert mic.info(mic.encode(a, max_error=2048, bits_stored=13)).max_error == 2048
    with pytest.raises(mic.MicInputError):  # 1-bit data has no near-lossless mode
        mic.encode(np.array([[0, 1], [1, 0]], np.uint8), max_error=1)
    with pytest.raises(mic.MicInputError):
        mic.encode(np.zeros((4, 4), np.int8) - 1, max_error=1, bits_stored=1)


def test_max_error_with_quality_is_refused():
    a = np.zeros((16, 16), np.uint8)
    for k in (0, 1):
        with pytest.raises(mic.MicInputError, match="quality"):
            mic.encode(a, max_error=k, quality=3)
    with pytest.raises(mic.MicInputError):
        mic.encode(a, max_error=1, model="wavelet-context")


# ----------------------------------------------------------------------------- stream
def test_stream_fields_and_near_segment():
    ct = read_image(DATA / "ct_abdomen_u16.png")[0]
    blob = mic.encode(ct, max_error=5)
    h, _ = unpack_header(blob)
    assert (h.mode, h.model_id, h.coder_id, h.quality, h.flags & 1) == (2, 23, 1, 0, 1)
    spans = load_forge().spans(blob)
    tags = [s.tag for s in spans]
    assert tags[0] == b"NEAR" and tags.count(b"NEAR") == 1
    assert blob[spans[0].payload_start:spans[0].payload_end] == b"\x05"


def test_corruption_never_decodes_silently():
    """Every single-bit flip of a small mode-2 stream either raises a MicError or (bytes
    after MEND) changes nothing: never different samples."""
    a = (np.add.outer(np.arange(12), np.arange(10)) * 37 % 700).astype(np.uint16)
    blob = mic.encode(a, max_error=2)
    good = mic.decode(blob)
    for i in range(len(blob)):
        for bit in (0, 3, 7):
            bad = bytearray(blob)
            bad[i] ^= 1 << bit
            try:
                out = mic.decode(bytes(bad))
            except mic.MicError:
                continue
            assert np.array_equal(out, good), (i, bit)


# ----------------------------------------------------------------------------- info, CLI
def test_info_max_error_per_mode():
    a = np.arange(64, dtype=np.uint8).reshape(8, 8)
    assert mic.info(mic.encode(a)).max_error == 0
    assert mic.info(mic.encode(a, max_error=4)).max_error == 4
    try:
        lossy = mic.encode(np.tile(a, (8, 8)), quality=0)
    except mic.MicUnsupportedError:
        pytest.skip("no lossy mode in this build")
    assert mic.info(lossy).max_error is None


def _run(*args):
    return CliRunner().invoke(main, [str(x) for x in args], catch_exceptions=False)


def test_cli_encode_info_verify(tmp_path):
    src = DATA / "ct_abdomen_u16.png"
    out = tmp_path / "ct.mic"
    r = _run("encode", src, out, "--max-error", 3)
    assert r.exit_code == 0, r.output
    assert "near-lossless k=3" in r.output
    ct = read_image(src)[0]
    assert _err(mic.decode(out.read_bytes()), ct) <= 3
    r = _run("info", out)
    assert r.exit_code == 0 and "near-lossless" in r.output
    assert any(line.split() == ["max_error", "3"] for line in r.output.splitlines())
    r = _run("info", out, "--json")
    d = json.loads(r.output)
    assert d["mode"] == "near-lossless" and d["max_error"] == 3 and d["quality"] is None
    r = _run("verify", out)
    assert r.exit_code == 0 and "near-lossless k=3" in r.output
    lossless = tmp_path / "l.mic"
    assert _run("encode", src, lossless, "--max-error", 0).exit_code == 0
    assert json.loads(_run("info", lossless, "--json").output)["max_error"] == 0


def test_cli_bad_max_error(tmp_path):
    src = DATA / "ct_abdomen_u16.png"
    r = CliRunner().invoke(main, ["encode", str(src), str(tmp_path / "a.mic"), "--max-error",
                                  "-1"])
    assert r.exit_code == 2
    r = CliRunner().invoke(main, ["encode", str(src), str(tmp_path / "b.mic"), "--max-error",
                                  "2", "--quality", "3"])
    assert r.exit_code == 2 and "--max-error" in r.output
    r = CliRunner().invoke(main, ["encode", str(src), str(tmp_path / "c.mic"), "--max-error",
                                  "2048"])
    assert r.exit_code == 1 and "max_error" in r.output


# ----------------------------------------------------------------------------- DICOM
def _dicom_cs_ok(value: str) -> bool:
    return len(value) <= 16 and all(c.isupper() or c.isdigit() or c in " _" for c in value)


def test_dicom_compress_near_lossless_sets_the_lossy_attributes():
    pydicom = pytest.importorskip("pydicom")
    import mic.dicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    before, uid = ds.pixel_array.copy(), ds.SOPInstanceUID
    mic.dicom.compress(ds, max_error=2)
    assert ds.file_meta.TransferSyntaxUID == mic.dicom.MIC_TRANSFER_SYNTAX
    assert ds.LossyImageCompression == "01"
    assert ds.LossyImageCompressionMethod == "MIC_NEAR_K2" == mic.dicom.near_method(2)
    assert _dicom_cs_ok(str(ds.LossyImageCompressionMethod)) and _dicom_cs_ok(
        mic.dicom.near_method((1 << 15) - 1))
    assert float(ds.LossyImageCompressionRatio) > 1 and ds.SOPInstanceUID != uid
    assert _err(ds.pixel_array, before) <= 2
    frag = next(iter(__import__("pydicom").encaps.generate_fragmented_frames(ds.PixelData)))[0]
    assert mic.info(frag).max_error == 2


def test_dicom_cli_max_error(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    src = get_testdata_file("CT_small.dcm")
    out = tmp_path / "ct.dcm"
    r = CliRunner().invoke(main, ["dicom", "compress", "--max-error", "1", src, str(out)])
    assert r.exit_code == 0, r.output
    ds = pydicom.dcmread(out)
    assert ds.LossyImageCompression == "01" and ds.LossyImageCompressionMethod == "MIC_NEAR_K1"
    assert _err(ds.pixel_array, pydicom.dcmread(src).pixel_array) <= 1
    r = CliRunner().invoke(main, ["dicom", "compress", "--max-error", "1", "-q", "2", src,
                                  str(tmp_path / "x.dcm")])
    assert r.exit_code == 2


# ----------------------------------------------------------------------------- bench
def test_bench_compares_mic_near_and_jpegls_at_equal_k():
    pytest.importorskip("imagecodecs")
    from mic.eval.codecs import all_codecs
    from mic.eval.data import make_image
    from mic.eval.report import near_table
    from mic.eval.runner import run_points

    ct = read_image(DATA / "ct_abdomen_u16.png")[0][:96, :96]
    im = make_image(ct, name="ct", modality="CT", bits=12)
    codecs = [c for c in all_codecs(with_lossy_models=False)[0]
              if c.name in ("mic-near", "jpegls")]
    rows = [r for r in run_points([im], codecs, quick=True, warmup=False) if r["mode"] == "near"]
    assert {(r["codec"], r["knob"]) for r in rows} == {
        (c, f"k={k}") for c in ("mic-near", "jpegls") for k in (1, 2, 4)}
    assert all(not r["error"] and 0 < r["max_abs_err"] <= int(r["knob"][2:]) for r in rows)
    md, data = near_table(rows)
    assert "mic-near" in md and data["2"]["jpegls"]["ratio"] == 1.0
    assert data["2"]["mic-near"]["max_abs_err"] <= 2


def test_bench_flags_a_point_beyond_its_bound():
    from mic.eval.codecs import Point
    from mic.eval.data import make_image
    from mic.eval.runner import measure_point

    a = np.arange(64, dtype=np.uint8).reshape(8, 8)
    im = make_image(a, name="a")
    p = Point("x", "near", "k=1", lambda: a.tobytes(),
              lambda b: np.frombuffer(b, np.uint8).reshape(8, 8) ^ 4, a, max_error=1)
    assert "exceeds" in measure_point(im, p)["error"]


# ----------------------------------------------------------------------------- covering palette
@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5000), min_size=1, max_size=60, unique=True),
       st.integers(1, 40), st.data())
def test_covering_palette_covers_within_k_with_the_fewest_representatives(vals, k, data):
    from mic.lossless.near_palette import covering_palette

    v = np.array(sorted(vals))
    c = np.array(data.draw(st.lists(st.integers(1, 1000), min_size=len(v), max_size=len(v))))
    reps, assign = covering_palette(v, c, k)
    assert np.all(np.abs(v - reps[assign]) <= k)
    assert np.all(np.diff(reps) > k)  # SPEC 7.2: k' = k // G = 0, the indices exact
    assert np.all(np.diff(assign) >= 0) and assign[0] == 0 and assign[-1] == len(reps) - 1
    # the fewest: no two values of different groups lie within 2k of each other's group start
    starts = v[np.r_[0, np.flatnonzero(np.diff(assign)) + 1]]
    assert np.all(np.diff(starts) > 2 * k)


def _lut_image() -> np.ndarray:
    """A real CT crop through a look-up table with gaps of 1 to 6 codes (a sparse histogram
    whose gaps defeat the residual quantiser)."""
    arr, _ = read_image(DATA / "ct_abdomen_u16.png")
    crop = arr[64:192, 64:192].astype(np.int64)
    table = np.cumsum(np.random.default_rng(3).integers(1, 7, int(np.ptp(crop)) + 1))
    return table[crop - crop.min()].astype(np.uint16)


@pytest.mark.parametrize("k", KS)
def test_covering_palette_codes_a_lut_mapped_image_smaller_within_k(k):
    from mic.lossless.encoder_near import encode_plane_near

    img = _lut_image()
    plain, _ = encode_plane_near(img.astype(np.int32), k, True, cover=0)
    covered, rec = encode_plane_near(img.astype(np.int32), k, True, cover=1)
    assert len(covered) < len(plain)
    assert _err(rec, img) <= k
    s = mic.encode(img, max_error=k)
    out = mic.decode(s)
    assert np.array_equal(out, rec) and _err(out, img) <= k
    assert not set(np.unique(out)) <= set(np.unique(img))  # decoded through representatives


@pytest.mark.parametrize("k", (1, 4))
def test_effort_5_also_covers_dense_planes_never_larger(k):
    arr, _ = read_image(DATA / "ct_abdomen_u16.png")
    img = np.ascontiguousarray(arr[:128, :128])
    default, high = mic.encode(img, max_error=k), mic.encode(img, max_error=k, effort=5)
    assert len(high) <= len(default)
    assert _err(mic.decode(high), img) <= k


def test_a_large_sparse_plane_ranks_its_ways_on_a_sample_of_rows(monkeypatch):
    """A plane of 2**20 samples or more with palettes to try codes a quarter of its rows each
    way (plain, covering palette, exact palette) and itself only the way that coded that
    smallest: within k, and here the very stream that coding every way gives."""
    import mic.lossless.encoder_near as EN

    rng = np.random.default_rng(11)
    smooth = np.cumsum(np.cumsum(rng.integers(-1, 2, (1024, 1024)), 0), 1)
    a = ((smooth - smooth.min()) % 1300 * 3).astype(np.uint16)  # every third value: sparse
    calls = []
    real = EN._rows_sample
    def spy(p):
        out = real(p)
        calls.append(out.shape)
        return out

    monkeypatch.setattr(EN, "_rows_sample", spy)
    ranked = mic.encode(a, max_error=1, bits_stored=12)
    # the ranking's quarter first; later calls are model 21's low classes weighed on a
    # quarter of a coded plane's rows (SPEC 7.9; here the ranking's 256-row plane)
    assert calls[0] == (4 * (1024 // 16), 1024) and all(c[0] < 256 for c in calls[1:])
    monkeypatch.setattr(EN, "RANK_MIN_SAMPLES", 1 << 40)
    every = mic.encode(a, max_error=1, bits_stored=12)
    assert ranked == every
    assert _err(mic.decode(ranked), a) <= 1
