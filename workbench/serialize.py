"""Small shared helpers for writing results: JSON of numpy values, saving figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def json_default(o: Any):
    """``json.dumps(default=…)`` for numpy scalars, tuples and sets; anything else as its string."""
    if isinstance(o, (np.floating, np.integer, np.bool_)):
        return o.item()
    if isinstance(o, (tuple, set)):
        return list(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def save_figure(fig, path: str | Path | None = None, *, dpi: int = 110, layout: bool = True):
    """Lay out ``fig``; with ``path``, write it and close it. Returns the figure.

    ``layout=False`` keeps the margins the caller set (``fig.subplots_adjust``): ``tight_layout``
    draws the whole figure once more to measure its text, a quarter to a third of a figure's time.
    """
    if layout:
        fig.tight_layout()
    if path:
        import matplotlib.pyplot as plt

        fig.savefig(path, dpi=dpi)
        plt.close(fig)
    return fig
