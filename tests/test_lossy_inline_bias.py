"""Inline table biases of the lossy mode (SPEC 6.3/6.4, xform flag 512): below effort 7
each pass carries its own table bias, chosen after the pass is quantised.  The bias only
moves the pass to other tables, so the decoded samples are exactly those of the same
coding without it; the stream is smaller where a bias pays; the flag beside the
per-plane biases (flag 4) is refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("safetensors")

import mic  # noqa: E402
import mic.lossy as lossy  # noqa: E402
from mic.io import read_image  # noqa: E402
from mic.models.weights import REGISTRY_FILE  # noqa: E402
from mic.quant.kernels import bias_bits  # noqa: E402
from mic_test_helpers import load_forge, tile_xforms  # noqa: E402

if not REGISTRY_FILE.is_file():
    pytest.skip("no shipped weights in this checkout", allow_module_level=True)

DATA = Path(__file__).parent / "data"
CT = DATA.parent.parent / "mic" / "data" / "ct_abdomen.png"
forge = load_forge()


def xforms(blob: bytes) -> list[int]:
    return tile_xforms(blob)


@pytest.mark.parametrize("path,quality", [(CT, 6), (DATA / "cr_chest_u8.png", 3),
                                          (DATA / "us_breast_rgb.png", 5)])
def test_inline_biases_move_tables_only(path, quality):
    a, _ = read_image(path)
    # default effort 3: inline biases on (bias_rdo off: the RD rounding as without biases)
    on = mic.encode(a, quality=quality, bias_rdo=False)
    off = mic.encode(a, quality=quality, inline_biases=False)
    assert all(x & lossy.XFORM_INLINE_BIAS for x in xforms(on))
    assert not any(x & lossy.XFORM_INLINE_BIAS for x in xforms(off))
    assert np.array_equal(mic.decode(on), mic.decode(off))  # same symbols, other tables
    assert len(on) <= len(off) + 8 * len(xforms(on))  # a bias of 0 costs about a bit a pass


def test_inline_biases_pay_on_the_ct():
    a, _ = read_image(CT)
    on, off = (len(mic.encode(a, quality=6, inline_biases=v)) for v in (True, False))
    assert on < 0.99 * off


def test_adapt_goes_where_no_inline_biases_are():
    """With both on, the tiles of >= 65,536 pixels carry inline biases and the smaller
    ones adapt's per-plane biases; with inline biases off every tile may carry adapt's."""
    a, _ = read_image(DATA / "cr_chest_u8.png")  # 320 x 320: tiles 256 x 256, 256 x 64, ...
    kinds = [x & (lossy.XFORM_BIAS | lossy.XFORM_INLINE_BIAS)
             for x in xforms(mic.encode(a, quality=3, adapt=True, tile=256))]
    assert kinds[0] == lossy.XFORM_INLINE_BIAS
    assert all(k != lossy.XFORM_INLINE_BIAS for k in kinds[1:]) and lossy.XFORM_BIAS in kinds
    blob = mic.encode(a, quality=3, adapt=True, inline_biases=False)
    assert all(x & lossy.XFORM_BIAS and not x & lossy.XFORM_INLINE_BIAS for x in xforms(blob))


def test_inline_beside_plane_biases_is_refused():
    a, _ = read_image(DATA / "cr_chest_u8.png")
    blob = bytearray(mic.encode(a, quality=3))
    sp = next(s for s in forge.spans(bytes(blob)) if s.tag == b"TILE")
    blob[sp.mode_start] |= lossy.XFORM_BIAS  # the varint's low byte carries flag 4
    with pytest.raises(mic.MicFormatError, match="inline table-bias"):
        mic.decode(forge.refresh_crc(blob, sp))


def test_bias_bits_matches_a_plain_sum():
    """The kernel's bits for each bias equal a plain sum over the values under the shifted
    tables: the symbol's cost under the coder's model and, for an escape, log2(33) plus
    the escape's bits below its leading one."""
    from mic.bitstream.varint import zigzag_array
    from mic.quant import split_escapes

    lm = lossy.load_model("wavelet-context")
    t = lm.ybank.tables
    rng = np.random.default_rng(5)
    n_tab = len(lm.ybank)
    tab = rng.integers(0, n_tab, 3000).astype(np.int32)
    q = np.rint(rng.laplace(0, 1, 3000) * np.exp(tab / 12.0)).astype(np.int64)
    q[:5] = [10 ** 6, -(10 ** 6), 0, 1, -1]  # escapes beyond every table
    got = bias_bits(q, tab, lm.ybank, 7)
    for d in range(-7, 8):
        u = np.clip(tab + d, 0, n_tab - 1).astype(np.int32)
        sym, esc = split_escapes(q, u, t.half)
        k = np.array([int(z).bit_length() for z in zigzag_array(esc, np.uint64)])
        want = lm.ybank.costs[t.offsets[u] + sym].sum() + \
            esc.size * np.log2(33.0) + np.maximum(k - 1, 0).sum()
        assert got[d + 7] == pytest.approx(want, rel=1e-9)
    assert got.argmin() != 7  # these tables are off: some bias pays


def test_small_tiles_carry_no_inline_biases():
    """Below ``inline_min_pixels`` (65,536) a bias of 0 costs more than the biases save."""
    a, _ = read_image(DATA / "ct_abdomen_u16.png")  # 256 x 256: one tile at the limit
    assert all(x & lossy.XFORM_INLINE_BIAS for x in tile_xforms(mic.encode(a, quality=6)))
    small = mic.encode(a, quality=6, tile=128, bias_rdo=False)
    assert not any(x & lossy.XFORM_INLINE_BIAS for x in tile_xforms(small))
    lower = mic.encode(a, quality=6, tile=128,
                       options=mic.EncoderOptions(inline_min_pixels=128 * 128, bias_rdo=False))
    assert all(x & lossy.XFORM_INLINE_BIAS for x in tile_xforms(lower))
    assert np.array_equal(mic.decode(small), mic.decode(lower))


def test_cli_no_inline_biases(tmp_path):
    from click.testing import CliRunner

    from mic.cli import main

    src = DATA / "cr_chest_u8.png"
    got = []
    for extra in ([], ["--no-inline-biases"]):
        out = tmp_path / f"x{len(extra)}.mic"
        res = CliRunner().invoke(main, ["encode", str(src), str(out), "--quality", "3", *extra])
        assert res.exit_code == 0, res.output
        got.append(tile_xforms(out.read_bytes())[0])
    assert got[0] & lossy.XFORM_INLINE_BIAS and not got[1] & lossy.XFORM_INLINE_BIAS
    res = CliRunner().invoke(main, ["encode", str(src), str(tmp_path / "l.mic"),
                                    "--no-inline-biases"])
    assert res.exit_code == 2 and "lossy only" in res.output
