"""Intervals say how many of their resamples they rest on: a statistic undefined (NaN) in a resample is left out of its
percentiles, and an interval from 134 of 200 resamples read as one from 200 (checks15).  Under 90 % it is flagged
wherever the figure is shown: metrics (screen, flags, JSON), run's headline, compare (screen, JSON, figure)."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pandas as pd
from test_compare_flips import _rows

import workbench.analysis.compare.variants as variants
from workbench.analysis.compare import compare_results, plot_comparison
from workbench.analysis.interval_rule import Bounds, resamples_kept, thin_note
from workbench.analysis.metrics import evaluate, headline_summary
from workbench.analysis.stats import bootstrap_ci, kappa_interval, paired_bootstrap_delta, resample_intervals, speaker_interval_bounds, uar


def test_an_interval_counts_the_resamples_it_keeps_and_stays_a_tuple():
    b = speaker_interval_bounds([0.1, float("nan"), 0.3, 0.2], 0.95)
    assert isinstance(b, tuple) and len(b) == 2 and resamples_kept(b) == {"kept": 3, "drawn": 4}
    assert resamples_kept((0.1, 0.2)) is None and thin_note((0.1, 0.2)) == "" and thin_note({"kept": 9, "drawn": 10}) == "" and thin_note([0.1, 0.5]) == ""
    assert "from 3 of 4 resamples (75%)" in thin_note(b) and resamples_kept(pickle.loads(pickle.dumps(b))) == {"kept": 3, "drawn": 4}
    # a statistic defined only where item 0 is drawn (about 63 % of resamples over 10 items)
    fn = lambda t, p: float(np.mean(t == p)) if 0 in t else float("nan")  # noqa: E731
    ci = bootstrap_ci(fn, np.arange(10), np.arange(10), n=200, seed=1)
    kept, drawn = resamples_kept(ci).values()
    assert drawn == 200 and 100 < kept < 160 and thin_note(ci)
    delta = paired_bootstrap_delta(lambda t, p: fn(t, p), np.arange(10), np.arange(10), np.arange(10), n=200, seed=1)
    assert len(delta) == 3 and resamples_kept(delta)["drawn"] == 200 and resamples_kept(delta)["kept"] < 180
    # kappa: a resample with one label throughout (0/0) is counted, not silently dropped
    k = kappa_interval(["a"] * 9 + ["b"], ["a"] * 9 + ["b"], n=200, seed=0)
    assert resamples_kept(k)["drawn"] == 200 and resamples_kept(k)["kept"] < 200


def test_resample_intervals_count_a_class_f1_undefined_where_the_class_is_absent():
    t = np.array([0] * 19 + [1])
    heads, f1 = resample_intervals(t, t.copy(), [0, 1], n=200, seed=0)
    assert [resamples_kept(b) for b in heads] == [{"kept": 200, "drawn": 200}] * 3
    assert resamples_kept(f1[0]) == {"kept": 200, "drawn": 200} and resamples_kept(f1[1])["kept"] < 180 and thin_note(f1[1])
    # UAR over one scored class that 1 item of 20 carries: undefined wherever that item is not drawn
    heads, _ = resample_intervals(np.array([1] * 19 + [0]), np.array([1] * 19 + [0]), [0], n=200, seed=0)
    assert resamples_kept(heads[1])["kept"] < 180 and resamples_kept(heads[0]) == {"kept": 200, "drawn": 200}


def _results():
    emotions = ["angry", "sad", "happy", "neutral"] * 6
    preds = list(np.random.default_rng(3).choice(["angry", "sad", "happy", "neutral"], 24))
    return pd.DataFrame(_rows("raw", preds, emotions))


def test_metrics_flags_a_headline_interval_from_too_few_resamples():
    report = evaluate(_results(), variant="raw", by=(), n_boot=50)
    assert report.ci_resamples == {m: {"kept": 50, "drawn": 50} for m in ("wa", "uar", "macro_f1")} and not report.interval_flags()
    thin = dataclasses.replace(report, ci_resamples={**report.ci_resamples, "uar": {"kept": 134, "drawn": 200}})
    assert "interval from 134 of 200 resamples (67%)" in thin.interval_flags()["uar"]
    assert "!! interval from 134 of 200" in next(line for line in thin.render().splitlines() if line.strip().startswith("UAR"))
    assert "134 of 200" in thin.flags()["uar"] and "134 of 200" in thin.to_dict()["flags"]["uar"]
    summary = headline_summary(_results(), variant="raw", n_boot=50)
    assert summary["ci_resamples"]["uar"] == {"kept": 50, "drawn": 50} and not any("resamples" in f for f in summary["flags"])


def test_compare_flags_a_delta_interval_from_too_few_resamples(monkeypatch):
    # ΔUAR made undefined in every resample without the one 'happy' item (about a third of them)
    def patchy(t, p, classes=None):
        return uar(t, p, classes) if "happy" in set(t) else float("nan")
    monkeypatch.setattr(variants, "uar", patchy)
    emotions = ["angry", "sad"] * 10 + ["happy"]
    raw, loud = (list(np.random.default_rng(s).choice(["angry", "sad", "happy"], 21)) for s in (1, 2))
    df = pd.DataFrame(_rows("raw", raw, emotions) + _rows("loud", loud, emotions))
    _, (c,), _ = compare_results(df, baseline="raw", n_boot=200)
    kept, drawn = c.delta_resamples["delta_uar"].values()
    assert drawn == 200 and kept < 180 and c.delta_resamples["delta_wa"] == {"kept": 200, "drawn": 200}
    assert f"interval from {kept} of 200 resamples" in c.interval_flags()["delta_uar"] and "delta_wa" not in c.interval_flags()
    assert "!! ΔUAR: interval from" in c.render() and "resamples" in c.to_dict()["interval_flags"]["delta_uar"]
    assert "ΔUAR interval from under 90 % of its resamples" in plot_comparison(df, c).axes[1].get_title().replace("\n", " ")


def test_fusion_checks_flag_an_interval_from_too_few_resamples_and_not_a_plain_one():
    from workbench.analysis.fusion import fusion_checks

    y = np.array(["a", "b"] * 10)
    metrics = {"speech": {"uar": 0.5, "uar_ci": Bounds((0.3, 0.7), 120, 200), "wa": 0.5, "wa_ci": Bounds((0.3, 0.7), 200, 200)},
               "late": {"uar": 0.5, "uar_ci": [0.3, 0.7], "wa": 0.5, "wa_ci": (0.3, 0.7)}}  # as fusion.json holds them: not counted
    comparisons = {"late": {"delta_uar": Bounds((0.0, -0.2, 0.2), 150, 200), "delta_wa": Bounds((0.0, -0.2, 0.2), 199, 200)}}
    checks = fusion_checks(y, metrics, comparisons)
    assert [c for c in checks if "resamples" in c] == [
        "speech UAR: " + thin_note(metrics["speech"]["uar_ci"]), "late ΔUAR vs speech: " + thin_note(comparisons["late"]["delta_uar"])]
    assert any(c.startswith("speech UAR: interval from 120 of 200 resamples (60%)") for c in checks)


def test_metrics_flags_a_class_f1_interval_from_too_few_resamples():
    # 'happy' has one item of 24 and is never predicted: its F1 is undefined in every resample that misses the item
    emotions = ["angry", "sad", "neutral"] * 8
    emotions[0] = "happy"
    preds = [e if e != "happy" else "angry" for e in emotions]
    report = evaluate(pd.DataFrame(_rows("raw", preds, emotions)), variant="raw", by=(), n_boot=200)
    kept = report.per_class["happy"]["f1_resamples"]["kept"]
    assert kept < 180 and report.per_class["angry"]["f1_resamples"] == {"kept": 200, "drawn": 200}
    assert f"F1 of happy: interval from {kept} of 200 resamples" in report.flags()["class_f1"]
    assert f"F1 of happy: interval from {kept} of 200 resamples" in report.render()
