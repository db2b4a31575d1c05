"""The report page of ``framediff dupes --html``: one self-contained HTML file (no server, nothing fetched:
thumbnails are small JPEGs inside the page as ``data:`` URIs, styles and script inline).

Each group shows its kept file and every duplicate side by side, with the relation in words (mirrored,
rotated 90°, resized to 50%, cropped, border, grey...), sizes in pixels and bytes, dates, and boxes drawn
on the thumbnails: a crop's place on the kept picture, the kept picture's place in a bordered copy, the
edited regions of an edited copy. A summary (groups, duplicates, bytes that could be reclaimed, the files
that could not be read) opens the page.

Large libraries are paginated inside the one file: the first page is ordinary HTML and every other page
sits in an inert ``<template>`` (its pictures are not decoded, and it costs the browser no layout) until
a small script puts it on screen, so a page with thousands of groups opens as fast as one with fifty;
the page number is kept in the address (``#page=3``) so a reload stays there. The file is written under a
temporary name and renamed when complete.
"""

from __future__ import annotations

import base64
import html
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO

import cv2

from ..analysis.prepare import to_bgr8
from ..errors import FramediffError, OutputError
from ..media.images import jpeg_header, jpeg_reduction, read_image, read_jpeg_reduced
from ..paths import check_outputs, disk_error, remove_quietly, temp_path
from ..workers import POOL
from .report import DuplicateReport, FileInfo, Group, Member

__all__ = ["write_html", "thumbnail", "human_bytes", "PER_PAGE", "THUMB"]

PER_PAGE = 50  # groups per page: a screenful or two of pictures, ~1-2 MB of thumbnails
THUMB = 200  # the thumbnails' longest side, pixels
QUALITY = 75  # their JPEG quality: ~6-10 kB each, sharp enough to tell copies apart

Thumb = tuple[str, int, int] | str  # (data URI, width, height), or why the picture could not be shown


def human_bytes(n: float) -> str:
    """A size as people read it, in SI units: ``512 B``, ``1.2 kB``, ``3.4 MB``, ``1.0 GB``."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} TB"  # pragma: no cover - the loop always returns


def thumbnail(path: str | os.PathLike, size: int = THUMB, quality: int = QUALITY) -> tuple[str, int, int]:
    """A small JPEG of a picture, upright (EXIF orientation applied), as a ``data:`` URI.

    Args:
        path: The picture.
        size: The longest side of the thumbnail (pictures smaller than that keep their size).
        quality: JPEG quality.

    Returns:
        ``(data URI, width, height)`` of the thumbnail.

    Raises:
        FramediffError: when the picture cannot be read.
    """
    header = jpeg_header(path)
    if header is not None:
        (w, h), orientation = header
        k = jpeg_reduction(size / max(w, h, 1))
        # DCT-scaled decoding: a 12 MP photo decodes at 1/8 size several times faster.
        image = read_jpeg_reduced(path, k, orientation) if k > 1 else read_image(path)
    else:
        image = read_image(path)
    image = to_bgr8(image)
    h, w = image.shape[:2]
    scale = min(1.0, size / max(w, h))
    if scale < 1.0:
        image = cv2.resize(
            image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
        )
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - OpenCV always encodes 8-bit BGR
        raise OutputError(f"cannot make a thumbnail of {path}")
    return (
        "data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii"),
        image.shape[1],
        image.shape[0],
    )


def _safe_thumbnail(path: str, size: int, quality: int) -> Thumb:
    try:
        return thumbnail(path, size, quality)
    except FramediffError as e:
        return e.message
    except OSError as e:
        return f"cannot read {path}: {e.strerror or e}"


# -- the page --------------------------------------------------------------------------------------------

CSS = """
:root { --ink: #1d232b; --muted: #5d6875; --line: #dde2e8; --bg: #f4f6f8; --card: #fff;
  --keep: #1a7f37; --crop: #0b62d6; --edit: #d42a2a; --frame: #8a3ffc; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
  background: var(--bg); }
