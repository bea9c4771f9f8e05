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
    speaker bootstrap for the same predictions ([0.37, 0.80] here).  Recomputed by a plain cluster bootstrap."""
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
