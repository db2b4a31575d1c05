"""Frame sources: image files, folders, videos (variable frame rate, grey, truncated) and bad inputs."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from framediff.analysis.prepare import to_bgr8, to_gray
from framediff.errors import FramediffError, InputError, SourceError
from framediff.sources import Frame, FrameSource, load_image, natural_key, open_source, read_image

from .conftest import VideoWriter


def _write_image(path: Path, image: np.ndarray, params: list[int] | None = None) -> Path:
    """Write with OpenCV through Python's file API (works for non-ASCII paths)."""
    ok, data = cv2.imencode(path.suffix, image, params or [])
    assert ok
    path.parent.mkdir(parents=True, exist_ok=True)
    data.tofile(str(path))
    return path


def _frames(spec: str | os.PathLike, **kw) -> tuple[list[Frame], list[str]]:
    with open_source(spec, **kw) as src:
        return list(src), src.warnings


# --- single images ------------------------------------------------------------------------------------


def test_png_is_read_exactly(tmp_path: Path, coffee: np.ndarray) -> None:
    path = _write_image(tmp_path / "a.png", coffee)
    frames, warnings = _frames(path)
    assert len(frames) == 1 and warnings == []
    f = frames[0]
    assert (f.index, f.time) == (0, 0.0)
    np.testing.assert_array_equal(f.image, coffee)
    np.testing.assert_array_equal(_frames(path, gray=True)[0][0].image, to_gray(coffee))


def test_jpeg_is_read_close_to_original(tmp_path: Path, coffee: np.ndarray) -> None:
    path = _write_image(tmp_path / "a.jpg", coffee, [cv2.IMWRITE_JPEG_QUALITY, 90])
    (f,), _ = _frames(path)
    assert f.image.shape == coffee.shape
    assert np.abs(f.image.astype(int) - coffee).mean() < 3


def test_16bit_png_keeps_depth_and_converts_for_frames(tmp_path: Path, chelsea: np.ndarray) -> None:
    wide = chelsea.astype(np.uint16) * 257 + 100  # values only a 16-bit file can hold
    path = _write_image(tmp_path / "deep.png", wide)
    raw = read_image(path)
    assert raw.dtype == np.uint16
    np.testing.assert_array_equal(raw, wide)
    (f,), _ = _frames(path)
    assert f.image.dtype == np.uint8
    np.testing.assert_array_equal(f.image, to_bgr8(wide))


def test_bgra_png_is_flattened_over_white(tmp_path: Path, chelsea: np.ndarray) -> None:
    bgra = cv2.cvtColor(chelsea, cv2.COLOR_BGR2BGRA)
    bgra[:50, :, 3] = 0
    path = _write_image(tmp_path / "alpha.png", bgra)
    assert read_image(path).shape[2] == 4
    (f,), _ = _frames(path)
    assert f.image.shape == chelsea.shape
    assert (f.image[:50] == 255).all()
    np.testing.assert_array_equal(f.image[50:], chelsea[50:])


def test_non_ascii_path(tmp_path: Path, astronaut: np.ndarray) -> None:
    path = _write_image(tmp_path / "tests" / "fotó 1.png", astronaut)
    np.testing.assert_array_equal(read_image(path), astronaut)
    np.testing.assert_array_equal(read_image(str(path)), astronaut)
    (f,), _ = _frames(str(path))
    np.testing.assert_array_equal(f.image, astronaut)
    (f,), _ = _frames(path.parent)  # and as a folder
    np.testing.assert_array_equal(f.image, astronaut)


def test_exif_orientation_is_applied(tmp_path: Path, chelsea: np.ndarray) -> None:
    path = tmp_path / "rotated.jpg"
    im = Image.fromarray(chelsea[..., ::-1])  # Pillow wants RGB
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    im.save(path, quality=95, exif=exif)
    image = read_image(path)
    h, w = chelsea.shape[:2]
    assert image.shape == (w, h, 3)  # portrait now
    upright = np.rot90(chelsea, k=-1)  # clockwise
    assert np.abs(image.astype(int) - upright).mean() < 3
    # The same pixels Pillow shows after applying the tag itself.
    with Image.open(path) as pil:
        pillow = np.asarray(ImageOps.exif_transpose(pil))[..., ::-1]
    assert np.abs(image.astype(int) - pillow).mean() < 1
    (f,), _ = _frames(path)
    assert f.image.shape == (w, h, 3)


