"""The command-line interface: a thin layer of click commands over the library.

Each command lives in its own module and registers itself on :data:`cli` when imported; the group
imports a command's module only when that command is used (see :data:`app.COMMANDS`).
"""

from .app import cli, main

__all__ = ["cli", "main"]
