"""A checkpoint's identity: what the caches of its outputs are keyed by covers every file that changes them
(weights, config.yaml, tokens.txt, a head's card), not the weights' checksum alone."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from conftest import fifo_fed
from test_runs import make_dataset
from workbench.runs.driver import run


@pytest.fixture
def ckpt(tmp_path):
    from workbench.model.generated import ensure_random_checkpoint

    folder = tmp_path / "ckpt"
    shutil.copytree(ensure_random_checkpoint("tiny"), folder)
    return folder


def _load(folder):
    from workbench.model.network import clear_cache, load_model

    clear_cache()
    return load_model(str(folder), device="cpu", dtype="float32")


def test_a_run_after_config_yaml_was_edited_scores_again(tmp_path, ckpt, own_model_cache):
    """config.yaml's num_heads 2 → 4 keeps every weight's shape and the weights' sha256, and changes every score: the
    second run served the first network's cached predictions (12 of 12 rows cached) under the new config."""
    manifest = make_dataset(tmp_path, n=3, bad=False)
    cache = tmp_path / "cache"
    before = _load(ckpt)
    first = run(manifest, out_dir=tmp_path / "a", model=before, cache_dir=cache)
    assert first.n_cached == 0 and run(manifest, out_dir=tmp_path / "b", model=before, cache_dir=cache).n_cached == 3
    config = (ckpt / "config.yaml").read_text(encoding="utf-8")
    assert "num_heads: 2" in config
    (ckpt / "config.yaml").write_text(config.replace("num_heads: 2", "num_heads: 4", 1), encoding="utf-8")
    after = _load(ckpt)
    assert after.info.checksum == before.info.checksum  # the weights are the same file
    assert after.info.identity != before.info.identity
    second = run(manifest, out_dir=tmp_path / "c", model=after, cache_dir=cache)
    assert second.n_cached == 0
    a, c = first.results(), second.results()
    cols = [col for col in a.columns if col.startswith("score_")]
    assert not np.allclose(a[cols].to_numpy(float), c[cols].to_numpy(float), atol=1e-6)
    model = json.loads((tmp_path / "c" / "summary.json").read_text())["model"]
    assert model["checksum"] == after.info.checksum and model["identity"] == after.info.identity


def test_the_identity_covers_tokens_and_the_card_and_not_the_weights_twice(ckpt, own_model_cache, monkeypatch):
    from workbench.model import building, weights
    from workbench.model.building import describe_checkpoint

    base = describe_checkpoint(str(ckpt)).info
    assert base.identity and base.identity != base.checksum
    assert _load(ckpt).info.identity == base.identity  # the same from the files alone as from the loaded network
    lines = (ckpt / "tokens.txt").read_text(encoding="utf-8").splitlines()
    (ckpt / "tokens.txt").write_text("\n".join([lines[1], lines[0], *lines[2:]]) + "\n", encoding="utf-8")
    reordered = describe_checkpoint(str(ckpt)).info
    assert reordered.checksum == base.checksum and reordered.identity != base.identity
    (ckpt / "training_card.json").write_text("{}", encoding="utf-8")
    assert weights.checkpoint_identity(ckpt, base.checksum) != reordered.identity
    # the weights are hashed once (the stat-keyed memo), never again for the identity
    monkeypatch.setattr(weights.files, "sha256_file", lambda p: pytest.fail(f"hashed again: {p}"))
    monkeypatch.setattr(building, "file_sha256", weights.file_sha256)
    assert describe_checkpoint(str(ckpt)).info.checksum == base.checksum


@pytest.mark.slow
def test_the_cue_checkpoint_through_onnx_says_its_own_warning_not_random_weights(caplog):
    """``--model cue`` through ONNX wrote "RANDOM WEIGHTS" to the log (its weights' checksum is in the registry of
    generated checkpoints, counted as random whatever its kind) while PyTorch said SYNTHETIC CUES, random_weights false."""
    from workbench.labels import RANDOM_WEIGHTS_BANNER
    from workbench.model.ref import ModelRef

    torch_info = ModelRef("cue", device="cpu", dtype="float32").load().info
    assert torch_info.random_weights is False and torch_info.warning
    ModelRef("cue", device="cpu", dtype="onnx-float32").load()  # the export is made
    caplog.clear()
    with caplog.at_level("WARNING"):
        net = ModelRef("cue", device="cpu", dtype="onnx-float32").load()
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert net.info.random_weights is False and net.info.warning == torch_info.warning
    assert RANDOM_WEIGHTS_BANNER not in said and torch_info.warning in said
    from workbench.model.onnx_backend import load_onnx_model

    graph = load_onnx_model(net.export_folder, dtype="float32", device="cpu")  # the export loaded on its own
    assert graph.info.random_weights is False and graph.info.warning == torch_info.warning


