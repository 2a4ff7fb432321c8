"""The shipped learned convolutional-transform model ``ae`` (model id 7, SPEC 6.11: the
transforms of ``vae`` with a factorized prior, no side information) end to end: round
trips of every kind, rate against quality, the factorized tables, invalid streams,
export, CLI.  (Determinism and torch-free decoding of every conv model:
test_conv_codec.py.)"""

from __future__ import annotations

import hashlib
import zlib

import numpy as np
import pytest

import mic
from mic.models.weights import registry
from mic_test_helpers import (conv_edited, conv_rate_grows_with_quality, conv_round_trip,
                              conv_sources, conv_tile_fields, conv_with_payload, load_forge,
                              psnr)

if "ae" not in registry():
    pytest.skip("no ae weights in this checkout", allow_module_level=True)

SOURCES = {**conv_sources(), "tiny_5x3": conv_sources()["ct_u16_12bit"][100:105, 100:103]}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_round_trip_real_images(name):
    # a 5 x 3 image: the container overhead dominates its rate and error
    conv_round_trip(SOURCES[name], "ae", 7, bounded=SOURCES[name].size >= 4096)


def test_eight_bit_round_trip():
    a = SOURCES["cr_u8"][:200, :300]
    out = mic.decode(mic.encode(a, quality=6, model="ae"))
    assert out.dtype == np.uint8 and psnr(out, a, 8) > 28.0


def test_rate_and_psnr_grow_with_quality():
    conv_rate_grows_with_quality(SOURCES["ct_u16_12bit"], "ae")


def test_constant_planes_and_tiles():
    a = np.full((2, 70, 90), 1234, np.uint16)
    a[1] = 7
    blob = mic.encode(a, quality=2, model="ae", tile=64)
    assert np.array_equal(mic.decode(blob), a) and len(blob) < 300
    b = SOURCES["lung_i16_signed"][:150, :170]
    out = mic.decode(mic.encode(b, quality=5, model="ae", tile=48))
    assert out.shape == b.shape and psnr(out, b, 16) > 40.0


def test_factorized_tables_are_integer_and_valid():
    """SPEC 6.11: Q * M integer tables (frequencies >= 1 summing to 2**20), table q*M + c
    for channel c at quality q; the table id is sha256(sha256(tables))[:4]."""
    from mic.entropy import FREQ_BITS
    from mic.lossy.model import load_model

    lm = load_model("ae")
    t = lm.ybank.tables
    assert len(t.half) == lm.n_qualities * lm.m == 8 * 96
    assert not lm.uses_hyper and lm.align == 16 and lm.nz == 0
    for f in t.freqs():
        assert f.dtype == np.int32 and int(f.min()) >= 1 and int(f.sum()) == 1 << FREQ_BITS
    tid = hashlib.sha256(t.digest()).hexdigest()[:8]
    assert int(tid, 16) == lm.table_id == int(registry()["ae"]["table_id"], 16)
    tabs = lm.latent_tables(None, 3, (96, 2, 5))
    assert tabs.dtype == np.int32 and tabs.tolist() == np.repeat(np.arange(288, 384), 10).tolist()


def _stream() -> bytes:
    return mic.encode(SOURCES["cr_u8"][:128, :128], quality=2, model="ae")


def test_symbols_crc_covers_the_latents_alone():
    from mic.bitstream import read_stream
    from mic.lossy.dec_conv import ConvTileDecoder

    blob = mic.encode(SOURCES["cr_u8"][:70, :45], quality=2, model="ae")
    st = read_stream(blob)
    dec = ConvTileDecoder(st.header, st)
    buf = memoryview(st.tiles[(0, 0)])
    _, ((_, _, (crc, start, nw), _),) = dec._layout(buf, 70, 45)
    zq, yq = dec.decode_symbols(buf, start, nw, crc, 70, 45)
    assert zq.size == 0 and yq.shape == (96, 5, 3)  # padded to 80 x 48: multiples of 16
    assert zlib.crc32(yq.astype("<i4").tobytes()) == crc


