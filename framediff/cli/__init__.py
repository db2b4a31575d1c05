"""The command-line interface: a thin layer of click commands over the library.

Each command lives in its own module and registers itself on :data:`cli`.
"""

from .app import cli, main

# Importing a command module adds its command to the group.
from . import compare_cmd  # noqa: E402,F401  isort: skip
from . import dedup_cmd  # noqa: E402,F401  isort: skip
from . import watch_cmd  # noqa: E402,F401  isort: skip

__all__ = ["cli", "main"]
