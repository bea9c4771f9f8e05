"""The attribution's self-checks, each against an oracle and each made to fire on a constructed failure.

Oracles: Captum's ``IntegratedGradients`` called directly; a linear model
whose IG map is known; a model that reads one stretch of the clip, so the
faithful ranking is known.  Constructed failures: a staircase model (a step
function of the input, zero gradient everywhere) for IG completeness, a
baseline-dominated map for stability, a reversed ranking for faithfulness, a
class with no evidence for it for the top-evidence span.  All on the tiny
checkpoint or on small torch functions, with clips of 0.5–1 s.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from workbench.explain.attribution import (
    FRAME_SAMPLES,
    Attribution,
    ClassScore,
    integrated_gradients,
    noise_baseline,
    pool_frames,
)
from workbench.explain.explanation import explain_clip, report_lines
from workbench.explain.faithfulness import _stages, curves, faithfulness, randomised_networks
from workbench.labels import LABEL_KEYS

K = LABEL_KEYS.index("happy")


def _sine(seconds: float = 0.5, hz: float = 1000.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


class _Function(ClassScore):
    """A small torch function of the raw wave in the place of the network: (B, n) → (B, 9) log-probabilities.

    ``logit`` maps the waves to the logit of class ``happy``; the other eight logits are 0.
    """

    def __init__(self, model, logit):
        super().__init__(model)
        self.logit = logit

    def __call__(self, waves):
        import torch

        z = self.logit(waves)[:, None] * torch.nn.functional.one_hot(torch.tensor(K), 9).to(waves.dtype)
        return torch.log_softmax(z, dim=-1)

    def frame_logits(self, wave):
        return np.zeros((len(wave) // FRAME_SAMPLES, 9))


@pytest.fixture(scope="module")
def scorer(tiny_model):
    import torch

    torch.set_num_threads(1)
    return ClassScore(tiny_model)


# ---------------------------------------------------------------- IG: oracle and completeness
def test_ig_equals_captum_called_directly(scorer):
    """Our IG, split into pieces, is Captum's IG over the same path: same map (to quadrature error) and complete within 5 %."""
    import torch
    from captum.attr import IntegratedGradients

    rng = np.random.default_rng(4)
    y = (0.1 * rng.standard_normal(8000) + _sine(0.5)).astype(np.float32)
    ours = integrated_gradients(scorer, y, "happy", seed=3)
    c = ours.checks["completeness"]
    assert c["passed"] and c["relative_error"] <= 0.05, c
    base = torch.as_tensor(noise_baseline(y, 3))[None]
    ref = IntegratedGradients(scorer).attribute(torch.as_tensor(y)[None], baselines=base, target=K, n_steps=128,
                                                method="gausslegendre", internal_batch_size=32)
    ref_map = pool_frames(ref[0].detach().double().numpy(), "sum")
    gap = c["gap"]
    assert abs(ref_map.sum() - gap) <= 0.05 * abs(gap)  # the reference itself is complete at 128 points
    assert abs(ours.frame_relevance.sum() - gap) <= 0.05 * abs(gap)
    assert np.linalg.norm(ours.frame_relevance - ref_map) <= 0.15 * np.linalg.norm(ref_map)
    assert np.corrcoef(ours.frame_relevance, ref_map)[0, 1] > 0.95


def test_ig_of_a_linear_model_is_input_minus_baseline_times_weight(tiny_model):
    """For f = w·x (through log-softmax, whose derivative is a scalar along the path), IG ∝ (x − b)·w frame by frame."""
    import torch

    w = torch.linspace(-1, 1, 8000)
    f = _Function(tiny_model, lambda waves: (waves * w).sum(-1) * 0.05)
    y = _sine(0.5, hz=3.0)
    a = integrated_gradients(f, y, "happy", seed=0)
    want = pool_frames((y - noise_baseline(y, 0)) * w.numpy(), "sum")
    assert a.checks["completeness"]["passed"]
    ratio = a.frame_relevance.sum() / want.sum()
    np.testing.assert_allclose(a.frame_relevance, ratio * want, atol=1e-4 * np.abs(want).max())


def _staircase(tiny_model, y: np.ndarray) -> _Function:
    """log-probability of happy = a step function of the clip's projection on itself: three jumps along the path, zero gradient."""
    import torch

    ref = torch.as_tensor(y)
    norm = float((ref * ref).sum())
    return _Function(tiny_model, lambda waves: 3.0 * torch.floor(3.5 * (waves * ref).sum(-1) / norm))


