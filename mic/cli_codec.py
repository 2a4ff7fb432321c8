"""The ``mic encode``, ``mic decode``, ``mic info`` and ``mic verify`` commands.

Loaded lazily by :mod:`mic.cli`.  Every command takes a file, ``-`` (stdin /
stdout) or a folder (processed recursively; ``encode`` and ``decode`` mirror the
tree under OUT, one :mod:`mic.batch` job a file, ``-j N`` in N processes or
``--dask ADDRESS`` on a Dask cluster, ``--manifest PATH`` one row per file and a
resumable run; ``verify`` runs its files the same way).  Folders and files may be
fsspec URLs (:mod:`mic.storage`).  Outputs are written atomically
(:func:`mic.io.atomic_output`) and never overwrite an existing file without ``--force``.

Exit codes (all commands):

* 0 -- every input succeeded;
* 1 -- at least one input failed (bad/corrupt file, refused overwrite, ...);
  the others were still processed; also Ctrl-C ("Aborted!");
* 2 -- usage error (bad option, missing input path, impossible output name).

>>> from click.testing import CliRunner
>>> from mic.cli import main
>>> r = CliRunner().invoke(main, ["encode", "--help"])
>>> r.exit_code, "Exit codes" in r.output
(0, True)
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from . import storage
from .batch import (
    DONE, SKIPPED, Job, JobError, Result, Summary, batch_options, describe_error, open_executor,
    walk,
)
from .batch import run as run_batch
from .extras import require

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from .codec import MicInfo

__all__ = ["decode_cmd", "encode_cmd", "info_cmd", "parse_tile", "verify_cmd"]

STDIO = "-"
#: Input suffixes ``mic encode`` picks up in a folder (other files are sniffed).
ENCODE_SUFFIXES = (".png", ".tif", ".tiff", ".npy", ".dcm", ".dicom")
OUT_FORMATS = ("auto", "png", "tiff", "tif", "npy")

_EXIT_HELP = """\b
Exit codes: 0 all inputs succeeded; 1 some input failed or an output exists
(without --force), the rest were still processed; 2 usage error."""


# ----------------------------------------------------------------------------- helpers
def parse_tile(value: str | int | None) -> int | tuple[int, int] | None:
    """Parse a ``--tile`` value: ``"256"`` -> 256, ``"128x256"`` -> (128, 256).

    >>> parse_tile("256"), parse_tile("128x256"), parse_tile(None)
    (256, (128, 256), None)
    """
    if value is None or isinstance(value, int):
        return value
    text = str(value).lower().replace("*", "x")
    try:
        parts = [int(p) for p in text.split("x")]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not N or RxC (e.g. 256 or 128x256)") from None
    if len(parts) not in (1, 2) or min(parts) < 1:
        raise click.BadParameter(f"{value!r} is not N or RxC with positive sides")
    return parts[0] if len(parts) == 1 else (parts[0], parts[1])


def _human(n: int) -> str:
    return f"{n:,}"


def _read_stdin() -> bytes:
    stream = sys.stdin
    return getattr(stream, "buffer", stream).read()


def _write_stdout(data: bytes) -> None:
    out = getattr(sys.stdout, "buffer", sys.stdout)
    out.write(data)
    out.flush()


def _input_exists(path: str) -> None:
    if path != STDIO and not _storage_call(storage.exists, path, "IN"):
        raise click.BadParameter(f"{path!r} does not exist", param_hint="IN")


def _storage_call(fn: Any, path: str, hint: str) -> Any:
    """``fn(path)``; a URL whose filesystem is not installed is a usage error."""
    try:
        return fn(path)
    except ImportError as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None


def _is_dir(path: str) -> bool:
    return path != STDIO and _storage_call(storage.is_dir, path, "IN")


def _output_folder_exists(out: str) -> None:
    if out != STDIO and not storage.is_url(out):
        parent = Path(out).parent
        if str(parent) and not parent.is_dir():
            raise click.BadParameter(f"folder {str(parent)!r} of {out!r} does not exist",
                                     param_hint="OUT")


def _head(path: str | Path, n: int = 132) -> bytes:
    return storage.read_head(str(path), n)


def _check_not_exists(dst: str | Path, force: bool) -> None:
    if not force and storage.exists(str(dst)):
        raise FileExistsError(17, "output exists", str(dst))


def _tree(root: str, exclude: str | None) -> list[tuple[str, str]]:
    """(file, its ``/``-separated path under ``root``) of every file of a folder tree or a
    URL's tree (:func:`mic.batch.walk`: hidden entries and the ``exclude`` tree skipped)."""
    if storage.is_url(root):
        return [(storage.join(root, rel), rel) for rel in storage.walk(root, exclude)]
    base = Path(root)
    return [(str(p), p.relative_to(base).as_posix())
            for p in walk(base, Path(exclude) if exclude is not None else None)]


