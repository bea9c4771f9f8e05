"""Listener records: vote counts per class, the checks on them, and how they enter a manifest.

Every corpus's listener reader (:mod:`workbench.data.corpora`) turns its files into records through
:func:`record_from_counts` and returns a :class:`ReadReport`; :func:`attach` writes the records into the
manifest items' ``meta`` (the manifest's extra columns).  A record has:

``votes_<key>`` for each of the nine ``LABEL_KEYS``
    **counts** of listener responses for that class (floats: a rater who names
    two categories in one IEMOCAP line gives half a vote to each, so that the
    counts of one item add up to its number of raters).  NaN where the corpus
    does not say (EmoDB gives only the recognition rate of the intended class:
    the other classes are NaN, never a guessed spread).
``votes_unmapped``
    responses for categories with no emotion2vec+ counterpart (IEMOCAP
    *frustration*, MSP-Podcast *contempt*, EmoDB *boredom*); kept so that
    ``sum(votes_*) + votes_unmapped == n_raters`` wherever the counts are known.
``n_raters``
    number of responses the figures come from.
``agreement``
    share of responses that agree with the majority (largest count / n_raters,
    over every category, mapped or not); for EmoDB the share that recognised
    the intended emotion (the corpus's own figure).
``listener_majority``
    the emotion2vec+ key of the majority ("" on a tie or when the majority
    category has no counterpart).

The corpus's own figures are kept under their own prefixed names
(``emodb_recognition_pct``, ``crema_d_meanEmoResp``, ``iemocap_val_mean`` …).
The distribution a metric uses is :func:`vote_distribution`: the counts over
the nine classes divided by their sum (unmapped votes left out and counted).
"""

from __future__ import annotations

import csv
import logging
import numbers
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from workbench.data.manifest import Manifest
from workbench.errors import ConfigError, printable
from workbench.labels import LABEL_KEYS
from workbench.serialize import check_fields, read_text_capped, refuse_repeated_columns, shown, text_lines

logger = logging.getLogger(__name__)

VOTE_COLUMNS: tuple[str, ...] = tuple(f"votes_{k}" for k in LABEL_KEYS)
UNMAPPED = "votes_unmapped"
#: the columns every listener record has (besides the corpus's own figures)
LISTENER_COLUMNS: tuple[str, ...] = (*VOTE_COLUMNS, UNMAPPED, "n_raters", "agreement", "listener_majority")
NAN = float("nan")


@dataclass
class ReadReport:
    """What a reader read: records by item id, and what it left out (with counts)."""

    records: dict[str, dict[str, Any]]
    source: str
    dropped: dict[str, int] = field(default_factory=dict)  # reason → rows
    unknown_labels: dict[str, int] = field(default_factory=dict)  # category → responses
    #: rows whose rates contradict the documented rater count: inferred count → rows (EmoDB b03: k/21, not k/20)
    raters_inferred: dict[int, int] = field(default_factory=dict)
    documented_raters: int | None = None
    #: how the reader counted what it read (IEMOCAP: Happiness and Excited are one class for majority and agreement)
    notes: list[str] = field(default_factory=list)
    #: rows with vote counts and empty cells beside them, the empty ones read as 0 (said in the summary)
    empty_counts_as_zero: int = 0

    def summary(self) -> str:
        parts = [counted_phrase(len(self.records), f"items with listener judgements from {self.source}")] + list(self.notes)
        parts += [counted_phrase(n, why) for why, n in self.dropped.items() if n]
        if self.empty_counts_as_zero:
            parts.append(counted_phrase(self.empty_counts_as_zero, "rows have empty vote cells beside their counts, read as 0 "
                                        "(no listener chose that class)"))
        parts += [counted_phrase(rows, f"rows have rates k/{n}, not k/{self.documented_raters}: {n} raters, inferred from the data")
                  for n, rows in sorted(self.raters_inferred.items())]
        if self.unknown_labels:
            parts.append("categories with no emotion2vec+ counterpart (kept in votes_unmapped): "
                         + ", ".join(f"{k} ({v})" for k, v in sorted(self.unknown_labels.items())))
        return "; ".join(parts)


