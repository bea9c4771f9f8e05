"""The Ray engine on a multi-node cluster simulated on this machine (``ray.cluster_utils.Cluster``).

A head node without CPUs (the driver's) and three worker nodes of one CPU each, each offering one
``scorer`` resource: two actors ask for one each, so they sit on two different nodes and the third
node is room for an actor that lost its node.  Object stores are kept at 80 MB per node (the build
machine has 2 cores and little memory to spare).  Marked slow: the nine tests took 6 minutes in a run of the whole
slow suite on 2 shared cores (load average 6-12), 31 s of it starting the cluster; the loss tests (marked slow_ci too)
5 minutes.  Every actor waits at a gate (``WORKBENCH_RAY_TEST_GATE``) for the test's verdict on each chunk, so which
chunks come back and which are lost is the test's choice, not a race with the cluster.
"""

from __future__ import annotations

import os
import subprocess
import time
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest

from test_ray import VARIANTS, assert_same_results
from test_runs import make_dataset
from workbench.data.manifest import read_manifest
from workbench.engine.ray_executor import TEST_GATE_ENV, RayOptions, gate_key
from workbench.runs.driver import run

ray = pytest.importorskip("ray")

STORE = 80 * 1024 * 1024
pytestmark = pytest.mark.slow


def _processes_of(session_dir: str) -> list[str]:
    """Command lines of the running processes that belong to the Ray session in ``session_dir`` (raylets, GCS, workers)."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [line.strip() for line in out.splitlines() if session_dir in line and "ps -eo" not in line]


def _start(make, attempts: int = 3):
    """Start a node, again when it timed out: on a loaded 2-core machine a node's agents can take longer to come up than
    its raylet waits for them (seen at load average 13: "Timed out waiting for file .../dashboard_agent_listen_port")."""
    for attempt in range(attempts):
        try:
            return make()
        except Exception as exc:  # noqa: BLE001  Ray raises a bare Exception for a node that timed out during startup
            if "timed out during startup" not in str(exc) or attempt == attempts - 1:
                raise


#: how long a node may take to start: Ray waits 30 s, which a loaded 2-core machine overruns (seen at load average 12:
#: three head starts in a row "timed out during startup"; the raylet gave up "waiting for file .../metrics_agent_port")
NODE_REGISTRATION_S = 300.0


@contextmanager
def _patient_node_registration():
    """Give a starting node :data:`NODE_REGISTRATION_S` to come up, in both places Ray waits 30 s for it.

    The raylet waits for its agents' port files for ``RAY_raylet_start_wait_time_s`` (its environment, inherited from
    here); the Python side asks the GCS for the new node until it answers or a fixed 30 s have passed, so each of
    its questions here waits for the answer (the node registered).  A Ray without that function is left as it is."""
    from ray._private import services

    original = getattr(services, "get_node", None)

    def get_node(gcs_address, node_id):
        deadline = time.monotonic() + NODE_REGISTRATION_S
        while True:
            try:
                return original(gcs_address, node_id)
            except RuntimeError:  # not registered yet, or the GCS did not answer in time
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)  # poll interval

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_raylet_start_wait_time_s", str(int(NODE_REGISTRATION_S)))
        if original is not None:
            patch.setattr(services, "get_node", get_node)
        yield


class Gate:
    """The test's side of the gate where every actor waits before it scores a chunk
    (:func:`workbench.engine.ray_executor._wait_at_gate`): the test says which chunks pass, which are held (never
    to come back) and which kill their actor, instead of racing the cluster with timing."""

    def __init__(self, folder):
        self.folder = folder

    def reset(self) -> None:
        for p in self.folder.iterdir():
            p.unlink()
        self.open()

    def open(self) -> None:
        """Every chunk passes from now on, one that was to kill its actor too (the default: tests that do not time
        a loss do not notice the gate)."""
        for verdict in self.folder.glob("die-*"):
            verdict.unlink()
        (self.folder / "open").write_text("")

    def close(self) -> None:
        """From now on a chunk waits for its own verdict; without one it is held."""
        (self.folder / "open").unlink(missing_ok=True)

    def let_pass(self, first_item_id: str) -> None:
        (self.folder / f"pass-{gate_key(first_item_id)}").write_text("")

    def kill_at(self, first_item_id: str) -> None:
        (self.folder / f"die-{gate_key(first_item_id)}").write_text("")

    def arrivals(self, first_item_id: str) -> int:
        """How many times the chunk starting with this item reached an actor."""
        return len(list(self.folder.glob(f"arrived-{gate_key(first_item_id)}-*")))


@pytest.fixture(scope="module")
def _module_cluster(tmp_path_factory):
    from ray.cluster_utils import Cluster

    gate = Gate(tmp_path_factory.mktemp("gate"))
    gate.open()
    with _patient_node_registration(), pytest.MonkeyPatch.context() as patch:
        patch.setenv(TEST_GATE_ENV, str(gate.folder))  # the nodes started here (their raylets, their actors) inherit it
        yield from _cluster_for_the_module(Cluster, gate)


def _cluster_for_the_module(Cluster, gate: Gate):
    # no dashboard: one heavy process less on a 2-core machine, and the tests do not use it
    c = _start(lambda: Cluster(initialize_head=True, head_node_args=dict(num_cpus=0, object_store_memory=STORE,
                                                                         include_dashboard=False)))
    session_dir = c.head_node.get_session_dir_path()
    try:
        ray.init(address=c.address, log_to_driver=False)
        yield c, gate
    finally:
        gate.open()  # nothing waits at the gate after the tests
        ray.shutdown()
        c.shutdown()
        # no process of this cluster (raylet, GCS, worker) outlives the tests; other sessions' processes are not ours
        deadline = time.monotonic() + 20
        while _processes_of(session_dir) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _processes_of(session_dir) == []


@pytest.fixture
def cluster(_module_cluster):
    """The module's cluster with three scorer nodes (tests that remove nodes leave fewer; the next gets them back)."""
    c, _ = _module_cluster
    while len(c.worker_nodes) < 3:
        _start(lambda: c.add_node(num_cpus=1, object_store_memory=STORE, resources={"scorer": 1}))
    c.wait_for_nodes()
    return c, list(c.worker_nodes)


