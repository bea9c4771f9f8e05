#!/usr/bin/env python3
"""Integrated Gradients on a float32 CPU model: the Linear layers' gradients through oneDNN (this route) against
the route before it (oneDNN without gradients, PyTorch's BLAS, i.e. MKL's sgemm, for every gradient pass), on the
same loaded model and clip, interleaved round by round so that load on a shared machine hits both alike.

    python benchmarks/explain_ig_linear.py                           # tiny, a 5 s clip, 3 rounds
    python benchmarks/explain_ig_linear.py --model large-random --rounds 2
    python benchmarks/explain_ig_linear.py --modes after,before,blas  # also everything through PyTorch's BLAS

Modes (the class every Linear of the network is given for the round):

* ``after``: :func:`workbench.model.prepack.onednn_linear_class`, forward and backward through oneDNN;
* ``before``: the same layer as it was (commit 656263e): oneDNN without gradients, ``F.linear`` when a gradient is
  needed;
* ``blas``: the plain ``torch.nn.Linear`` (what an Intel CPU runs).

What is timed is ``integrated_gradients`` (the map the ``ig`` method of ``workbench explain`` makes: its forward
passes scanning the path and Captum's gradient passes), with PyTorch scoring every pass (``forward=None``).
Printed per round: seconds, CPU seconds, gradient evaluations and the load average; at the end the best and median
of each mode, and the agreement of the maps (max |Δ| of the frame relevance against its largest value, the
completeness errors, whether the path was cut into the same pieces): the route changes the order of float32 sums,
nothing else.  Weights do not change speed: ``large-random`` is a seeded random checkpoint of the large
architecture.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.explain import speech_like  # noqa: E402

MODES = ("after", "before", "blas")


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f} (5 min {five:.1f})"


def layer_classes() -> dict:
    """mode -> the class the network's Linear layers take for it."""
    import torch

    from workbench.model.prepack import onednn_linear_class

    routed = onednn_linear_class()

    def forward(self, x):  # the route of commit 656263e: the plain kernel wherever a gradient may be needed
        if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad):
            return torch.nn.functional.linear(x, self.weight, self.bias)
        return routed.forward(self, x)

    before = type("OneDNNLinearNoGrad", (routed,), {"forward": forward, "__module__": __name__})
    return {"after": routed, "before": before, "blas": torch.nn.Linear}


def summary(modes: list[str], seconds: dict, cpu: dict, maps: dict) -> None:
    """Best and median seconds (wall and CPU) per mode; each mode against the first one's; the maps' agreement."""
    import numpy as np

    ref = modes[0]
    scale = float(np.abs(maps[ref].frame_relevance).max())
    for mode in modes:
        a = maps[mode]
        line = (f"{mode:6s}: best {min(seconds[mode]):.2f} s, median {statistics.median(seconds[mode]):.2f} s; CPU best "
                f"{min(cpu[mode]):.2f} s, median {statistics.median(cpu[mode]):.2f} s")
        if mode != ref:
            line += (f" · {ref}'s speed-up over it: {min(seconds[mode]) / min(seconds[ref]):.2f}× (wall, best against best), "
                     f"{statistics.median(cpu[mode]) / statistics.median(cpu[ref]):.2f}× (CPU seconds, medians) · map against "
                     f"{ref}'s: max |Δ| {float(np.abs(a.frame_relevance - maps[ref].frame_relevance).max()) / max(scale, 1e-30):.1e} "
                     f"of its largest value, same pieces: "
                     f"{[p[:2] for p in a.params['path_pieces']] == [p[:2] for p in maps[ref].params['path_pieces']]}, "
                     f"completeness error {maps[ref].checks['completeness']['relative_error']:.3%} vs "
                     f"{a.checks['completeness']['relative_error']:.3%}")
        print(line)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny", help="tiny, large-random, or a checkpoint folder")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="torch threads")
    ap.add_argument("--modes", default="after,before", help=f"comma-separated, of {', '.join(MODES)}")
    ap.add_argument("--target", default="angry")
    args = ap.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        ap.error(f"--modes {args.modes!r}: unknown {', '.join(bad) or '(none given)'}; valid: {', '.join(MODES)}")

    from workbench.cli import prepare_process

    prepare_process()  # torch's threads wait as in `workbench explain`
    import torch

    from workbench.explain.attribution import integrated_gradients
    from workbench.explain.scoring import ClassScore
    from workbench.model.network import load_model
    from workbench.model.precision import cpu_vendor

    torch.set_num_threads(args.threads)
    model = load_model({"large-random": "random-large"}.get(args.model, args.model), device="cpu", dtype="float32")
    layers = [m for m in model.network.modules() if isinstance(m, torch.nn.Linear)]
    classes = layer_classes()
    scorer = ClassScore(model, forward=None)
    wave = speech_like(args.seconds)
    print(f"machine: {platform.node()} | {cpu_vendor()} | {os.cpu_count()} cores | torch {torch.__version__} threads "
          f"{torch.get_num_threads()} | {_load()}")
    print(f"model {model.info.id} ({model.info.parameters:,} parameters), {len(layers)} Linear layers; clip {args.seconds:g} s; "
          f"IG for {args.target!r}; loader's float32_math: {model.info.float32_math}", flush=True)
    for m in layers:
        m.__class__ = classes[modes[0]]
    integrated_gradients(scorer, wave[:16000], args.target, max_steps=32)  # warm-up: lazy imports, allocator, primitives
    seconds: dict[str, list[float]] = {m: [] for m in modes}
    cpu: dict[str, list[float]] = {m: [] for m in modes}
    maps: dict = {}
    for r in range(args.rounds):
        for mode in modes:
            for m in layers:
                m.__class__ = classes[mode]
            t0, c0 = time.perf_counter(), time.process_time()
            maps[mode] = integrated_gradients(scorer, wave, args.target)
            seconds[mode].append(time.perf_counter() - t0)
            cpu[mode].append(time.process_time() - c0)
            comp = maps[mode].checks["completeness"]
            print(f"round {r + 1}: {mode:6s} {seconds[mode][-1]:7.2f} s (CPU {cpu[mode][-1]:.1f} s) · "
                  f"{comp['gradient_evaluations']} gradient evaluations, completeness error {comp['relative_error']:.2%} "
                  f"({'passed' if comp['passed'] else 'FAILED'}) · {_load()}", flush=True)
    for m in layers:
        m.__class__ = classes["after"]
    summary(modes, seconds, cpu, maps)
    print(f"at the end: {_load()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
