"""Listeners' judgements as manifest columns.

Every reader returns ``{item id: record}``; :func:`attach` writes the records
into the manifest items' ``meta`` (the manifest's extra columns).  A record has:

``votes_<key>`` for each of the nine ``LABEL_KEYS``
    **counts** of listener responses for that class (floats: a rater who names
    two categories in one IEMOCAP line gives half a vote to each, so that the
    counts of one item add up to its number of raters).  NaN where the corpus
    does not say (EmoDB gives only the recognition rate of the intended class:
    the other classes are NaN, never a guessed spread).
``votes_unmapped``
    responses for categories with no emotion2vec+ counterpart (IEMOCAP
    *frustration*, MSP-Podcast *contempt*, EmoDB *boredom*); kept so that
    ``sum(votes_*) + votes_unmapped == n_raters`` wherever the counts are known.
``n_raters``
    number of responses the figures come from.
``agreement``
    share of responses that agree with the majority (largest count / n_raters,
    over every category, mapped or not); for EmoDB the share that recognised
    the intended emotion (the corpus's own figure).
``listener_majority``
    the emotion2vec+ key of the majority ("" on a tie or when the majority
    category has no counterpart).

The corpus's own figures are kept under their own prefixed names
(``emodb_recognition_pct``, ``crema_d_meanEmoResp``, ``iemocap_val_mean`` …).
The distribution a metric uses is :func:`vote_distribution`: the counts over
the nine classes divided by their sum (unmapped votes left out and counted).
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from workbench.errors import ConfigError
from workbench.labels import LABEL_KEYS
from workbench.limits import check_fields, read_text_capped, shown
from workbench.data.manifest import generic_emotion, Manifest

logger = logging.getLogger(__name__)

VOTE_COLUMNS: tuple[str, ...] = tuple(f"votes_{k}" for k in LABEL_KEYS)
UNMAPPED = "votes_unmapped"
#: the columns every listener record has (besides the corpus's own figures)
LISTENER_COLUMNS: tuple[str, ...] = (*VOTE_COLUMNS, UNMAPPED, "n_raters", "agreement", "listener_majority")
NAN = float("nan")

#: EmoDB perception test: letters of the file name → nine-class key ("" = boredom, no counterpart)
EMODB_LETTERS = {"W": "angry", "L": "", "E": "disgusted", "A": "fearful", "F": "happy", "T": "sad", "N": "neutral"}
#: CREMA-D response letters (README of the corpus: A anger, D disgust, F fear, H happy, N neutral, S sad)
CREMA_D_LETTERS = {"A": "angry", "D": "disgusted", "F": "fearful", "H": "happy", "N": "neutral", "S": "sad"}
#: CREMA-D ``queryType``: what the raters were shown
CREMA_D_MODALITIES = {"voice": 1, "face": 2, "audio-visual": 3}
#: IEMOCAP evaluators' category names → nine-class key ("" = no counterpart); Excited joins
#: happy as in the corpus loader's 4-class convention (workbench.data.corpora.LABEL_MAPS["iemocap"])
IEMOCAP_CATEGORIES = {
    "neutral state": "neutral", "neutral": "neutral", "frustration": "", "anger": "angry", "sadness": "sad",
    "happiness": "happy", "excited": "happy", "surprise": "surprised", "fear": "fearful", "disgust": "disgusted",
    "other": "other",
}
#: MSP-Podcast classes, long names (labels_detailed.csv) and letters (labels_consensus.csv)
MSP_PODCAST_CLASSES = {
    "angry": "angry", "a": "angry", "sad": "sad", "s": "sad", "happy": "happy", "h": "happy",
    "surprise": "surprised", "u": "surprised", "fear": "fearful", "f": "fearful", "disgust": "disgusted",
    "d": "disgusted", "contempt": "", "c": "", "neutral": "neutral", "n": "neutral", "other": "other", "o": "other",
}


@dataclass
class ReadReport:
    """What a reader read: records by item id, and what it left out (with counts)."""

    records: dict[str, dict[str, Any]]
    source: str
    dropped: dict[str, int] = field(default_factory=dict)  # reason → rows
    unknown_labels: dict[str, int] = field(default_factory=dict)  # category → responses
    #: rows whose rates contradict the documented rater count: inferred count → rows (EmoDB b03: k/21, not k/20)
    raters_inferred: dict[int, int] = field(default_factory=dict)
    documented_raters: int | None = None

    def summary(self) -> str:
        parts = [f"{len(self.records)} items with listener judgements from {self.source}"]
        parts += [f"{n} {why}" for why, n in self.dropped.items() if n]
        parts += [f"{rows} row(s) have rates k/{n}, not k/{self.documented_raters}: {n} raters, inferred from the data"
                  for n, rows in sorted(self.raters_inferred.items())]
        if self.unknown_labels:
            parts.append("categories with no emotion2vec+ counterpart (kept in votes_unmapped): "
                         + ", ".join(f"{k} ({v})" for k, v in sorted(self.unknown_labels.items())))
        return "; ".join(parts)


# ---------------------------------------------------------------------------
# records
# ---------------------------------------------------------------------------
#: the most responses one item can have (CREMA-D has about 10 per clip and modality, MSP-Podcast at most a few dozen)
MAX_COUNT = 1_000_000


def check_count(value: Any, what: str, *, source: str | None = None, whole: bool = False) -> float:
    """A vote count as a float: finite, non-negative, at most :data:`MAX_COUNT`, and whole when ``whole``.

    Raises :class:`ConfigError` naming the value otherwise: NaN, infinite or negative counts would give
    agreements of 0 or NaN and cross-entropies of 0 without a word.
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = NAN
    if not (v == v and 0 <= v <= MAX_COUNT) or (whole and not v.is_integer()):
        kind = "a whole number" if whole else "a number"
        raise ConfigError(f"{what} is {shown(value)}; a vote count must be {kind} from 0 to {MAX_COUNT:,}.", source=source,
                          fix="pass the corpus's file unchanged; a hand-made file needs counts of responses.")
    return v


