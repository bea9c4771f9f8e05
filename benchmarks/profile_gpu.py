#!/usr/bin/env python3
"""Profile one batched forward of the large architecture: where does GPU time go?

    python benchmarks/profile_gpu.py --dtype bfloat16 --batch 64 --seconds 6
    python benchmarks/profile_gpu.py --dtype bfloat16 --front-end float32   # FunASR's float32 round trips, to compare
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    logging.basicConfig(level=logging.WARNING)
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=6.0)
    ap.add_argument("--arch", default="large")
    ap.add_argument("--attention", default="fused", choices=["fused", "funasr"])
    ap.add_argument("--front-end", default="low", choices=["low", "float32"], help="bf16/fp16: front-end layer norms in the low dtype (default) or through float32 copies (FunASR's)")
    args = ap.parse_args()
    import torch
    from torch.profiler import ProfilerActivity, profile

    from workbench.model.checkpoints import ensure_random_checkpoint
    from workbench.model.network import BatchPolicy, load_model

    model = load_model(str(ensure_random_checkpoint(args.arch)), device="cuda", dtype=args.dtype, progress=lambda line: print(line, file=sys.stderr))
    model.attention = args.attention
    model.low_precision_front_end = args.front_end == "low"
    rng = np.random.default_rng(0)
    clips = [(0.1 * rng.standard_normal(int(16000 * args.seconds * rng.uniform(0.9, 1.0)))).astype(np.float32) for _ in range(args.batch)]
    policy = BatchPolicy(max_batch_size=args.batch, max_batch_seconds=1e9, max_pad_fraction=1.0)
    for _ in range(3):
        model.predict(clips, policy=policy)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    n = 5
    for _ in range(n):
        model.predict(clips, policy=policy)
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / n
    audio = sum(len(c) for c in clips) / 16000
    print(f"one batch of {args.batch} × ~{args.seconds:g} s in {args.dtype}: {dt * 1000:.1f} ms → {audio / dt:.0f}× real time")
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        model.predict(clips, policy=policy)
        torch.cuda.synchronize()
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=22, max_name_column_width=60))
    return 0


if __name__ == "__main__":
    sys.exit(main())
