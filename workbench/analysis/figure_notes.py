"""The checks of a metric in words, for every place that shows one: zero-width intervals, chance and majority
baselines, small classes and groups, never-predicted classes, the per-class table's lines and a flagged title.

Split from :mod:`workbench.analysis.groups` (which re-exports every name here): the per-group analysis and these words
no longer fitted one module.
"""

from __future__ import annotations

import textwrap
from typing import Sequence

from workbench.analysis.interval_rule import thin_note, thin_notes
from workbench.serialize import figure_text

#: a breakdown group, or a figure's items, below these are too few (see :mod:`workbench.analysis.groups`)
MIN_ITEMS = 20
MIN_PER_CLASS = 5


def zero_width_note(lo: float, hi: float, n: int) -> str:
    """Words for an interval that has no width (``lo == hi``), or ``""``.

    A resample of a group with one item per class (or one item) always draws the
    same items, so the percentile interval collapses onto the point value: that
    is not a measured certainty ([0.167, 0.167] from six one-item classes).  The
    point value may still be a measurement (0 right of 32 is one), but its
    uncertainty is not shown: an exact interval for 0 of 32 reaches 0.109.
    """
    if lo == lo and hi == hi and hi - lo == 0:
        return (f"zero-width interval [{lo:.3f}, {hi:.3f}] from {n} item(s): every resample gives the same value, so it shows "
                "no uncertainty where there is some (not a measured certainty)")
    return ""


def flat_interval_words(figures: Sequence[str], n: int) -> str:
    """The short form of :func:`zero_width_note` for a table's note: which figures' intervals have no width.

    It said "resampling cannot vary it" also of 0 right of 16 items, whose resamples do vary; they all
    give 0 (every item wrong), and that is a value with uncertainty an exact interval would show.
    """
    return f"zero-width interval ({', '.join(figures)}) from {n} item(s): every resample gives the same value, so no uncertainty is shown"


def ece_note(ece: float, ci: Sequence[float], n: int) -> str:
    """Words for an ECE whose bootstrap interval ``ci`` shows nothing of it, or ``""``: one of no width
    (:func:`zero_width_note`), or one that misses the point ``ece`` itself.  Binned ECE is biased upwards on small samples
    and a resample, with its repeated items, more so: its interval can sit above the point (``calibrate`` marks the same
    case in its table), so the interval is the spread, not a range for the value."""
    lo, hi = ci
    if zero_width_note(lo, hi, n):
        return zero_width_note(lo, hi, n)
    if ece == ece and lo == lo and hi == hi and not lo - 1e-12 <= ece <= hi + 1e-12:
        return (f"point outside its interval [{lo:.3f}, {hi:.3f}]: binned ECE is biased upwards on small samples and a resample "
                "more so, so the interval can miss the point; read it as the spread")
    return ""


def missing_class_note(counts: dict[str, int]) -> str:
    """Words for the classes with no item among ``counts`` (class → items), or ``""``.

    UAR is the mean recall over the classes that have items, so without some of them it averages over fewer classes
    and is not comparable with a UAR over all of them (nor with its chance level over all of them).
    """
    missing = [c for c, k in counts.items() if k == 0]
    if missing:
        return f"no {', '.join(missing)} items: UAR over {len(counts) - len(missing)} of {len(counts)} classes"
    return ""


def chance_uar(n_classes: int) -> float | None:
    """UAR of a uniform guess over ``n_classes`` scored classes; None with fewer than two (a guess of one class scores 1)."""
    return 1 / n_classes if n_classes >= 2 else None


def chance_words(classes: Sequence[str]) -> str:
    """A UAR's chance level over the scored ``classes`` in words, or why there is none (a single labelled class)."""
    chance = chance_uar(len(classes))
    if chance is None:
        return (f"no chance level: only one class ({', '.join(classes)}) is labelled, so UAR is its recall "
                "and a guess of it would score 1")
    return f"chance {chance:.3f} over {len(classes)} classes"


