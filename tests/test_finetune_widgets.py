"""The long-audio widget of a fine-tuned checkpoint: its heatmap rows are the model's classes, not the nine.

The 3-class checkpoint is the tiny parent with a seeded random head over ``calm, tense, flat`` written by the
fine-tuning's own :func:`~workbench.analysis.finetune.write_checkpoint` (what it predicts does not matter here:
only that the widget reads the classes from the segmentation, whatever their number).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from test_finetune import random_head, voice

CLASSES = ["calm", "tense", "flat"]


@pytest.fixture(scope="module")
def three_class_segments(tmp_path_factory):
    from workbench.runs.longform import SegmentConfig, segment_file

    root = tmp_path_factory.mktemp("three")
    random_head(root / "head3", CLASSES)
    y = np.zeros(16000 * 6, np.float32)
    y[16000:16000 * 2] = voice(0, 3, seed=1, dur=1.0)
    y[16000 * 4:16000 * 5] = voice(2, 3, seed=2, dur=1.0)
    sf.write(root / "long.wav", y, 16000, subtype="PCM_16")
    segment_file(root / "long.wav", model=str(root / "head3"), out_dir=root / "seg", config=SegmentConfig(vad="energy"))
    return root / "seg"


def test_long_audio_heatmap_rows_are_the_models_three_classes(three_class_segments):
    from workbench.views.widgets import LongAudioTimeline

    w = LongAudioTimeline(three_class_segments)
    assert w.labels == CLASSES
    assert list(w.heat_trace.y) == CLASSES and np.asarray(w.heat_trace.z).shape[0] == 3
    assert set(w.timeline["label"]) <= set(CLASSES)
    assert "#000" not in list(w.span_trace.marker.color)  # every span coloured by its class, none as "unknown class"


def test_long_audio_heatmap_numbers_classes_it_cannot_name(three_class_segments, tmp_path):
    """A folder whose heatmap names no classes and whose summary names another count: numbered, never the nine."""
    import shutil

    from workbench.views.widgets import LongAudioTimeline

    seg = tmp_path / "seg"
    shutil.copytree(three_class_segments, seg)
    heat = np.load(seg / "heatmap.npz")
    np.savez(seg / "heatmap.npz", times=heat["times"], scores=heat["scores"])
    summary = json.loads((seg / "summary.json").read_text(encoding="utf-8"))
    summary.setdefault("model", {})["labels"] = ["only", "two"]
    (seg / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    w = LongAudioTimeline(seg)
    assert w.labels == ["class 0", "class 1", "class 2"] and list(w.heat_trace.y) == w.labels
