"""walk18: what a newcomer's walk through the product found said twice, contradicting itself, or not runnable as printed."""

from __future__ import annotations

import pandas as pd

from test_features_cli import small_run  # noqa: F401  (a fixture)
from test_majority_baseline import _skewed_rows
from test_probe import write_run
from workbench.analysis.metrics import evaluate


def _said_once(text: str, words: str) -> bool:
    return text.count(words) == 1


def test_metrics_says_the_wa_baseline_once_on_screen_and_in_the_report(tmp_path, monkeypatch):
    """`metrics` printed "WA 0.000 … (majority baseline 0.288: always happy, 15/52) — BELOW THE MAJORITY BASELINE,
    interval and all: always answering happy scores 0.288 (15/52)"; the report's check cell repeated the baseline the
    paragraph under the table gives.  The flag beside the stated baseline now says only the verdict; metrics.json keeps
    the whole sentence."""
    from workbench.views import reporting

    rows = _skewed_rows(1)  # 40 neutral of 50: WA's interval reaches the baseline 0.800
    wa_line = next(x for x in evaluate(pd.DataFrame(rows), n_boot=200).render().splitlines() if x.strip().startswith("WA "))
    assert "AT THE MAJORITY BASELINE" in wa_line and _said_once(wa_line, "baseline 0.800"), wa_line
    assert _said_once(wa_line, "40/50") and "always answering" not in wa_line
    rf = write_run(tmp_path / "run", rows, [[1.0] * 4] * len(rows))
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    out = reporting.metrics_section(rf.path, n_boot=200)
    html = "".join(str(getattr(o, "data", "")) for o in shown if type(o).__name__ == "HTML")
    assert "AT THE MAJORITY BASELINE" in next(r for r in html.split("<tr") if ">WA<" in r)
    assert _said_once(html, "40/50"), html
    assert "always answering neutral" in out["raw"]["majority_flag"]  # the JSON keeps the whole sentence


def test_a_per_class_rough_interval_sentence_is_said_once_with_the_classes_listed():
    """"recall of sad: interval from 677 of 1000 resamples (68%): the figure is undefined in the others …; read it as
    rough" stood once per class (and per precision and recall) in metrics, the report and the cards."""
    from workbench.analysis.figure_notes import _short_note, class_f1_note, class_share_note
    from workbench.analysis.group_resampling import thin_group_words

    thin = {"kept": 600, "drawn": 1000}
    per_class = {c: {"precision": 0.5, "recall": 0.5, "precision_ci": [0.1, 0.9], "recall_ci": [0.1, 0.9], "f1_ci": [0.1, 0.9],
                     "precision_resamples": thin, "recall_resamples": thin, "f1_resamples": thin} for c in ("sad", "happy", "calm")}
    for note in (class_f1_note(per_class, 200), class_share_note(per_class)):
        assert note.count("undefined in the others") == 1 and note.count("rough") == 1, note
        assert all(c in note for c in per_class) and "600 of 1000" in note
    assert "recall of happy 600 of 1000" in class_share_note(per_class)
    assert "rough" not in _short_note(class_share_note(per_class))  # a figure title keeps the counts, not the advice
    one = class_f1_note({"sad": per_class["sad"]}, 200)
    assert one.startswith("F1 of sad: interval from 600 of 1000 resamples (60%)")  # one class: as before
    words = thin_group_words({"recall_sad": thin, "recall_happy": thin}, {})
    assert len(words) == 1 and words[0].count("UAR averages") == 1 and "sad in 400 of 1000" in words[0], words


def test_the_explained_worst_section_refers_to_the_pages_random_weights_banner(tmp_path, monkeypatch):
    """The demo report's explained-worst section said RANDOM WEIGHTS in a paragraph and again in its figure's title,
    under the page's banner that says it once for the page.  The section now refers to the banner and its figure is
    drawn without the warning (with the foot mark every figure of the page has); a head's own warning is still said."""
    from test_probe import probe_set
    from workbench.explain.worst import plot_worst, summary_record, write_summary
    from workbench.labels import RANDOM_WEIGHTS_BANNER
    from workbench.views import reporting

    rf = probe_set(tmp_path, "run", separable=True, speakers=2, per_class=1)
    method = {"reliable": True, "deletion_verdict": "better than random", "insertion_verdict": "better than random",
              "randomisation_passed": True, "randomisation_skipped": None, "stability_passed": None, "completeness_passed": None}
    cases = [{"id": "i0", "variant": "raw", "pred": "happy", "confidence": 0.5, "error": None, "methods": {"occlusion": method}}]
    titles = []
    monkeypatch.setattr(reporting, "show_html", lambda markup: titles.append(str(markup)))
    monkeypatch.setattr(reporting, "_display", lambda obj: None)
    monkeypatch.setattr(reporting, "show_figure", lambda fig, **kw: titles.append(fig._suptitle.get_text() + str(kw)))
    for warning in (RANDOM_WEIGHTS_BANNER, "fine-tuned head: its training speakers s0, s1"):
        summary = summary_record(cases, rule="wrong first", n=1, m=8, variant=None, settings={}, warning=warning)
        write_summary(rf, summary, plot_worst(summary))
        titles.clear()
        reporting.explained_worst(rf.path)
        said = " ".join(titles)
        if warning == RANDOM_WEIGHTS_BANNER:
            assert "RANDOM WEIGHTS" not in said and "banner at the top" in said and "'random_weights': True" in said, said
        else:
            assert said.count(warning) == 1  # its own words in the section; the figure from the run folder as written


