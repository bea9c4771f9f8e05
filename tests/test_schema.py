"""The results schema is declared once: rows, readers and constants use it (issue #20)."""

from __future__ import annotations

import re
from pathlib import Path

from workbench.labels import LABEL_KEYS
from workbench.data.manifest import Item
from workbench.schema import (RESULT_COLUMNS, SAMPLE_RATE, SCORE_COLUMNS, failed_row, ok_row, score_column)
from workbench.audio.variants import RAW

PKG = Path(__file__).resolve().parents[1] / "workbench"


def test_a_failed_row_has_every_declared_column_in_the_declared_order():
    row = failed_row(Item(id="x", path="x.wav", emotion="happy"), RAW, {"text": "could not decode", "code": "audio"})
    assert list(row) == [c.name for c in RESULT_COLUMNS]
    assert row["status"] == "failed" and row["error_code"] == "audio" and row["pred"] is None
    assert all(row[c] is None for c in SCORE_COLUMNS)


def test_an_ok_row_of_a_real_prediction_has_the_same_columns(tiny_model, tmp_path):
    import soundfile as sf

    from conftest import speech_like
    from workbench.engine.core import score_sources

    sf.write(tmp_path / "a.wav", speech_like(SAMPLE_RATE, 1.0), SAMPLE_RATE)
    (scored,) = score_sources(tiny_model, [tmp_path / "a.wav"], workers=0)
    scored.item = Item(id="a", path="a.wav", emotion="happy")
    row = ok_row(scored)
    assert list(row) == [c.name for c in RESULT_COLUMNS]
    assert abs(sum(row[c] for c in SCORE_COLUMNS) - 1.0) < 1e-5
    assert row[score_column(scored.prediction.label)] == max(row[c] for c in SCORE_COLUMNS)
    assert SCORE_COLUMNS == [f"score_{k}" for k in LABEL_KEYS]


def _docstring_lines(source: str) -> set[int]:
    """The lines of a module's docstrings (their prose and doctest examples are the reader's, not the code's)."""
    import ast

    lines: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                lines.update(range(first.lineno, first.end_lineno + 1))
    return lines


def test_16000_and_the_score_column_are_spelt_in_one_place():
    spelt_16k, spelt_score = [], []
    for p in PKG.rglob("*.py"):
        source = p.read_text(encoding="utf-8")
        docs = _docstring_lines(source)
        for n, line in enumerate(source.splitlines(), 1):
            if n in docs:
                continue
            if re.search(r"\b16_?000\b", line):
                spelt_16k.append(f"{p.name}:{n}")
            if re.search(r"""["']score_(?!of_base|sources|transcript)""", line):
                spelt_score.append(f"{p.name}:{n}")
    assert len(spelt_16k) == 1 and spelt_16k[0].startswith("schema.py"), spelt_16k
    assert len(spelt_score) == 1 and spelt_score[0].startswith("schema.py"), spelt_score
