"""Optional dependencies, checked before a command starts.

``mic bench`` (imagecodecs, matplotlib, scipy), ``mic train`` / ``export`` / ``retarget``
(torch, scipy), the folder commands' ``--dask`` (dask, distributed) and Parquet
``--manifest`` (pyarrow), and the DICOM commands on inputs only imagecodecs decodes need modules that
``pip install mic`` does not bring.  Each such command calls :func:`require` first, so that
a missing one is a clear error naming the install command, not a ``ModuleNotFoundError``
ten minutes into a run.  Nothing is imported: :func:`importlib.util.find_spec` looks.

>>> missing_message("mic bench", "bench", ["numpy"]) is None
True
>>> print(missing_message("mic train", "train", ["nope"]))
'mic train' needs nope, which is not installed here; install it with: pip install 'mic[train]'
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

__all__ = ["EXTRAS", "install_command", "missing", "missing_message", "require"]

#: the extras of pyproject.toml, as the modules the commands import
EXTRAS: dict[str, tuple[str, ...]] = {
    "bench": ("imagecodecs", "matplotlib", "scipy"),
    "dask": ("dask", "distributed", "pyarrow", "fsspec"),
    "dicom": ("imagecodecs",),
    "train": ("scipy",),
}
#: modules installed apart from any extra, and how (a bare ``pip install torch`` pulls a
#: multi-GB CUDA build; see the README)
APART: dict[str, str] = {"torch": "pip install torch==2.13.0"}


def install_command(module: str, extra: str) -> str:
    """How to install ``module``, which ``extra`` needs.

    >>> install_command("torch", "train"), install_command("scipy", "train")
    ('pip install torch==2.13.0', "pip install 'mic[train]'")
    """
    return APART.get(module, f"pip install 'mic[{extra}]'")


def missing(modules: Sequence[str]) -> list[str]:
    """The top-level ``modules`` not installed (an entry ``None`` in sys.modules counts)."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def missing_message(command: str, extra: str, modules: Sequence[str] | None = None,
                    hint: str = "") -> str | None:
    """Why ``command`` cannot run (``modules``, default the extra's, missing), or None."""
    gone = missing(EXTRAS[extra] if modules is None else modules)
    if not gone:
        return None
    names = gone[0] if len(gone) == 1 else ", ".join(gone[:-1]) + " and " + gone[-1]
    which = "which is" if len(gone) == 1 else "which are"
    cmds = "; ".join(dict.fromkeys(install_command(m, extra) for m in gone))
    return (f"'{command}' needs {names}, {which} not installed here; install "
            f"{'it' if len(gone) == 1 else 'them'} with: {cmds}" + (f" ({hint})" if hint else ""))


def require(command: str, extra: str, modules: Sequence[str] | None = None,
            hint: str = "") -> None:
    """Raise a :class:`click.ClickException` (exit 1) if :func:`missing_message` says so."""
    msg = missing_message(command, extra, modules, hint)
    if msg is not None:
        import click

        raise click.ClickException(msg)
