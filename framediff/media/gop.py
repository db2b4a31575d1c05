"""Decode a video file on every core at once, one run of groups of pictures (GOPs) per worker.

FFmpeg's own frame threads decode neighbouring frames side by side, but each thread waits on the rows of
the frames it references, and the hand-offs cost: on 2 cores, 8 frame threads used ~20% more CPU than one
thread decoding the same 1080p H.264 frames (``benchmarks/PROFILE.md``, session 7). A file can be split
instead where decoding can start afresh, at its key frames: one thread reads the packets and cuts them into
chunks that each begin at a key frame; every worker decodes whole chunks with a single-threaded decoder of
its own and runs a ``prepare`` function on each frame (the shrinking for analysis, so that runs on every
core too); the frames come out in presentation order, numbered and timed as :class:`VideoSource` gives
them.

The frames are the very frames one decoder gives: a decoder that starts at a key frame reproduces every
frame from it on (FFmpeg's decoders are bit-exact whatever their threads). An open GOP's *leading*
pictures (after its key frame in decoding order but before it on screen) may reference the previous
chunk; the previous chunk's worker decodes them, with the key frame, before finishing. A chunk without
leading pictures costs the previous worker nothing more: it drains its decoder instead.

Memory stays bounded: at most ``workers + 2`` chunks are read ahead, their undecoded packets are capped
in bytes, and each chunk's prepared frames wait in a bounded queue until the consumer reaches them.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from ..workers import usable_cores
from .frames import Frame
from .prefetch import Raised, put_unless_stopped
from .video import METADATA_ERRORS, VideoSource, av_reason, tune_decoder

__all__ = ["GopDecoder", "suits"]

T = TypeVar("T")

MIN_CHUNK = 24  # packets: all-intra video (every packet a key frame) is still cut into useful pieces
PROBE_PACKETS = 600  # packets read by suits() to count chunks
CHUNKS_PER_WORKER = 4  # fewer, and the last chunks leave cores idle (suits())
AHEAD = 256  # prepared frames a chunk may hold on 2 workers (~50 MB for dedup); shared out on more
PACKET_BYTES = 64_000_000  # undecoded packets read ahead, at most (beyond a chunk's leading packets)
_END = object()


def _starts_chunk(packet: Any, count: int, top: int | None) -> bool:
    """Whether a chunk may start at ``packet``, ``count`` packets into the current one.

    Only at a key frame, at least ``MIN_CHUNK`` packets on, and shown after every frame before it (``top``:
    the highest timestamp so far): where timestamps jump back (joined files, a wrap), "before the key
    frame" would mean another chunk's frames.
    """
    return (
        packet.is_keyframe
        and packet.pts is not None
        and count >= MIN_CHUNK
        and (top is None or packet.pts > top)
    )


class _Chunk:
    """Packets from one key frame up to the next chunk's key frame, and the frames decoded from them."""

    __slots__ = ("seq", "key", "packets", "lead", "lead_done", "closed", "out")

    def __init__(self, seq: int, key: int | None, ahead: int) -> None:
        self.seq = seq
        self.key = key  # pts of its first packet, a key frame (None: a file that starts elsewhere)
        self.packets: deque[Any] = deque()  # not yet taken by its worker
        # Its key packet and the packets right after it that are shown before it: what the previous
        # chunk's worker decodes to finish its own frames (an open GOP's leading pictures).
        self.lead: list[Any] = []
        self.lead_done = False
        self.closed = False  # every packet is in
        self.out: queue.Queue = queue.Queue(ahead)


