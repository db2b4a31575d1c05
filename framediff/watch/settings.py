"""The watch settings file of ``--config``: a camera's areas (ignore boxes and named zones, drawn in the live
view or by hand) and any other watch settings (detection, outputs).

The file is plain JSON so it can also be written by hand or by a script::

    {
      "ignore_boxes": [[600, 40, 200, 120]],
      "zones": {"door": [10, 20, 200, 300]},
      "only_zones": false,
      "size": [960, 540],
      "sensitivity": 6,
      "min_frames": 3,
      "events": "door-events.jsonl"
    }

Boxes are ``[x, y, w, h]`` in source pixels; ``size`` records the frame size the boxes were drawn on
(informational: a camera whose resolution changed needs its areas redrawn). Every other key is a watch
option by its long name, dashes as underscores (``--min-frames`` is ``min_frames``; ``min-frames`` is
read as well), with a JSON value:
a number, a string, ``true``/``false`` for a flag, a list of strings for a repeatable option. They are
kept in :attr:`AreaSettings.options` as read; the command checks their names and values.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..analysis.regions import check_box  # the one rule for boxes, re-exported here
from ..errors import InputError, OptionError, OutputError
from .detector import check_zone_name  # the one rule for zone names, re-exported here

__all__ = ["AREA_KEYS", "AreaSettings", "load_settings", "save_settings", "check_zone_name", "check_box"]

Box = tuple[int, int, int, int]

AREA_KEYS = ("ignore_boxes", "zones", "only_zones", "size")  # the keys the live view edits and saves
_OPTION_KEY = re.compile(r"^[a-z][a-z0-9_\-]{0,39}$")


@dataclass
class AreaSettings:
    """Areas of a watch: what to ignore and which named zones to report.

    Attributes:
        ignore_boxes: Boxes to ignore, in source pixels.
        zones: Named zones, in source pixels.
        only_zones: Watch only inside the zones (``None``: not said; the command line decides).
        size: ``(width, height)`` of the frames the areas were drawn on, when known.
        options: The file's other watch settings (``{"sensitivity": 6, "events": "ev.jsonl"}``), as
            read: JSON numbers, strings, booleans or lists of strings.
    """

    ignore_boxes: list[Box] = field(default_factory=list)
    zones: dict[str, Box] = field(default_factory=dict)
    only_zones: bool | None = None
    size: tuple[int, int] | None = None
    options: dict[str, Any] = field(default_factory=dict)

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
        for key, value in self.options.items():
            d[key] = list(value) if isinstance(value, tuple) else value
        return d

    @classmethod
    def from_dict(cls, data: Any) -> AreaSettings:
        """Build from the JSON form, validating every field.

        Args:
            data: The parsed JSON object.

        Returns:
            The settings.

        Raises:
            OptionError: when a field is malformed, or a setting is not a plain JSON value.
        """
        if not isinstance(data, dict):
            raise OptionError(
                "the settings are not a JSON object", 'e.g. {"zones": {"door": [0, 0, 100, 200]}}'
            )
        options = {k: v for k, v in data.items() if k not in AREA_KEYS}
        for key, value in options.items():
            if not _OPTION_KEY.match(key):
                raise OptionError(
                    f"unknown setting {key[:60]!r}", "settings are watch options, e.g. min_frames"
                )
            plain = (str, int, float, bool, type(None))
            if not (
                isinstance(value, plain)
                or (isinstance(value, list) and all(isinstance(v, str) for v in value))
            ):
                raise OptionError(
                    f"setting {key} is not a number, a string, true/false or a list of strings",
                    f'e.g. "{key}": 3',
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
            options=options,
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

    The file's own settings other than the areas (detection, outputs) are kept, after the areas: the live
    view saves only what it edits, and a camera's whole setup stays in the one file. Settings in
    ``settings.options`` replace the file's of the same name.

    Args:
        path: Where to write.
        settings: The areas (and options) to save.

    Returns:
        The path written.

    Raises:
        OutputError: when the file cannot be written, or it holds what is no longer a settings file
            (it is then left as it is, rather than lose its settings).
    """
    p = Path(path)
    d = settings.to_dict()
    kept = _options_on_disk(p)
    d = {**d, **{k: v for k, v in kept.items() if k not in d}}
    # One box a line: the file stays easy to read and to edit by hand.
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


def _options_on_disk(p: Path) -> dict[str, Any]:
    """The settings other than the areas in the file at ``p`` (none when there is no file yet)."""
    if not p.exists():
        return {}
    try:
        return load_settings(p).options
    except InputError as e:
        raise OutputError(
            f"cannot save to {p}: {e.message}", "fix or delete the file, then save again"
        ) from None