def test_staircase_model_fails_completeness_everywhere_it_is_shown(tiny_model):
    """A step function cannot be integrated: the flag fires on screen, in the JSON, in the figure strip, and no span is taken."""
    import matplotlib

    matplotlib.use("Agg")
    from workbench.explain.figure import plot_explanation

    y = _sine(0.5)
    stair = _staircase(tiny_model, y)
    expl = explain_clip(tiny_model, y, target="happy", methods=("ig",), steps=4, n_random=10, seeds=1, randomisation=None,
                        scorer=stair, options={"ig": {"max_steps": 64}})
    c = expl.attributions["ig"].checks["completeness"]
    assert not c["passed"] and c["relative_error"] > 0.9 and c["gradient_evaluations"] <= 64
    assert abs(c["gap"]) > 5  # the path really jumps: 3 steps of 3 nats
    screen = "\n".join(report_lines(expl))
    assert "UNRELIABLE: IG completeness error" in screen and "no span supports this class" in screen
    d = json.loads(expl.to_json())
    assert d["methods"]["ig"]["reliable"] is False
    assert any("UNRELIABLE" in p for p in d["methods"]["ig"]["problems"])
    assert d["methods"]["ig"]["attribution"]["checks"]["completeness"]["passed"] is False
    assert d["top_evidence"]["start_s"] is None and "no span supports this class" in d["top_evidence"]["note"]
    assert expl.top_span is None
    fig = plot_explanation(expl, y, pitch={"times": [0.0], "f0_hz": [float("nan")], "intensity_db": [60.0]})
    titles = [ax.get_title(loc="left") for ax in fig.axes]
    assert any("UNRELIABLE" in t for t in titles) and any("no span supports this class" in t for t in titles)
    # the flag is a line of its own, not pushed off the strip's right edge behind a literal "\n"
    assert not any("\\n" in t for t in titles), titles
    assert any(line.startswith("⚠ UNRELIABLE") for t in titles for line in t.split("\n")), titles


def test_completeness_refinement_beats_one_pass_on_a_steep_path(tiny_model):
    """A steep but smooth path (a sigmoid 1/200 of the path wide): one pass misses it, the split path is complete."""
    import torch

    y = _sine(0.5)
    ref = torch.as_tensor(y)
    norm = float((ref * ref).sum())
    f = _Function(tiny_model, lambda waves: 10.0 * torch.sigmoid(((waves * ref).sum(-1) / norm - 0.55) * 800))
    a = integrated_gradients(f, y, "happy", seed=0)
    c = a.checks["completeness"]
    assert c["first_pass_relative_error"] > 0.2, c  # the one-piece integral misses the step
    assert c["passed"] and c["relative_error"] <= 0.05, c


# ---------------------------------------------------------------- stability
def test_a_baseline_dominated_map_is_unstable_and_a_signal_dominated_one_stable(tiny_model):
    """For f = Σx, IG per frame = Σ(x − b) over the frame: a 1 kHz tone sums to ~0 per frame, so the noise decides (unstable);
    a slow wave sums to far more than the noise, so every seed gives the same ranking (stable)."""
    f = _Function(tiny_model, lambda waves: waves.sum(-1) * 0.01)
    flat = explain_clip(tiny_model, _sine(0.5, hz=1000), target="happy", methods=("ig",), steps=4, n_random=10, seeds=3,
                        randomisation=None, scorer=f)
    st = flat.attributions["ig"].checks["stability"]
    assert st["passed"] is False and st["min_spearman"] < 0.5 and len(st["pairs"]) == 3
    assert any(p.startswith("UNSTABLE") for p in flat.problems("ig")) and flat.top_span is None
    assert "UNSTABLE" in "\n".join(report_lines(flat))
    slow = explain_clip(tiny_model, _sine(0.5, hz=2), target="happy", methods=("ig",), steps=4, n_random=10, seeds=3,
                        randomisation=None, scorer=f)
    assert slow.attributions["ig"].checks["stability"]["passed"] is True


# ---------------------------------------------------------------- faithfulness against random
def _stretch_model(tiny_model, n: int, sign: float = 1.0) -> _Function:
    """happy's logit = sign × energy of frames 10–14 (0.20–0.30 s): the evidence is there and nowhere else."""
    import torch

    mask = torch.zeros(n)
    mask[10 * FRAME_SAMPLES: 15 * FRAME_SAMPLES] = 1.0
    return _Function(tiny_model, lambda waves: sign * 200.0 * ((waves * mask) ** 2).sum(-1) / mask.sum())


def test_a_reversed_ranking_is_worse_than_random_and_said_so(tiny_model):
    y = _sine(0.6)
    f = _stretch_model(tiny_model, len(y))
    T = len(y) // FRAME_SAMPLES
    truth = np.zeros(T)
    truth[10:15] = 1.0
    good = faithfulness(f, y, Attribution("occlusion", "happy", truth, 0.0), steps=10, n_random=20)
    bad = faithfulness(f, y, Attribution("occlusion", "happy", -truth + 1e-3 * np.arange(T), 0.0), steps=10, n_random=20)
    assert good.deletion_verdict == "better than random" and good.insertion_verdict == "better than random" and good.passed
    assert bad.deletion_verdict == "worse than random" and bad.insertion_verdict == "worse than random" and not bad.passed
    lo, hi = bad.random.interval("deletion")
    assert lo < hi and len(bad.random.deletion_aucs) == 20
    assert "worse than random" in bad.summary() and f"{lo:.3f}–{hi:.3f}" in bad.summary()
    d = bad.to_dict()
    assert d["random"]["permutations"] == 20 and d["deletion_verdict"] == "worse than random" and d["passed"] is False


