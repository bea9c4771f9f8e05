"""``--engine ray``: a local 2-CPU Ray cluster gives the local engine's results table."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from test_runs import make_dataset
from workbench.cli import main
from workbench.engine.ray_executor import RayOptions
from workbench.runs.outputs import infer_files
from workbench.runs.folder import RunFolder
from workbench.runs.driver import Variant, run

pytest.importorskip("ray.data")

VARIANTS = [Variant("raw"), Variant("telephone", ({"name": "telephone"},))]
# what may differ between engines: timings, and whether a row came from the cache
VOLATILE = {"decode_ms", "infer_ms", "cache_hit"}


def assert_same_results(a: pd.DataFrame, b: pd.DataFrame, ea: np.ndarray, eb: np.ndarray):
    assert list(a.columns) == list(b.columns)
    assert list(zip(a["id"], a["variant"])) == list(zip(b["id"], b["variant"]))
    scores = [c for c in a.columns if c.startswith("score_")]
    floats = scores + ["confidence", "margin", "entropy", "unknown_frame_fraction", "snr_db", "silence_fraction", "cut_start_s", "audio_seconds"]
    for col in a.columns:
        if col in VOLATILE:
            continue
        if col == "chain":  # the same steps and parameters; only their timings differ
            strip = lambda c: [{k: v for k, v in step.items() if k != "elapsed_ms"} for step in json.loads(c)]  # noqa: E731
            assert [strip(c) for c in a[col]] == [strip(c) for c in b[col]]
        elif col == "findings":  # the same findings; numbers in their evidence within the scores' tolerance
            for fa, fb in zip(a[col], b[col]):
                la, lb = json.loads(fa), json.loads(fb)
                assert [f["code"] for f in la] == [f["code"] for f in lb]
                for x, y in zip(la, lb):
                    for k, v in x["evidence"].items():
                        if isinstance(v, float):
                            assert abs(v - y["evidence"][k]) <= 1e-5, (x["code"], k)
                        else:
                            assert v == y["evidence"][k], (x["code"], k)
        elif col in floats:
            np.testing.assert_allclose(a[col].astype(float), b[col].astype(float), atol=1e-5, rtol=0, err_msg=col)
        else:  # exactly equal (NaN where NaN)
            pd.testing.assert_series_equal(a[col], b[col], check_dtype=False, check_exact=True, obj=col)
    np.testing.assert_allclose(ea, eb, atol=1e-5, rtol=0)


def test_ray_engine_gives_the_local_engines_table(tmp_path, tiny_model):
    manifest = make_dataset(tmp_path, n=12, bad=True)  # 14 items: one undecodable, one without a label
    local = run(manifest, out_dir=tmp_path / "local", model=tiny_model, variants=VARIANTS, cache_dir=tmp_path / "cache_local",
                chunk_size=4, frame_embeddings=True)
    seen, auth = [], []

    def hook(step, rows, completed, total):
        from ray._private.authentication.authentication_utils import is_token_auth_enabled

        seen.append(completed)
        auth.append(is_token_auth_enabled())

    remote = run(manifest, out_dir=tmp_path / "ray", model=tiny_model, variants=VARIANTS, cache_dir=tmp_path / "cache_ray",
                 chunk_size=4, frame_embeddings=True, engine="ray", ray_options=RayOptions(num_cpus=2, actors=2), hook=hook)
    # the cluster the workbench started requires Ray's token from every client, the whole run long
    assert auth and all(auth)
    a, b = local.results(), remote.results()
    assert len(b) == 28 and (b["status"] == "failed").sum() == 2  # the broken file, under both variants
    assert_same_results(a, b, np.load(tmp_path / "local" / "embeddings.npy"), np.load(tmp_path / "ray" / "embeddings.npy"))
    # one part per chunk, written as each came back (4 chunks of 4 items × 2 variants, the last of 2 items)
    assert len(list((tmp_path / "ray" / "parts").glob("part-*.parquet"))) == 4 and sorted(seen) == seen and seen[-1] == 28
    # frame embeddings travel back from the actors
    fa = RunFolder(tmp_path / "local").frame_embeddings("c003", "telephone")
    fb = RunFolder(tmp_path / "ray").frame_embeddings("c003", "telephone")
    np.testing.assert_allclose(fa, fb, atol=1e-5, rtol=0)
    # the actors wrote the cache the driver named: 26 ok rows, of which calm1 shares c000's audio (2 hits)
    assert len(list((tmp_path / "cache_ray").rglob("*.npz"))) == len(list((tmp_path / "cache_local").rglob("*.npz"))) == 24
    summary = json.loads((tmp_path / "ray" / "summary.json").read_text())
    assert summary["engine"]["name"] == "ray" and summary["engine"]["actors"] == 2 and summary["engine"]["workers"]
    assert summary["random_weights"] is True and summary["model"]["device"] == "cpu"
    assert "ray engine: 2 actor(s)" in (tmp_path / "ray" / "log.txt").read_text()
    assert summary["variants"] == json.loads((tmp_path / "local" / "summary.json").read_text())["variants"]
    # infer goes through the same engine: the same predictions for the same files (raw variant)
    raw = a[a["variant"] == "raw"].reset_index(drop=True)
    paths = [str(RunFolder(tmp_path / "local").item_path(p)) for p in raw["path"]]
    outcomes = infer_files(paths, model=tiny_model, out_dir=tmp_path / "outputs", granularity="frame")
    assert [o.ok for o in outcomes] == list(raw["status"] == "ok")
    for o, (_, r) in zip(outcomes, raw.iterrows()):
        if o.ok:
            assert o.prediction.label == r["pred"]
            np.testing.assert_allclose(o.prediction.scores, r[[c for c in raw.columns if c.startswith("score_")]].astype(float),
                                       atol=1e-5, rtol=0)
            assert sorted(f["code"] for f in o.findings) == sorted(filter(None, r["finding_codes"].split(",")))
        else:
            assert o.error["text"] == r["error"]


def test_an_interrupted_local_run_is_finished_by_the_ray_engine_from_the_command_line(tmp_path, tiny_model, capsys):
    manifest = make_dataset(tmp_path, n=9, bad=False)
    full = run(manifest, out_dir=tmp_path / "full", model=tiny_model, cache_dir=tmp_path / "c1", chunk_size=3)
    part = run(manifest, out_dir=tmp_path / "part", model=tiny_model, cache_dir=tmp_path / "c2", chunk_size=3, limit=3)
    assert part.n_rows == 3 and not (tmp_path / "part" / "results.parquet").exists()
    rc = main(["run", str(manifest), "--model", tiny_model.info.path, "--out", str(tmp_path / "part"), "--chunk", "3",
               "--cache-dir", str(tmp_path / "c2"), "--engine", "ray", "--ray-actors", "2", "--device", "cpu"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "9 rows, 0 failed, 0 from cache, 3 resumed" in out
    assert_same_results(full.results(), pd.read_parquet(tmp_path / "part" / "results.parquet"),
                        np.load(tmp_path / "full" / "embeddings.npy"), np.load(tmp_path / "part" / "embeddings.npy"))
    assert "resuming: 3 rows already finished" in (tmp_path / "part" / "log.txt").read_text()


def test_ray_engine_errors_are_clear(tmp_path, tiny_model, monkeypatch):
    from workbench.errors import ConfigError

    manifest = make_dataset(tmp_path, n=2, bad=False)
    # a finished run has nothing left to send: no cluster is contacted (this address would fail)
    run(manifest, out_dir=tmp_path / "done", model=tiny_model, cache_dir=tmp_path / "c")
    again = run(manifest, out_dir=tmp_path / "done", model=tiny_model, cache_dir=tmp_path / "c", engine="ray",
                ray_options=RayOptions(address="ray://127.0.0.1:1"))
    assert again.n_resumed == 2 and again.n_rows == 2
    with pytest.raises(ConfigError, match="unknown engine"):
        run(manifest, out_dir=tmp_path / "x", model=tiny_model, engine="spark")
    with pytest.raises(ConfigError, match="could not start or join a Ray cluster") as exc:
        run(manifest, out_dir=tmp_path / "y", model=tiny_model, engine="ray", ray_options=RayOptions(address="ray://127.0.0.1:1"))
    assert "--ray-address" in exc.value.fix
    # a local cluster without token authentication is refused before it starts
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    with pytest.raises(ConfigError, match="must require a token") as exc:
        run(manifest, out_dir=tmp_path / "z", model=tiny_model, engine="ray", ray_options=RayOptions(num_cpus=1))
    assert "--ray-address" in exc.value.fix
