"""Experiment runs: a dataset × preprocessing variants × one model.

:func:`run` is the driver: it reads the manifest, takes the run folder's lock, loads the model, hands the pending
(item, variant) pairs to the one engine (:mod:`workbench.engine.core`, locally or on Ray actors through
:mod:`workbench.engine.ray_executor`) and writes each chunk's rows through :class:`~workbench.runs.writer.RunWriter` (in a
thread beside the model, :mod:`.background`): atomic parts, the lock, validated resumption, safe file names.

An interrupted run loses no finished row and a re-run resumes where it stopped. Predictions are cached by content (audio
sha256 + segment + audio settings + chain hash + model checksum + dtype), so a re-run, or a run with one more variant, only
computes what is new; a re-run of a run folder's ``experiment.yaml`` says whether it reproduces that run (:mod:`.reproduce`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import numbers
import os
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from workbench import interrupts
from workbench.logs import progress_bar_class, progress_options
from workbench.audio.decoders import FILE_NOT_FOUND
from workbench.audio.intake import AudioConfig
from workbench.engine.findings import DiagnosticsConfig
from workbench.engine.ray_executor import ActorLostError, ray_temperature_error, run_chunks, settle_for_ray
from workbench.engine.ray_identity import expected_model
from workbench.engine.ahead import decode_ahead_mode
from workbench.engine.core import Engine, Prefetch, Scored, WorkItem
from workbench.engine.prediction_cache import PredictionCache, default_cache_dir  # noqa: F401  (PredictionCache public here too)
from workbench.errors import AudioError, ConfigError, WorkbenchError
from workbench.runs.experiment import EXPERIMENT_FILE, MAX_CHUNK, Experiment, precision_record
from workbench.data.corpora import for_labels
from workbench.labels import LABEL_KEYS
from workbench.data.demoset import choose_model, demo_manifest
from workbench.data.manifest import Manifest, read_manifest, refuse_in_memory
from workbench.model.network import RANDOM_WEIGHTS_BANNER
from workbench.model.ref import ModelRef
from workbench.model.precision import MEASURED, describe_choice
from workbench.runs.folder import RunFolder, RunFolderError, select_mask, select_rows
from workbench.runs.reproduce import check_and_record, check_resumed_model, environment
from workbench.runs.background import PartsInBackground
from workbench.runs.writer import RunWriter
from workbench.paths import published_command
from workbench.schema import failed_row, ok_row
from workbench.audio.variants import RAW, Variant, load_variants, variants_from  # noqa: F401  (public here too)

logger = logging.getLogger(__name__)

#: the engines a run can use
ENGINES = ("local", "ray")


# ---------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------
@dataclass
class RunResult:
    run_dir: Path
    n_rows: int
    n_failed: int
    n_cached: int
    n_resumed: int
    seconds: float
    summary: dict
    folder: Any = field(default=None, repr=False, compare=False)  # the writer's reader: its table is not read back

    def results(self):
        return (self.folder if self.folder is not None else RunFolder(self.run_dir)).results()


def run(
    manifest: Manifest | str | os.PathLike,
    *,
    out_dir: str | os.PathLike,
    model: ModelRef | str | Any = None,
    variants: Sequence[Variant] | None = None,
    audio_config: AudioConfig | None = None,
    diagnostics: DiagnosticsConfig | None = None,
    frame_embeddings: bool = False, chunk_size: int = 64,
    cache_dir: str | os.PathLike | None = None, use_cache: bool = True, progress: bool = False,
    hook: Callable[..., None] | None = None, limit: int | None = None,
    engine: str = "local", ray_options: Any = None, workers: int | None = None,
    experiment: Experiment | None = None, load_progress: Callable[[str], None] | None = None,
    temperature: float | None = None, resume_command: str | None = None,
    dtype_default: bool = False, command_line: Sequence[str] | None = None,
) -> RunResult:
    """Run every manifest item through every variant and the model; write ``out_dir``: resolve what was asked, load the
    model under the folder's lock, pin the run (``config.yaml``, ``experiment.yaml``), execute the pending rows, assemble.

    Parameters
    ----------
    manifest : Manifest or path
        The items (a CSV/JSONL manifest file or a :class:`~workbench.data.manifest.Manifest`).
    out_dir : path
        The run folder; an unfinished run of the same settings there is resumed.
    model : ModelRef, str, loaded model or None
        A :class:`~workbench.model.ref.ModelRef`, a name (hub id, checkpoint folder, ``"tiny"``), ``None``
        for the default model, or a model already loaded (used as it is).
    variants : list of Variant, optional
        Preprocessing variants (default: ``raw`` only).
    audio_config, diagnostics : optional
        Decoding settings and the findings' thresholds.
    frame_embeddings, chunk_size : bool, int
        Keep each row's ``(T, D)`` frame embeddings; rows per part written (and per engine call).
    cache_dir, use_cache, progress, hook, limit : optional
        The content-addressed prediction cache; a progress bar; ``hook("chunk", rows, completed=, total=)`` after each
        part is on disk; stop after ``limit`` new rows.
    engine : {"local", "ray"}
        ``"ray"`` hands the chunks to Ray actors (:mod:`workbench.engine.ray_executor`, ``ray_options``).
    workers, experiment : optional
        Decoding processes (``None``: the engine's choice); what the run does not use itself (seed, reports,
        tracking), added to the written ``experiment.yaml``.
    load_progress, temperature : optional
        Hears what the model load is doing (the CLI prints it); divides the model's logits (recorded with the run).
    resume_command : str, optional
        What ``log.txt`` names to resume an interrupted run (default: this call again with the same ``out_dir``).
    dtype_default, command_line : optional
        No dtype was asked for: the command's default, or the resumed run's (:func:`~workbench.runs.experiment.precision_record`);
        the command line typed (``["workbench", "run", …]``), which ``summary.json`` keeps with the home folder as ``~``.

    Returns
    -------
    RunResult
        The folder, row counts and the summary.

    Examples
    --------
    >>> import workbench.data.demoset as demoset
    >>> res = wb.run(demoset.demo_manifest(), out_dir="runs/doc_run", model="tiny", limit=4, chunk_size=4)
    >>> res.n_rows
    4
    >>> res = wb.run(demoset.demo_manifest(), out_dir="runs/doc_run", model="tiny")   # resumes: the 4 rows are kept
    >>> res.n_resumed, res.n_rows == len(wb.RunFolder(res.run_dir).results(status=None))
    (4, True)
    """
    t_start = time.perf_counter()
    plan = _resolve(manifest, out_dir, model, variants, audio_config, diagnostics, engine, temperature, load_progress, chunk_size, limit)
    plan.writer.refuse_foreign_folder()  # an audio folder or infer's outputs given as --out: nothing is written there
    with plan.writer.lock():  # before the model loads: a second run on this folder is refused at once
        prefetch = _prefetch(plan, chunk_size, workers)  # the first chunk decoded while the model loads
        net, ref, precision = _load(plan, model, temperature, load_progress)
        precision = precision_record(precision, dtype_default, plan.writer.recorded_setting("precision")) if plan.requested is not None else precision
        _pin(plan, net, ref, experiment=experiment, frame_embeddings=frame_embeddings, chunk_size=chunk_size, cache_dir=cache_dir, precision=precision)
        cache = PredictionCache(cache_dir or default_cache_dir()) if use_cache else None
        return _execute(plan, net, ref, precision, cache=cache, frame_embeddings=frame_embeddings, chunk_size=chunk_size,
                        progress=progress, hook=hook, limit=limit, ray_options=ray_options, workers=workers, t_start=t_start,
                        resume_command=resume_command, prefetch=prefetch, command_line=command_line)


def _prefetch(plan: "_Plan", chunk_size: int, workers: int | None) -> Prefetch | None:
    """A fresh local run's first chunk, decoded in a thread while the model loads (one core does the load); None where the
    engine would not use it: Ray, decoding processes asked for, or a folder with parts (what is left to score is known
    only once they are read)."""
    if plan.engine != "local" or (workers or 0) > 0 or plan.writer.has_parts():
        return None
    manifest = plan.manifest
    return Prefetch([WorkItem(it, manifest.resolve(it).absolute(), tuple(plan.variants)) for it in manifest.items[:chunk_size]],
                    plan.audio_config)


#: what ``summary.json``'s ``engine.timing_s`` parts mean: they are not slices of ``seconds`` that add up
TIMING_NOTE = ("seconds = start_s (manifest, lock, model load, --dtype auto's choice) + the scoring, in which the main "
               "process ran the model (model_s), findings and cache writes (post_s) and waited for decoded audio (wait_s, "
               "of which wait_decoding_s it spent decoding what the thread ahead had not); decode_s is the wall time of all "
               "the decoding, most of it done in a thread beside the model that only runs on the cores the model leaves "
               "idle (so it reads longer than the work), overlapping model_s, so it is not added (0 when worker "
               "processes decode)")

#: precisions a local run records as chosen (an ONNX path records the graph's dtype, so it is checked after loading)
TORCH_DTYPES = ("float32", "bfloat16", "float16", "int8")


@dataclass
class _Plan:
    """What :func:`run` resolved before taking the lock."""

    manifest: Manifest
    manifest_ref: str
    variants: list
    audio_config: AudioConfig
    diagnostics: DiagnosticsConfig
    writer: RunWriter
    engine: str
    requested: ModelRef | None  # None: a model given loaded
    precision: dict


def _resolve(manifest, out_dir, model, variants, audio_config, diagnostics, engine, temperature, load_progress, chunk_size=64,
             limit=None) -> _Plan:
    """Step 1: the manifest read, the variants and settings, the model's precision chosen (once, here), engine refusals."""
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}; expected one of {list(ENGINES)}.", source="engine", fix="pass --engine local or --engine ray.")
    for name, value in (("chunk_size", chunk_size), ("limit", limit)):  # 0 or -1: refused before the model loads
        if not (value is None and name == "limit") and (isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1):
            raise ConfigError(f"{name} is {value!r}, not a whole number of 1 or more.", source=name,
                              fix=f"pass {name}=64 or another positive whole number" + (", or None (no limit)." if name == "limit" else
                                                                                          " (the rows of each part written)."))
    if chunk_size > MAX_CHUNK:  # one part for a whole corpus: nothing on disk until the end, so a Ctrl-C would lose it all
        raise ConfigError(f"chunk_size is {chunk_size}; a part holds at most {MAX_CHUNK:,} rows.", source="chunk_size",
                          fix="pass 64 (the default) or another size up to that: each part is what an interruption can lose.")
    decode_ahead_mode()  # WORKBENCH_DECODE_AHEAD misspelt: refused now, not after the model has loaded
    if not isinstance(manifest, Manifest):
        manifest_ref = str(Path(manifest).resolve())
        manifest = read_manifest(Path(manifest))
    else:  # built in Python, never read: its ids are checked as read_manifest checks them (a screen prints each)
        manifest_ref = manifest.source or manifest.name or "<in-memory>"
        refuse_in_memory(manifest, manifest_ref)  # and a speaker written in two forms (1 and 1.0)
    writer = RunWriter(out_dir)
    if writer.path.exists() and not writer.path.is_dir():
        raise RunFolderError("exists and is not a folder.", source=str(writer.path), fix="choose another --out folder.")
    requested = ModelRef.coerce(model)
    precision = {"requested": None, "chosen": None, "reason": "the model was given loaded"}
    if requested.is_loaded:  # a model given loaded: used as it is
        requested = None
    else:
        # decided once, by the reference; recorded in config.yaml and summary.json, never changed behind the user's back
        requested, precision = requested.settled()
        if engine == "ray":  # what the Ray engine cannot do is refused by the engine, before any work
            requested, precision = settle_for_ray(requested, precision, temperature)
        if precision["chosen"] not in (MEASURED, precision["requested"]) and load_progress is not None:
            load_progress(describe_choice(precision["requested"], precision["chosen"], precision["reason"]))
        if engine == "local" and precision["chosen"] == MEASURED:
            requested, precision = _resumed_auto(writer, requested, precision, load_progress)
        if engine == "local" and precision["chosen"] in TORCH_DTYPES:  # known before loading: refused before loading
            writer.check_resumable({"dtype": precision["chosen"]})
    return _Plan(manifest, manifest_ref, list(variants or [RAW]), audio_config or AudioConfig(), diagnostics or DiagnosticsConfig(),
                 writer, engine, requested, precision)


