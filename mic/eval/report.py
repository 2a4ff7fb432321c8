"""Tables, files and plots from benchmark result rows (see :data:`mic.eval.runner.RESULT_FIELDS`).

* :func:`write_csv` / :func:`write_json` — every point;
* :func:`lossless_table` — pixel-weighted bits per pixel of every lossless codec per modality;
* :func:`speed_table` — lossless encode/decode throughput per codec;
* :func:`near_table` — near-lossless codecs at equal maximum error ``k``: pixel-weighted
  bpp, the ratio to a reference (JPEG-LS NEAR = k), the largest error seen, PSNR;
* :func:`bd_rate_table` — BD-rate of every lossy codec against a reference, per modality;
* :func:`matched_rate_table` — the seed paper's layout (method, CR, PSNR, SSIM, bpp, time)
  at matched bit rates;
* :func:`plot_rd` — one rate-distortion chart per modality (matplotlib, Agg).

>>> rows = [dict(image="a", modality="CT", codec="x", mode="lossless", bytes=100, rows=10,
...              cols=10, exact=True, error="", enc_ms=1.0, dec_ms=1.0)]
>>> print(lossless_table(rows)[0].splitlines()[2])
| CT | 1 | **8.000** |
"""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .bdrate import bd_rate, monotone_frontier
from .runner import RESULT_FIELDS

__all__ = [
    "MATCHED_BPP",
    "bd_rate_table",
    "bd_rates",
    "lossless_table",
    "matched_rate_table",
    "md_table",
    "near_table",
    "per_image_lossless_table",
    "plot_rd",
    "speed_table",
    "write_csv",
    "write_json",
]

#: Bit rates (bpp) of the matched-rate table (issue #21 asks for 0.1-1 bpp, the seed paper's
#: range; 2 bpp covers the 12- and 16-bit images, whose useful rates run higher).
MATCHED_BPP = (0.1, 0.25, 0.5, 1.0, 2.0)
_ALL = "all"


def _num(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f


def _fmt(v: Any, nd: int = 3) -> str:
    if v is None or v == "":
        return ""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, float):
        if math.isnan(v):
            return ""
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return f"{v:.{nd}f}"
    return str(v)


def md_table(header: Sequence[str], body: Iterable[Sequence[Any]]) -> str:
    """A GitHub markdown table; floats with 3 decimals, NaN/None as empty cells.

    >>> print(md_table(["a", "b"], [[1, 2.5]]))
    | a | b |
    |---|---|
    | 1 | 2.500 |
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in body:
        lines.append("| " + " | ".join(_fmt(c) if not isinstance(c, str) else c for c in r) + " |")
    return "\n".join(lines)


def write_csv(rows: Sequence[dict[str, Any]], path: str | Path) -> None:
    """Write result rows to CSV (columns :data:`RESULT_FIELDS`; inf as ``inf``)."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(RESULT_FIELDS), extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: _csv_cell(r.get(k)) for k in RESULT_FIELDS})


def _csv_cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float):
        if math.isinf(v):
            return "inf"
        if math.isnan(v):
            return ""
        return repr(round(v, 6))
    return v


def _json_clean(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, dict):
        return {k: _json_clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_clean(x) for x in v]
    if isinstance(v, np.generic):
        return _json_clean(v.item())
    return v


def write_json(rows: Sequence[dict[str, Any]], meta: dict[str, Any], path: str | Path,
               **sections: Any) -> None:
    """Write ``{"meta": ..., **sections, "results": rows}``; non-finite floats as ``"inf"``/null."""
    doc = {"meta": meta, **sections, "results": list(rows)}
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(_json_clean(doc), fh, indent=1)


def _ok(r: dict[str, Any]) -> bool:
    return not r.get("error") and r.get("bytes") not in (None, "")


def _lossless_codecs(rows: Sequence[dict[str, Any]]) -> list[str]:
    seen: list[str] = []
    for r in rows:
        if r["mode"] == "lossless" and r["codec"] not in seen:
            seen.append(r["codec"])
    return seen