def test_no_span_when_no_evidence_is_for_the_class(tiny_model):
    """Every occlusion value negative (removing anything raises the class): no span, no top_evidence, the reason said."""
    y = _sine(0.6)
    f = _stretch_model(tiny_model, len(y), sign=-1.0)
    expl = explain_clip(tiny_model, y, target="happy", methods=("occlusion",), steps=10, n_random=20, randomisation=None,
                        scorer=f, options={"occlusion": {"window_s": 0.1, "stride_s": 0.02}})
    rel = expl.attributions["occlusion"].frame_relevance
    assert rel.max() <= 1e-9 and rel.min() < 0
    assert expl.top_span is None and "no span supports this class" in expl.top_span_note
    assert json.loads(expl.to_json())["top_evidence"]["start_s"] is None


def test_random_reference_scores_each_distinct_clip_once_and_equals_clip_by_clip_scoring(tiny_model):
    """The reference's curves against an independent, clip-by-clip computation of their definition (deletion in the
    seeded orders, insertion in their reverses), and the forward passes they cost: one per distinct masked clip."""
    from workbench.explain.faithfulness import _reference_curves

    rng = np.random.default_rng(5)
    y = (0.05 * rng.standard_normal(9600) + _sine(0.6)).astype(np.float32)  # 30 frames of 20 ms
    T, steps, n, target = 30, 10, 12, "happy"
    scorer = ClassScore(tiny_model)
    rows = []
    real = scorer.log_probs
    scorer.log_probs = lambda waves, batch=16: rows.append(len(waves)) or real(waves, batch=batch)
    random, _ = _reference_curves(scorer, y, target, T, steps=steps, n_random=n, seed=0)
    reference_rows = sum(rows)

    g = np.random.default_rng(0)  # the same seeded draws, in the same sequence
    orders = [g.permutation(T) for _ in range(n)]
    ks = [round(j * T / steps) for j in range(steps + 1)]
    k_target = scorer.labels.index(target)

    def p_of(frames_kept):
        keep = np.zeros(T, bool)
        keep[list(frames_kept)] = True
        clip = np.where(np.repeat(keep, FRAME_SAMPLES)[: len(y)], y, 0.0).astype(np.float32)[None]
        return float(np.exp(real(clip)[0, k_target]))

    distinct = set()
    for i, o in enumerate(orders):
        deletion = [p_of(set(range(T)) - set(o[:k])) for k in ks]
        insertion = [p_of(set(o[::-1][:k])) for k in ks]
        distinct |= {frozenset(set(range(T)) - set(o[:k])) for k in ks} | {frozenset(o[::-1][:k]) for k in ks}
        assert random.deletion_aucs[i] == pytest.approx(np.trapezoid(deletion, np.linspace(0, 1, steps + 1)), abs=1e-5)
        assert random.insertion_aucs[i] == pytest.approx(np.trapezoid(insertion, np.linspace(0, 1, steps + 1)), abs=1e-5)
    frame_score_rows = 2 * (steps + 1) - 2  # the frame-score order's curves; their ends (whole clip, silence) are shared
    assert reference_rows <= len(distinct) + frame_score_rows
    assert len(distinct) <= n * (steps - 1) + 2  # half of the 2 x n x (steps + 1) clips the curves name


def test_faithfulness_refuses_too_few_permutations(scorer):
    from workbench.errors import ConfigError

    y = _sine(0.5)
    with pytest.raises(ConfigError, match="interval"):
        faithfulness(scorer, y, Attribution("occlusion", "happy", np.ones(25), 0.0), n_random=3)


# ---------------------------------------------------------------- full randomisation
def test_full_randomisation_changes_every_parameter_tensor(tiny_model):
    import torch

    (_, net), = randomised_networks(tiny_model, "full")
    trained = dict(tiny_model.network.named_parameters())
    kept = [n for n, p in net.named_parameters() if torch.equal(p, trained[n])]
    assert kept == [], f"tensors that keep their trained values: {kept}"
    covered = {id(p) for _, items in _stages(tiny_model.network) for it in items
               for p in ([it] if isinstance(it, torch.nn.Parameter) else it.parameters())}
    assert covered == {id(p) for p in tiny_model.network.parameters()}  # cascading reaches every tensor too


# ---------------------------------------------------------------- the file reproduces the figures
def test_stored_map_recomputes_the_stored_aucs(tiny_model, scorer):
    rng = np.random.default_rng(2)
    y = (0.05 * rng.standard_normal(8000) + _sine(0.5)).astype(np.float32)
    expl = explain_clip(tiny_model, y, methods=("occlusion",), steps=5, n_random=10, randomisation=None,
                        options={"occlusion": {"window_s": 0.1, "stride_s": 0.02}})
    d = json.loads(expl.to_json())
    m = d["methods"]["occlusion"]
    rel = np.asarray(m["attribution"]["frame_relevance"])
    np.testing.assert_array_equal(rel, expl.attributions["occlusion"].frame_relevance)  # bit for bit, no rounding
    again = curves(scorer, y, rel, d["target"], steps=5)
    assert again.deletion_auc == pytest.approx(m["faithfulness"]["method"]["deletion_auc"], abs=1e-12)
    assert again.insertion_auc == pytest.approx(m["faithfulness"]["method"]["insertion_auc"], abs=1e-12)


