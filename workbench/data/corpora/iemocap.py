"""IEMOCAP (Interactive Emotional Dyadic Motion Capture): the manifest reader, the label maps, the utterance-name
parser and the reader of the evaluators' judgements — both readers parse the same ``EmoEvaluation`` lines with
the one :func:`parse_turn_line`.

The corpus's ``SessionN/dialog/EmoEvaluation/<dialog>.txt`` files start each turn with a summary line
``[START - END]<TAB>TURN_NAME<TAB>EMOTION<TAB>[V, A, D]``
(``[6.2901 - 8.2357]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[2.5000, 2.5000, 2.5000]``: times in seconds into the dialog, the majority category as a three-letter code —
``xxx`` when the evaluators had no majority — and the mean valence, activation, dominance on 1–5).  Then come
the evaluators' categories, ``C-E2:<TAB>Neutral state;<TAB>(comment)`` (``C-F1``/``C-M1``: the actors' own
evaluation), and their dimensional ratings, ``A-E3:<TAB>val 3; act 2; dom  2;<TAB>()``.  A turn name is
``Ses01F_impro01_M013``: session 1, the dialog ``Ses01F_impro01`` (the letter after the session says which actor wore
the motion-capture markers in that recording, here the female one, as the release's README.txt says; ``impro`` or
``script``), and the 14th turn, spoken by the male actor (the letter of the last part: the turn's speaker, not the
dialog's marker wearer, whom torchaudio's IEMOCAP dataset reports as the speaker).  The audio is
``SessionN/sentences/wav/<dialog>/<turn>.wav``, the transcripts ``SessionN/dialog/transcriptions/<dialog>.txt``.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from workbench.data.corpora.common import finish, rel, require_dir
from workbench.data.manifest import Item, Manifest
from workbench.data.votes import NAN, ReadReport, counted_phrase, record_from_counts, vote
from workbench.errors import ConfigError
from workbench.serialize import read_text_capped

NAME = "iemocap"
logger = logging.getLogger(__name__)

#: every category once: summary-line code → (the evaluators' name for it, emotion2vec+ key; "" = no counterpart)
CATEGORIES = {
    "neu": ("Neutral state", "neutral"),
    "hap": ("Happiness", "happy"),
    "exc": ("Excited", "happy"),  # excited merged into happy: the common 4-class convention
    "sad": ("Sadness", "sad"),
    "ang": ("Anger", "angry"),
    "sur": ("Surprise", "surprised"),
    "fea": ("Fear", "fearful"),
    "dis": ("Disgust", "disgusted"),
    "fru": ("Frustration", ""),  # no counterpart
    "oth": ("Other", "other"),
}
#: how the votes are counted, said by the reader: one rule for the majority and for the agreement
MERGED_RULE = ("Happiness and Excited count as one class, happy, for the majority and for the agreement alike "
               "(excited merged into happy: the common 4-class IEMOCAP protocol)")
#: the summary line's code → emotion2vec+ key (``xxx``: no majority among the evaluators)
LABEL_MAP = {**{code: key for code, (_, key) in CATEGORIES.items()}, "xxx": ""}
#: the evaluators' category names (lower-cased) → emotion2vec+ key; some files write plain "Neutral"
EVALUATOR_CATEGORIES = {**{name.lower(): key for name, key in CATEGORIES.values()}, "neutral": "neutral"}
#: ``prepare(classes=...)``: every category with a counterpart among the nine, or the four of the common IEMOCAP
#: protocol (neutral, happiness with excited merged into it, sadness, anger; every other turn gets no emotion)
CLASS_SETS = {"all": tuple(code for code, key in LABEL_MAP.items() if key), "four": ("neu", "hap", "exc", "sad", "ang")}
#: the summary line's code → the class's readable name ("" = no class: ``xxx``)
CLASS_NAMES = {"neu": "neutral", "hap": "happiness", "exc": "excited", "sad": "sadness", "ang": "anger", "sur": "surprise",
               "fea": "fear", "dis": "disgust", "fru": "frustration", "oth": "other", "xxx": ""}

#: the turn's summary line; times are printed with four decimals, a whole number is read too.  The turn name's last part
#: starts with its speaker's letter, F or M (``…_M013``): a name whose last part starts otherwise (``…_X002``) was read
#: as a male turn of a speaker ``Ses05X``; it is a line not read, counted with the others (:data:`UNREAD_TURNS`)
_TURN = re.compile(r"^\[(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\]\s+(Ses\d\d[FM]_\S+_[FM][^_\s]*)\s+(\w+)\s+\[([^\]]*)\]")
#: a line shaped like a summary line (``[… - …]`` then a name) that :data:`_TURN` does not read: a renamed turn, a
#: time that is no number; counted and told, never dropped without a word.  The first class leaves out ``-`` so that
#: only the first dash can be the separator: ``[^\]]*-[^\]]*`` tried every dash, quadratic in a line of dashes without
#: a ``]`` (a 200 kB line took 25 s, a 2 MB one most of an hour)
_TURN_LIKE = re.compile(r"^\[[^\]\-]*-[^\]]*\]\s+\S+")
_TRANSCRIPT = re.compile(r"^(Ses\d\d[FM]_\S+)\s+\[[^\]]*\]:\s*(.*)$")
_CATEGORY = re.compile(r"^C-([EFM])(\d+):\s*(.*)$")
_DIMENSIONS = re.compile(r"^A-([EFM])(\d+):\s*(.*)$")
_DIMENSION_VALUES = re.compile(r"(val|act|dom)\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


@dataclass(frozen=True)
class Turn:
    """One summary line of an ``EmoEvaluation`` file."""

    start: float  # seconds into the dialog
    end: float
    utterance: str  # "Ses01F_impro01_M013"
    label: str  # "neu", …, "xxx"
    vad: str  # "2.5000, 2.5000, 2.5000" as written

    @property
    def dialog(self) -> str:
        return self.utterance.rsplit("_", 1)[0]

    @property
    def speaker(self) -> str:
        """Session and the gender letter of the turn's last part: ``Ses01F_impro01_M013`` → ``Ses01M``."""
        return self.utterance[:5] + self.utterance.rsplit("_", 1)[1][0]

    def dimensions(self) -> tuple[float | None, float | None, float | None]:
        try:
            v, a, d = (float(x) for x in self.vad.split(","))
        except ValueError:
            return None, None, None
        return v, a, d


