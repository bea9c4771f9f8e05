"""Audio intake: every format, the processing log, and every kind of bad input."""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
import soundfile as sf

from conftest import av_encode, sine, speech_like, stereo
from workbench.audio.intake import AudioConfig, _block_frames, decode, load, resample, resample_array, stream
from workbench.errors import AudioError
from workbench.audio.processing import ProcessingLog, StepRecord, measure_length_change


def _corr_lag(a: np.ndarray, b: np.ndarray, n: int = 8000) -> int:
    n = min(n, len(a), len(b))
    c = np.correlate(a[:n], b[:n], "full")
    return int(np.argmax(c) - (n - 1))


# ---------------------------------------------------------------------------
# formats
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("subtype,tol", [("PCM_U8", 1e-2), ("PCM_16", 1e-4), ("PCM_24", 1e-6), ("PCM_32", 1e-6), ("FLOAT", 1e-7)])
def test_wav_bit_depths_decode_exactly(tmp_path, subtype, tol):
    y = speech_like(16000, 1.0, seed=3)
    path = tmp_path / f"x_{subtype}.wav"
    sf.write(path, y, 16000, subtype=subtype)
    audio = load(path)
    assert audio.sr == 16000 and audio.samples.dtype == np.float32
    assert len(audio.samples) == len(y)
    assert np.max(np.abs(audio.samples - y)) < tol * 2
    assert audio.source.codec == subtype and audio.source.channels == 1
    assert audio.source.size_bytes == path.stat().st_size
    assert audio.log.steps[0].name == "decode"


@pytest.mark.parametrize(
    "ext,codec,sr,bit_rate",
    [
        ("flac", "flac", 44100, None),
        ("ogg", "vorbis", 44100, None),
        ("opus", "libopus", 48000, 64000),
        ("mp3", "libmp3lame", 44100, 128000),  # CBR
        ("m4a", "aac", 44100, 96000),
    ],
)
def test_compressed_formats_decode_in_time_and_in_tune(tmp_path, ext, codec, sr, bit_rate):
    ref = speech_like(sr, 1.5, seed=4)
    if codec == "vorbis":  # FFmpeg's own Vorbis encoder is stereo-only; libsndfile writes mono Vorbis
        path = tmp_path / "x.ogg"
        sf.write(path, ref, sr, format="OGG", subtype="VORBIS")
    else:
        path = av_encode(ref, sr, tmp_path / f"x.{ext}", codec, bit_rate=bit_rate)
    audio = load(path)
    assert audio.sr == 16000
    assert audio.source.sample_rate == sr
    # no onset shift: the decoders honour encoder delay (gapless info)
    ref16 = resample_array(ref, sr, 16000)
    assert abs(_corr_lag(audio.samples, ref16)) <= 2
    # length preserved within one AAC/Opus frame
    assert abs(audio.duration - 1.5) < 0.03
    steps = [s.name for s in audio.log.steps]
    assert steps == ["decode", "resample"]
    assert audio.log.steps[1].params == {"method": "soxr", "quality": "VHQ"}


def test_the_demo_vbr_mp3_decodes_to_its_declared_length():
    from conftest import DEMO

    audio = decode(DEMO / "neutral_en_vbr.mp3")
    assert audio.source.declared_duration is not None and abs(audio.duration - audio.source.declared_duration) < 0.03


def test_m4a_is_decoded_in_process_by_pyav_with_codec_recorded(tmp_path):
    """No system ffmpeg, no subprocess: the m4a goes through PyAV, and the log names codec and container."""
    import subprocess as sp

    calls = []
    real_popen = sp.Popen
    sp.Popen = lambda *a, **k: calls.append(a) or real_popen(*a, **k)  # a spy, not a stand-in: it still runs
    try:
        audio = load(av_encode(sine(22050, 1.0), 22050, tmp_path / "x.m4a", "aac"))
    finally:
        sp.Popen = real_popen
    assert calls == []
    assert audio.source.decoder.startswith("PyAV") and audio.source.codec == "aac"
    assert "mp4" in audio.source.format and audio.source.sample_rate == 22050
    assert "Codec: aac | Decoder: PyAV" in audio.log.render()


