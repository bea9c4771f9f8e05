"""A manifest's columns: the ones the workbench reads, near misses of their names, and one written form per speaker.

Speaker ids are compared as text (per-speaker figures, speaker-grouped intervals, cross-validation folds, a fine-tuned
head's held-out speakers), so ``1`` in one row and ``1.0`` in another were two speakers.  The rule:

- a speaker given as a **number** (a JSON number, a parquet numeric column; a parquet integer column with an empty
  cell reaches pandas as floats) is written as the user wrote it: a whole number without ``.0`` (``1.0`` → ``1``);
- a speaker given as **text** (every CSV cell, a JSON string) is kept exactly as written, and a manifest in which one
  speaker is written in two forms that read as one (the same text with spaces around it, ``spk1`` and ``spk1 ``; or
  the same number written two ways, ``1``, ``1.0``, ``01``, ``+1``, `` 1``) is refused, each form named with its first
  row and id, so that nothing is merged or split silently.
"""

from __future__ import annotations

import difflib
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

from workbench.errors import ConfigError, printable
from workbench.serialize import cut_middle, shown

COLUMNS = ("id", "path", "label", "emotion", "text", "speaker", "gender", "split", "start", "duration")
#: optional column: the item's word/sentence timings (TextGrid, CTM, SRT, WebVTT, lhotse), kept in ``meta``;
#: read with :func:`workbench.explain.words.item_alignment` (relative paths start at the manifest's folder)
WORDS_COLUMN = "words"
#: every column the workbench reads (any other is kept in ``meta``)
KNOWN_COLUMNS = (*COLUMNS, "meta", WORDS_COLUMN)

#: a number as text: what reads as one speaker however it is written (1, 1.0, 01, +1, 1e0)
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,4})?")
#: a whole float below this is written as its integer (above it a float no longer holds every whole number)
_EXACT = 2 ** 53


def near_miss_columns(columns: Iterable[str]) -> list[str]:
    """A warning for each extra column whose name is close to one the workbench reads (``labl``: ``label``)."""
    return [f"column {c!r} is not one the workbench reads; did you mean {m!r}? (kept as metadata; rename the column if so)" for c in columns if (m := near_miss(c))]


def near_miss(col: str) -> str | None:
    """The column the workbench reads that ``col`` is a near miss of (``labl``: ``label``), or None."""
    close = difflib.get_close_matches(col, KNOWN_COLUMNS, 1, 0.75) or difflib.get_close_matches(col.lower(), KNOWN_COLUMNS, 1, 0.75)
    return close[0] if close and close[0] != col else None


#: what other tools call the two columns a manifest must have (Kaldi's utt, Hugging Face's file, …)
_ALIASES = {"path": ("file", "filename", "file_name", "filepath", "file_path", "wav", "wav_path", "audio", "audio_path"),
            "id": ("utt", "utt_id", "uttid", "utterance", "name", "key", "item", "item_id")}


def columns_fix(columns: set) -> str:
    """The fix for a manifest without ``id`` or ``path``: the columns to rename, where one looks meant for one it reads."""
    lower = {c.strip().lower(): c for c in columns}
    renames = [f"{lower[a]!r} to {need!r}" for need, names in _ALIASES.items() if need not in columns
               for a in [next((n for n in names if n in lower), None)] if a]
    renames += [f"{c!r} to {m[0]!r}" for c in sorted(columns - {"id", "path"}) if c.lower() not in sum(_ALIASES.values(), ())
                and (m := difflib.get_close_matches(c.lower(), KNOWN_COLUMNS, n=1, cutoff=0.75)) and m[0] != c]
    return (f"rename {', '.join(renames)}" if renames else "add them") + " (path may be relative to the manifest's folder)."


def speaker_text(value: Any) -> str:
    """A speaker value read from a typed source as text: a whole float as its integer (``1.0`` → ``1``: a parquet
    integer column with an empty cell reaches pandas as floats), missing as ``""``, anything else ``str``."""
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < _EXACT:
        return str(int(value))
    return str(value)


