"""Experiment runs: a dataset × preprocessing variants × one model.

:func:`run` writes a run folder::

    RUN_DIR/
        config.yaml          everything needed to re-run (manifest hash, model, variants, settings)
        parts/               results as they are produced, one parquet per chunk (atomic)
        results.parquet      one row per item × variant (scores, label, confidence, margin,
                             entropy, findings, timings, error when it failed)
        embeddings.npy       (rows, D) float32, row i ↔ results row i (NaN for failed rows)
        frame_embeddings/    <variant>/<id>.npy, only when asked for
        log.txt              progress and failures
        summary.json         counts, cache hits, timings, headline metrics

Every chunk's rows are written (``parts/part-NNNNN.parquet``, renamed into
place) before the next chunk starts, so an interrupted run loses no finished
row and a re-run resumes where it stopped.  Predictions are cached by content
(audio sha256 + segment + audio settings + chain hash + model checksum +
dtype), so a re-run, or a run with one more variant, only computes what is new.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from . import __version__
from .audio import Audio, AudioConfig
from .diagnostics import DiagnosticsConfig, audio_facts, findings_from, prediction_facts
from .errors import ConfigError, WorkbenchError
from .labels import LABEL_KEYS
from .manifest import Item, Manifest, read_manifest
from .serialize import json_default

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------
# variants
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Variant:
    """A named preprocessing chain: ``steps`` is a list of ``{"name": …, **kwargs}``."""

    name: str
    steps: tuple = ()

    def chain(self) -> list[dict]:
        return [dict(s) for s in self.steps]

    def chain_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.chain(), sort_keys=True).encode()).hexdigest()[:16]

    def apply(self, audio: Audio) -> Audio:
        if not self.steps:
            return audio
        from .preprocess import apply_chain  # arrives with the preprocessing issue

        return apply_chain(audio, self.chain())

    def to_dict(self) -> dict:
        return {"name": self.name, "steps": self.chain(), "chain_hash": self.chain_hash()}


RAW = Variant("raw")


def load_variants(path: str | os.PathLike | None) -> list[Variant]:
    """Read a variants YAML file: ``{variants: {name: [steps…]}}`` or ``[{name, steps}]``."""
    if path is None:
        return [RAW]
    import yaml

    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    entries = data.get("variants", data) if isinstance(data, dict) else data
    if isinstance(entries, dict):
        entries = [{"name": k, "steps": v or []} for k, v in entries.items()]
    if not isinstance(entries, list) or not entries:
        raise ConfigError("no variants found.", source=str(path), fix="write `variants: {raw: [], trimmed: [{name: trim, top_db: 30}]}`.")
    out = []
    for e in entries:
        if not isinstance(e, dict) or "name" not in e:
            raise ConfigError(f"variant entry {e!r} has no name.", source=str(path), fix="give each variant a name and a list of steps.")
        steps = tuple(_freeze(s) for s in (e.get("steps") or []))
        out.append(Variant(str(e["name"]), steps))
    names = [v.name for v in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"variant names repeat: {names}.", source=str(path), fix="give each variant its own name.")
    return out


class _FrozenStep(dict):
    def __hash__(self):  # variants are frozen dataclasses; their steps must hash
        return hash(json.dumps(self, sort_keys=True))


def _freeze(step: Any) -> _FrozenStep:
    if not isinstance(step, dict) or "name" not in step:
        raise ConfigError(f"step {step!r} must be a mapping with a 'name'.", fix="write steps as {name: trim, top_db: 30}.")
    return _FrozenStep(step)


# ---------------------------------------------------------------------------
# the prediction cache
# ---------------------------------------------------------------------------
class PredictionCache:
    """Content-addressed store of predictions: ``<root>/<key[:2]>/<key>.npz``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    @staticmethod
    def key(*, source_sha256: str, start: float | None, duration: float | None, audio_config: dict, chain_hash: str, model_checksum: str, dtype: str) -> str:
        blob = json.dumps([source_sha256, start, duration, audio_config, chain_hash, model_checksum, dtype], sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def get(self, key: str) -> dict | None:
        p = self._path(key)
        if not p.is_file():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception:  # a damaged entry is recomputed
            return None

    def put(self, key: str, pred: Any, audio_info: dict | None = None) -> None:
        """Store a prediction; ``audio_info`` (the processed audio's facts and
        chain) lets a later run build the whole row without decoding."""
        p = self._path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f"{p.stem}.{os.getpid()}.tmp.npz")
        arrays = {"logits": pred.logits, "n_frames": np.array(pred.n_frames), "duration": np.array(pred.duration)}
        if pred.embedding is not None:
            arrays["embedding"] = pred.embedding
        if pred.frame_logits is not None:
            arrays["frame_logits"] = pred.frame_logits
        if pred.frame_embeddings is not None:
            arrays["frame_embeddings"] = pred.frame_embeddings
        if audio_info is not None:
            arrays["audio_info"] = np.array(json.dumps(audio_info, default=json_default))
        np.savez(tmp, **arrays)
        os.replace(tmp, p)

    @staticmethod
    def to_prediction(entry: dict, item_id: str, random_weights: bool):
        from .model import Prediction, _softmax

        lg = entry["logits"]
        return Prediction(
            id=item_id, scores=_softmax(lg), logits=lg, embedding=entry.get("embedding"),
            frame_logits=entry.get("frame_logits"), frame_embeddings=entry.get("frame_embeddings"),
            n_frames=int(entry["n_frames"]), duration=float(entry["duration"]), random_weights=random_weights,
        )


