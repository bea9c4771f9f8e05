"""Voice activity for long audio: the Silero and energy detectors and the segmenter that turns their
frame probabilities into segments (at most ``max_segment_s``, split at the quietest frame), streamed
block by block.  :func:`workbench.runs.longform.segment_file` drives them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.schema import SAMPLE_RATE
from workbench.errors import ConfigError
from workbench.paths import installed_version

logger = logging.getLogger(__name__)

FRAME = 512  # VAD frame at 16 kHz: 32 ms
FRAME_S = FRAME / SAMPLE_RATE


# ---------------------------------------------------------------------------
# voice activity
# ---------------------------------------------------------------------------
class _SileroVAD:
    name = "silero"

    def __init__(self):
        try:
            from silero_vad import load_silero_vad
        except ImportError as exc:  # pragma: no cover - a dependency
            raise ConfigError("the silero-vad package is not installed.", fix="pip install silero-vad, or pass --vad energy.") from exc
        self.model = load_silero_vad()
        self.model.reset_states()
        import silero_vad

        self.version = getattr(silero_vad, "__version__", None) or _dist_version("silero-vad")

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        import torch

        out = np.empty(len(frames), dtype=np.float32)
        with torch.inference_mode():
            for i, f in enumerate(frames):
                out[i] = float(self.model(torch.from_numpy(f), SAMPLE_RATE))
        return out

    def flush(self) -> np.ndarray:
        """Silero decides every frame as it comes: nothing is held."""
        return np.empty(0, dtype=np.float32)


class _EnergyVAD:
    """1 where a frame's level exceeds both an absolute floor and the running
    noise floor (10th percentile of the last 30 s of frame levels) plus a margin.

    The first ``LOOK_AHEAD_S`` of a recording are decided only once they are all read, each against the lower of
    its running floor and the floor of that whole stretch: a file that starts with speech had only speech in its
    history, so its first words were measured against themselves and lost (a 2 s utterance at 0 s: no segment).
    Later frames are decided as they come, as before; the decisions do not depend on the block size.
    """

    name = "energy"
    version = None
    LOOK_AHEAD_S = 3.0

    def __init__(self, floor_db: float, margin_db: float):
        self.floor_db, self.margin_db = floor_db, margin_db
        self.history = np.full(int(30 / FRAME_S), np.nan, dtype=np.float32)
        self.k = 0
        self.ahead = int(self.LOOK_AHEAD_S / FRAME_S)
        self.held: list[np.ndarray] | None = []  # levels of the first frames, until `ahead` of them are read

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Decisions for the frames not decided yet, in order: none while the first stretch is being read."""
        level = 10 * np.log10(np.mean(np.square(frames, dtype=np.float64), axis=1) + 1e-12).astype(np.float32)
        if self.held is None:
            return self._decide(level)
        self.held.append(level)
        return self.flush() if sum(len(h) for h in self.held) >= self.ahead else np.empty(0, dtype=np.float32)

    def flush(self) -> np.ndarray:
        """Decide the frames still held (at the end of a recording shorter than the look-ahead)."""
        if self.held is None:
            return np.empty(0, dtype=np.float32)
        level, self.held = np.concatenate(self.held + [np.empty(0, dtype=np.float32)]), None
        head = level[: self.ahead]
        stretch = float(np.percentile(head, 10)) if len(head) else np.inf
        return np.concatenate([self._decide(head, stretch), self._decide(level[self.ahead:])])

    def _decide(self, level: np.ndarray, stretch: float = np.inf) -> np.ndarray:
        out = np.empty(len(level), dtype=np.float32)
        for i, db in enumerate(level):
            self.history[self.k % len(self.history)] = db
            self.k += 1
            noise_floor = min(np.nanpercentile(self.history, 10), stretch)
            out[i] = 1.0 if db >= max(self.floor_db, noise_floor + self.margin_db) else 0.0
        return out


def _dist_version(name: str) -> str | None:
    return installed_version(name)


@dataclass
class _Open:
    start: int  # frame index
    last_speech: int  # frame index one past the last speech frame
    silence_from: int | None = None
    pause: int | None = None  # candidate split frame (middle of the last pause ≥ 100 ms)
    split_start: bool = False  # began at a split, not at silence