def suits(source: VideoSource, workers: int | None = None) -> bool:
    """Whether :class:`GopDecoder` can decode ``source``, and faster than FFmpeg's own threads would.

    It needs a file (not a live stream), two cores or more, presentation timestamps on the packets, and
    enough chunks to share out: at least ``CHUNKS_PER_WORKER`` a worker, counted on the file's first
    ``PROBE_PACKETS`` packets (read with a separate demuxer, so ``source`` is untouched) and scaled to its
    length. With fewer, the last long chunk is decoded on one core while the others wait (a 360-frame 4K
    clip in 3 chunks took 5.4 s this way, 4.7 s with FFmpeg's threads); with one long GOP the whole video
    would be.

    Args:
        source: The opened video.
        workers: The workers that would decode it (default: one a core).

    Returns:
        True when the GOP-parallel decoder should be used.
    """
    import av

    workers = workers or usable_cores()
    if source.live or workers < 2:
        return False
    starts, count, n, ended = 0, 0, 0, True
    top: int | None = None
    try:
        with av.open(source.spec, metadata_errors=METADATA_ERRORS) as container:
            stream = container.streams.video[source.stream.index]
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if n >= PROBE_PACKETS:
                    ended = False
                    break
                if packet.pts is None:
                    return False
                if n == 0 or _starts_chunk(packet, count, top):  # as the demuxer cuts them
                    starts, count = starts + 1, 0
                top = packet.pts if top is None else max(top, packet.pts)
                count += 1
                n += 1
    except (av.FFmpegError, OSError, IndexError):
        return False
    if n == 0:
        return False
    total = float(n)
    if not ended:
        frames = source.frame_count or ((source.duration or 0.0) * (source.fps or 0.0))
        total = max(float(frames or 0.0), float(n))
    return starts * total / n >= CHUNKS_PER_WORKER * workers


