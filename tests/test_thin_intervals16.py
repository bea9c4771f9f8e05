"""Intervals that lost their resample counts before they were shown (checks16): calibrate's errors, AURC, accuracy at
coverage and T; the breakdown's groups; the cue probe's R² and Cliff's delta.  An interval from under 90 % of its
resamples is flagged wherever it is shown (screen, JSON, report); each test plants resamples where the figure is undefined."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
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


CLASSES = ["angry", "happy", "neutral", "sad"]


def _gendered(sad_speakers_f: int = 1):
    """Six women, six men; every man has 3 clips of each class, every woman 4 of angry/happy/neutral, and only
    ``sad_speakers_f`` of the women 6 sad clips: resampling the women's speakers, sad is missing from about a third of
    the resamples (5/6 ** 6), where their recall of sad is undefined.  One clip in four is predicted wrong."""
    from test_groups import _frame

    rows, gender = [], []
    for g, n_spk in (("f", 6), ("m", 6)):
        for s in range(n_spk):
            mix = ([("sad", 6)] if g == "f" and s < sad_speakers_f else []) + [(c, 4 if g == "f" else 3) for c in CLASSES if c != "sad"]
            mix += [("sad", 3)] if g == "m" else []
            for c, m in mix:
                for k in range(m):
                    rows.append((f"{g}{s}", c, c if k % 4 else CLASSES[(CLASSES.index(c) + 1) % 4]))
                    gender.append(g)
    df = _frame(rows)
    df["gender"] = gender
    return df


def test_a_group_whose_recall_is_undefined_in_many_resamples_is_flagged_on_screen_in_json_and_on_the_page(tmp_path, monkeypatch):
    from workbench.analysis.metrics import run_metrics
    from workbench.views import reporting

    _run_folder(tmp_path / "run", _gendered())
    rep = run_metrics(tmp_path / "run", by=("gender",), figures=False, n_boot=200)["raw"]
    f, m = rep.breakdowns["gender"]["f"], rep.breakdowns["gender"]["m"]
    assert f["ci_unit"] == "6 speakers" and f["ci_resamples"]["uar"] == {"kept": 200, "drawn": 200}
    kept = f["ci_resamples"]["recall_sad"]["kept"]
    assert 100 < kept < 170 and f["ci_resamples"]["recall_angry"]["kept"] == 200, f["ci_resamples"]
    words = f"recall of sad undefined in {200 - kept} of 200 resamples"
    assert words in f["note"] and "recall of sad undefined" not in m["note"]
    screen = next(line for line in rep.render().splitlines() if "by gender" in line)
    assert words in screen.split(" m ")[0], screen
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())["raw"]
    assert words in saved["breakdowns"]["gender"]["f"]["note"]
    assert saved["breakdowns"]["gender"]["f"]["ci_resamples"]["recall_sad"] == {"kept": kept, "drawn": 200}
    gap = saved["disparities"]["gender"]["recall"]["sad"]  # the women's sad recall missing: no gap over both groups there
    assert gap["resamples"] == {"kept": kept, "drawn": 200} and f"interval from {kept} of 200 resamples" in gap["note"]
    shown = []
    monkeypatch.setattr(reporting, "show_html", shown.append)
    monkeypatch.setattr(reporting, "show_figure", lambda fig, **_: None)
    reporting.metrics_section(tmp_path / "run", by=["gender"], n_boot=200)
    page = shown[0].split("by gender")[1]
    assert words in page


def test_a_group_whose_classes_are_in_every_resample_is_not_flagged():
    from workbench.analysis.metrics import evaluate

    rep = evaluate(_gendered(sad_speakers_f=6), variant="raw", by=("gender",), n_boot=200)
    f = rep.breakdowns["gender"]["f"]
    assert f["ci_resamples"]["recall_sad"] == {"kept": 200, "drawn": 200} and "undefined" not in f["note"]


def test_a_cue_r2_undefined_in_many_speaker_resamples_is_counted_and_said_on_screen_and_in_json(tmp_path):
    """A cue that only one of six speakers varies: a resample without that speaker has one value, R² undefined (about a
    third of them); those draws were dropped without a count."""
    from test_features_cli import _probe_planted

    probe, report, shown = _probe_planted(tmp_path, n=60, speakers=6, bootstrap=200,
                                          other=("one_voice", lambda rng, n: (np.arange(n) % 6 == 0).astype(float)))
    row = probe.set_index("cue").loc["one_voice"]
    assert row["drawn"] == 200 and 100 < row["kept"] < 170, row
    words = f"one_voice: interval from {row['kept']} of 200 resamples"
    assert words in row["note"] and "R² is undefined in the others" in row["note"]
    assert probe.set_index("cue").loc["carried", "kept"] == 200 and "resamples" not in probe.set_index("cue").loc["carried", "note"]
    assert any(line.startswith("!! R² intervals: ") and words in line for line in shown), shown
    saved = {r["cue"]: r for r in report["probe"]}["one_voice"]
    assert saved["kept"] == row["kept"] and saved["drawn"] == 200 and words in saved["note"]


def test_a_cliffs_delta_undefined_in_many_speaker_resamples_is_marked_on_screen_and_in_json():
    """Class A is one speaker's: a resample of the six speakers without it has no A side, its delta undefined."""
    import argparse

    from workbench.cli.features import _differences
    from workbench.explain.cues import cue_differences

    spk = np.repeat(np.arange(6), 20)
    measured = pd.DataFrame({"f0": np.where(spk == 0, 200.0, 100.0) + np.random.default_rng(0).standard_normal(len(spk)),
                             "pred": np.where(spk == 0, "A", "B"), "speaker": [f"s{s}" for s in spk]})
    row = cue_differences(measured, cues=["f0"], n_boot=200).set_index("label").loc["A"]
    assert row["drawn"] == 200 and 100 < row["kept"] < 170 and row["thin"] == f"!! {row['kept']} of 200 resamples"
    shown, report = [], {}
    _differences(argparse.Namespace(by="pred", bootstrap=200, seed=0), measured, report, shown.append)
    assert any(row["thin"] in line for line in shown), shown
    assert {r["label"]: r["thin"] for r in report["compared"]}["A"] == row["thin"]
    items = cue_differences(measured.drop(columns="speaker"), cues=["f0"], n_boot=200).set_index("label").loc["A"]
    assert (items["kept"], items["drawn"], items["thin"]) == (200, 200, "")  # each side resampled within itself


