"""An experiment is one file: every run folder writes the one that reproduces it."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from test_runs import make_dataset
from workbench.cli import main
from workbench.errors import ConfigError
from workbench.runs.experiment import Experiment
from workbench.data.manifest import read_manifest
from workbench.runs.folder import RunFolder
from workbench.runs.driver import Variant, run, run_experiment

VARIANTS = [Variant("raw"), Variant("quiet", ({"name": "gain", "db": -6.0},))]


def test_the_written_experiment_reproduces_the_run(tmp_path, tiny_model):
    manifest = make_dataset(tmp_path, n=5)
    a = RunFolder(run(manifest, out_dir=tmp_path / "a", model=tiny_model, variants=VARIANTS, use_cache=False).run_dir)
    exp = a.experiment()
    assert exp.manifest == str(manifest.resolve()) and [v["name"] for v in exp.variants] == ["raw", "quiet"]
    # the model as it means the same on another machine (not this machine's cache folder), with its checksum
    assert exp.model == "tiny" and exp.model_checksum == tiny_model.info.checksum and exp.dtype == "float32"
    b = RunFolder(run_experiment(a.path / "experiment.yaml", out_dir=tmp_path / "b", use_cache=False).run_dir)
    ra, rb = a.results(), b.results()
    assert list(zip(ra["id"], ra["variant"])) == list(zip(rb["id"], rb["variant"]))
    np.testing.assert_allclose(ra.filter(like="score_").fillna(-1), rb.filter(like="score_").fillna(-1), atol=1e-6)
    assert a.config["manifest_sha256"] == b.config["manifest_sha256"] and a.config["variants"] == b.config["variants"]


def test_an_in_memory_manifest_is_kept_with_the_run(tmp_path, tiny_model):
    m = read_manifest(make_dataset(tmp_path, n=3, bad=False))
    m.source, m.name = "", ""  # as if built in a notebook
    rf = RunFolder(run(m, out_dir=tmp_path / "a", model=tiny_model, use_cache=False).run_dir)
    exp = rf.experiment()
    assert exp.manifest == str(rf.path / "manifest.jsonl")
    copy = read_manifest(exp.manifest)
    assert [it.id for it in copy] == [it.id for it in m] and all(str(copy.resolve(it)).startswith("/") for it in copy)


def test_cli_runs_an_experiment_file_and_an_old_config(tmp_path, tiny_model, capsys):
    manifest = make_dataset(tmp_path, n=3, bad=False)
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump({
        "manifest": "manifest.csv", "model": tiny_model.info.path, "variants": {"raw": [], "quiet": [{"name": "gain", "db": -6.0}]},
        "reports": ["experiment_report"], "seed": 7}))
    assert main(["run", str(tmp_path / "exp.yaml"), "--out", str(tmp_path / "r1"), "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert "6 rows, 0 failed" in out and "WA " in out and "UAR " in out and "workbench report experiment_report" in out
    saved = Experiment.load(tmp_path / "r1" / "experiment.yaml")
    assert saved.seed == 7 and saved.reports == ["experiment_report"] and len(saved.variants) == 2
    # a run folder's config.yaml is accepted too (earlier versions wrote only that)
    assert main(["run", str(tmp_path / "r1" / "config.yaml"), "--out", str(tmp_path / "r2"), "--no-cache"]) == 0


@pytest.mark.parametrize("text,match", [
    ("manifest: m.csv\nvarients: {raw: []}\n", "unknown key"),
    ("model: tiny\n", "no `manifest:`"),
    ("- a\n- b\n", "YAML mapping"),
    ("manifest: m.csv\naudio: {target_rate: 8000}\n", "audio: unknown setting"),
    ("manifest: m.csv\nvariants: {a: [{top_db: 3}]}\n", "must be a mapping with a 'name'"),
])
def test_a_bad_experiment_file_is_refused_with_the_fix(tmp_path, text, match):
    p = tmp_path / "e.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match) as exc:
        Experiment.load(p)
    assert exc.value.fix
