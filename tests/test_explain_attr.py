"""Attribution (Captum) on the real network, its faithfulness measures, and `workbench explain`.

Fast tests use the tiny random checkpoint and oracles: the model's own
``predict`` (the differentiable wrapper must give the same scores), Captum's
completeness property of Integrated Gradients, curves whose end points are
known scores, and planted relevance maps whose overlap is known.  The
planted-cue tests (slow) are in ``test_explain_cue.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from workbench.errors import ConfigError
from workbench.explain.attribution import (
    FRAME_SAMPLES,
    ClassScore,
    attribute,
    integrated_gradients,
    pool_frames,
    tf_occlusion,
    time_occlusion,
)
from workbench.explain.explanation import explain_clip, top_evidence_span
from workbench.explain.faithfulness import cue_overlap, curves, randomised_networks
from workbench.explain.figure import plain
from workbench.labels import LABEL_KEYS

from conftest import REPO


def _clip(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * 16000)
    t = np.arange(n) / 16000
    y = 0.05 * rng.standard_normal(n)
    y[4000:8800] += 0.3 * np.sin(2 * np.pi * 1000 * t[:4800])
    return y.astype(np.float32)


@pytest.fixture(scope="module")
def scorer(tiny_model):
    import torch

    torch.set_num_threads(1)
    return ClassScore(tiny_model)


def test_class_score_is_the_models_prediction(tiny_model, scorer):
    """The differentiable wrapper (raw wave in, own layer norm) gives predict()'s scores."""
    y = _clip(1.3, seed=3)
    pred = tiny_model.predict([y])[0]
    np.testing.assert_allclose(np.exp(scorer.log_probs(y[None])[0]), pred.scores, atol=1e-5)
    # frame logits on the same frames as predict(granularity="frame")
    fpred = tiny_model.predict([y], granularity="frame")[0]
    np.testing.assert_allclose(scorer.frame_logits(y), fpred.frame_logits, atol=1e-4)


