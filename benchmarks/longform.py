#!/usr/bin/env python3
"""Long-audio benchmark: peak memory and wall time of ``workbench segment`` on a
synthetic recording of any length (default 30 minutes).

The recording is written block by block (it is never in memory whole): the
demo set's synthetic sentences at random gains, separated by pauses of
0.2–3 s, with a monologue of sentences joined by 80 ms gaps every few minutes
(longer than ``--max`` so the splitter works), over a -60 dBFS noise floor,
at 44.1 kHz so the streaming resampler runs too.

Then, in a fresh process each, it measures
  (a) interpreter + workbench + model + VAD loaded, no audio;
  (b) ``segment_file`` on a one-minute recording made the same way;
  (c) ``segment_file`` on the whole recording;
and prints wall time, real-time factor, peak RSS of each, how much more (c)
needs than (b) — memory that grows with length — the longest the audio buffer
got, and, for scale, what the file would take as one 16 kHz float32 array.

    python benchmarks/longform.py                       # 30 min, tiny model, silero VAD
    python benchmarks/longform.py --minutes 60 --vad energy --model DIR
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CHILD = r"""
import json, sys, time
sys.path.insert(0, {repo!r})
from workbench.runs.longform import SegmentConfig, segment_file, _SileroVAD
from workbench.model.memory import peak_rss_mb
from workbench.model.network import load_model
t0 = time.perf_counter()
net = load_model({model!r}, device={device!r})
if {vad!r} == "silero":
    _SileroVAD()
if {mode!r} == "baseline":
    print(json.dumps({{"peak_rss_mb": peak_rss_mb(), "seconds": time.perf_counter() - t0}}))
else:
    res = segment_file({path!r}, model=net, out_dir={out!r}, config=SegmentConfig(vad={vad!r}, max_segment_s={max_s}), figures=True)
    s = res.summary
    print(json.dumps({{"peak_rss_mb": peak_rss_mb(), "seconds": s["seconds"], "duration_s": s["duration_s"], "speech_s": s["speech_s"],
                      "n_segments": s["n_segments"], "max_buffer_s": s["max_buffer_s"], "realtime_factor": s["realtime_factor"],
                      "timeline_spans": s["timeline_spans"], "model": s["model"]["id"], "parameters": s["model"]["parameters"],
                      "device": s["model"]["device"]}}))
"""


def write_recording(path: Path, minutes: float, sr: int, max_s: float, seed: int = 0) -> dict:
    import soundfile as sf
    import soxr

    from workbench.audio.intake import load

    rng = np.random.default_rng(seed)
    demo = REPO / "workbench" / "demo_data"
    clips = [soxr.resample(load(p).samples, 16000, sr) for p in sorted(demo.iterdir()) if p.suffix in (".wav", ".flac", ".ogg", ".mp3", ".m4a") and "tone" not in p.name]
    total = int(minutes * 60 * sr)
    written = speech = 0
    n_utt = n_mono = 0
    with sf.SoundFile(path, "w", samplerate=sr, channels=1, subtype="PCM_16") as f:
        while written < total:
            if n_utt and n_utt % 40 == 0:  # a monologue longer than max_s
                pieces = []
                while sum(len(p) for p in pieces) < (max_s * 1.6) * sr:
                    pieces += [clips[rng.integers(len(clips))] * rng.uniform(0.3, 1.0), np.zeros(int(0.08 * sr), np.float32)]
                y = np.concatenate(pieces)
                n_mono += 1
            else:
                y = clips[rng.integers(len(clips))] * rng.uniform(0.2, 1.0)
            gap = np.zeros(int(rng.uniform(0.2, 3.0) * sr), np.float32)
            block = np.concatenate([y, gap])[: total - written]
            block = block + 1e-3 * rng.standard_normal(len(block)).astype(np.float32)
            f.write(np.clip(block, -1, 1))
            written += len(block)
            speech += min(len(y), len(block))
            n_utt += 1
    return {"seconds": written / sr, "speech_seconds": speech / sr, "utterances": n_utt, "monologues": n_mono,
            "size_mb": path.stat().st_size / 1e6}


def child(mode: str, **kw) -> dict:
    code = CHILD.format(repo=str(REPO), mode=mode, **kw)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{mode} run failed:\n{proc.stderr[-3000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_wall_s"] = time.perf_counter() - t0
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--sr", type=int, default=44100)
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--vad", default="silero", choices=["silero", "energy"])
    ap.add_argument("--max", type=float, default=25.0)
    ap.add_argument("--workdir", default=None, help="where the recording and outputs go (default: a temporary folder)")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()

    work = Path(args.workdir or tempfile.mkdtemp(prefix="wb_longform_"))
    work.mkdir(parents=True, exist_ok=True)
    rec = work / f"synthetic_{args.minutes:g}min_{args.sr}.wav"
    t0 = time.perf_counter()
    facts = write_recording(rec, args.minutes, args.sr, args.max)
    print(f"recording: {rec} — {facts['seconds'] / 60:.1f} min at {args.sr} Hz, {facts['size_mb']:.0f} MB, "
          f"{facts['utterances']} utterances ({facts['monologues']} monologues > {args.max:g} s), written in {time.perf_counter() - t0:.1f} s")
    kw = dict(model=args.model, device=args.device, vad=args.vad, path=str(rec), out=str(work / "out"), max_s=args.max)
    short = work / f"synthetic_1min_{args.sr}.wav"
    write_recording(short, 1.0, args.sr, args.max)
    base = child("baseline", **kw)
    one = child("segment", **{**kw, "path": str(short), "out": str(work / "out_1min")})
    res = child("segment", **kw)
    whole_mb = facts["seconds"] * 16000 * 4 / 1e6
    print(f"model {res['model']} ({res['parameters']:,} parameters) on {res['device']}, VAD {args.vad}")
    print(f"segments: {res['n_segments']} ({res['speech_s'] / 60:.1f} min of speech), timeline spans {res['timeline_spans']}")
    s = res["seconds"]
    print(f"wall: {s['total']:.1f} s for {res['duration_s'] / 60:.1f} min of audio = {res['realtime_factor']:.1f}× real time "
          f"(decode+resample {s['decode_resample']:.1f} s, VAD {s['vad']:.1f} s, inference {s['inference']:.1f} s)")
    print(f"peak RSS: {res['peak_rss_mb']:.0f} MB for {res['duration_s'] / 60:.0f} min of audio, {one['peak_rss_mb']:.0f} MB for 1 min "
          f"({res['peak_rss_mb'] - one['peak_rss_mb']:+.0f} MB), {base['peak_rss_mb']:.0f} MB with model and VAD loaded and no audio")
    print(f"audio buffer peaked at {res['max_buffer_s']:.1f} s; the whole file as one 16 kHz float32 array would be {whole_mb:.0f} MB")
    if args.json:
        Path(args.json).write_text(json.dumps({"recording": facts, "baseline": base, "one_minute": one, "segment": res, "args": vars(args)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
