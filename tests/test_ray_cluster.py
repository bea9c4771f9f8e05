"""The Ray engine on a multi-node cluster simulated on this machine (``ray.cluster_utils.Cluster``).

A head node without CPUs (the driver's) and three worker nodes of one CPU each, each offering one
``scorer`` resource: two actors ask for one each, so they sit on two different nodes and the third
node is room for an actor that lost its node.  Object stores are kept at 80 MB per node (the build
machine has 2 cores and little memory to spare).  Marked slow: the five tests took 246–459 s on 2 cores
shared with other sessions (load average 8–17), 31–102 s of it starting the cluster.
"""

from __future__ import annotations

import os
import subprocess
import time

import numpy as np
import pandas as pd
import pytest

from test_ray import VARIANTS, assert_same_results
from test_runs import make_dataset
from workbench.engine.ray_executor import RayOptions
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


@pytest.fixture(scope="module")
def _module_cluster():
    from ray.cluster_utils import Cluster

    c = _start(lambda: Cluster(initialize_head=True, head_node_args=dict(num_cpus=0, object_store_memory=STORE)))
    session_dir = c.head_node.get_session_dir_path()
    try:
        ray.init(address=c.address, log_to_driver=False)
        yield c
    finally:
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
    c = _module_cluster
    while len(c.worker_nodes) < 3:
        _start(lambda: c.add_node(num_cpus=1, object_store_memory=STORE, resources={"scorer": 1}))
    c.wait_for_nodes()
    return c, list(c.worker_nodes)


def _options(**kw) -> RayOptions:
    return RayOptions(actors=2, cpus_per_actor=1, resources_per_actor={"scorer": 1}, **kw)


def _rows_once(df: pd.DataFrame) -> None:
    assert not df.duplicated(["id", "variant"]).any()


def test_a_three_node_cluster_gives_the_local_engines_table(tmp_path, tiny_model, cluster):
    manifest = make_dataset(tmp_path, n=12, bad=True)  # 14 items: one undecodable, one without a label
    local = run(manifest, out_dir=tmp_path / "local", model=tiny_model, variants=VARIANTS, use_cache=False, chunk_size=2)
    remote = run(manifest, out_dir=tmp_path / "ray", model=tiny_model, variants=VARIANTS, use_cache=False, chunk_size=2,
                 engine="ray", ray_options=_options())
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


def test_a_node_lost_mid_run_loses_no_row_and_repeats_none(tmp_path, tiny_model, cluster):
    c, workers = cluster
    manifest = make_dataset(tmp_path, n=12, bad=True)
    full = run(manifest, out_dir=tmp_path / "local", model=tiny_model, variants=VARIANTS, use_cache=False, chunk_size=2)
    by_id = {w.node_id: w for w in workers}
    removed: list[str] = []
    sent: list[int] = []

    def lose_a_node(chunk: int, node_id: str) -> None:
        # the third chunk out goes to a node that is then removed at once: that chunk was not acknowledged
        sent.append(chunk)
        if len(sent) == 3 and not removed:
            removed.append(node_id)
            c.remove_node(by_id[node_id], allow_graceful=False)

    seen: list[int] = []
    res = run(manifest, out_dir=tmp_path / "ray", model=tiny_model, variants=VARIANTS, use_cache=False, chunk_size=2,
              engine="ray", ray_options=_options(on_dispatch=lose_a_node), hook=lambda *a, **k: seen.append(k["completed"]))
    assert removed and removed[0] in by_id
    got = res.results()
    _rows_once(got)
    assert len(got) == 28 and seen[-1] == 28
    assert_same_results(full.results(), got, np.load(tmp_path / "local" / "embeddings.npy"), np.load(tmp_path / "ray" / "embeddings.npy"))
    # the lost chunk was sent again, and the parts hold each row once (one part per acknowledged chunk)
    engine = res.summary["engine"]
    assert engine["resent_chunks"] >= 1
    parts = pd.concat([pd.read_parquet(p) for p in (tmp_path / "ray" / "parts").glob("part-*.parquet")])
    assert len(parts) == 28
    _rows_once(parts)
    assert "sent again after their actor was lost" in (tmp_path / "ray" / "log.txt").read_text()


def test_a_cluster_that_loses_every_scorer_stops_and_the_same_command_resumes(tmp_path, tiny_model, cluster):
    c, workers = cluster
    manifest = make_dataset(tmp_path, n=8, bad=False)
    full = run(manifest, out_dir=tmp_path / "local", model=tiny_model, use_cache=False, chunk_size=2)
    done: list[int] = []

    def lose_all_nodes(step, rows, completed, total):
        done.append(completed)
        if len(done) == 1:  # one chunk is written; then every node that can hold an actor goes
            for w in list(c.worker_nodes):
                c.remove_node(w, allow_graceful=False)

    from workbench.errors import ConfigError

    with pytest.raises(ConfigError, match="resume|resumes") as exc:
        run(manifest, out_dir=tmp_path / "ray", model=tiny_model, use_cache=False, chunk_size=2, engine="ray",
            ray_options=_options(actor_wait_s=20), hook=lose_all_nodes)
    assert "run the same command again" in exc.value.fix
    # new nodes join; the same run resumes and finishes, each row once, equal to an uninterrupted run
    for _ in range(2):
        _start(lambda: c.add_node(num_cpus=1, object_store_memory=STORE, resources={"scorer": 1}))
    c.wait_for_nodes()
    res = run(manifest, out_dir=tmp_path / "ray", model=tiny_model, use_cache=False, chunk_size=2, engine="ray",
              ray_options=_options())
    assert res.n_resumed >= 2 and res.n_rows == 8
    got = res.results()
    _rows_once(got)
    assert_same_results(full.results(), got, np.load(tmp_path / "local" / "embeddings.npy"), np.load(tmp_path / "ray" / "embeddings.npy"))


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
    weights.write_bytes(weights.read_bytes()[:1000])  # the driver hashes it; an actor cannot read it
    with pytest.raises(ModelError, match="a Ray actor could not load the model") as exc:
        run(manifest, out_dir=tmp_path / "ray", model=str(broken), use_cache=False, chunk_size=2, engine="ray",
            ray_options=_options())
    assert "same path" in exc.value.fix
