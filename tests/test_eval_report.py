"""CSV / JSON / markdown writers and tables of mic.eval.report."""

from __future__ import annotations

import csv
import json
import math

import pytest

from mic.eval.report import (
    bd_rate_table,
    lossless_table,
    matched_rate_table,
    md_table,
    per_image_bd_table,
    speed_table,
    write_csv,
    write_json,
)
from mic.eval.runner import RESULT_FIELDS


def _row(image, modality, codec, mode, nbytes, *, rows=100, cols=100, psnr=None, ssim=None,
         exact=None, knob="k", enc_ms=10.0, dec_ms=5.0):
    r = {k: None for k in RESULT_FIELDS}
    r.update(image=image, modality=modality, source="s", rows=rows, cols=cols, samples=1,
             dtype="uint16", bits=12, eff_bits=12, offset=0, codec=codec, mode=mode, knob=knob,
             bytes=nbytes, bpp=8.0 * nbytes / (rows * cols), cr=20000 / nbytes,
             psnr=math.inf if mode == "lossless" else psnr,
             ssim=1.0 if mode == "lossless" else ssim, ms_ssim=1.0 if mode == "lossless" else ssim,
             exact=mode == "lossless", enc_ms=enc_ms, dec_ms=dec_ms, error="")
    return r


def _rows():
    out = [
        _row("a", "CT", "mic", "lossless", 5000),
        _row("b", "CT", "mic", "lossless", 20000, rows=200, cols=200),
        _row("a", "CT", "jpegls", "lossless", 6000),
        _row("b", "CT", "jpegls", "lossless", 24000, rows=200, cols=200),
        _row("c", "MR", "mic", "lossless", 4000),
    ]
    # lossy curves: "fast" needs 20 % fewer bytes than "ref" at the same PSNR
    for img in ("a", "c"):
        mod = "CT" if img == "a" else "MR"
        for nb, p, s in ((500, 40.0, 0.90), (1000, 45.0, 0.95), (2000, 50.0, 0.98),
                         (4000, 55.0, 0.99)):
            out.append(_row(img, mod, "ref", "lossy", nb, psnr=p, ssim=s))
            out.append(_row(img, mod, "fast", "lossy", int(nb * 0.8), psnr=p, ssim=s))
    return out


def test_md_table_formats_cells():
    t = md_table(["a", "b", "c"], [[1, 2.0, float("nan")], ["x", math.inf, None]])
    assert t.splitlines() == ["| a | b | c |", "|---|---|---|", "| 1 | 2.000 |  |",
                              "| x | inf |  |"]


def test_lossless_table_is_pixel_weighted():
    md, data = lossless_table(_rows())
    # CT mic: (5000 + 20000) * 8 bits / (10000 + 40000) pixels = 4.0 bpp (not the mean 4.0/4.0)
    assert data["CT"]["mic"] == pytest.approx(4.0)
    assert data["CT"]["jpegls"] == pytest.approx((6000 + 24000) * 8 / 50000)
    assert data["all"]["mic"] == pytest.approx((5000 + 20000 + 4000) * 8 / 60000)
    # jpegls did not run on the MR image: marked partial in the "all" row, dash for MR
    lines = md.splitlines()
    mr = next(line for line in lines if line.startswith("| MR "))
    assert "–" in mr
    allrow = lines[-1]
    assert "| **3.867** |" in allrow  # mic: best of the codecs that cover every image, in bold
    assert "| 4.800* |" in allrow  # jpegls covers only 2 of 3 images: partial marker, no bold


def test_lossless_table_ignores_inexact_and_failed_points():
    rows = _rows()
    bad = _row("a", "CT", "png", "lossless", 100)
    bad["exact"] = False
    bad["error"] = "lossless point is not exact"
    _, data = lossless_table(rows + [bad])
    assert "png" not in data["CT"]


def test_bd_rate_table_and_matched_rates():
    md, per = bd_rate_table(_rows(), "ref")
    assert {p["codec"] for p in per} == {"fast"}
    for p in per:
        assert p["bd_rate"] == pytest.approx(-0.2, abs=2e-3)  # byte rounding of 0.8 x
    assert "-20.0 % (2)" in md
    mdm, recs = matched_rate_table(_rows(), targets=(0.8,))
    ref = next(r for r in recs if r["codec"] == "ref")
    fast = next(r for r in recs if r["codec"] == "fast")
    assert ref["images"] == 2 and fast["psnr"] > ref["psnr"]
    assert ref["cr"] == pytest.approx(16 / 0.8)
    assert "| ref | 0.8 | 2 |" in mdm


def test_per_image_bd_table():
    _, per = bd_rate_table(_rows(), "ref")
    md = per_image_bd_table(per, ["fast", "absent"])
    lines = md.splitlines()
    assert lines[0] == "| modality | image | fast | absent |"
    assert lines[2] == "| CT | a | -20.0 % | – |" and lines[3] == "| MR | c | -20.0 % | – |"


def test_speed_table_totals():
    md = speed_table(_rows())
    mic = next(line for line in md.splitlines() if line.startswith("| mic "))
    cells = [c.strip() for c in mic.strip("|").split("|")]
    # 3 points, 0.06 MP, 30 ms encode in total -> 2 MP/s
    assert cells[1] == "3" and float(cells[3]) == pytest.approx(2.0, rel=1e-3)


def test_csv_and_json_writers_round_trip(tmp_path):
    rows = _rows()
    write_csv(rows, tmp_path / "r.csv")
    with open(tmp_path / "r.csv", newline="") as fh:
        back = list(csv.DictReader(fh))
    assert list(back[0].keys()) == list(RESULT_FIELDS)
    assert len(back) == len(rows)
    assert back[0]["psnr"] == "inf" and back[0]["exact"] == "1"
    assert float(back[-1]["psnr"]) == rows[-1]["psnr"]
    write_json(rows, {"x": math.nan, "y": [math.inf]}, tmp_path / "r.json")
    j = json.loads((tmp_path / "r.json").read_text())
    assert j["meta"] == {"x": None, "y": ["inf"]}
    assert j["results"][0]["psnr"] == "inf" and len(j["results"]) == len(rows)


def test_best_anchor_keeps_each_images_better_jpegxl_curve_and_says_which():
    from mic.eval.best_anchor import add_best, winners

    def curve(codec, img, shift):
        return [dict(image=img, codec=codec, mode="lossy", knob=f"d{i}", bpp=b * shift,
                     psnr=30 + 5 * i) for i, b in enumerate((0.2, 0.4, 0.8, 1.6))]

    rows = (curve("jpegxl", "a", 1.0) + curve("jpegxl-nobps", "a", 0.8)
            + curve("jpegxl", "b", 1.0) + curve("jpegxl-nobps", "b", 1.3)
            + [dict(image="a", codec="jpegxl", mode="lossless", knob="e7", bytes=70),
               dict(image="a", codec="jpegxl-e9", mode="lossless", knob="e9", bytes=71),
               dict(image="a", codec="jpegxl-e9", mode="lossless", knob="e9", bytes=1,
                    error="boom")])
    best = add_best(rows)
    by_img = {(r["image"], r["mode"]): r["knob"].split(":")[0] for r in best}
    assert by_img == {("a", "lossy"): "jpegxl-nobps", ("b", "lossy"): "jpegxl",
                      ("a", "lossless"): "jpegxl"}
    assert len([r for r in best if r["mode"] == "lossy"]) == 8
    assert winners(best) == {"lossless": {"jpegxl": 1},
                             "lossy": {"jpegxl-nobps": 1, "jpegxl": 1}}
    assert add_best([r for r in rows if r["codec"] == "jpegxl"]) == []