def counted_phrase(n: int, phrase: str) -> str:
    """``n`` before a plural phrase, in ``n``'s number: ``"1 item has none"``, ``"2 items have none"``, ``"1 practice
    response"``, ``"1 row that is not …"``.  The phrase's noun is its first word ending in ``s`` or ``(s)``, and a
    ``have``/``are``/``name`` right after it or after its ``that`` is its verb; the rest is kept as written ("1 items have none"
    said import-votes)."""
    words = phrase.split(" ")
    at = next((i for i, w in enumerate(words) if w.endswith("s") or w.endswith("(s)")), None)
    if at is None:
        return f"{n} {phrase}"
    noun = words[at][:-3] if words[at].endswith("(s)") else words[at][:-1]
    words[at] = noun if n == 1 else noun + "s"
    verb = at + 2 if words[at + 1:at + 2] == ["that"] else at + 1
    singular = {"have": "has", "are": "is", "name": "names"}
    if n == 1 and len(words) > verb and words[verb] in singular:
        words[verb] = singular[words[verb]]
    return " ".join([str(n), *words])


# ---------------------------------------------------------------------------
# records
# ---------------------------------------------------------------------------
#: the most responses one item can have (CREMA-D has about 10 per clip and modality, MSP-Podcast at most a few dozen)
MAX_COUNT = 1_000_000


#: how a count is written as text: plain ASCII digits in decimal notation ("12", "12.0", "0.5")
_COUNT_TEXT = re.compile(r"[0-9]+(?:\.[0-9]*)?")
#: the fix for a count a hand-made table wrote wrong
_CELL_FIX = ("write each count as a whole number of listeners in ASCII digits (0, 3, 12; 3.0 reads as 3), "
             "or leave the cell empty where there is no count.")


def check_count(value: Any, what: str, *, source: str | None = None, whole: bool = False,
                fix: str = "pass the corpus's file unchanged; a hand-made file needs counts of responses.") -> float:
    """A vote count as a float: finite, non-negative, at most :data:`MAX_COUNT`, and whole when ``whole``.

    Raises :class:`ConfigError` naming the value otherwise: NaN, infinite or negative counts would give
    agreements of 0 or NaN and cross-entropies of 0 without a word.  Text must be plain ASCII digits in decimal
    notation: Python's ``float`` also reads ``"1_000"`` (1000), a full-width ``"１"`` (1) and ``"1e3"``; a bool is no count.
    """
    text = value.strip() if isinstance(value, str) else None
    number = isinstance(value, numbers.Real) and not isinstance(value, bool)  # numpy's bool is no Real either
    v = float(value) if number or (text is not None and _COUNT_TEXT.fullmatch(text)) else NAN
    if not (v == v and 0 <= v <= MAX_COUNT) or (whole and not v.is_integer()):
        kind = "a whole number" if whole else "a number"
        odd = "" if text is None or text.isascii() else f" (non-ASCII: {ascii(text)[1:-1]})"
        raise ConfigError(f"{what} is {shown(value)}{odd}; a vote count must be {kind} from 0 to {MAX_COUNT:,}, "
                          "in plain digits.", source=source, fix=fix)
    return v


def cell_count(value: Any, column: str, *, source: str | None = None) -> float:
    """A ``votes_<class>`` cell as a count: NaN when empty (None, "", a typed NaN: a parquet null), else a count.

    Text must be a whole number in plain ASCII digits (``"12"``, ``"12.0"``): ``"nan"`` was taken for an empty cell,
    ``"1_000"`` read as 1000 and a full-width ``"１"`` as 1.  A typed number (JSON, parquet, an HF dataset) may be a
    fraction (IEMOCAP's split responses, as :func:`attach` wrote them).  Refused by :func:`check_count`, naming the
    column and the value; ``source`` names the file and row or item.
    """
    if value is None or (isinstance(value, float) and value != value) or (isinstance(value, str) and not value.strip()):
        return NAN
    return check_count(value, column, source=source, whole=isinstance(value, str), fix=_CELL_FIX)


#: what a class of a record may not be called: its ``votes_`` column would be another column of the record
RESERVED_CLASSES = (UNMAPPED[len("votes_"):],)


