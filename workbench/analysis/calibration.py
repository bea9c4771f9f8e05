"""Calibration you can use: temperature scaling, calibration errors, selective prediction, conformal sets.

Everything is measured speaker-independently.  The scored items of a run are
split into folds by speaker (scikit-learn's ``GroupKFold``); for each fold the
temperature is fitted on the *other* folds and applied to this one, and the
conformal quantile is computed on the other folds (after their temperature)
and used on this one.  So every "after" figure and every coverage figure comes
from items that neither the temperature fit nor the conformal calibration saw.
Without a speaker column the folds are plain shuffled ``KFold`` and the report
says that a speaker's items may sit on both sides.

* **Temperature** ``T``: scores become ``softmax(z / T)``; fitted by minimising
  the negative log-likelihood over ``log T`` with SciPy's bounded
  ``minimize_scalar`` (``T`` in [0.05, 100], the range scoring accepts; recorded in ``calibration.json``).
  A fit at (within 1 % of) a bound has found no optimum: the scores are
  degenerate, not miscalibrated; it is flagged and never saved as the run's
  temperature.  So is a temperature whose held-out NLL is no better than a
  uniform guess (``log K``) or than the uncalibrated NLL; both comparisons are
  printed in words.  ``T`` has an item-bootstrap interval (the fit repeated on
  up to 200 resamples); AURC and accuracy-at-coverage have the same bootstrap
  as the calibration errors.  In each fold the temperature is fitted on one
  half of the training part (split by speaker) and the conformal threshold on
  the other, so neither fit sees the other's items.  A run stores probabilities, not
  logits; ``log p`` differs from the logits by a per-item constant, which the
  softmax ignores, so ``T`` fitted on ``log p`` is the temperature of the
  logits.  Scaling commutes with restricting to the corpus's classes (the
  restricted softmax of ``z / T`` is the softmax of the restricted ``z / T``),
  so a temperature fitted on the corpus's classes applies to the nine-class
  model output unchanged.
* **ECE**: 15 equal-*width* confidence bins (:func:`workbench.analysis.metrics.ece`, the
  same bins as ``workbench metrics``); **MCE** the largest gap of a non-empty
  bin; **Brier** the multi-class Brier score ``mean_i sum_k (p_ik - y_ik)^2``;
  **NLL** ``mean_i -log p_i,y_i`` in nats.  Intervals: the seeded percentile
  bootstrap of :func:`workbench.analysis.metrics.bootstrap_ci`, before and after on the
  same resamples.  Binned ECE and MCE are biased upwards on small samples (a bin
  with few items has a large gap by chance) and a resample, with its repeated
  items, is no better: their intervals can sit above the point value (measured
  on 540 planted items: MCE 0.234, interval [0.237, 0.716]).  Read them as the
  spread, and trust Brier and NLL, which are unbiased means, for comparisons.
* **Risk–coverage**: items sorted by confidence, most confident first;
  risk at coverage ``k/n`` is the error rate of the ``k`` most confident.  AURC
  is the mean risk over ``k = 1 … n`` (Geifman & El-Yaniv's area).
* **Conformal sets**: MAPIE's ``SplitConformalClassifier`` with ``lac`` and
  ``aps`` scores over the stored probabilities (a prefit estimator whose
  ``predict_proba`` returns them: the scores are the model's).  APS sets are
  randomised on the boundary label (``include_last_label="randomized"``), which
  makes their coverage exact in expectation rather than conservative.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from workbench.errors import ConfigError
from workbench.labels import LABEL_KEYS
from workbench.analysis.groups import zero_width_note
from workbench.analysis.metrics import _axes, bootstrap_ci, ece as binned_ece
from workbench.model.temperature import TEMPERATURE_RANGE, apply_temperature, check_temperature, softmax  # noqa: F401  (public here too)
from workbench.runs.folder import RunFolder, as_run_folder, pick_variant, select_rows

#: what `workbench calibrate` writes into a run folder: the report, and per variant (by position) three figures
CALIBRATION_FILE = "calibration.json"
CALIBRATION_FIGURES = ("reliability", "risk_coverage", "set_sizes")


def calibration_figure_name(kind: str, variant_index: int) -> str:
    """``calibration_<kind>_<k>.png``: the name never holds a variant's own name."""
    if kind not in CALIBRATION_FIGURES:
        raise ConfigError(f"unknown calibration figure {kind!r}.", fix=f"use one of {list(CALIBRATION_FIGURES)}.")
    return f"calibration_{kind}_{int(variant_index)}.png"


