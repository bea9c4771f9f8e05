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

Digital silence is not voice.  Praat gives a frame of zeros an intensity of −300 dB (its
floor for zero power) and frames that half-overlap zeros a ramp down towards it; on EmoDB
these frames put the intensity SD of 111 of 535 files over 30 dB and made the artefact the
first "cue that differs".  Here a *digital-silence run* is at least :data:`SILENCE_MIN_RUN_S`
of samples with ``|y| <=`` :data:`SILENCE_LEVEL` (what a 16-bit file stores as 0); a frame
whose analysis window overlaps such a run, or whose value is at Praat's floor
(:data:`PRAAT_FLOOR_DB`, 0 Hz F0, −200 dB HNR), is left out of every statistic and contour,
and :func:`silence_summary` says how much was left out.  eGeMAPS functionals are measured on
the clip with its digital-silence runs cut out (openSMILE has no mask), its descriptors per
frame are dropped where their window overlaps a run.

Every measure runs at the rate of the samples it is given; :mod:`workbench.explain.cues` gives
it the audio at its source rate (before the resampling to the model's 16 kHz) and records the
rate used (``sample_rate_hz``) in every row.

Measured (``tests/test_voice.py``): F0 of a 120–240 Hz glide and of a 220 Hz tone is
within ±0.5 semitone of the truth in the median and in 95 % of voiced frames; Praat called
directly with its defaults on the same clip gives the same contour; zero padding (0.5 s each
side of a 1 s clip) changes the intensity SD by under 0.1 dB.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from workbench.audio.praat import (  # noqa: F401  (public here too)
    FIRST_PASS_RANGE, PRAAT_DEFAULT_RANGE, TIME_STEP, check_pitch_range, parselmouth_module, pitch_range, pitch_track,
    praat_sound,
)
from workbench.errors import AudioError, ConfigError


#: a sample at or under this magnitude is digital silence (a 16-bit file stores it as 0)
SILENCE_LEVEL = 2.0 ** -16
#: shortest run of such samples counted as digital silence (s): a lone zero is a zero crossing
SILENCE_MIN_RUN_S = 0.01
#: Praat's intensity for zero power is −300 dB; anything at or under this is its floor, not a level
PRAAT_FLOOR_DB = -290.0
#: Praat's harmonicity for an unvoiced frame is −200 dB
PRAAT_HNR_FLOOR_DB = -199.0
#: feature sets of :func:`run_features`
FEATURE_SETS = ("praat", "egemaps", "all")
#: columns of :func:`voice_measures`, with units
PRAAT_COLUMNS = (
    "f0_median_hz", "f0_p5_hz", "f0_p95_hz", "f0_range_st", "f0_sd_st", "voiced_fraction",
    "intensity_mean_db", "intensity_sd_db", "hnr_db", "jitter_local", "shimmer_local", "f0_floor_hz", "f0_ceiling_hz",
)
#: bookkeeping columns beside the cues: the rate measured at and what was left out (never compared as cues)
MEASUREMENT_COLUMNS = ("sample_rate_hz", "duration_s", "silence_s", "silence_frames", "frames",
                       "f0_floor_hz", "f0_ceiling_hz")  # the tracker's settings for the clip, not cues of the voice


def digital_silence(y: np.ndarray, sr: int, *, level: float = SILENCE_LEVEL, min_run_s: float = SILENCE_MIN_RUN_S) -> np.ndarray:
    """Mask of the samples inside digital-silence runs (module docstring), shape (n_samples,), bool."""
    quiet = np.abs(np.asarray(y, dtype=np.float64)) <= level
    out = np.zeros(len(quiet), dtype=bool)
    if not quiet.any():
        return out
    edges = np.diff(np.concatenate([[0], quiet.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    min_run = max(1, int(round(min_run_s * sr)))
    for a, b in zip(starts, ends):
        if b - a >= min_run:
            out[a:b] = True
    return out


def _window_touches(mask: np.ndarray, sr: int, times: np.ndarray, half_s: float) -> np.ndarray:
    """For each time, whether ``mask`` holds a True sample within ``half_s`` of it (the frame's window), shape (T,)."""
    if not mask.any() or not len(times):
        return np.zeros(len(times), dtype=bool)
    cum = np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])
    lo = np.clip(np.floor((np.asarray(times) - half_s) * sr).astype(np.int64), 0, len(mask))
    hi = np.clip(np.ceil((np.asarray(times) + half_s) * sr).astype(np.int64) + 1, 0, len(mask))
    return cum[hi] - cum[lo] > 0


def without_silence(y: np.ndarray, sr: int) -> np.ndarray:
    """The samples with every digital-silence run cut out (what eGeMAPS functionals are measured on)."""
    return np.asarray(y)[~digital_silence(y, sr)]



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
        unvoiced; ``intensity_db`` (T,) Praat's intensity in dB SPL-relative units, NaN where
        the intensity window does not fit, overlaps digital silence or is at Praat's −300 dB
        floor; ``voiced`` (T,) bool; ``silent`` (T,) bool, the frames left out as digital
        silence (their pitch window overlaps a run); ``f0_floor`` and ``f0_ceiling``
        (Hz) the range used; ``range_method`` how it was chosen; ``sample_rate_hz`` the rate
        measured at; ``excluded``: :func:`silence_summary` of the clip.

    Raises
    ------
    AudioError
        For non-mono, non-finite or too short audio (under three periods of the floor).
    ConfigError
        For a pitch range outside 20–2000 Hz or a floor not under the ceiling.
    """
    parselmouth = parselmouth_module()

    lo, hi, method = pitch_range(y, sr, f0_floor=f0_floor, f0_ceiling=f0_ceiling)
    snd = praat_sound(y, sr)
    quiet = digital_silence(y, sr)
    pitch = pitch_track(snd, lo, hi)
    times = np.asarray(pitch.xs(), dtype=np.float64)
    f0 = np.asarray(pitch.selected_array["frequency"], dtype=np.float64)
    # Praat's pitch window is 3 periods of the floor (1.5 / floor on each side of the centre)
    silent = _window_touches(quiet, sr, times, 1.5 / lo)
    voiced = (f0 > 0) & ~silent
    f0 = np.where(voiced, f0, np.nan)
    n_floor = 0
    try:
        inten = snd.to_intensity(minimum_pitch=lo, time_step=TIME_STEP)
        it, iv = np.asarray(inten.xs()), np.asarray(inten.values[0], dtype=np.float64)
        # the intensity window is 6.4 periods of the floor (3.2 / floor each side): a frame whose window
        # reaches into digital silence reads a ramp towards Praat's −300 dB floor, not a level
        floor = iv <= PRAAT_FLOOR_DB
        n_floor = int(floor.sum())
        iv = np.where(floor | _window_touches(quiet, sr, it, 3.2 / lo), np.nan, iv)
        # its grid starts later than the pitch grid: read on the pitch grid, NaN outside its own (and next to a NaN)
        intensity = np.interp(times, it, iv, left=np.nan, right=np.nan) if len(it) else np.full(len(times), np.nan)
    except parselmouth.PraatError:
        intensity = np.full(len(times), np.nan)
    return {"times": times, "f0_hz": f0, "intensity_db": intensity, "voiced": voiced, "silent": silent,
            "f0_floor": lo, "f0_ceiling": hi, "range_method": method, "sample_rate_hz": int(sr),
            "excluded": silence_summary(quiet, sr, silent, intensity_floor_frames=n_floor)}


def silence_summary(quiet: np.ndarray, sr: int, silent_frames: np.ndarray, *, intensity_floor_frames: int = 0) -> dict[str, Any]:
    """What was left out of a clip's measures as digital silence.

    ``silence_s``: seconds of digital-silence runs; ``silence_frames`` of ``frames``: 10 ms contour
    frames left out (their window overlaps a run); ``intensity_floor_frames``: intensity frames at
    Praat's −300 dB floor (all of them inside the left-out frames when the silence is digital);
    ``rule``: the rule in words.
    """
    return {"silence_s": round(float(np.sum(quiet)) / sr, 4), "silence_frames": int(np.sum(silent_frames)),
            "frames": int(len(silent_frames)), "intensity_floor_frames": int(intensity_floor_frames),
            "rule": (f"digital silence = runs of at least {SILENCE_MIN_RUN_S * 1000:.0f} ms with |sample| <= 2^-16; a frame whose "
                     f"Praat window overlaps one, an intensity at Praat's floor (<= {PRAAT_FLOOR_DB:.0f} dB), 0 Hz F0 and "
                     f"-200 dB HNR are left out of every statistic and contour")}


def contours_on_frames(contour: dict[str, Any], n_frames: int, *, frame_rate: float) -> dict[str, Any]:
    """F0 and intensity of :func:`pitch_intensity` on the model's frame grid.

    Model frame ``t`` covers ``[t / frame_rate, (t + 1) / frame_rate)`` s; its value is the mean of the
    10 ms contour frames whose centre lies in that span and that were kept (voiced for F0; not
    silence nor floor for intensity), ``None`` when there is none.  Returns a JSON-ready dict:
    ``rate_hz``, ``frame_convention``, ``f0_hz`` and ``intensity_db`` (lists of length ``n_frames``),
    ``sample_rate_hz`` (the rate Praat measured at), ``pitch_range_hz``, ``range_method``, ``excluded``.
    """
    times = np.asarray(contour["times"], dtype=np.float64)
    idx = np.floor(times * frame_rate).astype(np.int64)

    def pooled(values: np.ndarray) -> list:
        v = np.asarray(values, dtype=np.float64)
        ok = np.isfinite(v) & (idx >= 0) & (idx < n_frames)
        total = np.bincount(idx[ok], weights=v[ok], minlength=n_frames)[:n_frames]
        count = np.bincount(idx[ok], minlength=n_frames)[:n_frames]
        return [float(round(s / c, 3)) if c else None for s, c in zip(total, count)]

    return {"rate_hz": frame_rate,
            "frame_convention": f"model frame t covers [t/{frame_rate:g}, (t+1)/{frame_rate:g}) s; its value is the mean of the "
                                f"kept {TIME_STEP * 1000:.0f} ms Praat frames centred in it; null where none (unvoiced, silence, floor)",
            "f0_hz": pooled(contour["f0_hz"]), "intensity_db": pooled(contour["intensity_db"]),
            "sample_rate_hz": int(contour.get("sample_rate_hz") or 0) or None,
            "pitch_range_hz": [float(contour["f0_floor"]), float(contour["f0_ceiling"])], "range_method": contour["range_method"],
            "excluded": contour.get("excluded")}


def voice_measures(y: np.ndarray, sr: int, *, f0_floor: float | None = None, f0_ceiling: float | None = None) -> dict[str, float]:
    """One row of Praat cues for a clip (keys: :data:`PRAAT_COLUMNS` and :data:`MEASUREMENT_COLUMNS`).

    F0 statistics over voiced frames (Hz; range and SD in semitones), voiced fraction of the
    frames that are not digital silence, intensity mean and SD (dB) over the frames kept by
    :func:`pitch_intensity`, HNR (dB, Praat's cross-correlation harmonicity, mean over voiced
    frames outside digital silence), jitter (local) and shimmer (local) with Praat's standard
    arguments (period 0.1–20 ms, maximum period factor 1.3, maximum amplitude factor 1.6).
    A measure that is undefined (no voicing) is NaN.  ``sample_rate_hz`` is the rate measured
    at, ``silence_s`` / ``silence_frames`` of ``frames`` what was left out as digital silence.

    Parameters
    ----------
    y : (n,) float array
        Mono samples.
    sr : int
        Their sample rate in Hz (measured at that rate, no resampling).
    f0_floor, f0_ceiling : float, optional
        Pitch range in Hz (default: Praat's two-pass range, :func:`pitch_intensity`).

    Returns
    -------
    dict
        Measure name → value (NaN where undefined).

    Examples
    --------
    >>> t = np.arange(16000) / 16000
    >>> tone = (0.3 * np.sin(2 * np.pi * 200 * t)).astype(np.float32)
    >>> m = wb.voice_measures(tone, 16000)
    >>> round(m["f0_median_hz"]), m["sample_rate_hz"], m["silence_s"]
    (200, 16000.0, 0.0)
    """
    call = parselmouth_module().praat.call

    c = pitch_intensity(y, sr, f0_floor=f0_floor, f0_ceiling=f0_ceiling)
    lo, hi = c["f0_floor"], c["f0_ceiling"]
    f0 = c["f0_hz"][c["voiced"]]
    kept = ~c["silent"]
    ex = c["excluded"]
    out = dict.fromkeys(PRAAT_COLUMNS, float("nan"))
    out.update(f0_floor_hz=lo, f0_ceiling_hz=hi, voiced_fraction=float(np.mean(c["voiced"][kept])) if kept.any() else 0.0,
               sample_rate_hz=float(sr), duration_s=len(y) / sr, silence_s=ex["silence_s"],
               silence_frames=float(ex["silence_frames"]), frames=float(ex["frames"]))
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
        near_silence = _window_touches(digital_silence(y, sr), sr, np.asarray(harm.xs()), 1.5 / lo)
        hnr = hnr[(hnr > PRAAT_HNR_FLOOR_DB) & ~near_silence]  # Praat marks unvoiced frames with -200 dB
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
    """The 88 eGeMAPS v02 functionals of a clip (openSMILE), name → value, at the rate given.

    Measured on the clip with its digital-silence runs cut out (:func:`without_silence`):
    openSMILE's loudness and spectral means would otherwise average the zeros in.
    """
    praat_sound(y, sr)  # the same input checks as every other measure
    kept = without_silence(y, sr)
    if len(kept) < int(0.1 * sr):
        raise AudioError(f"the clip holds {len(kept) / sr * 1000:.0f} ms that is not digital silence; eGeMAPS needs at least 100 ms.",
                         fix="drop the clip, or check the recording (it is zeros).")
    df = _smile("functionals").process_signal(np.asarray(kept, dtype=np.float32), sr)
    return voiced_only_undefined({str(k): float(v) for k, v in df.iloc[0].items()})


#: the eGeMAPS functional that tells whether openSMILE found a voiced frame: F0 in semitones above 27.5 Hz is positive
#: on every voiced frame (eGeMAPS tracks F0 from 55 Hz), so its mean over voiced frames is 0 only when there is none
EGEMAPS_VOICING = "F0semitoneFrom27.5Hz_sma3nz_amean"
#: the functionals of voiced segments that have no value without one (the rate of voiced segments, 0, stays: it is a rate)
_SEGMENT_FUNCTIONALS = ("MeanVoicedSegmentLengthSec", "StddevVoicedSegmentLengthSec")


def voiced_only_undefined(functionals: dict[str, float]) -> dict[str, float]:
    """``functionals`` with the voiced-only ones (openSMILE's ``_sma3nz_``: F0, jitter, shimmer, HNR, H1–H2, H1–A3,
    formants) and the voiced segments' lengths set to NaN when the clip has no voiced frame.  openSMILE writes 0 for
    them, which reads as a measurement (F0 0 semitones, HNR 0 dB, jitter 0) and was compared between classes as one;
    the Praat set gives NaN for the same clip."""
    if not functionals.get(EGEMAPS_VOICING, 1.0) <= 0.0:
        return functionals
    return {k: float("nan") if "_sma3nz_" in k or k in _SEGMENT_FUNCTIONALS else v for k, v in functionals.items()}


def egemaps_lld(y: np.ndarray, sr: int):
    """eGeMAPS v02 low-level descriptors per 10 ms frame (openSMILE).

    Returns a DataFrame, one row per frame: ``start_s`` and ``end_s`` (seconds), then the
    25 descriptors (loudness, F0 semitone from 27.5 Hz, jitter, shimmer, HNR, formants, …).
    Frames whose 60 ms window (eGeMAPS' longest, for F0) overlaps digital silence are dropped;
    ``attrs["excluded_frames"]`` says how many.
    """
    praat_sound(y, sr)
    df = _smile("lld").process_signal(np.asarray(y, dtype=np.float32), sr)
    starts = np.asarray(df.index.get_level_values("start").total_seconds(), dtype=np.float64)
    ends = np.asarray(df.index.get_level_values("end").total_seconds(), dtype=np.float64)
    df = df.reset_index(drop=True)
    df.insert(0, "end_s", ends)
    df.insert(0, "start_s", starts)
    silent = _window_touches(digital_silence(y, sr), sr, (starts + ends) / 2, 0.03)
    df = df[~silent].reset_index(drop=True)
    df.attrs["excluded_frames"] = int(silent.sum())
    return df


def clip_features(y: np.ndarray, sr: int, feature_set: str = "praat") -> dict[str, float]:
    """Praat cues, eGeMAPS functionals, or both (``feature_set`` in :data:`FEATURE_SETS`), with the rate and the digital
    silence left out (``sample_rate_hz``, ``duration_s``, ``silence_s``, ``silence_frames`` of ``frames``)."""
    if feature_set not in FEATURE_SETS:
        raise ConfigError(f"unknown feature set {feature_set!r}.", fix=f"use one of: {', '.join(FEATURE_SETS)}.")
    out: dict[str, float] = {}
    if feature_set in ("praat", "all"):
        out.update(voice_measures(y, sr))
    if feature_set in ("egemaps", "all"):
        out.update({f"egemaps.{k}": v for k, v in egemaps_functionals(y, sr).items()})
    if feature_set == "egemaps":
        # the rate and the silence cut out are the record of every row (the Praat set writes its own): on 10 ms frames,
        # the digital-silence samples the functionals left out
        quiet = int(np.sum(digital_silence(y, sr)))
        frame = 0.01 * sr
        out.update(sample_rate_hz=float(sr), duration_s=len(y) / sr, silence_s=round(quiet / sr, 4),
                   silence_frames=float(round(quiet / frame)), frames=float(round(len(y) / frame)))
    return out
