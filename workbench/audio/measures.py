"""Signal measures of mono audio: short-time and band levels, the noise floor, the onset, SNR and silence.

Pure functions of ``(y, sr)``.  The findings rules (:mod:`workbench.engine.findings`) read them, and the
trimming steps (:mod:`workbench.audio.steps`) use them to say how loud what they cut was.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from workbench.schema import SAMPLE_RATE


def frame_energies_db(y: np.ndarray, sr: int, *, frame_ms: float = 25.0, hop_ms: float = 10.0) -> np.ndarray:
    """Short-time energy in dB (floor -120 dB); shape ``(n_frames,)``.

    Each sample is squared once (in float64) and summed once into blocks of ``gcd(frame, hop)`` samples; a
    frame's energy is the sum of its blocks (25 ms frames, 10 ms hop at 16 kHz: five 5 ms blocks).  Sums of
    non-negative terms in another order: equal to the direct definition (copy each frame, square, mean) within
    1e-12 relative (tests/test_measures.py), at half the cost of a strided mean over the 2.5× overlapping frames
    (issue #28: the signal facts are computed beside the model, on the same cores).
    """
    n, h = int(sr * frame_ms / 1000), int(sr * hop_ms / 1000)
    if n < 1 or h < 1:
        raise ValueError(f"{frame_ms:g} ms frames every {hop_ms:g} ms are {n} and {h} samples at {sr} Hz: each must be 1 or more.")
    return _energies_db(np.square(y, dtype=np.float64), n, h)


def _energies_db(sq: np.ndarray, n: int, h: int) -> np.ndarray:
    """Frame energies in dB of the squared samples ``sq`` (float64), zero-padded to one frame when shorter."""
    if len(sq) < n:
        sq = np.pad(sq, (0, n - len(sq)))
    return 10 * np.log10(_frame_sums(sq, n, h) / n + 1e-12)


def _frame_sums(sq: np.ndarray, n: int, h: int) -> np.ndarray:
    """Sums of ``sq`` (float64, ``len(sq) >= n``) over the frames of ``n`` samples every ``h`` samples."""
    b = math.gcd(n, h)
    count = (len(sq) - n) // h + 1
    if b < 8:  # blocks too small to pay: a strided view of the frames
        return np.lib.stride_tricks.sliding_window_view(sq, n)[::h].sum(axis=1)
    step, per = h // b, n // b
    k = (count - 1) * step + per
    blocks = np.einsum("ij->i", sq[: k * b].reshape(k, b))  # not a BLAS product: OpenBLAS would start its threads
    stop = (count - 1) * step + 1
    total = blocks[0:stop:step].copy()
    for i in range(1, per):
        total += blocks[i: i + stop: step]
    return total


#: frames at or under this level (dBFS) are digital silence: they say nothing about the noise floor
DIGITAL_SILENCE_DB = -100.0
#: octave bands of the spectral noise-floor estimate (Hz)
NOISE_BANDS_HZ = ((125, 250), (250, 500), (500, 1000), (1000, 2000), (2000, 4000), (4000, 8000), (8000, 2 * SAMPLE_RATE))  # the last band only exists at high sample rates
#: the quantile of the power bins in a band taken as its noise level (see :func:`noise_floor_db`)
NOISE_BIN_QUANTILE = 0.2


def band_energies_db(y: np.ndarray, sr: int, *, frame_ms: float = 25.0, hop_ms: float = 10.0, low_hz: float = 80.0) -> np.ndarray:
    """Short-time level above ``low_hz`` in dB (floor -120 dB), as a mean square; shape ``(n_frames,)``.

    Hann-windowed 25 ms frames, the power of the bins at or above 80 Hz (Parseval, scaled by the
    window's energy): DC, a settling offset and rumble are not sound, and the window's zero end
    makes a click on a frame's first samples count for little.
    """
    n, h = int(sr * frame_ms / 1000), int(sr * hop_ms / 1000)
    y = np.asarray(y, dtype=np.float64)
    if len(y) < n:
        y = np.pad(y, (0, n - len(y)))
    frames = np.lib.stride_tricks.sliding_window_view(y, n)[::h]
    w = _hann(n)
    first = _first_bin(n, sr, low_hz)
    return 10 * np.log10(2 * _power(np.fft.rfft(frames * w, axis=1)[:, first:]).sum(axis=1) / (n * _energy(n)) + 1e-12)


def _power(spectrum: np.ndarray) -> np.ndarray:
    """|X|² of complex bins without the square root ``np.abs`` takes (and squares again)."""
    return np.square(spectrum.real) + np.square(spectrum.imag)


@functools.lru_cache(maxsize=16)
def _first_bin(n: int, sr: int, low_hz: float) -> int:
    """The first rfft bin of an ``n``-sample frame at or above ``low_hz``."""
    above = np.flatnonzero(np.fft.rfftfreq(n, 1 / sr) >= low_hz)
    return int(above[0]) if len(above) else n // 2 + 1


@functools.lru_cache(maxsize=16)
def _energy(n: int) -> float:
    return float(np.sum(_hann(n) ** 2))


@functools.lru_cache(maxsize=16)
def _band_bins(n: int, sr: int) -> tuple[tuple[int, int], ...]:
    """Each usable :data:`NOISE_BANDS_HZ` band of an ``n``-sample frame at ``sr`` as (first, stop) rfft bins (4 bins or more)."""
    freqs = np.fft.rfftfreq(n, 1 / sr)
    out = []
    for lo, hi in NOISE_BANDS_HZ:
        inside = np.flatnonzero((freqs >= lo) & (freqs < min(hi, sr / 2)))
        if len(inside) >= 4:
            out.append((int(inside[0]), int(inside[-1]) + 1))  # the bins of a band are contiguous
    return tuple(out)


def noise_floor_db(y: np.ndarray, sr: int, *, frame_ms: float = 64.0, hop_ms: float = 32.0, quietest: float = 10.0) -> tuple[float, float]:
    """Noise level of a clip (dBFS) that a steady tone does not fool: ``(floor_db, tonal_db)``.

    The quietest ``quietest`` % of 64 ms frames (digital silence left out) are taken; in each
    octave band the noise power is read from the 20 % quantile of the Hann-windowed power
    bins, divided by ``-ln(0.8)`` (for noise the bins are exponentially distributed, so this
    is unbiased), times the bins in the band.  Between the partials of a tone or a voice the
    bins hold only the noise, so a steady tone's frames give its true (low) noise, not its
    level; noise frames give their own level.  ``tonal_db`` (≤ 0) is how far the quiet frames'
    noise lies under their energy: ≈ 0 for noise, −20 dB and below for tones.

    The energy-percentile estimate used before (10th percentile of frame energies) called a
    steady tone's level its noise floor, so every steady tone had "SNR 0 dB".
    Returns ``(-120.0, nan)`` for a clip that is all digital silence.
    """
    y = np.asarray(y, dtype=np.float64)
    h = int(sr * hop_ms / 1000)
    n = h * max(1, int(round(frame_ms / hop_ms)))  # a whole number of hops
    if len(y) < n:
        y = np.pad(y, (0, n - len(y)))
    # the frames' AC energy (mean of squares minus squared mean) from per-hop block sums, a frame
    # being two hops: only the quiet frames are ever copied and transformed
    k = len(y) // h
    blocks = y[: k * h].reshape(k, h)
    s1, s2 = blocks.sum(axis=1), np.einsum("ij,ij->i", blocks, blocks)
    per = n // h
    s1 = sum(s1[j: k - per + 1 + j] for j in range(per))
    s2 = sum(s2[j: k - per + 1 + j] for j in range(per))
    starts = np.arange(k - per + 1) * h
    mean = s1 / n
    e = 10 * np.log10(np.maximum(s2 / n - mean**2, 0.0) + 1e-12)
    live = np.flatnonzero(e > DIGITAL_SILENCE_DB)
    if not len(live):
        return -120.0, float("nan")
    cut = np.partition(e[live], int(quietest / 100 * (len(live) - 1)))[int(quietest / 100 * (len(live) - 1))]
    quiet = live[e[live] <= cut]
    frames = np.lib.stride_tricks.sliding_window_view(y, n)[starts[quiet]]
    frames = frames - mean[quiet, None]
    power = _power(np.fft.rfft(frames * _hann(n), axis=1))
    noise = np.zeros(len(quiet))
    total = np.zeros(len(quiet))
    for first, stop in _band_bins(n, sr):
        bins = power[:, first:stop]
        kth = int(NOISE_BIN_QUANTILE * bins.shape[1])  # the order statistic at the quantile (np.partition: no sort)
        noise += np.partition(bins, kth, axis=1)[:, kth] / -np.log(1 - NOISE_BIN_QUANTILE) * bins.shape[1]
        total += bins.sum(axis=1)
    tonal = np.minimum(10 * np.log10((noise + 1e-30) / (total + 1e-30)), 0.0)
    return float(np.median(e[quiet] + tonal)), float(np.median(tonal))


def _loudest_ac_frame_db(y64: np.ndarray, sq: np.ndarray, dc: float, n: int, h: int) -> float:
    """The loudest 25 ms frame of ``y64 - dc`` (``sq``: ``y64`` squared) in dB, as :func:`frame_energies_db` of it would give.

    Each frame's energy without the offset is ``Σy² − 2·dc·Σy + n·dc²`` from block sums (no shifted copy of the
    clip); that finds the loudest frame, whose energy is then computed directly (so that a frame holding only the
    offset is exactly digital silence, not the rounding left by the subtraction)."""
    start = 0  # a clip shorter than a frame is one frame, zero-padded
    if len(y64) >= n:
        s2, s1 = _frame_sums(sq, n, h), _frame_sums(y64, n, h)
        start = int(np.argmax(s2 - 2 * dc * s1)) * h  # n·dc² is the same for every frame
    frame = y64[start: start + n] - dc
    return float(10 * np.log10(np.square(frame).sum() / n + 1e-12))


@functools.lru_cache(maxsize=8)
def _hann(n: int) -> np.ndarray:
    return np.hanning(n)


def onset_level_db(y: np.ndarray, sr: int) -> float:
    """Level (dBFS) of the first 45 ms: the median of the three 25 ms frames starting at 0, 10 and 20 ms.

    Only the band above 80 Hz, windowed, and a median (:func:`band_energies_db`), so that a click
    at sample 0, a DC offset or a settling low-frequency transient does not count as sound at the onset.
    """
    return float(np.median(band_energies_db(y[: int(0.045 * sr) + 1], sr)[:3]))


def removed_onset_db_above_floor(y: np.ndarray, sr: int, n_cut: int) -> float:
    """How far the loudest 25 ms of ``y[:n_cut]`` (what a step cut at the start) lies above ``y``'s noise floor, in dB.

    Digital silence or room tone removed gives ≲ 6 dB (negative for digital silence);
    a removed syllable gives 20 dB and more.
    """
    if n_cut <= 0:
        return float("-inf")
    loudest = float(np.max(band_energies_db(y[:n_cut], sr)))  # a cut under 25 ms is zero-padded to one frame
    return loudest - noise_floor_db(y, sr)[0]


#: the fewest 25 ms frames (10 ms apart: 0.115 s) a level range is measured on; a shorter clip has none (a 2-sample clip
#: is one frame, whose range is 0 dB by construction, and it was called 'steady noise, with no speech')
RANGE_MIN_FRAMES = 10


def signal_facts(y: np.ndarray, sr: int, *, silence_floor_db: float = -70.0) -> dict[str, float]:
    """SNR estimate, silence fraction, level and onset facts of mono audio.

    SNR: the 95th percentile of 25 ms frame energies against the noise floor of
    :func:`noise_floor_db` (spectral, so a steady tone has a high SNR, and
    digital silence is not "noise").  Silence: frames more than 40 dB under the
    loudest frame, or under ``silence_floor_db`` dBFS (so digital silence is all
    silence, not none).  Level: the peak, the mean (DC offset) and the loudest
    frame once the mean is removed.  Onset: level of the first 45 ms
    (:func:`onset_level_db`) against the loudest frame and the noise floor —
    speech already loud at sample 0 suggests the onset was cut before the file
    reached the workbench.  Level range: the 95th − 10th percentile of the frames,
    None on fewer than :data:`RANGE_MIN_FRAMES`.
    """
    y = np.asarray(y, dtype=np.float32)
    y64 = y.astype(np.float64)  # once, for every measure below (issue #28: they run beside the model)
    n, h = int(sr * 0.025), int(sr * 0.010)
    if n < 1 or h < 1:
        raise ValueError(f"25 ms frames every 10 ms are {n} and {h} samples at {sr} Hz: each must be 1 or more.")
    sq = np.square(y64)
    e = _energies_db(sq, n, h)
    loud = float(np.max(e))
    floor, tonal = noise_floor_db(y64, sr)
    p95, p10 = (float(v) for v in np.percentile(e, [95, 10]))  # one partition for both
    snr = p95 - floor
    silent = float(np.mean(e < max(loud - 40.0, silence_floor_db)))
    dc = float(np.sum(y64) / len(y)) if len(y) else 0.0
    ac_loud = _loudest_ac_frame_db(y64, sq, dc, n, h) if dc else loud
    first_db = onset_level_db(y, sr) if len(y) else -120.0
    speech = np.nonzero(e > loud - 30.0)[0]
    first_speech_s = float(speech[0] * 0.01) if len(speech) else float("nan")
    return {
        "snr_db": snr,
        "level_range_db": p95 - p10 if len(e) >= RANGE_MIN_FRAMES else None,  # one frame spans 0 dB by construction
        "noise_floor_db": floor,
        "quiet_frames_tonal_db": tonal,
        "silence_fraction": silent,
        "first_45ms_db_below_peak": loud - first_db,
        "first_45ms_db_above_floor": first_db - floor,
        "first_speech_s": first_speech_s,
        "loudest_frame_db": loud,
        "signal_peak": float(np.max(np.abs(y))) if len(y) else 0.0,
        "dc_offset": dc,
        "loudest_ac_frame_db": ac_loud,
    }
