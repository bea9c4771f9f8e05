"""A reviewer's walk through run, metrics, calibrate, probe, explain --worst and the report: each defect constructed,
then the fixed behaviour.  Runs are written through :class:`RunFolder` with rows and embeddings chosen here (no model).
"""

from __future__ import annotations

import json

import numpy as np

from test_probe import CLASSES, probe_set, synthetic_row, write_run
from workbench.analysis.probe import probe_run
from workbench.analysis.metrics import evaluate
from workbench.cli import main
from workbench.views import reporting


def test_metrics_restrict_names_the_file_it_wrote(tmp_path, capsys):
    """`metrics --restrict` writes metrics_restricted.json but said "metrics.json … written"."""
    rf = probe_set(tmp_path, "run", separable=True, speakers=2, per_class=2)
    assert main(["metrics", str(rf.path), "--restrict", "--no-figures", "--out", str(tmp_path / "m")]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert (tmp_path / "m" / "metrics_restricted.json").is_file() and not (tmp_path / "m" / "metrics.json").exists()
    assert last == f"metrics_restricted.json written to {tmp_path / 'm'}"


def test_a_run_whose_items_all_failed_is_told_to_fix_the_inputs_not_the_labels(tmp_path):
    """Every item labelled, every item failed: the fix said "give the manifest an emotion column"."""
    rows = [synthetic_row(f"f{i}", emotion="happy", status="failed") for i in range(3)]
    rows[0]["error"] = "f0.wav: could not decode: not a readable audio file. Fix: re-export it as WAV."
    report = evaluate(write_run(tmp_path / "bad", rows, [None] * 3).results(), n_boot=10)
    assert "0 ok item(s) have no label" in report.not_scored and "3 failed" in report.not_scored
    assert "emotion column" not in report.not_scored and "fix the failed inputs" in report.not_scored
    assert "(the first: f0.wav: could not decode" in report.not_scored
    # items that succeeded without labels still get the label fix
    unl = evaluate(write_run(tmp_path / "unl", [synthetic_row("u", emotion="", label="")], [[1.0, 0.0]]).results(), n_boot=10)
    assert "emotion column" in unl.not_scored


def test_one_test_set_spelled_two_ways_is_one_fold_named_as_the_corpus_wrote_it(tmp_path, capsys):
    """Train, Test1 and "Test 1": one test fold, but named "split" (which set was tested was not said anywhere)."""
    rng = np.random.default_rng(7)
    parts = ["Train"] * 12 + ["Test1", "Test 1"] * 3
    rows = [synthetic_row(f"t{i:02d}", emotion=CLASSES[i % 2], speaker=f"s{i % 3}", split=p) for i, p in enumerate(parts)]
    rf = write_run(tmp_path / "msp", rows, [np.eye(2)[i % 2] * 8 + rng.standard_normal(2) * 0.1 for i in range(len(rows))])
    res = probe_run(rf, scheme="split", n_boot=20)
    assert [(f["fold"], f["n_train"], f["n_test"]) for f in res.folds] == [("Test1", 12, 6)]
    assert main(["probe", str(rf.path), "--scheme", "split", "--bootstrap", "20", "--out", str(tmp_path / "p")]) == 0
    fold_lines = [x.split()[0] for x in capsys.readouterr().out.splitlines() if x.startswith("  ") and x.split()[0] not in ("fold", "excluded:", "!!", "intervals:")]
    assert fold_lines == ["Test1", "mean"]


def test_calibrate_names_the_column_its_folds_are_grouped_by_and_why_they_are_not(tmp_path):
    """`calibrate --scheme session` said "GroupKFold by speaker" and "split by speaker"; `--scheme none` said the folds
    were shuffled because "not every item has a speaker" (it was asked for)."""
    from test_calibration import planted_run
    from workbench.analysis.calibration import calibrate

    df = planted_run(n_speakers=8, per_speaker=40)
    df["session"] = [f"Session{int(s[1:]) // 2}" for s in df["speaker"]]  # 4 sessions of 2 speakers each
    rep = calibrate(df, by="session", folds=4, n_boot=10)
    assert rep.folds == "GroupKFold by session, 4 folds" and "(split by session)" in rep.conformal_protocol
    assert "speaker" not in rep.folds + rep.conformal_protocol
    none = calibrate(df, by=None, folds=4, n_boot=10)
    assert "not every item has a speaker" not in none.folds and "--scheme none" in none.folds
    df.loc[df.index[:3], "session"] = ""
    partial = calibrate(df, by="session", folds=4, n_boot=10)
    assert "not every item has a session, so items of one session may be in both" in partial.folds


def test_the_reliability_figure_does_not_credit_the_held_out_curve_to_the_all_items_temperature():
    """The "after" curve is the held-out folds, each under its own fold's T; the legend called it "after (T = <all-items
    fit>)" and gave ECE and AURC without the intervals the table prints beside the same numbers."""
    import matplotlib

    matplotlib.use("Agg")
    from test_calibration import planted_run
    from workbench.analysis.calibration import calibrate
    from workbench.analysis.calibration_plots import plot_reliability_before_after, plot_risk_coverage

    rep = calibrate(planted_run(n_speakers=6, per_speaker=40), folds=3, n_boot=20)
    legend = [t.get_text() for t in plot_reliability_before_after(rep).axes[0].get_legend().get_texts()]
    after = next(t for t in legend if t.startswith("after"))
    assert f"T = {rep.temperature:.2f}" not in after and "held-out folds" in after
    lo, hi = rep.ci_after["ece"]
    assert after.endswith(f"ECE {rep.after['ece']:.3f} [{lo:.3f}, {hi:.3f}]")
    curves = [t.get_text() for t in plot_risk_coverage(rep).axes[0].get_legend().get_texts()]
    lo, hi = rep.aurc_ci_before
    assert f"before: AURC {rep.aurc_before:.3f} [{lo:.3f}, {hi:.3f}]" in curves


def test_a_red_cell_of_explain_worst_names_the_check_that_failed(tmp_path, monkeypatch):
    """IG maps flagged UNSTABLE were drawn red with only "ins better · del better" in the cell, and the report's table had
    no column for the stability or completeness checks: nothing on the page said why the map failed."""
    import matplotlib

    matplotlib.use("Agg")
    from workbench.explain.worst import plot_worst, summary_record, write_summary
    from workbench.views import reporting

    def method(stable=True, complete=True):
        return {"reliable": stable and complete, "problems": [] if stable else ["UNSTABLE: maps … rank-correlate down to 0.07"],
                "deletion_verdict": "better than random", "insertion_verdict": "better than random",
                "completeness_passed": complete, "stability_passed": stable, "randomisation_passed": True,
                "randomisation_skipped": None}

    cases = [{"id": f"c{i}", "variant": "raw", "emotion": "sad", "pred": "happy", "confidence": 0.5, "error": None,
              "methods": {"ig": method(stable=i != 0, complete=i != 1), "occlusion": method()}} for i in range(3)]
    summary = summary_record(cases, rule="wrong first", n=3, m=10, variant="raw", settings={}, warning=None)
    assert summary["methods"]["ig"]["stability_failed"] == 1 and summary["methods"]["ig"]["completeness_failed"] == 1
    fig = plot_worst(summary)
    cells = [t.get_text() for t in fig.axes[0].texts]
    assert "ins better · del better · UNSTABLE" in cells and "ins better · del better · UNRELIABLE (completeness)" in cells
    assert cells.count("ins better · del better") == 4  # occlusion ×3 and the IG map that passed
    rf = write_run(tmp_path / "run", [synthetic_row(f"c{i}", emotion="sad", pred="happy") for i in range(3)], [[1.0, 0.0]] * 3)
    write_summary(rf, summary, fig)
    shown = []
    monkeypatch.setattr(reporting, "show_html", shown.append)
    monkeypatch.setattr(reporting, "_display", lambda obj: None)
    reporting.explained_worst(rf.path)
    assert "stability check failed (UNSTABLE)" in shown[-1] and "completeness check failed" in shown[-1]
    assert "<td><code>ig</code></td><td>1 of 3</td><td>3 of 3</td><td>3 of 3</td><td>0</td><td>0</td><td>0</td><td>1</td><td>1</td></tr>" in shown[-1].replace("\n", "")


def test_the_reports_calibration_section_says_aps_was_skipped_once_without_a_stutter(tmp_path, monkeypatch):
    """A two-class run's report read "Note: APS sets skipped, LAC sets only: …" and, above the sets' table, "APS sets
    skipped: APS sets skipped, LAC sets only: …": the same sentence twice, the second with its head said twice."""
    import matplotlib

    matplotlib.use("Agg")
    from test_calibration import planted_run
    from test_calibration_cli import _run_folder

    _run_folder(tmp_path / "run", planted_run(n_speakers=4, per_speaker=40, classes=("angry", "happy")))
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    rep = reporting.calibration_section(tmp_path / "run", n_boot=10)
    why = rep["conformal_skipped"]["aps"]
    html = "".join(str(getattr(o, "data", "")) for o in shown if type(o).__name__ == "HTML")
    core = why.removeprefix("APS sets skipped, ")
    assert html.count(core.split(",")[0]) == 1 and "<b>APS sets skipped:</b> LAC sets only: the corpus has 2 classes" in html
    assert "skipped: APS sets skipped" not in html and "Note:</b> APS sets skipped" not in html


def test_a_wrong_run_folder_is_told_what_it_is_and_which_runs_are_there(tmp_path, capsys):
    """`metrics runs/dem` said "is not a folder" (it does not exist), a manifest given for its run said the same, and
    `metrics runs` or an `infer` output folder said "holds no run" without naming the runs that are there."""
    runs = tmp_path / "runs"
    probe_set(runs, "demo", separable=True, speakers=2, per_class=1)
    probe_set(runs, "variants", separable=True, speakers=2, per_class=1)
    (tmp_path / "data.csv").write_text("id,path\n")
    infer_out = tmp_path / "outputs_1"
    infer_out.mkdir()
    (infer_out / "result.json").write_text("{}")

    def error(path):
        assert main(["metrics", str(path)]) == 2
        return capsys.readouterr().err

    err = error(runs / "dem")
    assert f"{runs / 'dem'}: does not exist." in err and f"the runs beside it: {runs / 'demo'}, {runs / 'variants'}." in err
    assert f"{tmp_path / 'data.csv'}: is a file, not a run folder." in error(tmp_path / "data.csv")
    err = error(runs)
    assert "holds no run (no config.yaml)" in err and f"the runs in it: {runs / 'demo'}, {runs / 'variants'}." in err
    assert "output folder of `workbench infer` (result.json), not a run" in error(infer_out)


def test_compare_shows_the_macro_f1_its_flags_are_about_with_its_interval(tmp_path, capsys):
    """`compare RUN` printed "!! macro-F1: zero-width interval …" under a line showing only WA and UAR; `compare A B`
    showed macro-F1 without the interval WA and UAR have."""
    rows, emb = [], []
    for v in ("raw", "tel"):
        for i in range(8):
            rows.append(synthetic_row(f"i{i}", emotion=CLASSES[i % 2], pred=CLASSES[(i // 2) % 2], speaker=f"s{i % 2}", variant=v))
            emb.append([float(i), 1.0])
    rf = write_run(tmp_path / "run", rows, emb)
    report = evaluate(rf.results(), variant="raw", n_boot=200)
    lo, hi = report.ci["macro_f1"]
    assert main(["compare", str(rf.path), "--bootstrap", "200", "--no-figures", "--out", str(tmp_path / "c")]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("raw: WA"))
    assert f"macro-F1 {report.macro_f1:.3f} [{lo:.3f}, {hi:.3f}]" in line
    other = write_run(tmp_path / "other", rows, emb)
    assert main(["compare", str(rf.path), str(other.path), "--bootstrap", "200", "--no-figures", "--out", str(tmp_path / "c2")]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.strip().startswith("A [raw]: WA"))
    assert f"macro-F1 {report.macro_f1:.3f} [{lo:.3f}, {hi:.3f}]" in line


def test_probe_flags_a_fold_whose_classes_differ_from_the_corpus_or_its_training_side(tmp_path, capsys):
    """Speaker folds where one speaker alone has "sad": the other folds' UAR averaged over fewer classes (another chance
    level) and that speaker's fold tested a class its training side never had (recall 0 by construction); nothing said so."""
    rng = np.random.default_rng(8)
    rows, emb = [], []
    for s in range(4):
        for i in range(6):
            cls = "sad" if s == 0 and i < 2 else CLASSES[i % 2]
            rows.append(synthetic_row(f"s{s}_{i}", emotion=cls, speaker=f"spk{s}"))
            emb.append(np.eye(3)[["angry", "happy", "sad"].index(cls)] * 8 + rng.standard_normal(3) * 0.1)
    rf = write_run(tmp_path / "run", rows, emb)
    assert main(["probe", str(rf.path), "--scheme", "speaker", "--folds", "4", "--bootstrap", "20", "--out", str(tmp_path / "p"),
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    notes = doc["fold_notes"]
    lonely = next(f for f in doc["folds"] if f["untrained_test_classes"])
    assert lonely["untrained_test_classes"] == ["sad"]
    assert f"fold {lonely['fold']}: its training side has no sad, which its test items have" in " ".join(notes)
    assert sum("UAR over 2 of 3 classes (its test items have no sad), so its chance level is 0.500, not 0.333" in n for n in notes) == 3
    assert main(["probe", str(rf.path), "--scheme", "speaker", "--folds", "4", "--bootstrap", "20", "--out", str(tmp_path / "p")]) == 0
    screen = capsys.readouterr().out
    assert all(f"!! {n}" in screen for n in notes)


def test_a_misspelt_choice_is_refused_with_the_closest_one_named(capsys):
    """`probe --scheme speakers` and `workbench metrcs` listed the choices but, unlike a misspelt option, named none."""
    for argv, hint in ((["probe", "runs/x", "--scheme", "speakers"], "did you mean 'speaker'?"),
                       (["metrcs", "runs/x"], "did you mean 'metrics'?")):
        try:
            main(argv)
        except SystemExit as exc:
            assert exc.code == 2
        err = capsys.readouterr().err
        assert f"invalid choice: {argv[-1] if argv[0] == 'probe' else argv[0]!r}; {hint}" in err and "choose from" in err


def test_the_variant_comparison_figure_titles_do_not_run_into_each_other(tmp_path):
    """The left panel's "0 label flips in 52 labelled items (+0 unlabelled)" and the right one's "!! zero-width ΔWA and
    ΔUAR interval: no uncertainty shown" were single lines wider than their panels: they overlapped on the page."""
    import matplotlib

    matplotlib.use("Agg")
    from workbench.analysis.compare.variants import compare_run, plot_comparison

    rows = [synthetic_row(f"i{i:02d}", emotion=CLASSES[i % 2], pred="neutral", speaker=f"s{i % 3}", variant=v)
            for v in ("raw", "telephone") for i in range(52)]
    rows += [synthetic_row("tone", emotion="", label="", variant=v) for v in ("raw", "telephone")]
    rf = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * len(rows))
    _, (comparison,), _ = compare_run(rf, n_boot=20, figures=False, out=tmp_path / "c")
    assert comparison.interval_flags()  # every prediction the same: zero-width deltas, flagged in the title
    fig = plot_comparison(rf.results(), comparison)
    renderer = fig.canvas.get_renderer()
    left, right = (ax.title.get_window_extent(renderer) for ax in fig.axes)
    assert left.x1 < right.x0, [ax.get_title() for ax in fig.axes]
    assert "(+0 among 1 unlabelled)" in fig.axes[0].get_title()


def test_explain_on_a_misspelt_run_folder_says_it_does_not_exist(tmp_path, capsys):
    """`explain runs/dem --worst 2` said "SOURCE is not a folder" (a word from --help, not the path), with no run named."""
    probe_set(tmp_path / "runs", "demo", separable=True, speakers=2, per_class=1)
    for extra in (["--worst", "2"], ["--item", "x"]):
        assert main(["explain", str(tmp_path / "runs" / "dem"), *extra]) == 2
        err = capsys.readouterr().err
        assert "dem: does not exist." in err and f"the runs beside it: {tmp_path / 'runs' / 'demo'}." in err and "SOURCE" not in err


def test_compare_of_runs_names_the_variants_it_left_out(tmp_path, capsys):
    """`compare A B` where B also has a telephone variant compared raw only and never said telephone was left out."""
    rows = [synthetic_row(f"i{i}", emotion=CLASSES[i % 2], speaker=f"s{i % 2}") for i in range(6)]
    a = write_run(tmp_path / "a", rows, [[1.0, float(i)] for i in range(6)])
    b = write_run(tmp_path / "b", rows + [{**r, "variant": "telephone"} for r in rows], [[1.0, float(i % 6)] for i in range(12)])
    assert main(["compare", str(a.path), str(b.path), "--bootstrap", "20", "--no-figures", "--out", str(tmp_path / "c")]) == 0
    assert "!! not compared (not in every run): B: telephone" in capsys.readouterr().out
    saved = json.loads((tmp_path / "c" / "comparison.json").read_text())
    assert saved["variants"] == ["raw"] and saved["unpaired_variants"] == {"B": ["telephone"]}
    assert main(["compare", str(a.path), str(b.path), "--variant", "raw", "--bootstrap", "20", "--no-figures",
                 "--out", str(tmp_path / "c2")]) == 0
    assert "not compared" not in capsys.readouterr().out  # asked for raw alone: nothing left out unasked


def test_the_run_summary_says_what_went_wrong_with_a_failed_item(tmp_path):
    """`workbench run` printed "failed: a [raw] (audio), b [raw] (audio)": the code, not what was wrong nor the fix."""
    import io
    from types import SimpleNamespace

    from workbench.cli.running import print_run_summary

    rows = [synthetic_row(f"f{i}", emotion="happy", status="failed") for i in range(2)] + [synthetic_row("ok", emotion="sad")]
    rows[0]["error"] = "notes.txt: could not decode: not a readable audio file. Fix: re-export it as WAV or FLAC."
    rows[0]["error_code"] = rows[1]["error_code"] = "audio"
    rf = write_run(tmp_path / "run", rows, [None, None, [1.0, 0.0]])
    result = SimpleNamespace(run_dir=rf.path, n_rows=3, n_failed=2, n_cached=0, n_resumed=0, seconds=0.1,
                             summary={"variants": {"raw": {"labelled": 1, "excluded_no_counterpart": 0, "failed": 2}}})
    buf = io.StringIO()
    print_run_summary(result, out=buf)
    text = buf.getvalue()
    assert "failed: f0 [raw] (audio), f1 [raw] (audio)" in text
    assert "  first error: notes.txt: could not decode: not a readable audio file. Fix: re-export it as WAV or FLAC." in text
