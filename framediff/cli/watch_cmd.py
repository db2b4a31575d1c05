"""``framediff watch``: watch a camera, stream or recording for changes; a thin layer over
:class:`~framediff.watch.Watcher` and its sinks."""

from __future__ import annotations

import sys
import time
from typing import Any

import click
import numpy as np

from ..analysis.prepare import to_gray
from ..analysis.regions import parse_box
from ..errors import InputError, OptionError
from ..media.frames import Frame, FrameSource
from ..media.images import image_paths, read_image
from ..paths import check_outputs
from ..serve.hook import merge_config, start_server
from ..text import plural
from ..watch import (
    FrameResult,
    Watcher,
    WatchOptions,
    parse_zone,
)
from ..watch.outputs import Attached, WatchOutputs, attach
from ..watch.watcher import is_live_spec, stderr_log
from .app import cli
from .options import (
    analysis_size_option,
    ignore_options,
    max_pixels_option,
    min_area_option,
    quiet_option,
    threshold_option,
)
from .settings_file import with_settings_file

# The library names the outputs by their WatchOutputs fields; a user of the command line typed these.
OUTPUT_LABELS = {
    "events": "--events",
    "regions": "--regions",
    "snapshots": "--snapshots",
    "exec": "--exec",
    "exec_timeout": "--exec-timeout",
    "webhooks": "--webhook",
    "mqtt": "--mqtt",
    "record": "--record",
    "clips": "--clips",
    "pre": "--pre",
    "post": "--post",
    "max_clip": "--max-clip",
}

# The command's parameters, by what they set: the detector's options, the watcher's pacing and limits, and
# the outputs (a WatchOutputs field -> the parameter's name).
DETECTOR_PARAMS = (
    "reference",
    "analysis_size",
    "threshold",
    "sensitivity",
    "min_area",
    "light_change",
    "shadows",
    "absorb_after",
)
WATCHER_PARAMS = (
    "min_frames",
    "cooldown",
    "realtime",
    "max_frames",
    "duration",
    "reconnect_timeout",
    "frozen_after",
    "timeout",
    "wait_for_source",
)
OUTPUT_PARAMS = {
    "events": "events_path",
    "regions": "regions_path",
    "snapshots": "snapshots",
    "exec": "exec_cmd",
    "exec_timeout": "exec_timeout",
    "webhooks": "webhooks",
    "mqtt": "mqtt_url",
    "record": "record_path",
    "clips": "clips_dir",
    "pre": "pre",
    "post": "post",
    "max_clip": "max_clip",
}


def _load_ignore(path: str | None) -> np.ndarray | None:
    """Read the ``--ignore`` picture as grey (white = ignore), or ``None`` when none was given."""
    if path is None:
        return None
    try:
        return to_gray(read_image(path))
    except InputError as e:
        raise InputError(
            f"cannot read ignore mask {path}: {e.message}", "give a PNG with white where to ignore"
        ) from None


