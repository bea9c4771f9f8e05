#!/usr/bin/env python3
"""The Ray engine against the local engine on one machine: throughput, memory, equivalence.

    python benchmarks/ray_engine.py                         # CPU, large architecture, 2 actors
    python benchmarks/ray_engine.py --model tiny --clips 64  # quick
    python benchmarks/ray_engine.py --device cuda --actors 1 --clips 512

The same synthetic clips (seeded, 2–10 s, 16 kHz WAV) are run with
``workbench.runs.driver.run`` twice, without the prediction cache: ``engine="local"``
(this process) and ``engine="ray"`` (a local Ray cluster started by the run,
``--actors`` Ray Data actors each holding a model; the wall time includes
starting the cluster and loading the actors' models, as a user pays it).
Printed: wall seconds, audio-seconds per wall-second, the Ray engine's
ratio to local, peak RSS of this process and of the cluster's workers, and
equivalence of the two tables (top-1 agreement, max |Δ score|, min cosine of
the utterance embeddings).  On one machine the Ray engine cannot beat the
local one by much — its purpose is more GPUs and more machines — so what this
measures is its overhead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="random-large", help="random-large (default), tiny, a checkpoint folder or hub id")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--min-s", type=float, default=2.0)
    ap.add_argument("--max-s", type=float, default=10.0)
    ap.add_argument("--actors", type=int, default=2)
    ap.add_argument("--cpus-per-actor", type=float, default=1.0)
    ap.add_argument("--chunk", type=int, default=8, help="items per chunk (the unit an actor takes)")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()

    import pandas as pd
    import torch

    from benchmarks.inference import make_clips
    from workbench.engine.ray_executor import RayOptions
    from workbench.data.manifest import Item, Manifest, write_manifest
    from workbench.model.ref import ModelRef
    from workbench.runs.driver import run

    work = Path(tempfile.mkdtemp(prefix="wb-ray-bench-"))
    paths, audio_s = make_clips(work, args.clips, args.min_s, args.max_s, seed=0)
    manifest = write_manifest(Manifest([Item(id=p.stem, path=p.name) for p in paths], root=work), work / "manifest.csv")
    print(f"{args.clips} clips, {audio_s:.1f} s of audio; model {args.model} on {args.device} ({args.dtype}); "
          f"{os.cpu_count()} CPU cores, torch threads {torch.get_num_threads()}")

    figures: dict = {"machine": platform.platform(), "cpus": os.cpu_count(), "clips": args.clips, "audio_seconds": audio_s,
                     "model": args.model, "device": args.device, "dtype": args.dtype, "actors": args.actors, "chunk": args.chunk}
    tables = {}
    for engine in ("local", "ray"):
        t0 = time.perf_counter()
        res = run(manifest, out_dir=work / engine, model=ModelRef(args.model, device=args.device, dtype=args.dtype), use_cache=False,
                  chunk_size=args.chunk, engine=engine,
                  ray_options=RayOptions(actors=args.actors, cpus_per_actor=args.cpus_per_actor) if engine == "ray" else None)
        wall = time.perf_counter() - t0
        tables[engine] = (pd.read_parquet(res.run_dir / "results.parquet"), np.load(res.run_dir / "embeddings.npy"))
        figures[engine] = {"wall_s": round(wall, 2), "x_realtime": round(audio_s / wall, 2), "failed": res.n_failed,
                           "workers": res.summary.get("engine", {}).get("workers")}
        print(f"{engine:>5}: {wall:7.1f} s wall, {audio_s / wall:6.2f}× real time, {res.n_failed} failed")
    (a, ea), (b, eb) = tables["local"], tables["ray"]
    scores = [c for c in a.columns if c.startswith("score_")]
    ok = (a["status"] == "ok") & (b["status"] == "ok")
    na = ea[ok.to_numpy()] / np.linalg.norm(ea[ok.to_numpy()], axis=1, keepdims=True)
    nb = eb[ok.to_numpy()] / np.linalg.norm(eb[ok.to_numpy()], axis=1, keepdims=True)
    figures["equivalence"] = {
        "same_rows": list(a["id"]) == list(b["id"]),
        "top1_agreement": float((a.loc[ok, "pred"] == b.loc[ok, "pred"]).mean()),
        "max_abs_score_diff": float(np.abs(a.loc[ok, scores].to_numpy(float) - b.loc[ok, scores].to_numpy(float)).max()),
        "min_embedding_cosine": float((na * nb).sum(axis=1).min()),
    }
    figures["ray_vs_local"] = round(figures["local"]["wall_s"] / figures["ray"]["wall_s"], 3)
    figures["peak_rss_mb_driver"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    figures["peak_rss_mb_children"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    e = figures["equivalence"]
    print(f"ray / local throughput: {figures['ray_vs_local']:.2f}×  (ray wall includes cluster start and {args.actors} model loads)")
    print(f"equivalence: same rows {e['same_rows']}, top-1 {e['top1_agreement'] * 100:.1f} %, max |Δ score| {e['max_abs_score_diff']:.1e}, "
          f"min cos {e['min_embedding_cosine']:.6f}")
    print(f"peak RSS: driver {figures['peak_rss_mb_driver']:.0f} MB, largest child process {figures['peak_rss_mb_children']:.0f} MB")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
