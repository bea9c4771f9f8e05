#!/usr/bin/env python3
"""Every GPU figure of issue #23 in one process tree, one JSON — sized for a short GPU loan (< 8 min on an H200).

    python benchmarks/gpu_suite.py --json $OUT/gpu_suite.json          # on the GPU machine (gpu_suite.sh calls this)
    python benchmarks/gpu_suite.py --smoke --json /tmp/smoke.json       # tiny model on the CPU: the suite itself runs

Steps (each timed; a failing step is recorded with its error and the others still run):

1. ``end_to_end``: ``benchmarks/inference.py --device cuda --dtype auto`` (bf16, or fp16 without bf16; the
   batches sized by free memory, ``workbench.model.network.cuda_policy``) on 4096 synthetic clips of
   2–10 s, FunASR's per-file loop on the first 256 — ``workbench run`` end to end vs FunASR
   (target ≥ 20×) and the model in-process.
2. ``model_only``: the large architecture in bf16, 256 clips × 6 s per ``predict`` call, best of 3
   (target ≥ 8000× real time), then the same clips under the run's own policy (``default_policy``: sized by
   free memory) and the peak memory per audio-second that sizes it (``bytes_per_audio_second``).
3. ``onnxruntime``: the graph of ``workbench model export-onnx`` under ONNX Runtime's CUDA provider
   beside torch float32 and bf16 on the same 64 clips × 6 s; where onnxruntime has no CUDA provider
   (the onnxruntime wheel is CPU-only; onnxruntime-gpu may be absent), that is recorded and torch is
   measured alone.
4. ``compiled``: does ``torch.compile`` pay for the bucket shapes?  The same 256 × 6 s batch as ``model_only``
   through the network's ``extract_features`` compiled (``default``, then ``reduce-overhead``: CUDA graphs), one
   fixed shape, against eager in the same step, with the compile time and the agreement with eager (top-1,
   max |Δ score|, cosine).  Measured only: the product runs eager until this says otherwise.
5. ``attention_memory``: the bytes a forward pass holds per (clip, head, frame pair) of its attention on this device,
   measured on one clip of 30, 60, 90 and 120 s per path (torch bf16 and float32, ONNX Runtime where it has a CUDA
   provider), against the figures the memory check refuses with (``ATTENTION_BYTES_CUDA``: estimated until this
   runs on a GPU); ``benchmarks/attention_memory.py`` says how.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
TARGETS = {"cli_vs_funasr_gpu": 20.0, "model_gpu_x_rt": 8000.0}


def sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def clips(n: int, seconds: float, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    out = []
    for _ in range(n):
        f0 = 110 + 80 * rng.random()
        out.append((0.3 * np.sin(2 * np.pi * f0 * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32))
    return out


def step_end_to_end(a, figures: dict) -> dict:
    out = Path(a.work) / "end_to_end.json"
    cmd = [sys.executable, str(REPO / "benchmarks" / "inference.py"), "--device", a.device, "--arch", a.arch,
           "--clips", str(a.e2e_clips), "--funasr-clips", str(a.funasr_clips), "--skip", "engine", "--json", str(out)]
    if a.device.startswith("cuda"):
        cmd += ["--dtype", "auto"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(REPO), env={**os.environ, "PYTHONPATH": os.pathsep.join(
                              p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)})
    print(proc.stdout[-4000:], flush=True)
    if proc.returncode != 0:
        raise RuntimeError(f"inference.py failed ({proc.returncode}): {proc.stderr[-3000:]}")
    res = json.loads(out.read_text())
    paths = res.get("paths", {})
    ratio = paths.get("cli", {}).get("vs_funasr")
    return {"figures": res, "cli_vs_funasr": ratio, "target": TARGETS["cli_vs_funasr_gpu"],
            "met": bool(ratio is not None and ratio >= TARGETS["cli_vs_funasr_gpu"])}


def step_model_only(a, figures: dict) -> dict:
    from workbench.model.checkpoints import ensure_random_checkpoint
    from workbench.model.network import CUDA_BYTES_PER_AUDIO_SECOND, BatchPolicy, default_policy, load_model

    dtype = "bfloat16" if a.device.startswith("cuda") else "float32"
    net = load_model(str(ensure_random_checkpoint(a.arch)), device=a.device, dtype=dtype)
    batch = clips(a.model_clips, a.model_seconds, seed=1)
    policy = BatchPolicy(max_batch_size=a.model_clips, max_batch_seconds=1e9, max_pad_fraction=1.0)
    net.predict(batch[:8], policy=policy)  # warm-up (kernels, allocator)
    times = []
    for _ in range(3):
        sync(a.device)
        t0 = time.perf_counter()
        net.predict(batch, policy=policy)
        sync(a.device)
        times.append(time.perf_counter() - t0)
    speed = a.model_clips * a.model_seconds / min(times)
    print(f"model only ({dtype}, {a.model_clips} × {a.model_seconds:g} s): {speed:.0f}× real time (best of 3: {min(times):.3f} s)", flush=True)
    res = {"dtype": dtype, "clips": a.model_clips, "seconds_each": a.model_seconds, "times_s": times, "x_real_time": speed,
           "target": TARGETS["model_gpu_x_rt"], "met": speed >= TARGETS["model_gpu_x_rt"]}
    # the run's own policy on the same clips, and the memory figure that sizes it
    own = default_policy(a.device)
    sync(a.device)
    t0 = time.perf_counter()
    net.predict(batch, policy=own)
    sync(a.device)
    own_s = time.perf_counter() - t0
    res["default_policy"] = {**own.to_dict(), "seconds": own_s, "x_real_time": a.model_clips * a.model_seconds / own_s}
    print(f"  the run's policy {own.to_dict()}: {res['default_policy']['x_real_time']:.0f}× real time", flush=True)
    if a.device.startswith("cuda"):
        import torch

        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        net.predict(batch, policy=policy)
        peak = torch.cuda.max_memory_allocated() - base
        res["bytes_per_audio_second"] = peak / (a.model_clips * a.model_seconds)
        print(f"  peak memory of one {a.model_clips}-clip batch: {peak / 2**30:.1f} GiB = "
              f"{res['bytes_per_audio_second'] / 1e6:.1f} MB per audio-second "
              f"(the policy assumes {CUDA_BYTES_PER_AUDIO_SECOND / 1e6:.0f})", flush=True)
    return res


def step_onnxruntime(a, figures: dict) -> dict:
    import onnxruntime as ort

    from workbench.model.checkpoints import ensure_random_checkpoint
    from workbench.analysis.compare import agreement
    from workbench.model.network import BatchPolicy, clear_cache, load_model
    from workbench.model.onnx_backend import load_onnx_model
    from workbench.model.onnx_export import export_onnx

    providers = ort.get_available_providers()
    ck = str(ensure_random_checkpoint(a.arch))
    t0 = time.perf_counter()
    export_onnx(load_model(ck, device="cpu", dtype="float32"), Path(a.work) / "onnx")
    clear_cache()  # the CPU float32 copy is not needed any more
    export_s = time.perf_counter() - t0
    batch = clips(a.ort_clips, a.model_seconds, seed=2)
    audio = a.ort_clips * a.model_seconds
    policy = BatchPolicy(max_batch_size=16, max_batch_seconds=1e9, max_pad_fraction=1.0)
    result: dict = {"providers": providers, "export_s": export_s, "clips": a.ort_clips, "paths": {}}
    models = {}
    for dtype in (["float32", "bfloat16"] if a.device.startswith("cuda") else ["float32"]):
        models[f"torch-{dtype}"] = load_model(ck, device=a.device, dtype=dtype)
    ort_device = "cuda" if a.device.startswith("cuda") and "CUDAExecutionProvider" in providers else "cpu"
    if a.device.startswith("cuda") and ort_device == "cpu":
        result["note"] = ("onnxruntime here has no CUDAExecutionProvider (CPU-only wheel; onnxruntime-gpu not installed): "
                          "ONNX Runtime on CUDA not measured, torch measured alone")
        print(result["note"], flush=True)
    if ort_device == "cuda" or not a.device.startswith("cuda"):
        models[f"onnxruntime-{ort_device}-float32"] = load_onnx_model(Path(a.work) / "onnx", device=ort_device)
    preds = {}
    for name, m in models.items():
        m.predict(batch[:4], policy=policy)  # warm-up
        best = float("inf")
        for _ in range(3):
            sync(a.device)
            t0 = time.perf_counter()
            p = m.predict(batch, policy=policy)
            sync(a.device)
            best = min(best, time.perf_counter() - t0)
        preds[name] = p
        result["paths"][name] = {"x_real_time": audio / best, "best_s": best}
        print(f"{name:<28} {audio / best:9.0f}× real time", flush=True)
    ref = preds["torch-float32"]
    for name, p in preds.items():
        if name != "torch-float32":
            result["paths"][name]["vs_torch_float32"] = agreement(
                [x.label for x in ref], [x.label for x in p], np.stack([x.scores for x in ref]), np.stack([x.scores for x in p]),
                np.stack([x.embedding for x in ref]), np.stack([x.embedding for x in p]))
    return result


def step_compiled(a, figures: dict) -> dict:
    import contextlib

    import torch

    from workbench.model.checkpoints import ensure_random_checkpoint
    from workbench.model.funasr_patches import fused_attention, low_precision_front_end, masked_positional_encoder
    from workbench.model.network import load_model

    dtype = "bfloat16" if a.device.startswith("cuda") else "float32"
    net = load_model(str(ensure_random_checkpoint(a.arch)), device=a.device, dtype=dtype)
    module = net.network
    # one length: one shape (the compiler's best case, as a length bucket would give), no padding mask
    source = torch.from_numpy(np.stack(clips(a.model_clips, a.model_seconds, seed=1))).to(a.device)
    audio = a.model_clips * a.model_seconds
    frames = [1] * a.model_clips  # equal lengths: the positional encoder's padding mask is a no-op

    def timed(fn, rounds: int = 5) -> tuple[float, "torch.Tensor"]:
        best, x = float("inf"), None
        for _ in range(rounds):
            sync(a.device)
            t0 = time.perf_counter()
            x = fn(source, padding_mask=None)["x"]
            sync(a.device)
            best = min(best, time.perf_counter() - t0)
        return best, x.float().mean(1)  # (B, D): the pooled features the head sees

    res: dict = {"dtype": dtype, "clips": a.model_clips, "seconds_each": a.model_seconds, "torch": torch.__version__, "modes": {}}
    # the network's patches entered once around every call (as one predict batch does), so that the compiled graph's
    # guards see the same modules each time
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.inference_mode())
        stack.enter_context(net._autocast())
        stack.enter_context(masked_positional_encoder(module, frames))
        stack.enter_context(fused_attention(module, net.attention == "fused"))
        stack.enter_context(low_precision_front_end(module, net.time_major_front_end))
        module.extract_features(source[:8], padding_mask=None)  # warm-up, as model_only
        eager_s, eager = timed(module.extract_features)
        res["eager"] = {"best_s": eager_s, "x_real_time": audio / eager_s}
        print(f"eager ({dtype}, {a.model_clips} × {a.model_seconds:g} s): {audio / eager_s:.0f}× real time", flush=True)
        for mode in a.compile_modes:
            torch._dynamo.reset()
            try:
                fn = torch.compile(module.extract_features, mode=mode, dynamic=False)
                t0 = time.perf_counter()
                fn(source, padding_mask=None)  # compiles for this shape
                sync(a.device)
                compile_s = time.perf_counter() - t0
                best, pooled = timed(fn)
                cos = torch.nn.functional.cosine_similarity(pooled, eager, dim=1)
                res["modes"][mode] = {"ok": True, "first_call_s": compile_s, "best_s": best, "x_real_time": audio / best,
                                      "vs_eager": eager_s / best, "max_abs_diff_pooled": float((pooled - eager).abs().max()),
                                      "min_cosine_pooled": float(cos.min())}
                print(f"torch.compile mode={mode}: {audio / best:.0f}× real time ({eager_s / best:.2f}× eager; first call "
                      f"{compile_s:.0f} s; pooled features min cosine {float(cos.min()):.6f})", flush=True)
            except Exception as exc:  # noqa: BLE001 — a mode the compiler cannot do here is a finding, not the end of the loan
                res["modes"][mode] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:1500]}
                print(f"torch.compile mode={mode}: failed — {type(exc).__name__}: {str(exc)[:300]}", flush=True)
    return res


def step_attention_memory(a, figures: dict) -> dict:
    sys.path.insert(0, str(REPO / "benchmarks"))
    import attention_memory

    return attention_memory.run(a.arch, a.device, a.work)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="tiny model, CPU, a handful of clips: checks the suite runs")
    ap.add_argument("--device", default=None, help="default: cuda (cpu with --smoke)")
    ap.add_argument("--json", default=None, help="where to write the JSON (default: $OUT/gpu_suite.json, else ./gpu_suite.json)")
    steps = ["end_to_end", "model_only", "onnxruntime", "compiled", "attention_memory"]
    ap.add_argument("--steps", nargs="*", choices=steps, default=steps,
                    help="which steps, in order (default: all five)")
    a = ap.parse_args()
    a.device = a.device or ("cpu" if a.smoke else "cuda")
    a.arch = "tiny" if a.smoke else "large"
    a.e2e_clips, a.funasr_clips = (6, 3) if a.smoke else (4096, 256)
    a.model_clips, a.model_seconds = (4, 2.0) if a.smoke else (256, 6.0)
    a.ort_clips = 4 if a.smoke else 64
    a.compile_modes = ["default"] if a.smoke else ["default", "reduce-overhead"]
    target = Path(a.json) if a.json else Path(os.environ.get("OUT", ".")) / "gpu_suite.json"
    import torch

    figures: dict = {"smoke": a.smoke, "device": a.device, "arch": a.arch, "machine": platform.node(), "torch": torch.__version__,
                     "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None, "steps": {}}
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        a.work = work
        for name in a.steps:
            t0 = time.perf_counter()
            print(f"== {name}", flush=True)
            try:
                res = {"ok": True, **globals()[f"step_{name}"](a, figures)}
            except Exception as exc:  # noqa: BLE001 — one failing step must not lose the others' figures on a short loan
                traceback.print_exc()
                res = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:3000]}
            res["step_seconds"] = time.perf_counter() - t0
            figures["steps"][name] = res
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(figures, indent=2, default=str))  # after each step: a cut-off loan keeps what ran
    figures["total_seconds"] = time.perf_counter() - t_all
    target.write_text(json.dumps(figures, indent=2, default=str))
    print("\ntargets:")
    att = figures["steps"].get("attention_memory", {})
    if att.get("ok"):
        ratios = ", ".join(f"{k} {v['at_longest']:.2f}x" for k, v in att["paths"].items())
        print(f"  attention_memory: the memory check's bytes per pair {'hold' if att['check_holds'] else 'UNDERESTIMATE'} "
              f"on {a.device} (peak at the longest clip: {ratios} of the check's need)")
    for name, key in (("end_to_end", "cli_vs_funasr"), ("model_only", "x_real_time")):
        s = figures["steps"].get(name, {})
        if s.get("ok"):
            print(f"  {name}: {s.get(key)} (target ≥ {s.get('target')}): {'met' if s.get('met') else 'NOT met'}")
        elif name in figures["steps"]:
            print(f"  {name}: failed — {s.get('error', '')[:200]}")
    print(f"wrote {target} ({figures['total_seconds']:.0f} s)")
    return 0 if all(s.get("ok") for s in figures["steps"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
