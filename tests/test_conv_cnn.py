"""The shipped learned convolutional-transform model ``cnn`` (model id 9, SPEC 6.12: the
transforms of ``vae`` with a mean-scale hyperprior and a parallel checkerboard context)
end to end: round trips, rate against quality, its exact integer path against an int64
recomputation, the anchors' independence of the other latents, invalid streams, CLI,
DICOM, export.  (Determinism and torch-free decoding of every conv model:
test_conv_codec.py.)"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import mic
from mic.models.weights import registry
from mic_test_helpers import (conv_cli_round_trip, conv_edited, conv_rate_grows_with_quality,
                              conv_round_trip, conv_sources, conv_tile_fields,
                              conv_with_payload, int_network_reference, load_forge, psnr)

if "cnn" not in registry():
    pytest.skip("no cnn weights in this checkout", allow_module_level=True)

SOURCES = conv_sources()


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_round_trip_real_images(name):
    conv_round_trip(SOURCES[name], "cnn", 9)


def test_rate_and_psnr_grow_with_quality():
    conv_rate_grows_with_quality(SOURCES["ct_u16_12bit"], "cnn")


def test_constant_planes_tiles_target_and_stream_version_1():
    a = np.full((2, 70, 90), 1234, np.uint16)
    a[1] = 7
    blob = mic.encode(a, quality=2, model="cnn", tile=64)
    assert np.array_equal(mic.decode(blob), a) and len(blob) < 300
    b = SOURCES["lung_i16_signed"][:150, :170]
    out = mic.decode(mic.encode(b, quality=5, model="cnn", tile=48))
    assert out.shape == b.shape and psnr(out, b, 16) > 40.0
    t = mic.encode_target(b, bpp=0.5, model="cnn")
    assert mic.info(t).model == "cnn" and mic.info(t).bits_per_pixel <= 0.5
    v1 = mic.encode(b, quality=3, model="cnn", stream_version=1)
    assert mic.info(v1).version == "1.0"
    assert np.array_equal(mic.decode(v1), mic.decode(mic.encode(b, quality=3, model="cnn")))


def _plane(seed: int = 0, shape: tuple[int, int] = (2, 3)):
    """The shipped model's integer path on random hyper-latents (nz, *shape)."""
    from mic.lossy.model import load_model

    lm = load_model("cnn")
    zq = np.random.default_rng(seed).integers(-6, 7, (lm.nz, *shape))
    return lm, zq, lm.meanscale.plane(zq, 3)


def test_integer_path_equals_an_int64_recomputation():
    """SPEC 6.12: hs, ctx (at the non-anchors), ep, the means' rounding and the table
    indexes, recomputed with int64 integers (no floats), equal the float64 BLAS path."""
    from mic.models.conv_meanscale import CTX_CLAMP, MEAN_FRAC, anchor_mask

    lm, zq, pl = _plane()
    ms = lm.meanscale
    m, h, w = ms.m, pl.h, pl.w
    mean_a, tab_a = pl.anchor_params()
    sym_a = np.random.default_rng(1).integers(-30, 31, mean_a.shape)
    sym_a[0, 0] = 1 << 14  # one anchor beyond CTX_CLAMP: clamped
    mean_o, tab_o = pl.nonanchor_params(sym_a)

    hf = int_network_reference(ms.hs, np.clip(zq, -(1 << 15), 1 << 15) * int(ms.zk[3]))
    assert np.array_equal(ms.hs(zq, int(ms.zk[3])), hf)
    anchors = anchor_mask(h, w)
    ya = np.zeros((m, h * w), np.int64)
    ya[:, anchors.reshape(-1)] = np.clip(sym_a * (1 << MEAN_FRAC) + mean_a, -CTX_CLAMP, CTX_CLAMP)
    ctx = int_network_reference(ms.ctx, ya.reshape(m, h, w)).reshape(m, -1)

    def ep(cf: np.ndarray, where: np.ndarray):
        feats = np.concatenate([hf.reshape(m, -1), cf])[:, where.reshape(-1)]
        acc = int_network_reference(ms.ep, feats[:, :, None])[:, :, 0]
        k = ms.ep.out_frac - MEAN_FRAC
        mean = (acc[:m] + (1 << (k - 1))) >> k  # floor((acc + 2^(k-1)) / 2^k)
        tab = np.searchsorted(ms.thresholds, acc[m:], side="right")
        return mean, tab

    for (mean, tab), (rm, rt) in (((mean_a, tab_a), ep(np.zeros_like(ctx), anchors)),
                                  ((mean_o, tab_o), ep(ctx, ~anchors))):
        assert np.array_equal(mean, rm) and np.array_equal(tab, rt)
    assert len(np.unique(tab_o)) > 1 and np.abs(mean_o).max() > 0


