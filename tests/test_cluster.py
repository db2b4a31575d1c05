"""Tests of ``--cluster`` (framediff.distribute): a real Dask ``LocalCluster`` of 2 worker processes indexes a
library the test writes from ``skimage.data`` photos, and the index it gets is the one a local run gets,
row for row; a worker killed during the run loses nothing; ``dupes`` finds the same groups on a cluster;
a missing extra, a malformed address and a scheduler nobody runs are one ``Error:`` line each.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from framediff.collection.index import Index
from framediff.collection.search import add_pictures

from .conftest import PHOTO_NAMES, photo_bgr, run_framediff

distributed = pytest.importorskip("distributed")


def write_library(root: Path, per_photo: int = 8, side: int = 900) -> list[Path]:
    """Distinct picture files: each photo at several sizes, crops and qualities, some in sub-folders."""
    paths = []
    for n, name in enumerate(PHOTO_NAMES):
        base = photo_bgr(name)
        for k in range(per_photo):
            scale = side / max(base.shape[:2]) * (1 - 0.07 * k)
            img = cv2.resize(base, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            img = np.ascontiguousarray(img[k * 3 :, k * 5 :])
            folder = root / f"set{n % 2}" / (f"sub{k % 3}" if k % 2 else "")
            folder.mkdir(parents=True, exist_ok=True)
            p = folder / f"{name}-{k}.{'png' if k == 3 else 'jpg'}"
            assert cv2.imwrite(str(p), img, [cv2.IMWRITE_JPEG_QUALITY, 95 - 4 * k])
            paths.append(p)
    (root / "broken.jpg").write_bytes(b"\xff\xd8 not a picture")
    return paths


def rows(db: Path) -> list[tuple]:
    """Every row of the index's table of files (fingerprints and errors), in path order."""
    with sqlite3.connect(db) as c:
        return c.execute("SELECT * FROM files ORDER BY path").fetchall()


@pytest.fixture(autouse=True)
def default_pixel_limit():
    """Each test starts and ends with the default picture size limit (a command's --max-pixels stays set in
    the process it ran in)."""
    from framediff.media.images import set_max_pixels

    set_max_pixels(None)
    yield
    set_max_pixels(None)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("library")
    write_library(root)
    return root


@pytest.fixture(scope="module")
def local_index(library: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The index a local run (threads) makes of the library."""
    db = tmp_path_factory.mktemp("local") / "local.sqlite"
    r = run_framediff("index", str(library), "--db", str(db))
    assert r.returncode == 0, r.stderr
    return db


@pytest.fixture(scope="module")
def cluster():
    """A real Dask cluster: a scheduler and 2 worker processes of one thread each on this machine."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=40
    ) as c, distributed.Client(c) as client:
        yield c, client


def test_cluster_index_equals_local_index(library: Path, local_index: Path, cluster, tmp_path: Path) -> None:
    c, client = cluster
    assert len(client.nthreads()) == 2
    db = tmp_path / "cluster.sqlite"
    r = run_framediff("index", str(library), "--db", str(db), "--cluster", c.scheduler_address)
    assert r.returncode == 0, r.stderr
    assert "41 pictures: 41 fingerprinted" in r.stdout
    assert "unreadable: " in r.stderr and "broken.jpg" in r.stderr
    got, want = rows(db), rows(local_index)
    assert len(got) == 41
    assert got == want  # every fingerprint, byte for byte, and the unreadable file's error
    # A second run through the cluster reads nothing again.
    r = run_framediff("index", str(library), "--db", str(db), "--cluster", c.scheduler_address)
    assert "41 pictures: 0 fingerprinted" in r.stdout, r.stdout


def test_worker_killed_mid_run_loses_nothing(library: Path, local_index: Path, cluster, tmp_path: Path) -> None:
    c, client = cluster
    before = client.run(os.getpid)
    victim = sorted(before.values())[0]
    killed: list[int] = []

    def progress(stage: str, done: int, total: int) -> None:
        # Once the first results are in, a worker dies with its queued and running tasks.
        if 0 < done < total - 8 and not killed:
            os.kill(victim, signal.SIGKILL)
            killed.append(done)

    with Index(tmp_path / "killed.sqlite") as index:
        report = add_pictures(index, [library], progress=progress, cluster=c.scheduler_address)
    assert killed, "the run ended before a worker could be killed"
    assert report.fingerprinted == 41
    assert rows(tmp_path / "killed.sqlite") == rows(local_index)
    client.wait_for_workers(2, timeout=60)
    assert victim not in client.run(os.getpid).values()  # the nanny started a new worker in its place


