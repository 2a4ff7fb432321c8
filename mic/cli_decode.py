"""`mic decode`: .mic streams back to image files (one file, stdin/stdout, or a folder tree
through the batch runner).  Loaded lazily by :mod:`mic.cli`; shares its helpers with
:mod:`mic.cli_codec`."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from . import storage
from .batch import DONE, Job, JobError, Result, batch_options, describe_error

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from .codec import MicInfo

from .cli_codec import (
    OUT_FORMATS,
    STDIO,
    _EXIT_HELP,
    _batch_flags,
    _check_not_exists,
    _finish,
    _folder_out,
    _head,
    _human,
    _input_exists,
    _is_dir,
    _output_folder_exists,
    _read_stdin,
    _run_folder,
    _tree,
    _under,
    _write_stdout,
)

__all__ = ["decode_cmd"]

# ----------------------------------------------------------------------------- decode
@dataclass
class _DecResult:
    src: str
    dst: str
    mic_bytes: int
    out_bytes: int
    info: MicInfo
    fmt: str
    seconds: float


def _auto_format(arr: np.ndarray, photometric: str) -> str:
    """png when PNG holds the image exactly (one unsigned gray or 8-bit RGB image), else tiff."""
    if arr.dtype.kind == "u" and (arr.ndim == 2 or (
            arr.ndim == 3 and photometric == "RGB" and arr.dtype.itemsize == 1)):
        return "png"
    return "tiff"


def _decode_file(src: str, dst: str, fmt: str, force: bool, max_pixels: int,
                 threads: int = 1) -> _DecResult:
    import mic

    from .io import SUFFIX, image_to_bytes

    if dst != STDIO and fmt != "auto":
        _check_not_exists(dst, force)
    if src == STDIO:
        data, name = _read_stdin(), "<stdin>"
    else:
        data = storage.read_bytes(src)
        name = src
    if not mic.check(data):
        raise JobError("not a .mic stream (bad magic bytes)")
    t0 = time.perf_counter()
    arr = mic.decode(data, max_pixels=max_pixels, threads=threads)
    dt = time.perf_counter() - t0
    inf = mic.info(data)
    if fmt == "auto":
        fmt = _auto_format(arr, inf.photometric)
        if dst != STDIO:
            dst = dst + SUFFIX[fmt]
            _check_not_exists(dst, force)
    payload = image_to_bytes(arr, fmt, photometric=inf.photometric)
    if dst == STDIO:
        _write_stdout(payload)
        dst_name = "<stdout>"
    else:
        storage.write_bytes(dst, payload, overwrite=force)
        dst_name = dst
    return _DecResult(name, dst_name, len(data), len(payload), inf, fmt, dt)


def _dec_line(r: _DecResult) -> str:
    i = r.info
    dims = "x".join(str(d) for d in i.shape)
    return (f"{r.src} -> {r.dst}: {_human(i.compressed_size)} bytes -> {_human(i.raw_size)} "
            f"bytes raw ({r.fmt.upper()} file {_human(r.out_bytes)}), ratio {i.ratio:.2f}, "
            f"{i.bits_per_pixel:.3f} bits/pixel [{i.mode}, {i.dtype} {dims}, "
            f"{i.bits_stored} bits stored, {i.photometric}] decoded in {r.seconds:.2f} s")


def _fmt_from_out(out: str, fmt: str | None) -> str:
    from .io import format_from_path

    f = format_from_path(out)
    if f in (None, "mic", "dicom"):
        hint = " (DICOM output: use 'mic dicom')" if f == "dicom" else ""
        raise click.BadParameter(f"{out!r}: OUT must end in .png, .tif, .tiff or .npy{hint}",
                                 param_hint="OUT")
    if fmt not in (None, "auto") and fmt != f:
        raise click.BadParameter(f"--format {fmt} contradicts the OUT name {out!r}",
                                 param_hint="--format")
    return f


@click.command("decode", epilog=_EXIT_HELP)
@click.argument("inp", metavar="IN")
@click.argument("out", metavar="OUT")
@click.option("--format", "fmt", type=click.Choice(OUT_FORMATS, case_sensitive=False),
              default=None,
              help="Output format for - (default npy) and for folders (default auto: png "
                   "when PNG holds the image exactly, else tiff). A file OUT uses its suffix.")
@click.option("--max-pixels", type=click.IntRange(1), default=None,
              help="Refuse streams with more decoded samples than this (default 2**30).")
@click.option("-f", "--force", is_flag=True, help="Overwrite existing outputs.")
@click.option("-j", "--jobs", type=click.IntRange(1), default=1, show_default=True,
              help="Folder runs: files processed in parallel by this many processes.")
@click.option("--threads", type=click.IntRange(1), default=1, show_default=True,
              help="Tiles (and frames) of a file decoded at once on this many threads.")
@batch_options
@click.option("--quiet", is_flag=True, help="No per-file summary and no progress bar.")
def decode_cmd(inp: str, out: str, fmt: str | None, max_pixels: int | None, force: bool,
               jobs: int, dask: str | None, manifest: str | None, quiet: bool,
               threads: int = 1) -> None:
    """Decode a .mic file (or a folder of them) to PNG, TIFF or NPY.

    The output format comes from OUT's suffix (.png, .tif/.tiff, .npy). PNG holds
    one unsigned gray image or an RGB image; signed or multi-frame data need .tif
    or .npy. For OUT = - (stdout) --format picks the format (default npy).

    \b
    Examples:
      mic decode ct.mic ct.png
      mic decode stack.mic stack.tif
      mic decode encoded/ decoded/ --format tiff
      mic decode ct.mic - | python -c "import io, sys, numpy; print(numpy.load(io.BytesIO(sys.stdin.buffer.read())).shape)"
    """
    import mic

    _input_exists(inp)
    fmt = fmt.lower() if fmt else None
    if fmt == "tif":
        fmt = "tiff"
    mp = max_pixels if max_pixels is not None else mic.DEFAULT_MAX_PIXELS
    folder = _is_dir(inp)
    _batch_flags(dask, manifest, folder, "mic decode")
    if folder:
        _decode_folder(inp, out, fmt or "auto", force, quiet, mp, jobs, dask, manifest, threads)
        return
    if out == STDIO:
        ofmt = fmt if fmt not in (None, "auto") else "npy"
        if fmt == "auto":
            raise click.BadParameter("--format auto needs a file or folder OUT", param_hint="--format")
    elif os.path.isdir(out):
        stem = Path(inp).name if inp != STDIO else "stdin"
        if stem.lower().endswith(".mic"):
            stem = stem[:-4]
        from .io import SUFFIX

        ofmt = fmt or "auto"
        out = str(Path(out) / (stem + (SUFFIX[ofmt] if ofmt != "auto" else "")))
    else:
        ofmt = _fmt_from_out(out, fmt)
    _output_folder_exists(out)
    try:
        res = _decode_file(inp, out, ofmt, force, mp, threads)
    except Exception as exc:  # noqa: BLE001
        click.echo(f"error: {inp}: {describe_error(exc)}", err=True)
        sys.exit(1)
    if not quiet:
        click.echo(_dec_line(res), err=out == STDIO)
        if res.info.photometric == "MONOCHROME1" and res.fmt in ("png", "npy"):
            click.echo(f"note: {res.dst} holds the stored MONOCHROME1 values (low = white); "
                       f"{res.fmt.upper()} cannot record that (TIFF can)", err=True)


def _mic_files(root: str, exclude: str | None = None) -> tuple[list[tuple[str, str]], int]:
    """(file, path under root) of the .mic files of a tree, and how many others it holds."""
    from .io import sniff_format

    found, skipped = [], 0
    for p, rel in _tree(root, exclude):
        if rel.lower().endswith(".mic") or sniff_format(_head(p)) == "mic":
            found.append((p, rel))
        else:
            skipped += 1
    return found, skipped


def _decode_job(src: str, dst: str, fmt: str, force: bool, max_pixels: int,
                threads: int = 1) -> Result:
    """Decode one file of a folder run (also in a worker process)."""
    storage.makedirs(storage.parent(dst))
    r = _decode_file(src, dst, fmt, force, max_pixels, threads)
    return Result(src, r.dst, DONE, bytes_in=r.mic_bytes, bytes_out=r.out_bytes,
                  ratio=r.info.ratio, value=r)


def _decode_folder(inp: str, out: str, fmt: str, force: bool, quiet: bool,
                   max_pixels: int, jobs: int = 1, dask: str | None = None,
                   manifest: str | None = None, threads: int = 1) -> None:
    from .io import SUFFIX

    root = inp if storage.is_url(inp) else str(Path(inp))
    out_root = _folder_out(out)
    files, skipped = _mic_files(root, out_root)
    if not files:
        click.echo(f"error: no .mic files found under {root}", err=True)
        sys.exit(1)
    items: list[tuple[str, str]] = []
    for p, rel in files:
        base = rel[:-4] if rel.lower().endswith(".mic") else rel
        # with fmt auto the suffix is added once the image is known
        items.append((p, _under(out_root, base + (SUFFIX[fmt] if fmt != "auto" else ""))))
    taken: dict[str, str] = {}
    batch: list[Job] = []
    failed_early = 0
    for src, dst in items:
        assert dst is not None
        if fmt != "auto":
            if dst in taken:
                failed_early += 1
                click.echo(f"error: {src}: output {dst} would also be written from "
                           f"{taken[dst]}", err=True)
                continue
            taken[dst] = src
        # with fmt auto the job adds the suffix; partial outputs of dst + suffix still
        # start with dst's name (mic.io.discard_partial)
        batch.append(Job(src, dst, _decode_job, (src, dst, fmt, force, max_pixels, threads),
                         suffixes=tuple(sorted(set(SUFFIX.values()) - {".mic"}))
                         if fmt == "auto" else ()))
    summary = _run_folder(batch, quiet, "decode", jobs, dask, manifest)
    failed = summary.failed + failed_early
    results = [r.value for r in summary.select(DONE) if not r.resumed]
    before = summary.resumed
    if not quiet:
        comp = sum(r.mic_bytes for r in results)
        raw = sum(r.info.raw_size for r in results)
        click.echo(f"decoded {len(results)} of {len(items)} files under {root} -> {out_root}"
                   + (f" ({before} done before, skipped)" if before else "")
                   + f": {_human(comp)} bytes -> {_human(raw)} bytes raw; "
                   f"{failed} failed, {skipped} other files skipped")
        click.echo(summary.report())
    _finish(failed)


