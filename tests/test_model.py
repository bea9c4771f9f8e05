"""The model path: tiny checkpoint, FunASR loading, batched == per-file FunASR, frame scores."""

from __future__ import annotations

import contextlib
import shutil

import numpy as np
import pytest
import yaml

from conftest import noise, speech_like
from workbench.model import network as model_mod
from workbench.model.checkpoints import RANDOM_MARKER, build_random_checkpoint, emotion2vec_config, ARCHS
from workbench.errors import ModelError
from workbench.labels import LABEL_KEYS, TOKENS
from workbench.model.network import BatchPolicy, load_model, plan_batches, resolve_model

# Tolerance of the batched path against FunASR's own per-file generate():
# probabilities and embeddings agree to 1e-5 absolute (measured: ~3e-8 and ~6e-7).
SCORE_TOL = 1e-5
EMBED_TOL = 1e-5


def _clips():
    """Clips of different lengths (0.5 s to 6 s), some not a whole number of frames."""
    lengths = [8000 + 5, 16000, 16000 * 2 + 7, 16000 * 3 + 123, 16000 * 3, 16000 * 6 + 999]
    return [speech_like(16000, L / 16000, seed=i) + noise(16000, L / 16000, seed=10 + i, amp=0.01)[:L] for i, L in enumerate(lengths)]


def _funasr_one(ref, wave):
    out = ref.generate(wave, granularity="utterance", extract_embedding=True)[0]
    return np.asarray(out["scores"]), np.asarray(out["feats"]), out["labels"]


# ---------------------------------------------------------------------------
# the checkpoint
# ---------------------------------------------------------------------------
def test_tiny_checkpoint_has_the_real_format(tiny_model):
    path = tiny_model.info.path
    cfg = yaml.safe_load(open(f"{path}/config.yaml", encoding="utf-8"))
    assert cfg["model"] == "Emotion2vec"
    assert cfg["tokenizer"] == "CharTokenizer"
    assert cfg["model_conf"]["modalities"]["audio"]["feature_encoder_spec"].startswith("[(32, 10, 5)]")
    tokens = open(f"{path}/tokens.txt", encoding="utf-8").read().split()
    assert tokens == ["生气/angry", "厌恶/disgusted", "恐惧/fearful", "开心/happy", "中立/neutral", "其他/other", "难过/sad", "吃惊/surprised", "<unk>"]
    assert list(TOKENS) == tokens
    import os

    assert os.path.getsize(f"{path}/model.pt") < 400_000


def test_same_seed_same_weights_other_seed_other_weights(tmp_path):
    import torch

    a = build_random_checkpoint(tmp_path / "a", seed=3)
    b = build_random_checkpoint(tmp_path / "b", seed=3)
    c = build_random_checkpoint(tmp_path / "c", seed=4)
    sa, sb, sc = (torch.load(p / "model.pt", weights_only=True)["model"] for p in (a, b, c))
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_large_config_has_about_300M_parameters_without_building_it():
    # counting is cheap: the benchmark builds the real thing
    d = ARCHS["large"]
    blocks = (d.depth + d.prenet_depth) * (12 * d.embed_dim**2 + 13 * d.embed_dim)
    assert 290e6 < blocks < 320e6
    assert emotion2vec_config(d)["model_conf"]["embed_dim"] == 1024


# ---------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------
def test_tiny_loads_through_funasr_and_is_flagged(tiny_model):
    info = tiny_model.info
    assert info.kind == "random" and info.random_weights
    assert "mean nothing" in info.warning
    assert info.parameters > 10_000 and len(info.checksum) == 64
    assert info.device == "cpu" and info.labels == list(LABEL_KEYS)
    assert type(tiny_model.automodel).__name__ == "AutoModel"


pytestmark = pytest.mark.usefixtures("own_model_cache")  # tests here forget loaded models (clear_cache)


def test_model_is_loaded_once_per_process(tiny_model):
    assert load_model("tiny", device="cpu") is tiny_model


