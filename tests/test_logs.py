"""Third-party log lines, warnings and progress bars stay off the screen (they go to the log file)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings

import soundfile as sf

from conftest import REPO, speech_like


def test_cli_infer_stderr_has_only_the_workbenchs_own_lines(tmp_path):
    wav = tmp_path / "a.wav"
    sf.write(wav, speech_like(16000, 1.5), 16000)
    log = tmp_path / "cli.log"
    env = {**os.environ, "PYTHONPATH": str(REPO), "WORKBENCH_LOG": str(log)}
    # float32: the PyTorch path loads FunASR, whose own lines are what must stay off the screen
    p = subprocess.run([sys.executable, "-m", "workbench.cli", "infer", str(wav), "--model", "tiny", "--device", "cpu", "--dtype", "float32",
                        "--out", str(tmp_path / "out")], capture_output=True, text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    for noise in ("trust_remote_code", "WARNING root", "scope_map", "Loading ckpt", "INFO"):
        assert noise not in p.stderr, p.stderr
    assert p.stdout.count("RANDOM WEIGHTS") == 1  # the banner, once
    assert "RANDOM WEIGHTS" not in p.stderr
    # …and the log file has the records, the banner's too (third-party records: see the next test)
    text = log.read_text(encoding="utf-8")
    assert "WARNING workbench.model.network: RANDOM WEIGHTS" in text


def test_route_logs_sends_third_party_records_and_warnings_to_the_file(tmp_path, capfd):
    from workbench.logs import log_file, route_logs

    root = logging.getLogger()
    before = list(root.handlers)
    try:
        path = route_logs(tmp_path / "x.log", verbose=True)
        assert log_file() == path
        logging.getLogger("funasr.something").warning("third-party noise")
        logging.warning("root noise")
        warnings.warn("a library's UserWarning")
        logging.getLogger("workbench.runs.driver").info("own line")
        logging.getLogger("workbench.runs.driver").warning("own warning")
        err = capfd.readouterr().err
        assert "own line" in err and "warning: own warning" in err
        assert "noise" not in err and "UserWarning" not in err
        text = path.read_text(encoding="utf-8")
        assert "third-party noise" in text and "root noise" in text and "a library's UserWarning" in text and "own line" in text
        # a second call replaces the first: one file handler, one console handler of ours
        route_logs(tmp_path / "y.log")
        ours = [h for h in root.handlers if getattr(h, "_workbench_route", False)]
        assert len(ours) == 2 and log_file() == tmp_path / "y.log"
    finally:
        for h in list(root.handlers):
            if h not in before:
                root.removeHandler(h)
                h.close()
        logging.captureWarnings(False)
