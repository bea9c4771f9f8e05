"""``workbench finetune`` on a corpus's own partition: train on its train set, early-stop on its dev set, test on each
test set on its own (``--validation auto|split|speakers``).

A tiny MSP-Podcast-shaped run (split ``Train``/``Development``/``Test1``/``Test2``, and ``Session1``, a value of no
role) is written with embeddings we choose, the seeded tiny checkpoint as its parent.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_probe import synthetic_row, write_run

from workbench.errors import ConfigError

CLASSES = ("angry", "happy", "sad", "neutral")
#: speaker → split value: four train speakers, one dev, one per test set, one of no role
SPLITS = {"spk0": "Train", "spk1": "Train", "spk2": "Train", "spk3": "Train", "spk4": "Development", "spk5": "Test1",
          "spk6": "Test2", "spk7": "Session1"}
PER_CLASS = 3
FAST = dict(epochs=40, patience=5, seed=0)


def split_rows(dim: int, splits: dict[str, str] = SPLITS, seed: int = 0) -> tuple[list[dict], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(CLASSES), dim)) * 0.5
    rows, emb = [], []
    for spk, split in splits.items():
        for c, cls in enumerate(CLASSES):
            for r in range(PER_CLASS):
                rows.append(synthetic_row(f"{spk}_{cls}_{r}", emotion=cls, speaker=spk, split=split))
                emb.append(centres[c] + rng.standard_normal(dim) * 1.5)
    return rows, emb


def tiny_dim(tiny_model) -> int:
    from workbench.model.checkpoints import load_weights, weights_file

    return load_weights(weights_file(tiny_model.info.path))[0]["proj.weight"].shape[1]


@pytest.fixture(scope="module")
def split_run(tmp_path_factory, tiny_model):
    rows, emb = split_rows(tiny_dim(tiny_model))
    run = write_run(tmp_path_factory.mktemp("msp") / "run", rows, emb, model=str(tiny_model.info.path), random_weights=True)
    return run, rows, emb


@pytest.fixture(scope="module")
def split_head(split_run, tmp_path_factory):
    from workbench.analysis.finetune import HeadTraining, finetune

    return finetune(split_run[0], tmp_path_factory.mktemp("heads") / "msp-head", config=HeadTraining(**FAST), evaluate=False, n_boot=50)


def ids_of(rows, split: str) -> list[int]:
    return [i for i, r in enumerate(rows) if r["split"] == split]


def test_the_saved_head_trains_on_train_and_early_stops_on_dev_by_default(split_run, split_head):
    """The default --validation auto on a split column with a train and a dev set: the head equals one trained on exactly
    the Train items and early-stopped on exactly the Development items (the old code held out a share of all speakers,
    Development and Test items trained, and Session1 went into training silently)."""
    from workbench.analysis.finetune import HeadTraining, train_head

    _, rows, emb = split_run
    x, y = np.asarray(emb, np.float32), np.array([r["emotion"] for r in rows], dtype=object)
    tr, dev = ids_of(rows, "Train"), ids_of(rows, "Development")
    again = train_head(x[tr], y[tr], x[dev], y[dev], split_head.fit.classes, HeadTraining(**FAST))
    assert np.allclose(split_head.fit.weight, again.weight) and np.allclose(split_head.fit.bias, again.bias)
    assert split_head.fit.best_epoch == again.best_epoch and split_head.fit.curves["val_uar"] == again.curves["val_uar"]
    card = json.loads((split_head.out / "training_card.json").read_text(encoding="utf-8"))
    p = card["partition"]
    assert p["validation"] == "split" and p["why"].startswith("--validation auto: the split column has a train and a dev set")
    assert "--validation speakers holds out speakers instead" in split_head.render()
    assert p["sets"] == {"train": {"Train": 48}, "validation": {"Development": 12}, "test": {"Test1": 12, "Test2": 12}}
    assert list(p["excluded"].values()) == [12] and "Session1" in next(iter(p["excluded"]))
    assert card["data"]["excluded"] == p["excluded"] and card["data"]["n_items"] == 84
    assert card["speakers"] == {"train": ["spk0", "spk1", "spk2", "spk3"], "validation": ["spk4"], "test": ["spk5", "spk6"]}
    assert {side: sum(c.values()) for side, c in card["labels"]["counts"].items()} == {"train": 48, "validation": 12, "test": 24}
    t = card["training"]
    assert t["validation"] == "split" and "Development" in t["early_stopping"] and "validation_speakers" not in t
    assert card["grouping"]["by"] == "split"


def test_each_test_set_is_scored_on_its_own_never_pooled(split_run, split_head):
    from workbench.analysis.finetune.evaluate import scores

    _, rows, emb = split_run
    card = split_head.card
    assert card["test"]["by"] == "split" and list(card["test"]["sets"]) == ["Test1", "Test2"]
    x, y = np.asarray(emb, np.float32), np.array([r["emotion"] for r in rows], dtype=object)
    for name in ("Test1", "Test2"):
        te = ids_of(rows, name)
        expected = scores(y[te], split_head.fit.predict(x[te]), split_head.fit.classes, n_boot=50, seed=0)
        assert card["test"]["sets"][name]["n"] == 12 and card["test"]["sets"][name]["uar"] == pytest.approx(expected["uar"])
    text = split_head.render()
    assert "trained on Train (n=48), early-stopped on Development (n=12), tested on Test1 (n=12), Test2 (n=12) each on its own" in text
    assert "left out: 12 items of a split that is neither train, dev nor test ('Session1')" in text
    assert "test set Test1 (the split column, on its own)" in text and "test set Test2" in text


def test_validation_speakers_keeps_the_old_speaker_split_and_says_so(split_run, tmp_path):
    from workbench.analysis.finetune import HeadTraining, finetune

    res = finetune(split_run[0], tmp_path / "spk", config=HeadTraining(**FAST), evaluate=False, n_boot=20, validation="speakers")
    card = res.card
    assert card["partition"]["validation"] == "speakers" and "partition" in card and "sets" not in card["partition"]
    assert card["training"]["validation_speakers"] == 0.2 and "held-out speakers" in card["training"]["early_stopping"]
    assert sum(len(v) for v in card["speakers"].values()) == 8  # Session1's speaker too: no split is read
    assert "validation: held-out speakers (--validation speakers" in res.render()


def test_a_train_and_test_split_without_dev_keeps_its_test_set_out_and_early_stops_on_train_speakers(tmp_path, tiny_model):
    """EmoBox's fold files give train and test, no dev: the test set is the card's and never trains or early-stops (before,
    auto fell back to held-out speakers and the corpus's test items trained the saved head); a share of the Train speakers
    (--validation-speakers, seeded) early-stops, named in the card; --test-speakers is refused, not ignored."""
    from workbench.analysis.finetune import HeadTraining, finetune, train_head

    splits = {**SPLITS, "spk4": "Train", "spk7": "Train"}  # six Train speakers, Test1, Test2, no dev
    rows, emb = split_rows(tiny_dim(tiny_model), splits)
    run = write_run(tmp_path / "run", rows, emb, model=str(tiny_model.info.path), random_weights=True)
    for validation in ("auto", "split"):
        res = finetune(run, tmp_path / validation, config=HeadTraining(**FAST, validation_speakers=0.34), evaluate=False, n_boot=20,
                       validation=validation)
        p = res.card["partition"]
        held = p["validation_speakers"]["speakers"]
        assert p["validation"] == "split" and "no dev set" in p["why"] and len(held) == 2 and set(held) <= {s for s, v in splits.items() if v == "Train"}
        assert p["sets"]["train"] == {"Train": 4 * 4 * PER_CLASS} and p["sets"]["test"] == {"Test1": 12, "Test2": 12}
        assert p["sets"]["validation"] == {"Train: 2 of its speakers held out": 2 * 4 * PER_CLASS}
        assert set(res.card["test"]["sets"]) == {"Test1", "Test2"}
        assert res.card["training"]["validation_speakers"] == 0.34 and "train speakers" in res.card["training"]["early_stopping"]
    # the saved head is exactly the one trained on the other Train speakers and early-stopped on the held-out ones
    x, y = np.asarray(emb, np.float32), np.array([r["emotion"] for r in rows], dtype=object)
    spk = np.array([r["speaker"] for r in rows])
    tr, va = np.isin(spk, [s for s, v in splits.items() if v == "Train" and s not in held]), np.isin(spk, held)
    again = train_head(x[tr], y[tr], x[va], y[va], res.fit.classes, HeadTraining(**FAST, validation_speakers=0.34))
    assert np.allclose(res.fit.weight, again.weight) and np.allclose(res.fit.bias, again.bias)
    assert res.fit.best_epoch == again.best_epoch and res.fit.curves["val_uar"] == again.curves["val_uar"]
    cv = finetune(run, tmp_path / "cv", config=HeadTraining(**FAST, validation_speakers=0.34), folds="split", n_boot=20)
    ev = cv.card["evaluation"]  # the folds early-stop on the same held-out Train speakers, which never train there either
    assert ev["early_stopping_on"] == "a share of the split column's train speakers" and list(ev["per_test_set"]) == ["Test1", "Test2"]
    for name, figures in ev["per_test_set"].items():
        assert figures["uar"] == pytest.approx(cv.card["test"]["sets"][name]["uar"])
    with pytest.raises(ConfigError) as e:
        finetune(run, tmp_path / "x", config=HeadTraining(**FAST), evaluate=False, speaker_options=["--test-speakers"])
    assert "test set (24 items)" in str(e.value) and "auto, split, speakers" in e.value.fix
    only_train = {s: "Train" for s in SPLITS}
    rows, emb = split_rows(tiny_dim(tiny_model), only_train)
    run = write_run(tmp_path / "run2", rows, emb, model=str(tiny_model.info.path), random_weights=True)
    with pytest.raises(ConfigError) as e:
        finetune(run, tmp_path / "y", config=HeadTraining(**FAST), evaluate=False, validation="split")
    assert "0 dev, 0 test" in str(e.value) and "--validation speakers" in e.value.fix
    res = finetune(run, tmp_path / "auto2", config=HeadTraining(**FAST), evaluate=False, n_boot=20)
    assert res.card["partition"] == {"validation": "speakers",
                                     "why": "--validation auto: the split column has no dev or test set ('Train'), "
                                            "so a share of the speakers is held out"}


def test_cli_refuses_speaker_shares_with_the_split_and_names_the_choices(split_run, tmp_path, capsys):
    from workbench.cli import main

    run = str(split_run[0].path)
    for extra in (["--validation-speakers", "0.3"], ["--test-speakers", "0.1", "--validation", "split"]):
        assert main(["finetune", run, "--out", str(tmp_path / "x"), "--no-evaluation", *extra]) != 0
        err = capsys.readouterr().err
        assert extra[0] in err and "dev set" in err and "--validation speakers" in err and "auto, split, speakers" in err, err
    with pytest.raises(SystemExit):  # the parser lists the choices
        main(["finetune", run, "--out", str(tmp_path / "x"), "--validation", "dev"])
    assert "invalid choice: 'dev' (choose from 'auto', 'split', 'speakers')" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    code = main(["finetune", run, "--out", str(tmp_path / "ok"), "--no-evaluation", "--bootstrap", "20", "--epochs", "20",
                 "--validation", "speakers", "--validation-speakers", "0.3"])
    assert code == 0 and json.loads((tmp_path / "ok" / "training_card.json").read_text())["training"]["validation_speakers"] == 0.3
    assert "validation: held-out speakers (--validation speakers" in capsys.readouterr().out


def test_a_manifest_is_refused_before_it_is_scored(tmp_path, capsys):
    """--validation split on a manifest without a dev or test set is refused before any item is scored (no run folder)."""
    from workbench.cli import main

    manifest = tmp_path / "m.csv"
    pd.DataFrame({"id": [f"a{i}" for i in range(8)], "path": [f"a{i}.wav" for i in range(8)], "label": ["angry", "sad"] * 4, "speaker": list("aabbccdd"),
                  "split": ["train"] * 6 + ["Session1"] * 2}).to_csv(manifest, index=False)
    assert main(["finetune", str(manifest), "--model", "tiny", "--out", str(tmp_path / "h"), "--validation", "split"]) != 0
    assert "6 train, 0 dev, 0 test and 2 of no role" in capsys.readouterr().err
    assert not (tmp_path / "h-run").exists() and not (tmp_path / "h").exists()


def test_which_corpora_get_the_split_by_default():
    """ESD's evaluation folder is its dev set (through meta.corpus), EmoBox's valid too; IEMOCAP's SessionN is no set."""
    from workbench.analysis.finetune import validation_mode

    esd = ["train", "evaluation", "test"]
    assert validation_mode("auto", esd, [{"corpus": "esd"}] * 3)[0] == "split"
    assert validation_mode("auto", esd, [{}] * 3)[1].startswith("--validation auto: the split column has a train and a test set but "
                                                                "no dev set, so the train set trains less a share of its speakers")
    assert validation_mode("auto", ["train", "valid", "test"], [{}] * 3)[0] == "split"
    assert validation_mode("auto", ["Session1", "Session2"], [{}] * 2)[0] == "speakers"
    assert validation_mode("auto", None, [])[1] == "--validation auto: the items have no split values, so a share of the speakers is held out"
    with pytest.raises(ConfigError, match="unknown --validation 'dev'; expected one of auto, split, speakers"):
        validation_mode("dev", esd, [{}] * 3)


def test_the_split_cross_validation_early_stops_on_dev_as_the_saved_head_did(split_run, split_head, tmp_path):
    """--scheme split under the split: each test set's cross-validated figure is the saved head's own (the folds early-stopped
    on a share of the Train speakers instead, another procedure than the one that made the head)."""
    from workbench.analysis.finetune import HeadTraining, finetune

    res = finetune(split_run[0], tmp_path / "cv", config=HeadTraining(**FAST), folds="split", n_boot=50)
    ev = res.card["evaluation"]
    assert ev["early_stopping_on"] == "the split column's dev set" and list(ev["per_test_set"]) == ["Test1", "Test2"]
    for name, figures in ev["per_test_set"].items():
        assert figures["uar"] == pytest.approx(split_head.card["test"]["sets"][name]["uar"]) and figures["n"] == 12
