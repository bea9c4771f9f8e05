"""Calibration against known truth: a planted temperature, perfectly calibrated and over-confident scores,
conformal coverage on items the calibration never saw."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.analysis.calibration import (
    apply_temperature,
    calibrate,
    calibration_errors,
    conformal_sets,
    fit_temperature,
    risk_coverage,
    softmax,
)
from workbench.errors import ConfigError
from workbench.labels import LABEL_KEYS


def planted(n: int, k: int, t_true: float, seed: int, spread: float = 3.0):
    """Logits ``z`` and labels drawn from ``softmax(z / t_true)``: the true temperature is ``t_true``."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, spread, size=(n, k))
    p = softmax(z / t_true)
    y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    return z, np.minimum(y, k - 1)


@pytest.mark.parametrize("t_true", [0.7, 1.0, 2.5])
def test_the_fit_recovers_a_planted_temperature_within_5_percent(t_true):
    # 5000 items over 5 classes: the fit's relative sd is 1.6-2.1 % over seeds 0-19 (largest miss 6 % at T=0.7),
    # so 5 % is about 2.5 sd; the seeds below are fixed
    z, y = planted(5000, 5, t_true, seed=int(t_true * 10))
    t = fit_temperature(z, y)
    assert abs(t - t_true) / t_true < 0.05, t


def test_the_fit_is_invariant_to_a_per_item_shift_of_the_logits():
    # runs store probabilities: log p = z - logsumexp(z) must give the same temperature as z itself
    z, y = planted(3000, 4, 1.8, seed=3)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    assert fit_temperature(logp, y) == pytest.approx(fit_temperature(z, y), rel=1e-5)


def test_apply_temperature_divides_and_refuses_nonsense():
    z = np.array([[2.0, -np.inf, 0.0]])
    out = apply_temperature(z, 2.0)
    assert out[0, 0] == 1.0 and np.isneginf(out[0, 1])
    assert apply_temperature(z, None) is z
    for bad in (0, -1, float("nan"), "warm"):
        with pytest.raises(ConfigError):
            apply_temperature(z, bad)


def _ece_by_hand(probs, y, bins=15):
    conf, correct = probs.max(1), probs.argmax(1) == y
    edges = np.linspace(0, 1, bins + 1)
    total, gaps = 0.0, []
    for b in range(bins):
        lo, hi = edges[b], edges[b + 1]
        m = (conf > lo) & (conf <= hi) if b else (conf >= lo) & (conf <= hi)
        if m.any():
            gap = abs(correct[m].mean() - conf[m].mean())
            total += m.mean() * gap
            gaps.append(gap)
    return total, max(gaps)


def test_ece_is_near_zero_when_calibrated_and_large_when_overconfident():
    z, y = planted(20000, 4, 1.0, seed=1)
    calibrated = calibration_errors(softmax(z), y)
    overconfident = calibration_errors(softmax(z * 3), y)
    assert calibrated["ece"] < 0.015
    assert overconfident["ece"] > 0.1
    assert overconfident["nll"] > calibrated["nll"] and overconfident["brier"] > calibrated["brier"]
    for probs in (softmax(z), softmax(z * 3)):
        e, m = _ece_by_hand(probs, y)
        got = calibration_errors(probs, y)
        assert got["ece"] == pytest.approx(e, abs=1e-12) and got["mce"] == pytest.approx(m, abs=1e-12)


def test_brier_and_nll_of_a_small_known_case():
    probs = np.array([[0.5, 0.5], [0.9, 0.1]])
    y = np.array([0, 1])
    got = calibration_errors(probs, y)
    assert got["brier"] == pytest.approx(((0.25 + 0.25) + (0.81 + 0.81)) / 2)
    assert got["nll"] == pytest.approx(-(np.log(0.5) + np.log(0.1)) / 2)


def test_risk_coverage_abstains_on_the_least_confident_first():
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.8, 0.2], [0.55, 0.45]])
    y = np.array([1, 0, 0, 1])  # the most confident item is wrong
    cov, risk, aurc = risk_coverage(probs, y)
    assert cov.tolist() == [0.25, 0.5, 0.75, 1.0]
    assert risk.tolist() == pytest.approx([1.0, 0.5, 1 / 3, 0.5])
    assert aurc == pytest.approx(np.mean([1.0, 0.5, 1 / 3, 0.5]))


