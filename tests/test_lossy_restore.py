"""The lossy restoration filter (SPEC 6.7): records round-trip, the decoder applies
exactly what the encoder fitted, it lowers the error where it is sent, never touches a
constant region, ``restore=False`` turns it off, and forged records raise."""

from __future__ import annotations

import functools

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("safetensors")

import mic  # noqa: E402
from mic import lossy  # noqa: E402
from mic.io import read_image  # noqa: E402
from mic.lossy import enc_restore, restore  # noqa: E402
from mic.lossy.enc_restore import fit_filters, pack_record  # noqa: E402
from mic.lossy.restore import COEF_MAX, HEAD, ChannelFilter, apply_filters, parse_record  # noqa: E402,E501
from mic_test_helpers import cli_xforms_with_and_without, load_forge, tile_payloads, tile_xforms  # noqa: E402,E501

DATA = Path(__file__).parent / "data"
CT = Path(mic.__file__).parent / "data" / "ct_abdomen.png"
forge = load_forge()


def _filters(draw, samples: int) -> list[ChannelFilter | None]:  # noqa: ANN001
    out: list[ChannelFilter | None] = []
    for _ in range(samples):
        if not draw(st.booleans()):
            out.append(None)
            continue
        taps = draw(st.sampled_from(restore.N_TAPS))
        thr = sorted(set(draw(st.lists(st.integers(0, 1 << 20), max_size=3))))
        coefs = [np.array(draw(st.lists(st.integers(-COEF_MAX, COEF_MAX), min_size=taps,
                                        max_size=taps)), np.int64)
                 if draw(st.booleans()) else None for _ in range(len(thr) + 1)]
        if all(c is None for c in coefs):
            coefs[0] = np.zeros(taps, np.int64)
        out.append(ChannelFilter(taps, draw(st.integers(0, 3)), thr, coefs))
    return out


@st.composite
def filter_sets(draw):  # noqa: ANN001
    samples = draw(st.sampled_from([1, 3]))
    return samples, _filters(draw, samples)


def _same(a: ChannelFilter | None, b: ChannelFilter | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.taps, a.clip, a.thresholds) == (b.taps, b.clip, b.thresholds) and all(
        (x is None and y is None) or (x is not None and y is not None and (x == y).all())
        for x, y in zip(a.coefs, b.coefs, strict=True))


@settings(max_examples=150, deadline=None)
@given(filter_sets())
def test_record_round_trip(case):
    samples, filters = case
    rec = pack_record(filters)
    back, off = parse_record(rec + b"\xaa", samples)
    assert off == len(rec)
    assert all(_same(a, b) for a, b in zip(filters, back, strict=True))


def _blurred_ct() -> tuple[np.ndarray, np.ndarray]:
    a, _ = read_image(CT)
    a = a[128:320, 128:320].astype(np.int64)
    b = (a + np.roll(a, 1, 0) + np.roll(a, -1, 0) + np.roll(a, 1, 1) + np.roll(a, -1, 1)) // 5
    return a[:, :, None], b[:, :, None]


def test_decoder_applies_what_the_encoder_fitted():
    a, b = _blurred_ct()
    keep = np.zeros(a.shape[:2], bool)
    keep[:40, :50] = True
    rec, out, _ = fit_filters(b, a, keep, [12], 0.05, (0, 4095))
    assert rec is not None
    assert (out[keep] == b[keep]).all()  # the region is never changed
    assert np.sum((out - a) ** 2) < 0.9 * np.sum((b - a) ** 2)
    filters, off = parse_record(rec, 1)
    assert off == len(rec)
    assert (apply_filters(b, filters, keep, [12], (0, 4095)) == out).all()


def test_no_filter_where_it_cannot_pay():
    a, _ = _blurred_ct()
    rec, out, _ = fit_filters(a, a, None, [12], 1.0, (0, 4095))  # nothing to restore
    assert rec is None and (out == a).all()
    rec, _, _ = fit_filters(a[:8, :8], a[:8, :8] + 1, None, [12], 1.0, (0, 4095))  # too small
    assert rec is None


def _flags(blob: bytes) -> list[int]:
    f = lossy.TileFields(blob[8])
    return [f.read_xform(p, 0)[0] for p in tile_payloads(blob)]


