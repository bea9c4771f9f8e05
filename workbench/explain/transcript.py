"""Long audio with a timed transcript: one emotion per span (a sentence, usually).

:func:`score_transcript` scores each span of a timed transcript (SubRip/WebVTT subtitles, TextGrid,
CTM, lhotse: :func:`~workbench.explain.words.read_alignment`) through the engine — the
per-sentence emotion emotion2vec's users ask for (emotion2vec issues #79, #88).
:func:`transcript_file` does the same for ``workbench segment --transcript`` and writes the folder
(``sentences.csv``, ``transcript_summary.json`` with the run's provenance, ``log.txt``) through the
:class:`~workbench.runs.writer.RunWriter` that the voice-activity mode writes with.

The recording is read once, block by block (:func:`workbench.audio.intake.stream`), at its own
rate, mixed down as ``AudioConfig.mixdown`` says; each span is cut from the blocks as soon as
they cover it and scored like a clip (the engine resamples it to 16 kHz), so a span gets the
scores of the same stretch cut from the file by hand.  The recording's length is not limited:
``AudioConfig.max_duration_s`` (120 s, the limit of one forward pass) applies to each span, and
a longer span fails alone.  Memory holds the blocks from the start of the earliest span not yet
cut, never the file: at most that limit plus one block (:data:`BLOCK_S`), however long the
recording (``max_buffer_s`` in the summary says how much it took).
"""

from __future__ import annotations

import heapq
import os
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from workbench import __version__, files
from workbench.audio.intake import AudioConfig, stream as open_stream
from workbench.audio.processing import ProcessingLog, StepRecord
from workbench.data.manifest import Item
from workbench.engine.core import Engine, WorkItem
from workbench.errors import AudioError, ConfigError
from workbench.explain.words import END_SLACK_S, Word, left_out_record, read_alignment, validate_words
from workbench.files import strict_json
from workbench.model.memory import peak_rss_mb
from workbench.model.network import RANDOM_WEIGHTS_BANNER
from workbench.paths import published_command
from workbench.model.ref import ModelRef
from workbench.runs.experiment import portable_summary
from workbench.runs.longform import dominant_check, dominant_emotion, dominant_test
from workbench.runs.writer import RunWriter
from workbench.schema import score_column
from workbench.serialize import spreadsheet_safe

#: seconds of the recording decoded per read
BLOCK_S = 2.0
#: the files :func:`transcript_file` writes
SENTENCES, SUMMARY, LOG = "sentences.csv", "transcript_summary.json", "log.txt"
#: how the dominant emotion is chosen
DOMINANT_RULE = "most frequent span label; ties go to the higher mean confidence"


def _past_end(w: Word, duration: float) -> str:
    """Why span ``w`` cannot be cut from a recording of ``duration`` seconds, or ``""``."""
    if w.end <= duration + END_SLACK_S:
        return ""
    where = "starts" if w.start >= duration else "ends"
    return (f"the span {where} past the end of the audio ({w.start:.3f}–{w.end:.3f} s; the recording is {duration:.3f} s). "
            "Fix: check that the transcript belongs to this recording (times in seconds from its start).")


def _too_long(w: Word, limit_s: float) -> str:
    return (f"the span is {w.end - w.start:.1f} s long ({w.start:.3f}–{w.end:.3f} s), over the {limit_s:g} s limit for one "
            "forward pass (the model's memory grows with the square of the length). Fix: split it into shorter sentences "
            "in the transcript, or segment the recording by voice activity (`workbench segment` without --transcript).")


def _span_row(i: int, w: Word, error: str | None) -> dict:
    """A row of :func:`score_transcript`'s table before its scores: ``error`` None for a scored span."""
    return {"span": i, "start": w.start, "end": w.end, "text": w.label, "status": "ok" if error is None else "failed",
            "error": error or "", "label": None, "confidence": np.nan, "margin": np.nan}