@pytest.mark.parametrize("score", ["lac", "aps"])
def test_conformal_coverage_on_held_out_items_is_within_003_of_the_target(score):
    alpha = 0.1
    z, y = planted(60000, 6, 1.0, seed=7, spread=2.0)
    probs = softmax(z * 1.5)  # over-confident scores: coverage must come from the conformal step, not the model
    rng = np.random.default_rng(0)
    coverages = []
    for _ in range(10):
        order = rng.permutation(len(y))[:6000]
        cal, test = order[:3000], order[3000:]
        sets = conformal_sets(probs[cal], y[cal], probs[test], alpha=alpha, score=score)
        coverages.append(sets[np.arange(len(test)), y[test]].mean())
    assert max(abs(c - (1 - alpha)) for c in coverages) < 0.03, coverages


def test_conformal_sets_refuse_an_unknown_score():
    with pytest.raises(ConfigError, match="lac"):
        conformal_sets(np.eye(2), np.array([0, 1]), np.eye(2), score="raps?")


def planted_run(n_speakers=12, per_speaker=250, t_true=2.0, seed=0, classes=("angry", "happy", "neutral", "sad")):
    """A results table as a run stores it: nine scores per row, labels from softmax(z / t_true) over the corpus classes."""
    rng = np.random.default_rng(seed)
    n = n_speakers * per_speaker
    z_corpus, y = planted(n, len(classes), t_true, seed=seed)
    z = np.full((n, len(LABEL_KEYS)), -4.0) + rng.normal(0, 0.5, size=(n, len(LABEL_KEYS)))
    for j, c in enumerate(classes):
        z[:, LABEL_KEYS.index(c)] = z_corpus[:, j]
    scores = softmax(z)
    df = pd.DataFrame({f"score_{c}": scores[:, i] for i, c in enumerate(LABEL_KEYS)})
    df["id"] = [f"u{i}" for i in range(n)]
    df["variant"] = "raw"
    df["status"] = "ok"
    df["emotion"] = np.asarray(classes)[y]
    df["speaker"] = [f"s{i // per_speaker:02d}" for i in range(n)]
    df["pred"] = np.asarray(LABEL_KEYS)[scores.argmax(1)]
    df["confidence"] = scores.max(1)
    return df


def test_calibrate_a_run_recovers_the_temperature_and_covers_held_out_speakers():
    df = planted_run()
    rep = calibrate(df, n_boot=50, folds=4)
    assert rep.classes == ["angry", "happy", "neutral", "sad"]
    assert "GroupKFold by speaker" in rep.folds and not rep.notes
    assert abs(rep.temperature - 2.0) / 2.0 < 0.05
    assert all(abs(t - 2.0) / 2.0 < 0.1 for t in rep.fold_temperatures)
    assert rep.before["ece"] > 0.1 and rep.after["ece"] < 0.05
    assert rep.after["nll"] < rep.before["nll"]
    for score in ("lac", "aps"):
        assert abs(rep.conformal[score]["coverage"] - 0.9) < 0.03
        assert set(rep.conformal[score]["per_class"]) == set(rep.classes)
    lo, hi = rep.ci_before["ece"]
    assert lo <= rep.before["ece"] <= hi
    assert "temperature 2.0" in rep.render() or "temperature 1.9" in rep.render()


def test_calibrate_without_speakers_says_the_folds_are_not_speaker_independent():
    df = planted_run(n_speakers=4, per_speaker=100).drop(columns=["speaker"])
    rep = calibrate(df, by=None, n_boot=20)
    assert rep.notes and "speaker" in rep.notes[0]


def test_calibrate_refuses_unknown_columns_and_variants():
    df = planted_run(n_speakers=3, per_speaker=40)
    with pytest.raises(ConfigError, match="speaker"):
        calibrate(df, by="spaeker")
    with pytest.raises(ConfigError, match="raw"):
        calibrate(df, variant="denoised")
    with pytest.raises(ConfigError):
        calibrate(df, alpha=1.5)


