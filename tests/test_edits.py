"""Counterfactual edits measured against what they promise."""

import numpy as np
import pytest

from conftest import speech_like
from workbench.audio.intake import AudioConfig, load
from workbench.errors import ConfigError
from workbench.audio.edits import change_tempo, pitch_shift, spectral_tilt
from workbench.runs.sweep import flip_table
from workbench.explain.voice import pitch_intensity
from workbench.labels import LABEL_KEYS
from workbench.model.network import Prediction
from workbench.audio.steps import apply_chain, make_step

SR = 16000


def vowel(dur=1.5, f0=140.0, sr=SR):
    """A fully voiced vowel-like tone: F0 with 5 Hz vibrato of ±3 %, ten harmonics, fixed level."""
    t = np.arange(int(sr * dur)) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))) / sr
    return (0.2 * sum(np.sin(k * phase) / k for k in range(1, 11))).astype(np.float32)


def median_f0(y):
    return np.nanmedian(pitch_intensity(y, SR, f0_floor=60, f0_ceiling=500)["f0_hz"])


@pytest.mark.parametrize("semitones", [2.0, -2.0])
def test_psola_shift_moves_median_f0_by_the_asked_semitones(semitones):
    y = vowel()
    out = pitch_shift(y, SR, semitones=semitones)
    assert len(out) == len(y)
    moved = 12 * np.log2(median_f0(out) / median_f0(y))
    assert moved == pytest.approx(semitones, abs=0.3)


def test_psola_shift_on_speech_like_syllables_moves_every_voiced_frame():
    y = speech_like(SR, 2.0, seed=1)
    a = pitch_intensity(y, SR, f0_floor=60, f0_ceiling=400)
    b = pitch_intensity(pitch_shift(y, SR, semitones=2.0), SR, f0_floor=60, f0_ceiling=400)
    both = a["voiced"] & b["voiced"]
    assert both.mean() > 0.3
    assert np.median(12 * np.log2(b["f0_hz"][both] / a["f0_hz"][both])) == pytest.approx(2.0, abs=0.3)


@pytest.mark.parametrize("factor", [1.25, 0.8])
def test_tempo_changes_duration_by_the_factor_and_keeps_pitch(factor):
    y = vowel()
    out = change_tempo(y, SR, factor=factor)
    assert len(out) / len(y) == pytest.approx(1 / factor, rel=0.02)
    assert abs(12 * np.log2(median_f0(out) / median_f0(y))) < 0.3


