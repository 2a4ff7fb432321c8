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

import os
import sys
import time
from dataclasses import dataclass
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
    from .codec import MicInfo

__all__ = ["encode_cmd", "parse_tile"]

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
    if options.get("effort") is not None:
        enc_opts["effort"] = options["effort"]
    if options.get("threads", 1) > 1:
        enc_opts["threads"] = options["threads"]
    if options.get("volume_group"):
        enc_opts["volume_group"] = options["volume_group"]
    t0 = time.perf_counter()
    if options.get("target"):
        kind, value = options["target"]
        blob = mic.encode_target(arr, **{kind: value}, **enc_opts)
    else:
        if options.get("max_error"):
            enc_opts["max_error"] = options["max_error"]
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


def _encode_series(inp: str, out: str, options: dict[str, Any], force: bool) -> _EncResult:
    """A folder of slices (its image files, sorted by name) -> one volume stream.  Frames
    of different shapes or dtypes are refused before anything is written."""
    import numpy as np

    import mic

    from .io import format_from_path, read_image, sniff_format

    _check_not_exists(out, force)
    frames, metas, size = [], [], 0
    for p in sorted(q for q in Path(inp).iterdir() if q.is_file()):
        data = p.read_bytes()
        fmt = sniff_format(data) or format_from_path(p)
        if fmt is None or fmt == "mic":
            continue
        arr, meta = read_image(data, format=fmt)
        frames.append(arr)
        metas.append(meta)
        size += len(data)
    if not frames:
        raise JobError("no images in the folder")
    shapes = sorted({(a.shape, str(a.dtype)) for a in frames})
    if len(shapes) > 1:
        raise JobError(f"slices differ in shape or dtype: {shapes}")
    vol = np.stack(frames)
    enc_opts = metas[0].encode_options(frames[0])
    for key in ("bits_stored", "tile", "stream_version"):
        if options.get(key) is not None:
            enc_opts[key] = options[key]
    t0 = time.perf_counter()
    blob = mic.encode(vol, volume_group=options.get("volume_group") or 8,
                      threads=options.get("threads", 1), **enc_opts)
    dt = time.perf_counter() - t0
    storage.write_bytes(out, blob, overwrite=force)
    return _EncResult(inp, out, metas[0].format.upper(), size, int(vol.nbytes), len(blob),
                      mic.info(blob), dt, None)


def _enc_line(r: _EncResult) -> str:
    i = r.info
    dims = "x".join(str(d) for d in i.shape)
    mode = i.mode if i.quality is None else f"{i.mode} q={i.quality}"
    if i.max_error:
        mode = f"{i.mode} k={i.max_error}"
    return (f"{r.src} -> {r.dst}: {_human(r.raw_bytes)} bytes raw ({r.src_format} file "
            f"{_human(r.file_bytes)}) -> {_human(r.mic_bytes)} bytes, ratio {i.ratio:.2f}, "
            f"{i.bits_per_pixel:.3f} bits/pixel [{mode}, {i.dtype} {dims}, "
            f"{i.bits_stored} bits stored, {i.photometric}] in {r.seconds:.2f} s")


def _encode_out_path(rel: Path) -> Path:
    if rel.suffix.lower() in ENCODE_SUFFIXES:
        return rel.with_suffix(".mic")
    return rel.with_name(rel.name + ".mic")


#: the lossy encoder's tools (``mic.encode`` options, on or off by the effort) and the help
#: of the ``--no-TOOL`` flag that turns each off
LOSSY_TOOLS: dict[str, str] = {
    "regions": "never code an exact-constant region (padding, black bars) as a shape and a "
               "value (SPEC 6.6; the conv models too, 6.10); encodes faster.",
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
    "tilings": "for a frame above 512, code 512 x 512 tiles without also trying the fewest "
               "even large tiles; encodes faster.",
    "inline_biases": "never send a pass's own table bias (SPEC 6.4, tile flag 512), chosen "
                     "after the pass is quantised.",
    "half_res": "conv models: never code a tile at half resolution (SPEC 6.10 flag 32; tried "
                "from effort 3 in images of 1024 x 1024 or more, from 4 in every tile); "
                "encodes faster.",
    "exact_samples": "conv models: never set a tile's samples exactly by lossless planes "
                     "where they decode far from the original (SPEC 6.10 flag 64: text and "
                     "graphics; tried from effort 3); encodes faster.",
}


