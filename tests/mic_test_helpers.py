"""Shared by several test modules (not a test module itself)."""

from __future__ import annotations

import contextlib
import gc
import importlib.util
import signal
import sys
from pathlib import Path
from collections.abc import Iterator
from types import ModuleType


def load_formats_module(file: str) -> ModuleType:
    """``formats/<file>`` imported once, as ``mic_formats_<stem>`` (formats/ is not a
    package: its scripts are imported by path)."""
    name = "mic_formats_" + Path(file).stem
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).resolve().parents[1] / "formats" / file
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def load_forge() -> ModuleType:
    """``formats/forge.py`` (stream forging helpers)."""
    return load_formats_module("forge.py")


def load_reference_decoder() -> ModuleType:
    """``formats/reference_decoder.py`` (the decoder written from SPEC.md alone)."""
    return load_formats_module("reference_decoder.py")


def check_lossless_vector(vec: Path, v: dict, model_id: int) -> None:
    """A valid lossless vector of ``vec``/vectors.json: its stream's and samples' sha256 as
    recorded, decoded exactly by mic (as model ``model_id``) and by the reference decoder."""
    import hashlib

    import numpy as np

    import mic

    stream = (vec / v["stream"]).read_bytes()
    assert hashlib.sha256(stream).hexdigest() == v["stream_sha256"]
    src = np.load(vec / v["source"], allow_pickle=False)
    assert load_formats_module("vector_files.py").samples_sha256(src) == v["samples_sha256"]
    assert np.array_equal(mic.decode(stream), src) and mic.info(stream).model_id == model_id
    assert np.array_equal(load_reference_decoder().decode(stream), src)


def check_invalid_vector(vec: Path, name: str, expected: dict) -> None:
    """An invalid vector ``vec``/invalid/``name``.mic: mic raises the error class its
    ``expected`` entry names (exactly that class, or a subclass where ``exact`` is false),
    and the reference decoder refuses it too."""
    import pytest

    import mic

    stream = (vec / "invalid" / f"{name}.mic").read_bytes()
    with pytest.raises(mic.MicError) as info:
        mic.decode(stream)
    if expected["exact"]:
        assert type(info.value) is getattr(mic, expected["error"])
    else:
        assert isinstance(info.value, getattr(mic, expected["error"]))
    with pytest.raises(Exception):
        load_reference_decoder().decode(stream)


#: the bundled test images the fast lossless models' tests round-trip (tests/data)
LOSSLESS_IMAGES = ["ct_abdomen_u16.png", "mr_brain_u16.png", "cr_chest_u8.png",
                   "us_breast_u8.png", "us_breast_rgb.png", "ct_lung_i16.npy"]


def data_image(name: str):  # noqa: ANN201 - a numpy array
    """A test image of tests/data as mic reads it (``.npy`` loaded as saved)."""
    import numpy as np

    from mic.io import read_image

    path = Path(__file__).resolve().parent / "data" / name
    return np.load(path) if name.endswith(".npy") else read_image(path)[0]


def vector_set(folder: str) -> tuple[Path, list[dict], dict]:
    """``formats/<folder>``: its path, its vectors.json vectors and invalid/expected.json."""
    import json

    vec = Path(__file__).resolve().parents[1] / "formats" / folder
    return (vec, json.loads((vec / "vectors.json").read_text())["vectors"],
            json.loads((vec / "invalid" / "expected.json").read_text()))


def tile_payloads(blob: bytes) -> list[bytes]:
    """The payload of every TILE segment of a .mic stream (after its 8-byte frame/tile
    prefix), in stream order."""
    forge = load_forge()
    return [blob[s.mode_start:s.payload_end] for s in forge.spans(blob)
            if s.tag == b"TILE"]


def tile_xforms(blob: bytes) -> list[int]:
    """The lossy ``xform`` (colour transform and tile flags) of every TILE segment, read as
    the stream's version writes it (v1 one byte, v2 a varint whose first byte alone
    would misread the flags from 128 up)."""
    import mic
    from mic.lossy.syntax import TileFields

    fields = TileFields(int(mic.info(blob).version.split(".")[0]))
    return [fields.read_xform(p, 0)[0] for p in tile_payloads(blob)]