def lossless_table(rows: Sequence[dict[str, Any]]) -> tuple[str, dict[str, dict[str, float]]]:
    """Markdown table and data: pixel-weighted bpp (sum of bits / sum of pixels) per modality.

    A cell marked ``*`` covers only some of the modality's images (the codec skipped
    or failed on the others); the best full-coverage value of each row is in bold.
    """
    codecs = _lossless_codecs(rows)
    mods = sorted({r["modality"] for r in rows})
    imgs_in: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        imgs_in[r["modality"]].add(r["image"])
        imgs_in[_ALL].add(r["image"])
    bits: dict[tuple[str, str], float] = defaultdict(float)
    pix: dict[tuple[str, str], int] = defaultdict(int)
    cover: dict[tuple[str, str], set[str]] = defaultdict(set)
    for r in rows:
        if r["mode"] != "lossless" or not _ok(r) or not r.get("exact"):
            continue
        for m in (r["modality"], _ALL):
            k = (m, r["codec"])
            bits[k] += 8.0 * float(r["bytes"])
            pix[k] += int(r["rows"]) * int(r["cols"])
            cover[k].add(r["image"])
    data: dict[str, dict[str, float]] = {}
    body = []
    for m in mods + [_ALL]:
        line: list[Any] = [m if m != _ALL else "all (pixel-weighted)", len(imgs_in[m])]
        data[m] = {c: bits[(m, c)] / pix[(m, c)] for c in codecs if pix[(m, c)]}
        full = [v for c, v in data[m].items() if len(cover[(m, c)]) == len(imgs_in[m])]
        best = min(full, default=None)
        for c in codecs:
            k = (m, c)
            if c in data[m]:
                v = data[m][c]
                cell = f"{v:.3f}" + ("*" if len(cover[k]) < len(imgs_in[m]) else "")
                line.append(f"**{cell}**" if v == best else cell)
            else:
                line.append("–")
        body.append(line)
    return md_table(["modality", "images"] + codecs, body), data


def per_image_lossless_table(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table: one line per image with its size and every lossless codec's bpp."""
    codecs = _lossless_codecs(rows)
    info: dict[str, dict[str, Any]] = {}
    val: dict[tuple[str, str], float] = {}
    for r in rows:
        info.setdefault(r["image"], r)
        if r["mode"] == "lossless" and _ok(r) and r.get("exact"):
            val[(r["image"], r["codec"])] = 8.0 * float(r["bytes"]) / (int(r["rows"]) * int(r["cols"]))
    body = []
    for img, r in sorted(info.items(), key=lambda kv: (kv[1]["modality"], kv[0])):
        shape = f"{r['rows']}x{r['cols']}" + (f"x{r['samples']}" if int(r["samples"]) > 1 else "")
        line: list[Any] = [r["modality"], img[:48], shape, f"{r['dtype']}/{r['bits']}/{r['eff_bits']}"]
        best = min((v for (i, _), v in val.items() if i == img), default=None)
        for c in codecs:
            v = val.get((img, c))
            cell = "–" if v is None else f"{v:.3f}"
            line.append(f"**{cell}**" if v is not None and v == best else cell)
        body.append(line)
    return md_table(["modality", "image", "size", "dtype/bits/eff"] + codecs, body)


def speed_table(rows: Sequence[dict[str, Any]], mode: str = "lossless",
                reference: str | None = None) -> str:
    """Encode/decode throughput per codec in ``mode``: total megapixels / total seconds;
    with ``reference`` (a codec of the same run), also each codec's time per megapixel as
    a multiple of the reference's (``x 2.0``: twice as slow)."""
    agg: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0, 0.0])
    for r in rows:
        if r["mode"] != mode or not _ok(r):
            continue
        a = agg[r["codec"]]
        a[0] += int(r["rows"]) * int(r["cols"]) / 1e6
        a[1] += float(r["enc_ms"]) / 1e3
        a[2] += float(r["dec_ms"]) / 1e3
        a[3] += 1
    body = []
    ref = agg.get(reference) if reference else None
    for c, (mp, te, td, n) in agg.items():
        row = [c, int(n), mp, mp / te if te else math.inf, mp / td if td else math.inf,
               1e3 * te / n, 1e3 * td / n]
        if reference:
            row += [f"x {(te / mp) / (ref[1] / ref[0]):.2f}" if ref and ref[1] else "-",
                    f"x {(td / mp) / (ref[2] / ref[0]):.2f}" if ref and ref[2] else "-"]
        body.append(row)
    head = ["codec", "points", "MP", "encode MP/s", "decode MP/s", "mean enc ms", "mean dec ms"]
    if reference:
        head += [f"enc time / {reference}", f"dec time / {reference}"]
    return md_table(head, body)


