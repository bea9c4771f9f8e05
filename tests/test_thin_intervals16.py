"""Intervals that lost their resample counts before they were shown (checks16): calibrate's errors, AURC, accuracy at
coverage and T; the breakdown's groups; the cue probe's R² and Cliff's delta.  An interval from under 90 % of its
resamples is flagged wherever it is shown (screen, JSON, report); each test plants resamples where the figure is undefined."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from test_calibration import planted_run
from test_calibration_cli import _run_folder

import workbench.analysis.calibration as calibration
import workbench.analysis.calibration_intervals as intervals
from workbench.cli import main


def _ece_undefined_in_half_the_resamples(monkeypatch, n_boot: int):
    """ECE is NaN in every other resample (each resample calls calibration_errors twice: before, after); the point
    figures, computed after the bootstrap, are the real ones."""
    real, calls = intervals.calibration_errors, {"n": 0}

    def errors(probs, y, **kw):
        out = real(probs, y, **kw)
        calls["n"] += 1
        if calls["n"] <= 2 * n_boot and (calls["n"] - 1) // 2 % 2 == 0:
            out = {**out, "ece": float("nan")}
        return out

    monkeypatch.setattr(intervals, "calibration_errors", errors)
    return calls


def test_calibrate_counts_the_resamples_each_interval_kept_and_flags_thin_ones():
    df = planted_run(n_speakers=6, per_speaker=40, t_true=2.0)
    rep = calibration.calibrate(df, n_boot=40, folds=3)
    assert rep.interval_resamples["ECE before"] == {"kept": 40, "drawn": 40} and rep.interval_resamples["T"]["drawn"] == 40
    assert rep.checks["thin_intervals"] == [] and "resamples" not in rep.flat_mark("ECE before")


def test_a_calibration_interval_from_half_its_resamples_is_flagged_on_screen_in_json_and_in_the_report(tmp_path, capsys, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    from workbench.views import reporting

    run_dir = tmp_path / "run"
    _run_folder(run_dir, planted_run(n_speakers=6, per_speaker=40, t_true=2.0))
    _ece_undefined_in_half_the_resamples(monkeypatch, 20)
    assert main(["calibrate", str(run_dir), "--folds", "3", "--bootstrap", "20", "--no-figures"]) == 0
    out = capsys.readouterr().out
    ece = next(line for line in out.splitlines() if line.strip().startswith("ECE "))
    assert ece.count("!! 10 of 20 resamples") == 2, ece  # before and after, each at its figure
    assert "MCE" not in ece and "!! 10 of 20" not in next(line for line in out.splitlines() if line.strip().startswith("MCE"))
    assert "intervals from under 90% of their resamples (ECE before 10 of 20, ECE after 10 of 20)" in out
    saved = json.loads((run_dir / "calibration.json").read_text())["variants"]["raw"]
    assert saved["checks"]["thin_intervals"] == ["ECE before", "ECE after"]
    assert saved["interval_resamples"]["ECE after"] == {"kept": 10, "drawn": 20}
    assert saved["interval_resamples"]["NLL after"] == {"kept": 20, "drawn": 20}
    assert any("ECE before 10 of 20" in n for n in saved["notes"])
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    _ece_undefined_in_half_the_resamples(monkeypatch, 20)
    section = reporting.calibration_section(run_dir, n_boot=20)
    html = "".join(str(getattr(o, "data", "")) for o in shown if type(o).__name__ == "HTML")
    assert section["checks"]["thin_intervals"] == ["ECE before", "ECE after"]
    row = next(r for r in html.split("<tr") if ">ECE<" in r)
    assert row.count("!! 10 of 20 resamples") == 2 and "ECE before 10 of 20" in html


def test_a_temperature_interval_from_too_few_refits_says_so_where_t_is_shown(monkeypatch):
    real = calibration.temperature_interval

    def fewer(*a, **kw):
        ci, boot = real(*a, **kw)
        return ci, {**boot, "kept": boot["resamples"] // 2}

    monkeypatch.setattr(calibration, "temperature_interval", fewer)
    rep = calibration.calibrate(planted_run(n_speakers=6, per_speaker=40, t_true=2.0), n_boot=40, folds=3)
    assert rep.checks["thin_intervals"] == ["T"] and rep.interval_resamples["T"] == {"kept": 20, "drawn": 40}
    line = next(x for x in rep.render().splitlines() if x.strip().startswith("temperature"))
    assert "!! 20 of 40 resamples" in line and "interval from 20 of 40 resamples of the" in line
