"""The written forms of a :class:`~.report.DuplicateReport`: the text listing, CSV, and the words for a
member's relation."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from ..media.images import write_bytes
from .html import human_bytes
from .report import DuplicateReport, FileInfo, Member

__all__ = ["CSV_FIELDS", "csv_text", "human_bytes", "member_words", "report_text", "write_csv", "write_json"]

CSV_FIELDS = (
    "group", "role", "path", "relation", "score", "transform", "regions", "bytes", "width", "height",
    "format", "taken", "reference",
)  # fmt: skip


def member_words(m: Member, keep: FileInfo) -> str:
    """How a member relates to its kept file: :meth:`Member.describe`'s words, led by the relation when
    they do not already name it (``mirrored; resized to 50%``, ``recoloured (grey)``)."""
    text = "; ".join(m.describe(keep))
    if m.relation.replace("-", " ")[:5] in text or m.relation == "recompressed":  # "re-encoded" says it
        return text
    return f"{m.relation} ({text})"


def report_text(report: DuplicateReport) -> str:
    """The listing ``framediff dupes`` prints: a summary line, then each group (kept file first)."""
    lines = [summary_line(report)]
    for n, g in enumerate(report.groups, 1):
        k = g.keep
        ref = ", reference" if k.reference else ""
        lines.append(f"group {n}: keep {k.path} ({k.width}x{k.height}, {human_bytes(k.size)}{ref})")
        for m in g.duplicates:
            f = m.file
            note = " [reference: never touched]" if f.reference else (" [edited: not acted on]" if m.edited else "")
            lines.append(f"  {member_words(m, k)}: {f.path} ({f.width}x{f.height}, {human_bytes(f.size)}){note}")
    return "\n".join(lines)


def summary_line(report: DuplicateReport) -> str:
    """``142 groups, 291 duplicates, 120.5 MB reclaimable (591 files, 12 fingerprinted, 3 unreadable, 2.1 s)``."""
    g, d = len(report.groups), report.duplicates
    parts = [f"{report.files} files", f"{report.fingerprinted} fingerprinted"]
    if report.errors:
        parts.append(f"{len(report.errors)} unreadable")
    parts.append(f"{report.seconds:.1f} s")
    return (
        f"{g} group{'s' if g != 1 else ''}, {d} duplicate{'s' if d != 1 else ''}, "
        f"{human_bytes(report.reclaimable)} reclaimable ({', '.join(parts)})"
    )


def _rows(report: DuplicateReport) -> list[dict[str, Any]]:
    rows = []
    for n, g in enumerate(report.groups, 1):
        k = g.keep
        rows.append({
            "group": n, "role": "keep", "path": k.path, "relation": "", "score": "", "transform": "",
            "regions": "", "bytes": k.size, "width": k.width, "height": k.height, "format": k.format,
            "taken": k.taken or "", "reference": int(k.reference),
        })  # fmt: skip
        for m in g.duplicates:
            f = m.file
            rows.append({
                "group": n, "role": "duplicate", "path": f.path, "relation": m.relation,
                "score": f"{m.score:.4f}", "transform": "; ".join(m.describe(k)),
                "regions": " ".join(",".join(str(v) for v in r) for r in m.regions), "bytes": f.size,
                "width": f.width, "height": f.height, "format": f.format, "taken": f.taken or "",
                "reference": int(f.reference),
            })  # fmt: skip
    return rows


def csv_text(report: DuplicateReport) -> str:
    """The CSV report: a header, then one row per file (``role`` keep or duplicate), grouped."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(_rows(report))
    return buf.getvalue()


def write_csv(report: DuplicateReport, path: str | os.PathLike) -> None:
    """Write :func:`csv_text` atomically (a temporary name, renamed when complete)."""
    write_bytes(Path(path), csv_text(report).encode("utf-8"))


def write_json(report: DuplicateReport, path: str | os.PathLike) -> None:
    """Write the ``--json`` object to a file atomically."""
    write_bytes(Path(path), (json.dumps(report.to_dict(), indent=1) + "\n").encode("utf-8"))
