"""The ``mic`` command line.

Sub-commands live beside the code they drive and are imported only when used,
so ``mic --help`` stays fast and never imports torch:

* ``encode``, ``decode``, ``info``, ``verify`` — :mod:`mic.cli_codec`
* ``bench`` — :mod:`mic.eval.cli`
* ``dicom`` — :mod:`mic.dicom.cli`
* ``train``, ``export``, ``retarget`` — :mod:`mic.train.cli`
"""

from __future__ import annotations

import importlib

import click

from . import __version__

#: command name -> "module:attribute" (imported on first use)
LAZY_COMMANDS: dict[str, str] = {
    "encode": "mic.cli_codec:encode_cmd",
    "decode": "mic.cli_decode:decode_cmd",
    "info": "mic.cli_inspect:info_cmd",
    "verify": "mic.cli_inspect:verify_cmd",
    "bench": "mic.eval.cli:bench_cmd",
    "dicom": "mic.dicom.cli:dicom_group",
    "train": "mic.train.cli:train_cmd",
    "export": "mic.train.cli:export_cmd",
    "retarget": "mic.train.cli:retarget_cmd",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(LAZY_COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in LAZY_COMMANDS:
            mod, attr = LAZY_COMMANDS[name].split(":")
            try:
                return getattr(importlib.import_module(mod), attr)
            except (ImportError, AttributeError) as exc:
                # A part not installed in this build: say so instead of a traceback.
                @click.command(name=name, help=f"(unavailable: {exc})")
                def _missing() -> None:
                    raise click.ClickException(f"'mic {name}' is unavailable: {exc}")

                return _missing
        return super().get_command(ctx, name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mic")
def main() -> None:
    """mic — medical image codec: lossless and learned lossy compression to .mic.

    \b
    Examples:
      mic encode ct.png ct.mic            # lossless
      mic decode ct.mic ct_back.png
      mic info ct.mic
      mic verify studies/                 # every .mic under a folder
      mic encode scans/ out/ --force      # a folder tree, mirrored

    Exit codes: 0 success, 1 some inputs failed, 2 usage error.
    """


if __name__ == "__main__":  # pragma: no cover
    main()