def _scored_row(sc: Any, w: Word, i: int) -> dict:
    """The row of one span the engine scored (or failed)."""
    error = "" if sc.ok else str((sc.error or {}).get("text", ""))
    if not sc.ok and "at least 25 ms" in error:  # the engine's words are about a clip; here it is a span
        error = (f"the span is {(w.end - w.start) * 1000:.0f} ms; the model needs at least 25 ms (one frame). "
                 "Fix: merge it with a neighbouring span in the transcript, or drop it.")
    row = _span_row(i, w, error if not sc.ok else None)
    if sc.ok:
        p = sc.prediction
        row.update(label=p.label, confidence=p.confidence, margin=p.margin,
                   **{score_column(k): float(v) for k, v in zip(p.labels, p.scores)})  # the model's labels, whatever they are
    return row


#: spans that share less than this (seconds) do not overlap: subtitles often end exactly where the next one starts
OVERLAP_MIN_S = 1e-6
#: overlapping pairs named in the summary (all are counted)
OVERLAP_EXAMPLES = 5


def _shared_intervals(starts: np.ndarray, ends: np.ndarray, depth: int) -> list[tuple[float, float]]:
    """The stretches of time covered by at least ``depth`` spans, in order (an end before a start at the same time)."""
    events = sorted([(float(e), -1) for e in ends] + [(float(s), 1) for s in starts])
    out, level, since = [], 0, 0.0
    for t, step in events:
        if level + step >= depth > level:
            since = t
        elif level >= depth > level + step and t - since > OVERLAP_MIN_S:
            out.append((since, t))
        level += step
    return out