def default_cache_dir() -> Path:
    from .checkpoints import cache_dir

    return cache_dir() / "predictions"


# ---------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------
@dataclass
class RunConfig:
    manifest: str
    manifest_sha256: str
    model: str | None = None
    hub: str = "ms"
    revision: str | None = None
    device: str = "auto"
    dtype: str = "float32"
    variants: list[dict] = field(default_factory=lambda: [RAW.to_dict()])
    audio: dict = field(default_factory=lambda: AudioConfig().to_dict())
    diagnostics: dict = field(default_factory=lambda: DiagnosticsConfig().to_dict())
    frame_embeddings: bool = False
    chunk_size: int = 64
    cache_dir: str | None = None
    workbench_version: str = __version__
    manifest_root: str | None = None  # relative item paths start here

    def to_dict(self) -> dict:
        return asdict(self)

    def identity(self) -> dict:
        """What must match for a run folder to be resumed."""
        d = self.to_dict()
        return {k: d[k] for k in ("manifest_sha256", "model", "hub", "revision", "dtype", "variants", "audio", "frame_embeddings")}


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
        import pandas as pd

        return pd.read_parquet(self.run_dir / "results.parquet")


def item_path(run_dir: str | os.PathLike, path: str) -> Path:
    """An item's audio file as a usable path: manifest paths may be relative to the manifest's folder."""
    p = Path(path)
    if p.is_absolute():
        return p
    import yaml

    cfg_path = Path(run_dir) / "config.yaml"
    cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) if cfg_path.is_file() else {}
    root = cfg.get("manifest_root") or (str(Path(cfg["manifest"]).parent) if cfg.get("manifest") else ".")
    return Path(root) / p


def file_sha256_cached(path: Path, memo: dict) -> str:
    from .audio import file_sha256

    key = (str(path), path.stat().st_mtime_ns, path.stat().st_size)
    if key not in memo:
        memo[key] = file_sha256(path)
    return memo[key]


