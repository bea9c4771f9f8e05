#!/usr/bin/env python3
"""Preprocessing benchmark: decode + resample + trim over mixed formats, noise
reduction cost per audio-minute, and a cold versus cached re-run of a dataset.

1. **intake**: the same synthetic clips (2–10 s) encoded as 16-bit WAV at
   44.1 kHz, FLAC at 48 kHz, Ogg/Vorbis, VBR MP3 and AAC in m4a (encoded with
   soundfile and PyAV: no system ffmpeg), each loaded with
   ``workbench.audio.intake.load`` (decode, mono, soxr VHQ to 16 kHz) and trimmed
   (``top_db=30``): seconds of audio per wall-second per format and stage.
   Where an ``ffmpeg`` binary is on the PATH, the m4a clips are also decoded
   the way intake did before PyAV (ffprobe + an ffmpeg subprocess per file,
   whole output in memory) as the baseline, in the same run;
2. **noise reduction**: ``noisereduce`` stationary and non-stationary on
   16 kHz audio, wall-seconds per audio-minute;
3. **cache**: ``workbench run`` over a manifest of all clips with two
   variants (raw, denoise+trim), cold (empty prediction cache) and again into
   a new run folder with the cache warm — the goal is ≥ 20× faster.

    python benchmarks/preprocess.py [--clips 48] [--model tiny] [--intake-only]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def make_clips(root: Path, n: int, seed: int = 0) -> dict[str, list[Path]]:
    import soundfile as sf
    import soxr

    from conftest import av_encode, speech_like

    rng = np.random.default_rng(seed)
    out: dict[str, list[Path]] = {k: [] for k in ("wav", "flac", "ogg", "mp3", "m4a")}
    for i in range(n):
        dur = float(rng.uniform(2, 10))
        y = speech_like(44100, dur, seed=i, onset=float(rng.uniform(0.1, 0.6)))
        base = root / f"clip{i:03d}"
        wav = base.with_suffix(".wav")
        sf.write(wav, y, 44100, subtype="PCM_16")
        out["wav"].append(wav)
        flac = base.with_suffix(".flac")
        sf.write(flac, soxr.resample(y, 44100, 48000), 48000, subtype="PCM_24")
        out["flac"].append(flac)
        ogg = base.with_suffix(".ogg")
        sf.write(ogg, y, 44100, format="OGG", subtype="VORBIS")
        out["ogg"].append(ogg)
        # VBR MP3 at LAME quality 4 (ffmpeg's -q:a 4), AAC at 96 kb/s
        out["mp3"].append(av_encode(y, 44100, base.with_suffix(".mp3"), "libmp3lame", options={"flags": "+qscale", "global_quality": str(4 * 118)}))
        out["m4a"].append(av_encode(y, 44100, base.with_suffix(".m4a"), "aac", bit_rate=96000))
    return out


def bench_intake(clips: dict[str, list[Path]]) -> list[dict]:
    from workbench.audio.intake import load
    from workbench.audio.steps import make_step

    trim = make_step({"name": "trim", "top_db": 30})
    trim(load(next(iter(clips.values()))[0]))  # warm-up: imports and first-call costs are not per-file costs
    rows = []
    for fmt, paths in clips.items():
        t_load = t_trim = audio_s = 0.0
        for p in paths:
            t0 = time.perf_counter()
            a = load(p)
            t1 = time.perf_counter()
            trim(a)
            t2 = time.perf_counter()
            t_load += t1 - t0
            t_trim += t2 - t1
            audio_s += a.duration
        rows.append({"format": fmt, "files": len(paths), "audio_s": audio_s, "load_s": t_load, "trim_s": t_trim,
                     "load_x_realtime": audio_s / t_load, "trim_x_realtime": audio_s / t_trim})
    return rows


def bench_ffmpeg_subprocess(paths: list[Path]) -> dict | None:
    """The pre-PyAV path, for the baseline: ffprobe, then ffmpeg to f32le in a subprocess, per file."""
    if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
        return None
    from workbench.audio.intake import resample_array

    t0 = time.perf_counter()
    audio_s = 0.0
    for p in paths:
        probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0", "-show_entries", "stream=sample_rate,channels",
                                "-of", "json", str(p)], capture_output=True, check=True)
        st = json.loads(probe.stdout)["streams"][0]
        sr, ch = int(st["sample_rate"]), int(st["channels"])
        raw = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(p), "-map", "0:a:0", "-f", "f32le", "-acodec", "pcm_f32le",
                              "-ac", str(ch), "-ar", str(sr), "-"], capture_output=True, check=True).stdout
        y = np.frombuffer(raw, dtype="<f4").reshape(-1, ch).mean(axis=1)
        y16 = resample_array(y.astype(np.float32), sr, 16000)
        audio_s += len(y16) / 16000
    dt = time.perf_counter() - t0
    return {"format": "m4a (ffmpeg subprocess, old path)", "files": len(paths), "audio_s": audio_s, "load_s": dt, "load_x_realtime": audio_s / dt}


def bench_denoise(minutes: float = 1.0) -> list[dict]:
    import noisereduce as nr

    from conftest import speech_like

    sr = 16000
    y = speech_like(sr, minutes * 60, seed=1) + 0.02 * np.random.default_rng(1).standard_normal(int(minutes * 60 * sr)).astype(np.float32)
    rows = []
    for stationary in (True, False):
        t0 = time.perf_counter()
        nr.reduce_noise(y=y, sr=sr, stationary=stationary, prop_decrease=1.0)
        dt = time.perf_counter() - t0
        rows.append({"stationary": stationary, "audio_min": minutes, "seconds": dt, "seconds_per_audio_minute": dt / minutes})
    return rows


def bench_cache(clips: dict[str, list[Path]], work: Path, model: str) -> dict:
    from workbench.data.manifest import Item, Manifest, write_manifest
    from workbench.model.network import load_model
    from workbench.runs.driver import Variant, run

    items = [Item(id=f"{p.stem}_{p.suffix[1:]}", path=str(p)) for paths in clips.values() for p in paths]
    manifest = write_manifest(Manifest(items, root=work), work / "bench.csv")
    variants = [Variant("raw"), Variant("denoise_trim", ({"name": "denoise", "stationary": True}, {"name": "trim", "top_db": 30}))]
    net = load_model(model)
    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    t0 = time.perf_counter()
    cold = run(manifest, out_dir=work / "run_cold", model=net, variants=variants, cache_dir=cache)
    t_cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    warm = run(manifest, out_dir=work / "run_warm", model=net, variants=variants, cache_dir=cache)
    t_warm = time.perf_counter() - t0
    import pandas as pd

    a = pd.read_parquet(work / "run_cold" / "results.parquet")
    b = pd.read_parquet(work / "run_warm" / "results.parquet")
    same = bool((a["pred"].fillna("") == b["pred"].fillna("")).all() and np.allclose(a["confidence"].astype(float), b["confidence"].astype(float), equal_nan=True))
    return {"rows": cold.n_rows, "cold_s": t_cold, "warm_s": t_warm, "speedup": t_cold / t_warm, "warm_cache_hits": warm.n_cached,
            "identical_results": same, "model": net.info.id, "random_weights": net.random_weights}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=48)
    ap.add_argument("--model", default="tiny", help="model for the cache benchmark (the cached work is decode + preprocessing + inference)")
    ap.add_argument("--json", default=None)
    ap.add_argument("--intake-only", action="store_true", help="only the intake benchmark (no noise reduction, no cached run)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="wb_pre_"))
    t0 = time.perf_counter()
    clips = make_clips(work, args.clips)
    print(f"{args.clips} clips × 5 formats written in {time.perf_counter() - t0:.1f} s to {work}")
    intake = bench_intake(clips)
    print(f"\n{'format':<6} {'files':>5} {'audio s':>8} {'load s':>7} {'load ×RT':>9} {'trim ×RT':>9}")
    for r in intake:
        print(f"{r['format']:<6} {r['files']:>5} {r['audio_s']:>8.1f} {r['load_s']:>7.2f} {r['load_x_realtime']:>9.0f} {r['trim_x_realtime']:>9.0f}")
    old = bench_ffmpeg_subprocess(clips["m4a"])
    m4a = next(r for r in intake if r["format"] == "m4a")
    if old is None:
        print("baseline (ffmpeg subprocess per m4a) not measured: no ffmpeg/ffprobe on the PATH")
    else:
        print(f"baseline, m4a through ffprobe + an ffmpeg subprocess per file: {old['load_x_realtime']:.0f}× real time; "
              f"PyAV in-process: {m4a['load_x_realtime']:.0f}× ({m4a['load_x_realtime'] / old['load_x_realtime']:.1f}× faster)")
    if args.intake_only:
        if args.json:
            Path(args.json).write_text(json.dumps({"intake": intake, "m4a_ffmpeg_baseline": old, "clips": args.clips}, indent=2))
        shutil.rmtree(work, ignore_errors=True)
        return 0
    den = bench_denoise()
    print()
    for r in den:
        print(f"noisereduce {'stationary' if r['stationary'] else 'non-stationary':<15}: {r['seconds_per_audio_minute']:.2f} s per audio-minute")
    cache = bench_cache(clips, work, args.model)
    print(f"\nrun of {cache['rows']} rows (2 variants, model {cache['model']}): cold {cache['cold_s']:.1f} s, "
          f"cached re-run {cache['warm_s']:.2f} s → {cache['speedup']:.0f}× faster (goal ≥ 20×); "
          f"{cache['warm_cache_hits']} cache hits; results identical: {cache['identical_results']}")
    if args.json:
        Path(args.json).write_text(json.dumps({"intake": intake, "m4a_ffmpeg_baseline": old, "denoise": den, "cache": cache,
                                               "clips": args.clips}, indent=2))
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
