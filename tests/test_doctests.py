"""The researcher's API documents itself: every public function and class of ``import workbench as wb``
has a numpydoc docstring (Parameters where it takes any, an Examples section), and the examples run,
as doctests, on the seeded ``tiny`` checkpoint.

The examples share one working folder per session, so the demo run that several of them start with
(``wb.demo_run("runs/demo", model="tiny")``) is made once and reused, as it is for a user.
"""

from __future__ import annotations

import doctest
import inspect
import os

import numpy as np
import pytest

import workbench as wb

#: public names that are data, modules or the error family: no example to run
NOT_CALLABLE_API = {"LABELS", "LABEL_KEYS", "SAMPLE_RATE", "FRAME_RATE", "DEMO_DATA", "DEFAULT_MODEL", "reporting"}


def _documented_names() -> list[str]:
    names = []
    for name in sorted(wb._PUBLIC):
        if name in NOT_CALLABLE_API:
            continue
        obj = getattr(wb, name)
        if inspect.isclass(obj) and issubclass(obj, BaseException):
            continue
        if inspect.isfunction(obj) or inspect.isclass(obj):
            names.append(name)
    return names


NAMES = _documented_names()


def _takes_parameters(obj) -> bool:
    target = obj.__init__ if inspect.isclass(obj) else obj
    try:
        params = list(inspect.signature(target).parameters)
    except (TypeError, ValueError):
        return False
    return any(p not in ("self", "cls") for p in params)


def test_the_check_sees_the_public_functions():
    # the list cannot be silently empty (a renamed registry would pass every test below)
    assert {"run", "ModelRef", "explain_clip", "calibrate", "run_report"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_public_name_has_a_numpydoc_docstring_with_examples(name):
    obj = getattr(wb, name)
    doc = inspect.getdoc(obj) or ""
    missing = []
    if "Examples\n--------" not in doc or ">>> " not in doc:
        missing.append("an Examples section with >>> lines")
    if _takes_parameters(obj) and "Parameters\n----------" not in doc:
        missing.append("a Parameters section")
    assert not missing, f"wb.{name} ({obj.__module__}) lacks {' and '.join(missing)}"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("doctests")


@pytest.mark.parametrize("name", NAMES)
def test_the_examples_run_on_the_tiny_checkpoint(name, workdir, monkeypatch):
    monkeypatch.chdir(workdir)
    obj = getattr(wb, name)
    finder = doctest.DocTestFinder(recurse=inspect.isclass(obj))
    tests = [t for t in finder.find(obj, f"wb.{name}", globs={"wb": wb, "np": np, "os": os}) if t.examples]
    if not tests:
        pytest.skip(f"wb.{name} has no examples yet (the test above fails for it)")
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report = []
    for test in tests:
        runner.run(test, out=report.append)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, "".join(report)
