"""Berlin Database of Emotional Speech (EmoDB): the manifest reader, the letter map, the file-name parser and
the perception test's reader.

The corpus's documentation (``http://emodb.bilderbar.info/docu/``) names each file by seven characters:
positions 1–2 the speaker (``03``), 3–5 the text (``a01``), 6 the emotion as the initial of its German name,
7 the version (``a``, ``b`` … when a sentence was recorded more than once).  ``03a01Fa.wav`` is speaker 03
saying text a01 with *Freude* (happiness), version a.  The letters: **W** Ärger/Wut (anger), **L** Langeweile
(boredom), **E** Ekel (disgust), **A** Angst (fear), **F** Freude (happiness), **T** Trauer (sadness),
**N** neutral.  The perception test (``erkennung.txt``, in the distribution's top folder or ``lablaut/``)
gives per file the share of 20 listeners who recognised the intended emotion and who found it natural; only
utterances recognised by at least 80 % were released.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.data.corpora.common import audio_files, finish, rel, require_dir
from workbench.data.manifest import Item, Manifest
from workbench.data.votes import (
    attach, corpus_file, csv_rows, NAN, ReadReport, refuse_duplicates, UNMAPPED, VOTE_COLUMNS,
)

logger = logging.getLogger(__name__)

NAME = "emodb"

#: the emotion letter (6th character of the file name) → emotion2vec+ key ("" = no counterpart)
LABEL_MAP = {
    "W": "angry",  # Ärger (Wut)
    "L": "",  # Langeweile, boredom: no counterpart
    "E": "disgusted",  # Ekel
    "A": "fearful",  # Angst
    "F": "happy",  # Freude
    "T": "sad",  # Trauer
    "N": "neutral",
}
#: the emotion letter → the class's English name in the documentation (a head trained on EmoDB's own classes)
CLASS_NAMES = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness", "N": "neutral"}
#: other tools' words for a class that no common name gives: EmoBox's EmoDB metadata and its ``label_map.json``
#: spell boredom ``boredem`` (``"boredem": "Boredom"``)
LABEL_SPELLINGS = {"boredem": "L"}

SPEAKERS = {  # speaker code: (gender, age), from the corpus documentation
    "03": ("male", 31), "08": ("female", 34), "09": ("female", 21), "10": ("male", 32), "11": ("male", 26),
    "12": ("male", 30), "13": ("female", 32), "14": ("female", 35), "15": ("male", 25), "16": ("female", 31),
}
TEXTS = {
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
#: EmoDB's release: only utterances recognised by at least 80 % of the listeners (and natural for over 60 %) were kept
RELEASE_FLOOR = 0.8

_FILE_NAME = re.compile(r"^([0-9][0-9])([ab][0-9][0-9])([" + "".join(LABEL_MAP) + r"])([a-z])$")  # ASCII digits: \d takes ٠١ too


@dataclass(frozen=True)
class FileName:
    """The four fields of an EmoDB file name (``03a01Fa``)."""

    speaker: str  # "03"
    text: str  # "a01"
    emotion: str  # "F": a key of LABEL_MAP
    version: str  # "a"


def parse_name(stem: str) -> FileName | None:
    """The fields of an EmoDB file name without its extension (``"03a01Fa"``); None when it does not follow the naming."""
    m = _FILE_NAME.match(stem)
    return FileName(*m.groups()) if m else None


def prepare(corpus_dir: str | os.PathLike) -> Manifest:
    """Berlin EmoDB: ``wav/03a01Fa.wav`` = speaker 03, text a01, emotion F (Freude, happiness), version a.

    Listener judgements from ``erkennung.txt`` are attached when the distribution's file is found.
    """
    root = require_dir(corpus_dir, NAME)
    items, skipped, hidden = [], [], []
    for p in audio_files(root, hidden):
        name = parse_name(p.stem)
        if name is None or name.speaker not in SPEAKERS:
            skipped.append(rel(p, root))
            continue
        gender, age = SPEAKERS[name.speaker]
        items.append(Item(
            id=p.stem, path=rel(p, root), label=name.emotion, emotion=LABEL_MAP[name.emotion],
            text=TEXTS.get(name.text, ""), speaker=name.speaker, gender=gender,
            meta={"corpus": NAME, "text_id": name.text, "version": name.version, "age": age},
        ))
    manifest = finish(items, root, NAME, skipped, hidden=hidden)
    _attach_perception_test(manifest, root)
    return manifest


def _attach_perception_test(manifest: Manifest, root: Path) -> None:
    perception = find_erkennung(root)
    if perception is None and root.name.lower() == "wav":  # pointed at wav/: the file lies beside it
        perception = next((c for c in (root.parent / "erkennung.txt", root.parent / "lablaut" / "erkennung.txt") if c.is_file()), None)
    if perception is not None:
        # the perception test lists every recording, more than the 535 released: attach() counts the rest
        report = read_erkennung(perception)
        attached = attach(manifest, report)
        logger.info("emodb: %s (%s)", attached.summary(), report.summary())
        manifest.notes.append(f"listener judgements from {perception}: {attached.summary()}")
    else:
        manifest.notes.append(f"no erkennung.txt (EmoDB's perception test) under {root}"
                              + (f" or beside it in {root.parent}" if root.name.lower() == "wav" else "")
                              + ": no listener judgements attached; pass the corpus's top folder, which holds it (or its lablaut/).")


def find_erkennung(corpus_dir: str | os.PathLike) -> Path | None:
    """``erkennung.txt`` anywhere under an EmoDB folder (the distribution keeps it in ``lablaut/`` or the top)."""
    root = Path(corpus_dir)
    hits = sorted(p for p in root.rglob("*") if p.name.lower() == "erkennung.txt" and p.is_file())
    return hits[0] if hits else None


def infer_raters(percent: float, decimals: int, documented: int, *, limit: int = 60) -> tuple[int, int]:
    """The number of raters ``n`` and votes ``k`` behind a printed rate ``percent`` (``k / n`` rounded to ``decimals``).

    The documented count is kept when its ``k / documented`` rounds to the printed
    rate; otherwise the count closest to it (up to ``limit``) whose ``k / n`` does
    (EmoDB's 95,24 % is 20/21: 21 listeners, not 20).  When none fits, the
    documented count with the nearest whole ``k``.
    """
    tol = 0.5 * 10.0 ** -decimals + 1e-9

    def votes(n: int) -> int | None:
        k = int(round(percent * n / 100.0))
        return k if abs(100.0 * k / n - percent) <= tol else None

    if votes(documented) is not None:
        return documented, votes(documented)
    fitting = [n for n in range(1, limit + 1) if votes(n) is not None]
    if not fitting:
        return documented, int(round(percent * documented / 100.0))
    n = min(fitting, key=lambda m: (abs(m - documented), m))
    return n, votes(n)


def read_erkennung(path: str | os.PathLike, *, n_listeners: int = 20) -> ReadReport:
    """EmoDB's perception test ``erkennung.txt``: recognition and naturalness per file.

    The file is Latin-1, tab-separated, with the header ``Nr. Satz erkannt
    natuerlich``; ``Satz`` is the file name (``03a01Fa``), ``erkannt`` and
    ``natuerlich`` are percentages of the 20 listeners with decimal commas.
    It lists every recorded utterance, more than the 535 released: the caller
    keeps the rows its manifest has (:func:`~workbench.data.votes.attach` counts the rest).

    Recognition is agreement with the *intended* label, not a distribution:
    ``agreement`` = recognition / 100, ``n_raters`` = 20,
    ``votes_<intended>`` = the whole number of listeners who recognised it and
    every other class NaN (the file does not say how the remaining listeners
    answered).  For boredom (no counterpart) the recognised share goes to
    ``votes_unmapped``.  Rows whose rate is no ``k/20`` (the b03 sessions print
    95,24 = 20/21) get the rater count the rate implies (:func:`infer_raters`),
    and the report counts them.
    """
    p = corpus_file(path, "erkennung.txt")
    report = ReadReport({}, str(p), documented_raters=n_listeners)
    header, rows = csv_rows(p, ("Satz", "erkannt", "natuerlich"), encoding="latin-1", delimiter="\t")
    refuse_duplicates((Path(r["Satz"]).stem for r in rows), str(p), "file name")
    bad = 0
    for r in rows:
        name = Path(r["Satz"]).stem  # tolerate "03a01Fa.wav"
        parsed = parse_name(name)
        try:
            recog = float(r["erkannt"].replace(",", "."))
            natural = float(r["natuerlich"].replace(",", ".")) if r["natuerlich"] else NAN
        except ValueError:
            parsed = None
        if parsed is None or not 0 <= recog <= 100 or not (natural != natural or 0 <= natural <= 100):
            bad += 1
            continue
        intended = LABEL_MAP[parsed.emotion]
        text = r["erkannt"].strip().replace(",", ".")
        decimals = len(text.split(".", 1)[1]) if "." in text else 0
        raters, k = infer_raters(recog, decimals, n_listeners)
        if raters != n_listeners:
            report.raters_inferred[raters] = report.raters_inferred.get(raters, 0) + 1
        share = k / raters
        rec: dict[str, Any] = {c: NAN for c in VOTE_COLUMNS}
        rec[UNMAPPED] = NAN
        if intended:
            rec[f"votes_{intended}"] = float(k)
        else:
            rec[UNMAPPED] = float(k)
        rec.update({"n_raters": float(raters), "agreement": share,
                    # the intended class is the majority only when more than half recognised it
                    "listener_majority": intended if share > 0.5 else "",
                    "emodb_recognition_pct": recog, "emodb_naturalness_pct": natural})
        report.records[name] = rec
    report.dropped["rows that are not '<Nr> <file name> <recognition %> <naturalness %>'"] = bad
    return report


#: what the listener figures of this corpus can and cannot say, recognised by the column only its reader writes
LISTENER_FACTS = {
    "column": "emodb_recognition_pct",
    "agreement_floor": RELEASE_FLOOR,
    "floor_reason": "EmoDB released only utterances that at least 80 % of its listeners recognised",
    "distribution_reason": "EmoDB's perception test gives only the share of listeners who recognised the intended "
                           "emotion, not how the others answered: there is no vote distribution to compare with",
}
#: the listener files this module reads: format name → (reader, its options, what the file is)
VOTE_FORMATS = {"emodb": (read_erkennung, set(), "EmoDB erkennung.txt")}
