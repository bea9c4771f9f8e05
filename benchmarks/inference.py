#!/usr/bin/env python3
"""Speed of what users run: `workbench run` end to end, the engine in-process, the model alone and
FunASR's per-file loop — on the same clips, in the same run.

    python benchmarks/inference.py                                   # CPU, large architecture, fp32
    python benchmarks/inference.py --device cuda --dtype bfloat16 --clips 4096 --funasr-clips 256
    python benchmarks/inference.py --arch tiny --clips 400           # whole process vs model only
    python benchmarks/inference.py --stand-in --clips 2000           # the CPU pipeline's own ceiling
    python benchmarks/inference.py --precisions --clips 8            # CPU: every precision and backend, targets of issue #23
    python benchmarks/inference.py --precisions --clips 24 --min-seconds 2 --max-seconds 6   # issue #28's lines (large)
    python benchmarks/inference.py --precisions --arch tiny --clips 24 --skip funasr         # issue #28's run/model (tiny)

A full-size random checkpoint of the emotion2vec_plus_large architecture is built once
(weights do not change speed).  Seeded synthetic 16 kHz WAV clips (2–10 s) are written
with a manifest, then measured, alternating the paths each round so drift hits all:

  funasr      ``funasr.AutoModel.generate(path)`` one file at a time — what most users do;
  model       ``Emotion2vecModel.predict`` on clips already decoded: the model's own ceiling;
  engine      :func:`workbench.runs.driver.run` in this process (model loaded already);
  cli         ``workbench run MANIFEST --no-cache`` in a fresh process: start-up, model load,
              decoding, inference and writing — the figure a user sees;
  floor       (``--floor``) a fresh process that only imports what every run must (torch, pandas,
              pyarrow) and exits (``os._exit``, as ``workbench`` does): the part of ``cli`` no change
              to the workbench can remove; ``floor:onnx`` the same for a run through ONNX Runtime
              (onnxruntime, pandas, pyarrow: no torch), the path ``--dtype auto`` takes where it is fastest.
              With ``--floor`` the clips' decoding and signal facts are also timed once (CPU seconds of
              one core, the engine's own code), and the run/model line of ``cli:auto`` gets the best
              ratio this machine allows (the floor, plus the decoding the model's idle cores cannot
              absorb), flagged when the measured ratio falls under it (the load changed meanwhile);
  cli:baseline (``--baseline DIR``) the same ``workbench run`` from another checkout (an older
              commit), interleaved with ``cli``, in the environment this script was started with
              (``--baseline-dtype auto``: that checkout's ``--dtype auto``, beside ``cli:auto``).

"Model-only" is ``Emotion2vecModel.predict`` on the clips already decoded (granularity ``frame``,
embeddings, the package's CPU batching), in this process after a 2-clip warm-up, with torch's
threads waiting as a ``workbench`` process lets them (``workbench.cli.share_the_cores``): it
includes no start-up, import, load, decoding, facts or writing.  Each path's best round and its
median are printed; the run/model line gives both.

``--precisions`` adds, on the same clips: the model alone in bfloat16 (weights converted once and laid
out for oneDNN, the package's CPU bfloat16; ``model:bfloat16-weights-unpacked`` is the same network with
plain Linear layers, for the A/B of :mod:`workbench.model.prepack`), int8 (torch dynamic quantisation), ONNX Runtime float32 and int8 (the
cached export ``--dtype auto`` makes), and ``workbench run`` end to end in float32 and with
``--dtype auto`` (its choice measured once before the timed rounds), with issue #28's met / not
met lines; a matmul measures the
machine's float32 and bfloat16 peak in the same run, so each path's share of the peak is
printed (large architecture: ~36 GFLOP per audio-second, issue #23's estimate).

Printed: audio-seconds per wall-second (× real time), the share of its threads' time each pass got on the CPU
(CPU seconds ÷ wall × torch threads: well under 100 % means other processes held the cores), each path against FunASR, where the
time of the CLI run went (process start and imports, model load, the rows loop, the rest),
and equivalence with FunASR (top-1 agreement, max |Δ score|, min embedding cosine).

``--stand-in`` replaces the network with a stand-in whose forward pass costs nothing (it
returns uniform scores and zero embeddings — benchmark-only, never used by the package), so
the CPU side of the pipeline (decoding, variants, signal facts, findings, parts) is measured
alone, per core.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
PUBLISHED_PARAMS = 300e6  # model card of iic/emotion2vec_plus_large: "~300M"
TARGETS = {
    "pipeline_per_core_x_rt": 600.0,  # stand-in network, 16 kHz WAV
    "tiny_process_over_model": 1.25,  # `workbench run --model tiny` whole process ÷ model-only time
    "cli_vs_funasr_cpu": 1.0,  # large architecture on CPU, end to end
    "cli_vs_funasr_gpu": 20.0,  # H100, bf16, >= 4096 clips
    "model_gpu_x_rt": 8000.0,  # model only, 256 × 6 s
    "cli_fastest_vs_funasr_cpu": 3.0,  # issue #23: `workbench run` with the fastest precision, large, CPU
    "cli_float32_vs_funasr_cpu": 1.2,  # issue #23: the same in float32
    "fastest_top1_vs_float32": 1.0,
    "fastest_min_cosine_vs_float32": 0.999,
    "cli_auto_vs_funasr_cpu": 3.0,  # issue #28: `workbench run --dtype auto`, large, CPU, end to end
}
#: forward cost of the large architecture, GFLOP per second of 16 kHz audio (issue #23's estimate)
GFLOP_PER_AUDIO_SECOND = {"large": 36.0}


def cpu_seconds() -> float:
    """CPU seconds (user + system) used so far by this process and its finished children (``workbench run``)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def matmul_peak_gflops(dtype_name: str, n: int = 2048, seconds: float = 2.0) -> float:
    """Best-of-runs GFLOP/s of an n×n matmul in this process (the machine's practical peak, same threads)."""
    import torch

    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype_name]
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    torch.mm(a, b)
    best, t_end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = max(best, 2 * n**3 / (time.perf_counter() - t0) / 1e9)
    return best


