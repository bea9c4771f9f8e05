"""CREMA-D (Crowd-sourced Emotional Multimodal Actors Dataset): the manifest reader, the label maps, the
file-name parser and the readers of its crowd ratings.

The corpus's README names each clip ``1001_DFA_ANG_XX.wav``: actor (1001–1091), sentence (one of twelve
three-letter codes, ``DFA`` = "Don't forget a jacket"), emotion (``ANG`` anger, ``DIS`` disgust, ``FEA``
fear, ``HAP`` happy, ``NEU`` neutral, ``SAD`` sad) and level (``LO``, ``MD``, ``HI``, ``XX`` unspecified).
Actors' sex and age are in ``VideoDemographics.csv``.  The raters answered with one letter per clip
(``A D F H N S``, the same six emotions) for the voice alone, the face alone or both (``queryType`` 1, 2, 3).
The README names one WAV whose audio is not what its name says, ``1076_MTI_SAD_XX.wav`` ("no audio, very short"):
it is left out of the manifest and named (:data:`DEFECTIVE_WAVS`); its ratings are kept (the raters rated it as played).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from workbench.data.corpora.common import manifest_from_names, rel, require_dir
from workbench.data.manifest import Item, Manifest
from workbench.data.votes import as_float, corpus_file, csv_rows, NAN, ReadReport, record_from_counts, refuse_duplicates, vote
from workbench.errors import ConfigError
from workbench.serialize import shown

NAME = "crema-d"

#: the emotion field of a file name (3rd) → emotion2vec+ key
LABEL_MAP = {"ANG": "angry", "DIS": "disgusted", "FEA": "fearful", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
#: the emotion field → the class's name in the README
CLASS_NAMES = {"ANG": "anger", "DIS": "disgust", "FEA": "fear", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
#: the raters' response letters → emotion2vec+ key: each is the initial of the file-name code it stands for
RESPONSE_LETTERS = {code[0]: key for code, key in LABEL_MAP.items()}
#: ``queryType``: what the raters were shown
MODALITIES = {"voice": 1, "face": 2, "audio-visual": 3}
SENTENCES = {
    "IEO": "It's eleven o'clock", "TIE": "That is exactly what happened", "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about", "TAI": "The airplane is almost full", "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock", "ITH": "I think I have a doctor's appointment", "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before", "TSI": "The surface is slick", "WSI": "We'll stop in a couple of minutes",
}
LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified"}
#: the actors' numbers: the README's 91 actors, 1001–1091 in VideoDemographics.csv
ACTORS = range(1001, 1092)
#: the WAVs the README says do not hold the recording their name says (its "Audio Files" notes; the other clips it
#: names there are MP3 or FLV files whose WAV is fine): clip → the README's words
DEFECTIVE_WAVS = {"1076_MTI_SAD_XX": "no audio, very short"}

_FILE_NAME = re.compile(r"^([0-9]{4})_([A-Z]{3})_(" + "|".join(LABEL_MAP) + r")_(LO|MD|HI|XX|X)$")  # ASCII digits: \d takes ٠١ too


@dataclass(frozen=True)
class FileName:
    """The four fields of a CREMA-D file name (``1001_DFA_ANG_XX``)."""

    actor: str
    sentence: str
    emotion: str  # a key of LABEL_MAP
    level: str

    @property
    def clip(self) -> str:
        """The clip's name as the corpus's tables write it: ``1040_ITH_SAD_X.wav``, the one file whose level lost an X,
        is ``1040_ITH_SAD_XX`` in ``tabulatedVotes.csv`` and ``finishedResponses.csv``, so its ratings attach to it."""
        return "_".join((self.actor, self.sentence, self.emotion, "XX" if self.level == "X" else self.level))


def parse_name(stem: str) -> FileName | None:
    """The fields of a CREMA-D file name without its extension; None when it does not follow the naming."""
    m = _FILE_NAME.match(stem)
    return FileName(*m.groups()) if m else None


def _demographics_file(root: Path) -> Path | None:
    """``VideoDemographics.csv`` under the corpus folder, or beside it when the folder given is ``AudioWAV/`` (the
    distribution keeps the file in its top folder, next to ``AudioWAV/``)."""
    hits = sorted(root.rglob("VideoDemographics.csv"))
    if not hits and root.name.lower() == "audiowav" and (root.parent / "VideoDemographics.csv").is_file():
        hits = [root.parent / "VideoDemographics.csv"]
    return hits[0] if hits else None


def _demographics(path: Path | None) -> dict[str, dict]:
    """The rows of ``VideoDemographics.csv`` by actor, read as every table others wrote is read (bounded, UTF-8, a
    FIFO or device refused): ``csv.DictReader`` on the open file held a ``/dev/zero`` link whole (MemoryError), waited
    on a FIFO for ever and ended a Latin-1 file in 'unexpected UnicodeDecodeError'.  An actor listed twice is refused
    (which row gives the sex would be a guess)."""
    if path is None:
        return {}
    _, rows = csv_rows(path, ("ActorID",))
    refuse_duplicates((r["ActorID"] for r in rows), str(path), what="actor")
    return {r["ActorID"]: r for r in rows}


def _age(row: dict, actor: str, odd: list[str]) -> int | None:
    """The actor's age as a whole number of years; anything else (``51.5``, ``unknown``, ``-3``) is left out and named."""
    raw = str(row.get("Age", "")).strip()
    if not raw:
        return None
    if raw.isdigit() and 0 < int(raw) < 130:
        return int(raw)
    odd.append(f"{actor} Age={shown(raw, 20)}")
    return None


