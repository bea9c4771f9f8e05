"""Flip counts and paired counts count the same items (issue #22, item 7)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_probe import write_run

from workbench.analysis.compare import cohen_kappa, compare_results, compare_runs
from workbench.labels import LABEL_KEYS


def _rows(variant, preds, emotions):
    rows = []
    for i, (p, e) in enumerate(zip(preds, emotions)):
        s = np.full(9, 0.01)
        s[LABEL_KEYS.index(p)] = 0.92
        rows.append({"id": f"i{i}", "variant": variant, "status": "ok", "emotion": e, "pred": p, "confidence": 0.92,
                     "path": f"i{i}.wav", **{f"score_{k}": float(x) for k, x in zip(LABEL_KEYS, s)}})
    return rows


def test_flips_are_counted_over_the_paired_items_only():
    # 4 labelled items (1 flips) and 3 unlabelled items (all 3 flip): today's code said "4 paired items … 4 label flips"
    emotions = ["angry", "sad", "angry", "sad", "", "", ""]
    raw = ["angry", "sad", "angry", "sad", "happy", "happy", "happy"]
    loud = ["angry", "sad", "sad", "sad", "neutral", "neutral", "neutral"]
    df = pd.DataFrame(_rows("raw", raw, emotions) + _rows("loud", loud, emotions))
    _, (c,), flips = compare_results(df, baseline="raw", n_boot=50)
    assert c.n_paired == 4
    assert c.n_flips == 1  # the flips of the paired items
    assert (c.n_unlabelled, c.n_flips_unlabelled) == (3, 3)
    assert c.mcnemar_b == 1 and c.mcnemar_c == 0
    text = c.render()
    assert "4 paired items" in text and "1 label flip among them" in text and "+3 among 3 unlabelled items" in text
    # the flips table still lists every changed prediction, the unlabelled ones with an empty emotion
    assert len(flips) == 4 and (flips["emotion"] == "").sum() == 3


def _restricted_rows(variant, top_scores, emotions):
    """Rows whose unrestricted top label is always neutral (not a corpus class); their corpus-class scores vary."""
    rows = []
    for i, (s, e) in enumerate(zip(top_scores, emotions)):
        scores = {k: 0.0 for k in LABEL_KEYS}
        scores.update(s)
        scores["neutral"] = 1.0 - sum(s.values())
        rows.append({"id": f"i{i}", "variant": variant, "status": "ok", "emotion": e, "pred": "neutral", "confidence": scores["neutral"],
                     "path": f"i{i}.wav", **{f"score_{k}": float(x) for k, x in scores.items()}})
    return rows


def _two_restricted_tables(n=40, seed=3):
    rng = np.random.default_rng(seed)
    corpus = ["angry", "sad", "happy"]
    emotions = [corpus[k] for k in rng.integers(0, 3, n)]
    def draw():
        return [dict(zip(corpus, rng.uniform(0.01, 0.15, 3))) for _ in range(n)]
    return corpus, emotions, draw(), draw()


def _oracle_restricted(scores, corpus):
    return np.array([max(corpus, key=lambda c: s[c]) for s in scores])


def test_restricted_compare_counts_flips_on_the_restricted_labels():
    # with --restrict the accuracy used the corpus-class argmax but the flips the unrestricted labels: "McNemar b=7 c=3,
    # 0 label flips among them"
    corpus, emotions, s_raw, s_tel = _two_restricted_tables()
    df = pd.DataFrame(_restricted_rows("raw", s_raw, emotions) + _restricted_rows("tel", s_tel, emotions))
    _, (c,), flips = compare_results(df, baseline="raw", n_boot=50, restrict=True)
    oracle_raw, oracle_tel = _oracle_restricted(s_raw, corpus), _oracle_restricted(s_tel, corpus)
    truth = np.array(emotions)
    assert (c.mcnemar_b, c.mcnemar_c) == (int(np.sum((oracle_raw == truth) & (oracle_tel != truth))),
                                          int(np.sum((oracle_raw != truth) & (oracle_tel == truth))))
    assert c.n_flips >= c.mcnemar_b + c.mcnemar_c > 0  # a discordant pair is a flip
    assert c.n_flips == int(np.sum(oracle_raw != oracle_tel)) == len(flips)
    assert set(flips["pred_baseline"]) | set(flips["pred_variant"]) <= set(corpus)
    assert f"{c.n_flips} label flips among them" in c.render() and "restricted" in c.render()
    # unrestricted, both variants always say neutral: no flip, and no discordant pair either
    _, (u,), _ = compare_results(df, baseline="raw", n_boot=50)
    assert u.n_flips == u.mcnemar_b == u.mcnemar_c == 0


def test_restricted_runs_comparison_counts_agreement_on_the_restricted_labels(tmp_path):
    # between runs: "McNemar b=1 c=4 yet top-1 agreement 1.000 (0 label flips)"
    corpus, emotions, s_a, s_b = _two_restricted_tables(seed=5)
    rows_a, rows_b = _restricted_rows("raw", s_a, emotions), _restricted_rows("raw", s_b, emotions)
    for r in rows_a + rows_b:
        r.update({"label": r["emotion"], "text": "", "speaker": "", "gender": "", "split": "", "start": None, "duration": None,
                  "meta": "{}", "chain_hash": "c0", "error": "", "source_sha256": f"sha-{r['id']}", "finding_codes": ""})
    a = write_run(tmp_path / "A", rows_a, [np.ones(4)] * len(rows_a), checksum="a" * 64)
    b = write_run(tmp_path / "B", rows_b, [np.ones(4)] * len(rows_b), checksum="a" * 64, dtype="int8")
    cmp = compare_runs([a, b], n_boot=50, restrict=True)
    (c,), (ag,) = cmp.comparisons, cmp.agreement.to_dict(orient="records")
    la, lb = _oracle_restricted(s_a, corpus), _oracle_restricted(s_b, corpus)
    assert ag["n_label_flips"] >= c.mcnemar_b + c.mcnemar_c > 0
    assert ag["n_label_flips"] == c.n_flips == len(cmp.flips) == int(np.sum(la != lb))
    assert ag["top1_agreement"] == pytest.approx(np.mean(la == lb))
    assert ag["kappa"] == pytest.approx(cohen_kappa(la, lb))
    assert int(cmp.items["label_flip"].sum()) == ag["n_label_flips"]
    assert f"({ag['n_label_flips']} label flips)" in cmp.render()