@pytest.fixture
def gate(_module_cluster):
    """The actors' gate, open at the start of each test (and after it)."""
    g = _module_cluster[1]
    g.reset()
    yield g
    g.open()


ACTORS = 2


def _options(**kw) -> RayOptions:
    return RayOptions(actors=ACTORS, cpus_per_actor=1, resources_per_actor={"scorer": 1}, **kw)


def _rows_once(df: pd.DataFrame) -> None:
    assert not df.duplicated(["id", "variant"]).any()


def _rows_on_disk(run_dir) -> set[tuple[str, str]]:
    """The (id, variant) rows of the parts in ``run_dir`` (each part is written whole, atomically)."""
    parts = sorted((run_dir / "parts").glob("part-*.parquet"))
    return {(str(i), str(v)) for p in parts for i, v in pd.read_parquet(p, columns=["id", "variant"]).itertuples(index=False)}


class _PartsBeforeDispatch:
    """``on_dispatch`` that checks that a chunk that came back is a part on disk before the driver sends more work.

    Each actor's first chunk follows its readiness probe; every later first send of a chunk follows a chunk that came
    back to that actor.  So the n-th chunk sent (resends not counted) follows at least n - actors returned chunks, and
    that many parts must be on disk by then.  ``late`` lists (chunks sent, parts written) where fewer were.
    """

    def __init__(self, run_dir, actors: int = ACTORS):
        self.run_dir, self.actors = run_dir, actors
        self.parts_before = len(list((run_dir / "parts").glob("part-*.parquet")))
        self.sent: list[int] = []
        self.late: list[tuple[int, int]] = []

    def __call__(self, chunk: int, node_id: str) -> None:
        if chunk in self.sent:
            return  # a resend follows a lost chunk, not one that came back
        self.sent.append(chunk)
        written = len(list((self.run_dir / "parts").glob("part-*.parquet"))) - self.parts_before
        if written < len(self.sent) - self.actors:
            self.late.append((len(self.sent), written))


