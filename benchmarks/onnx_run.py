#!/usr/bin/env python3
"""One ONNX Runtime batch run as the workbench makes it (:func:`workbench.model.onnx_run.run_bounded`, kept daemon
threads) against ``session.run`` called directly and against a new thread started and joined per call (what
run_bounded did before), idle and beside a busy Python thread (what the decoding thread is to the model's), at
CPython's default GIL switch interval (5 ms) and at the 1 ms the engine sets while it decodes ahead.

    python benchmarks/onnx_run.py                 # the tiny export, 2 clips of 1 s per call, 50 calls a path

Printed: the median and best milliseconds per call of each path; the load average beside them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def per_call_thread(session, wanted, feeds):
    """The old way: a thread started for the call and joined in 0.1 s steps (the baseline)."""
    box: dict = {}
    thread = threading.Thread(target=lambda: box.setdefault("out", session.run(wanted, feeds)), daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.1)
    return box["out"]


def timed(fn, calls: int) -> tuple[float, float]:
    fn()
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1000, min(times) * 1000


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calls", type=int, default=50)
    args = ap.parse_args()
    from workbench.model.onnx_backend import load_onnx_model
    from workbench.model.onnx_export import export_onnx
    from workbench.model.onnx_run import run_bounded

    with tempfile.TemporaryDirectory() as tmp:
        export_onnx("tiny", Path(tmp) / "onnx")
        session = load_onnx_model(Path(tmp) / "onnx", dtype="float32").session
        x = (np.random.default_rng(0).standard_normal((2, 16000)) * 0.1).astype(np.float32)
        feeds, wanted = {"waveforms": x, "lengths": np.array([16000, 16000], dtype=np.int64)}, ["scores", "embedding"]
        paths = {"session.run directly": lambda: session.run(wanted, feeds),
                 "a thread per call (before)": lambda: per_call_thread(session, wanted, feeds),
                 "run_bounded, kept runners": lambda: run_bounded(session, wanted, feeds, budget_s=60, source="bench"),
                 "run_bounded, split in 2": lambda: run_bounded(session, wanted, feeds, budget_s=60, source="bench", split=2)}
        print(f"load average {os.getloadavg()[0]:.2f}; {args.calls} calls a path; ms per call, median (best)")
        stop = threading.Event()

        def busy():
            while not stop.is_set():
                sum(range(1000))

        for beside in ("idle", "busy"):
            if beside == "busy":
                threading.Thread(target=busy, daemon=True).start()
            for interval in (0.005, 0.001):
                sys.setswitchinterval(interval)
                for name, fn in paths.items():
                    med, best = timed(fn, args.calls)
                    print(f"  {beside:4s} switch {interval * 1000:.0f} ms  {name:28s} {med:7.2f} ({best:.2f})")
        stop.set()
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
