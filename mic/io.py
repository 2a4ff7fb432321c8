"""Reading and writing image files: PNG, TIFF, ``.npy``, DICOM (read only) and ``.mic``.

This module is what the ``mic`` command line and the benchmark helpers use to get
pixels in and out of files.  It is a small library in its own right:

* :func:`read_image` returns the **stored sample values** of a file exactly (no
  rescale, windowing, palette lookup or inversion) and an :class:`ImageMeta`;
* :func:`write_image` writes an array to a file atomically;
* :func:`image_to_bytes` serialises an array in a given format;
* :func:`atomic_write_bytes` / :func:`atomic_output` write a file so that it either
  appears complete or not at all (a temporary file in the same folder, then
  ``os.replace``), even on Ctrl-C; :func:`discard_partial` removes what a killed writer
  left;
* :func:`sniff_format` / :func:`format_from_path` tell formats apart.

Heavy or optional libraries (Pillow, tifffile, pydicom, imagecodecs) are imported
only when a file of that kind is read or written, so ``import mic`` stays fast.

>>> import numpy as np
>>> from mic.io import image_to_bytes, read_image
>>> ct = np.array([[0, 4095], [1024, 7]], dtype=np.uint16)
>>> arr, meta = read_image(image_to_bytes(ct, "png"))
>>> arr.dtype, meta.format, bool((arr == ct).all())
(dtype('uint16'), 'png', True)
"""

from __future__ import annotations

import io
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Union

import numpy as np

from .atomic import atomic_output, atomic_write_bytes, discard_partial  # noqa: F401 (re-exported)
from .errors import MicError, MicInputError, MicUnsupportedError

__all__ = [
    "EXTENSIONS",
    "FORMATS",
    "IMAGE_FORMATS",
    "WRITABLE_FORMATS",
    "ImageMeta",
    "NoPixelDataError",
    "Source",
    "atomic_output",
    "atomic_write_bytes",
    "demo_image_path",
    "discard_partial",
    "format_from_path",
    "image_to_bytes",
    "read_image",
    "sniff_format",
    "write_image",
]

#: Every format :func:`read_image` understands.
FORMATS = ("png", "tiff", "npy", "dicom", "mic")
#: Formats that hold pixels directly (inputs of ``mic encode``).
IMAGE_FORMATS = ("png", "tiff", "npy", "dicom")
#: Formats :func:`write_image` can produce (DICOM output is the ``mic dicom`` plugin's job).
WRITABLE_FORMATS = ("png", "tiff", "npy", "mic")
#: File-name suffix (lower case) -> format.
EXTENSIONS: dict[str, str] = {
    ".png": "png", ".tif": "tiff", ".tiff": "tiff", ".npy": "npy",
    ".dcm": "dicom", ".dicom": "dicom", ".mic": "mic",
}
#: Preferred suffix for each writable format.
SUFFIX: dict[str, str] = {"png": ".png", "tiff": ".tif", "npy": ".npy", "mic": ".mic"}

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_NPY_MAGIC = b"\x93NUMPY"
_TIFF_MAGICS = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_MIC_MAGIC = b"\x8bMIC\r\n\x1a\n"

Source = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes]]


class NoPixelDataError(MicInputError):
    """A valid file that holds no image (e.g. a DICOMDIR or a structured report).

    Folder runs of ``mic encode`` skip such files instead of counting them as failures.
    """


