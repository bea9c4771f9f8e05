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

import errno
import hashlib
import io
import logging
import math
import os
import re
import stat
import struct
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterator, Union

import numpy as np

from workbench import files
from workbench.errors import AudioError, ConfigError
from workbench.audio.processing import ProcessingLog, StepRecord, measure_length_change
from workbench.schema import SAMPLE_RATE

logger = logging.getLogger(__name__)

TARGET_SR = SAMPLE_RATE  # the model's rate, under the name audio settings use

# extensions that go to PyAV first: libsndfile cannot read them (MP3 goes to PyAV only: _looks_like_mpeg)
_AV_FIRST = {".m4a", ".aac", ".mp4", ".m4b", ".webm", ".wma", ".amr", ".3gp", ".mka", ".caf", ".mov", ".ac3", ".alac"}

# libsndfile reports SF_COUNT_MAX frames when the header does not know the length (a streamed FLAC)
_UNKNOWN_FRAMES = 1 << 62

#: the most channels intake accepts (arrays and files alike)
MAX_CHANNELS = 64


@dataclass(frozen=True)
class AudioConfig:
    """Settings of audio intake.

    Attributes
    ----------
    target_sr : int
        Sample rate handed to the model (emotion2vec expects 16 kHz: ``schema.SAMPLE_RATE``).
    resampler : str
        ``"soxr"`` (default), ``"scipy"`` (polyphase) or ``"librosa"``.
    soxr_quality : str
        soxr quality preset: ``"VHQ"``, ``"HQ"``, ``"MQ"``, ``"LQ"``, ``"QQ"``.
    mixdown : str
        ``"mean"`` averages the channels; ``"first"`` keeps channel 0.
    max_duration_s : float
        Longer inputs are refused: one forward pass over them needs memory
        quadratic in length.  Split them with ``workbench segment``.  Decoding
        stops here whatever the file's header declares, so this also bounds
        the memory one file can take (``max_duration_s`` × rate × channels ×
        4 bytes while decoding, mono after :func:`load`).
    decode_timeout_s : float
        Decoding that has not finished after this many seconds is abandoned
        (checked between blocks of decoded audio).
    min_sample_rate_hz, max_sample_rate_hz : int
        Rates outside this range are refused as a wrong header (a 1 Hz WAV)
        rather than resampled by a factor of thousands.
    """

    target_sr: int = TARGET_SR
    resampler: str = "soxr"
    soxr_quality: str = "VHQ"
    mixdown: str = "mean"
    max_duration_s: float = 120.0
    decode_timeout_s: float = 60.0
    min_sample_rate_hz: int = 2000
    max_sample_rate_hz: int = 768000

    def to_dict(self) -> dict:
        return asdict(self)

    #: the values a text setting may take
    CHOICES = {"resampler": ("soxr", "scipy", "librosa"), "soxr_quality": ("VHQ", "HQ", "MQ", "LQ", "QQ"),
               "mixdown": ("mean", "first")}

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "audio") -> "AudioConfig":
        """Settings written in a file (an experiment's ``audio:``), checked: unknown keys, wrong types and values
        out of range are refused with what is expected.  A number YAML 1.1 reads as text (``1e3``) is taken
        as the number.  ``target_sr`` must be the model's rate: a run feeds the model."""
        if not isinstance(data, dict):
            raise ConfigError(f"must be a mapping of settings, given {data!r}.", source=source,
                              fix=f"write e.g. `audio: {{max_duration_s: 60}}`; settings: {[f.name for f in fields(cls)]}.")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"unknown setting(s) {unknown}; it takes {sorted(known)}.", source=source,
                              fix="remove or rename them.")
        out = {k: _setting(k, str(known[k].type), v, cls.CHOICES.get(k), source) for k, v in data.items()}
        cfg = cls(**out)
        if cfg.target_sr != SAMPLE_RATE:
            raise ConfigError(f"target_sr must be {SAMPLE_RATE} (the rate the model hears), given {cfg.target_sr}.",
                              source=source, fix=f"leave target_sr out (it is {SAMPLE_RATE}).")
        if not cfg.min_sample_rate_hz <= cfg.max_sample_rate_hz:
            raise ConfigError(f"min_sample_rate_hz {cfg.min_sample_rate_hz} is above max_sample_rate_hz {cfg.max_sample_rate_hz}.",
                              source=source, fix="swap them, or leave them at their defaults (2000 and 768000).")
        return cfg


