"""Every command's help keeps the units its options declare in square brackets."""

from __future__ import annotations

import re

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
        units = [
            unit
            for param in command.params
            for unit in re.findall(r"\\?\[([^\]]+)\]", getattr(param, "help", None) or "")
        ]
        if not units:
            continue
        result = runner.invoke(app, [*path, "--help"], terminal_width=200)
        text = " ".join(result.output.replace("│", " ").split())
        for unit in units:
            assert f"[{unit}]" in text, (path, unit)
            checked += 1
    assert checked >= 8
