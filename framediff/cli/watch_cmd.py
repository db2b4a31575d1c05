"""``framediff watch``: watch a camera, stream or recording for changes; a thin layer over
:class:`~framediff.watch.Watcher` and its sinks."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import click
import numpy as np

from ..errors import InputError, OptionError
from ..paths import same_file
from ..prepare import to_gray
from ..regions import parse_box
from ..serve.hook import merge_config, start_server
from ..sources import Frame, read_image
from ..watch import (
    CommandRunner,
    Event,
    FrameResult,
    JsonLines,
    MqttPublisher,
    SnapshotWriter,
    Watcher,
    WatchOptions,
    WebhookPoster,
    parse_zone,
)
from ..watch.mqtt import MqttTarget, require_paho
from ..watch.record import EventClips, Recorder
from ..watch.sinks import frame_colour
from ..watch.watcher import is_live_spec, stderr_log
from .app import cli


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
@click.option("--ignore", "ignore_path", metavar="MASK", help="Picture, white = ignore (a screen, a tree).")
@click.option(
    "--ignore-box", multiple=True, metavar="x,y,w,h", help="Box to ignore, in source pixels (repeatable)."
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
@click.option(
    "--threshold", metavar="LEVEL", help="Fixed threshold in grey levels (default: auto, per pixel)."
)
@click.option(
    "--sensitivity", default="5", show_default=True, metavar="K", help="Noise sigmas a change must exceed."
)
@click.option(
    "--min-area", metavar="PIXELS", help="Smallest region in source pixels (default 0.05% of the frame)."
)
@click.option(
    "--analysis-size",
    default="auto",
    show_default=True,
    metavar="PX",
    help="Longest side of the analysis image (auto: 480, or 384 above 1280 px).",
)
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
    help="Keep reopening a dropped live source this long.",
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
    help="Settings file of ignore boxes and zones (JSON); with --serve, the page saves to it.",
)
@click.option("-q", "--quiet", is_flag=True, help="No status lines on stderr (errors still show).")
def watch_command(
    source: str,
    reference: str,
    events_path: str | None,
    regions_path: str | None,
    snapshots: str | None,
    exec_cmd: str | None,
    webhooks: tuple[str, ...],
    mqtt_url: str | None,
    record_path: str | None,
    clips_dir: str | None,
    pre: str | None,
    post: str | None,
    max_clip: str | None,
    ignore_path: str | None,
    ignore_box: tuple[str, ...],
    zone: tuple[str, ...],
    only_zones: bool,
    min_frames: str,
    cooldown: str,
    light_change: str,
    shadows: str,
    threshold: str | None,
    sensitivity: str,
    min_area: str | None,
    analysis_size: str,
    absorb_after: str,
    realtime: bool,
    max_frames: str | None,
    duration: str | None,
    reconnect_timeout: str,
    frozen_after: str,
    timeout: str,
    serve: str | None,
    token: str | None,
    config_path: str | None,
    quiet: bool,
) -> None:
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
    options = WatchOptions(
        reference=reference,
        analysis_size=analysis_size,
        threshold=threshold,
        sensitivity=sensitivity,
        min_area=min_area,
        light_change=light_change,
        shadows=shadows,
        absorb_after=absorb_after,
    )
    zones = dict(parse_zone(z) for z in zone)
    boxes = [parse_box(b) for b in ignore_box]
    boxes, zones, only_zones = merge_config(config_path, boxes, zones, only_zones, serve is not None)
    ignore = _load_ignore(ignore_path)
    watcher = Watcher(
        source,
        options,
        min_frames=min_frames,
        cooldown=cooldown,
        ignore=ignore,
        ignore_boxes=boxes,
        zones=zones,
        only_zones=only_zones,
        realtime=realtime,
        max_frames=max_frames,
        duration=duration,
        reconnect_timeout=reconnect_timeout,
        frozen_after=frozen_after,
        timeout=timeout,
        log=None if quiet else stderr_log,
    )
    runner = CommandRunner(exec_cmd) if exec_cmd else None
    if not clips_dir and (pre is not None or post is not None or max_clip is not None):
        raise OptionError(
            "--pre, --post and --max-clip shape the clips of --clips", "add --clips DIR, or leave them out"
        )
    _check_outputs(source, record_path, clips_dir, events_path, regions_path)
    for url in webhooks:  # checked before anything starts
        WebhookPoster.check_url(url)
    if mqtt_url is not None:
        MqttTarget.parse(mqtt_url)
        require_paho()
    # Frames that leave as pictures are decoded in full (see Watcher.full_decode).
    watcher.full_decode = bool(record_path or clips_dir or snapshots)
    live = is_live_spec(source)
    recorder: Recorder | None = None
    clips: EventClips | None = None
    # Each output joins the list as soon as it exists, so a later one that fails still closes it (no
    # half-written file is left behind).
    sinks: list = []
    server = None
    try:
        if clips_dir:
            clips = EventClips(
                clips_dir,
                pre if pre is not None else 1.0,
                post if post is not None else 2.0,
                max_length=max_clip if max_clip is not None else 600.0,
                debounce_frames=watcher.machine.min_frames,
                wait=not live,
            )
            sinks.append(clips)
        if record_path:
            # A live source never waits for the recording's encoder: frames it cannot take are left out.
            recorder = Recorder(record_path, zones=zones, wait=not live)
            sinks.append(recorder)
        shots = SnapshotWriter(snapshots, zones) if snapshots else None
        events = JsonLines(events_path) if events_path else None
        regions = JsonLines(regions_path, flush_every=50) if regions_path else None
        sinks += [s for s in (shots, events, regions) if s is not None]
        hooks = [WebhookPoster(url) for url in webhooks]
        sinks += hooks + ([runner] if runner is not None else [])

        if clips is not None:  # before the other sinks: events then name their clip

            @watcher.on_frame
            def _hold(result: FrameResult, frame: Frame) -> None:
                clips.fps = clips.fps or watcher.state.fps
                clips.frame(frame)

            watcher.on_event(clips.event)
        if shots is not None:

            @watcher.on_event
            def _snapshot(event: Event, frame: Frame) -> None:
                if event.event == "change_start":
                    name = f"change-{event.id:05d}-frame-{frame.index:06d}"
                    event.snapshot = shots.save(
                        frame_colour(frame), event.regions, name, f"{frame.index}  {frame.time:.2f}s"
                    )

        if events is not None:
            watcher.on_event(lambda event, frame: events.write(event.to_dict()))
        if runner is not None:
            watcher.on_event(lambda event, frame: runner.run(event.to_dict()))
        for hook in hooks:
            watcher.on_event(lambda event, frame, hook=hook: hook.post(event.to_dict()))
        if mqtt_url is not None:
            mqtt = MqttPublisher(mqtt_url)
            sinks.append(mqtt)
            mqtt.attach(watcher)
        if regions is not None:
            watcher.on_frame(lambda result, frame: regions.write(result.to_dict()))
        if recorder is not None:

            @watcher.on_frame
            def _record(result: FrameResult, frame: Frame) -> None:
                recorder.fps = recorder.fps or watcher.state.fps
                recorder.write(frame, result.regions, changing=watcher.machine.active)

        if serve is not None:
            server = start_server(
                watcher,
                serve,
                token=token,
                config_path=config_path,
                ignore_picture=ignore,
                ignore_path=ignore_path,
                log=None if quiet else stderr_log,
            )
            for sink in (shots, recorder):  # zones drawn on the page also go on pictures and recording
                if sink is not None:
                    server.live.areas_listeners.append(lambda b, z, sink=sink: setattr(sink, "zones", z))

        state = watcher.run()
    finally:
        _close_all(server, sinks)
    if not quiet:
        why = f" ({watcher.stop_reason})" if watcher.stop_reason else ""
        click.echo(f"watched {state.frames} frames, {state.changes} changes{why}", err=True)
        for name, sink in (("--record", recorder), ("--clips", clips)):
            if sink is not None and sink.skipped:
                click.echo(
                    f"{name}: {sink.skipped} frames left out (the encoder could not keep up with the source)",
                    err=True,
                )


def _check_outputs(source: str, record: str | None, clips: str | None, *files: str | None) -> None:
    """Refuse outputs that would overwrite the input or each other (before anything is written)."""
    if record == "" or clips == "":
        raise OptionError("--record and --clips need a name", "e.g. --record boxes.mp4 --clips clips/")
    named = [Path(p).resolve() for p in (record, *files) if p and p != "-"]
    for p in named:
        if same_file(p, source):
            raise OptionError(f"{p.name} is the watched source", "write the output under another name")
    if len(set(named)) < len(named):
        raise OptionError("two outputs have the same name", "give --record, --events and --regions their own")


def _close_all(server: object, sinks: list) -> None:
    """Close the live view, then every output, the valuable ones first, each on its own; a Ctrl-C or
    SIGTERM meanwhile is ignored (the watch is already ending, and it would cut a video short)."""
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, signal.SIG_IGN)
    error: BaseException | None = None
    try:
        if server is not None:
            server.close()
        for sink in sinks:
            try:
                sink.close()
            except Exception as e:  # noqa: BLE001 - the others are still closed; the first error is raised
                error = error or e
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if error is not None:
        raise error
