"""Named zones of a watch: the one rule for zone names (``--zone``, the live view, the settings file), the
``NAME=x,y,w,h`` form, and which zones a change touches."""

from __future__ import annotations

import re
from typing import Any

from ..analysis.regions import Region, check_box, parse_box
from ..errors import OptionError

__all__ = ["ZONE_NAME", "check_zone_name", "checked_zones", "parse_zone", "zones_hit"]

# Zone names are drawn on pictures (OpenCV's fonts are ASCII) and travel in JSON, events, file names of
# tools downstream and HTML: one rule wherever a name comes from (--zone, the live view, --config).
ZONE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.\-]{0,39}")


def check_zone_name(name: object) -> str:
    """Validate a zone name: the one rule for ``--zone``, the live view and the settings file.

    Args:
        name: The candidate name.

    Returns:
        The name, stripped of surrounding spaces.

    Raises:
        OptionError: when it is not 1-40 ASCII letters, digits, spaces, ``_``, ``.`` or ``-``, starting
            with a letter or digit.
    """
    text = name.strip() if isinstance(name, str) else ""
    if not ZONE_NAME.fullmatch(text):
        shown = repr(name[:60]) if isinstance(name, str) else f"of type {type(name).__name__}"
        raise OptionError(f"zone name {shown} is not allowed", "use 1-40 letters, digits, spaces, _ . or -")
    return text


def parse_zone(text: str) -> tuple[str, tuple[int, int, int, int]]:
    """Parse ``NAME=x,y,w,h`` into a named box.

    Args:
        text: The zone as given on the command line.

    Returns:
        ``(name, (x, y, w, h))``.

    Raises:
        OptionError: when there is no name, the name breaks :func:`check_zone_name`'s rule, or the box is
            malformed.
    """
    name, sep, box = str(text).partition("=")
    if not sep or not name.strip():
        raise OptionError(f"zone {text!r} is not NAME=x,y,w,h", "e.g. zone door=10,20,200,300", setting="zone")
    return check_zone_name(name), parse_box(box)


def checked_zones(zones: dict[str, Any]) -> dict[str, tuple[int, int, int, int]]:
    """Zones with their names and boxes checked (:func:`check_zone_name`, :func:`~framediff.analysis.regions.check_box`)."""
    return {check_zone_name(n): check_box(b, f"zone {n!r}") for n, b in zones.items()}


def zones_hit(zones: dict[str, tuple[int, int, int, int]], regions: list[Region]) -> list[str]:
    """The names of the zones that a region overlaps, in the zones' order.

    Args:
        zones: Named boxes, source pixels.
        regions: The frame's regions, source pixels.

    Returns:
        The names.
    """
    hit = []
    for name, (zx, zy, zw, zh) in zones.items():
        for r in regions:
            if r.x < zx + zw and zx < r.x + r.w and r.y < zy + zh and zy < r.y + r.h:
                hit.append(name)
                break
    return hit
