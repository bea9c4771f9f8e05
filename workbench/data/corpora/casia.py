"""CASIA Chinese emotional speech corpus: the manifest reader and the label map.

Four speakers, six emotions, laid out as ``<speaker>/<emotion>/<n>.wav``; the emotion is the folder's name
(``angry fear happy neutral sad surprise``) and the file's number is the text's.
"""

from __future__ import annotations

import os

from workbench.data.corpora.common import audio_files, finish, rel, require_dir
from workbench.data.manifest import Item, Manifest

NAME = "casia"

#: the emotion folder's name, lower-cased → emotion2vec+ key
LABEL_MAP = {"angry": "angry", "fear": "fearful", "happy": "happy", "neutral": "neutral", "sad": "sad", "surprise": "surprised"}
#: labels are words already: a head trained on CASIA's classes uses them as they are
CLASS_NAMES = None


def prepare(corpus_dir: str | os.PathLike) -> Manifest:
    """CASIA Chinese emotional speech: ``<speaker>/<emotion>/<n>.wav`` (4 speakers, 6 emotions)."""
    root = require_dir(corpus_dir, NAME)
    items, skipped = [], []
    for p in audio_files(root):
        emo = p.parent.name.lower()
        if emo not in LABEL_MAP:
            skipped.append(rel(p, root))
            continue
        speaker = p.parent.parent.name
        items.append(Item(
            id=f"{speaker}_{emo}_{p.stem}", path=rel(p, root), label=emo, emotion=LABEL_MAP[emo],
            speaker=speaker, meta={"corpus": NAME, "text_id": p.stem},
        ))
    return finish(items, root, NAME, skipped)