def precision_paths(ck, device, tmp):
    """Model-only alternatives to float32, as the package loads them: (name, model, peak dtype).

    bfloat16 is the weights converted once at load (the package's CPU bfloat16); the ONNX Runtime paths run the
    export ``--dtype auto`` makes once into the model cache (checked against float32 there) — what a run uses.
    """
    from workbench.model.ref import ModelRef

    paths = []
    for name, dtype, peak in (("model:bfloat16-weights", "bfloat16", "bfloat16"), ("model:int8", "int8", "float32"),
                              ("model:onnxruntime-float32", "onnx-float32", "float32"),
                              ("model:onnxruntime-int8", "onnx-int8", "float32")):
        t0 = time.perf_counter()
        paths.append((name, ModelRef(str(ck), device=device, dtype=dtype).load(), peak))
        print(f"loaded {name} [{time.perf_counter() - t0:.1f}s]", flush=True)
        if dtype.startswith("onnx-") and device == "cpu":  # the layout `--dtype auto` may choose: each batch in two parts
            paths.append((f"{name}-split", ModelRef(str(ck), device=device, dtype=dtype)._load_onnx(None, split=2), peak))
    plain = plain_bfloat16(paths[0][1])
    if plain is not None:  # the same weights without oneDNN's packed layout (workbench.model.prepack), for the A/B
        paths.insert(1, ("model:bfloat16-weights-unpacked", plain, "bfloat16"))
    return paths


def plain_bfloat16(net):
    """A copy of the loaded bfloat16 network with plain ``torch.nn.Linear`` layers (a copy unpacks them), or ``None``
    where nothing was packed (a GPU, or a CPU without oneDNN bfloat16)."""
    import copy

    from workbench.model.prepack import packed_linear_class

    body = net.automodel.model
    if not any(isinstance(m, packed_linear_class()) for m in body.modules()):
        return None
    twin = copy.copy(net)
    twin.automodel = copy.copy(net.automodel)
    twin.automodel.model = copy.deepcopy(body)
    return twin


def compile_bytecode(repo: Path) -> str:
    """Compile ``repo``'s workbench package to bytecode once, as ``pip install`` does, and say so.

    With ``PYTHONDONTWRITEBYTECODE=1`` in the environment (set on this project's machines) an editable checkout's
    modules are compiled again in every fresh process (45 modules, ~0.13 s on 2 cores for a `workbench run`),
    which a user's installed package never pays: each ``cli`` figure would include it.
    """
    import compileall

    ok = compileall.compile_dir(str(repo / "workbench"), quiet=1, workers=1)
    flag = os.environ.get("PYTHONDONTWRITEBYTECODE")
    return (f"bytecode: {repo.name}/workbench compiled once ({'ok' if ok else 'with errors'}; PYTHONDONTWRITEBYTECODE="
            f"{flag or 'unset'} here, so fresh processes read it instead of compiling each module)")


def make_clips(folder: Path, n: int, lo: float, hi: float, seed: int) -> tuple[list[Path], float]:
    import soundfile as sf

    rng = np.random.default_rng(seed)
    paths, total = [], 0.0
    for i in range(n):
        dur = float(rng.uniform(lo, hi))
        t = np.arange(int(dur * 16000)) / 16000
        f0 = 110 + 60 * rng.random() + 30 * np.sin(2 * np.pi * rng.uniform(0.3, 1.5) * t)
        phase = 2 * np.pi * np.cumsum(f0) / 16000
        y = sum((0.5 / k) * np.sin(k * phase) for k in range(1, 10))
        y = 0.3 * y * np.clip(np.sin(2 * np.pi * rng.uniform(2, 6) * t), 0, None) + 0.01 * rng.standard_normal(len(t))
        p = folder / f"clip{i:05d}.wav"
        sf.write(p, y.astype(np.float32), 16000, subtype="PCM_16")
        paths.append(p)
        total += len(t) / 16000
    return paths, total


