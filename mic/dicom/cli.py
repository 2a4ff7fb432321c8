"""``mic dicom compress`` and ``mic dicom decompress``: whole files or folder trees.

Loaded lazily by :mod:`mic.cli` (``mic dicom ...``).  IN may be a file or a
folder; a folder is walked recursively (hidden entries skipped) and mirrored
under OUT.  Every file is read with pydicom; non-DICOM files in a folder are
skipped (not written) and listed, a non-DICOM file named as IN fails; non-image
objects, already lossy-compressed pixel data and pixel data mic cannot code are
copied unchanged, and a file that fails does not stop the batch (:mod:`mic.batch`; ``-j N`` runs N
files at a time in worker processes, ``--dask ADDRESS`` on a Dask cluster, ``--manifest
PATH`` records one row per file and resumes).  IN and OUT may be fsspec URLs.  Outputs are written atomically and an
existing output is refused unless ``--force``.

Exit codes: 0 no failure; 1 at least one file failed (the others were still
processed), a folder IN held no DICOM file, or Ctrl-C (what finished is reported,
nothing partial is left); 2 usage error.

>>> from click.testing import CliRunner
>>> r = CliRunner().invoke(dicom_group, ["compress", "--help"])
>>> r.exit_code, "--quality" in r.output
(0, True)
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .. import storage
from ..batch import FAILED, SKIPPED, Job, Result, Summary, batch_options, open_executor, walk
from ..batch import parse_dask_address
from ..extras import missing, require
from ..batch import run as run_batch
from .convert import CONVERTED, KEPT, compress_file, decompress_file, mirror_path

__all__ = ["dicom_group", "summarize"]


def _inputs(src: str, dst: str) -> list[tuple[str, str]]:
    """(input, output) pairs: one file, or every non-hidden file of a folder tree mirrored
    (local paths or fsspec URLs)."""
    if storage.is_url(src) or storage.is_url(dst):
        if not storage.is_dir(src):
            if storage.is_dir(dst):
                return [(src, storage.join(dst, src.rstrip("/").rpartition("/")[2]))]
            return [(src, dst)]
        if storage.exists(dst) and not storage.is_dir(dst):
            raise click.BadParameter(f"{dst!r} is a file but IN is a folder", param_hint="OUT")
        return [(storage.join(src, rel), storage.join(dst, rel))
                for rel in storage.walk(src, dst)]
    s, d = Path(src), Path(dst)
    if s.is_file():
        if d.is_dir():
            return [(str(s), str(d / s.name))]
        return [(str(s), str(d))]
    if d.exists() and not d.is_dir():
        raise click.BadParameter(f"{str(d)!r} is a file but IN is a folder", param_hint="OUT")
    return [(str(p), str(mirror_path(p, s, d))) for p in walk(s, d)]


def summarize(summary: Summary) -> str:
    """The summary printed after a run: counts, bytes before/after, ratio, kept/failed files.

    >>> o = [Result("a.dcm", "b.dcm", CONVERTED, "", 1000, 400),
    ...      Result("sr.dcm", "sr2.dcm", KEPT, "no Pixel Data (non-image object)", 50, 50)]
    >>> print(summarize(Summary(o)))
    files: 2 (converted 1, kept 1, skipped 0, failed 0)
    bytes: 1,050 -> 450 (ratio 2.33); converted files only: 1,000 -> 400 (ratio 2.50)
    kept unchanged:
      sr.dcm: no Pixel Data (non-image object)
    >>> print(summarize(Summary(o[1:])))
    files: 1 (converted 0, kept 1, skipped 0, failed 0)
    bytes: 50 -> 50 (nothing converted)
    kept unchanged:
      sr.dcm: no Pixel Data (non-image object)
    """
    c = summary.statuses
    bi, bo = summary.totals(CONVERTED, KEPT)
    ci, co = summary.totals(CONVERTED)
    lines = [
        (f"files: {len(summary.results)} (converted {c[CONVERTED]}, kept {c[KEPT]}, "
         f"skipped {c[SKIPPED]}, failed {c[FAILED]})"),
        (f"bytes: {bi:,} -> {bo:,} (ratio {bi / max(bo, 1):.2f}); converted files only: "
         f"{ci:,} -> {co:,} (ratio {ci / max(co, 1):.2f})") if c[CONVERTED] else
        f"bytes: {bi:,} -> {bo:,} (nothing converted)",
    ]
    for status, title in ((KEPT, "kept unchanged"), (SKIPPED, "skipped"), (FAILED, "FAILED")):
        sel = summary.select(status)
        if sel:
            lines.append(f"{title}:")
            lines.extend(f"  {r.source}: {r.error}" for r in sel)
    return "\n".join(lines)


def foreign_codecs_needed(paths: list[Path]) -> Counter[str]:
    """Transfer syntaxes (by name, with counts) of the DICOM files in ``paths`` that only
    imagecodecs would decode here (read from each file meta; nothing when it is installed)."""
    from pydicom.filereader import read_file_meta_info
    from pydicom.pixels import get_decoder

    from .syntaxes import PLUGIN, SYNTAXES

    need: Counter[str] = Counter()
    if not missing(["imagecodecs"]):
        return need
    for p in paths:
        try:
            ts = str(read_file_meta_info(p).get("TransferSyntaxUID", ""))
        except Exception:  # noqa: BLE001 - not DICOM, unreadable: the run reports it
            continue
        if ts in PLUGIN and not [n for n in get_decoder(ts).available_plugins
                                 if n != "imagecodecs"]:
            need[SYNTAXES[ts].name] += 1
    return need


def _check_foreign_codecs(pairs: list[tuple[str, str]], command: str, hint: str) -> None:
    need = foreign_codecs_needed([Path(s) for s, _ in pairs if not storage.is_url(s)])
    if need:
        files = ", ".join(f"{n} {name}" for name, n in need.most_common())
        require(command, "dicom", ["imagecodecs"], hint=f"for {files} input file(s){hint}")


def _run(src: str, dst: str, quiet: bool, desc: str, workers: int,
         action: Callable[..., Result], dask: str | None = None, manifest: str | None = None,
         **options: Any) -> None:
    """``action(s, d, **options)`` for each (input, output) pair, on ``workers`` processes
    or the Dask cluster at ``dask``, with a ``manifest``."""
    from ..manifest import ManifestLocked, is_parquet

    try:
        if not storage.exists(src):
            raise click.BadParameter(f"{src!r} does not exist", param_hint="IN")
        pairs = _inputs(src, dst)
    except ImportError as exc:  # the URL's filesystem is not installed
        raise click.BadParameter(str(exc), param_hint="IN") from None
    if manifest is not None and is_parquet(manifest):
        require(f"mic dicom {desc} --manifest {manifest}", "dask", ["pyarrow"],
                hint="or name a .csv manifest")
    # a file named on its own must be DICOM; in a folder, other files are skipped and listed
    options["not_dicom_fails"] = not storage.is_dir(src)
    remote = dask is not None and parse_dask_address(dask)[0] != "local"
    if not options.get("keep_compressed") and not remote:
        # (a remote cluster's workers have their own plugins: they report such files)
        hint = "; --keep-compressed copies them as they are" if desc == "compress" else ""
        _check_foreign_codecs(pairs, f"mic dicom {desc}", hint)
    jobs = [Job(s, d, action, (s, d), options) for s, d in pairs]
    with open_executor(workers, dask, command=f"mic dicom {desc}", quiet=quiet) as ex:
        try:
            summary = run_batch(jobs, ex, desc=desc, quiet=quiet, manifest=manifest)
        except ManifestLocked as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(summarize(summary), err=quiet)
    if not quiet:
        click.echo(summary.report())
    if summary.interrupted:
        raise click.Abort
    if summary.failed:
        sys.exit(1)
    if summary.results and summary.count(SKIPPED) == len(summary.results):
        click.echo(f"error: no DICOM file found under {src}", err=True)
        sys.exit(1)


def _check_lossy(quality: int, model: str | None = None) -> None:
    """Fail early (exit 1) when this build cannot code lossily at all (with ``model``)."""
    import numpy as np

    import mic

    probe = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 37) % 4096
    try:
        mic.encode(probe, quality=quality, **({"model": model} if model else {}))
    except mic.MicUnsupportedError as exc:
        raise click.ClickException(f"lossy coding is unavailable: {exc}") from None
    except mic.MicInputError as exc:
        raise click.BadParameter(str(exc), param_hint="--quality") from None


@click.group("dicom", context_settings={"help_option_names": ["-h", "--help"]})
def dicom_group() -> None:
    """Convert DICOM files to and from the mic transfer syntax; run a DICOM node.

    \b
    After `import mic.dicom`, pydicom reads the results like any other DICOM:
      mic dicom compress study/ study_mic/            # lossless, folder mirrored
      mic dicom compress ct.dcm ct_mic.dcm -q 4       # lossy (DICOM lossy rules)
      mic dicom decompress study_mic/ study_raw/      # back to Explicit VR LE
      mic dicom serve store/ --port 11112             # a DICOM node (mic dicom serve -h)
      mic dicom stats store/                          # what the node holds
    """


@dicom_group.command("compress")
@click.argument("src", metavar="IN")
@click.argument("dst", metavar="OUT")
@click.option("-q", "--quality", type=int, default=None,
              help="Lossy quality index (mic's learned mode); omit for lossless.")
@click.option("--model", default=None, metavar="NAME",
              help="Lossy model (with --quality; default mic's: wavelet-context-fast at the "
                   "default effort). 'gan' is "
                   "generative (method MIC_GAN): its decoder may synthesise texture that "
                   "was not in the original; not for primary diagnosis.")
@click.option("--max-error", type=click.IntRange(1), default=None, metavar="K",
              help="Near-lossless: every sample within K of the original (DICOM lossy "
                   "rules, method MIC_NEAR_K<K>); K < 2^(Bits Stored - 1).")
@click.option("--keep-compressed", is_flag=True,
              help="Copy inputs already in another compressed syntax (JPEG, ...) unchanged "
                   "instead of decoding and recoding them.")
@click.option("--recode-lossy", is_flag=True,
              help="Recode inputs already lossy-compressed (JPEG baseline, lossy JPEG 2000, "
                   "...) too, keeping the result only where it is smaller (by default they "
                   "are copied unchanged: recoded losslessly they grow).")
@click.option("-f", "--force", is_flag=True, help="Overwrite existing outputs.")
@click.option("-j", "--jobs", type=click.IntRange(1), default=1, show_default=True,
              help="Folder runs: files processed in parallel by this many processes.")
@batch_options
@click.option("--quiet", is_flag=True, help="No progress bar; summary to stderr.")
def compress_cmd(src: str, dst: str, quality: int | None, keep_compressed: bool,
                 recode_lossy: bool, force: bool, jobs: int, dask: str | None,
                 manifest: str | None, quiet: bool, max_error: int | None = None,
                 model: str | None = None) -> None:
    """Compress the pixel data of DICOM file(s) IN to the mic transfer syntax in OUT.

    \b
    Lossless (default): every data element except Pixel Data is kept, including
    the SOP Instance UID and Lossy Image Compression.  Lossy (--quality): Lossy
    Image Compression becomes "01", its Ratio and Method ("MIC_LEARNED") are
    appended, Image Type value 1 becomes DERIVED and a new SOP Instance UID is made
    (--model gan: the method is "MIC_GAN").
    Near-lossless (--max-error K): the same, with the method "MIC_NEAR_K<K>".
    Already-compressed lossless inputs (JPEG-LS, JPEG Lossless, RLE, lossless JPEG
    2000, ...) are decoded first when an installed pydicom plugin can; otherwise,
    like objects without Pixel Data (SR, SEG, RT, presentation states) and pixel
    data mic cannot code (1/32 bits, YBR_FULL_422), they are copied unchanged and
    listed.  Inputs already lossy-compressed (JPEG baseline, lossy JPEG 2000, ...)
    are copied unchanged and listed, unless --recode-lossy.

    Exit codes: 0 no failure; 1 some file failed, IN is a file that is not DICOM, or
    a folder IN holds no DICOM file; 2 usage error.
    """
    from . import register

    register()
    if quality is not None and max_error is not None:
        raise click.BadParameter("--max-error (near-lossless) excludes --quality (lossy)")
    if model is not None and quality is None:
        raise click.BadParameter("--model names a lossy model: give --quality too",
                                 param_hint="--model")
    if quality is not None:
        _check_lossy(quality, model)
    _run(src, dst, quiet, "compress", jobs, compress_file, dask, manifest, quality=quality,
         overwrite=force, keep_compressed=keep_compressed, recode_lossy=recode_lossy,
         max_error=max_error, **({"model": model} if model else {}))


@dicom_group.command("decompress")
@click.argument("src", metavar="IN")
@click.argument("dst", metavar="OUT")
@click.option("-f", "--force", is_flag=True, help="Overwrite existing outputs.")
@click.option("-j", "--jobs", type=click.IntRange(1), default=1, show_default=True,
              help="Folder runs: files processed in parallel by this many processes.")
@batch_options
@click.option("--quiet", is_flag=True, help="No progress bar; summary to stderr.")
def decompress_cmd(src: str, dst: str, force: bool, jobs: int, dask: str | None,
                   manifest: str | None, quiet: bool) -> None:
    """Decode DICOM file(s) IN to Explicit VR Little Endian in OUT.

    \b
    mic files keep their SOP Instance UID and Planar Configuration; other
    compressed syntaxes are decoded when a pydicom plugin can; uncompressed and
    non-image files are copied unchanged.

    Exit codes: 0 no failure; 1 some file failed; 2 usage error.
    """
    from . import register

    register()
    _run(src, dst, quiet, "decompress", jobs, decompress_file, dask, manifest,
         overwrite=force)


SERVE_EXAMPLE = """\b
Example (a node on port 11112; the DCMTK tools send, query and retrieve):
  mic dicom serve store/ --port 11112 --ae-title MIC \\
      --move-dest VIEWER=127.0.0.1:11113 &
  echoscu -aec MIC 127.0.0.1 11112
  storescu -aec MIC +sd +r 127.0.0.1 11112 study/
  findscu -S -aec MIC -k QueryRetrieveLevel=STUDY -k StudyInstanceUID \\
      -k PatientID 127.0.0.1 11112
  getscu -S -aec MIC -od back/ -k QueryRetrieveLevel=STUDY \\
      -k StudyInstanceUID=1.2.3 127.0.0.1 11112
  mic dicom stats store/"""


@dicom_group.command("serve", epilog=SERVE_EXAMPLE)
@click.argument("store", metavar="STORE_DIR", type=click.Path(file_okay=False))
@click.option("--port", type=click.IntRange(0, 65535), default=11112, show_default=True,
              help="TCP port to listen on (0: any free port, printed when listening).")
@click.option("--ae-title", default="MIC", show_default=True, help="This node's AE title.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (0.0.0.0: every interface).")
@click.option("--allow-ae", "allow_ae", multiple=True, metavar="TITLE",
              help="Accept associations only from these calling AE titles (repeatable).")
@click.option("--move-dest", "move_dest", multiple=True, metavar="TITLE=HOST:PORT",
              help="A C-MOVE destination (repeatable).")
@click.option("-q", "--quality", type=int, default=None,
              help="Store lossily at this quality (DICOM lossy rules: new SOP Instance UID, "
                   "Lossy Image Compression 01); default lossless.")
@click.option("--model", default=None, metavar="NAME",
              help="Lossy model of --quality (default mic's: wavelet-context-fast at the "
                   "default effort). 'gan' is generative "
                   "(method MIC_GAN): its decoder may synthesise texture that was not in "
                   "the original; not for primary diagnosis.")
@click.option("--recode-lossy", is_flag=True,
              help="Recode instances that arrive already lossy-compressed (JPEG baseline, "
                   "lossy JPEG 2000, ...) too; by default they are kept as sent.")
@click.option("--tls-cert", type=click.Path(exists=True, dir_okay=False),
              help="PEM certificate: accept only TLS connections.")
@click.option("--tls-key", type=click.Path(exists=True, dir_okay=False),
              help="PEM private key of --tls-cert.")
@click.option("--tls-ca", type=click.Path(exists=True, dir_okay=False),
              help="PEM CA bundle: require client certificates signed by it.")
@click.option("--max-associations", type=click.IntRange(1), default=16, show_default=True)
@click.option("--log-file", type=click.Path(dir_okay=False),
              help="Also append the log lines to this file.")
def serve_cmd(store: str, port: int, ae_title: str, host: str, allow_ae: tuple[str, ...],
              move_dest: tuple[str, ...], quality: int | None, model: str | None,
              recode_lossy: bool, tls_cert: str | None, tls_key: str | None,
              tls_ca: str | None, max_associations: int, log_file: str | None) -> None:
    """Run a DICOM node that stores what it receives in STORE_DIR, compressed with mic.

    \b
    Services: C-ECHO; C-STORE of every storage SOP class (standard transfer
    syntaxes and mic's); C-FIND at patient, study, series and image level, C-GET
    and C-MOVE (patient and study root).  Instances are stored compressed with mic
    (lossless by default), except those that arrive already lossy-compressed,
    objects without pixel data and pixel data mic cannot code, which are kept as
    sent.  A store is acknowledged once its file and index row are on disk.
    Retrieval sends each instance in a syntax the peer accepted: mic to mic-aware
    peers, else JPEG-LS or JPEG 2000 lossless (when imagecodecs is installed), else
    Explicit VR Little Endian; the pixels are the stored pixels.  One log line per
    association and per instance on stderr.  Stops on SIGTERM or Ctrl-C.
    """
    import logging

    require("mic dicom serve", "dicom", ["pynetdicom"])
    if bool(tls_cert) != bool(tls_key):
        raise click.BadParameter("--tls-cert and --tls-key go together", param_hint="--tls-key")
    if tls_ca and not tls_cert:
        raise click.BadParameter("--tls-ca needs --tls-cert and --tls-key",
                                 param_hint="--tls-ca")
    if not 0 < len(ae_title.strip()) <= 16:
        raise click.BadParameter("an AE title has 1 to 16 characters", param_hint="--ae-title")
    from . import register
    from .node import NodeConfig, parse_move_dest, serve

    try:
        dests = parse_move_dest(move_dest)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--move-dest") from None
    register()
    if model is not None and quality is None:
        raise click.BadParameter("--model names a lossy model: give --quality too",
                                 param_hint="--model")
    if quality is not None:
        _check_lossy(quality, model)
    log = logging.getLogger("mic.dicom.node")
    log.setLevel(logging.INFO)
    log.propagate = False
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        handlers.append(logging.FileHandler(log_file))
    for h in handlers:
        h.setFormatter(fmt)
        log.addHandler(h)
    Path(store).mkdir(parents=True, exist_ok=True)
    serve(NodeConfig(Path(store), ae_title.strip(), host, port, tuple(allow_ae), dests,
                     quality, recode_lossy, tls_cert, tls_key, tls_ca, max_associations,
                     model))


@dicom_group.command("stats")
@click.argument("store", metavar="STORE_DIR", type=click.Path(exists=True, file_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def stats_cmd(store: str, as_json: bool) -> None:
    """Summarise a `mic dicom serve` store: patients, studies, series, instances, bytes
    received and stored, ratio, stored transfer syntaxes."""
    import json

    from pydicom.uid import UID

    from . import MIC_TRANSFER_SYNTAX
    from .store import INDEX, Store

    if not (Path(store) / INDEX).exists():
        raise click.ClickException(f"{store} is not a mic DICOM store (no {INDEX})")
    s = Store(store).stats()
    if as_json:
        click.echo(json.dumps(s, indent=2))
        return
    ratio = f"ratio {s['ratio']:.2f}" if s["ratio"] else "no instances"
    click.echo(f"patients {s['patients']}, studies {s['studies']}, series {s['series']}, "
               f"instances {s['instances']}")
    click.echo(f"bytes received {s['bytes_received']:,}, stored {s['bytes_stored']:,} ({ratio})")
    for ts, n in s["syntaxes"].items():
        name = "mic" if ts == MIC_TRANSFER_SYNTAX else UID(ts).name
        click.echo(f"  {n} instance(s) stored as {name}")
