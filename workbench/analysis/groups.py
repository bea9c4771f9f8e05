"""Groups, honestly: per-group metrics whose intervals keep the group's class set, disparities, small groups marked.

Why stratified.  A speaker's UAR is the mean recall over the classes the speaker
has.  An item bootstrap over the speaker's items sometimes draws no item of a
rare class; that resample's UAR averages over fewer classes, so the interval
mixes different statistics (EmoDB speaker 09: [0.167, 0.200] around a UAR that
no resample with all classes reaches).  Here each resample draws, *within each
true class*, as many items as the group has of that class: the class set and
the class counts are fixed, only which items stand for a class varies.  WA,
UAR and macro-F1 of every resample come from its confusion counts.

Speakers.  A group of several speakers (a gender, a split) resamples its speakers instead, every clip of a drawn
speaker together (``speakers=``; :func:`~workbench.analysis.stats.speaker_resampling`'s rule, the headline's): its
clips are not independent, and under a strong speaker effect the stratified clip interval of a gender covered its
population UAR about half the time.  A resample may then miss a class; its UAR is over the classes it has, as the
headline's.  A group of one speaker, or of fewer than five (noted), keeps the stratified clip bootstrap.

Too small.  A group is marked (never plotted as a number) when it has fewer than
``MIN_ITEMS`` items or any of its classes has fewer than ``MIN_PER_CLASS``.  A
recall from ``k`` items moves in steps of ``1/k`` and its binomial standard
error reaches ``0.5/sqrt(k)``: 0.22 at k = 5, larger than most between-speaker
differences worth reporting; a UAR from 20 items has a standard error up to
0.11.  A group without some of the run's classes is noted (its UAR averages
over fewer classes and is not comparable with the others).

Disparities.  Largest minus smallest UAR over the groups that are not too small
and have every class of the run, and per class the largest minus smallest
recall over the groups with at least ``MIN_PER_CLASS`` items of it; intervals
from the same stratified resamples (every group resampled in each replicate,
so the gap's replicate is a gap of replicates).  The max-minus-min of noisy
estimates is biased upwards; the interval says how far.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from workbench.errors import ConfigError
from workbench.schema import MANIFEST_COLUMNS, score_labels, text_values

from workbench.analysis.group_resampling import (Extremes, _confusions, _interval, _scores, group_members, group_replicates,  # noqa: F401
                                                resample_counts, thin_group_words)
from workbench.analysis.interval_rule import resamples_kept, thin_note
from workbench.analysis.group_contrasts import contrast_lines, keep_draw, recall_vs_rest
from workbench.analysis.figure_notes import (  # noqa: F401  (public here too, where callers import them)
    MIN_ITEMS, MIN_PER_CLASS, BLANK_EMOTION_FIX, blank_emotion_words, zero_width_note, flat_interval_words, ece_note, missing_class_note, chance_uar, chance_words, not_scored_words, few_items_note, chance_flag, majority_baseline, majority_words, majority_flag, flagged_title, small_class_note, never_predicted_note, share_text, f1_text, class_f1_note, class_share_note, class_lines, FIGURE_NAMES, SHOWN_FIGURES,
    figure_flags, group_baseline_flags, group_baselines, baseline_check_line)


def small_group_reason(class_counts: dict[str, int], *, min_items: int = MIN_ITEMS, min_per_class: int = MIN_PER_CLASS) -> str:
    """Why a group with these per-class item counts is too small to report a number for, or ``""``."""
    n = sum(class_counts.values())
    if n < min_items:
        return f"{n} items (< {min_items})"
    # "fewer than 5 items of sad 4" read as a class named "sad 4": the count goes in brackets, named
    thin = [f"{c} ({k} item{'s' if k != 1 else ''})" for c, k in class_counts.items() if 0 < k < min_per_class]
    return f"fewer than {min_per_class} items of {', '.join(thin)}" if thin else ""


@dataclass
class GroupAnalysis:
    """Per-group table and disparities of one grouping (see the module docstring)."""

    by: str
    classes: list[str]
    table: "object"  # pandas DataFrame, one row per group
    disparities: dict

    def to_dict(self) -> dict:
        return {"by": self.by, "classes": self.classes, "groups": self.table.to_dict(orient="records"), "disparities": self.disparities}


def analyse_groups(y_true: Sequence[str], y_pred: Sequence[str], groups: Sequence[str], classes: Sequence[str], *,
                   by: str = "group", n_boot: int = 1000, level: float = 0.95, seed: int = 0, min_items: int = MIN_ITEMS,
                   min_per_class: int = MIN_PER_CLASS, speakers: Sequence[str] | None = None) -> GroupAnalysis:
    """Per-group WA, UAR, macro-F1 and recalls with bootstrap intervals, and the disparities.

    Parameters
    ----------
    y_true, y_pred, groups : sequences of str, length n
        Label, prediction and group (speaker, gender …) of each scored item.
        Items whose group is ``""`` are left out.
    classes : sequence of str
        The run's classes (K); a prediction outside them counts as wrong.
    n_boot, level, seed : bootstrap resamples, interval level, seed.
    min_items, min_per_class : the "too small" thresholds.
    speakers : sequence of str or None
        Each item's speaker: a group with enough of them resamples its speakers (:func:`group_replicates`); None (and a
        group of fewer speakers) the class-stratified item bootstrap.  Each group's ``ci_unit`` says which.

    Returns
    -------
    GroupAnalysis
        ``table`` columns: ``group, n, wa, wa_lo, wa_hi, uar, uar_lo, uar_hi, macro_f1, macro_f1_lo,
        macro_f1_hi, too_small, note, missing_classes, zero_width_interval, wa_majority, uar_chance`` (the
        group's failing baseline checks in words, also in ``note``, see :func:`group_baseline_flags`), ``wa_baseline,
        uar_baseline`` (its baselines, passing or not: :func:`group_baselines`), ``ci_unit`` (what its intervals
        resampled: ``items`` or ``12 speakers``), ``recall_<class>`` and ``n_<class>`` per class.
    """
    import pandas as pd

    classes = list(classes)
    k = len(classes)
    index = {c: i for i, c in enumerate(classes)}
    t = np.asarray(y_true).astype(str)
    p = np.asarray(y_pred).astype(str)
    g = np.asarray(groups).astype(str)
    keep = (g != "") & np.isin(t, classes)
    t_codes = np.array([index[c] for c in t[keep]], dtype=int)
    p_codes = np.array([index.get(c, k) for c in p[keep]], dtype=int)
    spk = None if speakers is None else np.asarray([("" if s is None or s != s else str(s)) for s in speakers], dtype=object)[keep]
    rng = np.random.default_rng(seed)
    rows, extremes, draws = [], {"uar": Extremes(), **{i: Extremes() for i in range(k)}}, {i: {} for i in range(k)}  # see keep_draw
    for name, sel in zip(*group_members(g[keep])):
        tc, pc = t_codes[sel], p_codes[sel]
        counts = {c: int((tc == i).sum()) for i, c in enumerate(classes)}
        observed = _scores(_confusions(tc, pc, k, n_boot=1, rng=None))
        boot, unit = group_replicates(tc, pc, k, n_boot=n_boot, rng=rng, speakers=None if spk is None else spk[sel])
        missing = [c for c, m in counts.items() if m == 0]
        reason = small_group_reason(counts, min_items=min_items, min_per_class=min_per_class)
        for key, values in ([("uar", boot["uar"])] if not reason and not missing else []) + [
                (i, boot["recall"][:, i]) for i, c in enumerate(classes) if counts[c] >= min_per_class]:
            extremes[key].add(values)  # the gaps' groups (see _disparities)
            keep_draw(draws, key, str(name), values)  # no group keeps its resamples but each class's recall, for the contrasts
        notes = [f"too small: {reason}"] if reason else []
        if missing:
            notes.append(missing_class_note(counts))
        row = {"group": name, "n": len(sel), **{m: float(observed[m][0]) for m in ("wa", "uar", "macro_f1")}}
        bounds = {m: _interval(boot[m], level, unit["clusters"] if unit["unit"] != "item" else None) for m in ("wa", "uar", "macro_f1")}
        row.update({f"{m}{end}": b[j] for m, b in bounds.items() for j, end in enumerate(("_lo", "_hi"))})
        row["ci_resamples"] = resample_counts(bounds, boot["recall"], counts)  # a recall undefined where its speakers are not drawn
        thin = [] if reason else thin_group_words({k: v for k, v in row["ci_resamples"].items() if k != "macro_f1"}, FIGURE_NAMES)
        flat = [m for m in ("wa", "uar", "macro_f1") if zero_width_note(row[f"{m}_lo"], row[f"{m}_hi"], row["n"])]
        # the note names figures a reader sees beside it: not macro-F1, and none of a too-small group's (shown as —)
        shown = [] if reason else [m for m in flat if m in SHOWN_FIGURES]
        if shown:
            notes.append(flat_interval_words([FIGURE_NAMES.get(m, m.upper()) for m in shown], row["n"]))
        baseline = {} if reason else group_baseline_flags(row, counts)  # a too-small group shows no number to flag
        base = {} if reason else group_baselines(counts)  # its baselines, passing too (shown beside its figures)
        notes += list(baseline.values()) + ([unit["note"]] if unit["note"] and not reason else []) + thin
        row.update({"too_small": bool(reason), "note": "; ".join(notes), "missing_classes": ", ".join(missing),
                    "zero_width_interval": ", ".join(flat), "wa_majority": baseline.get("wa", ""), "uar_chance": baseline.get("uar", ""),
                    "wa_baseline": base.get("wa", ""), "uar_baseline": base.get("uar", ""), "ci_unit": unit["short"]})
        for i, c in enumerate(classes):
            row[f"recall_{c}"] = float(observed["recall"][0, i])
            row[f"n_{c}"] = counts[c]
        rows.append(row)
    columns = (["group", "n"] + [f"{m}{s}" for m in ("wa", "uar", "macro_f1") for s in ("", "_lo", "_hi")]
               + ["too_small", "note", "missing_classes", "zero_width_interval", "wa_majority", "uar_chance", "wa_baseline", "uar_baseline",
                  "ci_unit", "ci_resamples"] + [f"recall_{c}" for c in classes] + [f"n_{c}" for c in classes])
    table = pd.DataFrame(rows, columns=columns)
    return GroupAnalysis(by, classes, table, _disparities(table, extremes, classes, level=level, min_per_class=min_per_class, draws=draws))


def _gap(values: dict[str, float], extremes: Extremes, level: float, n_items: int) -> dict:
    """Largest minus smallest value over the groups, with its interval (each resample's largest minus smallest over the
    same groups: ``extremes``); ties are named as ties (never "a − a").

    ``n_items``: the items of those groups (of the class, for a recall gap), the denominator a zero-width interval's
    note gives; the groups are counted beside it, not in its place ("from 2 item(s)" was said of two groups of 42)."""
    names = list(values)
    if len(names) < 2:
        return {"gap": float("nan"), "lo": float("nan"), "hi": float("nan"), "groups": names,
                "note": f"{len(names)} eligible group(s); a gap needs two"}
    point = np.array([values[n] for n in names])
    lo, hi = bounds = _interval(extremes.gaps(), level)
    top = [n for n, v in zip(names, point) if v == point.max()]
    bottom = [n for n, v in zip(names, point) if v == point.min()]
    out = {"gap": float(point.max() - point.min()), "lo": lo, "hi": hi, "highest": top[0], "lowest": bottom[0],
           "highest_groups": top, "lowest_groups": bottom, "tie": len(top) > 1 or len(bottom) > 1, "groups": names,
           "resamples": resamples_kept(bounds)}  # those where every group has the figure (a recall: its class drawn in each)
    flat = zero_width_note(lo, hi, n_items)
    if flat:
        out["note"] = flat.replace(" item(s):", f" item(s) in {len(names)} groups:", 1)
    if thin := thin_note(bounds):
        out["note"] = "; ".join(filter(None, (out.get("note"), f"{thin.replace('undefined in the others', f'undefined in one of the {len(names)} groups in the others')}")))
    if (diffs := extremes.signed()) is not None:  # two groups: the signed difference, whose interval may hold 0
        s_lo, s_hi = _interval(diffs, level)
        out["signed"] = {"of": f"{names[0]} − {names[1]}", "diff": float(point[0] - point[1]), "lo": s_lo, "hi": s_hi,
                         "excludes_0": bool(s_lo > 0 or s_hi < 0)}
    else:  # several groups: say what max − min cannot do
        out["by_construction"] = (f"max − min over {len(names)} groups is ≥ 0 by construction (noise alone makes it positive), "
                                  "so its interval never holds 0 and cannot test 'no gap'")
    return out


def describe_gap(gap: dict, what: str = "UAR") -> str:
    """One line for a gap from :func:`_gap`: the groups at each end, ties said as ties, the excluded ones named."""
    if "highest" not in gap:
        return f"{what} gap: not measured ({gap.get('note', '')})"
    ends = lambda names, word: (f"{', '.join(names)} tie {word}" if len(names) > 1 else names[0])  # noqa: E731
    if gap["gap"] == 0:
        text = f"{what} gap 0.000: all {len(gap['groups'])} eligible groups tie"
    else:
        text = (f"{what} gap {gap['gap']:.3f} [{gap['lo']:.3f}, {gap['hi']:.3f}] "
                f"({ends(gap['highest_groups'], 'highest')} − {ends(gap['lowest_groups'], 'lowest')})")
    if sg := gap.get("signed"):
        text += (f"; signed {sg['of']} {sg['diff']:+.3f} [{sg['lo']:+.3f}, {sg['hi']:+.3f}], "
                 + ("excludes 0" if sg["excludes_0"] else "includes 0: no gap shown between the two groups"))
    elif gap.get("by_construction") and gap["gap"] != 0:
        text += f"; {gap['by_construction']}"
    if gap.get("note"):
        text += f" [{gap['note']}]"
    return text


#: classes whose signed recall gaps are each given a line on screen; above, only those whose interval excludes 0
RECALL_GAP_LINES = 12


def recall_gap_lines(disparities: dict, *, limit: int = RECALL_GAP_LINES) -> list[str]:
    """The per-class recall gaps' signed intervals of a breakdown of exactly two groups, for the screen (they were in
    metrics.json only): one line per class, or, past ``limit`` classes, only those whose interval excludes 0 (said so).
    A gap's note (an interval of no width, one on few resamples) is flagged on its line.  For three or more groups, each
    group's signed gap against the others (:func:`~workbench.analysis.group_contrasts.contrast_lines`)."""
    # three or more groups: each group's signed gap against the others (a class of two eligible groups among them keeps its own)
    return _signed_lines(disparities, limit) + contrast_lines(disparities.get("recall_vs_rest"))


