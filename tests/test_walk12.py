"""Walk 12: a new researcher's walk of a fine-tuned head (demo corpus relabelled calm/cheerful/gloomy/irate) through
listeners, fuse, probe, similar, diagnose, the notebooks and the variant comparison report."""

from __future__ import annotations

import json

import pandas as pd

from workbench.data.cards import speaker_overlap_message


def _head(path, speakers):
    """A folder as `workbench finetune --out` writes it, with its training card; no model is loaded."""
    path.mkdir()
    (path / "config.yaml").write_text("model: Emotion2vec\nmodel_conf: {}\n")
    (path / "tokens.txt").write_text("calm\nirate\n<unk>\n")
    (path / "model.safetensors").write_bytes(b"\0" * 16)
    (path / "training_card.json").write_text(json.dumps({"speakers": {"train": ["s0"], "validation": ["s1"], "test": ["s2"]}}))
    return path


def test_the_speaker_overlap_names_the_head_quoted_and_an_exports_head_not_its_folder(tmp_path):
    """A head saved as `--out models/head` warned "trained or early-stopped the fine-tuned head head", and a run of its
    ONNX export (`--out exports/onnx_out`, the card travels with it) named the export's folder as the head: "the
    fine-tuned head onnx_out".  The name is quoted now, and an export names the head it was made from, then itself."""
    head = _head(tmp_path / "head", ["s0"])
    scored = pd.DataFrame({"speaker": ["s0", "s1", "s2"]})
    w = speaker_overlap_message(str(head), scored)
    assert 'trained or early-stopped the fine-tuned head "head"; figures' in w
    assert w.short == 'speakers s0, s1 (2 of 3) trained head "head"'
    export = tmp_path / "onnx_out"
    export.mkdir()
    (export / "training_card.json").write_text((head / "training_card.json").read_text())
    (export / "model.json").write_text(json.dumps({"source_model": "models/head", "source_path": str(head)}))
    w = speaker_overlap_message(str(export), scored)
    assert 'the fine-tuned head "head" (its ONNX export "onnx_out"); figures' in w, w
    assert w.short.endswith('trained head "head" (its ONNX export "onnx_out")')
    # the export moved without its source: the source's id names the head still
    (export / "model.json").write_text(json.dumps({"source_model": "models/head", "source_path": str(tmp_path / "gone")}))
    assert 'the fine-tuned head "head" (its ONNX export "onnx_out")' in speaker_overlap_message(str(export), scored)


def test_a_span_label_wider_than_its_bar_is_shortened_inside_it(tmp_path):
    """`workbench segment long_dialogue.wav --model models/head`: on heatmap.png's timeline the label "cheerful" of a
    2.5 s span (of 53 s) was drawn centred and wider than its bar, over both neighbours.  Each label now fits inside its
    bar: shortened ("che…") where the word is too wide, hidden where nothing fits."""
    import dataclasses
    import io

    import numpy as np
    import soundfile as sf

    from workbench.runs.longform import SegmentConfig, plot_longform, segment_file

    sr = 16000
    t = np.arange(int(1.5 * sr)) / sr
    tone = 0.3 * np.sin(2 * np.pi * 150 * t)
    sf.write(tmp_path / "long.wav", np.concatenate([tone, np.zeros(sr), tone]).astype(np.float32), sr)
    res = segment_file(tmp_path / "long.wav", model="tiny", out_dir=tmp_path / "seg", config=SegmentConfig(vad="energy"), figures=False)
    duration = len(res.heatmap) * res.grid_s
    timeline = pd.DataFrame({"start": [0.0, 0.03 * duration, 0.08 * duration, 0.9 * duration],
                             "end": [0.03 * duration, 0.08 * duration, 0.9 * duration, 0.905 * duration],
                             "label": ["cheerfully-irate", "cheerful", "calm", "gloomy"],
                             "confidence": [0.5] * 4, "n_segments": [1] * 4, "at_or_under_uniform": [False, True, False, False]})
    fig = plot_longform(dataclasses.replace(res, timeline=timeline))
    fig.savefig(io.BytesIO(), format="png", dpi=110)
    ax = fig.axes[1]
    renderer = fig._get_renderer()
    shown = {}
    for text, (start, end) in zip(ax.texts, zip(timeline["start"], timeline["end"])):
        if not text.get_visible():
            continue
        box = text.get_window_extent(renderer)
        x0, x1 = ax.transData.transform((start, 0))[0], ax.transData.transform((end, 0))[0]
        assert x0 <= box.x0 and box.x1 <= x1, (text.get_text(), box, x0, x1)
        shown[text.get_text()] = True
    assert "calm" in shown and not any(t.startswith("gloomy") for t in shown)  # the long bar keeps its word; 0.5 % holds nothing
    assert any(t.startswith("che") and t.endswith("…") for t in shown), shown


