"""Diagnostics: turn facts about a clip and its prediction into findings.

A finding is ``{code, severity, message, evidence, suggestion}``.  Facts come
from the audio (source rate, duration, what conversion cut, clipping, SNR,
silence), from the prediction (confidence, margin, entropy, which label wins
the frames) and from a stability test that re-runs the clip under small
perturbations.  Every threshold lives in :class:`DiagnosticsConfig`.

The seeds' user saw "happy, neutral, happy, other, happy" for one recording;
:func:`stability` is the tool that says which perturbation flips it.

False alarms of the audio findings on clean studio speech, measured by
``PYTHONPATH=. python benchmarks/findings_false_alarms.py`` (2026-11-30; "before" is the same
script on the rules of main at 7b44ec6).  Clips: the demo set's 48 generated utterances and 5
clean shipped clips, and 20 synthetic utterances with a lead-in of digital silence or room tone;
each raw and after ``trim`` (top_db=30).  No other audio finding fired on any of them.

==========================  ======  ==============  ===================  ===============
clips, condition            n       onset_cut       speech_at_sample_0   low_snr
==========================  ======  ==============  ===================  ===============
demo generated, raw         48      0 (before 0)    0 (before 0)         0 (before 0)
demo generated, trimmed     48      0 (before 48)   0 (before 0)         0 (before 0)
demo shipped, raw           5       0 (before 0)    0 (before 0)         0 (before 0)
demo shipped, trimmed       5       0 (before 5)    0 (before 0)         0 (before 0)
synthetic lead-in, raw      20      0 (before 0)    0 (before 0)         0 (before 0)
synthetic lead-in, trimmed  20      0 (before 20)   0 (before 0)         0 (before 0)
==========================  ======  ==============  ===================  ===============

The demo set's faulty clips still fire: ``happy_zh_onset0`` → speech_at_sample_0,
``happy_zh_noisy5db`` → low_snr; ``tone_440hz`` fired low_snr before, then nothing, and now steady_signal (its 25 ms
levels span 0.0 dB; no clean clip above fires it: the same script, 2026-12-07).
Before, speech_at_sample_0 also fired on a noise lead-in with a click at sample 0 or a settling
DC offset (``tests/test_findings_right.py``); the RAVDESS clips themselves are not on this machine.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, Sequence

import numpy as np

from workbench.audio.intake import Audio, resample_array
from workbench.audio.edits import change_tempo, pitch_shift
from workbench.audio.measures import signal_facts
from workbench.errors import ConfigError
from workbench.schema import SAMPLE_RATE
from workbench.serialize import plain_dict

SEVERITIES = ("info", "warning", "error")
#: the findings that say a clip holds no sound (its embedding and scores say nothing about speech)
NO_SOUND = ("digital_silence", "dc_only", "no_signal")



#: what the estimated SNR measures, said beside it: not a mixing SNR.  The demo's happy_zh_noisy5db, mixed at 5.0 dB
#: (speech samples' mean power over the noise's; 2.3 dB over the whole clip, as the add_noise step counts), reads 9.8 dB
SNR_DEFINITION = "its loudest 5 % of 25 ms frames over the spectral noise floor, which reads higher than a mixing SNR"


@dataclass(frozen=True)
class DiagnosticsConfig:
    """Thresholds of every rule (units in the names).

    ``high_entropy_bits`` is for the nine emotion2vec+ classes (at most log2 9 = 3.17 bits); a fine-tuned head over K
    classes is held to the same share of its own maximum, log2 K.

    ``no_signal_db``: a clip whose loudest 25 ms frame, once its mean (DC) is
    removed, stays under this level (dBFS) holds no audible sound; with a mean
    of at least ``dc_offset`` it is a DC offset only.  Either one, and digital
    silence (every sample exactly 0), is an ``error`` finding: the model still
    returns scores for such input, and they mean nothing.

    ``onset_cut_speech_db``: ``onset_cut`` fires only when the removed start
    held a 25 ms frame this far above the clip's noise floor (speech, not room
    tone or digital silence).  ``speech_at_0_*``: the first 45 ms must be within
    ``below_peak`` dB of the loudest frame and ``above_floor`` dB over the noise
    floor, and the clip must have the level range of speech (95th − 10th
    percentile of 25 ms frames ≥ ``min_range``): a steady tone is loud at
    sample 0 too, and that says nothing about a cut onset.  Measured false
    alarms: the module docstring.

    ``steady_range_db``: a clip whose 25 ms levels span less than this (95th − 10th
    percentile) is a steady tone or noise, not speech (``steady_signal``): speech's
    syllables and pauses move its level by 15 dB and more, the fact ``speech_at_0``
    reads too.
    """

    min_duration_s: float = 1.0
    max_duration_s: float = 30.0
    min_sample_rate_hz: int = SAMPLE_RATE
    max_resample_ratio: float = 3.0
    max_file_mb: float = 10.0
    onset_cut_ms: float = 20.0
    clipped_fraction: float = 0.001
    low_snr_db: float = 15.0
    silence_fraction: float = 0.6
    low_confidence: float = 0.6
    small_margin: float = 0.1
    high_entropy_bits: float = 2.0
    unknown_frame_fraction: float = 0.4
    unstable_flip_rate: float = 0.2
    no_signal_db: float = -70.0
    dc_offset: float = 0.001
    onset_cut_speech_db: float = 15.0
    speech_at_0_below_peak_db: float = 25.0
    speech_at_0_above_floor_db: float = 15.0
    speech_at_0_min_range_db: float = 15.0
    steady_range_db: float = 6.0

    def to_dict(self) -> dict:
        return plain_dict(self)

    @classmethod
    def from_dict(cls, data: Any, *, source: str = "diagnostics") -> "DiagnosticsConfig":
        """Thresholds written in a file (an experiment's ``diagnostics:``), checked before any model loads: unknown
        keys, text, NaN and ±inf are refused (a NaN threshold silently turned its rule off; text crashed the run
        after the model had loaded), as are negative values other than levels in dB."""
        if not isinstance(data, dict):
            raise ConfigError(f"must be a mapping of thresholds, given {data!r}.", source=source,
                              fix="write e.g. `diagnostics: {low_snr_db: 10}`.")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"unknown setting(s) {unknown}; it takes {sorted(known)}.", source=source,
                              fix="remove or rename them.")
        out = {}
        for key, value in data.items():
            whole = str(known[key].type) == "int"
            try:  # a number YAML 1.1 reads as text (1e3) is the number
                number = float(value) if isinstance(value, (int, float, str)) and not isinstance(value, bool) else math.nan
            except ValueError:
                number = math.nan
            if not math.isfinite(number) or (whole and not number.is_integer()) or (number < 0 and not key.endswith("_db")):
                what = "a whole number" if whole else "a finite number"
                raise ConfigError(f"{key} must be {what}{'' if key.endswith('_db') else ' of 0 or more'}, given {value!r}.",
                                  source=source, fix=f"write {key}: {getattr(cls, key)!r} (the default) or another value.")
            out[key] = int(number) if whole else number
        return cls(**out)


@dataclass
class Finding:
    code: str
    severity: str
    message: str
    evidence: dict[str, Any] = field(default_factory=dict)
    suggestion: str = ""

    def to_dict(self) -> dict:
        return plain_dict(self)

    def render(self) -> str:
        return f"[{self.severity.upper()}] {self.code}: {self.message}" + (f"\n    → {self.suggestion}" if self.suggestion else "")


# ---------------------------------------------------------------------------
# facts
# ---------------------------------------------------------------------------
def audio_facts(audio: Audio) -> dict[str, Any]:
    """Facts of a loaded clip: source, conversion and signal."""
    src = audio.source
    decode = next((s for s in audio.log.steps if s.name == "decode"), None)
    cut_start, cut_end = audio.log.total_cut()
    facts: dict[str, Any] = {
        "duration_s": audio.duration,
        "source_duration_s": src.duration,
        "source_sample_rate": src.sample_rate,
        "file_mb": (src.size_bytes or 0) / 1e6 if src.size_bytes else None,
        "resample_ratio": (max(src.sample_rate, audio.sr) / min(src.sample_rate, audio.sr)) if src.sample_rate else 1.0,
        "cut_start_s": cut_start,
        "cut_end_s": cut_end,
        # None when a cut was not measured (older logs): the rule then keeps its old behaviour
        "cut_start_db_above_floor": _removed_level(audio),
        "clipped_fraction": (decode.params.get("clipped_fraction") if decode else None),
        "peak": (decode.params.get("peak") if decode else None),
    }
    facts.update(signal_facts(audio.samples, audio.sr))
    return facts


def _removed_level(audio: Audio) -> float | None:
    cuts = [s for s in audio.log.steps if s.cut_start > 0]
    if not cuts:
        return None
    levels = [s.cut_start_db_above_floor for s in cuts]
    return None if any(v is None for v in levels) else float(max(levels))


def prediction_facts(pred: Any) -> dict[str, Any]:
    facts = {"label": pred.label, "confidence": pred.confidence, "margin": pred.margin, "entropy_bits": pred.entropy,
             "n_classes": len(pred.labels),
             # the classes noise drifts towards in emotion2vec+, where the model has them (a head over calm, tense has neither)
             "neutral_other": [k for k in ("neutral", "other") if k in pred.labels]}
    if pred.frame_logits is not None and pred.n_frames:
        top = np.argmax(pred.frame_logits, axis=1)
        if "unknown" in pred.labels:  # a fine-tuned head over other labels has no <unk> output
            facts["unknown_frame_fraction"] = float(np.mean(top == pred.labels.index("unknown")))
        counts = np.bincount(top, minlength=len(pred.labels))
        facts["frame_top_label"] = pred.labels[int(np.argmax(counts))]
    return facts


#: facts renamed since they were first cached (old name → name): the onset is measured over 45 ms, not 25
_RENAMED_FACTS = {"first_25ms_db_below_peak": "first_45ms_db_below_peak", "first_25ms_db_above_floor": "first_45ms_db_above_floor"}


# ---------------------------------------------------------------------------
# rules
# ---------------------------------------------------------------------------
def _high_entropy(facts: dict[str, Any], c: DiagnosticsConfig, add) -> None:
    """``high_entropy``: ``high_entropy_bits`` is set for the nine classes (log2 9 = 3.17 bits at most); a head over K
    classes tops out at log2 K, so its threshold is the same share of that maximum (2 of 3.17 → 1.26 of 2 for four)."""
    ent = facts.get("entropy_bits")
    n_classes = int(facts.get("n_classes") or 9)
    max_bits = float(np.log2(max(n_classes, 2)))
    if ent is not None and ent > c.high_entropy_bits * max_bits / np.log2(9):
        add("high_entropy", "info", f"score entropy is {ent:.2f} bits (of {max_bits:.2f} max over {n_classes} classes)",
            "the model spreads its belief over many classes.", entropy_bits=ent, n_classes=n_classes)


def _no_sound(facts: dict[str, Any], c: DiagnosticsConfig, add) -> None:
    """``digital_silence``, ``dc_only``, ``no_signal``: the clip holds no audible sound (errors: the scores mean nothing)."""
    peak, ac_db, dc = facts.get("signal_peak"), facts.get("loudest_ac_frame_db"), facts.get("dc_offset")
    if peak is not None and peak == 0.0:
        add("digital_silence", "error", "every sample is exactly zero: the clip is digital silence",
            "there is no sound to classify and the scores mean nothing: check the input device or channel, and the export.", signal_peak=peak)
    elif ac_db is not None and ac_db < c.no_signal_db and dc is not None and abs(dc) >= c.dc_offset:
        add("dc_only", "error", f"the signal is a constant offset of {dc:+.3f} with no sound on it (loudest frame without it: {ac_db:.0f} dBFS)",
            "a DC level alone is a disconnected or faulty input, not speech: the scores mean nothing; re-record.", dc_offset=dc, loudest_ac_frame_db=ac_db)
    elif ac_db is not None and ac_db < c.no_signal_db:
        add("no_signal", "error", f"the loudest 25 ms of the clip is {ac_db:.0f} dBFS (under {c.no_signal_db:g} dBFS): there is no audible sound",
            "the clip is (near) silence and the scores mean nothing: check the input gain or the source.", loudest_ac_frame_db=ac_db)


def _steady_signal(facts: dict[str, Any], c: DiagnosticsConfig, add, no_sound: bool) -> None:
    """``steady_signal``: 25 ms levels spanning under ``c.steady_range_db`` — a tone, or noise with no speech above it."""
    level_range = facts.get("level_range_db")
    if level_range is not None and level_range < c.steady_range_db and not no_sound:
        tonal = facts.get("quiet_frames_tonal_db")  # ≈ 0 dB for noise, −20 dB and under for a tone (measures.noise_floor_db)
        tone = tonal is not None and tonal <= -10.0
        add("steady_signal", "warning",
            f"the level varies by only {level_range:.1f} dB over the clip (95th − 10th percentile of its 25 ms frames; speech rises "
            f"and falls by 15 dB and more between syllables and pauses): "
            + ("a steady tone, not speech" if tone else "steady noise, with no speech rising above it"),
            "the model scores any sound: check that the clip holds speech; these scores say nothing about an emotion."
            if tone else "speech this deep in noise, or no speech at all, gives scores that say nothing about an emotion: listen to "
                         "the clip; a noise-reduced variant may help (denoise sweep).",
            level_range_db=level_range, quiet_frames_tonal_db=tonal)


def _margin_suggestion(facts: dict) -> str:
    """small_margin's suggestion: where the stability test is.  Inside diagnose's output (its test ran: ``flip_rate``) it
    is printed above, not a command away; elsewhere (a run's findings, ``--no-stability``) the command that runs it."""
    where = ("the stability lines above show whether they do" if facts.get("flip_rate") is not None else
             "`workbench diagnose FILE` runs the stability test unless given --no-stability")
    return f"the two leading classes are nearly tied: small changes can flip the label ({where})."


def findings_from(facts: dict[str, Any], config: DiagnosticsConfig = DiagnosticsConfig()) -> list[Finding]:
    """Apply every rule to ``facts`` (from :func:`audio_facts`, :func:`prediction_facts`, :func:`stability`)."""
    c = config
    out: list[Finding] = []
    # facts cached by earlier versions name the 45 ms onset window "first_25ms_…": read them under today's names
    facts = {_RENAMED_FACTS.get(k, k): v for k, v in facts.items()} if _RENAMED_FACTS.keys() & facts.keys() else facts

    def add(code, severity, message, suggestion, **evidence):
        out.append(Finding(code, severity, message, {k: _jsonable(v) for k, v in evidence.items()}, suggestion))

    _no_sound(facts, c, add)
    d = facts.get("duration_s")
    if d is not None and d < c.min_duration_s:
        add("short_clip", "warning", f"clip is {d:.2f} s long, under {c.min_duration_s:g} s", "emotion2vec+ was trained on utterances of a few seconds; very short clips give unreliable scores.", duration_s=d)
    if d is not None and d > c.max_duration_s:
        add("long_clip", "warning", f"clip is {d:.1f} s long, over {c.max_duration_s:g} s", "the score averages over everything said; segment it (`workbench segment`) to see how the emotion changes.", duration_s=d)
    sr = facts.get("source_sample_rate")
    if sr and sr < c.min_sample_rate_hz:
        add("low_sample_rate", "warning", f"source is {sr} Hz (under {c.min_sample_rate_hz} Hz{': telephone band' if sr <= 8000 else ''})",
            "the band above 4 kHz is missing and upsampling cannot restore it; compare with a wide-band recording or the sample-rate sweep.", source_sample_rate=sr)
    ratio = facts.get("resample_ratio")
    if ratio and ratio > c.max_resample_ratio:
        add("large_resample_ratio", "info", f"audio was resampled by a factor of {ratio:.2f}", "check the resampler in the processing log; compare resamplers with the sample-rate explorer.", resample_ratio=ratio)
    mb = facts.get("file_mb")
    if mb and mb > c.max_file_mb:
        add("large_file", "info", f"file is {mb:.1f} MB", "large files are slow to decode; long ones are better segmented.", file_mb=mb)
    cut = facts.get("cut_start_s") or 0.0
    removed_db = facts.get("cut_start_db_above_floor")
    # only a cut that removed sound above the noise floor can have taken a syllable; a cut of
    # digital silence or room tone (EmoDB's trimmed lead-ins) is what trimming is for
    if cut * 1000 >= c.onset_cut_ms and (removed_db is None or removed_db >= c.onset_cut_speech_db):
        what = "" if removed_db is None else f"; its loudest 25 ms were {removed_db:.0f} dB above the noise floor"
        add("onset_cut", "warning", f"processing removed {cut * 1000:.0f} ms at the start{what}",
            "the first syllable may be gone: compare with the untrimmed audio (trimming inspector) before trusting the label.",
            cut_start_ms=cut * 1000, cut_start_db_above_floor=removed_db)
    below, above = facts.get("first_45ms_db_below_peak"), facts.get("first_45ms_db_above_floor")
    level_range = facts.get("level_range_db")
    if (below is not None and below < c.speech_at_0_below_peak_db and (above is None or above > c.speech_at_0_above_floor_db)
            and cut * 1000 < c.onset_cut_ms and (level_range is None or level_range >= c.speech_at_0_min_range_db)):
        # loud in the first 45 ms and clearly above the noise floor (noise alone does not count), and not
        # because the workbench's own processing cut the start (that is onset_cut's case, measured there)
        add("speech_at_sample_0", "info", f"the first 45 ms are only {below:.0f} dB under the loudest frame: sound starts at the very first sample",
            "the onset may have been cut before the file reached the workbench (recorder, export or an earlier trim).", first_45ms_db_below_peak=below)
    clip = facts.get("clipped_fraction")
    if clip is not None and clip > c.clipped_fraction:
        add("clipping", "warning", f"{clip * 100:.2f}% of samples are at full scale", "clipping adds harsh harmonics that can read as anger; re-record with lower gain.", clipped_fraction=clip)
    snr = facts.get("snr_db")
    no_sound = any(f.code in NO_SOUND for f in out)
    if snr is not None and snr < c.low_snr_db and not no_sound:  # with no sound there is no SNR to speak of
        drift = facts.get("neutral_other", ["neutral", "other"])  # facts without it: the nine classes
        towards = f"noise pulls scores towards {'/'.join(drift)}" if drift else "noise shifts the scores of any class"
        add("low_snr", "warning", f"estimated SNR is {snr:.1f} dB (under {c.low_snr_db:g} dB; {SNR_DEFINITION})", f"{towards}; compare a noise-reduced variant (denoise sweep).", snr_db=snr)
    _steady_signal(facts, c, add, no_sound)
    sil = facts.get("silence_fraction")
    if sil is not None and sil > c.silence_fraction:
        add("mostly_silence", "warning", f"{sil * 100:.0f}% of the clip is silence", "the model scores silence too; trim or segment to the speech.", silence_fraction=sil)
    conf = facts.get("confidence")
    if conf is not None and conf < c.low_confidence:
        add("low_confidence", "warning", f"top score is {conf:.2f} (under {c.low_confidence:g})", "look at the frame timeline and the runner-up before trusting the label.", confidence=conf, label=facts.get("label"))
    margin = facts.get("margin")
    if margin is not None and margin < c.small_margin:
        add("small_margin", "warning", f"top-1 leads top-2 by only {margin:.3f}", _margin_suggestion(facts), margin=margin)
    _high_entropy(facts, c, add)
    unk = facts.get("unknown_frame_fraction")
    if unk is not None and unk > c.unknown_frame_fraction:
        add("unknown_frames", "warning", f"'unknown' is the top label in {unk * 100:.0f}% of frames", "much of the clip is not recognisable speech to the model (noise, music, silence, other language?).", unknown_frame_fraction=unk)
    flip = facts.get("flip_rate")
    if flip is not None and flip > c.unstable_flip_rate:
        flips = facts.get("flipped_by") or []
        add("unstable", "warning", f"the label changes under {flip * 100:.0f}% of small perturbations ({', '.join(flips[:4])})",
            "the prediction is fragile here: report it with its stability, or fix what the flipping perturbation points at.", flip_rate=flip, flipped_by=flips)
    return out


def _jsonable(v):
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    return v


def findings_json(findings: Sequence[Finding]) -> str:
    return json.dumps([f.to_dict() for f in findings], ensure_ascii=False)


# ---------------------------------------------------------------------------
# stability under perturbations
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Perturbation:
    """A small change to a 16 kHz clip: ``kind`` in shift, lead_silence, gain, resampler, noise, pitch (semitones, PSOLA), tempo (factor, PSOLA)."""

    name: str
    kind: str
    value: float = 0.0

    def apply(self, y: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
        if self.kind == "shift":  # move the onset: positive delays (zeros in front), negative cuts
            n = int(abs(self.value) * sr)
            return np.concatenate([np.zeros(n, np.float32), y]) if self.value > 0 else y[n:]
        if self.kind == "lead_silence":
            return np.concatenate([np.zeros(int(self.value * sr), np.float32), y])
        if self.kind == "gain":
            return np.clip(y * 10 ** (self.value / 20), -1, 1).astype(np.float32)
        if self.kind == "resampler":  # a round trip through another resampler
            up = resample_array(y, sr, 44100, method="scipy")
            return resample_array(up, 44100, sr, method="scipy")
        if self.kind == "noise":
            p = float(np.mean(y.astype(np.float64) ** 2)) + 1e-12
            return (y + rng.standard_normal(len(y)).astype(np.float32) * np.sqrt(p / 10 ** (self.value / 10))).astype(np.float32)
        if self.kind == "pitch":  # the voice a little higher or lower, everything else kept (Praat PSOLA)
            return pitch_shift(y, sr, semitones=self.value)
        if self.kind == "tempo":  # a little faster or slower, pitch kept (Praat PSOLA)
            return change_tempo(y, sr, factor=self.value)
        raise ValueError(f"unknown perturbation kind {self.kind!r}")


DEFAULT_PERTURBATIONS: tuple[Perturbation, ...] = (
    Perturbation("shift +10 ms", "shift", 0.010),
    Perturbation("shift -10 ms", "shift", -0.010),
    Perturbation("shift +50 ms", "shift", 0.050),
    Perturbation("shift -50 ms", "shift", -0.050),
    Perturbation("shift +100 ms", "shift", 0.100),
    Perturbation("shift -100 ms", "shift", -0.100),
    Perturbation("0.2 s leading silence", "lead_silence", 0.2),
    Perturbation("gain +6 dB", "gain", 6.0),
    Perturbation("gain -6 dB", "gain", -6.0),
    Perturbation("scipy resampler round trip", "resampler"),
    Perturbation("noise at 30 dB SNR", "noise", 30.0),
    # a speaker's pitch and rate vary this much between takes of the same sentence: a label that flips
    # under them hangs on the voice's register or rate, not on what is said
    Perturbation("pitch +1 st", "pitch", 1.0),
    Perturbation("pitch -1 st", "pitch", -1.0),
    Perturbation("tempo 0.9x", "tempo", 0.9),
    Perturbation("tempo 1.1x", "tempo", 1.1),
)


@dataclass
class StabilityReport:
    base_label: str
    base_confidence: float
    rows: list[dict]  # perturbation, label, confidence, flipped

    @property
    def flip_rate(self) -> float:
        return float(np.mean([r["flipped"] for r in self.rows])) if self.rows else 0.0

    @property
    def flipped_by(self) -> list[str]:
        return [r["perturbation"] for r in self.rows if r["flipped"]]

    def facts(self) -> dict:
        return {"flip_rate": self.flip_rate, "flipped_by": self.flipped_by}

    def to_dict(self) -> dict:
        return {"base_label": self.base_label, "base_confidence": self.base_confidence, "flip_rate": self.flip_rate, "rows": self.rows}


def stability(model: Any, audio: Audio, *, perturbations: Sequence[Perturbation] = DEFAULT_PERTURBATIONS, seed: int = 0, base: Any = None) -> StabilityReport:
    """Re-run ``audio`` under each perturbation (one batch) and report which flip the label."""
    rng = np.random.default_rng(seed)
    waves = [p.apply(audio.samples, audio.sr, rng) for p in perturbations]
    base = base if base is not None else model.predict([audio])[0]
    preds = model.predict(waves)
    rows = [
        {"perturbation": p.name, "label": q.label, "confidence": q.confidence, "flipped": q.label != base.label,
         "score_of_base_label": float(q.scores[list(q.labels).index(base.label)])}
        for p, q in zip(perturbations, preds)
    ]
    return StabilityReport(base.label, base.confidence, rows)


# ---------------------------------------------------------------------------
# one file, end to end
# ---------------------------------------------------------------------------
