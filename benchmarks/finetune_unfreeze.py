#!/usr/bin/env python3
"""Does ``--unfreeze`` pay?  Head-only against ``--unfreeze K --adapt full`` and ``--adapt lora``, timed, on one corpus.

A generated EmoDB-style corpus (file names ``03a01Wa.wav``: speaker, text, emotion letter) of harmonic voices whose
F0 and spectral tilt are set by the class and jittered per clip, scored once by ``--model`` (default ``tiny``);
then :func:`workbench.analysis.finetune.finetune` three ways on that run, each with the same speaker split and seed:

* head only (the run's cached embeddings);
* ``--unfreeze K --adapt full`` and ``--unfreeze K --adapt lora`` (the audio, re-read as the run scored it).

Prints, per mode and seed: seconds in all, seconds per epoch over the audio, epochs run and the best one, trainable
parameters, the held-out test speakers' WA/UAR; then the mean over seeds and the load average.  ``--device cuda``
(or ``auto`` on a GPU machine) trains the blocks there; nothing else changes.  With ``tiny``'s random weights the
accuracies say how far each mode can move a feature extractor on this data, not how emotion2vec+ would do.

    python benchmarks/finetune_unfreeze.py                          # tiny, CPU, seeds 0 1 2
    python benchmarks/finetune_unfreeze.py --model random-large --device cuda --k 2 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from workbench.analysis.finetune import EncoderTraining, HeadTraining, finetune
from workbench.data.corpora import prepare
from workbench.data.manifest import write_manifest
from workbench.model.ref import ModelRef
from workbench.runs.driver import run

LETTERS = "WLEAFTN"  # EmoDB: anger, boredom, disgust, fear, happiness, sadness, neutral
SPEAKERS = ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")


def clip(k: int, n: int, seed: int, seconds: float, sr: int = 16000) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    f0 = 110 * 2 ** (2.0 * k / n) * (1 + 0.06 * rng.standard_normal())
    tilt = 0.5 + 1.0 * k / n + 0.2 * rng.standard_normal()
    y = sum((1 / h ** tilt) * np.sin(2 * np.pi * h * f0 * t + rng.uniform(0, 6)) for h in range(1, 10))
    return (0.25 * y / np.max(np.abs(y)) + 0.03 * rng.standard_normal(len(t))).astype(np.float32)


def corpus(root: Path, classes: int, texts: int, seconds: float) -> Path:
    (root / "wav").mkdir(parents=True)
    seed = 0
    for spk in SPEAKERS:
        for text in range(texts):
            for k, letter in enumerate(LETTERS[:classes]):
                seed += 1
                sf.write(root / "wav" / f"{spk}a{text:02d}{letter}a.wav", clip(k, classes, seed, seconds), 16000, subtype="PCM_16")
    return write_manifest(prepare("emodb", root), root / "manifest.csv")


def one(run_dir: Path, out: Path, mode: str, args, seed: int) -> dict:
    t0 = time.perf_counter()
    kw = {} if mode == "head" else {"unfreeze": args.k, "adapt": mode,
                                    "encoder": EncoderTraining(epochs=args.epochs, patience=args.patience, batch_size=args.batch_size,
                                                                               lr=args.lr)}
    r = finetune(run_dir, out, config=HeadTraining(seed=seed), evaluate=False, n_boot=200, device=args.device, **kw)
    t = r.card["training"]
    return {"mode": mode, "seed": seed, "seconds": round(time.perf_counter() - t0, 2),
            "seconds_per_epoch": t.get("seconds_per_epoch"), "epochs_run": t["epochs_run"], "best_epoch": t["best_epoch"],
            "trainable": (t.get("parameters") or {}).get("trainable"), "device": t.get("device", "cpu"),
            "test_wa": r.card["test"].get("wa"), "test_uar": r.card["test"].get("uar"), "test_n": r.card["test"].get("n")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--k", type=int, default=1, help="--unfreeze K")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--patience", type=int, default=4)
    ap.add_argument("--lr", type=float, default=None, help="--encoder-lr (default: 5e-5 full, 5e-4 lora)")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--texts", type=int, default=3, help="clips per speaker and class")
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--json", default=None, help="also write the rows here")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        manifest = corpus(root / "corpus", args.classes, args.texts, args.seconds)
        t0 = time.perf_counter()
        run(manifest, out_dir=root / "run", model=ModelRef.coerce(args.model, device=args.device))
        print(f"{len(SPEAKERS) * args.texts * args.classes} clips of {args.seconds} s scored by {args.model} in "
              f"{time.perf_counter() - t0:.1f} s")
        for seed in (int(s) for s in args.seeds.split(",")):
            for mode in ("head", "full", "lora"):
                rows.append(one(root / "run", root / f"{mode}-{seed}", mode, args, seed))
                print(json.dumps(rows[-1]))
    print(f"\nmean over seeds {args.seeds} (model {args.model}, --unfreeze {args.k}, --encoder-lr {args.lr or 'default'}, load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}):")
    for mode in ("head", "full", "lora"):
        r = [x for x in rows if x["mode"] == mode]
        spe = [x["seconds_per_epoch"] for x in r if x["seconds_per_epoch"]]
        print(f"  {mode:<5} {np.mean([x['seconds'] for x in r]):7.2f} s in all"
              + (f", {np.mean(spe):.2f} s/epoch" if spe else ", (embeddings: no epoch over the audio)")
              + f", test WA {np.mean([x['test_wa'] for x in r]):.3f} UAR {np.mean([x['test_uar'] for x in r]):.3f}"
              f" (n={r[0]['test_n']} per seed), best epochs {[x['best_epoch'] for x in r]}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "args": vars(args), "loadavg": os.getloadavg()}, indent=1))


if __name__ == "__main__":
    main()
