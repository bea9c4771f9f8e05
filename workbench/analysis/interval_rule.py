"""The one rule for an interval over resampled speakers: the t-corrected (expanded) percentile interval.

The percentile bootstrap over G resampled speakers is too narrow on few speakers: the plug-in variance is
``(G-1)/G`` of the unbiased one, and its tails are normal where a mean over G speakers has Student-t tails.  Over 30
speakers with a speaker effect its 95 % interval covered 89–93 % of the population value (benchmarks/speaker_coverage.py,
the table in README).  Hesterberg's expanded percentile interval takes the resamples' percentiles at the level that
corrects both; it covered 93–96 % at 10–60 speakers, with and without a speaker effect, where BCa (jackknife over
speakers) stayed at the percentile interval's coverage.  Items resampled (no speakers): the plain percentile interval.
"""

from __future__ import annotations

import numpy as np

#: the name of the speaker intervals' construction (:func:`speaker_interval_bounds`), said wherever their unit is
INTERVAL_NAME = "t-corrected percentile"

#: an interval resting on fewer than this share of its resamples is flagged (:func:`thin_note`): the figure was undefined
#: (NaN) in the others, e.g. a class neither present nor predicted there, and they are left out of the percentiles
THIN_SHARE = 0.9


class Bounds(tuple):
    """An interval's numbers, a plain tuple as before (``(lo, hi)``, or :func:`~workbench.analysis.stats.paired_bootstrap_delta`'s
    ``(delta, lo, hi)``), that also says how many resamples it rests on: ``kept`` (the statistic defined there) of
    ``drawn``.  Resamples whose statistic is NaN are left out of the percentiles; an interval from 134 of 200 read as
    one from 200 until these counts were kept (:func:`resamples_kept`, :func:`thin_note`)."""

    def __new__(cls, values, kept: int | None = None, drawn: int | None = None):
        self = super().__new__(cls, values)
        self.kept, self.drawn = kept, drawn
        return self

    def __reduce__(self):
        return (Bounds, (tuple(self), self.kept, self.drawn))


def resamples_kept(bounds) -> dict | None:
    """``{"kept": k, "drawn": n}`` of an interval that counted its resamples (a :class:`Bounds`), or None (a plain tuple:
    unknown).  A dict, not a pair: a pair would read like an interval's ``[lo, hi]`` once in JSON."""
    kept, drawn = getattr(bounds, "kept", None), getattr(bounds, "drawn", None)
    return None if kept is None or drawn is None else {"kept": int(kept), "drawn": int(drawn)}


def thin_note(counts) -> str:
    """Words for an interval resting on fewer than :data:`THIN_SHARE` of its resamples (``counts``: a :class:`Bounds` or
    :func:`resamples_kept`'s dict), or ``""`` (enough, or not counted: a plain tuple or list, None)."""
    counts = resamples_kept(counts) if isinstance(counts, tuple) else counts
    if not isinstance(counts, dict) or not counts.get("drawn") or counts["kept"] >= THIN_SHARE * counts["drawn"]:
        return ""
    kept, drawn = counts["kept"], counts["drawn"]
    return (f"interval from {kept} of {drawn} resamples ({kept / drawn:.0%}): the figure is undefined in the others (e.g. a "
            "class neither present nor predicted there), so it describes only the resamples where it exists; read it as rough")


def thin_notes(named) -> str:
    """One sentence for the intervals of ``named`` (``[(what, counts)]``, e.g. ``("recall of sad", …)``) that rest on
    too few resamples, or ``""``: one of them in :func:`thin_note`'s words after its name, several with each one's
    count and the reason said once (per class, the same sentence stood once per class: walk17)."""
    thin = [(what, resamples_kept(c) if isinstance(c, tuple) else c) for what, c in named if thin_note(c)]
    if len(thin) < 2:
        return "; ".join(f"{what}: {thin_note(c)}" for what, c in thin)
    counts = ", ".join(f"{what} {c['kept']} of {c['drawn']}" for what, c in thin)
    return (f"intervals from under {THIN_SHARE:.0%} of their resamples ({counts}): each figure is undefined in the others "
            "(e.g. a class neither present nor predicted there), so its interval describes only the resamples where it "
            "exists; read them as rough")


def unit_phrase(unit: dict | None) -> str:
    """What an interval resampled, with the construction's name where speakers were: ``resampling the 12 speakers,
    t-corrected percentile`` (the ``words`` of :func:`~workbench.analysis.stats.speaker_resampling` without their
    parenthesis, which lines that quote them cut off, and the name with it), or ``resampling items``."""
    if not unit or unit.get("unit") in (None, "item"):
        return "resampling items"
    return f"resampling the {unit['short']}, {unit.get('interval') or INTERVAL_NAME}"


def expanded_level(level: float, clusters: int | None) -> float:
    """The percentile level that an interval over ``clusters`` resampled speakers takes for a ``level`` interval: the
    expanded percentile (Hesterberg 2015, "What teachers should know about the bootstrap", sec. 4.5):
    ``2 Phi(sqrt(G/(G-1)) t_{G-1, (1+level)/2}) - 1``.  The percentile bootstrap over G speakers is too narrow by the
    factor ``sqrt((G-1)/G)`` (the plug-in variance) and by using normal rather than t quantiles; over 30 speakers with
    a speaker effect its 95 % covered 89–93 % (benchmarks/speaker_coverage.py, README).  None (items): ``level``."""
    if clusters is None:
        return level
    from scipy.stats import norm, t

    g = max(int(clusters), 2)
    return float(2 * norm.cdf(np.sqrt(g / (g - 1)) * t.ppf((1 + level) / 2, g - 1)) - 1)


def speaker_interval_bounds(values, level: float, clusters: int | None = None) -> Bounds:
    """The interval of bootstrap ``values`` (NaN left out; NaNs with none): with ``clusters`` (the number of speakers
    resampled) the t-corrected expanded percentile interval (:func:`expanded_level`), the one rule every speaker
    interval follows; None (items resampled): the plain percentile interval, exactly as before.  A :class:`Bounds`:
    ``kept`` counts the non-NaN values, ``drawn`` all of them."""
    column = np.asarray(values, dtype=float)
    kept = column[~np.isnan(column)]
    if not len(kept):
        return Bounds((float("nan"), float("nan")), 0, len(column))
    wide = expanded_level(level, clusters)
    lo, hi = np.percentile(kept, [100 * (1 - wide) / 2, 100 * (1 + wide) / 2])
    return Bounds((float(lo), float(hi)), len(kept), len(column))
