"""Experiment runs: a dataset × preprocessing variants × one model.

:func:`run` is the driver: it reads the manifest, takes the run folder's lock, loads the
model, hands the pending (item, variant) pairs to the one engine (:mod:`workbench.engine.core`,
locally or on Ray actors through :mod:`workbench.engine.ray_executor`) and writes each chunk's rows
through :class:`~workbench.runs.folder.RunFolder`, which owns the layout and its integrity
(atomic parts, the lock, validated resumption, safe file names).

An interrupted run loses no finished row and a re-run resumes where it stopped.
Predictions are cached by content (audio sha256 + segment + audio settings + chain hash +
model checksum + dtype), so a re-run, or a run with one more variant, only computes what
is new.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

from workbench import interrupts
from workbench.audio.intake import AudioConfig
from workbench.engine.findings import DiagnosticsConfig
from workbench.engine.ray_executor import ActorLostError, import_ray, run_chunks
from workbench.engine.core import Engine, PredictionCache, Scored, WorkItem, default_cache_dir  # noqa: F401  (PredictionCache public here too)
from workbench.errors import ConfigError, WorkbenchError
from workbench.runs.experiment import EXPERIMENT_FILE, Experiment
from workbench.data.corpora import for_labels
from workbench.labels import LABEL_KEYS
from workbench.data.demoset import choose_model, demo_manifest
from workbench.data.manifest import Manifest, read_manifest
from workbench.model.network import RANDOM_WEIGHTS_BANNER
from workbench.model.ref import ModelRef
from workbench.model.precision import MEASURED, describe_choice, resolve_dtype, static_cpu_choice
from workbench.runs.folder import RunFolder, RunFolderError
from workbench.schema import failed_row, ok_row
from workbench.audio.variants import RAW, Variant, load_variants, variants_from  # noqa: F401  (public here too)

logger = logging.getLogger(__name__)


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

    def results(self):
        return RunFolder(self.run_dir).results()



def run(
    manifest: Manifest | str | os.PathLike,
    *,
    out_dir: str | os.PathLike,
    model: ModelRef | str | Any = None,
    variants: Sequence[Variant] | None = None,
    audio_config: AudioConfig | None = None,
    diagnostics: DiagnosticsConfig | None = None,
    frame_embeddings: bool = False,
    chunk_size: int = 64,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    progress: bool = False,
    hook: Callable[..., None] | None = None,
    limit: int | None = None,
    engine: str = "local",
    ray_options: Any = None,
    workers: int | None = None,
    experiment: Experiment | None = None,
    load_progress: Callable[[str], None] | None = None,
    temperature: float | None = None,
) -> RunResult:
    """Run every manifest item through every variant and the model; write ``out_dir``.

    ``model`` is a :class:`~workbench.model.ref.ModelRef` (hub, revision, device and dtype with it), a
    name (hub id, checkpoint folder, ``"tiny"``: loaded on ``"auto"`` in float32), ``None`` for the
    default model, or a loaded model.

    ``hook(step, artifact, *, completed, total)`` is called with ``"chunk"``
    after each chunk's rows are safely on disk.  ``limit`` stops after that
    many new rows (tests use it to simulate an interruption).  ``workers`` sets
    the number of decoding processes (``None``: the machine's cores for large
    runs, none for small ones).

    ``engine="ray"`` hands the chunks to a pool of Ray Data actors, each
    holding a model (:mod:`workbench.engine.ray_executor`, options in
    :class:`~workbench.engine.ray_executor.RayOptions`); the run folder, its parts,
    resumption and the results table are the same as with ``"local"``.

    The run folder receives the ``experiment.yaml`` that reproduces the run;
    ``experiment`` (see :func:`run_experiment`) adds what the run itself does not
    use (seed, reports, tracking) to it.  ``load_progress(line)`` hears what the
    model load is doing (the CLI prints it).  ``temperature`` divides the model's logits
    (``workbench calibrate`` fits one); a loaded model that already carries one keeps it when
    ``temperature`` is None.  It is recorded in config.yaml, experiment.yaml and summary.json.
    """
    t_start = time.perf_counter()
    if engine not in ("local", "ray"):
        raise ConfigError(f"unknown engine {engine!r}; expected 'local' or 'ray'.", source="engine", fix="pass --engine local or --engine ray.")
    if not isinstance(manifest, Manifest):
        manifest_path = Path(manifest)
        manifest = read_manifest(manifest_path)
        manifest_ref = str(manifest_path.resolve())
    else:
        manifest_ref = manifest.source or manifest.name or "<in-memory>"
    variants = list(variants or [RAW])
    audio_config = audio_config or AudioConfig()
    diagnostics = diagnostics or DiagnosticsConfig()
    folder = RunFolder(out_dir)
    if folder.path.exists() and not folder.path.is_dir():
        raise RunFolderError("exists and is not a folder.", source=str(folder.path), fix="choose another --out folder.")
    requested = ModelRef.coerce(model)
    if requested.is_loaded:  # a model given loaded: used as it is
        requested = None
    precision = {"requested": None, "chosen": None, "reason": "the model was given loaded"}
    if requested is not None:
        # chosen once, here; recorded in config.yaml and summary.json, never changed behind the user's back
        chosen, reason = resolve_dtype(requested.dtype, requested.device)
        if chosen == MEASURED and engine == "ray":  # the actors load the model: a rule, not a measurement, here
            chosen, reason = static_cpu_choice()
        if engine == "ray" and chosen.startswith("onnx-"):
            raise ConfigError(f"--dtype {chosen} runs ONNX Runtime in this process; the Ray engine's actors run PyTorch.",
                              source="--engine ray", fix=f"use --engine local with --dtype {chosen}, or another --dtype with Ray.")
        precision = {"requested": requested.dtype, "chosen": chosen, "reason": reason}
        if chosen != MEASURED:  # measured: ModelRef.load measures (once per CPU and checkpoint), says and records it
            if load_progress is not None and requested.dtype != chosen:
                load_progress(describe_choice(requested.dtype, chosen, reason))
            requested = replace(requested, dtype=chosen)
    if engine == "ray":
        import_ray()  # fail before any work when Ray is missing

    with folder.lock():  # before the model loads: a second run on this folder is refused at once
        if requested is None:
            net = model
        elif engine == "ray":
            if temperature is not None or requested.temperature is not None:
                raise ConfigError("a temperature cannot be applied by the Ray engine yet (its actors load their own model).",
                                  source="temperature", fix="run with --engine local, or without --temperature.")
            # the actors load the model; the driver only checks the checkpoint and hashes its files (no network built)
            net = requested.describe(progress=load_progress)
        else:
            net = requested.load(progress=load_progress)
            if requested.dtype == "auto":  # the measured choice, with its agreement with float32
                precision = dict(net.precision)
                requested = replace(requested, dtype=net.info.dtype)
        # what the run records means the same on another machine: `tiny` stays `tiny`, with the weights' checksum
        if temperature is not None and engine != "ray":  # logits / T in every score (workbench calibrate fits T)
            net = net.with_temperature(temperature)
        ref = (requested or ModelRef()).pinned(net)
        if ref.temperature is not None and engine == "ray":
            raise ConfigError("a temperature cannot be applied by the Ray engine yet (its actors load their own model).",
                              source="temperature", fix="run with --engine local, or without --temperature.")
        if engine == "ray" and requested is not None:
            ref = replace(ref, device=requested.device, dtype=requested.dtype)
        model_ref, hub, device, dtype = ref.model, ref.hub, ref.device, ref.dtype
        # the rows' truth in the model's own labels: a fine-tuned head's classes (EmoDB's boredom …) or the nine;
        # the manifest itself (its copy, its hash) stays as the user gave it
        scored_items = for_labels(manifest, net.info.labels)
        manifest_sha = hashlib.sha256(json.dumps([it.to_dict() for it in manifest], sort_keys=True, default=str).encode()).hexdigest()
        # one Experiment describes the run: config.yaml is its record as resolved here, experiment.yaml re-runs it
        extras = {k: getattr(experiment, k) for k in ("seed", "reports", "tracking")} if experiment else {}
        exp = Experiment(
            manifest=manifest_ref, manifest_sha256=manifest_sha, model=model_ref, model_checksum=ref.checksum, hub=hub,
            revision=net.info.revision, device=device, dtype=dtype, variants=[v.to_dict() for v in variants],
            audio=audio_config.to_dict(), diagnostics=diagnostics.to_dict(), frame_embeddings=frame_embeddings,
            chunk_size=chunk_size, engine=engine, temperature=ref.temperature, **extras)
        config = exp.run_record(manifest=manifest_ref, device=net.info.device if engine == "local" else f"ray:{device}",
                                dtype=net.info.dtype if engine == "local" else dtype,
                                manifest_root=str(Path(manifest.root).resolve()), cache_dir=str(cache_dir) if cache_dir else None)
        resuming = folder.prepare(config, Experiment.IDENTITY)
        if not resuming or not (folder.path / EXPERIMENT_FILE).is_file():  # a folder of an older version gets one too
            source = manifest_ref if Path(manifest_ref).is_file() else str(folder.write_manifest_copy(manifest))
            folder.write_experiment(replace(exp, manifest=source))
        cache = PredictionCache(cache_dir or default_cache_dir()) if use_cache else None
        folder.expect_rows({(it.id, v.name) for it in manifest for v in variants})  # parts of other runs are rejected
        retried = folder.retry_failed(ActorLostError.code)  # rows whose Ray actor was lost at every attempt
        done = folder.finished_rows()
        n_resumed = len(done)
        if n_resumed:
            folder.log(f"resuming: {n_resumed} rows already finished"
                       + (f"; {retried} rows whose Ray actor was lost are scored again" if retried else ""))
        where = f"{net.info.device} ({net.info.dtype})" if engine == "local" else f"a Ray cluster (device {device}, {dtype})"
        folder.log(f"run of {len(manifest)} items × {len(variants)} variants with {net.info.id} on {where}")
        if net.random_weights:
            folder.log(f"WARNING: {RANDOM_WEIGHTS_BANNER}")

        work = []
        for it in scored_items:
            pending = tuple(v for v in variants if (it.id, v.name) not in done)
            if pending:
                work.append(WorkItem(it, manifest.resolve(it).absolute(), pending))
        total_rows = len(manifest) * len(variants)
        bar = None
        if progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=total_rows, initial=n_resumed, unit="row", desc="run", smoothing=0.05, dynamic_ncols=True)
        n_new = n_failed = n_cached = 0
        engine_info: dict = {}
        eng = None
        if engine == "ray":
            chunks = [work[s : s + chunk_size] for s in range(0, len(work), chunk_size)]
            results = run_chunks(
                chunks, model=ref, audio_config=audio_config, diagnostics=diagnostics, cache_dir=str(cache.root) if cache else None,
                frame_embeddings=frame_embeddings, options=ray_options, info=engine_info, expect_checksum=net.info.checksum,
            )
        else:
            eng = Engine(net, audio_config=audio_config, diagnostics=diagnostics, cache=cache, frame_embeddings=frame_embeddings,
                         workers=workers)
            results = eng.score(work, chunk_size=chunk_size, progress=bar.update if bar is not None else None)
        try:
            for scored in results:
                interrupts.check()  # a Ctrl-C swallowed in a worker's third-party code stops the run here
                rows, embs, frame_embs = rows_from(scored, frame_embeddings, net.info.labels)
                folder.write_part(rows, embs, frame_embs)
                n_new += len(rows)
                n_failed += sum(1 for s in scored if not s.ok)
                n_cached += sum(1 for s in scored if s.cached)
                for s in scored:
                    done.add((s.item.id, s.variant.name))
                    if not s.ok:
                        folder.log(f"FAILED {s.item.id} [{s.variant.name}]: {s.error['text']}")
                if bar is not None and engine == "ray":
                    bar.update(len(rows))
                if hook is not None:
                    hook("chunk", rows, completed=len(done), total=total_rows)
                if limit is not None and n_new >= limit:
                    folder.log(f"stopped after {n_new} new rows (limit)")
                    return RunResult(folder.path, len(done), n_failed, n_cached, n_resumed, time.perf_counter() - t_start, {})
        except WorkbenchError as exc:
            # e.g. a Ray cluster that lost every actor: the parts written so far stay, and log.txt says why the run stopped
            folder.log(f"stopped with {len(done)} rows finished (the same command resumes from them): {exc}")
            raise
        finally:
            if bar is not None:
                bar.close()
            if hasattr(results, "close"):
                results.close()  # stops a pool of decoders or a Ray cluster started here
        if engine_info:
            folder.log(f"ray engine: {engine_info.get('actors')} actor(s) on {', '.join(engine_info.get('workers', []))}")
            if engine_info.get("resent_chunks"):
                folder.log(f"ray engine: {engine_info['resent_chunks']} chunk(s) sent again after their actor was lost")
        timing = {k: round(v, 3) for k, v in eng.stats.items()} if eng is not None else {}
        seconds = time.perf_counter() - t_start
        summary = folder.finalize(
            item_order={it.id: i for i, it in enumerate(manifest)},
            variant_order={v.name: i for i, v in enumerate(variants)},
            summary=lambda results: {
                **_summary(results, variants, net, seconds, n_new, n_cached, n_resumed, engine, engine_info, timing),
                "precision": {**precision, "chosen": precision["chosen"] or net.info.dtype},
            },
        )
        folder.log(f"done: {summary['rows']} rows ({summary['failed']} failed), {n_cached} from cache, {summary['seconds']:.1f} s")
    return RunResult(folder.path, summary["rows"], summary["failed"], n_cached, n_resumed, summary["seconds"], summary)


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
    ok = results[results["status"] == "ok"]
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
        "engine": {"name": engine, **{k: v for k, v in (engine_info or {}).items() if k != "model"}, **({"timing_s": timing} if timing else {})},
        "variants": {},
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    for v in variants:
        sub = labelled[labelled["variant"] == v.name]
        allv = results[results["variant"] == v.name]
        summary["variants"][v.name] = {
            "rows": int(len(allv)),
            "failed": int((allv["status"] == "failed").sum()),
            "labelled": int(len(sub)),
            "excluded_no_counterpart": int(((allv["status"] == "ok") & (allv["emotion"].astype(str) == "")).sum()),
            "accuracy": float(sub["correct"].astype(bool).mean()) if len(sub) else None,
        }
    return summary


def run_experiment(experiment: Experiment | str | os.PathLike, *, out_dir: str | os.PathLike | None = None, model: Any = None,
                   **options: Any) -> RunResult:
    """Run an experiment file (or :class:`Experiment`); ``out_dir`` overrides its ``out``, ``model`` (a
    :class:`~workbench.model.ref.ModelRef`, a name or a loaded model) its model.

    ``options`` go to :func:`run` (``progress``, ``hook``, ``workers``, ``cache_dir``, ``ray_options`` …).
    """
    exp = experiment if isinstance(experiment, Experiment) else Experiment.load(experiment)
    out = out_dir or exp.out
    if not out:
        raise ConfigError("the experiment names no output folder.", source=exp.manifest, fix="pass --out FOLDER (or add `out:` to the file).")
    recorded = ModelRef(model=exp.model, hub=exp.hub, revision=exp.revision, device=exp.device, dtype=exp.dtype,
                        checksum=exp.model_checksum, temperature=exp.temperature)
    if model is None:
        model = recorded
    elif isinstance(model, (str, os.PathLike)):  # another model named: the experiment's hub, device, dtype and T stay
        model = replace(recorded, model=str(model), checksum=None)
    # the file's temperature travels in its ModelRef; a loaded model or a ModelRef passed in keeps its own
    return run(
        exp.manifest, out_dir=out, model=model, variants=exp.variant_objects(), audio_config=exp.audio_config(),
        diagnostics=exp.diagnostics_config(), frame_embeddings=exp.frame_embeddings, chunk_size=exp.chunk_size,
        engine=exp.engine, experiment=exp, **options,
    )


def demo_run(out_dir: str | os.PathLike, model: str | None = None, variants=None) -> Path:
    """Run the demo set (the model chosen as ``make demo`` chooses it) into ``out_dir``; return the run folder.

    A folder that already holds the demo run of this model is reused (the run
    resumes, nothing is recomputed); one that holds another model's run is
    kept, and the run goes beside it.
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