def saved_calibration(run_dir: Any) -> dict:
    """What ``workbench calibrate`` wrote into a run (``calibration.json``), or ``{}`` when it was never calibrated."""
    saved = as_run_folder(run_dir).artifact(CALIBRATION_FILE, default={})
    return saved if isinstance(saved, dict) else {}
from workbench.serialize import plain_text
from workbench.schema import SCORE_PREFIX, score_columns, score_labels

logger = logging.getLogger(__name__)

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


def nll_verdict(after: float, before: float, n_classes: int, after_ci: tuple[float, float] | None = None) -> tuple[str, dict[str, bool]]:
    """Calibrated NLL against a uniform guess (``log K``) and against the uncalibrated NLL, in words, and the flags.

    With ``after_ci`` (the calibrated NLL's bootstrap interval), an interval that reaches ``log K`` means the
    calibrated scores are not shown to be better than a uniform guess: a NLL of 1.384 against log 4 = 1.386 with
    the interval [1.374, 1.390] is flagged, not counted as a success.
    """
    uniform = float(np.log(n_classes))
    worse_than_uniform = bool(after >= uniform)
    lo, hi = after_ci if after_ci is not None else (after, after)
    not_better_than_uniform = bool(worse_than_uniform or (np.isfinite(hi) and hi >= uniform))
    worse_than_before = bool(after > before)
    verdict = ("WORSE than" if worse_than_uniform else "NOT better than (its interval reaches)" if not_better_than_uniform
               else "better than")
    interval = f" [{lo:.3f}, {hi:.3f}]" if after_ci is not None and np.isfinite(lo) and np.isfinite(hi) else ""
    words = (f"calibrated NLL {after:.3f}{interval} is {verdict} a uniform guess over "
             f"{n_classes} classes (log {n_classes} = {uniform:.3f}) and {'HIGHER than' if worse_than_before else 'lower than'} "
             f"the uncalibrated {before:.3f}")
    if not_better_than_uniform:
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
        Ties in confidence are broken by item order (a stable sort).
    """
    probs = np.asarray(probs, dtype=float)
    y = np.asarray(y, dtype=int)
    n = len(y)
    if n == 0:
        return np.zeros(0), np.zeros(0), float("nan")
    order = np.argsort(-probs.max(axis=1), kind="stable")
    wrong = (probs.argmax(axis=1) != y)[order]
    k = np.arange(1, n + 1)
    risk = np.cumsum(wrong) / k
    return k / n, risk, float(risk.mean())


def accuracy_at_coverage(coverage: np.ndarray, risk: np.ndarray, share: float) -> float:
    """Accuracy of the most confident ``share`` of the items (``share`` in (0, 1])."""
    if not len(coverage):
        return float("nan")
    k = int(np.clip(np.ceil(share * len(coverage)), 1, len(coverage)))
    return float(1 - risk[k - 1])


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
    from mapie.classification import SplitConformalClassifier

    k = np.asarray(cal_probs).shape[1]
    mapie = SplitConformalClassifier(_stored_scores_estimator(k), confidence_level=1 - alpha, conformity_score=score,
                                     prefit=True, random_state=seed)
    mapie.conformalize(np.asarray(cal_probs, dtype=float), np.asarray(cal_y, dtype=int))
    params = {"include_last_label": "randomized"} if score == "aps" else None
    _, sets = mapie.predict_set(np.asarray(test_probs, dtype=float), conformity_score_params=params)
    return np.asarray(sets[:, :, 0], dtype=bool)


# ---------------------------------------------------------------------------
# a run's items, cross-validated
# ---------------------------------------------------------------------------
@dataclass
class ScoredItems:
    """The labelled, scored items of one variant: ``log_probs`` (n, K), ``y`` (n,), ``classes`` (K), ``groups`` (n,) or None."""

    log_probs: np.ndarray
    y: np.ndarray
    classes: list[str]
    groups: np.ndarray | None
    ids: np.ndarray
    variant: str
    restricted: bool
    #: the run's own top-1 over every model class, as ``workbench metrics`` scores it: confidence (n,) and correctness (n,)
    model_confidence: np.ndarray | None = None
    model_correct: np.ndarray | None = None
    #: the model's classes (the nine, or a fine-tuned head's own)
    model_classes: tuple[str, ...] = LABEL_KEYS


def scored_items(results, *, variant: str | None = None, restrict: bool = True, by: str | None = "speaker") -> ScoredItems:
    """Labelled ok rows of one variant as log-probabilities over the corpus's classes (``restrict``) or all the model's.

    Unknown ``variant`` or ``by`` columns are refused with the valid ones listed.
    """
    variant = pick_variant(results, variant)
    if by is not None and by not in results.columns:
        raise ConfigError(f"cannot group the folds by {by!r}: the results have no such column.",
                          fix=f"use one of {sorted(c for c in results.columns if not str(c).startswith(SCORE_PREFIX))}, or no --by.")
    df = select_rows(results, variant)
    df = df[df["emotion"].fillna("").astype(str) != ""]
    labels = score_labels(results)  # the model's classes: the nine, or a fine-tuned head's
    classes = [c for c in labels if c in set(df["emotion"].astype(str))] if restrict else labels
    probs = np.clip(df[score_columns(classes)].to_numpy(dtype=float), _TINY, None)
    log_probs = np.log(probs / probs.sum(axis=1, keepdims=True))
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[c] for c in df["emotion"].astype(str)], dtype=int)
    groups = None
    if by is not None:
        g = df[by].fillna("").astype(str).to_numpy()
        groups = g if (g != "").all() else None
        if groups is None:
            logger.warning("%d items have no %s; the folds are not grouped", int((g == "").sum()), by)
    all_scores = df[score_columns(labels)].to_numpy(dtype=float)
    model_conf = all_scores.max(axis=1) / np.maximum(all_scores.sum(axis=1), _TINY)
    model_correct = np.asarray(labels)[all_scores.argmax(axis=1)] == df["emotion"].astype(str).to_numpy()
    return ScoredItems(log_probs, y, classes, groups, df["id"].astype(str).to_numpy(), variant, restrict, model_conf, model_correct,
                       tuple(labels))


def _folds(n: int, groups: np.ndarray | None, folds: int, seed: int) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    from sklearn.model_selection import GroupKFold, KFold

    if groups is not None:
        n_groups = len(set(groups))
        if n_groups < 2:
            raise ConfigError(f"the items come from {n_groups} speaker; speaker-independent folds need at least 2.",
                              fix="calibrate a run with several speakers, or pass --by none (the folds then share speakers).")
        k = min(folds, n_groups)
        return list(GroupKFold(n_splits=k).split(np.zeros(n), groups=groups)), f"GroupKFold by speaker, {k} folds"
    k = min(folds, n)
    note = (f"KFold, {k} shuffled folds: not every item has a speaker, so a speaker's items may be in both the calibration and the "
            "evaluation folds and the coverage may be optimistic")
    return list(KFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(n))), note


def _halves(train: np.ndarray, groups: np.ndarray | None, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """Split a training part into two disjoint halves: one fits the temperature, the other the conformal threshold.

    By speaker when the part has two or more (no speaker on both sides), else shuffled items (and the note says so).
    """
    from sklearn.model_selection import GroupKFold, KFold

    if groups is not None and len(set(groups[train])) >= 2:
        a, b = next(GroupKFold(n_splits=2).split(train, groups=groups[train]))
        return train[a], train[b], "by speaker"
    a, b = next(KFold(n_splits=2, shuffle=True, random_state=seed).split(train))
    return train[a], train[b], "by shuffled items"


@dataclass
class CalibrationReport:
    """Calibration of one variant of a run, cross-validated (see the module docstring for the protocol)."""

    variant: str
    n: int
    classes: list[str]
    restricted: bool
    folds: str
    temperature: float
    fold_temperatures: list[float]
    alpha: float
    before: dict[str, float]
    after: dict[str, float]
    ci_before: dict[str, tuple[float, float]]
    ci_after: dict[str, tuple[float, float]]
    aurc_before: float
    aurc_after: float
    accuracy_at: dict[str, dict[str, float]]
    conformal: dict[str, dict]
    reliability_before: list[dict]
    reliability_after: list[dict]
    curve_before: dict[str, list[float]] = field(repr=False, default_factory=dict)
    curve_after: dict[str, list[float]] = field(repr=False, default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: the interval the temperature was searched in, and where the fit ended relative to it ("lower", "upper" or "")
    search_interval: tuple[float, float] = T_BOUNDS
    temperature_edge: str = ""
    #: the temperature's bootstrap interval (refits on item resamples), with the number of resamples and how many hit an edge
    temperature_ci: tuple[float, float] = (float("nan"), float("nan"))
    temperature_bootstrap: dict = field(default_factory=dict)
    aurc_ci_before: tuple[float, float] = (float("nan"), float("nan"))
    aurc_ci_after: tuple[float, float] = (float("nan"), float("nan"))
    #: per share: {"before": (lo, hi), "after": (lo, hi)}
    accuracy_at_ci: dict[str, dict[str, tuple[float, float]]] = field(default_factory=dict)
    #: the same equal-width ECE over each class set: {"corpus": {...}, "model": {...}} with the classes named
    ece_by_class_set: dict[str, dict] = field(default_factory=dict)
    #: how the temperature and the conformal threshold were kept apart
    conformal_protocol: str = ""
    nll_uniform: float = float("nan")
    nll_words: str = ""
    #: the self-checks: temperature_at_edge, fold_temperatures_at_edge, nll_worse_than_uniform, nll_worse_than_uncalibrated
    checks: dict = field(default_factory=dict)
    #: the failed checks in words (screen, JSON, report); empty when every check passed
    warnings: list[str] = field(default_factory=list)
    recommended: bool = True

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def render(self) -> str:
        f = lambda x: "n/a" if x is None or x != x else f"{x:.3f}"  # noqa: E731
        lo_t, hi_t = self.search_interval
        tb = self.temperature_bootstrap
        lines = [f"!! {w}" for w in self.warnings]
        lines += [f"variant {self.variant}: {self.n} items over {len(self.classes)} classes "
                  f"({'the corpus classes' if self.restricted else 'all the model classes'}); {self.folds}",
                  f"  temperature {self.temperature:.3f} [{f(self.temperature_ci[0])}, {f(self.temperature_ci[1])}] "
                  f"(fitted on all items, searched in [{lo_t:g}, {hi_t:g}]"
                  + (f", AT THE {self.temperature_edge.upper()} BOUND" if self.temperature_edge else "")
                  + f"; interval from {tb.get('resamples', 0)} item resamples"
                  + (f", {tb['at_edge']} of them at a bound" if tb.get("at_edge") else "")
                  + f"; per fold {', '.join(f'{t:.3f}' for t in self.fold_temperatures)})",
                  f"  {self.conformal_protocol}",
                  f"  {'metric':<7} {'before':>22} {'after (held-out folds)':>26}"]
        for m in ("ece", "mce", "brier", "nll"):
            b, a = self.before[m], self.after[m]
            (bl, bh), (al, ah) = self.ci_before[m], self.ci_after[m]
            lines.append(f"  {m.upper():<7} {b:7.3f} [{bl:.3f}, {bh:.3f}]  {a:7.3f} [{al:.3f}, {ah:.3f}]")
        lines.append(f"  AURC    {self.aurc_before:7.3f} [{f(self.aurc_ci_before[0])}, {f(self.aurc_ci_before[1])}]  "
                     f"{self.aurc_after:7.3f} [{f(self.aurc_ci_after[0])}, {f(self.aurc_ci_after[1])}]")
        lines.append(f"  NLL: {self.nll_words}")
        if self.ece_by_class_set:
            lines.append("  ECE (15 equal-width bins) by class set, before calibration: "
                         + "; ".join(f"{d['ece']:.3f} over {d['label']}" for d in self.ece_by_class_set.values()))
        for share, accs in self.accuracy_at.items():
            ci = self.accuracy_at_ci.get(share, {})
            cb, ca = ci.get("before", (float("nan"),) * 2), ci.get("after", (float("nan"),) * 2)
            lines.append(f"  accuracy answering the most confident {share}: {accs['before']:.3f} [{f(cb[0])}, {f(cb[1])}] before, "
                         f"{accs['after']:.3f} [{f(ca[0])}, {f(ca[1])}] after")
        for score, d in self.conformal.items():
            per = ", ".join(f"{c} {v['coverage']:.2f}/{v['mean_size']:.2f} (n={v['n']})" for c, v in d["per_class"].items())
            lines.append(f"  {score.upper()} sets at alpha {self.alpha}: coverage {d['coverage']:.3f} (target {1 - self.alpha:.2f}, "
                         f"n={self.n}), mean size {d['mean_size']:.2f}; per class coverage/size: {per}")
        lines.extend(f"  note: {n}" for n in self.notes)
        return "\n".join(lines)


def ece_by_class_set(log_probs: np.ndarray, y: np.ndarray, classes: Sequence[str], model_confidence: np.ndarray | None,
                     model_correct: np.ndarray | None, *, bins: int = ECE_BINS,
                     model_classes: Sequence[str] = LABEL_KEYS) -> dict[str, dict]:
    """The same binned ECE over the corpus's classes and over every model class, each with its class set named.

    ``workbench metrics`` measures over every model class (confidence = the top of
    all scores, the run's own prediction) and ``calibrate`` by default over the
    corpus's classes (scores renormalised over them): the two differ because the
    class sets differ, not the definition; both are given side by side.
    """
    probs = softmax(log_probs)
    out = {"corpus": {"classes": list(classes), "label": f"the corpus's {len(classes)} classes ({', '.join(classes)})",
                      "ece": binned_ece(probs.max(1), probs.argmax(1) == y, bins=bins)[0]}}
    if model_confidence is not None and model_correct is not None and len(y):
        out["model"] = {"classes": list(model_classes),
                        "label": f"all {len(model_classes)} model classes (as `workbench metrics` measures it)",
                        "ece": binned_ece(model_confidence, model_correct, bins=bins)[0]}
    return out


def temperature_interval(log_probs: np.ndarray, y: np.ndarray, *, n_boot: int, seed: int, level: float = 0.95,
                         bounds: tuple[float, float] = T_BOUNDS) -> tuple[tuple[float, float], dict]:
    """Percentile bootstrap interval of the fitted temperature: the fit repeated on ``n_boot`` item resamples.

    Returns the interval and ``{"resamples", "at_edge", "method"}``; resamples
    whose fit ends at a bound count in ``at_edge`` (their T is a bound, not an optimum).
    """
    n = len(y)
    if n == 0 or n_boot < 1:
        return (float("nan"), float("nan")), {"resamples": 0, "at_edge": 0, "method": "none"}
    rng = np.random.default_rng(seed)
    fits = np.array([fit_temperature(log_probs[i], y[i], bounds=bounds) for i in (rng.integers(0, n, n) for _ in range(n_boot))])
    edges = sum(bool(temperature_at_edge(t, bounds)) for t in fits)  # (the flat-NLL case is checked on the full fit only)
    lo, hi = np.percentile(fits, [100 * (1 - level) / 2, 100 * (1 + level) / 2])
    return (float(lo), float(hi)), {"resamples": int(n_boot), "at_edge": int(edges), "method": "item bootstrap, percentile"}


def calibrate(results, *, variant: str | None = None, by: str | None = "speaker", folds: int = 5, alpha: float = 0.1,
              restrict: bool = True, bins: int = ECE_BINS, n_boot: int = 1000, seed: int = 0,
              bounds: tuple[float, float] = T_BOUNDS) -> CalibrationReport:
    """Cross-validated calibration of one variant of a results table (see the module docstring).

    Parameters
    ----------
    results : DataFrame
        A run's ``results.parquet`` (score columns ``score_<class>``, ``emotion``, ``status``, ``variant``).
    by : str or None
        Column whose values must not be split across folds (``speaker``); None for shuffled folds.
    folds : int
        Number of cross-validation folds (fewer when there are fewer speakers).
    alpha : float
        Miscoverage of the conformal sets (0.1 → 90 % sets).
    restrict : bool
        Calibrate over the corpus's classes (True) or all nine model classes.
    bounds : (float, float)
        The interval the temperature is searched in; a fit at its edge is flagged and not recommended.

    Returns
    -------
    CalibrationReport
        With its self-checks in ``checks`` and the failed ones in words in ``warnings``.
    """
    if folds < 2:
        raise ConfigError(f"folds is {folds}; cross-validation needs at least 2.", fix="pass --folds 5.")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha is {alpha}; it must lie strictly between 0 and 1.", fix="pass --alpha 0.1 for 90 % sets.")
    items = scored_items(results, variant=variant, restrict=restrict, by=by)
    n, k = items.log_probs.shape
    if n < 2 * folds or k < 2:
        raise ConfigError(f"variant {items.variant!r} has {n} labelled items over {k} classes; calibration needs at least "
                          f"{2 * folds} items and 2 classes.", fix=(f"calibrate a labelled run of at least {2 * folds} items over 2 or more classes"
                                                                   + (", or pass fewer --folds" if n >= 4 and k >= 2 else "") + "."))
    splits, fold_note = _folds(n, items.groups, folds, seed)
    notes = [] if items.groups is not None else [fold_note]
    lp, y = items.log_probs, items.y
    before_probs = softmax(lp)
    after_probs = np.zeros_like(before_probs)
    sets = {s: np.zeros((n, k), dtype=bool) for s in CONFORMITY_SCORES}
    fold_t, split_kinds = [], set()
    for train, test in splits:
        # disjoint halves of the training part: the conformal threshold never sees the items the temperature was fitted on
        fit_part, conf_part, kind = _halves(train, items.groups, seed)
        split_kinds.add(kind)
        t = fit_temperature(lp[fit_part], y[fit_part], bounds=bounds)
        fold_t.append(t)
        after_probs[test] = softmax(apply_temperature(lp[test], t))
        cal_probs = softmax(apply_temperature(lp[conf_part], t))
        for s in CONFORMITY_SCORES:
            sets[s][test] = conformal_sets(cal_probs, y[conf_part], after_probs[test], alpha=alpha, score=s, seed=seed)
    protocol = ("in each fold the temperature is fitted on one half of the training part and the conformal threshold on the "
                f"other half (split {' / '.join(sorted(split_kinds))}); both are applied to the held-out fold")
    if "by shuffled items" in split_kinds and items.groups is not None:
        notes.append("a fold's training part had a single speaker, so its temperature and conformal halves share that speaker")
    temperature = fit_temperature(lp, y, bounds=bounds)
    shares = [f"{int(s * 100)}%" for s in COVERAGES]

    def stats(idx, _):
        idx = np.asarray(idx, dtype=int)
        b, a = calibration_errors(before_probs[idx], y[idx], bins=bins), calibration_errors(after_probs[idx], y[idx], bins=bins)
        cb, rb, ab = risk_coverage(before_probs[idx], y[idx])
        ca, ra, aa = risk_coverage(after_probs[idx], y[idx])
        return ([b[m] for m in ("ece", "mce", "brier", "nll")] + [a[m] for m in ("ece", "mce", "brier", "nll")] + [ab, aa]
                + [accuracy_at_coverage(cb, rb, s) for s in COVERAGES] + [accuracy_at_coverage(ca, ra, s) for s in COVERAGES])

    index = np.arange(n)
    ci = bootstrap_ci(stats, index, index, n=n_boot, seed=seed)
    metrics = ("ece", "mce", "brier", "nll")
    ci_before = {m: tuple(ci[i]) for i, m in enumerate(metrics)}
    ci_after = {m: tuple(ci[4 + i]) for i, m in enumerate(metrics)}
    nc = len(COVERAGES)
    accuracy_at_ci = {sh: {"before": tuple(ci[10 + j]), "after": tuple(ci[10 + nc + j])} for j, sh in enumerate(shares)}
    t_ci, t_boot = temperature_interval(lp, y, n_boot=min(n_boot, T_BOOTSTRAP_CAP), seed=seed, bounds=bounds)
    cov_b, risk_b, aurc_b = risk_coverage(before_probs, y)
    cov_a, risk_a, aurc_a = risk_coverage(after_probs, y)
    accuracy_at = {sh: {"before": accuracy_at_coverage(cov_b, risk_b, s), "after": accuracy_at_coverage(cov_a, risk_a, s)}
                   for sh, s in zip(shares, COVERAGES)}
    conformal = {}
    for s, st in sets.items():
        hit = st[np.arange(n), y]
        size = st.sum(axis=1)
        per_class = {c: {"n": int((y == j).sum()), "coverage": float(hit[y == j].mean()), "mean_size": float(size[y == j].mean())}
                     for j, c in enumerate(items.classes) if (y == j).any()}
        conformal[s] = {"n": int(n), "coverage": float(hit.mean()), "mean_size": float(size.mean()), "empty_sets": int((size == 0).sum()),
                        "per_class": per_class}
    if not items.restricted and len(set(y.tolist())) < len(items.classes):
        notes.append(f"calibrated over all {len(items.classes)} model classes; the corpus uses fewer, so sets may hold classes it never has")
    before, after = calibration_errors(before_probs, y, bins=bins), calibration_errors(after_probs, y, bins=bins)

    # the self-checks, and what they mean in words
    warnings: list[str] = []
    edge = fit_edge(lp, y, temperature, bounds)
    if edge:
        warnings.append(edge_message(temperature, edge, bounds))
    fold_edges = [i for i, t in enumerate(fold_t) if temperature_at_edge(t, bounds)]
    if fold_edges and not edge:
        warnings.append(f"{len(fold_edges)} of {len(fold_t)} fold temperatures are at a bound of the search [{bounds[0]:g}, {bounds[1]:g}]: "
                        "the held-out figures after calibration come partly from degenerate fits")
    words, nll_flags = nll_verdict(after["nll"], before["nll"], k, tuple(ci_after["nll"]) if "nll" in ci_after else None)
    if nll_flags["nll_not_better_than_uniform"] or nll_flags["nll_worse_than_uncalibrated"]:
        warnings.append(words[0].upper() + words[1:])
    # intervals that resampling cannot widen (every resample gives the same value) are no measurement: say which
    intervals = {"T": t_ci, "AURC before": tuple(ci[8]), "AURC after": tuple(ci[9]),
                 **{f"{m.upper()} {w}": (ci_before if w == "before" else ci_after)[m] for m in metrics for w in ("before", "after")},
                 **{f"accuracy at {sh} {w}": accuracy_at_ci[sh][w] for sh in shares for w in ("before", "after")}}
    flat = [name for name, (a, b) in intervals.items() if zero_width_note(a, b, n)]
    if "T" not in flat and t_boot.get("resamples") and t_boot.get("at_edge") == t_boot["resamples"]:
        flat.insert(0, "T")  # every refit stopped at the bound: the interval is the bound (up to the search's tolerance)
    if flat:
        notes.append(f"zero-width intervals ({', '.join(flat)}): every resample of the {n} items gives the same value, "
                     "so these intervals measure nothing")
    recommended = not edge and not nll_flags["nll_not_better_than_uniform"] and not nll_flags["nll_worse_than_uncalibrated"]
    checks = {"temperature_at_edge": edge, "fold_temperatures_at_edge": len(fold_edges), **nll_flags, "recommended": recommended,
              "zero_width_intervals": flat}
    return CalibrationReport(
        variant=items.variant, n=n, classes=items.classes, restricted=items.restricted, folds=fold_note, temperature=temperature,
        fold_temperatures=fold_t, alpha=alpha, before=before, after=after, ci_before=ci_before, ci_after=ci_after,
        aurc_before=aurc_b, aurc_after=aurc_a, accuracy_at=accuracy_at, conformal=conformal,
        reliability_before=binned_ece(before_probs.max(1), before_probs.argmax(1) == y, bins=bins)[1],
        reliability_after=binned_ece(after_probs.max(1), after_probs.argmax(1) == y, bins=bins)[1],
        curve_before={"coverage": cov_b.tolist(), "risk": risk_b.tolist()},
        curve_after={"coverage": cov_a.tolist(), "risk": risk_a.tolist()}, notes=notes,
        search_interval=tuple(float(b) for b in bounds), temperature_edge=edge, temperature_ci=t_ci, temperature_bootstrap=t_boot,
        aurc_ci_before=tuple(ci[8]), aurc_ci_after=tuple(ci[9]), accuracy_at_ci=accuracy_at_ci,
        ece_by_class_set=ece_by_class_set(lp, y, items.classes, items.model_confidence, items.model_correct, bins=bins,
                                          model_classes=items.model_classes),
        conformal_protocol=protocol, nll_uniform=float(np.log(k)), nll_words=words, checks=checks, warnings=warnings,
        recommended=recommended,
    )


# ---------------------------------------------------------------------------
# a run folder: calibrate, save, resolve a saved temperature
# ---------------------------------------------------------------------------
def calibrate_run(run_dir: "str | Path | RunFolder", *, variant: str | None = None, by: str | None = "speaker", folds: int = 5,
                  alpha: float = 0.1, restrict: bool = True, n_boot: int = 1000, seed: int = 0,
                  figures: bool = True) -> dict[str, CalibrationReport]:
    """Calibrate every variant of a run (or ``variant``); write ``calibration.json`` and figures through the run folder.

    ``calibration.json`` holds ``temperature`` (the first calibrated variant's, the one
    ``--temperature RUN`` applies), the variant it came from, the protocol, and each
    variant's full report.  Figures: ``calibration_<kind>_<k>.png`` with ``k`` the
    variant's position in the run.
    """
    rf = as_run_folder(run_dir)
    results = rf.results()
    variants = list(dict.fromkeys(results["variant"].astype(str)))
    chosen = variants if variant is None else [variant]
    reports = {v: calibrate(results, variant=v, by=by, folds=folds, alpha=alpha, restrict=restrict, n_boot=n_boot, seed=seed)
               for v in chosen}
    first = reports[chosen[0]]
    payload = {
        # only a temperature that passed its checks is saved where `--temperature RUN` reads it
        **({"temperature": first.temperature} if first.recommended else {}),
        "temperature_fitted": first.temperature,
        "recommended": first.recommended,
        "not_recommended_because": [] if first.recommended else list(first.warnings),
        "search_interval": list(first.search_interval),
        "variant": first.variant,
        "protocol": {"folds": first.folds, "by": by, "alpha": alpha, "restrict": restrict, "ece_bins": ECE_BINS,
                     "ece_binning": "equal-width", "bootstrap": n_boot, "seed": seed, "search_interval": list(first.search_interval),
                     "edge_tolerance": EDGE_TOLERANCE, "temperature_bootstrap": first.temperature_bootstrap,
                     "conformal": first.conformal_protocol},
        "warnings": {v: r.warnings for v, r in reports.items() if r.warnings},
        "random_weights": rf.random_weights,
        "model": rf.model_ref,
        "variants": {v: r.to_dict() for v, r in reports.items()},
    }
    if rf.random_weights:
        # the model's own banner, as the run recorded it (this module sits below workbench.model.network)
        payload["warning"] = (rf.model_ref or {}).get("warning") or "RANDOM WEIGHTS: these figures mean nothing."
    rf.write_json(CALIBRATION_FILE, payload)
    if figures:
        for v, r in reports.items():
            k = variants.index(v)
            for kind, plot in zip(CALIBRATION_FIGURES, (plot_reliability_before_after, plot_risk_coverage, plot_set_sizes)):
                fig = plot(r)
                fig.tight_layout()
                rf.write_figure(calibration_figure_name(kind, k), fig)
    return reports


# ---------------------------------------------------------------------------
# figures (axes in, figure out)
# ---------------------------------------------------------------------------
def plot_reliability_before_after(report: CalibrationReport, *, ax=None):
    """Reliability before and after temperature scaling: accuracy against mean confidence per non-empty bin.

    Marker area grows with the bin's item count; the diagonal is perfect calibration.
    ``ax``: axes or None for a new figure.  Returns the figure.
    """
    fig, ax = _axes(ax, (5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="perfect calibration")
    for rows, name, colour, ece_value in ((report.reliability_before, "before", "#cc3311", report.before["ece"]),
                                          (report.reliability_after, f"after (T = {report.temperature:.2f})", "#0077bb",
                                           report.after["ece"])):
        kept = [b for b in rows if b["n"]]
        if kept:
            sizes = np.array([b["n"] for b in kept], dtype=float)
            ax.plot([b["confidence"] for b in kept], [b["accuracy"] for b in kept], "-", color=colour, lw=1)
            ax.scatter([b["confidence"] for b in kept], [b["accuracy"] for b in kept], s=12 + 150 * sizes / sizes.max(),
                       color=colour, alpha=0.8, label=f"{name}: ECE {ece_value:.3f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("mean confidence of the bin", fontsize=10)
    ax.set_ylabel("accuracy of the bin", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    title = plain_text(f"{report.variant}: reliability, {report.n} items (held-out folds after)")
    if not report.recommended:  # the flag on a line of its own (escaped apart: plain_text shows a break as a literal \n)
        title += "\n⚠ " + ("T at the search bound: degenerate scores, not miscalibration"
                           if report.temperature_edge else "T not recommended (see the NLL check)")
    ax.set_title(title, fontsize=11)
    return fig


def plot_risk_coverage(report: CalibrationReport, *, ax=None):
    """Risk (error rate) of the most confident share of the items against that share, before and after.

    ``ax``: axes or None.  Returns the figure.
    """
    fig, ax = _axes(ax, (5.5, 4))
    for curve, name, colour, area in ((report.curve_before, "before", "#cc3311", report.aurc_before),
                                      (report.curve_after, "after", "#0077bb", report.aurc_after)):
        if curve.get("coverage"):
            ax.plot(curve["coverage"], curve["risk"], color=colour, lw=1.5, label=f"{name}: AURC {area:.3f}")
    if report.curve_before.get("risk"):
        ax.axhline(report.curve_before["risk"][-1], color="grey", lw=0.8, ls=":", label="error rate answering everything")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("coverage (share of items answered, most confident first)", fontsize=10)
    ax.set_ylabel("risk (error rate of the answered)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(plain_text(f"{report.variant}: risk–coverage"), fontsize=11)
    return fig


def plot_set_sizes(report: CalibrationReport, *, ax=None):
    """Mean conformal set size per true class (LAC and APS), each bar labelled with its coverage.

    ``ax``: axes or None.  Returns the figure.
    """
    fig, ax = _axes(ax, (1.5 + 0.9 * max(len(report.classes), 1), 4))
    scores = list(report.conformal)
    width = 0.8 / max(len(scores), 1)
    classes = [c for c in report.classes if any(c in report.conformal[s]["per_class"] for s in scores)]
    x = np.arange(len(classes))
    for j, (s, colour) in enumerate(zip(scores, ("#4477aa", "#ee7733"))):
        per = report.conformal[s]["per_class"]
        sizes = [per[c]["mean_size"] for c in classes]
        bars = ax.bar(x + (j - (len(scores) - 1) / 2) * width, sizes, width=width * 0.95, color=colour,
                      label=f"{s.upper()}: coverage {report.conformal[s]['coverage']:.3f}, mean size {report.conformal[s]['mean_size']:.2f}")
        for b, c in zip(bars, classes):
            ax.text(b.get_x() + b.get_width() / 2, b.get_height() + 0.03, f"{per[c]['coverage']:.2f}", ha="center", va="bottom",
                    fontsize=7)
    ax.set_xticks(x, [plain_text(c) for c in classes], rotation=30, ha="right", fontsize=9)
    ax.set_ylim(0, len(report.classes) + 0.5)
    ax.set_ylabel("mean set size (classes)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(plain_text(f"{report.variant}: conformal sets at alpha {report.alpha} (labels: coverage per class)"), fontsize=10)
    return fig