def _resumed_auto(writer: RunWriter, requested: ModelRef, precision: dict, load_progress) -> tuple[ModelRef, dict]:
    """``auto`` resuming a folder whose run it chose a precision for keeps that precision: the choice depends on the
    job's size, and the rows still to score are fewer (a changed choice would mix precisions, and be refused)."""
    kept = writer.recorded_setting("dtype")
    if kept not in TORCH_DTYPES + ("onnx-float32", "onnx-int8") or kept == "float16":
        return requested, precision
    reason = "the precision of the run in this folder, which a resumed run keeps"
    if load_progress is not None:
        load_progress(describe_choice("auto", kept, reason))
    return replace(requested, dtype=kept), {"requested": "auto", "chosen": kept, "reason": reason}


def _load(plan: _Plan, model: Any, temperature: float | None, load_progress) -> tuple[Any, ModelRef, dict]:
    """Step 2: the model loaded once (the Ray driver only checks the checkpoint and hashes it), its portable reference."""
    requested, precision = plan.requested, dict(plan.precision)
    if requested is None:
        net = model
    elif plan.engine == "ray":
        net = requested.describe(progress=load_progress)
    else:
        net = requested.load(progress=load_progress, job_clips=len(plan.manifest) * len(plan.variants))
        if requested.dtype == "auto":  # the measured choice, with its agreement with float32
            precision = dict(net.precision)
            requested = replace(requested, dtype=net.info.dtype)
    if temperature is not None and plan.engine != "ray":  # logits / T in every score (workbench calibrate fits T)
        net = net.with_temperature(temperature)
    # what the run records means the same on another machine: `tiny` stays `tiny`, with the weights' checksum
    ref = (requested or ModelRef()).pinned(net)
    if plan.engine == "ray":
        if ref.temperature is not None:  # a loaded model that carries one
            raise ray_temperature_error()
        if requested is not None:
            ref = replace(ref, device=requested.device, dtype=requested.dtype)
    return net, ref, precision


