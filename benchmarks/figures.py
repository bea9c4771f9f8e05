#!/usr/bin/env python3
"""What figures cost beside the numbers: `workbench metrics` and `workbench embeddings` on a run of 535 × 3 rows.

    python benchmarks/figures.py                 # 535 items × 3 variants, 1024-d embeddings
    python benchmarks/figures.py --profile       # also the cProfile top 15 of `metrics` with figures
    python benchmarks/figures.py --items 200 --no-umap

The run folder is synthetic (written through ``RunFolder``, like a finished ``workbench run``):
EmoDB-like labels (7 emotions, 10 speakers, 2 genders), softmax scores that favour the true class,
embeddings drawn around one centre per emotion.  Synthetic scores are fine here: this measures
computing metrics and drawing figures, not the model.  Every command runs in a fresh process, as a
user runs it (imports included), and is timed by wall clock.

Printed, each measured in this run:

* ``metrics --no-figures`` against ``metrics`` (with figures): the target is figures ≤ 2× no figures;
* the same two with ``--baseline``: the bootstrap as it was before (one scikit-learn
  ``precision_recall_fscore_support`` call per resample, per group), to show what changed;
* ``embeddings`` without figures (``--color-by`` empty), with PCA figures (the default), with
  UMAP the first time and UMAP again (read from the run folder's cache).
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

EMOTIONS = ("angry", "happy", "neutral", "sad", "fearful", "disgusted", "surprised")


def make_run(path: Path, items: int = 535, variants=("raw", "telephone", "noisy"), dim: int = 1024, seed: int = 0) -> Path:
    """A finished run folder of synthetic rows (see the module docstring), written through RunFolder."""
    from workbench.labels import LABEL_KEYS
    from workbench.runs.writer import RunWriter

    rng = np.random.default_rng(seed)
    rf = RunWriter(path)
    rf.prepare({"model": "synthetic (benchmarks/figures.py)", "variants": [{"name": v} for v in variants]}, ())
    centres = rng.standard_normal((len(EMOTIONS), dim)) * 0.6
    for v in variants:
        rows, embs = [], []
        for i in range(items):
            e = EMOTIONS[i % len(EMOTIONS)]
            logits = rng.standard_normal(len(LABEL_KEYS))
            logits[LABEL_KEYS.index(e)] += 1.5
            p = np.exp(logits) / np.exp(logits).sum()
            pred = LABEL_KEYS[int(p.argmax())]
            rows.append({"id": f"u{i:04d}", "variant": v, "status": "ok", "emotion": e, "pred": pred,
                         "confidence": float(p.max()), "correct": pred == e, "speaker": f"s{i % 10:02d}",
                         "gender": "f" if i % 10 < 5 else "m", **{f"score_{k}": float(x) for k, x in zip(LABEL_KEYS, p)}})
            embs.append((centres[EMOTIONS.index(e)] + rng.standard_normal(dim)).astype(np.float32))
        rf.write_part(rows, embs)
    rf.finalize(item_order={f"u{i:04d}": i for i in range(items)}, variant_order={v: i for i, v in enumerate(variants)},
                summary=lambda r: {"rows": len(r), "random_weights": False, "note": "synthetic rows for benchmarks/figures.py"})
    return path


def _old_intervals(t_codes, p_codes, class_codes, *, n=1000, level=0.95, seed=0, **_):
    """The bootstrap before headline_intervals: one scikit-learn call per resample (the baseline)."""
    import sklearn

    from workbench.analysis.metrics import bootstrap_ci, headline

    if not len(t_codes):
        return [(float("nan"), float("nan"))] * 3
    with sklearn.config_context(skip_parameter_validation=True):
        return bootstrap_ci(headline(class_codes), np.asarray(t_codes), np.asarray(p_codes), n=n, level=level, seed=seed)


def child(argv: list[str], baseline: bool, profile: bool) -> int:
    """Run one workbench command in this process (the parent times it)."""
    import workbench.analysis.metrics as metrics
    from workbench.cli import main

    if baseline:
        metrics.headline_intervals = _old_intervals
    if not profile:
        return main(argv)
    import cProfile
    import pstats

    pr = cProfile.Profile()
    pr.enable()
    rc = main(argv)
    pr.disable()
    pstats.Stats(pr, stream=sys.stderr).sort_stats("cumulative").print_stats(15)
    return rc


def timed(argv: list[str], *, baseline: bool = False, profile: bool = False) -> float:
    cmd = [sys.executable, __file__, "--child", *(["--baseline"] if baseline else []), *(["--profile"] if profile else []), "--", *argv]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), "MPLBACKEND": "Agg"}
    t0 = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{done.stderr[-3000:]}")
    if profile:
        print(done.stderr[-6000:])
    return wall


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=535)
    ap.add_argument("--variants", type=int, default=3)
    ap.add_argument("--no-umap", action="store_true", help="skip the UMAP timings")
    ap.add_argument("--no-baseline", action="store_true", help="skip the old-bootstrap timings (they take minutes)")
    ap.add_argument("--profile", action="store_true", help="print the cProfile top 15 of `metrics` with figures")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("rest", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.rest, args.baseline, args.profile)

    work = Path(tempfile.mkdtemp(prefix="wb-figures-bench-"))
    run_dir = make_run(work / "run", args.items, tuple(["raw", "telephone", "noisy", "quiet", "fast"][: args.variants]))
    load = os.getloadavg()[0]
    print(f"synthetic run: {args.items} items × {args.variants} variants, 1024-d embeddings; {os.cpu_count()} CPU cores, "
          f"load average {load:.1f} at the start")
    r = str(run_dir)
    fig = {}
    fig["metrics, no figures"] = timed(["metrics", r, "--no-figures"])
    fig["metrics, figures"] = timed(["metrics", r], profile=args.profile)
    if not args.no_baseline:
        fig["metrics, no figures (old bootstrap)"] = timed(["metrics", r, "--no-figures"], baseline=True)
        fig["metrics, figures (old bootstrap)"] = timed(["metrics", r], baseline=True)
    fig["embeddings, no figures (PCA)"] = timed(["embeddings", r, "--color-by"])
    fig["embeddings, PCA figures (default)"] = timed(["embeddings", r])
    if not args.no_umap:
        fig["embeddings, UMAP figures, first time"] = timed(["embeddings", r, "--project", "umap"])
        fig["embeddings, UMAP figures, cached"] = timed(["embeddings", r, "--project", "umap"])
    for name, s in fig.items():
        print(f"  {name:<42} {s:7.1f} s")
    ratio = fig["metrics, figures"] / fig["metrics, no figures"]
    print(f"metrics: figures / no figures = {ratio:.2f}×  (target ≤ 2×: {'met' if ratio <= 2 else 'NOT met'})")
    if not args.no_baseline:
        old = fig["metrics, figures (old bootstrap)"] / fig["metrics, no figures (old bootstrap)"]
        print(f"         with the old bootstrap: {old:.2f}×; metrics with figures {fig['metrics, figures (old bootstrap)']:.1f} s → "
              f"{fig['metrics, figures']:.1f} s")
    e = fig["embeddings, PCA figures (default)"] / fig["embeddings, no figures (PCA)"]
    print(f"embeddings (PCA, default): figures / no figures = {e:.2f}×  (target ≤ 2×: {'met' if e <= 2 else 'NOT met'})")
    if not args.no_umap:
        print(f"embeddings --project umap: {fig['embeddings, UMAP figures, first time']:.1f} s the first time, "
              f"{fig['embeddings, UMAP figures, cached']:.1f} s from the cache")
    print(f"load average at the end {os.getloadavg()[0]:.1f} (the machine is shared: compare figures of one run)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
