"""The words: timings from an aligner or a subtitle file, and the model's frames inside each word.

:func:`read_alignment` reads word (or phone) timings from

==========================  ============================================================
format                      read with
==========================  ============================================================
Praat TextGrid              praatio; the tier named ``words``/``word`` or the one given
CTM (``.ctm``)              ``file channel start duration word [confidence]`` lines
SubRip (``.srt``)           webvtt-py; one "word" per subtitle (a sentence, usually)
WebVTT (``.vtt``)           webvtt-py; one "word" per cue
lhotse (``.jsonl[.gz]``)    lhotse; a supervision's ``alignment['word']`` (or the tier given)
==========================  ============================================================

and returns :class:`Word` s in seconds, checked (finite, ``end > start >= 0``, inside the
clip when its duration is known), sorted by start, as an :class:`Alignment`.  A span that fails a check (end before
start, a time that cannot be read, a negative time, past the end of the clip) is left out and the others are used, as
subtitle and alignment tools do: ``Alignment.left_out`` names each by its line in the file (a TextGrid's by tier and
interval number) and the fact
(:func:`left_out_words` says them in one line), and every command that reads an alignment shows them.  A file of
which no span can be used is refused.

:func:`per_word_scores` scores each word the way the clip is scored: the mean of the frame
*logits* inside the word, then softmax (the clip's score is the softmax of the mean of all its
frame logits, :mod:`workbench.model.network`; the mean of frame *probabilities* is not that
and is not used).  :func:`per_word_attribution` gives each word its share of the attribution
mass; :func:`words_record` puts both in ``explanation.json``.
The model has 50 frames per second (:data:`workbench.model.network.FRAME_RATE`); frame ``t``
covers ``[t/50, (t+1)/50)`` s, and it is *inside* a word when its centre ``(t + 0.5)/50``
is in ``[start, end)`` — so every frame belongs to at most one of a run of adjacent words.
A word shorter than a frame that holds no frame centre gets the one frame under its
midpoint.

Long audio with a timed transcript (SRT/WebVTT subtitles, or any alignment) is scored span by
span in :mod:`workbench.explain.transcript`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from workbench.errors import ConfigError
from workbench.serialize import decode_sniffed_text, read_bytes_capped, read_text_capped, shown
from workbench.model.network import FRAME_RATE

#: tier names taken as the word tier when none is given (case-insensitive)
WORD_TIER_NAMES = ("words", "word")
#: suffixes :func:`read_alignment` understands, and :func:`alignment_beside` looks for
ALIGNMENT_SUFFIXES = (".TextGrid", ".ctm", ".srt", ".vtt")
#: seconds an alignment may reach past the end of the clip (rounding of the aligner's frames)
END_SLACK_S = 0.02
#: the largest alignment file read, bytes after decompression (a phone-level TextGrid of an hour is about 5 MB)
MAX_ALIGNMENT_BYTES = 20_000_000
#: the most words (or phones) one clip's alignment may hold: 120 s of speech has about 400 words and 1,500 phones
MAX_WORDS = 5_000
#: the longest word label, characters
MAX_LABEL_CHARS = 200
#: why a span is left out (the ``fact`` of a left-out record) and how it is said
LEFT_OUT_FACTS = {"end_before_start": "end before start", "zero_length": "ends where it starts",
                  "unparsable_time": "unparsable time", "negative_time": "negative time", "beyond_clip": "beyond the clip",
                  "malformed_line": "not a line of the format"}
#: left-out spans named in one line of text (all are counted, and all are in the record)
LEFT_OUT_SHOWN = 5
#: a subtitle cue's timing line that webvtt-py reads (its own pattern, anchored)
_CUE = re.compile(r"^(\d+:)?\d{1,2}:\d{2}[.,]\d{3}\s+-->\s+(\d+:)?\d{1,2}:\d{2}[.,]\d{3}(\s|$)")


@dataclass(frozen=True)
class Word:
    """One timed unit of a transcript: ``start`` and ``end`` in seconds, ``label`` as written."""

    start: float
    end: float
    label: str
    line: int | None = field(default=None, compare=False)  # the line of the file it was read from, when the format has one


class Alignment(list):
    """Words (a list of :class:`Word`, sorted by start) and ``left_out``: the spans of the file left out of them, in
    file order, one dict each: ``line`` (``None`` where the format has no line per span: TextGrid, lhotse), ``start``,
    ``end`` (seconds, ``None`` when they cannot be read), ``text``, ``fact`` (a key of :data:`LEFT_OUT_FACTS`), ``detail``."""

    def __init__(self, words: Sequence[Word] = (), left_out: Sequence[dict] = ()):
        super().__init__(words)
        self.left_out = list(left_out)


def _left(fact: str, *, line: int | None = None, start: Any = None, end: Any = None, text: Any = "", detail: str = "") -> dict:
    """One left-out span's record (times kept only when they are finite numbers: the record goes into JSON)."""
    def t(v: Any) -> float | None:
        return float(v) if isinstance(v, (int, float, np.floating, np.integer)) and np.isfinite(v) else None

    return {"line": line, "start": t(start), "end": t(end), "text": str(text)[:MAX_LABEL_CHARS], "fact": fact, "detail": detail}


