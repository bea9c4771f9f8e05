"""``--dtype auto`` on the CPU: the fastest path that agrees with float32, measured once on this machine.

The candidates, besides exact float32:

``bfloat16``
    PyTorch with the weights converted to bfloat16 once at load (oneDNN's bf16/AMX kernels);
``int8``
    PyTorch dynamic quantisation of the Linear layers (VNNI kernels);
``onnx-float32`` / ``onnx-int8``
    ONNX Runtime on the graph :func:`~workbench.model.onnx_export.export_onnx` writes, and on its
    dynamic int8 quantisation.  The export is made on first use into the model cache
    (``$WORKBENCH_CACHE/onnx/<checkpoint sha256[:16]>-ort<onnxruntime version>/``), checked
    against PyTorch float32 on seeded clips before it is used (``verified.json``: top-1
    agreement, max |Δ score|, minimum embedding cosine) and reused afterwards.

:func:`measure_paths` scores :data:`MEASURE_CLIPS` seeded speech-like clips with float32 and
every candidate (one warm-up, best of :data:`MEASURE_ROUNDS` interleaved rounds), and keeps the figures in
``$WORKBENCH_CACHE/fastpath/<cpu>-<checkpoint sha256[:16]>.json``: one measurement per CPU
model, core count and checkpoint, redone when torch, onnxruntime or the workbench change.
:func:`choose` takes the fastest candidate whose agreement passes :func:`acceptable`, and
float32 when none is faster.  The choice and its agreement figures travel with the loaded
model as ``model.precision`` (the run records it in ``summary.json``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import stat
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

import numpy as np

from workbench import __version__, files, interrupts
from workbench.schema import SAMPLE_RATE
from workbench.errors import ModelError
from workbench.serialize import shown
from workbench.model.checkpoints import cache_dir
from workbench.model.onnx_backend import check_clips, cpu_threads, graph_facts, load_onnx_model
from workbench.model.onnx_export import EXPORT_REVISION, META_FILE, ONNX_FILE, ONNX_INT8_FILE, export_onnx
from workbench.model.agreement import (  # noqa: F401  (the agreement a path must keep, importable from here too)
    MIN_COSINE, MIN_TOP1_AGREEMENT, acceptable, agreement_figures, describe_agreement, shortfalls)
from workbench.model.precision import _cpu_name, cpu_identity, cpu_key  # noqa: F401  (_cpu_name: tests clear its cache here)
from workbench.model.weights import GRAPH_MAX_BYTES, file_sha256
from workbench.paths import installed_version

logger = logging.getLogger(__name__)

#: the CPU paths ``auto`` chooses among, besides float32
CPU_PATHS = ("bfloat16", "int8", "onnx-float32", "onnx-int8")
ONNX_PATHS = ("onnx-float32", "onnx-int8")
#: seeded clips (1.5–6 s) the measurement and the export check score
MEASURE_CLIPS = 4
MEASURE_ROUNDS = 2
VERIFY_CLIPS = 8
#: a candidate must beat float32 by this factor to be chosen (below it, the exact path wins)
MIN_SPEEDUP = 1.05
RECORD_FORMAT = "emotion-workbench-fastpath/1"
#: the revision of the code paths: raised when one changes speed or values (a measurement, and every cached prediction
#: but float32's, made before is made again). 2: the conv front end time-major (tiny float32 0.78 -> 0.029 s, 4 clips);
#: 3: the positional encoder time-major; 4: start-ups measured, auto chooses by the job's time; 5: bfloat16 packed (prepack);
#: 6: the ONNX graphs of export revision 2 (:data:`~workbench.model.onnx_export.EXPORT_REVISION`), int8 with fused attention
PATHS_REVISION = 9  # 7: ONNX batches split in two (onnx_split); 8: top-1 certain beyond near ties; 9: int8 clips scored alone
#: the ONNX layouts measured: each batch run whole (1), or cut in two parts run at once, half the cores each
ONNX_SPLITS = (1, 2)
START_PROBE_TIMEOUT = 600  # how long a start-up probe may take before the path's start-up counts as unknown
VERIFIED_FILE = "verified.json"


# ---------------------------------------------------------------------------
# identities: this CPU, the versions a measurement depends on
# ---------------------------------------------------------------------------
def _installed(*names: str) -> str | None:
    """The installed version of the first of ``names`` (read from its metadata: nothing is imported)."""
    return next((v for v in map(installed_version, names) if v is not None), None)


def ort_version() -> str | None:
    return _installed("onnxruntime", "onnxruntime-gpu")


def versions() -> dict:
    """What a measurement depends on besides the CPU (read without importing torch: a cached choice of
    ONNX Runtime loads without it)."""
    return {"torch": _installed("torch"), "onnxruntime": ort_version(), "workbench": __version__, "paths": PATHS_REVISION}


_CACHE_PRECISIONS: dict[tuple[str, str], str] = {}


def cache_precision(dtype: str, device: str) -> str:
    """``dtype`` as cache keys hold it: ``float32`` (the exact path) alone, any other with the path revision, its
    runtime's version and the device kind (``cpu``, ``cuda``), so an older implementation's rows (bfloat16 before
    packing: up to 6e-4 off) are never served, nor another device's: the CPU path is its own implementation (prepacked
    bfloat16 Linear layers, a time-major front end), and a ``--cache-dir`` shared by GPU and CPU nodes served a CUDA
    run's bfloat16 rows to a CPU run under the CPU path's agreement figures."""
    kind = "cuda" if str(device).startswith("cuda") else str(device)
    # float32 keeps one key on every device: a CUDA float32 model is loaded with TF32 off for matmuls and cuDNN
    # (building.exact_float32, recorded as the info's float32_math), so it differs from the CPU's float32 by float32
    # rounding in another summation order (inside the row check's float32 1e-4); with TF32 (10 bits of mantissa,
    # cuDNN's default for convolutions) its rows would be another precision's and could not share the key
    if dtype != "float32" and (dtype, kind) not in _CACHE_PRECISIONS:
        runtime = f"onnxruntime {ort_version()}" if dtype.startswith("onnx-") else f"torch {_installed('torch')}"
        _CACHE_PRECISIONS[(dtype, kind)] = f"{dtype} (paths {PATHS_REVISION}, {runtime}, {kind})"
    return _CACHE_PRECISIONS.get((dtype, kind), dtype)


def record_path(checksum: str) -> Path:
    return cache_dir() / "fastpath" / f"{cpu_key(cpu_identity())}-{checksum[:16]}.json"


def export_folder(checksum: str) -> Path:
    """The cached ONNX export of a checkpoint, for this onnxruntime version."""
    return cache_dir() / "onnx" / f"{checksum[:16]}-ort{ort_version()}"


# ---------------------------------------------------------------------------
# the cached ONNX export
# ---------------------------------------------------------------------------
#: a measurement record or ``verified.json`` is a few kB
RECORD_MAX_BYTES = 1_000_000
#: the longest time a record may hold for a path (a start-up, or its seconds for the measured clips)
RECORD_MAX_SECONDS = 1e6
#: the most clips a record may say it measured (it measures a handful)
MAX_RECORD_CLIPS = 1_000_000


def _read_json(path: Path) -> dict | None:
    """The JSON object in ``path``, or ``None``: a link, a FIFO or device, a file over :data:`RECORD_MAX_BYTES` or
    anything but a JSON object counts as no record (the cache is shared: a link planted there is not followed, nor its folder)."""
    try:
        if files.is_link(path.parent):  # O_NOFOLLOW guards the last level only: a linked fastpath/ served a planted record
            return None
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return None
            raw = f.read(RECORD_MAX_BYTES + 1)
        data = json.loads(raw.decode("utf-8")) if len(raw) <= RECORD_MAX_BYTES else None
    except (OSError, ValueError, RecursionError):  # RecursionError: JSON nested deeper than the parser goes
        return None
    return data if isinstance(data, dict) else None


def _write_json(path: Path, data: dict) -> None:
    files.write_json(path, data, root=cache_dir())  # in the shared cache: no link followed at any level


def cached_export(checksum: str) -> tuple[Path, dict] | None:
    """The verified export of ``checksum`` in the cache, with its verification record, or ``None`` (then
    :func:`ensure_export` makes it again).  The graphs must still be the bytes that were verified (``verified.json``
    records each graph's sha256; a truncated copy or a disk error makes the export count as missing, so it is rebuilt),
    and ``model.json`` and each graph's own stamp must name ``checksum`` as their source (not only ``verified.json``)."""
    folder = export_folder(checksum)
    if _holds_links(folder):  # the loader refuses a linked graph ("export again into a new folder": not the user's to do)
        _stale(folder, "is, or holds, a symbolic link")
        return None
    verified = _read_json(folder / VERIFIED_FILE)
    if (verified is None or verified.get("source_identity_sha256") != checksum
            or verified.get("onnxruntime") != ort_version() or verified.get("export_revision") != EXPORT_REVISION
            or not all((folder / f).is_file() for f in (ONNX_FILE, ONNX_INT8_FILE))):
        return None
    recorded = verified.get("graph_sha256")
    if not isinstance(recorded, dict):  # verified before the digests were recorded: what was checked is unknown
        _stale(folder, "records no digest of the graphs it verified")
        return None
    for name in (ONNX_FILE, ONNX_INT8_FILE):
        try:
            intact = file_sha256(folder / name, max_bytes=GRAPH_MAX_BYTES) == recorded.get(name)
        except OSError:
            intact = False
        if not intact:
            _stale(folder, f"changed since it was verified ({name})")
            return None
    try:  # another checkpoint's graphs under this one's name, verified.json edited to match, were scored as this one
        stated = {(_read_json(folder / META_FILE) or {}).get("source_identity_sha256")} | {graph_facts(
            folder / n, source=str(folder), sha256=recorded[n])[0]["stamped"].get("source_identity_sha256") for n in (ONNX_FILE, ONNX_INT8_FILE)}
    except ModelError:
        stated = set()
    if stated != {checksum}:
        _stale(folder, f"is not of checkpoint {checksum[:16]} (its files name "
                       f"{', '.join(sorted(str(c)[:16] for c in stated)) or 'nothing readable'})")
        return None
    return folder, verified


_SAID: set = set()  # (folder, why, what the folder held) already said in this process
_size_time = lambda e: (e.stat(follow_symlinks=False).st_size, e.stat(follow_symlinks=False).st_mtime_ns)  # noqa: E731


def _stale(folder: Path, why: str) -> None:
    """One warning that a cached export is made again, once per state of its folder (it is looked up by the measurement,
    each ONNX path and its load: the same line was printed two or three times over)."""
    try:
        held = tuple(sorted((e.name, e.inode(), *_size_time(e)) for e in os.scandir(folder)))
    except OSError:
        held = ()
    if (str(folder), why, held) not in _SAID:
        _SAID.add((str(folder), why, held))
        logger.warning("the cached ONNX export %s %s: it is made again", folder, why)


def _holds_links(folder: Path) -> bool:
    """Whether ``folder`` is a symbolic link, or holds one (the cache is shared: a link planted there is not used)."""
    if files.is_link(folder):
        return True
    try:
        with os.scandir(folder) as entries:
            return any(e.is_symlink() for e in entries)
    except OSError:
        return False


def ensure_export(reference_model: Any, *, progress: Callable[[str], None] | None = None) -> tuple[Path, dict]:
    """The verified ONNX export (float32 and int8 graphs) of a float32 model, made into the cache on first use.

    Each graph is checked against ``reference_model`` on :data:`VERIFY_CLIPS` seeded clips; the figures go into
    ``verified.json`` (``graphs.<dtype>.agreement`` and ``.ok``).  A graph that fails the check stays in the
    folder, marked, and is never chosen by ``auto``.
    """
    checksum = reference_model.info.identity  # weights + config.yaml + tokens.txt + card: what the graph computes
    if not checksum:
        raise ModelError("the model has no checksum, so its export cannot be cached.", source=reference_model.info.id,
                         fix="load the model from a checkpoint folder or a hub id.")
    if (found := cached_export(checksum)) is not None:
        return found
    folder = export_folder(checksum)
    say = progress or (lambda line: None)
    say(f"exporting the model to ONNX once for this checkpoint (cached in {folder})")
    with contextlib.suppress(OSError, files.UnsafePathError), files.open_folder(folder.parent, root=cache_dir()) as dfd:
        files.sweep_stale_temporaries(dfd, folder.parent)  # a killed export's graphs (GBs for large); a bad cache: said below
    tmp = folder.parent / files.temporary_name(folder.name)
    try:  # a Ctrl-C or SIGTERM while exporting or checking left `.NAME.tmp-PID` with its graphs in the cache for good
        verified = _export_and_verify(reference_model, tmp, checksum, say)
        if files.is_link(folder):
            folder.unlink()  # a link planted in the cache: removed, never followed
        elif folder.exists():
            shutil.rmtree(folder, ignore_errors=True)  # an unverified or older export of the same key (links in it unlinked)
        files.rename_folder(tmp, folder, replace=True)
    except (OSError, files.UnsafePathError):  # another process put a verified one there first: use it
        shutil.rmtree(tmp, ignore_errors=True)
        if (found := cached_export(checksum)) is None:
            raise
        return found
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder, verified


def _export_and_verify(reference_model: Any, tmp: Path, checksum: str, say: Callable[[str], None]) -> dict:
    """Export ``reference_model`` into ``tmp``, check both graphs against it and write ``verified.json``; return it."""
    t0 = time.perf_counter()
    export_onnx(reference_model, tmp, int8=True)
    seconds, graphs = time.perf_counter() - t0, {}
    say("checking the ONNX graphs against PyTorch float32")
    clips = check_clips(VERIFY_CLIPS, seed=0)
    reference = reference_model.predict(clips)
    for dtype in ("float32", "int8"):
        graph = load_onnx_model(tmp, dtype=dtype, device="cpu")
        figures = agreement_figures(reference, graph.predict(clips))
        graphs[dtype] = {"agreement": figures, "ok": acceptable(figures)}
    verified = {"source_checksum_sha256": reference_model.info.checksum, "source_identity_sha256": checksum, "onnxruntime": ort_version(), "workbench": __version__,
                "export_revision": EXPORT_REVISION, "export_seconds": round(seconds, 2), "check_clips": {"n": VERIFY_CLIPS, "seed": 0}, "graphs": graphs,
                "graph_sha256": {name: file_sha256(tmp / name, remember=False) for name in (ONNX_FILE, ONNX_INT8_FILE)},
                "made": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    _write_json(tmp / VERIFIED_FILE, verified)
    return verified


def _float32(ref: Any) -> Any:
    """``ref`` as the exact reference every path is measured and checked against: PyTorch float32 on the CPU,
    untempered (``ref`` is a :class:`~workbench.model.ref.ModelRef`; this module never imports it)."""
    return replace(ref, device="cpu", dtype="float32", temperature=None)


def _checksum(ref: Any, progress: Callable[[str], None] | None) -> str:
    """The weights' sha256 from the files alone, or (a hub id not downloaded, or pinned to a revision) by loading."""
    checksum = _float32(ref).describe().info.identity
    return checksum or _float32(ref).load(progress=progress).info.identity


def onnx_export_for(ref: Any, *, progress: Callable[[str], None] | None = None) -> tuple[Path, dict, Any]:
    """The cached, verified ONNX export of the checkpoint ``ref`` names (made here on first use), its verification
    record, and the checkpoint's provenance record (id, path, checksum) for the ONNX model to carry."""
    base = _float32(ref).describe().info
    found = cached_export(base.identity) if base.identity else None
    if found is None:
        reference = _float32(ref).load(progress=progress)
        found = ensure_export(reference, progress=progress)
        if not base.identity:  # a hub id not downloaded before, or pinned to a revision: the loaded model knows it
            base = reference.info
    folder, verified = found
    return folder, verified, base


# ---------------------------------------------------------------------------
# measuring and choosing
# ---------------------------------------------------------------------------
def _interleaved(models: dict[str, Any], clips: list[np.ndarray], failed: dict, rounds: int = MEASURE_ROUNDS) -> dict:
    """Each model's best time over ``rounds`` on ``clips`` (after a one-clip warm-up), and its predictions; the models
    take turns within every round, in an order rotated each round, so that a slow minute of a shared machine hits
    them all.  Timed one after another, a slow minute fell on one path: the large model's bfloat16 measured 3.3 s for
    4 clips (1.4 s alone a few minutes later), and ``auto`` took ONNX Runtime int8, 1.65x FunASR end to end instead
    of bfloat16's ~2.3x.  A candidate that fails to score goes into ``failed`` (name -> error) and out of the rounds;
    float32's failure is raised."""
    best: dict[str, tuple[float, list]] = {name: (float("inf"), []) for name in models}
    for r in range(rounds + 1):  # round 0: the warm-up (first-call allocations and kernel choices), one clip
        names = [n for n in models if n in best]
        for name in names[r % len(names):] + names[:r % len(names)]:
            t0 = time.perf_counter()
            try:
                preds = models[name].predict(clips if r else clips[:1])
            except Exception as exc:  # noqa: BLE001 — a path that cannot run here is recorded and never chosen
                if name == "float32":
                    raise
                failed[name] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}", "ok": False}
                del best[name]
                continue
            if r:
                best[name] = (min(best[name][0], time.perf_counter() - t0), preds)
    return best


def measure_paths(ref: Any, *, progress: Callable[[str], None] | None = None) -> dict:
    """Time float32 and every :data:`CPU_PATHS` candidate of the checkpoint ``ref`` names on this machine, with their
    agreement with float32 (``ref``: a :class:`~workbench.model.ref.ModelRef`; each candidate is loaded through it).
    Every candidate is loaded first and the rounds are interleaved (:func:`_interleaved`): the peak memory holds them all
    (large: about 4 GB), once per checkpoint and machine."""
    say = progress or (lambda line: None)
    reference = _float32(ref).load(progress=progress)
    checksum = reference.info.identity
    clips = check_clips(MEASURE_CLIPS, seed=1)
    audio_seconds = sum(len(c) for c in clips) / SAMPLE_RATE
    say(f"measuring the precisions once on this CPU ({MEASURE_CLIPS} seeded clips, {audio_seconds:.1f} s of audio, "
        f"{MEASURE_ROUNDS} interleaved rounds)")
    paths: dict[str, dict] = {}
    models = {"float32": reference}
    for name in CPU_PATHS:
        try:
            if name in ONNX_PATHS:
                ensure_export(reference, progress=progress)
            models[name] = replace(_float32(ref), dtype=name).load()
        except Exception as exc:  # noqa: BLE001 — a path that cannot run here is recorded and never chosen
            paths[name] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}", "ok": False}
        if name in models and name in ONNX_PATHS and cpu_threads() >= 2:  # the graph with each batch in two parts
            try:
                models[f"{name}/split"] = replace(_float32(ref), dtype=name)._load_onnx(None, split=ONNX_SPLITS[-1])
            except Exception as exc:  # noqa: BLE001 — the whole batch stays the path's layout
                paths[f"{name}/split"] = {"error": f"{type(exc).__name__}: {str(exc)[:200]}", "ok": False}
    timed = _interleaved(models, clips, paths)
    _fastest_layouts(timed, paths)
    t32, ref_preds = timed["float32"]
    paths = {"float32": {"seconds": round(t32, 4), "x_float32": 1.0, "ok": True}, **paths}
    for name in CPU_PATHS:
        if name not in timed:
            continue
        seconds, preds = timed[name]
        figures = agreement_figures(ref_preds, preds)
        ok = acceptable(figures)
        if name in ONNX_PATHS:
            ok = ok and bool(getattr(models[name], "verification", {}).get("ok"))
        paths[name] = {**paths.get(name, {}), "seconds": round(seconds, 4), "x_float32": round(t32 / seconds, 3),
                       "agreement": figures, "ok": ok}
    del models, timed
    for name in ("bfloat16", "int8"):
        replace(_float32(ref), dtype=name).forget()  # the chosen one loads again; the others are freed
    _measure_start_ups(paths, reference.info.path, say)
    record = {"format": RECORD_FORMAT, "cpu": cpu_identity(), "checkpoint_sha256": reference.info.checksum,
              "checkpoint_identity_sha256": checksum, "versions": versions(),
              "clips": {"n": MEASURE_CLIPS, "seed": 1, "audio_seconds": round(audio_seconds, 2)}, "paths": paths,
              "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"), "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None}
    try:
        _write_json(record_path(checksum), record)
    except (files.UnsafePathError, OSError) as exc:  # a shared cache that cannot take it costs a measurement, not the run
        logger.warning("the --dtype auto measurement is used but not recorded (%s): the next run measures again. Fix: remove "
                       "what stands at %s (a link or a folder is never written through), make the folder writable, or set "
                       "WORKBENCH_CACHE to a folder of your own", getattr(exc, "message", None) or exc, record_path(checksum))
    return record


