"""Explaining at interactive speed (issue #28 item 4): the run folder's explanation cache, ``--worst N``, batching.

The cache is exercised through the command on a small tiny-model run: the same call again reads it (screen and
JSON say so), a changed setting recomputes, a damaged or foreign entry is detected by its checksum or key and
recomputed.  ``--worst`` is checked against its stated rule on hand-made tables and end to end (one model
load for all cases, the summary the report reads).  Batched perturbations are compared with one clip per pass.
"""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from workbench.cli import main
from workbench.errors import ConfigError
from workbench.explain.attribution import ClassScore, integrated_gradients, tf_occlusion, time_occlusion
from workbench.explain.cache import Rendered, cache_key, entry_names, read_cached, write_cached
from workbench.explain.explanation import explain_clip
from workbench.explain.faithfulness import faithfulness
from workbench.explain.worst import RULE_LABELLED, RULE_UNLABELLED, WORST_JSON, select_worst, worst_summary
from workbench.model.batching import default_policy
from workbench.runs.folder import RunFolder

from conftest import speech_like

FAST = ["--method", "occlusion", "--steps", "4", "--randomisation", "none", "--device", "cpu"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """Three 1 s clips scored by the tiny model, with reference classes (so ``correct`` is set)."""
    from workbench.data.manifest import Item, Manifest, write_manifest
    from workbench.model.ref import ModelRef
    from workbench.runs.driver import run

    root = tmp_path_factory.mktemp("cache_run")
    (root / "a").mkdir()
    for i in range(3):
        sf.write(root / "a" / f"c{i}.wav", speech_like(16000, 1.0, seed=i), 16000, subtype="FLOAT")
    labels = ("happy", "disgusted", "angry")  # the tiny model says "disgusted" to these: two wrong, one right
    manifest = write_manifest(Manifest([Item(id=f"c{i}", path=f"a/c{i}.wav", label=labels[i], emotion=labels[i]) for i in range(3)],
                                       root=root), root / "m.csv")
    return run(manifest, out_dir=root / "run", model=ModelRef("tiny", device="cpu"), cache_dir=root / "cache").run_dir


def _explain(run_dir, out, *extra):
    return main(["explain", str(run_dir), "--item", "c1", *FAST, "--out", str(out), *extra])


def test_the_same_call_reads_the_cache_and_a_changed_setting_recomputes(tiny_run, tmp_path, capsys):
    assert _explain(tiny_run, tmp_path / "a") == 0
    first = json.loads((tmp_path / "a" / "explanation.json").read_text())
    assert first["cache"]["hit"] is False and "computed" in capsys.readouterr().out
    entry = first["cache"]["entry"]
    # named from the key's hash alone (20 hex digits), never from the item's id: "c1" itself can occur in a hash
    assert (tiny_run / entry).is_file() and re.fullmatch(r"explain_[0-9a-f]{20}\.json", entry), entry

    assert _explain(tiny_run, tmp_path / "b") == 0
    second = json.loads((tmp_path / "b" / "explanation.json").read_text())
    screen = capsys.readouterr().out
    assert second["cache"]["hit"] is True and second["cache"]["entry"] == entry and "cache: read" in screen
    assert {k: v for k, v in second.items() if k != "cache"} == {k: v for k, v in first.items() if k != "cache"}
    assert (tmp_path / "b" / "explanation.png").read_bytes() == (tmp_path / "a" / "explanation.png").read_bytes()
    assert "occlusion: deletion AUC" in screen  # a hit shows the same evidence, checks and flags
    assert _explain(tiny_run, tmp_path / "b", "--json") == 0  # --json: the document alone on stdout, the cache's word in it
    assert json.loads(capsys.readouterr().out)["cache"]["hit"] is True

    assert _explain(tiny_run, tmp_path / "c", "--class", "happy") == 0  # another key: computed, its own entry
    third = json.loads((tmp_path / "c" / "explanation.json").read_text())
    assert third["cache"]["hit"] is False and third["cache"]["entry"] != entry and third["target"] == "happy"
    assert _explain(tiny_run, tmp_path / "d", "--no-cache") == 0
    assert json.loads((tmp_path / "d" / "explanation.json").read_text())["cache"]["hit"] is False


def test_a_random_weights_runs_explanation_carries_the_mark_in_its_cache_and_in_out(tiny_run, tmp_path, capsys):
    """A run item's explanation was written as PNG bytes into the run folder's cache and into --out with no
    RANDOM_WEIGHTS_MARK (every other figure of the run carries it): now both carry it, recorded in artifacts.json."""
    from workbench.labels import RANDOM_WEIGHTS_MARK

    for _ in range(2):  # computed, then read from the cache
        assert main(["explain", str(tiny_run), "--item", "c0", *FAST, "--out", str(tmp_path / "e")]) == 0
        record = json.loads((tmp_path / "e" / "explanation.json").read_text())
        assert record["random_weights_mark"] == RANDOM_WEIGHTS_MARK
        assert RunFolder(tmp_path / "e").artifacts()["explanation.png"]["random_weights_mark"] == RANDOM_WEIGHTS_MARK
    assert record["cache"]["hit"] is True
    png = record["cache"]["entry"].replace(".json", ".png")
    assert RunFolder(tiny_run).artifacts()[png]["random_weights_mark"] == RANDOM_WEIGHTS_MARK


def test_a_damaged_or_foreign_entry_is_recomputed_never_trusted(tiny_run, tmp_path):
    rf = RunFolder(tiny_run)
    row = rf.row("c0")
    model = {"checksum": "ab" * 32, "dtype": "float32", "temperature": None, "device": "cpu"}
    key = cache_key(row, model=model, settings={"steps": 4})
    other = cache_key(row, model=model, settings={"steps": 5})
    good = Rendered({"target": "happy", "x": 0.25}, b"png-bytes", b"wav-bytes", ["line"])
    write_cached(rf, key, good)
    got, note = read_cached(rf, key)
    assert got is not None and got.record == good.record and got.png == good.png and got.wav == good.wav, note
    names = entry_names(key)

    env = json.loads((tiny_run / names["json"]).read_text())
    env["record"]["x"] = 0.5  # an edited figure
    (tiny_run / names["json"]).write_text(json.dumps(env))
    got, note = read_cached(rf, key)
    assert got is None and "checksum" in note

    write_cached(rf, key, good)
    (tiny_run / names["png"]).write_bytes(b"other")  # a damaged figure
    assert read_cached(rf, key)[0] is None

    write_cached(rf, other, good)  # another key's entry under this key's name: foreign
    shutil.copyfile(tiny_run / entry_names(other)["json"], tiny_run / names["json"])
    got, note = read_cached(rf, key)
    assert got is None and "another key" in note

    (tiny_run / names["json"]).unlink()
    (tiny_run / names["json"]).symlink_to(tiny_run / entry_names(other)["json"])  # a planted link
    assert read_cached(rf, key)[0] is None
    (tiny_run / names["json"]).unlink()


def _table(correct, confidence):
    n = len(confidence)
    return pd.DataFrame({"id": [f"i{k}" for k in range(n)], "variant": ["raw"] * n, "confidence": confidence,
                         "correct": pd.array(correct, dtype="boolean")})


def test_worst_says_when_its_cut_falls_inside_a_tie_and_stays_silent_otherwise():
    """Three wrong rows at confidence 0.8 and --worst 2: which two are explained was the id order's choice, unsaid."""
    rows, rule = select_worst(_table([False, False, False, True], [0.8, 0.8, 0.8, 0.3]), 2)
    assert list(rows["id"]) == ["i0", "i1"]
    assert rule.startswith(RULE_LABELLED) and "inside a tie of 3 rows at confidence 0.8 (2 taken, 1 left out, by id order)" in rule
    assert select_worst(_table([False, False, False, True], [0.8, 0.8, 0.8, 0.3]), 3)[1] == RULE_LABELLED  # the tie whole
    assert select_worst(_table([None, None, None], [0.5, 0.5, 0.9]), 1)[1].endswith("(1 taken, 1 left out, by id order)")


def test_worst_follows_its_stated_rule():
    rows, rule = select_worst(_table([True, False, False, None, True], [0.9, 0.4, 0.8, 0.1, 0.3]), 4)
    assert rule == RULE_LABELLED
    assert list(rows["id"]) == ["i2", "i1", "i3", "i4"]  # wrong by confidence down, then the rest by confidence up
    rows, rule = select_worst(_table([None, None, None], [0.5, 0.2, 0.9]), 3)
    assert rule == RULE_UNLABELLED and list(rows["id"]) == ["i1", "i0", "i2"]
    for bad in (0, 4, -1, True):
        with pytest.raises(ConfigError, match="of 3 scored"):
            select_worst(_table([None] * 3, [0.5, 0.2, 0.9]), bad)


def test_worst_explains_n_cases_with_one_model_load_and_writes_the_summary(tiny_run, capsys, monkeypatch):
    from workbench.model.ref import ModelRef

    loads = []
    real = ModelRef.load
    monkeypatch.setattr(ModelRef, "load", lambda self, **kw: loads.append(1) or real(self, **kw))
    (tiny_run / WORST_JSON).unlink(missing_ok=True)
    assert worst_summary(tiny_run) is None
    assert main(["explain", str(tiny_run), "--worst", "2", *FAST, "--class", "sad"]) == 0
    screen = capsys.readouterr().out
    assert len(loads) == 1 and "2 worst of the 3 rows the model scored" in screen and "wrong predictions first" in screen
    # the random-weights banner once per command (README), above the cases: it was repeated inside every case
    assert screen.count("RANDOM WEIGHTS") == 1 and screen.index("RANDOM WEIGHTS") < screen.index("[1/2]"), screen
    s = worst_summary(tiny_run)
    assert s["showing"] == "2 of the 3 rows the model scored (labelled or not)" and s["rule"] == RULE_LABELLED and len(s["cases"]) == 2 and s["figure"]
    ok = RunFolder(tiny_run).results(status="ok")
    expected, _ = select_worst(ok, 2)
    assert [c["id"] for c in s["cases"]] == list(expected["id"])
    for i, r in enumerate(expected.to_dict("records"), 1):  # each case says why it is among the worst: reference → prediction
        truth = next((v for v in (r["emotion"], r["label"]) if isinstance(v, str) and v), "unlabelled")
        assert f"[{i}/2] {r['id']} [{r['variant']}] {truth} → {r['pred']} ({r['confidence']:.2f}), computed" in screen, screen
    for c in s["cases"]:  # every case keeps its checks and flags, and its cache entry is there
        m = c["methods"]["occlusion"]
        assert m["deletion_verdict"] and m["deletion_auc_random_interval"] and m["randomisation_skipped"]
        assert (tiny_run / c["entry"]).is_file() and c["cache"] == "computed"
    assert s["methods"]["occlusion"]["cases"] == 2 and s["methods"]["occlusion"]["randomisation_skipped"] == 2
    # the report shows the summary only when made again: the screen names the command (it ended at "wrote …")
    assert f"next: workbench report experiment_report -p run_dir={tiny_run}" in screen, screen

    assert main(["explain", str(tiny_run), "--worst", "2", *FAST, "--class", "sad"]) == 0  # all from the cache, no load
    assert len(loads) == 1 and all(c["cache"] == "hit" for c in worst_summary(tiny_run)["cases"])
    assert main(["explain", str(tiny_run), "--worst", "4", *FAST]) != 0
    assert "4 worst of 3 scored" in capsys.readouterr().err

    text = (tiny_run / WORST_JSON).read_text().replace('"2 of the 3 rows the model scored (labelled or not)"', '"3 of 3 scored rows"', 1)
    (tiny_run / WORST_JSON).write_text(text)  # an edited summary is refused, not shown
    with pytest.raises(ConfigError, match="checksum"):
        worst_summary(tiny_run)


def test_batched_perturbations_equal_one_clip_per_pass(tiny_model):
    """Occlusion, time-frequency occlusion, IG and the deletion/insertion curves batched to the memory budget
    against the same with one clip per forward pass: equal within float32 rounding (tolerances below)."""
    y = speech_like(16000, 0.5, seed=3)
    batched, single = ClassScore(tiny_model), ClassScore(tiny_model, max_batch=1)
    assert batched.budget_s == default_policy("cpu").max_batch_seconds and batched.batch_size(len(y), 16) == 16
    assert single.batch_size(len(y), 16) == 1
    # occlusion maps are differences of log-probabilities near -2.2, so float32 rounds them at ~2.4e-7 nats: 2e-6 nats is
    # a few ulps; IG sums 8 000 gradients per map, so within 1e-5 of the map's largest frame
    for fn, kw in ((time_occlusion, {}), (tf_occlusion, {}), (integrated_gradients, {"max_steps": 16})):
        a, b = fn(batched, y, "happy", **kw), fn(single, y, "happy", **kw)
        tol = 1e-5 * float(np.max(np.abs(a.frame_relevance))) if fn is integrated_gradients else 2e-6
        np.testing.assert_allclose(a.frame_relevance, b.frame_relevance, rtol=0, atol=tol, err_msg=fn.__name__)
        if a.tf_map is not None:
            np.testing.assert_allclose(a.tf_map, b.tf_map, rtol=0, atol=tol)
    fa, fb = faithfulness(batched, y, a, steps=2, n_random=10), faithfulness(single, y, a, steps=2, n_random=10)
    np.testing.assert_allclose(fa.random.deletion_aucs, fb.random.deletion_aucs, rtol=0, atol=1e-6)
    np.testing.assert_allclose(fa.method.insertion, fb.method.insertion, rtol=0, atol=1e-6)
    with pytest.raises(ConfigError, match="max_batch"):
        ClassScore(tiny_model, max_batch=0)


def test_a_skipped_randomisation_check_is_said_everywhere(tiny_model):
    import matplotlib.pyplot as plt

    from workbench.explain.explanation import report_lines
    from workbench.explain.figure import plot_explanation

    y = speech_like(16000, 1.0, seed=1)
    expl = explain_clip(tiny_model, y, methods=("occlusion",), steps=4, n_random=10, randomisation=None)
    assert any("randomisation check: skipped" in line for line in report_lines(expl))
    rec = expl.to_dict()["methods"]["occlusion"]["randomisation"]
    assert rec["passed"] is None and "not requested" in rec["skipped"]
    fig = plot_explanation(expl, y, pitch={"unavailable": "not measured in this test"})
    assert any("randomisation check skipped" in ax.get_title(loc="left") for ax in fig.axes)
    plt.close(fig)


def test_the_explained_items_name_is_printed_on_one_line(tiny_model):
    """`explain --worst` prints each case's lines under the terminal guard, which keeps line breaks: an id (or a file's
    stem, for `explain FILE`) holding "\nerror: …" or an escape sequence began a forged line of its own."""
    from workbench.explain.explanation import report_lines

    expl = explain_clip(tiny_model, speech_like(16000, 1.0, seed=1), methods=("occlusion",), steps=4, n_random=10,
                        randomisation=None, item_id="c1\nerror: forged\x1b[2J")
    first = report_lines(expl)[0]
    assert first.startswith("c1\\nerror: forged\\x1b[2J: predicted ") and first.isprintable(), first


def test_long_titles_stay_inside_the_figure_and_whole_in_the_json(tiny_model):
    import matplotlib.pyplot as plt

    from workbench.explain.figure import figure_titles, plot_explanation

    y = speech_like(16000, 1.0, seed=2)
    expl = explain_clip(tiny_model, y, methods=("occlusion", "tf-occlusion"), steps=4, n_random=10, randomisation=None,
                        item_id="a_very_long_item_identifier_" * 8)
    fig = plot_explanation(expl, y, pitch={"unavailable": "not measured in this test"})
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    width = fig.bbox.width
    texts = [ax.title for ax in fig.axes] + [ax._left_title for ax in fig.axes] + ([fig._suptitle] if fig._suptitle else [])
    cut = [t.get_text()[:60] for t in texts if t.get_text() and t.get_window_extent(renderer).x1 > width + 1]
    assert not cut, cut
    assert expl.id in figure_titles(expl)["heading"]  # the whole id, for the JSON
    plt.close(fig)


def test_the_frame_score_heatmap_covers_its_frames_and_the_tail_without_one_is_marked(tiny_model):
    """The frame-score heatmap ended 20 ms before the time axis, an unexplained white strip: the encoder's frames
    (25 ms window, 20 ms hop) stop short of the audio's end. The heatmap spans exactly its frames' times, the axis
    the whole audio, and the tail between them is hatched and named in the row's title."""
    import matplotlib.pyplot as plt

    from workbench.explain.figure import plot_explanation

    y = speech_like(16000, 2.5, seed=3)
    expl = explain_clip(tiny_model, y, methods=("occlusion",), steps=4, n_random=10, randomisation=None)
    fig = plot_explanation(expl, y, pitch={"unavailable": "not measured in this test"})
    ax = next(a for a in fig.axes if a.get_title(loc="left").startswith("frame scores"))
    n = len(expl.frame_logits)
    assert tuple(ax.images[0].get_extent()[:2]) == pytest.approx((0.0, n / 50))  # frame i over [i/50, (i+1)/50)
    assert ax.get_xlim() == pytest.approx((0.0, 2.5)) and n / 50 < 2.5  # the axis ends at the audio's end
    tail = [p for p in ax.patches if p.get_gid() == "no frame"]
    assert len(tail) == 1
    box = tail[0].get_bbox()  # axvspan's rectangle, in data coordinates along x
    assert (box.x0, box.x1) == pytest.approx((n / 50, 2.5))  # the strip is the hatched tail, exactly
    assert f"the last {1000 * (2.5 - n / 50):.0f} ms, which no frame covers" in ax.get_title(loc="left")
    plt.close(fig)


def test_a_run_whose_checkpoint_folder_is_not_here_is_refused_once_with_the_fix(tmp_path, capsys):
    """rerun16: `explain RUN --worst N` on a received run without its checkpoint folder failed each item with 'no such
    checkpoint directory … give a hub id' and wrote a summary of failures; it is refused once, before any item, naming
    --model DIR and the run's sha256, and --model with a copy explains."""
    import shutil

    from workbench.data.manifest import Item, Manifest, write_manifest
    from workbench.model.checkpoints import ensure_random_checkpoint
    from workbench.model.ref import ModelRef
    from workbench.runs.driver import run

    shutil.copytree(ensure_random_checkpoint("tiny"), tmp_path / "ck")
    (tmp_path / "a").mkdir()
    sf.write(tmp_path / "a" / "c0.wav", speech_like(16000, 1.0, seed=0), 16000, subtype="FLOAT")
    manifest = write_manifest(Manifest([Item(id="c0", path="a/c0.wav")], root=tmp_path), tmp_path / "m.csv")
    run_dir = run(manifest, out_dir=tmp_path / "run", model=ModelRef(str(tmp_path / "ck"), device="cpu"),
                  cache_dir=tmp_path / "cache").run_dir
    (tmp_path / "ck").rename(tmp_path / "moved")
    capsys.readouterr()
    assert main(["explain", str(run_dir), "--worst", "1", *FAST]) == 2
    err = capsys.readouterr().err
    assert f"the run's checkpoint folder {tmp_path / 'ck'} is not here" in err and "--model DIR" in err and "sha256" in err
    assert "FAILED" not in err and not (run_dir / WORST_JSON).exists()
    assert main(["explain", str(run_dir), "--item", "c0", *FAST, "--out", str(tmp_path / "one")]) == 2
    assert main(["explain", str(run_dir), "--worst", "1", *FAST, "--model", str(tmp_path / "moved")]) == 0
    assert (run_dir / WORST_JSON).exists()
