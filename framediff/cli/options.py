"""The options several commands share, one decorator each: the flag, its value's form and its parameter
are defined once; each command says in its own words what the value means for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

__all__ = [
    "analysis_size_option",
    "cluster_option",
    "ignore_options",
    "max_pixels_option",
    "min_area_option",
    "quiet_option",
    "threshold_option",
]

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _set_max_pixels(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    from ..media.images import max_pixels, parse_pixels, set_max_pixels

    set_max_pixels(None if value is None else parse_pixels(value, "--max-pixels"))
    max_pixels()  # a bad FRAMEDIFF_MAX_PIXELS is an error now, not at every picture


# Shared by every command that reads pictures.
max_pixels_option = click.option(
    "--max-pixels",
    metavar="N",
    expose_value=False,
    callback=_set_max_pixels,
    help="Refuse pictures over N pixels, from their header (default 200M, or $FRAMEDIFF_MAX_PIXELS).",
)


# Shared by the commands that can hand their files to a Dask cluster (framediff[cluster]).
cluster_option = click.option(
    "--cluster",
    metavar="ADDRESS",
    help="Run the work on a Dask cluster: tcp://SCHEDULER:8786, or local:N for N local worker processes "
    "(needs framediff[cluster]; the files must be on storage every worker sees).",
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
