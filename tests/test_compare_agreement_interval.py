"""compare's top-1 agreement between two runs is a share of items, and was printed bare ('top-1 agreement 0.571 (3 label
flips)' on 7 items, where any value from 0.18 to 0.90 fits): it now stands beside its exact 95 % interval on the screen,
in comparison.json / agreement.csv and in the report page's Agreement table, as export-onnx gives it."""

from __future__ import annotations

import json

import pytest
from scipy.stats import binomtest

from test_compare_runs import hand_runs
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
