"""ESD (Emotional Speech Dataset, Zhou et al. 2021): the manifest reader, the label map and the file-name parser.

Ten Mandarin (``0001``–``0010``) and ten English (``0011``–``0020``) speakers, five emotions, laid out as
``0011/Angry/[train|evaluation|test/]0011_000351.wav`` (speaker_utterance); each speaker's ``0011.txt`` gives
``<utterance id>\\t<text>\\t<emotion>`` per line.  The emotion is the folder's name.  The distribution's
``ReadMe.txt`` gives each speaker's language and sex (:data:`SPEAKERS`).

Each speaker's 1,750 utterances are numbered in blocks of 350 per emotion, Neutral (000001–000350), Angry
(000351–000700), Happy (000701–001050), Sad (001051–001400), Surprise (001401–001750), and each block is split by
its numbers: the first 20 ``evaluation``, the next 30 ``test``, the last 300 ``train`` (``0011/Angry/evaluation/
0011_000351.wav``, ``0011/Angry/test/0011_000371.wav``, ``0011/Happy/test/0011_000721.wav``).  A copy without the
split folders gets its split from the number, and a file whose folder disagrees with its number is named.

The speakers' text files are not in one encoding: some are UTF-16 (with a byte-order mark), the Mandarin ones
otherwise GB2312, the English ones UTF-8 or Latin-1.  Bytes that are not UTF-8 are read as GB18030 (a superset of
GB2312) for a Mandarin speaker and as Windows-1252/Latin-1 for an English one.  UTF-16 without its mark is read only
where NUL bytes sit at one parity (:func:`workbench.serialize.decode_sniffed_text`): GB2312, Latin-1 and UTF-8 text
hold no NUL, and reading any even-length file as UTF-16 turned it into CJK characters without an error.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from workbench.data.corpora.common import audio_files, finish, rel, require_dir
from workbench.data.manifest import Item, Manifest
from workbench.errors import ConfigError
from workbench.serialize import decode_sniffed_text, read_bytes_capped

NAME = "esd"

#: the emotion folder's name, lower-cased → emotion2vec+ key
LABEL_MAP = {"angry": "angry", "happy": "happy", "neutral": "neutral", "sad": "sad", "surprise": "surprised"}
#: labels are words already: a head trained on ESD's classes uses them as they are
CLASS_NAMES = None
#: the distribution's folders, 300 / 20 / 30 utterances per speaker and emotion; ``evaluation`` is the validation set
#: (role ``dev``: :data:`workbench.schema.CORPUS_SPLIT_ROLES`), held out by ``probe``/``finetune --scheme split``
SPLITS = ("train", "evaluation", "test")
#: the distribution's ReadMe.txt: speaker → (language, sex); 0001–0010 Mandarin, 0011–0020 English
MALE = {"0004", "0005", "0006", "0008", "0010", "0011", "0012", "0013", "0014", "0020"}
SPEAKERS = {f"{n:04d}": ("zh" if n <= 10 else "en", "male" if f"{n:04d}" in MALE else "female") for n in range(1, 21)}

_FILE_NAME = re.compile(r"^([0-9]{4})_([0-9]{6})$")  # ASCII digits: \d takes ٠١ too
#: the emotion blocks of each speaker's numbering, in order, 350 utterances each
EMOTION_BLOCKS = ("neutral", "angry", "happy", "sad", "surprise")
BLOCK = 350
#: within each block: the first 20 are ``evaluation``, the next 30 ``test``, the other 300 ``train``
SPLIT_BOUNDS = ((20, "evaluation"), (50, "test"), (BLOCK, "train"))


def by_number(utterance: str) -> tuple[str, str] | None:
    """``(emotion folder lower-cased, split)`` the distribution gives utterance number ``utterance`` (``"000371"`` →
    ``("angry", "test")``); None outside 1–1750."""
    n = int(utterance)
    if not 1 <= n <= BLOCK * len(EMOTION_BLOCKS):
        return None
    block, pos = divmod(n - 1, BLOCK)
    return EMOTION_BLOCKS[block], next(name for bound, name in SPLIT_BOUNDS if pos < bound)


def parse_path(path: Path) -> tuple[str, str, str] | None:
    """``(speaker, emotion folder, split)`` of an ESD audio file (split "" in a flattened copy); None when it does not follow the layout."""
    m = _FILE_NAME.match(path.stem)
    parent = path.parent.name
    split = parent.lower() if parent.lower() in SPLITS else ""
    emo_dir = path.parent.parent.name if split else parent
    if not m or emo_dir.lower() not in LABEL_MAP:
        return None
    return m.group(1), emo_dir, split


def decode_text(raw: bytes, speaker: str, *, source: str = "") -> str:
    """A speaker's text file as text (see the module's note on encodings), by :func:`decode_sniffed_text`: after a
    byte-order mark, UTF-8, the speaker's language's legacy codecs, UTF-16 without a mark by where its NULs sit.

    Raises ConfigError (naming ``source``, the byte and the fix) when none reads it."""
    english = SPEAKERS.get(speaker, ("",))[0] == "en"
    return decode_sniffed_text(raw, source=source or f"{speaker}.txt", what="an ESD transcript",
                               legacy=("CP1252", "LATIN1") if english else ("GB18030",))


#: a speaker's text file is about 30 kB; this is far above any and far below what fills memory
TEXT_MAX_BYTES = 5_000_000


def _texts(root: Path) -> tuple[dict[str, str], list[str]]:
    """The transcript of each utterance, from the speakers' ``NNNN.txt`` files, and the files that could not be read
    (named in the manifest's notes: their utterances have no text).  Each is read bounded, a FIFO or device refused:
    ``read_bytes`` of a linked /dev/zero filled memory, and a file no encoding read was skipped without a word."""
    texts: dict[str, str] = {}
    unread: list[str] = []
    for tf in sorted(root.rglob("*.txt")):
        if not re.match(r"^\d{4}\.txt$", tf.name):
            continue
        try:
            raw = read_bytes_capped(tf, max_bytes=TEXT_MAX_BYTES, what="an ESD text file", decompress=False)
            content = decode_text(raw, tf.stem, source=str(tf))
        except ConfigError as exc:
            unread.append(f"{rel(tf, root)} ({exc.message}{' Fix: ' + exc.fix if exc.fix else ''})")
            continue
        for line in content.splitlines():
            utt, text = _text_line(line)
            if utt:
                texts[utt] = text
    return texts, unread


#: a text line's utterance id and what follows it: one tab, or (about fifteen lines of the English speakers' files,
#: ``0012_001355``, ``0013_000431``, ``0015_000137`` …, as public ESD loaders patch them) spaces
_TEXT_LINE = re.compile(r"^(\d{4}_\d{6})(?:\t| +)(.*)$")


def _text_line(line: str) -> tuple[str, str]:
    """``(utterance id, text)`` of a line ``<id>\\t<text>\\t<emotion>`` (or ``<id> <text>\\t<emotion>``); ``("", "")``
    for a line without an id and a text.  The line whose id was glued to its text by a space gave the id no text and
    filed the emotion word under "id + text"."""
    line = line.strip()
    m = _TEXT_LINE.match(line)
    if m:
        return m.group(1), m.group(2).split("\t")[0].strip()
    parts = line.split("\t")
    return (parts[0].strip(), parts[1].strip()) if len(parts) >= 2 else ("", "")


def prepare(corpus_dir: str | os.PathLike) -> Manifest:
    """ESD: ``0011/Angry/[train|evaluation|test/]0011_000351.wav``; text from ``0011/0011.txt``.

    Speakers 0001–0010 speak Mandarin, 0011–0020 English; their sex is the ReadMe's (:data:`SPEAKERS`).
    """
    root = require_dir(corpus_dir, NAME)
    texts, unread = _texts(root)
    items, skipped, odd, numbered, hidden, moved = [], [], [], 0, [], []
    for p in audio_files(root, hidden):
        parsed = parse_path(p)
        if parsed is None:
            skipped.append(rel(p, root))
            continue
        spk, emo_dir, split = parsed
        folder = (p.parent.parent.parent if split else p.parent.parent).name
        if re.fullmatch(r"[0-9]{4}", folder) and folder != spk:
            moved.append(f"{rel(p, root)} (folder {folder})")
        expected = by_number(p.stem.split("_")[1])
        disagree = _disagreement(emo_dir, split, expected)
        if disagree:
            odd.append(f"{rel(p, root)} ({disagree})")
        if not split and expected is not None:
            split, numbered = expected[1], numbered + 1
        items.append(Item(
            id=p.stem, path=rel(p, root), label=emo_dir, emotion=LABEL_MAP[emo_dir.lower()],
            text=texts.get(p.stem, ""), speaker=spk, gender=SPEAKERS.get(spk, ("", ""))[1], split=split,
            meta={"corpus": NAME, "language": "zh" if int(spk) <= 10 else "en"},
        ))
    manifest = finish(items, root, NAME, skipped, hidden=hidden)
    manifest.notes.extend(_split_notes(items, numbered, odd))
    if moved:
        manifest.notes.append(f"{len(moved)} file(s) lie in another speaker's folder than the speaker their name gives "
                              "(NNNN_utterance: the name's is kept, with its language and sex): " + "; ".join(moved[:5])
                              + (f" … and {len(moved) - 5} more" if len(moved) > 5 else "") + ". Check that the files were not moved.")
    if unread:
        manifest.notes.append(f"{len(unread)} speaker text file(s) could not be read, so their utterances have no text: "
                              + "; ".join(unread[:5]) + (" …" if len(unread) > 5 else ""))
    return manifest


def _disagreement(emo_dir: str, split: str, expected: tuple[str, str] | None) -> str:
    """Where a file's folders disagree with the distribution's numbering (:func:`by_number`), or ``""``."""
    if expected is None:
        return f"number outside the corpus's 1–{BLOCK * len(EMOTION_BLOCKS)}"
    why = []
    if emo_dir.lower() != expected[0]:
        why.append(f"in {emo_dir}/ but the number is in the {expected[0].title()} block")
    if split and split != expected[1]:
        why.append(f"in {split}/ but the number is in the {expected[1]} part of its block")
    return "; ".join(why)


def _split_notes(items: list[Item], numbered: int, odd: list[str]) -> list[str]:
    """How many items each split holds and where the split came from; the files whose folder disagrees with the number."""
    notes = []
    counts = {name: sum(it.split == name for it in items) for name in SPLITS}
    if any(counts.values()):
        notes.append(f"split: train {counts['train']} (train), evaluation {counts['evaluation']} (held out: the validation set, "
                     f"role dev), test {counts['test']} (a test set); "
                     + (f"{numbered} without a split folder got theirs from the utterance number (the first 20 of each "
                        "emotion's 350 evaluation, the next 30 test, the rest train, as the distribution's folders); "
                        if numbered else "")
                     + f"{sum(not it.split for it in items)} have no split.")
    if odd:
        notes.append(f"{len(odd)} file(s) sit in a folder their utterance number does not belong to (each speaker's numbers "
                     "run Neutral 1–350, Angry 351–700, Happy 701–1050, Sad 1051–1400, Surprise 1401–1750, each split "
                     "20 evaluation / 30 test / 300 train); their label is the folder's: "
                     + "; ".join(odd[:5]) + (f" … and {len(odd) - 5} more" if len(odd) > 5 else ""))
    return notes
