"""Conformal coverage is checked, not just printed: an exact binomial interval per score and per class, a verdict
against 1 − alpha, and a flag on sets that hold nearly every class (screen, calibration.json, figure, report)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from test_calibration_cli import _run_folder
from workbench.analysis import calibration as C
from workbench.analysis.calibration_measures import COVERAGE_FAIL, COVERAGE_PASS, COVERAGE_TOO_FEW, coverage_check
from workbench.cli import main
from workbench.labels import LABEL_KEYS


def _exact(k, n):
    ci = binomtest(k, n).proportion_ci(method="exact")
    return ci.low, ci.high


@pytest.mark.parametrize("k,n", [(8, 15), (45, 52), (200, 200), (1, 1), (0, 1), (13, 15)])
def test_the_coverage_check_fails_exactly_when_the_target_is_outside_the_clopper_pearson_interval(k, n):
    target = 0.9
    got = coverage_check(k, n, target)
    lo, hi = _exact(k, n)
    assert got["ci"] == pytest.approx((lo, hi)) and got["n"] == n and got["coverage"] == pytest.approx(k / n)
    # the check could fail for some outcome 0..n only when the extreme outcomes' intervals exclude the target
    decidable = _exact(0, n)[1] < target or _exact(n, n)[0] > target
    if not lo <= target <= hi:
        assert got["verdict"] == COVERAGE_FAIL and got["direction"] == ("below" if hi < target else "above")
    else:
        assert got["verdict"] == (COVERAGE_PASS if decidable else COVERAGE_TOO_FEW) and got["direction"] == ""


def _sets_missing_one_class(n_per_class=15, k=5, missed=1):
    """Sets of every class but the true one for class ``missed`` half the time; full coverage elsewhere; one class with n=1."""
    y = np.concatenate([np.repeat(np.arange(k - 1), n_per_class), [k - 1]])
    sets = np.ones((len(y), k), dtype=bool)
    rows = np.flatnonzero(y == missed)[::2]
    sets[rows, missed] = False
    return sets, y, [f"c{j}" for j in range(k)]


def test_a_class_far_below_the_target_and_nearly_full_sets_are_flagged_in_the_checks_and_words():
    sets, y, classes = _sets_missing_one_class()
    summary = C.conformal_summary({"lac": sets}, y, classes, alpha=0.1)
    d = summary["lac"]
    per = d["per_class"]
    hits = sets[np.arange(len(y)), y]
    assert d["coverage_ci"] == pytest.approx(_exact(int(hits.sum()), len(y)))
    assert per["c1"]["check"] == COVERAGE_FAIL and per["c1"]["direction"] == "below"
    assert per["c1"]["coverage_ci"] == pytest.approx(_exact(int(hits[y == 1].sum()), int((y == 1).sum())))
    assert per["c4"]["n"] == 1 and per["c4"]["check"] == COVERAGE_TOO_FEW
    assert d["mean_size"] >= 0.9 * len(classes) and d["uninformative"]
    checks, words = C.conformal_checks(summary)
    lac = checks["set_coverage"]["lac"]
    assert lac["failed_classes"] == ["c1"] and lac["too_few_classes"] == ["c4"] and checks["set_size"]["lac"]["uninformative"]
    assert len(words) == 1 and "c1" in words[0] and "uninformative" in words[0] and "FAIL" in words[0]
    line = C.conformal_line("lac", d, 0.1)
    assert "c1" in line and "FAILED (below target)" in line and "too few items to check" in line and "UNINFORMATIVE" in line


def _one_class_with_nearly_full_sets(k=6, n_per_class=20):
    """Every set holds the true class; class c0's sets hold every class but one on a third of its items (mean 5.65 of
    6, at least 90 %), every other class's only its own: overall the sets average 1.78 of 6, far from uninformative."""
    y = np.repeat(np.arange(k), n_per_class)
    sets = np.zeros((len(y), k), dtype=bool)
    sets[np.arange(len(y)), y] = True
    rows = np.flatnonzero(y == 0)
    sets[rows] = True
    sets[rows[::3], 1] = False
    return sets, y, [f"c{j}" for j in range(k)]


def test_a_class_whose_own_sets_hold_nearly_every_class_is_flagged_uninformative_on_its_own():
    sets, y, classes = _one_class_with_nearly_full_sets()
    d = C.conformal_summary({"lac": sets}, y, classes, alpha=0.1)["lac"]
    per = d["per_class"]
    c0_size = float(sets[y == 0].sum(axis=1).mean())
    assert per["c0"]["mean_size"] == pytest.approx(c0_size) and c0_size >= 0.9 * len(classes)
    assert not d["uninformative"] and d["mean_size"] < 0.9 * len(classes)  # overall the sets say something
    assert per["c0"]["uninformative"] and not any(per[c]["uninformative"] for c in classes[1:])
    checks, words = C.conformal_checks({"lac": d})
    assert checks["set_size"]["lac"]["uninformative_classes"] == ["c0"] and not checks["set_size"]["lac"]["uninformative"]
    assert len(words) == 1 and f"c0 ({c0_size:.2f}, n=20)" in words[0] and "uninformative for that class" in words[0]
    line = C.conformal_line("lac", d, 0.1)
    segments = re.split(r", (?=c\d )", line.split("; per class coverage/size (n) [interval]: ")[1])
    assert len(segments) == len(classes)
    assert [seg.split()[0] for seg in segments if seg.endswith("UNINFORMATIVE")] == ["c0"]


