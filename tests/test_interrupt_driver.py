"""The interrupt driver (``tests/interrupt_driver.py``) on two quick commands: every stop it makes passes its checks.

The driver Ctrl-Cs every CLI command at a spread of moments (start-up, evenly over its duration, SIGTERM, a second
Ctrl-C during the cleanup) and checks the exit status, the one line on stderr, the files left and the rerun; the full
sweep over every command runs by hand (its docstring); this keeps the driver itself working.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO


@pytest.mark.slow
def test_the_driver_stops_manifest_and_import_hf_at_every_moment_without_a_problem(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "tests" / "interrupt_driver.py"), "--root", str(tmp_path),
                           "--only", "manifest,import-hf", "--moments", "3", "--reruns", "1"],
                          capture_output=True, text=True, timeout=900, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert {r["command"] for r in records} == {"manifest", "import-hf"}
    stopped = [r for r in records if not r.get("ended_first")]
    assert len(stopped) >= 4, done.stdout
    assert all(r["problems"] == [] for r in stopped), [(r["command"], r["moment"], r["signal"], r["problems"]) for r in stopped if r["problems"]]


@pytest.mark.slow
def test_the_driver_stops_import_emobox_import_lhotse_listeners_and_model_info_without_a_problem(tmp_path):
    """The commands the driver had not covered (round thirteen): every stop exits 130/143 with one line and no half file."""
    names = ("import-emobox", "import-lhotse", "listeners", "model-info")
    done = subprocess.run([sys.executable, str(REPO / "tests" / "interrupt_driver.py"), "--root", str(tmp_path),
                           "--only", ",".join(names), "--moments", "3", "--reruns", "1"],
                          capture_output=True, text=True, timeout=1800, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert {r["command"] for r in records} == set(names), done.stdout
    stopped = [r for r in records if not r.get("ended_first")]
    assert {r["command"] for r in stopped} == set(names), done.stdout
    assert all(r["problems"] == [] for r in stopped), [(r["command"], r["moment"], r["signal"], r["problems"]) for r in stopped if r["problems"]]
