"""Counterfactual edits: change one property of the voice and see whether the label follows.

Pitch and duration are changed with Praat's PSOLA manipulation (through praat-parselmouth):
``To Manipulation`` → shift the PitchTier, or give a DurationTier → ``Get resynthesis
(overlap-add)``.  PSOLA moves the pitch periods themselves, so formants (the vocal tract)
stay where they were and the voice stays natural for moderate changes (within about ±4
semitones and 0.7–1.4× tempo; beyond that it sounds processed, which is itself a cue the
model may react to).  Gain is the existing ``gain`` step (a multiplication); spectral tilt is a
zero-phase linear FIR (``scipy.signal.firwin2``) whose gain is ``db_per_octave · log2(f / 1 kHz)`` dB.

The functions are pure ``f(y, sr, *, knob) -> y``; :mod:`workbench.audio.steps` wraps them as
steps (``pitch_shift``, ``tempo``, ``tilt``) usable in variants, sweeps (``--kind pitch``,
``--kind tempo``) and the stability test.  :func:`workbench.runs.sweep.flip_table` says, per class,
how often an edit flips the label and where the probability mass goes.

Measured (``tests/test_edits.py``): +2 semitones moves the median F0 of a synthetic voice
by +2 ± 0.3 semitones; tempo 1.25 makes it 1/1.25 as long within 2 %.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from workbench.errors import AudioError, ConfigError
from workbench.audio.praat import parselmouth_module, pitch_range, praat_sound

#: accepted ranges (beyond them PSOLA output is far from natural speech)
MAX_SEMITONES = 12.0
TEMPO_RANGE = (0.25, 4.0)
MAX_TILT_DB_PER_OCTAVE = 12.0
#: the frequency whose gain a tilt leaves unchanged (Hz)
TILT_PIVOT_HZ = 1000.0
#: the lowest frequency a tilt is computed for; below it the gain stays at its value there (Hz)
TILT_LOW_HZ = 50.0


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool):
        value = "a boolean"
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be a number; got {value!r}.", fix=f"give {what} as a number, e.g. 2.") from None


def check_semitones(semitones: float) -> float:
    semitones = _number(semitones, "semitones")
    if not (np.isfinite(semitones) and abs(semitones) <= MAX_SEMITONES):
        raise ConfigError(f"pitch shift of {semitones!r} semitones is outside ±{MAX_SEMITONES:g}.",
                          fix="give semitones between -12 and 12 (±2 is already a clearly audible change).")
    return float(semitones)


def check_tempo(factor: float) -> float:
    factor = _number(factor, "the tempo factor")
    if not (np.isfinite(factor) and TEMPO_RANGE[0] <= factor <= TEMPO_RANGE[1]):
        raise ConfigError(f"tempo factor {factor!r} is outside {TEMPO_RANGE[0]:g}–{TEMPO_RANGE[1]:g}.",
                          fix="give a factor such as 1.25 (25 % faster, shorter) or 0.8 (slower, longer); 1 changes nothing.")
    return float(factor)


def check_tilt(db_per_octave: float) -> float:
    db_per_octave = _number(db_per_octave, "db_per_octave")
    if not (np.isfinite(db_per_octave) and abs(db_per_octave) <= MAX_TILT_DB_PER_OCTAVE):
        raise ConfigError(f"spectral tilt of {db_per_octave!r} dB/octave is outside ±{MAX_TILT_DB_PER_OCTAVE:g}.",
                          fix="give dB per octave between -12 and 12 (negative: darker, positive: brighter).")
    return float(db_per_octave)


def _manipulation(y: np.ndarray, sr: int, f0_floor: float | None, f0_ceiling: float | None):
    call = parselmouth_module().praat.call

    snd = praat_sound(y, sr)
    lo, hi, _ = pitch_range(y, sr, f0_floor=f0_floor, f0_ceiling=f0_ceiling)
    try:
        return call(snd, "To Manipulation", 0.01, lo, hi)
    except Exception as exc:  # parselmouth.PraatError; imported lazily with parselmouth
        raise AudioError(f"Praat cannot analyse the clip for PSOLA ({str(exc).splitlines()[0]}).",
                         fix="give a longer clip (at least a few pitch periods).") from None


#: seed of Praat's random generator for a resynthesis: PSOLA draws random periods in unvoiced stretches when the
#: duration changes, so without it the same clip and tempo gave other samples on every call
PSOLA_SEED = 0


def _resynthesis(manipulation, n_out: int | None) -> np.ndarray:
    call, run = parselmouth_module().praat.call, parselmouth_module().praat.run

    run(f"random_initializeWithSeedUnsafelyButPredictably ({PSOLA_SEED})")
    try:
        out = np.asarray(call(manipulation, "Get resynthesis (overlap-add)").values[0], dtype=np.float32)
    finally:
        run("random_initializeSafelyAndUnpredictably ()")  # Praat's other random draws stay as Praat makes them
    if n_out is not None:  # overlap-add may round the end by a sample or two: keep the input's length
        out = out[:n_out] if len(out) >= n_out else np.pad(out, (0, n_out - len(out)))
    return out


def pitch_shift(y: np.ndarray, sr: int, *, semitones: float, f0_floor: float | None = None, f0_ceiling: float | None = None) -> np.ndarray:
    """Shift F0 by ``semitones`` keeping duration and formants (Praat PSOLA).

    Parameters
    ----------
    y : ndarray, shape (n,)
        Mono samples.
    sr : int
        Sample rate in Hz.
    semitones : float
        +12 is an octave up; within ±12.
    f0_floor, f0_ceiling : float, optional
        Pitch range of the analysis (Hz); automatic when left out (:func:`workbench.explain.voice.pitch_range`).

    Returns
    -------
    ndarray, shape (n,)
        float32.  Unvoiced parts are copied unchanged.
    """
    call = parselmouth_module().praat.call

    semitones = check_semitones(semitones)
    if semitones == 0:
        return np.asarray(y, dtype=np.float32).copy()
    m = _manipulation(y, sr, f0_floor, f0_ceiling)
    tier = call(m, "Extract pitch tier")
    call(tier, "Shift frequencies", 0, len(y) / sr, semitones, "semitones")
    call([tier, m], "Replace pitch tier")
    return _resynthesis(m, len(y))


def change_tempo(y: np.ndarray, sr: int, *, factor: float, f0_floor: float | None = None, f0_ceiling: float | None = None) -> np.ndarray:
    """Speak ``factor`` times as fast, keeping pitch and formants (Praat PSOLA).

    ``factor`` 1.25 makes the clip 1/1.25 = 0.8 as long; 0.8 makes it 1.25 times as long.
    Returns float32 samples of about ``len(y) / factor``.
    """
    call = parselmouth_module().praat.call

    factor = check_tempo(factor)
    if factor == 1:
        return np.asarray(y, dtype=np.float32).copy()
    m = _manipulation(y, sr, f0_floor, f0_ceiling)
    tier = call("Create DurationTier", "tempo", 0, len(y) / sr)
    call(tier, "Add point", 0, 1.0 / factor)  # one point: the same relative duration everywhere
    call([m, tier], "Replace duration tier")
    return _resynthesis(m, None)


def spectral_tilt(y: np.ndarray, sr: int, *, db_per_octave: float, numtaps: int = 1025) -> np.ndarray:
    """Tilt the spectrum by ``db_per_octave`` around 1 kHz with a zero-phase linear FIR.

    Gain at frequency f (Hz): ``db_per_octave · log2(max(f, 50) / 1000)`` dB.  Negative values
    darken the voice (like a softer, breathier phonation), positive ones brighten it (like
    pressed, louder phonation).  The result is not normalised; samples beyond ±1 are clipped.
    Returns float32 of the same length.
    """
    from scipy.signal import firwin2, oaconvolve

    db_per_octave = check_tilt(db_per_octave)
    y = np.asarray(y, dtype=np.float64)
    if db_per_octave == 0 or len(y) == 0:
        return y.astype(np.float32)
    nyq = sr / 2
    freqs = np.unique(np.r_[0.0, np.geomspace(TILT_LOW_HZ, nyq, 64)])
    gains_db = db_per_octave * np.log2(np.maximum(freqs, TILT_LOW_HZ) / TILT_PIVOT_HZ)
    taps = firwin2(numtaps, freqs / nyq, 10 ** (gains_db / 20))
    out = oaconvolve(y, taps, mode="same")  # odd symmetric taps, centred: no delay
    return np.clip(out, -1, 1).astype(np.float32)


# ---------------------------------------------------------------------------
# what an edit does to the labels
# ---------------------------------------------------------------------------
