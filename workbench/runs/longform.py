"""Long audio: stream, segment by voice activity, predict per segment, aggregate.

A one-hour recording never sits in memory whole and never reaches the model
whole.  The pipeline is one pass over the file:

1. **stream** — :func:`workbench.audio.intake.stream` (the intake module owns both
   ``load`` and ``stream``) reads blocks (``block_s`` seconds) of the source
   with soundfile, or PyAV in-process for what libsndfile cannot read.  Each
   block is mixed down (mean of the channels) and resampled to 16 kHz by a
   *streaming* soxr resampler, so block boundaries leave no seams;
2. **VAD** — 32 ms frames (512 samples) get a speech probability from
   ``silero-vad`` (its weights ship with the pip package) or a 0/1 decision
   from an adaptive energy detector;
3. **segment** — a small state machine turns frames into segments: speech
   starts at ``threshold``, ends after ``min_silence_s`` below
   ``threshold - 0.15``; segments shorter than ``min_speech_s`` are dropped;
   a segment reaching ``max_segment_s`` is split at its last pause of at
   least 100 ms (or cut there if it has none).  Segments keep their original
   timestamps (padded by ``speech_pad_s`` where they end in silence);
4. **predict** — finished segments are batched through the model with
   frame-level scores; the audio buffer only holds the open segment;
5. **aggregate** — the dominant emotion (the most frequent segment label,
   ties broken by mean confidence), a timeline that merges neighbouring
   segments with the same label when the gap is under ``merge_gap_s``, and a
   heatmap of the nine frame-level scores on a ``grid_s`` (100 ms) grid, NaN
   where no segment covers the cell.

Rows are appended to ``segments.csv`` as each batch finishes, so an
interrupted run keeps every segment it predicted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from datetime import datetime
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from workbench import __version__, files
from workbench.logs import progress_stream
from workbench.model.ref import ModelRef
from workbench.paths import from_portable, portable_path, published_command
from workbench.audio.intake import AudioConfig, stream as open_stream
from workbench.engine.core import Engine, WorkItem
from workbench.errors import ConfigError, printable
from workbench.labels import LABEL_KEYS
from workbench.data.manifest import Item
from workbench.model.memory import peak_rss_mb, release_freed_memory
from workbench.model.network import RANDOM_WEIGHTS_BANNER
from workbench.audio.processing import ProcessingLog, StepRecord
from workbench.schema import FRAME_RATE, SAMPLE_RATE, SCORE_COLUMNS, score_column, score_columns
from workbench.serialize import spreadsheet_line, spreadsheet_safe
from workbench.files import strict_json
from workbench.runs.voice_activity import FRAME, FRAME_S, _EnergyVAD, _SileroVAD, _Segmenter, _dbfs, no_speech_note  # noqa: F401
from workbench.runs.folder import LOCK
from workbench.runs.dominant import dominant_check, dominant_emotion, dominant_test, dominant_test_words, dominant_words  # noqa: F401
from workbench.runs.writer import RunWriter
from workbench.runs.longform_plot import plot_longform  # noqa: F401  (segment_file draws heatmap.png; re-exported)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentConfig:
    """Settings of :func:`segment_file`.

    Attributes
    ----------
    vad : {"silero", "energy"}
    max_segment_s : float
        Longest segment handed to the model (default 25 s).
    min_silence_s : float
        Silence that ends a segment (default 0.3 s).
    min_speech_s : float
        Shorter speech bursts are dropped (default 0.25 s).
    speech_pad_s : float
        Kept on each side of a segment that ends in silence (default 30 ms).
    threshold : float
        Speech probability that starts speech (silero; default 0.5).
    energy_floor_db : float
        Energy VAD: frames below this level (dBFS) are never speech.
    energy_margin_db : float
        Energy VAD: frames must exceed the running noise floor (10th
        percentile of the last 30 s) by this much.
    merge_gap_s : float
        Timeline: same-label neighbours closer than this are merged (2 s).
    grid_s : float
        Heatmap cell (100 ms).
    block_s : float
        Seconds decoded per read.
    batch_segments : int
        Segments per model call.
    """

    vad: str = "silero"
    max_segment_s: float = 25.0
    min_silence_s: float = 0.3
    min_speech_s: float = 0.25
    speech_pad_s: float = 0.03
    threshold: float = 0.5
    energy_floor_db: float = -50.0
    energy_margin_db: float = 12.0
    merge_gap_s: float = 2.0
    grid_s: float = 0.1
    block_s: float = 30.0
    batch_segments: int = 16

    def __post_init__(self):
        if self.vad not in ("silero", "energy"):
            raise ConfigError(f"unknown VAD {self.vad!r}; expected 'silero' or 'energy'.", fix="pass --vad silero or --vad energy.")
        if not 1.0 <= self.max_segment_s <= 120.0:
            raise ConfigError(f"max segment length {self.max_segment_s} s is outside 1–120 s.", fix="pass --max between 1 and 120 (25 is the default).")
        if not FRAME_S <= self.min_silence_s <= 10.0:
            raise ConfigError(f"min silence {self.min_silence_s} s is outside {FRAME_S:.3f}–10 s.", fix="pass --min-silence between 0.05 and 10 (0.3 is the default).")
        if not 0.0 < self.threshold < 1.0:
            raise ConfigError(f"VAD threshold {self.threshold} is not between 0 and 1.", fix="pass --threshold 0.5.")
        if self.grid_s <= 0 or self.block_s <= 0 or self.batch_segments < 1:
            raise ConfigError("grid_s and block_s must be positive and batch_segments at least 1.", fix="use the defaults.")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LongformResult:
    out_dir: Path
    segments: Any  # DataFrame
    timeline: Any  # DataFrame
    heatmap: np.ndarray  # (cells, C) over the model's labels (summary["model"]["labels"]), NaN where no speech
    grid_s: float
    dominant: str | None
    summary: dict = field(default_factory=dict)
    log: ProcessingLog = field(default_factory=ProcessingLog)

    def render(self) -> str:
        s = self.summary
        lines = []
        if s.get("random_weights"):
            lines.append(f"!! {RANDOM_WEIGHTS_BANNER}")
        lines.append(
            f"{printable(s['source']['id'])}: {s['duration_s']:.1f} s, {s['n_segments']} speech segments "
            + (f"(and {s['n_failed']} not scored{'' if s.get('no_speech') else ', the first: ' + s['failed'][0]['error']}) "
               if s.get("n_failed") else "") + f"({s['speech_s']:.1f} s of speech, "
            f"VAD {s['config']['vad']}), {s['seconds']['total']:.1f} s wall, peak RSS {s['peak_rss_mb']:.0f} MB"
        )
        if s.get("no_speech"):
            lines.append(f"!! {s['note']}")
        lines.append(dominant_words(self.dominant, s["label_counts"], "segments", s.get("dominant_test")))
        lines += [f"!! {s['dominant_check']}"] if s.get("dominant_check") else []
        ref, low = s.get("uniform_guess"), s.get("spans_at_or_under_uniform")
        lines.append(f"timeline ({len(self.timeline)} span{'' if len(self.timeline) == 1 else 's'}, neighbours with the same label merged when < {s['config']['merge_gap_s']} s apart"
                     + (f"; conf: the span's mean top probability, against {ref:.3f} (1/{s['n_classes']}) for a uniform guess" if ref else "") + "):")
        lines += [f"!! {low} of {len(self.timeline)} spans at or under the uniform guess {ref:.3f}: their label is no better than "
                  "a guess"] if low else []
        for r in self.timeline.head(40).itertuples():
            lines.append(f"  {_hms(r.start)} – {_hms(r.end)}  {printable(r.label):<9} conf {r.confidence:.3f}  ({r.n_segments} segment{'s' if r.n_segments > 1 else ''})"
                         + ("  !! at or under the uniform guess" if getattr(r, "at_or_under_uniform", False) else ""))
        if len(self.timeline) > 40:
            lines.append(f"  … {len(self.timeline) - 40} more in timeline.csv")
        return "\n".join(lines)


def _hms(t: float) -> str:
    h, rem = divmod(t, 3600)
    m, sec = divmod(rem, 60)
    return f"{int(h):d}:{int(m):02d}:{sec:05.2f}"


SEGMENT_COLUMNS = ["segment", "start", "end", "duration", "split_start", "split_end", "label", "confidence", "margin",
                   *SCORE_COLUMNS]


def segment_columns(labels: Sequence[str] = LABEL_KEYS) -> list[str]:
    """``segments.csv``'s columns for a model with ``labels`` (:data:`SEGMENT_COLUMNS` for the nine)."""
    return [*SEGMENT_COLUMNS[:9], *score_columns(labels)]