@cli.command("watch")
@click.argument("source", metavar="SOURCE")
@click.option(
    "--reference",
    default="background",
    show_default=True,
    metavar="previous|background|IMAGE",
    help="Compare with the previous frame, a slowly adapting background, or a fixed image.",
)
@click.option(
    "--events", "events_path", metavar="FILE", help="Write events as JSON lines to FILE ('-' = stdout)."
)
@click.option(
    "--regions", "regions_path", metavar="FILE", help="Write every frame's boxes as JSON lines to FILE."
)
@click.option("--snapshots", metavar="DIR", help="Save an annotated JPEG into DIR at each change start.")
@click.option(
    "--exec", "exec_cmd", metavar="CMD", help="Run CMD per event; the event is JSON in $FRAMEDIFF_EVENT."
)
@click.option(
    "--exec-timeout",
    default="5",
    show_default=True,
    metavar="SECONDS",
    help="With --exec: stop a command still running after SECONDS (4 run at once; more events wait).",
)
@click.option(
    "--record",
    "record_path",
    metavar="FILE",
    help="Write every analysed frame, boxes drawn, to a video (.mp4/.mkv/.mov/.avi), for tuning.",
)
@click.option(
    "--clips",
    "clips_dir",
    metavar="DIR",
    help="Save a video clip of each change into DIR, from --pre seconds before it to --post after it.",
)
@click.option(
    "--pre",
    metavar="SECONDS",
    help="With --clips: seconds before a change's start in its clip (held in memory: ~3 MB a frame at "
    "1080p).  [default: 1]",
)
@click.option(
    "--post", metavar="SECONDS", help="With --clips: seconds after a change's end in its clip.  [default: 2]"
)
@click.option(
    "--max-clip",
    metavar="SECONDS",
    help="With --clips: longest clip; a longer change goes on in a new clip.  [default: 600]",
)
@click.option(
    "--webhook",
    "webhooks",
    metavar="URL",
    multiple=True,
    help="POST each event as JSON to URL (repeatable); a slow or down server never stalls the watch.",
)
@click.option(
    "--mqtt",
    "mqtt_url",
    metavar="URL",
    help="Publish events to an MQTT broker, mqtt://[user:pass@]host[:port]/PREFIX: each event on "
    "PREFIX/events, the state (retained) on PREFIX/state.",
)
@ignore_options(
    "Picture, white = ignore (a screen, a tree).",
    "Box to ignore, in source pixels (repeatable).",
    mask_name="ignore_path",
    mask_metavar="MASK",
    box_metavar="x,y,w,h",
)
@click.option(
    "--zone", multiple=True, metavar="NAME=x,y,w,h", help="Named zone; events list zones hit (repeatable)."
)
@click.option("--only-zones", is_flag=True, help="Watch only inside the zones.")
@click.option(
    "--min-frames", default="2", show_default=True, metavar="N", help="Changed frames in a row to start."
)
@click.option(
    "--cooldown", default="1", show_default=True, metavar="SECONDS", help="Quiet time before a change ends."
)
@click.option(
    "--light-change",
    default="report",
    show_default=True,
    metavar="report|suppress",
    help="Sudden global light changes: report as light_change events, or stay silent (never a change).",
)
@click.option("--shadows", default="ignore", show_default=True, metavar="ignore|keep", help="Cast shadows.")
@threshold_option("Fixed threshold in grey levels (default: auto, per pixel).")
@click.option(
    "--sensitivity", default="5", show_default=True, metavar="K", help="Noise sigmas a change must exceed."
)
@min_area_option("Smallest region in source pixels (default 0.05% of the frame).")
@analysis_size_option("Longest side of the analysis image (auto: 480, or 384 above 1280 px).", "auto")
@click.option(
    "--absorb-after",
    default="60",
    show_default=True,
    metavar="SECONDS",
    help="A change that stays still this long becomes background (0 = never).",
)
@click.option(
    "--realtime", is_flag=True, help="Pace a file at its frame rate (default: as fast as possible)."
)
@click.option("--max-frames", metavar="N", help="Stop after N frames.")
@click.option("--duration", metavar="SECONDS", help="Stop after SECONDS (stream time; wall-clock for live).")
@click.option(
    "--reconnect-timeout",
    default="60",
    show_default=True,
    metavar="SECONDS",
    help="Keep reopening a live source that dropped (after it had opened) this long.",
)
@click.option(
    "--wait-for-source",
    is_flag=True,
    help="Keep trying to open a camera or stream that is not up yet (default: fail at once).",
)
@click.option(
    "--frozen-after",
    default="10",
    show_default=True,
    metavar="SECONDS",
    help="Identical frames → source_frozen.",
)
@click.option(
    "--timeout", default="10", show_default=True, metavar="SECONDS", help="Stream connect/read timeout."
)
@click.option(
    "--serve",
    metavar="[HOST:]PORT",
    help="Live view in the browser: picture, events, drawing zones and ignore boxes (default host 127.0.0.1).",
)
@click.option(
    "--token",
    envvar="FRAMEDIFF_TOKEN",
    metavar="TOKEN",
    help="Secret the live view requires (Bearer header or ?token=); needed to serve beyond loopback.",
)
@click.option(
    "--config",
    "config_path",
    metavar="FILE",
    help="Settings file (JSON): ignore boxes, zones and any other option (min_frames, events...); "
    "the command line overrides it. With --serve, the page saves the areas to it.",
)
@quiet_option("No status lines on stderr (errors still show).")
@max_pixels_option
# The areas have keys of their own in the file (ignore_boxes, zones, only_zones); a token stays out of it
# (FRAMEDIFF_TOKEN keeps it out of files and of the process list).
@with_settings_file("config_path", exclude=("zone", "ignore_box", "only_zones", "token"))
def watch_command(source: str, **given: Any) -> None:
    """Watch a camera, stream, video or image folder; report when and where something changes.

    SOURCE: a camera index (0) or /dev/videoN, a video file, a folder of images, or a stream URL
    (rtsp://, http://, udp://, tcp://). Noise, compression and slow light drift raise nothing; a sudden
    global light change is reported as light_change, never as a change. Live sources that drop are
    reopened with backoff; Ctrl-C or SIGTERM end cleanly (open changes closed, files flushed).

    \b
    framediff watch 0 --events -                               camera, events on stdout
    framediff watch rtsp://cam/live --events ev.jsonl --snapshots snaps/ --zone door=0,0,400,720
    framediff watch gate.mp4 --reference gate-closed.png --ignore trees.png --events -
    framediff watch clip.mp4 --regions boxes.jsonl             per-frame boxes, for tuning
    framediff watch 0 --serve 8080 --config areas.json         live view on http://127.0.0.1:8080/
    """
    g = given  # the parameters, by the names the options above give them
    options = WatchOptions(**{name: g[name] for name in DETECTOR_PARAMS})
    watcher, ignore = _make_watcher(
        source,
        options,
        g["ignore_path"],
        g["ignore_box"],
        g["zone"],
        g["only_zones"],
        g["config_path"],
        g["serve"],
        g["quiet"],
        **{name: g[name] for name in WATCHER_PARAMS},
    )
    outputs = WatchOutputs(**{field: g[name] for field, name in OUTPUT_PARAMS.items()}, labels=OUTPUT_LABELS)
    outputs.check()
    written = [(OUTPUT_LABELS[f], g[OUTPUT_PARAMS[f]]) for f in ("events", "regions", "record", "clips", "snapshots")]
    _check_outputs(
        source,
        options,
        [("--ignore", g["ignore_path"]), ("--config", g["config_path"])],
        written + [("--config", g["config_path"] if g["serve"] else None)],
    )
    outputs.check_services()  # checked before anything starts
    # A file's progress on a terminal; not when JSON lines go to the same terminal (they would cut it).
    to_terminal = "-" in (g["events_path"], g["regions_path"]) and sys.stdout.isatty()
    _run(watcher, outputs, g["serve"], g["token"], g["config_path"], ignore, g["ignore_path"], g["quiet"], to_terminal)


