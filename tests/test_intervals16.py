"""Figures that read as more than they are (intervals16): zero-width precision/recall intervals, the groups' gap,
compare's confidence shift and its clustered McNemar test, calibrate's per-class coverage on the page."""

from __future__ import annotations

import json

from test_calibration_cli import _run_folder


def _all_angry_recalled():
    """Twelve speakers; every angry clip is recalled and nothing else is called angry (so angry's precision and recall
    are 1 in every resample of the speakers); happy is 3 of 4 right, its misses called sad."""
    from test_groups import _frame

    rows = [(f"s{s}", "angry", "angry") for s in range(12) for _ in range(3)]
    rows += [(f"s{s}", "happy", "happy" if k else "sad") for s in range(12) for k in range(4)]
    rows += [(f"s{s}", "sad", "sad" if k != 1 or s % 3 else "happy") for s in range(12) for k in range(3)]
    return _frame(rows)


def test_zero_width_precision_and_recall_intervals_are_flagged_on_screen_in_json_on_the_page_and_on_the_card(tmp_path, monkeypatch):
    from workbench.analysis.finetune.evaluate import class_checks
    from workbench.analysis.metrics import run_metrics
    from workbench.views import reporting

    _run_folder(tmp_path / "run", _all_angry_recalled())
    rep = run_metrics(tmp_path / "run", by=(), figures=False, n_boot=200)["raw"]
    assert rep.ci_unit["unit"] == "speaker" and list(rep.per_class["angry"]["recall_ci"]) == [1.0, 1.0]
    words = "zero-width interval (precision of angry, recall of angry, recall of happy)"  # happy: 3 of 4 in each speaker
    assert words in rep.render().split("!! per-class precision and recall: ")[1], rep.render()
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())["raw"]
    assert words in saved["flags"]["class_shares"]
    shown = []
    monkeypatch.setattr(reporting, "show_html", shown.append)
    monkeypatch.setattr(reporting, "show_figure", lambda fig, **_: None)
    reporting.metrics_section(tmp_path / "run", by=[], n_boot=200)
    assert words in shown[0].split("⚠ per-class precision and recall: ")[1]
    assert any(words in note for note in class_checks(rep.per_class, rep.n_scored))  # the fine-tuned head's card