def _pin(plan: _Plan, net: Any, ref: ModelRef, *, experiment: Experiment | None, frame_embeddings: bool, chunk_size: int,
         cache_dir: Any, precision: dict | None = None) -> None:
    """Step 3: ``config.yaml`` (the run's record; a resumed run must match it) and the ``experiment.yaml`` that re-runs it."""
    manifest, local = plan.manifest, plan.engine == "local"
    manifest_sha = hashlib.sha256(json.dumps([it.to_dict() for it in manifest], sort_keys=True, default=str).encode()).hexdigest()
    extras = {k: getattr(experiment, k) for k in ("seed", "reports", "tracking")} if experiment else {}
    exp = Experiment(
        manifest=plan.manifest_ref, manifest_sha256=manifest_sha, model=replace(ref, revision=net.info.revision),
        variants=[v.to_dict() for v in plan.variants], audio=plan.audio_config.to_dict(), diagnostics=plan.diagnostics.to_dict(),
        frame_embeddings=frame_embeddings, chunk_size=chunk_size, engine=plan.engine, **extras)
    config = exp.run_record(manifest=plan.manifest_ref, device=net.info.device if local else f"ray:{ref.device}",
                            dtype=net.info.dtype if local else ref.dtype, manifest_root=str(Path(manifest.root).resolve()),
                            cache_dir=str(cache_dir) if cache_dir else None, run_dir=plan.writer.path, precision=precision)
    writer = plan.writer
    resuming = writer.prepare(config, Experiment.IDENTITY)
    if resuming:  # the model is not among the settings compared: its rows' network, by identity (each file named)
        check_resumed_model(writer.folder, net.info)
    if not resuming or not (writer.path / EXPERIMENT_FILE).is_file():  # a folder of an older version gets one too
        source = plan.manifest_ref if Path(plan.manifest_ref).is_file() else str(writer.write_manifest_copy(manifest))
        writer.write_experiment(replace(exp, manifest=source))