def _covered_within(intervals: list[tuple[float, float]], starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per span, the seconds of it inside ``intervals`` (sorted, disjoint), by binary search: a loop over every span and
    every interval took 44 s for 8,000 spans in pairs."""
    if not intervals:
        return np.zeros(len(starts))
    a, b = np.array(intervals, dtype=float).T
    before = np.concatenate([[0.0], np.cumsum(b - a)])  # seconds covered before interval k starts

    def covered_until(t: np.ndarray) -> np.ndarray:
        k = np.searchsorted(a, t, side="right") - 1
        inside = np.clip(t - a[np.maximum(k, 0)], 0.0, (b - a)[np.maximum(k, 0)])
        return np.where(k < 0, 0.0, before[np.maximum(k, 0)] + inside)

    return np.maximum(covered_until(ends) - covered_until(starts), 0.0)


def span_overlaps(starts: Sequence[float], ends: Sequence[float], *, names: Sequence[int] | None = None,
                  n_failed: int = 0) -> tuple[np.ndarray, dict]:
    """Per span, the seconds of it that another span covers too; and the overlaps counted for the summary.

    Overlapping spans are legal (two speakers talking at once in a conversation transcript); each is scored on all
    the audio of its stretch, the other voice included, so the count goes with the scores.  Returns
    ``(overlap_s, {"pairs", "spans", "seconds", "examples", "words"})``: ``seconds`` is the time covered by two
    or more spans, ``examples`` the first :data:`OVERLAP_EXAMPLES` pairs as ``[span, span]`` (table order).  ``names``: the
    span numbers of the rows given (the scored spans of a transcript, default 0, 1, …); ``n_failed`` spans left out
    (not scored, so no voice mixed into a score) are said in the words."""
    names = list(range(len(starts))) if names is None else [int(n) for n in names]
    starts, ends = np.asarray(starts, dtype=float), np.asarray(ends, dtype=float)
    order = np.lexsort((ends, starts))
    active: list[tuple[float, int]] = []  # a heap of (end, span) of the spans begun and not yet ended
    alone: set[int] = set()  # spans in ``active`` that no span has overlapped yet
    pairs, involved, examples = 0, set(), []
    for i in order:  # each span enters ``alone`` and ``involved`` once: n log n, not a loop over every pair
        while active and active[0][0] <= starts[i] + OVERLAP_MIN_S:
            alone.discard(heapq.heappop(active)[1])
        if ends[i] > starts[i] + OVERLAP_MIN_S and active:
            pairs += len(active)
            involved.update(alone)
            involved.add(int(i))
            alone.clear()
            examples += [sorted((j, int(i))) for _, j in active[:OVERLAP_EXAMPLES - len(examples)]]  # row positions; span numbers below
        else:
            alone.add(int(i))
        heapq.heappush(active, (float(ends[i]), int(i)))
    examples.sort()
    shared = _shared_intervals(starts, ends, 2)
    per_span = _covered_within(shared, starts, ends)
    seconds = round(sum(b - a for a, b in shared), 3)
    words = ""
    if pairs:
        shown = "; ".join(f"spans {names[a]} and {names[b]} ({starts[a]:.2f}–{ends[a]:.2f} s, {starts[b]:.2f}–{ends[b]:.2f} s)"
                          for a, b in examples)
        scored = f"scored transcript spans (the {n_failed} failed not counted)" if n_failed else "transcript spans"
        words = (f"{len(involved)} of {len(starts)} {scored} overlap another ({pairs} overlapping pair{'s' if pairs != 1 else ''}, "
                 f"{seconds:.2f} s covered by two or more spans): each is scored on all the audio of its stretch, the other voice "
                 f"included (overlap_s in sentences.csv); e.g. {shown}{' …' if pairs > len(examples) else ''}")
    examples = [[names[a], names[b]] for a, b in examples]
    return per_span.round(3), {"pairs": pairs, "spans": len(involved), "seconds": seconds, "examples": examples, "words": words}


def covered_seconds(starts: Sequence[float], ends: Sequence[float]) -> float:
    """Seconds covered by at least one span (overlapping time counted once)."""
    return round(float(sum(b - a for a, b in _shared_intervals(np.asarray(starts, float), np.asarray(ends, float), 1))), 3)


class _SpanCutter:
    """The recording's blocks that a span not yet cut still needs, and each span cut out as soon as they cover it.

    ``spans``: ``(index, first sample, end sample)`` at the source rate, sorted by first sample.
    """

    def __init__(self, spans: list[tuple[int, int, int]]):
        self.by_start = spans
        self.ready = [(b, a, i) for i, a, b in spans]  # a heap: the span that ends first comes out first
        heapq.heapify(self.ready)
        self.done: set[int] = set()
        self.first = 0  # by_start[first] is the earliest span not cut yet
        self.blocks: list[tuple[int, np.ndarray]] = []  # (first sample, mono samples)
        self.n = 0  # samples read
        self.max_buffer = 0  # most samples held at once

    def add(self, mono: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Take the next block; return the spans it completes as ``(index, samples)``."""
        self.blocks.append((self.n, mono))
        self.n += len(mono)
        self.max_buffer = max(self.max_buffer, self.n - self.blocks[0][0])
        out = []
        while self.ready and self.ready[0][0] <= self.n:
            b, a, i = heapq.heappop(self.ready)
            out.append((i, self.cut(a, b)))
            self.done.add(i)
        while self.first < len(self.by_start) and self.by_start[self.first][0] in self.done:
            self.first += 1
        keep = self.by_start[self.first][1] if self.first < len(self.by_start) else self.n
        while self.blocks and self.blocks[0][0] + len(self.blocks[0][1]) <= keep:
            self.blocks.pop(0)
        return out

    def rest(self) -> list[tuple[int, int, int]]:
        """The spans not cut when the recording ended: ``(index, first sample, end sample)``."""
        return sorted((i, a, b) for b, a, i in self.ready)

    def cut(self, a: int, b: int) -> np.ndarray:
        parts = [x[max(a, s) - s:min(b, s + len(x)) - s] for s, x in self.blocks if max(a, s) < min(b, s + len(x))]
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)


def _mono(block: np.ndarray, mixdown: str) -> np.ndarray:
    """A ``(n, channels)`` block mixed down as :class:`AudioConfig` says (``mean`` or ``first``)."""
    if block.shape[1] == 1 or mixdown == "first":
        return np.ascontiguousarray(block[:, 0], dtype=np.float32)
    return block.mean(axis=1, dtype=np.float64).astype(np.float32)


