"""What a new user met on a walk through the commands (issue #27): each defect constructed, then the fixed behaviour;
and ``--json`` on the analysis commands: one strict JSON document on stdout, nothing else there.

The runs are written through :class:`RunFolder` with rows and embeddings chosen here (no model), so these are quick.
"""

from __future__ import annotations

import json
import shlex

import pandas as pd
import pytest

from test_probe import probe_set, synthetic_row, write_run
from workbench.analysis.calibration import calibrate, check_enough_items
from workbench.analysis.compare import compare_runs
from workbench.analysis.compare.runs import kappa_note
from workbench.analysis.metrics import evaluate
from workbench.cli import main
from workbench.errors import ConfigError
from workbench.labels import RANDOM_WEIGHTS_BANNER
from workbench.runs.folder import RESULTS
from workbench.views import reporting


def strict(text: str):
    """``json.loads`` that refuses NaN and Infinity (the strict JSON ``--json`` promises)."""
    def refuse(name):
        raise ValueError(f"non-strict JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


# ------------------------------------------------------------------ compare: kappa n/a says why, top k says of N

def test_kappa_note_names_the_reason():
    assert kappa_note([], []).startswith("no paired items")
    assert "one label 'neutral'" in kappa_note(["neutral"] * 3, ["neutral"] * 3) and "0/0" in kappa_note(["x"], ["x"])
    assert kappa_note(["x", "y", "x"], ["x", "y", "y"]) == ""  # defined: no note
    # one run constant: kappa is 0 by construction, and its bootstrap interval [0, 0] has no width (said, not left bare)
    note = kappa_note(["x", "y", "x"], ["x", "x", "x"])
    assert "0 by construction" in note and "'x'" in note and "no width" in note
    from workbench.analysis.stats import kappa_interval
    assert kappa_interval(["x", "y", "x"], ["x", "x", "x"], n=200) == (0.0, 0.0)


def test_compare_says_why_kappa_is_na_and_how_many_items_the_top_k_is_of(tmp_path, capsys):
    a = probe_set(tmp_path, "A", separable=True, speakers=2, per_class=2)  # every item predicted neutral in both runs
    b = probe_set(tmp_path, "B", separable=True, speakers=2, per_class=2)
    cmp = compare_runs([a, b], n_boot=20)
    (ag,) = cmp.agreement.to_dict(orient="records")
    assert ag["kappa"] != ag["kappa"] and "one label 'neutral'" in ag["kappa_note"]
    text = cmp.render(top=5)
    line = next(x for x in text.splitlines() if x.startswith("B vs A") and "kappa" in x)
    assert "kappa n/a (both runs give all 16 paired item(s) the one label 'neutral'" in line
    # identical scores: no item is listed as different, and the line says of how many paired items
    assert "most different items: none; all 16 paired items have the same scores" in text
    # the CLI prints the same, and --json carries the note
    assert main(["compare", str(a.path), str(b.path), "--bootstrap", "20", "--no-figures", "--out", str(tmp_path / "cmp"), "--json"]) == 0
    doc = strict(capsys.readouterr().out)
    assert "one label" in doc["agreement"][0]["kappa_note"] and doc["written_to"] == str(tmp_path / "cmp")


# ------------------------------------------------------------------ features: validate first, then the banner

def test_features_fails_on_a_corrupt_results_table_before_printing_anything(tmp_path, capsys):
    rows = [synthetic_row(f"i{k}", emotion="happy", speaker="s1") for k in range(3)]
    rf = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * 3, random_weights=True)
    (rf.path / RESULTS).write_bytes(b"PAR1 this is not a parquet file")
    code = main(["features", str(rf.path)])
    captured = capsys.readouterr()
    assert code == 2 and captured.out == ""  # no banner (or anything) before the refusal
    assert RESULTS in captured.err and "error:" in captured.err


# ------------------------------------------------------------------ calibrate: the fix that applies

def test_too_few_items_to_calibrate_is_told_the_real_fix():
    with pytest.raises(ConfigError) as few:
        check_enough_items(3, 4, 5, variant="raw")
    assert "--folds" not in few.value.fix and "label more items" in few.value.fix
    with pytest.raises(ConfigError) as folds:
        check_enough_items(7, 4, 5, variant="raw")
    assert "`workbench calibrate RUN --folds 3`" in folds.value.fix  # 7 items: 3 folds of at least 2 each
    with pytest.raises(ConfigError) as one_class:
        check_enough_items(40, 1, 5, variant="raw")
    assert "2 or more classes" in one_class.value.fix and "--folds" not in one_class.value.fix
    check_enough_items(10, 2, 5, variant="raw")  # enough: no error


