"""One clip explained: attributions by each method, each checked, and the top-evidence span.

:func:`explain_clip` runs the methods of :mod:`workbench.explain.attribution`
on one clip and checks every map: IG's completeness (its path refined until
the error is within 5 %, else the map is marked unreliable), its stability
over baseline seeds, the faithfulness of every ranking (deletion/insertion
against 32 random orders with an interval, and the frame-score order) and the
model randomisation check.  The top-evidence span comes only from a method
that passed all its checks, and only where that method finds evidence *for*
the class; otherwise there is no span and the explanation says why.
:class:`Explanation` serialises to strict JSON (no NaN) and carries the
model's banner (random weights, synthetic cues) when it has one;
:func:`report_lines` is what the CLI prints.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from workbench.errors import ConfigError, printable
from workbench.labels import LABEL_KEYS
from workbench.model.network import FRAME_RATE, Emotion2vecModel
from workbench.data.cards import random_weights_banner
from workbench.explain.attribution import (
    FRAME_SAMPLES,
    METHODS,
    SAMPLE_RATE,
    Attribution,
    STABILITY_SEEDS,
    ClassScore,
    as_wave,
    integrated_gradients,
    map_stability,
    resolve_target,
    tf_occlusion,
    time_occlusion,
)
from workbench.explain.faithfulness import (
    N_RANDOM,
    RANDOMISATION_THRESHOLD,
    RANDOMISATIONS,
    Faithfulness,
)
from workbench.explain.faithfulness import RandomisationCheck, faithfulness, randomisation_check
from workbench.explain.scoring import gradient_model

METHOD_FUNCTIONS = {"ig": integrated_gradients, "occlusion": time_occlusion, "tf-occlusion": tf_occlusion}


def run_row_gap(rr: dict | None) -> str | None:
    """The warning when an explained clip's scores are not its run row's (``None`` when they are, or no row): the
    screen and the figure's heading say it alike."""
    if rr is None or rr.get("equal"):
        return None
    gap = f"the scores differ from the run's row by up to {rr['max_abs_difference']:.2g} (tolerance {rr['tolerance']:g})"
    explained = rr.get("explained_dtype") or rr["row_dtype"]
    if rr["row_dtype"] != explained:  # a run scored in a path without gradients (auto's ONNX Runtime or int8)
        return (f"{gap}: the run scored in {rr['row_dtype']}, the explanation in {explained} (attribution needs "
                f"gradients); the run's summary.json holds {rr['row_dtype']}'s measured agreement with float32")
    return f"{gap} although the run's model and dtype ({rr['row_dtype']}) were used"


def _rho(r: float | None) -> str:
    """A rank correlation to two decimals, or "undefined (a map is constant)" where spearmanr gave none (NaN, or the
    JSON's null)."""
    return f"{r:.2f}" if r is not None and np.isfinite(r) else "undefined (a map is constant)"


def map_change_words(c: dict) -> str:
    """IG's map convergence in words: how far the map moved when every piece of its path was last halved."""
    if c.get("map_change") is None:
        return "map convergence not measured (the gradient cap left no room to halve the path's pieces)"
    return f"map change {c['map_change']:.1%} (L1) when every path piece was halved (tolerance {c['map_tolerance']:.0%})"


def randomisation_words(r) -> str:
    """The randomisation check's figure and its rule in words: the rule is on the size of the rank correlation, so a
    map strongly anti-correlated with the re-initialised network's fails too (it still follows the input)."""
    rho = r.spearman[-1]
    if not np.isfinite(rho):  # spearmanr of a constant map: no rank to correlate, so no verdict (it read "nan … passed")
        return (f"rank corr with the re-initialised network undefined (one of the two maps is constant; "
                f"|r| must stay below {RANDOMISATION_THRESHOLD:.2f})")
    return (f"rank corr with the re-initialised network {rho:.2f}, |r| = {abs(rho):.2f} "
            f"(|r| must stay below {RANDOMISATION_THRESHOLD:.2f})")


