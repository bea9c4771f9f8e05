"""RAVDESS (Ryerson Audio-Visual Database of Emotional Speech and Song): the manifest reader, the label map and
the file-name parser.

The corpus's README names each file by seven two-digit fields, ``03-01-06-01-02-01-12.wav``: modality
(01 full-AV, 02 video-only, 03 audio-only), vocal channel (01 speech, 02 song), emotion (01 neutral, 02 calm,
03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised), intensity (01 normal, 02 strong),
statement (01 "Kids are talking by the door", 02 "Dogs are sitting by the door"), repetition (01, 02) and
actor (01–24; odd-numbered actors are male, even-numbered female).  The files lie in ``Actor_NN/`` folders.

The README rules some codes out: "There is no strong intensity for the 'neutral' emotion"; the song set has no
disgust or surprised (its emotions are neutral, calm, happy, sad, angry and fearful); there are 24 actors; Actor_18
recorded no song ("there are no song files for Actor_18": the song set is 44 files × 23 actors = 1,012); and a
video-only recording has no audio.  A file whose name carries such codes is skipped and named, never read as what its
name says.  Speech and song are different tasks (a sung melody, and two classes fewer): the manifest holds one
vocal channel unless asked for both (``channel``), and says how many files of the other it left out.
"""

from __future__ import annotations

import os
from pathlib import Path
import re
from dataclasses import dataclass

from workbench.data.corpora.common import audio_files, finish, rel, require_dir
from workbench.data.manifest import Item, Manifest
from workbench.errors import ConfigError

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
#: the modality field: only audio-bearing recordings are usable (the audio distribution's .wav files are 03)
MODALITIES = {"01": "full-AV", "02": "video-only", "03": "audio-only"}
#: the vocal-channel field → the name ``prepare(channel=...)`` takes
CHANNELS = {"01": "speech", "02": "song"}
#: the emotions the song set was recorded in (the README: no disgust, no surprised)
SONG_EMOTIONS = ("01", "02", "03", "04", "05", "06")
#: the actors' field: 01–24
ACTORS = tuple(f"{n:02d}" for n in range(1, 25))
#: the actors the song set lacks (the README: "there are no song files for Actor_18"; 1,012 song files = 44 × 23 actors)
NO_SONG_ACTORS = ("18",)
#: the notes name this many files of each kind, then a count
SHOWN_FILES = 5

#: the distribution's folder of one actor's files, ``Actor_12``
_ACTOR_FOLDER = re.compile(r"^Actor_([0-9][0-9])$", re.IGNORECASE)
_FILE_NAME = re.compile(r"^(0[123])-(0[12])-(0[1-8])-(0[12])-(0[12])-(0[12])-([0-9][0-9])$")  # ASCII digits: \d takes ٠١ too


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


    def ruled_out(self) -> str:
        """Why the corpus's README rules these codes out, or ``""`` when they are a recording the corpus has."""
        if self.modality == "02":
            return "modality 02 is video-only: it has no audio"
        if self.emotion == "01" and self.intensity == "02":
            return "strong intensity (02) for neutral (01): the README says there is no strong neutral"
        if self.channel == "02" and self.emotion not in SONG_EMOTIONS:
            return f"song (02) with {CLASS_NAMES[self.emotion]} ({self.emotion}): the song set has no disgust or surprised"
        if self.channel == "02" and self.actor in NO_SONG_ACTORS:
            return f"song (02) by actor {self.actor}: the README says there are no song files for Actor_{self.actor}"
        if self.actor not in ACTORS:
            return f"actor {self.actor}: the corpus's actors are 01–24"
        return ""


def parse_name(stem: str) -> FileName | None:
    """The fields of a RAVDESS file name without its extension; None when it does not follow the naming."""
    m = _FILE_NAME.match(stem)
    return FileName(*m.groups()) if m else None


