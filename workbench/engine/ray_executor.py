"""``workbench run --engine ray``: the same run, with inference spread over a Ray cluster.

The driver (the machine that calls :func:`workbench.runs.driver.run`) keeps every
duty that makes a run safe: it checks the run folder, decides which
(item, variant) rows are still to do, writes each finished chunk as a part
file the moment it comes back, and assembles ``results.parquet`` at the end.
Only the work in between moves: the driver sends one chunk at a time to each of a
pool of Ray actors, each holding one loaded model (one actor per GPU on a GPU
cluster).  An actor runs the very function the local engine runs
(:class:`workbench.engine.core.Engine`), so decoding, variants, the cache and
diagnostics are the same code, and the driver builds the rows from the actors'
results exactly as it does from the local engine's; chunks are the same as the
local engine's.

A lost node loses nothing: a chunk is finished only when its results reach the
driver and are written; a chunk out on an actor that dies (its node removed, its
process killed) is sent again to another actor, Ray restarts the lost actor
where there is room, and a chunk's results are taken once even if a resent chunk
comes back twice.  When no actor is left, the run stops with the finished rows
saved and the same command resumes it.  The driver itself never builds the
network: it checks and hashes the checkpoint files (memoised by path, size and
mtime), and refuses an actor whose checkpoint hashes differently.

A local cluster that the workbench starts registers its node on 127.0.0.1, keeps its session folders in a
private temporary folder, makes ~/.ray/auth_token mode 0600, and always runs with Ray's token
authentication: Ray 2.60 cannot be confined to the loopback interface (it turns a
loopback node address into the machine's address, and its gRPC servers bind the
wildcard address), so the token is what keeps other machines out.  Joining a
remote cluster (``--ray-address``) stays the user's explicit choice.

What a cluster needs: the workbench installed on every node, the audio (and
the cache folder, to share hits) at the same paths on every node, and the
model reachable from every node (hub cache or a shared checkpoint folder).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterator

from workbench import files
from workbench.engine.core import Engine, Scored, WorkItem, error_dict
from workbench.engine.prediction_cache import PredictionCache
from workbench.engine.ray_identity import check_actor_model, identity_files
from workbench.errors import ConfigError, ModelError, WorkbenchError
from workbench.model.precision import MEASURED, static_cpu_choice
from workbench.model.ref import ModelRef

logger = logging.getLogger(__name__)

# environment a worker needs to behave like the driver (cache location, offline mode, malloc setting)
_FORWARDED_ENV = ("WORKBENCH_CACHE", "WORKBENCH_OFFLINE", "WORKBENCH_KEEP_MALLOC", "WORKBENCH_KEEP_FREED_MEMORY", "HF_HUB_OFFLINE", "MODELSCOPE_OFFLINE",
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
    #: custom Ray resources each actor asks for, e.g. ``{"scorer": 1}`` to keep actors on the nodes that offer it
    resources_per_actor: dict[str, float] | None = None
    #: times one chunk is sent before its rows are written as failed (an actor lost each time)
    max_attempts: int = 3
    #: seconds the driver waits, once an actor was lost, with no actor ready and no chunk out before it stops (a resume
    #: finishes the run)
    actor_wait_s: float = 600.0
    #: seconds the driver waits for the pool's first actor to load the model before it stops (a fresh node may download
    #: it); kept apart from ``actor_wait_s`` so that a short wait after a loss never cuts a slow start short
    start_wait_s: float = 600.0
    #: called in the driver as ``on_dispatch(chunk_number, node_id)`` right after a chunk is sent (tests time a lost node by it)
    on_dispatch: Callable[[int, str], None] | None = None

    def __post_init__(self) -> None:
        if self.actors is not None and (not isinstance(self.actors, int) or self.actors < 1):
            raise ConfigError(f"Ray actors must be a whole number ≥ 1, given {self.actors!r}.", source="--ray-actors",
                              fix="pass --ray-actors 1 or more, or leave it out (one per CPU/GPU).")
        if not self.max_attempts >= 1:
            raise ConfigError(f"max_attempts must be ≥ 1, given {self.max_attempts!r}.", source="RayOptions.max_attempts",
                              fix="pass 1 (no resend) or more.")
        for name in ("actor_wait_s", "start_wait_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0 seconds, given {getattr(self, name)!r}.", source=f"RayOptions.{name}",
                                  fix="pass a positive number of seconds, e.g. 600.")
        for name, amount in (self.resources_per_actor or {}).items():
            if not isinstance(name, str) or name in ("CPU", "GPU") or not isinstance(amount, (int, float)) or amount <= 0:
                raise ConfigError(f"custom Ray resource {name!r}: {amount!r} is not a custom resource name with a positive amount.",
                                  source="RayOptions.resources_per_actor",
                                  fix="name resources the nodes offer (e.g. {'scorer': 1}); set CPUs and GPUs with cpus_per_actor/gpus_per_actor.")


def import_ray():
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            "the Ray engine needs Ray, which is not installed.",
            source="--engine ray",
            fix="pip install 'ray[data]' (or pip install -e '.[ray]'), or run with --engine local.",
        ) from exc
    return ray


def ray_temperature_error() -> ConfigError:
    return ConfigError("a temperature cannot be applied by the Ray engine yet (its actors load their own model).",
                       source="temperature", fix="run with --engine local, or without --temperature.")


def settle_for_ray(ref: ModelRef, precision: dict, temperature: float | None = None) -> tuple[ModelRef, dict]:
    """What the Ray engine cannot do, refused before any work: a temperature, the ONNX Runtime paths (its actors
    load their own PyTorch model); and a measured ``auto`` becomes a rule (:func:`static_cpu_choice`), since the
    actors, not this process, load the model.  Also checks that Ray is installed."""
    if temperature is not None or ref.temperature is not None:
        raise ray_temperature_error()
    chosen, reason = precision["chosen"], precision["reason"]
    if chosen == MEASURED:  # the actors load the model: a rule, not a measurement, here
        chosen, reason = static_cpu_choice()
    if chosen.startswith("onnx-"):
        raise ConfigError(f"--dtype {chosen} runs ONNX Runtime in this process; the Ray engine's actors run PyTorch.",
                          source="--engine ray", fix=f"use --engine local with --dtype {chosen}, or another --dtype with Ray.")
    import_ray()  # fail before any work when Ray is missing
    return replace(ref, dtype=chosen), {**precision, "chosen": chosen, "reason": reason}


#: test-only: a folder where every actor waits, before it scores a chunk, for the test's verdict on that chunk
#: (:func:`_wait_at_gate`), so that a test decides which chunks come back instead of racing the cluster.  Never set
#: outside the tests (the cluster tests set it for the nodes they start); unset, the actors score at once.
TEST_GATE_ENV = "WORKBENCH_RAY_TEST_GATE"


def gate_key(item_id: str) -> str:
    """The name a chunk has at the test gate: a hash of its first item's id (ids are data, never file names)."""
    import hashlib

    return hashlib.sha256(str(item_id).encode("utf-8")).hexdigest()[:16]