@dataclass
class Explanation:
    """Everything ``workbench explain`` reports for one clip (see :func:`explain_clip`)."""

    id: str
    duration: float
    target: str
    scores: dict[str, float]
    frame_logits: np.ndarray  # (T_model, C), in ``labels`` order
    attributions: dict[str, Attribution]
    faithfulness: dict[str, Faithfulness]
    randomisation: dict[str, RandomisationCheck] = field(default_factory=dict)
    #: why the model-randomisation check was not run (``None``: it was run); said wherever the maps are shown
    randomisation_skipped: str | None = None
    top_span: tuple[float, float] | None = None  # s; None: no span supports the class
    top_span_method: str | None = None
    top_span_note: str = ""  # why there is no span (or which method it came from)
    model: dict = field(default_factory=dict)
    banner: str | None = None
    voice: dict | None = None  # F0/intensity on the frame grid (voice.contours_on_frames), set by the caller
    words: dict | None = None  # per-word spans, scores and shares (words.words_record), set by the caller
    #: the model's classes, in the order of ``frame_logits``' columns
    labels: tuple[str, ...] = LABEL_KEYS

    @property
    def predicted(self) -> str:
        return max(self.scores, key=self.scores.get)

    def to_dict(self) -> dict:
        out = {
            "id": self.id,
            "warning": self.banner,
            "duration_s": self.duration,
            "predicted": self.predicted,
            "target": self.target,
            "scores": self.scores,
            "frame_scores": {"rate_hz": FRAME_RATE, "labels": list(self.labels),
                             "logits": np.round(self.frame_logits, 5).tolist()},
            "methods": {m: {"attribution": a.to_dict(), "faithfulness": self.faithfulness[m].to_dict() if m in self.faithfulness else None,
                            "randomisation": self._randomisation_record(m),
                            "reliable": not self.problems(m), "problems": self.problems(m)}
                        for m, a in self.attributions.items()},
            "top_evidence": ({"start_s": self.top_span[0], "end_s": self.top_span[1], "method": self.top_span_method, "note": self.top_span_note}
                             if self.top_span is not None else
                             {"start_s": None, "end_s": None, "method": None, "note": self.top_span_note}),
            "model": self.model,
            "voice": self.voice,
            "words": self.words,
        }
        return _finite(out)

    def _randomisation_record(self, method: str) -> dict:
        """The method's randomisation check, or why it was not run (``passed`` null, ``skipped`` the reason)."""
        if method in self.randomisation:
            return self.randomisation[method].to_dict()
        return {"method": method, "passed": None, "skipped": self.randomisation_skipped or "not run"}

    def problems(self, method: str) -> list[str]:
        """Every failed check of ``method``'s map, in words (empty: the map passed all its checks)."""
        a = self.attributions[method]
        out = []
        c = a.checks.get("completeness")
        if c is not None and not c["passed"] and c["relative_error"] > c["tolerance"]:
            out.append(f"UNRELIABLE: IG completeness error {c['relative_error']:.1%} of |f(x) - f(baseline)| = {abs(c['gap']):.3g} nats "
                       f"(tolerance {c['tolerance']:.0%}) after {c['gradient_evaluations']} gradient evaluations (cap {c['cap']})")
        elif c is not None and not c["passed"]:  # complete, but the map still moved when every piece of the path was halved
            out.append(f"UNRELIABLE: IG map not converged: {map_change_words(c)} after {c['gradient_evaluations']} gradient "
                       f"evaluations (cap {c['cap']})")
        st = a.checks.get("stability")
        if st is not None and st.get("passed") is False:
            out.append(f"UNSTABLE: maps from baseline seeds {', '.join(map(str, st['seeds']))} rank-correlate down to "
                       f"{_rho(st['min_spearman'])} (threshold {st['threshold']:.2f})")
        f = self.faithfulness.get(method)
        if f is not None and not f.passed:
            out.append(f"NOT FAITHFUL: {f.problem()}")
        r = self.randomisation.get(method)
        if r is not None and r.passed is False:
            out.append(f"FAILS MODEL RANDOMISATION: {randomisation_words(r)}")
        elif r is not None and r.spearman and r.passed is None:  # run, but no verdict: the map is not known to depend on the weights
            out.append(f"RANDOMISATION UNDETERMINED: {randomisation_words(r)}")
        return out

    def check_lines(self, method: str) -> list[str]:
        """The checks of ``method``'s map, passed or not, one line each (screen and widget)."""
        a = self.attributions[method]
        lines = []
        f = self.faithfulness.get(method)
        lines.append(f.summary() if f is not None else "faithfulness not measured")
        c = a.checks.get("completeness")
        grad_dtype = a.params.get("dtype")
        if c is not None and grad_dtype and grad_dtype != self.model.get("scored_in"):
            lines.append(f"gradients in {grad_dtype} on the same weights (in {self.model.get('scored_in')} the path moves in rounding "
                         f"steps that gradients do not see); the curves are scored in {self.model.get('scored_in')}")
        if c is not None:
            lines.append(f"completeness error {c['relative_error']:.1%} of |f(x) - f(baseline)| = {abs(c['gap']):.3g} nats "
                         f"(tolerance {c['tolerance']:.0%}; {c['gradient_evaluations']} gradient evaluations, cap {c['cap']}; "
                         f"{c['segments']} path segment(s)); {map_change_words(c)}" + ("" if c["passed"] else " FAILED"))
        st = a.checks.get("stability")
        if st is not None and st.get("applicable", True):
            if st.get("passed") is None and not st.get("pairs"):
                lines.append("stability over baseline seeds: not measured (one seed)")
            else:
                lines.append(f"stability over baseline seeds {', '.join(map(str, st['seeds']))}: rank corr min {_rho(st['min_spearman'])}, "
                             f"mean {_rho(st['mean_spearman'])} (threshold {st['threshold']:.2f}): {'stable' if st['passed'] else 'UNSTABLE'}")
        elif st is not None:
            lines.append(f"stability: {st['reason']}")
        r = self.randomisation.get(method)
        if r is not None and r.spearman:
            verdict = {True: "passed", False: "FAILED"}.get(r.passed, "UNDETERMINED")
            lines.append(f"randomised-model ({r.kind}) {randomisation_words(r)}: {verdict}")
        elif r is None:
            lines.append(f"model randomisation check: skipped, {self.randomisation_skipped or 'not run'} "
                         "(the map is not known to depend on the trained weights)")
        return lines

    def check_phrases(self, method: str) -> list[str]:
        """The figure strip's short form of :meth:`check_lines` (also explanation.json's captions): each check's figure
        with its bound, passed or not (a passing "completeness error 1.9%" said nothing of the 5 % it is held to)."""
        a, out = self.attributions[method], []
        c = a.checks.get("completeness")
        if c is not None:
            out.append(f"completeness error {c['relative_error']:.1%} (≤ {c['tolerance']:.0%})"
                       + (f", map change {c['map_change']:.1%} (≤ {c['map_tolerance']:.0%})" if c.get("map_change") is not None else "")
                       + ("" if c["passed"] else " FAILED"))
        st = a.checks.get("stability")
        if st is not None and st.get("pairs"):
            out.append(f"seed rank corr min {_rho(st['min_spearman'])} (≥ {st['threshold']:.2f})" + (" FAILED" if st.get("passed") is False else ""))
        r = self.randomisation.get(method)
        if r is not None and r.spearman:
            rho = r.spearman[-1]
            out.append("randomised-model rank corr undefined (a map is constant) UNDETERMINED" if r.passed is None else
                       f"randomised-model rank corr {rho:.2f} " + (f"FAILED (|r| ≥ {RANDOMISATION_THRESHOLD:.1f})" if r.passed is False
                                                                   else f"(|r| < {RANDOMISATION_THRESHOLD:.1f})"))
        elif r is None:
            out.append("model randomisation check skipped")
        return out

    def to_json(self) -> str:
        """Strict JSON: NaN and infinities become ``null``."""
        return json.dumps(self.to_dict(), indent=1, allow_nan=False, ensure_ascii=False)


