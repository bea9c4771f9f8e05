"""Commands the workbench prints for the user to paste keep a path with a space as one argument (shell-quoted)."""

from __future__ import annotations

import argparse
import shlex

import pytest

from test_corpora import wav
from workbench.cli import main
from workbench.paths import shell_command


def test_shell_command_quotes_each_word_once():
    line = shell_command("workbench", "run", "MANIFEST", "--model", "models/cremad head", "-p", "run_dir=runs/my run")
    assert line == "workbench run MANIFEST --model 'models/cremad head' -p 'run_dir=runs/my run'"
    assert shlex.split(line) == ["workbench", "run", "MANIFEST", "--model", "models/cremad head", "-p", "run_dir=runs/my run"]
    assert shlex.split(shell_command("it's here")) == ["it's here"]


def test_the_resume_command_keeps_a_spaced_folder_whole(tmp_path):
    from workbench.cli.running import resume_command

    args = argparse.Namespace(command_line=["run", "my wavs.csv", "--model", "tiny"], manifest="my wavs.csv", out=None)
    line = resume_command(args, tmp_path / "runs" / "my run")
    assert shlex.split(line) == ["workbench", "run", "my wavs.csv", "--model", "tiny", "--out", str(tmp_path / "runs" / "my run")]


def test_manifest_and_run_print_next_commands_that_paste(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for i, name in enumerate(("a1", "a2")):
        wav(tmp_path / "my wavs" / "angry" / f"{name}.wav", dur=0.5, seed=i)
    assert main(["manifest", "my wavs", "-o", "my lists/my wavs.csv", "--label-from-folder"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("next: "))
    assert shlex.split(line[len("next: "):]) == ["workbench", "run", "my lists/my wavs.csv", "--out", "runs/my wavs"]
    assert main(["run", "my lists/my wavs.csv", "--model", "tiny", "--out", "runs/my run", "--no-cache"]) == 0
    text = capsys.readouterr().out.split("next:\n", 1)[1]
    commands = [shlex.split(x, comments=True) for x in text.splitlines() if x.strip()]
    assert commands == [["workbench", "metrics", "runs/my run"],
                        ["workbench", "report", "experiment_report", "-p", "run_dir=runs/my run"]]


def test_a_run_folder_without_a_calibration_names_the_command_quoted(tmp_path):
    from workbench.cli.common import resolve_temperature
    from workbench.errors import WorkbenchError

    folder = tmp_path / "my run"
    folder.mkdir()
    with pytest.raises(WorkbenchError) as e:
        resolve_temperature(str(folder))
    assert shlex.split(e.value.fix.split("`")[1]) == ["workbench", "calibrate", str(folder)]


HOSTILE = "ev\x1b[2J\x1b]0;pwned\x07\u202eil\nfake's \\x"  # clear screen, retitle, bell, right-to-left, newline


def test_a_word_a_terminal_would_act_on_is_printed_escaped_and_pastes_as_the_same_word(tmp_path):
    import shutil
    import subprocess

    line = shell_command("printf", "%s", HOSTILE)
    assert line.isprintable() and "\x1b" not in line and "\n" not in line and "\u202e" not in line
    if shutil.which("bash"):
        pasted = subprocess.run(["bash", "-c", line], capture_output=True, text=True, env={"LANG": "C.UTF-8"}).stdout
        assert pasted == HOSTILE


def test_nothing_a_command_prints_carries_an_escape_sequence_from_a_file_name(tmp_path, capsys, monkeypatch):
    wav(tmp_path / "a.wav")
    monkeypatch.chdir(tmp_path)
    assert main(["manifest", str(tmp_path), "-o", f"{HOSTILE}.csv"]) == 0  # "wrote …" and "next: …"
    main(["run", f"{HOSTILE}.missing.csv", "--model", "tiny"])  # the error names the file
    out, err = capsys.readouterr()
    for text in (out, err):
        assert not any(ch in text for ch in "\x1b\x07\u202e\r"), text
    assert "next: " in out and "\\x1b" in out and "\\x1b" in err


def test_progress_lines_keep_their_carriage_returns_under_the_guard(tmp_path, capsys, monkeypatch):
    """The guard escapes \\r from data; the progress bar is made of \\r (it printed 'run: 17%…\\rrun: 46%' as text)."""
    from workbench.cli.common import guarded_terminal
    from workbench.logs import progress_stream

    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    with monkeypatch.context() as m:  # on a terminal the redraws keep their \r, unescaped by the guard
        m.setattr(sys, "stderr", Terminal())
        real = sys.stderr
        with guarded_terminal():
            assert progress_stream() is real
    with guarded_terminal():  # into a pipe (pytest's capture): whole lines, written past the guard too
        assert progress_stream().stream is sys.stderr.unguarded
    for i, name in enumerate(("a1", "a2")):
        wav(tmp_path / "w" / f"{name}.wav", dur=0.5, seed=i)
    monkeypatch.chdir(tmp_path)
    assert main(["manifest", "w", "-o", "m.csv"]) == 0
    capsys.readouterr()
    assert main(["run", "m.csv", "--model", "tiny", "--out", "r", "--no-cache"]) == 0
    err = capsys.readouterr().err
    assert "run: 100%" in err and "\\rrun" not in err and "\r" not in err