def test_the_report_and_the_figure_flag_a_class_whose_sets_are_uninformative(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from workbench.views import reporting

    sets, y, classes = _one_class_with_nearly_full_sets()
    report = C.calibrate(_near_uniform_rows(), by="speaker", n_boot=10)
    report.classes = classes
    report.conformal = C.conformal_summary({"lac": sets}, y, classes, alpha=report.alpha)
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    monkeypatch.setattr(reporting, "calibrate", lambda *a, **k: report)
    _run_folder(tmp_path / "run", _near_uniform_rows())
    reporting.calibration_section(tmp_path / "run", n_boot=10)
    html = "".join(str(getattr(o, "data", "")) for o in shown if type(o).__name__ == "HTML")
    c0_size = report.conformal["lac"]["per_class"]["c0"]["mean_size"]
    assert f"{c0_size:.3f} <b>uninformative</b>" in html and html.count("<b>uninformative</b>") == 1
    fig = C.plot_set_sizes(report)
    assert "LAC uninformative for c0" in fig.axes[0].get_title().split("⚠")[-1].replace("\n", " ")
    assert fig.axes[0].title.get_color() == "crimson"  # as every flagged figure's title (it was black here alone)
    plt.close(fig)


def _near_uniform_rows(n=120, seed=0):
    """The demo's shape with a random-weight model: near-uniform scores, so the sets hold almost every class."""
    rng = np.random.default_rng(seed)
    classes = ["angry", "happy", "neutral", "sad", "surprised"]
    rows = []
    for i in range(n):
        p = rng.dirichlet(np.ones(len(LABEL_KEYS)) * 0.3)
        rows.append({"id": f"i{i}", "variant": "raw", "status": "ok", "emotion": classes[i % 5], "speaker": f"s{i % 6}",
                     "pred": LABEL_KEYS[int(np.argmax(p))], "confidence": float(p.max()),
                     **{f"score_{k}": float(v) for k, v in zip(LABEL_KEYS, p)}})
    return pd.DataFrame(rows)


def test_calibrate_shows_the_coverage_interval_and_the_uninformative_flag_on_screen_json_and_figure(tmp_path, capsys):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir = tmp_path / "run"
    _run_folder(run_dir, _near_uniform_rows())
    assert main(["calibrate", str(run_dir), "--bootstrap", "20", "--out", str(tmp_path / "cal")]) == 0
    out = capsys.readouterr().out
    saved = json.loads((tmp_path / "cal" / "calibration.json").read_text())
    rep = saved["variants"]["raw"]
    for s in ("lac", "aps"):
        d = rep["conformal"][s]
        covered = round(d["coverage"] * d["n"])
        assert d["coverage_ci"] == pytest.approx(_exact(covered, d["n"]))
        assert rep["checks"]["set_coverage"][s]["verdict"] == d["check"]
        assert rep["checks"]["set_size"][s]["uninformative"] == (d["mean_size"] >= 0.9 * len(rep["classes"]))
        # the same rule for each class, in calibration.json and its checks
        flagged = [c for c, v in d["per_class"].items() if v["mean_size"] >= 0.9 * len(rep["classes"])]
        assert [c for c, v in d["per_class"].items() if v["uninformative"]] == flagged
        assert rep["checks"]["set_size"][s]["uninformative_classes"] == flagged
        lo, hi = d["coverage_ci"]
        assert f"coverage {d['coverage']:.3f} [{lo:.3f}, {hi:.3f}]" in out
    assert any(rep["checks"]["set_size"][s]["uninformative"] for s in ("lac", "aps"))  # near-uniform scores: near-full sets
    assert "sets are uninformative" in out and any("uninformative" in w for w in saved["warnings"]["raw"])
    # the conformal failures are no reason against the temperature
    assert not any("uninformative" in w for w in saved["not_recommended_because"])

    report = C.calibrate(_near_uniform_rows(), by="speaker", n_boot=10)
    fig = C.plot_set_sizes(report)
    ax = fig.axes[0]
    target = 1 - report.alpha
    assert any(list(line.get_ydata()) == [target, target] for line in ax.get_lines())  # the target line
    ticks = [t.get_text() for t in ax.get_xticklabels()]
    per = report.conformal["lac"]["per_class"]
    assert all(f"n={per[c]['n']}" in t for c, t in zip(report.classes, ticks))
    assert "uninformative" in ax.get_title().split("⚠")[-1].replace("\n", " ")
    plt.close(fig)


def test_the_set_sizes_figure_hatches_a_failed_class_and_names_it_in_the_title():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sets, y, classes = _sets_missing_one_class()
    report = C.calibrate(_near_uniform_rows(), by="speaker", n_boot=10)
    report.classes = classes
    report.conformal = C.conformal_summary({"lac": sets}, y, classes, alpha=report.alpha)
    fig = C.plot_set_sizes(report)
    ax = fig.axes[0]
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert len(hatched) == 1 and "c1" in ax.get_title().split("⚠")[-1].replace("\n", " ")
    assert any("too few" in t.get_text() for t in ax.get_xticklabels())  # the n=1 class is not read as a pass
    plt.close(fig)


def test_the_report_section_shows_the_interval_and_the_check(tmp_path, monkeypatch):
    from workbench.views import reporting

    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    _run_folder(tmp_path / "run", _near_uniform_rows())
    out = reporting.calibration_section(tmp_path / "run", n_boot=20)
    html = "".join(str(getattr(o, "data", "")) for o in shown if type(o).__name__ == "HTML")
    d = out["conformal"]["lac"]
    assert f"{d['coverage']:.3f} [{d['coverage_ci'][0]:.3f}, {d['coverage_ci'][1]:.3f}]" in html
    assert "Clopper–Pearson" in html and "<b>uninformative</b>" in html and "sets are uninformative" in html


def test_all_classes_names_the_models_classes_never_the_corpus_s(tmp_path, capsys):
    """`--all-classes` calibrates over the model's classes: the ECE's class set must not be called the corpus's."""
    from test_calibration import planted_run

    df = planted_run(n_speakers=4, per_speaker=30)
    corpus = sorted(set(df["emotion"]))
    _run_folder(tmp_path / "run", df)
    assert main(["calibrate", str(tmp_path / "run"), "--all-classes", "--bootstrap", "10", "--folds", "2", "--no-figures",
                 "--out", str(tmp_path / "cal")]) == 0
    out = capsys.readouterr().out
    saved = json.loads((tmp_path / "cal" / "calibration.json").read_text())["variants"]["raw"]
    model_classes = saved["classes"]
    assert len(model_classes) > len(corpus) and not saved["restricted"]
    assert "corpus" not in saved["ece_by_class_set"]
    for text in (out, json.dumps(saved)):
        assert f"the corpus's {len(model_classes)} classes" not in text and "the corpus's" not in text
    (entry,) = saved["ece_by_class_set"].values()
    assert entry["classes"] == model_classes and f"all {len(model_classes)} model classes" in entry["label"]
    assert f"over all {len(model_classes)} model classes" in out
    # without --all-classes both class sets are still named side by side
    rep = C.calibrate(df, n_boot=10, folds=2)
    assert f"the corpus's {len(corpus)} classes" in rep.ece_by_class_set["corpus"]["label"] and "model" in rep.ece_by_class_set


def uncalibrated_page(tmp_path, monkeypatch, n: int) -> str:
    """The report's calibration section for a run of ``n`` near-uniform items (too few to calibrate): its HTML."""
    from workbench.views import reporting

    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    _run_folder(tmp_path / "run", _near_uniform_rows(n=n))
    assert reporting.calibration_section(tmp_path / "run", n_boot=20) is None
    return "".join(str(getattr(o, "data", "")) for o in shown if type(o).__name__ == "HTML")


def test_a_report_that_cannot_calibrate_names_the_command_whose_options_its_fix_gives(tmp_path, monkeypatch):
    """A report on 18 labelled items said "Not calibrated: … Fix: pass a larger --alpha (above 0.167 …), fewer --folds":
    options of `workbench calibrate` that the report page does not take. It says so and gives the command."""
    html = uncalibrated_page(tmp_path, monkeypatch, 18)
    assert "Not calibrated:" in html and "--alpha" in html, html
    assert "This page tried alpha 0.1" in html and f"<code>workbench calibrate {tmp_path / 'run'} --alpha ALPHA</code>" in html, html


def test_the_skipped_fusion_section_speaks_to_the_reader_not_of_the_tracker(tmp_path, monkeypatch):
    """The report's fusion note said "took most of the report's time (issue #28)": a number from the project's tracker,
    which a reader of the page has no way to open."""
    from workbench.views import reporting

    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    _run_folder(tmp_path / "run", _near_uniform_rows(n=18))
    assert reporting.fusion_skipped(tmp_path / "run") is None
    html = "".join(str(getattr(o, "data", "")) for o in shown if type(o).__name__ == "HTML")
    assert "Not run in this report" in html and "issue #" not in html and "-p fusion=true" in html, html
