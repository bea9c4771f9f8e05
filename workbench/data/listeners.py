"""Listeners' judgements as manifest columns: the readers by format, the generic forms, and the frame view.

The records and their columns are :mod:`workbench.data.votes`'s (``votes_<key>`` counts, ``votes_unmapped``,
``n_raters``, ``agreement``, ``listener_majority``); each corpus's own reader lives in its module of
:mod:`workbench.data.corpora` (EmoDB's ``erkennung.txt``, CREMA-D's tabulated votes and responses, IEMOCAP's
EmoEvaluation files, MSP-Podcast's labels) and :func:`read_votes` picks it by format name.  This module adds
the generic forms (a CSV of per-rater labels or vote columns, a manifest's own columns) and
:func:`listener_frame`, the flat view every metric, widget and report reads.  The old names of the corpus
readers (``read_emodb_erkennung`` …) stay importable from here.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, Mapping, Sequence

from workbench.data.corpora import crema_d, emodb, iemocap, msp_podcast
from workbench.data.corpora.registry import LISTENER_FACTS, VOTE_FORMATS
from workbench.data.manifest import generic_emotion, Manifest
from workbench.data.votes import (  # re-exported (__all__): the record helpers' old home
    as_float, attach, AttachReport, cell_count, check_count, check_vote_classes, corpus_file, csv_rows, LISTENER_COLUMNS,
    MAX_COUNT, NAN, ReadReport,
    record_from_counts, refuse_duplicates, UNMAPPED, vote, vote_distribution, VOTE_COLUMNS,
)
from workbench.errors import ConfigError
from workbench.labels import LABEL_KEYS
from workbench.serialize import loads_json, shown
from workbench.schema import text_values

# the corpus readers under their old names
read_emodb_erkennung = emodb.read_erkennung
find_emodb_erkennung = emodb.find_erkennung
infer_raters = emodb.infer_raters
EMODB_LETTERS = emodb.LABEL_MAP
EMODB_RELEASE_FLOOR = emodb.RELEASE_FLOOR
read_crema_d_tabulated = crema_d.read_tabulated
read_crema_d_responses = crema_d.read_responses
CREMA_D_LETTERS = crema_d.RESPONSE_LETTERS
CREMA_D_MODALITIES = crema_d.MODALITIES
read_iemocap_evaluation = iemocap.read_evaluation
IEMOCAP_CATEGORIES = iemocap.EVALUATOR_CATEGORIES
read_msp_podcast = msp_podcast.read_labels
MSP_PODCAST_CLASSES = msp_podcast.VOTE_CLASSES

#: why a row of vote columns gave no record: every count empty
NO_COUNTS = "row(s) with vote columns but no count in any of them (no judgements, left out)"

__all__ = [
    # records (workbench.data.votes)
    "AttachReport", "LISTENER_COLUMNS", "MAX_COUNT", "NAN", "ReadReport", "UNMAPPED", "VOTE_COLUMNS", "as_float", "attach",
    "cell_count", "check_count", "corpus_file", "csv_rows", "record_from_counts", "refuse_duplicates", "vote", "vote_distribution",
    # the corpus readers under their old names
    "CREMA_D_LETTERS", "CREMA_D_MODALITIES", "EMODB_LETTERS", "EMODB_RELEASE_FLOOR", "IEMOCAP_CATEGORIES", "MSP_PODCAST_CLASSES",
    "find_emodb_erkennung", "infer_raters", "read_crema_d_responses", "read_crema_d_tabulated", "read_emodb_erkennung",
    "read_iemocap_evaluation", "read_msp_podcast",
    # this module
    "FORMATS", "corpus_listener_facts", "has_listeners", "listener_frame", "read_generic", "read_votes",
    "record_from_rater_labels", "record_from_vote_columns", "records_from_manifest", "vote_classes",
]


def _class_of(label: str, label_map: Mapping[str, str] | None, classes: Sequence[str], source: str) -> str | None:
    """The class of ``classes`` one rater label stands for ("" = no counterpart), None when nothing names it.

    The label map first (exact, then lower-cased), then the label itself when it is one of ``classes``
    (case-insensitive: a fine-tuned head's own calm, tense), then a common English emotion name
    (:func:`workbench.data.manifest.generic_emotion`) when that is one of ``classes``.
    """
    if label_map:
        key = label_map.get(label, label_map.get(label.lower()))
        if key is not None:
            if key and key not in classes:
                raise ConfigError(f"label map sends {label!r} to {key!r}, not one of {', '.join(classes)}.", source=source,
                                  fix="map every label to one of these classes, or to \"\" when it has no counterpart.")
            return key
    own = {c.lower(): c for c in classes}
    if label.lower() in own:
        return own[label.lower()]
    key = generic_emotion(label)
    return key if key in classes else None


def record_from_rater_labels(labels: str | Iterable[str], *, label_map: Mapping[str, str] | None = None, source: str = "rater_labels",
                             classes: Sequence[str] = LABEL_KEYS) -> dict[str, Any]:
    """A record from one item's per-rater labels (``"angry;angry;neutral"`` or a list), with votes over ``classes``.

    ``classes`` are the nine keys, or a fine-tuned head's own (``calm, tense``).  Each label maps through
    ``label_map`` (corpus label → class, "" = no counterpart), or is one of ``classes`` itself, or (for a
    class among them) a common English emotion name of :func:`workbench.data.manifest.generic_emotion`; a
    label none of these names is refused with the valid classes listed.  Agreement is the share of the
    largest category: a class, or one label mapped to "" (labels with no counterpart are not one category).
    """
    classes = check_vote_classes(classes, source=source)
    items = [x.strip() for x in (labels.split(";") if isinstance(labels, str) else labels) if str(x).strip()]
    counts: dict[str, float] = {}
    raw: dict[str, float] = {}  # labels with no counterpart, per label: each one category of the majority
    unknown = []
    for lab in items:
        key = _class_of(lab, label_map, classes, source)
        if key is None:
            unknown.append(lab)
            continue
        if key:
            counts[key] = counts.get(key, 0.0) + 1
        else:
            raw[lab.lower()] = raw.get(lab.lower(), 0.0) + 1
    if unknown:
        names = "the nine emotion2vec+ keys and common names such as 'anger'" if classes == list(LABEL_KEYS) else "the model's classes"
        raise ConfigError(f"rater labels {sorted(set(unknown))} are neither classes to vote on ({', '.join(classes)}; "
                          f"{names}) nor keys of the label map.",
                          source=source, fix="pass a label map {label: one of these classes or \"\"} for the corpus's own labels.")
    return record_from_counts(counts, unmapped=raw, raw_max=max([*raw.values(), *counts.values()], default=0.0),
                             classes=classes)


def record_from_vote_columns(row: Mapping[str, Any], *, source: str = "votes", classes: Sequence[str] = LABEL_KEYS,
                             report: "ReadReport | None" = None) -> dict[str, Any] | None:
    """A record from a row that has ``votes_<class>`` columns (counts) for classes of ``classes``; None when it has none,
    or when every one of them is empty (an item nobody judged is not an item with 0 raters).

    An empty cell beside counts is read as 0 (a pivot table's NaN for a class nobody chose); ``report`` counts such
    rows in its notes, and rows with no count at all in its ``dropped``.  Column names ``votes_<x>`` with ``x`` not one
    of ``classes`` (nor ``unmapped``) are refused with the valid names listed.
    """
    columns = [f"votes_{k}" for k in classes]
    names = [k for k in row if str(k).startswith("votes_")]
    if not names:
        return None
    known = set(columns)  # a head of thousands of classes: a list lookup per column was quadratic
    bad = [k for k in names if k not in known and k != UNMAPPED]
    if bad:
        raise ConfigError(f"unknown vote column(s) {bad}; valid: {', '.join((*columns, UNMAPPED))}.", source=source,
                          fix="name each vote column votes_<one of these classes>, or votes_unmapped.")
    counts, empty = {}, 0
    for k in columns:
        if k in row:
            v = cell_count(row[k], k, source=source)  # empty: no count; "nan", "1_000", "１", "inf", "-3": refused
            empty += v != v
            counts[k[len("votes_"):]] = 0.0 if v != v else v
    unmapped = cell_count(row.get(UNMAPPED), UNMAPPED, source=source)
    if empty == len(counts) and unmapped != unmapped:
        if report is not None:
            report.dropped[NO_COUNTS] = report.dropped.get(NO_COUNTS, 0) + 1
        return None
    if empty and report is not None:
        report.empty_counts_as_zero += 1
    return record_from_counts(counts, unmapped=unmapped if unmapped == unmapped else 0.0, classes=classes)  # NaN (absent) counts none


def read_generic(path: str | os.PathLike, *, id_column: str = "id", label_map: Mapping[str, str] | None = None,
                 classes: Sequence[str] | None = None) -> ReadReport:
    """A CSV with an id column and either ``rater_labels`` (``"angry;angry;neutral"``) or ``votes_<class>`` count columns.

    ``classes``: the classes the votes are over (a fine-tuned head's own); None for the nine keys.
    """
    classes = list(classes or LABEL_KEYS)
    p = corpus_file(path, "votes file")
    report = ReadReport({}, str(p))
    header, rows = csv_rows(p, (id_column,))
    refuse_duplicates((r[id_column] for r in rows), str(p))
    if "rater_labels" not in header and not any(h.startswith("votes_") for h in header):
        raise ConfigError(f"has neither a rater_labels column nor votes_<key> columns; its header is {header}.", source=str(p),
                          fix="add rater_labels (labels separated by ';') or one votes_<key> column per class.")
    for n, r in enumerate(rows, 1):
        src = f"{p}, row {n}"
        rec = _item_record(r.get("rater_labels") or "", {k: v for k, v in r.items() if k.startswith("votes_")},
                           label_map=label_map, source=src, classes=classes, report=report)
        if rec is not None:
            report.records[r[id_column]] = rec
    return report


def _item_record(labels: Any, votes: Mapping[str, Any], *, label_map: Mapping[str, str] | None, source: str,
                 classes: Sequence[str], report: ReadReport) -> dict | None:
    """One item's record from its ``rater_labels`` or, without them, its ``votes_<class>`` counts.  An item that has
    both, counting differently, is refused: ``import-votes`` wrote counts beside an older ``rater_labels`` column,
    which was then read in their place without a word."""
    given = labels.split(";") if isinstance(labels, str) else (labels if labels is not None else [])  # a list: HF, lhotse
    if not any(str(x).strip() for x in given):  # "", " ; ", ";;;;": nobody judged it (was counted 'with judgements', 0 raters)
        return record_from_vote_columns(votes, source=source, classes=classes, report=report) if votes else None
    by_labels = record_from_rater_labels(labels, label_map=label_map, source=source, classes=classes)
    # beside labels, empty vote cells are no row dropped: their reading's notes are not the report's
    by_votes = record_from_vote_columns(votes, source=source, classes=classes, report=ReadReport({}, source)) if votes else None
    if by_votes is not None:
        counts = [{k: v for k, v in rec.items() if k.startswith("votes_") and v} for rec in (by_labels, by_votes)]
        if counts[0] != counts[1]:
            raise ConfigError(f"has rater_labels {shown(str(labels), 80)} and votes_<class> counts that disagree ({_said(counts[0])} "
                              f"against {_said(counts[1])}).", source=source,
                              fix="keep one of the two: drop the rater_labels column, or the votes_<class> columns.")
    return by_labels


def _said(counts: Mapping[str, float]) -> str:
    return ", ".join(f"{k[len('votes_'):]} {v:g}" for k, v in counts.items()) or "no votes"


def records_from_manifest(manifest: Manifest, *, label_map: Mapping[str, str] | None = None,
                          classes: Sequence[str] | None = None) -> ReadReport:
    """Listener records from the manifest's own extra columns (``rater_labels`` or ``votes_<class>``).

    For HF datasets and lhotse manifests whose supervisions carry these fields
    as custom columns (they arrive in ``meta``).  ``classes``: as :func:`read_generic`.
    """
    classes = list(classes or LABEL_KEYS)
    report = ReadReport({}, manifest.source or manifest.name or "manifest")
    for it in manifest.items:
        src = f"{report.source}, item {it.id}"
        rec = _item_record(it.meta.get("rater_labels") or "", {k: v for k, v in it.meta.items() if str(k).startswith("votes_")},
                           label_map=label_map, source=src, classes=classes, report=report)
        if rec is not None:
            report.records[it.id] = rec
    return report



def has_listeners(frame) -> bool:
    """Whether a results/manifest DataFrame (with ``meta`` JSON or flat columns) carries listener columns."""
    return "agreement" in listener_frame(frame).columns and bool(listener_frame(frame)["agreement"].notna().any())


def _meta_dicts(frame) -> list[dict]:
    return [m if isinstance(m, dict) else (loads_json(m) if isinstance(m, str) and m.strip() else {}) for m in frame["meta"]]


def _check_flat_vote_columns(names: Sequence[str], classes: Sequence[str] | None) -> None:
    """A flat table (no ``meta``) names its vote columns once for all rows, so a missing one cannot be told from votes
    that are all missing: every class of the set its columns belong to (the model's ``classes`` when all are among
    them, else the nine) must have its column; a missing vote is an empty cell.  Refused with the columns found and
    the ones expected; a table mixing sets is left to the per-item notes."""
    found = [n[len("votes_"):] for n in map(str, names) if n.startswith("votes_") and n != UNMAPPED]
    if not found:
        return
    sets = ([list(classes)] if classes else []) + [list(LABEL_KEYS)]
    expected = next((cs for cs in sets if set(found) <= set(cs)), None)
    missing = [c for c in expected or () if c not in found]
    if missing:
        raise ConfigError(f"has no meta column and lacks the vote column(s) {', '.join(f'votes_{c}' for c in missing)}; "
                          f"found {', '.join(f'votes_{c}' for c in found)}; expected one per class: "
                          f"{', '.join(f'votes_{c}' for c in expected)}.", source="listener table",
                          fix="add the missing columns (0 where no listener chose the class, an empty cell where a vote is missing).")


def listener_frame(frame, *, classes: Sequence[str] | None = None):
    """The listener columns of a results or manifest DataFrame, flat, one row per input row (same index).

    Reads flat ``votes_*``/``n_raters``/``agreement`` columns when present,
    else the ``meta`` JSON column.  The vote columns are ``votes_<class>`` for
    the nine keys and for every other class a record names (a fine-tuned head's
    own, imported with ``import-votes --model``): the nine first, then the others
    in the order met (:func:`vote_classes` reads them back).  Missing values are NaN.

    ``vote_set`` names, per row, the classes its own record has a ``votes_<class>`` key for (``"calm;tense"``,
    NaN counts included: EmoDB's nine), so that a table mixing records over the nine and over a head's classes is
    read per item; "" where that is unknown (flat columns, where an absent key and a NaN cell look alike).  Flat columns
    must name every class of their set (``classes``, the model's, when all are among them; else the nine): a missing
    column is refused with the columns found and expected (:func:`_check_flat_vote_columns`); an empty cell is a missing vote.
    """
    import pandas as pd

    flat = all(c in frame.columns for c in ("agreement", "n_raters"))
    dicts = _meta_dicts(frame) if not flat and "meta" in frame.columns else None
    names = list(frame.columns) if flat else [k for d in (dicts or ()) for k in d]
    others = [k for k in dict.fromkeys(map(str, names)) if k.startswith("votes_") and k not in LISTENER_COLUMNS]
    cols = [*VOTE_COLUMNS, *others, *LISTENER_COLUMNS[len(VOTE_COLUMNS):]]
    if flat:
        _check_flat_vote_columns(names, classes)
        out = frame.reindex(columns=cols)
    elif dicts is not None:
        out = pd.DataFrame([{c: d.get(c) for c in cols} for d in dicts], index=frame.index, columns=cols)
    else:
        out = pd.DataFrame(index=frame.index, columns=cols)
    num = [c for c in cols if c != "listener_majority"]
    out[num] = out[num].apply(pd.to_numeric, errors="coerce")
    out["listener_majority"] = text_values(out["listener_majority"])
    out["vote_set"] = ([";".join(k[len("votes_"):] for k in d if str(k).startswith("votes_") and k != UNMAPPED) for d in dicts]
                       if dicts is not None else "")
    return out


def vote_classes(listeners) -> list[str]:
    """The classes listeners voted over in a :func:`listener_frame`: those whose ``votes_<class>`` column has a count.

    The nine keys when records of the corpus readers (nine columns, zeros included) are there; a fine-tuned head's
    own classes when the votes were imported onto them; both when a table mixes the two.
    """
    return [c[len("votes_"):] for c in listeners.columns
            if c.startswith("votes_") and c != UNMAPPED and listeners[c].notna().any()]


def corpus_listener_facts(frame) -> dict[str, Any]:
    """What a corpus's listener figures can and cannot say, read from the corpus's own columns in ``frame``.

    Returns ``{"agreement_floor", "floor_reason", "distribution_reason"}`` (None where nothing is known), from the
    ``LISTENER_FACTS`` of the corpus module whose reader wrote a column of ``frame``: EmoDB released only utterances
    recognised by at least 80 % of its listeners, so lower agreement bands are empty by design, and it gives only the
    share that recognised the intended emotion, so no vote distribution.
    """
    def has(column: str) -> bool:
        if column in frame.columns:
            return bool(frame[column].notna().any())
        if "meta" in frame.columns:
            for m in frame["meta"]:
                d = m if isinstance(m, dict) else (loads_json(m) if isinstance(m, str) and m.strip() else {})
                if d.get(column) is not None:
                    return True
        return False

    for facts in LISTENER_FACTS:
        if has(facts["column"]):
            return {k: facts[k] for k in ("agreement_floor", "floor_reason", "distribution_reason")}
    return {"agreement_floor": None, "floor_reason": None, "distribution_reason": None}


#: the generic forms, read here
_GENERIC_FORMATS = {"generic": (read_generic, {"id_column", "label_map", "classes"}, "CSV with an id column and rater_labels or votes_<key> columns")}
#: votes format → what the file is (the corpora's formats, then the generic one)
FORMATS = {fmt: what for fmt, (_, _, what) in {**VOTE_FORMATS, **_GENERIC_FORMATS}.items()}


def read_votes(fmt: str, path: str | os.PathLike, **options) -> ReadReport:
    """Dispatch to the reader of ``fmt`` (one of ``FORMATS``); unknown formats and options are refused."""
    readers = {**VOTE_FORMATS, **_GENERIC_FORMATS}
    if fmt not in readers:
        raise ConfigError(f"unknown votes format {fmt!r}; known: {', '.join(f'{k} ({v})' for k, v in FORMATS.items())}.",
                          fix="pass one of them.")
    fn, allowed, _ = readers[fmt]
    given = {k: v for k, v in options.items() if v is not None}
    bad = sorted(set(given) - allowed)
    if bad:
        raise ConfigError(f"option(s) {bad} do not apply to the {fmt} format; it takes {sorted(allowed) or 'none'}.",
                          fix="leave them out.")
    return fn(path, **given)
