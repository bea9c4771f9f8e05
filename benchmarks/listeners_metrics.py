"""Time of `workbench.analysis.listeners.evaluate_listeners` on a CREMA-D-sized run (synthetic votes and scores).

    python benchmarks/listeners_metrics.py [--items 7442] [--boot 1000]

Prints wall and CPU seconds (CPU time is the steadier figure on a shared machine) for the nine-class
comparison and the one restricted to the corpus's six classes.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from workbench.analysis.listeners import evaluate_listeners
from workbench.data.listeners import record_from_counts
from workbench.labels import LABEL_KEYS

SIX = ["angry", "disgusted", "fearful", "happy", "neutral", "sad"]


def table(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        emo = SIX[i % 6]
        votes = rng.multinomial(10, np.full(6, 0.1) + 0.4 * (np.array(SIX) == emo))
        s = rng.dirichlet(np.ones(9))
        rows.append({"id": f"c{i}", "variant": "raw", "status": "ok", "emotion": emo, "pred": LABEL_KEYS[int(s.argmax())],
                     "confidence": float(s.max()), "path": "", "meta": json.dumps(record_from_counts(dict(zip(SIX, map(float, votes))))),
                     **{f"score_{k}": float(x) for k, x in zip(LABEL_KEYS, s)}})
    return pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=7442)
    ap.add_argument("--boot", type=int, default=1000)
    args = ap.parse_args()
    df = table(args.items)
    for restrict in (False, True):
        w, c = time.perf_counter(), time.process_time()
        evaluate_listeners(df, n_boot=args.boot, restrict=restrict)
        print(f"{args.items} items, {args.boot} resamples, restrict={restrict}: {time.perf_counter() - w:.1f} s wall, "
              f"{time.process_time() - c:.1f} s CPU")


if __name__ == "__main__":
    main()