def _wait_at_gate(folder: str, work: list) -> None:
    """Hold a chunk at the test gate ``folder`` (:data:`TEST_GATE_ENV`) until the test gives its verdict.

    The actor leaves ``arrived-<key>-<pid>`` there, then waits for ``open`` (every chunk passes), ``pass-<key>``
    (this chunk passes) or ``die-<key>`` (the actor's process exits at once, as a killed one would).  With none of
    them it keeps waiting: a chunk held on a node that the test removes can never come back, so its loss is
    certain whatever the machine's speed.  ``<key>`` is :func:`gate_key` of the chunk's first item.
    """
    import time

    key = gate_key(work[0].item.id)
    files.write_text(os.path.join(folder, f"arrived-{key}-{os.getpid()}"), "", root=folder)
    while True:
        if os.path.exists(os.path.join(folder, f"die-{key}")):
            os._exit(17)  # noqa: SLF001  the test's stand-in for a killed process: no clean-up, no reply
        if os.path.exists(os.path.join(folder, "open")) or os.path.exists(os.path.join(folder, f"pass-{key}")):
            return
        time.sleep(0.02)  # polls the folder for the verdict (an event), however long the test takes to give it


class _ChunkWorker:
    """A Ray actor: loads the model once, then scores whole chunks with the local engine."""

    def __init__(self, model: ModelRef, audio_config: Any, diagnostics: Any, cache_dir: str | None, frame_embeddings: bool):
        self.net = model.load()
        # decoding runs in the actor itself: the cluster's CPUs are shared out by Ray, not by a pool of our own
        self.engine = Engine(self.net, audio_config=audio_config, diagnostics=diagnostics,
                             cache=PredictionCache(cache_dir) if cache_dir else None, frame_embeddings=frame_embeddings, workers=0)
        self.host = f"{os.uname().nodename}:{os.getpid()}"

    def where(self) -> dict:
        """The node this actor runs on and its model's provenance: the driver's readiness probe."""
        import ray

        return {"node": ray.get_runtime_context().get_node_id(), "worker": self.host, "model": self.net.info.to_dict(),
                "identity_files": getattr(self.net.info, "identity_files", None) or identity_files(self.net.info.path)}  # which file differs

    def score(self, blob: bytes) -> bytes:
        work = pickle.loads(blob)
        gate = os.environ.get(TEST_GATE_ENV)
        if gate:
            _wait_at_gate(gate, work)
        scored = [s for chunk in self.engine.score(work, chunk_size=max(1, len(work))) for s in chunk]
        return pickle.dumps({"result": scored, "worker": self.host}, protocol=pickle.HIGHEST_PROTOCOL)