def _execute(plan: _Plan, net: Any, ref: ModelRef, precision: dict, *, cache, frame_embeddings, chunk_size, progress, hook, limit,
             ray_options, workers, t_start, resume_command=None, prefetch: Prefetch | None = None, command_line=None) -> RunResult:
    """Step 4: the pending (item, variant) rows through the engine, a part per chunk, then the results table."""
    start_s = time.perf_counter() - t_start  # reading the manifest, the lock, loading the model, choosing `auto`'s path
    writer, manifest, variants = plan.writer, plan.manifest, plan.variants
    writer.expect_rows({(it.id, v.name) for it in manifest for v in variants})  # parts of other runs are rejected
    retried = writer.retry_failed(ActorLostError.code)  # rows whose Ray actor was lost at every attempt
    done = writer.finished_rows()
    n_resumed = len(done)
    if n_resumed:
        writer.log(f"resuming: {n_resumed} rows already finished"
                   + (f"; {retried} rows whose Ray actor was lost are scored again" if retried else ""))
    where = f"{net.info.device} ({net.info.dtype})" if plan.engine == "local" else f"a Ray cluster (device {ref.device}, {ref.dtype})"
    writer.log(f"run of {len(manifest)} items × {len(variants)} variants with {net.info.id} on {where}")
    for note in manifest.notes:  # what reading the manifest found (a misspelt column …), kept with the run
        writer.log(f"manifest: {note}")
    if net.random_weights:
        writer.log(f"WARNING: {RANDOM_WEIGHTS_BANNER}")
    try:
        # the rows' truth in the model's own labels: a fine-tuned head's classes (EmoDB's boredom …) or the nine
        work = [WorkItem(it, manifest.resolve(it).absolute(), pending) for it in for_labels(manifest, net.info.labels)
                if (pending := tuple(v for v in variants if (it.id, v.name) not in done))]
        total_rows = len(manifest) * len(variants)
        bar = _bar(progress, total_rows, n_resumed)
        engine_info: dict = {}
        eng = None
        if plan.engine == "ray":
            chunks = [work[s : s + chunk_size] for s in range(0, len(work), chunk_size)]
            results = run_chunks(chunks, model=ref, audio_config=plan.audio_config, diagnostics=plan.diagnostics,
                                 cache_dir=str(cache.root) if cache else None, frame_embeddings=frame_embeddings, options=ray_options,
                                 info=engine_info, expect_model=expected_model(net.info))
        else:
            eng = Engine(net, audio_config=plan.audio_config, diagnostics=plan.diagnostics, cache=cache, frame_embeddings=frame_embeddings,
                         workers=workers)
            results = eng.score(work, chunk_size=chunk_size, progress=bar.update if bar is not None else None, prefetch=prefetch)
        # a missing file's fix as a manifest has it: the decoder only saw an absolute path, and told the command line's rule
        results = ([manifest_path_fix(s, manifest.root) for s in chunk] for chunk in results)
        counts = _write_parts(writer, results, done, net.info.labels, frame_embeddings=frame_embeddings, bar=bar, bar_rows=eng is None,
                              hook=hook, limit=limit, total_rows=total_rows, background=eng is not None)
        n_new, n_failed, n_cached = counts
        if limit is not None and n_new >= limit:
            return RunResult(writer.path, len(done), n_failed, n_cached, n_resumed, time.perf_counter() - t_start, {})
        if engine_info:
            writer.log(f"ray engine: {engine_info.get('actors')} actor(s) on {', '.join(engine_info.get('workers', []))}")
            if engine_info.get("resent_chunks"):
                writer.log(f"ray engine: {engine_info['resent_chunks']} chunk(s) sent again after their actor was lost")
        timing = {k: round(v, 3) for k, v in {"start_s": start_s, **(eng.stats if eng is not None else {})}.items()}
        seconds = time.perf_counter() - t_start
        rejected_before = len(writer.rejected)
        summary = writer.finalize(
            item_order={it.id: i for i, it in enumerate(manifest)},
            variant_order={v.name: i for i, v in enumerate(variants)},
            summary=lambda results: {
                **_summary(results, variants, net, seconds, n_new, n_cached, n_resumed, plan.engine, engine_info, timing),
                "precision": {**precision, "chosen": precision["chosen"] or net.info.dtype},
                "manifest_notes": list(manifest.notes),  # what reading the manifest or corpus left out (also in log.txt)
                "command_line": published_command(command_line) if command_line else None,  # None: called from Python
            },
        )
        writer.log(f"done: {summary['rows']} rows ({summary['failed']} failed), {n_cached} from cache, {summary['seconds']:.1f} s")
        if summary["rows"] < total_rows:  # parts rejected while the results were assembled, or gone from parts/
            again = f"`{resume_command}`" if resume_command else f"run() again with out_dir={str(writer.path)!r}"
            note = (f"{total_rows - summary['rows']} of {total_rows} rows are missing from the results: "
                    f"{_why_missing(writer.rejected[rejected_before:], writer.parts_gone())}; {again} scores them")
            writer.log(f"WARNING: {note}")
            logger.warning(note)
        return RunResult(writer.path, summary["rows"], summary["failed"], n_cached, n_resumed, summary["seconds"], summary, writer.folder)
    except KeyboardInterrupt:  # Ctrl-C: the parts on disk stay; log.txt says so, and how to go on
        resume = f"`{resume_command}`" if resume_command else f"run() again with out_dir={str(writer.path)!r}"
        writer.log(f"interrupted with {len(done)} of {len(manifest) * len(variants)} rows finished and kept; {resume} resumes from them")
        raise


