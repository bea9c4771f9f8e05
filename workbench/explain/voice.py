"""The voice beside the model: Praat's measures and the eGeMAPS set, per clip and per run.

Per clip (pure functions of ``(y, sr)``):

* :func:`pitch_intensity` — the F0 contour, intensity and voicing on one 10 ms grid
  (Praat's autocorrelation pitch and intensity, through praat-parselmouth), with a pitch
  range chosen for the speaker when none is given;
* :func:`voice_measures` — one row of cues: F0 statistics, voiced fraction, intensity,
  HNR, jitter (local) and shimmer (local), each Praat's own algorithm;
* :func:`egemaps_functionals` / :func:`egemaps_lld` — openSMILE's eGeMAPS v02 (Eyben et
  al. 2016): 88 functionals per clip, 25 low-level descriptors per 10 ms frame.

Per run: :func:`run_features` replays every scored row of a run (the exact audio the
model saw) and measures it; :func:`cue_differences` says which cues differ between the
predicted classes (Cliff's delta with bootstrap intervals); :func:`cue_probe` says how
much of each cue a ridge regression can read from the utterance embeddings (R² under
speaker-grouped cross-validation, with bootstrap intervals).

Automatic pitch range: a first pass over 50–700 Hz, then floor = 0.75 · q25 and
ceiling = 1.5 · q75 of the voiced F0 (Hirst 2011, "The analysis by synthesis of speech
melody", Journal of Speech Sciences 1(1); the two-pass idea is De Looze & Hirst 2008,
Speech Prosody).  A fixed 75–600 Hz range halves or doubles F0 on many voices; the
speaker's own range does not.

Measured (``tests/test_voice.py``): F0 of a 120–240 Hz glide and of a 220 Hz tone is
within ±0.5 semitone of the truth in the median and in 95 % of voiced frames.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.audio.praat import (  # noqa: F401  (public here too)
    FIRST_PASS_RANGE, PRAAT_DEFAULT_RANGE, TIME_STEP, check_pitch_range, pitch_range, pitch_track, praat_sound,
)
from workbench.errors import AudioError, ConfigError


#: feature sets of :func:`run_features`
FEATURE_SETS = ("praat", "egemaps", "all")
#: columns of :func:`voice_measures`, with units
PRAAT_COLUMNS = (
    "f0_median_hz", "f0_p5_hz", "f0_p95_hz", "f0_range_st", "f0_sd_st", "voiced_fraction",
    "intensity_mean_db", "intensity_sd_db", "hnr_db", "jitter_local", "shimmer_local", "f0_floor_hz", "f0_ceiling_hz",
)



def pitch_intensity(y: np.ndarray, sr: int, *, f0_floor: float | None = None, f0_ceiling: float | None = None) -> dict[str, Any]:
    """F0 contour, intensity and voicing of a mono clip on one 10 ms grid.

    Parameters
    ----------
    y : ndarray, shape (n_samples,)
        Mono samples in [-1, 1].
    sr : int
        Sample rate in Hz.
    f0_floor, f0_ceiling : float, optional
        Pitch range in Hz; each one left out is found by the two-pass rule (module docstring).

    Returns
    -------
    dict
        ``times`` (T,) frame centres in s; ``f0_hz`` (T,) Praat's autocorrelation F0, NaN where
        unvoiced; ``intensity_db`` (T,) Praat's intensity in dB SPL-relative units (NaN where
        the intensity window does not fit); ``voiced`` (T,) bool; ``f0_floor`` and ``f0_ceiling``
        (Hz) the range used; ``range_method`` how it was chosen.

    Raises
    ------
    AudioError
        For non-mono, non-finite or too short audio (under three periods of the floor).
    ConfigError
        For a pitch range outside 20–2000 Hz or a floor not under the ceiling.
    """
    import parselmouth

    lo, hi, method = pitch_range(y, sr, f0_floor=f0_floor, f0_ceiling=f0_ceiling)
    snd = praat_sound(y, sr)
    pitch = pitch_track(snd, lo, hi)
    times = np.asarray(pitch.xs(), dtype=np.float64)
    f0 = np.asarray(pitch.selected_array["frequency"], dtype=np.float64)
    voiced = f0 > 0
    f0 = np.where(voiced, f0, np.nan)
    try:
        inten = snd.to_intensity(minimum_pitch=lo, time_step=TIME_STEP)
        it, iv = np.asarray(inten.xs()), np.asarray(inten.values[0], dtype=np.float64)
        # the intensity window (3.2 periods of the floor) is longer than the pitch window:
        # its grid starts later, so it is read on the pitch grid and NaN outside its own
        intensity = np.interp(times, it, iv, left=np.nan, right=np.nan) if len(it) else np.full(len(times), np.nan)
    except parselmouth.PraatError:
        intensity = np.full(len(times), np.nan)
    return {"times": times, "f0_hz": f0, "intensity_db": intensity, "voiced": voiced,
            "f0_floor": lo, "f0_ceiling": hi, "range_method": method}


def voice_measures(y: np.ndarray, sr: int, *, f0_floor: float | None = None, f0_ceiling: float | None = None) -> dict[str, float]:
    """One row of Praat cues for a clip (keys: :data:`PRAAT_COLUMNS`).

    F0 statistics over voiced frames (Hz; range and SD in semitones), voiced fraction of
    frames, intensity mean and SD (dB), HNR (dB, Praat's cross-correlation harmonicity,
    mean over voiced frames), jitter (local) and shimmer (local) with Praat's standard
    arguments (period 0.1–20 ms, maximum period factor 1.3, maximum amplitude factor 1.6).
    A measure that is undefined (no voicing) is NaN.
    """
    from parselmouth.praat import call

    c = pitch_intensity(y, sr, f0_floor=f0_floor, f0_ceiling=f0_ceiling)
    lo, hi = c["f0_floor"], c["f0_ceiling"]
    f0 = c["f0_hz"][c["voiced"]]
    out = dict.fromkeys(PRAAT_COLUMNS, float("nan"))
    out.update(f0_floor_hz=lo, f0_ceiling_hz=hi, voiced_fraction=float(np.mean(c["voiced"])) if len(c["voiced"]) else 0.0)
    inten = c["intensity_db"][np.isfinite(c["intensity_db"])]
    if len(inten):
        out.update(intensity_mean_db=float(np.mean(inten)), intensity_sd_db=float(np.std(inten)))
    if len(f0):
        st = 12 * np.log2(f0 / np.median(f0))
        p5, p95 = np.percentile(f0, [5, 95])
        out.update(f0_median_hz=float(np.median(f0)), f0_p5_hz=float(p5), f0_p95_hz=float(p95),
                   f0_range_st=float(12 * np.log2(p95 / p5)), f0_sd_st=float(np.std(st)))
        snd = praat_sound(y, sr)
        harm = snd.to_harmonicity_cc(time_step=TIME_STEP, minimum_pitch=lo)
        hnr = np.asarray(harm.values[0])
        hnr = hnr[hnr > -199]  # Praat marks unvoiced frames with -200 dB
        out["hnr_db"] = float(np.mean(hnr)) if len(hnr) else float("nan")
        points = call(snd, "To PointProcess (periodic, cc)", lo, hi)
        out["jitter_local"] = _defined(call(points, "Get jitter (local)", 0, 0, 0.0001, 0.02, 1.3))
        out["shimmer_local"] = _defined(call([snd, points], "Get shimmer (local)", 0, 0, 0.0001, 0.02, 1.3, 1.6))
    return out


def _defined(v: Any) -> float:
    v = float(v) if v is not None else float("nan")
    return v if np.isfinite(v) else float("nan")


def _smile(level: str):
    import opensmile

    return opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                           feature_level=opensmile.FeatureLevel.Functionals if level == "functionals" else opensmile.FeatureLevel.LowLevelDescriptors)


def egemaps_functionals(y: np.ndarray, sr: int) -> dict[str, float]:
    """The 88 eGeMAPS v02 functionals of a clip (openSMILE), name → value."""
    praat_sound(y, sr)  # the same input checks as every other measure
    df = _smile("functionals").process_signal(np.asarray(y, dtype=np.float32), sr)
    return {str(k): float(v) for k, v in df.iloc[0].items()}


def egemaps_lld(y: np.ndarray, sr: int):
    """eGeMAPS v02 low-level descriptors per 10 ms frame (openSMILE).

    Returns a DataFrame, one row per frame: ``start_s`` and ``end_s`` (seconds), then the
    25 descriptors (loudness, F0 semitone from 27.5 Hz, jitter, shimmer, HNR, formants, …).
    """
    praat_sound(y, sr)
    df = _smile("lld").process_signal(np.asarray(y, dtype=np.float32), sr)
    starts = df.index.get_level_values("start").total_seconds()
    ends = df.index.get_level_values("end").total_seconds()
    df = df.reset_index(drop=True)
    df.insert(0, "end_s", np.asarray(ends, dtype=np.float64))
    df.insert(0, "start_s", np.asarray(starts, dtype=np.float64))
    return df


def clip_features(y: np.ndarray, sr: int, feature_set: str = "praat") -> dict[str, float]:
    """Praat cues, eGeMAPS functionals, or both (``feature_set`` in :data:`FEATURE_SETS`)."""
    if feature_set not in FEATURE_SETS:
        raise ConfigError(f"unknown feature set {feature_set!r}.", fix=f"use one of: {', '.join(FEATURE_SETS)}.")
    out: dict[str, float] = {}
    if feature_set in ("praat", "all"):
        out.update(voice_measures(y, sr))
    if feature_set in ("egemaps", "all"):
        out.update({f"egemaps.{k}": v for k, v in egemaps_functionals(y, sr).items()})
    return out