def not_scored_words(excluded: int, failed_errors: Sequence[str], unmapped: dict[str, int] | None = None,
                     blank: dict[str, int] | None = None) -> str:
    """Why no item is scored, with the fix for that cause: labels missing, the corpus's own labels (``unmapped``: label →
    items, none of them a class of the model), or inputs that failed (the first error named)."""
    text = f"no item is scored: {excluded} ok item(s) have no label the model's classes can score and {len(failed_errors)} failed."
    if len(failed_errors) and not excluded:  # every item failed: a label column would not help, their inputs need fixing
        first = next((str(e) for e in failed_errors if isinstance(e, str) and e), "")
        return (text + " Fix: fix the failed inputs, then run the same `workbench run` again with a new --out folder (a resume keeps a failed row's result); each row's error, with its own fix, "
                "is in the run's log.txt and results.parquet's error column" + (f" (the first: {first})" if first else "") + ".")
    if blank:  # labelled with the model's own classes, the emotion column left empty: filling it is the fix
        text += f" {blank_emotion_words(blank)} Fix: {BLANK_EMOTION_FIX}"
        if not unmapped:
            return text
    if unmapped:  # labelled, in the corpus's own words: a head for them, or a mapping onto the model's classes
        shown = ", ".join(f"{k} {v}" for k, v in list(unmapped.items())[:8]) + (" …" if len(unmapped) > 8 else "")
        return (text + f" {sum(unmapped.values())} of them are labelled, but their labels ({shown}) are none of the model's "
                "classes. Fix: train a head for them (`workbench finetune RUN --out DIR`, then `workbench run MANIFEST "
                "--model DIR`), or map them onto the model's classes in the manifest's emotion column.")
    return text + " Fix: give the manifest an emotion column (or a corpus label a loader maps) to measure WA, UAR, F1 and ECE."


def few_items_note(n: int) -> str:
    """Words for intervals drawn from fewer than :data:`MIN_ITEMS` items, or ``""``.  The minimum is the one a
    breakdown's group must reach: a percentile bootstrap of so few items draws from a handful of distinct resamples,
    so its interval is too narrow (it undercovers)."""
    if n >= MIN_ITEMS:
        return ""
    return (f"intervals from only {n} item(s) (< {MIN_ITEMS}, the minimum a breakdown group needs): a bootstrap "
            "of so few items is too narrow to trust, read them as a rough range")


def chance_flag(lo: float, hi: float, chance: float | None) -> str:
    """Words for a UAR interval ``[lo, hi]`` that does not clear the chance level ``chance``, or ``""``.

    Entirely below chance: "BELOW CHANCE, interval and all".  Reaching chance (``lo <= chance``): the figure cannot be
    told from a uniform guess, "AT CHANCE".  No chance level (one class) or no interval: nothing to say.
    """
    if chance is None or not (lo == lo and hi == hi):
        return ""
    if hi < chance:
        return "BELOW CHANCE, interval and all"
    if lo <= chance:
        return "AT CHANCE: the interval reaches it, so the figure cannot be told from a uniform guess"
    return ""


def majority_baseline(counts: dict[str, int]) -> tuple[str, int, int] | None:
    """The WA of always answering the largest class: ``(class, its items, all items)`` from ``counts`` (class → items),
    or None with fewer than two classes present (one class: the constant answer is right on every item)."""
    present = {c: int(k) for c, k in counts.items() if k}
    if len(present) < 2:
        return None
    top = max(present, key=lambda c: present[c])  # a tie: the first of them, whose share is the same
    return top, present[top], sum(present.values())


def majority_words(counts: dict[str, int]) -> str:
    """WA's baseline in words, ``majority baseline 0.800: always neutral, 40/50``, or ``""`` where there is none."""
    base = majority_baseline(counts)
    return "" if base is None else f"majority baseline {base[1] / base[2]:.3f}: always {base[0]}, {base[1]}/{base[2]}"


def majority_flag(lo: float, hi: float, counts: dict[str, int], stated: bool = False) -> str:
    """Words for a WA interval ``[lo, hi]`` that does not clear the majority baseline (the WA of answering the largest
    class of ``counts`` every time), or ``""``.  UAR's chance level is no baseline for WA: on 40 neutral items of 50, a
    model that always says neutral scores WA 0.800 and a WA of 0.780 [0.660, 0.880] shows nothing learned.
    ``stated``: the baseline's :func:`majority_words` stand beside the flag, which then does not say them again (as
    :func:`chance_flag` beside the chance level; metrics' WA line said "always happy, 15/52" twice)."""
    base = majority_baseline(counts)
    if base is None or not (lo == lo and hi == hi):
        return ""
    cls, k, n = base
    share = k / n
    if stated:
        return ("BELOW THE MAJORITY BASELINE, interval and all" if hi < share else
                "AT THE MAJORITY BASELINE: the interval reaches it, so the figure cannot be told from a constant guess"
                if lo <= share else "")
    if hi < share:
        return f"BELOW THE MAJORITY BASELINE, interval and all: always answering {cls} scores {share:.3f} ({k}/{n})"
    if lo <= share:
        return (f"AT THE MAJORITY BASELINE: the interval reaches {share:.3f}, the WA of always answering {cls} ({k}/{n}), "
                "so the figure cannot be told from a constant guess")
    return ""