def record_from_counts(counts: Mapping[str, float], *, unmapped: float = 0.0, raw_max: float | None = None,
                       whole: bool = False, source: str | None = None) -> dict[str, Any]:
    """A listener record from vote counts per nine-class key.

    Parameters
    ----------
    counts
        ``{key: count}`` for keys of ``LABEL_KEYS`` (others refused); absent keys count 0.
    unmapped
        Responses for categories with no counterpart.
    raw_max
        The largest count over the corpus's own categories, when several of them
        map onto one key (IEMOCAP happiness and excited): agreement is then the
        share of the corpus's majority category, not of the merged class.
    """
    bad = [k for k in counts if k not in LABEL_KEYS]
    if bad:
        raise ConfigError(f"vote counts name unknown classes {bad}; expected keys of {', '.join(LABEL_KEYS)}.",
                          fix="map the corpus's categories onto the nine keys first.")
    counts = {k: check_count(v, f"the count of {k}", source=source, whole=whole) for k, v in counts.items()}
    unmapped = check_count(unmapped, "the count of unmapped responses", source=source, whole=whole)
    rec: dict[str, Any] = {f"votes_{k}": float(counts.get(k, 0.0)) for k in LABEL_KEYS}
    rec[UNMAPPED] = float(unmapped)
    n = float(sum(counts.values()) + unmapped)
    rec["n_raters"] = n
    top = max([*counts.values(), unmapped, 0.0])
    if raw_max is not None:
        top = max(raw_max, unmapped)
    rec["agreement"] = top / n if n > 0 else NAN
    best = [k for k in LABEL_KEYS if counts.get(k, 0.0) == max(counts.values(), default=0.0) and counts.get(k, 0.0) > 0]
    rec["listener_majority"] = best[0] if len(best) == 1 and counts[best[0]] > unmapped else ""
    return rec


def _vote(labels: Iterable[str], table: Mapping[str, str], report: ReadReport) -> tuple[dict[str, float], float, float]:
    """Counts per key, unmapped count and the largest raw-category count of one item's responses.

    Each element of ``labels`` is one rater's response: a string, or a list of
    categories (split evenly: 1/k each).
    """
    counts: dict[str, float] = {}
    raw: dict[str, float] = {}
    unmapped = 0.0
    for response in labels:
        cats = [response] if isinstance(response, str) else list(response)
        cats = [c for c in cats if c.strip()]
        if not cats:
            continue
        w = 1.0 / len(cats)
        for c in cats:
            name = c.strip()
            raw[name.lower()] = raw.get(name.lower(), 0.0) + w
            key = table.get(name.lower())
            if key is None:
                raise ConfigError(f"listener category {name!r} is not one this reader knows; known: {', '.join(sorted(table))}.",
                                  source=report.source, fix="pass the corpus's file unchanged, or use the generic form with a label map.")
            if key:
                counts[key] = counts.get(key, 0.0) + w
            else:
                unmapped += w
                report.unknown_labels[name] = report.unknown_labels.get(name, 0) + 1
    return counts, unmapped, max(raw.values(), default=0.0)


def vote_distribution(record: Mapping[str, Any], classes: Iterable[str] = LABEL_KEYS):
    """The listeners' distribution over ``classes``: counts / their sum, shape ``(len(classes),)``.

    NaN everywhere when a count among ``classes`` is unknown (NaN) or no vote
    falls in ``classes``.  Unmapped votes and votes outside ``classes`` are
    left out (the restriction is renormalised).
    """
    import numpy as np

    v = np.array([_float(record.get(f"votes_{k}")) for k in classes], dtype=float)
    if np.isnan(v).any() or v.sum() <= 0:
        return np.full(len(v), np.nan)
    return v / v.sum()


