"""Calibration you can use: temperature scaling, calibration errors, selective prediction, conformal sets.

Everything is measured speaker-independently.  The scored items of a run are split into folds by speaker
(scikit-learn's ``GroupKFold``); for each fold the temperature is fitted on the *other* folds and applied to this
one, and the conformal quantile is computed on the other folds (after their temperature) and used on this one.
So every "after" figure and every coverage figure comes from items that neither fit saw. Without a speaker column the
folds are plain shuffled ``KFold`` and the report says that a speaker's items may sit on both sides.

* **Temperature** ``T``: scores become ``softmax(z / T)``; fitted by minimising the negative log-likelihood over ``log T`` with SciPy's bounded
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
  MAPIE's APS refuses a binary target: when a fold's conformal half holds 2 classes (a two-class corpus) only LAC
  sets are made, and a note (screen, ``calibration.json``, report) says APS was skipped and why.
  Each coverage, overall and per true class, has its exact binomial
  (Clopper–Pearson, ``scipy.stats.binomtest``) 95 % interval and its ``n``; its
  check fails when the target ``1 − alpha`` lies outside that interval, and says
  "too few items to check" when no outcome on ``n`` items could fail it.  The
  sets promise coverage over all items, not per class: a class below target is
  flagged, not a bug of the method.  Sets whose mean size reaches 90 % of the
  classes hold nearly everything and are flagged as uninformative.
  The guarantee assumes exchangeable items; with folds by speaker, exchangeable speakers.  Each score's coverage
  states that assumption and, grouped, checks the per-speaker coverage against what exchangeable items would give
  (:mod:`workbench.analysis.conformal_groups`: a permutation test within folds, and an interval resampling speakers).
"""

from __future__ import annotations

import difflib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.errors import ConfigError
from workbench.labels import LABEL_KEYS
from workbench.analysis.calibration_measures import (  # noqa: F401  (the measures' names are public here too)
    _TINY, CONFORMITY_SCORES, COVERAGE_FAIL, COVERAGE_TOO_FEW, COVERAGES, ECE_BINS, EDGE_TOLERANCE, T_BOOTSTRAP_CAP, T_BOUNDS,
    UNINFORMATIVE_SIZE_SHARE, accuracy_at_coverage, coverage_items, aps_skipped, aurc_random_order_words, brier_uniform_words, calibration_errors, check_enough_items,
    conformal_checks, conformal_sets, conformal_summary, shared_fit_notes,
    coverage_check, ece_by_class_set, edge_message, fit_edge, fit_temperature, guarantee_words, nll, nll_verdict, risk_coverage, temperature_at_edge,
)
from workbench.analysis.conformal_groups import _verdict_words, add_group_coverage, conformal_line, spread_words  # noqa: F401  (public here too)
from workbench.analysis.calibration_intervals import ERROR_METRICS, _bootstrapped, _self_checks, temperature_interval, thin_mark  # noqa: F401  (public here too)
from workbench.analysis.calibration_plots import plot_reliability_before_after, plot_risk_coverage, plot_set_sizes  # noqa: F401
from workbench.analysis.groups import left_out_notes, unmapped_labels
from workbench.analysis.metrics import output_folder, run_training_overlap
from workbench.analysis.stats import ece as binned_ece, speaker_resampling
from workbench.model.temperature import TEMPERATURE_RANGE, apply_temperature, check_temperature, softmax  # noqa: F401  (public here too)
from workbench.runs.folder import CALIBRATION_FILE, RunFolder, as_run_folder, pick_variant, saved_calibration, select_rows  # noqa: F401
from workbench.schema import MANIFEST_COLUMNS, score_columns, score_labels, text_values

logger = logging.getLogger(__name__)

#: what `workbench calibrate` writes into a run folder: the report, and per variant (by position) three figures
CALIBRATION_FIGURES = ("reliability", "risk_coverage", "set_sizes")
CALIBRATION_FIGURE_RE = re.compile(rf"^calibration_({'|'.join(CALIBRATION_FIGURES)})_\d+\.png$")  # every calibration_figure_name


