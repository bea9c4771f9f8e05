"""Where the workbench keeps what it generates: the cache root and the folders under it.

One place for the locations, so that the log router (base), the checkpoint code (model), the prediction
cache (engine) and the demo set (data) agree without importing each other.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir() -> Path:
    """Where the workbench keeps generated checkpoints, logs and caches (``$WORKBENCH_CACHE``).

    Defaults to ``$XDG_CACHE_HOME/emotion-workbench`` (``~/.cache/emotion-workbench``).
    """
    root = os.environ.get("WORKBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "emotion-workbench"
    )
    return Path(root)