def near_small_plane_vs_reference(shape: tuple[int, int], k: int, model_id: int,
                                  **opts) -> None:
    """A small 12-bit noise plane (seeded by its shape and ``k``) coded near-lossless with
    ``opts``: the stream is model ``model_id``, every sample within ``k``, and the reference
    decoder (SPEC.md alone) gives mic's samples: every edge rule on tiny planes."""
    import numpy as np

    import mic
    from mic.bitstream import unpack_header

    rng = np.random.default_rng(shape[0] * 100 + shape[1] + k)
    a = rng.integers(0, 4096, shape).astype(np.uint16)
    a[0, 0] = 4095
    blob = mic.encode(a, max_error=k, bits_stored=12, **opts)
    assert unpack_header(blob)[0].model_id == model_id
    out = mic.decode(blob)
    assert int(np.abs(out.astype(np.int64) - a).max()) <= k
    assert np.array_equal(load_reference_decoder().decode(blob), out)


def random_image(h: int, w: int, bits: int, signed: bool, rgb: bool, smooth: bool,
                 seed: int):
    """A small image for lossless property tests: noise over the whole sample range, or a
    ramp with a little noise (``smooth``), of ``bits`` bits (signed if asked and bits > 1),
    (h, w) or (h, w, 3), in the smallest dtype that holds it."""
    import numpy as np

    rng = np.random.default_rng(seed)
    signed = signed and bits > 1
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    shape = (h, w, 3) if rgb else (h, w)
    if smooth:
        base = np.add.outer(np.arange(h), np.arange(w)) * rng.integers(1, 50)
        base = base[..., None] if rgb else base
        a = np.clip(lo + base + rng.integers(0, 3, shape), lo, hi)
    else:
        a = rng.integers(lo, hi + 1, shape)
    dtype = {(False, True): np.uint8, (False, False): np.uint16, (True, True): np.int8,
             (True, False): np.int16}[(signed, bits <= 8)]
    return a.astype(dtype)


def cli_xforms_with_and_without(tmp_path: Path, src: Path, quality: int, flag: str,
                                extra: tuple[str, ...] = ()) -> tuple[int, int]:
    """``mic encode SRC --quality Q --effort 7`` (every tool) with and without the lossy-only
    ``flag`` (e.g. ``--no-means``): both must succeed, and ``flag`` without a quality must be a usage
    error; returns the first tile's xform of each stream (with the tool, without).
    ``extra``: more options for both encodes (e.g. ``("--tile", "128")``)."""
    from click.testing import CliRunner

    from mic.cli import main

    run = CliRunner().invoke
    res = run(main, ["encode", str(src), str(tmp_path / "a.mic"), "--quality", str(quality),
                     "--effort", "7", *extra])
    assert res.exit_code == 0, res.output
    res = run(main, ["encode", str(src), str(tmp_path / "b.mic"), "--quality", str(quality),
                     "--effort", "7", *extra, flag])
    assert res.exit_code == 0, res.output
    res = run(main, ["encode", str(src), str(tmp_path / "c.mic"), flag])
    assert res.exit_code == 2 and "lossy only" in res.output
    return tuple(tile_xforms((tmp_path / n).read_bytes())[0] for n in ("a.mic", "b.mic"))


# ----------------------------------------------------------------------------- conv models
DATA = Path(__file__).resolve().parent / "data"


def png(name: str):  # noqa: ANN201 - a numpy array
    """A test image of tests/data as an array."""
    import numpy as np
    from PIL import Image

    with Image.open(DATA / name) as im:
        return np.asarray(im)


def psnr(a, b, bits: int) -> float:  # noqa: ANN001
    """PSNR in dB of ``b`` against ``a``, peak ``2**bits - 1``."""
    import numpy as np

    err = a.astype(np.float64) - b.astype(np.float64)
    peak = float((1 << bits) - 1)
    return float(10 * np.log10(peak * peak / max(float(np.mean(err * err)), 1e-12)))


def conv_sources() -> dict:
    """The real images the conv-model tests round-trip (grey 8/12/16-bit, signed, RGB, an
    odd size, frames)."""
    import numpy as np

    ct = png("ct_abdomen_u16.png")
    return {
        "ct_u16_12bit": ct,
        "cr_u8": png("cr_chest_u8.png"),
        "lung_i16_signed": np.load(DATA / "ct_lung_i16.npy"),
        "us_rgb": png("us_breast_rgb.png")[:128, :160],
        "odd_97x131": ct[40:137, 60:191],
        "frames": np.stack([ct[:96, :96], ct[96:192, 96:192], ct[160:256, :96]]),
        "full_u16": (ct.astype(np.uint32) * 16).astype(np.uint16)[:128, :128],
    }


