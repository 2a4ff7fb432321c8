"""Near-lossless model id 19 (SPEC 7.8): model 17 whose plane kinds 5 and 6 have the bands of
SPEC 5.11, of the reconstruction above.  The default and its switch, the bound, and forced
band splits (hypothesis) decoded by mic and the reference decoder; the vectors are under
formats/near19/ (tests/test_conformance_near.py)."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mic
from mic.io import read_image
from mic.lossless import encoder_bands as EB
from mic_test_helpers import load_reference_decoder, random_image

DATA = Path(__file__).parent / "data"


def _err(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int64) - b.astype(np.int64)).max())


def test_low_false_is_model_19_and_bands_false_keeps_17():
    ct = read_image(DATA / "ct_abdomen_u16.png")[0]
    for k in (1, 4):
        blob = mic.encode(ct, max_error=k, low=False)
        i = mic.info(blob)
        assert (i.model_id, i.model, i.max_error) == (19, "near-lossless-fast-bands", k)
        assert "7.8" in i.model_description and _err(mic.decode(blob), ct) <= k
        old = mic.encode(ct, max_error=k, bands=False)
        assert mic.info(old).model_id == 17
        assert len(blob) <= len(old) + 1  # one band: the band count's byte
    big = read_image(Path(mic.__file__).parent / "data" / "ct_abdomen.png")[0]
    assert len(mic.encode(big, max_error=2, low=False)) < len(mic.encode(big, max_error=2,
                                                                        bands=False))
    assert mic.info(mic.encode(ct, max_error=2, effort=1)).model_id == 17  # no filters
    assert mic.info(mic.encode(ct, max_error=2, effort=4, low=False)).model_id == 19
    assert mic.info(mic.encode(ct, max_error=2, fast_nlms=False)).model_id == 12


def test_rgb_exact_differences_are_banded_planes_too():
    """SPEC 7.8: every kind-5/6 plane of a model-19 stream has the bands' table section,
    xform 2's exact channel differences included."""
    rgb = read_image(DATA / "us_breast_rgb.png")[0]
    blob = mic.encode(rgb, max_error=2, low=False)
    assert mic.info(blob).model_id == 19 and _err(mic.decode(blob), rgb) <= 2
    part = np.ascontiguousarray(rgb[32:112, 32:112])
    blob = mic.encode(part, max_error=2, low=False)
    assert np.array_equal(load_reference_decoder().decode(blob), mic.decode(blob))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(64, 72), w=st.integers(64, 72), bits=st.sampled_from([8, 12, 16]),
       signed=st.booleans(), smooth=st.booleans(), k=st.integers(1, 5),
       split=st.lists(st.integers(1, 15), max_size=7, unique=True),
       seed=st.integers(0, 2**31 - 1))
def test_forced_band_splits_within_k_with_mic_and_the_reference(h, w, bits, signed, smooth, k,
                                                                split, seed):
    """Whatever bands the encoder makes (drawn here), the stream decodes within k, to the
    same samples with mic and with the reference decoder (SPEC 7.8 from the text)."""
    a = random_image(h, w, bits, signed, False, smooth, seed)

    def forced(hist, edges, builtin):
        return EB.split_at(edges, sorted({0, *(s for s in split if s <= len(edges))}))

    with mock.patch.object(EB, "choose_bands", forced):
        blob = mic.encode(a, max_error=k, bits_stored=bits, low=False)
    assert mic.info(blob).model_id == 19
    out = mic.decode(blob)
    assert _err(out, a) <= k
    assert np.array_equal(load_reference_decoder().decode(blob), out)


@pytest.mark.parametrize("bad", [{"bands": True, "effort": 1}, {"bands": True, "nlms": False},
                                 {"bands": True, "fast_nlms": False}, {"bands": 2}])
def test_bad_choices_are_refused(bad):
    with pytest.raises(mic.MicInputError):
        mic.encode(np.arange(256, dtype=np.uint8).reshape(16, 16), max_error=1, **bad)