def _why_missing(rejected: list[str], gone: list[str]) -> str:
    """What became of the rows a finished run lacks: parts rejected when the results were assembled (log.txt has each
    reason), parts of this run no longer in ``parts/`` (the folder, or a part, moved or deleted while it ran)."""
    causes = [f"{len(rejected)} part{'s were' if len(rejected) != 1 else ' was'} rejected while they were assembled "
              "(log.txt says why)"] if rejected else []
    causes += [f"{len(gone)} part{'s' if len(gone) != 1 else ''} of this run {'are' if len(gone) != 1 else 'is'} no longer in "
               "parts/ (moved or deleted while it ran)"] if gone else []
    return " and ".join(causes) or "their parts are no longer in parts/ (moved or deleted while the run went on)"


def manifest_path_fix(scored: Scored, root: "str | Path") -> Scored:
    """``scored`` with a missing file's fix naming the manifest's rule: its relative paths start at its folder
    ``root``, not at the current directory (the decoder's fix, right for a path typed on the command line)."""
    err = scored.error
    if err and err.get("code") == AudioError.code and err.get("message") == FILE_NOT_FOUND:
        scored.error = AudioError(FILE_NOT_FOUND, source=err.get("source"),
                                  fix=f"check the path in the manifest (its relative paths start at its folder, {Path(root).resolve()}).").to_dict()
    return scored


