"""``workbench run --engine ray``: the same run, with inference spread over a Ray cluster.

The driver (the machine that calls :func:`workbench.runs.run`) keeps every
duty that makes a run safe: it checks the run folder, decides which
(item, variant) rows are still to do, writes each finished chunk as a part
file the moment it comes back, and assembles ``results.parquet`` at the end.
Only the work in between moves: Ray Data holds the pending chunks, and
``map_batches`` hands them to a pool of actors, each holding one loaded model
(one actor per GPU on a GPU cluster).  An actor runs the very function the
local engine runs (:class:`workbench.engine.Engine`), so decoding, variants,
the cache and diagnostics are the same code, and the driver builds the rows from
the actors' results exactly as it does from the local engine's; a chunk is one
Ray row, so chunks are the same as the local engine's.

A local cluster that the workbench starts always runs with Ray's token
authentication: Ray 2.60 cannot be confined to the loopback interface (it turns a
loopback node address into the machine's address, and its gRPC servers bind the
wildcard address), so the token is what keeps other machines out.  Joining a
remote cluster (``--ray-address``) stays the user's explicit choice.

What a cluster needs: the workbench installed on every node, the audio (and
the cache folder, to share hits) at the same paths on every node, and the
model reachable from every node (hub cache or a shared checkpoint folder).
"""

from __future__ import annotations

import logging
import os
import pickle
from dataclasses import dataclass, replace
from typing import Any, Iterator

from .engine import Engine, PredictionCache
from .errors import ConfigError
from .modelref import ModelRef

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
    """A Ray Data actor: loads the model once, then scores whole chunks with the local engine."""

    def __init__(self, model: ModelRef, audio_config: Any, diagnostics: Any, cache_dir: str | None, frame_embeddings: bool):
        self.net = model.load()  # with the driver's checksum: every actor scores with the same weights
        # decoding runs in the actor itself: the cluster's CPUs are shared out by Ray, not by a pool of our own
        self.engine = Engine(self.net, audio_config=audio_config, diagnostics=diagnostics,
                             cache=PredictionCache(cache_dir) if cache_dir else None, frame_embeddings=frame_embeddings, workers=0)
        self.host = f"{os.uname().nodename}:{os.getpid()}"

    def __call__(self, batch):
        import pandas as pd

        out = []
        for blob in batch["chunk"]:
            work = pickle.loads(blob)
            scored = [s for chunk in self.engine.score(work, chunk_size=max(1, len(work))) for s in chunk]
            out.append(pickle.dumps({"result": scored, "model": self.net.info.to_dict(), "worker": self.host},
                                    protocol=pickle.HIGHEST_PROTOCOL))
        return pd.DataFrame({"result": out})


def _token_auth_enabled() -> bool:
    try:
        from ray._private.authentication.authentication_utils import is_token_auth_enabled
    except ImportError:  # a Ray without token authentication
        return False
    return bool(is_token_auth_enabled())


def run_chunks(chunks: list[list], *, model: ModelRef,
               audio_config: Any, diagnostics: Any, cache_dir: str | None, frame_embeddings: bool,
               options: RayOptions | None = None, info: dict | None = None) -> Iterator[list]:
    """Yield the engine's results (a list of :class:`~workbench.engine.Scored`) for each chunk of
    :class:`~workbench.engine.WorkItem`, in the order they finish on the cluster.

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
        starting_local = options.address is None and not os.environ.get("RAY_ADDRESS")
        if starting_local:
            if os.environ.get("RAY_AUTH_MODE", "").lower() == "disabled":
                raise ConfigError(
                    "RAY_AUTH_MODE=disabled is set, but a Ray cluster that the workbench starts must require a token: "
                    "its servers are reachable from other machines.", source="RAY_AUTH_MODE",
                    fix="unset RAY_AUTH_MODE, or start a cluster yourself (`ray start --head`) and pass --ray-address.")
            if options.num_cpus is not None:
                init_kwargs["num_cpus"] = options.num_cpus
        try:
            ray.init(**init_kwargs)
        except Exception as exc:  # a wrong address, a version mismatch, no room for a local cluster
            raise ConfigError(f"could not start or join a Ray cluster: {type(exc).__name__}: {exc}",
                              source=str(options.address or os.environ.get("RAY_ADDRESS") or "local"),
                              fix="check --ray-address (and that the cluster runs the same Ray and Python), or use --engine local.") from exc
        started_here = True
        if starting_local and not _token_auth_enabled():
            ray.shutdown()
            raise ConfigError("the local Ray cluster started without token authentication.", source="ray",
                              fix="use Ray 2.52 or newer (token authentication), or pass --ray-address to a cluster you secured.")
    try:
        resources = ray.cluster_resources()
        device, dtype = model.device, model.dtype
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
        rows = [{"chunk": pickle.dumps(chunk, protocol=pickle.HIGHEST_PROTOCOL)} for chunk in chunks]
        ds = ray.data.from_items(rows, override_num_blocks=len(rows))
        ds = ds.map_batches(
            _ChunkWorker, batch_size=1, batch_format="pandas", compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=options.cpus_per_actor, num_gpus=gpus,
            fn_constructor_kwargs=dict(model=replace(model, device="cuda" if cuda else device), audio_config=audio_config,
                                       diagnostics=diagnostics, cache_dir=cache_dir, frame_embeddings=frame_embeddings),
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