def test_calibrate_on_three_items_does_not_suggest_fewer_folds(tmp_path):
    rows = [synthetic_row(f"i{k}", emotion=e, pred=e, speaker=f"s{k}") for k, e in enumerate(["happy", "sad", "happy"])]
    rf = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * 3)
    with pytest.raises(ConfigError) as exc:
        calibrate(rf.results(), folds=2, n_boot=10)
    assert "3 labelled item(s)" in str(exc.value) and "--folds" not in exc.value.fix


def test_the_reports_calibration_section_names_the_command_that_has_folds(tmp_path, monkeypatch):
    rows = [synthetic_row(f"i{k}", emotion=e, pred=e, speaker=f"s{k}") for k, e in enumerate(["happy", "sad"] * 3 + ["happy"])]
    rf = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * 7)
    shown = []
    monkeypatch.setattr(reporting, "show_html", shown.append)
    assert reporting.calibration_section(rf.path, n_boot=10) is None  # 7 items: too few for 5 folds
    # `workbench report` has no --folds: the fix names the command that has it
    assert "Not calibrated" in shown[-1] and "run <code>workbench calibrate RUN --folds 3</code>" in shown[-1]
    assert "pass --folds" not in shown[-1]


# ------------------------------------------------------------------ findings: sentences, not "test).;"

def test_worst_cases_joins_the_suggestions_as_sentences(tmp_path, monkeypatch):
    findings = json.dumps([
        {"code": "small_margin", "suggestion": "the two leading classes are nearly tied (run the stability test)."},
        {"code": "low_confidence", "suggestion": "listen to the clip"},
    ])
    rows = [{**synthetic_row(f"i{k}", emotion="happy", pred="sad", speaker="s1"), "findings": findings, "margin": 0.01} for k in range(3)]
    rf = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * 3)
    shown = []
    monkeypatch.setattr(reporting, "show_html", shown.append)
    monkeypatch.setattr(reporting, "_display", lambda obj: None)
    reporting.worst_cases(rf.path, n=2)
    item = next(h for h in shown if "i0" in h or "i1" in h)
    assert ".;" not in item and "(run the stability test). " in item and "listen to the clip." in item
    assert "showing 2 of the 3 wrong among 3 labelled rows" in shown[0]


def test_worst_cases_name_the_variant_and_the_rows_they_are_drawn_from(tmp_path, monkeypatch):
    """A run of two variants showed 'Wrong predictions, the most confident first (showing 4 of 4)': the first variant's
    wrong rows only, with neither the variant nor the labelled rows they were counted among named."""
    rows = [{**synthetic_row(f"i{k}", emotion="happy", pred="sad" if k < 2 else "happy", speaker="s1", variant=v), "margin": 0.1}
            for v in ("raw", "telephone") for k in range(5)]
    rf = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * len(rows))
    shown = []
    monkeypatch.setattr(reporting, "show_html", shown.append)
    monkeypatch.setattr(reporting, "_display", lambda obj: None)
    reporting.worst_cases(rf.path, n=5)
    assert "of variant <code>raw</code> (the first of 2: <code>raw</code>, <code>telephone</code>)" in shown[0], shown[0]
    assert "showing 2 of the 2 wrong among 5 labelled rows" in shown[0]
    shown.clear()
    reporting.worst_cases(rf.path, n=5, variant="telephone")
    assert "of variant <code>telephone</code> (showing 2 of the 2 wrong among 5 labelled rows)" in shown[0], shown[0]


@pytest.mark.parametrize("statuses, suggested", [(["ok", "ok", "failed"], "--worst 2"), (["ok"] * 7, "--worst 5"), (["failed"] * 2, None)])
def test_the_reports_explain_suggestion_asks_for_no_more_rows_than_the_run_has(tmp_path, monkeypatch, statuses, suggested):
    rows = [synthetic_row(f"i{k}", emotion="happy", status=s) for k, s in enumerate(statuses)]
    rf = write_run(tmp_path / "run", rows, [[1.0, 0.0] if s == "ok" else None for s in statuses])
    shown = []
    monkeypatch.setattr(reporting, "show_html", shown.append)
    assert reporting.explained_worst(rf.path) is None
    if suggested:  # `explain --worst N` refuses an N above the run's ok rows
        assert f"<code>workbench explain {shlex.quote(str(rf.path.resolve()))} {suggested}</code>" in shown[-1]  # this run
        # a static page does not fill itself in: it said "this section then shows", read as "reload this page"
        assert "make this report again afterwards" in shown[-1], shown[-1]
    else:
        assert "workbench explain" not in shown[-1] and "no scored (status ok) rows" in shown[-1]


