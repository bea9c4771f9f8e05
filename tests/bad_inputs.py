#!/usr/bin/env python3
"""A corpus of bad and odd audio inputs, generated (never committed as binaries).

``generate(folder)`` writes every case of :data:`CASES` into ``folder`` and
returns the cases with their paths: missing, empty, truncated and mislabelled
files, NaN/Inf, zero length, headers that lie about the length (an m4a and an
mp3 that say 5 s and hold an hour; a WAV of unknown data size), a streamed
FLAC, absurd sample rates, 64 channels, one sample, digital silence, DC, a
directory named ``x.wav``, a symlink loop, a FIFO, an unreadable file, odd
names.  Each case says what intake must do with it:

``error``
    :func:`workbench.audio.intake.load` raises :class:`~workbench.errors.AudioError`
    whose text names the input and holds ``fragment`` and a fix;
``ok``
    it loads (``finding``: a diagnostics code its audio facts must raise);
``either``
    a damaged file a decoder may partly read: loads, or an AudioError.

``infer`` is ``"failed"`` where ``workbench infer`` must give a failed row
although ``load`` succeeds (shorter than one model frame).

    python tests/bad_inputs.py --report [--keep DIR]

prints the table "input → outcome" (what ``load`` and the diagnostics say).
"""

from __future__ import annotations

import argparse
import io
import os
import struct
import sys
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Callable

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import av_encode, clipped, sine, speech_like, stereo, streamed_flac  # noqa: E402

LIE_CLAIM_S = 5.0
LIE_HOLDS_S = 3600.0


# ---------------------------------------------------------------------------
# builders of the odd files
# ---------------------------------------------------------------------------
def lying_m4a(dst: Path, *, holds_s: float = LIE_HOLDS_S, claims_s: float = LIE_CLAIM_S, sr: int = 44100, channels: int = 2) -> Path:
    """An AAC m4a whose headers (mvhd, tkhd, mdhd) say ``claims_s`` but whose sample table holds ``holds_s``.

    Two seconds of audio are encoded once and their packets muxed again and again
    (about 0.5 s for an hour); then the three duration fields are overwritten.
    """
    import av

    rng = np.random.default_rng(0)
    layout = "stereo" if channels == 2 else "mono"
    with av.open(str(dst), "w", format="mp4") as out:
        s = out.add_stream("aac", rate=sr, layout=layout)
        s.bit_rate = 16000 * channels
        y = (0.02 * rng.standard_normal((channels, 2 * sr))).astype(np.float32)
        packets: list[bytes] = []
        for pos in range(0, y.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(y[:, pos:pos + 1024]), format="fltp", layout=layout)
            frame.sample_rate, frame.pts = sr, pos
            packets += [bytes(p) for p in s.encode(frame)]
        for i in range(int(holds_s * sr / 1024)):
            p = av.Packet(packets[1 + i % (len(packets) - 1)])
            p.stream, p.time_base = s, Fraction(1, sr)
            p.pts = p.dts = i * 1024
            p.duration = 1024
            out.mux(p)
    data = bytearray(dst.read_bytes())
    movie_scale = None
    for box in (b"mvhd", b"mdhd"):
        i = data.find(box)
        v1 = data[i + 4] == 1
        scale_at = i + (24 if v1 else 16)
        scale = struct.unpack(">I", data[scale_at:scale_at + 4])[0]
        movie_scale = movie_scale or scale
        if v1:
            data[scale_at + 4:scale_at + 12] = struct.pack(">Q", int(claims_s * scale))
        else:
            data[scale_at + 4:scale_at + 8] = struct.pack(">I", int(claims_s * scale))
    i = data.find(b"tkhd")
    at = i + (32 if data[i + 4] == 1 else 24)
    width = 8 if data[i + 4] == 1 else 4
    data[at:at + width] = int(claims_s * movie_scale).to_bytes(width, "big")
    dst.write_bytes(bytes(data))
    return dst


