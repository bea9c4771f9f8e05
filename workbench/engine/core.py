"""The one engine: sources → predictions, for every command.

``infer``, ``run`` (local and Ray actors), ``diagnose``, ``similar``/``embeddings`` on files
and the widgets' re-predictions all hand their inputs to :class:`Engine` as
:class:`WorkItem`\\ s and get :class:`Scored` results back.  Commands differ only in what
they feed it and where the results go.

How a chunk of work flows::

    worker processes (all cores)            main process
    ─────────────────────────────           ──────────────────────────────────────
    hash → cache lookup (whole item hit:    chunk k: one batched model pass over every
      no decode) → decode → mixdown →         (item, variant) not in the cache, then
      segment → variant chain → resample      findings, cache writes, results
      → signal facts                        chunk k+1, k+2 are being prepared meanwhile

On a CPU (no worker processes: they would compete with the model for the cores) one thread in the main
process prepares chunk k+1 while the model scores chunk k.

A bad item never sinks the chunk: every failure (decode, a too-short variant, a crash in a
worker, a failed batch retried one clip at a time) becomes that item's :class:`Scored`
with ``error`` set.  Errors travel as dicts (``WorkbenchError.to_dict()``) so they cross
process boundaries intact.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import stat
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from workbench.audio.intake import Audio, AudioConfig, decode_mono, file_sha256
from workbench.engine.ahead import Ahead, ChunkAhead, decode_ahead_mode, short_gil_turns
from workbench.engine.findings import DiagnosticsConfig, Finding, audio_facts, findings_from, prediction_facts
from workbench.errors import AudioError, ConfigError, ModelError, WorkbenchError
from workbench.data.manifest import Item
from workbench.labels import LABEL_KEYS
from workbench.model.fastpath import cache_precision
from workbench.model.network import Prediction
from workbench.audio.variants import RAW, Variant, scored_audio
from workbench.engine.prediction_cache import PredictionCache
from workbench.serialize import loads_json

logger = logging.getLogger(__name__)


def _labels_of(net: Any) -> tuple[str, ...]:
    """The classes a loaded model scores, in order (a model without ``info.labels`` has the nine)."""
    return tuple(getattr(getattr(net, "info", None), "labels", None) or LABEL_KEYS)


# ---------------------------------------------------------------------------
# units of work and their results
# ---------------------------------------------------------------------------
@dataclass
class WorkItem:
    """One input: an item (id, segment, labels) and its source, with the variants still to score."""

    item: Item
    source: Any  # a path, bytes, an (array, sr) pair or an Audio
    variants: Sequence[Variant] = (RAW,)


@dataclass
class Scored:
    """The result of one (item, variant): a prediction with its facts and findings, or an error."""

    item: Item
    variant: Variant
    prediction: Prediction | None = None
    error: dict | None = None
    info: dict = field(default_factory=dict)  # audio_seconds, source rate/sha, chain, facts
    facts: dict = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    cache_key: str = ""
    cached: bool = False
    decode_ms: float = 0.0
    infer_ms: float = 0.0
    audio: Audio | None = None  # the scored audio, kept only when the engine is asked to

    @property
    def ok(self) -> bool:
        return self.error is None

    def prediction_or_raise(self) -> Prediction:
        """The prediction, or the item's error raised again as the :class:`WorkbenchError` it was."""
        if self.ok:
            return self.prediction
        err = self.error
        cls = {"AudioError": AudioError, "ModelError": ModelError, "ConfigError": ConfigError}.get(err.get("type"), WorkbenchError)
        raise cls(err.get("message") or err.get("text", "failed"), source=err.get("source"), fix=err.get("fix"))


