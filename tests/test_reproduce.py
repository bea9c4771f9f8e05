"""A published run folder re-run by someone else: the re-run says whether it repeats the run, and names what differs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from test_corpora import wav
from workbench.cli import main
from workbench.paths import published_path
from workbench.runs.folder import RunFolder
from workbench.runs.reproduce import compare_runs
from workbench.views import reporting

IDS = ["a1", "a2", "s1", "s2"]


def _author_run(tmp_path, capsys, *, dur=0.8, segments=False,
                variants="variants:\n  raw: []\n  telephone: [{name: telephone}]\n"):
    """The author's run: four clips, two variants (or what ``variants`` says), through the CLI; ``segments``: a
    speaker and a 1.2 s segment each."""
    data = tmp_path / "data"
    for i, name in enumerate(IDS):
        wav(data / f"{name}.wav", dur=dur, seed=i)
    (data / "manifest.csv").write_text("id,path,label" + (",speaker,start,duration" if segments else "") + "\n" + "".join(
        f"{n},{n}.wav,{'angry' if n.startswith('a') else 'sad'}" + (f",spk{i % 2},0.0,1.2" if segments else "") + "\n"
        for i, n in enumerate(IDS)))
    (tmp_path / "experiment.yaml").write_text("manifest: data/manifest.csv\nmodel: {model: tiny, dtype: float32, device: cpu}\n" + variants)
    run = tmp_path / "runs" / "pub"
    assert main(["run", str(tmp_path / "experiment.yaml"), "--out", str(run), "--no-cache"]) == 0
    capsys.readouterr()
    return run


def _rerun(run, out, capsys, *extra):
    rc = main(["run", str(run / "experiment.yaml"), "--out", str(out), "--no-cache", *extra])
    text = capsys.readouterr().out
    return rc, text, RunFolder(out).artifact("reproduction.json")


def test_a_rerun_says_it_reproduces_and_names_a_changed_clip_and_an_edited_label(tmp_path, capsys):
    run = _author_run(tmp_path, capsys)
    summary = json.loads((run / "summary.json").read_text())
    env = summary["environment"]  # what a re-run compares its versions with
    assert env["workbench"] and env["python"] and env["packages"]["numpy"] and "torch" in env["packages"]

    rc, text, rep = _rerun(run, tmp_path / "again", capsys)
    assert rc == 0 and "reproduces pub: 8 rows, same audio, chains, weights and labels, max |Δ score| 0.0e+00" in text
    assert rep["reproduced"] is True and rep["max_abs_score_diff"] == 0.0

    y, sr = sf.read(tmp_path / "data" / "s1.wav", dtype="int16")  # one sample changed after the run
    y[100] += 1
    sf.write(tmp_path / "data" / "s1.wav", y, sr, subtype="PCM_16")
    rc, text, rep = _rerun(run, tmp_path / "changed", capsys)
    assert "!! does NOT reproduce pub: the audio of 1 item(s) differs (sha256): s1;" in text
    assert rep["reproduced"] is False and rep["audio_changed"] == ["s1"]

    manifest = tmp_path / "data" / "manifest.csv"
    manifest.write_text(manifest.read_text().replace("a2,a2.wav,angry", "a2,a2.wav,sad"))
    rc, text, rep = _rerun(run, tmp_path / "edited", capsys)
    line = next(x for x in text.splitlines() if "does NOT reproduce" in x)
    assert "the manifest's label of 1 item(s) differs: a2" in line and "the manifest differs from the one recorded" in line


def test_a_missing_clip_with_skip_missing_runs_the_rest_and_is_named(tmp_path, capsys):
    run = _author_run(tmp_path, capsys)
    (tmp_path / "data" / "a1.wav").unlink()
    rc, text, rep = _rerun(run, tmp_path / "again", capsys, "--skip-missing")
    assert rc == 1  # failed rows, not a refused manifest (the experiment file's run ignored --skip-missing)
    assert "!! does NOT reproduce pub: 2 rows failed now (a1 [raw], a1 [telephone])" in text
    assert rep["failed_now"] == ["a1 [raw]", "a1 [telephone]"]


def test_other_weights_under_model_and_other_versions_are_named(tmp_path, capsys):
    run = _author_run(tmp_path, capsys)
    assert main(["model", "make-tiny", str(tmp_path / "other"), "--seed", "3"]) == 0
    capsys.readouterr()
    rc, text, rep = _rerun(run, tmp_path / "again", capsys, "--model", str(tmp_path / "other"))
    # other weights chosen with --model: a comparison, not a failed reproduction (it printed "!! does NOT reproduce")
    assert "!! does NOT reproduce" not in text and "compared with pub (--model " in text and "is no reproduction" in text
    assert "other weights (the checkpoint's sha256 differs)" in text
    assert rep["model_changed"] is True and rep["reproduced"] is False and rep["model_given"] == str(tmp_path / "other")

    copy = tmp_path / "copy"  # the published folder, its numpy version recorded as another one
    shutil.copytree(run, copy)
    summary = json.loads((copy / "summary.json").read_text())
    summary["environment"]["packages"]["numpy"] = "0.0.1"
    (copy / "summary.json").write_text(json.dumps(summary))
    d = compare_runs(copy, run)
    assert d["reproduced"] is True and d["versions"]["numpy"][0] == "0.0.1"
    assert "(with other versions: numpy 0.0.1 → " in d["line"]


def test_a_rerun_whose_float32_ran_by_another_route_says_so(tmp_path, capsys):
    """A run published from an Intel CPU (PyTorch's BLAS) and re-run on an AMD one (oneDNN) differs by ~1e-7: the line
    said 'reproduces … max |Δ score| 1.0e-07' with nothing to explain the nonzero difference."""
    run = _author_run(tmp_path, capsys)
    routes = {"intel": None, "amd": "float32 Linear layers through oneDNN: on this AuthenticAMD CPU … (workbench.model.prepack)"}
    for name, route in routes.items():
        shutil.copytree(run, tmp_path / name)
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        summary["model"]["float32_math"] = route
        (tmp_path / name / "summary.json").write_text(json.dumps(summary))
    d = compare_runs(tmp_path / "intel", tmp_path / "amd")
    assert d["reproduced"] is True and d["float32_math_changed"] == ["PyTorch's own float32 kernels", "float32 Linear layers through oneDNN"]
    assert "(float32 math PyTorch's own float32 kernels then, float32 Linear layers through oneDNN now)" in d["line"], d["line"]
    assert compare_runs(tmp_path / "amd", tmp_path / "amd")["float32_math_changed"] is None


def test_published_path_hides_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home" / "alice"))
    assert published_path(tmp_path / "home" / "alice" / "proj" / "runs" / "x") == "~/proj/runs/x"
    assert published_path(tmp_path / "elsewhere") == str(tmp_path / "elsewhere")


def test_the_report_header_says_how_to_reproduce_without_the_home_folder(tmp_path, capsys, monkeypatch):
    run = _author_run(tmp_path, capsys)
    _rerun(run, tmp_path / "again", capsys)
    monkeypatch.setenv("HOME", str(tmp_path))
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    reporting.header(tmp_path / "again", "Experiment report")
    page = "".join(getattr(o, "data", "") or "" for o in shown)
    assert "workbench run ~/again/experiment.yaml --out NEW_FOLDER" in page
    assert "workbench report experiment_report -p run_dir=~/again" in page
    # the reference is named by its folder, home as ~ ("reproduces pub" alone named no run a reader could find)
    assert "Re-run check</b> of <code>~/runs/pub</code>: reproduces pub" in page and "run made with</b>: workbench" in page
    assert str(tmp_path) not in page

    y, sr = sf.read(tmp_path / "data" / "a1.wav", dtype="int16")  # a re-run of changed audio: one warning, the cause named
    y[5] += 1
    sf.write(tmp_path / "data" / "a1.wav", y, sr, subtype="PCM_16")
    _rerun(run, tmp_path / "changed", capsys)
    shown.clear()
    reporting.header(tmp_path / "changed", "Experiment report")
    page = "".join(getattr(o, "data", "") or "" for o in shown)
    assert "<b>⚠ Re-run check</b> of <code>~/runs/pub</code>: does NOT reproduce pub: the audio of 1 item(s) differs (sha256): a1;" in page


def test_a_run_made_by_another_workbench_version_is_said_in_the_report(tmp_path, capsys, monkeypatch):
    run = _author_run(tmp_path, capsys)
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("workbench_version: ", "workbench_version: 0.0.1-old # "))
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    reporting.header(run, "Experiment report")
    page = "".join(getattr(o, "data", "") or "" for o in shown)
    assert "The run was made by workbench 0.0.1-old and is read by" in page
    capsys.readouterr()
    assert main(["metrics", str(run), "--no-figures"]) == 0
    assert "!! the run was made by workbench 0.0.1-old and is read by" in capsys.readouterr().out


def test_a_run_made_by_other_code_of_the_same_version_string_is_said(tmp_path, capsys):
    import pytest

    from workbench.runs.reproduce import workbench_commit

    if workbench_commit() is None:
        pytest.skip("the workbench runs from an installed copy, not a git checkout: no commit to tell apart")
    run = _author_run(tmp_path, capsys)
    summary = json.loads((run / "summary.json").read_text())
    assert summary["environment"]["workbench_commit"] == workbench_commit()
    summary["environment"]["workbench_commit"] = "0" * 40
    (run / "summary.json").write_text(json.dumps(summary))
    assert main(["metrics", str(run), "--no-figures"]) == 0
    assert "(commit 0000000000) and is read by" in capsys.readouterr().out


def test_another_preprocessing_setting_is_named_and_the_python_api_checks_too(tmp_path, capsys):
    import workbench as wb

    run = _author_run(tmp_path, capsys)
    exp = run / "experiment.yaml"
    exp.write_text(exp.read_text().replace("resampler: soxr", "resampler: scipy"))
    wb.run_experiment(exp, out_dir=tmp_path / "again", use_cache=False)
    rep = RunFolder(tmp_path / "again").artifact("reproduction.json")
    assert rep["settings_changed"] == {"audio.resampler": ["soxr", "scipy"]}
    assert "other settings: audio.resampler soxr → scipy" in rep["line"] and rep["reproduced"] is False


def _project(root, capsys):
    """An author's project: data, a checkpoint folder, an experiment file naming both, a run of it."""
    for i, name in enumerate(IDS):
        wav(root / "data" / f"{name}.wav", dur=0.8, seed=i)
    (root / "data" / "manifest.csv").write_text("id,path,label\n" + "".join(f"{n},{n}.wav,angry\n" for n in IDS))
    assert main(["model", "make-tiny", str(root / "models" / "tiny")]) == 0
    (root / "experiment.yaml").write_text("manifest: data/manifest.csv\nmodel: {model: models/tiny, dtype: float32, device: cpu}\n")
    assert main(["run", str(root / "experiment.yaml"), "--out", str(root / "runs" / "pub"), "--no-cache"]) == 0
    capsys.readouterr()
    return root / "runs" / "pub"


def test_a_project_copied_whole_to_another_place_reruns_and_reads_its_audio(tmp_path, capsys):
    _project(tmp_path / "alice" / "proj", capsys)
    shutil.move(tmp_path / "alice" / "proj", tmp_path / "bob_proj")  # the author's paths are gone: another machine
    run = tmp_path / "bob_proj" / "runs" / "pub"
    row = RunFolder(run).results(status="ok").iloc[0]
    assert RunFolder(run).scored_audio(row).sr == 16000  # the audio found where it lies beside the run folder
    rc = main(["run", str(run / "experiment.yaml"), "--out", str(tmp_path / "again"), "--no-cache"])
    captured = capsys.readouterr()
    assert rc == 0 and "reproduces pub: 4 rows, same audio, chains, weights and labels" in captured.out
    # its experiment.yaml names the manifest and the checkpoint relative to the run folder: found in the copy as they are
    exp = (run / "experiment.yaml").read_text()
    assert "manifest: ../../data/manifest.csv" in exp and "model: ../../models/tiny" in exp and str(tmp_path) not in exp
    assert "is not here" not in captured.err


def test_a_run_folder_published_alone_says_what_to_change(tmp_path, capsys):
    run = _project(tmp_path / "alice" / "proj", capsys)
    shutil.copytree(run, tmp_path / "pub")
    shutil.rmtree(tmp_path / "alice")
    pub = tmp_path / "pub"
    assert main(["run", str(pub / "experiment.yaml"), "--out", str(tmp_path / "again")]) == 2
    err = capsys.readouterr().err
    assert "which is not here (the run was made on another machine, or its data moved)" in err
    assert "fix: write the path of your copy as `manifest:` in" in err
    row = RunFolder(pub).results(status="ok").iloc[0]
    try:
        RunFolder(pub).scored_audio(row)
        raise AssertionError("scored_audio of a row whose audio is gone")
    except Exception as exc:  # noqa: BLE001 — the message is what is checked
        assert "is not here (the run folder was moved or made on another machine" in str(exc)
        assert "copy the project whole, so that the audio lies at ../../data from the run folder" in str(exc)


def test_the_runs_seed_is_the_seed_of_its_intervals_on_screen_in_metrics_and_in_the_report(tmp_path, capsys, monkeypatch):
    from workbench.analysis.metrics import evaluate

    run = _author_run(tmp_path, capsys)
    exp = run / "experiment.yaml"
    exp.write_text(exp.read_text().replace("\nseed: 0\n", "\nseed: 7\n"))
    assert RunFolder(run).seed == 7
    res = RunFolder(run).results()
    seven, zero = (evaluate(res, variant="raw", by=(), seed=s).ece_ci for s in (7, 0))
    assert seven != zero  # the seed moves the interval: the check below can tell them apart
    assert main(["metrics", str(run), "--no-figures"]) == 0
    capsys.readouterr()
    assert json.loads((run / "metrics.json").read_text())["raw"]["ece_ci"] == list(seven)
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    assert reporting.metrics_section(run, by=())["raw"]["ece_ci"] == list(seven)


def test_the_commit_is_read_from_the_checkouts_files_without_running_git(tmp_path):
    """workbench_commit ran `git rev-parse HEAD` on every run (a program the user did not ask for, found on PATH); it reads
    .git's files: a branch's ref, packed-refs, a detached HEAD, a linked worktree's gitdir and commondir."""
    import shutil
    import subprocess

    from workbench.runs.reproduce import commit_of, workbench_commit

    a, b = "a" * 40, "b" * 40
    main_repo = tmp_path / "repo"
    (main_repo / ".git" / "refs" / "heads").mkdir(parents=True)
    (main_repo / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (main_repo / ".git" / "refs" / "heads" / "main").write_text(a + "\n")
    assert commit_of(main_repo) == a
    (main_repo / ".git" / "refs" / "heads" / "main").unlink()
    (main_repo / ".git" / "packed-refs").write_text(f"# pack-refs with: peeled\n{b} refs/heads/other\n{a} refs/heads/main\n")
    assert commit_of(main_repo) == a
    (main_repo / ".git" / "HEAD").write_text(b + "\n")
    assert commit_of(main_repo) == b  # detached
    wt_git = main_repo / ".git" / "worktrees" / "wt"
    wt_git.mkdir(parents=True)
    (wt_git / "HEAD").write_text("ref: refs/heads/main\n")
    (wt_git / "commondir").write_text("../..\n")
    (tmp_path / "wt").mkdir()
    (tmp_path / "wt" / ".git").write_text(f"gitdir: {wt_git}\n")
    assert commit_of(tmp_path / "wt") == a  # the branch's ref lives in the common folder
    for hostile in ("ref: ../../../etc/passwd", "ref: refs/../../x", "not a ref"):
        (main_repo / ".git" / "HEAD").write_text(hostile)
        assert commit_of(main_repo) is None
    assert commit_of(tmp_path / "nothing") is None
    repo_root = Path(__file__).resolve().parent.parent
    if workbench_commit() is not None and shutil.which("git"):
        done = subprocess.run(["git", "-C", str(repo_root), "rev-parse", "HEAD"], capture_output=True, text=True)
        if done.returncode == 0:
            assert workbench_commit() == done.stdout.strip()


def test_a_rerun_served_by_the_prediction_cache_says_so(tmp_path, capsys, monkeypatch):
    """A re-run with the cache on matched the published scores because it read them back, and said 'reproduces' as if
    this machine had scored them again."""
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    run = _author_run(tmp_path, capsys)
    assert main(["run", str(run / "experiment.yaml"), "--out", str(tmp_path / "warm")]) == 0  # fills the cache
    capsys.readouterr()
    assert main(["run", str(run / "experiment.yaml"), "--out", str(tmp_path / "cached")]) == 0
    text = capsys.readouterr().out
    rep = RunFolder(tmp_path / "cached").artifact("reproduction.json")
    assert rep["reproduced"] is True and rep["from_cache"] == 8
    assert "8 of the 8 rows came from the prediction cache, not scored again (--no-cache scores them anew)" in text
    rc, text, rep = _rerun(run, tmp_path / "fresh", capsys)
    assert rep["from_cache"] == 0 and "prediction cache" not in text


@pytest.mark.parametrize("extra, named, key", [(["--dtype", "bfloat16"], "--dtype", "dtype: under model:"),
                                               (["--variants", "missing.yaml"], "--variants", "variants:"),
                                               (["--chunk", "8", "--temperature", "2"], "--temperature, --chunk", "temperature: under model:; chunk_size:")])
def test_an_option_an_experiment_file_sets_itself_is_refused_not_ignored(tmp_path, capsys, extra, named, key):
    """`workbench run exp.yaml --dtype bfloat16` ran float32 (summary: requested float32, 'asked for') and `--variants
    x.yaml`, a file that did not exist, ran the file's variants: both without a word."""
    wav(tmp_path / "a.wav", dur=0.5)
    (tmp_path / "m.csv").write_text("id,path,label\na,a.wav,angry\n")
    (tmp_path / "exp.yaml").write_text("manifest: m.csv\nmodel: tiny\n")
    assert main(["run", str(tmp_path / "exp.yaml"), "--out", str(tmp_path / "run"), *extra]) == 2
    err = capsys.readouterr().err
    assert f"error: {tmp_path / 'exp.yaml'}: {named} " in err and "not apply to an experiment file" in err, err
    assert f"fix: write {key} in a copy of the file, or leave out {named}." in err, err
    assert not (tmp_path / "run").exists()


def test_a_hostile_recorded_checkpoint_path_and_checksum_print_as_one_line_and_never_crash(tmp_path):
    """check_run_checkpoint printed the run's recorded model path and sha256 as they were: a config.yaml from anyone
    with a line break there printed a line of its own ("FAKE: line"), and a model_checksum of 123 ended `explain`
    with "unexpected TypeError: 'int' object is not subscriptable"."""
    from types import SimpleNamespace

    from workbench.errors import ConfigError
    from workbench.runs.reproduce import check_run_checkpoint

    (tmp_path / "run").mkdir()
    for model, checksum in (("/gone/tiny\nFAKE: line", "3aa1b4e7\nFAKE: sum"), ("/gone/tiny", 123)):
        with pytest.raises(ConfigError) as caught:
            check_run_checkpoint(tmp_path / "run", SimpleNamespace(model=model, checksum=checksum))
        text = str(caught.value)
        assert "\n" not in text and "is not here" in text
    with pytest.raises(ConfigError) as caught:
        check_run_checkpoint(tmp_path / "run", SimpleNamespace(model="/gone/tiny\nFAKE: line", checksum="ab\ncd"))
    assert "/gone/tiny\\nFAKE: line" in str(caught.value) and "ab\\ncd…" in str(caught.value)
