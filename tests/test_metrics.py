"""Metrics against scikit-learn and hand-computed cases."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from workbench.labels import LABEL_KEYS
from workbench.metrics import bootstrap_ci, confusion, ece, evaluate, macro_f1, per_class, uar, wa


def random_labels(n=300, seed=0):
    rng = np.random.default_rng(seed)
    classes = ["angry", "happy", "neutral", "sad"]
    t = rng.choice(classes, n, p=[0.1, 0.2, 0.5, 0.2])
    p = np.where(rng.random(n) < 0.6, t, rng.choice(classes + ["other"], n))
    return t, p, classes


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