# ---------------------------------------------------------------- a run item is scored as the run scored it
def test_explain_run_item_scores_with_the_runs_dtype(tmp_path, capsys):
    """A run made in bfloat16 on the CPU: `explain RUN --item` loads bfloat16, and its scores are the row's."""
    import soundfile as sf

    from workbench.cli import main
    from workbench.data.manifest import Item, Manifest, write_manifest
    from workbench.model.network import load_model
    from workbench.model.ref import ModelRef
    from workbench.runs.folder import RunFolder
    from workbench.runs.driver import run
    from workbench.schema import SCORE_COLUMNS

    from conftest import speech_like

    (tmp_path / "a").mkdir()
    for i in range(2):
        sf.write(tmp_path / "a" / f"c{i}.wav", speech_like(16000, 1.0, seed=i), 16000, subtype="FLOAT")
    manifest = write_manifest(Manifest([Item(id=f"c{i}", path=f"a/c{i}.wav", label="happy") for i in range(2)], root=tmp_path),
                              tmp_path / "m.csv")
    run_dir = run(manifest, out_dir=tmp_path / "run", model=ModelRef("tiny", device="cpu", dtype="bfloat16"),
                  cache_dir=tmp_path / "cache").run_dir
    out = tmp_path / "ex"
    rc = main(["explain", str(run_dir), "--item", "c1", "--method", "occlusion", "--randomisation", "none", "--steps", "4",
               "--device", "cpu", "--out", str(out)])
    assert rc == 0
    screen = capsys.readouterr().out
    d = json.loads((out / "explanation.json").read_text())
    assert d["model"]["dtype"] == "bfloat16" and d["model"]["scored_in"] == "bfloat16" and "bfloat16" in screen
    row = RunFolder(run_dir).row("c1")
    stored = np.array([row[c] for c in SCORE_COLUMNS])
    got = np.array([d["scores"][k] for k in LABEL_KEYS])
    assert d["model"]["run_row"]["equal"] is True
    np.testing.assert_allclose(got, stored, atol=1e-5)
    # the oracle that makes this test able to fail: float32 scoring of the same audio is farther from the row
    audio = RunFolder(run_dir).scored_audio(row)
    f32 = np.exp(ClassScore(load_model("tiny", device="cpu")).log_probs(audio.samples[None])[0])
    assert np.max(np.abs(f32 - stored)) > 1e-4


@pytest.mark.parametrize("run_dtype", ["onnx-int8", "int8"])
def test_explaining_a_row_scored_without_gradients_says_which_precision_scored_what(tmp_path, capsys, run_dtype):
    """A run scored on ONNX Runtime int8 or torch int8 (what --dtype auto may choose) is explained in float32 (int8
    layers have no gradients; the torch int8 run was refused before): the gap to the row is put down to the two
    precisions, by name, not to "the run's model and dtype" (which were not used)."""
    import soundfile as sf

    from workbench.cli import main
    from workbench.data.manifest import Item, Manifest, write_manifest
    from workbench.model.ref import ModelRef
    from workbench.runs.driver import run

    from conftest import speech_like

    (tmp_path / "a").mkdir()
    for i in range(2):
        sf.write(tmp_path / "a" / f"c{i}.wav", speech_like(16000, 1.0, seed=10 + i), 16000, subtype="FLOAT")
    manifest = write_manifest(Manifest([Item(id=f"c{i}", path=f"a/c{i}.wav") for i in range(2)], root=tmp_path), tmp_path / "m.csv")
    run_dir = run(manifest, out_dir=tmp_path / "run", model=ModelRef("tiny", device="cpu", dtype=run_dtype),
                  cache_dir=tmp_path / "cache").run_dir
    out = tmp_path / "ex"
    assert main(["explain", str(run_dir), "--item", "c1", "--method", "occlusion", "--randomisation", "none", "--steps", "4",
                 "--device", "cpu", "--out", str(out)]) == 0
    screen = capsys.readouterr().out
    rr = json.loads((out / "explanation.json").read_text())["model"]["run_row"]
    assert rr["row_dtype"] == run_dtype and rr["explained_dtype"] == "float32"
    assert rr["equal"] is False  # int8 weights and activations: the row is ~1e-3 away from float32
    assert f"the run scored in {run_dtype}, the explanation in float32" in screen
    titles = json.loads((out / "explanation.json").read_text())["figure_titles"]
    assert "⚠ the scores differ from the run's row" in titles["banner"]  # the figure says what the screen says
    assert "although the run's model and dtype" not in screen


def test_attribution_after_batched_inference_in_the_same_process(tiny_model, scorer):
    """predict() fills FunASR's ALiBi cache under inference_mode; a gradient through that cache must still work."""
    rng = np.random.default_rng(0)
    clips = [(0.1 * rng.standard_normal(16000)).astype(np.float32) for _ in range(16)]
    tiny_model.predict(clips)  # one batch of 16: the cache now holds an inference tensor for up to 16 rows
    a = integrated_gradients(scorer, clips[0], "happy", n_steps=4, max_steps=64, internal_batch_size=16)
    assert np.isfinite(a.frame_relevance).all()


