"""The watch settings file: ignore boxes and named zones drawn in the live view, read back by ``--config``.

The file is plain JSON so it can also be written by hand or by a script::

    {
      "ignore_boxes": [[600, 40, 200, 120]],
      "zones": {"door": [10, 20, 200, 300]},
      "only_zones": false,
      "size": [960, 540]
    }

Boxes are ``[x, y, w, h]`` in source pixels; ``size`` records the frame size the boxes were drawn on
(informational: a camera whose resolution changed needs its areas redrawn).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, OptionError, OutputError
from ..watch.detector import check_zone_name  # the one rule for zone names, re-exported here

__all__ = ["AreaSettings", "load_settings", "save_settings", "check_zone_name", "check_box"]

Box = tuple[int, int, int, int]


def check_box(value: Any, what: str = "box") -> Box:
    """Validate a box given as ``[x, y, w, h]`` (a JSON list of four non-negative integers).

    Args:
        value: The candidate box.
        what: What the box is, for the error message.

    Returns:
        ``(x, y, w, h)``.

    Raises:
        OptionError: when it is not four integers with x, y >= 0 and w, h > 0.
    """
    numbers = [_whole(v) for v in value] if isinstance(value, (list, tuple)) and len(value) == 4 else []
    if numbers and None not in numbers:
        x, y, w, h = numbers
        if x >= 0 and y >= 0 and w > 0 and h > 0 and max(x + w, y + h) <= 1_000_000:
            return x, y, w, h
    raise OptionError(
        f"{what} {_shown(value)} is not [x, y, w, h]",
        "give four integers, x,y >= 0 and w,h > 0, up to 1000000",
    )


def _whole(value: Any) -> int | None:
    """``value`` as an int when it is a whole number (``3`` or ``3.0``), else ``None``. Never calls
    ``float()`` on an int, which overflows for a few hundred digits."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():  # False for nan and inf
        return int(value)
    return None


def _shown(value: Any, limit: int = 60) -> str:
    """A short repr for an error message, safe for any value a request can hold (deep nesting, huge
    integers, long strings)."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an int past str()'s digit limit, nesting past the stack
        return f"(a {type(value).__name__})"
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass
class AreaSettings:
    """Areas of a watch: what to ignore and which named zones to report.

    Attributes:
        ignore_boxes: Boxes to ignore, in source pixels.
        zones: Named zones, in source pixels.
        only_zones: Watch only inside the zones (``None``: not said; the command line decides).
        size: ``(width, height)`` of the frames the areas were drawn on, when known.
    """

    ignore_boxes: list[Box] = field(default_factory=list)
    zones: dict[str, Box] = field(default_factory=dict)
    only_zones: bool | None = None
    size: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form written to the settings file."""
        d: dict[str, Any] = {
            "ignore_boxes": [list(b) for b in self.ignore_boxes],
            "zones": {name: list(b) for name, b in self.zones.items()},
        }
        if self.only_zones is not None:
            d["only_zones"] = self.only_zones
        if self.size is not None:
            d["size"] = list(self.size)
        return d

    @classmethod
    def from_dict(cls, data: Any) -> AreaSettings:
        """Build from the JSON form, validating every field.

        Args:
            data: The parsed JSON object.

        Returns:
            The settings.

        Raises:
            OptionError: when a field is malformed or unknown.
        """
        if not isinstance(data, dict):
            raise OptionError(
                "the settings are not a JSON object", 'e.g. {"zones": {"door": [0, 0, 100, 200]}}'
            )
        unknown = sorted(set(data) - {"ignore_boxes", "zones", "only_zones", "size"})
        if unknown:
            raise OptionError(
                f"unknown setting {unknown[0]!r}", "known: ignore_boxes, zones, only_zones, size"
            )
        boxes = data.get("ignore_boxes", [])
        if not isinstance(boxes, list):
            raise OptionError("ignore_boxes is not a list", "give a list of [x, y, w, h]")
        zones = data.get("zones", {})
        if not isinstance(zones, dict):
            raise OptionError("zones is not an object", 'give {"name": [x, y, w, h], ...}')
        only = data.get("only_zones")
        if only is not None and not isinstance(only, bool):
            raise OptionError("only_zones is not true or false", "give true or false")
        size = data.get("size")
        if size is not None:
            size = check_box([0, 0, *size] if isinstance(size, list) else size, "size")[2:]
        return cls(
            ignore_boxes=[check_box(b, "ignore box") for b in boxes],
            zones={check_zone_name(n): check_box(b, f"zone {n!r}") for n, b in zones.items()},
            only_zones=only,
            size=size,
        )


def load_settings(path: str | os.PathLike) -> AreaSettings:
    """Read a settings file written by the live view (or by hand).

    Args:
        path: The JSON file.

    Returns:
        The areas it holds.

    Raises:
        InputError: when the file cannot be read, is not JSON, or holds malformed settings.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"config {p}: no such file", "check the path") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(
            f"cannot read config {p}: {getattr(e, 'strerror', None) or e}", "check the file"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(
            f"config {p} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})", "fix or delete it"
        ) from None
    try:
        return AreaSettings.from_dict(data)
    except OptionError as e:
        raise InputError(f"config {p}: {e.message}", e.hint) from None


def save_settings(path: str | os.PathLike, settings: AreaSettings) -> str:
    """Write a settings file atomically (a temporary name in the same folder, then renamed).

    Args:
        path: Where to write.
        settings: The areas to save.

    Returns:
        The path written.

    Raises:
        OutputError: when the file cannot be written.
    """
    p = Path(path)
    # One box a line: the file stays easy to read and to edit by hand.
    d = settings.to_dict()
    lines = ["{", '  "ignore_boxes": [']
    lines.append(",\n".join(f"    {json.dumps(b)}" for b in d["ignore_boxes"]))
    lines.append("  ],")
    lines.append('  "zones": {')
    lines.append(",\n".join(f"    {json.dumps(n)}: {json.dumps(b)}" for n, b in d["zones"].items()))
    lines.append("  }" + ("," if len(d) > 2 else ""))
    rest = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in d.items() if k not in ("ignore_boxes", "zones")]
    lines.append(",\n".join(rest))
    text = "\n".join(line for line in lines if line) + "\n}\n"
    try:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{p.name}.", suffix=".part", dir=p.parent if str(p.parent) else "."
        )
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, p)  # readers (and a crash) never see half a file
    except OSError as e:
        raise OutputError(f"cannot write config {p}: {e.strerror}", "check the folder is writable") from None
    return str(p)
