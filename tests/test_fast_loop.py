"""The fast loop's list of heavy tests (``tests/conftest.py``) names tests that exist: a renamed test would
otherwise drop back into ``make test-fast`` unseen, and a misspelt entry would mark nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import HEAVY_FILES, HEAVY_TESTS, is_heavy

TESTS = Path(__file__).resolve().parent


def stale(entries, tests_dir: Path) -> list[str]:
    """The ``file::test`` entries whose file has no ``def test(``."""
    out = []
    for entry in sorted(entries):
        name, test = entry.split("::")
        path = tests_dir / name
        if not path.is_file() or not re.search(rf"^\s*def {re.escape(test)}\(", path.read_text(encoding="utf-8"), re.M):
            out.append(entry)
    return out


def test_every_heavy_entry_names_a_test_that_exists():
    assert stale(HEAVY_TESTS, TESTS) == []
    assert [f for f in sorted(HEAVY_FILES) if not (TESTS / f).is_file()] == []


def test_a_renamed_test_is_found_stale(tmp_path):
    (tmp_path / "test_a.py").write_text("def test_kept():\n    pass\n")
    assert stale({"test_a.py::test_kept", "test_a.py::test_renamed", "test_b.py::test_x"}, tmp_path) == [
        "test_a.py::test_renamed", "test_b.py::test_x"]


class _Item:
    def __init__(self, path: str, name: str):
        self.path, self.name, self.originalname = Path(path), name, name.split("[")[0]


@pytest.mark.parametrize("path, name, heavy", [
    ("tests/test_runfolder.py", "test_a_fault_at_a_write_point_resumes_to_the_uninterrupted_run[kill-write-w6]", True),
    ("tests/test_runfolder.py", "test_the_pooled_engine_gives_the_in_process_engines_rows", False),
    ("tests/test_notebooks.py", "test_anything", True),
    ("tests/test_corpora.py", "test_emodb", False),
])
def test_the_marker_follows_the_lists(path, name, heavy):
    assert is_heavy(_Item(path, name)) is heavy