def _one_speaker_class():
    """Twelve speakers with angry and happy clips (one of four wrong); sad is one speaker's only (3 of 4 right), so a
    resample of the speakers without it (about (11/12)^12, a third) neither holds nor predicts sad."""
    from test_groups import _frame

    rows = [(f"s{s}", c, c if k else ("happy" if c == "angry" else "angry")) for s in range(12) for c in ("angry", "happy")
            for k in range(4)]
    rows += [("s0", "sad", "sad" if k else "angry") for k in range(4)]
    return _frame(rows)


def test_a_class_precision_and_recall_over_speakers_from_too_few_resamples_are_flagged_on_screen_in_json_and_on_the_page(tmp_path, monkeypatch):
    from workbench.analysis.metrics import run_metrics
    from workbench.views import reporting

    _run_folder(tmp_path / "run", _one_speaker_class())
    rep = run_metrics(tmp_path / "run", by=(), figures=False, n_boot=200)["raw"]
    assert rep.ci_unit["unit"] == "speaker"
    sad = rep.per_class["sad"]
    kept = sad["recall_resamples"]["kept"]
    assert 100 < kept < 170 and sad["precision_resamples"]["kept"] == kept and rep.per_class["angry"]["recall_resamples"]["kept"] == 200
    # precision and recall of sad, said in one sentence with each one's count (walk18)
    words = f"intervals from under 90% of their resamples (precision of sad {kept} of 200, recall of sad {kept} of 200)"
    assert f"!! per-class precision and recall: {words}" in rep.render()
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())["raw"]
    assert words in saved["flags"]["class_shares"] and saved["per_class"]["sad"]["recall_resamples"] == {"kept": kept, "drawn": 200}
    shown = []
    monkeypatch.setattr(reporting, "show_html", shown.append)
    monkeypatch.setattr(reporting, "show_figure", lambda fig, **_: None)
    out = reporting.metrics_section(tmp_path / "run", by=[], n_boot=200)
    assert f"⚠ per-class precision and recall: {words}" in shown[0] and words in out["raw"]["class_shares"]


