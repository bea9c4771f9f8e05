#!/usr/bin/env python3
"""Head-only fine-tuning on a CPU: how long ``workbench finetune`` trains a head on a run's embeddings.

The head trains on cached utterance embeddings, so its cost depends on the number of items, the embedding
size and the classes, not on the audio or the checkpoint.  This times :func:`workbench.analysis.finetune.train_head`
(what ``workbench finetune`` runs for the checkpoint; the cross-validation runs it once more per fold) on
seeded clustered embeddings of corpus sizes with the ``plus_large`` width (1024):

* EmoDB-sized: 535 items, 7 classes, 10 speakers (train/validation/test 6/2/2 speakers);
* IEMOCAP-sized: 5531 items, 4 classes.

    python benchmarks/finetune.py                 # both sizes, default hyper-parameters
    python benchmarks/finetune.py --rounds 3

Prints one line per size: seconds, epochs run, best epoch, held-out accuracy (meaningless: synthetic data).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from workbench.analysis.finetune import HeadTraining, train_head


def clustered(n: int, classes: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((classes, dim)) * 0.15
    y = rng.integers(0, classes, n)
    return (centers[y] + rng.standard_normal((n, dim))).astype(np.float32), np.array([f"c{k}" for k in y])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--dim", type=int, default=1024)
    args = ap.parse_args()
    for name, n, classes in (("EmoDB-sized", 535, 7), ("IEMOCAP-sized", 5531, 4)):
        x, y = clustered(n, classes, args.dim, seed=0)
        n_tr, n_val = int(0.6 * n), int(0.2 * n)
        names = sorted(set(y.tolist()))
        times = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            fit = train_head(x[:n_tr], y[:n_tr], x[n_tr:n_tr + n_val], y[n_tr:n_tr + n_val], names, HeadTraining())
            times.append(time.perf_counter() - t0)
        acc = float(np.mean(fit.predict(x[n_tr + n_val:]) == y[n_tr + n_val:]))
        print(f"{name}: {n} items × {args.dim}, {classes} classes: {min(times):.2f} s (best of {args.rounds}), "
              f"{fit.epochs_run} epochs, best epoch {fit.best_epoch}, held-out accuracy {acc:.3f}")


if __name__ == "__main__":
    main()
