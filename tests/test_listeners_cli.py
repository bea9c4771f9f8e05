"""What the checkpoint has seen, and the listeners' commands, as a user types them."""

from __future__ import annotations

import json

import pytest

from test_corpora import wav
from test_listeners_data import IEMOCAP_EVAL
from workbench.cli import main
from workbench.data import cards
from workbench.errors import ConfigError
from workbench.data.manifest import Item, Manifest


def test_every_known_checkpoint_has_a_card_with_sources():
    from workbench.model.checkpoints import KNOWN_MODELS

    for model_id in KNOWN_MODELS:
        card = cards.card_for(model_id)
        assert card is not None and card.read == "2026-11-30"
        for st in card.stages:
            assert st.source and st.hours not in (None, "")  # a figure or "not published", never blank
    assert cards.card_for("large").model_id == "iic/emotion2vec_plus_large"
    assert cards.card_for("/models/emotion2vec_plus_seed/").model_id == "iic/emotion2vec_plus_seed"  # a ModelScope download
    assert cards.card_for("tiny") is None
    large = {s.stage: s for s in cards.card_for("large").stages}
    assert large["fine-tuning"].hours == 42526  # the model card's table


def test_overlap_for_a_corpus_on_the_card():
    m = Manifest([Item(id="Ses01F_impro01_F000", path="a.wav", meta={"corpus": "iemocap"})])
    found = cards.corpus_overlap("iic/emotion2vec_plus_large", m)
    assert {(o.corpus, o.certainty) for o in found} == {("IEMOCAP", "seen"), ("IEMOCAP", "possible")}
    msgs = cards.overlap_messages("large", m)
    assert any("IEMOCAP was in emotion2vec_plus_large's self-supervised pre-training" in x and "labels not used" in x for x in msgs)
    assert cards.overlap_messages("large", "crema-d")  # EmoBox lists CREMA-D: possibly in the fine-tuning data
    assert cards.overlap_messages("large", "my-own-recordings") == []
    assert cards.overlap_messages("tiny", m) == []


def test_a_finetuned_heads_overlap_dates_from_its_own_training_card(tmp_path):
    # the warning said "Source: cremad head/training_card.json; read 2026-11-30" (the packaged cards' date) for a card
    # created 2026-12-05; the head's stage dates from its card, the parent's stages from the packaged cards
    head = tmp_path / "cremad head"
    head.mkdir()
    created = "2026-12-05T23:49:12+00:00"
    (head / "training_card.json").write_text(json.dumps({
        "created": created, "parent": {"id": "iic/emotion2vec_plus_large"},
        "data": {"corpora": ["crema-d"], "n_items": 40}, "speakers": {"train": ["1001"], "validation": ["1002"]}}))
    packaged = json.loads(cards.CARDS_FILE.read_text(encoding="utf-8"))["read"]
    assert packaged != created[:10]
    by_stage = {o.stage: o for o in cards.corpus_overlap(str(head), "crema-d")}
    mine = by_stage["fine-tuning (workbench finetune)"]
    assert mine.message().endswith(f"Source: cremad head/training_card.json; created {created}.")
    assert packaged not in mine.message()
    inherited = [o for stage, o in by_stage.items() if stage != "fine-tuning (workbench finetune)"]
    assert inherited and all(o.message().endswith(f"; read {packaged}.") for o in inherited)  # EmoBox lists CREMA-D