def test_a_three_node_cluster_gives_the_local_engines_table(tmp_path, tiny_model, cluster):
    manifest = make_dataset(tmp_path, n=12, bad=True)  # 14 items: one undecodable, one without a label
    local = run(manifest, out_dir=tmp_path / "local", model=tiny_model, variants=VARIANTS, use_cache=False, chunk_size=2)
    watch = _PartsBeforeDispatch(tmp_path / "ray")
    remote = run(manifest, out_dir=tmp_path / "ray", model=tiny_model, variants=VARIANTS, use_cache=False, chunk_size=2,
                 engine="ray", ray_options=_options(on_dispatch=watch))
    assert len(watch.sent) == 7 and watch.late == []  # 14 items in chunks of 2
    a, b = local.results(), remote.results()
    assert len(b) == 28
    _rows_once(b)
    assert_same_results(a, b, np.load(tmp_path / "local" / "embeddings.npy"), np.load(tmp_path / "ray" / "embeddings.npy"))
    engine = remote.summary["engine"]
    # the actors ran on worker nodes, never on the CPU-less head (whether the second actor's model loaded in time to
    # take a chunk depends on the machine's load, so one or two nodes)
    workers = {w.node_id for w in cluster[1]}
    assert 1 <= len(engine["nodes"]) <= 2 and set(engine["nodes"]) <= workers
    assert engine["resent_chunks"] == 0


@pytest.mark.slow_ci
def test_a_node_lost_mid_run_loses_no_row_and_repeats_none(tmp_path, tiny_model, cluster, gate):
    c, workers = cluster
    manifest = make_dataset(tmp_path, n=12, bad=True)  # 14 items in 7 chunks of 2
    full = run(manifest, out_dir=tmp_path / "local", model=tiny_model, variants=VARIANTS, use_cache=False, chunk_size=2)
    ids = [it.id for it in read_manifest(manifest)]
    by_id = {w.node_id: w for w in workers}
    removed: list[str] = []
    sent: list[int] = []
    # every chunk passes the gate but the third, which is held: its node is removed while it waits, so it can never
    # come back from there (a certain loss, whatever the machine's speed); its resend passes
    gate.close()
    for k in range(7):
        if k != 2:
            gate.let_pass(ids[2 * k])

    def lose_a_node(chunk: int, node_id: str) -> None:
        sent.append(chunk)
        if chunk == 2 and not removed:
            removed.append(node_id)
            c.remove_node(by_id[node_id], allow_graceful=False)
        elif chunk == 2:
            gate.let_pass(ids[4])  # the resend: the first send was lost (the driver sends again only then)

    seen: list[int] = []
    res = run(manifest, out_dir=tmp_path / "ray", model=tiny_model, variants=VARIANTS, use_cache=False, chunk_size=2,
              engine="ray", ray_options=_options(on_dispatch=lose_a_node), hook=lambda *a, **k: seen.append(k["completed"]))
    assert removed and removed[0] in by_id
    assert sent.count(2) == 2 and sorted(set(sent)) == list(range(7))
    assert 1 <= gate.arrivals(ids[4]) <= 2  # held on the removed node (if it got there before the node went), then scored elsewhere
    got = res.results()
    _rows_once(got)
    assert len(got) == 28 and seen[-1] == 28
    assert_same_results(full.results(), got, np.load(tmp_path / "local" / "embeddings.npy"), np.load(tmp_path / "ray" / "embeddings.npy"))
    engine = res.summary["engine"]
    assert engine["resent_chunks"] == 1
    parts = pd.concat([pd.read_parquet(p) for p in (tmp_path / "ray" / "parts").glob("part-*.parquet")])
    assert len(parts) == 28
    _rows_once(parts)
    assert "1 chunk(s) sent again after their actor was lost" in (tmp_path / "ray" / "log.txt").read_text()


#: chunks written when every scorer node goes (8 rows in 4 chunks of 2): after the first, midway, after the last
LOSS_MOMENTS = {"after_the_first_chunk": 1, "midway": 2, "after_the_last_chunk_before_finalise": 4}


