"""Small shared helpers for writing results: JSON of numpy values, saving figures."""

from __future__ import annotations

from pathlib import Path

from workbench.files import write_figure


def figure_text(text: object) -> str:
    """A data string (a speaker, a label, a variant name) as plain text for a matplotlib figure.

    Matplotlib reads text between two ``$`` as mathtext; a label holding ``$\\frac{a}{$`` then fails
    to draw (or draws markup).  Every ``$`` is escaped, and control characters (NUL, newlines) are
    shown as escapes so one label stays on one line.
    """
    s = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in str(text))
    return s.replace("$", r"\$")


#: the name the calibration figures use for :func:`figure_text`
plain_text = figure_text


def save_figure(fig, path: str | Path | None = None, *, dpi: int = 110, layout: bool = True):
    """Lay out ``fig``; with ``path``, write it and close it. Returns the figure.

    ``layout=False`` keeps the margins the caller set (``fig.subplots_adjust``): ``tight_layout``
    draws the whole figure once more to measure its text, a quarter to a third of a figure's time.
    """
    if layout:
        fig.tight_layout()
    if path:
        fmt = Path(path).suffix.lstrip(".").lower() or "png"
        write_figure(path, fig, dpi=dpi, format=fmt)  # atomic, never through a link; closes the figure
    return fig
