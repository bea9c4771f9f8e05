"""ONNX Runtime's optimised graph kept per CPU (workbench.model.onnx_optimized): made once, checked bit for bit, used
only while its bytes are the checked ones, never through a link, and the scores equal the source graph's."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from conftest import speech_like
from workbench.errors import ConfigError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def export(tiny_model, tmp_path_factory):
    from workbench.model.onnx_export import export_onnx

    return export_onnx(tiny_model, tmp_path_factory.mktemp("onnx"), int8=True).folder


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache of this test's own (the export's checksum memo included), so that no other test's kept graph is found."""
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("WORKBENCH_ORT_OPTIMIZED", raising=False)
    return tmp_path / "cache"


def _clips():
    return [speech_like(dur=d, seed=s).astype(np.float32) for d, s in ((2.3, 3), (0.7, 4), (4.1, 5))]


def _scores(model):
    return [(p.scores, p.embedding) for p in model.predict(_clips(), granularity="frame")]


@pytest.mark.parametrize("dtype", ["float32", "int8"])
def test_a_load_keeps_the_optimised_graph_and_the_next_opens_it_with_the_same_scores(export, cache, dtype, monkeypatch, capfd):
    from workbench.model.onnx_backend import load_onnx_model
    from workbench.model.onnx_optimized import ENV, FOLDER

    first = load_onnx_model(export, dtype=dtype)
    assert first.opened == "made"
    (kept,) = (cache / FOLDER).iterdir()
    record = json.loads((kept / "check.json").read_text())
    assert record["equal"] is True and record["differ"] == [] and record["outputs"] == 7
    assert record["source_sha256"] == first.info.checksum
    second = load_onnx_model(export, dtype=dtype)
    assert second.opened == "kept"
    monkeypatch.setenv(ENV, "0")
    plain = load_onnx_model(export, dtype=dtype)
    assert plain.opened == "source"
    for (a, ea), (b, eb), (c, ec) in zip(_scores(plain), _scores(first), _scores(second)):
        assert np.array_equal(a, b) and np.array_equal(a, c) and np.array_equal(ea, ec)
    err = capfd.readouterr().err
    assert "onnxruntime" not in err and "Serializing" not in err  # ONNX Runtime's warning on writing it never shows


def test_a_kept_graph_whose_bytes_changed_is_not_opened_but_made_again(export, cache):
    from workbench.model.onnx_backend import load_onnx_model
    from workbench.model.onnx_optimized import FOLDER

    load_onnx_model(export, dtype="int8")
    (kept,) = (cache / FOLDER).iterdir()
    # another graph's optimised bytes under the kept name (what a stale or edited cache holds): its sha256 is not the
    # checked one, so the session is not opened on it
    other = load_onnx_model(export, dtype="float32")
    other_kept = next(p for p in (cache / FOLDER).iterdir() if p != kept)
    shutil.copyfile(other_kept / "model.onnx", kept / "model.onnx")
    again = load_onnx_model(export, dtype="int8")
    assert again.opened == "made" and other.opened == "made"
    assert json.loads((kept / "check.json").read_text())["sha256"] != json.loads((other_kept / "check.json").read_text())["sha256"]
    assert load_onnx_model(export, dtype="int8").opened == "kept"


def test_the_check_sees_a_kept_graph_that_differs_and_a_failed_check_keeps_the_source(export, cache):
    """The check is real: a session on another graph's optimised file (float32 against int8) differs, it names the
    outputs, and a recorded failure means every later load optimises the source graph, never opens a kept file."""
    import onnxruntime as ort

    from workbench.model import onnx_optimized
    from workbench.model.onnx_backend import load_onnx_model

    load_onnx_model(export, dtype="float32")
    (float_kept,) = (cache / onnx_optimized.FOLDER).iterdir()
    options = ort.SessionOptions()
    options.log_severity_level = 3
    int8 = ort.InferenceSession(str(export / "model.int8.onnx"), sess_options=options, providers=["CPUExecutionProvider"])
    record = onnx_optimized._check(int8, float_kept / "model.onnx", options, ["CPUExecutionProvider"])
    assert record["equal"] is False and "scores" in record["differ"] and record["max_abs_diff"] > 0

    record = json.loads((float_kept / "check.json").read_text())
    (float_kept / "check.json").write_text(json.dumps({**record, "equal": False}))
    assert load_onnx_model(export, dtype="float32").opened == "failed check"


