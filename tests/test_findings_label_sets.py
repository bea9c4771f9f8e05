"""Findings speak of the model's own classes: a fine-tuned head over calm and tense has no neutral or other."""

from __future__ import annotations

from types import SimpleNamespace

from workbench.engine.findings import findings_from, prediction_facts
from workbench.labels import LABEL_KEYS


def _pred(labels):
    return SimpleNamespace(label=labels[0], confidence=0.9, margin=0.8, entropy=0.3, labels=list(labels), frame_logits=None, n_frames=0)


def test_low_snr_names_neutral_and_other_only_for_a_model_that_has_them():
    # the report of a calm/tense head's run said "noise pulls scores towards neutral/other" for a model without them
    head = [f for f in findings_from({"snr_db": 8.0, **prediction_facts(_pred(["calm", "tense"]))}) if f.code == "low_snr"]
    assert len(head) == 1 and "neutral" not in head[0].suggestion and "other" not in head[0].suggestion
    assert head[0].suggestion.startswith("noise shifts the scores of any class")
    nine = [f for f in findings_from({"snr_db": 8.0, **prediction_facts(_pred(LABEL_KEYS))}) if f.code == "low_snr"]
    assert nine[0].suggestion.startswith("noise pulls scores towards neutral/other")