def local_cluster_options() -> dict[str, Any]:
    """``ray.init`` keywords for a local cluster the workbench starts, so it is not opened to the machine's neighbours.

    * ``_node_ip_address="127.0.0.1"``: the node registers under the loopback address, so its workers and the
      driver talk over loopback (a cluster spanning machines is the user's choice: ``--ray-address``).  Ray 2.60's
      gRPC servers still bind the wildcard address whatever the node address (measured: 5 listening sockets on
      ``*`` for a one-CPU node; Ray has no option for it), so the token below is what keeps other machines out;
    * ``_temp_dir``: a folder made for this run (``mkdtemp``) instead of the shared ``/tmp/ray``; Ray makes it
      0777 and some session folders 0777, which :func:`_close_session_folders` sets back to 0700 / no group or
      world write once the node is up;
    * the token file ``~/.ray/auth_token`` exists with mode 0600 before Ray reads it (:func:`secure_token_file`).
    """
    import tempfile

    secure_token_file()
    return {"_node_ip_address": "127.0.0.1", "_temp_dir": tempfile.mkdtemp(prefix="wb-ray-")}


def token_file() -> "os.PathLike[str]":
    from pathlib import Path

    return Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")


def secure_token_file() -> None:
    """Make sure Ray's token file is readable by this user only (0600), creating it (256 random bits) when missing.

    Ray itself writes a missing token with the default umask (0644 here: any local user could read it and join
    the cluster).  A token given in ``RAY_AUTH_TOKEN`` needs no file.  A token file that is a symbolic link is
    refused (it would be chmod-ed or read elsewhere).
    """
    import secrets
    import stat

    if os.environ.get("RAY_AUTH_TOKEN"):
        return
    path = token_file()
    if files.is_link(path):
        raise ConfigError("Ray's token file is a symbolic link.", source=str(path),
                          fix="delete the link; the workbench creates the token file (mode 0600) itself.")
    folder = path.parent
    files.ensure_folder(folder)
    if os.path.exists(path):
        mode = stat.S_IMODE(os.stat(path).st_mode)
        if mode & 0o077:
            os.chmod(path, 0o600)
            logger.warning("Ray's token file %s was readable by other users (mode %o); it is now 0600.", path, mode)
        return
    files.write_text(path, secrets.token_hex(32), mode=0o600)
    with contextlib.suppress(OSError):
        if stat.S_IMODE(os.stat(folder).st_mode) & 0o077 and os.stat(folder).st_uid == os.getuid():
            os.chmod(folder, 0o700)


