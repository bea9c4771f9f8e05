"""A manifest's rows made into items: :class:`Item`, and the fast route for a CSV manifest's rows.

Reading a generated 10^6-row CSV manifest (``benchmarks/manifest_read.py``) took 17.5 CPU seconds and 1.0 GB at its
peak.  cProfile and timing each stage put the time in: Python's cyclic garbage collector, run again and again over
the growing list of items (200,000 bare ``Item()`` took 1.42 s with it, 0.07 s without: :func:`collector_paused`);
each row's audio file checked with two ``pathlib`` stats through a new ``Path`` per row; ``Item.from_dict`` on a dict
per row; the field-length check walking every value in Python.  The memory was a dict per row held beside the items,
and strings: every row's ``"train"``, ``"happy"`` or ``"audio/f1.wav"`` its own object.  Here a CSV row (a list, in
the header's order) becomes an item as it is read, through the same checks, in the same order, with the same messages
as :meth:`Item.from_dict`; a column's repeated values are one string each (a memo per column), a repeated
``start``/``duration`` parsed once; and :func:`file_checker` stats a path once (one ``os.stat``, no ``Path``), a
path named again answered from its memo.  The same file now takes 5.0 CPU seconds and 0.47 GB.
"""

from __future__ import annotations

import json
import math
import os
import stat as _stat
from dataclasses import asdict, dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, Callable

from workbench.data.manifest_columns import speaker_text
from workbench.errors import printable
from workbench.labels import GENERIC_LABELS, LABEL_KEYS
from workbench.model.memory import collector_paused  # noqa: F401  (public here too: the manifest reader's pause)
from workbench.paths import file_problem
from workbench.serialize import loads_json

#: a memo of a column's values (or of start/duration texts) holds at most this many
SHARED_MAX = 1 << 16
#: the manifest columns an :class:`Item` has a field for (any other is kept in ``meta``)
ITEM_TEXT = ("id", "path", "label", "emotion", "text", "speaker", "gender", "split")
_EMOTION = ITEM_TEXT.index("emotion")


def number(value: Any, column: str) -> float | None:
    """``start``/``duration`` as a float; empty means "not given"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{column}={value!r} is not a number of seconds") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{column}={value!r} is not a number of seconds")
    return float(value)


def parse_meta(raw_meta: Any) -> dict:
    """A row's ``meta`` cell as a new dict (CSV and parquet store it as JSON text); ``ValueError`` when it is no object."""
    if isinstance(raw_meta, str):
        try:
            raw_meta = loads_json(raw_meta) if raw_meta.strip() else {}
        except json.JSONDecodeError:
            raise ValueError(f"meta={raw_meta[:60]!r} is not a JSON object") from None
    if raw_meta is not None and not isinstance(raw_meta, dict):
        raise ValueError("meta is not a JSON object")
    return dict(raw_meta or {})


@dataclass(slots=True)
class Item:
    """One manifest row (slots: a million items held 0.2 GB less without a ``__dict__`` each)."""

    id: str
    path: str
    label: str = ""
    emotion: str = ""
    text: str = ""
    speaker: str = ""
    gender: str = ""
    split: str = ""
    start: float | None = None
    duration: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Item":
        """Build an item from one record; raises ``ValueError`` naming the column that is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"is a JSON {type(data).__name__}, not an object {{\"id\": …, \"path\": …}}")
        known = cls.__dataclass_fields__  # (no ClassVar in Item) dataclasses.fields() per row: a sixth of reading 1.9M rows
        meta = parse_meta(data.get("meta"))
        kwargs: dict[str, Any] = {}
        for k, v in data.items():
            if k == "meta":
                continue
            if k in known:
                kwargs[k] = v
            else:
                meta[k] = v
        for k in ("start", "duration"):
            kwargs[k] = number(kwargs.get(k), k)
        for k in ITEM_TEXT:
            v = kwargs.get(k)
            kwargs[k] = "" if v is None or (isinstance(v, float) and v != v) else str(v)
        kwargs["speaker"] = speaker_text(data.get("speaker"))  # a number as written: 1.0 (pandas' float of an int) → 1
        kwargs["meta"] = meta
        return cls(**kwargs)


def emotion_of(has_column: bool) -> Callable[[str], str]:
    """What a manifest reader puts in an item's ``emotion``: with an ``emotion`` column, its cell as the emotion2vec+
    key it names (``"Happy "``: ``happy``; anything else unchanged, for the validation to refuse); without one, the key
    of the row's ``label`` (:func:`generic_emotion`).  Answers are remembered (a column holds a few values)."""
    memo: dict[str, str] = {}

    def emotion(value: str) -> str:
        got = memo.get(value)
        if got is None:
            if has_column:
                key = value.strip().lower()
                got = key if key in LABEL_KEYS else value
            else:
                got = generic_emotion(value) if value else ""
            if len(memo) < 1 << 12:
                memo[value] = got
        return got

    return emotion


