#!/usr/bin/env python3
"""Does attribution find the planted cue, with maps that meet their own checks?  Mass in the cue and top-k IoU per
method, their spread over clips and over IG's baseline seeds, IG's completeness before (Captum's 32 Gauss-Legendre
points in one pass, the old default) and after (the path split until complete), on the ``cue`` checkpoint and on
speech-like audio with ``tiny`` — the figures behind tests/test_explain_cue.py and benchmarks/README.md.

    python benchmarks/explain_cue.py                      # 3 held-out cue clips, IG seeds 0-2, 3 tiny speech clips
    python benchmarks/explain_cue.py --clips 6 --seeds 3

Held-out clips: seed 777 (never drawn in training), kept when the model is right and its answer flips once
the cue is silenced (there the cue is the evidence).  Prints how many clips of each class qualify.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np  # noqa: E402


def one_pass_completeness(scorer, y, label, seed, n_steps=32):
    """The old IG: one Captum call, ``n_steps`` Gauss-Legendre points over the whole path; (map per frame, relative error)."""
    import torch
    from captum.attr import IntegratedGradients

    from workbench.explain.attribution import noise_baseline, pool_frames
    from workbench.labels import LABEL_KEYS

    k = LABEL_KEYS.index(label)
    x = torch.as_tensor(y)[None]
    b = torch.as_tensor(noise_baseline(y, seed))[None]
    attr, delta = IntegratedGradients(scorer).attribute(x, baselines=b, target=k, n_steps=n_steps, internal_batch_size=16,
                                                        return_convergence_delta=True)
    with torch.no_grad():
        gap = float(scorer(x)[0, k] - scorer(b)[0, k])
    return pool_frames(attr[0].detach().double().numpy(), "sum"), abs(float(delta[0])) / max(abs(gap), 0.01)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="cue")
    ap.add_argument("--clips", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=3, help="IG baseline seeds per clip")
    ap.add_argument("--speech-clips", type=int, default=3, help="speech-like clips for IG completeness with tiny")
    args = ap.parse_args()
    import torch
    from scipy.stats import spearmanr

    from conftest import speech_like
    from workbench.explain.attribution import ClassScore, integrated_gradients, tf_occlusion, time_occlusion
    from workbench.explain.cue import make_cue_set
    from workbench.explain.faithfulness import cue_overlap, randomised_networks
    from workbench.model.network import load_model

    torch.set_num_threads(1)
    seeds = list(range(args.seeds))

    # ---- IG completeness on speech-like audio with tiny (random weights): before / after
    tiny = ClassScore(load_model("tiny", device="cpu"))
    print("IG completeness, tiny, speech-like 1 s clips (relative error; before = Captum 32 GL points one pass):")
    for i in range(args.speech_clips):
        y = speech_like(16000, 1.0, seed=i).astype(np.float32)
        for s in seeds[:2]:
            _, before = one_pass_completeness(tiny, y, "happy", s)
            t0 = time.perf_counter()
            c = integrated_gradients(tiny, y, "happy", seed=s).checks["completeness"]
            print(f"  clip {i} seed {s}: before {before:.3f} -> after {c['relative_error']:.3f} (gap {c['gap']:.3f} nats, "
                  f"{c['gradient_evaluations']} gradient evaluations, {time.perf_counter() - t0:.0f} s, passed {c['passed']})", flush=True)

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
    res: dict[str, list] = defaultdict(list)
    per_seed: dict[str, list] = defaultdict(list)  # (clip) -> list over seeds, for the seed-to-seed spread
    comp = defaultdict(list)
    rng = np.random.default_rng(0)
    for ci, c in enumerate(clips):
        for name, fn in (("occlusion", time_occlusion), ("tf-occlusion", tf_occlusion)):
            res[name].append(cue_overlap(fn(scorer, c.y, c.label).frame_relevance, c.start, c.end))
            res[f"{name} (randomised network)"].append(cue_overlap(fn(scorer_r, c.y, c.label).frame_relevance, c.start, c.end))
            print(f"  cue clip {ci} ({c.label}) {name}: mass in cue {res[name][-1]['mass_in_cue']:.3f}, IoU {res[name][-1]['top_k_iou']:.3f}", flush=True)
        new_maps, old_maps = [], []
        for s in seeds:
            old_map, before = one_pass_completeness(scorer, c.y, c.label, s)
            t0 = time.perf_counter()
            a = integrated_gradients(scorer, c.y, c.label, seed=s)
            ch = a.checks["completeness"]
            comp["before"].append(before)
            comp["after"].append(ch["relative_error"])
            comp["evals"].append(ch["gradient_evaluations"])
            print(f"  cue clip {ci} ({c.label}) seed {s}: completeness before {before:.3f} -> after {ch['relative_error']:.3f} "
                  f"(gap {ch['gap']:.1f} nats, {ch['gradient_evaluations']} gradient evaluations, {time.perf_counter() - t0:.0f} s, "
                  f"passed {ch['passed']})", flush=True)
            o_new, o_old = cue_overlap(a.frame_relevance, c.start, c.end), cue_overlap(old_map, c.start, c.end)
            print(f"    mass in cue / top-k IoU: split path {o_new['mass_in_cue']:.3f} / {o_new['top_k_iou']:.3f}; "
                  f"one pass (old) {o_old['mass_in_cue']:.3f} / {o_old['top_k_iou']:.3f}", flush=True)
            new_maps.append(a.frame_relevance)
            old_maps.append(old_map)
            per_seed[f"ig converged, clip {ci}"].append(cue_overlap(a.frame_relevance, c.start, c.end))
            per_seed[f"ig one pass (old), clip {ci}"].append(cue_overlap(old_map, c.start, c.end))
            if ch["passed"]:
                res["ig (converged maps only)"].append(cue_overlap(a.frame_relevance, c.start, c.end))
            res["ig (all maps)"].append(cue_overlap(a.frame_relevance, c.start, c.end))
            res["ig one pass, 32 GL points (old)"].append(cue_overlap(old_map, c.start, c.end))
        for tag, maps in (("converged", new_maps), ("one pass (old)", old_maps)):
            rs = [spearmanr(maps[i], maps[j]).statistic for i in range(len(maps)) for j in range(i + 1, len(maps))]
            comp[f"seed rank corr {tag}"].extend(rs)
        T = -(-len(c.y) // 320)
        res["random map"].append(cue_overlap(rng.random(T), c.start, c.end))
        res["uniform map"].append(cue_overlap(np.ones(T), c.start, c.end))
    print(f"{len(clips)} clips of 1 s, cue 300 ms (15 of 50 frames); IG seeds {seeds}")
    for k, v in res.items():
        mass = np.array([d["mass_in_cue"] for d in v])
        iou = np.array([d["top_k_iou"] for d in v])
        print(f"{k:>34} (n={len(v)}): mass in cue {mass.mean():.3f} ± {mass.std():.3f} (min {mass.min():.3f}) · "
              f"top-k IoU {iou.mean():.3f} ± {iou.std():.3f}")
    for tag in ("ig converged", "ig one pass (old)"):
        sd_mass = [np.std([d["mass_in_cue"] for d in v]) for k, v in per_seed.items() if k.startswith(tag)]
        rng_mass = [np.ptp([d["mass_in_cue"] for d in v]) for k, v in per_seed.items() if k.startswith(tag)]
        sd_iou = [np.std([d["top_k_iou"] for d in v]) for k, v in per_seed.items() if k.startswith(tag)]
        print(f"{tag}: seed-to-seed spread per clip: mass sd {np.mean(sd_mass):.3f} (largest range {np.max(rng_mass):.3f}), "
              f"IoU sd {np.mean(sd_iou):.3f}")
    for tag in ("converged", "one pass (old)"):
        r = np.array(comp[f"seed rank corr {tag}"])
        print(f"IG maps' rank corr between seeds, {tag}: mean {r.mean():.2f}, min {r.min():.2f}")
    print(f"IG completeness on cue: before median {np.median(comp['before']):.3f}, after median {np.median(comp['after']):.3f} "
          f"(max {np.max(comp['after']):.3f}); gradient evaluations median {np.median(comp['evals']):.0f}, max {np.max(comp['evals'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
