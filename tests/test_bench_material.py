"""The benchmarks' own material (``benchmarks/material.py``, issue 25 item 16), which lets them run from a
clone without the kit in ``../shared/bench``: its clips hold what their truth says, and its scorers score
framediff's real outputs on them as the kit's would.

Small clips (320x180) made here; nothing here needs ``../shared``.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from framediff.cli import main

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"


def _material():
    spec = importlib.util.spec_from_file_location("bench_material", BENCH / "material.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


material = _material()


def _luma(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="gray").astype(np.int16) for f in c.decode(video=0)]


def test_the_dedup_clip_holds_its_truth_and_framediff_scores_on_it(tmp_path: Path, capsys) -> None:
    clip = material.make_dedup_clip(tmp_path / "d.mp4", size=(320, 180))
    truth = json.loads(material.truth_path(clip).read_text())
    frames = _luma(clip)
    assert len(frames) == len(truth["frames"]) == 510
    # A repeat differs from the frame before by codec noise (and the grain); a unique frame by more.
    steps = [float(np.abs(b - a).mean()) for a, b in zip(frames, frames[1:], strict=False)]
    dup = [t["dup"] for t in truth["frames"][1:]]
    holds = [
        s for s, d, t in zip(steps, dup, truth["frames"][1:], strict=True) if d and t["segment"] == "hold"
    ]
    pans = [s for s, t in zip(steps, truth["frames"][1:], strict=True) if t["segment"] == "slow_pan"]
    assert max(holds) < 0.5 < min(pans), (max(holds), min(pans))
    # The scorer: the truth's own decisions are perfect, keeping everything drops no repeat.
    perfect = ["drop" if t["dup"] else "keep" for t in truth["frames"]]
    assert material.score_decisions(material.truth_path(clip), perfect)[:2] == (1.0, 0.0)
    assert material.score_decisions(material.truth_path(clip), ["keep"] * 510)[:2] == (0.0, 0.0)
    with pytest.raises(ValueError, match="decisions for 510 frames"):
        material.score_decisions(material.truth_path(clip), ["keep"])
    # framediff's dry run on it, scored: the figures bench_dedup prints without the kit.
    report = tmp_path / "r.csv"
    with pytest.raises(SystemExit) as e:
        main(["dedup", str(clip), "--dry-run", "--report", str(report)])
    assert e.value.code == 0, capsys.readouterr().err
    actions = [line.split(",")[3] for line in report.read_text().splitlines()[1:]]
    recall, false_drops, segments = material.score_decisions(material.truth_path(clip), actions)
    assert recall >= 0.95 and false_drops == 0.0, segments
    assert set(segments) == {
        "slow_pan",
        "on_twos",
        "hold",
        "slow_fade",
        "caret",
        "small_object",
        "grain",
        "hold_end",
    }


def test_the_watch_clip_has_its_events_and_the_scorer_finds_them_in_framediffs(tmp_path: Path) -> None:
    clip = tmp_path / "w.mp4"
    truth = material.make_watch_clip(clip, size=(320, 180))
    mask = clip.with_suffix(".ignore.png")
    assert mask.exists() and len(truth["events"]) == 4
    assert len(_luma(clip)) == truth["frames"]
    events = tmp_path / "ev.jsonl"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "framediff",
            "watch",
            str(clip),
            "--ignore",
            str(mask),
            "--events",
            str(events),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    score = material.score_events(material.truth_path(clip), events)
    assert score["caught"] == "4/4" and score["false_events"] == 0, score
    assert score["median_latency"] is not None and score["median_latency"] <= 3
    # A start in the quiet lead-in (before any object) is a false event; no start catches nothing.
    fake = tmp_path / "fake.jsonl"
    fake.write_text(json.dumps({"event": "change_start", "frame": 5}) + "\n")
    score = material.score_events(material.truth_path(clip), fake)
    assert score["caught"] == "0/4" and score["false_events"] == 1 and score["false_frames"] == [5]


def test_the_search_benchmark_makes_sticker_copies_of_its_refs(tmp_path: Path) -> None:
    """``bench_search.make_partial``'s sticker kind: the ref under opaque stickers and a caption over 20-40%
    of its area (measured against the ref itself), at its size or resized, named in the truth."""
    import cv2

    from .conftest import photo_bgr

    spec = importlib.util.spec_from_file_location("bench_search", BENCH / "bench_search.py")
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    setdir = tmp_path / "set"
    (setdir / "refs").mkdir(parents=True)
    (setdir / "queries").mkdir()
    names = ["astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "brick", "gravel", "moon", "cell", "page"]
    for k, name in enumerate(names):
        cv2.imwrite(str(setdir / "refs" / f"ref{k:05d}.png"), photo_bgr(name))
    fillers = {}
    for k, name in enumerate(["hubble_deep_field", "immunohistochemistry", "text", "clock"]):
        cv2.imwrite(str(setdir / "queries" / f"q{k}.jpg"), photo_bgr(name))
        fillers[f"q{k}.jpg"] = {"ref": None, "kinds": []}
    (setdir / "queries.json").write_text(json.dumps({"queries": fillers}))
    out = bench.make_partial(setdir, tmp_path / "partial")
    truth = json.loads((out / "queries.json").read_text())["queries"]
    stickers = {q: v["ref"] for q, v in truth.items() if v["kinds"] == ["sticker"]}
    assert len(stickers) == len(names[2::9]) >= 1, truth
    for query, ref in stickers.items():
        a = cv2.imread(str(setdir / "refs" / ref))
        b = cv2.imread(str(out / "queries" / query))
        assert b.shape[0] <= a.shape[0] and b.shape[1] <= a.shape[1]
        b = cv2.resize(b, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
        covered = float((np.abs(a.astype(int) - b.astype(int)).max(axis=2) > 40).mean())
        assert 0.12 < covered < 0.5, (query, covered)
