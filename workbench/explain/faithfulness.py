"""Is an attribution faithful?  Deletion/insertion curves, model randomisation, planted-cue overlap.

**Deletion and insertion** (Petsiuk et al. 2018, "RISE", adapted to 20 ms
audio frames).  Frames are ordered by relevance, most relevant first.
*Deletion* removes them in that order and follows the probability of the
class; *insertion* starts from an empty clip and reveals them in that order.
Removed frames are **zeros in the raw input** (digital silence, before the
model's per-clip normalisation), the same removal the occlusion methods use.
Each curve is sampled at ``steps + 1`` evenly spaced fractions of the frames
(0 … 1) and summarised by its area (trapezoid rule over the fraction, so the
area is in probability units, 0–1).  A faithful ranking gives a *low*
deletion area and a *high* insertion area.  Every ranking is compared with

* a random order (mean of ``n_random`` seeded permutations), and
* the order of the class's own frame score (the head applied to each frame),
  the cheap explanation every run already has.

**Model randomisation** (Adebayo et al. 2018, "Sanity checks for saliency
maps").  The network's weights are re-initialised (all at once, ``full``, or
top-down, ``cascading``: head, then the transformer blocks, then the
positional and conv encoders) and the attribution is computed again; the
Spearman rank correlation between the frame relevances of the trained and the
randomised network must be low.  A method whose map survives randomisation
shows the input, not the model.

**Planted cue** (:mod:`workbench.explain.cue`): the share of positive
attribution mass inside the cue span, and the IoU of the top-k frames (k =
the cue's length in frames) with the cue's frames, against random and
uniform attributions.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from workbench.errors import ConfigError
from workbench.labels import LABEL_KEYS
from workbench.explain.attribution import FRAME_SAMPLES, SAMPLE_RATE, Attribution, ClassScore

RANDOMISATIONS = ("full", "cascading")


def _masked_waves(wave: np.ndarray, orders: np.ndarray, fractions: np.ndarray, *, insertion: bool) -> np.ndarray:
    """(len(fractions), n) copies of ``wave`` with the first k frames of ``orders`` removed (or the only ones kept)."""
    T = -(-len(wave) // FRAME_SAMPLES)
    out = np.empty((len(fractions), len(wave)), dtype=np.float32)
    for i, f in enumerate(fractions):
        k = int(round(f * T))
        keep = np.zeros(T, bool) if insertion else np.ones(T, bool)
        keep[orders[:k]] = insertion
        sample_keep = np.repeat(keep, FRAME_SAMPLES)[: len(wave)]
        out[i] = np.where(sample_keep, wave, 0.0)
    return out


@dataclass
class Curves:
    """Deletion and insertion curves of one ranking: (steps+1,) probabilities at ``fractions``."""

    fractions: np.ndarray
    deletion: np.ndarray
    insertion: np.ndarray

    @property
    def deletion_auc(self) -> float:
        return float(np.trapezoid(self.deletion, self.fractions))

    @property
    def insertion_auc(self) -> float:
        return float(np.trapezoid(self.insertion, self.fractions))

    def to_dict(self) -> dict:
        return {"deletion_auc": round(self.deletion_auc, 5), "insertion_auc": round(self.insertion_auc, 5),
                "deletion": [round(float(v), 5) for v in self.deletion], "insertion": [round(float(v), 5) for v in self.insertion]}


def curves(scorer: ClassScore, wave: np.ndarray, relevance: np.ndarray, target: str, *, steps: int = 20) -> Curves:
    """Deletion and insertion curves of ``relevance`` (T,) for class ``target`` on ``wave`` (n,)."""
    T = -(-len(wave) // FRAME_SAMPLES)
    if len(relevance) != T:
        raise ConfigError(f"relevance has {len(relevance)} frames; the clip has {T} frames of 20 ms.", fix="pass the Attribution made from this clip.")
    if steps < 2:
        raise ConfigError(f"steps must be at least 2, given {steps}.", fix="pass steps=20.")
    # ties are broken by time so equal relevances (e.g. a uniform map) do not pick a lucky order
    order = np.lexsort((np.arange(T), -np.asarray(relevance, dtype=float)))
    fractions = np.linspace(0.0, 1.0, steps + 1)
    k = LABEL_KEYS.index(target)
    dele = np.exp(scorer.log_probs(_masked_waves(wave, order, fractions, insertion=False))[:, k])
    ins = np.exp(scorer.log_probs(_masked_waves(wave, order, fractions, insertion=True))[:, k])
    return Curves(fractions, dele, ins)


@dataclass
class Faithfulness:
    """Deletion/insertion of a method's ranking beside a random order and the frame-score order."""

    method: Curves
    random: Curves
    frame_score: Curves

    def to_dict(self) -> dict:
        return {"method": self.method.to_dict(), "random": self.random.to_dict(), "frame_score": self.frame_score.to_dict(),
                "removal": "zeros in the raw input (digital silence), 20 ms frames",
                "fractions": [round(float(f), 4) for f in self.method.fractions]}

    def summary(self) -> str:
        """One line for a figure or a table."""
        return (f"deletion AUC {self.method.deletion_auc:.3f} (random {self.random.deletion_auc:.3f}, frame score {self.frame_score.deletion_auc:.3f}; lower is better) · "
                f"insertion AUC {self.method.insertion_auc:.3f} (random {self.random.insertion_auc:.3f}, frame score {self.frame_score.insertion_auc:.3f}; higher is better)")


