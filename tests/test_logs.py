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


def test_the_run_bar_into_a_pipe_prints_whole_lines_not_redraws(tmp_path):
    """`workbench run … 2>&1 | cat` got one long line of carriage-return redraws of the `run:` bar."""
    rows = ["id,path"]
    for i in range(3):
        sf.write(tmp_path / f"c{i}.wav", speech_like(16000, 0.5, seed=i), 16000)
        rows.append(f"c{i},c{i}.wav")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    env = {**os.environ, "PYTHONPATH": str(REPO), "WORKBENCH_LOG": str(tmp_path / "cli.log")}
    p = subprocess.run([sys.executable, "-m", "workbench", "run", str(tmp_path / "m.csv"), "--model", "tiny", "--dtype", "float32",
                        "--no-cache", "--out", str(tmp_path / "run")], capture_output=True, env=env, timeout=300)
    err = p.stderr.decode("utf-8")  # bytes: text mode would turn each \r into a line end
    assert p.returncode == 0, err
    assert "\r" not in err and "\x1b[" not in err
    bar = [line for line in err.split("\n") if line.startswith("run:")]
    assert bar and bar[-1].startswith("run: 100%") and "3/3" in bar[-1], err


def test_the_finetune_bar_into_a_pipe_prints_a_line_now_and_then(monkeypatch):
    """`workbench finetune … 2>&1 | cat`: a redraw per epoch (its postfix forced one), all on one line."""
    import io

    from workbench.analysis.finetune.core import _progress_bar

    piped = io.StringIO()  # not a terminal, as a pipe
    monkeypatch.setattr(sys, "stderr", piped)
    bar, hook = _progress_bar(True, "finetune head", "up to 300 epochs", 30)
    for epoch in range(1, 201):
        hook(epoch, {"val_uar": 0.5, "val_loss": 0.7, "best_epoch": 1})
    bar.close()
    text = piped.getvalue()
    assert "\r" not in text and "\x1b[" not in text
    assert 1 <= len(text.splitlines()) <= 3, text  # the first line, then one per 10 s: not 200
    assert all(line.startswith("finetune head (up to 300 epochs)") for line in text.splitlines())