header.top { background: var(--card); border-bottom: 1px solid var(--line); padding: 18px 28px 14px; }
h1 { font-size: 20px; margin: 0 0 10px; }
.stats { display: flex; flex-wrap: wrap; gap: 10px 28px; margin: 0 0 8px; }
.stat b { display: block; font-size: 22px; line-height: 1.1; }
.stat span { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; margin: 6px 0; }
.chip { background: var(--bg); border: 1px solid var(--line); border-radius: 99px; padding: 1px 9px; font-size: 12px; }
.legend { color: var(--muted); font-size: 12px; margin-top: 6px; }
.legend i { display: inline-block; width: 14px; height: 10px; border: 2px solid; vertical-align: -1px; margin: 0 4px 0 10px; }
details.errors { margin-top: 8px; }
details.errors summary { cursor: pointer; color: var(--edit); font-weight: 600; }
details.errors li { font-family: ui-monospace, monospace; font-size: 12px; word-break: break-all; }
nav.pages { display: flex; align-items: center; gap: 6px; flex-wrap: wrap; padding: 10px 28px; position: sticky; top: 0;
  background: rgba(244,246,248,.95); border-bottom: 1px solid var(--line); z-index: 2; }
nav.pages button { font: inherit; padding: 3px 10px; border: 1px solid var(--line); background: var(--card); border-radius: 6px;
  cursor: pointer; min-width: 34px; }