def faithfulness(scorer: ClassScore, wave: np.ndarray, attribution: Attribution, *, steps: int = 20, n_random: int = 3,
                 seed: int = 0) -> Faithfulness:
    """Deletion/insertion of ``attribution`` against a random order and the class's frame scores."""
    target = attribution.target
    method = curves(scorer, wave, attribution.frame_relevance, target, steps=steps)
    T = len(attribution.frame_relevance)
    rng = np.random.default_rng(seed)
    rand = [curves(scorer, wave, rng.permutation(T).astype(float), target, steps=steps) for _ in range(max(1, n_random))]
    random = Curves(method.fractions, np.mean([c.deletion for c in rand], 0), np.mean([c.insertion for c in rand], 0))
    fl = scorer.frame_logits(wave)[:, LABEL_KEYS.index(target)]
    frame_score = curves(scorer, wave, frame_scores_on_grid(fl, T), target, steps=steps)
    return Faithfulness(method, random, frame_score)


def frame_scores_on_grid(frame_values: np.ndarray, T: int) -> np.ndarray:
    """The model's frames (T_model,) on the 20 ms attribution grid (T,): frame t covers samples 320t … 320t+400."""
    out = np.full(T, float(np.min(frame_values)) if len(frame_values) else 0.0)
    m = min(T, len(frame_values))
    out[:m] = frame_values[:m]
    return out


# ---------------------------------------------------------------------------
# model randomisation
# ---------------------------------------------------------------------------
def _stages(net: Any) -> list[tuple[str, list[Any]]]:
    """Module groups of an Emotion2vec network, top (head) first."""
    enc = net.modality_encoders["AUDIO"]
    stages: list[tuple[str, list[Any]]] = [("head", [net.proj])]
    for i in reversed(range(len(net.blocks))):
        stages.append((f"block {i}", [net.blocks[i]]))
    prenet = getattr(enc.context_encoder, "blocks", None)
    if prenet is not None:
        for i in reversed(range(len(prenet))):
            stages.append((f"prenet block {i}", [prenet[i]]))
    stages.append(("positional encoder", [enc.relative_positional_encoder]))
    stages.append(("conv encoder", [enc.local_encoder]))
    return stages


