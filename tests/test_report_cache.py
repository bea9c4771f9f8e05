"""A report reads what the run folder already holds: the run opened once, a fusion result reused only when it
was computed on the same run files with the same settings (issue #28 item 5)."""

from __future__ import annotations

import ast
import html
import inspect
import json
import shlex

import nbformat
import pandas as pd
import pytest
import soundfile as sf

from conftest import REPO, speech_like
from workbench.cli import build_parser
from workbench.analysis.fusion import FUSION_BOOTSTRAP, cached_fusion, fusion_key, write_sealed_json
from workbench.runs.driver import run
from workbench.runs.folder import RunFolder
from workbench.views import reporting


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, tiny_model):
    tmp = tmp_path_factory.mktemp("report_cache")
    rows = ["id,path,label,speaker,text"]
    for i in range(4):
        sf.write(tmp / f"c{i}.wav", speech_like(16000, 1.0, seed=i), 16000)
        rows.append(f"c{i},c{i}.wav,{['happy', 'sad'][i % 2]},s{i % 2},text {i}")
    (tmp / "m.csv").write_text("\n".join(rows) + "\n")
    run(tmp / "m.csv", out_dir=tmp / "run", model=tiny_model, cache_dir=tmp / "cache")
    return tmp / "run"


def _planted(run_dir, **params) -> dict:
    """A fusion.json as fuse_run writes it (its dict and its key), written through the run folder."""
    payload = {"classes": ["happy", "sad"], "n_items": 4, "n_speakers": 2, "folds": 2, "chance_uar": 0.5, "text_model": "m",
               "excluded": {}, "late_weights": [0.3, 0.7], "warnings": ["a <b>warning</b>"],
               "metrics": {"speech": {"uar": 0.5, "uar_ci": [0.25, None], "wa": 0.5, "wa_ci": [0.25, 0.75]}},
               "vs_speech": {}, "text_checks": {}, "key": fusion_key(run_dir, **params)}
    write_sealed_json(RunFolder.open(run_dir), "fusion.json", payload)  # with the checksum of its contents
    return payload


def test_fusion_key_names_what_the_result_depends_on(small_run, tmp_path):
    key = fusion_key(small_run, text_model="m", n_boot=500)
    assert key == fusion_key(small_run, text_model="m", n_boot=500)
    assert key != fusion_key(small_run, text_model="m", n_boot=1000)
    assert key != fusion_key(small_run, text_model="other", n_boot=500)
    assert key != fusion_key(small_run, text_model="m", n_boot=500, folds=3)
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(small_run, copy)
    table = pd.read_parquet(copy / "results.parquet")
    table.loc[0, "confidence"] = float(table.loc[0, "confidence"]) + 1e-3  # another run's results: another key
    table.to_parquet(copy / "results.parquet")
    assert fusion_key(copy, text_model="m", n_boot=500)["results_sha256"] != key["results_sha256"]


def test_a_fusion_result_is_reused_only_under_its_own_key(small_run):
    (small_run / "fusion.json").unlink(missing_ok=True)
    assert cached_fusion(small_run, text_model="m", n_boot=500) is None  # nothing stored
    payload = _planted(small_run, text_model="m", n_boot=500)
    cached = cached_fusion(small_run, text_model="m", n_boot=500)
    assert cached is not None and {k: cached[k] for k in payload} == payload
    assert cached_fusion(small_run, text_model="m", n_boot=1000) is None  # other resamples: recompute
    RunFolder.open(small_run).write_json("fusion.json", {k: v for k, v in payload.items() if k != "key"})
    assert cached_fusion(small_run, text_model="m", n_boot=500) is None  # written before keys existed: recompute


def test_the_report_section_shows_a_reused_fusion_result_and_says_so(small_run, monkeypatch):
    payload = _planted(small_run, text_model="m", n_boot=FUSION_BOOTSTRAP)  # what `workbench fuse` writes by default
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    out = reporting.fusion_section(small_run, "m")
    page = "".join(getattr(o, "data", "") for o in shown if isinstance(getattr(o, "data", None), str))
    assert "Reused from the run folder's <code>fusion.json</code>" in page
    assert "a &lt;b&gt;warning&lt;/b&gt;" in page  # from the file, still escaped
    assert "0.500 [0.250, —]" in page  # an interval stored as null is said, not drawn as a number
    assert out == {k: v for k, v in payload.items() if k != "key"}  # what a freshly computed section returns
    assert any(type(o).__name__ == "Image" for o in shown)  # the figure from the stored figures


