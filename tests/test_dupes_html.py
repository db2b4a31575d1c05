"""Tests of ``framediff.collection.html``: the self-contained report page, on a library of real pictures
the test writes (every relation: exact, other format, resized, mirrored, rotated, cropped, border, grey,
edited), opened in the real headless Chromium with the network off.

The browser test is skipped (with the reason) only when Chromium, its driver or selenium is missing;
``.ci/run`` installs Debian's ``chromium`` and ``chromium-driver``.
"""

from __future__ import annotations

import base64
import html
import os
import re
import shutil
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from framediff.collection.html import human_bytes, thumbnail, write_html
from framediff.collection.report import DuplicateReport, FileError, FileInfo, Group, Member, file_digest
from framediff.errors import OutputError

from .conftest import photo_bgr

SHOTS = Path(os.environ.get("FRAMEDIFF_SHOTS", "/tmp/framediff-shots"))


def info(path: Path, reference: bool = False, taken: str | None = None) -> FileInfo:
    st = path.stat()
    h, w = cv2.imread(str(path)).shape[:2]
    fmt = {".jpg": "jpeg", ".png": "png", ".webp": "webp"}[path.suffix]
    return FileInfo(
        str(path),
        st.st_size,
        st.st_mtime,
        w,
        h,
        fmt,
        taken=taken,
        reference=reference,
        digest=file_digest(path),
    )


def write(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 88])
    return path


