"""A published run folder received from someone else and re-run (`workbench run RUN/experiment.yaml --out NEW`): its
files are read as they are in the folder, never through a link, a damaged summary is refused by name, and what it
holds is shown on one line."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from test_reproduce import _author_run
from workbench.cli import main
from workbench.runs.artifacts import RunFolderError
from workbench.runs.driver import run_experiment
from workbench.runs.folder import RunFolder
from workbench.runs.reproduce import reproduction_line


@pytest.fixture
def received(tmp_path, capsys):
    """The author's run, copied into a folder of downloads (the project's data stays where the run recorded it)."""
    run = _author_run(tmp_path, capsys)
    got = tmp_path / "downloads" / "pub"
    shutil.copytree(run, got)
    return got


def test_links_in_a_received_run_folder_are_refused_before_anything_is_scored(received, tmp_path, capsys):
    # experiment.yaml pointing elsewhere: read from there, its manifest taken relative to the other file's folder
    os.rename(received / "experiment.yaml", tmp_path / "elsewhere.yaml")
    os.symlink(tmp_path / "elsewhere.yaml", received / "experiment.yaml")
    assert main(["run", str(received / "experiment.yaml"), "--out", str(tmp_path / "a"), "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "is a symbolic link in a run folder" in err and "it is not read" in err and not (tmp_path / "a").exists()

    # the reference's rows behind a link: compared, and called reproduced, silently
    os.unlink(received / "experiment.yaml")
    os.rename(tmp_path / "elsewhere.yaml", received / "experiment.yaml")
    os.rename(received / "results.parquet", tmp_path / "rows.parquet")
    os.symlink(tmp_path / "rows.parquet", received / "results.parquet")
    assert main(["run", str(received / "experiment.yaml"), "--out", str(tmp_path / "b"), "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "holds symbolic links where the workbench keeps its own files ('results.parquet')" in err
    assert not (tmp_path / "b").exists()  # refused before the model loaded

    # the Python API's re-run scores, and its reproduction.json says why it could not compare
    run_experiment(received / "experiment.yaml", out_dir=tmp_path / "c", use_cache=False)
    rep = RunFolder(tmp_path / "c").artifact("reproduction.json")
    assert rep["reproduced"] is False and rep["line"].startswith("!! cannot compare with pub: holds symbolic links")


@pytest.mark.parametrize("edit, named", [
    (lambda s: s.update(environment=[1, 2]), "its 'environment' is list, not an object"),
    (lambda s: s["environment"].update(packages=["numpy"]), "its environment's 'packages' is list, not an object"),
    (lambda s: s.update(model="tiny"), "its 'model' is str, not an object"),
    (lambda s: s["environment"]["packages"].update(numpy="1.0\nreproduces everything"), "'packages.numpy' is '1.0\\nreproduces"),
])
def test_a_summary_whose_sections_are_not_what_readers_look_into_is_refused_by_name(received, tmp_path, capsys, edit, named):
    summary = json.loads((received / "summary.json").read_text())
    edit(summary)
    (received / "summary.json").write_text(json.dumps(summary))
    # `metrics` ended in "unexpected AttributeError: 'list' object has no attribute 'get'"
    with pytest.raises(RunFolderError, match="cannot read summary.json") as info:
        RunFolder(received).summary
    assert named in info.value.message
    assert main(["metrics", str(received), "--no-figures"]) == 2
    assert named in capsys.readouterr().err
    # the re-run scored everything, then ended in the same AttributeError with no reproduction.json
    assert main(["run", str(received / "experiment.yaml"), "--out", str(tmp_path / "again"), "--no-cache"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "cannot compare" in x)
    assert line.startswith("!! cannot compare with pub: cannot read summary.json (its ") and named in line
    assert RunFolder(tmp_path / "again").artifact("reproduction.json")["reproduced"] is False


def test_the_reproduction_line_is_one_line_whatever_the_reference_holds():
    d = {"reproduced": False, "reference": "pub\nreproduces pub", "missing_rows": ["a1\n\x1b[2Jreproduces pub [raw]", "x" * 5000],
         "extra_rows": [], "failed_now": [], "failed_before": [], "audio_changed": [], "chains_changed": ["raw\rOK"],
         "truth_changed": [], "settings_changed": {"audio.resampler": ["soxr\nfake", "soxr"]}, "model_changed": False,
         "manifest_changed": False, "max_abs_score_diff": 0.0, "labels_flipped": 0,
         "versions": {"workbench": ["0.1\n\x1b[31mreproduces", "0.1.0"]}}
    line = reproduction_line(d)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert "a1\\n\\x1b[2Jreproduces pub [raw]" in line and "x" * 79 + "…" in line and len(line) < 1000


def test_a_reference_row_without_its_audios_sha256_is_named_as_unknown_not_as_changed_audio(received, tmp_path, capsys):
    import pandas as pd

    table = pd.read_parquet(received / "results.parquet")
    table.loc[table["id"] == "a2", "source_sha256"] = None  # an edited table: what audio it scored is not recorded
    table.to_parquet(received / "results.parquet")
    assert main(["run", str(received / "experiment.yaml"), "--out", str(tmp_path / "again"), "--no-cache"]) == 0
    rep = RunFolder(tmp_path / "again").artifact("reproduction.json")
    # was: "the audio of 1 item(s) differs (sha256): a2", a fact about the audio nobody measured
    assert rep["reproduced"] is False and rep["audio_changed"] == [] and rep["audio_unrecorded"] == ["a2"]
    assert "the run recorded no audio sha256 for 1 item(s), so whether their audio is the same cannot be told: a2" in rep["line"]
