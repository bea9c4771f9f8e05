"""The Ray driver's side, without a cluster: it hashes the checkpoint instead of building the model; options are checked."""

from __future__ import annotations

import shutil

import pytest

import workbench.model.building as building
import workbench.model.network as model_module
from workbench.engine.ray_executor import RayOptions
from workbench.errors import ConfigError, ModelError
from workbench.model.network import describe_checkpoint


def test_describe_checkpoint_hashes_the_files_and_builds_nothing(tiny_model, monkeypatch):
    import torch

    built = []
    original = torch.nn.Module.__init__

    def counting_init(self, *a, **k):
        built.append(type(self).__name__)
        original(self, *a, **k)

    monkeypatch.setattr(torch.nn.Module, "__init__", counting_init)
    monkeypatch.setattr(model_module, "_load", lambda *a, **k: pytest.fail("the network was built"))
    monkeypatch.setattr(building, "build", lambda *a, **k: pytest.fail("the network was built"))
    ref = describe_checkpoint(tiny_model.info.path, device="cpu", dtype="int8")
    assert built == []
    # the same sha256 as the loaded model's, the same identity a run records
    assert ref.info.checksum == tiny_model.info.checksum and len(ref.info.checksum) == 64
    assert ref.info.id == tiny_model.info.id and ref.info.path == tiny_model.info.path
    assert ref.random_weights and ref.info.warning and ref.info.parameters is None
    assert ref.info.embed_dim == tiny_model.info.embed_dim and (ref.info.device, ref.info.dtype) == ("cpu", "int8")


def test_describe_checkpoint_refuses_what_is_not_an_emotion2vec_checkpoint(tiny_model, tmp_path):
    bad = tmp_path / "other"
    shutil.copytree(tiny_model.info.path, bad)
    (bad / "config.yaml").write_text("model: Paraformer\n", encoding="utf-8")
    with pytest.raises(ModelError, match="not an Emotion2vec model"):
        describe_checkpoint(bad)
    with pytest.raises(ConfigError, match="dtype must be"):
        describe_checkpoint(tiny_model.info.path, dtype="float8")
    with pytest.raises(ModelError, match="no such checkpoint directory"):
        describe_checkpoint(str(tmp_path / "missing") + "/")


@pytest.mark.parametrize("kwargs,match", [
    ({"actors": 0}, "whole number"), ({"max_attempts": 0}, "max_attempts"), ({"actor_wait_s": 0}, "actor_wait_s"), ({"start_wait_s": -1}, "start_wait_s"),
    ({"resources_per_actor": {"CPU": 1}}, "custom resource"), ({"resources_per_actor": {"scorer": -1}}, "custom resource"),
])
def test_ray_options_are_checked(kwargs, match):
    with pytest.raises(ConfigError, match=match) as exc:
        RayOptions(**kwargs)
    assert exc.value.fix


def test_a_chunk_lost_at_every_attempt_gives_failed_rows_that_say_so(tmp_path):
    from workbench.audio.variants import RAW
    from workbench.data.manifest import Item
    from workbench.engine.core import WorkItem
    from workbench.engine.ray_executor import ActorLostError, _lost

    wav = tmp_path / "a.wav"
    scored = _lost(WorkItem(Item(id="a1", path="a.wav"), wav.absolute(), (RAW,)), RAW, 3)
    assert not scored.ok and scored.item.id == "a1" and scored.variant == RAW
    assert scored.error["code"] == ActorLostError.code == "actor_lost" and scored.error["source"] == str(wav.absolute())
    assert "lost 3 times" in scored.error["text"] and "run the same command again" in scored.error["fix"]