def segment_file(path: str | os.PathLike, *, model: Any = None, out_dir: str | os.PathLike | None = None,
                 config: SegmentConfig | None = None, audio_config: AudioConfig | None = None, figures: bool = True,
                 progress: bool = False, command_line: Sequence[str] | None = None) -> LongformResult:
    """Segment a long recording by voice activity and predict each segment.

    The file is streamed (memory stays bounded by ``max_segment_s + block_s`` and the energy detector's 3 s look-ahead, whatever its length);
    segments are scored in batches by the one engine.

    Parameters
    ----------
    path : path
        The recording (any format the workbench decodes).
    model : model or reference, optional
        A loaded model, a :class:`~workbench.model.ref.ModelRef` or a name (hub id, folder, ``"tiny"``).
    out_dir : path, optional
        Where the outputs go (default ``outputs/segment_<name>_<timestamp>``): ``segments.csv``,
        ``timeline.csv``, ``heatmap.npz`` (``times``, ``scores``, ``labels``), ``embeddings.npy`` (one row per
        segment), ``summary.json``, ``log.txt`` and, with ``figures``, ``heatmap.png``; written through
        :class:`~workbench.runs.writer.RunWriter` (atomically, under its lock).
    config : SegmentConfig, optional
        The voice activity detector and the segment lengths.
    audio_config : AudioConfig, optional
        Decoding settings.
    figures, progress : bool
        Also draw ``heatmap.png``; show a progress bar.
    command_line : sequence of str, optional
        The words typed, kept in ``summary.json`` (``command_line``, home as ``~``) as ``workbench run`` keeps them.

    Returns
    -------
    LongformResult
        Segments, merged timeline, heatmap, dominant emotion, summary and processing log.

    Examples
    --------
    >>> import soundfile as sf
    >>> t = np.arange(16000 * 6) / 16000
    >>> voiced = np.sin(2 * np.pi * 180 * t) * (np.sin(2 * np.pi * 0.25 * t) > 0)   # 2 s on, 2 s off
    >>> sf.write("long.wav", (0.3 * voiced).astype(np.float32), 16000)
    >>> from workbench.runs.longform import SegmentConfig
    >>> res = wb.segment_file("long.wav", model="tiny", out_dir="seg", config=SegmentConfig(vad="energy"), figures=False)
    >>> len(res.segments) >= 1, sorted(p.name for p in res.out_dir.iterdir() if not p.name.startswith("."))
    (True, ['embeddings.npy', 'heatmap.npz', 'log.txt', 'segments.csv', 'summary.json', 'timeline.csv'])
    """
    cfg = config or SegmentConfig()
    acfg = audio_config or AudioConfig()
    # absolute: summary.json is read later from other folders (a notebook, a report), not from this cwd
    path = Path(path).expanduser().absolute()
    t_start = time.perf_counter()
    stream = open_stream(path, config=acfg, block_s=cfg.block_s)  # fails fast on a bad file, before the model loads
    try:
        net = ModelRef.coerce(model).load()
    except BaseException:
        stream.close()
        raise
    if out_dir is None:
        out_dir = Path("outputs") / f"segment_{path.stem}_{datetime.now().strftime('%Y%m%d_%H%M%S')}"
    created = not Path(out_dir).exists()
    writer = RunWriter(files.ensure_folder(Path(out_dir)))
    try:
        with writer.lock():
            scan = _Scan(net, cfg)
            with writer.stream_file("segments.csv") as csv:  # a temporary that becomes segments.csv only when the file is whole
                scan.csv = csv
                csv.write(spreadsheet_line(scan.columns))
                scan.run(stream, _progress(stream.info.declared_duration, progress))
            result = _result(scan, stream, acfg, writer.path, time.perf_counter() - t_start)
            result.summary["command_line"] = published_command(command_line) if command_line else None  # None: from Python
            _write_outputs(writer, result, scan)
            if figures:
                plot_longform(result, writer.path / "heatmap.png")
    except BaseException:
        if created:
            _drop_if_empty(writer.path)
        raise
    return result