def _fastest_layouts(timed: dict, paths: dict) -> None:
    """Each ONNX path's faster layout, in place: ``timed[name]`` becomes the split one's time and predictions where
    it was faster, and the path's entry says which (``onnx_split``) and what the other took (``seconds_other_split``).
    On ``tiny`` (2 cores) a split batch took ~20 % less (its operators are too small for two threads to share one
    run); on the large graph ~20 % more: measured on each machine, not assumed."""
    for name in ONNX_PATHS:
        split = timed.pop(f"{name}/split", None)
        failed = paths.pop(f"{name}/split", None)  # a split that could not run leaves the whole batch
        if name not in timed or split is None:
            if name in timed and failed:
                paths[name] = {"onnx_split": 1, "split_error": failed["error"]}
            continue
        faster = split[0] * MIN_SPEEDUP < timed[name][0]  # the simpler layout unless the split beats it by 5 %
        paths[name] = {"onnx_split": ONNX_SPLITS[-1] if faster else 1, "seconds_other_split": round(timed[name][0] if faster else split[0], 4)}
        if faster:
            timed[name] = split


def _measure_start_ups(paths: dict, checkpoint: str | None, say: Callable[[str], None]) -> None:
    """Each usable path's start-up, into ``paths[name]["start_seconds"]``: the wall time of a fresh process that
    imports the path's runtime (torch and FunASR, or ONNX Runtime alone), loads the checkpoint in that precision and
    scores one short clip.  On a small job this is most of the time (``tiny``: torch 1.4 s to import, ONNX Runtime
    0.2 s), so ``auto`` counts it; a probe that fails leaves the path's start-up unknown (``start_error``)."""
    if not checkpoint:
        return
    names = [name for name, p in paths.items() if p.get("ok") and "seconds" in p]
    say(f"measuring the start-up of {len(names)} paths in fresh processes ({', '.join(names)})")
    for name in names:
        t0 = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, "-c", "from workbench.model.start_probe import main; main()",
                                   str(checkpoint), name], capture_output=True, text=True, timeout=START_PROBE_TIMEOUT,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            paths[name]["start_error"] = f"no answer within {START_PROBE_TIMEOUT} s"
            continue
        seconds = time.perf_counter() - t0
        interrupts.check()  # a Ctrl-C that reached the probe first (same process group) stops the measurement too
        if done.returncode != 0:
            paths[name]["start_error"] = (done.stderr.strip().splitlines() or [f"exit {done.returncode}"])[-1][:200]
            continue
        paths[name]["start_seconds"] = round(seconds, 3)
        try:
            said = json.loads(done.stdout.strip().splitlines()[-1])
            paths[name]["start_imports_torch"] = bool(said["torch"])
            if said.get("torch_import_seconds") is not None:
                paths[name]["torch_import_seconds"] = round(float(said["torch_import_seconds"]), 3)
        except (ValueError, IndexError, KeyError, TypeError):
            pass


