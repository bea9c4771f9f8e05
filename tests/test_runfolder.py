"""Run-folder integrity: faults at every write point, two runs on one folder, hostile ids, damaged parts."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REPO
from test_runs import make_dataset
from workbench.data.manifest import Item, Manifest, write_manifest
from workbench.runs.folder import RunFolder, RunFolderError, frame_embedding_name
from workbench.runs.driver import Variant, run

import soundfile as sf
from conftest import speech_like

CHUNK = 3
N_ITEMS = 6
# atomic writes of a run of 6 items in chunks of 3 with frame embeddings:
# 1 config.yaml | 2-4 frame embeddings, 5 part-1 embeddings, 6 part-1 parquet | 7-9, 10, 11 part 2 | 12 results, 13 embeddings, 14 summary
WRITES = {"config": 1, "frame_emb": 2, "part_emb": 5, "part": 6, "part2": 11, "results": 12, "embeddings": 13, "summary": 14}

FAULT = textwrap.dedent("""
    import errno, os, signal, sys
    sys.path.insert(0, {repo!r})
    import workbench.files as fmod
    import workbench.runs.writer as rfmod  # the run's own files are written there
    from workbench.model.ref import ModelRef
    from workbench.runs.driver import run
    kind, point, target = sys.argv[1], sys.argv[2], int(sys.argv[3])
    # Python leaves SIGINT ignored when it starts ignored (a test run started in the background by a script):
    # this process is a command a user interrupts, so Ctrl-C raises KeyboardInterrupt here whatever the parent did
    signal.signal(signal.SIGINT, signal.default_int_handler)
    state = {{"write": 0, "fired": False}}

    def fault(p):
        if state["fired"] or p != point or state["write"] != target:
            return
        state["fired"] = True
        print("FAULT", kind, point, target, flush=True)
        if kind == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif kind == "sigint":
            os.kill(os.getpid(), signal.SIGINT)
        elif kind == "enospc":
            raise OSError(errno.ENOSPC, "No space left on device")

    class _Os:
        def __getattr__(self, name):
            return getattr(os, name)
        def fsync(self, fd):
            fault("fsync"); os.fsync(fd)
        def rename(self, a, b, **kw):
            fault("rename"); os.rename(a, b, **kw); fault("renamed")

    fmod.os = _Os()  # the one safe write (workbench.files) does every fsync and rename
    real = rfmod.atomic_write
    def atomic_write(path, write, *, text=False, root=None):
        state["write"] += 1
        def w(f):
            fault("write"); write(f); fault("written")
        return real(path, w, text=text, root=root)
    rfmod.atomic_write = atomic_write
    run({manifest!r}, out_dir={out!r}, model=ModelRef("tiny", device="cpu"), use_cache=False, chunk_size={chunk},
        frame_embeddings=True, workers=0)
    print("FINISHED", flush=True)
