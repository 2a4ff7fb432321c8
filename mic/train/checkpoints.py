"""What both training loops share about their files: atomic checkpoints and resumable CSV logs.

A chunk killed after its last checkpoint has logged steps that the next chunk will train again
(the resume is exact: the same data, the same random numbers). :func:`open_log` drops those rows
before appending, so a curve has each step once, as the checkpoint's own history.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Any


def atomic_save(obj: Any, path: Path) -> None:
    """``torch.save`` to ``path`` through a synced temporary file, so a kill leaves the old one."""
    import torch

    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def open_log(path: str | Path, header: str, step: int) -> IO[str]:
    """Open a CSV training log for appending at checkpoint ``step``.

    Writes ``header`` to a new file; in an existing one, drops the rows whose first field (the
    step) is above ``step``: they were logged after the checkpoint the run resumes from.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and path.stat().st_size:
        lines = path.read_text().splitlines(keepends=True)
        keep = [ln for ln in lines[1:] if not _after(ln, step)]
        if len(keep) != len(lines) - 1:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(lines[0] + "".join(keep))
            os.replace(tmp, path)
    fh = open(path, "a")
    if fh.tell() == 0:
        fh.write(header + "\n")
    return fh


def _after(line: str, step: int) -> bool:
    head = line.split(",", 1)[0].strip()
    return head.isdigit() and int(head) > step
