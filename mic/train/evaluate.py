"""Measure a lossy model against JPEG 2000 (OpenJPEG via imagecodecs): rate/PSNR curves,
BD-rate per image and per modality, encode/decode time.  A measuring script, not a tuning
loop: run it on ``corpus/eval`` only to report.

    python -m mic.train.evaluate ../shared/corpus/eval --model wavelet-context --out runs/eval_wavelet-context.json

PSNR is at the image's native bit depth: peak ``2**b - 1`` with ``b`` the bits the stored
values use (signed sources: the corpus offset removed first), the same for both codecs.

>>> import numpy as np
>>> r1 = np.array([0.1, 0.2, 0.4, 0.8]); p1 = np.array([30., 33, 36, 39])
>>> round(bd_rate(r1, p1, r1 * 0.8, p1), 3)
-0.2
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..extras import missing_message


def psnr(a: np.ndarray, b: np.ndarray, peak: float) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(peak * peak / mse)


def bd_rate(r_ref: np.ndarray, p_ref: np.ndarray, r_test: np.ndarray, p_test: np.ndarray) -> float:
    """Bjontegaard delta rate (fraction; -0.25 = 25 % fewer bits) with cubic fits of
    log-rate over PSNR, integrated over the overlapping PSNR interval."""
    lr1, lr2 = np.log(np.asarray(r_ref)), np.log(np.asarray(r_test))
    p1, p2 = np.asarray(p_ref, float), np.asarray(p_test, float)
    deg = min(3, len(p1) - 1, len(p2) - 1)
    c1 = np.polyfit(p1, lr1, deg)
    c2 = np.polyfit(p2, lr2, deg)
    lo, hi = max(p1.min(), p2.min()), min(p1.max(), p2.max())
    if hi <= lo:
        return float("nan")
    i1 = np.polyval(np.polyint(c1), hi) - np.polyval(np.polyint(c1), lo)
    i2 = np.polyval(np.polyint(c2), hi) - np.polyval(np.polyint(c2), lo)
    return float(np.exp((i2 - i1) / (hi - lo)) - 1)


def load_images(folder: Path) -> list[dict[str, Any]]:
    """Images of ``folder`` with modality and signedness from the corpus manifest if any."""
    from PIL import Image

    rows: dict[str, dict[str, str]] = {}
    for man in (folder / "manifest.csv", folder.parent / "manifest.csv"):
        if man.is_file():
            with open(man, newline="") as fh:
                for r in csv.DictReader(fh):
                    rows[str((man.parent / r["png"]).resolve())] = r
            break
    out = []
    for p in sorted(folder.rglob("*.png")):
        r = rows.get(str(p.resolve()), {})
        a = np.asarray(Image.open(p))
        off = int(r.get("offset") or 0)
        if off:
            a = (a.astype(np.int32) - off).astype(np.int16)
        out.append({"path": str(p), "name": p.stem, "modality": r.get("modality", "?"),
                    "array": a})
    return out


def _peak(a: np.ndarray) -> float:
    from ..codec import bits_used

    return float((1 << bits_used(int(a.min()), int(a.max()), a.dtype.kind == "i")) - 1)


def curve_mic(a: np.ndarray, model: str, quals: list[int]) -> list[dict[str, float]]:
    import mic

    peak = _peak(a)
    pts = []
    for q in quals:
        t0 = time.perf_counter()
        blob = mic.encode(a, quality=q, model=model)
        t1 = time.perf_counter()
        d = mic.decode(blob)
        t2 = time.perf_counter()
        pts.append({"q": q, "bpp": 8 * len(blob) / (a.shape[0] * a.shape[1]),
                    "psnr": psnr(a, d, peak), "enc_s": t1 - t0, "dec_s": t2 - t1})
    return pts


def curve_j2k(a: np.ndarray, targets: tuple[float, ...] = tuple(range(22, 80, 4))
              ) -> list[dict[str, float]]:
    """JPEG 2000 (OpenJPEG, irreversible 9/7) at a sweep of target PSNRs.  OpenJPEG's
    ``level`` is a PSNR relative to the container's full scale, so the targets (relative
    to the image's own peak) are shifted by ``20 log10(full / peak)``."""
    import imagecodecs

    peak = _peak(a)
    full = float(np.iinfo(a.dtype).max - (np.iinfo(a.dtype).min if a.dtype.kind == "i" else 0))
    off = 20 * np.log10(full / peak)
    pts = []
    seen = set()
    for t in targets:
        b = imagecodecs.jpeg2k_encode(a, level=float(t + off), reversible=False)
        if len(b) in seen:
            continue
        seen.add(len(b))
        d = imagecodecs.jpeg2k_decode(b)
        pts.append({"q": t, "bpp": 8 * len(b) / (a.shape[0] * a.shape[1]),
                    "psnr": psnr(a, d, peak)})
    return pts


def curve_jxl(a: np.ndarray, distances: tuple[float, ...] = (0.05, 0.1, 0.2, 0.4, 0.8, 1.5, 3.0,
                                                              6.0, 12.0)) -> list[dict[str, float]]:
    """JPEG XL (libjxl via imagecodecs), effort 7; data shifted to unsigned first."""
    import imagecodecs

    peak = _peak(a)
    lo = int(a.min())
    u = (a.astype(np.int64) - lo)
    bits = max(1, int(u.max()).bit_length())
    u = u.astype(np.uint8 if bits <= 8 else np.uint16)
    pts = []
    for d in distances:
        b = imagecodecs.jpegxl_encode(u, effort=7, distance=d, bitspersample=bits)
        dec = imagecodecs.jpegxl_decode(b).astype(np.int64) + lo
        pts.append({"q": d, "bpp": 8 * len(b) / (a.shape[0] * a.shape[1]),
                    "psnr": psnr(a, dec.reshape(a.shape), peak)})
    return pts


