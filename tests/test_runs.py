"""Runs: failed rows, the prediction cache, resuming after a kill, segments."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import REPO, noise, speech_like
from workbench.errors import ConfigError
from workbench.data.manifest import Item, Manifest, write_manifest
from workbench.runs.driver import PredictionCache, Variant, load_variants, run

LABELS = ["happy", "sad", "angry", "neutral"]


def make_dataset(root: Path, n: int = 12, bad: bool = True) -> Path:
    items = []
    for i in range(n):
        p = root / "audio" / f"c{i:03d}.wav"
        p.parent.mkdir(parents=True, exist_ok=True)
        sr = [16000, 44100, 8000][i % 3]
        sf.write(p, speech_like(sr, 1.0 + 0.25 * (i % 5), seed=i), sr, subtype="PCM_16")
        items.append(Item(id=f"c{i:03d}", path=f"audio/c{i:03d}.wav", label=LABELS[i % 4], emotion=LABELS[i % 4],
                          speaker=f"s{i % 3}", gender=["female", "male"][i % 2]))
    if bad:
        (root / "audio" / "broken.wav").write_text("not audio")
        items.append(Item(id="broken", path="audio/broken.wav", label="happy", emotion="happy", speaker="s0"))
        items.append(Item(id="calm1", path="audio/c000.wav", label="calm", emotion="", speaker="s1"))
    return write_manifest(Manifest(items, root=root), root / "manifest.csv")


def test_run_writes_the_run_folder_and_a_bad_file_becomes_a_failed_row(tmp_path, tiny_model):
    manifest = make_dataset(tmp_path)
    run(manifest, out_dir=tmp_path / "run", model=tiny_model, cache_dir=tmp_path / "cache")
    out = tmp_path / "run"
    assert {"config.yaml", "results.parquet", "embeddings.npy", "log.txt", "summary.json", "parts"} <= set(os.listdir(out))
    df = pd.read_parquet(out / "results.parquet")
    assert list(df["id"]) == [f"c{i:03d}" for i in range(12)] + ["broken", "calm1"]  # manifest order
    bad = df[df["id"] == "broken"].iloc[0]
    assert bad["status"] == "failed" and bad["error_code"] == "audio" and "could not decode" in bad["error"]
    ok = df[df["status"] == "ok"]
    assert len(ok) == 13 and ok["confidence"].between(0, 1).all()
    assert np.allclose(ok[[c for c in df.columns if c.startswith("score_")]].sum(axis=1), 1.0)
    assert set(ok["correct"].dropna().unique()) <= {True, False}
    emb = np.load(out / "embeddings.npy")
    assert emb.shape == (14, tiny_model.info.embed_dim)
    assert np.isnan(emb[12]).all() and not np.isnan(emb[:12]).any()
    # an embedding row belongs to its results row
    direct = tiny_model.predict([__import__("workbench").load_audio(tmp_path / "audio" / "c005.wav")])[0]
    np.testing.assert_allclose(emb[5], direct.embedding, atol=1e-5)
    # findings are stored per row, with suggestions
    tel = json.loads(df[df["id"] == "c002"].iloc[0]["findings"])
    assert any(f["code"] == "low_sample_rate" and f["suggestion"] for f in tel)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["rows"] == 14 and summary["failed"] == 1
    assert summary["variants"]["raw"]["excluded_no_counterpart"] == 1
    assert summary["random_weights"] is True
    assert "FAILED broken" in (out / "log.txt").read_text()
    import yaml

    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["model"] == "tiny" and cfg["model_checksum"] == tiny_model.info.checksum and cfg["variants"][0]["name"] == "raw" and cfg["audio"]["target_sr"] == 16000


def test_cache_makes_a_rerun_free_and_identical(tmp_path, tiny_model):
    manifest = make_dataset(tmp_path, bad=False)
    first = run(manifest, out_dir=tmp_path / "a", model=tiny_model, cache_dir=tmp_path / "cache")
    assert first.n_cached == 0
    second = run(manifest, out_dir=tmp_path / "b", model=tiny_model, cache_dir=tmp_path / "cache")
    assert second.n_cached == 12
    a, b = first.results(), second.results()
    score_cols = [c for c in a.columns if c.startswith("score_")]
    np.testing.assert_allclose(a[score_cols].to_numpy(float), b[score_cols].to_numpy(float), atol=1e-12)
    assert b["cache_hit"].all() and not a["cache_hit"].any()
    np.testing.assert_allclose(np.load(tmp_path / "a" / "embeddings.npy"), np.load(tmp_path / "b" / "embeddings.npy"))


def test_cache_key_changes_with_what_changes_the_prediction():
    base = dict(source_sha256="x", start=None, duration=None, audio_config={"target_sr": 16000}, chain_hash="c", model_checksum="m", dtype="float32")
    k = PredictionCache.key(**base)
    for field, other in [("source_sha256", "y"), ("start", 1.0), ("chain_hash", "d"), ("model_checksum", "n"), ("dtype", "int8"), ("audio_config", {"target_sr": 8000})]:
        assert PredictionCache.key(**{**base, field: other}) != k, field


def test_cached_rows_of_an_older_implementation_of_a_precision_are_scored_again_float32_kept(tmp_path, tiny_model, monkeypatch):
    """A bfloat16 run served rows cached before bfloat16's weights were packed (up to 6e-4 from what the packed path
    gives) under the agreement measured for the packed path. Every precision but float32 now keys its cache entries
    with the path revision: a new revision scores them again; float32's entries (the exact path) are still served."""
    from workbench.model import fastpath
    from workbench.model.network import load_model

    manifest = make_dataset(tmp_path, n=3, bad=False)
    bf16 = load_model("tiny", device="cpu", dtype="bfloat16")
    for net in (bf16, tiny_model):
        assert run(manifest, out_dir=tmp_path / f"a_{net.info.dtype}", model=net, cache_dir=tmp_path / "cache").n_cached == 0
        assert run(manifest, out_dir=tmp_path / f"b_{net.info.dtype}", model=net, cache_dir=tmp_path / "cache").n_cached == 3
    monkeypatch.setattr(fastpath, "PATHS_REVISION", fastpath.PATHS_REVISION + 1)
    monkeypatch.setattr(fastpath, "_CACHE_PRECISIONS", {})
    assert run(manifest, out_dir=tmp_path / "c_bf16", model=bf16, cache_dir=tmp_path / "cache").n_cached == 0
    assert run(manifest, out_dir=tmp_path / "c_f32", model=tiny_model, cache_dir=tmp_path / "cache").n_cached == 3
    assert fastpath.cache_precision("float32", "cpu") == "float32"  # the keys of every float32 entry cached so far still hold
    onnx = fastpath.cache_precision("onnx-int8", "cpu")
    assert onnx.startswith("onnx-int8 (paths") and "onnxruntime" in onnx