def left_out_words(left_out: Sequence[dict]) -> str:
    """The left-out spans in one line: ``2 spans of the alignment left out: line 6: end before start (2.000–1.000 s) …``
    (the first :data:`LEFT_OUT_SHOWN` named, all counted); ``""`` for none."""
    if not left_out:
        return ""

    def one(r: dict) -> str:
        where = f"line {r['line']}" if r.get("line") is not None else f"the span {shown(r.get('text') or '', 40)}"
        times = f" ({r['start']:.3f}–{r['end']:.3f} s)" if r.get("start") is not None and r.get("end") is not None else ""
        return f"{where}: {LEFT_OUT_FACTS.get(r.get('fact'), r.get('fact'))}{times}" + (f", {r['detail']}" if r.get("detail") else "")

    n = len(left_out)
    more = f"; … and {n - LEFT_OUT_SHOWN} more" if n > LEFT_OUT_SHOWN else ""
    return f"{n} span{'s' if n != 1 else ''} of the alignment left out: " + "; ".join(map(one, left_out[:LEFT_OUT_SHOWN])) + more


def read_alignment(path: str | os.PathLike, *, tier: str | None = None, duration: float | None = None,
                   utterance: str | None = None) -> list[Word]:
    """Word timings from a TextGrid, CTM, SRT, WebVTT or lhotse supervision file.

    Parameters
    ----------
    path : path
        The alignment; its suffix says the format (:data:`ALIGNMENT_SUFFIXES`, or
        ``.jsonl``/``.jsonl.gz``/``.json`` for a lhotse supervision manifest).
    tier : str, optional
        TextGrid tier name (default: ``words`` or ``word``), or lhotse alignment type
        (default ``word``; e.g. ``phone``).
    duration : float, optional
        The clip's duration in seconds: a word that ends more than 20 ms past it is refused.
    utterance : str, optional
        For a CTM or lhotse file holding several utterances: the one to read (CTM file
        column, or supervision/recording id).

    Returns
    -------
    Alignment
        A list of :class:`Word` sorted by start time, times in seconds from the start of the file; its ``left_out``
        names each span left out (end before start, a time that cannot be read, a negative time, past the clip) by
        line and fact.

    Raises
    ------
    ConfigError
        An unreadable file, an unknown format or tier, no span that can be used.

    Examples
    --------
    >>> with open("clip.ctm", "w") as f:
    ...     _ = f.write("clip 1 0.10 0.40 hello\\nclip 1 0.60 0.20 world\\n")
    >>> words = wb.read_alignment("clip.ctm", duration=1.0)
    >>> [(w.label, round(w.start, 2), round(w.end, 2)) for w in words]
    [('hello', 0.1, 0.5), ('world', 0.6, 0.8)]
    """
    p = Path(os.path.abspath(Path(path).expanduser()))
    if not p.is_file():
        raise ConfigError("the alignment file does not exist.", source=str(p), fix="check the path (a manifest's relative paths start at its folder).")
    name = p.name.lower()
    # bounded before any parser sees it: size after gunzip (a small gzip bomb), then lines
    n_lines = read_bytes_capped(p, max_bytes=MAX_ALIGNMENT_BYTES, what="an alignment").count(b"\n")
    if n_lines > 20 * MAX_WORDS:  # a TextGrid spends about 4 lines per interval
        raise ConfigError(f"has {n_lines:,} lines, more than an alignment of one clip can hold (at most {MAX_WORDS:,} words).",
                          source=str(p), fix="split the alignment per clip.")
    try:
        if name.endswith(".textgrid"):
            words = _read_textgrid(p, tier)
        elif name.endswith(".ctm"):
            words = _read_ctm(p, utterance)
        elif name.endswith(".srt") or name.endswith(".vtt"):
            words = _read_subtitles(p)
        elif name.endswith((".jsonl", ".jsonl.gz", ".json")):
            words = _read_lhotse(p, tier or "word", utterance)
        else:
            raise ConfigError(f"the alignment format of {p.name!r} is not known.", source=str(p),
                              fix=f"give a file ending in {', '.join(ALIGNMENT_SUFFIXES)}, .jsonl or .jsonl.gz (lhotse).")
    except ConfigError:
        raise
    except Exception as exc:  # OSError, bad text, and the parsers' own error types (praatio, webvtt, lhotse): no common base
        raise ConfigError(f"cannot read the alignment ({type(exc).__name__}: {exc}).", source=str(p),
                          fix="check that the file is complete and in the format its suffix says.") from None
    return validate_words(words, duration=duration, source=str(p))


