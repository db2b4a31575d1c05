"""The ``framediff`` click group and the error handling every command shares."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

import click

from .. import __version__
from ..errors import FramediffError, OptionError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
# Each command's module, imported when that command is used: ``framediff dedup`` need not load the live
# view's web server that ``watch`` brings in (start-up counts in every short run).
COMMANDS = {"compare": "compare_cmd", "dedup": "dedup_cmd", "watch": "watch_cmd"}


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


# -- the options several commands share, one decorator each: the flag, its value's form and its parameter
# are defined once; each command says in its own words what the value means for it. (Here, not in a module
# of their own: every command loads this one anyway, and start-up counts in every short run.)

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _set_max_pixels(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    from ..media.images import max_pixels, set_max_pixels

    set_max_pixels(value)
    max_pixels()  # a bad FRAMEDIFF_MAX_PIXELS is an error now, not at every picture


# Shared by every command that reads pictures.
max_pixels_option = click.option(
    "--max-pixels",
    metavar="N",
    expose_value=False,
    callback=_set_max_pixels,
    help="Refuse pictures over N pixels, from their header (default 200M, or $FRAMEDIFF_MAX_PIXELS).",
)


def quiet_option(help: str) -> Decorator:
    """``-q/--quiet``, a flag (parameter ``quiet``)."""
    return click.option("-q", "--quiet", is_flag=True, help=help)


def threshold_option(help: str, metavar: str = "LEVEL", default: str | None = None) -> Decorator:
    """``--threshold`` (parameter ``threshold``): a level, or the command's automatic one."""
    shown = {"default": default, "show_default": True} if default is not None else {}
    return click.option("--threshold", metavar=metavar, help=help, **shown)


def min_area_option(help: str, metavar: str = "PIXELS", default: str | None = None) -> Decorator:
    """``--min-area`` (parameter ``min_area``): the smallest region reported."""
    shown = {"default": default, "show_default": True} if default is not None else {}
    return click.option("--min-area", metavar=metavar, help=help, **shown)


def analysis_size_option(help: str, default: str) -> Decorator:
    """``--analysis-size`` (parameter ``analysis_size``): the longest side analysed."""
    return click.option("--analysis-size", default=default, show_default=True, metavar="PX", help=help)


def ignore_options(
    mask_help: str,
    box_help: str,
    *,
    mask_name: str = "ignore",
    mask_metavar: str | None = None,
    box_metavar: str,
) -> Decorator:
    """``--ignore MASK`` (a picture, white = ignore) and ``--ignore-box X,Y,W,H`` (repeatable).

    Args:
        mask_help: What the mask is for this command.
        box_help: What a box is for this command.
        mask_name: The mask's parameter name.
        mask_metavar: How the mask shows in the help (default: click's for a file).
        box_metavar: How a box shows in the help.

    Returns:
        A decorator adding both options (parameters ``mask_name`` and ``ignore_box``).
    """
    if mask_metavar is None:
        mask = click.option("--ignore", mask_name, type=click.Path(dir_okay=False), help=mask_help)
    else:
        mask = click.option("--ignore", mask_name, metavar=mask_metavar, help=mask_help)
    box = click.option("--ignore-box", multiple=True, metavar=box_metavar, help=box_help)

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        return mask(box(f))

    return decorate


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
    setting = getattr(e, "setting", None)
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
