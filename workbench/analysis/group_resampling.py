"""The resamples behind a breakdown's per-group intervals and gaps, in memory bounded by the largest group.

Each group's resamples are drawn (items within each of its classes, or its speakers: :func:`group_replicates`), reduced
to its intervals at once, and folded into the running largest and smallest value of each resample
(:class:`Extremes`) that the gaps need: no group keeps its resamples.  ``metrics`` of a run with one speaker per clip
kept 1000 × 12 floats for each of 20,000 groups (2 GB) to compute a gap that none of those groups was eligible for.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from workbench.analysis.stats import Bounds, _blocks, cluster_draws, cluster_ids, resamples_kept, speaker_interval_bounds, speaker_resampling, thin_note


def _confusions(true_codes: np.ndarray, pred_codes: np.ndarray, n_classes: int, *, n_boot: int,
                rng: np.random.Generator | None) -> np.ndarray:
    """Confusion counts, shape (R, K, K + 1): the observed one (R = 1, ``rng`` None) or ``n_boot`` stratified resamples.

    Column ``K`` counts predictions outside the run's classes (always wrong).
    """
    reps = 1 if rng is None else n_boot
    out = np.zeros((reps, n_classes, n_classes + 1), dtype=np.int64)
    width = n_classes + 1
    for c in range(n_classes):
        preds = pred_codes[true_codes == c]
        m = len(preds)
        if not m:
            continue
        drawn = preds[None, :] if rng is None else preds[rng.integers(0, m, size=(reps, m))]
        flat = drawn + width * np.arange(reps)[:, None]
        out[:, c, :] = np.bincount(flat.ravel(), minlength=reps * width).reshape(reps, width)
    return out


def _speaker_confusions(true_codes: np.ndarray, pred_codes: np.ndarray, n_classes: int, clusters: Sequence, *, n_boot: int,
                        rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` confusion counts (R, K, K + 1) of the cluster bootstrap: as many speakers as the items have, drawn with
    replacement, every clip of a drawn speaker counted (:func:`workbench.analysis.stats.cluster_draws`, in blocks)."""
    ids = cluster_ids(clusters)
    g, width = int(ids.max()) + 1, n_classes * (n_classes + 1)
    per_speaker = np.zeros((g, width))
    np.add.at(per_speaker, (ids, true_codes * (n_classes + 1) + pred_codes), 1.0)
    out = np.empty((n_boot, width), dtype=np.int64)
    for start, b in _blocks(n_boot, g + width, most=256):
        out[start:start + b] = np.rint(cluster_draws(rng, g, b) @ per_speaker)
    return out.reshape(n_boot, n_classes, n_classes + 1)


def _scores(conf: np.ndarray) -> dict[str, np.ndarray]:
    """WA, UAR, macro-F1 and per-class recall (R, K) of confusions (R, K, K + 1), each resample over the classes it has
    (rows > 0): a stratified resample has the group's classes in every resample, a speaker resample may miss one (the
    headline's rule, :func:`workbench.analysis.stats.resample_intervals`)."""
    k = conf.shape[1]
    diag = conf[:, np.arange(k), np.arange(k)].astype(float)
    support = conf.sum(axis=2).astype(float)
    predicted = conf[:, :, :k].sum(axis=1).astype(float)
    present = support > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(present, diag / support, np.nan)
        precision = np.where(predicted > 0, diag / predicted, 0.0)
        f1 = np.where(precision + np.nan_to_num(recall) > 0, 2 * precision * recall / (precision + recall), 0.0)
        if (present == present[0]).all():  # the same classes in every resample (stratified): one column selection
            uar, macro_f1 = np.nanmean(recall[:, present[0]], axis=1), f1[:, present[0]].mean(axis=1)
        else:
            n_present = present.sum(axis=1)
            uar = np.where(present, recall, 0.0).sum(axis=1) / n_present
            macro_f1 = np.where(present, f1, 0.0).sum(axis=1) / n_present
    return {"wa": diag.sum(axis=1) / support.sum(axis=1), "uar": uar, "macro_f1": macro_f1, "recall": recall}


def _interval(values: np.ndarray, level: float, clusters: int | None = None) -> Bounds:
    """The resamples' interval (:func:`~workbench.analysis.stats.speaker_interval_bounds`: t-corrected over ``clusters``
    resampled speakers, the plain percentile over items), NaN resamples left out and counted (``kept`` of ``drawn``)."""
    values = np.asarray(values, dtype=float)
    kept = values[~np.isnan(values)]
    if not len(kept):
        return Bounds((float("nan"), float("nan")), 0, len(values))
    if kept[0] == kept.min() == kept.max():  # every resample alike: the percentiles are that value, exactly
        return Bounds((float(kept[0]), float(kept[0])), len(kept), len(values))
    return Bounds(tuple(speaker_interval_bounds(kept, level, clusters)), len(kept), len(values))


def resample_counts(intervals: dict, recall: np.ndarray, class_counts: dict[str, int]) -> dict[str, dict]:
    """The resamples a group's figures rest on: each interval's (``intervals``: figure → :class:`Bounds`) and each of
    its classes' recall (``recall``: the resamples' (R, K) recalls; NaN where a resample of its speakers has no clip of
    the class), ``{"wa": {"kept": 1000, "drawn": 1000}, …, "recall_sad": {"kept": 640, "drawn": 1000}}``."""
    out = {m: c for m, b in intervals.items() if (c := resamples_kept(b))}
    for i, (c, m) in enumerate(class_counts.items()):
        if m:  # a class the group has; one it lacks is its missing_classes note
            out[f"recall_{c}"] = {"kept": int(np.isfinite(recall[:, i]).sum()), "drawn": int(len(recall))}
    return out


