"""The ``framediff`` click group and the error handling every command shares."""

from __future__ import annotations

import importlib
import re
import sys

import click

from .. import __version__
from ..errors import FramediffError, OptionError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
# Each command's module, imported when that command is used: ``framediff dedup`` need not load the live
# view's web server that ``watch`` brings in (start-up counts in every short run).
COMMANDS = {
    "compare": "compare_cmd", "dedup": "dedup_cmd", "dupes": "dupes_cmd", "index": "index_cmd", "search": "index_cmd",
    "watch": "watch_cmd",
}  # fmt: skip


class _LazyGroup(click.Group):
    """A group that imports a command's module (which registers the command) on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMANDS:
            importlib.import_module(f"{__package__}.{COMMANDS[name]}")
        return super().get_command(ctx, name)


@click.group(cls=_LazyGroup, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="framediff")
def cli() -> None:
    """Are these frames the same, and if not, where do they differ?

    \b
    framediff compare A.jpg B.jpg -o diff.png   spot the difference between two photos
    framediff dedup in.mp4 -o out.mp4           drop duplicate frames from a video
    framediff watch 0 --events -                watch a camera for changes

    Run 'framediff COMMAND -h' for a command's options.
    """


# Defined with the other shared options; named here too, where the commands found it.
from .options import max_pixels_option  # noqa: E402

__all__ = ["cli", "error", "in_flags", "max_pixels_option"]


def error(message: str) -> None:
    """Print ``Error: message`` on stderr as the single line a user sees."""
    click.echo(f"Error: {message}", err=True)


def _flags() -> set[str]:
    """Every long option of every command."""
    return {
        opt
        for command in cli.commands.values()
        for param in command.params
        for opt in getattr(param, "opts", [])
        if opt.startswith("--")
    }


def in_flags(e: FramediffError, args: list[str]) -> str:
    """The error's line with the library's setting name (``analysis_size``) as the CLI's flag.

    The library names its settings as Python does; a user of the command line typed ``--analysis-size``.
    Only a flag given on the command line is named so: a value from a settings file keeps the file's name.

    Args:
        e: The error.
        args: The command-line arguments.
    """
    setting = explicit = getattr(e, "setting", None)
    if setting is None and isinstance(e, OptionError) and "_" in e.message.split(" ", 1)[0]:
        # Option errors start with the setting's name ("analysis_size 5 is too small"); a plain word
        # ("zone name ...") may be the subject of the sentence, not a setting, and is left as it is.
        setting = e.message.split(" ", 1)[0]
    flag = "--" + setting.replace("_", "-") if setting else ""
    if not setting or flag not in _flags():
        return str(e)
    typed = any(a == flag or a.startswith(flag + "=") for a in args)
    message = e.message
    if typed and message.startswith(setting):
        message = flag + message[len(setting) :]
    # A hint that tells what to set is about the flag on the command line, typed or not.
    hint = e.hint.replace(f"set {setting} to ", f"{flag} ").replace(f"drop {setting}", f"drop {flag}") if e.hint else None
    if hint and explicit:
        # The error says which setting its hint names: the word, wherever it stands, is the flag.
        hint = re.sub(rf"(?<![\w-]){re.escape(setting)}(?![\w-])", flag, hint)
    return f"{message} ({hint})" if hint else message


def main(args: list[str] | None = None) -> None:
    """Entry point of the ``framediff`` command: run the group, turn every error into one line and exit 2.

    Args:
        args: Command-line arguments (default: ``sys.argv[1:]``).
    """
    try:
        rv = cli.main(args=args, prog_name="framediff", standalone_mode=False)
    except FramediffError as e:
        error(in_flags(e, sys.argv[1:] if args is None else list(args)))
        sys.exit(2)
    except click.exceptions.NoArgsIsHelpError as e:
        click.echo(e.ctx.get_help() if e.ctx else str(e))
        sys.exit(2)
    except click.UsageError as e:
        cmd = e.ctx.command_path if e.ctx else "framediff"
        error(f"{e.format_message()} (see '{cmd} --help')")
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as e:
        error(e.format_message())
        sys.exit(2)
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(rv if isinstance(rv, int) else 0)