def _drop_if_empty(folder: Path) -> None:
    """A Ctrl-C or an error before anything was kept: the output folder this call made goes, if only its lock is there."""
    with contextlib.suppress(OSError):
        if set(os.listdir(folder)) <= {LOCK}:
            (folder / LOCK).unlink(missing_ok=True)
            os.rmdir(folder)


class _Scan:
    """One streaming pass over a recording: voice activity → segments → batched scores, heatmap sums, CSV rows."""

    def __init__(self, net: Any, cfg: SegmentConfig):
        self.net, self.cfg = net, cfg
        self.vad = _SileroVAD() if cfg.vad == "silero" else _EnergyVAD(cfg.energy_floor_db, cfg.energy_margin_db)
        self.seg = _Segmenter(cfg)
        self.labels = tuple(net.info.labels)  # the model's classes: the nine, or a fine-tuned head's own
        self.columns = segment_columns(self.labels)
        self.heat_sum = np.zeros((0, len(self.labels)), dtype=np.float64)
        self.heat_n = np.zeros(0, dtype=np.int64)
        self.embeddings: list[np.ndarray] = []
        self.rows: list[dict] = []
        self.failed: list[dict] = []  # segments the voice activity detector found and the model could not score
        self.timings = {"decode_resample": 0.0, "vad": 0.0, "inference": 0.0}
        self.buf = np.zeros(0, dtype=np.float32)
        self.buf_start = 0  # sample index of buf[0]
        self.max_buf = 0  # longest the audio buffer got, in samples: bounded by max_segment_s + block_s (+ the look-ahead), never the file
        self.peak = 0.0  # loudest sample of the recording (mono, 16 kHz): says whether "no speech" is a silent file
        self.pending: list[tuple[int, int, bool, bool, np.ndarray]] = []
        self.engine = Engine(net, granularity="frame", workers=0)  # segments are already in memory: no decoding to spread
        self.csv: Any = None

    @property
    def total_samples(self) -> int:
        return self.buf_start + len(self.buf)

    def run(self, stream: Any, bar: Any) -> None:
        """Read every block, find the segments, score them; ``bar(seconds)`` hears the progress, ``bar(None)`` the end."""
        leftover = np.zeros(0, dtype=np.float32)  # samples not yet in a VAD frame
        decided = 0  # frames the detector has decided (the energy detector holds the first stretch back)
        try:
            t0 = time.perf_counter()
            for block in stream.blocks():
                self.timings["decode_resample"] += time.perf_counter() - t0
                self.buf = np.concatenate([self.buf, block])
                self.max_buf = max(self.max_buf, len(self.buf))
                self.peak = max(self.peak, float(np.abs(block).max())) if len(block) else self.peak
                x = np.concatenate([leftover, block])
                n = len(x) // FRAME
                leftover = x[n * FRAME:]
                decided = self._push(self._vad(x[: n * FRAME].reshape(n, FRAME)), decided)
                keep = self.seg.keep_from(decided * FRAME)
                if keep > self.buf_start:
                    self.buf = self.buf[keep - self.buf_start:]
                    self.buf_start = keep
                bar(len(block) / SAMPLE_RATE)
                t0 = time.perf_counter()
            self.timings["decode_resample"] += time.perf_counter() - t0
            if len(leftover):
                decided = self._push(self._vad(np.pad(leftover, (0, FRAME - len(leftover)))[None, :]), decided)
            self._push(self.vad.flush(), decided)
            self._take(self.seg.finish())
            self._flush()
        finally:
            bar(None)

    def _push(self, probs: np.ndarray, first: int) -> int:
        """Give the segmenter the detector's decisions from frame ``first`` on; the next undecided frame."""
        self._take(self.seg.push(probs, first))
        return first + len(probs)

    def _vad(self, frames: np.ndarray) -> np.ndarray:
        t1 = time.perf_counter()
        probs = self.vad(frames)
        self.timings["vad"] += time.perf_counter() - t1
        return probs

    def _take(self, segs) -> None:
        for s, e, ss, se in segs:
            lo, hi = s - self.buf_start, min(e, self.buf_start + len(self.buf)) - self.buf_start
            self.pending.append((s, self.buf_start + hi, ss, se, self.buf[max(lo, 0):hi].copy()))
            if len(self.pending) >= self.cfg.batch_segments:
                self._flush()

    def _flush(self) -> None:
        if not self.pending:
            return
        t0 = time.perf_counter()
        work = [WorkItem(Item(id=f"segment_{len(self.rows) + k}", path=""), (seg[4], SAMPLE_RATE)) for k, seg in enumerate(self.pending)]
        scored = [x for chunk in self.engine.score(work, chunk_size=len(work)) for x in chunk]
        self.timings["inference"] += time.perf_counter() - t0
        for (s, e, ss, se, _), sc in zip(self.pending, scored):
            if not sc.ok:  # one bad segment (e.g. shorter than a model frame) never stops the file: counted and named
                logger.warning("segment at %.2f s not scored: %s", s / SAMPLE_RATE, sc.error.get("text"))
                self.failed.append({"start": round(s / SAMPLE_RATE, 4), "end": round(e / SAMPLE_RATE, 4), "error": sc.error.get("text")})
                continue
            self._add(s, e, ss, se, sc.prediction)
        self.csv.flush()
        self.pending.clear()
        release_freed_memory()

    def _add(self, s: int, e: int, ss: bool, se: bool, p: Any) -> None:
        row = {"segment": len(self.rows), "start": round(s / SAMPLE_RATE, 4), "end": round(e / SAMPLE_RATE, 4),
               "duration": round((e - s) / SAMPLE_RATE, 4), "split_start": ss, "split_end": se, "label": p.label,
               "confidence": p.confidence, "margin": p.margin, **{score_column(k): float(v) for k, v in zip(self.labels, p.scores)}}
        self.rows.append(row)
        self.csv.write(spreadsheet_line(row[c] for c in self.columns))  # a head's labels are data: quoted, escaped
        self.embeddings.append(p.embedding.astype(np.float32))
        fs = p.frame_scores
        if fs is not None and len(fs):
            t = s / SAMPLE_RATE + (np.arange(len(fs)) + 0.5) / FRAME_RATE
            cells = np.floor(t / self.cfg.grid_s).astype(np.int64)
            need = int(cells.max()) + 1
            if need > len(self.heat_n):
                grow = max(need, 2 * len(self.heat_n))
                self.heat_sum = np.vstack([self.heat_sum, np.zeros((grow - len(self.heat_n), len(self.labels)))])
                self.heat_n = np.concatenate([self.heat_n, np.zeros(grow - len(self.heat_n), dtype=np.int64)])
            np.add.at(self.heat_sum, cells, fs)
            np.add.at(self.heat_n, cells, 1)


