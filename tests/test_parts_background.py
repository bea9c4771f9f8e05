"""PartsInBackground: what a run counts as kept (log.txt's "interrupted with N rows … kept") is what is on disk."""

from __future__ import annotations

import _thread
import threading

import numpy as np
import pandas as pd
import pytest

from test_runs import make_dataset
from workbench.errors import ConfigError
from workbench.labels import LABEL_KEYS
from workbench.runs import background as writer_module, driver
from workbench.runs.driver import run
from workbench.runs.background import PartsInBackground
from workbench.runs.writer import RunWriter


def _rows(ids):
    scores = {k: 1.0 / len(LABEL_KEYS) for k in LABEL_KEYS}
    return [{"id": i, "variant": "raw", "path": f"{i}.wav", "label": "", "emotion": "", "status": "ok", "error": "",
             "pred": LABEL_KEYS[0], "confidence": scores[LABEL_KEYS[0]], **{f"score_{k}": v for k, v in scores.items()}}
            for i in ids]


def _writer(path, cls=RunWriter) -> RunWriter:
    w = cls(path)
    w.prepare({"manifest": "m.csv", "model": "synthetic", "dtype": "float32", "variants": [{"name": "raw"}]}, ("manifest",))
    return w


def _parquets(w: RunWriter) -> list[str]:
    return sorted(p.name for p in (w.path / "parts").glob("part-*.parquet"))


class _SlowDisk(RunWriter):
    """A writer on a disk that takes until ``go`` is set to write (a busy or network disk)."""

    go = threading.Event()
    wrote = threading.Event()

    def write_part(self, *args, **kwargs):
        self.go.wait(30)
        try:
            return super().write_part(*args, **kwargs)
        finally:
            self.wrote.set()


def test_a_part_given_up_after_the_timeout_is_never_made_whole_later(tmp_path):
    """A Ctrl-C waits a second for the part in flight, then logs what is kept: a part still being written then must
    not land afterwards (the daemon thread runs on until the process ends), or the log undercounts the disk."""
    _SlowDisk.go, _SlowDisk.wrote = threading.Event(), threading.Event()
    w = _writer(tmp_path / "run", _SlowDisk)
    parts, told = PartsInBackground(w), []
    parts.submit(_rows(["a", "b"]), [np.ones(4, np.float32)] * 2, None, then=lambda: told.append("a b"))
    assert parts.settle(timeout=0.2) is False  # still writing: given up
    _SlowDisk.go.set()  # the disk catches up after the log line was written
    assert _SlowDisk.wrote.wait(30)
    assert _parquets(w) == [] and told == []  # nothing counted, nothing whole on disk
    assert parts.settle() is True and told == []  # the part given up is not counted later either
    assert RunWriter(w.path).finished_rows() == set()


def test_a_second_ctrl_c_during_the_grace_period_drops_the_part_in_flight(tmp_path):
    """Ctrl-C twice: the second lands while the driver gives the part in flight its second. The log line then counts
    what is on disk, so the part must not land afterwards."""
    _SlowDisk.go, _SlowDisk.wrote = threading.Event(), threading.Event()
    w = _writer(tmp_path / "run", _SlowDisk)
    parts, told = PartsInBackground(w), []
    parts.submit(_rows(["a"]), [np.ones(4, np.float32)], None, then=lambda: told.append("a"))
    threading.Timer(0.2, _thread.interrupt_main).start()  # the second Ctrl-C, as the main thread receives it
    with pytest.raises(KeyboardInterrupt):
        parts.settle(timeout=10)
    _SlowDisk.go.set()
    assert _SlowDisk.wrote.wait(30)
    assert _parquets(w) == [] and told == []
    assert parts.settle() is True and told == []


def test_a_ctrl_c_while_the_writing_thread_starts_counts_no_row_that_is_not_on_disk(tmp_path, monkeypatch):
    """A Ctrl-C that lands in submit() as its thread is started: the part's rows were counted as kept (and told to
    the hook) although nothing was written."""

    class StartInterrupted(threading.Thread):
        def start(self):
            raise KeyboardInterrupt  # the Ctrl-C lands here, before the thread runs

    w = _writer(tmp_path / "run")
    parts, told = PartsInBackground(w), []
    parts.submit(_rows(["a"]), [np.ones(4, np.float32)], None, then=lambda: told.append("a"))
    assert parts.settle() is True and told == ["a"] and _parquets(w) == ["part-00001.parquet"]
    monkeypatch.setattr(writer_module.threading, "Thread", StartInterrupted)
    try:
        parts.submit(_rows(["b"]), [np.ones(4, np.float32)], None, then=lambda: told.append("b"))
    except KeyboardInterrupt:
        parts.settle(timeout=1.0)  # what the driver does on a Ctrl-C before it logs the rows kept
    assert told == ["a"]
    assert _parquets(w) == ["part-00001.parquet"]
    assert {i for i, _ in RunWriter(w.path).finished_rows()} == {"a"}


def test_a_part_written_in_time_is_counted_once(tmp_path):
    w = _writer(tmp_path / "run")
    parts, told = PartsInBackground(w), []
    for k, ids in enumerate((["a", "b"], ["c"], [])):
        parts.submit(_rows(ids), [np.ones(4, np.float32)] * len(ids), None, then=lambda k=k: told.append(k))
    assert parts.settle(timeout=30) is True and parts.settle() is True
    assert told == [0, 1, 2] and _parquets(w) == ["part-00001.parquet", "part-00002.parquet"]


def test_a_hook_that_raises_stops_the_run_and_log_txt_says_so_with_the_rows_on_disk(tmp_path, tiny_model):
    """The caller's hook raised at the second part: the run stopped with no line in log.txt saying so or why."""
    manifest = make_dataset(tmp_path, n=8, bad=False)
    seen = []

    def hook(step, rows, *, completed, total):
        seen.append(completed)
        if len(seen) == 2:
            raise ValueError("the dashboard is down")

    out = tmp_path / "run"
    try:
        run(manifest, out_dir=out, model=tiny_model, use_cache=False, chunk_size=2, hook=hook)
        raise AssertionError("the hook's error did not stop the run")
    except ValueError:
        pass
    on_disk = sum(len(pd.read_parquet(p)) for p in (out / "parts").glob("part-*.parquet"))
    assert seen == [2, 4] and on_disk == 4
    last = (out / "log.txt").read_text().splitlines()[-1]
    assert "stopped with 4 rows finished" in last and "ValueError: the dashboard is down" in last, last
    again = run(manifest, out_dir=out, model=tiny_model, use_cache=False, chunk_size=2)
    assert again.n_resumed == 4 and again.n_rows == 8


def test_a_chunk_size_or_limit_of_0_is_refused_before_the_model_loads(tmp_path, monkeypatch):
    """run(chunk_size=0) loaded the model, wrote config.yaml and then failed with 'range() arg 3 must not be zero';
    limit=0 wrote a whole chunk."""
    manifest = make_dataset(tmp_path, n=2, bad=False)
    loaded = []
    monkeypatch.setattr(driver, "_load", lambda *a, **k: loaded.append(1))
    for kw in ({"chunk_size": 0}, {"chunk_size": -3}, {"chunk_size": 2.5}, {"limit": 0}):
        with pytest.raises(ConfigError) as err:
            run(manifest, out_dir=tmp_path / "run", model="tiny", use_cache=False, **kw)
        name, value = next(iter(kw.items()))
        assert f"{name} is {value!r}" in str(err.value) and "positive whole number" in err.value.fix
    assert not loaded and not (tmp_path / "run").exists()
