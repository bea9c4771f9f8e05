"""A run's parts written in a thread while the model scores the next chunk (:class:`PartsInBackground`).

The writing itself is :meth:`workbench.runs.writer.RunWriter.write_part`; this module holds the thread, the handover
and what a Ctrl-C at each moment leaves (a part is counted exactly when it is whole on disk).
"""

from __future__ import annotations

import threading
import time
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, Callable, ContextManager

from workbench import interrupts
from workbench.model.memory import import_long_lived

if TYPE_CHECKING:  # annotations only: the writer imports nothing from here
    from workbench.runs.writer import RunWriter


class _Given:
    """What the writing thread of one part and :meth:`PartsInBackground.settle` share: under ``lock``, the thread
    begins only if the part was not ``dropped``, and makes the part whole (its parquet) only if it still is not."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.finished = threading.Event()
        self.began = self.dropped = self.whole = False
        self.error: BaseException | None = None


class _Dropped(Exception):
    """The part was given up (a Ctrl-C waited long enough) before it was whole: it is not written."""


class PartsInBackground:
    """A run's parts written one at a time in a thread while the model scores the next chunk (issue #28: a part and
    the first import of pandas and pyarrow took ~0.45 s of a 400-clip `tiny` run's main thread).

    :meth:`submit` hands over a chunk's rows after :meth:`settle` has seen the previous part on disk; :meth:`settle`
    waits for the part in flight, raises what its writing raised, and then calls its ``then`` here (the caller's
    bookkeeping: rows counted as done, the log), so that nothing hears of rows before they are on disk; a callable
    ``then`` returns (the caller's hook) is called after, with Ctrl-C no longer held.
    One part in flight at most, so memory holds one chunk's rows besides the chunk being scored.

    A part given up (:meth:`settle` with a timeout that runs out, or a Ctrl-C that stopped :meth:`submit` before its
    thread ran) is never made whole afterwards: what ``then`` counted is exactly what is on disk.

    ``background=False`` writes each part in :meth:`submit` itself and runs its ``then`` at once: for a run whose
    model is elsewhere (Ray actors), where nothing runs beside the write and the next chunk may be long in coming."""

    def __init__(self, writer: RunWriter, *, background: bool = True):
        self.writer = writer
        self.background = background
        self._thread: threading.Thread | None = None
        self._given: _Given | None = None
        self._then: Callable[[], None] | None = None

    def submit(self, rows: list[dict], embs: list, frame_embs: dict | None, then: Callable[[], Any]) -> None:
        self.settle()
        given = _Given()

        def commit(whole: Callable[[], None]) -> None:
            with given.lock:
                if given.dropped:
                    raise _Dropped
                whole()
                given.whole = True

        def write():
            try:
                with given.lock:
                    if given.dropped:
                        return
                    given.began = True
                import_long_lived("pandas", "pyarrow", "pyarrow.parquet")  # what write_part uses: its first import frozen
                self.writer.write_part(rows, embs, frame_embs, commit=commit)
                given.whole = True  # (no rows: nothing to write)
            except _Dropped:
                pass
            except BaseException as exc:  # noqa: BLE001 — raised again in the caller's thread by settle()
                given.error = exc
            finally:
                given.finished.set()

        # published before the thread starts: a Ctrl-C inside start() leaves a part that settle() drops or waits for
        self._given, self._then = given, then
        self._thread = threading.Thread(target=write, name="workbench-write-part", daemon=True)
        if not self.background:
            write()  # here, now; settle() then finds it finished and runs ``then``
            self.settle()
            return
        self._thread.start()

    def settle(self, timeout: float | None = None) -> bool:
        """Wait for the part in flight (in short steps: Ctrl-C reaches the caller); raise its error, else run its ``then``.
        With ``timeout``: give up after that many seconds and return ``False``: the part is then dropped (its thread
        never makes it whole), unless it became whole meanwhile."""
        thread, given, then = self._thread, self._given, self._then
        if thread is None or given is None:
            return True
        end = None if timeout is None else time.monotonic() + timeout
        try:
            _wait(thread, given, end)
        except KeyboardInterrupt:
            if end is None:
                raise  # the caller's Ctrl-C: it settles again, with a grace period (the driver's second)
            _drop_unless_whole(given)  # another Ctrl-C during the grace period: the part is dropped now, unless whole
            self._finish(given, then)
            raise
        return self._finish(given, then)

    def _finish(self, given: _Given, then: Callable[[], None] | None) -> bool:
        with _whole_step():  # the handover and the bookkeeping are not cut in half by a Ctrl-C (it waits for them)
            self._thread = self._given = self._then = None
            if given.dropped:
                return False
            if given.error is not None:
                raise given.error
            after = then() if then is not None else None
        if callable(after):  # what ``then`` left to tell others (the caller's hook) runs where a Ctrl-C can stop it
            after()
        return True


def _wait(thread: threading.Thread, given: _Given, end: float | None) -> None:
    """Wait for a part's thread (in short steps: Ctrl-C reaches the caller); past ``end``, drop it unless it is whole."""
    while not given.finished.is_set():
        if not given.began and thread.ident is None and not thread.is_alive():
            with given.lock:  # a Ctrl-C stopped submit() before its thread ran: the part is dropped, never written
                if not given.began:
                    given.dropped = True
                    return
        if end is not None and time.monotonic() >= end:
            _drop_unless_whole(given)
            if not given.dropped:
                given.finished.wait()  # whole: only the thread's return is left
            return
        given.finished.wait(0.1 if end is None else max(0.0, min(0.1, end - time.monotonic())))


def _drop_unless_whole(given: _Given) -> None:
    with given.lock:  # waits at most for the parquet being made whole
        given.dropped = not given.whole


def _whole_step() -> ContextManager[None]:
    """A Ctrl-C held until the block ends (:func:`workbench.interrupts.deferred`), in the main thread, where it lands."""
    return interrupts.deferred() if threading.current_thread() is threading.main_thread() else nullcontext()