def _close_session_folders(temp_dir: str) -> None:
    """``temp_dir`` back to 0700 and no group/world write on the folders Ray made in it (Ray makes them 0777)."""
    import stat

    with contextlib.suppress(OSError):
        os.chmod(temp_dir, 0o700)
    for dirpath, dirnames, _ in os.walk(temp_dir):
        for name in dirnames:
            p = os.path.join(dirpath, name)
            with contextlib.suppress(OSError):
                st = os.lstat(p)
                if stat.S_ISDIR(st.st_mode) and st.st_mode & 0o022:
                    os.chmod(p, stat.S_IMODE(st.st_mode) & ~0o022)


def _token_auth_enabled() -> bool:
    try:
        from ray._private.authentication.authentication_utils import is_token_auth_enabled
    except ImportError:  # a Ray without token authentication
        return False
    return bool(is_token_auth_enabled())


def run_chunks(chunks: list[list], *, model: ModelRef,
               audio_config: Any, diagnostics: Any, cache_dir: str | None, frame_embeddings: bool,
               options: RayOptions | None = None, info: dict | None = None,
               expect_model: dict | None = None) -> Iterator[list]:
    """Yield the engine's results (a list of :class:`~workbench.engine.core.Scored`) for each chunk of
    :class:`~workbench.engine.core.WorkItem`, in the order they finish on the cluster.

    ``info`` (a dict) is filled with the actors' model provenance and the workers that ran.
    ``expect_model``: the model the driver described from the checkpoint's files (:func:`.ray_identity.expected_model`:
    its identity, weights' sha256); an actor whose model differs is refused (the actors load the model; the driver
    never builds the network).
    """
    ray = import_ray()
    options = options or RayOptions()
    if not chunks:  # a finished run resumed: nothing to send, no cluster to start
        return
    started_here = False if ray.is_initialized() else _start_or_join(ray, options)
    try:
        actors, gpus, cuda = _pool_size(ray.cluster_resources(), options, model, len(chunks))
        worker_cls = ray.remote(_ChunkWorker).options(
            num_cpus=options.cpus_per_actor, num_gpus=gpus, resources=dict(options.resources_per_actor or {}) or None,
            # a lost actor comes back by itself where the cluster has room; its chunk is sent again by the driver
            max_restarts=-1, max_task_retries=0)
        # the identity is checked by the driver on each actor's readiness probe (expect_model), not by a failing load
        kwargs = dict(model=replace(model, device="cuda" if cuda else model.device, checksum=None),
                      audio_config=audio_config, diagnostics=diagnostics, cache_dir=cache_dir, frame_embeddings=frame_embeddings)
        yield from _schedule(ray, [worker_cls.remote(**kwargs) for _ in range(actors)], chunks, options, info, expect_model)
    finally:
        if started_here:
            ray.shutdown()


def _start_or_join(ray: Any, options: RayOptions) -> bool:
    """``ray.init`` the cluster ``options`` name, or a local one secured as :func:`local_cluster_options` says.

    Returns ``True`` (this run started or joined it, so it shuts it down at the end)."""
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
        init_kwargs.update(local_cluster_options())
    for attempt in (1, 2):
        try:
            ray.init(**init_kwargs)
            break
        except Exception as exc:  # a wrong address, a version mismatch, no room for a local cluster
            # a local node whose agents start slower than its raylet waits for them (a busy machine: seen at load
            # average 13-17 on 2 cores) fails once and usually starts the second time
            if starting_local and attempt == 1 and "timed out during startup" in str(exc):
                logger.info("the local Ray node timed out during startup; starting it again")
                ray.shutdown()
                continue
            raise ConfigError(f"could not start or join a Ray cluster: {type(exc).__name__}: {exc}",
                              source=str(options.address or os.environ.get("RAY_ADDRESS") or "local"),
                              fix="check --ray-address (and that the cluster runs the same Ray and Python), or use --engine local.") from exc
    if starting_local:
        _close_session_folders(init_kwargs["_temp_dir"])
        if not _token_auth_enabled():
            ray.shutdown()
            raise ConfigError("the local Ray cluster started without token authentication.", source="ray",
                              fix="use Ray 2.52 or newer (token authentication), or pass --ray-address to a cluster you secured.")
    return True