# ----------------------------------------------------------------------------- directions
@st.composite
def directional_sets(draw):  # noqa: ANN001
    """Channel filters some of which split their classes by direction and share filters."""
    samples = draw(st.sampled_from([1, 3]))
    out = _filters(draw, samples)
    for k, cf in enumerate(out):
        if cf is None or not draw(st.booleans()):
            continue
        n_cls = (len(cf.thresholds) + 1) * restore.N_DIRS
        nf = draw(st.integers(1, min(6, n_cls)))
        bank = [np.array(draw(st.lists(st.integers(-COEF_MAX, COEF_MAX), min_size=cf.taps,
                                       max_size=cf.taps)), np.int64) + 2000 * n for n in range(nf)]
        bank = [np.clip(c, -COEF_MAX, COEF_MAX) for c in bank]
        index = draw(st.lists(st.integers(-1, nf - 1), min_size=n_cls, max_size=n_cls))
        index[:nf] = range(nf)  # every filter used (order of first use)
        out[k] = ChannelFilter(cf.taps, cf.clip, cf.thresholds,
                               [None if i < 0 else bank[i] for i in index], restore.N_DIRS)
    return samples, out


@settings(max_examples=150, deadline=None)
@given(directional_sets())
def test_directional_record_round_trip(case):
    samples, filters = case
    rec = pack_record(filters, directional=True)
    back, off = parse_record(rec + b"\xaa", samples, directional=True)
    assert off == len(rec)
    for a, b in zip(filters, back, strict=True):
        assert _same(a, b) and (a is None or a.dirs == b.dirs)
    if enc_restore.uses_directions(filters):
        with pytest.raises(ValueError):
            pack_record(filters)  # the plain syntax cannot say it


def test_direction_classes_follow_the_edges():
    yy, xx = np.mgrid[:32, :32]
    flat = np.full((32, 32), 100, np.int64)
    rows = (yy % 4 < 2).astype(np.int64) * 50  # horizontal stripes: changes down columns
    cols = rows.T.copy()
    diag = ((xx + yy) % 4 < 2).astype(np.int64) * 50  # stripes along the anti-diagonal
    anti = ((xx - yy) % 4 < 2).astype(np.int64) * 50
    d = restore.direction_classes
    assert (d(flat) == 0).all()
    assert (d(rows)[4:-4, 4:-4] == 2).all() and (d(cols)[4:-4, 4:-4] == 1).all()
    assert (d(diag)[4:-4, 4:-4] == 3).all() and (d(anti)[4:-4, 4:-4] == 4).all()


def test_directional_fit_is_applied_exactly():
    """Stripes blurred along one direction only: the fit splits classes by direction,
    and the decoder's filter gives exactly the encoder's output."""
    a, _ = _blurred_ct()
    x = a[:, :, 0]
    rng = np.random.default_rng(0)
    b = x.copy()
    b[:96] = (x[:96] + np.roll(x[:96], 1, 1) + np.roll(x[:96], -1, 1)) // 3  # across columns
    b[96:] = (x[96:] + np.roll(x[96:], 1, 0) + np.roll(x[96:], -1, 0)) // 3  # across rows
    b = b + rng.integers(-1, 2, b.shape)
    rec, out, directional = fit_filters(b[:, :, None], a, None, [12], 0.05, (0, 4095),
                                        directions=True)
    plain, out1, d1 = fit_filters(b[:, :, None], a, None, [12], 0.05, (0, 4095))
    assert rec is not None and directional and not d1
    filters, _ = parse_record(rec, 1, directional=True)
    assert filters[0].dirs == restore.N_DIRS
    assert (apply_filters(b[:, :, None], filters, None, [12], (0, 4095)) == out).all()
    lam = 0.05  # the directional record pays for itself against the plain one
    cost = [8 * len(r) + lam * float(np.sum((o - a) ** 2)) for r, o in ((rec, out), (plain, out1))]
    assert cost[0] < cost[1]


