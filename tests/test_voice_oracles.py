"""The voice's figures against the field's own tools called directly, and the digital-silence check on zero-padded audio.

Oracles: Praat (through parselmouth's ``call``, Praat's own command names and its standard
arguments) for F0, intensity, jitter and shimmer; openSMILE's ``Smile`` for eGeMAPS.
Constructed failure: the same clip with 0.5 s of zeros on each side (what EmoDB's files and
many corpora carry) must give the same intensity SD within 0.1 dB, and the summary must say
what was left out.  Praat on the padded clip gives an SD over 30 dB: the artefact is real.
"""

import numpy as np
import pandas as pd
import pytest

from conftest import speech_like
from workbench.analysis.groups import small_group_reason
from workbench.explain.cues import cue_differences, excluded_summary, reportable_differences
from workbench.explain.voice import (PRAAT_FLOOR_DB, contours_on_frames, digital_silence, egemaps_functionals, egemaps_lld,
                                     pitch_intensity, voice_measures)

SR = 16000


def padded(y, sr=SR, pad_s=0.5):
    z = np.zeros(int(pad_s * sr), dtype=np.float32)
    return np.concatenate([z, y, z])


@pytest.fixture(scope="module")
def clip():
    return speech_like(SR, 2.0, seed=4)


def test_f0_and_intensity_equal_praat_called_directly_with_its_standard_arguments(clip):
    import parselmouth
    from parselmouth.praat import call

    ours = pitch_intensity(clip, SR, f0_floor=75, f0_ceiling=600)
    snd = parselmouth.Sound(clip.astype(np.float64), sampling_frequency=SR)
    # Praat's "To Pitch (ac)": time step, floor, max candidates 15, very accurate off, silence 0.03, voicing 0.45,
    # octave cost 0.01, octave-jump cost 0.35, voiced/unvoiced cost 0.14, ceiling — Praat's standard values
    pitch = call(snd, "To Pitch (ac)", 0.01, 75, 15, "no", 0.03, 0.45, 0.01, 0.35, 0.14, 600)
    n = call(pitch, "Get number of frames")
    f0 = np.array([call(pitch, "Get value in frame", i, "Hertz") for i in range(1, n + 1)])
    times = np.array([call(pitch, "Get time from frame number", i) for i in range(1, n + 1)])
    np.testing.assert_allclose(ours["times"], times, atol=1e-9)
    np.testing.assert_array_equal(ours["voiced"], np.isfinite(f0))
    np.testing.assert_allclose(ours["f0_hz"][ours["voiced"]], f0[np.isfinite(f0)], rtol=1e-9)
    # "To Intensity": minimum pitch, time step, subtract mean; read on Praat's own grid
    inten = call(snd, "To Intensity", 75, 0.01, "yes")
    m = call(inten, "Get number of frames")
    it = np.array([call(inten, "Get time from frame number", i) for i in range(1, m + 1)])
    iv = np.array([call(inten, "Get value in frame", i) for i in range(1, m + 1)])
    inside = np.isfinite(ours["intensity_db"])
    np.testing.assert_allclose(ours["intensity_db"][inside], np.interp(ours["times"][inside], it, iv), atol=1e-6)
    assert ours["excluded"]["silence_frames"] == 0 and ours["sample_rate_hz"] == SR


def test_jitter_shimmer_and_intensity_statistics_equal_praat_directly(clip):
    import parselmouth
    from parselmouth.praat import call

    row = voice_measures(clip, SR, f0_floor=75, f0_ceiling=600)
    snd = parselmouth.Sound(clip.astype(np.float64), sampling_frequency=SR)
    points = call(snd, "To PointProcess (periodic, cc)", 75, 600)
    assert row["jitter_local"] == pytest.approx(call(points, "Get jitter (local)", 0, 0, 0.0001, 0.02, 1.3), rel=1e-9)
    assert row["shimmer_local"] == pytest.approx(call([snd, points], "Get shimmer (local)", 0, 0, 0.0001, 0.02, 1.3, 1.6), rel=1e-9)
    # mean and SD over the intensity frames Praat gives, read on the pitch grid as the workbench reads them
    c = pitch_intensity(clip, SR, f0_floor=75, f0_ceiling=600)
    v = c["intensity_db"][np.isfinite(c["intensity_db"])]
    assert row["intensity_mean_db"] == pytest.approx(v.mean()) and row["intensity_sd_db"] == pytest.approx(v.std())
    assert row["sample_rate_hz"] == SR and row["silence_s"] == 0


def test_egemaps_equals_opensmile_called_directly(clip):
    import opensmile

    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals)
    direct = smile.process_signal(clip, SR).iloc[0]
    ours = egemaps_functionals(clip, SR)
    assert len(ours) == 88
    assert max(abs(ours[k] - float(direct[k])) for k in ours) == 0.0