def parse_turn_line(line: str) -> Turn | None:
    """The turn a summary line ``[START - END]<TAB>TURN_NAME<TAB>EMOTION<TAB>[V, A, D]`` gives; None for other lines."""
    m = _TURN.match(line.strip())
    if not m:
        return None
    start, end, utt, label, vad = m.groups()
    return Turn(float(start), float(end), utt, label, vad)


def unread_turn_line(line: str) -> bool:
    """True for a line shaped like a turn's summary line that :func:`parse_turn_line` cannot read."""
    line = line.strip()
    return bool(_TURN_LIKE.match(line)) and _TURN.match(line) is None


UNREAD_TURNS = ("summary line(s) not read: the turn name is not IEMOCAP's SesNN[FM]_<dialog>_<turn>, or a time or the "
                "[V, A, D] is not a number")


def _text_files(folder: Path) -> list[Path]:
    """The ``*.txt`` files of a folder, sorted, without the hidden ones: a copy of IEMOCAP archived on a Mac holds an
    AppleDouble ``._Ses01F_impro01.txt`` beside each file (as ``._Ses01F_impro01_F000.wav`` beside each turn), which
    ``read_evaluation`` listed among the files it read."""
    return sorted(f for f in folder.glob("*.txt") if not f.name.startswith("."))


def _evaluation_text(path: Path) -> str:
    return read_text_capped(path, errors="replace", what="an IEMOCAP evaluation file")


def _transcripts(session: Path) -> dict[str, str]:
    texts: dict[str, str] = {}
    for tf in _text_files(session / "dialog" / "transcriptions"):
        # bounded, a FIFO or device refused (read_text on a linked /dev/zero filled memory, a FIFO hung prepare)
        for line in read_text_capped(tf, errors="replace", what="an IEMOCAP transcription file").splitlines():
            m = _TRANSCRIPT.match(line.strip())
            if m:
                texts[m.group(1)] = m.group(2).strip()
    return texts


