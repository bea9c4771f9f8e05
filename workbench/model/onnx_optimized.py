"""ONNX Runtime's optimised graph, kept per CPU: a CPU session then opens without optimising again (issue #28).

Opening an ONNX Runtime session runs its graph optimisations every time (constant folding, fusions, the NCHWc
layouts of this CPU's vector width): on the 2-core machine of issue #28 that was 0.17–0.5 s of a tiny model's
2.4 s `workbench run` (the int8 export; 0.07–0.12 s to open the optimised graph with optimisations off, measured
interleaved: `benchmarks/onnx_open.py`).  ONNX Runtime can write the graph it optimised; a later session opens
that file with optimisations off.  The file holds layouts for this CPU (ONNX Runtime says to use it only where it
was made), so it is kept per source graph (sha256), ONNX Runtime version and CPU (model name, cores, vector
flags: :func:`workbench.model.precision.cpu_key`), in
``$WORKBENCH_CACHE/onnx_optimized/<graph sha256[:16]>-ort<version>-<cpu>/``.

It is used only after a check made when it is written: on seeded speech-like clips of two lengths (padding and
masking both exercised), every output of a session on the kept file equals the optimising session's bit for
bit (``check.json``, with the file's sha256, the source graph's, the ONNX Runtime version and the CPU).  A later
load opens it only when its sha256 is the recorded one and the record names this source graph, ONNX Runtime and CPU
(a kept folder's files copied from another graph's folder were opened, scoring with that graph); anything else (no check, a failed check, an edited file, a session that will not open) opens the source graph as
before and, where no failed check is recorded, makes the file again.  Only CPU sessions are kept (a GPU provider
places nodes by its own rules); ``WORKBENCH_ORT_OPTIMIZED=0`` turns it off (the A/B of the benchmark).

The source graph is judged by :func:`workbench.model.onnx_export.check_graph` before any of this, as before:
the kept file is what ONNX Runtime made of a graph that passed.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from workbench import files
from workbench.errors import ConfigError
from workbench.model.precision import cpu_key
from workbench.model.weights import file_sha256
from workbench.paths import cache_dir, installed_version
from workbench.schema import SAMPLE_RATE
from workbench.serialize import loads_json, read_bytes_capped

log = logging.getLogger(__name__)

#: the cache's folder under ``$WORKBENCH_CACHE``
FOLDER = "onnx_optimized"
GRAPH_FILE = "model.onnx"
CHECK_FILE = "check.json"
#: how the check is made; a record of another revision is made again
CHECK_REVISION = 1
#: the environment switch (``0`` turns the cache off)
ENV = "WORKBENCH_ORT_OPTIMIZED"


def kept_folder(checksum: str) -> Path:
    """Where the optimised copy of the graph with sha256 ``checksum`` is kept for this ONNX Runtime and CPU."""
    ort = installed_version("onnxruntime") or installed_version("onnxruntime-gpu") or "unknown"
    return cache_dir() / FOLDER / f"{checksum[:16]}-ort{ort}-{cpu_key()}"


def wanted(providers: list) -> bool:
    """Whether sessions with these providers open a kept graph: CPU only, and not turned off (``WORKBENCH_ORT_OPTIMIZED``
    ``0``; ``1`` or unset: on; anything else is refused with the values listed)."""
    value = os.environ.get(ENV, "").strip() or "1"
    if value not in ("0", "1"):
        raise ConfigError(f"this environment variable is {os.environ.get(ENV)!r}, not 0 or 1.", source=ENV,
                          fix="set it to 0 (open the source graph, optimising it at every load) or 1, or unset it (the default, 1).")
    return value == "1" and list(providers) == ["CPUExecutionProvider"]


def open_session(graph: Path, checksum: str, options: Any, providers: list, *, keep: bool | None = None) -> tuple[Any, str]:
    """An ``InferenceSession`` of ``graph`` (sha256 ``checksum``), through the kept optimised graph where one passed.

    ``keep``: :func:`wanted`'s answer, asked before (so that a bad switch is refused before ONNX Runtime is involved).
    Returns ``(session, how)``: ``how`` is ``"kept"`` (the optimised graph opened as is), ``"made"`` (the graph
    optimised, and its optimised copy checked and kept for the next load), ``"failed check"`` (a kept copy
    differed once: the source graph, optimised at every load) or ``"source"`` (not wanted here, or it could not be
    kept).  ONNX Runtime's own errors opening ``graph`` pass through as they would without this cache.
    """
    import onnxruntime as ort

    if not (wanted(providers) if keep is None else keep):
        return ort.InferenceSession(str(graph), sess_options=options, providers=providers), "source"
    folder = kept_folder(checksum)
    record = _read_check(folder)
    if record is not None and not _about(record, checksum):  # another graph's (or ORT's, or CPU's) record: made again
        record = None
    if record is not None and not record.get("equal"):
        return ort.InferenceSession(str(graph), sess_options=options, providers=providers), "failed check"
    if record is not None:
        session = _open_kept(folder, record, options, providers)
        if session is not None:
            return session, "kept"
    return _make(graph, checksum, folder, options, providers)


def _read_check(folder: Path) -> dict | None:
    try:
        record = loads_json(read_bytes_capped(folder / CHECK_FILE, max_bytes=1 << 16, what="a check record").decode("utf-8"))
    except Exception:  # noqa: BLE001 — none, unreadable, over the cap, not JSON: made again
        return None
    if not isinstance(record, dict) or record.get("revision") != CHECK_REVISION or not isinstance(record.get("sha256"), str):
        return None
    return record


def _about(record: dict, checksum: str) -> bool:
    """Whether a check record is this source graph's, made by this ONNX Runtime on this CPU: a folder's files copied
    from another graph's folder (its graph and its passing check, consistent with each other) are not opened."""
    import onnxruntime as ort

    return record.get("source_sha256") == checksum and record.get("onnxruntime") == ort.__version__ and record.get("cpu") == cpu_key()