class _Segmenter:
    """Frame decisions → segments in samples, emitted as soon as they are final."""

    def __init__(self, cfg: Any):  # a SegmentConfig
        self.cfg = cfg
        self.on = cfg.threshold
        self.off = max(0.01, cfg.threshold - 0.15)
        self.min_silence = max(1, round(cfg.min_silence_s / FRAME_S))
        self.min_speech = max(1, round(cfg.min_speech_s / FRAME_S))
        self.max_len = max(2, int(cfg.max_segment_s / FRAME_S))
        self.pause_len = max(1, round(0.1 / FRAME_S))
        self.pad = int(min(cfg.speech_pad_s, cfg.min_silence_s / 2) * SAMPLE_RATE)
        self.open: _Open | None = None
        self.last_end = 0  # sample where the previous segment ended (pads never overlap it)
        self.dropped = 0
        self.splits = 0

    def push(self, probs: np.ndarray, first: int) -> list[tuple[int, int, bool, bool]]:
        out = []
        for i, p in enumerate(probs):
            f = first + i
            o = self.open
            if o is None:
                if p >= self.on:
                    self.open = _Open(start=f, last_speech=f + 1)
                continue
            if p >= self.off:
                if o.silence_from is not None and f - o.silence_from >= self.pause_len:
                    o.pause = o.silence_from + (f - o.silence_from) // 2
                o.silence_from = None
                o.last_speech = f + 1
            else:
                if o.silence_from is None:
                    o.silence_from = f
                if f + 1 - o.silence_from >= self.min_silence:
                    out += self._emit(o.start, o.last_speech, o.split_start, False)
                    self.open = None
                    continue
            if f + 1 - o.start >= self.max_len:
                cut = o.pause if o.pause is not None and o.pause - o.start >= self.max_len // 2 else f + 1
                out += self._emit(o.start, cut, o.split_start, True)
                self.splits += 1
                self.open = _Open(start=cut, last_speech=max(o.last_speech, cut), silence_from=o.silence_from if (o.silence_from or 0) >= cut else None, split_start=True)
        return out

    def finish(self) -> list[tuple[int, int, bool, bool]]:
        o, self.open = self.open, None
        return [] if o is None else self._emit(o.start, o.last_speech, o.split_start, False)

    def _emit(self, start_f: int, end_f: int, split_start: bool, split_end: bool):
        if end_f - start_f < self.min_speech:
            self.dropped += 1
            return []
        s = start_f * FRAME - (0 if split_start else self.pad)
        e = end_f * FRAME + (0 if split_end else self.pad)
        s = max(s, self.last_end, 0)
        self.last_end = e
        return [(s, e, split_start, split_end)]

    def keep_from(self, processed_samples: int) -> int:
        """Earliest sample a future segment can still need."""
        if self.open is not None:
            return max(0, self.open.start * FRAME - self.pad)
        return max(0, processed_samples - self.pad - FRAME)


# ---------------------------------------------------------------------------
# what to say when no segment was scored
# ---------------------------------------------------------------------------
def _dbfs(peak: float) -> float | None:
    """A peak sample value in dB full scale; ``None`` for digital silence (-inf, which JSON cannot hold)."""
    return round(20 * float(np.log10(peak)), 1) if peak > 0 else None


def no_speech_note(scan: Any, duration: float) -> str:
    """What to say when no segment was scored: the segments the model refused (and why), or that the voice activity
    detector found no speech, with the facts and the settings that could change it."""
    if scan.failed:  # found, then refused by the model: never told as "no speech found"
        return (f"no segment scored: the {scan.cfg.vad} voice activity detector found {len(scan.failed)} speech segment(s), and the model "
                f"scored none of them (first, at {scan.failed[0]['start']:.2f} s: {scan.failed[0]['error']})")
    cfg, db = scan.cfg, _dbfs(scan.peak)
    level = "digital silence: every sample is 0" if db is None else f"its loudest sample is at {db:.1f} dBFS"
    dropped = (f"; {scan.seg.dropped} shorter burst(s) were dropped by --min-speech {cfg.min_speech_s:g}, lower it to keep them"
               if scan.seg.dropped else "")
    if cfg.vad == "silero":
        knobs = f"lower --threshold (now {cfg.threshold:g}; e.g. 0.3) or try --vad energy"
    else:
        knobs = (f"try --vad silero (the energy detector needs frames above {cfg.energy_floor_db:g} dBFS and "
                 f"{cfg.energy_margin_db:g} dB over the noise floor: SegmentConfig(energy_floor_db=…, energy_margin_db=…))")
    return (f"no speech found: the {cfg.vad} voice activity detector marked none of the {duration:.1f} s as speech, so nothing "
            f"was classified ({level}). Fix: check that this is the recording you meant (not a silent file or channel); "
            f"if it holds speech, {knobs}{dropped}.")