def test_load_image_accepts_arrays_and_paths(tmp_path: Path, coffee: np.ndarray) -> None:
    assert load_image(coffee) is coffee
    np.testing.assert_array_equal(load_image(_write_image(tmp_path / "c.png", coffee)), coffee)
    with pytest.raises(InputError):
        load_image(np.zeros((0, 3), np.uint8))
    with pytest.raises(InputError, match="cannot use"):
        load_image(42)  # type: ignore[arg-type]


# --- folders ------------------------------------------------------------------------------------------


def test_natural_key() -> None:
    names = ["frame10.png", "Frame2.png", "frame1.png", "frame_b.png", "frame9.png"]
    assert sorted(names, key=natural_key) == [
        "frame1.png",
        "Frame2.png",
        "frame9.png",
        "frame10.png",
        "frame_b.png",
    ]


def test_folder_in_natural_order(tmp_path: Path, moving_frames: list[np.ndarray]) -> None:
    numbers = [10, 2, 1, 33, 9]
    for n in numbers:  # written out of order
        _write_image(tmp_path / f"frame{n}.png", moving_frames[n % len(moving_frames)])
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "sub").mkdir()
    frames, warnings = _frames(tmp_path)
    assert warnings == []
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert [Path(f.raw).name for f in frames] == [
        "frame1.png",
        "frame2.png",
        "frame9.png",
        "frame10.png",
        "frame33.png",
    ]
    for f, n in zip(frames, sorted(numbers), strict=True):
        np.testing.assert_array_equal(f.image, moving_frames[n % len(moving_frames)])
    times = [f.time for f in frames]
    assert times == sorted(times) and len(set(times)) == len(times)


def test_glob_pattern(tmp_path: Path, moving_frames: list[np.ndarray]) -> None:
    for n in (3, 20, 100):
        _write_image(tmp_path / f"shot{n}.png", moving_frames[0])
    _write_image(tmp_path / "other.png", moving_frames[1])
    frames, _ = _frames(str(tmp_path / "shot*.png"))
    assert [Path(f.raw).name for f in frames] == ["shot3.png", "shot20.png", "shot100.png"]


def test_folder_with_a_bad_file_warns_and_goes_on(tmp_path: Path, moving_frames: list[np.ndarray]) -> None:
    _write_image(tmp_path / "f1.png", moving_frames[0])
    (tmp_path / "f2.png").write_bytes(b"this is not a png")
    _write_image(tmp_path / "f3.png", moving_frames[2])
    frames, warnings = _frames(tmp_path)
    assert [Path(f.raw).name for f in frames] == ["f1.png", "f3.png"]
    assert len(warnings) == 1 and "f2.png" in warnings[0]


def test_empty_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no images"):
        open_source(tmp_path)
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(SourceError, match="no images"):
        open_source(tmp_path)


# --- videos -------------------------------------------------------------------------------------------

VFR_PTS_MS = [0, 40, 80, 200, 240, 500, 540, 580, 1000, 1040]


