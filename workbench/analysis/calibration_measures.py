"""The measures of calibration, as pure functions of scores and labels: the temperature fit and its checks, the
calibration errors (ECE, MCE, Brier, NLL), risk–coverage, conformal prediction sets (MAPIE) and the temperature's
bootstrap interval.  :mod:`workbench.analysis.calibration` runs them under speaker-independent folds (its docstring
gives the definitions and the protocol).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from workbench.errors import ConfigError
from workbench.labels import LABEL_KEYS
from workbench.analysis.stats import ece as binned_ece
from workbench.analysis.groups import BLANK_EMOTION_FIX, blank_emotion_words
from workbench.model.temperature import TEMPERATURE_RANGE, softmax

#: where the temperature is searched: the range every scoring command accepts (a fitted T can always be applied);
#: a fit at either edge means the scores are degenerate, not miscalibrated
T_BOUNDS = TEMPERATURE_RANGE
#: a fitted temperature within this relative distance of a bound of its search counts as *at* the bound
EDGE_TOLERANCE = 0.01
#: bootstrap resamples of the temperature fit (each one is a fit; capped so the interval costs seconds)
T_BOOTSTRAP_CAP = 200
#: the shares of items answered at which accuracy is reported (selective prediction)
COVERAGES = (0.5, 0.8, 0.9, 1.0)
CONFORMITY_SCORES = ("lac", "aps")
#: confidence level of the exact binomial (Clopper–Pearson) interval on a conformal coverage
COVERAGE_LEVEL = 0.95
#: sets whose mean size reaches this share of the classes hold nearly every class: they say next to nothing
UNINFORMATIVE_SIZE_SHARE = 0.9
#: the verdicts of a coverage check
COVERAGE_PASS, COVERAGE_FAIL, COVERAGE_TOO_FEW = "pass", "fail", "too few items to check"
ECE_BINS = 15
_TINY = 1e-12  # stored probabilities of exactly 0 (float32 underflow) become this before the log


# ---------------------------------------------------------------------------
# temperature
# ---------------------------------------------------------------------------
def nll(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-likelihood (nats) of integer labels ``y`` (n,) under ``softmax(logits)`` (n, K)."""
    from scipy.special import log_softmax

    lp = log_softmax(np.asarray(logits, dtype=float), axis=1)
    return float(-lp[np.arange(len(y)), y].mean())


def fit_temperature(logits: np.ndarray, y: np.ndarray, *, bounds: tuple[float, float] = T_BOUNDS) -> float:
    """The temperature that minimises the NLL of ``softmax(logits / T)``.

    Parameters
    ----------
    logits : ndarray, shape (n, K)
        Logits or log-probabilities of ``n`` items over ``K`` classes.
    y : ndarray of int, shape (n,)
        The true class index of each item.
    bounds : (float, float)
        Search range of ``T``; the search runs over ``log T`` (SciPy's bounded
        Brent method), where the NLL is smooth and the range symmetric.

    Returns
    -------
    float
        ``T``; above 1 softens over-confident scores, below 1 sharpens.
    """
    from scipy.optimize import minimize_scalar

    logits = np.asarray(logits, dtype=float)
    y = np.asarray(y, dtype=int)
    if len(y) == 0:
        raise ConfigError("no items to fit a temperature on.", fix="calibrate a run with labelled, scored items.")
    res = minimize_scalar(lambda u: nll(logits / np.exp(u), y), bounds=tuple(np.log(bounds)), method="bounded",
                          options={"xatol": 1e-6})
    return float(np.exp(res.x))


def temperature_at_edge(temperature: float, bounds: tuple[float, float] = T_BOUNDS, *, tol: float = EDGE_TOLERANCE) -> str:
    """``"lower"`` or ``"upper"`` when ``temperature`` lies at (or within ``tol``, relative, of) a bound of its search, else ``""``.

    A fit that stops at a bound has not found an optimum: the NLL still falls
    beyond it.  Above the upper bound the best temperature flattens the scores
    towards a uniform guess (they rank the classes no better than chance);
    below the lower bound it sharpens them towards 0/1 (the classes are
    separated perfectly).  Either way the scores are degenerate, not
    miscalibrated, and no temperature is the fix.
    """
    lo, hi = bounds
    t = float(temperature)
    if t <= lo * (1 + tol):
        return "lower"
    if t >= hi / (1 + tol):
        return "upper"
    return ""


