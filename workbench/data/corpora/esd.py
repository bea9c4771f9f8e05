"""ESD (Emotional Speech Dataset, Zhou et al. 2021): the manifest reader, the label map and the file-name parser.

Ten Mandarin (``0001``–``0010``) and ten English (``0011``–``0020``) speakers, five emotions, laid out as
``0011/Angry/[train|evaluation|test/]0011_000351.wav`` (speaker_utterance); each speaker's ``0011.txt`` gives
``<utterance id>\\t<text>\\t<emotion>`` per line.  The emotion is the folder's name.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from workbench.data.corpora.common import audio_files, finish, rel, require_dir
from workbench.data.manifest import Item, Manifest

NAME = "esd"

#: the emotion folder's name, lower-cased → emotion2vec+ key
LABEL_MAP = {"angry": "angry", "happy": "happy", "neutral": "neutral", "sad": "sad", "surprise": "surprised"}
#: labels are words already: a head trained on ESD's classes uses them as they are
CLASS_NAMES = None
SPLITS = ("train", "evaluation", "test")

_FILE_NAME = re.compile(r"^(\d{4})_(\d{6})$")


def parse_path(path: Path) -> tuple[str, str, str] | None:
    """``(speaker, emotion folder, split)`` of an ESD audio file (split "" in a flattened copy); None when it does not follow the layout."""
    m = _FILE_NAME.match(path.stem)
    parent = path.parent.name
    split = parent.lower() if parent.lower() in SPLITS else ""
    emo_dir = path.parent.parent.name if split else parent
    if not m or emo_dir.lower() not in LABEL_MAP:
        return None
    return m.group(1), emo_dir, split


def _texts(root: Path) -> dict[str, str]:
    texts: dict[str, str] = {}
    for tf in root.rglob("*.txt"):
        if not re.match(r"^\d{4}\.txt$", tf.name):
            continue
        raw = tf.read_bytes()
        for enc in ("utf-8", "utf-16", "gb18030"):  # the Mandarin speakers' files are not all UTF-8
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
    return texts


def prepare(corpus_dir: str | os.PathLike) -> Manifest:
    """ESD: ``0011/Angry/[train|evaluation|test/]0011_000351.wav``; text from ``0011/0011.txt``.

    Speakers 0001–0010 speak Mandarin, 0011–0020 English.
    """
    root = require_dir(corpus_dir, NAME)
    texts = _texts(root)
    items, skipped = [], []
    for p in audio_files(root):
        parsed = parse_path(p)
        if parsed is None:
            skipped.append(rel(p, root))
            continue
        spk, emo_dir, split = parsed
        items.append(Item(
            id=p.stem, path=rel(p, root), label=emo_dir, emotion=LABEL_MAP[emo_dir.lower()],
            text=texts.get(p.stem, ""), speaker=spk, split=split,
            meta={"corpus": NAME, "language": "zh" if int(spk) <= 10 else "en"},
        ))
    return finish(items, root, NAME, skipped)