def test_bytes_of_an_m4a_decode_without_a_temporary_file(tmp_path):
    path = av_encode(speech_like(16000, 1.0), 16000, tmp_path / "b.m4a", "aac")
    audio = load(path.read_bytes(), id="upload.m4a")
    assert audio.source.codec == "aac" and abs(audio.duration - 1.0) < 0.03
    assert list(tmp_path.iterdir()) == [path]


def test_stereo_is_averaged_and_the_log_says_how(tmp_path):
    y = stereo(16000, 1.0)
    path = tmp_path / "st.wav"
    sf.write(path, y, 16000, subtype="FLOAT")
    audio = load(path)
    np.testing.assert_allclose(audio.samples, y.mean(axis=1), atol=1e-6)
    mix = [s for s in audio.log.steps if s.name == "mixdown"][0]
    assert mix.params == {"method": "mean", "channels": 2}
    assert "mixdown(method=mean, channels=2)" in audio.log.render()


def test_phase_inverted_stereo_warns_that_channels_cancel():
    audio = load((stereo(16000, 1.0, invert_right=True), 16000))
    assert any("cancel" in w for w in audio.log.warnings)
    audio_first = load((stereo(16000, 1.0, invert_right=True), 16000), config=AudioConfig(mixdown="first"))
    assert np.abs(audio_first.samples).max() > 0.1


def test_channels_first_arrays_are_recognised():
    y = stereo(16000, 0.5).T  # (2, n)
    audio = load((y, 16000))
    assert audio.samples.shape == (8000,)


def test_int16_arrays_are_scaled_and_logged():
    y = (sine(16000, 0.5) * 32767).astype(np.int16)
    audio = load((y, 16000))
    assert np.abs(audio.samples).max() == pytest.approx(0.5, abs=1e-3)
    assert any("int16" in w for w in audio.log.warnings)


def test_bytes_input(tmp_path):
    path = tmp_path / "b.flac"
    sf.write(path, speech_like(16000, 1.0), 16000)
    audio = load(path.read_bytes())
    assert audio.duration == pytest.approx(1.0)
    assert audio.source.sha256 is not None


# ---------------------------------------------------------------------------
# resampling and the log
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("sr", [8000, 11025, 22050, 44100, 48000])
def test_resampling_keeps_the_length_and_says_it_did_not_trim(sr):
    y = speech_like(sr, 2.0, seed=5)
    audio = load((y, sr))
    assert audio.sr == 16000
    assert abs(len(audio.samples) - 2.0 * 16000) <= 1
    rec = [s for s in audio.log.steps if s.name == "resample"][0]
    assert rec.sr_in == sr and rec.sr_out == 16000
    assert rec.cut_start == 0 and rec.cut_end == 0
    assert not rec.warnings
    assert "trimmed" not in audio.log.render()


@pytest.mark.parametrize("method", ["soxr", "scipy", "librosa"])
def test_each_resampler_is_named_in_the_log(method):
    audio = load((sine(44100, 1.0), 44100), config=AudioConfig(resampler=method))
    rec = audio.log.steps[-1]
    assert rec.params["method"] == method
    assert abs(len(audio.samples) - 16000) <= 1
    # a 440 Hz tone stays a 440 Hz tone
    spec = np.abs(np.fft.rfft(audio.samples))
    assert abs(np.argmax(spec) * 16000 / len(audio.samples) - 440) < 2


def test_a_step_that_cuts_the_onset_is_measured_where_it_cut():
    cut_s, cut_e, add_s, add_e, warnings = measure_length_change(
        "conversion", n_in=44100 * 8, sr_in=44100, n_out=int((8 - 0.03) * 16000), sr_out=16000, cut_start=int(0.03 * 44100)
    )
    assert cut_s == pytest.approx(0.03, abs=1e-4) and cut_e == 0
    assert "30 ms cut at start" in warnings[0]
    # an unexplained loss is put at the end
    _, cut_e, _, _, warnings = measure_length_change("conversion", n_in=16000, sr_in=16000, n_out=15000, sr_out=16000)
    assert cut_e == pytest.approx(1000 / 16000)
    assert "62 ms cut at end" in warnings[0]


