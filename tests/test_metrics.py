"""Metrics against scikit-learn and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from workbench.labels import LABEL_KEYS
from workbench.analysis.metrics import bootstrap_ci, confusion, ece, evaluate, headline, macro_f1, per_class, uar, wa


def random_labels(n=300, seed=0):
    rng = np.random.default_rng(seed)
    classes = ["angry", "happy", "neutral", "sad"]
    t = rng.choice(classes, n, p=[0.1, 0.2, 0.5, 0.2])
    p = np.where(rng.random(n) < 0.6, t, rng.choice(classes + ["other"], n))
    return t, p, classes


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")  # the oracle's own note
def test_wa_uar_f1_equal_sklearn():
    t, p, classes = random_labels()
    assert wa(t, p) == pytest.approx(accuracy_score(t, p))
    assert uar(t, p, classes) == pytest.approx(balanced_accuracy_score(t, p))
    assert macro_f1(t, p, classes) == pytest.approx(f1_score(t, p, labels=classes, average="macro", zero_division=0))
    prec, rec, f1, sup = precision_recall_fscore_support(t, p, labels=classes, zero_division=0)
    pc = per_class(t, p, classes)
    for i, c in enumerate(classes):
        assert pc[c]["precision"] == pytest.approx(prec[i]) and pc[c]["recall"] == pytest.approx(rec[i])
        assert pc[c]["f1"] == pytest.approx(f1[i]) and pc[c]["support"] == sup[i]
    cols = classes + ["other"]
    np.testing.assert_array_equal(confusion(t, p, classes, cols), confusion_matrix(t, p, labels=cols)[: len(classes)])


def test_ece_by_hand():
    # bins of width 0.5: [0, .5] holds conf .2 (wrong) and .4 (right): acc .5, conf .3 → gap .2, weight .5
    #                    (.5, 1] holds .9 (right) and .7 (wrong): acc .5, conf .8 → gap .3, weight .5
    value, table = ece([0.2, 0.4, 0.9, 0.7], [False, True, True, False], bins=2)
    assert value == pytest.approx(0.5 * 0.2 + 0.5 * 0.3)
    assert [b["n"] for b in table] == [2, 2]
    assert ece([1.0, 1.0], [True, True], bins=10)[0] == pytest.approx(0.0)


def test_bootstrap_is_seeded_and_brackets_the_estimate():
    t, p, classes = random_labels(200, seed=1)
    a = bootstrap_ci(wa, t, p, n=300, seed=5)
    b = bootstrap_ci(wa, t, p, n=300, seed=5)
    assert a == b and a[0] < wa(t, p) < a[1]
    assert a[1] - a[0] < 0.2


def _results(t, p):
    rows = []
    for i, (ti, pi) in enumerate(zip(t, p)):
        scores = np.full(9, 0.01)
        scores[LABEL_KEYS.index(pi)] = 0.5
        scores[LABEL_KEYS.index("neutral")] += 0.1
        scores /= scores.sum()
        rows.append({"id": str(i), "variant": "raw", "status": "ok", "emotion": ti, "pred": pi, "confidence": scores.max(),
                     "speaker": f"s{i % 2}", "gender": "", **{f"score_{k}": s for k, s in zip(LABEL_KEYS, scores)}})
    rows.append({"id": "x", "variant": "raw", "status": "ok", "emotion": "", "pred": "happy", "confidence": 0.5, "speaker": "s0", "gender": "",
                 **{f"score_{k}": 1 / 9 for k in LABEL_KEYS}})
    rows.append({"id": "y", "variant": "raw", "status": "failed", "emotion": "happy", "pred": None, "confidence": None, "speaker": "s0", "gender": "",
                 **{f"score_{k}": None for k in LABEL_KEYS}})
    return pd.DataFrame(rows)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_evaluate_counts_exclusions_and_breaks_down():
    t, p, classes = random_labels(120, seed=2)
    r = evaluate(_results(t, p), n_boot=100)
    assert r.n_scored == 120 and r.n_excluded_no_counterpart == 1 and r.n_failed == 1
    assert r.classes == ["angry", "happy", "neutral", "sad"]
    assert r.uar == pytest.approx(balanced_accuracy_score(t, p))
    assert "other" in r.confusion_cols and np.asarray(r.confusion).sum() == 120
    assert set(r.breakdowns["speaker"]) == {"s0", "s1"}
    assert sum(g["n"] for g in r.breakdowns["speaker"].values()) == 120


def test_restricted_argmax_never_predicts_outside_the_dataset_classes():
    t, p, classes = random_labels(120, seed=3)
    r = evaluate(_results(t, p), restrict=True, n_boot=50)
    assert r.confusion_cols == classes
    # 'other' predictions fall back to the best dataset class (neutral, by construction of the scores)
    assert r.wa >= evaluate(_results(t, p), n_boot=50).wa


def test_per_class_uar_f1_and_confusion_by_hand():
    t = ["a", "a", "a", "b", "b", "c"]
    p = ["a", "a", "b", "b", "c", "x"]
    pc = per_class(t, p, ["a", "b", "c", "d"])
    # a: tp 2, predicted 2, support 3 → P 1, R 2/3, F1 0.8
    assert pc["a"] == pytest.approx({"precision": 1.0, "recall": 2 / 3, "f1": 0.8, "support": 3})
    # b: tp 1, predicted 2, support 2 → P .5, R .5, F1 .5
    assert pc["b"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    # c: tp 0, predicted 1 → P 0, R 0, F1 0; d: never seen → recall undefined (NaN), F1 0
    assert pc["c"]["precision"] == 0.0 and pc["c"]["recall"] == 0.0 and pc["c"]["f1"] == 0.0
    assert np.isnan(pc["d"]["recall"]) and pc["d"]["support"] == 0 and pc["d"]["f1"] == 0.0
    # UAR and macro-F1 average over the classes that occur in the labels only (d is left out)
    assert uar(t, p, ["a", "b", "c", "d"]) == pytest.approx((2 / 3 + 0.5 + 0.0) / 3)
    assert macro_f1(t, p, ["a", "b", "c", "d"]) == pytest.approx((0.8 + 0.5 + 0.0) / 3)
    assert wa(t, p) == pytest.approx(3 / 6)
    # the 'x' prediction has no column: it is not counted; rows for d are all zero
    np.testing.assert_array_equal(confusion(t, p, ["a", "b", "c", "d"], ["a", "b", "c"]),
                                  [[2, 1, 0], [0, 1, 1], [0, 0, 0], [0, 0, 0]])
    assert headline(["a", "b", "c", "d"])(np.array(t), np.array(p)) == pytest.approx((wa(t, p), uar(t, p, "abcd"), macro_f1(t, p, "abcd")))


def test_empty_and_disjoint_inputs_have_defined_results():
    assert np.isnan(wa([], [])) and np.isnan(uar([], [], ["a"])) and np.isnan(macro_f1([], [], ["a"]))
    assert per_class([], [], ["a"])["a"]["support"] == 0
    np.testing.assert_array_equal(confusion([], [], ["a"], ["a", "b"]), [[0, 0]])
    np.testing.assert_array_equal(confusion(["z"], ["a"], ["a"], ["a"]), [[0]])
    assert ece([], [], bins=4) == (0.0, [{"lo": lo, "hi": lo + 0.25, "n": 0, "accuracy": pytest.approx(np.nan, nan_ok=True),
                                          "confidence": pytest.approx(np.nan, nan_ok=True)} for lo in (0.0, 0.25, 0.5, 0.75)])
    assert bootstrap_ci(wa, [], []) == (pytest.approx(np.nan, nan_ok=True),) * 2


def test_ece_keeps_empty_bins_and_counts_edges_into_the_lower_bin():
    # 4 bins of .25; conf .25 sits on an edge and belongs to the first bin (bins are closed on the right)
    value, table = ece([0.25, 0.1, 0.9, 0.95, 1.0], [True, False, True, True, False], bins=4)
    assert [b["n"] for b in table] == [2, 0, 0, 3]
    assert np.isnan(table[1]["accuracy"]) and np.isnan(table[2]["confidence"])
    assert table[0]["accuracy"] == pytest.approx(0.5) and table[0]["confidence"] == pytest.approx(0.175)
    assert table[3]["accuracy"] == pytest.approx(2 / 3) and table[3]["confidence"] == pytest.approx(0.95)
    # ECE = 2/5 · |.5 − .175| + 3/5 · |2/3 − .95|
    assert value == pytest.approx(0.4 * 0.325 + 0.6 * abs(2 / 3 - 0.95))
    # all wrong: accuracy 0 in every filled bin, gap = confidence
    assert ece([0.3, 0.7], [False, False], bins=2)[0] == pytest.approx(0.5 * 0.3 + 0.5 * 0.7)


def test_ece_interval_is_the_bootstrap_of_ece_itself():
    """The vectorised interval against bootstrap_ci over scikit-learn's binned ECE, resample by resample (same seed)."""
    rng = np.random.default_rng(2)
    conf = np.concatenate([rng.uniform(0.1, 1.0, 117), [0.2, 0.4, 1.0]])  # values on bin edges too
    correct = rng.random(len(conf)) < conf * 0.8
    idx = np.arange(len(conf))
    expected = bootstrap_ci(lambda a, _b: ece(conf[a], correct[a], bins=15)[0], idx, idx, n=150, seed=5)
    from workbench.analysis.stats import ece_interval

    assert ece_interval(conf, correct, bins=15, n=150, seed=5) == pytest.approx(expected, abs=1e-12)
    assert ece_interval(conf, correct, bins=15, n=150, seed=6) != pytest.approx(expected, abs=1e-12)