def _demographics_note(path: Path | None, root: Path, items: list[Item]) -> str:
    """What the manifest's sex and age come from, or why they are empty (said, never left silently blank)."""
    if path is None:
        return (f"no VideoDemographics.csv under {root}" + (f" or beside it in {root.parent}" if root.name.lower() == "audiowav" else "")
                + ": the actors' sex and age are left empty; pass the CREMA-D top folder, which holds it.")
    missing = sorted({it.speaker for it in items if not it.gender})
    return (f"sex and age from {path}" + (f"; {len(missing)} actor(s) without a row there (or without Male/Female), their sex left "
                                          f"empty: {', '.join(missing[:10])}" if missing else ""))


def _foreign_note(items: list[Item]) -> str | None:
    """The files whose name has CREMA-D's shape but a sentence code or actor number the corpus does not have (a file
    from elsewhere, or a typo): kept, with no text for an unknown sentence, and named, not passed as the corpus's own."""
    odd = [f"{it.path} ({', '.join(why)})" for it in items
           if (why := ([f"sentence {it.meta['sentence']} is none of the 12"] if it.meta["sentence"] not in SENTENCES else [])
                      + ([f"actor {it.speaker} is outside {ACTORS[0]}–{ACTORS[-1]}"] if int(it.speaker) not in ACTORS else []))]
    if not odd:
        return None
    return (f"{len(odd)} file(s) are named like CREMA-D's but are not the corpus's own: " + "; ".join(odd[:10])
            + (f" … and {len(odd) - 10} more" if len(odd) > 10 else "") + f". Its sentences are {', '.join(SENTENCES)}; "
            "a file with another sentence code has no text. Remove the files that do not belong to the corpus.")


def prepare(corpus_dir: str | os.PathLike) -> Manifest:
    """CREMA-D: ``AudioWAV/1001_DFA_ANG_XX.wav`` = actor_sentence_emotion_level; sex from VideoDemographics.csv."""
    root = require_dir(corpus_dir, NAME)
    demo_file = _demographics_file(root)
    demo = _demographics(demo_file)
    odd_ages: list[str] = []

    def item(p: Path, name: FileName) -> Item:
        row = demo.get(name.actor, {})
        sex = str(row.get("Sex", "")).strip().lower()
        meta = {"corpus": NAME, "sentence": name.sentence, "level": LEVELS.get(name.level, "unspecified")}
        age = _age(row, name.actor, odd_ages)
        if age is not None:
            meta["age"] = age
        return Item(
            id=name.clip, path=rel(p, root), label=name.emotion, emotion=LABEL_MAP[name.emotion],
            text=SENTENCES.get(name.sentence, ""), speaker=name.actor, gender=sex if sex in ("male", "female") else "",
            meta=meta,
        )

    manifest = manifest_from_names(root, NAME, parse_name, item)
    _leave_out_defective(manifest, root)
    manifest.notes.append(_demographics_note(demo_file, root, list(manifest)))
    if odd_ages:
        odd = list(dict.fromkeys(odd_ages))
        manifest.notes.append(f"{len(odd)} actor(s) have an Age in {demo_file} that is no whole number of years, left out of "
                              f"meta: {', '.join(odd[:10])}{' …' if len(odd) > 10 else ''}.")
    foreign = _foreign_note(list(manifest))
    if foreign:
        manifest.notes.append(foreign)
    return manifest