def test_a_resume_scores_again_the_rows_whose_actor_was_lost_and_keeps_the_other_failures(tmp_path, tiny_model):
    """The driver's side of a chunk lost at every attempt (the cluster's side: tests/test_ray_cluster.py): its rows are
    a part of failed rows (``actor_lost``); the same command sets that part aside and scores them again."""
    import numpy as np
    from test_ray import assert_same_results
    from test_runs import make_dataset

    from workbench.audio.variants import RAW
    from workbench.data.manifest import read_manifest
    from workbench.engine.core import WorkItem
    from workbench.engine.ray_executor import _lost
    from workbench.runs.driver import rows_from, run
    from workbench.runs.writer import RunWriter

    manifest = make_dataset(tmp_path, n=4, bad=True)  # c000-c003, an undecodable file, an unlabelled item
    items = list(read_manifest(manifest))
    full = run(manifest, out_dir=tmp_path / "full", model=tiny_model, use_cache=False, chunk_size=2)
    out = tmp_path / "run"
    run(manifest, out_dir=out, model=tiny_model, use_cache=False, chunk_size=2, limit=2)  # the first chunk only
    lost = [_lost(WorkItem(it, tmp_path / it.path), RAW, 3) for it in items[2:4]]
    RunWriter(out).write_part(*rows_from(lost, False, tiny_model.info.labels)[:2])
    assert RunWriter(out).finished_rows() == {("c000", "raw"), ("c001", "raw"), ("c002", "raw"), ("c003", "raw")}
    again = run(manifest, out_dir=out, model=tiny_model, use_cache=False, chunk_size=2)
    assert again.n_resumed == 2 and again.summary["computed_this_run"] == 4
    table = again.results()
    assert list(table.loc[table["status"] != "ok", "id"]) == ["broken"]  # the undecodable file; c002 and c003 are ok
    assert_same_results(full.results(), table, np.load(tmp_path / "full" / "embeddings.npy"), np.load(out / "embeddings.npy"))
    assert "a fault of the machinery that a resume retries" in (out / "log.txt").read_text()
    # a failure that is the item's own is kept: the same command once more scores nothing
    third = run(manifest, out_dir=out, model=tiny_model, use_cache=False, chunk_size=2)
    assert third.n_resumed == 6 and third.summary["computed_this_run"] == 0 and third.n_failed == 1


def test_an_actor_with_the_same_weights_but_another_config_is_refused_and_told_which_file(tiny_model, tmp_path):
    """prov17: the driver compared each actor's weights' sha256 only: a node whose config.yaml (or tokens.txt) differed
    served another network's scores under the driver's name.  Now the model's identity (what the caches key on) is
    compared, the differing file named; an actor that reports no identity falls back to the checksum."""
    import shutil

    from workbench.engine.ray_identity import check_actor_model, expected_model, identity_files
    from workbench.errors import ModelError
    from workbench.model.weights import checkpoint_identity

    info = tiny_model.info
    expected = expected_model(info)
    assert expected["identity"] and expected["files"]["config.yaml"] != "absent"
    same = {"node": "n" * 20, "worker": "w:1", "model": info.to_dict(), "identity_files": identity_files(info.path)}
    check_actor_model(expected, same)  # the same model: nothing said
    other = tmp_path / "other"
    shutil.copytree(info.path, other)
    (other / "config.yaml").write_text((other / "config.yaml").read_text(encoding="utf-8") + "\n# edited on one node\n", encoding="utf-8")
    edited = {**same, "model": {**info.to_dict(), "identity": checkpoint_identity(other, info.checksum)},
              "identity_files": identity_files(other)}
    with pytest.raises(ModelError, match=r"same weights but another model.*config\.yaml") as err:
        check_actor_model(expected, edited)
    assert "tokens.txt (" not in str(err.value)
    # an actor of before identities: its checksum alone, which is the driver's
    check_actor_model(expected, {**same, "model": {**info.to_dict(), "identity": None}, "identity_files": None})
    with pytest.raises(ModelError, match="weights with sha256 0000"):
        check_actor_model(expected, {**same, "model": {**info.to_dict(), "identity": None, "checksum": "0" * 64}})