def _seconds(value: Any) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and 0 <= value <= RECORD_MAX_SECONDS)


def _agreement_form_problem(figures: Any) -> str:
    """Why recorded agreement figures are not the numbers :func:`agreement_figures` writes, or ``""``."""
    keys = ("clips", "top1_same", "top1_agreement", "max_abs_delta_score", "cosine_min")
    if not isinstance(figures, dict) or not all(_seconds(figures.get(k)) or k == "cosine_min" and isinstance(
            figures.get(k), (int, float)) and not isinstance(figures.get(k), bool) and math.isfinite(figures[k]) for k in keys):
        return f"its agreement figures are not the numbers {', '.join(keys)}"
    return ""


def _agreement_problem(figures: Any) -> str:
    """Why a path's recorded agreement with float32 cannot be trusted to pass, or ``""``."""
    return _agreement_form_problem(figures) or "; ".join(shortfalls(figures))


def record_problem(record: dict) -> str:
    """What makes a measurement record unusable for ``auto``, or ``""``: every path an entry with ``ok`` true or
    false, its times finite numbers in [0, 1e6] s (float32's and every usable path's measured, and above zero), and
    each path marked ok an agreement with float32 that passes :func:`acceptable` again (a hand-edited ``ok: true`` is
    not taken on trust)."""
    paths, clips = record.get("paths"), record.get("clips")
    if not isinstance(paths, dict) or not isinstance(paths.get("float32"), dict):
        return "it holds no 'paths' with a float32 entry"
    n = clips.get("n") if isinstance(clips, dict) else None
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_RECORD_CLIPS or not isinstance(record.get("measured"), str):
        return f"its 'clips.n' or 'measured' is missing or not a count (1 to {MAX_RECORD_CLIPS}) and a time"
    for name, p in paths.items():
        if name != "float32" and name not in CPU_PATHS:
            return f"it names a path {shown(name)} that auto does not run"
        if not isinstance(p, dict) or not isinstance(p.get("ok", False), bool):
            return f"{name}: not an entry with 'ok' true or false"
        bad = next((k for k in ("seconds", "start_seconds", "torch_import_seconds", "x_float32", "seconds_other_split") if k in p
                    and not (_seconds(p[k]) and (p[k] > 0 or k in ("start_seconds", "torch_import_seconds")))), None)
        if bad:
            return f"{name}.{bad} = {shown(p[bad])} is not a number of seconds in (0, {RECORD_MAX_SECONDS:g}]"
        if "onnx_split" in p and (type(p["onnx_split"]) is not int or p["onnx_split"] not in ONNX_SPLITS or name not in ONNX_PATHS):
            return f"{name}.onnx_split = {shown(p['onnx_split'])}: a layout is one of {', '.join(map(str, ONNX_SPLITS))}, on an ONNX path only"
        if not isinstance(p.get("start_imports_torch", False), bool):
            return f"{name}.start_imports_torch = {shown(p['start_imports_torch'])} is not true or false"
        if "agreement" in p and (why := _agreement_form_problem(p["agreement"])):
            return f"{name}: {why}"
        if p.get("ok") and "seconds" not in p:
            return f"{name} is marked ok without a measured time"
        if p.get("ok") and name != "float32" and (why := _agreement_problem(p.get("agreement"))):
            return f"{name} is marked ok but {why}"
    return "" if paths["float32"].get("ok") and "seconds" in paths["float32"] else "float32 has no measured time"