def test_a_link_in_the_cache_is_neither_opened_nor_written_through(export, cache, tmp_path):
    from workbench.model.onnx_backend import load_onnx_model
    from workbench.model.onnx_optimized import FOLDER

    load_onnx_model(export, dtype="int8")
    (kept,) = (cache / FOLDER).iterdir()
    elsewhere = tmp_path / "elsewhere.onnx"
    shutil.move(kept / "model.onnx", elsewhere)
    os.symlink(elsewhere, kept / "model.onnx")
    assert load_onnx_model(export, dtype="int8").opened == "made"  # the link is not opened; the folder is made anew
    assert not (kept / "model.onnx").is_symlink()

    shutil.rmtree(cache / FOLDER)
    target = tmp_path / "target"
    target.mkdir()
    os.symlink(target, cache / FOLDER)  # the cache's own folder a link: nothing is written through it
    assert load_onnx_model(export, dtype="int8").opened == "source"
    assert list(target.iterdir()) == []


def test_only_cpu_sessions_keep_a_graph_and_the_switch_turns_it_off(monkeypatch):
    from workbench.model import onnx_optimized

    monkeypatch.delenv(onnx_optimized.ENV, raising=False)
    assert onnx_optimized.wanted(["CPUExecutionProvider"])
    assert not onnx_optimized.wanted(["CUDAExecutionProvider", "CPUExecutionProvider"])
    monkeypatch.setenv(onnx_optimized.ENV, "0")
    assert not onnx_optimized.wanted(["CPUExecutionProvider"])
    monkeypatch.setenv(onnx_optimized.ENV, "false")  # read as on before: anything but "0" kept the graph
    with pytest.raises(ConfigError, match="not 0 or 1") as caught:
        onnx_optimized.wanted(["CPUExecutionProvider"])
    assert caught.value.source == onnx_optimized.ENV and "unset it" in str(caught.value)


def test_a_bad_switch_is_refused_before_onnx_runtime_opens_anything(export, cache, monkeypatch):
    from workbench.model.onnx_backend import load_onnx_model
    from workbench.model.onnx_optimized import ENV

    monkeypatch.setenv(ENV, "yes")
    with pytest.raises(ConfigError, match="WORKBENCH_ORT_OPTIMIZED.*not 0 or 1"):  # not "ONNX Runtime cannot open model.onnx"
        load_onnx_model(export, dtype="int8")


def test_the_kept_folder_is_per_graph_onnx_runtime_and_cpu(monkeypatch):
    from workbench.model import onnx_optimized, precision

    a = onnx_optimized.kept_folder("a" * 64)
    assert a.name.startswith("a" * 16 + "-ort") and a.name.endswith(precision.cpu_key())
    monkeypatch.setattr(onnx_optimized, "cpu_key", lambda: "another-CPU-64c-00000000")
    assert onnx_optimized.kept_folder("a" * 64) != a


def test_a_graph_kept_by_another_process_meanwhile_is_replaced_whole_never_mixed(export, cache, monkeypatch):
    """Two processes (Ray actors) making the same kept graph at once: the second finds the folder filled when it
    renames its own; the folder ends as one writer's whole (its graph and the check naming that graph's sha256), and
    no session is opened beyond the optimising one and the check's."""
    import hashlib

    import onnxruntime as ort

    from workbench.model import onnx_optimized
    from workbench.model.onnx_backend import load_onnx_model

    check, opened = onnx_optimized._check, []

    def the_other_process_finishes_first(session, kept, options, providers):
        record = check(session, kept, options, providers)
        final = kept.parent.parent / kept.parent.name.split(".tmp-")[0].lstrip(".")
        final.mkdir()
        (final / "check.json").write_text("{}")  # the other's files, half of them
        return record

    monkeypatch.setattr(onnx_optimized, "_check", the_other_process_finishes_first)
    session_class = ort.InferenceSession
    monkeypatch.setattr(ort, "InferenceSession", lambda *a, **kw: opened.append(a[0]) or session_class(*a, **kw))
    model = load_onnx_model(export, dtype="int8")
    assert len(opened) == 2 and len(model.predict(_clips()[:1])) == 1
    (kept,) = (cache / onnx_optimized.FOLDER).iterdir()
    record = json.loads((kept / "check.json").read_text())
    assert record["sha256"] == hashlib.sha256((kept / "model.onnx").read_bytes()).hexdigest()
    monkeypatch.setattr(ort, "InferenceSession", session_class)
    assert load_onnx_model(export, dtype="int8").opened == "kept"