def test_dupes_on_local_cluster_finds_the_local_groups(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    write_library(lib, per_photo=3, side=500)
    a = run_framediff("dupes", str(lib), "--db", str(tmp_path / "a.sqlite"), "--json")
    b = run_framediff("dupes", str(lib), "--db", str(tmp_path / "b.sqlite"), "--json", "--cluster", "local:2")
    assert a.returncode == b.returncode == 1, (a.stderr, b.stderr)
    import json

    ga, gb = json.loads(a.stdout)["groups"], json.loads(b.stdout)["groups"]
    assert len(ga) == len(PHOTO_NAMES)  # each photo's variants, one group each
    assert ga == gb
    with sqlite3.connect(tmp_path / "a.sqlite") as x, sqlite3.connect(tmp_path / "b.sqlite") as y:
        q = "SELECT a, b, result FROM verdicts ORDER BY a, b"
        assert x.execute(q).fetchall() == y.execute(q).fetchall()  # the workers' verdicts, stored here


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_fails_fast(library: Path, tmp_path: Path) -> None:
    db = tmp_path / "x.sqlite"
    t0 = time.monotonic()
    r = run_framediff("index", str(library), "--db", str(db), "--cluster", f"tcp://127.0.0.1:{_free_port()}")
    assert time.monotonic() - t0 < 5
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: cannot reach the Dask scheduler at tcp://127.0.0.1:")
    assert not db.exists()  # nothing written


@pytest.mark.parametrize("spec", ["scheduler:8786", "tcp://host", "local:0", "local:x"])
def test_malformed_cluster_is_one_error_line(library: Path, tmp_path: Path, spec: str) -> None:
    for command in ("index", "dupes"):
        r = run_framediff(command, str(library), "--db", str(tmp_path / "x.sqlite"), "--cluster", spec)
        assert r.returncode == 2
        assert r.stderr.startswith("Error: --cluster ") and r.stderr.count("\n") == 1, r.stderr
        assert not (tmp_path / "x.sqlite").exists()


def test_without_the_extra_cluster_names_the_install(library: Path, tmp_path: Path) -> None:
    # A Python where dask.distributed cannot be imported, as on an install without framediff[cluster].
    code = (
        "import sys; sys.modules['distributed'] = None\n"
        "from framediff.cli import main\n"
        "main(sys.argv[1:])\n"
    )
    for command in ("index", "dupes"):
        r = subprocess.run(
            [sys.executable, "-c", code, command, str(library), "--db", str(tmp_path / "x.sqlite"), "--cluster", "local:2"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert r.returncode == 2
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("Error: "), r.stderr
        assert "pip install 'framediff[cluster]'" in r.stderr
        assert not (tmp_path / "x.sqlite").exists()


def test_a_stopped_cluster_run_resumes(library: Path, local_index: Path, cluster, tmp_path: Path) -> None:
    c, _ = cluster
    db = tmp_path / "stopped.sqlite"

    def stop(stage: str, done: int, total: int) -> None:
        if done >= 12:
            raise KeyboardInterrupt  # as Ctrl-C does, between two results

    with Index(db) as index, pytest.raises(KeyboardInterrupt):
        add_pictures(index, [library], progress=stop, cluster=c.scheduler_address)
    kept = len(rows(db))
    assert 12 <= kept < 41  # every result received before the stop is in the index
    with Index(db) as index:
        report = add_pictures(index, [library], cluster=c.scheduler_address)
    assert report.fingerprinted == 41 - kept  # only the rest is read
    assert rows(db) == rows(local_index)


def test_settings_reach_the_workers(library: Path, cluster, tmp_path: Path) -> None:
    c, _ = cluster
    # The picture size limit is this process's setting: the workers must refuse the same pictures.
    local = run_framediff("index", str(library), "--db", str(tmp_path / "a.sqlite"), "--max-pixels", "200K")
    remote = run_framediff(
        "index", str(library), "--db", str(tmp_path / "b.sqlite"), "--max-pixels", "200K", "--cluster", c.scheduler_address
    )  # fmt: skip
    refused = sorted(line for line in local.stderr.splitlines() if "over the limit" in line)
    assert len(refused) >= 20  # the larger sizes of each photo
    assert sorted(line for line in remote.stderr.splitlines() if "over the limit" in line) == refused
    assert rows(tmp_path / "a.sqlite") == rows(tmp_path / "b.sqlite")


def test_a_picture_that_kills_its_workers_is_listed(tmp_path: Path) -> None:
    import dask

    lib = tmp_path / "lib"
    write_library(lib, per_photo=1, side=300)
    # The small pictures are indexed first, so that the cluster run has only the killing picture to do: a
    # small one still running or queued on a worker when it dies would be a failure of that task too
    # (allowed-failures counts the deaths of every task on the worker), which under load made this test
    # list an innocent picture now and then.
    with Index(tmp_path / "x.sqlite") as index:
        assert add_pictures(index, [lib]).fingerprinted == len(PHOTO_NAMES) + 1  # the pictures, broken.jpg
    # 144 million pixels (under the 200M limit) decode to 432 MB: over the workers' memory limit below, so
    # the nanny kills each worker that reads it, and the scheduler gives up on it (here after 2 deaths:
    # allowed-failures is 3 by default, each costing a worker's restart).
    big = np.zeros((12000, 12000, 3), np.uint8)
    big[::50] = 255
    assert cv2.imwrite(str(lib / "huge.png"), big, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    del big
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}), distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, memory_limit="450MiB", dashboard_address=":0", silence_logs=50
    ) as c, Index(tmp_path / "x.sqlite") as index:
        report = add_pictures(index, [lib], cluster=c.scheduler_address)
    assert report.fingerprinted == 1  # huge.png: the others are unchanged
    errors = {Path(e.path).name: e.message for e in report.errors}
    assert errors["huge.png"] == "cannot read it (the cluster's workers kept dying on it: see their logs)"
    assert set(errors) == {"huge.png", "broken.jpg"}
    with Index(tmp_path / "x.sqlite") as index:  # remembered as unreadable: not tried again unchanged
        assert add_pictures(index, [lib]).fingerprinted == 0