def _float(x: Any) -> float:
    if x is None or x == "":
        return NAN
    try:
        return float(x)
    except (TypeError, ValueError):
        return NAN


# ---------------------------------------------------------------------------
# file helpers
# ---------------------------------------------------------------------------
def _file(path: str | os.PathLike, what: str) -> Path:
    p = Path(os.path.abspath(Path(path).expanduser()))
    if not p.is_file():
        raise ConfigError(f"{what} not found.", source=str(p), fix=f"pass the path of the corpus's {what}.")
    return p


def _csv_rows(p: Path, required: Iterable[str], *, encoding: str = "utf-8-sig", delimiter: str = ",") -> tuple[list[str], list[dict]]:
    # bounded: bytes (after gunzip), rows and field length are capped before a row is parsed (workbench.limits)
    text = read_text_capped(p, encoding=encoding, what="a votes table")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    del text
    header: list[str] | None = None
    out: list[dict] = []
    try:  # one pass, one dict per row: the rows are never held twice (a million-row table)
        for r in reader:
            if not any(c.strip() for c in r):
                continue
            check_fields([r], source=f"{p}, line {reader.line_num}")
            if header is None:
                header = [h.strip().strip('"') for h in r]
                missing = [c for c in required if c not in header]
                if missing:
                    raise ConfigError(f"lacks the column(s) {missing}; its header is {header}.", source=str(p),
                                      fix="pass the corpus's file unchanged (see the corpus's README for its columns).")
                continue
            if len(r) == len(header) - 1 and header[0] == "":  # R's write.csv: unnamed row-name column
                r = ["", *r]
            out.append({h: (r[i].strip() if i < len(r) else "") for i, h in enumerate(header)})
    except csv.Error as exc:  # a field over csv's own limit (128 kB), a NUL byte
        raise ConfigError(f"line {reader.line_num}: {exc}.", source=str(p),
                          fix="pass the corpus's file unchanged (a broken quote runs fields together).") from None
    if header is None:
        raise ConfigError("is empty.", source=str(p), fix="pass the corpus's file unchanged.")
    return header, out


def _refuse_duplicates(names: Iterable[str], source: str, what: str = "item") -> None:
    """Refuse a table that names an item twice (the last row would silently win), naming the duplicates."""
    seen: set[str] = set()
    dups: list[str] = []
    for n in names:
        if n in seen and n not in dups:
            dups.append(n)
        seen.add(n)
    if dups:
        raise ConfigError(f"names {len(dups)} {what}(s) more than once: {', '.join(shown(d, 40) for d in dups[:10])}"
                          f"{' …' if len(dups) > 10 else ''}; which row counts would be a guess.", source=source,
                          fix="keep one row per item (pass the corpus's file unchanged).")


# ---------------------------------------------------------------------------
# EmoDB
# ---------------------------------------------------------------------------
_EMODB_NAME = re.compile(r"^(\d\d)([ab]\d\d)([WLEAFTN])([a-z])$")
#: EmoDB's release: only utterances recognised by at least 80 % of the listeners (and natural for over 60 %) were kept
EMODB_RELEASE_FLOOR = 0.8


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


def read_emodb_erkennung(path: str | os.PathLike, *, n_listeners: int = 20) -> ReadReport:
    """EmoDB's perception test ``erkennung.txt``: recognition and naturalness per file.

    The file is Latin-1, tab-separated, with the header ``Nr. Satz erkannt
    natuerlich``; ``Satz`` is the file name (``03a01Fa``), ``erkannt`` and
    ``natuerlich`` are percentages of the 20 listeners with decimal commas.
    It lists every recorded utterance, more than the 535 released: the caller
    keeps the rows its manifest has (:func:`attach` counts the rest).

    Recognition is agreement with the *intended* label, not a distribution:
    ``agreement`` = recognition / 100, ``n_raters`` = 20,
    ``votes_<intended>`` = the whole number of listeners who recognised it and
    every other class NaN (the file does not say how the remaining listeners
    answered).  For boredom (no counterpart) the recognised share goes to
    ``votes_unmapped``.  Rows whose rate is no ``k/20`` (the b03 sessions print
    95,24 = 20/21) get the rater count the rate implies (:func:`infer_raters`),
    and the report counts them.
    """
    p = _file(path, "erkennung.txt")
    report = ReadReport({}, str(p), documented_raters=n_listeners)
    header, rows = _csv_rows(p, ("Satz", "erkannt", "natuerlich"), encoding="latin-1", delimiter="\t")
    _refuse_duplicates((Path(r["Satz"]).stem for r in rows), str(p), "file name")
    bad = 0
    for r in rows:
        name = Path(r["Satz"]).stem  # tolerate "03a01Fa.wav"
        m = _EMODB_NAME.match(name)
        try:
            recog = float(r["erkannt"].replace(",", "."))
            natural = float(r["natuerlich"].replace(",", ".")) if r["natuerlich"] else NAN
        except ValueError:
            m = None
        if not m or not 0 <= recog <= 100 or not (natural != natural or 0 <= natural <= 100):
            bad += 1
            continue
        intended = EMODB_LETTERS[m.group(3)]
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