def test_the_ece_is_shown_with_its_interval_on_screen_and_in_json():
    t, p, classes = random_labels(120, seed=3)
    r = evaluate(_results(t, p), n_boot=60)
    lo, hi = r.ece_ci
    assert lo <= hi and lo == lo and r.to_dict()["ece_ci"] == (lo, hi)
    assert f"ECE      {r.ece:.3f}  [{lo:.3f}, {hi:.3f}]" in r.render()


def test_bootstrap_of_several_statistics_matches_one_at_a_time():
    t, p, classes = random_labels(150, seed=4)
    together = bootstrap_ci(headline(classes), t, p, n=200, seed=3)
    assert together[0] == bootstrap_ci(wa, t, p, n=200, seed=3)
    assert together[1] == pytest.approx(bootstrap_ci(lambda a, b: uar(a, b, classes), t, p, n=200, seed=3))
    assert together[2] == pytest.approx(bootstrap_ci(lambda a, b: macro_f1(a, b, classes), t, p, n=200, seed=3))


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("seed", [4, 5])
def test_headline_summary_is_evaluates_headline_without_sklearn(seed):
    # `workbench run` prints these after every run; they must be evaluate()'s numbers, point and interval
    from workbench.analysis.metrics import headline_summary

    t, p, classes = random_labels(90, seed=seed)
    results = _results(t, p)
    r = evaluate(results, n_boot=200, by=())
    h = headline_summary(results, variant="raw", n_boot=200)
    for name in ("wa", "uar", "macro_f1"):
        assert h[name] == pytest.approx(getattr(r, name)), name
        assert h["ci"][name] == pytest.approx(r.ci[name]), name
    assert headline_summary(results[results["status"] == "failed"], variant="raw")["wa"] is None


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_every_flag_the_screen_prints_is_in_the_json_too():
    """`workbench metrics` printed BELOW CHANCE, zero-width intervals and small classes with `!!`, but metrics.json and
    `--json` held only the bare numbers: a reader of the JSON saw WA 0.0 [0.0, 0.0] as a certain measurement."""
    import json

    from workbench.files import strict_json

    t = ["angry"] * 10 + ["happy"] * 10 + ["sad"] * 10 + ["neutral"] * 3
    r = evaluate(_results(t, ["disgusted"] * len(t)), n_boot=50)  # every item wrong: WA, UAR, F1 0 with no spread
    flags = json.loads(strict_json(r.to_dict()))["flags"]
    assert set(flags) == {"wa", "uar", "macro_f1", "wa_majority", "uar_chance", "small_classes", "never_predicted", "class_f1"}  # F1 0 every resample
    assert flags["uar_chance"].startswith("BELOW CHANCE") and "neutral" in flags["small_classes"]
    screen = r.render()
    assert all(note in screen for k, note in flags.items() if k not in ("uar_chance", "wa_majority"))  # the same words as on screen
    # the two baseline checks stand beside their baseline on screen, which they do not repeat (walk18)
    assert "— BELOW THE MAJORITY BASELINE, interval and all" in screen and flags["wa_majority"].startswith("BELOW THE MAJORITY BASELINE, interval and all: always answering")
    assert "— BELOW CHANCE, interval and all" in screen and flags["uar_chance"].endswith("(chance 0.250 over 4 classes)")
    good_t, good_p, _ = random_labels(120, seed=2)
    assert evaluate(_results(good_t, good_p), n_boot=50).to_dict()["flags"] == {}  # nothing to flag, nothing flagged


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_the_confusion_figure_gives_the_intervals_and_flags_and_its_title_fits():
    """The confusion figure's title said "raw: UAR 0.000, WA 0.000" for figures the screen flags BELOW CHANCE and
    zero-width, with no interval; the reliability figure gave the ECE without the interval the screen shows."""
    import matplotlib

    matplotlib.use("Agg")
    from workbench.analysis.metrics import plot_confusion, plot_reliability

    t = ["happy"] * 8 + ["sad"] * 8
    r = evaluate(_results(t, ["disgusted"] * len(t)), n_boot=50)
    fig = plot_confusion(r)
    title = fig.axes[0].get_title()
    assert "UAR 0.000 [0.000, 0.000], WA 0.000 [0.000, 0.000], n=16" in title.replace("\n", " ")
    assert ("!! WA, UAR, macro-F1: zero-width interval; WA: BELOW THE MAJORITY BASELINE, interval and all; UAR: BELOW CHANCE"
            in title.replace("\n", " "))
    fig.canvas.draw()
    box = fig.axes[0].title.get_window_extent()
    assert box.y1 <= fig.bbox.y1 and box.x0 >= 0 and box.x1 <= fig.bbox.x1  # wrapped and room made: nothing clipped
    lo, hi = r.ece_ci
    assert f"ECE {r.ece:.3f} [{lo:.3f}, {hi:.3f}] over 16 items" in plot_reliability(r).axes[0].get_title()