def _signed_lines(disparities: dict, limit: int) -> list[str]:
    recall = disparities.get("recall") or {}
    signed = {c: g for c, g in recall.items() if g.get("signed")}
    if not signed:
        return []
    ofs = {g["signed"]["of"] for g in signed.values()}
    one_of = next(iter(ofs)) if len(ofs) == 1 else None

    def line(c: str, g: dict) -> str:
        sg = g["signed"]
        text = (f"{c}: {'' if one_of else sg['of'] + ' '}{sg['diff']:+.3f} [{sg['lo']:+.3f}, {sg['hi']:+.3f}] "
                + ("excludes 0" if sg["excludes_0"] else "includes 0"))
        return text + (f"  !! {g['note']}" if g.get("note") else "")

    head = f"recall gaps per class, signed{' ' + one_of if one_of else ''}"
    unmeasured = [c for c in recall if c not in signed]
    tail = [f"      not measured: {', '.join(unmeasured)} (too few items in a group; metrics.json says why)"] if unmeasured else []
    if len(signed) <= limit:
        return [f"    {head}:"] + [f"      {line(c, g)}" for c, g in signed.items()] + tail
    shown = {c: g for c, g in signed.items() if g["signed"]["excludes_0"]}
    flagged = [c for c, g in signed.items() if c not in shown and g.get("note")]
    return ([f"    {head}: only the {len(shown)} of {len(signed)} classes whose interval excludes 0 (all in metrics.json)"
             + ("" if shown else ": none")] + [f"      {line(c, g)}" for c, g in shown.items()]
            + ([f"      !! flagged among the others: {', '.join(flagged)} (metrics.json says why)"] if flagged else []) + tail)