# ---------------------------------------------------------------------------
# CREMA-D
# ---------------------------------------------------------------------------
def _crema_modality(modality: str) -> int:
    if modality not in CREMA_D_MODALITIES:
        raise ConfigError(f"unknown CREMA-D modality {modality!r}; expected one of {', '.join(CREMA_D_MODALITIES)}.",
                          fix="use 'voice' for the audio-only ratings (what a speech model hears).")
    return CREMA_D_MODALITIES[modality]


def read_crema_d_tabulated(path: str | os.PathLike, *, modality: str = "voice") -> ReadReport:
    """CREMA-D ``processedResults/tabulatedVotes.csv``: vote counts per clip and rating modality.

    The file holds one row per clip *and* query type (voice only, face only,
    audio-visual), written by the corpus's ``tabulateVotesV2.r`` with R's row
    names ``100000 × queryType + clipNum`` in its first, unnamed column: the
    rows of ``modality`` are picked by that number.  Columns ``A D F H N S``
    (counts of anger, disgust, fear, happy, neutral, sad), ``numResponses``,
    ``agreement``, ``emoVote``, ``meanEmoResp`` … are kept under
    ``crema_d_<column>``.
    """
    qtype = _crema_modality(modality)
    p = _file(path, "tabulatedVotes.csv")
    report = ReadReport({}, str(p))
    header, rows = _csv_rows(p, ("fileName", *CREMA_D_LETTERS))
    rowname = header[0] if header[0] not in ("fileName", *CREMA_D_LETTERS) else None
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
    _refuse_duplicates((Path(r["fileName"]).stem for _, r in mine), str(p), "clip")
    for n, r in mine:
        name = Path(r["fileName"]).stem
        # counts of raters: whole, finite, non-negative (a NaN or -3 would give a silent agreement of 0 or NaN)
        rec = record_from_counts({CREMA_D_LETTERS[c]: r[c] for c in CREMA_D_LETTERS}, whole=True,
                                 source=f"{p}, line {n} ({shown(name, 40)})")
        for k, v in r.items():
            if k in ("fileName", rowname, *CREMA_D_LETTERS):
                continue
            rec[f"crema_d_{k}"] = _float(v) if k != "emoVote" else v
        report.records[name] = rec
    report.dropped[f"rows of other rating modalities than {modality}"] = other
    report.dropped["rows with unreadable counts"] = skipped
    return report


def read_crema_d_responses(path: str | os.PathLike, *, modality: str = "voice", emo_responses: str | os.PathLike | None = None) -> ReadReport:
    """CREMA-D ``finishedResponses.csv``: one row per rater response (``clipName``, ``respEmo``, ``queryType`` …).

    That file already has the repeated and practice responses removed (README);
    practice clips left in (``*_practice``) are dropped here too.  The authors'
    ``processFinishedResponses.R`` also drops responses whose first click came
    after 10 s (``ttr`` > 10000 in ``finishedEmoResponses.csv``, matched on
    session, query type and question number): pass ``emo_responses`` (or leave
    that file beside this one) and the same filter is applied, so the counts
    equal ``tabulatedVotes.csv``'s.
    """
    qtype = _crema_modality(modality)
    p = _file(path, "finishedResponses.csv")
    report = ReadReport({}, str(p))
    _, rows = _csv_rows(p, ("clipName", "respEmo", "queryType"))
    distracted: set[tuple[str, str, str]] = set()
    emo_path = Path(emo_responses) if emo_responses else p.with_name("finishedEmoResponses.csv")
    if emo_responses and not emo_path.is_file():
        raise ConfigError("finishedEmoResponses.csv not found.", source=str(emo_path), fix="pass its path, or leave emo_responses out.")
    if emo_path.is_file():
        _, emo_rows = _csv_rows(emo_path, ("sessionNums", "queryType", "questNum", "ttr"))
        distracted = {(_int_text(e["sessionNums"]), _int_text(e["queryType"]), _int_text(e["questNum"]))
                      for e in emo_rows if _float(e["ttr"]) > 10000}
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
    table = {k.lower(): v for k, v in CREMA_D_LETTERS.items()}
    for clip, responses in by_clip.items():
        counts, unmapped, raw_max = _vote(responses, table, report)
        report.records[clip] = record_from_counts(counts, unmapped=unmapped, raw_max=raw_max)
    report.dropped[f"responses of other rating modalities than {modality}"] = n_other
    report.dropped["practice responses"] = n_practice
    report.dropped["responses whose first click came after 10 s (dropped as the corpus's script does)"] = n_slow
    return report