def test_a_weights_file_rewritten_in_place_after_the_load_does_not_change_the_loaded_network(tiny_model, tmp_path):
    """``torch.save`` over the same ``model.pt`` (a training script saving its best epoch) truncates and rewrites the
    file's bytes in place: a network whose tensors were mapped from the file read the new bytes (NaN scores here,
    under the old checksum).  The loaded network keeps the weights it loaded."""
    import torch

    folder = _copy_checkpoint(tiny_model, tmp_path / "ck")
    net = load_model(str(folder), device="cpu", dtype="float32")
    wave = (0.1 * np.sin(np.arange(32000) / 10)).astype(np.float32)
    before = net.predict([(wave, 16000)])[0].scores
    state = torch.load(folder / "model.pt", weights_only=True)
    state["model"] = {k: v * 0.5 for k, v in state["model"].items()}
    torch.save(state, folder / "model.pt")  # the same file, rewritten
    after = net.predict([(wave, 16000)])[0].scores
    np.testing.assert_array_equal(after, before)


def test_a_checkpoint_folder_saved_again_after_its_load_is_loaded_again_and_said_once(tiny_model, tmp_path, caplog):
    """A fine-tuned head saved again in a notebook was served from the process's model cache, its old weights scoring
    every clip, until ``clear_cache()``: the cache now asks the folder's files (a stat each) on every load."""
    import torch

    folder = _copy_checkpoint(tiny_model, tmp_path / "head")
    first = load_model(str(folder), device="cpu", dtype="float32")
    assert load_model(str(folder), device="cpu", dtype="float32") is first  # unchanged: the cached network
    wave = (0.1 * np.sin(np.arange(32000) / 10)).astype(np.float32)
    before = first.predict([(wave, 16000)])[0].scores
    state = torch.load(folder / "model.pt", weights_only=True)
    state["model"] = {k: v * 0.5 for k, v in state["model"].items()}
    torch.save(state, folder / "model.pt")
    with caplog.at_level("WARNING", logger="workbench.model.network"):
        second = load_model(str(folder), device="cpu", dtype="float32")
        assert load_model(str(folder), device="cpu", dtype="float32") is second
    assert second is not first and second.info.checksum != first.info.checksum
    assert not np.allclose(second.predict([(wave, 16000)])[0].scores, before)
    said = [r.getMessage() for r in caplog.records if "changed since it was loaded" in r.getMessage()]
    assert said == [f"reloaded {folder.resolve()}: its files changed since it was loaded"]


def test_local_directory_without_weights_is_refused(tmp_path):
    d = build_random_checkpoint(tmp_path / "ck")
    (d / "model.pt").unlink()
    with pytest.raises(ModelError, match="model.pt missing"):
        resolve_model(str(d))


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path):
    # FunASR itself would load this with ignore_init_mismatch and keep random values
    d = build_random_checkpoint(tmp_path / "ck", seed=1)
    cfg = yaml.safe_load(open(d / "config.yaml"))
    cfg["model_conf"]["embed_dim"] = 48  # weights were made for 32
    (d / "config.yaml").write_text(yaml.safe_dump(cfg))
    (d / RANDOM_MARKER).unlink()
    with pytest.raises(ModelError, match="weights do not fit"):
        load_model(str(d), device="cpu")


def test_hub_id_offline_fails_fast_with_the_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path))
    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")
    with pytest.raises(ModelError) as e:
        load_model("iic/emotion2vec_plus_base", device="cpu")
    assert "not in the local ModelScope cache" in str(e.value)
    assert "--model tiny" in str(e.value)


def test_a_hugging_face_hub_id_offline_names_the_repository_there(monkeypatch, tmp_path):
    # `--model large --hub hf` said "iic/emotion2vec_plus_large: is not in the local Hugging Face cache", a repository
    # Hugging Face does not have: the one to download there is emotion2vec/emotion2vec_plus_large
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")
    with pytest.raises(ModelError) as e:
        load_model("large", hub="hf", device="cpu")
    assert str(e.value).startswith("emotion2vec/emotion2vec_plus_large: is not in the local Hugging Face cache"), str(e.value)


def test_hub_id_found_in_the_local_cache_loads_without_network(monkeypatch, tmp_path):
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path))
    build_random_checkpoint(tmp_path / "models" / "iic" / "emotion2vec_plus_seed", seed=2)
    net = load_model("seed", device="cpu")  # alias → iic/emotion2vec_plus_seed
    assert net.info.path.endswith("emotion2vec_plus_seed")


