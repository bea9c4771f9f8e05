"""The kept optimised graph (workbench.model.onnx_optimized) under a hostile or careless cache: a check record copied
from another graph's folder, a cache that is a file or read-only, a full disk.  Each time the source graph opens (or
a clear refusal), nothing is written where it should not be."""

from __future__ import annotations

import errno
import json
import os
import shutil

import numpy as np
import pytest

from conftest import speech_like
from test_onnx_optimized import cache, export  # noqa: F401  (the export and a cache of the test's own: fixtures)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _scores(model):
    return model.predict([speech_like(dur=1.3, seed=3).astype(np.float32)])[0].scores


def test_a_check_and_graph_copied_from_another_graphs_folder_are_not_opened(export, cache):
    """The float32 graph's kept folder (its graph and its passing check, consistent with each other) copied over the
    int8 graph's: the record names another source graph, so it is not opened (before, the int8 load opened the
    float32 graph as 'kept' and scored with it)."""
    from workbench.model.onnx_backend import load_onnx_model
    from workbench.model.onnx_optimized import FOLDER

    int8 = load_onnx_model(export, dtype="int8")
    (int8_kept,) = (cache / FOLDER).iterdir()
    load_onnx_model(export, dtype="float32")
    float_kept = next(p for p in (cache / FOLDER).iterdir() if p != int8_kept)
    for name in ("model.onnx", "check.json"):
        shutil.copyfile(float_kept / name, int8_kept / name)
    again = load_onnx_model(export, dtype="int8")
    assert again.opened == "made"
    assert np.array_equal(_scores(again), _scores(int8))
    assert json.loads((int8_kept / "check.json").read_text())["source_sha256"] == int8.info.checksum


def test_a_cache_that_is_a_file_opens_the_source_graph(export, tmp_path, monkeypatch):
    from workbench.model.onnx_backend import load_onnx_model

    monkeypatch.delenv("WORKBENCH_ORT_OPTIMIZED", raising=False)
    a_file = tmp_path / "cache"
    a_file.write_text("not a folder")
    monkeypatch.setenv("WORKBENCH_CACHE", str(a_file))
    model = load_onnx_model(export, dtype="int8")
    assert model.opened == "source" and a_file.read_text() == "not a folder"


def test_a_full_disk_opens_the_source_graph_and_leaves_no_temporary(export, cache, monkeypatch):
    from workbench import files
    from workbench.model.onnx_backend import load_onnx_model
    from workbench.model.onnx_optimized import FOLDER

    def full(*a, **kw):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "write_text", full)
    assert load_onnx_model(export, dtype="int8").opened == "source"
    assert [p.name for p in (cache / FOLDER).iterdir()] == []


def test_a_kept_graph_replaced_by_a_huge_file_is_not_hashed_but_made_again(export, cache, monkeypatch):
    """A kept graph replaced by a 4 GB (sparse) file: its size is not the checked one, so it is made again without
    reading 4 GB to hash it first."""
    from workbench.model import onnx_optimized
    from workbench.model.onnx_backend import load_onnx_model

    load_onnx_model(export, dtype="int8")
    (kept,) = (cache / onnx_optimized.FOLDER).iterdir()
    assert json.loads((kept / "check.json").read_text())["bytes"] == (kept / "model.onnx").stat().st_size
    with open(kept / "model.onnx", "r+b") as f:
        f.truncate(4 << 30)
    hashed = []
    real = onnx_optimized.file_sha256
    monkeypatch.setattr(onnx_optimized, "file_sha256", lambda p: hashed.append(os.path.getsize(p)) or real(p))
    assert load_onnx_model(export, dtype="int8").opened == "made"
    assert all(size < 1 << 30 for size in hashed)
