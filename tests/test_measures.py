"""Frame energies without copying the frames (issue #28 item 2): the same values as the direct definition.

Block sums add the same non-negative squares in another order, so they agree with the definition to within a
few units in the last place (1e-12 relative in power), never by cancellation: digital silence stays -120 dB."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.audio.measures import frame_energies_db, signal_facts


def direct_frame_energies_db(y, sr, frame_ms=25.0, hop_ms=10.0):
    """The definition: copy each 25 ms frame (hop 10 ms), square it in float64, mean, dB."""
    n, h = int(sr * frame_ms / 1000), int(sr * hop_ms / 1000)
    if len(y) < n:
        y = np.pad(y, (0, n - len(y)))
    frames = np.stack([y[s:s + n] for s in range(0, len(y) - n + 1, h)])
    return 10 * np.log10(np.mean(frames.astype(np.float64) ** 2, axis=1) + 1e-12)


@pytest.mark.parametrize("length", [0, 1, 399, 400, 401, 559, 560, 16000, 16000 * 7 + 123])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_frame_energies_equal_the_definition(length, dtype):
    rng = np.random.default_rng(length)
    t = np.arange(length) / 16000
    y = (0.3 * np.sin(2 * np.pi * 220 * t) * rng.uniform(0, 1, length) + 1e-3 * rng.standard_normal(length) + 0.01).astype(dtype)
    got, want = frame_energies_db(y, 16000), direct_frame_energies_db(y, 16000)
    assert got.shape == want.shape
    np.testing.assert_allclose(10 ** (got / 10), 10 ** (want / 10), rtol=1e-12, atol=0)


def test_other_rates_and_frame_sizes_too():
    y = np.random.default_rng(1).standard_normal(44100).astype(np.float32)
    # 8 kHz: 40-sample blocks; 44.1 kHz: gcd(1102, 441) = 1, the strided fallback; 64/32 ms: 512-sample blocks
    for sr, frame_ms, hop_ms in ((8000, 25.0, 10.0), (44100, 25.0, 10.0), (16000, 64.0, 32.0), (16000, 30.0, 10.0)):
        got, want = frame_energies_db(y, sr, frame_ms=frame_ms, hop_ms=hop_ms), direct_frame_energies_db(y, sr, frame_ms, hop_ms)
        assert got.shape == want.shape
        np.testing.assert_allclose(10 ** (got / 10), 10 ** (want / 10), rtol=1e-12, atol=0)


def test_silence_after_a_loud_frame_is_still_digital_silence():
    # a running sum would lose the zeros after a loud stretch to rounding; block sums keep them exactly zero
    y = np.concatenate([np.full(16000, 0.9, np.float32), np.zeros(16000, np.float32), np.full(800, 1e-6, np.float32)])
    e = frame_energies_db(y, 16000)
    want = direct_frame_energies_db(y, 16000)
    silent = want == 10 * np.log10(1e-12)
    assert silent.sum() > 50 and np.array_equal(e[silent], want[silent])
    np.testing.assert_allclose(10 ** (e / 10), 10 ** (want / 10), rtol=1e-12, atol=0)
    assert e[-1] == pytest.approx(10 * np.log10(2e-12), abs=1e-6)  # 1e-6 amplitude: 1e-12 mean square, above the floor


@pytest.mark.parametrize("dc", [0.0, 0.25, -0.5])
def test_loudest_frame_without_the_offset(dc):
    rng = np.random.default_rng(7)
    y = (dc + 0.05 * rng.standard_normal(16000 * 2) * np.repeat(rng.uniform(0, 1, 20), 1600)).astype(np.float32)
    y[:4000] = np.float32(dc)  # a constant stretch: no sound, only the offset
    facts = signal_facts(y, 16000)
    mean = float(np.mean(y, dtype=np.float64))
    want = float(np.max(direct_frame_energies_db(y.astype(np.float64) - mean, 16000)))
    assert facts["loudest_ac_frame_db"] == pytest.approx(want, abs=1e-4)
    assert facts["dc_offset"] == pytest.approx(mean)


def test_signal_facts_of_silence_and_a_tone_are_defined():
    silent = signal_facts(np.zeros(16000, np.float32), 16000)
    assert silent["loudest_frame_db"] == -120.0 and silent["silence_fraction"] == 1.0
    tone = signal_facts((0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32), 16000)
    assert -10 < tone["loudest_frame_db"] < -8  # a 0.5-amplitude sine: mean square 0.125, -9.0 dB


def test_signal_facts_levels_are_the_percentiles_of_the_frame_energies():
    from workbench.audio.measures import noise_floor_db

    rng = np.random.default_rng(3)
    y = (0.2 * rng.standard_normal(16000 * 3) * np.repeat(rng.uniform(0, 1, 30), 1600)).astype(np.float32)
    facts, e = signal_facts(y, 16000), direct_frame_energies_db(y, 16000)
    floor = noise_floor_db(y, 16000)[0]
    assert facts["snr_db"] == pytest.approx(float(np.percentile(e, 95) - floor), abs=1e-9)
    assert facts["level_range_db"] == pytest.approx(float(np.percentile(e, 95) - np.percentile(e, 10)), abs=1e-9)


def test_frames_shorter_than_a_sample_are_refused_by_name():
    with pytest.raises(ValueError, match="must be 1 or more"):
        frame_energies_db(np.ones(100, np.float32), 50)  # 25 ms at 50 Hz: 1 sample; 10 ms: 0 samples


@pytest.mark.parametrize("sr", [8000, 16000, 22050, 44100, 48000])
def test_noise_bands_are_the_bins_each_band_holds(sr):
    # the band slices stand for the boolean masks they replaced: every bin in [lo, min(hi, sr/2)), bands of 4 bins or more
    from workbench.audio.measures import NOISE_BANDS_HZ, _band_bins

    for n in (1024, int(sr * 0.064) // 2 * 2, 1023):
        freqs = np.fft.rfftfreq(n, 1 / sr)
        want = [tuple(np.flatnonzero(m)[[0, -1]] + [0, 1]) for lo, hi in NOISE_BANDS_HZ
                if (m := (freqs >= lo) & (freqs < min(hi, sr / 2))).sum() >= 4]
        assert list(_band_bins(n, sr)) == want


def test_band_level_above_every_bin_is_digital_silence():
    # 25 ms at 22.05 kHz is 551 samples: the last bin lies at 11004.5 Hz, so no bin is at or above 11010 Hz
    from workbench.audio.measures import band_energies_db

    y = np.random.default_rng(2).standard_normal(2205)
    assert np.all(band_energies_db(y, 22050, low_hz=11010.0) == pytest.approx(-120.0))
    w = np.hanning(551)
    power = np.abs(np.fft.rfft(y[:551] * w)) ** 2
    want = 10 * np.log10(2 * power[np.fft.rfftfreq(551, 1 / 22050) >= 80].sum() / (551 * np.sum(w**2)) + 1e-12)
    assert band_energies_db(y, 22050)[0] == pytest.approx(want, abs=1e-9)