def test_aliases_and_unknown_hub():
    assert resolve_model("large").model == "iic/emotion2vec_plus_large"
    assert resolve_model(None).model == model_mod.DEFAULT_MODEL
    with pytest.raises(ModelError, match="unknown hub"):
        resolve_model("large", hub="github")
    with pytest.raises(ModelError, match="no such checkpoint directory"):
        resolve_model("./not/a/dir")


# ---------------------------------------------------------------------------
# batched prediction == FunASR generate(), one file at a time
# ---------------------------------------------------------------------------
def test_batched_equals_funasr_generate_per_file(tiny_model, funasr_reference):
    clips = _clips()
    preds = tiny_model.predict(clips, policy=BatchPolicy(max_batch_size=8, max_pad_fraction=1.0))
    worst_score = worst_embed = 0.0
    for wave, pred in zip(clips, preds):
        scores, feats, labels = _funasr_one(funasr_reference, wave)
        assert [lb.split("/")[-1].replace("<unk>", "unknown") for lb in labels] == list(LABEL_KEYS)
        assert pred.label == LABEL_KEYS[int(np.argmax(scores))]
        worst_score = max(worst_score, float(np.abs(pred.scores - scores).max()))
        worst_embed = max(worst_embed, float(np.abs(pred.embedding - feats).max()))
    assert worst_score <= SCORE_TOL, worst_score
    assert worst_embed <= EMBED_TOL, worst_embed


def test_padding_does_not_leak_into_a_short_clip(tiny_model):
    short, long = speech_like(16000, 1.0, seed=1), speech_like(16000, 8.0, seed=2)
    alone = tiny_model.predict([short])[0]
    together = tiny_model.predict([short, long], policy=BatchPolicy(max_pad_fraction=1.0))[0]
    np.testing.assert_allclose(together.scores, alone.scores, atol=SCORE_TOL)
    np.testing.assert_allclose(together.embedding, alone.embedding, atol=EMBED_TOL)


def test_the_equivalence_check_catches_leaking_padding(tiny_model, monkeypatch):
    """Control: without the masked positional encoder the same check fails."""
    short, long = speech_like(16000, 1.0, seed=1), speech_like(16000, 8.0, seed=2)
    alone = tiny_model.predict([short])[0]
    monkeypatch.setattr(model_mod, "masked_positional_encoder", lambda net, frames: contextlib.nullcontext())
    leaky = tiny_model.predict([short, long], policy=BatchPolicy(max_pad_fraction=1.0))[0]
    assert np.abs(leaky.embedding - alone.embedding).max() > 100 * EMBED_TOL


def test_frame_scores_relate_to_the_utterance_scores(tiny_model):
    clip = speech_like(16000, 3.0, seed=7)
    pred = tiny_model.predict([clip], granularity="frame", embeddings=True)[0]
    # 16000 samples/s through a conv stack of total stride 320 → 50 frames/s
    assert pred.n_frames == 149 and pred.frame_logits.shape == (149, 9)
    assert pred.frame_embeddings.shape == (149, tiny_model.info.embed_dim)
    np.testing.assert_allclose(pred.frame_scores.sum(axis=1), 1.0, atol=1e-9)
    # the head is affine: the mean of the frame logits is the utterance logit vector
    mean_logits = pred.frame_logits.mean(axis=0)
    np.testing.assert_allclose(np.exp(mean_logits - mean_logits.max()) / np.exp(mean_logits - mean_logits.max()).sum(), pred.scores, atol=1e-6)
    np.testing.assert_allclose(pred.frame_embeddings.mean(axis=0), pred.embedding, atol=1e-5)
    assert pred.frame_times[1] == pytest.approx(0.02)


def test_prediction_summary_numbers(tiny_model):
    pred = tiny_model.predict([speech_like(16000, 1.5)])[0]
    s = np.sort(pred.scores)
    assert pred.confidence == pytest.approx(s[-1]) and pred.margin == pytest.approx(s[-1] - s[-2])
    assert 0 < pred.entropy <= np.log2(9) + 1e-9
    assert pred.random_weights
    d = pred.to_dict()
    assert set(d["scores"]) == set(LABEL_KEYS) and d["emotion"] == pred.label


def test_wrong_rate_and_too_short_clips_are_refused(tiny_model):
    with pytest.raises(ModelError, match="8000 Hz"):
        tiny_model.predict([(speech_like(8000, 1.0), 8000)])
    with pytest.raises(ModelError, match="at least 400"):
        tiny_model.predict([np.zeros(300, np.float32)])


