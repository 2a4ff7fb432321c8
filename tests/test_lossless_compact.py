"""Lossless model id 22 (SPEC 5.13): model 20 whose kind-5/6 table sections are bit-packed.
The default and its switch, refusals, round trips against model 20 (the same samples, the
same choices, fewer bytes), the section writer against the parser and the text (hypothesis:
random maps, tables and counts), forged sections the parser must refuse, and the
conformance vectors under formats/lossless22/ (mic and the reference decoder)."""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mic_test_helpers import (
    LOSSLESS_IMAGES,
    check_invalid_vector,
    check_lossless_vector,
    data_image,
    load_formats_module,
    load_reference_decoder,
    vector_set,
)

import mic
from mic.lossless import kernels_compact_enc as KC
from mic.lossless import kernels_fast as KF
from mic.lossless import kernels_tables as KT

VEC, VECTORS, EXPECTED = vector_set("lossless22")
IMAGES = LOSSLESS_IMAGES
_img = data_image


def test_default_is_model_22_and_compact_false_keeps_20():
    ct = _img("ct_abdomen_u16.png")
    info = mic.info(mic.encode(ct))
    assert info.model_id == 22 and info.model == "lossless-fast-nlms-compact"
    assert "5.13" in info.model_description
    assert mic.info(mic.encode(ct, compact_tables=False)).model_id == 20
    assert mic.info(mic.encode(ct, compact_tables=True)).model_id == 22
    assert mic.info(mic.encode(ct, low=False)).model_id == 18  # packed tables need model 20
    assert mic.info(mic.encode(ct, effort=4)).model_id == 22
    assert mic.info(mic.encode(ct, effort=1)).model_id == 3
    assert mic.info(mic.encode(ct, max_error=2)).model_id == 23  # SPEC 7.10
    assert mic.info(mic.encode(ct, max_error=2, compact_tables=False)).model_id == 21


@pytest.mark.parametrize("bad", [{"compact_tables": 1}, {"compact_tables": "yes"},
                                 {"compact_tables": True, "low": False},
                                 {"compact_tables": True, "effort": 1},
                                 {"compact_tables": True, "max_error": 2, "effort": 1},
                                 {"compact_tables": True, "max_error": 2, "low": False},
                                 {"compact_tables": True, "quality": 3}])
def test_bad_choices_are_refused(bad):
    with pytest.raises(mic.MicInputError):
        mic.encode(np.arange(256, dtype=np.uint8).reshape(16, 16), **bad)


@pytest.mark.parametrize("name", IMAGES)
def test_round_trip_and_smaller_than_model_20(name):
    """The same choices as model 20 (bands, low classes, tables) written in fewer bytes: a
    table is only rounded where that saves bits, so the stream is never larger."""
    a = _img(name)
    b22, b20 = mic.encode(a), mic.encode(a, compact_tables=False)
    assert np.array_equal(mic.decode(b22), a)
    assert len(b22) <= len(b20)


@pytest.mark.parametrize("k", [1, 2, 4])
@pytest.mark.parametrize("name", IMAGES)
def test_near_lossless_within_k_and_smaller_than_model_21(name, k):
    """Model id 23 (SPEC 7.10): model 21's choices, packed; within k, never larger."""
    a = _img(name)
    b23, b21 = mic.encode(a, max_error=k), mic.encode(a, max_error=k, compact_tables=False)
    assert mic.info(b23).model_id == 23
    assert int(np.abs(mic.decode(b23).astype(np.int64) - a).max()) <= k
    assert len(b23) <= len(b21)


def test_a_small_pet_like_plane_saves_its_table_bytes():
    """Poisson counts of a 128 x 128 frame (PET, NM): model 20's tables are a few per cent
    of such a stream; packed they are less than half of that."""
    rng = np.random.default_rng(3)
    lam = np.clip(np.add.outer(np.arange(128), np.arange(128)) / 3.0, 0.05, None)
    counts = rng.poisson(lam).astype(np.uint16)
    b22, b20 = mic.encode(counts), mic.encode(counts, compact_tables=False)
    assert np.array_equal(mic.decode(b22), counts)
    assert len(b22) < len(b20) - 40


# -- the section writer and parser -------------------------------------------------------