def test_a_weights_file_far_larger_than_the_config_allows_is_refused_before_it_is_hashed(ckpt, own_model_cache, monkeypatch):
    """A 30 GB sparse model.safetensors was hashed in full (minutes of reading zeros) before it was refused."""
    from workbench.errors import ModelError
    from workbench.model import building, weights
    from workbench.model.building import describe_checkpoint

    (ckpt / "model.pt").unlink()
    with open(ckpt / "model.safetensors", "wb") as f:
        f.truncate(30 * 10**9)  # sparse: no disk used
    monkeypatch.setattr(weights.files, "sha256_file", lambda p: pytest.fail(f"hashed: {p}"))
    monkeypatch.setattr(building, "file_sha256", lambda p, **k: pytest.fail(f"hashed: {p}"))
    for attempt in (lambda: describe_checkpoint(str(ckpt)), lambda: _load(ckpt)):
        with pytest.raises(ModelError) as err:
            attempt()
        assert "30,000,000,000 bytes" in err.value.message and "at most about" in err.value.message
        assert "model.safetensors" in str(err.value.source)


def _projected(tmp_path):
    """A run's t-SNE projection made once: its embeddings, its cache file, that file's arrays and the coordinates."""
    import workbench.analysis.embeddings as E
    from test_figure_costs import _emb_run

    rf = _emb_run(tmp_path / "run")
    emb = E.load_run_embeddings(rf.path)
    first, _ = E.project_run(emb, "tsne", seed=0)
    path = rf.path / "projection_tsne_cache.npz"
    with np.load(path) as z:
        return emb, path, dict(z), first


def test_a_projection_cache_whose_numbers_were_edited_under_its_key_is_computed_again(tmp_path, monkeypatch, caplog):
    """projection_tsne_cache.npz with its coordinates edited and its key intact was reused as the run's projection."""
    import workbench.analysis.embeddings as E

    emb, path, stored, _ = _projected(tmp_path)
    stored["xy"] = stored["xy"] * 0 + 7  # every point moved, the key kept
    with open(path, "wb") as f:
        np.savez(f, **stored)
    with caplog.at_level("WARNING"):
        again, cached = E.project_run(emb, "tsne", seed=0)
    assert not cached and not np.allclose(again, 7) and "do not match the checksum" in caplog.text
    assert E.project_run(emb, "tsne", seed=0)[1]  # written again with its checksum: reused


def test_a_projection_cache_of_strings_or_nan_under_its_key_and_a_matching_seal_is_computed_again(tmp_path):
    """The seal guards against accidents, not form: coordinates written as strings (their "checksum" of anything)
    crashed `embeddings` with ValueError: could not convert string to float; NaN coordinates sealed to match were
    reused, and every point vanished from the figure."""
    import hashlib

    import workbench.analysis.embeddings as E

    emb, path, stored, first = _projected(tmp_path)
    nan = np.full(stored["xy"].shape, np.nan, dtype=np.float32)
    for xy, seal in ((np.full(stored["xy"].shape, "a"), "x"), (nan, hashlib.sha256(nan.tobytes()).hexdigest())):
        with open(path, "wb") as f:
            np.savez(f, **{**stored, "xy": xy, "xy_sha256": np.asarray(seal)})
        again, cached = E.project_run(emb, "tsne", seed=0)
        assert not cached and np.isfinite(again).all() and np.allclose(again, first)


def test_a_fusion_json_whose_numbers_were_edited_under_its_key_is_not_reused(tmp_path, caplog):
    """fusion.json's figures edited with its key intact were reused: the report said "Reused…" over numbers nobody fit."""
    from workbench.analysis.fusion import cached_fusion, fusion_key, write_sealed_json
    from workbench.runs.folder import RunFolder
    from test_figure_costs import _emb_run

    rf = _emb_run(tmp_path / "run")
    params = {"text_model": "m", "n_boot": 20, "folds": 2}
    payload = {"metrics": {"speech": {"uar": 0.41}}, "key": fusion_key(rf.path, **params)}
    write_sealed_json(RunFolder(rf.path), "fusion.json", payload)
    assert cached_fusion(rf.path, **params)["metrics"]["speech"]["uar"] == 0.41
    path = rf.path / "fusion.json"
    path.write_text(path.read_text().replace("0.41", "0.93"))
    with caplog.at_level("WARNING"):
        assert cached_fusion(rf.path, **params) is None
    assert "do not match the checksum" in caplog.text
    stored = json.loads(path.read_text())
    del stored["content_sha256"]  # one written before checksums, or with it removed: not trusted either
    path.write_text(json.dumps(stored))
    assert cached_fusion(rf.path, **params) is None


