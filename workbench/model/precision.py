"""Which numeric precision the model runs in: ``--dtype auto|float32|bfloat16|float16|int8|onnx-float32|onnx-int8``.

One function decides, :func:`resolve_dtype`, and says why; every command that loads a model
calls it once and records both the choice and the reason in the run's provenance.  An explicit
request is never changed: ``auto`` is the only value the workbench chooses for the user.

``auto``:

* CUDA: ``bfloat16`` where the GPU supports it (compute capability ≥ 8.0), else ``float16``;
* CPU: the fastest path that agrees with float32, *measured* once on this machine for this
  checkpoint (:mod:`workbench.model.fastpath`: bf16 weights, int8, ONNX Runtime float32/int8).
  :func:`resolve_dtype` answers ``"measured"`` for it; :meth:`ModelRef.load
  <workbench.model.ref.ModelRef.load>` measures (or reads the cached measurement) and loads the winner.
  Where a choice must be made without loading (the Ray driver), :func:`static_cpu_choice` gives the
  rule of issue #23's figures: ``bfloat16`` on a CPU with bf16 instructions, else ``int8``.

``onnx-float32``/``onnx-int8`` run the checkpoint by ONNX Runtime through its cached, verified export
(CPU only).
"""

from __future__ import annotations

import functools
from pathlib import Path

from workbench.errors import ConfigError
from workbench.model.network import auto_device

DTYPES = ("float32", "bfloat16", "float16", "int8", "onnx-float32", "onnx-int8")
#: what ``resolve_dtype("auto", "cpu")`` answers: the choice is measured when the model loads
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


def cpu_bf16_feature(flags: frozenset[str] | None = None) -> str | None:
    """The flag that gives this CPU native bf16 matrix kernels (``amx_bf16`` or ``avx512_bf16``), or ``None``."""
    flags = cpu_flags() if flags is None else flags
    for flag in ("amx_bf16", "avx512_bf16"):
        if flag in flags:
            return flag
    return None


def _cuda_bf16() -> bool:
    import torch

    return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())


def resolve_dtype(requested: str, device: str, *, flags: frozenset[str] | None = None) -> tuple[str, str]:
    """The precision to run in, and why.

    Parameters
    ----------
    requested : {"auto", "float32", "bfloat16", "float16", "int8"}
        What the user asked for.
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:1"`` … (``"auto"`` is resolved to CUDA when available).
    flags : frozenset of str, optional
        CPU flags to decide from (tests); default: this machine's.

    Returns
    -------
    (dtype, reason) : tuple of str
        ``dtype`` is one of :data:`DTYPES`, or :data:`MEASURED` for ``auto`` on a CPU; ``reason`` is a short phrase for the screen and the
        provenance, e.g. ``"CPU has avx512_bf16"``.

    Raises
    ------
    ConfigError
        For an unknown value, or int8 on a GPU (dynamic quantisation runs on the CPU only).
    """
    if requested not in DTYPE_CHOICES:
        raise ConfigError(f"unknown dtype {requested!r}; expected one of {', '.join(DTYPE_CHOICES)}.", source="--dtype",
                          fix="pass --dtype auto (the fastest precision this machine runs well) or float32 (exact).")
    if device == "auto":
        device = auto_device()
    on_gpu = str(device).startswith("cuda")
    if requested in ("int8", "onnx-float32", "onnx-int8") and on_gpu:
        raise ConfigError(f"{requested} runs on the CPU only.", source=f"--dtype {requested}",
                          fix=f"use --dtype bfloat16 or auto on a GPU, or --device cpu for {requested}.")
    if requested != "auto":
        return requested, "asked for"
    if on_gpu:
        if _cuda_bf16():
            return "bfloat16", "GPU supports bfloat16"
        return "float16", "GPU lacks bfloat16"
    return MEASURED, "the fastest path that agrees with float32, measured on this CPU"


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
