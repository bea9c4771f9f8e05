"""What a run records is true and publishable: the command line typed, paths relative to the folder or under ``~``."""

from __future__ import annotations

import json
import shutil

import papermill as pm
import yaml

from test_runs import make_dataset
from workbench.cli import main
from workbench.model.ref import ModelRef
from workbench.paths import published_command
from workbench.runs.driver import run
from workbench.runs.folder import RunFolder
from workbench.views import reporting
from workbench.views.report_run import run_report


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


def _home_project(tmp_path, monkeypatch):
    """Alice's project under her home folder: a manifest and its audio, a checkpoint folder, the command run there."""
    home = tmp_path / "home" / "alice"
    monkeypatch.setenv("HOME", str(home))
    proj = home / "proj"
    make_dataset(proj, n=4, bad=False)
    assert main(["model", "make-tiny", str(proj / "models" / "tiny")]) == 0
    monkeypatch.chdir(proj)
    return home, proj


def test_config_yaml_records_paths_relative_to_the_run_folder_and_home_as_tilde(tmp_path, monkeypatch, capsys):
    """config.yaml kept the author's absolute paths (/home/alice/…); now the manifest, its folder and the checkpoint are
    relative to the run folder, the cache under ~, and every reader still gets absolute paths on this machine."""
    home, proj = _home_project(tmp_path, monkeypatch)
    assert main(["run", "manifest.csv", "--model", "models/tiny", "--device", "cpu", "--dtype", "float32", "--out", "runs/r",
                 "--cache-dir", str(home / ".cache" / "wb")]) == 0
    text = (proj / "runs" / "r" / "config.yaml").read_text()
    assert str(home) not in text, text
    cfg = yaml.safe_load(text)
    assert (cfg["manifest"], cfg["manifest_root"], cfg["model"], cfg["cache_dir"]) == (
        "../../manifest.csv", "../..", "../../models/tiny", "~/.cache/wb")
    read = RunFolder(proj / "runs" / "r").config
    assert (read["manifest"], read["model"], read["cache_dir"]) == (
        str(proj / "manifest.csv"), str(proj / "models" / "tiny"), str(home / ".cache" / "wb"))
    # copied whole to another place: the run folder's config.yaml re-runs there, and its audio is found
    shutil.move(proj, tmp_path / "bob_proj")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    copy = tmp_path / "bob_proj" / "runs" / "r"
    assert main(["run", str(copy / "config.yaml"), "--out", str(tmp_path / "again"), "--no-cache"]) == 0
    assert "reproduces r: 4 rows, same audio, chains, weights and labels" in capsys.readouterr().out
    rf = RunFolder(copy)
    assert rf.scored_audio(rf.results(status="ok").iloc[0]).sr == 16000


def test_a_run_folder_of_an_older_version_with_absolute_paths_still_resumes(tmp_path, monkeypatch):

    home, proj = _home_project(tmp_path, monkeypatch)
    ref = ModelRef(str(proj / "models" / "tiny"), device="cpu", dtype="float32")
    run(proj / "manifest.csv", out_dir=proj / "runs" / "new", model=ref, use_cache=False)
    cfg = yaml.safe_load((proj / "runs" / "new" / "config.yaml").read_text())
    cfg.update(manifest=str(proj / "manifest.csv"), manifest_root=str(proj), model=str(proj / "models" / "tiny"))
    (proj / "runs" / "old").mkdir()
    old_text = yaml.safe_dump(cfg, sort_keys=False)  # as older versions wrote it: absolute paths
    (proj / "runs" / "old" / "config.yaml").write_text(old_text)
    run(proj / "manifest.csv", out_dir=proj / "runs" / "old", model=ref, limit=2, chunk_size=2, use_cache=False)
    result = run(proj / "manifest.csv", out_dir=proj / "runs" / "old", model=ref, chunk_size=2, use_cache=False)
    assert result.n_resumed == 2 and result.n_rows == 4
    assert (proj / "runs" / "old" / "config.yaml").read_text() == old_text


