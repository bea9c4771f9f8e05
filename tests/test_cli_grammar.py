"""One grammar on every command (issue #27, item 7): the test walks every parser, so a new option that drifts fails here.

- every analysis command has ``--json``;
- ``--out`` on every command that writes, saying "output folder" or "output file" and where it goes by default;
- ``--folds`` is a count everywhere (a fold scheme's name is refused, naming ``--scheme``), ``--top`` is the top-k
  (no ``-n``), ``--by`` never takes a fold scheme;
- ``datasets export-lhotse`` beside ``import-lhotse``; the old spellings warn (one release) or are refused by name.
"""

from __future__ import annotations

import argparse
import json

import pytest

from test_cli_help import PARSERS
from workbench.cli import build_parser, main
from workbench.cli.common import DeprecatedOption, RenamedOption

#: the analysis commands of the issue: each prints one strict JSON document with --json
ANALYSIS = ("metrics", "listeners", "calibrate", "compare", "features", "probe", "embeddings", "fuse", "explain")
#: commands that write nothing (they print); `model make-tiny DIR` names its output folder as its one positional argument
WRITE_NOTHING = {"workbench diagnose", "workbench similar", "workbench model info"}
POSITIONAL_OUT = {"workbench model make-tiny"}

LEAVES = [(n, p) for n, p in PARSERS
          if not any(isinstance(a, argparse._SubParsersAction) for a in p._actions)]


def _options(parser) -> dict[str, argparse.Action]:
    return {o: a for a in parser._actions for o in a.option_strings}


def _live(parser) -> list[argparse.Action]:
    """The options a user is offered (old spellings are hidden aliases)."""
    return [a for a in parser._actions if a.option_strings and not isinstance(a, (DeprecatedOption, RenamedOption))]


def test_the_walk_sees_every_leaf_command():
    names = {n for n, _ in LEAVES}
    assert {f"workbench {c}" for c in ANALYSIS} <= names
    assert {"workbench datasets export-lhotse", "workbench datasets import-lhotse", "workbench export-lhotse"} <= names
    assert len(LEAVES) > 25


@pytest.mark.parametrize("command", ANALYSIS)
def test_every_analysis_command_has_json(command):
    parser = dict(LEAVES)[f"workbench {command}"]
    action = _options(parser).get("--json")
    assert action is not None, f"workbench {command} has no --json"
    assert isinstance(action, argparse._StoreTrueAction) and "strict JSON" in action.help


@pytest.mark.parametrize("name,parser", LEAVES, ids=[n for n, _ in LEAVES])
def test_out_means_the_output_folder_or_file_with_its_default_said(name, parser):
    out = _options(parser).get("--out")
    if name in WRITE_NOTHING or name in POSITIONAL_OUT:
        assert out is None, f"{name} writes nothing, yet has --out"
        return
    assert out is not None, f"{name} writes files but has no --out"
    assert out.help.startswith(("output folder: ", "output file: ")), f"{name}: --out help {out.help!r}"
    assert out.required or "(default: " in out.help, f"{name}: --out does not say where it writes by default"
    assert out.metavar in ("DIR", "FILE") and (out.metavar == "FILE") == out.help.startswith("output file")


@pytest.mark.parametrize("name,parser", LEAVES, ids=[n for n, _ in LEAVES])
def test_one_name_per_idea(name, parser):
    live = {o: a for a in _live(parser) for o in a.option_strings}
    assert "-n" not in live, f"{name}: -n (use --top)"
    folds = live.get("--folds")
    if folds is not None:  # a count everywhere, and a scheme's name is refused with the option that takes it
        assert folds.type("3") == 3, name
        for bad in ("speaker", "1", "x"):
            with pytest.raises(argparse.ArgumentTypeError):
                folds.type(bad)
    top = live.get("--top")
    if top is not None:
        assert top.type("4") == 4, name
    by = live.get("--by")
    if by is not None:  # a grouping, never the fold scheme (that is --scheme)
        assert "fold" not in (by.help or ""), f"{name}: --by {by.help!r}"
    scheme = live.get("--scheme")
    if scheme is not None:
        assert "fold scheme" in scheme.help, name
    for a in _live(parser):  # no two options of one command share a destination (old spellings excepted)
        same = [b for b in _live(parser) if b.dest == a.dest and b is not a]
        assert not same, f"{name}: {a.option_strings} and {same[0].option_strings} set the same value"


def test_probe_refuses_the_old_folds_scheme_with_the_new_option(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["probe", "runs/x", "--folds", "speaker"])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--scheme speaker" in err


