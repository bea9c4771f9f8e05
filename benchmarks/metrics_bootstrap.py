"""Time of `workbench.analysis.metrics.evaluate` (scikit-learn metrics, one call per bootstrap resample)
against the hand-written numpy metrics it replaced (three bootstrap loops), in the same run.

    python benchmarks/metrics_bootstrap.py [--items 1000] [--boot 1000]

Both give the same point estimates and the same intervals (same seed, same resamples): checked.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from workbench.labels import LABEL_KEYS
from workbench.analysis.metrics import evaluate


# ---- the hand-written metrics as they were before (baseline) ----
def _per_class(t, p, classes):
    out = {}
    for c in classes:
        tp = float(np.sum((t == c) & (p == c)))
        support = float(np.sum(t == c))
        predicted = float(np.sum(p == c))
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else float("nan")
        f1 = 2 * precision * recall / (precision + recall) if support and (precision + recall) > 0 else 0.0
        out[c] = {"recall": recall, "f1": f1, "support": support}
    return out


def _uar(t, p, classes):
    return float(np.mean([v["recall"] for v in _per_class(t, p, classes).values() if v["support"]]))


def _f1(t, p, classes):
    return float(np.mean([v["f1"] for v in _per_class(t, p, classes).values() if v["support"]]))


def _boot(fn, t, p, n, seed=0):
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n):
        i = rng.integers(0, len(t), len(t))
        stats.append(fn(t[i], p[i]))
    lo, hi = np.percentile(stats, [2.5, 97.5])
    return float(lo), float(hi)


def baseline(t, p, classes, n):
    return {"wa": _boot(lambda a, b: float(np.mean(a == b)), t, p, n), "uar": _boot(lambda a, b: _uar(a, b, classes), t, p, n),
            "macro_f1": _boot(lambda a, b: _f1(a, b, classes), t, p, n)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=1000)
    ap.add_argument("--boot", type=int, default=1000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    classes = ["angry", "happy", "neutral", "sad"]
    t = rng.choice(classes, args.items, p=[0.1, 0.2, 0.5, 0.2])
    p = np.where(rng.random(args.items) < 0.6, t, rng.choice(classes + ["other"], args.items))
    rows = [{"id": str(i), "variant": "raw", "status": "ok", "emotion": a, "pred": b, "confidence": 0.5,
             **{f"score_{k}": 1 / 9 for k in LABEL_KEYS}} for i, (a, b) in enumerate(zip(t, p))]
    df = pd.DataFrame(rows)
    evaluate(df, n_boot=10, by=())  # imports, first-call costs
    t0 = time.perf_counter()
    old = baseline(t, p, classes, args.boot)
    t_old = time.perf_counter() - t0
    t0 = time.perf_counter()
    new = evaluate(df, n_boot=args.boot, by=())
    t_new = time.perf_counter() - t0
    for k in ("wa", "uar", "macro_f1"):
        assert np.allclose(old[k], new.ci[k]), (k, old[k], new.ci[k])
    print(f"{args.items} items, {args.boot} bootstrap resamples, one variant")
    print(f"  hand-written numpy (baseline): {t_old:6.2f} s")
    print(f"  scikit-learn evaluate():       {t_new:6.2f} s  ({t_new / t_old:.1f}x the baseline; whole evaluate incl. ECE and confusion)")
    print("  intervals identical: yes")


if __name__ == "__main__":
    main()
