"""Hostile and careless inputs, round sixteen: a fine-tuned head's folder edited after training."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def tiny_dir():
    from workbench.model.generated import ensure_random_checkpoint

    return ensure_random_checkpoint("tiny")


def _head(folder, tiny_dir, classes=("calm", "tense", "flat"), seed=0):
    """A head as `workbench finetune` writes it (write_checkpoint: the parent's network, a new proj, tokens and the card)."""
    from workbench.analysis.finetune.checkpoint import write_checkpoint

    rng = np.random.default_rng(seed)
    return write_checkpoint(folder, tiny_dir, list(classes), rng.standard_normal((len(classes), 32)), rng.standard_normal(len(classes)),
                            {"format": "emotion-workbench-finetune/1", "speakers": {"train": ["s1"], "validation": ["s2"], "test": ["s3"]}})


def test_a_head_whose_config_was_edited_after_training_is_refused_by_its_card(tmp_path, tiny_dir, own_model_cache):
    """config.yaml's num_heads 2 → 4 keeps every weight's shape: the head loaded and scored otherwise (tiny: 0.2039 →
    0.2020 for one class) under the card's parent, speakers and test figures, and its weights' checksum, so the ONNX export
    and the prediction cache of the old network were served for it as well."""
    from workbench.errors import ModelError
    from workbench.model.network import clear_cache, load_model

    head = _head(tmp_path / "head", tiny_dir)
    assert load_model(str(head), device="cpu", dtype="float32").labels == ("calm", "tense", "flat")
    config = (head / "config.yaml").read_text(encoding="utf-8")
    assert "num_heads: 2" in config
    (head / "config.yaml").write_text(config.replace("num_heads: 2", "num_heads: 4", 1), encoding="utf-8")
    clear_cache()
    with pytest.raises(ModelError) as err:
        load_model(str(head), device="cpu", dtype="float32")
    assert "training_card.json" in str(err.value.source) and "config.yaml with sha256" in err.value.message
    assert "fine-tune again" in err.value.fix