def test_quick_search_merges_under_one_clip_only():
    """``restore_search=False`` (effort 3): the directional merges only under the clip the
    plain fit prefers.  Its filter is one the full search also considers, so it never
    costs less than the full search's, never more than no filter, and the decoder applies
    it exactly; without directions the two searches are the same."""
    a, _ = _blurred_ct()
    x = a[:, :, 0]
    b = x.copy()
    b[:96] = (x[:96] + np.roll(x[:96], 1, 1) + np.roll(x[:96], -1, 1)) // 3
    b[96:] = (x[96:] + np.roll(x[96:], 1, 0) + np.roll(x[96:], -1, 0)) // 3
    b = b + np.random.default_rng(1).integers(-1, 2, b.shape)
    lam, rng = 0.05, (0, 4095)
    got = {s: fit_filters(b[:, :, None], a, None, [12], lam, rng, True, s) for s in (True, False)}
    cost = {s: 8 * len(r) + lam * float(np.sum((o - a) ** 2)) for s, (r, o, _) in got.items()}
    assert cost[True] <= cost[False] < lam * float(np.sum((b[:, :, None] - a) ** 2))
    rec, out, directional = got[False]
    filters, _ = parse_record(rec, 1, directional=directional)
    assert (apply_filters(b[:, :, None], filters, None, [12], rng) == out).all()
    plain = [fit_filters(b[:, :, None], a, None, [12], lam, rng, False, s) for s in (True, False)]
    assert plain[0][0] == plain[1][0] and (plain[0][1] == plain[1][1]).all()


def test_effort_3_restores_with_the_quick_search():
    a = np.ascontiguousarray(read_image(CT)[0][128:320, 128:320])
    quick = mic.encode(a, quality=6)
    assert quick == mic.encode(a, quality=6, effort=2, restore=True, restore_search=False,
                               dq=True, regions=True)
    assert all(x & lossy.XFORM_RESTORE for x in tile_xforms(quick))
    assert mic.encode(a, quality=6, effort=5) == mic.encode(a, quality=6, effort=4,
                                                             restore_search=True)


@pytest.mark.parametrize("index, nf, match", [([0, 3] + [1] * 3, 2, "beyond"),
                                              ([0] * 5, 2, "unused"),
                                              ([0] * 5, 6, "shared filters")])
def test_directional_record_errors(index, nf, match):
    from mic.lossy.enc_restore import _BitWriter

    bw = _BitWriter()
    bw.u(1, 1)  # on
    bw.u(0, 1)  # 6 taps
    bw.u(0, 2)  # no clip
    bw.u(1, 1)  # dir
    bw.ue(0)    # no thresholds: 5 classes
    bw.ue(nf - 1)
    for k in index:
        bw.u(k, nf.bit_length())
    for _ in range(nf * 6):
        bw.se(3)
    body = bw.getvalue()
    with pytest.raises(mic.MicFormatError, match=match):
        parse_record(HEAD.pack(len(body)) + body, 1, directional=True)


def test_direction_flag_needs_the_restoration_flag_and_v2():
    a, _ = read_image(CT)
    v1 = mic.encode(a, effort=7, quality=5, stream_version=1)
    assert all(x < 256 for x in _flags(v1))  # a v1 xform is a byte: never the flag
    blob = mic.encode(a[:128, :128], effort=7, quality=3, restore=False)
    sp = forge.spans(blob)[-2]
    f = lossy.TileFields(2)
    body = bytes(blob[sp.mode_start:sp.payload_end])
    x, off = f.read_xform(body, 0)
    assert not x & lossy.XFORM_RESTORE
    bad = bytes(blob[sp.payload_start:sp.mode_start]) + f.pack_xform(x | 256) + body[off:]
    with pytest.raises(mic.MicFormatError, match="restoration-direction flag"):
        mic.decode(blob[:sp.start] + forge.segment_v2(b"TILE", bad) + blob[sp.payload_end + 4:])


@pytest.mark.parametrize("q", [1, 5])
def test_encoder_sends_it_and_it_lowers_the_error(q):
    a, _ = read_image(CT)
    on = mic.encode(a, effort=7, quality=q)
    off = mic.encode(a, effort=7, quality=q, restore=False)
    assert _flags(on)[0] & lossy.XFORM_RESTORE and not _flags(off)[0] & lossy.XFORM_RESTORE
    # the planes are the same; the record follows the last one
    f = lossy.TileFields(on[8])
    p_on, p_off = tile_payloads(on)[0], tile_payloads(off)[0]
    assert p_on[f.read_xform(p_on, 0)[1]:].startswith(p_off[f.read_xform(p_off, 0)[1]:])
    err = [np.mean((mic.decode(b).astype(float) - a) ** 2) for b in (on, off)]
    assert err[0] < err[1]


def test_constant_region_pixels_stay_exact():
    a, _ = read_image(CT)
    a = a.copy()
    a[:, :100] = 0  # padding: a constant region
    blob = mic.encode(a, effort=7, quality=2)
    assert _flags(blob)[0] & lossy.XFORM_RESTORE
    assert _flags(blob)[0] & 3 == lossy.XFORM_REGION
    assert (mic.decode(blob)[:, :100] == 0).all()