def _reinit(modules: list[Any], seed: int) -> None:
    import torch

    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        for mod in modules:
            for sub in mod.modules():
                if hasattr(sub, "reset_parameters"):
                    sub.reset_parameters()


def randomised_networks(model: Any, kind: str = "full", seed: int = 1) -> list[tuple[str, Any]]:
    """Copies of the model's network with re-initialised weights: ``[(stage, network), ...]``.

    ``full``: one copy, every stage re-initialised.  ``cascading``: one copy
    per stage, each re-initialising that stage and every stage above it.
    """
    if kind not in RANDOMISATIONS:
        raise ConfigError(f"unknown randomisation {kind!r}.", fix=f"use one of {', '.join(RANDOMISATIONS)}.")
    base = model.network
    names = [n for n, _ in _stages(base)]
    out = []
    upto = [len(names)] if kind == "full" else list(range(1, len(names) + 1))
    for k in upto:
        net = copy.deepcopy(base)
        stages = _stages(net)
        _reinit([m for _, mods in stages[:k] for m in mods], seed)
        out.append(("all" if kind == "full" else names[k - 1], net))
    return out


@dataclass
class RandomisationCheck:
    """Spearman correlation of frame relevance, trained vs re-initialised network, per stage."""

    method: str
    kind: str
    stages: list[str]
    spearman: list[float]

    def to_dict(self) -> dict:
        return {"method": self.method, "kind": self.kind,
                "stages": [{"randomised_down_to": s, "spearman": (None if not np.isfinite(r) else round(float(r), 4))} for s, r in zip(self.stages, self.spearman)]}


def randomisation_check(model: Any, wave: np.ndarray, attribution: Attribution,
                        attribute_fn: Callable[[ClassScore, np.ndarray, str], Attribution], *, kind: str = "full",
                        seed: int = 1) -> RandomisationCheck:
    """Attribute again with re-initialised weights and rank-correlate with ``attribution``.

    ``attribute_fn(scorer, wave, target)`` is the method's function from
    :mod:`workbench.explain.attribution` (with its options bound).
    """
    from scipy.stats import spearmanr

    rs, names = [], []
    for name, net in randomised_networks(model, kind, seed):
        again = attribute_fn(ClassScore(model, network=net), wave, attribution.target)
        r = spearmanr(attribution.frame_relevance, again.frame_relevance).statistic
        rs.append(float(r) if np.isfinite(r) else float("nan"))
        names.append(name)
    return RandomisationCheck(attribution.method, kind, names, rs)


# ---------------------------------------------------------------------------
# planted cue
# ---------------------------------------------------------------------------
def cue_frames(start_s: float, end_s: float, n_frames: int) -> np.ndarray:
    """Bool (T,): frames whose 20 ms span lies at least half inside the cue."""
    centres = (np.arange(n_frames) + 0.5) * FRAME_SAMPLES / SAMPLE_RATE
    return (centres >= start_s) & (centres < end_s)


def cue_overlap(relevance: np.ndarray, start_s: float, end_s: float) -> dict:
    """Share of positive attribution mass inside the cue, and IoU of the top-k frames with the cue (k = cue frames).

    A uniform map scores mass share = cue fraction of the clip, and IoU 1 / (2T/k − 1)-ish for
    its first k frames by the time tie-break; a random map scores about the cue fraction in both.
    """
    rel = np.asarray(relevance, dtype=float)
    inside = cue_frames(start_s, end_s, len(rel))
    pos = np.clip(rel, 0, None)
    mass = float(pos[inside].sum() / pos.sum()) if pos.sum() > 0 else 0.0
    k = int(inside.sum())
    order = np.lexsort((np.arange(len(rel)), -rel))
    top = np.zeros(len(rel), bool)
    top[order[:k]] = True
    iou = float((top & inside).sum() / max(1, (top | inside).sum()))
    return {"mass_in_cue": mass, "top_k_iou": iou, "cue_frames": k, "frames": len(rel)}
