"""Anchors at their strongest: JPEG XL's best settings per image.

``mic bench`` runs libjxl in several settings: ``jpegxl`` (effort 7; lossy with
``bitspersample`` = the bits the values use), ``jpegxl-e9`` (lossless at effort 9) and
``jpegxl-nobps`` (lossy without ``bitspersample``).  :func:`add_best` adds the rows of a
``jpegxl-best`` codec: per image, the lossless point of fewest bytes, and the lossy curve
(all points of one setting) of lower rate at equal PSNR (the BD-rate of one curve against
the other).  Each row's ``knob`` keeps its setting, and :func:`winners` counts which
setting won, so the report can say it.  A comparison against a weakened anchor is worth
nothing to a user.

>>> rows = [dict(image="a", codec="jpegxl", mode="lossless", knob="e7", bytes=100),
...         dict(image="a", codec="jpegxl-e9", mode="lossless", knob="e9", bytes=90)]
>>> best = add_best(rows)
>>> [(r["codec"], r["knob"], r["bytes"]) for r in best]
[('jpegxl-best', 'jpegxl-e9:e9', 90)]
>>> winners(best)
{'lossless': {'jpegxl-e9': 1}, 'lossy': {}}
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from .bdrate import bd_rate

#: the settings compared, and the name of the best-per-image codec
FAMILY = ("jpegxl", "jpegxl-e9", "jpegxl-nobps")
BEST = "jpegxl-best"


def _ok(r: dict[str, Any]) -> bool:
    return not r.get("error")


def add_best(rows: Sequence[dict[str, Any]], family: Sequence[str] = FAMILY,
             best: str = BEST) -> list[dict[str, Any]]:
    """The rows of ``best``: per image, the smallest lossless point and the better lossy
    curve among the ``family`` codecs (empty if fewer than two of them ran)."""
    present = {r["codec"] for r in rows if r["codec"] in family}
    if len(present) < 2:
        return []
    out: list[dict[str, Any]] = []
    by: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["codec"] in family and _ok(r):
            by[(r["image"], r["mode"], r["codec"])].append(r)
    images = sorted({k[0] for k in by})
    for img in images:
        cands = [r for c in family for r in by.get((img, "lossless", c), [])
                 if r.get("exact", True)]
        if cands:
            w = min(cands, key=lambda r: int(r["bytes"]))
            out.append({**w, "codec": best, "knob": f"{w['codec']}:{w['knob']}"})
        curves = {c: by[(img, "lossy", c)] for c in family if by.get((img, "lossy", c))}
        if not curves:
            continue
        win = _better_curve(curves)
        out += [{**r, "codec": best, "knob": f"{win}:{r['knob']}"} for r in curves[win]]
    return out


def _better_curve(curves: dict[str, list[dict[str, Any]]]) -> str:
    """The codec whose (bpp, PSNR) curve needs the fewest bits at equal PSNR: each curve
    against the first, by BD-rate (a curve that cannot be compared loses)."""
    names = list(curves)
    ref = names[0]

    def pts(c: str) -> tuple[list[float], list[float]]:
        rs = [r for r in curves[c] if math.isfinite(float(r.get("psnr", "nan") or "nan"))]
        return [float(r["bpp"]) for r in rs], [float(r["psnr"]) for r in rs]

    rr, rp = pts(ref)
    best, best_bd = ref, 0.0
    for c in names[1:]:
        br, bp = pts(c)
        try:
            bd = bd_rate(rr, rp, br, bp)
        except Exception:  # noqa: BLE001 - curves without overlap cannot be compared
            continue
        if math.isfinite(bd) and bd < best_bd:
            best, best_bd = c, bd
    return best


def winners(best_rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """How many images each setting won, per mode (lossy: counted once per image)."""
    out: dict[str, dict[str, int]] = {"lossless": defaultdict(int), "lossy": defaultdict(int)}
    seen: set[tuple[str, str]] = set()
    for r in best_rows:
        setting = r["knob"].split(":", 1)[0]
        if r["mode"] == "lossy":
            if (r["image"], "lossy") in seen:
                continue
            seen.add((r["image"], "lossy"))
        out[r["mode"]][setting] += 1
    return {k: dict(v) for k, v in out.items()}


__all__ = ["BEST", "FAMILY", "add_best", "winners"]