def _leave_out_defective(manifest: Manifest, root: Path) -> None:
    """The README's defective WAVs (:data:`DEFECTIVE_WAVS`) out of the manifest, each named with the README's words:
    ``1076_MTI_SAD_XX.wav`` holds no speech, and was scored as a sad clip."""
    bad = [it for it in manifest if it.id in DEFECTIVE_WAVS]
    if not bad:
        return
    manifest.items = [it for it in manifest if it.id not in DEFECTIVE_WAVS]
    if not manifest.items:
        raise ConfigError(f"the only CREMA-D file(s) here, {', '.join(it.path for it in bad)}, are the ones the corpus's README "
                          "says hold no usable audio.", source=str(root), fix="pass the AudioWAV folder of the whole corpus.")
    manifest.notes.append(f"{len(bad)} file(s) left out: the CREMA-D README says their audio is not what their name says: "
                          + "; ".join(f"{it.path} ({DEFECTIVE_WAVS[it.id]})" for it in bad)
                          + ". Their ratings in tabulatedVotes.csv are the raters' judgements of what was played.")


# ---------------------------------------------------------------------------
# the crowd ratings
# ---------------------------------------------------------------------------
def _modality(modality: str) -> int:
    if modality not in MODALITIES:
        raise ConfigError(f"unknown CREMA-D modality {modality!r}; expected one of {', '.join(MODALITIES)}.",
                          fix="use 'voice' for the audio-only ratings (what a speech model hears).")
    return MODALITIES[modality]


def read_tabulated(path: str | os.PathLike, *, modality: str = "voice") -> ReadReport:
    """CREMA-D ``processedResults/tabulatedVotes.csv``: vote counts per clip and rating modality.

    The file holds one row per clip *and* query type (voice only, face only,
    audio-visual), written by the corpus's ``tabulateVotesV2.r`` with R's row
    names ``100000 × queryType + clipNum`` in its first, unnamed column: the
    rows of ``modality`` are picked by that number.  Columns ``A D F H N S``
    (counts of anger, disgust, fear, happy, neutral, sad), ``numResponses``,
    ``agreement``, ``emoVote``, ``meanEmoResp`` … are kept under
    ``crema_d_<column>``.  The per-emotion level means (``meanAngerResp`` …
    ``meanSadRespNorm``) are -1 where no rater chose that emotion
    (``tabulateVotesV2.r`` fills them with ``rep(-1, 6)``): that -1 is no
    level, and is kept as NaN, never averaged as one.
    """
    qtype = _modality(modality)
    p = corpus_file(path, "tabulatedVotes.csv")
    report = ReadReport({}, str(p))
    header, rows = csv_rows(p, ("fileName", *RESPONSE_LETTERS))
    rowname = header[0] if header[0] not in ("fileName", *RESPONSE_LETTERS) else None
    if rowname is None:
        raise ConfigError("has no row-name column, so voice, face and audio-visual rows cannot be told apart.", source=str(p),
                          fix="pass processedResults/tabulatedVotes.csv as distributed (its first column is R's row name).")
    other = skipped = 0
    mine = []
    for n, r in enumerate(rows, 2):
        try:
            q = int(float(r[rowname])) // 100000
        except (ValueError, OverflowError):
            skipped += 1
            continue
        if q != qtype:
            other += 1
            continue
        mine.append((n, r))
    refuse_duplicates((Path(r["fileName"]).stem for _, r in mine), str(p), "clip")
    for n, r in mine:
        name = Path(r["fileName"]).stem
        # counts of raters: whole, finite, non-negative (a NaN or -3 would give a silent agreement of 0 or NaN)
        rec = record_from_counts({RESPONSE_LETTERS[c]: r[c] for c in RESPONSE_LETTERS}, whole=True,
                                 source=f"{p}, line {n} ({shown(name, 40)})")
        for k, v in r.items():
            if k in ("fileName", rowname, *RESPONSE_LETTERS):
                continue
            rec[f"crema_d_{k}"] = _level(k, v) if k != "emoVote" else v
        report.records[name] = rec
    report.dropped[f"rows of other rating modalities than {modality}"] = other
    report.dropped["rows with unreadable counts"] = skipped
    return report


