"""Hugging Face ``datasets`` as input: a saved dataset, an audiofolder or a hub id → a manifest.

``import_hf(source, out)`` reads

* a folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk``
  (read with ``datasets.load_from_disk``);
* an *audiofolder*: audio files with ``metadata.csv`` / ``metadata.jsonl`` /
  ``metadata.parquet`` (a ``file_name`` column relative to the metadata file's
  folder), or, without metadata, labels from the audio files' folder names;
  ``train/``, ``test/``, ``validation/`` … folders become the split;
* a hub id (``user/name``), where the network allows (``load_dataset``);

and writes a manifest (:func:`workbench.data.manifest.write_manifest`).

The audio column is always read with ``Audio(decode=False)``: the workbench
never lets ``datasets`` decode audio (its decoder needs torchcodec and would
decide the resampling); it takes the stored bytes, writes them under the
manifest's folder as ``<manifest stem>_audio/<sha256>.<ext>`` (the name comes
from the content's hash and the extension from its magic bytes, never from a
dataset value), or references a file that already exists on disk.  The
workbench's own intake (:mod:`workbench.audio.intake`) decodes them in a run.

Labels go through the same tables as the corpus loaders
(:data:`workbench.data.corpora.LABEL_MAPS`, :data:`~workbench.data.corpora.GENERIC_LABELS`):
``label`` keeps the dataset's own label (a ``ClassLabel``'s name, not its
integer), ``emotion`` gets the emotion2vec+ key, or stays empty when the label
has no counterpart.  ``label_map`` is a corpus name (``"ravdess"``), a JSON
file ``{label: emotion}``, inline ``"hap=happy,exc=happy"`` or a dict.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from workbench import files
from workbench.data.corpora import GENERIC_LABELS, LABEL_MAPS, map_label
from workbench.data.corpora.common import LFS_FIX, lfs_pointers
from workbench.errors import CONTROL_CHARACTERS, ConfigError
from workbench.labels import LABEL_KEYS
from workbench.data.manifest import Item, LABEL_MAP_META, Manifest, jsonl_objects, write_manifest
from workbench.data.manifest_columns import parquet_records, speaker_text
from workbench.data.votes import csv_rows
from workbench.data.parquet_check import check_parquet
from workbench.model.hub import hub_unreachable
from workbench.serialize import TABLE_MAX_BYTES, TABLE_MAX_ROWS, load_json_file, read_bytes_capped, read_text_capped, shown

if TYPE_CHECKING:
    import datasets

logger = logging.getLogger(__name__)

#: columns tried, in order, when no column is named
LABEL_COLUMNS = ("emotion", "label", "labels", "emotion_label", "emo", "major_emotion", "class")
ID_COLUMNS = ("id", "key", "utterance_id", "utt_id", "file_id")
TEXT_COLUMNS = ("text", "transcription", "transcript", "sentence", "normalized_text")
SPEAKER_COLUMNS = ("speaker", "speaker_id", "client_id", "actor")
GENDER_COLUMNS = ("gender", "sex")
SPLIT_NAMES = ("train", "test", "validation", "valid", "dev", "eval", "evaluation")
METADATA_NAMES = ("metadata.csv", "metadata.jsonl", "metadata.parquet")
AUDIO_EXTENSIONS = {".wav", ".flac", ".ogg", ".opus", ".mp3", ".m4a", ".aac", ".aiff", ".aif", ".au", ".caf", ".w64", ".rf64", ".webm", ".mp4"}

# magic bytes → extension of a written file (anything else is stored as .audio; the intake sniffs the content)
_MAGIC = ((b"RIFF", ".wav"), (b"RF64", ".wav"), (b"fLaC", ".flac"), (b"OggS", ".ogg"), (b"ID3", ".mp3"),
          (b"\xff\xfb", ".mp3"), (b"\xff\xf3", ".mp3"), (b"\xff\xf2", ".mp3"), (b"FORM", ".aiff"), (b"\x1a\x45\xdf\xa3", ".webm"))


@dataclass
class HFImport:
    """What :func:`import_hf` did: the manifest, where it went, and what it left out."""

    manifest: Manifest
    path: Path
    written: int = 0  # audio files written from the dataset's bytes
    referenced: int = 0  # items that point at files already on disk
    skipped: list[str] = field(default_factory=list)  # "<split>[<index>]: reason"
    label_column: str | None = None
    audio_column: str = "audio"

    def summary(self) -> str:
        mapped = sum(1 for it in self.manifest.items if it.emotion)
        parts = [f"{len(self.manifest)} items ({self.written} audio files written, {self.referenced} referenced)",
                 f"{mapped} with an emotion2vec+ counterpart, {len(self.manifest) - mapped} without"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped (e.g. {self.skipped[0]})")
        return "; ".join(parts)


def import_hf(
    source: "str | os.PathLike | datasets.Dataset | datasets.DatasetDict",
    out: str | os.PathLike,
    *,
    split: str | None = None,
    label_column: str | None = None,
    label_map: str | Mapping[str, str] | None = None,
    audio_column: str | None = None,
    id_column: str | None = None,
    revision: str | None = None,
) -> HFImport:
    """Read a Hugging Face dataset and write a manifest ``out`` (.csv, .jsonl or .parquet).

    Parameters
    ----------
    source : path, str, ``datasets.Dataset`` or ``DatasetDict``
        A ``save_to_disk`` folder, an audiofolder, a hub id, or a dataset in memory.
    out : path
        The manifest file.  Audio bytes go to ``<out folder>/<out stem>_audio/``.
    split : str, optional
        One split of a dataset with several (default: all, each item keeping its split).
    label_column : str, optional
        Default: the first of :data:`LABEL_COLUMNS` the dataset has (none: unlabelled items).
    label_map : str or mapping, optional
        Corpus table name, JSON file, ``"a=b,c=d"`` or a dict; labels it does not list
        go through the generic English names.
    audio_column, id_column : str, optional
        Default: the dataset's ``Audio`` column; an id column of :data:`ID_COLUMNS`
        (none: ``<split>-<index>``).

    Raises
    ------
    ConfigError
        Unknown source, split or column; a label map that is not valid.
    """
    out = Path(out)
    shown = str(source) if isinstance(source, (str, os.PathLike)) else "<in-memory dataset>"
    corpus, custom = label_table(label_map)
    splits, features = _load(source, split=split, revision=revision)
    columns = list(features)
    audio_col = _audio_column(features, audio_column, shown)
    label_col = _pick(columns, label_column, LABEL_COLUMNS, "label", shown)
    id_col = _pick(columns, id_column, ID_COLUMNS, "id", shown)
    text_col = _pick(columns, None, TEXT_COLUMNS, "text", shown)
    speaker_col = _pick(columns, None, SPEAKER_COLUMNS, "speaker", shown)
    gender_col = _pick(columns, None, GENDER_COLUMNS, "gender", shown)
    names = _class_names(features.get(label_col)) if label_col else None
    if custom:
        _check_map_keys(custom, splits, label_col, names, shown)
    audio_dir = out.parent / f"{out.stem}_audio"
    result = HFImport(Manifest([], root=out.parent.resolve(), name=out.stem), out, label_column=label_col, audio_column=audio_col)
    used = {audio_col, label_col, id_col, text_col, speaker_col, gender_col}
    seen: dict[str, str] = {}
    for split_name, rows in splits.items():
        for index, row in enumerate(rows):
            where = f"{split_name or 'data'}[{index}]"
            path = _audio_path(row.get(audio_col), audio_dir, out.parent, result, where)
            if path is None:
                continue
            label = _row_label(row, label_col, names, audio_col, f"{shown}, {where}") if label_col else ""
            item_id = str(row[id_col]) if id_col and row.get(id_col) not in (None, "") else f"{split_name or 'data'}-{index:06d}"
            if item_id in seen:
                raise ConfigError(f"id {item_id!r} occurs twice ({seen[item_id]} and {where}).", source=shown,
                                  fix="pass --id-column with a column whose values are unique, or leave ids to the importer.")
            seen[item_id] = where
            meta = {k: v for k, v in row.items() if k not in used and (_scalar(v) or _rater_labels(k, v))}
            meta["hf"] = {"source": shown, "split": split_name, "index": index}
            result.manifest.items.append(Item(
                id=item_id, path=path, label=label, emotion=emotion_for(label, corpus, custom) if label else "",
                text=_text(row.get(text_col)), speaker=speaker_text(row.get(speaker_col)), gender=_gender(row.get(gender_col)),
                split=split_name, meta=with_label_map(meta, label, custom),
            ))
    if not result.manifest.items:
        raise ConfigError(f"no usable audio in the dataset ({len(result.skipped)} rows skipped"
                          + (f", e.g. {result.skipped[0]}" if result.skipped else "") + ").",
                          source=shown, fix=f"check that the {audio_col!r} column holds audio bytes or existing files.")
    for s in result.skipped[:5]:
        logger.warning("%s: skipped %s", shown, s)
    write_manifest(result.manifest, out)
    return result


# ---------------------------------------------------------------------------
# sources
# ---------------------------------------------------------------------------
def _load(source, *, split, revision) -> tuple[dict[str, Any], dict]:
    """``({split: rows}, features)``; rows iterate as dicts with the audio column undecoded."""
    if not isinstance(source, (str, os.PathLike)):
        hf = _datasets()
        if isinstance(source, (hf.Dataset, hf.DatasetDict)):
            return _from_hf(source, split, "<in-memory dataset>")
        raise ConfigError(f"cannot import a {type(source).__name__}.", source="source",
                          fix="pass a datasets.Dataset or DatasetDict, a save_to_disk folder, an audiofolder, or a hub id.")
    path = Path(str(source)).expanduser()
    if path.is_dir():
        if (path / "dataset_info.json").is_file() or (path / "dataset_dict.json").is_file() or (path / "state.json").is_file():
            return _from_hf(_datasets().load_from_disk(str(path)), split, source)
        return _audiofolder(path, split)
    if path.exists() or str(source).startswith((".", "/", "~")) or os.sep + os.sep in str(source):
        raise ConfigError("is not a dataset folder.", source=str(source),
                          fix="pass a folder written by save_to_disk, an audiofolder, or a hub id such as 'user/name'.")
    hf = _datasets()
    # no network: the local cache only, at once (huggingface_hub retried five times, 24 s of "Retrying in 8s" lines
    # on the screen, before the same refusal)
    unreachable = hub_unreachable("hf")
    try:
        with _hub_offline(hf, bool(unreachable)):
            loaded = hf.load_dataset(str(source), split=split, revision=revision)
    except Exception as exc:  # the hub, the network, the id: all say the same to the user
        where = f"; {unreachable}, so only the local cache was looked in" if unreachable else ""
        raise ConfigError(f"could not load {source!r} from the Hugging Face hub ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}{where}).",
                          source=str(source),
                          fix="check the id and the network (HF_DATASETS_OFFLINE must be unset), or save the dataset with "
                              "save_to_disk where it can be downloaded and pass that folder.") from None
    return _from_hf(loaded, None, source)


@contextlib.contextmanager
def _hub_offline(hf: Any, offline: bool) -> Iterator[None]:
    """``datasets`` and ``huggingface_hub`` in their offline mode inside the block when ``offline`` (both read it once,
    at import, from HF_HUB_OFFLINE); their settings are put back after it."""
    if not offline:
        yield
        return
    from huggingface_hub import constants

    kept = hf.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE
    hf.config.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hf.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE = kept


def _datasets():
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")  # nothing leaves the machine that the user did not ask for
    try:
        import datasets
    except ImportError:
        raise ConfigError("the Hugging Face 'datasets' package is not installed.", source="datasets",
                          fix="pip install 'workbench[hf]' (or pip install datasets).") from None
    datasets.utils.logging.set_verbosity_error()  # its log lines must not reach the screen
    datasets.disable_progress_bars()
    return datasets


def _from_hf(loaded, split, source) -> tuple[dict[str, Any], dict]:
    hf = _datasets()
    if isinstance(loaded, hf.DatasetDict):
        if split is not None:
            if split not in loaded:
                raise ConfigError(f"has no split {split!r}; it has {sorted(loaded)}.", source=str(source), fix="pass --split with one of them.")
            parts = {split: loaded[split]}
        else:
            parts = dict(loaded)
    else:
        own = str(loaded.split or "")
        if split is not None and split != own:
            raise ConfigError(f"has no split {split!r}; it is one dataset" + (f" (split {own!r})." if own else " without splits."),
                              source=str(source), fix="leave out --split.")
        parts = {own: loaded}
    features = dict(next(iter(parts.values())).features) if parts else {}
    audio_cols = [k for k, f in features.items() if isinstance(f, hf.Audio)]

    def undecoded(ds):
        for col in audio_cols:
            ds = ds.cast_column(col, hf.Audio(decode=False))
        return ds

    return {name: undecoded(ds) for name, ds in parts.items()}, features


def _audiofolder(root: Path, split: str | None) -> tuple[dict[str, list[dict]], dict]:
    """An audiofolder as ``datasets`` defines it, read without ``datasets``' audio encoder (it needs torchcodec)."""
    root = root.resolve()
    rows: dict[str, list[dict]] = {}
    metadata = sorted(p for name in METADATA_NAMES for p in root.rglob(name))
    columns: dict[str, None] = {"audio": None}
    if metadata:
        for meta_file in metadata:
            for at, record in _read_metadata(meta_file):
                rel = record.pop("file_name", None)
                if rel is None:
                    raise ConfigError("has no 'file_name' column.", source=str(meta_file),
                                      fix="name the column with the audio file names 'file_name' (paths relative to this file's folder).")
                target = _inside(meta_file.parent, str(rel), meta_file)
                columns.update(dict.fromkeys(record))
                audio = {"bytes": None, "path": str(target), "origin": f"{meta_file}, {at}"}  # where a refusal points
                rows.setdefault(_split_of(target, root), []).append({"audio": audio, **record})
    else:
        # hidden files and folders are not data, as `datasets` resolves an audiofolder's files (the AppleDouble
        # ._a1.wav beside each file of a Mac-made archive became an item labelled by its folder)
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(root).parts))
        parents = {p.parent for p in files}
        by_folder = any(parent != root and parent.name.lower() not in SPLIT_NAMES for parent in parents)
        for p in files:
            row: dict[str, Any] = {"audio": {"bytes": None, "path": str(p), "origin": f"{p.parent} (a folder name as label)"}}
            if by_folder:
                row["label"] = "" if p.parent == root or p.parent.name.lower() in SPLIT_NAMES else p.parent.name
                columns["label"] = None
            rows.setdefault(_split_of(p, root), []).append(row)
    if not rows:
        raise ConfigError("holds no audio files and no metadata.csv/metadata.jsonl/metadata.parquet.", source=str(root),
                          fix="pass a save_to_disk folder, or an audiofolder (audio files, optionally with metadata.csv).")
    if split is not None:
        if split not in rows:
            raise ConfigError(f"has no split {split!r}; it has {sorted(rows)}.", source=str(root), fix="pass --split with one of them.")
        rows = {split: rows[split]}
    return rows, dict(columns)


