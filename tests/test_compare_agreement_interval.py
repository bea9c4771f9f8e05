"""compare's top-1 agreement between two runs is a share of items, and was printed bare ('top-1 agreement 0.571 (3 label
flips)' on 7 items, where any value from 0.18 to 0.90 fits): it now stands beside its exact 95 % interval on the screen,
in comparison.json / agreement.csv and in the report page's Agreement table, as export-onnx gives it."""

from __future__ import annotations

import json

import pytest
from scipy.stats import binomtest

from test_compare_runs import PRED_A, PRED_B, hand_runs
from workbench.analysis.compare import compare_runs
from workbench.cli import main


def test_top1_agreement_carries_its_exact_interval_everywhere(tmp_path, capsys):
    a, b = hand_runs(tmp_path)
    cmp = compare_runs([a, b], n_boot=50)
    (ag,) = cmp.agreement.to_dict(orient="records")
    ci = binomtest(4, 7).proportion_ci(method="exact")  # an independent implementation: 4 of 7 labels agree
    assert (ag["top1_agreement_lo"], ag["top1_agreement_hi"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
    words = f"top-1 agreement 0.571 [{ci.low:.3f}, {ci.high:.3f}] (3 label flips)"
    assert words in cmp.render()
    assert f"0.571 [{ci.low:.3f}, {ci.high:.3f}]" in cmp.html()
    assert main(["compare", str(a.path), str(b.path), "--out", str(tmp_path / "cmp")]) == 0
    assert words in capsys.readouterr().out
    saved = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert saved["agreement"][0]["top1_agreement_lo"] == pytest.approx(ci.low)


def test_kappa_carries_its_bootstrap_interval_computed_as_scikit_learn_would_on_each_resample(tmp_path, capsys):
    """'kappa 0.400' on 7 items was as bare as the top-1 agreement: its percentile bootstrap interval now stands beside
    it on the screen, in comparison.json and in the report's table; each resample's kappa equals scikit-learn's."""
    import numpy as np
    from sklearn.metrics import cohen_kappa_score

    from workbench.analysis.stats import kappa_interval

    a, b = hand_runs(tmp_path)
    cmp = compare_runs([a, b], n_boot=200, seed=4)
    (ag,) = cmp.agreement.to_dict(orient="records")
    pa, pb = np.array(PRED_A), np.array(PRED_B)  # the paired items in the runs' order (f0 failed in B: not paired)
    idx = np.random.default_rng(4).integers(0, len(pa), size=(200, len(pa)))
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = [cohen_kappa_score(pa[i], pb[i]) for i in idx]
    ref = np.array([k for k in ref if np.isfinite(k)])
    assert (ag["kappa_lo"], ag["kappa_hi"]) == (pytest.approx(np.percentile(ref, 2.5)), pytest.approx(np.percentile(ref, 97.5)))
    words = f"kappa 0.400 [{ag['kappa_lo']:.3f}, {ag['kappa_hi']:.3f}]"
    assert words in cmp.render() and words.split("kappa ")[1] in cmp.html()
    assert kappa_interval(["x"] * 5, ["x"] * 5) != kappa_interval(["x"] * 5, ["x"] * 5)  # 0/0 in every resample: NaNs