def test_rgb_tiles():
    a, _ = read_image(DATA / "us_breast_rgb.png")
    on = mic.encode(a, effort=7, quality=3)
    off = mic.encode(a, effort=7, quality=3, restore=False)
    err = [np.mean((mic.decode(b).astype(float) - a) ** 2) for b in (on, off)]
    assert err[0] <= err[1]


# ----------------------------------------------------------------------------- forged
@functools.lru_cache(maxsize=1)
def _restored_blob() -> tuple[bytes, object, int]:
    """A stream whose tile has a restoration record, its TILE span, the record's offset."""
    a, _ = read_image(CT)
    # version 1: a plain (not directional) record, which the forged records below replace
    blob = mic.encode(a, effort=7, quality=1, stream_version=1)
    sp = next(s for s in forge.spans(blob) if s.tag == b"TILE")
    plain = tile_payloads(mic.encode(a, effort=7, quality=1, restore=False, stream_version=1))[0]
    return blob, sp, sp.mode_start + len(plain)


def _resegment(blob: bytes, sp, payload: bytes) -> bytes:  # noqa: ANN001
    """``blob`` with the TILE segment at ``sp`` holding ``payload`` (prefix included)."""
    return blob[:sp.start] + forge.segment_like(blob, b"TILE", payload) + blob[sp.payload_end + 4:]


def _with_record(record: bytes) -> bytes:
    blob, sp, rec_at = _restored_blob()
    return _resegment(blob, sp, blob[sp.payload_start:rec_at] + record)


def test_forged_truncated_record():
    blob, sp, rec_at = _restored_blob()
    with pytest.raises(mic.MicTruncatedError, match="restoration"):
        mic.decode(_with_record(bytes(blob[rec_at:rec_at + 1])))
    (n,) = HEAD.unpack_from(blob, rec_at)
    with pytest.raises(mic.MicTruncatedError, match="restoration"):
        mic.decode(_with_record(bytes(blob[rec_at:rec_at + HEAD.size + n - 1])))


def test_forged_trailing_bytes_and_bits():
    blob, sp, rec_at = _restored_blob()
    body = bytes(blob[rec_at + HEAD.size:sp.payload_end])
    with pytest.raises(mic.MicFormatError, match="trailing"):
        mic.decode(_with_record(HEAD.pack(len(body) + 1) + body + b"\x00"))
    f = [ChannelFilter(6, 0, [], [np.zeros(6, np.int64)])]
    rec = bytearray(pack_record(f))
    rec[-1] |= 1  # a padding bit set
    with pytest.raises(mic.MicFormatError, match="trailing bits"):
        parse_record(bytes(rec), 1)


def test_forged_fields():
    big = [ChannelFilter(6, 0, [], [np.array([COEF_MAX + 1, 0, 0, 0, 0, 0])])]
    with pytest.raises(mic.MicFormatError, match="coefficient"):
        mic.decode(_with_record(pack_record(big)))
    many = [ChannelFilter(6, 0, [1, 2, 3, 4], [np.zeros(6, np.int64)] * 5)]
    with pytest.raises(mic.MicFormatError, match="classes"):
        mic.decode(_with_record(pack_record(many)))
    none_on = [ChannelFilter(6, 0, [5], [None, None])]
    with pytest.raises(mic.MicFormatError, match="every class off"):
        mic.decode(_with_record(pack_record(none_on)))
    with pytest.raises(mic.MicFormatError, match="ends inside"):
        parse_record(HEAD.pack(1) + b"\xff", 1)  # on, 12 taps, clip 3, then nothing


def test_flag_on_a_whole_tile_region_is_refused():
    blob = mic.encode(np.full((64, 64), 9, np.uint16), effort=7, quality=2)
    sp = next(s for s in forge.spans(blob) if s.tag == b"TILE")
    payload = bytearray(blob[sp.payload_start:sp.payload_end])
    payload[sp.mode_start - sp.payload_start] |= lossy.XFORM_RESTORE
    rec = pack_record([ChannelFilter(6, 0, [], [np.zeros(6, np.int64)])])
    with pytest.raises(mic.MicFormatError, match="whole-tile"):
        mic.decode(_resegment(blob, sp, bytes(payload) + rec))


def test_cli_no_restore(tmp_path):
    on, off = cli_xforms_with_and_without(tmp_path, CT, 2, "--no-restore")
    assert on & lossy.XFORM_RESTORE and not off & lossy.XFORM_RESTORE