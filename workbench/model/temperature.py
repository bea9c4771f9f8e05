"""Temperature scaling as the model applies it: check a temperature, divide logits by it, softmax.

Fitting a temperature is analysis (:mod:`workbench.analysis.calibration`); applying one is part of
scoring, so it lives here where the network and :class:`~workbench.model.ref.ModelRef` can see it.
"""

from __future__ import annotations

import numpy as np

from workbench.errors import ConfigError

__all__ = ["check_temperature", "apply_temperature", "softmax"]


def check_temperature(temperature, *, source: str = "temperature") -> float:
    """``temperature`` as a positive finite float, or a :class:`ConfigError` that says why not."""
    try:
        t = float(temperature)
    except (TypeError, ValueError):
        raise ConfigError(f"the temperature {temperature!r} is not a number.", source=source,
                          fix="pass a positive number such as 1.5, or a run folder that holds calibration.json.") from None
    if not (np.isfinite(t) and t > 0):
        raise ConfigError(f"the temperature is {t}; it must be a positive, finite number.", source=source,
                          fix="pass a positive number such as 1.5 (1 leaves the scores as they are).")
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
    """Row-wise softmax, shape kept (SciPy's, stable for ``-inf`` entries)."""
    from scipy.special import softmax as sp_softmax

    return sp_softmax(np.asarray(logits, dtype=float), axis=-1)
