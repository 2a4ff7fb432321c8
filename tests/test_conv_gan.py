"""The shipped generative model ``gan`` (model id 10, SPEC 6.13: the ``cnn`` model's
bitstream, its synthesis fine-tuned adversarially): round trips through the API and the
CLI, header flag bit 1 (set exactly on gan streams, reported by ``mic.info`` and ``mic
info``, a forged bit refused), the DICOM Lossy Image Compression Method, and the export
of gan checkpoints (a cnn architecture exported as gan only when trained as one)."""

from __future__ import annotations

import numpy as np
import pytest

import mic
from mic.bitstream import unpack_header
from mic.models.registry import FLAG_GENERATIVE
from mic.models.weights import registry
from mic_test_helpers import conv_cli_round_trip, conv_sources, load_forge, psnr

if "gan" not in registry():
    pytest.skip("no gan weights in this checkout", allow_module_level=True)

SOURCES = conv_sources()


def _flags(blob: bytes) -> int:
    return unpack_header(blob)[0].flags


@pytest.mark.parametrize("name", ["odd_97x131", "us_rgb", "frames"])
def test_round_trip_sets_and_reports_the_generative_flag(name):
    a = SOURCES[name]
    blob = mic.encode(a, quality=3, model="gan")
    info = mic.info(blob)
    assert (info.mode, info.model, info.model_id, info.quality) == ("lossy", "gan", 10, 3)
    assert info.generative and _flags(blob) & FLAG_GENERATIVE
    assert "generative" in info.model_description and "adversarial" in info.model_description
    out = mic.decode(blob)
    assert out.dtype == a.dtype and out.shape == a.shape
    assert psnr(out, a, info.bits_stored) > 24.0
    v1 = mic.encode(a, quality=3, model="gan", stream_version=1)
    assert mic.info(v1).generative and np.array_equal(mic.decode(v1), out)


def test_only_gan_streams_set_the_flag():
    a = SOURCES["odd_97x131"][:64, :64]
    for blob in (mic.encode(a, quality=3, model="cnn"), mic.encode(a, quality=3),
                 mic.encode(a), mic.encode(a, max_error=2)):
        assert not mic.info(blob).generative and not _flags(blob) & FLAG_GENERATIVE


def test_a_forged_generative_flag_is_a_format_error():
    """SPEC 3: the bit must match the model the stream names (either header layout)."""
    forge = load_forge()
    a = SOURCES["odd_97x131"][:64, :64]
    gan = [mic.encode(a, quality=2, model="gan", stream_version=v) for v in (1, 2)]
    others = [mic.encode(a, quality=2, model="cnn"), mic.encode(a, quality=2), mic.encode(a)]
    for blob in gan:
        with pytest.raises(mic.MicFormatError, match="clear, but model id 10 is generative"):
            mic.decode(forge.flip_header_flags(blob, FLAG_GENERATIVE))
    for blob in others:
        forged = forge.flip_header_flags(blob, FLAG_GENERATIVE)
        assert mic.info(forged).generative  # info reports what the header says
        with pytest.raises(mic.MicFormatError, match="is not generative"):
            mic.decode(forged)
    # the other reserved bits stay reserved: written 0, ignored
    assert np.array_equal(mic.decode(forge.flip_header_flags(gan[1], 4)), mic.decode(gan[1]))


def test_cli_says_plainly_what_a_generative_stream_is(tmp_path):
    out, blob = conv_cli_round_trip(tmp_path, SOURCES["odd_97x131"], "gan", 2)
    assert mic.info(blob).model == "gan"
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("generative"))
    assert "synthesise texture" in line and "not for primary diagnosis" in line