class StandInNet:
    """A network that costs nothing, for measuring the pipeline around the model (benchmark only)."""

    def __init__(self, dim: int = 1024):
        from workbench.labels import LABEL_KEYS
        from workbench.model.building import _ModelInfo

        self.info = _ModelInfo(id="stand-in (no network)", kind="local", hub=None, revision=None, path=None, checksum="stand-in",
                              parameters=0, embed_dim=dim, device="cpu", dtype="float32", labels=list(LABEL_KEYS),
                              random_weights=True, load_seconds=0.0, warning="stand-in network: outputs mean nothing")
        self.random_weights = True
        self.dim = dim

    def predict(self, clips, *, granularity="utterance", embeddings=True, ids=None, policy=None, hook=None):
        from workbench.model.network import Prediction

        out = []
        for k, c in enumerate(clips):
            n = max(1, (len(getattr(c, "samples", c)) - 80) // 320)
            out.append(Prediction(id=ids[k] if ids else str(k), scores=np.full(9, 1 / 9), logits=np.zeros(9),
                                  embedding=np.zeros(self.dim, np.float32),
                                  frame_logits=np.zeros((n, 9)) if granularity == "frame" else None,
                                  n_frames=n, duration=len(getattr(c, "samples", c)) / 16000, random_weights=True))
        if hook is not None:
            hook("batch", out, completed=len(out), total=len(out))
        return out


def cuda_sync(device: str):
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def run_funasr(automodel, paths, device):
    out = []
    cuda_sync(device)
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        for p in paths:
            r = automodel.generate(str(p), granularity="utterance", extract_embedding=True)[0]
            out.append((np.asarray(r["scores"], dtype=np.float64), np.asarray(r["feats"], dtype=np.float64)))
    cuda_sync(device)
    return time.perf_counter() - t0, out


def run_model(net, clips, device):
    cuda_sync(device)
    t0 = time.perf_counter()
    preds = net.predict(clips, granularity="frame", embeddings=True)
    cuda_sync(device)
    return time.perf_counter() - t0, [(p.scores, np.asarray(p.embedding, np.float64)) for p in preds]


def run_engine(net, manifest, out, device, workers):
    from workbench.runs.folder import RunFolder
    from workbench.runs.driver import run

    cuda_sync(device)
    t0 = time.perf_counter()
    res = run(manifest, out_dir=out, model=net, use_cache=False, workers=workers)
    cuda_sync(device)
    elapsed = time.perf_counter() - t0
    rf = RunFolder(res.run_dir)
    df, emb = rf.results(), rf.embeddings()
    scores = df[[c for c in df.columns if c.startswith("score_")]].to_numpy(float)
    return elapsed, [(s, e.astype(np.float64)) for s, e in zip(scores, emb)], res.summary


def run_cli(manifest, out, ck, device, dtype, workers, *, repo: Path = REPO, env: dict | None = None):
    """``workbench run`` in a fresh process (from ``repo``'s checkout, in ``env``): (wall seconds, outputs, summary)."""
    cmd = [sys.executable, "-m", "workbench.cli", "run", str(manifest), "--model", str(ck), "--device", device, "--dtype", dtype,
           "--no-cache", "--out", str(out)]
    if workers is not None:
        cmd += ["--workers", str(workers)]
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(repo), env.get("PYTHONPATH", "")) if p)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(repo), env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"workbench run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    from workbench.runs.folder import RunFolder

    rf = RunFolder(out)
    summary = rf.summary
    df, emb = rf.results(), rf.embeddings()
    scores = df[[c for c in df.columns if c.startswith("score_")]].to_numpy(float)
    return wall, [(s, e.astype(np.float64)) for s, e in zip(scores, emb)], summary


def breakdown(wall: float, summary: dict) -> dict:
    """Where a `workbench run` process's time went, from its wall time and its summary.json."""
    timing = summary.get("engine", {}).get("timing_s", {})
    load_s, run_s = summary["model"]["load_seconds"], summary["seconds"]
    # decode_s runs in a thread beside model_s (summary.json's engine.timing_note): not a slice of the run's seconds
    engine_s = sum(timing.get(k, 0.0) for k in ("model_s", "post_s", "wait_s"))
    return {"process_wall_s": wall,
            "outside_run_s": wall - run_s,  # interpreter start, CLI imports, reading the manifest, printing, exit
            "model_load_s": load_s,  # the model's own load (building, weights, checksum)
            "run_other_s": run_s - load_s - engine_s,  # torch/FunASR imports at load, config, parts, results table
            **timing}


FLOOR_IMPORTS = {"floor": "torch, pandas, pyarrow.parquet", "floor:onnx": "onnxruntime, pandas, pyarrow.parquet"}


