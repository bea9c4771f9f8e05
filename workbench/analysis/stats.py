"""Statistics on label arrays, one place for every analysis: WA, UAR, macro-F1, per-class figures, confusion,
binned ECE, the seeded percentile bootstrap (one statistic or several from one resample, and all resamples at once for
the headline figures), the paired bootstrap of a difference and the exact McNemar test.

Pure functions of arrays (scikit-learn and SciPy underneath, imported where they are used so that
``import workbench`` stays fast); :mod:`workbench.analysis.metrics`, :mod:`~workbench.analysis.compare`,
:mod:`~workbench.analysis.calibration`, the probe and fusion take them from here.  Cohen's kappa and the
score distances between two runs live with the model (:mod:`workbench.model.agreement`), which needs them first.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from workbench.analysis.interval_rule import INTERVAL_NAME, Bounds, expanded_level, resamples_kept, speaker_interval_bounds, thin_note  # noqa: F401 (re-exported)


def wa(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Weighted accuracy: the share of items whose prediction equals the label (NaN for no items)."""
    from sklearn.metrics import accuracy_score

    return float(accuracy_score(y_true, y_pred)) if len(y_true) else float("nan")


def per_class(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support of each class (scikit-learn's ``precision_recall_fscore_support``).

    A class never predicted has precision 0; a class absent from ``y_true`` has
    recall NaN (there is nothing to recall) and F1 0.
    """
    from sklearn.metrics import precision_recall_fscore_support

    classes = list(classes)
    if not classes:
        return {}
    if len(y_true):
        prec, rec, f1, sup = precision_recall_fscore_support(y_true, y_pred, labels=classes, zero_division=0)
    else:
        prec = rec = f1 = np.zeros(len(classes))
        sup = np.zeros(len(classes), dtype=int)
    return {
        c: {"precision": float(prec[i]), "recall": float(rec[i]) if sup[i] else float("nan"), "f1": float(f1[i]), "support": int(sup[i])}
        for i, c in enumerate(classes)
    }


def proportion_interval(k: int, n: int, *, level: float = 0.95) -> tuple[float, float]:
    """The exact binomial (Clopper–Pearson) interval of ``k / n`` (scipy's ``binomtest``); NaNs for ``n == 0``."""
    from scipy.stats import binomtest

    if n <= 0:
        return float("nan"), float("nan")
    ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)


def class_table(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str], *, level: float = 0.95) -> dict[str, dict]:
    """:func:`per_class` with each share's numerator, denominator and exact interval.

    Recall is ``hits / support``, precision ``hits / predicted`` (items labelled with one of ``classes`` that were
    predicted as the class).  A class never predicted has no precision: 0/0 is NaN here, not the 0 that
    :func:`per_class` (scikit-learn's ``zero_division=0``) puts in its place.
    """
    t, p = np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str)
    out = per_class(t, p, classes)
    for c, v in out.items():
        hits, predicted = int(((t == c) & (p == c)).sum()), int((p[np.isin(t, list(classes))] == c).sum())
        v.update(hits=hits, predicted=predicted, recall_ci=proportion_interval(hits, v["support"], level=level),
                 precision_ci=proportion_interval(hits, predicted, level=level))
        if not predicted:
            v["precision"] = float("nan")
    return out


def _present(y_true: Sequence[str], classes: Sequence[str] | None) -> list[str]:
    return list(classes) if classes is not None else sorted(set(y_true))


def uar(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str] | None = None) -> float:
    """Mean recall over the classes of ``classes`` (default: those in ``y_true``) that occur in ``y_true``.

    With the default classes this is scikit-learn's ``balanced_accuracy_score``.
    """
    rec = [v["recall"] for v in per_class(y_true, y_pred, _present(y_true, classes)).values() if v["support"]]
    return float(np.mean(rec)) if rec else float("nan")


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str] | None = None) -> float:
    """Mean F1 over the classes of ``classes`` (default: those in ``y_true``) that occur in ``y_true``."""
    f = [v["f1"] for v in per_class(y_true, y_pred, _present(y_true, classes)).values() if v["support"]]
    return float(np.mean(f)) if f else float("nan")