def test_plan_batches_covers_every_item_once_within_limits():
    rng = np.random.default_rng(0)
    lengths = list(rng.integers(8000, 16000 * 10, size=57))
    policy = BatchPolicy(max_batch_size=6, max_batch_seconds=30, max_pad_fraction=0.25)
    batches = plan_batches(lengths, policy)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(57))
    for b in batches:
        longest = max(lengths[i] for i in b)
        assert lengths[b[0]] == longest
        assert len(b) <= 6
        if len(b) > 1:
            assert len(b) * longest <= 30 * 16000
            assert 1 - sum(lengths[i] for i in b) / (len(b) * longest) <= 0.25 + 1e-9


# ---------------------------------------------------------------------------
# loading: fast path == FunASR's own loading, safe weights, checksum memo, layout
# ---------------------------------------------------------------------------
def _copy_checkpoint(tiny_model, dst):
    shutil.copytree(tiny_model.info.path, dst)
    return dst


def test_fast_load_gives_bitwise_the_weights_and_predictions_of_funasrs_own_loading(tiny_model, funasr_reference, monkeypatch):
    import torch

    # FunASR's own AutoModel (random init, then its loader) built the reference
    ref_state, fast_state = funasr_reference.model.state_dict(), tiny_model.network.state_dict()
    assert list(fast_state) == list(ref_state)
    assert all(torch.equal(fast_state[k], ref_state[k]) and fast_state[k].dtype == ref_state[k].dtype for k in ref_state)
    # the slow path the benchmark compares against gives the same network too
    monkeypatch.setenv("WORKBENCH_SLOW_LOAD", "1")
    slow = model_mod._load(resolve_model(tiny_model.info.path), "cpu", "float32", lambda line: None)
    slow_state = slow.network.state_dict()
    assert all(torch.equal(fast_state[k], slow_state[k]) for k in slow_state)
    assert slow.info.checksum == tiny_model.info.checksum
    clips = _clips()
    for a, b in zip(tiny_model.predict(clips), slow.predict(clips)):
        assert np.array_equal(a.scores, b.scores) and np.array_equal(a.embedding, b.embedding)


def test_load_reports_its_steps(tiny_model, tmp_path):
    d = _copy_checkpoint(tiny_model, tmp_path / "ck")
    lines = []
    m = load_model(str(d), device="cpu", progress=lines.append)
    assert [line.split(" (")[0] for line in lines] == ["importing FunASR", "building network", "loading weights", "verifying checksum"]
    assert lines[2].endswith("kB)")
    assert load_model(str(d), device="cpu", progress=lines.append) is m and len(lines) == 4  # loaded once: no new lines
    model_mod.clear_cache()