def test_diagnose_says_which_model_and_precision_scored_the_file(tmp_path, capsys):
    """`workbench diagnose clip.wav --model models/head` said "the label stays irate under all 15 perturbations" under
    --dtype auto (which picked onnx-int8) and "changes under 4 of 15" with --dtype float32, yet neither the screen nor
    --json named the model or its precision (`similar` does).  Both do now."""
    import numpy as np
    import soundfile as sf

    from workbench.cli import main

    t = np.arange(16000) / 16000
    sf.write(tmp_path / "a.wav", (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), 16000)
    assert main(["diagnose", str(tmp_path / "a.wav"), "--model", "tiny", "--dtype", "float32", "--no-stability", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["model"]["dtype"] == "float32" and payload["model"]["id"] and payload["model"]["checksum"]
    assert main(["diagnose", str(tmp_path / "a.wav"), "--model", "tiny", "--dtype", "float32", "--no-stability"]) == 0
    assert "model: random-tiny (float32), for the prediction and every perturbation alike" in capsys.readouterr().out


def test_the_variant_comparison_of_a_one_variant_run_says_there_is_nothing_to_compare(tmp_path, monkeypatch):
    """`workbench report variant_comparison -p run_dir=runs/head` (the head's run, raw only) drew "Variants against raw"
    as a table of headers and no rows, with not a word why.  It says the run has one variant and how to score more."""
    import numpy as np

    from test_probe import synthetic_row, write_run
    from workbench.views import reporting

    rows = [synthetic_row(f"i{k}_{c}", emotion=c, speaker=f"s{k}", pred=c, variant="raw") for k in range(4) for c in ("angry", "sad")]
    rf = write_run(tmp_path / "run", rows, np.random.default_rng(0).standard_normal((len(rows), 4)))
    shown = []
    monkeypatch.setattr(reporting, "show_html", lambda markup: shown.append(str(markup)))
    monkeypatch.setattr(reporting, "show_figure", lambda fig, **_: None)
    out = reporting.comparison_section(rf.path, "raw")
    section = next(h for h in shown if "Variants against" in h)
    assert "ΔWA [95% CI]" not in section and "one variant (raw): nothing to compare" in section, section
    assert "--variants variants.yaml" in section and out["comparisons"] == [] and "nothing to compare" in out["note"]


def test_the_long_audio_widget_marks_the_spans_no_better_than_a_uniform_guess(tmp_path, tiny_model):
    """Notebook 05 (LongAudioTimeline) on a `segment` folder: the screen and heatmap.png flag the spans whose mean
    confidence is at or under the uniform guess 1/K ("!! 1 of 3 spans …", hatched "≤ 1/K"), but the widget's header,
    span list and bars showed them as any other span.  They carry the mark there too."""
    from test_longform import bursts_file
    from workbench.runs.longform import SegmentConfig, segment_file
    from workbench.views.widgets import LongAudioTimeline

    res = segment_file(bursts_file(tmp_path / "long.wav"), model=tiny_model, out_dir=tmp_path / "seg",
                       config=SegmentConfig(vad="energy"), figures=False)
    tl = pd.read_csv(tmp_path / "seg" / "timeline.csv")
    tl["at_or_under_uniform"] = [True] + [False] * (len(tl) - 1)  # as `segment` writes a span at 1/K
    tl.to_csv(tmp_path / "seg" / "timeline.csv", index=False)
    summary = {**res.summary, "spans_at_or_under_uniform": 1}
    (tmp_path / "seg" / "summary.json").write_text(json.dumps(summary))
    view = LongAudioTimeline(tmp_path / "seg")
    head = view.widget.children[0].value
    assert f"1 of {len(tl)} spans at or under the uniform guess {summary['uniform_guess']:.3f}" in head, head
    options = [label for label, _ in view.spans.options]
    assert "≤ 1/K" in options[0] and not any("≤ 1/K" in o for o in options[1:]), options
    texts = list(view.span_trace.text)
    assert texts[0].endswith(" ≤ 1/K") and not any(t.endswith("≤ 1/K") for t in texts[1:]), texts


def test_the_variant_comparison_figures_of_a_heads_run_carry_the_training_data_mark(tmp_path, monkeypatch):
    """variant_comparison on the head's run (raw and telephone; 4 of 5 speakers trained the head): the page's banner
    said so, but the Δ histogram and interval figures went out with only the RANDOM WEIGHTS mark, while every other
    report figure of the run (confusion, reliability, calibration) carries TRAINING DATA too."""
    import numpy as np

    from test_probe import synthetic_row, write_run
    from workbench.views import reporting

    head = _head(tmp_path / "head", ["s0"])
    rows = [synthetic_row(f"i{k}_{c}", emotion=c, speaker=f"s{k % 3}", pred=c, variant=v)
            for v in ("raw", "telephone") for k in range(6) for c in ("angry", "sad")]
    rf = write_run(tmp_path / "run", rows, np.random.default_rng(0).standard_normal((len(rows), 4)), model=str(head))
    marked = []
    monkeypatch.setattr(reporting, "show_html", lambda markup: None)
    monkeypatch.setattr(reporting, "show_figure", lambda fig, **kw: marked.append(kw.get("overlap")))
    reporting.comparison_section(rf.path, "raw")
    assert marked and all(m and "speaker overlap" in str(m[0]) for m in marked), marked


def test_a_widget_notebooks_page_of_a_random_head_or_segment_folder_carries_the_banner(tmp_path):
    """`workbench report notebooks/02_sample_rate_effects.ipynb -p model=models/head` (a head fine-tuned from the
    random tiny checkpoint) and `05_long_audio.ipynb -p segment_dir=seg` (a `segment` folder of that head, its
    summary.json saying random_weights) wrote pages without the RANDOM WEIGHTS banner; 04 on the head's run had it."""
    from pathlib import Path

    from workbench.views.report_run import read_random_weights

    notebooks = Path(__file__).resolve().parents[1] / "notebooks"
    head = _head(tmp_path / "head", ["s0"])
    card = json.loads((head / "training_card.json").read_text())
    (head / "training_card.json").write_text(json.dumps({**card, "parent": {"id": "random-tiny", "random_weights": True}}))
    assert read_random_weights({"model": str(head)}, tmp_path, notebooks / "02_sample_rate_effects.ipynb")
    (head / "training_card.json").write_text(json.dumps({**card, "parent": {"id": "iic/emotion2vec_plus_large"}}))
    assert not read_random_weights({"model": str(head)}, tmp_path, notebooks / "02_sample_rate_effects.ipynb")
    seg = tmp_path / "seg"
    seg.mkdir()
    (seg / "summary.json").write_text(json.dumps({"random_weights": True}))
    assert read_random_weights({"segment_dir": str(seg)}, tmp_path, notebooks / "05_long_audio.ipynb")
    (seg / "summary.json").write_text(json.dumps({"random_weights": False}))
    assert not read_random_weights({"segment_dir": str(seg)}, tmp_path, notebooks / "05_long_audio.ipynb")
