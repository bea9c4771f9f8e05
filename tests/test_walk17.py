"""What a newcomer reads on the demo's report page (walk17): each test plants what the demo showed."""

from __future__ import annotations

import json
import re

from test_calibration_cli import _run_folder


def _never_predicts_sad():
    """Twelve speakers with angry, happy and sad clips; sad is never predicted (always read as angry), so its precision
    is 0/0 in every resample of the speakers, and so undefined on the whole run."""
    from test_groups import _frame

    rows = [(f"s{s}", c, c if k else ("happy" if c == "angry" else "angry")) for s in range(12) for c in ("angry", "happy")
            for k in range(4)]
    rows += [(f"s{s}", "sad", "angry") for s in range(12) for _ in range(2)]
    return _frame(rows)


def test_a_class_never_predicted_gets_no_rough_interval_flag_on_its_undefined_precision(tmp_path):
    """The demo page read "precision of angry: interval from 0 of 1000 resamples (0%) … read it as rough" under a "—"
    with no interval, beside "class(es) never predicted …: their precision is 0/0, undefined": one fact said twice,
    the first time as an interval that does not exist.  The never-predicted note alone says it (screen and JSON)."""
    from workbench.analysis.metrics import run_metrics

    _run_folder(tmp_path / "run", _never_predicts_sad())
    rep = run_metrics(tmp_path / "run", by=(), figures=False, n_boot=200)["raw"]
    sad = rep.per_class["sad"]
    assert sad["predicted"] == 0 and sad["precision"] != sad["precision"] and sad["precision_resamples"]["kept"] == 0
    shown = rep.render()
    assert "never predicted (sad)" in shown and "precision of sad" not in shown
    flags = json.loads((tmp_path / "run" / "metrics.json").read_text())["raw"]["flags"]
    assert "precision of sad" not in flags.get("class_shares", "") and "sad" in flags["never_predicted"]


def test_the_confusion_matrix_title_names_a_thin_class_interval_with_its_count_not_a_bare_class(tmp_path):
    """The demo's confusion matrix title ended "…; precision of angry": the per-class note cut at its first colon.  A
    thin interval keeps its count in the title, every class it names, and no stray "read it as rough" part."""
    from test_thin_intervals16 import _one_speaker_class

    from workbench.analysis.figure_notes import flagged_title
    from workbench.analysis.metrics import run_metrics

    _run_folder(tmp_path / "run", _one_speaker_class())
    rep = run_metrics(tmp_path / "run", by=(), figures=False, n_boot=200)["raw"]
    kept = rep.per_class["sad"]["recall_resamples"]["kept"]
    title = " ".join(flagged_title("raw", rep.flags(), width_in=60).split())
    assert f"precision of sad: interval from {kept} of 200 resamples" in title
    assert f"recall of sad: interval from {kept} of 200 resamples" in title
    assert "; read it as rough;" not in title and not re.search(r"; (precision|recall|F1) of sad$", title)
