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

* random orders (``n_random`` = 32 seeded permutations, batched): their
  mean curve and the central 95 % interval of their AUCs, so that a ranking
  is said to be *better than*, *worse than* or *indistinguishable from*
  random in words, and
* the order of the class's own frame score (the head applied to each frame),
  the cheap explanation every run already has.

**Model randomisation** (Adebayo et al. 2018, "Sanity checks for saliency
maps").  The network's weights are re-initialised (all at once, ``full``:
every parameter tensor; or top-down, ``cascading``: head, then the
transformer blocks, the context encoder, the positional and conv encoders)
and the attribution is computed again; the Spearman rank correlation between
the frame relevances of the trained and the randomised network must be low
(|r| < 0.5, :data:`RANDOMISATION_THRESHOLD`).  A method whose map survives randomisation
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
from workbench.explain.attribution import FRAME_SAMPLES, SAMPLE_RATE, Attribution, ClassScore

RANDOMISATIONS = ("full", "cascading")


def _keep_mask(order: np.ndarray, k: int, T: int, *, insertion: bool) -> np.ndarray:
    """Bool (T,): the frames a curve keeps at step ``k``: all but the first k of ``order`` (deletion), or only them."""
    keep = np.zeros(T, bool) if insertion else np.ones(T, bool)
    keep[order[:k]] = insertion
    return keep


def _masked_waves(wave: np.ndarray, keeps: list[np.ndarray]) -> np.ndarray:
    """(len(keeps), n) copies of ``wave``, the frames each mask drops set to zero (digital silence)."""
    out = np.empty((len(keeps), len(wave)), dtype=np.float32)
    for i, keep in enumerate(keeps):
        out[i] = np.where(np.repeat(keep, FRAME_SAMPLES)[: len(wave)], wave, 0.0)
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
        # full precision: the AUCs recompute from the stored map and the stored curves alike
        return {"deletion_auc": self.deletion_auc, "insertion_auc": self.insertion_auc,
                "deletion": [float(v) for v in self.deletion], "insertion": [float(v) for v in self.insertion]}


def _order(relevance: np.ndarray) -> np.ndarray:
    """Frames most relevant first; ties broken by time so equal relevances (a uniform map) do not pick a lucky order."""
    rel = np.asarray(relevance, dtype=float)
    return np.lexsort((np.arange(len(rel)), -rel))