def _bad_time(w: Word, duration: float | None) -> tuple[str, str]:
    """Why a span's times cannot be used, as ``(fact, detail)``; ``("", "")`` when they can."""
    if not (np.isfinite(w.start) and np.isfinite(w.end)):
        return "unparsable_time", "a time that is not a number"
    if w.start < 0 or w.end < 0:
        return "negative_time", ""
    if w.end < w.start:
        return "end_before_start", ""
    if w.end == w.start:
        return "zero_length", ""
    if duration is not None and w.end > duration + END_SLACK_S:
        return "beyond_clip", f"the clip is {duration:.3f} s"
    return "", ""


def validate_words(words: Sequence[Word], *, duration: float | None = None, source: str = "alignment") -> Alignment:
    """Check and sort words: at most :data:`MAX_WORDS` spans (those left out counted), labels of at most
    :data:`MAX_LABEL_CHARS` characters (else refused); a word whose times fail (not finite, negative, ``end <= start``, ``end > duration + 20 ms``) is left out
    and named in ``left_out`` (with those ``words`` already left out when it is an :class:`Alignment`).  Refused when
    no word is left."""
    n = len(words) + len(getattr(words, "left_out", []))  # a span left out is recorded too: it counts
    if n > MAX_WORDS:
        raise ConfigError(f"holds {n:,} words; one clip's alignment holds at most {MAX_WORDS:,} "
                          "(explain draws every word, and memory grows with them).", source=source,
                          fix="pass the alignment of this clip alone (utterance=ID for a file of several).")
    out, left = [], list(getattr(words, "left_out", []))
    for w in words:
        if len(str(w.label)) > MAX_LABEL_CHARS:
            raise ConfigError(f"a word label of {len(str(w.label)):,} characters at {w.start}–{w.end} s; the cap is "
                              f"{MAX_LABEL_CHARS}.", source=source, fix="fix the alignment (a broken line runs words together).")
        fact, detail = _bad_time(w, duration)
        if fact:
            left.append(_left(fact, line=w.line, start=w.start, end=w.end, text=w.label, detail=detail))
        else:
            out.append(Word(float(w.start), float(w.end), str(w.label), w.line))
    left.sort(key=lambda r: float("inf") if r["line"] is None else r["line"])  # file order (stable where lines are unknown)
    if left and not out:
        raise ConfigError(f"none of its {len(left)} span{'s' if len(left) != 1 else ''} can be used ({left_out_words(left)}).",
                          source=source, fix="fix those spans' times (seconds from the start of the recording, start < end), "
                                             "or check that the file belongs to this recording.")
    return Alignment(sorted(out, key=lambda w: (w.start, w.end)), left)


