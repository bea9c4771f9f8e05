"""What `workbench compare` prints: the mean confidence shift with its t interval and n, p-values that never read
"p=0.0000", and counts in their number ("1 label flip")."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from test_probe import synthetic_row, write_run
from workbench.analysis.compare.variants import Comparison, compare_results
from workbench.analysis.stats import p_value_text, p_words


def test_p_values_are_floored_and_never_print_as_zero():
    assert p_words(3e-9) == "p < 0.0001" and p_value_text(0.0) == "< 0.0001"
    assert p_words(0.0123) == "p = 0.012" and p_words(1.0) == "p = 1" and p_value_text(None) == "n/a"


def test_compare_prints_the_shift_interval_with_n_proper_p_and_plurals(tmp_path):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(30):
        truth = ["angry", "happy"][i % 2]
        for variant, pred in (("raw", truth), ("noisy", "happy")):  # noisy breaks every angry item
            conf = 0.5 + 0.4 * rng.random()
            rows.append(synthetic_row(f"u{i}", emotion=truth, pred=pred, variant=variant,
                                      scores={k: (conf if k == pred else (1 - conf) / 8) for k in
                                              ["angry", "disgusted", "fearful", "happy", "neutral", "other", "sad", "surprised", "unknown"]}))
    rows.append(synthetic_row("x", emotion="", pred="sad", variant="raw"))
    rows.append(synthetic_row("x", emotion="", pred="angry", variant="noisy"))
    rf = write_run(tmp_path / "run", rows, [rng.standard_normal(4) for _ in rows])
    _, (c,), _ = compare_results(rf.results(), baseline="raw", n_boot=200)
    text = c.render()
    res = rf.results().set_index(["variant", "id"])
    shift = (res.loc["noisy", "confidence"] - res.loc["raw", "confidence"]).to_numpy()
    lo, hi = stats.t.interval(0.95, len(shift) - 1, loc=shift.mean(), scale=stats.sem(shift))
    assert c.n_shift == 31 and c.confidence_shift_ci == pytest.approx((lo, hi))
    assert f"confidence shift mean {shift.mean():+.3f} [{lo:+.3f}, {hi:+.3f}] (95 % t interval over items, n=31)" in text, text
    assert "p < 0.0001" in text and "p=0.0000" not in text
    assert "15 label flips among them (+1 among 1 unlabelled item," in text, text
    one = Comparison("raw", "v", 1, (0, 0, 0), (0, 0, 0), 0, 1, 1.0, 1, 0.1, 0.1, n_unlabelled=1, n_flips_unlabelled=1,
                     confidence_shift_ci=(float("nan"), float("nan")), n_shift=1)
    assert "(1 paired item" in one.render() and "1 label flip among them" in one.render()
    assert "(no interval from n=1)" in one.render()
