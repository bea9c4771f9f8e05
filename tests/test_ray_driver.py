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
