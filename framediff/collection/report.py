"""The answer of ``framediff dupes``: groups of copies around a kept file, each copy's relation to it."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

# A member's relation to its group's kept file, most faithful first. ``edited`` members (local changes:
# captions, retouches, stickers) are never acted on unless asked for.
RELATIONS = (
    "exact",  # the same bytes
    "same-pixels",  # the same decoded pixels in another file format or with other metadata
    "resized",
    "recompressed",  # the same picture at the same size, re-encoded (JPEG quality, noise, blur)
    "cropped",
    "bordered",  # the kept picture inside a larger one (borders, padding, a screenshot)
    "mirrored",
    "rotated",  # quarter turns or a small rotation
    "recoloured",  # light, colour balance or grey
    "edited",  # local changes: see ``regions``
    "similar",  # another shot of the same scene (only with ``--similar``)
)

DIGEST_BYTES = 16  # blake2b digest size: 128 bits, far past any collision in a photo library


def file_digest(path: str | os.PathLike) -> str:
    """The hash of a file's bytes that :attr:`FileInfo.digest` holds: blake2b (16 bytes), hex.

    Args:
        path: The file.

    Returns:
        32 hex digits.

    Raises:
        OSError: when the file cannot be read.
    """
    h = hashlib.blake2b(digest_size=DIGEST_BYTES)
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


@dataclass
class FileInfo:
    """What the index knows of one file.

    Attributes:
        path: The file's path as given or found (absolute).
        size: Size in bytes.
        mtime: Modification time (seconds since the epoch).
        width: Picture width after EXIF orientation.
        height: Picture height after EXIF orientation.
        format: Container format in lower case (``jpeg``, ``png``, ``webp``...).
        taken: EXIF date taken (ISO 8601) when the file has one.
        reference: True when the file lies in a ``--reference`` folder (never acted on, always kept).
        digest: :func:`file_digest` of the bytes when fingerprinted, if known: actions re-check a file
            that changed since (size or mtime) against it.
    """

    path: str
    size: int
    mtime: float
    width: int
    height: int
    format: str
    taken: str | None = None
    reference: bool = False
    digest: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form."""
        return {
            "path": self.path,
            "size": self.size,
            "mtime": self.mtime,
            "width": self.width,
            "height": self.height,
            "format": self.format,
            "taken": self.taken,
            "reference": self.reference,
            "digest": self.digest,
        }