def _result(scan: _Scan, stream: Any, acfg: AudioConfig, out: Path, elapsed: float) -> LongformResult:
    """Segments, timeline, heatmap, processing log and summary of a finished scan."""
    import pandas as pd

    cfg, net = scan.cfg, scan.net
    duration = scan.total_samples / SAMPLE_RATE
    segments = pd.DataFrame(scan.rows, columns=scan.columns)
    timeline = merge_timeline(segments, cfg.merge_gap_s, n_classes=len(scan.labels))
    n_cells = int(np.ceil(duration / cfg.grid_s))
    heat = np.full((n_cells, len(scan.labels)), np.nan, dtype=np.float32)
    m = min(n_cells, len(scan.heat_n))
    covered = scan.heat_n[:m] > 0
    heat[:m][covered] = (scan.heat_sum[:m][covered] / scan.heat_n[:m][covered, None]).astype(np.float32)
    dominant = dominant_emotion(segments)
    note = no_speech_note(scan, duration) if not len(segments) else None
    log = _processing_log(scan, stream, acfg, duration, segments, dominant, elapsed, note)
    counts = segments["label"].value_counts().to_dict() if len(segments) else {}
    seconds = {k: float(v) for k, v in segments.groupby("label")["duration"].sum().items()} if len(segments) else {}
    order = segments.sort_values("start", kind="stable")["label"].tolist() if len(segments) else []  # the run test's time order
    info = stream.info
    summary = {
        "source": info.to_dict(), "duration_s": duration, "speech_s": _speech_s(segments), "n_segments": int(len(segments)),
        "n_failed": len(scan.failed), "failed": scan.failed[:20],
        "dominant_emotion": dominant, "dominant_check": dominant_check(dominant, counts, seconds, order),
        "dominant_test": dominant_test(dominant, counts, order), "no_speech": note is not None, "note": note,
        "peak_dbfs": _dbfs(scan.peak), "label_counts": {k: int(v) for k, v in counts.items()},
        "label_seconds": seconds,
        "timeline_spans": int(len(timeline)), "uniform_guess": 1.0 / len(scan.labels), "n_classes": len(scan.labels),
        "spans_at_or_under_uniform": int(timeline["at_or_under_uniform"].sum()), "config": cfg.to_dict(), "audio_config": acfg.to_dict(),
        "vad": {"name": scan.vad.name, "version": scan.vad.version}, "model": net.info.to_dict(), "random_weights": bool(net.random_weights),
        "seconds": {**{k: round(v, 3) for k, v in scan.timings.items()}, "total": round(elapsed, 3)},
        "realtime_factor": round(duration / elapsed, 2) if elapsed > 0 else None, "peak_rss_mb": peak_rss_mb(),
        "max_buffer_s": round(scan.max_buf / SAMPLE_RATE, 3),
        "heatmap": {"cells": n_cells, "grid_s": cfg.grid_s, "covered_cells": int(np.isfinite(heat[:, 0]).sum())},
        "workbench_version": __version__,
    }
    if net.random_weights:
        summary["warning"] = RANDOM_WEIGHTS_BANNER
    return LongformResult(out, segments, timeline, heat, cfg.grid_s, dominant, summary, log)


