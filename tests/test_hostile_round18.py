"""Hostile and careless inputs, round eighteen: a published head's card, a published run, sealed caches, Ctrl-C."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _card_folder(folder, parent: dict, **more):
    """A folder holding only a training card (all the protocol card reads), its parent as given."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "training_card.json").write_text(json.dumps({"format": "emotion-workbench-finetune/1", "parent": parent,
                                                           "data": {"corpora": ["IEMOCAP"]}, **more}), encoding="utf-8")
    return folder


def test_a_card_naming_its_own_head_as_parent_is_refused_naming_the_cycle(tmp_path):
    """parent.path "." (the head itself, read back absolute) or two heads naming each other: the protocol card recursed
    until the stack ran out, and `run` with the head, then `metrics`, said "cannot read training_card.json (nested deeper
    than a JSON reader goes (thousands of [ or {)…)", of a 14 kB card."""
    from workbench.data.cards import card_for
    from workbench.errors import ModelError

    _card_folder(tmp_path / "self", {"id": "random-tiny", "path": "."})
    with pytest.raises(ModelError) as err:
        card_for(str(tmp_path / "self"))
    assert "own ancestor" in err.value.message and "(self → self)" in err.value.message
    assert "JSON" not in err.value.message and "fine-tune again" in err.value.fix
    _card_folder(tmp_path / "a", {"path": "../b"})
    _card_folder(tmp_path / "b", {"path": "../a"})
    with pytest.raises(ModelError) as err:
        card_for(str(tmp_path / "a"))
    assert "(a → b → a)" in err.value.message


def test_a_chain_of_heads_is_followed_to_a_bound_then_refused(tmp_path):
    """A chain of 1,000 heads read a card per generation until the stack ran out (the same JSON message); a short chain
    still gives every generation's stage, so the corpora of each stay warned about."""
    from workbench.data.cards import card_for
    from workbench.errors import ModelError

    _card_folder(tmp_path / "h0", {"id": "iic/emotion2vec_plus_large"})
    for i in range(1, 1000):
        _card_folder(tmp_path / f"h{i}", {"path": f"../h{i - 1}"})
    stages = [s.stage for s in card_for(str(tmp_path / "h3")).stages]
    assert stages.count("fine-tuning (workbench finetune)") == 4 and len(stages) > 4  # large's own stages first
    with pytest.raises(ModelError) as err:
        card_for(str(tmp_path / "h999"))
    assert "chain of parents goes on past" in err.value.message and "(h999 → h998 → … →" in err.value.message
    assert "JSON" not in err.value.message


def test_a_parent_id_with_a_line_break_prints_one_banner_line(tmp_path):
    """A card's parent.id "tiny\\n!! FAKE LINE" printed a '!! FAKE LINE' line of its own under `run`'s RANDOM WEIGHTS
    banner (and under `metrics`', `calibrate`'s …)."""
    from workbench.data.cards import random_weights_banner

    head = _card_folder(tmp_path / "head", {"id": "tiny\n!! FAKE LINE\x1b[2J\u202e" + "x" * 5000, "random_weights": True})
    banner = random_weights_banner({"path": str(head), "kind": "trained"})
    assert banner.startswith('RANDOM WEIGHTS: this result comes from head "head", fine-tuned from tiny\\n!! FAKE LINE\\x1b[2J\\u202e')
    assert banner.isprintable() and len(banner) < 400


def test_a_run_naming_a_hub_model_not_downloaded_is_not_fetched_without_consent(tmp_path, monkeypatch):
    """A published run whose config.yaml names a hub id (iic/emotion2vec_plus_base, or anyone's repository): `explain RUN
    --item`, `embeddings --neighbours` and the views loaded it, contacting ModelScope (measured: a DNS query for
    www.modelscope.cn, then 'cannot be reached' here), where an experiment file naming it is refused without --model or
    --allow-hub.  Refused now before anything loads, naming the flag; a copy already in the local cache still loads."""
    from types import SimpleNamespace

    from workbench.errors import ConfigError
    from workbench.runs.reproduce import check_run_checkpoint

    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "ms"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "run").mkdir()
    with pytest.raises(ConfigError) as caught:
        check_run_checkpoint(tmp_path / "run", SimpleNamespace(model="someone/evil_model", hub="ms", revision=None, checksum=None))
    assert "hub model someone/evil_model, which is not in the local ModelScope cache" in caught.value.message
    assert "--model someone/evil_model" in caught.value.fix
    cached = tmp_path / "ms" / "models" / "someone" / "evil_model"
    cached.mkdir(parents=True)
    (cached / "config.yaml").write_text("model: Emotion2vec\n")
    (cached / "model.pt").write_bytes(b"x")
    check_run_checkpoint(tmp_path / "run", SimpleNamespace(model="someone/evil_model", hub="ms", revision=None, checksum=None))


