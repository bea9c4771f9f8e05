"""The long-audio figure: the frame-score heatmap above the merged timeline, with the model named and a colour per class.

Split from :mod:`workbench.runs.longform` (``plot_longform`` is re-exported there).  The title named no model, so a
head's labels read as the checkpoint's, and the timeline's ``tab10`` gave two of a 12-class head's classes one colour."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from workbench.data.cards import head_name
from workbench.errors import WorkbenchError
from workbench.labels import LABEL_KEYS
from workbench.model.checkpoints import read_training_card
from workbench.runs.dominant import dominant_test_words
from workbench.serialize import figure_text, fit_span_labels, save_figure


def span_colours(n: int) -> list:
    """``n`` distinct colours, one per class: tab10 up to 10, tab20 up to 20, else evenly spaced hues (each span is
    labelled with its class too)."""
    import matplotlib

    if n <= 10:
        return [matplotlib.colormaps["tab10"](i) for i in range(n)]
    if n <= 20:
        return [matplotlib.colormaps["tab20"](i) for i in range(n)]
    return [matplotlib.colors.hsv_to_rgb((i / n, 0.75, 0.45 + 0.4 * (i % 2))) for i in range(n)]


def model_words(model: Any) -> str:
    """Which model labelled the segments, for a title: its id, and for a head ``workbench finetune`` trained, that it
    is a head and its parent (RANDOM WEIGHTS where its card says so)."""
    model = model if isinstance(model, dict) else {}
    ident = model.get("path") or model.get("id")
    line = f"model: {model.get('id') or '?'}"
    try:
        card = read_training_card(str(ident)) if ident and Path(str(ident)).expanduser().is_dir() else None
    except (WorkbenchError, OSError):
        card = None
    if not isinstance(card, dict):
        return line
    parent = card.get("parent") if isinstance(card.get("parent"), dict) else {}
    return (f"model: head {head_name(str(ident))} fine-tuned from {parent.get('id') or 'a parent its card does not name'}"
            + (" (RANDOM WEIGHTS)" if parent.get("random_weights") else ""))


def plot_longform(result: Any, path: str | os.PathLike | None = None, *, axes=None):
    """Heatmap (time × nine emotions) above the merged timeline.

    ``axes``: two matplotlib axes (heatmap, timeline) sharing x, or None for a new figure.  Returns the
    figure.  (The notebook's clickable version is :class:`workbench.views.widgets.LongAudioTimeline`.)
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    heat = result.heatmap
    duration = len(heat) * result.grid_s
    labels = list((result.summary.get("model") or {}).get("labels") or LABEL_KEYS)  # the model's classes
    if len(labels) != heat.shape[1]:  # a summary that does not name the heatmap's classes: number them, never guess
        labels = [f"class {i}" for i in range(heat.shape[1])]
    if axes is None:
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(11, 4.2), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    else:
        ax1, ax2 = axes
        fig = ax1.figure
    im = ax1.imshow(np.ma.masked_invalid(heat.T), aspect="auto", interpolation="nearest", origin="lower", cmap="magma",
                    extent=(0, duration, -0.5, len(labels) - 0.5), vmin=0, vmax=1)
    # the bar sits in an inset just right of the heatmap: both rows keep one time axis, and tight_layout works
    fig.colorbar(im, cax=ax1.inset_axes((1.01, 0.0, 0.015, 1.0)), label="probability")
    # a head's labels are data ('$x^2$' is a legal class name): plain text, never mathtext ('$\\frac{$' failed the figure)
    ax1.set_yticks(range(len(labels)), [figure_text(lab) for lab in labels], fontsize=8)
    counts = result.summary.get("label_counts") or {}
    share = f" ({counts[result.dominant]} of {sum(counts.values())} segments)" if result.dominant in counts else ""  # its denominator
    share += f"\n{dominant_test_words(result.summary['dominant_test'], short=True)}" if result.summary.get("dominant_test") else ""
    flagged = bool(result.summary.get("random_weights") or result.summary.get("dominant_check"))
    ax1.set_title(("RANDOM WEIGHTS — " if result.summary.get("random_weights") else "")
                  + textwrap.fill(model_words(result.summary.get("model")), 150) + "\n"  # which model, a head's parent too
                  + f"frame scores on a {result.grid_s * 1000:.0f} ms grid; dominant: {figure_text(result.dominant or '—')}{share}"
                  + (f"\n{textwrap.fill('!! ' + figure_text(result.summary['dominant_check']), 150)}" if result.summary.get("dominant_check") else ""), fontsize=9,
                  color="crimson" if flagged else "black")  # a flagged title is crimson, as every figure's
    colors, spans = span_colours(len(labels)), []  # one colour per class (tab10 gave classes 0 and 10 one colour)
    for r in result.timeline.itertuples():
        low = bool(getattr(r, "at_or_under_uniform", False))
        colour = colors[labels.index(r.label)] if r.label in labels else "black"  # a label not among the classes: black
        ax2.add_patch(Rectangle((r.start, 0), r.end - r.start, 1, facecolor=colour, hatch="xx" if low else None, edgecolor="white"))
        spans.append((ax2.text((r.start + r.end) / 2, 0.5, figure_text(r.label) + (" ≤ 1/K" if low else ""), ha="center", va="center", fontsize=8, color="white"), r.start, r.end))
    ax2.set_ylim(0, 1)
    ax2.set_yticks([])
    ax2.set_xlim(0, max(duration, 1e-3))
    gap = (result.summary.get("config") or {}).get("merge_gap_s")  # the timeline's rule, on the figure as on the screen
    ref = result.summary.get("uniform_guess")
    # a line each: on one line the rules ran past both edges of the 11-inch figure ("ottom row: … 0 of")
    ax2.set_xlabel("time (s)" + (f"\nbottom row: neighbouring segments with the same label merged when < {gap:g} s apart"
                                 if isinstance(gap, (int, float)) and not isinstance(gap, bool) else "")
                   + (f"\nhatched (≤ 1/K): mean confidence at or under the uniform guess {ref:.3f}, "
                      f"{result.summary.get('spans_at_or_under_uniform', 0)} of {len(result.timeline)} spans" if ref else ""))
    fig.tight_layout()  # the bars' widths as drawn: then each label shortened to fit inside its bar, never over a neighbour
    fit_span_labels(ax2, spans)
    return save_figure(fig, path, layout=False)