def test_log_renders_in_the_seeds_format(tmp_path):
    path = tmp_path / "x.wav"
    sf.write(path, speech_like(44100, 2.0), 44100, subtype="PCM_16")
    audio = load(path)
    text = audio.log.render()
    assert text.startswith("INFO: File size: ")
    assert "| Duration: 2.00s | Sample rate: 44100 Hz" in text
    assert "44100 → 16000 Hz" in text
    log = ProcessingLog.from_list(audio.log.to_list())
    assert log.render() == text


def test_log_warning_line_for_a_trimming_step():
    log = ProcessingLog()
    log.add(StepRecord(name="trim", sr_in=16000, sr_out=16000, duration_in=2.15, duration_out=2.12, cut_start=0.03,
                       warnings=["Audio duration after conversion: 2.12s (0.03s trimmed)"]))
    assert "WARNING: Audio duration after conversion: 2.12s (0.03s trimmed)" in log.render()
    assert log.total_cut() == (0.03, 0.0)


# ---------------------------------------------------------------------------
# bad input: one error type, with the file, the fact and the fix
# ---------------------------------------------------------------------------
def _assert_clear(exc: AudioError, fragment: str, source: str | None = None):
    text = str(exc)
    assert fragment in text, text
    assert "Fix:" in text, text
    if source is not None:
        assert source in text, text


def test_missing_file(tmp_path):
    with pytest.raises(AudioError) as e:
        load(tmp_path / "nope.wav")
    _assert_clear(e.value, "file not found", "nope.wav")


def test_directory(tmp_path):
    with pytest.raises(AudioError) as e:
        load(tmp_path)
    _assert_clear(e.value, "is a directory", str(tmp_path))


def test_empty_file(tmp_path):
    p = tmp_path / "empty.wav"
    p.write_bytes(b"")
    with pytest.raises(AudioError) as e:
        load(p)
    _assert_clear(e.value, "empty (0 bytes)", "empty.wav")


def test_fifo_is_refused_instead_of_blocking(tmp_path):
    p = tmp_path / "pipe.wav"
    os.mkfifo(p)
    t0 = time.perf_counter()
    with pytest.raises(AudioError) as e:
        load(p)
    assert time.perf_counter() - t0 < 5
    _assert_clear(e.value, "not a regular file", "pipe.wav")


def test_truncated_header(tmp_path):
    good = tmp_path / "good.wav"
    sf.write(good, sine(16000, 1.0), 16000, subtype="PCM_16")
    bad = tmp_path / "cut_header.wav"
    bad.write_bytes(good.read_bytes()[:30])
    with pytest.raises(AudioError) as e:
        load(bad)
    _assert_clear(e.value, "truncated", "cut_header.wav")


def test_truncated_data_decodes_what_is_there_and_warns(tmp_path):
    good = tmp_path / "good.wav"
    sf.write(good, sine(16000, 1.0), 16000, subtype="PCM_16")
    data = good.read_bytes()
    bad = tmp_path / "cut_data.wav"
    bad.write_bytes(data[: 44 + 16000])  # half the samples
    audio = load(bad)
    assert audio.duration == pytest.approx(0.5, abs=0.01)
    assert any("WAV data is truncated" in w for w in audio.log.warnings)


@pytest.mark.parametrize("name", ["notes.wav", "notes.mp3", "notes.m4a"])
def test_not_audio(tmp_path, name):
    p = tmp_path / name
    p.write_text("this is a text file, not audio\n" * 20)
    with pytest.raises(AudioError) as e:
        load(p)
    _assert_clear(e.value, "could not decode", name)


def test_nan_samples_in_a_float_wav(tmp_path):
    y = sine(16000, 1.0)
    y[8000] = np.nan
    p = tmp_path / "nan.wav"
    sf.write(p, y, 16000, subtype="FLOAT")
    with pytest.raises(AudioError) as e:
        load(p)
    _assert_clear(e.value, "1 NaN/Inf sample values (first at 0.500 s)", "nan.wav")