nav.pages button[aria-current="page"] { background: var(--ink); color: #fff; border-color: var(--ink); }
nav.pages button:disabled { opacity: .4; cursor: default; }
nav.pages .where { color: var(--muted); margin-left: 8px; }
main { padding: 14px 28px 40px; }
section.group { background: var(--card); border: 1px solid var(--line); border-radius: 10px; margin: 0 0 16px; padding: 12px 14px; }
section.group h2 { font-size: 15px; margin: 0 0 10px; display: flex; gap: 12px; align-items: baseline; flex-wrap: wrap; }
section.group h2 small { color: var(--muted); font-weight: normal; font-size: 13px; }
.row { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
figure { margin: 0; width: 216px; }
figure.keep { border-right: 1px dashed var(--line); padding-right: 14px; width: 230px; }
.thumb { position: relative; display: inline-block; line-height: 0; background: #eef1f4; border-radius: 4px;
  outline: 1px solid var(--line); }
.thumb img { display: block; max-width: 200px; max-height: 200px; border-radius: 4px; }
.thumb .none { display: flex; align-items: center; justify-content: center; width: 200px; height: 120px; padding: 10px;
  line-height: 1.3; color: var(--edit); font-size: 12px; text-align: center; word-break: break-all; }
.box { position: absolute; border: 2px solid var(--edit); box-shadow: 0 0 0 1px rgba(255,255,255,.8); line-height: 1; }
.box.crop { border-color: var(--crop); border-style: dashed; }
.box.frame { border-color: var(--frame); }
.box b { position: absolute; top: -1px; left: -1px; background: var(--crop); color: #fff; font-size: 10px; padding: 1px 3px; }
figcaption { margin-top: 6px; font-size: 12px; color: var(--muted); }
figcaption .rel { color: var(--ink); font-weight: 600; font-size: 13px; display: block; }
figcaption .role { display: inline-block; font-size: 11px; font-weight: 700; letter-spacing: .05em; color: #fff;
  background: var(--keep); border-radius: 3px; padding: 0 5px; margin-bottom: 2px; }
figcaption .role.dup { background: var(--muted); }
figcaption .role.ref { background: var(--frame); }
figcaption .role.safe { background: #b26b00; }
figcaption .name { color: var(--ink); word-break: break-all; display: block; }
figcaption .dir { word-break: break-all; display: block; }
figcaption a { color: inherit; text-decoration: none; }
noscript p { margin: 0 28px; color: var(--edit); }
"""

SCRIPT = """
(function () {
  var total = %(pages)d, perPage = %(per_page)d, groups = %(groups)d, current = 1;
  var view = document.getElementById('view'), first = document.createDocumentFragment();
  var navs = document.querySelectorAll('nav.pages');
  function button(label, page, attrs) {
    var b = document.createElement('button');
    b.type = 'button'; b.textContent = label; b.dataset.page = page;
    for (var k in attrs) b.setAttribute(k, attrs[k]);
    if (page < 1 || page > total) b.disabled = true;
    return b;
  }
  function numbers() {
    var want = [1, total], out = [];
    for (var p = current - 2; p <= current + 2; p++) want.push(p);
    want = want.filter(function (p, i) { return p >= 1 && p <= total && want.indexOf(p) === i; })
               .sort(function (a, b) { return a - b; });
    want.forEach(function (p, i) { if (i && p - want[i - 1] > 1) out.push(0); out.push(p); });
    return out;
  }
  function draw() {
    navs.forEach(function (nav) {
      nav.replaceChildren();
      nav.appendChild(button('\\u2039 Previous', current - 1, {'class': 'prev'}));
      numbers().forEach(function (p) {
        if (!p) { var s = document.createElement('span'); s.textContent = '\\u2026'; nav.appendChild(s); return; }
        nav.appendChild(button(String(p), p, p === current ? {'aria-current': 'page'} : {}));
      });
      nav.appendChild(button('Next \\u203a', current + 1, {'class': 'next'}));
      var where = document.createElement('span');
      where.className = 'where';
      var lo = (current - 1) * perPage + 1, hi = Math.min(groups, current * perPage);
      where.textContent = 'page ' + current + ' of ' + total + ' \\u00b7 ' +
        (lo === hi ? 'group ' + lo : 'groups ' + lo + '\\u2013' + hi) + ' of ' + groups;
      nav.appendChild(where);
    });
  }
  function show(page, scroll) {
    page = Math.max(1, Math.min(total, page | 0 || 1));
    if (page !== current) {
      if (current === 1) { while (view.firstChild) first.appendChild(view.firstChild); }
      else { view.replaceChildren(); }
      if (page === 1) view.appendChild(first);
      else view.appendChild(document.getElementById('page-' + page).content.cloneNode(true));
      current = page;
      if (scroll) window.scrollTo(0, 0);
    }
    draw();
    history.replaceState(null, '', page === 1 ? location.pathname + location.search : '#page=' + page);
  }
  document.addEventListener('click', function (e) {
    var b = e.target.closest('nav.pages button');
    if (b && !b.disabled) show(+b.dataset.page, true);
  });
  document.addEventListener('keydown', function (e) {
    if (e.target.closest('input, textarea, select')) return;
    if (e.key === 'ArrowRight') show(current + 1, true);
    if (e.key === 'ArrowLeft') show(current - 1, true);
  });
  var m = /page=(\\d+)/.exec(location.hash);
  show(m ? +m[1] : 1, false);
  document.documentElement.dataset.ready = '1';
})();
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _when(info: FileInfo) -> str:
    parts = []
    if info.taken:
        parts.append("taken " + info.taken.replace("T", " ")[:16])
    if info.mtime:
        parts.append("modified " + time.strftime("%Y-%m-%d %H:%M", time.localtime(info.mtime)))
    return " · ".join(parts)


def _pct_box(box: Sequence[int], w: int, h: int, cls: str, label: str = "", title: str = "") -> str:
    """A box in a picture's pixels drawn over its thumbnail (in percent, so it follows the thumbnail)."""
    if not w or not h or len(box) != 4:
        return ""
    x, y, bw, bh = (float(v) for v in box)
    style = (
        f"left:{max(0.0, 100 * x / w):.2f}%;top:{max(0.0, 100 * y / h):.2f}%;"
        f"width:{min(100.0, 100 * bw / w):.2f}%;height:{min(100.0, 100 * bh / h):.2f}%"
    )
    inner = f"<b>{_e(label)}</b>" if label else ""
    return f'<div class="box {cls}" style="{style}" title="{_e(title)}">{inner}</div>'


def _thumb_html(info: FileInfo, thumb: Thumb, boxes: Iterable[str]) -> str:
    if isinstance(thumb, str):
        return f'<div class="thumb"><div class="none">{_e(thumb)}</div></div>'
    uri, tw, th = thumb
    href = Path(info.path).absolute().as_uri() if os.path.isabs(info.path) else _e(info.path)
    return (
        f'<a class="thumb" href="{_e(href)}" target="_blank" rel="noopener">'
        f'<img src="{uri}" width="{tw}" height="{th}" alt="{_e(os.path.basename(info.path))}" loading="lazy">'
        f"{''.join(boxes)}</a>"
    )


def _caption(info: FileInfo, role: str, role_cls: str, base: str, rel: str = "") -> str:
    folder, name = os.path.split(info.path)
    shown = os.path.relpath(folder, base) if base and folder.startswith(base) else folder
    rel_html = f'<span class="rel">{_e(rel)}</span>' if rel else ""
    dims = f"{info.width}\u00d7{info.height} px" if info.width and info.height else ""
    facts = " · ".join(
        x
        for x in (
            dims,
            f'<span title="{info.size} bytes">{human_bytes(info.size)}</span>',
            _e(info.format.upper()),
        )
        if x
    )
    when = _when(info)
    return (
        f'<figcaption><span class="role {role_cls}">{_e(role)}</span>{rel_html}'
        f'<span class="name">{_e(name)}</span><span class="dir" title="{_e(folder)}">{_e(shown)}</span>'
        f"<span>{facts}</span>{'<br>' + _e(when) if when else ''}</figcaption>"
    )


def _member_role(m: Member) -> tuple[str, str]:
    if m.file.reference:
        return "REFERENCE", "ref"
    if m.edited:
        return "NOT ACTED ON", "safe"
    return "DUPLICATE", "dup"


def _group_html(n: int, group: Group, thumbs: dict[str, Thumb], base: str) -> str:
    keep = group.keep
    crops = []
    cards = []
    for i, m in enumerate(group.duplicates, 1):
        t = m.transform or {}
        crop = t.get("crop") or {}
        boxes = []
        if "b_in_a" in crop:  # where this copy lies in the kept picture
            crops.append(
                _pct_box(crop["b_in_a"], keep.width, keep.height, "crop", str(i), f"copy {i} is this part")
            )
        if "a_in_b" in crop:  # where the kept picture lies in this copy (borders, a screenshot)
            boxes.append(
                _pct_box(crop["a_in_b"], m.file.width, m.file.height, "frame", "", "the kept picture")
            )
        for r in m.regions:
            boxes.append(_pct_box(r, m.file.width, m.file.height, "edit", "", "edited here"))
        role, cls = _member_role(m)
        words = ", ".join(m.describe(keep))
        score = f" · {m.score:.0%} alike" if m.relation not in ("exact", "same-pixels") else ""
        cards.append(
            f'<figure class="dup" data-relation="{_e(m.relation)}">'
            f"{_thumb_html(m.file, thumbs[m.file.path], boxes)}"
            f"{_caption(m.file, f'{role} {i}', cls, base, words + score)}</figure>"
        )
    keep_card = (
        f'<figure class="keep">{_thumb_html(keep, thumbs[keep.path], crops)}'
        f"{_caption(keep, 'KEPT' + (' · REFERENCE' if keep.reference else ''), 'keep', base)}</figure>"
    )
    ndup = len(group.duplicates)
    head = (
        f"<h2>Group {n}<small>{ndup} duplicate{'s' if ndup != 1 else ''} · "
        f"{human_bytes(group.reclaimable)} reclaimable</small></h2>"
    )
    return f'<section class="group" id="group-{n}">{head}<div class="row">{keep_card}{"".join(cards)}</div></section>'


def _summary_html(report: DuplicateReport, title: str, pages: int, base: str) -> str:
    counts: dict[str, int] = {}
    for g in report.groups:
        for m in g.duplicates:
            counts[m.relation] = counts.get(m.relation, 0) + 1
    not_acted = sum(1 for g in report.groups for m in g.duplicates if m.edited or m.file.reference)
    stats = [
        (report.files or sum(1 + len(g.duplicates) for g in report.groups), "pictures looked at"),
        (len(report.groups), "groups"),
        (report.duplicates, "duplicates"),
        (human_bytes(report.reclaimable), "reclaimable"),
        (not_acted, "edited / reference (kept)"),
        (len(report.errors), "unreadable files"),
    ]
    stat_html = "".join(f'<div class="stat"><b>{_e(v)}</b><span>{_e(k)}</span></div>' for v, k in stats)
    chips = "".join(
        f'<span class="chip">{_e(r)}: {c}</span>' for r, c in sorted(counts.items(), key=lambda x: -x[1])
    )
    errors = ""
    if report.errors:
        items = "".join(f"<li>{_e(e.text)}</li>" for e in report.errors)
        opened = " open" if len(report.errors) <= 20 else ""
        n = len(report.errors)
        errors = (
            f'<details class="errors"{opened}><summary>{n} file{"s" if n != 1 else ""} could not be read'
            f"</summary><ul>{items}</ul></details>"
        )
    legend = (
        '<div class="legend">Boxes:<i style="border-color:var(--crop);border-style:dashed"></i>'
        "where a cropped copy lies in the kept picture"
        '<i style="border-color:var(--frame)"></i>where the kept picture lies in a bordered copy'
        '<i style="border-color:var(--edit)"></i>edited regions. Click a picture to open the file.</div>'
    )
    when = f"found by framediff in {report.seconds:.1f} s" if report.seconds else "found by framediff"
    return (
        f'<header class="top"><h1>{_e(title)}</h1><div class="stats">{stat_html}</div>'
        f'<div class="chips">{chips}</div>{errors}{legend}'
        f'<div class="legend">{_e(when)} · {pages} page{"s" if pages != 1 else ""} of groups'
        f"{' · folders below are under <b>' + _e(base) + '</b>' if base else ''}</div></header>"
    )


def write_html(
    report: DuplicateReport,
    path: str | os.PathLike,
    *,
    title: str | None = None,
    per_page: int = PER_PAGE,
    thumb_size: int = THUMB,
    quality: int = QUALITY,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Write the report page.

    Args:
        report: The duplicate groups.
        path: The HTML file to write (never one of the report's pictures).
        title: The page's title (default: ``"framediff dupes: N duplicates in M groups"``).
        per_page: Groups per page.
        thumb_size: The thumbnails' longest side in pixels.
        quality: The thumbnails' JPEG quality.
        progress: ``progress(groups done, groups)`` after each page.

    Returns:
        The file written.

    Raises:
        OutputError: the path is one of the pictures, or cannot be written (nothing is left behind).
    """
    final = Path(path)
    per_page = max(1, int(per_page))
    files = [g.keep.path for g in report.groups] + [m.file.path for g in report.groups for m in g.duplicates]
    check_outputs([("--html", final)], [("picture", p) for p in files])
    title = title or (
        f"framediff dupes: {report.duplicates} duplicate{'s' if report.duplicates != 1 else ''} "
        f"in {len(report.groups)} group{'s' if len(report.groups) != 1 else ''}"
    )
    groups = report.groups
    pages = max(1, -(-len(groups) // per_page))
    tmp = temp_path(final)
    try:
        with open(tmp, "x", encoding="utf-8") as f:
            _write_page(f, report, title, pages, per_page, thumb_size, quality, progress)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except OSError as e:
        remove_quietly(tmp)
        raise disk_error(final, e) from None
    except BaseException:
        remove_quietly(tmp)
        raise
    return final


def _common_folder(report: DuplicateReport) -> str:
    """The folder all the pictures lie under, shown once in the summary so that the cards show only the
    part of each folder that differs (``""`` when there is none but the file system's root)."""
    folders = {
        os.path.dirname(os.path.abspath(f.path))
        for g in report.groups
        for f in [g.keep] + [m.file for m in g.duplicates]
    }
    if not folders:
        return ""
    try:
        base = os.path.commonpath(sorted(folders))
    except ValueError:  # different drives
        return ""
    return "" if os.path.dirname(base) == base else base


def _write_page(
    f: IO[str],
    report: DuplicateReport,
    title: str,
    pages: int,
    per_page: int,
    thumb_size: int,
    quality: int,
    progress: Callable[[int, int], None] | None,
) -> None:
    groups = report.groups
    csp = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
    f.write(
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n"
    )
    base = _common_folder(report)
    f.write(_summary_html(report, title, pages, base))
    nav = '<nav class="pages" aria-label="pages"></nav>' if pages > 1 else ""
    f.write(
        nav + "<noscript><p>Only the first page shows without JavaScript.</p></noscript>" if pages > 1 else ""
    )
    f.write('<main id="view">')
    if not groups:
        f.write("<p>No duplicates found.</p>")
    for p in range(pages):
        chunk = groups[p * per_page : (p + 1) * per_page]
        paths = list(
            dict.fromkeys([g.keep.path for g in chunk] + [m.file.path for g in chunk for m in g.duplicates])
        )
        # Thumbnails of one page at a time: decoding uses both cores, memory stays one page's worth.
        thumbs = dict(
            zip(paths, POOL.map(lambda x: _safe_thumbnail(x, thumb_size, quality), paths), strict=True)
        )
        body = "\n".join(_group_html(p * per_page + i + 1, g, thumbs, base) for i, g in enumerate(chunk))
        if p == 0:
            f.write(body + "</main>\n")
        else:
            f.write(f'<template id="page-{p + 1}">{body}</template>\n')
        if progress is not None:
            progress(min(len(groups), (p + 1) * per_page), len(groups))
    f.write(nav.replace("<nav ", '<nav id="bottom" ') if nav else "")
    f.write(f"<script>{SCRIPT % {'pages': pages, 'per_page': per_page, 'groups': len(groups)}}</script>\n")
    f.write("</body></html>\n")
