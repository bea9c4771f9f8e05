"""Listeners who voted in a fine-tuned head's own classes, against a run of that head.

The head is the tiny parent with a seeded random head over ``calm, tense`` written by the fine-tuning's own
:func:`~workbench.analysis.finetune.write_checkpoint` (as in ``test_finetune_widgets``: what it predicts does not
matter, only that the votes are compared over its classes).  ``datasets import-votes --model HEAD`` puts the votes
onto the head's classes (``votes_calm``, ``votes_tense``); before, a label map could send them only to the nine
emotion2vec+ keys, and ``workbench listeners`` said the head's classes "share none with the classes listeners voted
over": no divergence, no vote-weighted confusion, and every clear item left out of "listeners agree, model wrong".
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from test_finetune import random_head, voice

from workbench.cli import main

CLASSES = ["calm", "tense"]
#: per clip: its corpus label and the four listeners' labels (mixed case: labels that are the head's classes need no map)
CLIPS = [("calm", "calm;calm;calm;tense"), ("tense", "Calm;tense;tense;tense"), ("calm", "calm;calm;tense;tense"),
         ("tense", "tense;tense;tense;tense"), ("calm", "calm;calm;calm;calm"), ("tense", "calm;tense;tense;grr")]


@pytest.fixture(scope="module")
def head_and_manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("voted-head")
    random_head(root / "head2", CLASSES)
    (root / "clips").mkdir()
    lines = ["id,path,label,rater_labels"]
    for i, (label, votes) in enumerate(CLIPS):
        sf.write(root / "clips" / f"c{i}.wav", voice(CLASSES.index(label), 2, seed=i), 16000, subtype="PCM_16")
        lines.append(f"c{i},clips/c{i}.wav,{label},{votes}")
    (root / "m.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "map.json").write_text(json.dumps({"grr": "tense"}), encoding="utf-8")
    return root


def test_a_label_in_neither_the_heads_classes_nor_the_map_is_refused_with_the_classes(head_and_manifest, capsys):
    root = head_and_manifest
    code = main(["datasets", "import-votes", str(root / "m.csv"), "--format", "manifest", "--model", str(root / "head2"),
                 "--out", str(root / "refused.csv")])
    err = capsys.readouterr().err
    assert code == 2 and not (root / "refused.csv").exists()
    assert "item c5: rater labels ['grr'] are neither classes to vote on (calm, tense" in err and "label map" in err
    # a map may send a label only to the head's classes (or ""), never to one of the nine it does not score
    (root / "to_nine.json").write_text(json.dumps({"grr": "angry"}), encoding="utf-8")
    assert main(["datasets", "import-votes", str(root / "m.csv"), "--format", "manifest", "--model", str(root / "head2"),
                 "--label-map", str(root / "to_nine.json"), "--out", str(root / "refused.csv")]) == 2
    assert "label map sends 'grr' to 'angry', not one of calm, tense" in capsys.readouterr().err


@pytest.mark.slow  # ~10 s: six clips scored by the tiny parent under the head
def test_a_heads_run_is_compared_with_votes_over_its_own_classes(head_and_manifest, capsys):
    from workbench.runs.folder import RunFolder

    root = head_and_manifest
    assert main(["datasets", "import-votes", str(root / "m.csv"), "--format", "manifest", "--model", str(root / "head2"),
                 "--label-map", str(root / "map.json"), "--out", str(root / "voted.csv")]) == 0
    assert main(["run", str(root / "voted.csv"), "--model", str(root / "head2"), "--out", str(root / "run")]) == 0
    capsys.readouterr()
    assert main(["listeners", str(root / "run"), "--bootstrap", "0", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)["variants"]["raw"]
    res = RunFolder(root / "run").results().set_index("id")
    p = res.loc[[f"c{i}" for i in range(len(CLIPS))], ["score_calm", "score_tense"]].to_numpy(float)
    # by hand: each clip's votes over calm, tense (grr mapped to tense, "Calm" is calm)
    v = np.array([[3, 1], [1, 3], [2, 2], [0, 4], [4, 0], [1, 3]], float)
    v /= v.sum(axis=1, keepdims=True)
    ce = -(v * np.log(np.clip(p / p.sum(axis=1, keepdims=True), 1e-12, None))).sum(axis=1)
    assert rep["soft_labels_reason"] == "" and rep["n_distribution"] == len(CLIPS)
    assert rep["cross_entropy_mean"] == pytest.approx(ce.mean(), rel=1e-6)
    # the vote-weighted confusion: row = what listeners heard (their shares), column = the head's prediction
    pred = res.loc[[f"c{i}" for i in range(len(CLIPS))], "pred"].to_numpy(str)
    weighted = np.zeros((2, 2))
    for share, k in zip(v, pred):
        weighted[:, CLASSES.index(k)] += share
    assert rep["confusion_rows"] == CLASSES and rep["confusion_cols"][:2] == CLASSES
    assert np.allclose(np.asarray(rep["confusion_votes"])[:, :2], weighted)
    # agreement 3/4 or 4/4 is "listeners agree"; the model is wrong where its prediction is not the majority
    majority = ["calm", "tense", "", "tense", "calm", "tense"]
    wrong = {f"c{i}" for i, (m, k) in enumerate(zip(majority, pred)) if m and m != k}
    assert rep["n_agree_model_wrong"] == len(wrong) and {r["id"] for r in rep["listeners_agree_model_wrong"]} == wrong
    assert not any("share none" in n or "no vote column" in n for n in rep["notes"])
