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


@pytest.mark.parametrize("edit", [{"top1_certain": -3}, {"top1_certain": 40}, {"top1_certain": True}, {"top1_certain": "12"},
                                  {"top1_agreement": True}, {"cosine_min": True}, {"top1_agreement": "1.0"},
                                  {"top1_agreement": 0.5}])
def test_an_ok_graph_whose_recorded_figures_fail_the_bounds_is_refused(tmp_path, edit):
    """model.json's `ok: true` was taken on trust: figures edited to a count outside the clips, to booleans (`true`
    passed as 1), strings (shortfalls raised TypeError) or below the bound still ran the graph as checked."""
    figures = {"n": 12, "top1_agreement": 1.0, "top1_certain": 12, "n_label_flips": 0, "max_abs_delta_score": 1e-4,
               "cosine_min": 0.9999}
    good = {"ok": True, "graphs": {"float32": {"ok": True, "failed": [], "agreement": figures}}}
    assert failed_checks(good) == {}
    bad = {"ok": True, "graphs": {"float32": {"ok": True, "failed": [], "agreement": {**figures, **edit}}}}
    assert "do not pass" in failed_checks(bad)["float32"]
    (tmp_path / "model.json").write_text(json.dumps({"check": bad}))
    with pytest.raises(ModelError, match="model.onnx FAILED its check at export"):
        resolve_onnx_dtype("float32", tmp_path)
