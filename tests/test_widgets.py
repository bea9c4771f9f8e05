"""Widgets driven as a user drives them: set values, click, read what is shown."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import REPO, speech_like
from test_runs import make_dataset
from workbench.longform import SegmentConfig, segment_file
from workbench.runs import Variant, run

pytest.importorskip("ipywidgets")
from workbench.widgets import (  # noqa: E402
    ConfusionExplorer,
    LongAudioTimeline,
    LowConfidenceBrowser,
    SampleRateExplorer,
    TrimmingInspector,
    VariantDiff,
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tiny_model):
    root = tmp_path_factory.mktemp("widgets")
    manifest = make_dataset(root, n=10, bad=True)
    variants = [Variant("raw"), Variant("telephone", ({"name": "telephone"},)), Variant("trim", ({"name": "trim", "top_db": 15},))]
    run(manifest, out_dir=root / "run", model=tiny_model, variants=variants, cache_dir=root / "cache")
    return root / "run"


def test_trimming_inspector_shows_what_trim_removed(tmp_path):
    y = np.concatenate([np.zeros(8000, np.float32), speech_like(16000, 1.5, seed=2), np.zeros(4000, np.float32)])
    sf.write(tmp_path / "c.wav", y, 16000, subtype="PCM_16")
    w = TrimmingInspector(tmp_path / "c.wav")
    assert w.chain.value == "trim top_db=30"
    # the 0.5 s / 0.25 s of silence (to within a trim frame), and at most one 4 Hz syllable gap more
    assert 0.45 <= w.cut["start_s"] <= 0.8 and 0.15 <= w.cut["end_s"] <= 0.55
    assert f"{w.cut['start_samples']} samples) at start" in w.summary.value
    assert len(w.players.children) == 2 and len(w.figure.children) == 1
    w.chain.value = "intake only"
    assert w.cut == {"start_s": 0.0, "end_s": 0.0, "start_samples": 0, "end_samples": 0}
    assert "cut</b> 0 ms (0 samples) at start" in w.summary.value


def test_sample_rate_explorer_reports_the_scores_and_label_change(tiny_model):
    w = SampleRateExplorer(REPO / "workbench" / "demo_data" / "happy_en_44k.wav", model=tiny_model)
    assert "RANDOM WEIGHTS" in w.widget.children[0].value
    pa, pb = w.predictions
    assert "8000 Hz / soxr" in w.result.value and f"{pb.confidence:.3f}" in w.result.value
    w.rate.value = 44100
    w.telephone.value = True
    w.run_button.click()
    pa2, pb2 = w.predictions
    assert "44100 Hz / soxr / telephone" in w.result.value
    assert np.allclose(pa.scores, pa2.scores) and not np.allclose(pb.scores, pb2.scores)
    assert ("top label changed" in w.result.value) == (pa2.label != pb2.label)


def test_low_confidence_browser_filters_and_opens_an_item(run_dir, tiny_model):
    w = LowConfidenceBrowser(run_dir, model=tiny_model)
    res = pd.read_parquet(run_dir / "results.parquet")
    ok = res[res["status"] == "ok"]
    for thr in (0.0, float(ok["confidence"].median()), 1.0):
        w.threshold.value = thr
        assert len(w.table.options) == int((ok["confidence"] < thr).sum())
        assert f"<b>{len(w.table.options)}</b> of {len(ok)} items" in w.count.value
    w.variant.value = "telephone"
    assert {v for _, (_, v) in w.table.options} == {"telephone"}
    w.true_label.value = "sad"
    assert all("true=sad" in label for label, _ in w.table.options)
    key = w.table.options[0][1]
    w.table.value = key
    assert f"<h4>{key[0]} [telephone]</h4>" in w.detail.value and "nearest neighbours" in w.detail.value
    assert len(w.audio.children) == 1 and len(w.figure.children) == 1
    assert w.detail.value.count("<li>") >= 5  # neighbours listed


def test_confusion_explorer_cell_lists_items_and_opens_the_browser(run_dir, tiny_model):
    w = ConfusionExplorer(run_dir, model=tiny_model)
    res = pd.read_parquet(run_dir / "results.parquet")
    ok = res[(res["status"] == "ok") & (res["variant"] == "raw") & (res["emotion"] != "")]
    (t, p), button = max(w.cells.items(), key=lambda kv: int(kv[1].description))
    assert int(button.description) == int(((ok["emotion"] == t) & (ok["pred"] == p)).sum())
    button.click()
    assert len(w.items.options) == int(button.description) and f"true <b>{t}</b> predicted <b>{p}</b>" in w.caption.value
    w.open_button.click()
    assert w.browser is not None and w.browser.table.value == (w.items.value, "raw")
    assert f"<h4>{w.items.value} [raw]</h4>" in w.browser.detail.value


def test_variant_diff_lists_flips_and_plays_both(run_dir):
    w = VariantDiff(run_dir, "raw", "telephone")
    assert "telephone vs raw" in w.summary.value
    assert len(w.flips.options) == w.comparison.n_flips
    if w.flips.options:
        w.flips.value = w.flips.options[0][1]
        assert len(w.players.children) == 2 and "raw:" in w.detail.value
    w.b.value = "raw"
    assert list(w.flips.options) == [] and "two different" in w.summary.value


def test_long_audio_timeline_plays_a_span(tmp_path, tiny_model):
    y = np.zeros(16000 * 8, np.float32)
    y[16000:16000 * 3] = speech_like(16000, 2.0, seed=1)
    y[16000 * 5:16000 * 7] = speech_like(16000, 2.0, seed=2)
    sf.write(tmp_path / "long.wav", y, 16000, subtype="PCM_16")
    segment_file(tmp_path / "long.wav", model=tiny_model, out_dir=tmp_path / "seg", config=SegmentConfig(vad="energy"))
    w = LongAudioTimeline(tmp_path / "seg")
    assert len(w.spans.options) == len(w.timeline) >= 1 and len(w.figure.children) == 1
    w.spans.value = len(w.timeline) - 1
    w.play_button.click()
    seg, sr = w.current
    r = w.timeline.iloc[-1]
    assert sr == 16000 and abs(len(seg) / sr - (r["end"] - r["start"])) < 0.01
    assert len(w.player.children) == 1 and "RANDOM WEIGHTS" in w.widget.children[0].value
