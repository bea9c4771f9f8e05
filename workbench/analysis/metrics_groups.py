"""A run's metrics by group, and the helpers :mod:`workbench.analysis.metrics` scores with: the scored labels, each
breakdown's groups with their intervals and gaps (:func:`~workbench.analysis.groups.analyse_groups`), and the ECE by
class set.  Split from ``metrics.py`` (which re-exports the public names) when it reached the 600-line limit.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from workbench.analysis.groups import analyse_groups, ece_note
from workbench.analysis.stats import _blocks, _percentile_bounds, cluster_draws, cluster_ids, ece, ece_interval, resamples_kept
from workbench.errors import ConfigError, capped_join
from workbench.runs.folder import select_rows
from workbench.schema import score_columns, score_labels, text_values


def _group_line(group: str, d: dict) -> str:
    """One group of a breakdown: its numbers with their 95 % intervals, or why it is too small to have any, and its note."""
    wa_base, uar_base = (f" ({d[k]})" if d.get(k) else "" for k in ("wa_baseline", "uar_baseline"))  # as the headline's
    shown = "—" if d.get("too_small") else (f"WA {d['wa']:.3f} [{d['wa_ci'][0]:.3f}, {d['wa_ci'][1]:.3f}]{wa_base} "
                                            f"UAR {d['uar']:.3f} [{d['uar_ci'][0]:.3f}, {d['uar_ci'][1]:.3f}]{uar_base}")
    return f"{group} {shown} (n={d['n']})" + (f" [{d['note']}]" if d.get("note") else "")


def _scored_labels(ok, restrict: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``(y_true, y_pred, classes)`` of the ok rows that have an emotion (the scored items), as :func:`evaluate` scores them."""
    sc = ok[text_values(ok["emotion"]) != ""]
    classes = [c for c in score_labels(ok) if c in set(sc["emotion"])]
    y_true = sc["emotion"].astype(str).to_numpy()
    if restrict and classes:
        y_pred = np.asarray(classes)[np.argmax(sc[score_columns(classes)].to_numpy(dtype=float), axis=1)]
    else:
        y_pred = sc["pred"].astype(str).to_numpy()
    return y_true, y_pred, classes


def _breakdowns(sc, y_true: np.ndarray, y_pred: np.ndarray, classes: list[str], by: Sequence[str], *, n_boot: int,
                seed: int) -> tuple[dict[str, dict], dict[str, dict]]:
    """``(breakdowns, disparities)`` of the scored rows ``sc`` by each column of ``by``: per group its n, WA and UAR with
    the class-stratified bootstrap intervals :func:`plot_breakdown` draws (the same
    :func:`~workbench.analysis.groups.analyse_groups`, resamples and seed), too small and note; and the gaps."""
    breakdowns: dict[str, dict] = {}
    disparities: dict[str, dict] = {}
    for col in by:
        if col not in sc.columns:
            continue
        analysis = analyse_groups(y_true, y_pred, text_values(sc[col]).to_numpy(), classes, by=col, n_boot=n_boot, seed=seed,
                                  speakers=group_speakers(sc, col))
        groups = {str(r["group"]): {"n": int(r["n"]), "wa": float(r["wa"]), "wa_ci": [float(r["wa_lo"]), float(r["wa_hi"])],
                                    "uar": float(r["uar"]), "uar_ci": [float(r["uar_lo"]), float(r["uar_hi"])],
                                    "too_small": bool(r["too_small"]), "note": str(r["note"]), "ci_unit": str(r["ci_unit"]),
                                    # the resamples its intervals and each class's recall rest on (under 90 %: in its note)
                                    "ci_resamples": r["ci_resamples"],
                                    # its baselines, passing too, as the headline's; its failing checks on their own
                                    # keys (also in its note)
                                    "wa_baseline": str(r["wa_baseline"]), "uar_baseline": str(r["uar_baseline"]),
                                    **{k: str(r[k]) for k in ("wa_majority", "uar_chance") if r[k]}}
                  for r in analysis.table.to_dict("records")}
        if groups:
            breakdowns[col] = groups
            disparities[col] = analysis.disparities
    return breakdowns, disparities


def _ece_by_class_set(sc, labels: list[str], classes: list[str], y_true: np.ndarray, bins: int, *, n_boot: int = 1000, seed: int = 0,
                      clusters=None) -> dict[str, dict]:
    """ECE over the model's classes (the nine, or a fine-tuned head's own) and over the corpus's (none for one class:
    restricted to it every prediction is right, so there is no calibration to measure), each with the headline ECE's
    interval (same resamples: ``n_boot``, ``seed``, ``clusters``) and its check (``note``, :func:`ece_note`): the corpus's
    ECE was printed bare beside the headline's, 0.256 with no interval and no check."""
    by_set = {}
    for key, names, label in (("model", list(labels), f"all {len(labels)} model classes"),
                              ("corpus", list(classes), f"the corpus's {len(classes)} classes (as `workbench calibrate` measures it)")):
        scores = sc[score_columns(names)].to_numpy(dtype=float)
        conf, right = scores.max(1) / scores.sum(1), np.asarray(names)[scores.argmax(1)] == y_true
        value = ece(conf, right, bins=bins)[0]
        ci = ece_interval(conf, right, bins=bins, n=n_boot, seed=seed, clusters=clusters)
        by_set[key] = {"classes": names, "label": label, "ece": value, "ece_ci": list(ci), "note": ece_note(value, ci, len(conf))}
    if len(classes) < 2:
        del by_set["corpus"]
    return by_set


