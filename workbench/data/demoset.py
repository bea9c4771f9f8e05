"""The demo set every notebook and report defaults to, and the model the demo uses.

The demo set has two parts:

* the **shipped clips** in ``workbench/demo_data/`` (package data, made once
  with espeak-ng, sox and ffmpeg by ``datasets/make_demo_clips.py``): one file
  per format and condition — 44.1 kHz, 8 kHz telephone, 48 kHz stereo FLAC,
  VBR MP3, Ogg, AAC, speech from sample 0, 5 dB SNR, a tone;
* the **generated part**, made here from a seeded formant synthesiser the
  first time it is asked for (no binaries in git, no tools needed): four
  speakers (two female, two male voices) saying two sentences in each of
  four emotions (angry, happy, neutral, sad) with the prosody of that emotion,
  with transcripts, and a 50-second dialogue of the four speakers whose turns
  are manifest segments (``start``/``duration``) of the one long file.

:func:`demo_set` writes both into one folder with one ``manifest.csv``.  The
speech is synthetic: the labels are the *intended* emotions, not ground truth,
and the text carries the emotion more plainly than the voice does — which is
what the fusion notebook and report show.

The model is, in order: ``--model``, ``$WORKBENCH_MODEL``, a local download
of ``iic/emotion2vec_plus_large`` in the ModelScope cache, and otherwise the
tiny random checkpoint, announced in one clear line.
"""

from __future__ import annotations

import csv
import hashlib
import os
import tempfile
import shutil
import zlib
from pathlib import Path

import numpy as np

from workbench import files
from workbench.paths import cache_dir
from workbench.errors import ConfigError
from workbench.model.network import DEFAULT_MODEL, cached_hub_checkpoint
from workbench.schema import SAMPLE_RATE

#: the shipped clips and their manifest (package data)
DEMO_DATA = Path(__file__).resolve().parents[1] / "demo_data"
#: bump when the generated part changes: a new folder is made, old ones stay valid for old runs
DEMO_VERSION = 1
SR = SAMPLE_RATE
LONG_FILE = "long_dialogue.wav"
FIELDS = ["id", "path", "label", "text", "speaker", "gender", "split", "start", "duration", "notes"]

# speaker: (gender, mean f0 in Hz, formant scale, speaking-rate scale)
SPEAKERS = {
    "spk_f1": ("female", 212.0, 1.17, 1.05),
    "spk_f2": ("female", 238.0, 1.22, 0.92),
    "spk_m1": ("male", 108.0, 1.00, 1.00),
    "spk_m2": ("male", 131.0, 0.94, 1.12),
}
# emotion: (f0 factor, f0 movement in semitones, syllables per second, level in dBFS, spectral brightness)
PROSODY = {
    "angry": (1.12, 4.0, 5.4, -13.0, 1.7),
    "happy": (1.22, 6.0, 5.0, -16.0, 1.25),
    "neutral": (1.00, 1.5, 4.2, -20.0, 1.0),
    "sad": (0.86, 1.0, 2.9, -27.0, 0.65),
}
SENTENCES = {
    "angry": ["I told you never to touch my things again!", "This is unacceptable, get out of here right now!",
              "Stop lying to me, I am sick of it!"],
    "happy": ["What a wonderful day, I am so glad you came!", "This is the best news I have heard all year!",
              "I love it, thank you so much!"],
    "neutral": ["The meeting starts at ten in the second room.", "The train leaves from platform four.",
                "Please put the files on the desk by the window."],
    "sad": ["I miss her so much, nothing feels the same.", "It is over, and there is nothing left to do.",
            "I have felt so alone since they left."],
}
# (speaker, emotion, sentence index) of the dialogue's turns
DIALOGUE = [("spk_m1", "neutral", 0), ("spk_f1", "happy", 0), ("spk_m2", "angry", 0), ("spk_f2", "sad", 0),
            ("spk_m1", "angry", 1), ("spk_f1", "neutral", 1), ("spk_f2", "happy", 1), ("spk_m2", "sad", 1),
            ("spk_f1", "angry", 2), ("spk_m2", "happy", 2), ("spk_m1", "sad", 2), ("spk_f2", "neutral", 2)]
VOWELS = ((730, 1090, 2440), (530, 1840, 2480), (270, 2290, 3010), (570, 840, 2410), (300, 870, 2240), (660, 1720, 2410))


# ---------------------------------------------------------------------------
# the synthesiser (pure, seeded)
# ---------------------------------------------------------------------------
def _seed(*parts: object) -> int:
    return zlib.crc32("|".join(map(str, parts)).encode("utf-8"))