def prepare(corpus_dir: str | os.PathLike, *, classes: str = "all") -> Manifest:
    """IEMOCAP: labels from ``SessionN/dialog/EmoEvaluation/*.txt``, audio in ``SessionN/sentences/wav/<dialog>/<utt>.wav``.

    Speaker = session + the gender letter of the utterance id's last part
    (``Ses01F_impro01_M013`` is spoken by the session-1 male actor, "Ses01M").
    Split = the session, for the usual leave-one-session-out folds.
    ``classes``: ``"all"`` (default) gives every category its emotion2vec+ counterpart; ``"four"`` follows the common
    4-class protocol (neutral, happy = happiness + excited, sad, angry): every other turn (frustration, surprise, fear,
    disgust, other, ``xxx``) stays in the manifest with its label and no emotion, and a note counts them.
    """
    if classes not in CLASS_SETS:
        raise ConfigError(f"unknown IEMOCAP class set {classes!r}; expected {' or '.join(CLASS_SETS)}.", source="--classes",
                          fix="pass --classes all (every category with a counterpart) or --classes four (the 4-class protocol).")
    root = require_dir(corpus_dir, NAME)
    items, skipped, unread = [], [], []
    listed: dict[str, tuple[str, int, str]] = {}  # turn -> (evaluation file, line, code) of its first summary line
    twice: dict[str, list[str]] = {}  # turn -> where each further summary line of it stands, with the codes
    audio: dict[Path, dict[str, Path]] = {}  # dialog folder -> its audio files by lower-cased name
    for sess in _sessions(root):
        texts = _transcripts(sess)
        for ef in _text_files(sess / "dialog" / "EmoEvaluation"):
            for n, line in enumerate(_evaluation_text(ef).splitlines(), 1):
                turn = parse_turn_line(line)
                if turn is None:
                    if unread_turn_line(line):
                        unread.append(f"{ef.relative_to(root)}: {line.strip()[:80]!r}")
                    continue
                if turn.utterance in listed:  # two summary lines made two rows with one id: an invalid manifest
                    twice.setdefault(turn.utterance, []).append(_second_listing(listed[turn.utterance], str(ef.relative_to(root)), n, turn))
                    continue
                listed[turn.utterance] = (str(ef.relative_to(root)), n, turn.label)
                wav = _turn_audio(sess, turn, audio)
                if wav is None:
                    skipped.append(str((sess / "sentences" / "wav" / turn.dialog / f"{turn.utterance}.wav").relative_to(root)))
                    continue
                v, a, d = turn.dimensions()
                letter = turn.speaker[-1]
                items.append(Item(
                    id=turn.utterance, path=rel(wav, root), label=turn.label, emotion=_emotion(turn.label, classes),
                    text=texts.get(turn.utterance, ""), speaker=turn.speaker,
                    gender="female" if letter == "F" else "male", split=sess.name,
                    meta={"corpus": NAME, "dialog": turn.dialog, "improvised": "impro" in turn.dialog,
                          "valence": v, "activation": a, "dominance": d,
                          "dialog_start": turn.start, "dialog_end": turn.end},
                ))
    items = [it for it in items if it.id not in twice]
    manifest = finish(items, root, NAME, skipped, reason="turn(s) labelled in SessionN/dialog/EmoEvaluation have no audio file "
                      "(SessionN/sentences/wav/DIALOG/TURN.wav) and were left out")
    if unread:
        note = f"{len(unread)} {UNREAD_TURNS}; their turns are not in the manifest (e.g. {unread[0]})"
        logger.warning("%s: %s", NAME, note)
        manifest.notes.append(note)
    if twice:
        shown = [w for where in list(twice.values())[:3] for w in where[:1]]
        note = (f"{len(twice)} turn(s) are listed more than once in the EmoEvaluation files, so which label (or "
                f"times) they have would be a guess, and were left out: {'; '.join(shown)}"
                + (f" … and {len(twice) - 3} more" if len(twice) > 3 else "")
                + "; keep one summary line per turn in the evaluation file to have it back")
        logger.warning("%s: %s", NAME, note)
        manifest.notes.append(note)
    if classes == "four":
        manifest.notes.append(_four_class_note(items))
    return manifest


def _turn_audio(sess: Path, turn: Turn, audio: dict[Path, dict[str, Path]]) -> Path | None:
    """``SessionN/sentences/wav/<dialog>/<turn>.wav``, its extension in any case (a copy made on a system that wrote
    ``.WAV`` had every such turn left out as having no audio file); a hidden AppleDouble ``._<turn>.wav`` is none."""
    folder = sess / "sentences" / "wav" / turn.dialog
    if folder not in audio:
        audio[folder] = ({p.name.lower(): p for p in sorted(folder.iterdir(), reverse=True)
                          if p.suffix.lower() == ".wav" and not p.name.startswith(".") and p.is_file()} if folder.is_dir() else {})
    return audio[folder].get(f"{turn.utterance}.wav".lower())


