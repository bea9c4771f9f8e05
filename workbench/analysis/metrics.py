"""Metrics of a run: WA, UAR, macro-F1, per-class report, confusion, calibration, intervals.

Conventions (speech emotion recognition):

* **WA** (weighted accuracy) = plain accuracy over the scored items.
* **UAR** (unweighted average recall) = mean of per-class recalls over the
  classes present in the ground truth (sklearn's ``balanced_accuracy``).
* **macro-F1** = mean F1 over the classes present in the ground truth.
* Scored items: status ok and an ``emotion`` (the corpus label's emotion2vec+
  counterpart).  Items whose label has no counterpart are excluded and
  counted.  A prediction outside the dataset's classes (``other``,
  ``unknown``…) counts as wrong; with ``restrict=True`` the argmax is taken
  over the dataset's classes only, the usual way of scoring a 9-class model
  on a 4-class benchmark.
* **ECE**: equal-width confidence bins (default 15); the gap between accuracy
  and mean confidence per bin, weighted by the bin's share of items (scikit-learn's
  ``calibration_curve`` per bin; :func:`workbench.analysis.stats.ece`).
* Intervals: seeded percentile bootstrap (95 %), over speakers when items have them, else items (``ci_unit``).

The statistics on label arrays live in :mod:`workbench.analysis.stats` (importable from here too); this module
turns a run's results into reports, breakdowns and figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from workbench.analysis.figure_layout import _CHAR_IN, _axes, _fixed_margins, _labels_too_wide  # noqa: F401  (calibration_plots takes _axes from here)
from workbench.analysis.groups import (FIGURE_NAMES, FOOT_LINE_IN, breakdown_footnote, chance_flag, chance_uar, chance_words,
                                      check_breakdown_columns, describe_gap, ece_note, recall_gap_lines, figure_flags, flagged_title, group_label_layout, left_out_note, majority_flag, majority_words,
                                      class_f1_note, class_share_note, class_lines, never_predicted_note, no_groups_note, not_scored_words, small_class_note, unmapped_labels, zero_width_note, few_items_note)
from workbench.analysis.interval_rule import resamples_kept, thin_note
from workbench.analysis.metrics_groups import _breakdowns, _ece_by_class_set, _group_line, _scored_labels, unit_line, breakdown_frame, class_unit_words, with_speaker_class_intervals, breakdown_table, group_analysis  # noqa: F401  (public here too)
from workbench.data.cards import run_training_overlap  # noqa: F401  (public here too)
from workbench.errors import ConfigError, capped_join, printable
from workbench.files import strict_json
from workbench.runs.folder import RunFolder, artifact_name, as_run_folder, select_rows
from workbench.schema import score_columns, score_labels, text_values
from workbench.serialize import figure_text, save_figure
from workbench.analysis.stats import (  # noqa: F401  (public here too: the metrics' own names)
    SMALL_BIN, _present, _stats_from_counts, bootstrap_ci, speaker_resampling, class_report, class_table, confusion, ece, ece_interval, headline, headline_intervals, macro_f1, per_class, resample_intervals, uar, wa)


def headline_summary(results, *, variant: str, n_boot: int = 1000, seed: int = 0) -> dict:
    """WA, UAR and macro-F1 of one variant with their 95 % intervals, as :func:`evaluate` gives them, from numpy alone.

    ``workbench run`` prints these after every run; :func:`evaluate` also computes the calibration table and the
    per-class report, and importing scikit-learn for them cost a short run more than its model (issue #28).
    Returns ``{"wa": x, "uar": x, "macro_f1": x, "ci": {name: (lo, hi)}, "n": items, "classes": [...],
    "chance_uar": x, "flags": [...], "ci_unit": {...}}`` (``ci_unit``: what the intervals resampled, speakers or items; ``flags``: the checks :class:`Report` applies to the same figures, each failing one
    in words: :func:`~workbench.analysis.groups.figure_flags`); ``None`` values with no scored item.
    """
    df = select_rows(results, variant)
    y_true, y_pred, classes = _scored_labels(df, False)
    if not len(y_true):
        return {"wa": None, "uar": None, "macro_f1": None, "ci": {}, "n": 0, "classes": classes, "chance_uar": None, "flags": []}
    vocabulary, codes = np.unique(np.concatenate([y_true, y_pred]).astype(str), return_inverse=True)
    t, p = codes[: len(y_true)], codes[len(y_true):]
    labels = np.asarray([int(np.searchsorted(vocabulary, c)) for c in classes], dtype=np.int64)
    k = len(vocabulary)
    counts = np.bincount(t * k + p, minlength=k * k).reshape(1, k, k)
    point = _stats_from_counts(counts, labels, len(t))[0]
    clusters, unit = speaker_resampling(df[text_values(df["emotion"]) != ""])  # the scored rows' speakers, as _scored_labels keeps them
    intervals = resample_intervals(t, p, labels, n=n_boot, seed=seed, clusters=clusters)[0]
    names = ("wa", "uar", "macro_f1")
    ci = dict(zip(names, (tuple(float(x) for x in b) for b in intervals)))
    support = {c: int(np.sum(y_true == c)) for c in classes}
    return {**{name: float(v) for name, v in zip(names, point)}, "ci": ci, "n": int(len(y_true)), "classes": list(classes),
            "chance_uar": chance_uar(len(classes)), "ci_unit": unit, "ci_resamples": {m: resamples_kept(b) for m, b in zip(names, intervals)},
            "flags": figure_flags(ci, len(y_true), support) + [f"{FIGURE_NAMES[m]}: {w}" for m, b in zip(names, intervals) if (w := thin_note(b))]}


@dataclass
class Report:
    """Metrics of one variant of a run."""

    variant: str
    n_scored: int
    n_excluded_no_counterpart: int
    n_failed: int
    classes: list[str]
    wa: float
    uar: float
    macro_f1: float
    ci: dict[str, tuple[float, float]]
    per_class: dict[str, dict]
    confusion: list[list[int]]
    confusion_cols: list[str]
    ece: float
    reliability: list[dict]
    restricted: bool
    #: the same binned ECE over every model class and over the corpus's classes, each with its class set named
    #: (``calibrate`` measures over the corpus's classes by default; the two differ by class set, not definition)
    ece_by_class_set: dict[str, dict] = field(default_factory=dict)
    breakdowns: dict[str, dict] = field(default_factory=dict)
    #: warnings that the corpus is in the checkpoint's training data (workbench.data.cards), shown first
    training_overlap: list[str] = field(default_factory=list)
    #: per breakdown column: UAR gap and per-class recall gaps with intervals (analysis.groups)
    disparities: dict[str, dict] = field(default_factory=dict)
    #: per breakdown column: how many scored items have no value there and are in none of its groups (absent: none);
    #: a column in ``by`` that no scored item fills is here with every scored item and absent from ``breakdowns``
    breakdown_left_out: dict[str, int] = field(default_factory=dict)
    #: UAR of a uniform guess over the scored classes; None with fewer than 2 (one class: chance is trivially 1)
    chance_uar: float | None = None
    #: why nothing was scored (no WA, UAR, F1 or ECE: they are NaN), or None when items were scored
    not_scored: str | None = None
    #: the ECE's seeded percentile bootstrap interval (the resamples of the headline intervals' seed)
    ece_ci: tuple[float, float] = (float("nan"), float("nan"))
    #: the corpus labels the excluded items carry that none of the model's classes stands for: label → items
    excluded_labels: dict[str, int] = field(default_factory=dict)
    #: what ``ci``, ``ece_ci`` and F1's intervals resampled (stats.speaker_resampling); ``ci_items``: the item bootstrap's
    ci_unit: dict = field(default_factory=lambda: speaker_resampling(None)[1])
    ci_items: dict[str, tuple[float, float]] = field(default_factory=dict)
    #: per headline figure (``wa``, ``uar``, ``macro_f1``): ``{"kept": k, "drawn": n}``, the resamples its interval rests on (the
    #: figure undefined, NaN, in the others; :func:`~workbench.analysis.interval_rule.thin_note` flags under 90 %)
    ci_resamples: dict[str, dict] = field(default_factory=dict)
    #: labels of excluded items that are the model's own classes, their emotion cell empty (``unmapped_labels(blank=True)``)
    blank_labels: dict[str, int] = field(default_factory=dict)

    def excluded_words(self) -> str:
        """"12 excluded (label without a counterpart among the model's classes: L 12)": which labels, not only how many
        (the line said "no label, or a label that is none of the model's classes" and left EmoDB's boredom unnamed)."""
        named = sum(self.excluded_labels.values()) + sum(self.blank_labels.values())
        parts = ([f"label without a counterpart among the model's classes: {', '.join(f'{k} {v}' for k, v in self.excluded_labels.items())}"]
                 if self.excluded_labels else []) + (
                [f"the model's own class, emotion cell empty: {', '.join(f'{k} {v}' for k, v in self.blank_labels.items())}"]
                if self.blank_labels else []) + ([f"no label: {self.n_excluded_no_counterpart - named}"] if self.n_excluded_no_counterpart > named else [])
        return f"{self.n_excluded_no_counterpart} excluded" + (f" ({'; '.join(parts)})" if parts else "")

    def to_dict(self) -> dict:
        d = self.__dict__.copy()
        return {"training_overlap": d.pop("training_overlap"), **d, "flags": self.flags()}

    def flags(self) -> dict[str, str]:
        """The screen's ``!!`` by figure (zero-width ``wa``/``uar``/``macro_f1``, ``uar_chance``, ``small_classes``), for the JSON; first
        ``training_overlap``, the run's training-data warnings (a reader of ``flags`` saw nothing of a head scored on its own speakers)."""
        below = chance_flag(*self.ci["uar"], self.chance_uar)
        notes = {**self.interval_flags(), "wa_majority": self.majority_flag(), "uar_chance": below and f"{below} ({self.chance_words()})", "small_classes": self.small_classes_note(), "few_items": few_items_note(self.n_scored),
                 "never_predicted": never_predicted_note(self.per_class), "class_f1": class_f1_note(self.per_class, self.n_scored), "class_shares": class_share_note(self.per_class), "ece": ece_note(self.ece, self.ece_ci, self.n_scored)}
        overlap = {"training_overlap": "; ".join(self.training_overlap)} if self.training_overlap else {}  # kept under training_overlap too
        return overlap | {k: v for k, v in notes.items() if v and not self.not_scored}

    def render(self) -> str:
        lines = [f"!! {w}" for w in self.training_overlap] + [
            f"variant {self.variant}: {self.n_scored} scored, {self.excluded_words()}, {self.n_failed} failed"
            + ("  [argmax restricted to the dataset's classes]" if self.restricted else ""),
        ]
        if self.not_scored:
            return "\n".join(lines + [f"  no metrics: {self.not_scored}"])
        flags = self.interval_flags()
        for name in ("wa", "uar", "macro_f1"):
            lo, hi = self.ci[name]
            flag = flags.get(name, "")
            chance = f"  ({self.chance_words()})" if name == "uar" else (f"  ({m})" if name == "wa" and (m := majority_words(self.support())) else "")
            below = chance_flag(lo, hi, self.chance_uar) if name == "uar" else (self.majority_flag(stated=True) if name == "wa" else "")
            if below:
                chance += f" — {below}"
            lines.append(f"  {FIGURE_NAMES[name]:<8} {getattr(self, name):.3f}  [{lo:.3f}, {hi:.3f}]  n={self.n_scored}{chance}"
                         + (f"  !! {flag}" if flag else ""))
        lines += [f"  intervals: 95 % bootstrap {self.ci_unit['words']}" + (f"; over items instead UAR [{self.ci_items['uar'][0]:.3f}, "
                  f"{self.ci_items['uar'][1]:.3f}], too narrow for clips that share a speaker" if self.ci_items else "")]
        lines += [f"  !! {note}" for note in (self.ci_unit.get("note"), self.small_classes_note()) if note]
        lines.append(f"  ECE      {self.ece:.3f}  [{self.ece_ci[0]:.3f}, {self.ece_ci[1]:.3f}]  n={self.n_scored}" + (f"  ({self.ece_class_sets_words()}; same 15 equal-width bins)" if self.ece_by_class_set else "")
                     + (f"  !! {e}" if (e := ece_note(self.ece, self.ece_ci, self.n_scored)) else ""))
        lines += [f"  !! {few}"] if (few := few_items_note(self.n_scored)) else []  # WA, UAR, F1 and ECE intervals
        lines += class_lines(self.per_class, self.n_scored, self.ci_unit) + [f"  {class_unit_words(self.ci_unit)}"] * bool(self.per_class)
        lines += [f"  !! {never}"] if (never := never_predicted_note(self.per_class)) else []
        for col, groups in self.breakdowns.items():
            lines.append(f"  by {col}: " + capped_join([_group_line(g, d) for g, d in groups.items()], noun="groups", where="metrics.json"))
            lines += [f"    {unit}"] if (unit := unit_line(groups)) else []
            if self.breakdown_left_out.get(col):
                lines.append(f"    {left_out_note(col, self.breakdown_left_out[col])}")
            disp = self.disparities.get(col, {})
            if disp.get("uar"):
                lines.append(f"    {describe_gap(disp['uar'])}")
            lines += recall_gap_lines(disp)  # two groups: each class's signed recall gap, as metrics.json has it
            if disp.get("excluded_why"):
                lines.append("    left out of the gap: " + capped_join([f"{g} ({why})" for g, why in disp["excluded_why"].items()], "; ",
                                                                      noun="groups", where="metrics.json"))
        lines += [f"  by {col}: {no_groups_note(col, n)}" for col, n in self.breakdown_left_out.items() if col not in self.breakdowns]
        return "\n".join(map(printable, lines))  # each line one line: a speaker "a<LF>b" or a label's ESC shown as its escape

    def interval_flags(self) -> dict[str, str]:
        """The headline intervals that measure nothing (zero width) or rest on too few of their resamples (the figure
        undefined in the others: :func:`~workbench.analysis.interval_rule.thin_note`), each with its words; empty when none."""
        flags = {name: "; ".join(filter(None, (zero_width_note(*self.ci[name], self.n_scored), thin_note(self.ci_resamples.get(name)))))
                 for name in ("wa", "uar", "macro_f1")}
        return {name: note for name, note in flags.items() if note}

    def support(self) -> dict[str, int]:
        """Scored items per class (the per-class table's support)."""
        return {c: int(v["support"]) for c, v in self.per_class.items()}

    def majority_flag(self, stated: bool = False) -> str:
        """A WA whose interval does not clear the WA of always answering the largest class, in words, or ``""``
        (``stated``: without the baseline's figure, said beside it)."""
        return majority_flag(*self.ci["wa"], self.support(), stated) if self.ci.get("wa") else ""

    def small_classes_note(self) -> str:
        """Words for the classes with fewer than 5 scored items, or ``""``."""
        return small_class_note(self.support())

    def chance_words(self) -> str:
        """The UAR's chance level in words, or why there is none (a single labelled class)."""
        return chance_words(self.classes)

    def ece_class_sets_words(self) -> str:
        """The ECE over each class set, named; with one labelled class, why there is none over the corpus's classes."""
        text = "; ".join(f"{d['ece']:.3f}" + (f" [{d['ece_ci'][0]:.3f}, {d['ece_ci'][1]:.3f}]" if d.get("ece_ci") else "") + f" over {d['label']}"
                         + (f" (!! {d['note']})" if d.get("note") else "") for d in self.ece_by_class_set.values())
        if len(self.classes) == 1:
            text += (f"; none over the corpus's classes: only {self.classes[0]} is labelled, "
                     "and restricted to one class every prediction is right")
        return text


def evaluate(results, *, variant: str | None = None, restrict: bool = False, bins: int = 15, n_boot: int = 1000,
             seed: int = 0, by: Sequence[str] = ("speaker", "gender")) -> Report:
    """Metrics of one variant of a results table (a DataFrame from ``results.parquet``).

    Parameters
    ----------
    results : DataFrame
        A run's results (``RunFolder(run_dir).results()``): ``variant``, ``status``, ``emotion``, ``pred``,
        ``confidence`` and the score columns.
    variant : str or None
        The variant to score (default: the table's first).
    restrict : bool
        Take the argmax over the dataset's classes only (a nine-class model on a four-class benchmark).
    bins : int
        Equal-width confidence bins of the ECE and the reliability table.
    n_boot : int
        Bootstrap resamples of the 95 % intervals.
    seed : int
        Seed of the bootstrap.
    by : sequence of str
        Manifest columns to break the metrics down by (those the table lacks are skipped here;
        :func:`run_metrics` refuses them).

    Returns
    -------
    Report
        WA, UAR, macro-F1 with intervals in ``ci``, the per-class report, confusion, ECE and its bins,
        and the counts of scored, excluded and failed items.

    Examples
    --------
    >>> run_dir = wb.demo_run("runs/demo", model="tiny")
    >>> report = wb.evaluate(wb.RunFolder(run_dir).results(), n_boot=50)
    >>> report.n_scored > 0, 0.0 <= report.uar <= 1.0, len(report.ci["uar"])
    (True, True, 2)
    """
    df = results
    variant = list(dict.fromkeys(df["variant"]))[0] if variant is None else variant
    df = df[df["variant"] == variant]
    failed = int((df["status"] == "failed").sum())
    ok = select_rows(df)
    has_label = text_values(ok["emotion"]) != ""
    excluded = int((~has_label).sum())
    sc = ok[has_label]
    y_true, y_pred, classes = _scored_labels(ok, restrict)
    if restrict and classes:
        scores = sc[score_columns(classes)].to_numpy(dtype=float)
        conf = scores.max(axis=1) / scores.sum(axis=1)
    else:
        conf = sc["confidence"].to_numpy(dtype=float)
    cols = classes + [c for c in score_labels(df) if c not in classes and c in set(y_pred)]
    e, table = ece(conf, y_true == y_pred, bins=bins) if len(sc) else (float("nan"), [])
    intervals, classes_table = class_report(y_true, y_pred, classes, n=n_boot, seed=seed, clusters=(clusters := (by_speaker := speaker_resampling(sc))[0]))
    by_set = _ece_by_class_set(sc, score_labels(df), classes, y_true, bins, n_boot=n_boot, seed=seed, clusters=clusters) if len(sc) and classes else {}
    ci = dict(zip(("wa", "uar", "macro_f1"), (tuple(b) for b in intervals)))
    classes_table = with_speaker_class_intervals(classes_table, y_true, y_pred, classes, clusters, by_speaker[1], n=n_boot, seed=seed)
    items = {} if clusters is None else dict(zip(ci, class_report(y_true, y_pred, classes, n=n_boot, seed=seed)[0]))
    breakdowns, disparities = _breakdowns(sc, y_true, y_pred, classes, by, n_boot=n_boot, seed=seed)
    left_out = {col: int((text_values(sc[col]) == "").sum()) for col in by if col in sc.columns}  # all: no groups
    return Report(
        variant=variant, n_scored=int(len(sc)), n_excluded_no_counterpart=excluded, n_failed=failed, classes=classes,
        wa=wa(y_true, y_pred), uar=uar(y_true, y_pred, classes), macro_f1=macro_f1(y_true, y_pred, classes), ci=ci,
        per_class=classes_table, confusion=confusion(y_true, y_pred, classes, cols).tolist(),
        confusion_cols=cols, ece=e, reliability=table, restricted=restrict, breakdowns=breakdowns, ece_by_class_set=by_set,
        disparities=disparities,
        breakdown_left_out={col: n for col, n in left_out.items() if n},
        chance_uar=chance_uar(len(classes)), ece_ci=ece_interval(conf, y_true == y_pred, bins=bins, n=n_boot, seed=seed, clusters=clusters),
        ci_unit=by_speaker[1], ci_items={k: tuple(v) for k, v in items.items()},
        ci_resamples={k: c for k, b in zip(ci, intervals) if (c := resamples_kept(b))},
        not_scored=None if len(sc) else not_scored_words(excluded, df.loc[df["status"] == "failed", "error"], unmapped_labels(ok),
                                                         unmapped_labels(ok, blank=True)),
        excluded_labels=unmapped_labels(ok), blank_labels=unmapped_labels(ok, blank=True),
    )


def metrics_file_name(restrict: bool) -> str:
    """``metrics.json``, or ``metrics_restricted.json`` for ``--restrict`` (which never overwrites the unrestricted one)."""
    return "metrics_restricted.json" if restrict else "metrics.json"


def run_metrics(run_dir: "str | Path | RunFolder", *, restrict: bool = False, by: Sequence[str] = ("speaker", "gender"), figures: bool = True, n_boot: int = 1000, seed: int | None = None,
                checkpoint: str | None = None, out: "str | Path | None" = None) -> dict[str, Report]:
    """Metrics for every variant of a run; writes ``metrics.json`` (and figures) into the run folder.

    When the run's corpus is in its checkpoint's training data (see
    :mod:`workbench.data.cards`; ``checkpoint`` as in :func:`run_training_overlap`),
    every report carries the warning first (``training_overlap``).

    Everything goes through :meth:`RunFolder.write_artifact`: strict JSON (NaN → null, with
    ``random_weights: true`` in each variant's entry when the run used random weights) and figure
    names made by :func:`~workbench.runs.folder.artifact_name` (``confusion_raw.png``; a variant such
    as ``tel/8k`` becomes a hash, its name recorded in ``artifacts.json``).  With ``restrict`` the
    files are ``metrics_restricted.json`` and ``*_restricted_*.png``: the unrestricted ones stay.
    Raises :class:`~workbench.runs.folder.RunFolderError` (with the fix) for a folder that holds
    no finished run.

    Parameters
    ----------
    run_dir : str, Path or RunFolder
        A finished run folder.
    restrict : bool
        Take the argmax over the dataset's classes only.
    by : sequence of str
        Manifest columns to break the metrics down by; one the run lacks is refused with those it has.
    figures : bool
        Also write the confusion, reliability and breakdown figures.
    n_boot : int
        Bootstrap resamples of the intervals.
    seed : int, optional
        Seed of the bootstrap (default: the run's, ``experiment.yaml``'s ``seed:``).
    checkpoint : str or None
        The published checkpoint the run's model is, for its training-data card (default: the run's model id).
    out : str, Path or None
        Folder for ``metrics.json`` and the figures (default: the run folder).

    Returns
    -------
    dict of str to Report
        One report per variant, in the run's order.

    Examples
    --------
    >>> run_dir = wb.demo_run("runs/demo", model="tiny")
    >>> reports = wb.run_metrics(run_dir, by=["speaker"], figures=False, n_boot=50)
    >>> list(reports), os.path.isfile(os.path.join(run_dir, "metrics.json"))
    (['raw'], True)
    """
    rf = as_run_folder(run_dir)
    df, seed = rf.results(), rf.seed if seed is None else seed
    check_breakdown_columns(by, df.columns, source=str(run_dir))
    reports = {v: evaluate(df, variant=v, restrict=restrict, by=by, n_boot=n_boot, seed=seed) for v in dict.fromkeys(df["variant"])}
    overlap = run_training_overlap(rf, checkpoint=checkpoint)
    for r in reports.values():
        r.training_overlap = list(overlap)
    payload = {v: r.to_dict() for v, r in reports.items()}
    if rf.random_weights:
        for entry in payload.values():
            entry["random_weights"] = True
    # a dict keyed by variant names: the flag goes into each entry, not beside them (write_json adds it only at the top)
    dest = output_folder(rf, out)
    dest.write_artifact(metrics_file_name(restrict), lambda f: f.write(strict_json(payload)), text=True)
    if figures:
        _write_figures(dest, df, reports, restrict=restrict, n_boot=n_boot, seed=seed)
    return reports


def output_folder(rf: RunFolder, out: "str | Path | None") -> RunFolder:
    """Where a run's derived files go: the run folder itself, or the folder ``out`` (created; written through
    :class:`RunFolder` all the same: atomic, no link followed, names never made from data)."""
    if out is None:
        return rf
    Path(out).mkdir(parents=True, exist_ok=True)
    dest = RunFolder(out)
    dest.random_weights_source = rf.random_weights  # its figures carry the run's random-weights mark
    dest.training_overlap_source = run_training_overlap(rf)  # and its training-data mark
    return dest


def _write_figures(dest: RunFolder, df, reports: dict, *, restrict: bool, n_boot: int, seed: int) -> None:
    """The confusion, reliability and breakdown figures of each scored variant."""
    tag = ("restricted",) if restrict else ()
    for v, r in reports.items():
        if r.n_scored:
            meta = {"variant": v, "restricted": restrict}
            dest.write_figure(artifact_name("confusion", *tag, v, ext="png"), plot_confusion(r), meta=meta)
            dest.write_figure(artifact_name("reliability", *tag, v, ext="png"), plot_reliability(r), meta=meta)
            for col in r.breakdowns:
                fig = plot_breakdown(df, col, variant=v, restrict=restrict, n_boot=n_boot, seed=seed, overall=r, table=breakdown_frame(r.breakdowns[col]))
                dest.write_figure(artifact_name("breakdown", *tag, col, v, ext="png"), fig, meta={**meta, "by": col})


def plot_confusion(report: Report, path: str | Path | None = None, *, normalize: bool = True, ax=None):
    """Confusion matrix: each cell shows its count and its share of the true class (row %).

    Colour is the row share (with ``normalize``) or the count, with a colour bar.
    ``ax``: matplotlib axes to draw on, or None for a new figure.  Returns the figure.
    """
    m = np.asarray(report.confusion, dtype=float)
    n_rows, n_cols = max(len(report.classes), 1), max(len(report.confusion_cols), 1)
    own = ax is None
    fig, ax = _axes(ax, (2.2 + 1.05 * n_cols, 1.6 + 0.8 * n_rows))
    share = m / np.maximum(m.sum(axis=1, keepdims=True), 1)
    shown = share if normalize else m
    vmax = 1.0 if normalize else max(float(m.max()), 1.0)
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=vmax, aspect="auto")
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    bar.set_label("share of the true class (row %)" if normalize else "items", fontsize=10)
    if normalize:
        bar.ax.yaxis.set_major_formatter(lambda v, _: f"{v * 100:.0f}%")
    ax.set_xticks(range(len(report.confusion_cols)), [figure_text(c) for c in report.confusion_cols], rotation=30, ha="right", fontsize=10)
    ax.set_yticks(range(len(report.classes)), [f"{figure_text(c)} (n={int(m[i].sum())})" for i, c in enumerate(report.classes)], fontsize=10)
    fontsize = 11 if max(n_rows, n_cols) <= 6 else 9
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{int(m[i, j])}\n{share[i, j] * 100:.0f}%", ha="center", va="center", fontsize=fontsize,
                    color="white" if shown[i, j] > 0.55 * vmax else "black")
    ax.set_xlabel("predicted", fontsize=10)
    ax.set_ylabel("true", fontsize=10)
    ci = {m: f"{getattr(report, m):.3f} [{report.ci[m][0]:.3f}, {report.ci[m][1]:.3f}]" for m in ("uar", "wa")}
    title = flagged_title(f"{figure_text(report.variant)}: UAR {ci['uar']}, WA {ci['wa']}, n={report.n_scored} (count / row %)", {k: v for k, v in report.flags().items() if k not in ("ece", "training_overlap")}, width_in=fig.get_size_inches()[0] - 1.0)
    ax.set_title(title, fontsize=11, color="crimson" if "!!" in title else "black")  # the variant name made plain above
    if own:  # y labels "class (n=…)", x labels rotated 30°, a colour bar with its label on the right
        ylab = max((len(f"{c} (n={int(m[i].sum())})") for i, c in enumerate(report.classes)), default=4)
        xlab = max((len(c) for c in report.confusion_cols), default=4)
        _fixed_margins(fig, left_in=ylab * 10 * _CHAR_IN + 0.45, right_in=0.85, bottom_in=0.5 * xlab * 10 * _CHAR_IN + 0.55, top_in=0.2 + 0.2 * (title.count("\n") + 1))
    return save_figure(fig, path, layout=not own)