def test_sections_of_one_report_share_one_opened_run_folder(small_run):
    first = reporting._run(small_run)
    assert reporting._run(str(small_run)) is first and first.results() is reporting._run(small_run).results()
    table = pd.read_parquet(small_run / "results.parquet")
    table.to_parquet(small_run / "results.parquet")  # rewritten on disk: opened again, never a stale table
    assert reporting._run(small_run) is not first
    json.loads((small_run / "summary.json").read_text())


def test_fusions_numpy_uar_and_wa_equal_the_metrics_module_bit_for_bit():
    """The bootstraps of fusion use numpy versions of UAR and WA: the same numbers as the sklearn-based ones."""
    import numpy as np

    from workbench.analysis.fusion import _uar, _wa
    from workbench.analysis.stats import uar, wa

    rng = np.random.default_rng(0)
    classes = ["angry", "happy", "neutral", "sad"]
    for n in (1, 5, 37, 200):
        for _ in range(20):
            t = rng.choice(classes[:3], n)  # "sad" never occurs: left out of the mean, as sklearn's support rule does
            p = rng.choice(classes + ["other"], n)
            assert _uar(t, p, classes) == uar(t, p, classes)
            assert _wa(t, p) == wa(t, p)
    assert np.isnan(_uar(np.array([], dtype=str), np.array([], dtype=str), classes)) and np.isnan(_wa([], []))


def test_the_report_shows_the_explained_worst_cases_and_refuses_an_edited_summary(small_run, monkeypatch):
    from matplotlib.figure import Figure

    from workbench.explain.worst import WORST_JSON, case_record, summary_record, write_summary

    shown: list[str] = []
    monkeypatch.setattr(reporting, "show_html", lambda markup: shown.append(str(markup)))
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(type(obj).__name__))
    rf = RunFolder.open(small_run)
    (small_run / WORST_JSON).unlink(missing_ok=True)
    assert reporting.explained_worst(small_run) is None
    # none yet: how to make it, for the run's 4 ok rows, with this run's folder (it said `RUN`, a placeholder)
    assert f"<code>workbench explain {shlex.quote(str(small_run.resolve()))} --worst 4</code>" in shown[-1]
    assert "RUN" not in shown[-1]

    row = rf.results().iloc[0].to_dict()
    cases = [case_record(row, None, entry=None, cache="computed", error="<b>boom</b>")]
    summary = summary_record(cases, rule="least confident first", n=1, m=4, variant=None, settings={}, warning=None)
    summary["methods"] = {"occlusion": {"cases": 1, "reliable": 0, "deletion_better_than_random": 0,
                                        "insertion_better_than_random": 1, "randomisation_skipped": 0,
                                        "randomisation_failed": 1}}
    write_summary(rf, summary, Figure())
    shown.clear()
    got = reporting.explained_worst(small_run)
    assert got["showing"] == "1 of the 4 rows the model scored (labelled or not)"
    page = "".join(shown)
    assert "1 of the 4 rows the model scored (labelled or not)" in page and "0 of 1" in page and "could not be explained" in page
    assert "Image" in shown  # the summary's figure
    # a randomisation failure has its own column (deletion 0 of 1, the curve check not counted in this summary: —, then failed 1, skipped 0)
    assert "<th>randomisation check failed</th>" in page and "<td>0 of 1</td><td>—</td><td>1</td><td>0</td>" in page
    # a randomisation check that ran to no rank correlation (a constant map) is counted beside the failures, not as a pass
    summary["methods"]["occlusion"]["randomisation_undetermined"] = 1
    write_summary(rf, summary, Figure())
    shown.clear()
    reporting.explained_worst(small_run)
    assert "<td>1 (+1 undetermined)</td>" in "".join(shown)

    text = (small_run / WORST_JSON).read_text()
    (small_run / WORST_JSON).write_text(text.replace('"n": 1', '"n": 2'))  # an edited summary fails its checksum
    shown.clear()
    assert reporting.explained_worst(small_run) is None
    assert "NOT SHOWN" in shown[-1] and "checksum" in shown[-1]