def test_a_speaker_with_a_line_break_or_an_escape_sequence_stays_in_its_breakdown_line():
    """Speakers are drawn as text, so a manifest may carry "s\\nforged" (a hostile corpus does): `metrics --by speaker`
    printed it as it was, and the guard on the terminal keeps line breaks, so "forged" began a line of its own."""
    rng = np.random.default_rng(3)
    rows = [{"id": f"i{n}", "variant": "raw", "status": "ok", "emotion": ["happy", "sad"][n % 2],
             "pred": ["happy", "sad"][(n // 3) % 2], "confidence": 0.9, "speaker": "s\nforged\x1b[2J" if n < 6 else "s2",
             **{f"score_{k}": float(x) for k, x in zip(LABEL_KEYS, rng.dirichlet(np.ones(9)))}} for n in range(24)]
    text = evaluate(pd.DataFrame(rows), n_boot=50, by=("speaker",)).render()
    assert not any(line.startswith("forged") for line in text.splitlines()), text
    assert "s\\nforged\\x1b[2J" in text and "\x1b" not in text, text


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_intervals_from_too_few_items_say_their_n_and_are_flagged():
    """`workbench metrics` of a 2-item run printed "ECE 0.211 [0.208, 0.215]" with no n and no flag: an interval
    from under MIN_ITEMS (20, a breakdown group's minimum) items is flagged on screen, in the JSON and in the report."""
    from workbench.analysis.groups import MIN_ITEMS, few_items_note

    few = evaluate(_results(["angry", "happy", "happy"], ["angry", "happy", "sad"]), n_boot=50)
    screen = few.render()
    assert f"ECE      {few.ece:.3f}  [{few.ece_ci[0]:.3f}, {few.ece_ci[1]:.3f}]  n=3" in screen, screen
    note = f"intervals from only 3 item(s) (< {MIN_ITEMS}, the minimum a breakdown group needs)"
    assert few_items_note(3).startswith(note) and f"!! {few_items_note(3)}" in screen
    assert few.to_dict()["flags"]["few_items"] == few_items_note(3)
    t, p, _ = random_labels(MIN_ITEMS, seed=1)
    enough = evaluate(_results(t, p), n_boot=50)
    assert "few_items" not in enough.to_dict()["flags"]


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_the_reliability_figure_carries_the_few_items_flag_like_the_ece_line():
    """The screen flags the ECE interval of a 3-item run and the confusion figure's title carries the flag; the
    reliability figure's title gave "ECE 0.211 [0.208, 0.215] over 3 items" with no flag."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from workbench.analysis.groups import MIN_ITEMS
    from workbench.analysis.metrics import plot_reliability

    few = evaluate(_results(["angry", "happy", "happy"], ["angry", "happy", "sad"]), n_boot=50)
    fig = plot_reliability(few)
    title = fig.axes[0].get_title().replace("\n", " ")
    assert f"ECE {few.ece:.3f} [{few.ece_ci[0]:.3f}, {few.ece_ci[1]:.3f}] over 3 items" in title
    assert f"!! intervals from only 3 item(s) (< {MIN_ITEMS}," in title and fig.axes[0].title.get_color() == "crimson"
    fig.canvas.draw()
    box = fig.axes[0].title.get_window_extent()
    assert box.y1 <= fig.bbox.y1 and box.x0 >= 0 and box.x1 <= fig.bbox.x1  # wrapped and room made: nothing clipped
    plt.close(fig)
    t, p, _ = random_labels(MIN_ITEMS, seed=1)
    fig = plot_reliability(evaluate(_results(t, p), n_boot=50))
    assert "!!" not in fig.axes[0].get_title()
    plt.close(fig)


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_per_class_shares_carry_exact_intervals_and_a_never_predicted_class_has_no_precision(tmp_path, capsys, monkeypatch):
    """metrics printed 'angry  0.000 0.000 0.000  8' for a class the model never predicted: precision 0/0 shown as a
    measured 0, and every per-class share without its denominator or interval (recall 6/8 = 0.750 reaches 0.35 by an
    exact interval).  Now each share has its fraction and Clopper–Pearson interval, and 0/0 is '—' and flagged on the
    screen, in metrics.json (--json too) and on the report's page."""
    import json

    from scipy.stats import binomtest
    from test_probe import synthetic_row, write_run

    from workbench.cli import main
    from workbench.views import reporting

    truth = ["angry"] * 8 + ["happy"] * 8 + ["sad"] * 8
    preds = ["happy"] * 8 + ["happy"] * 6 + ["sad"] * 2 + ["sad"] * 8  # angry is never predicted
    rows = [synthetic_row(f"i{k}", emotion=t, pred=p, speaker=f"s{k % 3}") for k, (t, p) in enumerate(zip(truth, preds))]
    rf = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * len(rows))
    r = evaluate(rf.results(), n_boot=20)
    angry, happy = r.per_class["angry"], r.per_class["happy"]
    assert angry["predicted"] == 0 and np.isnan(angry["precision"]) and angry["recall"] == 0.0
    assert (happy["hits"], happy["predicted"], happy["support"]) == (6, 14, 8) and happy["precision"] == pytest.approx(6 / 14)
    exact = binomtest(6, 8).proportion_ci(method="exact")
    assert happy["recall_ci"] == pytest.approx((exact.low, exact.high)) and happy["recall_ci"][0] < 0.4
    screen = r.render()
    assert "— (0/0)" in screen and "0.429 [" in screen and "6/14" in screen and "0.750 [" in screen and "6/8" in screen
    note = "1 class(es) never predicted (angry): their precision is 0/0, undefined (shown as —, not 0)"
    assert f"!! {note}" in screen
    assert main(["metrics", str(rf.path), "--no-figures", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    doc = doc["variants"]["raw"]
    assert note in doc["flags"]["never_predicted"] and doc["per_class"]["angry"]["precision"] is None
    assert doc["per_class"]["happy"]["recall_ci"] == pytest.approx(list(happy["recall_ci"]))
    shown = []
    monkeypatch.setattr(reporting, "show_html", shown.append)
    monkeypatch.setattr(reporting, "show_figure", lambda fig, **_: None)
    out = reporting.metrics_section(rf.path, by=[], n_boot=20)
    page = "".join(map(str, shown))
    assert note in out["raw"]["never_predicted"] and f"⚠ {note}" in page
    assert "<td>— (0/0)</td>" in page and f"0.750 [{exact.low:.3f}, {exact.high:.3f}] 6/8" in page


def test_per_class_f1_carries_the_macro_f1_bootstrap_interval_everywhere(tmp_path, capsys, monkeypatch):
    """metrics printed each class's F1 as a bare number (`0.600`) beside precision and recall with exact intervals, in
    the screen's table, metrics.json and the report's table.  Now F1 has its percentile bootstrap interval from macro-F1's
    resamples (same seed; equal to scikit-learn's per-class F1 resampled by bootstrap_ci), and intervals from fewer than
    20 items, or of no width, are flagged wherever the table is.  (No speakers: with them the intervals resample speakers.)"""
    import json

    from markupsafe import escape
    from sklearn.metrics import f1_score
    from test_probe import synthetic_row, write_run

    from workbench.cli import main
    from workbench.views import reporting

    truth = ["angry"] * 6 + ["happy"] * 6 + ["sad"] * 4
    preds = ["angry"] * 4 + ["happy"] * 2 + ["happy"] * 5 + ["sad"] + ["happy"] * 4  # sad: 0 hits, predicted once
    rows = [synthetic_row(f"i{k}", emotion=t, pred=p, speaker="") for k, (t, p) in enumerate(zip(truth, preds))]
    rf = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * len(rows))
    r = evaluate(rf.results(), n_boot=200, seed=3, by=())
    classes = r.classes
    f1s = lambda t, p: [f1_score(t, p, labels=[c], average="macro", zero_division=0) if ((t == c) | (p == c)).any() else np.nan
                        for c in classes]  # noqa: E731
    oracle = bootstrap_ci(f1s, np.array(truth), np.array(preds), n=200, seed=3)
    for c, bounds in zip(classes, oracle):
        assert r.per_class[c]["f1_ci"] == pytest.approx(bounds), c
    happy = r.per_class["happy"]
    assert happy["f1_ci"][0] < happy["f1"] < happy["f1_ci"][1]
    shown_f1 = f"{happy['f1']:.3f} [{happy['f1_ci'][0]:.3f}, {happy['f1_ci'][1]:.3f}]"
    screen = r.render()
    assert "F1 [95% bootstrap CI over items]" in screen and shown_f1 in screen
    assert "!! per-class F1: zero-width interval (F1 of sad) from 16 item(s)" in screen and "intervals from only 16 item(s)" in screen
    assert main(["metrics", str(rf.path), "--no-figures", "--json", "--by", "speaker"]) == 0
    doc = json.loads(capsys.readouterr().out)["variants"]["raw"]
    assert doc["per_class"]["happy"]["f1_ci"] and doc["flags"]["class_f1"].startswith("zero-width interval (F1 of sad)")
    shown = []
    monkeypatch.setattr(reporting, "show_html", shown.append)
    monkeypatch.setattr(reporting, "show_figure", lambda fig, **_: None)
    out = reporting.metrics_section(rf.path, by=[], n_boot=200)
    page = "".join(map(str, shown))
    assert "F1 [95% bootstrap CI, items]" in page and f"⚠ per-class F1: {escape(out['raw']['class_f1'])}" in page
