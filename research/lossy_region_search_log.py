"""Where does the region search (effort 4's tool) beat the region rule of effort 3
(issue #20)?  On the train sample at effort 3 + ``region_search``, every tile with a
region candidate is logged: its pixels, the candidate's coverage, its edge contrast over
the quality's RMS error, whether the rule takes it, the rate + lambda * distortion of the
plain coding and of the region coding, and the time of the candidate's extra coding.
Then, per policy "search only where ...", the share of the search's gain kept and of its
extra codings spent.

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 PYTHONPATH=research .venv/bin/python \\
        research/lossy_region_search_log.py CORPUS/train [per_source [log.json]]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

import mic
from mic.lossy import enc_tile
from mic.lossy.enc_region import edge_contrast, rule_candidate
from train_sample import sample_images

QUALITIES = (0, 3, 6, 9)
LOG: list[dict] = []
_orig = enc_tile.LossyTileEncoder._choose


def _choose(self, t, code):  # noqa: ANN001, ANN202 - research hook
    o = self.options
    if not (o.regions and o.region_search) or t.size == 0:
        return _orig(self, t, code)
    cand = rule_candidate(t, o.region_rule_exact_ratio)
    if not cand:
        return _orig(self, t, code)
    values, m, _ = cand[0]
    big = t.shape[0] * t.shape[1] >= o.region_rule_pixels
    frac = float(m.mean())
    contrast = edge_contrast(t, values, m) / max(self._rmse(), 1e-12)
    takes = big and frac >= o.region_rule_fraction and contrast >= o.region_rule_contrast
    # the two codings the search compares, timed apart
    lam = o.region_lambda_scale * self.sample_lam(float((1 << self._bits(
        int(max(int(t[:, :, c].max()) - int(t[:, :, c].min()) for c in range(t.shape[2]))))) - 1))
    info0 = self.information_bits
    t0 = time.perf_counter()
    body, rec, _, bias = code(t, True)
    t1 = time.perf_counter()
    self.information_bits = info0
    reg = self._code_region(t, code, cand[0])
    t2 = time.perf_counter()
    self.information_bits = info0
    err_p = rec.astype(np.float64) - t
    err_r = reg[3].astype(np.float64) - t
    cp = lam * float(np.sum(err_p * err_p)) + 8.0 * len(body)
    cr = lam * float(np.sum(err_r * err_r)) + 8.0 * (len(reg[1]) + len(reg[0]))
    LOG.append({"q": self.quality, "pixels": t.shape[0] * t.shape[1], "frac": frac, "contrast": contrast,
                "takes": takes, "plain": cp, "region": cr, "t_plain": t1 - t0,
                "t_region": t2 - t1})
    return _orig(self, t, code)


enc_tile.LossyTileEncoder._choose = _choose


def main(argv: list[str]) -> None:
    split = Path(argv[0])
    per_source = int(argv[1]) if len(argv) > 1 else 1
    for row, a, bits in sample_images(split, per_source=per_source, max_side=4096):
        n0 = len(LOG)
        for q in QUALITIES:
            mic.encode(a, quality=q, bits_stored=bits, region_search=True)
        print(f"{row['modality']:3s} {row['source'][:28]:28s} {a.shape} tiles with a "
              f"candidate: {len(LOG) - n0}", flush=True)
    rows = LOG
    if len(argv) > 2:  # keep the log for offline rules
        import json
        Path(argv[2]).write_text(json.dumps(rows))
    gain_all = sum(max(0.0, (r["region"] if r["takes"] else r["plain"])
                       - min(r["plain"], r["region"])) for r in rows)
    print(f"{len(rows)} tiles with a candidate; the search's gain over the rule "
          f"{gain_all / 8:.0f} bytes (rate + lambda D, in bytes)")
    for r in sorted(rows, key=lambda r: -abs(r["plain"] - r["region"]))[:0]:
        print(r)
    policies = {
        "all (the search)": lambda r: True,
        "rule declines": lambda r: not r["takes"],
        "rule declines, frac >= 0.05": lambda r: not r["takes"] and r["frac"] >= 0.05,
        "rule declines, frac >= 0.02": lambda r: not r["takes"] and r["frac"] >= 0.02,
        "contrast < 2x rule's or frac < 2x rule's": lambda r: r["contrast"] < 8 or r["frac"] < 0.3,
    }
    for name, f in policies.items():
        sel = [r for r in rows if f(r)]
        g = sum(max(0.0, (r["region"] if r["takes"] else r["plain"])
                    - min(r["plain"], r["region"])) for r in sel)
        print(f"{name:45s} searched {len(sel):4d} tiles, gain kept "
              f"{100 * g / max(gain_all, 1e-9):5.1f} %")
    wrong_take = [r for r in rows if r["takes"] and r["region"] > r["plain"]]
    wrong_decl = [r for r in rows if not r["takes"] and r["region"] < r["plain"]]
    print(f"rule takes but plain cheaper: {len(wrong_take)}; rule declines but region cheaper: "
          f"{len(wrong_decl)}")
    for r in wrong_decl[:40]:
        print(f"  declined: pixels {r['pixels']:7d} frac {r['frac']:.3f} contrast "
              f"{r['contrast']:6.2f} gain {100 * (r['plain'] - r['region']) / r['plain']:5.1f} %")
    for r in wrong_take[:20]:
        print(f"  taken: pixels {r['pixels']:7d} frac {r['frac']:.3f} contrast "
              f"{r['contrast']:6.2f} loss {100 * (r['region'] - r['plain']) / r['plain']:5.1f} %")


if __name__ == "__main__":
    main(sys.argv[1:])