def check_vote_classes(classes: Sequence[str], *, source: str | None = None) -> list[str]:
    """``classes`` as a list, refused when two are one name but for case (a rater's "Calm" was counted as whichever came
    last) or one is :data:`RESERVED_CLASSES` (a head's class "unmapped" wrote its votes into ``votes_unmapped``, which
    the unmapped count then overwrote: the votes vanished while n_raters kept them)."""
    classes = list(classes)
    folded: dict[str, str] = {}
    for c in classes:
        other = folded.setdefault(str(c).casefold(), str(c))
        if other != c or str(c).casefold() in RESERVED_CLASSES:
            what = (f"the classes {printable(other)!r} and {printable(c)!r} differ only in case, so a rater's label cannot "
                    "be told between them" if other != c else f"a class named {printable(c)!r} would be counted in the column "
                    f"{UNMAPPED}, which holds the votes for categories with no class")
            raise ConfigError(f"cannot vote over these classes: {what}.", source=source,
                              fix="rename that class in the checkpoint's tokens.txt (one distinct name per line) and fine-tune again, "
                                  "or vote over the nine emotion2vec+ keys (leave --model out).")
    return classes


def record_from_counts(counts: Mapping[str, float], *, unmapped: float | Mapping[str, float] = 0.0, raw_max: float | None = None,
                       whole: bool = False, source: str | None = None, classes: Sequence[str] = LABEL_KEYS) -> dict[str, Any]:
    """A listener record from vote counts per class of ``classes`` (the nine keys, or a fine-tuned head's own).

    Parameters
    ----------
    counts
        ``{class: count}`` for classes of ``classes`` (others refused, the valid ones listed); absent ones count 0.
    unmapped
        Responses for categories with no counterpart: ``{category: count}`` (each category competes for the majority
        on its own: Frustration 1, Other 1, Anger 2 has the majority angry), or their total alone (then they count
        as one category, the split being unknown, and a class is the majority only with more votes than all of them).
    raw_max
        The largest category's count, when the unmapped responses are given as their total alone but their split is
        known (the generic reader's labels with no counterpart): agreement is its share.  It must count categories as
        the majority does, after the mapping (IEMOCAP's Happiness and Excited are one class, happy), or the two
        disagree.  Without it, the largest of the classes and the unmapped categories.
    classes
        The classes the record has a ``votes_<class>`` column for.
    """
    classes = check_vote_classes(classes, source=source)
    known = set(classes)  # a head of thousands of classes: a list lookup per count, a max per class, were quadratic
    bad = [k for k in counts if k not in known]
    if bad:
        raise ConfigError(f"vote counts name unknown classes {bad}; expected keys of {', '.join(classes)}.", source=source,
                          fix="map the corpus's categories onto these classes first.")
    counts = {k: check_count(v, f"the count of {k}", source=source, whole=whole) for k, v in counts.items()}
    if isinstance(unmapped, Mapping):  # per category: the largest one competes with the classes, not their sum
        by_cat = [check_count(v, f"the count of unmapped responses {shown(k, 40)}", source=source, whole=whole) for k, v in unmapped.items()]
        unmapped, unmapped_top = float(sum(by_cat)), max(by_cat, default=0.0)
    else:
        unmapped = unmapped_top = check_count(unmapped, "the count of unmapped responses", source=source, whole=whole)
    rec: dict[str, Any] = {f"votes_{k}": float(counts.get(k, 0.0)) for k in classes}
    rec[UNMAPPED] = float(unmapped)
    n = float(sum(counts.values()) + unmapped)
    rec["n_raters"] = n
    top = raw_max if raw_max is not None else max([*counts.values(), unmapped_top, 0.0])
    rec["agreement"] = top / n if n > 0 else NAN
    most = max(counts.values(), default=0.0)
    best = [k for k in classes if counts.get(k, 0.0) == most and most > 0]
    rec["listener_majority"] = best[0] if len(best) == 1 and counts[best[0]] > unmapped_top else ""
    return rec