def _disparities(table, extremes: dict, classes: list[str], *, level: float, min_per_class: int, draws: dict | None = None) -> dict:
    eligible = table[(~table["too_small"]) & (table["missing_classes"] == "")]
    uar_gap = _gap(dict(zip(eligible["group"], eligible["uar"])), extremes["uar"], level, int(eligible["n"].sum()))
    per_class = {}
    for i, c in enumerate(classes):
        ok = table[table[f"n_{c}"] >= min_per_class]
        per_class[c] = _gap(dict(zip(ok["group"], ok[f"recall_{c}"])), extremes[i], level, int(ok[f"n_{c}"].sum()))
    # every group left out of the UAR gap is named with its reason (a group without a class is never dropped silently)
    why, chosen = {}, set(eligible["group"])
    for r in table.loc[~table["group"].isin(chosen), ["group", "missing_classes", "too_small", "note"]].to_dict("records"):
        reasons = ([f"no {r['missing_classes']} items (its UAR averages over fewer classes)"] if r["missing_classes"] else []) + (
            [r["note"].split(";")[0]] if r["too_small"] else [])
        why[str(r["group"])] = "; ".join(reasons)
    out = {"uar": uar_gap, "recall": per_class, "excluded": list(why), "excluded_why": why}
    recall = table.set_index("group")  # each group's signed recall gap against the others (3+ groups), BH over the family
    if draws and (vs_rest := recall_vs_rest({c: {n: (float(recall.at[n, f"recall_{c}"]), v) for n, v in draws[i].items()}
                                             for i, c in enumerate(classes)}, level=level)):
        out["recall_vs_rest"] = vs_rest
    return out