def _textgrid_text(p: Path) -> str:
    """A TextGrid's text: UTF-16 after its byte-order mark (Praat's own), UTF-16 without one (other tools', which
    praatio's reader took: it tried UTF-16 first), else UTF-8, told apart by :func:`decode_sniffed_text`; refused,
    naming the file, the byte and the fix, when it is none of them (a Latin-1 or GBK export, a binary TextGrid)."""
    return decode_sniffed_text(read_bytes_capped(p, max_bytes=MAX_ALIGNMENT_BYTES, what="an alignment"), source=str(p),
                               what="a text TextGrid", advice="save it from Praat as a text file (Save as text file; Praat > "
                               "Preferences > Text writing preferences: UTF-8), or ")


def _read_textgrid(p: Path, tier: str | None) -> Alignment:
    """The labelled intervals of the word tier, each checked here: praatio's ``openTextgrid`` refuses a whole file for
    one interval whose end is not after its start (``TextgridStateError``, whatever ``reportingMode`` says: that option
    governs tiers reaching past the grid), so the file is parsed with praatio's own parser (``textgrid_io``) and its
    tier built here; a bad interval is left out and named by tier, interval number (Praat's, blanks counted) and times."""
    from praatio.utilities import textgrid_io

    parsed = textgrid_io.parseTextgridStr(_textgrid_text(p), includeEmptyIntervals=True)["tiers"]
    tiers = {t["name"]: t for t in parsed}
    names = [t["name"] for t in parsed]
    if tier is None:
        chosen = next((n for n in names if n.lower() in WORD_TIER_NAMES), None)
        if chosen is None:
            raise ConfigError(f"no tier named {' or '.join(WORD_TIER_NAMES)}; the tiers are {names}.", source=str(p),
                              fix="pass the word tier's name (--tier NAME, or read_alignment(path, tier=NAME)).")
    elif tier not in names:
        raise ConfigError(f"no tier named {tier!r}; the tiers are {names}.", source=str(p), fix="pass one of those names.")
    else:
        chosen = tier
    if names.count(chosen) > 1:
        raise ConfigError(f"{names.count(chosen)} tiers are named {chosen!r} (the tiers are {names}); which holds the words "
                          "is not known.", source=str(p), fix="rename one of them in Praat, or pass the other's name.")
    if tiers[chosen]["class"] != "IntervalTier":
        raise ConfigError(f"tier {chosen!r} is a point tier; words need intervals.", source=str(p),
                          fix=f"choose an interval tier among {names}.")
    out = Alignment()
    for k, (start, end, label) in enumerate(tiers[chosen]["entries"], start=1):
        if not str(label).strip():
            continue
        where = f"interval {k} of tier {chosen!r}"
        try:
            w = Word(float(start), float(end), str(label))
        except (TypeError, ValueError):
            out.left_out.append(_left("unparsable_time", text=label, detail=f"{where}: xmin {shown(str(start), 30)}, "
                                                                           f"xmax {shown(str(end), 30)}"))
            continue
        fact, _ = _bad_time(w, None)
        if fact:
            out.left_out.append(_left(fact, start=w.start, end=w.end, text=label, detail=where))
        else:
            out.append(w)
    return out