def test_ig_is_complete(scorer):
    """Integrated Gradients: the frame relevances sum to f(x) - f(baseline) within 5 % of it, no absolute slack."""
    y = _clip()
    a = integrated_gradients(scorer, y, "happy")
    assert a.frame_relevance.shape == (len(y) // FRAME_SAMPLES,)
    rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
    base = (np.random.default_rng(0).standard_normal(len(y)) * rms).astype(np.float32)
    k = LABEL_KEYS.index("happy")
    gap = float(scorer.log_probs(y[None])[0, k] - scorer.log_probs(base[None])[0, k])
    c = a.checks["completeness"]
    assert c["gap"] == pytest.approx(gap, abs=1e-5)
    assert abs(a.frame_relevance.sum() - gap) <= 0.05 * abs(gap)
    assert c["passed"] and abs(a.convergence_delta) <= 0.05 * abs(gap)


def test_occlusion_matches_a_manual_window(scorer):
    """A frame's occlusion relevance is the mean drop over the windows covering it, each a real forward pass."""
    y = _clip()
    a = time_occlusion(scorer, y, "angry", window_s=0.2, stride_s=0.2)  # non-overlapping: one window per frame
    k = LABEL_KEYS.index("angry")
    z = y.copy()
    z[3200:6400] = 0.0  # second window, frames 10..19
    drop = scorer.log_probs(y[None])[0, k] - scorer.log_probs(z[None])[0, k]
    np.testing.assert_allclose(a.frame_relevance[10:20], drop, rtol=1e-3, atol=1e-5)


def test_tf_occlusion_cells_match_a_manual_stft_ablation(scorer):
    """A time-frequency cell's value is the drop when exactly that band × window of the STFT is zeroed and inverted,
    computed here with numpy's FFT from the window alone (not torch's STFT): the gates Captum ablates are the cells."""
    import torch

    from workbench.explain.attribution import STFT_HOP, STFT_N_FFT

    y = _clip(1.0, seed=4)
    edges = (0.0, 1000.0, 4000.0, 8000.0)
    a = tf_occlusion(scorer, y, "sad", window_s=0.2, band_edges_hz=edges)
    assert a.tf_map.shape == (3, -(-(len(y) // STFT_HOP + 1) // 20))
    k = LABEL_KEYS.index("sad")
    spec = torch.stft(torch.as_tensor(y), STFT_N_FFT, STFT_HOP, window=torch.hann_window(STFT_N_FFT), return_complex=True).numpy()
    freqs = np.fft.rfftfreq(STFT_N_FFT, 1 / 16000)
    for band, win in ((1, 2), (0, 0), (2, 4)):
        z = spec.copy()
        rows = (freqs >= edges[band]) & (freqs < edges[band + 1]) if band < 2 else freqs >= edges[band]
        z[np.ix_(rows, np.arange(z.shape[1]) // 20 == win)] = 0
        ablated = torch.istft(torch.as_tensor(z), STFT_N_FFT, STFT_HOP, window=torch.hann_window(STFT_N_FFT), length=len(y)).numpy()
        drop = scorer.log_probs(y[None])[0, k] - scorer.log_probs(ablated[None].astype(np.float32))[0, k]
        assert a.tf_map[band, win] == pytest.approx(drop, abs=2e-5)


def test_channels_last_scores_and_gradients_equal_funasrs_layout(tiny_model):
    """The time-major conv front end ClassScore runs on a CPU computes what FunASR's (B, C, T) layout does: the same
    log-probabilities and input gradients (another summation order: float32 rounding apart)."""
    import torch

    fast, funasr = ClassScore(tiny_model, forward=None), ClassScore(tiny_model, forward=None)
    funasr.time_major_front_end = False
    assert fast.time_major_front_end
    x = torch.as_tensor(np.stack([_clip(1.0, seed=s) for s in (5, 6)]))
    out = {}
    for name, sc in (("fast", fast), ("funasr", funasr)):
        xx = x.clone().requires_grad_(True)
        lp = sc(xx)
        lp[:, 2].sum().backward()
        out[name] = (lp.detach().numpy(), xx.grad.numpy())
    np.testing.assert_allclose(out["fast"][0], out["funasr"][0], atol=1e-5)
    g, h = out["fast"][1], out["funasr"][1]
    assert np.linalg.norm(g - h) <= 1e-4 * np.linalg.norm(h) and np.linalg.norm(h) > 0


def test_passes_without_gradients_run_in_inference_mode_and_hand_back_ordinary_tensors(tiny_model):
    """A pass without gradients runs in inference mode; it gives the gradient pass's scores, an ordinary tensor (a
    caller may write into it), and a gradient pass after it still works (FunASR's ALiBi cache made in inference
    mode is copied before a gradient uses it)."""
    import torch

    sc = ClassScore(tiny_model, forward=None)
    x = torch.as_tensor(np.stack([_clip(1.0, seed=s) for s in (7, 8)]))
    with torch.no_grad():
        fast = sc(x)
    assert not fast.is_inference() and not fast.requires_grad
    fast += 0  # in place: refused on an inference tensor outside inference mode
    xx = x.clone().requires_grad_(True)
    slow = sc(xx)
    slow[:, 1].sum().backward()
    assert xx.grad is not None and float(xx.grad.abs().sum()) > 0
    np.testing.assert_allclose(fast.numpy(), slow.detach().numpy(), atol=1e-6)


def test_pool_frames():
    v = np.arange(700, dtype=float)
    s = pool_frames(v, "sum")
    assert s.shape == (3,)
    assert s[0] == v[:320].sum() and s[2] == v[640:].sum()
    assert pool_frames(v, "mean")[2] == v[640:].mean()


def test_curve_end_points_are_known_scores(scorer):
    """Deletion starts at the clip's probability and ends at silence's; insertion the other way round."""
    y = _clip()
    T = len(y) // FRAME_SAMPLES
    c = curves(scorer, y, np.random.default_rng(1).random(T), "sad", steps=4)
    k = LABEL_KEYS.index("sad")
    full = np.exp(scorer.log_probs(y[None])[0, k])
    empty = np.exp(scorer.log_probs(np.zeros((1, len(y)), np.float32))[0, k])
    np.testing.assert_allclose([c.deletion[0], c.deletion[-1], c.insertion[0], c.insertion[-1]], [full, empty, empty, full], atol=1e-5)
    assert 0 <= c.deletion_auc <= 1 and 0 <= c.insertion_auc <= 1


def test_cue_overlap_of_known_maps():
    T = 50
    rel = np.zeros(T)
    rel[10:25] = 1.0  # frames 10..24 = 0.20..0.50 s
    perfect = cue_overlap(rel, 0.2, 0.5)
    assert perfect["mass_in_cue"] == 1.0 and perfect["top_k_iou"] == 1.0 and perfect["cue_frames"] == 15
    uniform = cue_overlap(np.ones(T), 0.2, 0.5)
    assert uniform["mass_in_cue"] == pytest.approx(15 / 50)
    opposite = cue_overlap(-rel, 0.2, 0.5)
    assert opposite["mass_in_cue"] == 0.0 and opposite["top_k_iou"] == 0.0


def test_top_evidence_span():
    rel = np.zeros(100)
    rel[40:55] = 1.0
    assert top_evidence_span(rel, 0.3) == (0.8, 1.1)
    assert top_evidence_span(-rel, 0.3) is None  # no evidence for the class anywhere: no span


def test_randomised_network_differs_and_original_is_untouched(tiny_model):
    import torch

    before = {k: v.clone() for k, v in tiny_model.network.state_dict().items()}
    (name, net), = randomised_networks(tiny_model, "full")
    assert name == "all"
    after = tiny_model.network.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not torch.equal(net.proj.weight, tiny_model.network.proj.weight)
    stages = [n for n, _ in randomised_networks(tiny_model, "cascading")]
    assert stages[0] == "head" and stages[-2:] == ["conv encoder", "decoder (pre-training only)"]


def test_bad_parameters_are_refused(tiny_model, scorer):
    y = _clip()
    with pytest.raises(ConfigError, match="unknown attribution method"):
        attribute(tiny_model, y, method="lime")
    with pytest.raises(ConfigError, match="unknown class"):
        attribute(tiny_model, y, target="bored", method="occlusion")
    with pytest.raises(ConfigError, match="option not accepted"):
        attribute(tiny_model, y, method="occlusion", n_steps=3)
    with pytest.raises(ConfigError, match="window"):
        time_occlusion(scorer, y, "angry", window_s=5.0)
    with pytest.raises(ConfigError, match="unknown randomisation"):
        explain_clip(tiny_model, y, methods=("occlusion",), randomisation="some")
    with pytest.raises(ConfigError, match="unknown method"):
        explain_clip(tiny_model, y, methods=("occlusion",), options={"gradcam": {}})


def test_explanation_json_is_strict(tiny_model):
    y = _clip()
    expl = explain_clip(tiny_model, y, methods=("occlusion",), steps=4, randomisation=None,
                        options={"occlusion": {"window_s": 0.2, "stride_s": 0.1}})
    expl.faithfulness["occlusion"].method.deletion[0] = np.nan  # a NaN must not leak into the file
    d = json.loads(expl.to_json(), parse_constant=lambda c: pytest.fail(f"non-strict JSON constant {c}"))
    assert d["warning"] and "RANDOM WEIGHTS" in d["warning"]
    assert d["methods"]["occlusion"]["faithfulness"]["method"]["deletion"][0] is None
    assert d["predicted"] in LABEL_KEYS and len(d["methods"]["occlusion"]["attribution"]["frame_relevance"]) == 50


def test_plain_escapes_mathtext():
    assert plain("a $x$ b") == r"a \$x\$ b"


@pytest.mark.slow
def test_explain_command_writes_json_figure_and_span(tmp_path, tiny_model):
    import soundfile as sf

    wav = tmp_path / "clip $1.wav"
    sf.write(wav, _clip(1.0), 16000)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "workbench.cli", "explain", str(wav), "--model", "tiny", "--device", "cpu",
           "--method", "occlusion", "--steps", "4", "--randomisation", "none", "--out", str(out)]
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "RANDOM WEIGHTS" in r.stdout and "deletion AUC" in r.stdout
    d = json.loads((out / "explanation.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert set(d["methods"]) == {"occlusion"}
    if d["top_evidence"]["start_s"] is None:  # no method passed its checks with evidence for the class: no file, and said
        assert not (out / "top_evidence.wav").exists() and "no span supports this class" in r.stdout
    else:
        y, sr = sf.read(out / "top_evidence.wav")
        assert sr == 16000 and abs(len(y) / sr - (d["top_evidence"]["end_s"] - d["top_evidence"]["start_s"])) < 0.021
    assert (out / "explanation.png").stat().st_size > 10_000
    bad = subprocess.run([sys.executable, "-m", "workbench.cli", "explain", str(tmp_path), "--model", "tiny"],
                         capture_output=True, text=True, cwd=REPO, timeout=300)
    assert bad.returncode != 0 and "--item" in bad.stderr


def test_planted_cue_clips_hold_their_cue_where_they_say():
    """The synthetic task's truth: each cue's spectral peak, and its energy inside the recorded span only."""
    from workbench.explain.cue import cue_waveform, make_cue_set

    for label, peak_hz in (("sad", 3000), ("angry", 1000)):
        spec = np.abs(np.fft.rfft(cue_waveform(label)))
        assert abs(np.argmax(spec) * 16000 / len(cue_waveform(label)) - peak_hz) < 10
    with pytest.raises(ConfigError):
        cue_waveform("neutral")
    clips = make_cue_set(8, seed=5)
    assert [c.label for c in clips[:4]] == ["angry", "happy", "sad", "neutral"] and not clips[3].has_cue
    sad = clips[2]
    i0, i1 = int(sad.start * 16000), int(sad.end * 16000)
    assert round(sad.end - sad.start, 3) == 0.3

    def band_energy(x):
        s = np.abs(np.fft.rfft(x)) ** 2
        f = np.fft.rfftfreq(len(x), 1 / 16000)
        return s[(f > 2900) & (f < 3100)].sum() / len(x)

    outside = np.concatenate([sad.y[:i0], sad.y[i1:]])
    assert band_energy(sad.y[i0:i1]) > 20 * band_energy(outside)


def test_summary_over_items_is_the_mean_of_the_items(tiny_model):
    from workbench.explain.explanation import summarise

    opts = {"occlusion": {"window_s": 0.2, "stride_s": 0.2}}
    ex = [explain_clip(tiny_model, _clip(seed=s), methods=("occlusion",), steps=3, randomisation=None, options=opts) for s in (1, 2)]
    df = summarise(ex)
    assert list(df["method"]) == ["occlusion"] and int(df["items"][0]) == 2
    want = np.mean([e.faithfulness["occlusion"].method.deletion_auc for e in ex])
    assert df["deletion_auc"][0] == pytest.approx(want)
    assert np.isnan(df["randomised_spearman"][0])


def test_the_methods_of_one_clip_share_the_random_and_frame_score_references_exactly(tiny_model, scorer, monkeypatch):
    """The random orders and the frame-score order do not depend on the method: computed once per clip, and equal to
    what each method would get alone."""
    from workbench.explain import faithfulness as F

    calls = []
    original = F._reference_curves
    monkeypatch.setattr(F, "_reference_curves", lambda *a, **k: calls.append(1) or original(*a, **k))
    wave = np.random.default_rng(3).normal(0, 0.1, 16000).astype(np.float32)
    expl = explain_clip(tiny_model, wave, methods=("occlusion", "tf-occlusion"), steps=4, n_random=10, randomisation=None,
                        scorer=scorer)
    assert len(calls) == 1
    alone = F.faithfulness(scorer, wave, expl.attributions["tf-occlusion"], steps=4, n_random=10)
    shared = expl.faithfulness["tf-occlusion"]
    np.testing.assert_array_equal(alone.random.deletion_aucs, shared.random.deletion_aucs)
    np.testing.assert_array_equal(alone.frame_score.insertion, shared.frame_score.insertion)
    np.testing.assert_array_equal(alone.method.deletion, shared.method.deletion)


@pytest.fixture
def measured(tiny_model):
    """Write this machine's measurement of tiny as ``--dtype auto`` writes it, with the two timings given; the
    real record (or none) is put back afterwards, for the other tests that share the cache."""
    from workbench.model import fastpath

    checksum = tiny_model.info.identity
    path = fastpath.record_path(checksum)
    before = fastpath._read_json(path)

    def write(*, torch_s: float, onnx_s: float) -> None:
        ok = {"ok": True, "agreement": {"top1_same": 8, "clips": 8, "top1_agreement": 1.0, "max_abs_delta_score": 0.0,
                                        "cosine_min": 1.0}}
        fastpath._write_json(path, {  # a whole record: auto re-checks what it reads (fastpath.record_problem)
            "format": fastpath.RECORD_FORMAT, "cpu": fastpath.cpu_identity(), "checkpoint_identity_sha256": checksum,
            "versions": fastpath.versions(), "measured": "2026-12-05T00:00:00+00:00", "clips": {"n": 4, "seed": 1},
            "paths": {"float32": {"seconds": torch_s, "ok": True}, "onnx-float32": {"seconds": onnx_s, **ok}}})

    yield write
    if before is not None:
        fastpath._write_json(path, before)
    else:
        path.unlink(missing_ok=True)


def test_gradient_free_passes_use_the_onnx_export_only_where_it_measured_faster(tiny_model, measured):
    """The export scores explanations only where this machine's measurement found it faster than PyTorch float32
    (on tiny the time-major PyTorch front end is faster here); without a measurement PyTorch scores."""
    from workbench.explain.scoring import forward_backend, onnx_forward
    from workbench.model import fastpath

    checksum = tiny_model.info.identity
    fastpath.ensure_export(tiny_model)
    measured(torch_s=0.09, onnx_s=0.03)
    assert forward_backend(checksum, "float32", "cpu") == "onnxruntime" and onnx_forward(tiny_model) is not None
    measured(torch_s=0.03, onnx_s=0.09)  # measured again: PyTorch is faster now, even with the graph loaded
    assert forward_backend(checksum, "float32", "cpu") == "torch"
    assert ClassScore(tiny_model).forward is None
    fastpath.record_path(checksum).unlink()
    assert forward_backend(checksum, "float32", "cpu") == "torch"  # never measured here


def test_gradient_free_passes_use_the_verified_onnx_export_when_cached_and_agree_with_torch(tiny_model, measured):
    """Perturbations and curves need no gradient: with the checkpoint's verified float32 export in the cache, measured
    faster here, they run on ONNX Runtime (what --dtype auto made), and give PyTorch's log-probabilities; gradients
    and randomised networks stay PyTorch, and the explanation says which scored what."""
    import torch

    from workbench.explain.attribution import forward_backend, time_occlusion
    from workbench.explain.faithfulness import randomised_networks
    from workbench.model import fastpath

    fastpath.ensure_export(tiny_model)
    measured(torch_s=0.09, onnx_s=0.03)
    assert forward_backend(tiny_model.info.identity, "float32", "cpu") == "onnxruntime"
    assert forward_backend(tiny_model.info.identity, "bfloat16", "cpu") == "torch"
    fast, exact = ClassScore(tiny_model), ClassScore(tiny_model, forward=None)
    assert fast.forward is not None and exact.forward is None and "onnxruntime" in fast.forward_name
    waves = np.stack([_clip(1.0, seed=s) for s in range(3)])
    np.testing.assert_allclose(fast.log_probs(waves), exact.log_probs(waves), atol=1e-5)
    with torch.enable_grad():  # a pass that needs gradients is PyTorch's
        x = torch.tensor(waves[:1], requires_grad=True)
        fast(x)[0, 0].backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()
    a, b = (time_occlusion(s, waves[0], fast.labels[0]) for s in (fast, exact))
    np.testing.assert_allclose(a.frame_relevance, b.frame_relevance, atol=1e-4)
    randomised = randomised_networks(tiny_model, "full")[0][1]
    assert ClassScore(tiny_model, randomised).forward is None  # other weights than the export's
    expl = explain_clip(tiny_model, waves[0], methods=("occlusion",), steps=4, n_random=10, randomisation=None)
    assert "onnxruntime" in expl.to_dict()["model"]["gradient_free_passes"]


def test_a_batch_split_across_the_cores_gives_every_rows_logits_in_order(tiny_model, measured):
    """ClassScore's gradient-free passes cut a batch into one part per core (run_bounded's split): every clip's logits
    come back in the clip's own row, the same as scored alone."""
    from workbench.explain.scoring import onnx_forward
    from workbench.model import fastpath
    from workbench.model.onnx_backend import run_bounded

    fastpath.ensure_export(tiny_model)
    measured(torch_s=0.09, onnx_s=0.03)
    graph = onnx_forward(tiny_model)
    waves = np.stack([_clip(0.6, seed=s) for s in range(5)])
    feeds = {"waveforms": waves, "lengths": np.full(5, waves.shape[1], dtype=np.int64)}
    (split,) = run_bounded(graph.session, ["logits"], feeds, budget_s=60, source="test", split=3)
    alone = np.concatenate([run_bounded(graph.session, ["logits"], {k: v[i: i + 1] for k, v in feeds.items()}, budget_s=60,
                                        source="test")[0] for i in range(5)])
    assert split.shape == alone.shape == (5, len(tiny_model.labels))
    np.testing.assert_allclose(split, alone, atol=1e-5)
    assert np.abs(np.diff(alone, axis=0)).max() > 1e-3  # the rows differ, so an order mix-up would show
