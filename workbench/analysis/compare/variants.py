"""Compare the preprocessing variants of one run with a baseline variant, item by item.

Per-variant metrics with intervals, paired bootstrap Δ WA/UAR, the exact McNemar test, the flips and the
confidence shifts (see :mod:`workbench.analysis.compare` for the definitions).
"""

from __future__ import annotations

import textwrap

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from workbench.errors import ConfigError, html_text
from workbench.analysis.groups import zero_width_note
from workbench.analysis.metrics import evaluate, output_folder, run_training_overlap
from workbench.analysis.interval_rule import resamples_kept, thin_note
from workbench.analysis.stats import clustered_mcnemar, counted, mcnemar_exact, speaker_resampling, mean_t_interval, p_value_text, p_words, paired_bootstrap_delta, uar, wa
from workbench.files import strict_json
from workbench.serialize import signed_bound
from workbench.runs.folder import RunFolder, as_run_folder, atomic_write, select_rows
from workbench.schema import score_column, score_columns, score_labels, text_values
from workbench.serialize import spreadsheet_safe
from workbench.serialize import figure_text, save_figure

_DELTA_NAMES = {"delta_wa": "ΔWA", "delta_uar": "ΔUAR"}
_FLAG_NAMES = {"wa": "WA", "uar": "UAR", "macro_f1": "macro-F1", "wa_majority": "WA", "uar_chance": "UAR", "small_classes": "classes", "few_items": "intervals", "never_predicted": "precision", "class_f1": "per-class F1", "class_shares": "per-class precision and recall", "ece": "ECE",
              "confidence_shift": "confidence shift", "delta_intervals": "Δ intervals", "left_out": "paired items", **_DELTA_NAMES}


#: why a pair of runs has no ΔWA, ΔUAR or McNemar (the screen's line and the page's check column)
NO_PAIRED_WORDS = "no item is labelled in both with a class the models score"


#: the check column's words for a run scored on its checkpoint's training data (its ΔWA read "ok" under the warning)
OVERLAP_CAVEAT = "not independent of the checkpoint's training data (the warning above)"


def _merged(flags: dict) -> list[str]:
    """``flags`` as "NAME: note", the names of one and the same note joined ("ΔWA, ΔUAR: zero-width interval [0.000,
    0.000] …"): the demo's variant table said that sentence twice in one cell (walk18)."""
    names: dict[str, list[str]] = {}
    for k, note in flags.items():
        names.setdefault(note, []).append(_FLAG_NAMES.get(k, k))
    return [f"{', '.join(n)}: {note}" for note, n in names.items()]


def flags_words(flags: dict, *extra: str) -> str:
    """``flags`` for a table's check column, by the names the screen gives them ("ΔWA: zero-width interval …", never
    the keys ``delta_wa``, ``uar_chance``, ``never_predicted``), then ``extra`` caveats; "ok" when there is none."""
    return "; ".join([*_merged(flags), *filter(None, extra)]) or "ok"


def metric_flags(report) -> dict:
    """What the output of a comparison says beside a run's or variant's metrics, as ``workbench metrics`` flags them:
    its zero-width intervals, a UAR that does not clear chance and small classes (:meth:`Report.flags`)."""
    return report.flags()


def metrics_text(report) -> str:
    """WA, UAR and macro-F1 with their intervals, or why nothing was scored (an unlabelled run: never ``WA nan [nan, nan]``)."""
    if report.not_scored:
        return f"no metrics: {report.not_scored}"
    return "  ".join(f"{label} {getattr(report, k):.3f} [{report.ci[k][0]:.3f}, {report.ci[k][1]:.3f}]"
                     for k, label in (("wa", "WA"), ("uar", "UAR"), ("macro_f1", "macro-F1")))


def flags_text(flags: dict) -> str:
    """``flags`` (:func:`metric_flags`, :meth:`Comparison.interval_flags`) as ``!!`` lines under a figure, or ``""``."""
    return "".join(f"\n  !! {line}" for line in _merged(flags))