def prepare(corpus_dir: str | os.PathLike, *, channel: str = "speech") -> Manifest:
    """RAVDESS: ``Actor_12/03-01-06-01-02-01-12.wav`` = modality-channel-emotion-intensity-statement-repetition-actor.

    ``channel``: ``"speech"`` (default), ``"song"`` or ``"both"`` — the vocal channel(s) the manifest holds; the files
    of the other are counted in the notes.  Files whose codes the README rules out (:meth:`FileName.ruled_out`) are
    skipped and named in the notes with their reason; names that are not RAVDESS names are skipped and counted.
    """
    if channel not in (*CHANNELS.values(), "both"):
        raise ConfigError(f"unknown RAVDESS channel {channel!r}; expected speech, song or both.", source="--channel",
                          fix="pass --channel speech (default), song or both.")
    root = require_dir(corpus_dir, NAME)
    items, skipped, ruled_out, other, hidden, moved = [], [], [], {}, [], []
    for p in audio_files(root, hidden):
        name = parse_name(p.stem)
        if name is None:
            skipped.append(rel(p, root))
        elif name.ruled_out():
            ruled_out.append(f"{rel(p, root)} ({name.ruled_out()})")
        elif channel not in ("both", CHANNELS[name.channel]):
            other[CHANNELS[name.channel]] = other.get(CHANNELS[name.channel], 0) + 1
        else:
            items.append(_item(p, root, name))
            folder = _ACTOR_FOLDER.match(p.parent.name)
            if folder and folder.group(1) != name.actor:
                moved.append(f"{rel(p, root)} (folder Actor_{folder.group(1)}, name actor {name.actor})")
    if not items and other:
        raise ConfigError(f"every RAVDESS file with the corpus's naming is {', '.join(other)} ({sum(other.values())} files); "
                          f"none is {channel}.", source=str(root), fix=f"pass --channel {next(iter(other))} (or both).")
    items, extracted = _without_extracted_audio(items)
    manifest = finish(items, root, NAME, skipped, hidden=hidden)
    manifest.notes.extend(_notes(items, ruled_out, other))
    if moved:
        manifest.notes.append(f"{len(moved)} file(s) lie in another actor's folder than the actor their name gives; speaker and sex "
                              f"are the name's (the README's 7th field): {'; '.join(moved[:SHOWN_FILES])}"
                              + (f" … and {len(moved) - SHOWN_FILES} more" if len(moved) > SHOWN_FILES else "")
                              + ". Check that the files were not moved or renamed.")
    if extracted:
        manifest.notes.append(
            f"{len(extracted)} full-AV (01) files left out: the audio-only (03) file of the same take is in the folder, and the "
            "README's audio-only files are the recordings' audio, so each take would count twice: "
            + "; ".join(extracted[:SHOWN_FILES]) + (f" … and {len(extracted) - SHOWN_FILES} more" if len(extracted) > SHOWN_FILES else ""))
    return manifest


def _without_extracted_audio(items: list[Item]) -> tuple[list[Item], list[str]]:
    """The items less the full-AV (01) files whose take (the six other fields) is also there as audio-only (03): audio
    taken from the videos beside the audio-only download is the same take under a second name."""
    audio_only = {it.id[3:] for it in items if it.id.startswith("03-")}
    kept, dropped = [], []
    for it in items:
        if it.id.startswith("01-") and it.id[3:] in audio_only:
            dropped.append(f"{it.path} (= 03-{it.id[3:]})")
        else:
            kept.append(it)
    return kept, dropped


def _item(p: Path, root: Path, name: FileName) -> Item:
    return Item(
        id=p.stem, path=rel(p, root), label=name.emotion, emotion=LABEL_MAP[name.emotion],
        text=STATEMENTS[name.statement], speaker=f"Actor_{name.actor}",
        gender="male" if int(name.actor) % 2 == 1 else "female",  # odd actors are male, even female
        meta={
            "corpus": NAME,
            "modality": MODALITIES[name.modality],
            "vocal_channel": CHANNELS[name.channel],
            "intensity": "normal" if name.intensity == "01" else "strong",
            "statement": name.statement, "repetition": name.repetition,
            "label_name": CLASS_NAMES[name.emotion],
        },
    )


def _notes(items: list[Item], ruled_out: list[str], other: dict[str, int]) -> list[str]:
    """What the manifest holds of each vocal channel, what it left out and why."""
    held: dict[str, int] = {}
    for it in items:
        held[it.meta["vocal_channel"]] = held.get(it.meta["vocal_channel"], 0) + 1
    notes = [", ".join(f"{n} {ch} files" for ch, n in held.items()) + " in the manifest"
             + (" (speech and song are different tasks: break results down by meta vocal_channel; song has no disgust "
                "or surprised)" if len(held) > 1 else "")]
    for ch, n in other.items():
        notes.append(f"{n} {ch} files left out (vocal channel {'02' if ch == 'song' else '01'}): pass --channel "
                     f"{ch} or --channel both to include them")
    if ruled_out:
        notes.append(f"{len(ruled_out)} files skipped: their codes are ruled out by the RAVDESS README: "
                     + "; ".join(ruled_out[:SHOWN_FILES]) + (f" … and {len(ruled_out) - SHOWN_FILES} more" if len(ruled_out) > SHOWN_FILES else ""))
    return notes
