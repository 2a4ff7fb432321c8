"""Lossless model id 24 (SPEC 5.14): model 22 whose RGB trees may wrap a difference plane
modulo 2**bits_stored about a base (xform 6).  The default and its switch, refusals, round
trips on tinted images (smaller than model 22) and on the bundled images (never larger),
the wrap and unwrap arithmetic (hypothesis: every sample format), the bases the encoder
tries, the reference decoder, the wrap fields' refusals and the conformance vectors under
formats/lossless24/."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mic_test_helpers import (
    LOSSLESS_IMAGES,
    check_invalid_vector,
    check_lossless_vector,
    data_image,
    load_formats_module,
    load_reference_decoder,
    tile_xforms,
    vector_set,
)

import mic
from mic.errors import MicFormatError
from mic.lossless.encoder_rgb import wrap_bases
from mic.lossless.syntax import pack_wraps, read_wraps, unwrap_channel, wrap_plane

VEC, VECTORS, EXPECTED = vector_set("lossless24")
GEN = load_formats_module("make_lossless24_vectors.py")


def test_tinted_rgb_is_model_24_and_wrap_false_keeps_22():
    a = GEN.tinted(1)
    blob = mic.encode(a)
    info = mic.info(blob)
    assert info.model_id == 24 and info.model == "lossless-fast-nlms-wrap"
    assert "5.14" in info.model_description and 6 in tile_xforms(blob)
    plain = mic.encode(a, wrap=False)
    assert mic.info(plain).model_id == 22 and 6 not in tile_xforms(plain)
    assert len(blob) < 0.95 * len(plain)
    assert np.array_equal(mic.decode(blob), a) and np.array_equal(mic.decode(plain), a)
    assert mic.info(mic.encode(a, compact_tables=False)).model_id == 20  # 20 allows xform 5
    assert mic.info(mic.encode(a, effort=1)).model_id == 3
    grey = np.ascontiguousarray(a[..., 1])
    assert mic.info(mic.encode(grey)).model_id == 22  # one sample: no trees


@pytest.mark.parametrize("bad", [{"wrap": 1}, {"wrap": "yes"},
                                 {"wrap": True, "compact_tables": False},
                                 {"wrap": True, "colour_diff": False},
                                 {"wrap": True, "effort": 1},
                                 {"wrap": True, "max_error": 2},
                                 {"wrap": True, "quality": 3}])
def test_bad_choices_are_refused(bad):
    with pytest.raises(mic.MicInputError):
        mic.encode(GEN.tinted(1, 16, 16), **bad)


@pytest.mark.parametrize("name", LOSSLESS_IMAGES)
def test_bundled_images_round_trip_and_are_never_larger(name):
    a = data_image(name)
    blob = mic.encode(a)
    assert np.array_equal(mic.decode(blob), a)
    if a.ndim == 3:  # RGB: the wrap is only kept where it codes smaller
        assert len(blob) <= len(mic.encode(a, wrap=False))
        assert mic.info(blob).model_id in (22, 24)
    else:
        assert mic.info(blob).model_id == 22


@pytest.mark.parametrize("kw", [dict(bits=12), dict(bits=16, signed=True), dict(step=8),
                                dict(both=True), dict(bits=16)])
def test_tinted_sample_formats_round_trip(kw):
    a = GEN.tinted(11, 48, 64, **kw)
    bits = kw.get("bits", 8)
    opts = {"bits_stored": bits} if bits not in (8, 16) else {}
    blob = mic.encode(a, **opts)
    assert np.array_equal(mic.decode(blob), a)
    assert np.array_equal(load_reference_decoder().decode(blob), a)


@settings(max_examples=200, deadline=None)
@given(bits=st.integers(1, 16), signed=st.booleans(), data=st.data())
def test_wrap_then_unwrap_is_exact(bits, signed, data):
    lo = -(1 << (bits - 1)) if signed else 0
    hi = lo + (1 << bits) - 1
    n = data.draw(st.integers(1, 40))
    c = np.array(data.draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n)))
    r = np.array(data.draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n)))
    base = data.draw(st.integers(-(1 << bits) + 1, (1 << bits) - 1))
    p = wrap_plane(c - r, base, bits)
    assert p.dtype == np.int32 and p.min() >= 0 and p.max() < 1 << bits
    assert np.array_equal(unwrap_channel(p.astype(np.int64), base, r, lo, bits), c)
    assert int(unwrap_channel(int(p[0]), base, int(r[0]), lo, bits)) == int(c[0])


@settings(max_examples=100, deadline=None)
@given(bits=st.integers(1, 16), data=st.data())
def test_wrap_fields_read_back(bits, data):
    m = 1 << bits
    b1 = data.draw(st.one_of(st.none(), st.integers(-m + 1, m - 1)))
    b2 = data.draw(st.one_of(st.none(), st.integers(-m + 1, m - 1)))
    raw = pack_wraps((b1, b2))
    assert read_wraps(memoryview(raw + b"\x07"), 0, (-1, 0, 1), bits) == ((b1, b2), len(raw))


@pytest.mark.parametrize("raw, refs, why", [
    (b"\x02\x00", (-1, -1, 0), "plane 1 subtracts no channel"),
    (b"\x00\x02", (-1, 0, -1), "plane 2 subtracts no channel"),
    (b"\x80\x04\x00", (-1, 0, 0), "zz(256) + 1: |b| = 256 in 8 bits"),
    (b"\x81\x04\x00", (-1, 0, 0), "above the field's limit"),
    (b"\x82\x00\x00", (-1, 0, 0), "over-long"),
    (b"\x81\x80\x80\x00\x00", (-1, 0, 0), "4 bytes"),
    (b"\x02", (-1, 0, 0), "cut after one field"),
    (b"\x82", (-1, 0, 0), "cut inside a field"),
])
def test_bad_wrap_fields_are_refused(raw, refs, why):
    with pytest.raises(MicFormatError):
        read_wraps(memoryview(raw), 0, refs, 8)


def test_wrap_bases():
    d = np.array([[0, 0, 1, -1], [0, 0, 0, 9]] * 1024)
    d[0, 0] = -9
    assert wrap_bases(d, 8) == [-1, 0]
    assert wrap_bases(d * 8, 8) == [-8, 0]  # the values that occur, not every integer
    assert wrap_bases(np.array([[3, 3, 4, 5]] * 64), 8) == []  # base at the minimum: plain
    wide = np.array([[0] * 6 + [-255, 255]] * 64)  # spans more than 2**8: wrapping differs
    assert wrap_bases(wide, 8) == [-255, 0]


def test_a_wrapped_plane_above_the_range_is_refused_before_decoding():
    blob = (VEC / "invalid" / "wrapped_plane_above_range.mic").read_bytes()
    with pytest.raises(MicFormatError, match="xform 6 plane"):
        mic.decode(blob)


@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_valid_vector(v):
    check_lossless_vector(VEC, v, 24)
    assert 6 in v["xforms"]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_vector(name):
    check_invalid_vector(VEC, name, EXPECTED[name])