_MP3_BITRATES = {1: [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
                 2: [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160]}
_MP3_RATES = {3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000]}


def _mp3_frame_len(h: bytes) -> int:
    version = (h[1] >> 3) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5
    bitrate = _MP3_BITRATES[1 if version == 3 else 2][h[2] >> 4] * 1000
    rate = _MP3_RATES[version][(h[2] >> 2) & 3]
    pad = (h[2] >> 1) & 1
    return (144 if version == 3 else 72) * bitrate // rate + pad


def lying_mp3(dst: Path, *, holds_s: float = LIE_HOLDS_S, claims_s: float = LIE_CLAIM_S, sr: int = 22050) -> Path:
    """A CBR MP3 whose Xing/Info frame counts ``claims_s`` of frames, followed by ``holds_s`` of them."""
    av_encode(speech_like(sr, claims_s, seed=7), sr, dst, "libmp3lame", bit_rate=32000)
    data = dst.read_bytes()
    pos = 0
    if data[:3] == b"ID3":  # skip an ID3v2 tag
        pos = 10 + sum((b & 0x7F) << (7 * (3 - k)) for k, b in enumerate(data[6:10]))
    info_len = _mp3_frame_len(data[pos:pos + 4])
    assert b"Info" in data[pos:pos + info_len] or b"Xing" in data[pos:pos + info_len], "no Xing/Info frame"
    body = data[pos + info_len:]
    if body[-128:-125] == b"TAG":
        body = body[:-128]
    dst.write_bytes(data[:pos + info_len] + body * int(np.ceil(holds_s / claims_s)))
    return dst


def _wav_bytes(y: np.ndarray, sr: int, subtype: str = "PCM_16") -> bytearray:
    buf = io.BytesIO()
    sf.write(buf, y, sr, format="WAV", subtype=subtype)
    return bytearray(buf.getvalue())


def _patch_wav(data: bytearray, *, rate: int | None = None, channels: int | None = None, data_size: int | None = None) -> bytes:
    i = data.index(b"fmt ")
    if channels is not None:
        data[i + 10:i + 12] = struct.pack("<H", channels)
    if rate is not None:
        data[i + 12:i + 16] = struct.pack("<I", rate)
    if data_size is not None:
        j = data.index(b"data")
        data[j + 4:j + 8] = struct.pack("<I", data_size)
    return bytes(data)


