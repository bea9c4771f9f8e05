"""Audio intake: decode, mix down, resample to 16 kHz, and say what happened.

Only this module reads audio files.  :func:`load` accepts a path, raw bytes,
an ``(array, sample_rate)`` pair or an :class:`Audio`, and returns an
:class:`Audio` whose :class:`~workbench.audio.processing.ProcessingLog` records the
source facts (file size, duration, sample rate, channels, codec, decoder) and
every step.  Nothing is trimmed or padded here; a decoder or resampler that
changes the length is measured and the log says by how much and where.
:func:`stream` opens the same sources for block-wise reading (long audio).

Decoding: soundfile (libsndfile) first for WAV/FLAC/AIFF/Ogg/Opus, PyAV
(FFmpeg's libraries, in-process, from a wheel) for MP3 and for what
libsndfile cannot read (m4a/aac, webm, wma, a FLAC of unknown length, …); each
is the other's fallback.  No system ``ffmpeg`` and no process per file.
``AudioConfig.decode_timeout_s`` is checked between blocks: a single libav
call that never returns cannot be interrupted in-process (none is known for
audio; the FIFO/device case, the one that blocks, is refused before opening).

Both decoders are read in blocks, and :func:`decode`/:func:`load` stop at
``AudioConfig.max_duration_s`` whatever the container's header declares: a
1.4 MB m4a whose header says 5 s but that holds an hour of audio costs at most
``max_duration_s`` of samples in memory, not the hour (it used to peak at
1.9 GB before being refused).  A length the header does not know (a FLAC
written to a pipe has ``total_samples = 0``) is simply decoded until the end
or the limit.

Every failure raises :class:`~workbench.errors.AudioError` naming the input,
the fact and the fix.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

import numpy as np

from workbench.audio.clip import INPUT_TYPES, Audio, AudioInput, SourceInfo
from workbench.audio.config import MAX_CHANNELS, AudioConfig
from workbench.audio.convert import _Mixer, resample, resample_array, to_mono
from workbench.audio.decoders import EMPTY_FILE_BYTES, AudioStream, check_audio_path, file_sha256, sample_time
from workbench.audio.processing import ProcessingLog, StepRecord
from workbench.errors import AudioError
from workbench.schema import SAMPLE_RATE


# ---------------------------------------------------------------------------
# public entry points
# ---------------------------------------------------------------------------
def load(source: AudioInput, *, config: AudioConfig | None = None, id: str | None = None) -> Audio:
    """Decode ``source`` and return mono audio at ``config.target_sr``.

    Parameters
    ----------
    source : path, bytes, (array, sr) or Audio
        Arrays may be ``(n,)``, ``(n, channels)`` or ``(channels, n)`` with at
        most 64 channels; integer arrays are scaled to [-1, 1].
    config : AudioConfig, optional
    id : str, optional
        Name used in messages and results; defaults to the file name.

    Returns
    -------
    Audio
        ``samples`` of shape ``(n,)``, float32, at ``config.target_sr`` Hz.

    Raises
    ------
    AudioError
        Missing, empty, truncated or undecodable input, NaN/Inf samples,
        zero length, or longer than ``config.max_duration_s``.

    Examples
    --------
    >>> import soundfile
    >>> y = 0.5 * np.sin(2 * np.pi * 220 * np.arange(8000) / 8000)
    >>> soundfile.write("tone.wav", y, 8000)
    >>> audio = wb.load_audio("tone.wav")
    >>> (audio.id, audio.sr, audio.duration, audio.source.sample_rate, audio.source.codec)
    ('tone.wav', 16000, 1.0, 8000, 'PCM_16')
    >>> print(audio.log.lines()[1])
    INFO: resample(method=soxr, quality=VHQ): 1.000s → 1.000s, 8000 → 16000 Hz (... ms)
    >>> wb.load_audio("missing.wav")
    Traceback (most recent call last):
    ...
    workbench.errors.AudioError: missing.wav: file not found. Fix: check the path (relative paths start from the current directory).
    """
    config = config or AudioConfig()
    if isinstance(source, Audio):
        audio = to_mono(source, method=config.mixdown)
    else:
        # files are mixed down block by block: a 64-channel file never sits in memory with all its channels
        audio = _decode(source, config, id, mixdown=config.mixdown)
    if audio.sr != config.target_sr:
        audio = resample(audio, config.target_sr, method=config.resampler, quality=config.soxr_quality)
    return audio


def decode(source: AudioInput, *, config: AudioConfig | None = None, id: str | None = None) -> Audio:
    """Decode without mixing down or resampling; ``samples`` is ``(n, channels)``."""
    return _decode(source, config or AudioConfig(), id, mixdown=None)


def decode_mono(source: AudioInput, *, config: AudioConfig | None = None, id: str | None = None) -> Audio:
    """Decode and mix down block by block (``config.mixdown``), without resampling; ``samples`` is ``(n,)``.

    What the engine and every replay of a row use: all channels of a file never sit in memory at once
    (a 32 s, 8-channel, 192 kHz float WAV is 197 MB; its mono mix is 25 MB).
    """
    config = config or AudioConfig()
    if isinstance(source, Audio):
        return to_mono(source, method=config.mixdown)
    audio = _decode(source, config, id, mixdown=config.mixdown)
    return audio if audio.samples.ndim == 1 else to_mono(audio, method=config.mixdown)


def stream(source: str | os.PathLike | bytes, *, config: AudioConfig | None = None, block_s: float = 30.0,
           id: str | None = None) -> "AudioStream":
    """Open ``source`` for reading in blocks, with no length limit (long audio).

    The returned :class:`AudioStream` has the source facts in ``.info`` at
    once (a bad file fails here, before any work starts); ``.blocks()``
    yields mono float32 blocks of about ``block_s`` seconds at
    ``config.target_sr``, mixed down (mean) and resampled by a streaming soxr
    resampler so that block boundaries leave no seams.
    """
    return AudioStream(source, config=config or AudioConfig(), block_s=block_s, id=id)



def _decode(source: AudioInput, config: AudioConfig, id: str | None, *, mixdown: str | None) -> Audio:
    """Decode to ``(n, channels)`` (``mixdown=None``) or mono, stopping at ``config.max_duration_s``."""
    t0 = time.perf_counter()
    if isinstance(source, tuple) and len(source) == 2:
        samples, sr, info, warnings = _from_array(source[0], source[1], id)
        mixer = _Mixer(mixdown, samples.shape[1], info.id) if mixdown is not None and samples.shape[1] > 1 else None
        acc = _Accumulator(sr, mixer)
        _take([samples], acc, config, info, t0)
    elif isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)):
        stream_ = AudioStream(source, config=config, id=id, streamed=False)
        try:
            info, sr, mixer, acc = _read_stream(stream_, config, mixdown, t0)
        finally:
            stream_.close()
        warnings = stream_.warnings
    else:
        raise AudioError(f"cannot read input of type {type(source).__name__}; expected {INPUT_TYPES}.", source=id,
                         fix="pass a path or an (array, sample_rate) pair.")
    name = info.id if isinstance(source, tuple) else stream_.shown
    acc.check(name, info.declared_duration)
    samples = acc.samples()
    if mixdown is not None and samples.ndim == 2:  # one channel: nothing to mix
        samples = np.ascontiguousarray(samples[:, 0])
    log = ProcessingLog()
    log.add(_decode_record(info, acc, samples, sr, warnings, (time.perf_counter() - t0) * 1000))
    if mixer is not None:
        log.add(mixer.record(sr, len(samples), acc.mix_ms))
    return Audio(samples, sr, info, log)


def _read_stream(stream_: AudioStream, config: AudioConfig, mixdown: str | None, t0: float):
    """Read an open stream to the end or the limit; a decoder failing in mid-file hands over to the next one.

    Returns ``(info, sample_rate, mixer, accumulator)``.
    """
    info, name = stream_.info, stream_.shown
    if info.declared_duration is not None and info.declared_duration > config.max_duration_s:
        raise AudioError(  # refused before decoding
            f"declares {_over(info.declared_duration, config.max_duration_s)} s of audio, over the {config.max_duration_s:g} s limit "
            "for one forward pass.",
            source=name,
            fix="split it into speech segments with `workbench segment`, or raise AudioConfig.max_duration_s.",
        )
    while True:
        sr, n_ch = stream_.info.sample_rate, stream_.info.channels
        mixer = _Mixer(mixdown, n_ch, name) if mixdown is not None and n_ch > 1 else None
        acc = _Accumulator(sr, mixer)
        try:
            _take(stream_.raw_blocks(_block_frames(sr, n_ch, config.max_duration_s)), acc, config, info, t0, name=name)
        except AudioError:
            raise
        except Exception as exc:  # this decoder failed in mid-file: the next one may read it
            stream_.note_failure(exc)
            if stream_.fallback():
                continue
            raise AudioError(f"could not decode: not a readable audio file, or truncated ({stream_.failures}).", source=name,
                             fix="check that the file plays and is not cut short; re-export it as WAV or FLAC.") from None
        kind = stream_.reader_kind
        if acc.n == 0 and (info.size_bytes or 0) > EMPTY_FILE_BYTES and stream_.fallback():
            # a header that says 0 samples in front of a megabyte of them (a recorder stopped before it wrote the
            # length): libsndfile believes the header, FFmpeg reads to the end
            stream_.warnings.append(f"{kind} read no samples from {info.size_bytes:,} bytes (the header says 0); read by the next decoder")
            continue
        return info, sr, mixer, acc


#: samples (all channels) one decoded block holds at most: 2 MB of float32 (32 s of 16 kHz mono, 5.9 s of 44.1 kHz stereo)
BLOCK_VALUES = 1 << 19


def _block_frames(sr: int, channels: int, limit_s: float) -> int:
    """Frames per decoded block: up to 30 s, at most :data:`BLOCK_VALUES` values, at least one frame, and no
    longer than the length limit and one second (a file over the limit is read one block past it at most).

    Few blocks per file (a 6 s mono clip is one read, not seven): each read and each block's checks cost
    ~0.1 ms whatever its length, and the engine decodes beside the model on the same cores (issue #28).
    The bound keeps memory about as low as with 1 s blocks for many channels (16 channels at 48 kHz: 0.7 s blocks).
    """
    return max(1, min(30 * max(1, sr), BLOCK_VALUES // max(1, channels), int(limit_s * sr) + max(1, sr)))


def _over(seconds: float, limit: float) -> str:
    """``seconds`` (over ``limit``) with the decimals that show it over: 10.01 s against 10 s is "10.01", not "10.0"."""
    for digits in range(1, 7):
        if round(seconds, digits) > limit:
            break
    return f"{seconds:.{digits}f}"


def _take(blocks, acc: "_Accumulator", config: AudioConfig, info: SourceInfo, t0: float, *, name: str | None = None) -> None:
    """Add ``blocks`` to ``acc``, stopping at ``config.max_duration_s`` of audio or ``config.decode_timeout_s``."""
    name = name or info.id
    limit = int(config.max_duration_s * acc.sr)
    for block in blocks:
        acc.add(block)
        if acc.n > limit:
            declared = info.declared_duration
            said = f"; the header declares {declared:.1f} s" if declared is not None else ""
            raise AudioError(
                f"is longer than the {config.max_duration_s:g} s limit for one forward pass: decoding stopped at "
                f"{_over(acc.n / acc.sr, config.max_duration_s)} s{said}.",
                source=name,
                fix="split it into speech segments with `workbench segment`, or raise AudioConfig.max_duration_s.",
            )
        if time.perf_counter() - t0 > config.decode_timeout_s:
            raise AudioError(f"decoding did not finish within {config.decode_timeout_s:g} s ({acc.n / acc.sr:.1f} s of audio so far).",
                             source=name, fix="the file is probably damaged: re-export it as WAV or FLAC, or raise "
                                              "AudioConfig.decode_timeout_s.")


def _decode_record(info: SourceInfo, acc: "_Accumulator", samples: np.ndarray, sr: int, warnings: list[str],
                   elapsed_ms: float) -> StepRecord:
    """The ``decode`` step of the log: the source facts, the peak and clipping at the source rate, any length surprise."""
    info.frames = int(samples.shape[0])
    info.duration = samples.shape[0] / sr
    if info.declared_duration is not None and abs(info.declared_duration - info.duration) > 0.02:
        warnings.append(
            f"decoded duration {info.duration:.3f}s differs from the {info.declared_duration:.3f}s "
            f"the file declares ({(info.duration - info.declared_duration) * 1000:+.0f} ms)"
        )
    params = {
        "decoder": info.decoder,
        "file_size": info.size_bytes,
        "format": info.format,
        "codec": info.codec,
        "channels": info.channels,
        # clipping is measured here, at the source rate: resampling rings the flat tops away
        "peak": round(acc.peak, 6),
        "clipped_fraction": acc.clipped / acc.values if acc.values else 0.0,
    }
    return StepRecord(name="decode", params=params, sr_in=sr, sr_out=sr,
                      duration_in=info.declared_duration if info.declared_duration is not None else info.duration,
                      duration_out=info.duration, elapsed_ms=elapsed_ms - acc.mix_ms, warnings=warnings)


class _Accumulator:
    """Collects decoded blocks (mixed down when asked) and the facts measured on them at the source rate."""

    def __init__(self, sr: int, mixer: _Mixer | None):
        self.sr, self.mixer = sr, mixer
        self.parts: list[np.ndarray] = []
        self.n = 0
        self.peak = 0.0
        self.clipped = self.values = 0
        self.bad = 0
        self.first_bad: int | None = None
        self.mix_ms = 0.0

    def add(self, block: np.ndarray) -> None:
        # the largest and smallest value say it all for most blocks: both finite means every value is (a NaN or an
        # infinity would be one of them), and a peak under 0.999 means nothing clipped: two passes over the block
        # instead of five and two temporaries (issue #28: decoding runs beside the model on the same cores)
        top, bottom = (float(block.max()), float(block.min())) if block.size else (0.0, 0.0)
        if not (np.isfinite(top) and np.isfinite(bottom)):
            finite = np.isfinite(block)
            self.bad += int((~finite).sum())
            if self.first_bad is None:
                self.first_bad = self.n + int(np.argmax(~finite.all(axis=1)))
        elif len(block):
            peak = max(top, -bottom)
            self.peak = max(self.peak, peak)
            if peak >= 0.999:
                self.clipped += int(np.count_nonzero(np.abs(block) >= 0.999))
        self.values += block.size
        self.n += len(block)
        if self.mixer is not None:
            t0 = time.perf_counter()
            block = self.mixer.mix(block)
            self.mix_ms += (time.perf_counter() - t0) * 1000
        self.parts.append(block)

    def samples(self) -> np.ndarray:
        if not self.parts:
            return np.zeros((0,) if self.mixer is not None else (0, 1), dtype=np.float32)
        out = self.parts[0] if len(self.parts) == 1 else np.concatenate(self.parts)
        self.parts = []
        return np.ascontiguousarray(out, dtype=np.float32)

    def check(self, name: str, declared: float | None) -> None:
        if self.n == 0 and declared:
            raise AudioError(f"holds no decodable audio although its header declares {declared:.2f} s: it is truncated or damaged.",
                             source=name, fix="re-export or re-download the file.")
        if self.n == 0:
            raise AudioError("contains no audio samples (zero length).", source=name,
                             fix="check the recording; an empty file cannot be classified.")
        if self.bad:
            raise AudioError(
                f"contains {self.bad} NaN/Inf sample values (first at {sample_time(self.first_bad, self.sr)}).",
                source=name,
                fix="the file or array is corrupt: re-export it, or replace non-finite values before loading.",
            )


def _from_array(array: Any, sr: Any, id: str | None):
    name = id or "<array>"
    try:
        sr_int = int(sr)
    except (TypeError, ValueError):
        raise AudioError(f"sample rate must be a positive integer, given {sr!r}.", source=name, fix=f"pass (array, {SAMPLE_RATE}).") from None
    if sr_int <= 0 or sr_int != sr:
        raise AudioError(f"sample rate must be a positive integer, given {sr!r}.", source=name, fix=f"pass (array, {SAMPLE_RATE}).")
    y = np.asarray(array)
    warnings: list[str] = []
    if y.dtype.kind in "iu":
        info_i = np.iinfo(y.dtype)
        scale = float(max(abs(info_i.min), info_i.max))
        offset = 0.0 if y.dtype.kind == "i" else (info_i.max + 1) / 2.0
        y = ((y.astype(np.float64) - offset) / (scale if offset == 0 else offset)).astype(np.float32)
        warnings.append(f"integer samples ({array.dtype}) scaled to [-1, 1]")
    elif y.dtype.kind == "f":
        y = y.astype(np.float32, copy=False)
    else:
        raise AudioError(
            f"samples must be numeric, given dtype={y.dtype}.",
            source=name,
            fix="pass a float32 numpy array.",
        )
    if y.ndim == 1:
        y = y[:, None]
    elif y.ndim == 2:
        if y.shape[0] <= MAX_CHANNELS and y.shape[1] > y.shape[0]:
            y = y.T  # (channels, n) → (n, channels)
        if y.shape[1] > MAX_CHANNELS:
            raise AudioError(
                f"array of shape {tuple(np.asarray(array).shape)} has more than {MAX_CHANNELS} channels.",
                source=name,
                fix="pass (n,) or (n, channels).",
            )
    else:
        raise AudioError(
            f"samples must be 1-D or 2-D, given shape {y.shape}.",
            source=name,
            fix="pass (n,) or (n, channels).",
        )
    digest = hashlib.sha256(str(sr_int).encode() + np.ascontiguousarray(y).tobytes()).hexdigest()
    info = SourceInfo(
        id=name,
        format="array",
        codec=str(np.asarray(array).dtype),
        sample_rate=sr_int,
        channels=int(y.shape[1]),
        decoder="array",
        sha256=digest,
    )
    return np.ascontiguousarray(y), sr_int, info, warnings


__all__ = [
    "Audio",
    "AudioConfig",
    "AudioStream",
    "SourceInfo",
    "load",
    "decode",
    "decode_mono",
    "stream",
    "to_mono",
    "resample",
    "resample_array",
    "file_sha256",
    "check_audio_path",
    "INPUT_TYPES",
    "MAX_CHANNELS",
]