def _read_metadata(path: Path) -> Iterator[tuple[str, dict]]:
    """The rows of an audiofolder's metadata file, read as every table others wrote is read (bounded, UTF-8, a FIFO or
    device refused, a JSON line that is no object named by its line): ``csv.DictReader`` on the open file ended a
    Latin-1 metadata.csv in 'unexpected UnicodeDecodeError', a JSON line ``[1, 2]`` in 'unexpected TypeError', and a
    FIFO named metadata.csv waited for ever."""
    if path.suffix == ".csv":
        for n, record in enumerate(csv_rows(path, ("file_name",))[1], 1):
            yield f"row {n} after the header", record
    elif path.suffix == ".jsonl":
        text = read_text_capped(path, encoding="utf-8-sig", what="an audiofolder metadata file")
        for n, record in jsonl_objects(path, text, fix='write one object per line, e.g. {"file_name": "a.wav", "label": "happy"}.'):
            yield f"line {n}", record
    else:
        import io

        data = read_bytes_capped(path, what="an audiofolder metadata file", decompress=False)
        check_parquet(io.BytesIO(data), max_bytes=TABLE_MAX_BYTES, max_rows=TABLE_MAX_ROWS, name=str(path), what="an audiofolder metadata file")
        try:
            records = parquet_records(io.BytesIO(data))  # an int column with an empty cell kept whole
        except Exception as exc:  # pyarrow raises its own types for a file that is no parquet
            raise ConfigError(f"cannot be read as parquet ({type(exc).__name__}: {shown(str(exc), 200)}).", source=str(path),
                              fix="write metadata.parquet with pandas or pyarrow, or use metadata.csv.") from None
        for n, record in enumerate(records, 1):
            yield f"row {n}", record


