"""The next chunk decoded on the cores the model leaves idle (issue #28): a thread in the idle scheduling class that never
holds the model up, whatever starves it."""

from __future__ import annotations

import os
import threading
import time

import pytest

from workbench.engine.ahead import MODES, ChunkAhead, decode_ahead_mode
from workbench.errors import ConfigError

linux_idle = pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="the idle scheduling class is Linux's")


@linux_idle
def test_the_thread_ahead_is_in_the_idle_class_and_the_caller_keeps_its_own():
    seen = {}

    def fn(x):
        seen[threading.current_thread().name] = os.sched_getscheduler(0)
        return x * 2

    ahead = ChunkAhead([1, 2, 3], fn)
    ahead._thread.join(5)  # let the thread do them all
    assert ahead.result() == [2, 4, 6]
    assert seen == {"workbench-decode-ahead": os.SCHED_IDLE} and ahead.stats["idle"] is True
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # the caller (the model's thread) is untouched
    normal = ChunkAhead([1], fn, idle=False)
    normal._thread.join(5)
    assert normal.result() == [2] and seen["workbench-decode-ahead"] == os.SCHED_OTHER


def test_a_starved_thread_never_holds_the_caller_up():
    """A thread that gets no core (here: stuck on its first item) costs the caller at most the wait for one item; the
    caller prepares the rest and the stuck item itself, in order, and a late result of the thread does not replace it."""
    release = threading.Event()
    where = []

    def fn(x):
        where.append((x, threading.current_thread().name))
        if threading.current_thread().name == "workbench-decode-ahead":
            release.wait(10)  # a thread the scheduler never runs
            return ("thread", x)
        return ("caller", x)

    ahead = ChunkAhead(list(range(5)), fn)
    while not where:
        time.sleep(0.001)
    t0 = time.perf_counter()
    out = ahead.result()
    assert time.perf_counter() - t0 < 2.0  # the 10 s the thread is stuck for are not waited
    assert out == [("caller", x) for x in range(5)]
    assert where[0] == (0, "workbench-decode-ahead") and sorted(x for x, t in where if t == "MainThread") == [0, 1, 2, 3, 4]
    assert ahead.stats["caller_items"] == 5
    release.set()
    ahead._thread.join(5)
    assert not ahead._thread.is_alive() and ahead.result() == out  # the thread stopped after its item; the first result kept


def test_what_the_thread_finished_is_used_and_not_done_again():
    calls = []
    ahead = ChunkAhead(["a", "b", "c"], lambda x: calls.append(x) or x.upper())
    ahead._thread.join(5)
    assert ahead.result() == ["A", "B", "C"] and sorted(calls) == ["a", "b", "c"] and ahead.stats["caller_items"] == 0


def test_an_interrupt_in_the_thread_reaches_the_caller():
    def fn(x):
        if threading.current_thread().name == "workbench-decode-ahead":
            raise KeyboardInterrupt  # Ctrl-C's check firing in the thread
        return x

    ahead = ChunkAhead([1, 2], fn)
    ahead._thread.join(5)
    with pytest.raises(KeyboardInterrupt):
        ahead.result()


@pytest.mark.parametrize("value, want", [("", "idle"), ("idle", "idle"), (" Normal ", "normal"), ("off", "off")])
def test_the_mode_comes_from_the_environment(monkeypatch, value, want):
    monkeypatch.setenv("WORKBENCH_DECODE_AHEAD", value)
    assert decode_ahead_mode() == want


def test_a_misspelt_mode_is_refused_with_the_modes_before_the_model_loads(monkeypatch, tmp_path):
    from workbench.runs import driver

    monkeypatch.setenv("WORKBENCH_DECODE_AHEAD", "idel")
    with pytest.raises(ConfigError) as err:
        decode_ahead_mode()
    assert all(m in err.value.fix for m in MODES) and "'idel'" in str(err.value) and err.value.source == "WORKBENCH_DECODE_AHEAD"
    manifest = tmp_path / "m.csv"
    manifest.write_text("id,path\na,a.wav\n")
    loaded = []
    monkeypatch.setattr(driver, "_load", lambda *a, **k: loaded.append(1))
    with pytest.raises(ConfigError, match="WORKBENCH_DECODE_AHEAD"):
        driver.run(manifest, out_dir=tmp_path / "run", model="tiny")
    assert not loaded and not (tmp_path / "run").exists()


def test_a_misspelt_mode_is_refused_before_infer_loads_its_model(monkeypatch, tmp_path, capsys):
    """`workbench infer` (any command scoring audio, not only `run`) refused a misspelt mode only after its model had
    loaded: minutes with a real checkpoint."""
    import numpy as np
    import soundfile as sf

    from workbench.cli import main
    from workbench.model.ref import ModelRef

    wav = tmp_path / "a.wav"
    sf.write(wav, np.zeros(16000, np.float32), 16000)
    loaded = []
    monkeypatch.setattr(ModelRef, "load", lambda self, *a, **k: loaded.append(self.model))
    monkeypatch.setenv("WORKBENCH_DECODE_AHEAD", "Of f")
    code = main(["infer", str(wav), "--model", "tiny", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "WORKBENCH_DECODE_AHEAD: this environment variable is 'Of f'" in err and "idle, normal, off" in err, err
    assert loaded == []


@pytest.mark.parametrize("mode", ["off", "normal"])
def test_every_mode_gives_the_same_results(tmp_path, tiny_model, monkeypatch, mode):
    import numpy as np
    import soundfile as sf

    from conftest import speech_like
    from workbench.data.manifest import Item
    from workbench.engine.core import Engine, WorkItem

    work = []
    for i in range(5):
        p = tmp_path / f"m{i}.wav"
        sf.write(p, speech_like(16000, 1.0 + 0.1 * i, seed=60 + i), 16000)
        work.append(WorkItem(Item(id=p.stem, path=str(p)), p))
    idle = [s for c in Engine(tiny_model, workers=0).score(work, chunk_size=2) for s in c]
    monkeypatch.setenv("WORKBENCH_DECODE_AHEAD", mode)
    other = [s for c in Engine(tiny_model, workers=0).score(work, chunk_size=2) for s in c]
    assert [s.item.id for s in other] == [s.item.id for s in idle]
    for a, b in zip(idle, other):
        np.testing.assert_array_equal(a.prediction.scores, b.prediction.scores)
        assert a.info["facts"] == b.info["facts"]