def confusion(y_true: Sequence[str], y_pred: Sequence[str], rows: Sequence[str], cols: Sequence[str]) -> np.ndarray:
    """Counts, shape ``(len(rows), len(cols))``: true class by row, predicted by column.

    Items whose label is not in ``rows`` or whose prediction is not in ``cols`` are not counted.
    """
    from sklearn.metrics import confusion_matrix

    labels = list(dict.fromkeys([*rows, *cols]))
    out = np.zeros((len(rows), len(cols)), dtype=np.int64)
    if not len(y_true) or not labels or not set(labels) & set(np.asarray(y_true).tolist()):
        return out  # scikit-learn refuses both cases; the defined result is all zeros
    m = confusion_matrix(y_true, y_pred, labels=labels)
    index = {c: i for i, c in enumerate(labels)}
    return m[np.ix_([index[r] for r in rows], [index[c] for c in cols])].astype(np.int64)


def ece(confidence: Sequence[float], correct: Sequence[bool], *, bins: int = 15) -> tuple[float, list[dict]]:
    """Expected calibration error with equal-width bins, and the per-bin table.

    Accuracy and mean confidence per bin come from scikit-learn's
    ``calibration_curve`` (uniform strategy: bins closed on the right, the
    first one also on the left).  It drops empty bins, so the item count of each
    bin, which weights the gap and sizes the reliability bars, is counted here
    with the same bin edges.
    """
    from sklearn.calibration import calibration_curve

    conf = np.asarray(confidence, dtype=float)
    corr = np.asarray(correct, dtype=bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    counts = np.bincount(np.searchsorted(edges[1:-1], conf), minlength=bins)[:bins]
    acc = np.full(bins, np.nan)
    mean_conf = np.full(bins, np.nan)
    if len(conf):
        acc[counts > 0], mean_conf[counts > 0] = calibration_curve(corr, conf, n_bins=bins, strategy="uniform", pos_label=True)
    filled = counts > 0
    total = float(np.sum(counts[filled] / len(conf) * np.abs(acc[filled] - mean_conf[filled]))) if len(conf) else 0.0
    table = [{"lo": float(edges[b]), "hi": float(edges[b + 1]), "n": int(counts[b]), "accuracy": float(acc[b]), "confidence": float(mean_conf[b])}
             for b in range(bins)]
    return total, table


def ece_interval(confidence: Sequence[float], correct: Sequence[bool], *, bins: int = 15, n: int = 1000,
                 level: float = 0.95, seed: int = 0, clusters: Sequence | None = None) -> tuple[float, float]:
    """Percentile bootstrap interval of :func:`ece` over items: the resamples :func:`bootstrap_ci` draws with the same
    ``seed`` (so the same interval as ``bootstrap_ci`` of ``ece`` itself), each resample's ECE from its item counts
    (``sum_b |sum_{i in b} w_i (correct_i - confidence_i)| / n``, the same bins) without a scikit-learn call each.

    Binned ECE is biased upwards on small samples, and a resample is no better: the interval can sit above the point
    value.  Read it as the spread.  ``clusters`` (each item's speaker): resample speakers (:func:`cluster_weights`)."""
    conf = np.asarray(confidence, dtype=float)
    gap = np.asarray(correct, dtype=float) - conf
    m = len(conf)
    if m == 0:
        return (float("nan"), float("nan"))
    edges = np.linspace(0.0, 1.0, bins + 1)
    slot = np.searchsorted(edges[1:-1], conf)  # the bins of ece(): closed on the right, the first also on the left
    rng = np.random.default_rng(seed)
    values = np.empty(n)
    if clusters is not None:  # a block of resamples at a time: (n, items) weights at once grew with items x n
        ids = cluster_ids(clusters)
        g = int(ids.max()) + 1
        for start, b in _blocks(n, g + m):
            every = cluster_draws(rng, g, b)[:, ids]
            for r in range(b):
                values[start + r] = np.abs(np.bincount(slot, weights=every[r] * gap, minlength=bins)).sum() / every[r].sum()
    for r in range(n if clusters is None else 0):
        weights = np.bincount(rng.integers(0, m, m), minlength=m)
        values[r] = np.abs(np.bincount(slot, weights=weights * gap, minlength=bins)).sum() / weights.sum()
    return speaker_interval_bounds(values, level, None if clusters is None else g)


def bootstrap_ci(fn, y_true: Sequence[str], y_pred: Sequence[str], *, n: int = 1000, level: float = 0.95, seed: int = 0,
                 clusters: Sequence | None = None):
    """Percentile bootstrap interval of ``fn(y_true, y_pred)`` over items (seeded); with ``clusters`` (each item's
    speaker, :func:`speaker_resampling`) over speakers, every item of a drawn speaker together.

    ``fn`` returns one number, or a sequence of ``k`` numbers computed from the same
    resample (then the result is a list of ``k`` intervals).  Resamples where a statistic is undefined (NaN) are left
    out of that statistic's interval, each a :class:`~workbench.analysis.interval_rule.Bounds` that counts the ones kept.
    """
    t, p = np.asarray(y_true), np.asarray(y_pred)
    if len(t) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    draw = _resampler(rng, len(t), clusters)
    stats = [fn(t[i], p[i]) for i in (draw() for _ in range(n))]
    values = np.asarray(stats, dtype=float)
    scalar = values.ndim == 1
    values = values.reshape(len(stats), -1)
    bounds = _percentile_bounds(values, level, _cluster_count(clusters))
    return bounds[0] if scalar else bounds


def headline(classes: Sequence[str]):
    """``f(y_true, y_pred) -> (WA, UAR, macro-F1)`` over ``classes`` from one scikit-learn call.

    The bootstrap calls it once per resample: one ``precision_recall_fscore_support``
    instead of one per metric keeps a 1000-resample interval at about a second.
    """
    from sklearn.metrics import precision_recall_fscore_support

    labels = list(classes)

    def stats(t, p) -> tuple[float, float, float]:
        if not len(t):
            return (float("nan"),) * 3
        _, rec, f1, sup = precision_recall_fscore_support(t, p, labels=labels, zero_division=0)
        present = sup > 0
        wa_value = float(np.mean(np.asarray(t) == np.asarray(p)))
        if not present.any():
            return wa_value, float("nan"), float("nan")
        return wa_value, float(rec[present].mean()), float(f1[present].mean())

    return stats


def headline_intervals(t_codes: Sequence[int], p_codes: Sequence[int], class_codes: Sequence[int], *, n: int = 1000,
                       level: float = 0.95, seed: int = 0, block_items: int = 4_000_000) -> list[tuple[float, float]]:
    """Percentile intervals of (WA, UAR, macro-F1) over ``n`` seeded resamples, all resamples at once.

    The same resamples and the same definitions as ``bootstrap_ci(headline(class_codes), t, p, n=n, seed=seed)``
    (scikit-learn's ``precision_recall_fscore_support`` with ``labels=class_codes``, ``zero_division=0``; UAR and
    macro-F1 over the classes present in the resample), without one scikit-learn call per resample: the
    confusion counts of every resample come from one ``np.bincount``, and the three statistics from those counts.
    The tests compare it with the scikit-learn path resample by resample.  Why: the breakdown figures need an
    interval per speaker and per gender, and 1000 scikit-learn calls per group made ``workbench metrics`` take
    46 s with figures against 5.5 s without (benchmarks/figures.py).

    ``t_codes``, ``p_codes``: ``(items,)`` integer label codes; ``class_codes``: the codes of the classes scored.
    Resamples are drawn in blocks of about ``block_items`` indices (memory), which draws the same numbers.
    Returns three ``(lo, hi)`` pairs.
    """
    return resample_intervals(t_codes, p_codes, class_codes, n=n, level=level, seed=seed, block_items=block_items)[0]


def resample_intervals(t_codes: Sequence[int], p_codes: Sequence[int], class_codes: Sequence[int], *, n: int = 1000,
                       level: float = 0.95, seed: int = 0, block_items: int = 4_000_000, clusters: Sequence | None = None) -> tuple[list, list]:
    """:func:`headline_intervals`' three pairs and, from the same resamples, each scored class's F1 interval.

    Per-class F1 is ``2 hits / (support + predicted)`` (scikit-learn's), left out of a resample where the class has
    neither an item nor a prediction (undefined there).  Returns ``(headline pairs, one pair per class code)``.

    ``clusters`` (one id per item, e.g. its speaker; ``""`` or None: the item is its own cluster): the cluster
    bootstrap, which draws clusters with replacement and takes every item of a drawn cluster (:func:`cluster_weights`).
    Clips of one speaker share the speaker's voice, so items drawn one by one understate the spread of a figure over
    speakers; None keeps the item bootstrap (the same numbers as before).
    """
    t = np.asarray(t_codes, dtype=np.int64)
    p = np.asarray(p_codes, dtype=np.int64)
    if len(t) == 0:
        return [(float("nan"), float("nan"))] * 3, [(float("nan"), float("nan"))] * len(class_codes)
    m = len(t)
    k = int(max(t.max(), p.max(), max(class_codes, default=0))) + 1
    labels = np.asarray(list(class_codes), dtype=np.int64)
    pair = t * k + p
    rng = np.random.default_rng(seed)
    stats = np.empty((n, 3 + len(labels)))
    if clusters is not None:
        ids = cluster_ids(clusters)
        per_cluster = np.zeros((ids.max() + 1, k * k))
        np.add.at(per_cluster, (ids, pair), 1.0)  # each cluster's confusion counts
        for start, b in _blocks(n, ids.max() + 1 + k * k, block_items, most=256):
            counts = (cluster_draws(rng, ids.max() + 1, b) @ per_cluster).reshape(b, k, k)
            stats[start:start + b, :3] = _stats_from_counts(counts, labels, counts.sum(axis=(1, 2)))
            stats[start:start + b, 3:] = _class_f1_from_counts(counts, labels)
    per_block = max(1, block_items // m)
    for start in range(0, n if clusters is None else 0, per_block):
        b = min(per_block, n - start)
        idx = rng.integers(0, m, (b, m))  # the stream bootstrap_ci draws one resample at a time
        counts = np.bincount((np.arange(b)[:, None] * (k * k) + pair[idx]).ravel(), minlength=b * k * k).reshape(b, k, k)
        stats[start:start + b, :3] = _stats_from_counts(counts, labels, m)
        stats[start:start + b, 3:] = _class_f1_from_counts(counts, labels)
    bounds = _percentile_bounds(stats, level, None if clusters is None else int(ids.max()) + 1)
    return bounds[:3], bounds[3:]


def _percentile_bounds(stats: np.ndarray, level: float, clusters: int | None = None) -> list[tuple[float, float]]:
    """Each column's interval (:func:`speaker_interval_bounds`), its NaN resamples left out."""
    return [speaker_interval_bounds(column, level, clusters) for column in np.asarray(stats).T]


def _cluster_count(clusters: Sequence | None) -> int | None:
    """How many clusters ``clusters`` resamples (None: items, the plain percentile interval)."""
    return None if clusters is None else int(cluster_ids(clusters).max()) + 1 if len(clusters) else None


def cluster_ids(clusters: Sequence) -> np.ndarray:
    """Integer cluster codes ``0..G-1`` of ``clusters`` (one id per item); an empty or missing id makes the item its own
    cluster (an item with no speaker shares nothing known with another)."""
    values = np.asarray([("" if c is None or c != c else str(c)) for c in clusters], dtype=object)
    blank = values == ""
    values[blank] = [f"\0item{i}" for i in np.flatnonzero(blank)]
    return np.unique(values.astype(str), return_inverse=True)[1].astype(np.int64)


def _blocks(n: int, width: int, block_items: int = 4_000_000, most: int | None = None):
    """``(start, b)`` over ``n`` resamples, ``b`` of them at a time with ``b x width`` under about ``block_items`` (at
    least one): a cluster bootstrap's ``(b, clusters)`` draws stay bounded with 10^5 speakers.  The generator draws the
    same numbers in blocks as at once."""
    per = max(1, min(most or n, block_items // max(1, int(width))))
    for start in range(0, n, per):
        yield start, min(per, n - start)


def _resampler(rng, m: int, clusters: Sequence | None):
    """A function drawing one resample's item indices: ``m`` items with replacement, or with ``clusters`` as many
    clusters with replacement, every item of a drawn cluster (in cluster order, each cluster's items in item order).
    One vectorised gather per resample: joining one array per drawn cluster cost a Python step per speaker."""
    if clusters is None:
        return lambda: rng.integers(0, m, m)
    ids = cluster_ids(clusters)
    order = np.argsort(ids, kind="stable")
    sizes = np.bincount(ids)
    starts = np.cumsum(sizes) - sizes

    def draw() -> np.ndarray:
        g = rng.integers(0, len(sizes), len(sizes))
        lengths = sizes[g]
        ends = np.cumsum(lengths)
        return order[np.repeat(starts[g] - (ends - lengths), lengths) + np.arange(ends[-1] if len(ends) else 0)]

    return draw


def cluster_draws(rng, g: int, b: int) -> np.ndarray:
    """``(b, g)``: how often each of ``g`` clusters is drawn in each of ``b`` resamples of ``g`` draws with replacement."""
    draws = rng.integers(0, g, (b, g))
    return np.bincount((np.arange(b)[:, None] * g + draws).ravel(), minlength=b * g).reshape(b, g).astype(float)


def cluster_weights(rng, clusters: Sequence, b: int) -> np.ndarray:
    """``(b, items)``: each item's weight in each of ``b`` cluster-bootstrap resamples (its cluster's draw count)."""
    ids = cluster_ids(clusters)
    return cluster_draws(rng, int(ids.max()) + 1 if len(ids) else 0, b)[:, ids]


#: fewer clusters than this and even the cluster bootstrap is too narrow (its spread is that of a handful of draws)
FEW_CLUSTERS = 10
#: fewer clusters than this and there is nothing to resample (one speaker: every resample is the whole set)
MIN_CLUSTERS = 5


def speaker_resampling(table, column: str = "speaker", *, word: str = "speaker") -> tuple[list | None, dict]:
    """``(clusters, unit)`` of a table (or of a sequence of speaker ids): each row's ``column`` value (``""`` for none: the row is its own cluster) to pass as
    ``clusters`` to :func:`resample_intervals`, :func:`ece_interval` …, and what the intervals then resample, for the
    screen, the JSON and the report (``{"unit": "speaker" | "item", "clusters": G or None, "words": …, "note": …}``).

    Clips of one speaker share the voice, so a figure's spread over speakers is what an item bootstrap understates: the
    cluster bootstrap (draw speakers, keep all their clips) is the standard remedy for two-level data (Davison &
    Hinkley 1997, sec. 3.8; Field & Welsh 2007) and what speaker-independent evaluation asks of an interval.  With
    fewer than :data:`MIN_CLUSTERS` speakers there is nothing to resample (one speaker gives a zero-width interval):
    clusters None, the item bootstrap, and a note that it holds for those speakers only; under :data:`FEW_CLUSTERS` the
    cluster interval comes with a note that it is too narrow.  No ``column``, or no value in it: None, items."""
    column_of = table[column].tolist() if column in getattr(table, "columns", ()) else [] if hasattr(table, "columns") else table
    values = ["" if v is None or v != v else str(v).strip() for v in (column_of if column_of is not None else [])]
    if not any(values):
        return None, {"unit": "item", "clusters": None, "note": "", "short": "items", "words": f"resampling items (no {word} known: items taken as independent)"}
    named, alone = len(set(values) - {""}), values.count("")
    g = named + alone
    # the units counted as what they are: a clip without a speaker is a unit of its own, not another speaker (a page
    # said "resampling the 6 speakers" of a set with 5 and one tone that has none)
    units = f"{g} {word}s" if not alone else f"{named} {word}s and {alone} clip{'s' if alone > 1 else ''} without one"
    if g < MIN_CLUSTERS:
        return None, {"unit": "item", "clusters": g, "words": "resampling items", "short": "items",
                      "note": f"only {units if alone else f'{g} {word}(s)'} (clips of a {word} are not independent): the interval "
                              f"resamples items and holds for these {word}s only, not for {word}s at large"}
    note = (f"only {f'{g} units ({units})' if alone else units}: a bootstrap over so few is too narrow; read the interval as a "
            "lower bound of the uncertainty" if g < FEW_CLUSTERS else _uneven_note(values, word))
    return values, {"unit": word, "clusters": g, "note": note, "short": units, "interval": INTERVAL_NAME,
                    "words": f"resampling the {units} (all clips of a drawn {word} together"
                             f"{f'; each clip without a {word} is its own unit, {g} in all' if alone else ''}), {INTERVAL_NAME}"}


def _uneven_note(values: list[str], word: str) -> str:
    """A note when the clusters are so uneven that few carry the figure (Kish's effective number of clusters,
    ``(sum n_g)^2 / sum n_g^2``, under :data:`FEW_CLUSTERS`), or ``""``: one speaker with 99 % of 1000 clips and 10
    others passed as "11 speakers" while every resample hinged on whether that one was drawn."""
    from collections import Counter

    sizes = np.array(list(Counter(v for v in values if v).values()) + [1] * values.count(""), dtype=float)
    effective = sizes.sum() ** 2 / (sizes ** 2).sum()
    if effective >= FEW_CLUSTERS:
        return ""
    return (f"the {word}s are very uneven (the largest holds {sizes.max() / sizes.sum():.0%} of the clips; effective number "
            f"of {word}s {effective:.1f}): the interval swings with whether the largest are drawn; read it as rough")


def class_report(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str], *, n: int = 1000, level: float = 0.95,
                 seed: int = 0, clusters: Sequence | None = None) -> tuple[list, dict[str, dict]]:
    """:func:`class_table` (precision, recall, F1, support, each share's exact interval) with each class's F1 bootstrap
    interval (``f1_ci``) from the resamples of macro-F1's (:func:`resample_intervals`); returns ``(WA, UAR and macro-F1
    intervals, the table)``.  ``metrics`` and ``finetune`` give their per-class tables through it: one implementation."""
    y_true, y_pred = np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str)
    # labels as integer codes: scikit-learn checks them several times faster than strings
    vocabulary, codes = np.unique(np.concatenate([y_true, y_pred]), return_inverse=True)
    class_codes = [int(np.searchsorted(vocabulary, c)) for c in classes]
    intervals, f1_intervals = resample_intervals(codes[: len(y_true)], codes[len(y_true):], class_codes, n=n, level=level, seed=seed,
                                                 clusters=clusters)
    table = class_table(y_true, y_pred, classes, level=level)
    for c, bounds in zip(classes, f1_intervals):  # macro-F1's resamples: the same seed rule
        table[c].update(f1_ci=tuple(bounds), f1_resamples=resamples_kept(bounds))  # the resamples where F1 is defined
    return intervals, table


def _class_f1_from_counts(counts: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each class's F1 in each ``(b, k, k)`` confusion count: ``(b, len(labels))``, NaN with no item and no prediction."""
    tp = counts[:, labels, labels].astype(float)
    both = (counts[:, labels, :].sum(axis=2) + counts[:, :, labels].sum(axis=1)).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(both > 0, 2 * tp / both, np.nan)


def _stats_from_counts(counts: np.ndarray, labels: np.ndarray, m) -> np.ndarray:
    """(WA, UAR, macro-F1) of each ``(b, k, k)`` confusion count (true × predicted codes) of ``m`` items (a number, or
    one per resample: a cluster resample's size varies): ``(b, 3)``."""
    tp = counts[:, labels, labels].astype(float)
    support = counts[:, labels, :].sum(axis=2).astype(float)
    predicted = counts[:, :, labels].sum(axis=1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(support + predicted > 0, 2 * tp / (support + predicted), 0.0)
        present = support > 0
        n_present = present.sum(axis=1)
        uar_b = np.where(n_present > 0, (recall * present).sum(axis=1) / n_present, np.nan)
        f1_b = np.where(n_present > 0, (f1 * present).sum(axis=1) / n_present, np.nan)
    return np.stack([np.trace(counts, axis1=1, axis2=2) / m, uar_b, f1_b], axis=1)


def kappa_interval(pred_a: Sequence[str], pred_b: Sequence[str], *, n: int = 1000, level: float = 0.95, seed: int = 0,
                   clusters: Sequence | None = None) -> tuple[float, float]:
    """Percentile bootstrap interval of Cohen's kappa of two label sequences (items resampled in pairs, seeded), each
    resample's kappa ``(p_o − p_e) / (1 − p_e)`` from its confusion counts; NaNs with fewer than 2 items or ``n`` 0,
    and resamples where kappa is 0/0 (one label throughout) are left out.  ``clusters`` (each item's speaker,
    :func:`speaker_resampling`): resample speakers, every item of a drawn speaker together (the cluster bootstrap)."""
    counts = _pair_counts(pred_a, pred_b, n=n, seed=seed, clusters=clusters)
    if counts is None:
        return float("nan"), float("nan")
    m = counts.sum(axis=(1, 2))
    with np.errstate(divide="ignore", invalid="ignore"):
        p_o = np.trace(counts, axis1=1, axis2=2) / m
        p_e = (counts.sum(axis=2) * counts.sum(axis=1)).sum(axis=1) / m ** 2
        kappas = (p_o - p_e) / (1 - p_e)
    return _percentile_bounds(np.where(np.isfinite(kappas), kappas, np.nan)[:, None], level, _cluster_count(clusters))[0]  # NaN counted


def top1_interval(pred_a: Sequence[str], pred_b: Sequence[str], *, n: int = 1000, level: float = 0.95, seed: int = 0,
                  clusters: Sequence | None = None) -> tuple[float, float]:
    """Interval of the share of items two label sequences agree on: without ``clusters`` the exact binomial one
    (:func:`proportion_interval`, items independent); with ``clusters`` (each item's speaker, :func:`speaker_resampling`)
    the percentile cluster bootstrap over speakers (the resamples :func:`kappa_interval` draws with the same seed),
    since a speaker's clips agree or disagree together."""
    if clusters is None:
        a, b = np.asarray(pred_a).astype(str), np.asarray(pred_b).astype(str)
        return proportion_interval(int((a == b).sum()), len(a), level=level)
    counts = _pair_counts(pred_a, pred_b, n=n, seed=seed, clusters=clusters)
    if counts is None:
        return float("nan"), float("nan")
    return _percentile_bounds((np.trace(counts, axis1=1, axis2=2) / counts.sum(axis=(1, 2)))[:, None], level, _cluster_count(clusters))[0]


def _pair_counts(pred_a: Sequence[str], pred_b: Sequence[str], *, n: int, seed: int, clusters: Sequence | None):
    """``(n, k, k)`` confusion counts of ``n`` seeded resamples of the label pairs (items, or with ``clusters`` whole
    clusters); None with fewer than 2 items or ``n`` 0."""
    a, b = np.asarray(pred_a).astype(str), np.asarray(pred_b).astype(str)
    m = len(a)
    if m < 2 or n <= 0:
        return None
    _, codes = np.unique(np.concatenate([a, b]), return_inverse=True)
    k = int(codes.max()) + 1
    rng = np.random.default_rng(seed)
    out = np.empty((n, k, k))
    # a block of resamples at a time (the same numbers): all n x items draws at once took 2.3 GB for 10^5 items
    if clusters is not None:
        ids = cluster_ids(clusters)
        per_cluster = np.zeros((ids.max() + 1, k * k))
        np.add.at(per_cluster, (ids, codes[:m] * k + codes[m:]), 1.0)
        for start, b in _blocks(n, ids.max() + 1 + k * k, most=256):
            out[start:start + b] = (cluster_draws(rng, ids.max() + 1, b) @ per_cluster).reshape(b, k, k)
        return out
    for start, b in _blocks(n, m):
        idx = rng.integers(0, m, size=(b, m))
        pair = codes[:m][idx] * k + codes[m:][idx] + (np.arange(b) * k * k)[:, None]
        out[start:start + b] = np.bincount(pair.ravel(), minlength=b * k * k).reshape(b, k, k)
    return out


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts ``b`` and ``c``.

    The exact McNemar test is the exact binomial test of ``b`` successes in
    ``b + c`` trials at p = 1/2 (scipy's ``binomtest``; statsmodels'
    ``mcnemar(exact=True)`` gives the same numbers).
    """
    from scipy.stats import binomtest

    n = b + c
    if n == 0:
        return 1.0
    return float(binomtest(b, n, 0.5, alternative="two-sided").pvalue)


#: how a McNemar test is named beside its p: clustered over the speakers where they are resampled, else over clips
MCNEMAR_TESTS = {True: "clustered McNemar over the speakers (Durkalski et al. 2003)", False: "exact McNemar (clips as independent)"}


#: fewer speakers than this holding the clips that changed: the clustered McNemar p is flagged (``note``)
MCNEMAR_MIN_CLUSTERS = 5
#: fewer changed clips (b + c) than this: the clustered χ²(1) p is anti-conservative (McNemar's asymptotic rule: b + c ≥ 25; b 6, c 1: p 0.025, exact 0.125)
MCNEMAR_MIN_DISCORDANT = 25


def clustered_mcnemar(right_a: Sequence[bool], right_b: Sequence[bool], clusters: Sequence) -> dict:
    """McNemar's test for clips clustered by speaker (Durkalski, Palesch, Lipsitz & Rust 2003, Stat. Med. 22:2417; the
    cluster-adjusted variance of Obuchowski 1998): ``X² = (b − c)² / Σ_k (b_k − c_k)²`` over the clusters ``k``
    (``b_k``: the cluster's items right under ``a`` only, ``c_k``: under ``b`` only), against χ²(1).  The plain test's
    variance ``b + c`` assumes the discordant items independent; a speaker whose clips all move one way makes it far
    too small.  With every item its own cluster the statistic is the plain asymptotic McNemar's.  Returns
    ``{"test", "b", "c", "statistic", "p", "clusters", "discordant_clusters", "note"}`` (p 1 with no discordant item;
    ``note`` when under :data:`MCNEMAR_MIN_CLUSTERS` speakers hold, or under :data:`MCNEMAR_MIN_DISCORDANT` items are, discordant)."""
    from scipy.stats import chi2

    a, b_ = np.asarray(right_a, dtype=bool), np.asarray(right_b, dtype=bool)
    ids = cluster_ids(clusters)
    g = int(ids.max()) + 1 if len(ids) else 0
    per_b = np.bincount(ids, weights=(a & ~b_).astype(float), minlength=g)
    per_c = np.bincount(ids, weights=(~a & b_).astype(float), minlength=g)
    b, c = float(per_b.sum()), float(per_c.sum())
    denominator = float(np.sum((per_b - per_c) ** 2))
    stat = (b - c) ** 2 / denominator if denominator > 0 else 0.0
    moved = int(np.count_nonzero(per_b + per_c))  # the independent units the statistic rests on
    note = (f"only {counted(moved, 'speaker')} hold{'s' * (moved == 1)} the {int(b + c)} clips that changed: the clustered McNemar "
            f"test has that many independent units and its χ² p measures nothing (one speaker gives X² = 1, p = 0.32, "
            f"whatever the counts); read b and c per speaker" if 0 < moved < MCNEMAR_MIN_CLUSTERS else "")
    few = (f"only {int(b + c)} clips changed (b {int(b)}, c {int(c)}): under {MCNEMAR_MIN_DISCORDANT} the χ² p of the clustered test is "
           f"anti-conservative; the exact McNemar {p_words(mcnemar_exact(int(b), int(c)))} (clips as independent)" if 0 < b + c < MCNEMAR_MIN_DISCORDANT else "")
    note = "; ".join(filter(None, (note, few)))
    return {"test": "clustered McNemar (Durkalski et al. 2003)", "b": int(b), "c": int(c), "statistic": stat,
            "p": float(chi2.sf(stat, 1)) if denominator > 0 else 1.0, "clusters": g, "discordant_clusters": moved, "note": note}


def paired_bootstrap_delta(fn, y_true: np.ndarray, pred_a: np.ndarray, pred_b: np.ndarray, *, n: int = 1000, level: float = 0.95, seed: int = 0,
                           clusters: Sequence | None = None) -> tuple[float, float, float]:
    """``fn(b) - fn(a)`` and its percentile interval, resampling items jointly; with ``clusters`` (each item's speaker,
    :func:`speaker_resampling`) resampling speakers, every item of a drawn speaker together (the cluster bootstrap)."""
    if len(y_true) == 0:
        return float("nan"), float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    delta = fn(y_true, pred_b) - fn(y_true, pred_a)
    draw = _resampler(rng, len(y_true), clusters)
    stats = [fn(y_true[i], pred_b[i]) - fn(y_true[i], pred_a[i]) for i in (draw() for _ in range(n))]  # NaN: counted, left out
    b = speaker_interval_bounds(stats, level, _cluster_count(clusters))
    return Bounds((float(delta), *b), b.kept, b.drawn)  # (Δ, lo, hi), with the resamples kept (interval_rule.thin_note)


#: a reliability bin with fewer items than this is drawn hollow, in every reliability figure (``workbench metrics``'s
#: bars and the calibration figure's markers), with its n beside it: its accuracy is a few coin flips
SMALL_BIN = 5

#: the smallest p-value printed as a number: below it the words are "p < 0.0001" (an exact test's tiny p is not
#: worth more digits, and ``f"{p:.4f}"`` printed it as "p=0.0000", which reads as impossible)
P_FLOOR = 1e-4


def p_value_text(p: float | None) -> str:
    """A p-value as every output prints it, without the "p": ``"< 0.0001"``, else two significant digits
    (``"0.012"``, ``"0.5"``, ``"1"``); ``"n/a"`` for None or NaN."""
    if p is None or p != p:
        return "n/a"
    return "< 0.0001" if p < P_FLOOR else f"{p:.2g}"


def permutation_p_words(p: float, n_perm: int) -> str:
    """A permutation test's p, ``(1 + reaching) / (n_perm + 1)``, in words: at its floor 1 / (n_perm + 1) it is a bound,
    not a value ("p = 0.001" of 999 permutations read as a measured 0.001; the p may be any smaller)."""
    floor = 1.0 / (int(n_perm) + 1)
    return f"p ≤ {floor:.2g} (the least {int(n_perm)} permutations can give)" if p <= floor * (1 + 1e-9) else f"p = {p:.3g}"


def p_words(p: float | None) -> str:
    """``"p < 0.0001"`` or ``"p = 0.012"`` (:func:`p_value_text` with its "p")."""
    text = p_value_text(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"


def counted(n: int, word: str, words: str | None = None) -> str:
    """``"1 flip"``, ``"2 flips"``: ``n`` and the noun in its number (``words`` when the plural is not ``word + "s"``)."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def mean_t_interval(x, *, level: float = 0.95) -> tuple[float, float, float, int]:
    """Mean of ``x`` with its Student-t interval (scipy's ``t.ppf``) and ``n``; the bounds are NaN under 2 values."""
    from scipy.stats import t

    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    n = len(x)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    mean = float(np.mean(x))
    if n < 2:
        return mean, float("nan"), float("nan"), n
    half = float(t.ppf((1 + level) / 2, n - 1) * np.std(x, ddof=1) / np.sqrt(n))
    return mean, mean - half, mean + half, n