def _inside(folder: Path, rel: str, meta_file: Path) -> Path:
    """``folder / rel``, refusing names that leave ``folder`` (absolute, ``..``, URLs)."""
    norm = os.path.normpath(rel).replace("\\", "/")
    if "://" in rel or os.path.isabs(rel) or norm == ".." or norm.startswith("../"):
        raise ConfigError(f"file_name {rel!r} points outside the metadata file's folder.", source=str(meta_file),
                          fix="give file names relative to the folder that holds the metadata file.")
    return folder / norm


def _split_of(path: Path, root: Path) -> str:
    first = path.relative_to(root).parts[0] if len(path.relative_to(root).parts) > 1 else ""
    return first if first.lower() in SPLIT_NAMES else ""


# ---------------------------------------------------------------------------
# columns and labels
# ---------------------------------------------------------------------------
def _audio_column(features: dict, wanted: str | None, source) -> str:
    if wanted is not None:
        if wanted not in features:
            raise ConfigError(f"has no column {wanted!r}; it has {list(features)}.", source=str(source), fix="pass --audio-column with one of them.")
        return wanted
    for name, feature in features.items():
        if type(feature).__name__ == "Audio":
            return name
    if "audio" in features:
        return "audio"
    raise ConfigError(f"has no Audio column; its columns are {list(features)}.", source=str(source),
                      fix="pass --audio-column with the column that holds the audio.")