def run(
    manifest: Manifest | str | os.PathLike,
    *,
    out_dir: str | os.PathLike,
    model: Any = None,
    hub: str = "ms",
    revision: str | None = None,
    device: str = "auto",
    dtype: str = "float32",
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
) -> RunResult:
    """Run every manifest item through every variant and the model; write ``out_dir``.

    ``hook(step, artifact, *, completed, total)`` is called with ``"chunk"``
    after each chunk's rows are safely on disk.  ``limit`` stops after that
    many new rows (tests use it to simulate an interruption).

    ``engine="ray"`` hands the chunks to a pool of Ray Data actors, each
    holding a model (:mod:`workbench.distributed`, options in
    :class:`~workbench.distributed.RayOptions`); the run folder, its parts,
    resumption and the results table are the same as with ``"local"``.
    """
    from .model import Emotion2vecModel, load_model

    t_start = time.perf_counter()
    if not isinstance(manifest, Manifest):
        manifest_path = Path(manifest)
        manifest = read_manifest(manifest_path)
        manifest_ref = str(manifest_path.resolve())
    else:
        manifest_ref = manifest.source or manifest.name or "<in-memory>"
    variants = list(variants or [RAW])
    audio_config = audio_config or AudioConfig()
    diagnostics = diagnostics or DiagnosticsConfig()
    out = Path(out_dir)
    parts = out / "parts"

    if engine not in ("local", "ray"):
        raise ConfigError(f"unknown engine {engine!r}; expected 'local' or 'ray'.", source="engine", fix="pass --engine local or --engine ray.")
    load_device, load_dtype = device, dtype
    if engine == "ray":
        # the driver holds a CPU copy only to check the checkpoint and record what it is; the actors load their own
        from .distributed import import_ray

        import_ray()  # fail before any work when Ray is missing
        load_device, load_dtype = "cpu", "float32"
    net = model if isinstance(model, Emotion2vecModel) else load_model(model, hub=hub, revision=revision, device=load_device, dtype=load_dtype)
    model_ref = net.info.path if net.info.kind != "hub" else net.info.id
    manifest_sha = hashlib.sha256(json.dumps([it.to_dict() for it in manifest], sort_keys=True, default=str).encode()).hexdigest()
    config = RunConfig(
        manifest=manifest_ref, manifest_sha256=manifest_sha, model=model_ref,
        hub=hub, revision=net.info.revision, device=net.info.device if engine == "local" else f"ray:{device}",
        dtype=net.info.dtype if engine == "local" else dtype,
        variants=[v.to_dict() for v in variants], audio=audio_config.to_dict(), diagnostics=diagnostics.to_dict(),
        frame_embeddings=frame_embeddings, chunk_size=chunk_size,
        cache_dir=str(cache_dir) if cache_dir else None, manifest_root=str(Path(manifest.root).resolve()),
    )
    _prepare_run_dir(out, config)
    cache = PredictionCache(cache_dir or default_cache_dir()) if use_cache else None
    log = _RunLog(out / "log.txt")
    done = _finished_rows(parts)
    n_resumed = len(done)
    if n_resumed:
        log.write(f"resuming: {n_resumed} rows already finished")
    where = f"{net.info.device} ({net.info.dtype})" if engine == "local" else f"a Ray cluster (device {device}, {dtype})"
    log.write(f"run of {len(manifest)} items × {len(variants)} variants with {net.info.id} on {where}")
    if net.random_weights:
        from .model import RANDOM_WEIGHTS_BANNER

        log.write(f"WARNING: {RANDOM_WEIGHTS_BANNER}")

    todo = [it for it in manifest if any((it.id, v.name) not in done for v in variants)]
    total_rows = len(manifest) * len(variants)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_rows, initial=n_resumed, unit="row", desc="run", smoothing=0.1)
    n_new = n_failed = n_cached = 0
    sha_memo: dict = {}
    part_no = len(list(parts.glob("part-*.parquet")))
    chunks = [todo[start : start + chunk_size] for start in range(0, len(todo), chunk_size)]
    engine_info: dict = {}
    if engine == "ray":
        from .distributed import run_chunks

        results = run_chunks(
            chunks, done, model_ref=model_ref, hub=hub, revision=net.info.revision, device=device, dtype=dtype, variants=variants,
            audio_config=audio_config, diagnostics=diagnostics, cache_dir=str(cache.root) if cache else None,
            frame_embeddings=frame_embeddings, root=str(Path(manifest.root).resolve()), options=ray_options, info=engine_info,
        )
    else:
        results = (_run_chunk(chunk, manifest, variants, done, net, audio_config, diagnostics, cache, frame_embeddings, sha_memo)
                   for chunk in chunks)
    for rows, embs, frame_embs, stats in results:
        part_no += 1
        _write_part(parts, part_no, rows, embs)
        if frame_embeddings:
            for (item_id, variant), arr in frame_embs.items():
                d = out / "frame_embeddings" / variant
                d.mkdir(parents=True, exist_ok=True)
                np.save(d / f"{item_id}.npy", arr)
        n_new += len(rows)
        n_failed += stats["failed"]
        n_cached += stats["cached"]
        for r in rows:
            done.add((r["id"], r["variant"]))
            if r["status"] == "failed":
                log.write(f"FAILED {r['id']} [{r['variant']}]: {r['error']}")
        if bar is not None:
            bar.update(len(rows))
        if hook is not None:
            hook("chunk", rows, completed=len(done), total=total_rows)
        if limit is not None and n_new >= limit:
            log.write(f"stopped after {n_new} new rows (limit)")
            if bar is not None:
                bar.close()
            if hasattr(results, "close"):
                results.close()  # a Ray engine shuts its cluster down
            return RunResult(out, len(done), n_failed, n_cached, n_resumed, time.perf_counter() - t_start, {})
    if bar is not None:
        bar.close()
    if engine_info:
        log.write(f"ray engine: {engine_info.get('actors')} actor(s) on {', '.join(engine_info.get('workers', []))}")
    summary = _finalize(out, manifest, variants, net, time.perf_counter() - t_start, n_new, n_cached, n_resumed,
                        engine=engine, engine_info=engine_info)
    log.write(f"done: {summary['rows']} rows ({summary['failed']} failed), {n_cached} from cache, {summary['seconds']:.1f} s")
    return RunResult(out, summary["rows"], summary["failed"], n_cached, n_resumed, summary["seconds"], summary)