def _curves_of_orders(scorer: ClassScore, wave: np.ndarray, orders: list[np.ndarray], target: str, steps: int,
                      batch: int = 64, *, insertion_orders: list[np.ndarray] | None = None,
                      memo: dict | None = None) -> list[Curves]:
    """Deletion and insertion curves of several frame orders, every distinct masked clip scored once.

    Curve ``i`` deletes in ``orders[i]`` and inserts in ``insertion_orders[i]`` (default: the same order).  A masked
    clip is fixed by the frames it keeps, so clips that keep the same frames are one clip: the ends of every curve
    (the whole clip, digital silence), and, when an insertion order is the reverse of a deletion order, the whole
    insertion curve (inserting the first k frames of reversed o keeps what deleting the first T - k of o keeps).
    ``memo`` (frames kept → log-probabilities, for this clip and this scorer) carries scored clips across calls.
    Exact: a clip's score does not depend on the batch it was scored in beyond float rounding (tested).
    """
    fractions = np.linspace(0.0, 1.0, steps + 1)
    T = -(-len(wave) // FRAME_SAMPLES)
    k = scorer.labels.index(target)
    memo = {} if memo is None else memo
    ins_orders = orders if insertion_orders is None else insertion_orders
    if len(ins_orders) != len(orders):
        raise ValueError("one insertion order per deletion order")
    steps_k = [int(round(f * T)) for f in fractions]
    keys, todo = [], {}
    for o, q in zip(orders, ins_orders):
        for order, ins in ((o, False), (q, True)):
            row = []
            for kk in steps_k:
                keep = _keep_mask(order, kk, T, insertion=ins)
                key = np.packbits(keep).tobytes()
                if key not in memo and key not in todo:
                    todo[key] = keep
                row.append(key)
            keys.append(row)
    pending = list(todo.items())
    for i in range(0, len(pending), batch):
        chunk = pending[i: i + batch]
        scores = scorer.log_probs(_masked_waves(wave, [keep for _, keep in chunk]), batch=batch)
        memo.update((key, s) for (key, _), s in zip(chunk, scores))
    p = np.exp(np.array([[memo[key][k] for key in row] for row in keys])).reshape(len(orders), 2, steps + 1)
    return [Curves(fractions, p[j, 0], p[j, 1]) for j in range(len(orders))]


def curves(scorer: ClassScore, wave: np.ndarray, relevance: np.ndarray, target: str, *, steps: int = 20,
           memo: dict | None = None) -> Curves:
    """Deletion and insertion curves of ``relevance`` (T,) for class ``target`` on ``wave`` (n,).

    ``memo``: masked clips of this clip already scored by this scorer (see :func:`_curves_of_orders`)."""
    T = -(-len(wave) // FRAME_SAMPLES)
    if len(relevance) != T:
        raise ConfigError(f"relevance has {len(relevance)} frames; the clip has {T} frames of 20 ms.", fix="pass the Attribution made from this clip.")
    if steps < 2:
        raise ConfigError(f"steps must be at least 2, given {steps}.", fix="pass steps=20.")
    return _curves_of_orders(scorer, wave, [_order(relevance)], target, steps, memo=memo)[0]


#: permutations behind the random reference (its interval is their central 95 %)
N_RANDOM = 32
#: the random reference's interval: this central share of the permutations' AUCs
RANDOM_INTERVAL = 0.95


@dataclass
class RandomReference:
    """AUCs of ``n`` random frame orders: the mean curve and the central 95 % interval of each AUC."""

    mean: Curves
    deletion_aucs: np.ndarray  # (n,)
    insertion_aucs: np.ndarray  # (n,)

    @property
    def deletion_auc(self) -> float:
        return float(np.mean(self.deletion_aucs))

    @property
    def insertion_auc(self) -> float:
        return float(np.mean(self.insertion_aucs))

    @property
    def deletion(self) -> np.ndarray:
        return self.mean.deletion

    @property
    def insertion(self) -> np.ndarray:
        return self.mean.insertion

    @property
    def fractions(self) -> np.ndarray:
        return self.mean.fractions

    def interval(self, curve: str) -> tuple[float, float]:
        """(low, high): the central :data:`RANDOM_INTERVAL` of the random orders' AUCs of ``curve``."""
        v = self.deletion_aucs if curve == "deletion" else self.insertion_aucs
        q = (1 - RANDOM_INTERVAL) / 2
        return float(np.quantile(v, q)), float(np.quantile(v, 1 - q))

    def to_dict(self) -> dict:
        out = self.mean.to_dict()
        out.update({"deletion_auc": self.deletion_auc, "insertion_auc": self.insertion_auc, "permutations": len(self.deletion_aucs),
                    "orders": "deletion: seeded random permutations; insertion: their reverses (random orders too)",
                    "deletion_auc_interval": list(self.interval("deletion")), "insertion_auc_interval": list(self.interval("insertion")),
                    "interval": f"central {RANDOM_INTERVAL:.0%} of the permutations' AUCs"})
        return out


def verdict(value: float, interval: tuple[float, float], *, higher_is_better: bool) -> str:
    """``better than random``, ``worse than random`` or ``indistinguishable from random`` (outside/inside the interval)."""
    lo, hi = interval
    if lo <= value <= hi:
        return "indistinguishable from random"
    better = value > hi if higher_is_better else value < lo
    return "better than random" if better else "worse than random"


def auc_digits(value: float, interval: tuple[float, float], *, least: int = 3, most: int = 6) -> int:
    """Decimals that print ``value`` apart from each bound of ``interval`` it differs from (``least`` at the fewest):
    at 3 decimals "0.219 (random 0.219–0.243): better than random" read as a contradiction for 0.2186 against 0.2188."""
    for digits in range(least, most + 1):
        if all(b == value or f"{b:.{digits}f}" != f"{value:.{digits}f}" for b in interval):
            return digits
    return most


@dataclass
class Faithfulness:
    """Deletion/insertion of a method's ranking beside random orders (with an interval) and the frame-score order."""

    method: Curves
    random: RandomReference
    frame_score: Curves

    @property
    def deletion_verdict(self) -> str:
        return verdict(self.method.deletion_auc, self.random.interval("deletion"), higher_is_better=False)

    @property
    def insertion_verdict(self) -> str:
        return verdict(self.method.insertion_auc, self.random.interval("insertion"), higher_is_better=True)

    @property
    def passed(self) -> bool:
        """Better than random on at least one curve and worse on none."""
        vs = (self.deletion_verdict, self.insertion_verdict)
        return "worse than random" not in vs and "better than random" in vs

    def problem(self) -> str | None:
        """Why the ranking is not faithful, in words (None when it is)."""
        if self.passed:
            return None
        return f"deletion {self.deletion_verdict}, insertion {self.insertion_verdict}"

    def to_dict(self) -> dict:
        return {"method": self.method.to_dict(), "random": self.random.to_dict(), "frame_score": self.frame_score.to_dict(),
                "deletion_verdict": self.deletion_verdict, "insertion_verdict": self.insertion_verdict, "passed": self.passed,
                "removal": "zeros in the raw input (digital silence), 20 ms frames",
                "fractions": [float(f) for f in self.method.fractions]}

    def summary(self) -> str:
        """One line for a figure or a table: each AUC, the random interval, and the verdict in words."""
        dl, dh = self.random.interval("deletion")
        il, ih = self.random.interval("insertion")
        n = len(self.random.deletion_aucs)
        d = auc_digits(self.method.deletion_auc, (dl, dh))
        i = auc_digits(self.method.insertion_auc, (il, ih))
        return (f"deletion AUC {self.method.deletion_auc:.{d}f} (random {dl:.{d}f}–{dh:.{d}f}, n={n}; frame score {self.frame_score.deletion_auc:.3f}; "
                f"lower is better): {self.deletion_verdict} · "
                f"insertion AUC {self.method.insertion_auc:.{i}f} (random {il:.{i}f}–{ih:.{i}f}; frame score {self.frame_score.insertion_auc:.3f}; "
                f"higher is better): {self.insertion_verdict}")


#: the key of :func:`faithfulness`'s ``references`` under which the clip's scored masked clips are kept
_MASKED_CLIPS = "masked clips scored"


def faithfulness(scorer: ClassScore, wave: np.ndarray, attribution: Attribution, *, steps: int = 20, n_random: int = N_RANDOM,
                 seed: int = 0, references: dict | None = None) -> Faithfulness:
    """Deletion/insertion of ``attribution`` against ``n_random`` random orders and the class's frame scores.

    The random orders are scored in batches (every masked clip of several
    orders in one forward pass); their AUCs give the interval that says
    whether the method's ranking is better than, worse than, or
    indistinguishable from a random ranking.

    ``references``: a dict shared by the methods explaining one clip.  The random orders (seeded) and the frame-score
    order do not depend on the method, so their curves are computed for the first method and reused, exactly, by
    the others (three methods: 3 + 2 × (n_random + 1) curves instead of 3 × (n_random + 2)); the masked clips
    already scored are kept there too, so a method's curve ends (the whole clip, silence) are not scored again.
    """
    if n_random < 10:
        raise ConfigError(f"n_random={n_random} permutations cannot put an interval on a random ranking.", fix=f"pass n_random={N_RANDOM} (at least 10).")
    target = attribution.target
    references = {} if references is None else references
    memo = references.setdefault(_MASKED_CLIPS, {})
    T = len(attribution.frame_relevance)
    key = (target, T, steps, n_random, seed)
    if key not in references:
        references[key] = _reference_curves(scorer, wave, target, T, steps=steps, n_random=n_random, seed=seed, memo=memo)
    random, frame_score = references[key]
    method = curves(scorer, wave, attribution.frame_relevance, target, steps=steps, memo=memo)
    return Faithfulness(method, random, frame_score)


def _reference_curves(scorer: ClassScore, wave: np.ndarray, target: str, T: int, *, steps: int, n_random: int,
                      seed: int, memo: dict | None = None) -> tuple[RandomReference, Curves]:
    """The method-free references: ``n_random`` seeded random orders, and the order of the class's frame scores.

    Deletion follows the seeded permutations o₁ … oₙ, insertion their reverses: each reverse is itself a uniformly
    random order, independent of the other curves' (so each curve's interval still rests on n independent random
    orders), and inserting in reversed o keeps exactly the frames deleting in o keeps, so the insertion curves
    cost no forward pass (half the scored clips; :func:`_curves_of_orders`).
    """
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(T) for _ in range(n_random)]
    rand = _curves_of_orders(scorer, wave, orders, target, steps, insertion_orders=[o[::-1] for o in orders], memo=memo)
    fractions = rand[0].fractions
    mean = Curves(fractions, np.mean([c.deletion for c in rand], 0), np.mean([c.insertion for c in rand], 0))
    random = RandomReference(mean, np.array([c.deletion_auc for c in rand]), np.array([c.insertion_auc for c in rand]))
    fl = scorer.frame_logits(wave)[:, scorer.labels.index(target)]
    frame_score = curves(scorer, wave, frame_scores_on_grid(fl, T), target, steps=steps, memo=memo)
    return random, frame_score


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
    """Module (and bare parameter) groups of an Emotion2vec network, top (head) first, covering every parameter.

    Besides the head, the transformer blocks and the encoders, the groups hold
    what the first version missed: the context encoder's final norm, the
    feature projection, the extra tokens and the ALiBi scale (all on the
    scoring path), and the data2vec decoder (used only in pre-training, not
    on the scoring path; re-initialised anyway so that "full" leaves no
    trained value).  Any parameter of another architecture that no group
    names goes into a last group, ``rest``.
    """
    enc = net.modality_encoders["AUDIO"]
    stages: list[tuple[str, list[Any]]] = [("head", [net.proj])]
    for i in reversed(range(len(net.blocks))):
        stages.append((f"block {i}", [net.blocks[i]]))
    ctx = enc.context_encoder
    prenet = getattr(ctx, "blocks", None)
    if prenet is not None:
        for i in reversed(range(len(prenet))):
            stages.append((f"prenet block {i}", [prenet[i]]))
    front = [m for m in (getattr(ctx, "norm", None), getattr(enc, "project_features", None)) if m is not None]
    front += [p for p in (getattr(enc, "extra_tokens", None), getattr(enc, "alibi_scale", None)) if p is not None]
    stages.append(("context norm, feature projection, extra tokens, ALiBi scale", front))
    stages.append(("positional encoder", [enc.relative_positional_encoder]))
    stages.append(("conv encoder", [enc.local_encoder]))
    if getattr(enc, "decoder", None) is not None:
        stages.append(("decoder (pre-training only)", [enc.decoder]))
    named = {id(p) for _, items in stages for it in items for p in _params(it)}
    rest = [p for p in net.parameters() if id(p) not in named]
    if rest:
        stages.append(("rest", rest))
    return stages


def _params(item: Any) -> list[Any]:
    """The parameters of a module, or the parameter itself."""
    import torch

    return [item] if isinstance(item, torch.nn.Parameter) else list(item.parameters())


def _reinit(items: list[Any], seed: int) -> None:
    """Re-initialise modules and bare parameters so that no tensor keeps its trained values.

    Modules with their own initialiser get it (``reset_parameters``: Linear,
    Conv, LayerNorm …).  Every tensor still equal to its trained value
    afterwards (a norm whose trained scale happened to be its initial one, a
    bare parameter such as the ALiBi scale or the extra tokens) is drawn
    from a normal with the trained tensor's mean and standard deviation (at
    least 0.02): same scale, no trained value left.
    """
    import torch

    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        params = [p for it in items for p in _params(it)]
        before = [p.detach().clone() for p in params]
        for it in items:
            if isinstance(it, torch.nn.Module):
                for sub in it.modules():
                    if hasattr(sub, "reset_parameters"):
                        sub.reset_parameters()
        for p, old in zip(params, before):
            if torch.equal(p, old):
                std = float(old.float().std()) if old.numel() > 1 else 0.0
                p.normal_(float(old.float().mean()), max(std, 0.02))


def randomised_networks(model: Any, kind: str = "full", seed: int = 1) -> list[tuple[str, Any]]:
    """Copies of the model's network with re-initialised weights: ``[(stage, network), ...]``.

    ``full``: one copy, every parameter tensor re-initialised (see
    :func:`_stages` and :func:`_reinit`).  ``cascading``: one copy per stage,
    each re-initialising that stage and every stage above it.
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


#: a map whose rank correlation with the randomised network's map reaches this shows the input, not the model
RANDOMISATION_THRESHOLD = 0.5


@dataclass
class RandomisationCheck:
    """Spearman correlation of frame relevance, trained vs re-initialised network, per stage."""

    method: str
    kind: str
    stages: list[str]
    spearman: list[float]

    @property
    def passed(self) -> bool | None:
        """The map changes when the whole network is re-initialised (|rank corr| below :data:`RANDOMISATION_THRESHOLD`:
        a map strongly anti-correlated with the randomised network's still follows the input, not the weights)."""
        if not self.spearman or not np.isfinite(self.spearman[-1]):
            return None
        return bool(abs(self.spearman[-1]) < RANDOMISATION_THRESHOLD)

    def to_dict(self) -> dict:
        return {"method": self.method, "kind": self.kind, "threshold": RANDOMISATION_THRESHOLD, "passed": self.passed,
                "stages": [{"randomised_down_to": s, "spearman": (None if not np.isfinite(r) else round(float(r), 4))} for s, r in zip(self.stages, self.spearman)]}


def randomisation_check(model: Any, wave: np.ndarray, attribution: Attribution,
                        attribute_fn: Callable[[ClassScore, np.ndarray, str], Attribution], *, kind: str = "full",
                        seed: int = 1, max_batch: int | None = None) -> RandomisationCheck:
    """Attribute again with re-initialised weights and rank-correlate with ``attribution``.

    ``attribute_fn(scorer, wave, target)`` is the method's function from
    :mod:`workbench.explain.attribution` (with its options bound); ``max_batch``
    caps the clips per pass as :class:`ClassScore`'s does.
    """
    from scipy.stats import spearmanr

    rs, names = [], []
    for name, net in randomised_networks(model, kind, seed):
        again = attribute_fn(ClassScore(model, network=net, max_batch=max_batch), wave, attribution.target)
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