def _under(out_root: str, rel: str) -> str:
    """``rel`` (``/``-separated) under the output folder or URL ``out_root``."""
    if storage.is_url(out_root):
        return storage.join(out_root, rel)
    return str(Path(out_root) / rel)


def _batch_flags(dask: str | None, manifest: str | None, folder: bool, command: str) -> None:
    """--dask / --manifest are for folder runs; they need the dask extra (a CSV manifest
    needs nothing)."""
    if dask is not None and folder:
        require(f"{command} --dask", "dask", ["dask", "distributed"])
    if not folder:
        for name, value in (("--dask", dask), ("--manifest", manifest)):
            if value is not None:
                raise click.BadParameter(f"{name} is for folder runs (IN a folder)",
                                         param_hint=name)
    if manifest is not None:
        if storage.is_url(manifest):
            raise click.BadParameter("the manifest is written here: give a local path",
                                     param_hint="--manifest")
        from .manifest import is_parquet

        if is_parquet(manifest):
            require(f"{command} --manifest {manifest}", "dask", ["pyarrow"],
                    hint="or name a .csv manifest")


def _finish(failed: int) -> None:
    if failed:
        sys.exit(1)


def _folder_out(out: str) -> str:
    """OUT of a folder run: a folder or URL (made when needed), never - or an existing file."""
    if out == STDIO:
        raise click.BadParameter("a folder IN needs a folder OUT, not -", param_hint="OUT")
    if storage.is_url(out):
        if _storage_call(storage.exists, out, "OUT") and not storage.is_dir(out):
            raise click.BadParameter(f"{out!r} exists and is not a folder", param_hint="OUT")
        return out
    out_root = Path(out)
    if out_root.exists() and not out_root.is_dir():
        raise click.BadParameter(f"{out!r} exists and is not a folder", param_hint="OUT")
    return str(out_root)


def _run_folder(jobs: list[Job], quiet: bool, desc: str, workers: int,
                dask: str | None = None, manifest: str | None = None,
                on_result: Any = None, echo: bool = True) -> Summary:
    """Run a folder's jobs (:mod:`mic.batch`) on local processes or Dask, with a manifest;
    after Ctrl-C report what finished and abort (exit 1)."""
    from .manifest import ManifestLocked

    with open_executor(workers, dask, command=f"mic {desc}", quiet=quiet) as ex:
        try:
            summary = run_batch(jobs, ex, desc=desc, quiet=quiet, manifest=manifest,
                                on_result=on_result, echo=echo)
        except ManifestLocked as exc:
            raise click.ClickException(str(exc)) from None
    if summary.interrupted:
        if not quiet:
            click.echo(summary.report(), err=True)
        raise click.Abort
    return summary


# ----------------------------------------------------------------------------- encode
@dataclass
class _EncResult:
    src: str
    dst: str
    src_format: str
    file_bytes: int
    raw_bytes: int
    mic_bytes: int
    info: MicInfo
    seconds: float
    psnr: float | None = None


def _encode_data(data: bytes, src_name: str, src_path: str | None,
                 options: dict[str, Any]) -> tuple[bytes, _EncResult]:
    import mic

    from .io import format_from_path, read_image, sniff_format

    fmt = sniff_format(data) or (format_from_path(src_path) if src_path else None)
    if fmt is None:
        raise JobError("not a recognised image (PNG, TIFF, NPY or DICOM with its 'DICM' "
                       "preamble; name a preamble-less DICOM file *.dcm)")
    if fmt == "mic":
        raise JobError(f"{src_name} is already a .mic stream (use 'mic decode')")
    arr, meta = read_image(data, format=fmt)
    enc_opts = meta.encode_options(arr)
    for key in ("bits_stored", "photometric"):
        if options.get(key) is not None:
            enc_opts[key] = options[key]
    if options.get("tile") is not None:
        enc_opts["tile"] = options["tile"]
    if options.get("stream_version") is not None:
        enc_opts["stream_version"] = options["stream_version"]
    lossy = options.get("quality") is not None or bool(options.get("target"))
    if options.get("model") and lossy:
        enc_opts["model"] = options["model"]
    for tool in LOSSY_TOOLS:
        if options.get(f"no_{tool}") and lossy:
            enc_opts[tool] = False
    t0 = time.perf_counter()
    if options.get("target"):
        kind, value = options["target"]
        blob = mic.encode_target(arr, **{kind: value}, **enc_opts)
    else:
        blob = mic.encode(arr, quality=options.get("quality"), **enc_opts)
    dt = time.perf_counter() - t0
    inf = mic.info(blob)
    psnr = None
    if lossy and options.get("measure_psnr"):  # folder runs with a manifest
        from .encoder import _lossy_psnr

        psnr = _lossy_psnr(arr, blob)
    return blob, _EncResult(src_name, "", meta.format.upper(), len(data), int(arr.nbytes),
                            len(blob), inf, dt, psnr)


