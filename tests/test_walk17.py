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
    assert f"precision of sad {kept} of 200, recall of sad {kept} of 200" in title  # one sentence for both (walk18)
    assert "read it as rough" not in title and "read them as rough" not in title and not re.search(r"; (precision|recall|F1) of sad$", title)


def test_the_set_size_figure_says_a_class_coverage_failed_and_its_bh_q():
    """The demo's conformal figure title read "LAC per class: happy", which does not say what happened to happy; the
    table beside it says FAILED with the class's Benjamini-Hochberg q.  The title now says both."""
    import numpy as np
    from test_calibration import planted_run

    from workbench.analysis.calibration import calibrate
    from workbench.analysis.calibration_plots import plot_set_sizes

    df = planted_run(n_speakers=8, per_speaker=80)
    sad = (df["emotion"] == "sad").to_numpy()
    df.loc[sad, "score_sad"] = 1e-6  # the model never believes a sad clip is sad: its sets miss sad
    rep = calibrate(df, n_boot=20, folds=4)
    d = rep.conformal["lac"]
    from workbench.analysis.calibration_measures import COVERAGE_FAIL
    assert d["per_class"]["sad"]["check"] == COVERAGE_FAIL and np.isfinite(d["per_class"]["sad"]["q"])
    title = " ".join(plot_set_sizes(rep).axes[0].get_title().split())
    assert "LAC coverage FAILS for " in title and f"sad (BH q {d['per_class']['sad']['q']:.2g})" in title
    assert "per class: " not in title


def test_one_class_still_failing_after_bh_reads_in_the_singular():
    """"after Benjamini-Hochberg over them happy q = 0.0012 still fail" (the demo's calibration warning)."""
    from test_thin_intervals16 import _class_sets

    import workbench.analysis.calibration_measures as C

    sets, y, classes = _class_sets({1: 48, 2: 30})
    _, words = C.conformal_checks(C.conformal_summary({"lac": sets}, y, classes, alpha=0.1))
    assert "still fails" in words[0] and "still fail " not in words[0] + " "


class _Folder:
    """What reproduce_warnings reads of a run folder: its reproduction.json and no version note."""

    def __init__(self, repro):
        self.repro = repro

    def artifact(self, name, default=None):
        return self.repro if name == "reproduction.json" else default


def test_a_rerun_that_reproduces_is_not_shown_in_the_warnings_red_box(monkeypatch):
    """The re-run report showed "Re-run check …: reproduces my_wavs" in the same red box as RANDOM WEIGHTS, as an
    alarm; a re-run that does not reproduce keeps the red box and its ⚠."""
    import workbench.views.provenance as prov

    monkeypatch.setattr(prov, "version_note", lambda rf: None)
    ok = "".join(prov.reproduce_warnings(_Folder({"line": "reproduces x: 3 rows", "reproduced": True, "reference_dir": "/r/x"})))
    bad = "".join(prov.reproduce_warnings(_Folder({"line": "!! does NOT reproduce x", "reproduced": False, "reference_dir": "/r/x"})))
    assert ok.startswith("<blockquote style='background:#efe") and "⚠" not in ok and "reproduces x: 3 rows" in ok
    assert bad.startswith("<blockquote><b>⚠ Re-run check</b>") and "does NOT reproduce x" in bad


def test_the_confidence_shift_counts_a_clip_without_a_speaker_as_no_speaker():
    """compare of the fine-tuning snippet's runs read "95 % interval resampling the 6 speakers" of the demo set's 5
    speakers and its tone, which has none; every other interval says "5 speakers and 1 clip without one"."""
    import numpy as np

    from workbench.analysis.compare.variants import _shift_interval
    from workbench.analysis.stats import speaker_resampling

    speakers = [f"s{i}" for i in range(5) for _ in range(4)] + [""]
    clusters, unit = speaker_resampling(speakers)
    _, n, words = _shift_interval(np.linspace(-0.1, 0.2, len(speakers)), clusters, unit, n_boot=50, seed=0)
    assert n == 21 and "resampling the 5 speakers and 1 clip without one" in words and "6 speakers" not in words
