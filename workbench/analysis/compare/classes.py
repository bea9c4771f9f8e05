"""Recall per class of runs of one manifest, each later run against the first, with the paired test of each change.

A Δ recall of +0.250 on a class of 8 items is 2 items: :func:`per_class_table` gives beside it the McNemar test of
that class's paired items (``b`` right in the first run only, ``c`` right in the later run only;
:func:`workbench.analysis.stats.mcnemar_exact`; over 5 or more speakers the clustered test,
:func:`workbench.analysis.stats.clustered_mcnemar`, since a speaker's clips move together), as the comparison of the
whole runs does for WA.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from workbench.analysis.stats import clustered_mcnemar, mcnemar_exact, speaker_resampling


def class_test(items, first: str, later: str, variant: str, label: str, later_label: str | None = None) -> tuple[int, int, float, str]:
    """``(b, c, p, test)`` of the items labelled ``label`` (the first run's name of the class) that runs ``first`` and
    ``later`` both scored on ``variant``; ``later_label``: the later run's name of the same class (a head's anger for
    angry).  With 5 or more speakers among them (``items["speaker"]``, :func:`speaker_resampling`) ``p`` is the
    clustered McNemar test's (:func:`clustered_mcnemar`; ``test`` says "clustered over N speakers"), else the exact one's."""
    if not len(items):
        return 0, 0, float("nan"), "exact"
    sub = items[(items["run_a"] == first) & (items["run_b"] == later) & (items["variant"] == variant) & (items["emotion"] == label)]
    right_a = sub["pred_a"].astype(str).to_numpy() == label
    right_b = sub["pred_b"].astype(str).to_numpy() == (later_label or label)
    b, c = int((right_a & ~right_b).sum()), int((~right_a & right_b).sum())
    clusters, unit = speaker_resampling(sub, "speaker") if len(sub) else (None, {})
    if clusters is not None:
        got = clustered_mcnemar(right_a, right_b, clusters)  # its note: too few speakers hold the changes (one: X² = 1 always)
        return b, c, got["p"], f"clustered over {unit['clusters']} speakers" + (f"; flagged: {got['note']}" if got["note"] else "")
    return b, c, (mcnemar_exact(b, c) if len(sub) else float("nan")), "exact"


def per_class_table(reports: dict, items, variant: str, pairs: dict | None = None):
    """Recall per class of each run, one row per class: ``class``, ``recall <run>`` and ``n <run>`` per run, then per
    later run ``Δ recall``, ``McNemar b / c`` and its exact ``p`` against the first where both score the class (NaN and
    "—" where one does not).  ``reports``: run name → variant → :class:`~workbench.analysis.metrics.Report`;
    ``items``: the paired rows (``run_a, run_b, variant, emotion, pred_a, pred_b``); ``pairs``: run name → {its class:
    the first run's name of it} (a head's anger, its parent's angry), whose two names share a row, ``angry → anger``."""
    import pandas as pd

    pairs = pairs or {}
    names = list(reports)
    classes = list(dict.fromkeys(pairs.get(n, {}).get(c, c) for n in names for c in reports[n][variant].classes))
    rows = []
    for c in classes:
        own = {n: next((x for x in reports[n][variant].classes if pairs.get(n, {}).get(x, x) == c), c) for n in names}
        row: dict[str, Any] = {"class": " → ".join(dict.fromkeys(own.values()))}
        for n in names:
            d = reports[n][variant].per_class.get(own[n])
            row[f"recall {n}"] = d["recall"] if d and d.get("support") else float("nan")
            row[f"n {n}"] = int(d["support"]) if d else 0
        for n in names[1:]:
            delta = row[f"recall {n}"] - row[f"recall {names[0]}"]
            b, k, p, test = class_test(items, names[0], n, variant, own[names[0]], own[n]) if delta == delta else (0, 0, float("nan"), "")
            row[f"Δ recall {n}−{names[0]}"] = delta
            row[f"McNemar b / c {n}−{names[0]}"] = f"{b} / {k}" if delta == delta else "—"
            row[f"p {n}−{names[0]}"] = p
            if test.startswith("clustered"):  # a class's clips cluster by speaker: which test gave p, beside it
                row[f"McNemar test {n}−{names[0]}"] = test
        rows.append(row)
    return pd.DataFrame(rows)


def per_class_note(table) -> str:
    """How to read the table's p-values: one test per class, so a family of them (Bonferroni's bound named)."""
    tested = int(np.isfinite(table.filter(like="p ").to_numpy(float)).sum()) if len(table) else 0
    if not tested:
        return ""
    clustered = any(c.startswith("McNemar test") for c in table.columns)
    return (f"p: {'McNemar (clustered over speakers, Durkalski et al. 2003, where the McNemar test column says so; else exact)' if clustered else 'exact McNemar'} "
            "of each class's paired items (b: right in the first run only, c: right in the later one only); "
            f"{tested} test(s) here: by chance alone about {0.05 * tested:.2g} of them fall under 0.05 "
            f"(Bonferroni: read each p against {0.05 / tested:.2g})")


def kappa_note(pred_a: Sequence[str], pred_b: Sequence[str], classes_a: Sequence[str] = (), classes_b: Sequence[str] = ()) -> str:
    """Why Cohen's kappa of two label sequences is undefined, or what it counts (``""`` when neither needs saying).

    Kappa is ``(p_o − p_e) / (1 − p_e)``: with no paired item there is nothing to count, and when both runs give every
    item one and the same label ``p_e = 1`` and kappa is 0/0 (top-1 agreement then says they agree on every item); when
    one run gives every item one label, ``p_o = p_e`` and kappa is 0 whatever the other says (a bootstrap interval [0, 0]).
    ``classes_a``/``classes_b``: the two models' classes (``b``'s renamed onto ``a``'s); where they share some but not
    all, a label only one model has is a disagreement by its name alone, which kappa and top-1 agreement count too.
    """
    a, b = [str(x) for x in pred_a], [str(x) for x in pred_b]
    if not a:
        return "no paired items (every row failed in one of the runs)"
    labels = set(a) | set(b)
    if len(labels) == 1:
        return (f"both runs give all {len(a)} paired item(s) the one label {next(iter(labels))!r}: kappa is 0/0 "
                "(chance agreement is 1); top-1 agreement says they agree")
    one = next((s for s in (set(a), set(b)) if len(s) == 1), None)
    if one is not None:  # p_o = p_e whatever the other run says: 0 by construction, in every resample too
        return (f"one run gives all {len(a)} paired item(s) the one label {next(iter(one))!r}: kappa is 0 by construction "
                "(its agreement is all chance agreement), and every resample gives 0, so its interval has no width")
    ca, cb = [str(c) for c in classes_a], [str(c) for c in classes_b]
    shared = [c for c in ca if c in cb]
    if shared and (set(ca) != set(cb)):
        only = sum(x not in cb for x in a) + sum(x not in ca for x in b)
        return (f"the two models share {len(shared)} of their classes ({', '.join(shared)}); a label only one of them has "
                f"(given {only} time(s) here) is a disagreement by its name alone, so kappa, top-1 agreement and the score "
                "distances count the label sets as well as the models")
    return ""


#: the agreement figures that are n/a between runs whose models share no class (:func:`label_sets_note`)
DISJOINT_NA = ("kappa", "kappa_lo", "kappa_hi", "top1_agreement", "top1_agreement_lo", "top1_agreement_hi", "n_label_flips",
               "max_abs_delta_score", "mean_max_abs_delta_score", "max_tvd", "mean_tvd")


def label_sets_note(classes_a: Sequence[str], classes_b: Sequence[str], name_a: str, name_b: str) -> str:
    """Why the agreement of two runs is n/a: their models score disjoint label sets (each in its own order; ``classes_b``
    already renamed onto ``classes_a`` where a class is the other's under another name); ``""`` when they share a class.

    Two heads over calm/tense and zeal/grief never give an item the same label: kappa 0, top-1 agreement 0, every item a
    label flip and a TVD of 1 on every item follow from the names alone, whatever the two models think (two heads with
    the same weights under other names read as disagreeing on everything)."""
    a, b = [str(c) for c in classes_a], [str(c) for c in classes_b]
    if not a or not b or set(a) & set(b):
        return ""
    return (f"runs {name_a} and {name_b} score disjoint label sets ({name_a}: {', '.join(a)}; {name_b}: {', '.join(b)}): no item can "
            "get the same label from both, so kappa, top-1 agreement, label flips and the score distances (a TVD of 1 on every item) "
            "would measure the label sets, not the models; compare each run's metrics and recall per class instead")
