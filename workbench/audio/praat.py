"""Praat through praat-parselmouth: a checked ``Sound`` of samples, pitch tracking and its automatic range.

The basics that the signal edits (:mod:`workbench.audio.edits`, PSOLA) and the voice measures
(:mod:`workbench.explain.voice`) share; pure functions of ``(y, sr)``.
"""

from __future__ import annotations

import sys
import threading

import numpy as np

from workbench import interrupts
from workbench.errors import AudioError, ConfigError

__all__ = ["parselmouth_module", "praat_sound", "pitch_range", "pitch_track", "check_pitch_range", "FIRST_PASS_RANGE", "PRAAT_DEFAULT_RANGE", "TIME_STEP"]

#: the first pass of the automatic range (Hz)
FIRST_PASS_RANGE = (50.0, 700.0)
#: Praat's own defaults, used when the first pass finds no voicing
PRAAT_DEFAULT_RANGE = (75.0, 600.0)
#: the time step of every contour here (s)
TIME_STEP = 0.01


def parselmouth_module():
    """parselmouth, imported whole: a Ctrl-C during its first import is held until the import ends, then raised.

    parselmouth is a pybind11 extension: a ``KeyboardInterrupt`` raised while its C++ module initialises (its numpy
    version check runs Python code) came out as ``ImportError: KeyboardInterrupt`` and left ``parselmouth.praat``
    half made, so every later clip of ``workbench features`` failed with "cannot import name 'call'", a warning each.
    """
    loaded = sys.modules.get("parselmouth")
    if loaded is not None:
        return loaded
    if threading.current_thread() is not threading.main_thread():  # no KeyboardInterrupt is raised in another thread
        import parselmouth

        return parselmouth
    with interrupts.deferred():
        import parselmouth
    return parselmouth


def praat_sound(y: np.ndarray, sr: int):
    """A ``parselmouth.Sound`` of mono samples, after the checks every measure here shares (mono, finite, rate)."""
    parselmouth = parselmouth_module()

    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise AudioError(f"voice measures need mono samples; got an array of shape {y.shape}.", fix="mix down to mono first (workbench.audio.intake.to_mono).")
    if not np.all(np.isfinite(y)):
        raise AudioError("the samples hold NaN or infinity.", fix="decode the file again; the audio is corrupt.")
    if not (isinstance(sr, (int, np.integer)) and sr > 0):
        raise ConfigError(f"sample rate {sr!r} is not a positive integer.", fix="pass the rate in Hz, e.g. 44100.")
    return parselmouth.Sound(y, sampling_frequency=float(sr))


def check_pitch_range(f0_floor: float | None, f0_ceiling: float | None) -> None:
    for name, v in (("f0_floor", f0_floor), ("f0_ceiling", f0_ceiling)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating))):
            raise ConfigError(f"{name}={v!r} is not a number of Hz.", fix=f"give {name} in Hz, e.g. 75, or leave it out for the automatic range.")
        if v is not None and not (np.isfinite(v) and 20.0 <= v <= 2000.0):
            raise ConfigError(f"{name}={v!r} Hz is outside 20–2000 Hz.", fix="give a pitch range in Hz, e.g. f0_floor=75, f0_ceiling=500, or leave both out for the automatic range.")
    if f0_floor is not None and f0_ceiling is not None and f0_floor >= f0_ceiling:
        raise ConfigError(f"f0_floor={f0_floor} Hz is not under f0_ceiling={f0_ceiling} Hz.", fix="swap them, or leave both out for the automatic range.")


def pitch_track(snd, floor: float, ceiling: float):
    parselmouth = parselmouth_module()

    try:
        return snd.to_pitch_ac(time_step=TIME_STEP, pitch_floor=floor, pitch_ceiling=ceiling)
    except parselmouth.PraatError as exc:
        raise AudioError(f"Praat cannot track pitch on a {snd.duration * 1000:.0f} ms clip with floor {floor:.0f} Hz ({str(exc).splitlines()[0]}).",
                         fix=f"give a clip of at least {3000 / floor:.0f} ms, or a higher f0_floor.") from None


def pitch_range(y: np.ndarray, sr: int, *, f0_floor: float | None = None, f0_ceiling: float | None = None) -> tuple[float, float, str]:
    """The pitch range to track with: ``(floor_hz, ceiling_hz, method)``.

    A bound that is given is kept; a missing one comes from the two-pass rule (module
    docstring).  ``method`` is ``"given"``, ``"two-pass (Hirst 2011)"`` or
    ``"Praat default (no voicing in the first pass)"``.
    """
    check_pitch_range(f0_floor, f0_ceiling)
    if f0_floor is not None and f0_ceiling is not None:
        return float(f0_floor), float(f0_ceiling), "given"
    snd = praat_sound(y, sr)
    f0 = pitch_track(snd, *FIRST_PASS_RANGE).selected_array["frequency"]
    f0 = f0[f0 > 0]
    if len(f0) < 3:
        lo, hi, method = (*PRAAT_DEFAULT_RANGE, "Praat default (no voicing in the first pass)")
    else:
        q25, q75 = np.percentile(f0, [25, 75])
        lo, hi, method = 0.75 * q25, 1.5 * q75, "two-pass (Hirst 2011)"
    lo = float(f0_floor) if f0_floor is not None else float(lo)
    hi = float(f0_ceiling) if f0_ceiling is not None else float(hi)
    if lo >= hi:  # one bound given, the other found on the wrong side of it
        hi = lo * 4.0 if f0_ceiling is None else hi
        lo = hi / 4.0 if lo >= hi else lo
    return lo, hi, method
