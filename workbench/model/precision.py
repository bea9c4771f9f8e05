"""Which numeric precision the model runs in: ``--dtype auto|float32|bfloat16|float16|int8|onnx-float32|onnx-int8``.

The decision is :meth:`ModelRef.settled <workbench.model.ref.ModelRef.settled>`'s
(:func:`workbench.model.ref.resolve_dtype`), which says why; every command that loads a model records
both the choice and the reason in the run's provenance.  An explicit request is never changed: ``auto``
is the only value the workbench chooses for the user.  This module holds the hardware facts it decides from.

``auto``:

* CUDA: ``bfloat16`` where the GPU supports it (compute capability ≥ 8.0), else ``float16``;
* CPU: the fastest path that agrees with float32, *measured* once on this machine for this
  checkpoint (:mod:`workbench.model.fastpath`: bf16 weights, int8, ONNX Runtime float32/int8).
  :func:`~workbench.model.ref.resolve_dtype` answers ``"measured"`` for it; :meth:`ModelRef.load
  <workbench.model.ref.ModelRef.load>` measures (or reads the cached measurement) and loads the winner.
  Where a choice must be made without loading (the Ray driver), :func:`static_cpu_choice` gives the
  rule of issue #23's figures: ``bfloat16`` on a CPU with bf16 instructions, else ``int8``.

``onnx-float32``/``onnx-int8`` run the checkpoint by ONNX Runtime through its cached, verified export
(CPU only).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import re
from pathlib import Path


DTYPES = ("float32", "bfloat16", "float16", "int8", "onnx-float32", "onnx-int8")
#: what ``ref.resolve_dtype("auto", "cpu")`` answers: the choice is measured when the model loads
MEASURED = "measured"
DTYPE_CHOICES = ("auto",) + DTYPES


@functools.lru_cache(maxsize=None)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of this machine (``/proc/cpuinfo``; empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags") or line.startswith("Features"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_identity() -> dict:
    """What a measurement is valid for: the CPU model name, the cores this process may use, its bf16/int8 flags."""
    name = _cpu_name()
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    flags = sorted(f for f in cpu_flags() if f.startswith(("amx", "avx512", "avx_vnni", "avx2")))
    return {"model": name, "threads": threads, "flags": flags}


@functools.lru_cache(maxsize=1)
def _cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo, else ``platform.processor()`` (on Linux a ``uname -p`` subprocess: 10-30 ms)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_key(identity: dict | None = None) -> str:
    identity = identity or cpu_identity()
    slug = re.sub(r"[^A-Za-z0-9]+", "-", identity["model"]).strip("-")[:40] or "cpu"
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]
    return f"{slug}-{identity['threads']}c-{digest}"


@functools.lru_cache(maxsize=None)
def cpu_vendor() -> str | None:
    """This machine's CPU vendor as ``/proc/cpuinfo`` names it (``GenuineIntel``, ``AuthenticAMD``), or ``None``."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("vendor_id"):
            return line.split(":", 1)[1].strip() or None
    return None


def cpu_bf16_feature(flags: frozenset[str] | None = None) -> str | None:
    """The flag that gives this CPU native bf16 matrix kernels (``amx_bf16`` or ``avx512_bf16``), or ``None``."""
    flags = cpu_flags() if flags is None else flags
    for flag in ("amx_bf16", "avx512_bf16"):
        if flag in flags:
            return flag
    return None


def cuda_bf16() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def static_cpu_choice(flags: frozenset[str] | None = None) -> tuple[str, str]:
    """``auto`` on a CPU without measuring (the Ray driver records this before its actors load)."""
    feature = cpu_bf16_feature(flags)
    if feature:
        return "bfloat16", f"CPU has {feature}"
    return "int8", "CPU has no bf16 matrix instructions (no avx512_bf16/amx_bf16)"


def describe_choice(requested: str, chosen: str, reason: str) -> str:
    """One line for the screen: ``dtype auto → bfloat16 (CPU has avx512_bf16)``."""
    if requested == chosen:
        return f"dtype {chosen}"
    return f"dtype {requested} → {chosen} ({reason})"