def vote(labels: Iterable[str], table: Mapping[str, str], report: ReadReport) -> tuple[dict[str, float], dict[str, float], float]:
    """Counts per key, unmapped counts per category and the largest category's count of one item's responses.

    The largest category is counted after the mapping, as the majority is: categories that map onto one class are
    one category (IEMOCAP's Happiness and Excited are both happy, the common 4-class protocol), each unmapped category
    its own.  Counted before it, Happiness 1, Excited 1, Neutral 1 had the majority happy (2 of 3) and agreement 1/3.

    The unmapped counts stay per category (``{"frustration": 2, "other": 2}``) so that :func:`record_from_counts`
    weighs each against the classes: their sum is no category listeners chose.

    Each element of ``labels`` is one rater's response: a string, or a list of
    categories (split evenly: 1/k each).
    """
    counts: dict[str, float] = {}
    raw: dict[str, float] = {}
    unmapped: dict[str, float] = {}
    for response in labels:
        cats = [response] if isinstance(response, str) else list(response)
        cats = [c for c in cats if c.strip()]
        if not cats:
            continue
        w = 1.0 / len(cats)
        for c in cats:
            name = c.strip()
            raw[name.lower()] = raw.get(name.lower(), 0.0) + w
            key = table.get(name.lower())
            if key is None:
                raise ConfigError(f"listener category {name!r} is not one this reader knows; known: {', '.join(sorted(table))}.",
                                  source=report.source, fix="pass the corpus's file unchanged, or use the generic form with a label map.")
            if key:
                counts[key] = counts.get(key, 0.0) + w
            else:
                unmapped[name.lower()] = unmapped.get(name.lower(), 0.0) + w
                report.unknown_labels[name] = report.unknown_labels.get(name, 0) + 1
    return counts, unmapped, max([*counts.values(), *unmapped.values()], default=0.0)


def vote_distribution(record: Mapping[str, Any], classes: Iterable[str] = LABEL_KEYS):
    """The listeners' distribution over ``classes``: counts / their sum, shape ``(len(classes),)``.

    NaN everywhere when a count among ``classes`` is unknown (NaN) or no vote
    falls in ``classes``.  Unmapped votes and votes outside ``classes`` are
    left out (the restriction is renormalised).
    """
    import numpy as np

    v = np.array([as_float(record.get(f"votes_{k}")) for k in classes], dtype=float)
    if np.isnan(v).any() or v.sum() <= 0:
        return np.full(len(v), np.nan)
    return v / v.sum()


def as_float(x: Any) -> float:
    """``x`` as a float; NaN for None, "" and what is no number (a corpus's empty cell)."""
    if x is None or x == "":
        return NAN
    try:
        return float(x)
    except (TypeError, ValueError):
        return NAN


# ---------------------------------------------------------------------------
# file helpers
# ---------------------------------------------------------------------------
def corpus_file(path: str | os.PathLike, what: str) -> Path:
    """The absolute path of a corpus file a reader was given, refused with its name when it is no file."""
    p = Path(os.path.abspath(Path(path).expanduser()))
    if not p.is_file():
        kind = ("a folder" if p.is_dir() else "a named pipe (FIFO)" if p.is_fifo() else "a device" if p.is_block_device()
                or p.is_char_device() else "a socket" if p.is_socket() else None)  # /dev/zero is no votes file
        raise ConfigError(f"{what} not found." if kind is None else f"is {kind}, not a {what}.", source=str(p),
                          fix=f"pass the path of the corpus's {what}.")
    return p