def _read_ctm(p: Path, utterance: str | None) -> list[Word]:
    rows: dict[str, Alignment] = {}
    for n, line in enumerate(read_text_capped(p, max_bytes=MAX_ALIGNMENT_BYTES, what="an alignment").splitlines(), start=1):
        if not line.strip() or line.startswith(";;"):
            continue
        parts = line.split()
        into = rows.setdefault(parts[0], Alignment())
        if len(parts) < 5:
            into.left_out.append(_left("malformed_line", line=n, detail=f"{len(parts)} fields; a CTM line is "
                                                                       "`file channel start duration word [confidence]`"))
            continue
        try:
            start, dur = float(parts[2]), float(parts[3])
        except ValueError:
            into.left_out.append(_left("unparsable_time", line=n, text=parts[4],
                                       detail=f"start {shown(parts[2], 30)} or duration {shown(parts[3], 30)} is not a number of seconds"))
            continue
        into.append(Word(start, start + dur, parts[4], n))
    if utterance is not None:
        if utterance not in rows:
            raise ConfigError(f"no utterance {utterance!r}; the file holds {sorted(rows)}.", source=str(p), fix="pass one of those.")
        return rows[utterance]
    if len(rows) > 1:
        raise ConfigError(f"the CTM holds {len(rows)} utterances ({sorted(rows)[:5]} …); it is not known which is this clip's.",
                          source=str(p), fix="pass utterance=ID, or split the CTM per clip.")
    return next(iter(rows.values()), Alignment())


def _timing_lines(text: str) -> list[tuple[int, str]]:
    """The cue timing lines of a subtitle file, ``(line number, line)``: in each block of lines between blank lines, the
    first line holding ``-->`` among its first two (a cue number or identifier may come before it; a caption's own text
    may hold ``-->`` too, and is not a timing line)."""
    out, block = [], []
    for n, line in enumerate([*text.splitlines(), ""], start=1):
        if line.strip():
            block.append((n, line.strip()))
            continue
        out += [next((b for b in block[:2] if "-->" in b[1]), None)] if block else []
        block = []
    return [t for t in out if t is not None]


def _read_subtitles(p: Path) -> list[Word]:
    import webvtt

    # the caption's *_in_seconds are whole seconds in webvtt-py 0.6: read milliseconds
    captions = webvtt.from_srt(str(p)) if p.name.lower().endswith(".srt") else webvtt.read(str(p))
    # webvtt-py skips a cue whose timing line it cannot read (a minus sign, 'nan'): each is left out and named by its line
    timings = _timing_lines(read_text_capped(p, max_bytes=MAX_ALIGNMENT_BYTES, what="an alignment", encoding="utf-8-sig"))
    good = [(n, line) for n, line in timings if _CUE.match(line)]
    if len(captions) != len(good):  # the reader and this count disagree: which cue is which cannot be said
        n, line = next(((n, line) for n, line in timings if not _CUE.match(line)), timings[min(len(captions), len(timings) - 1)]
                       if timings else (0, ""))
        raise ConfigError(f"{len(captions)} of its {len(timings)} cues can be read, and it is not known which of them were "
                          f"(a cue at line {n}: {shown(line, 80)}); the others would be left out unsaid.", source=str(p),
                          fix="write each cue as its number (SRT), then HH:MM:SS,mmm --> HH:MM:SS,mmm (SRT) or HH:MM:SS.mmm "
                              "(WebVTT) from the start of the recording, then its text, with a blank line between cues.")
    left = [_left("negative_time" if re.search(r"(^|\s)-\s*\d", line) else "unparsable_time", line=n, detail=shown(line, 80))
            for n, line in timings if not _CUE.match(line)]
    return Alignment([Word(c.start_time.in_milliseconds() / 1000.0, c.end_time.in_milliseconds() / 1000.0, " ".join(c.text.split()), n)
                      for (n, _), c in zip(good, captions) if c.text.strip()], left)


def _read_lhotse(p: Path, kind: str, utterance: str | None) -> list[Word]:
    try:
        from lhotse import load_manifest
    except ImportError:
        raise ConfigError("reading a lhotse alignment needs lhotse.", source=str(p), fix="pip install lhotse.") from None
    manifest = load_manifest(p)
    sups = list(manifest)
    if sups and hasattr(sups[0], "supervisions"):  # a CutSet: its cuts' supervisions
        sups = [s for cut in sups for s in cut.supervisions]
    if utterance is not None:
        sups = [s for s in sups if utterance in (s.id, s.recording_id)]
        if not sups:
            raise ConfigError(f"no supervision or recording {utterance!r} in the manifest.", source=str(p), fix="pass an id the manifest holds.")
    aligned = [s for s in sups if s.alignment and kind in s.alignment]
    if not aligned:
        kinds = sorted({k for s in sups for k in (s.alignment or {})})
        raise ConfigError(f"no supervision has a {kind!r} alignment (alignment types present: {kinds or 'none'}).", source=str(p),
                          fix="align the corpus first (e.g. lhotse's workflows), or pass tier=ONE_OF_THOSE.")
    recordings = {s.recording_id for s in aligned}
    if len(recordings) > 1:
        raise ConfigError(f"the manifest aligns {len(recordings)} recordings; it is not known which is this clip's.", source=str(p),
                          fix="pass utterance=RECORDING_ID.")
    # lhotse keeps alignment times relative to the recording, like the supervision's start
    return [Word(a.start, a.start + a.duration, a.symbol) for s in aligned for a in s.alignment[kind]]


