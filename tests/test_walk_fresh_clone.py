"""A new researcher following the README from a fresh clone (demo, own folder, fine-tuned head, explain, the report and
the notebooks in Chromium): each defect met on the way, constructed here (runs written through :class:`RunFolder`, no
model), then the fixed behaviour."""

from __future__ import annotations

import json

from test_probe import synthetic_row, write_run
from workbench.views import reporting
from workbench.views.widgets import _findings_html

DIAGNOSE = "the two leading classes are nearly tied: small changes can flip the label (`workbench diagnose FILE` runs the stability test)"


def test_the_worst_cases_and_the_widgets_show_a_findings_command_as_code_not_as_backticks(tmp_path, monkeypatch):
    # the report's worst cases showed "(`workbench diagnose FILE` runs the stability test …)" with the backticks on the page
    findings = json.dumps([{"code": "small_margin", "severity": "warning", "message": "top-1 leads by <0.05", "suggestion": DIAGNOSE}])
    rows = [{**synthetic_row(f"i{k}", emotion="happy", pred="sad", speaker="s1"), "findings": findings, "margin": 0.01} for k in range(2)]
    rf = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * 2)
    shown: list[str] = []
    monkeypatch.setattr(reporting, "show_html", lambda markup: shown.append(str(markup)))
    monkeypatch.setattr(reporting, "_display", lambda obj: None)
    reporting.worst_cases(rf.path, n=1)
    item = next(h for h in shown if "i0" in h or "i1" in h)
    assert "(<code>workbench diagnose FILE</code> runs the stability test)." in item and "`" not in item, item
    widget = _findings_html(json.loads(findings))
    assert "<code>workbench diagnose FILE</code>" in widget and "`" not in widget, widget
    assert "top-1 leads by &lt;0.05" in widget  # the data around it still escaped


def test_the_reports_ece_of_a_head_on_its_training_speakers_does_not_say_ok(tmp_path, monkeypatch):
    # `workbench report` of `run --model HEAD` on the head's own corpus: WA, UAR and macro-F1 said "not independent of the
    # checkpoint's training data", and the ECE row beside them said "ok (spread)"
    import numpy as np
    from test_probe import CLASSES

    ckpt = _head_on_speakers(tmp_path, CLASSES)
    rows = [synthetic_row(f"s{s}_{cls}_{r}", emotion=cls, speaker=f"spk{s}", pred=cls if r else "sad")
            for s in range(4) for cls in CLASSES for r in range(6)]
    rf = write_run(tmp_path / "run_ft", rows, np.random.default_rng(0).standard_normal((len(rows), 4)), model=str(ckpt))
    shown: list[str] = []
    monkeypatch.setattr(reporting, "show_html", lambda markup: shown.append(str(markup)))
    reporting.metrics_section(rf.path, by=(), n_boot=50)
    table = next(h for h in shown if "95% bootstrap CI" in h)
    row = table.split("<td>ECE</td>", 1)[1].split("</tr>", 1)[0]
    assert "not independent of the checkpoint&#x27;s training data" in row and "ok (spread)" not in row, row


