"""Corpus loaders: ``prepare_<corpus>(corpus_dir) -> Manifest``.

Each loader parses the corpus's own conventions from its files and folders as
distributed (file-name codes, folder names, IEMOCAP's EmoEvaluation files) and
maps its labels onto the nine emotion2vec+ classes through one explicit table
(``LABEL_MAPS``, documented in ``datasets/README.md``).  A label without a
counterpart (RAVDESS *calm*, EmoDB *boredom*, IEMOCAP *frustrated*) keeps its
corpus label in ``label`` and gets an empty ``emotion``; metrics report how
many items that excludes.

A wrong letter-to-emotion table silently poisons every number after it, so
the tables are data here, tested against the corpora's documentation.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from pathlib import Path
from dataclasses import replace
from typing import Callable, Sequence

from workbench.data.listeners import attach, find_emodb_erkennung, read_emodb_erkennung
from workbench.errors import ConfigError
from workbench.labels import LABEL_KEYS
from workbench.data.manifest import generic_emotion, GENERIC_LABELS, Item, jsonl_objects, Manifest

logger = logging.getLogger(__name__)

AUDIO_EXTS = {".wav", ".flac"}

#: corpus label codes → the class names the corpus's documentation gives (for display: a probe on the corpus's
#: own labels shows "boredom", not "L")
LABEL_NAMES: dict[str, dict[str, str]] = {
    "emodb": {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness", "N": "neutral"},
    "ravdess": {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fearful", "07": "disgust",
                "08": "surprised"},
}

#: corpus label → emotion2vec+ key ("" = no counterpart)
LABEL_MAPS: dict[str, dict[str, str]] = {
    # EmoDB: the 6th character of the file name (German initials)
    "emodb": {
        "W": "angry",  # Ärger (Wut)
        "L": "",  # Langeweile, boredom: no counterpart
        "E": "disgusted",  # Ekel
        "A": "fearful",  # Angst
        "F": "happy",  # Freude
        "T": "sad",  # Trauer
        "N": "neutral",
    },
    # RAVDESS: 3rd field of the file name
    "ravdess": {
        "01": "neutral",
        "02": "",  # calm: no counterpart
        "03": "happy",
        "04": "sad",
        "05": "angry",
        "06": "fearful",
        "07": "disgusted",
        "08": "surprised",
    },
    # CREMA-D: 3rd field of the file name
    "crema-d": {"ANG": "angry", "DIS": "disgusted", "FEA": "fearful", "HAP": "happy", "NEU": "neutral", "SAD": "sad"},
    # TESS: last field of the file name
    "tess": {
        "angry": "angry",
        "disgust": "disgusted",
        "fear": "fearful",
        "happy": "happy",
        "neutral": "neutral",
        "ps": "surprised",  # pleasant surprise
        "pleasant_surprise": "surprised",
        "pleasant_surprised": "surprised",
        "sad": "sad",
    },
    # IEMOCAP: categorical labels of the EmoEvaluation files
    "iemocap": {
        "neu": "neutral",
        "hap": "happy",
        "exc": "happy",  # excited merged into happy: the common 4-class convention
        "sad": "sad",
        "ang": "angry",
        "sur": "surprised",
        "fea": "fearful",
        "dis": "disgusted",
        "fru": "",  # frustrated: no counterpart
        "oth": "other",
        "xxx": "",  # no majority among the annotators
    },
    # ESD: emotion folder names
    "esd": {"angry": "angry", "happy": "happy", "neutral": "neutral", "sad": "sad", "surprise": "surprised"},
    # CASIA: emotion folder names
    "casia": {"angry": "angry", "fear": "fearful", "happy": "happy", "neutral": "neutral", "sad": "sad", "surprise": "surprised"},
}

#: corpus label → the class's readable name, for heads trained on the corpus's own classes (``workbench finetune``):
#: EmoDB's ``L`` is ``boredom``, not a file-name letter.  "" = not a class (IEMOCAP's ``xxx``: no majority).
#: A corpus not listed here (ESD, CASIA, folders) already labels in words: its label is the name.
CLASS_NAMES: dict[str, dict[str, str]] = {
    "emodb": {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness", "N": "neutral"},
    "ravdess": {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fearful", "07": "disgust",
                "08": "surprised"},
    "crema-d": {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"},
    "tess": {"angry": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy", "neutral": "neutral",
             "ps": "pleasant_surprise", "pleasant_surprise": "pleasant_surprise", "pleasant_surprised": "pleasant_surprise",
             "sad": "sad"},
    "iemocap": {"neu": "neutral", "hap": "happiness", "exc": "excited", "sad": "sadness", "ang": "anger", "sur": "surprise",
                "fea": "fear", "dis": "disgust", "fru": "frustration", "oth": "other", "xxx": ""},
}


def class_name(corpus: str, label: str) -> str:
    """The readable name of a corpus label (``class_name("emodb", "L") == "boredom"``); "" when it is no class.

    A corpus without a table (ESD, CASIA, a folder of labelled files) keeps its label, stripped.
    """
    table = CLASS_NAMES.get(str(corpus or "").lower())
    label = str(label or "").strip()
    if table is None:
        return label
    return table.get(label, table.get(label.lower(), ""))


def item_class(item: Item) -> str:
    """An item's class under the corpus's own labels, by name (its ``meta.corpus`` says which table)."""
    return class_name(str(item.meta.get("corpus", "")), item.label)


def for_labels(manifest: Manifest, labels: Sequence[str]) -> Manifest:
    """The manifest with each item's ``emotion`` set to its class in a model's label set.

    For the nine emotion2vec+ classes that is the loaders' mapping, unchanged.  For a head trained on a
    corpus's own classes (``workbench finetune``), it is the item's readable class name (:func:`item_class`)
    when the head has it, else "" (counted as "no counterpart", as for the nine) — so every reader
    (metrics, calibration, compare, listeners) scores the model against truth in its own labels.
    """
    labels = tuple(labels)
    if labels == LABEL_KEYS:
        return manifest
    known = set(labels)
    items = [replace(it, emotion=name if (name := item_class(it)) in known else "") for it in manifest]
    return replace(manifest, items=items)


EMODB_SPEAKERS = {  # speaker code: (gender, age), from the corpus documentation
    "03": ("male", 31), "08": ("female", 34), "09": ("female", 21), "10": ("male", 32), "11": ("male", 26),
    "12": ("male", 30), "13": ("female", 32), "14": ("female", 35), "15": ("male", 25), "16": ("female", 31),
}
EMODB_TEXTS = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}
RAVDESS_STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
CREMA_SENTENCES = {
    "IEO": "It's eleven o'clock", "TIE": "That is exactly what happened", "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about", "TAI": "The airplane is almost full", "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock", "ITH": "I think I have a doctor's appointment", "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before", "TSI": "The surface is slick", "WSI": "We'll stop in a couple of minutes",
}
CREMA_LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
TESS_SPEAKERS = {"OAF": ("female", 64), "YAF": ("female", 26)}


def map_label(corpus: str, label: str) -> str:
    """The emotion2vec+ key for a corpus label ("" when it has no counterpart)."""
    table = LABEL_MAPS.get(corpus)
    if table is None:
        return generic_emotion(label)
    return table.get(label, table.get(label.lower(), ""))


def _audio_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_EXTS and p.is_file())


def _rel(path: Path, root: Path) -> str:
    return os.path.relpath(path, root)


def _require_dir(corpus_dir: str | os.PathLike, corpus: str) -> Path:
    root = Path(corpus_dir).expanduser()
    if not root.is_dir():
        raise ConfigError(f"{corpus} corpus folder not found.", source=str(root), fix="pass the folder the corpus was unpacked into.")
    return root.resolve()


def _finish(items: list[Item], root: Path, corpus: str, skipped: list[str]) -> Manifest:
    if not items:
        raise ConfigError(
            f"no {corpus} audio files with the corpus's naming were found"
            + (f" ({len(skipped)} files did not match, e.g. {skipped[0]})" if skipped else "")
            + ".",
            source=str(root),
            fix=f"pass the top folder of the {corpus} distribution (see datasets/README.md for its layout).",
        )
    if skipped:
        logger.warning("%s: %d files do not follow the corpus's naming and were skipped (e.g. %s)", corpus, len(skipped), skipped[0])
    return Manifest(items, root=root, name=corpus)


# ---------------------------------------------------------------------------
def prepare_emodb(corpus_dir: str | os.PathLike) -> Manifest:
    """Berlin EmoDB: ``wav/03a01Fa.wav`` = speaker 03, text a01, emotion F, version a."""
    root = _require_dir(corpus_dir, "emodb")
    pat = re.compile(r"^(\d\d)([ab]\d\d)([WLEAFTN])([a-z])$")
    items, skipped = [], []
    for p in _audio_files(root):
        m = pat.match(p.stem)
        if not m or m.group(1) not in EMODB_SPEAKERS:
            skipped.append(_rel(p, root))
            continue
        spk, text, emo, version = m.groups()
        gender, age = EMODB_SPEAKERS[spk]
        items.append(Item(
            id=p.stem, path=_rel(p, root), label=emo, emotion=map_label("emodb", emo),
            text=EMODB_TEXTS.get(text, ""), speaker=spk, gender=gender,
            meta={"corpus": "emodb", "text_id": text, "version": version, "age": age},
        ))
    manifest = _finish(items, root, "emodb", skipped)
    perception = find_emodb_erkennung(root)
    if perception is None and root.name.lower() == "wav":  # pointed at wav/: the file lies beside it
        perception = next((c for c in (root.parent / "erkennung.txt", root.parent / "lablaut" / "erkennung.txt") if c.is_file()), None)
    if perception is not None:
        # the perception test lists every recording, more than the 535 released: attach() counts the rest
        report = read_emodb_erkennung(perception)
        attached = attach(manifest, report)
        logger.info("emodb: %s (%s)", attached.summary(), report.summary())
        manifest.notes.append(f"listener judgements from {perception}: {attached.summary()}")
    else:
        manifest.notes.append(f"no erkennung.txt (EmoDB's perception test) under {root}"
                              + (f" or beside it in {root.parent}" if root.name.lower() == "wav" else "")
                              + ": no listener judgements attached; pass the corpus's top folder, which holds it (or its lablaut/).")
    return manifest


def prepare_ravdess(corpus_dir: str | os.PathLike) -> Manifest:
    """RAVDESS: ``Actor_12/03-01-06-01-02-01-12.wav`` = modality-channel-emotion-intensity-statement-repetition-actor."""
    root = _require_dir(corpus_dir, "ravdess")
    pat = re.compile(r"^(0[123])-(0[12])-(0[1-8])-(0[12])-(0[12])-(0[12])-(\d\d)$")
    items, skipped = [], []
    for p in _audio_files(root):
        m = pat.match(p.stem)
        if not m:
            skipped.append(_rel(p, root))
            continue
        modality, channel, emo, intensity, statement, rep, actor = m.groups()
        items.append(Item(
            id=p.stem, path=_rel(p, root), label=emo, emotion=map_label("ravdess", emo),
            text=RAVDESS_STATEMENTS[statement], speaker=f"Actor_{actor}",
            gender="male" if int(actor) % 2 == 1 else "female",  # odd actors are male, even female
            meta={
                "corpus": "ravdess",
                "vocal_channel": "speech" if channel == "01" else "song",
                "intensity": "normal" if intensity == "01" else "strong",
                "statement": statement, "repetition": rep,
                "label_name": ["neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised"][int(emo) - 1],
            },
        ))
    return _finish(items, root, "ravdess", skipped)


def prepare_crema_d(corpus_dir: str | os.PathLike) -> Manifest:
    """CREMA-D: ``AudioWAV/1001_DFA_ANG_XX.wav`` = actor_sentence_emotion_level; sex from VideoDemographics.csv."""
    root = _require_dir(corpus_dir, "crema-d")
    demo: dict[str, dict] = {}
    for cand in root.rglob("VideoDemographics.csv"):
        with open(cand, newline="", encoding="utf-8-sig") as f:
            for row in csv.DictReader(f):
                demo[str(row.get("ActorID", "")).strip()] = row
        break
    pat = re.compile(r"^(\d{4})_([A-Z]{3})_(ANG|DIS|FEA|HAP|NEU|SAD)_(LO|MD|HI|XX|X)$")
    items, skipped = [], []
    for p in _audio_files(root):
        m = pat.match(p.stem)
        if not m:
            skipped.append(_rel(p, root))
            continue
        actor, sentence, emo, level = m.groups()
        row = demo.get(actor, {})
        sex = str(row.get("Sex", "")).strip().lower()
        meta = {"corpus": "crema-d", "sentence": sentence, "level": CREMA_LEVELS.get(level, "unspecified")}
        if row.get("Age"):
            meta["age"] = int(row["Age"])
        items.append(Item(
            id=p.stem, path=_rel(p, root), label=emo, emotion=map_label("crema-d", emo),
            text=CREMA_SENTENCES.get(sentence, ""), speaker=actor, gender=sex if sex in ("male", "female") else "",
            meta=meta,
        ))
    return _finish(items, root, "crema-d", skipped)


def prepare_tess(corpus_dir: str | os.PathLike) -> Manifest:
    """TESS: ``OAF_angry/OAF_back_angry.wav`` = speaker_word_emotion ("Say the word back")."""
    root = _require_dir(corpus_dir, "tess")
    pat = re.compile(r"^(OAF|YAF)_([A-Za-z]+)_(angry|disgust|fear|happy|neutral|ps|pleasant_surprised?|sad)$", re.IGNORECASE)
    items, skipped = [], []
    for p in _audio_files(root):
        m = pat.match(p.stem)
        if not m:
            skipped.append(_rel(p, root))
            continue
        spk, word, emo = m.group(1).upper(), m.group(2).lower(), m.group(3).lower()
        gender, age = TESS_SPEAKERS[spk]
        items.append(Item(
            id=p.stem, path=_rel(p, root), label=emo, emotion=map_label("tess", emo),
            text=f"Say the word {word}", speaker=spk, gender=gender,
            meta={"corpus": "tess", "word": word, "age": age},
        ))
    return _finish(items, root, "tess", skipped)


_IEMOCAP_EVAL = re.compile(r"^\[(\d+\.\d+)\s*-\s*(\d+\.\d+)\]\s+(Ses\d\d[FM]_\S+)\s+(\w+)\s+\[([^\]]*)\]")
_IEMOCAP_TRANS = re.compile(r"^(Ses\d\d[FM]_\S+)\s+\[[^\]]*\]:\s*(.*)$")


def prepare_iemocap(corpus_dir: str | os.PathLike) -> Manifest:
    """IEMOCAP: labels from ``SessionN/dialog/EmoEvaluation/*.txt``, audio in ``SessionN/sentences/wav/<dialog>/<utt>.wav``.

    Speaker = session + the gender letter of the utterance id's last part
    (``Ses01F_impro01_M013`` is spoken by the session-1 male actor, "Ses01M").
    Split = the session, for the usual leave-one-session-out folds.
    """
    root = _require_dir(corpus_dir, "iemocap")
    items, skipped = [], []
    sessions = sorted(p for p in root.iterdir() if p.is_dir() and re.match(r"Session\d$", p.name))
    for sess in sessions:
        texts: dict[str, str] = {}
        for tf in sorted((sess / "dialog" / "transcriptions").glob("*.txt")):
            for line in tf.read_text(encoding="utf-8", errors="replace").splitlines():
                m = _IEMOCAP_TRANS.match(line.strip())
                if m:
                    texts[m.group(1)] = m.group(2).strip()
        for ef in sorted((sess / "dialog" / "EmoEvaluation").glob("*.txt")):
            for line in ef.read_text(encoding="utf-8", errors="replace").splitlines():
                m = _IEMOCAP_EVAL.match(line.strip())
                if not m:
                    continue
                start, end, utt, emo, vad = m.groups()
                dialog = utt.rsplit("_", 1)[0]
                wav = sess / "sentences" / "wav" / dialog / f"{utt}.wav"
                if not wav.is_file():
                    skipped.append(str(wav.relative_to(root)))
                    continue
                speaker_letter = utt.rsplit("_", 1)[1][0]
                session_code = utt[:5]  # "Ses01"
                try:
                    v, a, d = (float(x) for x in vad.split(","))
                except ValueError:
                    v = a = d = None
                items.append(Item(
                    id=utt, path=_rel(wav, root), label=emo, emotion=map_label("iemocap", emo),
                    text=texts.get(utt, ""), speaker=f"{session_code}{speaker_letter}",
                    gender="female" if speaker_letter == "F" else "male", split=sess.name,
                    meta={"corpus": "iemocap", "dialog": dialog, "improvised": "impro" in dialog,
                          "valence": v, "activation": a, "dominance": d,
                          "dialog_start": float(start), "dialog_end": float(end)},
                ))
    return _finish(items, root, "iemocap", skipped)


def prepare_esd(corpus_dir: str | os.PathLike) -> Manifest:
    """ESD: ``0011/Angry/[train|evaluation|test/]0011_000351.wav``; text from ``0011/0011.txt``.

    Speakers 0001–0010 speak Mandarin, 0011–0020 English.
    """
    root = _require_dir(corpus_dir, "esd")
    pat = re.compile(r"^(\d{4})_(\d{6})$")
    texts: dict[str, str] = {}
    for tf in root.rglob("*.txt"):
        if not re.match(r"^\d{4}\.txt$", tf.name):
            continue
        raw = tf.read_bytes()
        for enc in ("utf-8", "utf-16", "gb18030"):
            try:
                content = raw.decode(enc)
                break
            except UnicodeDecodeError:
                continue
        else:
            continue
        for line in content.splitlines():
            parts = line.strip().split("\t")
            if len(parts) >= 2:
                texts[parts[0].strip()] = parts[1].strip()
    items, skipped = [], []
    for p in _audio_files(root):
        m = pat.match(p.stem)
        parent = p.parent.name
        split = parent.lower() if parent.lower() in ("train", "evaluation", "test") else ""
        emo_dir = p.parent.parent.name if split else parent
        if not m or emo_dir.lower() not in LABEL_MAPS["esd"]:
            skipped.append(_rel(p, root))
            continue
        spk = m.group(1)
        items.append(Item(
            id=p.stem, path=_rel(p, root), label=emo_dir, emotion=map_label("esd", emo_dir.lower()),
            text=texts.get(p.stem, ""), speaker=spk, split=split,
            meta={"corpus": "esd", "language": "zh" if int(spk) <= 10 else "en"},
        ))
    return _finish(items, root, "esd", skipped)


def prepare_casia(corpus_dir: str | os.PathLike) -> Manifest:
    """CASIA Chinese emotional speech: ``<speaker>/<emotion>/<n>.wav`` (4 speakers, 6 emotions)."""
    root = _require_dir(corpus_dir, "casia")
    items, skipped = [], []
    for p in _audio_files(root):
        emo = p.parent.name.lower()
        if emo not in LABEL_MAPS["casia"]:
            skipped.append(_rel(p, root))
            continue
        speaker = p.parent.parent.name
        items.append(Item(
            id=f"{speaker}_{emo}_{p.stem}", path=_rel(p, root), label=emo, emotion=map_label("casia", emo),
            speaker=speaker, meta={"corpus": "casia", "text_id": p.stem},
        ))
    return _finish(items, root, "casia", skipped)


#: what ``prepare_folder`` picks up: everything the decoder reads
FOLDER_AUDIO_EXTS = {".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".aac", ".mp4", ".webm", ".wma", ".amr", ".3gp", ".mka", ".caf"}


def prepare_folder(folder: str | os.PathLike, *, label_from_folder: bool = False) -> Manifest:
    """A manifest of every audio file under ``folder`` (sorted; hidden files and folders skipped).

    ``id`` is the file name without its extension, or the relative path
    without it when two files share a name.  With ``label_from_folder``,
    ``label`` is the name of the file's parent folder (``angry/a1.wav`` →
    ``angry``) and ``emotion`` its emotion2vec+ key when it is a common
    English emotion name ("" otherwise; the label stays visible).
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise ConfigError("folder not found." if not root.exists() else "is not a folder.", source=str(root),
                          fix="pass the folder that holds your audio files.")
    root = root.resolve()
    files, unusable = [], []
    for p in sorted(root.rglob("*")):
        if p.suffix.lower() not in FOLDER_AUDIO_EXTS or any(part.startswith(".") for part in p.relative_to(root).parts):
            continue
        if p.is_file():
            files.append(p)
        elif p.is_symlink() and not p.exists():
            unusable.append(f"{p.relative_to(root).as_posix()} (a broken link to {os.readlink(p)})")
        elif not p.is_dir():  # a FIFO, socket or device would block or mislead a decoder
            unusable.append(f"{p.relative_to(root).as_posix()} (not a regular file)")
    if not files:
        raise ConfigError(
            f"no audio files ({', '.join(sorted(FOLDER_AUDIO_EXTS))}) under this folder.",
            source=str(root), fix="pass the folder that holds your audio files (subfolders are searched too).",
        )
    def count(keys):
        counts: dict[str, int] = {}
        for k in keys:
            counts[k] = counts.get(k, 0) + 1
        return counts

    rels = [p.relative_to(root) for p in files]
    stems = count(p.stem for p in files)
    no_ext = count(r.with_suffix("").as_posix() for r in rels)
    items = []
    for p, rel in zip(files, rels):
        item_id = p.stem if stems[p.stem] == 1 else rel.with_suffix("").as_posix()
        if no_ext.get(item_id, 1) > 1:  # a.wav and a.flac side by side
            item_id = rel.as_posix()
        label = p.parent.name if label_from_folder and p.parent != root else ""
        items.append(Item(id=item_id, path=rel.as_posix(), label=label, emotion=generic_emotion(label) if label else ""))
    notes = [f"skipped {len(unusable)} name(s) with an audio extension that are not audio files: {', '.join(unusable[:10])}"
             f"{' …' if len(unusable) > 10 else ''}"] if unusable else []
    return Manifest(items, root=root, name=root.name, notes=notes)


PREPARERS: dict[str, Callable[[str | os.PathLike], Manifest]] = {
    "emodb": prepare_emodb,
    "ravdess": prepare_ravdess,
    "crema-d": prepare_crema_d,
    "tess": prepare_tess,
    "iemocap": prepare_iemocap,
    "esd": prepare_esd,
    "casia": prepare_casia,
}


def prepare(corpus: str, corpus_dir: str | os.PathLike) -> Manifest:
    key = corpus.lower().replace("_", "-")
    if key == "cremad":
        key = "crema-d"
    if key not in PREPARERS:
        raise ConfigError(f"unknown corpus {corpus!r}; known: {', '.join(PREPARERS)}.", fix="pick one of them, or use import-emobox.")
    return PREPARERS[key](corpus_dir)


# ---------------------------------------------------------------------------
# EmoBox
# ---------------------------------------------------------------------------
_FOLD_FILE = re.compile(r"^(?P<dataset>.+)_(?P<split>train|test|valid|dev)_fold_(?P<fold>\d+)\.jsonl$")


def import_emobox(jsonl_files: list[str | os.PathLike], *, root: str | os.PathLike, label_map: str | os.PathLike | None = None) -> Manifest:
    """Read EmoBox metadata (``key, wav, emo, length, sample_rate, channel``).

    Fold files ``<dataset>_{train,test}_fold_<k>.jsonl`` give ``split`` and
    ``meta.fold``; EmoBox's folds are speaker-independent.  ``wav`` paths are
    resolved against ``root``.  ``label_map`` (JSON: EmoBox label → one of the
    nine keys or a name such as "anger") overrides the built-in tables.
    """
    root_p = Path(root).expanduser().resolve()
    custom: dict[str, str] = {}
    if label_map:
        lm = Path(label_map)
        if not lm.is_file():
            raise ConfigError("label map file not found.", source=str(lm), fix="pass a JSON file {emobox label: emotion}.")
        try:
            custom = json.loads(lm.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"label map is not valid UTF-8 JSON ({exc}).", source=str(lm), fix="see datasets/README.md.") from None
        if not isinstance(custom, dict):
            raise ConfigError("label map must be a JSON object {label: emotion}.", source=str(label_map), fix="see datasets/README.md.")
        unknown = sorted(f"{k!r}: {v!r}" for k, v in custom.items() if v and not generic_emotion(str(v)))
        if unknown:
            raise ConfigError(
                f"label map gives values that are not emotions: {', '.join(unknown[:10])}; "
                f"expected one of {', '.join(sorted(set(GENERIC_LABELS.values())))} (or a common name such as 'anger').",
                source=str(label_map),
                fix="map each label to one of those keys, or to \"\" when it has no counterpart.",
            )
    items: list[Item] = []
    seen: dict[str, Item] = {}
    for jf in jsonl_files:
        jf = Path(jf)
        if not jf.is_file():
            raise ConfigError("EmoBox metadata file not found.", source=str(jf), fix="pass the .jsonl files of EmoBox's data/<dataset>/ folder.")
        m = _FOLD_FILE.match(jf.name)
        try:
            lines = jf.read_text(encoding="utf-8-sig").splitlines()
        except UnicodeDecodeError:
            raise ConfigError("is not UTF-8 text.", source=str(jf), fix="pass EmoBox's metadata files unchanged (they are UTF-8).") from None
        for n, rec in jsonl_objects(jf, "\n".join(lines), fix="pass EmoBox's metadata files unchanged."):
            missing = [k for k in ("key", "wav", "emo") if k not in rec]
            if missing:
                raise ConfigError(f"line {n} lacks {', '.join(missing)}.", source=str(jf), fix="pass EmoBox metadata (key, wav, emo, length …).")
            dataset = rec.get("dataset") or (m.group("dataset") if m else "")
            emo_raw = str(rec["emo"])
            emotion = custom.get(emo_raw, "")
            emotion = generic_emotion(emotion) if emotion else ""
            if not emotion:
                table_key = dataset.lower().replace("_", "-")
                emotion = map_label(table_key if table_key in LABEL_MAPS else "", emo_raw)
            fold_key = f"{rec['key']}"
            if fold_key in seen and m:
                seen[fold_key].meta.setdefault("folds", {})[m.group("fold")] = m.group("split")
                continue
            meta = {"corpus": dataset, "emobox": {k: rec[k] for k in ("length", "sample_rate", "channel") if k in rec}}
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
    return Manifest(items, root=root_p, name="emobox")
