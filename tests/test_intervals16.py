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


def test_a_clustered_mcnemar_over_few_changed_clips_is_flagged_with_the_exact_p():
    """b 6, c 1 over seven speakers, one changed clip each: the clustered χ² p (0.059 here; 0.025 where found) reads
    as evidence the exact test (0.125) does not give; under 25 changed clips the p is flagged with the exact one beside it."""
    import numpy as np
    import pandas as pd
    from test_probe import synthetic_row

    from workbench.analysis.compare import compare_results
    from workbench.analysis.stats import clustered_mcnemar

    spk = [f"s{i % 7}" for i in range(70)]
    raw = [synthetic_row(f"i{i}", emotion="angry", pred="sad" if i == 6 else "angry", speaker=s)
           for i, s in enumerate(spk)]
    other = [dict(r, variant="denoised", pred="sad" if int(r["id"][1:]) < 6 else "angry") for r in raw]
    right_a = np.array([r["pred"] == r["emotion"] for r in raw])
    right_b = np.array([r["pred"] == r["emotion"] for r in other])
    got = clustered_mcnemar(right_a, right_b, spk)
    assert (got["b"], got["c"], got["discordant_clusters"]) == (6, 1, 7) and got["p"] < 0.1
    assert "only 7 clips changed (b 6, c 1)" in got["note"] and "exact McNemar p = 0.12" in got["note"]
    _, (c,), _ = compare_results(pd.DataFrame(raw + other), baseline="raw", n_boot=20)
    assert "only 7 clips changed" in c.interval_flags().get("mcnemar", "") and "only 7 clips changed" in c.render()
    assert "only 7 clips changed" in c.to_dict()["interval_flags"]["mcnemar"]


def test_the_confidence_shift_interval_resamples_speakers_where_they_are_known_and_says_so():
    """Each speaker's clips shift together (+0.2 for half the speakers, −0.1 for the others, a little noise): a t
    interval over the 120 clips was about a third as wide as the one over the 12 speakers every other interval uses."""
    import numpy as np
    import pandas as pd
    from test_probe import synthetic_row

    from workbench.analysis.compare import compare_results

    rng = np.random.default_rng(3)
    raw = [synthetic_row(f"i{i}", emotion="angry", pred="angry", speaker=f"s{i % 12}") for i in range(120)]
    other = [dict(r, variant="denoised") for r in raw]
    for k, r in enumerate(other):
        r["confidence"] = float(np.clip(raw[k]["confidence"] + (0.2 if k % 12 < 6 else -0.1) + rng.normal(0, 0.01), 0, 1))
    _, (c,), _ = compare_results(pd.DataFrame(raw + other), baseline="raw", n_boot=200)
    lo, hi = c.confidence_shift_ci
    shift = np.array([o["confidence"] - r["confidence"] for r, o in zip(raw, other)])
    t_half = 1.98 * shift.std(ddof=1) / np.sqrt(len(shift))
    assert hi - lo > 4 * t_half, (lo, hi, t_half)
    assert "interval resampling the 12 speakers" in c.render() and c.to_dict()["confidence_shift_unit"].startswith("interval resampling the 12")
    _, (plain,), _ = compare_results(pd.DataFrame([dict(r, speaker="") for r in raw + other]), baseline="raw", n_boot=50)
    assert "(95 % t interval over items, n=120)" in plain.render()


def test_a_two_group_uar_gap_gives_the_signed_difference_whose_interval_may_hold_0_and_more_groups_say_max_min_cannot():
    """Two groups of one skill (each clip right with p 0.75): max − min over resamples is never below 0, so "gap 0.088
    [0.006, 0.200]" read as a real gap; the signed difference's interval [−0.200, +0.038] holds 0 and says so."""
    import numpy as np

    from workbench.analysis.groups import analyse_groups, describe_gap

    rng = np.random.default_rng(5)  # by chance m leads f by 0.088: max − min's interval [0.006, 0.200] reads as a gap
    classes = ["angry", "sad"]
    t = np.array(classes * 80)
    p = np.where(rng.random(160) < 0.75, t, np.where(t == "angry", "sad", "angry"))
    g = np.array(["f", "f", "m", "m"] * 40)
    gap = analyse_groups(t, p, g, classes, by="gender", n_boot=300).disparities["uar"]
    assert gap["lo"] > 0 and gap["signed"]["of"] == "f − m" and gap["signed"]["lo"] < 0 < gap["signed"]["hi"]
    assert not gap["signed"]["excludes_0"] and "includes 0: no gap shown" in describe_gap(gap)
    three = analyse_groups(t, p, np.array(["a"] * 6 * 9 + ["b"] * 6 * 9 + ["c"] * 52), classes, by="x", n_boot=100).disparities["uar"]
    assert "signed" not in three and "≥ 0 by construction" in describe_gap(three)


def test_a_failed_class_coverage_on_the_page_shows_its_bh_q_as_the_screen_does(tmp_path, monkeypatch):
    """The page's per-class coverage table said "FAILED (below target)" without the Benjamini-Hochberg q over the
    classes that calibrate's screen prints beside it (one class failing of nine is about what chance gives)."""
    from test_calibration import planted_run

    from workbench.analysis.calibration import COVERAGE_FAIL
    from workbench.views import reporting

    real = reporting.calibrate

    def failing(*args, **kw):  # the first class's check failed, with its q (as conformal_summary leaves it)
        rep = real(*args, **kw)
        first = next(iter(rep.conformal["lac"]["per_class"].values()))
        first.update(check=COVERAGE_FAIL, direction="below", q=0.0123)
        return rep

    monkeypatch.setattr(reporting, "calibrate", failing)
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    _run_folder(tmp_path / "run", planted_run(n_speakers=4, per_speaker=60))
    reporting.calibration_section(tmp_path / "run", n_boot=20)
    html = "".join(str(getattr(o, "data", "")) for o in shown if type(o).__name__ == "HTML")
    assert "<b>FAILED (below target)</b>, BH q 0.012 over the classes" in html