@dataclass
class Comparison:
    baseline: str
    variant: str
    n_paired: int
    delta_wa: tuple[float, float, float]
    delta_uar: tuple[float, float, float]
    mcnemar_b: int  # right under the baseline only
    mcnemar_c: int  # right under the variant only
    mcnemar_p: float
    n_flips: int
    confidence_shift_mean: float
    confidence_shift_median: float
    scope: str = ""  # between runs: the variant whose rows are paired (baseline/variant then name runs)
    # items without a corpus label are in neither n_paired nor n_flips (those count the same items); their flips apart
    n_unlabelled: int = 0
    n_flips_unlabelled: int = 0
    restricted: bool = False  # every label above is the argmax over the corpus's classes
    # the mean shift's 95 % interval over the n_shift paired items it averages (labelled or not): speakers resampled
    # where every item's speaker is known (the Δ intervals' rule), else the Student-t interval over items
    confidence_shift_ci: tuple[float, float] = (float("nan"), float("nan"))
    n_shift: int = 0
    #: what that interval is over, in words: "t interval over items" or "bootstrap resampling the N speakers, t-corrected"
    confidence_shift_unit: str = "t interval over items"
    # each class of the variant's truth that is one class of the baseline's under another name, on the same items
    # (a fine-tuned head's anger is its parent's angry): {class: the baseline's class}
    class_pairs: dict = field(default_factory=dict)
    # between runs whose models share no class (:func:`~workbench.analysis.compare.classes.label_sets_note`): why no
    # label flip is counted (every item would be one, by the names alone)
    label_sets_note: str = ""
    #: what the Δ intervals resampled (:func:`~workbench.analysis.stats.speaker_resampling`): speakers when the items have
    #: them, else items; McNemar's exact test counts items as independent either way (said with speakers)
    interval_unit: dict = field(default_factory=lambda: speaker_resampling(None)[1])
    #: with speakers to resample (the unit above), McNemar's test over them (:func:`~workbench.analysis.stats.clustered_mcnemar`):
    #: its p is the one to read, the exact one over clips (``mcnemar_p``) beside it; None without speakers
    mcnemar_clustered: dict | None = None
    #: between variants: items finished under only one of the two (failed under the other), in no figure of the pair, while
    #: each variant's own WA counts its own finished items, so ΔWA need not be the difference of the two WAs printed above
    left_out: dict = field(default_factory=dict)  # {variant whose row failed: count}
    #: ``{"delta_wa" | "delta_uar": {"kept": k, "drawn": n}}``: the resamples each Δ interval rests on (the Δ undefined, NaN, in the
    #: others and left out); under 90 % flagged (:func:`~workbench.analysis.interval_rule.thin_note`)
    delta_resamples: dict = field(default_factory=dict)

    @property
    def p_value(self) -> float:
        """The McNemar p to read: the clustered test's with speakers, else the exact one over items."""
        return self.mcnemar_clustered["p"] if self.mcnemar_clustered else self.mcnemar_p

    def p_cell(self) -> str:
        """The p of a table's cell (the report's, compare's page): the clustered test's named, with the exact one beside it."""
        if not self.mcnemar_clustered:
            return p_value_text(self.mcnemar_p)
        return (f"{p_value_text(self.p_value)} (clustered McNemar over {self.mcnemar_clustered['clusters']} speakers; "
                f"exact over clips {p_value_text(self.mcnemar_p)})")

    def mcnemar_words(self) -> str:
        """``McNemar b=3 c=9 p = 0.15`` over items, or with speakers the clustered test named, the exact one beside it."""
        head = f"McNemar b={self.mcnemar_b} c={self.mcnemar_c}"
        if not self.mcnemar_clustered:
            return f"{head} {p_words(self.mcnemar_p)}"
        return (f"{head} {p_words(self.p_value)} ({self.mcnemar_clustered['test']}, over the {self.mcnemar_clustered['clusters']} "
                f"speakers; the exact test over clips as if independent: {p_words(self.mcnemar_p)})")

    def to_dict(self) -> dict:
        return {**self.__dict__, "interval_flags": self.interval_flags()}

    def interval_flags(self) -> dict[str, str]:
        """The paired Δ intervals that measure nothing (zero width) or rest on too few of their resamples, each with its
        words; empty when none."""
        flags = {name: "; ".join(filter(None, (zero_width_note(d[1], d[2], self.n_paired), thin_note(self.delta_resamples.get(name)))))
                 for name, d in (("delta_wa", self.delta_wa), ("delta_uar", self.delta_uar))}
        lo, hi = self.confidence_shift_ci
        if lo == lo and hi == lo:  # no width: every item (or every resample of the speakers) shifts by the same amount
            flags["confidence_shift"] = (f"zero-width interval [{lo:+.3f}, {hi:+.3f}]: all {self.n_shift} paired items shift by the "
                                         f"same amount ({self.confidence_shift_unit}), so it shows no uncertainty (not a measured certainty)")
        if self.mcnemar_clustered and self.mcnemar_clustered.get("note"):  # one speaker holding every change: X² = 1 always
            flags["mcnemar"] = self.mcnemar_clustered["note"]
        if self.interval_unit["note"] and self.n_paired:  # too few speakers to resample: a caveat on its own line too
            flags["delta_intervals"] = self.interval_unit["note"]
        if self.left_out:
            flags["left_out"] = (f"{counted(sum(self.left_out.values()), 'item')} finished under only one of the two ("
                                 + ", ".join(f"{n} failed under {v}" for v, n in self.left_out.items())
                                 + ") left out of the pair: ΔWA, ΔUAR and McNemar count the items both scored, each variant's "
                                 "WA its own, so ΔWA need not equal the difference of those two")
        return {name: note for name, note in flags.items() if note}

    def render(self) -> str:
        d_wa, d_uar = self.delta_wa, self.delta_uar
        scope = f" [{self.scope}]" if self.scope else ""
        return (
            f"{self.variant} vs {self.baseline}{scope} ({counted(self.n_paired, 'paired item')}"
            + (", argmax restricted to the corpus's classes" if self.restricted else "") + "): "
            + (f"ΔWA {d_wa[0]:+.3f} [{d_wa[1]:+.3f}, {d_wa[2]:+.3f}], ΔUAR {d_uar[0]:+.3f} [{d_uar[1]:+.3f}, {d_uar[2]:+.3f}] "
               f"(paired bootstrap resampling {self.interval_unit['short']}), {self.mcnemar_words()}, "
               + ("label flips n/a (disjoint label sets)" if self.label_sets_note else f"{counted(self.n_flips, 'label flip')} among them")
               if self.n_paired else
               f"no ΔWA, ΔUAR or McNemar ({NO_PAIRED_WORDS})")
            + ((f" ({counted(self.n_unlabelled, 'item')} not labelled with a class of both runs: not paired for accuracy, label "
                "flips n/a)" if self.label_sets_note else  # their corpus labels are there: "51 unlabelled items" read as none
                f" (+{self.n_flips_unlabelled} among {counted(self.n_unlabelled, 'unlabelled item')}, not paired for accuracy)")
               if self.n_unlabelled else "")
            + f", confidence shift mean {self.confidence_shift_mean:+.3f} "
            + (f"[{signed_bound(self.confidence_shift_ci[0])}, {signed_bound(self.confidence_shift_ci[1])}] (95 % {self.confidence_shift_unit}, n={self.n_shift})"
               if self.n_shift >= 2 else f"(no interval from n={self.n_shift})")
            + flags_text(self.interval_flags())
        )


