"""Video files and network streams decoded by PyAV (FFmpeg): :class:`VideoSource`, and
:func:`tune_decoder`, the one place a decoder's threads and options are set.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ..errors import SourceError
from .frames import Frame, FrameSource, LumaFrame, is_limited_range, luma_plane

__all__ = ["METADATA_ERRORS", "VideoSource", "av_reason", "tune_decoder"]


# How PyAV decodes a file's tags (title, encoder...): by default strictly as UTF-8, so one stray byte in a
# tag raises UnicodeDecodeError and the whole video is lost. Every reader opens files with this.
METADATA_ERRORS = "replace"

# FFmpeg demuxers that turn text files into pictures of the text.
_TEXT_FORMATS = {"tty", "bin", "idf", "xbin", "adf"}


def av_reason(e: BaseException) -> str:
    """FFmpeg's own short reason, without PyAV's errno prefix and file name.

    Args:
        e: What PyAV raised.

    Returns:
        The reason, without a final full stop.
    """
    reason = getattr(e, "strerror", None) or str(e)
    return str(reason).strip().rstrip(".")


def tune_decoder(
    stream: Any,
    *,
    thread_type: str | None = None,
    thread_count: int | None = None,
    skip_loop_filter: bool = False,
    options: dict[str, str] | None = None,
) -> bool:
    """Set a video stream's decoder up before it opens (on the first packet): threads and codec options.

    Args:
        stream: The PyAV video stream.
        thread_type: ``AUTO`` (frame and slice threads), ``FRAME``, ``SLICE`` or ``NONE``; ``None`` keeps it.
        thread_count: Decoder threads; ``None`` keeps FFmpeg's choice.
        skip_loop_filter: Skip H.264/HEVC deblocking (faster; slightly blockier pixels).
        options: More FFmpeg codec options, laid over the stream's.

    Returns:
        False when the decoder refused (it is already open, or PyAV has no codec options): it decodes as
        it was set before.
    """
    try:
        if thread_type is not None:
            stream.thread_type = thread_type
        if thread_count is not None:
            stream.thread_count = thread_count
        extra = dict(options or {})
        if skip_loop_filter:
            # The deblocking filter only smooths block edges; analysis at reduced size does not need it.
            # PyAV has no attribute for it: pass FFmpeg's codec option.
            extra["skip_loop_filter"] = "all"
        if extra:
            cc = stream.codec_context
            cc.options = {**cc.options, **extra}
    except Exception:  # noqa: BLE001 - an open decoder keeps its settings
        return False
    return True


class VideoSource(FrameSource):
    """A video file or network stream decoded by PyAV (FFmpeg), with true presentation timestamps.

    Set ``raw_luma = True`` (with ``gray=True``) to get the decoder's luma plane as it is: a read-only view,
    valid while its frame lives, not stretched from limited range. Readers that shrink frames first
    (``dedup``) save a full-size copy per frame that way.
    """

    raw_luma: bool = False

    def __init__(
        self,
        spec: str,
        *,
        gray: bool = False,
        live: bool = False,
        timeout: float = 10.0,
        threads: bool = True,
        skip_loop_filter: bool = False,
    ) -> None:
        super().__init__()
        import av

        self.spec = spec
        self.gray = gray
        self.live = live
        self._ended = False
        options = {}
        if live and spec.lower().startswith("rtsp"):
            options["rtsp_transport"] = "tcp"  # UDP loses packets on busy networks: smeared frames
        try:
            self.container = av.open(
                spec,
                mode="r",
                timeout=(timeout, timeout) if live else None,
                options=options,
                metadata_errors=METADATA_ERRORS,
            )
        except av.error.FileNotFoundError:
            raise SourceError(f"{spec}: no such file", "check the path") from None
        except (av.error.TimeoutError, av.error.ConnectionRefusedError, OSError) as e:
            raise SourceError(
                f"cannot open {spec}: {av_reason(e)}", "check the address and that it is streaming"
            ) from None
        except av.FFmpegError as e:
            what = "stream" if live else "video"
            raise SourceError(
                f"{spec} is not a {what} framediff can read: {av_reason(e)}",
                "give a video file (mp4, mkv, webm, avi...)",
            ) from None
        if self.container.format.name in _TEXT_FORMATS:
            # FFmpeg renders plain text (.txt, .ans...) as "video"; nobody means that.
            self.container.close()
            raise SourceError(
                f"{spec} is not a video framediff can read: it is text",
                "give a video file (mp4, mkv, webm, avi...)",
            )
        if not self.container.streams.video:
            self.container.close()
            raise SourceError(f"{spec} has no video stream", "give a file with video in it")
        self.stream = self.container.streams.video[0]
        if self.stream.codec_context is None:  # FFmpeg has no decoder for what the header says it holds
            self.container.close()
            raise SourceError(
                f"{spec} holds video framediff cannot decode (an unknown codec, or a corrupt header)",
                "check the file plays, or convert it to H.264",
            )
        tune_decoder(
            self.stream,
            thread_type="AUTO" if threads else None,  # frame + slice threads: decoding is the bottleneck
            skip_loop_filter=skip_loop_filter,
        )
        cc = self.stream.codec_context
        self.size = (cc.width, cc.height) if cc.width else None
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.fps = float(rate) if rate else None
        self.frame_count = self.stream.frames or None
        tb = self.stream.time_base
        self.start = float(self.stream.start_time * tb) if self.stream.start_time is not None and tb else 0.0
        self.duration = (
            float(self.stream.duration * tb)
            if self.stream.duration and tb
            else (self.container.duration / 1e6 if self.container.duration else None)
        )

    def __iter__(self) -> Iterator[Frame]:
        import av

        if self._ended:  # a file is read once; iterating again gives nothing, as before
            return
        index = 0
        last_time = -1.0
        try:
            for packet in self.container.demux(self.stream):
                try:
                    decoded = packet.decode()
                except av.error.InvalidDataError as e:
                    self.warnings.append(f"skipped a corrupt packet near frame {index}: {av_reason(e)}")
                    continue
                for f in decoded:
                    t = last_time = self.frame_time(f.time, index, last_time)
                    yield self.make_frame(index, t, f)
                    index += 1
        except av.error.EOFError:
            pass
        except (av.FFmpegError, OSError) as e:
            if self.live:
                raise SourceError(f"lost {self.spec}: {av_reason(e)}", "it will be reopened") from None
            self._ended = True
            self.warnings.append(
                f"stopped after frame {index - 1}: the file is truncated or corrupt ({av_reason(e)})"
            )
            return
        self.finish(index, last_time)

    def finish(self, frames: int, last_time: float) -> None:
        """Check a finished read against the file's header: warn about a truncated file, fail on an empty one.

        Called at the end of :meth:`__iter__`, and by readers that demux the file themselves
        (:class:`~framediff.media.gop.GopDecoder`).

        Args:
            frames: Frames decoded.
            last_time: The last frame's time in seconds.

        Raises:
            SourceError: when no frame could be decoded.
        """
        self._ended = True
        if self.live:
            return
        fps = self.fps or 30.0
        if frames == 0:
            raise SourceError(f"{self.spec} holds no decodable video frames", "check the file plays")
        # FFmpeg ends quietly at a truncated file's end; the header says how much there should have been.
        if self.frame_count and frames < self.frame_count:
            self.warnings.append(
                f"decoded {frames} of {self.frame_count} frames: the file is truncated or corrupt"
            )
        elif not self.frame_count and self.duration and last_time < self.duration - max(3.0 / fps, 0.5):
            self.warnings.append(
                f"frames stop at {last_time:.2f} s of {self.duration:.2f} s: the file is truncated or corrupt"
            )

    def frame_time(self, seconds: float | None, index: int, last: float) -> float:
        """A decoded frame's time from the stream's start (readers that decode the file themselves use it too).

        Args:
            seconds: The frame's timestamp in seconds (``None`` when it has none).
            index: The frame's number.
            last: The previous frame's time.

        Returns:
            Its timestamp less the stream's start, or, without one, one frame after the previous frame.
        """
        if seconds is not None:
            return seconds - self.start
        return last + 1.0 / (self.fps or 30.0) if index else 0.0

    def make_frame(self, index: int, t: float, f: Any) -> Frame:
        """The :class:`Frame` this source yields for the decoder's frame ``f`` (grey or BGR, as set).

        Args:
            index: The frame's number.
            t: Its time in seconds.
            f: The decoder's frame (PyAV).

        Returns:
            A Frame, a LumaFrame, or with ``raw_luma`` a Frame viewing the decoder's luma plane.
        """
        if self.gray:
            luma = luma_plane(f)
            if luma is not None:
                if self.raw_luma:
                    return Frame(index, t, luma, f)
                # Limited-range video stores black..white as 16..235: LumaFrame stretches it as a
                # BGR conversion would (when asked), so grey frames match to_gray() of colour frames.
                return LumaFrame(index, t, luma, f, limited=is_limited_range(f))
            return Frame(index, t, f.to_ndarray(format="gray"), f)
        return Frame(index, t, f.to_ndarray(format="bgr24"), f)

    def close(self) -> None:
        # Closing a broken stream must not mask the real error.
        with contextlib.suppress(Exception):
            self.container.close()
