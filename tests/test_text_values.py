"""A column with every cell empty, read from a CSV file, is float64: ``fillna("")`` on it warns under pandas 3
(``Pandas4Warning``: "'str' is not supported as a fill value for float64 dtype … will raise").  Every such read goes
through :func:`workbench.schema.text_values` now; these paths run with that warning as an error.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pandas as pd
import pytest

from workbench.analysis.metrics import breakdown_table
from workbench.data.listeners import listener_frame
from workbench.labels import LABEL_KEYS
from workbench.schema import SCORE_COLUMNS, text_values

Pandas4Warning = getattr(pd.errors, "Pandas4Warning", FutureWarning)


@pytest.fixture(autouse=True)
def _warnings_are_errors():
    with warnings.catch_warnings():
        warnings.simplefilter("error", Pandas4Warning)
        warnings.simplefilter("error", FutureWarning)
        yield


def test_text_values_of_an_all_empty_float_column_and_of_a_mixed_one():
    empty = pd.read_csv(io.StringIO("a,b\n1,\n2,\n"))["b"]
    assert empty.dtype == np.float64
    assert text_values(empty).tolist() == ["", ""]
    assert text_values(pd.Series([np.nan, 1.0, None], dtype=object)).tolist() == ["", "1.0", ""]
    assert text_values(pd.Series(["a", None])).tolist() == ["a", ""]
    assert text_values(pd.Series([3, 4])).tolist() == ["3", "4"]
    frame = text_values(pd.DataFrame({"x": [np.nan, np.nan], "y": ["k", None]}))
    assert frame.to_dict("list") == {"x": ["", ""], "y": ["k", ""]}


def test_listener_frame_with_flat_columns_and_no_majority_anywhere():
    """`workbench listeners` on a table whose listener_majority cells are all empty (listeners.py:272 warned)."""
    table = pd.read_csv(io.StringIO("id,agreement,n_raters,listener_majority," + ",".join(f"votes_{k}" for k in LABEL_KEYS)
                                    + "\na,0.5,4,," + ",".join(["1"] * 9) + "\nb,0.25,4,," + ",".join(["0"] * 9) + "\n"))
    assert table["listener_majority"].dtype == np.float64
    out = listener_frame(table)
    assert out["listener_majority"].tolist() == ["", ""]
    assert out["agreement"].tolist() == [0.5, 0.25]


def _results(n: int = 12) -> pd.DataFrame:
    p = np.random.default_rng(0).dirichlet(np.ones(9), n)
    df = pd.DataFrame(p, columns=SCORE_COLUMNS)
    df["id"], df["variant"], df["status"] = [f"i{k}" for k in range(n)], "raw", "ok"
    df["emotion"] = [LABEL_KEYS[k % 3] for k in range(n)]
    df["pred"], df["confidence"] = [LABEL_KEYS[i] for i in p.argmax(1)], p.max(1)
    df["speaker"] = np.nan  # no speaker anywhere: a float64 column once the results were read back from CSV
    return df


def test_metrics_by_a_column_with_no_value_anywhere():
    assert breakdown_table(_results(), by="speaker", n_boot=10).empty  # no group: every row left out, none warned