@pytest.mark.parametrize("rho, passed", [(-0.54, False), (0.62, False), (0.31, True)])
def test_randomisation_rule_is_on_the_size_of_the_rank_correlation_everywhere_it_is_shown(tiny_model, rho, passed):
    """The check fails when |r| reaches 0.5, so a map anti-correlated with the re-initialised network's (r = -0.54)
    fails: the words must say |r|, not "rank corr -0.54 (must stay below 0.50)", which reads as a pass; and the
    failure reaches the screen, the JSON, the figure strip, the worst-case summary, its figure and the report."""
    import matplotlib

    matplotlib.use("Agg")
    from workbench.explain.faithfulness import RandomisationCheck
    from workbench.explain.figure import plot_explanation
    from workbench.explain.worst import case_record, plot_worst, summary_record

    y = _sine(0.5)
    expl = explain_clip(tiny_model, y, target="happy", methods=("occlusion",), n_random=10, randomisation=None)
    expl.randomisation["occlusion"] = RandomisationCheck("occlusion", "full", ["full"], [rho])
    assert expl.randomisation["occlusion"].passed is passed
    lines = expl.check_lines("occlusion")
    line = next(s for s in lines if s.startswith("randomised-model"))
    assert f"|r| = {abs(rho):.2f}" in line and "|r| must stay below 0.50" in line
    assert line.endswith("passed" if passed else "FAILED")
    problems = expl.problems("occlusion")
    assert any(p.startswith("FAILS MODEL RANDOMISATION") and "|r| must stay below" in p for p in problems) is (not passed)
    record = json.loads(expl.to_json())
    assert record["methods"]["occlusion"]["randomisation"]["passed"] is passed
    fig = plot_explanation(expl, y, pitch={"times": [0.0], "f0_hz": [float("nan")], "intensity_db": [60.0]})
    strip = " ".join(ax.get_title(loc="left") for ax in fig.axes)
    assert ("FAILED (|r| ≥ 0.5)" in strip) is (not passed)
    case = case_record({"id": "c1", "variant": "raw", "pred": "happy", "confidence": 0.9}, record, entry=None, cache="computed")
    summary = summary_record([case], rule="r", n=1, m=1, variant=None, settings={}, warning=None)
    assert summary["methods"]["occlusion"]["randomisation_failed"] == (0 if passed else 1)
    cells = " ".join(t.get_text() for t in plot_worst(summary).axes[0].texts)
    assert ("FAILS randomisation" in cells) is (not passed)


def test_a_randomisation_check_with_no_rank_correlation_is_flagged_undetermined_everywhere(tiny_model):
    """spearmanr of a constant map is NaN: the check ran to no verdict (passed None). The figure strip read
    "randomised-model rank corr nan (|r| < 0.5)", a pass; the JSON called the map reliable, top evidence came from it
    and the worst-case summary, its figure and the report counted it with the maps that passed."""
    import matplotlib

    matplotlib.use("Agg")
    from workbench.explain.explanation import pick_top_evidence
    from workbench.explain.faithfulness import RandomisationCheck
    from workbench.explain.figure import plot_explanation
    from workbench.explain.worst import case_record, plot_worst, summary_record

    y = _sine(0.5)
    expl = explain_clip(tiny_model, y, target="happy", methods=("occlusion",), n_random=10, randomisation=None)
    expl.randomisation["occlusion"] = RandomisationCheck("occlusion", "full", ["full"], [float("nan")])
    assert expl.randomisation["occlusion"].passed is None
    line = next(s for s in expl.check_lines("occlusion") if s.startswith("randomised-model"))
    assert "undefined" in line and line.endswith("UNDETERMINED") and "nan" not in line
    assert any(p.startswith("RANDOMISATION UNDETERMINED") for p in expl.problems("occlusion"))
    assert any("RANDOMISATION UNDETERMINED" in s for s in report_lines(expl))
    record = json.loads(expl.to_json())
    assert record["methods"]["occlusion"]["reliable"] is False
    assert pick_top_evidence(expl)[1] is None  # no span from a map whose check gave no verdict
    fig = plot_explanation(expl, y, pitch={"times": [0.0], "f0_hz": [float("nan")], "intensity_db": [60.0]})
    strip = " ".join(ax.get_title(loc="left") for ax in fig.axes)
    assert "UNDETERMINED" in strip and "(|r| < 0.5)" not in strip
    case = case_record({"id": "c1", "variant": "raw", "pred": "happy", "confidence": 0.9}, record, entry=None, cache="computed")
    summary = summary_record([case], rule="r", n=1, m=1, variant=None, settings={}, warning=None)
    counts = summary["methods"]["occlusion"]
    assert counts["randomisation_undetermined"] == 1 and counts["reliable"] == 0 and counts["randomisation_skipped"] == 0
    cells = " ".join(t.get_text() for t in plot_worst(summary).axes[0].texts)
    assert "randomisation UNDETERMINED" in cells


