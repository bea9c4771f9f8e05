#!/usr/bin/env python3
"""Make the shipped demo clips in ``workbench/demo_data/``: synthetic speech and plain signals.

Needs espeak-ng, sox and ffmpeg (Debian: apt-get install espeak-ng sox ffmpeg).
The committed clips were made with this script; re-running it rewrites them
(espeak-ng versions may differ slightly).  Seeded wherever randomness enters.

Synthetic speech carries no real emotion: the ``label`` column is the
*intended* label of the sentence and the prosody settings, useful to exercise
the tools, not ground truth.

Covers: a 44.1 kHz original and its 8 kHz telephone copy, a 48 kHz stereo
FLAC, a VBR MP3, Ogg/Vorbis, AAC in m4a, a clip whose speech starts at sample
0, a noisy copy (5 dB SNR), and a plain tone.

The rest of the demo set (four speakers, four classes, transcripts, a long
dialogue) needs no tools: ``workbench.demo.demo_set()`` generates it.
"""

from __future__ import annotations

import csv
import subprocess
import tempfile
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

HERE = Path(__file__).resolve().parent.parent / "workbench" / "demo_data"
sys.path.insert(0, str(HERE.parent.parent))
RNG = np.random.default_rng(20261122)

# id, voice, text, intended label, espeak-ng speed (wpm), pitch (0-99), amplitude
SENTENCES = {
    "happy_en": ("en-us+f3", "What a wonderful surprise, I absolutely love it!", "happy", 175, 80, 120),
    "angry_en": ("en-us+m3", "I told you never to touch my things again!", "angry", 190, 25, 180),
    "neutral_en": ("en-gb", "The meeting starts at ten in the second room.", "neutral", 150, 50, 100),
    "sad_en": ("en-us+m1", "I miss her so much, nothing feels the same.", "sad", 110, 20, 80),
    "surprised_en": ("en-us+f2", "Oh! You really came all this way?", "surprised", 165, 90, 120),
    "happy_zh": ("cmn", "太棒了", "happy", 150, 70, 120),
}


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def speak(key: str, out_wav: Path) -> None:
    voice, text, _, speed, pitch, amp = SENTENCES[key]
    run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-a", str(amp), "-w", str(out_wav), text])


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmpd:
        tmp = Path(tmpd)
        raw = {k: tmp / f"{k}.wav" for k in SENTENCES}
        for k, path in raw.items():
            speak(k, path)

        def add(file: str, key: str | None, label: str, notes: str, speaker: str = "espeak-ng") -> None:
            text = SENTENCES[key][1] if key else ""
            from workbench.audio.intake import decode  # the workbench's own decoder reads every format here

            duration = decode(HERE / file).duration
            rows.append({
                "id": Path(file).stem, "path": file, "label": label, "text": text,
                "speaker": speaker if key else "", "gender": "", "split": "demo",
                "start": 0.0, "duration": round(duration, 3), "notes": notes,
            })

        # 1) a 44.1 kHz original (espeak-ng speaks at 22.05 kHz; sox's VHQ resampler lifts it)
        run(["sox", str(raw["happy_en"]), "-r", "44100", "-b", "16", str(HERE / "happy_en_44k.wav"), "rate", "-v", "pad", "0.4", "0.3"])
        add("happy_en_44k.wav", "happy_en", "happy", "44.1 kHz 16-bit original")
        # 2) its 8 kHz telephone copy: 300-3400 Hz band, 8 kHz, 8-bit mu-law as a phone line would carry it
        run(["sox", str(HERE / "happy_en_44k.wav"), "-r", "8000", "-e", "mu-law", str(HERE / "happy_en_tel8k.wav"), "sinc", "300-3400"])
        add("happy_en_tel8k.wav", "happy_en", "happy", "8 kHz mu-law telephone copy of happy_en_44k (300-3400 Hz)")
        # 3) 48 kHz stereo FLAC, the right channel 6 dB quieter and 0.5 ms late
        y, sr = sf.read(raw["angry_en"], dtype="float32")
        run(["sox", str(raw["angry_en"]), "-r", "48000", str(tmp / "angry48.wav"), "rate", "-v", "pad", "0.3", "0.3"])
        y48, _ = sf.read(tmp / "angry48.wav", dtype="float32")
        right = np.concatenate([np.zeros(24, np.float32), y48[:-24]]) * 0.5
        sf.write(HERE / "angry_en_48k_stereo.flac", np.stack([y48, right], axis=1), 48000, subtype="PCM_24")
        add("angry_en_48k_stereo.flac", "angry_en", "angry", "48 kHz 24-bit stereo FLAC")
        # 4) VBR MP3 (LAME -q:a 4) at 44.1 kHz
        run(["sox", str(raw["neutral_en"]), "-r", "44100", str(tmp / "neutral44.wav"), "rate", "-v", "pad", "0.3", "0.3"])
        run(["ffmpeg", "-y", "-v", "error", "-i", str(tmp / "neutral44.wav"), "-c:a", "libmp3lame", "-q:a", "4", str(HERE / "neutral_en_vbr.mp3")])
        add("neutral_en_vbr.mp3", "neutral_en", "neutral", "VBR MP3 (LAME -q:a 4), 44.1 kHz")
        # 5) Ogg/Vorbis at 24 kHz
        run(["sox", str(raw["sad_en"]), "-r", "24000", str(tmp / "sad24.wav"), "rate", "-v", "pad", "0.3", "0.3"])
        run(["ffmpeg", "-y", "-v", "error", "-i", str(tmp / "sad24.wav"), "-c:a", "libvorbis", "-q:a", "4", str(HERE / "sad_en.ogg")])
        add("sad_en.ogg", "sad_en", "sad", "Ogg/Vorbis, 24 kHz")
        # 6) AAC in m4a (libsndfile cannot read it: goes through ffmpeg)
        run(["ffmpeg", "-y", "-v", "error", "-i", str(raw["surprised_en"]), "-af", "adelay=300,apad=pad_dur=0.3", "-c:a", "aac", "-b:a", "64k", str(HERE / "surprised_en.m4a")])
        add("surprised_en.m4a", "surprised_en", "surprised", "AAC in m4a, 22.05 kHz")
        # 7) Mandarin 'tài bàng le' with speech starting at sample 0 (leading silence cut exactly)
        zh, zsr = sf.read(raw["happy_zh"], dtype="float32")
        onset = int(np.argmax(np.abs(zh) > 0.01 * np.abs(zh).max()))
        zh0 = zh[onset:]
        sf.write(tmp / "zh0.wav", zh0, zsr)
        run(["sox", str(tmp / "zh0.wav"), "-r", "16000", "-b", "16", str(HERE / "happy_zh_onset0.wav"), "rate", "-v", "pad", "0", "0.3"])
        add("happy_zh_onset0.wav", "happy_zh", "happy", "太棒了 (tài bàng le), speech starts at sample 0, 16 kHz")
        # 8) a noisy copy of it: white noise at 5 dB SNR (seeded)
        clean, csr = sf.read(HERE / "happy_zh_onset0.wav", dtype="float32")
        p_sig = float(np.mean(clean[np.abs(clean) > 0.01] ** 2))
        noise = RNG.standard_normal(len(clean)).astype(np.float32) * np.sqrt(p_sig / 10 ** (5 / 10))
        sf.write(HERE / "happy_zh_noisy5db.wav", np.clip(clean + noise, -1, 1), csr, subtype="PCM_16")
        add("happy_zh_noisy5db.wav", "happy_zh", "happy", "happy_zh_onset0 with white noise at 5 dB SNR")
        # 9) a plain signal: 440 Hz tone, 2 s, 16 kHz
        t = np.arange(32000) / 16000
        sf.write(HERE / "tone_440hz.wav", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), 16000, subtype="PCM_16")
        add("tone_440hz.wav", None, "", "plain 440 Hz tone: no speech, no label")

    with open(HERE / "manifest.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    total = sum((HERE / r["path"]).stat().st_size for r in rows)
    print(f"wrote {len(rows)} files, {total / 1e6:.2f} MB, and manifest.csv to {HERE}")


if __name__ == "__main__":
    main()
