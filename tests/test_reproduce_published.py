"""A published run re-run by a second researcher: every edited input is named, by item and by what changed."""

from __future__ import annotations

import json

from test_corpora import wav
from test_reproduce import _author_run as author_run
from workbench.cli import main
from workbench.runs.folder import RunFolder
from workbench.views import reporting

IDS = ["a1", "a2", "s1", "s2"]


def _author_run(tmp_path, capsys):
    """Four clips with a segment and a speaker each, one variant, through the CLI."""
    return author_run(tmp_path, capsys, dur=1.5, segments=True, variants="")


def test_an_edited_segment_or_speaker_in_a_manifest_row_is_named_by_item_and_column(tmp_path, capsys):
    run = _author_run(tmp_path, capsys)
    manifest = tmp_path / "data" / "manifest.csv"
    text = manifest.read_text()
    # another segment of s1 (other scores) and another speaker of a2 (other breakdowns): before, only "the manifest
    # differs from the one recorded" was said, the items and what changed in them left for the reader to find
    manifest.write_text(text.replace("s1,s1.wav,sad,spk0,0.0,1.2", "s1,s1.wav,sad,spk0,0.2,1.0")
                        .replace("a2,a2.wav,angry,spk1", "a2,a2.wav,angry,spk9"))
    assert main(["run", str(run / "experiment.yaml"), "--out", str(tmp_path / "again"), "--no-cache"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "does NOT reproduce" in x)
    assert "the manifest's row of 2 item(s) differs: a2 (speaker), s1 (start, duration)" in line
    assert "(s1 [raw])" in line  # the largest score difference is the re-cut clip's
    rep = RunFolder(tmp_path / "again").artifact("reproduction.json")
    assert rep["rows_changed"] == {"a2": ["speaker"], "s1": ["start", "duration"]} and rep["reproduced"] is False
    assert rep["max_score_diff_row"] == "s1 [raw]"


def test_the_report_header_says_its_paths_are_the_authors_and_where_a_copy_finds_the_run(tmp_path, capsys, monkeypatch):
    run = _author_run(tmp_path, capsys)
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    page_dir = run / "reports" / "experiment_report" / "20260101_000000"
    page_dir.mkdir(parents=True)
    monkeypatch.chdir(page_dir)  # an executed report's notebook runs in its folder, its run_dir relative to it
    reporting.header("../../..", "Experiment report")
    page = "".join(getattr(o, "data", "") or "" for o in shown)
    # the commands name the author's absolute folder (/tmp/… here): before, nothing said so, and a reader of a copy ran
    # `workbench run /tmp/…/experiment.yaml` and met a folder not there
    assert f"workbench run {run}/experiment.yaml --out NEW_FOLDER" in page
    assert ("<b>in a copy</b>: the paths above are the ones of the machine that made this page; the run folder is "
            "<code>../../..</code> from this page's folder, so a copy of the run folder, this page in it, re-runs with "
            "<code>workbench run ../../../experiment.yaml --out NEW_FOLDER</code> and makes this page again with "
            "<code>workbench report experiment_report -p run_dir=../../.. --out NEW_REPORTS</code>, each typed in this "
            "page's folder") in page

    shown.clear()
    (tmp_path / "reports" / "x").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "reports" / "x")
    reporting.header("../../runs/pub", "Experiment report")
    page = "".join(getattr(o, "data", "") or "" for o in shown)
    assert "so a copy of the project, this page and the run in it, re-runs with <code>workbench run ../../runs/pub/" in page
    # the page's own command for the copy too, its other parameters kept: before, only the run's was given, and a reader
    # who pasted the page's `run_dir=/tmp/…` met a folder not there
    shown.clear()
    (tmp_path / "clip.wav").write_bytes(b"")  # the page's sweep clip, given to its notebook relative to the page's folder
    reporting.header("../../runs/pub", "Variant comparison", template="variant_comparison", baseline="raw",
                     sweep_path="../../clip.wav", model=None)
    page = "".join(getattr(o, "data", "") or "" for o in shown)
    assert ("makes this page again with <code>workbench report variant_comparison -p run_dir=../../runs/pub -p baseline=raw "
            "-p sweep_path=../../clip.wav --out NEW_REPORTS</code>, each typed in this page's folder") in page
    # the command typed anywhere names the clip as it names the run, absolute: before, it left sweep_path out, and the
    # page it made swept the demo clip instead
    assert f"-p baseline=raw -p sweep_path={tmp_path / 'clip.wav'}</code> (its bootstrap" in page

    shown.clear()
    reporting.header(run, "Experiment report")  # the page and the run in no one project: the reader is told what to replace
    page = "".join(getattr(o, "data", "") or "" for o in shown)
    assert f"(the run folder and this page lie in no one project): elsewhere, write where your copy of the run folder lies instead of <code>{run}</code>" in page


