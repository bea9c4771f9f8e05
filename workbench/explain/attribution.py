"""Attribution over time and frequency with Captum, on the network the workbench runs.

What is attributed.  :class:`ClassScore` is the loaded FunASR ``Emotion2vec``
network wrapped as a differentiable function of the **raw waveform the user
gave**: it applies FunASR's per-clip normalisation itself
(``layer_norm(wave, wave.shape)``), runs ``extract_features``, applies the
classification head ``proj`` to every frame and averages the frame logits,
which is exactly the utterance logit of :meth:`Emotion2vecModel.predict`
(``proj`` is affine).  The output is the model's **log-probabilities** in
the model's label order; log-probabilities do not
saturate as probabilities do, so gradients stay informative for confident
predictions.

Three methods, all Captum's own implementations (no hand-written integrated
gradients):

``ig``
    :class:`captum.attr.IntegratedGradients` on the waveform, summed over each
    20 ms frame (320 samples), its path split where the output jumps until
    the map is complete within 5 % of |f(x) − f(baseline)|, the pieces' errors
    counted in size so that none cancels another (else flagged; see
    :func:`integrated_gradients`).  Baseline: seeded white noise at the clip's own
    RMS; :func:`map_stability` rank-correlates maps from several seeds.  The zero baseline is degenerate here: the per-clip layer norm makes
    the network blind to the scale of its input, so along the straight path
    from zeros every point beyond ~1 % of the way looks the same to the
    network and the whole integral happens in the first step.
``occlusion``
    :class:`captum.attr.Occlusion` over time windows (default 200 ms, stride
    40 ms) of the waveform; occluded samples are set to zero (digital silence)
    in the raw input, before the model's normalisation.  The attribution of a
    frame is the mean drop of the class log-probability over the windows that
    cover it.
``tf-occlusion``
    :class:`captum.attr.FeatureAblation` on the STFT (512-point, 10 ms hop):
    each cell of a band × window grid (bands with edges at 0, 250, 500, 1000,
    2000, 4000, 8000 Hz; 200 ms windows) is zeroed and the spectrogram is
    turned back into a waveform (inverse STFT) for the model.  Gives a
    saliency map over the spectrogram and, summed over bands, a time profile.

All three send their perturbed clips through the model in batches sized by
the memory budget (:meth:`ClassScore.batch_size`: the seconds of audio one
batch may hold, ``model.batching.default_policy(device).max_batch_seconds`` —
60 s on a CPU, sized by free memory on a GPU — a third of it with gradients),
through Captum's ``internal_batch_size`` and ``perturbations_per_eval``.
Batching changes no result beyond float32 rounding (tested against
``ClassScore(model, max_batch=1)``, one clip per pass).

Why pieces (IG).  On the ``cue`` checkpoint the path is a staircase: the
log-probability moves by ~30 nats in steps of 1–4 nats, each only
1e-4–1e-5 of α wide, and is flat in between (one clip: 29 of 33 nats
between α 0.3 and 0.7).  Captum's 32 Gauss–Legendre points see none of the
steps (completeness error ~100 %), and raising ``n_steps`` or switching to
``riemann_trapezoid`` refines the whole path uniformly, which would need
~10⁵ gradient evaluations to land points inside steps that narrow.  Locating
the steps with forward passes (about 30× cheaper than a gradient on the CPU)
and integrating each piece with a few points puts the gradients where the
output moves; halving the pieces Captum reports as incomplete finishes the
job.  A true discontinuity (zero gradient on both sides of a jump) cannot be
integrated by any quadrature: the check then fails and says so.  Measured
before/after in ``benchmarks/README.md`` ("IG completeness").
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from workbench.audio.intake import Audio
from workbench.errors import ConfigError, ModelError
from workbench.explain.scoring import (  # noqa: F401  (the scoring function's names, importable from here too)
    BATCH_AUDIO_S, FRAME_SAMPLES, ClassScore, batch_for, forward_backend, onnx_forward, resolve_target)
from workbench.model.network import Emotion2vecModel
from workbench.schema import SAMPLE_RATE

logger = logging.getLogger(__name__)

METHODS = ("ig", "occlusion", "tf-occlusion")
#: edges of the time-frequency occlusion bands in Hz (octaves above 250 Hz)
TF_BAND_EDGES_HZ = (0.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)
STFT_N_FFT = 512
STFT_HOP = 160
#: IG completeness: |sum of attributions - (f(x) - f(baseline))| within this share of |f(x) - f(baseline)|
COMPLETENESS_TOLERANCE = 0.05
#: IG's map converged: halving every piece of the path changes the frame map by at most this share of its L1 mass
MAP_TOLERANCE = 0.10
#: gradient evaluations one IG map may spend refining its path (all segments together)
IG_MAX_STEPS = 4096
#: nats: below this |f(x) - f(baseline)| the completeness error is taken relative to this floor
GAP_FLOOR = 0.01
#: smallest pairwise Spearman correlation between maps from different baseline seeds for a stable map
STABILITY_THRESHOLD = 0.5
#: baseline seeds of the stability check
STABILITY_SEEDS = (0, 1, 2)


@dataclass
class Attribution:
    """One method's evidence for one class of one clip.

    ``frame_relevance``: (T,) relevance of each 20 ms frame (T = ceil(n / 320)),
    in units of the class log-probability; positive = evidence *for* the class.
    ``tf_map``: (bands, windows) for ``tf-occlusion`` (drop of the class
    log-probability when that band × window cell is removed), else ``None``.
    """

    method: str
    target: str
    frame_relevance: np.ndarray
    seconds: float
    params: dict = field(default_factory=dict)
    tf_map: np.ndarray | None = None
    tf_band_edges_hz: tuple[float, ...] | None = None
    tf_window_times: np.ndarray | None = None  # (windows,) start of each window in s
    convergence_delta: float | None = None  # IG: sum of attributions minus (f(x) - f(baseline))
    #: self-checks of the map: ``completeness`` (IG), ``stability`` (over baseline seeds); each with ``passed``
    checks: dict = field(default_factory=dict)

    @property
    def frame_times(self) -> np.ndarray:
        """(T,) start time of each frame in seconds."""
        return np.arange(len(self.frame_relevance)) * FRAME_SAMPLES / SAMPLE_RATE

    def to_dict(self) -> dict:
        out: dict[str, Any] = {
            "method": self.method,
            "target": self.target,
            "frame_rate_hz": SAMPLE_RATE / FRAME_SAMPLES,
            # full precision (a float64 JSON number round-trips exactly): the figures recompute from the file
            "frame_relevance": [float(v) for v in np.asarray(self.frame_relevance, dtype=np.float64)],
            "seconds": round(self.seconds, 3),
            "params": self.params,
        }
        if self.convergence_delta is not None:
            out["convergence_delta"] = float(self.convergence_delta)
        out["checks"] = self.checks
        if self.tf_map is not None:
            out["tf_map"] = np.asarray(self.tf_map, dtype=np.float64).tolist()
            out["tf_band_edges_hz"] = list(self.tf_band_edges_hz or ())
            out["tf_window_times_s"] = [float(t) for t in self.tf_window_times]
        return out


def as_wave(clip: Any) -> np.ndarray:
    """(n,) float32 samples at 16 kHz from an :class:`Audio` or an array; checks rate and length."""
    if isinstance(clip, Audio):
        if clip.sr != SAMPLE_RATE:
            raise ModelError(f"audio is at {clip.sr} Hz; emotion2vec expects {SAMPLE_RATE} Hz.", source=clip.id,
                             fix="load it with workbench.audio.intake.load(), which resamples to 16 kHz.")
        wave = clip.samples
    else:
        wave = np.asarray(clip, dtype=np.float32)
    if wave.ndim != 1:
        raise ModelError(f"clip has shape {wave.shape}; expected mono samples (n,).", fix="load it with workbench.audio.intake.load().")
    if len(wave) < 4000:
        raise ModelError(f"clip has {len(wave)} samples ({len(wave) / SAMPLE_RATE * 1000:.0f} ms); attribution needs at least 250 ms.",
                         fix="explain a longer clip.")
    if not np.all(np.isfinite(wave)):
        raise ModelError("clip holds NaN or infinite samples.", fix="repair or drop the clip.")
    return np.ascontiguousarray(wave, dtype=np.float32)


def pool_frames(per_sample: np.ndarray, how: str = "sum") -> np.ndarray:
    """(n,) per-sample values → (ceil(n/320),) per 20 ms frame, by ``sum`` or ``mean``."""
    n = len(per_sample)
    T = -(-n // FRAME_SAMPLES)
    padded = np.zeros(T * FRAME_SAMPLES, dtype=np.float64)
    padded[:n] = per_sample
    blocks = padded.reshape(T, FRAME_SAMPLES)
    if how == "sum":
        return blocks.sum(1)
    counts = np.full(T, FRAME_SAMPLES, dtype=np.float64)
    counts[-1] = n - (T - 1) * FRAME_SAMPLES
    return blocks.sum(1) / counts


def noise_baseline(wave: np.ndarray, seed: int) -> np.ndarray:
    """(n,) float32 white noise at the clip's RMS, seeded: IG's baseline (see the module docstring)."""
    rms = float(np.sqrt(np.mean(wave.astype(np.float64) ** 2))) or 1e-3
    return (np.random.default_rng(seed).standard_normal(len(wave)) * rms).astype(np.float32)


def _scan_path(f: Callable[[list[float]], np.ndarray], eps: float, step: float, max_pieces: int,
               min_width: float = 1e-7) -> list[tuple[float, float]]:
    """Split [0, 1] where ``f`` (α ↦ the class log-probability on the path, forward passes only) bends or jumps.

    A piece is halved while the value at its midpoint is more than ``eps``
    off the mean of its end values (a bend, or a step off the midpoint) or
    the output moves by more than ``step`` over either half (a large step
    centred on the midpoint),
    down to ``min_width``, until ``max_pieces``; every round's midpoints are
    one batch.  Returns the pieces in order.
    """
    vals = dict(zip((0.0, 1.0), f([0.0, 1.0])))
    todo, pieces = [(0.0, 1.0)], []
    while todo:
        mids = [(a0 + a1) / 2 for a0, a1 in todo]
        for mid, v in zip(mids, f(mids)):
            vals[mid] = v
        nxt = []
        for (a0, a1), mid in zip(todo, mids):
            bent = abs(vals[mid] - (vals[a0] + vals[a1]) / 2) > eps  # a bend, or a step off the midpoint
            big = max(abs(vals[mid] - vals[a0]), abs(vals[a1] - vals[mid])) > step  # a large step, wherever it sits
            if (bent or big) and a1 - a0 > min_width and len(pieces) + len(nxt) + 2 * len(todo) < max_pieces:
                nxt += [(a0, mid), (mid, a1)]
            else:
                pieces += [(a0, mid), (mid, a1)]
        todo = nxt
    return sorted(pieces)


def _check_ig_options(n_steps: int, max_steps: int, tolerance: float) -> None:
    if not (2 <= n_steps <= max_steps // 2):
        raise ConfigError(f"IG n_steps {n_steps} must be at least 2 and at most half of max_steps ({max_steps}).",
                          fix=f"pass n_steps=2, max_steps={IG_MAX_STEPS}.")
    if not (0 < tolerance < 1):
        raise ConfigError(f"IG tolerance {tolerance} is not a share between 0 and 1.", fix="pass tolerance=0.05 (5 %).")


class _IGPath:
    """The straight path from the noise baseline ``b`` to the clip ``x`` for class ``k``: its values and its pieces' integrals.

    ``values`` costs forward passes only; ``integrate`` runs Captum's IG on
    pieces ``(α₀, α₁)`` of the path (the point at α₀ as the row's baseline, at
    α₁ as its input), so the pieces' attributions add up to the path's and
    their convergence deltas to its completeness error.  Both are batched to
    the scorer's memory budget (:meth:`ClassScore.batch_size`).
    """

    def __init__(self, scorer: ClassScore, wave: np.ndarray, k: int, *, seed: int, n_steps: int, internal_batch_size: int):
        import torch
        from captum.attr import IntegratedGradients

        self.scorer, self.k, self.n_steps = scorer, k, n_steps
        self.x = torch.as_tensor(wave, device=scorer.device)[None]
        self.b = torch.as_tensor(noise_baseline(wave, seed), device=scorer.device)[None]
        self.ig = IntegratedGradients(scorer)
        self.batch = scorer.batch_size(len(wave), internal_batch_size, gradients=True)  # long clips, smaller batches
        self.forward_batch = scorer.batch_size(len(wave), 64)
        #: α → the class log-probability at that point of the path, for every α scored so far
        self.known: dict[float, float] = {}

    def values(self, alphas: list[float]) -> np.ndarray:
        """The class log-probability at each α of the path (forward passes only; each α scored once, then remembered)."""
        import torch

        x, b, step = self.x, self.b, self.forward_batch
        new = sorted(set(alphas) - self.known.keys())
        with torch.no_grad():
            for i in range(0, len(new), step):
                part = new[i: i + step]
                out = self.scorer(b + torch.as_tensor(part, device=x.device, dtype=x.dtype)[:, None] * (x - b))[:, self.k]
                self.known.update(zip(part, out.double().cpu().numpy().tolist()))
        return np.array([self.known[a] for a in alphas], dtype=np.float64)

    def integrate(self, pieces: list[tuple[float, float]]) -> list[tuple[np.ndarray, float]]:
        """``(per-sample attribution, convergence delta)`` of each piece, Captum's IG with ``n_steps`` points per piece.

        The delta is Captum's convergence delta, sum of the piece's attributions − (f(α₁) − f(α₀)), with the end
        values from :meth:`values`: adjacent pieces share their ends and the scan has scored most of them already,
        where Captum would score both ends of every piece again (160 of 1,279 passes of a 5 s clip's explanation).
        """
        import torch

        x, b, out = self.x, self.b, []
        per_call = max(1, self.batch // self.n_steps)  # rows per Captum call: the expanded batch stays within the budget
        ends = self.values([a for p in pieces for a in p])
        for i in range(0, len(pieces), per_call):
            chunk = pieces[i: i + per_call]
            a0 = torch.as_tensor([p[0] for p in chunk], device=x.device, dtype=x.dtype)[:, None]
            a1 = torch.as_tensor([p[1] for p in chunk], device=x.device, dtype=x.dtype)[:, None]
            attr = self.ig.attribute(b + a1 * (x - b), baselines=b + a0 * (x - b), target=self.k, n_steps=self.n_steps,
                                     internal_batch_size=max(self.batch, len(chunk)))
            attr = attr.detach().double().cpu().numpy()
            for j in range(len(chunk)):
                f0, f1 = ends[2 * (i + j)], ends[2 * (i + j) + 1]
                out.append((attr[j], float(attr[j].sum() - (f1 - f0))))
        return out

    def converge(self, done: dict, used: int, budget: int, limit: float) -> tuple[dict, int, float]:
        """Halve every piece and compare the frame maps until they change by at most ``limit`` (relative L1) or the
        ``budget`` is spent: ``(the finer pieces, evaluations used, the last change)``.  A map whose sum is complete can
        still be far from the integral, its errors cancelling inside a piece: on a fine-tuned head one piece of 2
        points passed completeness at 4.6 % with the map 123 % (L1) off Captum's IG at 256 points; halving every piece
        moved it by 127 %, and so says it (recompute18)."""
        change = float("inf")
        coarse = pool_frames(np.sum([v[0] for v in done.values()], axis=0), "sum")
        while change > limit and used + 2 * self.n_steps * len(done) <= budget:
            halves = [h for a0, a1 in sorted(done) for h in ((a0, (a0 + a1) / 2), ((a0 + a1) / 2, a1))]
            done = dict(zip(halves, self.integrate(halves)))
            used += self.n_steps * len(halves)
            fine = pool_frames(np.sum([v[0] for v in done.values()], axis=0), "sum")
            change = float(np.abs(fine - coarse).sum() / max(np.abs(fine).sum(), 1e-30))
            coarse = fine
        return done, used, change

    def refine(self, done: dict, used: int, budget: int, limit: float) -> int:
        """Halve the pieces with the largest deltas until |error| ≤ ``limit`` or ``budget`` gradient evaluations are spent."""
        n = self.n_steps
        while _piece_error(done) > limit and used + 2 * n <= budget:
            room = (budget - used) // (2 * n)
            worst = sorted(done, key=lambda ab: -abs(done[ab][1]))[: max(1, min(room, len(done) // 4 + 1))]
            halves = []
            for a0, a1 in worst:
                del done[(a0, a1)]
                halves += [(a0, (a0 + a1) / 2), ((a0 + a1) / 2, a1)]
            done.update(zip(halves, self.integrate(halves)))
            used += n * len(halves)
        return used


def _path_error(done: dict) -> float:
    """The completeness error of a set of integrated pieces: the sum of their convergence deltas."""
    return sum(d for _, d in done.values())


def _piece_error(done: dict) -> float:
    """The sum of the pieces' |convergence deltas|: the bound the refinement and the check hold to.  Their signed sum
    (:func:`_path_error`) let pieces' errors cancel: 0.43 and −0.33 nats on two pieces of a 2.35-nat path passed as
    3.9 % while the map was 86 % (L1) off Captum's at 256 points (recompute18)."""
    return sum(abs(d) for _, d in done.values())


def integrated_gradients(scorer: ClassScore, wave: np.ndarray, target: str, *, n_steps: int = 2,
                         max_steps: int = IG_MAX_STEPS, tolerance: float = COMPLETENESS_TOLERANCE,
                         internal_batch_size: int = 16, seed: int = 0) -> Attribution:
    """Integrated Gradients (Captum) on the waveform, its path split until it is complete; summed per 20 ms frame.

    Completeness: the attributions sum to ``f(x) - f(baseline)``, f the
    log-probability of ``target``.  1. One piece of the path, the pieces with
    the largest deltas halved while the error (the sum of the pieces' |deltas|:
    a signed sum let +x and −x pass as complete) exceeds ``tolerance`` ×
    |f(x) − f(baseline)| (at least :data:`GAP_FLOOR`), for up to
    ``max_steps / 16`` gradient evaluations (a smooth path ends here).
    2. Otherwise the path is a staircase (see "Why pieces" in the module
    docstring): its steps are found with forward passes (:func:`_scan_path`),
    Captum integrates every piece, and the worst pieces are halved until
    complete or ``max_steps`` evaluations are spent.  3. Every piece is halved
    until the frame map moves by at most :data:`MAP_TOLERANCE` (its errors can
    cancel inside a piece: a complete sum is no converged map).  A map left above
    either tolerance has ``checks["completeness"]["passed"] = False`` and is marked
    unreliable wherever it is shown.

    Parameters
    ----------
    n_steps : int
        Gauss–Legendre points per piece of the path.
    max_steps : int
        Cap on the gradient evaluations of one map (all pieces together, refinement included).
    tolerance : float
        Allowed relative completeness error (0.05 = 5 %).
    internal_batch_size : int
        Rows per gradient pass at most (made smaller for long clips by the memory budget).
    seed : int
        Seed of the white-noise baseline (at the clip's RMS; not zeros, see the module docstring).
    """
    _check_ig_options(n_steps, max_steps, tolerance)
    t0 = time.perf_counter()
    path = _IGPath(scorer, wave, scorer.labels.index(target), seed=seed, n_steps=n_steps, internal_batch_size=internal_batch_size)
    f_x, f_b = (float(v) for v in path.values([1.0, 0.0]))
    gap = f_x - f_b
    scale = max(abs(gap), GAP_FLOOR)
    # phase 1: one piece, halved where Captum's delta is largest (enough for a smooth path)
    done = {(0.0, 1.0): path.integrate([(0.0, 1.0)])[0]}
    first_error = abs(done[(0.0, 1.0)][1]) / scale  # the one-piece integral, for the record (n_steps points)
    used = path.refine(done, n_steps, max(2 * n_steps, max_steps // 16), tolerance * scale)
    scanned = _piece_error(done) > tolerance * scale
    if scanned:  # phase 2: a staircase; find its steps with forward passes, integrate every piece, go on halving
        pieces = _scan_path(path.values, tolerance * scale / 4, tolerance * scale, max(1, max_steps // (4 * n_steps)))
        done = dict(zip(pieces, path.integrate(pieces)))
        used = path.refine(done, used + n_steps * len(pieces), max_steps, tolerance * scale)
    done, used, change = path.converge(done, used, max_steps, MAP_TOLERANCE)
    per_sample = np.sum([v[0] for v in done.values()], axis=0)
    err, bound = _path_error(done), _piece_error(done)
    completeness = {
        "f_input": f_x, "f_baseline": f_b, "gap": gap, "sum": float(per_sample.sum()), "error": err,
        # the pieces' errors in size, which no cancellation between them can hide: what is checked and said
        "relative_error": bound / scale, "sum_relative_error": abs(err) / scale, "measure": "sum of the path pieces' |error|",
        "tolerance": tolerance, "passed": bool(bound <= tolerance * scale and change <= MAP_TOLERANCE),
        # the map's relative L1 change when every piece was last halved (None: the cap left no room to halve them)
        "map_change": change if np.isfinite(change) else None, "map_tolerance": MAP_TOLERANCE,
        "gradient_evaluations": used, "cap": max_steps, "segments": len(done),
        "first_pass_relative_error": first_error, "path_scanned_for_steps": scanned,
        "denominator": "|f(x) - f(baseline)|" + (f" (floored at {GAP_FLOOR} nats)" if abs(gap) < GAP_FLOOR else ""),
    }
    return Attribution("ig", target, pool_frames(per_sample, "sum"), time.perf_counter() - t0,
                       params={"n_steps_per_piece": n_steps, "max_steps": max_steps, "baseline": "white noise at the clip's RMS",
                               "seed": seed, "pooling": "sum over 20 ms",
                               "quadrature": "Gauss-Legendre per piece; path split where the output jumps, worst pieces halved",
                               "path_pieces": [[a0, a1, d] for (a0, a1), (_, d) in sorted(done.items())],
                               "dtype": scorer.dtype},
                       convergence_delta=err, checks={"completeness": completeness})


def map_stability(maps: list[np.ndarray], seeds: list[int], threshold: float = STABILITY_THRESHOLD) -> dict:
    """Spearman rank correlation between maps made with different baseline seeds (pairwise).

    The map is called stable when the *smallest* pairwise correlation is at
    least ``threshold``: the frames it ranks first do not depend on the noise
    drawn for the baseline.
    """
    from scipy.stats import spearmanr

    pairs = []
    for i in range(len(maps)):
        for j in range(i + 1, len(maps)):
            r = spearmanr(maps[i], maps[j]).statistic
            pairs.append({"seeds": [seeds[i], seeds[j]], "spearman": float(r) if np.isfinite(r) else float("nan")})
    rs = np.array([p["spearman"] for p in pairs], dtype=float)
    # a pair with no rank correlation (a seed's map is constant) is no agreement: nanmin skipped it, so maps of seeds
    # 0 and 1 at 0.9 and a constant map of seed 2 read "stable, min 0.90"; the minimum is then undefined and fails
    worst = float(np.min(rs)) if rs.size and np.isfinite(rs).all() else float("nan")
    return {"seeds": list(seeds), "pairs": pairs, "min_spearman": worst, "undefined_pairs": int(np.isnan(rs).sum()),
            "mean_spearman": float(np.nanmean(rs)) if np.isfinite(rs).any() else float("nan"),
            "threshold": threshold, "passed": bool(np.isfinite(worst) and worst >= threshold)}


def time_occlusion(scorer: ClassScore, wave: np.ndarray, target: str, *, window_s: float = 0.2, stride_s: float = 0.04,
                   perturbations_per_eval: int = 16) -> Attribution:
    """Occlusion (Captum) over time windows of the waveform; removed samples are zeros."""
    import torch
    from captum.attr import Occlusion

    _check_window(window_s, stride_s, len(wave))
    t0 = time.perf_counter()
    win, stride = int(round(window_s * SAMPLE_RATE)), int(round(stride_s * SAMPLE_RATE))
    x = torch.as_tensor(wave, device=scorer.device)[None]
    attr = Occlusion(scorer).attribute(x, sliding_window_shapes=(win,), strides=(stride,), baselines=0.0,
                                        target=scorer.labels.index(target), perturbations_per_eval=scorer.batch_size(len(wave), perturbations_per_eval))
    rel = pool_frames(attr[0].detach().cpu().numpy().astype(np.float64), "mean")
    return Attribution("occlusion", target, rel, time.perf_counter() - t0,
                       params={"window_s": window_s, "stride_s": stride_s, "removal": "zeros in the raw input"})


def tf_occlusion(scorer: ClassScore, wave: np.ndarray, target: str, *, window_s: float = 0.2,
                 band_edges_hz: tuple[float, ...] = TF_BAND_EDGES_HZ, perturbations_per_eval: int = 16) -> Attribution:
    """Band × window occlusion on the STFT (Captum ``FeatureAblation``), applied back to the waveform.

    Returns an :class:`Attribution` with ``tf_map`` (bands, windows): the drop
    of the class log-probability when that cell is zeroed; ``frame_relevance``
    is the sum over bands spread evenly over the window's 20 ms frames.
    """
    import torch
    from captum.attr import FeatureAblation

    _check_window(window_s, window_s, len(wave))
    edges = tuple(float(e) for e in band_edges_hz)
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])) or edges[0] < 0 or edges[-1] > SAMPLE_RATE / 2:
        raise ConfigError(f"band edges {edges} are not increasing within 0–8000 Hz.", fix="pass e.g. (0, 500, 1000, 2000, 4000, 8000).")
    t0 = time.perf_counter()
    n = len(wave)
    dev = scorer.device
    window = torch.hann_window(STFT_N_FFT, device=dev)
    spec = torch.stft(torch.as_tensor(wave, device=dev), STFT_N_FFT, STFT_HOP, window=window, return_complex=True)
    F_bins, T_stft = spec.shape
    freqs = np.arange(F_bins) * SAMPLE_RATE / STFT_N_FFT
    band_of = np.clip(np.searchsorted(edges, freqs, side="right") - 1, 0, len(edges) - 2)
    win_frames = max(1, int(round(window_s * SAMPLE_RATE / STFT_HOP)))
    win_of = np.arange(T_stft) // win_frames
    n_win = int(win_of.max()) + 1
    n_bands = len(edges) - 1
    band_t, win_t = torch.as_tensor(band_of, device=dev), torch.as_tensor(win_of, device=dev)

    def forward(gates):
        """(B, bands, windows) gates of 1 (kept) or 0 (ablated) → the scores of the gated spectrograms, inverted."""
        z = spec[None] * gates[:, band_t][:, :, win_t]  # every STFT cell times its group's gate: kept exactly or zeroed
        return scorer(torch.istft(z, STFT_N_FFT, STFT_HOP, window=window, length=n))

    # Captum ablates the (bands × windows) gates, one feature each, instead of the (2, F, T) spectrogram under a
    # feature mask: the same ablated clips (a cell × 1 is the cell, × 0 is zeros) without building and masking a
    # full spectrogram copy per perturbation (1.6 of 3.0 s for a 5 s clip with tiny)
    gates = torch.ones(1, n_bands, n_win, device=dev)
    attr = FeatureAblation(forward).attribute(gates, baselines=0.0, target=scorer.labels.index(target),
                                               perturbations_per_eval=scorer.batch_size(len(wave), perturbations_per_eval))
    tf_map = attr[0].detach().double().cpu().numpy()  # (bands, windows): the drop when that cell is zeroed
    T = -(-n // FRAME_SAMPLES)
    frame_win = np.minimum((np.arange(T) * FRAME_SAMPLES // STFT_HOP) // win_frames, n_win - 1)
    frames_per_win = np.bincount(frame_win, minlength=n_win).astype(float)
    rel = tf_map.sum(0)[frame_win] / frames_per_win[frame_win]
    return Attribution("tf-occlusion", target, rel, time.perf_counter() - t0,
                       params={"window_s": window_s, "n_fft": STFT_N_FFT, "hop": STFT_HOP, "removal": "zeroed STFT cells, inverse STFT"},
                       tf_map=tf_map, tf_band_edges_hz=edges, tf_window_times=np.arange(n_win) * win_frames * STFT_HOP / SAMPLE_RATE)


def attribute(model: Emotion2vecModel, clip: Any, *, target: str | None = None, method: str = "ig",
              scorer: ClassScore | None = None, **options: Any) -> Attribution:
    """Evidence for ``target`` (default: the predicted class) in ``clip`` by one method.

    Parameters
    ----------
    model : Emotion2vecModel
    clip : Audio or (n,) float array at 16 kHz
    target : str, optional
        One of the model's labels (``model.labels``).
    method : {"ig", "occlusion", "tf-occlusion"}
    **options
        Passed to the method's function (e.g. ``window_s``, ``n_steps``).

    Returns
    -------
    Attribution
    """
    if method not in METHODS:
        raise ConfigError(f"unknown attribution method {method!r}.", fix=f"use one of {', '.join(METHODS)}.")
    scorer = scorer or ClassScore(model)
    wave = as_wave(clip)
    target = resolve_target(scorer, wave, target)
    fn = {"ig": integrated_gradients, "occlusion": time_occlusion, "tf-occlusion": tf_occlusion}[method]
    try:
        return fn(scorer, wave, target, **options)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise ConfigError(f"option not accepted by method {method!r}: {exc}.", fix="see `help(workbench.explain.attribution)` for each method's options.") from None
        raise


def _check_window(window_s: float, stride_s: float, n: int) -> None:
    if not (0.02 <= window_s <= n / SAMPLE_RATE):
        raise ConfigError(f"occlusion window {window_s} s is outside 0.02 s – the clip's length ({n / SAMPLE_RATE:.2f} s).", fix="pass window_s=0.2.")
    if not (0.01 <= stride_s <= window_s):
        raise ConfigError(f"occlusion stride {stride_s} s is outside 0.01 s – the window ({window_s} s).", fix="pass stride_s=0.04.")