def test_a_fusion_json_of_a_text_model_beside_the_run_is_reused(tmp_path):
    """A text model under the same folder as the run (a project's .venv beside its runs, or CI's clone under /tmp) is
    stored relative to the run in fusion.json's key; the key was compared as stored, never matched, and the fusion was
    fitted again on every report (a fresh clone's CI caught it)."""
    from workbench.analysis.fusion import cached_fusion, fusion_key, write_sealed_json
    from workbench.runs.folder import RunFolder
    from test_figure_costs import _emb_run

    rf = _emb_run(tmp_path / "run")
    (tmp_path / "models" / "text").mkdir(parents=True)
    (tmp_path / "models" / "text" / "modules.json").write_text("[]")  # a sentence-transformers folder, as the key checks
    params = {"text_model": str(tmp_path / "models" / "text"), "n_boot": 20, "folds": 2}
    write_sealed_json(RunFolder(rf.path), "fusion.json", {"metrics": {"speech": {"uar": 0.41}}, "key": fusion_key(rf.path, **params)})
    assert json.loads((rf.path / "fusion.json").read_text())["key"]["text_model"] == "../models/text"  # as stored
    got = cached_fusion(rf.path, **params)
    assert got is not None and got["key"]["text_model"] == str(tmp_path / "models" / "text")


def test_a_tokens_txt_that_is_a_fifo_is_refused_before_funasr_reads_it(ckpt):
    """FunASR's CharTokenizer opens tokens.txt unchecked: a FIFO there hung `workbench model info` (killed by timeout
    after 60 s); the workbench's own checks refused FIFOs in config.yaml and the card but never reached tokens.txt."""
    import os

    from workbench.errors import ModelError
    from workbench.model.building import _loader_settings
    from workbench.model.checkpoints import resolve_model

    (ckpt / "tokens.txt").unlink()
    os.mkfifo(ckpt / "tokens.txt")
    with pytest.raises(ModelError, match="tokens.txt is not a regular file"):
        _loader_settings(resolve_model(str(ckpt)), "cpu", 1)


def test_the_identity_never_opens_a_fifo_put_in_the_folder_and_counts_it_absent(ckpt):
    """A tokens.txt replaced by a FIFO while a run used the folder: checkpoint_identity's plain open() waited for a
    writer (for ever, without one) and hashed whatever the writer sent as the file's bytes."""
    import os

    from workbench.model.weights import checkpoint_identity

    (ckpt / "tokens.txt").unlink()
    absent = checkpoint_identity(ckpt, "a" * 64)
    os.mkfifo(ckpt / "tokens.txt")

    with fifo_fed(ckpt / "tokens.txt", b"sent through the pipe\n"):  # the old code returned the sent bytes
        seen = checkpoint_identity(ckpt, "a" * 64)
    assert seen == absent


def test_a_rerun_with_another_config_yaml_names_that_file_even_when_the_checkpoint_folder_is_gone(tmp_path, ckpt, own_model_cache):
    """The same weights under an edited config.yaml: the re-run's check said only "max |Δ score|" (the weights' sha256
    matched); summary.json's model.identity_files now names the file, read from the record alone (a hub download or a
    folder no longer there), and an old record without per-file digests says "one of"."""
    from workbench.model.weights import identity_mismatch
    from workbench.runs.reproduce import compare_runs

    manifest = make_dataset(tmp_path, n=2, bad=False)
    run(manifest, out_dir=tmp_path / "a", model=_load(ckpt), cache_dir=tmp_path / "cache")
    recorded = json.loads((tmp_path / "a" / "summary.json").read_text())["model"]
    assert set(recorded["identity_files"]) == {"config.yaml", "tokens.txt", "training_card.json"}
    assert recorded["identity_files"]["training_card.json"] == "absent" and len(recorded["identity_files"]["config.yaml"]) == 64
    config = (ckpt / "config.yaml").read_text(encoding="utf-8")
    (ckpt / "config.yaml").write_text(config.replace("num_heads: 2", "num_heads: 4", 1), encoding="utf-8")
    run(manifest, out_dir=tmp_path / "c", model=_load(ckpt), cache_dir=tmp_path / "cache")
    ckpt.rename(tmp_path / "moved")  # nothing left to read the files back from: the records alone name it
    d = compare_runs(tmp_path / "a", tmp_path / "c")
    assert not d["reproduced"] and not d["model_changed"]
    assert "config.yaml differs" in d["model_files_changed"] and "tokens.txt" not in d["model_files_changed"]
    assert "another model: the same weights but config.yaml differs" in d["line"]
    now = json.loads((tmp_path / "c" / "summary.json").read_text())["model"]
    old = {k: v for k, v in recorded.items() if k != "identity_files"}  # a run of before the per-file record: still read
    assert "one of config.yaml, tokens.txt, training_card.json differs" in identity_mismatch(old, now)
    assert identity_mismatch(recorded, recorded) is None and identity_mismatch({}, now) is None