def calibration_figure_name(kind: str, variant_index: int) -> str:
    """``calibration_<kind>_<k>.png``: the name never holds a variant's own name."""
    if kind not in CALIBRATION_FIGURES:
        raise ConfigError(f"unknown calibration figure {kind!r}.", fix=f"use one of {list(CALIBRATION_FIGURES)}.")
    return f"calibration_{kind}_{int(variant_index)}.png"


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
    group_by: str | None = "speaker"  # the column the folds are grouped by (--scheme); None: --scheme none


def scored_items(results, *, variant: str | None = None, restrict: bool = True, by: str | None = "speaker") -> ScoredItems:
    """Labelled ok rows of one variant as log-probabilities over the corpus's classes (``restrict``) or all the model's.

    Unknown ``variant`` or ``by`` columns are refused with the valid ones listed.
    """
    variant = pick_variant(results, variant)
    if by is not None and by not in results.columns:
        # the fix listed every results column (cache_key, confidence, decode_ms …): the manifest's are the groupings
        offered = [c for c in MANIFEST_COLUMNS if c in results.columns and c not in ("id", "path", "start", "duration")]
        close = difflib.get_close_matches(str(by), offered, n=1)
        raise ConfigError(f"cannot group the folds by {by!r}: not a manifest column of this run; it has {offered}."
                          + (f" (did you mean {close[0]!r}?)" if close else ""),
                          fix=f"pass --scheme with one of {offered}, or --scheme none for shuffled folds.")
    df = select_rows(results, variant)
    df = df[text_values(df["emotion"]) != ""]
    labels = score_labels(results)  # the model's classes: the nine, or a fine-tuned head's
    classes = [c for c in labels if c in set(df["emotion"].astype(str))] if restrict else labels
    probs = np.clip(df[score_columns(classes)].to_numpy(dtype=float), _TINY, None)
    log_probs = np.log(probs / probs.sum(axis=1, keepdims=True))
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[c] for c in df["emotion"].astype(str)], dtype=int)
    groups = None
    if by is not None:
        g = text_values(df[by]).to_numpy()
        groups = g if (g != "").all() else None
        if groups is None:
            logger.warning("%d items have no %s; the folds are not grouped", int((g == "").sum()), by)
    all_scores = df[score_columns(labels)].to_numpy(dtype=float)
    model_conf = all_scores.max(axis=1) / np.maximum(all_scores.sum(axis=1), _TINY)
    model_correct = np.asarray(labels)[all_scores.argmax(axis=1)] == df["emotion"].astype(str).to_numpy()
    return ScoredItems(log_probs, y, classes, groups, df["id"].astype(str).to_numpy(), variant, restrict, model_conf, model_correct,
                       tuple(labels), group_by=by)


def _folds(n: int, groups: np.ndarray | None, folds: int, seed: int, by: str | None = "speaker") -> tuple[list, str]:
    from sklearn.model_selection import GroupKFold, KFold

    if groups is not None:
        n_groups = len(set(groups))
        if n_groups < 2:
            raise ConfigError(f"the items come from {n_groups} {by}; folds grouped by {by} need at least 2.",
                              fix=f"calibrate a run with several of them, or pass --scheme none (the folds then share {by}s).")
        k = min(folds, n_groups)
        return list(GroupKFold(n_splits=k).split(np.zeros(n), groups=groups)), f"GroupKFold by {by}, {k} folds"
    k = min(folds, n)
    why = f"not every item has a {by}, so items of one {by}" if by else "--scheme none, so a speaker's items"  # the reason given
    note = (f"KFold, {k} shuffled folds: {why} may be in both the calibration and the "
            "evaluation folds and the coverage may be optimistic")
    return list(KFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(n))), note