def test_the_reliability_figure_shows_a_rejected_temperature_on_a_line_of_its_own():
    """Scores that point away from the truth (each label is the corpus class scored lowest): T is not recommended
    and the figure says so."""
    import matplotlib

    matplotlib.use("Agg")
    from workbench.analysis.calibration import plot_reliability_before_after

    df = planted_run(n_speakers=4, per_speaker=40)
    corpus = ["angry", "happy", "neutral", "sad"]
    df["emotion"] = np.asarray(corpus)[df[[f"score_{c}" for c in corpus]].to_numpy().argmin(1)]
    rep = calibrate(df, n_boot=20, folds=4)
    assert not rep.recommended
    title = plot_reliability_before_after(rep).axes[0].get_title()
    assert "\\n" not in title, title  # a literal backslash-n pushed the flag off the title's line
    assert title.split("\n")[1].startswith("⚠ T "), title  # the flags on lines of their own, wrapped to the figure's width


def test_the_softmax_is_scipys_on_wide_masked_and_extreme_logits():
    """The workbench's numpy softmax (no scipy import in a run) against SciPy's, where softmaxes go wrong."""
    from scipy.special import softmax as scipy_softmax

    from workbench.model.temperature import softmax

    rng = np.random.default_rng(0)
    cases = [rng.normal(size=(5, 9)), 800 + rng.normal(size=(3, 4)), -800 + rng.normal(size=(3, 4)),
             np.array([[0.0, -np.inf, 2.0], [-np.inf, 1.0, -np.inf]]), rng.normal(size=9)]
    for x in cases:
        got = softmax(x)
        assert got.shape == np.shape(x)
        np.testing.assert_allclose(got, scipy_softmax(x, axis=-1), rtol=1e-12, atol=1e-300)
    assert softmax(np.array([[0.0, -np.inf]]))[0, 1] == 0.0


def test_calibrate_refuses_what_mapie_cannot_calibrate_with_the_fact_and_the_fix():
    """`workbench calibrate` ended in "unexpected ValueError" (exit 3) on a conformal half of one class and on one of no
    more than 1/alpha items.  (A half of two classes is calibrated with LAC sets only: the next test.)"""
    one = planted_run(n_speakers=4, per_speaker=40, classes=("angry", "happy"))
    one["emotion"] = np.where(one["speaker"] == "s00", "angry", "happy")  # one fold holds out the only angry speaker
    with pytest.raises(ConfigError, match=r"fold \d: .* 1 class only \(happy\).*2 or more classes") as err:
        calibrate(one, n_boot=20, folds=4)  # its conformal half holds one class: no threshold worth fitting
    # the run has 2 classes: the fix names what does work (folds by item), not "a run with 2 or more classes"
    assert "cover 2 classes" in err.value.fix and "--scheme none" in err.value.fix, err.value.fix
    assert calibrate(one, by=None, n_boot=20, folds=4).n == len(one)  # the fix it names works
    small = planted_run(n_speakers=4, per_speaker=8)  # 32 items, 2 folds: 16 to train, 8 in the conformal half
    with pytest.raises(ConfigError, match="holds 8 labelled items; sets at alpha 0.1 need more than 10") as err:
        calibrate(small, by=None, n_boot=20, folds=2)
    assert "--alpha 0.13" in err.value.fix and "fewer --folds" not in err.value.fix  # 2 folds are the fewest
    with pytest.raises(ConfigError, match=r"holds \d+ labelled items; sets at alpha 0.05") as err:
        calibrate(small, by=None, n_boot=20, folds=3, alpha=0.05)
    assert "fewer --folds (2 at least)" in err.value.fix  # 3 folds: 2 would leave more items in the half
    rep = calibrate(small, by=None, n_boot=20, folds=2, alpha=0.13)  # the fix it names works
    assert rep.conformal["aps"]["coverage"] == rep.conformal["aps"]["coverage"]