def _setting(key: str, kind: str, value: Any, choices: tuple | None, source: str) -> Any:
    """One audio setting as its declared type: numbers positive (a timeout may be 0), text one of ``choices``."""
    if kind in ("int", "float") and not isinstance(value, bool):
        try:
            number = float(value) if isinstance(value, (int, float, str)) else float("nan")
        except ValueError:
            number = float("nan")
        low_ok = number >= 0 if key == "decode_timeout_s" else number > 0
        if math.isfinite(number) and low_ok and (kind == "float" or number.is_integer()):
            return int(number) if kind == "int" else number
        what = "a whole number above 0" if kind == "int" else ("a number >= 0" if key == "decode_timeout_s" else "a number above 0")
        raise ConfigError(f"{key} must be {what}, given {value!r}.", source=source, fix=f"write {key}: {getattr(AudioConfig, key)!r} (the default) or another value.")
    if kind == "str" and isinstance(value, str) and (choices is None or value in choices):
        return value
    raise ConfigError(f"{key} must be one of {list(choices or [])}, given {value!r}.", source=source,
                      fix=f"write {key}: {getattr(AudioConfig, key)!r} (the default).")


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

    ``samples`` has shape ``(n_samples,)``, values nominally in [-1, 1].
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


def to_mono(audio: Audio, *, method: str = "mean") -> Audio:
    """Mix an ``(n, channels)`` :class:`Audio` down to ``(n,)`` and log how."""
    y = audio.samples
    if y.ndim == 1:
        return audio
    n_ch = y.shape[1]
    if n_ch == 1:
        return Audio(np.ascontiguousarray(y[:, 0]), audio.sr, audio.source, audio.log)
    t0 = time.perf_counter()
    mixer = _Mixer(method, n_ch, audio.id)
    mono = mixer.mix(y)
    return audio.with_samples(mono, record=mixer.record(audio.sr, len(mono), (time.perf_counter() - t0) * 1000))


class _Mixer:
    """Mixes blocks down and keeps what the log needs to say (lost power when channels cancel)."""

    def __init__(self, method: str, channels: int, name: str | None):
        if method not in ("mean", "first"):
            raise AudioError(f"unknown mixdown method {method!r}; expected 'mean' or 'first'.", source=name,
                             fix="set AudioConfig(mixdown='mean').")
        self.method, self.channels = method, channels
        self.ch_energy = self.mono_energy = 0.0
        self.n = 0

    def mix(self, block: np.ndarray) -> np.ndarray:
        if self.method == "first":
            return np.ascontiguousarray(block[:, 0])
        mono = block.mean(axis=1, dtype=np.float64).astype(np.float32)
        self.ch_energy += float(np.sum(np.square(block, dtype=np.float64))) / self.channels
        self.mono_energy += float(np.sum(np.square(mono, dtype=np.float64)))
        self.n += len(block)
        return mono

    def record(self, sr: int, n: int, elapsed_ms: float) -> StepRecord:
        warnings = []
        if self.method == "mean" and self.n:
            ch_power, mono_power = self.ch_energy / self.n, self.mono_energy / self.n
            if ch_power > 1e-10 and mono_power < 0.25 * ch_power:
                warnings.append(
                    f"averaging the {self.channels} channels lost {10 * np.log10(ch_power / max(mono_power, 1e-20)):.1f} dB: "
                    "they partly cancel (phase-inverted stereo?); consider mixdown='first'"
                )
        return StepRecord(name="mixdown", params={"method": self.method, "channels": self.channels}, sr_in=sr, sr_out=sr,
                          duration_in=n / sr, duration_out=n / sr, elapsed_ms=elapsed_ms, warnings=warnings, message="")


