"""A ``--dtype auto`` measurement record in the shared cache, edited by someone else: never a crash, never a path
chosen that did not pass its agreement check, never a link followed."""

from __future__ import annotations

import copy
import json
import os

import pytest

from workbench.model import fastpath

CHECKSUM = "ab" * 32
GOOD = {"clips": 4, "top1_same": 4, "top1_agreement": 1.0, "max_abs_delta_score": 0.001, "cosine_min": 0.9999}
BAD = {"clips": 4, "top1_same": 1, "top1_agreement": 0.25, "max_abs_delta_score": 0.6, "cosine_min": 0.2}


@pytest.fixture
def record(tmp_path, monkeypatch):
    """A record as measure_paths writes it: int8 twice as fast as float32 and in agreement."""
    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(fastpath, "cpu_identity", lambda: {"model": "test CPU", "threads": 2, "flags": []})
    monkeypatch.setattr(fastpath, "versions", lambda: {"torch": "t", "onnxruntime": "o", "workbench": "w"})
    return {"format": fastpath.RECORD_FORMAT, "cpu": fastpath.cpu_identity(), "checkpoint_sha256": CHECKSUM, "checkpoint_identity_sha256": CHECKSUM,
            "versions": fastpath.versions(), "clips": {"n": 4}, "measured": "2025-01-01T00:00:00+00:00",
            "paths": {"float32": {"seconds": 1.0, "x_float32": 1.0, "ok": True, "start_seconds": 2.0},
                      "int8": {"seconds": 0.5, "x_float32": 2.0, "ok": True, "start_seconds": 2.0, "agreement": GOOD},
                      "bfloat16": {"seconds": 0.1, "x_float32": 10.0, "ok": False, "start_seconds": 2.0, "agreement": BAD}}}


def _saved(record: dict) -> dict | None:
    path = fastpath.record_path(CHECKSUM)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return fastpath.cached_record(CHECKSUM)


def test_an_intact_record_is_used(record):
    assert _saved(record) is not None and fastpath.choose(record, job_clips=10)[0] == "int8"


EDITS = [
    ("int8", "seconds", "fast"), ("int8", "seconds", 0), ("int8", "seconds", float("nan")), ("int8", "seconds", -5),
    ("int8", "seconds", 1e308), ("float32", "seconds", 0), ("float32", "seconds", None), ("int8", "start_seconds", "x"),
    ("int8", "start_seconds", -1e9), ("int8", "start_seconds", float("inf")), ("int8", "torch_import_seconds", "x"),
    ("int8", "ok", "false"), ("int8", "agreement", "passed"), ("int8", "agreement", {"top1_agreement": "1", "cosine_min": 1}),
    ("int8", None, [1, 2]), ("float32", None, "fast"), ("bfloat16", "ok", True), ("float32", "ok", None),
    # float32's own figures reached the screen when it was chosen (KeyError); a truthy string took the torch import off
    ("float32", "agreement", {"bogus": 1}), ("bfloat16", "agreement", "passed"), ("int8", "start_imports_torch", "no"),
]


@pytest.mark.parametrize("path, key, value", EDITS, ids=[f"{p}.{k}={v!r}" for p, k, v in EDITS])
def test_an_edited_record_is_measured_again_not_a_crash_or_a_failed_path(record, path, key, value, caplog):
    edited = copy.deepcopy(record)
    if key is None:
        edited["paths"][path] = value
    else:
        edited["paths"][path][key] = value
    assert _saved(edited) is None  # measured again, and said so
    assert "is not usable" in caplog.text and "measured again" in caplog.text


@pytest.mark.parametrize("edit", [{"paths": []}, {"paths": None}, {"clips": "4"}, {"clips": {"n": 0}}, {"measured": None},
                                  {"clips": {"n": 10 ** 4000}}])  # a float division by it overflowed (OverflowError)
def test_a_record_whose_frame_is_edited_is_measured_again(record, edit):
    assert _saved({**record, **edit}) is None


def test_choose_itself_never_takes_a_path_marked_ok_against_its_figures(record):
    edited = copy.deepcopy(record)
    edited["paths"]["bfloat16"]["ok"] = True  # 10x faster, and its agreement fails
    assert fastpath.choose(edited)[0] == "int8" and fastpath.choose(edited, job_clips=10)[0] == "int8"


def test_a_record_that_is_a_link_or_a_device_is_not_read(record, tmp_path):
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(record))
    path = fastpath.record_path(CHECKSUM)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(elsewhere)
    assert fastpath.cached_record(CHECKSUM) is None  # a link planted in the shared cache is not followed
    path.unlink()
    path.symlink_to("/dev/zero")  # read_text() never returned
    assert fastpath.cached_record(CHECKSUM) is None
    path.unlink()
    if hasattr(os, "mkfifo"):
        os.mkfifo(path)
        assert fastpath.cached_record(CHECKSUM) is None


def test_a_record_nested_past_the_parser_is_measured_again_not_a_crash(record):
    """`--dtype auto` stopped with an 'unexpected RecursionError' on a record of deeply nested JSON."""
    path = fastpath.record_path(CHECKSUM)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"a":' * 100_000 + "1" + "}" * 100_000)
    assert fastpath.cached_record(CHECKSUM) is None


def test_a_record_behind_a_linked_folder_is_not_read(record, tmp_path):
    """O_NOFOLLOW guarded the record's own name only: a `fastpath` folder planted as a link to a folder of forged
    records was read through, and its record chose the path."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / fastpath.record_path(CHECKSUM).name).write_text(json.dumps(record))
    fastpath.record_path(CHECKSUM).parent.parent.mkdir(parents=True, exist_ok=True)
    fastpath.record_path(CHECKSUM).parent.symlink_to(elsewhere)
    assert fastpath.cached_record(CHECKSUM) is None
