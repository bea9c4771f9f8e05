"""The overall coverage of conformal sets is checked against what split-conformal sets promise with the calibration
items each fold had (a beta-binomial count per fold), not against a binomial interval around 1 − alpha, which leaves out
that the threshold is itself drawn from a few items: valid sets failed that check a quarter of the time with 2 folds."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import binomtest

from test_calibration_cli import _run_folder
from test_conformal_checks import _near_uniform_rows
from workbench.analysis import calibration as C
from workbench.analysis.calibration_measures import (COVERAGE_FAIL, COVERAGE_PASS, conformal_guarantee, conformal_sets, coverage_check,
                                                     split_conformal_counts)
from workbench.cli import main


def _simulated_counts(fold_sizes, alpha, runs, seed=0):
    """Split conformal written out in numpy: LAC scores 1 − p(true class) of a model whose probabilities are the truth
    (so calibration and held-out scores are exchangeable), the threshold the ceil((m + 1)(1 − alpha))-th smallest."""
    rng = np.random.default_rng(seed)
    out = np.zeros(runs, dtype=int)
    for r in range(runs):
        for m, n in fold_sizes:
            p = rng.dirichlet(np.ones(4), size=m + n)
            y = np.array([rng.choice(4, p=row) for row in p])
            score = 1 - p[np.arange(m + n), y]
            q = np.sort(score[:m])[int(np.ceil((m + 1) * (1 - alpha))) - 1]
            out[r] += int((score[m:] <= q).sum())
    return out


@pytest.mark.filterwarnings("ignore:.*conformalization dataset has less labels:UserWarning")
def test_the_counts_valid_sets_give_are_those_of_split_conformal_sets_simulated_and_mapie_uses_the_same_threshold():
    folds, alpha = [(13, 26), (11, 26)], 0.2
    pmf = split_conformal_counts(folds, alpha)
    assert len(pmf) == 53 and pmf.sum() == pytest.approx(1)
    sim = _simulated_counts(folds, alpha, runs=1500)
    mean = float(np.dot(np.arange(53), pmf))
    sd = float(np.sqrt(np.dot((np.arange(53) - mean) ** 2, pmf)))
    assert sim.mean() == pytest.approx(mean, abs=4 * sd / np.sqrt(len(sim)))
    assert sim.std() == pytest.approx(sd, rel=0.1)
    assert np.mean(sim <= np.searchsorted(np.cumsum(pmf), 0.1)) == pytest.approx(np.cumsum(pmf)[np.searchsorted(np.cumsum(pmf), 0.1)], abs=0.035)
    g = conformal_guarantee(folds, alpha)
    # the finite-sample guarantee: k/(m + 1) per fold, between 1 − alpha and 1 − alpha + 1/(m + 1)
    assert g["expected"] == pytest.approx((26 * 12 / 14 + 26 * 10 / 12) / 52) and g["calibration_items"] == (11, 13)
    # MAPIE's LAC sets hold exactly the classes whose score is at most that order statistic
    rng = np.random.default_rng(1)
    cal, test = rng.dirichlet(np.ones(4), size=13), rng.dirichlet(np.ones(4), size=40)
    cal_y = np.array([rng.choice(4, p=row) for row in cal])
    q = np.sort(1 - cal[np.arange(13), cal_y])[int(np.ceil(14 * 0.8)) - 1]
    assert (conformal_sets(cal, cal_y, test, alpha=0.2) == (1 - test <= q + 1e-12)).all()


def test_valid_sets_outside_the_binomial_interval_pass_and_sets_that_truly_undercover_fail():
    folds, alpha = [(13, 26), (13, 26)], 0.2
    pmf = split_conformal_counts(folds, alpha)
    # 49 of 52 covered: the binomial interval [0.841, 0.988] misses 0.80, yet valid sets calibrated on 13 items do this
    # often (they cover 12/14 = 0.857 in expectation)
    assert binomtest(49, 52).proportion_ci(method="exact").low > 0.8 and pmf[49:].sum() > 0.025
    old = coverage_check(49, 52, 0.8)
    assert old["verdict"] == COVERAGE_FAIL and old["direction"] == "above"
    new = coverage_check(49, 52, 0.8, fold_sizes=folds)
    assert new["verdict"] == COVERAGE_PASS and new["guarantee"]["p_above"] == pytest.approx(pmf[49:].sum())
    assert new["ci"] == old["ci"]  # the interval of the observed coverage is the same; what it is checked against is not
    low = coverage_check(30, 52, 0.8, fold_sizes=folds)
    assert low["verdict"] == COVERAGE_FAIL and low["direction"] == "below" and low["guarantee"]["p_below"] < 0.025
    big = [(200, 100)] * 5  # many calibration items: the range narrows onto 1 − alpha
    assert coverage_check(420, 500, 0.9, fold_sizes=big)["verdict"] == COVERAGE_FAIL
    assert coverage_check(452, 500, 0.9, fold_sizes=big)["verdict"] == COVERAGE_PASS


def test_valid_sets_fail_the_check_about_one_time_in_twenty_not_one_in_four():
    folds, alpha = [(13, 26), (13, 26)], 0.2
    sim = _simulated_counts(folds, alpha, runs=800, seed=3)
    new = np.mean([coverage_check(int(c), 52, 0.8, fold_sizes=folds)["verdict"] == COVERAGE_FAIL for c in sim])
    old = np.mean([coverage_check(int(c), 52, 0.8)["verdict"] == COVERAGE_FAIL for c in sim])
    assert new <= 0.07 and old >= 0.15, (new, old)


def test_calibrate_says_what_the_coverage_is_checked_against_on_screen_in_json_in_the_figure_and_in_the_report(tmp_path, capsys,
                                                                                                                monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from workbench.views import reporting

    run_dir = tmp_path / "run"
    _run_folder(run_dir, _near_uniform_rows())
    assert main(["calibrate", str(run_dir), "--bootstrap", "20", "--folds", "2", "--alpha", "0.2", "--out", str(tmp_path / "cal")]) == 0
    out = capsys.readouterr().out
    rep = json.loads((tmp_path / "cal" / "calibration.json").read_text())["variants"]["raw"]
    for s in ("lac", "aps"):
        g = rep["conformal"][s]["guarantee"]
        assert g == rep["checks"]["set_coverage"][s]["guarantee"] and g["folds"] == 2 and 0.8 <= g["expected"] <= 0.8 + 1 / (g["calibration_items"][0] + 1)
        assert g["range"][0] < rep["conformal"][s]["coverage"] < g["range"][1] or rep["conformal"][s]["check"] == COVERAGE_FAIL
        assert f"calibration items in each of 2 fold(s) covers {g['range'][0]:.3f}-{g['range'][1]:.3f}" in out
    report = C.calibrate(_near_uniform_rows(), by="speaker", folds=2, alpha=0.2, n_boot=10)
    g = report.conformal["lac"]["guarantee"]
    fig = C.plot_set_sizes(report)
    assert any(f"against valid sets' {g['range'][0]:.3f}-{g['range'][1]:.3f}" in t.get_text() for t in fig.axes[0].get_legend().get_texts())
    plt.close(fig)
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    monkeypatch.setattr(reporting, "calibrate", lambda *a, **k: report)
    reporting.calibration_section(run_dir, n_boot=10)
    html = "".join(str(getattr(o, "data", "")) for o in shown if type(o).__name__ == "HTML")
    assert f"covers {g['range'][0]:.3f}-{g['range'][1]:.3f} of these items" in html


def test_many_items_give_the_same_counts_by_fft_as_by_direct_convolution():
    from scipy.stats import betabinom

    folds, alpha = [(3000, 2500)] * 3, 0.1
    k = int(np.ceil(3001 * 0.9))
    one = betabinom.pmf(np.arange(2501), 2500, k, 3001 - k)
    direct = np.convolve(np.convolve(one, one), one)
    got = split_conformal_counts(folds, alpha)  # 2501 × 5001 terms: the FFT path
    assert got.shape == direct.shape and np.abs(got - direct).max() < 1e-12 and (got >= 0).all()