def run_floor(name: str = "floor") -> float:
    """Wall seconds of a fresh process that imports what every `workbench run` on that path must import, and exits
    (without the interpreter's teardown, as a `workbench` process ends)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import os, {FLOOR_IMPORTS[name]}; os._exit(0)"], check=True, cwd=str(REPO))
    return time.perf_counter() - t0


def equivalence(ref, other):
    top = np.mean([np.argmax(a[0]) == np.argmax(b[0]) for a, b in zip(ref, other)])
    dscore = max(float(np.abs(a[0] - b[0]).max()) for a, b in zip(ref, other))
    cos = min(float(a[1] @ b[1] / (np.linalg.norm(a[1]) * np.linalg.norm(b[1]) + 1e-30)) for a, b in zip(ref, other))
    return {"top1_agreement": float(top), "max_abs_score_diff": dscore, "min_embedding_cosine": cos}


def issue23_targets(best: dict, outs: dict, peak_dtype: dict, arch: str, figures: dict) -> None:
    """Issue #23's CPU lines: fastest precision ≥ 3× FunASR (and equal to float32), float32 ≥ 1.2×, share of the peak."""
    peaks = {d: matmul_peak_gflops(d) for d in ("float32", "bfloat16")}
    figures["peak_gflops"] = peaks
    print(f"\nmachine peak (2048² matmul, same threads, same run): float32 {peaks['float32']:.0f} GFLOP/s, "
          f"bfloat16 {peaks['bfloat16']:.0f} GFLOP/s")
    cost = GFLOP_PER_AUDIO_SECOND.get(arch)
    if cost:
        print(f"share of the peak (~{cost:g} GFLOP per audio-second, {arch}):")
        for name, speed in best.items():
            if name == "funasr":
                continue
            pdt = peak_dtype.get(name, "float32")
            share = speed * cost / peaks[pdt]
            figures["paths"][name]["peak_share"] = share
            print(f"  {name:<26} {speed * cost:7.0f} GFLOP/s = {100 * share:5.1f} % of the {pdt} peak")
    if "funasr" not in best or "cli:float32" not in best:
        print("  (issue #23 targets need the funasr and cli paths)")
        return
    f32 = best["cli:float32"] / best["funasr"]
    ok = f32 >= TARGETS["cli_float32_vs_funasr_cpu"]
    print(f"  `workbench run` float32 end to end vs FunASR per file: {f32:.2f}× (target ≥ {TARGETS['cli_float32_vs_funasr_cpu']}×): "
          f"{'met' if ok else 'NOT met'}")
    candidates = [n for n in best if n.startswith("cli:")]
    fastest = max(candidates, key=lambda n: best[n])
    eq = equivalence(outs["cli:float32"], outs[fastest])
    ratio = best[fastest] / best["funasr"]
    fast_ok = ratio >= TARGETS["cli_fastest_vs_funasr_cpu"]
    eq_ok = eq["top1_agreement"] >= TARGETS["fastest_top1_vs_float32"] and eq["min_embedding_cosine"] >= TARGETS["fastest_min_cosine_vs_float32"]
    print(f"  `workbench run` fastest precision ({fastest}) end to end vs FunASR per file: {ratio:.2f}× "
          f"(target ≥ {TARGETS['cli_fastest_vs_funasr_cpu']:g}×): {'met' if fast_ok else 'NOT met'}")
    print(f"  its equality with float32: top-1 {100 * eq['top1_agreement']:.1f} % (target 100 %), min cosine "
          f"{eq['min_embedding_cosine']:.5f} (target ≥ {TARGETS['fastest_min_cosine_vs_float32']}), max |Δ score| "
          f"{eq['max_abs_score_diff']:.2e}: {'met' if eq_ok else 'NOT met'}")
    model_paths = {n: v for n, v in best.items() if n == "model" or n.startswith("model:")}
    if model_paths:
        top = max(model_paths, key=model_paths.get)
        print(f"  fastest model-only path: {top} {model_paths[top]:.1f}× RT")
    figures["issue23"] = {"cli_float32_vs_funasr": f32, "cli_float32_met": ok, "fastest": fastest, "fastest_vs_funasr": ratio,
                          "fastest_met": fast_ok, "fastest_equal_to_float32": eq, "equal_met": eq_ok}