def _speech_s(segments: Any) -> float:
    return float(segments["duration"].sum()) if len(segments) else 0.0


def _processing_log(scan: _Scan, stream: Any, acfg: AudioConfig, duration: float, segments: Any, dominant: str | None,
                    elapsed: float, note: str | None = None) -> ProcessingLog:
    """The processing log of a scan: decode, mixdown, resample and segmentation steps, each measured."""
    cfg, net, info, timings = scan.cfg, scan.net, stream.info, scan.timings
    log = ProcessingLog()
    log.add(StepRecord(name="decode", params={"decoder": info.decoder, "file_size": info.size_bytes, "format": info.format, "codec": info.codec,
                                              "channels": info.channels}, sr_in=info.sample_rate, sr_out=info.sample_rate,
                       duration_in=info.declared_duration, duration_out=info.duration, elapsed_ms=timings["decode_resample"] * 1000,
                       warnings=list(stream.warnings)))
    if info.channels and info.channels > 1:
        log.add(StepRecord(name="mixdown", params={"method": "mean", "channels": info.channels}, sr_in=info.sample_rate, sr_out=info.sample_rate,
                           duration_in=info.duration, duration_out=info.duration))
    if info.sample_rate != SAMPLE_RATE:
        log.add(StepRecord(name="resample", params={"method": "soxr-stream", "quality": acfg.soxr_quality}, sr_in=info.sample_rate, sr_out=SAMPLE_RATE,
                           duration_in=info.duration, duration_out=duration))
    vad_warn = [note] if note else []
    log.add(StepRecord(name="vad_segment", params={"vad": scan.vad.name, "max_segment_s": cfg.max_segment_s, "min_silence_s": cfg.min_silence_s,
                                                   "min_speech_s": cfg.min_speech_s, "threshold": cfg.threshold, "segments": len(segments),
                                                   "split_at_max": scan.seg.splits, "dropped_short": scan.seg.dropped},
                       sr_in=SAMPLE_RATE, sr_out=SAMPLE_RATE, duration_in=duration, duration_out=_speech_s(segments), elapsed_ms=timings["vad"] * 1000,
                       warnings=vad_warn))
    log.note(f"Model {net.info.id} on {net.info.device} ({net.info.dtype})" + (" — RANDOM WEIGHTS" if net.random_weights else ""))
    log.note(f"Inference completed on {len(segments)} segments in {timings['inference']:.1f}s. Dominant emotion: {dominant or '—'}")
    log.note(f"Done. Total processing time: {elapsed:.1f}s")
    return log