def test_a_card_path_longer_than_a_file_name_may_be_is_no_folder(tmp_path):
    """parent.path "./aaa…" (5,000 characters): `metrics` of the head's run ended "is no possible path: one name in it
    (5,000 bytes) is longer than this file system allows … fix: check the name you typed", of a name the card held."""
    from workbench.data.cards import card_for, random_weights_banner

    head = _card_folder(tmp_path / "head", {"id": "b" * 5000, "path": "./" + "a" * 5000, "random_weights": True})
    card = card_for(str(head))
    assert [s.stage for s in card.stages] == ["fine-tuning (workbench finetune)"]
    assert "fine-tuned from bbbb" in random_weights_banner({"path": str(head)})
    assert card_for("c" * 5000) is None


def _no_hashing(monkeypatch):
    from workbench import files

    def hashed(path, **_):
        raise AssertionError(f"{path} was hashed")

    monkeypatch.setattr(files, "sha256_file", hashed)


def test_a_published_export_whose_graph_is_10_gb_is_refused_by_its_size_unread(tmp_path, monkeypatch):
    """model.onnx a 10 GB sparse file in an export folder (`infer --backend onnxruntime --dtype float32 --model DIR`):
    hashed for more than 100 s (stopped there), then given to onnx.load, which reads a graph whole into memory.  No
    graph of an export is over protobuf's 2 GiB; a larger file is refused by its size."""
    import os

    from workbench.cli import main
    from workbench.errors import ModelError
    from workbench.model.onnx_backend import load_onnx_model

    folder = tmp_path / "export"
    assert main(["model", "export-onnx", "--model", "tiny", "--out", str(folder), "--no-check"]) == 0
    os.remove(folder / "model.onnx")
    with open(folder / "model.onnx", "wb") as f:
        f.truncate(10 * 2**30)  # sparse: no disk used
    _no_hashing(monkeypatch)
    with pytest.raises(ModelError) as err:
        load_onnx_model(folder, dtype="float32")
    assert "model.onnx cannot be read (holds 10,737,418,240 bytes, over the cap of 2,147,483,648)" in err.value.message
    assert "export-onnx" in err.value.fix


@pytest.mark.slow  # two exports of tiny: about 9 s on the shared 2-core machine
def test_a_cached_export_whose_graph_became_10_gb_is_made_again_unread(tiny_model, monkeypatch):
    """The same graph in the model cache (`--dtype auto`, `onnx-float32`): every load hashed the 10 GB before finding
    that it had changed, minutes each time."""
    import os

    from workbench.model import fastpath

    fastpath.ensure_export(tiny_model)
    folder = fastpath.export_folder(tiny_model.info.identity)
    os.remove(folder / "model.onnx")
    with open(folder / "model.onnx", "wb") as f:
        f.truncate(10 * 2**30)
    with monkeypatch.context() as m:
        _no_hashing(m)
        assert fastpath.cached_export(tiny_model.info.identity) is None
    fastpath.ensure_export(tiny_model)  # made again, for the tests after this one
    assert fastpath.cached_export(tiny_model.info.identity) is not None


def test_a_named_pipe_put_where_a_file_was_checked_is_not_waited_on(tmp_path):
    """files.sha256_file opened its path blocking: a model.pt or graph swapped for a FIFO after the caller's is_file()
    waited for a writer for ever (here a writer feeds it, so the old code returns a digest instead of hanging)."""
    import os

    from conftest import fifo_fed
    from workbench.files import sha256_file

    os.mkfifo(tmp_path / "model.pt")
    with fifo_fed(tmp_path / "model.pt", b"weights"), pytest.raises(OSError, match="not a regular file"):
        sha256_file(tmp_path / "model.pt")