def _halves(train: np.ndarray, groups: np.ndarray | None, seed: int, by: str | None = "speaker") -> tuple[np.ndarray, np.ndarray, str]:
    """Split a training part into two disjoint halves: one fits the temperature, the other the conformal threshold.

    By speaker when the part has two or more (no speaker on both sides), else shuffled items (and the note says so).
    """
    from sklearn.model_selection import GroupKFold, KFold

    if groups is not None and len(set(groups[train])) >= 2:
        a, b = next(GroupKFold(n_splits=2).split(train, groups=groups[train]))
        return train[a], train[b], f"by {by}"
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
    #: (only {"model": {...}} when calibrated over all the model's classes)
    ece_by_class_set: dict[str, dict] = field(default_factory=dict)
    #: how the temperature and the conformal threshold were kept apart
    conformal_protocol: str = ""
    #: conformity scores not made, with why (``{"aps": ...}`` when a conformal half is a binary target); also in ``notes``
    conformal_skipped: dict[str, str] = field(default_factory=dict)
    nll_uniform: float = float("nan")
    nll_words: str = ""
    #: the self-checks: temperature_at_edge, fold_temperatures_at_edge, nll_worse_than_uniform, nll_worse_than_uncalibrated,
    #: and per conformity score set_coverage (the coverage against 1 − alpha, overall and per class) and set_size
    checks: dict = field(default_factory=dict)
    #: the failed checks in words (screen, JSON, report); empty when every check passed
    warnings: list[str] = field(default_factory=list)
    #: those of ``warnings`` that are the conformal sets' (coverage outside its interval, uninformative sets): not the temperature's
    conformal_warnings: list[str] = field(default_factory=list)
    recommended: bool = True
    #: the run's speakers or corpus on the checkpoint's training data (a fine-tuned head's card): a caveat on every
    #: figure, not a failed check (:func:`workbench.data.cards.run_training_overlap`)
    training_overlap: list[str] = field(default_factory=list)
    #: what the errors', AURC's and accuracy-at-coverage's intervals resampled: speakers (or sessions), else items
    interval_unit: dict = field(default_factory=lambda: speaker_resampling(None)[1])
    #: each interval's resamples: {"ECE before": {"kept": 200, "drawn": 200}, …, "T": …}; one kept under 90 % is in
    #: ``checks["thin_intervals"]``, marked where shown (:meth:`flat_mark`) and said in ``notes``
    interval_resamples: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def flat_mark(self, name: str) -> str:
        """`` !! zero width`` after a figure whose interval has no width, `` !! outside its interval`` after one whose point it misses."""
        checks = self.checks or {}
        return "".join(mark for key, mark in (("zero_width_intervals", " !! zero width"), ("point_outside_interval", " !! outside its interval"))
                       if name in checks.get(key, ())) + thin_mark((self.interval_resamples or {}).get(name))

    @property
    def temperature_resamples(self) -> str:
        """How many resamples T's interval rests on: ``200``, or ``150 of 200`` where some refits gave no temperature."""
        tb = self.temperature_bootstrap or {}
        drawn, kept = tb.get("resamples", 0), tb.get("kept", tb.get("resamples", 0))
        return f"{kept} of {drawn}" if kept != drawn else f"{drawn}"

    @property
    def accuracy_scope(self) -> str:
        """What "accuracy" counts here, beside ``metrics``' WA (which takes the top of all the model's classes)."""
        if self.restricted:
            return ("the top class among the corpus's classes, so it can differ from `workbench metrics`' WA, which takes "
                    "the top of all the model's classes")
        return "the top of all the model's classes, as `workbench metrics`' WA"

    @property
    def resamples_words(self) -> str:
        """What the temperature's resamples drew, after their count: "item resamples" or "resamples of the 30 speakers"."""
        unit = self.interval_unit
        return f"resamples of the {unit['short']}" if unit["unit"] != "item" else "item resamples"

    def render(self) -> str:
        f = lambda x: "n/a" if x is None or x != x else f"{x:.3f}"  # noqa: E731
        lo_t, hi_t = self.search_interval
        tb = self.temperature_bootstrap
        lines = [f"!! {w}" for w in [*self.training_overlap, *self.warnings]]
        lines += [f"variant {self.variant}: {self.n} items over {len(self.classes)} classes "
                  f"({'the corpus classes' if self.restricted else 'all the model classes'}); {self.folds}",
                  f"  temperature {self.temperature:.3f} [{f(self.temperature_ci[0])}, {f(self.temperature_ci[1])}]{self.flat_mark('T')} "
                  f"(fitted on all items, searched in [{lo_t:g}, {hi_t:g}]"
                  + (f", AT THE {self.temperature_edge.upper()} BOUND" if self.temperature_edge else "")
                  + f"; interval from {self.temperature_resamples} {self.resamples_words}"
                  + (f", {tb['at_edge']} of them at a bound" if tb.get("at_edge") else "")
                  + f"; per fold {', '.join(f'{t:.3f}' for t in self.fold_temperatures)})",
                  f"  {self.conformal_protocol}",
                  f"  95 % intervals below: bootstrap {self.interval_unit['words']}" + (f"  !! {self.interval_unit['note']}" if self.interval_unit["note"] else ""),
                  f"  {'metric':<7} {'before':>22} {'after (held-out folds)':>26}"]
        flat = self.flat_mark
        for m in ("ece", "mce", "brier", "nll"):
            b, a = self.before[m], self.after[m]
            (bl, bh), (al, ah) = self.ci_before[m], self.ci_after[m]
            lines.append(f"  {m.upper():<7} {b:7.3f} [{bl:.3f}, {bh:.3f}]{flat(f'{m.upper()} before')}  "
                         f"{a:7.3f} [{al:.3f}, {ah:.3f}]{flat(f'{m.upper()} after')}" + (f"  (uniform guess {1 - 1 / len(self.classes):.3f})" if m == "brier" and len(self.classes) > 1 else ""))
        lines.append(f"  AURC    {self.aurc_before:7.3f} [{f(self.aurc_ci_before[0])}, {f(self.aurc_ci_before[1])}]{flat('AURC before')}  "
                     f"{self.aurc_after:7.3f} [{f(self.aurc_ci_after[0])}, {f(self.aurc_ci_after[1])}]{flat('AURC after')}")
        lines.append(f"  NLL: {self.nll_words}")
        if self.ece_by_class_set:
            lines.append("  ECE (15 equal-width bins) by class set, before calibration: "
                         + "; ".join(f"{d['ece']:.3f} over {d['label']}" for d in self.ece_by_class_set.values()))
        for share, accs in self.accuracy_at.items():
            ci = self.accuracy_at_ci.get(share, {})
            cb, ca = ci.get("before", (float("nan"),) * 2), ci.get("after", (float("nan"),) * 2)
            of = f" ({accs['items']} of {accs['of']} items)" if "of" in accs else ""  # its denominator (a report of an older version: none)
            lines.append(f"  accuracy answering the most confident {share}{of}: {accs['before']:.3f} [{f(cb[0])}, {f(cb[1])}]"
                         f"{flat(f'accuracy at {share} before')} before, {accs['after']:.3f} [{f(ca[0])}, {f(ca[1])}]"
                         f"{flat(f'accuracy at {share} after')} after")
        if self.accuracy_at:
            lines.append(f"  (accuracy here: {self.accuracy_scope})")
        for score, d in self.conformal.items():
            lines.append(conformal_line(score, d, self.alpha))
        lines.extend(f"  note: {n}" for n in self.notes if n != self.folds)  # the fold note is said once, in the header
        return "\n".join(lines)


