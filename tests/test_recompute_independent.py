"""Figures recomputed by an independent implementation (scikit-learn, SciPy, plain numpy from the definitions), on
corpus-like data with a label set that is not the nine classes: where the package's own figure is made another way,
the two must agree.  Found by recompute16 (an outside reviewer's "most figures are exact": these were not)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest, norm, t as student_t

from workbench.analysis.finetune.evaluate import per_class_scores


def _speaker_bootstrap(t: np.ndarray, p: np.ndarray, spk: np.ndarray, cls: str, *, b: int = 4000, seed: int = 1):
    """Recall and precision of ``cls`` over ``b`` resamples of the speakers (every clip of a drawn speaker), and the
    t-corrected percentile level for G speakers (Hesterberg's expanded percentile, as README states it)."""
    ids = np.unique(spk)
    g = len(ids)
    rng = np.random.default_rng(seed)
    rec, prec = [], []
    for _ in range(b):
        idx = np.concatenate([np.flatnonzero(spk == s) for s in rng.choice(ids, g)])
        tt, pp = t[idx], p[idx]
        hits = np.sum((tt == cls) & (pp == cls))
        rec.append(hits / np.sum(tt == cls) if np.sum(tt == cls) else np.nan)
        prec.append(hits / np.sum(pp == cls) if np.sum(pp == cls) else np.nan)
    level = 2 * norm.cdf(np.sqrt(g / (g - 1)) * student_t.ppf(0.975, g - 1)) - 1
    q = [(1 - level) / 2, (1 + level) / 2]
    return np.nanquantile(rec, q), np.nanquantile(prec, q)


def _clustered_calm_tense():
    """12 speakers of a two-class corpus (calm, tense): each speaker's calm clips are all right or mostly wrong (a
    strong speaker effect), tense clips right but for some of speaker 0's."""
    t, p, spk = [], [], []
    for s in range(12):
        right = 6 if s % 2 == 0 else 1
        t += ["calm"] * 6 + ["tense"] * 6
        p += ["calm"] * right + ["tense"] * (6 - right) + (["calm", "calm"] if s == 0 else ["tense", "tense"]) + ["tense"] * 4
        spk += [f"s{s:02d}"] * 12
    return np.array(t), np.array(p, dtype=object), np.array(spk)


def test_finetune_class_intervals_resample_the_speakers_their_header_names():
    """finetune's per-class table is headed "95% CI, 14 speakers, t-corrected" (the unit of its F1 column); its precision
    and recall intervals were the exact binomial ones over clips (calm recall 42/72: [0.46, 0.70]) while `metrics` gave the
    speaker bootstrap for the same predictions ([0.31, 0.86] here).  Recomputed by a plain cluster bootstrap."""
    t, p, spk = _clustered_calm_tense()
    table, _ = per_class_scores(t, {"finetuned": p}, ["calm", "tense"], n_boot=2000, seed=0, speakers=spk)
    rec_ci, prec_ci = _speaker_bootstrap(t, p.astype(str), spk, "calm")
    got_rec, got_prec = table["calm"]["recall_finetuned_ci"], table["calm"]["precision_finetuned_ci"]
    assert got_rec == pytest.approx(list(rec_ci), abs=0.04)
    assert got_prec == pytest.approx(list(prec_ci), abs=0.04)
    exact = binomtest(42, 72).proportion_ci(method="exact")
    assert got_rec[1] - got_rec[0] > 1.5 * (exact.high - exact.low)  # the clip interval is far too narrow here
    # the point figures and counts are scikit-learn's
    from sklearn.metrics import precision_recall_fscore_support

    pr, rc, f1, sup = precision_recall_fscore_support(t, p.astype(str), labels=["calm", "tense"], zero_division=0)
    assert table["calm"]["recall_finetuned"] == pytest.approx(rc[0]) and table["calm"]["hits_finetuned"] == 42
    assert table["tense"]["precision_finetuned"] == pytest.approx(pr[1]) and table["tense"]["f1_finetuned"] == pytest.approx(f1[1])


def test_finetune_class_intervals_without_speakers_stay_exact():
    """Without speakers (or under 5) the intervals are Clopper-Pearson over clips, as metrics gives them."""
    t, p, _ = _clustered_calm_tense()
    table, _ = per_class_scores(t, {"finetuned": p}, ["calm", "tense"], n_boot=50, seed=0, speakers=None)
    exact = binomtest(42, 72).proportion_ci(method="exact")
    assert table["calm"]["recall_finetuned_ci"] == pytest.approx([exact.low, exact.high])
    few, _ = per_class_scores(t[:36], {"finetuned": p[:36]}, ["calm", "tense"], n_boot=50, seed=0, speakers=np.repeat(["a", "b", "c"], 12))
    exact = binomtest(13, 18).proportion_ci(method="exact")
    assert few["calm"]["recall_finetuned_ci"] == pytest.approx([exact.low, exact.high])


def _head_run(seed: int = 0):
    """A run of a three-class head (calm, tense, sad: not the nine) as results.parquet holds it: 10 speakers x 12 clips
    scored, 6 clips whose corpus label has no counterpart among the head's classes (bored, emotion empty), 3 failed."""
    import pandas as pd
    from scipy.special import softmax

    rng = np.random.default_rng(seed)
    classes = ["calm", "tense", "sad"]
    n = 120
    y = rng.integers(0, 3, n)
    z = rng.normal(0, 1, (n, 3)) + 2.5 * np.eye(3)[y]
    scores = softmax(z * 2.0, axis=1)  # over-confident: T near 2
    df = pd.DataFrame({f"score_{c}": scores[:, i] for i, c in enumerate(classes)})
    df["id"], df["variant"], df["status"] = [f"u{i}" for i in range(n)], "raw", "ok"
    df["label"] = df["emotion"] = np.asarray(classes)[y]
    df["speaker"] = [f"s{i // 12:02d}" for i in range(n)]
    df["pred"], df["confidence"] = np.asarray(classes)[scores.argmax(1)], scores.max(1)
    bored = df.iloc[:6].copy().assign(id=[f"b{i}" for i in range(6)], label="bored", emotion="")
    failed = df.iloc[:3].copy().assign(id=[f"f{i}" for i in range(3)], status="failed")
    for c in classes:
        failed[f"score_{c}"] = np.nan
    return pd.concat([df, bored, failed], ignore_index=True), scores, y


def test_calibrate_says_what_its_item_count_leaves_out_and_its_figures_are_sklearn_and_scipy():
    """`calibrate` printed "112 items" of a variant of 128 rows and said nothing of the 14 whose label has no
    counterpart among the model's classes nor of the 2 that failed (`metrics` names both): the count now says so.
    Its temperature, Brier and NLL before calibration are recomputed with scipy.optimize on T and scikit-learn."""
    from scipy.optimize import minimize_scalar
    from sklearn.metrics import brier_score_loss, log_loss

    from workbench.analysis.calibration import calibrate

    df, scores, y = _head_run()
    rep = calibrate(df, n_boot=20, folds=5)
    assert rep.classes == ["calm", "tense", "sad"] and rep.n == 120
    said = [n for n in rep.notes if "left out" in n]
    assert said == ["120 of the variant's 129 rows calibrated; left out: 6 with a label without a counterpart among the "
                    "model's classes (bored 6); 3 failed"]
    assert said[0] in rep.render()
    t = minimize_scalar(lambda t: log_loss(y, np.exp(np.log(scores) / t) / np.exp(np.log(scores) / t).sum(1, keepdims=True),
                                           labels=[0, 1, 2]), bounds=(0.05, 100), method="bounded", options={"xatol": 1e-9}).x
    assert rep.temperature == pytest.approx(t, rel=1e-4)
    assert rep.before["nll"] == pytest.approx(log_loss(y, scores, labels=[0, 1, 2]))
    assert rep.before["brier"] == pytest.approx(brier_score_loss(y, scores, labels=[0, 1, 2]))
    clean, _, _ = _head_run()
    clean = clean[(clean["status"] == "ok") & (clean["emotion"] != "")]
    assert not [n for n in calibrate(clean, n_boot=20, folds=5).notes if "left out" in n]  # nothing left out: no note


def test_listeners_count_judged_items_that_failed_to_score():
    """128 judged items, 2 of them failed to score: `listeners` said "126 items with listener judgements (0 without)" and
    no more.  The failed ones are now counted in a note; the figures stay over the scored ones (recounted here)."""
    import pandas as pd

    from workbench.analysis.listeners import evaluate_listeners
    from workbench.data.votes import record_from_counts

    classes = ["calm", "tense"]
    rng = np.random.default_rng(3)
    rows = []
    for i in range(24):
        truth = classes[i % 2]
        p_calm = float(rng.uniform(0.2, 0.9))
        rows.append({"id": f"u{i}", "variant": "raw", "status": "failed" if i < 2 else "ok", "emotion": truth, "label": truth,
                     "speaker": f"s{i // 4}", "score_calm": np.nan if i < 2 else p_calm, "score_tense": np.nan if i < 2 else 1 - p_calm,
                     "pred": "" if i < 2 else ("calm" if p_calm > 0.5 else "tense"), "confidence": max(p_calm, 1 - p_calm),
                     "meta": record_from_counts({truth: 3, classes[1 - i % 2]: 1 + i % 3}, classes=classes)})
    rep = evaluate_listeners(pd.DataFrame(rows), n_boot=0)
    assert rep.n_items == 22 and "2 items with listener judgements failed to score and are left out of every figure" in rep.notes
    assert "failed to score" in rep.render()
    ok = pd.DataFrame(rows[2:])
    agreement = np.array([r["agreement"] for r in ok["meta"]])
    assert sum(b["n"] for b in rep.bands) == 22 and rep.bands[-1]["n"] == int((agreement >= 0.75).sum())


def test_risk_coverage_of_tied_confidences_is_the_mean_over_their_orders_not_the_files_order():
    """A saturated model gives many items the same confidence (float32 scores of exactly 1.0).  The risk–coverage curve
    broke ties by row order, so AURC and 'accuracy answering the most confident 50 %' changed when the same rows came
    in another order (100 items at confidence 1.0, 30 wrong: AURC 0.658 with the errors listed first, 0.052 last;
    0.300, the error rate, now).  Recomputed by brute force: every order of the tie."""
    from itertools import permutations

    from workbench.analysis.calibration_measures import accuracy_at_coverage, risk_coverage

    conf = np.array([0.9, 0.6, 0.6, 0.6, 0.6, 0.6, 0.55])
    wrong = np.array([0, 1, 0, 1, 0, 0, 1], dtype=bool)
    y = np.zeros(7, dtype=int)
    probs = np.stack([np.where(wrong, 1 - conf, conf), np.where(wrong, conf, 1 - conf)], axis=1)  # argmax 1 = wrong
    tie = [1, 2, 3, 4, 5]
    curves = []
    for perm in permutations(tie):  # the independent definition: the mean curve over the orders of the tied items
        w = wrong[[0, *perm, 6]].astype(float)
        curves.append(np.cumsum(w) / np.arange(1, 8))
    expected = np.mean(curves, axis=0)
    cov, risk, aurc = risk_coverage(probs, y)
    assert risk == pytest.approx(expected) and aurc == pytest.approx(expected.mean())
    assert accuracy_at_coverage(cov, risk, 0.5) == pytest.approx(1 - expected[3])
    rng = np.random.default_rng(0)
    for _ in range(5):  # the rows' order no longer matters
        p = rng.permutation(7)
        assert risk_coverage(probs[p], y[p])[2] == pytest.approx(aurc)
    # without ties, the plain curve (scikit-learn-free by hand: errors of the k most confident over k)
    distinct = probs + np.linspace(0, 1e-3, 7)[:, None] * [1, 0]
    order = np.argsort(-distinct.max(1), kind="stable")
    assert risk_coverage(distinct, y)[1] == pytest.approx(np.cumsum((distinct.argmax(1) != y)[order]) / np.arange(1, 8))
    saturated = np.tile([[1.0, 0.0]], (100, 1))
    truth = np.r_[np.ones(30, dtype=int), np.zeros(70, dtype=int)]
    assert risk_coverage(saturated, truth)[2] == pytest.approx(0.3) == risk_coverage(saturated[::-1], truth[::-1])[2]


@pytest.mark.parametrize("m, alpha", [(48, 0.1), (19, 0.2), (60, 0.05)])
def test_lac_sets_and_their_guarantee_match_a_plain_split_conformal_implementation(m, alpha):
    """MAPIE's LAC sets (through conformal_sets) against split conformal written from its definition (Angelopoulos &
    Bates 2021): score 1 − p_true on the calibration items, threshold the ceil((m + 1)(1 − alpha))-th smallest, a class is
    in the set when 1 − p_k is at most it; the guarantee's expected coverage is that rank over m + 1 (Vovk 2012), the
    held-out-size-weighted mean over folds.  (calibrate's coverage on the demo-like corpus matched this to the item.)"""
    from scipy.special import softmax

    from workbench.analysis.calibration_measures import conformal_guarantee, conformal_sets

    rng = np.random.default_rng(m)
    k = 5  # a head's five classes, not the nine
    cal_y, test_y = rng.integers(0, k, m), rng.integers(0, k, 200)
    cal = softmax(rng.normal(0, 1, (m, k)) + 1.5 * np.eye(k)[cal_y], axis=1)
    test = softmax(rng.normal(0, 1, (200, k)) + 1.5 * np.eye(k)[test_y], axis=1)
    rank = int(np.ceil((m + 1) * (1 - alpha)))
    q = np.sort(1 - cal[np.arange(m), cal_y])[rank - 1]
    assert np.array_equal(conformal_sets(cal, cal_y, test, alpha=alpha, score="lac"), (1 - test) <= q + 1e-12)
    folds = [(m, 30), (m + 7, 20)]
    expected = sum(n * min(np.ceil(round((mm + 1) * (1 - alpha), 9)), mm + 1) / (mm + 1) for mm, n in folds) / 50
    assert conformal_guarantee(folds, alpha)["expected"] == pytest.approx(expected)


def test_clustered_mcnemar_is_durkalskis_statistic_recomputed_per_speaker():
    """compare's clustered McNemar (b − c)² / Σ_k (b_k − c_k)² over speakers, against χ²(1), recomputed with pandas."""
    import pandas as pd
    from scipy.stats import chi2

    from workbench.analysis.stats import clustered_mcnemar

    rng = np.random.default_rng(7)
    spk = np.repeat([f"s{i}" for i in range(9)], 8)
    right_a, right_b = rng.random(72) < 0.7, rng.random(72) < 0.55
    got = clustered_mcnemar(right_a, right_b, spk)
    per = pd.DataFrame({"b": right_a & ~right_b, "c": ~right_a & right_b, "spk": spk}).groupby("spk").sum()
    x2 = (per.b.sum() - per.c.sum()) ** 2 / ((per.b - per.c) ** 2).sum()
    assert (got["b"], got["c"]) == (per.b.sum(), per.c.sum()) and got["statistic"] == pytest.approx(x2)
    assert got["p"] == pytest.approx(chi2.sf(x2, 1)) and got["discordant_clusters"] == int(((per.b + per.c) > 0).sum())
