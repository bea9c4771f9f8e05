#!/usr/bin/env python3
"""Inference speed: FunASR's per-file loop against the workbench path, in one process.

    python benchmarks/inference.py                      # CPU: fp32 and int8, large architecture
    python benchmarks/inference.py --device cuda --dtype bfloat16 --clips 256

A full-size random checkpoint of the emotion2vec_plus_large architecture is
built once (weights do not change speed) and checked against the published
parameter count (~300 M).  The same synthetic clips (seeded, 2–10 s, written
as 16 kHz WAV files) go through

  (a) ``funasr.AutoModel.generate(path)`` one file at a time — what most users do;
  (b) ``Emotion2vecModel.predict_files(paths)`` — decoding overlapped with
      length-bucketed batched inference, in each ``--dtype`` asked for,

alternating (a, b, a, b …) so that drift of the machine hits both.  Printed:
audio-seconds per wall-second, the ratio to (a), peak memory, and equivalence
against (a): top-1 agreement, max |Δ score|, min embedding cosine.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
PUBLISHED_PARAMS = 300e6  # model card of iic/emotion2vec_plus_large: "~300M"


def make_clips(folder: Path, n: int, lo: float, hi: float, seed: int) -> tuple[list[Path], float]:
    import soundfile as sf

    rng = np.random.default_rng(seed)
    paths, total = [], 0.0
    for i in range(n):
        dur = float(rng.uniform(lo, hi))
        t = np.arange(int(dur * 16000)) / 16000
        f0 = 110 + 60 * rng.random() + 30 * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * t)
        phase = 2 * np.pi * np.cumsum(f0) / 16000
        y = sum((0.5 / k) * np.sin(k * phase) for k in range(1, 10))
        y = 0.3 * y * np.clip(np.sin(2 * np.pi * rng.uniform(2, 6) * t), 0, None) + 0.01 * rng.standard_normal(len(t))
        p = folder / f"clip{i:04d}.wav"
        sf.write(p, y.astype(np.float32), 16000, subtype="PCM_16")
        paths.append(p)
        total += len(t) / 16000
    return paths, total


class PeakRSS:
    """Peak resident memory of this process while the block runs (sampled every 20 ms)."""

    def __enter__(self):
        import psutil

        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _run(self):
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def cuda_sync(device: str):
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def run_funasr(automodel, paths, device):
    out = []
    cuda_sync(device)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        for p in paths:
            r = automodel.generate(str(p), granularity="utterance", extract_embedding=True)[0]
            out.append((np.asarray(r["scores"], dtype=np.float64), np.asarray(r["feats"], dtype=np.float64)))
    cuda_sync(device)
    return time.perf_counter() - t0, out


def run_workbench(model, paths, device, batch_policy=None):
    cuda_sync(device)
    t0 = time.perf_counter()
    preds = model.predict_files(paths, embeddings=True, policy=batch_policy)
    cuda_sync(device)
    elapsed = time.perf_counter() - t0
    bad = [p for p in preds if isinstance(p, Exception)]
    if bad:
        raise RuntimeError(f"{len(bad)} clips failed: {bad[0]}")
    return elapsed, [(p.scores, p.embedding.astype(np.float64)) for p in preds]


def equivalence(ref, other):
    from workbench.labels import LABEL_KEYS  # noqa: F401  (same order in both)

    top = np.mean([np.argmax(a[0]) == np.argmax(b[0]) for a, b in zip(ref, other)])
    dscore = max(float(np.abs(a[0] - b[0]).max()) for a, b in zip(ref, other))
    cos = min(float(a[1] @ b[1] / (np.linalg.norm(a[1]) * np.linalg.norm(b[1]))) for a, b in zip(ref, other))
    return {"top1_agreement": float(top), "max_abs_score_diff": dscore, "min_embedding_cosine": cos}


def main() -> int:
    import logging

    logging.basicConfig(level=logging.WARNING)  # before FunASR configures the root logger at INFO
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", nargs="+", default=None, help="workbench dtypes to measure (default: float32 int8 on CPU, float32 bfloat16 on CUDA)")
    ap.add_argument("--arch", default="large", choices=["tiny", "base", "large"])
    ap.add_argument("--clips", type=int, default=64)
    ap.add_argument("--min-seconds", type=float, default=2.0)
    ap.add_argument("--max-seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds; the best round of each path is reported")
    ap.add_argument("--funasr-clips", type=int, default=None, help="time FunASR's loop on the first N clips only (it is the slow one)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    args = ap.parse_args()

    import torch

    from workbench.checkpoints import ensure_random_checkpoint, random_checkpoint_info
    from workbench.model import auto_device, load_model, import_funasr

    device = auto_device() if args.device == "auto" else args.device
    dtypes = args.dtype or (["float32", "bfloat16"] if device.startswith("cuda") else ["float32", "int8"])
    print(f"machine: {platform.node()} | {platform.processor() or platform.machine()} | {os.cpu_count()} CPUs | torch {torch.__version__} threads {torch.get_num_threads()}")
    if device.startswith("cuda"):
        print(f"device: {torch.cuda.get_device_name(0)}")
    t0 = time.perf_counter()
    ck = ensure_random_checkpoint(args.arch)
    n_params = random_checkpoint_info(ck)["parameters"]
    print(f"checkpoint: random {args.arch} at {ck} ({n_params / 1e6:.1f} M parameters; published plus_large: ~300 M) [{time.perf_counter() - t0:.1f}s]")
    if args.arch == "large" and not (0.9 * PUBLISHED_PARAMS < n_params < 1.15 * PUBLISHED_PARAMS):
        print(f"!! parameter count {n_params / 1e6:.1f} M is not near the published ~300 M")

    with tempfile.TemporaryDirectory() as tmp:
        paths, total_audio = make_clips(Path(tmp), args.clips, args.min_seconds, args.max_seconds, args.seed)
        f_paths = paths[: args.funasr_clips] if args.funasr_clips else paths
        f_audio = sum(__import__("soundfile").info(str(p)).duration for p in f_paths)
        print(f"data: {len(paths)} clips, {total_audio:.0f} s of audio ({args.min_seconds:g}–{args.max_seconds:g} s each); FunASR loop on {len(f_paths)} clips ({f_audio:.0f} s)")

        funasr = import_funasr()
        with contextlib.redirect_stdout(io.StringIO()):
            ref_model = funasr.AutoModel(model=str(ck), device=device, disable_update=True, disable_pbar=True, log_level="ERROR", ncpu=torch.get_num_threads())
        models = {dt: load_model(str(ck), device=device, dtype=dt) for dt in dtypes}
        # warm-up (CUDA kernels, allocator, thread pools) on two clips each
        run_funasr(ref_model, paths[:2], device)
        for m in models.values():
            run_workbench(m, paths[:2], device)

        best: dict[str, float] = {}
        outs: dict[str, list] = {}
        peaks: dict[str, float] = {}
        for r in range(args.rounds):
            order = [("funasr", None)] + [(f"workbench[{dt}]", dt) for dt in dtypes]
            for name, dt in order:
                if device.startswith("cuda"):
                    torch.cuda.reset_peak_memory_stats()
                with PeakRSS() as mem:
                    if dt is None:
                        elapsed, out = run_funasr(ref_model, f_paths, device)
                    else:
                        elapsed, out = run_workbench(models[dt], paths, device)
                peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else mem.peak / 2**30
                audio_s = f_audio if dt is None else total_audio
                speed = audio_s / elapsed
                print(f"round {r + 1}: {name:<22} {elapsed:8.2f} s wall  {speed:8.1f}× real time  peak {'GPU' if device.startswith('cuda') else 'RSS'} {peak:.2f} GiB")
                if speed > best.get(name, 0):
                    best[name], outs[name], peaks[name] = speed, out, peak

    base = best["funasr"]
    ref = outs["funasr"]
    n_ref = len(ref)
    print("\nresult (best round of each):")
    print(f"{'path':<22} {'× real time':>12} {'vs FunASR':>10} {'peak GiB':>9} {'top-1 agree':>12} {'max |Δscore|':>13} {'min cos':>9}")
    figures = {"device": device, "arch": args.arch, "parameters": n_params, "clips": len(paths), "audio_seconds": total_audio, "paths": {}}
    for name in best:
        eq = equivalence(ref, outs[name][:n_ref]) if name != "funasr" else {"top1_agreement": 1.0, "max_abs_score_diff": 0.0, "min_embedding_cosine": 1.0}
        ratio = best[name] / base
        print(f"{name:<22} {best[name]:12.1f} {ratio:9.2f}× {peaks[name]:9.2f} {eq['top1_agreement']:12.3f} {eq['max_abs_score_diff']:13.2e} {eq['min_embedding_cosine']:9.6f}")
        figures["paths"][name] = {"x_real_time": best[name], "vs_funasr": ratio, "peak_gib": peaks[name], **eq}
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