def mcnemar_family(comparisons, of: str = "variant") -> dict:
    """How to read several comparisons' McNemar p-values: one test per pair (each variant, or each run and variant, against
    the baseline), so a family of them, Bonferroni's bound named as the per-class table names it.  ``{}`` for fewer than
    two tests; else ``tests``, ``bound`` (0.05 / tests), ``below_005_only`` (the pairs whose p is under 0.05 but not under
    the bound) and ``note``."""
    tested = [c for c in comparisons if c.n_paired]
    if len(tested) < 2:
        return {}
    k, bound = len(tested), 0.05 / len(tested)
    loose = [f"{c.variant}{f' [{c.scope}]' if c.scope else ''}" for c in tested if bound <= c.p_value < 0.05]
    note = (f"{k} McNemar tests here (one per {of} against {tested[0].baseline}): by chance alone about {0.05 * k:.2g} of them "
            f"fall under 0.05 (Bonferroni: read each p against {bound:.2g})"
            + (f"; under 0.05 but not under {bound:.2g}: {', '.join(loose)}" if loose else ""))
    return {"tests": k, "bound": bound, "below_005_only": loose, "note": note}


def family_line(family: dict) -> str:
    """:func:`mcnemar_family`'s note as a screen line under the comparisons, ``!!`` where a p passes 0.05 only; ``""`` for none."""
    return f"  {'!! ' if family['below_005_only'] else ''}{family['note']}" if family else ""


def family_html(family: dict) -> str:
    """:func:`mcnemar_family`'s note as a paragraph under a page's table (bold where a p passes 0.05 only), escaped."""
    if not family:
        return ""
    note = html_text(family["note"]) + "."
    return f"<p><b>!! {note}</b></p>" if family["below_005_only"] else f"<p>{note}</p>"