def _bar(progress: bool, total: int, initial: int):
    if not progress:
        return None
    return progress_bar_class()(total=total, initial=initial, unit="row", desc="run", smoothing=0.05, dynamic_ncols=True, **progress_options())


def _write_parts(writer: RunWriter, results, done: set, labels, *, frame_embeddings, bar, bar_rows, hook, limit,
                 total_rows, background: bool = True) -> tuple[int, int, int]:
    """Each chunk of engine results written as a part, in a thread while the model scores the next chunk
    (:class:`~workbench.runs.writer.PartsInBackground`); its rows are counted, logged and told to ``hook`` only once
    the part is on disk.  Returns (new rows, failed, from cache).  Stops after ``limit`` new rows."""
    counts = [0, 0, 0]  # new rows, failed, from cache: of the parts on disk
    parts = PartsInBackground(writer, background=background)  # Ray: written at once, the model being elsewhere

    def written(scored: list[Scored], rows: list[dict]) -> Callable[[], None] | None:
        done.update([(s.item.id, s.variant.name) for s in scored])  # first, in one step: what an interrupt's log line counts
        counts[0] += len(rows)
        counts[1] += sum(1 for s in scored if not s.ok)
        counts[2] += sum(1 for s in scored if s.cached)
        for s in scored:
            if not s.ok:
                writer.log(f"FAILED {s.item.id} [{s.variant.name}]: {s.error['text']}")
        if bar is not None and bar_rows:  # the local engine moves the bar itself
            bar.update(len(rows))
        if hook is not None:  # called once the bookkeeping is whole, where a Ctrl-C can stop a hook that hangs
            completed = len(done)
            return lambda: hook("chunk", rows, completed=completed, total=total_rows)
        return None

    submitted = 0
    try:
        for scored in results:
            interrupts.check()  # a Ctrl-C swallowed in a worker's third-party code stops the run here
            rows, embs, frame_embs = rows_from(scored, frame_embeddings, labels)
            parts.submit(rows, embs, frame_embs, then=lambda scored=scored, rows=rows: written(scored, rows))
            submitted += len(rows)
            if limit is not None and submitted >= limit:
                parts.settle()
                writer.log(f"stopped after {counts[0]} new rows (limit)")
                break
        parts.settle()
    except KeyboardInterrupt:  # the part in flight, when it is on disk within a second, is counted before the log says how
        _settle_quietly(parts, timeout=1.0)  # many rows are kept; a slower one is left (it is whole or absent)
        raise
    except WorkbenchError as exc:
        # e.g. a Ray cluster that lost every actor: the parts written so far stay, and log.txt says why the run stopped
        _settle_quietly(parts)
        writer.log(f"stopped with {len(done)} rows finished (the same command resumes from them): {exc}")
        raise
    except Exception as exc:  # e.g. the caller's hook raised: log.txt says the run stopped, with how many rows kept
        _settle_quietly(parts)
        _log_quietly(writer, f"stopped with {len(done)} rows finished (the same command resumes from them): "
                             f"{type(exc).__name__}: {exc}")
        raise
    except BaseException:
        _settle_quietly(parts)
        raise
    finally:
        if bar is not None:
            bar.close()
        if hasattr(results, "close"):
            results.close()  # stops a pool of decoders or a Ray cluster started here
    return counts[0], counts[1], counts[2]