def _int_text(x: str) -> str:
    f = _float(x)
    return str(int(f)) if f == f else str(x).strip()


# ---------------------------------------------------------------------------
# IEMOCAP
# ---------------------------------------------------------------------------
_IEMOCAP_TURN = re.compile(r"^\[(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)\]\s+(Ses\d\d[FM]_\S+)\s+(\w+)\s+\[([^\]]*)\]")
_IEMOCAP_CAT = re.compile(r"^C-([EFM])(\d+):\s*(.*)$")
_IEMOCAP_DIM = re.compile(r"^A-([EFM])(\d+):\s*(.*)$")
_IEMOCAP_DIM_VALUES = re.compile(r"(val|act|dom)\s*(\d+(?:\.\d+)?)", re.IGNORECASE)


def read_iemocap_evaluation(paths: str | os.PathLike | Iterable[str | os.PathLike], *, include_self: bool = False) -> ReadReport:
    """IEMOCAP ``EmoEvaluation/*.txt``: per-evaluator categories and dimensions of every turn.

    A block starts with the summary line ``[start - end]<TAB>Ses01F_impro01_F000<TAB>neu<TAB>[V, A, D]``;
    then ``C-E2:<TAB>Neutral state;<TAB>(comment)`` lines give each evaluator's
    categories (several separated by ``;``: each of k categories gets 1/k vote),
    ``C-F1:``/``C-M1:`` the actors' self-evaluations (left out of the votes
    unless ``include_self``; kept in ``iemocap_self``), and
    ``A-E3:<TAB>val 3; act 2; dom  2;<TAB>()`` the evaluators' dimensional
    ratings (their means kept as ``iemocap_val_mean`` …; self-ratings excluded).
    Categories map through ``IEMOCAP_CATEGORIES``; *Frustration* has no
    counterpart and counts in ``votes_unmapped``.  ``paths``: files or folders
    (every ``*.txt`` in a folder, recursively for a corpus root).
    """
    files: list[Path] = []
    for raw in ([paths] if isinstance(paths, (str, os.PathLike)) else list(paths)):
        p = Path(raw).expanduser()
        if p.is_dir():
            files += sorted(f for f in p.rglob("*.txt") if f.parent.name == "EmoEvaluation" or p.name == "EmoEvaluation")
        elif p.is_file():
            files.append(p)
        else:
            raise ConfigError("IEMOCAP evaluation file or folder not found.", source=str(p), fix="pass SessionN/dialog/EmoEvaluation or the corpus root.")
    if not files:
        raise ConfigError("no EmoEvaluation/*.txt files found.", source=str(paths), fix="pass SessionN/dialog/EmoEvaluation or the corpus root.")
    report = ReadReport({}, ", ".join(str(f) for f in files[:3]) + (" …" if len(files) > 3 else ""))
    for f in files:
        turn: dict[str, Any] | None = None
        blocks: list[dict[str, Any]] = []
        for line in read_text_capped(f, errors="replace", what="an IEMOCAP evaluation file").splitlines():
            line = line.strip()
            m = _IEMOCAP_TURN.match(line)
            if m:
                turn = {"id": m.group(3), "label": m.group(4), "vad": m.group(5), "cats": [], "self": [], "dims": []}
                blocks.append(turn)
                continue
            if turn is None:
                continue
            m = _IEMOCAP_CAT.match(line)
            if m:
                who, body = m.group(1), m.group(3)
                cats = [c.strip() for c in body.split("(")[0].split(";") if c.strip()]
                # "Other:specification" keeps only the category name
                cats = [c.split(":")[0].strip() for c in cats]
                if who == "E":
                    turn["cats"].append(cats)
                else:  # the actors' own evaluation: kept apart, a vote only when asked for
                    turn["self"].append(cats)
                    if include_self:
                        turn["cats"].append(cats)
                continue
            m = _IEMOCAP_DIM.match(line)
            if m and m.group(1) == "E":
                vals = {k.lower(): float(v) for k, v in _IEMOCAP_DIM_VALUES.findall(m.group(3))}
                turn["dims"].append(vals)
        for b in blocks:
            counts, unmapped, raw_max = _vote(b["cats"], IEMOCAP_CATEGORIES, report)
            rec = record_from_counts(counts, unmapped=unmapped, raw_max=raw_max)
            rec["iemocap_label"] = b["label"]
            rec["iemocap_self"] = "; ".join("/".join(c) for c in b["self"])
            for dim in ("val", "act", "dom"):
                xs = [d[dim] for d in b["dims"] if dim in d]
                rec[f"iemocap_{dim}_mean"] = sum(xs) / len(xs) if xs else NAN
            rec["iemocap_n_dimensional_raters"] = float(len(b["dims"]))
            report.records[b["id"]] = rec
    return report