def test_zero_padding_does_not_move_the_intensity_sd_and_is_reported(clip):
    import parselmouth

    y, z = clip, padded(clip)
    # the constructed failure is real: Praat's own frames over the padding drag the SD past 30 dB
    raw = parselmouth.Sound(z.astype(np.float64), sampling_frequency=SR).to_intensity(minimum_pitch=75, time_step=0.01).values[0]
    assert raw.min() <= PRAAT_FLOOR_DB and raw.std() > 30
    a, b = voice_measures(y, SR), voice_measures(z, SR)
    assert abs(a["intensity_sd_db"] - b["intensity_sd_db"]) < 0.1
    assert abs(a["intensity_mean_db"] - b["intensity_mean_db"]) < 0.1
    assert abs(a["voiced_fraction"] - b["voiced_fraction"]) < 0.02
    assert abs(a["hnr_db"] - b["hnr_db"]) < 0.5
    # what was left out is said: about the 1 s of zeros, and every frame whose window reaches into it
    assert b["silence_s"] == pytest.approx(1.0, abs=0.01) and a["silence_s"] == 0
    assert b["silence_frames"] >= 100 and b["frames"] > a["frames"]
    c = pitch_intensity(z, SR)
    assert c["excluded"]["intensity_floor_frames"] > 0 and "digital silence" in c["excluded"]["rule"]
    assert np.nanmin(c["intensity_db"]) > 0  # no floor value and no ramp towards it is left in the contour
    summary = excluded_summary(pd.DataFrame([{"id": "y", "variant": "v", "feature_error": "", **a},
                                             {"id": "z", "variant": "v", "feature_error": "", **b}]))
    assert summary["rows_with_silence"] == 1 and summary["by_row"][0]["id"] == "z"
    assert summary["silence_s"] == pytest.approx(b["silence_s"]) and summary["sample_rates_hz"] == {SR: 2}


def test_zero_padding_does_not_move_egemaps_loudness(clip):
    a, b = egemaps_functionals(clip, SR), egemaps_functionals(padded(clip), SR)
    for k in ("loudness_sma3_amean", "F0semitoneFrom27.5Hz_sma3nz_amean", "HNRdBACF_sma3nz_amean"):
        assert b[k] == pytest.approx(a[k], rel=0.02), k
    lld = egemaps_lld(padded(clip), SR)
    assert lld.attrs["excluded_frames"] >= 90
    assert ((lld["start_s"] + lld["end_s"]) / 2).between(0.5, 2.5).all()


def test_contours_on_the_models_frames_are_null_over_silence_and_means_of_praats_frames(clip):
    c = pitch_intensity(padded(clip), SR)
    v = contours_on_frames(c, 150, frame_rate=50)
    assert len(v["f0_hz"]) == len(v["intensity_db"]) == 150 and v["sample_rate_hz"] == SR
    assert all(x is None for x in v["intensity_db"][3:22]) and all(x is None for x in v["f0_hz"][3:22])  # inside the leading zeros
    assert min(x for x in v["intensity_db"] if x is not None) > 0
    # frame 60 covers [1.20, 1.22) s: the mean of the kept 10 ms frames centred there, by hand
    sel = (c["times"] >= 1.20) & (c["times"] < 1.22) & np.isfinite(c["intensity_db"])
    assert v["intensity_db"][60] == pytest.approx(c["intensity_db"][sel].mean(), abs=1e-3)
    assert v["excluded"]["silence_frames"] == c["excluded"]["silence_frames"]


def test_digital_silence_is_a_run_not_a_zero_crossing():
    y = np.sin(2 * np.pi * 100 * np.arange(SR) / SR)  # exact zeros at every zero crossing
    assert not digital_silence(y, SR).any()
    y[4000:4100] = 0.0  # 6 ms: under the 10 ms run
    assert not digital_silence(y, SR).any()
    y[8000:8400] = 1e-6  # 25 ms under half a 16-bit step
    assert 400 <= digital_silence(y, SR).sum() <= 401  # the run, and the exact zero of the crossing at its end


def test_a_class_of_three_items_is_flagged_too_small_and_not_ranked_first():
    rng = np.random.default_rng(0)
    # 'fearful' has 3 items far above everyone (|delta| = 1); angry and sad differ less, with 30 items each
    df = pd.DataFrame({"pred": ["angry"] * 30 + ["sad"] * 30 + ["fearful"] * 3,
                       "f0_median_hz": np.r_[rng.normal(200, 20, 30), rng.normal(170, 20, 30), [400.0, 410.0, 420.0]]})
    out = cue_differences(df, n_boot=100)
    fear = out[out["label"] == "fearful"].iloc[0]
    assert fear["too_small"] and fear["too_small"] == "class " + small_group_reason({"fearful": 3})
    assert abs(fear["delta"]) == pytest.approx(1.0)  # the largest effect, and still not a finding
    top = reportable_differences(out)
    assert "fearful" not in set(top["label"]) and top.iloc[0]["label"] in ("angry", "sad")
    assert out.iloc[0]["label"] != "fearful" and (out["too_small"] == "").iloc[: len(top)].all()


def test_the_pitch_trackers_settings_are_not_ranked_as_cues():
    """f0_floor_hz / f0_ceiling_hz are what the two-pass rule chose for the clip, not a property of the voice."""
    import pandas as pd

    from workbench.explain.cues import _cue_columns

    table = pd.DataFrame({"id": ["a", "b"], "pred": ["x", "y"], "f0_median_hz": [120.0, 200.0], "f0_floor_hz": [75.0, 90.0],
                          "f0_ceiling_hz": [300.0, 400.0], "intensity_sd_db": [5.0, 6.0]})
    assert _cue_columns(table, None) == ["f0_median_hz", "intensity_sd_db"]