def test_the_aps_skip_note_is_one_statement_that_does_not_call_the_other_figures_fine():
    """The note read "APS sets skipped, LAC sets only: the corpus has 2 classes, and MAPIE's APS conformity score
    refuses a binary target (LAC supports it); every other figure is as usual" right under LAC sets flagged FAIL: "as
    usual" read as "fine", "it" had two referents.  Now one cause-and-effect sentence; the other figures keep their checks."""
    from workbench.analysis.calibration_measures import aps_skipped

    two = aps_skipped({1: ["a", "b"]}, 2)
    assert two.startswith("APS sets skipped, LAC sets only: the corpus has 2 classes, so every fold's target is binary, "
                          "which MAPIE's APS conformity score does not accept"), two
    four = aps_skipped({3: ["a", "b"]}, 4)
    assert "fold 3 holds items of only 2 of the 4 classes (a, b), so that fold's target is binary" in four
    for note in (two, four):
        assert "as usual, each with its own checks" in note and "every other figure is as usual" not in note
        assert "supports it" not in note and note.count("binary") == 1


def test_finetunes_next_lines_are_the_readme_walkthroughs_commands(tmp_path, monkeypatch):
    """README's demo4 walkthrough scored the head into runs/demo4-head while `finetune runs/demo4 --out heads/demo4`
    printed `workbench run /abs/demo4.csv --model heads/demo4 --out runs/demo4-run`: the README's next line and the
    tool's differed.  The walkthrough names the head demo4-head, and the printed lines are the README's, the manifest as
    typed in the folder the commands run from; each parses as printed."""
    import re
    import shlex
    from pathlib import Path
    from types import SimpleNamespace

    from workbench.cli import build_parser
    from workbench.cli.finetune import finetune_next_steps

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme[readme.index("workbench run demo4.csv --model tiny"):].split("```")[0]
    lines = [shlex.split(ln.split("#")[0]) for ln in block.splitlines() if ln.startswith("workbench ")]
    finetune, scored = next(w for w in lines if w[1] == "finetune"), next(w for w in lines if "--model" in w and w[w.index("--model") + 1] != "tiny")
    head, run = finetune[finetune.index("--out") + 1], finetune[2]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo4.csv").write_text("id,path\n")
    printed = finetune_next_steps(SimpleNamespace(out=Path(head), run_dir=Path(run), card={"data": {"manifest": str(tmp_path / "demo4.csv")}}))
    commands = [shlex.split(re.split(r"\s{3}#", ln)[0]) for ln in printed[1:]]
    assert commands[0] == scored, (commands[0], scored)
    out = scored[scored.index("--out") + 1]
    assert commands[1] == ["workbench", "metrics", out] and commands[2] == ["workbench", "compare", run, out]
    for words in commands:
        build_parser([words[1]]).parse_args(words[1:])


def test_features_with_one_predicted_class_does_not_call_it_too_small(small_run, capsys):
    """The demo run (every row predicted disgusted) printed "no cue differences: the measured rows have 1 predicted class
    (disgusted) …" and then "too small to rank (not a finding): disgusted (every item with a value is 'disgusted' …)":
    53 items called too small.  The first line says it; --json keeps the reason."""
    import json

    from workbench.cli import main

    assert main(["features", str(small_run), "--set", "praat", "--bootstrap", "20"]) == 0
    text = capsys.readouterr().out
    if "the measured rows have 1 predicted class" not in text:  # the fixture's run must have one predicted class
        raise AssertionError(text)
    assert "too small to rank" not in text, text
    assert main(["features", str(small_run), "--set", "praat", "--bootstrap", "20", "--json"]) == 0
    assert "no other class to compare it with" in json.loads(capsys.readouterr().out)["too_small"][0]["reason"]