def test_a_two_class_corpus_gets_lac_sets_with_held_out_coverage_and_says_aps_was_skipped():
    """MAPIE's APS refuses a binary target: a two-class run was refused whole.  Now its sets are LAC's, measured on the
    held-out speakers, and the report says APS was skipped and why; every other figure is still there."""
    two = planted_run(n_speakers=6, per_speaker=100, classes=("angry", "happy"))
    rep = calibrate(two, n_boot=20, folds=3)
    assert list(rep.conformal) == ["lac"] and set(rep.conformal_skipped) == {"aps"}
    lac = rep.conformal["lac"]
    assert lac["n"] == rep.n == 600 and set(lac["per_class"]) == {"angry", "happy"}
    lo, hi = lac["coverage_ci"]
    assert lo <= 0.9 <= hi and abs(lac["coverage"] - 0.9) < 0.05, lac  # held-out coverage near the 90 % target
    assert lac["check"] == "pass" and rep.checks["set_coverage"]["lac"]["verdict"] == "pass"
    why = rep.conformal_skipped["aps"]
    assert "APS sets skipped, LAC sets only" in why and "target is binary" in why and why in rep.notes
    screen = rep.render()
    assert "LAC sets at alpha 0.1: coverage" in screen and f"note: {why}" in screen and "APS sets at" not in screen
    assert abs(rep.temperature - 2.0) / 2.0 < 0.15 and rep.after["nll"] < rep.before["nll"]  # the other figures are kept
    from workbench.analysis.calibration import plot_set_sizes

    title = plot_set_sizes(rep).axes[0].get_title()  # the figure says it too, not only the text beside it
    assert "APS sets skipped (the corpus has 2 classes): LAC only" in title, title  # the reason up to its ", so"
    with pytest.raises(ConfigError, match="binary target") as err:  # APS asked for directly: the fact and the fix
        conformal_sets(np.eye(2)[[0, 1] * 10], np.array([0, 1] * 10), np.eye(2), score="aps")
    assert 'score="lac"' in err.value.fix


def test_folds_that_fit_their_temperature_on_the_same_speakers_are_said_to():
    """The walkthrough read 'per fold 100.000, 100.000, 5.322, 5.322, 0.695' as a bug: two folds' training halves
    were the same speakers, so they fitted one T.  The notes say which folds, and only those share a temperature."""
    import re

    rep = calibrate(planted_run(n_speakers=5, per_speaker=40), n_boot=20, folds=5)
    said = [n for n in rep.notes if "fitted their temperature on the same speakers" in n]
    assert said and all(f"note: {n}" in rep.render() for n in said)
    paired = [[int(k) for k in re.findall(r"\d+", n.split(" fitted")[0])] for n in said]
    t = rep.fold_temperatures
    for ks in paired:
        assert len({t[k - 1] for k in ks}) == 1, (ks, t)
    alone = [k for k in range(1, 6) if not any(k in ks for ks in paired)]
    assert len({t[k - 1] for k in alone} | {t[ks[0] - 1] for ks in paired}) == len(alone) + len(paired)


def test_a_binned_error_whose_point_its_interval_misses_is_marked_and_explained():
    """Binned MCE resampled is biased upwards: on 200 items its interval can sit above the point (the screen showed
    ``MCE 0.176 [0.193, 0.685]`` bare); such a figure is marked where it is shown and the note says why.  (Shuffled
    folds, no speakers: the item bootstrap's interval is the planted case; resampling the 8 speakers widens it over the point.)"""
    rep = calibrate(planted_run(n_speakers=8, per_speaker=25, t_true=2.0, seed=1), n_boot=200, folds=4, by=None)
    lo, hi = rep.ci_before["mce"]
    assert not lo <= rep.before["mce"] <= hi  # the case itself
    assert rep.checks["point_outside_interval"] == ["MCE before"]
    line = next(x for x in rep.render().splitlines() if x.strip().startswith("MCE"))
    assert line.index("!! outside its interval") < line.index(f"{rep.after['mce']:.3f}")  # the mark is the before figure's
    assert any("point outside its interval (MCE before)" in n and "Brier and NLL" in n for n in rep.notes)
