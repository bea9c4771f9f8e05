"""Each audio finding on a case where it must fire and on one where it must not (issue 21, item 6).

The false alarms these guard against were seen on real corpora: ``onset_cut`` on 529 of 535
trimmed EmoDB rows (one of whose removed 96 ms were digital silence), ``speech_at_sample_0``
on every RAVDESS clip tried (they start with a low noise floor), ``low_snr`` on any steady tone.
"""

import re

import numpy as np
import pytest

from conftest import noise, sine, speech_like
from workbench.audio.intake import AudioConfig, load
from workbench.audio.measures import noise_floor_db, onset_level_db, signal_facts
from workbench.engine.findings import audio_facts, findings_from
from workbench.audio.steps import apply_chain

SR = 16000


def codes(facts):
    return {f.code for f in findings_from(facts)}


def studio_speech(dur=2.0, seed=0, floor=1e-4, f0=140.0):
    """Harmonic syllables over a studio noise floor (default -80 dBFS), speech from sample 0."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SR * dur)) / SR
    phase = 2 * np.pi * np.cumsum(f0 * 2 ** (2 * np.sin(2 * np.pi * 0.8 * t) / 12)) / SR
    env = np.clip(np.sin(2 * np.pi * 4 * t + np.pi / 2), 0, None) ** 0.7  # starts at a syllable's peak
    return (0.15 * env * sum(np.sin(k * phase) / k for k in range(1, 15)) + floor * rng.standard_normal(len(t))).astype(np.float32)


def trimmed(y, top_db=30):
    return apply_chain(load((np.asarray(y, np.float32), SR), config=AudioConfig(target_sr=SR)), [{"name": "trim", "top_db": top_db}])


# --- onset_cut ------------------------------------------------------------------------------
@pytest.mark.parametrize("lead", ["digital silence", "room tone"])
def test_onset_cut_stays_quiet_when_the_trim_removed_silence_or_room_tone(lead):
    rng = np.random.default_rng(1)
    speech = studio_speech(seed=1, floor=1e-3 if lead == "room tone" else 1e-4)
    lead_in = np.zeros(int(0.096 * SR)) if lead == "digital silence" else 1e-3 * rng.standard_normal(int(0.3 * SR))
    audio = trimmed(np.r_[lead_in, np.zeros(int(0.2 * SR)) + (1e-3 * rng.standard_normal(int(0.2 * SR)) if lead == "room tone" else 0), speech])
    facts = audio_facts(audio)
    assert facts["cut_start_s"] * 1000 >= 20  # the trim did cut: the old rule fired on exactly this
    assert facts["cut_start_db_above_floor"] < 10
    assert "onset_cut" not in codes(facts)


def test_onset_cut_fires_when_the_trim_removed_a_soft_first_syllable():
    soft = 0.05 * studio_speech(0.25, seed=2, floor=0.0)  # 26 dB under the rest: trim at 20 dB takes it
    audio = trimmed(np.r_[soft, studio_speech(1.75, seed=3)], top_db=20)
    facts = audio_facts(audio)
    assert facts["cut_start_s"] >= 0.15 and facts["cut_start_db_above_floor"] > 30  # trim cuts on a 32 ms grid
    found = {f.code: f for f in findings_from(facts)}
    assert "onset_cut" in found and found["onset_cut"].evidence["cut_start_db_above_floor"] > 30
    assert "speech_at_sample_0" not in found  # the workbench's own cut is onset_cut's case, not this one


def test_onset_cut_from_a_log_without_a_measurement_keeps_the_old_rule():
    assert "onset_cut" in codes({"cut_start_s": 0.03})  # e.g. a row of an older run
    assert "onset_cut" not in codes({"cut_start_s": 0.03, "cut_start_db_above_floor": 2.0})
    assert "onset_cut" in codes({"cut_start_s": 0.03, "cut_start_db_above_floor": 25.0})


# --- speech_at_sample_0 -----------------------------------------------------------------------
def test_speech_at_sample_0_fires_on_speech_cut_at_the_onset():
    assert "speech_at_sample_0" in codes(signal_facts(studio_speech(seed=4), SR))
    assert "speech_at_sample_0" in codes(signal_facts(speech_like(SR, 2.0, seed=4)[int(0.06 * SR):], SR))


@pytest.mark.parametrize("start", ["room tone", "click at sample 0", "settling DC offset", "digital silence at the end"])
def test_speech_at_sample_0_stays_quiet_on_a_noise_floor_lead_in(start):
    """RAVDESS-like: a low noise floor before the speech, with what real files add to its first samples."""
    rng = np.random.default_rng(5)
    lead = 3e-4 * rng.standard_normal(int(0.6 * SR))
    y = np.r_[lead, studio_speech(seed=5, floor=3e-4)]
    if start == "click at sample 0":
        y[:8] += 0.5
    elif start == "settling DC offset":
        y[: int(0.3 * SR)] += 0.05 * np.exp(-np.arange(int(0.3 * SR)) / (0.05 * SR))
    elif start == "digital silence at the end":
        y = np.r_[y, np.zeros(int(1.5 * SR))]
    assert "speech_at_sample_0" not in codes(signal_facts(y.astype(np.float32), SR))


def test_speech_at_sample_0_message_and_evidence_name_the_window_that_is_measured():
    y = studio_speech(seed=4)
    facts = signal_facts(y, SR)
    found = next(f for f in findings_from(facts) if f.code == "speech_at_sample_0")
    (key, below), = found.evidence.items()
    said = re.match(r"the first (\d+) ms are only", found.message)
    assert said and key == f"first_{said.group(1)}ms_db_below_peak", (found.message, key)
    assert said.group(1) == "45" and below == pytest.approx(facts["loudest_frame_db"] - onset_level_db(y, SR))
    # a row cached by an earlier version names the facts first_25ms_…: the finding still fires from them
    old = {k.replace("first_45ms", "first_25ms"): v for k, v in facts.items()}
    assert "speech_at_sample_0" in codes(old)


def test_speech_at_sample_0_stays_quiet_on_a_steady_tone():
    assert "speech_at_sample_0" not in codes(signal_facts(sine(SR, 2.0, 440.0), SR))


# --- low_snr ----------------------------------------------------------------------------------
def harmonic_tone(f0, dur=2.0):
    phase = 2 * np.pi * f0 * np.arange(int(SR * dur)) / SR
    return (0.2 * sum(np.sin(k * phase) / k for k in range(1, 20))).astype(np.float32)


@pytest.mark.parametrize("tone", ["sine 440 Hz", "harmonic 110 Hz", "harmonic 220 Hz"])
def test_low_snr_stays_quiet_on_a_steady_tone(tone):
    y = sine(SR, 2.0, 440.0) if tone.startswith("sine") else harmonic_tone(float(tone.split()[1]))
    facts = signal_facts(y, SR)
    assert facts["snr_db"] > 15 and facts["quiet_frames_tonal_db"] < -15
    assert "low_snr" not in codes(facts)


def test_low_snr_fires_on_noisy_speech():
    speech = speech_like(SR, 3.0, onset=0.5)
    p = float(np.mean(speech[int(0.5 * SR):] ** 2))
    # 5 dB in mean speech power; the estimate (loud 25 ms frames over the floor) reads about 5 dB more
    noisy = speech + noise(SR, 3.0, amp=1.0, seed=7) * np.sqrt(p / 10 ** 0.5)
    assert "low_snr" in codes(signal_facts(noisy, SR))
    assert "low_snr" not in codes(signal_facts(speech + noise(SR, 3.0, amp=1.0, seed=7) * np.sqrt(p / 10 ** 3), SR))  # 30 dB


@pytest.mark.parametrize("snr_db", [5.0, 10.0])
def test_low_snr_fires_on_a_tone_in_noise(snr_db):
    tone = sine(SR, 2.0, 440.0)  # power 0.125
    tone_in_noise = tone + noise(SR, 2.0, amp=1.0, seed=8) * np.sqrt(0.125 / 10 ** (snr_db / 10))
    facts = signal_facts(tone_in_noise, SR)
    assert facts["snr_db"] == pytest.approx(snr_db, abs=2.0) and "low_snr" in codes(facts)


def test_noise_floor_of_white_noise_is_its_level_and_digital_silence_is_left_out():
    y = noise(SR, 2.0, amp=0.01)  # -40 dBFS
    floor, tonal = noise_floor_db(y, SR)
    assert floor == pytest.approx(-40.0, abs=1.5) and tonal > -1.5
    assert noise_floor_db(np.r_[np.zeros(SR), y], SR)[0] == pytest.approx(floor, abs=1.0)
    assert noise_floor_db(np.zeros(SR), SR)[0] == -120.0


# --- steady_signal ------------------------------------------------------------------------------
def _finding(facts, code):
    return next((f for f in findings_from(facts) if f.code == code), None)


@pytest.mark.parametrize("tone", ["sine 440 Hz", "harmonic 110 Hz"])
def test_steady_signal_calls_a_tone_a_tone_not_speech(tone):
    """The demo's 440 Hz tone got no finding that it is not speech (only the scores' low confidence), though its
    25 ms levels span under a dB where speech's span 15 dB and more."""
    y = sine(SR, 2.0, 440.0) if tone.startswith("sine") else harmonic_tone(110.0)
    found = _finding(signal_facts(y, SR), "steady_signal")
    assert found is not None and "a steady tone, not speech" in found.message and found.evidence["level_range_db"] < 1.0


