"""The probe's and the fine-tune's intervals: per fold and for the mean over folds, over items or over speakers.

A fold's test set holds several clips of each of its speakers, and those clips share the voice: an interval that
resamples clips as if independent is too narrow (:func:`workbench.analysis.stats.speaker_resampling`, the rule every
command follows).  Grouped folds keep a speaker on one side of a fold, which makes the *train/test* split honest, but
not the *interval* over the test clips: that still needs the speakers resampled.  So each draw resamples speakers (all
their clips together, in whatever fold tests them), and a fold's figure and the mean over folds are read off the same
draws; with fewer than 5 speakers (in a fold, or in all) the item bootstrap stays, flagged.  Data without speakers
gives exactly the item draws it always did (:func:`fold_bootstrap`).
"""

from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from workbench.analysis.stats import (_blocks, _stats_from_counts, cluster_draws, cluster_ids, macro_f1, speaker_interval_bounds, speaker_resampling,
                                      uar, wa)


def _metrics(t: np.ndarray, p: np.ndarray, classes: Sequence[str]) -> tuple[float, float, float]:
    return wa(t, p), uar(t, p, classes), macro_f1(t, p, classes)


def fold_bootstrap(truth: Sequence[np.ndarray], preds: Sequence[np.ndarray], classes: Sequence[Sequence[str]], *, n: int = 1000,
                   seed: int = 0) -> np.ndarray:
    """``(n, folds, 3)`` bootstrap draws of (WA, UAR, macro-F1): each draw resamples every fold's test items.

    A draw's mean over folds is a draw of the mean-over-folds metric, so per-fold
    and mean intervals come from the same resamples.
    """
    rng = np.random.default_rng(seed)
    out = np.full((n, len(truth), 3), np.nan)
    for b in range(n):
        for f, (t, p, cl) in enumerate(zip(truth, preds, classes)):
            if len(t):
                i = rng.integers(0, len(t), len(t))
                out[b, f] = _metrics(t[i], p[i], cl)
    return out


def speaker_fold_bootstrap(truth: Sequence[np.ndarray], preds: Sequence[np.ndarray], classes: Sequence[Sequence[str]],
                           speakers: Sequence[Sequence], *, n: int = 1000, seed: int = 0) -> np.ndarray:
    """``(n, folds, 3)`` cluster-bootstrap draws of (WA, UAR, macro-F1): each draw resamples the speakers of all folds'
    test sides at once (a speaker's clips together, in every fold that tests them; a clip without one is its own), each
    fold's figures from its clips' confusion counts weighted by their speaker's draw count.  A fold none of whose
    speakers is drawn is NaN in that draw (the mean over folds then averages the others)."""
    ids = cluster_ids([s for fold in speakers for s in fold])
    g = int(ids.max()) + 1 if len(ids) else 0
    out = np.full((n, len(truth), 3), np.nan)
    per_fold, start = [], 0
    for t, p, cl in zip(truth, preds, classes):
        t, p = np.asarray(t).astype(str), np.asarray(p).astype(str)
        vocabulary, codes = np.unique(np.concatenate([t, p]), return_inverse=True)
        k = len(vocabulary)
        counts = np.zeros((g, k * k))
        np.add.at(counts, (ids[start:start + len(t)], codes[: len(t)] * k + codes[len(t):]), 1.0)
        per_fold.append((counts, k, np.asarray([int(np.searchsorted(vocabulary, c)) for c in cl], dtype=int)))
        start += len(t)
    rng = np.random.default_rng(seed)
    for first, b in _blocks(n, g):
        weights = cluster_draws(rng, g, b)
        for f, (counts, k, labels) in enumerate(per_fold):
            c = (weights @ counts).reshape(b, k, k)
            m = c.sum(axis=(1, 2))
            with np.errstate(divide="ignore", invalid="ignore"):
                stats = _stats_from_counts(c, labels, m)
            stats[m == 0] = np.nan
            out[first:first + b, f] = stats
    return out


def interval(draws: np.ndarray, level: float = 0.95, clusters: int | None = None) -> tuple[float, float]:
    """Interval of the finite ``draws`` (NaNs with none): t-corrected over ``clusters`` resampled speakers, the plain
    percentile over items (:func:`~workbench.analysis.stats.speaker_interval_bounds`); a :class:`Bounds` that counts the
    finite draws of all (they were dropped before it was called, so it counted every draw as kept)."""
    draws = np.asarray(draws, dtype=float)
    return speaker_interval_bounds(np.where(np.isfinite(draws), draws, np.nan), level, clusters)