class _RunsCode:
    """Unpickling this object creates a marker file: what a malicious model.pt would do."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _malicious_checkpoint(tiny_model, tmp_path):
    import torch

    d = _copy_checkpoint(tiny_model, tmp_path / "evil")
    state = torch.load(d / "model.pt", weights_only=True)
    state["extra"] = _RunsCode(tmp_path / "marker")
    torch.save(state, d / "model.pt")
    return d, tmp_path / "marker"


def test_a_checkpoint_whose_pickle_runs_code_is_refused(tiny_model, tmp_path):
    d, marker = _malicious_checkpoint(tiny_model, tmp_path)
    with pytest.raises(ModelError) as e:
        load_model(str(d), device="cpu")
    assert "contains pickled objects beyond tensors" in str(e.value) and "model.pt" in str(e.value)
    assert "safetensors" in e.value.fix
    assert not marker.exists()


def test_a_checkpoint_whose_pickle_runs_code_is_refused_even_when_torch_is_told_to_unpickle(tiny_model, tmp_path):
    import os
    import subprocess
    import sys

    d, marker = _malicious_checkpoint(tiny_model, tmp_path)
    env = {**os.environ, "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD": "1"}
    code = (
        "import sys\nfrom workbench.errors import ModelError\nfrom workbench.model.network import load_model\n"
        f"try:\n    load_model({str(d)!r}, device='cpu')\nexcept ModelError as e:\n    print('REFUSED', e)\n    sys.exit(0)\nsys.exit(3)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "contains pickled objects beyond tensors" in out.stdout
    assert not marker.exists()


def test_the_slow_path_for_benchmarks_refuses_it_too(tiny_model, tmp_path, monkeypatch):
    # FunASR's own loader runs on this path: the workbench's safe read must come first
    d, marker = _malicious_checkpoint(tiny_model, tmp_path)
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    monkeypatch.setenv("WORKBENCH_SLOW_LOAD", "1")
    with pytest.raises(ModelError, match="contains pickled objects beyond tensors"):
        load_model(str(d), device="cpu")
    assert not marker.exists()


def test_safetensors_weights_are_preferred_and_give_the_same_model(tiny_model, tmp_path):
    import torch
    from safetensors.torch import save_file

    d = _copy_checkpoint(tiny_model, tmp_path / "st")
    state = torch.load(d / "model.pt", weights_only=True)["model"]
    save_file(state, str(d / "model.safetensors"))
    (d / "model.pt").unlink()
    m = load_model(str(d), device="cpu")
    own = tiny_model.network.state_dict()
    assert all(torch.equal(v, own[k]) for k, v in m.network.state_dict().items())
    clip = speech_like(16000, 2.0, seed=4)
    # same weights; the kernels may round differently for memory at another alignment
    np.testing.assert_allclose(m.predict([clip])[0].scores, tiny_model.predict([clip])[0].scores, atol=1e-6)
    assert m.info.checksum != tiny_model.info.checksum  # the checksum names the file that was read
    model_mod.clear_cache()


def test_checksum_is_remembered_by_path_size_and_mtime(tmp_path):
    import hashlib
    import json
    import os

    from workbench.model.checkpoints import checksum_memo_path, file_sha256

    f = tmp_path / "w.bin"
    f.write_bytes(b"a" * 1000)
    real = hashlib.sha256(b"a" * 1000).hexdigest()
    assert file_sha256(f) == real
    memo = json.loads(checksum_memo_path().read_text())
    entry = memo[str(f.resolve())]
    assert entry["sha256"] == real and entry["size"] == 1000
    # proof that the memo is read: a planted digest for the same (size, mtime) comes back
    memo[str(f.resolve())]["sha256"] = "0" * 64
    checksum_memo_path().write_text(json.dumps(memo))
    assert file_sha256(f) == "0" * 64
    # the same size rewritten later is hashed again
    f.write_bytes(b"b" * 1000)
    os.utime(f, ns=(entry["mtime_ns"] + 10**9, entry["mtime_ns"] + 10**9))
    assert file_sha256(f) == hashlib.sha256(b"b" * 1000).hexdigest()
    assert file_sha256(f, remember=False) == hashlib.sha256(b"b" * 1000).hexdigest()


def test_checksum_memo_forgets_files_that_no_longer_exist_when_it_is_written(tmp_path):
    import json

    from workbench.model.checkpoints import checksum_memo_path, file_sha256

    export = tmp_path / "export.tmp"
    export.mkdir()
    (export / "w.bin").write_bytes(b"a" * 100)
    file_sha256(export / "w.bin")
    gone = str((export / "w.bin").resolve())
    assert gone in json.loads(checksum_memo_path().read_text())
    export.rename(tmp_path / "export")  # a temporary export folder renamed into place
    kept = tmp_path / "kept.bin"
    kept.write_bytes(b"k" * 100)
    file_sha256(kept)
    memo = json.loads(checksum_memo_path().read_text())
    assert gone not in memo and str(kept.resolve()) in memo
    file_sha256(tmp_path / "export" / "w.bin")
    assert str((tmp_path / "export" / "w.bin").resolve()) in json.loads(checksum_memo_path().read_text())


def test_checkpoint_code_and_patches_do_not_import_the_model_module():
    import subprocess
    import sys

    code = (
        "import sys, workbench.model.checkpoints, workbench.model.funasr_patches, workbench.model.building\n"
        "assert 'workbench.model.network' not in sys.modules, 'checkpoint/building code imports workbench.model.network'\n"
        "import workbench.model.network as m\n"
        "assert m.resolve_model is workbench.model.checkpoints.resolve_model and m._Resolved is workbench.model.checkpoints._Resolved\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr


def test_funasr_imported_in_part_still_imports_whole_afterwards(tiny_model):
    """The workbench imports only what emotion2vec needs; a later `import funasr` must give all of FunASR."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom workbench.model.network import load_model\n"
        f"m = load_model({tiny_model.info.path!r}, device='cpu')\n"
        "import funasr\nfrom funasr.register import tables\n"
        "assert 'Paraformer' in tables.model_classes and 'Emotion2vec' in tables.model_classes\n"
        "assert funasr.AutoModel is type(m.automodel) and funasr.__version__\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]


