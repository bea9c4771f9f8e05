"""Dataset manifests: one row per item.

Columns: ``id, path, label, text, speaker, gender, split, start, duration``
plus ``meta`` (a dict of anything else: intensity, corpus label, fold …).
``start``/``duration`` (seconds) select a segment of a longer file; empty
means the whole file.  ``label`` is the corpus's own label; ``emotion`` (one
of the nine emotion2vec+ keys, or empty when the corpus label has no
counterpart) is filled by the corpus loaders.

Read and write CSV, JSONL and parquet (by file extension); relative paths start at the manifest's folder.  A
manifest is checked whole before anything runs: every problem listed (ten of each kind and a count), with its row and fix.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterable

from workbench import files
from workbench.errors import CONTROL_CHARACTERS, ConfigError, printable
from workbench.data.manifest_rows import (Item, collector_paused, csv_row_builder, emotion_of, file_checker, generic_emotion,  # noqa: F401  (Item, generic_emotion: their home before)
                                          label_conflict_checker, LABEL_MAP_META)
from workbench.data.manifest_columns import (COLUMNS, KNOWN_COLUMNS, SPEAKER_FORMS_FIX, WORDS_COLUMN, columns_fix as _columns_fix,  # noqa: F401  (public here)
                                             near_miss as _near_miss, near_miss_columns, parquet_records, speaker_form_checker, speaker_forms)
from workbench.data.parquet_check import check_parquet
from workbench.labels import GENERIC_LABELS, LABEL_KEYS  # noqa: F401  (GENERIC_LABELS public here too)
from workbench.paths import file_problem, refuse_url
from workbench.serialize import CR_FIX, LONE_CR, TABLE_MAX_BYTES, TABLE_MAX_ROWS, bad_json_line, check_fields, count_lines, decode_text, loads_json, newline_lines, read_bytes_capped, RepeatedKey, refuse_repeated_columns, shown, text_lines  # noqa: E501

logger = logging.getLogger(__name__)

#: how many entries of one kind of problem a message lists before "… and N more"
SHOWN = 10

MISSING_CHOICES = ("error", "keep")


def _listing(entries: list[str], shown: int = SHOWN) -> str:
    text = ", ".join(entries[:shown])
    if len(entries) > shown:
        text += f" … and {len(entries) - shown} more"
    return text


def _counted(found: list[str], what: str) -> str:
    """"3 missing files (a.wav, b.wav, c.wav)"; the segments of one long file name it once, with their count:
    "72 rows naming 1 missing file (long.wav ×72)" (it read "72 missing files (long.wav, long.wav, …)")."""
    counts = dict(Counter(found))
    if len(counts) == len(found) or not what.startswith("missing "):
        return f"{len(found)} {what} ({_listing(found)})"
    kind = what.removeprefix("missing ").removesuffix("s")
    listed = [f"{name} ×{n}" if n > 1 else name for name, n in counts.items()]
    return f"{len(found)} rows naming {len(counts)} missing {kind}{'' if len(counts) == 1 else 's'} ({_listing(listed)})"


@dataclass
class Manifest:
    """A list of :class:`Item` plus where relative paths start from.

    ``source`` is the file it was read from ("" when built in memory).
    """

    items: list[Item]
    root: Path = field(default_factory=Path.cwd)
    name: str = ""
    source: str = ""
    #: what the preparer wants the user to know (files it skipped and why, side files it found or did not)
    notes: list[str] = field(default_factory=list, compare=False)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(self.items)

    def resolve(self, item: Item) -> Path:
        p = Path(item.path).expanduser()
        return p if p.is_absolute() else self.root / p

    def to_frame(self):
        import pandas as pd

        rows = []
        for it in self.items:
            d = it.to_dict()
            d["meta"] = json.dumps(files.json_safe(d["meta"]), ensure_ascii=False, sort_keys=True)  # NaN as null, never bare
            rows.append(d)
        return pd.DataFrame(rows, columns=list(COLUMNS) + ["meta"])

    def validate(self, *, check_files: bool = True) -> "ValidationReport":
        return validate(self, check_files=check_files)

    def write(self, path: str | os.PathLike) -> Path:
        return write_manifest(self, path)


@dataclass
class ValidationReport:
    """Every problem of a manifest, by kind; each entry names its row."""

    n_items: int
    missing_files: list[str]
    duplicate_ids: list[str]
    unknown_columns: list[str]
    bad_segments: list[str]
    empty_ids: list[str] = field(default_factory=list)
    bad_emotions: list[str] = field(default_factory=list)
    empty_paths: list[str] = field(default_factory=list)
    missing_words: list[str] = field(default_factory=list)
    #: ids and labels holding a character a screen acts on or hides (:data:`workbench.errors.CONTROL_CHARACTERS`), by row
    control_ids: list[str] = field(default_factory=list)
    #: rows whose ``emotion`` is another class than the one their ``label`` names (``label=sad, emotion=happy``): scoring
    #: goes by ``emotion``, so the row would be scored against a class its own label contradicts
    label_conflicts: list[str] = field(default_factory=list)
    #: the same, set by an explicit label map the row names in ``meta.label_map`` (``joy=surprised``): said, not refused
    mapped_labels: list[str] = field(default_factory=list)
    #: speakers written in two forms that read as one (``1`` and ``1.0``): :mod:`workbench.data.manifest_columns`
    speaker_forms: list[str] = field(default_factory=list)

    def errors(self, *, missing: str = "error") -> bool:
        """Whether the manifest must be refused (``missing="keep"`` lets missing files through)."""
        blocking = (self.duplicate_ids or self.bad_segments or self.empty_ids or self.bad_emotions or self.empty_paths
                    or self.missing_words or self.control_ids or self.label_conflicts or self.speaker_forms)
        return bool(blocking or (self.missing_files and missing == "error"))

    @property
    def ok(self) -> bool:
        return not self.errors()

    def summary(self) -> str:
        kinds = [(self.missing_files, "missing files"), (self.missing_words, "missing words files"),
                 (self.empty_paths, "rows without a path"), (self.empty_ids, "rows with an empty id"),
                 (self.control_ids, "ids or labels holding a control character, a line break or a right-to-left override, shown here "
                                    "as escapes"), (self.duplicate_ids, "duplicate ids"), (self.bad_segments, "bad start/duration")]
        parts = [f"{self.n_items} items"] + [_counted(found, what) for found, what in kinds if found]
        if self.bad_emotions:
            parts.append(f"{len(self.bad_emotions)} unknown emotion values ({_listing(self.bad_emotions)}); "
                         f"emotion must be one of {', '.join(LABEL_KEYS)} or empty")
        if self.label_conflicts:
            parts.append(f"{len(self.label_conflicts)} rows whose label names another emotion than their emotion column "
                         f"({_listing(self.label_conflicts)})")
        if self.speaker_forms:
            parts.append(f"{len(self.speaker_forms)} speaker{'s' * (len(self.speaker_forms) > 1)} written in more than one form "
                         f"({_listing(self.speaker_forms)})")
        if self.unknown_columns:  # a near miss is named here too: the refusal said 'labl' without 'did you mean label'
            near = [f"{c!r}: did you mean {m!r}?" for c in self.unknown_columns if (m := _near_miss(c))]
            parts.append(f"extra columns kept in meta: {', '.join(self.unknown_columns)}" + (f" ({'; '.join(near)})" if near else ""))
        return "; ".join(parts)

    def fixes(self, *, missing: str = "error") -> str:
        fixes = []
        if self.missing_files and missing == "error":
            fixes.append("fix the paths (relative paths start at the manifest's folder), or pass --skip-missing to "
                         "`workbench run` (missing='keep' in Python) to run the rest and record these as failed rows")
        if self.empty_paths:
            fixes.append("give every row a path")
        if self.missing_words:
            fixes.append("fix the words column (a TextGrid, CTM, SRT or VTT path, relative to the manifest's folder) or leave it empty")
        if self.empty_ids or self.duplicate_ids:
            fixes.append("give every row its own non-empty id")
        if self.control_ids:
            fixes.append("take those characters out of the ids and labels (each is printed on screen, in logs and in reports, where "
                         "they would start a line of their own, recolour the screen or show text reversed); `workbench "
                         "manifest FOLDER` writes a file name's control characters as their escapes")
        if self.bad_segments:
            fixes.append("give start >= 0 and duration > 0 in seconds, or leave both empty for the whole file")
        if self.bad_emotions:
            fixes.append("map it with a corpus loader (`workbench datasets prepare`) or leave `emotion` empty "
                         "and keep the original in `label`")
        if self.speaker_forms:
            fixes.append(SPEAKER_FORMS_FIX)
        if self.label_conflicts:
            fixes.append("scoring goes by `emotion`: set it to the class the label names (shown after each label), or "
                         "correct the label; a label sent to another class on purpose names its map in the row's meta, "
                         "{\"label_map\": \"sad=happy\"} (as `datasets import-hf --map` writes it), and is then said, not refused")
        return "; ".join(fixes) + "."

    def raise_for_errors(self, source: str, *, missing: str = "error") -> None:
        if self.errors(missing=missing):
            raise ConfigError(f"manifest is not valid: {self.summary()}.", source=source, fix=self.fixes(missing=missing))


def validate(manifest: Manifest, *, check_files: bool = True) -> ValidationReport:
    """Check ids, paths, segments and emotion keys of every row (rows count from 1)."""
    seen: set[str] = set()
    dups: list[str] = []
    missing: list[str] = []
    bad: list[str] = []
    empty_ids: list[str] = []
    empty_paths: list[str] = []
    bad_emotions: list[str] = []
    missing_words: list[str] = []
    control_ids: list[str] = []
    conflicts: list[str] = []
    mapped: list[str] = []
    conflict = label_conflict_checker()
    file_ok = file_checker(Path(manifest.root))
    for n, it in enumerate(manifest.items, 1):
        if CONTROL_CHARACTERS.search(it.id):
            control_ids.append(f"row {n}: {it.id!r}")
        if CONTROL_CHARACTERS.search(it.label):  # hap\x00py was read as a class of its own
            control_ids.append(f"row {n}: label {it.label!r}")
        if not it.id.strip():
            empty_ids.append(f"row {n}")
        elif it.id in seen:
            dups.append(printable(it.id))
        seen.add(it.id)
        if not it.path.strip():
            empty_paths.append(f"row {n}")
        elif check_files:
            problem = file_ok(it.path)  # file_problem's answer, one os.stat per distinct path (manifest_rows.file_checker)
            if problem is not None:
                missing.append(printable(problem))
        problems = []
        if it.start is not None and not (math.isfinite(it.start) and it.start >= 0):
            problems.append(f"start={it.start:g}")
        if it.duration is not None and not (math.isfinite(it.duration) and it.duration > 0):
            problems.append(f"duration={it.duration:g}")
        if problems:
            bad.append(f"row {n} (id {printable(it.id)}): {' '.join(problems)}")
        if it.emotion and it.emotion not in LABEL_KEYS:
            bad_emotions.append(f"row {n} (id {printable(it.id)}): {it.emotion!r}")
        elif (found := conflict(n, it)) is not None:
            (mapped if found[1] else conflicts).append(found[0])
        words = it.meta.get(WORDS_COLUMN)
        if check_files and isinstance(words, str) and words.strip():
            wp = Path(words) if Path(words).is_absolute() else manifest.root / words
            if file_problem(words, wp) is not None:
                missing_words.append(printable(f"row {n} (id {it.id}): {words}"))
    return ValidationReport(len(manifest.items), missing, sorted(set(dups)), [], bad,  # extra columns: read_manifest's
                            empty_ids=empty_ids, bad_emotions=bad_emotions, empty_paths=empty_paths, missing_words=missing_words,
                            control_ids=control_ids, label_conflicts=conflicts, mapped_labels=mapped,
                            speaker_forms=speaker_forms(manifest.items))



def refuse_in_memory(manifest: Manifest, source: str) -> None:
    """Refuse a manifest built in Python (never read) for what :func:`read_manifest` refuses in its text: ids or labels
    holding a control character (a screen prints each), a speaker written in two forms that read as one."""
    report = validate(manifest, check_files=False)
    control, forms = report.control_ids, report.speaker_forms
    if control:
        raise ConfigError(f"{len(control)} ids or labels hold a control character, a line break or a right-to-left override (shown "
                          f"here as escapes): {_listing(control)}.", source=source,
                          fix="take those characters out of the ids and labels: each is printed on screen, in logs and in reports.")
    if forms:
        raise ConfigError(f"{len(forms)} speaker{'s' * (len(forms) > 1)} written in more than one form: {_listing(forms)}.",
                          source=source, fix=SPEAKER_FORMS_FIX + ".")


_BUILD_ONE = "build one with `workbench manifest FOLDER -o manifest.csv`, or write a header `id,path` and one row per audio file"


#: what a manifest's header is written with instead of commas (European Excel's CSV; Excel's "Unicode text")
OTHER_DELIMITERS = {";": "semicolons (';', as Excel writes CSV where the decimal mark is a comma)",
                    "\t": "tabs (as Excel's \"Unicode text\" export writes)"}


_NAME_LIKE = re.compile(r"[\w .()/\-]{1,40}")


def _column_names(cells: Iterable[str]) -> str:
    """A header's cells for an error message: a cell that looks like a column name as itself, any other as its length.

    A file that is not a manifest at all (a ``.csv`` link to /etc/shadow) would otherwise print its first line, a
    password hash, on screen and into whatever log collects the error."""
    out = [repr(c) if _NAME_LIKE.fullmatch(c) else f"<a cell of {len(c)} characters>" for c in cells]
    return "[" + ", ".join(out[:SHOWN]) + (f", … {len(out) - SHOWN} more" if len(out) > SHOWN else "") + "]"


def _check_delimiter(p: Path, text: str) -> None:
    """Refuse a header whose cells are known columns only when split at ';' or a tab: read at commas it is one column
    (or a row "has more fields than the header"), which names the wrong cause."""
    pos = end = 0
    while pos < len(text):  # the first non-blank line (ended by \n, \r\n or a lone \r), without copying the text
        end = min((i for i in (text.find("\n", pos), text.find("\r", pos)) if i >= 0), default=len(text))
        if text[pos:end].strip():
            break
        pos = end + 1
    line = text[pos:end] if pos < len(text) else ""
    known = set(COLUMNS) | {"meta"}

    def cells(sep: str) -> set[str]:
        return {c.strip().lower() for c in next(csv.reader([line], delimiter=sep), [])}

    if cells(",") & known:
        return
    for sep, words in OTHER_DELIMITERS.items():
        if cells(sep) & known:
            raise ConfigError(f"its header is separated by {words}, not commas: {shown(line, 120)}.", source=str(p),
                              fix="save it as CSV with commas (Excel: \"CSV UTF-8 (Comma delimited)\"; LibreOffice: field "
                                  "delimiter ','), or write the manifest as .jsonl.")


def _read_csv(p: Path, text: str) -> tuple[list[str], list[Item], list[str], int, tuple | None]:
    """The header, the items of the rows (made as each row is read: the rows were held as dicts, 1.9M rows took 1.5 GB,
    then as lists, 10^6 rows 0.6 GB), the rows that cannot be read, the row count, and the first row with a field over
    the length cap with its number (the caller refuses these in the order it always did)."""
    _check_delimiter(p, text)
    reader = csv.reader(text_lines(text), strict=True)
    header: list[str] | None = None
    items: list[Item] = []
    row_errors: list[str] = []
    n, long_row, build, cap, speaker = 0, None, None, check_fields.__kwdefaults__["max_chars"], speaker_form_checker(str(p))
    try:
        for r in reader:
            if not "".join(r).strip():  # a blank row (any(c.strip() …) per row, in C)
                continue
            if header is None:
                refuse_repeated_columns(header := [c.strip() for c in r], source=str(p))  # a second `label` won silently
                build = csv_row_builder(header) if {"id", "path"} <= set(header) else None  # else refused after the rows
                continue
            if len(r) > len(header):
                raise ConfigError(f"row {n + 1} has {len(r)} fields but the header has {len(header)} "
                                  f"{_column_names(header)}.", source=str(p),
                                  fix="quote fields that contain commas, or add the missing column names to the header.")
            n += 1
            if len(r) < len(header):
                r = r + [""] * (len(header) - len(r))
            if long_row is None and max(map(len, r)) > cap:
                long_row = (n, r)
            if build is not None and long_row is None:
                try:
                    items.append(build(r))
                except ValueError as exc:
                    row_errors.append(f"row {n}: {exc}")
                else:
                    speaker(n, items[-1])  # 1 and 1.0: refused at the second form's row, not after 10^6 rows
    except csv.Error as exc:
        raise ConfigError(f"is not valid CSV near line {reader.line_num} ({exc}).", source=str(p),
                          fix="close every opening double quote; a quote inside a quoted field is written twice (\"\").") from None
    return header or [], items, row_errors, n, long_row


def _read_jsonl(p: Path, text: str) -> tuple[list[str], list[Item], list[str], int, tuple | None]:
    """:func:`_read_csv` for JSON lines: the first row's keys (its columns), the items made as each line is read (the
    rows were held as dicts beside them: 10^6 rows, 1.6 GB), the rows that cannot be read, the row count, and the first
    row with a text over the length cap (its number and texts)."""
    items: list[Item] = []
    row_errors: list[str] = []
    n, long_row, first, cap, emotion = 0, None, None, check_fields.__kwdefaults__["max_chars"], None
    speaker = speaker_form_checker(str(p))
    for _, rec in jsonl_objects(p, text):
        n += 1
        if first is None:
            first, emotion = list(rec), emotion_of("emotion" in rec)
        if long_row is not None:
            continue
        texts = [v for v in rec.values() if isinstance(v, str)]
        if max(map(len, texts), default=0) > cap:
            long_row = (n, texts)
            continue
        try:
            it = Item.from_dict(rec)
        except ValueError as exc:
            row_errors.append(f"row {n}: {exc}")
            continue
        it.emotion = emotion(it.emotion if "emotion" in first else it.label)
        speaker(n, it)
        items.append(it)
    return first or [], items, row_errors, n, long_row


def jsonl_objects(p: Path, text: Any, *, fix: str = 'write one object per line, e.g. {"id": "a1", "path": "a1.wav"}.'):
    """``(line number, object)`` of each non-blank line of JSON-lines ``text`` (or of its ``(number, line)`` pairs, read one at a time); anything but an object is refused with ``fix``."""
    for n, line in (enumerate(newline_lines(text), 1) if isinstance(text, str) else text):  # lines end at \n (and \r\n) only: U+2028 is text
        if not line.strip():
            continue
        try:
            rec = loads_json(line, unique_keys=True)  # a key written twice kept its last value silently
        except RepeatedKey as exc:
            raise ConfigError(f"line {n} {exc}.", source=str(p), fix="keep one value for each key on the line.") from None
        except json.JSONDecodeError as exc:
            raise ConfigError(bad_json_line(n, exc.msg, line), source=str(p), fix=CR_FIX if LONE_CR in bad_json_line(n, "", line) else fix) from None
        if not isinstance(rec, dict):
            raise ConfigError(f"line {n} is a JSON {type(rec).__name__}, not an object.", source=str(p), fix=fix)
        yield n, rec


def _read_parquet(p: Path) -> list[dict]:
    try:
        import pyarrow.parquet as pq

        n_rows = pq.ParquetFile(p).metadata.num_rows  # the footer, before any row is read
    except Exception:
        n_rows = 0  # read_parquet below says what is wrong
    _refuse_rows(p, n_rows, "rows")
    check_parquet(p, max_bytes=TABLE_MAX_BYTES, max_rows=TABLE_MAX_ROWS, name=str(p), what="a manifest")
    try:
        return parquet_records(p)  # an integer column with an empty cell kept whole (pandas made it floats)
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise ConfigError(f"is not a readable parquet file ({type(exc).__name__}: {str(exc)[:200]}).", source=str(p),
                          fix="write it again, or use a CSV or JSONL manifest.") from None


def read_manifest(path: str | os.PathLike, *, validate_files: bool = True, missing: str = "error") -> Manifest:
    """Read a CSV, JSONL or parquet manifest and validate it (raises :class:`ConfigError`).

    One row per item: ``id, path, label, text, speaker, split, start, duration`` (only ``id`` and ``path`` are
    required); columns the schema does not know are kept in each item's ``meta`` and named in the manifest's
    notes.  Relative paths are resolved against the manifest's folder.

    Parameters
    ----------
    path
        The manifest file: ``.csv``, ``.jsonl`` (or ``.json`` lines) or ``.parquet``, gzipped or not.
    validate_files
        Check that every item's audio file exists (False: read the table only).
    missing
        ``"error"`` (default) refuses a manifest that names files that do not exist; ``"keep"`` keeps
        those items (they become failed rows of a run) and refuses only the other problems.

    Returns
    -------
    Manifest
        The items, in file order, with ``root`` (the manifest's folder) and ``notes``.

    Examples
    --------
    Two of the shipped demo clips, and one file that is not there:

    >>> from workbench.data.manifest import Item, Manifest, write_manifest
    >>> clips = [Item(id=f"c{i}", path=str(p), label="joy", emotion="Happy ")
    ...          for i, p in enumerate(sorted(wb.DEMO_DATA.glob("*.wav"))[:2])]
    >>> manifest = wb.read_manifest(write_manifest(Manifest(clips), "two.jsonl"))
    >>> len(manifest), manifest.items[0].emotion  # the emotion column, normalised to an emotion2vec+ key
    (2, 'happy')
    >>> three = write_manifest(Manifest(clips + [Item(id="gone", path="missing.wav", emotion="sad")]), "three.jsonl")
    >>> wb.read_manifest(three)
    Traceback (most recent call last):
    ...
    workbench.errors.ConfigError: ...
    >>> len(wb.read_manifest(three, missing="keep"))
    3
    """
    if missing not in MISSING_CHOICES:
        raise ConfigError(f"missing={missing!r}; expected 'error' or 'keep'.", source="read_manifest", fix="pass one of them.")
    refuse_url(path, "a manifest")
    p = Path(path)
    with collector_paused():  # (10^6 items: half the time was the garbage collector's)
        header, records, row_errors = _read_records(p)
        items, extra_cols = _items(p, records, header, row_errors)
        manifest = Manifest(items, root=p.resolve().parent, name=p.stem, source=str(p.resolve()))
        report = validate(manifest, check_files=validate_files)
    report.unknown_columns = extra_cols
    report.raise_for_errors(str(p), missing=missing)
    mapped = [f"{len(report.mapped_labels)} rows whose emotion an explicit label map set against the label's own name "
              f"({_listing(report.mapped_labels)})"] if report.mapped_labels else []
    for warning in [*near_miss_columns(report.unknown_columns), *mapped]:  # a misspelt `label` would silently leave every row unlabelled
        logger.warning("%s: %s", p, warning)
        manifest.notes.append(warning)
    return manifest


def _read_records(p: Path) -> tuple[list[str] | None, list, list[str]]:
    """The manifest file's rows after the checks on the file itself (kind, size, row count, field length): a CSV's
    header (a JSONL file's first keys), its items and the rows that cannot be read; or ``None``, a parquet file's rows
    (dicts), ``[]``."""
    if p.is_dir():
        raise ConfigError("is a directory, not a manifest file.", source=str(p),
                          fix=f"pass a .csv, .jsonl or .parquet file; {_BUILD_ONE}.")
    if p.exists() and not p.is_file():  # a FIFO would block the read, a device (/dev/zero) never ends
        raise ConfigError("is not a regular file (a pipe, a device or a socket), so it is not read as a manifest.",
                          source=str(p), fix=f"pass a .csv, .jsonl or .parquet file; {_BUILD_ONE}.")
    if not p.is_file():
        raise ConfigError("manifest file not found.", source=str(p),
                          fix="check the path; `workbench datasets prepare` or `workbench manifest FOLDER` writes one.")
    ext = p.suffix.lower()
    if ext not in (".csv", ".jsonl", ".json", ".parquet"):
        raise ConfigError(f"unknown manifest format {ext!r}; expected .csv, .jsonl or .parquet.", source=str(p), fix="rename or convert the file.")
    if p.stat().st_size == 0:
        raise ConfigError("manifest is empty (0 bytes).", source=str(p), fix=_BUILD_ONE + ".")
    if ext == ".parquet":
        header, records, row_errors, n = None, _read_parquet(p), [], 0
    else:  # bounded: bytes and lines before parsing, field length after (workbench.serialize)
        n_lines = count_lines(p)  # on the bytes, a chunk at a time: a 2.1M-row CSV was read and decoded (230 MB) to be refused
        _refuse_rows(p, n_lines)
        text = decode_text(read_bytes_capped(p, what="a manifest", decompress=False), source=str(p))
        if n_lines is None:  # UTF-16/32: counted in the text (a Gurmukhi letter U+0A.. holds a 0x0A byte); a lone \r ends a row too
            _refuse_rows(p, text.count("\n") + text.count("\r") - text.count("\r\n"))
        if ext == ".csv":
            header, records, row_errors, n, long_row = _read_csv(p, text)
        else:
            header, records, row_errors, n, long_row = _read_jsonl(p, text)
        del text
    _refuse_rows(p, n if header is not None else len(records), "rows")
    if header is None:
        check_fields(([v for v in r.values() if isinstance(v, str)] for r in records), source=str(p))
    elif long_row is not None:
        check_fields([[]] * (long_row[0] - 1) + [long_row[1]], source=str(p))  # names its row
    if not (n if header is not None else records):
        raise ConfigError("manifest has no rows (a header or blank lines only).", source=str(p), fix=_BUILD_ONE + ".")
    return header, records, row_errors


def _refuse_rows(p: Path, n: int | None, what: str = "lines") -> None:
    """Refuse a manifest of more than TABLE_MAX_ROWS rows (read at call time: tests lower it)."""
    if n is not None and n > TABLE_MAX_ROWS:
        raise ConfigError(f"has {n:,} {what}; a manifest holds at most {TABLE_MAX_ROWS:,} rows.", source=str(p),
                          fix="split it into several manifests (one per corpus part) and run each.")


def _items(p: Path, records: list, header: list[str] | None, row_errors: list[str]) -> tuple[list[Item], list[str]]:
    """One item per row (every unreadable row named at once), ``emotion`` normalised or derived from ``label``, and the
    extra columns (kept in meta); consumes ``records`` (each row dropped once its item is made: 1.9M rows and items
    held 1.5 GB at once).  A CSV's or JSONL file's items (``header`` given) are made as it is read (:func:`csv_row_builder`, the same
    checks), its unreadable rows in ``row_errors``."""
    columns = set(records[0]) if header is None else set(header)  # (a JSONL file's first row names its columns)
    if not {"id", "path"} <= columns:
        raise ConfigError(f"manifest needs the columns 'id' and 'path'; it has {_column_names(sorted(columns))}.",
                          source=str(p), fix=_columns_fix(columns))
    items: list[Item] = records if header is not None else []
    extra_cols, speaker = sorted(columns - set(COLUMNS) - {"meta", WORDS_COLUMN}), speaker_form_checker(str(p))
    for n in range(1, len(records) + 1 if header is None else 0):
        r, records[n - 1] = records[n - 1], None
        try:
            items.append(Item.from_dict(r))
        except ValueError as exc:
            row_errors.append(f"row {n}: {exc}")
        else:
            speaker(n, items[-1])
    if row_errors:
        raise ConfigError(
            f"{len(row_errors)} row{'s' if len(row_errors) > 1 else ''} cannot be read: {_listing(row_errors)}.",
            source=str(p),
            fix="start and duration are seconds (e.g. 1.5) or empty; meta is a JSON object.",
        )
    if header is None:  # "Happy " is "happy" (anything else is refused by validate()); no emotion column: the label's key
        emotion = emotion_of("emotion" in columns)
        for it in items:
            it.emotion = emotion(it.emotion if "emotion" in columns else it.label)
    return items, extra_cols


def rebased(manifest: Manifest, folder: str | os.PathLike) -> Manifest:
    """``manifest`` with its relative item paths starting at ``folder`` instead of its root (itself when they agree)."""
    base = Path(folder).absolute()
    if Path(manifest.root).expanduser().absolute() == base:
        return manifest
    items = []
    for it in manifest.items:
        target = manifest.resolve(it).absolute()
        if Path(it.path).expanduser().is_absolute() or str(it.path).startswith("~"):
            items.append(it)
            continue
        try:
            path = Path(os.path.relpath(target, base)).as_posix()
        except ValueError:  # another drive (Windows)
            path = str(target)
        items.append(replace(it, path=path))
    return replace(manifest, items=items, root=base)


def write_manifest(manifest: Manifest | Iterable[Item], path: str | os.PathLike) -> Path:
    """Write by extension (.csv, .jsonl, .parquet), atomically.

    A manifest's relative paths start at its own folder, so items whose paths are relative to ``manifest.root`` are
    written relative to the new file's folder when that is another one (``../corpus/a.wav``; absolute on another
    drive): the file written elsewhere names the same audio.  The manifest given is not changed.
    """
    m = manifest if isinstance(manifest, Manifest) else Manifest(list(manifest))
    p = Path(path)
    m = rebased(m, p.expanduser().absolute().parent)
    ext = p.suffix.lower()
    if ext not in (".csv", ".jsonl", ".json", ".parquet"):
        raise ConfigError(f"unknown manifest format {ext!r}; expected .csv, .jsonl or .parquet.", source=str(p), fix="choose one of those extensions.")
    if p.is_dir():
        raise ConfigError("is a directory.", source=str(p), fix="pass a file name ending in .csv, .jsonl or .parquet.")
    parent = p.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"cannot be written: {parent} is a file, not a folder.", source=str(p),
                          fix="choose a manifest path that is not inside a file.")
    p.parent.mkdir(parents=True, exist_ok=True)
    # atomic and never through a link (workbench.files): a planted m.csv.tmp -> /dev/full is never written
    if ext == ".csv":
        frame = m.to_frame()  # a carriage return in a name (legal on POSIX) is no csv line end to Python's writer: quote all then
        cr = any(frame[c].astype(str).str.contains("\r", regex=False).any() for c in frame.columns)
        files.write_atomic(p, lambda f: frame.to_csv(f, index=False, quoting=csv.QUOTE_NONNUMERIC if cr else csv.QUOTE_MINIMAL), text=True)
    elif ext in (".jsonl", ".json"):
        files.write_text(p, "".join(json.dumps(files.json_safe(it.to_dict()), ensure_ascii=False) + "\n" for it in m.items))
    else:
        files.write_atomic(p, lambda f: m.to_frame().to_parquet(f, index=False))
    return p