def issue28_targets(best: dict, outs: dict, extra: dict, arch: str, figures: dict) -> None:
    """Issue #28's lines: `--dtype auto` end to end ≥ 3× FunASR (large), its top-1 agreement with float32
    ≥ 23 of 24, and the whole process ≤ 1.25× the model-only time of the same path (tiny)."""
    print("issue #28:")
    res: dict = {}
    if "cli:auto" in best and "funasr" in best:
        ratio = best["cli:auto"] / best["funasr"]
        ok = ratio >= TARGETS["cli_auto_vs_funasr_cpu"]
        res.update(auto_vs_funasr=ratio, auto_vs_funasr_met=ok)
        print(f"  `workbench run --dtype auto` end to end vs FunASR per file: {ratio:.2f}× (target ≥ "
              f"{TARGETS['cli_auto_vs_funasr_cpu']:g}×, large){'' if arch == 'large' else f' [{arch}: not the target size]'}: "
              f"{'met' if ok else 'NOT met'}")
    if "cli:auto" in outs and "cli:float32" in outs:
        a, b = outs["cli:float32"], outs["cli:auto"]
        same = sum(int(np.argmax(x[0]) == np.argmax(y[0])) for x, y in zip(a, b))
        need = len(a) - len(a) // 24  # 23 of 24
        ok = same >= need
        res.update(auto_top1_same=same, auto_top1_of=len(a), auto_top1_met=ok)
        print(f"  its top-1 agreement with `--dtype float32`: {same} of {len(a)} (target ≥ {need} of {len(a)}, i.e. 23/24): "
              f"{'met' if ok else 'NOT met'}")
    # what the timed `workbench run --dtype auto` processes chose (their summary.json), else the measurement's choice
    chosen = (figures.get("cli_dtype_chosen") or {}).get("cli:auto") or (figures.get("auto_choice") or {}).get("chosen")
    model_name = {"float32": "model", "bfloat16": "model:bfloat16-weights", "int8": "model:int8",
                  "onnx-float32": "model:onnxruntime-float32", "onnx-int8": "model:onnxruntime-int8"}.get(chosen)
    if model_name and chosen.startswith("onnx-") and (figures.get("auto_choice") or {}).get("onnx_split", 1) > 1:
        model_name += "-split"  # the layout the run's auto chose (each batch in two parts), not the whole batch
    modes = sorted(n for n in best if n.startswith("cli:auto:"))  # --decode-ahead: the same run with another decoding thread
    for cli, model in (("cli:float32", "model"), ("cli:auto", model_name), *((m, model_name) for m in modes)):
        if cli in best and model in best:
            over = best[model] / best[cli]
            ok = over <= TARGETS["tiny_process_over_model"]
            res[f"{cli}_over_{model}"] = over
            print(f"  whole `{cli}` process ÷ model-only ({model}): {over:.2f} (target for tiny ≤ "
                  f"{TARGETS['tiny_process_over_model']}){'' if arch == 'tiny' else f' [{arch}]'}: {'met' if ok else 'NOT met'}")
            if cli in extra:
                print("    where it went: " + ", ".join(f"{k} {v:.2f} s" for k, v in extra[cli].items()))
            if cli == "cli:auto":
                res.update(run_bound(model, over, figures))
    figures["issue28"] = res


def run_bound(model: str, over: float, figures: dict) -> dict:
    """The best run/model ratio this machine allows for ``model``'s path, from what every run must do besides the
    model: start a process that imports the path's libraries (``floor:onnx`` or ``floor``) and decode and measure every
    clip (``decode_cpu_s``, one core), the latter on the cores the model leaves idle (its share in its best round) at
    best.  Best rounds, as the ratio ``over`` it bounds; a ratio under the bound says the load changed between the
    rounds and the bound means nothing.  ``{}`` without ``--floor``."""
    floors = figures.get("seconds_per_round", {}).get("floor:onnx" if "onnxruntime" in model else "floor")
    decode, rounds = figures.get("decode_cpu_s"), figures.get("seconds_per_round", {}).get(model)
    shares = figures.get("cores_busy_per_round", {}).get(model)
    if not floors or decode is None or not rounds or not shares:
        return {}
    floor, k = min(floors), int(np.argmin(rounds))
    wall, share, threads = rounds[k], shares[k], figures["threads"]
    idle = max(0.0, 1.0 - share) * threads * wall  # core-seconds the model's own run leaves unused
    bound = 1 + (floor + max(0.0, decode - idle) / threads) / wall
    serial = 1 + (floor + decode / threads) / wall
    print(f"    what a run must do besides the model: start and import ({floor:.2f} s, best round) and decode and measure "
          f"the clips ({decode:.2f} s of one core); the model-only path's best round leaves {idle:.2f} core-s idle (cores "
          f"busy {100 * share:.0f} %). Best ratio possible here: {bound:.2f} with decoding wholly in those idle cores, "
          f"{serial:.2f} with it shared evenly across the cores instead")
    valid = over >= bound - 1e-9
    if not valid:
        print(f"    !! the run's ratio {over:.2f} is under this bound: the load changed between rounds; the bound says nothing here")
    return {"bound_overlapped": bound, "bound_shared": serial, "bound_valid": valid, "decode_cpu_s": decode,
            "model_idle_core_s": idle}


def decode_cpu_seconds(paths: list[Path]) -> float:
    """CPU seconds (of this thread) that decoding the clips and measuring their signal facts costs: what a run does
    for each item besides the model (``workbench.engine.core._process``, the engine's own code)."""
    from workbench.audio.config import AudioConfig
    from workbench.data.manifest import Item
    from workbench.engine.core import WorkItem, _process

    config = AudioConfig()
    work = [WorkItem(Item(id=p.stem, path=str(p)), str(p)) for p in paths]
    _process(work[0], config)  # warm
    t0 = time.thread_time()
    for w in work:
        _process(w, config)
    return time.thread_time() - t0


