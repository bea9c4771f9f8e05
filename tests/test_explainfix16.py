"""explainfix16: claims on explain pages and long-audio views that said more than was checked (walk16)."""

import json

import numpy as np
import pytest


def _sine(seconds: float = 0.5, hz: float = 1000.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_a_worst_case_map_whose_randomisation_check_was_skipped_is_not_said_to_pass_every_check(tiny_model):
    """`explain RUN --worst N --randomisation none`: each map with its other checks passed was drawn green, "green =
    passed every check", and the report's table counted it under "maps that passed every check". A skipped check is
    no pass: the cell is its own colour and says SKIPPED, the summary counts it apart with why, on screen too."""
    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    from workbench.explain.explanation import explain_clip
    from workbench.explain.worst import case_record, passed_cell, plot_worst, summary_lines, summary_record

    expl = explain_clip(tiny_model, _sine(), target="happy", methods=("occlusion",), n_random=10, randomisation=None)
    record = json.loads(expl.to_json())
    record["methods"]["occlusion"]["reliable"] = True  # its other checks passed: only the skipped one is in question
    case = case_record({"id": "c1", "variant": "raw", "pred": "happy", "confidence": 0.9}, record, entry=None, cache="computed")
    method = case["methods"]["occlusion"]
    assert "randomisation" in method["checks_skipped"] and "randomisation" not in method["checks_ran"], method
    assert "faithfulness" in method["checks_ran"]
    summary = summary_record([case], rule="r", n=1, m=1, variant=None, settings={}, warning=None)
    counts = summary["methods"]["occlusion"]
    assert counts["passed_every_check"] == 0 and counts["reliable"] == 1 and counts["randomisation_skipped_why"], counts
    fig = plot_worst(summary)
    ax = fig.axes[0]
    cell = ax.images[0].cmap(ax.images[0].norm(ax.images[0].get_array()[0, 0]))
    green = matplotlib.colors.to_rgba("#b7e4c7")
    assert not np.allclose(cell, green), cell  # not drawn as a pass
    assert "randomisation SKIPPED" in " ".join(t.get_text() for t in ax.texts)
    assert "SKIPPED (not a pass)" in fig._suptitle.get_text().replace("\n", " ")
    plt.close(fig)
    screen = "\n".join(summary_lines(summary))
    assert "0 of 1 maps passed every check" in screen and "SKIPPED" in screen and "not requested" in screen, screen
    shown = passed_cell(counts)
    assert shown.startswith("0 of 1") and "SKIPPED" in shown and "not requested" in shown, shown


def _head_on_a_random_parent(root):
    """A calm/tense corpus of 4 speakers and a head on the random `tiny` whose card says its parent is random."""
    import soundfile as sf

    from workbench.analysis.finetune import write_checkpoint
    from workbench.data.manifest import Item, Manifest, write_manifest
    from workbench.model.checkpoints import RANDOM_MARKER, ensure_random_checkpoint
    (root / "clips").mkdir()
    items = []
    for s, spk in enumerate(("s0", "s1", "s2", "s3")):
        for k, lab in enumerate(("calm", "tense")):
            sf.write(root / "clips" / f"{spk}_{lab}.wav", _sine(0.6, 300 + 200 * k + 50 * s), 16000, subtype="PCM_16")
            items.append(Item(id=f"{spk}_{lab}", path=f"clips/{spk}_{lab}.wav", label=lab, speaker=spk))
    manifest = write_manifest(Manifest(items, root=root), root / "calm_tense.csv")
    parent = ensure_random_checkpoint("tiny")
    marker = json.loads((parent / RANDOM_MARKER).read_text(encoding="utf-8"))["warning"]
    rng = np.random.default_rng(0)
    card = {"warning": f"fine-tuned from a generated checkpoint: {marker}", "labels": {"classes": ["calm", "tense"]},
            "speakers": {"train": ["s0", "s1"], "validation": ["s2"], "test": ["s3"]},
            "parent": {"id": "random-tiny", "random_weights": True}, "training": {"mode": "head", "unfreeze": 0}}
    write_checkpoint(root / "h4", parent, ["calm", "tense"], rng.standard_normal((2, 32)), rng.standard_normal(2), card)
    return manifest, root / "h4"


@pytest.mark.slow
def test_every_command_says_a_random_heads_banner_in_one_wording_naming_the_head_and_its_parent(tmp_path, capsys):
    """walk16: `run`, `metrics`, `compare` and `calibrate` of a head fine-tuned on a random parent printed "RANDOM
    WEIGHTS: this result comes from a seeded random test checkpoint", `explain` "fine-tuned from a generated checkpoint:
    RANDOM WEIGHTS: …"; neither named the head or its parent. Now one banner, the same in each (calibrate's and
    compare's come from the same function; 8 clips are too few for calibrate's folds)."""
    from workbench.cli import main

    manifest, head = _head_on_a_random_parent(tmp_path)
    run_dir = tmp_path / "run_h4"
    capsys.readouterr()
    said = {}
    for name, argv in (("run", ["run", str(manifest), "--model", str(head), "--out", str(run_dir), "--cache-dir", str(tmp_path / "c")]),
                       ("metrics", ["metrics", str(run_dir)]),
                       ("explain", ["explain", str(run_dir), "--item", "s3_calm", "--method", "occlusion",
                                    "--randomisation", "none", "--out", str(tmp_path / "expl")])):
        main(argv)
        out = capsys.readouterr().out
        said[name] = sorted({line.strip() for line in out.splitlines() if "RANDOM WEIGHTS" in line and line.strip().startswith("!!")})
    want = '!! RANDOM WEIGHTS: this result comes from head "h4", fine-tuned from random-tiny, a seeded random test checkpoint; its predictions mean nothing.'
    for name, lines in said.items():
        assert want in lines, (name, lines)
        assert not any("seeded random test checkpoint; its" in x and "head" not in x for x in lines), (name, lines)


def test_the_long_audio_figure_names_its_model_and_gives_each_of_12_classes_its_own_colour(tmp_path):
    """walk16: `segment` with a 12-class head: heatmap.png's title named no model (a head's labels read as the
    checkpoint's) and the timeline coloured with tab10, classes 0 and 10 one colour. Now the title names the head, its
    parent and RANDOM WEIGHTS, and every class has its own colour (the notebook widget uses the same palette and title)."""
    import matplotlib
    import matplotlib.pyplot as plt
    import pandas as pd

    matplotlib.use("Agg")
    from workbench.model.checkpoints import TRAINING_CARD
    from workbench.runs.longform import LongformResult, plot_longform
    from workbench.runs.longform_plot import model_words, span_colours

    head = tmp_path / "h12"
    head.mkdir()
    (head / TRAINING_CARD).write_text(json.dumps({"parent": {"id": "random-tiny", "random_weights": True}}), encoding="utf-8")
    labels = [f"c{i}" for i in range(12)]
    timeline = pd.DataFrame({"start": [0.0, 2.0], "end": [2.0, 4.0], "label": ["c0", "c10"], "confidence": [0.5, 0.5],
                             "n_segments": [1, 1]})
    res = LongformResult(out_dir=tmp_path, segments=pd.DataFrame(), timeline=timeline,
                         heatmap=np.full((40, 12), 1 / 12), grid_s=0.1, dominant="c0",
                         summary={"model": {"id": str(head), "path": str(head), "labels": labels}, "random_weights": True})
    fig = plot_longform(res)
    title = " ".join(fig.axes[0].get_title().split())
    assert 'head "h12" fine-tuned from random-tiny (RANDOM WEIGHTS)' in title, title
    faces = [tuple(p.get_facecolor()) for p in fig.axes[1].patches]
    assert len(faces) == 2 and faces[0] != faces[1], faces
    plt.close(fig)
    colours = [tuple(c) for c in span_colours(12)]
    assert len(set(colours)) == 12 and len(set(map(tuple, span_colours(30)))) == 30
    assert model_words({"id": "tiny"}) == "model: tiny"