def _lossy_tool_options(f):  # noqa: ANN001, ANN202 - click decorator
    """The ``--no-TOOL`` flags of :data:`LOSSY_TOOLS`, in that order."""
    for tool, text in reversed(LOSSY_TOOLS.items()):
        f = click.option(f"--no-{tool.replace('_', '-')}", f"no_{tool}", is_flag=True,
                         help=f"Lossy: {text}")(f)
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
              help="Lossy model (with --quality or a target). Default: wavelet-context-fast "
                   "up to --effort 3, wavelet-context from 4; also wavelet-hyperprior, "
                   "wavelet-factorized, and vae, ae, cnn or gan (learned convolutional "
                   "transforms with a scale hyperprior / a factorized prior / a mean-scale "
                   "hyperprior and checkerboard context / the cnn with an adversarially "
                   "fine-tuned decoder, qualities 0-7; gan is generative, not for primary "
                   "diagnosis; the --no-TOOL flags apply only to the wavelet models). "
                   "`mic info` describes each.")
@click.option("--max-error", type=click.IntRange(0), default=None, metavar="K",
              help="Near-lossless: every decoded sample within K of the original, "
                   "guaranteed (JPEG-LS NEAR scheme; K < 2^(bits stored - 1)). 0: lossless.")
@click.option("--volume-group", type=click.IntRange(2, 1 << 16), default=None, metavar="G",
              help="Lossless multi-frame input (or --series): code the frames as a volume, "
                   "each predicted from the one before, restarting every G frames (SPEC 5.5).")
@click.option("--series", is_flag=True,
              help="IN is a folder of slices (sorted by name): code them as one volume "
                   "into the .mic file OUT (groups of --volume-group, default 8).")
@click.option("--effort", type=click.IntRange(1, 7), default=None,
              help="Lossy: 1 (fastest) .. 7 (smallest); default 3. Chooses which encoder "
                   "tools run (README, 'Effort levels'); every effort decodes the same way. "
                   "Lossless: 1-2 the fast coder (SPEC 5.6), 3 the NLMS coder (SPEC 5.7), 4-7 "
                   "both per plane, keeping the smaller; 5-7 also try 256 x 256 tiles.")
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
@click.option("--threads", type=click.IntRange(1), default=1, show_default=True,
              help="Tiles (and frames) of a file coded at once on this many threads; the "
                   "same bytes for any count.")
@batch_options
@click.option("--quiet", is_flag=True, help="No per-file summary and no progress bar.")
def encode_cmd(inp: str, out: str, quality: int | None, target_psnr: float | None,
               target_bpp: float | None, model: str | None, bits_stored: int | None,
               tile: str | None, photometric: str | None, stream_version: str | None,
               force: bool, jobs: int, dask: str | None, manifest: str | None, quiet: bool,
               effort: int | None = None, threads: int = 1, max_error: int | None = None,
               volume_group: int | None = None, series: bool = False,
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
      mic encode ct.png ct.mic --quality 6 --effort 7  # smallest stream, slowest encode
      mic encode ct.png ct.mic --max-error 2      # near-lossless: every sample within 2
      mic encode slices/ series.mic --series      # a folder of slices as one volume
    """
    _input_exists(inp)
    targets = [(k, v) for k, v in (("psnr", target_psnr), ("bpp", target_bpp)) if v is not None]
    if len(targets) + (quality is not None) > 1:
        raise click.BadParameter("give at most one of --quality, --target-psnr, --target-bpp")
    if model and quality is None and not targets:
        raise click.BadParameter("--model needs --quality or a target (lossless has no model)")
    for tool in LOSSY_TOOLS:  # no_tools: the --no-TOOL flags, keyed no_TOOL
        if no_tools[f"no_{tool}"] and quality is None and not targets:
            raise click.BadParameter(f"--no-{tool.replace('_', '-')} needs --quality or a "
                                     "target (lossy only)")
    if max_error is not None and (quality is not None or targets):
        raise click.BadParameter("--max-error (near-lossless) excludes --quality and the "
                                 "lossy targets")
    if (volume_group or series) and (max_error or quality is not None or targets):
        raise click.BadParameter("--volume-group and --series are lossless only")
    options = {"quality": quality, "target": targets[0] if targets else None, "model": model,
               "max_error": max_error, "volume_group": volume_group,
               **no_tools, "effort": effort, "threads": threads, "bits_stored": bits_stored,
               "tile": parse_tile(tile),
               "stream_version": int(stream_version) if stream_version else None,
               "photometric": photometric.upper() if photometric else None}
    folder = _is_dir(inp)
    if series:
        if not folder or Path(out).suffix.lower() != ".mic":
            raise click.BadParameter("--series needs a folder IN and a .mic file OUT")
        try:
            res = _encode_series(inp, out, options, force)
        except Exception as exc:  # noqa: BLE001
            click.echo(f"error: {inp}: {describe_error(exc)}", err=True)
            sys.exit(1)
        if not quiet:
            click.echo(_enc_line(res))
        return
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