def test_steady_signal_on_noise_alone_says_noise_and_no_speech_above_it():
    found = _finding(signal_facts(noise(SR, 2.0, amp=0.1, seed=3), SR), "steady_signal")
    assert found is not None and "steady noise, with no speech rising above it" in found.message and "tone" not in found.message


@pytest.mark.parametrize("snr_db", [None, 20.0, 10.0])
def test_steady_signal_stays_quiet_on_speech_clean_or_in_noise(snr_db):
    speech = studio_speech(3.0, seed=2)
    if snr_db is not None:  # white noise at snr_db under the speech's mean power
        speech = speech + noise(SR, 3.0, amp=1.0, seed=9) * np.sqrt(float(np.mean(speech ** 2)) / 10 ** (snr_db / 10))
    assert "steady_signal" not in codes(signal_facts(speech, SR))
    assert "steady_signal" not in codes(signal_facts(speech_like(SR, 3.0, onset=0.5), SR))


def test_steady_signal_says_nothing_where_there_is_no_sound():
    assert "steady_signal" not in codes(signal_facts(np.zeros(SR * 2, np.float32), SR))  # digital_silence says it


@pytest.mark.parametrize("n_samples", [1, 2, 400, 1800])
def test_a_clip_of_a_few_frames_has_no_level_range_and_no_steady_signal_finding(n_samples):
    """A 2-sample clip is one 25 ms frame, whose 95th − 10th percentile range is 0 dB by construction: it was called
    'steady noise, with no speech rising above it' (and a 1-sample 0.5 a DC offset); under 10 frames no range is
    measured, and short_clip says what is wrong."""
    y = np.resize(np.array([0.5, -0.5], dtype=np.float32), n_samples)
    facts = {**signal_facts(y, SR), "duration_s": n_samples / SR}
    assert facts["level_range_db"] is None
    codes = [f.code for f in findings_from(facts)]
    assert "steady_signal" not in codes and "short_clip" in codes


def test_a_square_wave_and_int16_extremes_are_a_steady_tone_and_a_dc_offset_is_dc_only():
    t = np.arange(2 * SR) / SR
    for y in (np.sign(np.sin(2 * np.pi * 200 * t)), np.where(np.arange(2 * SR) % 2, 32767 / 32768, -1.0)):
        found = _finding(signal_facts(y.astype(np.float32), SR), "steady_signal")
        assert found is not None and "a steady tone, not speech" in found.message
    codes = [f.code for f in findings_from(signal_facts(np.full(2 * SR, 0.3, dtype=np.float32), SR))]
    assert codes == ["dc_only"]
