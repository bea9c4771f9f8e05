"""A Ctrl-C that lands inside a finalizer or a weakref callback still stops the command with one line.

Python runs a signal handler at the next safe point of whatever Python code runs, and a garbage-collection callback
is such code: importlib's module-lock callback (``_get_module_lock.<locals>.cb``) runs during every import, a
``__del__`` at any moment.  The ``KeyboardInterrupt`` the handler raises there cannot propagate: Python printed
"Exception ignored in: <function _get_module_lock.<locals>.cb …>" and a traceback on stderr, and went on
(``workbench compare`` stopped 6.6 s in, found by ``tests/interrupt_driver.py``; it still ended 130 only because a
later :func:`workbench.interrupts.check` raised the recorded interrupt; where no check follows, the command ran on).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

from conftest import REPO

SCRIPT = textwrap.dedent("""
    import os, signal, sys, time, weakref
    from workbench import interrupts
    interrupts.install()
    signum = getattr(signal, sys.argv[1])

    class Box:
        pass

    def callback(_):
        os.kill(os.getpid(), signum)
        total = 0
        for i in range(1000):  # the handler runs here, inside the callback, at the next safe point
            total += i

    box = Box()
    ref = weakref.ref(box, callback)
    del box  # the callback runs now
    for _ in range(300):
        time.sleep(0.01)
    print("ran to the end")
""")


def _run(signal_name: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, signal_name], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_a_ctrl_c_inside_a_weakref_callback_stops_with_one_line_and_no_traceback():
    done = _run("SIGINT")
    assert done.returncode == 130, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted;") and "Traceback" not in done.stderr, done.stderr
    assert "ran to the end" not in done.stdout


def test_a_sigterm_inside_a_weakref_callback_stops_with_143():
    done = _run("SIGTERM")
    assert done.returncode == 143, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted by SIGTERM"), done.stderr


def test_a_ctrl_c_at_interpreter_exit_after_the_work_prints_no_traceback():
    """A Ctrl-C while the interpreter shuts down (an atexit callback, after every file is written) cannot stop anything
    any more: it printed "Exception ignored in atexit callback" and a traceback; now the command ends as it was ending
    (exit 0: its work is whole), silently."""
    script = textwrap.dedent("""
        import atexit, os, signal
        from workbench import interrupts
        interrupts.install()

        def late():
            os.kill(os.getpid(), signal.SIGINT)
            sum(range(100000))

        atexit.register(late)
        print("work done")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.stdout.strip() == "work done" and done.stderr == "", done.stderr
    assert done.returncode == 0


def test_a_ctrl_c_inside_a_class_attributes_set_name_stops_with_130_and_one_line():
    """Python 3.11 wraps a KeyboardInterrupt raised in ``__set_name__`` (a dataclass field while a module imports) in
    ``RuntimeError: Error calling __set_name__``: a Ctrl-C 0.1 s into ``workbench report`` ended in that traceback and
    exit 1 (the slow interrupt sweep caught it).  The top-level hook reads the cause."""
    script = textwrap.dedent("""
        import os, signal
        from workbench import interrupts
        interrupts.install()

        class Field:
            def __set_name__(self, owner, name):
                os.kill(os.getpid(), signal.SIGINT)
                total = 0
                for i in range(1000):  # the handler runs here, inside __set_name__
                    total += i

        class Manifest:
            root = Field()

        print("ran to the end")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.returncode == 130, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted") and "Traceback" not in done.stderr, done.stderr
    assert "ran to the end" not in done.stdout
