"""``workbench finetune``'s held-out sides, the checks its figures carry, and its progress line.

An IEMOCAP-shaped run (three sessions of two actors who share each session's dialogs) is written with embeddings
we choose (noise: the head learns nothing, so its figures sit at chance) and the tiny checkpoint as its parent;
each session lacks one class, so every held-out side lacks one.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from test_probe import synthetic_row, write_run

from workbench.labels import RANDOM_WEIGHTS_BANNER

IEMOCAP = {"ang": "angry", "hap": "happy", "sad": "sad", "neu": "neutral"}  # corpus label → nine-class key
SESSIONS = (1, 2, 3)


def iemocap_rows(dim: int, seed: int = 0) -> tuple[list[dict], list[np.ndarray]]:
    """Session s has no items of the s-th label; each of its two actors speaks in the session's two dialogs."""
    rng = np.random.default_rng(seed)
    rows, emb = [], []
    labels = list(IEMOCAP)
    for s in SESSIONS:
        for g in "FM":
            for i, lab in enumerate(labels * 4):
                if lab == labels[s - 1]:
                    continue
                dialog = f"Ses0{s}F_impro0{1 + i % 2}"
                rows.append(synthetic_row(f"{dialog}_{g}{i:03d}", emotion=IEMOCAP[lab], label=lab, speaker=f"Ses0{s}{g}",
                                          split=f"Session{s}", meta={"corpus": "iemocap", "dialog": dialog}))
                emb.append(rng.standard_normal(dim))
    return rows, emb


@pytest.fixture(scope="module")
def iemocap_run(tmp_path_factory, tiny_model):
    from workbench.model.checkpoints import load_weights, weights_file

    dim = load_weights(weights_file(tiny_model.info.path))[0]["proj.weight"].shape[1]
    rows, emb = iemocap_rows(dim)
    return write_run(tmp_path_factory.mktemp("iemocap") / "run", rows, emb, model=str(tiny_model.info.path), random_weights=True)


@pytest.fixture(scope="module")
def iemocap_head(iemocap_run, tmp_path_factory):
    """The default --scheme speaker: the sessions are found from the run, and held out whole all the same."""
    from workbench.analysis.finetune import HeadTraining, finetune

    return finetune(iemocap_run, tmp_path_factory.mktemp("heads") / "iemocap-head", config=HeadTraining(seed=0), n_boot=100, k=3)


def side_of_speaker(card: dict) -> dict[str, str]:
    return {spk: side for side, names in card["speakers"].items() for spk in names}


# ---------------------------------------------------------------------------
# 1. whole sessions held out
# ---------------------------------------------------------------------------
def test_a_session_with_two_speakers_is_held_out_whole_even_under_the_speaker_scheme(iemocap_head):
    card = json.loads((iemocap_head.out / "training_card.json").read_text(encoding="utf-8"))
    side = side_of_speaker(card)
    assert set(side) == {f"Ses0{s}{g}" for s in SESSIONS for g in "FM"}
    for s in SESSIONS:  # the two actors of a session (who share its dialogs) are never on two sides
        assert side[f"Ses0{s}F"] == side[f"Ses0{s}M"], card["speakers"]
    g = card["grouping"]
    assert g["by"] == "session" and "share its dialogs" in g["why"]
    assert {side: len(names) for side, names in g["groups"].items()} == {"train": 1, "validation": 1, "test": 1}
    for name, sessions in g["groups"].items():
        assert card["speakers"][name] == sorted(f"Ses0{x[-1]}{c}" for x in sessions for c in "FM")
    assert "held-out sessions" in card["training"]["early_stopping"]
    # the cross-validation was asked for speaker folds: they split sessions, and the card and the screen say so
    assert "--scheme session" in card["evaluation"]["warning"] and card["evaluation"]["early_stopping_on"] == "session"
    text = iemocap_head.render()
    test_session = g["groups"]["test"][0]
    assert f"held out by session: test {test_session} (Ses0{test_session[-1]}F, Ses0{test_session[-1]}M); validation " in text
    assert "why: the speakers of a session share its dialogs" in text
    assert "held-out test sessions:" in text and "!! speaker folds put the speakers of a session on both sides" in text


def test_scheme_session_holds_out_sessions_and_says_which_on_screen(iemocap_run, tmp_path, capsys):
    from workbench.cli import main

    code = main(["finetune", str(iemocap_run.path), "--out", str(tmp_path / "head"), "--scheme", "session", "--bootstrap", "50",
                 "--seed", "3"])
    captured = capsys.readouterr()
    assert code == 0
    card = json.loads((tmp_path / "head" / "training_card.json").read_text(encoding="utf-8"))
    assert card["grouping"]["by"] == "session" and card["grouping"]["why"] == "--scheme session: leave-one-session-out"
    side = side_of_speaker(card)
    assert all(side[f"Ses0{s}F"] == side[f"Ses0{s}M"] for s in SESSIONS)
    assert card["evaluation"]["scheme"] == "session" and "warning" not in card["evaluation"]
    test, val = card["grouping"]["groups"]["test"][0], card["grouping"]["groups"]["validation"][0]
    assert re.search(rf"held out by session: test {test} \(.*\); validation {val} ", captured.out)
    assert "why: --scheme session: leave-one-session-out" in captured.out
    # 5. the progress line states the early-stopping bound and estimates no time left
    err = captured.err
    assert "finetune head (up to 300 epochs, stops early after 30 without a better validation UAR)" in err
    assert not re.search(r"<\d\d:\d\d", err) and "?/300" not in err and "since=" in err