def error_dict(exc: BaseException, source: str | None = None) -> dict:
    """A failure as a dict that crosses process boundaries and fills a failed row."""
    if isinstance(exc, WorkbenchError):
        return exc.to_dict()
    text = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, OSError):
        return AudioError(f"cannot be read ({exc.strerror or exc}).", source=source,
                          fix="check that the file exists and is readable by this user.").to_dict()
    if isinstance(exc, MemoryError) or (isinstance(exc, RuntimeError) and any(w in str(exc) for w in ("allocate memory", "out of memory"))):
        return ModelError(f"the model ran out of memory on this clip ({' '.join(str(exc).split())[:160]}).", source=source,
                          fix="score a long recording with `workbench segment` (in pieces), or keep --max-duration at its 120 s.").to_dict()
    return {"type": type(exc).__name__, "code": "internal", "source": source, "message": text, "fix": None,
            "text": f"{source}: {text}" if source else text}


def audio_info(audio: Audio, facts: dict) -> dict:
    """What a results row needs from the processed audio (stored in the cache with the prediction)."""
    return {
        "audio_seconds": audio.duration, "source_sample_rate": audio.source.sample_rate, "source_sha256": audio.source.sha256,
        "chain": [s.to_dict() for s in audio.log.audio_steps], "facts": facts,
    }


# ---------------------------------------------------------------------------
# preparation: what the worker processes do
# ---------------------------------------------------------------------------
@dataclass
class _Job:
    index: int
    work: WorkItem


@dataclass
class _Context:
    """Everything a worker needs besides the item (sent once per chunk; small)."""

    audio_config: AudioConfig
    cache_root: str | None
    model_key: tuple[str, str]  # (checksum or id, dtype)
    need_frames: bool  # cache entries must hold frame embeddings
    keep_audio: bool
    n_labels: int = 0  # the model's classes: an entry with another number of scores is not this model's (0: not checked)


_SHA_MEMO: dict = {}


def _source_sha(source: Any) -> str | None:
    """sha256 of a file source, memoised by (path, mtime, size); None for in-memory sources."""
    if not isinstance(source, (str, os.PathLike)):
        return None
    p = Path(source)
    st = p.stat()  # OSError (missing, unreadable) is handled by the caller
    if not stat.S_ISREG(st.st_mode):
        return None  # a pipe, a device, a folder: never opened here (a FIFO would block); intake refuses it by name
    key = (str(p), st.st_mtime_ns, st.st_size)
    if key not in _SHA_MEMO:
        _SHA_MEMO[key] = file_sha256(p)
    return _SHA_MEMO[key]


def cache_key(sha: str, item: Item, variant: Variant, audio_config: AudioConfig, model_key: tuple[str, str]) -> str:
    return PredictionCache.key(source_sha256=sha, start=item.start, duration=item.duration, audio_config=audio_config.to_dict(),
                               chain_hash=variant.chain_hash(), model_checksum=model_key[0], dtype=model_key[1])


def _usable(entry: dict | None, ctx: _Context) -> bool:
    return (entry is not None and (not ctx.need_frames or "frame_embeddings" in entry)
            and (not ctx.n_labels or len(entry["logits"]) == ctx.n_labels))


def _process(w: WorkItem, audio_config: AudioConfig) -> tuple:
    """What preparing an item does before it needs the model: decode it, make each variant and measure its facts.

    ``("failed", error_dict)``, or ``("ok", sha256, decode_ms, per_variant)`` with ``(variant, audio, info)`` or
    ``(variant, error_dict)`` per variant.  Never raises."""
    name = w.item.id or str(w.source)
    t0 = time.perf_counter()
    try:
        decoded = decode_mono(w.source, config=audio_config, id=name)  # mixed down block by block: bounded memory
        sha = decoded.source.sha256 or decoded.content_hash()
    except Exception as exc:  # WorkbenchError for bad input; anything else must not sink the batch either
        return ("failed", error_dict(exc, name))
    decode_ms = (time.perf_counter() - t0) * 1000
    # a file's own faults (too short for one frame …) name the file, as the decoder's do; an in-memory source its id
    shown = str(w.source) if isinstance(w.source, (str, os.PathLike)) else name
    per_variant: list[tuple] = []
    for v in w.variants:
        try:
            audio = scored_audio(decoded, v, audio_config, start=w.item.start, duration=w.item.duration, source=shown)
            per_variant.append((v, audio, audio_info(audio, audio_facts(audio))))
        except Exception as exc:
            per_variant.append((v, error_dict(exc, name)))
    return ("ok", sha, decode_ms, per_variant)