def _short_note(note: str) -> str:
    """The short form of a per-class note for a figure's title: each part's words before their details, and for an
    interval from too few resamples its count (``recall of sad: interval from 677 of 1000 resamples``); cut at the
    first colon, the title ended on a bare "recall of sad" (the demo's confusion matrix)."""
    parts = []
    for part in note.split("; "):
        if part in ("read it as rough", "read them as rough"):  # the end of a thin interval's own words, not a note of its own
            continue
        head, _, rest = part.partition(": ")
        parts.append(f"{head}: {rest.split(' (')[0]}" if rest.startswith("interval from ") else head.split(" [")[0])
    return "; ".join(parts)


def flagged_title(text: str, flags: dict[str, str], *, width_in: float, fontsize: float = 11) -> str:
    """A figure's title ``text`` and, on a line of its own, ``!!`` with the short form of each flag (figure key → the
    screen's note: ``wa``, ``uar``, ``uar_chance`` …), every line wrapped to ``width_in`` inches at ``fontsize`` points."""
    short: dict[str, list[str]] = {}  # the note's words before its details ("zero-width interval"), the figures it flags
    for k, v in flags.items():
        short.setdefault(_short_note(v) if k in ("class_f1", "class_shares") else v.split(" [")[0].split(":")[0], []).extend([{**FIGURE_NAMES, "uar_chance": "UAR", "wa_majority": "WA", "ece": "ECE"}[k]] if k not in ("small_classes", "few_items", "never_predicted", "class_f1", "class_shares") else [])
    if short:
        # a note names classes, which are data (a head's '$x^2$'): plain text, never mathtext
        text += "\n!! " + figure_text("; ".join(f"{', '.join(names)}: {note}" if names else note for note, names in short.items()))
    return "\n".join(textwrap.fill(line, max(20, int(width_in / (fontsize * 0.6 / 72)))) for line in text.split("\n"))


def small_class_note(support: dict[str, int], *, min_per_class: int = MIN_PER_CLASS) -> str:
    """Words for the classes with fewer than ``min_per_class`` (but some) items, or ``""``.

    Their recall is a handful of coin flips, and a bootstrap resample that leaves one of them out averages UAR over
    fewer classes: the interval can sit on one side of the estimate.
    """
    small = [c for c, k in support.items() if 0 < k < min_per_class]
    if small:
        shown = ", ".join(small[:10]) + (f" and {len(small) - 10} more" if len(small) > 10 else "")  # 10,000 names were one line
        return f"{len(small)} class(es) with fewer than {min_per_class} items ({shown}): their recall and F1 are anecdotes"
    return ""


def never_predicted_note(per_class: dict[str, dict]) -> str:
    """Words for the classes with items that the model never predicted (precision 0/0: undefined, not 0), or ``""``."""
    never = [c for c, v in per_class.items() if v.get("support") and v.get("predicted") == 0]
    if never:
        shown = ", ".join(never[:10]) + (f" and {len(never) - 10} more" if len(never) > 10 else "")
        return (f"{len(never)} class(es) never predicted ({shown}): their precision is 0/0, undefined (shown as —, "
                "not 0), and their recall is 0 by construction")
    return ""


def share_text(value: float, ci: Sequence[float], k: int, n: int) -> str:
    """A share beside its exact interval and its fraction, ``0.750 [0.409, 0.969] 6/8``; ``— (0/0)`` for none."""
    if not n:
        return f"— ({k}/{n})"
    return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] {k}/{n}"


def f1_text(v: dict) -> str:
    """A class's F1 beside its bootstrap interval, ``0.667 [0.400, 0.857]`` (the value alone where it has none)."""
    lo, hi = v.get("f1_ci") or (float("nan"), float("nan"))
    return f"{v['f1']:.3f} [{lo:.3f}, {hi:.3f}]" if lo == lo and hi == hi else f"{v['f1']:.3f}"


def class_f1_note(per_class: dict[str, dict], n: int) -> str:
    """Words for per-class F1 intervals that show less than they seem, or ``""``: the headline intervals' rules, as
    they come from the same resamples of the same ``n`` items: fewer than :data:`MIN_ITEMS` items, no width, and under
    90 % of the resamples (F1 undefined where the class is neither present nor predicted: ``f1_resamples``)."""
    flat = [c for c, v in per_class.items() if v.get("f1_ci") and zero_width_note(*v["f1_ci"], n)]
    words = [flat_interval_words([f"F1 of {', '.join(flat)}"], n)] if flat else []
    words += [w] if (w := thin_notes([(f"F1 of {c}", v.get("f1_resamples")) for c, v in per_class.items()])) else []
    return "; ".join(words + [few_items_note(n)] * bool(few_items_note(n)))