def _finite(o: Any) -> Any:
    if isinstance(o, dict):
        return {str(k): _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    if isinstance(o, (np.floating, float)):
        return float(o) if math.isfinite(o) else None
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.ndarray):
        return _finite(o.tolist())
    return o


def top_evidence_span(relevance: np.ndarray, span_s: float = 0.3) -> tuple[float, float] | None:
    """The ``span_s`` window (on the 20 ms grid) with the largest summed relevance: ``(start, end)`` in s.

    ``None`` when no window has a positive sum: the map holds no evidence *for* the class there.
    """
    rel = np.asarray(relevance, dtype=float)
    k = max(1, min(len(rel), int(round(span_s * SAMPLE_RATE / FRAME_SAMPLES))))
    sums = np.convolve(rel, np.ones(k), mode="valid")
    i = int(np.argmax(sums))
    if not sums[i] > 0:
        return None
    step = FRAME_SAMPLES / SAMPLE_RATE
    return (round(i * step, 4), round((i + k) * step, 4))


#: the longest clip :func:`explain_clip` takes, seconds (memory and time grow with the length; see the error)
MAX_EXPLAIN_S = 30.0


def check_explain_length(n_samples: int, *, source: str | None = None) -> None:
    """Refuse a clip longer than :data:`MAX_EXPLAIN_S` (16 kHz samples), before any model work."""
    if n_samples > MAX_EXPLAIN_S * SAMPLE_RATE:
        raise ConfigError(
            f"the clip is {n_samples / SAMPLE_RATE:.1f} s long; explain takes at most {MAX_EXPLAIN_S:g} s (its memory and time "
            "grow with the length times the curve points and occlusion windows).",
            source=source, fix="explain a segment: cut the clip (workbench segment, or start/duration in a manifest row).")