def alignment_beside(audio_path: str | os.PathLike) -> Path | None:
    """The same-stem alignment file next to an audio file (``x.wav`` → ``x.TextGrid``/``.ctm``/``.srt``/``.vtt``), if one exists."""
    a = Path(audio_path)
    for suffix in ALIGNMENT_SUFFIXES:
        for cand in (a.with_suffix(suffix), a.with_suffix(suffix.lower())):
            if cand.is_file():
                return cand
    return None


def item_alignment(item: Any, *, root: str | os.PathLike | None = None, duration: float | None = None) -> list[Word] | None:
    """Words of a manifest item: its ``words`` column (relative to ``root``), else a same-stem file beside the audio.

    Returns ``None`` when the item has neither.  A ``words`` path that does not exist is an error
    (the manifest promised it); a missing file beside the audio is not.
    """
    given = (getattr(item, "meta", None) or {}).get("words") or ""
    audio = Path(item.path) if root is None or Path(item.path).is_absolute() else Path(root) / item.path
    if str(given).strip():
        p = Path(str(given))
        p = p if p.is_absolute() or root is None else Path(root) / p
        if not p.is_file():
            raise ConfigError(f"the words file {str(given)!r} of item {item.id!r} does not exist.", source=str(p),
                              fix="fix the words column (paths are relative to the manifest's folder), or clear it.")
        return read_alignment(p, duration=duration)
    beside = alignment_beside(audio)
    return read_alignment(beside, duration=duration) if beside is not None else None


# ---------------------------------------------------------------------------
# frames inside words
# ---------------------------------------------------------------------------
def word_frames(words: Sequence[Word], n_frames: int, *, frame_rate: float = FRAME_RATE) -> list[np.ndarray]:
    """For each word, the indices of the frames inside it (module docstring), within ``range(n_frames)``."""
    centres = (np.arange(n_frames) + 0.5) / frame_rate
    out = []
    for w in words:
        idx = np.flatnonzero((centres >= w.start) & (centres < w.end))
        if not len(idx):  # shorter than a frame: the frame under its midpoint, when the clip has one
            mid = int(np.floor((w.start + w.end) / 2 * frame_rate))
            idx = np.array([mid]) if 0 <= mid < n_frames else np.array([], dtype=int)
        out.append(idx)
    return out


#: the frame-membership convention, in words (stored with every per-word figure)
FRAME_CONVENTION = (f"model frame t covers [t/{FRAME_RATE}, (t+1)/{FRAME_RATE}) s and belongs to a word when its centre "
                    f"(t + 0.5)/{FRAME_RATE} s lies in [start, end); a word holding no frame centre gets the one frame under its midpoint")
#: how a word's score is computed, in words
WORD_SCORE_RULE = "softmax of the mean of the frame logits inside the word (as the clip's score is the softmax of the mean of all frame logits)"


def _softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - np.max(z))
    return e / e.sum()


def word_scores(frame_logits: np.ndarray, words: Sequence[Word], *, frame_rate: float = FRAME_RATE) -> list[np.ndarray | None]:
    """Each word's class probabilities: softmax of the mean frame logit over its frames (``None`` when it has none).

    ``frame_logits`` (T, n_labels); a class the checkpoint does not use is ``-inf`` in every frame and 0 here.
    """
    fl = np.asarray(frame_logits, dtype=np.float64)
    return [(_softmax(fl[idx].mean(axis=0)) if len(idx) else None) for idx in word_frames(words, len(fl), frame_rate=frame_rate)]