def test_the_reports_explained_worst_table_counts_a_map_that_failed_its_curves(tmp_path, monkeypatch):
    # `explain runs/my-head --worst 3`: tf-occlusion was worse than random on deletion in one case (NOT FAITHFUL on the
    # screen) and failed the randomisation check in another; the report read "1 of 3" passed with one failure counted
    import matplotlib

    matplotlib.use("Agg")
    from workbench.explain.worst import _method_record, plot_worst, summary_record, write_summary

    def record(deletion: str, randomised: bool = True) -> dict:
        faithful = deletion != "worse than random"
        return {"reliable": faithful and randomised, "problems": [],
                "attribution": {"checks": {}}, "randomisation": {"passed": randomised, "skipped": None},
                "faithfulness": {"deletion_verdict": deletion, "insertion_verdict": "better than random", "passed": faithful}}

    methods = [record("worse than random"), record("indistinguishable from random", randomised=False), record("better than random")]
    cases = [{"id": f"c{i}", "variant": "raw", "emotion": "sad", "pred": "happy", "confidence": 0.5, "error": None,
              "methods": {"tf-occlusion": _method_record("tf-occlusion", m)}} for i, m in enumerate(methods)]
    summary = summary_record(cases, rule="wrong first", n=3, m=10, variant="raw", settings={}, warning=None)
    assert summary["methods"]["tf-occlusion"]["faithfulness_failed"] == 1
    rf = write_run(tmp_path / "run", [synthetic_row(f"c{i}", emotion="sad", pred="happy") for i in range(3)], [[1.0, 0.0]] * 3)
    write_summary(rf, summary, plot_worst(summary))
    shown: list[str] = []
    monkeypatch.setattr(reporting, "show_html", lambda markup: shown.append(str(markup)))
    monkeypatch.setattr(reporting, "_display", lambda obj: None)
    reporting.explained_worst(rf.path)
    assert "curve check failed (NOT FAITHFUL" in shown[-1]
    row = shown[-1].replace("\n", "").split("<td><code>tf-occlusion</code></td>", 1)[1].split("</tr>", 1)[0]
    # passed 1 of 3; the two failures each counted: the curve (1) and the randomisation check (1)
    assert row == "<td>1 of 3</td><td>3 of 3</td><td>1 of 3</td><td>1</td><td>1</td><td>0</td><td>0</td><td>0</td>", row


def test_a_misspelt_breakdown_column_is_refused_with_names_not_python_lists(tmp_path, capsys):
    # `workbench metrics runs/my_wavs --by speakr` said "cannot break the results down by ['speakr']: … it has ['label',
    # 'emotion', 'text', 'speaker', 'gender', 'split']" and "fix: pass --by with some of ['label', …]"
    from workbench.cli import main

    rows = [synthetic_row(f"i{k}", emotion=e, pred=e, speaker=f"s{k % 3}") for k, e in enumerate(["happy", "sad"] * 4)]
    rf = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * 8)
    assert main(["metrics", str(rf.path), "--by", "speakr"]) == 2
    err = capsys.readouterr().err
    assert "cannot break the results down by 'speakr': not a manifest column of this run; it has " in err, err
    assert "did you mean 'speaker'?" in err and "pass --by with some of: " in err and "speaker" in err
    assert "[" not in err, err


def test_the_sample_rate_explorer_names_the_telephone_channel_over_its_spectrogram_and_escapes_a_heads_labels(tmp_path, monkeypatch):
    # notebook 02 with "telephone channel" ticked: the line said "44100 Hz / soxr / telephone", the spectrogram beside it
    # "44100 Hz → 16 kHz" (a band-limited picture under the name of an untouched one); and the labels, which a fine-tuned
    # head reads from its tokens.txt, went into the line's HTML unescaped
    import shutil

    import matplotlib

    matplotlib.use("Agg")
    from workbench.model.generated import build_random_checkpoint
    from workbench.views import clip_views
    from workbench import DEMO_DATA
    from workbench.views.widgets import SampleRateExplorer

    ckpt = tmp_path / "head"
    build_random_checkpoint(tmp_path / "tiny")
    shutil.copytree(tmp_path / "tiny", ckpt)
    labels = ["angry", "<b>disgusted", "fearful", "happy", "neutral", "other", "sad", "surprised"]
    (ckpt / "tokens.txt").write_text("\n".join(labels) + "\n<unk>\n", encoding="utf-8")
    titles: list[str] = []
    real = clip_views.png_widget
    monkeypatch.setattr(clip_views, "png_widget", lambda fig: titles.extend(ax.get_title() for ax in fig.axes) or real(fig))
    view = SampleRateExplorer(DEMO_DATA / "happy_en_44k.wav", model=str(ckpt))
    view.rate.value, view.telephone.value = 44100, True
    titles.clear()
    view.update()
    assert "44100 Hz / soxr / telephone → 16 kHz" in titles, titles
    assert view.predictions[0].label == "<b>disgusted"  # the seeded tiny weights' top class, under its hostile name
    assert "<b>&lt;b&gt;disgusted</b>" in view.result.value and "<b><b>" not in view.result.value, view.result.value