def pick_top_evidence(expl: "Explanation", span_s: float = 0.3) -> tuple[tuple[float, float] | None, str | None, str]:
    """(span, method, note): the span from the most faithful method that passed every check and finds evidence for the class.

    Methods are tried in order of insertion minus deletion AUC; a method with
    a failed check is never used.  With no such method, or none with a
    window of positive evidence, the span is ``None`` and the note says
    "no span supports this class" and why.
    """
    passed = [m for m in expl.attributions if not expl.problems(m)]
    if not passed:
        failed = "; ".join(f"{m}: {expl.problems(m)[0]}" for m in expl.attributions)
        return None, None, f"no span supports this class: no method passed its checks ({failed})"

    def score(m: str) -> float:
        f = expl.faithfulness.get(m)
        return f.method.insertion_auc - f.method.deletion_auc if f is not None else -np.inf

    for m in sorted(passed, key=score, reverse=True):
        span = top_evidence_span(expl.attributions[m].frame_relevance, span_s)
        if span is not None:
            return span, m, f"from {m}, the most faithful method that passed its checks"
    return None, None, (f"no span supports this class: {', '.join(passed)} find{'s' if len(passed) == 1 else ''} no window of positive evidence for "
                        f"'{expl.target}' (every {span_s:.2f} s window sums to zero or less)")


def report_lines(expl: "Explanation") -> list[str]:
    """What ``workbench explain`` prints: the prediction, each method's figures with its checks and flags, the span."""
    lines = [f"{printable(expl.id)}: predicted {expl.predicted} ({expl.scores[expl.predicted]:.2f}); explaining '{expl.target}'"
             f" · scored in {expl.model.get('dtype')}"]
    for m in expl.attributions:
        checks = expl.check_lines(m)
        lines.append(f"  {m:>12}: {checks[0]}")
        lines.extend(f"  {'':>12}  {c}" for c in checks[1:])
        lines.extend(f"  {'':>12}  ⚠ {p}" for p in expl.problems(m))
    if expl.top_span is not None:
        lines.append(f"  top evidence {expl.top_span[0]:.2f}–{expl.top_span[1]:.2f} s ({expl.top_span_note})")
    else:
        lines.append(f"  ⚠ {expl.top_span_note}")
    return lines


def _check_explain_options(methods: tuple[str, ...], randomisation: str | None, seeds: int, options: dict | None) -> dict:
    """Refuse unknown methods, randomisations, seed counts and option keys (valid ones listed); the options as a dict."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ConfigError(f"unknown attribution method(s) {unknown or methods}.", fix=f"use some of {', '.join(METHODS)}.")
    if randomisation is not None and randomisation not in RANDOMISATIONS:
        raise ConfigError(f"unknown randomisation {randomisation!r}.", fix=f"use one of {', '.join(RANDOMISATIONS)}, or None to skip it.")
    if not (1 <= int(seeds) <= 10):
        raise ConfigError(f"seeds={seeds} baseline seeds for the stability check is outside 1–10.", fix=f"pass seeds={len(STABILITY_SEEDS)}.")
    options = dict(options or {})
    bad = [k for k in options if k not in METHODS]
    if bad:
        raise ConfigError(f"options given for unknown method(s) {bad}.", fix=f"key options by {', '.join(METHODS)}.")
    return options


def _stability_check(fn: Any, first: Attribution, scorer: ClassScore, wave: np.ndarray, opts: dict, seeds: int) -> dict:
    """IG's map again for baseline seeds s+1 … s+seeds-1, rank-correlated with ``first`` (:func:`map_stability`)."""
    s0 = int(opts.get("seed", 0))
    seed_list = [s0 + i for i in range(int(seeds))]
    if len(seed_list) == 1:
        return {"seeds": seed_list, "pairs": [], "passed": None}
    others = [partial(fn, **{**opts, "seed": s})(scorer, wave, first.target) for s in seed_list[1:]]
    st = map_stability([first.frame_relevance, *[o.frame_relevance for o in others]], seed_list)
    st["completeness_passed"] = [first.checks["completeness"]["passed"], *[o.checks["completeness"]["passed"] for o in others]]
    return st