@dataclass
class _Pass:
    """One pass over the recording: the rows, and what the summary and the log say about it."""

    rows: list[dict] = field(default_factory=list)
    sr: int = 0
    n: int = 0
    max_buffer: int = 0
    decode_s: float = 0.0
    infer_s: float = 0.0
    stopped: str = ""  # why decoding ended before the file did (a damaged file), or ""
    pending: list[tuple[int, np.ndarray]] = field(default_factory=list)

    def score(self, engine: Engine, words: Sequence[Word], source: str) -> None:
        """Score the spans cut so far, in one engine call."""
        if not self.pending:
            return
        t0 = time.perf_counter()
        work = [WorkItem(Item(id=f"span_{i}", path=source, text=words[i].label), (y, self.sr)) for i, y in self.pending]
        for chunk in engine.score(work, chunk_size=len(work)):
            for sc in chunk:
                i = int(sc.item.id.split("_")[1])
                self.rows.append(_scored_row(sc, words[i], i))
        self.pending.clear()
        self.infer_s += time.perf_counter() - t0


def _read_spans(stream: Any, words: Sequence[Word], engine: Engine, acfg: AudioConfig, batch: int) -> _Pass:
    """Read the recording once and score every span: a span over the limit, past the end, or too short fails alone."""
    run = _Pass(sr=int(stream.info.sample_rate))
    limit, source = acfg.max_duration_s, str(stream.info.path or stream.shown)
    spans = []
    for i, w in enumerate(words):
        if w.end - w.start > limit:  # refused before it is read: its audio is never held
            run.rows.append(_span_row(i, w, _too_long(w, limit)))
        else:
            a = int(round(w.start * run.sr))  # as a manifest's start/duration are cut (audio.variants.segment)
            spans.append((i, a, a + int(round((w.end - w.start) * run.sr))))
    cutter = _SpanCutter(sorted(spans, key=lambda s: (s[1], s[2])))

    def take(cuts: list[tuple[int, np.ndarray]]) -> None:
        for cut in cuts:
            run.pending.append(cut)
            if len(run.pending) >= batch or sum(len(y) for _, y in run.pending) >= limit * run.sr:
                run.score(engine, words, source)

    t0 = time.perf_counter()
    try:
        for block in stream.raw_blocks(max(1, int(BLOCK_S * run.sr))):
            run.decode_s += time.perf_counter() - t0
            take(cutter.add(_mono(block, acfg.mixdown)))
            t0 = time.perf_counter()
    except Exception as exc:  # a decoder failing in mid-file: the spans read so far keep their scores
        run.stopped = f"decoding failed at {cutter.n / run.sr:.1f} s ({type(exc).__name__}: {str(exc)[:200]})"
    run.n, run.max_buffer = cutter.n, cutter.max_buffer
    if run.n == 0 and not run.stopped:
        raise AudioError("contains no audio samples (zero length).", source=stream.shown, fix="check the recording.")
    duration = run.n / run.sr
    for i, a, b in cutter.rest():
        w = words[i]
        why = _past_end(w, duration)
        if why and run.stopped:
            why = (f"the span ends past {duration:.1f} s, where the recording could not be decoded further ({run.stopped}). "
                   "Fix: the file is damaged or truncated: re-export it as WAV or FLAC.")
        if why:
            run.rows.append(_span_row(i, w, why))
        else:  # ends inside the rounding slack of the last sample
            take([(i, cutter.cut(a, min(b, run.n)))])
    run.score(engine, words, source)
    return run