def test_the_spectrogram_overlay_of_a_failed_method_is_flagged_and_frame_scores_have_a_scale(tiny_model):
    """The time-frequency overlay is tf-occlusion's map: when that method fails a check, the spectrogram's caption
    carries the flag as the method's strip does (it was plain black); the frame-score heatmap gets a colour scale."""
    import matplotlib

    matplotlib.use("Agg")
    from workbench.explain.faithfulness import RandomisationCheck
    from workbench.explain.figure import figure_titles, plot_explanation

    y = _sine(0.5)
    expl = explain_clip(tiny_model, y, target="happy", methods=("tf-occlusion",), n_random=10, randomisation=None)
    pitch = {"times": [0.0], "f0_hz": [float("nan")], "intensity_db": [60.0]}
    assert ("⚠" in figure_titles(expl, pitch)["spectrogram"]) is bool(expl.problems("tf-occlusion"))
    expl.randomisation["tf-occlusion"] = RandomisationCheck("tf-occlusion", "full", ["full"], [0.9])
    caption = figure_titles(expl, pitch)["spectrogram"]
    assert "⚠ FAILS MODEL RANDOMISATION" in caption
    fig = plot_explanation(expl, y, pitch=pitch)
    spectrogram = next(ax for ax in fig.axes if ax.get_title(loc="left").startswith("spectrogram"))
    assert spectrogram._left_title.get_color() == "crimson"
    frames = next(ax for ax in fig.axes if ax.get_title(loc="left").startswith("frame scores"))
    assert [c.get_ylabel() for c in frames.child_axes] == ["p"]  # the frame scores' colour bar


def test_the_figure_states_the_aucs_and_the_completeness_error_with_the_screens_digits(tiny_model):
    """The figure rounded to 2 decimals what the screen gives to 3 ("deletion AUC 0.20 vs random 0.20–0.22 (better than
    random)" beside the screen's 0.198 vs 0.201–0.219), and the completeness error to whole percent (0% beside the
    screen's 0.5%; a 5.4% error that fails the 5% tolerance read "5%")."""
    from workbench.explain.figure import figure_titles

    y = _sine(0.5)
    expl = explain_clip(tiny_model, y, target="happy", methods=("tf-occlusion",), n_random=10, randomisation=None)
    f = expl.faithfulness["tf-occlusion"]
    lo, hi = f.random.interval("deletion")
    screen = "\n".join(report_lines(expl))
    title = figure_titles(expl, None)["method:tf-occlusion"]
    shown = f"deletion AUC {f.method.deletion_auc:.3f}"
    assert shown in screen and f"{shown} vs random {lo:.3f}–{hi:.3f}" in title
    expl.attributions["tf-occlusion"].checks["completeness"] = {"relative_error": 0.054, "passed": False, "gap": 1.0,
                                                               "tolerance": 0.05, "gradient_evaluations": 64, "cap": 4096}
    title = figure_titles(expl, None)["method:tf-occlusion"]
    assert "completeness error 5.4%" in title and "UNRELIABLE: IG completeness error 5.4% of" in title


# ---------------------------------------------------------------- IG of a low-precision model
def test_ig_of_a_bfloat16_model_differentiates_its_float32_weights_and_says_so(tiny_model):
    """In bfloat16 IG's path moves in rounding steps: its completeness error stalled above 5 % and the path was split to
    the 4,096-evaluation cap (a 5 s clip: 78 s, 2.6 GB). IG now differentiates the same checkpoint in float32: the map
    is float32's to the digit, complete, and the screen and the JSON say which precision made which figure; the
    curves and the scores stay the bfloat16 model's (the run's)."""
    from conftest import speech_like
    from workbench.model.network import load_model

    bf16 = load_model("tiny", device="cpu", dtype="bfloat16")
    wave = speech_like(16000, 1.0, seed=3)
    kw = dict(methods=("ig",), steps=4, n_random=10, seeds=1, randomisation=None)
    low = explain_clip(bf16, wave, target="happy", **kw)
    exact = explain_clip(tiny_model, wave, target="happy", **kw)
    a = low.attributions["ig"]
    assert a.params["dtype"] == "float32" and a.checks["completeness"]["passed"]
    np.testing.assert_allclose(a.frame_relevance, exact.attributions["ig"].frame_relevance, rtol=1e-6, atol=1e-9)
    d = low.to_dict()
    assert d["model"]["scored_in"] == "bfloat16" and d["model"]["ig_gradients_in"] == "float32"
    assert any(line.startswith("gradients in float32 on the same weights (in bfloat16") for line in low.check_lines("ig"))
    assert not any("gradients in" in line for line in exact.check_lines("ig"))  # float32: nothing to say
    # the scores and the curves are the bfloat16 model's, not float32's
    assert max(abs(low.scores[k] - exact.scores[k]) for k in low.scores) > 1e-5
    assert low.faithfulness["ig"].method.deletion_auc != exact.faithfulness["ig"].method.deletion_auc


