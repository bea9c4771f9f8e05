"""Every command explains itself: help for each option, its default, and an example."""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from workbench.cli import COMMANDS, build_parser, main

REPO = Path(__file__).resolve().parent.parent


def walk(parser: argparse.ArgumentParser, name: str = "workbench"):
    """(name, parser) for the parser and every sub-parser below it."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from walk(sub, f"{name} {sub_name}")


PARSERS = list(walk(build_parser()))


def test_the_walk_sees_every_command():
    names = {n for n, _ in PARSERS}
    assert {"workbench infer", "workbench run", "workbench manifest", "workbench model make-tiny",
            "workbench datasets import-emobox", "workbench datasets import-hf", "workbench datasets import-lhotse",
            "workbench export-lhotse", "workbench demo"} <= names
    assert len(names) == 1 + len(COMMANDS) + 2  # workbench, each command, and the "model" and "datasets" groups


@pytest.mark.parametrize("name,parser", PARSERS, ids=[n for n, _ in PARSERS])
def test_every_argument_has_help_and_every_command_an_example(name, parser):
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and action.help.strip(), f"{name}: {action.option_strings or action.dest} has no help"
    assert parser.epilog and "Example" in parser.epilog and "workbench " in parser.epilog, name
    text = parser.format_help()
    # the example keeps its line breaks (RawDescription)
    assert "Example:\n  workbench " in text, name
    # every option with a real default shows it
    for action in parser._actions:
        if not action.option_strings or isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        if any(action.default is v for v in (None, False, argparse.SUPPRESS)):  # a default of 0 is a value: shown
            continue
        rendered = parser._get_formatter()._format_action(action)
        assert "default" in rendered, f"{name} {action.option_strings}: default {action.default!r} not shown"


def test_help_exits_cleanly_and_shows_defaults(capsys):
    with pytest.raises(SystemExit) as info:
        main(["run", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--chunk CHUNK" in out and "(default: 64)" in out and "--skip-missing" in out and "Example:" in out


def _readme_commands(path: Path) -> list[str]:
    """Every `workbench …` line of the shell blocks of a README, continuation lines joined."""
    commands = []
    for block in re.findall(r"```(?:bash|sh|shell)\n(.*?)```", path.read_text(encoding="utf-8"), re.S):
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.strip()
            if line.startswith("workbench "):
                commands.append(line)
    return commands


@pytest.mark.parametrize("readme", ["README.md", "datasets/README.md"])
def test_readme_commands_exist_in_the_cli(readme):
    commands = _readme_commands(REPO / readme)
    assert commands, readme
    parser = build_parser()
    for command in commands:
        argv = shlex.split(command, comments=True)[1:]
        try:
            parser.parse_args(argv)
        except SystemExit:  # argparse printed why
            pytest.fail(f"{readme}: `{command}` is not a valid workbench command line")


def test_the_own_folder_recipe_is_in_the_readme():
    commands = _readme_commands(REPO / "README.md")
    subcommands = [shlex.split(c, comments=True)[1] for c in commands]
    for step in ("manifest", "run", "metrics", "report"):
        assert step in subcommands
    assert ". .venv/bin/activate" in (REPO / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("argv, named, suggestion", [
    (["run", "m.csv", "--dtpye", "float32"], "workbench run", "did you mean --dtype?"),
    (["run", "m.csv", "--dtyp", "float32"], "workbench run", "did you mean --dtype?"),  # never taken as an abbreviation
    (["model", "info", "--modl", "tiny"], "workbench model info", "did you mean --model?"),
])
def test_an_unknown_option_is_refused_by_its_command_with_the_closest_one(argv, named, suggestion, capsys):
    from workbench.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and f"{named}: error: unknown option" in err and suggestion in err and "its options:" in err


def test_infer_says_what_its_folders_hold_not_an_internal_word():
    """`workbench --help` said infer writes "seed-compatible output folders" and its --out "the seeds' layout": words
    of the project's history that tell a newcomer nothing. The help names the files, as the README does."""
    parser = dict(PARSERS)["workbench infer"]
    text = " ".join(parser.format_help().split())
    listing = " ".join(build_parser().format_help().split())
    for shown in (text, listing):
        assert "seed-compatible" not in shown and "seeds'" not in shown
    assert "result.json" in text and "processed_audio.wav" in text and "result.json" in listing