def prepare(job: _Job, ctx: _Context, processed: tuple | None = None) -> list[tuple]:
    """Turn one work item into per-variant entries; never raises.  ``processed``: what :func:`_process` gave for it
    already (a :class:`Prefetch`), used instead of decoding again.

    Entries: ``("cached", variant, key, entry, info|None, decode_ms)``, ``("todo", variant, key, audio, info, decode_ms)``
    or ``("failed", variant, error_dict)``.
    """
    w = job.work
    cache = PredictionCache(ctx.cache_root) if ctx.cache_root else None
    t0 = time.perf_counter()
    sha = None
    if cache is not None:  # without a cache the decoder's own sha256 of the file gives the same key: hashed once
        try:
            sha = _source_sha(w.source)
        except (OSError, WorkbenchError):
            pass  # decoding below gives the item's proper message (missing, a folder, unreadable …)
    # a whole item found in the cache (with its audio facts) is not decoded at all
    if cache is not None and sha is not None:
        keys = [cache_key(sha, w.item, v, ctx.audio_config, ctx.model_key) for v in w.variants]
        entries = [cache.get(k) for k in keys]
        if all(_usable(e, ctx) and "audio_info" in e for e in entries) and not ctx.keep_audio:
            ms = (time.perf_counter() - t0) * 1000
            return [("cached", v, k, e, loads_json(str(e["audio_info"])), ms) for v, k, e in zip(w.variants, keys, entries)]
    processed = processed or _process(w, ctx.audio_config)
    if processed[0] == "failed":
        return [("failed", v, processed[1]) for v in w.variants]
    _, decoded_sha, decode_ms, per_variant = processed
    sha = sha or decoded_sha
    out: list[tuple] = []
    for made in per_variant:
        if len(made) == 2:
            out.append(("failed", made[0], made[1]))
            continue
        v, audio, info = made
        key = cache_key(sha, w.item, v, ctx.audio_config, ctx.model_key)
        entry = cache.get(key) if cache is not None else None
        if _usable(entry, ctx):
            out.append(("cached", v, key, entry, info, decode_ms) + ((audio,) if ctx.keep_audio else ()))
        else:
            out.append(("todo", v, key, audio, info, decode_ms))
    return out


def _prefetch_key(w: WorkItem) -> tuple:
    return (w.item.id, str(w.source), w.item.start, w.item.duration, tuple(v.chain_hash() for v in w.variants))


class Prefetch:
    """The first items of a run decoded, cut into variants and measured in a thread while the model loads.

    What :func:`prepare` does before the model is needed (the cache key needs the model's checksum and precision,
    known once it has loaded): the engine's first chunk then starts at once instead of waiting for its decoding
    (``wait_s``; ~0.2 s of a 400-clip ``tiny`` run with the model idle, and a core idle during the load).  An item is
    used only for the same source, segment, variants and decoding settings, and once."""

    def __init__(self, work: Sequence[WorkItem], audio_config: AudioConfig):
        self.audio_config = audio_config
        self._work = list(work)
        self._ahead = Ahead(lambda _: [_process(w, audio_config) for w in self._work], 0, name="workbench-prefetch")
        self._ready: dict | None = None

    def take(self, w: WorkItem, audio_config: AudioConfig) -> tuple | None:
        """What :func:`_process` gave for ``w`` (waiting for the thread), or None when it was not prefetched as asked."""
        if audio_config != self.audio_config:
            return None
        if self._ready is None:
            try:
                self._ready = {_prefetch_key(w): p for w, p in zip(self._work, self._ahead.result())}
            except Exception:  # noqa: BLE001 — a prefetch that failed costs only its time: the items are decoded again
                self._ready = {}
        return self._ready.pop(_prefetch_key(w), None)

    def discard(self) -> None:
        """Let go of what was not taken (a long clip's audio is large): the engine calls it once its first chunk is ready."""
        self._ready = {}
        self._work.clear()  # a thread still decoding stops after its current item
        self._ahead._box.pop("value", None)


