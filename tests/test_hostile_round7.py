"""Hostile and careless inputs, round seven: audio that overflows the network, segments the model refuses, fine-tuned
heads received from others, interrupts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from workbench.cli import main


def _overflowing(path, seconds: float = 2.0):
    """A float WAV whose samples reach 1e30: finite, so intake takes it, and the network's float32 normalisation overflows."""
    import soundfile as sf

    t = np.arange(int(16000 * seconds)) / 16000
    sf.write(path, (1e30 * np.sin(2 * np.pi * 220 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32), 16000,
             subtype="FLOAT")
    return path


def test_a_clip_whose_scores_come_back_nan_is_a_failed_row_not_an_ok_one(tmp_path, tiny_model, capsys):
    """A float WAV at 1e30 scored 'angry conf nan' as an ok row (torch backend; the ONNX backend refused such outputs)."""
    import soundfile as sf

    bad = _overflowing(tmp_path / "loud.wav")
    sf.write(tmp_path / "fine.wav", (0.3 * np.sin(np.arange(32000) / 7)).astype(np.float32), 16000)
    code = main(["infer", str(bad), str(tmp_path / "fine.wav"), "--model", "tiny", "--dtype", "float32", "--out", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert code == 1, out  # one failed input, the other scored
    row = next(line for line in out.splitlines() if line.startswith("loud.wav"))
    assert "FAILED" in row and "NaN or infinite scores" in row and "rescale it" in row
    assert "nan" not in next(line for line in out.splitlines() if line.startswith("fine.wav"))


def test_segment_counts_a_segment_the_model_refused_and_never_says_no_speech(tmp_path, tiny_model, capsys):
    """The voice activity detector found the speech, the model refused it, and segment said 'no speech found: the detector
    marked none of the 2.0 s as speech' with exit status 0."""
    bad = _overflowing(tmp_path / "loud.wav")
    code = main(["segment", str(bad), "--model", "tiny", "--dtype", "float32", "--vad", "energy", "--no-figures",
                 "--out", str(tmp_path / "seg")])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "no speech found" not in out and "not scored" in out and "NaN or infinite scores" in out
    summary = json.loads((tmp_path / "seg" / "summary.json").read_text())
    assert summary["n_failed"] == 1 and summary["n_segments"] == 0 and "NaN" in summary["failed"][0]["error"]
    assert "no speech found" not in summary["note"]


# --------------------------------------------------------------- a head folder received from someone else
def _head(folder, tiny_dir, classes=("calm", "tense", "flat"), seed=0):
    """A head as `workbench finetune` writes it (write_checkpoint: the parent's network, a new proj, tokens and the card)."""
    from workbench.analysis.finetune.checkpoint import write_checkpoint

    rng = np.random.default_rng(seed)
    dim = 32  # tiny's embed_dim
    return write_checkpoint(folder, tiny_dir, list(classes), rng.standard_normal((len(classes), dim)), rng.standard_normal(len(classes)),
                            {"format": "emotion-workbench-finetune/1", "speakers": {"train": ["s1"], "validation": ["s2"], "test": ["s3"]}})


@pytest.fixture
def tiny_dir():
    from workbench.model.generated import ensure_random_checkpoint

    return ensure_random_checkpoint("tiny")


def test_a_head_whose_tokens_were_reordered_is_refused_not_scored_under_other_names(tmp_path, tiny_dir, own_model_cache):
    """tokens.txt with two lines swapped: every score went out under the other class's name, silently."""
    from workbench.errors import ModelError
    from workbench.model.network import clear_cache, load_model

    head = _head(tmp_path / "head", tiny_dir)
    assert load_model(str(head), device="cpu", dtype="float32").labels == ("calm", "tense", "flat")
    (head / "tokens.txt").write_text("tense\ncalm\nflat\n<unk>\n", encoding="utf-8")
    clear_cache()  # loaded once per process: the folder is read again
    with pytest.raises(ModelError) as err:
        load_model(str(head), device="cpu", dtype="float32")
    assert "training_card.json" in str(err.value.source) and "tense, calm" in err.value.message and "other classes' names" in err.value.message
    assert "fine-tune again" in err.value.fix


def test_a_head_whose_weights_came_from_another_fine_tune_is_refused_by_its_card(tmp_path, tiny_dir, own_model_cache, capsys):
    """Another head's model.safetensors copied into this folder ran under this card's parent, speakers and test figures."""
    import shutil

    head, other = _head(tmp_path / "head", tiny_dir), _head(tmp_path / "other", tiny_dir, seed=1)
    shutil.copyfile(other / "model.safetensors", head / "model.safetensors")
    import soundfile as sf

    sf.write(tmp_path / "a.wav", (0.3 * np.sin(np.arange(32000) / 7)).astype(np.float32), 16000)
    assert main(["infer", str(tmp_path / "a.wav"), "--model", str(head), "--dtype", "float32", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "training_card.json: the card was written for weights with sha256" in err and "belong to another head" in err, err


def test_a_head_with_nan_weights_is_refused_at_load_by_name(tmp_path, tiny_dir, own_model_cache):
    """A head whose proj.weight holds a NaN loaded, then failed every clip (with torch) or ended `--dtype onnx-float32`
    in 'unexpected AssertionError: scale issue' while the int8 graph was quantised."""
    from safetensors.torch import load_file, save_file

    from workbench.errors import ModelError
    from workbench.model.network import load_model

    head = _head(tmp_path / "head", tiny_dir)
    state = load_file(head / "model.safetensors")
    state["proj.weight"][1, 3] = float("nan")
    save_file(state, head / "model.safetensors")
    (head / "training_card.json").unlink()  # a head received without its card
    with pytest.raises(ModelError) as err:
        load_model(str(head), device="cpu", dtype="float32")
    assert "proj.weight" in err.value.message and "NaN or infinite" in err.value.message


@pytest.mark.parametrize("planted", ["fifo", "dev_zero", "folder"])
def test_a_heads_card_that_is_no_file_is_refused_never_read_as_no_card(tmp_path, tiny_dir, own_model_cache, planted):
    """training_card.json planted as a FIFO or a link to /dev/zero was taken for no card: the head of a random parent
    lost its RANDOM WEIGHTS banner (and the speakers it trained on, so the speaker-overlap warning), silently."""
    import os

    from workbench.errors import ModelError
    from workbench.model.network import load_model

    head = _head(tmp_path / "head", tiny_dir)
    card = head / "training_card.json"
    card.unlink()
    {"fifo": lambda: os.mkfifo(card), "dev_zero": lambda: os.symlink("/dev/zero", card), "folder": card.mkdir}[planted]()
    with pytest.raises(ModelError) as err:
        load_model(str(head), device="cpu", dtype="float32")
    assert "training_card.json" in err.value.message and "not a regular file" in err.value.message


def test_a_weights_file_that_is_a_link_to_a_device_is_named_not_called_missing(tmp_path, tiny_dir):
    """model.safetensors linked to /dev/zero was reported as 'model.pt missing'."""
    import os

    from workbench.errors import ModelError
    from workbench.model.checkpoints import resolve_model

    head = _head(tmp_path / "head", tiny_dir)
    (head / "model.safetensors").unlink()
    os.symlink("/dev/zero", head / "model.safetensors")
    with pytest.raises(ModelError) as err:
        resolve_model(str(head))
    assert "model.safetensors is a folder, a pipe, a device or a broken link" in err.value.message and "model.pt missing" not in err.value.message


# --------------------------------------------------------------- interrupts
def test_calibrate_stopped_between_its_figures_leaves_no_calibration_json_listing_them(tmp_path):
    """calibrate wrote calibration.json (listing three figures) before its figures: stopped at the second figure, the
    folder held a calibration.json naming figures that were never written; stopped on a second calibration, the old
    calibration.json beside figures of a fit it did not describe."""
    import os
    import signal
    import subprocess
    import sys

    from test_calibration import planted_run
    from test_calibration_cli import _run_folder
    from test_stops import ENV, stopped_at, temporaries

    run_dir = tmp_path / "run"
    _run_folder(run_dir, planted_run(n_speakers=4, per_speaker=30, t_true=2.0))
    argv = ["calibrate", str(run_dir), "--bootstrap", "20", "--folds", "2"]
    for attempt in range(2):  # a first calibration, then a second one over it
        rc, err = stopped_at(argv, "write:calibration_risk_coverage_0.png", signal.SIGINT, tmp_path)
        assert rc == 130 and err.strip().splitlines()[-1].startswith("interrupted"), err
        assert not (run_dir / "calibration.json").exists() and temporaries(run_dir) == []
        done = subprocess.run([sys.executable, "-m", "workbench.cli", *argv], cwd=tmp_path, env=ENV, capture_output=True, timeout=600)
        assert done.returncode == 0, done.stderr.decode()[-1500:]
        listed = json.loads((run_dir / "calibration.json").read_text())["figures"]
        assert listed and all((run_dir / name).is_file() for name in listed), (listed, os.listdir(run_dir))


def test_segment_into_a_folder_of_an_earlier_segment_never_keeps_its_heatmap(tmp_path, tiny_model):
    """A second `segment` into the same --out with --no-figures kept the first file's heatmap.png beside the second
    file's summary, timeline and heatmap.npz."""
    import soundfile as sf

    from workbench.runs.longform import segment_file

    t = np.arange(16000 * 6) / 16000
    sf.write(tmp_path / "long.wav", (0.3 * np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 0.4 * t) > 0)).astype(np.float32), 16000)
    sf.write(tmp_path / "short.wav", (0.3 * np.sin(2 * np.pi * 180 * t[:32000])).astype(np.float32), 16000)
    out = tmp_path / "seg"
    segment_file(tmp_path / "long.wav", model=tiny_model, out_dir=out, figures=True, config=_energy())
    assert (out / "heatmap.png").is_file()
    segment_file(tmp_path / "short.wav", model=tiny_model, out_dir=out, figures=False, config=_energy())
    assert not (out / "heatmap.png").exists() and json.loads((out / "summary.json").read_text())["duration_s"] == pytest.approx(2.0)


def _energy():
    from workbench.runs.longform import SegmentConfig

    return SegmentConfig(vad="energy")


@pytest.mark.parametrize("tokens", [["calm", "<unk>"], ["calm", "tense", "flat", "bored", "<unk>"]])
def test_a_head_whose_tokens_count_disagrees_with_its_weights_names_tokens_txt(tmp_path, tiny_dir, own_model_cache, tokens):
    """tokens.txt of another length than the head's rows was told as 'weights do not fit the network in config.yaml'
    with the fix 'use the config.yaml that came with this model.pt' (config.yaml was right)."""
    from workbench.errors import ModelError
    from workbench.model.network import load_model

    head = _head(tmp_path / "head", tiny_dir)
    (head / "training_card.json").unlink()  # a head received without its card
    (head / "tokens.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    with pytest.raises(ModelError) as err:
        load_model(str(head), device="cpu", dtype="float32")
    assert f"tokens.txt names {len(tokens)} outputs and the weights' classification head has 4" in err.value.message
    assert "tokens.txt" in err.value.fix and "config.yaml" not in err.value.fix


def test_a_clip_the_model_runs_out_of_memory_on_is_a_failed_row_that_says_so():
    """`infer --max-duration 7300` on a 2-hour file: the row's error was torch's 'RuntimeError: [enforce fail at
    alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: …', with no fix."""
    import torch

    from workbench.engine.core import error_dict

    try:
        torch.empty(2**50)  # what the forward pass of a 2-hour clip asks for, as torch refuses it
    except RuntimeError as exc:
        err = error_dict(exc, source="long2h.wav")
    assert err["type"] == "ModelError" and "ran out of memory" in err["message"] and "workbench segment" in err["fix"]


def test_a_clip_whose_attention_cannot_fit_in_memory_is_refused_before_the_forward_pass(tiny_model):
    """`infer --max-duration 700` on a 10-minute clip grew to 20.7 GB in FunASR's float32 attention and was killed by
    the kernel (signal 9, no line); an hour asks for terabytes anywhere."""
    _refuses_an_hour_and_scores_two_seconds(tiny_model, "GB for its float32 attention")


def _refuses_an_hour_and_scores_two_seconds(model, words: str) -> None:
    """An hour of audio refused before the forward pass, naming ``words``, the memory free and `segment`; 2 s scored."""
    from workbench.errors import ModelError

    hour = np.zeros(16000 * 3600, dtype=np.float32)
    hour[::160] = 0.1
    with pytest.raises(ModelError) as err:
        model.predict([hour], ids=["hour.wav"])
    assert words in err.value.message and "is free" in err.value.message
    assert "workbench segment" in err.value.fix
    assert model.predict([hour[: 16000 * 2]], ids=["two_seconds.wav"])[0].n_frames > 0  # a short clip is not refused


def test_explain_worst_stopped_at_its_figure_leaves_no_summary_of_the_earlier_call(tmp_path, tiny_model):
    """`explain --worst` wrote its figure, then its summary: stopped between the two, the folder held the new figure
    beside the earlier call's explain_worst.json (its cases, its checks), which the report showed together."""
    import signal
    import subprocess
    import sys

    import soundfile as sf

    from conftest import speech_like
    from test_stops import ENV, stopped_at, temporaries
    from workbench.data.manifest import Item, Manifest, write_manifest
    from workbench.explain.worst import worst_summary
    from workbench.runs.driver import run

    (tmp_path / "audio").mkdir()
    items = []
    for i in range(3):
        sf.write(tmp_path / "audio" / f"c{i}.wav", speech_like(16000, 1.0, seed=i), 16000)
        items.append(Item(id=f"c{i}", path=f"audio/c{i}.wav", label="happy", emotion="happy", speaker=f"s{i}"))
    run(write_manifest(Manifest(items, root=tmp_path), tmp_path / "m.csv"), out_dir=tmp_path / "run", model=tiny_model, use_cache=False)
    first = ["explain", str(tmp_path / "run"), "--worst", "1", "--method", "occlusion"]
    done = subprocess.run([sys.executable, "-m", "workbench.cli", *first], cwd=tmp_path, env=ENV, capture_output=True, timeout=600)
    assert done.returncode == 0, done.stderr.decode()[-1500:]
    assert worst_summary(tmp_path / "run")["showing"].startswith("1 of")
    rc, err = stopped_at([*first[:3], "2", *first[4:]], "write:explain_worst.png", signal.SIGTERM, tmp_path)
    assert rc == 143 and temporaries(tmp_path / "run") == [], err
    assert worst_summary(tmp_path / "run") is None  # never the earlier call's summary beside this call's figure


def test_an_onnx_graph_whose_attention_cannot_fit_in_memory_is_refused_before_it_runs(tiny_model, tmp_path):
    """The same check for ONNX Runtime (what `--dtype auto` picks on most CPUs): an hour of audio in one graph call asked
    ONNX Runtime for terabytes (onnx-float32 held 1.95 GB at 120 s and 6.0 GB at 240 s with tiny's 2 heads)."""
    import json

    from workbench.errors import ModelError
    from workbench.model.onnx_backend import load_onnx_model
    from workbench.model.onnx_export import export_onnx

    folder = export_onnx(tiny_model, tmp_path / "onnx").folder
    meta = json.loads((folder / "model.json").read_text())
    assert meta["attention_heads"] == 2  # tiny's, read from the network at export
    _refuses_an_hour_and_scores_two_seconds(load_onnx_model(folder), "onnx-float32 attention (2 heads, 180,000 frames)")
    # the cached export `--dtype onnx-float32` makes (its model names its dtype onnx-float32: "onnx-onnx-float32" was said)
    from workbench.model.ref import ModelRef

    cached = ModelRef(model="tiny", dtype="onnx-float32").load()
    _refuses_an_hour_and_scores_two_seconds(cached, "1814.4 GB for its onnx-float32 attention (2 heads, 180,000")
    # an export that does not say: its width over 64, at least 1 (never more than it has); a false count is refused
    del meta["attention_heads"]
    (folder / "model.json").write_text(json.dumps(meta))
    assert load_onnx_model(folder).attention_heads == 1
    meta["attention_heads"] = "16"
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="attention_heads '16'"):
        load_onnx_model(folder)