def _second_listing(first: tuple[str, int, str], file: str, line: int, turn: Turn) -> str:
    """Where a turn listed twice stands: ``F.txt lines 3 and 9 list Ses01F_impro01_F000 twice (neu, then ang)``."""
    where = f"{first[0]} lines {first[1]} and {line}" if first[0] == file else f"{first[0]} line {first[1]} and {file} line {line}"
    return f"{where} list {turn.utterance} twice ({first[2]}, then {turn.label})"


def _sessions(root: Path) -> list[Path]:
    """The ``SessionN`` folders of the corpus folder, or of the folders in it: the release unpacks into
    ``IEMOCAP_full_release/``, and the folder it was unpacked into was read as holding no turn at all."""
    def sessions_in(folder: Path) -> list[Path]:
        return sorted(p for p in folder.iterdir() if p.is_dir() and re.match(r"Session\d$", p.name))

    return sessions_in(root) or [s for sub in sorted(p for p in root.iterdir() if p.is_dir()) for s in sessions_in(sub)]


def _emotion(label: str, classes: str) -> str:
    """The emotion2vec+ key of a summary-line code under the class set (``"four"``: none outside its four classes)."""
    code = label if label in LABEL_MAP else label.lower()
    return LABEL_MAP.get(code, "") if code in CLASS_SETS[classes] else ""


def _four_class_note(items: list[Item]) -> str:
    """How many turns the 4-class protocol leaves without an emotion, by code."""
    out: dict[str, int] = {}
    for it in items:
        if not it.emotion:
            out[it.label] = out.get(it.label, 0) + 1
    kept = len(items) - sum(out.values())
    return (f"4-class protocol (--classes four): {kept} turns of neutral, happy (happiness + excited), sad and angry; "
            f"{sum(out.values())} others keep their label and no emotion"
            + (f" ({', '.join(f'{code} {n}' for code, n in sorted(out.items()))})" if out else ""))