def thin_group_words(counts: dict[str, dict], names: dict[str, str]) -> list[str]:
    """A group's figures resting on under 90 % of its resamples, in words (its note): an interval's own
    (:func:`~workbench.analysis.interval_rule.thin_note`), and a class's recall undefined in many of its speaker
    resamples: there its UAR averages the other classes and its recall gap leaves it out."""
    words = [f"{names.get(m, m.upper())} {w}" for m, c in counts.items() if not m.startswith("recall_") and (w := thin_note(c))]
    thin = [(key.removeprefix("recall_"), c) for key, c in counts.items() if key.startswith("recall_") and thin_note(c)]
    if len(thin) == 1:
        (cls, c), = thin
        words.append(f"recall of {cls} undefined in {c['drawn'] - c['kept']} of {c['drawn']} resamples (no {cls} clip among the speakers drawn): "
                     f"there its UAR averages the other classes, so its UAR interval mixes class sets; read it as rough")
    elif thin:  # said once with the classes listed, not once per class (walk17)
        each = ", ".join(f"{cls} in {c['drawn'] - c['kept']} of {c['drawn']}" for cls, c in thin)
        words.append(f"recall undefined in many resamples ({each}; no clip of the class among the speakers drawn): there the "
                     "UAR averages the other classes, so its UAR interval mixes class sets; read it as rough")
    return words


def group_members(groups: np.ndarray) -> tuple[list[str], list[np.ndarray]]:
    """The sorted distinct ``groups`` and each one's item indices (ascending): one sort, not one scan of every item per
    group (20,000 groups of one item each scanned 20,000 items 20,000 times)."""
    names, codes = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    order = np.argsort(codes, kind="stable")
    return [str(n) for n in names], np.split(order, np.cumsum(np.bincount(codes, minlength=len(names)))[:-1])


def group_replicates(true_codes: np.ndarray, pred_codes: np.ndarray, n_classes: int, *, n_boot: int, rng: np.random.Generator,
                     speakers: Sequence | None = None, word: str = "speaker") -> tuple[dict[str, np.ndarray], dict]:
    """One group's ``n_boot`` resampled scores (:func:`_scores`) and what they resampled (``speaker_resampling``'s unit).

    ``speakers`` (each item's speaker, or None): with enough of them (:data:`~workbench.analysis.stats.MIN_CLUSTERS`)
    the group's speakers are resampled, the headline intervals' rule: clips of a voice are not independent, and a
    gender's interval over its clips covered the gender's population value about half the time under a speaker effect.
    Otherwise the class-stratified item bootstrap (the group's class set and class counts fixed), said in the unit.
    """
    clusters, unit = speaker_resampling(speakers, word=word) if speakers is not None else (None, None)
    if clusters is None and all(len(set(pred_codes[true_codes == c].tolist())) <= 1 for c in range(n_classes)):
        # each class's clips all predicted alike (one clip a speaker, 20,000 speakers): every resample is the observed
        # group; the same draws are taken, so the next group's resamples are those of the full computation
        for c in range(n_classes):
            if m := int((true_codes == c).sum()):
                rng.integers(0, m, size=(n_boot, m))
        observed = _scores(_confusions(true_codes, pred_codes, n_classes, n_boot=1, rng=None))
        return {key: np.repeat(v, n_boot, axis=0) for key, v in observed.items()}, unit or {
            "unit": "item", "clusters": None, "note": "", "short": "items", "words": "resampling items within each class (the class set and counts kept)"}
    if clusters is None:
        conf = _confusions(true_codes, pred_codes, n_classes, n_boot=n_boot, rng=rng)
        if unit is None or unit["clusters"] is None:
            unit = {"unit": "item", "clusters": None, "note": "", "short": "items",
                    "words": "resampling items within each class (the class set and counts kept)"}
    else:
        conf = _speaker_confusions(true_codes, pred_codes, n_classes, clusters, n_boot=n_boot, rng=rng)
    return _scores(conf), unit


class Extremes:
    """The running largest and smallest value of each resample over the groups added (NaN ignored, as ``np.nanmax``
    over the stacked resamples would): a gap's resamples without every group's resamples in memory."""

    def __init__(self) -> None:
        self.hi: np.ndarray | None = None
        self.lo: np.ndarray | None = None
        self.groups = 0
        self.present: np.ndarray | None = None  # per resample: the groups that had a value
        self.pair: list[np.ndarray] = []  # the first two groups' resamples: two groups get a signed difference (signed())

    def add(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=float)
        self.hi = values.copy() if self.hi is None else np.fmax(self.hi, values)
        self.lo = values.copy() if self.lo is None else np.fmin(self.lo, values)
        self.present = (0 if self.present is None else self.present) + ~np.isnan(values)
        self.groups += 1
        if len(self.pair) < 2:
            self.pair.append(values.copy())

    def gaps(self) -> np.ndarray:
        """Largest minus smallest of each resample over every group added; NaN where one of them had no value there (a
        recall whose class none of the speakers drawn has): the gap over fewer groups is another figure, left out and
        counted by the interval (:func:`_interval`), as every undefined resample is."""
        return np.where(self.present == self.groups, self.hi - self.lo, np.nan)

    def signed(self) -> np.ndarray | None:
        """First minus second group of each resample where exactly two groups were added (None otherwise): max − min is
        |first − second|, never below 0, so its interval cannot hold 0; this one can, and says whether the gap is real."""
        return self.pair[0] - self.pair[1] if self.groups == 2 else None