def test_fuse_on_a_run_without_transcripts_says_what_is_missing_and_sends_nowhere_that_fails_alike(tmp_path, capsys):
    # `workbench fuse runs/my_wavs` (a folder manifest: labels and speakers, no text) said "no item has a label, a
    # transcript and a speaker" with "fix: … (see excluded counts with --json)"; `fuse … --json` fails with the same line
    from workbench.cli import main

    rows = [synthetic_row(f"i{k}", emotion=e, pred=e, speaker=f"s{k % 3}") for k, e in enumerate(["happy", "sad"] * 4)]
    rows[0]["emotion"] = ""
    rf = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * 8)
    for extra in ([], ["--json"]):
        assert main(["fuse", str(rf.path), *extra]) == 2
        err = capsys.readouterr().err
        assert "nothing to fuse (of 8 scored rows, no label among the model's classes: 1; missing transcript: 7)." in err, err
        assert "--json" not in err and "fill the manifest's label, text and speaker columns" in err, err


def test_an_items_score_figure_says_what_its_brackets_mark_and_when_there_is_no_true_label():
    # the checkpoint comparison page titled every item's bars "scores of the two runs ([true label])": a placeholder to
    # the eye, also over tone_440hz, which has no true label
    import matplotlib.pyplot as plt

    from workbench.analysis.compare.figures import plot_item_scores
    from workbench.schema import score_column

    scores = {score_column("sad"): 0.7, score_column("happy"): 0.3}
    fig = plot_item_scores({"pred": "sad", "emotion": "sad", **scores}, {"pred": "happy", "emotion": "sad", **scores})
    assert fig.axes[0].get_title() == "scores of the two runs; [sad]: the true label"
    plt.close(fig)
    fig = plot_item_scores({"pred": "sad", "emotion": "", **scores}, {"pred": "happy", "emotion": None, **scores})
    assert fig.axes[0].get_title() == "scores of the two runs; the item has no true label"
    plt.close(fig)


def test_the_embedding_map_widget_states_its_trustworthiness_or_why_it_was_not_measured(tmp_path):
    # notebook 03's map of the 9 demo clips said only "click a point to open the item": its check (trustworthiness, which
    # `workbench embeddings` prints on every map) was neither shown nor said to be unmeasured
    import numpy as np

    from workbench.views.run_browser import EmbeddingMap

    rng = np.random.default_rng(0)
    few = write_run(tmp_path / "few", [synthetic_row(f"i{k}", emotion="sad", speaker="s") for k in range(9)], rng.standard_normal((9, 8)))
    title = EmbeddingMap(few.path).plot.layout.title.text
    assert "trustworthiness not measured: 9 items (it needs 12 or more); click a point to open the item" in title, title
    centres = rng.standard_normal((2, 8)) * 10
    many = write_run(tmp_path / "many", [synthetic_row(f"i{k}", emotion=["sad", "happy"][k % 2], speaker="s") for k in range(40)],
                     np.array([centres[k % 2] + rng.standard_normal(8) * 0.1 for k in range(40)]))
    title = EmbeddingMap(many.path).plot.layout.title.text
    assert "<sub>trustworthiness 0." in title and "(a random layout 0." in title and "NOT KEPT" not in title, title


