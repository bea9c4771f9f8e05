"""Audio intake: decode, mix down, resample to 16 kHz, and say what happened.

Only this module reads audio files.  :func:`load` accepts a path, raw bytes,
an ``(array, sample_rate)`` pair or an :class:`Audio`, and returns an
:class:`Audio` whose :class:`~workbench.processing.ProcessingLog` records the
source facts (file size, duration, sample rate, channels, codec, decoder) and
every step.  Nothing is trimmed or padded here; a decoder or resampler that
changes the length is measured and the log says by how much and where.

Decoding: soundfile (libsndfile) first for WAV/FLAC/OGG/Opus/MP3, ffmpeg for
what libsndfile cannot read (m4a/aac, …).  ffmpeg always runs under a timeout,
so a pathological file fails within seconds instead of hanging.

Every failure raises :class:`~workbench.errors.AudioError` naming the input,
the fact and the fix.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import struct
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Union

import numpy as np

from .errors import AudioError
from .processing import ProcessingLog, StepRecord, measure_length_change

logger = logging.getLogger(__name__)

TARGET_SR = 16000

# extensions that go to ffmpeg first: libsndfile cannot read them
_FFMPEG_FIRST = {".m4a", ".aac", ".mp4", ".m4b", ".webm", ".wma", ".amr", ".3gp", ".mka", ".caf"}


@dataclass(frozen=True)
class AudioConfig:
    """Settings of audio intake.

    Attributes
    ----------
    target_sr : int
        Sample rate handed to the model (emotion2vec expects 16000 Hz).
    resampler : str
        ``"soxr"`` (default), ``"scipy"`` (polyphase) or ``"librosa"``.
    soxr_quality : str
        soxr quality preset: ``"VHQ"``, ``"HQ"``, ``"MQ"``, ``"LQ"``, ``"QQ"``.
    mixdown : str
        ``"mean"`` averages the channels; ``"first"`` keeps channel 0.
    max_duration_s : float
        Longer inputs are refused: one forward pass over them needs memory
        quadratic in length.  Split them with ``workbench segment``.
    decode_timeout_s : float
        ffmpeg/ffprobe are killed after this many seconds.
    """

    target_sr: int = TARGET_SR
    resampler: str = "soxr"
    soxr_quality: str = "VHQ"
    mixdown: str = "mean"
    max_duration_s: float = 120.0
    decode_timeout_s: float = 60.0

    def to_dict(self) -> dict:
        return asdict(self)


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
        most 16 channels; integer arrays are scaled to [-1, 1].
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
        audio = source
    else:
        audio = decode(source, config=config, id=id)
    audio = to_mono(audio, method=config.mixdown)
    if audio.sr != config.target_sr:
        audio = resample(audio, config.target_sr, method=config.resampler, quality=config.soxr_quality)
    return audio


def decode(source: AudioInput, *, config: AudioConfig | None = None, id: str | None = None) -> Audio:
    """Decode without mixing down or resampling; ``samples`` is ``(n, channels)``."""
    config = config or AudioConfig()
    t0 = time.perf_counter()
    if isinstance(source, (str, os.PathLike)):
        samples, sr, info, warnings = _decode_path(Path(source), config, id)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        samples, sr, info, warnings = _decode_bytes(bytes(source), config, id)
    elif isinstance(source, tuple) and len(source) == 2:
        samples, sr, info, warnings = _from_array(source[0], source[1], id)
    else:
        raise AudioError(
            f"cannot read input of type {type(source).__name__}; expected {INPUT_TYPES}.",
            source=id,
            fix="pass a path or an (array, sample_rate) pair.",
        )
    _check_samples(samples, sr, info.id, config)
    elapsed = (time.perf_counter() - t0) * 1000
    info.frames = int(samples.shape[0])
    info.duration = samples.shape[0] / sr
    if info.declared_duration is not None and abs(info.declared_duration - info.duration) > 0.02:
        warnings.append(
            f"decoded duration {info.duration:.3f}s differs from the {info.declared_duration:.3f}s "
            f"the file declares ({(info.duration - info.declared_duration) * 1000:+.0f} ms)"
        )
    # clipping is measured here, at the source rate: resampling rings the flat tops away
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    clipped = float(np.mean(np.abs(samples) >= 0.999)) if samples.size else 0.0
    record = StepRecord(
        name="decode",
        params={
            "decoder": info.decoder,
            "file_size": info.size_bytes,
            "format": info.format,
            "codec": info.codec,
            "channels": info.channels,
            "peak": round(peak, 6),
            "clipped_fraction": clipped,
        },
        sr_in=sr,
        sr_out=sr,
        duration_in=info.declared_duration if info.declared_duration is not None else info.duration,
        duration_out=info.duration,
        elapsed_ms=elapsed,
        warnings=warnings,
    )
    log = ProcessingLog()
    log.add(record)
    return Audio(samples, sr, info, log)


def to_mono(audio: Audio, *, method: str = "mean") -> Audio:
    """Mix an ``(n, channels)`` :class:`Audio` down to ``(n,)`` and log how."""
    y = audio.samples
    if y.ndim == 1:
        return audio
    n_ch = y.shape[1]
    if n_ch == 1:
        return Audio(np.ascontiguousarray(y[:, 0]), audio.sr, audio.source, audio.log)
    t0 = time.perf_counter()
    warnings = []
    if method == "mean":
        mono = y.mean(axis=1, dtype=np.float64).astype(np.float32)
        ch_power = float(np.mean(np.square(y, dtype=np.float64)))
        mono_power = float(np.mean(np.square(mono, dtype=np.float64)))
        if ch_power > 1e-10 and mono_power < 0.25 * ch_power:
            warnings.append(
                f"averaging the {n_ch} channels lost {10 * np.log10(ch_power / max(mono_power, 1e-20)):.1f} dB: "
                "they partly cancel (phase-inverted stereo?); consider mixdown='first'"
            )
    elif method == "first":
        mono = np.ascontiguousarray(y[:, 0])
    else:
        raise AudioError(
            f"unknown mixdown method {method!r}; expected 'mean' or 'first'.",
            source=audio.id,
            fix="set AudioConfig(mixdown='mean').",
        )
    record = StepRecord(
        name="mixdown",
        params={"method": method, "channels": n_ch},
        sr_in=audio.sr,
        sr_out=audio.sr,
        duration_in=audio.duration,
        duration_out=len(mono) / audio.sr,
        elapsed_ms=(time.perf_counter() - t0) * 1000,
        warnings=warnings,
        message="",
    )
    return audio.with_samples(mono, record=record)


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
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def ffmpeg_available() -> bool:
    return shutil.which("ffmpeg") is not None and shutil.which("ffprobe") is not None


# ---------------------------------------------------------------------------
# decoders
# ---------------------------------------------------------------------------
def check_audio_path(path: Path) -> int:
    """Refuse what no decoder should be handed (missing, a folder, a pipe, empty); return the size in bytes."""
    shown = str(path)
    if not path.exists():
        raise AudioError("file not found.", source=shown, fix="check the path (relative paths start from the current directory).")
    if path.is_dir():
        raise AudioError(
            "is a directory, not an audio file.",
            source=shown,
            fix="pass the audio files inside it, or a manifest that lists them.",
        )
    if not path.is_file():
        # a FIFO or device would block a decoder forever
        raise AudioError("is not a regular file (a pipe, socket or device).", source=shown, fix="copy the audio into a regular file first.")
    size = path.stat().st_size
    if size == 0:
        raise AudioError("file is empty (0 bytes).", source=shown, fix="re-export or re-download the file.")
    return size


def _decode_path(path: Path, config: AudioConfig, id: str | None):
    name = id or path.name
    shown = str(path)
    size = check_audio_path(path)
    info = SourceInfo(id=name, path=str(path), size_bytes=size, sha256=file_sha256(path))
    warnings: list[str] = []
    header_problem = _check_wav_header(path)
    if header_problem is not None:
        kind, text = header_problem
        if kind == "error":
            raise AudioError(text, source=shown, fix="the file is cut short or damaged: re-export or re-download it.")
        warnings.append(text)

    ext = path.suffix.lower()
    errors: list[str] = []
    order = ["ffmpeg", "soundfile"] if ext in _FFMPEG_FIRST else ["soundfile", "ffmpeg"]
    for decoder in order:
        if decoder == "ffmpeg" and not ffmpeg_available():
            errors.append("ffmpeg: not installed")
            continue
        try:
            if decoder == "soundfile":
                samples, sr = _soundfile_read(str(path), info, config, shown)
            else:
                samples, sr, more = _ffmpeg_read(path, info, config, shown)
                warnings.extend(more)
            return samples, sr, info, warnings
        except AudioError:
            raise
        except Exception as exc:  # a decoder's own failure: try the next one
            errors.append(f"{decoder}: {_one_line(exc)}")
    fix = "check that the file plays and is not cut short; re-export it as WAV or FLAC"
    if not ffmpeg_available():
        fix += ", or install ffmpeg (apt-get install ffmpeg) to read more formats"
    raise AudioError(
        f"could not decode: not a readable audio file, or truncated ({'; '.join(errors)}).",
        source=shown,
        fix=fix + ".",
    )


def _decode_bytes(data: bytes, config: AudioConfig, id: str | None):
    name = id or "<bytes>"
    if len(data) == 0:
        raise AudioError("input is empty (0 bytes).", source=name, fix="pass the bytes of a whole audio file.")
    info = SourceInfo(id=name, size_bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    try:
        samples, sr = _soundfile_read(io.BytesIO(data), info, config, name)
        return samples, sr, info, []
    except AudioError:
        raise
    except Exception as exc:
        first_error = _one_line(exc)
    if not ffmpeg_available():
        raise AudioError(
            f"could not decode the bytes with libsndfile ({first_error}) and ffmpeg is not installed.",
            source=name,
            fix="install ffmpeg (apt-get install ffmpeg) or pass WAV/FLAC bytes.",
        )
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".bin") as tmp:
        tmp.write(data)
        tmp.flush()
        try:
            samples, sr, warnings = _ffmpeg_read(Path(tmp.name), info, config, name)
        except AudioError:
            raise
        except Exception as exc:
            raise AudioError(
                f"could not decode: not a readable audio file, or truncated (soundfile: {first_error}; ffmpeg: {_one_line(exc)}).",
                source=name,
                fix="check that the bytes hold a whole audio file.",
            ) from None
    return samples, sr, info, warnings


def _from_array(array: Any, sr: Any, id: str | None):
    name = id or "<array>"
    try:
        sr_int = int(sr)
    except (TypeError, ValueError):
        raise AudioError(f"sample rate must be a positive integer, given {sr!r}.", source=name, fix="pass (array, 16000).") from None
    if sr_int <= 0 or sr_int != sr:
        raise AudioError(f"sample rate must be a positive integer, given {sr!r}.", source=name, fix="pass (array, 16000).")
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
        if y.shape[0] <= 16 and y.shape[1] > y.shape[0]:
            y = y.T  # (channels, n) → (n, channels)
        if y.shape[1] > 16:
            raise AudioError(
                f"array of shape {tuple(np.asarray(array).shape)} has more than 16 channels.",
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


def _soundfile_read(file: Any, info: SourceInfo, config: AudioConfig, shown: str):
    import soundfile as sf

    with sf.SoundFile(file) as f:
        info.format = f.format
        info.codec = f.subtype
        info.sample_rate = int(f.samplerate)
        info.channels = int(f.channels)
        info.decoder = f"soundfile (libsndfile {sf.__libsndfile_version__})"
        declared = f.frames / f.samplerate if f.samplerate else None
        if declared is not None and f.frames > 0:
            info.declared_duration = declared
            _check_duration(declared, config, shown)
        samples = f.read(dtype="float32", always_2d=True)
    return samples, int(info.sample_rate)


def _ffprobe(path: Path, config: AudioConfig) -> dict:
    import json

    cmd = [
        "ffprobe", "-v", "error", "-select_streams", "a:0",
        "-show_entries", "stream=codec_name,sample_rate,channels,duration:format=format_name,duration",
        "-of", "json", str(path),
    ]
    proc = subprocess.run(cmd, capture_output=True, timeout=config.decode_timeout_s, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode(errors="replace").strip() or "ffprobe failed")
    data = json.loads(proc.stdout or b"{}")
    streams = data.get("streams") or []
    if not streams:
        raise RuntimeError("no audio stream in the file")
    return {"stream": streams[0], "format": data.get("format") or {}}


def _ffmpeg_read(path: Path, info: SourceInfo, config: AudioConfig, shown: str):
    try:
        probe = _ffprobe(path, config)
    except subprocess.TimeoutExpired:
        raise AudioError(
            f"ffprobe did not finish within {config.decode_timeout_s:.0f} s.",
            source=shown,
            fix="the file is probably damaged: re-encode it (ffmpeg -i in out.wav) and check the result.",
        ) from None
    stream, fmt = probe["stream"], probe["format"]
    sr = int(stream.get("sample_rate") or 0)
    channels = int(stream.get("channels") or 0)
    if sr <= 0 or channels <= 0:
        raise RuntimeError(f"ffprobe reports sample_rate={sr}, channels={channels}")
    info.format = fmt.get("format_name")
    info.codec = stream.get("codec_name")
    info.sample_rate = sr
    info.channels = channels
    info.decoder = "ffmpeg"
    declared = stream.get("duration") or fmt.get("duration")
    if declared not in (None, "N/A"):
        info.declared_duration = float(declared)
        _check_duration(info.declared_duration, config, shown)
    cmd = [
        "ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0",
        "-f", "f32le", "-acodec", "pcm_f32le", "-ac", str(channels), "-ar", str(sr), "-",
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=config.decode_timeout_s, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise AudioError(
            f"ffmpeg did not finish decoding within {config.decode_timeout_s:.0f} s.",
            source=shown,
            fix="the file is probably damaged: re-encode it (ffmpeg -i in out.wav) and check the result.",
        ) from None
    stderr = proc.stderr.decode(errors="replace").strip()
    if proc.returncode != 0:
        raise RuntimeError(stderr.splitlines()[-1] if stderr else f"ffmpeg exited with {proc.returncode}")
    raw = np.frombuffer(proc.stdout, dtype="<f4")
    usable = len(raw) - len(raw) % channels
    samples = raw[:usable].reshape(-1, channels).astype(np.float32)
    warnings = []
    if stderr:
        warnings.append(f"ffmpeg reported decoding errors (file may be truncated): {stderr.splitlines()[-1][:200]}")
    return samples, sr, warnings


# ---------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------
def _check_duration(seconds: float, config: AudioConfig, shown: str) -> None:
    if seconds > config.max_duration_s:
        raise AudioError(
            f"is {seconds:.1f} s long, over the {config.max_duration_s:.0f} s limit for one forward pass.",
            source=shown,
            fix="split it into speech segments with `workbench segment`, or raise AudioConfig.max_duration_s.",
        )


def _check_samples(samples: np.ndarray, sr: int, name: str, config: AudioConfig) -> None:
    if samples.shape[0] == 0:
        raise AudioError(
            "contains no audio samples (zero length).",
            source=name,
            fix="check the recording; an empty file cannot be classified.",
        )
    finite = np.isfinite(samples)
    if not finite.all():
        bad = int((~finite).sum())
        first = int(np.argmax(~finite.all(axis=1))) if samples.ndim == 2 else int(np.argmax(~finite))
        raise AudioError(
            f"contains {bad} NaN/Inf sample values (first at {first / sr:.3f} s).",
            source=name,
            fix="the file or array is corrupt: re-export it, or replace non-finite values before loading.",
        )
    _check_duration(samples.shape[0] / sr, config, name)


def _check_wav_header(path: Path) -> tuple[str, str] | None:
    """Look at a RIFF/WAVE header: ``("error", msg)``, ``("warning", msg)`` or ``None``."""
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if head[:4] not in (b"RIFF", b"RIFX") or (len(head) >= 12 and head[8:12] != b"WAVE"):
                return None
            if len(head) < 12:
                return ("error", f"WAV header is truncated: the file has {len(head)} bytes.")
            size = path.stat().st_size
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
                if cid == b"data":
                    if not fmt_seen:
                        return ("error", "WAV header has a data chunk but no fmt chunk before it.")
                    available = size - (pos + 8)
                    if clen not in (0, 0xFFFFFFFF) and available < clen:
                        return (
                            "warning",
                            f"WAV data is truncated: the header declares {clen} bytes of audio, "
                            f"the file holds {available} ({100 * available / clen:.0f}%); decoding what is there",
                        )
                    return None
                pos += 8 + clen + (clen & 1)
            return ("error", "WAV header is truncated: no audio data chunk found.")
    except OSError as exc:
        raise AudioError(f"cannot be read: {exc.strerror}.", source=str(path), fix="check file permissions.") from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:300]


__all__ = [
    "Audio",
    "AudioConfig",
    "SourceInfo",
    "load",
    "decode",
    "to_mono",
    "resample",
    "resample_array",
    "file_sha256",
    "INPUT_TYPES",
    "TARGET_SR",
]