def _write_outputs(writer: RunWriter, result: LongformResult, scan: _Scan) -> None:
    """Everything but ``segments.csv`` (streamed) and the figure, through the run folder's writer."""
    files.remove_file(writer.path / "heatmap.png")  # an earlier call's figure (--no-figures now, or stopped) never stays
    emb = np.stack(scan.embeddings) if scan.embeddings else np.zeros((0, scan.net.info.embed_dim), dtype=np.float32)
    times = (np.arange(len(result.heatmap)) * result.grid_s).astype(np.float32)
    writer.write_file("timeline.csv", lambda f: spreadsheet_safe(result.timeline).to_csv(f, index=False), text=True)
    writer.write_file("heatmap.npz", lambda f: np.savez_compressed(f, times=times, scores=result.heatmap, labels=np.array(scan.labels)))
    writer.write_file("embeddings.npy", lambda f: np.save(f, emb, allow_pickle=False))
    kept = _portable_summary(result.summary, writer.path)
    writer.write_file("summary.json", lambda f: f.write(strict_json(kept, indent=2) + "\n"), text=True)
    writer.write_file("log.txt", lambda f: f.write(result.log.render() + "\n"), text=True)


def _portable_summary(summary: dict, folder: Path) -> dict:
    """``summary.json`` as a segment folder keeps it: the source file and the model folder relative to the folder
    where both lie in one project, else under ``~`` (:func:`workbench.paths.portable_path`, as run folders record
    paths: the author's home folder was written out in full); :func:`source_path` reads the source back."""
    out = dict(summary)
    for key in ("source", "model"):
        part = out.get(key)
        if isinstance(part, dict) and part.get("path"):
            out[key] = {**part, "path": portable_path(part["path"], folder)}
    return out