def _table(draw, n_used: int) -> np.ndarray:
    """A table of N_TOKENS frequencies summing to 2**PREC, ``n_used`` of them positive."""
    used = sorted(draw(st.lists(st.integers(0, KF.N_TOKENS - 1), min_size=n_used,
                                max_size=n_used, unique=True)))
    cuts = sorted(draw(st.lists(st.integers(1, KF.M_TOT - 1), min_size=n_used - 1,
                                max_size=n_used - 1, unique=True)))
    parts = np.diff([0] + cuts + [KF.M_TOT])
    f = np.zeros(KF.N_TOKENS, np.int64)
    f[used] = parts
    return f


@st.composite
def _sections(draw):
    nt = draw(st.integers(0, 6))
    tabmap = np.array([draw(st.sampled_from(list(range(nt)) + [KT.BUILTIN]))
                       for _ in range(KF.N_CLASS)], np.int64)
    freq = np.stack([_table(draw, draw(st.integers(1, 40))) for _ in range(nt)]) if nt \
        else np.zeros((0, KF.N_TOKENS), np.int64)
    scale = draw(st.sampled_from([0, 1, 30, 10**6]))
    hist = np.zeros((KF.N_CLASS, KF.N_TOKENS), np.int64)
    for c in range(KF.N_CLASS):
        if tabmap[c] != KT.BUILTIN:
            hist[c] = (freq[tabmap[c]] * scale) // KF.M_TOT
    return tabmap, freq, hist


def _read(section: bytes, pad: bytes = b""):
    buf = np.frombuffer(section + pad, np.uint8)
    return KT.read_compact(buf, 0, len(buf))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_sections())
def test_writer_and_parser_agree(sec):
    """What compact_section writes parses back (and nothing after it is read) to its map and
    its quantised tables; those keep each frequency's bit length, sum to 2**PREC and give a
    positive frequency to every symbol the table had."""
    tabmap, freq, hist = sec
    data, qfreq = KC.compact_section(tabmap, freq, hist)
    status, end, got_map, got = _read(data, b"\xff\xff")
    assert status == KF.OK and end == len(data)
    assert np.array_equal(got_map, tabmap)
    assert np.array_equal(got, qfreq)
    if len(freq):
        assert (qfreq.sum(axis=1) == KF.M_TOT).all()
        assert np.array_equal(qfreq > 0, freq > 0)
        nonmax = np.ones_like(freq, bool)
        for t in range(len(freq)):
            nonmax[t, int(np.argmax(np.frexp(freq[t].astype(float))[1]))] = False
        assert np.array_equal(np.frexp(qfreq[nonmax].astype(float))[1],
                              np.frexp(freq[nonmax].astype(float))[1])


def test_many_tokens_keep_a_table_exact():
    """With a million tokens a rounded frequency costs more than the table's bits: the
    writer picks precision 11, which reproduces the table exactly (SPEC 5.13)."""
    f = np.zeros(KF.N_TOKENS, np.int64)
    f[:7] = [901, 533, 311, 157, 89, 41, 16]
    tabmap = np.zeros(KF.N_CLASS, np.int64)
    hist = np.zeros((KF.N_CLASS, KF.N_TOKENS), np.int64)
    hist[0] = f * 1000
    data, qfreq = KC.compact_section(tabmap, f[None], hist)
    assert np.array_equal(qfreq[0], f)
    assert _read(data)[3].tolist() == [f.tolist()]


def test_the_reference_decoder_reads_what_the_writer_writes():
    """formats/reference_fast.py's section reader, written from SPEC 5.13, agrees with the
    kernel on a section with every bit-length code (0, 10, 110, 111) and built-in entries."""
    RF = load_formats_module("reference_fast.py")
    f = np.zeros(KF.N_TOKENS, np.int64)
    f[[0, 1, 2, 3, 9, 20]] = [1024, 512, 256, 200, 55, 1]  # lengths 11, 10, 9, 8, 6, 1
    tabmap = np.array([0] * 5 + [KT.BUILTIN] * 7 + [0] * 12, np.int64)
    hist = np.zeros((KF.N_CLASS, KF.N_TOKENS), np.int64)
    hist[0] = f
    data, qfreq = KC.compact_section(tabmap, f[None], hist)

    class Rd:
        def __init__(self, b):
            self.b, self.i = b, 0

        def u8(self):
            self.i += 1
            return self.b[self.i - 1]

    def need(ok, what):
        assert ok, what

    rd = Rd(data)
    got_map, tables = RF._compact(rd, need)
    assert rd.i == len(data)
    builtin = RF._priors()[2]
    for c in range(KF.N_CLASS):
        want = qfreq[0] if tabmap[c] == 0 else np.array(builtin[c])
        have = tables[got_map[c]][0]
        assert np.array_equal(np.pad(have, (0, KF.N_TOKENS - len(have))),
                              np.pad(want, (0, KF.N_TOKENS - len(want))))