def _check_conformal_half(items: ScoredItems, conf_part, fold: int, alpha: float, folds: int) -> list[str]:
    """Refuse, with the fact and the fix, a fold's conformal half that MAPIE cannot calibrate on (it raised a bare
    ValueError, which reached the user as an unexpected error): no more items than 1/alpha, or items of 1 class only.
    Returns the classes the half holds (2 of them: MAPIE's APS refuses that binary target, LAC takes it)."""
    m, present = len(conf_part), [items.classes[k] for k in np.unique(items.y[conf_part])]
    where = f"variant {items.variant!r}, fold {fold}: the half of the training part that fits the conformal threshold"
    if m <= max(1 / alpha, 1 / (1 - alpha)):
        raise ConfigError(f"{where} holds {m} labelled items; sets at alpha {alpha:g} need more than {max(1 / alpha, 1 / (1 - alpha)):g}.",
                          fix=f"pass a larger --alpha (above {1 / m:.3f}: e.g. --alpha {np.ceil(100 / m + 1e-9) / 100:.2f}), "
                              + ("fewer --folds (2 at least), " if folds > 2 else "") + "or calibrate a run with more labelled items.")
    if len(present) < 2:  # the run has 2 classes or more (one class is refused before): its groups do not mix them
        raise ConfigError(f"{where} holds items of {len(present)} class only ({', '.join(present)}); conformal sets "
                          "need items of 2 or more classes there.", fix=(f"the run's labelled items cover {len(np.unique(items.y))} "
                          "classes, but its groups (speakers, or the --scheme column) each hold one: pass --scheme none (folds by item; "
                          "by=None in Python), or group by a column whose groups cover several classes." if items.groups is not None
                          else ("pass fewer --folds, or c" if folds > 2 else "C") + "alibrate a run with more labelled items of each class."))
    return present