def synth_utterance(text: str, speaker: str, emotion: str, *, sr: int = SR) -> np.ndarray:
    """A voice-like utterance, float32 in [-1, 1], ``(n,)`` at ``sr``.

    Syllables (one per vowel group of ``text``) of a harmonic source shaped by
    vowel formants, with the speaker's pitch and vocal-tract scale and the
    emotion's pitch level, pitch movement, rate, loudness and brightness.
    Deterministic: the same arguments give the same samples.
    """
    _, f0_mean, formant_scale, rate_scale = SPEAKERS[speaker]
    f0_factor, movement, rate, level_db, bright = PROSODY[emotion]
    rng = np.random.default_rng(_seed(text, speaker, emotion))
    words = text.split()
    n_syl = max(2, sum(max(1, sum(ch in "aeiouy" for ch in w.lower()) // 2 + 1) for w in words))
    syl = rng.uniform(0.8, 1.2, n_syl) / (rate * rate_scale)
    pauses = np.array([0.12 if w.endswith((",", ";")) else 0.0 for w in words])
    total = float(syl.sum() + pauses.sum()) + 0.5
    n = int(total * sr)
    t = np.arange(n) / sr
    # pitch: the speaker's mean, the emotion's level and movement, a falling declination
    semis = movement * np.sin(2 * np.pi * rng.uniform(0.6, 1.4) * t + rng.uniform(0, 6)) - 1.5 * t / total
    if emotion == "sad":
        semis -= 2.0 * t / total
    f0 = f0_mean * f0_factor * 2 ** (semis / 12)
    # syllable envelope and vowel per syllable
    env = np.zeros(n)
    vowel_of = np.zeros(n, dtype=int)
    start = 0.25
    for k, d in enumerate(syl):
        a, b = int(start * sr), min(n, int((start + 0.8 * d) * sr))
        if b > a:
            env[a:b] = np.sin(np.linspace(0, np.pi, b - a)) ** 0.6
            vowel_of[a:int((start + d) * sr)] = rng.integers(len(VOWELS))
        start += d + (pauses[min(k * len(words) // n_syl, len(words) - 1)] if k % 3 == 2 else 0.0)
    # harmonics weighted by the formant response at each harmonic's frequency
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = np.zeros(n)
    formants = np.asarray(VOWELS, dtype=np.float64)[vowel_of] * formant_scale  # (n, 3)
    bw = np.array([90.0, 110.0, 170.0])
    for h in range(1, int(4000 / (f0_mean * f0_factor * 0.8)) + 1):
        fh = h * f0
        gain = np.sum(1.0 / (1.0 + ((fh[:, None] - formants) / bw) ** 2), axis=1)
        y += gain * h ** (-1.0 / bright) * np.sin(h * phase)
    y *= env
    # consonant-like noise bursts at syllable onsets, and a little breath
    burst = np.diff(rng.standard_normal(n + 1)) * 0.15
    onset = np.clip(np.diff(env, prepend=0) * sr / 200, 0, 1)
    y += burst * np.convolve(onset, np.ones(int(0.03 * sr)) / (0.03 * sr), mode="same") * 3
    y += rng.standard_normal(n) * 10 ** (-55 / 20)
    rms = np.sqrt(np.mean(y[env > 0.1] ** 2)) if np.any(env > 0.1) else 1.0
    y *= 10 ** (level_db / 20) / max(rms, 1e-9)
    return np.clip(y, -1, 1).astype(np.float32)


# ---------------------------------------------------------------------------
# the demo set
# ---------------------------------------------------------------------------
def shipped_rows() -> list[dict]:
    """The shipped clips' manifest rows, paths absolute."""
    manifest = DEMO_DATA / "manifest.csv"
    if not manifest.is_file():
        raise ConfigError("the demo clips' manifest is missing from the installed package.", source=str(manifest),
                          fix="reinstall the package (pip install emotion-workbench), or run datasets/make_demo_clips.py in a checkout.")
    with open(manifest, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["path"] = str(DEMO_DATA / r["path"])
    return rows


def _write_generated(folder: Path) -> list[dict]:
    import soundfile as sf

    rows = []
    for j, (spk, (gender, *_rest)) in enumerate(SPEAKERS.items()):
        for emo, sentences in SENTENCES.items():
            for i in (j % 3, (j + 1) % 3):  # two of the three sentences, a different pair per speaker
                text = sentences[i]
                name = f"{spk}_{emo}_{i + 1}.wav"
                y = synth_utterance(text, spk, emo)
                files.write_atomic(folder / name, lambda f, y=y: sf.write(f, y, SR, format="WAV", subtype="PCM_16"))
                rows.append({"id": name[:-4], "path": name, "label": emo, "text": text, "speaker": spk, "gender": gender,
                             "split": "demo", "start": 0.0, "duration": round(len(y) / SR, 3),
                             "notes": f"synthetic voice {spk}, {emo} prosody"})
    rng = np.random.default_rng(_seed("dialogue"))
    parts, t = [np.zeros(int(0.6 * SR), np.float32)], 0.6
    for k, (spk, emo, i) in enumerate(DIALOGUE):
        y = synth_utterance(SENTENCES[emo][i], spk, emo)
        rows.append({"id": f"dialogue_turn{k + 1:02d}", "path": LONG_FILE, "label": emo, "text": SENTENCES[emo][i],
                     "speaker": spk, "gender": SPEAKERS[spk][0], "split": "dialogue", "start": round(t, 4),
                     "duration": round(len(y) / SR, 4), "notes": f"turn {k + 1} of {LONG_FILE}"})
        pause = np.zeros(int(rng.uniform(0.7, 1.4) * SR), np.float32)
        parts += [y, pause]
        t += (len(y) + len(pause)) / SR
    talk = np.concatenate(parts)
    talk += (rng.standard_normal(len(talk)) * 10 ** (-50 / 20)).astype(np.float32)
    files.write_atomic(folder / LONG_FILE, lambda f: sf.write(f, np.clip(talk, -1, 1), SR, format="WAV", subtype="PCM_16"))
    return rows


def demo_set(root: str | os.PathLike | None = None) -> Path:
    """The full demo set's folder (its ``manifest.csv`` lists every item), generated on first use.

    ``root`` defaults to ``<cache>/demo`` (``$WORKBENCH_CACHE``).  The folder is
    written under a temporary name and renamed, so a half-written set is never
    used.
    """
    base = Path(root) if root is not None else cache_dir() / "demo"
    # the manifest names the shipped clips by absolute path: one folder per installation of them, so a checkout
    # or virtualenv that is removed later leaves no other installation with a manifest of missing files
    where = hashlib.sha256(str(DEMO_DATA.resolve()).encode()).hexdigest()[:8]
    folder = base / f"v{DEMO_VERSION}-{where}"
    if (folder / "manifest.csv").is_file():
        return folder
    base.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".v{DEMO_VERSION}.", dir=base))  # exclusive, 0700: nobody plants a link in it
    rows = shipped_rows() + _write_generated(tmp)

    def write_csv(f):
        writer = csv.DictWriter(f, fieldnames=FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)

    files.write_atomic(tmp / "manifest.csv", write_csv, text=True)
    os.chmod(tmp, 0o755)
    try:
        files.rename_folder(tmp, folder)
    except (OSError, files.UnsafePathError):  # another process finished first: use its folder
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def demo_manifest() -> Path:
    """The full demo set's manifest, generated on first use in the cache (see :func:`demo_set`).

    The shipped clips (one per format and condition) and the generated part (four synthetic speakers, four
    emotions, a 50-second dialogue as segments); the labels are the *intended* emotions.

    Returns
    -------
    pathlib.Path
        ``<cache>/demo/v<version>-<installation>/manifest.csv``, readable with :func:`read_manifest`.

    Examples
    --------
    >>> path = wb.demo_manifest()
    >>> path.name
    'manifest.csv'
    >>> manifest = wb.read_manifest(path)
    >>> len(manifest), sorted({it.emotion for it in manifest if it.speaker.startswith("spk_")})
    (53, ['angry', 'happy', 'neutral', 'sad'])
    """
    return demo_set() / "manifest.csv"


def long_demo_file() -> Path:
    """The demo set's 50-second dialogue of four speakers (16 kHz WAV)."""
    return demo_set() / LONG_FILE


def demo_clip(name: str) -> Path:
    """A shipped clip by file name, e.g. ``demo_clip('happy_en_44k.wav')``."""
    p = DEMO_DATA / name
    if not p.is_file():
        known = sorted(x.name for x in DEMO_DATA.iterdir() if x.suffix != ".csv")
        raise ConfigError(f"no demo clip {name!r}; the clips are {known}.", fix="pass one of them.")
    return p


def choose_model(model: str | None = None) -> tuple[str, str]:
    """The model the demo runs, and why: ``model`` when given, else ``$WORKBENCH_MODEL``, else a local download
    of ``iic/emotion2vec_plus_large`` (ModelScope's cache, then Hugging Face's), else the tiny random checkpoint.

    Parameters
    ----------
    model
        A model asked for (a hub id, a checkpoint folder, ``"tiny"``); None to let the demo choose.

    Returns
    -------
    tuple of (str, str)
        The model and the reason it was chosen (the demo prints both on one line).

    Examples
    --------
    >>> wb.choose_model("tiny")
    ('tiny', 'as asked with --model')
    >>> model, why = wb.choose_model()
    >>> why in ("from $WORKBENCH_MODEL", "found in the local ms cache", "found in the local hf cache",
    ...         "no emotion2vec+ checkpoint found locally")
    True
    """
    if model:
        return model, "as asked with --model"
    if os.environ.get("WORKBENCH_MODEL"):
        return os.environ["WORKBENCH_MODEL"], "from $WORKBENCH_MODEL"
    for hub in ("ms", "hf"):
        if cached_hub_checkpoint(DEFAULT_MODEL, hub) is not None:
            return DEFAULT_MODEL, f"found in the local {hub} cache"
    return "tiny", "no emotion2vec+ checkpoint found locally"


def demo_files(demo_dir: Path = DEMO_DATA) -> list[Path]:
    """The shipped clips (the files ``workbench demo`` runs ``infer`` on)."""
    manifest = demo_dir / "manifest.csv"
    if not manifest.is_file():
        raise ConfigError("demo manifest not found.", source=str(manifest), fix="reinstall the package, or run datasets/make_demo_clips.py in a checkout.")
    with open(manifest, newline="", encoding="utf-8") as f:
        return [demo_dir / row["path"] for row in csv.DictReader(f)]