def per_word_scores(prediction: Any, words: Sequence[Word]):
    """Each word scored like the clip: softmax of the mean frame logit over the frames inside it.

    Parameters
    ----------
    prediction : Prediction
        With frame logits (``granularity="frame"``): ``frame_logits`` of shape (T, n_labels).
    words : sequence of Word

    Returns
    -------
    DataFrame
        One row per word: ``word`` (index), ``label``, ``start``, ``end`` (s), ``first_frame``,
        ``n_frames``, ``top`` (the class with the highest score), then one column per class
        label with its probability (NaN for a word with no frame inside the clip).  A word that
        covers the whole clip gets exactly the clip's scores.  ``attrs["rule"]`` and
        ``attrs["frame_convention"]`` say how (:data:`WORD_SCORE_RULE`, :data:`FRAME_CONVENTION`).

    Examples
    --------
    >>> model = wb.load_model("tiny", device="cpu")
    >>> t = np.arange(16000) / 16000
    >>> clip = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    >>> pred = model.predict([clip], granularity="frame")[0]
    >>> with open("tone.ctm", "w") as f:
    ...     _ = f.write("tone 1 0.00 0.50 first\\ntone 1 0.50 0.50 second\\n")
    >>> table = wb.per_word_scores(pred, wb.read_alignment("tone.ctm", duration=1.0))
    >>> list(table["label"]), bool(table["n_frames"].gt(0).all()), bool(table["top"].isin(model.labels).all())
    (['first', 'second'], True, True)
    """
    import pandas as pd

    fl = prediction.frame_logits
    if fl is None:
        raise ConfigError("the prediction has no frame scores.", source=str(getattr(prediction, "id", "prediction")),
                          fix="predict with granularity='frame' (the engine's frame option) to score words.")
    labels = list(prediction.labels)
    rows = []
    for i, (w, idx, p) in enumerate(zip(words, word_frames(words, len(fl)), word_scores(fl, words))):
        p = p if p is not None else np.full(len(labels), np.nan)
        rows.append({"word": i, "label": w.label, "start": w.start, "end": w.end,
                     "first_frame": int(idx[0]) if len(idx) else -1, "n_frames": len(idx),
                     "top": labels[int(np.argmax(p))] if len(idx) else "", **dict(zip(labels, p.tolist()))})
    out = pd.DataFrame(rows, columns=["word", "label", "start", "end", "first_frame", "n_frames", "top", *labels])
    out.attrs.update(rule=WORD_SCORE_RULE, frame_convention=FRAME_CONVENTION)
    return out