@dataclass
class ImageMeta:
    """What :func:`read_image` learnt about a file besides its samples.

    Attributes
    ----------
    format:
        One of :data:`FORMATS`.
    photometric:
        ``"MONOCHROME1"``, ``"MONOCHROME2"`` or ``"RGB"`` when the file says so
        (DICOM, TIFF, PNG colour type), else ``None`` (``.npy``).
    bits_stored:
        The significant bits the file declares (DICOM *Bits Stored*, a ``.mic``
        header), else ``None``.
    notes:
        Human-readable remarks on anything done to reach the stored values
        (e.g. an opaque alpha channel dropped).
    extra:
        Format-specific details (DICOM transfer syntax, modality, ...; for a
        ``.mic`` input the :class:`mic.MicInfo` under ``"mic_info"``).
    """

    format: str
    photometric: str | None = None
    bits_stored: int | None = None
    notes: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    def encode_options(self, array: np.ndarray) -> dict[str, Any]:
        """Keyword arguments for :func:`mic.encode` that carry this metadata over.

        ``bits_stored`` is passed only when every sample fits in it (some files
        declare fewer bits than their values use); ``photometric`` only when known.

        >>> import numpy as np
        >>> ImageMeta("dicom", "MONOCHROME1", 12).encode_options(np.zeros((2, 2), np.uint16))
        {'photometric': 'MONOCHROME1', 'bits_stored': 12}
        >>> ImageMeta("dicom", None, 8).encode_options(np.full((2, 2), 300, np.uint16))
        {}
        """
        opts: dict[str, Any] = {}
        if self.photometric is not None:
            opts["photometric"] = self.photometric
        bs = self.bits_stored
        if bs is not None and array.size and array.dtype.kind in "ui":
            bs = int(bs)
            if 1 <= bs <= 8 * array.dtype.itemsize:
                from .codec import bits_used

                signed = array.dtype.kind == "i"
                if (not signed or bs >= 2) and bits_used(
                    int(array.min()), int(array.max()), signed
                ) <= bs:
                    opts["bits_stored"] = bs
        return opts


# ----------------------------------------------------------------------------- formats
def sniff_format(head: bytes | bytearray | memoryview) -> str | None:
    """Recognise a format from a file's first bytes (132 are enough); ``None`` if unknown.

    DICOM is recognised by the ``DICM`` marker after the 128-byte preamble.

    >>> sniff_format(b"\\x89PNG\\r\\n\\x1a\\n"), sniff_format(b"\\x93NUMPY"), sniff_format(b"hello")
    ('png', 'npy', None)
    """
    h = bytes(memoryview(head)[:132])
    if h.startswith(_PNG_MAGIC):
        return "png"
    if h.startswith(_MIC_MAGIC):
        return "mic"
    if h.startswith(_NPY_MAGIC):
        return "npy"
    if len(h) >= 132 and h[128:132] == b"DICM":
        return "dicom"  # before TIFF: a DICOM preamble may hold a TIFF header (dual-format files)
    if h[:4] in _TIFF_MAGICS:
        return "tiff"
    return None


def format_from_path(path: str | os.PathLike[str]) -> str | None:
    """The format a file name's suffix implies (case-insensitive); ``None`` if unknown.

    >>> format_from_path("scan.TIFF"), format_from_path("a/b.mic"), format_from_path("IM_0001")
    ('tiff', 'mic', None)
    """
    return EXTENSIONS.get(Path(path).suffix.lower())


def _normalise_format(fmt: str) -> str:
    f = str(fmt).lower().lstrip(".")
    f = {"tif": "tiff", "dcm": "dicom"}.get(f, f)
    if f not in FORMATS:
        raise MicInputError(f"unknown image format {fmt!r}; known: {', '.join(FORMATS)}")
    return f


def _read_source(src: Source) -> tuple[bytes, str | None]:
    """Return (bytes, path-or-None) of ``src``."""
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src), None
    if hasattr(src, "read"):
        data = src.read()  # type: ignore[union-attr]
        if not isinstance(data, (bytes, bytearray)):
            raise MicInputError("read_image needs a binary file object (opened with 'rb')")
        return bytes(data), getattr(src, "name", None) if isinstance(
            getattr(src, "name", None), str) else None
    try:
        p = os.fspath(src)  # type: ignore[arg-type]
    except TypeError:
        raise MicInputError(
            f"read_image takes a path, bytes or a binary file, not {type(src).__name__}"
        ) from None
    try:
        with open(p, "rb") as f:
            return f.read(), str(p)
    except IsADirectoryError:
        raise MicInputError(f"{p} is a folder, not an image file") from None