def near_table(rows: Sequence[dict[str, Any]], reference: str = "jpegls"
               ) -> tuple[str, dict[str, dict[str, Any]]]:
    """Near-lossless points (mode ``"near"``, knob ``k=K``) side by side at equal ``k``:
    per ``k`` and codec, the pixel-weighted bpp over the images where every near codec has
    a valid point at that ``k`` (so the codecs are compared on the same pixels), its ratio
    to ``reference``'s, the largest absolute error of any point (never above ``k``: a
    larger one is an error row, left out and listed with the errors), and the mean PSNR.

    >>> r = [dict(image="a", modality="CT", codec=c, mode="near", knob="k=1", bytes=b, rows=10,
    ...           cols=10, error="", max_abs_err=1, psnr=50.0) for c, b in (("x", 40), ("y", 50))]
    >>> print(near_table(r, reference="y")[0].splitlines()[2])
    | 1 | x | 1 | 3.200 | 0.800 | 1 | 50.00 |
    """
    ok = [r for r in rows if r["mode"] == "near" and _ok(r)]
    ks = sorted({int(str(r["knob"]).split("=")[1]) for r in ok})
    codecs: list[str] = []
    for r in ok:
        if r["codec"] not in codecs:
            codecs.append(r["codec"])
    data: dict[str, dict[str, Any]] = {}
    body = []
    for k in ks:
        at = [r for r in ok if r["knob"] == f"k={k}"]
        by_img: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
        for r in at:
            by_img[r["image"]][r["codec"]] = r
        common = [i for i, cs in by_img.items() if all(c in cs for c in codecs)]
        bits = {c: sum(8.0 * float(by_img[i][c]["bytes"]) for i in common) for c in codecs}
        pix = sum(int(by_img[i][codecs[0]]["rows"]) * int(by_img[i][codecs[0]]["cols"])
                  for i in common) if common else 0
        for c in codecs:
            if not pix:
                continue
            bpp = bits[c] / pix
            ref = bits.get(reference, 0.0) / pix if reference in bits else math.nan
            err = max(int(by_img[i][c]["max_abs_err"]) for i in common)
            ps = [_num(by_img[i][c].get("psnr")) for i in common]
            ps = [p for p in ps if math.isfinite(p)]
            psnr = sum(ps) / len(ps) if ps else math.inf
            data.setdefault(str(k), {})[c] = {"bpp": bpp, "ratio": bpp / ref if ref else math.nan,
                                               "max_abs_err": err, "psnr": psnr,
                                               "images": len(common)}
            body.append([str(k), c, len(common), bpp, bpp / ref if ref else math.nan, err,
                         "inf" if math.isinf(psnr) else f"{psnr:.2f}"])
    head = ["k", "codec", "images", "bpp", f"/ {reference}", "max abs err", "mean PSNR dB"]
    return md_table(head, body), data


def _curves(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], tuple[list[float], list[float]]]:
    """(image, codec) -> (bpp list, psnr list) over lossy points."""
    cur: dict[tuple[str, str], tuple[list[float], list[float]]] = defaultdict(lambda: ([], []))
    for r in rows:
        if r["mode"] != "lossy" or not _ok(r):
            continue
        p = _num(r.get("psnr"))
        if not math.isfinite(p):
            continue
        b = cur[(r["image"], r["codec"])]
        b[0].append(float(r["bpp"]))
        b[1].append(p)
    return cur


def bd_rates(rows: Sequence[dict[str, Any]], reference: str) -> list[dict[str, Any]]:
    """Per-image BD-rate (fraction) of every lossy codec against ``reference``."""
    cur = _curves(rows)
    mod = {r["image"]: r["modality"] for r in rows}
    out = []
    for (img, codec), (br, bp) in sorted(cur.items()):
        if codec == reference or (img, reference) not in cur:
            continue
        rr, rp = cur[(img, reference)]
        out.append({"image": img, "modality": mod[img], "codec": codec, "reference": reference,
                    "bd_rate": bd_rate(rr, rp, br, bp)})
    return out