def _encode_file(src: str, dst: str, options: dict[str, Any], force: bool) -> _EncResult:
    if dst != STDIO:
        _check_not_exists(dst, force)
    if src == STDIO:
        data, name, path = _read_stdin(), "<stdin>", None
    else:
        data = storage.read_bytes(src)
        name, path = src, src
    blob, res = _encode_data(data, name, path, options)
    if dst == STDIO:
        _write_stdout(blob)
        res.dst = "<stdout>"
    else:
        storage.write_bytes(dst, blob, overwrite=force)
        res.dst = dst
    return res


def _enc_line(r: _EncResult) -> str:
    i = r.info
    dims = "x".join(str(d) for d in i.shape)
    mode = i.mode if i.quality is None else f"{i.mode} q={i.quality}"
    return (f"{r.src} -> {r.dst}: {_human(r.raw_bytes)} bytes raw ({r.src_format} file "
            f"{_human(r.file_bytes)}) -> {_human(r.mic_bytes)} bytes, ratio {i.ratio:.2f}, "
            f"{i.bits_per_pixel:.3f} bits/pixel [{mode}, {i.dtype} {dims}, "
            f"{i.bits_stored} bits stored, {i.photometric}] in {r.seconds:.2f} s")


def _encode_out_path(rel: Path) -> Path:
    if rel.suffix.lower() in ENCODE_SUFFIXES:
        return rel.with_suffix(".mic")
    return rel.with_name(rel.name + ".mic")


#: the lossy encoder's tools (``mic.encode`` options, all on by default) and the help of
#: the ``--no-TOOL`` flag that turns each off
LOSSY_TOOLS: dict[str, str] = {
    "regions": "never code an exact-constant region (padding, black bars) as a shape and a "
               "value (SPEC 6.6); encodes faster.",
    "adapt": "never bias the entropy tables to the tile (SPEC 6.4); one coding pass instead "
             "of two.",
    "restore": "never send a restoration filter for the decoder to apply (SPEC 6.7); encodes "
               "faster.",
    "means": "never predict the means of detail coefficients from their decoded neighbours "
             "(SPEC 6.4).",
    "dq": "plain scalar quantisation of the detail bands instead of the dependent quantiser "
          "(SPEC 6.8).",
    "zadapt": "always code the hyper-latents under their learned prior, never about "
              "per-channel offsets under other tables (SPEC 6.9).",
    "zopt": "send the hyper-latents as analysed, never zeroing channels that cost more bits "
            "than they save (an encoder choice); encodes faster.",
}


def _lossy_tool_options(f):  # noqa: ANN001, ANN202 - click decorator
    """The ``--no-TOOL`` flags of :data:`LOSSY_TOOLS`, in that order."""
    for tool, text in reversed(LOSSY_TOOLS.items()):
        f = click.option(f"--no-{tool}", f"no_{tool}", is_flag=True, help=f"Lossy: {text}")(f)
    return f


@click.command("encode", epilog=_EXIT_HELP)
@click.argument("inp", metavar="IN")
@click.argument("out", metavar="OUT")
@click.option("--quality", type=int, default=None,
              help="Learned lossy mode at this quality (0 = lowest rate). Default: lossless.")
@click.option("--target-psnr", type=float, default=None, metavar="DB",
              help="Lossy mode at the lowest quality whose PSNR (peak 2^bits-1) reaches DB.")
@click.option("--target-bpp", type=float, default=None, metavar="BPP",
              help="Lossy mode at the highest quality within BPP bits per pixel.")
@click.option("--model", default=None, metavar="NAME",
              help="Lossy model (with --quality or a target): wavelet-context (default), "
                   "wavelet-hyperprior or wavelet-factorized (`mic info` describes each). "
                   "ae, vae, cnn and gan are reserved for learned-transform models this "
                   "build does not ship.")
@_lossy_tool_options
@click.option("--bits-stored", type=click.IntRange(1, 16), default=None,
              help="Significant bits per sample. Default: what the file declares "
                   "(DICOM Bits Stored) if the values fit, else the bits the values use.")