def test_the_float32_sibling_ig_differentiates_is_freed_with_the_bfloat16_model_and_only_one_is_held():
    """IG of a bfloat16 model differentiated a float32 network put in the process cache for good (1.2 GB for large in
    a long notebook session).  Now it is built once for the model (a tempered copy shares it), dropped when another
    checkpoint's is needed, and freed when the bfloat16 model it mirrors is freed."""
    import gc
    import weakref

    from conftest import speech_like
    from workbench.explain.scoring import ClassScore, gradient_model
    from workbench.model.generated import ensure_random_checkpoint
    from workbench.model.network import forget_network, load_model

    def sibling_of(bf16):
        grad, scorer = gradient_model(bf16, ClassScore(bf16))
        assert grad.info.dtype == "float32" and scorer.dtype == "float32"
        return weakref.ref(grad.network)

    one = load_model(str(ensure_random_checkpoint("tiny", seed=101)), device="cpu", dtype="bfloat16")
    expl = explain_clip(one, speech_like(16000, 0.5, seed=3), target="happy", methods=("ig",), steps=2, n_random=10, seeds=1,
                        randomisation=None)
    assert expl.attributions["ig"].params["dtype"] == "float32"
    first = sibling_of(one)
    assert sibling_of(one.with_temperature(2.0))() is first()  # built once for the model and its tempered copies
    del expl
    forget_network(one.spec, "cpu", "bfloat16")
    del one
    gc.collect()
    assert first() is None, "the float32 sibling outlived the bfloat16 model it mirrors"
    two = load_model(str(ensure_random_checkpoint("tiny", seed=102)), device="cpu", dtype="bfloat16")
    three = load_model(str(ensure_random_checkpoint("tiny", seed=103)), device="cpu", dtype="bfloat16")
    second = sibling_of(two)
    third = sibling_of(three)
    gc.collect()
    assert second() is None and third() is not None  # one sibling at a time, though `two` is alive
    for m in (two, three):
        forget_network(m.spec, "cpu", "bfloat16")
    del two, three, m
    gc.collect()
    assert third() is None


def test_a_bfloat16_rows_check_allows_its_precisions_rounding_and_float32_keeps_its_own(tmp_path, capsys):
    """A clip scored alone (explain) and in a padded batch (the run) is rounded differently in bfloat16: up to 6e-4
    apart on the demo set, where float32 agrees within 1e-5. The row check used float32's 1e-4 for both, so explaining
    a bfloat16 run's short clip said "the scores differ from the run's row ... although the run's model and dtype were
    used". The tolerance is now the precision's (5e-3 for bfloat16), float32 keeps 1e-4, and both are in the JSON."""
    from workbench.cli import main
    from workbench.model.ref import ModelRef
    from workbench.runs.driver import run

    from conftest import DEMO

    records = {}
    for dtype in ("bfloat16", "float32"):
        run_dir = run(DEMO / "manifest.csv", out_dir=tmp_path / f"run_{dtype}", model=ModelRef("tiny", device="cpu", dtype=dtype),
                      cache_dir=tmp_path / "cache").run_dir
        out = tmp_path / f"ex_{dtype}"
        assert main(["explain", str(run_dir), "--item", "happy_zh_noisy5db", "--method", "occlusion", "--randomisation",
                     "none", "--steps", "4", "--device", "cpu", "--out", str(out)]) == 0
        records[dtype] = json.loads((out / "explanation.json").read_text())["model"]["run_row"]
        assert "differ from the run's row" not in capsys.readouterr().out
    assert records["bfloat16"]["tolerance"] == 5e-3 and records["bfloat16"]["equal"] is True
    assert records["float32"]["tolerance"] == 1e-4 and records["float32"]["equal"] is True
    assert records["float32"]["max_abs_difference"] < 1e-5  # float32's check stays as tight as it was
    print(records)


