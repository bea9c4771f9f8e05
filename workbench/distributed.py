"""``workbench run --engine ray``: the same run, with inference spread over a Ray cluster.

The driver (the machine that calls :func:`workbench.runs.run`) keeps every
duty that makes a run safe: it checks the run folder, decides which
(item, variant) rows are still to do, writes each finished chunk as a part
file the moment it comes back, and assembles ``results.parquet`` at the end.
Only the work in between moves: Ray Data holds the pending chunks, and
``map_batches`` hands them to a pool of actors, each holding one loaded model
(one actor per GPU on a GPU cluster).  An actor runs the very function the
local engine runs on a chunk (:func:`workbench.runs._run_chunk`), so decoding,
variants, the cache, diagnostics and the rows are the same code; a chunk is
one Ray row, so chunks are the same as the local engine's.

What a cluster needs: the workbench installed on every node, the audio (and
the cache folder, to share hits) at the same paths on every node, and the
model reachable from every node (hub cache or a shared checkpoint folder).
"""

from __future__ import annotations

import logging
import os
import pickle
from dataclasses import dataclass
from typing import Any, Iterator

from .errors import ConfigError

logger = logging.getLogger(__name__)

# environment a worker needs to behave like the driver (cache location, offline mode, malloc setting)
_FORWARDED_ENV = ("WORKBENCH_CACHE", "WORKBENCH_OFFLINE", "WORKBENCH_KEEP_MALLOC", "HF_HUB_OFFLINE", "MODELSCOPE_OFFLINE",
                  "MODELSCOPE_CACHE", "HF_HOME")


@dataclass
class RayOptions:
    """How to reach and use the cluster.

    ``address``: ``None`` joins the cluster named by ``RAY_ADDRESS`` or starts a
    local one; ``"auto"`` joins a running one; ``"ray://host:10001"`` a remote one.
    ``actors``: model copies (default: one per GPU on a GPU run, else one per
    ``cpus_per_actor`` CPUs of the cluster).  ``num_cpus`` only applies when a
    local cluster is started (the tests start one with 2 CPUs).
    """

    address: str | None = None
    actors: int | None = None
    cpus_per_actor: float = 1.0
    gpus_per_actor: float | None = None  # default: 1 on a CUDA run, 0 otherwise
    num_cpus: int | None = None


def import_ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "the Ray engine needs Ray Data, which is not installed.",
            source="--engine ray",
            fix="pip install 'ray[data]' (or pip install -e '.[ray]'), or run with --engine local.",
        ) from exc
    return ray


class _ChunkWorker:
    """A Ray Data actor: loads the model once, then runs whole chunks through ``_run_chunk``."""

    def __init__(self, model_ref: str, hub: str, revision: str | None, device: str, dtype: str, variants: list,
                 audio_config: Any, diagnostics: Any, cache_dir: str | None, frame_embeddings: bool, root: str):
        from .manifest import Manifest
        from .model import load_model
        from .runs import PredictionCache

        self.net = load_model(model_ref, hub=hub, revision=revision, device=device, dtype=dtype)
        self.variants = variants
        self.audio_config = audio_config
        self.diagnostics = diagnostics
        self.cache = PredictionCache(cache_dir) if cache_dir else None
        self.frame_embeddings = frame_embeddings
        self.locator = Manifest([], root=root)  # resolves relative item paths as the driver's manifest does
        self.sha_memo: dict = {}
        self.host = f"{os.uname().nodename}:{os.getpid()}"

    def __call__(self, batch):
        import pandas as pd

        from .runs import _run_chunk

        out = []
        for blob in batch["chunk"]:
            items, done = pickle.loads(blob)
            result = _run_chunk(items, self.locator, self.variants, done, self.net, self.audio_config, self.diagnostics,
                                self.cache, self.frame_embeddings, self.sha_memo)
            out.append(pickle.dumps({"result": result, "model": self.net.info.to_dict(), "worker": self.host},
                                    protocol=pickle.HIGHEST_PROTOCOL))
        return pd.DataFrame({"result": out})


