"""Issue #29, writing and trusting: planted links, hostile ONNX graphs, trusted caches, temperatures, tampered
run folders, Ray exposure.  Every hostile input is generated here (tests/hostile.py), never committed; each test
lists the folder outside before and after and asserts nothing there changed."""

from __future__ import annotations

import contextlib
import io
import json
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import hostile  # noqa: E402

from workbench import cli, files  # noqa: E402

#: the harness below forgets loaded models before each command (clear_cache)
pytestmark = pytest.mark.usefixtures("own_model_cache")


def run_cli(*argv) -> tuple[int, str, str]:
    from conftest import private_model_cache
    from workbench.model.network import clear_cache

    out, err = io.StringIO(), io.StringIO()
    with private_model_cache(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        clear_cache()
        rc = cli.main([str(a) for a in argv])
    return rc, out.getvalue(), err.getvalue()


def listing(root: Path) -> dict:
    return hostile._listing(root)


# ---------------------------------------------------------------------------
# the safe write
# ---------------------------------------------------------------------------
def test_the_safe_write_refuses_a_link_at_the_destination_and_at_any_folder_level(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    folder = tmp_path / "folder"
    folder.mkdir()
    os.symlink(victim, folder / "out.json")
    os.symlink(outside, folder / "sub")
    before = listing(outside)
    with pytest.raises(files.UnsafePathError, match="symbolic link") as e:
        files.write_json(folder / "out.json", {"a": 1})
    assert "out.json" in str(e.value) and e.value.fix
    with pytest.raises(files.UnsafePathError, match="'sub' is a symbolic link"):
        files.write_text(folder / "sub" / "deeper" / "x.txt", "x", root=folder)
    with pytest.raises(files.UnsafePathError, match="symbolic link"):
        files.append_text(folder / "out.json", "more")
    assert listing(outside) == before and victim.read_text(encoding="utf-8") == "precious"
    # a normal write: a real file, no temporaries left, strict JSON
    files.write_json(folder / "ok.json", {"x": float("nan"), "y": np.float32(2.5)})
    assert json.loads((folder / "ok.json").read_text(encoding="utf-8")) == {"x": None, "y": 2.5}
    assert sorted(p.name for p in folder.iterdir()) == ["ok.json", "out.json", "sub"]


def test_a_failed_write_leaves_the_destination_and_no_temporary(tmp_path):
    target = tmp_path / "a.txt"
    files.write_text(target, "old")

    def boom(f):
        f.write("half")
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError):
        files.write_atomic(target, boom, text=True)
    assert target.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_no_writer_opens_a_path_by_name_on_its_own():
    """Every file the package writes goes through workbench.files (in-memory buffers aside)."""
    import re

    root = Path(__file__).resolve().parent.parent / "workbench"
    pattern = re.compile(r"open\([^)]*['\"](w|wb|a|x|xb)['\"]|\.write_text\(|\.write_bytes\(|np\.save\(|np\.savez|os\.replace\(|"
                         r"\.to_csv\((?!f\b|buf\b)|\.to_parquet\((?!f)|json\.dump\(|savefig\((?!buf|f\b)|sf\.write\((?!buf|wav|f\b)")
    found = []
    for py in root.rglob("*.py"):
        if py.name == "files.py":
            continue
        for n, line in enumerate(py.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#")[0]
            if code.strip().startswith((">>>", "...")):
                continue  # a docstring example: the user's code, run as a doctest in a temporary folder
            if pattern.search(code) and "lambda f" not in code and "files." not in code and '"""' not in code and "``" not in code:
                found.append(f"{py.relative_to(root)}:{n}: {line.strip()}")
    allowed = {"runs/writer.py"}  # moving a rejected part into parts/rejected (a rename within the run folder)
    assert [f for f in found if f.split(":")[0] not in allowed] == []


# ---------------------------------------------------------------------------
# the prediction cache
# ---------------------------------------------------------------------------
def test_a_shared_cache_with_linked_shard_folders_is_never_written_through(tiny_model, tmp_path, caplog):
    from conftest import speech_like
    from workbench.engine.core import PredictionCache

    case = hostile.planted_cache_links(tmp_path / "cache", tmp_path / "outside")
    before = listing(case.extra["outside"])
    cache = PredictionCache(case.path)
    pred = tiny_model.predict([speech_like(16000, 1.0)])[0]
    key = "ab" + "0" * 62
    cache.put(key, pred)
    assert listing(case.extra["outside"]) == before == {}
    assert "symbolic link" in caplog.text and "'ab'" in caplog.text
    assert cache.get(key) is None


def test_a_cache_folder_that_is_itself_a_link_is_neither_read_nor_written(tiny_model, tmp_path, caplog):
    """`run --cache-dir LINK`: entries were written through the link (and entries planted behind it would be served)."""
    from conftest import speech_like
    from workbench.engine.core import PredictionCache

    real = tmp_path / "real"
    PredictionCache(real).put("ef" + "2" * 62, tiny_model.predict([speech_like(16000, 1.0)])[0])  # an entry behind the link
    (tmp_path / "link").symlink_to(real)
    before = listing(real)
    cache = PredictionCache(tmp_path / "link")
    assert "is a symbolic link (to " in caplog.text and f"--cache-dir {real}" in caplog.text
    assert cache.get("ef" + "2" * 62) is None
    cache.put("ab" + "3" * 62, tiny_model.predict([speech_like(16000, 1.0)])[0])
    assert listing(real) == before


def test_a_cache_that_cannot_be_written_says_so_once_not_per_entry(tiny_model, tmp_path, caplog):
    """A read-only --cache-dir printed one warning per clip: a corpus's worth of lines."""
    from conftest import speech_like
    from workbench.engine.core import PredictionCache

    (tmp_path / "file").write_text("x")
    cache = PredictionCache(tmp_path / "file" / "cache")  # a folder that cannot be made
    pred = tiny_model.predict([speech_like(16000, 1.0)])[0]
    for k in range(5):
        cache.put(f"{k:02d}" + "4" * 62, pred)
    assert caplog.text.count("prediction cache not written") == 1 and "no further entry is written" in caplog.text


def test_a_cache_entry_with_nan_logits_is_recomputed_not_served(tiny_model, tmp_path):
    from conftest import speech_like
    from workbench.engine.core import PredictionCache

    cache = PredictionCache(tmp_path / "cache")
    pred = tiny_model.predict([speech_like(16000, 1.0)])[0]
    key = "cd" + "1" * 62
    cache.put(key, pred)
    assert cache.get(key) is not None
    entry = dict(np.load(cache._path(key)))
    entry["logits"] = entry["logits"] * np.nan
    np.savez(cache._path(key), **entry)
    assert cache.get(key) is None


# ---------------------------------------------------------------------------
# ONNX: writes through links, hostile graphs, model.json
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def export_with_planted_temporaries(tmp_path_factory):
    """A real export of tiny into a folder holding links at the old temporary names (module-wide: one export)."""
    root = tmp_path_factory.mktemp("export")
    case = hostile.planted_export_links(root)[0]
    outside = root / "outside"
    before = listing(outside)
    rc, out, err = run_cli("model", "export-onnx", "--model", "tiny", "--out", case.path, "--no-check")
    return case, rc, out, err, before, listing(outside)


def test_export_onnx_never_writes_through_planted_temporaries(export_with_planted_temporaries):
    case, rc, out, err, before, after = export_with_planted_temporaries
    assert rc == 0, err
    assert after == before
    assert all(v.read_text(encoding="utf-8") == "precious" for v in case.extra["victims"])
    for name in ("model.onnx", "model.json"):
        assert stat.S_ISREG(os.lstat(case.path / name).st_mode), name


def test_export_onnx_refuses_a_destination_that_is_a_link(tmp_path):
    case = hostile.planted_export_links(tmp_path)[1]
    before = listing(tmp_path / "outside")
    rc, out, err = run_cli("model", "export-onnx", "--model", "tiny", "--out", case.path, "--no-check")
    assert rc == cli.EXIT_USAGE and "symbolic link" in err and "model.onnx" in err and "fix:" in err, err
    assert listing(tmp_path / "outside") == before


@pytest.fixture(scope="module")
def hostile_exports(export_with_planted_temporaries, tmp_path_factory):
    case = export_with_planted_temporaries[0]
    return hostile.hostile_onnx_exports(case.path, tmp_path_factory.mktemp("hostile_onnx"))


def test_hostile_graphs_are_refused_before_they_run(hostile_exports):
    from workbench.errors import ModelError
    from workbench.model.onnx_backend import load_onnx_model

    refused = [c for c in hostile_exports if c.extra["refused"]]
    assert len(refused) == 3
    for case in refused:
        with pytest.raises(ModelError) as e:
            load_onnx_model(case.path)
        assert case.extra["says"] in str(e.value) and e.value.fix, (case.name, str(e.value))


def test_nan_outputs_and_impossible_frame_counts_become_failed_rows(hostile_exports):
    from conftest import speech_like
    from workbench.engine.core import score_sources
    from workbench.model.onnx_backend import load_onnx_model

    for case in (c for c in hostile_exports if c.name in ("NaN logits", "frame_lengths of -1e9")):
        net = load_onnx_model(case.path)
        clips = [(speech_like(16000, 1.0, seed=1), 16000), (speech_like(16000, 1.5, seed=2), 16000)]
        scored = score_sources(net, clips, ids=["a", "b"], workers=0)
        assert [s.ok for s in scored] == [False, False], case.name
        assert all(case.extra["says"] in s.error["message"] for s in scored), [s.error for s in scored]


def test_model_json_cannot_remove_the_random_weights_banner(hostile_exports):
    from workbench.model.onnx_backend import load_onnx_model

    case = next(c for c in hostile_exports if c.name.startswith("model.json says"))
    net = load_onnx_model(case.path)
    assert net.random_weights and net.info.warning


def test_a_graph_that_runs_too_long_is_stopped(monkeypatch):
    """The Loop graph of the hostile corpus, run directly (the loader refuses it): the budget stops it."""
    import time

    import onnxruntime as ort
    from onnx import TensorProto, helper

    from workbench.errors import ModelError
    from workbench.model.onnx_backend import run_bounded

    body = hostile.loop_body()
    graph = helper.make_graph([helper.make_node("Loop", ["M", "c", "x0"], ["y"], body=body)], "g",
                              [helper.make_tensor_value_info("x0", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
                              initializer=[helper.make_tensor("M", TensorProto.INT64, [], [10 ** 15]),
                                           helper.make_tensor("c", TensorProto.BOOL, [], [True])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    t0 = time.monotonic()
    with pytest.raises(ModelError, match="time budget of 0.5 s"):
        run_bounded(session, ["y"], {"x0": np.zeros(1, np.float32)}, budget_s=0.5, source="loop")
    assert time.monotonic() - t0 < 15


def test_export_onnx_bakes_the_temperature_into_the_graph(tiny_model, tmp_path):
    from conftest import speech_like
    from workbench.model.onnx_backend import load_onnx_model

    rc, out, err = run_cli("model", "export-onnx", "--model", "tiny", "--out", tmp_path / "t2", "--no-check", "--temperature", "2")
    assert rc == 0, err
    assert "baked into the graph" in out
    graph = load_onnx_model(tmp_path / "t2")
    assert graph.info.temperature == 2.0
    clip = speech_like(16000, 1.2, seed=3)
    want = tiny_model.with_temperature(2.0).predict([clip])[0].scores
    np.testing.assert_allclose(graph.predict([clip])[0].scores, want, atol=1e-4)
    assert np.abs(tiny_model.predict([clip])[0].scores - want).max() > 1e-3  # the temperature changed them
    rc, out, err = run_cli("model", "export-onnx", "--model", "tiny", "--out", tmp_path / "t3", "--no-check", "--temperature", "1e308")
    assert rc == cli.EXIT_USAGE and "0.05" in err and "100" in err and not (tmp_path / "t3").exists()


# ---------------------------------------------------------------------------
# temperatures
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("bad", [1e308, 5e-324, 1e-300, float("nan"), float("inf"), 0.0, -1.0, 0.049, 100.5, True, "1.5", None])
def test_temperatures_outside_the_range_are_refused_with_it(bad):
    from workbench.errors import ConfigError
    from workbench.model.temperature import check_temperature

    with pytest.raises(ConfigError) as e:
        check_temperature(bad)
    assert "0.05" in str(e.value) and "100" in str(e.value)


def test_temperatures_in_the_range_are_taken():
    from workbench.cli.common import resolve_temperature
    from workbench.model.temperature import check_temperature

    assert check_temperature(0.05) == 0.05 and check_temperature(100) == 100.0 and check_temperature(np.float32(1.5)) == 1.5
    assert resolve_temperature("2") == 2.0


@pytest.mark.parametrize("value", [True, 1e308, 5e-324, "1.5"])
def test_an_experiment_file_with_an_absurd_temperature_is_refused(value):
    from workbench.errors import ConfigError
    from workbench.runs.experiment import Experiment

    # a number out of range is refused with the range; a yes/no or a quoted string with the type it must have
    expected = "0.05 to 100" if isinstance(value, float) else r"`temperature` is .* it must be int or float or null"
    with pytest.raises(ConfigError, match=expected):
        Experiment.from_dict({"manifest": "m.csv", "temperature": value}, source="exp.yaml")


@pytest.mark.parametrize("value", ["1e308", "5e-324", "true", "nan"])
def test_infer_refuses_an_absurd_temperature_before_scoring(value, tmp_path):
    import soundfile as sf

    from conftest import speech_like

    clip = tmp_path / "c.wav"
    sf.write(clip, speech_like(16000, 1.0), 16000)
    rc, out, err = run_cli("infer", "--model", "tiny", "--out", tmp_path / "o", "--temperature", value, clip)
    assert rc == cli.EXIT_USAGE and "fix:" in err, err
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------
# trusted caches: the checksum memo, the generated checkpoints
# ---------------------------------------------------------------------------
def test_the_checksum_memo_sees_bytes_changed_in_place_with_size_and_mtime_kept(tmp_path):
    from workbench.model.checkpoints import file_sha256

    p = tmp_path / "model.pt"
    p.write_bytes(b"A" * 4096)
    first = file_sha256(p)
    st = os.stat(p)
    with open(p, "r+b") as f:  # same size, then the modification time put back
        f.seek(100)
        f.write(b"B")
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(p).st_size == st.st_size and os.stat(p).st_mtime_ns == st.st_mtime_ns
    second = file_sha256(p)
    assert second != first
    import hashlib

    assert second == hashlib.sha256(p.read_bytes()).hexdigest()


def test_a_replaced_tiny_checkpoint_is_rebuilt_and_said(tiny_model, caplog):
    import hashlib

    from workbench.model.checkpoints import ensure_random_checkpoint

    folder = ensure_random_checkpoint("tiny")
    weights = folder / "model.pt"
    good = hashlib.sha256(weights.read_bytes()).hexdigest()
    state = __import__("torch").load(weights, weights_only=True)
    first = next(iter(state["model"]))
    state["model"][first] = state["model"][first] + 1.0
    buf = io.BytesIO()
    __import__("torch").save(state, buf)
    weights.write_bytes(buf.getvalue())  # a replaced tiny, marker untouched
    assert hashlib.sha256(weights.read_bytes()).hexdigest() != good
    ensure_random_checkpoint("tiny")
    assert "not the one the workbench built" in caplog.text
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == good


def test_a_model_cache_whose_checkpoints_folder_is_a_link_is_refused(tmp_path, monkeypatch):
    from workbench.model.checkpoints import ensure_random_checkpoint

    outside = tmp_path / "outside"
    outside.mkdir()
    cache = tmp_path / "cache"
    cache.mkdir()
    os.symlink(outside, cache / "checkpoints")
    monkeypatch.setenv("WORKBENCH_CACHE", str(cache))
    with pytest.raises(files.UnsafePathError, match="'checkpoints' is a symbolic link"):
        ensure_random_checkpoint("tiny")
    assert listing(outside) == {}


def test_the_banner_comes_from_the_weights_not_the_marker(tiny_model, tmp_path):
    """A copy of tiny whose marker file is deleted still loads with the random-weights banner (its checksum is known)."""
    import shutil

    from workbench.model.checkpoints import RANDOM_MARKER, ensure_random_checkpoint
    from workbench.model.network import clear_cache, load_model

    copy = tmp_path / "not_random"
    shutil.copytree(ensure_random_checkpoint("tiny"), copy)
    (copy / RANDOM_MARKER).unlink()
    clear_cache()
    net = load_model(str(copy), device="cpu")
    assert net.random_weights and net.info.warning


# ---------------------------------------------------------------------------
# tampered run folders
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small_run(tiny_model, tmp_path_factory):
    import soundfile as sf

    from conftest import speech_like
    from workbench.data.manifest import Item, Manifest, write_manifest
    from workbench.runs.driver import run

    root = tmp_path_factory.mktemp("small_run")
    (root / "audio").mkdir()
    items = []
    for i in range(4):
        sf.write(root / "audio" / f"c{i}.wav", speech_like(16000, 1.0, seed=i), 16000)
        items.append(Item(id=f"c{i}", path=f"audio/c{i}.wav", label="happy" if i % 2 else "sad", emotion="happy" if i % 2 else "sad"))
    manifest = write_manifest(Manifest(items, root=root), root / "manifest.jsonl")
    run(manifest, out_dir=root / "run", model=tiny_model, use_cache=False, chunk_size=2)
    return root, manifest, root / "run"


def test_a_hand_edited_part_is_rejected_on_resume_and_its_rows_scored_again(small_run, tmp_path):
    from workbench.runs.folder import RunFolder

    root, manifest, run_dir = small_run
    clean = RunFolder(run_dir).results()
    for case in (c for c in hostile.tampered_run_folders(run_dir, tmp_path) if c.extra["resume"]):
        rc, out, err = run_cli("run", manifest, "--out", case.path, "--model", "tiny", "--no-cache", "--chunk", "2")
        assert rc == 0, (case.name, err)
        res = RunFolder(case.path).results()
        assert (res["status"] == "ok").all() and res["pred"].isin(clean["pred"].unique()).all(), case.name
        scores = res[[c for c in res.columns if c.startswith("score_")]].to_numpy()
        assert np.isfinite(scores).all()
        assert list((case.path / "parts" / "rejected").glob("*part-00001.parquet")), case.name
        assert "rejected part-00001.parquet" in (case.path / "log.txt").read_text(encoding="utf-8")


def test_a_corrupt_results_table_is_refused_naming_the_file_and_the_fix(small_run, tmp_path):
    root, manifest, run_dir = small_run
    cases = [c for c in hostile.tampered_run_folders(run_dir, tmp_path) if not c.extra["resume"] and c.extra["says"] != "banner"]
    assert len(cases) == 2
    for case in cases:
        for cmd in (["metrics", case.path], ["compare", case.path]):
            rc, out, err = run_cli(*cmd)
            assert rc == cli.EXIT_USAGE, (case.name, cmd[0], rc, err)
            assert "results.parquet" in err and case.extra["says"] in err and "fix:" in err and "Traceback" not in err, err
            assert " ok" not in out


def test_summary_json_cannot_remove_the_banner(small_run, tmp_path):
    from workbench.runs.folder import RunFolder

    root, manifest, run_dir = small_run
    case = next(c for c in hostile.tampered_run_folders(run_dir, tmp_path) if c.extra.get("says") == "banner")
    assert RunFolder(case.path).random_weights
    rc, out, err = run_cli("metrics", case.path, "--no-figures")
    assert rc == 0, err
    assert "RANDOM WEIGHTS" in out
    metrics = json.loads((case.path / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["raw"]["random_weights"] is True


# ---------------------------------------------------------------------------
# Ray
# ---------------------------------------------------------------------------
def test_ray_token_file_is_private_and_the_local_cluster_on_loopback(tmp_path, monkeypatch, caplog):
    """The options the local cluster starts with (a real cluster start is in tests/test_ray.py)."""
    from workbench.engine import ray_executor

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    options = ray_executor.local_cluster_options()
    token = tmp_path / ".ray" / "auth_token"
    assert stat.S_IMODE(os.stat(token).st_mode) == 0o600 and len(token.read_text(encoding="utf-8")) == 64
    assert options["_node_ip_address"] == "127.0.0.1"
    temp = Path(options["_temp_dir"])
    assert stat.S_IMODE(os.stat(temp).st_mode) == 0o700
    (temp / "session_x" / "sockets").mkdir(parents=True)
    os.chmod(temp, 0o777)  # as Ray leaves them
    os.chmod(temp / "session_x", 0o777)
    ray_executor._close_session_folders(str(temp))
    assert stat.S_IMODE(os.stat(temp).st_mode) == 0o700 and not os.stat(temp / "session_x").st_mode & 0o022
    import shutil

    shutil.rmtree(temp)
    os.chmod(token, 0o644)  # as Ray writes it
    ray_executor.secure_token_file()
    assert stat.S_IMODE(os.stat(token).st_mode) == 0o600 and "now 0600" in caplog.text
    token.unlink()
    os.symlink(tmp_path / "elsewhere", token)
    with pytest.raises(Exception, match="symbolic link"):
        ray_executor.secure_token_file()