def _checked_map(model: Emotion2vecModel, scorer: ClassScore, wave: np.ndarray, target: str, method: str, opts: dict, *,
                 seeds: int, steps: int, n_random: int, randomisation: str | None, references: dict | None = None):
    """One method's map with every check: (attribution with its stability, faithfulness, randomisation check or None).

    ``references``: the method-free faithfulness curves of this clip, shared by its methods (computed once)."""
    fn = partial(METHOD_FUNCTIONS[method], **opts)
    # IG differentiates float32 for a bfloat16/float16 model (gradient_model); the curves below score the model as loaded
    grad_model, grad_scorer = gradient_model(model, scorer) if method == "ig" else (model, scorer)
    try:
        a = fn(grad_scorer, wave, target)
    except TypeError as exc:
        raise ConfigError(f"option not accepted by method {method!r}: {exc}.",
                          fix="see the method's function in workbench.explain.attribution.") from None
    if method == "ig":
        a.checks["stability"] = _stability_check(METHOD_FUNCTIONS[method], a, grad_scorer, wave, opts, seeds)
    else:
        a.checks["stability"] = {"applicable": False, "passed": None,
                                 "reason": "deterministic (removal is zeros, no random baseline): no seed to vary"}
    faith = faithfulness(scorer, wave, a, steps=steps, n_random=n_random, references=references)
    rand = (randomisation_check(grad_model, wave, a, fn, kind=randomisation, max_batch=scorer.max_batch)
            if randomisation is not None else None)
    return a, faith, rand


def _model_record(model: Emotion2vecModel, scorer: ClassScore, attributions: dict) -> dict:
    """What the explanation says about the model: id, checkpoint, checksum, size, device, dtype, temperature, and the
    precision IG differentiated (``ig_gradients_in``: float32 for a bfloat16/float16 model, :func:`gradient_model`)."""
    info = model.info.to_dict()
    ig = {"ig_gradients_in": attributions["ig"].params.get("dtype")} if "ig" in attributions else {}
    return {**{k: info.get(k) for k in ("id", "kind", "path", "checksum", "parameters", "device", "dtype")},
            "temperature": model.info.temperature, "scored_in": scorer.dtype,
            "gradient_free_passes": getattr(scorer, "forward_name", f"torch {scorer.dtype}"), **ig}


def _banner(info) -> str | None:
    """A random model's banner in the words every command prints (a head: its name and its random parent's)."""
    return random_weights_banner(info) if getattr(info, "random_weights", False) else info.warning