@pytest.mark.parametrize("argv, why", [
    (["probe", "runs/x", "--scheme", "session", "--folds", "3"], "--scheme session takes its folds from the sessions"),
    (["probe", "runs/x", "--scheme", "split", "--folds", "4"], "--scheme split takes its folds from the split column"),
    (["finetune", "runs/x", "--out", "o", "--scheme", "emobox", "--folds", "3"], "--scheme emobox takes its folds from EmoBox"),
    (["finetune", "runs/x", "--out", "o", "--no-evaluation", "--folds", "3"], "there is no cross-validation to fold"),
])
def test_folds_given_where_nothing_takes_them_are_refused_not_ignored(argv, why, tmp_path, monkeypatch, capsys):
    """`--folds` counts speaker folds: with another scheme (or no cross-validation) it was silently ignored."""
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert why in err and "leave --folds out" in err and not list(tmp_path.iterdir())  # refused before any folder is made


def test_embeddings_refuses_n_naming_top(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["embeddings", "runs/x", "-n", "3"])
    assert exc.value.code == 2 and "-n is now --top" in capsys.readouterr().err


@pytest.mark.parametrize("argv, dest, value, new", [
    (["probe", "r", "--k", "4"], "folds", 4, "--folds"),
    (["finetune", "r", "--out", "o", "--k", "3"], "folds", 3, "--folds"),
    (["calibrate", "r", "--by", "session"], "scheme", "session", "--scheme"),
    (["features", "r", "--csv", "cues"], "out", "cues", "--out"),
])
def test_an_old_spelling_still_works_for_one_release_and_warns(argv, dest, value, new, capsys):
    args = build_parser().parse_args(argv)
    assert getattr(args, dest) == value
    err = capsys.readouterr().err
    assert "deprecated" in err and f"use {new}" in err


def test_an_unknown_option_is_still_refused_with_the_closest_one(capsys):
    with pytest.raises(SystemExit):
        main(["metrics", "runs/x", "--jsn"])
    err = capsys.readouterr().err
    assert "unknown option '--jsn'" in err and "did you mean --json?" in err


@pytest.mark.parametrize("command, old, new", [("probe", "--k", "--folds"), ("calibrate", "--by", "--scheme")])
def test_the_options_listed_under_an_unknown_one_leave_out_the_deprecated_spellings(command, old, new, capsys):
    """An unknown option's refusal listed "(its options: … --k …)" beside --folds: the list offered a spelling that
    warns it is going; now only the current ones are listed, and the closest is never an old one."""
    with pytest.raises(SystemExit):
        main([command, "runs/x", "--frobnicate"])
    listed = capsys.readouterr().err.split("(its options: ")[1].split(")")[0].split()
    assert new in listed and old not in listed, listed
    with pytest.raises(SystemExit):
        main([command, "runs/x", old + "x"])
    assert "did you mean " + old + "?" not in capsys.readouterr().err


def strict(text: str):
    """``json.loads`` that refuses NaN and Infinity (the strict JSON --json promises)."""
    def refuse(name):
        raise ValueError(f"non-strict JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


def test_an_error_that_begins_with_its_option_names_it_once(tmp_path, capsys):
    """`error: --alpha: --alpha is 1.2` named the option twice (the walk saw it); a file source keeps its prefix."""
    from workbench.errors import ConfigError

    err = ConfigError("--alpha is 1.2; it must lie strictly between 0 and 1.", source="--alpha", fix="pass --alpha 0.1.")
    assert err.render() == "error: --alpha is 1.2; it must lie strictly between 0 and 1.\n  fix: pass --alpha 0.1."
    assert str(err) == "--alpha is 1.2; it must lie strictly between 0 and 1. Fix: pass --alpha 0.1."
    other = ConfigError("unknown label set 'x'; expected one of corpus, nine.", source="--labels")
    assert other.render() == "error: --labels: unknown label set 'x'; expected one of corpus, nine."
    table = ConfigError("--alpha is named in this file.", source="data.csv")
    assert table.render().startswith("error: ") and ": --alpha is named" in table.render()
    from workbench.cli import main

    run = tmp_path / "missing"
    assert main(["calibrate", str(run), "--alpha", "1.2"]) != 0
    printed = capsys.readouterr().err  # the option is checked before the run is opened
    assert "error: --alpha is 1.2; it must lie strictly between 0 and 1." in printed and "--alpha: --alpha" not in printed
