"""``workbench finetune --unfreeze K --adapt full|lora``: the top K blocks trained on the audio, saved as a plain checkpoint.

The corpus is the generated EmoDB-style set of ``test_finetune`` (one text per speaker: 35 clips of 0.6 s), scored
once by ``tiny`` (2 transformer blocks: the audio encoder's ``context_encoder.blocks.0`` below, ``blocks.0`` on top).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from test_finetune import make_emodb, voice

from workbench.errors import ConfigError

TOP, BELOW = "blocks.0.", "modality_encoders.AUDIO.context_encoder.blocks.0."


@pytest.fixture(scope="module")
def emodb_run(tmp_path_factory):
    from workbench.data.corpora import prepare
    from workbench.data.manifest import write_manifest
    from workbench.runs.driver import run
    from workbench.runs.folder import RunFolder

    root = make_emodb(tmp_path_factory.mktemp("emodb-small"), texts=("a01",))
    manifest = write_manifest(prepare("emodb", root), root / "manifest.csv")
    run(manifest, out_dir=root / "run", model="tiny")
    return RunFolder(root / "run")


def _clips(n: int = 4) -> list[np.ndarray]:
    return [voice(k % 7, 7, seed=500 + k, dur=0.5 + 0.3 * k) for k in range(n)]  # unequal: padding and masks in play


def _trained(adapt: str, k: int = 1, linear: type | None = None):
    """train_encoder on 14 clips, no validation side (so the last epoch is kept and the blocks surely moved);
    ``linear``: the class the network's Linear layers are given first (the loader's, where None)."""
    from workbench.analysis.finetune import EncoderTraining, train_encoder
    from workbench.analysis.finetune.encoder import parent_network
    from workbench.model.checkpoints import ensure_random_checkpoint

    parent = ensure_random_checkpoint("tiny")
    net = parent_network(parent)
    for m in net.modules():
        if linear is not None and isinstance(m, torch.nn.Linear):
            m.__class__ = linear
    before = {n: v.detach().clone() for n, v in net.state_dict().items()}
    classes = ["a", "b"]
    clips = [voice(k_ * 5, 7, seed=k_ + 10 * i) for i in range(7) for k_ in (0, 1)]
    y = ["a", "b"] * 7
    head = (np.zeros((2, 32)), np.zeros(2))
    fit = train_encoder(net, (clips, y), ([], []), classes, head, EncoderTraining(unfreeze=k, adapt=adapt, epochs=2, lr=1e-2), seed=0)
    return fit, before


@pytest.mark.parametrize("adapt", ["full", "lora"])
def test_unfreeze_changes_the_top_blocks_and_nothing_below(adapt):
    fit, before = _trained(adapt)
    after = fit.network.state_dict()
    assert sorted(after) == sorted(k for k in before if not k.startswith("proj.")) + ["proj.bias", "proj.weight"]  # LoRA merged away
    assert fit.blocks == ["blocks.0"] and fit.n_blocks == 2
    moved = [k for k in before if k.startswith(TOP) and not torch.equal(before[k], after[k])]
    assert any(k.endswith("attn.qkv.weight") for k in moved) and any(k.endswith("mlp.fc2.weight") for k in moved)
    below = [k for k in before if not k.startswith((TOP, "proj."))]
    assert below and all(torch.equal(before[k], after[k]) for k in below)
    if adapt == "lora":  # the adapters train a low-rank change: far fewer parameters than the block
        assert fit.parameters["trainable"] < 0.5 * sum(v.numel() for k, v in before.items() if k.startswith(TOP))
        # norms and biases are not adapted by LoRA
        assert torch.equal(before[TOP + "norm1.weight"], after[TOP + "norm1.weight"])
    assert len(fit.curves["train_loss"]) == 3 and np.isnan(fit.curves["train_loss"][0])  # epoch 0 is the start


def test_unfreeze_two_reaches_the_audio_encoders_block():
    fit, before = _trained("full", k=2)
    after = fit.network.state_dict()
    assert fit.blocks == ["modality_encoders.AUDIO.context_encoder.blocks.0", "blocks.0"]
    assert not torch.equal(before[BELOW + "attn.qkv.weight"], after[BELOW + "attn.qkv.weight"])
    frozen = [k for k in before if not k.startswith((TOP, BELOW, "proj."))]
    assert all(torch.equal(before[k], after[k]) for k in frozen)


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this PyTorch has no oneDNN")
@pytest.mark.parametrize("adapt", ["full", "lora"])
def test_training_through_onednn_linears_trains_as_the_plain_layers_do(adapt):
    """The loader routes a float32 CPU model's Linears through oneDNN on AMD CPUs (workbench.model.prepack), their
    gradients too: the same training as with the plain layers, float32 rounding apart."""
    from workbench.model.prepack import onednn_linear_class

    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fast, _ = _trained(adapt, linear=onednn_linear_class())
    assert any(e.name == "OneDNNLinearFunctionBackward" for e in prof.events())  # the adapted block's backward
    slow, _ = _trained(adapt, linear=torch.nn.Linear)
    np.testing.assert_allclose(fast.curves["train_loss"], slow.curves["train_loss"], rtol=1e-5)
    a, b = fast.network.state_dict(), slow.network.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-3, atol=1e-4, msg=key)


def test_k_out_of_range_and_stray_options_are_refused(emodb_run, tmp_path):
    from workbench.analysis.finetune import EncoderTraining, finetune, train_encoder
    from workbench.analysis.finetune.encoder import parent_network
    from workbench.model.checkpoints import ensure_random_checkpoint

    with pytest.raises(ConfigError, match="0 ≤ K ≤ 2"):
        finetune(emodb_run.path, tmp_path / "a", unfreeze=3, evaluate=False)
    with pytest.raises(ConfigError, match="whole number ≥ 0"):
        finetune(emodb_run.path, tmp_path / "b", unfreeze=-1, evaluate=False)
    manifest = emodb_run.config["manifest"]  # a manifest with a local model: refused before anything is scored
    with pytest.raises(ConfigError, match="0 ≤ K ≤ 2"):
        finetune(manifest, tmp_path / "d", model="tiny", unfreeze=3, evaluate=False)
    assert not (tmp_path / "d-run").exists()
    with pytest.raises(ConfigError, match="0 ≤ K ≤ 2"):
        train_encoder(parent_network(ensure_random_checkpoint("tiny")), (_clips(2), ["a", "b"]), ([], []), ["a", "b"],
                      (np.zeros((2, 32)), np.zeros(2)), EncoderTraining(unfreeze=5))
    with pytest.raises(ConfigError, match="--unfreeze is 0"):
        finetune(emodb_run.path, tmp_path / "c", adapt="lora", evaluate=False)
    with pytest.raises(ConfigError, match="full, lora"):
        EncoderTraining(adapt="qlora")
    assert not any((tmp_path / n).exists() for n in "abcd")


def test_cli_refuses_k_out_of_range_and_encoder_options_without_unfreeze(emodb_run, tmp_path, capsys):
    from workbench.cli import main

    assert main(["finetune", str(emodb_run.path), "--out", str(tmp_path / "x"), "--unfreeze", "7", "--no-evaluation"]) != 0
    assert "0 ≤ K ≤ 2" in capsys.readouterr().err
    assert main(["finetune", str(emodb_run.path), "--out", str(tmp_path / "y"), "--lora-rank", "4", "--no-evaluation"]) != 0
    assert "--lora-rank" in capsys.readouterr().err


@pytest.fixture(scope="module")
def lora_folder(emodb_run, tmp_path_factory):
    from workbench.analysis.finetune import EncoderTraining, finetune

    out = tmp_path_factory.mktemp("lora") / "emodb-lora"
    return finetune(emodb_run.path, out, unfreeze=1, adapt="lora", encoder=EncoderTraining(epochs=2, lr=1e-2), evaluate=False, n_boot=50)


def test_the_folder_is_a_plain_checkpoint_with_the_card(lora_folder):
    from workbench.model.checkpoints import check_checkpoint, load_weights, weights_file

    out = lora_folder.out
    check_checkpoint(out)
    state, _ = load_weights(weights_file(out))
    parent, _ = load_weights(weights_file(Path(lora_folder.card["parent"]["path"])))
    assert sorted(state) == sorted(parent) and not any("lora" in k for k in state)
    for k, v in lora_folder.fit.trained_state().items():
        if not k.startswith("proj."):
            assert torch.equal(state[k], v), k
    assert all(torch.equal(state[k], parent[k]) for k in parent if not k.startswith((TOP, "proj.")))
    t = lora_folder.card["training"]
    assert t["mode"] == "encoder-lora" and t["unfreeze"] == 1 and t["adapt"] == "lora"
    assert t["blocks"] == {"total": 2, "adapted": ["blocks.0"]} and 0 < t["parameters"]["trainable"] < t["parameters"]["total"]
    assert t["forward_check"]["passed"] and t["seconds_per_epoch"] > 0 and t["head_stage"]["epochs_run"] >= 1
    assert len(lora_folder.card["curves"]["val_uar"]) == t["epochs_run"] + 1  # epoch 0, the start, then each epoch
    assert "adapted: top 1 of 2 blocks (lora)" in lora_folder.render()


def test_lora_folder_loads_without_peft_and_scores_as_trained_in_memory(lora_folder, tmp_path):
    """In a fresh process: --model DIR loads it, peft is never imported, and the scores equal the in-memory network's."""
    clips = _clips(4)
    np.savez(tmp_path / "clips.npz", *clips)
    code = (
        "import json, sys, numpy as np\n"
        "from workbench.model.ref import ModelRef\n"
        f"net = ModelRef.coerce({str(lora_folder.out)!r}, device='cpu').load()\n"
        f"saved = np.load({str(tmp_path / 'clips.npz')!r})\n"
        "preds = net.predict([saved[f'arr_{i}'] for i in range(len(saved.files))])\n"
        "print(json.dumps({'peft': 'peft' in sys.modules, 'labels': list(net.labels), 'logits': [p.logits.tolist() for p in preds]}))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600,
                          env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert done.returncode == 0, done.stderr[-2000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["peft"] is False
    assert got["labels"] == lora_folder.fit.classes
    np.testing.assert_allclose(np.array(got["logits"]), lora_folder.fit.logits(clips), atol=1e-4)


def test_full_folder_from_the_cli_loads_and_the_training_forward_equals_the_inference_path(emodb_run, tmp_path, capsys):
    from workbench.cli import main
    from workbench.model.network import load_model

    out = tmp_path / "emodb-full"
    assert main(["finetune", str(emodb_run.path), "--out", str(out), "--unfreeze", "1", "--adapt", "full", "--encoder-epochs", "1",
                 "--no-evaluation", "--bootstrap", "50", "--json"]) == 0
    card = json.loads(capsys.readouterr().out)
    assert card["training"]["mode"] == "encoder-full" and card["training"]["epochs"] == 1 and card["training"]["lr"] == 5e-5
    net = load_model(str(out), device="cpu")
    assert list(net.labels) == card["labels"]["classes"]
    # the forward the blocks were trained through (encoder.forward) gives the loaded model's own scores
    from workbench.analysis.finetune.encoder import forward

    clips = _clips(3)
    with torch.no_grad():
        mine = forward(net.network, clips)[0][:, : len(net.labels)].numpy()
    np.testing.assert_allclose(np.array([p.logits for p in net.predict(clips)]), mine, atol=1e-4)


def test_cross_validation_repeats_the_whole_unfreeze_procedure_per_fold(emodb_run, tmp_path, monkeypatch):
    """With --unfreeze the folds train head and blocks each time (not the head alone), on every item once as a test item."""
    import workbench.analysis.finetune.core as core
    from workbench.analysis.finetune import EncoderTraining, finetune

    calls = []
    real = core.train_encoder
    monkeypatch.setattr(core, "train_encoder", lambda *a, **kw: calls.append(1) or real(*a, **kw))  # counts, then the real one
    r = finetune(emodb_run.path, tmp_path / "cv", unfreeze=1, adapt="full", encoder=EncoderTraining(epochs=1), k=2, n_boot=50)
    ev = r.card["evaluation"]
    assert ev["procedure"] == "encoder-full" and ev["n_folds"] == 2
    assert ev["finetuned"]["n"] == r.card["data"]["n_items"] == 35
    assert {"probe", "parent_mapped"} <= set(ev)
    assert len(calls) == 1 + 2  # the checkpoint's training, then one per fold
