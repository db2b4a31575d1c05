"""The code's layout keeps its promises, and the README's Python examples run as written.

- No framediff module imports a private name (``_x``) from another framediff module: a helper two
  modules need is public where it lives (issue 20).
- Every ``python`` block of README.md runs, on the bundled samples, with only its placeholders (a camera
  URL, a fixed port, pictures it leaves to the reader) replaced.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "framediff"

# Imports of private names that only wait for their module to be free to edit (issue 20, step 4: the
# compare rewrite lands first). Each must still be there: the test fails once it is gone, so the entry
# is removed with it and the list can only shrink.
PENDING: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _private_imports(path: Path, source: str | None = None) -> list[tuple[int, str, str]]:
    """``(line, module, name)`` for each private name ``path`` (or ``source``, as if it were that file)
    imports from another framediff module."""
    text = path.read_text(encoding="utf-8") if source is None else source
    tree = ast.parse(text, str(path))
    here = _module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        if module.split(".")[0] != "framediff" or module == ".".join(here):
            continue
        for alias in node.names:
            if alias.name.startswith("_") and not alias.name.startswith("__"):
                found.append((node.lineno, module, alias.name))
    return found


def test_no_module_imports_a_private_name_of_another() -> None:
    crossings = set()
    where = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for line, module, name in _private_imports(path):
            crossings.add((rel, name))
            if (rel, name) not in PENDING:
                where.append(f"{rel}:{line} imports {name} from {module}")
    assert not where, (
        "private names cross modules (make them public where they live, or move them):\n" + "\n".join(where)
    )
    assert crossings >= PENDING, f"fixed, so take them off PENDING: {sorted(PENDING - crossings)}"


def test_the_private_import_check_sees_relative_and_absolute_imports() -> None:
    """The checker itself: a relative import two levels up and an absolute one are both caught, and a
    module's own names, ``__future__`` and dunder names are not."""
    probe = PACKAGE / "watch" / "probe.py"  # no such file: its source is given
    source = (
        "from __future__ import annotations\n"
        "from ..media.images import _secret, read_image\n"
        "from framediff.dedup import _Prepared\n"
        "from . import __doc__\n"
        "from .probe import _own\n"
    )
    found = {(m, n) for _, m, n in _private_imports(probe, source)}
    assert found == {("framediff.media.images", "_secret"), ("framediff.dedup", "_Prepared")}


def _python_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.fixture
def readme_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The files the README's examples name, made from the bundled samples, in the working folder."""
    samples = ROOT / "samples"
    for name, sample in {
        "a.jpg": "shelf_a.jpg",
        "b.jpg": "shelf_b.jpg",
        "a1.png": "same_a.png",
        "b1.png": "same_a.png",
        "a2.png": "same_a.png",
        "b2.png": "same_b.jpg",  # a JPEG under a .png name: read by its content
        "talk.mp4": "clip.mp4",
        "clip.mp4": "clip.mp4",
        "camera.mp4": "camera.mp4",
    }.items():
        shutil.copyfile(samples / sample, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


# Placeholders the examples leave to the reader: a camera, a port that may be taken.
PLACEHOLDERS = {"rtsp://cam/live": "camera.mp4", '("127.0.0.1", 8080)': '("127.0.0.1", 0)'}


def test_the_readme_python_examples_run(readme_files: Path, capsys) -> None:
    blocks = _python_blocks()
    assert len(blocks) >= 4, "the README's compare, dedup, watch and serve examples"
    a = cv2.imread(str(readme_files / "a.jpg"))
    b = cv2.imread(str(readme_files / "b.jpg"))
    frames = [cv2.GaussianBlur(a, (5, 5), 0) for _ in range(3)] + [b[: a.shape[0], : a.shape[1]]] * 3
    for i, code in enumerate(blocks):
        for placeholder, value in PLACEHOLDERS.items():
            code = code.replace(placeholder, value)
        namespace = {"a": a, "b": b, "frames": frames, "np": np}
        exec(compile(code, f"README.md python block {i + 1}", "exec"), namespace)  # noqa: S102
    out = capsys.readouterr().out
    assert "kept" in out, "the dedup example prints its summary"
    assert (readme_files / "talk-trimmed.mp4").stat().st_size > 0, "dedup_video wrote the trimmed video"
    assert (readme_files / "r.csv").read_text().startswith("frame,time,score,action")


def test_folder_compare_and_folder_dedup_pick_the_same_pictures(tmp_path: Path) -> None:
    """One suffix list for every command: a Sun raster and a PNM picture are compared in a folder
    compare as a folder dedup or watch reads them (the compare's own, shorter list left them out)."""
    from click.testing import CliRunner

    from framediff.cli.app import cli
    from framediff.media.images import image_paths

    picture = cv2.imread(str(ROOT / "samples" / "same_a.png"))
    for side in ("a", "b"):
        (tmp_path / side).mkdir()
        for name in ("one.png", "two.pnm", "three.sr", "four.ras"):
            assert cv2.imwrite(str(tmp_path / side / name), picture), name
        (tmp_path / side / "notes.txt").write_text("not a picture")
    result = CliRunner().invoke(cli, ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json"])
    assert result.exit_code == 0, result.output
    compared = {pair["name"] for pair in json.loads(result.stdout)["pairs"]}
    read = {p.name for p in image_paths(tmp_path / "a") or []}
    assert compared == read == {"one.png", "two.pnm", "three.sr", "four.ras"}


def test_analysis_is_pure_functions_that_import_no_job() -> None:
    """``framediff.analysis`` (issue 20) needs nothing of the jobs, the media or the CLI: only numpy,
    OpenCV, the errors, the worker pool and itself; the old module names still give the same objects."""
    import importlib

    allowed = {"framediff.errors", "framediff.workers"}
    for path in sorted((PACKAGE / "analysis").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                module = ("framediff.analysis" if node.level == 1 else "framediff") + (
                    "." + node.module if node.module else ""
                )
                assert module.startswith("framediff.analysis") or module in allowed, (path.name, module)
    for name in ("prepare", "measure", "regions", "transform", "align", "agreement"):
        old, new = importlib.import_module(f"framediff.{name}"), importlib.import_module(f"framediff.analysis.{name}")
        assert old.__all__ and all(getattr(old, n) is getattr(new, n) for n in new.__all__), name
