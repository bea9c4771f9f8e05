#!/usr/bin/env python3
"""float32 PyTorch on a CPU: the Linear layers through oneDNN (what the loader does on AMD CPUs) against PyTorch's
own BLAS (MKL's sgemm), on the same loaded model and clips, interleaved round by round.

    python benchmarks/float32_linear.py                      # large architecture, 8 clips of 3-6 s, 3 rounds
    python benchmarks/float32_linear.py --arch tiny --rounds 5

Weights do not change speed: a seeded random checkpoint of the architecture is used.  Printed: each path's seconds
per round, best and median, the speed-up best against best, the machine's float32 matmul peak both ways
(2048², this process's threads), and the agreement of the two paths' outputs (top-1, max |Δ score|, min
embedding cosine): the route changes the order of float32 sums, nothing else.  ``--json`` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def matmul_gflops(fn, n: int = 2048, seconds: float = 1.5) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    fn(a, b)
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        fn(a, b)
        best = max(best, 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="large", choices=["tiny", "base", "large"])
    ap.add_argument("--clips", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    import torch

    from workbench.model.checkpoints import ensure_random_checkpoint
    from workbench.model.network import load_model
    from workbench.model.precision import cpu_vendor
    from workbench.model.prepack import onednn_linear_class, route_float32_linears

    model = load_model(str(ensure_random_checkpoint(args.arch)), device="cpu", dtype="float32")
    layers = [m for m in model.network.modules() if type(m) in (torch.nn.Linear, onednn_linear_class())]
    if not any(type(m) is onednn_linear_class() for m in layers):
        route_float32_linears(model.network)  # a CPU the loader leaves alone: measured all the same
    rng = np.random.default_rng(0)
    clips = [(0.1 * rng.standard_normal(int(16000 * rng.uniform(3, 6)))).astype(np.float32) for _ in range(args.clips)]
    audio_s = sum(len(c) for c in clips) / 16000
    print(f"machine: {platform.node()} | {cpu_vendor()} | {os.cpu_count()} cores | torch {torch.__version__} "
          f"threads {torch.get_num_threads()} | load average {os.getloadavg()[0]:.2f}")
    print(f"model: random {args.arch}, {len(layers)} Linear layers; {args.clips} clips, {audio_s:.1f} s of audio; "
          f"loader's float32_math: {model.info.float32_math}")
    classes = {"onednn": onednn_linear_class(), "blas": torch.nn.Linear}
    seconds: dict[str, list[float]] = {k: [] for k in classes}
    outs = {}
    model.predict(clips[:2])
    for r in range(args.rounds):
        for name, cls in classes.items():
            for m in layers:
                m.__class__ = cls
            t0 = time.perf_counter()
            outs[name] = model.predict(clips)
            seconds[name].append(time.perf_counter() - t0)
            print(f"round {r + 1}: {name:7s} {seconds[name][-1]:.2f} s  ({audio_s / seconds[name][-1]:.1f}× real time)  "
                  f"load {os.getloadavg()[0]:.2f}")
    a, b = outs["onednn"], outs["blas"]
    delta = max(float(np.abs(x.scores - y.scores).max()) for x, y in zip(a, b))
    cos = min(float(x.embedding @ y.embedding / (np.linalg.norm(x.embedding) * np.linalg.norm(y.embedding))) for x, y in zip(a, b))
    same = sum(x.label == y.label for x, y in zip(a, b))
    peaks = {"blas": matmul_gflops(torch.mm),
             "onednn": matmul_gflops(lambda x, w: torch.ops.mkldnn._linear_pointwise(x, w, None, "none", [], ""))}
    best = {k: min(v) for k, v in seconds.items()}
    figures = {"arch": args.arch, "clips": args.clips, "audio_s": audio_s, "vendor": cpu_vendor(), "seconds": seconds,
               "best_s": best, "median_s": {k: float(np.median(v)) for k, v in seconds.items()},
               "speedup_best": best["blas"] / best["onednn"], "matmul_peak_gflops": peaks,
               "top1_same": same, "max_abs_delta_score": delta, "cosine_min": cos, "float32_math": model.info.float32_math}
    print(f"best rounds: oneDNN {best['onednn']:.2f} s, PyTorch's BLAS {best['blas']:.2f} s: {figures['speedup_best']:.2f}× "
          f"(medians {figures['median_s']['onednn']:.2f} / {figures['median_s']['blas']:.2f} s)")
    print(f"float32 matmul peak 2048²: BLAS {peaks['blas']:.0f} GFLOP/s, oneDNN {peaks['onednn']:.0f} GFLOP/s")
    print(f"agreement of the two paths: top-1 {same}/{len(a)}, max |Δ score| {delta:.2e}, min embedding cosine {cos:.7f}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
