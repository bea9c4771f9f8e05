"""``serialize.plain_dict``: the records every processed clip writes, as ``dataclasses.asdict`` gives them, faster.

Checked against ``asdict`` itself on the dataclasses that use it, with nested and odd values."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from workbench.audio.config import AudioConfig
from workbench.audio.processing import StepRecord
from workbench.audio.steps import Trim
from workbench.engine.findings import Finding
from workbench.serialize import plain_dict


@dataclass
class _Inner:
    a: list = field(default_factory=lambda: [1, {"x": (2, 3)}])


@dataclass
class _Outer:
    inner: _Inner = field(default_factory=_Inner)
    arr: np.ndarray = field(default_factory=lambda: np.arange(3))
    nested: dict = field(default_factory=lambda: {"k": [_Inner()], "t": ("a", 1.5, None)})
    scalar: np.float64 = np.float64(2.5)


def _same(a, b):
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and np.array_equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def test_equal_to_asdict_on_the_package_records_and_nested_values():
    records = [
        StepRecord(name="decode", params={"decoder": "soundfile", "peak": 0.5, "nested": {"l": [1, 2]}}, sr_in=16000,
                   warnings=["a", "b"], cut_start_db_above_floor=None),
        Finding("dc_only", "error", "a message", {"dc_offset": 0.3, "list": [1, 2, {"x": 1}]}, "a fix"),
        AudioConfig(), Trim(), _Outer(),
    ]
    for r in records:
        assert _same(plain_dict(r), asdict(r)), type(r).__name__


def test_the_copy_is_independent_of_the_record():
    r = StepRecord(name="decode", params={"nested": {"l": [1, 2]}}, warnings=["a"])
    d = plain_dict(r)
    d["params"]["nested"]["l"].append(3)
    d["warnings"].append("b")
    o = _Outer()
    od = plain_dict(o)
    od["arr"][0] = 99
    od["inner"]["a"][1]["x"] = None
    assert r.params == {"nested": {"l": [1, 2]}} and r.warnings == ["a"]
    assert o.arr[0] == 0 and o.inner.a[1]["x"] == (2, 3)