# ---------------------------------------------------------------------------
# MSP-Podcast
# ---------------------------------------------------------------------------
def read_msp_podcast(detailed: str | os.PathLike, *, consensus: str | os.PathLike | None = None) -> ReadReport:
    """MSP-Podcast ``Labels/labels_detailed.csv`` (one row per rater) and, optionally, ``labels_consensus.csv``.

    Detailed rows: ``FileName`` (``MSP-PODCAST_0001_0008.wav``), the rater's
    primary class in ``EmoClass_Major`` (or ``EmoClass`` in older releases;
    long names *Angry, Sad, Happy, Surprise, Fear, Disgust, Contempt, Neutral,
    Other*) and ``EmoAct``/``EmoVal``/``EmoDom`` (1–7; means kept as
    ``msp_act_mean`` …).  *Contempt* has no counterpart (``votes_unmapped``).
    The consensus file's ``EmoClass`` letter (``X`` = no agreement) and its
    dimensions are kept as ``msp_consensus_*``.
    """
    p = _file(detailed, "labels_detailed.csv")
    report = ReadReport({}, str(p))
    header, rows = _csv_rows(p, ("FileName",))
    cls_col = "EmoClass_Major" if "EmoClass_Major" in header else "EmoClass" if "EmoClass" in header else None
    if cls_col is None:
        raise ConfigError(f"has neither EmoClass_Major nor EmoClass; its header is {header}.", source=str(p),
                          fix="pass Labels/labels_detailed.csv as distributed.")
    by_file: dict[str, list[dict]] = {}
    for r in rows:
        by_file.setdefault(Path(r["FileName"]).stem, []).append(r)
    for name, rs in by_file.items():
        counts, unmapped, raw_max = _vote([r[cls_col] for r in rs], MSP_PODCAST_CLASSES, report)
        rec = record_from_counts(counts, unmapped=unmapped, raw_max=raw_max)
        for dim, col in (("act", "EmoAct"), ("val", "EmoVal"), ("dom", "EmoDom")):
            xs = [_float(r.get(col)) for r in rs if col in r]
            xs = [x for x in xs if x == x]
            rec[f"msp_{dim}_mean"] = sum(xs) / len(xs) if xs else NAN
        report.records[name] = rec
    if consensus is not None:
        cp = _file(consensus, "labels_consensus.csv")
        _, crow = _csv_rows(cp, ("FileName", "EmoClass"))
        for r in crow:
            rec = report.records.get(Path(r["FileName"]).stem)
            if rec is None:
                continue
            rec["msp_consensus_class"] = r["EmoClass"]
            for col in ("EmoAct", "EmoVal", "EmoDom"):
                if col in r:
                    rec[f"msp_consensus_{col[3:].lower()}"] = _float(r[col])
    return report


# ---------------------------------------------------------------------------
# generic forms
# ---------------------------------------------------------------------------
def record_from_rater_labels(labels: str | Iterable[str], *, label_map: Mapping[str, str] | None = None, source: str = "rater_labels") -> dict[str, Any]:
    """A record from one item's per-rater labels (``"angry;angry;neutral"`` or a list).

    Each label maps through ``label_map`` (corpus label → key, "" = no
    counterpart) or, without one, the common English emotion names of
    :func:`workbench.data.manifest.generic_emotion`; a label neither knows is refused.
    """
    items = [x.strip() for x in (labels.split(";") if isinstance(labels, str) else labels) if str(x).strip()]
    counts: dict[str, float] = {}
    unmapped = 0.0
    unknown = []
    for lab in items:
        key = (label_map or {}).get(lab, (label_map or {}).get(lab.lower())) if label_map else None
        if key is None:
            key = generic_emotion(lab)
            if not key:
                unknown.append(lab)
                continue
        if key:
            if key not in LABEL_KEYS:
                raise ConfigError(f"label map sends {lab!r} to {key!r}, not one of {', '.join(LABEL_KEYS)}.", source=source,
                                  fix="map every label to one of the nine keys, or to \"\" when it has no counterpart.")
            counts[key] = counts.get(key, 0.0) + 1
        else:
            unmapped += 1
    if unknown:
        raise ConfigError(f"rater labels {sorted(set(unknown))} are not emotion names this reader knows "
                          f"(known: {', '.join(LABEL_KEYS)} and common names such as 'anger').",
                          source=source, fix="pass a label map {label: key or \"\"} for the corpus's own labels.")
    return record_from_counts(counts, unmapped=unmapped)


