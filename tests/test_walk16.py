"""walk16: a fine-tuned head carried through every command, read on a page 800 px wide."""

from __future__ import annotations

import json
from pathlib import Path


def _fusion_payload(checks: int) -> dict:
    """A fusion.json as `workbench fuse` writes it, with ``checks`` long failed checks (a head of a random checkpoint
    evaluated on the speakers that trained it: the demo set's fusion figure had 7 such lines)."""
    metrics = {m: {"uar": 0.3 + 0.1 * k, "uar_ci": [0.2 + 0.1 * k, 0.45 + 0.1 * k]}
               for k, m in enumerate(("head", "speech", "text", "early", "late"))}
    long = ("WA 0.519 [0.261, 0.857]: AT THE MAJORITY BASELINE: the interval reaches 0.308, the WA of always answering "
            "bright (16/52), so the figure cannot be told from a constant guess")
    return {"folds": 5, "n_items": 52, "classes": ["bright", "calm", "low", "tense"], "metrics": metrics,
            "random_weights": True, "checks": [f"check {k}: {long}" for k in range(checks)]}


def test_the_fusion_figures_check_lines_are_readable_and_overlap_neither_the_bars_nor_each_other():
    """The fusion figure's check lines were 7 pt (about 10 px on the page): unreadable beside every other figure's 9-10 pt."""
    from workbench.analysis.fusion import plot_fusion

    fig = plot_fusion(_fusion_payload(6))
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    title = ax.title
    assert title.get_fontsize() >= 9, title.get_fontsize()
    box, axes_box, fig_box = title.get_window_extent(renderer), ax.get_window_extent(renderer), fig.bbox
    assert box.y0 >= axes_box.y1 - 1, (box, axes_box)  # the lines stand above the bars' frame, not over it
    assert box.x0 >= fig_box.x0 and box.x1 <= fig_box.x1 and box.y1 <= fig_box.y1, (box, fig_box)  # and inside the figure
    assert axes_box.height / fig.dpi >= 2.0, axes_box.height / fig.dpi  # the bars keep their room however many checks
    for line in title.get_text().split("\n"):
        assert len(line) <= 80, line


def test_the_most_different_items_table_breaks_long_ids_after_their_underscores():
    """The checkpoint comparison's "Most different items" table (12 columns) was 816-830 px wide in the 768 px column
    of an 800 px window: its ids (angry_en_48k_stereo) could not break, so the embedding cosine sat behind a scroll bar."""
    from workbench.views.html import breakable_paths

    page = breakable_paths("<table><tr><td>angry_en_48k_stereo</td><td>a_b</td><td>__init__</td><td>happy &amp; sad</td></tr></table>")
    assert "<td>angry_<wbr>en_<wbr>48k_<wbr>stereo</td>" in page
    assert "<td>a_b</td>" in page and "<td>__init__</td>" in page and "<td>happy &amp; sad</td>" in page  # short, edge and prose cells as they were