def test_dicom_names_the_generative_method(tmp_path):
    from click.testing import CliRunner
    from pydicom import dcmread
    from pydicom.data import get_testdata_file
    from pydicom.encaps import generate_frames

    import mic.dicom
    from mic.cli import main

    src = get_testdata_file("CT_small.dcm")
    for model, method in (("gan", "MIC_GAN"), ("cnn", "MIC_LEARNED"), (None, "MIC_LEARNED")):
        ds = mic.dicom.compress(dcmread(src), 4, model=model)
        assert ds.LossyImageCompression == "01" and ds.LossyImageCompressionMethod == method
        frame = next(generate_frames(ds.PixelData, number_of_frames=1))
        assert mic.info(frame).generative == (model == "gan")
        assert ds.pixel_array.shape == (128, 128)
    with pytest.raises(mic.MicInputError, match="quality"):
        mic.dicom.compress(dcmread(src), model="gan")
    assert all(len(m) <= 16 and m.replace("_", "").isalnum() and m.isupper()
               for m in mic.dicom.MODEL_METHODS.values())  # legal CS values
    res = CliRunner().invoke(main, ["dicom", "compress", src, str(tmp_path / "g.dcm"),
                                    "-q", "2", "--model", "gan", "--quiet"])
    assert res.exit_code == 0, res.output
    assert dcmread(tmp_path / "g.dcm").LossyImageCompressionMethod == "MIC_GAN"
    res = CliRunner().invoke(main, ["dicom", "compress", src, str(tmp_path / "h.dcm"),
                                    "--model", "gan"])
    assert res.exit_code == 2 and "--quality" in res.output


def test_export_names_gan_only_what_was_trained_as_gan(tmp_path):
    """A gan checkpoint holds a cnn architecture (config ``"model": "cnn"``) and
    ``model_name`` gan: it exports as gan (generative), never as cnn, and a cnn never as
    gan; the runtime refuses weights whose generative mark disagrees with the id."""
    torch = pytest.importorskip("torch")
    from safetensors.numpy import load_file

    from mic.lossy.conv_model import load_conv
    from mic.train import conv_models as cm
    from mic.train.conv_export import export_conv_checkpoint, export_conv_model

    torch.manual_seed(5)
    gan, cnn = cm.build_model("gan", size="tiny"), cm.build_model("cnn", size="tiny")
    assert gan.config() == cnn.config() and cm.trained_as(gan) == "gan"
    with pytest.raises(ValueError, match="a gan model cannot be exported as cnn"):
        export_conv_model(gan, "cnn", tmp_path / "x")
    with pytest.raises(ValueError, match="a cnn model cannot be exported as gan"):
        export_conv_model(cnn, "gan", tmp_path / "x")
    settings = {"model": "gan", "size": "tiny", "batch": 1, "crop": 64, "seed": 0,
                "n_qualities": 8, "adv_weight": 0.01}
    ck = {"config": gan.config(), "model": gan.state_dict(), "model_name": "gan", "step": 3,
          "cpu_s": 6.0, "wall_s": 6.0, "settings": settings}
    torch.save(ck, tmp_path / "gan.pt")
    ent = export_conv_checkpoint(tmp_path / "gan.pt", tmp_path / "w")
    assert ent["id"] == 10 and ent["training"]["trained_as"] == "gan"
    assert (ent["config"]["model"], ent["config"]["kind"], ent["config"]["generative"]) == \
        ("gan", "conv-meanscale", True)
    tensors = load_file(str(tmp_path / "w" / "gan.safetensors"))
    assert load_conv("gan", 10, "conv-meanscale", ent, tensors).generative
    for cfg in ({**ent["config"], "generative": False}, {**ent["config"], "model": "cnn"}):
        with pytest.raises(mic.MicUnsupportedError):
            load_conv("gan", 10, "conv-meanscale", {**ent, "config": cfg}, tensors)
    torch.save({**ck, "model_name": "vae"}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="cannot be trained as 'vae'"):
        export_conv_checkpoint(tmp_path / "bad.pt", tmp_path / "w")


def test_shipped_weights_record_their_training():
    ent = registry()["gan"]
    assert ent["id"] == 10 and ent["config"]["kind"] == "conv-meanscale"
    assert ent["config"]["model"] == "gan" and ent["config"]["generative"] is True
    assert "generative" not in registry()["cnn"]["config"]
    tr = ent["training"]
    assert tr["steps"] > 0 and "--model gan" in tr["command"] and tr["trained_as"] == "gan"
    assert tr["warm_start"]["model"] == "cnn"
