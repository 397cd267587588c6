"""The `docent` command line itself: every command dispatches through its own function, every option is
explained, and the version comes from the installed package. No model loads here."""

from __future__ import annotations

import argparse
from importlib.metadata import version

import pytest

from serve.cli import COMMANDS, main, parser


def subparsers(command_line: argparse.ArgumentParser) -> list[tuple[str, argparse.ArgumentParser]]:
    """Every parser under `command_line`, nested ones (`keys create`) included, with its full name."""
    found = [(command_line.prog, command_line)]
    for action in command_line._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += subparsers(child)
    return found


def test_every_option_and_argument_has_help():
    missing = [
        f"{name}: {action.option_strings or action.dest}"
        for name, command_line in subparsers(parser())
        for action in command_line._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert missing == []


def test_every_command_sets_its_function_and_has_its_own_module():
    leaves = [
        (name, p)
        for name, p in subparsers(parser())
        if not any(isinstance(a, argparse._SubParsersAction) for a in p._actions)
    ]
    assert {name for name, _ in leaves} == {
        "docent ingest",
        "docent sync",
        "docent worker",
        "docent search",
        "docent ask",
        "docent eval",
        "docent slack",
        "docent keys create",
        "docent keys list",
        "docent keys revoke",
        "docent keys rotate",
        "docent audit export",
        "docent audit who-saw",
        "docent db upgrade",
        "docent db status",
        "docent reindex",
        "docent serve",
        "docent mcp",
    }
    for name, command_line in leaves:
        func = command_line.get_default("func")
        assert callable(func), name
        assert func.__module__.startswith("serve.cli.") and func.__module__ != "serve.cli", name
    assert len({module.__name__ for module in COMMANDS}) == len(COMMANDS) == 13


def test_version_comes_from_the_package_metadata(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"docent {version('docent')}"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["search"],
        ["ingest", "x", "--queue", "--server", "http://h"],
        ["search", "q", "--mode", "fuzzy"],
        ["keys", "create"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "usage: docent" in capsys.readouterr().err