@click.option("--tile", default=None, metavar="N|RxC",
              help="Code each frame as independent tiles of N x N (or R x C) pixels. "
                   "Default: lossless, whole frames; lossy, 512 x 512 tiles or, for a frame "
                   "above 512, the fewest even tiles of at most 2048 a side where that costs "
                   "less rate + lambda * distortion.")
@click.option("--photometric", type=click.Choice(["MONOCHROME1", "MONOCHROME2", "RGB"],
                                                 case_sensitive=False), default=None,
              help="Override the photometric interpretation (default: from the file).")
@click.option("--stream-version", type=click.Choice(["1", "2"]), default=None,
              help="Stream major version: 2 (default), the compact layout, or 1 for "
                   "decoders older than version 2 (30-45 bytes more a stream; lossy: "
                   "without v2's restoration direction classes).")
@click.option("-f", "--force", is_flag=True, help="Overwrite existing outputs.")
@click.option("-j", "--jobs", type=click.IntRange(1), default=1, show_default=True,
              help="Folder runs: files processed in parallel by this many processes.")
@batch_options
@click.option("--quiet", is_flag=True, help="No per-file summary and no progress bar.")
def encode_cmd(inp: str, out: str, quality: int | None, target_psnr: float | None,
               target_bpp: float | None, model: str | None, bits_stored: int | None,
               tile: str | None, photometric: str | None, stream_version: str | None,
               force: bool, jobs: int, dask: str | None, manifest: str | None, quiet: bool,
               **no_tools: bool) -> None:
    """Encode an image (PNG, TIFF, NPY or DICOM) or a folder of them to .mic.

    IN is a file, - (stdin; the format is sniffed from its first bytes) or a
    folder. OUT is a .mic file, - (stdout) or, for a folder IN, a folder that
    receives the same tree with each image's suffix replaced by .mic. DICOM input
    gives the stored values of all frames (no rescale; signed data stay signed).

    \b
    Examples:
      mic encode ct.png ct.mic                 # lossless, prints size/ratio/bpp
      mic encode study.dcm study.mic --tile 256
      mic encode scans/ encoded/ --force       # whole tree, mirrored
      mic encode scans/ encoded/ -j 4          # four files at a time
      mic encode scans/ encoded/ --dask local:4 --manifest run.parquet
      cat ct.png | mic encode - - > ct.mic
      mic encode ct.png ct.mic --target-psnr 50   # lossy, lowest quality reaching 50 dB
    """
    _input_exists(inp)
    targets = [(k, v) for k, v in (("psnr", target_psnr), ("bpp", target_bpp)) if v is not None]
    if len(targets) + (quality is not None) > 1:
        raise click.BadParameter("give at most one of --quality, --target-psnr, --target-bpp")
    if model and quality is None and not targets:
        raise click.BadParameter("--model needs --quality or a target (lossless has no model)")
    for tool in LOSSY_TOOLS:  # no_tools: the --no-TOOL flags, keyed no_TOOL
        if no_tools[f"no_{tool}"] and quality is None and not targets:
            raise click.BadParameter(f"--no-{tool} needs --quality or a target (lossy only)")
    options = {"quality": quality, "target": targets[0] if targets else None, "model": model,
               **no_tools, "bits_stored": bits_stored,
               "tile": parse_tile(tile),
               "stream_version": int(stream_version) if stream_version else None,
               "photometric": photometric.upper() if photometric else None}
    folder = _is_dir(inp)
    _batch_flags(dask, manifest, folder, "mic encode")
    if folder:
        options["measure_psnr"] = manifest is not None
        _encode_folder(inp, out, options, force, quiet, jobs, dask, manifest)
        return
    if out != STDIO and os.path.isdir(out):
        out = str(Path(out) / _encode_out_path(Path(Path(inp).name if inp != STDIO else "stdin")))
    elif out != STDIO and Path(out).suffix.lower() != ".mic":
        raise click.BadParameter(f"{out!r} must end in .mic (or be - or a folder)",
                                 param_hint="OUT")
    _output_folder_exists(out)
    try:
        res = _encode_file(inp, out, options, force)
    except Exception as exc:  # noqa: BLE001
        click.echo(f"error: {inp}: {describe_error(exc)}", err=True)
        sys.exit(1)
    if not quiet:
        click.echo(_enc_line(res), err=out == STDIO)