def record_from_vote_columns(row: Mapping[str, Any], *, source: str = "votes") -> dict[str, Any] | None:
    """A record from a row that has ``votes_<key>`` columns (counts); None when it has none.

    Column names ``votes_<x>`` with ``x`` not one of the nine keys (nor
    ``unmapped``) are refused with the valid names listed.
    """
    names = [k for k in row if str(k).startswith("votes_")]
    if not names:
        return None
    bad = [k for k in names if k not in VOTE_COLUMNS and k != UNMAPPED]
    if bad:
        raise ConfigError(f"unknown vote column(s) {bad}; valid: {', '.join((*VOTE_COLUMNS, UNMAPPED))}.", source=source,
                          fix="name each vote column votes_<one of the nine keys>, or votes_unmapped.")
    counts = {}
    for k in VOTE_COLUMNS:
        if k in row:
            v = _float(row[k])
            if v == v or str(row[k]).strip().lower() not in ("", "nan", "none"):  # empty: no count; "inf", "-3": refused
                v = check_count(row[k], k, source=source)
            counts[k[len("votes_"):]] = 0.0 if v != v else v
    unmapped = _float(row.get(UNMAPPED))
    if unmapped == unmapped:
        unmapped = check_count(unmapped, UNMAPPED, source=source)
    return record_from_counts(counts, unmapped=unmapped if unmapped == unmapped else 0.0)  # NaN (absent) counts none


def read_generic(path: str | os.PathLike, *, id_column: str = "id", label_map: Mapping[str, str] | None = None) -> ReadReport:
    """A CSV with an id column and either ``rater_labels`` (``"angry;angry;neutral"``) or ``votes_<key>`` count columns."""
    p = _file(path, "votes file")
    report = ReadReport({}, str(p))
    header, rows = _csv_rows(p, (id_column,))
    _refuse_duplicates((r[id_column] for r in rows), str(p))
    if "rater_labels" not in header and not any(h.startswith("votes_") for h in header):
        raise ConfigError(f"has neither a rater_labels column nor votes_<key> columns; its header is {header}.", source=str(p),
                          fix="add rater_labels (labels separated by ';') or one votes_<key> column per class.")
    for n, r in enumerate(rows, 1):
        src = f"{p}, row {n}"
        if "rater_labels" in header and r["rater_labels"].strip():
            report.records[r[id_column]] = record_from_rater_labels(r["rater_labels"], label_map=label_map, source=src)
        else:
            rec = record_from_vote_columns({k: v for k, v in r.items() if k.startswith("votes_")}, source=src)
            if rec is not None:
                report.records[r[id_column]] = rec
    return report


def records_from_manifest(manifest: Manifest, *, label_map: Mapping[str, str] | None = None) -> ReadReport:
    """Listener records from the manifest's own extra columns (``rater_labels`` or ``votes_<key>``).

    For HF datasets and lhotse manifests whose supervisions carry these fields
    as custom columns (they arrive in ``meta``).
    """
    report = ReadReport({}, manifest.source or manifest.name or "manifest")
    for it in manifest.items:
        src = f"{report.source}, item {it.id}"
        if it.meta.get("rater_labels"):
            report.records[it.id] = record_from_rater_labels(it.meta["rater_labels"], label_map=label_map, source=src)
        else:
            rec = record_from_vote_columns({k: v for k, v in it.meta.items() if str(k).startswith("votes_")}, source=src)
            if rec is not None:
                report.records[it.id] = rec
    return report


# ---------------------------------------------------------------------------
# into the manifest
# ---------------------------------------------------------------------------
@dataclass
class AttachReport:
    n_attached: int
    n_items_without: int
    n_records_not_in_manifest: int
    examples_not_in_manifest: list[str]

    def summary(self) -> str:
        return (f"listener judgements attached to {self.n_attached} items; {self.n_items_without} items have none; "
                f"{self.n_records_not_in_manifest} rows name items the manifest does not have"
                + (f" (e.g. {', '.join(self.examples_not_in_manifest[:3])})" if self.examples_not_in_manifest else ""))


def attach(manifest: Manifest, report: ReadReport) -> AttachReport:
    """Write each record into the ``meta`` of the manifest item with the same id (in place).

    Rows for items the manifest lacks (EmoDB's unreleased recordings) are
    counted, never an error; the count is logged.
    """
    ids = {it.id for it in manifest.items}
    n = 0
    for it in manifest.items:
        rec = report.records.get(it.id)
        if rec is None:
            continue
        it.meta.update(rec)
        n += 1
    extra = [k for k in report.records if k not in ids]
    out = AttachReport(n, len(manifest.items) - n, len(extra), extra[:10])
    logger.info("%s: %s", report.source, out.summary())
    return out