def bd_rate_table(rows: Sequence[dict[str, Any]], reference: str) -> tuple[str, list[dict[str, Any]]]:
    """Markdown table of mean BD-rate (%) per codec and modality (n = images with a value)."""
    per = bd_rates(rows, reference)
    codecs = sorted({p["codec"] for p in per}, key=lambda c: (not c.startswith("mic"), c))
    mods = sorted({p["modality"] for p in per})
    body = []
    for c in codecs:
        line: list[Any] = [c]
        for m in mods + [_ALL]:
            v = [p["bd_rate"] for p in per if p["codec"] == c and (m == _ALL or p["modality"] == m)
                 and math.isfinite(p["bd_rate"])]
            line.append(f"{100 * float(np.mean(v)):+.1f} % ({len(v)})" if v else "–")
        body.append(line)
    hdr = ["codec vs " + reference] + mods + ["all (mean over images)"]
    return md_table(hdr, body), per


def per_image_bd_table(per: Sequence[dict[str, Any]], codecs: Sequence[str]) -> str:
    """Markdown table of per-image BD-rates (%) of ``codecs`` (rows: images by modality)."""
    by = {(p["image"], p["codec"]): p["bd_rate"] for p in per}
    imgs = sorted({(p["modality"], p["image"]) for p in per})
    body = []
    for m, img in imgs:
        cells = [by.get((img, c), float("nan")) for c in codecs]
        body.append([m, img[:48]] + [f"{100 * v:+.1f} %" if math.isfinite(v) else "–"
                                     for v in cells])
    return md_table(["modality", "image"] + list(codecs), body)


def _interp_at(bpps: list[float], vals: list[float], target: float) -> float:
    order = np.argsort(bpps)
    x = np.log(np.asarray(bpps, dtype=np.float64)[order])
    y = np.asarray(vals, dtype=np.float64)[order]
    lt = math.log(target)
    if len(x) == 0 or lt < x[0] or lt > x[-1] or not np.all(np.isfinite(y)):
        return math.nan
    return float(np.interp(lt, x, y))


