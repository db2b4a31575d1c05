"""Keep secrets out of what framediff shows: passwords in URLs are masked before any message, status or
event carries them."""

from __future__ import annotations

import re

__all__ = ["mask_password"]

# scheme://user:password@ anywhere in a text; the password ends at the last "@" before the host part.
_USERINFO = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):(?P<password>[^/\s]*)@")


def mask_password(text: str) -> str:
    """Replace the password of every ``scheme://user:password@host`` URL in ``text`` with ``***``.

    Example::

        >>> mask_password("cannot open rtsp://admin:hunter2@cam/live: timed out")
        'cannot open rtsp://admin:***@cam/live: timed out'

    Args:
        text: A URL, or a message that may contain URLs.

    Returns:
        The text with each password shown as ``***`` (user names and everything else kept).
    """
    return _USERINFO.sub(lambda m: f"{m.group('head')}:***@", str(text))