#: ``tabulatedVotes.csv``'s per-emotion level means: -1 where no rater chose the emotion (``tabulateVotesV2.r``)
EMOTION_LEVEL_COLUMNS = tuple(f"mean{emo}Resp{norm}" for emo in ("Anger", "Disgust", "Fear", "Happy", "Neutral", "Sad")
                              for norm in ("", "Norm"))


def _level(column: str, value: str) -> float:
    """A ``tabulatedVotes.csv`` cell as a number; a per-emotion level mean of -1 (no rater chose it) as NaN."""
    x = as_float(value)
    return NAN if column in EMOTION_LEVEL_COLUMNS and x == -1 else x


def read_responses(path: str | os.PathLike, *, modality: str = "voice", emo_responses: str | os.PathLike | None = None) -> ReadReport:
    """CREMA-D ``finishedResponses.csv``: one row per rater response (``clipName``, ``respEmo``, ``queryType`` …).

    That file already has the repeated and practice responses removed (README);
    practice clips left in (``*_practice``) are dropped here too.  The authors'
    ``processFinishedResponses.R`` also drops responses whose first click came
    after 10 s (``ttr`` > 10000 in ``finishedEmoResponses.csv``, matched on
    session, query type and question number): pass ``emo_responses`` (or leave
    that file beside this one) and the same filter is applied, so the counts
    equal ``tabulatedVotes.csv``'s.
    """
    qtype = _modality(modality)
    p = corpus_file(path, "finishedResponses.csv")
    report = ReadReport({}, str(p))
    _, rows = csv_rows(p, ("clipName", "respEmo", "queryType"))
    distracted: set[tuple[str, str, str]] = set()
    emo_path = Path(emo_responses) if emo_responses else p.with_name("finishedEmoResponses.csv")
    if emo_responses and not emo_path.is_file():
        raise ConfigError("finishedEmoResponses.csv not found.", source=str(emo_path), fix="pass its path, or leave emo_responses out.")
    if emo_path.is_file():
        _, emo_rows = csv_rows(emo_path, ("sessionNums", "queryType", "questNum", "ttr"))
        distracted = {(_int_text(e["sessionNums"]), _int_text(e["queryType"]), _int_text(e["questNum"]))
                      for e in emo_rows if as_float(e["ttr"]) > 10000}
    by_clip: dict[str, list[str]] = {}
    n_practice = n_other = n_slow = 0
    for r in rows:
        if _int_text(r["queryType"]) != str(qtype):
            n_other += 1
            continue
        if "practice" in r["clipName"].lower():
            n_practice += 1
            continue
        if distracted and (_int_text(r.get("sessionNums", "")), _int_text(r["queryType"]), _int_text(r.get("questNum", ""))) in distracted:
            n_slow += 1
            continue
        by_clip.setdefault(Path(r["clipName"]).stem, []).append(r["respEmo"].strip().upper())
    table = {k.lower(): v for k, v in RESPONSE_LETTERS.items()}
    for clip, responses in by_clip.items():
        counts, unmapped, raw_max = vote(responses, table, report)
        report.records[clip] = record_from_counts(counts, unmapped=unmapped, raw_max=raw_max)
    report.dropped[f"responses of other rating modalities than {modality}"] = n_other
    report.dropped["practice responses"] = n_practice
    report.dropped["responses whose first click came after 10 s (dropped as the corpus's script does)"] = n_slow
    return report


def _int_text(x: str) -> str:
    f = as_float(x)
    return str(int(f)) if f == f else str(x).strip()



#: the listener files this module reads: format name → (reader, its options, what the file is)
VOTE_FORMATS = {
    "crema-d-tabulated": (read_tabulated, {"modality"}, "CREMA-D processedResults/tabulatedVotes.csv"),
    "crema-d-responses": (read_responses, {"modality", "emo_responses"}, "CREMA-D finishedResponses.csv"),
}