def test_compare_does_not_call_an_na_kappas_interval_rough(tmp_path):
    """`compare runs/f32 runs/bf16` on the demo (every item 'disgusted' in both) printed "kappa n/a (both runs give all
    53 paired item(s) the one label …)" and under it "!! … kappa interval from 0 of 1000 resamples (0%): … read it as
    rough": a flag on an interval that does not exist."""
    from test_probe import probe_set
    from workbench.analysis.compare import compare_runs

    a = probe_set(tmp_path, "A", separable=True, speakers=2, per_class=2)  # every item predicted neutral in both runs
    b = probe_set(tmp_path, "B", separable=True, speakers=2, per_class=2)
    cmp = compare_runs([a, b], n_boot=20)
    (ag,) = cmp.agreement.to_dict(orient="records")
    assert ag["kappa"] != ag["kappa"] and "one label 'neutral'" in ag["kappa_note"]
    assert "kappa interval from" not in ag["interval_note"] and "kappa interval from" not in cmp.render(top=5)


def test_a_check_cell_says_a_shared_note_once_with_its_figures_named():
    """The variant comparison's check cell read "ΔWA: zero-width interval [0.000, 0.000] from 52 item(s): every
    resample gives the same value, …; ΔUAR: zero-width interval [0.000, 0.000] from 52 item(s): every resample …": one
    sentence twice.  Figures whose note is the same are named together; different notes stay apart."""
    from workbench.analysis.compare.variants import flags_text, flags_words

    same = "zero-width interval [0.000, 0.000] from 52 item(s): every resample gives the same value"
    flags = {"delta_wa": same, "delta_uar": same, "confidence_shift": "zero-width interval [+0.010, +0.010]: all shift"}
    cell = flags_words(flags)
    assert cell.count(same) == 1 and cell.startswith(f"ΔWA, ΔUAR: {same}") and "confidence shift" in cell.lower(), cell
    assert flags_text(flags).count(same) == 1 and flags_text(flags).count("\n  !! ") == 2
    assert flags_words({}) == "ok"


def test_a_checkpoints_warning_is_said_once_on_the_screen():
    """The first `workbench infer clip.wav --model cue` printed "warning: SYNTHETIC CUES: …" 10 times: once per network
    `--dtype auto` built to measure.  The screen says a model's warning once; other warnings are untouched."""
    import logging

    from workbench.logs import _ConsoleFilter

    f = _ConsoleFilter(logging.INFO)

    def record(name, msg, level=logging.WARNING):
        return logging.LogRecord(name, level, __file__, 1, msg, None, None)

    cue = "SYNTHETIC CUES: this result comes from a tiny checkpoint trained on synthetic planted cues"
    said = [f.filter(record(n, cue)) for n in ("workbench.model.network", "workbench.model.onnx_backend", "workbench.model.network")]
    assert said == [True, False, False]
    assert f.filter(record("workbench.runs.driver", "a run's warning")) and f.filter(record("workbench.runs.driver", "a run's warning"))


def test_the_readmes_precision_comparison_names_the_precision_of_each_run():
    """README's "Which checkpoint, which precision" block ran `workbench run data.csv --model tiny --out runs/f32`:
    without --dtype the run takes `auto`, which chose onnx-int8 on the demo, so the page compared int8 with bfloat16
    under the names f32 and bf16.  Each run named for a precision now asks for it."""
    import shlex
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("## Which checkpoint, which precision, which protocol", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    named = {"f32": "float32", "bf16": "bfloat16"}
    for line in block.splitlines():
        words = shlex.split(line.split("#")[0])
        if words[:2] == ["workbench", "run"]:
            out = Path(words[words.index("--out") + 1]).name
            assert out in named and words[words.index("--dtype") + 1] == named[out], line


def test_the_embedding_map_coloured_by_correct_says_right_wrong_and_no_label():
    """`embeddings RUN --color-by correct` drew a legend of "False (52)" and "no correct (1)" (the run's correct column
    as text, an unlabelled item as 'no correct'); now "wrong (52)" and "no label (1)"."""
    import matplotlib

    matplotlib.use("Agg")
    import numpy as np
    import pandas as pd

    from workbench.analysis.embeddings import plot_projection

    rows = pd.DataFrame({"correct": [True, False, False, None], "emotion": ["a", "b", "b", ""], "pred": ["a", "a", "a", "a"]})
    fig = plot_projection(np.zeros((4, 2)), rows, "correct")
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["right (1)", "wrong (2)", "no label (1)"], labels