def fit_edge(logits: np.ndarray, y: np.ndarray, temperature: float, bounds: tuple[float, float] = T_BOUNDS) -> str:
    """:func:`temperature_at_edge`, or the bound whose NLL is no higher than the fitted one's.

    When the NLL is flat out to a bound (perfectly separated items: it is 0 in
    floating point below some T) the search stops anywhere on the flat part,
    away from the bound; the fit has still found no optimum.
    """
    edge = temperature_at_edge(temperature, bounds)
    if edge:
        return edge
    at = nll(np.asarray(logits, dtype=float) / temperature, y)
    for name, bound in (("lower", bounds[0]), ("upper", bounds[1])):
        if nll(np.asarray(logits, dtype=float) / bound, y) <= at + 1e-12:
            return name
    return ""


def edge_message(temperature: float, edge: str, bounds: tuple[float, float] = T_BOUNDS) -> str:
    """The words for a temperature at the ``edge`` of its search (see :func:`temperature_at_edge`)."""
    beyond = ("flatten the scores towards a uniform guess: they rank the classes no better than chance" if edge == "upper"
              else "sharpen the scores towards 0 and 1: the classes are separated perfectly on these items")
    return (f"T = {temperature:.3f} is at the {edge} bound of the search [{bounds[0]:g}, {bounds[1]:g}] (or the NLL is flat out to it): "
            f"the best temperature lies beyond it and would {beyond}. Degenerate scores, not miscalibration; this temperature is not recommended.")


def nll_verdict(after: float, before: float, n_classes: int, after_ci: tuple[float, float] | None = None, *,
                folds_at_bound: tuple[int, int] | None = None) -> tuple[str, dict[str, bool]]:
    """Calibrated NLL against a uniform guess (``log K``) and against the uncalibrated NLL, in words, and the flags.

    ``folds_at_bound`` = (fold temperatures at a bound of the search, folds): the words blame bound-stopped folds only
    when there are some; with none, they say the folds' temperatures did not carry over to the held-out items.

    With ``after_ci`` (the calibrated NLL's bootstrap interval), an interval that reaches ``log K`` means the
    calibrated scores are not shown to be better than a uniform guess: a NLL of 1.384 against log 4 = 1.386 with
    the interval [1.374, 1.390] is flagged, not counted as a success; and it is called worse than uniform only when the
    interval lies at or above ``log K`` as well (a point a hair above with the interval on both sides is "not better").
    """
    uniform = float(np.log(n_classes))
    lo, hi = after_ci if after_ci is not None else (after, after)
    # worse only when the interval says so too: 1.099 [1.093, 1.106] against log 3 = 1.099 is not shown to be worse
    worse_than_uniform = bool(after >= uniform and not (np.isfinite(lo) and lo < uniform))
    not_better_than_uniform = bool(worse_than_uniform or (np.isfinite(hi) and hi >= uniform))
    worse_than_before = bool(after > before)
    verdict = ("WORSE than" if worse_than_uniform else "NOT better than (its interval reaches)" if not_better_than_uniform
               else "better than")
    interval = f" [{lo:.3f}, {hi:.3f}]" if after_ci is not None and np.isfinite(lo) and np.isfinite(hi) else ""
    words = (f"calibrated NLL {after:.3f}{interval} is {verdict} a uniform guess over "
             f"{n_classes} classes (log {n_classes} = {uniform:.3f}) and {'HIGHER than' if worse_than_before else 'lower than'} "
             f"the uncalibrated {before:.3f}")
    if not_better_than_uniform and before < uniform:  # the scores beat a uniform guess before: the fitted T spoils them
        at, folds = folds_at_bound if folds_at_bound is not None else (None, None)
        why = ("" if at is None else f" ({at} of {folds} fold temperatures at a bound of the search: degenerate fits)" if at
               else " (no fold temperature is at a bound of the search: the folds' temperatures do not carry over to the held-out items)")
        words += (": the uncalibrated scores beat a uniform guess, so it is the fitted temperature that spoils them"
                  f"{why}, not scores without information")
    elif not_better_than_uniform:
        words += ": the scores carry no information a temperature can use"
    elif worse_than_before:
        words += ": on held-out items the temperature makes the scores worse"
    return words, {"nll_worse_than_uniform": worse_than_uniform, "nll_not_better_than_uniform": not_better_than_uniform,
                   "nll_worse_than_uncalibrated": worse_than_before}


# ---------------------------------------------------------------------------
# calibration errors and selective prediction
# ---------------------------------------------------------------------------
def calibration_errors(probs: np.ndarray, y: np.ndarray, *, bins: int = ECE_BINS) -> dict[str, float]:
    """ECE, MCE (equal-width bins), Brier score and NLL of probabilities ``probs`` (n, K) for labels ``y`` (n,).

    Returns ``{"ece", "mce", "brier", "nll"}``; ECE/MCE in accuracy units (0–1),
    NLL in nats, Brier in [0, 2].
    """
    probs = np.asarray(probs, dtype=float)
    y = np.asarray(y, dtype=int)
    if len(y) == 0:
        return {k: float("nan") for k in ("ece", "mce", "brier", "nll")}
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y
    e, table = binned_ece(conf, correct, bins=bins)
    gaps = [abs(b["accuracy"] - b["confidence"]) for b in table if b["n"]]
    onehot = np.zeros_like(probs)
    onehot[np.arange(len(y)), y] = 1.0
    p_true = np.clip(probs[np.arange(len(y)), y], _TINY, 1.0)
    return {"ece": float(e), "mce": float(max(gaps)), "brier": float(((probs - onehot) ** 2).sum(axis=1).mean()),
            "nll": float(-np.log(p_true).mean())}