def shown_truth(emotion_a, emotion_b) -> list[str]:
    """Each paired item's true label as the item tables show it: the first run's, else the second's ("" for neither).
    A corpus of a head's own labels (calm, irate …) has none for its parent's run, whose truth column stays blank: its
    items showed "—" under "true label" beside the head's run that scores them."""
    import pandas as pd

    a, b = (text_values(pd.Series(list(column), dtype=object)) for column in (emotion_a, emotion_b))
    return [x or y for x, y in zip(a, b)]


def _top(rows, classes: list[str], restrict: bool) -> tuple[np.ndarray, np.ndarray]:
    """Top labels of ``rows`` and their confidences; with ``restrict`` the argmax over ``classes`` only and its share
    of their scores (as metrics does)."""
    if restrict and classes and len(rows):
        scores = rows[score_columns(classes)].to_numpy(dtype=float)
        return np.asarray(classes)[np.argmax(scores, axis=1)], scores.max(axis=1) / scores.sum(axis=1)
    return rows["pred"].astype(str).to_numpy(), rows["confidence"].astype(float).to_numpy()


def paired_top(a, b, *, restrict: bool) -> dict:
    """The labels every figure of a pair is counted on: both tables' top labels and confidences, row by row.

    ``a``, ``b``: finished rows indexed by item id (same order).  With ``restrict`` each side's argmax is taken over
    its corpus classes (its classes that label an item labelled on both sides), so that accuracy, McNemar, flips,
    kappa and agreement all count the same labels.  Returns ``truth_a``, ``truth_b``, ``labelled`` (bool array),
    ``classes_a``, ``classes_b``, ``pred_a``, ``pred_b``, ``conf_a``, ``conf_b`` (over every row).
    """
    b = b if b.index.equals(a.index) else b.loc[a.index]
    truth_a = text_values(a["emotion"]).to_numpy()
    truth_b = text_values(b["emotion"]).to_numpy()
    labelled = (truth_a != "") & (truth_b != "")
    classes_a = [c for c in score_labels(a) if c in set(truth_a[labelled])]
    classes_b = [c for c in score_labels(b) if c in set(truth_b[labelled])]
    pred_a, conf_a = _top(a, classes_a, restrict)
    pred_b, conf_b = _top(b, classes_b, restrict)
    return {"truth_a": truth_a, "truth_b": truth_b, "labelled": labelled, "classes_a": classes_a, "classes_b": classes_b,
            "pred_a": pred_a, "pred_b": pred_b, "conf_a": conf_a, "conf_b": conf_b}


