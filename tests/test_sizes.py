"""Sizes a maintainer can read (issue #27): no module of the package over 600 lines, no function over 80.

A configuration literal that would break the rule belongs in a data file shipped with the package.
The checker is tried on planted sources first, so that it is known to fail where it should.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO_PKG = Path(__file__).resolve().parents[1] / "workbench"
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 80


def too_long(source: str, name: str) -> list[str]:
    """What in one module's source breaks the size rules, as readable lines."""
    found = []
    n_lines = len(source.splitlines())
    if n_lines > MAX_MODULE_LINES:
        found.append(f"{name}: {n_lines} lines (at most {MAX_MODULE_LINES})")
    for node in ast.walk(ast.parse(source, name)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found.append(f"{name}:{node.lineno} {node.name}(): {length} lines (at most {MAX_FUNCTION_LINES})")
    return found


def test_the_checker_sees_a_long_module_and_a_long_function():
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    long_function = f"def f():\n{body}\n"
    assert too_long(long_function, "planted.py") == [f"planted.py:1 f(): {MAX_FUNCTION_LINES + 1} lines (at most 80)"]
    long_module = "\n".join(f"y{i} = {i}" for i in range(MAX_MODULE_LINES + 1))
    assert too_long(long_module, "planted.py") == [f"planted.py: {MAX_MODULE_LINES + 1} lines (at most 600)"]
    assert too_long("def g():\n    return 1\n", "small.py") == []


def test_no_module_over_600_lines_and_no_function_over_80():
    found = []
    for path in sorted(REPO_PKG.rglob("*.py")):
        found += too_long(path.read_text(encoding="utf-8"), str(path.relative_to(REPO_PKG.parent)))
    assert not found, "split by idea:\n" + "\n".join(found)
