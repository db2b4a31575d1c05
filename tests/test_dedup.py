"""Behaviour of ``framediff dedup`` on clips made here with PyAV from real photos (skimage.data).

The test clip (30 fps, 320x240, 4 s, H.264 + AAC) has known truth:

    frames   0-9    slow pan, 1 px a frame             all unique
    frames  10-29   one photo held                     10 unique, 11-29 repeats
    frames  30-59   slow cross-fade, 1/31 a frame      all unique
    frames  60-89   text screen, 2x12 px caret         unique when the caret toggles (every 5 frames)
    frames  90-119  small ball, stalls every 3rd frame  repeats at the stalls

and a 1 kHz beep from 2.0 s to 2.2 s, exactly when the text screen cuts in (frame 60).
"""

from __future__ import annotations

import csv
import math
import os
import signal
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from skimage import data

from framediff.cli import main
from framediff.dedup import DedupInterrupted, Deduplicator, dedup_video
from framediff.errors import OptionError

FPS = 30
W, H = 320, 240
RATE = 48000
CUT = 60  # first frame of the text screen, at 2.0 s, where the beep starts


def _crop(photo: np.ndarray, x: int, y: int) -> np.ndarray:
    big = cv2.resize(cv2.cvtColor(photo, cv2.COLOR_RGB2BGR), (W * 2, H * 2), interpolation=cv2.INTER_AREA)
    return big[y : y + H, x : x + W].copy()


