"""``model.json``'s export check, edited by hand: a check of the wrong type is no evidence that a graph passed."""

from __future__ import annotations

import json

import pytest

from workbench.errors import ModelError
from workbench.model.onnx_backend import resolve_onnx_dtype
from workbench.model.onnx_export import failed_checks


@pytest.mark.parametrize("check", ["passed", True, ["float32"], {"ok": True, "graphs": "all"}, {"ok": True},
                                   {"ok": True, "graphs": {"float32": "ok"}}, {"ok": True, "graphs": {"float32": True}}])
def test_a_check_of_the_wrong_type_refuses_the_graph_instead_of_counting_as_no_check(tmp_path, check):
    (tmp_path / "model.json").write_text(json.dumps({"format": "emotion-workbench-onnx/1", "check": check}))
    assert "float32" in failed_checks(check)
    with pytest.raises(ModelError, match="model.onnx FAILED its check at export"):
        resolve_onnx_dtype("float32", tmp_path)


def test_no_check_recorded_and_a_passing_check_still_run(tmp_path):
    assert failed_checks(None) == {}
    passed = {"ok": True, "graphs": {"float32": {"ok": True, "failed": []}}}
    assert failed_checks(passed) == {}
    (tmp_path / "model.json").write_text(json.dumps({"check": passed}))
    assert resolve_onnx_dtype("float32", tmp_path)[0] == "float32"