@pytest.mark.parametrize("read", ["file", "array", "stream"])
def test_a_nan_just_before_the_end_is_not_placed_past_it(tmp_path, read):
    """The last sample of 30 s at 16 kHz starts at 29.99994 s: rounded to the millisecond, the message put the NaN at
    "30.000 s", past the sample and past the end of the file.  The time shown is the sample's, cut to the millisecond."""
    y = np.zeros(480000, dtype=np.float32)
    y[-1] = np.nan
    sf.write(tmp_path / "late.wav", y, 16000, subtype="FLOAT")
    with pytest.raises(AudioError) as e:
        if read == "stream":
            list(stream(tmp_path / "late.wav").blocks())
        else:
            load(tmp_path / "late.wav" if read == "file" else (y, 16000), config=AudioConfig(max_duration_s=60))
    assert "NaN/Inf sample values (first at 29.999 s)" in str(e.value) and "30.000" not in str(e.value), str(e.value)


def test_inf_samples_in_an_array():
    y = sine(16000, 1.0)
    y[:3] = np.inf
    with pytest.raises(AudioError) as e:
        load((y, 16000), id="clip7")
    _assert_clear(e.value, "3 NaN/Inf", "clip7")


def test_zero_length(tmp_path):
    p = tmp_path / "zero.wav"
    sf.write(p, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError) as e:
        load(p)
    _assert_clear(e.value, "zero length", "zero.wav")


@pytest.mark.parametrize("seconds, limit, said", [
    (3.0, 2.0, "declares 3.0 s of audio, over the 2 s limit"),
    # 10.01 s against a 10 s limit printed "declares 10.0 s of audio, over the 10 s limit": a fact that contradicts itself
    (10.01, 10.0, "declares 10.01 s of audio, over the 10 s limit"),
])
def test_too_long_is_refused_before_decoding_shown_over_the_limit_and_points_to_segmentation(tmp_path, seconds, limit, said):
    p = tmp_path / "long.wav"
    sf.write(p, sine(16000, seconds), 16000)
    with pytest.raises(AudioError) as e:
        load(p, config=AudioConfig(max_duration_s=limit))
    _assert_clear(e.value, said, "long.wav")
    assert "workbench segment" in str(e.value)


def test_a_slow_decode_is_stopped_by_the_timeout(tmp_path):
    m4a = av_encode(sine(16000, 3.0), 16000, tmp_path / "x.m4a", "aac")
    t0 = time.perf_counter()
    with pytest.raises(AudioError) as e:
        load(m4a, config=AudioConfig(decode_timeout_s=0.0))
    assert time.perf_counter() - t0 < 10
    _assert_clear(e.value, "did not finish", "x.m4a")


def test_bad_sample_rate_and_dtype():
    with pytest.raises(AudioError, match="sample rate must be a positive integer"):
        load((sine(), 0))
    with pytest.raises(AudioError, match="must be numeric"):
        load((np.array(["a", "b"]), 16000))
    with pytest.raises(AudioError, match="expected a file path"):
        load(12345)  # type: ignore[arg-type]


def test_decode_keeps_channels_for_inspection(tmp_path):
    p = tmp_path / "st.wav"
    sf.write(p, stereo(44100, 0.5), 44100)
    raw = decode(p)
    assert raw.samples.shape == (22050, 2) and raw.sr == 44100
    mono16 = resample(load(raw, config=AudioConfig(target_sr=44100)), 16000)
    assert mono16.sr == 16000


# ---------------------------------------------------------------------------
# lengths the header does not know, or lies about
# ---------------------------------------------------------------------------
def test_a_streamed_flac_of_unknown_length_decodes(tmp_path):
    """total_samples = 0 (`flac -`, ffmpeg pipes): libsndfile reports 2**63 - 1 frames; it is 3 s of valid audio."""
    from conftest import streamed_flac

    y = speech_like(44100, 3.0, seed=2)
    path = streamed_flac(y, 44100, tmp_path / "piped.flac")
    assert sf.info(str(path)).frames > 2**62
    raw = decode(path)
    assert raw.source.declared_duration is None and raw.samples.shape == (3 * 44100, 1)
    np.testing.assert_allclose(raw.samples[:, 0], y, atol=1e-4)  # 16-bit FLAC
    assert load(path).duration == pytest.approx(3.0, abs=1e-3)
    with pytest.raises(AudioError) as e:  # and the limit still holds, measured on the samples
        load(path, config=AudioConfig(max_duration_s=2.0))
    _assert_clear(e.value, "is longer than the 2 s limit for one forward pass: decoding stopped at ", "piped.flac")
    assert 2.0 < float(str(e.value).split("decoding stopped at ")[1].split(" s")[0]) <= 3.0


