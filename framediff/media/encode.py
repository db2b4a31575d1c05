"""The one video encoder stack: the stream set-up and frame stamping every framediff video goes through
(dedup's trimmed video, watch's recording and clips), and dedup's writer with its audio and encoding thread.

Every video is written under a temporary name in its final folder and renamed when complete, so a reader
never sees a half-written file and an interrupted run still leaves a valid one.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import queue
import threading
import warnings
from collections.abc import Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import OptionError, OutputError, named
from ..paths import disk_error, remove_quietly, temp_path
from .frames import Frame
from .video import METADATA_ERRORS

__all__ = ["EncodeThread", "VideoWriter", "add_video_stream", "pick_format", "stamp_frame", "video_error"]


# Encoder picked by the output's extension when --codec is not given: H.264, except where the container
# cannot hold it.
DEFAULT_CODECS = {".webm": "libvpx-vp9", ".ogv": "libtheora"}
# Audio encoder used when the input's audio cannot be copied into the output container as it is.
AUDIO_CODECS = {".webm": "libopus", ".ogv": "libvorbis", ".avi": "libmp3lame"}
CRF_CODECS = ("libx264", "libx265", "libvpx-vp9", "libvpx", "libsvtav1", "libaom-av1")
# Containers whose video track ends where its last frame ends even with B-frames and the gaps of dropped
# frames: Matroska stores presentation times, and MP4/MOV's last packet is stretched (see finish()). Other
# containers get H.264/H.265 without B-frames when frames keep their timestamps.
B_FRAME_FORMATS = ("matroska", "webm", "mp4", "mov")
# What a disk says when it refuses an output: full, over quota, read-only, not ours.
DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG)
# Seconds of audio muxed ahead of the video: none, the muxer interleaves, and Ctrl-C then cuts cleanly.
AUDIO_AHEAD = 0.0


def video_error(path: Path, e: Exception, labels: Mapping[str, str] | None = None) -> OutputError:
    """The one-line error for a video the encoder or the disk could not write.

    Args:
        path: The video.
        e: What PyAV or the system said.
        labels: What the caller calls the settings in messages (``{"codec": "--codec"}``).

    Returns:
        An :class:`OutputError` to raise.
    """
    if isinstance(e, OSError) and getattr(e, "errno", None) in DISK_ERRNOS:
        return disk_error(path, e)
    return OutputError(f"cannot write {path}: {e}", f"try another {named('codec', labels)} or output type")


def add_video_stream(
    container: Any,
    codec: str,
    rate: Fraction,
    width: int,
    height: int,
    *,
    pix_fmt: str,
    time_base: Fraction,
    options: dict[str, str],
) -> Any:
    """Add a video stream to an output container, set up as every framediff video is.

    Args:
        container: The PyAV output container.
        codec: The encoder's name.
        rate: The nominal frame rate.
        width: The pictures' width; 4:2:0 encoders get it made even.
        height: Their height, likewise.
        pix_fmt: The encoder's pixel format.
        time_base: The stream's (and the encoder's) time base.
        options: The encoder's options.

    Returns:
        The PyAV stream.

    Raises:
        ValueError: (PyAV's) when the container cannot hold that codec.
    """
    vs = container.add_stream(codec, rate=rate)
    subsampled = codec not in ("ffv1", "png", "rawvideo")
    # 4:2:0 encoders need even sizes: drop the odd last row/column rather than rescale the picture.
    vs.width = width - width % 2 if subsampled else width
    vs.height = height - height % 2 if subsampled else height
    vs.pix_fmt = pix_fmt
    vs.codec_context.time_base = time_base
    vs.time_base = time_base
    vs.options = options
    if codec == "libx264":
        # PyAV asks encoders for slice threads only, which libx264 takes as x264's "sliced threads":
        # each frame split across threads and finished before the call returns. FFmpeg's default
        # (frame and slice) gives x264's frame threads, several frames at once, as the ffmpeg command.
        vs.thread_type = "AUTO"
    return vs


def stamp_frame(vf: Any, pts: int, time_base: Fraction) -> Any:
    """Give a picture its timestamp for the encoder, and clear the decoder's picture type.

    Args:
        vf: The ``av.VideoFrame`` to encode.
        pts: Its timestamp, in ``time_base`` units.
        time_base: The stream's time base.

    Returns:
        ``vf``.
    """
    vf.pts = pts
    vf.time_base = time_base
    # A decoder's I/P/B label would be taken as a forced frame type by the encoder.
    vf.pict_type = 0
    return vf


def pick_format(codec: Any, source_format: str) -> str:
    """The encoder's pixel format: the source's when the encoder takes it, else yuv420p, else its first."""
    names = [f.name for f in (codec.video_formats or [])]
    if not names or source_format in names:
        return source_format
    return "yuv420p" if "yuv420p" in names else names[0]


class VideoWriter:
    """Encodes kept frames with PyAV and carries the input's audio over.

    Args:
        source: The open :class:`~framediff.media.video.VideoSource` being read.
        output: Final path; the container format follows its extension.
        codec: Encoder name (``libx264``, ``libx265``, ``libvpx-vp9``, ``mpeg4``...); ``None`` picks H.264
            (VP9 for ``.webm``).
        crf: Constant rate factor for encoders that take one (lower is better quality).
        timing: ``keep`` (original timestamps; audio copied in sync) or ``compact`` (constant rate,
            no audio).
        labels: What the caller calls ``output``, ``codec``, ``crf`` and ``timing`` in messages and
            warnings (a command line: ``{"output": "-o", "codec": "--codec"}``); by default those names.

    Raises:
        OutputError: when the output cannot be created in that format.
        OptionError: when the codec is unknown or does not encode video.
    """

    def __init__(
        self,
        source: Any,
        output: Path,
        *,
        codec: str | None,
        crf: float | None,
        timing: str,
        labels: Mapping[str, str] | None = None,
    ) -> None:
        import av

        self.source = source
        self.output = output
        self.tmp = temp_path(output)
        self.timing = timing
        self.labels = labels
        self.warnings: list[str] = []
        self.written = 0
        self._last_pts = -1
        self._held: Any = None  # the latest video packet, not yet muxed
        self._first_dts: int | None = None
        self._first_pts = 0
        name = codec or DEFAULT_CODECS.get(output.suffix.lower(), "libx264")
        try:
            self.codec = av.codec.Codec(name, "w")
        except Exception:  # noqa: BLE001 - PyAV raises several types for unknown codecs
            raise OptionError(
                f"unknown video encoder {name!r}", "try libx264, libx265, libvpx-vp9 or mpeg4"
            ) from None
        if self.codec.type != "video":
            raise OptionError(f"{name!r} is not a video encoder", "try libx264, libx265, libvpx-vp9 or mpeg4")
        try:
            self.container = av.open(str(self.tmp), "w")
        except (ValueError, av.FFmpegError, OSError) as e:
            remove_quietly(self.tmp)
            if getattr(e, "errno", None) in DISK_ERRNOS:
                raise disk_error(output, e) from None
            raise OutputError(
                f"cannot write a video named {output.name}: {getattr(e, 'strerror', None) or e}",
                f"use an .mp4, .mkv, .mov, .webm or .avi {named('output', labels)}",
            ) from None
        try:
            self._open_streams(crf)
        except (OSError, av.FFmpegError) as e:  # the file is created when encoding starts
            self.abort()
            raise video_error(output, e, labels) from None
        except BaseException:
            self.abort()
            raise

    def _open_streams(self, crf: float | None) -> None:
        import av

        src = self.source
        stream = src.stream
        width, height = src.size or (stream.codec_context.width, stream.codec_context.height)
        rate = stream.average_rate or stream.guessed_rate or Fraction(30)
        if self.timing == "compact":
            self.time_base = Fraction(1, 1) / Fraction(rate)
        else:
            # The input's own time base, so variable frame timing survives exactly.
            self.time_base = stream.time_base or Fraction(1, 90000)
        # One frame, in the output's time base: how long the last frame stays on screen.
        self._step = max(1, round(1 / (Fraction(rate) * self.time_base)))
        options = self._options(crf)
        try:
            vs = add_video_stream(
                self.container,
                self.codec.name,
                rate,
                width,
                height,
                pix_fmt=pick_format(self.codec, stream.codec_context.pix_fmt or "yuv420p"),
                time_base=self.time_base,
                options=options,
            )
        except (ValueError, av.FFmpegError) as e:
            what = f"{self.output.suffix} files cannot hold {self.codec.name} video ({e})"
            raise OutputError(what, f"choose another {named('codec', self.labels)} or extension") from None
        self.video = vs
        self.audio_in = None
        self.audio = None
        if src.container.streams.audio:
            if self.timing == "compact":
                self.warnings.append(
                    f"audio dropped: {named('timing', self.labels)} compact shortens the video, "
                    "so its sound could not stay in sync"
                )
            else:
                self._open_audio()
        self.container.start_encoding()

    def _options(self, crf: float | None) -> dict[str, str]:
        """The encoder's options: the quality, and B-frames off where the container needs that."""
        options = {}
        if crf is not None:
            if self.codec.name in CRF_CODECS:
                options["crf"] = f"{crf:g}"
                if self.codec.name.startswith("libvpx"):
                    options["b"] = "0"  # constant quality mode in libvpx needs the bitrate unset
            else:
                self.warnings.append(f"{named('crf', self.labels)} is ignored by the {self.codec.name} encoder")
        self._dts_length = self.container.format.name in ("mp4", "mov")
        if (
            self.timing == "keep"
            and self.codec.name in ("libx264", "libx265")
            and self.container.format.name not in B_FRAME_FORMATS
        ):
            # Without B-frames decode order is presentation order, so with the gaps of dropped frames the
            # track's own duration (from decode times) still ends where the input ends.
            options["bf"] = "0"
        return options

    def _open_audio(self) -> None:
        """Copy the first audio track as it is when the container takes it, else re-encode it."""
        import av

        # A second reader of the same file: the video reader demuxes only video, and reading audio
        # alongside, a little ahead of the video, keeps memory flat without seeking.
        self.audio_reader = av.open(self.source.spec, metadata_errors=METADATA_ERRORS)
        self.audio_in = self.audio_reader.streams.audio[0]
        if self.audio_in.codec_context is None:  # a track FFmpeg cannot decode: the video goes on alone
            self.audio_reader.close()
            self.audio_reader, self.audio_in = None, None
            self.warnings.append("audio dropped: its track cannot be read (unknown codec or corrupt header)")
            return
        self._audio_packets = self.audio_reader.demux(self.audio_in)
        self._audio_done = False
        self._audio_next: Any = None  # a packet read ahead of the video, muxed later
        self._audio_offset = self.source.start  # video time 0 is the video stream's start
        name = self.audio_in.codec_context.name
        self.copy_audio = name in self.container.supported_codecs
        if self.copy_audio:
            self.audio = self.container.add_stream_from_template(self.audio_in)
        else:
            encoder = AUDIO_CODECS.get(self.output.suffix.lower(), "aac")
            cc = self.audio_in.codec_context
            self.audio = self.container.add_stream(encoder, rate=cc.sample_rate or 48000)
            with contextlib.suppress(ValueError, AttributeError):
                self.audio.layout = cc.layout
            encoded = self.audio.codec_context.name
            self.warnings.append(
                f"audio re-encoded from {name} to {encoded}: {self.output.suffix} cannot hold {name}"
            )

    def _mux_audio(self, until: float) -> None:
        """Mux audio packets up to ``until`` seconds (video time)."""
        if self.audio is None or self._audio_done:
            return
        import av

        tb = self.audio_in.time_base
        shift = round(self._audio_offset / tb) if tb else 0
        while True:
            packet, self._audio_next = self._audio_next, None
            if packet is None:
                try:
                    packet = next(self._audio_packets)
                except (StopIteration, av.FFmpegError, OSError):
                    self._audio_done = True
                    return
            if packet.pts is None:  # the demuxer's flush packet
                continue
            t = float(packet.pts * tb) - self._audio_offset
            if t >= until:
                self._audio_next = packet  # not yet: kept for the next call
                return
            if t >= 0:
                if self.copy_audio:
                    packet.pts -= shift
                    if packet.dts is not None:
                        packet.dts -= shift
                    packet.stream = self.audio
                    self.container.mux(packet)
                else:
                    try:
                        frames = packet.decode()
                    except av.FFmpegError:
                        frames = []
                    for af in frames:
                        af.pts = af.pts - shift if af.pts is not None else None
                        for p in self.audio.encode(af):
                            self.container.mux(p)

    def write(self, frame: Frame) -> None:
        """Encode one kept frame (``frame.raw`` is the decoded ``av.VideoFrame``).

        Raises:
            OutputError: when the disk refuses the video (full); :meth:`abort` then removes it.
        """
        import av

        try:
            self._write(frame)
        except (OSError, av.FFmpegError) as e:
            raise video_error(self.output, e, self.labels) from None

    def _write(self, frame: Frame) -> None:
        vf = frame.raw
        if self.timing == "compact":
            pts = self.written
        else:
            pts = max(round(frame.time / self.time_base), self._last_pts + 1)
            self._mux_audio(frame.time + AUDIO_AHEAD)
        if not self.written:
            self._first_pts = pts
        self._last_pts = pts
        if vf.width != self.video.width or vf.height != self.video.height:
            vf = vf.reformat(width=self.video.width, height=self.video.height)
        self._mux_video(self.video.encode(stamp_frame(vf, pts, self.time_base)))
        self.written += 1

    def _mux_video(self, packets: Any) -> None:
        """Mux video packets, always holding the latest one back (see :meth:`finish`)."""
        for packet in packets:
            if self._first_dts is None:
                self._first_dts = packet.dts
            if self._held is not None:
                self.container.mux(self._held)
            self._held = packet

    def finish(self, until: float = math.inf) -> None:
        """Flush the encoders, mux the audio up to ``until`` seconds (all of it by default; an interrupted
        run stops it where its video stops), close and move into place.

        Raises:
            OutputError: when the disk refuses the end of the video (full); nothing is left behind.
        """
        import av

        try:
            self._finish(until)
        except (OSError, av.FFmpegError) as e:
            self.abort()
            raise video_error(self.output, e, self.labels) from None

    def _finish(self, until: float) -> None:
        self._mux_video(self.video.encode(None))
        last = self._held
        if last is not None:
            # A track lasts from its first packet's decode time to its last one's plus that packet's
            # duration. With B-frames and the gaps of dropped frames, the last decode time can lie far
            # before the last frame's presentation time (a held picture at the end would be cut short):
            # the last packet's duration makes up the difference, so the video ends where the input ends.
            if (
                self._dts_length
                and last.dts is not None
                and self._first_dts is not None
                and self._last_pts >= 0
            ):
                span = self._last_pts + self._step - self._first_pts  # presentation time, in ticks
                last.duration = max(last.duration or 0, self._first_dts + span - last.dts)
            self.container.mux(last)
            self._held = None
        if self.audio is not None:
            self._mux_audio(until)
            if not self.copy_audio:
                for packet in self.audio.encode(None):
                    self.container.mux(packet)
            self.audio_reader.close()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.container.close()
        os.replace(self.tmp, self.output)

    def abort(self) -> None:
        """Close and delete the partial file."""
        with contextlib.suppress(Exception):  # already failing; the temp file is removed below
            self.container.close()
        if getattr(self, "audio_in", None) is not None:
            self.audio_reader.close()
        remove_quietly(self.tmp)


class EncodeThread:
    """A :class:`VideoWriter` fed through a short queue and run on a thread of its own.

    Encoding is the slow part of writing a trimmed video. On the caller's thread the encoder would stop
    while each frame is analysed, and the analysis while each frame is encoded; on its own thread it
    runs alongside (PyAV encodes without the GIL). The queue holds a few frames at most, so memory stays
    flat: when the encoder falls behind, the caller waits. An error while encoding is raised on the
    caller's thread, by the next :meth:`write` or by :meth:`finish`.

    Args:
        writer: The video writer, opened; only this thread calls its :meth:`VideoWriter.write`.
    """

    DEPTH = 4  # decoded frames waiting for the encoder: enough to ride out uneven frame costs

    _END = object()

    def __init__(self, writer: VideoWriter) -> None:
        self.writer = writer
        self._queue: queue.Queue = queue.Queue(self.DEPTH)
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="framediff-encode", daemon=True)
        self._thread.start()

    @property
    def warnings(self) -> list[str]:
        """The writer's warnings."""
        return self.writer.warnings

    @property
    def written(self) -> int:
        """Frames encoded so far."""
        return self.writer.written

    def _run(self) -> None:
        while True:
            frame = self._queue.get()
            if frame is self._END or self._stop.is_set():
                return
            try:
                self.writer.write(frame)
            except BaseException as e:  # noqa: BLE001 - raised again on the caller's thread
                self._error = e
                self._stop.set()
                return

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def write(self, frame: Frame) -> None:
        """Queue one kept frame for encoding (waits while the queue is full).

        Raises:
            Exception: whatever encoding an earlier frame raised.
        """
        while True:
            self._raise()
            try:
                self._queue.put(frame, timeout=0.1)
                return
            except queue.Full:
                continue

    def _join(self) -> None:
        """Let the thread end (after the frames already queued, unless stopped) and wait for it."""
        while self._thread.is_alive():
            try:
                self._queue.put(self._END, timeout=0.1)
                break
            except queue.Full:
                continue
        self._thread.join()

    def finish(self, until: float = math.inf) -> None:
        """Encode the frames still queued, then finish the video (see :meth:`VideoWriter.finish`)."""
        self._join()
        self._raise()
        self.writer.finish(until=until)

    def abort(self) -> None:
        """Drop the queued frames, stop the thread and delete the partial file."""
        self._stop.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        self._join()
        self.writer.abort()