def _encode_job(src: str, dst: str, options: dict[str, Any], force: bool) -> Result:
    """Encode one file of a folder run (also in a worker process); skipped if it has no image."""
    from .io import NoPixelDataError

    _check_not_exists(dst, force)
    storage.makedirs(storage.parent(dst))
    try:
        r = _encode_file(src, dst, options, force)
    except NoPixelDataError:  # a DICOMDIR or report beside the images: not an error
        return Result(src, None, SKIPPED, "no pixel data")
    return Result(src, dst, DONE, bytes_in=r.file_bytes, bytes_out=r.mic_bytes,
                  ratio=r.info.ratio, psnr=r.psnr, value=r)


def _encode_folder(inp: str, out: str, options: dict[str, Any], force: bool,
                   quiet: bool, jobs: int = 1, dask: str | None = None,
                   manifest: str | None = None) -> None:
    from pathlib import PurePosixPath

    from .io import IMAGE_FORMATS, sniff_format

    root = inp if storage.is_url(inp) else str(Path(inp))
    out_root = _folder_out(out)
    items: list[tuple[str, str]] = []
    taken: dict[str, str] = {}
    skipped = 0
    for p, rel in _tree(root, out_root):
        suf = PurePosixPath(rel).suffix.lower()
        if suf == ".mic":
            skipped += 1
            continue
        if suf not in ENCODE_SUFFIXES and sniff_format(_head(p)) not in IMAGE_FORMATS:
            skipped += 1
            continue
        dst = _under(out_root, _encode_out_path(PurePosixPath(rel)).as_posix())
        items.append((p, dst))
    if not items:
        click.echo(f"error: no images (PNG, TIFF, NPY, DICOM) found under {root}", err=True)
        sys.exit(1)

    batch: list[Job] = []
    failed_early = 0
    for src, dst in items:
        assert dst is not None
        if dst in taken:  # e.g. x.png and x.tif in one folder
            failed_early += 1
            click.echo(f"error: {src}: output {dst} would also be written from {taken[dst]}; "
                       "rename one", err=True)
            continue
        taken[dst] = src
        batch.append(Job(src, dst, _encode_job, (src, dst, options, force)))
    summary = _run_folder(batch, quiet, "encode", jobs, dask, manifest)
    failed = summary.failed + failed_early
    results = [r.value for r in summary.select(DONE) if not r.resumed]
    before = summary.resumed
    no_pixels = summary.count(SKIPPED)
    skipped += no_pixels
    if not quiet:
        raw = sum(r.raw_bytes for r in results)
        comp = sum(r.mic_bytes for r in results)
        ratio = raw / comp if comp else 0.0
        click.echo(f"encoded {len(results)} of {len(items) - no_pixels} files under {root} "
                   f"-> {out_root}" + (f" ({before} done before, skipped)" if before else "")
                   + f": {_human(raw)} bytes raw -> {_human(comp)} bytes (ratio {ratio:.2f}); "
                   f"{failed} failed, {skipped} other files skipped"
                   + (f" ({no_pixels} without pixel data)" if no_pixels else ""))
        click.echo(summary.report())
    _finish(failed)


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


def _decode_file(src: str, dst: str, fmt: str, force: bool, max_pixels: int) -> _DecResult:
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
    arr = mic.decode(data, max_pixels=max_pixels)
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
@batch_options
@click.option("--quiet", is_flag=True, help="No per-file summary and no progress bar.")
def decode_cmd(inp: str, out: str, fmt: str | None, max_pixels: int | None, force: bool,
               jobs: int, dask: str | None, manifest: str | None, quiet: bool) -> None:
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
        _decode_folder(inp, out, fmt or "auto", force, quiet, mp, jobs, dask, manifest)
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
        res = _decode_file(inp, out, ofmt, force, mp)
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


def _decode_job(src: str, dst: str, fmt: str, force: bool, max_pixels: int) -> Result:
    """Decode one file of a folder run (also in a worker process)."""
    storage.makedirs(storage.parent(dst))
    r = _decode_file(src, dst, fmt, force, max_pixels)
    return Result(src, r.dst, DONE, bytes_in=r.mic_bytes, bytes_out=r.out_bytes,
                  ratio=r.info.ratio, value=r)


def _decode_folder(inp: str, out: str, fmt: str, force: bool, quiet: bool,
                   max_pixels: int, jobs: int = 1, dask: str | None = None,
                   manifest: str | None = None) -> None:
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
        batch.append(Job(src, dst, _decode_job, (src, dst, fmt, force, max_pixels),
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


# ----------------------------------------------------------------------------- info / verify
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
    line = (f"OK {name}: {inf.mode} {inf.dtype} {dims}, "
            f"{_human(inf.compressed_size)} bytes, {inf.bits_per_pixel:.3f} bits/pixel, "
            f"decoded in {dt:.2f} s")
    return Result(path, None, DONE, bytes_in=len(data), ratio=inf.ratio, value=line)
