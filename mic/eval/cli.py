"""``mic bench DIR --out OUTDIR [--quick] [--codecs ...]`` — rate-distortion and speed benchmark.

:func:`run_bench` is the library entry point; :data:`bench_cmd` is the click command
that ``mic.cli`` loads lazily.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import click

from ..batch import dask_option, open_executor
from ..errors import MicError, MicInputError
from ..extras import missing, require

__all__ = ["bench_cmd", "run_bench"]


def _machine() -> str:
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    env = ", ".join(f"{k}={os.environ[k]}" for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS")
                    if k in os.environ)
    return (f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} logical CPUs"
            + (f" ({env})" if env else ""))


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, cwd=Path(__file__).resolve().parent, timeout=5,
                              check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _versions() -> dict[str, str]:
    import numpy

    import mic

    v = {"mic": mic.__version__, "python": platform.python_version(), "numpy": numpy.__version__}
    try:
        import imagecodecs

        v["imagecodecs"] = imagecodecs.__version__
        for k, f in (("openjpeg", "jpeg2k_version"), ("openjph", "htj2k_version"),
                     ("charls", "jpegls_version"), ("libjxl", "jpegxl_version"),
                     ("libjpeg", "jpeg8_version"), ("zstd", "zstd_version")):
            fn = getattr(imagecodecs, f, None)
            if fn is not None:
                v[k] = str(fn())
    except ImportError:
        pass
    return v


def run_bench(folder: str | Path, out: str | Path, *, quick: bool = False,
              codecs: list[str] | None = None, reference: str = "jpeg2000",
              split: str | None = None, limit: int | None = None, peak: str = "stored",
              plots: bool = True, progress: bool = True, command: str = "",
              executor: Any = None, efforts: Sequence[int] = (),
              bits8: bool = False) -> dict[str, Any]:
    """Run the benchmark on ``folder`` and write results.csv/json, summary.md and plots to ``out``.

    Returns a dict with the result rows, per-image BD-rates and the output paths.
    ``efforts`` adds each lossy model at those encoder efforts (``mic-MODEL-eN``) beside
    the default effort (``mic-MODEL``); ``bits8`` codes every image reduced to its top 8
    bits (:func:`mic.eval.data.top8`, the seed paper's regime).
    With an ``executor`` (:mod:`mic.batch`: worker processes or Dask) each image is one job,
    measured where the job runs (which loads the image from its path); the rows are the
    same, in the same order, and the speeds those of the busy workers.

    >>> import numpy as np, tempfile, pathlib
    >>> from mic.io import write_image
    >>> d = pathlib.Path(tempfile.mkdtemp()); (d / "MR").mkdir()
    >>> img = (np.add.outer(np.arange(48), np.arange(40)) * 9).astype(np.uint16)
    >>> _ = write_image(d / "MR" / "a.png", img)
    >>> res = run_bench(d, d / "out", quick=True, codecs=["png", "zstd"], progress=False)
    >>> sorted(p.name for p in (d / "out").iterdir())[:3]
    ['rd_MR_psnr.png', 'results.csv', 'results.json']
    """
    from .codecs import all_codecs
    from .data import load_images
    from .report import (
        bd_rate_table,
        lossless_table,
        matched_rate_table,
        near_table,
        per_image_bd_table,
        per_image_lossless_table,
        plot_rd,
        speed_table,
        write_csv,
        write_json,
    )
    from .runner import run_points

    if peak not in ("stored", "eff"):
        raise MicInputError(f"peak must be 'stored' or 'eff', got {peak!r}")
    t_start = time.perf_counter()
    started = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    problems: list[str] = []
    images = load_images(folder, split=split, limit=limit, problems=problems)
    if bits8:
        from .data import top8

        images = [top8(im) for im in images]
    want = [c.strip() for c in (codecs or []) if c.strip()]
    need_lossy = not want or any(w.startswith("mic-") or w == "mic-lossy" for w in want)
    from ..lossy.enc_options import check_effort

    efforts = [check_effort(e) for e in efforts]
    all_c, notes = all_codecs(with_lossy_models=need_lossy, efforts=efforts)
    if want:
        known = {c.name for c in all_c}
        unknown = [w for w in want if w not in known and w != "mic-lossy"]
        if unknown:
            raise MicInputError(f"unknown codec(s) {unknown}; available: {sorted(known)}")
        chosen = [c for c in all_c if c.name in want or (c.name.startswith("mic-")
                                                         and "mic-lossy" in want)
                  or any(c.name.startswith(w + "-e") for w in want)]
    else:
        chosen = all_c
    outdir = Path(out)
    outdir.mkdir(parents=True, exist_ok=True)

    skips: list[dict[str, str]] = []
    if executor is not None:
        rows = _run_on(executor, images, chosen, quick, peak, need_lossy, progress, skips,
                       problems)
    else:
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(images) * len(chosen), desc="mic bench", unit="run",
                       file=sys.stderr, dynamic_ncols=True)
        try:
            rows = run_points(images, chosen, quick=quick, peak_bits=peak,
                              progress=(bar.update if bar else None), skips=skips)
        finally:
            if bar is not None:
                bar.close()
    elapsed = time.perf_counter() - t_start
    from .best_anchor import BEST, add_best, winners

    best_rows = add_best(rows)
    if best_rows:  # JPEG XL at its best setting per image, and which setting won
        rows = rows + best_rows
        won = winners(best_rows)
        notes.append(f"{BEST}: per image JPEG XL's smallest lossless stream and better lossy "
                     f"curve; lossless won by {won['lossless'] or '-'}, lossy by "
                     f"{won['lossy'] or '-'}")

    lossless_md, lossless_data = lossless_table(rows)
    have_ref = any(r["codec"] == reference and r["mode"] == "lossy" for r in rows)
    bd_md, per_bd = bd_rate_table(rows, reference) if have_ref else ("", [])
    # the next target after the reference: JPEG XL, when it ran and is not the reference
    second = next((c for c in (BEST, "jpegxl") if reference != c and any(
        r["codec"] == c and r["mode"] == "lossy" for r in rows)), None)
    bd2_md, per_bd2 = bd_rate_table(rows, second) if second else ("", [])
    matched_md, matched = matched_rate_table(rows, reference=reference if have_ref else None)
    has_near = any(r["mode"] == "near" for r in rows)
    near_md, near_data = near_table(rows) if has_near else ("", {})
    errors = [r for r in rows if r.get("error")]
    meta = {
        "started": started, "seconds": round(elapsed, 1), "machine": _machine(),
        "command": command, "git_commit": _git_commit(), "versions": _versions(),
        "folder": str(folder), "quick": quick, "reference": reference, "peak": peak, "bits8": bits8,
        "images": len(images), "pixels": int(sum(im.pixels for im in images)),
        "codecs": [c.name for c in chosen], "notes": notes + problems, "skips": skips,
    }
    write_csv(rows, outdir / "results.csv")
    write_json(rows, meta, outdir / "results.json", lossless_bpp=lossless_data, bd_rate=per_bd,
               matched_rate=matched, near_lossless=near_data)
    figs = plot_rd(rows, outdir) if plots else []

    md = [f"# mic bench — {started}", ""]
    md += [f"- command: `{command or 'run_bench(...)'}`",
           f"- data: `{folder}` — {len(images)} images, {meta['pixels'] / 1e6:.2f} MP "
           f"({', '.join(sorted({im.modality for im in images}))})",
           f"- machine: {meta['machine']}",
           f"- mic {meta['versions'].get('mic')} (git {meta['git_commit'] or '?'}); "
           + ", ".join(f"{k} {v}" for k, v in meta["versions"].items() if k != "mic"),
           f"- mode: {'quick (3-point sweeps)' if quick else 'full sweeps'}"
           f"{'; every image reduced to its top 8 bits (--bits8)' if bits8 else ''}; wall time "
           f"{elapsed:.0f} s; PSNR/SSIM peak: 2^{'bits_stored' if peak == 'stored' else 'eff_bits'}"
           " − 1 (psnr_eff in results.csv uses 2^eff_bits − 1)", ""]
    md += ["## Lossless: bits per pixel (pixel-weighted: total bits / total pixels)", "",
           lossless_md, "",
           "Lower is better; `*` = the codec covered only some images of that row "
           "(see skips below). bpp counts all samples of a pixel (RGB ultrasound).", "",
           "### Lossless speed (single thread where the codec allows)", "",
           speed_table(rows, reference="jpegls" if any(r["codec"] == "jpegls" for r in rows)
                       else None), "",
           "Time ratios: time per megapixel divided by CharLS JPEG-LS's in this run.", "",
           "### Lossless bpp per image (best in bold)", "", per_image_lossless_table(rows), ""]
    if has_near:
        jls = any(r["codec"] == "jpegls" and r["mode"] == "near" for r in rows)
        md += ["## Near-lossless at equal maximum error k (pixel-weighted bpp)", "", near_md, "",
               "Every decoded sample within k of the original (a point beyond its k is an "
               "error, listed below). Each k's rows cover the same images (those where every "
               "near-lossless codec has a point); `/ jpegls` = bits relative to CharLS JPEG-LS "
               "NEAR = k; PSNR at the peak of the bits stored.", "",
               "### Near-lossless speed", "",
               speed_table(rows, "near", reference="jpegls" if jls else None), "",
               "Time ratios: time per megapixel divided by CharLS JPEG-LS NEAR's in this run.",
               ""]
    if have_ref:
        md += [f"## BD-rate against {reference} (PSNR, log-rate, PCHIP)", "", bd_md, "",
               "Mean over images of the per-image Bjøntegaard delta rate (negative = fewer bits "
               "than the reference at equal PSNR); (n) = images where both curves share ≥ 0.5 dB.",
               ""]
        mine = sorted({p["codec"] for p in per_bd if p["codec"].startswith("mic-")})
        if mine:
            md += [f"### BD-rate per image against {reference}", "",
                   per_image_bd_table(per_bd, mine + [c for c in (BEST, "jpegxl", "htj2k")
                                                      if any(p["codec"] == c for p in per_bd)]),
                   ""]
    else:
        md += [f"## BD-rate: reference `{reference}` has no lossy points in this run", ""]
    if second:
        md += [f"## BD-rate against {second} (PSNR, log-rate, PCHIP)", "", bd2_md, ""]
    md += ["## Matched rates (seed-paper layout: method, CR, PSNR, SSIM, bpp, time)", "",
           matched_md or "(no lossy points)", "",
           "Means over the images whose sweep spans the rate; PSNR/SSIM/MS-SSIM interpolated in "
           "log-rate, CR = stored bits per pixel / bpp, times of the nearest measured point. "
           "The plain means cover different images per codec; the ΔPSNR column compares with "
           "the reference on the images both span.", "",
           "### Lossy speed", "",
           speed_table(rows, "lossy", reference="jpeg2000" if any(
               r["codec"] == "jpeg2000" and r["mode"] == "lossy" for r in rows) else None), "",
           "Time ratios: time per megapixel divided by OpenJPEG JPEG 2000's in this run "
           "(its points span its PSNR sweep; mic's its qualities).", ""]
    md += ["## Codecs and inputs", ""]
    for c in chosen:
        md.append(f"- **{c.name}**: {c.note}")
    md += ["- Signed images (manifest `offset` ≠ 0) are coded as int16 by mic, JPEG 2000, HTJ2K "
           "and zstd. imagecodecs' JPEG-LS, JPEG XL, PNG and JPEG encoders refuse int16, so they "
           "get the most favourable unsigned form, `native − min` (a constant shift: errors and "
           "metrics are unchanged); JPEG XL is told the bits that range needs; JPEG runs only "
           "where it fits 8 or 12 bits.",
           "- MS-SSIM: 5 scales need a side ≥ 176 px; smaller images use the most scales whose "
           "coarsest side is ≥ 11 px, with the first weights renormalised.", ""]
    if notes or problems:
        md += ["## Notes", ""] + [f"- {n}" for n in notes]
        md += [f"- not benchmarked: {p}" for p in problems] + [""]
    if skips:
        md += ["## Skipped", ""]
        by_reason: dict[tuple[str, str], list[str]] = {}
        for s in skips:
            by_reason.setdefault((s["codec"], s["reason"]), []).append(s["image"])
        for (c, why), imgs in by_reason.items():
            md.append(f"- {c}: {why} — {len(imgs)} image(s): {', '.join(imgs[:6])}"
                      + (" …" if len(imgs) > 6 else ""))
        md.append("")
    if errors:
        md += ["## Errors", ""]
        for r in errors[:40]:
            md.append(f"- {r['image']} {r['codec']} {r['knob']}: {r['error']}")
        md.append("")
    if figs:
        md += ["## Rate-distortion plots", ""] + [f"![{f.stem}]({f.name})" for f in figs] + [""]
    (outdir / "summary.md").write_text("\n".join(md), encoding="utf-8")
    return {"rows": rows, "bd_rate": per_bd, "meta": meta, "summary": outdir / "summary.md",
            "plots": figs}


def _run_on(executor: Any, images: list[Any], chosen: list[Any], quick: bool, peak: str,
            need_lossy: bool, progress: bool, skips: list[dict[str, str]],
            problems: list[str]) -> list[dict[str, Any]]:
    """One :mod:`mic.batch` job per image on ``executor``; the rows in image order."""
    from ..batch import DONE, Job, run
    from .runner import image_spec, measure_image

    names = [c.name for c in chosen]
    jobs = [Job(f"{im.path}#{k}", None, measure_image,
                (image_spec(im), names, quick, peak, need_lossy)) for k, im in enumerate(images)]
    summary = run(jobs, executor, desc="mic bench", quiet=not progress, echo=progress)
    if summary.interrupted:
        raise KeyboardInterrupt
    by_source = {r.source: r for r in summary.results}
    rows: list[dict[str, Any]] = []
    for job, im in zip(jobs, images):
        r = by_source[job.source]
        if r.status != DONE:
            problems.append(f"{im.name}: {r.error}")
            continue
        got, skipped = r.value
        rows.extend(got)
        skips.extend(skipped)
    return rows


@click.command("bench")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", "-o", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (results.csv, results.json, summary.md, rd_*.png).")
@click.option("--quick", is_flag=True, help="3-point sweeps per lossy codec (a few minutes).")
@click.option("--codecs", "codecs", default="",
              help="Comma list to run (default all): mic, mic-fast, mic-fast2 (lossless "
                   "efforts 1, 2), mic-near, mic-<model> or mic-lossy, "
                   "jpegls, jpeg2000, htj2k, jpegxl, jpeg, png, zstd.")
@click.option("--reference", default="jpeg2000", show_default=True,
              help="Lossy codec the BD-rates are measured against.")
@click.option("--split", default=None,
              help="Manifest split to use ('all' for every row); default: eval rows if any.")
@click.option("--limit", type=int, default=None, help="Use only the first N images.")
@click.option("--peak", type=click.Choice(["stored", "eff"]), default="stored", show_default=True,
              help="PSNR/SSIM peak 2^bits-1 from bits_stored or from eff_bits.")
@click.option("--no-plots", is_flag=True, help="Skip the matplotlib charts.")
@click.option("-j", "--jobs", type=click.IntRange(1), default=1, show_default=True,
              help="Images measured in parallel by this many processes (the speeds are then "
                   "those of a busy machine).")
@click.option("--efforts", default="", metavar="E1,E2,...",
              help="Also run each mic lossy model at these encoder efforts (1..7), as codecs "
                   "mic-MODEL-eN beside mic-MODEL (the default effort).")
@click.option("--bits8", is_flag=True,
              help="Code every image reduced to its top 8 bits (the seed paper's 8-bit "
                   "regime: the unsigned samples shifted right by their bit length less 8).")
@dask_option
def bench_cmd(folder: Path, out: Path, quick: bool, codecs: str, reference: str,
              split: str | None, limit: int | None, peak: str, no_plots: bool, jobs: int,
              dask: str | None, efforts: str = "", bits8: bool = False) -> None:
    """Rate-distortion and speed benchmark of mic against JPEG, JPEG 2000, HTJ2K, JPEG-LS,
    JPEG XL, PNG and zstd on the images of FOLDER (uses a corpus-style manifest.csv if present).

    \b
    Example:
      mic bench ../shared/corpus/eval --out bench-out --quick
    """
    want = [c.strip() for c in codecs.split(",") if c.strip()]
    try:
        effort_list = [int(e) for e in efforts.split(",") if e.strip()]
    except ValueError:
        raise click.BadParameter(f"{efforts!r}: give efforts as 1,3,7",
                                 param_hint="--efforts") from None
    needs = ["scipy"]  # metrics (SSIM) and BD-rates
    if not want or any(not c.startswith("mic") for c in want):
        needs.append("imagecodecs")  # every anchor codec
    if not no_plots:
        needs.append("matplotlib")
    require("mic bench", "bench", needs, hint="--no-plots runs without matplotlib"
            if "matplotlib" in missing(needs) else "")
    if dask is not None:
        require("mic bench --dask", "dask", ["dask", "distributed"])
    cmd = "mic bench " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if len(sys.argv) > 2 \
        else "mic bench"
    try:
        if jobs == 1 and dask is None:
            res = run_bench(folder, out, quick=quick, codecs=want or None, reference=reference,
                            split=split, limit=limit, peak=peak, plots=not no_plots,
                            command=cmd, efforts=effort_list, bits8=bits8)
        else:
            with open_executor(jobs, dask, command="mic bench") as ex:
                res = run_bench(folder, out, quick=quick, codecs=want or None,
                                reference=reference, split=split, limit=limit, peak=peak,
                                plots=not no_plots, command=cmd, executor=ex,
                                efforts=effort_list, bits8=bits8)
    except MicError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        raise click.Abort from None
    m = res["meta"]
    click.echo(f"{m['images']} images, {len(res['rows'])} points in {m['seconds']:.0f} s -> "
               f"{res['summary']}")