def _open(audio_path: str | os.PathLike, audio_config: AudioConfig | None, batch: int) -> tuple[AudioConfig, Any]:
    """The settings checked and the recording opened (a bad file fails here, before the model loads)."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"batch={batch!r} is not a positive whole number.", fix="pass batch=16 (spans per model call).")
    acfg = audio_config or AudioConfig()
    if acfg.mixdown not in AudioConfig.CHOICES["mixdown"]:
        raise ConfigError(f"unknown mixdown method {acfg.mixdown!r}; expected one of {list(AudioConfig.CHOICES['mixdown'])}.",
                          fix="set AudioConfig(mixdown='mean').")
    return acfg, open_stream(audio_path, config=acfg, block_s=BLOCK_S)


def _table(run: _Pass, net: Any, left_out: Sequence[dict] = ()):
    """The rows as :func:`score_transcript`'s table, in span order, with its attrs (``left_out``: the transcript's spans
    that could not be read, :func:`~workbench.explain.words.left_out_record`)."""
    import pandas as pd

    columns = ["span", "start", "end", "text", "status", "error", "label", "confidence", "margin"]
    out = pd.DataFrame(run.rows, columns=list(dict.fromkeys([*columns, *(k for r in run.rows for k in r)])))
    out = out.sort_values("span").reset_index(drop=True)
    # among the scored spans only: a failed span (past the end, too short) mixed no voice into any score
    ok = (out["status"] == "ok").to_numpy()
    per_span, out.attrs["overlaps"] = span_overlaps(out["start"].to_numpy(float)[ok], out["end"].to_numpy(float)[ok],
                                                    names=out["span"].to_numpy(int)[ok], n_failed=int((~ok).sum()))
    out["overlap_s"] = np.nan
    out.loc[ok, "overlap_s"] = per_span
    if getattr(net.info, "random_weights", False):
        out.attrs["warning"] = RANDOM_WEIGHTS_BANNER
    out.attrs["duration_s"] = run.n / run.sr
    out.attrs["max_buffer_s"] = round(run.max_buffer / run.sr, 3)
    out.attrs["left_out"] = left_out_record(left_out)
    return out


def score_transcript(audio_path: str | os.PathLike, spans: Sequence[Word] | str | os.PathLike, *, model: Any = None,
                     audio_config: AudioConfig | None = None, batch: int = 16, **load_options: Any):
    """The model's emotion for each timed span of a transcript (per-sentence emotion of long audio).

    Parameters
    ----------
    audio_path : path
        The recording, of any length: read once in blocks, each span cut from them (module docstring;
        memory holds at most ``audio_config.max_duration_s`` plus one block of it).
    spans : sequence of Word, or a path
        Timed spans (e.g. :func:`~workbench.explain.words.read_alignment` of an SRT/VTT file, or the path itself).
    model : model or reference
        A loaded model, or what :meth:`ModelRef.coerce <workbench.model.ref.ModelRef.coerce>` accepts (``load_options`` go there).
    audio_config : AudioConfig, optional
        How the recording is decoded and mixed down, and ``max_duration_s``, the longest span scored
        (default ``AudioConfig()``: 120 s).
    batch : int
        Spans per engine call.
    **load_options
        Passed to :meth:`ModelRef.coerce <workbench.model.ref.ModelRef.coerce>` with ``model`` (e.g. ``device="cpu"``).

    Returns
    -------
    DataFrame
        One row per span, in order: ``span, start, end, text, status`` (``ok``/``failed``), ``error``,
        ``label, confidence, margin`` and ``score_<label>`` for each of the model's labels.  A span that
        cannot be scored (shorter than one model frame, longer than ``max_duration_s``, past the end of the
        recording) is a failed row saying why; the others go on.  ``overlap_s``: the seconds of the span that
        other spans cover too (overlaps are scored, and counted in ``attrs["overlaps"]``: :func:`span_overlaps`).
        ``attrs["warning"]`` holds the
        random-weights banner when the checkpoint is random; ``attrs["duration_s"]`` the recording's
        duration; ``attrs["max_buffer_s"]`` the most audio held at once; ``attrs["left_out"]`` the spans of the
        transcript left out (end before start, a time that cannot be read, a negative time: not in the table, named by
        line and fact; a transcript of which no span can be used is refused).

    Examples
    --------
    >>> import soundfile as sf
    >>> t = np.arange(3 * 16000) / 16000
    >>> sf.write("talk.wav", (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32), 16000)
    >>> with open("talk.srt", "w") as f:
    ...     _ = f.write("1\\n00:00:00,000 --> 00:00:01,200\\nfirst line\\n\\n2\\n00:00:01,500 --> 00:00:02,900\\nsecond line\\n")
    >>> table = wb.score_transcript("talk.wav", "talk.srt", model="tiny", device="cpu")
    >>> list(table["text"]), list(table["status"])
    (['first line', 'second line'], ['ok', 'ok'])
    """
    words = read_alignment(spans) if isinstance(spans, (str, os.PathLike)) else validate_words(spans, source=str(audio_path))
    words = _some_spans(words, spans if isinstance(spans, (str, os.PathLike)) else audio_path)
    acfg, stream = _open(audio_path, audio_config, batch)
    try:
        progress = load_options.pop("progress", None)
        net = ModelRef.coerce(model, **load_options).load(progress=progress)
        run = _read_spans(stream, words, Engine(net, audio_config=acfg, granularity="utterance", workers=0), acfg, batch)
    finally:
        stream.close()
    return _table(run, net, words.left_out)


def _some_spans(words: list, source: Any) -> list:
    """Refuse a transcript with no timed span that has text: its scoring would write an empty table and no emotion."""
    if not words:
        raise ConfigError("holds no timed span with text: there is nothing to score.", source=str(source),
                          fix="pass the recording's transcript with its times (SRT, WebVTT, TextGrid, CTM or lhotse), "
                              "or run `workbench segment` without --transcript to score voice-activity segments.")
    return words


@dataclass
class TranscriptResult:
    """What :func:`transcript_file` wrote: the folder, the per-span table, the summary and the processing log."""

    out_dir: Path
    table: Any  # DataFrame
    summary: dict
    log: ProcessingLog


def transcript_file(audio_path: str | os.PathLike, transcript: str | os.PathLike, *, tier: str | None = None, model: Any = None,
                    out_dir: str | os.PathLike | None = None, audio_config: AudioConfig | None = None,
                    batch: int = 16, command_line: Sequence[str] | None = None) -> TranscriptResult:
    """``workbench segment PATH --transcript FILE``: one emotion per transcript span, written to a folder.

    The folder (default ``outputs/transcript_<name>_<timestamp>``) gets ``sentences.csv`` (:func:`score_transcript`'s
    table), ``transcript_summary.json`` (counts, dominant emotion, failures, and the provenance
    ``segment``'s ``summary.json`` records: source facts with sha256, model id/checksum/dtype, ``random_weights``,
    audio config, timings, peak memory, version) and ``log.txt``, through :class:`~workbench.runs.writer.RunWriter`
    (atomic writes, under the folder's lock).  The transcript is read first: a bad one fails before the audio.
    ``command_line``: the words typed, kept as the summary's ``command_line`` (home as ``~``), as ``workbench run`` does.
    """
    words = _some_spans(read_alignment(transcript, tier=tier), transcript)
    audio_path = Path(audio_path).expanduser().absolute()  # the summary is read later from other folders
    t_start = time.perf_counter()
    acfg, stream = _open(audio_path, audio_config, batch)
    try:
        net = ModelRef.coerce(model).load()
        out = Path(out_dir or f"outputs/transcript_{audio_path.stem}_{datetime.now().strftime('%Y%m%d_%H%M%S')}")
        writer = RunWriter(files.ensure_folder(out))
        with writer.lock():
            run = _read_spans(stream, words, Engine(net, audio_config=acfg, granularity="utterance", workers=0), acfg, batch)
            table = _table(run, net, words.left_out)
            stream.info.frames, stream.info.duration = run.n, run.n / run.sr
            elapsed = time.perf_counter() - t_start
            summary = _summary(table, run, net, stream, acfg, Path(transcript), elapsed)
            summary["command_line"] = published_command(command_line) if command_line else None  # None: from Python
            log = _log(run, net, stream, summary, elapsed)
            writer.write_file(SENTENCES, lambda f: spreadsheet_safe(table).to_csv(f, index=False), text=True)
            # the recording, the transcript and the model relative to the folder or under ~, as segment's summary.json
            kept = portable_summary(summary, writer.path, (("source", "path"), ("model", "path"), ("transcript",)))
            writer.write_file(SUMMARY, lambda f: f.write(strict_json(kept, indent=2) + "\n"), text=True)
            writer.write_file(LOG, lambda f: f.write(log.render() + "\n"), text=True)
    finally:
        stream.close()
    return TranscriptResult(writer.path, table, summary, log)


def _summary(table: Any, run: _Pass, net: Any, stream: Any, acfg: AudioConfig, transcript: Path, elapsed: float) -> dict:
    """``transcript_summary.json``: what was found, and the provenance ``summary.json`` of the VAD mode records."""
    ok, failed = table[table["status"] == "ok"], table[table["status"] == "failed"]
    return {
        "source": stream.info.to_dict(), "transcript": str(transcript.expanduser().absolute()),
        "transcript_sha256": files.sha256_file(transcript), "segmentation": "transcript",
        "duration_s": run.n / run.sr, "n_spans": int(len(table)), "n_scored": int(len(ok)), "n_failed": int(len(failed)),
        "spoken_s": covered_seconds(ok["start"], ok["end"]),  # overlapping spans' shared time once
        "overlaps": table.attrs["overlaps"], "n_left_out": table.attrs["left_out"]["count"], "left_out": table.attrs["left_out"],
        "dominant": dominant_emotion(ok), "dominant_rule": DOMINANT_RULE,
        "dominant_check": dominant_check(dominant_emotion(ok), ok["label"].value_counts().to_dict(),  # and by the spans' time
                                         (ok["end"] - ok["start"]).groupby(ok["label"]).sum().to_dict(), _order(ok)),
        "dominant_test": dominant_test(dominant_emotion(ok), ok["label"].value_counts().to_dict(), _order(ok)),
        "label_counts": {str(k): int(v) for k, v in ok["label"].value_counts().items()},
        "failed": [{"span": int(r["span"]), "start": float(r["start"]), "end": float(r["end"]), "error": str(r["error"])}
                   for _, r in failed.iterrows()],
        "warning": table.attrs.get("warning"), "decode_warnings": _warnings(run, stream),
        "audio_config": acfg.to_dict(), "model": net.info.to_dict(), "random_weights": bool(net.random_weights),
        "seconds": {"decode": round(run.decode_s, 3), "inference": round(run.infer_s, 3), "total": round(elapsed, 3)},
        "peak_rss_mb": peak_rss_mb(), "max_buffer_s": table.attrs["max_buffer_s"], "block_s": BLOCK_S,
        "workbench_version": __version__,
    }


def _order(ok: Any) -> list:
    """The scored spans' labels in time order: the run test of the dominant label respects neighbours' dependence."""
    return ok.sort_values("start", kind="stable")["label"].tolist()


def _warnings(run: _Pass, stream: Any) -> list[str]:
    """What the decoder reported, and why decoding ended early (if it did)."""
    return list(stream.warnings) + ([run.stopped] if run.stopped else [])


def _log(run: _Pass, net: Any, stream: Any, summary: dict, elapsed: float) -> ProcessingLog:
    """``log.txt``: decode (and mixdown), the spans, the model, as ``segment``'s log says them."""
    info, duration = stream.info, run.n / run.sr
    log = ProcessingLog()
    log.add(StepRecord(name="decode", params={"decoder": info.decoder, "file_size": info.size_bytes, "format": info.format,
                                              "codec": info.codec, "channels": info.channels},
                       sr_in=info.sample_rate, sr_out=info.sample_rate, duration_in=info.declared_duration, duration_out=duration,
                       elapsed_ms=run.decode_s * 1000, warnings=_warnings(run, stream)))
    if info.channels and info.channels > 1:
        log.add(StepRecord(name="mixdown", params={"method": summary["audio_config"]["mixdown"], "channels": info.channels},
                           sr_in=info.sample_rate, sr_out=info.sample_rate, duration_in=duration, duration_out=duration))
    log.note(f"Transcript {Path(summary['transcript']).name}: {summary['n_spans']} spans, {summary['n_scored']} scored, "
             f"{summary['n_failed']} failed ({summary['spoken_s']:.1f} s of the {duration:.1f} s scored); "
             f"most audio held at once {summary['max_buffer_s']:.1f} s")
    if summary["overlaps"]["pairs"]:
        log.note(summary["overlaps"]["words"], level="WARNING")
    if summary["n_left_out"]:
        log.note(f"Transcript: {summary['left_out']['words']}", level="WARNING")
    for f in summary["failed"]:
        log.note(f"span {f['span']} ({f['start']:.2f}–{f['end']:.2f} s) failed: {f['error']}", level="WARNING")
    log.note(f"Model {net.info.id} on {net.info.device} ({net.info.dtype})" + (" — RANDOM WEIGHTS" if net.random_weights else ""))
    log.note(f"Inference completed on {summary['n_scored']} spans in {run.infer_s:.1f}s. Dominant emotion: {summary['dominant'] or '—'}")
    log.note(f"Done. Total processing time: {elapsed:.1f}s")
    return log