def conv_round_trip(a, model: str, model_id: int, quality: int = 4,  # noqa: ANN001
                    bounded: bool = True) -> None:
    """``mic.encode(a, model=..., quality=...)`` and back: the header names the model and
    quality, the decoded array has ``a``'s dtype and shape and lies in the sample range;
    with ``bounded`` the error is sane for a model at this training stage (PSNR > 24 dB;
    measured 26-40 dB at quality 4) and the rate below the samples' own bits."""
    from mic.codec import sample_range

    import mic

    blob = mic.encode(a, quality=quality, model=model)
    info = mic.info(blob)
    assert (info.mode, info.model, info.model_id, info.quality) == ("lossy", model, model_id,
                                                                    quality)
    out = mic.decode(blob)
    assert out.dtype == a.dtype and out.shape == a.shape
    lo, hi = sample_range(info.bits_stored, info.signed)
    assert int(out.min()) >= lo and int(out.max()) <= hi
    if bounded:
        assert psnr(out, a, info.bits_stored) > 24.0
        assert info.bits_per_pixel < 8.0 * (3 if a.ndim == 3 and a.shape[-1] == 3 else 1)


def conv_rate_grows_with_quality(a, model: str) -> None:  # noqa: ANN001
    """Over the model's 8 qualities the stream of the 12-bit ``a`` grows strictly, its PSNR
    never falls by more than 0.05 dB, and the top quality is 3 dB above the lowest."""
    import mic

    sizes, psnrs = [], []
    for q in mic.lossy.qualities(model):
        blob = mic.encode(a, quality=q, model=model)
        sizes.append(len(blob))
        psnrs.append(psnr(mic.decode(blob), a, 12))
    assert len(sizes) == 8
    assert all(s1 > s0 for s0, s1 in zip(sizes, sizes[1:])), sizes
    assert all(p1 > p0 - 0.05 for p0, p1 in zip(psnrs, psnrs[1:])), psnrs
    assert psnrs[-1] > psnrs[0] + 3.0, psnrs


def conv_cli_round_trip(tmp_path: Path, a, model: str, quality: int) -> tuple[str, bytes]:  # noqa: ANN001
    """``mic encode --model MODEL --quality Q`` of array ``a`` (as .npy), ``mic info`` and
    ``mic decode`` of the result (each must succeed; the decoded array must have ``a``'s
    shape): returns (``mic info``'s output, the stream)."""
    import numpy as np
    from click.testing import CliRunner

    from mic.cli import main

    run = CliRunner().invoke
    src, enc, dec = tmp_path / "cli_in.npy", tmp_path / "cli.mic", tmp_path / "cli_out.npy"
    np.save(src, a)
    res = run(main, ["encode", str(src), str(enc), "--quality", str(quality), "--model", model])
    assert res.exit_code == 0, res.output
    info = run(main, ["info", str(enc)])
    assert info.exit_code == 0, info.output
    res = run(main, ["decode", str(enc), str(dec)])
    assert res.exit_code == 0, res.output
    assert np.load(dec).shape == a.shape
    return info.output, enc.read_bytes()


def conv_tile_fields(blob: bytes) -> tuple:
    """Of a conv stream's first tile: (span, offset of the first norm, of the first plane
    head, of its words, its number of words)."""
    from mic.lossy.conv_syntax import ConvFields

    forge = load_forge()
    sp = next(s for s in forge.spans(blob) if s.tag == b"TILE")
    f = ConvFields(blob[8])
    _, norm = f.read_xform(blob, sp.mode_start)
    _, _, head = f.read_norm(blob, norm)
    _, nw, words = f.read_cplane(blob, head)
    return sp, norm, head, words, nw


def conv_edited(blob: bytes, at: int, value: int) -> bytes:
    """``blob`` with byte ``at`` (inside the first tile) set to ``value``, the tile's
    segment CRC recomputed."""
    forge = load_forge()
    sp = next(s for s in forge.spans(blob) if s.tag == b"TILE")
    b = bytearray(blob)
    b[at] = value
    return forge.refresh_crc(b, sp)


def conv_with_payload(blob: bytes, payload: bytes) -> bytes:
    """``blob`` with its first tile's payload replaced (segment length and CRC valid)."""
    forge = load_forge()
    sp = next(s for s in forge.spans(blob) if s.tag == b"TILE")
    head = blob[sp.payload_start:sp.mode_start]
    return blob[:sp.start] + forge.segment_like(blob, b"TILE", head + payload) + blob[sp.end:]


