"""``python -m workbench``: the ``workbench`` command (as ``python -m workbench.cli``)."""

from workbench.cli import console

if __name__ == "__main__":  # imported (pdoc, make docs) it runs nothing
    console()
