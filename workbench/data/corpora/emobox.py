"""EmoBox's metadata (``key, wav, emo, length, sample_rate, channel`` per JSON line, one file per fold and split)
as a manifest, its labels mapped through the corpus tables of :mod:`workbench.data.corpora.registry`."""

from __future__ import annotations

import codecs
import os
import re
from pathlib import Path, PurePath
from typing import Iterator

from workbench import serialize
from workbench.data.corpora.registry import CLASS_NAMES, corpus_key, LABEL_MAPS, map_label
from workbench.data.manifest import generic_emotion, GENERIC_LABELS, Item, jsonl_objects, Manifest
from workbench.errors import ConfigError
from workbench.serialize import load_json_file, open_regular, shown

# EmoBox spells its fold files both ways, sometimes side by side (data/emodb/fold_1/ holds emodb_test_fold_1.jsonl and
# emodb_test_fold1.jsonl); beside the folds, data/<dataset>/<dataset>.jsonl lists the whole corpus.
_FOLD_FILE = re.compile(r"^(?P<dataset>.+)_(?P<split>train|test|valid|dev)_fold_?(?P<fold>\d+)\.jsonl$")
_FIX = "pass EmoBox's metadata files unchanged (data/<dataset>/fold_<k>/<dataset>_<split>_fold_<k>.jsonl)."
_FOLD_NAMES = "<dataset>_<split>_fold_<k>.jsonl or <dataset>_<split>_fold<k>.jsonl (split: train, test, valid or dev)"