def _bd(ref: list[dict[str, float]], test: list[dict[str, float]]) -> float:
    ref = sorted(ref, key=lambda p: p["bpp"])
    test = sorted(test, key=lambda p: p["bpp"])
    return bd_rate(np.array([p["bpp"] for p in ref]), np.array([p["psnr"] for p in ref]),
                   np.array([p["bpp"] for p in test]), np.array([p["psnr"] for p in test]))


def evaluate(folder: str | Path, model: str = "wavelet-context", max_side: int | None = None,
             jxl: bool = False) -> dict[str, Any]:
    """Curves and BD-rates for every image of ``folder``."""
    from ..lossy import qualities

    quals = qualities(model)
    res: dict[str, Any] = {"model": model, "images": []}
    for im in load_images(Path(folder)):
        a = im["array"]
        if a.ndim == 3:
            a = a[..., :3]
        if max_side:
            a = a[:max_side, :max_side]
        m = curve_mic(a, model, quals)
        j = curve_j2k(a)
        ent = {"name": im["name"], "modality": im["modality"], "shape": list(a.shape),
               "mic": m, "j2k": j, "bd_rate_vs_j2k": _bd(j, m)}
        if jxl:
            try:
                x = curve_jxl(a)
                ent["jxl"] = x
                ent["bd_rate_vs_jxl"] = _bd(x, m)
            except Exception as exc:  # noqa: BLE001 - an anchor that cannot code this image
                ent["bd_rate_vs_jxl"] = float("nan")
                ent["jxl_error"] = str(exc)
        res["images"].append(ent)
        print(f"{im['modality']:3s} {im['name'][:40]:40s} BD {ent['bd_rate_vs_j2k']:+.3f}  "
              f"mic bpp {m[0]['bpp']:.3f}..{m[-1]['bpp']:.3f} psnr {m[0]['psnr']:.1f}.."
              f"{m[-1]['psnr']:.1f}", flush=True)
    by_mod: dict[str, list[float]] = {}
    for e in res["images"]:
        if np.isfinite(e["bd_rate_vs_j2k"]):
            by_mod.setdefault(e["modality"], []).append(e["bd_rate_vs_j2k"])
    res["bd_by_modality"] = {k: float(np.mean(v)) for k, v in sorted(by_mod.items())}
    allv = [v for vs in by_mod.values() for v in vs]
    res["bd_mean"] = float(np.mean(allv)) if allv else float("nan")
    if jxl:
        bx: dict[str, list[float]] = {}
        for e in res["images"]:
            if np.isfinite(e.get("bd_rate_vs_jxl", float("nan"))):
                bx.setdefault(e["modality"], []).append(e["bd_rate_vs_jxl"])
        res["bd_jxl_by_modality"] = {k: float(np.mean(v)) for k, v in sorted(bx.items())}
        xs = [v for vs in bx.values() for v in vs]
        res["bd_jxl_mean"] = float(np.mean(xs)) if xs else float("nan")
    return res


def time_decode_ct(model: str = "wavelet-context", quality: int | None = None, repeat: int = 5,
                   image: np.ndarray | None = None) -> dict[str, float]:
    """Median encode/decode seconds of a 512x512 12-bit CT-like slice (model load excluded)."""
    import mic
    from ..lossy import load_model, qualities

    load_model(model)
    if image is None:
        yy, xx = np.mgrid[:512, :512]
        body = ((yy - 256) ** 2 + (xx - 256) ** 2) < 220 ** 2
        rng = np.random.default_rng(0)
        image = np.where(body, 1000 + 200 * np.sin(xx / 20) * np.cos(yy / 30)
                         + rng.normal(0, 15, (512, 512)), 24).clip(0, 4095).astype(np.uint16)
    q = qualities(model)[len(qualities(model)) // 2] if quality is None else quality
    blob = mic.encode(image, quality=q, model=model)
    mic.decode(blob)
    te, td = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        blob = mic.encode(image, quality=q, model=model)
        t1 = time.perf_counter()
        mic.decode(blob)
        td.append(time.perf_counter() - t1)
        te.append(t1 - t0)
    return {"encode_s": float(np.median(te)), "decode_s": float(np.median(td)), "quality": q,
            "bytes": len(blob)}


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("folder")
    ap.add_argument("--model", default="wavelet-context")
    ap.add_argument("--out", default=None)
    ap.add_argument("--weights", default=None, help="models.json of other weights to use")
    ap.add_argument("--max-side", type=int, default=None)
    ap.add_argument("--time", action="store_true", help="also time a 512x512 CT slice")
    ap.add_argument("--jxl", action="store_true", help="also compare with JPEG XL effort 7")
    args = ap.parse_args(argv)
    msg = missing_message("python -m mic.train.evaluate", "bench", ["imagecodecs", "scipy"])
    if msg:
        ap.error(msg)
    if args.weights:
        from ..models.weights import register_weights

        register_weights(args.weights)
    res = evaluate(args.folder, args.model, args.max_side, args.jxl)
    if args.time:
        res["timing_512_ct"] = time_decode_ct(args.model)
        print("timing", res["timing_512_ct"])
    print("BD-rate vs JPEG 2000 by modality:", {k: round(v, 3) for k, v in
                                                res["bd_by_modality"].items()},
          "mean", round(res["bd_mean"], 3))
    if args.jxl:
        print("BD-rate vs JPEG XL e7 by modality:", {k: round(v, 3) for k, v in
                                                     res["bd_jxl_by_modality"].items()},
              "mean", round(res["bd_jxl_mean"], 3))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