def test_the_metrics_table_has_no_empty_cell_and_ece_has_its_interval(small_run, monkeypatch):
    """ECE's interval and check cells were empty: now its item-bootstrap interval (metrics' own) and a check cell
    whose tooltip says how to read it; a breakdown group too small for a number shows dashes in its interval cells."""
    import html
    import re

    from workbench.analysis.metrics import evaluate
    from workbench.runs.folder import RunFolder

    shown: list[str] = []
    monkeypatch.setattr(reporting, "show_html", lambda markup: shown.append(str(markup)))
    monkeypatch.setattr(reporting, "_display", lambda obj: None)
    out = reporting.metrics_section(small_run, n_boot=20)
    page = "\n".join(shown)
    ece_row = re.search(r"<tr><td>ECE</td>(.*?)</tr>", page).group(1)
    cells = re.findall(r"<td>(.*?)</td>", ece_row)
    assert len(cells) == 3 and all(c.strip() for c in cells), cells
    variant = next(iter(out))
    lo, hi = evaluate(RunFolder(small_run).results(), variant=variant, n_boot=20).ece_ci
    assert out[variant]["ece_ci"] == [lo, hi] and cells[1] == f"[{lo:.3f}, {hi:.3f}]"
    assert html.escape(reporting.ECE_INTERVAL_NOTE, quote=True) in cells[2]
    assert "intervals from only 4 item(s) (&lt; 20" in cells[2]  # the fixture's 4 items: flagged as `workbench metrics` does
    assert "too small" in page  # the fixture's speakers have 2 items each
    tables = re.findall(r"<table>.*?</table>", page, flags=re.S)
    headline, *_, breakdown = tables
    assert "<td></td>" not in headline and re.search(r"<td>—</td><td>—</td><td>—</td><td>—</td>", breakdown)


def test_the_report_flags_a_uar_that_does_not_clear_chance_as_metrics_does(small_run, monkeypatch):
    """metrics prints BELOW CHANCE beside the UAR; the report's check cell said 'ok' for the same figure."""
    import dataclasses
    import re

    real = reporting.evaluate

    def below_chance(*args, **kwargs):
        r = real(*args, **kwargs)
        return dataclasses.replace(r, ci={**r.ci, "uar": (0.01, 0.05)}, chance_uar=0.25)

    shown: list[str] = []
    monkeypatch.setattr(reporting, "evaluate", below_chance)
    monkeypatch.setattr(reporting, "show_html", lambda markup: shown.append(str(markup)))
    monkeypatch.setattr(reporting, "_display", lambda obj: None)
    out = reporting.metrics_section(small_run, n_boot=20)
    uar_row = re.search(r"<tr><td>UAR</td>(.*?)</tr>", "\n".join(shown)).group(1)
    assert "BELOW CHANCE" in uar_row and "over" in uar_row  # the flag and the chance level it was judged against
    assert next(iter(out.values()))["chance_flag"].startswith("BELOW CHANCE")


def test_the_reports_sentences_show_commands_as_code_not_as_markdown_backticks(small_run, monkeypatch):
    """The screen's sentences name commands in backticks ("as `workbench calibrate` measures it"); the report escaped
    them as text, so the page showed the backticks themselves."""
    shown: list[str] = []
    monkeypatch.setattr(reporting, "show_html", lambda markup: shown.append(str(markup)))
    monkeypatch.setattr(reporting, "_display", lambda obj: None)
    reporting.metrics_section(small_run, n_boot=20)
    page = "\n".join(shown)
    assert "<code>workbench calibrate</code> measures it" in page
    assert "`" not in page
    assert reporting.prose("a <b> `x < y`") == "a &lt;b&gt; <code>x &lt; y</code>"  # data still escaped inside the code


def test_the_reports_calibration_gives_the_intervals_workbench_calibrate_gives(tmp_path, monkeypatch, capsys):
    """The report's calibration section drew 500 resamples against the command's 1000: the same run's ECE read
    [0.004, 0.216] in the report and [0.004, 0.215] on the screen, accuracy at 50 % coverage [0.030, 0.438] and [0.000, 0.438]."""
    import numpy as np
    from test_probe import synthetic_row, write_run

    from workbench.cli import main
    from workbench.files import strict_json
    from workbench.labels import LABEL_KEYS

    rng = np.random.default_rng(0)
    classes = ["angry", "happy", "neutral", "sad"]
    rows = []
    for i in range(120):
        z = rng.normal(0, 1.0, len(classes))
        z[i % 4] += 1.0
        p = np.exp(z) / np.exp(z).sum() * 0.9
        scores = {k: 0.1 / (len(LABEL_KEYS) - 4) for k in LABEL_KEYS}
        scores.update({c: float(p[j]) for j, c in enumerate(classes)})
        rows.append(synthetic_row(f"i{i}", emotion=classes[i % 4], pred=max(scores, key=scores.get), scores=scores,
                                  speaker=f"s{(i // 4) % 6}"))  # every speaker has items of every class
    rf = write_run(tmp_path / "run", rows, [np.zeros(4)] * len(rows))
    monkeypatch.setattr(reporting, "show_html", lambda markup: None)
    monkeypatch.setattr(reporting, "show_figure", lambda fig, **_: None)
    section = reporting.calibration_section(rf.path)
    assert main(["calibrate", str(rf.path), "--json", "--no-figures", "--out", str(tmp_path / "cal")]) == 0
    screen = json.loads(capsys.readouterr().out)["variants"]["raw"]
    section = json.loads(strict_json(section))  # as the report's metrics.json holds it
    assert section["ci_before"] == screen["ci_before"] and section["ci_after"] == screen["ci_after"]