def matched_rate_table(rows: Sequence[dict[str, Any]],
                       targets: Sequence[float] = MATCHED_BPP, *,
                       reference: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Seed-paper layout at matched rates: per codec and target bpp, the mean over the images
    whose sweep spans that rate of PSNR, SSIM, MS-SSIM (interpolated in log-rate), CR
    (stored bits per pixel / target) and enc/dec time of the nearest point.

    With ``reference``, a column gives the mean PSNR difference to the reference over the
    images both span (the like-for-like comparison; the plain means cover different images).
    """
    by: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        if r["mode"] == "lossy" and _ok(r) and math.isfinite(_num(r.get("psnr"))):
            by[(r["codec"], r["image"])].append(r)
    codecs = sorted({c for c, _ in by}, key=lambda c: (not c.startswith("mic"), c))
    out = []
    body = []
    for t in targets:
        for c in codecs:
            acc: dict[str, list[float]] = defaultdict(list)
            for (cc, img), pts in by.items():
                if cc != c:
                    continue
                b = [float(p["bpp"]) for p in pts]
                ps = _interp_at(b, [float(p["psnr"]) for p in pts], t)
                if not math.isfinite(ps):
                    continue
                near = min(pts, key=lambda p: abs(math.log(float(p["bpp"]) / t)))
                r0 = pts[0]
                stored_bpp = 8.0 * int(r0["samples"]) * (2 if "16" in str(r0["dtype"]) else 1)
                acc["psnr"].append(ps)
                acc["ssim"].append(_interp_at(b, [float(p["ssim"]) for p in pts], t))
                acc["ms_ssim"].append(_interp_at(b, [float(p["ms_ssim"]) for p in pts], t))
                acc["cr"].append(stored_bpp / t)
                acc["enc_ms"].append(float(near["enc_ms"]))
                acc["dec_ms"].append(float(near["dec_ms"]))
            if not acc:
                continue
            rec: dict[str, Any] = {"bpp": t, "codec": c, "images": len(acc["psnr"])}
            rec.update({k: float(np.nanmean(v)) for k, v in acc.items()})
            dcell = ""
            if reference is not None and c != reference:
                diffs = []
                for (cc, img), pts in by.items():
                    if cc != c or (reference, img) not in by:
                        continue
                    rp = by[(reference, img)]
                    a = _interp_at([float(p["bpp"]) for p in pts], [float(p["psnr"]) for p in pts], t)
                    b = _interp_at([float(p["bpp"]) for p in rp], [float(p["psnr"]) for p in rp], t)
                    if math.isfinite(a) and math.isfinite(b):
                        diffs.append(a - b)
                if diffs:
                    rec["dpsnr_vs_ref"] = float(np.mean(diffs))
                    rec["dpsnr_images"] = len(diffs)
                    dcell = f"{rec['dpsnr_vs_ref']:+.2f} ({len(diffs)})"
            out.append(rec)
            line = [c, f"{t:g}", rec["images"], rec["cr"], f"{rec['psnr']:.2f}", rec["ssim"],
                    rec["ms_ssim"], f"{rec['enc_ms']:.1f}", f"{rec['dec_ms']:.1f}"]
            body.append(line + ([dcell] if reference is not None else []))
    hdr = ["method", "bpp", "images", "CR", "PSNR dB", "SSIM", "MS-SSIM", "enc ms", "dec ms"]
    if reference is not None:
        hdr.append(f"ΔPSNR vs {reference} (n)")
    return md_table(hdr, body), out


def plot_rd(rows: Sequence[dict[str, Any]], outdir: str | Path, *,
            metric: str = "psnr") -> list[Path]:
    """One PNG per modality with every lossy codec's RD curve of every image of that modality
    (one colour per codec, log-rate x axis), and mic's and JPEG-LS's pixel-weighted lossless
    bpp as vertical lines.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outdir = Path(outdir)
    files = []
    _, ll = lossless_table(rows)
    for m in sorted({r["modality"] for r in rows}):
        mrows = [r for r in rows if r["modality"] == m]
        imgs = sorted({r["image"] for r in mrows})
        by: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for r in mrows:
            if r["mode"] == "lossy" and _ok(r) and math.isfinite(_num(r.get(metric))):
                by[(r["codec"], r["image"])].append(r)
        fig, ax = plt.subplots(figsize=(7.5, 5), dpi=110)
        codecs = sorted({c for c, _ in by}, key=lambda c: (not c.startswith("mic"), c))
        colors = plt.get_cmap("tab10")
        for k, c in enumerate(codecs):
            first = True
            for img in imgs:
                pts = by.get((c, img))
                if not pts:
                    continue
                fb, fp = monotone_frontier([float(p["bpp"]) for p in pts],
                                           [float(p[metric]) for p in pts])
                if len(fb) == 0:
                    continue
                ax.plot(fb, fp, "-o", ms=2.5, color=colors(k % 10),
                        lw=2.0 if c.startswith("mic") else 1.0, alpha=0.8,
                        label=c if first else None)
                first = False
        for c, ls in (("mic", "--"), ("jpegls", ":")):
            v = ll.get(m, {}).get(c)
            if v is not None:
                ax.axvline(v, ls=ls, lw=1.0, color="black" if c == "mic" else "grey",
                           label=f"{c} lossless ({v:.2f} bpp)")
        ax.set_xscale("log")
        ax.set_xlabel("bits per pixel")
        ax.set_ylabel({"psnr": "PSNR (dB at 2^bits_stored - 1)", "psnr_eff":
                       "PSNR (dB at 2^eff_bits - 1)", "ssim": "SSIM",
                       "ms_ssim": "MS-SSIM"}.get(metric, metric))
        ax.set_title(f"{m}: {len(imgs)} image(s), one line per image and codec")
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
        fig.tight_layout()
        f = outdir / f"rd_{m}_{metric}.png"
        fig.savefig(f)
        plt.close(fig)
        files.append(f)
    return files