# ---------------------------------------------------------------------------
# the evaluators' judgements
# ---------------------------------------------------------------------------
def _evaluation_files(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    files: list[Path] = []
    for raw in ([paths] if isinstance(paths, (str, os.PathLike)) else list(paths)):
        p = Path(raw).expanduser()
        if p.is_dir():  # EmoEvaluation's own *.txt only: its Categorical/, Attribute/, Self-evaluation/ hold per-rater copies
            files += _text_files(p) if p.name == "EmoEvaluation" else [
                f for folder in sorted({f.parent for f in p.rglob("*.txt") if f.parent.name == "EmoEvaluation"}) for f in _text_files(folder)]
        elif p.is_file():
            files.append(p)
        else:
            raise ConfigError("IEMOCAP evaluation file or folder not found.", source=str(p), fix="pass SessionN/dialog/EmoEvaluation or the corpus root.")
    if not files:
        raise ConfigError("no EmoEvaluation/*.txt files found.", source=str(paths), fix="pass SessionN/dialog/EmoEvaluation or the corpus root.")
    return files


def _blocks(text: str, *, include_self: bool, unread: list[str] | None = None) -> list[dict[str, Any]]:
    """One dict per turn of an evaluation file: its summary line's turn, the evaluators' categories and ratings.
    A summary line that cannot be read goes to ``unread``, and the evaluators' lines under it to no turn."""
    block: dict[str, Any] | None = None
    blocks: list[dict[str, Any]] = []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        turn = parse_turn_line(line)
        if turn is not None:
            block = {"turn": turn, "line": n, "cats": [], "self": [], "dims": []}
            blocks.append(block)
            continue
        if unread_turn_line(line):
            if unread is not None:
                unread.append(line[:80])
            block = None  # its evaluators' lines belong to the turn not read, not to the one before
            continue
        if block is None:
            continue
        m = _CATEGORY.match(line)
        if m:
            who, body = m.group(1), m.group(3)
            cats = [c.strip() for c in body.split("(")[0].split(";") if c.strip()]
            cats = [c.split(":")[0].strip() for c in cats]  # "Other:specification" keeps only the category name
            if who == "E":
                block["cats"].append(cats)
            else:  # the actors' own evaluation: kept apart, a vote only when asked for
                block["self"].append(cats)
                if include_self:
                    block["cats"].append(cats)
            continue
        m = _DIMENSIONS.match(line)
        if m and m.group(1) == "E":
            block["dims"].append({k.lower(): float(v) for k, v in _DIMENSION_VALUES.findall(m.group(3))})
    return blocks


def read_evaluation(paths: str | os.PathLike | Iterable[str | os.PathLike], *, include_self: bool = False) -> ReadReport:
    """IEMOCAP ``EmoEvaluation/*.txt``: per-evaluator categories and dimensions of every turn.

    A block starts with the summary line ``[start - end]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[V, A, D]``
    (:func:`parse_turn_line`, the one the manifest reader uses);
    then ``C-E2:<TAB>Neutral state;<TAB>(comment)`` lines give each evaluator's
    categories (several separated by ``;``: each of k categories gets 1/k vote),
    ``C-F1:``/``C-M1:`` the actors' self-evaluations (left out of the votes
    unless ``include_self``; kept in ``iemocap_self``), and
    ``A-E3:<TAB>val 3; act 2; dom  2;<TAB>()`` the evaluators' dimensional
    ratings (their means kept as ``iemocap_val_mean`` …; self-ratings excluded).
    Categories map through ``EVALUATOR_CATEGORIES``; *Frustration* has no
    counterpart and counts in ``votes_unmapped``.  ``paths``: files or folders
    (every ``*.txt`` in a folder, recursively for a corpus root).
    """
    files = _evaluation_files(paths)
    report = ReadReport({}, ", ".join(str(f) for f in files[:3]) + (" …" if len(files) > 3 else ""))
    unread: list[str] = []
    both = 0  # items with votes for Happiness and for Excited: where counting them apart would change the agreement
    listed: dict[str, tuple[str, int, str]] = {}  # turn -> (evaluation file, line, code) of its first summary line
    twice: dict[str, list[str]] = {}  # turn -> where each further summary line of it stands (as prepare tells them)
    for f in files:
        for b in _blocks(_evaluation_text(f), include_self=include_self, unread=unread):
            utt = b["turn"].utterance
            if utt in listed:  # the last block's votes silently replaced the first's; prepare leaves the turn out
                twice.setdefault(utt, []).append(_second_listing(listed[utt], str(f), b["line"], b["turn"]))
                continue
            listed[utt] = (str(f), b["line"], b["turn"].label)
            counts, unmapped, raw_max = vote(b["cats"], EVALUATOR_CATEGORIES, report)
            rec = record_from_counts(counts, unmapped=unmapped, raw_max=raw_max)
            both += {"happiness", "excited"} <= {c.strip().lower() for cats in b["cats"] for c in cats}
            rec["iemocap_label"] = b["turn"].label
            rec["iemocap_self"] = "; ".join("/".join(c) for c in b["self"])
            for dim in ("val", "act", "dom"):
                xs = [d[dim] for d in b["dims"] if dim in d]
                rec[f"iemocap_{dim}_mean"] = sum(xs) / len(xs) if xs else NAN
            rec["iemocap_n_dimensional_raters"] = float(len(b["dims"]))
            report.records[utt] = rec
    for utt in twice:
        report.records.pop(utt, None)
    if twice:
        shown = [where[0] for where in list(twice.values())[:3]]
        report.dropped[f"turn(s) listed more than once in the EmoEvaluation files, so whose votes they have would be a "
                       f"guess, left out: {'; '.join(shown)}" + (f" … and {len(twice) - 3} more" if len(twice) > 3 else "")
                       + "; keep one summary line per turn in the evaluation file to have it back"] = len(twice)
        logger.warning("%s: %d turn(s) listed more than once in the EmoEvaluation files left out of the votes: %s",
                       NAME, len(twice), "; ".join(shown))
    if unread:
        report.dropped[f"{UNREAD_TURNS} (e.g. {unread[0]!r})"] = len(unread)
    report.notes.append(f"{MERGED_RULE} ({counted_phrase(both, 'items have votes for both')})")
    return report


#: the listener files this module reads: format name → (reader, its options, what the file is)
VOTE_FORMATS = {"iemocap": (read_evaluation, {"include_self"}, "IEMOCAP EmoEvaluation folder or files")}
