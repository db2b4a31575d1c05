"""What ``framediff watch`` calls for ``--config`` and ``--serve``, kept here so the command stays thin."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, named
from ..watch import Watcher
from ..watch.settings import load_settings
from .live import LiveView
from .server import LiveServer, parse_address

__all__ = ["merge_config", "start_server"]

Box = tuple[int, int, int, int]


def merge_config(
    path: str | None,
    boxes: list[Box],
    zones: dict[str, Box],
    only_zones: bool,
    serving: bool,
) -> tuple[list[Box], dict[str, Box], bool]:
    """Combine the areas of a ``--config`` file with those of the command line.

    The command line adds to the file: its ignore boxes are added (duplicates dropped) and its zones
    replace the file's zones of the same name.

    Args:
        path: The settings file, or ``None``.
        boxes: ``--ignore-box`` boxes.
        zones: ``--zone`` zones.
        only_zones: ``--only-zones``.
        serving: Whether ``--serve`` is on: then a file that does not exist yet is where the page will
            save, not an error.

    Returns:
        ``(ignore_boxes, zones, only_zones)`` in force.

    Raises:
        InputError: when the file is unreadable or malformed, or missing without ``--serve``.
    """
    if path is not None and serving and not Path(path).exists():
        folder = Path(path).resolve().parent
        if not folder.is_dir():
            raise InputError(
                f"config {path}: the folder {folder} does not exist", "create it, or give another path"
            )
        return list(boxes), dict(zones), only_zones
    if path is None:
        return list(boxes), dict(zones), only_zones
    cfg = load_settings(path)
    merged = list(cfg.ignore_boxes)
    merged += [b for b in boxes if b not in merged]
    return merged, {**cfg.zones, **zones}, only_zones or bool(cfg.only_zones)


def start_server(
    watcher: Watcher,
    serve: str,
    *,
    token: str | None = None,
    config_path: str | None = None,
    ignore_picture: np.ndarray | None = None,
    ignore_path: str | None = None,
    log: Callable[[str], None] | None = None,
    show_token: bool = True,
    labels: Mapping[str, str] | None = None,
) -> LiveServer:
    """Start the live view of a watcher (before :meth:`Watcher.run`).

    Args:
        watcher: The watcher, configured but not running yet.
        serve: ``--serve [HOST:]PORT``.
        token: ``--token``; required for a non-loopback host.
        config_path: ``--config``: where the page saves the areas.
        ignore_picture: The ``--ignore`` picture (shaded on the live picture).
        ignore_path: Its path, shown among the settings.
        log: Where the page's address is printed.
        show_token: Print the address with its token (``False`` when the token came from the environment,
            which is there to keep it out of sight: logs and terminals must not show it either).
        labels: What the caller calls ``serve`` and ``token`` in messages (a command line: ``--serve``).

    Returns:
        The running server; call :meth:`LiveServer.close` after the watch.

    Raises:
        OptionError: when the address is malformed or cannot be bound, or a non-loopback host has no token.
    """
    address = parse_address(serve, named("serve", labels))
    settings: dict[str, Any] = {k: v for k, v in dataclasses.asdict(watcher.options).items() if v is not None}
    settings.update(
        min_frames=watcher.machine.min_frames,  # the validated numbers, not the command line's text
        cooldown=watcher.machine.cooldown,
        only_zones=watcher.only_zones,
        realtime=watcher.realtime,
    )
    if ignore_path:
        settings["ignore"] = os.fspath(ignore_path)
    live = LiveView(
        watcher,
        config_path=os.fspath(config_path) if config_path else None,
        ignore_picture=ignore_picture,
        settings=settings,
    )
    server = LiveServer(live, address, token=token, labels=labels)
    server.start()
    if log is not None:
        if show_token or not token:
            log(f"live view at {server.url}")
        else:
            log(
                f"live view at {server.base_url} (token not shown: add ?token=TOKEN, or send it as a Bearer header)"
            )
    return server
