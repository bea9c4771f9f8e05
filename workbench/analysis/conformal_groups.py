"""Conformal coverage per speaker: the exchangeability the guarantee rests on, stated and checked.

A split-conformal set covers the true class with probability 1 − alpha when the calibration and test items are
exchangeable.  Clips of one speaker are not: a speaker the model reads badly has all of their clips missed together.
``calibrate`` splits calibration and test by speaker (``GroupKFold``), so the guarantee holds with *speakers* as the
exchangeable units: on average over new speakers, not for each one, and the overall coverage varies more than the
exact binomial interval over items (which takes the clips as independent) says.

:func:`group_coverage` states that assumption beside each coverage figure and checks it: the per-speaker coverages
are compared with what exchangeable items would give by a **permutation test within folds** (inside one held-out
fold every item met the same threshold, so under exchangeable items its hits could sit on any of its items; the
statistic is ``sum_g n_g (c_g − c_f)²``, speaker ``g``'s coverage against its fold's).  A spread beyond chance
(p < 0.05) is flagged (screen, ``calibration.json``, report, figure) with the range of the speakers' coverage and
an interval of the overall coverage that resamples speakers instead of items.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from workbench.analysis.calibration_measures import COVERAGE_FAIL, COVERAGE_TOO_FEW, guarantee_words
from workbench.analysis.stats import MIN_CLUSTERS, permutation_p_words, speaker_interval_bounds, speaker_resampling

#: the permutation test's significance level, and its number of permutations
GROUP_ALPHA = 0.05
GROUP_PERMUTATIONS = 999


def assumption_words(by: str | None, grouped: bool) -> str:
    """What the coverage guarantee assumes here, in words (beside every coverage figure)."""
    if not grouped:
        who = f"{by}s" if by else "speakers"
        return (f"assumes exchangeable items: the folds are not grouped by {by or 'speaker'}, so clips of one of the "
                f"{who} can sit in calibration and test alike, and a {by or 'speaker'} effect goes unchecked")
    return (f"assumes exchangeable {by}s (calibration and test split by {by}): the guarantee holds on average over "
            f"{by}s, not for each {by}, and clips of one {by} are not independent")


def _statistic(hit: np.ndarray, codes: np.ndarray, n_g: np.ndarray, expected: np.ndarray) -> np.ndarray:
    """``sum_g (k_g − n_g c_f)² / n_g`` for hits of shape (..., n)."""
    k = np.stack([np.bincount(codes, weights=h, minlength=len(n_g)) for h in hit.reshape(-1, hit.shape[-1])])
    return (((k - expected) ** 2) / n_g).sum(axis=1)


def group_coverage(hit: np.ndarray, groups: np.ndarray | None, folds: Sequence[np.ndarray], *, by: str | None = "speaker",
                   n_perm: int = GROUP_PERMUTATIONS, seed: int = 0) -> dict:
    """The per-``by`` coverage of one conformity score's sets and the check that its spread is within chance.

    ``hit``: True where an item's set holds its true class; ``groups``: each item's speaker (None: not grouped);
    ``folds``: the held-out indices of each fold.  Returns ``{"assumption", "grouped", "by"}`` and, grouped,
    ``groups``, ``coverage_range``, ``sd`` (of the speakers' coverages) and ``sd_expected`` (its mean over the
    permutations), ``p`` (permutation, within folds), ``flag`` (p < :data:`GROUP_ALPHA`), ``cluster_ci`` (95 %
    percentile interval of the overall coverage resampling speakers), ``lowest`` (the three least covered) and
    ``words`` (the flag in words, or ``""``)."""
    hit = np.asarray(hit, dtype=float)
    out = {"assumption": assumption_words(by, groups is not None), "grouped": groups is not None, "by": by}
    if groups is None:
        return out
    names, codes = np.unique(np.asarray(groups).astype(str), return_inverse=True)
    n_g = np.bincount(codes, minlength=len(names)).astype(float)
    fold_rate, fold_of = np.zeros(len(hit)), np.zeros(len(hit), dtype=int)
    for f, test in enumerate(folds):
        fold_rate[test], fold_of[test] = hit[test].mean(), f
    expected = np.bincount(codes, weights=fold_rate, minlength=len(names))  # n_g × its fold's coverage
    rng = np.random.default_rng(seed)
    null, null_sd = [], []
    for start in range(0, n_perm, 100):  # in chunks: 999 copies of 100,000 hits at once is 800 MB
        perms = np.repeat(hit[None, :], min(100, n_perm - start), axis=0)
        for test in folds:  # a fold's hits shuffled over its own items: exchangeable items, one threshold
            perms[:, test] = rng.permuted(perms[:, test], axis=1)
        null.append(_statistic(perms, codes, n_g, expected))
        null_sd += [float(np.std(np.bincount(codes, weights=h, minlength=len(names)) / n_g)) for h in perms]
    null = np.concatenate(null)
    observed = float(_statistic(hit, codes, n_g, expected)[0])
    cov = np.bincount(codes, weights=hit, minlength=len(names)) / n_g
    hits_g = np.bincount(codes, weights=hit, minlength=len(names))
    boot = np.concatenate([(hits_g[picks].sum(axis=1) / n_g[picks].sum(axis=1))  # speakers resampled, their clips together
                           for picks in (rng.integers(0, len(names), size=(b, len(names)))  # 100 at a time: 10^5 speakers
                                         for b in [100] * 9 + [99])])  # at once drew 999 x 10^5 indices (800 MB)
    order = np.argsort(cov, kind="stable")[:3]
    # under MIN_CLUSTERS speakers a bootstrap over them measures nothing (one speaker: [c, c]); under FEW_CLUSTERS it is
    # too narrow: the rule every speaker interval follows (stats.speaker_resampling), said where the interval is
    unit = speaker_resampling([str(g) for g in np.asarray(groups)], word=by or "group")[1]
    out.update(groups=int(len(names)), coverage_range=(float(cov.min()), float(cov.max())), sd=float(np.std(cov)),
               sd_expected=float(np.mean(null_sd)), permutations=int(n_perm), p=float((1 + np.sum(null >= observed - 1e-12)) / (n_perm + 1)),
               # the speaker intervals' rule (t-corrected), none under MIN_CLUSTERS speakers
               cluster_ci=speaker_interval_bounds(boot, 0.95, len(names)) if len(names) >= MIN_CLUSTERS else None,
               cluster_note=unit["note"],
               lowest=[{by or "group": str(names[i]), "coverage": float(cov[i]), "n": int(n_g[i])} for i in order])
    out["flag"] = bool(out["p"] < GROUP_ALPHA)
    out["untestable"] = _untestable(codes, folds, by or "group")
    out["words"] = _flag_words(out, float(hit.mean())) if out["flag"] else ""
    return out


def _untestable(codes: np.ndarray, folds: Sequence[np.ndarray], by: str) -> str:
    """Why shuffling hits within a fold cannot change the per-``by`` spread (the test's p is 1 by construction), or
    ``""``: it needs a fold holding two ``by``s, one of them with two clips or more.  One speaker, a clip per speaker
    or a speaker per fold (``--folds 5`` over 5 speakers) printed "spread within chance (permutation p = 1)"."""
    for test in folds:
        counts = np.bincount(codes[test])
        if np.count_nonzero(counts) >= 2 and counts.max() >= 2:
            return ""
    return (f"no fold holds two {by}s one of whom has two clips or more ({len(np.unique(codes))} {by}(s)), so the "
            f"permutation within folds cannot move a hit between {by}s: nothing to test, p = 1 by construction")


def spread_words(g: dict) -> str:
    """'spread within chance (permutation p = 0.41)', or that the spread could not be checked, and why."""
    if g.get("untestable"):
        return f"spread NOT CHECKED: {g['untestable']}"
    return f"spread within chance (permutation {permutation_p_words(g['p'], g.get('permutations', GROUP_PERMUTATIONS))})"


def _flag_words(g: dict, overall: float) -> str:
    by, (lo, hi) = g["by"], g["coverage_range"]
    low = ", ".join(f"{d[by or 'group']} {d['coverage']:.2f} (n={d['n']})" for d in g["lowest"])
    if g["cluster_ci"] is None:  # too few to resample: no interval, and why
        resampled = f"no interval resampling {by}s ({g['cluster_note']})"
    else:
        resampled = (f"resampling {by}s, the coverage {overall:.3f} has [{g['cluster_ci'][0]:.3f}, {g['cluster_ci'][1]:.3f}]"
                     + (f" ({g['cluster_note']})" if g["cluster_note"] else ""))
    return (f"coverage differs between {by}s more than exchangeable items would give (permutation {permutation_p_words(g['p'], g.get('permutations', GROUP_PERMUTATIONS))} within "
            f"folds, {g['groups']} {by}s: {lo:.2f}-{hi:.2f}, SD {g['sd']:.3f} against {g['sd_expected']:.3f} expected; "
            f"least covered {low}): the guarantee holds on average over {by}s, not for each, and the exact interval "
            f"takes the clips as independent; {resampled}")


def add_group_coverage(conformal: dict, sets: dict, y: np.ndarray, groups: np.ndarray | None, splits: list, *,
                       by: str | None, seed: int = 0) -> tuple[dict, list[str]]:
    """:func:`group_coverage` of each score's sets, added to its ``conformal`` entry (``by_group``, ``assumption``);
    returns the ``checks`` entry ``set_coverage_by_group`` and the flags in words (one per score)."""
    folds = [np.asarray(test) for _, test in splits]
    checks, warnings = {}, []
    for s, st in sets.items():
        g = group_coverage(st[np.arange(len(y)), y], groups, folds, by=by, seed=seed)
        conformal[s]["by_group"], conformal[s]["assumption"] = g, g["assumption"]
        checks[s] = {k: g.get(k) for k in ("grouped", "by", "groups", "p", "flag", "untestable", "coverage_range", "cluster_ci", "cluster_note")}
        if g.get("flag"):
            warnings.append(f"{s.upper()} sets: {g['words']}")
    return {"set_coverage_by_group": checks}, warnings


def _verdict_words(d: dict) -> str:
    """A coverage check's verdict as it is printed: FAILED with its side (and a class's Benjamini–Hochberg ``q`` over the
    classes checked, :func:`~workbench.analysis.calibration_measures.class_family`), too few items, or nothing when it passed."""
    if d.get("check") == COVERAGE_FAIL:
        return f" FAILED ({d['direction']} target)" + (f", BH q {d['q']:.2g} over the classes" if "q" in d else "")
    return " too few items to check" if d.get("check") == COVERAGE_TOO_FEW else ""


def conformal_line(score: str, d: dict, alpha: float) -> str:
    """One conformity score's sets on one line: coverage [exact 95 % interval] against the target, n, size, per class,
    and the assumption the guarantee rests on (with the per-speaker spread, when the folds are grouped)."""
    lo, hi = d["coverage_ci"]
    per = ", ".join(f"{c} {v['coverage']:.2f}/{v['mean_size']:.2f} (n={v['n']}) [{v['coverage_ci'][0]:.2f}, {v['coverage_ci'][1]:.2f}]"
                    + _verdict_words(v) + (" UNINFORMATIVE" if v.get("uninformative") else "") for c, v in d["per_class"].items())
    g = d.get("by_group") or {}
    spread = (f"; per {g['by']} {g['coverage_range'][0]:.2f}-{g['coverage_range'][1]:.2f} over {g['groups']} {g['by']}s, "
              + ("SPREAD BEYOND CHANCE" + f" (permutation {permutation_p_words(g['p'], g.get('permutations', GROUP_PERMUTATIONS))})"
                 if g["flag"] else spread_words(g))
              if g.get("grouped") else "")
    return (f"  {score.upper()} sets at alpha {alpha}: coverage {d['coverage']:.3f} [{lo:.3f}, {hi:.3f}] (target {1 - alpha:.2f}, n={d['n']}, exact "
            f"{100 * d['level']:g} % interval; {guarantee_words(d['guarantee']) + '; ' if 'guarantee' in d else ''}check: {d['check'].upper() if d['check'] != COVERAGE_TOO_FEW else d['check']}), "
            f"mean size {d['mean_size']:.2f} of {d['n_classes']} classes"
            + (" (UNINFORMATIVE: nearly every class)" if d["uninformative"] else "")
            + f"; per class coverage/size (n) [interval]: {per}"
            + (f"\n    coverage {d['assumption']}{spread}" if d.get("assumption") else ""))