def test_explain_refuses_the_runs_weights_under_another_config_yaml_naming_it(tmp_path, ckpt, own_model_cache, capsys):
    """explain compared the weights' sha256 alone with the run's: an edited config.yaml (another network) explained
    the run's rows unflagged."""
    from workbench.cli import main

    manifest = make_dataset(tmp_path, n=2, bad=False)
    done = run(manifest, out_dir=tmp_path / "a", model=_load(ckpt), cache_dir=tmp_path / "cache")
    item = str(done.results()["id"].iloc[0])
    config = (ckpt / "config.yaml").read_text(encoding="utf-8")
    (ckpt / "config.yaml").write_text(config.replace("num_heads: 2", "num_heads: 4", 1), encoding="utf-8")
    assert main(["explain", str(tmp_path / "a"), "--item", item, "--method", "occlusion", "--steps", "4", "--randomisation", "none",
                 "--device", "cpu", "--out", str(tmp_path / "e")]) != 0
    err = capsys.readouterr().err
    assert "the model loaded is not the run's: the same weights but config.yaml differs" in err and "--other-model" in err
    assert not (tmp_path / "e").exists()


def test_explain_worst_records_the_model_and_the_report_refuses_one_of_another_config_naming_it(tmp_path, ckpt, own_model_cache, capsys):
    """explain_worst.json kept no model: made with --other-model (the run's weights under another config.yaml), the
    report showed its maps as the run's model's.  It now records the model's identity and its files; a summary of
    another model than the run's is refused, naming the file."""
    from workbench.cli import main
    from workbench.errors import ConfigError
    from workbench.explain.worst import worst_summary

    manifest = make_dataset(tmp_path, n=2, bad=False)
    run(manifest, out_dir=tmp_path / "a", model=_load(ckpt), cache_dir=tmp_path / "cache")
    fast = ["--method", "occlusion", "--steps", "4", "--randomisation", "none", "--device", "cpu"]
    assert main(["explain", str(tmp_path / "a"), "--worst", "1", *fast]) == 0
    recorded = json.loads((tmp_path / "a" / "summary.json").read_text())["model"]
    model = worst_summary(tmp_path / "a")["model"]
    assert model["identity"] == recorded["identity"] and model["identity_files"] == recorded["identity_files"]
    other = tmp_path / "other"
    shutil.copytree(ckpt, other)
    config = (other / "config.yaml").read_text(encoding="utf-8")
    (other / "config.yaml").write_text(config.replace("num_heads: 2", "num_heads: 4", 1), encoding="utf-8")
    assert main(["explain", str(tmp_path / "a"), "--worst", "1", *fast, "--model", str(other), "--other-model"]) == 0
    assert "OTHER MODEL: the same weights but config.yaml differs" in capsys.readouterr().out
    with pytest.raises(ConfigError, match=r"another model than the run's \(the same weights but config\.yaml differs \(sha256 \w+… explained with"):
        worst_summary(tmp_path / "a")


def test_resuming_a_run_with_its_weights_under_another_config_yaml_is_refused_naming_it(tmp_path, ckpt, own_model_cache):
    """The model is not among the settings a resumed run must share (its path is): the same weights under an edited
    config.yaml resumed the folder, kept every row of the old network and recorded the new one's identity over them."""
    from workbench.runs.folder import RunFolderError

    manifest = make_dataset(tmp_path, n=2, bad=False)
    run(manifest, out_dir=tmp_path / "a", model=_load(ckpt), cache_dir=tmp_path / "cache")
    before = (tmp_path / "a" / "summary.json").read_text()
    assert run(manifest, out_dir=tmp_path / "a", model=_load(ckpt), cache_dir=tmp_path / "cache").n_resumed == 2  # the same model resumes
    config = (ckpt / "config.yaml").read_text(encoding="utf-8")
    (ckpt / "config.yaml").write_text(config.replace("num_heads: 2", "num_heads: 4", 1), encoding="utf-8")
    with pytest.raises(RunFolderError, match=r"another model: the same weights but config\.yaml differs .* in the folder's run\)"):
        run(manifest, out_dir=tmp_path / "a", model=_load(ckpt), cache_dir=tmp_path / "cache")
    assert json.loads((tmp_path / "a" / "summary.json").read_text())["model"]["identity"] == json.loads(before)["model"]["identity"]