@pytest.mark.parametrize("ext", [".mp4", ".mkv"])
def test_video_keeps_variable_frame_rate_timestamps(
    tmp_path: Path, make_video: VideoWriter, moving_frames: list[np.ndarray], ext: str
) -> None:
    written = moving_frames[: len(VFR_PTS_MS)]
    path = make_video(tmp_path / f"vfr{ext}", written, VFR_PTS_MS)
    with open_source(path) as src:
        assert isinstance(src, FrameSource) and src.size == (320, 240) and src.fps and src.fps > 0
        frames = list(src)
        assert src.warnings == []
        assert list(src) == [] and src.warnings == []  # read once; a second pass is empty, not an error
    assert [f.index for f in frames] == list(range(len(VFR_PTS_MS)))
    assert [f.time for f in frames] == pytest.approx([t / 1000 for t in VFR_PTS_MS], abs=1e-3)
    for f in frames:
        assert f.image.shape == (240, 320, 3) and f.image.dtype == np.uint8
        assert isinstance(f.raw, av.VideoFrame)
        # Each decoded frame is the one written at that time (the frames differ from each other).
        errors = [np.abs(f.image.astype(int) - other).mean() for other in written]
        assert int(np.argmin(errors)) == f.index and errors[f.index] < 6


def test_gray_video_frames_match_grey_of_colour_frames(
    tmp_path: Path, make_video: VideoWriter, moving_frames: list[np.ndarray]
) -> None:
    path = make_video(tmp_path / "v.mp4", moving_frames[:6])
    colour, _ = _frames(path)
    grey, _ = _frames(path, gray=True)
    assert len(grey) == len(colour) == 6
    for g, c in zip(grey, colour, strict=True):
        assert g.image.ndim == 2 and g.image.dtype == np.uint8 and g.image.shape == (240, 320)
        assert g.time == c.time
        d = np.abs(g.image.astype(int) - to_gray(c.image))
        # Same luma; only the colour round trip (chroma subsampling, rounding) differs.
        assert d.mean() < 2.0 and np.percentile(d, 99) <= 6
        assert abs(float(g.image.mean()) - float(to_gray(c.image).mean())) < 2.0
    grey[0].image[0, 0] = 0  # the frames are the caller's to modify


def test_skip_loop_filter_decodes_the_same_frames(
    tmp_path: Path, make_video: VideoWriter, moving_frames: list[np.ndarray]
) -> None:
    path = make_video(tmp_path / "v.mp4", moving_frames[:6])
    normal, _ = _frames(path)
    fast, _ = _frames(path, skip_loop_filter=True)
    assert [f.time for f in fast] == [f.time for f in normal]
    for a, b in zip(fast, normal, strict=True):
        assert np.abs(a.image.astype(int) - b.image).mean() < 3


