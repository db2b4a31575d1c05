"""No command overwrites its input, whatever name the output is given: the same path, a path that goes
round through ``..``, a symbolic link or a hard link to the input."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from framediff.cli import main
from framediff.paths import same_file, temp_path

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _aliases(target: Path) -> dict[str, Path]:
    """Other names for ``target``: through ``..``, a symbolic link, a hard link."""
    sub = target.parent / "sub"
    sub.mkdir(exist_ok=True)
    soft = target.parent / f"soft{target.suffix}"
    soft.symlink_to(target)
    hard = target.parent / f"hard{target.suffix}"
    os.link(target, hard)
    return {"dotdot": sub / ".." / target.name, "symlink": soft, "hardlink": hard}


@pytest.mark.parametrize("alias", ["dotdot", "symlink", "hardlink"])
@pytest.mark.parametrize(
    ("command", "sample", "message"),
    [
        (["compare", "{src}", "{other}", "-o", "{out}"], "shelf_a.jpg", "would overwrite A"),
        (["dedup", "{src}", "-o", "{out}"], "clip.mp4", "would overwrite INPUT"),
        (["watch", "{src}", "--record", "{out}"], "camera.mp4", "would overwrite SOURCE"),
    ],
)
def test_an_output_that_is_the_input_under_another_name_is_refused(
    tmp_path: Path, capsys, alias: str, command: list[str], sample: str, message: str
) -> None:
    src = tmp_path / sample
    shutil.copy(SAMPLES / sample, src)
    other = tmp_path / "other.jpg"
    shutil.copy(SAMPLES / "shelf_b.jpg", other)
    before = src.read_bytes()
    out = _aliases(src)[alias]
    with pytest.raises(SystemExit) as e:
        main([a.format(src=src, other=other, out=out) for a in command])
    assert e.value.code == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], err
    assert src.read_bytes() == before
    assert not [p for p in tmp_path.rglob("*") if "partial" in p.name]


def test_same_file_and_temp_path(tmp_path: Path) -> None:
    a = tmp_path / "a.mp4"
    a.write_bytes(b"x")
    aliases = _aliases(a)
    assert all(same_file(p, a) and same_file(a, p) for p in aliases.values())
    assert not same_file(tmp_path / "b.mp4", a)
    assert same_file(tmp_path / "new.mp4", tmp_path / "sub" / ".." / "new.mp4")  # neither exists yet
    t1, t2 = temp_path(a), temp_path(a)
    assert t1 != t2, "two writers in one process never share a temporary name"
    assert t1.parent == a.parent and t1.suffix == ".mp4" and t1.name.startswith(".")