def test_anchor_tables_depend_on_the_hyper_latents_alone():
    """The anchors' (mean, table) come from ep(hf, 0): the same whatever the anchors and
    the other latents decode to; the others' depend on the decoded anchors (the
    context), and on nothing else."""
    lm, zq, pl = _plane(2)
    _, _, pl2 = _plane(2)
    a1 = pl.anchor_params()
    sym = np.zeros(a1[0].shape, np.int64)
    o1 = pl.nonanchor_params(sym)
    a2 = pl2.anchor_params()
    o2 = pl2.nonanchor_params(sym + 5)
    assert all(np.array_equal(x, y) for x, y in zip(a1, a2))
    assert not np.array_equal(o1[0], o2[0])
    assert all(np.array_equal(x, y) for x, y in zip(o1, pl.nonanchor_params(sym)))


def _stream() -> bytes:
    return mic.encode(SOURCES["cr_u8"][:128, :128], quality=2, model="cnn")


def test_symbols_crc_covers_hyper_latents_then_symbols():
    """SPEC 6.12: symbols_crc32 is the CRC-32 of z then of the symbols round(y - mean);
    g_s reads symbol + mean (multiples of 1/8)."""
    from mic.bitstream import read_stream
    from mic.lossy.dec_conv import ConvTileDecoder

    blob = _stream()
    st = read_stream(blob)
    dec = ConvTileDecoder(st.header, st)
    buf = memoryview(st.tiles[(0, 0)])
    _, ((_, _, (crc, start, nw), _),) = dec._layout(buf, 128, 128)
    zq, sym, y_hat = dec.decode_latents(buf, start, nw, crc, 128, 128)
    assert zq.shape == (64, 2, 2) and sym.shape == y_hat.shape == (96, 8, 8)
    assert zlib.crc32(sym.astype("<i4").tobytes(), zlib.crc32(zq.astype("<i4").tobytes())) == crc
    mean8 = (y_hat - sym) * 8
    assert np.array_equal(mean8, np.round(mean8)) and np.abs(mean8).max() > 0