def test_a_wav_of_unknown_data_size_is_measured_by_its_file_size(tmp_path):
    """A WAV whose data size is 0xFFFFFFFF (a WAV written to a pipe) holds 30 s."""
    path = tmp_path / "pipe.wav"
    sf.write(path, sine(16000, 30.0), 16000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    i = data.index(b"data")
    data[i + 4:i + 8] = b"\xff\xff\xff\xff"
    path.write_bytes(bytes(data))
    with pytest.raises(AudioError) as e:
        load(path, config=AudioConfig(max_duration_s=5.0))
    # libsndfile measures such a file by its size, so it is refused before decoding
    _assert_clear(e.value, "declares 30.0 s of audio, over the 5 s limit", "pipe.wav")
    assert load(path, config=AudioConfig(max_duration_s=40.0)).duration == pytest.approx(30.0, abs=1e-3)


def test_a_header_that_says_5_s_cannot_make_intake_decode_an_hour(tmp_path):
    from bad_inputs import lying_m4a

    path = lying_m4a(tmp_path / "lies.m4a", holds_s=600.0, claims_s=5.0)
    raw_declared = decode(path, config=AudioConfig(max_duration_s=700.0))
    assert raw_declared.source.declared_duration == pytest.approx(5.0, abs=0.1)
    assert raw_declared.duration == pytest.approx(600.0, abs=0.5)  # it really holds 10 minutes
    assert any("differs from the 5.000s the file declares" in w for w in raw_declared.log.warnings)
    t0 = time.perf_counter()
    with pytest.raises(AudioError) as e:
        load(path, config=AudioConfig(max_duration_s=10.0))
    assert time.perf_counter() - t0 < 5
    _assert_clear(e.value, "is longer than the 10 s limit", "lies.m4a")
    assert "the header declares 5.0 s" in str(e.value)
    stopped = float(str(e.value).split("decoding stopped at ")[1].split(" s")[0])
    block_s = _block_frames(raw_declared.source.sample_rate, raw_declared.source.channels, 10.0) / raw_declared.source.sample_rate
    assert 10.0 < stopped <= 10.0 + block_s + 0.05 and block_s <= 11.0  # one block past the limit at most


@pytest.mark.parametrize("rate", [1, 1_000_000])
def test_absurd_sample_rates_are_refused_as_a_wrong_header(tmp_path, rate):
    path = tmp_path / f"rate{rate}.wav"
    sf.write(path, sine(16000, 0.1), 16000)
    data = bytearray(path.read_bytes())
    i = data.index(b"fmt ")
    data[i + 12:i + 16] = rate.to_bytes(4, "little")  # nSamplesPerSec
    path.write_bytes(bytes(data))
    with pytest.raises(AudioError) as e:
        load(path)
    _assert_clear(e.value, f"sample rate of {rate} Hz", path.name)


def test_many_channels_are_mixed_down_block_by_block(tmp_path):
    y = np.tile(speech_like(16000, 1.0)[:, None], (1, 24)) * np.linspace(0.2, 1.0, 24, dtype=np.float32)
    path = tmp_path / "array.wav"
    sf.write(path, y, 16000, subtype="FLOAT")
    audio = load(path)
    np.testing.assert_allclose(audio.samples, y.mean(axis=1), atol=1e-6)
    assert [s.name for s in audio.log.steps] == ["decode", "mixdown"] and audio.log.steps[1].params["channels"] == 24
    assert decode(path).samples.shape == (16000, 24)


def test_looping_and_dangling_links(tmp_path):
    loop = tmp_path / "loop.wav"
    os.symlink(loop, loop)
    with pytest.raises(AudioError) as e:
        load(loop)
    _assert_clear(e.value, "symbolic link loop", "loop.wav")
    dangling = tmp_path / "dangling.wav"
    os.symlink(tmp_path / "gone.wav", dangling)
    with pytest.raises(AudioError) as e:
        load(dangling)
    _assert_clear(e.value, "does not exist", "dangling.wav")


def test_an_unreadable_file_is_an_audio_error_not_an_oserror(tmp_path):
    locked = tmp_path / "locked.wav"
    sf.write(locked, sine(), 16000)
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK):
            pytest.skip("running as root: a chmod 000 file is still readable (the next test reads it as nobody)")
        with pytest.raises(AudioError) as e:
            load(locked)
        _assert_clear(e.value, "permission denied", "locked.wav")
    finally:
        locked.chmod(0o644)


