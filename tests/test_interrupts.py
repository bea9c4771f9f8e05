"""Ctrl-C stops every command at every moment: exit 130, one line, no traceback; a resumed run equals an uninterrupted one.

Each case starts ``python -m workbench.cli …`` in its own process group and sends SIGINT to the group
(as a terminal's Ctrl-C does) at a given moment.  A command that has already finished by then is not
signalled (its moment is past the command's end).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPO

FAST_MOMENTS = (0.1, 1.5, 3.0)
ALL_MOMENTS = (0.1, 0.3, 0.6, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0)


def interrupt_at(argv: list[str], moment: float, cwd: Path, timeout: float = 300) -> tuple[int | None, str]:
    """Run the CLI, SIGINT its process group at ``moment`` seconds; (exit status, stderr), status None if it ended first."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", *argv], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        proc.wait(timeout=moment)
        ended_first = True
    except subprocess.TimeoutExpired:
        ended_first = False
        os.killpg(proc.pid, signal.SIGINT)
        sent = time.monotonic()
        try:  # a process already in its exit system call when the signal came ends 0 at once: it ended first
            ended_first = proc.wait(timeout=0.05) == 0 and time.monotonic() - sent < 0.05
        except subprocess.TimeoutExpired:
            pass
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        pytest.fail(f"{argv[0]} did not stop within {timeout} s of SIGINT at {moment} s")
    return (None if ended_first else proc.returncode), err.decode("utf-8", "replace")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    import soundfile as sf

    from conftest import speech_like
    from workbench.data.manifest import Item, Manifest, write_manifest

    root = tmp_path_factory.mktemp("sigint")
    (root / "audio").mkdir()
    items = []
    for i in range(24):
        sf.write(root / "audio" / f"c{i:02d}.wav", speech_like(16000, 2.0, seed=i), 16000)
        items.append(Item(id=f"c{i:02d}", path=f"audio/c{i:02d}.wav", label="happy", emotion="happy", speaker=f"s{i % 3}"))
    return root, write_manifest(Manifest(items, root=root), root / "manifest.csv")


@pytest.fixture(scope="module")
def uninterrupted(corpus, tiny_model, tmp_path_factory):
    from workbench.runs.driver import run

    root, manifest = corpus
    out = tmp_path_factory.mktemp("sigint_clean") / "run"
    run(manifest, out_dir=out, model=tiny_model, use_cache=False, chunk_size=2)
    return pd.read_parquet(out / "results.parquet")


def _before_the_handler_was_installed(rc, err) -> bool:
    """SIGINT while the interpreter itself starts, before the package's first line: Python's own exit.

    Python then dies of the signal (status -2, shown as 130 by a shell) or, inside ``site``, with
    "Fatal Python error: init_import_site" (status 1).  Neither can happen once the package's first
    line ran: from there every Ctrl-C ends in exit 130 (the early handler, then :mod:`workbench.interrupts`).
    """
    return rc == -signal.SIGINT or (rc == 1 and "init_import_site" in err and "interrupted" not in err)


def _check(rc, err, command, moment):
    if rc is None or _before_the_handler_was_installed(rc, err):
        return False
    assert rc == 130, f"{command} at {moment} s: exit {rc}\n{err[-2000:]}"
    assert "interrupted" in err and "Traceback" not in err, f"{command} at {moment} s:\n{err[-2000:]}"
    if command == "run":
        assert "resumes where it stopped" in err
    return True


def _same_rows(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert list(a["id"]) == list(b["id"])
    cols = [c for c in a.columns if c.startswith("score_")]
    np.testing.assert_allclose(a[cols].to_numpy(float), b[cols].to_numpy(float), atol=1e-5)


def _run_case(command, moment, corpus, uninterrupted, tmp_path):
    root, manifest = corpus
    out = tmp_path / f"{command}_{moment}"
    argv = {
        # run: float32, so that the resumed rows can equal the uninterrupted float32 run's (infer keeps the default,
        # auto, whose first measurement and export are moments a Ctrl-C must stop too)
        "run": ["run", str(manifest), "--out", str(out), "--model", "tiny", "--no-cache", "--chunk", "2", "--dtype", "float32"],
        "infer": ["infer", "--model", "tiny", "--out", str(out), *[str(p) for p in sorted((root / "audio").glob("*.wav"))[:8]]],
        "report": ["report", "experiment_report", "-p", f"run_dir={tmp_path / 'no_such_run'}", "--out", str(out)],
    }[command]
    rc, err = interrupt_at(argv, moment, tmp_path)
    signalled = _check(rc, err, command, moment)
    if command == "run" and signalled:
        env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
        done = subprocess.run([sys.executable, "-m", "workbench.cli", *argv], cwd=tmp_path, env=env, capture_output=True, timeout=600)
        assert done.returncode == 0, done.stderr.decode()[-2000:]
        _same_rows(pd.read_parquet(out / "results.parquet"), uninterrupted)
    return signalled


@pytest.mark.slow
@pytest.mark.parametrize("command", [pytest.param("run", marks=pytest.mark.slow_ci), "infer"])
def test_sigint_at_three_moments_exits_130_and_the_run_resumes_to_the_same_rows(command, corpus, uninterrupted, tmp_path):
    signalled = [_run_case(command, m, corpus, uninterrupted, tmp_path) for m in FAST_MOMENTS]
    assert any(signalled), "no moment found the command running"


@pytest.mark.slow
@pytest.mark.parametrize("command", ["run", "infer", "report"])
def test_sigint_at_every_moment_from_0_1_to_5_s(command, corpus, uninterrupted, tmp_path):
    signalled = [_run_case(command, m, corpus, uninterrupted, tmp_path) for m in ALL_MOMENTS]
    assert sum(signalled) >= 1
