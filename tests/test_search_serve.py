"""Tests of the search page (``framediff search --serve``, framediff.serve.search) on a real server, a real
index of pictures from ``skimage.data`` and real HTTP requests; the page itself in the real Chromium.

The browser test is skipped (with the reason) only when Chromium, its driver or selenium is missing.
"""

from __future__ import annotations

import http.client
import json
import struct
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from framediff.collection.index import Index
from framediff.serve.search import SearchServer

from .conftest import photo_bgr
from .test_search import _collage
from .test_serve import chromium


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("search-serve")
    (root / "refs").mkdir()
    for name in ("coffee", "rocket", "astronaut", "chelsea"):
        assert cv2.imwrite(str(root / "refs" / f"{name}.png"), photo_bgr(name))
    with Index(root / "index.sqlite") as index:
        index.add([root / "refs"])
    queries = root / "queries"
    queries.mkdir()
    cv2.imwrite(str(queries / "coffee-selfie.jpg"), cv2.flip(photo_bgr("coffee"), 1), [cv2.IMWRITE_JPEG_QUALITY, 90])
    page, where = _collage(photo_bgr("chelsea"), [photo_bgr("moon"), photo_bgr("gravel"), photo_bgr("hubble_deep_field")])
    cv2.imwrite(str(queries / "collage.jpg"), page, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return {"root": root, "db": root / "index.sqlite", "where": where}


@pytest.fixture()
def server(indexed: dict, request: pytest.FixtureRequest):
    opts = getattr(request, "param", {})
    s = SearchServer(indexed["db"], ("127.0.0.1", 0), **opts)
    s.start()
    yield s
    s.close()


def _multipart(name: str, data: bytes, ctype: str = "image/jpeg") -> tuple[bytes, str]:
    boundary = "----framediff-test-7f3a"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="picture"; filename="{name}"\r\n'
        f"Content-Type: {ctype}\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def _post(server: SearchServer, body: bytes, ctype: str, headers: dict | None = None, path: str = "/api/search"):
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("POST", path, body=body, headers={"Content-Type": ctype, **(headers or {})})
    r = conn.getresponse()
    data = r.read()
    return r.status, json.loads(data or b"{}"), r.getheader("Connection")


def _bomb() -> bytes:
    """A valid PNG signature and header declaring 100000 x 100000 pixels, with one tiny data chunk."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_the_api_answers_an_upload_with_verified_matches(server: SearchServer, indexed: dict) -> None:
    data = (indexed["root"] / "queries" / "coffee-selfie.jpg").read_bytes()
    status, answer, _ = _post(server, *_multipart("../../etc/coffee-selfie.jpg", data))
    assert status == 200, answer
    assert answer["query"] == "coffee-selfie.jpg"  # no path taken from the request, only the last name
    assert [Path(m["path"]).name for m in answer["matches"]] == ["coffee.png"]
    m = answer["matches"][0]
    assert m["relation"] == "mirrored" and m["thumb"].startswith("data:image/jpeg;base64,")
    assert (answer["width"], answer["height"]) == (600, 400)


@pytest.mark.parametrize("server", [{"max_bytes": 50_000}], indirect=True)
def test_the_api_refuses_what_it_must(server: SearchServer, indexed: dict) -> None:
    big = (indexed["root"] / "queries" / "collage.jpg").read_bytes()
    assert len(big) > 50_000
    status, answer, conn = _post(server, *_multipart("big.jpg", big))
    assert status == 413 and "too large" in answer["error"] and conn == "close"
    status, answer, conn = _post(server, *_multipart("notes.jpg", b"these are not pixels" * 20, "text/plain"))
    assert status == 415 and "not a picture" in answer["error"] and conn == "close"
    status, answer, _ = _post(server, *_multipart("bomb.png", _bomb(), "image/png"))
    assert status == 413 and "over the limit" in answer["error"]
    small = cv2.imencode(".jpg", photo_bgr("coffee")[::4, ::4])[1].tobytes()
    status, answer, _ = _post(server, *_multipart("c.jpg", small), {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert status == 403 and "cross-site" in answer["error"]
    status, answer, _ = _post(server, *_multipart("c.jpg", small), {"Origin": "http://evil.example"})
    assert status == 403 and "cross-origin" in answer["error"]
    status, answer, _ = _post(server, b"{}", "application/json")
    assert status == 415
    status, answer, _ = _post(server, *_multipart("c.jpg", small), path="/api/other")
    assert status == 404
    # The same small picture, from the page's own origin: answered.
    status, answer, _ = _post(server, *_multipart("c.jpg", small), {"Origin": f"http://127.0.0.1:{server.port}", "Sec-Fetch-Site": "same-origin"})
    assert status == 200 and [Path(m["path"]).name for m in answer["matches"]] == ["coffee.png"]


@pytest.mark.parametrize("server", [{"token": "s3cret-token-42"}], indirect=True)
def test_a_token_is_required_when_set(server: SearchServer, indexed: dict) -> None:
    small = cv2.imencode(".jpg", photo_bgr("rocket")[::2, ::2])[1].tobytes()
    status, answer, conn = _post(server, *_multipart("r.jpg", small))
    assert status == 401 and conn == "close"
    status, answer, _ = _post(server, *_multipart("r.jpg", small), {"Authorization": "Bearer s3cret-token-42"})
    assert status == 200 and [Path(m["path"]).name for m in answer["matches"]] == ["rocket.png"]


def test_serving_beyond_loopback_needs_a_token(indexed: dict) -> None:
    from framediff.errors import OptionError

    with pytest.raises(OptionError, match="without a token"):
        SearchServer(indexed["db"], ("0.0.0.0", 0))


def test_the_page_in_chromium_shows_the_match_and_where_it_lies(server: SearchServer, indexed: dict, tmp_path: Path) -> None:
    driver = chromium(tmp_path)
    try:
        from selenium.webdriver.common.by import By

        driver.get(server.url)
        driver.find_element(By.ID, "file").send_keys(str(indexed["root"] / "queries" / "collage.jpg"))
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not driver.find_elements(By.CSS_SELECTOR, ".match .box.where"):
            time.sleep(0.3)
        matches = driver.find_elements(By.CSS_SELECTOR, ".match")
        assert len(matches) == 1, driver.find_element(By.ID, "status").text
        assert "chelsea.png" in matches[0].text and "bordered" in matches[0].text
        box = driver.find_element(By.CSS_SELECTOR, ".match .box.where")
        img = driver.find_element(By.CSS_SELECTOR, ".match .pic img")
        # The box lies over the top left part of the collage, where the picture was pasted (30,20 450 wide of 1000).
        left = box.rect["x"] - img.rect["x"]
        assert abs(left / img.rect["width"] - 0.03) < 0.03 and abs(box.rect["width"] / img.rect["width"] - 0.45) < 0.06
        driver.save_screenshot(str(tmp_path / "search-page.png"))
        shot = cv2.imread(str(tmp_path / "search-page.png"))
        assert shot is not None and np.any(np.all(shot == (55, 127, 26), axis=2))  # the green box was drawn
    finally:
        driver.quit()