def _settle_quietly(parts: PartsInBackground, timeout: float | None = None) -> None:
    """The part in flight finished and counted on the way out of an error (the error on its way out is the one reported)."""
    try:
        parts.settle(timeout)
    except Exception:  # noqa: BLE001 — the error already on its way out is the one to report
        pass


def _log_quietly(writer: RunWriter, line: str) -> None:
    """A line for log.txt on the way out of an error (a log that cannot be written does not replace that error)."""
    try:
        writer.log(line)
    except Exception:  # noqa: BLE001 — the error already on its way out is the one to report
        pass


def rows_from(scored: list[Scored], keep_frames: bool, labels: Sequence[str] = LABEL_KEYS) -> tuple[list[dict], list, dict]:
    """Results rows, utterance embeddings and frame embeddings of one chunk of engine results; ``labels``: the model's classes."""
    rows, embs, frames = [], [], {}
    for s in scored:
        if s.ok:
            rows.append(ok_row(s))
            embs.append(s.prediction.embedding)
            if keep_frames and s.prediction.frame_embeddings is not None:
                frames[(s.item.id, s.variant.name)] = s.prediction.frame_embeddings
        else:
            rows.append(failed_row(s.item, s.variant, s.error, labels=labels))
            embs.append(None)
    return rows, embs, frames


def _summary(results, variants, net, seconds, n_new, n_cached, n_resumed, engine, engine_info, timing) -> dict:
    ok = select_rows(results)
    labelled = ok[ok["emotion"].astype(str) != ""]
    summary = {
        "rows": int(len(results)),
        "failed": int((results["status"] == "failed").sum()),
        "cached_this_run": int(n_cached),
        "computed_this_run": int(n_new - n_cached),
        "resumed_rows": int(n_resumed),
        "seconds": round(seconds, 2),
        "audio_seconds": float(ok["audio_seconds"].sum()) if len(ok) else 0.0,
        # with Ray, the model as the actors loaded it (device, dtype); the driver only hashed the checkpoint
        "model": (engine_info or {}).get("model") or net.info.to_dict(),
        "random_weights": net.random_weights,
        "engine": {"name": engine, **{k: v for k, v in (engine_info or {}).items() if k != "model"}, **({"timing_s": timing} if timing else {}),
                   **({"timing_note": TIMING_NOTE} if "decode_s" in timing else {})},
        "variants": {},
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"), "environment": environment(),  # what a re-run compares
    }
    for v in variants:
        sub = labelled[labelled["variant"] == v.name]
        allv = results[results["variant"] == v.name]
        summary["variants"][v.name] = {
            "rows": int(len(allv)),
            "failed": int((allv["status"] == "failed").sum()),
            "labelled": int(len(sub)),
            "excluded_no_counterpart": int((select_mask(allv) & (allv["emotion"].astype(str) == "").to_numpy()).sum()),
            "accuracy": float(sub["correct"].astype(bool).mean()) if len(sub) else None,
        }
    return summary