@pytest.mark.slow_ci
@pytest.mark.parametrize("moment", list(LOSS_MOMENTS))
def test_a_cluster_that_loses_every_scorer_stops_and_the_same_command_resumes(moment, tmp_path, tiny_model, cluster, gate):
    from workbench.errors import ConfigError

    c, _ = cluster
    manifest = make_dataset(tmp_path, n=8, bad=False)
    ids = [it.id for it in read_manifest(manifest)]
    full = run(manifest, out_dir=tmp_path / "local", model=tiny_model, use_cache=False, chunk_size=2)
    out = tmp_path / "ray"
    written = LOSS_MOMENTS[moment]
    # the first chunks pass the gate, the others are held there: they can only be lost with their nodes, never come
    # back, however fast the machine (chunks go out in order: chunk k starts with item 2k)
    gate.close()
    for k in range(written):
        gate.let_pass(ids[2 * k])
    written_at_loss: list[set] = []
    chunks_written: list[int] = []
    removed: list[str] = []

    def lose_every_scorer(step, rows, completed, total):
        # the driver calls this once a chunk is a part on disk: the event the loss is timed by, whatever the load
        chunks_written.append(completed)
        if len(chunks_written) == written:
            written_at_loss.append(_rows_on_disk(out))
            for w in list(c.worker_nodes):
                removed.append(w.node_id)
                c.remove_node(w, allow_graceful=False)

    first = _PartsBeforeDispatch(out)
    # actor_wait_s bounds the wait once an actor is lost (no node can take one back: the wait always ends in a stop);
    # the start keeps its own wait (start_wait_s, 600 s), so a slow model load on a loaded machine is never taken for a loss
    options = dict(actor_wait_s=10, on_dispatch=first)
    expected = {(i, "raw") for i in ids[: 2 * written]}
    if moment == "after_the_last_chunk_before_finalise":
        # nothing is left to score: the loss cannot stop the run, which finalises every row, none sent twice
        res = run(manifest, out_dir=out, model=tiny_model, use_cache=False, chunk_size=2, engine="ray",
                  ray_options=_options(**options), hook=lose_every_scorer)
        assert written_at_loss == [expected] == [_rows_on_disk(out)]
        assert res.n_rows == 8 and res.summary["engine"]["resent_chunks"] == 0
    else:
        with pytest.raises(ConfigError, match="actor was lost") as exc:
            run(manifest, out_dir=out, model=tiny_model, use_cache=False, chunk_size=2, engine="ray",
                ray_options=_options(**options), hook=lose_every_scorer)
        assert "run the same command again" in exc.value.fix
        # the run stopped because of the loss, detected by the driver itself (every actor lost, or its wait after a lost
        # actor ran out):
        # exactly the chunks written up to the loss are on disk; the held ones were lost with their nodes, which
        # the cluster now reports dead
        assert written_at_loss == [expected] == [_rows_on_disk(out)]
        dead = {n["NodeID"] for n in ray.nodes() if not n["Alive"]}
        assert set(removed) <= dead and len(removed) == 3
        assert f"stopped with {len(expected)} rows finished" in (out / "log.txt").read_text()
        for _ in range(2):  # new nodes join
            _start(lambda: c.add_node(num_cpus=1, object_store_memory=STORE, resources={"scorer": 1}))
        c.wait_for_nodes()
    gate.open()
    # the same command resumes every row that was written and scores only the others (after the last chunk: none,
    # and no scorer node is needed)
    again = _PartsBeforeDispatch(out)
    res = run(manifest, out_dir=out, model=tiny_model, use_cache=False, chunk_size=2, engine="ray",
              ray_options=_options(on_dispatch=again))
    assert res.n_resumed == len(expected) and res.n_rows == 8 and res.n_failed == 0
    assert res.summary["computed_this_run"] == 8 - len(expected)
    assert first.late == [] and again.late == []
    got = res.results()
    _rows_once(got)
    assert_same_results(full.results(), got, np.load(tmp_path / "local" / "embeddings.npy"), np.load(out / "embeddings.npy"))
    parts = pd.concat([pd.read_parquet(p) for p in (out / "parts").glob("part-*.parquet")])
    assert len(parts) == 8
    _rows_once(parts)


