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


def test_a_skipped_randomisation_check_is_said_once_not_left_out(explanation):
    """The panel's lines are check_lines and skipped_check_lines: the skipped check was in both ("model randomisation
    check: skipped, not requested (randomisation=None) …" and "model-randomisation check: not run (…), skipped in the
    Evidence panel …"). It is said once, with the panel's reason and how to run it."""
    saved = explanation.randomisation_skipped
    try:
        explanation.randomisation_skipped = RANDOMISATION_SKIPPED  # as the panel sets it
        lines = explanation.check_lines("occlusion") + skipped_check_lines(explanation, "occlusion")
        recorded = explanation.to_dict()["methods"]["occlusion"]["randomisation"]
    finally:
        explanation.randomisation_skipped = saved
    said = [line for line in lines if "randomisation check" in line]
    assert len(said) == 1 and RANDOMISATION_SKIPPED in said[0] and "randomisation=None" not in said[0], lines
    assert recorded["passed"] is None and recorded["skipped"] == RANDOMISATION_SKIPPED
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