def run_experiment(experiment: Experiment | str | os.PathLike, *, out_dir: str | os.PathLike | None = None, model: Any = None,
                   **options: Any) -> RunResult:
    """Run an experiment file (or :class:`Experiment`).

    Parameters
    ----------
    experiment : Experiment or path
        The experiment, or its YAML file (a run folder's ``experiment.yaml`` or ``config.yaml`` repeats that run).
    out_dir : path, optional
        Overrides the experiment's ``out``.
    model : ModelRef, str or loaded model, optional
        Overrides its model (a name keeps the experiment's hub, device, dtype and temperature).
    **options
        Passed to :func:`run` (``progress``, ``hook``, ``workers``, ``cache_dir``, ``use_cache``, ``ray_options`` …); ``manifest``: its items read.

    Returns
    -------
    RunResult

    Examples
    --------
    >>> run_dir = wb.demo_run("runs/demo", model="tiny")
    >>> again = wb.run_experiment(run_dir / "experiment.yaml", out_dir="runs/demo_again")   # the same run, elsewhere
    >>> again.n_rows == len(wb.RunFolder(run_dir).results(status=None))   # every row of the first run, again
    True
    """
    exp = experiment if isinstance(experiment, Experiment) else Experiment.load(experiment)
    out = out_dir or exp.out
    if not out:
        raise ConfigError("the experiment names no output folder.", source=exp.manifest, fix="pass --out FOLDER (or add `out:` to the file).")
    recorded = exp.model  # no model given: the recorded one
    options.setdefault("dtype_default", exp.dtype_default and (model is None or isinstance(model, (str, os.PathLike))))
    if isinstance(model, (str, os.PathLike)):  # another model named: the experiment's hub, device, dtype and T stay
        model = replace(recorded, model=str(model), checksum=None)
    # the file's temperature travels in its ModelRef; a loaded model or a ModelRef passed in keeps its own
    result = run(
        options.pop("manifest", exp.manifest), out_dir=out, model=recorded if model is None else model, variants=exp.variant_objects(),
        audio_config=exp.audio_config(), diagnostics=exp.diagnostics_config(), frame_embeddings=exp.frame_embeddings, chunk_size=exp.chunk_size,
        engine=exp.engine, experiment=exp, **options,
    )
    if not isinstance(experiment, Experiment):  # a run folder's experiment.yaml: reproduction.json says if it repeats that run
        check_and_record(experiment, result.run_dir)
    return result


def demo_run(out_dir: str | os.PathLike, model: str | None = None, variants=None) -> Path:
    """Run the demo set (the model chosen as ``make demo`` chooses it) into ``out_dir``; return the run folder.

    A folder that already holds the demo run of this model is reused (the run
    resumes, nothing is recomputed); one that holds another model's run is
    kept, and the run goes beside it.

    Parameters
    ----------
    out_dir : path
        The run folder.
    model : str, optional
        ``"tiny"`` (the seeded random checkpoint), a checkpoint folder or hub id; ``None``: the best one found locally.
    variants : list of Variant, optional
        Preprocessing variants (default ``raw``).

    Returns
    -------
    Path
        The run folder (``out_dir``, or a dated folder beside it).

    Examples
    --------
    >>> run_dir = wb.demo_run("runs/demo", model="tiny")
    >>> sorted(p.name for p in run_dir.glob("*.yaml"))
    ['config.yaml', 'experiment.yaml']
    >>> wb.RunFolder.open(run_dir).model().model
    'tiny'
    """
    chosen, _ = choose_model(model)
    out = Path(out_dir)
    try:
        run(demo_manifest(), out_dir=out, model=chosen, variants=variants)
    except ConfigError as exc:
        if "other settings" not in str(exc):
            raise
        out = out.with_name(f"{out.name}_{datetime.now().strftime('%Y%m%d_%H%M%S')}")
        run(demo_manifest(), out_dir=out, model=chosen, variants=variants)
    return out
