"""calibrate's Brier score beside its reference: a uniform guess over the K classes scores 1 − 1/K on every item,
whatever the labels.  'BRIER 0.750 [0.742, 0.757]' over four classes, for scores permuted against the labels, stood bare
beside the NLL's uniform check; now the row names the reference, and a Brier whose interval reaches it (or lies above)
is a warning on the screen, in calibration.json (warnings, checks.brier_not_below_uniform) and on the report page."""

from __future__ import annotations

import json

import numpy as np

from test_calibration import planted_run
from test_calibration_cli import _run_folder
from workbench.analysis import calibration as C
from workbench.cli import main


def _permuted():
    df = planted_run(n_speakers=4, per_speaker=60, t_true=2.0)
    df["emotion"] = np.random.default_rng(3).permutation(df["emotion"].to_numpy())
    return df


def test_a_brier_no_better_than_a_uniform_guess_is_flagged_and_a_good_one_is_not():
    rep = C.calibrate(_permuted(), n_boot=50, folds=2)
    lo, hi = rep.ci_after["brier"]
    assert hi >= 0.75  # the case itself: 1 − 1/4
    flagged = rep.checks["brier_not_below_uniform"]
    assert any(w.startswith("Brier after") and "1 − 1/4 = 0.750" in w for w in flagged)
    assert all(w in rep.warnings for w in flagged)
    brier_row = next(x for x in rep.render().splitlines() if x.strip().startswith("BRIER"))
    assert "(uniform guess 0.750)" in brier_row
    good = C.calibrate(planted_run(n_speakers=4, per_speaker=60, t_true=1.0), n_boot=50, folds=2)
    assert good.checks["brier_not_below_uniform"] == [] and not any("Brier" in w for w in good.warnings)


def test_the_flag_reaches_the_screen_the_json_and_the_report_page(tmp_path, capsys, monkeypatch):
    from workbench.views import reporting

    run = tmp_path / "run"
    _run_folder(run, _permuted())
    assert main(["calibrate", str(run), "--folds", "2", "--bootstrap", "50", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    report = doc["variants"]["raw"] if "variants" in doc else doc
    assert report["checks"]["brier_not_below_uniform"] and report["checks"]["brier_not_below_uniform"][0] in report["warnings"]
    assert main(["calibrate", str(run), "--folds", "2", "--bootstrap", "50"]) == 0
    assert "!! Brier after" in capsys.readouterr().out
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    reporting.calibration_section(run, n_boot=50)
    assert "NOT measurably below a uniform guess" in "".join(str(getattr(o, "data", "")) for o in shown)