def test_an_unreadable_file_read_by_an_unprivileged_user():
    """As root chmod 000 does not stop reads, so the load runs in a child process as `nobody`."""
    import shutil
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to switch to an unprivileged user (as non-root the test above covers it)")
    folder = Path(tempfile.mkdtemp(prefix="wb_perm_"))
    try:
        folder.chmod(0o755)
        locked = folder / "locked.wav"
        sf.write(locked, sine(), 16000)
        locked.chmod(0)
        repo = Path(__file__).resolve().parents[1]
        code = ("from workbench.audio.intake import load\nfrom workbench.errors import AudioError\n"
                "try:\n    load('%s')\nexcept AudioError as e:\n    print('AudioError:', e)\n" % locked)
        proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code],
                              capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(repo)})
        if "AudioError" not in proc.stdout and "Permission denied" in proc.stderr:
            pytest.skip(f"nobody cannot reach the interpreter or the package here: {proc.stderr.strip()[-200:]}")
        assert "Traceback" not in proc.stderr, proc.stderr
        assert f"AudioError: {locked}: cannot be read: permission denied. Fix:" in proc.stdout, proc.stdout + proc.stderr
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_a_wav_whose_header_says_0_samples_in_front_of_them_is_read_by_the_next_decoder(tmp_path):
    """A recorder stopped before it wrote the data length: libsndfile believes the 0 and the file was refused as
    'contains no audio samples' although it held 40 s (the hostile round).  FFmpeg reads to the end; the log says so."""
    path = tmp_path / "hdr_zero.wav"
    y = speech_like(16000, 40.0, seed=4)
    sf.write(path, y, 16000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    at = data.index(b"data") + 4
    data[at:at + 4] = (0).to_bytes(4, "little")
    path.write_bytes(bytes(data))
    assert sf.info(str(path)).frames == 0
    audio = load(path)
    assert audio.duration == pytest.approx(40.0, abs=0.01)
    np.testing.assert_allclose(audio.samples, y, atol=1e-4)
    assert any("read no samples from" in w and "the header says 0" in w for w in audio.log.warnings)
    from workbench.audio.intake import stream

    long_audio = stream(path, config=AudioConfig(target_sr=16000))
    np.testing.assert_allclose(np.concatenate(list(long_audio.blocks())), y, atol=1e-4)  # `workbench segment` reads it too
    assert any("read no samples from" in w for w in long_audio.warnings)
    tiny = tmp_path / "empty.wav"
    sf.write(tiny, np.zeros(0, np.float32), 16000)
    with pytest.raises(AudioError, match="no audio samples"):  # a file that is only a header stays refused
        load(tiny)


@pytest.mark.parametrize("case", ["quiet", "negative clip", "positive clip", "both", "one channel of two", "empty"])
def test_the_decoders_peak_and_clipping_equal_the_direct_count_in_every_case(case):
    """The accumulator reads the peak and the clipped count from a block's max and min first (issue #28): the figures
    must equal the direct definitions (max |y|, count of |y| ≥ 0.999) whichever sign clips, in mono and in stereo."""
    from workbench.audio.intake import _Accumulator

    rng = np.random.default_rng(3)
    y = (0.5 * rng.standard_normal((4000, 2))).clip(-0.99, 0.99).astype(np.float32)
    if case == "negative clip":
        y[100:140] = -1.0
    elif case == "positive clip":
        y[7:9] = 0.9995
    elif case == "both":
        y[5], y[6] = 1.0, -0.9991
    elif case == "one channel of two":
        y[50:60, 1] = -1.0
    elif case == "empty":
        y = y[:0]
    acc = _Accumulator(16000, None)
    for block in np.array_split(y, 3):
        acc.add(block)
    mag = np.abs(y)
    assert acc.peak == (float(mag.max()) if y.size else 0.0)
    assert acc.clipped == int(np.count_nonzero(mag >= 0.999)) and acc.values == y.size and acc.bad == 0