def test_the_executed_notebook_names_no_home_folder_and_reruns_in_a_copied_project(tmp_path, monkeypatch):
    """The executed notebook kept run_dir, report_dir and papermill's input/output paths absolute (/home/alice/…); now its
    parameters are relative to its folder, and the project copied whole re-runs it there."""
    home, proj = _home_project(tmp_path, monkeypatch)
    run(proj / "manifest.csv", out_dir=proj / "runs" / "r", model=ModelRef("tiny", device="cpu", dtype="float32"), use_cache=False)
    written = run_report("experiment_report", {"run_dir": "runs/r"}, out="reports")
    nb_text = written["notebook"].read_text()
    assert str(home) not in nb_text and str(home) not in written["html"].read_text()
    meta = json.loads(nb_text)["metadata"]["papermill"]
    assert meta["parameters"] == {"run_dir": "../../../runs/r", "report_dir": "."}
    assert (meta["input_path"], meta["output_path"]) == ("workbench/templates/experiment_report.ipynb", "experiment_report.ipynb")
    # the project copied whole to another place: the executed notebook runs again from its own folder
    moved = tmp_path / "bob_proj"
    shutil.move(proj, moved)
    nb = moved / written["notebook"].relative_to(proj)
    pm.execute_notebook(str(nb), str(tmp_path / "again.ipynb"), kernel_name="python3", progress_bar=False, cwd=str(nb.parent))
    assert f"<code>{moved / 'runs' / 'r'}</code>" in (tmp_path / "again.ipynb").read_text()