def cached_record(checksum: str) -> dict | None:
    """This machine's measurement for ``checksum``, when it was made with the same CPU and versions and holds what
    :func:`record_problem` asks (a record edited since is measured again, with a warning naming it)."""
    path = record_path(checksum)
    record = _read_json(path)
    if (record is None or record.get("format") != RECORD_FORMAT or record.get("checkpoint_identity_sha256") != checksum
            or record.get("cpu") != cpu_identity() or record.get("versions") != versions()):
        return None
    problem = record_problem(record)
    if problem:
        logger.warning("the --dtype auto measurement %s is not usable (%s): it is measured again", path, problem)
        return None
    return record


def measured_faster(checksum: str, path: str) -> bool:
    """Whether this machine's current measurement of ``checksum`` (:func:`cached_record`) found ``path`` faster than
    PyTorch float32 by :data:`MIN_SPEEDUP` and in agreement with it; ``False`` when there is no such measurement."""
    record = cached_record(checksum)
    if record is None:
        return False
    paths = record.get("paths") or {}
    mine, exact = paths.get(path) or {}, paths.get("float32") or {}
    if not mine.get("ok") or "seconds" not in mine or "seconds" not in exact:
        return False
    return float(mine["seconds"]) * MIN_SPEEDUP <= float(exact["seconds"])