def test_a_run_of_a_random_checkpoint_published_without_it_says_how_to_make_the_same_weights(tmp_path, capsys):
    data = tmp_path / "proj" / "data"
    for i, name in enumerate(IDS):
        wav(data / f"{name}.wav", dur=0.8, seed=i)
    (data / "manifest.csv").write_text("id,path,label\n" + "".join(f"{n},{n}.wav,angry\n" for n in IDS))
    assert main(["model", "make-tiny", str(tmp_path / "proj" / "models" / "t"), "--seed", "5"]) == 0
    (tmp_path / "proj" / "e.yaml").write_text("manifest: data/manifest.csv\nmodel: {model: models/t, dtype: float32, device: cpu}\n")
    run = tmp_path / "proj" / "runs" / "pub"
    assert main(["run", str(tmp_path / "proj" / "e.yaml"), "--out", str(run), "--no-cache"]) == 0
    capsys.readouterr()
    summary = RunFolder(run).summary
    assert summary["model"]["remake"] == "workbench model make-tiny DIR --arch tiny --seed 5"

    # the reader got the run folder and the data, not the checkpoint folder: before, the error said "pass your copy
    # with --model DIR" and nothing recorded which seed would give one (the weights' sha256 alone cannot be inverted)
    (tmp_path / "proj" / "models" / "t").rename(tmp_path / "elsewhere")
    assert main(["run", str(run / "experiment.yaml"), "--out", str(tmp_path / "again"), "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "It is a seeded random test checkpoint: `workbench model make-tiny DIR --arch tiny --seed 5` writes the same weights again with the torch and funasr versions" in err
    assert main(["model", "make-tiny", str(tmp_path / "mine"), "--arch", "tiny", "--seed", "5"]) == 0
    assert main(["run", str(run / "experiment.yaml"), "--out", str(tmp_path / "again"), "--no-cache", "--model", str(tmp_path / "mine")]) == 0
    assert "reproduces pub: 4 rows, same audio, chains, weights and labels" in capsys.readouterr().out


def test_a_reports_metrics_json_says_where_the_run_lies_from_the_report(tmp_path):
    from workbench.paths import published_path
    from workbench.views.report_run import write_metrics

    run, page = tmp_path / "runs" / "pub", tmp_path / "reports" / "experiment_report" / "1"
    run.mkdir(parents=True)
    page.mkdir(parents=True)
    # as the template writes it: run_dir the machine's path (/tmp/… here, found nowhere else); before, nothing else
    write_metrics(page, {"run_dir": published_path(run), "metrics": {}})
    got = json.loads((page / "metrics.json").read_text())
    assert got["run_dir"] == published_path(run) and got["run_dir_from_report"] == "../../../runs/pub"


def test_a_rerun_typed_in_the_reports_folder_names_the_run_not_dotdot(tmp_path, capsys, monkeypatch):
    run = _author_run(tmp_path, capsys)
    page = run / "reports" / "experiment_report" / "1"
    page.mkdir(parents=True)
    monkeypatch.chdir(page)  # as the page's "in a copy" line says: `workbench run ../../../experiment.yaml` typed there
    assert main(["run", "../../../experiment.yaml", "--out", str(tmp_path / "again"), "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "reproduces pub: 4 rows" in out and "reproduces ..:" not in out  # before: "reproduces ..: 4 rows"
    rep = RunFolder(tmp_path / "again").artifact("reproduction.json")
    assert rep["reference"] == "pub" and rep["reference_dir"] == str(run)


def test_the_same_audio_at_other_absolute_paths_reproduces_and_an_edited_extra_column_is_named(tmp_path, capsys):
    """The demo set's manifest names its clips by the installation's absolute path: re-run where the same audio lies
    elsewhere (another installation, the audio moved and its manifest's paths rewritten), every row and sha256 the
    run's, the line was "does NOT reproduce …: the manifest differs from the one recorded", the same figures called
    another result.  An edit of another column (a breakdown by it) is still a difference, named by item."""
    import shutil

    src, moved = tmp_path / "alice" / "clips", tmp_path / "bob" / "clips"
    for i, name in enumerate(IDS):
        wav(src / f"{name}.wav", dur=0.8, seed=i)
    rows = lambda folder, age="30": "".join(f"{n},{folder / n}.wav,angry,{age if n == 'a1' else '40'}\n" for n in IDS + ["gone"])  # noqa: E731
    (tmp_path / "alice" / "manifest.csv").write_text("id,path,label,age\n" + rows(src))
    (tmp_path / "alice" / "e.yaml").write_text("manifest: manifest.csv\nmodel: {model: tiny, dtype: float32, device: cpu}\n")
    run = tmp_path / "alice" / "runs" / "pub"
    # a clip missing on both machines (--skip-missing): a failed row in both runs, no figure of either
    assert main(["run", str(tmp_path / "alice" / "e.yaml"), "--out", str(run), "--no-cache", "--skip-missing"]) == 1  # 1: a row failed
    shutil.copytree(src, moved)
    (tmp_path / "bob" / "manifest.csv").write_text("id,path,label,age\n" + rows(moved))
    text = (run / "experiment.yaml").read_text()
    (run / "experiment.yaml").write_text(text.replace("manifest: ../../manifest.csv", "manifest: ../../../bob/manifest.csv"))
    capsys.readouterr()
    assert main(["run", str(run / "experiment.yaml"), "--out", str(tmp_path / "again"), "--no-cache", "--skip-missing"]) == 1  # 1: a row failed
    line = next(x for x in capsys.readouterr().out.splitlines() if "reproduce" in x)
    assert line.startswith("reproduces pub: 5 rows, same audio") and "its manifest names the audio at other paths" in line, line
    rep = RunFolder(tmp_path / "again").artifact("reproduction.json")
    assert rep["reproduced"] is True and rep["manifest_changed"] is False and rep["manifest_paths_only"] is True

    (tmp_path / "bob" / "manifest.csv").write_text("id,path,label,age\n" + rows(moved, age="31"))
    assert main(["run", str(run / "experiment.yaml"), "--out", str(tmp_path / "again2"), "--no-cache", "--skip-missing"]) == 1  # 1: a row failed
    line = next(x for x in capsys.readouterr().out.splitlines() if "reproduce" in x)
    assert "does NOT reproduce pub" in line and "the manifest's row of 1 item(s) differs: a1 (meta)" in line, line
    assert "the manifest differs from the one recorded" in line


def test_the_rerun_line_names_another_workbench_commit_by_its_short_hash():
    """Two checkouts of one version: the line printed both 40-digit commits, its longest part; now 10 each, as the
    report's header names a commit (reproduction.json keeps them whole)."""
    from workbench.runs.reproduce import reproduction_line

    d = {"reproduced": True, "reference": "pub", "rows": 4, "max_abs_score_diff": 0.0,
         "versions": {"workbench commit": ["a" * 40, "b" * 40], "numpy": ["2.0.0", "2.1.0"]}}
    line = reproduction_line(d)
    assert "workbench commit aaaaaaaaaa → bbbbbbbbbb; numpy 2.0.0 → 2.1.0" in line and "a" * 11 not in line, line


def test_the_variant_comparison_template_gives_its_header_every_parameter_that_changes_the_page():
    """The page's own command is made of what the template hands its header: variant_comparison handed baseline and
    sweep_kind only, so a page made with `-p sweep_path=clip.wav` (or `-p model=…`, the sweep's model) printed a command
    that makes another page (the demo clip swept)."""
    from pathlib import Path

    import workbench

    nb = json.loads((Path(workbench.__file__).parent / "templates" / "variant_comparison.ipynb").read_text())
    call = next("".join(c["source"]) for c in nb["cells"] if "R.header(" in "".join(c["source"]))
    assert "sweep_path=sweep_path" in call and "model=model" in call and "baseline=baseline" in call, call