def class_share_note(per_class: dict[str, dict]) -> str:
    """Words for per-class precision and recall intervals that show less than they seem, or ``""``: intervals of no
    width (a class recalled 35 of 35 in every resample of the speakers reads "1.000 [1.000, 1.000]", a certainty no
    one measured: the exact interval over those items reaches 0.900), as F1's are flagged (:func:`class_f1_note`), and
    intervals over speakers resting on under 90 % of their resamples (``precision_resamples``, ``recall_resamples``:
    precision is undefined where a resample of the speakers never predicts the class, recall where it holds none of
    it); the exact intervals over items drop nothing and never collapse."""
    flat = [f"{what} of {c}" for c, v in per_class.items() for what in ("precision", "recall")
            if None not in (v.get(f"{what}_ci") or [None]) and zero_width_note(*v[f"{what}_ci"], 0)]  # a card's null: none
    words = ([f"zero-width interval ({', '.join(flat)}): every resample of the speakers gives the same value, so no "
              "uncertainty is shown (not a measured certainty)"] if flat else [])
    # a figure undefined on all the items (a class never predicted: precision 0/0, shown as —) has no interval to
    # call rough: "interval from 0 of 1000 resamples" under a "—" repeated the never-predicted note as a contradiction
    thin = thin_notes([(f"{what} of {c}", v.get(f"{what}_resamples")) for c, v in per_class.items() for what in ("precision", "recall")
                       if v.get(what) == v.get(what)])
    return "; ".join([thin] * bool(thin) + words)


def class_heads(unit: dict | None) -> tuple[str, str, str]:
    """The per-class table's column heads, each with what its interval is over where ``unit`` (the headline's
    ``ci_unit``) is known: "precision [95% CI] hits/predicted" with the unit a line below read as items."""
    if not unit:
        return "precision [95% CI] hits/predicted", "recall [95% CI] hits/n", "F1 [95% bootstrap CI]"
    if unit.get("unit") == "speaker":
        over = f"95% CI, {unit.get('short') or str(unit['clusters']) + ' speakers'}, {unit.get('interval', 'percentile').replace(' percentile', '')}"
        return f"precision [{over}] hits/predicted", f"recall [{over}] hits/n", f"F1 [{over}]"
    return ("precision [95% exact CI over items] hits/predicted", "recall [95% exact CI over items] hits/n",
            "F1 [95% bootstrap CI over items]")


def class_lines(per_class: dict[str, dict], n: int = MIN_ITEMS, unit: dict | None = None) -> list[str]:
    """The per-class table of ``workbench metrics``: precision and recall with their exact 95 % intervals and fractions,
    F1 with its bootstrap interval (the resamples of macro-F1's), and what those intervals fail (``n``: items scored);
    ``unit`` (the headline's ``ci_unit``): the heads say what the intervals are over (:func:`class_heads`)."""
    # F1 as the flags under the table and the page name it (the head said 'f1'); the class column as wide as its longest
    # name ('disappointed' pushed its row's figures out from under their heads)
    w = max([10, *(len(str(c)) for c in per_class)])
    heads = class_heads(unit)
    wp, wr = max(34, len(heads[0]) + 1), max(34, len(heads[1]) + 1)
    lines = [f"  {'class':<{w}} {heads[0]:<{wp}} {heads[1]:<{wr}} {heads[2]}"]
    for c, v in per_class.items():
        prec = share_text(v["precision"], v["precision_ci"], v["hits"], v["predicted"])
        rec = share_text(v["recall"], v["recall_ci"], v["hits"], v["support"])
        lines.append(f"  {c:<{w}} {prec:<{wp}} {rec:<{wr}} {f1_text(v)}")
    return (lines + ([f"  !! per-class F1: {note}"] if (note := class_f1_note(per_class, n)) else [])
            + ([f"  !! per-class precision and recall: {note}"] if (note := class_share_note(per_class)) else []))


#: the headline figures and how a flag names them
FIGURE_NAMES = {"wa": "WA", "uar": "UAR", "macro_f1": "macro-F1"}
#: the figures a breakdown shows of each group (screen, metrics.json, figure, page): its macro-F1 is in the table only
SHOWN_FIGURES = ("wa", "uar")