@dataclass
class Member:
    """A duplicate: one file of a group that is not the kept one.

    Attributes:
        file: The duplicate file.
        relation: One of :data:`RELATIONS`: how this file relates to the kept one.
        transform: compare's transform of this file relative to the kept one (mirrored, rotation,
            scale, aspect, crop boxes, light/colour/grey), or ``None`` for exact copies.
        score: How alike the two are, 0-1 (1 = identical): compare's explained share.
        regions: Edited regions as ``[x, y, w, h]`` boxes in this file's pixels (``edited`` only).
        changed: Share of the picture that differs locally from the kept one (``edited`` only).
    """

    file: FileInfo
    relation: str
    transform: dict[str, Any] | None = None
    score: float = 1.0
    regions: list[list[int]] = field(default_factory=list)
    changed: float = 0.0

    @property
    def edited(self) -> bool:
        """True when the copy has local changes (never acted on unless ``--include-edited``)."""
        return self.relation in ("edited", "similar")

    def describe(self, keep: FileInfo | None = None) -> list[str]:
        """The relation to the kept file in a few words, most important first, e.g. ``["mirrored",
        "resized to 50%"]`` or ``["cropped to 120,40 300x200 of the kept picture"]``.

        Args:
            keep: The kept file, to tell a format change or a size ratio when the transform does not.

        Returns:
            Short phrases (never empty).
        """
        t = self.transform or {}
        words: list[str] = []
        rel = self.relation
        if rel == "exact":
            words.append("exact copy (same bytes)")
        elif rel == "same-pixels":
            other = keep is not None and keep.format != self.file.format
            words.append(
                f"same pixels as {self.file.format.upper()}" if other else "same pixels, other metadata"
            )
        elif rel == "recompressed":
            words.append("re-encoded")
        elif rel == "similar":
            words.append("similar shot")
        elif rel == "edited":
            n = len(self.regions)
            words.append(f"edited ({n} region{'s' if n != 1 else ''})" if n else "edited")
        if t.get("mirrored"):
            words.append("mirrored")
        rot = float(t.get("rotation") or 0.0)
        if abs(rot) >= 0.5:
            turn = "" if abs(rot) == 180.0 else (" anticlockwise" if rot > 0 else " clockwise")
            words.append(f"rotated {abs(rot):g}\u00b0{turn}")
        crop = t.get("crop") or {}
        scale = t.get("scale")
        if scale is None and keep is not None and keep.width and keep.height and not crop:
            # By area, so that a quarter turn (width and height swapped) is not taken for a resize.
            scale = ((self.file.width * self.file.height) / (keep.width * keep.height)) ** 0.5
        if scale is not None and abs(float(scale) - 1.0) > 0.02:
            words.append(f"resized to {float(scale) * 100:.0f}%")
        aspect = float(t.get("aspect") or 1.0)
        if abs(aspect - 1.0) > 0.03:
            words.append(f"stretched {aspect:.2f}x wide" if aspect > 1 else f"squeezed {aspect:.2f}x wide")
        if "b_in_a" in crop:
            words.append("cropped to {},{} {}x{} of the kept picture".format(*crop["b_in_a"]))
        if "a_in_b" in crop:
            words.append("border: the kept picture lies at {},{} {}x{}".format(*crop["a_in_b"]))
        if t.get("grey"):
            words.append("grey")
        elif t.get("colour"):
            words.append("colours changed")
        elif t.get("light"):
            words.append("light changed")
        if not words:
            words.append({"bordered": "with a border", "recoloured": "recoloured"}.get(rel, rel))
        return words

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``duplicates`` items of ``--json``)."""
        return {
            "path": self.file.path,
            "relation": self.relation,
            "transform": self.transform,
            "score": round(self.score, 4),
            "regions": self.regions,
            "changed": round(self.changed, 4),
            "size": self.file.size,
            "width": self.file.width,
            "height": self.file.height,
            "format": self.file.format,
            "taken": self.file.taken,
            "reference": self.file.reference,
        }


@dataclass
class Group:
    """One kept file and its verified duplicates."""

    keep: FileInfo
    duplicates: list[Member]

    @property
    def reclaimable(self) -> int:
        """Bytes freed by removing every duplicate that is not edited and not in a reference folder."""
        return sum(m.file.size for m in self.duplicates if not m.edited and not m.file.reference)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``groups`` items of ``--json``)."""
        return {
            "keep": self.keep.path,
            "keep_file": self.keep.to_dict(),
            "files": [self.keep.path] + [m.file.path for m in self.duplicates],
            "duplicates": [m.to_dict() for m in self.duplicates],
            "reclaimable": self.reclaimable,
        }


@dataclass
class FileError:
    """A file that could not be fingerprinted (listed, never fatal)."""

    path: str
    message: str

    @property
    def text(self) -> str:
        """The file and what is wrong with it, naming the file once (readers' messages often name it)."""
        return self.message if self.message.startswith(self.path) else f"{self.path}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``errors`` items of ``--json``)."""
        return {"path": self.path, "error": self.message}


@dataclass
class DuplicateReport:
    """The answer of :func:`framediff.find_duplicates`.

    Attributes:
        groups: Duplicate groups, largest reclaimable space first.
        errors: Files that could not be read.
        files: How many picture files were looked at.
        fingerprinted: How many of them were (re)fingerprinted in this run (the others came from the index).
        seconds: Wall time of the run.
        warnings: What the user should know (an index that could not be used...).
    """

    groups: list[Group]
    errors: list[FileError] = field(default_factory=list)
    files: int = 0
    fingerprinted: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)

    @property
    def duplicates(self) -> int:
        """How many files are duplicates of a kept one."""
        return sum(len(g.duplicates) for g in self.groups)

    @property
    def reclaimable(self) -> int:
        """Bytes that removing the non-edited duplicates would free."""
        return sum(g.reclaimable for g in self.groups)

    def to_dict(self) -> dict[str, Any]:
        """The JSON object ``framediff dupes --json`` prints."""
        return {
            "files": self.files,
            "fingerprinted": self.fingerprinted,
            "groups": [g.to_dict() for g in self.groups],
            "duplicates": self.duplicates,
            "reclaimable": self.reclaimable,
            "errors": [e.to_dict() for e in self.errors],
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
        }
