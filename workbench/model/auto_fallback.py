"""``--dtype auto`` when the ONNX path it measured fastest cannot be used now: its cached export is damaged (or gone),
and the model cache cannot be written, so it cannot be made again.

The run is not refused: auto takes the fastest PyTorch path of the same measurement that agreed with float32 (float32
when none did), says why on screen and records it with the run (``precision.reason`` and ``precision.fallback``).
An ONNX path the user asked for by name (``--dtype onnx-int8``) is still refused; that error names the cache folder.
"""

from __future__ import annotations

import errno
import os
from dataclasses import replace
from typing import Any

from workbench.model import fastpath

#: what an export that cannot be written into the cache fails with (a read-only cache, a folder of another user)
UNWRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)


def unwritable_folder(exc: OSError) -> str | None:
    """The folder that could not be written in behind ``exc``: the nearest existing folder of the path it names (a
    temporary folder that was being made does not exist: its parent, the cache's, is the one to name); ``None`` when
    ``exc`` is no write refused."""
    name = getattr(exc, "filename", None)
    if exc.errno not in UNWRITABLE or not name:
        return None
    where = os.path.abspath(os.fsdecode(name))
    while not os.path.lexists(where) and os.path.dirname(where) != where:
        where = os.path.dirname(where)
    return where


def torch_instead(ref: Any, precision: dict | None, exc: OSError, *, job_clips: int | None = None) -> tuple[Any, dict]:
    """The PyTorch path ``auto`` takes when the ONNX path it chose (``ref.dtype``) failed with ``exc`` making its export,
    with the record saying so; ``exc`` is raised again where auto did not choose that path or nothing refused a write."""
    folder = unwritable_folder(exc)
    if folder is None or not precision or precision.get("requested") != "auto":
        raise exc
    checksum = ref.describe().info.identity  # what the auto record is keyed by
    record = fastpath.cached_record(checksum) if checksum else None
    chosen, reason = (fastpath.choose(record, allow_onnx=False, job_clips=job_clips) if record is not None
                      else ("float32", "no measurement to choose another path from"))
    why = (f"{ref.dtype} was measured fastest, but its cached ONNX export is damaged or missing and cannot be made again: "
           f"{folder} cannot be written in ({os.strerror(exc.errno)}); make it writable or set WORKBENCH_CACHE to a folder "
           "of your own to use ONNX Runtime again")
    entry = record["paths"][chosen] if record is not None else {}
    fallback = {"from": ref.dtype, "folder": folder, "error": os.strerror(exc.errno)}
    # the figures the new reason gives, made now as it was: the first choice's were made before this process imported
    # torch (its import counted in each PyTorch path's start-up), so its "float32 3.46 s" sat beside "float32's 2.1 s"
    expected = {name: round(v, 2) for name in record["paths"]
                if (v := fastpath.expected_seconds(record, name, job_clips)) is not None} if record is not None else {}
    return (replace(ref, dtype=chosen, device="cpu"),
            {**precision, "chosen": chosen, "reason": f"{reason}; {why}", "x_float32": entry.get("x_float32"),
             "agreement_with_float32": entry.get("agreement"), "fallback": fallback, "expected_seconds": expected})


def not_exported(precision: dict) -> str:
    """The screen line for :func:`torch_instead`'s record, said as it happens: the export announced just before was not
    made, and which PyTorch path loads instead (the ``dtype auto → …`` line after the load gives the whole reason)."""
    fallback = precision["fallback"]
    return (f"the ONNX export was not made: {fallback['folder']} cannot be written in ({fallback['error']}); "
            f"loading {precision['chosen']} (PyTorch) instead of {fallback['from']}")