def explain_clip(
    model: Emotion2vecModel,
    clip: Any,
    *,
    target: str | None = None,
    methods: tuple[str, ...] = METHODS,
    steps: int = 20,
    n_random: int = N_RANDOM,
    seeds: int = len(STABILITY_SEEDS),
    randomisation: str | None = "full",
    span_s: float = 0.3,
    item_id: str | None = None,
    options: dict[str, dict] | None = None,
    scorer: ClassScore | None = None,
) -> Explanation:
    """Explain one clip: attribution by each method, every map checked, the top-evidence span.

    Parameters
    ----------
    model : Emotion2vecModel
        Scored as loaded: its precision (dtype) and temperature are used, so
        the scores equal a run's row made with the same model.
    clip : Audio or (n,) float array at 16 kHz, 250 ms to :data:`MAX_EXPLAIN_S` seconds
    target : str, optional
        Class to explain, one of the model's labels (default: the predicted one).
    methods : tuple of {"ig", "occlusion", "tf-occlusion"}
    steps : int
        Points of the deletion/insertion curves (each costs one forward pass per curve).
    n_random : int
        Random orders behind the faithfulness reference and its 95 % interval (at least 10).
    seeds : int
        Baseline seeds of IG's stability check (maps for seeds s, s+1, … are
        rank-correlated; 1 skips the check, which is then said to be not measured).
    randomisation : {"full", "cascading", None}
        Model-randomisation check per method (``None`` skips it, said in every output).
    span_s : float
        Length of the top-evidence span in seconds.
    item_id : str, optional
        The name the explanation carries (default: the clip's id, else ``clip``).
    options : dict, optional
        Per-method keyword options, e.g. ``{"occlusion": {"window_s": 0.1}}``.
    scorer : ClassScore, optional
        The differentiable model (default ``ClassScore(model)``, batched to the memory budget).

    Returns
    -------
    Explanation
        ``to_json()`` is strict JSON; ``problems(method)`` lists a map's failed checks.

    Examples
    --------
    >>> model = wb.load_model("tiny", device="cpu")
    >>> t = np.arange(16000) / 16000
    >>> clip = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    >>> expl = wb.explain_clip(model, clip, methods=("occlusion",), steps=4, randomisation=None, item_id="tone")
    >>> expl.id, expl.target in model.labels, len(expl.attributions["occlusion"].frame_relevance)
    ('tone', True, 50)
    >>> expl.to_dict()["methods"]["occlusion"]["randomisation"]["skipped"]
    'not requested (randomisation=None)'
    """
    options = _check_explain_options(methods, randomisation, seeds, options)
    wave = as_wave(clip)
    check_explain_length(len(wave), source=item_id)
    scorer = scorer or ClassScore(model)
    logp = scorer.log_probs(wave[None])[0]
    target = resolve_target(scorer, wave, target)
    attributions, faith, rand, references = {}, {}, {}, {}
    for m in methods:
        attributions[m], faith[m], rand[m] = _checked_map(model, scorer, wave, target, m, options.get(m, {}), seeds=seeds,
                                                          steps=steps, n_random=n_random, randomisation=randomisation,
                                                          references=references)
    expl = Explanation(
        id=item_id or getattr(clip, "id", None) or "clip", duration=len(wave) / SAMPLE_RATE, target=target,
        scores={k: float(np.exp(v)) for k, v in zip(scorer.labels, logp)}, labels=scorer.labels,
        frame_logits=scorer.frame_logits(wave), attributions=attributions, faithfulness=faith,
        randomisation={m: r for m, r in rand.items() if r is not None},
        randomisation_skipped=None if randomisation is not None else "not requested (randomisation=None)",
        model=_model_record(model, scorer, attributions), banner=_banner(model.info))
    expl.top_span, expl.top_span_method, expl.top_span_note = pick_top_evidence(expl, span_s)
    return expl


def summarise(explanations: list[Explanation]):
    """Faithfulness per method over many explained items (a run's worst cases, a test set).

    Returns a pandas DataFrame, one row per method: ``items``; the mean
    deletion and insertion AUC of the method, of the random order and of the
    frame-score order; ``deletion_beats_random`` and ``insertion_beats_random``
    (share of items where the method's curve is better than random); and the
    mean Spearman correlation with the randomised network (NaN when not run).
    """
    import pandas as pd

    rows = []
    methods = sorted({m for e in explanations for m in e.faithfulness})
    for m in methods:
        fs = [e.faithfulness[m] for e in explanations if m in e.faithfulness]
        rs = [e.randomisation[m].spearman[-1] for e in explanations if m in e.randomisation and e.randomisation[m].spearman]
        rows.append({
            "method": m,
            "items": len(fs),
            "deletion_auc": float(np.mean([f.method.deletion_auc for f in fs])),
            "deletion_auc_random": float(np.mean([f.random.deletion_auc for f in fs])),
            "deletion_auc_frame_score": float(np.mean([f.frame_score.deletion_auc for f in fs])),
            "insertion_auc": float(np.mean([f.method.insertion_auc for f in fs])),
            "insertion_auc_random": float(np.mean([f.random.insertion_auc for f in fs])),
            "insertion_auc_frame_score": float(np.mean([f.frame_score.insertion_auc for f in fs])),
            "deletion_beats_random": float(np.mean([f.method.deletion_auc < f.random.deletion_auc for f in fs])),
            "insertion_beats_random": float(np.mean([f.method.insertion_auc > f.random.insertion_auc for f in fs])),
            "randomised_spearman": float(np.nanmean(rs)) if rs else float("nan"),
        })
    return pd.DataFrame(rows)
