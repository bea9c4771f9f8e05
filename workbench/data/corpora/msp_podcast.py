"""MSP-Podcast: the manifest reader, the label map and the reader of its raters' labels.

The distribution holds ``Audios/MSP-PODCAST_0001_0008.wav`` … and ``Labels/``.  The manifest comes from
``labels_consensus.csv`` (``labels_concensus.csv`` in 1.6 to 1.9; 1.10 corrected the spelling; or, when no CSV is
there, the same table as the releases also ship it, ``labels_consensus.json``): per file the
consensus class letter ``EmoClass``, the dimensions, ``SpkrID``, ``Gender`` and the partition ``Split_Set``, kept as
it is written in the manifest's ``split`` column: ``Train``, ``Development`` (the validation set; ``Validation`` in
earlier releases such as 1.6 and 1.8), ``Test1`` (segments from 237 speakers), ``Test2`` (117 podcasts kept out of
every other partition) and, from release 1.11, ``Test3`` (balanced across the primary emotions; the corpus withholds
its labels, speakers and transcripts: only its audio is distributed, so its files have no consensus class to read and
the notes count them with the other audio files that have no row).
Releases 1.0–1.5 have no ``Split_Set`` column: their partitions are in the release's ``Partitions.txt``, one line per
file, ``Train; MSP-PODCAST_0023_0048.wav`` (later releases ship it too, as 1.8 does); it gives ``split`` when the table has
no ``Split_Set`` (:func:`read_partitions`), and where both are there a file they place apart is named.
Readers of ``split`` take each value by its role (:func:`workbench.schema.split_role`): ``Train`` is train,
``Development`` (or ``Validation``) dev, and each ``TestN`` a test set of its own, never pooled with another.

``Labels/labels_detailed.csv`` (or its JSON form, file name → worker → fields) has one row per rater and file: ``FileName`` (``MSP-PODCAST_0001_0008.wav``),
the primary class ``EmoClass_Major`` (``EmoClass`` in older releases) by its long name, and the ratings
``EmoAct``/``EmoVal``/``EmoDom`` on 1–7.  ``labels_consensus.csv`` gives one row per file, the class as a
letter (``A`` angry, ``S`` sad, ``H`` happy, ``U`` surprise, ``F`` fear, ``D`` disgust, ``C`` contempt,
``N`` neutral, ``O`` other, ``X`` no agreement).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from workbench.data.corpora.common import audio_files, finish, rel, require_dir
from workbench.data.manifest import Item, Manifest
from workbench.data.manifest_columns import speaker_text
from workbench.data.votes import as_float, corpus_file, csv_rows, NAN, ReadReport, record_from_counts, vote
from workbench.errors import ConfigError
from workbench.schema import split_role
from workbench.serialize import FIELD_MAX_CHARS, read_bytes_capped, read_text_capped, shown, TABLE_MAX_ROWS

NAME = "msp-podcast"

#: every class once: consensus letter → (long name, emotion2vec+ key; "" = no counterpart)
_CLASSES = {
    "a": ("angry", "angry"), "s": ("sad", "sad"), "h": ("happy", "happy"), "u": ("surprise", "surprised"),
    "f": ("fear", "fearful"), "d": ("disgust", "disgusted"), "c": ("contempt", ""), "n": ("neutral", "neutral"),
    "o": ("other", "other"),
}
#: the classes by long name (labels_detailed.csv) and by letter (labels_consensus.csv) → emotion2vec+ key
VOTE_CLASSES = {**{name: key for name, key in _CLASSES.values()}, **{letter: key for letter, (_, key) in _CLASSES.items()}}
#: the consensus letter (the manifest's label) → emotion2vec+ key; ``X`` (no agreement) has none
LABEL_MAP = {**{letter.upper(): key for letter, (_, key) in _CLASSES.items()}, "X": ""}
#: the consensus letter → the class's name; ``X`` is not a class (no agreement among the raters)
CLASS_NAMES = {**{letter.upper(): name for letter, (name, _) in _CLASSES.items()}, "X": ""}
#: the consensus file's names, current and early releases; the releases ship the same table as JSON too (an object of
#: file name → its ``EmoClass``, ``EmoAct`` … ``Split_Set``), read when no CSV is beside it
CONSENSUS_FILES = ("labels_consensus.csv", "labels_concensus.csv", "labels_consensus.json")


#: the labels folder's names across releases (``Labels`` in most, ``labels`` in 1.9, ``label`` in 1.6), lower-cased
LABEL_FOLDERS = ("labels", "label")
#: a JSON labels file's bounds, counted in its bytes before it is parsed: a ``{`` per file and per rating (a rating a
#: CSV row), a ``:`` per value (about 8 a row); colons and braces inside text count too, so these are upper bounds
JSON_MAX_OBJECTS = 2 * TABLE_MAX_ROWS + 1
JSON_MAX_VALUES = 8 * TABLE_MAX_ROWS


def _labels_in(folder: Path) -> Path | None:
    """The consensus file in ``folder``'s labels folder, whatever its case (``Labels/``, ``labels/``, ``label/``), or in
    ``folder`` itself; None when neither holds one."""
    folders = sorted(p for p in folder.iterdir() if p.is_dir() and p.name.lower() in LABEL_FOLDERS)
    for where in (*folders, folder):
        for name in CONSENSUS_FILES:
            if (where / name).is_file():
                return where / name
    return None


def _consensus_file(root: Path) -> Path:
    """``labels_consensus.csv`` (or the early ``labels_concensus.csv``) of the release in the folder given, or in a folder
    in it: the release unpacks into ``MSP-PODCAST-Publish-1.11/``, and the folder it was unpacked into was refused as
    holding no labels.  Two releases side by side are refused (which one is meant would be a guess)."""
    found = _labels_in(root)
    if found is not None:
        return found
    nested = [hit for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
              if (hit := _labels_in(sub)) is not None]
    if len(nested) > 1:
        raise ConfigError(f"holds {len(nested)} MSP-Podcast releases' labels ({', '.join(rel(h, root) for h in nested[:3])}); "
                          "one manifest is of one release.", source=str(root), fix="pass the top folder of one release.")
    if nested:
        return nested[0]
    raise ConfigError("no Labels/labels_consensus.csv (or labels_concensus.csv, labels_consensus.json) in the MSP-Podcast folder.",
                      source=str(root),
                      fix="pass the top folder of the MSP-Podcast release (it holds Audios/ and Labels/). A release before 1.6 "
                          "names its labels otherwise: use the consensus CSV of a later release (its Previous_releases_information/ "
                          "holds each earlier release's labels), or write one with the columns FileName, EmoClass (EmoAct, EmoVal, "
                          "EmoDom, SpkrID, Gender optional) into Labels/labels_consensus.csv, with the release's Partitions.txt "
                          "in the top folder.")


#: the partition file of releases 1.0–1.5 (later ones ship it too), found in the top folder or the labels folder
PARTITIONS_FILE = "partitions.txt"


def _partitions_file(root: Path, labels: Path) -> Path | None:
    """The release's ``Partitions.txt`` (any case) in the folder given, beside the consensus file or in the release's top
    folder (above the labels folder), or None."""
    for folder in dict.fromkeys((root, labels.parent, labels.parent.parent)):
        for p in sorted(folder.iterdir()):
            if p.name.lower() == PARTITIONS_FILE and p.is_file():
                return p
    return None


def read_partitions(p: Path) -> tuple[dict[str, str], list[str]]:
    """``Partitions.txt``: file name → partition, one line ``Train; MSP-PODCAST_0023_0048.wav`` per file, and the lines
    not of that form (blank lines aside), named by number.  A file given two partitions is refused: which is meant would be
    a guess, and either could put a test segment into training."""
    text = read_text_capped(p, what="a partition file", errors="replace")
    parts: dict[str, tuple[str, int]] = {}
    odd: list[str] = []
    for n, line in enumerate(text.splitlines(), 1):
        fields = [f.strip() for f in line.split(";")]
        if len(fields) != 2 or not all(fields) or "/" in fields[1] or "\\" in fields[1]:
            if line.strip():
                odd.append(f"line {n} ({shown(line.strip(), 40)})")
            continue
        part, name = fields
        if name in parts and parts[name][0] != part:
            raise ConfigError(f"gives {shown(name, 60)} two partitions, {shown(parts[name][0], 20)} (line {parts[name][1]}) and "
                              f"{shown(part, 20)} (line {n}).", source=str(p),
                              fix="use the Partitions.txt of one MSP-Podcast release as distributed.")
        parts[name] = (part, n)
    return {name: part for name, (part, _) in parts.items()}, odd


def _partitions(rows: list[dict], root: Path, labels: Path) -> list[str]:
    """Fill each row's ``Split_Set`` from ``Partitions.txt`` when the table has none (releases 1.0–1.5), in place; where
    both are there, ``Split_Set`` stays and the files the two place apart are named.  The notes this gives."""
    p = _partitions_file(root, labels)
    if p is None:
        return []
    parts, odd = read_partitions(p)
    notes = [f"{len(odd)} line(s) of {p.name} are not 'Partition; file name' and were not read: {', '.join(odd[:3])}"
             + (" …" if len(odd) > 3 else "")] if odd else []
    if not any((r.get("Split_Set") or "").strip() for r in rows):
        for r in rows:
            r["Split_Set"] = parts.get(Path(r["FileName"]).name, "")
        missing = sum(not r["Split_Set"] for r in rows)
        return notes + [f"split from {p} ({labels.name} has no Split_Set, as in releases 1.0–1.5)"
                        + (f"; {missing} row(s) of {labels.name} are not in it and have no split" if missing else "")]
    apart = [f"{r['FileName']} ({r['Split_Set'].strip()} / {parts[name]})" for r in rows
             if (name := Path(r["FileName"]).name) in parts and parts[name] != r["Split_Set"].strip()]
    if apart:
        notes.append(f"{len(apart)} file(s) are in another partition in {p.name} than in {labels.name}'s Split_Set, which the "
                     f"manifest keeps: {'; '.join(apart[:3])}{' …' if len(apart) > 3 else ''}; check that both are of one release.")
    return notes


def _json_table(p: Path, fix: str) -> dict:
    """A labels file in the releases' JSON form: one object keyed by file name, each value an object.  A key given twice
    (at any level) is refused: JSON keeps the last silently, and either copy could put a segment in the wrong
    partition or drop a rating.  Bounded as a CSV table is: its objects are counted before it is parsed (14 million
    entries in 450 MB took 5.5 GB to parse), nesting past the parser's depth, ``NaN``/``Infinity`` (no JSON, though
    Python reads them), a key or text over :data:`FIELD_MAX_CHARS` and a file name that is a path are refused."""
    twice: list[str] = []
    long: list[str] = []
    constants: list[str] = []

    def unique(pairs: list[tuple[str, object]]) -> dict:
        out: dict = {}
        for key, value in pairs:
            if key in out:
                twice.append(key)
            if len(key) > FIELD_MAX_CHARS or (isinstance(value, str) and len(value) > FIELD_MAX_CHARS):
                long.append(key)
            out[key] = value
        return out

    def constant(name: str) -> float:
        constants.append(name)
        return NAN

    data = read_bytes_capped(p, what="a labels file")
    objects, values = data.count(b"{"), data.count(b":")
    if objects > JSON_MAX_OBJECTS or values > JSON_MAX_VALUES:
        raise ConfigError(f"holds {objects:,} objects and {values:,} values; the cap for a labels file is {JSON_MAX_OBJECTS:,} and "
                          f"{JSON_MAX_VALUES:,} ({TABLE_MAX_ROWS:,} rows, as for a CSV table).", source=str(p),
                          fix="check that this is the file you meant, or split it.")
    try:
        table = json.loads(data, object_pairs_hook=unique, parse_constant=constant)
    except RecursionError:
        raise ConfigError("nests deeper than a JSON reader goes (thousands of [ or {); a labels file nests three levels.",
                          source=str(p), fix=fix) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"is not JSON ({shown(str(exc), 120)}).", source=str(p), fix=fix) from None
    del data
    if twice:
        raise ConfigError(f"names {shown(twice[0], 60)} twice ({len(twice)} repeated key(s)).", source=str(p), fix=fix)
    if constants:
        raise ConfigError(f"holds {' and '.join(sorted(set(constants)))} ({len(constants)} time(s)), which JSON has no number for "
                          "(Python's reader takes it, other readers refuse it).", source=str(p), fix=fix)
    if long:
        raise ConfigError(f"has a key or text of more than {FIELD_MAX_CHARS:,} characters (under {shown(long[0], 60)}); the cap "
                          "for a field of a labels file is the CSV tables' one.", source=str(p), fix=fix)
    if not isinstance(table, dict) or not all(isinstance(v, dict) for v in table.values()):
        raise ConfigError("is not an object of file name → its labels (the release's form).", source=str(p), fix=fix)
    paths = [name for name in table if not name.strip() or name.strip() in (".", "..") or "/" in name or "\\" in name]
    if paths:
        raise ConfigError(f"is keyed by {len(paths)} name(s) that are no file name (first: {shown(paths[0], 60)}): the release's "
                          "keys are bare file names (MSP-PODCAST_0001_0008.wav), and a folder in one would be dropped.",
                          source=str(p), fix=fix)
    return table


def _text(value: object, p: Path, name: str, field: str) -> str:
    """A cell of the JSON form as text, as a CSV cell would read: a whole number as its integer (``SpkrID`` 12 and
    12.0 are one speaker, ``msp_12``; ``str`` made ``msp_12.0`` of the second), ``null`` as ``""``.  A list, an object
    or ``true``/``false`` is no cell of the release's table and is refused (``["Train"]`` became the split
    ``['Train']``)."""
    if isinstance(value, (list, dict, bool)):
        kind = "a list" if isinstance(value, list) else "an object" if isinstance(value, dict) else f"{str(value).lower()}"
        raise ConfigError(f"gives {field} of {shown(name, 60)} as {kind}; the release's cells are text or numbers.", source=str(p),
                          fix="pass the labels file of one MSP-Podcast release as distributed.")
    return speaker_text(value).strip()


def consensus_rows(labels: Path) -> list[dict]:
    """The rows of the consensus table, one dict of strings per file with its ``FileName``: the CSV as it is, or the
    JSON form (``{"MSP-PODCAST_0001_0008.wav": {"EmoClass": "A", "EmoAct": 4.2, …, "Split_Set": "Train"}, …}``) with
    each file name as ``FileName`` and each value as text."""
    if labels.suffix.lower() != ".json":
        return csv_rows(labels, ("FileName", "EmoClass"))[1]
    fix = "pass the labels_consensus.json of one MSP-Podcast release as distributed (or its labels_consensus.csv)."
    table = _json_table(labels, fix)
    no_class = [name for name, fields in table.items() if "EmoClass" not in fields]
    if no_class:
        raise ConfigError(f"has no EmoClass for {len(no_class)} file(s) (first: {shown(no_class[0], 60)}).", source=str(labels), fix=fix)
    for name, fields in table.items():  # in place: a second dict per row made 2,000,000 rows peak at 2.34 GB, not 2.07
        fields.update({k: _text(v, labels, name, k) for k, v in fields.items()}, FileName=name)
    return list(table.values())


def _json_ratings(p: Path) -> list[tuple[str, str, dict[str, str]]]:
    """``labels_detailed.json``: ``{file name: {worker: {"EmoClass_Major": "Angry", "EmoClass_Second": …, "EmoAct": …,
    "EmoVal": …, "EmoDom": …}}}`` (1.6 on; ``EmoClass`` for the primary class read too), as :func:`_ratings` rows."""
    fix = "pass Labels/labels_detailed.json as distributed (or labels_detailed.csv)."
    out, stems = [], {}
    for name, workers in _json_table(p, fix).items():
        if (other := stems.setdefault(Path(name).stem, name)) != name:  # one record per stem: two keys' ratings were pooled
            raise ConfigError(f"names one segment twice, as {shown(other, 60)} and {shown(name, 60)}: their ratings would be "
                              "counted as one file's.", source=str(p), fix=fix)
        for worker, rating in workers.items():
            cls = rating.get("EmoClass_Major", rating.get("EmoClass")) if isinstance(rating, dict) else None
            if cls is None:
                raise ConfigError(f"the rating of {shown(name, 60)} by {shown(worker, 40)} has no EmoClass_Major.", source=str(p), fix=fix)
            out.append((Path(name).stem, _primary(_text(cls, p, name, "EmoClass_Major")),
                        {d: _text(rating[f"Emo{d.title()}"], p, name, f"Emo{d.title()}") for d in ("act", "val", "dom")
                         if f"Emo{d.title()}" in rating}))
    return out


def prepare(corpus_dir: str | os.PathLike) -> Manifest:
    """MSP-Podcast: one item per row of ``Labels/labels_consensus.csv`` whose audio is in the folder.

    The label is the consensus letter (``X``: the raters did not agree, kept unlabelled); ``split`` is ``Split_Set``
    as written (``Train``, ``Development``, ``Test1`` …); ``meta`` keeps the consensus dimensions (``act``, ``val``,
    ``dom``, 1–7) and the class's name.  Rows without their audio file are counted and skipped; audio files without a
    row are not items.  Without ``Split_Set`` (releases 1.0–1.5) the split is the release's ``Partitions.txt``'s.  The manifest's notes count the items of each split and say how ``--scheme split`` reads them.
    """
    root = require_dir(corpus_dir, NAME)
    labels = _consensus_file(root)
    rows = consensus_rows(labels)
    hidden: list[str] = []
    audio: dict[str, list[Path]] = {}  # every file of a name: finish() keeps one copy, or refuses two different recordings
    for p in audio_files(root, hidden):
        audio.setdefault(p.name, []).append(p)
    _refuse_twice_listed(rows, labels)
    partition_notes = _partitions(rows, root, labels)
    items, no_audio, no_class, off_scale = [], [], [], []
    for r in rows:
        copies = audio.get(Path(r["FileName"]).name)
        p = copies[0] if copies else None
        letter = r["EmoClass"].strip().upper()
        if p is None or letter not in LABEL_MAP:
            (no_audio if p is None else no_class).append(r["FileName"] if p is None else f"{r['FileName']} (class {shown(letter, 20)})")
            continue
        speaker = r.get("SpkrID", "").strip()
        gender = r.get("Gender", "").strip().lower()
        meta = {"corpus": NAME, "label_name": CLASS_NAMES[letter]}
        meta.update(_dimensions(r, off_scale))
        items += [Item(id=c.stem, path=rel(c, root), label=letter, emotion=LABEL_MAP[letter],
                       speaker="" if speaker.lower() in ("", "unknown") else f"msp_{speaker}",
                       gender=gender if gender in ("male", "female") else "", split=r.get("Split_Set", "").strip(),
                       meta=dict(meta)) for c in copies]
    reason = "; ".join(part for part in (
        f"{len(no_audio)} without their audio file in the folder" if no_audio else "",
        f"{len(no_class)} with a class letter the corpus does not have ({', '.join(LABEL_MAP)})" if no_class else "") if part)
    manifest = finish(items, root, NAME, no_class + no_audio, reason=f"row(s) of {labels.name} were left out: {reason}",
                      hidden=hidden)
    manifest.notes += [*partition_notes, split_note(items)]
    listed = {Path(r["FileName"]).name for r in rows}
    unlisted = sorted(rel(p, root) for name, ps in audio.items() if name not in listed for p in ps)
    if unlisted:
        manifest.notes.append(
            f"{len(unlisted)} audio file(s) have no row in {labels.name} and are not in the manifest (e.g. "
            f"{', '.join(unlisted[:3])}): no consensus class or partition to read for them. MSP-Podcast withholds the "
            "labels of its Test3 partition (from release 1.11; they are scored on the corpus's own web interface), so a "
            "release's Test3 audio is among them; any other such file is not one the labels file knows.")
    if off_scale:
        manifest.notes.append(f"{len(off_scale)} dimension value(s) not on the corpus's 1–7 scale (or not numbers) were left out "
                              f"of meta (first: {'; '.join(off_scale[:5])}): check {labels.name}.")
    return manifest


def _refuse_twice_listed(rows: list[dict], labels: Path) -> None:
    """A segment listed twice in the consensus file (a file merged from two releases, or edited) is refused: its rows
    may give it two classes or two partitions, and either copy would leak one partition into another."""
    seen: dict[str, int] = {}
    for k, r in enumerate(rows):
        name = Path(r["FileName"]).name
        if name in seen:
            first = rows[seen[name]]
            raise ConfigError(
                f"lists {shown(name, 60)} twice (data rows {seen[name] + 1} and {k + 1}: class {shown(first['EmoClass'], 10)} and "
                f"{shown(r['EmoClass'], 10)}, Split_Set {shown(first.get('Split_Set', ''), 20)} and {shown(r.get('Split_Set', ''), 20)}).",
                source=str(labels), fix="use the labels file of one MSP-Podcast release as distributed: a file merged from two "
                                        "releases or edited by hand lists a segment twice.")
        seen[name] = k


def _dimensions(row: dict, off_scale: list[str]) -> dict[str, float]:
    """The consensus dimensions of a row (``act``, ``val``, ``dom``): means of 1–7 ratings, so within [1, 7].  A value
    off that scale, or not a number (``abc``, ``nan``, ``inf``), is left out and named in ``off_scale``."""
    dims = {}
    for dim, col in (("act", "EmoAct"), ("val", "EmoVal"), ("dom", "EmoDom")):
        raw = (row.get(col) or "").strip()
        if raw == "":
            continue
        value = as_float(raw)
        if 1.0 <= value <= 7.0:  # NaN fails too
            dims[dim] = value
        else:
            off_scale.append(f"{row['FileName']} {col}={shown(raw, 20)}")
    return dims


def split_note(items: list[Item]) -> str:
    """The items of each ``Split_Set`` value, and the role ``--scheme split`` gives it."""
    counts: dict[str, int] = {}
    for it in items:
        counts[it.split] = counts.get(it.split, 0) + 1
    if set(counts) == {""}:
        return ("the consensus file has no Split_Set and no Partitions.txt is beside it (releases 1.0–1.5 give the partitions "
                "there): the manifest's split is empty; put the release's Partitions.txt in the folder given, or use --scheme "
                "speaker to probe it.")
    roles = {"train": "train", "dev": "held out (validation)", "test": "a test set", "": "no role: left out of --scheme split"}
    return ("split = Split_Set: " + ", ".join(f"{v or '(empty)'} {n} ({roles[split_role(v)]})" for v, n in sorted(counts.items()))
            + "; `probe`/`finetune --scheme split` train on Train and test on each test set on its own.")


#: ``labels_detailed.csv`` from 1.7 on packs each rating in one ``EmoDetail`` cell:
#: ``WORKER00012; Angry; Sad,Frustrated; A:3.0; V:2.0; D:4.0;`` (worker, primary class, secondary classes, attributes).
#: The secondary field may be empty (``Angry; ; A:…``) or left out altogether (``Angry; A:…``): both forms are read
#: (a parser of the 1.7–1.11 cells allows the empty one; one of a later release's says the field "is absent on some rows")
_EMO_DETAIL = re.compile(r"^\s*(?P<worker>[^;]*);\s*(?P<primary>[^;]*);(?:\s*(?P<secondary>(?:(?!A:).)*?);)?\s*A:\s*(?P<act>[^;]*);"
                         r"\s*V:\s*(?P<val>[^;]*);\s*D:\s*(?P<dom>[^;]*);?\s*$")


def _primary(name: str) -> str:
    """A rater's primary class as the vote table knows it: ``Other`` with the rater's own word after it
    (``Other-Concerned``) is Other."""
    name = name.strip()
    return "Other" if re.match(r"(?i)other\b", name) else name


def _ratings(p: Path) -> list[tuple[str, str, dict[str, str]]]:
    """``(file stem, primary class, {"act"|"val"|"dom": value})`` per row of ``labels_detailed.csv``, in either of the
    releases' forms: columns ``EmoClass_Major`` (``EmoClass`` in older releases) and ``EmoAct``/``EmoVal``/``EmoDom``
    (1.6, 2.0), or one ``EmoDetail`` cell per rating (from 1.7; its secondary field empty or left out).  A cell not in
    that form is refused with its line.  ``labels_detailed.json`` (the releases ship it too) by :func:`_json_ratings`."""
    if p.suffix.lower() == ".json":
        return _json_ratings(p)
    header, rows = csv_rows(p, ("FileName",))
    if "EmoDetail" in header:
        out = []
        for n, r in enumerate(rows, 2):
            m = _EMO_DETAIL.match(r["EmoDetail"])
            if m is None:
                raise ConfigError(f"line {n}: EmoDetail {shown(r['EmoDetail'], 80)} is not 'WORKER; primary; secondary; A:x; V:y; D:z;'.",
                                  source=str(p), fix="pass Labels/labels_detailed.csv as distributed.")
            out.append((Path(r["FileName"]).stem, _primary(m["primary"]), {"act": m["act"], "val": m["val"], "dom": m["dom"]}))
        return out
    cls_col = "EmoClass_Major" if "EmoClass_Major" in header else "EmoClass" if "EmoClass" in header else None
    if cls_col is None:
        raise ConfigError(f"has neither EmoClass_Major, EmoClass nor EmoDetail; its header is {header}.", source=str(p),
                          fix="pass Labels/labels_detailed.csv as distributed.")
    return [(Path(r["FileName"]).stem, _primary(r[cls_col]), {d: r[f"Emo{d.title()}"] for d in ("act", "val", "dom") if f"Emo{d.title()}" in r})
            for r in rows]


def read_labels(detailed: str | os.PathLike, *, consensus: str | os.PathLike | None = None) -> ReadReport:
    """MSP-Podcast ``Labels/labels_detailed.csv`` (one row per rater) and, optionally, ``labels_consensus.csv``; either
    may be the release's ``.json`` form of the same table.

    Detailed rows (:func:`_ratings`): ``FileName`` (``MSP-PODCAST_0001_0008.wav``),
    the rater's primary class in ``EmoClass_Major`` (or ``EmoClass`` in older releases,
    or the second field of ``EmoDetail`` from 1.7; long names *Angry, Sad,
    Happy, Surprise, Fear, Disgust, Contempt, Neutral, Other*) and the ratings
    ``EmoAct``/``EmoVal``/``EmoDom`` (``A:``/``V:``/``D:`` in ``EmoDetail``; 1–7;
    means kept as ``msp_act_mean`` …).  *Contempt* has no counterpart (``votes_unmapped``).
    The consensus file's ``EmoClass`` letter (``X`` = no agreement) and its
    dimensions are kept as ``msp_consensus_*``.
    """
    p = corpus_file(detailed, "labels_detailed.csv")
    report, off_scale = ReadReport({}, str(p)), []
    by_file: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for name, primary, dims in _ratings(p):
        by_file.setdefault(name, []).append((primary, dims))
    for name, rs in by_file.items():
        counts, unmapped, raw_max = vote([primary for primary, _ in rs], VOTE_CLASSES, report)
        rec = record_from_counts(counts, unmapped=unmapped, raw_max=raw_max)
        for dim in ("act", "val", "dom"):
            xs = [_on_scale(dims.get(dim), f"{name} Emo{dim.title()}", off_scale) for _, dims in rs]
            xs = [x for x in xs if x == x]
            rec[f"msp_{dim}_mean"] = sum(xs) / len(xs) if xs else NAN
        report.records[name] = rec
    if consensus is not None:
        cp = corpus_file(consensus, "labels_consensus.csv")
        seen: dict[str, str] = {}  # segment -> the row's file name: two rows of one segment would silently keep the last
        for r in consensus_rows(cp):
            stem = Path(r["FileName"]).stem
            if stem in seen:
                raise ConfigError(f"names one segment twice, as {shown(seen[stem], 60)} and {shown(r['FileName'], 60)}: the "
                                  "second's consensus would silently replace the first's.", source=str(cp),
                                  fix="keep one row per segment, as the corpus's own file has.")
            seen[stem] = r["FileName"]
            rec = report.records.get(stem)
            if rec is None:
                continue
            rec["msp_consensus_class"] = r["EmoClass"]
            for col in ("EmoAct", "EmoVal", "EmoDom"):
                if col in r:
                    rec[f"msp_consensus_{col[3:].lower()}"] = _on_scale(r[col], f"{r['FileName']} {col} (consensus)", off_scale)
    if off_scale:
        report.notes.append(f"{len(off_scale)} rating(s) off the corpus's 1–7 scale (or not numbers) were left out of the means "
                            f"(first: {'; '.join(off_scale[:5])})")
    return report


def _on_scale(raw: object, where: str, off_scale: list[str]) -> float:
    """A rating on the corpus's 1–7 scale as a float; NaN for an empty cell, and for a value off the scale or no number
    (``1e308`` made a file's ``msp_act_mean`` 5e307, ``inf`` an infinite one), named in ``off_scale``."""
    value = as_float(raw)
    if value == value and 1.0 <= value <= 7.0 or raw is None or not str(raw).strip():
        return value
    off_scale.append(f"{where}={shown(str(raw), 20)}")
    return NAN


#: the listener files this module reads: format name → (reader, its options, what the file is)
VOTE_FORMATS = {"msp-podcast": (read_labels, {"consensus"}, "MSP-Podcast Labels/labels_detailed.csv or .json")}
