"""What every conformance-vector generator under ``formats/`` shares: the hashes its
``vectors.json`` records and the write-or ``--check`` of its output folder.

>>> import numpy as np
>>> samples_sha256(np.array([1], "<u2")) == sha256(b"\\x01\\x00")
True
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np


def sha256(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def samples_sha256(arr: np.ndarray) -> str:
    """sha256 of the samples in C order as little-endian integers of the array's width."""
    return sha256(np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")).tobytes())


def refused_as(label: str, stream: bytes, error: str, exact: bool = False) -> None:
    """Exit (``SystemExit`` naming ``label``) unless ``mic.decode(stream)`` raises the
    ``mic`` exception class named ``error`` (a subclass too, unless ``exact``)."""
    import mic

    cls = getattr(mic, error)
    try:
        mic.decode(stream)
    except mic.MicError as exc:
        if not (type(exc) is cls if exact else isinstance(exc, cls)):
            raise SystemExit(f"{label}: expected {error}, got {type(exc).__name__}: {exc}")
    else:
        raise SystemExit(f"{label}: decoded without an error")


def run_generator(doc: str, out: Path,
                  build: Callable[[], tuple[dict[str, bytes], dict[str, Any], dict[str, Any]]]
                  ) -> int:
    """A generator's ``main``: ``build() -> (files, meta, expected)``, then ``vectors.json``
    and ``invalid/expected.json`` beside the files under ``out``; with ``--check``, write
    nothing and list what differs (exit 1 if anything does), else write the files and
    remove the stale ones."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="write nothing; list what differs")
    args = ap.parse_args()
    files, meta, expected = build()
    files["vectors.json"] = (json.dumps(meta, indent=1) + "\n").encode()
    files["invalid/expected.json"] = (json.dumps(expected, indent=1, sort_keys=True)
                                      + "\n").encode()
    changed = [n for n, b in files.items()
               if not (out / n).exists() or (out / n).read_bytes() != b]
    stale = [p.relative_to(out).as_posix() for p in out.rglob("*")
             if p.is_file() and p.relative_to(out).as_posix() not in files] \
        if out.exists() else []
    total = sum(len(b) for b in files.values())
    if args.check:
        for n in changed:
            print("differs:", n)
        for n in stale:
            print("stale:", n)
        print(f"{len(files)} files, {total / 1024:.0f} KiB" if changed or stale else "up to date")
        return 1 if changed or stale else 0
    for n, b in files.items():
        (out / n).parent.mkdir(parents=True, exist_ok=True)
        (out / n).write_bytes(b)
    for n in stale:
        (out / n).unlink()
    print(f"wrote {len(files)} files under {out} ({total / 1024:.0f} KiB), {len(changed)} "
          f"changed, {len(stale)} stale removed")
    return 0


class InvalidCases(list):
    """The invalid vectors a generator builds: :meth:`add` appends one.

    >>> cases = InvalidCases()
    >>> cases.add("cut", b"\\x8bMIC", "MicTruncatedError", "the stream ends in its header")
    >>> cases[0]["exact"], cases[0]["stream"]
    (True, b'\\x8bMIC')
    """

    def add(self, name: str, stream: bytes | bytearray, error: str, why: str,
            exact: bool = True) -> None:
        """Case ``name``: ``stream``, which a decoder must refuse with the ``mic`` exception
        class named ``error`` (exactly that class, or a subclass too unless ``exact``),
        because ``why``."""
        self.append({"name": name, "stream": bytes(stream), "error": error, "exact": exact,
                     "why": why})


def source_files(files: dict[str, bytes], name: str, stream: bytes, arr: np.ndarray) -> None:
    """A valid vector's ``NAME.mic`` and ``NAME.npy`` (the samples it decodes to) in
    ``files``."""
    import io

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    files[name + ".mic"] = stream
    files[name + ".npy"] = buf.getvalue()


def vector_entry(src: dict[str, Any], stream: bytes, model_id: int,
                 **fields: Any) -> dict[str, Any]:
    """The ``vectors.json`` entry of a valid vector made from source ``src`` (its ``name``,
    ``array``, ``options`` and ``origin``): where its files are, how it was coded, the model
    id, then ``fields`` (what the set records of its stream), then the sha256 of the stream
    and of the samples."""
    arr = src["array"]
    return {"name": src["name"], "stream": src["name"] + ".mic",
            "source": src["name"] + ".npy", "origin": src["origin"],
            "encode_options": src["options"], "dtype": str(arr.dtype),
            "shape": list(arr.shape), "model_id": model_id, **fields,
            "stream_sha256": sha256(stream), "samples_sha256": samples_sha256(arr)}


def invalid_files(folder: str, cases: list[dict], files: dict[str, bytes]) -> dict[str, Any]:
    """Each invalid case checked to be refused as it says (:func:`refused_as`) and put in
    ``files`` as ``invalid/NAME.mic``; returns the entries of ``invalid/expected.json``."""
    expected = {}
    for case in cases:
        refused_as(f"{folder}/invalid/{case['name']}", case["stream"], case["error"],
                   case["exact"])
        files["invalid/" + case["name"] + ".mic"] = case["stream"]
        expected[case["name"]] = {"error": case["error"], "exact": case["exact"],
                                  "why": case["why"], "stream_sha256": sha256(case["stream"])}
    return expected


__all__ = ["InvalidCases", "invalid_files", "refused_as", "run_generator", "samples_sha256",
           "sha256", "source_files", "vector_entry"]
