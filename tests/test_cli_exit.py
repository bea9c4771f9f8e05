"""A ``workbench`` process ends without the interpreter's teardown (issue #28 item 2), yet everything Python does at
exit still happens: atexit handlers, flushed output, other threads finished, the exit status kept."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from test_runs import make_dataset

REPO = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}

SCRIPT = """
import atexit, sys, threading, time
from pathlib import Path
from workbench.cli import end_process
out = Path(sys.argv[1])
atexit.register(lambda: (out / "atexit").write_text("ran"))
def late():
    time.sleep(0.3)
    (out / "thread").write_text("finished")
threading.Thread(target=late, daemon=sys.argv[2] == "daemon").start()
sys.stdout.write("unflushed text")  # no newline: still in the buffer
end_process(int(sys.argv[3]))
"""


def test_atexit_handlers_run_output_is_flushed_and_the_status_kept(tmp_path):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), "daemon", "3"], capture_output=True, text=True, timeout=60, env=ENV)
    assert proc.returncode == 3 and proc.stdout == "unflushed text"
    assert (tmp_path / "atexit").read_text() == "ran"
    assert not (tmp_path / "thread").exists()  # a daemon thread is cut short, as Python's own exit does


def test_a_running_non_daemon_thread_is_waited_for(tmp_path):
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), "worker", "0"], capture_output=True, text=True, timeout=60, env=ENV)
    assert proc.returncode == 0 and (tmp_path / "thread").read_text() == "finished" and (tmp_path / "atexit").exists()


def test_python_m_workbench_cli_run_writes_everything_and_exits_with_its_status(tmp_path):
    manifest = make_dataset(tmp_path, n=3, bad=True)
    proc = subprocess.run([sys.executable, "-m", "workbench.cli", "run", str(manifest), "--model", "tiny", "--no-cache",
                           "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=300, cwd=str(tmp_path), env=ENV)
    assert proc.returncode == 1, proc.stderr[-2000:]  # a bad item: status 1, as before
    assert "next:" in proc.stdout and (tmp_path / "run" / "summary.json").is_file()
    assert "done:" in (tmp_path / "run" / "log.txt").read_text()


def test_a_ctrl_c_eaten_by_an_exit_handler_still_ends_the_process_130(tmp_path):
    """SIGINT after the work was done, while an atexit handler runs (which swallows the KeyboardInterrupt): the
    recorded interrupt still gives exit 130 and the one line, not a silent 0."""
    script = """
import atexit, os, signal, sys
from workbench import interrupts
from workbench.cli import end_process
signal.signal(signal.SIGINT, interrupts.handler)
atexit.register(lambda: os.kill(os.getpid(), signal.SIGINT))
end_process(0)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=ENV)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip().endswith("interrupted")


def test_python_dash_m_workbench_is_the_command():
    """``python -m workbench`` (what a user tries first) is the ``workbench`` command, not 'No module named'."""
    proc = subprocess.run([sys.executable, "-m", "workbench", "similar"], capture_output=True, text=True, timeout=60, env=ENV)
    assert proc.returncode == 2 and "workbench similar: error: the following arguments are required" in proc.stderr


def test_a_reader_that_stops_reading_ends_the_command_quietly():
    """``workbench similar a b --json | head -2`` printed "error: unexpected BrokenPipeError … report it" and exited 3 when
    head closed the pipe; now it stops quietly with 141, as a shell reports a program that SIGPIPE ended."""
    demo = Path(__file__).resolve().parents[1] / "workbench" / "demo_data"
    script = f"""
import os, sys
r, w = os.pipe()
os.close(r)                      # the reader is gone before anything is printed
os.dup2(w, 1)
sys.stdout.reconfigure(line_buffering=True)   # each line reaches the pipe at once, as on a terminal
from workbench.cli import main, end_process
code = main(["similar", {str(demo / "sad_en.ogg")!r}, {str(demo / "angry_en_48k_stereo.flac")!r}, "--model", "tiny", "--json"])
sys.stderr.write(f"code={{code}}\\n")
end_process(code)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=ENV)
    assert proc.returncode == 141 and proc.stderr.strip() == "code=141", proc.stderr