def test_interrupted_run_resumes_and_loses_no_row(tmp_path, tiny_model):
    """Kill a run with SIGKILL after its first chunk is on disk, re-run, compare with a clean run."""
    manifest = make_dataset(tmp_path, n=12, bad=False)
    clean = run(manifest, out_dir=tmp_path / "clean", model=tiny_model, use_cache=False, chunk_size=3).results()

    script = textwrap.dedent(f"""
        import os, sys, time
        sys.path.insert(0, {str(REPO)!r})
        from workbench.model.ref import ModelRef
        from workbench.runs.driver import run
        def hook(step, rows, completed, total):
            print("CHUNK", completed, flush=True)
            time.sleep(30)  # the parent kills us here
        run({str(manifest)!r}, out_dir={str(tmp_path / "killed")!r}, model=ModelRef("tiny", device="cpu"), use_cache=False, chunk_size=3, hook=hook)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env={**os.environ})
    line = proc.stdout.readline()
    assert line.startswith("CHUNK 3"), line
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    parts = sorted((tmp_path / "killed" / "parts").glob("part-*.parquet"))
    assert len(parts) == 1 and not (tmp_path / "killed" / "results.parquet").exists()

    resumed = run(manifest, out_dir=tmp_path / "killed", model=tiny_model, use_cache=False, chunk_size=3)
    assert resumed.n_resumed == 3 and resumed.n_rows == 12
    df = resumed.results()
    assert list(df["id"]) == list(clean["id"])
    cols = ["pred"] + [c for c in df.columns if c.startswith("score_")]
    pd.testing.assert_frame_equal(df[cols].reset_index(drop=True), clean[cols].reset_index(drop=True), atol=1e-6)
    assert "resuming: 3 rows already finished" in (tmp_path / "killed" / "log.txt").read_text()


def test_a_run_interrupted_with_sigint_says_so_in_its_log_with_the_rows_kept_and_the_command_that_resumes(tmp_path):
    """Ctrl-C (SIGINT to the process group) while `workbench run` holds its third chunk: log.txt names it."""
    manifest = make_dataset(tmp_path, n=8, bad=False)
    out = tmp_path / "stopped"
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from workbench.cli import main
        from workbench.runs.writer import RunWriter
        write_part = RunWriter.write_part
        def slow_part(self, rows, *args, **kwargs):
            if len(list((self.path / "parts").glob("part-*.parquet"))) == 2:  # the third chunk is scored, not yet kept
                print("PARTS 2", flush=True)
                time.sleep(60)  # the parent presses Ctrl-C here
            return write_part(self, rows, *args, **kwargs)
        RunWriter.write_part = slow_part
        sys.exit(main(sys.argv[1:]))
    """)
    argv = ["run", str(manifest), "--out", str(out), "--model", "tiny", "--no-cache", "--chunk", "2", "--workers", "0"]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", script, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("PARTS 2"), line + proc.stderr.read()[-2000:]
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=60) == 130, proc.stderr.read()[-2000:]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    log = (out / "log.txt").read_text()
    stopped = [line for line in log.splitlines() if "interrupted" in line]
    assert len(stopped) == 1 and "interrupted with 4 of 8 rows finished and kept" in stopped[0], log
    command = stopped[0].split("`")[1]
    assert command.startswith("workbench run ") and f"--out {out}" in command, command
    # the command the log names resumes the run from the rows it kept
    again = subprocess.run([sys.executable, "-m", "workbench.cli", *shlex.split(command)[1:]], capture_output=True, text=True,
                           env=env, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "resuming: 4 rows already finished" in (out / "log.txt").read_text()
    assert len(pd.read_parquet(out / "results.parquet")) == 8


def test_limit_stops_and_a_rerun_finishes(tmp_path, tiny_model):
    manifest = make_dataset(tmp_path, n=8, bad=False)
    part = run(manifest, out_dir=tmp_path / "r", model=tiny_model, use_cache=False, chunk_size=2, limit=4)
    assert part.n_rows == 4
    full = run(manifest, out_dir=tmp_path / "r", model=tiny_model, use_cache=False, chunk_size=2)
    assert full.n_rows == 8 and full.n_resumed == 4 and len(full.results()) == 8


def test_a_run_folder_with_other_settings_is_not_resumed(tmp_path, tiny_model):
    manifest = make_dataset(tmp_path, n=3, bad=False)
    run(manifest, out_dir=tmp_path / "r", model=tiny_model, use_cache=False)
    with pytest.raises(ConfigError, match="other settings"):
        run(manifest, out_dir=tmp_path / "r", model=tiny_model, use_cache=False, variants=[Variant("raw"), Variant("other", ())])


def test_a_resume_in_another_precision_is_refused_before_the_model_loads(tmp_path, tiny_model, monkeypatch):
    """The README promises input is checked before the model loads: an explicit --dtype that differs from the
    folder's is known without the model, so it is refused before loading, naming both precisions."""
    from workbench.model.ref import ModelRef

    manifest = make_dataset(tmp_path, n=3, bad=False)
    run(manifest, out_dir=tmp_path / "r", model=tiny_model, use_cache=False)

    def loaded(*args, **kwargs):
        raise AssertionError("the model was loaded before the settings were checked")

    monkeypatch.setattr(ModelRef, "load", loaded)
    with pytest.raises(ConfigError, match="dtype float32 in the folder, int8 now"):
        run(manifest, out_dir=tmp_path / "r", model=ModelRef("tiny", device="cpu", dtype="int8"), use_cache=False)


def test_segments_of_a_long_file(tmp_path, tiny_model):
    y = np.concatenate([speech_like(16000, 2.0, seed=1), noise(16000, 1.0, seed=2), speech_like(16000, 2.0, seed=3)])
    sf.write(tmp_path / "long.wav", y, 16000, subtype="FLOAT")
    m = Manifest([Item(id="a", path="long.wav", start=0.0, duration=2.0), Item(id="b", path="long.wav", start=3.0, duration=2.0),
                  Item(id="c", path="long.wav", start=9.0, duration=1.0)], root=tmp_path)
    df = run(m, out_dir=tmp_path / "r", model=tiny_model, use_cache=False).results()
    a = df.set_index("id")
    assert a.loc["a", "audio_seconds"] == pytest.approx(2.0) and a.loc["b", "audio_seconds"] == pytest.approx(2.0)
    direct = tiny_model.predict([y[3 * 16000 : 5 * 16000]])[0]
    assert a.loc["b", "score_happy"] == pytest.approx(direct.scores[3], abs=1e-6)
    assert a.loc["c", "status"] == "failed" and "segment starts at 9.00 s" in a.loc["c", "error"]


def test_variants_file(tmp_path):
    f = tmp_path / "v.yaml"
    f.write_text("variants:\n  raw: []\n  louder:\n    - {name: gain, db: 6}\n")
    vs = load_variants(f)
    assert [v.name for v in vs] == ["raw", "louder"]
    assert vs[1].chain() == [{"name": "gain", "db": 6}] and vs[0].chain_hash() != vs[1].chain_hash()
    f.write_text("variants:\n  - {steps: []}\n")
    with pytest.raises(ConfigError, match="no name"):
        load_variants(f)


@pytest.mark.slow
def test_two_hundred_clip_run_and_cached_rerun(tmp_path, tiny_model):
    manifest = make_dataset(tmp_path, n=200, bad=False)
    t0 = time.perf_counter()
    run(manifest, out_dir=tmp_path / "a", model=tiny_model, cache_dir=tmp_path / "cache")
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    again = run(manifest, out_dir=tmp_path / "b", model=tiny_model, cache_dir=tmp_path / "cache")
    warm = time.perf_counter() - t0
    assert again.n_cached == 200
    print(f"200 clips: cold {cold:.1f}s, cached re-run {warm:.1f}s")


def test_a_fully_cached_rerun_does_not_decode_and_gives_the_same_rows(tmp_path, tiny_model, monkeypatch):
    manifest = make_dataset(tmp_path, n=6, bad=False)
    variants = [Variant("raw"), Variant("trim", ({"name": "trim", "top_db": 30},))]
    run(manifest, out_dir=tmp_path / "cold", model=tiny_model, variants=variants, cache_dir=tmp_path / "cache")

    def no_decoding(*a, **k):
        raise AssertionError("a cached item was decoded")

    monkeypatch.setattr("workbench.audio.intake.decode", no_decoding)
    res = run(manifest, out_dir=tmp_path / "warm", model=tiny_model, variants=variants, cache_dir=tmp_path / "cache")
    assert res.n_cached == 12 and res.n_failed == 0
    a, b = (pd.read_parquet(tmp_path / d / "results.parquet") for d in ("cold", "warm"))
    cols = ["id", "variant", "pred", "confidence", "audio_seconds", "source_sha256", "chain", "finding_codes", "snr_db", "cut_start_s"]
    pd.testing.assert_frame_equal(a[cols], b[cols])
    assert b["cache_hit"].all() and not a["cache_hit"].any()
    assert np.array_equal(np.load(tmp_path / "cold" / "embeddings.npy"), np.load(tmp_path / "warm" / "embeddings.npy"))


def test_a_part_rejected_while_the_results_are_assembled_is_reported_not_dropped_silently(tmp_path, tiny_model, caplog):
    """A part damaged after it was written (here: overwritten by something else during the run) is rejected when
    results.parquet is assembled; the run logged 'done: N rows' with its rows simply absent.  It now says how many
    rows are missing and that a resume scores them, which it does."""
    manifest = make_dataset(tmp_path, n=6, bad=False)
    out = tmp_path / "run"

    def damage(event, rows, **_):
        first = out / "parts" / "part-00001.parquet"
        if first.is_file():
            first.write_bytes(b"not a parquet file")

    with caplog.at_level("WARNING"):
        res = run(manifest, out_dir=out, model=tiny_model, chunk_size=2, hook=damage, use_cache=False)
    assert res.n_rows == 4
    log = (out / "log.txt").read_text(encoding="utf-8")
    assert "2 of 6 rows are missing from the results" in log and "2 of 6 rows are missing" in caplog.text
    again = run(manifest, out_dir=out, model=tiny_model, chunk_size=2, use_cache=False)
    assert again.n_rows == 6 and again.n_resumed == 4
    assert list(pd.read_parquet(out / "results.parquet")["id"]) == [f"c{i:03d}" for i in range(6)]


def test_a_fresh_run_decodes_its_first_chunk_while_the_model_loads_and_a_resumed_one_does_not(tmp_path, tiny_model, monkeypatch):
    """Issue #28: driver._prefetch.  The first chunk's items (every variant) are decoded in the prefetch thread, once;
    a folder with parts is not prefetched (what is left is known only once they are read); results are the same."""
    import collections
    import threading

    from workbench.engine import core
    from workbench.runs.folder import RunFolder

    manifest = make_dataset(tmp_path, n=9)
    variants = [Variant("raw"), Variant.from_dict({"name": "trimmed", "steps": [{"name": "trim", "top_db": 30}]})]
    seen = []
    real = core._process
    monkeypatch.setattr(core, "_process", lambda w, cfg: seen.append((w.item.id, threading.current_thread().name)) or real(w, cfg))
    fresh = run(manifest, out_dir=tmp_path / "fresh", model=tiny_model, use_cache=False, chunk_size=4, variants=variants).run_dir
    fresh = RunFolder(fresh).results(status=None)
    ids = list(fresh["id"].drop_duplicates())
    assert sorted(i for i, t in seen if t == "workbench-prefetch") == sorted(ids[:4])
    done = collections.Counter(i for i, _ in seen)  # every item decoded once, its two variants made from one decoding;
    assert set(done) == set(ids) and all(done[i] == 1 for i in ids[:4])  # after the first chunk, the one the thread ahead
    assert sum(done.values()) <= len(ids) + 2  # was in when the model needed its chunk may be decoded here too (2 chunks)
    seen.clear()
    run(manifest, out_dir=tmp_path / "resumed", model=tiny_model, use_cache=False, chunk_size=4, variants=variants, limit=4)
    assert [i for i, t in seen if t == "workbench-prefetch"] == ids[:4]
    seen.clear()
    resumed = run(manifest, out_dir=tmp_path / "resumed", model=tiny_model, use_cache=False, chunk_size=4, variants=variants)
    assert resumed.n_resumed == 8 and not [i for i, t in seen if t == "workbench-prefetch"]
    again = RunFolder(resumed.run_dir).results(status=None)
    cols = ["id", "variant", "status", "error", "audio_seconds"] + [c for c in fresh.columns if c.startswith("score_")]
    pd.testing.assert_frame_equal(fresh[cols].reset_index(drop=True), again[cols].reset_index(drop=True))


def test_a_precision_but_float32_is_keyed_with_its_device_kind():
    """The CPU path of bfloat16/float16 is its own implementation (prepacked Linear layers, a time-major front end, both
    CPU only), so a --cache-dir shared by a GPU node and a CPU node served the CUDA run's bfloat16 rows to the CPU run,
    under the CPU path's agreement figures (cec44aa's defect across devices instead of revisions). float32 keeps its
    key: every float32 entry cached so far is still served."""
    from workbench.model import fastpath

    assert fastpath.cache_precision("bfloat16", "cuda:0") != fastpath.cache_precision("bfloat16", "cpu")
    assert fastpath.cache_precision("bfloat16", "cuda:1") == fastpath.cache_precision("bfloat16", "cuda:0")  # one kind
    assert fastpath.cache_precision("float32", "cuda:0") == fastpath.cache_precision("float32", "cpu") == "float32"
