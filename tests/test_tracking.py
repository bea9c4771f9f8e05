"""MLflow tracking of a real run (tiny model), read back with MlflowClient; offline, local stores only."""

from __future__ import annotations

import json
import os

import pytest
import soundfile as sf

pytest.importorskip("mlflow")
pytest.importorskip("sqlalchemy")

from conftest import speech_like  # noqa: E402
from workbench.errors import ConfigError  # noqa: E402
from workbench.data.manifest import Item, Manifest  # noqa: E402
from workbench.runs.folder import RunFolder  # noqa: E402
from workbench.runs.driver import run  # noqa: E402
from workbench.views.tracking import default_uri, log_run, params_of  # noqa: E402
from workbench.audio.variants import variants_from  # noqa: E402

EMOTIONS = ["happy", "sad", "angry", "neutral", ""]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, tiny_model):
    tmp = tmp_path_factory.mktemp("tracked")
    items = []
    for i, emo in enumerate(EMOTIONS):
        p = tmp / "clips" / f"c{i}.wav"
        p.parent.mkdir(exist_ok=True)
        sf.write(p, speech_like(16000, 0.6, seed=i), 16000)
        items.append(Item(id=f"c{i}", path=str(p), label=emo or "calm", emotion=emo, speaker=f"s{i % 2}"))
    items.append(Item(id="broken", path=str(tmp / "clips" / "missing.wav"), label="happy", emotion="happy"))
    res = run(Manifest(items, root=tmp, name="tracked"), out_dir=tmp / "run", model=tiny_model, use_cache=False,
              variants=variants_from({"raw": [], "quiet": [{"name": "gain", "db": -6}]}))
    return RunFolder(res.run_dir)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One folder for the embedded store: creating an MLflow database takes seconds."""
    return tmp_path_factory.mktemp("store")


def test_log_run_to_the_embedded_store_and_read_it_back(finished_run, store, tmp_path, monkeypatch, capfd):
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(store)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    (finished_run.path / "report.html").write_text("<html><body>report</body></html>")
    capfd.readouterr()
    run_id = log_run(finished_run)
    out, err = capfd.readouterr()
    assert out == "" and err == "", f"MLflow reached the screen: {out!r} {err!r}"
    assert (store / "mlruns" / "mlflow.db").is_file()

    client = MlflowClient(tracking_uri=default_uri(store / "mlruns"))
    got = client.get_run(run_id)
    assert got.info.status == "FINISHED" and got.info.run_name == "run"
    assert client.get_experiment(got.info.experiment_id).name == "emotion-workbench"
    params, tags, metrics = got.data.params, got.data.tags, got.data.metrics
    config = finished_run.config
    assert params["manifest_sha256"] == config["manifest_sha256"] and params["dtype"] == "float32"
    assert json.loads(params["variants"]) == ["raw", "quiet"] and json.loads(params["variant.quiet"]) == [{"name": "gain", "db": -6}]
    assert params["audio.target_sr"] == str(config["audio"]["target_sr"])
    model = finished_run.summary["model"]
    assert tags["workbench.random_weights"] == "true" and tags["workbench.model_checksum"] == model["checksum"] and model["checksum"]
    assert tags["workbench.model_id"] == model["id"]
    # metrics with intervals per variant, equal to what `workbench metrics` computed for the run
    written = json.loads((finished_run.path / "metrics.json").read_text())
    for v in ("raw", "quiet"):
        for name in ("wa", "uar", "macro_f1"):
            assert metrics[f"{v}.{name}"] == pytest.approx(written[v][name])
            assert metrics[f"{v}.{name}.ci_low"] <= metrics[f"{v}.{name}"] <= metrics[f"{v}.{name}.ci_high"]
        assert metrics[f"{v}.n_scored"] == 4 and metrics[f"{v}.n_failed"] == 1 and metrics[f"{v}.n_excluded"] == 1
        # the figures' failed checks beside them (4 items: intervals too narrow to trust), as metrics.json has them
        assert written[v]["flags"]["few_items"].startswith("intervals from only 4 item(s)")
        assert all(f"{k}: {note}" in tags[f"workbench.flags.{v}"] for k, note in written[v]["flags"].items())
    assert metrics["rows"] == 12 and metrics["failed"] == 2
    top = {a.path for a in client.list_artifacts(run_id)}
    assert {"results.parquet", "summary.json", "config.yaml", "metrics.json", "figures", "reports"} <= top
    figures = {a.path for a in client.list_artifacts(run_id, "figures")}
    assert "figures/confusion_raw.png" in figures and "figures/reliability_quiet.png" in figures
    assert [a.path for a in client.list_artifacts(run_id, "reports")] == ["reports/report.html"]
    local = client.download_artifacts(run_id, "summary.json", str(tmp_path / "dl"))
    assert json.loads(open(local).read())["rows"] == 12
    assert (store / "mlruns" / "artifacts").is_dir()


def test_any_tracking_uri_and_experiment(finished_run, store):
    from mlflow.tracking import MlflowClient

    uri = default_uri(store / "mlruns")  # the same database, named by URI, with another experiment
    run_id = log_run(finished_run.path, uri=uri, experiment="ser-study", n_boot=100)
    client = MlflowClient(tracking_uri=uri)
    assert client.get_experiment(client.get_run(run_id).info.experiment_id).name == "ser-study"
    second = log_run(finished_run.path, uri=uri, experiment="ser-study", n_boot=100)  # the experiment is reused
    assert second != run_id and len(client.search_runs([client.get_experiment_by_name("ser-study").experiment_id])) == 2


def test_telemetry_is_off_unless_the_user_turns_it_on(monkeypatch):
    from mlflow.telemetry.client import get_telemetry_client

    from workbench.views.tracking import _mlflow

    monkeypatch.delenv("MLFLOW_DISABLE_TELEMETRY", raising=False)
    _mlflow()
    assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true" and get_telemetry_client() is None


def test_errors_and_params(tmp_path, finished_run):
    with pytest.raises(ConfigError, match="report file not found"):
        log_run(finished_run, uri=f"sqlite:///{tmp_path / 'x.db'}", reports=[tmp_path / "nope.html"])
    with pytest.raises(ConfigError, match="cannot open the MLflow tracking store"):
        log_run(finished_run, uri="nosuchscheme://x")
    long = params_of({"variants": [{"name": "a b/c", "steps": [{"name": "gain", "db": 1}] * 2000}], "audio": {"target_sr": 16000}})
    assert set(long) == {"variants", "variant.a b/c", "audio.target_sr"} and len(long["variant.a b/c"]) <= 6000


@pytest.mark.slow
def test_cli_run_with_track(tmp_path, store, capsys):
    from mlflow.tracking import MlflowClient

    from workbench.cli import main
    from workbench.data.manifest import write_manifest

    p = tmp_path / "a.wav"
    sf.write(p, speech_like(16000, 0.6, seed=9), 16000)
    write_manifest(Manifest([Item(id="a", path=str(p), label="happy", emotion="happy")]), tmp_path / "m.csv")
    uri = default_uri(store / "mlruns")
    assert main(["run", str(tmp_path / "m.csv"), "--model", "tiny", "--device", "cpu", "--out", str(tmp_path / "r"), "--no-cache",
                 "--track", "mlflow", "--tracking-uri", uri]) == 0
    out = capsys.readouterr().out
    run_id = out.split("MLflow run ")[1].split()[0]
    assert MlflowClient(tracking_uri=uri).get_run(run_id).data.tags["workbench.random_weights"] == "true"