def breakdown_table(results, by: str = "speaker", *, variant: str | None = None, restrict: bool = False, n_boot: int = 1000,
                    seed: int = 0):
    """Per-group metrics with class-stratified bootstrap intervals: one row per value of column ``by`` (speaker, gender …).

    Predictions are the run's (with ``restrict``, the argmax over the *run's* classes, as :func:`evaluate`
    takes it); each group's resamples keep its class set and class counts
    (:func:`workbench.analysis.groups.analyse_groups`, which explains why).  Returns a DataFrame with
    ``group, n, wa, wa_lo, wa_hi, uar, uar_lo, uar_hi, macro_f1, macro_f1_lo, macro_f1_hi, too_small, note,
    missing_classes`` and per-class recalls; a too-small group keeps its numbers in the table but is not plotted.
    """
    return group_analysis(results, by, variant=variant, restrict=restrict, n_boot=n_boot, seed=seed).table


def group_analysis(results, by: str = "speaker", *, variant: str | None = None, restrict: bool = False, n_boot: int = 1000,
                   seed: int = 0):
    """:class:`~workbench.analysis.groups.GroupAnalysis` (table and disparities) of one variant by column ``by``."""
    if by not in results.columns:
        raise ConfigError(f"cannot break the results down by {by!r}: no such column.", fix=f"use one of {sorted(results.columns)}.")
    variant = variant or list(dict.fromkeys(results["variant"]))[0]
    df = results[results["variant"] == variant]
    sc = select_rows(df)
    y_true, y_pred, classes = _scored_labels(sc, restrict)
    sc = sc[text_values(sc["emotion"]) != ""]
    return analyse_groups(y_true, y_pred, text_values(sc[by]).to_numpy(), classes, by=by, n_boot=n_boot, seed=seed,
                          speakers=group_speakers(sc, by))


def group_speakers(sc, by: str) -> np.ndarray | None:
    """Each scored row's speaker for a breakdown by ``by`` (a group's intervals resample its speakers where it has enough:
    :func:`~workbench.analysis.group_resampling.group_replicates`), or None: no speaker column, or a breakdown by speaker
    itself (one speaker a group: its interval is over its clips, for that speaker)."""
    return text_values(sc["speaker"]).to_numpy() if "speaker" in sc.columns and by != "speaker" else None


def unit_line(groups: dict[str, dict]) -> str:
    """What a breakdown's group intervals resampled, for the screen: each group's speakers (counted), or its items
    within each class (the class set and counts kept), or both, the groups of each named."""
    units = {g: d.get("ci_unit", "items") for g, d in groups.items() if not d.get("too_small")}
    spk = [f"{g} {u}" for g, u in units.items() if u != "items"]
    items = [g for g, u in units.items() if u == "items"]
    text = ("resampling each group's speakers (" + capped_join(spk, noun="groups", where="metrics.json") + ")") if spk else ""
    if items:
        text += ("; " if spk else "") + "resampling items within each class" + (f" in {capped_join(items, noun='groups', where='metrics.json')}"
                                                                               " (fewer than 5 speakers: noted)" if spk else " of a group")
    return f"group intervals: 95 % bootstrap {text}" if text else ""


def breakdown_frame(groups: dict[str, dict]):
    """The table :func:`breakdown_table` gives (WA and UAR columns only) from a :class:`Report`'s breakdown by one
    column: the figures draw what ``metrics`` computed, not a second analysis of every group (two of 20,000 groups)."""
    import pandas as pd

    rows = [{"group": g, "n": d["n"], "wa": d["wa"], "wa_lo": d["wa_ci"][0], "wa_hi": d["wa_ci"][1], "uar": d["uar"],
             "uar_lo": d["uar_ci"][0], "uar_hi": d["uar_ci"][1], "too_small": d["too_small"], "note": d["note"],
             "wa_majority": d.get("wa_majority", ""), "uar_chance": d.get("uar_chance", ""), "ci_unit": d.get("ci_unit", "items")}
            for g, d in groups.items()]
    return pd.DataFrame(rows, columns=["group", "n", "wa", "wa_lo", "wa_hi", "uar", "uar_lo", "uar_hi", "too_small", "note",
                                       "wa_majority", "uar_chance", "ci_unit"])