FOOT_LINE_IN = 0.14  # height of one 7 pt footnote line, in inches
_FOOT_CHARS = 105  # characters of a 7 pt footnote line across the 6.5 in figure
_FOOT_GROUPS = 6  # groups whose notes a breakdown figure's footnote spells out; the rest are counted


def breakdown_footnote(table, metric: str = "") -> list[str]:
    """Lines under a breakdown figure: its ``metric``'s baseline check over the groups (:func:`baseline_check_line`),
    and what the "*" after a group's label means: that group's note."""
    check = baseline_check_line(table, metric) if metric else ""
    noted = [(str(g), str(note)) for g, note in zip(table["group"], table["note"]) if note]
    if not noted:
        return textwrap.wrap(check, _FOOT_CHARS, subsequent_indent="      ")
    lines = ([check] if check else []) + ["* this group has a note:"] + [f"  {g}: {note}" for g, note in noted[:_FOOT_GROUPS]]
    if len(noted) > _FOOT_GROUPS:
        lines.append(f"  … and {len(noted) - _FOOT_GROUPS} more of the {len(noted)} noted groups (all in metrics.json)")
    return [part for line in lines for part in textwrap.wrap(line, _FOOT_CHARS, subsequent_indent="      ")]


def group_label_layout(n_rows: int, height_in: float, *, largest: float = 9, smallest: float = 6) -> tuple[float, int]:
    """Font size of a breakdown's group labels, one per row over ``height_in`` inches, and which rows get one (every
    ``step``-th): the size that fits the row spacing (at most ``largest`` pt); below ``smallest`` pt, ``smallest`` pt
    labels on every ``step``-th row, so neighbours never overlap (40 speakers on a 5-inch axes: 6 pt, every other row)."""
    spacing_pt = 72 * height_in / max(n_rows, 1)
    fits = spacing_pt / 1.3  # a line of DejaVu Sans is about 1.2 em high, and a little air between
    if fits >= smallest:
        return min(largest, fits), 1
    return smallest, int(np.ceil(smallest / max(fits, 1e-9)))


