"""``workbench run``'s closing figures carry the checks ``workbench metrics`` applies to the same numbers."""

from __future__ import annotations

import io
import re
from types import SimpleNamespace

import numpy as np
from test_probe import synthetic_row, write_run


def test_run_summary_flags_what_metrics_flags(tmp_path):
    from workbench.analysis.metrics import evaluate
    from workbench.cli.running import print_run_summary

    classes = ["angry", "happy", "sad", "neutral", "fearful", "surprised", "disgusted"]
    rows = [synthetic_row(f"x{i}", emotion=c, pred=classes[(i + 1) % 7], speaker="s1") for i, c in enumerate(classes)]
    rf = write_run(tmp_path / "run", rows, [np.zeros(4)] * len(rows))
    result = SimpleNamespace(run_dir=rf.path, n_rows=7, n_failed=0, n_cached=0, n_resumed=0, seconds=0.1,
                             summary={"variants": {"raw": {"labelled": 7, "excluded_no_counterpart": 0, "failed": 0}}})
    buf = io.StringIO()
    print_run_summary(result, out=buf)
    text = buf.getvalue()
    assert "UAR 0.000 [0.000, 0.000]" in text and "(n=7; UAR chance 0.143 over 7 classes; intervals resample items)" in text
    for name in ("WA", "UAR", "macro-F1"):
        assert f"!! {name}: zero-width interval [0.000, 0.000] from 7 item(s)" in text
    assert "!! UAR BELOW CHANCE, interval and all (chance 0.143 over 7 classes)" in text
    assert "!! 7 class(es) with fewer than 5 items" in text
    report = evaluate(rf.results(), n_boot=1000, by=())  # metrics on the same folder flags the same
    shown = report.render()
    assert "BELOW CHANCE" in shown and all(report.interval_flags().get(m) for m in ("wa", "uar", "macro_f1"))


def test_the_chance_check_flags_an_interval_that_reaches_chance():
    """The finetune walk's `UAR 0.056 [0.000, 0.167]` over 6 classes: its interval reaches chance 1/6 and does not clear it."""
    from workbench.analysis.groups import chance_flag

    assert chance_flag(0.0, 1 / 6, 1 / 6).startswith("AT CHANCE")
    assert chance_flag(0.0, 0.1, 1 / 6) == "BELOW CHANCE, interval and all"
    assert chance_flag(0.2, 0.4, 1 / 6) == "" and chance_flag(0.0, 0.1, None) == ""


def test_metrics_and_run_say_at_chance_alike(tmp_path):
    from workbench.analysis.metrics import evaluate, headline_summary

    classes = ["angry", "happy", "sad"]
    rng = np.random.default_rng(0)
    rows = [synthetic_row(f"x{i}", emotion=classes[i % 3], pred=classes[rng.integers(3)], speaker="s1") for i in range(60)]
    rf = write_run(tmp_path / "run", rows, [np.zeros(4)] * len(rows))
    report = evaluate(rf.results(), n_boot=500, by=())
    lo, hi = report.ci["uar"]
    assert lo <= 1 / 3 <= hi  # predictions drawn independently of the labels
    assert "— AT CHANCE" in report.render()
    summary = headline_summary(rf.results(), variant="raw", n_boot=500)
    assert any(f.startswith("UAR AT CHANCE") for f in summary["flags"]) and summary["n"] == 60


