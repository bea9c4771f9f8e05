"""Long audio with a timed transcript: one emotion per span (a sentence, usually).

:func:`score_transcript` scores each span of a timed transcript (SubRip/WebVTT subtitles, TextGrid,
CTM, lhotse: :func:`~workbench.explain.words.read_alignment`) through the engine — the
per-sentence emotion emotion2vec's users ask for (emotion2vec issues #79, #88).

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
from typing import Any, Sequence

import numpy as np

from workbench.audio.intake import AudioConfig, stream as open_stream
from workbench.data.manifest import Item
from workbench.engine.core import Engine, WorkItem
from workbench.errors import AudioError, ConfigError
from workbench.explain.words import END_SLACK_S, Word, read_alignment, validate_words
from workbench.model.network import RANDOM_WEIGHTS_BANNER
from workbench.model.ref import ModelRef
from workbench.schema import score_column

#: seconds of the recording decoded per read
BLOCK_S = 2.0


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


def _table(run: _Pass, net: Any):
    """The rows as :func:`score_transcript`'s table, in span order, with its attrs."""
    import pandas as pd

    columns = ["span", "start", "end", "text", "status", "error", "label", "confidence", "margin"]
    out = pd.DataFrame(run.rows, columns=list(dict.fromkeys([*columns, *(k for r in run.rows for k in r)])))
    out = out.sort_values("span").reset_index(drop=True)
    if getattr(net.info, "random_weights", False):
        out.attrs["warning"] = RANDOM_WEIGHTS_BANNER
    out.attrs["duration_s"] = run.n / run.sr
    out.attrs["max_buffer_s"] = round(run.max_buffer / run.sr, 3)
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
        recording) is a failed row saying why; the others go on.  ``attrs["warning"]`` holds the
        random-weights banner when the checkpoint is random; ``attrs["duration_s"]`` the recording's
        duration; ``attrs["max_buffer_s"]`` the most audio held at once.

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
    acfg, stream = _open(audio_path, audio_config, batch)
    try:
        progress = load_options.pop("progress", None)
        net = ModelRef.coerce(model, **load_options).load(progress=progress)
        run = _read_spans(stream, words, Engine(net, audio_config=acfg, granularity="utterance", workers=0), acfg, batch)
    finally:
        stream.close()
    return _table(run, net)
