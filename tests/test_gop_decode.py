"""The GOP-parallel decoder: the same frames, times and dedup decisions as one decoder, in order.

Clips are made here with PyAV (libx264) from a real photo, panning with a little noise so that every frame
differs, with a key frame every 12 frames and B-frames; the open-GOP clip has leading pictures (B-frames
decoded after a key frame but shown before it), which the previous chunk's worker must decode.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from framediff.dedup import DedupInterrupted, dedup_video
from framediff.gop_decode import GopDecoder, suits
from framediff.media import gop as gop_decode
from framediff.sources import open_source

from .conftest import photo_bgr, write_video

X264 = "keyint=12:min-keyint=12:scenecut=0:bframes=3"


def _frames(n: int = 100) -> list[np.ndarray]:
    base = cv2.resize(photo_bgr("astronaut"), (480, 240), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(7)
    out = []
    for i in range(n):
        # A pan that holds every 4th frame (repeats for dedup), with fresh grain on every frame.
        x = (i - i // 4) % 160
        noise = rng.integers(-3, 4, (240, 320, 3))
        out.append(np.clip(base[:, x : x + 320].astype(np.int16) + noise, 0, 255).astype(np.uint8))
    return out


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("gop")
    frames = _frames()
    return {
        "closed": write_video(d / "closed.mp4", frames, options={"x264-params": X264}),
        "open": write_video(d / "open.mkv", frames, options={"x264-params": X264 + ":open-gop=1"}),
        "one_gop": write_video(d / "one_gop.mp4", frames),
    }


def _sequential(path: Path) -> list[tuple[float, np.ndarray]]:
    with open_source(path, gray=True) as src:
        return [(f.time, f.image.copy()) for f in src]


def _parallel(path: Path, workers: int = 2) -> list[tuple[int, float, np.ndarray]]:
    with (
        open_source(path, gray=True) as src,
        GopDecoder(src, lambda f: f.image.copy(), workers=workers) as frames,
    ):
        return list(frames)


def _leading_pictures(path: Path) -> int:
    """Packets that follow a key frame in decoding order but are shown before it."""
    with av.open(str(path)) as c:
        key, count = None, 0
        for p in c.demux(c.streams.video[0]):
            if p.size == 0:
                continue
            if p.is_keyframe:
                key = p.pts
            elif key is not None and p.pts < key:
                count += 1
        return count


@pytest.mark.parametrize("kind", ["closed", "open"])
@pytest.mark.parametrize("workers", [2, 3])
def test_frames_and_times_are_exactly_one_decoders(clips: dict[str, Path], kind: str, workers: int) -> None:
    if kind == "open":
        assert _leading_pictures(clips[kind]) > 0, "the open-GOP clip must have leading pictures"
    want = _sequential(clips[kind])
    got = _parallel(clips[kind], workers)
    assert len(want) == len(got) == 100
    assert [i for i, _, _ in got] == list(range(100))
    for (t0, a), (_, t1, b) in zip(want, got, strict=True):
        assert t0 == t1
        assert np.array_equal(a, b)


@pytest.fixture
def any_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clips here are short (5 chunks): let dedup use the GOP decoder on them whatever the cores."""
    monkeypatch.setattr(gop_decode, "CHUNKS_PER_WORKER", 0)


