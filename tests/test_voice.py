"""Praat and eGeMAPS measures against signals whose truth is known."""

import numpy as np
import pandas as pd
import pytest

from conftest import noise, sine
from workbench.errors import AudioError, ConfigError
from workbench.explain.cues import cliffs_delta, cue_differences, cue_probe
from workbench.explain.voice import egemaps_functionals, egemaps_lld, pitch_intensity, pitch_range, voice_measures

SR = 16000
#: tolerance of every F0 test: half a semitone (3 %), well under the octave errors it guards against
TOL_ST = 0.5


def harmonic(f0_of_t, dur=1.5, sr=SR, n_harm=10, amp=0.2, noise_amp=0.0, seed=0):
    t = np.arange(int(sr * dur)) / sr
    f0 = f0_of_t(t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = amp * sum(np.sin(k * phase) / k for k in range(1, n_harm + 1))
    y = y + noise_amp * np.random.default_rng(seed).standard_normal(len(t))
    return y.astype(np.float32), t, f0


def semitone_errors(contour, t, f0):
    v = contour["voiced"]
    truth = np.interp(contour["times"][v], t, f0)
    return 12 * np.log2(contour["f0_hz"][v] / truth)


def test_f0_of_a_glide_follows_the_truth():
    y, t, f0 = harmonic(lambda t: 120 * 2 ** (t / 1.5))  # one octave up, 120 → 240 Hz
    c = pitch_intensity(y, SR)
    err = semitone_errors(c, t, f0)
    assert c["voiced"].mean() > 0.9
    assert abs(np.median(err)) < TOL_ST and np.percentile(np.abs(err), 95) < TOL_ST
    assert c["f0_floor"] < 120 and c["f0_ceiling"] > 240 and c["range_method"].startswith("two-pass")
    assert len(c["times"]) == len(c["f0_hz"]) == len(c["intensity_db"]) == len(c["voiced"])


def test_f0_of_a_pure_tone_and_a_given_range():
    y = sine(SR, 1.0, 220.0, 0.5)
    c = pitch_intensity(y, SR, f0_floor=75, f0_ceiling=500)
    assert (c["f0_floor"], c["f0_ceiling"], c["range_method"]) == (75.0, 500.0, "given")
    assert abs(12 * np.log2(np.nanmedian(c["f0_hz"]) / 220.0)) < TOL_ST
    # a range that excludes the tone finds no voicing there instead of an octave error
    low = pitch_intensity(y, SR, f0_floor=40, f0_ceiling=100)
    assert not np.any(np.abs(12 * np.log2(low["f0_hz"][low["voiced"]] / 220.0)) < TOL_ST)


def test_noise_is_unvoiced_and_intensity_tracks_level():
    c = pitch_intensity(noise(SR, 1.0, amp=0.1), SR)
    assert c["voiced"].mean() < 0.1 and np.isnan(c["f0_hz"][~c["voiced"]]).all()
    y, _, _ = harmonic(lambda t: np.full_like(t, 150.0), dur=1.0)
    loud, soft = pitch_intensity(y, SR), pitch_intensity(y * 0.1, SR)
    assert np.nanmedian(loud["intensity_db"]) - np.nanmedian(soft["intensity_db"]) == pytest.approx(20.0, abs=0.5)


def test_hnr_of_a_clean_tone_is_above_the_same_tone_in_noise():
    clean, _, _ = harmonic(lambda t: np.full_like(t, 150.0), dur=1.0)
    noisy, _, _ = harmonic(lambda t: np.full_like(t, 150.0), dur=1.0, noise_amp=0.05)
    a, b = voice_measures(clean, SR), voice_measures(noisy, SR)
    assert a["hnr_db"] > 30 and a["hnr_db"] > b["hnr_db"] + 10
    assert a["jitter_local"] < 0.01 and a["voiced_fraction"] > 0.9


def test_jitter_grows_with_period_perturbation():
    rng = np.random.default_rng(0)
    steady, _, _ = harmonic(lambda t: np.full_like(t, 150.0), dur=1.0)
    # a new random F0 every period: ±3 % cycle-to-cycle is jitter (local) of a few percent
    wobble = np.repeat(150 * (1 + 0.03 * rng.standard_normal(200)), SR // 150 + 1)[: SR]
    shaky, _, _ = harmonic(lambda t: wobble[: len(t)], dur=1.0)
    assert voice_measures(shaky, SR)["jitter_local"] > 3 * voice_measures(steady, SR)["jitter_local"]


def test_bad_inputs_are_refused():
    with pytest.raises(ConfigError, match="f0_floor"):
        pitch_intensity(sine(), SR, f0_floor=300, f0_ceiling=200)
    with pytest.raises(ConfigError, match="20–2000"):
        pitch_range(sine(), SR, f0_floor=5)
    with pytest.raises(ConfigError, match="not a number"):
        pitch_range(sine(), SR, f0_floor="75")
    with pytest.raises(AudioError, match="mono"):
        pitch_intensity(np.zeros((100, 2)), SR)
    with pytest.raises(AudioError, match="NaN"):
        pitch_intensity(np.full(1000, np.nan), SR)
    with pytest.raises(AudioError, match="ms"):
        pitch_intensity(sine(SR, 0.02), SR, f0_floor=50, f0_ceiling=300)


def test_egemaps_returns_its_88_functionals_and_framewise_llds():
    y, _, _ = harmonic(lambda t: 120 * 2 ** (t / 1.5))
    f = egemaps_functionals(y, SR)
    assert len(f) == 88 and "F0semitoneFrom27.5Hz_sma3nz_amean" in f
    # eGeMAPS' F0 is in semitones from 27.5 Hz: the glide's mean is near that of 120–240 Hz
    mean_st = np.mean(12 * np.log2(120 * 2 ** (np.linspace(0, 1.5, 100) / 1.5) / 27.5))
    assert f["F0semitoneFrom27.5Hz_sma3nz_amean"] == pytest.approx(mean_st, abs=1.0)
    lld = egemaps_lld(y, SR)
    assert lld.shape[1] == 2 + 25 and np.allclose(np.diff(lld["start_s"]), 0.01)


def test_cliffs_delta_and_cue_differences_find_a_planted_difference():
    assert cliffs_delta(np.array([3.0, 4, 5]), np.array([0.0, 1, 2])) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"pred": ["angry"] * 30 + ["sad"] * 30,
                       "f0_median_hz": np.r_[rng.normal(220, 10, 30), rng.normal(150, 10, 30)],
                       "unrelated": rng.normal(0, 1, 60)})
    out = cue_differences(df, n_boot=200)
    top = out.iloc[0]
    assert top["cue"] == "f0_median_hz" and abs(top["delta"]) > 0.9 and top["low"] <= top["delta"] <= top["high"]
    unrel = out[out["cue"] == "unrelated"]
    assert (unrel["low"] < 0).all() and (unrel["high"] > 0).all()  # no difference: the interval holds 0
    with pytest.raises(ConfigError, match="choose from"):
        cue_differences(df, cues=["f0_mean"])