def blank_emotion_words(blank: dict[str, int]) -> str:
    """Why items labelled with the model's own classes are not scored (:func:`unmapped_labels` ``blank=True``); the fix
    is :data:`BLANK_EMOTION_FIX`."""
    shown = ", ".join(f"{k} {v}" for k, v in list(blank.items())[:8]) + (" …" if len(blank) > 8 else "")
    return (f"{sum(blank.values())} item(s) are labelled with the model's own classes ({shown}), but their emotion cell is "
            "empty: a manifest with an emotion column reads each item's class there, and a blank cell leaves the item out.")


#: the fix of :func:`blank_emotion_words`
BLANK_EMOTION_FIX = "fill those cells with the label (or drop the emotion column: it is then read from label) and score again."


def figure_flags(ci: dict, n: int, counts: dict[str, int]) -> list[str]:
    """The failing checks of headline figures, in words, as ``workbench metrics`` applies them: classes with no item
    (UAR over fewer), a WA interval that does not clear the majority baseline, a UAR interval that does not clear chance
    over the classes present, an interval of no width, classes
    with too few items, intervals from fewer than 20 items.  ``ci``: ``{"wa" | "uar" | "macro_f1": (lo, hi)}`` over ``n``
    items; ``counts``: items per class (every class the figures are over, 0 for one the items lack).  ``run``'s closing line and ``finetune``'s figures
    carry these beside their numbers."""
    present = [c for c, k in counts.items() if k]
    flags = [missing_class_note(counts)]
    if "wa" in ci:
        flags.append(f"WA {below}" if (below := majority_flag(*ci["wa"], counts)) else "")
    if "uar" in ci:
        below = chance_flag(*ci["uar"], chance_uar(len(present)))
        flags.append(f"UAR {below} ({chance_words(present)})" if below else "")
    for m, name in FIGURE_NAMES.items():
        note = zero_width_note(*ci[m], n) if m in ci else ""
        flags.append(f"{name}: {note}" if note else "")
    flags.append(small_class_note(counts))
    flags.append(few_items_note(n) if n else "")  # metrics says it under its intervals; run's line and finetune did not
    return [f for f in flags if f]


def group_baseline_flags(row: dict, counts: dict[str, int], stated: bool = False) -> dict[str, str]:
    """The headline's two baseline checks applied to one group of a breakdown, as words for each that fails: its WA
    interval against its own majority baseline (always answering its largest class) and its UAR interval against
    chance over the classes it has.  A group's WA 0.000 [0.000, 0.000] of 22 items was printed without either, while
    the same figure over the run said BELOW CHANCE and BELOW THE MAJORITY BASELINE.  ``stated``: beside the baselines
    (:func:`group_baselines`), the verdicts without them."""
    present = [c for c, k in counts.items() if k]
    out = {}
    if wa := majority_flag(row["wa_lo"], row["wa_hi"], counts, stated):
        out["wa"] = f"WA {wa}"
    if uar := chance_flag(row["uar_lo"], row["uar_hi"], chance_uar(len(present))):
        out["uar"] = f"UAR {uar}" + ("" if stated else f" ({chance_words(present)})")
    return out


def group_baselines(counts: dict[str, int]) -> dict[str, str]:
    """One group's two baselines in words, passing or not, as the headline shows them always: its WA's majority
    baseline (none with one class) and its UAR's chance level (a group's check was said only when it failed)."""
    present = [c for c, k in counts.items() if k]
    return {"wa": majority_words(counts), "uar": chance_words(present) if present else ""}


def baseline_check_line(table, metric: str, *, what: str = "group") -> str:
    """A breakdown figure's words for its ``metric``'s baseline check over every shown group, passing too ("" for
    macro-F1, which has none).  ``table``: rows with ``too_small`` and the failures ``wa_majority``/``uar_chance``."""
    flag, words = {"wa": ("wa_majority", f"WA against each {what}'s own majority baseline (always its largest class)"),
                   "uar": ("uar_chance", f"UAR against chance over the classes each {what} has")}.get(metric, ("", ""))
    shown = [not bool(small) for small in table["too_small"]] if flag and flag in table else []
    if not any(shown):
        return ""
    failing = sum(1 for ok, f in zip(shown, table[flag]) if ok and f)
    return (f"{words}: {sum(shown) - failing} of {sum(shown)} {what}s clear it" + (f" (the {failing} that do not are noted *)"
            if failing else "") + "; each one's baseline in metrics.json.")