def _pool_size(resources: dict, options: RayOptions, model: ModelRef, n_chunks: int) -> tuple[int, float, bool]:
    """(actors, GPUs per actor, whether they use CUDA) for a cluster offering ``resources``; refuses what cannot run."""
    device, dtype = model.device, model.dtype
    cuda = device.startswith("cuda") or (device == "auto" and resources.get("GPU", 0) > 0)
    gpus = options.gpus_per_actor if options.gpus_per_actor is not None else (1.0 if cuda else 0.0)
    if options.actors:
        actors = options.actors
    elif gpus > 0:
        actors = max(1, int(resources.get("GPU", 0) // gpus))
    else:
        actors = max(1, int(resources.get("CPU", 1) // max(options.cpus_per_actor, 1e-9)))
    actors = max(1, min(actors, n_chunks))
    if cuda and dtype == "int8":
        raise ConfigError("int8 dynamic quantisation runs on the CPU only, and this run's actors would use CUDA.",
                          source="--dtype int8", fix="use --dtype bfloat16 on GPUs, or --device cpu for int8 actors.")
    if cuda and resources.get("GPU", 0) < gpus * actors:
        raise ConfigError(f"the run asks for {actors} actor(s) × {gpus:g} GPU but the cluster has {resources.get('GPU', 0):g} GPU.",
                          source=str(options.address or "local"), fix="lower --ray-actors, or run with --device cpu.")
    logger.info("ray engine: %d chunk(s) over %d actor(s) (%g CPU, %g GPU each); cluster %s",
                n_chunks, actors, options.cpus_per_actor, gpus, {k: resources[k] for k in ("CPU", "GPU") if k in resources})
    return actors, gpus, cuda


# how the driver sees an actor: probing (its readiness probe is out), ready (idle), busy (a chunk is out), gone
_PROBING, _READY, _BUSY, _GONE = "probing", "ready", "busy", "gone"
#: probes in a row that may fail (node lost, actor restarting) before an actor slot is given up; a failed probe
#: is sent again after 1, 2, 4, 8, then every 10 s: about a minute for Ray to restart the actor elsewhere
_PROBE_FAILURES = 8


def _schedule(ray: Any, handles: list, chunks: list[list], options: RayOptions, info: dict | None,
              expect_model: dict | None) -> Iterator[list]:
    """Send chunks to actors one at a time and yield each chunk's results once, in the order they come back.

    The driver is the only one that knows which chunks are finished: a chunk counts as done when
    its results reach the driver (which then writes them), never before.  Work is sent only when
    the generator is resumed, that is after the caller has written the chunk yielded last: every
    chunk that came back is a part on disk before more work goes out.  A chunk whose actor
    is lost (its node removed, its process killed) is sent again, to whichever actor is ready;
    Ray restarts the lost actor where the cluster has room (``max_restarts=-1``), and the driver
    probes it before it gets work again.  A result that comes back for a chunk already
    finished (possible only after a resend) is dropped, so each (item, variant) is yielded once.
    """
    book = _Book(ray, handles, chunks, options, info, expect_model)
    try:
        while not book.all_finished():
            book.dispatch()
            ref = book.next_answer()
            if ref is None:
                continue
            rows = book.receive(ref)
            if rows is not None:
                yield rows
    finally:
        for h in handles:  # the actors end with the run, on a cluster the run joined too
            try:
                ray.kill(h, no_restart=True)
            except Exception:  # noqa: BLE001  an actor already gone
                pass


class _Book:
    """The driver's account of a pool of actors and the chunks they score (see :func:`_schedule`)."""

    def __init__(self, ray: Any, handles: list, chunks: list[list], options: RayOptions, info: dict | None,
                 expect_model: dict | None):
        import time
        from collections import deque

        self.ray, self.handles, self.chunks, self.options = ray, handles, chunks, options
        self.info, self.expect_model = info, expect_model
        self.pending = deque(range(len(chunks)))
        self.attempts = [0] * len(chunks)
        self.finished: set[int] = set()
        self.state = [_PROBING] * len(handles)
        self.probe_failures = [0] * len(handles)
        self.retry_at: dict[int, float] = {}  # slot -> when to probe it again
        self.node = [""] * len(handles)
        self.out: dict[Any, tuple[str, int, int]] = {}  # object ref -> ("probe" | "chunk", actor slot, chunk number)
        self.blobs = [pickle.dumps(c, protocol=pickle.HIGHEST_PROTOCOL) for c in chunks]
        self.workers: set[str] = set()
        self.nodes: set[str] = set()
        self.resent = 0
        self.lost_any = False  # until an actor is lost, the wait for one is the start's (models loading), not the loss's
        self.t_start = time.monotonic()
        if info is not None:
            info.update(actors=len(handles), resent_chunks=0)
        for slot in range(len(handles)):
            self.probe(slot)

    def all_finished(self) -> bool:
        return len(self.finished) == len(self.chunks)

    def probe(self, slot: int) -> None:
        self.state[slot] = _PROBING
        self.out[self.handles[slot].where.remote()] = ("probe", slot, -1)

    def dispatch(self) -> None:
        """Every ready actor gets the next chunk still to do; actors whose probe is due are probed again."""
        import time

        for slot in range(len(self.handles)):
            while self.pending and self.pending[0] in self.finished:
                self.pending.popleft()
            if self.state[slot] == _READY and self.pending:
                k = self.pending.popleft()
                self.attempts[k] += 1
                self.state[slot] = _BUSY
                self.out[self.handles[slot].score.remote(self.blobs[k])] = ("chunk", slot, k)
                if self.options.on_dispatch is not None:
                    self.options.on_dispatch(k, self.node[slot])
        now = time.monotonic()
        for slot, when in list(self.retry_at.items()):
            if when <= now:
                del self.retry_at[slot]
                self.probe(slot)

    def next_answer(self) -> Any:
        """The next probe or chunk that answered, or ``None`` when a probe is due first; stops the run when no
        actor is left or none answered in time (the finished rows are written: a resume finishes the run)."""
        import time

        now = time.monotonic()
        left = len(self.chunks) - len(self.finished)
        if not self.out and self.retry_at:
            time.sleep(max(0.0, min(self.retry_at.values()) - now))  # until the next probe is due
            return None
        if not self.out:
            raise ConfigError(
                f"every Ray actor was lost and none could be restarted; {left} chunk(s) are not done.",
                source=str(self.options.address or "ray"),
                fix="the finished rows are saved: run the same command again (it resumes) once the cluster has room for the actors.")
        wait_limit, waited_for = ((self.options.actor_wait_s, "after an actor was lost") if self.lost_any
                                  else (self.options.start_wait_s, "of the start (loading the model)"))
        wait_s = wait_limit if not self.retry_at else max(0.05, min(self.retry_at.values()) - now)
        ready, _ = self.ray.wait(list(self.out), num_returns=1, timeout=wait_s)
        if ready:
            return ready[0]
        if self.retry_at or any(kind == "chunk" for kind, _, _ in self.out.values()):
            return None  # a probe is due, or a chunk is still being scored: long chunks are not a fault
        raise ConfigError(
            f"no Ray actor became ready within {wait_limit:g} s {waited_for}; {left} chunk(s) are not done.",
            source=str(self.options.address or "ray"),
            fix="the finished rows are saved: check the cluster's resources (a lost node, actors asking for resources no node "
                "offers), then run the same command again (it resumes).")

    def receive(self, ref: Any) -> list | None:
        """Take one answer: a chunk's results to yield (once per chunk), or ``None`` (a probe, a loss, a repeat)."""
        from ray.exceptions import GetTimeoutError, RayActorError, RayError, RayTaskError

        kind, slot, k = self.out.pop(ref)
        try:
            blob = self.ray.get(ref)
        except RayTaskError as exc:
            cause = exc.as_instanceof_cause()
            if isinstance(cause, WorkbenchError) or isinstance(getattr(exc, "cause", None), WorkbenchError):
                raise exc.cause from None  # the model cannot load on the actor: the same error as locally
            raise
        except (RayActorError, GetTimeoutError, RayError) as exc:
            return self._lost_actor(kind, slot, k, exc)
        if kind == "probe":
            self._probe_answered(slot, blob)
            return None
        self.state[slot] = _READY
        if k in self.finished:
            return None  # a resent chunk came back twice: its rows were already yielded
        self.finished.add(k)
        msg = pickle.loads(blob)
        self.workers.add(msg["worker"])
        self.nodes.add(self.node[slot])
        if self.info is not None:
            self.info["workers"] = sorted(self.workers)
            self.info["nodes"] = sorted(self.nodes)
        return msg["result"]

    def _probe_answered(self, slot: int, where: dict) -> None:
        import time

        check_actor_model(self.expect_model, where)  # its identity (weights, config, tokens, card), else its checksum
        if not self.node[slot]:
            logger.info("ray engine: actor %d ready on node %s, %.1f s after the start", slot, where["node"][:12],
                        time.monotonic() - self.t_start)
        self.node[slot] = where["node"]
        self.probe_failures[slot] = 0
        self.state[slot] = _READY
        if self.info is not None:
            self.info["model"] = where["model"]

    def _lost_actor(self, kind: str, slot: int, k: int, exc: Exception) -> list | None:
        """An actor did not answer (its node or process is gone): its chunk goes out again, or after ``max_attempts``
        losses its rows are returned as failed (:class:`ActorLostError`); the slot is probed again with a back-off."""
        import time

        if getattr(exc, "actor_init_failed", False):
            # the actor's __init__ raised: the model does not load on that node, which no resend fixes
            lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
            raise ModelError(f"a Ray actor could not load the model: {lines[-1][:300] if lines else type(exc).__name__}",
                             source=self.node[slot] or "ray actor",
                             fix="check that every node has the workbench and the checkpoint at the same path "
                                 "(or the hub cache), then run the same command again (it resumes).") from None
        # the actor or its node is gone: the chunk was not acknowledged, so it is sent again
        self.lost_any = True
        logger.warning("ray engine: actor %d on node %s lost (%s: %s)", slot, self.node[slot][:12] or "?", type(exc).__name__,
                       str(exc).splitlines()[0][:200] if str(exc) else "")
        failed = None
        if kind == "chunk":
            if self.attempts[k] >= self.options.max_attempts:
                self.finished.add(k)
                failed = [_lost(w, v, self.attempts[k]) for w in self.chunks[k] for v in w.variants]
            else:
                self.resent += 1
                self.pending.appendleft(k)
            self.probe_failures[slot] = 0
        else:
            self.probe_failures[slot] += 1
        if self.probe_failures[slot] >= _PROBE_FAILURES:
            self.state[slot] = _GONE
        elif self.probe_failures[slot] == 0:
            self.probe(slot)  # straight after a lost chunk: Ray may already have restarted it
        else:
            self.state[slot] = _PROBING
            self.retry_at[slot] = time.monotonic() + min(2.0 ** (self.probe_failures[slot] - 1), 10.0)
        if self.info is not None:
            self.info["resent_chunks"] = self.resent
        return failed


class ActorLostError(ModelError):
    """The Ray actor scoring an item was lost ``max_attempts`` times: a fault of the cluster, not of the item, so the
    run keeps the row as failed and a resume of the same run folder scores it again."""

    code = "actor_lost"


def _lost(work: WorkItem, variant: Any, attempts: int) -> Scored:
    """The failed result of one (item, variant) whose chunk lost its actor at each of ``attempts`` sends."""
    source = str(work.source) if isinstance(work.source, (str, os.PathLike)) else str(work.item.id)
    err = ActorLostError(f"the Ray actor scoring this item was lost {attempts} times (node removed or process killed).",
                         source=source,
                         fix="check the cluster's nodes, then run the same command again: a resume scores these rows again.")
    return Scored(work.item, variant, error=error_dict(err, source))