def _cross_validated(items: ScoredItems, splits, *, alpha: float, seed: int, bounds) -> dict:
    """Held-out probabilities after each fold's temperature, conformal sets, fold temperatures, the protocol and notes in words.

    When a fold's conformal half holds 2 classes (MAPIE's APS refuses a binary target) only LAC sets are made, for
    every fold, and ``skipped`` says why (APS over some folds only would be no APS figure)."""
    lp, y = items.log_probs, items.y
    n, k = lp.shape
    after_probs = np.zeros_like(lp)
    halves = [_halves(train, items.groups, seed, items.group_by) for train, _ in splits]
    present = [_check_conformal_half(items, conf_part, i + 1, alpha, len(splits)) for i, (_, conf_part, _) in enumerate(halves)]
    binary = {i + 1: p for i, p in enumerate(present) if len(p) == 2}
    skipped = {"aps": aps_skipped(binary, k)} if binary else {}
    scores = [s for s in CONFORMITY_SCORES if s not in skipped]
    sets = {s: np.zeros((n, k), dtype=bool) for s in scores}
    fold_t = []
    for (_, test), (fit_part, conf_part, _) in zip(splits, halves):
        # disjoint halves of the training part: the conformal threshold never sees the items the temperature was fitted on
        t = fit_temperature(lp[fit_part], y[fit_part], bounds=bounds)
        fold_t.append(t)
        after_probs[test] = softmax(apply_temperature(lp[test], t))
        cal_probs = softmax(apply_temperature(lp[conf_part], t))
        for s in scores:
            sets[s][test] = conformal_sets(cal_probs, y[conf_part], after_probs[test], alpha=alpha, score=s, seed=seed)
    split_kinds = {kind for _, _, kind in halves}
    protocol = ("in each fold the temperature is fitted on one half of the training part and the conformal threshold on the "
                f"other half (split {' / '.join(sorted(split_kinds))}); both are applied to the held-out fold")
    notes = ([f"a fold's training part had a single {items.group_by}, so its temperature and conformal halves share that {items.group_by}"]
             if "by shuffled items" in split_kinds and items.groups is not None else [])
    notes += [*skipped.values(), *shared_fit_notes([fit for fit, _, _ in halves], items.group_by)]  # said, never silent
    return {"after": after_probs, "sets": sets, "fold_t": fold_t, "protocol": protocol, "notes": notes, "skipped": skipped,
            "fold_sizes": [(len(conf), len(test)) for (_, test), (_, conf, _) in zip(splits, halves)]}  # coverage's guarantee