#: the ``meta`` key where a row keeps the explicit label map that set its emotion (``joy=surprised``: import-hf, import-lhotse)
LABEL_MAP_META = "label_map"


#: the corpus tables' reader, ``(corpus, label) -> (the corpus's name, the label's emotion2vec+ key or "" for none)``
#: or ``None`` when ``corpus`` is no known corpus or ``label`` none of its codes; set by
#: :mod:`workbench.data.corpora.registry` (the tables live in the corpus modules, a stage this module sits below), which
#: ``workbench.data`` imports, so it is set before any manifest is read
_corpus_label: list[Callable[[str, str], tuple[str, str] | None]] = []


def use_corpus_labels(reader: Callable[[str, str], tuple[str, str] | None]) -> None:
    """Make :func:`label_conflict_checker` read a row's corpus code (EmoDB's ``W``) by its corpus's table."""
    _corpus_label[:] = [reader]


def label_conflict_checker() -> Callable[[int, Item], tuple[str, bool] | None]:
    """A function of ``(row number, item)``: ``None`` when the row's ``emotion`` is empty, unknown (refused as such) or the
    class its ``label`` names: by the table of the corpus its ``meta.corpus`` (a ``corpus`` column) names when the label
    is one of that corpus's codes (EmoDB's ``W`` = angry, its ``L`` = no counterpart, RAVDESS's ``01``), else by itself
    (:func:`generic_emotion`: ``sad``, ``Sadness``, IEMOCAP's ``exc``, CREMA-D's ``ANG``; a bare code such as ``W`` in a
    row naming no corpus names none and is not checked); else the contradiction in words and whether an explicit label
    map set it (``meta.label_map``).  A label's class is remembered (a column holds a few labels)."""
    memo: dict[tuple[str, str], tuple[str, str] | None] = {}

    def check(n: int, it: Item) -> tuple[str, bool] | None:
        if not it.emotion or not it.label or it.emotion not in LABEL_KEYS:
            return None
        corpus = it.meta.get("corpus")
        at = (str(corpus) if isinstance(corpus, str) else "", it.label)
        said = memo.get(at, memo)
        if said is memo:
            said = _label_class(*at)
            if len(memo) < 1 << 12:
                memo[at] = said
        if said is None or said[1] == it.emotion:
            return None
        by_map = it.meta.get(LABEL_MAP_META)
        words = (f"row {n} (id {printable(it.id)}): label {printable(it.label)!r} = {said[1] or 'no emotion2vec+ class'}"
                 + (f" in {said[0]}" if said[0] else "") + f", emotion {it.emotion!r}"
                 + (f" by the map {printable(by_map)}" if by_map else ""))
        return words, bool(by_map)

    return check


def _label_class(corpus: str, label: str) -> tuple[str, str] | None:
    """(the corpus whose table read it or "", the key a label names, "" for "no counterpart"); None: it names none."""
    if corpus.strip() and _corpus_label:
        found = _corpus_label[0](corpus, label)
        if found is not None:
            return found
    said = generic_emotion(label)
    return ("", said) if said else None