def _prepare_run_dir(out: Path, config: RunConfig) -> None:
    import yaml

    cfg_path = out / "config.yaml"
    if cfg_path.is_file():
        old = yaml.safe_load(cfg_path.read_text(encoding="utf-8")) or {}
        old_identity = {k: old.get(k) for k in config.identity()}
        if old_identity != config.identity():
            diff = [k for k in config.identity() if old_identity.get(k) != config.identity()[k]]
            raise ConfigError(
                f"run folder holds a run with other settings ({', '.join(diff)} differ); it cannot be resumed with these.",
                source=str(out),
                fix="choose a new --out folder, or re-run with the settings in its config.yaml.",
            )
        return
    out.mkdir(parents=True, exist_ok=True)
    (out / "parts").mkdir(exist_ok=True)
    tmp = cfg_path.with_suffix(".yaml.tmp")
    tmp.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False, allow_unicode=True), encoding="utf-8")
    os.replace(tmp, cfg_path)


class _RunLog:
    def __init__(self, path: Path):
        self.path = path

    def write(self, line: str) -> None:
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(f"{stamp} {line}\n")
        logger.info(line)


def _finished_rows(parts: Path) -> set[tuple[str, str]]:
    import pandas as pd

    done: set[tuple[str, str]] = set()
    for p in sorted(parts.glob("part-*.parquet")):
        df = pd.read_parquet(p, columns=["id", "variant"])
        done.update(zip(df["id"].astype(str), df["variant"].astype(str)))
    return done


def _segment(audio: Audio, item: Item) -> Audio:
    """Cut ``start``/``duration`` (seconds) out of a decoded file, and log it."""
    if item.start is None and item.duration is None:
        return audio
    from .processing import StepRecord

    a = int(round((item.start or 0.0) * audio.sr))
    b = len(audio.samples) if item.duration is None else min(len(audio.samples), a + int(round(item.duration * audio.sr)))
    if a >= len(audio.samples):
        raise WorkbenchError(
            f"segment starts at {item.start:.2f} s but the file is {audio.duration:.2f} s long.",
            source=item.id, fix="check start/duration in the manifest.",
        )
    rec = StepRecord(name="segment", params={"start": item.start, "duration": item.duration}, sr_in=audio.sr, sr_out=audio.sr,
                     duration_in=audio.duration, duration_out=(b - a) / audio.sr)
    return audio.with_samples(audio.samples[a:b], record=rec)


