"""``mic dicom compress`` and ``mic dicom decompress``: whole files or folder trees.

Loaded lazily by :mod:`mic.cli` (``mic dicom ...``).  IN may be a file or a
folder; a folder is walked recursively (hidden entries skipped) and mirrored
under OUT.  Every file is read with pydicom; non-DICOM files are skipped (not
written), non-image objects and pixel data mic cannot code are copied unchanged,
and a file that fails does not stop the batch.  Outputs are written atomically
and an existing output is refused unless ``--force``.

Exit codes: 0 no failure; 1 at least one file failed (the others were still
processed); 2 usage error.

>>> from click.testing import CliRunner
>>> r = CliRunner().invoke(dicom_group, ["compress", "--help"])
>>> r.exit_code, "--quality" in r.output
(0, True)
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import click

from .convert import Outcome, compress_file, decompress_file, mirror_path

__all__ = ["dicom_group", "summarize"]


def _inputs(src: Path, dst: Path) -> list[tuple[Path, Path]]:
    """(input, output) pairs: one file, or every non-hidden file of a folder tree mirrored."""
    if src.is_file():
        if dst.is_dir():
            return [(src, dst / src.name)]
        return [(src, dst)]
    if dst.exists() and not dst.is_dir():
        raise click.BadParameter(f"{str(dst)!r} is a file but IN is a folder", param_hint="OUT")
    excl = dst.resolve()
    pairs: list[tuple[Path, Path]] = []
    for dirpath, dirnames, filenames in os.walk(src):
        dp = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and (dp / d).resolve() != excl)
        for f in sorted(filenames):
            if not f.startswith("."):
                pairs.append((dp / f, mirror_path(dp / f, src, dst)))
    return pairs


def summarize(outcomes: list[Outcome]) -> str:
    """The summary printed after a run: counts, bytes before/after, ratio, kept/failed files.

    >>> o = [Outcome("a.dcm", "b.dcm", "converted", "", 1000, 400, "CT"),
    ...      Outcome("sr.dcm", "sr2.dcm", "kept", "no Pixel Data (non-image object)", 50, 50)]
    >>> print(summarize(o))
    files: 2 (converted 1, kept 1, skipped 0, failed 0)
    bytes: 1,050 -> 450 (ratio 2.33); converted files only: 1,000 -> 400 (ratio 2.50)
    kept unchanged:
      sr.dcm: no Pixel Data (non-image object)
    """
    c = Counter(o.status for o in outcomes)
    written = [o for o in outcomes if o.status in ("converted", "kept")]
    conv = [o for o in outcomes if o.status == "converted"]
    bi, bo = sum(o.bytes_in for o in written), sum(o.bytes_out for o in written)
    ci, co = sum(o.bytes_in for o in conv), sum(o.bytes_out for o in conv)
    lines = [
        (f"files: {len(outcomes)} (converted {c['converted']}, kept {c['kept']}, "
         f"skipped {c['skipped']}, failed {c['failed']})"),
        (f"bytes: {bi:,} -> {bo:,} (ratio {bi / max(bo, 1):.2f}); converted files only: "
         f"{ci:,} -> {co:,} (ratio {ci / max(co, 1):.2f})"),
    ]
    for status, title in (("kept", "kept unchanged"), ("skipped", "skipped"),
                          ("failed", "FAILED")):
        sel = [o for o in outcomes if o.status == status]
        if sel:
            lines.append(f"{title}:")
            lines.extend(f"  {o.src}: {o.reason}" for o in sel)
    return "\n".join(lines)


def _run(src: str, dst: str, quiet: bool, desc: str,
         action: Callable[[Path, Path], Outcome]) -> None:
    from tqdm import tqdm

    pairs = _inputs(Path(src), Path(dst))
    outcomes: list[Outcome] = []
    with tqdm(total=len(pairs), desc=desc, unit="file", file=sys.stderr, leave=False,
              disable=quiet or not sys.stderr.isatty(), dynamic_ncols=True) as bar:
        for s, d in pairs:
            o = action(s, d)
            outcomes.append(o)
            if o.status == "failed" and not quiet:
                tqdm.write(f"error: {s}: {o.reason}", file=sys.stderr)
            bar.update(1)
    click.echo(summarize(outcomes), err=quiet)
    if any(o.status == "failed" for o in outcomes):
        sys.exit(1)


def _check_lossy(quality: int) -> None:
    """Fail early (exit 1) when this build cannot code lossily at all."""
    import numpy as np

    import mic

    probe = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 37) % 4096
    try:
        mic.encode(probe, quality=quality)
    except mic.MicUnsupportedError as exc:
        raise click.ClickException(f"lossy coding is unavailable: {exc}") from None
    except mic.MicInputError as exc:
        raise click.BadParameter(str(exc), param_hint="--quality") from None


@click.group("dicom", context_settings={"help_option_names": ["-h", "--help"]})
def dicom_group() -> None:
    """Convert DICOM files to and from the mic transfer syntax.

    \b
    After `import mic.dicom`, pydicom reads the results like any other DICOM:
      mic dicom compress study/ study_mic/            # lossless, folder mirrored
      mic dicom compress ct.dcm ct_mic.dcm -q 4       # lossy (DICOM lossy rules)
      mic dicom decompress study_mic/ study_raw/      # back to Explicit VR LE
    """


@dicom_group.command("compress")
@click.argument("src", metavar="IN", type=click.Path(exists=True))
@click.argument("dst", metavar="OUT", type=click.Path())
@click.option("-q", "--quality", type=int, default=None,
              help="Lossy quality index (mic's learned mode); omit for lossless.")
@click.option("--keep-compressed", is_flag=True,
              help="Copy inputs already in another compressed syntax (JPEG, ...) unchanged "
                   "instead of decoding and recoding them.")
@click.option("-f", "--force", is_flag=True, help="Overwrite existing outputs.")
@click.option("--quiet", is_flag=True, help="No progress bar; summary to stderr.")
def compress_cmd(src: str, dst: str, quality: int | None, keep_compressed: bool, force: bool,
                 quiet: bool) -> None:
    """Compress the pixel data of DICOM file(s) IN to the mic transfer syntax in OUT.

    \b
    Lossless (default): every data element except Pixel Data is kept, including
    the SOP Instance UID and Lossy Image Compression.  Lossy (--quality): Lossy
    Image Compression becomes "01", its Ratio and Method ("MIC_LEARNED") are
    appended, Image Type value 1 becomes DERIVED and a new SOP Instance UID is made.
    Already-compressed inputs (JPEG, JPEG 2000, RLE, ...) are decoded first when an
    installed pydicom plugin can; otherwise, like objects without Pixel Data (SR,
    SEG, RT, presentation states) and pixel data mic cannot code (1/32 bits,
    YBR_FULL_422), they are copied unchanged and listed.

    Exit codes: 0 no failure; 1 some file failed; 2 usage error.
    """
    from . import register

    register()
    if quality is not None:
        _check_lossy(quality)
    _run(src, dst, quiet, "compress",
         lambda s, d: compress_file(s, d, quality=quality, overwrite=force,
                                    keep_compressed=keep_compressed))


@dicom_group.command("decompress")
@click.argument("src", metavar="IN", type=click.Path(exists=True))
@click.argument("dst", metavar="OUT", type=click.Path())
@click.option("-f", "--force", is_flag=True, help="Overwrite existing outputs.")
@click.option("--quiet", is_flag=True, help="No progress bar; summary to stderr.")
def decompress_cmd(src: str, dst: str, force: bool, quiet: bool) -> None:
    """Decode DICOM file(s) IN to Explicit VR Little Endian in OUT.

    \b
    mic files keep their SOP Instance UID and Planar Configuration; other
    compressed syntaxes are decoded when a pydicom plugin can; uncompressed and
    non-image files are copied unchanged.

    Exit codes: 0 no failure; 1 some file failed; 2 usage error.
    """
    from . import register

    register()
    _run(src, dst, quiet, "decompress",
         lambda s, d: decompress_file(s, d, overwrite=force))
