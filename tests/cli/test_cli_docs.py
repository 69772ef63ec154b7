"""Documentation a test keeps honest: every command is in the README and has help."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import click
import pytest

from opskit.cli import cli

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


def _command(path: tuple[str, ...]) -> click.Command:
    command: click.Command = cli
    for name in path:
        assert isinstance(command, click.Group)
        command = command.commands[name]
    return command


COMMANDS = list(_commands(cli))


def _mentioned(path: tuple[str, ...]) -> bool:
    """``opskit offboard plan``, or the README's shorthand ``opskit offboard plan|apply``."""
    words = [re.escape(path[0])]
    words += [rf"(?:[\w-]+\\?\|)*{re.escape(name)}" for name in path[1:]]
    return re.search(r"\bopskit " + " ".join(words) + r"(?![\w-])", README) is not None


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_is_in_the_readme(path):
    assert _mentioned(path), f"README.md does not mention 'opskit {' '.join(path)}'"


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_every_command_and_option_has_help_text(path):
    command = _command(path)
    assert (command.help or "").strip(), f"'opskit {' '.join(path)}' has no help text"
    for param in command.params:
        if isinstance(param, click.Option):
            assert (param.help or "").strip(), f"{param.opts[0]} of 'opskit {' '.join(path)}'"


def test_the_walk_finds_every_command_and_subcommand():
    assert ("offboard", "plan") in COMMANDS and ("report", "dormant") in COMMANDS
    assert len(COMMANDS) > 15
