"""Mixing down and resampling, each logged as a step with any length change measured."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from workbench.audio.clip import Audio
from workbench.audio.processing import StepRecord, measure_length_change
from workbench.errors import AudioError


def to_mono(audio: Audio, *, method: str = "mean") -> Audio:
    """Mix an ``(n, channels)`` :class:`Audio` down to ``(n,)`` and log how."""
    y = audio.samples
    if y.ndim == 1:
        return audio
    n_ch = y.shape[1]
    if n_ch == 1:
        return Audio(np.ascontiguousarray(y[:, 0]), audio.sr, audio.source, audio.log)
    t0 = time.perf_counter()
    mixer = _Mixer(method, n_ch, audio.id)
    mono = mixer.mix(y)
    return audio.with_samples(mono, record=mixer.record(audio.sr, len(mono), (time.perf_counter() - t0) * 1000))


class _Mixer:
    """Mixes blocks down and keeps what the log needs to say (lost power when channels cancel)."""

    def __init__(self, method: str, channels: int, name: str | None):
        if method not in ("mean", "first"):
            raise AudioError(f"unknown mixdown method {method!r}; expected 'mean' or 'first'.", source=name,
                             fix="set AudioConfig(mixdown='mean').")
        self.method, self.channels = method, channels
        self.ch_energy = self.mono_energy = 0.0
        self.n = 0

    def mix(self, block: np.ndarray) -> np.ndarray:
        if self.method == "first":
            return np.ascontiguousarray(block[:, 0])
        mono = block.mean(axis=1, dtype=np.float64).astype(np.float32)
        self.ch_energy += float(np.sum(np.square(block, dtype=np.float64))) / self.channels
        self.mono_energy += float(np.sum(np.square(mono, dtype=np.float64)))
        self.n += len(block)
        return mono

    def record(self, sr: int, n: int, elapsed_ms: float) -> StepRecord:
        warnings = []
        if self.method == "mean" and self.n:
            ch_power, mono_power = self.ch_energy / self.n, self.mono_energy / self.n
            if ch_power > 1e-10 and mono_power < 0.25 * ch_power:
                warnings.append(
                    f"averaging the {self.channels} channels lost {10 * np.log10(ch_power / max(mono_power, 1e-20)):.1f} dB: "
                    "they partly cancel (phase-inverted stereo?); consider mixdown='first'"
                )
        return StepRecord(name="mixdown", params={"method": self.method, "channels": self.channels}, sr_in=sr, sr_out=sr,
                          duration_in=n / sr, duration_out=n / sr, elapsed_ms=elapsed_ms, warnings=warnings, message="")


def resample_array(y: np.ndarray, sr_in: int, sr_out: int, *, method: str = "soxr", quality: str = "VHQ") -> np.ndarray:
    """Resample a 1-D float array; pure function.

    ``method``: ``"soxr"`` (quality preset ``quality``), ``"scipy"``
    (polyphase FIR, Kaiser window) or ``"librosa"`` (its default, soxr_hq).
    The output has ``round(len(y) * sr_out / sr_in)`` samples (±1).
    """
    if sr_in == sr_out:
        return y
    if method == "soxr":
        import soxr

        return soxr.resample(y, sr_in, sr_out, quality=quality).astype(np.float32, copy=False)
    if method == "scipy":
        from math import gcd

        from scipy.signal import resample_poly

        g = gcd(int(sr_in), int(sr_out))
        return resample_poly(y, sr_out // g, sr_in // g).astype(np.float32)
    if method == "librosa":
        import librosa

        return librosa.resample(y, orig_sr=sr_in, target_sr=sr_out).astype(np.float32)
    raise AudioError(
        f"unknown resampler {method!r}; expected 'soxr', 'scipy' or 'librosa'.",
        fix="set AudioConfig(resampler='soxr').",
    )


def resample(audio: Audio, sr_out: int, *, method: str = "soxr", quality: str = "VHQ") -> Audio:
    """Resample mono :class:`Audio` and log the resampler and any length change."""
    if audio.samples.ndim != 1:
        audio = to_mono(audio)
    t0 = time.perf_counter()
    y = resample_array(audio.samples, audio.sr, sr_out, method=method, quality=quality)
    cut_s, cut_e, add_s, add_e, warnings = measure_length_change(
        f"resampling ({method})", n_in=len(audio.samples), sr_in=audio.sr, n_out=len(y), sr_out=sr_out
    )
    params: dict[str, Any] = {"method": method}
    if method == "soxr":
        params["quality"] = quality
    record = StepRecord(
        name="resample",
        params=params,
        sr_in=audio.sr,
        sr_out=sr_out,
        duration_in=audio.duration,
        duration_out=len(y) / sr_out,
        cut_start=cut_s,
        cut_end=cut_e,
        added_start=add_s,
        added_end=add_e,
        elapsed_ms=(time.perf_counter() - t0) * 1000,
        warnings=warnings,
    )
    return audio.with_samples(y, sr_out, record)

