"""Output paths: the temporary name an output is written under, and whether an output is an input.

Every output is written under a hidden temporary name in its final folder and renamed when complete, so
nobody sees a half-written file; and no output may overwrite an input. The commands word their refusals
themselves (each knows its options), but decide them here, so they all decide alike.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

__all__ = ["temp_path", "same_file"]


def temp_path(final: Path) -> Path:
    """A hidden name in ``final``'s folder, unique to this call, with the same extension (so the container
    or image format is the same).

    Args:
        final: The output's final path.

    Returns:
        The path to write to before renaming it to ``final``.
    """
    return final.with_name(f".{final.stem}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}{final.suffix}")


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether two paths name the same file: the same path once resolved (``..``, symbolic links), or,
    when both exist, one file under two names (a hard link, a bind mount).

    Args:
        a: A path (it need not exist).
        b: Another path (it need not exist).

    Returns:
        ``True`` when writing to one would overwrite the other.
    """
    pa, pb = Path(a), Path(b)
    try:
        if pa.exists() and pb.exists() and os.path.samefile(pa, pb):
            return True
    except OSError:
        pass
    return pa.resolve() == pb.resolve()