def prepare_variant(decoded: Audio, variant: Variant, audio_config: AudioConfig) -> Audio:
    """Chain at the source rate, then to the model's rate with the intake's resampler."""
    from .audio import resample

    out = variant.apply(decoded)
    if out.sr != audio_config.target_sr:
        out = resample(out, audio_config.target_sr, method=audio_config.resampler, quality=audio_config.soxr_quality)
    return out


def _run_chunk(chunk, manifest, variants, done, net, audio_config, diag_config, cache, want_frame_emb, sha_memo):
    from .audio import decode, to_mono

    rows: list[dict] = []
    embs: list[np.ndarray | None] = []
    frame_embs: dict = {}
    stats = {"failed": 0, "cached": 0}
    jobs = []  # (item, variant, audio, key, t_decode)
    for item in chunk:
        t0 = time.perf_counter()
        path = manifest.resolve(item)
        todo = [v for v in variants if (item.id, v.name) not in done]
        if not todo:
            continue
        if cache and _rows_from_cache(item, todo, path, cache, net, audio_config, diag_config, want_frame_emb, sha_memo, rows, embs, frame_embs):
            stats["cached"] += len(todo)
            continue
        try:
            # decoded once, at the source rate; every variant starts from here
            decoded = to_mono(decode(path, config=audio_config, id=item.id), method=audio_config.mixdown)
            decoded = _segment(decoded, item)
            sha = decoded.source.sha256 or file_sha256_cached(path, sha_memo)
        except WorkbenchError as exc:
            for v in variants:
                if (item.id, v.name) not in done:
                    rows.append(_failed_row(item, v, exc))
                    embs.append(None)
                    stats["failed"] += 1
            continue
        t_decode = (time.perf_counter() - t0) * 1000
        for v in variants:
            if (item.id, v.name) in done:
                continue
            try:
                processed = prepare_variant(decoded, v, audio_config)
                if len(processed.samples) < 400:
                    raise WorkbenchError(f"is {processed.duration * 1000:.0f} ms long after '{v.name}'; the model needs at least 25 ms.", source=item.id, fix="check the variant's steps.")
            except WorkbenchError as exc:
                rows.append(_failed_row(item, v, exc))
                embs.append(None)
                stats["failed"] += 1
                continue
            key = _cache_key(sha, item, v, audio_config, net)
            jobs.append((item, v, processed, key, t_decode))
    # cache first, then one batched pass over what is left (across variants)
    preds: dict[int, Any] = {}
    hits: set[int] = set()
    missing = []
    for j, (item, v, processed, key, _) in enumerate(jobs):
        entry = cache.get(key) if cache else None
        if entry is not None and (not want_frame_emb or "frame_embeddings" in entry):
            preds[j] = PredictionCache.to_prediction(entry, item.id, net.random_weights)
            hits.add(j)
        else:
            missing.append(j)
    infer_ms_each = 0.0
    if missing:
        t0 = time.perf_counter()
        try:
            out = net.predict([jobs[j][2] for j in missing], granularity="frame", embeddings=True)
            for j, p in zip(missing, out):
                preds[j] = p
        except Exception as exc:  # retry one at a time: one bad clip must not sink the chunk
            logger.warning("batched inference failed (%s); retrying one clip at a time", exc)
            for j in missing:
                try:
                    preds[j] = net.predict([jobs[j][2]], granularity="frame", embeddings=True)[0]
                except Exception as exc2:
                    preds[j] = exc2
        infer_ms_each = (time.perf_counter() - t0) * 1000 / len(missing)
    stats["cached"] += len(hits)
    for j, (item, v, processed, key, t_decode) in enumerate(jobs):
        p = preds[j]
        if isinstance(p, Exception):
            rows.append(_failed_row(item, v, p))
            embs.append(None)
            stats["failed"] += 1
            continue
        a_facts = audio_facts(processed)
        info = _audio_info(processed, a_facts)
        if cache and j not in hits:
            cache.put(key, p if want_frame_emb else _without_frame_embeddings(p), info)
        facts = {**a_facts, **prediction_facts(p)}
        found = findings_from(facts, diag_config)
        rows.append(_row(item, v, info, p, facts, found, key, j in hits, t_decode, 0.0 if j in hits else infer_ms_each))
        embs.append(p.embedding)
        if want_frame_emb and p.frame_embeddings is not None:
            frame_embs[(item.id, v.name)] = p.frame_embeddings
    return rows, embs, frame_embs, stats