def _pick(columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str, source) -> str | None:
    if wanted is not None:
        if wanted not in columns:
            raise ConfigError(f"has no {what} column {wanted!r}; it has {columns}.", source=str(source),
                              fix=f"pass --{what}-column with one of them.")
        return wanted
    lower = {c.lower(): c for c in columns}
    return next((lower[c] for c in candidates if c in lower), None)


def _class_names(feature) -> list[str] | None:
    names = getattr(feature, "names", None)
    return list(names) if names else None


def _row_label(row: dict, column: str, names: list[str] | None, audio_col: str, where: str) -> str:
    """The row's label, refused when it holds a control character: named by its audiofolder metadata file and row
    (the ``origin`` :func:`_audiofolder` puts beside the audio path) or by ``where``."""
    audio = row.get(audio_col)
    label = _label_text(row.get(column), names)
    check_label(label, (audio.get("origin") if isinstance(audio, dict) else None) or where, column)
    return label


def _label_text(value, names: list[str] | None) -> str:
    if value is None or value == "" or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, (list, tuple)):
        raise ConfigError(f"the label column holds lists ({value!r}); one label per item is needed.",
                          fix="pass --label-column with a single-label column.")
    if names is not None and isinstance(value, int) and not isinstance(value, bool):
        return names[value] if 0 <= value < len(names) else ""  # ClassLabel: -1 means no label
    return str(value)