@pytest.mark.parametrize("ext,options", [(".mp4", {"movflags": "+faststart"}), (".mkv", {})])
def test_truncated_video_gives_readable_frames_and_a_warning(
    tmp_path: Path, make_video: VideoWriter, moving_frames: list[np.ndarray], ext: str, options: dict
) -> None:
    frames = [moving_frames[i % 12] for i in range(60)]
    full = make_video(tmp_path / f"full{ext}", frames, container_options=options)
    data = full.read_bytes()
    cut = tmp_path / f"cut{ext}"
    cut.write_bytes(data[: len(data) * 2 // 3])
    complete, warnings = _frames(full)
    assert len(complete) == 60 and warnings == []
    partial, warnings = _frames(cut)
    assert 5 < len(partial) < 60
    assert [f.index for f in partial] == list(range(len(partial)))
    assert len(warnings) == 1 and "truncated" in warnings[0]


def test_audio_only_file_is_not_a_video(tmp_path: Path) -> None:
    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=44100)
        t = np.arange(1024 * 20) / 44100
        tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        for i in range(20):
            frame = av.AudioFrame.from_ndarray(
                tone[None, i * 1024 : (i + 1) * 1024], format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = 44100, i * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    with pytest.raises(SourceError, match="no video stream"):
        open_source(path)


# --- bad inputs ---------------------------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file") as info:
        open_source(tmp_path / "nope.mp4")
    assert info.value.hint
    with pytest.raises(InputError, match="no such file"):
        read_image(tmp_path / "nope.png")


@pytest.mark.parametrize("name", ["empty.mp4", "empty.png", "empty"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.touch()
    with pytest.raises(InputError, match="empty"):
        open_source(path)


@pytest.mark.parametrize("name", ["notes.mp4", "notes.mkv", "notes.txt", "notes"])
def test_text_file_is_not_a_video(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("just some words, no video here\n" * 20)
    with pytest.raises(SourceError, match="not a video") as info:
        open_source(path)
    assert name in str(info.value) and info.value.hint


def test_corrupt_and_truncated_images(tmp_path: Path, coffee: np.ndarray) -> None:
    fake = tmp_path / "fake.png"
    fake.write_text("not a png")
    with pytest.raises(InputError, match="not an image"):
        open_source(fake)  # a single image fails at open, like a bad video does
    jpg = _write_image(tmp_path / "whole.jpg", coffee)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(jpg.read_bytes()[: jpg.stat().st_size // 2])
    with pytest.raises(InputError, match="truncated"):
        open_source(cut)
    png = _write_image(tmp_path / "whole.png", coffee)
    cutpng = tmp_path / "cut.png"
    cutpng.write_bytes(png.read_bytes()[: png.stat().st_size // 2])
    with pytest.raises(InputError):
        open_source(cutpng)
    with pytest.raises(InputError, match="folder"):
        read_image(tmp_path)


def test_jpeg_with_a_trailer_is_not_truncated(
    tmp_path: Path, coffee: np.ndarray, astronaut: np.ndarray
) -> None:
    # Phones append data after the end-of-image marker (a motion photo's video, maker notes).
    jpg = _write_image(tmp_path / "whole.jpg", coffee, [cv2.IMWRITE_JPEG_QUALITY, 90])
    video_like = bytes(range(256)) * 40
    motion = tmp_path / "motion.jpg"
    motion.write_bytes(jpg.read_bytes() + video_like)
    np.testing.assert_array_equal(read_image(motion), read_image(jpg))
    # An embedded thumbnail (a whole JPEG in a header segment) has its own end marker, before the main
    # image: cutting the main image must still be caught.
    ok, thumb = cv2.imencode(".jpg", cv2.resize(astronaut, (64, 64)))
    assert ok
    payload = b"THUMB\0" + thumb.tobytes()
    app15 = b"\xff\xef" + (len(payload) + 2).to_bytes(2, "big") + payload
    data = jpg.read_bytes()
    with_thumb = data[:2] + app15 + data[2:]
    good = tmp_path / "thumb.jpg"
    good.write_bytes(with_thumb)
    np.testing.assert_array_equal(read_image(good), read_image(jpg))
    cut = tmp_path / "thumb_cut.jpg"
    cut.write_bytes(with_thumb[: len(with_thumb) * 3 // 4])
    with pytest.raises(InputError, match="truncated|corrupt"):
        read_image(cut)


def test_unreachable_stream_and_camera() -> None:
    with pytest.raises(SourceError, match="cannot open rtsp://127.0.0.1:9/"):
        open_source("rtsp://127.0.0.1:9/live", timeout=2)
    with pytest.raises(SourceError, match="camera"):
        open_source("/dev/video99")


def test_errors_are_one_family() -> None:
    for cls in (InputError, SourceError):
        assert issubclass(cls, FramediffError)
    e = SourceError("x.mp4 is broken", "re-encode it")
    assert str(e) == "x.mp4 is broken (re-encode it)"


def _open_fds_to(path: Path) -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # the listing's own descriptor is gone by now
            count += os.path.realpath(f"/proc/self/fd/{fd}") == str(path.resolve())
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see open files")
def test_open_source_is_a_context_manager_that_releases_the_file(
    tmp_path: Path, make_video: VideoWriter, moving_frames: list[np.ndarray]
) -> None:
    path = make_video(tmp_path / "v.mp4", moving_frames[:4])
    with open_source(path) as src:
        assert _open_fds_to(path) == 1
        first = next(iter(src))
        assert first.index == 0
    assert _open_fds_to(path) == 0
    # Also when the body raises.
    with pytest.raises(RuntimeError), open_source(path) as src:
        assert _open_fds_to(path) == 1
        raise RuntimeError("boom")
    assert _open_fds_to(path) == 0
    shutil.rmtree(tmp_path)  # nothing holds the file any more