def test_an_experiment_files_dot_relative_checkpoint_starts_at_the_files_folder(tmp_path, monkeypatch):
    """`model: ./models/tiny` (or `../`) was taken from the folder the command ran in, not the file's, unlike the manifest;
    the run folder's experiment.yaml, which now names the checkpoint `../../models/tiny`, depends on it."""
    home, proj = _home_project(tmp_path, monkeypatch)
    (proj / "exp.yaml").write_text("manifest: manifest.csv\nmodel: {model: ./models/tiny, device: cpu, dtype: float32}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(proj / "exp.yaml"), "--out", str(proj / "runs" / "r"), "--no-cache"]) == 0
    assert RunFolder(proj / "runs" / "r").config["model"] == str(proj / "models" / "tiny")
    assert "model: ../../models/tiny" in (proj / "runs" / "r" / "experiment.yaml").read_text()


def test_summary_json_records_its_paths_as_config_yaml_does_and_readers_get_them_absolute(tmp_path, monkeypatch, capsys):
    """summary.json kept the author's home folder in model.path, precision.measurement and the ONNX export's folder while
    config.yaml wrote them relative or under ~; now it writes them as config.yaml does, and RunFolder.summary, resume and
    a re-run of the copied folder read them back absolute."""
    home, proj = _home_project(tmp_path, monkeypatch)
    monkeypatch.setenv("WORKBENCH_CACHE", str(home / ".cache" / "wb"))  # the measurement and the export under ~
    assert main(["run", "manifest.csv", "--model", "models/tiny", "--device", "cpu", "--dtype", "auto", "--out", "runs/r",
                 "--no-cache"]) == 0
    text = (proj / "runs" / "r" / "summary.json").read_text()
    assert str(home) not in text and str(tmp_path) not in text, text
    written = json.loads(text)
    precision = written["precision"]
    assert written["model"]["path"] == "../../models/tiny"
    assert precision["measurement"].startswith("~/.cache/wb/fastpath/")
    if "export" in precision:  # auto chose an ONNX path on this CPU
        assert precision["export"]["folder"].startswith("~/.cache/wb/onnx/")
    read = RunFolder(proj / "runs" / "r").summary
    assert read["model"]["path"] == str(proj / "models" / "tiny")
    assert read["precision"]["measurement"] == str(home / ".cache" / "wb" / precision["measurement"][len("~/.cache/wb/"):])
    assert (proj / "runs" / "r" / "summary.json").read_text() == text  # reading changes nothing on disk
    assert ModelRef.from_run(RunFolder(proj / "runs" / "r").config, read).load().info.checksum == read["model"]["checksum"]
    capsys.readouterr()
    assert main(["run", "manifest.csv", "--model", "models/tiny", "--device", "cpu", "--dtype", "auto", "--out", "runs/r",
                 "--no-cache"]) == 0  # resumed: nothing left to score
    assert "4 resumed" in capsys.readouterr().out
    shutil.move(proj, tmp_path / "bob_proj")  # copied whole: the copy's paths read back where it now lies
    moved = RunFolder(tmp_path / "bob_proj" / "runs" / "r").summary
    assert moved["model"]["path"] == str(tmp_path / "bob_proj" / "models" / "tiny")


def test_calibration_json_records_the_model_path_as_summary_json_does_and_readers_get_it_absolute(tmp_path, monkeypatch):
    """calibration.json copied the run's model (summary.json's, read back absolute) into the file with the author's home
    folder in full (/home/alice/proj/models/tiny); now every JSON a command writes through the run folder keeps its paths
    relative to that folder or under ~, and the readers (--temperature RUN's check of the model) get them absolute."""
    from test_calibration import planted_run
    from workbench.cli.common import resolve_temperature
    from workbench.files import strict_json
    from workbench.runs.folder import RESULTS, atomic_write, saved_calibration
    from workbench.runs.writer import RunWriter

    home, proj = _home_project(tmp_path, monkeypatch)
    checkpoint = proj / "models" / "tiny"
    rf = RunFolder(proj / "runs" / "planted")
    RunWriter(rf).prepare({"manifest": "planted", "model": str(checkpoint)}, ())
    atomic_write(rf.path / RESULTS, lambda f: planted_run(n_speakers=4, per_speaker=100).to_parquet(f, index=False))
    summary = {"model": {"id": "tiny", "path": "../../models/tiny", "checksum": None}}  # as the run's writer records it
    atomic_write(rf.path / "summary.json", lambda f: f.write(strict_json(summary)), text=True)
    monkeypatch.chdir(tmp_path)  # the relative path must be read from the run folder, not from where the command runs
    assert main(["calibrate", str(rf.path), "--folds", "2", "--bootstrap", "20", "--no-figures"]) == 0
    text = (rf.path / "calibration.json").read_text()
    assert str(home) not in text and json.loads(text)["model"]["path"] == "../../models/tiny", text
    assert saved_calibration(rf.path)["model"]["path"] == str(checkpoint)
    assert resolve_temperature(str(rf.path), model=str(checkpoint)) == json.loads(text)["temperature"]
    # into another folder (--out): relative to that folder, read back from it
    assert main(["calibrate", str(rf.path), "--folds", "2", "--bootstrap", "20", "--no-figures", "--out", str(home / "cal")]) == 0
    assert json.loads((home / "cal" / "calibration.json").read_text())["model"]["path"] == "~/proj/models/tiny"
    assert saved_calibration(RunFolder(home / "cal"))["model"]["path"] == str(checkpoint)


def test_an_explain_entry_and_explanation_json_keep_the_model_path_relative_and_the_entry_is_read_back(tmp_path, monkeypatch,
                                                                                                     capsys):
    """explain's cache entry in the run folder and explanation.json copied the run's model path with the home folder."""
    home, proj = _home_project(tmp_path, monkeypatch)
    assert main(["run", "manifest.csv", "--model", "models/tiny", "--device", "cpu", "--dtype", "float32", "--out", "runs/r",
                 "--no-cache"]) == 0
    args = ["explain", "runs/r", "--item", "c000", "--method", "occlusion", "--steps", "2", "--randomisation", "none"]
    assert main([*args, "--out", "runs/x"]) == 0
    entries = sorted((proj / "runs" / "r").glob("explain_*.json"))
    for path in (*entries, proj / "runs" / "x" / "explanation.json"):
        assert entries and str(home) not in path.read_text(), path
    assert json.loads((proj / "runs" / "x" / "explanation.json").read_text())["model"]["path"] == "../../models/tiny"
    capsys.readouterr()
    monkeypatch.chdir(tmp_path)
    assert main([*(str(proj / a) if a == "runs/r" else a for a in args), "--out", str(home / "y")]) == 0
    assert "cache: read explain_" in capsys.readouterr().out  # the entry still verifies, its path read back
    assert json.loads((home / "y" / "explanation.json").read_text())["model"]["path"] == "~/proj/models/tiny"


def test_sweep_and_segment_record_the_typed_command_line_with_home_as_tilde(tmp_path, monkeypatch):
    """`run` kept the command typed in summary.json; `sweep` and `segment` (also with --transcript) kept none, so their
    folders did not say which command made them.  Now each records it as `run` does, and the sweep's report shows it."""
    import numpy as np
    import soundfile as sf

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    t = np.arange(3 * 16000) / 16000
    sf.write(tmp_path / "talk<x>.wav", (0.3 * np.sin(2 * np.pi * 180 * t) * (t % 1.5 < 1.0)).astype(np.float32), 16000)
    clip = str(tmp_path / "talk<x>.wav")
    assert main(["sweep", clip, "--kind", "trim", "--model", "tiny", "--device", "cpu", "--out", "sw", "--no-cache",
                 "--no-figures"]) == 0
    typed = json.loads((tmp_path / "sw" / "summary.json").read_text())["command_line"]
    assert typed == {"argv": ["workbench", "sweep", "~/talk<x>.wav", "--kind", "trim", "--model", "tiny", "--device", "cpu",
                              "--out", "sw", "--no-cache", "--no-figures"], "cwd": "~"}
    page = _header(tmp_path / "sw", monkeypatch)
    assert "<b>typed</b>: <code>workbench sweep ~/" in page and "talk&lt;x&gt;.wav" in page and "<x>" not in page, page
    assert main(["segment", clip, "--vad", "energy", "--model", "tiny", "--out", "seg", "--no-figures"]) == 0
    typed = json.loads((tmp_path / "seg" / "summary.json").read_text())["command_line"]
    assert typed == {"argv": ["workbench", "segment", "~/talk<x>.wav", "--vad", "energy", "--model", "tiny", "--out", "seg",
                              "--no-figures"], "cwd": "~"}
    (tmp_path / "t.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhello\n", encoding="utf-8")
    assert main(["segment", clip, "--transcript", "t.srt", "--model", "tiny", "--out", "tr"]) == 0
    text = (tmp_path / "tr" / "transcript_summary.json").read_text()
    typed = json.loads(text)["command_line"]
    assert typed["argv"] == ["workbench", "segment", "~/talk<x>.wav", "--transcript", "t.srt", "--model", "tiny", "--out", "tr"]
    # and its paths as segment's summary.json keeps them (it wrote the recording's and the transcript's in full)
    assert str(tmp_path) not in text and json.loads(text)["transcript"] == "~/t.srt", text
    assert json.loads(text)["source"]["path"] == "~/talk<x>.wav"


def test_summary_json_writes_a_checkpoint_folders_model_id_as_its_path_and_leaves_names_alone(tmp_path):
    """A fine-tuned head's model id is its folder, absolute: a published run's summary.json named the author's
    /…/proj/models/head there beside the relative model.path (and the report header showed it); now the id is written as
    the path is, read back absolute, and an id that is a name (a hub id, random-tiny) stays as it is."""
    from workbench.runs.experiment import portable_summary, summary_paths

    proj = tmp_path / "proj"
    run, head = proj / "runs" / "h", proj / "models" / "head"
    summary = {"model": {"id": str(head), "path": str(head), "kind": "trained"}}
    written = portable_summary(summary, run)
    assert written["model"]["id"] == "../../models/head" and str(tmp_path) not in json.dumps(written)
    assert summary_paths(written, run)["model"]["id"] == str(head)
    moved = tmp_path / "bob" / "proj" / "runs" / "h"  # the project copied whole elsewhere: its own folder read back
    assert summary_paths(written, moved)["model"]["id"] == str(tmp_path / "bob" / "proj" / "models" / "head")
    for name in ("iic/emotion2vec_plus_large", "random-tiny", "emotion2vec/emotion2vec_plus_base"):
        named = {"model": {"id": name, "path": None}}
        assert portable_summary(named, run)["model"]["id"] == name and summary_paths(named, run)["model"]["id"] == name