def test_invalid_streams_raise_specific_errors():
    blob = _stream()
    sp, _, head, words, nw = conv_tile_fields(blob)
    assert mic.decode(blob).shape == (128, 128)
    with pytest.raises(mic.MicChecksumError):
        mic.decode(conv_edited(blob, head, blob[head] ^ 1))
    at = words + 4 * (nw // 2)
    with pytest.raises((mic.MicChecksumError, mic.MicFormatError)):
        mic.decode(conv_edited(blob, at, blob[at] ^ 0x10))
    with pytest.raises(mic.MicFormatError, match="xform"):
        mic.decode(conv_edited(blob, sp.mode_start, 1))
    with pytest.raises(mic.MicFormatError, match="bits"):
        mic.decode(conv_edited(blob, head - 1, 32))
    payload = blob[sp.mode_start:sp.payload_end]
    with pytest.raises(mic.MicFormatError, match="trailing"):
        mic.decode(conv_with_payload(blob, payload + b"\0"))
    with pytest.raises(mic.MicTruncatedError):
        mic.decode(conv_with_payload(blob, payload[:-3]))
    with pytest.raises(mic.MicTruncatedError):
        mic.decode(conv_with_payload(blob, payload[:3]))
    with pytest.raises(mic.MicError):
        mic.decode(blob[:len(blob) // 2])


def test_stream_of_one_model_is_not_decoded_with_the_other():
    """The model segment names the weights (sha256 prefix, table id): an ae stream whose
    header and segment say vae (id 8) is refused, not decoded with the vae's tables."""
    from mic.lossy import LMDS

    forge = load_forge()
    blob = _stream()
    sp = next(s for s in forge.spans(blob) if s.tag == b"LMDS")
    _, sha, tid, nq = LMDS.unpack_from(blob, sp.payload_start)
    b = bytearray(blob)
    LMDS.pack_into(b, sp.payload_start, 8, sha, tid, nq)
    b = forge.refresh_crc(b, sp)
    with pytest.raises(mic.MicError):
        mic.decode(forge.set_header_fields(b, model_id=8) if blob[8] == 1 else bytes(b))


def test_forged_huge_tile_is_refused():
    """A 128 x 128 tile's words under a 16384 x 16384 header: within the default
    max_pixels the working planes exceed the limit before anything is decoded.  (With
    max_pixels raised, the word bound of SPEC 4.1 is weaker than the vae's: a channel the
    model leaves at 0 costs ~6e-6 bits a symbol, and with no hyper-latents (1.04 bits each in
    the vae) the words may pass it; the decoder
    then refuses the desynchronised symbols, still a MicFormatError.)"""
    forge = load_forge()
    bad = forge.regrid(_stream(), rows=16384, cols=16384, tile_rows=16384, tile_cols=16384)
    with pytest.raises(mic.MicFormatError):
        mic.decode(bad, max_pixels=1 << 34)
    with pytest.raises(mic.MicLimitError, match="working"):
        mic.decode(bad)


def test_cli_encode_info_decode(tmp_path):
    from click.testing import CliRunner

    from mic.cli import main

    run = CliRunner().invoke
    np.save(tmp_path / "a.npy", SOURCES["odd_97x131"])
    res = run(main, ["encode", str(tmp_path / "a.npy"), str(tmp_path / "a.mic"),
                     "--quality", "3", "--model", "ae"])
    assert res.exit_code == 0, res.output
    res = run(main, ["info", str(tmp_path / "a.mic")])
    assert res.exit_code == 0 and "ae" in res.output and "factorized prior" in res.output
    res = run(main, ["decode", str(tmp_path / "a.mic"), str(tmp_path / "b.npy")])
    assert res.exit_code == 0, res.output
    assert np.load(tmp_path / "b.npy").shape == (97, 131)


def test_encode_target_and_stream_version_1():
    a = SOURCES["ct_u16_12bit"]
    blob = mic.encode_target(a, bpp=0.3, model="ae")
    assert mic.info(blob).model == "ae" and mic.info(blob).bits_per_pixel <= 0.3
    v1 = mic.encode(a, quality=3, model="ae", stream_version=1)
    assert mic.info(v1).version == "1.0"
    assert np.array_equal(mic.decode(v1), mic.decode(mic.encode(a, quality=3, model="ae")))


def test_export_is_reproducible_and_matches_the_torch_density(tmp_path):
    """Exporting a (tiny) ae twice writes the same bytes; its integer tables follow the
    torch density: the ideal cost of symbols under the tables is within 1 % of the
    density's own -log2 likelihood."""
    torch = pytest.importorskip("torch")
    from mic.entropy import ModelBank, TableSet
    from mic.train.conv_export import export_conv_model, freeze_conv
    from mic.train.conv_models import build_model

    torch.manual_seed(5)
    net = build_model("ae", size="tiny").eval()
    a = export_conv_model(net, "ae", tmp_path / "a")
    export_conv_model(net, "ae", tmp_path / "b")
    assert a["id"] == 7 and a["config"]["kind"] == "conv-factorized"
    assert (tmp_path / "a" / "ae.safetensors").read_bytes() == \
        (tmp_path / "b" / "ae.safetensors").read_bytes()
    t, _ = freeze_conv(net)
    assert not any(k.startswith(("h_a", "hs.", "tab_z", "zk")) for k in t)
    bank = ModelBank(TableSet.from_tensors(t, "tab_y"))
    q = 3
    v = torch.round(torch.randn(1, net.m, 8, 8) * 2)
    with torch.no_grad():
        ideal = float(-torch.log2(net.y_density.likelihood_q(v, torch.tensor([q]))).sum())
    sym = v[0].numpy().astype(np.int64)
    tabs = np.repeat(np.arange(q * net.m, (q + 1) * net.m), 64)
    half = bank.tables.half[tabs]
    f = bank.tables.flat[bank.tables.offsets[tabs] + sym.reshape(-1) + half]
    got = float(-np.log2(f / float(1 << 20)).sum())
    assert abs(got - ideal) < 0.01 * ideal + 1.0


def test_shipped_weights_record_their_training():
    ent = registry()["ae"]
    assert ent["id"] == 7 and ent["config"]["arch"] == "conv"
    assert ent["config"]["kind"] == "conv-factorized" and ent["qualities"] == 8
    tr = ent["training"]
    assert tr["steps"] > 0 and tr["cpu_minutes"] > 0 and "conv_loop" in tr["command"]
    assert "--init-from" in tr["command"] and tr["data"] == "corpus/train only"
    # the steps it started from count in the total: a vae's, or (since 2026-12-06) the
    # transforms of a cnn that was itself warm-started from the vae
    ws = tr["warm_start"]
    assert ws["model"] in ("vae", "cnn") and ws["step"] > 0
    assert tr["total_cpu_minutes"] >= tr["cpu_minutes"] + ws["cpu_minutes"] - 0.1