def _reads_as(speaker: str) -> Any:
    """What ``speaker`` reads as: its number where it is one (``Decimal``: ``1``, ``1.0`` and ``01`` are equal, and
    ids past a float's precision stay apart), else its text without the spaces around it."""
    text = speaker.strip()
    if _NUMBER.fullmatch(text):
        try:
            return Decimal(text)
        except InvalidOperation:  # (the pattern admits only what Decimal reads)
            pass
    return text


def _headline(speaker: str) -> str:
    """A speaker as the refusal's headline names it: cells of spaces only read "speaker  written 2 ways" (no name)."""
    text = speaker.strip()
    return printable(cut_middle(text, 80)) if text else "(blank: spaces only, which is no speaker; empty those cells)"


#: the forms of one speaker an entry lists before "… and N more" (one speaker in 10,000 forms made a 1.26 MB message)
FORMS_SHOWN = 5


def speaker_forms(items: Iterable[Any]) -> list[str]:
    """Each speaker written in more than one form that reads as one (:func:`_reads_as`), as ``speaker 1 written 2 ways:
    '1' (row 1, id a), '1.0' (row 7, id g)``; rows count from 1.  Empty speakers are not compared."""
    first: dict[str, tuple[int, str]] = {}
    for n, it in enumerate(items, 1):
        if it.speaker and it.speaker not in first:
            first[it.speaker] = (n, it.id)
    groups: dict[Any, list[str]] = {}
    for speaker in first:
        groups.setdefault(_reads_as(speaker), []).append(speaker)
    return [f"speaker {_headline(forms[0])} written {len(forms)} ways: "  # a form may be 10,000 characters
            + ", ".join(f"{printable(shown(s))} (row {first[s][0]}, id {printable(cut_middle(first[s][1], 80))})" for s in forms[:FORMS_SHOWN])
            + (f" … and {len(forms) - FORMS_SHOWN} more" if len(forms) > FORMS_SHOWN else "")
            for forms in groups.values() if len(forms) > 1]


def speaker_form_checker(source: str):
    """``check(n, item)`` for each item as a manifest is read (rows count from 1): the first speaker written in a second
    form that reads as one (:func:`_reads_as`) is refused there, naming both forms with their rows and ids.  The check
    ran after the whole file was read: 10^6 rows with ``1`` in row 1 and ``1.0`` in row 2 took 14 s to be refused."""
    first: dict[str, tuple[int, str]] = {}
    forms: dict[Any, str] = {}

    def check(n: int, item: Any) -> None:
        speaker = item.speaker
        if not speaker or speaker in first:
            return
        first[speaker] = (n, item.id)
        known = forms.setdefault(_reads_as(speaker), speaker)
        if known != speaker:
            pair = [known, speaker]
            raise ConfigError(
                f"manifest is not valid: speaker {_headline(known)} written 2 ways: "
                + ", ".join(f"{printable(shown(s))} (row {first[s][0]}, id {printable(cut_middle(first[s][1], 80))})" for s in pair)
                + f" (refused at row {n:,}; the rows after it were not read).", source=source, fix=SPEAKER_FORMS_FIX + ".")
    return check


def parquet_records(source: Any) -> list[dict]:
    """A parquet table's rows as dicts (``pandas.read_parquet(source).to_dict("records")``), an integer column with an
    empty cell kept as Python integers and None: pandas makes that column floats, and an id past 2**53
    (``12345678901234567``) came back as another number (``…568``)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    if hasattr(source, "seek"):
        source.seek(0)
    table = pq.read_table(source)
    frame = table.to_pandas()
    records = frame.to_dict("records")
    for i, f in enumerate(table.schema):
        column = frame[f.name] if list(frame.columns).count(f.name) == 1 else None
        if pa.types.is_integer(f.type) and isinstance(column, pd.Series) and column.dtype.kind == "f":
            for record, value in zip(records, table.column(i).to_pylist()):
                record[f.name] = value
    return records


SPEAKER_FORMS_FIX = ("write each speaker one way in every row (speaker ids are compared as text: '1' and '1.0' were "
                     "two speakers); a spreadsheet that writes 1.0 or drops a leading 0: format the column as text")

__all__ = ["COLUMNS", "WORDS_COLUMN", "KNOWN_COLUMNS", "near_miss_columns", "near_miss", "columns_fix", "speaker_text",
           "speaker_forms", "speaker_form_checker", "SPEAKER_FORMS_FIX", "parquet_records"]