def words_record(words: Sequence[Word], frame_logits: np.ndarray, labels: Sequence[str], *,
                 frame_relevance: dict[str, np.ndarray] | None = None, problems: dict[str, list[str]] | None = None,
                 source: str | None = None, left_out: Sequence[dict] | None = None) -> dict[str, Any]:
    """The words of one clip for ``explanation.json``: span, frames, score per class and attribution share per method.

    Parameters
    ----------
    words : sequence of Word
    frame_logits : ndarray, shape (T, n_labels)
        The model's frame logits (50 frames/s), ``labels`` order.
    frame_relevance : dict, optional
        Method → (T,) attribution per frame; each word gets its share of the ``|a|`` mass
        (:func:`per_word_attribution`) and the share a flat map would give (``uniform_share``).
    problems : dict, optional
        Method → the failed checks of its map (empty list: passed).  A share is only as good as
        its map: the record says per method whether it may be read (``methods``).
    left_out : list of dict, optional
        The spans of the alignment left out (:attr:`Alignment.left_out`; default: ``words.left_out`` when it has one).

    Returns
    -------
    dict
        ``source``, ``rule``, ``frame_convention``, ``labels``, ``methods`` (method → ``reliable``,
        ``problems``; ``reliable`` is ``None`` when the map's checks are not known) and ``items``: one dict per word with
        ``label``, ``start_s``, ``end_s``, ``frames`` ([first, last] or ``None``), ``n_frames``,
        ``scores`` (class → probability, ``None`` without frames), ``top`` and
        ``attribution_share`` (method → share, ``None`` when the map has no mass); ``left_out``: ``count``,
        ``spans`` (each span of the file left out, with its line and fact) and ``words`` (them in one line).
    """
    fl = np.asarray(frame_logits, dtype=np.float64)
    labels = list(labels)
    if fl.ndim != 2 or fl.shape[1] != len(labels):
        raise ConfigError(f"frame logits of shape {fl.shape} do not match {len(labels)} labels.", fix="pass the (T, n_labels) frame logits and their labels.")
    shares = {m: per_word_attribution(np.asarray(a, dtype=np.float64)[: len(fl)], words) for m, a in (frame_relevance or {}).items()}
    items = []
    for i, (w, idx, p) in enumerate(zip(words, word_frames(words, len(fl)), word_scores(fl, words))):
        items.append({"label": w.label, "start_s": w.start, "end_s": w.end,
                      "frames": [int(idx[0]), int(idx[-1])] if len(idx) else None, "n_frames": int(len(idx)),
                      "scores": dict(zip(labels, (float(v) for v in p))) if p is not None else None,
                      "top": labels[int(np.argmax(p))] if p is not None else None,
                      "uniform_share": len(idx) / len(fl) if len(fl) else None,
                      "attribution_share": {m: float(t["share"].iloc[i]) for m, t in shares.items()}})
    known = problems or {}
    methods = {m: {"reliable": (not known[m]) if m in known else None, "problems": list(known.get(m, []))} for m in shares}
    return {"source": source, "rule": WORD_SCORE_RULE, "frame_convention": FRAME_CONVENTION, "labels": labels,
            "methods": methods, "items": items, "left_out": left_out_record(getattr(words, "left_out", []) if left_out is None else left_out)}


def left_out_record(left_out: Sequence[dict]) -> dict[str, Any]:
    """The spans left out of an alignment as its JSON records carry them: ``count``, ``spans``, ``words``."""
    return {"count": len(left_out), "spans": [dict(r) for r in left_out], "words": left_out_words(left_out)}


def per_word_attribution(frame_attr: np.ndarray, words: Sequence[Word], *, mass: str = "abs"):
    """Each word's share of the attribution mass over the clip's frames.

    Parameters
    ----------
    frame_attr : ndarray, shape (T,)
        One attribution value per 20 ms frame.
    words : sequence of Word
    mass : {"abs", "positive"}
        What counts as mass: ``|a|`` (default), or only evidence *for* the class (``max(a, 0)``).

    Returns
    -------
    DataFrame
        ``word, label, start, end, n_frames, share`` (mass inside the word / mass of the whole clip,
        NaN when the clip has no mass), ``uniform_share`` (n_frames / T: the share a flat attribution
        gives, to compare against) and ``mean_attribution`` (signed mean over its frames).
    """
    import pandas as pd

    a = np.asarray(frame_attr, dtype=np.float64)
    if a.ndim != 1 or not np.all(np.isfinite(a)):
        raise ConfigError(f"frame attributions must be a finite 1-D array; got shape {a.shape}.", fix="pool the attribution to one value per 20 ms frame.")
    if mass not in ("abs", "positive"):
        raise ConfigError(f"mass={mass!r} is not known.", fix="use 'abs' or 'positive'.")
    m = np.abs(a) if mass == "abs" else np.clip(a, 0, None)
    total = float(m.sum())
    rows = []
    for i, (w, idx) in enumerate(zip(words, word_frames(words, len(a)))):
        rows.append({"word": i, "label": w.label, "start": w.start, "end": w.end, "n_frames": len(idx),
                     "share": float(m[idx].sum() / total) if total > 0 else np.nan,
                     "uniform_share": len(idx) / len(a) if len(a) else np.nan,
                     "mean_attribution": float(a[idx].mean()) if len(idx) else np.nan})
    return pd.DataFrame(rows, columns=["word", "label", "start", "end", "n_frames", "share", "uniform_share", "mean_attribution"])
