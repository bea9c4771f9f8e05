"""The item tables of a comparison of runs, as a reader sees them: the items that differ most, and the label flips.

``disagreements.csv``, ``flips.csv`` and ``comparison.json`` keep the stable column keys (``run_a``, ``pred_b``,
``tvd`` …); the screen and the report page head the same columns in words (:data:`ITEM_HEADS`) and say under the
table what the distances measure (:data:`DISTANCE_WORDS`).
"""

from __future__ import annotations

from workbench.analysis.compare.figures import _distance
from workbench.errors import html_text, printable_table
from workbench.schema import text_values

#: the most-different table's columns as the screen and the report page head them (the files keep the keys)
ITEM_HEADS = {"run_a": "run 1", "run_b": "run 2", "variant": "variant", "id": "item", "emotion": "true label",
              "pred_a": "top-1 label, run 1", "confidence_a": "confidence, run 1", "pred_b": "top-1 label, run 2",
              "confidence_b": "confidence, run 2", "tvd": "TVD of the score vectors", "max_abs_delta": "largest |Δ score|",
              "cosine": "embedding cosine"}

#: what the two distance columns measure, said under the table
DISTANCE_WORDS = ("TVD: total variation distance between the two runs' score vectors of the item, ½ Σ |p − q| over the "
                  "classes (0: the same scores, 1: no class in common); largest |Δ score|: the one class whose score moved most")

#: the columns the screen shows (the page adds each run's confidence and the embedding cosine)
SCREEN_COLUMNS = ["run_a", "run_b", "variant", "id", "emotion", "pred_a", "pred_b", "tvd", "max_abs_delta"]
PAGE_COLUMNS = ["run_a", "run_b", "variant", "id", "emotion", "pred_a", "confidence_a", "pred_b", "confidence_b", "tvd",
                "max_abs_delta", "cosine"]

#: rows of the label flips table in the HTML (flips.csv holds them all)
FLIPS_SHOWN = 50


def disagreement_lines(items, shown, differing: int, top: int) -> list[str]:
    """The screen's most-different table: ``shown`` (:meth:`RunsComparison.disagreements`) of ``items`` (every paired
    row), ``differing`` of them with other scores per pair; headed in words, the distances said under it."""
    total = int(items.groupby(["run_a", "run_b", "variant"], sort=False).size().max())
    if not len(shown):
        return [f"most different items: none; all {total} paired items have the same scores (TVD 0)"]
    table = shown[SCREEN_COLUMNS].copy()
    table["emotion"] = _true_labels(table["emotion"])
    for c in SCREEN_COLUMNS[1:7]:  # the text columns after the first: a space before each cell, as before its head
        table[c] = [f" {v}" for v in text_values(table[c])]
    disjoint = "; n/a between runs with no class in common, their items in order" if shown["tvd"].isna().any() else ""
    return [f"most different items ({differing} of the {total} paired items per pair have other scores; the {min(top, differing)} "
            f"with the largest total variation distance{disjoint}):",
            # heads of several words: two spaces between the columns, or "run 1 run 2" reads as one head
            printable_table(table.rename(columns={c: ("" if k == 0 else " ") + ITEM_HEADS[c] for k, c in enumerate(SCREEN_COLUMNS)}),
                            index=False, float_format=_distance, na_rep="n/a", text_left=True),
            f"  {DISTANCE_WORDS}"]


def disagreement_html(shown, top: int) -> str:
    """The report page's most-different table (``shown``: at most ``top`` rows per pair), headed in words."""
    table = shown[PAGE_COLUMNS].copy()
    table["emotion"] = _true_labels(table["emotion"])
    table[["tvd", "max_abs_delta"]] = table[["tvd", "max_abs_delta"]].map(_distance)  # 3e-8 is not 0.0000
    return (f"<h3>Most different items (top {top} per pair, by total variation distance)</h3>"
            + table.rename(columns=ITEM_HEADS).to_html(index=False, escape=True, float_format=lambda x: f"{x:.4f}", na_rep="n/a")
            + f"<p>{html_text(DISTANCE_WORDS)}.</p>")


def _true_labels(column):
    """Each item's true label, ``—`` where it has none (the cell was left blank, as if a value were missing)."""
    return text_values(column).replace("", "—")


def flips_html(flips, shown: int = FLIPS_SHOWN) -> str:
    """``shown`` label flips (each pair of runs in turn) as a table that fits a report page: each prediction beside its confidence, the
    pair as "A → B", fixed/broke in one column (— for an item without a label), the findings broken at their commas
    and no path (flips.csv has every column).  Headed in words as the most-different table is: a pair's first and
    second run are "run 1" and "run 2" (the heads said "pred A", "pred B" over the rows of the pair A → C too)."""
    import pandas as pd

    def change(fixed, broke) -> str:
        if fixed is None or fixed != fixed:
            return "—"
        return "fixed" if fixed else ("broke" if broke else "wrong in both")

    # every pair of runs gets its turn (the first 50 in file order were all A → B when three runs were compared)
    turn = flips.groupby(["run_a", "run_b", "variant"], sort=False).cumcount() if len(flips) else pd.Series(dtype=int)
    head = flips.assign(_turn=turn.to_numpy()).sort_values("_turn", kind="stable").head(shown) if len(flips) else flips
    pairs = flips.groupby(["run_a", "run_b", "variant"], sort=False).ngroups if len(flips) else 0
    table = pd.DataFrame({
        "item": head["id"].astype(str), "variant": head["variant"].astype(str),
        "runs 1\u00a0→\u00a02": [f"{a}\u00a0→\u00a0{b}" for a, b in zip(head["run_a"], head["run_b"])],  # kept on one line
        "true label": _true_labels(head["emotion"]),
        "top-1 label, run 1 (confidence)": [f"{p} ({c:.3f})" for p, c in zip(head["pred_a"], head["confidence_a"])],
        "top-1 label, run 2 (confidence)": [f"{p} ({c:.3f})" for p, c in zip(head["pred_b"], head["confidence_b"])],
        "against the label": [change(f, b) for f, b in zip(head["fixed"], head["broke"])],
        **{f"findings, run {k}": text_values(head[f"findings_{x}"]).str.replace(",", ", ", regex=False)
           for k, x in ((1, "a"), (2, "b"))},
    })
    note = (f"<p>showing {shown} of {len(flips)}{f', the pairs of runs in turn ({pairs} pairs)' if pairs > 1 else ''}; "
            "flips.csv has them all, with each item's path.</p>" if len(flips) > shown else "<p>each item's path is in flips.csv.</p>")
    return note + table.to_html(index=False, escape=True)