def risk_coverage(probs: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Selective prediction: abstain on the least confident items first.

    Parameters
    ----------
    probs : ndarray, shape (n, K)
    y : ndarray of int, shape (n,)

    Returns
    -------
    coverage : ndarray, shape (n,)
        ``k / n`` for ``k = 1 … n`` (the share of items answered).
    risk : ndarray, shape (n,)
        Error rate of the ``k`` most confident items.  Accuracy when abstaining
        on the least confident ``x`` % is ``1 - risk`` at coverage ``1 - x/100``.
    aurc : float
        Area under the risk–coverage curve, ``mean(risk)``; lower is better.
        Tied confidences have no order: the errors of a tie count evenly over its places (the mean over its orders),
        so the curve does not depend on the rows' order (a stable sort made a saturated model's AURC the file's order).
    """
    probs, y = np.asarray(probs, dtype=float), np.asarray(y, dtype=int)
    n = len(y)
    if n == 0:
        return np.zeros(0), np.zeros(0), float("nan")
    order = np.argsort(-(conf := probs.max(axis=1)), kind="stable")
    c, wrong = conf[order], (probs.argmax(axis=1) != y)[order].astype(float)
    start = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])  # each run of equal confidences
    size, k = np.diff(np.r_[start, n]), np.arange(1, n + 1)
    run, before, share = np.repeat(np.arange(len(start)), size), np.r_[0.0, np.cumsum(wrong)][start], np.add.reduceat(wrong, start) / size
    risk = (before[run] + (k - start[run]) * share[run]) / k  # errors before the run, and its share for each place in it
    return k / n, risk, float(risk.mean())


def aurc_random_order_words(fig: dict) -> list[str]:
    """Words for each AURC (before, after) not measurably below a random order's, the error rate answering everything
    (the curve's last risk): flagged unless the paired bootstrap interval of AURC minus that rate (``aurc_vs_random_ci``,
    the same resamples) lies below 0; an interval wholly above 0 is said as such (the errors come first).  ``fig``: the bootstrapped figures (``aurc``, ``curves``, ``aurc_vs_random_ci``)."""
    out = []
    for i, w in enumerate(("before", "after")):
        risk = fig["curves"][i]["risk"]
        if not len(risk) or "aurc_vs_random_ci" not in fig:
            continue
        d, (lo, hi) = fig["aurc"][i] - risk[-1], fig["aurc_vs_random_ci"][i]
        if not (hi < 0 if hi == hi else d < 0):
            # an interval wholly above 0 does not reach 0: the confidence puts the errors first, worse than a random order
            above = lo > 0
            out.append(f"AURC {w} {fig['aurc'][i]:.3f} is NOT measurably below {risk[-1]:.3f}, the error rate answering everything (a "
                       f"random order's AURC): AURC − it {d:+.3f} [{lo:+.3f}, {hi:+.3f}] "
                       + ("lies above 0, so the confidence puts the errors FIRST: measurably worse than a random order" if above else
                          "reaches 0, so the confidence does not measurably put the errors last"))
    return out


def brier_uniform_words(fig: dict, k: int) -> list[str]:
    """Words for each Brier score (before, after) not measurably below a uniform guess's over the ``k`` classes,
    ``1 − 1/k`` on every item whatever the labels (its interval, ``ci_before`` / ``ci_after``, reaches it or lies above;
    without an interval, the score itself), or ``[]``.  'BRIER 0.903' over nine classes said nothing until it stood
    beside 0.889, what scores of 1/9 get."""
    if k < 2:
        return []
    uniform, out = 1 - 1 / k, []
    for w in ("before", "after"):
        value, (lo, hi) = fig[w]["brier"], fig[f"ci_{w}"].get("brier", (float("nan"),) * 2)
        if value != value or (hi < uniform if hi == hi else value < uniform):
            continue
        worse = (lo if lo == lo else value) >= uniform
        out.append(f"Brier {w} {value:.3f} [{lo:.3f}, {hi:.3f}] is {'WORSE than' if worse else 'NOT measurably below'} a uniform "
                   f"guess's 1 − 1/{k} = {uniform:.3f} (scores of 1/{k} on every item): the probabilities "
                   + ("are further from the labels than no information" if worse else "are no measurably closer to the labels than no information"))
    return out


def accuracy_at_coverage(coverage: np.ndarray, risk: np.ndarray, share: float) -> float:
    """Accuracy of the most confident ``share`` of the items (``share`` in (0, 1])."""
    if not len(coverage):
        return float("nan")
    return float(1 - risk[coverage_items(share, len(coverage)) - 1])


def coverage_items(share: float, n: int) -> int:
    """How many of ``n`` items the most confident ``share`` holds: the denominator of an accuracy at that coverage."""
    return int(np.clip(np.ceil(share * n), 1, max(n, 1)))


# ---------------------------------------------------------------------------
# conformal prediction sets through MAPIE
# ---------------------------------------------------------------------------
def _stored_scores_estimator(n_classes: int):
    """A prefit scikit-learn classifier whose input *is* its probabilities: MAPIE needs an estimator,
    the scores are the model's own, already computed."""
    from sklearn.base import BaseEstimator, ClassifierMixin

    class StoredScores(ClassifierMixin, BaseEstimator):
        def __init__(self, n_classes: int = 2):
            self.n_classes = n_classes

        def fit(self, X, y=None):
            self.classes_ = np.arange(self.n_classes)
            return self

        def predict_proba(self, X):
            return np.asarray(X, dtype=float)

        def predict(self, X):
            return np.argmax(np.asarray(X), axis=1)

    return StoredScores(n_classes).fit(None)


def conformal_sets(cal_probs: np.ndarray, cal_y: np.ndarray, test_probs: np.ndarray, *, alpha: float = 0.1,
                   score: str = "lac", seed: int = 0) -> np.ndarray:
    """Split-conformal prediction sets (MAPIE ``SplitConformalClassifier``) for ``test_probs``.

    Parameters
    ----------
    cal_probs, cal_y : ndarray, shapes (m, K) and (m,)
        Calibration items (never the test items).
    test_probs : ndarray, shape (n, K)
    alpha : float
        Miscoverage level: sets hold the true class with probability ≥ 1 − alpha.
    score : {"lac", "aps"}
        APS refuses calibration items of 2 classes or fewer (a binary target, as MAPIE has it): use LAC there.
    seed : int
        Seeds APS's randomised boundary label.

    Returns
    -------
    ndarray of bool, shape (n, K): ``sets[i, k]`` is True when class ``k`` is in item ``i``'s set.
    """
    if score not in CONFORMITY_SCORES:
        raise ConfigError(f"unknown conformity score {score!r}.", fix=f"use one of {list(CONFORMITY_SCORES)}.")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha is {alpha}; it must lie strictly between 0 and 1.", fix="pass e.g. --alpha 0.1 for 90 % sets.")
    if score == "aps" and len(np.unique(cal_y)) <= 2:
        raise ConfigError(f"APS sets cannot be calibrated on items of {len(np.unique(cal_y))} class(es): MAPIE's APS score "
                          "refuses a binary target.", fix='pass score="lac", which supports a binary target.')
    from mapie.classification import SplitConformalClassifier

    k = np.asarray(cal_probs).shape[1]
    mapie = SplitConformalClassifier(_stored_scores_estimator(k), confidence_level=1 - alpha, conformity_score=score,
                                     prefit=True, random_state=seed)
    mapie.conformalize(np.asarray(cal_probs, dtype=float), np.asarray(cal_y, dtype=int))
    params = {"include_last_label": "randomized"} if score == "aps" else None
    _, sets = mapie.predict_set(np.asarray(test_probs, dtype=float), conformity_score_params=params)
    return np.asarray(sets[:, :, 0], dtype=bool)


def aps_skipped(binary: dict[int, list[str]], k: int) -> str:
    """Why APS sets were not made, in words: ``binary`` maps each fold (from 1) whose conformal half holds 2 classes only
    (a binary target, which MAPIE's APS score refuses) to those classes; ``k`` is the number of classes calibrated."""
    if len(binary) == 1:
        (fold, present), = binary.items()
        where = f"the conformal half of fold {fold} holds items of only 2 of the {k} classes ({', '.join(present)})"
    else:
        where = f"the conformal halves of folds {', '.join(map(str, binary))} hold items of only 2 of the {k} classes"
    # one statement (walk17: "… refuses a binary target (LAC supports it); every other figure is as usual", under LAC
    # sets that FAIL, read as if the skip were the only matter and the other figures passed)
    refused = "binary, which MAPIE's APS conformity score does not accept (its LAC score does)"
    why = (f"the corpus has 2 classes, so every fold's target is {refused}" if k == 2 else
           f"{where}, so {'that fold' if len(binary) == 1 else 'each such fold'}'s target is {refused}, and APS sets from the other "
           "folds alone would not cover every item")
    return f"APS sets skipped, LAC sets only: {why}; the temperature, ECE and LAC figures are computed as usual, each with its own checks"


def split_conformal_counts(fold_sizes: Sequence[tuple[int, int]], alpha: float) -> np.ndarray:
    """The distribution of the covered count that a valid split-conformal procedure gives: ``pmf[c]`` for ``c`` of the
    ``sum(n_f)`` held-out items covered, over folds of ``(m_f, n_f)`` (calibration items, held-out items).

    With ``m`` exchangeable calibration scores, no ties, and the threshold at the ``k = ceil((m + 1)(1 - alpha))``-th
    smallest (MAPIE's), a fold's coverage given its calibration items is Beta(k, m + 1 - k) (Vovk 2012), so its count of
    ``n`` held-out items covered is beta-binomial; the folds' counts add (their calibration items differ).  Expected
    coverage ``k / (m + 1)`` lies between 1 - alpha and 1 - alpha + 1/(m + 1): the finite-sample guarantee."""
    from scipy.signal import fftconvolve
    from scipy.stats import betabinom

    pmf = np.ones(1)
    for m, n in fold_sizes:
        k = min(int(np.ceil(round((m + 1) * (1 - alpha), 9))), m + 1)  # k = m + 1: no finite threshold, every set full
        fold = betabinom.pmf(np.arange(n + 1), n, k, m + 1 - k) if k <= m else np.eye(n + 1)[n]
        # by FFT past a few thousand items (a direct convolution of 50,000 took 5 s); its rounding noise clipped at 0
        pmf = np.convolve(pmf, fold) if len(pmf) * len(fold) < 4_000_000 else np.clip(fftconvolve(pmf, fold), 0, None)
    return pmf / pmf.sum()


def conformal_guarantee(fold_sizes: Sequence[tuple[int, int]], alpha: float, *, level: float = COVERAGE_LEVEL) -> dict:
    """What a valid split-conformal procedure promises for these folds: ``expected`` coverage (the finite-sample
    guarantee, at least 1 - alpha), the ``range`` of coverage it gives with probability ``level`` (central), and the
    calibration items per fold (``calibration_items``: least, most)."""
    pmf = split_conformal_counts(fold_sizes, alpha)
    n, tail = len(pmf) - 1, (1 - level) / 2
    cdf = np.cumsum(pmf)
    lo, hi = int(np.searchsorted(cdf, tail - 1e-12)), int(np.searchsorted(cdf, 1 - tail - 1e-12))
    ms = [int(m) for m, _ in fold_sizes]
    return {"expected": float(np.dot(np.arange(n + 1), pmf) / n) if n else float("nan"), "range": (lo / max(n, 1), hi / max(n, 1)),
            "level": level, "calibration_items": (min(ms), max(ms)), "folds": len(ms), "pmf": pmf}


def guarantee_words(g: dict) -> str:
    """The guarantee a coverage is checked against, in words, e.g. ``a valid split-conformal procedure with 13-14
    calibration items in each of 2 folds covers 0.712-0.923 of them (95 %), 0.857 expected``."""
    lo_m, hi_m = g["calibration_items"]
    items = f"{lo_m}" if lo_m == hi_m else f"{lo_m}-{hi_m}"
    return (f"a valid split-conformal procedure with {items} calibration items in each of {g['folds']} fold(s) covers "
            f"{g['range'][0]:.3f}-{g['range'][1]:.3f} of these items ({100 * g['level']:g} %), {g['expected']:.3f} expected")


def coverage_check(covered: int, n: int, target: float, *, level: float = COVERAGE_LEVEL,
                   fold_sizes: Sequence[tuple[int, int]] | None = None) -> dict:
    """Empirical coverage ``covered / n`` with its exact binomial (Clopper–Pearson) interval, checked against ``target``.

    Without ``fold_sizes`` the check **fails** when ``target`` (1 − alpha) lies outside the interval: the sets cover
    significantly less (or more) often than promised.  With so few items that no outcome
    ``0 … n`` could put the target outside its interval (the interval of 0 of ``n`` still
    reaches the target and that of ``n`` of ``n`` still starts below it), the check cannot
    fail and says "too few items to check" rather than pass.

    With ``fold_sizes`` (``(calibration items, held-out items)`` of each fold, the held-out ones adding up to ``n``) the
    check is against what split-conformal sets promise (:func:`split_conformal_counts`): it fails when ``covered`` lies
    in either ``(1 - level) / 2`` tail of that distribution.  The binomial interval leaves out that the threshold itself
    is drawn from a few calibration items: on valid sets it failed 24-28 % of the time with 2 folds and ~10 % with 5,
    not 5 % (and with 13 calibration items the sets cover 0.857 in expectation, not the 0.80 aimed at).  ``guarantee``
    (:func:`conformal_guarantee`, less its pmf) says what was checked against.

    Returns ``{"n", "covered", "coverage", "ci", "target", "level", "verdict", "direction"}`` (and ``guarantee``);
    ``direction`` is ``"below"`` or ``"above"`` on a failure, else ``""``; an empty set of items gives NaNs.
    """
    from scipy.stats import binomtest

    covered, n = int(covered), int(n)
    if n == 0:
        return {"n": 0, "covered": 0, "coverage": float("nan"), "ci": (float("nan"), float("nan")), "target": float(target),
                "level": level, "verdict": COVERAGE_TOO_FEW, "direction": ""}
    ci = binomtest(covered, n).proportion_ci(confidence_level=level, method="exact")
    lo, hi = float(ci.low), float(ci.high)
    extra = {}
    if fold_sizes is not None and sum(int(t) for _, t in fold_sizes) == n:
        g = conformal_guarantee(fold_sizes, 1 - target, level=level)
        pmf, tail = g.pop("pmf"), (1 - level) / 2
        below, above = float(pmf[:covered + 1].sum()), float(pmf[covered:].sum())  # P(count <= covered), P(count >= covered)
        decidable = pmf[0] < tail or pmf[n] < tail
        direction = "below" if below < tail else "above" if above < tail else ""
        extra = {"guarantee": {**g, "p_below": below, "p_above": above}}
    else:
        decidable = (binomtest(0, n).proportion_ci(confidence_level=level, method="exact").high < target
                     or binomtest(n, n).proportion_ci(confidence_level=level, method="exact").low > target)
        direction = "below" if hi < target else "above" if lo > target else ""
    verdict = COVERAGE_FAIL if direction else COVERAGE_PASS if decidable else COVERAGE_TOO_FEW
    return {"n": n, "covered": covered, "coverage": covered / n, "ci": (lo, hi), "target": float(target), "level": level,
            "verdict": verdict, "direction": direction, **extra}


def ece_by_class_set(log_probs: np.ndarray, y: np.ndarray, classes: Sequence[str], model_confidence: np.ndarray | None,
                     model_correct: np.ndarray | None, *, bins: int = ECE_BINS,
                     model_classes: Sequence[str] = LABEL_KEYS, restricted: bool = True) -> dict[str, dict]:
    """The same binned ECE over the corpus's classes and over every model class, each with its class set named.

    ``workbench metrics`` measures over every model class (confidence = the top of
    all scores, the run's own prediction) and ``calibrate`` by default over the
    corpus's classes (scores renormalised over them): the two differ because the
    class sets differ, not the definition; both are given side by side.  When
    ``classes`` are not the corpus's but all the model's (``restricted`` False,
    ``--all-classes``) the two sets are one: a single ``"model"`` entry, named as
    the model's classes (never "the corpus's").
    """
    probs = softmax(log_probs)
    calibrated_ece = binned_ece(probs.max(1), probs.argmax(1) == y, bins=bins)[0]
    if not restricted:
        return {"model": {"classes": list(classes),
                          "label": f"all {len(classes)} model classes ({', '.join(classes)}; calibrated over all of them, "
                                   "as `workbench metrics` measures it)",
                          "ece": calibrated_ece}}
    out = {"corpus": {"classes": list(classes), "label": f"the corpus's {len(classes)} classes ({', '.join(classes)})",
                      "ece": calibrated_ece}}
    if model_confidence is not None and model_correct is not None and len(y):
        out["model"] = {"classes": list(model_classes),
                        "label": f"all {len(model_classes)} model classes (as `workbench metrics` measures it)",
                        "ece": binned_ece(model_confidence, model_correct, bins=bins)[0]}
    return out


def conformal_summary(sets: dict, y: np.ndarray, classes: list[str], alpha: float,
                      fold_sizes: Sequence[tuple[int, int]] | None = None) -> dict:
    """Coverage (with its exact binomial interval and check against 1 − alpha), mean set size and empty sets of each
    conformity score, overall and per true class; ``uninformative`` (overall and per class) when the mean size reaches
    :data:`UNINFORMATIVE_SIZE_SHARE` of the classes.  ``fold_sizes`` (calibration and held-out items of each fold):
    the overall coverage is checked against what split-conformal sets of those folds promise (:func:`coverage_check`);
    per class, where nothing is promised, against 1 − alpha."""
    n, k = len(y), len(classes)
    out = {}
    for s, st in sets.items():
        hit = st[np.arange(n), y]
        size = st.sum(axis=1)
        per_class = {}
        for j, c in enumerate(classes):
            if (y == j).any():
                chk = coverage_check(int(hit[y == j].sum()), int((y == j).sum()), 1 - alpha)
                per_class[c] = {"n": chk["n"], "coverage": chk["coverage"], "coverage_ci": chk["ci"], "check": chk["verdict"],
                                "direction": chk["direction"], "mean_size": float(size[y == j].mean()),
                                "uninformative": bool(size[y == j].mean() >= UNINFORMATIVE_SIZE_SHARE * k)}
        class_family(per_class, {c: int(hit[y == j].sum()) for j, c in enumerate(classes) if c in per_class}, 1 - alpha)
        chk = coverage_check(int(hit.sum()), n, 1 - alpha, fold_sizes=fold_sizes)
        mean_size = float(size.mean())
        out[s] = {"n": int(n), "coverage": chk["coverage"], "coverage_ci": chk["ci"], "check": chk["verdict"],
                  "direction": chk["direction"], "target": 1 - alpha, "level": chk["level"], "mean_size": mean_size,
                  "n_classes": k, "uninformative": bool(mean_size >= UNINFORMATIVE_SIZE_SHARE * k),
                  "empty_sets": int((size == 0).sum()), "per_class": per_class,
                  **({"guarantee": chk["guarantee"]} if "guarantee" in chk else {})}
    return out


def class_family(per_class: dict[str, dict], covered: dict[str, int], target: float) -> None:
    """Each checked class's exact two-sided binomial p of its coverage against ``target`` (``scipy.stats.binomtest``)
    and its Benjamini–Hochberg ``q`` over the classes checked (``scipy.stats.false_discovery_control``), added in place:
    K classes each checked at 95 % fail now and then with every class at its target (9: 37 % of calibrations)."""
    from scipy.stats import binomtest, false_discovery_control

    checked = [c for c, v in per_class.items() if v["check"] != COVERAGE_TOO_FEW]
    ps = [float(binomtest(covered[c], per_class[c]["n"], target).pvalue) for c in checked]
    for c, p, q in zip(checked, ps, false_discovery_control(ps, method="bh") if ps else []):
        per_class[c].update(p=p, q=float(q))


def conformal_checks(conformal: dict) -> tuple[dict, list[str]]:
    """The coverage and set-size checks of each conformity score, as ``checks`` entries (``set_coverage``,
    ``set_size``) and the failures in words."""
    checks, warnings = {}, []
    for s, d in conformal.items():
        lo, hi = d["coverage_ci"]
        level = f"{100 * d['level']:g} %"
        failed = [c for c, v in d["per_class"].items() if v["check"] == COVERAGE_FAIL]
        too_few = [c for c, v in d["per_class"].items() if v["check"] == COVERAGE_TOO_FEW]
        useless = [c for c, v in d["per_class"].items() if v.get("uninformative")]
        # the failed classes read as a family: those whose BH q over the classes checked is under 1 - level too
        family = [c for c in failed if d["per_class"][c].get("q", 1.0) < 1 - d["level"]]  # (a summary without q: none)
        checks[s] = {"verdict": d["check"], "target": d["target"], "coverage": d["coverage"], "ci": list(d["coverage_ci"]),
                     "n": d["n"], "failed_classes": failed, "failed_classes_after_bh": family, "too_few_classes": too_few, "classes_checked": len(d["per_class"]) - len(too_few),
                     "uninformative": d["uninformative"], "mean_size": d["mean_size"], "n_classes": d["n_classes"],
                     "uninformative_classes": useless, **({"guarantee": d["guarantee"]} if "guarantee" in d else {})}
        parts = []
        if d["check"] == COVERAGE_FAIL:
            against = (f"outside what {guarantee_words(d['guarantee'])}" if "guarantee" in d else f"outside the exact {level} interval")
            parts.append(f"coverage {d['coverage']:.3f} [{lo:.3f}, {hi:.3f}] over {d['n']} items is significantly "
                         f"{d['direction']} the target {d['target']:.2f} ({against})")
        if failed:
            per = d["per_class"]
            parts.append("per class, the target lies outside the interval of "
                         + ", ".join(f"{c} {per[c]['coverage']:.2f} [{per[c]['coverage_ci'][0]:.2f}, {per[c]['coverage_ci'][1]:.2f}] "
                                     f"(n={per[c]['n']}, {per[c]['direction']})" for c in failed)
                         + " (conformal sets promise the coverage over all items, not per class; "
                         # one check per class at the level: K of them fail now and then with every class at its target
                         f"{len(d['per_class']) - len(too_few)} classes checked, each at {level}: about "
                         f"{(1 - d['level']) * (len(d['per_class']) - len(too_few)):.2g} would fail by chance alone"
                         + ("" if not any("q" in per[c] for c in failed) else "; after Benjamini-Hochberg over them "
                            + (", ".join(f"{c} q = {per[c]['q']:.2g}" for c in family) + (" still fails" if len(family) == 1 else " still fail") if family else "none fails"))
                         + ")")
        if d["uninformative"]:
            parts.append(f"mean set size {d['mean_size']:.2f} of {d['n_classes']} classes "
                         f"(≥ {100 * UNINFORMATIVE_SIZE_SHARE:g} %): the sets are uninformative")
        if useless:
            per = d["per_class"]
            parts.append("per class, the mean set size reaches " f"{100 * UNINFORMATIVE_SIZE_SHARE:g} % of the {d['n_classes']} "
                         "classes for " + ", ".join(f"{c} ({per[c]['mean_size']:.2f}, n={per[c]['n']})" for c in useless)
                         + ": the sets are uninformative for " + ("that class" if len(useless) == 1 else "those classes"))
        if parts:
            warnings.append(f"{s.upper()} sets at target coverage {d['target']:.2f} FAIL their checks: " + "; ".join(parts))
    size_keys = ("uninformative", "mean_size", "n_classes", "uninformative_classes")
    return {"set_coverage": {s: {k: v for k, v in c.items() if k not in size_keys} for s, c in checks.items()},
            "set_size": {s: {**{k: c[k] for k in size_keys}, "threshold_share": UNINFORMATIVE_SIZE_SHARE}
                         for s, c in checks.items()}}, warnings


def shared_fit_notes(fit_parts: list, group_by: str | None) -> list[str]:
    """A note for the folds whose temperatures were fitted on the very same items (their training halves coincide, as
    with 5 speakers and 5 folds), so that a repeated temperature ("100.000, 100.000, 5.322, 5.322") reads as what it is."""
    same: dict[frozenset, list[int]] = {}
    for k, part in enumerate(fit_parts, 1):
        same.setdefault(frozenset(np.asarray(part).tolist()), []).append(k)
    who = f"{group_by}s" if group_by else "items"
    return [f"folds {', '.join(map(str, ks[:-1]))} and {ks[-1]} fitted their temperature on the same {who} (their training "
            "parts' halves coincide), so they share one T" for ks in same.values() if len(ks) > 1]


def check_enough_items(n: int, k: int, folds: int, *, variant: str, unmapped: dict[str, int] | None = None,
                       blank: dict[str, int] | None = None) -> None:
    """Refuse a variant too small to calibrate under ``folds`` folds, with the fix that applies to it.

    Calibration needs 2 classes and ``2 * folds`` labelled items (each fold's training part is split in two halves).
    With fewer items but at least 4, fewer folds are the fix (``--folds n // 2``); with under 4 items no number of
    folds helps, and with one class only more classes do.  ``unmapped``: the corpus's own labels of a run none of whose
    items has a model class (label → items), told as such.
    """
    if n == 0 and blank and not unmapped:  # labelled with the model's own classes, their emotion cells empty
        raise ConfigError(f"variant {variant!r}: {blank_emotion_words(blank)}", fix=BLANK_EMOTION_FIX)
    if n == 0 and unmapped:  # labelled, in the corpus's own words (label → items): why there is nothing to calibrate
        shown = ", ".join(f"{label} {count}" for label, count in list(unmapped.items())[:8]) + (" …" if len(unmapped) > 8 else "")
        raise ConfigError(f"variant {variant!r}: {sum(unmapped.values())} item(s) are labelled, but their labels ({shown}) are "
                          "none of the model's classes, so there is nothing to calibrate its scores against."
                          + (f" {blank_emotion_words(blank)}" if blank else ""),
                          fix="train a head for them (`workbench finetune RUN --out DIR`, then `workbench run MANIFEST --model DIR`) "
                              "and calibrate that run, or map the labels onto the model's classes in the manifest's emotion column"
                              + (f"; for the others, {BLANK_EMOTION_FIX}" if blank else "."))
    if k < 2:
        raise ConfigError(f"variant {variant!r} has {n} labelled item(s) of {k} class; calibration needs items of at least 2 classes.",
                          fix="calibrate a run whose labelled items cover 2 or more classes.")
    if n < 4:
        raise ConfigError(f"variant {variant!r} has {n} labelled item(s); calibration needs at least 4 (2 folds of 2 items).",
                          fix="label more items of the run, or score a larger labelled manifest (fewer folds cannot help).")
    if n < 2 * folds:
        raise ConfigError(f"variant {variant!r} has {n} labelled items; {folds} folds need at least {2 * folds}.",
                          fix=f"run `workbench calibrate RUN --folds {n // 2}` (or fewer folds), or calibrate a run with at least {2 * folds} labelled items.")