def calibrate(results, *, variant: str | None = None, by: str | None = "speaker", folds: int = 5, alpha: float = 0.1,
              restrict: bool = True, bins: int = ECE_BINS, n_boot: int = 1000, seed: int = 0,
              bounds: tuple[float, float] = T_BOUNDS) -> CalibrationReport:
    """Cross-validated calibration of one variant of a results table (see the module docstring).

    Parameters
    ----------
    results : DataFrame
        A run's ``results.parquet`` (score columns ``score_<class>``, ``emotion``, ``status``, ``variant``).
    variant : str or None
        The variant to calibrate (default: the run's first); an unknown one is refused with the run's variants.
    by : str or None
        Column whose values must not be split across folds (``speaker``); None for shuffled folds.
    folds : int
        Number of cross-validation folds (fewer when there are fewer speakers); needs ``2 * folds`` labelled items.
    alpha : float
        Miscoverage of the conformal sets (0.1 → 90 % sets).
    restrict : bool
        Calibrate over the corpus's classes (True) or all the model's classes.
    bins, n_boot, seed : int
        Equal-width confidence bins of the ECE and the reliability table; bootstrap resamples of the intervals (the
        temperature's at most 200); the seed of the shuffled folds, the bootstrap and APS's randomised sets.
    bounds : (float, float)
        The interval the temperature is searched in; a fit at its edge is flagged and not recommended.

    Returns
    -------
    CalibrationReport
        With its self-checks in ``checks`` and the failed ones in words in ``warnings``.

    Examples
    --------
    >>> run_dir = wb.demo_run("runs/demo", model="tiny")
    >>> report = wb.calibrate(wb.RunFolder(run_dir).results(), by="speaker", folds=2, n_boot=20)
    >>> report.n > 0, len(report.fold_temperatures)
    (True, 2)
    >>> sorted(report.checks)[:2]   # random weights: no better than a random order or a uniform guess
    ['aurc_not_below_random_order', 'brier_not_below_uniform']
    """
    if folds < 2:
        raise ConfigError(f"folds is {folds}; cross-validation needs at least 2.", fix="pass --folds 5.")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha is {alpha}; it must lie strictly between 0 and 1.", fix="pass --alpha 0.1 for 90 % sets.")
    items = scored_items(results, variant=variant, restrict=restrict, by=by)
    n, k = items.log_probs.shape
    rows = select_rows(results, items.variant) if n == 0 else results.iloc[:0]  # none labelled: why (not "0 item(s) of 0 class")
    check_enough_items(n, k, folds, variant=items.variant, unmapped=unmapped_labels(rows), blank=unmapped_labels(rows, blank=True))
    splits, fold_note = _folds(n, items.groups, folds, seed, items.group_by)
    lp, y, before_probs = items.log_probs, items.y, softmax(items.log_probs)
    cv = _cross_validated(items, splits, alpha=alpha, seed=seed, bounds=bounds)
    notes = left_out_notes(select_rows(results, items.variant, None), n, "calibrated") + ([] if items.groups is not None else [fold_note]) + cv["notes"]  # the n, with what it leaves out; a speaker shared by the two halves; APS skipped on a binary target
    temperature = fit_temperature(lp, y, bounds=bounds)
    fig = _bootstrapped(before_probs, cv["after"], y, bins=bins, n_boot=n_boot, seed=seed,  # clips of a speaker resampled together
                        clusters=(resampling := speaker_resampling(items.groups, word=items.group_by or "speaker"))[0])
    t_ci, t_boot = temperature_interval(lp, y, n_boot=min(n_boot, T_BOOTSTRAP_CAP), seed=seed, bounds=bounds, clusters=resampling[0])
    if not items.restricted and len(set(y.tolist())) < len(items.classes):
        notes.append(f"calibrated over all {len(items.classes)} model classes; the corpus uses fewer, so sets may hold classes it never has")
    sc = _self_checks(lp, y, temperature, cv["fold_t"], fig, t_ci, t_boot, bounds=bounds, k=k)
    notes += sc["notes"]
    after_probs = cv["after"]
    conformal = conformal_summary(cv["sets"], y, items.classes, alpha, cv["fold_sizes"])
    set_checks, conformal_warnings = conformal_checks(conformal)
    group_checks, group_warnings = add_group_coverage(conformal, cv["sets"], y, items.groups, splits, by=items.group_by, seed=seed)
    conformal_warnings += group_warnings  # a speaker effect: the guarantee holds over speakers, not for each
    checks = {**sc["checks"], **set_checks, **group_checks}
    return CalibrationReport(
        variant=items.variant, n=n, classes=items.classes, restricted=items.restricted, folds=fold_note, temperature=temperature,
        fold_temperatures=cv["fold_t"], alpha=alpha, before=fig["before"], after=fig["after"], ci_before=fig["ci_before"],
        ci_after=fig["ci_after"], aurc_before=fig["aurc"][0], aurc_after=fig["aurc"][1], accuracy_at=fig["accuracy_at"],
        conformal=conformal,
        reliability_before=binned_ece(before_probs.max(1), before_probs.argmax(1) == y, bins=bins)[1],
        reliability_after=binned_ece(after_probs.max(1), after_probs.argmax(1) == y, bins=bins)[1],
        curve_before=fig["curves"][0], curve_after=fig["curves"][1], notes=notes,
        interval_unit=resampling[1], interval_resamples=sc["interval_resamples"], search_interval=tuple(float(b) for b in bounds), temperature_edge=sc["edge"], temperature_ci=t_ci, temperature_bootstrap=t_boot,
        aurc_ci_before=fig["aurc_ci"][0], aurc_ci_after=fig["aurc_ci"][1], accuracy_at_ci=fig["accuracy_at_ci"],
        ece_by_class_set=ece_by_class_set(lp, y, items.classes, items.model_confidence, items.model_correct, bins=bins,
                                          model_classes=items.model_classes, restricted=items.restricted),
        conformal_protocol=cv["protocol"], conformal_skipped=cv["skipped"], nll_uniform=float(np.log(k)), nll_words=sc["words"], checks=checks,
        warnings=sc["warnings"] + conformal_warnings, conformal_warnings=conformal_warnings, recommended=sc["recommended"],
    )