@pytest.mark.slow_ci
def test_a_chunk_lost_at_every_attempt_is_kept_as_failed_and_a_resume_scores_it_again(tmp_path, tiny_model, cluster, gate):
    manifest = make_dataset(tmp_path, n=8, bad=False)
    ids = [it.id for it in read_manifest(manifest)]
    full = run(manifest, out_dir=tmp_path / "local", model=tiny_model, use_cache=False, chunk_size=2)
    out = tmp_path / "ray"
    # the actor that takes the second chunk dies each time (its process exits, as a killed one would); Ray restarts
    # it, the driver sends the chunk again, up to max_attempts; every other chunk passes
    gate.close()
    for k in (0, 2, 3):
        gate.let_pass(ids[2 * k])
    gate.kill_at(ids[2])
    res = run(manifest, out_dir=out, model=tiny_model, use_cache=False, chunk_size=2, engine="ray",
              ray_options=_options(max_attempts=3))
    assert gate.arrivals(ids[2]) == 3  # three actors (three processes) took it, and each died
    assert res.n_rows == 8 and res.n_failed == 2 and res.summary["engine"]["resent_chunks"] == 2
    table = res.results()
    lost = table[table["status"] != "ok"]
    assert sorted(lost["id"]) == sorted(ids[2:4])
    assert (lost["error_code"] == "actor_lost").all() and lost["error"].str.contains("was lost 3 times").all()
    assert "run the same command again" in lost["error"].iloc[0]
    # the same command scores those two rows again (the actors live now) and keeps the six that were scored
    gate.open()
    again = run(manifest, out_dir=out, model=tiny_model, use_cache=False, chunk_size=2, engine="ray", ray_options=_options())
    assert again.n_resumed == 6 and again.summary["computed_this_run"] == 2
    assert again.n_rows == 8 and again.n_failed == 0
    got = again.results()
    _rows_once(got)
    assert_same_results(full.results(), got, np.load(tmp_path / "local" / "embeddings.npy"), np.load(out / "embeddings.npy"))
    assert "a fault of the machinery that a resume retries" in (out / "log.txt").read_text()


def test_the_driver_never_builds_the_network(tmp_path, tiny_model, cluster, monkeypatch):
    import torch

    import workbench.model.network as model_module

    manifest = make_dataset(tmp_path, n=4, bad=False)
    built: list[str] = []
    original = torch.nn.Module.__init__

    def counting_init(self, *a, **k):
        built.append(type(self).__name__)
        original(self, *a, **k)

    def no_load(*a, **k):
        raise AssertionError("the driver loaded the model")

    monkeypatch.setattr(model_module, "_load", no_load)
    monkeypatch.setattr(torch.nn.Module, "__init__", counting_init)
    res = run(manifest, out_dir=tmp_path / "ray", model=tiny_model.info.path, use_cache=False, chunk_size=2, engine="ray",
              ray_options=_options())
    assert built == [] and res.n_rows == 4 and res.n_failed == 0
    # the checksum the driver hashed from the file is the one the actors' model reports
    assert res.summary["model"]["checksum"] == tiny_model.info.checksum
    scores = [col for col in res.results().columns if col.startswith("score_")]
    local = run(manifest, out_dir=tmp_path / "local", model=tiny_model, use_cache=False, chunk_size=2).results()
    np.testing.assert_allclose(res.results()[scores].astype(float), local[scores].astype(float), atol=1e-5, rtol=0)
    assert os.getpid() not in {int(w.split(":")[1]) for w in res.summary["engine"]["workers"]}


def test_an_actor_that_cannot_load_the_model_stops_the_run_with_that_error(tmp_path, tiny_model, cluster):
    import shutil

    from workbench.model.checkpoints import weights_file
    from workbench.errors import ModelError

    manifest = make_dataset(tmp_path, n=4, bad=False)
    broken = tmp_path / "broken-checkpoint"
    shutil.copytree(tiny_model.info.path, broken)
    weights = weights_file(broken)
    # the driver hashes it; an actor cannot read it.  Its size is kept: a truncated file is refused by the driver
    # already (the config implies more parameters than the weights file can hold), before any actor starts
    raw = bytearray(weights.read_bytes())
    raw[:1000] = bytes(1000)
    weights.write_bytes(bytes(raw))
    with pytest.raises(ModelError, match="a Ray actor could not load the model") as exc:
        run(manifest, out_dir=tmp_path / "ray", model=str(broken), use_cache=False, chunk_size=2, engine="ray",
            ray_options=_options())
    assert "same path" in exc.value.fix