# ---------------------------------------------------------------------------
# bfloat16: the conv front end without float32 round trips
# ---------------------------------------------------------------------------
def test_bf16_front_end_skips_float32_round_trips_and_agrees_with_float32(tiny_model, monkeypatch):
    from funasr.models.emotion2vec.fairseq_modules import Fp32LayerNorm

    calls = []
    original = Fp32LayerNorm.forward
    monkeypatch.setattr(Fp32LayerNorm, "forward", lambda self, x: calls.append(x.dtype) or original(self, x))
    bf16 = load_model("tiny", device="cpu", dtype="bfloat16")  # CPU autocast: the same code path as on a GPU
    rng = np.random.default_rng(3)
    clips = [speech_like(16000, float(d), seed=i) + noise(16000, float(d), seed=50 + i, amp=0.01) for i, d in enumerate(rng.uniform(0.6, 3.0, size=40))]
    monkeypatch.setattr(tiny_model, "low_precision_front_end", False)  # FunASR's own float32 front end, as reference
    ref = tiny_model.predict(clips)
    assert len(calls) > 0  # control: FunASR's front end runs its Fp32LayerNorm, and the spy sees it
    monkeypatch.setattr(tiny_model, "low_precision_front_end", True)
    calls.clear()
    assert [a.label for a in tiny_model.predict(clips[:8])] == [a.label for a in ref[:8]] and calls == []  # float32, time-major
    low = bf16.predict(clips)
    assert calls == []  # bfloat16: every front-end layer norm ran in bfloat16, none through a float32 copy
    agree = np.mean([a.label == b.label for a, b in zip(ref, low)])
    cos = min(float(a.embedding @ b.embedding / np.linalg.norm(a.embedding) / np.linalg.norm(b.embedding)) for a, b in zip(ref, low))
    assert agree >= 0.995 and cos >= 0.999, (agree, cos)


def test_the_channels_last_front_end_computes_funasrs_front_end(tiny_model):
    """The CPU bfloat16 front end (time-major, no transposes) is FunASR's: in float32 it gives FunASR's own output to
    rounding, batched clips of unequal length included, and on a wrong stride, axis or norm it would not."""
    import torch

    from workbench.model.funasr_patches import _layer_norm_blocks, channels_last_front_end

    encoder = tiny_model.network.modality_encoders["AUDIO"].local_encoder
    blocks = _layer_norm_blocks(encoder)
    assert blocks is not None and len(blocks) == len(encoder.conv_layers)  # the layout it rewrites is FunASR's
    waves = torch.from_numpy(np.stack([speech_like(16000, 1.7, seed=s) for s in (1, 2)])).float()
    waves[1, 16000:] = 0  # a shorter clip, zero-padded as in a batch
    with torch.inference_mode():
        ref = encoder(waves)
        out = channels_last_front_end(blocks, waves)
    assert out.shape == ref.shape and out.dtype == ref.dtype
    assert torch.allclose(out, ref, atol=1e-5, rtol=1e-4), float((out - ref).abs().max())
    assert _layer_norm_blocks(tiny_model.network) is None  # anything else keeps FunASR's own forward


