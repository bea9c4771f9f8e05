#!/usr/bin/env python3
"""Seconds to explain a clip with every method and every check, before and after (issue #28 item 4).

    python benchmarks/explain_speed.py                       # tiny, CPU, a 5 s clip, 2 torch threads
    python benchmarks/explain_speed.py --model large-random --device cuda --seconds 5

Measured in one process, interleaved round by round so that load on a shared
machine hits both alike:

* **before**: ``explain_clip`` with all methods (IG with its stability seeds,
  occlusion, time-frequency occlusion), faithfulness against 32 random orders
  and the full model-randomisation check, every perturbed clip sent through
  the model one at a time (``ClassScore(model, max_batch=1, forward=None)``), nothing cached;
* **after, first time**: the same, perturbations batched to the device's batch
  budget (``ClassScore(model)``);
* **after, again**: the same explanation read back from the run folder's cache
  (:mod:`workbench.explain.cache`: verify the checksums, return the record, the
  figure and the span), which is what a second ``workbench explain RUN --item``
  with the same settings does instead of computing.

The load average is printed beside every figure; the target (``tiny``, 5 s,
2 idle cores) is 10 s for all methods.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.explain import speech_like  # noqa: E402

TARGET_S = 10.0


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f} (5 min {five:.1f})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny", help="tiny, large-random, cue, or a checkpoint folder")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=1, help="rounds of before/after (the median is printed)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--skip-before", action="store_true", help="measure only the batched path and the cache")
    args = ap.parse_args()

    from workbench.cli import prepare_process

    prepare_process()  # torch's threads wait as in `workbench explain` (OMP_WAIT_POLICY=PASSIVE unless set)
    import numpy as np
    import torch

    from workbench.explain.attribution import ClassScore
    from workbench.explain.cache import Rendered, cache_key, read_cached, write_cached
    from workbench.explain.explanation import explain_clip
    from workbench.model.network import load_model
    from workbench.runs.folder import RunFolder

    torch.set_num_threads(args.threads)
    model = load_model({"large-random": "random-large"}.get(args.model, args.model), device=args.device)
    y = speech_like(args.seconds)
    print(f"model {model.info.id} ({model.info.parameters:,} parameters) on {args.device}, torch threads {torch.get_num_threads()}, "
          f"clip {args.seconds:.1f} s, all methods (ig, occlusion, tf-occlusion) with every check; {_load()}", flush=True)
    if model.info.warning:
        print(f"!! {model.info.warning}")
    explain_clip(model, y[:8000], methods=("occlusion",), steps=2, n_random=10, randomisation=None)  # warm-up

    def timed(scorer):
        t0, c0 = time.perf_counter(), time.process_time()
        expl = explain_clip(model, y, scorer=scorer)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        cpu[scorer.max_batch] = time.process_time() - c0  # CPU seconds: on a shared machine, closer to what an idle one takes
        return time.perf_counter() - t0, expl

    cpu: dict = {}

    before, after, cached = [], [], []
    for r in range(args.rounds):
        if not args.skip_before:
            s, e0 = timed(ClassScore(model, max_batch=1, forward=None))
            before.append(s)
            print(f"  round {r + 1}: before (one clip per pass, no cache) {s:7.2f} s (CPU {cpu[1]:.1f} s) · {_load()}", flush=True)
        s, expl = timed(ClassScore(model))
        after.append(s)
        print(f"  round {r + 1}: after, first time (batched to the budget of {ClassScore(model).budget_s:g} s of audio) {s:7.2f} s "
              f"(CPU {cpu[None]:.1f} s) · {_load()}", flush=True)
        if not args.skip_before:
            gap = max(float(np.max(np.abs(e0.attributions[m].frame_relevance - expl.attributions[m].frame_relevance)))
                      for m in expl.attributions)
            print(f"           largest |batched - one per pass| over the maps: {gap:.2g}")
        with tempfile.TemporaryDirectory() as tmp:
            rf = RunFolder(tmp)
            key = cache_key({"id": "bench", "variant": "raw"}, model={"checksum": model.info.checksum}, settings={"methods": "all"})
            write_cached(rf, key, Rendered(expl.to_dict(), b"\0" * 200_000, b"\0" * 20_000, ["line"] * 12))  # a figure-sized PNG
            t0 = time.perf_counter()
            got, _ = read_cached(rf, key)
            cached.append(time.perf_counter() - t0)
            assert got is not None
        print(f"  round {r + 1}: after, again (read from the run folder's cache, checksums verified) {cached[-1]:7.3f} s", flush=True)
    med = {k: statistics.median(v) for k, v in (("before", before), ("after", after), ("cached", cached)) if v}
    line = f"median of {args.rounds}: "
    if "before" in med:
        line += f"before {med['before']:.2f} s · "
    line += f"after {med['after']:.2f} s (first time), {med['cached']:.3f} s (again, from the cache)"
    if "before" in med:
        line += f" · batching {med['before'] / med['after']:.2f}x"
    print(line)
    met = med["after"] <= TARGET_S
    print(f"target all methods ≤ {TARGET_S:g} s for a 5 s clip with tiny on 2 idle cores: {'met' if met else 'not met'} "
          f"({med['after']:.2f} s) · {_load()} (a loaded machine is slower: compare with an idle one)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