def fold_intervals(truth: Sequence[np.ndarray], preds: Sequence[np.ndarray], classes: Sequence[Sequence[str]],
                   speakers: Sequence[Sequence] | None, metrics: Sequence[str], *, n: int = 1000, seed: int = 0
                   ) -> tuple[list[dict], dict]:
    """Each fold's ``{metric}_ci`` and ``ci_unit``, and the mean over folds' (one dict each): over the speakers of the
    test sides where there are enough (:func:`speaker_resampling`'s rule, per fold and for all folds together), else
    over items (the draws :func:`fold_bootstrap` always drew, so data without speakers keeps its numbers)."""
    speakers = speakers if speakers is not None else [[""] * len(t) for t in truth]
    fold_units = [speaker_resampling(list(s))[1] for s in speakers]
    pooled_clusters, pooled_unit = speaker_resampling([s for fold in speakers for s in fold])
    by_speaker = [pooled_clusters is not None and unit["unit"] != "item" for unit in fold_units]
    # the item draws only where some figure takes them (the per-item loop is the slow one)
    item_draws = fold_bootstrap(truth, preds, classes, n=n, seed=seed) if pooled_clusters is None or not all(by_speaker) else None
    if pooled_clusters is not None and len(truth):
        speaker_draws = speaker_fold_bootstrap(truth, preds, classes, speakers, n=n, seed=seed)
    folds = []
    for f, unit in enumerate(fold_units):
        draws = speaker_draws if by_speaker[f] else item_draws
        g = unit["clusters"] if by_speaker[f] else None
        folds.append({**{f"{m}_ci": interval(draws[:, f, j], clusters=g) for j, m in enumerate(metrics)}, "ci_unit": unit})
    if pooled_clusters is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a draw where every fold is NaN: left out by interval()
            mean = {f"{m}_ci": interval(np.nanmean(item_draws[:, :, j], axis=1) if len(truth) else np.zeros(0))
                    for j, m in enumerate(metrics)}
        return folds, {**mean, "ci_unit": pooled_unit}
    mean, pooled_unit = _speaker_mean(speaker_draws, [len(t) > 0 for t in truth], metrics, pooled_unit)
    return folds, {**mean, "ci_unit": pooled_unit}


#: more than this share of speaker draws left out of the mean over folds (a fold none of whose speakers was drawn) is
#: flagged: the mean's interval then describes the draws that happened to reach every fold
DROPPED_SHARE = 0.05


def _speaker_mean(draws: np.ndarray, filled: Sequence[bool], metrics: Sequence[str], unit: dict) -> tuple[dict, dict]:
    """The mean over folds' intervals from the speaker draws in which every fold with test items has a figure, and the
    unit with how many draws were left out (``dropped_draws``), noted when more than :data:`DROPPED_SHARE` were.  A
    draw where one fold's speakers were all missed averaged the other folds only, a different figure than the mean
    over every fold, and nothing said how often that happened (few speakers per fold: often)."""
    filled = np.asarray(filled, dtype=bool)
    complete = np.isfinite(draws[:, filled, :]).all(axis=(1, 2)) if filled.any() else np.zeros(len(draws), dtype=bool)
    dropped = int((~complete).sum())
    kept = draws[complete][:, filled, :]
    mean = {f"{m}_ci": interval(kept[:, :, j].mean(axis=1), clusters=unit["clusters"]) for j, m in enumerate(metrics)}
    unit = {**unit, "dropped_draws": dropped, "draws": int(len(draws))}
    if dropped > DROPPED_SHARE * len(draws):
        words = (f"{dropped} of {len(draws)} speaker draws left out of the mean over folds (a fold none of whose speakers "
                 f"was drawn): its interval is over the other {len(draws) - dropped}; too few speakers per fold")
        unit["note"] = "; ".join(n for n in (unit.get("note"), words) if n)
    return mean, unit


def unit_words(unit: dict | None) -> str:
    """``"95 % bootstrap resampling the 12 speakers (…)"`` or ``"… resampling items (…)"``: what an interval resamples, in the
    words every output of the probe and the fine-tune prints beside it; with the rule's note."""
    if not unit:
        return "95 % bootstrap resampling items"
    return f"95 % bootstrap {unit['words']}" + (f"; {unit['note']}" if unit.get("note") else "")
