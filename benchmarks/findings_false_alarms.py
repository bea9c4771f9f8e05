"""How often each audio finding fires on clean studio speech (false alarms), raw and trimmed.

Clean speech: the demo set's generated part (48 formant-synthesised utterances, 4 voices x 4
emotions x 3 sentences, a 0.25 s lead-in with breath noise at -55 dBFS), its clean shipped
clips (espeak-ng: 44.1 kHz WAV, 48 kHz FLAC, MP3, Ogg, AAC) and synthetic speech with a
silence lead-in (harmonic syllables after 0.1-0.5 s of digital silence, or with room tone at
-60 dBFS throughout, 20 seeds).  Each clip is scored raw and after `trim` (top_db=30), the EmoDB case.
None of these clips has a real fault, so every audio finding on them is a false alarm; the
demo set's deliberately faulty clips (speech from sample 0, 5 dB SNR, a 440 Hz tone) are
listed apart as the check that the rules still fire where they should.

    PYTHONPATH=. python benchmarks/findings_false_alarms.py            # this checkout
    PYTHONPATH=/path/to/old/checkout python benchmarks/findings_false_alarms.py   # the rules before

Only the audio rules are measured (no model: the prediction rules depend on the weights).
"""

from __future__ import annotations

import collections
import sys

import numpy as np

from workbench.audio.intake import AudioConfig, load
from workbench.data.demoset import SENTENCES, SPEAKERS, shipped_rows, synth_utterance
from workbench.engine.findings import audio_facts, findings_from
from workbench.audio.steps import apply_chain

SR = 16000
AUDIO_RULES = ("onset_cut", "speech_at_sample_0", "low_snr", "mostly_silence", "clipping", "short_clip", "no_signal",
               "dc_only", "digital_silence", "low_sample_rate", "large_resample_ratio", "steady_signal")
FAULTY = {"happy_zh_onset0": "speech_at_sample_0", "happy_zh_noisy5db": "low_snr", "tone_440hz": "steady_signal"}


def synthetic_with_lead_in(seed: int) -> np.ndarray:
    """Studio-clean harmonic syllables (noise floor -80 dBFS) after a lead-in of silence or room tone."""
    rng = np.random.default_rng(seed)
    dur, lead = 2.0, rng.uniform(0.1, 0.5)
    t = np.arange(int(SR * dur)) / SR
    f0 = rng.uniform(100, 230) * 2 ** (2 * np.sin(2 * np.pi * rng.uniform(0.5, 1.2) * t) / 12)
    phase = 2 * np.pi * np.cumsum(f0) / SR
    voice = sum(np.sin(k * phase) / k for k in range(1, 15))
    env = np.clip(np.sin(2 * np.pi * rng.uniform(3, 5) * t), 0, None) ** 0.7
    # even seeds: digital silence, then speech over a -80 dBFS floor; odd seeds: room tone at -60 dBFS throughout
    floor = 1e-4 if seed % 2 == 0 else 1e-3
    speech = 0.15 * voice * env + floor * rng.standard_normal(len(t))
    lead_in = np.zeros(int(lead * SR)) if seed % 2 == 0 else floor * rng.standard_normal(int(lead * SR))
    return np.r_[lead_in, speech].astype(np.float32)


def clips():
    for spk in SPEAKERS:
        for emo, sentences in SENTENCES.items():
            for i, text in enumerate(sentences):
                yield "demo generated", f"{spk}_{emo}_{i}", (synth_utterance(text, spk, emo), SR)
    for row in shipped_rows():
        if row["id"] not in FAULTY and "telephone" not in row["notes"]:
            yield "demo shipped", row["id"], row["path"]
    for seed in range(20):
        yield "synthetic lead-in", f"seed{seed}", (synthetic_with_lead_in(seed), SR)


def codes(audio) -> set[str]:
    return {f.code for f in findings_from(audio_facts(audio))} & set(AUDIO_RULES)


def main() -> None:
    counts: dict[tuple[str, str], collections.Counter] = collections.defaultdict(collections.Counter)
    totals: collections.Counter = collections.Counter()
    for group, name, source in clips():
        audio = load(source, config=AudioConfig(target_sr=SR))
        for condition, chain in (("raw", []), ("trim top_db=30", [{"name": "trim", "top_db": 30}])):
            processed = apply_chain(audio, chain) if chain else audio
            totals[(group, condition)] += 1
            for code in codes(processed):
                counts[(group, condition)][code] += 1
    print("| clips | condition | n | " + " | ".join(AUDIO_RULES[:4]) + " | other |")
    print("|---|---|---|" + "---|" * 5)
    for key, n in totals.items():
        c = counts[key]
        other = sum(v for k, v in c.items() if k not in AUDIO_RULES[:4])
        print(f"| {key[0]} | {key[1]} | {n} | " + " | ".join(f"{c[r]}/{n}" for r in AUDIO_RULES[:4]) + f" | {other} {dict((k, v) for k, v in c.items() if k not in AUDIO_RULES[:4]) or ''} |")
    print("\nfaulty demo clips (should fire):")
    for row in shipped_rows():
        if row["id"] in FAULTY:
            got = codes(load(row["path"], config=AudioConfig(target_sr=SR)))
            print(f"  {row['id']}: expected {FAULTY[row['id']]}, fired {sorted(got)}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