def source_path(segment_dir: str | os.PathLike, summary: dict) -> Path:
    """The audio file a ``workbench segment`` folder was made from, as its ``summary.json`` records it.

    Relative to the segment folder (``../data/long.wav``) or under ``~`` since this version, absolute before it;
    an older bare relative one is tried against the segment folder first, then the current folder.
    """
    text = str((summary.get("source") or {}).get("path") or "")
    if text in (".", "..") or text.startswith(("./", "../")):
        return Path(from_portable(text, segment_dir))
    p = Path(text).expanduser()
    if p.is_absolute():
        return p
    beside = Path(segment_dir) / p
    return beside if beside.exists() else p


def merge_timeline(segments, gap_s: float = 2.0, *, n_classes: int | None = None):
    """Merge neighbouring segments with the same label when the gap between them is under ``gap_s``.

    With ``n_classes`` (K), each span's mean confidence gets its reference: ``uniform_guess`` = 1/K, what a model
    guessing uniformly over the K classes scores, and ``at_or_under_uniform``, whether the span's mean is no more
    (within 1e-6; the top probability is never under 1/K): its label is no better than a coin of K sides."""
    import pandas as pd

    spans: list[dict] = []
    for r in segments.sort_values("start").itertuples():
        last = spans[-1] if spans else None
        if last is not None and last["label"] == r.label and r.start - last["end"] < gap_s:
            w = last["_w"] + r.duration
            last["confidence"] = (last["confidence"] * last["_w"] + r.confidence * r.duration) / w if w > 0 else r.confidence
            last["_w"] = w
            last["end"] = max(last["end"], r.end)
            last["n_segments"] += 1
            last["last_segment"] = r.segment
        else:
            spans.append({"start": r.start, "end": r.end, "label": r.label, "confidence": r.confidence, "n_segments": 1,
                          "first_segment": r.segment, "last_segment": r.segment, "_w": r.duration})
    df = pd.DataFrame(spans, columns=["start", "end", "label", "confidence", "n_segments", "first_segment", "last_segment", "_w"])
    df = df.drop(columns="_w")
    df.insert(2, "duration", (df["end"] - df["start"]).round(4))
    if n_classes:
        df["uniform_guess"] = 1.0 / n_classes
        df["at_or_under_uniform"] = df["confidence"] <= 1.0 / n_classes + 1e-6
    return df


def _progress(total_s: float | None, enabled: bool):
    if not enabled:
        return lambda step: None
    state = {"done": 0.0, "t0": time.perf_counter()}

    def update(step):
        if step is None:
            progress_stream().write("\n")
            return
        state["done"] += step
        el = time.perf_counter() - state["t0"]
        rate = state["done"] / el if el > 0 else 0.0
        if total_s:
            eta = (total_s - state["done"]) / rate if rate > 0 else float("nan")
            progress_stream().write(f"\r{state['done']:.0f}/{total_s:.0f} s of audio, {rate:.1f}× real time, ETA {eta:.0f} s   ")
        else:
            progress_stream().write(f"\r{state['done']:.0f} s of audio, {rate:.1f}× real time   ")
        progress_stream().flush()

    return update
