"""How the watch loop reads a source: each frame with its pixels, their range, and (when the reading thread
has time) the analysis image and the frozen-picture probe made ahead; the decoder's threads for a file."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from ..media.frames import Frame, FrameSource, LumaFrame
from ..media.prefetch import Prefetch
from ..media.video import tune_decoder
from ..workers import usable_cores
from .options import WatchOptions, shrink_frame

__all__ = ["Item", "frame_pixels", "one_core_for_analysis", "read_frames", "frozen_probe"]


def frame_pixels(frame: Frame) -> tuple[np.ndarray, bool]:
    """The pixels to analyse and whether they are limited-range luma.

    A video's :class:`LumaFrame` hands over its decoder plane as it is: the detector stretches the range
    after shrinking, and the full-size grey picture is then never made unless a callback asks for it.
    """
    if isinstance(frame, LumaFrame):
        return frame.luma, frame.limited
    return frame.image, False


Item = tuple[Frame, np.ndarray, bool, "np.ndarray | None", "np.ndarray | None"]


def frozen_probe(pixels: np.ndarray) -> np.ndarray:
    """Every 4th pixel of every 4th row: enough to tell a frozen picture from a live one."""
    return np.ascontiguousarray(pixels[::4, ::4])


def read_frames(src: FrameSource, options: WatchOptions, queue_of: Sequence[Prefetch] = ()) -> Iterator[Item]:
    """Frames with what the loop needs of them: pixels, their range, the analysis image, the frozen probe.

    Shrinking is the only pass over the full frame, and either thread can do it (``push`` shrinks a frame
    that comes without its analysis image, the loop takes the probe when it comes without one). When read
    ahead in a thread of its own, which thread has time to spare depends on the frame size and on the
    decoder's threads, so the reader decides frame by frame: it does that work when frames are waiting in
    its queue (``queue_of[0]``, the :class:`Prefetch` it feeds: the analysis is the slower side), and
    leaves it to the analysis otherwise (the decoder is the slower side). Read in the analysing thread
    (``queue_of`` empty), it leaves everything to the analysis.
    """
    for frame in src:
        pixels, limited = frame_pixels(frame)
        if queue_of and queue_of[0].backlog >= 2:
            grey = pixels.ndim == 2 and pixels.dtype == np.uint8
            small = shrink_frame(pixels, options, limited) if grey else None
            yield frame, pixels, limited, small, frozen_probe(pixels)
        else:
            yield frame, pixels, limited, None, None


def one_core_for_analysis(src: FrameSource) -> None:
    """Leave one core to the analysis thread when decoding costs about as much as analysing.

    Up to about 1080p, decoding a frame on one core takes about as long as analysing it (2.4 and 2 ms
    here), so the best split is one core each. FFmpeg's default (as many frame threads as cores, plus
    one) then only competes with the analysis for the same cores and adds its own hand-offs: on 2 cores
    a 1080p30 clip ran at 10-11.5x real time with it and 12-13.5x with one decoder thread (3.1-3.5
    against 2.7-2.9 CPU-s for 600 frames). Larger frames cost several times more to decode than to
    analyse, and keep FFmpeg's threads (on 2 cores 4K ran at 4.5-4.8x with them, 3.6-3.8x without).
    """
    stream = getattr(src, "stream", None)
    size = src.size
    if stream is None or size is None or size[0] * size[1] > 2_300_000:
        return
    # 16: FFmpeg's own cap on automatic threads; a decoder that is already open keeps its threads.
    tune_decoder(stream, thread_type="FRAME", thread_count=min(16, max(1, usable_cores() - 1)))