def metadata_lines(jf: Path) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of an EmoBox metadata file, read from the file one line at a time as JSON Lines ends
    them (at ``\n`` only: U+2028 or U+0085 inside a value is text), a UTF-8 byte-order mark dropped, capped as a
    manifest is (:data:`~workbench.serialize.TABLE_MAX_ROWS` lines, :data:`~workbench.serialize.TABLE_MAX_BYTES`).

    ``str.splitlines`` broke a line at U+2028, U+0085, form feeds and lone ``\r``, so a valid line was refused as
    'not valid JSON' and every later line was named by the wrong number."""
    read = 0
    with open_regular(jf, str(jf)) as f:  # a FIFO or device (or one swapped in) is named, never waited on
        for n in range(1, serialize.TABLE_MAX_ROWS + 2):
            raw = f.readline(serialize.TABLE_MAX_BYTES - read + 1)  # never more than the cap held, however long a line
            if not raw:
                return
            read += len(raw)
            if read > serialize.TABLE_MAX_BYTES or n > serialize.TABLE_MAX_ROWS:
                raise ConfigError(f"is over {serialize.TABLE_MAX_BYTES:,} bytes or {serialize.TABLE_MAX_ROWS:,} lines (at line {n:,}); "
                                  "an EmoBox metadata file holds one corpus fold.", source=str(jf), fix=_FIX)
            if n == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ConfigError(f"line {n} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}).",
                                  source=str(jf), fix=_FIX) from None
            yield n, line[:-1] if line.endswith("\n") else line


#: the classes EmoBox's own ``data/<dataset>/label_map.json`` files merge labels into that have no emotion2vec+
#: counterpart (EmoDB ``"boredem": "Boredom"``, RAVDESS ``"Calm"``, MSP-Podcast ``"C": "Contempt"``, ``"X": "No-agreement"``,
#: and the other corpora's), lower-cased, spaces dropped: such a file passed as ``label_map`` maps them to none.  The
#: corpora the workbench reads give theirs from their own tables (boredom, calm, contempt …); the rest are EmoBox's.
EMOBOX_CLASSES_WITHOUT_COUNTERPART = frozenset(
    {CLASS_NAMES[corpus][code] for corpus, table in LABEL_MAPS.items() if corpus in CLASS_NAMES
     for code, key in table.items() if not key and CLASS_NAMES[corpus].get(code)}
    | {"amused", "anxious", "apologetic", "assertive", "concerned", "encouraging", "enthusiastic", "no-agreement", "poker",
       "sarcastic", "sleepy", "worried", "breath", "disappointment,disapproval", "pain,groan", "pleasure"})


def _label_map(label_map: str | os.PathLike) -> dict[str, str]:
    """A label map file: EmoBox label → one of the nine keys, a common name ("anger"), "" for none, or one of EmoBox's
    own class names (its ``label_map.json`` as distributed: ``"exc": "Happy"``, ``"boredem": "Boredom"``).  A value
    that is none of these is refused with the valid ones."""
    lm = Path(label_map)
    if not lm.is_file():
        raise ConfigError("label map file not found.", source=str(lm), fix="pass a JSON file {emobox label: emotion}.")
    custom = load_json_file(lm, what="a label map")  # capped: a label map is a few kB
    if not isinstance(custom, dict):
        raise ConfigError("label map must be a JSON object {label: emotion}.", source=str(label_map), fix="see datasets/README.md.")
    unknown = sorted(f"{k!r}: {v!r}" for k, v in custom.items() if v and not generic_emotion(str(v))
                     and "".join(str(v).lower().split()) not in EMOBOX_CLASSES_WITHOUT_COUNTERPART)
    if unknown:
        raise ConfigError(
            f"label map gives values that are not emotions: {', '.join(unknown[:10])}; "
            f"expected one of {', '.join(sorted(set(GENERIC_LABELS.values())))} (or a common name such as 'anger'), or one of "
            f"EmoBox's classes without a counterpart ({', '.join(sorted(EMOBOX_CLASSES_WITHOUT_COUNTERPART))}).",
            source=str(label_map),
            fix="map each label to one of those keys, or to \"\" when it has no counterpart.",
        )
    return {str(k): str(v) for k, v in custom.items()}


def import_emobox(jsonl_files: list[str | os.PathLike], *, root: str | os.PathLike, label_map: str | os.PathLike | None = None) -> Manifest:
    """Read EmoBox metadata (``key, wav, emo, length, sample_rate, channel``).

    Fold files ``<dataset>_{train,test,valid,dev}_fold_<k>.jsonl`` (EmoBox also writes ``…_fold<k>.jsonl``) give
    ``split`` and ``meta.folds``; EmoBox splits most corpora by speaker, but not EmoDB, CREMA-D or TESS (a note says
    so: :data:`SPEAKER_DEPENDENT_FOLDS`).  Any other file name (the whole-corpus
    ``<dataset>.jsonl``, a renamed fold) gives its items no split and no fold, and ``Manifest.notes`` says so.  ``wav`` paths are
    resolved against ``root``.  ``label_map`` (JSON: EmoBox label → one of the
    nine keys or a name such as "anger"; EmoBox's own ``label_map.json`` is read as it is, :func:`_label_map`)
    overrides the built-in tables.
    """
    root_p = Path(root).expanduser().resolve()
    custom = _label_map(label_map) if label_map else {}
    items: list[Item] = []
    seen: dict[str, Item] = {}
    where: dict[str, str] = {}  # the file and line that first listed each key
    notes: list[str] = []
    for jf in jsonl_files:
        jf = Path(jf)
        if not jf.exists():
            raise ConfigError("EmoBox metadata file not found.", source=str(jf), fix="pass the .jsonl files of EmoBox's data/<dataset>/ folder.")
        m = _FOLD_FILE.match(jf.name)
        if jf.suffix.lower() == ".json":  # EmoBox ships each fold twice: .json is one object {key: {wav, emo, …}} over many lines
            raise ConfigError("is EmoBox's .json form of a fold (one object over many lines); the reader takes the JSON-lines "
                              "form.", source=str(jf), fix=f"pass {jf.with_suffix('.jsonl').name}, beside it in the same folder.")
        if not m:
            notes.append(_no_fold_note(jf))
        for n, rec in jsonl_objects(jf, metadata_lines(jf), fix=_FIX):
            missing = [k for k in ("key", "wav", "emo") if k not in rec]
            if missing:
                raise ConfigError(f"line {n} lacks {', '.join(missing)} (it has {shown(', '.join(map(str, rec)), 120)}).",
                                  source=str(jf), fix="pass EmoBox metadata (key, wav, emo, length, sample_rate, channel per line).")
            dataset = rec.get("dataset") or (m.group("dataset") if m else "")
            emo_raw = str(rec["emo"])
            emotion = custom.get(emo_raw, "")
            emotion = generic_emotion(emotion) if emotion else ""
            if not emotion:
                emotion = _emotion(dataset, emo_raw)
            fold_key = f"{rec['key']}"
            if fold_key in seen and m:
                _listed_again(seen[fold_key], rec, m, where[fold_key], f"{jf}, line {n}")
                continue
            where[fold_key] = f"{jf}, line {n}"
            # the corpus's own name for the item (EmoBox's key is "<dataset>-" + it, CREMA-D's "_" written "-"): the
            # audio file's name, by which the corpus's listener files name it (votes.attach matches it)
            meta = {"corpus": dataset, "corpus_id": PurePath(str(rec["wav"]).replace("\\", "/")).stem,
                    "emobox": {k: rec[k] for k in ("length", "sample_rate", "channel") if k in rec}}
            if m:
                meta["folds"] = {m.group("fold"): m.group("split")}
            it = Item(
                id=str(rec["key"]), path=str(rec["wav"]), label=emo_raw, emotion=emotion,
                split=m.group("split") if m else "", meta=meta,
            )
            seen[fold_key] = it
            items.append(it)
    folds = {f for it in items for f in it.meta.get("folds", {})}
    if len(folds) > 1:  # an item is train in one fold and test in another: meta.folds says which
        for it in items:
            it.split = ""
    notes.extend(_speaker_dependent_notes(items))
    return Manifest(items, root=root_p, name="emobox", notes=notes)


#: EmoBox datasets (of the corpora the workbench reads) whose folds are not split by speaker: in its data/<dataset>/
#: fold files every test speaker is also a training speaker (EmoDB's 5 folds each hold all 10 speakers on both sides;
#: CREMA-D's one fold all 91 actors, TESS's one fold both speakers).  IEMOCAP (by session), RAVDESS (4 actors a fold),
#: CASIA (1 speaker a fold) and ESD (4 speakers a fold) are split by speaker.
SPEAKER_DEPENDENT_FOLDS = ("emodb", "cremad", "tess")


def _speaker_dependent_notes(items: list[Item]) -> list[str]:
    """A note for each dataset whose EmoBox folds share speakers between train and test (:data:`SPEAKER_DEPENDENT_FOLDS`):
    figures under them are not speaker-independent, as EmoBox's folds elsewhere are."""
    datasets = sorted({str(it.meta.get("corpus", "")).lower() for it in items if it.meta.get("folds")} & set(SPEAKER_DEPENDENT_FOLDS))
    return [f"EmoBox's {d} folds are not split by speaker: every test speaker of a fold is a training speaker too, so "
            f"`probe`/`finetune --scheme emobox` figures on {d} are speaker-dependent (not comparable with speaker-independent "
            "ones); use --scheme speaker for speaker-independent folds." for d in datasets]


def _listed_again(first: Item, rec: dict, m: re.Match, first_at: str, here: str) -> None:
    """A key listed again (in another fold's file): its fold recorded on the first item.  Refused when the record
    gives it another audio file or label, or puts it in two splits of one fold: the first record won silently, so a
    relabelled item kept its first label and an item in both train and test of one fold leaked into its own test."""
    key = shown(str(rec["key"]), 60)
    if str(rec["wav"]) != first.path or str(rec["emo"]) != first.label:
        raise ConfigError(f"lists {key} again with wav {shown(str(rec['wav']), 80)} and emo {shown(str(rec['emo']), 30)}; "
                          f"{first_at} gave it wav {shown(first.path, 80)} and emo {shown(first.label, 30)}.", source=here,
                          fix="pass EmoBox's metadata files of one release unchanged: each key is one recording with one label.")
    folds = first.meta.setdefault("folds", {})
    fold, split = m.group("fold"), m.group("split")
    if folds.get(fold, split) != split:
        raise ConfigError(f"puts {key} in the {split} split of fold {fold}, and an earlier file (the first: {first_at}) put "
                          f"it in the {folds[fold]} split of the same fold: the fold would test on an item it trained on.", source=here,
                          fix="pass EmoBox's fold files unchanged: within one fold a key is in one split.")
    folds[fold] = split


def _no_fold_note(jf: Path) -> str:
    """What a metadata file whose name is not a fold file's gives its items: no split, no fold (said, not silent)."""
    if jf.parent.name == jf.stem:  # data/<dataset>/<dataset>.jsonl
        return (f"{jf}: EmoBox's whole-corpus list, not a fold file: its items get no split and no fold "
                f"(`probe --scheme emobox` leaves them out); pass the fold files ({_FOLD_NAMES}) for EmoBox's folds.")
    return (f"{jf}: the name is not an EmoBox fold file's ({_FOLD_NAMES}): its items get no split and no fold "
            "(`probe --scheme emobox` leaves them out); pass the file under EmoBox's own name, or set split in the manifest.")


def _emotion(dataset: str, label: str) -> str:
    """The emotion2vec+ key of an EmoBox label: the corpus's own table when the label is one of its codes (IEMOCAP's
    ``exc``, CREMA-D's ``ANG``), else the common English names.  EmoBox writes most corpora's labels as words (EmoDB
    ``anger``, ``boredem``; RAVDESS ``Fearful``), not as the corpus's file-name codes (``W``, ``06``) that the
    corpus's table is keyed by: looking those words up in the table alone would leave every item without an emotion."""
    table = LABEL_MAPS.get(corpus_key(dataset))
    if table is not None and (label in table or label.lower() in table):
        return map_label(corpus_key(dataset), label)
    return map_label("", label)