def generic_emotion(label: str) -> str:
    """The emotion2vec+ key for a common English emotion name ("" when there is none)."""
    return GENERIC_LABELS.get(str(label).strip().lower(), "")


def csv_row_builder(header: list[str]) -> Callable[[list[str]], Item]:
    """A function making the item of one CSV row (a list of strings in ``header``'s order, as long as it) exactly as
    :meth:`Item.from_dict` makes it from ``dict(zip(header, row))``, its ``emotion`` set by :func:`emotion_of`; it
    raises the same ``ValueError`` for the same row.  ``header`` holds ``id`` and ``path``, each column once (the
    caller refuses it otherwise)."""
    emotion = emotion_of("emotion" in header)
    at = {h: i for i, h in enumerate(header)}
    blank = len(header)  # an empty cell appended to each row: the value of a column the header lacks
    # a column's repeated values (train, happy, a long file's path on each of its segments) as one string each: a memo
    # per column (its setdefault, a C call), dropped for a column found holding more than SHARED_MAX values (ids)
    memos: dict[int, dict] = {}
    cells = itemgetter(*(at.get(k, blank) for k in ITEM_TEXT))
    shares = [_same if k in ("id", "emotion") or k not in at else memos.setdefault(at[k], {}).setdefault for k in ITEM_TEXT]
    extra = [(h, i, memos.setdefault(i, {}).setdefault) for i, h in enumerate(header)
             if h not in ITEM_TEXT and h not in ("start", "duration", "meta")]
    i_meta, i_start, i_dur = at.get("meta"), at.get("start"), at.get("duration")
    i_emotion = at.get("emotion", at.get("label", blank))
    seconds: dict[str, float | None] = {}
    made = [0]

    def timing(value: str, column: str) -> float | None:
        got = seconds.get(value, seconds)
        if got is seconds:  # not seen yet: parsed (a ValueError names the column), remembered while the memo is small
            got = number(value, column)
            if len(seconds) < SHARED_MAX:
                seconds[value] = got
        return got

    def unshare() -> None:
        full = {i for i, memo in memos.items() if len(memo) > SHARED_MAX}
        shares[:] = [_same if k in at and at[k] in full else f for k, f in zip(ITEM_TEXT, shares)]
        extra[:] = [(h, i, _same if i in full else f) for h, i, f in extra]
        for i in full:
            memos[i] = {}

    def build(row: list[str]) -> Item:
        made[0] += 1
        if not made[0] & 4095:
            unshare()
        row.append("")
        meta = parse_meta(row[i_meta]) if i_meta is not None else {}
        for name, i, share in extra:
            meta[name] = share(row[i], row[i])
        start = timing(row[i_start], "start") if i_start is not None else None
        duration = timing(row[i_dur], "duration") if i_dur is not None else None
        values = [share(v, v) for share, v in zip(shares, cells(row))]
        values[_EMOTION] = emotion(row[i_emotion])
        return Item(*values, start, duration, meta)

    return build


def _same(value: str, _: str) -> str:
    return value


def file_checker(root: Path) -> Callable[[str], str | None]:
    """:func:`workbench.paths.file_problem` of a manifest path (relative to ``root``), asked once per distinct path:
    a path that one ``os.stat`` finds a regular file is fine (what ``Path`` would find: it only drops ``.`` and
    repeated ``/``, which a regular file's path cannot end in); anything else (missing, a folder, a URL, ``~``, a
    stat error) gets ``file_problem``'s own answer and words."""
    memo: dict[str, str | None] = {}
    base = str(root)

    def check(path: str) -> str | None:
        got = memo.get(path, memo)
        if got is not memo:
            return got
        got = None
        try:
            regular = not path.startswith("~") and "://" not in path and _stat.S_ISREG(os.stat(os.path.join(base, path)).st_mode)
        except (OSError, ValueError):  # missing, unreadable, a NUL in the name: file_problem says which
            regular = False
        if not regular:
            p = Path(path).expanduser()
            got = file_problem(path, p if p.is_absolute() else root / p)
        if len(memo) < 1 << 20:
            memo[path] = got
        return got

    return check