# ---------------------------------------------------------------------------
# a run folder: calibrate, save, resolve a saved temperature
# ---------------------------------------------------------------------------
def calibrate_run(run_dir: "str | Path | RunFolder", *, variant: str | None = None, by: str | None = "speaker", folds: int = 5,
                  alpha: float = 0.1, restrict: bool = True, n_boot: int = 1000, seed: int = 0,
                  figures: bool = True, out: "str | Path | None" = None) -> dict[str, CalibrationReport]:
    """Calibrate every variant of a run (or ``variant``); write ``calibration.json`` and figures through the run folder.

    ``calibration.json`` holds ``temperature`` (the first calibrated variant's, the one ``--temperature RUN`` applies),
    the variant it came from, the protocol, each variant's report and the ``figures``, ``calibration_<kind>_<k>.png``
    (``k``: the variant's position in the run); an earlier invocation's calibration figures are removed.

    Parameters
    ----------
    run_dir : str, Path or RunFolder
        A finished run folder with labelled items.
    variant : str or None
        Calibrate only this variant (default: every variant; the first one's temperature is saved).
    by, folds, alpha, restrict, n_boot, seed
        As in :func:`calibrate`.
    figures : bool
        Also write the reliability, risk-coverage and set-size figures.
    out : str, Path or None
        Folder for ``calibration.json`` and the figures (default: the run folder, where ``--temperature RUN`` reads it).

    Returns
    -------
    dict of str to CalibrationReport
        One report per calibrated variant.

    Examples
    --------
    >>> run_dir = wb.demo_run("runs/demo", model="tiny")
    >>> reports = wb.calibrate_run(run_dir, folds=2, n_boot=20, figures=False, out="calibrated")
    >>> list(reports), os.path.isfile("calibrated/calibration.json")
    (['raw'], True)
    """
    rf = as_run_folder(run_dir)
    results = rf.results()
    variants = list(dict.fromkeys(results["variant"].astype(str)))
    chosen = variants if variant is None else [variant]
    reports = {v: calibrate(results, variant=v, by=by, folds=folds, alpha=alpha, restrict=restrict, n_boot=n_boot, seed=seed)
               for v in chosen}
    overlap = run_training_overlap(rf)
    for r in reports.values():
        r.training_overlap = list(overlap)
    first = reports[chosen[0]]
    payload = {
        "training_overlap": overlap,
        # only a temperature that passed its checks is saved where `--temperature RUN` reads it
        **({"temperature": first.temperature} if first.recommended else {}),
        "temperature_fitted": first.temperature,
        "recommended": first.recommended,
        "not_recommended_because": [] if first.recommended else [w for w in first.warnings if w not in first.conformal_warnings],
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
    if rf.random_weights:  # the model's own banner, as the run recorded it (this module sits below workbench.model.network)
        payload["warning"] = (rf.model_ref or {}).get("warning") or "RANDOM WEIGHTS: these figures mean nothing."
    _write_outputs(output_folder(rf, out), payload, reports, variants, figures)
    return reports


def _write_outputs(dest: "RunFolder", payload: dict, reports: dict, variants: list[str], figures: bool) -> None:
    """This invocation's figures, then ``calibration.json`` listing them (last: a stop between the figures left one naming
    figures not there), every calibration file of an earlier one removed first: one invocation's set, in ``artifacts.json`` too."""
    plots = dict(zip(CALIBRATION_FIGURES, (plot_reliability_before_after, plot_risk_coverage, plot_set_sizes)))
    names = {(v, kind): calibration_figure_name(kind, variants.index(v)) for v in reports for kind in plots} if figures else {}
    dest.remove_outputs(re.compile(rf"^{re.escape(CALIBRATION_FILE)}$|{CALIBRATION_FIGURE_RE.pattern}"))
    for (v, kind), name in names.items():
        (fig := plots[kind](reports[v])).tight_layout()
        dest.write_figure(name, fig, meta={"variant": v, "figure": kind})
    dest.write_json(CALIBRATION_FILE, {**payload, "figures": sorted(names.values())})