def _bits(s: str) -> bytes:
    s += "0" * (-len(s) % 8)
    return bytes(int(s[i:i + 8], 2) for i in range(0, len(s), 8))


ONE_TABLE_MAP = "0" + "0" * 23  # nt = 1 (w = 1): class 0 -> table 0, the rest repeat it


@pytest.mark.parametrize("why,section,status", [
    ("25 tables", bytes((25,)), KF.ERR_TABLE),
    ("a map entry above nt", bytes((2,)) + _bits("11" + "0" * 23), KF.ERR_TABLE),
    ("n = 0", bytes((1,)) + _bits(ONE_TABLE_MAP + "0000000" + "0000"), KF.ERR_TABLE),
    ("n = 69", bytes((1,)) + _bits(ONE_TABLE_MAP + "1000101" + "0000"), KF.ERR_TABLE),
    ("precision 12", bytes((1,)) + _bits(ONE_TABLE_MAP + "0000001" + "1100" + "111" + "1100"),
     KF.ERR_TABLE),
    ("a bit length of 13", bytes((1,)) + _bits(ONE_TABLE_MAP + "0000001" + "0000" + "111"
                                                + "1101"), KF.ERR_TABLE),
    ("a bit length below 0", bytes((1,)) + _bits(ONE_TABLE_MAP + "0000001" + "0000" + "10"),
     KF.ERR_TABLE),
    ("every bit length 0", bytes((1,)) + _bits(ONE_TABLE_MAP + "0000001" + "0000" + "0"),
     KF.ERR_TABLE),
    # two symbols of bit length 12 (4 bits each at P = 0): 2048 + 3072 leaves less than 1
    ("a last frequency below 1", bytes((1,)) + _bits(ONE_TABLE_MAP + "0000010" + "0000"
                                                      + "111" + "1100" + "0"), KF.ERR_TABLE),
    ("bits cut", bytes((1,)) + _bits(ONE_TABLE_MAP + "0000001")[:3], KF.ERR_WORDS),
    ("nothing", b"", KF.ERR_WORDS),
])
def test_forged_sections_are_refused(why, section, status):
    assert _read(section)[0] == status, why


def test_a_valid_hand_written_section():
    """One table, one symbol of bit length 12: 2048, the whole range (SPEC 5.13 step 4)."""
    status, _, tabmap, freq = _read(bytes((1,)) + _bits(ONE_TABLE_MAP + "0000001" + "0000"
                                                          + "111" + "1100"))
    assert status == KF.OK and (tabmap == 0).all() and freq[0, 0] == KF.M_TOT


# -- conformance vectors -----------------------------------------------------------------

@pytest.mark.parametrize("v", VECTORS, ids=[v["name"] for v in VECTORS])
def test_valid_vectors(v):
    check_lossless_vector(VEC, v, 22)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_vectors(name):
    check_invalid_vector(VEC, name, EXPECTED[name])


def test_vector_set_covers_the_section():
    names = {v["name"] for v in VECTORS}
    assert {"ct_low8", "ct_own_tables", "us_rgb", "ct_tiled", "ct_volume"} <= names
    precisions = [p for v in VECTORS for pl in v["planes"] if pl[3] for p in pl[3]]
    assert max(precisions) >= 3 and 0 in precisions
    assert set(EXPECTED) == {"tables_25", "model22_read_as_20", "model20_read_as_22"}
    ref = load_reference_decoder()
    v = next(x for x in VECTORS if x["name"] == "ct_own_tables")
    assert np.array_equal(ref.decode((VEC / v["stream"]).read_bytes()),
                          np.load(VEC / v["source"]))


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=0, max_size=120))
def test_any_bytes_parse_to_a_status_and_valid_tables(data):
    """Arbitrary bytes never crash the parser: a status, and where it is OK the position is
    within the bytes, every entry names a table or BUILTIN and every table sums to 2048."""
    status, end, tabmap, freq = _read(data)
    assert status in (KF.OK, KF.ERR_TABLE, KF.ERR_WORDS)
    if status == KF.OK:
        assert 1 <= end <= len(data)
        assert all(t == KT.BUILTIN or 0 <= t < len(freq) for t in tabmap)
        assert (freq.sum(axis=1) == KF.M_TOT).all() and (freq >= 0).all()
