"""RAVDESS (Ryerson Audio-Visual Database of Emotional Speech and Song): the manifest reader, the label map and
the file-name parser.

The corpus's README names each file by seven two-digit fields, ``03-01-06-01-02-01-12.wav``: modality
(01 full-AV, 02 video-only, 03 audio-only), vocal channel (01 speech, 02 song), emotion (01 neutral, 02 calm,
03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised), intensity (01 normal, 02 strong),
statement (01 "Kids are talking by the door", 02 "Dogs are sitting by the door"), repetition (01, 02) and
actor (01–24; odd-numbered actors are male, even-numbered female).  The files lie in ``Actor_NN/`` folders.
"""

from __future__ import annotations

import os
from pathlib import Path
import re
from dataclasses import dataclass

from workbench.data.corpora.common import manifest_from_names, rel, require_dir
from workbench.data.manifest import Item, Manifest

NAME = "ravdess"

#: the emotion field (3rd) → emotion2vec+ key ("" = no counterpart)
LABEL_MAP = {
    "01": "neutral",
    "02": "",  # calm: no counterpart
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgusted",
    "08": "surprised",
}
#: the emotion field → the class's name in the README
CLASS_NAMES = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fearful", "07": "disgust",
               "08": "surprised"}
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}

_FILE_NAME = re.compile(r"^(0[123])-(0[12])-(0[1-8])-(0[12])-(0[12])-(0[12])-(\d\d)$")


@dataclass(frozen=True)
class FileName:
    """The seven fields of a RAVDESS file name (``03-01-06-01-02-01-12``), as the two-digit codes."""

    modality: str
    channel: str
    emotion: str  # a key of LABEL_MAP
    intensity: str
    statement: str
    repetition: str
    actor: str


def parse_name(stem: str) -> FileName | None:
    """The fields of a RAVDESS file name without its extension; None when it does not follow the naming."""
    m = _FILE_NAME.match(stem)
    return FileName(*m.groups()) if m else None


def prepare(corpus_dir: str | os.PathLike) -> Manifest:
    """RAVDESS: ``Actor_12/03-01-06-01-02-01-12.wav`` = modality-channel-emotion-intensity-statement-repetition-actor."""
    root = require_dir(corpus_dir, NAME)

    def item(p: Path, name: FileName) -> Item:
        return Item(
            id=p.stem, path=rel(p, root), label=name.emotion, emotion=LABEL_MAP[name.emotion],
            text=STATEMENTS[name.statement], speaker=f"Actor_{name.actor}",
            gender="male" if int(name.actor) % 2 == 1 else "female",  # odd actors are male, even female
            meta={
                "corpus": NAME,
                "vocal_channel": "speech" if name.channel == "01" else "song",
                "intensity": "normal" if name.intensity == "01" else "strong",
                "statement": name.statement, "repetition": name.repetition,
                "label_name": CLASS_NAMES[name.emotion],
            },
        )

    return manifest_from_names(root, NAME, parse_name, item)