def test_a_breakdown_says_how_many_items_it_leaves_out(tmp_path, monkeypatch):
    genders = ["female", "male"] * 4 + ["", "", ""]
    rows = [{**synthetic_row(f"i{k}", emotion=("happy", "sad")[k % 3 == 0], pred="happy", speaker=f"s{k}"), "gender": g}
            for k, g in enumerate(genders)]
    rf = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * len(rows))
    report = evaluate(rf.results(), by=["gender"], n_boot=10)
    assert sum(d["n"] for d in report.breakdowns["gender"].values()) == 8  # 3 of 11 have no gender
    assert "3 items without a gender are not in this breakdown." in report.render()
    shown = []
    monkeypatch.setattr(reporting, "show_html", shown.append)
    monkeypatch.setattr(reporting, "show_figure", lambda fig, **_: None)
    out = reporting.metrics_section(rf.path, by=["gender"], n_boot=10)
    assert "<p>3 items without a gender are not in this breakdown.</p>" in shown[0] and out["raw"]["breakdown_left_out"] == {"gender": 3}
    from workbench.analysis.metrics import plot_breakdown

    fig = plot_breakdown(rf.results(), "gender", n_boot=10)  # the figure says it too, and the whole set's n
    texts = [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text"))]
    assert any("3 items without a gender are not in this breakdown" in t for t in texts), texts
    assert any(t.startswith("all items (n=11)") for t in texts), texts
    every = evaluate(rf.results().assign(gender="x"), by=["gender"], n_boot=10)
    assert "without a gender" not in every.render() and every.breakdown_left_out == {}  # none left out: no note


def test_a_breakdown_by_a_column_that_is_empty_for_every_row_says_so(tmp_path, monkeypatch, capsys):
    """``metrics --by split`` on a manifest whose split column is there but empty printed no breakdown and no word."""
    rows = [synthetic_row(f"i{k}", emotion=("happy", "sad")[k % 2], pred="happy", speaker=f"s{k % 3}") for k in range(6)]
    rf = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * len(rows))
    assert main(["metrics", str(rf.path), "--by", "split", "speaker", "--no-figures"]) == 0
    out = capsys.readouterr().out
    assert "by split: no breakdown: the column is empty for all 6 scored items" in out and "by speaker: s0" in out
    saved = json.loads((rf.path / "metrics.json").read_text())["raw"]
    assert "split" not in saved["breakdowns"] and saved["breakdown_left_out"] == {"split": 6}
    shown = []
    monkeypatch.setattr(reporting, "show_html", shown.append)
    monkeypatch.setattr(reporting, "show_figure", lambda fig, **_: None)
    reporting.metrics_section(rf.path, by=["split"], n_boot=10)
    assert "<p><b>by split</b>: no breakdown: the column is empty for all 6 scored items" in shown[0]


def test_one_labelled_class_has_no_chance_level_and_no_labelled_item_no_metrics(tmp_path, monkeypatch):
    shown = []
    monkeypatch.setattr(reporting, "show_html", shown.append)
    monkeypatch.setattr(reporting, "show_figure", lambda fig, **_: None)
    one = write_run(tmp_path / "one", [synthetic_row(f"i{k}", emotion="happy", pred="sad") for k in range(3)], [[1.0, 0.0]] * 3)
    report = evaluate(one.results(), n_boot=10)
    text = report.render()
    # UAR 0 on one class is not "below chance 1.000": with one class there is no chance level to compare with
    assert "BELOW CHANCE" not in text and "chance 1.000" not in text and report.chance_uar is None
    assert "no chance level: only one class (happy) is labelled" in text
    assert "over the corpus's 1 classes" not in text and "none over the corpus's classes: only happy is labelled" in text
    reporting.metrics_section(one.path, n_boot=10)
    assert "no chance level: only one class (happy) is labelled" in shown[-1] and "corpus&#x27;s 1 classes" not in shown[-1]
    assert "only happy is labelled" in shown[-1]

    none = write_run(tmp_path / "none", [synthetic_row(f"i{k}", emotion="", label="") for k in range(2)], [[1.0, 0.0]] * 2)
    report = evaluate(none.results(), n_boot=10)
    text = report.render()
    assert "nan" not in text and "no metrics: no item is scored" in text and "Fix:" in text
    assert report.to_dict()["not_scored"].startswith("no item is scored")
    out = reporting.metrics_section(none.path, n_boot=10)
    assert "nan" not in shown[-1] and "<b>No metrics</b>: no item is scored" in shown[-1] and "<table" not in shown[-1]
    assert out["raw"]["not_scored"].startswith("no item is scored")
    two = evaluate(write_run(tmp_path / "two", [synthetic_row("a", emotion="happy", pred="sad"), synthetic_row("b", emotion="sad", pred="happy")],
                             [[1.0, 0.0]] * 2).results(), n_boot=10)
    assert two.chance_uar == 0.5 and "chance 0.500 over 2 classes" in two.render() and two.not_scored is None