def test_explain_refuses_a_class_of_another_label_set_before_the_model_loads(tmp_path, capsys):
    """`workbench explain RUN --item X --class disgusted` on a head without that class was refused only after the
    model loaded: the run's score columns (its model's classes) refuse it first.  The run's model here ("synthetic")
    cannot load at all, so any other error than the class's would mean the check came after loading."""
    import numpy as np

    from test_probe import synthetic_row, write_run
    from workbench.cli import main

    rows = []
    for i in range(3):
        r = {k: v for k, v in synthetic_row(f"u{i}", emotion="angry").items() if not k.startswith("score_")}
        rows.append({**r, "score_angry": 0.5, "score_boredom": 0.3, "score_neutral": 0.2, "pred": "angry", "confidence": 0.5})
    rf = write_run(tmp_path / "run", rows, np.random.default_rng(0).standard_normal((3, 8)))
    assert main(["explain", str(rf.path), "--item", "u0", "--class", "disgusted", "--out", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err
    assert "--class: unknown class 'disgusted'; the run's model has the classes angry, boredom, neutral." in err, err
    assert not (tmp_path / "e").exists()


def test_a_worst_case_cell_whose_curves_do_not_beat_random_is_amber_not_green():
    """`explain RUN --worst N` coloured a map green ("passed every check") while its cell read "ins ≈ random · del ≈
    random": a map that passed its checks but ranks the audio no better than chance is amber, and the legend says so."""
    import matplotlib

    matplotlib.use("Agg")
    from workbench.explain.worst import case_record, plot_worst, summary_record

    def case(name, insertion, deletion, reliable=True):
        record = {"target": "happy", "methods": {"occlusion": {"reliable": reliable, "faithfulness": {
            "insertion_verdict": insertion, "deletion_verdict": deletion}}}}
        return case_record({"id": name, "variant": "raw", "pred": "happy", "confidence": 0.9}, record, entry=None, cache="computed")

    chance = "indistinguishable from random"
    cases = [case("a", chance, chance), case("b", "better than random", chance), case("c", chance, chance, reliable=False)]
    fig = plot_worst(summary_record(cases, rule="r", n=3, m=3, variant=None, settings={}, warning=None))
    grid = np.asarray(fig.axes[0].images[0].get_array())[:, 0]
    assert list(grid) == [3.0, 0.0, 1.0]  # amber, green, red
    assert "amber = passed them but neither curve beats random orders" in fig.texts[0].get_text().replace("\n", " ")


def test_every_check_on_the_figure_strip_and_in_the_json_captions_carries_its_bound(tiny_model):
    """The strip gave a passing check without its bound ("randomised-model rank corr 0.37", "completeness error 1.9%");
    only a failure carried one.  Each check shown now says what it is held to, passed or not, as the screen does."""
    from workbench.explain.faithfulness import RandomisationCheck
    from workbench.explain.figure import figure_titles

    y = _sine(0.5)
    expl = explain_clip(tiny_model, y, target="happy", methods=("tf-occlusion",), n_random=10, randomisation=None)
    expl.randomisation["tf-occlusion"] = RandomisationCheck("tf-occlusion", "full", ["full"], [0.37])
    checks = expl.attributions["tf-occlusion"].checks
    checks["completeness"] = {"relative_error": 0.019, "passed": True, "gap": 1.0, "tolerance": 0.05,
                              "gradient_evaluations": 64, "cap": 4096, "segments": 1}
    checks["stability"] = {"seeds": [0, 1], "pairs": [{"seeds": [0, 1], "spearman": 0.8}], "min_spearman": 0.8,
                           "mean_spearman": 0.8, "threshold": 0.5, "passed": True}
    titles = figure_titles(expl, None)
    for text in (titles["method:tf-occlusion"], titles["spectrogram"]):  # the spectrogram's caption is in explanation.json
        assert "completeness error 1.9% (≤ 5%)" in text and "seed rank corr min 0.80 (≥ 0.50)" in text, text
        assert "randomised-model rank corr 0.37 (|r| < 0.5)" in text, text
    checks["stability"].update(min_spearman=0.1, passed=False)
    assert "seed rank corr min 0.10 (≥ 0.50) FAILED" in figure_titles(expl, None)["method:tf-occlusion"]
    screen = "\n".join(expl.check_lines("tf-occlusion"))  # the screen's lines had their bounds already
    assert "(tolerance 5%" in screen and "(threshold 0.50)" in screen and "|r| must stay below 0.50" in screen


def test_explain_on_a_folder_named_like_audio_says_it_is_neither_audio_nor_a_run(tmp_path, capsys):
    """`explain dir.wav` (a folder) said "explaining a run item needs --item ID": it is no run folder, and an --item
    would only have been refused next.  It now says what the folder is not, and a run folder keeps the --item words."""
    from workbench.cli import main

    (tmp_path / "dir.wav").mkdir()
    assert main(["explain", str(tmp_path / "dir.wav")]) == 2
    err = capsys.readouterr().err
    assert "is a folder (despite its name ending .wav), not an audio file, and not a run folder either (no config.yaml in it)" in err, err
    assert "run item" not in err and "--item ID" in err
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text("model: tiny\n")
    assert main(["explain", str(run)]) == 2
    assert "explaining a run item needs --item ID" in capsys.readouterr().err


def test_a_seed_whose_map_is_constant_makes_the_stability_check_fail_not_pass(tiny_model):
    """map_stability took nanmin of the pairs' rank correlations: seeds 0 and 1 agreeing at 0.9 and a constant map of
    seed 2 (spearman NaN against both) read "stable, rank corr min 0.90". A pair with no correlation is no agreement:
    the minimum is undefined, the check fails and every output says so in words (not "nan")."""
    from workbench.explain.attribution import map_stability

    rng = np.random.default_rng(0)
    a = rng.standard_normal(50)
    st = map_stability([a, a + 0.05 * rng.standard_normal(50), np.zeros(50)], [0, 1, 2])
    assert st["passed"] is False and st["undefined_pairs"] == 2 and not np.isfinite(st["min_spearman"])
    y = _sine(0.5)
    expl = explain_clip(tiny_model, y, target="happy", methods=("occlusion",), n_random=10, randomisation=None)
    expl.attributions["occlusion"].checks["stability"] = st
    assert any(p.startswith("UNSTABLE") and "undefined (a map is constant)" in p for p in expl.problems("occlusion"))
    line = next(s for s in expl.check_lines("occlusion") if s.startswith("stability"))
    assert line.endswith("UNSTABLE") and "nan" not in line
    assert any("FAILED" in s and "undefined" in s for s in expl.check_phrases("occlusion"))
    assert json.loads(expl.to_json())["methods"]["occlusion"]["reliable"] is False