def _cache_key(sha: str, item: Item, v: Variant, audio_config: AudioConfig, net: Any) -> str:
    return PredictionCache.key(
        source_sha256=sha, start=item.start, duration=item.duration, audio_config=audio_config.to_dict(),
        chain_hash=v.chain_hash(), model_checksum=net.info.checksum or net.info.id, dtype=net.info.dtype,
    )


def _audio_info(audio: Audio, a_facts: dict) -> dict:
    """What a results row needs from the processed audio (stored in the cache with the prediction)."""
    return {
        "audio_seconds": audio.duration, "source_sample_rate": audio.source.sample_rate, "source_sha256": audio.source.sha256,
        "chain": [s.to_dict() for s in audio.log.audio_steps], "facts": a_facts,
    }


def _rows_from_cache(item, todo, path, cache, net, audio_config, diag_config, want_frame_emb, sha_memo, rows, embs, frame_embs) -> bool:
    """Build every pending row of ``item`` from the cache without decoding; ``False`` (and nothing added) unless all hit."""
    try:
        if not path.is_file():
            return False
        t0 = time.perf_counter()
        sha = file_sha256_cached(path, sha_memo)
    except OSError:
        return False
    found_entries = []
    for v in todo:
        key = _cache_key(sha, item, v, audio_config, net)
        entry = cache.get(key)
        if entry is None or "audio_info" not in entry or (want_frame_emb and "frame_embeddings" not in entry):
            return False
        found_entries.append((v, key, entry))
    t_hash = (time.perf_counter() - t0) * 1000
    for v, key, entry in found_entries:
        info = json.loads(str(entry["audio_info"]))
        p = PredictionCache.to_prediction(entry, item.id, net.random_weights)
        facts = {**info["facts"], **prediction_facts(p)}
        rows.append(_row(item, v, info, p, facts, findings_from(facts, diag_config), key, True, t_hash, 0.0))
        embs.append(p.embedding)
        if want_frame_emb and p.frame_embeddings is not None:
            frame_embs[(item.id, v.name)] = p.frame_embeddings
    return True


def _without_frame_embeddings(p):
    from dataclasses import replace

    return replace(p, frame_embeddings=None)


def _base_row(item: Item, v: Variant) -> dict:
    return {
        "id": item.id, "variant": v.name, "path": item.path, "label": item.label, "emotion": item.emotion,
        "text": item.text, "speaker": item.speaker, "gender": item.gender, "split": item.split,
        "start": item.start, "duration": item.duration,
        "meta": json.dumps(item.meta, ensure_ascii=False, sort_keys=True, default=str),
        "chain_hash": v.chain_hash(),
    }


def _row(item, v, info, p, facts, found, key, cached, t_decode, t_infer) -> dict:
    row = _base_row(item, v)
    row.update({
        "status": "ok", "error": "", "error_code": "",
        "pred": p.label, "confidence": p.confidence, "margin": p.margin, "entropy": p.entropy,
        "correct": (p.label == item.emotion) if item.emotion else None,
        **{f"score_{k}": float(s) for k, s in zip(LABEL_KEYS, p.scores)},
        "n_frames": p.n_frames, "audio_seconds": info["audio_seconds"],
        "source_sample_rate": info["source_sample_rate"], "source_sha256": info["source_sha256"],
        "unknown_frame_fraction": facts.get("unknown_frame_fraction"), "frame_top_label": facts.get("frame_top_label"),
        "snr_db": facts.get("snr_db"), "silence_fraction": facts.get("silence_fraction"), "cut_start_s": facts.get("cut_start_s"),
        "findings": json.dumps([f.to_dict() for f in found], ensure_ascii=False),
        "finding_codes": ",".join(f.code for f in found),
        "chain": json.dumps(info["chain"], ensure_ascii=False, default=str),
        "cache_key": key, "cache_hit": cached, "decode_ms": t_decode, "infer_ms": t_infer,
    })
    return row


