"""One clip explained: attributions by each method, each checked for faithfulness, and the top-evidence span.

:func:`explain_clip` runs the methods of :mod:`workbench.explain.attribution`
on one clip, measures each with :mod:`workbench.explain.faithfulness`
(deletion/insertion against random and frame-score orders; the model
randomisation check) and picks the top-evidence span from the most faithful
method.  :class:`Explanation` serialises to strict JSON (no NaN) and carries
the model's banner (random weights, synthetic cues) when it has one.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from workbench.errors import ConfigError
from workbench.labels import LABEL_KEYS
from workbench.model.network import FRAME_RATE, Emotion2vecModel
from workbench.explain.attribution import (
    FRAME_SAMPLES,
    METHODS,
    SAMPLE_RATE,
    Attribution,
    ClassScore,
    as_wave,
    integrated_gradients,
    resolve_target,
    tf_occlusion,
    time_occlusion,
)
from workbench.explain.faithfulness import RANDOMISATIONS, Faithfulness, RandomisationCheck, faithfulness, randomisation_check

METHOD_FUNCTIONS = {"ig": integrated_gradients, "occlusion": time_occlusion, "tf-occlusion": tf_occlusion}


@dataclass
class Explanation:
    """Everything ``workbench explain`` reports for one clip (see :func:`explain_clip`)."""

    id: str
    duration: float
    target: str
    scores: dict[str, float]
    frame_logits: np.ndarray  # (T_model, 9), LABEL_KEYS order
    attributions: dict[str, Attribution]
    faithfulness: dict[str, Faithfulness]
    randomisation: dict[str, RandomisationCheck] = field(default_factory=dict)
    top_span: tuple[float, float] = (0.0, 0.0)  # s
    top_span_method: str = ""
    model: dict = field(default_factory=dict)
    banner: str | None = None
    voice: dict | None = None  # F0/intensity on the frame grid (voice.contours_on_frames), set by the caller
    words: dict | None = None  # per-word spans, scores and shares (words.words_record), set by the caller

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
            "frame_scores": {"rate_hz": FRAME_RATE, "labels": list(LABEL_KEYS),
                             "logits": np.round(self.frame_logits, 5).tolist()},
            "methods": {m: {"attribution": a.to_dict(), "faithfulness": self.faithfulness[m].to_dict() if m in self.faithfulness else None,
                            "randomisation": self.randomisation[m].to_dict() if m in self.randomisation else None}
                        for m, a in self.attributions.items()},
            "top_evidence": {"start_s": self.top_span[0], "end_s": self.top_span[1], "method": self.top_span_method},
            "model": self.model,
            "voice": self.voice,
            "words": self.words,
        }
        return _finite(out)

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


def top_evidence_span(relevance: np.ndarray, span_s: float = 0.3) -> tuple[float, float]:
    """The ``span_s`` window (on the 20 ms grid) with the largest summed relevance: ``(start, end)`` in s."""
    rel = np.asarray(relevance, dtype=float)
    k = max(1, min(len(rel), int(round(span_s * SAMPLE_RATE / FRAME_SAMPLES))))
    sums = np.convolve(rel, np.ones(k), mode="valid")
    i = int(np.argmax(sums))
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


def explain_clip(
    model: Emotion2vecModel,
    clip: Any,
    *,
    target: str | None = None,
    methods: tuple[str, ...] = METHODS,
    steps: int = 20,
    randomisation: str | None = "full",
    span_s: float = 0.3,
    item_id: str | None = None,
    options: dict[str, dict] | None = None,
) -> Explanation:
    """Explain one clip: attribution by each method, its faithfulness, the top-evidence span.

    Parameters
    ----------
    model : Emotion2vecModel
    clip : Audio or (n,) float array at 16 kHz
    target : str, optional
        Class to explain (default: the predicted one).
    methods : tuple of {"ig", "occlusion", "tf-occlusion"}
    steps : int
        Points of the deletion/insertion curves (each costs one forward pass per curve).
    randomisation : {"full", "cascading", None}
        Model-randomisation check per method (``None`` skips it: it costs one
        more attribution per randomised stage).
    span_s : float
        Length of the top-evidence span in seconds.
    options : dict, optional
        Per-method keyword options, e.g. ``{"occlusion": {"window_s": 0.1}}``.

    Returns
    -------
    Explanation
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ConfigError(f"unknown attribution method(s) {unknown or methods}.", fix=f"use some of {', '.join(METHODS)}.")
    if randomisation is not None and randomisation not in RANDOMISATIONS:
        raise ConfigError(f"unknown randomisation {randomisation!r}.", fix=f"use one of {', '.join(RANDOMISATIONS)}, or None to skip it.")
    options = dict(options or {})
    bad = [k for k in options if k not in METHODS]
    if bad:
        raise ConfigError(f"options given for unknown method(s) {bad}.", fix=f"key options by {', '.join(METHODS)}.")
    wave = as_wave(clip)
    check_explain_length(len(wave), source=item_id)
    scorer = ClassScore(model)
    logp = scorer.log_probs(wave[None])[0]
    target = resolve_target(scorer, wave, target)
    attributions, faith, rand = {}, {}, {}
    for m in methods:
        fn = partial(METHOD_FUNCTIONS[m], **options.get(m, {}))
        try:
            a = fn(scorer, wave, target)
        except TypeError as exc:
            raise ConfigError(f"option not accepted by method {m!r}: {exc}.", fix="see the method's function in workbench.explain.attribution.") from None
        attributions[m] = a
        faith[m] = faithfulness(scorer, wave, a, steps=steps)
        if randomisation is not None:
            rand[m] = randomisation_check(model, wave, a, fn, kind=randomisation)
    # the span comes from the method whose ranking is most faithful on this clip (insertion minus deletion)
    best = max(faith, key=lambda m: faith[m].method.insertion_auc - faith[m].method.deletion_auc)
    span = top_evidence_span(attributions[best].frame_relevance, span_s)
    info = model.info.to_dict()
    return Explanation(
        id=item_id or getattr(clip, "id", None) or "clip",
        duration=len(wave) / SAMPLE_RATE,
        target=target,
        scores={k: float(np.exp(v)) for k, v in zip(LABEL_KEYS, logp)},
        frame_logits=scorer.frame_logits(wave),
        attributions=attributions,
        faithfulness=faith,
        randomisation=rand,
        top_span=span,
        top_span_method=best,
        model={k: info.get(k) for k in ("id", "kind", "path", "checksum", "parameters", "device", "dtype")},
        banner=model.info.warning,
    )


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
