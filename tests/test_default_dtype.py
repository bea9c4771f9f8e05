"""The default is the fast path (issue #28): ``--dtype auto`` on the commands that score, ``float32`` where the
checkpoint itself is trained on or described, and a run resumed in the precision it was started in."""

from __future__ import annotations

import contextlib
import io

import pytest

from workbench.cli import build_parser, main
from workbench.serialize import load_yaml_file
from workbench.model.ref import ModelRef
from workbench.runs.driver import run

from test_runs import make_dataset


@pytest.mark.parametrize("argv, expected", [
    (["infer", "a.wav"], "auto"), (["diagnose", "a.wav"], "auto"), (["similar", "a.wav", "b.wav"], "auto"),
    (["sweep", "a.wav", "--kind", "sample-rate"], "auto"), (["segment", "a.wav"], "auto"),
    (["model", "info"], "float32"), (["model", "export-onnx", "--out", "x"], "float32"),
    (["run", "m.csv"], None),  # resolved by the command: auto, or the resumed run's
])
def test_the_commands_that_score_default_to_auto(argv, expected):
    assert build_parser().parse_args(argv).dtype == expected


def test_run_resumes_an_unfinished_float32_run_in_float32_and_a_new_folder_in_auto(tmp_path):
    manifest = make_dataset(tmp_path, n=4, bad=False)
    run(manifest, out_dir=tmp_path / "old", model=ModelRef("tiny", device="cpu", dtype="float32"), limit=2, chunk_size=2)
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["run", str(manifest), "--model", "tiny", "--device", "cpu", "--out", str(tmp_path / "old")]) == 0
    assert "resuming" in err.getvalue() and "dtype float32" in err.getvalue()
    assert load_yaml_file(tmp_path / "old" / "config.yaml")["dtype"] == "float32"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["run", str(manifest), "--model", "tiny", "--device", "cpu", "--out", str(tmp_path / "new")]) == 0
    assert "dtype auto →" in err.getvalue()


def test_auto_resuming_a_folder_keeps_the_precision_the_folder_holds(tmp_path):
    """auto's choice depends on the job's size; the rows left to score are fewer, and a changed choice would be
    refused (precisions are never mixed in one run), so a resumed run keeps the folder's precision and says so."""
    manifest = make_dataset(tmp_path, n=4, bad=False)
    run(manifest, out_dir=tmp_path / "r", model=ModelRef("tiny", device="cpu", dtype="int8"), limit=2, chunk_size=2)
    heard = []
    result = run(manifest, out_dir=tmp_path / "r", model=ModelRef("tiny", device="cpu", dtype="auto"), chunk_size=2,
                 load_progress=heard.append)
    assert result.n_resumed == 2 and load_yaml_file(tmp_path / "r" / "config.yaml")["dtype"] == "int8"
    assert any("int8" in line and "resumed run keeps" in line for line in heard)
    assert result.summary["precision"]["requested"] == "auto" and result.summary["precision"]["chosen"] == "int8"


def _precision(run_dir):
    import json

    return json.loads((run_dir / "summary.json").read_text())["precision"]


def test_an_experiment_file_without_dtype_runs_runs_default_and_records_it_as_the_default(tmp_path, capsys):
    """A file without `dtype:` ran float32 and recorded it as "asked for", while `workbench run` defaults to auto; now
    it takes auto, says it was the default and what auto chose, and its experiment.yaml pins that choice."""
    manifest = make_dataset(tmp_path, n=3, bad=False)
    (tmp_path / "exp.yaml").write_text(f"manifest: {manifest.name}\nmodel: {{model: tiny, device: cpu}}\n")
    assert main(["run", str(tmp_path / "exp.yaml"), "--out", str(tmp_path / "e"), "--no-cache"]) == 0
    p = _precision(tmp_path / "e")
    assert p["requested"] == "auto" and p["default"] is True and p["reason"] != "asked for", p
    assert p["chosen"] not in ("auto", None) and "agreement_with_float32" in p, p  # what auto chose, with its check
    pinned = load_yaml_file(tmp_path / "e" / "experiment.yaml")["model"]["dtype"]
    assert pinned == p["chosen"] == load_yaml_file(tmp_path / "e" / "config.yaml")["dtype"]
    # the same default as a plain run, recorded the same way
    assert main(["run", str(manifest), "--model", "tiny", "--device", "cpu", "--out", str(tmp_path / "p"), "--no-cache"]) == 0
    plain = _precision(tmp_path / "p")
    assert (plain["requested"], plain["default"]) == ("auto", True)
    # re-running the published run takes the pinned path, asked for by the file, and reproduces
    capsys.readouterr()
    assert main(["run", str(tmp_path / "e" / "experiment.yaml"), "--out", str(tmp_path / "again"), "--no-cache"]) == 0
    assert "reproduces e: 3 rows" in capsys.readouterr().out
    again = _precision(tmp_path / "again")
    assert (again["requested"], again["chosen"], again["default"], again["reason"]) == (pinned, pinned, False, "asked for")


def test_an_experiment_file_that_names_its_dtype_records_it_as_asked_for(tmp_path):
    manifest = make_dataset(tmp_path, n=2, bad=False)
    (tmp_path / "exp.yaml").write_text(f"manifest: {manifest.name}\nmodel: {{model: tiny, device: cpu, dtype: float32}}\n")
    assert main(["run", str(tmp_path / "exp.yaml"), "--out", str(tmp_path / "e"), "--no-cache"]) == 0
    p = _precision(tmp_path / "e")
    assert (p["requested"], p["chosen"], p["reason"], p["default"]) == ("float32", "float32", "asked for", False)


def test_a_run_resumed_without_dtype_records_how_its_first_pass_chose_the_dtype(tmp_path):
    """`run` without --dtype into an unfinished folder resumes in the folder's dtype, and recorded that dtype as "asked
    for" (requested float32, default false) though nobody asked: now the record the run began with is kept, marked
    resumed; a folder of an older version, which recorded no such record, says its dtype was kept, not asked for."""
    import yaml

    manifest = make_dataset(tmp_path, n=4, bad=False)
    old = tmp_path / "old"  # begun under the old float32 default, by a version whose config.yaml kept no precision
    run(manifest, out_dir=old, model=ModelRef("tiny", device="cpu", dtype="float32"), limit=2, chunk_size=2)
    cfg = load_yaml_file(old / "config.yaml")
    cfg.pop("precision", None)
    (old / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    resume = ["run", str(manifest), "--model", "tiny", "--device", "cpu", "--chunk", "2", "--no-cache", "--out"]
    with contextlib.redirect_stderr(io.StringIO()):
        assert main([*resume, str(old)]) == 0
    p = _precision(old)
    assert (p["requested"], p["chosen"], p["resumed"]) == ("float32", "float32", True) and p["reason"] != "asked for", p
    assert "which a resumed run keeps (no --dtype given" in p["reason"]
    # begun without --dtype (auto, the default): resumed without it, its record is auto's, as the first pass wrote it
    new = tmp_path / "new"
    run(manifest, out_dir=new, model=ModelRef("tiny", device="cpu", dtype="auto"), limit=2, chunk_size=2, dtype_default=True)
    began = load_yaml_file(new / "config.yaml")["precision"]
    assert (began["requested"], began["default"]) == ("auto", True) and began["chosen"] == load_yaml_file(new / "config.yaml")["dtype"]
    with contextlib.redirect_stderr(io.StringIO()):
        assert main([*resume, str(new)]) == 0
    p = _precision(new)
    assert {k: p[k] for k in began} == began and p["resumed"] is True, p
