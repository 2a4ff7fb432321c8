"""Near-lossless model id 17 (SPEC.md 7.7: the fast coder's plane kinds 3-6, residuals
quantised to step 2k + 1), what ``mic.encode(a, max_error=k)`` writes at every effort:
the bound on every test image at efforts 1 and 3, the plane kinds each effort writes,
mic's decoder against the reference decoder written from SPEC.md (edge paths, a property
test), ``k' = 0`` palettes equal to lossless planes, options and refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mic
from mic.bitstream import unpack_header
from mic.io import read_image
from mic.lossless import kernels_fast as KF
from mic.lossless import kernels_fast_enc as KE
from mic_test_helpers import (
    load_reference_decoder, near_small_plane_vs_reference, random_image, tile_payloads,
)

DATA = Path(__file__).parent / "data"


def _err(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int64) - b.astype(np.int64)).max())


IMAGES = [(n, np.ascontiguousarray(read_image(DATA / n)[0]))
          for n in ("ct_abdomen_u16.png", "cr_chest_u8.png", "mr_brain_u16.png",
                    "us_breast_rgb.png", "us_breast_u8.png", "ct_lung_i16.npy")]


@pytest.mark.parametrize("k", (1, 2, 3, 5))
@pytest.mark.parametrize("name,arr", IMAGES, ids=[n for n, _ in IMAGES])
def test_effort_1_within_k_with_kinds_3_and_4(name, arr, k):
    """Efforts 1-2: the fast planes without filters (kinds 0, 3, 4; SPEC 7.7)."""
    blob = mic.encode(arr, max_error=k, effort=1)
    out = mic.decode(blob)
    assert out.dtype == arr.dtype and out.shape == arr.shape and _err(out, arr) <= k
    assert unpack_header(blob)[0].model_id == 17 and mic.info(blob).max_error == k
    assert all(p[1] in (0, 3, 4) for p in tile_payloads(blob))  # the first plane's kind


@pytest.mark.parametrize("k", (1, 4))
def test_effort_3_writes_kinds_5_and_6_and_info_names_it(k):
    """Model 17 from effort 3 (``bands=False``; the default is model 19, SPEC 7.8:
    tests/test_near_bands.py)."""
    ct = IMAGES[0][1]
    blob = mic.encode(ct, max_error=k, bands=False)
    assert tile_payloads(blob)[0][1] == 5
    i = mic.info(blob)
    assert (i.mode, i.model_id, i.model, i.max_error) == ("near-lossless", 17,
                                                          "near-lossless-fast", k)
    assert "7.7" in i.model_description
    assert mic.encode(ct, max_error=k, effort=3, bands=False) == blob  # the default effort


def test_model_17_is_within_a_percent_of_model_12_and_faster_planes():
    """On the bundled CT the quantised fast planes code within 1 % of model 12's (the train
    split: 0.1-0.6 % smaller, benches/results/2026-12-07-near-fast/)."""
    ct = IMAGES[0][1]
    for k in (1, 2, 4):
        new = len(mic.encode(ct, max_error=k, bands=False))
        old = len(mic.encode(ct, max_error=k, fast_nlms=False))
        assert new < 1.01 * old


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (2, 3), (3, 2), (5, 4), (9, 13)])
@pytest.mark.parametrize("k,effort", [(1, 3), (3, 3), (2, 1)])
def test_small_planes_match_the_reference_decoder(shape, k, effort):
    """Every edge rule of 5.6 and 5.8 on tiny planes, quantised, against SPEC.md alone."""
    near_small_plane_vs_reference(shape, k, 17, effort=effort, bands=False)


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 12), w=st.integers(1, 12), bits=st.sampled_from([2, 8, 12, 16]),
       signed=st.booleans(), rgb=st.booleans(), smooth=st.booleans(),
       k=st.integers(1, 6), effort=st.sampled_from([1, 3, 5]), seed=st.integers(0, 2**16))
def test_property_within_k_and_equal_to_the_reference(h, w, bits, signed, rgb, smooth, k,
                                                       effort, seed):
    a = random_image(h, w, bits, signed, rgb, smooth, seed)
    k = min(k, (1 << (bits - 1)) - 1)
    blob = mic.encode(a, max_error=k, bits_stored=bits, effort=effort)
    out = mic.decode(blob)
    assert out.dtype == a.dtype and out.shape == a.shape and _err(out, a) <= k
    assert np.array_equal(load_reference_decoder().decode(blob), out)


def test_k_zero_in_the_kernels_is_the_lossless_plane():
    """SPEC 7.7 with k = 0 is 5.6-5.10 exactly: the near-lossless encoder kernel run with
    k = 0 gives the lossless kernel's tokens, classes and extra bits (kinds 3 and 5)."""
    rng = np.random.default_rng(5)
    x = np.cumsum(rng.integers(-9, 10, (33, 41)), axis=1).astype(np.int32)
    x -= x.min()
    mv = int(x.max())
    R, CL, TOK, NB = KF.encode_constants()
    for lms in (False, True):
        outs = []
        for near in (None, 0):
            tok = np.empty(x.size, np.uint8)
            cls = np.empty(x.size, np.uint8)
            bits = np.zeros(2 * x.size + 16, np.uint8)
            hist = np.zeros((KF.N_CLASS, KF.N_TOKENS), np.int64)
            la, lb = np.zeros(KF.LMS_TAPS, np.int64), np.zeros((4, 8), np.int64)
            if near is None:
                nb = KE.fast_tokens(x.copy(), mv, tok, cls, bits, hist, R, CL, TOK, NB, lms, la,
                                    lb)
            else:
                nb = KE.fast_tokens_near(x.copy(), mv, near, tok, cls, bits, hist, R, CL, TOK, NB,
                                         lms, la, lb)
            outs.append((tok.tobytes(), cls.tobytes(), bits[:nb].tobytes()))
        assert outs[0] == outs[1]