def check_label(label: str, where: str, column: str | None) -> None:
    """Refuse a label holding a control character (NUL, escape, a line break, a right-to-left override): ``hap\\x00py``
    was written to the manifest as a class of its own, and a label is printed on screen, in logs and in reports."""
    bad = CONTROL_CHARACTERS.search(label)
    if bad:
        raise ConfigError(f"the label {label!r} (column {column!r}) holds the control character {bad.group()!r} at "
                          f"position {bad.start() + 1}.", source=where,
                          fix="take the character out of the label (a text editor that shows hidden characters finds it).")


def label_table(label_map) -> tuple[str, dict[str, str]]:
    """``(corpus, custom)`` from a label map: a corpus table key, or a {label: emotion key} dict checked against the nine keys.

    ``label_map`` is a corpus name of :data:`~workbench.data.corpora.LABEL_MAPS`, a JSON
    file, ``"a=b,c=d"``, a dict, or None.  Values may be generic names ("anger").
    """
    if label_map is None:
        return "", {}
    if isinstance(label_map, str):
        key = label_map.lower().replace("_", "-")
        if key in LABEL_MAPS:
            return key, {}
        p = Path(label_map).expanduser()
        if p.is_file():
            data = load_json_file(p, what="a label map")  # capped: a label map is a few kB
            if not isinstance(data, dict):
                raise ConfigError("label map must be a JSON object {label: emotion}.", source=str(p), fix="see datasets/README.md.")
            return "", _checked_map(data, str(p))
        if "=" in label_map:
            pairs = [part.split("=", 1) for part in label_map.split(",") if part.strip()]
            return "", _checked_map({k.strip(): v.strip() for k, v in pairs}, "--map")
        raise ConfigError(f"label map {label_map!r} is neither a corpus ({', '.join(LABEL_MAPS)}), a JSON file, nor 'label=emotion,…'.",
                          source="--map", fix="pass one of those.")
    return "", _checked_map(dict(label_map), "label_map")


