"""A Ctrl-C between the handover of a part and its counting (PartsInBackground._finish), in the Python API, where the
command line's SIGINT handler is not installed: the part on disk is counted before the interrupt goes on."""

from __future__ import annotations

import inspect
import signal
import sys

import numpy as np
import pytest

from workbench.runs.folder import RunFolder
from workbench.runs.background import PartsInBackground
from workbench.runs.writer import RunWriter


def _interrupt_after_the_handover(monkeypatch):
    """SIGINT raised at the line of PartsInBackground._finish right after it cleared the part in flight: the window
    where a KeyboardInterrupt used to leave a part on disk that the caller's ``then`` never counted."""
    from workbench.runs import background as writer_mod

    code = writer_mod.PartsInBackground._finish.__code__
    lines = [i for i, text in enumerate(inspect.getsourcelines(code)[0]) if "self._thread = self._given" in text]
    target = code.co_firstlineno + lines[0] + 1  # the line after the clearing
    fired = []

    def local(frame, event, arg):
        if event == "line" and frame.f_lineno == target and not fired:
            fired.append(True)
            signal.raise_signal(signal.SIGINT)
        return local

    def tracer(frame, event, arg):
        return local if frame.f_code is code else None

    return tracer, fired


@pytest.mark.parametrize("background", [True, False])
def test_a_ctrl_c_between_the_handover_and_the_counting_waits_for_the_counting(tmp_path, monkeypatch, background):
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the Python API: no handler of ours installed
    writer = RunWriter(tmp_path / "run")
    writer.path.mkdir()
    writer.folder._config = {"labels": ["a"]}
    monkeypatch.setattr(RunFolder, "run_identity", property(lambda self: "0" * 16))
    monkeypatch.setattr(RunWriter, "labels", lambda self, table=None: ["a"])
    counted = []
    parts = PartsInBackground(writer, background=background)
    tracer, fired = _interrupt_after_the_handover(monkeypatch)
    sys.settrace(tracer)
    try:
        with pytest.raises(KeyboardInterrupt):
            parts.submit([{"id": "x", "variant": "raw", "status": "ok"}], [np.zeros(3, np.float32)], None,
                         then=lambda: counted.append(1))
            parts.settle()
    finally:
        sys.settrace(None)
    assert fired and (writer.path / "parts" / "part-00001.parquet").is_file()
    assert counted == [1]  # the part on disk was counted before the Ctrl-C went on
    assert parts.settle() is True and counted == [1]


def test_deferred_holds_a_ctrl_c_in_the_python_api_and_gives_the_handler_back():
    from workbench import interrupts

    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    after = []
    with pytest.raises(KeyboardInterrupt):
        with interrupts.deferred():
            with interrupts.deferred():  # nested: held by the outer block
                signal.raise_signal(signal.SIGINT)
                after.append("inner")
            after.append("outer")
    assert after == ["inner", "outer"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler and not interrupts.pending()
    with interrupts.deferred():  # nothing held: nothing raised afterwards
        pass
    calls = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: calls.append(signum))
    try:
        with interrupts.deferred():
            signal.raise_signal(signal.SIGINT)
            assert calls == []
        assert calls == [signal.SIGINT]  # a caller's own handler hears it when the block ends
    finally:
        signal.signal(signal.SIGINT, previous)
