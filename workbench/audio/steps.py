"""Preprocessing steps: small, serialisable, and honest about what they change.

Each step is a frozen dataclass with ``__call__(audio) -> Audio`` and
``to_dict()``; it appends one :class:`~workbench.audio.processing.StepRecord` with
its parameters, sample rate and duration in/out, the samples it cut or added
at each end, the time it took, and warnings.  A chain is a list of dicts
(``[{"name": "trim", "top_db": 30}, …]``), stored with every result and hashed
into the cache key.

Steps run on the decoded audio at its own sample rate; the run resamples to
16 kHz after the chain (with the intake's resampler) when the chain did not.

==============  ==========================================================
name            what it does
==============  ==========================================================
resample        to ``sr`` with ``method`` soxr (``quality``), scipy or librosa
trim            cut leading/trailing silence quieter than ``top_db`` under the peak
pad             add ``start``/``end`` seconds of silence
denoise         noisereduce, ``stationary`` or not, ``prop_decrease``
loudness        normalise integrated loudness to ``target_lufs`` (pyloudnorm)
highpass        Butterworth high-pass at ``cutoff_hz`` (zero phase)
gain            multiply by ``db`` decibels (clipped at ±1, and the log says so)
telephone       300–3400 Hz band and an 8 kHz round trip
add_noise       white noise at ``snr_db`` (seeded)
pitch_shift     F0 moved by ``semitones``, duration and formants kept (Praat PSOLA)
tempo           spoken ``factor`` times as fast, pitch kept (Praat PSOLA)
tilt            spectral tilt of ``db_per_octave`` around 1 kHz (zero-phase FIR)
==============  ==========================================================
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from workbench.audio.intake import Audio, resample_array, to_mono
from workbench.audio.measures import removed_onset_db_above_floor
from workbench.errors import AudioError, ConfigError, did_you_mean
from workbench.audio.edits import change_tempo, check_semitones, check_tempo, check_tilt, pitch_shift, spectral_tilt
from workbench.audio.processing import StepRecord, measure_length_change
from workbench.schema import SAMPLE_RATE
from workbench.serialize import plain_dict

STEPS: dict[str, type] = {}


def register(cls):
    STEPS[cls.name] = cls
    return cls


#: the longest silence ``pad`` may add at either end, seconds (a pad is for onsets and context, not for length)
MAX_PAD_S = 30.0


@dataclass(frozen=True)
class Step:
    name: ClassVar[str] = "step"
    #: ``{parameter: (lowest, highest, why)}``: values outside are refused when the step is made.  The bounds keep
    #: a step's time and memory in proportion to its input (a pad of hours or a trim frame of 10^9 samples would
    #: not), and each is far outside what the step is for.
    RANGES: ClassVar[dict] = {}
    #: ``{parameter: allowed values}`` for text parameters
    CHOICES: ClassVar[dict] = {}

    def __post_init__(self):
        for key, (low, high, why) in self.RANGES.items():
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (low <= value <= high):
                raise ConfigError(f"step {self.name!r}: {key} is {value!r}, outside {low:g}–{high:g} ({why}).",
                                  fix=f"write {key}: {getattr(type(self), key)!r} (the default) or a value in {low:g}–{high:g}.")
        for key, allowed in self.CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"step {self.name!r}: {key} is {getattr(self, key)!r}; it takes {list(allowed)}.",
                                  fix=f"write {key}: {getattr(type(self), key)!r} (the default).")

    def growth(self, duration_s: float) -> float:
        """The most this step can make ``duration_s`` seconds of audio last (a chain is refused before it runs
        when its output would pass the input-duration limit)."""
        return duration_s

    def to_dict(self) -> dict:
        return {"name": self.name, **plain_dict(self)}

    def process(self, y: np.ndarray, sr: int) -> tuple[np.ndarray, int, dict]:
        """Return ``(samples, sr, info)``; ``info`` may hold cut_start/added_start (samples) and warnings."""
        raise NotImplementedError

    def __call__(self, audio: Audio) -> Audio:
        if audio.samples.ndim != 1:
            audio = to_mono(audio)
        t0 = time.perf_counter()
        y, sr, info = self.process(audio.samples, audio.sr)
        elapsed = (time.perf_counter() - t0) * 1000
        cut_s, cut_e, add_s, add_e, warnings = measure_length_change(
            self.name, n_in=len(audio.samples), sr_in=audio.sr, n_out=len(y), sr_out=sr,
            cut_start=info.get("cut_start", 0), added_start=info.get("added_start", 0),
        )
        if info.get("cut_end") is not None:  # the step knows exactly what it cut at the end
            cut_e = info["cut_end"] / audio.sr
        if info.get("added_end") is not None:
            add_e = info["added_end"] / audio.sr
        if info.get("time_scaled"):  # the length changed because time was stretched: nothing was cut or added
            cut_s = cut_e = add_s = add_e = 0.0
            warnings = []
        record = StepRecord(
            name=self.name, params=plain_dict(self), sr_in=audio.sr, sr_out=sr,
            duration_in=audio.duration, duration_out=len(y) / sr,
            cut_start=cut_s, cut_end=cut_e, added_start=add_s, added_end=add_e,
            elapsed_ms=elapsed, warnings=warnings + info.get("warnings", []),
            # what the cut removed, measured now while it exists: the onset_cut finding needs it
            cut_start_db_above_floor=(removed_onset_db_above_floor(audio.samples, audio.sr, int(info["cut_start"]))
                                      if info.get("cut_start", 0) > 0 else None),
        )
        return audio.with_samples(np.asarray(y, dtype=np.float32), sr, record)


@register
@dataclass(frozen=True)
class Resample(Step):
    name: ClassVar[str] = "resample"
    sr: int = SAMPLE_RATE
    method: str = "soxr"
    quality: str = "VHQ"
    RANGES: ClassVar[dict] = {"sr": (2000, 384000, "sample rates audio is recorded at")}
    CHOICES: ClassVar[dict] = {"method": ("soxr", "scipy", "librosa"), "quality": ("VHQ", "HQ", "MQ", "LQ", "QQ")}

    def process(self, y, sr):
        return resample_array(y, sr, self.sr, method=self.method, quality=self.quality), self.sr, {}


@register
@dataclass(frozen=True)
class Trim(Step):
    """Cut leading and trailing parts quieter than ``top_db`` under the peak (librosa's rule)."""

    name: ClassVar[str] = "trim"
    top_db: float = 30.0
    frame_length: int = 2048
    hop_length: int = 512
    RANGES: ClassVar[dict] = {"top_db": (1.0, 200.0, "dB under the peak"),
                              "frame_length": (16, 65536, "samples per analysis frame, 4 s at 16 kHz"),
                              "hop_length": (1, 65536, "samples between frames")}

    def __post_init__(self):
        super().__post_init__()
        if self.hop_length > self.frame_length:
            raise ConfigError(f"step 'trim': hop_length {self.hop_length} is longer than frame_length {self.frame_length}; "
                              "samples between frames would be skipped.", fix="use hop_length ≤ frame_length (default 512 and 2048).")

    def process(self, y, sr):
        import librosa

        _, (a, b) = librosa.effects.trim(y, top_db=self.top_db, frame_length=self.frame_length, hop_length=self.hop_length)
        if b <= a:  # all below the threshold: librosa's defined result is empty; keep that and say so
            return y[:0], sr, {"cut_start": 0, "cut_end": len(y), "warnings": ["trim removed everything: the clip is silent at this top_db"]}
        return y[a:b], sr, {"cut_start": int(a), "cut_end": int(len(y) - b)}


@register
@dataclass(frozen=True)
class Pad(Step):
    name: ClassVar[str] = "pad"
    start: float = 0.0
    end: float = 0.0
    RANGES: ClassVar[dict] = {"start": (0.0, MAX_PAD_S, "seconds of silence"), "end": (0.0, MAX_PAD_S, "seconds of silence")}

    def growth(self, duration_s):
        return duration_s + self.start + self.end

    def process(self, y, sr):
        a, b = int(round(self.start * sr)), int(round(self.end * sr))
        return np.concatenate([np.zeros(a, np.float32), y, np.zeros(b, np.float32)]), sr, {"added_start": a, "added_end": b}


@register
@dataclass(frozen=True)
class Denoise(Step):
    name: ClassVar[str] = "denoise"
    stationary: bool = True
    prop_decrease: float = 1.0
    RANGES: ClassVar[dict] = {"prop_decrease": (0.0, 1.0, "the fraction of the noise removed")}

    def process(self, y, sr):
        import noisereduce as nr

        out = nr.reduce_noise(y=y, sr=sr, stationary=self.stationary, prop_decrease=self.prop_decrease)
        return np.asarray(out, dtype=np.float32)[: len(y)], sr, {}


@register
@dataclass(frozen=True)
class Loudness(Step):
    name: ClassVar[str] = "loudness"
    target_lufs: float = -23.0
    RANGES: ClassVar[dict] = {"target_lufs": (-70.0, 0.0, "LUFS, from near silence to full scale")}

    def process(self, y, sr):
        import pyloudnorm as pyln

        meter = pyln.Meter(sr)
        if len(y) < int(0.4 * sr):  # the meter's gating block is 400 ms
            return y, sr, {"warnings": ["loudness not changed: clip shorter than the 400 ms measuring block"]}
        lufs = meter.integrated_loudness(y.astype(np.float64))
        if not np.isfinite(lufs):
            return y, sr, {"warnings": ["loudness not changed: the clip is silent"]}
        gain = 10 ** ((self.target_lufs - lufs) / 20)
        out = y * gain
        warnings = [f"measured {lufs:.1f} LUFS, gain {20 * np.log10(gain):+.1f} dB"]
        if np.abs(out).max() > 1:
            warnings.append(f"{int(np.sum(np.abs(out) > 1))} samples clipped at ±1 after normalising")
            out = np.clip(out, -1, 1)
        return out.astype(np.float32), sr, {"warnings": warnings}


@register
@dataclass(frozen=True)
class HighPass(Step):
    name: ClassVar[str] = "highpass"
    cutoff_hz: float = 80.0
    order: int = 4
    RANGES: ClassVar[dict] = {"cutoff_hz": (1.0, 20000.0, "Hz; it must also lie below half the clip's rate"),
                              "order": (1, 16, "Butterworth order; higher ones are numerically unstable")}

    def process(self, y, sr):
        from scipy.signal import butter, sosfiltfilt

        if self.cutoff_hz >= sr / 2:
            raise AudioError(f"step 'highpass': cutoff_hz {self.cutoff_hz:g} is not under half the clip's rate ({sr / 2:g} Hz).",
                             fix="use a lower cutoff_hz (default 80), or resample the clip first.")
        sos = butter(self.order, self.cutoff_hz, btype="highpass", fs=sr, output="sos")
        if len(y) <= 3 * (2 * len(sos) + 1):
            return y, sr, {"warnings": ["high-pass not applied: clip too short for the filter"]}
        return sosfiltfilt(sos, y).astype(np.float32), sr, {}


@register
@dataclass(frozen=True)
class Gain(Step):
    name: ClassVar[str] = "gain"
    db: float = 0.0
    RANGES: ClassVar[dict] = {"db": (-120.0, 60.0, "dB")}

    def process(self, y, sr):
        out = y * 10 ** (self.db / 20)
        warnings = []
        over = int(np.sum(np.abs(out) > 1))
        if over:
            warnings.append(f"{over} samples clipped at ±1")
            out = np.clip(out, -1, 1)
        return out.astype(np.float32), sr, {"warnings": warnings}


@register
@dataclass(frozen=True)
class Telephone(Step):
    """Band-limit to 300–3400 Hz and go through 8 kHz and back, as a phone line does."""

    name: ClassVar[str] = "telephone"
    low_hz: float = 300.0
    high_hz: float = 3400.0
    line_sr: int = 8000
    RANGES: ClassVar[dict] = {"low_hz": (1.0, 24000.0, "Hz"), "high_hz": (1.0, 24000.0, "Hz"),
                              "line_sr": (2000, 48000, "the line's sample rate")}

    def __post_init__(self):
        super().__post_init__()
        if not self.low_hz < self.high_hz < self.line_sr / 2:
            raise ConfigError(f"step 'telephone': the band {self.low_hz:g}–{self.high_hz:g} Hz must rise and lie under half "
                              f"line_sr ({self.line_sr / 2:g} Hz).", fix="use the defaults 300, 3400 and 8000.")

    def process(self, y, sr):
        from scipy.signal import butter, sosfiltfilt

        narrow = resample_array(y, sr, self.line_sr, method="soxr")
        sos = butter(6, [self.low_hz, self.high_hz], btype="bandpass", fs=self.line_sr, output="sos")
        narrow = sosfiltfilt(sos, narrow).astype(np.float32) if len(narrow) > 40 else narrow
        back = resample_array(narrow, self.line_sr, sr, method="soxr")
        return back[: len(y)] if len(back) >= len(y) else np.pad(back, (0, len(y) - len(back))), sr, {}


@register
@dataclass(frozen=True)
class AddNoise(Step):
    name: ClassVar[str] = "add_noise"
    snr_db: float = 20.0
    seed: int = 0
    RANGES: ClassVar[dict] = {"snr_db": (-40.0, 120.0, "dB signal to noise"), "seed": (0, 2**32 - 1, "numpy's seed range")}

    def process(self, y, sr):
        rng = np.random.default_rng(self.seed)
        p = float(np.mean(y.astype(np.float64) ** 2))
        if p == 0:
            return y, sr, {"warnings": ["no noise added: the clip is silent, SNR undefined"]}
        noise = rng.standard_normal(len(y)) * np.sqrt(p / 10 ** (self.snr_db / 10))
        return (y + noise).astype(np.float32), sr, {}


@register
@dataclass(frozen=True)
class PitchShift(Step):
    """Move F0 by ``semitones`` with Praat's PSOLA; duration and formants stay (:func:`workbench.audio.edits.pitch_shift`)."""

    name: ClassVar[str] = "pitch_shift"
    semitones: float = 0.0

    def __post_init__(self):
        check_semitones(self.semitones)

    def process(self, y, sr):
        return pitch_shift(y, sr, semitones=self.semitones), sr, {}


@register
@dataclass(frozen=True)
class Tempo(Step):
    """Speak ``factor`` times as fast with Praat's PSOLA; pitch stays (:func:`workbench.audio.edits.change_tempo`)."""

    name: ClassVar[str] = "tempo"
    factor: float = 1.0

    def __post_init__(self):
        check_tempo(self.factor)

    def growth(self, duration_s):
        return duration_s / self.factor

    def process(self, y, sr):
        out = change_tempo(y, sr, factor=self.factor)
        return out, sr, {"time_scaled": True, "warnings": [f"time-scaled by 1/{self.factor:g}: {len(y) / sr:.2f} s → {len(out) / sr:.2f} s (nothing cut)"]}


@register
@dataclass(frozen=True)
class Tilt(Step):
    """Tilt the spectrum by ``db_per_octave`` around 1 kHz (:func:`workbench.audio.edits.spectral_tilt`)."""

    name: ClassVar[str] = "tilt"
    db_per_octave: float = 0.0

    def __post_init__(self):
        check_tilt(self.db_per_octave)

    def process(self, y, sr):
        return spectral_tilt(y, sr, db_per_octave=self.db_per_octave), sr, {}


def make_step(spec: dict | Step, *, source: str | None = None) -> Step:
    """A step from its dict (``{"name": "trim", "top_db": 30}``), checked: an unknown name or key is refused
    with the valid ones, a value of the wrong type with the type; numbers are made the field's type, so
    ``top_db: 30`` and the default ``30.0`` are the same step (and the same chain hash).

    ``source`` names where the step was written (a variants file and variant) in the error.
    """
    if isinstance(spec, Step):
        return spec
    if not isinstance(spec, dict) or "name" not in spec:
        raise ConfigError(f"step {spec!r} must be a mapping with a 'name'.", source=source,
                          fix=f"write steps as {{name: trim, top_db: 30}}; steps: {', '.join(STEPS)}.")
    name = spec["name"]
    cls = STEPS.get(name)
    if cls is None:
        guess = did_you_mean(name, STEPS).strip()
        raise ConfigError(f"unknown preprocessing step {name!r}" + (f"; {guess}" if guess else "."), source=source,
                          fix=f"use one of: {', '.join(STEPS)}.")
    kwargs = {k: v for k, v in spec.items() if k != "name"}
    allowed = {f.name: f for f in fields(cls)}
    unknown = sorted(set(kwargs) - set(allowed))
    if unknown:
        raise ConfigError(f"step {name!r} has no parameter {', '.join(map(str, unknown))}.", source=source,
                          fix=f"its parameters are: {', '.join(sorted(allowed)) or 'none'}.")
    try:
        return cls(**{k: _typed(name, allowed[k], v, source) for k, v in kwargs.items()})
    except ConfigError as exc:  # a value out of range: say where it was written
        if exc.source or not source:
            raise
        raise ConfigError(exc.message, source=source, fix=exc.fix) from None


def _typed(step: str, f: Any, value: Any, source: str | None) -> Any:
    """``value`` as the type of field ``f`` (annotations are strings here: 'float', 'int', 'bool', 'str')."""
    kind = str(f.type)
    out: Any = None
    if kind == "float" and not isinstance(value, bool):
        try:  # an int, or a string YAML 1.1 did not read as a number (``1e3``)
            out = float(value) if isinstance(value, (int, float, str)) else None
        except ValueError:
            out = None
        out = out if out is not None and np.isfinite(out) else None
    elif kind == "int" and not isinstance(value, bool):
        out = int(value) if isinstance(value, int) or (isinstance(value, float) and value.is_integer()) else None
    elif kind == "bool":
        out = value if isinstance(value, bool) else None
    elif kind == "str":
        out = value if isinstance(value, str) else None
    else:
        out = value
    if out is None:
        raise ConfigError(f"step {step!r}: {f.name} must be {'a finite number' if kind == 'float' else 'a whole number' if kind == 'int' else 'true or false' if kind == 'bool' else 'text'}, "
                          f"given {value!r}.", source=source, fix=f"write {f.name}: {f.default!r} (the default) or another {kind}.")
    return out


def chain_output_bound(chain: list[dict | Step], duration_s: float) -> float:
    """The longest audio, in seconds, ``chain`` can make of ``duration_s`` seconds (pads add, tempo divides)."""
    for spec in chain:
        duration_s = make_step(spec).growth(duration_s)
    return duration_s


def check_chain_length(chain: list[dict | Step], duration_s: float, max_duration_s: float, *, source: str | None = None) -> None:
    """Refuse, before any step runs, a chain whose output could pass ``max_duration_s`` (the intake's limit on
    input length: the model's memory grows with the square of the length)."""
    bound = chain_output_bound(chain, duration_s)
    if bound > max_duration_s:
        raise ConfigError(f"the chain can make this {duration_s:.1f} s clip {bound:.1f} s long, over the {max_duration_s:g} s "
                          "input limit (pads add, tempo < 1 stretches).", source=source,
                          fix="use shorter pads or a faster tempo, or raise audio.max_duration_s if the memory allows.")


def apply_chain(audio: Audio, chain: list[dict | Step]) -> Audio:
    """Apply steps in order; every step leaves its record in ``audio.log``."""
    for spec in chain:
        audio = make_step(spec)(audio)
    return audio


def chain_to_dicts(chain: list[Any]) -> list[dict]:
    return [make_step(s).to_dict() for s in chain]
