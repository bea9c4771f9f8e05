"""An experiment is one file: every run folder writes the one that reproduces it."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from test_runs import make_dataset
from workbench.cli import main
from workbench.errors import ConfigError
from dataclasses import replace

from workbench.model.ref import ModelRef
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
    assert isinstance(exp.model, ModelRef)
    assert exp.model.model == "tiny" and exp.model.checksum == tiny_model.info.checksum and exp.model.dtype == "float32"
    assert a.model() == replace(exp.model, device="auto", revision=None)  # the reader's model is the same reference
    written = yaml.safe_load((a.path / "experiment.yaml").read_text())
    assert written["model"]["model"] == "tiny" and written["model"]["checksum"] == tiny_model.info.checksum
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


def test_an_old_experiment_file_with_flat_model_keys_still_reads(tmp_path):
    """Files written before `model:` held the whole reference (hub, dtype, checksum … beside it) read into one ModelRef."""
    (tmp_path / "m.csv").write_text("id,path\na,a.wav\n")
    (tmp_path / "old.yaml").write_text("manifest: m.csv\nmodel: tiny\nhub: hf\nrevision: v2\ndevice: cpu\ndtype: bfloat16\n"
                                       f"model_checksum: {'ab' * 32}\ntemperature: 1.5\n")
    old = Experiment.load(tmp_path / "old.yaml")
    assert old.model == ModelRef(model="tiny", hub="hf", revision="v2", device="cpu", dtype="bfloat16", checksum="ab" * 32, temperature=1.5)
    (tmp_path / "new.yaml").write_text(old.to_yaml())
    assert Experiment.load(tmp_path / "new.yaml").model == old.model  # the nested form reads back the same
    (tmp_path / "both.yaml").write_text("manifest: m.csv\nmodel: {model: tiny, hub: hf}\ndtype: float32\n")
    with pytest.raises(ConfigError, match="both inside `model:` and beside it"):
        Experiment.load(tmp_path / "both.yaml")
    (tmp_path / "typed.yaml").write_text("manifest: m.csv\nmodel: {model: tiny, device: 3}\n")
    with pytest.raises(ConfigError, match="`device` is 3"):
        Experiment.load(tmp_path / "typed.yaml")