def test_the_skipped_fusion_section_names_the_reports_run(small_run, monkeypatch):
    """It said "run `workbench fuse RUN`", a placeholder, in a report that knows its run."""
    from workbench.views.report_run import template_path

    shown: list[str] = []
    monkeypatch.setattr(reporting, "show_html", lambda markup: shown.append(str(markup)))
    reporting.fusion_skipped(small_run)
    assert f"<code>workbench fuse {shlex.quote(str(small_run.resolve()))}</code>" in shown[-1] and "RUN" not in shown[-1]
    assert "R.fusion_skipped(run_dir)" in template_path("experiment_report").read_text()  # the report passes its run


def test_the_skipped_fusion_section_shows_what_workbench_fuse_wrote(small_run, monkeypatch):
    """The page said "Not run … or run `workbench fuse RUN`" also after `workbench fuse RUN` had written fusion.json
    with the report's settings: it told the reader to do what they had done. Now it shows that result, said reused."""
    (small_run / "fusion.json").unlink(missing_ok=True)
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    assert reporting.fusion_skipped(small_run) is None
    payload = _planted(small_run, text_model=None, n_boot=FUSION_BOOTSTRAP)  # what `workbench fuse RUN` writes by default
    shown.clear()
    out = reporting.fusion_skipped(small_run)
    page = "".join(getattr(o, "data", "") for o in shown if isinstance(getattr(o, "data", None), str))
    assert "Reused from the run folder's <code>fusion.json</code>" in page and "Not run in this report" not in page
    assert out == {k: v for k, v in payload.items() if k != "key"}
    (small_run / "fusion.json").unlink()


def test_the_reports_metrics_flag_classes_under_5_items_as_metrics_does(tmp_path, monkeypatch):
    """The demo set's one `surprised` item: `workbench metrics` and `run` print "!! 1 class(es) with fewer than 5 items
    (surprised): their recall and F1 are anecdotes"; the report's metrics section showed its recall without a word."""
    import numpy as np
    from test_probe import synthetic_row, write_run

    from workbench.analysis.metrics import evaluate

    emotions = ["angry"] * 10 + ["sad"] * 10 + ["surprised"]
    rows = [synthetic_row(f"i{k}", emotion=e, pred="angry", speaker=f"s{k % 3}") for k, e in enumerate(emotions)]
    rf = write_run(tmp_path / "run", rows, [np.zeros(4)] * len(rows))
    note = evaluate(rf.results(), n_boot=20, by=()).small_classes_note()
    assert "surprised" in note
    shown: list[str] = []
    monkeypatch.setattr(reporting, "show_html", lambda markup: shown.append(str(markup)))
    monkeypatch.setattr(reporting, "_display", lambda obj: None)
    out = reporting.metrics_section(rf.path, n_boot=20, by=())
    assert html.escape(note, quote=True) in "\n".join(shown) and out["raw"]["small_classes"] == note


def test_the_reports_fusion_section_draws_as_many_resamples_as_workbench_fuse():
    """The report's fusion section drew 500 resamples where `workbench fuse` draws its --bootstrap default, so one
    figure got two intervals (and the report never reused fuse's fusion.json, whose key holds the count).  Both read
    one constant now; the report templates call the section without a count of their own."""
    cli = build_parser(["fuse"]).parse_args(["fuse", "runs/x"]).bootstrap
    section = inspect.signature(reporting.fusion_section).parameters["n_boot"].default
    assert section == cli
    assert inspect.signature(fusion_key).parameters["n_boot"].default == cli  # the key fuse writes is the key the report asks for
    calls = []
    for path in sorted((REPO / "workbench" / "templates").glob("*.ipynb")) + sorted((REPO / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "code":
                calls += [(path.name, node) for node in ast.walk(ast.parse(cell.source))
                          if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "fusion_section"]
    assert {name for name, _ in calls} >= {"experiment_report.ipynb", "06_fusion.ipynb"}
    for name, call in calls:  # no third positional argument (n_boot is keyword-only anyway) and no n_boot= of its own
        assert len(call.args) <= 2 and "n_boot" not in {k.arg for k in call.keywords}, name