def has_listeners(frame) -> bool:
    """Whether a results/manifest DataFrame (with ``meta`` JSON or flat columns) carries listener columns."""
    return "agreement" in listener_frame(frame).columns and bool(listener_frame(frame)["agreement"].notna().any())


def listener_frame(frame):
    """The listener columns of a results or manifest DataFrame, flat, one row per input row (same index).

    Reads flat ``votes_*``/``n_raters``/``agreement`` columns when present,
    else the ``meta`` JSON column.  Missing values are NaN.
    """
    import json

    import pandas as pd

    cols = list(LISTENER_COLUMNS)
    if all(c in frame.columns for c in ("agreement", "n_raters")):
        out = frame.reindex(columns=cols)
    elif "meta" in frame.columns:
        rows = []
        for m in frame["meta"]:
            d = m if isinstance(m, dict) else (json.loads(m) if isinstance(m, str) and m.strip() else {})
            rows.append({c: d.get(c) for c in cols})
        out = pd.DataFrame(rows, index=frame.index, columns=cols)
    else:
        out = pd.DataFrame(index=frame.index, columns=cols)
    num = [c for c in cols if c != "listener_majority"]
    out[num] = out[num].apply(pd.to_numeric, errors="coerce")
    out["listener_majority"] = out["listener_majority"].fillna("").astype(str)
    return out


def corpus_listener_facts(frame) -> dict[str, Any]:
    """What a corpus's listener figures can and cannot say, read from the corpus's own columns in ``frame``.

    Returns ``{"agreement_floor", "floor_reason", "distribution_reason"}`` (None where
    nothing is known): EmoDB released only utterances recognised by at least 80 %
    of its listeners, so lower agreement bands are empty by design, and it gives
    only the share that recognised the intended emotion, so no vote distribution.
    """
    import json

    def has(column: str) -> bool:
        if column in frame.columns:
            return bool(frame[column].notna().any())
        if "meta" in frame.columns:
            for m in frame["meta"]:
                d = m if isinstance(m, dict) else (json.loads(m) if isinstance(m, str) and m.strip() else {})
                if d.get(column) is not None:
                    return True
        return False

    if has("emodb_recognition_pct"):
        return {"agreement_floor": EMODB_RELEASE_FLOOR,
                "floor_reason": "EmoDB released only utterances that at least 80 % of its listeners recognised",
                "distribution_reason": "EmoDB's perception test gives only the share of listeners who recognised the intended "
                                       "emotion, not how the others answered: there is no vote distribution to compare with"}
    return {"agreement_floor": None, "floor_reason": None, "distribution_reason": None}


def find_emodb_erkennung(corpus_dir: str | os.PathLike) -> Path | None:
    """``erkennung.txt`` anywhere under an EmoDB folder (the distribution keeps it in ``lablaut/`` or the top)."""
    root = Path(corpus_dir)
    hits = sorted(p for p in root.rglob("*") if p.name.lower() == "erkennung.txt" and p.is_file())
    return hits[0] if hits else None


FORMATS = {
    "emodb": "EmoDB erkennung.txt",
    "crema-d-tabulated": "CREMA-D processedResults/tabulatedVotes.csv",
    "crema-d-responses": "CREMA-D finishedResponses.csv",
    "iemocap": "IEMOCAP EmoEvaluation folder or files",
    "msp-podcast": "MSP-Podcast Labels/labels_detailed.csv",
    "generic": "CSV with an id column and rater_labels or votes_<key> columns",
}


def read_votes(fmt: str, path: str | os.PathLike, **options) -> ReadReport:
    """Dispatch to the reader of ``fmt`` (one of ``FORMATS``); unknown formats and options are refused."""
    readers = {
        "emodb": (read_emodb_erkennung, set()),
        "crema-d-tabulated": (read_crema_d_tabulated, {"modality"}),
        "crema-d-responses": (read_crema_d_responses, {"modality", "emo_responses"}),
        "iemocap": (read_iemocap_evaluation, {"include_self"}),
        "msp-podcast": (read_msp_podcast, {"consensus"}),
        "generic": (read_generic, {"id_column", "label_map"}),
    }
    if fmt not in readers:
        raise ConfigError(f"unknown votes format {fmt!r}; known: {', '.join(f'{k} ({v})' for k, v in FORMATS.items())}.",
                          fix="pass one of them.")
    fn, allowed = readers[fmt]
    given = {k: v for k, v in options.items() if v is not None}
    bad = sorted(set(given) - allowed)
    if bad:
        raise ConfigError(f"option(s) {bad} do not apply to the {fmt} format; it takes {sorted(allowed) or 'none'}.",
                          fix="leave them out.")
    return fn(path, **given)