def test_the_run_says_where_its_seconds_went_and_its_timing_parts_add_up(tmp_path, tiny_model):
    """The closing line said only "19.1 s" for 32 clips whose scoring took 0.7 s (the rest: --dtype auto's measurement),
    and summary.json's decode_s + model_s + post_s + wait_s came to more than `seconds` (decoding runs in a thread
    beside the model), which benchmarks/inference.py subtracted as if they were slices of it."""
    import soundfile as sf

    from conftest import speech_like
    from workbench.cli.running import print_run_summary
    from workbench.runs.driver import run

    rows = ["id,path,label"]
    for i in range(12):
        sf.write(tmp_path / f"c{i}.wav", speech_like(16000, 0.5 + 0.1 * i, seed=i), 16000)
        rows.append(f"c{i},c{i}.wav,{['happy', 'sad'][i % 2]}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    result = run(tmp_path / "m.csv", out_dir=tmp_path / "run", model=tiny_model, cache_dir=tmp_path / "cache", chunk_size=4)
    engine = result.summary["engine"]
    t = engine["timing_s"]
    assert "decode_s" in engine.get("timing_note", "") and "overlapping model_s" in engine["timing_note"] and t["decode_s"] > 0
    # the main process's parts are slices of `seconds` (2 ms of rounding per part); decode_s is not one of them
    assert t["start_s"] + t["model_s"] + t["post_s"] + t["wait_s"] <= result.summary["seconds"] + 0.01
    buf = io.StringIO()
    print_run_summary(result, out=buf)
    line = next(x for x in buf.getvalue().splitlines() if x.startswith("12 rows"))
    total, start, scoring = (float(x) for x in re.search(r"([\d.]+) s \(([\d.]+) s starting: model load; "  # a loaded model: no auto
                                                          r"([\d.]+) s scoring and writing\)", line).groups())
    assert total == round(result.seconds, 1) and start == round(t["start_s"], 1)
    assert round(start + scoring, 1) == total  # the parts as printed add up to the total as printed
    from types import SimpleNamespace

    buf = io.StringIO()  # each rounded alone, 0.66 s of 0.14 + 0.52 printed "0.7 s (0.1 s …; 0.5 s …)"
    print_run_summary(SimpleNamespace(**{**vars(result), "seconds": 0.66,
                                         "summary": {**result.summary, "engine": {"timing_s": {"start_s": 0.14}}}}), out=buf)
    assert "0.7 s (0.1 s starting: model load; 0.6 s scoring and writing)" in buf.getvalue()
    # the time of auto's choice is named only where auto chose (an explicit --dtype bfloat16 run was said to spend it)
    for requested, said in (("auto", "model load, --dtype auto's choice;"), ("bfloat16", "model load;")):
        buf = io.StringIO()
        print_run_summary(SimpleNamespace(**{**vars(result), "seconds": 0.66, "summary": {
            **result.summary, "precision": {"requested": requested}, "engine": {"timing_s": {"start_s": 0.14}}}}), out=buf)
        assert f"(0.1 s starting: {said} 0.6 s scoring and writing)" in buf.getvalue(), (requested, buf.getvalue())


def test_a_misspelt_label_column_is_named_again_beside_the_closing_counts(tmp_path, capsys):
    """`id,path,labl`: the 'did you mean label?' hint printed before the model loaded had scrolled away; the closing
    lines said only '0 labelled, 2 unlabelled'."""
    import soundfile as sf

    from conftest import speech_like
    from workbench.cli import main

    for i in range(2):
        sf.write(tmp_path / f"c{i}.wav", speech_like(16000, 0.6, seed=i), 16000)
    (tmp_path / "bad.csv").write_text("id,path,labl\nc0,c0.wav,happy\nc1,c1.wav,sad\n")
    assert main(["run", str(tmp_path / "bad.csv"), "--model", "tiny", "--out", str(tmp_path / "run"), "--no-cache",
                 "--dtype", "float32"]) == 0
    closing = capsys.readouterr().out
    assert "0 labelled, 2 unlabelled" in closing
    assert "!! manifest: column 'labl' is not one the workbench reads; did you mean 'label'?" in closing


def test_a_failed_row_whose_id_holds_a_newline_is_named_on_one_line(tmp_path):
    """`workbench manifest` names a row after its file, and a POSIX file name may hold a line break: the summary's
    "failed:" line printed it raw, so the name below started a line of its own that reads as the workbench's."""
    from workbench.cli.running import print_run_summary

    rows = [synthetic_row("ok1", emotion="happy", pred="happy"),
            {**synthetic_row("clip\nerror: disk full, nothing was written\x1b[2J", status="failed"), "error_code": "audio"}]
    rows[0]["error_code"] = ""
    rf = write_run(tmp_path / "run", rows, [np.zeros(4), None])
    result = SimpleNamespace(run_dir=rf.path, n_rows=2, n_failed=1, n_cached=0, n_resumed=0, seconds=0.1,
                             summary={"variants": {"raw": {"labelled": 1, "excluded_no_counterpart": 0, "failed": 1}}})
    buf = io.StringIO()
    print_run_summary(result, out=buf)
    lines = buf.getvalue().splitlines()
    assert not any(line.startswith("error:") for line in lines) and "\x1b" not in buf.getvalue(), lines
    assert any(line.startswith("failed: clip\\nerror: disk full, nothing was written\\x1b[2J [raw]") for line in lines), lines


def test_the_reports_failed_rows_show_a_right_to_left_override_as_its_escape(tmp_path, monkeypatch):
    """A row id (a file name) holding U+202E showed the rest of its <li> reversed in the HTML report
    ("clip\u202eVAW.exe" reads "clipexe.WAV"), and an ESC or BEL went into the page as a raw control character."""
    from workbench.views import reporting

    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    bad = "clip\u202eVAW.exe\x1b[2J\x07"
    rows = [{**synthetic_row("ok1", emotion="happy", pred="happy"), "error_code": ""},
            {**synthetic_row(bad, status="failed"), "error_code": "audio", "error": f"{bad}: could not decode"}]
    rf = write_run(tmp_path / "run", rows, [np.zeros(4), None])
    reporting.findings_summary(rf.path)
    page = "".join(str(getattr(o, "data", "")) for o in shown if type(o).__name__ == "HTML")
    assert "1 failed row" in page and not any(ch in page for ch in "\u202e\x1b\x07"), repr(page)
    assert "<code>clip\\u202eVAW.exe\\x1b[2J\\x07</code>" in page and ": clip\\u202eVAW.exe\\x1b[2J\\x07: could not decode" in page, page


def test_the_reports_findings_and_flips_say_what_their_counts_are_of(tmp_path, monkeypatch):
    """The demo's findings table gave "1 | 2%" with no denominator (and with variants the rows are item × variant),
    and its Flips line said "1 items changed their prediction" under a table whose flips column said 0 (it counts
    labelled items only; the flip was an unlabelled one)."""
    from workbench.views import reporting

    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    rows = []
    for v in ("raw", "telephone"):
        for i in range(4):
            r = synthetic_row(f"x{i}", emotion="happy" if i else "", pred="sad" if (v == "telephone" and i == 0) else "happy",
                              variant=v, chain_hash=f"c{v}", speaker="s1")
            r["finding_codes"] = "low_snr" if i == 1 else ""
            rows.append(r)
    rf = write_run(tmp_path / "run", rows, [np.zeros(4)] * len(rows))
    reporting.findings_summary(rf.path)
    reporting.comparison_section(rf.path, "raw")
    page = "".join(str(getattr(o, "data", "")) for o in shown if type(o).__name__ == "HTML")
    # 6 of the 8 rows have a label: the metrics section calls those the scored ones, so the findings' 8 are named apart
    assert ("of the 8 rows the model scored, labelled or not (2 variants: an item counts once in each)" in page
            and "share of 8" in page and "scored rows" not in page), page
    assert "1 prediction changed against <code>raw</code>, one per item and variant, labelled or not" in page, page
    assert "showing 1 of 1" in page and "1 items" not in page, page


def _summary_text(tmp_path, rows) -> str:
    from workbench.cli.running import print_run_summary

    rf = write_run(tmp_path / "run", rows, [np.zeros(4) if r["status"] == "ok" else None for r in rows])
    labelled = sum(bool(r["emotion"]) and r["status"] == "ok" for r in rows)
    result = SimpleNamespace(run_dir=rf.path, n_rows=len(rows), n_failed=0, n_cached=0, n_resumed=0, seconds=0.1,
                             summary={"variants": {"raw": {"labelled": labelled, "excluded_no_counterpart": len(rows) - labelled, "failed": 0}}})
    buf = io.StringIO()
    print_run_summary(result, out=buf)
    return buf.getvalue().split("next:\n", 1)[1]


def test_a_run_without_labels_suggests_adding_them_not_metrics(tmp_path):
    """`workbench run` of a manifest without labels said `next: workbench metrics RUN`, which then scores nothing."""
    text = _summary_text(tmp_path, [synthetic_row(f"x{i}") for i in range(3)])
    assert "workbench metrics" not in text.replace("`workbench metrics` would score nothing", "")
    assert "no row has an emotion label" in text and "add an `emotion` column to the manifest (one of the model's classes per row: angry," in text
    assert "workbench report experiment_report" in text  # the predictions are still worth a look


def test_a_run_whose_labels_are_none_of_the_models_classes_suggests_a_head(tmp_path):
    # --label-from-folder over folders named a/ and b/: labelled, but no label maps onto the model's classes
    text = _summary_text(tmp_path, [synthetic_row(f"x{i}", label="ab"[i % 2]) for i in range(4)])
    assert "workbench finetune" in text and "the labels (a, b) are none of the model's classes" in text
    assert not any(line.strip().startswith("workbench metrics") for line in text.splitlines())


def test_a_labelled_run_still_suggests_metrics(tmp_path):
    text = _summary_text(tmp_path, [synthetic_row(f"x{i}", emotion="happy", pred="sad") for i in range(3)])
    assert text.splitlines()[0].strip().startswith("workbench metrics")
    failed = _summary_text(tmp_path / "f", [{**synthetic_row(f"x{i}", label="happy", status="failed"), "error_code": "audio"} for i in range(2)])
    # every row failed: `metrics` would score nothing and a resume keeps the failures, so it says to run again elsewhere
    first = failed.splitlines()[0].strip()
    assert not first.startswith("workbench metrics") and "every row failed" in first, failed
    assert "run it again into a new folder" in first and first.endswith(f"workbench run MANIFEST --out {tmp_path / 'f' / 'run'}-2")


def test_metrics_on_a_run_that_scored_nothing_says_no_figure_was_drawn(tmp_path, capsys):
    """`workbench metrics` of a run without labels ended 'metrics.json and figures written' when nothing was scored."""
    from workbench.cli import main

    rf = write_run(tmp_path / "run", [synthetic_row(f"x{i}") for i in range(3)], [np.zeros(4)] * 3)
    assert main(["metrics", str(rf.path)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert "and figures written" not in last and last.startswith(f"metrics.json written to {rf.path}: no item is scored"), last


def test_intervals_from_fewer_than_20_items_are_flagged_on_the_run_line_and_in_finetunes_figures(tmp_path):
    """metrics flags 'intervals from only 12 item(s) (< 20 …)' under its figures; run's closing line and finetune's held-out
    and cross-validated figures (screen and training card) showed the same bootstrap intervals of 12 items without it."""
    from workbench.analysis.finetune.core import _flag_lines
    from workbench.analysis.finetune.evaluate import scores
    from workbench.analysis.metrics import evaluate
    from workbench.cli.running import print_run_summary

    classes = ["angry", "happy", "sad"]
    rows = [synthetic_row(f"x{i}", emotion=classes[i % 3], pred=classes[i % 3] if i % 4 else classes[(i + 1) % 3], speaker="s1")
            for i in range(12)]
    rf = write_run(tmp_path / "run", rows, [np.zeros(4)] * len(rows))
    note = "intervals from only 12 item(s) (< 20, the minimum a breakdown group needs)"
    assert note in evaluate(rf.results(), n_boot=200, by=()).render()  # what metrics said already
    result = SimpleNamespace(run_dir=rf.path, n_rows=12, n_failed=0, n_cached=0, n_resumed=0, seconds=0.1,
                             summary={"variants": {"raw": {"labelled": 12, "excluded_no_counterpart": 0, "failed": 0}}})
    buf = io.StringIO()
    print_run_summary(result, out=buf)
    assert f"!! {note}" in buf.getvalue()
    t = np.array([r["emotion"] for r in rows])
    p = np.array([r["pred"] for r in rows])
    held_out = scores(t, p, classes, n_boot=200, seed=0)
    assert any(note in f for f in held_out["flags"]) and any(note in line for line in _flag_lines(held_out, "  "))
    many = scores(np.tile(t, 2), np.tile(p, 2), classes, n_boot=200, seed=0)  # 24 items: no such flag
    assert not any("intervals from only" in f for f in many["flags"])


def test_a_run_of_several_variants_names_the_variant_comparison_report_next(tmp_path):
    """The next lines of a run with variants named `compare` and the experiment report only: the report made for
    variants (`variant_comparison`, in the README) was not named, nor its baseline parameter."""
    from workbench.cli.running import print_run_summary
    from workbench.views.report_run import check_params, parse_params

    rows = [synthetic_row(f"i{k}", emotion="happy", variant=v) for v in ("raw", "telephone") for k in range(3)]
    rf = write_run(tmp_path / "run", rows, [np.zeros(4)] * len(rows))
    per = {"labelled": 3, "excluded_no_counterpart": 0, "failed": 0}
    result = SimpleNamespace(run_dir=rf.path, n_rows=6, n_failed=0, n_cached=0, n_resumed=0, seconds=0.1,
                             summary={"variants": {"raw": per, "telephone": per}})
    buf = io.StringIO()
    print_run_summary(result, out=buf)
    line = next((x for x in buf.getvalue().splitlines() if "variant_comparison" in x), "")
    assert f"workbench report variant_comparison -p run_dir={rf.path} -p baseline=raw" in line, buf.getvalue()
    words = line.split("#")[0].split()
    check_params("variant_comparison", parse_params(words[4::2]))  # the parameters it names are the template's
