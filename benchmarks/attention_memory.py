#!/usr/bin/env python3
"""The memory a forward pass holds per (clip, head, frame pair) of its attention, measured, against the figure the
memory check refuses with (``workbench.model.memory.ATTENTION_BYTES`` on a CPU, ``ATTENTION_BYTES_CUDA`` on CUDA).

The check (:func:`~workbench.model.memory.check_attention_fits`) refuses a batch whose attention would not fit in the
memory free now, from a bytes-per-pair figure.  The CPU figures were measured; the CUDA ones are estimated from the
tensors the code allocates.  This measures both the same way: one clip of each of four lengths, the peak memory of
its forward pass above what the loaded model holds, and

* ``at_longest``: that peak over the check's own need (``attention_need``) at the longest clip — above 1, the check
  lets through a batch that does not fit (the figure UNDERESTIMATES);
* ``bytes_per_pair``: the quadratic term of a least-squares fit ``peak = a + b·frames + c·frames²`` over the four
  lengths, divided by the heads (the linear term is the activations, the constant the allocator's slack).

How the peak is read: torch on CUDA, ``torch.cuda.max_memory_allocated`` (reset before each clip); ONNX Runtime on CUDA,
the device's used memory (its arena grows and is not given back: lengths ascending, the growth since the warm-up);
on a CPU, the peak resident set (``VmHWM``, reset through ``/proc/self/clear_refs``) in a fresh process per clip.

    python benchmarks/attention_memory.py --arch tiny --device cpu --json /tmp/att.json        # ~1 min on 2 cores
    python benchmarks/attention_memory.py --arch large --device cuda --json $OUT/att.json      # gpu_suite.sh runs this
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

#: clip lengths (s): long enough that the attention's square term dominates, short enough for a loan / two cores
SECONDS = {"cpu": (6.0, 12.0, 18.0, 24.0), "cuda": (30.0, 60.0, 90.0, 120.0)}
FRAME_SAMPLES = 320  # 16 kHz audio, 50 frames a second: how the check counts frames


def _clip(seconds: float) -> np.ndarray:
    rng = np.random.default_rng(int(seconds * 10))
    t = np.arange(int(seconds * 16000)) / 16000
    return (0.3 * np.sin(2 * np.pi * 150 * t) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


def _cpu_rss_peak_reset() -> int:
    """Reset this process's peak resident set to its current size; returns the current size (bytes)."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kb("VmRSS") * 1024


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {key}")


def _load(path: str, model: str, device: str, dtype: str):
    if path == "onnxruntime":
        from workbench.model.onnx_backend import load_onnx_model

        m = load_onnx_model(model, device=device)
        return m, m.attention_heads
    from workbench.model.memory import attention_heads
    from workbench.model.network import load_model

    m = load_model(model, device=device, dtype=dtype)
    return m, attention_heads(m.network)