def test_the_probe_fold_interval_counts_the_draws_it_dropped():
    from workbench.analysis.interval_rule import resamples_kept
    from workbench.analysis.probe_intervals import interval

    assert resamples_kept(interval(np.array([0.1, np.nan, 0.3, np.inf, 0.2]))) == {"kept": 3, "drawn": 5}


def _class_sets(covered: dict[int, int], k: int = 9, n: int = 60):
    """Sets over ``k`` classes of ``n`` items each holding the true class for ``covered[j]`` items of class j (54 of 60,
    the 0.9 target, elsewhere) and every class but it for the rest."""
    y = np.repeat(np.arange(k), n)
    sets = np.ones((len(y), k), dtype=bool)
    for j in range(k):
        rows = np.flatnonzero(y == j)[covered.get(j, 54):]
        sets[rows, j] = False
    return sets, y, [f"c{j}" for j in range(k)]


def test_calibrates_per_class_coverage_checks_are_read_as_a_family_of_the_classes_checked():
    """Nine classes each checked at 95 %: a class at 48 of 60 fails its own interval, as one of nine does by chance;
    after Benjamini-Hochberg over the nine it does not, where a class at 30 of 60 still does."""
    from scipy.stats import binomtest, false_discovery_control

    import workbench.analysis.calibration_measures as C
    from workbench.analysis.conformal_groups import conformal_line

    sets, y, classes = _class_sets({1: 48})
    d = C.conformal_summary({"lac": sets}, y, classes, alpha=0.1)["lac"]
    ps = [binomtest(54 if j != 1 else 48, 60, 0.9).pvalue for j in range(9)]
    assert d["per_class"]["c1"]["check"] == C.COVERAGE_FAIL and d["per_class"]["c1"]["p"] == pytest.approx(ps[1])
    assert d["per_class"]["c1"]["q"] == pytest.approx(false_discovery_control(ps, method="bh")[1]) and d["per_class"]["c1"]["q"] > 0.05
    checks, words = C.conformal_checks({"lac": d})
    assert checks["set_coverage"]["lac"]["failed_classes"] == ["c1"] and checks["set_coverage"]["lac"]["failed_classes_after_bh"] == []
    assert "9 classes checked, each at 95 %: about 0.45 would fail by chance alone; after Benjamini-Hochberg over them none fails" in words[0]
    assert f"c1 0.80/8.80 (n=60) [0.68, 0.89] FAILED (below target), BH q {d['per_class']['c1']['q']:.2g} over the classes" in conformal_line("lac", d, 0.1)
    sets, y, classes = _class_sets({1: 48, 2: 30})
    checks, words = C.conformal_checks(C.conformal_summary({"lac": sets}, y, classes, alpha=0.1))
    assert checks["set_coverage"]["lac"]["failed_classes_after_bh"] == ["c2"] and "after Benjamini-Hochberg over them c2 q = " in words[0]


def test_a_kappa_undefined_in_many_resamples_is_said_beside_it_on_screen_in_json_and_on_the_page(tmp_path, capsys):
    """Two runs that call every clip neutral but one (angry in both): a resample without that clip has one label
    throughout, kappa 0/0 (about (23/24)^24, a third of them); compare printed its interval as one from every resample."""
    from test_probe import synthetic_row, write_run

    from workbench.analysis.compare import compare_runs

    runs = []
    for name in ("A", "B"):
        rows = [synthetic_row(f"i{k}", emotion="neutral", pred="angry" if k == 0 else "neutral") for k in range(24)]
        runs.append(write_run(tmp_path / name, rows, [[1.0, float(k)] for k in range(24)], checksum="a" * 64))
    cmp = compare_runs(runs, n_boot=200)
    (ag,) = cmp.agreement.to_dict(orient="records")
    kept = ag["kappa_resamples_kept"]
    assert ag["kappa_resamples_drawn"] == 200 and 100 < kept < 170, ag
    words = f"kappa interval from {kept} of 200 resamples"
    assert f"!! kappa and top-1 agreement intervals: {words}" in cmp.render() and words in cmp.html()
    assert main(["compare", str(runs[0].path), str(runs[1].path), "--out", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out  # the command's own resamples (1000)
    saved = json.loads((tmp_path / "cmp" / "comparison.json").read_text())["agreement"][0]
    words = f"kappa interval from {saved['kappa_resamples_kept']} of {saved['kappa_resamples_drawn']} resamples"
    assert f"!! kappa and top-1 agreement intervals: {words}" in out and words in saved["interval_note"]
