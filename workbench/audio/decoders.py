"""The decoders behind intake: a source opened once, then read in blocks (soundfile first, PyAV as its fallback).

:class:`AudioStream` opens a path or the bytes of a file, records the source facts at once (a bad file fails
here, before any work starts) and yields ``(n, channels)`` blocks at the source rate or mono blocks at the model's
rate.  What no decoder should be handed (missing, a folder, a pipe, empty) is refused first
(:func:`check_audio_path`), and a RIFF/WAVE header is read by hand for what decoders pass over in silence
(truncated data, a header written before recording ended).
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import stat
import struct
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from workbench import files
from workbench.audio.clip import INPUT_TYPES, SourceInfo
from workbench.audio.config import MAX_CHANNELS, AudioConfig
from workbench.errors import AudioError
from workbench.schema import SAMPLE_RATE

# extensions that go to PyAV first: libsndfile cannot read them (MP3 goes to PyAV only: _looks_like_mpeg)
_AV_FIRST = {".m4a", ".aac", ".mp4", ".m4b", ".webm", ".wma", ".amr", ".3gp", ".mka", ".caf", ".mov", ".ac3", ".alac"}

# libsndfile reports SF_COUNT_MAX frames when the header does not know the length (a streamed FLAC)
_UNKNOWN_FRAMES = 1 << 62

#: the message of a missing file; its fix here is for a path from the command line, and a run from a manifest
#: replaces it with the manifest's rule (:func:`workbench.runs.driver.manifest_path_fix`)
FILE_NOT_FOUND = "file not found."


def sample_time(index: int, sr: int) -> str:
    """Where sample ``index`` (from 0) of ``sr`` Hz audio starts, to the millisecond below: a NaN at 29.99994 s is
    "29.999 s", never "30.000 s" (rounded, the time named a point past the sample, even past the end of the file).

    >>> sample_time(479999, 16000), sample_time(8000, 16000)
    ('29.999 s', '0.500 s')
    """
    ms = int(index) * 1000 // int(sr)
    return f"{ms // 1000}.{ms % 1000:03d} s"


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes, read in 1 MB chunks; an unreadable file raises :class:`AudioError`."""
    try:
        return files.sha256_file(path, chunk=chunk)
    except OSError as exc:
        raise _os_error(exc, str(path)) from None


#: how a Git LFS pointer file starts (the spec's ``version`` line, and its first releases' one): what a clone without
#: git-lfs, or the "Download ZIP" of a repository, holds in place of each audio file.  CREMA-D is distributed so: its
#: repository's ``AudioWAV/*.wav`` are 130-131-byte pointers, and its README warns that the ZIP gives only those
LFS_POINTER_STARTS = (b"version https://git-lfs.github.com/spec/", b"version https://hawser.github.com/spec/")
#: the LFS spec caps a pointer file below 1,024 bytes: a larger file is not read for the check
LFS_POINTER_MAX_BYTES = 1024
#: the manifest formats (`workbench run` reads them): a file of these that no decoder reads is named as a manifest
MANIFEST_SUFFIXES = ("csv", "jsonl", "parquet")


def check_audio_path(path: Path) -> int:
    """Refuse what no decoder should be handed (missing, a folder, a pipe, empty); return the size in bytes."""
    shown = str(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise AudioError(f"is a symbolic link to {os.readlink(path)!r}, which does not exist.", source=shown,
                             fix="point the link at the audio file, or pass the file itself.") from None
        raise AudioError(FILE_NOT_FOUND, source=shown, fix="check the path (relative paths start from the current directory).") from None
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


#: a file larger than this that a decoder reads no samples from is handed to the next decoder (a header that claims 0)
EMPTY_FILE_BYTES = 4096


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
        kind = Path(self.info.path or "").suffix.lower().lstrip(".")
        if kind in MANIFEST_SUFFIXES:  # no decoder reads it, and its name says what it is: a list of audio, not audio
            raise AudioError(f"is a manifest ({kind}), not an audio file.", source=self.shown,
                             fix="score its items with `workbench run FILE --out RUN`, or pass the audio files themselves.")
        if self.info.path and (self.info.size_bytes or 0) < LFS_POINTER_MAX_BYTES and _head(Path(self.info.path), 64).startswith(LFS_POINTER_STARTS):
            raise AudioError("is a Git LFS pointer (a text of about 130 bytes that stands in for the recording), not audio: the "
                             "corpus was downloaded as its repository's ZIP or cloned without git-lfs.", source=self.shown,
                             fix="install git-lfs and run `git lfs pull` in the clone, or clone it again with `git lfs clone`.")
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
    def reader_kind(self) -> str:
        return self._reader.kind

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
                    raise AudioError(f"contains NaN/Inf sample values (first at {sample_time(n_in + first, sr)}).", source=self.shown,
                                     fix="the file is corrupt: re-export it.")
                n_in += len(block)
                mono = block.mean(axis=1, dtype=np.float32) if ch > 1 else block[:, 0]
                out = mono if resampler is None else resampler.resample_chunk(np.ascontiguousarray(mono), last=False)
                if len(out):
                    yield out
        except AudioError:
            raise
        except Exception as exc:  # a decoder failing in mid-file: say where
            self.note_failure(exc)
            if n_in == 0 and self.fallback():  # nothing read yet: the next decoder may read it (as load() does)
                yield from self.blocks()
                return
            raise AudioError(f"decoding failed at {sample_time(n_in, sr)} ({self.failures}).", source=self.shown,
                             fix="the file is damaged or truncated: re-export it as WAV or FLAC.") from None
        finally:
            self.close()
        if resampler is not None:
            tail = resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            if len(tail):
                yield tail
        if n_in == 0 and (self.info.size_bytes or 0) > EMPTY_FILE_BYTES and self.fallback():  # a header that says 0 samples
            self.warnings.append(f"a decoder read no samples from {self.info.size_bytes:,} bytes; read by the next decoder")
            yield from self.blocks()
            return
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
    else:  # soundfile repeats the path, quoted ("Error opening <_io.BufferedReader name='…'>: …"); the name may hold ": "
        text = re.sub(r"^Error opening .*['\"]>?: ", "", str(exc).strip(), flags=re.S).splitlines()
    line = text[-1] if text else type(exc).__name__
    line = re.sub(r"^Error opening .*?: ", "", line)  # a path it did not quote
    # libsndfile's words for "no decoder of mine recognises these bytes" (it says this of plain files too)
    line = line.replace("File does not exist or is not a regular file (possibly a pipe?).", "format not recognised.")
    return line[:300]