def _failed_row(item: Item, v: Variant, exc: BaseException) -> dict:
    row = _base_row(item, v)
    info = exc.to_dict() if isinstance(exc, WorkbenchError) else {"code": "inference", "text": f"{type(exc).__name__}: {exc}"}
    row.update({
        "status": "failed", "error": info["text"], "error_code": info["code"],
        "pred": None, "confidence": None, "margin": None, "entropy": None, "correct": None,
        **{f"score_{k}": None for k in LABEL_KEYS},
        "n_frames": None, "audio_seconds": None, "source_sample_rate": None, "source_sha256": None,
        "unknown_frame_fraction": None, "frame_top_label": None, "snr_db": None, "silence_fraction": None, "cut_start_s": None,
        "findings": "[]", "finding_codes": "", "chain": "[]", "cache_key": "", "cache_hit": False, "decode_ms": None, "infer_ms": None,
    })
    return row


def _write_part(parts: Path, n: int, rows: list[dict], embs: list) -> None:
    import pandas as pd

    if not rows:
        return
    dim = next((e.shape[0] for e in embs if e is not None), 0)
    mat = np.full((len(rows), dim), np.nan, dtype=np.float32)
    for i, e in enumerate(embs):
        if e is not None:
            mat[i] = e
    base = parts / f"part-{n:05d}"
    np.save(f"{base}.emb.tmp.npy", mat)
    os.replace(f"{base}.emb.tmp.npy", f"{base}.emb.npy")
    tmp = f"{base}.tmp.parquet"
    pd.DataFrame(rows).to_parquet(tmp, index=False)
    os.replace(tmp, f"{base}.parquet")  # the parquet lands last: its presence means the part is whole


def _finalize(out: Path, manifest, variants, net, seconds, n_new, n_cached, n_resumed, engine="local", engine_info=None) -> dict:
    import pandas as pd

    frames, embs = [], []
    for p in sorted((out / "parts").glob("part-*.parquet")):
        df = pd.read_parquet(p)
        emb_path = Path(str(p).replace(".parquet", ".emb.npy"))
        e = np.load(emb_path) if emb_path.is_file() else np.full((len(df), 0), np.nan, np.float32)
        frames.append(df)
        embs.append(e)
    results = pd.concat(frames, ignore_index=True)
    dim = max((e.shape[1] for e in embs), default=0)
    emb = np.concatenate([e if e.shape[1] == dim else np.full((len(e), dim), np.nan, np.float32) for e in embs]) if embs else np.zeros((0, 0), np.float32)
    # manifest order within variant order, whatever order the parts were written in
    item_rank = results["id"].map({it.id: i for i, it in enumerate(manifest)}).fillna(len(manifest)).to_numpy()
    variant_rank = results["variant"].map({v.name: i for i, v in enumerate(variants)}).fillna(len(variants)).to_numpy()
    idx = np.lexsort((item_rank, variant_rank))
    results = results.iloc[idx].reset_index(drop=True)
    emb = emb[idx]
    results.to_parquet(out / "results.parquet.tmp", index=False)
    os.replace(out / "results.parquet.tmp", out / "results.parquet")
    np.save(out / "embeddings.tmp.npy", emb)
    os.replace(out / "embeddings.tmp.npy", out / "embeddings.npy")
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
        # with Ray, the model as the actors loaded it (device, dtype); the driver's copy is CPU float32
        "model": (engine_info or {}).get("model") or net.info.to_dict(),
        "random_weights": net.random_weights,
        "engine": {"name": engine, **{k: v for k, v in (engine_info or {}).items() if k != "model"}},
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
    (out / "summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
    return summary