def _scores_over_union(a, b, rename: dict[str, str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Score matrices of two runs over the union of their label sets (a class one model lacks scores 0),
    so that score distances stay total variation distances when a fine-tuned head is set beside its parent.
    ``rename`` (:func:`corresponding_classes`): ``b``'s classes that are ``a``'s under another name (a head's ``anger``,
    its parent's ``angry``) share ``a``'s column, so that the same opinion is no distance."""
    rename = rename or {}
    cols_b = {rename.get(c, c): c for c in score_labels(b)}
    union = list(dict.fromkeys(score_labels(a) + list(cols_b)))

    def matrix(rows, cols):
        return np.column_stack([rows[score_column(cols[c])].to_numpy(dtype=float) if c in cols else np.zeros(len(rows)) for c in union])

    return matrix(a, {c: c for c in score_labels(a)}), matrix(b, cols_b)


def _shift_interval(shift: np.ndarray, clusters, unit: dict, *, n_boot: int, seed: int) -> tuple[tuple[float, float], int, str]:
    """The mean confidence shift's 95 % interval, its n and its unit in words: with every item's speaker known
    (``clusters``), the speakers resampled and the t-corrected percentile rule every speaker interval follows
    (:func:`~workbench.analysis.interval_rule.speaker_interval_bounds`, through :func:`paired_bootstrap_delta`); else
    the Student-t interval over items (a t interval over clips of a few voices was far too narrow)."""
    if clusters is None or len(shift) < 2:
        _, lo, hi, n = mean_t_interval(shift)
        return (lo, hi), n, "t interval over items"
    shift = np.asarray(shift, dtype=float)
    d = paired_bootstrap_delta(lambda _t, s: float(np.mean(s)), shift, np.zeros_like(shift), shift, n=n_boot, seed=seed, clusters=clusters)
    return (d[1], d[2]), len(shift), f"interval resampling the {unit.get('short') or str(unit['clusters']) + ' speakers'}, t-corrected percentile"  # a clip without a speaker is no speaker


def _paired_deltas_two_truths(a: tuple, b: tuple, *, n_boot: int, seed: int, clusters=None):
    """Δ WA and Δ UAR (b − a) when the two runs have different label sets, each scored against its own truth.

    ``a``, ``b``: ``(truth, predictions, classes)`` over the same items.  The bootstrap resamples items
    jointly (:func:`paired_bootstrap_delta` over item indices; the "prediction" it passes says which run).
    """
    index = np.arange(len(a[0]))

    def of(metric):
        def fn(i, which):
            if not len(i):
                return float("nan")
            truth, pred, classes = b if which[0] == 1 else a
            return metric(truth[i], pred[i], classes)
        return fn

    which_a, which_b = np.zeros(len(index), dtype=int), np.ones(len(index), dtype=int)
    delta_wa = paired_bootstrap_delta(of(lambda t, p, c: wa(t, p)), index, which_a, which_b, n=n_boot, seed=seed, clusters=clusters)
    delta_uar = paired_bootstrap_delta(of(uar), index, which_a, which_b, n=n_boot, seed=seed, clusters=clusters)
    return delta_wa, delta_uar


def corresponding_classes(truth_a: np.ndarray, truth_b: np.ndarray) -> dict[str, str]:
    """``{class of truth_b: class of truth_a}`` for each class of ``truth_b`` whose items are exactly the items of one
    class of ``truth_a`` by another name (EmoDB's ``anger`` in a head's run, ``angry`` in its parent's); rows aligned."""
    out: dict[str, str] = {}
    for cb in dict.fromkeys(truth_b[truth_b != ""].tolist()):
        on_b = truth_b == cb
        found = set(truth_a[on_b].tolist())
        ca = found.pop() if len(found) == 1 else ""
        if ca and ca != cb and np.array_equal(truth_a == ca, on_b):
            out[str(cb)] = str(ca)
    return out


def _compare_pair(a, b, *, baseline: str, variant: str, scope: str = "", n_boot: int, seed: int, restrict: bool):
    """Paired statistics of two tables of finished rows indexed by item id (same order).

    Returns ``(Comparison, flip rows)``; a flip row has ``pred_a``/``pred_b`` … keys.
    """
    # each run is scored against its own truth: a fine-tuned head's labels (EmoDB's boredom …) are not the
    # parent's nine, and an item counts when it has a class in both label sets; accuracy, McNemar and the flips
    # all count the same (with ``restrict``, restricted) labels
    b = b if b.index.equals(a.index) else b.loc[a.index]
    top = paired_top(a, b, restrict=restrict)
    labelled = top["labelled"]
    y, y_b = top["truth_a"][labelled], top["truth_b"][labelled]
    classes, classes_b = top["classes_a"], top["classes_b"]
    pa, pb = top["pred_a"][labelled], top["pred_b"][labelled]
    right_a, right_b = pa == y, pb == y_b
    clusters, unit = speaker_resampling(a[labelled])  # clips of a speaker move together: the Δ intervals resample speakers
    if (y == y_b).all() and classes == classes_b:
        delta_wa = paired_bootstrap_delta(wa, y, pa, pb, n=n_boot, seed=seed, clusters=clusters)
        delta_uar = paired_bootstrap_delta(lambda t, p: uar(t, p, classes), y, pa, pb, n=n_boot, seed=seed, clusters=clusters)
    else:
        delta_wa, delta_uar = _paired_deltas_two_truths((y, pa, classes), (y_b, pb, classes_b), n_boot=n_boot, seed=seed, clusters=clusters)
    nb, nc = int(np.sum(right_a & ~right_b)), int(np.sum(~right_a & right_b))
    shift = top["conf_b"] - top["conf_a"]
    (shift_lo, shift_hi), n_shift, shift_unit = _shift_interval(shift, *speaker_resampling(a), n_boot=n_boot, seed=seed)
    # a head's anger is its parent's angry: the same class under B's name is no flip, and each run is right or wrong
    # against its own truth (B's anger against B's anger, not against A's angry)
    pairs = corresponding_classes(top["truth_a"], top["truth_b"])
    flipped = top["pred_a"] != np.array([pairs.get(p, p) for p in top["pred_b"]], dtype=object)
    is_labelled = labelled
    flip_rows = []
    for k in np.flatnonzero(flipped):
        item_id = a.index[k]
        ra, rb = a.iloc[k], b.iloc[k]
        emo, emo_b = (top["truth_a"][k], top["truth_b"][k]) if labelled[k] else ("", "")
        pred_a, pred_b = top["pred_a"][k], top["pred_b"][k]
        flip_rows.append({
            "id": item_id, "emotion": shown_truth([ra["emotion"]], [rb["emotion"]])[0],
            "pred_a": pred_a, "confidence_a": float(top["conf_a"][k]),
            "pred_b": pred_b, "confidence_b": float(top["conf_b"][k]),
            "fixed": bool(pred_b == emo_b and pred_a != emo) if emo else None,
            "broke": bool(pred_a == emo and pred_b != emo_b) if emo else None,
            "findings_a": ra.get("finding_codes", ""), "findings_b": rb.get("finding_codes", ""), "path": ra.get("path", ""),
        })
    comparison = Comparison(
        baseline=baseline, variant=variant, n_paired=int(len(y)),
        delta_wa=delta_wa, delta_uar=delta_uar,
        mcnemar_b=nb, mcnemar_c=nc, mcnemar_p=mcnemar_exact(nb, nc), n_flips=int((flipped & is_labelled).sum()),
        confidence_shift_mean=float(np.mean(shift)) if len(shift) else float("nan"),
        confidence_shift_median=float(np.median(shift)) if len(shift) else float("nan"),
        confidence_shift_ci=(shift_lo, shift_hi), n_shift=n_shift, confidence_shift_unit=shift_unit, scope=scope, n_unlabelled=int((~is_labelled).sum()), n_flips_unlabelled=int((flipped & ~is_labelled).sum()),
        restricted=restrict, class_pairs=pairs, interval_unit=unit,
        delta_resamples={k: c for k, d in (("delta_wa", delta_wa), ("delta_uar", delta_uar)) if (c := resamples_kept(d))},
        mcnemar_clustered=clustered_mcnemar(right_a, right_b, clusters) if clusters is not None and len(y) else None,
    )
    return comparison, flip_rows


def compare_results(results, *, baseline: str = "raw", n_boot: int = 1000, seed: int = 0, restrict: bool = False):
    """Compare every variant of a results DataFrame with ``baseline``.

    Returns ``(reports, comparisons, flips)``: per-variant metric reports, a
    :class:`Comparison` per non-baseline variant, and a flips DataFrame.
    """
    import pandas as pd

    variants = list(dict.fromkeys(results["variant"]))
    if baseline not in variants:
        raise ConfigError(f"baseline variant {baseline!r} is not in the run; it has {variants}.", fix="pass --baseline with one of them.")
    reports = {v: evaluate(results, variant=v, n_boot=n_boot, seed=seed, restrict=restrict) for v in variants}
    ok = select_rows(results)
    base = ok[ok["variant"] == baseline].set_index("id")
    comparisons, flip_rows = [], []
    for v in variants:
        if v == baseline:
            continue
        other = ok[ok["variant"] == v].set_index("id")
        common = base.index.intersection(other.index)
        c, rows = _compare_pair(base.loc[common], other.loc[common], baseline=baseline, variant=v, n_boot=n_boot, seed=seed, restrict=restrict)
        c.left_out = {k: n for k, n in ((v, len(base.index.difference(common))), (baseline, len(other.index.difference(common)))) if n}
        comparisons.append(c)
        for r in rows:
            flip_rows.append({
                "id": r["id"], "baseline": baseline, "variant": v, "emotion": r["emotion"],
                "pred_baseline": r["pred_a"], "confidence_baseline": r["confidence_a"],
                "pred_variant": r["pred_b"], "confidence_variant": r["confidence_b"], "fixed": r["fixed"], "broke": r["broke"],
                "findings_baseline": r["findings_a"], "findings_variant": r["findings_b"], "path": r["path"],
            })
    flips = pd.DataFrame(flip_rows, columns=[
        "id", "baseline", "variant", "emotion", "pred_baseline", "confidence_baseline", "pred_variant", "confidence_variant",
        "fixed", "broke", "findings_baseline", "findings_variant", "path"])
    return reports, comparisons, flips


def default_baseline(results) -> str:
    """``raw`` when the run has it, else its first variant."""
    variants = list(dict.fromkeys(results["variant"].astype(str)))
    return "raw" if "raw" in variants else variants[0]


def compare_run(run_dir: str | Path | RunFolder, *, baseline: str | None = None, n_boot: int = 1000, seed: int = 0, restrict: bool = False,
                figures: bool = True, out: str | Path | None = None):
    """Compare the variants of a run folder; writes ``compare.json``, ``flips.csv`` and figures.

    They go into the run folder (as they always have) unless ``out`` names another folder.

    Parameters
    ----------
    run_dir : str, Path or RunFolder
        A finished run folder with two or more variants (one variant gives no comparison).
    baseline : str or None
        The variant to compare against (default: ``raw`` when present, else the first).
    n_boot : int
        Bootstrap resamples of the paired intervals.
    seed : int
        Seed of the bootstrap.
    restrict : bool
        Take the argmax over the dataset's classes only.
    figures : bool
        Also write one figure per compared variant.
    out : str, Path or None
        Folder for the files (default: the run folder).

    Returns
    -------
    (dict of str to Report, list of Comparison, DataFrame)
        Metrics per variant, each variant against the baseline (Δ WA/UAR, McNemar), and the flips.

    Examples
    --------
    >>> run_dir = wb.demo_run("runs/demo", model="tiny")
    >>> reports, comparisons, flips = wb.compare_run(run_dir, n_boot=20, figures=False, out="compared")
    >>> list(reports), len(comparisons), os.path.isfile("compared/flips.csv")
    (['raw'], 0, True)
    """
    rf = as_run_folder(run_dir)
    results = rf.results()
    baseline = baseline or default_baseline(results)
    reports, comparisons, flips = compare_results(results, baseline=baseline, n_boot=n_boot, seed=seed, restrict=restrict)
    overlap = run_training_overlap(rf)  # a fine-tuned head's own speakers, as metrics says: every variant's figures are on them
    for r in reports.values():
        r.training_overlap = list(overlap)
    payload = {
        "training_overlap": overlap, "baseline": baseline,
        "metrics": {v: {**{k: getattr(r, k) for k in ("n_scored", "wa", "uar", "macro_f1", "ci", "ece")}, "flags": metric_flags(r)}
                    for v, r in reports.items()},
        "comparisons": [c.to_dict() for c in comparisons], "mcnemar_family": mcnemar_family(comparisons),
    }
    family = len(comparisons)
    if out is None:  # into the run folder: only through RunFolder (no links followed, strict JSON, random-weights flag)
        rf.write_json("compare.json", payload)
        rf.write_artifact("flips.csv", lambda f: spreadsheet_safe(flips).to_csv(f, index=False), text=True)
        if figures:
            # figure names are numbered, never made from variant names
            for i, c in enumerate(comparisons, 1):
                rf.write_figure(f"compare_{i}.png", plot_comparison(results, c, family=family), meta={"variant": c.variant, "baseline": c.baseline})
        return reports, comparisons, flips
    dest = Path(out)
    dest.mkdir(parents=True, exist_ok=True)
    atomic_write(dest / "compare.json", lambda f: f.write(strict_json(payload)), text=True)
    atomic_write(dest / "flips.csv", lambda f: spreadsheet_safe(flips).to_csv(f, index=False), text=True)
    if figures:  # through RunFolder, with the run's random-weights mark
        for i, c in enumerate(comparisons, 1):
            output_folder(rf, dest).write_figure(f"compare_{i}.png", plot_comparison(results, c, family=family),
                                                 meta={"variant": c.variant, "baseline": c.baseline})
    return reports, comparisons, flips


def plot_comparison(results, comparison: Comparison, path: str | Path | None = None, family: int = 1):
    """The confidence shifts and the paired Δ intervals of one comparison; ``family``: how many variants were compared
    with the baseline, so that its McNemar p is read against Bonferroni's bound (0.05 / family) when there are several."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    ok = select_rows(results)
    a = ok[ok["variant"] == comparison.baseline].set_index("id")
    b = ok[ok["variant"] == comparison.variant].set_index("id")
    common = a.index.intersection(b.index)
    top = paired_top(a.loc[common], b.loc[common], restrict=comparison.restricted)  # the confidences the flips were counted on
    shift = top["conf_b"] - top["conf_a"]
    flat = [_DELTA_NAMES[name] for name, w in comparison.interval_flags().items() if name in _DELTA_NAMES and w.startswith("zero-width")]
    thin = [_DELTA_NAMES[name] for name, w in comparison.interval_flags().items() if name in _DELTA_NAMES and "resamples (" in w]
    # the p with its discordant counts, as on screen: "p = 1" alone hid that b + c = 0 items could test nothing; each
    # part wrapped on lines of its own: one line ran into the left panel's title, and '(clustered by speaker)' was cut
    # at the figure's right edge in compare_N.png; b and c said what they count (a newcomer met them here first)
    base, var = figure_text(comparison.baseline), figure_text(comparison.variant)
    clustered = comparison.mcnemar_clustered
    lines = [f"vs {base}: McNemar b={comparison.mcnemar_b} c={comparison.mcnemar_c} {p_words(comparison.p_value)}"]
    if clustered:
        lines.append(f"(clustered: each of the {clustered['clusters']} speakers counts as one unit)")
    lines.append(f"b: right only under {base}, c: right only under {var}")
    if family > 1:  # several variants against the baseline: each p read as one of a family
        lines.append(f"(1 of {family} tests: Bonferroni reads p against {0.05 / family:.2g})")
    if flat:
        lines.append(f"!! zero-width {' and '.join(flat)} interval: no uncertainty shown")
    if thin:
        lines.append(f"!! {' and '.join(thin)} interval from under 90 % of its resamples: read it as rough")
    if comparison.left_out:
        lines.append(f"!! {sum(comparison.left_out.values())} item(s) failed under one variant: left out")
    title = "\n".join(textwrap.fill(line, 58) for line in lines)
    # taller by the title's lines, so the panels keep their height and the legend under the histogram its place
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4 + 0.14 * max(0, title.count("\n") - 1)
                                                    + 0.18 * (len(f"confidence({var}) − confidence({base})") > 50)))
    ax1.hist(shift, bins=30, color="#4477aa", edgecolor="white")
    ax1.axvline(0, color="k", lw=1)
    mean, (lo, hi) = comparison.confidence_shift_mean, comparison.confidence_shift_ci  # the screen's figure, with its interval
    if mean == mean:
        ax1.axvline(mean, color="#cc3311", lw=1.2, label=f"mean shift {mean:+.3f} " + (
            f"[{signed_bound(lo)}, {signed_bound(hi)}] (95 % {'t' if comparison.confidence_shift_unit.startswith('t ') else 'over ' + str(comparison.interval_unit.get('clusters')) + ' speakers'}, n={comparison.n_shift})" if comparison.n_shift >= 2 else f"(no interval from n={comparison.n_shift})"))
        if lo == lo and hi > lo:
            ax1.axvspan(lo, hi, color="#cc3311", alpha=0.2, lw=0)
    # the legend under the axis, not in it: inside, it was drawn over the histogram's tallest bars near 0;
    # long variant names: the axis label on two lines (on one it ran past the figure's left edge), and the legend
    # placed in points under it (a fraction of the axes put it on the label once the title grew)
    xlabel = textwrap.fill(f"confidence({var}) − confidence({base})", 50)
    ax1.set_xlabel(xlabel)
    if ax1.get_legend_handles_labels()[0]:
        ax1.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, 0), frameon=False,
                   borderaxespad=(30 + 18 * xlabel.count("\n")) / 7)
    ax1.set_ylabel("items")
    # at most 6 ticks: the automatic ones (−0.015, −0.010, … 0.015) ran into each other under a 4-inch panel
    ax1.xaxis.set_major_locator(MaxNLocator(6))
    ax1.set_title(f"{comparison.n_flips} label flips in {comparison.n_paired} labelled items"
                  + (f"\n(+{comparison.n_flips_unlabelled} among {comparison.n_unlabelled} unlabelled)" if comparison.n_unlabelled else "")
                  + ("\n(argmax over the corpus's classes)" if comparison.restricted else "")
                  # the shift's own flag (every item shifts by the same amount), its words before the details
                  + "".join(f"\n!! confidence shift: {w.split(' [')[0]}" for k, w in comparison.interval_flags().items() if k == "confidence_shift"))
    names = ["ΔWA", "ΔUAR"]
    vals = [comparison.delta_wa, comparison.delta_uar]
    ax2.errorbar(range(2), [v[0] for v in vals], yerr=[[v[0] - v[1] for v in vals], [v[2] - v[0] for v in vals]], fmt="o", capsize=6)
    ax2.axhline(0, color="k", lw=1)
    ax2.set_xticks(range(2), names)
    ax2.set_xlim(-0.5, 1.5)  # the two points sat on the axes' edges, their markers and caps cut in half
    # the bars were bare: neither which difference, nor what interval, nor over how many items
    ax2.set_ylabel(textwrap.fill(f"{var} − {base}", 36) + f"\n(paired bootstrap 95 % CI, n={comparison.n_paired})",
                   fontsize=8)  # long names wrapped: on one line they ran past the panel's top and bottom
    ax2.set_title(title, fontsize=8.5)
    return save_figure(fig, path)
