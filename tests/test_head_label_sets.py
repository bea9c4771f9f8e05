"""A fine-tuned head's own label set carried through the commands that read its runs.

Two random heads on the tiny checkpoint over classes that are none of the nine (``calm``/``tense`` and
``zeal``/``grief``), their training cards naming the speakers that trained them, score one small manifest; the
commands that read those runs must speak of the head's classes, in its order, and say so where a figure across two
label sets measures the label sets rather than the models.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from test_finetune import voice

CALM_TENSE = ["calm", "tense"]
ZEAL_GRIEF = ["zeal", "grief"]
SPEAKERS = ("s0", "s1", "s2", "s3")
SAYS = {"calm": "all is quiet and still here", "tense": "watch out hurry up now"}


def trained_head(folder, classes, *, seed: int = 0, unfreeze: int = 0):
    """A random head for ``classes`` whose training card says s0 and s1 trained it, s2 early-stopped it, s3 tested it."""
    from workbench.analysis.finetune import write_checkpoint
    from workbench.model.checkpoints import RANDOM_MARKER, ensure_random_checkpoint

    parent = ensure_random_checkpoint("tiny")
    rng = np.random.default_rng(seed)
    marker = json.loads((parent / RANDOM_MARKER).read_text(encoding="utf-8"))["warning"]
    card = {"warning": f"fine-tuned from a generated checkpoint: {marker}", "labels": {"classes": classes},  # as finetune writes it
            "speakers": {"train": ["s0", "s1"], "validation": ["s2"], "test": ["s3"]},
            "training": {"mode": "encoder-full" if unfreeze else "head", "unfreeze": unfreeze}}
    write_checkpoint(folder, parent, classes, rng.standard_normal((len(classes), 32)), rng.standard_normal(len(classes)), card)
    return folder


@pytest.fixture(scope="module")
def head_runs(tmp_path_factory):
    """One manifest (calm/tense, 4 speakers, transcripts) scored by the calm/tense head and by the zeal/grief head."""
    from workbench.data.manifest import Item, Manifest, write_manifest
    from workbench.runs.driver import run

    root = tmp_path_factory.mktemp("label_sets")
    (root / "clips").mkdir()
    items = []
    for s, spk in enumerate(SPEAKERS):
        for k, lab in enumerate(CALM_TENSE):
            for r in range(2):
                name = f"{spk}_{lab}_{r}.wav"
                sf.write(root / "clips" / name, voice(3 * k, 6, seed=100 * s + 10 * k + r), 16000, subtype="PCM_16")
                items.append(Item(id=name[:-4], path=f"clips/{name}", label=lab, speaker=spk, text=SAYS[lab]))
    manifest = write_manifest(Manifest(items, root=root), root / "calm_tense.csv")
    heads = {"calm_tense": trained_head(root / "head_ct", CALM_TENSE, seed=1), "zeal_grief": trained_head(root / "head_zg", ZEAL_GRIEF, seed=2)}
    runs = {name: run(manifest, out_dir=root / f"run_{name}", model=str(folder), cache_dir=root / "cache", progress=False).run_dir
            for name, folder in heads.items()}
    return {"root": root, "manifest": manifest, "heads": heads, "runs": runs}


def test_fuse_on_a_heads_run_says_its_speakers_trained_the_head(head_runs, tmp_path, capsys):
    # fuse printed the head's row (UAR 0.925, "ΔUAR vs speech +0.175, McNemar p = 0.039") on the speakers that trained it,
    # under "5-fold speaker-independent CV", with no word of the overlap that metrics, calibrate and compare state
    from workbench.cli import main

    assert main(["fuse", str(head_runs["runs"]["calm_tense"]), "--folds", "2", "--bootstrap", "50", "--out", str(tmp_path / "f")]) == 0
    out = capsys.readouterr().out
    assert "!! speaker overlap: 3 of the 4 speakers evaluated here (s0, s1, s2) trained or early-stopped the fine-tuned head \"head_ct\"" in out
    assert out.index("speaker overlap") < out.index("  head ")
    saved = json.loads((tmp_path / "f" / "fusion.json").read_text(encoding="utf-8"))
    assert saved["training_overlap"] and "head_ct" in saved["training_overlap"][0]
    from workbench.views.fusion_html import fusion_html

    assert "speaker overlap: 3 of the 4 speakers" in str(fusion_html(saved))


def test_compare_of_two_heads_over_disjoint_label_sets_gives_no_agreement_figures(head_runs, tmp_path, capsys):
    # two heads over calm/tense and zeal/grief: compare printed "kappa 0.000, top-1 agreement 0.000 (40 label flips),
    # TVD mean 1.0000 max 1.0000" and listed every item as a flip, figures the names alone make (two heads with the same
    # weights under other names read as disagreeing on everything)
    import math

    from workbench.analysis.compare import compare_runs
    from workbench.cli import main

    runs = head_runs["runs"]
    cmp = compare_runs([runs["calm_tense"], runs["zeal_grief"]], n_boot=20)
    ag = cmp.agreement.iloc[0]
    assert math.isnan(ag["kappa"]) and math.isnan(ag["top1_agreement"]) and math.isnan(ag["mean_tvd"]) and ag["n_label_flips"] is None
    assert "disjoint label sets (A: calm, tense; B: zeal, grief)" in ag["label_sets_note"]
    assert not len(cmp.flips) and cmp.comparisons[0].n_flips is None and "n/a (disjoint label sets)" in cmp.html()
    assert "disjoint label sets (A: calm, tense; B: zeal, grief)" in cmp.html()
    # the page's agreement table said "None" label flips and ranked every item at TVD 1.0000, the names' distance
    assert "<td>None</td>" not in cmp.html() and cmp.items["tvd"].isna().all() and len(cmp.disagreements(3)) == 3
    from workbench.analysis.compare import plot_runs_comparison

    tvd_axes = plot_runs_comparison(cmp).axes[1]  # comparison.png drew 16 items at TVD 1, the names' distance
    assert "B vs A: n/a, the runs share no class" in tvd_axes.get_title() and not any(b.get_height() for b in tvd_axes.patches)
    assert main(["compare", str(runs["calm_tense"]), str(runs["zeal_grief"]), "--out", str(tmp_path / "c"), "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    assert "!! B vs A [raw] (16 items): kappa, top-1 agreement, label flips and score distances n/a: runs A and B score disjoint" in out
    assert "label flips)" not in out and "(16 items not labelled with a class of both runs: not paired for accuracy, label flips n/a)" in out
    # B's run has no item labelled in its classes: said in the model's terms, not "no emotion2vec+ counterpart"
    assert "16 ok item(s) have no label the model's classes can score" in out and "emotion2vec+ counterpart" not in out
    saved = json.loads((tmp_path / "c" / "comparison.json").read_text(encoding="utf-8"))
    assert saved["agreement"][0]["kappa"] is None and saved["agreement"][0]["label_sets_note"]


def test_label_sets_sharing_a_class_keep_their_agreement_figures():
    # only disjoint sets lose them: a head beside its parent (neutral in both, or anger that is angry by another name,
    # renamed before the check) keeps kappa, the flips and the distances
    from workbench.analysis.compare.classes import label_sets_note
    from workbench.labels import LABEL_KEYS

    assert label_sets_note(["anxious", "neutral", "sad", "zeal"], list(LABEL_KEYS), "A", "B") == ""
    assert label_sets_note(["calm", "tense"], ["tense"], "A", "B") == ""
    note = label_sets_note(["calm", "tense"], list(LABEL_KEYS), "A", "B")
    assert note.startswith("runs A and B score disjoint label sets (A: calm, tense; B: angry, disgusted,")


def test_label_sets_sharing_some_classes_say_what_their_agreement_counts():
    # a head over anxious/neutral/sad/zeal beside the nine shares neutral and sad: kappa 0.2 and 3 flips were printed
    # bare, though every 'zeal' or 'happy' is a disagreement by its name alone
    from workbench.analysis.compare.classes import kappa_note
    from workbench.labels import LABEL_KEYS

    head = ["anxious", "neutral", "sad", "zeal"]
    note = kappa_note(["zeal", "neutral", "sad", "sad"], ["happy", "neutral", "sad", "angry"], head, list(LABEL_KEYS))
    assert note.startswith("the two models share 2 of their classes (neutral, sad)") and "(given 3 time(s) here)" in note
    assert kappa_note(["x", "y"], ["x", "y"], ["x", "y"], ["y", "x"]) == ""  # the same classes in another order: no note
    assert kappa_note(["x", "y"], ["y", "x"]) == ""  # no classes given (a caller of the old form)


def test_infer_result_json_lists_the_heads_classes_in_its_label_scheme(head_runs, tmp_path):
    # result.json's label_scheme listed the nine (angry … unknown, with their Chinese names) beside scores over calm/tense
    from workbench.cli import main

    clip = next((head_runs["root"] / "clips").glob("s0_calm_0.wav"))
    assert main(["infer", str(clip), "--model", str(head_runs["heads"]["calm_tense"]), "--out", str(tmp_path / "o")]) == 0
    result = json.loads(next((tmp_path / "o").rglob("result.json")).read_text(encoding="utf-8"))
    assert [s["key"] for s in result["label_scheme"]] == CALM_TENSE == list(result["scores"])
    assert all(s["chinese"] is None and s["emoji"] is None for s in result["label_scheme"])


def test_the_nine_keep_their_names_in_the_label_scheme():
    from workbench.labels import LABEL_KEYS
    from workbench.runs.outputs import label_scheme

    nine = label_scheme(LABEL_KEYS)
    assert [s["key"] for s in nine] == list(LABEL_KEYS) and nine[4] == {"key": "neutral", "chinese": "中立", "emoji": "😐"}
    assert label_scheme(["zeal", "neutral"])[1] == {"key": "neutral", "chinese": None, "emoji": None}


def test_compare_of_a_heads_variants_says_its_speakers_trained_the_head(head_runs, tmp_path, capsys):
    # `workbench compare RUN` of a head's run with two variants printed WA 0.950 … on the head's training speakers bare,
    # while metrics, compare RUN_A RUN_B and the variant_comparison report warn
    from workbench.audio.variants import variants_from
    from workbench.cli import main
    from workbench.runs.driver import run

    variants = variants_from([{"name": "raw"}, {"name": "telephone", "steps": [{"name": "telephone"}]}])
    rd = run(head_runs["manifest"], out_dir=tmp_path / "var", model=str(head_runs["heads"]["calm_tense"]), variants=variants,
             cache_dir=head_runs["root"] / "cache").run_dir
    assert main(["compare", str(rd), "--baseline", "raw", "--bootstrap", "20", "--no-figures"]) == 0
    out = capsys.readouterr().out
    assert "!! speaker overlap: 3 of the 4 speakers evaluated here (s0, s1, s2)" in out and out.index("speaker overlap") < out.index("raw: WA")
    assert "head_ct" in json.loads((rd / "compare.json").read_text(encoding="utf-8"))["training_overlap"][0]


def test_a_fusion_json_from_before_the_overlap_check_is_not_reused(head_runs, tmp_path):
    # the report and notebook 06 show a run's fusion.json as it is when its key matches: one written before fuse knew
    # of the head's training speakers (no training_overlap) would show the head's row bare again
    from workbench.analysis.fusion import FUSION_CACHE_VERSION, cached_fusion, fuse_run

    rd = head_runs["runs"]["calm_tense"]
    fuse_run(rd, folds=2, n_boot=20, figures=False)
    saved = json.loads((rd / "fusion.json").read_text(encoding="utf-8"))
    assert saved["training_overlap"] and cached_fusion(rd, folds=2, n_boot=20)["training_overlap"]
    old = {k: v for k, v in saved.items() if k != "training_overlap"}
    old["key"] = {**saved["key"], "version": 4}  # the version before training_overlap
    (rd / "fusion.json").write_text(json.dumps(old), encoding="utf-8")
    assert FUSION_CACHE_VERSION > 4 and cached_fusion(rd, folds=2, n_boot=20) is None


def test_labels_that_are_the_models_classes_under_an_empty_emotion_column_are_told_apart(head_runs, tmp_path):
    # a manifest written with an emotion column left empty, labels neutral (one of the nine) and calm (not): the nine's
    # run said "their labels (calm 2, neutral 2) are none of the model's classes" and offered a head, while the
    # neutral items only lacked their emotion cell (a calm/neutral head's run of the same file reads them from label)
    from workbench.analysis.calibration import calibrate_run
    from workbench.analysis.metrics import run_metrics
    from workbench.cli.running import unlabelled_next_step
    from workbench.data.manifest import Item, Manifest, write_manifest
    from workbench.errors import ConfigError
    from workbench.runs.driver import run
    from workbench.runs.folder import RunFolder

    clips = sorted((head_runs["root"] / "clips").glob("*.wav"))[:4]
    items = [Item(id=p.stem, path=str(p), label=lab, emotion="", speaker=f"s{i}") for i, (p, lab) in
             enumerate(zip(clips, ["neutral", "calm", "neutral", "calm"]))]
    manifest = write_manifest(Manifest(items, root=tmp_path), tmp_path / "blank.csv")
    rd = run(manifest, out_dir=tmp_path / "run", model="tiny", cache_dir=head_runs["root"] / "cache").run_dir
    rep = next(iter(run_metrics(rd, figures=False, n_boot=20).values()))
    assert rep.excluded_labels == {"calm": 2} and rep.blank_labels == {"neutral": 2}
    assert "the model's own class, emotion cell empty: neutral 2" in rep.excluded_words()
    assert "2 item(s) are labelled with the model's own classes (neutral 2), but their emotion cell is empty" in rep.not_scored
    assert "their labels (calm 2) are none of the model's classes" in rep.not_scored
    with pytest.raises(ConfigError, match=r"labelled with the model's own classes \(neutral 2\)") as err:
        calibrate_run(RunFolder(rd), folds=2, n_boot=20, figures=False)
    assert "fill those cells with the label" in err.value.fix
    only_nine = tmp_path / "nine.csv"
    write_manifest(Manifest([it for it in items if it.label == "neutral"], root=tmp_path), only_nine)
    rd9 = run(only_nine, out_dir=tmp_path / "run9", model="tiny", cache_dir=head_runs["root"] / "cache").run_dir
    step = unlabelled_next_step(RunFolder(rd9).results(), rd9)
    assert "finetune" not in step and "labelled with the model's own classes (neutral 2)" in step


def test_finetune_from_a_heads_run_says_the_parents_figures_are_on_its_own_training_speakers(head_runs, tmp_path):
    # a head trained from a head's run: "parent_mapped WA 0.925" (the parent's own predictions on the speakers that
    # trained it) stood beside the new head's cross-validated 0.700 bare, and the card's warning grew a
    # "fine-tuned from a generated checkpoint: " per generation
    from workbench.analysis.finetune import HeadTraining, finetune

    res = finetune(head_runs["runs"]["calm_tense"], tmp_path / "again", config=HeadTraining(seed=0, epochs=20, patience=5),
                   n_boot=20, k=2)
    assert res.card["parent"]["overlap"] and "head_ct" in res.card["parent"]["overlap"][0]
    screen = res.render()
    assert "!! the parent: speaker overlap: 3 of the 4 speakers evaluated here (s0, s1, s2)" in screen
    assert screen.index("the parent: speaker overlap") < screen.index("cross-validation")
    assert res.card["warning"].count("fine-tuned from a generated checkpoint") == 1


def test_a_probe_on_the_embeddings_of_adapted_encoder_blocks_says_their_speakers_trained_them(head_runs, tmp_path):
    # `probe` of a run of an --unfreeze head printed its folds bare, on embeddings from blocks its speakers trained; a
    # head-only fine-tune keeps its parent's encoder, so its probe is as held-out as the parent's and says nothing
    from workbench.analysis.probe import probe_run
    from workbench.runs.driver import run

    head = trained_head(tmp_path / "head_unfrozen", CALM_TENSE, seed=3, unfreeze=1)
    rd = run(head_runs["manifest"], out_dir=tmp_path / "run", model=str(head), cache_dir=head_runs["root"] / "cache").run_dir
    res = probe_run(rd, folds=2, n_boot=20)
    assert len(res.training_overlap) == 1 and "it adapted 1 encoder block(s)" in res.training_overlap[0]
    screen = res.render()
    assert "!! speaker overlap: 3 of the 4 speakers" in screen and screen.index("speaker overlap") < screen.index("probe on")
    assert "adapted 1 encoder" in res.html()
    assert res.to_dict()["training_overlap"] == res.training_overlap
    assert probe_run(head_runs["runs"]["calm_tense"], folds=2, n_boot=20).training_overlap == []


def test_a_probe_of_a_heads_run_names_its_unlabelled_rows_in_the_heads_terms(head_runs, tmp_path):
    # a calm/tense head's run with rows labelled joy (none of its classes): the probe excluded them as "label with no
    # emotion2vec+ counterpart", words about the nine the head does not have
    from workbench.analysis.probe import probe_run
    from workbench.data.manifest import read_manifest, write_manifest
    from workbench.runs.driver import run

    manifest = read_manifest(head_runs["manifest"])
    for it in manifest.items[::8]:
        it.label, it.emotion = "joy", ""
    edited = write_manifest(manifest, tmp_path / "with_joy.csv")
    rd = run(edited, out_dir=tmp_path / "run", model=str(head_runs["heads"]["calm_tense"]), cache_dir=head_runs["root"] / "cache").run_dir
    res = probe_run(rd, folds=2, n_boot=20)
    assert list(res.excluded) == ["no emotion (unlabelled, or a label that is none of the fine-tuned head's classes)"]
    assert len(next(iter(res.excluded.values()))) == len(manifest.items[::8])


def test_fuse_on_a_run_of_adapted_encoder_blocks_says_the_speech_rows_were_trained_on_them_too(head_runs, tmp_path):
    # fuse's overlap line said only "head and late fusion use its scores": for an --unfreeze head the speech and early
    # rows' embeddings come from blocks its training speakers adapted too (probe says so of the same embeddings)
    from workbench.analysis.fusion import fuse_run
    from workbench.runs.driver import run

    head = trained_head(tmp_path / "head_unfrozen", CALM_TENSE, seed=3, unfreeze=2)
    rd = run(head_runs["manifest"], out_dir=tmp_path / "run", model=str(head), cache_dir=head_runs["root"] / "cache").run_dir
    res = fuse_run(rd, folds=2, n_boot=20)
    assert len(res.training_overlap) == 1 and "it adapted 2 encoder block(s): the speech and early rows" in res.training_overlap[0]
    head_only = fuse_run(head_runs["runs"]["calm_tense"], folds=2, n_boot=20)
    assert head_only.training_overlap and "adapted" not in head_only.training_overlap[0]  # a head-only fine-tune: its parent's
