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

    return manifest_from_names(root, NAME, parse_name, item)
