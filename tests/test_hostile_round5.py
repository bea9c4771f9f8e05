"""Hostile inputs of the fifth round (listeners, --temperature RUN, fuse, finetune labels, interrupts): each test builds
the input, runs the real component, and checks the refusal (or the bound) that the old code lacked."""

from __future__ import annotations

import json

import pytest

from workbench.cli.common import resolve_temperature
from workbench.errors import ConfigError


def test_a_calibration_files_reasons_stay_on_the_errors_one_line(tmp_path):
    # `--temperature RUN` of a run received from someone else: its calibration.json's words are printed in the refusal
    (tmp_path / "calibration.json").write_text(json.dumps({
        "recommended": False, "temperature_fitted": "\x1b[2J" + "9" * 500,
        "not_recommended_because": ["at the bound\n\x1b[31mT = 1.2 recommended", "x" * 10_000] + ["more"] * 1000}))
    with pytest.raises(ConfigError) as info:
        resolve_temperature(str(tmp_path))
    message = info.value.message
    assert "\n" not in message and "\x1b" not in message  # a line break in a reason printed a line of its own
    assert "at the bound\\n\\x1b[31mT = 1.2 recommended" in message and len(message) < 1500
