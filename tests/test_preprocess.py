"""Preprocessing steps: what each does and what its log entry records."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import noise, silence, sine, speech_like
from workbench.audio.intake import load
from workbench.errors import ConfigError
from workbench.audio.steps import STEPS, apply_chain, make_step


def clip(sr=16000, lead=0.5, speech=1.5, tail=0.5, seed=0):
    y = np.concatenate([silence(sr, lead), speech_like(sr, speech, seed=seed), silence(sr, tail)])
    return load((y, sr), config=__import__("workbench").AudioConfig(target_sr=sr))


def last(audio):
    return audio.log.steps[-1]


def test_trim_records_exactly_what_it_cut_at_each_end():
    a = clip(lead=0.5, speech=1.5, tail=0.5)
    out = make_step({"name": "trim", "top_db": 30})(a)
    r = last(out)
    assert r.name == "trim" and r.params == {"top_db": 30, "frame_length": 2048, "hop_length": 512}
    # librosa judges 2048-sample frames: it never cuts speech and keeps at most one frame of silence
    assert 0.5 - 2048 / 16000 <= r.cut_start <= 0.5 and 0.5 - 2048 / 16000 <= r.cut_end <= 0.5
    # the record says exactly which samples went
    a0 = int(round(r.cut_start * 16000))
    np.testing.assert_array_equal(out.samples, a.samples[a0 : a0 + len(out.samples)])
    assert len(a.samples) - a0 - len(out.samples) == int(round(r.cut_end * 16000))
    assert r.duration_in == pytest.approx(2.5) and r.duration_out == pytest.approx(len(out.samples) / 16000)
    assert r.cut_start + r.cut_end == pytest.approx(r.duration_in - r.duration_out, abs=1e-9)
    assert any("trimmed" in w and "cut at start" in w for w in r.warnings)


def test_trim_of_digital_silence_keeps_it_and_cuts_nothing():
    # librosa's threshold is relative to the peak: with a zero peak nothing is below it
    a = load((silence(16000, 1.0), 16000))
    out = make_step({"name": "trim"})(a)
    assert len(out.samples) == 16000 and last(out).cut_start == 0 and last(out).cut_end == 0


def test_pad_records_added_silence():
    out = make_step({"name": "pad", "start": 0.2, "end": 0.1})(clip())
    r = last(out)
    assert r.added_start == pytest.approx(0.2) and r.added_end == pytest.approx(0.1) and r.cut_start == 0
    assert np.all(out.samples[:3200] == 0)


def test_resample_step_names_its_method():
    for method in ("soxr", "scipy", "librosa"):
        out = make_step({"name": "resample", "sr": 8000, "method": method})(clip())
        r = last(out)
        assert (r.sr_in, r.sr_out, r.params["method"]) == (16000, 8000, method)
        assert abs(len(out.samples) - 20000) <= 1 and r.cut_end == 0


def test_gain_and_clipping_warning():
    a = load((sine(16000, 1.0, amp=0.6), 16000))
    up = make_step({"name": "gain", "db": 6})(a)  # 0.6 → 1.2: clipped at 1
    assert np.abs(up.samples).max() == pytest.approx(1.0)
    assert any("clipped" in w for w in last(up).warnings)
    down = make_step({"name": "gain", "db": -6})(a)
    assert np.abs(down.samples).max() == pytest.approx(0.6 * 10 ** -0.3, rel=1e-4) and not last(down).warnings


def test_add_noise_hits_its_snr_and_is_seeded():
    a = clip(lead=0, tail=0)
    n1 = make_step({"name": "add_noise", "snr_db": 10, "seed": 3})(a)
    n2 = make_step({"name": "add_noise", "snr_db": 10, "seed": 3})(a)
    np.testing.assert_array_equal(n1.samples, n2.samples)
    snr = 10 * np.log10(np.mean(a.samples**2) / np.mean((n1.samples - a.samples) ** 2))
    assert snr == pytest.approx(10, abs=0.3)


def test_denoise_lowers_the_noise():
    y = speech_like(16000, 2.0, onset=0.5) + noise(16000, 2.0, amp=0.05, seed=1)
    a = load((y, 16000))
    for stationary in (True, False):
        out = make_step({"name": "denoise", "stationary": stationary, "prop_decrease": 1.0})(a)
        lead_before = np.sqrt(np.mean(a.samples[:6000] ** 2))
        lead_after = np.sqrt(np.mean(out.samples[:6000] ** 2))
        assert lead_after < 0.5 * lead_before
        assert len(out.samples) == len(a.samples) and last(out).params["stationary"] is stationary


def test_loudness_reaches_its_target():
    import pyloudnorm as pyln

    out = make_step({"name": "loudness", "target_lufs": -20})(clip(lead=0, tail=0))
    assert pyln.Meter(16000).integrated_loudness(out.samples.astype(np.float64)) == pytest.approx(-20, abs=0.2)
    assert "LUFS" in last(out).warnings[0]


def test_highpass_removes_low_frequencies():
    t = np.arange(16000) / 16000
    y = (0.4 * np.sin(2 * np.pi * 30 * t) + 0.4 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    out = make_step({"name": "highpass", "cutoff_hz": 200})(load((y, 16000)))
    spec = np.abs(np.fft.rfft(out.samples))
    assert spec[30] < 0.01 * spec[1000]


def test_telephone_band_limits_and_keeps_length():
    y = noise(16000, 1.0, amp=0.2)
    out = make_step({"name": "telephone"})(load((y, 16000)))
    assert len(out.samples) == len(y) and out.sr == 16000
    spec = np.abs(np.fft.rfft(out.samples)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / 16000)
    assert spec[(f > 4500)].sum() < 1e-3 * spec[(f > 500) & (f < 3000)].sum()


def test_chain_keeps_every_record_in_order():
    out = apply_chain(clip(), [{"name": "highpass"}, {"name": "trim", "top_db": 35}, {"name": "gain", "db": -3}])
    assert [s.name for s in out.log.steps][-3:] == ["highpass", "trim", "gain"]


def test_bad_steps_are_clear_errors():
    with pytest.raises(ConfigError, match="unknown preprocessing step 'reverb'"):
        make_step({"name": "reverb"})
    with pytest.raises(ConfigError, match="has no parameter top"):
        make_step({"name": "trim", "top": 3})
    assert set(STEPS) == {"resample", "trim", "pad", "denoise", "loudness", "highpass", "gain", "telephone", "add_noise",
                          "pitch_shift", "tempo", "tilt"}


def test_steps_round_trip_through_dicts():
    for name, cls in STEPS.items():
        step = cls()
        assert make_step(step.to_dict()) == step
