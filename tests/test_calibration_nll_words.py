"""The calibrated NLL's verdict in words: what it blames must be what the figures show."""

from __future__ import annotations

import numpy as np

from workbench.analysis.calibration_measures import nll_verdict


def test_a_calibrated_nll_no_better_than_uniform_does_not_blame_scores_that_beat_it_uncalibrated():
    # a report said "the scores carry no information a temperature can use" beside an uncalibrated NLL of 0.138 over
    # two classes (log 2 = 0.693): the scores carried plenty; four of five fold temperatures at the bound 0.05 spoilt them
    words, flags = nll_verdict(0.588, 0.138, 2, (0.002, 1.755))
    assert flags["nll_not_better_than_uniform"] and flags["nll_worse_than_uncalibrated"]
    assert "carry no information" not in words
    assert "the uncalibrated scores beat a uniform guess, so it is the fitted temperature that spoils them" in words
    # scores that were no better than a uniform guess before calibration still get the old words
    words, _ = nll_verdict(0.70, float(np.log(2)) + 0.01, 2, (0.65, 0.75))
    assert words.endswith("the scores carry no information a temperature can use")


def test_the_nll_words_blame_bound_stopped_folds_only_when_some_fold_stopped_at_a_bound():
    # `calibrate` on a fine-tuned head's demo run (fold temperatures 1.259, 1.259, 0.881, 0.881, 0.201, none at a bound)
    # said "(fold temperatures at a bound of the search mean degenerate fits)": a reader took it for a finding
    words, _ = nll_verdict(1.844, 1.284, 5, (1.325, 2.531), folds_at_bound=(0, 5))
    assert "at a bound of the search mean degenerate fits" not in words
    assert "no fold temperature is at a bound of the search" in words
    words, _ = nll_verdict(1.640, 1.602, 5, (1.597, 1.686), folds_at_bound=(2, 5))
    assert "2 of 5 fold temperatures at a bound of the search: degenerate fits" in words


def test_a_calibrated_nll_whose_interval_straddles_uniform_is_not_called_worse():
    # `calibrate` on a tiny run said "calibrated NLL 1.099 [1.093, 1.106] is WORSE than a uniform guess over 3 classes
    # (log 3 = 1.099)": the point a hair above log 3, the interval on both sides of it, the two printed figures equal
    words, flags = nll_verdict(1.0990, 1.128, 3, (1.093, 1.106))
    assert "WORSE" not in words and "NOT better than (its interval reaches) a uniform guess" in words
    assert flags["nll_not_better_than_uniform"] and not flags["nll_worse_than_uniform"]
    words, flags = nll_verdict(1.12, 1.128, 3, (1.10, 1.15))  # the whole interval above log 3: worse
    assert "is WORSE than a uniform guess" in words and flags["nll_worse_than_uniform"]
