"""The README and the CLI agree (as sqlite-utils' ``tests/test_docs.py`` checks its docs): every command and
option a README command line shows exists, and every option of every command is in the README."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from framediff.cli.app import COMMANDS, cli

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def _command(name: str) -> click.Command:
    command = cli.get_command(click.Context(cli), name)
    assert command is not None, f"framediff {name} is no command"
    return command


def _flags(command: click.Command) -> dict[str, list[str]]:
    """Each parameter's option strings, e.g. ``{"output": ["-o", "--output"]}``."""
    return {p.name: list(p.opts) for p in command.params if isinstance(p, click.Option)}


def _readme_command_lines() -> list[list[str]]:
    """The words of every ``framediff ...`` line in the README's shell blocks."""
    lines = []
    for block in re.findall(r"```(?:sh|bash|console)\n(.*?)```", README, flags=re.S):
        for line in block.splitlines():
            line = line.split("  #")[0]  # the comment after a command
            if "framediff " not in line:
                continue
            words = shlex.split(line[line.index("framediff ") :])
            lines.append(words)
    return lines


def test_every_command_line_of_the_readme_uses_real_commands_and_options() -> None:
    lines = _readme_command_lines()
    assert len(lines) >= 20, "the README's examples were found"
    for words in lines:
        name = words[1]
        assert name in COMMANDS, f"framediff {name}: no such command ({' '.join(words)})"
        known = {o for opts in _flags(_command(name)).values() for o in opts}
        for word in words[2:]:
            flag = word.split("=")[0]
            if flag.startswith("-") and flag != "-":
                assert flag in known, f"framediff {name} has no {flag} ({' '.join(words)})"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_option_is_in_the_readme(name: str) -> None:
    written = set(re.findall(r"(?<![\w-])--?[a-zA-Z][a-z0-9-]*", README))
    missing = [
        opts[-1]
        for param, opts in _flags(_command(name)).items()
        if param != "help" and not any(o in written for o in opts)
    ]
    assert not missing, f"framediff {name}: options the README does not mention: {missing}"