# ------------------------------------------------------------------ --json: one strict document, nothing else on stdout

@pytest.fixture()
def labelled_run(tmp_path):
    return probe_set(tmp_path, "run", separable=True, speakers=4, per_class=3)


@pytest.mark.parametrize("argv, key", [
    (["metrics", "{run}", "--no-figures", "--by", "speaker"], "variants"),
    (["compare", "{run2}", "--no-figures", "--bootstrap", "20"], "metrics"),
    (["calibrate", "{run}", "--no-figures", "--folds", "2", "--bootstrap", "20"], "variants"),
    (["probe", "{run}", "--folds", "2", "--bootstrap", "20", "--out", "{tmp}/probe"], "mean_over_folds"),
    (["embeddings", "{run}", "--cluster", "none", "--color-by", "--neighbours", "s0_happy_0", "--top", "2"], "neighbours"),
], ids=["metrics", "compare", "calibrate", "probe", "embeddings"])
def test_json_is_one_strict_document_on_stdout(argv, key, labelled_run, tmp_path, capsys):
    # compare needs two variants of the run (one variant is refused with the ways to get a comparison)
    rows = [synthetic_row(f"i{k}", emotion=e, pred=(e if v == "raw" else "sad"), speaker=f"s{k % 2}", variant=v)
            for v in ("raw", "trimmed") for k, e in enumerate(["happy", "sad"] * 4)]
    run2 = write_run(tmp_path / "run2", rows, [[1.0, float(k)] for k in range(len(rows))])
    argv = [a.format(run=labelled_run.path, run2=run2.path, tmp=tmp_path) for a in argv]
    assert main([*argv, "--json"]) == 0
    out = capsys.readouterr().out
    doc = strict(out)  # the whole of stdout parses: no banner, no "written to" line
    assert isinstance(doc, dict) and key in doc and doc.get("written_to")


def test_json_carries_the_random_weights_warning_instead_of_printing_it(tmp_path, capsys):
    rows = [synthetic_row(f"i{k}", emotion=e, pred=e, speaker=f"s{k % 2}") for k, e in enumerate(["happy", "sad"] * 3)]
    rf = write_run(tmp_path / "run", rows, [[1.0, float(k)] for k in range(6)], random_weights=True)
    assert main(["metrics", str(rf.path), "--no-figures", "--json", "--out", str(tmp_path / "m")]) == 0
    doc = strict(capsys.readouterr().out)
    assert doc["warning"] == RANDOM_WEIGHTS_BANNER and (tmp_path / "m" / "metrics.json").is_file()
    assert not (rf.path / "metrics.json").exists()  # --out is where it goes, not the run folder as well
    assert main(["metrics", str(rf.path), "--no-figures"]) == 0
    assert capsys.readouterr().out.startswith(f"!! {RANDOM_WEIGHTS_BANNER}")


def test_calibrate_out_is_a_folder_temperature_can_name(labelled_run, tmp_path, capsys):
    out = tmp_path / "cal"
    assert main(["calibrate", str(labelled_run.path), "--folds", "2", "--bootstrap", "20", "--no-figures", "--out", str(out)]) == 0
    saved = json.loads((out / "calibration.json").read_text())
    assert saved["variant"] == "raw" and not (labelled_run.path / "calibration.json").exists()
    assert f"written to {out}" in capsys.readouterr().out
    assert isinstance(pd.read_parquet(labelled_run.path / RESULTS), pd.DataFrame)  # the run is untouched


def test_listeners_json_is_strict_and_out_is_where_it_goes(tmp_path, capsys):
    rows = []
    for k in range(12):
        emo, other = ("happy", "sad") if k % 2 else ("sad", "happy")
        agree = 3 if k % 3 else 2  # some items listeners agree on (3 of 4), some they split (2 of 4)
        meta = {f"votes_{emo}": agree, f"votes_{other}": 4 - agree, "n_raters": 4, "agreement": agree / 4, "listener_majority": emo}
        rows.append(synthetic_row(f"i{k}", emotion=emo, pred="happy", speaker=f"s{k % 3}", meta=meta))
    rf = write_run(tmp_path / "run", rows, [[1.0, float(k)] for k in range(12)], random_weights=True)
    out = tmp_path / "lst"
    assert main(["listeners", str(rf.path), "--bootstrap", "20", "--out", str(out), "--json"]) == 0
    doc = strict(capsys.readouterr().out)
    assert "raw" in doc["variants"] and doc["warning"] == RANDOM_WEIGHTS_BANNER and doc["written_to"] == str(out)
    assert (out / "listeners.json").is_file() and not (rf.path / "listeners.json").exists()
