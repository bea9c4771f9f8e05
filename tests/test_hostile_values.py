"""Hostile and careless values at the edges of today's surfaces: each test failed before its fix."""

from __future__ import annotations

import pytest

from workbench.analysis.finetune.encoder import EncoderTraining
from workbench.analysis.finetune.head import HeadTraining
from workbench.errors import ConfigError


@pytest.mark.parametrize("kw", [{"lr": float("inf")}, {"weight_decay": float("nan")}, {"weight_decay": -1.0},
                                {"weight_decay": float("-inf")}, {"weight_decay": float("inf")}])
def test_head_training_refuses_non_finite_step_sizes(kw):
    # `finetune --lr inf` wrote a head of NaN weights (exit 0); `--weight-decay -1` or `-nan` ended in 'unexpected ValueError'
    with pytest.raises(ConfigError, match=next(iter(kw))):
        HeadTraining(**kw)


@pytest.mark.parametrize("kw", [{"lr": float("inf")}, {"head_lr": float("inf")}, {"lora_alpha": float("inf")},
                                {"weight_decay": -0.5}, {"weight_decay": float("nan")}])
def test_encoder_training_refuses_non_finite_step_sizes(kw):
    with pytest.raises(ConfigError, match=next(iter(kw))):
        EncoderTraining(**kw)


def test_step_sizes_that_make_sense_pass():
    HeadTraining(lr=0.05, weight_decay=0.0)
    EncoderTraining(lr=1e-4, weight_decay=0.0, head_lr=1e-3, lora_alpha=8.0)


def _lines_run(fn, *args) -> int:
    """Python lines executed in workbench.explain.transcript while ``fn(*args)`` runs: work counted, not timed."""
    import sys

    import workbench.explain.transcript as transcript

    count = [0]

    def trace(frame, event, arg):
        if frame.f_code.co_filename != transcript.__file__:
            return None
        if event == "line":
            count[0] += 1
        return trace

    sys.settrace(trace)
    try:
        fn(*args)
    finally:
        sys.settrace(None)
    return count[0]