# ----------------------------------------------------------------------------- readers
def read_image(src: Source, *, format: str | None = None) -> tuple[np.ndarray, ImageMeta]:
    """Read an image file and return its stored sample values and metadata.

    Parameters
    ----------
    src:
        A path, the file's bytes, or a binary file object.
    format:
        Force a format (``"png"``, ``"tiff"``, ``"npy"``, ``"dicom"``, ``"mic"``).
        By default the content's magic bytes decide, then the file name's suffix
        (a DICOM file without the 128-byte preamble needs ``.dcm`` or ``format``).

    Returns
    -------
    (array, meta)
        ``array`` holds the values exactly as stored: an 8-bit PNG gives uint8, a
        16-bit PNG uint16, an RGB PNG ``(rows, cols, 3)`` uint8, a DICOM file all its
        frames (``(frames, rows, cols[, 3])`` when there are several) with signed
        data kept signed and no rescale applied, a ``.mic`` stream its decoded array.

    Raises
    ------
    MicInputError
        The file cannot be read or is not a supported image.
    MicUnsupportedError
        A valid file this build cannot decode exactly (e.g. a compressed DICOM
        transfer syntax without its decoder, or 16-bit RGB PNG without imagecodecs).
    NoPixelDataError
        (a :class:`MicInputError`) a valid file without an image, e.g. a DICOMDIR.
    OSError
        The path cannot be opened (``FileNotFoundError``, ``PermissionError``).

    Example
    -------
    >>> import numpy as np
    >>> from mic.io import image_to_bytes, read_image
    >>> rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    >>> arr, meta = read_image(image_to_bytes(rgb, "png"))
    >>> arr.shape, meta.photometric
    ((2, 3, 3), 'RGB')
    """
    data, path = _read_source(src)
    where = path or "input"
    if format is not None:
        fmt = _normalise_format(format)
    else:
        fmt = sniff_format(data) or (format_from_path(path) if path else None)
        if fmt is None:
            raise MicInputError(
                f"{where}: not a recognised image (PNG, TIFF, NPY, DICOM or .mic); "
                "pass format= for a DICOM file without preamble"
            )
    if not data:
        raise MicInputError(f"{where}: file is empty")
    try:
        reader = {"png": _read_png, "tiff": _read_tiff, "npy": _read_npy,
                  "dicom": _read_dicom, "mic": _read_mic}[fmt]
        arr, meta = reader(data)
    except MicError as exc:
        if path and not str(exc).startswith(path):
            raise type(exc)(f"{path}: {exc}") from None
        raise
    except (ImportError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - third-party readers raise anything
        raise MicInputError(f"{where}: cannot read as {fmt.upper()}: {exc}") from None
    return arr, meta


def _png_ihdr(data: bytes) -> tuple[int, int, int, int]:
    """(width, height, bit depth, colour type) from a PNG's IHDR chunk."""
    if len(data) < 33 or data[12:16] != b"IHDR":
        raise MicInputError("PNG without a valid IHDR chunk")
    w, h, depth, ctype = struct.unpack(">IIBB", data[16:26])
    return w, h, depth, ctype


def _read_png(data: bytes) -> tuple[np.ndarray, ImageMeta]:
    _, _, depth, ctype = _png_ihdr(data)
    meta = ImageMeta("png")
    if depth == 16 and ctype in (2, 6):  # 16-bit RGB(A): Pillow would silently drop to 8 bits
        try:
            import imagecodecs
        except ImportError:
            raise MicUnsupportedError(
                "16-bit RGB PNG needs imagecodecs to read exactly (pip install imagecodecs); "
                "or convert the file to TIFF"
            ) from None
        arr = np.asarray(imagecodecs.png_decode(data))
        return _drop_opaque_alpha(arr, meta, np.iinfo(arr.dtype).max)
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        im.load()
        mode = im.mode
        if mode == "P":
            pal = im.convert("RGB")
            arr = np.asarray(pal)
            if (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all():
                arr = np.ascontiguousarray(arr[..., 0])
                meta.photometric = "MONOCHROME2"
            else:
                meta.photometric = "RGB"
            meta.notes.append("palette PNG expanded through its palette")
            return arr, meta
        if mode == "PA":
            im2 = im.convert("RGBA")
            return _drop_opaque_alpha(np.asarray(im2), meta, 255)
        arr = np.asarray(im)
    if mode == "1":
        arr = arr.astype(np.uint8)
        meta.bits_stored = 1
    elif mode == "L" and depth in (2, 4):
        # Pillow scales 2/4-bit gray to 0..255; undo it to get the stored values.
        scale = 255 // ((1 << depth) - 1)
        if (arr % scale).any():  # pragma: no cover - Pillow always scales exactly
            raise MicUnsupportedError(f"cannot recover {depth}-bit PNG samples exactly")
        arr = (arr // scale).astype(np.uint8)
        meta.bits_stored = depth
    elif mode in ("I;16", "I;16B", "I;16L", "I"):
        if arr.dtype != np.uint16:
            if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 65535):
                raise MicInputError(f"PNG mode {mode} values do not fit 16 bits")
            arr = arr.astype(np.uint16)
    elif mode in ("LA", "RGBA"):
        return _drop_opaque_alpha(arr, meta, 255)
    elif mode not in ("L", "RGB"):
        raise MicUnsupportedError(f"PNG mode {mode!r} is not supported")
    arr = np.ascontiguousarray(arr)
    meta.photometric = "RGB" if arr.ndim == 3 else "MONOCHROME2"
    return arr, meta


def _drop_opaque_alpha(arr: np.ndarray, meta: ImageMeta, opaque: int) -> tuple[np.ndarray, ImageMeta]:
    """Drop an alpha channel that is fully opaque; refuse a real one (mic has no alpha)."""
    if arr.ndim == 3 and arr.shape[-1] in (2, 4):
        if not (arr[..., -1] == opaque).all():
            raise MicUnsupportedError(
                "image has a transparent alpha channel; mic stores gray or RGB samples only"
            )
        arr = arr[..., :-1]
        meta.notes.append("fully opaque alpha channel dropped")
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    arr = np.ascontiguousarray(arr)
    if arr.dtype.byteorder not in ("=", "|"):
        arr = arr.astype(arr.dtype.newbyteorder("="))
    meta.photometric = "RGB" if arr.ndim == 3 else "MONOCHROME2"
    return arr, meta


def _read_tiff(data: bytes) -> tuple[np.ndarray, ImageMeta]:
    import logging

    import tifffile

    meta = ImageMeta("tiff")
    # tifffile logs each damaged tag it skips; a damaged file becomes one MicInputError instead.
    log = logging.getLogger("tifffile")
    level = log.level
    log.setLevel(logging.CRITICAL)
    try:
        return _read_tiff_quiet(tifffile, data, meta)
    finally:
        log.setLevel(level)


def _read_tiff_quiet(tifffile: Any, data: bytes, meta: ImageMeta) -> tuple[np.ndarray, ImageMeta]:
    with tifffile.TiffFile(io.BytesIO(data)) as tif:
        if not tif.series:
            raise NoPixelDataError("TIFF file holds no image")
        series = tif.series[0]
        arr = series.asarray()
        page = tif.pages[0]
        pm = int(page.photometric)
        extrasamples = tuple(getattr(page, "extrasamples", ()) or ())
    meta.photometric = {0: "MONOCHROME1", 1: "MONOCHROME2", 2: "RGB"}.get(pm)
    if meta.photometric is None:
        meta.notes.append(f"TIFF photometric {pm} not mapped; samples kept as stored")
    if extrasamples and arr.ndim >= 3:
        kept = arr.shape[-1] - len(extrasamples)
        alpha = arr[..., kept:]
        opaque = np.iinfo(arr.dtype).max if arr.dtype.kind in "ui" else 1
        if not (alpha == opaque).all():
            raise MicUnsupportedError("TIFF has extra (alpha) samples that are not opaque")
        arr = arr[..., :kept]
        if kept == 1:
            arr = arr[..., 0]
        meta.notes.append("fully opaque extra samples dropped")
    arr = np.ascontiguousarray(arr)
    if arr.dtype.byteorder not in ("=", "|"):
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr, meta


def _read_npy(data: bytes) -> tuple[np.ndarray, ImageMeta]:
    arr = np.load(io.BytesIO(data), allow_pickle=False)
    if not isinstance(arr, np.ndarray):  # pragma: no cover - np.load of .npy is an array
        raise MicInputError("not a single .npy array")
    arr = np.ascontiguousarray(arr)
    if arr.dtype.byteorder not in ("=", "|"):
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr, ImageMeta("npy")


def _read_dicom(data: bytes) -> tuple[np.ndarray, ImageMeta]:
    from .dicom.read import read_dicom  # DICOM is read only through mic.dicom

    return read_dicom(data)


def _read_mic(data: bytes) -> tuple[np.ndarray, ImageMeta]:
    from .codec import decode, info

    mi = info(data)
    arr = decode(data)
    meta = ImageMeta("mic", photometric=mi.photometric, bits_stored=mi.bits_stored,
                     extra={"mic_info": mi})
    return arr, meta


# ----------------------------------------------------------------------------- writers
def image_to_bytes(array: np.ndarray, format: str, *, photometric: str | None = None,
                   **encode_options: Any) -> bytes:
    """Serialise ``array`` as a PNG, TIFF, ``.npy`` or ``.mic`` file's bytes.

    * PNG holds 2-D uint8/uint16 and ``(rows, cols, 3)`` uint8 (16-bit RGB needs
      imagecodecs); signed or multi-frame data are refused (use TIFF or npy).
    * TIFF holds any integer array; frames become pages; ``photometric``
      ``"MONOCHROME1"`` is written as *min-is-white*.
    * npy holds anything numeric.
    * mic codes with :func:`mic.encode` (``encode_options`` are passed on).

    >>> import numpy as np
    >>> image_to_bytes(np.zeros((2, 2), np.uint8), "png")[:4]
    b'\\x89PNG'
    >>> image_to_bytes(np.zeros((2, 2), np.int16), "png")
    Traceback (most recent call last):
      ...
    mic.errors.MicInputError: PNG cannot hold signed (int16) samples; write .tif or .npy instead
    """
    fmt = _normalise_format(format)
    if not isinstance(array, np.ndarray):
        raise MicInputError(f"expected a numpy array, got {type(array).__name__}")
    if fmt == "dicom":
        raise MicUnsupportedError("writing DICOM is the job of 'mic dicom' (mic.dicom)")
    if fmt == "npy":
        if array.dtype.hasobject:
            raise MicInputError("cannot write an object array to .npy")
        buf = io.BytesIO()
        np.save(buf, array, allow_pickle=False)
        return buf.getvalue()
    if fmt == "mic":
        from .encoder import encode

        return encode(array, photometric=photometric, **encode_options)
    if array.dtype.kind not in "uib" or array.size == 0:
        raise MicInputError(f"cannot write {array.dtype} array of shape {array.shape} as {fmt}")
    if array.dtype == np.bool_:
        array = array.astype(np.uint8)
    if fmt == "png":
        return _png_bytes(array, photometric)
    return _tiff_bytes(array, photometric)


def _is_rgb(array: np.ndarray, photometric: str | None, frames_axis: bool) -> bool:
    if photometric is not None:
        return str(photometric).upper() == "RGB"
    return array.shape[-1] == 3 and array.ndim == (4 if frames_axis else 3)


def _png_bytes(array: np.ndarray, photometric: str | None) -> bytes:
    if array.dtype.kind == "i":
        raise MicInputError(
            f"PNG cannot hold signed ({array.dtype}) samples; write .tif or .npy instead"
        )
    if array.dtype.itemsize > 2:
        raise MicInputError(f"PNG holds 8 or 16-bit samples, not {array.dtype}")
    rgb = array.ndim == 3 and _is_rgb(array, photometric, frames_axis=False)
    if not (array.ndim == 2 or rgb):
        raise MicInputError(
            f"PNG holds one gray or RGB image; shape {array.shape} has several frames "
            "(write .tif or .npy instead)"
        )
    arr = np.ascontiguousarray(array)
    if arr.dtype.byteorder not in ("=", "|"):
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if rgb and arr.dtype == np.uint16:
        try:
            import imagecodecs
        except ImportError:
            raise MicUnsupportedError(
                "writing 16-bit RGB PNG needs imagecodecs; write .tif or .npy instead"
            ) from None
        return bytes(imagecodecs.png_encode(arr))
    from PIL import Image

    if arr.dtype == np.uint16:
        im = Image.frombytes("I;16", (arr.shape[1], arr.shape[0]),
                             arr.astype("<u2", copy=False).tobytes())
    else:
        im = Image.fromarray(arr, mode="RGB" if rgb else "L")
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _tiff_bytes(array: np.ndarray, photometric: str | None) -> bytes:
    import tifffile

    pm = (photometric or "").upper()
    if array.ndim == 2:
        rgb = False
    elif array.ndim == 3:
        rgb = _is_rgb(array, photometric, frames_axis=False)
    elif array.ndim == 4 and array.shape[-1] == 3:
        rgb = True
    else:
        raise MicInputError(f"cannot write shape {array.shape} as TIFF")
    tphoto = "rgb" if rgb else ("miniswhite" if pm == "MONOCHROME1" else "minisblack")
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.ascontiguousarray(array), photometric=tphoto,
                     planarconfig="contig" if rgb else None, metadata=None)
    return buf.getvalue()


def write_image(path: str | os.PathLike[str], array: np.ndarray, *, format: str | None = None,
                photometric: str | None = None, overwrite: bool = True,
                **encode_options: Any) -> int:
    """Write ``array`` to ``path`` atomically in the format its suffix names; return bytes written.

    ``format`` overrides the suffix.  With ``overwrite=False`` an existing file is
    left alone and :class:`FileExistsError` is raised.  See :func:`image_to_bytes`
    for what each format holds.

    >>> import numpy as np, tempfile, os
    >>> from mic.io import read_image, write_image
    >>> d = tempfile.mkdtemp()
    >>> n = write_image(os.path.join(d, "x.tif"), np.array([[-5, 7]], np.int16))
    >>> read_image(os.path.join(d, "x.tif"))[0].tolist()
    [[-5, 7]]
    """
    fmt = _normalise_format(format) if format is not None else format_from_path(path)
    if fmt is None:
        raise MicInputError(
            f"cannot tell the output format from {os.fspath(path)!r}: use a .png, .tif, .npy "
            "or .mic name (or pass format=)"
        )
    data = image_to_bytes(array, fmt, photometric=photometric, **encode_options)
    atomic_write_bytes(path, data, overwrite=overwrite)
    return len(data)


# ----------------------------------------------------------------------------- demo data
def demo_image_path() -> Path:
    """Path of the bundled real CT slice (512x512, uint16, 12 bits stored; see mic/data).

    >>> from mic.io import demo_image_path, read_image
    >>> arr, meta = read_image(demo_image_path())
    >>> arr.shape, arr.dtype.name, meta.format
    ((512, 512), 'uint16', 'png')
    """
    from importlib.resources import files

    return Path(str(files("mic") / "data" / "ct_abdomen.png"))