def expected_seconds(record: dict, name: str, job_clips: int | None) -> float | None:
    """What the path ``name`` is expected to take for a job of ``job_clips`` clips: its start-up (less the torch import
    when this process has torch already) and its model time per measured clip; ``None`` when a figure is missing."""
    p = record["paths"].get(name) or {}
    if "seconds" not in p or "start_seconds" not in p or not job_clips:
        return None
    start = float(p["start_seconds"])
    if p.get("start_imports_torch") and "torch" in sys.modules:  # already paid by this process (a notebook, a test)
        start -= float(p.get("torch_import_seconds") or 0.0)
    n = int((record.get("clips") or {}).get("n") or MEASURE_CLIPS)
    return max(start, 0.0) + float(p["seconds"]) / n * job_clips


def choose(record: dict, *, allow_onnx: bool = True, job_clips: int | None = None) -> tuple[str, str]:
    """The fastest acceptable path of a measurement, and why (float32 when nothing beats it).

    With ``job_clips`` (the clips a run is about to score) and every start-up measured, fastest means the whole job's
    expected time, start-up included: a handful of clips goes to ONNX Runtime, whose process never imports torch,
    while a corpus goes to the path whose model is fastest.  Without it, the model time alone decides."""
    paths = record["paths"]
    usable = [name for name, p in paths.items()  # an ok never stands without the agreement that earned it
              if name != "float32" and p.get("ok") is True and "seconds" in p and not _agreement_problem(p.get("agreement"))
              and (allow_onnx or name not in ONNX_PATHS)]
    if not usable:
        return "float32", "no faster path agreed with float32 on this CPU"
    expected = {name: expected_seconds(record, name, job_clips) for name in ["float32", *usable]}
    if job_clips and all(v is not None for v in expected.values()):
        name = min(usable, key=lambda n: expected[n])
        if expected[name] * MIN_SPEEDUP > expected["float32"]:
            return "float32", (f"no path beat float32 by {MIN_SPEEDUP:.2f}x for {job_clips} clip{'' if job_clips == 1 else 's'} on this CPU, start-up "
                               f"included (float32 about {expected['float32']:.1f} s)")
        return name, (f"fastest for {job_clips} clip{'' if job_clips == 1 else 's'} on this CPU, start-up included: about {expected[name]:.1f} s "
                      f"against float32's {expected['float32']:.1f} s")
    name = min(usable, key=lambda n: paths[n]["seconds"])
    speedup = paths["float32"]["seconds"] / paths[name]["seconds"]
    if speedup < MIN_SPEEDUP:
        return "float32", f"no path beat float32 by {MIN_SPEEDUP:.2f}x on this CPU"
    return name, f"fastest on this CPU: {speedup:.2f}x float32"