@pytest.mark.parametrize("layout", ["all overlap", "in pairs"])
def test_span_overlap_counting_is_not_quadratic(layout):
    # a hostile transcript of spans that all overlap (or overlap in pairs): 8,000 spans took 25 s (44 s in pairs),
    # every pair (and every span against every shared stretch) visited one by one
    import numpy as np

    from workbench.explain.transcript import span_overlaps

    def spans(n):
        if layout == "all overlap":
            return np.zeros(n), 10.0 + np.arange(n) * 1e-3
        s = np.repeat(np.arange(n // 2) * 1.0, 2)
        return s, s + 0.5

    small, large = _lines_run(span_overlaps, *spans(400)), _lines_run(span_overlaps, *spans(1600))
    assert large < 6 * small  # 4x the spans: 16x the work when quadratic, about 4x now
    per_span, counted = span_overlaps(*spans(1600))
    assert counted["pairs"] == (1600 * 1599 // 2 if layout == "all overlap" else 800)
    assert counted["spans"] == 1600 and len(counted["examples"]) == 5
    assert per_span.max() == (pytest.approx(11.598) if layout == "all overlap" else 0.5)  # up to the second-latest end


@pytest.mark.parametrize("classes, words", [(["calm", "unmapped", "tense"], "votes_unmapped"),
                                            (["Calm", "calm", "tense"], "differ only in case")])
def test_vote_classes_that_collide_are_refused(classes, words):
    # a hostile head's class "unmapped": its votes went into votes_unmapped and were overwritten by the unmapped count
    # (n_raters 3, votes adding to 2); "Calm" beside "calm": a rater's Calm was counted as calm
    from workbench.data.listeners import record_from_rater_labels

    with pytest.raises(ConfigError, match=words):
        record_from_rater_labels("calm;Calm;unmapped;tense", classes=classes)


def test_import_votes_names_the_checkpoint_whose_classes_collide(monkeypatch):
    import workbench.cli.listeners as cli

    monkeypatch.setattr(cli, "resolve_model", lambda model: type("Resolved", (), {"kind": "folder", "model": model})())
    monkeypatch.setattr(cli, "checkpoint_labels", lambda folder: ["calm", "unmapped", "tense"])
    with pytest.raises(ConfigError, match="unmapped") as caught:
        cli._vote_classes("hostile-head")
    assert caught.value.source == "hostile-head"


@pytest.mark.parametrize("argv", [["similar", "https://example.com/a.wav", "b.wav"], ["similar", "DEMO", "ftp://host//b.wav"],
                                  ["diagnose", "http://example.org/a.wav"]])
def test_a_url_is_refused_as_a_url_not_a_missing_file(argv, capsys):
    # was: 'http:/example.com/a.wav: file not found.' (Path folds the //), a name the user never wrote
    from workbench.cli import main
    from workbench.data.demoset import DEMO_DATA

    argv = [str(DEMO_DATA / "sad_en.ogg") if a == "DEMO" else a for a in argv]
    assert main([*argv, "--model", "tiny"]) == 2
    err = capsys.readouterr().err
    assert "is a URL" in err and ":/" + "/" in err and "not found" not in err


def test_a_jsonl_manifest_with_lone_carriage_returns_is_refused_saying_so(tmp_path):
    # count_lines counts a lone \r as a line end, but JSON Lines does not: the refusal said only 'line 1 ... (Extra data)'
    from workbench.data.manifest import read_manifest

    p = tmp_path / "old_mac.jsonl"
    p.write_bytes(b'{"id": "a", "path": "a.wav"}\r{"id": "b", "path": "b.wav"}\r')
    with pytest.raises(ConfigError, match=r"lone carriage return") as caught:
        read_manifest(p, validate_files=False)
    assert "tr" in caught.value.fix


def test_a_record_over_thousands_of_classes_takes_the_largest_count_once(monkeypatch):
    # a hostile head of thousands of classes: the majority took max() over every count once per class (2,000 classes:
    # 0.09 s a row; 4,000 vote columns: 0.65 s a row), quadratic in the classes
    import builtins

    import workbench.data.votes as votes

    calls = [0]

    def counting_max(*args, **kwargs):
        calls[0] += 1
        return builtins.max(*args, **kwargs)

    monkeypatch.setattr(votes, "max", counting_max, raising=False)
    classes = [f"c{i}" for i in range(3000)]
    rec = votes.record_from_counts({c: float(i % 7) for i, c in enumerate(classes)}, classes=classes)
    assert calls[0] < 10
    assert rec["n_raters"] == sum(i % 7 for i in range(3000)) and rec["listener_majority"] == ""


@pytest.mark.parametrize("kind", ["device", "too big"])
def test_a_hostile_tokens_txt_is_refused_unread(tmp_path, kind):
    # tokens.txt linked to /dev/zero filled memory (MemoryError under a 4 GB ulimit, 'unexpected'), a FIFO hung for ever,
    # a 2 MB file was read whole (here /dev/null stands for the devices: reading it cannot hurt the old code)
    import os

    from workbench.errors import ModelError
    from workbench.model.network import checkpoint_labels

    tokens = tmp_path / "tokens.txt"
    if kind == "device":
        os.symlink("/dev/null", tokens)
    else:
        tokens.write_text("".join(f"{i:04d}{'x' * 1000}\n" for i in range(2_000)), encoding="utf-8")
    with pytest.raises(ModelError, match="not a regular file" if kind == "device" else "holds"):
        checkpoint_labels(tmp_path)


def test_a_head_of_many_labels_is_checked_for_repeats_in_one_pass(monkeypatch):
    # a hostile tokens.txt of 20,000 labels (well under its byte cap) took 6.7 s to check: list.count() once per label
    import workbench.model.building as building

    compared = [0]

    class Label(str):
        __hash__ = str.__hash__

        def __eq__(self, other):
            compared[0] += 1
            return str.__eq__(self, other)

    monkeypatch.setattr(building, "key_from_token", Label)
    tokens = [f"c{i}" for i in range(1000)]
    assert building._label_mapping(tokens, "hostile-head")[0] == tokens
    assert compared[0] < 20 * len(tokens)  # every label against every other: about a million


def test_a_reference_folder_says_what_it_left_out(tmp_path):
    # `similar --reference FOLDER` with a FIFO named like audio: the folder reader skipped it with a note, and the
    # reference dropped the note (the screen and the JSON said nothing)
    import os
    import shutil

    from workbench.analysis.similarity import reference_set
    from workbench.data.demoset import DEMO_DATA

    for name in ("happy_en_44k.wav", "sad_en.ogg"):
        shutil.copy(DEMO_DATA / name, tmp_path / name)
    os.mkfifo(tmp_path / "stuck.wav")
    ref = reference_set(tmp_path)
    assert len(ref.manifest) == 2
    assert any("stuck.wav" in n and "not a regular file" in n for n in ref.notes)