@pytest.mark.parametrize("factor", [0.9, 1.1])
def test_tempo_gives_the_same_samples_every_time(factor):
    # Praat's PSOLA draws random periods in unvoiced stretches: unseeded, the same clip and factor gave other samples on
    # every call, so `workbench diagnose`'s stability test (tempo 0.9x / 1.1x) flipped or not from one run to the next
    # and a tempo variant's cached audio could not be made again
    rng = np.random.default_rng(3)
    y = np.concatenate([speech_like(SR, 1.5, seed=2), 0.05 * rng.standard_normal(SR // 2).astype(np.float32)])
    first = change_tempo(y, SR, factor=factor)
    assert np.array_equal(first, change_tempo(y, SR, factor=factor))


def test_tilt_changes_the_balance_of_low_and_high_bands():
    rng = np.random.default_rng(0)
    y = (0.05 * rng.standard_normal(SR)).astype(np.float32)

    def band_db(z, lo, hi):
        spec = np.abs(np.fft.rfft(z)) ** 2
        f = np.fft.rfftfreq(len(z), 1 / SR)
        return 10 * np.log10(spec[(f >= lo) & (f < hi)].mean())

    out = spectral_tilt(y, SR, db_per_octave=-6.0)
    # 250–500 Hz is 2 octaves under 1 kHz (+12 dB), 4–8 kHz 2.5 octaves over it (-15 dB); both ±1.5 dB
    assert band_db(out, 300, 420) - band_db(y, 300, 420) == pytest.approx(6 * np.log2(1000 / 355), abs=1.5)
    assert band_db(out, 4000, 4400) - band_db(y, 4000, 4400) == pytest.approx(-6 * np.log2(4200 / 1000), abs=1.5)
    assert band_db(out, 950, 1050) - band_db(y, 950, 1050) == pytest.approx(0, abs=1.0)


def test_steps_are_registered_validated_and_logged():
    audio = load((vowel(), SR), config=AudioConfig(target_sr=SR))
    out = apply_chain(audio, [{"name": "tempo", "factor": 1.25}, {"name": "pitch_shift", "semitones": 2}, {"name": "tilt", "db_per_octave": 3}])
    rec = out.log.steps[-3]
    assert rec.name == "tempo" and rec.cut_end == 0 and rec.cut_start == 0 and "nothing cut" in rec.warnings[0]
    assert out.duration == pytest.approx(1.2, rel=0.02)
    for bad, match in [({"name": "pitch_shift", "semitones": 30}, "±12"), ({"name": "tempo", "factor": 0}, "0.25–4"),
                       ({"name": "tilt", "db_per_octave": "steep"}, "number"), ({"name": "tempo", "speed": 1.2}, "factor")]:
        with pytest.raises(ConfigError, match=match):
            make_step(bad)


def _pred(scores):
    s = np.asarray(scores, float)
    return Prediction("x", s, np.log(s + 1e-9))


def onehot(i, p=0.9):
    s = np.full(len(LABEL_KEYS), (1 - p) / (len(LABEL_KEYS) - 1))
    s[i] = p
    return s


def test_flip_table_counts_flips_and_mass_moves():
    angry, neutral = LABEL_KEYS.index("angry"), LABEL_KEYS.index("neutral")
    base = [_pred(onehot(angry)), _pred(onehot(angry)), _pred(onehot(neutral))]
    edited = {"pitch -2 st": [_pred(onehot(neutral)), _pred(onehot(angry)), _pred(onehot(neutral))]}
    t = flip_table(base, edited)
    row = t[(t["base_label"] == "angry") & (t["class"] == "neutral")].iloc[0]
    assert row["n"] == 2 and row["flip_rate"] == 0.5 and row["to_rate"] == 0.5
    assert row["mean_delta"] == pytest.approx((0.9 - 0.1 / 8) / 2)  # one of two items moved 0.0125 → 0.9
    assert t[t["base_label"] == "neutral"]["flip_rate"].iloc[0] == 0
    assert t.groupby(["edit", "base_label"])["mean_delta"].sum().abs().max() < 1e-9
    with pytest.raises(ConfigError, match="predictions"):
        flip_table(base, {"x": base[:2]})


def test_a_flip_rate_carries_its_count_and_exact_interval_over_its_items():
    """A flip rate of 0 over 1 item read as 'stable' with no interval beside it in sweep_flips.csv: each rate now has
    its count and its exact (Clopper–Pearson) 95 % interval, computed here independently from the beta quantiles."""
    from scipy.stats import beta

    angry, neutral = LABEL_KEYS.index("angry"), LABEL_KEYS.index("neutral")
    base = [_pred(onehot(angry)), _pred(onehot(angry)), _pred(onehot(neutral))]
    t = flip_table(base, {"gain": [_pred(onehot(neutral)), _pred(onehot(angry)), _pred(onehot(neutral))]})
    a = t[t["base_label"] == "angry"].iloc[0]
    assert a["flips"] == 1 and a["n"] == 2
    assert a["flip_low"] == pytest.approx(beta.ppf(0.025, 1, 2)) and a["flip_high"] == pytest.approx(beta.ppf(0.975, 2, 1))
    n = t[t["base_label"] == "neutral"].iloc[0]
    assert n["flips"] == 0 and n["flip_low"] == 0 and n["flip_high"] == pytest.approx(0.975)  # 0 of 1: up to 0.975
