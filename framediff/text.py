"""Wording shared by the commands' messages."""

from __future__ import annotations

__all__ = ["plural"]


def plural(count: int, noun: str, many: str | None = None) -> str:
    """A count with its noun, singular for one: ``1 frame``, ``2 frames``, ``0 frames``.

    Args:
        count: How many.
        noun: The singular noun.
        many: The plural when it is not ``noun + "s"`` (``"boxes"``).

    Returns:
        ``"<count> <noun>"`` in the right number.
    """
    return f"{count} {noun if count == 1 else (many or noun + 's')}"
