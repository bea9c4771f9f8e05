"""Work done ahead of the model in threads of this process: the next chunk's decoding, on the cores the model leaves idle.

:class:`Ahead` runs one call in a daemon thread (the first chunk while the model loads, :class:`~workbench.engine.core.Prefetch`).
:class:`ChunkAhead` prepares the items of the next chunk while the model scores this one (issue #28): its thread is in
the idle scheduling class (:func:`yield_cores`), so that it runs where the model's threads leave a core free (between
operators and batches) instead of taking the cores from them; once the model needs the chunk, what the thread has not
finished is prepared by the caller, at its own priority.  On a machine whose cores other processes keep busy, the idle
thread gets next to nothing and the caller prepares the chunk itself: slower than a thread that competes, never stuck.

``WORKBENCH_DECODE_AHEAD`` chooses: ``idle`` (the default), ``normal`` (the thread competes with the model, as before)
or ``off`` (no thread: each chunk is prepared when the model needs it).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from typing import Any, Callable, Sequence

from workbench.errors import ConfigError

#: the modes of ``WORKBENCH_DECODE_AHEAD``
MODES = ("idle", "normal", "off")


def decode_ahead_mode() -> str:
    """``WORKBENCH_DECODE_AHEAD`` (``idle`` when unset); anything else is refused with the modes listed."""
    mode = os.environ.get("WORKBENCH_DECODE_AHEAD", "").strip().lower() or "idle"
    if mode not in MODES:
        raise ConfigError(f"this environment variable is {os.environ.get('WORKBENCH_DECODE_AHEAD')!r}, not one of "
                          f"{', '.join(MODES)}.", source="WORKBENCH_DECODE_AHEAD",
                          fix="set it to idle, normal or off, or unset it (the default, idle).")
    return mode


#: how long a thread that holds the GIL keeps it once another thread asks for it, while a thread decodes ahead of the
#: model (CPython's default is 5 ms).  The model's thread asks for the GIL several times a batch (a runtime call's
#: worker thread started and joined, torch's Python between operators); with the decoding thread holding it, each
#: ask waited up to 5 ms.  ``tiny``, 400 clips through ONNX Runtime, 2 cores: 3.21-3.45 s a run with 5 ms against
#: 2.97-3.16 s with 1 ms (load 7, interleaved; benchmarks/README.md).
GIL_TURN_S = 0.001


@contextlib.contextmanager
def short_gil_turns(seconds: float = GIL_TURN_S):
    """CPython's switch interval at most ``seconds`` inside the block (the process's setting, restored after it)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(min(before, seconds))
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def yield_cores() -> bool:
    """Put the calling thread in Linux's idle scheduling class (``SCHED_IDLE``): it runs only on a core no other thread
    wants.  A thread cannot leave that class again without privileges, so only threads made for it call this.
    Returns whether it could (``False`` on other systems, where the thread keeps its priority)."""
    if not (hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE")):
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # 0: this thread (a Linux task of its own)
    except OSError:
        return False
    return True


class Ahead:
    """``fn(arg)`` run in a daemon thread now; :meth:`result` waits for it and returns its value or raises what it raised
    (a ``KeyboardInterrupt`` from a check in it included).  A daemon thread: a run stopped meanwhile never waits for it."""

    def __init__(self, fn: Callable[[int], Any], arg: int, name: str = "workbench-decode-ahead"):
        self._box: dict = {}

        def target():
            try:
                self._box["value"] = fn(arg)
            except BaseException as exc:  # noqa: BLE001 — handed to the caller's thread
                self._box["error"] = exc

        self._thread = threading.Thread(target=target, name=name, daemon=True)
        self._thread.start()

    def result(self) -> Any:
        while self._thread.is_alive():
            self._thread.join(0.1)  # short steps: Ctrl-C reaches the main thread
        if "error" in self._box:
            raise self._box["error"]
        return self._box["value"]


class ChunkAhead:
    """``fn(item)`` for each of ``items``, begun now in a thread that yields the cores (``idle``: :func:`yield_cores`) or
    competes for them (``normal``); :meth:`result` gives the results in order.

    The caller's :meth:`result` prepares every item the thread has not begun.  The one the thread is in the middle of
    it waits for as long as an item has taken at most so far, then prepares it too (the first of the two to finish is
    kept; ``fn`` must have no effects beyond its result): an idle thread that other processes starve never holds the
    model up for longer than one item.  ``fn`` must not raise (a ``BaseException`` it raises in the thread,
    a Ctrl-C, is raised again by :meth:`result`).  :attr:`stats`: seconds spent in the thread and in the caller, and the
    items the caller prepared."""

    def __init__(self, items: Sequence[Any], fn: Callable[[Any], Any], *, idle: bool = True, name: str = "workbench-decode-ahead"):
        self._items, self._fn = list(items), fn
        self._lock = threading.Condition()
        self._longest = 0.0  # the longest an item has taken so far (seconds)
        self._next = 0  # the first item nobody has begun
        self._out: dict[int, Any] = {}
        self._error: BaseException | None = None
        self._closed = False
        self.stats = {"thread_s": 0.0, "caller_s": 0.0, "caller_items": 0, "idle": False}
        self._thread = threading.Thread(target=self._work, args=(idle,), name=name, daemon=True)
        self._thread.start()

    def _claim(self) -> int | None:
        with self._lock:
            if self._closed or self._next >= len(self._items):
                return None
            self._next += 1
            return self._next - 1

    def _work(self, idle: bool) -> None:
        if idle:
            self.stats["idle"] = yield_cores()
        try:
            while (i := self._claim()) is not None:
                t0, cpu0 = time.perf_counter(), time.thread_time()
                value = self._fn(self._items[i])
                self.stats["thread_s"] += time.perf_counter() - t0
                with self._lock:
                    self._out.setdefault(i, value)
                    # its work, not the time it waited for a core: a starved thread must not lengthen the caller's wait
                    self._longest = max(self._longest, time.thread_time() - cpu0)
                    self._lock.notify_all()
        except BaseException as exc:  # noqa: BLE001 — handed to the caller's thread
            self._error = exc

    def result(self) -> list:
        """Every item's result in order: what the thread finished, the rest prepared here."""
        while (i := self._claim()) is not None:
            self._here(i)
        with self._lock:
            self._closed = True  # the thread stops after the item it is in
            missing = [i for i in range(len(self._items)) if i not in self._out]
            if missing and self._thread.is_alive():  # the item the thread is in the middle of
                self._lock.wait_for(lambda: all(i in self._out for i in missing) or not self._thread.is_alive(),
                                    timeout=min(self._longest or 0.01, 1.0))
        for i in missing:  # not finished in that time: prepared here too, the first result kept
            if i not in self._out:
                self._here(i)
        if self._error is not None:
            raise self._error
        return [self._out[i] for i in range(len(self._items))]

    def _here(self, i: int) -> None:
        t0 = time.perf_counter()
        value = self._fn(self._items[i])
        took = time.perf_counter() - t0
        self.stats["caller_s"] += took
        self.stats["caller_items"] += 1
        with self._lock:
            self._out.setdefault(i, value)
            self._longest = max(self._longest, took)