def _checked_map(data: dict, where: str) -> dict[str, str]:
    out = {}
    for label, emotion in data.items():
        value = "" if emotion in (None, "") else GENERIC_LABELS.get(str(emotion).strip().lower(), str(emotion).strip().lower())
        if value and value not in LABEL_KEYS:
            raise ConfigError(f"label map sends {label!r} to {emotion!r}, which is not an emotion2vec+ class.", source=where,
                              fix=f"use one of {', '.join(LABEL_KEYS)}, or an empty value for 'no counterpart'.")
        out[str(label)] = value
    return out


def _check_map_keys(custom: dict, splits: dict, label_col: str | None, names: list[str] | None, source) -> None:
    if label_col is None:
        raise ConfigError("a label map was given but the dataset has no label column.", source=str(source),
                          fix="pass --label-column with the column that holds the labels.")
    present = {_label_text(row.get(label_col), names) for rows in splits.values() for row in _column(rows, label_col)}
    unknown = sorted(set(custom) - present)
    if unknown:
        raise ConfigError(f"the label map names labels the dataset does not have: {unknown}; its labels are {sorted(present - {''})}.",
                          source=str(source), fix="correct the map's keys (they are the dataset's own labels, e.g. ClassLabel names).")


def _column(rows, name: str):
    if hasattr(rows, "select_columns"):  # a datasets.Dataset: read one column, not the audio bytes
        return rows.select_columns([name])
    return rows


def with_label_map(meta: dict, label: str, custom: dict[str, str]) -> dict:
    """``meta`` naming the explicit map entry that set the row's emotion (``"label_map": "joy=surprised"``): a map may
    send a label against its own name on purpose, and reading the manifest says so instead of refusing the row."""
    if label in custom:
        meta[LABEL_MAP_META] = f"{label}={custom[label]}"
    return meta


def emotion_for(label: str, corpus: str, custom: dict[str, str]) -> str:
    """The emotion2vec+ key of ``label``: the custom map first, then the corpus table or the generic names."""
    if label in custom:
        return custom[label]
    return map_label(corpus, label)


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def _gender(value) -> str:
    v = _text(value).strip().lower()
    return {"m": "male", "f": "female", "man": "male", "woman": "female"}.get(v, v)


def _scalar(v) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def _rater_labels(column: str, v) -> bool:
    """A per-rater label list (``rater_labels``: a sequence of strings) is kept: workbench.data.listeners reads it as votes."""
    return column == "rater_labels" and isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v)


# ---------------------------------------------------------------------------
# audio
# ---------------------------------------------------------------------------
def _audio_path(value, audio_dir: Path, manifest_dir: Path, result: HFImport, where: str) -> str | None:
    """Manifest path of a row's audio: its bytes written under ``audio_dir``, or an existing file."""
    if not isinstance(value, dict):
        result.skipped.append(f"{where}: the audio cell is {type(value).__name__}, not {{bytes, path}}")
        return None
    data, path = value.get("bytes"), value.get("path")
    if data:
        target = store_audio_bytes(data, audio_dir)
        result.written += 1
        return os.path.relpath(target, manifest_dir)
    if path and Path(path).expanduser().is_file():
        if lfs_pointers(Path(path).expanduser().parent, [Path(path).name]):  # a dataset repository cloned without git-lfs
            result.skipped.append(f"{where}: {path} is a Git LFS pointer, not audio ({LFS_FIX})")
            return None
        result.referenced += 1
        return str(Path(path).expanduser().resolve())
    result.skipped.append(f"{where}: no audio bytes and no file at {path!r}" if path else f"{where}: no audio bytes and no path")
    return None


def store_audio_bytes(data: bytes, audio_dir: Path) -> Path:
    """Write ``data`` as ``audio_dir/<sha256[:32]><ext>`` (atomically; an identical file is kept) and return the path.

    The name comes from the content and the extension from its magic bytes: no value
    of a dataset decides where a file is written.
    """
    digest = hashlib.sha256(data).hexdigest()
    target = Path(audio_dir) / f"{digest[:32]}{_extension(data)}"
    if not (target.is_file() and target.stat().st_size == len(data)):
        files.write_bytes(target, data)  # atomic, never through a link
    return target


def _extension(data: bytes) -> str:
    for magic, ext in _MAGIC:
        if data.startswith(magic):
            return ext
    if data[4:8] == b"ftyp":
        return ".m4a"
    return ".audio"