def int_network_reference(net, z):  # noqa: ANN001, ANN201 - IntHyperSynthesis, array
    """An integer network of :mod:`mic.models.intnet` recomputed with int64 integers (no
    floats; a scatter-form transposed conv), for ``z`` (C, H, W) integers (not clamped)."""
    import numpy as np

    from mic.models.intnet import ACT_BITS

    a = z.astype(np.int64)
    for ly in net.layers:
        w = ly.weight.astype(np.int64)
        k = w.shape[2]
        p = k // 2
        c, h, wd = a.shape
        if ly.transposed:
            s = ly.stride
            o = w.shape[1]
            full = np.zeros((o, h * s + k, wd * s + k), np.int64)
            for i in range(h):
                for j in range(wd):
                    full[:, i * s:i * s + k, j * s:j * s + k] += np.einsum("c,cokl->okl", a[:, i, j], w)
            acc = full[:, p:p + h * s, p:p + wd * s]
        else:
            o = w.shape[0]
            ap = np.pad(a, ((0, 0), (p, p), (p, p)))
            acc = np.zeros((o, h, wd), np.int64)
            for i in range(h):
                for j in range(wd):
                    acc[:, i, j] = np.einsum("ckl,ockl->o", ap[:, i:i + k, j:j + k], w)
        acc = acc + ly.bias.reshape(-1, 1, 1)
        if ly.relu:
            sh = ly.shift
            a = (acc >> sh) if sh >= 0 else (acc << -sh)
            a = np.clip(a, 0, 1 << ACT_BITS)
        else:
            a = acc
    return a


def terminal_sigint() -> None:
    """``preexec_fn`` of a command a test interrupts with SIGINT as a terminal's Ctrl-C
    would: SIGINT at its default in the child, as a shell starts a foreground command.  A
    background job of a non-interactive shell (``make test &``, some CI runners) inherits
    SIGINT ignored, and Python then installs no KeyboardInterrupt handler, so the Ctrl-C
    would never arrive."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """The garbage collector paused for a timed call (CPU-time bounds on hostile streams):
    a collection that falls inside the timing walks the whole test session's heap, which
    once made a 0.04 s parse take 1.04 s in a full run, and is not the code's cost."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def token_bits(hist, f):  # noqa: ANN001, ANN201 - arrays
    """Bits of each class's tokens ``hist`` (N_CLASS, N_TOKENS) under the tables ``f`` (one
    a class, same shape), in numpy (inf where a counted token has frequency 0): the plain
    definition the fast encoder's built-in table assignment is held to."""
    import numpy as np

    from mic.lossless.kernels_fast import PREC

    with np.errstate(divide="ignore"):
        cost = PREC - np.log2(f.astype(np.float64))
    return np.where(hist > 0, hist * np.where(hist > 0, cost, 0.0), 0.0).sum(axis=1)


def model20_pass(x):  # noqa: ANN001, ANN201 - an int32 plane from 0; a namespace
    """Model id 20's token pass over the (h, w) int32 plane ``x`` (values from 0) without
    low classes, as the encoder runs it first: its fine bins (``counts``, ``fine``,
    ``edges``, ``nf``, ``lowbase``), ``tokens``, ``classes``, counts ``hist``
    ((nf + 1) * N_CLASS rows), candidates ``cand`` (``nc`` of them), ``maxval`` and the
    built-in tables ``builtin``."""
    from types import SimpleNamespace

    import numpy as np

    from mic.lossless import encoder_fast as EF
    from mic.lossless import kernels_fast as KF
    from mic.lossless import kernels_fast_enc as KE
    from mic.lossless.syntax import model16_priors

    maxval = int(x.max())
    a0, b0, builtin = model16_priors()
    counts, fine, edges = EF._low_bins(x, maxval, None)
    nf = len(edges) + 1
    lowbase = nf * KF.N_CLASS
    n = x.size
    tokens, classes = np.empty(n, np.uint8), np.empty(n, np.uint16)
    hist = np.zeros((lowbase + KF.N_CLASS, KF.N_TOKENS), np.int64)
    cand = np.empty(n, np.int64)
    nc = KE.fast_tokens_low(x, maxval, tokens, classes, hist, *KF.encode_constants(),
                            a0.copy(), b0.copy(), fine, 0, lowbase, np.empty(n, np.int32),
                            cand)
    return SimpleNamespace(maxval=maxval, counts=counts, fine=fine, edges=edges, nf=nf,
                           lowbase=lowbase, tokens=tokens, classes=classes, hist=hist,
                           cand=cand, nc=nc, builtin=builtin)