def check_breakdown_columns(by: Sequence[str], columns: Sequence[str], *, source: str = "--by") -> None:
    """Refuse a breakdown column the results do not have: it used to be dropped without a word (issue #20, defect 3).

    ``columns``: the results table's columns; the manifest columns among them are the ones offered.
    """
    import difflib

    unknown = [c for c in by if c not in columns]
    if unknown:
        offered = [c for c in MANIFEST_COLUMNS if c in columns]
        # a misspelt column is named with its closest one, as a misspelt option or choice is (`--by spekaer`)
        close = [f"{c!r}: did you mean {m[0]!r}?" for c in unknown if (m := difflib.get_close_matches(c, offered, n=1))]
        # names, not Python lists: "by ['speakr'] … it has ['label', 'emotion', …]" read as a traceback's repr
        raise ConfigError(f"cannot break the results down by {', '.join(map(repr, unknown))}: not a manifest column of this run; "
                          f"it has {', '.join(offered)}." + (f" ({'; '.join(close)})" if close else ""),
                          source=source, fix=f"pass --by with some of: {', '.join(offered)}.")


def left_out_note(col: str, n: int) -> str:
    """The items a breakdown by ``col`` leaves out, said under it: its groups' counts add up to the rest only."""
    return f"{n} item{'s' if n != 1 else ''} without a {col} {'are' if n != 1 else 'is'} not in this breakdown."