def _make_watcher(
    source: str,
    options: WatchOptions,
    ignore_path: str | None,
    ignore_box: tuple[str, ...],
    zone: tuple[str, ...],
    only_zones: bool,
    config_path: str | None,
    serve: str | None,
    quiet: bool,
    **settings: Any,
) -> tuple[Watcher, np.ndarray | None]:
    """The watcher of the command line's areas merged with the ``--config`` file's; and the ignore picture."""
    zones = dict(parse_zone(z) for z in zone)
    boxes = [parse_box(b) for b in ignore_box]
    boxes, zones, only_zones = merge_config(config_path, boxes, zones, only_zones, serve is not None)
    ignore = _load_ignore(ignore_path)
    watcher = Watcher(
        source,
        options,
        ignore=ignore,
        ignore_boxes=boxes,
        zones=zones,
        only_zones=only_zones,
        log=None if quiet else stderr_log,
        warn=_warn,
        **settings,
    )
    return watcher, ignore


def _run(
    watcher: Watcher,
    outputs: WatchOutputs,
    serve: str | None,
    token: str | None,
    config_path: str | None,
    ignore: np.ndarray | None,
    ignore_path: str | None,
    quiet: bool,
    to_terminal: bool,
) -> None:
    """Open the source, attach the outputs (and the live view), watch, and close everything."""
    # Frames that leave as pictures are decoded in full (see Watcher.full_decode).
    watcher.full_decode = outputs.pictures
    # Opened before any output is made: a source that cannot be opened, or areas outside its picture,
    # fail at once and leave nothing behind.
    opened = watcher.open()
    attached = Attached()
    server = None
    failed = False
    try:
        attach(watcher, outputs, attached)
        if serve is not None:
            server = _serve(watcher, serve, token, config_path, ignore, ignore_path, quiet)
            # Areas drawn on the page also go on the pictures and the recording.
            server.live.areas_listeners.append(attached.areas_changed)
        shown = not (quiet or is_live_spec(watcher.source) or to_terminal) and sys.stderr.isatty()
        bar = _ProgressBar(watcher, opened) if shown else None
        try:
            state = watcher.run()
        finally:
            if bar is not None:
                bar.close()
    except BaseException:
        failed = True
        raise
    finally:
        watcher.close()
        attached.close(failed, first=server)
    if not quiet:
        _summary(watcher, state, attached)