def resample_array(y: np.ndarray, sr_in: int, sr_out: int, *, method: str = "soxr", quality: str = "VHQ") -> np.ndarray:
    """Resample a 1-D float array; pure function.

    ``method``: ``"soxr"`` (quality preset ``quality``), ``"scipy"``
    (polyphase FIR, Kaiser window) or ``"librosa"`` (its default, soxr_hq).
    The output has ``round(len(y) * sr_out / sr_in)`` samples (±1).
    """
    if sr_in == sr_out:
        return y
    if method == "soxr":
        import soxr

        return soxr.resample(y, sr_in, sr_out, quality=quality).astype(np.float32, copy=False)
    if method == "scipy":
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(int(sr_in), int(sr_out))
        return resample_poly(y, sr_out // g, sr_in // g).astype(np.float32)
    if method == "librosa":
        import librosa

        return librosa.resample(y, orig_sr=sr_in, target_sr=sr_out).astype(np.float32)
    raise AudioError(
        f"unknown resampler {method!r}; expected 'soxr', 'scipy' or 'librosa'.",
        fix="set AudioConfig(resampler='soxr').",
    )


def resample(audio: Audio, sr_out: int, *, method: str = "soxr", quality: str = "VHQ") -> Audio:
    """Resample mono :class:`Audio` and log the resampler and any length change."""
    if audio.samples.ndim != 1:
        audio = to_mono(audio)
    t0 = time.perf_counter()
    y = resample_array(audio.samples, audio.sr, sr_out, method=method, quality=quality)
    cut_s, cut_e, add_s, add_e, warnings = measure_length_change(
        f"resampling ({method})", n_in=len(audio.samples), sr_in=audio.sr, n_out=len(y), sr_out=sr_out
    )
    params: dict[str, Any] = {"method": method}
    if method == "soxr":
        params["quality"] = quality
    record = StepRecord(
        name="resample",
        params=params,
        sr_in=audio.sr,
        sr_out=sr_out,
        duration_in=audio.duration,
        duration_out=len(y) / sr_out,
        cut_start=cut_s,
        cut_end=cut_e,
        added_start=add_s,
        added_end=add_e,
        elapsed_ms=(time.perf_counter() - t0) * 1000,
        warnings=warnings,
    )
    return audio.with_samples(y, sr_out, record)


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes, read in 1 MB chunks; an unreadable file raises :class:`AudioError`."""
    try:
        return files.sha256_file(path, chunk=chunk)
    except OSError as exc:
        raise _os_error(exc, str(path)) from None


# ---------------------------------------------------------------------------
# the one decoding path: open a source, then read blocks
# ---------------------------------------------------------------------------
def check_audio_path(path: Path) -> int:
    """Refuse what no decoder should be handed (missing, a folder, a pipe, empty); return the size in bytes."""
    shown = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise AudioError(f"is a symbolic link to {os.readlink(path)!r}, which does not exist.", source=shown,
                             fix="point the link at the audio file, or pass the file itself.") from None
        raise AudioError("file not found.", source=shown, fix="check the path (relative paths start from the current directory).") from None
    except OSError as exc:
        raise _os_error(exc, shown) from None
    if stat.S_ISDIR(st.st_mode):
        raise AudioError("is a directory, not an audio file.", source=shown, fix="pass the audio files inside it, or a manifest that lists them.")
    if not stat.S_ISREG(st.st_mode):
        # a FIFO or device would block a decoder forever
        raise AudioError("is not a regular file (a pipe, socket or device).", source=shown, fix="copy the audio into a regular file first.")
    if st.st_size == 0:
        raise AudioError("file is empty (0 bytes).", source=shown, fix="re-export or re-download the file.")
    return int(st.st_size)


def _head(path: Path, n: int = 4) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError as exc:
        raise _os_error(exc, str(path)) from None


def _looks_like_mpeg(head: bytes) -> bool:
    """An ID3 tag or an MPEG audio frame sync: such bytes go to PyAV only.  libsndfile's MPEG decoder
    (libmpg123) trusts the Xing frame count, so an MP3 that says 5 s and holds an hour came back as 5 s,
    and it writes its warnings straight to the terminal."""
    return head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0)


def _os_error(exc: OSError, shown: str) -> AudioError:
    if exc.errno == errno.ELOOP:
        return AudioError("is a symbolic link loop (the link points, directly or not, at itself).", source=shown,
                          fix="point the link at the audio file, or pass the file itself.")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return AudioError("cannot be read: permission denied.", source=shown,
                          fix="give the workbench's user read access (chmod u+r), or copy the file somewhere readable.")
    return AudioError(f"cannot be read: {exc.strerror or exc}.", source=shown, fix="check that the file exists and is readable.")


class AudioStream:
    """An open audio source read block by block.

    ``info`` holds the source facts as soon as the stream is open;
    :meth:`raw_blocks` yields ``(n, channels)`` float32 blocks at the source
    rate, :meth:`blocks` mono blocks at ``config.target_sr``.  ``warnings``
    collects what the decoder reported (damaged packets, a truncated WAV).
    After the last block ``info.frames`` and ``info.duration`` are set.
    """

    def __init__(self, source: str | os.PathLike | bytes, *, config: AudioConfig, block_s: float = 30.0, id: str | None = None,
                 streamed: bool = True):
        self.config, self.block_s = config, block_s
        self.warnings: list[str] = []
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            self.shown = str(path)
            size = check_audio_path(path)
            self.info = SourceInfo(id=id or path.name, path=str(path), size_bytes=size, sha256=file_sha256(path))
            self.warnings += _check_wav_header(path, config)
            self._open_file = lambda: str(path)
            order = ["pyav", "soundfile"] if path.suffix.lower() in _AV_FIRST else ["soundfile", "pyav"]
            if path.suffix.lower() == ".mp3" or _looks_like_mpeg(_head(path)):
                order = ["pyav"]
        elif isinstance(source, (bytes, bytearray, memoryview)):
            data = bytes(source)
            self.shown = id or "<bytes>"
            if not data:
                raise AudioError("input is empty (0 bytes).", source=self.shown, fix="pass the bytes of a whole audio file.")
            self.info = SourceInfo(id=self.shown, size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
            self._open_file = lambda: io.BytesIO(data)
            order = ["pyav"] if _looks_like_mpeg(data[:4]) else ["soundfile", "pyav"]
        else:
            raise AudioError(f"cannot read input of type {type(source).__name__}; expected {INPUT_TYPES}.", source=id,
                             fix="pass a path or an (array, sample_rate) pair.")
        self._order = order
        self._streamed = streamed
        self._errors: list[str] = []
        self._reader = self._next_reader()

    # -- opening -----------------------------------------------------------------
    def _next_reader(self):
        """Open the next decoder in the order that accepts the source; AudioError when none is left."""
        while self._order:
            kind = self._order.pop(0)
            try:
                reader = _SoundfileReader(self._open_file()) if kind == "soundfile" else _AvReader(self._open_file())
            except AudioError:
                raise
            except Exception as exc:  # that decoder cannot read it: try the next one
                self._errors.append(f"{kind}: {_one_line(exc)}")
                continue
            for key, value in reader.facts.items():
                setattr(self.info, key, value)
            self.info.decoder = reader.name + (", streamed" if self._streamed else "")
            self._check_rate()
            return reader
        raise AudioError(
            f"could not decode: not a readable audio file, or truncated ({'; '.join(self._errors) or 'no decoder accepted it'}).",
            source=self.shown,
            fix="check that the file plays and is not cut short; re-export it as WAV or FLAC.",
        )

    def _check_rate(self) -> None:
        sr, ch, c = self.info.sample_rate or 0, self.info.channels or 0, self.config
        if not c.min_sample_rate_hz <= sr <= c.max_sample_rate_hz:
            raise AudioError(f"declares a sample rate of {sr} Hz, outside {c.min_sample_rate_hz}–{c.max_sample_rate_hz} Hz: "
                             "the header is probably wrong.", source=self.shown,
                             fix=f"re-export the file with its real sample rate (e.g. {SAMPLE_RATE} or 44100 Hz).")
        if not 1 <= ch <= MAX_CHANNELS:
            raise AudioError(f"declares {ch} channels; intake reads 1–{MAX_CHANNELS}.", source=self.shown,
                             fix="export the channels you need (e.g. a mono or stereo mix) to a new file.")

    def fallback(self) -> bool:
        """Switch to the next decoder after the current one failed while reading; False when none is left."""
        self.close()
        try:
            self._reader = self._next_reader()
        except AudioError:
            return False
        return True

    def note_failure(self, exc: BaseException) -> None:
        self._errors.append(f"{self._reader.kind}: {_one_line(exc)}")

    @property
    def failures(self) -> str:
        return "; ".join(self._errors)

    # -- reading -----------------------------------------------------------------
    def raw_blocks(self, block_frames: int | None = None) -> Iterator[np.ndarray]:
        """``(n, channels)`` float32 blocks at the source rate, about ``block_frames`` long."""
        sr, ch = self.info.sample_rate, self.info.channels
        want = block_frames or max(1, int(self.block_s * sr))
        pending: list[np.ndarray] = []
        have = 0
        for block in self._reader.read(want):
            if block.shape[1] != ch:
                raise AudioError(f"changes from {ch} to {block.shape[1]} channels in mid-stream.", source=self.shown,
                                 fix="re-export the file with a fixed channel layout.")
            pending.append(block)
            have += len(block)
            if have >= want:
                yield pending[0] if len(pending) == 1 else np.concatenate(pending)
                pending, have = [], 0
        if pending:
            yield pending[0] if len(pending) == 1 else np.concatenate(pending)
        if self._reader.bad_packets:
            self.warnings.append(f"decoder reported {self._reader.bad_packets} damaged packet(s), skipped "
                                 f"(file may be truncated): {self._reader.last_error[:200]}")

    def blocks(self) -> Iterator[np.ndarray]:
        """Mono float32 blocks at ``config.target_sr`` (mean of the channels, streaming soxr resampler)."""
        import soxr

        sr, ch, target = self.info.sample_rate, self.info.channels, self.config.target_sr
        resampler = None if sr == target else soxr.ResampleStream(sr, target, 1, dtype="float32", quality=self.config.soxr_quality)
        n_in = 0
        try:
            for block in self.raw_blocks():
                finite = np.isfinite(block)
                if not finite.all():
                    first = int(np.argmax(~finite.all(axis=1)))
                    raise AudioError(f"contains NaN/Inf sample values (first at {(n_in + first) / sr:.3f} s).", source=self.shown,
                                     fix="the file is corrupt: re-export it.")
                n_in += len(block)
                mono = block.mean(axis=1, dtype=np.float32) if ch > 1 else block[:, 0]
                out = mono if resampler is None else resampler.resample_chunk(np.ascontiguousarray(mono), last=False)
                if len(out):
                    yield out
        except AudioError:
            raise
        except Exception as exc:  # a decoder failing in mid-file: say where
            raise AudioError(f"decoding failed at {n_in / sr:.1f} s ({_one_line(exc)}).", source=self.shown,
                             fix="the file is damaged or truncated: re-export it as WAV or FLAC.") from None
        finally:
            self.close()
        if resampler is not None:
            tail = resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            if len(tail):
                yield tail
        self.info.frames = n_in
        self.info.duration = n_in / sr
        if n_in == 0:
            raise AudioError("contains no audio samples (zero length).", source=self.shown, fix="check the recording.")

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()

    def __enter__(self) -> "AudioStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class _SoundfileReader:
    kind = "soundfile"

    def __init__(self, file: Any):
        import soundfile as sf

        self.f = sf.SoundFile(file)
        self.name = f"soundfile (libsndfile {sf.__libsndfile_version__})"
        frames, sr = self.f.frames, self.f.samplerate
        if frames >= _UNKNOWN_FRAMES:
            # a FLAC written to a pipe (total_samples = 0): libsndfile reports SF_COUNT_MAX frames, and its
            # reads fail after the first block (a seek past the end), so PyAV reads these
            self.f.close()
            raise RuntimeError("the header does not say how long the audio is (streamed FLAC), which libsndfile cannot read")
        known = 0 < frames and sr > 0
        self.facts = {"format": self.f.format, "codec": self.f.subtype, "sample_rate": int(sr), "channels": int(self.f.channels),
                      "declared_duration": frames / sr if known else None}
        self.bad_packets, self.last_error = 0, ""

    def read(self, want: int) -> Iterator[np.ndarray]:
        while True:
            block = self.f.read(want, dtype="float32", always_2d=True)
            if not len(block):
                return
            yield block

    def close(self) -> None:
        self.f.close()


# integer sample formats of FFmpeg → the divisor that maps them to [-1, 1)
_AV_INT_SCALE = {"s16": 32768.0, "s32": 2147483648.0, "s64": 9223372036854775808.0}


class _AvReader:
    """PyAV: FFmpeg's demuxers and decoders in-process; damaged packets are skipped and counted, as ffmpeg does."""

    kind = "pyav"

    def __init__(self, file: Any):
        import av

        self._av = av
        self.container = av.open(file, mode="r", metadata_errors="ignore")
        try:
            audio = self.container.streams.audio
            if not audio:
                others = sorted({s.type for s in self.container.streams})
                raise RuntimeError("no audio stream in the file" + (f" (it holds {', '.join(others)})" if others else ""))
            self.stream = audio[0]
            cc = self.stream.codec_context
            sr, ch = int(cc.sample_rate or 0), int(cc.channels or 0)
            if sr <= 0 or ch <= 0:
                raise RuntimeError(f"the audio stream reports sample_rate={sr}, channels={ch}")
            declared = None
            if self.stream.duration and self.stream.time_base:
                declared = float(self.stream.duration * self.stream.time_base)
            elif self.container.duration:
                declared = self.container.duration / 1_000_000
            libavcodec = ".".join(map(str, av.library_versions.get("libavcodec", ())))
            self.name = f"PyAV {av.__version__} (libavcodec {libavcodec})"
            self.facts = {"format": self.container.format.name, "codec": cc.name, "sample_rate": sr, "channels": ch,
                          "declared_duration": declared if declared and declared > 0 else None}
        except BaseException:
            self.container.close()
            raise
        self.bad_packets, self.last_error = 0, ""

    def read(self, want: int) -> Iterator[np.ndarray]:
        av = self._av
        sr = self.facts["sample_rate"]
        try:
            for packet in self.container.demux(self.stream):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError as exc:  # a damaged packet: skip it, as ffmpeg does, and say so
                    self.bad_packets += 1
                    self.last_error = _one_line(exc)
                    continue
                for frame in frames:
                    if frame.sample_rate != sr:
                        raise RuntimeError(f"the sample rate changes from {sr} to {frame.sample_rate} Hz in mid-stream")
                    yield _frame_to_array(frame)
        except av.error.FFmpegError as exc:  # the container itself is cut short or damaged: keep what was decoded
            self.bad_packets += 1
            self.last_error = _one_line(exc)

    def close(self) -> None:
        self.container.close()


def _frame_to_array(frame: Any) -> np.ndarray:
    """One decoded PyAV frame as ``(n, channels)`` float32 in [-1, 1]."""
    fmt = frame.format
    arr = frame.to_ndarray()
    ch = len(frame.layout.channels) if frame.layout is not None else arr.shape[0]
    arr = arr.T if fmt.is_planar else arr.reshape(-1, ch)
    name = fmt.name.rstrip("p")
    if name in ("flt", "dbl"):
        return np.ascontiguousarray(arr, dtype=np.float32)
    if name == "u8":
        return ((arr.astype(np.float32) - 128.0) / 128.0).astype(np.float32)
    if name in _AV_INT_SCALE:
        return (arr.astype(np.float64) / _AV_INT_SCALE[name]).astype(np.float32)
    raise RuntimeError(f"unsupported sample format {fmt.name}")


def _decode(source: AudioInput, config: AudioConfig, id: str | None, *, mixdown: str | None) -> Audio:
    """Decode to ``(n, channels)`` (``mixdown=None``) or mono, stopping at ``config.max_duration_s``."""
    t0 = time.perf_counter()
    if isinstance(source, tuple) and len(source) == 2:
        samples, sr, info, warnings = _from_array(source[0], source[1], id)
        name = info.id
        blocks = [samples]
        n_ch = samples.shape[1]
        stream_ = None
    elif isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview)):
        stream_ = AudioStream(source, config=config, id=id, streamed=False)
        info, name = stream_.info, stream_.shown
        sr, n_ch = info.sample_rate, info.channels
        if info.declared_duration is not None and info.declared_duration > config.max_duration_s:
            stream_.close()  # refused before decoding
            raise AudioError(
                f"declares {info.declared_duration:.1f} s of audio, over the {config.max_duration_s:g} s limit for one forward pass.",
                source=name,
                fix="split it into speech segments with `workbench segment`, or raise AudioConfig.max_duration_s.",
            )
        blocks = None
    else:
        raise AudioError(f"cannot read input of type {type(source).__name__}; expected {INPUT_TYPES}.", source=id,
                         fix="pass a path or an (array, sample_rate) pair.")
    mixer = _Mixer(mixdown, n_ch, name) if mixdown is not None and n_ch > 1 else None
    limit = int(config.max_duration_s * sr)
    while True:
        acc = _Accumulator(sr, mixer)
        try:
            for block in (blocks if blocks is not None else stream_.raw_blocks(max(1, sr))):
                acc.add(block)
                if acc.n > limit:
                    declared = info.declared_duration
                    said = f"; the header declares {declared:.1f} s" if declared is not None else ""
                    raise AudioError(
                        f"is longer than the {config.max_duration_s:g} s limit for one forward pass: decoding stopped at "
                        f"{acc.n / sr:.1f} s{said}.",
                        source=name,
                        fix="split it into speech segments with `workbench segment`, or raise AudioConfig.max_duration_s.",
                    )
                if time.perf_counter() - t0 > config.decode_timeout_s:
                    raise AudioError(f"decoding did not finish within {config.decode_timeout_s:g} s ({acc.n / sr:.1f} s of audio so far).",
                                     source=name, fix="the file is probably damaged: re-export it as WAV or FLAC, or raise "
                                                      "AudioConfig.decode_timeout_s.")
        except AudioError:
            if stream_ is not None:
                stream_.close()
            raise
        except Exception as exc:  # this decoder failed in mid-file: the next one may read it
            if stream_ is None:
                raise
            stream_.note_failure(exc)
            if stream_.fallback():
                sr, n_ch = stream_.info.sample_rate, stream_.info.channels
                mixer = _Mixer(mixdown, n_ch, name) if mixdown is not None and n_ch > 1 else None
                limit = int(config.max_duration_s * sr)
                continue
            raise AudioError(f"could not decode: not a readable audio file, or truncated ({stream_.failures}).", source=name,
                             fix="check that the file plays and is not cut short; re-export it as WAV or FLAC.") from None
        break
    if stream_ is not None:
        stream_.close()
        warnings = stream_.warnings
    acc.check(name, info.declared_duration)
    samples = acc.samples()
    if mixdown is not None and samples.ndim == 2:  # one channel: nothing to mix
        samples = np.ascontiguousarray(samples[:, 0])
    elapsed = (time.perf_counter() - t0) * 1000
    info.frames = int(samples.shape[0])
    info.duration = samples.shape[0] / sr
    if info.declared_duration is not None and abs(info.declared_duration - info.duration) > 0.02:
        warnings.append(
            f"decoded duration {info.duration:.3f}s differs from the {info.declared_duration:.3f}s "
            f"the file declares ({(info.duration - info.declared_duration) * 1000:+.0f} ms)"
        )
    record = StepRecord(
        name="decode",
        params={
            "decoder": info.decoder,
            "file_size": info.size_bytes,
            "format": info.format,
            "codec": info.codec,
            "channels": info.channels,
            # clipping is measured here, at the source rate: resampling rings the flat tops away
            "peak": round(acc.peak, 6),
            "clipped_fraction": acc.clipped / acc.values if acc.values else 0.0,
        },
        sr_in=sr,
        sr_out=sr,
        duration_in=info.declared_duration if info.declared_duration is not None else info.duration,
        duration_out=info.duration,
        elapsed_ms=elapsed - acc.mix_ms,
        warnings=warnings,
    )
    log = ProcessingLog()
    log.add(record)
    if mixer is not None:
        log.add(mixer.record(sr, len(samples), acc.mix_ms))
    return Audio(samples, sr, info, log)


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
        finite = np.isfinite(block)
        if not finite.all():
            self.bad += int((~finite).sum())
            if self.first_bad is None:
                self.first_bad = self.n + int(np.argmax(~finite.all(axis=1)))
        elif len(block):
            mag = np.abs(block)
            self.peak = max(self.peak, float(mag.max()))
            self.clipped += int(np.count_nonzero(mag >= 0.999))
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
                f"contains {self.bad} NaN/Inf sample values (first at {self.first_bad / self.sr:.3f} s).",
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


