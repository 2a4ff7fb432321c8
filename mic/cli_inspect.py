"""`mic info` and `mic verify`: what a .mic stream says, and a full decode with every
checksum.  Loaded lazily by :mod:`mic.cli`; shares its helpers with :mod:`mic.cli_codec`."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import storage
from .batch import DONE, Job, JobError, Result, batch_options, describe_error

if TYPE_CHECKING:  # pragma: no cover
    from .codec import MicInfo

from .cli_codec import (
    STDIO,
    _EXIT_HELP,
    _batch_flags,
    _finish,
    _human,
    _input_exists,
    _is_dir,
    _read_stdin,
    _run_folder,
)
from .cli_decode import _mic_files

__all__ = ["info_cmd", "verify_cmd"]

# ----------------------------------------------------------------------------- info / verify
#: what ``mic info`` says of a stream with header flag bit 1 (a generative decoder, gan)
GENERATIVE_WARNING = ("yes: the decoder may synthesise texture that was not in the "
                      "original; not for primary diagnosis")

def _info_dict(inf: MicInfo, path: str) -> dict[str, Any]:
    d = {"path": path}
    d.update(asdict(inf))
    d["shape"] = list(inf.shape)
    d["tile_shape"] = list(inf.tile_shape)
    d["raw_size"] = inf.raw_size
    d["ratio"] = round(inf.ratio, 6)
    d["bits_per_pixel"] = round(inf.bits_per_pixel, 6)
    return d


def _info_text(d: dict[str, Any]) -> str:
    lines = [d["path"]]
    for k, v in d.items():
        if k == "path":
            continue
        if k == "generative":  # said only where it matters, and plainly (SPEC 6.13)
            if v:
                lines.append(f"  {k:<18} {GENERATIVE_WARNING}")
            continue
        if k == "sample_crc32" and v is not None:
            v = f"0x{v:08x}"
        elif k in ("compressed_size", "raw_size"):
            v = f"{_human(v)} bytes"
        elif k in ("ratio",):
            v = f"{v:.3f}"
        elif k == "bits_per_pixel":
            v = f"{v:.4f}"
        elif isinstance(v, list):
            v = "x".join(str(x) for x in v)
        lines.append(f"  {k:<18} {v}")
    return "\n".join(lines)


def _expand_mic_inputs(inputs: tuple[str, ...]) -> tuple[list[str], bool]:
    """Files to look at (folders expanded to their .mic files) and whether many were asked."""
    paths: list[str] = []
    many = len(inputs) > 1
    for inp in inputs:
        _input_exists(inp)
        if _is_dir(inp):
            many = True
            found, _ = _mic_files(inp if storage.is_url(inp) else str(Path(inp)))
            if not found:
                click.echo(f"warning: no .mic files found under {inp}", err=True)
            paths.extend(p for p, _ in found)
        else:
            paths.append(inp)
    return paths, many


def _read_input(path: str) -> bytes:
    if path == STDIO:
        return _read_stdin()
    return storage.read_bytes(path)


@click.command("info", epilog=_EXIT_HELP)
@click.argument("inputs", metavar="IN...", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON: one object for a single file, a list for several or a folder.")
def info_cmd(inputs: tuple[str, ...], as_json: bool) -> None:
    """Show the header of .mic files (mode, dtype, shape, bits stored, size, ratio, ...).

    Reads the header and walks the segment table (every CRC of the framing is
    checked) without decoding pixels; use 'mic verify' for a full decode.

    \b
    Examples:
      mic info ct.mic
      mic info ct.mic --json | jq .bits_per_pixel
      mic info encoded/ --json
    """
    import mic

    paths, many = _expand_mic_inputs(inputs)
    out: list[dict[str, Any]] = []
    failed = 0
    for p in paths:
        name = "<stdin>" if p == STDIO else p
        try:
            d = _info_dict(mic.info(_read_input(p)), name)
        except Exception as exc:  # noqa: BLE001
            failed += 1
            click.echo(f"error: {name}: {describe_error(exc)}", err=True)
            continue
        out.append(d)
        if not as_json:
            click.echo(_info_text(d))
    if as_json:
        click.echo(json.dumps(out if many else (out[0] if out else None), indent=2))
    if not paths:
        sys.exit(1)
    _finish(failed)


@click.command("verify", epilog=_EXIT_HELP)
@click.argument("inputs", metavar="IN...", nargs=-1, required=True)
@click.option("--max-pixels", type=click.IntRange(1), default=None,
              help="Refuse streams with more decoded samples than this (default 2**30).")
@click.option("-j", "--jobs", type=click.IntRange(1), default=1, show_default=True,
              help="Files verified in parallel by this many processes.")
@batch_options
@click.option("--quiet", is_flag=True, help="Print only failures.")
def verify_cmd(inputs: tuple[str, ...], max_pixels: int | None, jobs: int, dask: str | None,
               manifest: str | None, quiet: bool) -> None:
    """Fully decode .mic files and check every CRC (header, segments, decoded samples).

    Prints one line per file (OK or FAILED with the reason). A folder is searched
    recursively for .mic files. Exit code 1 if any input is bad or none was found.

    \b
    Examples:
      mic verify ct.mic
      mic verify encoded/ --quiet && echo "all good"
      mic verify archive/ --dask tcp://scheduler:8786 --manifest verify.parquet --quiet
    """
    import mic

    paths, many = _expand_mic_inputs(inputs)
    if STDIO in paths and (dask is not None or jobs > 1):
        raise click.BadParameter("- (stdin) is read here: drop --dask and -j",
                                 param_hint="IN")
    _batch_flags(dask, manifest, True, "mic verify")
    mp = max_pixels if max_pixels is not None else mic.DEFAULT_MAX_PIXELS
    if not paths:
        click.echo("error: nothing to verify", err=True)
        sys.exit(1)

    def show(r: Result) -> None:
        from tqdm import tqdm

        name = "<stdin>" if r.source == STDIO else r.source
        if r.status != DONE:
            tqdm.write(f"FAILED {name}: {r.error}", file=sys.stderr)
        elif not quiet:
            tqdm.write(r.value if not r.resumed else f"OK {name}: verified before "
                       f"({manifest}), unchanged since", file=sys.stdout)

    batch = [Job(p, None, _verify_job, (p, mp)) for p in paths]
    summary = _run_folder(batch, quiet or not many, "verify", jobs, dask, manifest,
                          on_result=show, echo=False)
    failed = summary.failed
    if not quiet and len(paths) > 1:
        click.echo(f"{len(paths) - failed} of {len(paths)} files OK")
        click.echo(summary.report())
    _finish(failed)


def _verify_job(path: str, max_pixels: int) -> Result:
    """Verify one file (also in a worker process): its OK line is the value."""
    import mic

    name = "<stdin>" if path == STDIO else path
    data = _read_input(path)
    if not mic.check(data):
        raise JobError("not a .mic stream (bad magic bytes)")
    t0 = time.perf_counter()
    inf = mic.verify(data, max_pixels=max_pixels)
    dt = time.perf_counter() - t0
    dims = "x".join(str(d) for d in inf.shape)
    mode = f"{inf.mode} k={inf.max_error}" if inf.max_error else inf.mode
    line = (f"OK {name}: {mode} {inf.dtype} {dims}, "
            f"{_human(inf.compressed_size)} bytes, {inf.bits_per_pixel:.3f} bits/pixel, "
            f"decoded in {dt:.2f} s")
    return Result(path, None, DONE, bytes_in=len(data), ratio=inf.ratio, value=line)
