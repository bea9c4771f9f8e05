"""The wheel is a working tool on its own: ``.ci/wheel_check.sh`` builds it, installs it into a fresh
virtualenv outside the checkout, and runs ``workbench demo`` and a report from an empty folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO


def test_distribution_has_its_own_name_and_ships_templates_and_demo_data():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    meta = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["project"]["name"] == "emotion-workbench"  # "workbench" on PyPI is another project
    assert meta["project"]["scripts"] == {"workbench": "workbench.cli:console"}  # main(), then a quick end_process()
    data = meta["tool"]["setuptools"]["package-data"]
    assert "*.ipynb" in data["workbench.templates"] and "*.csv" in data["workbench.demo_data"]
    # the published config random checkpoints are sized from is data beside the code that reads it
    from workbench.model.generated import CONFIG_TEMPLATE

    assert CONFIG_TEMPLATE.name in data["workbench.model"] and CONFIG_TEMPLATE.parent.name == "model"
    from workbench.data import demoset
    from workbench.views import reporting
    # the package finds them inside itself, not in the repository's folders
    pkg = Path(reporting.__file__).parents[1]
    assert reporting.TEMPLATES == pkg / "templates" and demoset.DEMO_DATA == pkg / "demo_data"
    shipped = {p.name for p in demoset.DEMO_DATA.iterdir()}
    for row in demoset.shipped_rows():
        assert Path(row["path"]).name in shipped


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_checkout():
    env = {**os.environ, "VENV": sys.prefix}
    env.pop("PYTHONPATH", None)
    p = subprocess.run(["bash", str(REPO / ".ci" / "wheel_check.sh")], capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, (p.stdout[-3000:], p.stderr[-3000:])
    assert "wheel check passed" in p.stdout