def test_a_head_of_a_heads_parent_id_is_written_relative_and_read_back_absolute(tmp_path):
    """The parent of a head of a head is the first head's folder, and the card's parent.id is that folder as the run
    recorded it: `finetune runs/head-run` wrote parent.id "/tmp/…/heads/demo4" (the author's absolute path; under a home,
    /home/alice/…) beside a relative parent.path "../demo4", in the head and in its ONNX export's copy of the card."""
    from workbench.model.generated import card_paths_portable, read_training_card

    first = _card_folder(tmp_path / "proj" / "heads" / "first", {"id": "iic/emotion2vec_plus_large"})
    second = _card_folder(tmp_path / "proj" / "heads" / "second", {"id": "../first", "path": "../first"})
    card = read_training_card(second)
    assert card["parent"]["id"] == str(first.resolve()) == card["parent"]["path"]
    copy = card_paths_portable(card, tmp_path / "proj" / "exports" / "second")
    assert copy["parent"]["id"] == "../../heads/first"
    assert read_training_card(first)["parent"]["id"] == "iic/emotion2vec_plus_large"  # a hub id is no path


def test_finetune_refuses_a_run_whose_checkpoint_folder_holds_other_weights(tmp_path, tiny_model):
    """A received run's model path (relative, "../../models/e2v") found another checkpoint here (tiny seed 1 where seed 0
    scored the run): `finetune` wrote a head on seed 1's encoder with a proj trained on seed 0's embeddings, its card
    saying parent sha256 3aa1b4e7… (seed 0's); measured: the head's model.safetensors carried seed 1's blocks."""
    from types import SimpleNamespace

    from workbench.analysis.finetune.checkpoint import parent_folder
    from workbench.errors import ModelError
    from workbench.model.checkpoints import file_sha256, weights_file
    tiny = Path(tiny_model.info.path)
    scored = SimpleNamespace(path=tmp_path, model_ref={"path": str(tiny), "kind": "random", "checksum": file_sha256(weights_file(tiny))})
    assert parent_folder(scored)[0] == tiny
    other = SimpleNamespace(path=tmp_path, model_ref={**scored.model_ref, "checksum": "10eff2d08ab7" + "0" * 52})
    with pytest.raises(ModelError) as err:
        parent_folder(other)
    assert "and the run was scored by 10eff2d08ab7…" in err.value.message and "fine-tune that run" in err.value.fix


def test_a_reports_sweep_does_not_fetch_the_hub_model_a_received_run_names(tmp_path, monkeypatch):
    """`workbench report variant_comparison -p run_dir=RUN` swept its clip with the run's model: a received run naming
    iic/emotion2vec_plus_base (not downloaded here) made the notebook contact ModelScope (a DNS query seen with strace).
    Refused now, the fix naming the report's own parameter (-p model=), not a --model the command lacks."""
    from types import SimpleNamespace

    from workbench.errors import ConfigError
    from workbench.model.ref import ModelRef
    from workbench.views import reporting

    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "ms"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    run = SimpleNamespace(path=tmp_path, model=lambda: ModelRef(model="iic/emotion2vec_plus_base"))
    monkeypatch.setattr(reporting, "_run", lambda run_dir: run)
    with pytest.raises(ConfigError) as err:
        reporting.sweep_model(tmp_path)
    assert "-p model=iic/emotion2vec_plus_base" in err.value.fix and "--model" not in err.value.fix
    assert reporting.sweep_model(tmp_path, "tiny") == "tiny"  # a model the user named is theirs to load


def test_run_with_a_head_whose_card_loops_is_refused_before_the_model_loads(tmp_path, capsys):
    """`run --model HEAD` with a card whose parent chain comes back to the head scored every clip and wrote the run
    folder, then failed at the training-overlap step: the card is read before the model loads now."""
    import numpy as np
    import soundfile as sf

    from workbench.cli import main

    head = _card_folder(tmp_path / "head", {"id": "random-tiny", "path": "."})
    wav = tmp_path / "a.wav"
    sf.write(wav, (0.1 * np.sin(np.arange(16000) / 5)).astype(np.float32), 16000)
    (tmp_path / "m.csv").write_text(f"id,path\na,{wav}\n", encoding="utf-8")
    code = main(["run", str(tmp_path / "m.csv"), "--model", str(head), "--out", str(tmp_path / "out"), "--dtype", "float32"])
    err = capsys.readouterr().err
    assert code != 0 and "own ancestor" in err, err[-600:]
    assert not (tmp_path / "out").exists()
