"""CSV a spreadsheet and a terminal show as the text it holds, and the values read back from it.

Every CSV the workbench writes for people (flips, agreement, fusion, probe, sweep, timeline and segments, projections,
cue tables) goes through :func:`spreadsheet_safe` (or :func:`spreadsheet_cell`, one cell): a cell that would run as a
formula gets a leading apostrophe, and a control or bidirectional character is written as its escape.
:func:`spreadsheet_value` undoes both, so every value reads back exactly.
"""

from __future__ import annotations

import io
import re
from typing import Any

from workbench.errors import CONTROL_CHARACTERS

#: a cell starting with one of these runs as a formula in Excel, LibreOffice or Google Sheets
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


#: what a CSV cell writes as an escape: a character a screen acts on or hides (:data:`~workbench.errors.CONTROL_CHARACTERS`:
#: ESC recolours a terminal that ``cat``s the file, U+202E shows the rest of a cell reversed, a line break splits a row
#: for a line-by-line reader), and a backslash that would otherwise read as the start of an escape (before ``\\``,
#: ``xHH``, ``uHHHH`` or a character written as an escape)
_CELL_ESCAPED = re.compile(f"(?:{CONTROL_CHARACTERS.pattern})" + r"|\\(?=\\|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|" + f"{CONTROL_CHARACTERS.pattern})")
_CELL_ESCAPE = re.compile(r"\\(\\|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4})")


def _escape(match: "re.Match[str]") -> str:
    ch = match.group()
    return "\\\\" if ch == "\\" else (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def spreadsheet_cell(value: Any) -> Any:
    """``value`` as a CSV cell a spreadsheet and a terminal show as the text it is.

    Text whose first character (after any apostrophes) would start a formula gets a leading apostrophe (OWASP's rule);
    every control or bidirectional character is written as its escape (``\\x1b``, ``\\u202e``, ``\\n``: the
    escapes :func:`workbench.errors.printable` shows on screen), and a backslash that already reads as the start of one
    (``\\x41``, ``\\\\``) is doubled.  Any other text (a Windows path ``C:\\data``, a zero-width joiner) is written as it
    is, and :func:`spreadsheet_value` gives back the original of every cell."""
    if not isinstance(value, str):
        return value
    if "\\" in value or CONTROL_CHARACTERS.search(value):
        value = _CELL_ESCAPED.sub(_escape, value)
    if value.lstrip("'").startswith(FORMULA_STARTS):
        return "'" + value
    return value


def spreadsheet_value(cell: Any) -> Any:
    """The value a :func:`spreadsheet_cell` cell was written from: one leading apostrophe before a formula start (or
    before more apostrophes and one) dropped, the escapes ``\\xHH``, ``\\uHHHH`` and ``\\\\`` read back.  Read a
    workbench CSV as written with ``pd.read_csv(path).map(spreadsheet_value)`` (column names: ``.rename(columns=
    spreadsheet_value)``); a number is returned as it is."""
    if not isinstance(cell, str):
        return cell
    if cell.startswith("'") and cell.lstrip("'").startswith(FORMULA_STARTS):
        cell = cell[1:]
    if "\\" in cell:
        cell = _CELL_ESCAPE.sub(lambda m: "\\" if m.group(1) == "\\" else chr(int(m.group(1)[1:], 16)), cell)
    return cell


def spreadsheet_safe(frame):
    """A copy of a DataFrame whose text cells and column names cannot run as formulas nor hold a control or
    bidirectional character (:func:`spreadsheet_cell`; :func:`spreadsheet_value` reads each back); numbers stay numbers."""
    import pandas as pd
    from pandas.api import types

    out = frame.copy()
    for col in out.columns:
        s = out[col]
        if types.is_numeric_dtype(s) or types.is_bool_dtype(s) or types.is_datetime64_any_dtype(s):
            continue
        out[col] = (s.astype(object) if isinstance(s.dtype, pd.CategoricalDtype) else s).map(spreadsheet_cell)
    out.columns = [spreadsheet_cell(c) for c in out.columns]
    return out


def to_csv_text(frame) -> str:
    """A DataFrame as CSV text safe to open in a spreadsheet (no index)."""
    buf = io.StringIO()
    spreadsheet_safe(frame).to_csv(buf, index=False)
    return buf.getvalue()