def test_a_misspelt_report_parameter_is_refused_with_the_closest_one_named(tmp_path, capsys):
    # `workbench report experiment_report -p rundir=…` said "unknown parameter(s) ['rundir']; template experiment_report
    # takes ['run_dir', 'model', 'title', 'fusion']": Python lists, and not the correction the README promises
    from workbench.cli import main

    assert main(["report", "experiment_report", "-p", "rundir=runs/x", "--out", str(tmp_path / "reports")]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter 'rundir' (did you mean 'run_dir'?); template experiment_report takes run_dir, model, title, fusion." in err, err
    assert "[" not in err and "fix: spell each as one of them, e.g. -p run_dir=…" in err, err


def test_compares_recall_per_class_names_the_mark_it_shows_and_aligns_its_class_names(tmp_path):
    # `workbench compare runs/my_wavs runs/my-head`: "recall per class … (NaN: the run's model has no such class …)" over a
    # table that shows — for those cells, and the class names right-aligned ("  angry" above "neutral")
    import numpy as np

    from workbench.analysis.compare import compare_runs

    def onehot(c):
        return {k: (0.9 if k == c else 0.1 / 8) for k in ("angry", "disgusted", "fearful", "happy", "neutral", "other", "sad", "surprised", "unknown")}

    truth = ["angry", "neutral", "sad", "angry", "neutral", "sad"]
    a = write_run(tmp_path / "A", [synthetic_row(f"i{k}", emotion=t, pred="sad", scores=onehot("sad")) for k, t in enumerate(truth)],
                  [np.ones(4)] * 6, checksum="a" * 64)
    b = write_run(tmp_path / "B", [synthetic_row(f"i{k}", emotion=t, pred=t, scores=onehot(t)) for k, t in enumerate(truth)],
                  [np.ones(4)] * 6, checksum="a" * 64)
    text = compare_runs([a, b], n_boot=50).render()
    head, table = text.split("recall per class [raw] (", 1)[1].split("\n", 1)
    assert head.startswith("before → after; —: the run's model has no such class or no item of it):") and "NaN" not in head, head
    lines = table.splitlines()
    assert lines[0].startswith("class ") and lines[1].startswith("angry ") and lines[2].startswith("neutral"), table


def test_finetune_of_a_manifest_names_a_new_folder_for_the_heads_run_not_the_parents(tmp_path):
    # `workbench finetune my_wavs.csv --model tiny --out models/h2` scores the manifest into models/h2-run, then said
    # `workbench run my_wavs.csv --model models/h2 --out models/h2-run` (refused: "holds a run with other settings") and
    # `workbench compare models/h2-run models/h2-run`
    import shlex
    from types import SimpleNamespace

    from workbench.cli.finetune import finetune_next_steps

    out, run_dir = tmp_path / "models" / "h2", tmp_path / "models" / "h2-run"
    run_dir.mkdir(parents=True)
    (run_dir / "results.parquet").write_bytes(b"")
    lines = finetune_next_steps(SimpleNamespace(out=out, run_dir=run_dir, card={"data": {"manifest": "/data/my_wavs.csv"}}))
    commands = [shlex.split(line.split("   #")[0]) for line in lines[1:]]
    scored = str(tmp_path / "models" / "h2-scored")
    assert commands[0] == ["workbench", "run", "/data/my_wavs.csv", "--model", str(out), "--out", scored], commands
    assert commands[2] == ["workbench", "compare", str(run_dir), scored]


def test_a_reports_section_that_cannot_be_made_shows_the_fixs_command_as_code(tmp_path, monkeypatch):
    # the experiment report of runs/my_wavs (no transcripts) said "Not evaluated: … Fix: …, then score it again with
    # `workbench run`." with the backticks on the page; the calibration, explained-worst and audio notes alike
    rows = [synthetic_row(f"i{k}", emotion=e, pred=e, speaker=f"s{k % 3}") for k, e in enumerate(["happy", "sad"] * 4)]
    rf = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * 8)
    shown: list[str] = []
    monkeypatch.setattr(reporting, "show_html", lambda markup: shown.append(str(markup)))
    assert reporting.fusion_section(rf.path, heading=False) is None
    assert "Not evaluated:" in shown[-1] and "<code>workbench run</code>" in shown[-1] and "`" not in shown[-1], shown[-1]