def csv_rows(p: Path, required: Iterable[str], *, encoding: str = "utf-8-sig", delimiter: str = ",") -> tuple[list[str], list[dict]]:
    """The header and the rows (one dict each, cells stripped) of a votes table that must have ``required`` columns."""
    # bounded: bytes (after gunzip), rows and field length are capped before a row is parsed (workbench.serialize)
    text = read_text_capped(p, encoding=encoding, what="a votes table")
    reader = csv.reader(text_lines(text), delimiter=delimiter)
    del text
    header: list[str] | None = None
    out: list[dict] = []
    try:  # one pass, one dict per row: the rows are never held twice (a million-row table)
        last = 0
        for r in reader:
            first, last = last + 1, reader.line_num
            if not any(c.strip() for c in r):
                continue
            if header is not None and len(r) < len(header) and any("\n" in c or "\r" in c for c in r):
                # a quote never closed: the rest of the file became one cell, its rows none ("0 read", or rows missing)
                raise ConfigError(f"line {first}: a quote opened there runs to line {last}, so the fields of {last - first + 1} "
                                  "lines became one cell.", source=str(p), fix="close the quote (or remove it) on that line.")
            check_fields([r], source=f"{p}, line {reader.line_num}")
            if header is None:
                header = [h.strip().strip('"') for h in r]
                refuse_repeated_columns(header, source=str(p))
                missing = [c for c in required if c not in header]
                if missing:
                    raise ConfigError(f"lacks the column(s) {missing}; its header is {header}.", source=str(p),
                                      fix="pass the corpus's file unchanged (see the corpus's README for its columns).")
                continue
            if len(r) == len(header) - 1 and header[0] == "":  # R's write.csv: unnamed row-name column
                r = ["", *r]
            out.append({h: (r[i].strip() if i < len(r) else "") for i, h in enumerate(header)})
    except csv.Error as exc:  # a field over csv's own limit (128 kB), a NUL byte
        raise ConfigError(f"line {reader.line_num}: {exc}.", source=str(p),
                          fix="pass the corpus's file unchanged (a broken quote runs fields together).") from None
    if header is None:
        raise ConfigError("is empty.", source=str(p), fix="pass the corpus's file unchanged.")
    return header, out


def refuse_duplicates(names: Iterable[str], source: str, what: str = "item") -> None:
    """Refuse a table that names an item twice (the last row would silently win), naming the duplicates."""
    seen: set[str] = set()
    dups: list[str] = []
    for n in names:
        if n in seen and n not in dups:
            dups.append(n)
        seen.add(n)
    if dups:
        raise ConfigError(f"names {len(dups)} {what}(s) more than once: {', '.join(shown(d, 40) for d in dups[:10])}"
                          f"{' …' if len(dups) > 10 else ''}; which row counts would be a guess.", source=source,
                          fix="keep one row per item (pass the corpus's file unchanged).")


# ---------------------------------------------------------------------------
# into the manifest
# ---------------------------------------------------------------------------
@dataclass
class AttachReport:
    n_attached: int
    n_items_without: int
    n_records_not_in_manifest: int
    examples_not_in_manifest: list[str]

    def summary(self) -> str:
        return (f"listener judgements attached to {counted_phrase(self.n_attached, 'items')}; {counted_phrase(self.n_items_without, 'items have none')}; "
                f"{counted_phrase(self.n_records_not_in_manifest, 'rows name items the manifest does not have')}"
                + (f" (e.g. {', '.join(map(printable, self.examples_not_in_manifest[:3]))})" if self.examples_not_in_manifest else ""))


def attach(manifest: Manifest, report: ReadReport) -> AttachReport:
    """Write each record into the ``meta`` of the manifest item with the same id (in place), replacing its old votes.

    An item whose id is not among the records is matched by ``meta.corpus_id``, the corpus's own name for it, where a
    reader that renames items keeps it: EmoBox keys an item ``iemocap-Ses01F_impro04_F000`` or
    ``cremad-1087-IWL-ANG-XX``, while the corpus's listener files name ``Ses01F_impro04_F000`` and ``1087_IWL_ANG_XX``.
    Rows for items the manifest lacks (EmoDB's unreleased recordings) are
    counted, never an error; the count is logged.
    """
    ids = {it.id for it in manifest.items}
    n = 0
    for it in manifest.items:
        rec = report.records.get(it.id)
        if rec is None and it.meta.get("corpus_id"):
            rec = report.records.get(str(it.meta["corpus_id"]))
            ids.add(str(it.meta["corpus_id"]))
        if rec is None:
            continue
        # a record over other classes replaces the old one whole, and so do old votes kept as per-rater labels (a stale
        # rater_labels column beside new counts was read in their place)
        for k in [k for k in it.meta if str(k).startswith("votes_") or k == "rater_labels"]:
            del it.meta[k]
        it.meta.update(rec)
        n += 1
    extra = [k for k in report.records if k not in ids]
    out = AttachReport(n, len(manifest.items) - n, len(extra), extra[:10])
    logger.info("%s: %s", report.source, out.summary())
    return out

