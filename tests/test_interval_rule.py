"""The speaker intervals' construction (the t-corrected expanded percentile), and the leftovers of the interval work:
probe's speaker draws that miss a fold, the per-class heads' unit, a dominant label with nothing to test against."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import norm, t as student

from workbench.analysis.figure_notes import class_lines
from workbench.analysis.group_resampling import _interval
from workbench.analysis.probe_intervals import fold_intervals
from workbench.analysis.stats import (cluster_draws, cluster_ids, resample_intervals, speaker_interval_bounds,
                                      speaker_resampling)
from workbench.runs.dominant import dominant_check, dominant_test, dominant_test_words, dominant_words


def _by_hand(values: np.ndarray, g: int) -> tuple[float, float]:
    """Hesterberg's expanded percentile: the percentiles at 2 Phi(sqrt(G/(G-1)) t_{0.975, G-1}) - 1."""
    wide = 2 * norm.cdf(np.sqrt(g / (g - 1)) * student.ppf(0.975, g - 1)) - 1
    lo, hi = np.percentile(values[np.isfinite(values)], [100 * (1 - wide) / 2, 100 * (1 + wide) / 2])
    return float(lo), float(hi)


def test_speaker_interval_is_the_expanded_percentile_and_items_keep_the_plain_one():
    values = np.random.default_rng(0).normal(size=500)
    assert speaker_interval_bounds(values, 0.95, 12) == _by_hand(values, 12)
    assert speaker_interval_bounds(values, 0.95, 12)[1] - speaker_interval_bounds(values, 0.95, 12)[0] > \
        speaker_interval_bounds(values, 0.95)[1] - speaker_interval_bounds(values, 0.95)[0]
    assert speaker_interval_bounds(values, 0.95) == tuple(float(v) for v in np.percentile(values, [2.5, 97.5]))
    assert _interval(values, 0.95, 12) == _by_hand(values, 12) and _interval(values, 0.95) == speaker_interval_bounds(values, 0.95)


def test_the_headline_speaker_intervals_are_t_corrected_over_the_same_draws_and_say_so():
    rng = np.random.default_rng(4)
    speakers = np.repeat([f"s{k}" for k in range(12)], 10)
    t, p = rng.integers(0, 3, 120), rng.integers(0, 3, 120)
    clusters, unit = speaker_resampling(list(speakers))
    heads, _ = resample_intervals(t, p, [0, 1, 2], n=300, seed=5, clusters=clusters)
    # the same resamples by hand: 12 speakers drawn with replacement, WA of each
    ids = cluster_ids(clusters)
    right = np.bincount(ids, weights=(t == p).astype(float), minlength=12)
    draws = cluster_draws(np.random.default_rng(5), 12, 300)
    wa = draws @ right / (draws @ np.bincount(ids, minlength=12))
    assert heads[0] == pytest.approx(_by_hand(wa, 12))
    assert unit["interval"] == "t-corrected percentile" and unit["words"].endswith(", t-corrected percentile")
    # no speakers: the plain percentile interval over items, as before
    plain, _ = resample_intervals(t, p, [0, 1, 2], n=300, seed=5)
    idx = np.random.default_rng(5).integers(0, 120, (300, 120))
    assert plain[0] == pytest.approx(tuple(np.percentile((t[idx] == p[idx]).mean(axis=1), [2.5, 97.5])))


def test_probe_counts_the_speaker_draws_that_miss_a_fold_and_flags_many():
    rng = np.random.default_rng(1)
    truth, preds, speakers = [], [], []
    for f in range(6):  # six folds of one or two test speakers: a draw of 8 speakers often misses a whole fold
        spk = [f"f{f}a"] * 10 + ([f"f{f}b"] * 10 if f < 2 else [])
        truth.append(rng.choice(["a", "b"], len(spk))), preds.append(rng.choice(["a", "b"], len(spk))), speakers.append(spk)
    folds, mean = fold_intervals(truth, preds, [["a", "b"]] * 6, speakers, ["wa", "uar", "macro_f1"], n=200, seed=0)
    unit = mean["ci_unit"]
    assert unit["unit"] == "speaker" and unit["draws"] == 200 and unit["dropped_draws"] > 10
    assert f"{unit['dropped_draws']} of 200 speaker draws left out of the mean over folds" in unit["note"]
    assert np.isfinite(mean["wa_ci"]).all()
    # enough speakers per fold: none left out, no note
    many = [[f"f{f}s{k}" for k in range(10) for _ in range(2)] for f in range(3)]
    _, ok = fold_intervals([np.array(["a", "b"] * 10)] * 3, [np.array(["a"] * 20)] * 3, [["a", "b"]] * 3, many,
                           ["wa", "uar", "macro_f1"], n=100, seed=0)
    assert ok["ci_unit"]["dropped_draws"] == 0 and "left out of the mean" not in ok["ci_unit"]["note"]


