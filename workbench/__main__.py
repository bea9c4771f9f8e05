"""``python -m workbench``: the ``workbench`` command (as ``python -m workbench.cli``)."""

from workbench.cli import console

console()