def measured_choice(ref: Any, *, progress: Callable[[str], None] | None = None,
                    job_clips: int | None = None) -> tuple[str, dict]:
    """``auto`` on this CPU for the checkpoint ``ref`` names: the fastest path that agrees with float32 (measured once,
    then read from the cache), and the record the loaded model carries as its ``precision`` (what, why, and the
    agreement figures of the measurement).  Loading the winner is :meth:`ModelRef.load`'s."""
    allow_onnx = ref.temperature is None  # the ONNX graphs do not apply a temperature
    checksum = _checksum(ref, progress)
    record = cached_record(checksum)
    fresh = record is None
    if fresh:
        record = measure_paths(ref, progress=progress)
    chosen, reason = choose(record, allow_onnx=allow_onnx, job_clips=job_clips)
    entry = record["paths"][chosen]
    if (split := min(int(entry.get("onnx_split", 1)), max(1, cpu_threads()))) > 1:  # OMP_NUM_THREADS=1 since: one part
        reason += f"; each batch cut in {split} parts run at once, measured faster here"
    precision = {"requested": "auto", "chosen": chosen, "reason": reason,
                 "x_float32": entry.get("x_float32"), "agreement_with_float32": entry.get("agreement"),
                 "measured": record["measured"], "measurement": str(record_path(checksum)),
                 "measured_now": fresh, "job_clips": job_clips, "onnx_split": split,
                 "expected_seconds": {name: round(v, 2) for name in record["paths"]
                                      if (v := expected_seconds(record, name, job_clips)) is not None},
                 "failed_paths": sorted(name for name, p in record["paths"].items() if p.get("error"))}
    return chosen, precision


def describe_auto(precision: dict) -> str:
    """One line for the screen: ``dtype auto → onnx-int8 (fastest on this CPU: 2.31x float32; top-1 4/4, …)``."""
    line = f"dtype auto → {precision['chosen']} ({precision['reason']}"
    if precision.get("agreement_with_float32"):
        line += f"; agreement with float32: {describe_agreement(precision['agreement_with_float32'])}"
    line += ")"
    if precision.get("failed_paths"):  # a path that could not run was not a candidate: say so, and where the error is
        line += (f"; not a candidate, it failed when measured: {', '.join(precision['failed_paths'])} "
                 f"(errors in {precision.get('measurement')}; delete that file to measure again)")
    return line
