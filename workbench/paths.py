"""Where the workbench keeps what it generates: the cache root and the folders under it.

One place for the locations, so that the log router (base), the checkpoint code (model), the prediction
cache (engine) and the demo set (data) agree without importing each other.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

__all__ = ["cache_dir", "shell_command"]


def cache_dir() -> Path:
    """Where the workbench keeps generated checkpoints, logs and caches (``$WORKBENCH_CACHE``).

    Defaults to ``$XDG_CACHE_HOME/emotion-workbench`` (``~/.cache/emotion-workbench``).
    """
    root = os.environ.get("WORKBENCH_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "emotion-workbench"
    )
    return Path(root)


def shell_command(*words: object) -> str:
    """A command line for the user to paste into a shell: each word ``shlex.quote``-d, so that a path with a space
    (``models/cremad head``) stays one argument.  Placeholders in capitals (``MANIFEST``) and options pass unchanged;
    ``run_dir=PATH`` is quoted whole, which the shell reads as the same single word."""
    return " ".join(shlex.quote(str(word)) for word in words)