def run_chunks(chunks: list[list], done: set, *, model_ref: str, hub: str, revision: str | None, device: str, dtype: str,
               variants: list, audio_config: Any, diagnostics: Any, cache_dir: str | None, frame_embeddings: bool,
               root: str, options: RayOptions | None = None, info: dict | None = None) -> Iterator[tuple]:
    """Yield ``_run_chunk``'s result for each chunk, in the order they finish on the cluster.

    ``info`` (a dict) is filled with the actors' model provenance and the workers that ran.
    """
    ray = import_ray()
    options = options or RayOptions()
    if not chunks:  # a finished run resumed: nothing to send, no cluster to start
        return
    started_here = False
    if not ray.is_initialized():
        env = {k: os.environ[k] for k in _FORWARDED_ENV if k in os.environ}
        init_kwargs: dict[str, Any] = dict(address=options.address, include_dashboard=False, log_to_driver=False,
                                           runtime_env={"env_vars": env} if env else None)
        if options.num_cpus is not None and options.address is None:
            init_kwargs["num_cpus"] = options.num_cpus
        try:
            ray.init(**init_kwargs)
        except Exception as exc:  # a wrong address, a version mismatch, no room for a local cluster
            raise ConfigError(f"could not start or join a Ray cluster: {type(exc).__name__}: {exc}",
                              source=str(options.address or os.environ.get("RAY_ADDRESS") or "local"),
                              fix="check --ray-address (and that the cluster runs the same Ray and Python), or use --engine local.") from exc
        started_here = True
    try:
        resources = ray.cluster_resources()
        cuda = device.startswith("cuda") or (device == "auto" and resources.get("GPU", 0) > 0)
        gpus = options.gpus_per_actor if options.gpus_per_actor is not None else (1.0 if cuda else 0.0)
        if options.actors:
            actors = options.actors
        elif gpus > 0:
            actors = max(1, int(resources.get("GPU", 0) // gpus))
        else:
            actors = max(1, int(resources.get("CPU", 1) // max(options.cpus_per_actor, 1e-9)))
        actors = max(1, min(actors, len(chunks)))
        if cuda and dtype == "int8":
            raise ConfigError("int8 dynamic quantisation runs on the CPU only, and this run's actors would use CUDA.",
                              source="--dtype int8", fix="use --dtype bfloat16 on GPUs, or --device cpu for int8 actors.")
        if cuda and resources.get("GPU", 0) < gpus * actors:
            raise ConfigError(f"the run asks for {actors} actor(s) × {gpus:g} GPU but the cluster has {resources.get('GPU', 0):g} GPU.",
                              source=str(options.address or "local"), fix="lower --ray-actors, or run with --device cpu.")
        logger.info("ray engine: %d chunk(s) over %d actor(s) (%g CPU, %g GPU each); cluster %s",
                    len(chunks), actors, options.cpus_per_actor, gpus, {k: resources[k] for k in ("CPU", "GPU") if k in resources})
        rows = [{"chunk": pickle.dumps((chunk, {(it.id, v.name) for it in chunk for v in variants if (it.id, v.name) in done}),
                                       protocol=pickle.HIGHEST_PROTOCOL)} for chunk in chunks]
        ds = ray.data.from_items(rows, override_num_blocks=len(rows))
        ds = ds.map_batches(
            _ChunkWorker, batch_size=1, batch_format="pandas", compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=options.cpus_per_actor, num_gpus=gpus,
            fn_constructor_kwargs=dict(model_ref=model_ref, hub=hub, revision=revision, device="cuda" if cuda else device,
                                       dtype=dtype, variants=variants, audio_config=audio_config, diagnostics=diagnostics,
                                       cache_dir=cache_dir, frame_embeddings=frame_embeddings, root=root),
        )
        workers: set[str] = set()
        if info is not None:
            info["actors"] = actors
        for block in ds.iter_batches(batch_size=None, batch_format="pandas"):
            for blob in block["result"]:
                msg = pickle.loads(blob)
                workers.add(msg["worker"])
                if info is not None:
                    info["model"] = msg["model"]
                    info["workers"] = sorted(workers)
                yield msg["result"]
    finally:
        if started_here:
            ray.shutdown()
