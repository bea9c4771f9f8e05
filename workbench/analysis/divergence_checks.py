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

from workbench.analysis.stats import bootstrap_ci

NO_CI = (float("nan"), float("nan"))


def mean_ci(x: np.ndarray, interval) -> tuple[float, tuple[float, float]]:
    """The mean of the known (non-NaN) values of ``x`` and its bootstrap interval; NaN when none is known."""
    x = x[~np.isnan(x)]
    if not len(x):
        return float("nan"), NO_CI
    return float(np.mean(x)), tuple(interval(lambda a, _b: float(np.mean(a)), x, x))


def uniform_reference(jsd: np.ndarray, jsd_uniform: np.ndarray, ce: np.ndarray, n_classes: int, interval) -> dict:
    """The uniform guess's figures over the items with a vote distribution (those where ``jsd`` is known) and the
    paired differences model − uniform with their intervals; ``{}`` without such items or with fewer than 2 classes."""
    known = ~np.isnan(jsd)
    if not known.any() or n_classes < 2:
        return {}
    (dj, dj_ci), (dc, dc_ci) = mean_ci(jsd[known] - jsd_uniform[known], interval), mean_ci(ce[known] - math.log(n_classes), interval)
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
