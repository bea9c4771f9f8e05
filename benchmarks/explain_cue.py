#!/usr/bin/env python3
"""Does attribution find the planted cue?  Mass in the cue and top-k IoU per method, against random and
uniform maps and a fully re-initialised network — the figures behind tests/test_explain_cue.py.

    python benchmarks/explain_cue.py              # the cached 'cue' checkpoint (trained on first use), 12 clips
    python benchmarks/explain_cue.py --clips 24

Held-out clips: seed 777 (never drawn in training), kept when the model is right and its answer flips once
the cue is silenced (there the cue is the evidence).  Prints how many clips of each class qualify.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="cue")
    ap.add_argument("--clips", type=int, default=12)
    args = ap.parse_args()
    import torch

    from workbench.explain.attribution import ClassScore, integrated_gradients, tf_occlusion, time_occlusion
    from workbench.explain.cue import make_cue_set
    from workbench.explain.faithfulness import cue_overlap, randomised_networks
    from workbench.model.network import load_model

    torch.set_num_threads(1)
    m = load_model(args.model, device="cpu")
    print(f"!! {m.info.warning}" if m.info.warning else "", m.info.id)
    kept = []
    for c in make_cue_set(2 * args.clips, seed=777, labels=("angry", "happy", "sad")):
        cut = c.y.copy()
        cut[int(c.start * 16000): int(c.end * 16000)] = 0.0
        p, q = m.predict([c.y, cut])
        kept.append((c, p.label == c.label and q.label != c.label))
    print("decision depends on the cue (label, depends): count", dict(Counter((c.label, d) for c, d in kept)))
    clips = [c for c, d in kept if d][: args.clips]
    scorer = ClassScore(m)
    (_, rnd), = randomised_networks(m, "full", seed=1)
    scorer_r = ClassScore(m, network=rnd)
    fns = {"ig": integrated_gradients, "occlusion": time_occlusion, "tf-occlusion": tf_occlusion}
    res: dict[str, list] = {k: [] for k in [*fns, *[f"{k} (randomised network)" for k in fns], "random map", "uniform map"]}
    secs = Counter()
    rng = np.random.default_rng(0)
    for c in clips:
        for k, f in fns.items():
            t0 = time.perf_counter()
            res[k].append(cue_overlap(f(scorer, c.y, c.label).frame_relevance, c.start, c.end))
            secs[k] += time.perf_counter() - t0
            res[f"{k} (randomised network)"].append(cue_overlap(f(scorer_r, c.y, c.label).frame_relevance, c.start, c.end))
        T = -(-len(c.y) // 320)
        res["random map"].append(cue_overlap(rng.random(T), c.start, c.end))
        res["uniform map"].append(cue_overlap(np.ones(T), c.start, c.end))
    print(f"{len(clips)} clips of 1 s, cue 300 ms (15 of 50 frames)")
    for k, v in res.items():
        mass = np.array([d["mass_in_cue"] for d in v])
        iou = np.array([d["top_k_iou"] for d in v])
        print(f"{k:>32}: mass in cue {mass.mean():.3f} ± {mass.std():.3f} (min {mass.min():.3f}) · top-k IoU {iou.mean():.3f} ± {iou.std():.3f}")
    print("seconds per clip:", {k: round(v / max(1, len(clips)), 2) for k, v in secs.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