def plot_reliability(report: Report, path: str | Path | None = None, *, ax=None):
    """Reliability diagram: one bar per confidence bin (its accuracy), labelled with its item count; the diagonal is
    perfect calibration, a dot each bin's mean confidence; empty bins are left out, and a bin of fewer than
    :data:`SMALL_BIN` items is a hollow bar (the calibration figure's rule).  ``ax``: axes or None.  Returns the figure."""
    own = ax is None
    fig, ax = _axes(ax, (5, 4.5))
    rows = [b for b in report.reliability if b["n"]]
    width = (rows[0]["hi"] - rows[0]["lo"]) if rows else 1 / 15
    ax.set_xlim(0, 1)
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="perfect calibration")
    if rows:
        centres = [(b["lo"] + b["hi"]) / 2 for b in rows]
        acc = [b["accuracy"] for b in rows]
        ax.bar(centres, acc, width=width * 0.92, color=[(0, 0, 0, 0) if b["n"] < SMALL_BIN else (0.27, 0.47, 0.67, 0.85) for b in rows], edgecolor="k",
               lw=0.6, label="accuracy of the bin" + (f" (hollow: fewer than {SMALL_BIN} items)" if any(b["n"] < SMALL_BIN for b in rows) else ""))
        ax.plot([b["confidence"] for b in rows], acc, "o", color="#cc3311", ms=4, label="mean confidence of the bin")
        labels = [f"n={b['n']}" for b in rows]
        rotation = 90 if _labels_too_wide(ax, labels, width, fontsize=8) else 0  # side by side they would run into each other
        for x, a, text in zip(centres, acc, labels):
            ax.text(x, a + 0.025, text, ha="center", va="bottom", fontsize=8, rotation=rotation)
    else:
        ax.text(0.5, 0.5, "no scored items", ha="center", va="center")
    ax.set_xlim(-0.03, 1.03)  # a mean-confidence dot on 0 or 1 is drawn whole
    ax.set_ylim(-0.03, 1.4)  # the counts over bars at 1.0 stay below the legend
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_xlabel("confidence", fontsize=10)
    ax.set_ylabel("accuracy", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    title = flagged_title(f"{figure_text(report.variant)}: ECE {report.ece:.3f} [{report.ece_ci[0]:.3f}, {report.ece_ci[1]:.3f}] over {sum(b['n'] for b in rows)} items",
                          {k: v for k, v in report.flags().items() if k in ("ece", "few_items")}, width_in=fig.get_size_inches()[0] - 0.3)
    ax.set_title(title, fontsize=11, color="crimson" if "!!" in title else "black")  # the ECE line's flags, as on screen
    if own:  # fixed tick labels: "0.0"–"1.0" and the two axis labels
        _fixed_margins(fig, left_in=0.7, right_in=0.15, bottom_in=0.55, top_in=0.15 + 0.2 * (title.count("\n") + 1))
    return save_figure(fig, path, layout=not own)


def plot_breakdown(results, by: str = "speaker", *, metric: str = "uar", variant: str | None = None, restrict: bool = False,
                   n_boot: int = 1000, seed: int = 0, path: str | Path | None = None, ax=None, overall: Report | None = None, most: int = 40,
                   table=None):
    """One metric per group of column ``by`` with its 95 % bootstrap interval, beside the whole set's value: the
    ``most`` largest groups where there are more (said under it).  ``results`` is a results table; ``metric`` one
    of ``wa``, ``uar``, ``macro_f1``.  ``ax``: axes or None.  ``overall``: the variant's :class:`Report` when the caller has
    it (same ``restrict``, ``n_boot`` and ``seed``), so it is not computed again; ``table``: its breakdown by ``by`` for the same
    reason (:func:`breakdown_frame` of ``overall.breakdowns[by]``; the UAR and WA only).  Returns the figure."""
    if metric not in ("wa", "uar", "macro_f1"):
        raise ConfigError(f"unknown metric {metric!r}.", fix="use wa, uar or macro_f1.")
    if table is None or metric not in table:
        table = breakdown_table(results, by, variant=variant, restrict=restrict, n_boot=n_boot, seed=seed)
    variant = variant or list(dict.fromkeys(results["variant"]))[0]
    if overall is None:
        overall = evaluate(results, variant=variant, restrict=restrict, n_boot=n_boot, seed=seed, by=())
    elif overall.variant != variant or overall.restricted != restrict:
        raise ConfigError(f"the report given is of variant {overall.variant!r} (restrict={overall.restricted}), "
                          f"the breakdown of {variant!r} (restrict={restrict}).", source="plot_breakdown(overall=...)",
                          fix="pass the Report of the same variant and restrict setting, or leave overall out.")
    own = ax is None
    left_out, groups = overall.n_scored - int(table["n"].sum()), len(table)  # items with no value in `by`: in "all items", in no group
    table = table.nlargest(most, "n", keep="first").sort_index() if groups > most else table  # a row is 0.42 in: 20,000 speakers, 8,400 in
    footnote = breakdown_footnote(table, metric) + ([f"{left_out} items without a {by} are not in this breakdown (they are in all items)."] if left_out > 0 else [])
    footnote += [f"The {most} largest of the {groups:,} groups drawn; metrics.json has them all."] if groups > most else []
    footnote += [unit[0].upper() + unit[1:] + "."] if "ci_unit" in table and (unit := unit_line(  # what each interval resampled
        {g: {"ci_unit": u, "too_small": s} for g, u, s in zip(table["group"], table["ci_unit"], table["too_small"])})) else []
    fig, ax = _axes(ax, (6.5, 1.85 + 0.42 * max(len(table), 1) + FOOT_LINE_IN * len(footnote)))
    y = np.arange(len(table))
    v = table[metric].to_numpy(float)
    err = np.vstack([v - table[f"{metric}_lo"].to_numpy(float), table[f"{metric}_hi"].to_numpy(float) - v])
    small = table["too_small"].to_numpy(bool)
    shown = ~small  # a group too small to say anything is named, never drawn as a number
    ax.errorbar(v[shown], y[shown], xerr=np.clip(err[:, shown], 0, None), fmt="o", color="#4477aa", ecolor="#4477aa", capsize=3,
                label=f"{metric.upper()} with 95% interval")
    lo, hi = overall.ci[metric]
    ax.axvspan(lo, hi, color="grey", alpha=0.15, label=f"all items (n={overall.n_scored}): {getattr(overall, metric):.3f} [{lo:.3f}, {hi:.3f}]")
    ax.axvline(getattr(overall, metric), color="grey", lw=1)
    # every row inside the frame (a too-small group at an end is text only, which autoscaling ignores), top to bottom
    ax.set_ylim(len(table) - 0.5, -0.5)
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel(metric.upper().replace("MACRO_F1", "macro-F1"), fontsize=10)
    ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False)  # above the rows: inside it covered some
    shown = {k: v for k, v in overall.flags().items() if k in (metric, "few_items") or (metric == "uar" and k in ("uar_chance", "small_classes")) or (metric == "wa" and k == "wa_majority")}
    ax.set_title(title := flagged_title(f"{figure_text(variant)}: {metric.upper().replace('MACRO_F1', 'macro-F1')} by {figure_text(by)}", shown, width_in=5.8),
                 fontsize=11, pad=34, color="crimson" if shown else "black")  # the all-items figure's flags, as metrics prints them
    if footnote:  # the "*" of a label is said under the axes, so the figure explains itself when shown alone
        ax.annotate("\n".join(figure_text(line) for line in footnote), xy=(0.02, 0), xycoords=("figure fraction", "axes fraction"), xytext=(0, -30),
                    textcoords="offset points", va="top", ha="left", fontsize=7, color="#555555")
    if own:  # y labels "group (n=…)" at 9 pt
        ylab = max((len(f"{g} (n={n}) *") for g, n in zip(table["group"], table["n"])), default=4)
        _fixed_margins(fig, left_in=ylab * 9 * _CHAR_IN + 0.25, right_in=0.2, bottom_in=0.55 + FOOT_LINE_IN * len(footnote),
                       top_in=0.8 + 0.2 * title.count("\n"))
    else:  # a caller's axes: laid out first, so the labels are sized to the height the rows really get
        fig.tight_layout()
    # 9 pt where the rows leave room; on a small axes smaller, and below 6 pt every step-th group only (never overlapping)
    size, step = group_label_layout(len(table), ax.get_position().height * fig.get_size_inches()[1])
    ax.set_yticks(y, [figure_text(f"{g} (n={n})" + (" *" if note else "")) if i % step == 0 else ""
                      for i, (g, n, note) in enumerate(zip(table["group"], table["n"], table["note"]))], fontsize=size)
    for row in np.flatnonzero(small):  # said on the rows that carry a label
        if row % step == 0:
            ax.text(0.02, y[row], "too few items to say", va="center", fontsize=min(8, size), color="#994455")
    if step > 1:
        ax.set_xlabel(f"{ax.get_xlabel()} (one in {step} of the {len(table)} groups labelled; metrics.json has them all)", fontsize=10)
    return save_figure(fig, path, layout=not own)
