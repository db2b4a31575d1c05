"""The error family of framediff.

Every error a user can cause (a missing file, a video that cannot be decoded, an option out of range) is a
:class:`FramediffError`. The CLI prints it as one line, ``Error: <what> (<what to do>)``, and exits with
status 2; library users catch the class they care about.
"""

from __future__ import annotations

from collections.abc import Mapping


class FramediffError(Exception):
    """Base class of every error framediff raises on bad input.

    Args:
        message: What is wrong, in one line.
        hint: What the user can do about it, in one line (optional).
        setting: The library's name of the setting the hint tells the user to change (``max_pixels``), so
            that a command line can name its own flag (``--max-pixels``) there instead.
    """

    def __init__(self, message: str, hint: str | None = None, setting: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.setting = setting

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class InputError(FramediffError):
    """An input file or array is missing, empty, corrupt or unusable (e.g. an image too small to compare)."""


class SourceError(FramediffError):
    """A frame source (video, stream, camera, folder) cannot be opened or read."""


class OptionError(FramediffError, ValueError):
    """An option value is out of range or malformed.

    Args:
        message: What is wrong, in one line, starting with the setting's name.
        hint: What the user can do about it (optional).
        setting: The library's name of the setting (``analysis_size``), so that a command line can name
            its own flag (``--analysis-size``) instead.
    """


class OutputError(FramediffError):
    """An output cannot be written (or would overwrite an input)."""


def named(setting: str, labels: Mapping[str, str] | None = None) -> str:
    """How a message names ``setting``: its own name, or what the caller calls it.

    Library messages name settings as the library does (``record``, ``max_clip``); a caller with other
    names for them (a command line's ``--record``, ``--max-clip``) passes ``labels``.

    Args:
        setting: The library's name of the setting.
        labels: The caller's names, by setting (``None``: the library's).

    Returns:
        The name to put in the message.
    """
    return (labels or {}).get(setting, setting)
