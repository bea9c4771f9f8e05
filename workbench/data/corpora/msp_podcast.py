"""MSP-Podcast: the reader of its raters' labels (the audio comes with its own partition files, read elsewhere).

``Labels/labels_detailed.csv`` has one row per rater and file: ``FileName`` (``MSP-PODCAST_0001_0008.wav``),
the primary class ``EmoClass_Major`` (``EmoClass`` in older releases) by its long name, and the ratings
``EmoAct``/``EmoVal``/``EmoDom`` on 1–7.  ``labels_consensus.csv`` gives one row per file, the class as a
letter (``A`` angry, ``S`` sad, ``H`` happy, ``U`` surprise, ``F`` fear, ``D`` disgust, ``C`` contempt,
``N`` neutral, ``O`` other, ``X`` no agreement).
"""

from __future__ import annotations

import os
from pathlib import Path

from workbench.data.votes import as_float, corpus_file, csv_rows, NAN, ReadReport, record_from_counts, vote
from workbench.errors import ConfigError

NAME = "msp-podcast"

#: every class once: consensus letter → (long name, emotion2vec+ key; "" = no counterpart)
_CLASSES = {
    "a": ("angry", "angry"), "s": ("sad", "sad"), "h": ("happy", "happy"), "u": ("surprise", "surprised"),
    "f": ("fear", "fearful"), "d": ("disgust", "disgusted"), "c": ("contempt", ""), "n": ("neutral", "neutral"),
    "o": ("other", "other"),
}
#: the classes by long name (labels_detailed.csv) and by letter (labels_consensus.csv) → emotion2vec+ key
VOTE_CLASSES = {**{name: key for name, key in _CLASSES.values()}, **{letter: key for letter, (_, key) in _CLASSES.items()}}


def read_labels(detailed: str | os.PathLike, *, consensus: str | os.PathLike | None = None) -> ReadReport:
    """MSP-Podcast ``Labels/labels_detailed.csv`` (one row per rater) and, optionally, ``labels_consensus.csv``.

    Detailed rows: ``FileName`` (``MSP-PODCAST_0001_0008.wav``), the rater's
    primary class in ``EmoClass_Major`` (or ``EmoClass`` in older releases;
    long names *Angry, Sad, Happy, Surprise, Fear, Disgust, Contempt, Neutral,
    Other*) and ``EmoAct``/``EmoVal``/``EmoDom`` (1–7; means kept as
    ``msp_act_mean`` …).  *Contempt* has no counterpart (``votes_unmapped``).
    The consensus file's ``EmoClass`` letter (``X`` = no agreement) and its
    dimensions are kept as ``msp_consensus_*``.
    """
    p = corpus_file(detailed, "labels_detailed.csv")
    report = ReadReport({}, str(p))
    header, rows = csv_rows(p, ("FileName",))
    cls_col = "EmoClass_Major" if "EmoClass_Major" in header else "EmoClass" if "EmoClass" in header else None
    if cls_col is None:
        raise ConfigError(f"has neither EmoClass_Major nor EmoClass; its header is {header}.", source=str(p),
                          fix="pass Labels/labels_detailed.csv as distributed.")
    by_file: dict[str, list[dict]] = {}
    for r in rows:
        by_file.setdefault(Path(r["FileName"]).stem, []).append(r)
    for name, rs in by_file.items():
        counts, unmapped, raw_max = vote([r[cls_col] for r in rs], VOTE_CLASSES, report)
        rec = record_from_counts(counts, unmapped=unmapped, raw_max=raw_max)
        for dim, col in (("act", "EmoAct"), ("val", "EmoVal"), ("dom", "EmoDom")):
            xs = [as_float(r.get(col)) for r in rs if col in r]
            xs = [x for x in xs if x == x]
            rec[f"msp_{dim}_mean"] = sum(xs) / len(xs) if xs else NAN
        report.records[name] = rec
    if consensus is not None:
        cp = corpus_file(consensus, "labels_consensus.csv")
        _, crow = csv_rows(cp, ("FileName", "EmoClass"))
        for r in crow:
            rec = report.records.get(Path(r["FileName"]).stem)
            if rec is None:
                continue
            rec["msp_consensus_class"] = r["EmoClass"]
            for col in ("EmoAct", "EmoVal", "EmoDom"):
                if col in r:
                    rec[f"msp_consensus_{col[3:].lower()}"] = as_float(r[col])
    return report


#: the listener files this module reads: format name → (reader, its options, what the file is)
VOTE_FORMATS = {"msp-podcast": (read_labels, {"consensus"}, "MSP-Podcast Labels/labels_detailed.csv")}
