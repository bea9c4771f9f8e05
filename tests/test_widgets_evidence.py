"""The Evidence panel says every check of the map, including one that did not run (never omitted silently)."""

from __future__ import annotations

import pytest

from conftest import speech_like
from workbench.audio.intake import Audio
from workbench.explain.explanation import explain_clip

pytest.importorskip("ipywidgets")
from workbench.views.run_browser import RANDOMISATION_SKIPPED, skipped_check_lines  # noqa: E402


@pytest.fixture(scope="module")
def explanation(tiny_model):
    """A real occlusion explanation of a 1 s clip, made as the panel makes it (no randomisation check; short curves)."""
    audio = Audio(speech_like(dur=1.0, seed=3), 16000, "clip")
    return explain_clip(tiny_model, audio, methods=("occlusion",), steps=4, n_random=10, randomisation=None, item_id="clip")


def test_a_skipped_randomisation_check_is_said_not_left_out(explanation):
    lines = skipped_check_lines(explanation, "occlusion")
    recorded = explanation.to_dict()["methods"]["occlusion"]["randomisation"]
    if recorded is None:  # the check did not run and the JSON says nothing: the panel says it was skipped, and how to run it
        assert f"model-randomisation check: not run, {RANDOMISATION_SKIPPED}" in lines
    else:  # the JSON records it as skipped, with the reason: the panel says that, and how to run it
        assert recorded["passed"] is None and recorded["skipped"]
        assert f"model-randomisation check: not run ({recorded['skipped']}), {RANDOMISATION_SKIPPED}" in lines
        assert not any("undetermined" in line for line in lines)


def test_whatever_status_the_json_carries_is_shown_with_its_reason(explanation):
    """The explain helper records a check it did not run as ``{"status": ..., "reason": ...}`` in the JSON: the
    panel shows that status and reason, for any check of the map."""
    checks = explanation.attributions["occlusion"].checks
    saved = dict(checks)
    try:
        checks["stability"] = {"status": "skipped", "reason": "one baseline seed"}
        checks["hidden_check"] = {"status": "not applicable", "reason": "a clip under 0.5 s"}
        lines = skipped_check_lines(explanation, "occlusion")
    finally:
        checks.clear()
        checks.update(saved)
    assert "stability over baseline seeds: skipped (one baseline seed)" in lines
    assert "hidden_check: not applicable (a clip under 0.5 s)" in lines