def test_invalid_streams_raise_specific_errors():
    blob = _stream()
    sp, _, head, words, nw = conv_tile_fields(blob)
    with pytest.raises(mic.MicChecksumError):
        mic.decode(conv_edited(blob, head, blob[head] ^ 1))
    at = words + 4 * (nw // 2)
    with pytest.raises((mic.MicChecksumError, mic.MicFormatError)):
        mic.decode(conv_edited(blob, at, blob[at] ^ 0x10))
    with pytest.raises(mic.MicFormatError, match="xform"):
        mic.decode(conv_edited(blob, sp.mode_start, 1))
    payload = blob[sp.mode_start:sp.payload_end]
    with pytest.raises(mic.MicTruncatedError):
        mic.decode(conv_with_payload(blob, payload[:-3]))
    with pytest.raises(mic.MicFormatError, match="trailing"):
        mic.decode(conv_with_payload(blob, payload + b"\0"))


def test_forged_huge_tile_is_refused():
    """A 128 x 128 tile's words under a 16384 x 16384 header: its working planes (the
    integer path's features included, SPEC 6.12) exceed the default limit before anything
    is decoded."""
    bad = load_forge().regrid(_stream(), rows=16384, cols=16384, tile_rows=16384,
                              tile_cols=16384)
    with pytest.raises(mic.MicLimitError, match="working"):
        mic.decode(bad)


def test_stream_with_another_table_id_is_refused():
    """The table id covers every integer weight that decides a table (SPEC 6.12)."""
    from mic.lossy import LMDS

    forge = load_forge()
    blob = _stream()
    sp = next(s for s in forge.spans(blob) if s.tag == b"LMDS")
    mid, sha, tid, nq = LMDS.unpack_from(blob, sp.payload_start)
    b = bytearray(blob)
    LMDS.pack_into(b, sp.payload_start, mid, sha, tid ^ 1, nq)
    with pytest.raises(mic.MicError, match="table"):
        mic.decode(bytes(forge.refresh_crc(b, sp)))


def test_cli_and_dicom(tmp_path):
    from pydicom import dcmread
    from pydicom.data import get_testdata_file
    from pydicom.encaps import encapsulate

    import mic.dicom

    out, _ = conv_cli_round_trip(tmp_path, SOURCES["odd_97x131"], "cnn", 3)
    assert "cnn" in out and "checkerboard" in out and "generative" not in out
    # a DICOM object whose pixel data is a cnn stream decodes through the pydicom plugin
    ds = dcmread(get_testdata_file("CT_small.dcm"))
    a = ds.pixel_array
    blob = mic.encode(a, quality=5, model="cnn")
    ds.PixelData = encapsulate([blob + b"\0" * (len(blob) % 2)], has_bot=True)
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = mic.dicom.MIC_TRANSFER_SYNTAX
    assert np.array_equal(ds.pixel_array, mic.decode(blob))


def test_export_is_reproducible_and_follows_the_torch_model(tmp_path):
    """A tiny cnn exports to the same bytes twice; its integer path gives the torch
    model's means (within the 1/8 grid) and log-scales on the same integer inputs."""
    torch = pytest.importorskip("torch")
    from mic.models.conv_meanscale import MEAN_FRAC, IntMeanScale
    from mic.train import conv_models as cm
    from mic.train.conv_export import export_conv_model, freeze_conv

    torch.manual_seed(3)
    net = cm.build_model("cnn", size="tiny").eval()
    a = export_conv_model(net, "cnn", tmp_path / "a")
    export_conv_model(net, "cnn", tmp_path / "b")
    assert a["id"] == 9 and a["config"]["kind"] == "conv-meanscale"
    assert a["config"]["mean_frac"] == MEAN_FRAC == cm.MEAN_FRAC
    assert (tmp_path / "a" / "cnn.safetensors").read_bytes() == \
        (tmp_path / "b" / "cnn.safetensors").read_bytes()
    t, tid = freeze_conv(net)
    assert tid == a["table_id"]
    ms = IntMeanScale.from_tensors(t)
    zq = np.random.default_rng(0).integers(-3, 4, (net.nz, 2, 2))
    pl = ms.plane(zq, 5)
    mean_a, tab_a = pl.anchor_params()
    sym_a = np.random.default_rng(1).integers(-4, 5, mean_a.shape)
    mean_o, _ = pl.nonanchor_params(sym_a)
    mean = pl.assemble(mean_a, mean_o) / 8.0
    with torch.no_grad():
        k = float(ms.zk[5])
        hf = net.h_s(torch.from_numpy(zq).float()[None] * k / 2 ** cm.ZK_FRAC)
        anchor = cm.checkerboard(8, 8)
        y_hat = torch.from_numpy(pl.assemble(sym_a, np.zeros_like(mean_o)) + mean).float()[None]
        cf = net.context(y_hat * anchor) * (1 - anchor)
        mu_t = torch.lerp(net.params(hf, cf)[0], net.params(hf, torch.zeros_like(hf))[0], anchor)
    assert np.abs(mean - mu_t[0].double().numpy()).max() <= 2 ** -MEAN_FRAC + 1e-6


def test_shipped_weights_record_their_training():
    ent = registry()["cnn"]
    assert ent["id"] == 9 and ent["config"]["kind"] == "conv-meanscale"
    assert ent["qualities"] == 8 and ent["config"]["mean_frac"] == 3
    tr = ent["training"]
    assert tr["steps"] > 0 and "conv_loop" in tr["command"] and tr["data"] == "corpus/train only"
    assert tr["warm_start"]["model"] == "vae"
