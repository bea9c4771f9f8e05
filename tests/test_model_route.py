"""The model choice's route from the command line to the built network (issue #27 item 2).

Measured, not read off a diagram: while ``workbench run`` executes in this process, every construction of a
network (PyTorch or ONNX Runtime) records the call stack.  The workbench modules on the stack of the network the
run uses, from the command's handler down, are the rooms the choice crossed; the target is at most four, with
the choice carried as one :class:`ModelRef` (no frame on the way takes it apart into ``hub``/``revision`` …).
"""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import workbench
from workbench.cli import main
from workbench.model import network, onnx_backend
from workbench.model.ref import ModelRef

from test_runs import make_dataset

PACKAGE = Path(workbench.__file__).resolve().parent
#: the route every precision takes: the command, the driver, the reference, the network's home
ROUTE = ["workbench.cli.running", "workbench.runs.driver", "workbench.model.ref"]
#: parameter names that would mean the choice travels in pieces instead of as one ModelRef
PIECES = {"hub", "revision"}


def _module(filename: str) -> str | None:
    path = Path(filename).resolve()
    if PACKAGE not in path.parents:
        return None
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return ".".join(("workbench",) + (parts[:-1] if parts[-1] == "__init__" else parts))


def _route(frames: list) -> tuple[list[str], list[str]]:
    """Distinct workbench modules on the stack below the CLI's dispatcher, and the frames that took the model in pieces."""
    modules: list[str] = []
    pieces: list[str] = []
    for frame in reversed(frames):  # outermost first
        module = _module(frame.f_code.co_filename)
        if module is None or module in ("workbench.cli", "workbench.cli.__main__"):
            continue
        if not modules or modules[-1] != module:
            modules.append(module)
        args = inspect.getargvalues(frame)
        taken = PIECES & set(args.args + ([args.varargs] if args.varargs else []))
        if taken:
            pieces.append(f"{module}.{frame.f_code.co_name}({', '.join(sorted(taken))})")
    return modules, pieces


@pytest.fixture
def spy(monkeypatch):
    """Records the stack of every network built; the process cache is emptied so that this run builds its own."""
    stacks: list[tuple[object, list]] = []

    def wrap(cls):
        original = cls.__init__

        def init(self, *args, **kwargs):
            frames, f = [], inspect.currentframe().f_back
            while f is not None:
                frames.append(f)
                f = f.f_back
            stacks.append((self, frames))
            original(self, *args, **kwargs)

        monkeypatch.setattr(cls, "__init__", init)

    wrap(network.Emotion2vecModel)
    wrap(onnx_backend.OnnxModel)
    monkeypatch.setattr(network, "_CACHE", {})
    return stacks


def _run(tmp_path, spy, *options: str) -> tuple[list[str], list[str]]:
    manifest = make_dataset(tmp_path, n=2, bad=False)
    assert main(["run", str(manifest), "--model", "tiny", "--device", "cpu", "--no-cache", "--out", str(tmp_path / "run"),
                 *options]) == 0
    assert spy, "no network was built"
    return _route(spy[-1][1])  # the network the run scored with is the last one built


@pytest.mark.parametrize("dtype", ["float32", "int8", "onnx-int8", "auto"])
def test_the_model_choice_reaches_the_network_through_four_modules_as_one_modelref(tmp_path, spy, dtype):
    if dtype in ("auto", "onnx-int8"):  # measured or exported once (candidates are built then); a run reads it back
        ModelRef("tiny", device="cpu", dtype=dtype).load()
        network._CACHE.clear()
        spy.clear()
    modules, pieces = _run(tmp_path, spy, "--dtype", dtype)
    assert len(spy) == 1, f"the run built {len(spy)} networks"
    if dtype == "auto":  # measured once on this CPU (the measurement's own loads are side trips), then loaded here
        dtype = workbench.RunFolder(tmp_path / "run").model().dtype
    home = "workbench.model.onnx_backend" if dtype.startswith("onnx-") else "workbench.model.network"
    assert modules == ROUTE + [home], modules
    assert len(modules) <= 4
    # from the handler to the reference, the choice is one ModelRef; only the network's home takes it apart
    assert [p for p in pieces if not p.startswith(home)] == [], pieces


def test_the_route_measure_fails_on_a_detour(tmp_path, spy, monkeypatch):
    """The measurement itself: a loader that detours through another module and takes the model in pieces is seen."""
    from workbench.model import ref as ref_module

    def detour(spec, device, dtype, progress=None, hub="ms", revision=None):  # a stand-in room with the old signature
        return network.cached_network(spec, device, dtype, progress)

    detour.__code__ = detour.__code__.replace(co_filename=str(PACKAGE / "model" / "checkpoints.py"))
    monkeypatch.setattr(ref_module, "cached_network", detour)
    modules, pieces = _run(tmp_path, spy, "--dtype", "float32")
    assert modules == ROUTE + ["workbench.model.checkpoints", "workbench.model.network"]
    assert any(p.startswith("workbench.model.checkpoints.detour(") for p in pieces)


def test_a_run_records_the_reference_it_loaded(tmp_path, spy):
    _run(tmp_path, spy, "--dtype", "float32")
    recorded = workbench.RunFolder(tmp_path / "run").model()
    assert isinstance(recorded, ModelRef)
    assert (recorded.model, recorded.dtype) == ("tiny", "float32") and len(recorded.checksum) == 64
