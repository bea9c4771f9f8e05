#!/usr/bin/env python3
"""Seconds to explain one clip, per attribution method, and its faithfulness measures.

    python benchmarks/explain.py                                  # tiny checkpoint, CPU, a 5 s clip
    python benchmarks/explain.py --device cuda --model large-random
    python benchmarks/explain.py --seconds 5 --rounds 3 --threads 2

The clip is seeded synthetic speech-like audio (harmonics with a wandering F0,
syllable envelope, a little noise).  ``large-random`` is a seeded random
checkpoint of the emotion2vec_plus_large architecture (weights do not change
speed; the scores mean nothing).  Printed per method: attribution seconds
(median of ``--rounds``), deletion/insertion curve seconds, the randomisation
check seconds, and the load average so a busy machine is visible.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def speech_like(seconds: float, seed: int = 0, sr: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    t = np.arange(n) / sr
    f0 = 130 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = sum((0.6 / k) * np.sin(k * phase) for k in range(1, 12))
    env = np.clip(np.sin(2 * np.pi * 4 * t), 0, None) ** 0.7
    return (0.3 * y * env + 0.003 * rng.standard_normal(n)).astype(np.float32)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny", help="tiny, large-random (= random-large), cue, or a checkpoint folder")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--methods", default="ig,occlusion,tf-occlusion")
    ap.add_argument("--no-faithfulness", action="store_true")
    args = ap.parse_args()

    import torch

    from workbench.explain.attribution import ClassScore, integrated_gradients, tf_occlusion, time_occlusion
    from workbench.explain.faithfulness import faithfulness, randomisation_check
    from workbench.model.network import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model({"large-random": "random-large"}.get(args.model, args.model), device=args.device)
    fns = {"ig": integrated_gradients, "occlusion": time_occlusion, "tf-occlusion": tf_occlusion}
    y = speech_like(args.seconds)
    scorer = ClassScore(model)
    target = "angry"
    print(f"model {model.info.id} ({model.info.parameters:,} parameters) on {args.device}, torch threads {torch.get_num_threads()}, "
          f"clip {args.seconds:.1f} s, load average {os.getloadavg()[0]:.1f}")
    if model.info.warning:
        print(f"!! {model.info.warning}")
    fns["ig"](scorer, y[:16000], target, n_steps=4)  # warm-up (first call pays for lazy imports and allocator growth)
    for name in args.methods.split(","):
        times = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            a = fns[name](scorer, y, target)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        line = f"{name:>13}: attribution {statistics.median(times):7.2f} s"
        if not args.no_faithfulness:
            t0 = time.perf_counter()
            f = faithfulness(scorer, y, a)
            tf = time.perf_counter() - t0
            t0 = time.perf_counter()
            r = randomisation_check(model, y, a, fns[name])
            tr = time.perf_counter() - t0
            line += (f" · deletion/insertion (5 orders: method, 3 random, frame score; × 2 curves × 21 points) {tf:6.2f} s · randomisation {tr:6.2f} s"
                     f" · del AUC {f.method.deletion_auc:.3f} (random {f.random.deletion_auc:.3f}) ins AUC {f.method.insertion_auc:.3f}"
                     f" (random {f.random.insertion_auc:.3f}) · rank corr after randomisation {r.spearman[-1]:.2f}")
        print(line, flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