def _open_kept(folder: Path, record: dict, options: Any, providers: list) -> Any:
    import onnxruntime as ort

    kept = folder / GRAPH_FILE
    try:
        if files.is_link(kept) or _other_size(kept, record) or file_sha256(kept) != record["sha256"]:
            return None
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        return ort.InferenceSession(str(kept), sess_options=options, providers=providers)
    except Exception as exc:  # noqa: BLE001 — a kept file ONNX Runtime will not open is made again
        log.debug("the kept optimised graph %s was not used: %s", kept, exc)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return None


def _other_size(kept: Path, record: dict) -> bool:
    """Whether ``kept`` is not the size its check recorded (a graph replaced by a huge file is not hashed whole first;
    a record made before sizes were kept says nothing)."""
    size = record.get("bytes")
    return isinstance(size, int) and kept.stat().st_size != size


def _make(graph: Path, checksum: str, folder: Path, options: Any, providers: list) -> tuple[Any, str]:
    """Open ``graph`` optimising it, write the optimised graph beside, check it and keep it (or drop it)."""
    import onnxruntime as ort

    session = None
    try:
        files.ensure_folder(folder.parent, root=cache_dir())  # no level below the cache a link (atomic_folder trusts its parent)
        with files.atomic_folder(folder, replace=True) as tmp:
            options.optimized_model_filepath = str(tmp / GRAPH_FILE)
            try:
                session = ort.InferenceSession(str(graph), sess_options=options, providers=providers)
            finally:
                options.optimized_model_filepath = ""
            record = _check(session, tmp / GRAPH_FILE, options, providers)
            record.update(source_sha256=checksum, onnxruntime=ort.__version__, cpu=cpu_key())
            files.write_text(tmp / CHECK_FILE, json.dumps(record, indent=2) + "\n")
            if not record["equal"]:
                files.remove_file(tmp / GRAPH_FILE)
    except (OSError, ConfigError, files.UnsafePathError) as exc:  # a cache that cannot be written, or another process
        log.debug("the optimised graph of %s was not kept: %s", graph, exc)  # keeping it at the same moment: as before
        if session is None:
            session = ort.InferenceSession(str(graph), sess_options=options, providers=providers)
        return session, "source"
    return session, "made" if record["equal"] else "failed check"


def check_feeds(seed: int = 0) -> dict[str, np.ndarray]:
    """Two seeded speech-like clips, 1.0 s and 0.6 s (the second padded): the inputs the kept graph is checked on."""
    rng = np.random.default_rng(seed)
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    voice = sum((0.5 / k) * np.sin(2 * np.pi * k * 140 * t) for k in range(1, 8)) * np.clip(np.sin(2 * np.pi * 4 * t), 0, None)
    waves = np.stack([0.3 * voice, 0.2 * voice[::-1]]) + 0.01 * rng.standard_normal((2, SAMPLE_RATE))
    lengths = np.array([SAMPLE_RATE, int(0.6 * SAMPLE_RATE)], dtype=np.int64)
    waves[1, lengths[1]:] = 0.0
    return {"waveforms": waves.astype(np.float32), "lengths": lengths}


def _check(session: Any, kept: Path, options: Any, providers: list) -> dict:
    """Whether a session on ``kept`` gives the optimising ``session``'s outputs bit for bit on :func:`check_feeds`."""
    import onnxruntime as ort

    feeds = check_feeds()
    names = [i.name for i in session.get_inputs()]
    if sorted(names) != sorted(feeds):
        return {"revision": CHECK_REVISION, "equal": False, "why": f"inputs {names} are not the export's", "sha256": ""}
    level = options.graph_optimization_level
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        again = ort.InferenceSession(str(kept), sess_options=options, providers=providers)
    finally:
        options.graph_optimization_level = level
    ours, theirs = session.run(None, feeds), again.run(None, feeds)
    differ = [o.name for o, a, b in zip(session.get_outputs(), ours, theirs) if not np.array_equal(a, b, equal_nan=True)]
    worst = 0.0
    with contextlib.suppress(ValueError):
        worst = max(float(np.max(np.abs(np.asarray(a, float) - np.asarray(b, float)))) for a, b in zip(ours, theirs) if np.size(a))
    return {"revision": CHECK_REVISION, "equal": not differ and len(ours) == len(theirs), "outputs": len(ours),
            "differ": differ, "max_abs_diff": worst, "clips": [int(n) for n in feeds["lengths"]],
            "sha256": files.sha256_file(kept), "bytes": kept.stat().st_size}


__all__ = ["open_session", "kept_folder", "wanted", "check_feeds", "ENV", "FOLDER"]
