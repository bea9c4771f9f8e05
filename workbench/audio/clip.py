"""``Audio``: mono samples with the facts of their source and the log of every step made on them."""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from typing import Union

import numpy as np

from workbench.audio.processing import ProcessingLog, StepRecord


@dataclass
class SourceInfo:
    """Facts about the input as it was before any processing."""

    id: str
    path: str | None = None
    size_bytes: int | None = None
    format: str | None = None
    codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    frames: int | None = None
    duration: float | None = None
    decoder: str | None = None
    sha256: str | None = None
    declared_duration: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Audio:
    """Mono float32 samples at ``sr`` Hz with their source facts and log.

    :func:`workbench.audio.intake.load` (``wb.load_audio``) makes one from a file, bytes or an array; every
    step after it returns a new :class:`Audio` whose log has one more record.

    Parameters
    ----------
    samples : ndarray, shape (n_samples,)
        float32, values nominally in [-1, 1] (``(n, channels)`` only before the mixdown).
    sr : int
        Sample rate in Hz.
    source : SourceInfo
        Facts about the input before any processing: id, path, size, format, codec, rate, channels, sha256.
    log : ProcessingLog
        Every step made on the samples, with its parameters, rates, durations and what it cut or added.

    Examples
    --------
    >>> y = np.sin(2 * np.pi * 220 * np.arange(8000) / 8000).astype(np.float32)
    >>> audio = wb.load_audio((y, 8000), id="tone")
    >>> (audio.id, audio.sr, len(audio.samples), audio.duration)
    ('tone', 16000, 16000, 1.0)
    >>> audio.source.sample_rate  # the input's own rate
    8000
    >>> [step.name for step in audio.log.steps]
    ['decode', 'resample']
    >>> len(audio.content_hash())
    64
    """

    samples: np.ndarray
    sr: int
    source: SourceInfo
    log: ProcessingLog = field(default_factory=ProcessingLog)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sr if self.sr else 0.0

    @property
    def id(self) -> str:
        return self.source.id

    def with_samples(self, samples: np.ndarray, sr: int | None = None, record: StepRecord | None = None) -> "Audio":
        """A new :class:`Audio` with other samples and, optionally, one more log step."""
        log = self.log.copy()
        if record is not None:
            log.add(record)
        return Audio(np.ascontiguousarray(samples, dtype=np.float32), sr or self.sr, self.source, log)

    def content_hash(self) -> str:
        """sha256 of the samples and rate as they are now (not of the file)."""
        h = hashlib.sha256()
        h.update(str(int(self.sr)).encode())
        h.update(np.ascontiguousarray(self.samples, dtype=np.float32).tobytes())
        return h.hexdigest()


AudioInput = Union[str, os.PathLike, bytes, "tuple[np.ndarray, int]", Audio]

#: shown in errors about the type of the input
INPUT_TYPES = "a file path, raw bytes of an audio file, an (array, sample_rate) pair, or workbench.Audio"