class GopDecoder(Generic[T]):
    """Decode a video file chunk by chunk on several workers; iterate ``(index, time, prepared)``.

    Example::

        with open_source("clip.mp4", gray=True) as src:
            src.raw_luma = True
            if suits(src):
                with GopDecoder(src, lambda frame: frame.image.mean()) as frames:
                    for index, time, value in frames:
                        ...

    Args:
        source: The opened video (its ``gray``/``raw_luma`` settings shape the frames ``prepare`` gets).
            Its demuxer is read by this decoder: do not iterate the source as well.
        prepare: Runs in a worker on each decoded frame (a :class:`~framediff.sources.Frame` whose
            ``raw`` is the decoder's frame, valid only during the call); what it returns is yielded.
        workers: Decoding threads (default: one a core).
        options: FFmpeg decoder options for the workers' decoders (none by default: every frame decoded
            fully, exactly as by one decoder).
        ahead: Prepared frames a chunk may hold before the consumer reaches it (default: ``AHEAD``
            shared out among the workers, at least 32 each, so memory does not grow with the cores).
    """

    def __init__(
        self,
        source: VideoSource,
        prepare: Callable[[Frame], T],
        *,
        workers: int | None = None,
        options: dict[str, str] | None = None,
        ahead: int | None = None,
    ) -> None:
        self._src = source
        self._prepare = prepare
        self._workers = max(1, int(workers or usable_cores()))
        self._options = dict(options or {})
        self._ahead = max(1, int(ahead)) if ahead else max(32, 2 * AHEAD // self._workers)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._chunks: dict[int, _Chunk] = {}
        self._made = 0  # chunks made by the demuxer
        self._taken = 0  # chunks taken by workers
        self._consumed = 0  # chunks the consumer has finished
        self._bytes = 0  # undecoded packet bytes held
        self._demux_done = False
        self._error: BaseException | None = None
        self._worker_error: BaseException | None = None  # a worker that could not start (others may)
        self._truncated = False  # the demuxer stopped on an error (warned; no end checks then)
        self._iterated = False
        self._threads = [threading.Thread(target=self._demux, name="framediff-demux", daemon=True)]
        self._threads += [
            threading.Thread(target=self._work, name=f"framediff-gop-{i}", daemon=True)
            for i in range(self._workers)
        ]
        for t in self._threads:
            t.start()

    # -- the demuxer -------------------------------------------------------------------------------------

    def _demux(self) -> None:
        import av

        src = self._src
        cur: _Chunk | None = None
        count = 0  # packets in the current chunk
        last_pts: int | None = None
        top: int | None = None  # the highest timestamp so far
        try:
            for packet in src.container.demux(src.stream):
                if packet.size == 0:  # the demuxer's end-of-stream marker
                    continue
                starts = cur is None or _starts_chunk(packet, count, top)
                if packet.pts is not None:
                    top = packet.pts if top is None else max(top, packet.pts)
                with self._cond:
                    if starts:
                        if cur is not None:
                            cur.closed = cur.lead_done = True
                        while not self._stop.is_set() and (
                            self._made - self._consumed > self._workers + 1 or self._bytes > PACKET_BYTES
                        ):
                            self._cond.wait(0.1)
                        if self._stop.is_set():
                            return
                        # The first chunk of a file that does not start at a key frame has no key.
                        key = packet.pts if packet.is_keyframe else None
                        cur = _Chunk(self._made, key, self._ahead)
                        self._chunks[cur.seq] = cur
                        self._made += 1
                        count = 0
                        cur.lead.append(packet)
                    elif not cur.lead_done:
                        if cur.key is not None and packet.pts is not None and packet.pts < cur.key:
                            cur.lead.append(packet)
                        else:
                            cur.lead_done = True
                    else:
                        # Read ahead by bytes too: one long GOP must not be held whole in memory.
                        while not self._stop.is_set() and self._bytes > PACKET_BYTES:
                            self._cond.wait(0.1)
                        if self._stop.is_set():
                            return
                    cur.packets.append(packet)
                    count += 1
                    self._bytes += packet.size
                    last_pts = packet.pts if packet.pts is not None else last_pts
                    self._cond.notify_all()
        except av.error.EOFError:
            pass
        except (av.FFmpegError, OSError) as e:
            where = f"{float(last_pts * src.stream.time_base):.2f} s" if last_pts is not None else "the start"
            src.warnings.append(
                f"stopped reading at {where}: the file is truncated or corrupt ({av_reason(e)})"
            )
            self._truncated = True
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            self._fail(e)
        finally:
            with self._cond:
                if cur is not None:
                    cur.closed = cur.lead_done = True
                self._demux_done = True
                self._cond.notify_all()

    # -- the workers -------------------------------------------------------------------------------------

    def _work(self) -> None:
        import av

        try:
            with av.open(self._src.spec, metadata_errors=METADATA_ERRORS) as container:
                stream = container.streams.video[self._src.stream.index]
                # One thread a worker: the workers are the parallelism.
                tune_decoder(stream, thread_type="NONE", thread_count=1, options=self._options)
                cc = stream.codec_context
                used = False
                while True:
                    with self._cond:
                        while not self._stop.is_set() and self._taken not in self._chunks:
                            if self._demux_done and self._taken >= self._made:
                                return
                            self._cond.wait(0.1)
                        if self._stop.is_set():
                            return
                        chunk = self._chunks[self._taken]
                        self._taken += 1
                    try:
                        if used:
                            cc.flush_buffers()  # a fresh start at the key frame (ends the drained state too)
                        used = True
                        self._decode_chunk(cc, chunk)
                    except BaseException as e:  # noqa: BLE001 - raised where the consumer reads this chunk
                        self._put(chunk.out, Raised(e))
                        return
        except BaseException as e:  # noqa: BLE001 - raised by the consumer if no worker is left
            with self._cond:
                self._worker_error = self._worker_error or e
                self._cond.notify_all()

    def _decode_chunk(self, cc: Any, chunk: _Chunk) -> None:
        lo = chunk.key
        started = lo is None

        def emit(f: Any) -> bool:
            nonlocal started
            # Frames shown before this chunk's key frame are the previous chunk's (its worker decodes
            # them); they come out first, before the key frame (a later jump back in time is ours).
            if not started:
                if f.pts is not None and f.pts < lo:
                    return True
                started = True
            return self._put(chunk.out, (f.pts, self._prepare(self._src.make_frame(-1, 0.0, f))))

        while True:
            with self._cond:
                while not chunk.packets and not chunk.closed and not self._stop.is_set():
                    self._cond.wait(0.1)
                if self._stop.is_set():
                    return
                if not chunk.packets:
                    break
                packet = chunk.packets.popleft()
                self._bytes -= packet.size
                self._cond.notify_all()
            for f in self._decode(cc, packet):
                if not emit(f):
                    return
        # The next chunk's key frame ends this one: wait until its leading packets are known.
        with self._cond:
            nxt = None
            while not self._stop.is_set():
                nxt = self._chunks.get(chunk.seq + 1)
                if (nxt is not None and nxt.lead_done) or (
                    nxt is None and self._demux_done and chunk.seq + 1 >= self._made
                ):
                    break
                self._cond.wait(0.1)
            if self._stop.is_set():
                return
        hi = nxt.key if nxt is not None else None
        if nxt is not None and hi is not None and len(nxt.lead) > 1:
            # Leading pictures: shown before the next key frame, so ours, but decoded after it.
            for packet in nxt.lead:
                for f in self._decode(cc, packet, quiet=True):  # its own worker reports a bad packet
                    if (f.pts is None or f.pts < hi) and not emit(f):
                        return
        # Drain: the frames the decoder still holds back for reordering. A chunk starts past every earlier
        # timestamp, so whatever comes out before the next key frame is ours.
        for f in self._decode(cc, None):
            if (hi is None or f.pts is None or f.pts < hi) and not emit(f):
                return
        self._put(chunk.out, _END)

    def _decode(self, cc: Any, packet: Any, quiet: bool = False) -> list:
        import av

        try:
            return cc.decode(packet)
        except av.error.EOFError:
            return []
        except av.FFmpegError as e:
            if quiet:
                return []
            where = ""
            if packet is not None and packet.pts is not None:
                where = f" at {float(packet.pts * self._src.stream.time_base):.2f} s"
            self._src.warnings.append(f"skipped a corrupt packet{where}: {av_reason(e)}")
            return []

    def _put(self, q: queue.Queue, item: Any) -> bool:
        # Closing must be able to stop a worker whose chunk waits for the consumer.
        return put_unless_stopped(q, item, self._stop)

    def _fail(self, error: BaseException) -> None:
        with self._cond:
            if self._error is None:
                self._error = error
            self._cond.notify_all()

    # -- the consumer ------------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[tuple[int, float, T]]:
        """``(index, time, prepared)`` for every frame in presentation order, timed as VideoSource times
        them (seconds from the stream's start; a frame without a timestamp follows the last by one frame).

        Raises:
            SourceError: when the file holds no decodable frame.
        """
        if self._iterated:  # read once, as a VideoSource is
            return
        self._iterated = True
        src = self._src
        tb = src.stream.time_base
        index, last = 0, -1.0
        seq = 0
        while True:
            with self._cond:
                while seq not in self._chunks and not (self._demux_done and seq >= self._made):
                    if self._stop.is_set():
                        return
                    self._stuck()
                    self._cond.wait(0.1)
                chunk = self._chunks.get(seq)
            if chunk is None:
                break
            while True:
                try:
                    item = chunk.out.get(timeout=0.1)
                except queue.Empty:
                    if self._stop.is_set():
                        return
                    self._stuck()
                    continue
                if item is _END:
                    break
                if isinstance(item, Raised):
                    raise item.error
                pts, prepared = item
                t = last = src.frame_time(float(pts * tb) if pts is not None and tb else None, index, last)
                yield index, t, prepared
                index += 1
            with self._cond:
                del self._chunks[seq]
                self._consumed = seq + 1
                self._cond.notify_all()
            seq += 1
        if self._error is not None:  # the demuxer failed: the frames before it were given, now the error
            raise self._error
        if not self._truncated:  # a truncated file was warned about already, as VideoSource does
            src.finish(index, last)

    def _stuck(self) -> None:
        """Raise a thread's error once nothing more can come: no worker left to decode."""
        if (self._error or self._worker_error) and not any(t.is_alive() for t in self._threads[1:]):
            raise self._error or self._worker_error  # type: ignore[misc]

    def close(self) -> None:
        """Stop the threads and wait for them (none is left inside a decode of a closed file)."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        for t in self._threads:
            while t.is_alive():
                for chunk in list(self._chunks.values()):
                    with contextlib.suppress(queue.Empty):
                        while True:  # free a blocked put
                            chunk.out.get_nowait()
                t.join(timeout=0.05)
        self._chunks.clear()

    def __enter__(self) -> GopDecoder[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