def library(root: Path, n_groups: int = 9) -> DuplicateReport:
    """``n_groups`` groups cycling over five photos, each with several kinds of copies."""
    groups = []
    names = ("astronaut", "coffee", "chelsea", "rocket", "camera")
    for g in range(n_groups):
        name = names[g % len(names)]
        pic = photo_bgr(name)
        h, w = pic.shape[:2]
        d = root / f"{g:02d}-{name}"
        keep = info(write(d / f"{name}.jpg", pic), taken=f"2021-06-0{g % 9 + 1}T10:3{g % 10}:00")
        members = []
        kind = g % 3
        if kind == 0:
            ex = d / "copy" / f"{name}.jpg"
            ex.parent.mkdir()
            shutil.copyfile(keep.path, ex)
            members.append(Member(info(ex), "exact"))
            members.append(Member(info(write(d / f"{name}.png", pic)), "same-pixels", score=1.0))
            small = cv2.resize(pic, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
            members.append(Member(info(write(d / "small.jpg", small)), "resized", {"scale": 0.5}, 0.97))
        elif kind == 1:
            members.append(
                Member(info(write(d / "mirror.jpg", pic[:, ::-1])), "mirrored", {"mirrored": True}, 0.99)
            )
            rot = cv2.rotate(pic, cv2.ROTATE_90_COUNTERCLOCKWISE)
            members.append(Member(info(write(d / "turned.jpg", rot)), "rotated", {"rotation": 90.0}, 0.98))
            x, y, cw, ch = w // 5, h // 6, w // 2, h // 2
            members.append(
                Member(
                    info(write(d / "crop.jpg", pic[y : y + ch, x : x + cw])),
                    "cropped",
                    {"crop": {"b_in_a": [x, y, cw, ch]}},
                    0.96,
                )
            )
        else:
            framed = cv2.copyMakeBorder(pic, 40, 40, 60, 60, cv2.BORDER_CONSTANT, value=(255, 255, 255))
            members.append(
                Member(
                    info(write(d / "border.jpg", framed)),
                    "bordered",
                    {"crop": {"a_in_b": [60, 40, w, h]}},
                    0.95,
                )
            )
            grey = cv2.cvtColor(cv2.cvtColor(pic, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)
            members.append(Member(info(write(d / "grey.jpg", grey)), "recoloured", {"grey": True}, 0.97))
            edited = pic.copy()
            box = [w // 3, h // 3, w // 4, h // 5]
            cv2.rectangle(edited, (box[0], box[1]), (box[0] + box[2], box[1] + box[3]), (30, 200, 240), -1)
            cv2.putText(edited, "HELLO", (20, h - 30), cv2.FONT_HERSHEY_SIMPLEX, 1.5, (255, 255, 255), 3)
            members.append(
                Member(
                    info(write(d / "edited.jpg", edited)),
                    "edited",
                    {},
                    0.91,
                    regions=[box, [15, h - 70, 170, 50]],
                )
            )
        groups.append(Group(keep, members))
    errors = [
        FileError(str(root / "broken.jpg"), "broken.jpg is a truncated JPEG"),
        FileError(str(root / "empty.png"), "empty.png is empty"),
    ]
    return DuplicateReport(
        groups, errors=errors, files=sum(1 + len(g.duplicates) for g in groups) + 2, seconds=1.25
    )


def test_the_page_is_one_file_with_every_group_and_nothing_from_outside(tmp_path: Path) -> None:
    report = library(tmp_path / "lib", 7)
    out = write_html(report, tmp_path / "report.html", per_page=3)
    text = out.read_text(encoding="utf-8")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary file left
    # Every picture is a data: URI: nothing is fetched (no src/href to http, no stylesheet, no script file).
    srcs = re.findall(r'<img src="([^"]*)"', text)
    assert len(srcs) == sum(1 + len(g.duplicates) for g in report.groups)
    assert all(s.startswith("data:image/jpeg;base64,") for s in srcs)
    assert (
        not re.search(r"""(src|href)=["']https?:""", text) and "<link" not in text and "@import" not in text
    )
    # Each thumbnail is a JPEG at most 200 px that decodes.
    for s in srcs[:6]:
        im = cv2.imdecode(np.frombuffer(base64.b64decode(s.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
        assert im is not None and max(im.shape[:2]) == 200
    for n in range(1, 8):
        assert f'id="group-{n}"' in text
    assert text.count('<template id="page-') == 2  # 7 groups at 3 per page: pages 2 and 3 wait in templates
    for g in report.groups:
        assert html.escape(os.path.basename(g.keep.path)) in text
    # The summary: counts, reclaimable bytes, the unreadable files.
    assert human_bytes(report.reclaimable) in text and "broken.jpg is a truncated JPEG" in text
    assert "resized to 50%" in text and "mirrored" in text and "rotated 90° anticlockwise" in text
    assert (
        "border: the kept picture lies at 60,40" in text and "grey" in text and "edited (2 regions)" in text
    )


def test_the_page_never_overwrites_a_picture_and_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    report = library(tmp_path / "lib", 2)
    pic = Path(report.groups[0].keep.path)
    before = pic.read_bytes()
    with pytest.raises(OutputError, match="would overwrite"):
        write_html(report, pic)
    assert pic.read_bytes() == before
    with pytest.raises(OutputError, match="cannot write"):
        write_html(report, tmp_path / "no-such-folder" / "r.html")
    assert not (tmp_path / "no-such-folder").exists()


def test_unreadable_pictures_are_shown_as_such(tmp_path: Path) -> None:
    report = library(tmp_path / "lib", 1)
    gone = report.groups[0].duplicates[0].file
    os.unlink(gone.path)
    text = write_html(report, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "no such file" in text and text.count("<img ") == len(report.groups[0].duplicates)


def test_thumbnails_are_upright_per_exif_orientation(tmp_path: Path) -> None:
    """A JPEG stored sideways with EXIF orientation 6 shows upright (Pillow writes the tag)."""
    from PIL import Image

    pic = cv2.resize(photo_bgr("coffee"), (400, 200))  # landscape, 2:1
    p = tmp_path / "sideways.jpg"
    sideways = cv2.rotate(pic, cv2.ROTATE_90_COUNTERCLOCKWISE)  # stored portrait
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 clockwise to display"
    Image.fromarray(sideways[..., ::-1]).save(p, exif=exif, quality=90)
    uri, w, h = thumbnail(p)
    assert (w, h) == (200, 100)
    im = cv2.imdecode(np.frombuffer(base64.b64decode(uri.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(im.astype(int) - cv2.resize(pic, (200, 100), interpolation=cv2.INTER_AREA)).mean() < 12


# -- in the real browser -----------------------------------------------------------------------------------


def chromium(tmp_path: Path):
    """Headless Chromium driven by selenium, or a skip saying what is missing."""
    browser, driver = shutil.which("chromium") or "/usr/bin/chromium", "/usr/bin/chromedriver"
    if not (os.path.exists(browser) and os.path.exists(driver)):
        pytest.skip(
            "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        )
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')"
    )
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = browser
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'chrome-profile'}",
    ):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=opts)


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_page_in_chromium_offline_shows_every_group_and_pages_through(tmp_path: Path) -> None:
    report = library(tmp_path / "lib", 9)
    page = write_html(report, tmp_path / "report.html", per_page=4)  # 3 pages: 4, 4, 1 groups
    driver = chromium(tmp_path)
    try:
        from selenium.webdriver.common.by import By

        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0},
        )
        driver.get(page.as_uri())
        wait_for(
            lambda: driver.execute_script("return document.documentElement.dataset.ready"), 20, "the script"
        )

        def shown() -> list[int]:
            return [
                int(s.get_attribute("id").split("-")[1])
                for s in driver.find_elements(By.CSS_SELECTOR, "#view section.group")
            ]

        def pictures_decoded() -> bool:
            return driver.execute_script(
                "var im = document.querySelectorAll('#view img');"
                "return im.length > 0 && Array.prototype.every.call(im, function (i) {"
                " return i.complete && i.naturalWidth > 0; });"
            )

        def look(name: str) -> None:
            """A screenshot of the whole page, to look at (the window grown to the page's height)."""
            SHOTS.mkdir(parents=True, exist_ok=True)
            size = driver.get_window_size()
            height = driver.execute_script("return document.documentElement.scrollHeight")
            driver.set_window_size(size["width"], min(6000, height + 140))
            driver.save_screenshot(str(SHOTS / name))
            driver.set_window_size(size["width"], size["height"])

        assert shown() == [1, 2, 3, 4]
        wait_for(pictures_decoded, 20, "the thumbnails of page 1 to decode")
        # Nothing came from the network: the only resource is none (data: URIs are not fetched).
        assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0
        assert driver.title == f"framediff dupes: {report.duplicates} duplicates in 9 groups"
        summary = driver.find_element(By.CSS_SELECTOR, "header.top").text
        assert "broken.jpg is a truncated JPEG" in summary and human_bytes(report.reclaimable) in summary
        # Boxes are drawn: the crop on the kept picture of group 2, the edited regions on group 3's copy.
        boxes = driver.find_elements(By.CSS_SELECTOR, "#group-2 figure.keep .box.crop")
        assert len(boxes) == 1 and boxes[0].size["width"] > 20
        assert len(driver.find_elements(By.CSS_SELECTOR, "#group-3 figure.dup .box.edit")) == 2
        assert len(driver.find_elements(By.CSS_SELECTOR, "#group-3 figure.dup .box.frame")) == 1
        # Kept and copies side by side: every copy's card is to the right of, or below, the kept one.
        keep = driver.find_element(By.CSS_SELECTOR, "#group-1 figure.keep").rect
        first = driver.find_element(By.CSS_SELECTOR, "#group-1 figure.dup").rect
        assert first["x"] > keep["x"] + keep["width"] - 1 and abs(first["y"] - keep["y"]) < 5
        look("dupes-page1.png")

        driver.find_element(By.CSS_SELECTOR, "nav.pages button.next").click()
        wait_for(lambda: shown() == [5, 6, 7, 8], 10, "page 2")
        wait_for(pictures_decoded, 20, "the thumbnails of page 2 to decode")
        assert driver.execute_script("return location.hash") == "#page=2"
        driver.find_elements(By.CSS_SELECTOR, "nav.pages button")[3].click()  # prev, 1, 2, [3], next
        wait_for(lambda: shown() == [9], 10, "page 3")
        assert driver.find_element(By.CSS_SELECTOR, "nav.pages button.next").get_attribute("disabled")
        look("dupes-page3.png")
        driver.refresh()  # the page number survives a reload
        wait_for(
            lambda: driver.execute_script("return document.documentElement.dataset.ready") and shown() == [9],
            10,
            "page 3 again",
        )
        driver.find_element(By.CSS_SELECTOR, "nav.pages button[data-page='1']").click()
        wait_for(lambda: shown() == [1, 2, 3, 4], 10, "page 1 again")
        wait_for(pictures_decoded, 20, "the thumbnails of page 1 again")
        seen = set()
        for p in (1, 2, 3):  # every group shows on one of the pages
            driver.find_element(By.CSS_SELECTOR, f"nav.pages button[data-page='{p}']").click()
            wait_for(lambda p=p: shown() and shown()[0] == 4 * p - 3, 10, f"page {p}")
            seen.update(shown())
        assert seen == set(range(1, 10))
    finally:
        driver.quit()
