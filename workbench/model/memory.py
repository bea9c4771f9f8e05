"""Process memory: peak RSS, and one policy for glibc's allocator.

Every ``workbench`` process (and the benchmarks and the test session) calls :func:`keep_freed_memory` first, and
loading a model calls it again (it is set once): one policy, decided here.  What it trades, measured on the 2-core
build machine (``tiny``, 60 batches of 16 clips of 1-10 s, RSS after every tenth batch):

==============================================  =======  ==============  ============================
glibc settings                                   time     page faults     RSS (MB)
==============================================  =======  ==============  ============================
glibc's defaults                                 11.5 s   189,577         491 … 881
mmap threshold 128 KiB, trim 32 MB (until now   19.2 s   5,899,517       353 … 389
after a model loaded)
every block from the heap, trim 1 GB (this)      13.2 s   140,830         511 … 789; 200 batches:
                                                                          1,003, flat after 130
==============================================  =======  ==============  ============================

The small heap cost a block-sized ``mmap`` for every tensor, zero-filled by the kernel on first touch: explaining
a 5 s clip with ``tiny`` faulted 3.5 million pages (14 GB) per explanation and took 17-21 s, 10-14 s now; the
large model in ``--dtype auto``, 24 clips, 12.1-14.1 s against 10.9-11.4 s.  The heap grows to the largest
batches' working set and stays there (it is reused, not lost): a long run levels off instead of climbing.
Users who tune or replace the allocator themselves (``MALLOC_*_``, ``LD_PRELOAD``) are left alone, as is a
process with ``WORKBENCH_KEEP_FREED_MEMORY=0`` (or the older ``WORKBENCH_KEEP_MALLOC=1``).
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import math
import numbers
import os
import sys
import threading
import weakref

from workbench.errors import ModelError

#: glibc ``mallopt`` parameters :func:`keep_freed_memory` sets: (number, value)
MALLOC_TUNING = {"M_MMAP_THRESHOLD": (-3, 32 << 20), "M_MMAP_MAX": (-4, 0), "M_TRIM_THRESHOLD": (-1, 1 << 30),
                 "M_TOP_PAD": (-2, 256 << 20)}
#: environment variables that mean the user tunes glibc's allocator (or replaces it) themselves
_MALLOC_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_ARENA_MAX",
               "LD_PRELOAD")
_state: dict = {"libc": None, "set": None}


def _libc():
    if _state["libc"] is None:
        _state["libc"] = False
        if sys.platform.startswith("linux"):
            try:
                lib = ctypes.CDLL(None)
                if hasattr(lib, "gnu_get_libc_version"):  # glibc: mallopt and malloc_trim mean what is said here
                    lib.mallopt.argtypes, lib.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
                    lib.malloc_trim.argtypes, lib.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
                    _state["libc"] = lib
            except (OSError, AttributeError):
                pass
    return _state["libc"]


def left_alone() -> bool:
    """Whether the user asked for glibc's allocator as it is (or tunes it, or replaces it).  The switches read off and on
    as ``WORKBENCH_OFFLINE`` does (``WORKBENCH_KEEP_FREED_MEMORY=false`` or ``off`` kept the tuning, read as on); a
    ``WORKBENCH_KEEP_FREED_MEMORY`` set to anything but on also leaves it alone (this runs before any error can be shown)."""
    keep = os.environ.get("WORKBENCH_KEEP_FREED_MEMORY", "").strip().lower() or "1"
    return (keep not in ("1", "true", "yes", "on") or os.environ.get("WORKBENCH_KEEP_MALLOC", "").strip().lower() in ("1", "true", "yes", "on")
            or any(k in os.environ for k in _MALLOC_ENV))


def keep_freed_memory() -> bool:
    """Have glibc's allocator keep freed memory for the next tensor instead of handing it back at once (see the module
    docstring for what it trades).  Every block comes from the heap (no block is its own ``mmap``), and up to 1 GB of
    free heap top (plus 256 MB of padding) stays with the process.  Set once per process; returns whether it is set:
    not where :func:`left_alone` says so or the C library is not glibc.  Nothing is computed differently: only where
    memory comes from."""
    if _state["set"] is None:
        lib = None if left_alone() else _libc()
        _state["set"] = bool(lib) and all(lib.mallopt(number, value) == 1 for number, value in MALLOC_TUNING.values())
    return _state["set"]


def collect_as_one_command() -> None:
    """Let :func:`import_long_lived` freeze what a one-command process has imported (``workbench`` calls this first;
    a notebook or another program, whose objects may become cyclic garbage later, never freezes)."""
    _state["freeze"] = True


def import_long_lived(*modules: str) -> None:
    """Import ``modules`` (libraries that live as long as the process), then, in a one-command process
    (:func:`collect_as_one_command`), move every object alive into the cyclic collector's permanent generation
    (:func:`gc.freeze`), the collector paused meanwhile.

    Why: a full collection triggered in the middle of pandas' import, in the thread writing a run's first part,
    walked every object of the process (0.05-0.12 s with the GIL held, while the model's thread waited to start its
    next batch: issue #28); afterwards each collection walked the libraries' objects again.  Frozen, they are never
    walked; objects freed by their reference counts are freed as before, and the collector goes on for new objects."""
    missing = [m for m in modules if m not in sys.modules]
    if not missing:
        return
    if not _state.get("freeze"):
        for name in missing:
            importlib.import_module(name)
        return
    with collector_paused():
        try:
            for name in missing:
                importlib.import_module(name)
        finally:
            gc.freeze()


#: the pauses of the cyclic collector in progress (any thread), and whether it ran before the first: one set under one
#: lock, so that two threads pausing and resuming in turn never leave it off (each reading gc.isenabled() for itself could)
_PAUSED: set[int] = set()
_PAUSES = {"was_on": False}
_PAUSES_LOCK = threading.Lock()


class collector_paused:  # noqa: N801  (used as a function: ``with collector_paused():``)
    """Python's cyclic garbage collector off inside the block, in every thread (a manifest's items being made, a
    library being imported); back on when the last pause in any thread ends, if it was on before the first.

    Back on whatever exception arrives, where it arrives: a Ctrl-C (``KeyboardInterrupt``) landing between the pause
    and the block, or inside the resume itself (between taking this pause off the set and ``gc.enable()``), left the
    collector off for the rest of a notebook's session; the resume is one idempotent step (a set's ``discard``, then
    ``gc.enable()``), done again until it completes, and the interrupt raised after it."""

    def __enter__(self) -> "collector_paused":
        try:
            with _PAUSES_LOCK:
                if not _PAUSED:
                    _PAUSES["was_on"] = gc.isenabled()
                _PAUSED.add(id(self))
                gc.disable()
            # a last resort: an interrupt landing as __exit__ starts (before its first line) drops this object unresumed
            weakref.finalize(self, _resume, id(self))
        except BaseException as exc:  # an interrupt landing half-way: the pause undone before it goes on
            raise _resumed(id(self), exc) from None
        return self

    def __exit__(self, *exc_info) -> None:
        caught = None
        try:
            _resume(id(self))
        except BaseException as exc:  # a Ctrl-C landing inside the resume: resumed all the same, then raised
            caught = exc
        caught = _resumed(id(self), caught)
        if caught is not None:
            raise caught


def _resume(token: int) -> None:
    """End the pause ``token`` (its object's id): idempotent, so that it can be done again after an interrupt cut it
    short, and by the pause's finalizer when its ``__exit__`` never ran."""
    with _PAUSES_LOCK:
        _PAUSED.discard(token)
        if not _PAUSED and _PAUSES["was_on"]:
            gc.enable()


def _resumed(token: int, caught: BaseException | None) -> BaseException | None:
    """:func:`_resume` done to the end however many interrupts land in it; the first exception met (``caught`` or one
    of those) is returned for the caller to raise."""
    while True:
        try:
            _resume(token)
            return caught
        except BaseException as exc:
            caught = caught or exc


def release_freed_memory() -> None:
    """Hand freed heap pages back to the OS now (glibc only)."""
    lib = _libc()
    if lib:
        lib.malloc_trim(0)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


#: bytes a forward pass on a CPU holds per clip, head and (frame, frame) pair of its attention while a layer runs (scores,
#: their copies, the ALiBi bias and mask, the softmax), by precision; measured with ``tiny`` (2 heads) on clips of 60, 120
#: and 240 s: float32 (FunASR's own attention) 7.6-8.2 floats, peak RSS 0.9, 2.5 and 9.7 GB; int8 24.6 and bfloat16 16.3
#: bytes at 240 s (7.4 and 5.0 GB).  A 10-minute clip (``infer --max-duration 700``) took 20.7 GB and was killed by the kernel
#: An ONNX Runtime graph (``onnx-float32``, ``onnx-int8``: its attention runs in float32) the same way: peak RSS 0.59 and
#: 1.95 GB at 60 and 120 s with ``tiny`` (28 and 26 bytes), 6.0 GB at 240 s (21 bytes)
ATTENTION_BYTES = {"float32": 32, "int8": 26, "bfloat16": 17, "float16": 17, "onnx-float32": 28, "onnx-int8": 28}


def available_bytes() -> int | None:
    """The memory the kernel can give without swapping (``MemAvailable`` of ``/proc/meminfo``), or ``None`` off Linux."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            return next((int(line.split()[1]) * 1024 for line in f if line.startswith("MemAvailable:")), None)
    except (OSError, ValueError, IndexError):
        return None


def attention_heads(net) -> int:
    """The heads of a FunASR network's attention layers (``AltAttention.num_heads``; 0 when it has none)."""
    return max((int(getattr(m, "num_heads", 0)) for m in net.modules() if type(m).__name__ == "AltAttention"), default=0)


#: bytes a forward pass on a CUDA device holds per clip, head and (frame, frame) pair of its attention, by precision.
#: ESTIMATED from the sizes of the (clips, heads, frames, frames) tensors the code allocates, NOT measured on a GPU (no
#: GPU where this was written; the ``attention_memory`` step of ``benchmarks/gpu_suite.sh`` measures them).  torch on
#: CUDA runs :class:`~workbench.model.funasr_patches.FusedAttention`: FunASR's ALiBi bias in float32 for the whole forward, with
#: the cached buffer it is cut from (4 + 4), its copy scaled per layer, the next layer's made before the last one is
#: freed (4 + 4); the additive mask in the compute precision, made from zeros, the bias converted and a masked_fill copy
#: (3 x 2 in float16/bfloat16, 3 x 4 in float32); and, should scaled_dot_product_attention fall back to its math kernel
#: (the memory-efficient one keeps no scores), scores and softmax (2 x 2; 2 x 4): 26 bytes in float16/bfloat16, 36 in
#: float32.  An ONNX Runtime graph on its CUDA provider runs FunASR's own float32 attention, measured at 21-28 bytes a
#: pair on a CPU (:data:`ATTENTION_BYTES`); its CUDA arena grows by powers of two, so twice that, 56, is the figure.
ATTENTION_BYTES_CUDA = {"float32": 36, "int8": 36, "bfloat16": 26, "float16": 26, "onnx-float32": 56, "onnx-int8": 56}


def cuda_free_bytes(device: str, *, torch_cache: bool) -> int | None:
    """The memory a forward pass on CUDA ``device`` can still have: ``torch.cuda.mem_get_info``'s free bytes, plus
    (``torch_cache``: a torch network) what PyTorch's caching allocator holds unused, which it hands out first; an ONNX
    Runtime graph cannot use that.  ``None`` where it cannot be asked (no torch, no CUDA): then nothing is refused."""
    torch = sys.modules.get("torch")
    try:
        if torch is None:
            import torch
        if not torch.cuda.is_available():
            return None
        index = torch.device(device).index
        index = torch.cuda.current_device() if index is None else index
        free = int(torch.cuda.mem_get_info(index)[0])
        return free + (int(torch.cuda.memory_reserved(index) - torch.cuda.memory_allocated(index)) if torch_cache else 0)
    except (ImportError, RuntimeError, ValueError, AssertionError):
        return None


def attention_need(heads: int, clips: int, frames: int, *, dtype: str, device: str = "cpu") -> int:
    """Bytes the (clips, heads, frames, frames) attention of one forward pass holds on ``device`` in ``dtype`` (a key of
    :data:`ATTENTION_BYTES`, or of :data:`ATTENTION_BYTES_CUDA` on a CUDA device; an unknown one costs the most)."""
    table = ATTENTION_BYTES_CUDA if str(device).startswith("cuda") else ATTENTION_BYTES
    return table.get(dtype, max(table.values())) * clips * heads * frames**2


def _known_bytes(value: object) -> bool:
    """A count of bytes that can be compared: a finite number, not negative (not a bool)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and value >= 0


def _gb(n: float) -> str:
    """``n`` bytes in GB, one decimal; past a float's range (an absurd frame count squared) said as such."""
    try:
        return f"{n / 1e9:.1f}"
    except OverflowError:
        return "more than 1e300"


def check_attention_fits(heads: int, clips: int, frames: int, *, dtype: str, seconds: float, source: str,
                         device: str = "cpu", free: int | None = None) -> None:
    """Refuse a forward pass whose (clips, heads, frames, frames) attention would not fit in the memory free now: a
    :class:`ModelError` the engine turns into failed rows (one clip at a time), where the kernel would kill the process
    (a CPU) or CUDA would raise out-of-memory mid-batch.  On a CPU ``free`` is ``MemAvailable`` plus the 1 GB of freed
    heap the allocator may keep; on CUDA :func:`cuda_free_bytes` (torch's cache counted for a torch network, not for an
    ONNX graph: ``dtype`` ``onnx-…``).  ``free``: the bytes free, given (tests decide without a GPU), else asked."""
    on_cuda = str(device).startswith("cuda")
    need = attention_need(heads, clips, frames, dtype=dtype, device=device)
    if free is None:
        free = cuda_free_bytes(str(device), torch_cache=not str(dtype).startswith("onnx")) if on_cuda else available_bytes()
    if not _known_bytes(free) or need <= 0:  # free unknown (None, NaN, negative): nothing is refused; no attention: never
        return
    if need > free + (0 if on_cuda else 1 << 30):
        raise ModelError(f"a forward pass over {clips} clip(s) of up to {seconds:.0f} s needs about {_gb(need)} GB for its "
                         f"{dtype} attention ({heads} head{'s' if heads != 1 else ''}, {frames:,} frames), and {_gb(free)} GB is free"
                         f"{' on ' + str(device) if on_cuda else ''}.", source=source,
                         fix="score a long recording with `workbench segment` (in pieces), or keep --max-duration at 120 s.")