@pytest.mark.slow
def test_iemocap_run_metrics_warns_and_listeners_command(tmp_path, capsys, monkeypatch):
    root = tmp_path / "IEMOCAP"
    ev = root / "Session1" / "dialog" / "EmoEvaluation"
    ev.mkdir(parents=True)
    (ev / "Ses01F_impro01.txt").write_text(IEMOCAP_EVAL, encoding="utf-8")
    for i, utt in enumerate(["Ses01F_impro01_F000", "Ses01F_impro01_M001"]):
        wav(root / "Session1" / "sentences" / "wav" / "Ses01F_impro01" / f"{utt}.wav", dur=1.0, seed=i)
    manifest = tmp_path / "iemocap.csv"
    assert main(["datasets", "prepare", "iemocap", str(root), "--out", str(manifest)]) == 0
    voted = tmp_path / "iemocap_votes.csv"
    assert main(["datasets", "import-votes", str(manifest), "--format", "iemocap", "--votes", str(root), "--out", str(voted)]) == 0
    out = capsys.readouterr().out
    assert "attached to 2 items" in out
    # an option of another format is refused, naming the formats it is for
    assert main(["datasets", "import-votes", str(manifest), "--format", "iemocap", "--votes", str(root), "--modality", "voice",
                 "--out", str(tmp_path / "x.csv")]) == 2
    assert "crema-d-tabulated" in capsys.readouterr().err

    run_dir = tmp_path / "run"
    assert main(["run", str(voted), "--model", "tiny", "--out", str(run_dir), "--cache-dir", str(tmp_path / "cache")]) == 0
    capsys.readouterr()
    # the tiny model has no card: no warning
    assert main(["metrics", str(run_dir), "--no-figures"]) == 0
    assert "training-data overlap" not in capsys.readouterr().out
    # scored by a copy of emotion2vec_plus_large: the warning comes before any number
    assert main(["metrics", str(run_dir), "--no-figures", "--checkpoint", "large"]) == 0
    lines = capsys.readouterr().out.splitlines()
    first_number = next(i for i, line in enumerate(lines) if "WA " in line)
    assert any("training-data overlap: IEMOCAP" in line for line in lines[:first_number])
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert next(iter(metrics["raw"])) == "training_overlap" and metrics["raw"]["training_overlap"]
    assert main(["metrics", str(run_dir), "--checkpoint", "huge"]) == 2
    assert "emotion2vec_plus_large" in capsys.readouterr().err

    assert main(["listeners", str(run_dir), "--bootstrap", "50"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("!! RANDOM WEIGHTS") and "2 items with listener judgements" in out
    payload = json.loads((run_dir / "listeners.json").read_text())
    raw = payload["variants"]["raw"]
    assert payload["random_weights"] is True and raw["n_items"] == 2
    assert [r["id"] for r in raw["listeners_split"]] == ["Ses01F_impro01_M001"]  # 1/3 agree
    # the experiment report's "Listeners vs model" section
    from workbench.views import reporting as R
    shown = []
    monkeypatch.setattr(R, "_display", lambda obj: shown.append(getattr(obj, "data", str(obj))))
    section = R.listeners_section(run_dir, n_boot=20)
    page = "".join(shown)
    assert section["raw"]["n_items"] == 2 and "Listeners vs model" in page and "Ses01F_impro01_M001" in page
    assert "vote-weighted" in page
    # the split item's three raters chose three classes: its 'listeners' cell is a dash, now said to be no majority
    assert raw["listeners_split"][0]["listener_majority"] == "" and "<p>listeners —: no majority (a tie" in page, page
    with pytest.raises(SystemExit) as exc:  # argparse refuses it before anything runs
        main(["listeners", str(run_dir), "--agree", "1.5"])
    assert exc.value.code == 2 and "share of listeners" in capsys.readouterr().err


def test_listeners_refuses_a_run_without_listener_columns(tmp_path, capsys):
    from workbench.analysis.listeners import run_listeners
    from workbench.runs.folder import RunFolder

    class _Fake(RunFolder):  # a results table without listener columns, read as a run folder would give it
        def results(self):
            import pandas as pd

            return pd.DataFrame({"id": ["a"], "variant": ["raw"], "status": ["ok"], "meta": ["{}"]})

    with pytest.raises(ConfigError, match="no listener judgements.*import-votes"):
        run_listeners(_Fake(tmp_path))


def test_checkpoint_comparison_marks_the_run_whose_checkpoint_saw_the_corpus(tmp_path):
    import pandas as pd

    from workbench.analysis.compare import RunsComparison

    base = {"run_dir": "r", "checksum": "c", "device": "cpu", "dtype": "float32", "engine": "local", "random_weights": False}
    runs = [{"name": "A", "model": "iic/emotion2vec_plus_large", **base,
             "training_overlap": cards.overlap_messages("large", "iemocap")},
            {"name": "B", "model": "my-own-model", **base, "training_overlap": []}]
    cmp = RunsComparison(runs, ["raw"], {}, [], pd.DataFrame(), pd.DataFrame(), pd.DataFrame())
    text = cmp.render()
    assert text.splitlines()[0].startswith("!! run A: training-data overlap: IEMOCAP")
    assert not any(line.startswith("!! run B") for line in text.splitlines())
    page = cmp.html()
    assert "⚠ run A: training-data overlap" in page and "run B:" not in page


def test_mlflow_note_starts_with_the_overlap(tmp_path):
    from workbench.runs.folder import RunFolder
    from workbench.views.tracking import _tags

    class _Run(RunFolder):
        model_ref = {"id": "iic/emotion2vec_plus_large"}
        summary = {}
        random_weights = False

    tags = _tags(_Run(tmp_path), cards.overlap_messages("large", "iemocap"))
    assert tags["workbench.training_overlap"] == "true"
    assert tags["mlflow.note.content"].startswith("WARNING training-data overlap: IEMOCAP")
    assert _tags(_Run(tmp_path))["workbench.training_overlap"] == "false"


def test_votes_that_match_no_item_name_their_ids_on_one_line(tmp_path, capsys):
    """The refusal quoted the votes file's first ids as they were: "x<LF>error: forged" printed a forged line."""
    from workbench.data.manifest import write_manifest

    manifest = write_manifest(Manifest([Item(id="a", path="a.wav"), Item(id="b", path="b.wav")], root=tmp_path), tmp_path / "m.csv")
    (tmp_path / "votes.csv").write_text('id,rater_labels\n"x\nerror: forged\x1b[2J",sad;sad\n', encoding="utf-8")
    rc = main(["datasets", "import-votes", str(manifest), "--format", "generic", "--votes", str(tmp_path / "votes.csv"),
               "--out", str(tmp_path / "voted.csv")])
    err = capsys.readouterr().err
    assert rc == 2 and "no manifest id matches" in err and "x\\nerror: forged\\x1b[2J" in err, err
    assert not any(line.startswith("error: forged") for line in err.splitlines()), err


def test_import_votes_counts_in_the_right_number(tmp_path, capsys):
    """import-votes printed "1 items with listener judgements", "attached to 1 items; 1 items have none; 1 rows name items
    the manifest does not have": every count now agrees with its noun and verb."""
    from workbench.data.manifest import write_manifest

    manifest = write_manifest(Manifest([Item(id="a", path="a.wav"), Item(id="b", path="b.wav")], root=tmp_path), tmp_path / "m.csv")
    (tmp_path / "votes.csv").write_text("id,rater_labels\na,sad;sad\nz,sad;angry\n", encoding="utf-8")
    assert main(["datasets", "import-votes", str(manifest), "--format", "generic", "--votes", str(tmp_path / "votes.csv"),
                 "--out", str(tmp_path / "voted.csv")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 items with listener judgements"), out
    assert "listener judgements attached to 1 item; 1 item has none; 1 row names items the manifest does not have (e.g. z)" in out, out
    assert "1 items" not in out and "1 rows" not in out


def test_listeners_fix_names_the_commands_to_run(tmp_path, capsys):
    """`workbench listeners RUN` ended its fix with "…and run again" without saying what to run."""
    import numpy as np

    from test_probe import synthetic_row, write_run
    from workbench.cli import main

    rf = write_run(tmp_path / "my run", [synthetic_row(f"u{i}", emotion="angry") for i in range(3)],
                   np.random.default_rng(0).standard_normal((3, 4)), model="tiny")
    assert main(["listeners", str(rf.path)]) == 2
    fix = capsys.readouterr().err.split("fix:", 1)[1]
    # --votes named: every format but `manifest` requires it (the command as printed was refused: "needs --votes")
    assert "`workbench datasets import-votes synthetic.csv --format FORMAT --votes VOTES --out VOTED.csv`" in fix, fix
    assert "`--format manifest` without --votes" in fix, fix
    assert "crema-d-tabulated" in fix and "generic, and VOTES" in fix
    assert "`workbench run VOTED.csv --model tiny --out NEW_RUN`, then run `workbench listeners NEW_RUN`." in fix
    assert "run again" not in fix


def test_a_run_of_several_variants_without_votes_is_told_to_rescore_with_its_own_experiment_file(tmp_path, capsys):
    """The fix said '(with this run's --variants file)' to a run made from an experiment file, which has none: the run's
    experiment.yaml holds its variants, model and precision, and a copy with the voted manifest scores it alike."""
    from test_probe import synthetic_row, write_run

    rows = [synthetic_row(f"i{k}", emotion="happy", speaker="s1", variant=v) for v in ("raw", "telephone") for k in range(3)]
    run = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * len(rows)).path
    assert main(["listeners", str(run)]) == 2
    err = capsys.readouterr().err
    assert "--variants file" not in err, err
    assert f"score it as this run was scored: a copy of {run / 'experiment.yaml'} with `manifest: VOTED.csv`, run as " \
           "`workbench run COPY.yaml --out NEW_RUN`" in err, err


def test_the_listeners_fix_of_a_fine_tuned_heads_run_imports_the_votes_onto_its_classes(tmp_path, capsys):
    """A run of a fine-tuned head (classes calm, tense) without votes was told to import them with no --model: they
    were then counted over the nine emotion2vec+ classes, none of them the run's."""
    import numpy as np

    from test_probe import synthetic_row, write_run
    from workbench.cli import main

    rows = []
    for i, cls in enumerate(("calm", "tense", "calm")):
        row = {k: v for k, v in synthetic_row(f"u{i}", label=cls).items() if not k.startswith("score_")}
        rows.append({**row, "emotion": cls, "pred": "calm", "score_calm": 0.7, "score_tense": 0.3})
    rf = write_run(tmp_path / "head run", rows, np.random.default_rng(0).standard_normal((3, 4)), model="heads/calm_tense")
    assert main(["listeners", str(rf.path)]) == 2
    fix = capsys.readouterr().err.split("fix:", 1)[1]
    assert "--format FORMAT --votes VOTES --model heads/calm_tense --out VOTED.csv`" in fix, fix
    assert "--model (generic and manifest only) counts them over the run model's own classes" in fix, fix
