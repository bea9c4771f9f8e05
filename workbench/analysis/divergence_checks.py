"""The references that make the listener figures meaningful: a uniform guess over the same classes for a divergence to
the votes, and 0 for the confidence–agreement correlation.

A cross-entropy of 2.182 nats [2.122, 2.250] to votes over nine classes says nothing until it stands beside
log 9 = 2.197 nats, what scores of 1/9 for every class get on every item (whatever the votes); a Jensen–Shannon
divergence likewise beside the uniform guess's own divergence to the same votes, item by item.  The check is paired:
the mean of the per-item differences (model − uniform guess) with the run's bootstrap interval; a difference whose
interval does not lie below 0 is flagged, as ``workbench calibrate`` flags an NLL that a uniform guess matches.
"""

from __future__ import annotations

import math

import numpy as np

from workbench.analysis.interval_rule import unit_phrase
from workbench.analysis.stats import bootstrap_ci, speaker_resampling

NO_CI = (float("nan"), float("nan"))


EPS = 1e-12


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen–Shannon divergence (base 2, in [0, 1]) of each row of ``p`` with the same row of ``q``.

    ``p``, ``q``: ``(n, k)`` non-negative rows (normalised here).  scipy's
    ``jensenshannon`` returns the JS *distance*, the square root of the divergence.
    """
    from scipy.spatial.distance import jensenshannon

    p, q = np.atleast_2d(np.asarray(p, float)), np.atleast_2d(np.asarray(q, float))
    return np.asarray(jensenshannon(p, q, axis=1, base=2), dtype=float) ** 2


def cross_entropy(votes: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """``−Σ_k v_k log p_k`` per row (nats): ``votes`` ``(n, k)`` a distribution, ``scores`` ``(n, k)`` renormalised, clipped at 1e-12."""
    v = np.atleast_2d(np.asarray(votes, float))
    p = np.atleast_2d(np.asarray(scores, float))
    p = np.clip(p / p.sum(axis=1, keepdims=True), EPS, None)
    return -(v * np.log(p)).sum(axis=1)


def _spearman(a, b) -> float:
    """Spearman's rho: Pearson's r of the average ranks (scipy's ``rankdata``), equal to ``spearmanr`` (tested)
    without its per-call checks, which dominated a 1000-resample bootstrap; NaN when either side is constant."""
    from scipy.stats import rankdata

    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(rankdata(a), rankdata(b))[0, 1])


def mean_ci(x: np.ndarray, interval, speakers=None) -> tuple[float, tuple[float, float]]:
    """The mean of the known (non-NaN) values of ``x`` and its bootstrap interval; NaN when none is known.  ``speakers``
    (each value's, ``""`` for none): the interval resamples those of the known values where there are enough
    (:func:`~workbench.analysis.stats.speaker_resampling`), else items."""
    known = ~np.isnan(x)
    x = x[known]
    if not len(x):
        return float("nan"), NO_CI
    clusters = speaker_resampling(np.asarray(speakers, dtype=object)[known])[0] if speakers is not None else None
    return float(np.mean(x)), tuple(interval(lambda a, _b: float(np.mean(a)), x, x, clusters=clusters))


def unit_suffix(unit: dict | None) -> str:
    """`` (intervals resampling the 12 speakers)`` and the rule's note, as the screen and the page say it; "" for items
    when no speaker is known (the words of the lines before speakers were resampled)."""
    if not unit or (unit["unit"] == "item" and not unit.get("note")):
        return ""
    return f" (intervals {unit_phrase(unit)}" + (f"; {unit['note']}" if unit.get("note") else "") + ")"


def uniform_reference(jsd: np.ndarray, jsd_uniform: np.ndarray, ce: np.ndarray, n_classes: int, interval, speakers=None) -> dict:
    """The uniform guess's figures over the items with a vote distribution (those where ``jsd`` is known) and the
    paired differences model − uniform with their intervals (over ``speakers`` as :func:`mean_ci`); ``{}`` without such
    items or with fewer than 2 classes."""
    known = ~np.isnan(jsd)
    if not known.any() or n_classes < 2:
        return {}
    spk = None if speakers is None else np.asarray(speakers, dtype=object)[known]
    (dj, dj_ci), (dc, dc_ci) = (mean_ci(jsd[known] - jsd_uniform[known], interval, spk),
                                mean_ci(ce[known] - math.log(n_classes), interval, spk))
    return {"n_classes": int(n_classes), "n_items": int(known.sum()),
            "jsd_uniform": float(np.mean(jsd_uniform[known])), "jsd_minus_uniform": dj, "jsd_minus_uniform_ci": dj_ci,
            "cross_entropy_uniform": math.log(n_classes), "cross_entropy_minus_uniform": dc, "cross_entropy_minus_uniform_ci": dc_ci}


def uniform_checks(ref: dict, jsd: tuple[float, tuple[float, float]], ce: tuple[float, tuple[float, float]]) -> list[str]:
    """Words for each divergence that is not below a uniform guess's (its paired difference's interval reaches 0 or
    lies above it; without an interval, the difference itself is not below 0), or ``[]``.  ``jsd``, ``ce``: the model's
    mean and interval as shown."""
    if not ref:
        return []
    k, out = ref["n_classes"], []
    for name, unit, (value, ci), uniform, key in (
            ("Jensen-Shannon divergence", "bits", jsd, f"its own {ref['jsd_uniform']:.3f} bits to the same votes", "jsd"),
            ("cross-entropy", "nats", ce, f"log {k} = {ref['cross_entropy_uniform']:.3f} nats on every item", "cross_entropy")):
        d, (lo, hi) = ref[f"{key}_minus_uniform"], ref[f"{key}_minus_uniform_ci"]
        bounds = (lo, hi) if lo == lo and hi == hi else (d, d)
        if bounds[1] < 0:
            continue
        verdict = "WORSE than" if bounds[0] > 1e-12 else "NOT better than (the interval of its difference reaches)"
        diff = f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]" if lo == lo and hi == hi else f"{d:+.3f}"
        shown = f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci[0] == ci[0] and ci[1] == ci[1] else ""  # none: `--bootstrap 0` said [nan, nan]
        out.append(f"{name} {value:.3f} {unit}{shown} is {verdict} a uniform guess over {k} classes "
                   f"({uniform}; model − uniform {diff} over {ref['n_items']} items): the model's scores are "
                   + ("further from the votes than scores of 1/k" if bounds[0] > 1e-12 else "no measurably closer to the votes"))
    return out


def rho_check(rho: float, ci: tuple[float, float], n: int) -> list[str]:
    """Words for a Spearman rho(confidence, agreement) whose bootstrap interval holds 0 (no measurable association: the
    model's confidence does not follow how much its listeners agree), or ``[]``; none without an interval."""
    lo, hi = ci
    if not (lo == lo and hi == hi) or lo > 0 or hi < 0:
        return []
    return [f"Spearman rho(confidence, agreement) {rho:.3f} [{lo:.3f}, {hi:.3f}] over {n} items: the interval holds 0, so the "
            "model's confidence does not measurably follow how much its listeners agree"]


def rho_defined_check(rho: float, conf, agreement, draws: tuple[int, int]) -> list[str]:
    """Words for a Spearman rho(confidence, agreement) that is undefined, or whose interval left resamples out, or ``[]``.

    Rho is undefined when one side is constant: every item with one agreement (all judged 10 of 10) printed "n/a [n/a,
    n/a]" with no reason.  A resample of items with one agreement level has no rho either, and the bootstrap leaves it
    out: with 40 clear items and 1 split item a third of the resamples missed the split item and the interval, from the
    rest, read [0.074, 0.273], a measured association that rests on one item.  ``draws``: (resamples with a rho, all)."""
    conf, agreement = np.asarray(conf, float), np.asarray(agreement, float)
    if rho != rho:
        if len(agreement) < 3:
            return [f"Spearman rho(confidence, agreement) n/a: {len(agreement)} item(s), a rank correlation needs 3 or more"]
        which, side = ("agreement", agreement) if np.ptp(agreement) == 0 else ("confidence", conf)
        return [f"Spearman rho(confidence, agreement) n/a: all {len(side)} items have the same {which} ({side[0]:.3f}), "
                "so there is no ranking to correlate"]
    kept, n = draws
    if not n or kept == n:
        return []
    _, counts = np.unique(np.round(agreement, 9), return_counts=True)
    return [f"Spearman rho(confidence, agreement)'s interval comes from {kept} of {n} resamples: the other {n - kept} drew items "
            f"of one agreement level only (rho undefined), so it holds only for resamples that drew the rarer levels ({len(counts)} "
            f"levels, the rarest held by {counts.min()} item(s)); rho {rho:.3f} rests on those few items"]


def single_rater_check(n_raters: np.ndarray, wrong: np.ndarray, band: str) -> list[str]:
    """Words for the items judged by one listener, or ``[]``: their agreement is 1 of 1 by construction, so they sit
    in the top agreement band (``band``) and count as 'listeners agree' without any agreement measured.  ``wrong``: the
    indices of the 'listeners agree, model wrong' items, to say how many of them rest on one listener."""
    one = np.asarray(n_raters, dtype=float) == 1
    if not one.any():
        return []
    return [f"{int(one.sum())} of {len(one)} items have one listener's judgement (n_raters 1): their agreement is 1 of 1 by "
            f"construction, not agreement measured, yet they sit in the band {band} and {int(one[wrong].sum())} of the "
            f"{len(wrong)} items 'listeners agree, model wrong' are among them; agreement needs two or more listeners per item"]


def bootstrap_interval(n_boot: int, seed: int):
    """``interval(fn, a, b, clusters=None)``: the run's percentile bootstrap (:func:`workbench.analysis.stats.bootstrap_ci`,
    over speakers with ``clusters``); NaN for n_boot=0."""
    def interval(fn, a, b, clusters=None):
        if n_boot:
            return bootstrap_ci(fn, a, b, n=n_boot, seed=seed, clusters=clusters)
        value = fn(a, b)
        return [NO_CI] * len(value) if isinstance(value, tuple) else NO_CI
    return interval
