"""One ONNX Runtime batch run in threads that Ctrl-C and a time budget can stop, without starting threads per batch.

:func:`run_bounded` hands ``session.run`` to daemon threads kept for the process (:class:`_Runner`): starting and
joining a thread per batch cost ~1 ms a call on 2 cores (3.0-3.6 ms against 2.0-2.6 ms for the call itself on
``tiny``), and each start waited for the new thread to take the GIL from whatever thread held it.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from typing import Any

import numpy as np

from workbench.errors import ModelError


class _Runner:
    """A daemon thread that runs the calls handed to it, one at a time."""

    def __init__(self):
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        threading.Thread(target=self._loop, name="onnxruntime-run", daemon=True).start()

    def _loop(self) -> None:
        while True:
            fn, done = self._jobs.get()
            try:
                fn()
            finally:
                done.set()

    def submit(self, fn) -> threading.Event:
        done = threading.Event()
        self._jobs.put((fn, done))
        return done


_IDLE: list[_Runner] = []
_IDLE_LOCK = threading.Lock()
_PID = [os.getpid()]


def _take(n: int) -> list[_Runner]:
    """``n`` idle runners of this process (made where too few are idle); a forked child starts with none."""
    with _IDLE_LOCK:
        if _PID[0] != os.getpid():  # a fork copies the list, not its threads
            _IDLE.clear()
            _PID[0] = os.getpid()
        taken = [_IDLE.pop() for _ in range(min(n, len(_IDLE)))]
    return taken + [_Runner() for _ in range(n - len(taken))]


def _give(runners: list[_Runner]) -> None:
    with _IDLE_LOCK:
        if _PID[0] == os.getpid():
            _IDLE.extend(runners)


def run_bounded(session: Any, wanted: list[str], feeds: dict, *, budget_s: float, source: str, split: int = 1,
                own_length: bool = False) -> list:
    """``session.run`` in a worker thread that Ctrl-C and a time budget can stop.

    The calling thread waits in short steps (so ``KeyboardInterrupt`` reaches it); on Ctrl-C or when ``budget_s``
    passes, ONNX Runtime's ``RunOptions.terminate`` flag stops the run at its next operator, the call is waited
    for (10 s at most), and a :class:`ModelError` (budget) or the ``KeyboardInterrupt`` is raised.

    ``split`` > 1: the batch (every feed's first axis) is cut into that many parts, run at once in as many
    threads on the same session, and the (batch-first) outputs put back together in order (time axes padded with
    zeros to the longest part's).  ``own_length``: each part's ``waveforms`` cut to its own ``lengths``' longest, so
    that a part of one clip computes exactly what that clip alone does (int8's per-tensor scales see no other clip's
    padding; :data:`~workbench.model.batching.DYNAMIC_QUANTIZED`).  For a session with
    one intra-op thread on a machine with ``split`` cores: on ``tiny`` (5 s clips, 2 cores) 7.5–7.9 ms a clip
    against 8.6–10.0 for one run with two intra-op threads, whose operators are too small to share well.
    """
    import onnxruntime as ort

    options = ort.RunOptions()
    options.log_severity_level = 4  # fatal only: the terminate flag logs an ERROR line that must not reach the screen
    n = len(next(iter(feeds.values())))
    cuts = np.array_split(np.arange(n), max(1, min(int(split), n)))
    parts = [feeds] if len(cuts) == 1 else [{k: v[c[0]: c[-1] + 1] for k, v in feeds.items()} for c in cuts]
    if own_length and len(parts) > 1:
        parts = [{**p, "waveforms": p["waveforms"][:, : int(np.max(p["lengths"]))]} for p in parts]
    boxes: list[dict] = [{} for _ in parts]

    def work(part: dict, box: dict):
        try:
            box["out"] = session.run(wanted, part, options)
        except BaseException as exc:  # noqa: BLE001 — handed to the caller's thread
            box["error"] = exc

    runners = _take(len(parts))
    t0 = time.monotonic()
    done = [r.submit(lambda part=part, box=box: work(part, box)) for r, part, box in zip(runners, parts, boxes)]

    def stop():
        options.terminate = True
        for event in done:
            event.wait(10)

    try:
        for event in done:
            while not event.wait(0.1):
                if time.monotonic() - t0 > budget_s:
                    stop()
                    raise ModelError(f"one batch ran past its time budget of {budget_s:g} s and was stopped.", source=source,
                                     fix="score shorter clips or smaller batches, or raise WORKBENCH_ONNX_BUDGET_S.")
    except KeyboardInterrupt:
        stop()
        raise
    finally:
        _give([r for r, event in zip(runners, done) if event.is_set()])  # one still running is left to finish alone
    for box in boxes:
        if "error" in box:
            exc = box["error"]
            raise ModelError(f"ONNX Runtime failed: {str(exc).strip().splitlines()[-1][:300] if str(exc).strip() else type(exc).__name__}.",
                             source=source, fix="check the clips (16 kHz mono, at least 400 samples), or export the model again.") from None
    if len(boxes) == 1:
        return boxes[0]["out"]
    return [_joined([np.asarray(box["out"][i]) for box in boxes]) for i in range(len(wanted))]


def _joined(outs: list[np.ndarray]) -> np.ndarray:
    """The parts' outputs along the batch axis; a time axis (axis 1) that differs between parts (parts cut to their own
    length) padded with zeros to the longest: the frame lengths output says where each row's frames end."""
    if len({o.shape[1:] for o in outs}) > 1:
        longest = max(o.shape[1] for o in outs)
        outs = [np.pad(o, [(0, 0), (0, longest - o.shape[1])] + [(0, 0)] * (o.ndim - 2)) for o in outs]
    return np.concatenate(outs)
