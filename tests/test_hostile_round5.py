"""Hostile inputs of the fifth round (listeners, --temperature RUN, fuse, finetune labels, interrupts): each test builds
the input, runs the real component, and checks the refusal (or the bound) that the old code lacked."""

from __future__ import annotations

import json

import pytest

from workbench.cli.common import resolve_temperature
from workbench.errors import ConfigError


def test_a_calibration_files_reasons_stay_on_the_errors_one_line(tmp_path):
    # `--temperature RUN` of a run received from someone else: its calibration.json's words are printed in the refusal
    (tmp_path / "calibration.json").write_text(json.dumps({
        "recommended": False, "temperature_fitted": "\x1b[2J" + "9" * 500,
        "not_recommended_because": ["at the bound\n\x1b[31mT = 1.2 recommended", "x" * 10_000] + ["more"] * 1000}))
    with pytest.raises(ConfigError) as info:
        resolve_temperature(str(tmp_path))
    message = info.value.message
    assert "\n" not in message and "\x1b" not in message  # a line break in a reason printed a line of its own
    assert "at the bound\\n\\x1b[31mT = 1.2 recommended" in message and len(message) < 1500


def _fusion_data(labels, speakers):
    import numpy as np
    import pandas as pd

    from workbench.analysis.fusion import FusionData

    rng = np.random.default_rng(0)
    y, groups = np.array(labels), np.array(speakers)
    rows = pd.DataFrame({"id": [f"i{k}" for k in range(len(y))], "text": ["t"] * len(y), "speaker": groups})
    head = rng.dirichlet(np.ones(2), len(y))
    return FusionData(rows, ["angry", "sad"], y, groups, rng.standard_normal((len(y), 4)), rng.standard_normal((len(y), 4)), head, "test")


def test_fusion_folds_whose_training_speakers_hold_one_class_are_refused_by_name():
    from workbench.analysis.fusion import evaluate_fusion

    # four speakers, each speaking one emotion: two folds train on two angry speakers (or two sad ones)
    speakers = [f"=spk{k % 4}" for k in range(16)]
    labels = ["angry" if k % 2 == 0 else "sad" for k in range(16)]
    with pytest.raises(ConfigError) as info:  # was: "unexpected ValueError: This solver needs samples of at least 2 classes"
        evaluate_fusion(_fusion_data(labels, speakers), folds=2, n_boot=10)
    assert "fold 1 of 2: its training speakers (['=spk0', '=spk2']) hold only the class 'angry'" in info.value.message
    assert "--folds" in info.value.fix
    # leave-one-speaker-out trains each fold on three speakers (both classes); the inner folds of the late weight's
    # choice may still hold one class: they train nothing, and the evaluation finishes
    res = evaluate_fusion(_fusion_data(labels, speakers), folds=4, n_boot=10)
    assert res.folds == 4 and set(res.metrics) >= {"speech", "text", "early", "late"}


@pytest.mark.parametrize("name, says", [
    ("<unk>", "'<unk>' (FunASR's own unknown symbol: the head would not load)"),
    ("<b>calm</b>", "'<b>calm</b>' (reads back as 'b>': a '/' parts a token's Chinese and English names)"),
    ("frustrated/annoyed", "'frustrated/annoyed' (reads back as 'annoyed'"),
    ("unused_take", "a token starting with 'unuse' is an unused output"),
])
def test_a_class_name_tokens_txt_would_not_read_back_is_refused_before_training(name, says):
    from workbench.analysis.finetune.data import check_classes
    from workbench.model.building import _label_mapping

    classes = ["calm", name, "tense"]
    # what the head's folder would have held: FunASR refused a repeated <unk>; the others loaded under another name
    # ('annoyed'), or with the class masked as unused
    tokens = [*classes, "<unk>"]
    try:
        read_back = _label_mapping(tokens, "head")[0]
    except Exception:  # noqa: BLE001 — the loader's refusal
        read_back = None
    assert read_back != classes
    with pytest.raises(ConfigError) as info:
        check_classes(classes, classes * 3, "corpus", source="run")
    assert says in info.value.message and "rename those labels in the manifest" in info.value.fix
    check_classes(["calm", "tense", "neutral"], ["calm", "tense", "neutral"] * 3, "corpus", source="run")  # plain names pass


def test_a_votes_file_with_a_quote_never_closed_is_refused_naming_the_line(tmp_path):
    from workbench.data.listeners import read_generic

    votes = tmp_path / "votes.csv"
    votes.write_text('id,votes_angry,votes_sad\ns1,1,1\n"s2,1,2\ns3,2,0\ns4,0,3\n')
    # the rest of the file became the id of one row with no counts: s2, s3 and s4 were dropped without a word (or, alone,
    # "no manifest id matches an item of the votes (0 read)")
    with pytest.raises(ConfigError) as info:
        read_generic(votes)
    assert "line 3: a quote opened there runs to line 5, so the fields of 3 lines became one cell" in info.value.message
    votes.write_text('id,votes_angry,votes_sad,note\ns1,1,1,"two\nlines"\ns2,0,2,\n')  # a closed quote over two lines is a cell
    assert sorted(read_generic(votes).records) == ["s1", "s2"]