def test_suits_files_with_enough_chunks_for_the_workers(
    clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # 100 frames, a key frame every 12, chunks of at least 24 packets: 5 chunks (1 for one GOP).
    assert gop_decode.CHUNKS_PER_WORKER * 2 > 5, "the default asks for more than 5 chunks for 2 workers"
    for kind in ("closed", "open", "one_gop"):
        with open_source(clips[kind], gray=True) as src:
            assert not suits(src, workers=2), kind
            assert not suits(src, workers=1), kind  # one worker: FFmpeg's threads do better
    monkeypatch.setattr(gop_decode, "CHUNKS_PER_WORKER", 2)
    for kind, expected in (("closed", True), ("open", True), ("one_gop", False)):
        with open_source(clips[kind], gray=True) as src:
            assert suits(src, workers=2) is expected, kind


def test_dry_run_decides_exactly_as_with_one_decoder(
    clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, any_chunks: None
) -> None:
    parallel_csv, single_csv = tmp_path / "parallel.csv", tmp_path / "single.csv"
    used = []
    real = gop_decode.GopDecoder

    def spy(*args, **kwargs):  # the real decoder, only noting that it was used
        used.append(True)
        return real(*args, **kwargs)

    monkeypatch.setattr(gop_decode, "GopDecoder", spy)
    a = dedup_video(clips["open"], dry_run=True, report=parallel_csv)
    assert used, "a dry run of a file with key frames uses the GOP decoder"
    monkeypatch.setattr(gop_decode, "suits", lambda src: False)
    b = dedup_video(clips["open"], dry_run=True, report=single_csv)
    assert len(used) == 1
    assert parallel_csv.read_text() == single_csv.read_text()
    assert a.frames == b.frames == 100 and a.kept == b.kept
    # The pan holds every 4th frame: only those repeats may be dropped (most are; a key frame
    # re-encodes the grain of some), every moving frame is kept.
    rows = [line.split(",") for line in parallel_csv.read_text().splitlines()[1:]]
    dropped = [int(r[0]) for r in rows if r[3] == "drop"]
    assert all(i % 4 == 0 for i in dropped)
    assert len(dropped) >= 12


def test_truncated_file_gives_the_frames_before_the_cut(
    clips: dict[str, Path], tmp_path: Path, any_chunks: None
) -> None:
    data = clips["open"].read_bytes()
    cut = tmp_path / "cut.mkv"  # Matroska can be cut anywhere
    cut.write_bytes(data[: len(data) * 6 // 10])
    with open_source(cut, gray=True) as src:
        assert suits(src)
        frames = _parallel(cut)
    want = _sequential(clips["open"])
    assert 30 < len(frames) < 100
    assert [t for t, _ in want[: len(frames)]] == [t for _, t, _ in frames]
    # Every frame before the last complete chunk is exact.
    assert all(np.array_equal(a, b) for (_, a), (_, _, b) in zip(want[:24], frames[:24], strict=True))
    result = dedup_video(cut, dry_run=True)
    assert 30 < result.frames < 100
    assert result.warnings, "a truncated input must say so"


def test_stopping_early_ends_every_thread(clips: dict[str, Path]) -> None:
    with open_source(clips["closed"], gray=True) as src, GopDecoder(src, lambda f: f.image.copy()) as frames:
        for i, _, _ in frames:
            if i == 5:
                break
    left = [t.name for t in threading.enumerate() if t.name.startswith(("framediff-gop", "framediff-demux"))]
    assert left == []


def test_ctrl_c_stops_a_parallel_dry_run_between_frames(
    clips: dict[str, Path], tmp_path: Path, any_chunks: None
) -> None:
    report = tmp_path / "r.csv"

    def ctrl_c(done: int) -> None:
        if 40 < done < 60:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, delivered to this (main) thread

    with pytest.raises(DedupInterrupted) as e:
        dedup_video(clips["closed"], dry_run=True, report=report, progress=ctrl_c)
    result = e.value.result
    assert 40 < result.frames < 100
    rows = report.read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(result.frames))
    left = [t.name for t in threading.enumerate() if t.name.startswith(("framediff-gop", "framediff-demux"))]
    assert left == []


def test_timestamps_that_jump_back_lose_no_frame(clips: dict[str, Path], tmp_path: Path) -> None:
    # Two MPEG-TS files joined end to end (as `cat` joins recordings): the second one's timestamps
    # start again from the first one's start.
    frames = _frames(60)
    parts = [
        write_video(tmp_path / f"part{i}.ts", frames[i * 30 : i * 30 + 30] * 2, options={"x264-params": X264})
        for i in range(2)
    ]
    joined = tmp_path / "joined.ts"
    joined.write_bytes(parts[0].read_bytes() + parts[1].read_bytes())
    want = _sequential(joined)
    got = _parallel(joined)
    assert len(want) == len(got) == 120
    assert [t for t, _ in want] == [t for _, t, _ in got]
    assert all(np.array_equal(a, b) for (_, a), (_, _, b) in zip(want, got, strict=True))


def test_a_second_pass_gives_nothing_and_ends(clips: dict[str, Path]) -> None:
    with open_source(clips["closed"], gray=True) as src, GopDecoder(src, lambda f: None) as frames:
        assert len(list(frames)) == 100
        assert list(frames) == []
    assert list(frames) == []  # after closing too


def test_dry_runs_the_real_run_and_the_api_score_every_frame_alike(
    clips: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 25 item 12, one decision path: on H.264 with B-frames and grain, where a dry run that skipped
    deblocking scored 52 of the 100 frames differently from ``-o`` (and so could decide differently on a
    frame near the threshold), the sequential dry run, the GOP-parallel dry run, the real run and the
    Python API give the same score and decision for every frame."""
    from framediff.dedup import Deduplicator

    path = clips["closed"]
    reports = {name: tmp_path / f"{name}.csv" for name in ("dry", "parallel", "real")}
    monkeypatch.setattr(gop_decode, "suits", lambda src: False)
    dedup_video(path, dry_run=True, report=reports["dry"])
    monkeypatch.undo()
    monkeypatch.setattr(gop_decode, "CHUNKS_PER_WORKER", 0)  # 5 chunks: the GOP decoder takes the file
    with open_source(path, gray=True) as src:
        assert suits(src, workers=2)
    dedup_video(path, dry_run=True, report=reports["parallel"])
    dedup_video(path, tmp_path / "out.mp4", report=reports["real"])
    real = reports["real"].read_text()
    assert reports["dry"].read_text() == real
    assert reports["parallel"].read_text() == real
    rows = [line.split(",") for line in real.splitlines()[1:]]
    assert len(rows) == 100 and {r[3] for r in rows} == {"keep", "drop"}
    for gray in (True, False):
        dd = Deduplicator()
        with open_source(path, gray=gray) as src:
            api = [(f"{d.score:.3f}", d.action) for _, d in dd.run(src)]
        assert api == [(r[2], r[3]) for r in rows], f"gray={gray}"