# ---------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------
def _check_wav_header(path: Path, config: AudioConfig) -> list[str]:
    """Look at a RIFF/WAVE header: warnings to log; :class:`AudioError` when it cannot be decoded at all."""
    shown = str(path)
    fix = "the file is cut short or damaged: re-export or re-download it."
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if head[:4] not in (b"RIFF", b"RIFX") or (len(head) >= 12 and head[8:12] != b"WAVE"):
                return []
            if len(head) < 12:
                raise AudioError(f"WAV header is truncated: the file has {len(head)} bytes.", source=shown, fix=fix)
            size = os.fstat(f.fileno()).st_size
            pos = 12
            endian = "<" if head[:4] == b"RIFF" else ">"
            fmt_seen = False
            while True:
                f.seek(pos)
                chunk = f.read(8)
                if len(chunk) < 8:
                    break
                cid, clen = chunk[:4], struct.unpack(endian + "I", chunk[4:])[0]
                if cid == b"fmt ":
                    fmt_seen = True
                    channels, rate = struct.unpack(endian + "HI", f.read(8)[2:8])
                    if not config.min_sample_rate_hz <= rate <= config.max_sample_rate_hz:
                        raise AudioError(f"WAV header declares a sample rate of {rate} Hz, outside {config.min_sample_rate_hz}–"
                                         f"{config.max_sample_rate_hz} Hz: the header is probably wrong.", source=shown,
                                         fix=f"re-export the file with its real sample rate (e.g. {SAMPLE_RATE} or 44100 Hz).")
                    if not 1 <= channels <= MAX_CHANNELS:
                        raise AudioError(f"WAV header declares {channels} channels; intake reads 1–{MAX_CHANNELS}.", source=shown,
                                         fix="re-export the file (mono or stereo).")
                if cid == b"data":
                    if not fmt_seen:
                        raise AudioError("WAV header has a data chunk but no fmt chunk before it.", source=shown, fix=fix)
                    available = size - (pos + 8)
                    if clen not in (0, 0xFFFFFFFF) and available < clen:
                        return [
                            f"WAV data is truncated: the header declares {clen} bytes of audio, "
                            f"the file holds {available} ({100 * available / clen:.0f}%); decoding what is there"
                        ]
                    after = pos + 8 + clen + (clen & 1)
                    if clen not in (0, 0xFFFFFFFF) and size - after >= 8:
                        f.seek(after)
                        nxt = f.read(4)
                        if not all(48 <= b < 123 or b == 32 for b in nxt):  # not the id of another chunk
                            return [f"the WAV header counts {clen} bytes of audio, but {size - after} more bytes follow that are "
                                    "not a chunk: only the declared audio is decoded (was the header written before recording ended?)"]
                    return []
                pos += 8 + clen + (clen & 1)
            raise AudioError("WAV header is truncated: no audio data chunk found.", source=shown, fix=fix)
    except OSError as exc:
        raise _os_error(exc, shown) from None


def _one_line(exc: BaseException) -> str:
    """The useful last line of a decoder's error, without the path (the message names the input already)."""
    if getattr(exc, "strerror", None):  # PyAV: "[Errno 1094995529] Invalid data …: 'path'"
        text = [str(exc.strerror)]
    else:
        text = str(exc).strip().splitlines()
    line = text[-1] if text else type(exc).__name__
    line = re.sub(r"^Error opening .*?: ", "", line)  # libsndfile repeats the path
    # libsndfile's words for "no decoder of mine recognises these bytes" (it says this of plain files too)
    line = line.replace("File does not exist or is not a regular file (possibly a pipe?).", "format not recognised.")
    return line[:300]


__all__ = [
    "Audio",
    "AudioConfig",
    "AudioStream",
    "SourceInfo",
    "load",
    "decode",
    "stream",
    "to_mono",
    "resample",
    "resample_array",
    "file_sha256",
    "check_audio_path",
    "INPUT_TYPES",
    "MAX_CHANNELS",
    "TARGET_SR",
]