def _png() -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    raw = b"".join(b"\0" + bytes([x * 16 % 256, 80, 160] * 16) for x in range(16))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def _write(data: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(data)


def _sf(y: np.ndarray, sr: int, **kw) -> Callable[[Path], None]:
    return lambda p: sf.write(p, y, sr, **kw)


def _truncated(make: Callable[[Path], None], keep: float) -> Callable[[Path], None]:
    def build(p: Path) -> None:
        make(p)
        data = p.read_bytes()
        p.write_bytes(data[: max(1, int(len(data) * keep))])

    return build


def _nan_wav(p: Path) -> None:
    y = speech_like(16000, 1.0)
    y[8000] = np.nan
    sf.write(p, y, 16000, subtype="FLOAT")


def _inf_wav(p: Path) -> None:
    y = speech_like(16000, 1.0)
    y[:100] = np.inf
    sf.write(p, y, 16000, subtype="FLOAT")


def _symlink_loop(p: Path) -> None:
    os.symlink(p.name, p)


def _dangling(p: Path) -> None:
    os.symlink(p.parent / "no_such_target.wav", p)


def _unreadable(p: Path) -> None:
    sf.write(p, speech_like(16000, 1.0), 16000)
    p.chmod(0)


def _lying_wav(p: Path) -> None:
    """A data chunk that says 5 s, followed by 60 s more samples the header does not count."""
    data = _wav_bytes(speech_like(8000, 65.0, seed=3), 8000)
    p.write_bytes(_patch_wav(data, data_size=5 * 8000 * 2))


def _streamed_wav(p: Path) -> None:
    """Data size 0xFFFFFFFF (a WAV written to a pipe) holding 200 s, over the 120 s limit."""
    p.write_bytes(_patch_wav(_wav_bytes(speech_like(8000, 200.0, seed=4), 8000), data_size=0xFFFFFFFF))


def _no_fmt_wav(p: Path) -> None:
    pcm = (speech_like(16000, 0.5) * 32767).astype("<i2").tobytes()
    p.write_bytes(b"RIFF" + struct.pack("<I", 4 + 8 + len(pcm)) + b"WAVE" + b"data" + struct.pack("<I", len(pcm)) + pcm)


def _m4a(y, sr, **kw):
    return lambda p: av_encode(y, sr, p, "aac", **kw)


@dataclass
class Case:
    name: str  # file name in the corpus folder
    what: str
    build: Callable[[Path], None] | None  # None: the path is never created
    expect: str  # "error", "ok" or "either"
    fragment: str = ""  # in the AudioError's text
    finding: str = ""  # diagnostics code the audio facts must raise
    infer: str = ""  # "failed" where `infer` fails although load succeeds
    warning: str = ""  # in the processing log's warnings
    path: Path | None = None
    skip: str = ""  # why this case cannot be produced here (e.g. chmod 000 as root)


SPEECH16 = speech_like(16000, 2.0, seed=1)
SPEECH44 = speech_like(44100, 2.0, seed=2)

CASES: list[Case] = [
    # -- not there / not a file -------------------------------------------------
    Case("missing.wav", "a path that does not exist", None, "error", "file not found"),
    Case("dir.wav", "a directory named x.wav", lambda p: p.mkdir(), "error", "is a directory"),
    Case("loop.wav", "a symlink pointing at itself", _symlink_loop, "error", "symbolic link loop"),
    Case("dangling.wav", "a symlink to a missing file", _dangling, "error", "does not exist"),
    Case("fifo.wav", "a named pipe (would block a reader forever)", lambda p: os.mkfifo(p), "error", "not a regular file"),
    Case("unreadable.wav", "chmod 000", _unreadable, "error", "permission denied"),
    # -- empty and truncated -----------------------------------------------------
    Case("empty.wav", "0 bytes", _write(b""), "error", "empty (0 bytes)"),
    Case("empty.m4a", "0 bytes, m4a name", _write(b""), "error", "empty (0 bytes)"),
    Case("header_only_30B.wav", "WAV cut inside its header", lambda p: p.write_bytes(bytes(_wav_bytes(SPEECH16, 16000)[:30])), "error", "truncated"),
    Case("truncated_half.wav", "WAV cut in its data", _truncated(_sf(SPEECH16, 16000, subtype="PCM_16"), 0.5), "ok", warning="WAV data is truncated"),
    Case("no_fmt_chunk.wav", "RIFF/WAVE with a data chunk and no fmt chunk", _no_fmt_wav, "error", "no fmt chunk"),
    Case("truncated_half.flac", "FLAC cut in half", _truncated(_sf(SPEECH44, 44100, format="FLAC"), 0.5), "either"),
    Case("truncated_64B.flac", "FLAC cut after its metadata", _truncated(_sf(SPEECH44, 44100, format="FLAC"), 0.003), "error", "truncated or damaged"),
    Case("truncated_half.mp3", "MP3 cut in half", _truncated(lambda p: av_encode(SPEECH44, 44100, p, "libmp3lame"), 0.5), "either"),
    Case("truncated_100B.mp3", "MP3 cut to 100 bytes", lambda p: (av_encode(SPEECH44, 44100, p, "libmp3lame"), p.write_bytes(p.read_bytes()[:100])), "either"),
    Case("truncated_half.ogg", "Ogg/Vorbis cut in half", _truncated(_sf(SPEECH44, 44100, format="OGG", subtype="VORBIS"), 0.5), "either"),
    Case("truncated_half.opus", "Ogg/Opus cut in half", _truncated(lambda p: av_encode(speech_like(48000, 2.0), 48000, p, "libopus"), 0.5), "either"),
    Case("truncated_half.m4a", "m4a cut in half (its index, at the end, is gone)", _truncated(_m4a(SPEECH44, 44100), 0.5), "error", "could not decode"),
    # -- not audio -----------------------------------------------------------------
    Case("notes.wav", "a text file named .wav", _write(b"this is a text file, not audio\n" * 20), "error", "could not decode"),
    Case("notes.mp3", "a text file named .mp3", _write(b"this is a text file, not audio\n" * 20), "error", "could not decode"),
    Case("notes.m4a", "a text file named .m4a", _write(b"this is a text file, not audio\n" * 20), "error", "could not decode"),
    Case("picture.png", "a PNG image", _write(_png()), "error", "could not decode"),
    Case("picture.wav", "a PNG image named .wav", _write(_png()), "error", "could not decode"),
    Case("random.wav", "64 KB of random bytes named .wav", _write(np.random.default_rng(1).bytes(65536)), "error", "could not decode"),
    Case("random.flac", "64 KB of random bytes named .flac", _write(np.random.default_rng(2).bytes(65536)), "error", "could not decode"),
    Case("random_riff.wav", "a RIFF/WAVE/fmt header followed by random bytes", lambda p: p.write_bytes(bytes(_wav_bytes(SPEECH16, 16000)[:44]) + np.random.default_rng(3).bytes(32000)), "ok"),
    # -- bad samples ---------------------------------------------------------------
    Case("nan.wav", "float WAV with a NaN", _nan_wav, "error", "NaN/Inf sample values (first at 0.500 s)"),
    Case("inf.wav", "float WAV starting with +inf", _inf_wav, "error", "100 NaN/Inf"),
    Case("zero_length.wav", "valid WAV header, no samples", _sf(np.zeros(0, np.float32), 16000), "error", "zero length"),
    Case("zero_length.flac", "a FLAC of no samples (libsndfile writes 0 bytes)", _sf(np.zeros(0, np.float32), 16000, format="FLAC"), "error", "empty"),
    # -- lengths the header lies about or does not know -----------------------------
    Case("header_lies_1h.m4a", "m4a: header says 5 s, holds 1 h (44.1 kHz stereo)", lying_m4a, "error", " s; the header declares 5.0 s"),
    Case("header_lies_1h.mp3", "mp3: Info frame says 5 s, holds 1 h", lying_mp3, "error", "over the 120 s limit"),
    Case("header_lies_5s_of_65s.wav", "WAV data chunk says 5 s, 60 s more follow", _lying_wav, "ok", warning="not a chunk"),
    Case("data_size_ffffffff.wav", "WAV data size 0xFFFFFFFF, 200 s", _streamed_wav, "error", "over the 120 s limit"),
    Case("streamed.flac", "FLAC with total_samples = 0 (written to a pipe), 3 s", lambda p: streamed_flac(speech_like(44100, 3.0), 44100, p), "ok"),
    Case("streamed_200s.flac", "FLAC with total_samples = 0, 200 s", lambda p: streamed_flac(speech_like(8000, 200.0, seed=5), 8000, p), "error", "limit for one forward pass: decoding stopped at 12"),
    # -- sample rates, channels, lengths ---------------------------------------------
    Case("rate_1Hz.wav", "header says 1 Hz", lambda p: p.write_bytes(_patch_wav(_wav_bytes(SPEECH16, 16000), rate=1)), "error", "sample rate of 1 Hz"),
    Case("rate_4GHz.wav", "header says 4 000 000 000 Hz", lambda p: p.write_bytes(_patch_wav(_wav_bytes(SPEECH16, 16000), rate=4_000_000_000)), "error", "sample rate of 4000000000 Hz"),
    Case("rate_1MHz.wav", "header says 1 000 000 Hz", lambda p: p.write_bytes(_patch_wav(_wav_bytes(SPEECH16, 16000), rate=1_000_000)), "error", "sample rate of 1000000 Hz"),
    Case("rate_384k.wav", "384 kHz, 0.5 s (high but real)", _sf(speech_like(384000, 0.5), 384000, subtype="PCM_24"), "ok"),
    Case("telephone_8k.wav", "8 kHz telephone band", _sf(speech_like(8000, 2.0), 8000), "ok", finding="low_sample_rate"),
    Case("channels_0.wav", "header says 0 channels", lambda p: p.write_bytes(_patch_wav(_wav_bytes(SPEECH16, 16000), channels=0)), "error", "declares 0 channels"),
    Case("channels_64.wav", "64 channels, 1 s", _sf(np.tile(speech_like(16000, 1.0)[:, None], (1, 64)), 16000, subtype="PCM_16"), "ok"),
    Case("one_sample.wav", "a single sample", _sf(np.array([0.1], np.float32), 16000), "ok", finding="short_clip", infer="failed"),
    Case("ten_ms.wav", "10 ms", _sf(speech_like(16000, 0.01), 16000), "ok", finding="short_clip", infer="failed"),
    Case("long_10min.wav", "10 minutes at 8 kHz (over the limit, honest header)", _sf(np.zeros(600 * 8000, np.int16), 8000), "error", "declares 600.0 s of audio, over the 120 s limit"),
    # -- content ---------------------------------------------------------------------
    Case("digital_silence.wav", "2 s of zeros", _sf(np.zeros(32000, np.float32), 16000), "ok", finding="digital_silence"),
    Case("dc_only.wav", "2 s of a constant 0.5", _sf(np.full(32000, 0.5, np.float32), 16000), "ok", finding="dc_only"),
    Case("near_silence.wav", "2 s of noise at -100 dBFS", _sf((1e-5 * np.random.default_rng(4).standard_normal(32000)).astype(np.float32), 16000, subtype="FLOAT"), "ok", finding="no_signal"),
    Case("clipped.wav", "a sine clipped at full scale", _sf(clipped(16000, 2.0), 16000), "ok", finding="clipping"),
    Case("float_over_full_scale.wav", "float WAV peaking at 4.0", _sf(4 * sine(16000, 2.0), 16000, subtype="FLOAT"), "ok", finding="clipping"),
    Case("phase_inverted.wav", "stereo with the right channel inverted", _sf(stereo(16000, 2.0, invert_right=True), 16000), "ok", warning="cancel"),
    # -- formats and codecs ------------------------------------------------------------
    Case("pcm24_48k.wav", "24-bit 48 kHz", _sf(speech_like(48000, 2.0), 48000, subtype="PCM_24"), "ok"),
    Case("ulaw_8k.wav", "8-bit u-law 8 kHz", _sf(speech_like(8000, 2.0), 8000, subtype="ULAW"), "ok", finding="low_sample_rate"),
    Case("u8.wav", "8-bit unsigned PCM", _sf(SPEECH16, 16000, subtype="PCM_U8"), "ok"),
    Case("aiff.aiff", "AIFF", _sf(SPEECH44, 44100, format="AIFF"), "ok"),
    Case("aac.m4a", "AAC in m4a", _m4a(SPEECH44, 44100), "ok"),
    Case("mp3_cbr.mp3", "MP3 CBR", lambda p: av_encode(SPEECH44, 44100, p, "libmp3lame", bit_rate=128000), "ok"),
    Case("vorbis.ogg", "Ogg/Vorbis", _sf(SPEECH44, 44100, format="OGG", subtype="VORBIS"), "ok"),
    Case("opus.opus", "Ogg/Opus 48 kHz", lambda p: av_encode(speech_like(48000, 2.0), 48000, p, "libopus"), "ok"),
    Case("m4a_named.wav", "an m4a named .wav", _m4a(SPEECH44, 44100, fmt="mp4"), "ok"),
    Case("wav_named.mp3", "a WAV named .mp3", _sf(SPEECH16, 16000, format="WAV"), "ok"),
    Case("flac_named.m4a", "a FLAC named .m4a", _sf(SPEECH44, 44100, format="FLAC"), "ok"),
    # -- names ---------------------------------------------------------------------------
    Case("name with spaces.wav", "spaces in the name", _sf(SPEECH16, 16000), "ok"),
    Case("ünïcødé 音声.wav", "non-ASCII name", _sf(SPEECH16, 16000), "ok"),
    Case("-leading-dash.wav", "name starts with '-'", _sf(SPEECH16, 16000), "ok"),
    Case("semi;colon&amp$(x).wav", "shell and HTML metacharacters", _sf(SPEECH16, 16000), "ok"),
]


def generate(folder: str | os.PathLike) -> list[Case]:
    """Write every case into ``folder`` (created); returns fresh :class:`Case` copies with ``path`` set."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    out = []
    for case in CASES:
        c = Case(**{**case.__dict__})
        c.path = root / c.name
        if c.build is not None:
            c.build(c.path)
        if c.name == "unreadable.wav" and os.access(c.path, os.R_OK):
            c.skip = "running as root: a chmod 000 file is still readable, so this case cannot be produced here"
        out.append(c)
    return out


def outcome(case: Case, config=None) -> dict:
    """What intake does with one case: ``{"status": "error"|"ok", "text", "fix", "findings"}``."""
    from workbench.audio.intake import AudioConfig, load
    from workbench.engine.findings import audio_facts, findings_from
    from workbench.errors import WorkbenchError

    try:
        audio = load(case.path, config=config or AudioConfig())
    except WorkbenchError as exc:
        d = exc.to_dict()
        return {"status": "error", "text": d["text"], "message": d["message"], "fix": d["fix"], "findings": []}
    found = findings_from(audio_facts(audio))
    return {"status": "ok", "text": f"{audio.source.duration:.2f} s at {audio.source.sample_rate} Hz, {audio.source.channels} ch, "
                                     f"{audio.source.decoder.split(' (')[0]}", "findings": [f.code for f in found if f.severity != "info"],
            "warnings": audio.log.warnings, "fix": None}


def _cleanup(cases: list[Case]) -> None:
    for c in cases:
        if c.path is not None and c.name == "unreadable.wav" and c.path.exists():
            c.path.chmod(0o644)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--report", action="store_true", help="print the table input → outcome")
    ap.add_argument("--keep", default=None, help="folder to write the corpus into (default: a temporary folder, removed)")
    args = ap.parse_args(argv)
    import shutil
    import tempfile

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bad_inputs_"))
    cases = generate(root)
    print(f"{len(cases)} cases written to {root}")
    if args.report:
        print("\n| input | what | outcome |\n|---|---|---|")
        for c in cases:
            if c.skip:
                print(f"| `{c.name}` | {c.what} | skipped: {c.skip} |")
                continue
            o = outcome(c)
            if o["status"] == "error":
                text = f"AudioError: {o['message']} Fix: {o['fix']}"
            else:
                extra = [w for w in o["warnings"] if any(k in w for k in ("differs", "truncated", "damaged", "cancel", "not a chunk"))]
                text = "ok: " + o["text"] + (f"; findings: {', '.join(o['findings'])}" if o["findings"] else "")
                text += "".join(f"; warns: {w[:90]}" for w in extra[:1])
                if c.infer == "failed":
                    text += "; `infer` fails it (shorter than one model frame)"
            print(f"| `{c.name}` | {c.what} | {text.replace('|', '/')} |")
    _cleanup(cases)
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
