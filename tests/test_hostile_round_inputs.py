"""Hostile and careless inputs met by the commands (this round's attacks): each refused early with the input named, the
fact and the fix, and nothing written outside where asked."""

from __future__ import annotations

import json
import os

import pytest

from workbench.errors import WorkbenchError


@pytest.mark.parametrize("content, says", [
    ({"recommended": False, "temperature_fitted": "x", "not_recommended_because": [1, {"a": 2}]}, "T = 'x' but did not recommend it: 1 {'a': 2}"),
    ({"recommended": False, "temperature_fitted": 7.0, "not_recommended_because": "at a bound"}, "T = 7.000 but did not recommend it: at a bound"),
    ([1, 2], "its calibration.json has none"),
    ({"temperature": 0.05, "recommended": True}, "lies at the lower bound of calibrate's search"),
    ({"temperature": 100, "recommended": True}, "lies at the upper bound of calibrate's search"),
])
def test_a_hostile_calibration_json_is_refused_with_what_it_holds(tmp_path, content, says):
    """A calibration.json with reasons that are not strings raised 'unexpected TypeError'; a string of reasons was
    joined letter by letter; one holding a list said 'no calibration.json'; a temperature at a bound of calibrate's
    search (which calibrate never recommends) was used."""
    from workbench.cli.common import resolve_temperature

    (tmp_path / "calibration.json").write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(WorkbenchError) as err:
        resolve_temperature(str(tmp_path))
    assert says in str(err.value)


def test_an_empty_temperature_is_not_the_current_folder(tmp_path, monkeypatch):
    from workbench.cli.common import resolve_temperature

    monkeypatch.chdir(tmp_path)
    with pytest.raises(WorkbenchError) as err:
        resolve_temperature("")
    assert "'' is neither a number nor a run folder" in str(err.value)
