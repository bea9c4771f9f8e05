"""Temperature scaling as the model applies it: check a temperature, divide logits by it, softmax.

Fitting a temperature is analysis (:mod:`workbench.analysis.calibration`); applying one is part of
scoring, so it lives here where the network and :class:`~workbench.model.ref.ModelRef` can see it.
"""

from __future__ import annotations

import numpy as np

from workbench.errors import ConfigError

__all__ = ["TEMPERATURE_RANGE", "check_temperature", "apply_temperature", "softmax"]


#: the temperatures the workbench applies: outside them a score is either uniform (T → ∞) or one-hot / NaN
#: (T → 0: logits / 5e-324 overflow to ±inf and the softmax gives NaN), never a calibrated probability
TEMPERATURE_RANGE = (0.05, 100.0)


def check_temperature(temperature, *, source: str = "temperature") -> float:
    """``temperature`` as a finite float in :data:`TEMPERATURE_RANGE` (0.05 ≤ T ≤ 100), or a :class:`ConfigError` that says why not.

    Booleans are refused (``true`` in a YAML file is not 1), as are strings, NaN, ±inf and numbers outside the range.
    """
    low, high = TEMPERATURE_RANGE
    if isinstance(temperature, (bool, np.bool_)) or not isinstance(temperature, (int, float, np.integer, np.floating)):
        raise ConfigError(f"the temperature {temperature!r} is not a number.", source=source,
                          fix=f"pass a number from {low:g} to {high:g} such as 1.5, or a run folder that holds calibration.json.")
    t = float(temperature)
    if not (np.isfinite(t) and low <= t <= high):
        raise ConfigError(f"the temperature is {t!r}; it must be a finite number from {low:g} to {high:g}.", source=source,
                          fix=f"pass a number from {low:g} to {high:g} such as 1.5 (1 leaves the scores as they are).")
    return t


def apply_temperature(logits: np.ndarray, temperature: float | None) -> np.ndarray:
    """Logits divided by the temperature (the one place a temperature touches model outputs).

    Parameters
    ----------
    logits : ndarray, shape (..., K)
        Logits (or log-probabilities); ``-inf`` entries stay ``-inf``.
    temperature : float or None
        ``T > 0``; ``None`` or 1 returns the logits unchanged.

    Returns
    -------
    ndarray, same shape: ``logits / T``.  ``softmax`` of it is the calibrated score.
    """
    if temperature is None:
        return logits
    t = check_temperature(temperature)
    return logits if t == 1.0 else np.asarray(logits) / t


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, shape kept, stable for ``-inf`` entries (a masked class scores 0).

    SciPy's ``scipy.special.softmax`` computes the same (the tests compare the two), but importing
    ``scipy.special`` costs 0.3–0.6 s of every short ``workbench run``'s start-up, for five lines of numpy.
    """
    x = np.asarray(logits, dtype=float)
    top = np.max(x, axis=-1, keepdims=True)
    e = np.exp(x - np.where(np.isfinite(top), top, 0.0))
    return e / e.sum(axis=-1, keepdims=True)