def test_sessions_are_needed_for_scheme_session_and_a_speaker_corpus_keeps_speaker_sides(tmp_path, tiny_model):
    from workbench.analysis.finetune.data import holdout_groups
    from workbench.errors import ConfigError

    rows = pd.DataFrame([synthetic_row(f"s{s}_{i}", emotion="happy", speaker=f"spk{s}") for s in range(4) for i in range(3)])
    with pytest.raises(ConfigError, match="no item has one"):
        holdout_groups(rows, "session")
    h = holdout_groups(rows, "speaker")
    assert h.by == "speaker" and list(h.groups) == rows["speaker"].tolist()
    # sessions of one speaker each (no dialogs shared) change nothing
    rows["split"] = [f"Session{s + 1}" for s in range(4) for _ in range(3)]
    assert holdout_groups(rows, "speaker").by == "speaker"


# ---------------------------------------------------------------------------
# 2, 3. missing classes and chance on the held-out figures; the random-weights banner first
# ---------------------------------------------------------------------------
def test_held_out_figures_say_the_classes_they_lack(iemocap_head):
    card = json.loads((iemocap_head.out / "training_card.json").read_text(encoding="utf-8"))
    classes = card["labels"]["classes"]
    for side in ("test", "validation"):
        counts = card["labels"]["counts"][side]
        missing = [c for c in classes if counts[c] == 0]
        assert len(missing) == 1  # each session lacks one class
        assert card[side]["missing_classes"] == missing
        note = f"no {missing[0]} items: UAR over {len(classes) - 1} of {len(classes)} classes"
        assert note in card[side]["flags"]
        assert (f"!! {note}" if side == "test" else f"!! validation side (early stopping): {note}") in iemocap_head.render()
    assert card["test"]["classes_present"] == len(classes) - 1


def test_held_out_figures_carry_the_chance_check(iemocap_head):
    card = json.loads((iemocap_head.out / "training_card.json").read_text(encoding="utf-8"))
    test = card["test"]
    lo, hi = test["uar_ci"]
    assert test["chance_uar"] == pytest.approx(1 / test["classes_present"])
    assert lo <= test["chance_uar"]  # noise embeddings: the interval reaches chance
    flagged = [f for f in test["flags"] if "CHANCE" in f]
    assert len(flagged) == 1 and (("BELOW CHANCE" in flagged[0]) == (hi < test["chance_uar"]))
    text = iemocap_head.render()
    assert f"UAR chance {test['chance_uar']:.3f} over {test['classes_present']} classes" in text
    assert f"!! {flagged[0]}" in text
    for name in ("finetuned", "probe", "parent_mapped"):  # the cross-validation's figures carry the same checks
        d = card["evaluation"][name]
        assert "flags" in d and d["chance_uar"] == pytest.approx(1 / d["classes_present"])


def test_scores_flag_below_chance_and_zero_width_as_metrics_does():
    from workbench.analysis.finetune.evaluate import scores
    from workbench.analysis.metrics import evaluate

    t = np.array(["a", "b", "c"] * 3, dtype=object)
    p = np.array(["b", "c", "a"] * 3, dtype=object)  # every item wrong
    d = scores(t, p, ["a", "b", "c"], n_boot=50, seed=0)
    assert d["uar"] == 0.0 and tuple(d["uar_ci"]) == (0.0, 0.0)
    assert any(f.startswith("UAR BELOW CHANCE") for f in d["flags"]) and any(f.startswith("UAR: zero-width") for f in d["flags"])
    # metrics on the same items says the same
    rows = [synthetic_row(f"x{i}", emotion={"a": "angry", "b": "happy", "c": "sad"}[tt],
                          pred={"a": "angry", "b": "happy", "c": "sad"}[pp]) for i, (tt, pp) in enumerate(zip(t, p))]
    text = evaluate(pd.DataFrame(rows), n_boot=50, by=()).render()
    assert "BELOW CHANCE" in text and "zero-width interval" in text


def test_random_weights_banner_comes_before_every_figure(iemocap_head):
    lines = iemocap_head.render().splitlines()
    assert lines[0] == f"!! {RANDOM_WEIGHTS_BANNER}"
    first_figure = next(i for i, line in enumerate(lines) if "UAR" in line)
    assert not any("RANDOM WEIGHTS" in line or "WARNING" in line for line in lines[first_figure:])
