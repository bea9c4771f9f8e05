"""TESS (Toronto Emotional Speech Set): the manifest reader, the label map and the file-name parser.

Two actresses (``OAF`` aged 64, ``YAF`` aged 26) say 200 target words in the carrier phrase "Say the word _"
with seven emotions; a file is ``OAF_angry/OAF_back_angry.wav`` = speaker_word_emotion, the emotion spelt
``angry disgust fear happy neutral ps sad`` (``ps`` = pleasant surprise; some redistributions spell it out).
One file of the distribution is misnamed ``OAF_neutral/OA_bite_neutral.wav`` (no F): it is OAF's, read as hers.
"""

from __future__ import annotations

import os
from pathlib import Path
import re
from dataclasses import dataclass

from workbench.data.corpora.common import manifest_from_names, rel, require_dir
from workbench.data.manifest import Item, Manifest

NAME = "tess"

#: the emotion field (last) → emotion2vec+ key
LABEL_MAP = {
    "angry": "angry",
    "disgust": "disgusted",
    "fear": "fearful",
    "happy": "happy",
    "neutral": "neutral",
    "ps": "surprised",  # pleasant surprise
    "pleasant_surprise": "surprised",
    "pleasant_surprised": "surprised",
    "sad": "sad",
}
#: the emotion field → the class's name
CLASS_NAMES = {"angry": "angry", "disgust": "disgust", "fear": "fear", "happy": "happy", "neutral": "neutral",
               "ps": "pleasant_surprise", "pleasant_surprise": "pleasant_surprise", "pleasant_surprised": "pleasant_surprise",
               "sad": "sad"}
SPEAKERS = {"OAF": ("female", 64), "YAF": ("female", 26)}

#: the one file of the distribution whose speaker field lacks its F: ``OAF_neutral/OA_bite_neutral.wav`` is OAF's
MISSPELT_SPEAKERS = {"OA": "OAF"}

_FILE_NAME = re.compile(r"^(OAF|YAF|OA)_([A-Za-z]+)_(angry|disgust|fear|happy|neutral|ps|pleasant_surprised?|sad)$", re.IGNORECASE)


@dataclass(frozen=True)
class FileName:
    """The three fields of a TESS file name (``OAF_back_angry``), speaker upper-cased, word and emotion lower-cased."""

    speaker: str
    word: str
    emotion: str  # a key of LABEL_MAP


def parse_name(stem: str) -> FileName | None:
    """The fields of a TESS file name without its extension; None when it does not follow the naming."""
    m = _FILE_NAME.match(stem)
    if not m:
        return None
    speaker = m.group(1).upper()
    return FileName(MISSPELT_SPEAKERS.get(speaker, speaker), m.group(2).lower(), m.group(3).lower())


def prepare(corpus_dir: str | os.PathLike) -> Manifest:
    """TESS: ``OAF_angry/OAF_back_angry.wav`` = speaker_word_emotion ("Say the word back")."""
    root = require_dir(corpus_dir, NAME)

    def item(p: Path, name: FileName) -> Item:
        gender, age = SPEAKERS[name.speaker]
        return Item(
            id=p.stem, path=rel(p, root), label=name.emotion, emotion=LABEL_MAP[name.emotion],
            text=f"Say the word {name.word}", speaker=name.speaker, gender=gender,
            meta={"corpus": NAME, "word": name.word, "age": age},
        )

    manifest = manifest_from_names(root, NAME, parse_name, item)
    apart = folder_disagreements(list(manifest))
    if apart:
        manifest.notes.append(
            f"{len(apart)} file(s) lie in a folder whose speaker or emotion is not the one their name gives; the manifest "
            f"keeps the name's (each file's name is its label in the distribution): {'; '.join(apart[:5])}"
            + (f" … and {len(apart) - 5} more" if len(apart) > 5 else "") + ". Check that the files were not moved or renamed.")
    return manifest


#: a distribution folder, ``OAF_angry``, ``YAF_pleasant_surprised``, ``OAF_Pleasant_surprise``, ``OAF_Fear``: speaker_emotion
_FOLDER = re.compile(r"^(OAF|YAF)_([A-Za-z_]+)$", re.IGNORECASE)


def folder_disagreements(items: list[Item]) -> list[str]:
    """The files whose folder (``OAF_angry/``: the distribution keeps one folder per speaker and emotion) names another
    speaker or another emotion than the file name does (``YAF_fear/OAF_back_fear.wav``), each with both; a folder not of
    that form (a flat copy) says nothing."""
    out = []
    for it in items:
        m = _FOLDER.match(Path(it.path).parent.name)
        if m is None:
            continue
        speaker, emotion = m.group(1).upper(), m.group(2).lower()
        folder_emotion = LABEL_MAP.get(emotion, "")  # Pleasant_surprise and pleasant_surprised are in it
        why = ([f"speaker {speaker}, name {it.speaker}"] if speaker != it.speaker else []) + (
            [f"emotion {emotion}, name {it.label}"] if folder_emotion and folder_emotion != it.emotion else [])
        if why:
            out.append(f"{it.path} (folder: {', '.join(why)})")
    return out
