"""Preprocessing variants and the audio a row was scored on.

A :class:`Variant` is a named preprocessing chain stored as data.  :func:`scored_audio`
is the one definition of "the audio the model saw" for an item of a manifest and a
variant: decoded at the source rate, mixed down, cut to the item's segment, passed
through the variant's chain, resampled to the model's rate.  The engine scores exactly
this, and every view (widgets, reports) replays exactly this, so a player or a
waveform never shows other audio than the row's scores were made from.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.audio.intake import Audio, AudioConfig, resample
from workbench.errors import AudioError, ConfigError, WorkbenchError
from workbench.serialize import load_yaml_file, shown
from workbench.audio.steps import apply_chain, check_chain_length, make_step
from workbench.audio.processing import StepRecord
from workbench.schema import MIN_MODEL_SAMPLES



@dataclass(frozen=True)
class Variant:
    """A named preprocessing chain.

    The steps are checked and typed when the variant is made (a misspelt key fails here, before any model
    loads, not on every row).  The chain and its hash are canonical: every parameter with its value,
    defaults filled, so ``{name: trim}`` and ``{name: trim, top_db: 30}`` are the same chain.

    Parameters
    ----------
    name : str
        The variant's name in the results table.
    steps : sequence
        :class:`~workbench.audio.steps.Step` objects, or their dicts (``{"name": "trim", "top_db": 30}``).

    Examples
    --------
    >>> trim = wb.Variant("trim30", [{"name": "trim", "top_db": 30}])
    >>> trim.chain()
    [{'name': 'trim', 'top_db': 30.0, 'frame_length': 2048, 'hop_length': 512}]
    >>> wb.Variant("trim", [{"name": "trim"}]).chain_hash() == trim.chain_hash()  # defaults filled
    True
    >>> wb.Variant.from_dict(trim.to_dict()) == trim
    True
    >>> wb.Variant("typo", [{"name": "trim", "top_bd": 30}])
    Traceback (most recent call last):
    ...
    workbench.errors.ConfigError: ...
    """

    name: str
    steps: tuple = ()

    def __post_init__(self) -> None:
        source = f"variant {self.name!r}"
        object.__setattr__(self, "steps", tuple(make_step(s, source=source) for s in (self.steps or ())))

    def chain(self) -> list[dict]:
        return [s.to_dict() for s in self.steps]

    def chain_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.chain(), sort_keys=True).encode()).hexdigest()[:16]

    def apply(self, audio: Audio) -> Audio:
        return apply_chain(audio, list(self.steps)) if self.steps else audio

    def to_dict(self) -> dict:
        return {"name": self.name, "steps": self.chain(), "chain_hash": self.chain_hash()}

    @classmethod
    def from_dict(cls, data: dict, *, source: str | None = None) -> "Variant":
        """A variant from ``{name, steps[, chain_hash]}`` (what :meth:`to_dict` and older run folders wrote)."""
        if not isinstance(data, dict) or "name" not in data:
            raise ConfigError(f"variant entry {data!r} has no name.", source=source, fix="give each variant a name and a list of steps.")
        steps = data.get("steps") or []
        if not isinstance(steps, (list, tuple)):
            raise ConfigError(f"variant {data['name']!r}: steps must be a list, given {steps!r}.", source=source,
                              fix="write `name: [{name: trim, top_db: 30}]`, or `name: []` for no steps.")
        where = f"{source}: variant {data['name']!r}" if source else f"variant {data['name']!r}"
        return cls(str(data["name"]), tuple(make_step(s, source=where) for s in steps))


RAW = Variant("raw")
#: the keys of one variant's entry (``chain_hash``: what :meth:`Variant.to_dict` and run folders write)
VARIANT_KEYS = ("name", "steps", "chain_hash")
#: the form README.md documents for a variants file (one line: the block form there reads the same)
VARIANTS_FORM = ("list the variants, each a name and its steps (README.md, \"Preprocessing variants\"): "
                 "`variants: [{name: raw}, {name: trimmed, steps: [{name: trim, top_db: 30}]}]`, or one per line as "
                 "`  - name: raw`.")


def variants_from(entries: Any, *, source: str = "variants") -> list[Variant]:
    """Variants from parsed YAML/JSON: ``{name: [steps…]}``, ``{variants: …}`` or ``[{name, steps}]``."""
    if isinstance(entries, dict) and "variants" in entries:
        others = sorted(str(k) for k in entries if k != "variants")
        if others:  # `seed: 3` beside `variants:` was ignored without a word
            raise ConfigError(f"has key(s) {others} beside `variants:`; a variants file holds only `variants:`.", source=source,
                              fix="remove them (an experiment's other settings go in an experiment file: `workbench run --help`).")
        entries = entries["variants"]
    if isinstance(entries, dict):
        entries = [{"name": k, "steps": v or []} for k, v in entries.items()]
    if not isinstance(entries, list) or not entries:
        found = ("the file is empty" if entries is None else "an empty list" if isinstance(entries, list)
                 else f"a {type(entries).__name__}, not a list of variants")
        raise ConfigError(f"no variants found ({found}).", source=source, fix=VARIANTS_FORM)
    out = []
    for e in entries:
        if not isinstance(e, dict) or "name" not in e:
            raise ConfigError(f"variant entry {e!r} has no name.", source=source, fix="give each variant a name and a list of steps.")
        unknown = sorted(str(k) for k in e if k not in VARIANT_KEYS)
        if unknown:  # `step:` for `steps:` left the variant without steps: raw audio under the variant's name
            raise ConfigError(f"variant {shown(e['name'])} has unknown key(s) {unknown}; a variant has {list(VARIANT_KEYS)}.",
                              source=source, fix="rename or remove them (a misspelt `steps` would run the variant on the raw audio).")
        out.append(Variant.from_dict(e, source=source))
    names = [v.name for v in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"variant names repeat: {names}.", source=source, fix="give each variant its own name.")
    return out


def load_variants(path: str | os.PathLike | None) -> list[Variant]:
    """Read a variants YAML file: ``{variants: {name: [steps…]}}`` or ``[{name, steps}]``."""
    if path is None:
        return [RAW]
    data = load_yaml_file(path, unique_keys=True)  # no aliases, bounded depth and size
    return variants_from(data, source=str(Path(os.path.abspath(path))))


def segment(audio: Audio, start: float | None, duration: float | None, *, source: str) -> Audio:
    """Cut ``start``/``duration`` (seconds) out of decoded audio, and log it.

    A segment that reaches past the end of the file is refused rather than silently
    shortened: the manifest promised audio that is not there.
    """
    if start is None and duration is None:
        return audio
    a = int(round((start or 0.0) * audio.sr))
    if a >= len(audio.samples):
        raise WorkbenchError(
            f"segment starts at {start:.2f} s but the file is {audio.duration:.2f} s long.",
            source=source, fix="check start/duration in the manifest.",
        )
    b = len(audio.samples) if duration is None else a + int(round(duration * audio.sr))
    if b > len(audio.samples) + int(0.01 * audio.sr):  # 10 ms of rounding slack
        raise WorkbenchError(
            f"segment {start or 0.0:.2f}+{duration:.2f} s ends at {(start or 0.0) + duration:.2f} s but the file is "
            f"{audio.duration:.2f} s long.",
            source=source, fix="check start/duration in the manifest (duration is in seconds).",
        )
    b = min(b, len(audio.samples))
    rec = StepRecord(name="segment", params={"start": start, "duration": duration}, sr_in=audio.sr, sr_out=audio.sr,
                     duration_in=audio.duration, duration_out=(b - a) / audio.sr)
    return audio.with_samples(audio.samples[a:b], record=rec)


def scored_audio(decoded: Audio, variant: Variant, audio_config: AudioConfig, *, start: float | None = None,
                 duration: float | None = None, source: str | None = None, model_rate: bool = True) -> Audio:
    """The audio the model scores for one item and variant.

    ``decoded`` is the mono file at its source rate.  The item's segment is cut,
    the variant's chain runs at the source rate, then the intake's resampler takes
    it to the model's rate.  Raises :class:`AudioError` when the result is too
    short for one model frame.  ``model_rate=False`` stops before that resampling: the
    same audio at the rate the chain left it (what voice measures are taken on).
    """
    name = source or decoded.id
    out = segment(decoded, start, duration, source=name)
    check_chain_length(list(variant.steps), out.duration, audio_config.max_duration_s, source=f"{name}: variant {variant.name!r}")
    out = variant.apply(out)
    if not model_rate:
        return out
    if out.sr != audio_config.target_sr:
        out = resample(out, audio_config.target_sr, method=audio_config.resampler, quality=audio_config.soxr_quality)
    if len(out.samples) < MIN_MODEL_SAMPLES:
        where = "the file" if not variant.steps and start is None and duration is None else (
            "its segment" if not variant.steps else f"variant '{variant.name}'")
        fix = ("check the variant's steps (a trim may have removed almost everything)." if variant.steps
               else "check start/duration in the manifest." if (start is not None or duration is not None)
               else "drop the clip or record a longer one; clips under 1 s are unreliable anyway.")
        # what decoding found (a WAV whose header declares far more audio than the file holds) is the reason, not the length
        cut = next((w for w in decoded.log.warnings if "truncated" in w), None)
        long = f"{out.duration * 1000:.0f} ms" if out.duration >= 0.001 else f"{len(out.samples)} sample(s) ({out.duration * 1000:.2f} ms)"
        raise AudioError(f"{where} is {long} long; the model needs at least 25 ms (one frame)."
                         + (f" The file is cut short: {cut}." if cut else ""), source=name,
                         fix="re-copy or re-download the file whole." if cut else fix)
    return out
