"""``AudioConfig``: the settings of audio intake, checked when they are read from a file."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

from workbench.errors import ConfigError
from workbench.schema import SAMPLE_RATE
from workbench.serialize import plain_dict

#: the most channels intake accepts (arrays and files alike)
MAX_CHANNELS = 64
#: the longest ``max_duration_s`` a setting may give (a day): one forward pass over longer audio is out of reach, and
#: a value such as 1e308 made every file fail with "cannot convert float infinity to integer"
MAX_DURATION_LIMIT_S = 24 * 3600


@dataclass(frozen=True)
class AudioConfig:
    """Settings of audio intake.

    Parameters
    ----------
    target_sr : int
        Sample rate handed to the model (emotion2vec expects 16 kHz: ``schema.SAMPLE_RATE``).
    resampler : str
        ``"soxr"`` (default), ``"scipy"`` (polyphase) or ``"librosa"``.
    soxr_quality : str
        soxr quality preset: ``"VHQ"``, ``"HQ"``, ``"MQ"``, ``"LQ"``, ``"QQ"``.
    mixdown : str
        ``"mean"`` averages the channels; ``"first"`` keeps channel 0.
    max_duration_s : float
        Longer inputs are refused: one forward pass over them needs memory
        quadratic in length.  Split them with ``workbench segment``.  Decoding
        stops here whatever the file's header declares, so this also bounds
        the memory one file can take (``max_duration_s`` × rate × channels ×
        4 bytes while decoding, mono after :func:`load`).
    decode_timeout_s : float
        Decoding that has not finished after this many seconds is abandoned
        (checked between blocks of decoded audio).
    min_sample_rate_hz, max_sample_rate_hz : int
        Rates outside this range are refused as a wrong header (a 1 Hz WAV)
        rather than resampled by a factor of thousands.

    Examples
    --------
    >>> cfg = wb.AudioConfig(max_duration_s=60)
    >>> (cfg.target_sr, cfg.resampler, cfg.max_duration_s)
    (16000, 'soxr', 60)
    >>> wb.AudioConfig.from_dict({"max_duration_s": "1e3"}).max_duration_s  # as an experiment file writes it
    1000.0
    >>> wb.AudioConfig.from_dict({"max_duration": 5})
    Traceback (most recent call last):
    ...
    workbench.errors.ConfigError: audio: unknown setting(s) ['max_duration']; it takes [...]. Fix: remove or rename them.
    """

    target_sr: int = SAMPLE_RATE
    resampler: str = "soxr"
    soxr_quality: str = "VHQ"
    mixdown: str = "mean"
    max_duration_s: float = 120.0
    decode_timeout_s: float = 60.0
    min_sample_rate_hz: int = 2000
    max_sample_rate_hz: int = 768000

    def to_dict(self) -> dict:
        return plain_dict(self)

    #: the values a text setting may take
    CHOICES = {"resampler": ("soxr", "scipy", "librosa"), "soxr_quality": ("VHQ", "HQ", "MQ", "LQ", "QQ"),
               "mixdown": ("mean", "first")}

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "audio") -> "AudioConfig":
        """Settings written in a file (an experiment's ``audio:``), checked: unknown keys, wrong types and values
        out of range are refused with what is expected.  A number YAML 1.1 reads as text (``1e3``) is taken
        as the number.  ``target_sr`` must be the model's rate: a run feeds the model."""
        if not isinstance(data, dict):
            raise ConfigError(f"must be a mapping of settings, given {data!r}.", source=source,
                              fix=f"write e.g. `audio: {{max_duration_s: 60}}`; settings: {[f.name for f in fields(cls)]}.")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"unknown setting(s) {unknown}; it takes {sorted(known)}.", source=source,
                              fix="remove or rename them.")
        out = {k: _setting(k, str(known[k].type), v, cls.CHOICES.get(k), source) for k, v in data.items()}
        cfg = cls(**out)
        if cfg.target_sr != SAMPLE_RATE:
            raise ConfigError(f"target_sr must be {SAMPLE_RATE} (the rate the model hears), given {cfg.target_sr}.",
                              source=source, fix=f"leave target_sr out (it is {SAMPLE_RATE}).")
        if not cfg.min_sample_rate_hz <= cfg.max_sample_rate_hz:
            raise ConfigError(f"min_sample_rate_hz {cfg.min_sample_rate_hz} is above max_sample_rate_hz {cfg.max_sample_rate_hz}.",
                              source=source, fix="swap them, or leave them at their defaults (2000 and 768000).")
        return cfg


def _setting(key: str, kind: str, value: Any, choices: tuple | None, source: str) -> Any:
    """One audio setting as its declared type: numbers positive (a timeout may be 0), text one of ``choices``."""
    if kind in ("int", "float") and not isinstance(value, bool):
        try:
            number = float(value) if isinstance(value, (int, float, str)) else float("nan")
        except ValueError:
            number = float("nan")
        low_ok = number >= 0 if key == "decode_timeout_s" else number > 0
        high_ok = key != "max_duration_s" or number <= MAX_DURATION_LIMIT_S
        if math.isfinite(number) and low_ok and high_ok and (kind == "float" or number.is_integer()):
            return int(number) if kind == "int" else number
        what = "a whole number above 0" if kind == "int" else ("a number >= 0" if key == "decode_timeout_s" else "a number above 0")
        if key == "max_duration_s":
            what = f"a number above 0 and at most {MAX_DURATION_LIMIT_S} (a day; `workbench segment` reads longer audio in pieces)"
        raise ConfigError(f"{key} must be {what}, given {value!r}.", source=source, fix=f"write {key}: {getattr(AudioConfig, key)!r} (the default) or another value.")
    if kind == "str" and isinstance(value, str) and (choices is None or value in choices):
        return value
    raise ConfigError(f"{key} must be one of {list(choices or [])}, given {value!r}.", source=source,
                      fix=f"write {key}: {getattr(AudioConfig, key)!r} (the default).")

