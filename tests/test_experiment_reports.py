"""``reports:`` of an experiment file: the reports go under the folder the user named, never into the current
folder and never into a received run folder (a file someone else wrote cannot choose where files go)."""

from __future__ import annotations

from pathlib import Path

import yaml

from test_corpora import wav
from workbench.cli import main
from workbench.cli.running import reports_folder


def _experiment(tmp_path, capsys) -> Path:
    for i, (folder, name) in enumerate([("angry", "a1"), ("sad", "s1"), ("angry", "a2"), ("sad", "s2")]):
        wav(tmp_path / "wavs" / folder / f"{name}.wav", dur=0.6, seed=i)
    assert main(["manifest", str(tmp_path / "wavs"), "-o", str(tmp_path / "wavs.csv"), "--label-from-folder"]) == 0
    capsys.readouterr()
    exp = tmp_path / "exp" / "experiment.yaml"
    exp.parent.mkdir()
    exp.write_text(yaml.safe_dump({"manifest": str(tmp_path / "wavs.csv"), "model": {"model": "tiny", "dtype": "float32"},
                                   "reports": ["experiment_report"]}))
    return exp


def _html(folder: Path) -> list[Path]:
    return sorted(folder.glob("experiment_report/*/experiment_report.html"))


def test_the_reports_of_an_experiment_file_go_under_out_never_into_the_cwd_or_the_received_run(tmp_path, capsys, monkeypatch):
    exp = _experiment(tmp_path, capsys)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    new = tmp_path / "new"
    assert main(["run", str(exp), "--out", str(new), "--cache-dir", str(tmp_path / "cache")]) == 0
    assert f"report: {new / 'reports'}" in capsys.readouterr().out
    assert len(_html(new / "reports")) == 1 and not (cwd / "reports").exists()
    # the run folder received, re-run elsewhere: its reports go to the new --out, the received folder is left as it was
    before = sorted(p.relative_to(new) for p in new.rglob("*"))
    newer = tmp_path / "newer"
    assert main(["run", str(new / "experiment.yaml"), "--out", str(newer), "--cache-dir", str(tmp_path / "cache")]) == 0
    capsys.readouterr()
    assert len(_html(newer / "reports")) == 1 and not (cwd / "reports").exists()
    assert len(_html(new / "reports")) == 1 and sorted(p.relative_to(new) for p in new.rglob("*")) == before


def test_where_the_reports_go_for_each_source_of_the_run_folder(tmp_path):
    exp = tmp_path / "received" / "experiment.yaml"
    assert reports_folder(str(tmp_path / "new"), None, exp, tmp_path / "new") == tmp_path / "new" / "reports"
    assert reports_folder(None, None, exp, Path("runs/x_1")) == Path("runs/x_1/reports")  # the default run folder
    inside = tmp_path / "received" / "runs" / "a"
    assert reports_folder(None, "runs/a", exp, inside) == tmp_path / "received" / "runs" / "reports"
    assert reports_folder(None, ".", exp, tmp_path / "received") is None  # the received run folder itself
