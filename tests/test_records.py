"""What a run records is true and publishable: the command line typed, paths relative to the folder or under ``~``."""

from __future__ import annotations

import json

from test_runs import make_dataset
from workbench.cli import main
from workbench.paths import published_command
from workbench.views import reporting


def _header(run_dir, monkeypatch) -> str:
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    reporting.header(run_dir, "Experiment report")
    return "".join(getattr(o, "data", "") or "" for o in shown)


def test_the_typed_command_line_is_recorded_with_home_as_tilde_and_shown_escaped(tmp_path, monkeypatch):
    """summary.json did not say which command made the run; now it keeps argv (home as ~) and the folder it was typed
    in, and the report's provenance shows it, escaped."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    manifest = make_dataset(tmp_path / "proj", n=2, bad=False)
    out = tmp_path / "proj" / "runs" / "<i>r</i>"
    assert main(["run", str(manifest), "--model", "tiny", "--device", "cpu", "--out", str(out), "--no-cache"]) == 0
    typed = json.loads((out / "summary.json").read_text())["command_line"]
    assert typed == {"argv": ["workbench", "run", "~/proj/manifest.csv", "--model", "tiny", "--device", "cpu", "--out",
                              "~/proj/runs/<i>r</i>", "--no-cache"], "cwd": "~"}
    page = _header(out, monkeypatch)
    assert "<b>typed</b>: <code>workbench run ~/proj/manifest.csv --model tiny --device cpu --out ~/" in page
    assert "&lt;i&gt;r&lt;/i&gt;" in page and "<i>r</i>" not in page and str(tmp_path) not in page


def test_a_run_made_from_python_says_no_command_line_was_recorded(tmp_path, monkeypatch):
    from workbench.model.ref import ModelRef
    from workbench.runs.driver import run

    manifest = make_dataset(tmp_path, n=2, bad=False)
    result = run(manifest, out_dir=tmp_path / "r", model=ModelRef("tiny", device="cpu", dtype="float32"), use_cache=False)
    assert result.summary["command_line"] is None
    assert "<b>typed</b>: no command line recorded" in _header(tmp_path / "r", monkeypatch)


def test_published_command_hides_home_in_words_and_after_an_equals_sign(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "alice"))
    monkeypatch.chdir(tmp_path)
    rec = published_command(["workbench", "report", "x", "-p", f"run_dir={tmp_path}/alice/runs/a", f"{tmp_path}/alice",
                             f"{tmp_path}/alicebob/x", "a=b"])
    assert rec["argv"][4:] == ["run_dir=~/runs/a", "~", f"{tmp_path}/alicebob/x", "a=b"]
    assert rec["cwd"] == str(tmp_path)
