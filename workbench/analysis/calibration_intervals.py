"""A calibration's intervals and self-checks: the bootstrap of its errors, AURC and accuracy at coverage, each counted.

The same resamples before and after; each interval counts the resamples it kept (:class:`~workbench.analysis.interval_rule.Bounds`),
and one from under 90 % of them is flagged (``thin_intervals``), as the fit's other checks are: edge, NLL against uniform and
uncalibrated, zero-width intervals, a point outside its interval.  The temperature's own interval (the fit repeated on
resamples: :func:`temperature_interval`) is here too.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from workbench.analysis.calibration_measures import (
    COVERAGES, T_BOUNDS, accuracy_at_coverage, aurc_random_order_words, brier_uniform_words, calibration_errors, coverage_items, edge_message,
    fit_edge, fit_temperature, nll_verdict, risk_coverage, temperature_at_edge,
)
from workbench.analysis.groups import zero_width_note
from workbench.analysis.interval_rule import THIN_SHARE, resamples_kept, thin_note
from workbench.analysis.stats import INTERVAL_NAME, bootstrap_ci, cluster_ids, speaker_interval_bounds

#: the calibration errors, in the order the bootstrap returns them
ERROR_METRICS = ("ece", "mce", "brier", "nll")


def _bootstrapped(before_probs: np.ndarray, after_probs: np.ndarray, y: np.ndarray, *, bins: int, n_boot: int, seed: int,
                  clusters=None) -> dict:
    """Point values and bootstrap intervals (the same resamples before and after) of the errors, AURC and accuracy at
    coverage: over speakers with ``clusters`` (:func:`~workbench.analysis.stats.speaker_resampling`), else items."""
    n = len(y)
    shares = [f"{int(s * 100)}%" for s in COVERAGES]

    def stats(idx, _):
        idx = np.asarray(idx, dtype=int)
        b, a = calibration_errors(before_probs[idx], y[idx], bins=bins), calibration_errors(after_probs[idx], y[idx], bins=bins)
        cb, rb, ab = risk_coverage(before_probs[idx], y[idx])
        ca, ra, aa = risk_coverage(after_probs[idx], y[idx])
        return ([b[m] for m in ERROR_METRICS] + [a[m] for m in ERROR_METRICS] + [ab, aa]
                + [accuracy_at_coverage(cb, rb, s) for s in COVERAGES] + [accuracy_at_coverage(ca, ra, s) for s in COVERAGES] + [ab - rb[-1], aa - ra[-1]])

    index = np.arange(n)
    ci = bootstrap_ci(stats, index, index, n=n_boot, seed=seed, clusters=clusters)
    nc = len(COVERAGES)
    cov_b, risk_b, aurc_b = risk_coverage(before_probs, y)
    cov_a, risk_a, aurc_a = risk_coverage(after_probs, y)
    return {
        # each a Bounds (a tuple that counts the resamples it kept): the counts reach the checks, not a plain tuple
        "ci_before": {m: ci[i] for i, m in enumerate(ERROR_METRICS)},
        "ci_after": {m: ci[4 + i] for i, m in enumerate(ERROR_METRICS)},
        "aurc_ci": (ci[8], ci[9]),
        "accuracy_at_ci": {sh: {"before": ci[10 + j], "after": ci[10 + nc + j]} for j, sh in enumerate(shares)},
        "accuracy_at": {sh: {"before": accuracy_at_coverage(cov_b, risk_b, s), "after": accuracy_at_coverage(cov_a, risk_a, s),
                             "items": coverage_items(s, n), "of": n} for sh, s in zip(shares, COVERAGES)},  # its denominator
        "curves": ({"coverage": cov_b.tolist(), "risk": risk_b.tolist()}, {"coverage": cov_a.tolist(), "risk": risk_a.tolist()}),
        "aurc": (aurc_b, aurc_a), "aurc_vs_random_ci": (tuple(ci[-2]), tuple(ci[-1])),  # AURC − the error rate, paired
        "before": calibration_errors(before_probs, y, bins=bins), "after": calibration_errors(after_probs, y, bins=bins),
    }


def _self_checks(lp, y, temperature: float, fold_t: list[float], fig: dict, t_ci, t_boot: dict, *, bounds, k: int) -> dict:
    """The fit's self-checks (edge, fold edges, NLL against uniform and uncalibrated, zero-width intervals), in flags and words."""
    n = len(y)
    warnings: list[str] = []
    edge = fit_edge(lp, y, temperature, bounds)
    if edge:
        warnings.append(edge_message(temperature, edge, bounds))
    fold_edges = [i for i, t in enumerate(fold_t) if temperature_at_edge(t, bounds)]
    if fold_edges and not edge:
        warnings.append(f"{len(fold_edges)} of {len(fold_t)} fold temperature{'s are' if len(fold_edges) > 1 else ' is'} at a bound of the search [{bounds[0]:g}, {bounds[1]:g}]: "
                        "the held-out figures after calibration come partly from degenerate fits")
    ci_before, ci_after, random_order = fig["ci_before"], fig["ci_after"], aurc_random_order_words(fig)  # AURC vs a random order
    words, nll_flags = nll_verdict(fig["after"]["nll"], fig["before"]["nll"], k, tuple(ci_after["nll"]) if "nll" in ci_after else None,
                                   folds_at_bound=(len(fold_edges), len(fold_t)))
    if nll_flags["nll_not_better_than_uniform"] or nll_flags["nll_worse_than_uncalibrated"]:
        warnings.append(words[0].upper() + words[1:])
    # intervals that resampling cannot widen (every resample gives the same value) are no measurement: say which
    intervals = {"T": t_ci, "AURC before": fig["aurc_ci"][0], "AURC after": fig["aurc_ci"][1],
                 **{f"{m.upper()} {w}": (ci_before if w == "before" else ci_after)[m] for m in ERROR_METRICS for w in ("before", "after")},
                 **{f"accuracy at {sh} {w}": c[w] for sh, c in fig["accuracy_at_ci"].items() for w in ("before", "after")}}
    flat = [name for name, (a, b) in intervals.items() if zero_width_note(a, b, n)]
    counts = {name: c for name, b in intervals.items() if (c := resamples_kept(b))}  # the resamples each interval rests on
    if t_boot.get("resamples") and "kept" in t_boot:  # T's refits, counted by temperature_interval
        counts["T"] = {"kept": int(t_boot["kept"]), "drawn": int(t_boot["resamples"])}
    thin = [name for name, c in counts.items() if thin_note(c)]
    # a binned ECE/MCE resampled is biased upwards: its percentile interval can miss its own point, which is said, not shown bare
    points = {f"{m.upper()} {w}": fig[w][m] for m in ("ece", "mce") for w in ("before", "after")}
    outside = [name for name, v in points.items() if v == v and not intervals[name][0] - 1e-12 <= v <= intervals[name][1] + 1e-12]
    if "T" not in flat and t_boot.get("resamples") and t_boot.get("at_edge") == t_boot["resamples"]:
        flat.insert(0, "T")  # every refit stopped at the bound: the interval is the bound (up to the search's tolerance)
    recommended = not edge and not nll_flags["nll_not_better_than_uniform"] and not nll_flags["nll_worse_than_uncalibrated"]
    checks = {"temperature_at_edge": edge, "fold_temperatures_at_edge": len(fold_edges), **nll_flags, "recommended": recommended,
              "zero_width_intervals": flat, "thin_intervals": thin, "point_outside_interval": outside, "aurc_not_below_random_order": random_order, "brier_not_below_uniform": (brier := brier_uniform_words(fig, k))}
    notes = [f"zero-width intervals ({', '.join(flat)}): every resample of the {n} items gives the same value, so these intervals "
             "show no uncertainty where there is some (marked !! zero width)"] if flat else []
    if outside:
        notes.append(f"point outside its interval ({', '.join(outside)}): binned ECE and MCE are biased upwards on small samples and a "
                     "resample, with its repeated items, more so, so the interval can miss the point (marked !! outside its interval); "
                     "read it as the spread, and compare Brier and NLL, which are unbiased means")
    if thin:  # an interval from 120 of 200 resamples read as one from 200
        notes.append(thin_words(thin, counts))
    return {"edge": edge, "interval_resamples": counts, "warnings": warnings + random_order + brier, "words": words, "notes": notes, "checks": checks, "recommended": recommended}


