"""One error family for the workbench.

Every message names the input, the fact that is wrong, what was expected and
the fix, so that a failed row in a results table explains itself.  Data shown on a screen or written to a CSV
is escaped here too (:func:`printable`, :func:`escape_controls`, the CSV cells and their one reader).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

#: what a screen, a log or a page acts on or hides, and what no manifest id may hold: control characters (C0 with tab
#: and line ends, DEL, C1), the line and paragraph separators, and the bidirectional controls (U+202E shows the rest
#: of a line reversed).  Other invisible characters (a no-break space, the zero-width joiners of Persian or Hindi
#: names) are text.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


#: what a page would act on or hide: control characters (but tab and line ends), the bidirectional controls, which
#: show the rest of a line reversed (a file name "clip\u202eVAW.exe" reads "clipexe.WAV"), and the zero-width ones, which
#: make two speakers "spk1" and "spk\u200b1" (two groups for a speaker-independent split) read as one
HTML_HIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")


def html_text(value: Any) -> str:
    """``value`` as text inside HTML: ``<``, ``>``, ``&`` and both quotes escaped, and every :data:`HTML_HIDDEN` character
    shown as its escape (``\x1b``, ``\u202e``), as the terminal shows them."""
    import html

    return html.escape(html_visible("" if value is None else str(value)), quote=True)


def html_visible(page: str) -> str:
    """``page`` (HTML built from escaped data, e.g. by ``DataFrame.to_html``, which escapes markup only) with every
    :data:`HTML_HIDDEN` character shown as its escape; the markup the workbench writes holds none."""
    return HTML_HIDDEN.sub(lambda m: repr(m.group())[1:-1], page)


class WorkbenchError(Exception):
    """Base class of every error the workbench raises on purpose."""

    #: short machine-readable code, stored in failed result rows
    code = "error"

    def __init__(self, message: str, *, source: str | None = None, fix: str | None = None):
        self.source = source
        self.fix = fix
        parts = []
        if source and not _names_itself(source, message):
            parts.append(f"{_one_line(source)}: ")
        parts.append(message)
        if fix:
            parts.append(f" Fix: {fix}")
        super().__init__("".join(parts))
        self.message = message

    def render(self) -> str:
        """The console form: ``error: <source>: <message>`` and, on the next line, ``  fix: <fix>``.

        A source that is a path on this machine (or starts with one, ``data/x.csv, row 3``) is shown absolute and
        normalised (``../../x`` would leave the reader guessing from where it counts)."""
        source = None if _names_itself(self.source, self.message) else _one_line(_absolute_source(self.source))
        lines = [f"error: {source}: {self.message}" if source else f"error: {self.message}"]
        if self.fix:
            lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "type": type(self).__name__,
            "code": self.code,
            "source": self.source,
            "message": self.message,
            "fix": self.fix,
            "text": str(self),
        }


def _names_itself(source: object, message: str) -> bool:
    """Whether ``message`` begins with its source, an option (``--alpha is 1.2`` from ``--alpha``): said once, not
    ``--alpha: --alpha is 1.2``."""
    return isinstance(source, str) and source.startswith("-") and message.startswith((f"{source} ", f"{source}="))


def _one_line(source: object) -> str | None:
    """A source as it is printed: a line break in a file name (legal on POSIX) shown as ``\\n``, so that a name
    cannot start a line of its own (a fake ``error:`` or ``fix:`` line, or a fake prompt) in a message; every other
    character a screen acts on or hides (an escape sequence, BEL, a right-to-left override that shows the rest of
    the line reversed in a terminal, the HTML report or a spreadsheet) is shown as its escape too (``\\x1b``, ``\\u202e``)."""
    return None if source is None else printable(source)


def printable(text: object) -> str:
    """``text`` on one line with every character a screen acts on or hides (line breaks included) shown as its escape."""
    text = str(text)
    return text if text.isprintable() else "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


#: what :func:`escape_controls` writes as an escape: a :data:`CONTROL_CHARACTERS` character, and a backslash that would
#: otherwise read as the start of one (before ``\\``, ``xHH``, ``uHHHH`` or a character written as an escape)
_ESCAPED = re.compile(f"(?:{CONTROL_CHARACTERS.pattern})" + r"|\\(?=\\|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|" + f"{CONTROL_CHARACTERS.pattern})")
_ESCAPE = re.compile(r"\\(\\|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4})")


def escape_controls(text: str) -> str:
    """``text`` with every :data:`CONTROL_CHARACTERS` character (ESC, a line break, U+202E) written as its escape, as
    :func:`printable` shows it (``\\x1b``, ``\\n``, ``\\u202e``), and a backslash that would read as the start of one
    (``\\x41``, ``\\\\``) doubled, so that :func:`unescape_controls` gives ``text`` back; other text (a Windows path
    ``C:\\data``, a zero-width joiner) is unchanged."""
    if "\\" not in text and not CONTROL_CHARACTERS.search(text):
        return text
    return _ESCAPED.sub(lambda m: "\\\\" if m.group() == "\\" else (f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                                                              else f"\\u{ord(m.group()):04x}"), text)


def unescape_controls(text: str) -> str:
    """The text :func:`escape_controls` was given: ``\\xHH``, ``\\uHHHH`` and ``\\\\`` read back."""
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda m: "\\" if m.group(1) == "\\" else chr(int(m.group(1)[1:], 16)), text)


def printable_table(frame: Any, *, text_left: bool = False, **to_string: Any) -> str:
    """``frame.to_string(**to_string)`` (a pandas DataFrame) with every text cell and column name through
    :func:`printable`: a speaker, label or id from data cannot start a line of its own or recolour the screen.
    ``text_left``: a column of text only (names, labels, yes/no) is left-aligned, its name too, as a reader scans words;
    numbers, and a column mixing them with words (a knob's values beside "none added"), stay right-aligned."""
    shown = frame.copy()
    for column in shown.columns:
        if getattr(shown[column].dtype, "kind", "O") not in "biufcmM":  # text: object, str or category (not numbers, times)
            shown[column] = shown[column].map(lambda v: printable(v) if isinstance(v, str) else v)
    shown.columns = [printable(c) if isinstance(c, str) else c for c in shown.columns]
    if text_left:
        names = []
        for i, column in enumerate(shown.columns):
            cells = [v for v in shown.iloc[:, i] if v is not None and v == v]  # not the empty ones (na_rep)
            if cells and all(isinstance(v, str) for v in cells):
                width = max(len(str(column)), *map(len, cells))
                shown.iloc[:, i] = shown.iloc[:, i].map(lambda v, w=width: v.ljust(w) if isinstance(v, str) else v)
                column = str(column).ljust(width)
            names.append(column)
        shown.columns = names
        return "\n".join(line.rstrip() for line in shown.to_string(**to_string).splitlines())  # no padding after the last
    return shown.to_string(**to_string)


def without_controls(text: str) -> str:
    """``text`` with every :data:`CONTROL_CHARACTERS` character written as its escape (``\\x1b``, ``\\u202e``), the rest
    kept as it is: ``take\\r2`` for a file named ``take<CR>2``."""
    return CONTROL_CHARACTERS.sub(lambda m: repr(m.group())[1:-1], text)


def _absolute_source(source: str | None) -> str | None:
    """``source`` with a leading relative path that exists made absolute; anything else unchanged."""
    import os

    if not source or os.path.isabs(source):
        return source
    for sep in (", ", ": ", " "):
        head, found, rest = source.partition(sep)
        if found and head and os.path.lexists(head):
            return os.path.abspath(head) + found + rest
    return os.path.abspath(source) if os.path.lexists(source) else source


class AudioError(WorkbenchError):
    """Audio that cannot be read or must not be used as it is."""

    code = "audio"


class ModelError(WorkbenchError):
    """A model that cannot be resolved, loaded or run."""

    code = "model"


class ConfigError(WorkbenchError):
    """A setting, argument or file of settings that is not valid."""

    code = "config"


def capped_join(parts, sep: str = ", ", *, limit: int = 20, noun: str = "more", where: str = "") -> str:
    """The first ``limit`` of ``parts`` joined, then how many were left out (and ``where`` they all are): a screen line
    over 20,000 speakers' groups was 2 MB.

    >>> capped_join([f"s{i}" for i in range(5)], limit=3, noun="groups", where="metrics.json")
    's0, s1, s2 … and 2 more groups (all in metrics.json)'
    """
    parts = list(parts)
    if len(parts) <= limit:
        return sep.join(parts)
    return sep.join(parts[:limit]) + f" … and {len(parts) - limit:,} more {noun}" + (f" (all in {where})" if where else "")


def did_you_mean(given: object, choices) -> str:
    """``"did you mean 'seed'? "`` for the choice closest to a misspelt ``given``, or "" when none is close: a file's
    misspelt key, step or template is named with its correction, as the command line's options are."""
    import difflib

    close = difflib.get_close_matches(str(given), [str(c) for c in choices], n=1)
    return f"did you mean {close[0]!r}? " if close else ""


# ---------------------------------------------------------------------------
# CSV cells: every CSV the workbench writes for people (a run folder's tables, ``segments.csv``, ``timeline.csv``, a
# comparison's flips) goes through :func:`spreadsheet_cell`, and every place that reads one back (``RunFolder``, the
# long-audio timeline widget) through :func:`read_spreadsheet_csv`, which gives back exactly the strings written (a
# label ``=1+2`` came back as ``'=1+2``, one holding a newline as the four characters ``\\x0a``)
# ---------------------------------------------------------------------------
#: a cell starting with one of these runs as a formula in Excel, LibreOffice or Google Sheets
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_cell(value: Any) -> Any:
    """``value`` as a CSV cell a spreadsheet and a terminal show as the text it is: control and bidirectional characters
    as escapes (:func:`~workbench.errors.escape_controls`), then a leading apostrophe when it would start a formula
    (OWASP's rule; after any apostrophes).  :func:`spreadsheet_value` gives back the original of every cell."""
    if not isinstance(value, str):
        return value
    value = escape_controls(value)
    return "'" + value if value.lstrip("'").startswith(FORMULA_STARTS) else value


def spreadsheet_value(cell: Any) -> Any:
    """The value a :func:`spreadsheet_cell` cell was written from (a number as it is): a workbench CSV is read back
    whole by :func:`read_spreadsheet_csv`."""
    if not isinstance(cell, str):
        return cell
    if cell.startswith("'") and cell.lstrip("'").startswith(FORMULA_STARTS):
        cell = cell[1:]
    return unescape_controls(cell)


def spreadsheet_safe(frame):
    """A copy of a DataFrame with every text cell and column name through :func:`spreadsheet_cell`; numbers stay numbers."""
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


def spreadsheet_line(values: Any) -> str:
    """One CSV line (``\\n`` ended) of ``values``, each through :func:`spreadsheet_cell` and quoted as CSV quotes (a
    comma or a quote in a label stays in its cell): for a table written a row at a time."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow([spreadsheet_cell(v) for v in values])
    return buf.getvalue()


#: the most columns :func:`read_spreadsheet_csv` reads (the widest table the workbench writes has about a thousand)
CSV_MAX_COLUMNS = 10_000


def read_spreadsheet_csv(data: bytes | str) -> Any:
    """A CSV the workbench wrote (its bytes or text) as a DataFrame holding exactly the values written: every text cell
    and column name through :func:`spreadsheet_value`; only an empty cell is missing (NaN), so a label ``NA`` or
    ``null`` stays that text; numbers as numbers."""
    import pandas as pd

    text = data.decode("utf-8") if isinstance(data, bytes) else data
    header = next(csv.reader(io.StringIO(text[: text.find("\n") + 1 or len(text)])), [])
    if len(header) > CSV_MAX_COLUMNS:  # a hostile file: 10^6 columns took 48 s, 2 * 10^5 text ones minutes
        raise ValueError(f"{len(header):,} columns; a table the workbench writes has at most {CSV_MAX_COLUMNS:,}")
    frame = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""])
    for col in frame.columns:
        if getattr(frame[col].dtype, "kind", "O") not in "biufcmM":  # text (object or a string dtype), not numbers
            frame[col] = frame[col].map(spreadsheet_value)
    frame.columns = [spreadsheet_value(c) if isinstance(c, str) else c for c in frame.columns]
    return frame