def _frames() -> tuple[list[np.ndarray], list[bool]]:
    """The clip's frames and, per frame, whether it repeats the previous one."""
    astronaut, coffee, chelsea = data.astronaut(), data.coffee(), data.chelsea()
    frames: list[np.ndarray] = []
    for i in range(10):
        frames.append(_crop(astronaut, 100 + i, 60))
    held = _crop(coffee, 120, 80)
    frames += [held] * 20
    cat = _crop(chelsea, 80, 60)
    for i in range(30):
        frames.append(cv2.addWeighted(held, 1 - (i + 1) / 31, cat, (i + 1) / 31, 0))
    screen = np.full((H, W, 3), 245, np.uint8)
    for r in range(6):
        cv2.putText(
            screen,
            f"line {r} of some text",
            (10, 30 + 30 * r),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.5,
            (20, 20, 20),
            1,
        )
    for i in range(30):
        f = screen.copy()
        if (i // 5) % 2 == 0:
            cv2.rectangle(f, (200, 150), (201, 161), (0, 0, 0), -1)
        frames.append(f)
    for i in range(30):
        f = cat.copy()
        cv2.circle(f, (40 + 4 * (i - i // 3), 120), 5, (0, 0, 255), -1)
        frames.append(f)
    repeats = [i > 0 and np.array_equal(frames[i], frames[i - 1]) for i in range(len(frames))]
    return frames, repeats


def _write_clip(path: Path, frames: list[np.ndarray], audio: bool = True) -> None:
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=FPS)
        vs.width, vs.height, vs.pix_fmt = W, H, "yuv420p"
        # No B-frames: x264 would blend the last held frame towards the next scene, a real (if tiny)
        # change that makes the truth of "held" frames ambiguous.
        vs.options = {"crf": "20", "preset": "veryfast", "bf": "0"}
        streams = [vs]
        if audio:
            aus = out.add_stream("aac", rate=RATE)
            aus.layout = "mono"
            streams.append(aus)
        for i, img in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(img, format="bgr24")
            vf.pts = i
            for p in vs.encode(vf):
                out.mux(p)
        if audio:
            t = np.arange(len(frames) * RATE // FPS) / RATE
            wave = np.where((t >= 2.0) & (t < 2.2), 0.5 * np.sin(2 * np.pi * 1000 * t), 0.0).astype(
                np.float32
            )
            for start in range(0, wave.size, 1024):
                af = av.AudioFrame.from_ndarray(
                    wave[None, start : start + 1024], format="fltp", layout="mono"
                )
                af.sample_rate = RATE
                af.pts = start
                af.time_base = Fraction(1, RATE)
                for p in aus.encode(af):
                    out.mux(p)
        for s in streams:
            for p in s.encode(None):
                out.mux(p)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bool]]:
    folder = tmp_path_factory.mktemp("dedup")
    frames, repeats = _frames()
    path = folder / "clip.mp4"
    _write_clip(path, frames)
    return path, repeats


def _probe(path: Path) -> dict:
    """Frames, duration and audio of a written video, read back with PyAV."""
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        times = [f.time for f in c.decode(v)]
        info = {"frames": len(times), "times": times, "audio": bool(c.streams.audio)}
        info["duration"] = c.duration / 1e6 if c.duration else None
    if info["audio"]:
        with av.open(str(path)) as c:
            ends = [f.time + f.samples / f.sample_rate for f in c.decode(c.streams.audio[0])]
        info["audio_end"] = max(ends)
    return info


def _beep_onset(path: Path) -> float:
    """Time (s) of the first loud audio sample."""
    with av.open(str(path)) as c:
        a = c.streams.audio[0]
        for f in c.decode(a):
            x = f.to_ndarray()
            loud = np.flatnonzero(np.abs(x).max(axis=0) > 0.2)
            if loud.size:
                return float(f.time + loud[0] / f.sample_rate)
    raise AssertionError("no beep")


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == ["frame", "time", "score", "action"]
        return list(reader)


def test_trim_drops_repeats_keeps_changes_and_audio_in_sync(
    clip: tuple[Path, list[bool]], tmp_path: Path
) -> None:
    src, repeats = clip
    out, report = tmp_path / "out.mp4", tmp_path / "r.csv"
    result = dedup_video(src, out, report=report)
    rows = _rows(report)
    assert [int(r["frame"]) for r in rows] == list(range(120))
    drop = [r["action"] == "drop" for r in rows]
    assert all(r["action"] in ("keep", "drop") for r in rows)
    assert math.isnan(float(rows[0]["score"])) and all(float(r["score"]) >= 0 for r in rows[1:])
    # Every unique frame kept (pan, fade, caret toggles, ball moves) and every repeat dropped.
    assert [i for i in range(120) if drop[i] and not repeats[i]] == []
    assert [i for i in range(120) if repeats[i] and not drop[i]] == []
    assert all(not drop[i] for i in range(30, 60)), "a slow fade lost frames"

    info = _probe(out)
    assert info["frames"] == result.kept == sum(not d for d in drop)
    assert abs(info["duration"] - 4.0) <= 0.1
    assert abs(result.duration - 4.0) <= 0.1
    # Kept frames keep their timestamps...
    kept_times = [float(r["time"]) for r in rows if r["action"] == "keep"]
    assert np.allclose(info["times"], kept_times, atol=0.002)
    # ...and the audio is still there, its beep at the cut as in the input.
    assert info["audio"]
    assert abs(_beep_onset(out) - _beep_onset(src)) < 0.01
    assert abs(_beep_onset(out) - CUT / FPS) < 0.03
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_compact_timing_is_constant_rate_and_drops_audio(
    clip: tuple[Path, list[bool]], tmp_path: Path
) -> None:
    src, repeats = clip
    out = tmp_path / "short.mkv"
    result = dedup_video(src, out, timing="compact")
    info = _probe(out)
    assert info["frames"] == result.kept == 120 - sum(repeats)
    assert not info["audio"]
    assert any("audio dropped" in w for w in result.warnings)
    steps = np.diff(info["times"])
    assert np.allclose(steps, 1 / FPS, atol=0.002)
    assert abs(result.saved - sum(repeats) / FPS) < 0.05


def test_dry_run_report_plot_and_summary(clip: tuple[Path, list[bool]], tmp_path: Path, capsys) -> None:
    src, repeats = clip
    report, plot = tmp_path / "r.csv", tmp_path / "p.png"
    with pytest.raises(SystemExit) as e:
        main(["dedup", str(src), "--dry-run", "--report", str(report), "--plot", str(plot)])
    assert e.value.code == 0
    err = capsys.readouterr().err
    assert f"kept {120 - sum(repeats)} of 120 frames, dropped {sum(repeats)}" in err
    assert len(_rows(report)) == 120
    image = cv2.imread(str(plot))
    assert image is not None and image.shape[1] > 600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png", "r.csv"]


def test_max_drop_caps_runs_of_drops(clip: tuple[Path, list[bool]], tmp_path: Path) -> None:
    src, _ = clip
    report = tmp_path / "r.csv"
    dedup_video(src, dry_run=True, max_drop=4, report=report)
    run = longest = 0
    for r in _rows(report):
        run = run + 1 if r["action"] == "drop" else 0
        longest = max(longest, run)
    assert longest == 4


def test_fixed_threshold_is_used(clip: tuple[Path, list[bool]], tmp_path: Path) -> None:
    src, _ = clip
    report = tmp_path / "r.csv"
    result = dedup_video(src, dry_run=True, threshold=255, report=report)
    assert not result.auto and result.threshold == 255
    # Only the first frame and the last (kept so the duration stays) survive a threshold nothing exceeds.
    assert [r["frame"] for r in _rows(report) if r["action"] == "keep"] == ["0", "119"]


def test_deduplicator_api_on_arrays() -> None:
    rng = np.random.default_rng(1)
    base = cv2.GaussianBlur(rng.integers(0, 255, (360, 640), np.uint8), (0, 0), 3)
    dd = Deduplicator()
    assert dd.push(base).keep
    # Strong sensor grain on a held picture is not a change once the noise floor is learnt (8 frames).
    decisions = []
    for _ in range(30):
        noisy = np.clip(np.rint(base + rng.normal(0, 3.0, base.shape)), 0, 255).astype(np.uint8)
        decisions.append(dd.push(noisy))
    assert not any(d.keep for d in decisions[8:])
    assert all(d.action == "drop" and d.score <= d.threshold for d in decisions[8:])
    assert dd.threshold > 2 * 1.5, "the threshold should have risen with the grain"
    # A 3x25 px caret is a change, even through the grain.
    caret = noisy.copy()
    caret[200:225, 300:303] = 0
    assert dd.push(caret).keep
    # So is a 2-grey-level global brightening (one step of a slow fade).
    assert dd.push(cv2.add(caret, 2)).keep
    assert dd.count == 33 and dd.kept + dd.dropped == 33


def _isoluminant_ball(n: int = 20) -> tuple[list[np.ndarray], list[bool]]:
    """A red ball over a green of the same brightness (luma 76 vs 75), moving, stalling every 4th frame."""
    frames = []
    for i in range(n):
        f = np.zeros((H, W, 3), np.uint8)
        f[:] = (0, 128, 0)
        cv2.circle(f, (60 + 8 * (i - i // 4), 120), 10, (0, 0, 255), -1)
        frames.append(f)
    return frames, [i > 0 and np.array_equal(frames[i], frames[i - 1]) for i in range(n)]


def test_colour_only_change_is_kept_in_arrays_and_video(tmp_path: Path) -> None:
    frames, repeats = _isoluminant_ball()
    gray = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]
    assert cv2.absdiff(gray[1], gray[0]).max() <= 2, "the ball should be invisible in grey"
    dd = Deduplicator()
    assert [not dd.push(f).keep for f in frames] == repeats
    clip = tmp_path / "ball.mp4"
    _write_clip(clip, frames, audio=False)
    report = tmp_path / "r.csv"
    dedup_video(clip, dry_run=True, report=report)
    assert [r["action"] == "drop" for r in _rows(report)][:-1] == repeats[:-1]


def test_deduplicator_compares_with_last_kept_frame() -> None:
    """A drift too slow to see frame to frame is kept once it adds up against the last kept frame."""
    base = np.full((240, 320), 100, np.uint8)
    dd = Deduplicator(threshold=3.0)
    dd.push(base)
    kept = [dd.push(cv2.add(base, i // 2)).keep for i in range(1, 16)]
    assert any(kept) and not all(kept)


def test_folder_of_images_gives_folder_of_unique_images(tmp_path: Path) -> None:
    frames, repeats = _frames()
    src = tmp_path / "frames"
    src.mkdir()
    for i, f in enumerate(frames[:40]):
        cv2.imwrite(str(src / f"f{i}.png"), f)
    out = tmp_path / "unique"
    result = dedup_video(src, out)
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == result.kept == 40 - sum(repeats[:40])
    assert "f0.png" in names and "f11.png" not in names
    assert (out / "f0.png").read_bytes() == (src / "f0.png").read_bytes()


def test_truncated_video_gives_what_could_be_read(tmp_path: Path) -> None:
    whole = tmp_path / "clip.mkv"  # Matroska can be cut anywhere (an MP4's index may sit at its end)
    _write_clip(whole, _frames()[0], audio=False)
    data_ = whole.read_bytes()
    truncated = tmp_path / "truncated.mkv"
    truncated.write_bytes(data_[: len(data_) * 6 // 10])
    out = tmp_path / "out.mp4"
    result = dedup_video(truncated, out)
    assert 0 < result.frames < 120
    assert result.warnings, "a truncated input must say so"
    assert _probe(out)["frames"] == result.kept


def test_ctrl_c_leaves_a_valid_video_of_what_was_processed(
    clip: tuple[Path, list[bool]], tmp_path: Path
) -> None:
    src, _ = clip
    out, report = tmp_path / "out.mp4", tmp_path / "r.csv"

    def stop(done: int) -> None:
        if done > 50:
            raise KeyboardInterrupt

    with pytest.raises(DedupInterrupted) as e:
        dedup_video(src, out, report=report, progress=stop)
    result = e.value.result
    assert result.interrupted and 50 < result.frames < 120
    info = _probe(out)
    assert info["frames"] == result.kept == sum(r["action"] == "keep" for r in _rows(report))
    # The sound stops where the processed video stops.
    assert info["audio"] and abs(info["audio_end"] - result.duration) < 0.1
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_sigint_stops_between_frames_with_report_and_video_in_step(
    clip: tuple[Path, list[bool]], tmp_path: Path
) -> None:
    src, _ = clip
    out, report = tmp_path / "out.mp4", tmp_path / "r.csv"

    def ctrl_c(done: int) -> None:
        if 40 < done < 60:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C, delivered to this (main) thread

    with pytest.raises(DedupInterrupted) as e:
        dedup_video(src, out, report=report, progress=ctrl_c)
    result = e.value.result
    assert 40 < result.frames < 120
    assert _probe(out)["frames"] == result.kept == sum(r["action"] == "keep" for r in _rows(report))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "Python's handler is restored"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{src}", "-o", "{src}"], "would overwrite INPUT"),
        (["{dir}/missing.mp4", "-o", "{dir}/o.mp4"], "no such file"),
        (["{dir}/notes.txt", "-o", "{dir}/o.mp4"], "not a video"),
        (["{dir}/garbage.mp4", "-o", "{dir}/o.mp4"], "garbage.mp4"),
        (["{src}", "-o", "{dir}/o.mp4", "--threshold", "lots"], "threshold must be a number"),
        (["{src}", "-o", "{dir}/o.mp4", "--max-drop", "0"], "--max-drop"),
        (["{src}", "-o", "{dir}/o.mp4", "--timing", "fast"], "timing must be one of"),
        (["{src}", "-o", "{dir}/o.mp4", "--codec", "nope"], "unknown video encoder"),
        (["{src}", "-o", "{dir}/o.xyz"], "cannot write a video named o.xyz"),
        (["{src}", "-o", "{dir}/no/such/folder/o.mp4"], "does not exist"),
        (["{src}"], "no output given"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_2(
    clip: tuple[Path, list[bool]], tmp_path: Path, capsys, args: list[str], message: str
) -> None:
    src, _ = clip
    local = tmp_path / "in.mp4"
    local.write_bytes(src.read_bytes())
    (tmp_path / "notes.txt").write_text("not a video at all\n" * 50)
    (tmp_path / "garbage.mp4").write_bytes(bytes(range(256)) * 64)
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(SystemExit) as e:
        main(["dedup"] + [a.format(src=local, dir=tmp_path) for a in args])
    assert e.value.code == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), err
    assert message in lines[0]
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before, "an output was left behind"


def test_option_errors_from_the_api() -> None:
    with pytest.raises(OptionError):
        Deduplicator(threshold=-1)
    with pytest.raises(OptionError):
        Deduplicator(max_drop=1.5)


def _luma(path: Path) -> list[np.ndarray]:
    """Every frame's full-range grey picture, decoded with PyAV."""
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="gray").astype(np.float32) for f in c.decode(c.streams.video[0])]


def test_written_frames_are_the_kept_frames(clip: tuple[Path, list[bool]], tmp_path: Path) -> None:
    """Each frame of the output shows the input frame the report kept at that place, not a neighbour."""
    src, _ = clip
    out, report = tmp_path / "out.mp4", tmp_path / "r.csv"
    dedup_video(src, out, report=report)
    kept = [int(r["frame"]) for r in _rows(report) if r["action"] == "keep"]
    inputs, outputs = _luma(src), _luma(out)
    assert len(outputs) == len(kept)
    pictures, _ = _frames()
    for j, i in enumerate(kept):
        errors = [float(np.mean(np.abs(outputs[j] - x))) for x in inputs]
        best = int(np.argmin(errors))
        # The closest input frame is the kept one, or one made from the very same picture (a repeat, or
        # the caret's off phase coming back).
        assert np.array_equal(pictures[best], pictures[i]), (
            f"output frame {j} looks like input {best}, not {i}"
        )
        assert errors[i] < 2.0, f"output frame {j} is a poor copy of input {i}"


def test_dedup_command_does_not_load_the_other_commands(clip: tuple[Path, list[bool]]) -> None:
    """Start-up counts in every short run: dedup loads neither watch, nor its live view, nor compare's CLI."""
    src, _ = clip
    code = (
        "import sys\n"
        "from framediff.cli import main\n"
        "try:\n"
        f"    main(['dedup', {str(src)!r}, '--dry-run'])\n"
        "except SystemExit as e:\n"
        "    assert e.code == 0, e.code\n"
        "print(sorted(m for m in sys.modules if m.startswith(('framediff.serve', 'framediff.watch', 'framediff.cli.'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # The options several commands share (framediff.cli.options) are no other command.
    loaded = [m for m in eval(done.stdout.strip()) if m != "framediff.cli.options"]  # noqa: S307 - our own list
    assert loaded == ["framediff.cli.app", "framediff.cli.dedup_cmd"], done.stdout


@pytest.mark.parametrize("name", ["out.mp4", "out.mkv", "out.mov"])
def test_video_ending_on_a_long_hold_lasts_as_long_as_the_input(tmp_path: Path, name: str) -> None:
    """The last 50 frames are one held picture: the output keeps its first and the last frame, and its
    video track still ends at 4.0 s (H.264 with B-frames, whose decode times run ahead of the gap)."""
    frames = _frames()[0][:70]
    frames += [frames[-1]] * 50
    src = tmp_path / "hold.mp4"
    _write_clip(src, frames)
    out = tmp_path / name
    result = dedup_video(src, out)
    info = _probe(out)
    assert info["frames"] == result.kept
    assert abs(info["times"][-1] - 119 / FPS) < 0.002 and info["times"][-2] < 70 / FPS
    assert abs(info["duration"] - 4.0) <= 0.05
    with av.open(str(out)) as c:
        v = c.streams.video[0]
        if v.duration:  # Matroska gives no per-track duration
            assert abs(float(v.duration * v.time_base) - 4.0) <= 0.05
    assert abs(_beep_onset(out) - _beep_onset(src)) < 0.01


ROOT = Path(__file__).resolve().parents[1]


def _cli_keeps(path: Path, report: Path, capsys) -> list[bool]:
    """The keep/drop decisions of ``framediff dedup PATH --dry-run``, from its report."""
    with pytest.raises(SystemExit) as e:
        main(["dedup", str(path), "--dry-run", "--report", str(report)])
    assert e.value.code == 0
    capsys.readouterr()
    return [r["action"] == "keep" for r in _rows(report)]


def _readme_snippet() -> str:
    """The README's Python lines that run a Deduplicator over ``clip.mp4`` (they leave ``kept``)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("dd = Deduplicator()")
    return text[start : text.index("```", start)]


def test_api_and_cli_decide_alike_whatever_the_source_was_opened_as(tmp_path: Path, capsys) -> None:
    """A colour-only change (grey cannot see it) and an ending on a hold: Deduplicator.run over a source
    opened grey or in colour, push() (all but the last frame, which it cannot know) and the README's
    snippet give exactly the CLI's decisions, on this clip and on the bundled sample."""
    from framediff import open_source

    frames, _ = _isoluminant_ball()
    frames += [frames[-1]] * 6
    ball = tmp_path / "ball.mp4"
    _write_clip(ball, frames, audio=False)
    for path in (ball, ROOT / "samples" / "clip.mp4"):
        cli = _cli_keeps(path, tmp_path / "r.csv", capsys)
        if path == ball:
            assert not cli[-2] and cli[-1], "the hold is dropped, its last frame kept"
        for gray in (True, False):
            dd = Deduplicator()
            with open_source(path, gray=gray) as src:
                assert [d.keep for _, d in dd.run(src)] == cli, f"run(), gray={gray}"
            assert dd.kept == sum(cli)
            dd = Deduplicator()
            with open_source(path, gray=gray) as src:
                assert [dd.push(f).keep for f in src][:-1] == cli[:-1], f"push(), gray={gray}"
        scope: dict = {}
        exec(_readme_snippet().replace('"clip.mp4"', repr(str(path))), {"Deduplicator": Deduplicator, "open_source": open_source}, scope)  # fmt: skip
        assert scope["kept"] == [i for i, k in enumerate(cli) if k]


def _write_screen_recording(path: Path, frames: int, every: int, fps: int = 30) -> list[int]:
    """A screen-recording-like clip: one text screen, changed once every ``every`` frames (a new line
    of text), held in between. Returns the frames where the picture changes."""
    screen = np.full((120, 160, 3), 240, np.uint8)
    changes = []
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = 160, 120, "yuv420p"
        vs.options = {"crf": "20", "preset": "veryfast", "bf": "0"}
        for i in range(frames):
            if i % every == 0:
                changes.append(i)
                row = (i // every) % 9
                if row == 0:
                    screen[:] = 240
                cv2.putText(screen, f"line {i // every}", (4, 12 + 12 * row), cv2.FONT_HERSHEY_PLAIN, 0.8, (20, 20, 20), 1)  # fmt: skip
            vf = av.VideoFrame.from_ndarray(screen, format="bgr24")
            vf.pts = i
            for p in vs.encode(vf):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    return changes


def _green_runs(row: np.ndarray) -> list[tuple[int, int]]:
    """``(first, last)`` columns of each run of the plot's green in one image row (BGR), right of the
    labels."""
    from framediff.dedup.plot import GREEN, LEFT

    green = np.all(np.abs(row[LEFT:].astype(int) - np.array(GREEN)) <= 8, axis=1).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], green, [0])))) + LEFT
    return [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def test_plot_marks_every_kept_frame_visibly_in_png_and_svg(tmp_path: Path, capsys) -> None:
    """A 2-minute screen recording, one change every 100 frames: each kept frame is under a pixel wide
    in the plot, yet has its own green mark in the kept strip, at least 2 px wide, in PNG and in SVG."""
    import xml.etree.ElementTree as ET

    from framediff.dedup.plot import GREEN, LEFT, MIN_BAR, STRIP_BOTTOM, STRIP_TOP

    clip = tmp_path / "screen.mp4"
    changes = _write_screen_recording(clip, 3600, 100)
    report, png, svg = tmp_path / "r.csv", tmp_path / "p.png", tmp_path / "p.svg"
    for plot in (png, svg):
        with pytest.raises(SystemExit) as e:
            main(["dedup", str(clip), "--dry-run", "--report", str(report), "--plot", str(plot)])
        assert e.value.code == 0
    capsys.readouterr()
    kept = [int(r["frame"]) for r in _rows(report) if r["action"] == "keep"]
    assert set(changes + [3599]) <= set(kept) and len(kept) < 2 * len(changes), "a keep per change"
    assert min(np.diff(kept)) >= 40, "kept frames far apart: each under a pixel wide in the shading"
    image = cv2.imread(str(png))
    # The strip: one green run per kept frame, in order, each at least 2 px wide and MIN_BAR high.
    runs = _green_runs(image[STRIP_BOTTOM])
    assert len(runs) == len(kept)
    pw = image.shape[1] - LEFT - 20
    for (a, b), k in zip(runs, kept, strict=True):
        assert b - a + 1 >= 2
        assert a - 1 <= LEFT + k / 3599 * (pw - 1) <= b + 1
    assert len(_green_runs(image[STRIP_BOTTOM - MIN_BAR + 1])) == len(kept)
    assert not _green_runs(image[STRIP_TOP - 2]), "the strip stays in its place"
    # The SVG draws the same: it parses, and has one green bar per kept frame where the PNG has it.
    root = ET.parse(svg).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    b, g, r = GREEN
    bars = [
        el
        for el in root.iter("{http://www.w3.org/2000/svg}rect")
        if el.get("fill") == f"#{r:02x}{g:02x}{b:02x}"
    ]
    spans: list[list[int]] = []
    for el in bars:  # a mark of several heights is several touching bars
        x0 = int(float(el.get("x")))
        x1 = x0 + int(el.get("width")) - 1
        if spans and spans[-1][1] + 1 == x0:
            spans[-1][1] = x1
        else:
            spans.append([x0, x1])
    assert [tuple(sp) for sp in spans] == runs
    texts = [el.text or "" for el in root.iter("{http://www.w3.org/2000/svg}text")]
    assert any(f"screen.mp4: kept {len(kept)} of 3600 frames" in t for t in texts)


@pytest.mark.parametrize("name", ["p.jpg", "p.svg.txt", "plot"])
def test_plot_with_another_suffix_is_refused_before_any_work(tmp_path: Path, capsys, name: str) -> None:
    src = ROOT / "samples" / "clip.mp4"
    with pytest.raises(SystemExit) as e:
        main(["dedup", str(src), "-o", str(tmp_path / "o.mp4"), "--plot", str(tmp_path / name)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("Error: --plot ") and ".png or" in err[0]
    assert not list(tmp_path.iterdir()), "nothing is written"


def test_folder_of_images_is_summed_up_in_images_not_seconds(tmp_path: Path, capsys) -> None:
    frames, repeats = _frames()
    src = tmp_path / "frames"
    src.mkdir()
    for i, f in enumerate(frames[:41]):
        cv2.imwrite(str(src / f"f{i}.png"), f)
    plot = tmp_path / "p.png"
    with pytest.raises(SystemExit) as e:
        main(["dedup", str(src), "--dry-run", "--plot", str(plot)])
    assert e.value.code == 0
    err = capsys.readouterr().err
    dropped = sum(repeats[:41])
    assert f"kept {41 - dropped} of 41 images, dropped {dropped} (" in err
    assert " s of " not in err and " s were" not in err
    one = tmp_path / "one.png"
    cv2.imwrite(str(one), frames[0])
    with pytest.raises(SystemExit):
        main(["dedup", str(one), "--dry-run"])
    assert "kept 1 of 1 image, dropped 0 (0.0%)" in capsys.readouterr().err


@pytest.mark.parametrize("option", ["-o", "--report", "--plot"])
def test_an_output_in_a_missing_folder_names_its_own_option(tmp_path: Path, capsys, option: str) -> None:
    src = ROOT / "samples" / "clip.mp4"
    missing = (
        tmp_path / "missing" / ("o.mp4" if option == "-o" else "r.csv" if option == "--report" else "p.png")
    )
    args = ["dedup", str(src), option, str(missing)] + (
        ["-o", str(tmp_path / "o.mp4")] if option != "-o" else []
    )
    with pytest.raises(SystemExit) as e:
        main(args)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"Error: {option} {missing}: folder "), err
    others = {"-o", "--report", "--plot"} - {option}
    assert not any(f"{o} " in err[0] for o in others), "only the option that failed is named"
    assert not list(tmp_path.iterdir())


def test_ctrl_c_in_a_terminal_prints_the_summary_and_no_aborted_line(tmp_path: Path) -> None:
    """A real terminal (a pty) and a real SIGINT once the progress bar moves: the interrupted summary is
    the last line, exit status 130, and click's "Aborted." does not follow it."""
    import pty
    import re
    import select
    import time

    clip = tmp_path / "long.mp4"
    _write_screen_recording(clip, 6000, 50)
    pid, fd = pty.fork()
    if pid == 0:  # the child: framediff on the terminal
        os.execv(sys.executable, [sys.executable, "-m", "framediff", "dedup", str(clip), "--dry-run"])
    out, sent, deadline = b"", False, time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        if not sent and re.search(rb"\b([1-9]\d*)/6000", out):
            os.kill(pid, signal.SIGINT)
            sent = True
    _, status = os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert sent, text
    assert os.waitstatus_to_exitcode(status) == 130, text
    lines = [line.strip() for line in re.split(r"[\r\n]+", text) if line.strip()]
    assert lines[-1].startswith("interrupted: kept "), lines[-3:]
    assert "Aborted" not in text and "Interrupted." not in text
