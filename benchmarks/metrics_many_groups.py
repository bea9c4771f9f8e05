#!/usr/bin/env python3
"""Peak memory (VmHWM) and wall time of `workbench metrics` on a run with one speaker per clip.

    python benchmarks/metrics_many_groups.py                  # 20,000 clips, 20,000 speakers, 9 classes, with figures
    python benchmarks/metrics_many_groups.py --items 5000 --no-figures --by gender
    python benchmarks/metrics_many_groups.py --code /path/to/other/checkout   # the same run, another checkout's code

The run folder is synthetic (written through ``RunWriter``, like a finished ``workbench run``): the nine
emotion2vec+ classes, one speaker per clip (``s00000`` …), two genders, softmax scores that favour the true class.
Each command runs in a fresh process (imports included); its peak resident memory is the child's ``VmHWM``
(read from /proc at its exit) and its time the wall clock.  ``--by`` as `metrics` takes it (default: speaker and
gender, `metrics`' own default).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_run(path: Path, items: int = 20_000, seed: int = 0, speakers: int | None = None) -> Path:
    """A finished run of ``items`` clips over the nine classes, ``speakers`` speakers (default: one per clip)."""
    from workbench.labels import LABEL_KEYS
    from workbench.runs.writer import RunWriter

    rng = np.random.default_rng(seed)
    speakers = speakers or items
    rf = RunWriter(path)
    rf.prepare({"model": "synthetic (benchmarks/metrics_many_groups.py)", "variants": [{"name": "raw"}]}, ())
    rows, embs = [], []
    for i in range(items):
        e = LABEL_KEYS[i % len(LABEL_KEYS)]
        logits = rng.standard_normal(len(LABEL_KEYS))
        logits[LABEL_KEYS.index(e)] += 1.5
        p = np.exp(logits) / np.exp(logits).sum()
        pred = LABEL_KEYS[int(p.argmax())]
        rows.append({"id": f"u{i:06d}", "variant": "raw", "status": "ok", "emotion": e, "pred": pred,
                     "confidence": float(p.max()), "correct": pred == e, "speaker": f"s{i % speakers:05d}",
                     "gender": "f" if (i % speakers) % 2 else "m", **{f"score_{k}": float(x) for k, x in zip(LABEL_KEYS, p)}})
        embs.append(rng.standard_normal(4).astype(np.float32))
    rf.write_part(rows, embs)
    rf.finalize(item_order={f"u{i:06d}": i for i in range(items)}, variant_order={"raw": 0},
                summary=lambda r: {"rows": len(r), "random_weights": False, "note": "synthetic rows for benchmarks/metrics_many_groups.py"})
    return path


def child(argv: list[str]) -> int:
    """Run `workbench metrics` in this process and print its VmHWM (kB) last, on stderr."""
    sys.path.insert(0, os.environ["PYTHONPATH"].split(os.pathsep)[0])  # the measured checkout's package first
    from workbench.cli import main

    try:
        return main(argv)
    finally:
        peak = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM"))
        print(f"\nPEAK {peak.split()[1]}", file=sys.stderr)


def measured(argv: list[str], code: Path = ROOT) -> tuple[float, float]:
    """``(wall seconds, peak RSS in MB)`` of one fresh-process run of ``argv``, importing the workbench in ``code``."""
    cmd = [sys.executable, __file__, "--child", "--", *argv]
    env = {**os.environ, "PYTHONPATH": str(code) + os.pathsep + os.environ.get("PYTHONPATH", ""), "MPLBACKEND": "Agg"}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr[-3000:]}")
    kb = int(done.stderr.rsplit("PEAK ", 1)[1].split()[0])
    return wall, kb / 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=20_000)
    ap.add_argument("--speakers", type=int, default=None, help="speakers (default: one per clip)")
    ap.add_argument("--by", action="append", default=None, help="breakdown column(s) (default: speaker and gender)")
    ap.add_argument("--no-figures", action="store_true")
    ap.add_argument("--code", type=Path, default=ROOT, help="the checkout whose workbench runs `metrics` (default: this one)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args, rest = ap.parse_known_args()
    if args.child:
        return child([a for a in rest if a != "--"])
    with tempfile.TemporaryDirectory() as tmp:
        run = make_run(Path(tmp) / "run", args.items, speakers=args.speakers)
        by = args.by or ["speaker", "gender"]
        argv = ["metrics", str(run), "--by", *by] + (["--no-figures"] if args.no_figures else [])
        wall, mb = measured(argv, args.code.resolve())
        print(f"{args.items:,} clips, {args.speakers or args.items:,} speakers, 9 classes; metrics --by {' '.join(by)}"
              f"{' --no-figures' if args.no_figures else ''} [{args.code.resolve()}]: {wall:.1f} s, peak RSS {mb:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