""")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("ds")
    return make_dataset(root, n=N_ITEMS, bad=False)


@pytest.fixture(scope="module")
def clean(dataset, tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("clean") / "run"
    run(dataset, out_dir=out, model=tiny_model, use_cache=False, chunk_size=CHUNK, frame_embeddings=True)
    return RunFolder(out)


def assert_same_run(a: RunFolder, b: RunFolder):
    ra, rb = a.results(), b.results()
    assert not rb.duplicated(["id", "variant"]).any()
    assert list(zip(ra["id"], ra["variant"])) == list(zip(rb["id"], rb["variant"]))
    cols = ["pred", "status"] + [c for c in ra.columns if c.startswith("score_")]
    # the project's equivalence tolerance: runs in other processes differ by float noise of thread counts (~1e-6)
    pd.testing.assert_frame_equal(ra[cols], rb[cols], atol=1e-5)
    ea, eb = a.embeddings(), b.embeddings()
    assert np.isfinite(eb[(rb["status"] == "ok").to_numpy()]).all()
    np.testing.assert_allclose(ea, eb, atol=1e-5)
    for i, v in zip(rb["id"], rb["variant"]):
        np.testing.assert_allclose(a.frame_embeddings(i, v), b.frame_embeddings(i, v), atol=1e-5)
    leftovers = [p for p in b.path.rglob("*") if ".tmp" in p.name]
    assert not leftovers, leftovers


def fault_then_resume(kind, point, write_no, dataset, out, tiny_model):
    script = FAULT.format(repo=str(REPO), manifest=str(dataset), out=str(out), chunk=CHUNK)
    proc = subprocess.run([sys.executable, "-c", script, kind, point, str(write_no)], capture_output=True, text=True,
                          timeout=180, env={**os.environ})
    assert f"FAULT {kind} {point} {write_no}" in proc.stdout, proc.stdout + proc.stderr
    assert "FINISHED" not in proc.stdout
    if kind == "enospc":  # a RunFolderError that says what to do (the CLI prints it without a traceback)
        assert "disk is full" in proc.stderr and "run the same command again" in proc.stderr
    resumed = run(dataset, out_dir=out, model=tiny_model, use_cache=False, chunk_size=CHUNK, frame_embeddings=True)
    assert resumed.n_rows == N_ITEMS
    return RunFolder(out)


# a representative set runs in `make test`; the whole matrix with `make test-slow`
QUICK = [("kill", p, WRITES["part"]) for p in ("write", "written", "fsync", "rename", "renamed")] + [
    ("sigint", "written", WRITES["part"]), ("sigint", "rename", WRITES["frame_emb"]),
    ("enospc", "write", WRITES["part_emb"]), ("kill", "rename", WRITES["results"]), ("kill", "write", WRITES["config"]),
]
FULL = [(k, p, w) for k in ("kill", "sigint", "enospc") for p in ("write", "written", "fsync", "rename", "renamed")
        for w in WRITES.values() if (k, p, w) not in QUICK and not (k == "enospc" and p in ("rename", "renamed"))]


@pytest.mark.parametrize("kind,point,write_no", QUICK, ids=[f"{k}-{p}-w{w}" for k, p, w in QUICK])
def test_a_fault_at_a_write_point_resumes_to_the_uninterrupted_run(kind, point, write_no, dataset, clean, tiny_model, tmp_path):
    assert_same_run(clean, fault_then_resume(kind, point, write_no, dataset, tmp_path / "run", tiny_model))


@pytest.mark.slow
@pytest.mark.parametrize("kind,point,write_no", FULL, ids=[f"{k}-{p}-w{w}" for k, p, w in FULL])
def test_every_fault_point_resumes_to_the_uninterrupted_run(kind, point, write_no, dataset, clean, tiny_model, tmp_path):
    assert_same_run(clean, fault_then_resume(kind, point, write_no, dataset, tmp_path / "run", tiny_model))


def test_damaged_and_leftover_parts_are_rejected_and_redone(dataset, clean, tiny_model, tmp_path):
    out = tmp_path / "run"
    run(dataset, out_dir=out, model=tiny_model, use_cache=False, chunk_size=CHUNK, frame_embeddings=True, limit=CHUNK)
    parts = out / "parts"
    # an earlier version's temporary name, a torn parquet and an embeddings file with NaN for finished rows
    (parts / "part-00009.tmp.parquet").write_bytes(b"PAR1 torn")
    (parts / "part-00007.parquet").write_bytes(b"PAR1 torn")
    np.save(parts / "part-00007.emb.npy", np.zeros((3, 4), np.float32))
    emb = np.load(parts / "part-00001.emb.npy")
    emb[1] = np.nan
    np.save(parts / "part-00001.emb.npy", emb)
    res = run(dataset, out_dir=out, model=tiny_model, use_cache=False, chunk_size=CHUNK, frame_embeddings=True)
    assert res.n_resumed == 0 and res.n_rows == N_ITEMS
    assert_same_run(clean, RunFolder(out))
    log = (out / "log.txt").read_text()
    assert "rejected part-00001.parquet: missing or non-finite embeddings" in log and "rejected part-00007.parquet" in log
    assert sorted(p.name.split("-", 1)[1] for p in (parts / "rejected").iterdir()) == [
        "part-00001.emb.npy", "part-00001.parquet", "part-00007.emb.npy", "part-00007.parquet"]


def test_a_second_run_on_a_busy_folder_is_refused_and_a_dead_ones_lock_is_gone(dataset, clean, tiny_model, tmp_path):
    out = tmp_path / "run"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from workbench.model.ref import ModelRef
        from workbench.runs.driver import run
        def hook(step, rows, completed, total):
            print("CHUNK", completed, flush=True)
            time.sleep(60)
        run({str(dataset)!r}, out_dir={str(out)!r}, model=ModelRef("tiny", device="cpu"), use_cache=False, chunk_size=4,
            frame_embeddings=True, hook=hook)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env={**os.environ})
    try:
        assert proc.stdout.readline().startswith("CHUNK")
        # another chunk size, as in the report of 208 rows for 120 items: refused, naming the other process
        with pytest.raises(RunFolderError, match=f"in use by another run \\(pid {proc.pid} ") as exc:
            run(dataset, out_dir=out, model=tiny_model, use_cache=False, chunk_size=2, frame_embeddings=True)
        assert "another --out" in exc.value.fix
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    res = run(dataset, out_dir=out, model=tiny_model, use_cache=False, chunk_size=2, frame_embeddings=True)
    assert res.n_resumed == 4 and res.n_rows == N_ITEMS
    assert_same_run(clean, RunFolder(out))


def test_ids_and_variant_names_never_choose_where_files_go(tmp_path, tiny_model):
    root = tmp_path / "data"
    (root / "audio").mkdir(parents=True)
    sf.write(root / "audio" / "a.wav", speech_like(16000, 1.0, seed=1), 16000)
    marker = f"wb_traversal_{uuid.uuid4().hex[:8]}"
    ids = [f"../../../../{marker}", f"/tmp/{marker}_abs", "a/b/c", "..", "plain"]
    m = Manifest([Item(id=i, path="audio/a.wav") for i in ids], root=root)
    variants = [Variant("raw"), Variant("../../v", ({"name": "gain", "db": -3.0},)), Variant("/" + marker, ())]
    before = set(tmp_path.rglob("*"))
    out = tmp_path / "deep" / "run"
    rf = RunFolder(run(m, out_dir=out, model=tiny_model, variants=variants, frame_embeddings=True, use_cache=False).run_dir)
    created = {p for p in set(tmp_path.rglob("*")) - before if out not in p.parents and p != out}
    assert created <= {tmp_path / "deep"}, created
    assert not Path("/" + marker + ".npy").exists() and not list(Path("/tmp").glob(f"{marker}*"))
    assert not list(Path("/").glob(f"{marker}*"))
    names = {p.name for p in (out / "frame_embeddings").iterdir()}
    assert names == {frame_embedding_name(i, v.name) for i in ids for v in variants}
    assert all(len(n) == 36 and n.endswith(".npy") for n in names)
    res = rf.results()
    assert len(res) == 15 and (res["status"] == "ok").all()
    for i in ids:
        for v in variants:
            assert rf.frame_embeddings(i, v.name).shape[1] == tiny_model.info.embed_dim
    # resuming keeps them all
    again = run(m, out_dir=out, model=tiny_model, variants=variants, frame_embeddings=True, use_cache=False)
    assert again.n_resumed == 15


def test_an_unreadable_file_is_that_items_failed_row(tmp_path, tiny_model, monkeypatch):
    """Permission denied (simulated: tests may run as root, for whom chmod 000 changes nothing)."""
    import workbench.engine.core as engine

    manifest = make_dataset(tmp_path, n=4, bad=False)
    locked = (tmp_path / "audio" / "c002.wav").resolve()

    def deny(fn):
        def wrapper(path, *a, **k):
            if Path(path).resolve() == locked:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            return fn(path, *a, **k)
        return wrapper

    monkeypatch.setattr(engine, "file_sha256", deny(engine.file_sha256))
    monkeypatch.setattr(engine, "decode_mono", deny(engine.decode_mono))
    res = run(manifest, out_dir=tmp_path / "r", model=tiny_model, use_cache=False, workers=0).results()
    bad = res[res["id"] == "c002"].iloc[0]
    assert (res["status"] == "ok").sum() == 3
    assert bad["status"] == "failed" and "Permission denied" in bad["error"] and "readable" in bad["error"]


def test_the_pooled_engine_gives_the_in_process_engines_rows(tmp_path, tiny_model):
    manifest = make_dataset(tmp_path, n=10, bad=True)
    variants = [Variant("raw"), Variant("telephone", ({"name": "telephone"},))]
    a = run(manifest, out_dir=tmp_path / "a", model=tiny_model, use_cache=False, variants=variants, workers=0, chunk_size=4).results()
    b = run(manifest, out_dir=tmp_path / "b", model=tiny_model, use_cache=False, variants=variants, workers=2, chunk_size=4).results()
    cols = ["id", "variant", "status", "error", "pred", "finding_codes"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    scores = [c for c in a.columns if c.startswith("score_")]
    np.testing.assert_allclose(a[scores].astype(float).fillna(-1), b[scores].astype(float).fillna(-1), atol=1e-6)