def _prepare_many(jobs: list[_Job], ctx: _Context) -> list[tuple[int, list[tuple]]]:
    return [(j.index, prepare(j, ctx)) for j in jobs]


def _new_pool(n: int) -> ProcessPoolExecutor:
    mp = multiprocessing.get_context("forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn")
    return ProcessPoolExecutor(max_workers=n, mp_context=mp, initializer=_worker_init)


def _worker_init() -> None:
    # workers only decode: one BLAS/torch thread each, so they share the cores with the model
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"


# ---------------------------------------------------------------------------
# the engine
# ---------------------------------------------------------------------------
class Engine:
    """Score work items with one model: decoding in worker processes, batched inference here.

    Parameters
    ----------
    net : Emotion2vecModel
    audio_config : AudioConfig
    diagnostics : DiagnosticsConfig
    cache : PredictionCache, optional
    frame_embeddings : bool
        Keep each row's ``(T, D)`` frame embeddings.
    granularity : {"frame", "utterance"}
    workers : int or None
        Decoding processes; ``None`` picks the machine's cores for large jobs and ``0``
        (decode in this process) for small ones; ``0`` forces in-process decoding.
    keep_audio : bool
        Keep the scored :class:`Audio` on each result (``infer`` writes it out).
    """

    def __init__(self, net: Any, *, audio_config: AudioConfig | None = None, diagnostics: DiagnosticsConfig | None = None,
                 cache: PredictionCache | None = None, frame_embeddings: bool = False, granularity: str = "frame",
                 workers: int | None = None, keep_audio: bool = False, policy: Any = None):
        self.net = net
        self.audio_config = audio_config or AudioConfig()
        self.diagnostics = diagnostics or DiagnosticsConfig()
        self.cache = cache
        self.frame_embeddings = frame_embeddings
        self.granularity = "frame" if frame_embeddings else granularity
        self.workers = workers
        self.keep_audio = keep_audio
        self.policy = policy
        self.stats = {"decode_s": 0.0, "model_s": 0.0, "post_s": 0.0, "wait_s": 0.0, "wait_decoding_s": 0.0}

    @property
    def _ctx(self) -> _Context:
        info = self.net.info
        # a tempered model's scores differ from the checkpoint's: the temperature is part of the cache key
        dtype = cache_precision(str(info.dtype), str(info.device))  # a path's revision and device too, but float32's
        precision = dtype if getattr(info, "temperature", None) is None else f"{dtype}/T={info.temperature!r}"
        return _Context(self.audio_config, str(self.cache.root) if self.cache else None, (getattr(info, "identity", None) or info.checksum or info.id, precision),
                        self.frame_embeddings, self.keep_audio, len(_labels_of(self.net)))

    def _n_workers(self, n_items: int) -> int:
        if self.workers is not None:
            return max(0, int(self.workers))
        # On a CPU the model already uses every core and decoding is ~1/1000 of its time: a pool would only compete
        # with it (measured: 1.2 s of pool start-up against 0.45 s of in-process decoding for 400 clips, tiny model).
        # On a GPU the main process must keep feeding batches: decoding moves to the pool.  A handful of files never
        # pays for a pool's start-up.
        if n_items < 48 or not str(self.net.info.device).startswith("cuda"):
            return 0
        return max(1, min(os.cpu_count() or 1, 16))

    def score(self, work: Sequence[WorkItem], *, chunk_size: int = 64, progress: Callable[[int], None] | None = None,
              prefetch: Prefetch | None = None) -> Iterator[list[Scored]]:
        """Yield the results of each chunk of ``work`` (chunks in order, results in item × variant order).

        ``progress(n)`` is called with the number of (item, variant) results finished since the last call;
        ``prefetch``: items already decoded (:class:`Prefetch`), used when decoding happens in this process.
        """
        work = list(work)
        chunks = [list(range(s, min(s + chunk_size, len(work)))) for s in range(0, len(work), chunk_size)]
        n_workers = self._n_workers(len(work))
        ctx = self._ctx
        if n_workers == 0:
            yield from self._score_in_process(work, chunks, ctx, progress, prefetch)
            return
        if prefetch is not None:  # worker processes decode: what was decoded here is not used
            prefetch.discard()
        yield from self._score_pooled(work, chunks, n_workers, ctx, progress)

    def _score_in_process(self, work, chunks, ctx, progress, prefetch: Prefetch | None = None) -> Iterator[list[Scored]]:
        """Chunks decoded in this process, the next one in a thread while the model scores this one.

        The thread is in the idle scheduling class (:class:`~workbench.engine.ahead.ChunkAhead`): it decodes on the
        cores the model's threads leave free, and what it has not done when the model needs the chunk is decoded here.
        One chunk ahead at most, so memory holds two chunks.  ``WORKBENCH_DECODE_AHEAD`` (``idle``, ``normal``, ``off``)
        chooses; benchmarks/README.md has the figures.
        """
        mode = decode_ahead_mode()

        def first_chunk(_: int) -> list:
            t0 = time.perf_counter()
            try:
                if prefetch is not None:
                    try:
                        return [(i, prepare(_Job(i, work[i]), ctx, prefetch.take(work[i], ctx.audio_config))) for i in chunks[0]]
                    finally:
                        prefetch.discard()
                return _prepare_many([_Job(i, work[i]) for i in chunks[0]], ctx)
            finally:
                self.stats["decode_s"] += time.perf_counter() - t0

        def chunk_ahead(k: int) -> ChunkAhead | None:
            if k >= len(chunks) or mode == "off":
                return None
            return ChunkAhead([_Job(i, work[i]) for i in chunks[k]], lambda job: (job.index, prepare(job, ctx)), idle=mode == "idle")

        ahead: Any = Ahead(first_chunk, 0) if chunks else None
        with short_gil_turns():  # the decoding thread hands the GIL back to the model's thread within 1 ms, not 5
            for k in range(len(chunks)):
                t0 = time.perf_counter()
                if ahead is None:  # no thread ahead (WORKBENCH_DECODE_AHEAD=off): prepared now, the model waiting
                    prepared = _prepare_many([_Job(i, work[i]) for i in chunks[k]], ctx)
                    self.stats["decode_s"] += time.perf_counter() - t0
                    self.stats["wait_decoding_s"] += time.perf_counter() - t0
                else:
                    prepared = ahead.result()
                self.stats["wait_s"] += time.perf_counter() - t0
                if isinstance(ahead, ChunkAhead):
                    self.stats["decode_s"] += ahead.stats["thread_s"] + ahead.stats["caller_s"]
                    self.stats["wait_decoding_s"] += ahead.stats["caller_s"]  # the part of wait_s spent decoding here
                ahead = chunk_ahead(k + 1)
                yield self._finish(work, prepared, progress)

    def _score_pooled(self, work, chunks, n_workers, ctx, progress) -> Iterator[list[Scored]]:
        # jobs of a few items each: small enough to balance, large enough to amortise pickling
        per_job = max(1, min(8, len(chunks[0]) // (2 * n_workers) or 1))
        ahead = 2  # chunks being prepared while the model runs
        k = 0  # the chunk in hand
        while k < len(chunks):
            pool = _new_pool(n_workers)
            try:
                pending = [self._submit(pool, work, idx, per_job, ctx) for idx in chunks[k:k + ahead]]
                while k < len(chunks):
                    futures = pending.pop(0)
                    if k + ahead < len(chunks):
                        pending.append(self._submit(pool, work, chunks[k + ahead], per_job, ctx))
                    t0 = time.perf_counter()
                    prepared = []
                    for idx, fut in futures:
                        try:
                            prepared += fut.result()
                        except BrokenProcessPool:
                            raise
                        except Exception as exc:  # a job that failed as a whole: its items fail, the run goes on
                            prepared += [(i, [("failed", v, error_dict(exc, work[i].item.id)) for v in work[i].variants]) for i in idx]
                    self.stats["wait_s"] += time.perf_counter() - t0
                    yield self._finish(work, prepared, progress)
                    k += 1
            except BrokenProcessPool:
                # a decoder killed its process (a crashing codec): redo this chunk one item at a time in fresh
                # processes, so that only the item that kills one again fails; then carry on pooled
                logger.warning("a decoding process died; retrying its chunk item by item")
                pool.shutdown(wait=False, cancel_futures=True)
                yield self._finish(work, self._isolated(work, chunks[k], ctx), progress)
                k += 1
            finally:
                pool.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def _submit(pool, work, idx: list[int], per_job: int, ctx) -> list[tuple[list[int], Future]]:
        return [(idx[s:s + per_job], pool.submit(_prepare_many, [_Job(i, work[i]) for i in idx[s:s + per_job]], ctx))
                for s in range(0, len(idx), per_job)]

    @staticmethod
    def _isolated(work, idx: list[int], ctx) -> list[tuple[int, list[tuple]]]:
        """Prepare items one at a time in a worker process; an item whose decoding kills the process fails alone."""
        out = []
        pool = _new_pool(1)
        try:
            for i in idx:
                try:
                    out += pool.submit(_prepare_many, [_Job(i, work[i])], ctx).result()
                except BrokenProcessPool:
                    err = AudioError("the decoder's process died on this input (a damaged or hostile file).", source=work[i].item.id,
                                     fix="check that the file plays in another program; re-export it as WAV or FLAC.").to_dict()
                    out.append((i, [("failed", v, err) for v in work[i].variants]))
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = _new_pool(1)
                except Exception as exc:
                    out.append((i, [("failed", v, error_dict(exc, work[i].item.id)) for v in work[i].variants]))
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return out

    def _finish(self, work: list[WorkItem], prepared: list[tuple[int, list[tuple]]], progress) -> list[Scored]:
        """Predict what the cache did not have (one batched pass), then findings and cache writes."""
        random_weights = self.net.random_weights
        slots: list[Scored] = []
        todo: list[tuple[int, Audio]] = []
        for i, entries in sorted(prepared, key=lambda t: t[0]):
            item = work[i].item
            for e in entries:
                if e[0] == "failed":
                    slots.append(Scored(item, e[1], error=e[2]))
                elif e[0] == "cached":
                    _, v, key, entry, info, ms = e[:6]
                    s = Scored(item, v, prediction=PredictionCache.to_prediction(entry, item.id, random_weights, _labels_of(self.net)), info=info or {},
                               cache_key=key, cached=True, decode_ms=ms, audio=e[6] if len(e) > 6 else None)
                    slots.append(s)
                else:
                    _, v, key, audio, info, ms = e
                    slots.append(Scored(item, v, info=info, cache_key=key, decode_ms=ms, audio=audio))
                    todo.append((len(slots) - 1, audio))
        if progress is not None:
            n_now = sum(1 for s in slots if s.prediction is not None or s.error is not None)
            if n_now:
                progress(n_now)
        if todo:
            t0 = time.perf_counter()
            preds = self._predict([a for _, a in todo], [slots[j].item.id for j, _ in todo], progress)
            per = (time.perf_counter() - t0) * 1000 / len(todo)
            self.stats["model_s"] += time.perf_counter() - t0
            for (j, _), p in zip(todo, preds):
                if isinstance(p, BaseException):
                    slots[j].error = error_dict(p, slots[j].item.id)
                else:
                    slots[j].prediction = p
                    slots[j].infer_ms = per
        t0 = time.perf_counter()
        for s in slots:
            if s.prediction is None:
                continue
            facts = {**s.info.get("facts", {}), **prediction_facts(s.prediction)}
            s.facts, s.findings = facts, findings_from(facts, self.diagnostics)
            if self.cache is not None and not s.cached:
                p = s.prediction if self.frame_embeddings else replace(s.prediction, frame_embeddings=None)
                self.cache.put(s.cache_key, p, s.info)
            if not self.keep_audio:
                s.audio = None
        self.stats["post_s"] += time.perf_counter() - t0
        return slots

    def _predict(self, clips: list[Audio], ids: list[str], progress) -> list[Any]:
        def hook(step, preds, *, completed=None, total=None):
            if progress is not None:
                progress(len(preds))

        try:
            return self.net.predict(clips, granularity=self.granularity, embeddings=True, ids=ids, policy=self.policy, hook=hook)
        except Exception as exc:  # one bad clip must not sink the others: retry one at a time
            logger.warning("batched inference failed (%s); retrying one clip at a time", exc)
        out: list[Any] = []
        for clip, name in zip(clips, ids):
            try:
                out.append(self.net.predict([clip], granularity=self.granularity, embeddings=True, ids=[name])[0])
            except Exception as exc:
                out.append(exc)
            if progress is not None:
                progress(1)
        return out


def score_sources(net: Any, sources: Sequence[Any], *, ids: Sequence[str] | None = None, variant: Variant = RAW,
                  audio_config: AudioConfig | None = None, diagnostics: DiagnosticsConfig | None = None,
                  granularity: str = "utterance", keep_audio: bool = False, workers: int | None = None,
                  chunk_size: int = 64, policy: Any = None, progress: Callable[[int], None] | None = None) -> list[Scored]:
    """Score plain sources (paths, bytes, arrays, Audio) with one variant; one :class:`Scored` each, in order.

    A source that cannot be decoded or scored is a failed :class:`Scored` (its ``error`` says why); the others go on.

    Parameters
    ----------
    net : loaded model
        What :meth:`ModelRef.load <workbench.model.ref.ModelRef.load>` returns.
    sources : sequence
        Paths, bytes of an audio file, ``(samples, sr)`` pairs, or :class:`~workbench.audio.intake.Audio`.
    ids : sequence of str, optional
        Names of the sources (default: the path, or ``input<k>``).
    variant : Variant
        The preprocessing chain applied to each (default ``raw``).
    audio_config, diagnostics : optional
        Decoding settings and the findings' thresholds.
    granularity : {"utterance", "frame"}
        ``"frame"`` adds frame scores.
    keep_audio : bool
        Keep the scored audio on each result.
    workers, chunk_size, policy : optional
        Decoding processes, items per engine call, the batch policy.
    progress : callable, optional
        ``progress(n)`` with the number of results finished since the last call.

    Returns
    -------
    list of Scored

    Examples
    --------
    >>> net = wb.ModelRef("tiny").load()
    >>> noise = 0.1 * np.random.default_rng(0).standard_normal(8000).astype(np.float32)   # 0.5 s at 16 kHz
    >>> out = wb.score_sources(net, [wb.DEMO_DATA / "happy_en_44k.wav", (noise, 16000), "missing.wav"])
    >>> [s.ok for s in out], out[0].prediction.label in net.info.labels
    ([True, True, False], True)
    """
    names = list(ids) if ids is not None else [_source_name(s, k) for k, s in enumerate(sources)]
    work = [WorkItem(Item(id=n, path=str(s) if isinstance(s, (str, os.PathLike)) else ""), s, (variant,))
            for n, s in zip(names, sources)]
    eng = Engine(net, audio_config=audio_config, diagnostics=diagnostics, granularity=granularity, workers=workers,
                 keep_audio=keep_audio, policy=policy)
    out: list[Scored] = []
    for chunk in eng.score(work, chunk_size=chunk_size, progress=progress):
        out += chunk
    return out


def _source_name(source: Any, k: int) -> str:
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, Audio):
        return source.id
    return f"input{k}"