def _serve(
    watcher: Watcher,
    serve: str,
    token: str | None,
    config_path: str | None,
    ignore: np.ndarray | None,
    ignore_path: str | None,
    quiet: bool,
) -> Any:
    """Start the live view (``--serve``); its token is shown unless it came from the environment."""
    from_env = click.get_current_context().get_parameter_source("token")
    return start_server(
        watcher,
        serve,
        token=token,
        config_path=config_path,
        ignore_picture=ignore,
        ignore_path=ignore_path,
        log=None if quiet else stderr_log,
        show_token=from_env is not click.core.ParameterSource.ENVIRONMENT,
        labels={"serve": "--serve", "token": "--token"},
    )


def _summary(watcher: Watcher, state: Any, attached: Attached) -> None:
    """The closing lines on stderr: frames and changes, and frames the video outputs left out."""
    why = f" ({watcher.stop_reason})" if watcher.stop_reason else ""
    click.echo(f"watched {plural(state.frames, 'frame')}, {plural(state.changes, 'change')}{why}", err=True)
    for name, skipped in attached.skipped():
        click.echo(
            f"{name}: {plural(skipped, 'frame')} left out (the encoder could not keep up with the source)",
            err=True,
        )


def _warn(text: str) -> None:
    click.echo(f"Warning: {text}", err=True)


class _ProgressBar:
    """A file's progress on a terminal, as dedup shows it: frames, analysis rate, changes so far."""

    EVERY = 0.1  # seconds between redraws: drawing at every frame would cost more than some analyses

    def __init__(self, watcher: Watcher, src: FrameSource | None) -> None:
        total = src.frame_count if src is not None else None
        duration, fps = getattr(src, "duration", None), getattr(src, "fps", None)
        if not total and duration and fps:
            total = round(duration * fps)  # WebM/MKV give no frame count: estimate it
        if watcher.max_frames is not None:
            total = min(total or watcher.max_frames, watcher.max_frames)
        self.watcher = watcher
        self.t0 = time.monotonic()
        self.shown = 0
        self.next = 0.0
        self.bar = click.progressbar(
            length=total or 1,
            label="watch",
            file=sys.stderr,
            show_pos=bool(total),
            show_percent=bool(total),
            item_show_func=self._item,
        )
        self.bar.__enter__()
        watcher.on_frame(self._frame)

    def _item(self, _item: object) -> str:
        st = self.watcher.state
        rate = st.frames / max(time.monotonic() - self.t0, 1e-6)
        return f"{st.changes} change{'' if st.changes == 1 else 's'}, {rate:.0f} fps"

    def _frame(self, result: FrameResult, frame: Frame) -> None:
        now = time.monotonic()
        if now >= self.next:
            self.next = now + self.EVERY
            frames = self.watcher.state.frames
            self.bar.update(frames - self.shown, frames)
            self.shown = frames

    def close(self) -> None:
        """Draw the last count and end the bar's line (before the summary is printed)."""
        frames = self.watcher.state.frames
        self.bar.update(frames - self.shown, frames)
        self.bar.__exit__(None, None, None)


def _check_outputs(
    source: str,
    options: WatchOptions,
    inputs: list[tuple[str, str | None]],
    outputs: list[tuple[str, str | None]],
) -> None:
    """Refuse outputs that would overwrite an input or each other (before anything is written)."""
    if any(label in ("--record", "--clips") and path == "" for label, path in outputs):
        raise OptionError("--record and --clips need a name", "e.g. --record boxes.mp4 --clips clips/")
    read = list(inputs)
    if not is_live_spec(source):
        read += [("SOURCE", source)] + [("SOURCE", p) for p in image_paths(source) or []]
    if options.fixed_reference:
        read.append(("--reference", options.reference))
    check_outputs(outputs, read)
