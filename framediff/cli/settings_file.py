"""Options of a command taken from its ``--config`` settings file, unless given on the command line.

A camera's whole setup (areas, detection settings, outputs) can live in one JSON file (see
:mod:`framediff.watch.settings`); each key is an option's long name with dashes as underscores. Which
options the command line gave is told by click's :class:`~click.core.ParameterSource`, so an option
given with its default value still overrides the file.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from ..errors import InputError
from ..watch.settings import AREA_KEYS, load_settings

__all__ = ["with_settings_file", "setting_key"]

_GIVEN = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT, ParameterSource.PROMPT)


def setting_key(param: click.Parameter) -> str:
    """The settings-file key of an option: its long name, dashes as underscores (``min_frames``)."""
    return max(param.opts, key=len).lstrip("-").replace("-", "_")


def with_settings_file(config: str, exclude: Iterable[str] = ()) -> Callable:
    """Decorate a click command so that options it was not given come from its settings file.

    Put it under the ``@click.option`` decorators (just above the function).

    Args:
        config: The name of the command's parameter holding the settings file's path.
        exclude: Parameter names a file cannot set (the file itself is always excluded; so are the
            options whose values the file keeps under its area keys).
    """
    excluded = {config, *exclude}

    def decorate(command: Callable) -> Callable:
        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            path = kwargs.get(config)
            # A file that does not exist yet is left to the command (with --serve it is where the page
            # will save, otherwise an error it reports).
            if path and Path(path).is_file():
                ctx = click.get_current_context()
                kwargs.update(_from_file(ctx, path, excluded))
            return command(**kwargs)

        return run

    return decorate


def _from_file(ctx: click.Context, path: str, excluded: set[str]) -> dict[str, Any]:
    """The values the settings file gives to options the command line did not give."""
    options = load_settings(path).options
    params = {
        setting_key(p): p
        for p in ctx.command.params
        if isinstance(p, click.Option) and p.name not in excluded and setting_key(p) not in AREA_KEYS
    }
    values: dict[str, Any] = {}
    for key, value in options.items():
        param = params.get(key.replace("-", "_"))  # "min-frames" as on the command line is fine too
        if param is None or param.name is None:
            raise InputError(
                f"config {path}: unknown setting {key!r}",
                f"use {ctx.command_path}'s long options with _ for - (min_frames), "
                "ignore_boxes and zones for the areas",
            )
        if value is None or ctx.get_parameter_source(param.name) in _GIVEN:
            continue  # null: the option's default; given on the command line: that wins
        if param.expose_value:
            values[param.name] = _value(param, key, value, path)
        else:  # an option that only acts through its callback (--max-pixels): act now, with the file's value
            param.process_value(ctx, _value(param, key, value, path))
    return values


def _value(param: click.Option, key: str, value: Any, path: str) -> Any:
    """A file's value in the form click would have given the command (options' values are text)."""
    if param.is_flag:
        if not isinstance(value, bool):
            raise InputError(f"config {path}: {key} is not true or false", f'e.g. "{key}": true')
        return value
    if isinstance(value, bool):
        raise InputError(f"config {path}: {key} takes a value, not true or false", f'e.g. "{key}": "..."')
    if param.multiple:
        return tuple(value) if isinstance(value, list) else (str(value),)
    if isinstance(value, list):
        raise InputError(f"config {path}: {key} takes one value, not a list", f'e.g. "{key}": "..."')
    return str(value)  # validated by the library as the command line's text is