def speaker_class_intervals(y_true: np.ndarray, y_pred: np.ndarray, classes: Sequence[str], clusters: Sequence, *, n: int,
                            seed: int, level: float = 0.95) -> dict[str, dict[str, tuple[float, float]]]:
    """Each class's precision and recall interval from the cluster bootstrap that gives F1's (the same seed, speakers and
    blocks as :func:`~workbench.analysis.stats.resample_intervals`, so the same resamples): class → ``{"precision_ci",
    "recall_ci"}``.  The exact binomial interval over clips takes a speaker's clips as independent; with a speaker
    effect a class's recall interval over clips covered the speakers' recall far under 95 %.  A resample where a
    class has no item (recall) or no prediction (precision) is left out of that interval, as F1's undefined ones."""
    t, p = np.asarray(y_true).astype(str), np.asarray(y_pred).astype(str)
    vocabulary, codes = np.unique(np.concatenate([t, p]), return_inverse=True)
    k, labels = len(vocabulary), np.asarray([int(np.searchsorted(vocabulary, c)) for c in classes], dtype=np.int64)
    ids = cluster_ids(clusters)
    g = int(ids.max()) + 1
    per_cluster = np.zeros((g, k * k))
    np.add.at(per_cluster, (ids, codes[: len(t)] * k + codes[len(t):]), 1.0)
    rng, shares = np.random.default_rng(seed), np.empty((n, 2, len(labels)))
    for start, b in _blocks(n, g + k * k, most=256):
        counts = (cluster_draws(rng, g, b) @ per_cluster).reshape(b, k, k)[:, labels]  # rows: the scored classes
        hits = counts[:, np.arange(len(labels)), labels]
        with np.errstate(divide="ignore", invalid="ignore"):
            shares[start:start + b, 0] = hits / counts[:, :, labels].sum(axis=1)  # precision: of those predicted c
            shares[start:start + b, 1] = hits / counts.sum(axis=2)  # recall: of the items of c
    bounds = [_percentile_bounds(shares[:, j], level, g) for j in (0, 1)]
    return {c: {"precision_ci": bounds[0][i], "recall_ci": bounds[1][i]} for i, c in enumerate(classes)}


def with_speaker_class_intervals(table: dict[str, dict], y_true, y_pred, classes: Sequence[str], clusters, unit: dict, *, n: int,
                                 seed: int) -> dict[str, dict]:
    """The per-class table with its precision and recall intervals over speakers where the headline's are
    (:func:`speaker_class_intervals`; the exact clip intervals kept as ``precision_ci_items``/``recall_ci_items``), and
    each class's ``ci_unit`` (``30 speakers``, or ``items``: exact binomial, F1 bootstrapped)."""
    spk = speaker_class_intervals(y_true, y_pred, classes, clusters, n=n, seed=seed) if clusters is not None and len(y_true) else {}
    for c, v in table.items():
        if c in spk:
            v.update(precision_ci_items=v["precision_ci"], recall_ci_items=v["recall_ci"], **spk[c],  # with the resamples each kept
                     precision_resamples=resamples_kept(spk[c]["precision_ci"]), recall_resamples=resamples_kept(spk[c]["recall_ci"]))
        v["ci_unit"] = unit["short"]
    return table


def class_unit_words(unit: dict) -> str:
    """What the per-class table's intervals are over, for the line under it."""
    if unit.get("unit") == "speaker":
        return (f"per-class intervals: 95 % bootstrap resampling the {unit['clusters']} speakers (precision, recall and F1, as the "
                f"headline's), {unit.get('interval', 'percentile')}")
    return "per-class intervals: precision and recall exact binomial over items, F1 95 % bootstrap over items"


#: a report page tables this many groups of a breakdown at most (20,000 one-clip speakers made a 20,000-row table)
REPORT_GROUPS = 200


def largest_groups(groups: dict, most: int = REPORT_GROUPS) -> tuple[dict, str]:
    """The ``most`` largest of a breakdown's ``groups`` (by ``n``, in their own order) and what was left out, said ("" when
    none was), as :func:`workbench.analysis.metrics.plot_breakdown` draws its 40 largest."""
    if len(groups) <= most:
        return groups, ""
    ranked = sorted(groups, key=lambda g: -int(groups[g].get("n") or 0))  # stable: equal sizes keep the breakdown's order
    keep, cut = set(ranked[:most]), int(groups[ranked[most - 1]].get("n") or 0)
    # groups as large as the last one kept that did not fit: which of them were tabled is the breakdown's order, said
    tied = sum(int(groups[g].get("n") or 0) == cut for g in ranked[most:])
    ties = (f" ({tied:,} more of {cut:,} clip{'s' * (cut != 1)} each, as large as the last tabled, left out: equal sizes "
            "are taken in the breakdown's order)") if tied else ""
    return ({g: d for g, d in groups.items() if g in keep},
            f"the {most} largest of its {len(groups):,} groups{ties}; metrics.json has them all")