def test_cue_probe_reads_a_cue_the_embedding_carries_and_not_one_it_does_not():
    rng = np.random.default_rng(0)
    n = 120
    emb = rng.standard_normal((n, 16))
    df = pd.DataFrame({"carried": emb[:, 0] * 2 + 0.1 * rng.standard_normal(n), "absent": rng.standard_normal(n)})
    speakers = np.repeat(np.arange(8), n // 8)
    out = cue_probe(emb, df, speakers, n_boot=200).set_index("cue")
    assert out.loc["carried", "r2"] > 0.9 and out.loc["carried", "low"] > 0.8
    assert out.loc["absent", "r2"] < 0.1
    with pytest.raises(ConfigError, match="line up"):
        cue_probe(emb[:10], df, speakers)


def test_cue_probe_says_the_folds_it_used_when_fewer_groups_than_asked():
    from workbench.analysis.fusion import fold_plan

    rng = np.random.default_rng(1)
    n = 40
    emb = rng.standard_normal((n, 8))
    speakers = np.repeat(["a", "b", "c", "d"], n // 4)
    thin = rng.standard_normal(n)
    thin[speakers == "d"] = np.nan  # measured on three speakers' rows only
    df = pd.DataFrame({"all": rng.standard_normal(n), "thin": thin})
    out = cue_probe(emb, df, speakers, folds=100, n_boot=20).set_index("cue")
    assert out.loc["all", "folds"] == 4 and out.loc["thin", "folds"] == 3  # one per speaker, never 100
    assert out.loc["thin", "n"] == 30
    plan = fold_plan(speakers, 100)
    assert (plan["asked"], plan["used"], plan["groups"]) == (100, 4, 4) and "only 4 groups" in plan["note"]
    assert "note" not in fold_plan(speakers, 3) and fold_plan(speakers, 3)["used"] == 3
