"""The cyclic collector is back on after a pause whatever exception arrives, wherever it arrives.

``collector_paused`` (the manifest reader's pause, ``import_long_lived``'s freeze) turned the collector off and back
on in a ``finally``; a Ctrl-C landing between the pause and the block, or inside the ``finally`` between the pause's
count going down and ``gc.enable()``, left it off for the rest of a notebook's session.  Here a ``KeyboardInterrupt``
is delivered at each line the pause and its resume run (the moment Python's SIGINT handler raises it: between two
lines), one line per try, and after each the collector is on and the pauses' lock free.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pytest

from workbench.model import memory
from workbench.model.memory import collector_paused

HERE = str(Path(memory.__file__).resolve())
SOURCE = Path(HERE).read_text(encoding="utf-8").splitlines()


def _lines_run() -> list[tuple[str, int, bool]]:
    """Every (function, line, skipped) of memory.py a pause and its resume run, in order, each time it runs: each
    function's start (a signal is checked for there) and each line.  Skipped: a ``with`` line met again, the block's
    end, whose event comes before the lock's release in the same instruction run; no signal is checked for there (a
    KeyboardInterrupt is raised after a call returns, at a loop's back jump, at a function's start), and one raised
    there by the tracer leaves the lock held, which no Ctrl-C can."""
    seen: list[tuple[str, int, bool]] = []
    lines: set[tuple[int, int]] = set()

    def tracer(frame, event, arg):
        if str(Path(frame.f_code.co_filename).resolve()) != HERE:
            return None
        if event in ("call", "line"):
            again = (id(frame), frame.f_lineno) in lines
            lines.add((id(frame), frame.f_lineno))
            seen.append((frame.f_code.co_name, frame.f_lineno, again and SOURCE[frame.f_lineno - 1].strip().startswith("with ")))
        return tracer

    pause = collector_paused()  # held past the trace: its finalizer (a last resort) is no step of the resume
    sys.settrace(tracer)
    try:
        with pause:
            pass
    finally:
        sys.settrace(None)
    return seen


def _interrupt_at(step: int) -> bool:
    """A pause whose ``step``-th line (of :func:`_lines_run`) gets a KeyboardInterrupt; whether it came out."""
    count = [0]

    def tracer(frame, event, arg):
        if str(Path(frame.f_code.co_filename).resolve()) != HERE:
            return None
        if event in ("call", "line"):
            count[0] += 1
            if count[0] == step:
                sys.settrace(None)
                raise KeyboardInterrupt
        return tracer

    pause = collector_paused()
    sys.settrace(tracer)
    try:
        with pause:
            assert not gc.isenabled()
    except KeyboardInterrupt:
        return True
    finally:
        sys.settrace(None)
    return False


def test_an_interrupt_at_any_line_of_the_pause_or_its_resume_leaves_the_collector_on():
    assert gc.isenabled()
    steps = _lines_run()
    resume = [n for n, (_, line, _) in enumerate(steps, 1) if "gc.enable()" in SOURCE[line - 1]]
    assert resume, steps  # the line that turns it back on is among them
    left_off = []
    try:
        for step in (n for n, (_, _, skipped) in enumerate(steps, 1) if not skipped):
            came_out = _interrupt_at(step)
            assert came_out, f"the interrupt at {steps[step - 1]} was swallowed"
            if not gc.isenabled():
                left_off.append(steps[step - 1])
                gc.enable()
            assert memory._PAUSES_LOCK.acquire(timeout=1), f"the lock is held after an interrupt at {steps[step - 1]}"
            memory._PAUSES_LOCK.release()
    finally:
        gc.enable()
    assert not left_off, f"the collector was left off by an interrupt at {left_off}"
    with collector_paused():  # and the pauses work as before
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


@pytest.mark.parametrize("nested", [False, True])
def test_an_exception_in_the_block_resumes_it(nested):
    with pytest.raises(KeyboardInterrupt):
        with collector_paused():
            if nested:
                with collector_paused():
                    raise KeyboardInterrupt
            raise KeyboardInterrupt
    assert gc.isenabled()