def test_the_reports_conformal_checks_of_a_head_on_its_training_speakers_say_so(tmp_path, monkeypatch):
    # the report of `run --model HEAD` on the head's corpus: the metrics' check column said "not independent of the
    # checkpoint's training data", the conformal sets' check column below it said "pass"
    import matplotlib
    import numpy as np
    from test_probe import CLASSES

    matplotlib.use("Agg")
    ckpt = _head_on_speakers(tmp_path, CLASSES)
    rng = np.random.default_rng(0)
    rows = _noisy_rows(rng, CLASSES, speakers=6, per_class=8)
    rf = write_run(tmp_path / "run_ft", rows, rng.standard_normal((len(rows), 4)), model=str(ckpt))
    shown: list[str] = []
    monkeypatch.setattr(reporting, "show_html", lambda markup: shown.append(str(markup)))
    monkeypatch.setattr(reporting, "_display", lambda obj: None)
    assert reporting.calibration_section(rf.path, n_boot=20) is not None
    table = next(h for h in shown if "coverage [95% CI]" in h).split("coverage [95% CI]", 1)[1]
    assert "<td>pass</td>" not in table and "pass; not independent of the checkpoint&#x27;s training data" in table, table


def test_the_reports_calibration_notes_end_as_sentences(tmp_path, monkeypatch):
    # the demo report's calibration section: "Note: folds 1 and 2 fitted their temperature on the same speakers (…), so
    # they share one T" with no full stop, above "Note: folds 3 and 4 …" (the probe's notes on the same page end in one)
    import matplotlib
    import numpy as np
    from test_probe import CLASSES

    matplotlib.use("Agg")
    rng = np.random.default_rng(1)
    # 4 speakers, 4 folds: each fold's training part splits into the same halves for two folds
    rows = _noisy_rows(rng, CLASSES, speakers=4, per_class=6)
    rf = write_run(tmp_path / "run", rows, rng.standard_normal((len(rows), 4)))
    shown: list[str] = []
    monkeypatch.setattr(reporting, "show_html", lambda markup: shown.append(str(markup)))
    monkeypatch.setattr(reporting, "_display", lambda obj: None)
    reporting.calibration_section(rf.path, n_boot=20)
    notes = [p for p in "\n".join(shown).split("<p>") if p.startswith("<b>Note:</b>")]
    assert notes and all(n.rstrip().endswith(".</p>") for n in notes), notes


def _head_on_speakers(tmp_path, classes):
    """A head folder whose card names the speakers it was trained on (spk0, spk1; validation spk2; test spk3)."""
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.yaml").write_text("model: Emotion2vec\nmodel_conf: {}\n")
    (ckpt / "tokens.txt").write_text("\n".join(classes) + "\n<unk>\n")
    (ckpt / "model.safetensors").write_bytes(b"\0" * 16)
    (ckpt / "training_card.json").write_text(json.dumps({"speakers": {"train": ["spk0", "spk1"], "validation": ["spk2"], "test": ["spk3"]}}))
    return ckpt


def _noisy_rows(rng, classes, *, speakers: int, per_class: int) -> list:
    """Rows of a run whose scores lean 1.5 logits towards the true class, among the nine columns of LABEL_KEYS."""
    import numpy as np

    from workbench.labels import LABEL_KEYS

    rows = []
    for s in range(speakers):
        for i, cls in enumerate(classes * per_class):
            z = rng.normal(0, 1.0, len(classes))
            z[classes.index(cls)] += 1.5
            p = np.exp(z) / np.exp(z).sum()
            rows.append(synthetic_row(f"s{s}_{i}", emotion=cls, speaker=f"spk{s}", pred=classes[int(p.argmax())],
                                      scores={**{k: 0.0 for k in LABEL_KEYS}, **dict(zip(classes, p))}))
    return rows