def main() -> int:
    import logging

    logging.basicConfig(level=logging.WARNING)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--dtype", default=None, help="workbench precision (default: float32 on CPU, bfloat16 on CUDA)")
    ap.add_argument("--arch", default="large", choices=["tiny", "base", "large"])
    ap.add_argument("--clips", type=int, default=48)
    ap.add_argument("--min-seconds", type=float, default=2.0)
    ap.add_argument("--max-seconds", type=float, default=10.0)
    ap.add_argument("--rounds", type=int, default=1, help="alternating rounds; the best of each path is reported")
    ap.add_argument("--funasr-clips", type=int, default=None, help="time FunASR's loop on the first N clips only (the slow one)")
    ap.add_argument("--workers", type=int, default=None, help="decoding processes of the engine (default: its own choice)")
    ap.add_argument("--stand-in", action="store_true", help="measure the pipeline with a network that costs nothing")
    ap.add_argument("--skip", nargs="*", default=[], choices=["funasr", "model", "engine", "cli"], help="paths not to measure")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    ap.add_argument("--floor", action="store_true", help="also time a process that imports torch, pandas and pyarrow and exits")
    ap.add_argument("--baseline", default=None, metavar="DIR",
                    help="also time `workbench run` from this checkout (e.g. `git worktree add /tmp/base HEAD~3`), interleaved")
    ap.add_argument("--baseline-dtype", default=None, metavar="DTYPE",
                    help="--dtype of the baseline checkout's `workbench run` (default: the --dtype of cli)")
    ap.add_argument("--precisions", action="store_true",
                    help="also every precision/backend (model only) and `workbench run` in float32 and --dtype auto, with issue #23's targets")
    ap.add_argument("--decode-ahead", nargs="*", default=[], choices=["normal", "off"],
                    help="with --precisions: also `workbench run --dtype auto` with WORKBENCH_DECODE_AHEAD set to each of these "
                         "(the decoding thread competing with the model, or no thread), beside the default idle thread")
    args = ap.parse_args()
    original_env = dict(os.environ)  # what a baseline checkout's `workbench run` is started with
    from workbench.cli import prepare_process

    prepare_process()  # model-only runs with torch's threads waiting as a `workbench` process has them wait
    import torch

    from workbench.audio.intake import load as load_audio
    from workbench.model.checkpoints import ensure_random_checkpoint, random_checkpoint_info
    from workbench.data.manifest import Item, Manifest, write_manifest
    from workbench.model.network import auto_device, import_funasr, load_model

    device = auto_device() if args.device == "auto" else args.device
    dtype = args.dtype or ("bfloat16" if device.startswith("cuda") else "float32")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {platform.node()} | {platform.processor() or platform.machine()} | {cores} cores | torch {torch.__version__} "
          f"threads {torch.get_num_threads()} | OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY', 'default')} | "
          f"load average {os.getloadavg()[0]:.2f}")
    if device.startswith("cuda"):
        print(f"device: {torch.cuda.get_device_name(0)}")
    print(compile_bytecode(REPO))
    if args.baseline:
        print(compile_bytecode(Path(args.baseline)))
    figures: dict = {"device": device, "dtype": dtype, "arch": args.arch, "stand_in": args.stand_in, "paths": {}}
    skip = set(args.skip)
    if args.stand_in:
        skip |= {"funasr", "cli"}
        ck, n_params = None, 0
    else:
        t0 = time.perf_counter()
        ck = ensure_random_checkpoint(args.arch)
        n_params = random_checkpoint_info(ck)["parameters"]
        print(f"checkpoint: random {args.arch} ({n_params / 1e6:.1f} M parameters; published plus_large ~300 M) "
              f"[{time.perf_counter() - t0:.1f}s]")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "clips").mkdir()
        paths, total_audio = make_clips(tmp / "clips", args.clips, args.min_seconds, args.max_seconds, args.seed)
        manifest = write_manifest(Manifest([Item(id=p.stem, path=str(p)) for p in paths], root=tmp), tmp / "manifest.csv")
        f_paths = paths[: args.funasr_clips] if args.funasr_clips else paths
        f_audio = sum(__import__("soundfile").info(str(p)).duration for p in f_paths)
        print(f"data: {len(paths)} clips, {total_audio:.0f} s of audio ({args.min_seconds:g}–{args.max_seconds:g} s); "
              f"FunASR on {len(f_paths)} clips ({f_audio:.0f} s)")
        figures.update(clips=len(paths), audio_seconds=total_audio)

        net = StandInNet() if args.stand_in else load_model(str(ck), device=device, dtype=dtype)
        ref_model = None
        if "funasr" not in skip:
            funasr = import_funasr()
            with contextlib.redirect_stdout(io.StringIO()):
                ref_model = funasr.AutoModel(model=str(ck), device=device, disable_update=True, disable_pbar=True, log_level="ERROR",
                                             ncpu=torch.get_num_threads())
            run_funasr(ref_model, paths[:2], device)  # warm-up
        decoded = [load_audio(p) for p in paths] if "model" not in skip else []
        if args.floor:  # once, before the rounds: the decoding every run pays besides the model (issue #28's bound)
            figures.update(decode_cpu_s=decode_cpu_seconds(paths), threads=torch.get_num_threads())
            print(f"decoding and measuring the clips as a run does: {figures['decode_cpu_s']:.2f} s of one core")
        if decoded:
            run_model(net, decoded[:2], device)

        best: dict[str, float] = {}
        outs: dict[str, list] = {}
        extra: dict[str, dict] = {}
        best_extra: dict[str, dict] = {}  # where the time of each path's best round went
        seconds: dict[str, list[float]] = {}
        cpu_share: dict[str, list[float]] = {}  # CPU seconds of the path (this process and its children) ÷ (wall × threads)
        names = [n for n in ("funasr", "model", "engine", "cli") if n not in skip]
        names += (["cli:baseline"] if args.baseline else []) + (["floor", "floor:onnx"] if args.floor else [])
        alt_models: dict[str, object] = {}
        peak_dtype = {"model": dtype, "engine": dtype, "cli": dtype}
        cli_dtypes: dict[str, str] = {}
        if args.precisions and not args.stand_in:
            from workbench.model.ref import ModelRef

            # the measurement `--dtype auto` makes once per CPU and checkpoint happens here, before any timing,
            # so every timed `workbench run --dtype auto` reads the cached choice as a user's second run does
            t0 = time.perf_counter()
            # told the job's size as `workbench run` tells it, so that the model-only path compared with `cli:auto`
            # is the one the run chooses (start-up included, issue #28)
            chosen = ModelRef(str(ck), device=device, dtype="auto").load(progress=lambda line: print(f"  {line}", flush=True),
                                                                          job_clips=args.clips)
            auto = chosen.info.dtype
            figures["auto_choice"] = getattr(chosen, "precision", {"chosen": auto})
            print(f"--dtype auto on this machine → {auto} [{time.perf_counter() - t0:.1f}s]")
            del chosen
            for name, alt, pdt in precision_paths(ck, device, tmp):
                alt_models[name], peak_dtype[name] = alt, pdt
                run_model(alt, decoded[:2], device)  # warm-up
            cli_dtypes = {"cli:float32": "float32", "cli:auto": "auto", **{f"cli:auto:{m}": "auto" for m in args.decode_ahead}}
            peak_dtype.update({name: "float32" for name in cli_dtypes})
            peak_dtype.update({name: "bfloat16" for name in cli_dtypes if name.startswith("cli:auto") and auto == "bfloat16"})
            names = [n for n in names if n != "cli"] + list(alt_models) + list(cli_dtypes)  # cli:float32 is `cli`

        def measure(name, out_dir):
            """One timed pass of one path: (seconds, outputs, audio seconds)."""
            if name == "funasr":
                elapsed, out = run_funasr(ref_model, f_paths, device)
                audio = f_audio
            elif name == "model":
                elapsed, out = run_model(net, decoded, device)
                audio = total_audio
            elif name in FLOOR_IMPORTS:
                elapsed, out, audio = run_floor(name), None, total_audio
            elif name == "cli:baseline":
                elapsed, out, summary = run_cli(manifest, out_dir, ck, device, args.baseline_dtype or dtype, args.workers, repo=Path(args.baseline),
                                                env=original_env)
                audio = total_audio
                extra[name] = breakdown(elapsed, summary)
            elif name in alt_models:
                elapsed, out = run_model(alt_models[name], decoded, device)
                audio = total_audio
            elif name in cli_dtypes:
                mode = name.split(":")[2] if name.count(":") == 2 else None  # cli:auto:normal → WORKBENCH_DECODE_AHEAD=normal
                elapsed, out, summary = run_cli(manifest, out_dir, ck, device, cli_dtypes[name], args.workers,
                                                env={**os.environ, "WORKBENCH_DECODE_AHEAD": mode} if mode else None)
                audio = total_audio
                extra[name] = {"process_wall_s": elapsed, "model_load_s": summary["model"]["load_seconds"],
                               **summary.get("engine", {}).get("timing_s", {})}
                figures.setdefault("cli_dtype_chosen", {})[name] = summary.get("precision", {}).get("chosen")
            elif name == "engine":
                elapsed, out, summary = run_engine(net, manifest, out_dir, device, args.workers)
                audio = total_audio
                extra[name] = summary.get("engine", {}).get("timing_s", {})
            else:
                elapsed, out, summary = run_cli(manifest, out_dir, ck, device, dtype, args.workers)
                audio = total_audio
                extra[name] = breakdown(elapsed, summary)
            return elapsed, out, audio

        for r in range(args.rounds):
            for name in names:
                out_dir = tmp / f"run_{name}_{r}"
                cpu0 = cpu_seconds()
                try:
                    elapsed, out, audio = measure(name, out_dir)
                except Exception as exc:  # noqa: BLE001 — a path that breaks is reported; the others' figures stay
                    print(f"round {r + 1}: {name:<26} FAILED: {type(exc).__name__}: {str(exc)[:300]}", flush=True)
                    figures.setdefault("failed", {})[name] = f"{type(exc).__name__}: {exc}"[:1000]
                    continue
                speed = audio / elapsed
                share = (cpu_seconds() - cpu0) / (elapsed * torch.get_num_threads())
                cpu_share.setdefault(name, []).append(share)
                print(f"round {r + 1}: {name:<26} {elapsed:9.2f} s  {speed:9.1f}× real time  load {os.getloadavg()[0]:.2f}  "
                      f"cores busy {100 * share:3.0f} %", flush=True)
                seconds.setdefault(name, []).append(elapsed)
                if name in FLOOR_IMPORTS:
                    continue
                if speed > best.get(name, 0):
                    best[name], outs[name] = speed, out
                    if name in extra:
                        best_extra[name] = dict(extra[name])

    print("\nresult (best round of each path):")
    print(f"{'path':<26} {'× real time':>12} {'vs FunASR':>10} {'top-1 agree':>12} {'max |Δscore|':>13} {'min cos':>9}")
    ref = outs.get("funasr")
    for name, speed in best.items():
        eq = equivalence(ref, outs[name][: len(ref)]) if ref is not None else {}
        ratio = speed / best["funasr"] if "funasr" in best else float("nan")
        line = f"{name:<26} {speed:12.1f} {ratio:9.2f}×"
        if eq:
            line += f" {eq['top1_agreement']:12.3f} {eq['max_abs_score_diff']:13.2e} {eq['min_embedding_cosine']:9.6f}"
        print(line)
        figures["paths"][name] = {"x_real_time": speed, "vs_funasr": ratio, **eq, **({"timing_s": extra[name]} if name in extra else {})}
    for a, b in (("cli", "model"), ("cli", "cli:baseline"), ("engine", "model")):
        if a in outs and b in outs:
            same = all(np.array_equal(x[0], y[0]) and np.array_equal(x[1], y[1]) for x, y in zip(outs[a], outs[b]))
            figures.setdefault("identical", {})[f"{a} vs {b}"] = same
            print(f"{a} vs {b}: scores and embeddings {'identical' if same else 'DIFFER'} "
                  f"(max |Δ score| {max(float(np.abs(x[0] - y[0]).max()) for x, y in zip(outs[a], outs[b])):.2e})")
    for name, t in best_extra.items():
        print(f"where the {name} run's time went (its best round): " + ", ".join(f"{k} {v:.2f} s" for k, v in t.items()))
    print("seconds per round (median, all rounds): " + "; ".join(
        f"{n} {np.median(v):.2f} ({', '.join(f'{x:.2f}' for x in v)})" for n, v in seconds.items()))
    figures["seconds_per_round"] = seconds
    figures["cores_busy_per_round"] = cpu_share
    print("share of its threads' time each path got on the CPU, per round (low: other processes had the cores): " + "; ".join(
        f"{n} {', '.join(f'{100 * x:.0f} %' for x in v)}" for n, v in cpu_share.items()))

    print("\ntargets:")
    if args.stand_in and "engine" in best:
        used = min(cores, (args.workers if args.workers is not None else cores) + 1)
        per_core = best["engine"] / used
        figures["pipeline_per_core_x_rt"] = per_core
        print(f"  pipeline ceiling: {best['engine']:.0f}× RT on {used} cores = {per_core:.0f}× RT per core "
              f"(target ≥ {TARGETS['pipeline_per_core_x_rt']:.0f}): {'met' if per_core >= TARGETS['pipeline_per_core_x_rt'] else 'NOT met'}")
    for cli in ("cli", "cli:baseline"):
        if cli in best and "model" in best:
            over = best["model"] / best[cli]
            med = float(np.median(seconds[cli]) / np.median(seconds["model"]))
            figures["process_over_model" + ("" if cli == "cli" else "_baseline")] = {"best": over, "median": med}
            print(f"  whole `workbench run` process ({cli}) ÷ model-only time: best rounds {over:.2f}, medians {med:.2f} "
                  f"(target for --arch tiny ≤ {TARGETS['tiny_process_over_model']}): "
                  f"{'met' if over <= TARGETS['tiny_process_over_model'] else 'NOT met'}")
    for name, imports in FLOOR_IMPORTS.items():
        if name in seconds and "model" in seconds:
            floor = float(np.median(seconds[name]))
            figures[name.replace(":", "_")] = {"median_s": floor, "imports": imports}
            print(f"  {name} (a process importing {imports}): median {floor:.2f} s = "
                  f"{floor / np.median(seconds['model']):.2f} of the model-only median; the best ratio a run on that path can "
                  f"have here is {1 + floor / np.median(seconds['model']):.2f}")
    if "cli" in best and "funasr" in best:
        ratio = best["cli"] / best["funasr"]
        target = TARGETS["cli_vs_funasr_gpu" if device.startswith("cuda") else "cli_vs_funasr_cpu"]
        print(f"  `workbench run` end to end vs FunASR per file: {ratio:.2f}× (target ≥ {target:g}× on "
              f"{'an H100, bf16, ≥ 4096 clips' if device.startswith('cuda') else 'CPU'}): {'met' if ratio >= target else 'NOT met'}")
    if args.precisions and not args.stand_in:
        issue23_targets(best, outs, peak_dtype, args.arch, figures)
        issue28_targets(best, outs, extra, args.arch, figures)
    figures["load_average"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    print(f"load average at the end: {figures['load_average']}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
