"""ONNX Runtime batch runs in kept daemon threads (workbench.model.onnx_run): reused from call to call, never a
thread still busy with a stopped run, and none carried into a forked child."""

from __future__ import annotations

import os
import threading

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

from workbench.model import onnx_run
from workbench.model.onnx_run import run_bounded


def _session():
    graph = helper.make_graph([helper.make_node("Mul", ["x", "x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


class _Recording:
    """The session, noting the thread each run came in on (the Thread objects are kept, so none is mistaken for another)."""

    def __init__(self, session):
        self.session, self.threads = session, []

    def run(self, *args):
        if not any(t is threading.current_thread() for t in self.threads):
            self.threads.append(threading.current_thread())
        return self.session.run(*args)


def test_runs_reuse_their_threads_and_give_each_part_its_rows():
    session, x = _Recording(_session()), np.arange(30, dtype=np.float32).reshape(10, 3)
    for split in (1, 2, 3, 2, 1) * 4:
        (y,) = run_bounded(session, ["y"], {"x": x}, budget_s=60, source="t", split=split)
        np.testing.assert_array_equal(y, x * x)
    # a new thread per part and batch before (36 here); kept runners: as many as the largest split
    assert len(session.threads) <= 3 and all(t.name == "onnxruntime-run" and t.daemon for t in session.threads)


def test_a_forked_child_makes_its_own_runners(monkeypatch):
    session, x = _session(), np.ones((4, 3), np.float32)
    run_bounded(session, ["y"], {"x": x}, budget_s=60, source="t")
    assert onnx_run._IDLE
    monkeypatch.setattr(onnx_run, "_PID", [os.getpid() + 1])  # what a fork's copy of the list looks like to the child
    kept = list(onnx_run._IDLE)
    (y,) = run_bounded(session, ["y"], {"x": x}, budget_s=60, source="t")
    np.testing.assert_array_equal(y, x)
    assert not set(map(id, onnx_run._IDLE)) & set(map(id, kept))  # the parent's runners were not used or kept