def child(a) -> None:
    """In a fresh process: load one path, warm it up on 1 s, then each length's peak above the loaded model (JSON out)."""
    from workbench.model.network import BatchPolicy

    m, heads = _load(a.path, a.model, a.device, a.dtype)
    policy = BatchPolicy(max_batch_size=1, max_batch_seconds=1e9, max_pad_fraction=1.0)
    m.predict([_clip(1.0)], policy=policy)
    on_cuda = a.device.startswith("cuda")
    if on_cuda:
        import torch

        torch.cuda.synchronize()
        used0 = torch.cuda.mem_get_info()[1] - torch.cuda.mem_get_info()[0]
    out = []
    for seconds in a.seconds:
        wave = _clip(seconds)
        if on_cuda and a.path == "torch":
            torch.cuda.reset_peak_memory_stats()
            before = torch.cuda.memory_allocated()
            m.predict([wave], policy=policy)
            torch.cuda.synchronize()
            peak = torch.cuda.max_memory_allocated() - before
        elif on_cuda:  # ONNX Runtime's arena: what the device has given since the warm-up
            m.predict([wave], policy=policy)
            torch.cuda.synchronize()
            free, total = torch.cuda.mem_get_info()
            peak = total - free - used0
        else:
            before = _cpu_rss_peak_reset()
            m.predict([wave], policy=policy)
            peak = _status_kb("VmHWM") * 1024 - before
        out.append({"seconds": seconds, "frames": len(wave) // FRAME_SAMPLES, "peak_bytes": int(peak)})
    print(json.dumps({"heads": heads, "points": out}))


def _run_child(path: str, model: str, device: str, dtype: str, seconds: list[float]) -> dict:
    cmd = [sys.executable, __file__, "--child", path, "--model", model, "--device", device, "--dtype", dtype,
           "--seconds", *map(str, seconds)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{path} {dtype} at {seconds} s failed: {proc.stderr.strip()[-1500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(path: str, model: str, device: str, dtype: str, seconds: tuple[float, ...]) -> dict:
    """One path's points, its fit and its verdict against the check's figure."""
    from workbench.model.memory import ATTENTION_BYTES, ATTENTION_BYTES_CUDA, attention_need

    if device.startswith("cuda"):  # one process: the peak is reset per clip (torch) or the arena only grows (lengths ascending)
        got = _run_child(path, model, device, dtype, list(seconds))
        heads, points = got["heads"], got["points"]
    else:  # the peak resident set of a fresh process per clip
        runs = [_run_child(path, model, device, dtype, [s]) for s in seconds]
        heads, points = runs[0]["heads"], [r["points"][0] for r in runs]
    key = "onnx-float32" if path == "onnxruntime" else dtype
    table = ATTENTION_BYTES_CUDA if device.startswith("cuda") else ATTENTION_BYTES
    frames = np.array([p["frames"] for p in points], dtype=float)
    peaks = np.array([p["peak_bytes"] for p in points], dtype=float)
    a, b, c = np.linalg.lstsq(np.stack([np.ones_like(frames), frames, frames**2], 1), peaks, rcond=None)[0]
    longest = points[-1]
    need = attention_need(heads, 1, longest["frames"], dtype=key, device=device)
    ratio = longest["peak_bytes"] / need
    res = {"path": path, "dtype": key, "heads": heads, "points": points, "fit": {"constant": a, "per_frame": b, "per_pair": c},
           "bytes_per_pair": c / heads, "check_bytes_per_pair": table[key], "at_longest": ratio,
           "check_holds": bool(ratio <= 1.0)}
    verdict = "holds" if res["check_holds"] else "UNDERESTIMATES: the check would let a batch through that does not fit"
    print(f"{path:<12} {key:<13} heads {heads}: {c / heads:6.1f} bytes a pair (fit), the check assumes {table[key]}; "
          f"at {longest['seconds']:g} s the peak is {ratio:.2f}× the check's need: {verdict}", flush=True)
    return res


def run(arch: str, device: str, work: str | os.PathLike, seconds: tuple[float, ...] | None = None,
        dtypes: list[str] | None = None) -> dict:
    """Every path of ``device``: torch in ``dtypes`` (default: bf16 and float32 on CUDA, float32 on a CPU), and ONNX
    Runtime where it can run there."""
    import onnxruntime as ort

    from workbench.model.checkpoints import ensure_random_checkpoint
    from workbench.model.network import load_model
    from workbench.model.onnx_export import export_onnx

    kind = "cuda" if device.startswith("cuda") else "cpu"
    seconds = tuple(seconds or SECONDS[kind])
    ck = str(ensure_random_checkpoint(arch))
    dtypes = dtypes or (["bfloat16", "float32"] if kind == "cuda" else ["float32"])
    result: dict = {"arch": arch, "device": device, "seconds": list(seconds), "paths": {}}
    for dtype in dtypes:
        result["paths"][f"torch-{dtype}"] = measure("torch", ck, device, dtype, seconds)
    if kind == "cpu" or "CUDAExecutionProvider" in ort.get_available_providers():
        folder = Path(work) / "onnx-attention"
        if not (folder / "model.onnx").exists():
            export_onnx(load_model(ck, device="cpu", dtype="float32"), folder)
        result["paths"]["onnxruntime-float32"] = measure("onnxruntime", str(folder), device, "float32", seconds)
    else:
        result["note"] = "onnxruntime here has no CUDAExecutionProvider: ONNX Runtime's CUDA figure (56) not measured"
        print(result["note"], flush=True)
    result["check_holds"] = all(p["check_holds"] for p in result["paths"].values())
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="tiny", help="a generated architecture (tiny, base, large)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seconds", type=float, nargs="+", default=None, help="clip lengths (default: 4, by device)")
    ap.add_argument("--json", default=None, help="where to write the figures")
    ap.add_argument("--dtypes", nargs="+", choices=["float32", "bfloat16", "float16", "int8"], default=None,
                    help="torch's precisions (default: bfloat16 float32 on CUDA, float32 on a CPU)")
    ap.add_argument("--child", choices=["torch", "onnxruntime"], help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--dtype", default="float32", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        a.path = a.child
        child(a)
        return 0
    if a.seconds is not None and len(a.seconds) < 3:
        ap.error("--seconds needs at least three lengths (the fit has three terms)")
    with tempfile.TemporaryDirectory() as work:
        result = run(a.arch, a.device, work, tuple(sorted(a.seconds)) if a.seconds else None, a.dtypes)
    if a.json:
        Path(a.json).write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
