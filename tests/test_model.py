"""The model path: tiny checkpoint, FunASR loading, batched == per-file FunASR, frame scores."""

from __future__ import annotations

import contextlib
import shutil

import numpy as np
import pytest
import yaml

from conftest import noise, speech_like
from workbench import model as model_mod
from workbench.checkpoints import RANDOM_MARKER, build_random_checkpoint, emotion2vec_config, ARCHS
from workbench.errors import ModelError
from workbench.labels import LABEL_KEYS, TOKENS
from workbench.model import BatchPolicy, load_model, plan_batches, resolve_model

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
    sa, sb, sc = (torch.load(p / "model.pt")["model"] for p in (a, b, c))
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


def test_model_is_loaded_once_per_process(tiny_model):
    assert load_model("tiny", device="cpu") is tiny_model


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


def test_hub_id_found_in_the_local_cache_loads_without_network(monkeypatch, tmp_path):
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path))
    build_random_checkpoint(tmp_path / "models" / "iic" / "emotion2vec_plus_seed", seed=2)
    net = load_model("seed", device="cpu")  # alias → iic/emotion2vec_plus_seed
    assert net.info.path.endswith("emotion2vec_plus_seed")
    model_mod.clear_cache()


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