def test_the_per_class_heads_say_what_their_intervals_are_over():
    row = {"precision": 0.5, "precision_ci": (0.2, 0.8), "hits": 5, "predicted": 10, "recall": 0.5, "recall_ci": (0.2, 0.8),
           "support": 10, "f1": 0.5, "f1_ci": (0.3, 0.7)}
    _, unit = speaker_resampling([f"s{k}" for k in range(30) for _ in range(2)])
    head = class_lines({"sad": row}, 60, unit)[0]
    assert "precision [95% CI, 30 speakers, t-corrected] hits/predicted" in head
    assert "F1 [95% CI, 30 speakers, t-corrected]" in head
    items = class_lines({"sad": row}, 60, speaker_resampling(None)[1])[0]
    assert "recall [95% exact CI over items] hits/n" in items and "F1 [95% bootstrap CI over items]" in items
    lines = class_lines({"sad": row}, 60, unit)  # the row's figures under their heads
    assert lines[1].index("0.500 [0.200, 0.800]", 20) == lines[0].index("recall [")


def test_a_dominant_label_of_one_segment_or_one_label_says_it_is_not_testable():
    one = dominant_test("sad", {"sad": 1}, ["sad"])
    assert one == json.loads(json.dumps(one)) and one["testable"] is False and one["reason"] == "one segment"
    assert dominant_check("sad", {"sad": 1}, None, ["sad"]).startswith("not measurably dominant: not testable: one segment")
    assert "; not testable: one segment" in dominant_words("sad", {"sad": 1}, "segments", one)
    many = dominant_test("sad", {"sad": 12}, ["sad"] * 12)
    assert many["reason"] == "one label" and dominant_check("sad", {"sad": 12}, None, ["sad"] * 12) == ""
    assert "; not testable: one label (all 12 segments are sad" in dominant_words("sad", {"sad": 12}, "segments", many)
    assert dominant_test_words(many, short=True).startswith("not testable: one label")
    assert dominant_test(None, {}) == {} and "against happy" in dominant_words(
        "sad", {"sad": 3, "happy": 1}, "segments", dominant_test("sad", {"sad": 3, "happy": 1}, ["sad", "sad", "happy", "sad"]))


@pytest.mark.slow
def test_the_t_corrected_interval_covers_nearer_95_than_the_percentile_one_over_10_speakers():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "speaker_coverage.py"
    spec = importlib.util.spec_from_file_location("speaker_coverage", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    res = bench.run(10, 1.0, 300, 500, seed=1)
    before, after = np.mean(res["percentile"]["coverage"]), np.mean(res["expanded"]["coverage"])
    assert before < 0.925 and after > before + 0.02 and after > 0.925, (before, after)


def test_the_cue_probes_speaker_delta_interval_is_t_corrected_over_its_speakers(monkeypatch):
    """The cue table's unit words say "t-corrected" of its speaker intervals: Cliff's delta's took the plain percentile
    of the cluster draws (checks15).  Over items it stays scipy's plain percentile (test_cluster_intervals)."""
    import workbench.explain.cues as cues
    from test_cluster_intervals import _speaker_class_frame

    seen = []
    real = cues.speaker_interval_bounds
    monkeypatch.setattr(cues, "speaker_interval_bounds", lambda v, level, g=None: seen.append((np.asarray(v), level, g)) or real(v, level, g))
    frame = _speaker_class_frame(np.random.default_rng(7), speakers=8, clips=5)
    row = cues.cue_differences(frame, cues=["f0"], n_boot=200, seed=3).set_index("label").loc["A"]
    draws = [v for v, level, g in seen if g == 8 and level == 0.95]
    assert draws and row["resampled"] == "8 speakers"
    assert any((row["low"], row["high"]) == pytest.approx(_by_hand(v, 8)) for v in draws)
    plain = [np.percentile(v, [2.5, 97.5]) for v in draws]
    assert not any((row["low"], row["high"]) == pytest.approx(tuple(p)) for p in plain)
