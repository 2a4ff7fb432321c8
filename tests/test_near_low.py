"""Near-lossless model id 21 (SPEC 7.9): model 19 whose plane kinds 5 and 6 may code their
low samples (``(W + N + 1) >> 1`` of the reconstruction below the plane's low class count)
as the index of their value on the grid of 2k + 1, under tables of their own.  The default
and its switch, the bound on the test images and on count data, forced low class counts
decoded within k by mic and the reference decoder (hypothesis).  Its conformance vectors,
formats/near21/, are checked in test_conformance_near.py."""

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


def test_model_21_and_low_false_keeps_19():
    """Model id 23 (SPEC 7.10, tests/test_lossless_compact.py) is the default; without its
    packed tables the stream is model 21."""
    ct = read_image(DATA / "ct_abdomen_u16.png")[0]
    for k in (1, 4):
        blob = mic.encode(ct, max_error=k, compact_tables=False)
        i = mic.info(blob)
        assert (i.model_id, i.model, i.max_error) == (21, "near-lossless-fast-low", k)
        assert "7.9" in i.model_description and _err(mic.decode(blob), ct) <= k
        assert mic.info(mic.encode(ct, max_error=k, low=False)).model_id == 19
    assert mic.info(mic.encode(ct, max_error=2, bands=False)).model_id == 17
    assert mic.info(mic.encode(ct, max_error=2, effort=1)).model_id == 17  # no filters
    assert mic.info(mic.encode(ct, max_error=2, effort=4, compact_tables=False)).model_id == 21


def test_the_bundled_ct_codes_smaller_with_low_classes():
    ct = read_image(Path(mic.__file__).parent / "data" / "ct_abdomen.png")[0]
    for k in (1, 4):
        b21 = mic.encode(ct, max_error=k, compact_tables=False)
        b19 = mic.encode(ct, max_error=k, low=False)
        assert len(b21) < 0.98 * len(b19) and _err(mic.decode(b21), ct) <= k


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_count_data_within_k(k):
    """Poisson counts (NM, PET): the low samples' grid reconstruction stays within k, and
    the plane is never more than its low class count's byte larger than model 19's (the
    encoder keeps the smaller of its codings with and without low classes)."""
    rng = np.random.default_rng(k)
    lam = np.clip(np.add.outer(np.arange(96), np.arange(96)) / 20.0, 0.05, None)
    counts = rng.poisson(lam).astype(np.uint16)
    b21 = mic.encode(counts, max_error=k, compact_tables=False)
    b19 = mic.encode(counts, max_error=k, low=False)
    assert _err(mic.decode(b21), counts) <= k and len(b21) <= len(b19) + 1


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(h=st.integers(20, 64), w=st.integers(20, 64), bits=st.sampled_from([8, 12, 16]),
       signed=st.booleans(), smooth=st.booleans(), k=st.integers(1, 5), nl=st.integers(1, 24),
       floor=st.booleans(), seed=st.integers(0, 2**31 - 1), compact=st.booleans())
def test_forced_low_counts_within_k_with_mic_and_the_reference(h, w, bits, signed, smooth, k,
                                                               nl, floor, seed, compact):
    """Whatever low class count the encoder writes (drawn here), the stream decodes within
    k, to the same samples with mic and with the reference decoder (SPEC 7.9 from the
    text; ``compact``: model id 23's packed sections, 7.10); ``floor`` clips the image so
    that many samples sit at its minimum."""
    a = random_image(h, w, bits, signed, False, smooth, seed)
    if floor:
        a = np.maximum(a, np.percentile(a, 40).astype(a.dtype))
    with mock.patch.object(EB, "choose_low", lambda *args: nl):
        blob = mic.encode(a, max_error=k, bits_stored=bits, compact_tables=compact)
    assert mic.info(blob).model_id == (23 if compact else 21)
    out = mic.decode(blob)
    assert _err(out, a) <= k
    assert np.array_equal(load_reference_decoder().decode(blob), out)
