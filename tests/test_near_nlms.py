"""Near-lossless model id 12 (SPEC.md 7.6: the prediction corrected by two integer NLMS
filters) next to model id 2, which the decoder keeps reading: both bounds, both models'
streams, the kernel's edge paths against the reference decoder, refusals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import mic
import mic.lossless.encoder as lenc
from mic.bitstream import unpack_header
from mic.io import read_image
from mic.lossless import kernels as K
from mic_test_helpers import load_forge, near_small_plane_vs_reference

DATA = Path(__file__).parent / "data"
FORMATS = Path(__file__).resolve().parents[1] / "formats"


def _err(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int64) - b.astype(np.int64)).max())






def _images() -> list[tuple[str, np.ndarray]]:
    out = []
    for name in ("ct_abdomen_u16.png", "cr_chest_u8.png", "mr_brain_u16.png",
                 "us_breast_rgb.png", "ct_lung_i16.npy"):
        out.append((name, np.ascontiguousarray(read_image(DATA / name)[0])))
    return out


IMAGES = _images()


@pytest.mark.parametrize("k", (1, 2, 3, 5))
@pytest.mark.parametrize("name,arr", IMAGES, ids=[n for n, _ in IMAGES])
def test_model_2_streams_still_decode_within_k(name, arr, k):
    """Efforts 1-2 with fast_nlms=False write model id 2 (as formats/make_near_vectors.py
    does)."""
    blob = mic.encode(arr, max_error=k, effort=2, fast_nlms=False)
    assert unpack_header(blob)[0].model_id == 2
    out = mic.decode(blob)
    assert out.dtype == arr.dtype and _err(out, arr) <= k


@pytest.mark.parametrize("k", (1, 2, 4))
def test_model_12_is_smaller_than_model_2(k):
    ct = read_image(DATA / "ct_abdomen_u16.png")[0]
    new = mic.encode(ct, max_error=k, fast_nlms=False)
    assert mic.encode(ct, max_error=k, effort=3, fast_nlms=False) == new  # the default effort
    old = mic.encode(ct, max_error=k, effort=1, fast_nlms=False)
    assert unpack_header(new)[0].model_id == 12 and unpack_header(old)[0].model_id == 2
    assert len(new) < len(old)
    assert _err(mic.decode(new), ct) <= k and _err(mic.decode(old), ct) <= k


def test_effort_picks_the_model():
    a = np.zeros((4, 4), np.uint8) + np.arange(4, dtype=np.uint8) * 9
    ids = {e: unpack_header(mic.encode(a, max_error=1, effort=e, fast_nlms=False))[0].model_id
           for e in range(1, 8)}
    assert ids == {1: 2, 2: 2, 3: 12, 4: 12, 5: 12, 6: 12, 7: 12}
    ids = {e: unpack_header(mic.encode(a, max_error=1, effort=e))[0].model_id
           for e in range(1, 8)}
    # model id 17 (SPEC 7.7) at efforts 1-2, 23 (7.10: filters, bands, low classes, packed
    # tables) from 3
    assert ids == {1: 17, 2: 17, 3: 23, 4: 23, 5: 23, 6: 23, 7: 23}
    assert lenc.NEAR_LMS_EFFORT_MIN == 3


def test_kernel_without_filters_is_model_2_and_lossless_unchanged():
    """``lms`` False is the kernel of model ids 1 and 2 exactly; True changes the tokens."""
    rng = np.random.default_rng(7)
    a = np.cumsum(rng.integers(-3, 4, (40, 50)), axis=1).astype(np.int32)
    a -= a.min()
    mv = int(a.max())
    outs = {}
    for lms in (False, True):
        x = a.copy()
        tok = np.empty(a.size, np.int32)
        bits = np.empty(2 * a.size + 16, np.uint8)
        st, nb = K.code_plane_near(x, mv, 0, False, tok, bits, lms)
        assert st == K.OK
        outs[lms] = tok.copy()
        back = np.empty_like(a)
        st, _ = K.code_plane_near(back, mv, 0, True, tok, bits[:nb].copy(), lms)
        assert st == K.OK and np.array_equal(back, a)  # k = 0: lossless both ways
    x = a.copy()
    tok = np.empty(a.size, np.int32)
    bits = np.empty(2 * a.size + 16, np.uint8)
    K.code_plane(x, mv, False, tok, bits)
    assert np.array_equal(tok, outs[False])
    assert not np.array_equal(outs[True], outs[False])


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (7, 1), (2, 3), (3, 2), (5, 4), (9, 13)])
@pytest.mark.parametrize("k", (1, 3))
def test_small_planes_match_the_reference_decoder(shape, k):
    """Every edge rule of 7.6 step 1 (rows 0-1, columns 0-1 and the last two) on tiny planes,
    where the kernel never takes its interior path, and on planes where it does."""
    near_small_plane_vs_reference(shape, k, 12, fast_nlms=False)


@pytest.mark.parametrize("k", (1, 2, 1000))
def test_extreme_inputs_keep_the_weights_bounded(k):
    """Full-range 16-bit noise and alternating extremes: the filters' intermediates stay
    in 64 bits (SPEC 7.6), the decoder equals the encoder, the bound holds."""
    rng = np.random.default_rng(k)
    noise = rng.integers(0, 65536, (48, 40)).astype(np.uint16)
    checker = (np.indices((48, 40)).sum(0) % 2 * 65535).astype(np.uint16)
    for a in (noise, checker):
        for fast_nlms in (False, None):  # model ids 12 and 17
            blob = mic.encode(a, max_error=k, fast_nlms=fast_nlms)
            out = mic.decode(blob)
            assert _err(out, a) <= k


def test_model_12_in_mode_0_and_unknown_mode_2_ids_are_refused():
    forge = load_forge()
    ct = read_image(DATA / "ct_abdomen_u16.png")[0][96:128, 96:128]
    lossless = mic.encode(ct, stream_version=1)  # header fields at fixed offsets
    with pytest.raises(mic.MicUnsupportedError):
        mic.decode(forge.set_header_fields(lossless, model_id=12))
    near = mic.encode(ct, max_error=2, stream_version=1, fast_nlms=False)
    for mid in (4, 11, 13):
        with pytest.raises(mic.MicUnsupportedError):
            mic.decode(forge.set_header_fields(near, model_id=mid))
    with pytest.raises(mic.MicChecksumError):  # model 12 read with model 2's prediction
        mic.decode(forge.set_header_fields(near, model_id=2))
    i = mic.info(near)
    assert i.model_id == 12 and "NLMS" in i.model_description