def thin_words(thin: list[str], counts: dict) -> str:
    """The note on the intervals resting on under :data:`~workbench.analysis.interval_rule.THIN_SHARE` of their resamples."""
    each = ", ".join(f"{name} {counts[name]['kept']} of {counts[name]['drawn']}" for name in thin)
    return (f"intervals from under {THIN_SHARE:.0%} of their resamples ({each}): the figure is undefined in the others, which are "
            "left out, so the interval describes only the resamples where it exists; read it as rough (marked !! N of M resamples)")


def thin_mark(counts: dict | None) -> str:
    """`` !! 120 of 200 resamples`` after a figure whose interval rests on under 90 % of its resamples, else ``""``."""
    return f" !! {counts['kept']} of {counts['drawn']} resamples" if thin_note(counts) else ""


def temperature_interval(log_probs: np.ndarray, y: np.ndarray, *, n_boot: int, seed: int, level: float = 0.95,
                         bounds: tuple[float, float] = T_BOUNDS, clusters: Sequence | None = None) -> tuple[tuple[float, float], dict]:
    """Percentile bootstrap interval of the fitted temperature: the fit repeated on ``n_boot`` item resamples, or with
    ``clusters`` (each item's speaker, :func:`~workbench.analysis.stats.speaker_resampling`) on ``n_boot`` resamples of
    the speakers, every item of a drawn speaker together (a speaker's clips share how over- or under-confident the
    model is on the voice).

    Returns the interval and ``{"resamples", "at_edge", "method"}``; resamples
    whose fit ends at a bound count in ``at_edge`` (their T is a bound, not an optimum).
    """
    n = len(y)
    if n == 0 or n_boot < 1:
        return (float("nan"), float("nan")), {"resamples": 0, "at_edge": 0, "method": "none"}
    rng = np.random.default_rng(seed)
    if clusters is None:
        draws = (rng.integers(0, n, n) for _ in range(n_boot))
    else:
        ids = cluster_ids(clusters)
        members = np.split(np.argsort(ids, kind="stable"), np.cumsum(np.bincount(ids))[:-1])
        draws = (np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))]) for _ in range(n_boot))
    fits = np.array([fit_temperature(log_probs[i], y[i], bounds=bounds) for i in draws])
    edges = sum(bool(temperature_at_edge(t, bounds)) for t in fits)  # (the flat-NLL case is checked on the full fit only)
    # the speaker intervals' one rule (t-corrected over the speakers; items: the plain percentile interval)
    b = speaker_interval_bounds(fits, level, None if clusters is None else len(members))  # ``kept``: refits with a T (not NaN)
    method = "item bootstrap, percentile" if clusters is None else f"speaker (cluster) bootstrap, {INTERVAL_NAME}"
    return (float(b[0]), float(b[1])), {"resamples": int(n_boot), "kept": int(b.kept), "at_edge": int(edges), "method": method}
