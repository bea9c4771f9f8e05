"""A cross-validation fold that ``finetune`` cannot evaluate (its training side has one class) is named, with why, on
screen and in the card, and the figures say they pool the other folds only (checks15: it only lowered ``n_folds``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from workbench.analysis.finetune.core import FinetuneResult
from workbench.analysis.finetune.data import TuneData
from workbench.analysis.finetune.evaluate import evaluate_finetune
from workbench.labels import LABEL_KEYS


def _one_class_fold() -> dict:
    # three speakers, three speaker folds: s1 and s2 say only 'sad', so the fold that holds out s0 (the one speaker
    # with 'angry') trains on one class and cannot be evaluated
    y = np.array(["angry"] * 4 + ["sad"] * 20, dtype=object)
    rows = pd.DataFrame({"id": [f"i{i}" for i in range(24)], "speaker": np.repeat(["s0", "s1", "s2"], 8), "emotion": y,
                         "label": y, "meta": "{}", "pred": "neutral", **{f"score_{k}": 1 / 9 for k in LABEL_KEYS}})
    data = TuneData(rows, np.random.default_rng(0).normal(size=(24, 4)), y, ["angry", "sad"], "corpus", "raw", ["x"])
    return evaluate_finetune(data, k=3, n_boot=20, procedure=lambda tr, va, te: np.array(["sad"] * len(te), dtype=object))


def test_a_skipped_fold_is_named_in_the_card_and_on_screen():
    ev = _one_class_fold()
    assert ev["n_folds"] == 2 and ev["folds_total"] == 3
    (name, why), = ev["skipped_folds"].items()
    assert why == "its training side has one class (sad), held out s0"
    assert ev["skipped_note"].startswith(f"1 of 3 folds skipped: fold {name}: its training side has one class (sad)")
    assert "pool the test items of the other 2 folds only" in ev["skipped_note"]
    json.dumps(ev["skipped_folds"])  # the card is strict JSON
    card = {"parent": {"id": "p", "checksum_sha256": "0" * 64}, "labels": {"classes": ["angry", "sad"]},
            "speakers": {"train": [], "validation": [], "test": []}, "training": {"best_epoch": 1, "epochs_run": 1, "seconds": 0.1},
            "evaluation": ev}
    screen = FinetuneResult(Path("out"), card, Path("run")).render()
    assert f"!! 1 of 3 folds skipped: fold {name}: its training side has one class (sad), held out s0" in screen