def no_groups_note(col: str, n: int) -> str:
    """Why a breakdown by ``col`` has no groups: the column is there, but none of the ``n`` scored items fills it."""
    return (f"no breakdown: the column is empty for all {n} scored item{'s' if n != 1 else ''} "
            f"(fill {col} in the manifest, e.g. `workbench datasets prepare` does for corpora that have one).")


def unmapped_labels(ok, *, blank: bool = False) -> dict[str, int]:
    """The corpus labels of the ok rows that have no emotion (no counterpart among the model's classes): label → items.

    ``blank=True``: instead the labels of those rows that *are* one of the model's classes (its score columns): the
    manifest's emotion column is empty for them (a blank cell leaves an item out), which no head or mapping fixes."""
    if "label" not in ok.columns:
        return {}
    labels = text_values(ok.loc[text_values(ok["emotion"]) == "", "label"])
    own = set(score_labels(ok))
    counts = labels[(labels != "") & (labels.isin(own) == blank)].value_counts()
    return {str(k): int(v) for k, v in sorted(counts.items())}


def left_out_notes(rows, scored: int, what: str = "scored") -> list[str]:
    """What a figure over ``scored`` items of a variant's ``rows`` (all of them, failed ones too) leaves out, counted by
    cause (one note), or none when it leaves none out: ``calibrate`` printed "112 items" of a variant of 128 rows and said nothing
    of the 14 whose label has no counterpart among the model's classes and the 2 that failed (``metrics`` names both)."""
    status = rows["status"].astype(str) if "status" in rows.columns else None
    failed = int((status == "failed").sum()) if status is not None else 0
    ok = rows[status != "failed"] if status is not None else rows
    unmapped, blank = unmapped_labels(ok), unmapped_labels(ok, blank=True)
    no_label = int((text_values(ok["emotion"]) == "").sum()) - sum(unmapped.values()) - sum(blank.values()) if "emotion" in ok.columns else 0
    parts = ([f"{sum(unmapped.values())} with a label without a counterpart among the model's classes "
              f"({', '.join(f'{k} {v}' for k, v in unmapped.items())})"] if unmapped else []) + (
             [f"{sum(blank.values())} whose emotion column is empty"] if blank else []) + (
             [f"{no_label} without a label"] if no_label > 0 else []) + ([f"{failed} failed"] if failed else [])
    return [f"{scored} of the variant's {len(rows)} rows {what}; left out: {'; '.join(parts)}"] if parts else []
