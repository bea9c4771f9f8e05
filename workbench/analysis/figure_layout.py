"""How the analysis figures lay themselves out without drawing twice: a figure or the caller's axes, margins from the
labels' known sizes, whether level labels would run into each other (the confusion, reliability and breakdown figures)."""

from __future__ import annotations


def _axes(ax, figsize):
    """``(fig, ax)``: the given axes and its figure, or a new figure (scikit-learn's display convention)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    if ax is None:
        return plt.subplots(figsize=figsize)
    return ax.figure, ax


_CHAR_IN = 0.6 / 72  # average width of a character per point of font size, in inches (DejaVu Sans is ~0.6 em)


def _fixed_margins(fig, *, left_in: float, right_in: float, bottom_in: float, top_in: float) -> bool:
    """Margins from the labels' known sizes instead of ``tight_layout`` (which draws the figure twice); True when set.

    Only on a figure the plot made itself (one axes): a caller's figure keeps its own layout; it grows for a tall title.
    """
    w, h = fig.get_size_inches()[0], max(fig.get_size_inches()[1], top_in / 0.3)
    fig.set_size_inches(w, h)
    fig.subplots_adjust(left=min(left_in / w, 0.6), right=1 - min(right_in / w, 0.3),
                        bottom=min(bottom_in / h, 0.5), top=1 - min(top_in / h, 0.3))
    return True


def _labels_too_wide(ax, labels: list[str], spacing: float, *, fontsize: float) -> bool:
    """Whether the widest of ``labels``, written level, is wider than ``spacing`` (x data units) on ``ax``: neighbours'
    labels would overlap ("n=40n=12").  Estimated from the axes' size in inches, without drawing the figure."""
    if not labels:
        return False
    lo, hi = ax.get_xlim()
    width_in = ax.get_position().width * ax.figure.get_size_inches()[0]
    spacing_in = abs(spacing) / max(abs(hi - lo), 1e-12) * width_in
    return max(map(len, labels)) * fontsize * _CHAR_IN > 0.9 * spacing_in