def test_the_time_major_positional_encoder_computes_funasrs(tiny_model):
    """The relative positional encoder run time-major (grouped convs on a channels-last view, no transposes) gives
    FunASR's own output in float32 (with a padded batch's frames zeroed before each conv too, as the masked encoder
    does) and the same dtype under bfloat16 autocast; a block built otherwise (a SamePad that trims, as for an even
    kernel) keeps FunASR's forward."""
    import copy

    import torch

    from workbench.model.funasr_patches import _positional_blocks, run_masked, time_major_positional_encoder

    pos = tiny_model.network.modality_encoders["AUDIO"].relative_positional_encoder
    blocks = _positional_blocks(pos)
    assert blocks is not None and len(blocks) == len(pos) - 2
    x = torch.randn(3, 97, blocks[0][0].in_channels, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        ref, out = pos(x), time_major_positional_encoder(blocks, x)
        assert out.shape == ref.shape and out.dtype == ref.dtype
        assert torch.allclose(out, ref, atol=1e-5, rtol=1e-4), float((out - ref).abs().max())
        assert not torch.allclose(out[:, :-1], ref[:, 1:], atol=1e-3)  # a shift by one frame would show
        valid = (torch.arange(97)[None, :] < torch.tensor([97, 60, 31])[:, None]).float()  # a padded batch
        masked_ref, masked = run_masked(pos, x, valid), time_major_positional_encoder(blocks, x, valid=valid)
        assert torch.allclose(masked, masked_ref, atol=1e-5, rtol=1e-4), float((masked - masked_ref).abs().max())
        assert not torch.allclose(masked[1, :60], ref[1, :60], atol=1e-3)  # the padding, zeroed, changes the frames near it
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low_ref, low = pos(x), time_major_positional_encoder(blocks, x)
        assert low.dtype == low_ref.dtype
        assert torch.allclose(low.float(), low_ref.float(), atol=0.1), float((low.float() - low_ref.float()).abs().max())
    other = copy.deepcopy(pos)
    other[1][1].remove = 1
    assert _positional_blocks(other) is None and _positional_blocks(tiny_model.network) is None


def test_cpu_bfloat16_runs_fused_attention_and_batches_like_single_clips():
    """In bfloat16 on a CPU the attention is the fused kernel (padding and ALiBi as one mask): a batch of clips of
    unequal lengths scores each clip as it scores alone, and float32 keeps FunASR's exact attention."""
    bf16 = load_model("tiny", device="cpu", dtype="bfloat16")
    assert bf16.attention == "fused" and load_model("tiny", device="cpu").attention == "funasr"
    assert load_model("tiny", device="cpu", dtype="int8").attention == "fused"  # int8 is not exact: the faster kernel
    clips = [speech_like(16000, d, seed=60 + i) for i, d in enumerate((0.9, 2.6, 1.8, 3.1))]
    batched = bf16.predict(clips, granularity="frame", policy=BatchPolicy(max_batch_size=4, max_pad_fraction=1.0))
    for clip, b in zip(clips, batched):
        alone = bf16.predict([clip], granularity="frame")[0]
        assert b.n_frames == alone.n_frames and b.label == alone.label
        assert np.abs(b.scores - alone.scores).max() < 2e-3
        cos = float(b.embedding @ alone.embedding / np.linalg.norm(b.embedding) / np.linalg.norm(alone.embedding))
        assert cos > 0.999, cos


def test_the_known_tiny_checksum_is_what_the_package_builds(monkeypatch):
    """The shipped table spares every process a rebuild of tiny; it must be what the builder makes (else it refuses tiny)."""
    from workbench.model import generated as C

    versions = C._installed_versions()
    known = C._KNOWN_TINY.get((*versions, 0))
    if known is None:
        pytest.skip(f"no shipped checksum for torch/funasr {versions}")
    monkeypatch.setattr(C, "_KNOWN_TINY", {})
    monkeypatch.setattr(C, "_EXPECTED", {})
    assert C._expected_random_sha256("tiny", 0) == known


def test_the_config_template_gives_each_architecture_its_sizes():
    """The published config is data (emotion2vec_config.json); only the sizes of each architecture are set from ArchSpec."""
    from workbench.model.generated import ARCHS, CONFIG_TEMPLATE, emotion2vec_config

    assert CONFIG_TEMPLATE.is_file()
    large, tiny = emotion2vec_config(ARCHS["large"]), emotion2vec_config(ARCHS["tiny"])
    conf, audio = large["model_conf"], large["model_conf"]["modalities"]["audio"]
    assert (conf["depth"], conf["embed_dim"], conf["num_heads"], audio["prenet_depth"]) == (16, 1024, 16, 8)
    assert audio["feature_encoder_spec"].startswith("[(512, 10, 5)]") and conf["norm_eps"] == 1e-05
    assert (tiny["model_conf"]["embed_dim"], tiny["model_conf"]["modalities"]["audio"]["decoder"]["decoder_dim"]) == (32, 16)
    assert tiny["tokenizer"] == "CharTokenizer" and tiny["model"] == "Emotion2vec"
    tiny["model_conf"]["depth"] = 99  # each call is a fresh copy: the template is never changed in place
    assert emotion2vec_config(ARCHS["tiny"])["model_conf"]["depth"] == 1


def test_float32_on_cuda_turns_tf32_off_and_says_so_and_leaves_other_precisions_alone(tiny_model):
    """`--dtype float32` is promised exact and shares the CPU's `float32` cache key, but on a CUDA device PyTorch ran
    cuDNN convolutions (the feature extractor) in TF32, and matmuls too where the process allowed it.  The policy the
    loader applies turns both off for float32 on CUDA and returns what the model's info (and a run's summary) records;
    the CPU and the low precisions are left as they are.  (The policy's switches exist in a CPU-only torch.)"""
    import torch

    from workbench.model.building import EXACT_FLOAT32, exact_float32

    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    try:
        for device, dtype in (("cpu", "float32"), ("cuda", "bfloat16"), ("cuda:0", "float16")):
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
            assert exact_float32(device, dtype) is None
            assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32, (device, dtype)
        for device in ("cuda", "cuda:1"):
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
            assert exact_float32(device, "float32") == EXACT_FLOAT32 and "TF32 off" in EXACT_FLOAT32
            assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
            assert torch.get_float32_matmul_precision() == "highest"
            assert torch.backends.cuda.matmul.fp32_precision == "ieee"  # torch 2.9's reading of it agrees
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before
    # recorded with every model; a CPU float32 records only the oneDNN route of its Linear layers, where this CPU takes it
    from workbench.model.precision import cpu_vendor
    from workbench.model.prepack import float32_linear_route

    assert tiny_model.info.to_dict()["float32_math"] == float32_linear_route(cpu_vendor())


def test_the_float32_sibling_of_a_model_loaded_again_is_built_from_the_files_it_was_loaded_from(tiny_model, tmp_path):
    """Integrated gradients of a bfloat16 model differentiate a float32 copy (float32_sibling): after the folder was
    saved again the bfloat16 model was loaded again, but the float32 copy built (or cached) before was served, the
    gradients taken on the old weights.  A folder changed after the model's own load has no copy to build: refused."""
    import torch

    from workbench.errors import ModelError
    from workbench.model.network import clear_cache, float32_sibling

    folder = _copy_checkpoint(tiny_model, tmp_path / "head")
    cached32 = load_model(str(folder), device="cpu", dtype="float32")  # in the cache: the sibling it gave
    low = load_model(str(folder), device="cpu", dtype="bfloat16")
    assert float32_sibling(low) is cached32
    state = torch.load(folder / "model.pt", weights_only=True)
    state["model"] = {k: v * 0.5 for k, v in state["model"].items()}
    torch.save(state, folder / "model.pt")
    again = load_model(str(folder), device="cpu", dtype="bfloat16")
    sibling = float32_sibling(again)
    assert sibling is not cached32 and sibling.info.checksum == again.info.checksum != cached32.info.checksum
    assert float32_sibling(again) is sibling
    assert float32_sibling(low) is cached32  # loaded from the same files as `low`: still its sibling
    torch.save(state, folder / "model.pt")  # saved once more, after `again` was loaded
    clear_cache(dtype="float32")  # neither the cached float32 network nor the sibling built for `again` is kept
    with pytest.raises(ModelError, match="changed since this model was loaded"):
        float32_sibling(again)


def test_a_checkpoint_folder_gone_after_its_load_is_refused_by_name(tiny_model, tmp_path):
    """The folder resolved and loaded, then moved away: the cache's stamp of it was () and the load that followed took
    its path for a hub id (network retries) and ended in 'FunASR could not load the checkpoint: ModuleNotFoundError'."""
    import shutil

    from workbench.errors import ModelError
    from workbench.model.network import cached_network

    folder = _copy_checkpoint(tiny_model, tmp_path / "gone")
    spec = resolve_model(str(folder))
    cached_network(spec, "cpu", "float32")
    shutil.move(folder, tmp_path / "elsewhere")
    with pytest.raises(ModelError, match="checkpoint folder cannot be listed") as err:
        cached_network(spec, "cpu", "float32")
    assert err.value.source == str(folder.resolve()) and "restore the folder" in err.value.fix