def test_quantised_planes_reconstruct_in_the_encoder_as_the_decoder_does():
    """The encoder kernel leaves its reconstruction in the plane (SPEC 7.7's x-hat), which
    is what the decoder returns."""
    from mic.lossless.encoder_near import encode_plane_near_fast

    a = IMAGES[2][1][:70, :90].astype(np.int32)
    for lms in (False, True):
        for k in (1, 7):
            data, rec = encode_plane_near_fast(a, k, lms)
            assert _err(rec, a) <= k and not np.array_equal(rec, a)
            blob = mic.encode(a.astype(np.uint16), max_error=k, effort=3 if lms else 1,
                              bands=False)
            assert data in blob  # the plane the stream holds
            assert np.array_equal(mic.decode(blob), rec)


def test_palettes_carry_k_prime():
    """SPEC 7.2 via 7.7: data on every 4th value: k = 1 < 4 codes the palette's indices
    exactly (k' = 0, the lossless samples); k = 4 lets indices move one step (k' = 1)."""
    ct = IMAGES[0][1]
    lattice = ct[:128, :128] * 4
    for effort, kind in ((3, 6), (1, 4)):
        blob = mic.encode(lattice, max_error=1, effort=effort)
        assert tile_payloads(blob)[0][1] == kind
        assert np.array_equal(mic.decode(blob), lattice)
    ramp = np.add.outer(np.arange(40), np.arange(40)) // 2
    a = ((ramp + np.random.default_rng(7).integers(0, 2, ramp.shape)) * 4).astype(np.uint16)
    out = mic.decode(mic.encode(a, max_error=4))
    assert _err(out, a) <= 4 and not np.array_equal(out, a)
    assert set(np.unique(out)) <= set(np.unique(a))  # palette values: only moved indices


def test_rgb_grey_with_colour_uses_xform_2_with_fast_difference_planes():
    rgb = IMAGES[3][1]
    blob = mic.encode(rgb, max_error=2)
    assert all(p[0] == 2 for p in tile_payloads(blob))  # SPEC 7.3
    out = mic.decode(blob)
    assert _err(out, rgb) <= 2
    assert np.array_equal(load_reference_decoder().decode(
        mic.encode(rgb[100:130, 100:140], max_error=2)),
        mic.decode(mic.encode(rgb[100:130, 100:140], max_error=2)))


def test_options():
    ct = IMAGES[0][1][:40, :40]
    assert unpack_header(mic.encode(ct, max_error=1, fast_nlms=True))[0].model_id == 23
    assert unpack_header(mic.encode(ct, max_error=1, bands=False))[0].model_id == 17
    assert unpack_header(mic.encode(ct, max_error=1, fast_nlms=False))[0].model_id == 12
    assert unpack_header(mic.encode(ct, max_error=1, fast_nlms=False,
                                    effort=1))[0].model_id == 2
    with pytest.raises(mic.MicInputError, match="fast_nlms"):
        mic.encode(ct, max_error=1, fast_nlms=True, effort=1)  # no filters at efforts 1-2
    with pytest.raises(mic.MicInputError, match="fast_nlms"):
        mic.encode(ct, max_error=1, fast_nlms="yes")


def test_a_damaged_plane_is_an_error_not_garbage():
    ct = IMAGES[0][1][:64, :64]
    blob = bytearray(mic.encode(ct, max_error=2, stream_version=1))
    from mic_test_helpers import load_forge

    forge = load_forge()
    tile = [s for s in forge.spans(bytes(blob)) if s.tag == b"TILE"][0]
    for at in range(tile.payload_start + 40, tile.payload_end - 2, 97):
        bad = bytearray(blob)
        bad[at] ^= 0x24
        with pytest.raises(mic.MicError):
            mic.decode(forge.refresh_crc(bad, tile))


def test_effort_4_keeps_the_smaller_of_model_12_and_17_planes():
    """From effort 4 each near-lossless plane is also coded as model 12's (kinds 1 and 2,
    which model 17 allows, SPEC 7.7): never larger than effort 3, and the reference decoder
    reads the mixed stream."""
    mr = IMAGES[2][1]
    for k in (1, 3):
        e3 = mic.encode(mr, max_error=k, tile=(64, 64))
        e4 = mic.encode(mr, max_error=k, tile=(64, 64), effort=4)
        assert len(e4) <= len(e3) and _err(mic.decode(e4), mr) <= k
        kinds = {p[1] for p in tile_payloads(e4)}
        assert kinds & {1, 2} and kinds & {5, 6}, kinds
    part = mic.encode(mr[:80, :100], max_error=2, tile=(32, 32), effort=4)
    assert np.array_equal(load_reference_decoder().decode(part), mic.decode(part))
