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


def test_the_next_step_of_an_unlabelled_run_of_a_head_with_many_classes_lists_a_few(tmp_path):
    """A run of a received head with 100,000 labels and no emotion column: `run`'s next step listed every class, one
    line of 780 kB on the screen."""
    import pandas as pd

    from workbench.cli.running import unlabelled_next_step
    from workbench.schema import score_column

    classes = [f"c{i}" for i in range(5000)]
    results = pd.DataFrame({"id": ["a", "b"], "status": ["ok", "ok"], "label": ["", ""],
                            **{score_column(c): [1 / len(classes)] * 2 for c in classes}})
    step = unlabelled_next_step(results, tmp_path)
    assert "one of the model's classes per row: c0, c1," in step and "c11 … and 4,988 more)" in step
    assert "c4999" not in step and len(step) < 600


def test_a_head_whose_card_the_loader_would_refuse_is_not_written(tmp_path, tiny_dir):
    """A head of 100,000 classes (a label column of ids) was written with a 1.6 MB card, then refused at every load: 'cannot
    read training_card.json (holds 1,589,162 bytes; the cap … is 1,000,000). Fix: restore the card `workbench finetune`
    wrote'."""
    from workbench.errors import ModelError

    with pytest.raises(ModelError) as err:
        _head(tmp_path / "many", tiny_dir, classes=[f"c{i}" for i in range(100_000)])
    assert "a head of 100,000 classes" in err.value.message and "would not load" in err.value.message
    assert not (tmp_path / "many").exists() and list(tmp_path.iterdir()) == []
