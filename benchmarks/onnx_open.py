#!/usr/bin/env python3
"""Opening an ONNX Runtime session on the export `--dtype auto` runs: the kept optimised graph against optimising again.

    python benchmarks/onnx_open.py                      # tiny, int8 and float32, 8 interleaved rounds
    python benchmarks/onnx_open.py --arch base --rounds 4

Each round loads the cached export (``load_onnx_model``) in a fresh process twice per precision: once with
``WORKBENCH_ORT_OPTIMIZED=0`` (ONNX Runtime optimises the graph as it opens it, the code before) and once through
the optimised graph kept for this CPU (:mod:`workbench.model.onnx_optimized`), made and checked before the rounds.
Printed: the load's wall and CPU seconds (the process's own clock, start-up and imports not counted), best and
median per path, and the scores of both sessions on seeded clips (must be equal bit for bit).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CHILD = r"""
import json, sys, time
import numpy as np
from workbench.model.onnx_backend import load_onnx_model, check_clips
c, t = time.process_time(), time.perf_counter()
m = load_onnx_model(sys.argv[1], dtype=sys.argv[2])
wall, cpu = time.perf_counter() - t, time.process_time() - c
scores = [p.scores.tolist() for p in m.predict(check_clips(3, seed=7))]
print(json.dumps({"wall": wall, "cpu": cpu, "opened": m.opened, "scores": scores}))
"""


def child(folder: Path, dtype: str, kept: bool) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if not kept:
        env["WORKBENCH_ORT_OPTIMIZED"] = "0"
    out = subprocess.run([sys.executable, "-c", CHILD, str(folder), dtype], capture_output=True, text=True, env=env, cwd=str(REPO))
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="tiny", choices=["tiny", "base", "large"])
    ap.add_argument("--dtypes", nargs="+", default=["int8", "float32"], choices=["int8", "float32"])
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    from workbench.model.checkpoints import ensure_random_checkpoint
    from workbench.model.fastpath import ensure_export
    from workbench.model.network import load_model

    ck = ensure_random_checkpoint(args.arch)
    folder, _ = ensure_export(load_model(str(ck), device="cpu", dtype="float32"))
    print(f"export: {folder} | load average {os.getloadavg()[0]:.2f}")
    figures: dict = {"arch": args.arch, "paths": {}}
    for dtype in args.dtypes:
        first = child(folder, dtype, kept=True)  # makes and checks the kept graph where none is yet
        print(f"{dtype}: first load {first['opened']} ({first['wall']:.3f} s)")
        runs: dict[str, list] = {"optimise at open": [], "kept graph": []}
        for _ in range(args.rounds):
            for name, kept in (("optimise at open", False), ("kept graph", True)):
                runs[name].append(child(folder, dtype, kept))
        same = all(a["scores"] == b["scores"] for a, b in zip(runs["optimise at open"], runs["kept graph"]))
        for name, rs in runs.items():
            walls, cpus = [r["wall"] for r in rs], [r["cpu"] for r in rs]
            opened = sorted({r["opened"] for r in rs})
            print(f"  {dtype:8s} {name:17s} wall best {min(walls):.3f} median {statistics.median(walls):.3f} s | "
                  f"CPU best {min(cpus):.3f} median {statistics.median(cpus):.3f} s | opened {opened}")
            figures["paths"][f"{dtype}:{name}"] = {"wall_s": walls, "cpu_s": cpus, "opened": opened}
        print(f"  {dtype:8s} scores equal bit for bit in every round: {same}")
        figures["paths"][f"{dtype}:equal"] = same
    figures["load_average_end"] = os.getloadavg()[0]
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
