"""Every command's help keeps the units its options declare in square brackets."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from wattmesh.cli import app


def commands(group, path=()):
    for name, command in getattr(group, "commands", {}).items():
        yield (*path, name), command
        yield from commands(command, (*path, name))


def test_bracketed_units_survive_in_every_help_text():
    runner = CliRunner()
    checked = 0
    for path, command in commands(typer.main.get_command(app)):
        helps = [p.help for p in command.params if "[" in (getattr(p, "help", None) or "")]
        if not helps:
            continue
        result = runner.invoke(app, [*path, "--help"], terminal_width=240)
        text = " ".join(result.output.replace("│", " ").split())
        for text_of_option in helps:
            expected = " ".join(text_of_option.replace("\\[", "[").split())
            assert expected in text, (path, expected)
            checked += 1
    assert checked >= 8
