"""Experiment tracking: a finished run folder logged to MLflow.

:func:`log_run` records one MLflow run per run folder:

* **parameters**: the run's ``config.yaml`` flattened (``audio.target_sr``,
  ``variant.<name>`` = its chain as JSON, ``manifest_sha256`` …);
* **tags**: model provenance (``workbench.model_id``, ``workbench.model_checksum``,
  ``workbench.random_weights`` = ``true``/``false``), the workbench version and the
  run folder; ``workbench.flags.<variant>``, the failed checks of the variant's figures
  (AT CHANCE, zero-width or few-item intervals …, as ``workbench metrics`` prints them);
* **metrics** per variant, from :func:`workbench.analysis.metrics.run_metrics`:
  ``<variant>.wa``/``.uar``/``.macro_f1`` with ``.ci_low``/``.ci_high`` bounds,
  ``.ece``, ``.n_scored``, ``.n_failed``, ``.n_excluded``; and the run's ``rows``,
  ``failed``, ``seconds``, ``audio_seconds``;
* **artifacts**: ``results.parquet``, ``summary.json``, ``config.yaml``,
  ``metrics.json``, ``log.txt``, any ``compare.json``/``flips.csv``, the figures
  (``figures/*.png``) and report HTML files passed in or found in the folder.

Where it goes: ``uri`` when given, else ``MLFLOW_TRACKING_URI`` when set, else an
embedded store in ``./mlruns`` (``sqlite:///…/mlruns/mlflow.db``, artifacts in
``mlruns/artifacts``), which ``mlflow ui --backend-store-uri sqlite:///mlruns/mlflow.db``
shows.  MLflow's own log lines and warnings are silenced (they never reach the screen), and
its usage telemetry is off unless ``MLFLOW_DISABLE_TELEMETRY=false`` is set.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
import warnings
from pathlib import Path
from typing import Any, Iterator, Sequence

from workbench import __version__
from workbench.errors import ConfigError
from workbench.analysis.metrics import run_metrics
from workbench.runs.folder import RunFolder, as_run_folder

logger = logging.getLogger(__name__)

DEFAULT_EXPERIMENT = "emotion-workbench"
#: the embedded store, relative to the working directory
DEFAULT_STORE = Path("mlruns")
_ARTIFACTS = ("results.parquet", "summary.json", "config.yaml", "metrics.json", "log.txt", "compare.json", "flips.csv", "supervisions.jsonl.gz")
_PARAM_MAX = 6000  # MLflow's limit on a parameter value
_KEY = re.compile(r"[^\w\-. /]")


def default_uri(store: str | os.PathLike = DEFAULT_STORE) -> str:
    """The embedded tracking store: ``sqlite:///<store>/mlflow.db`` (absolute)."""
    return f"sqlite:///{Path(store).resolve() / 'mlflow.db'}"


def _mlflow():
    # MLflow sends usage telemetry unless told not to; a research tool sends nothing the user did not ask for
    # (setdefault: a user who sets MLFLOW_DISABLE_TELEMETRY=false keeps it)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    try:
        with _quiet():
            from mlflow.telemetry.client import set_telemetry_client
            from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError("MLflow is not installed.", source="--track mlflow",
                          fix="pip install 'workbench[tracking]' (or pip install mlflow-skinny sqlalchemy alembic).") from None
    for name in ("mlflow", "alembic", "sqlalchemy"):  # their own handlers print INFO lines (database migrations …)
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    with _quiet():
        set_telemetry_client()  # re-read the setting when mlflow was imported before it was set
    return MlflowClient


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def log_run(
    run_folder: "str | os.PathLike | RunFolder",
    *,
    uri: str | None = None,
    experiment: str | None = None,
    reports: Sequence[str | os.PathLike] = (),
    restrict: bool = False,
    n_boot: int = 1000,
) -> str:
    """Log a finished run folder to MLflow and return the MLflow run id.

    Parameters
    ----------
    run_folder : path or RunFolder
        A finished run (``results.parquet`` present).
    uri : str, optional
        Tracking URI (``http://host:5000``, ``sqlite:///path.db``, ``databricks`` …).
        Default: ``MLFLOW_TRACKING_URI``, else the embedded store in ``./mlruns``.
    experiment : str, optional
        Default: ``MLFLOW_EXPERIMENT_NAME``, else ``"emotion-workbench"``.
    reports : paths
        Report HTML files to attach (``workbench report`` writes them outside the run folder).
    restrict : bool
        Score with the argmax over the dataset's classes (as ``workbench metrics --restrict``).
    n_boot : int
        Bootstrap resamples of the intervals.

    Writes ``metrics.json`` and the metric figures into the run folder, as
    ``workbench metrics`` does, and logs them.
    """
    rf = as_run_folder(run_folder)
    rf.results()  # RunFolderError with the fix when the run did not finish
    embedded = uri is None and not os.environ.get("MLFLOW_TRACKING_URI")
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or default_uri()
    experiment = experiment or os.environ.get("MLFLOW_EXPERIMENT_NAME") or DEFAULT_EXPERIMENT
    missing = [str(p) for p in reports if not Path(p).is_file()]
    if missing:
        raise ConfigError(f"report file not found: {', '.join(missing)}.", source="reports", fix="pass the HTML file `workbench report` printed.")
    reports_found = [Path(p) for p in reports] + sorted(rf.path.glob("*.html"))

    MlflowClient = _mlflow()
    if embedded:
        DEFAULT_STORE.mkdir(parents=True, exist_ok=True)
    with _quiet():
        try:
            client = MlflowClient(tracking_uri=uri)
            exp = client.get_experiment_by_name(experiment)
            if exp is None:
                location = (DEFAULT_STORE / "artifacts").resolve().as_uri() if embedded else None
                exp_id = client.create_experiment(experiment, artifact_location=location)
            else:
                exp_id = exp.experiment_id
        except Exception as exc:  # MLflow's store errors: the URI is what the user can change
            raise ConfigError(f"cannot open the MLflow tracking store ({type(exc).__name__}: {_first_line(exc)}).", source=uri,
                              fix="check --tracking-uri (a server URL, sqlite:///path.db …); leave it out for the embedded store in ./mlruns.") from None
        reports_by_variant = run_metrics(rf.path, restrict=restrict, figures=True, n_boot=n_boot)
        overlap = next(iter(reports_by_variant.values())).training_overlap if reports_by_variant else []
        run = client.create_run(exp_id, run_name=rf.path.name, tags=_tags(rf, overlap))
        run_id = run.info.run_id
        try:
            _log_values(client, run_id, rf, reports_by_variant)
            for name in _ARTIFACTS:
                if (rf.path / name).is_file():
                    client.log_artifact(run_id, str(rf.path / name))
            for png in sorted(rf.path.glob("*.png")):
                client.log_artifact(run_id, str(png), artifact_path="figures")
            for html in reports_found:
                client.log_artifact(run_id, str(html), artifact_path="reports")
        except BaseException:
            client.set_terminated(run_id, status="FAILED")
            raise
        client.set_terminated(run_id, status="FINISHED")
    logger.info("logged %s to MLflow run %s (%s, experiment %s)", rf.path, run_id, uri, experiment)
    return run_id


def _tags(rf: RunFolder, overlap: Sequence[str] = ()) -> dict[str, str]:
    """Provenance tags; the run's note (MLflow's description, shown first) starts with any training-data overlap."""
    model = rf.model_ref
    summary = rf.summary
    tags = {
        "workbench.version": __version__,
        "workbench.run_dir": str(rf.path.resolve()),
        "workbench.model_id": str(model.get("id") or model.get("model") or ""),
        "workbench.model_kind": str(model.get("kind") or ""),
        "workbench.model_checksum": str(model.get("checksum") or ""),
        "workbench.model_revision": str(model.get("revision") or ""),
        "workbench.random_weights": "true" if rf.random_weights else "false",
        "workbench.engine.core": str((summary.get("engine") or {}).get("name") or ""),
        "mlflow.source.name": "workbench run",
    }
    notes = [f"WARNING {w}" for w in overlap]
    if rf.random_weights:
        notes.append("Random weights: the predictions of this run mean nothing (a seeded random checkpoint).")
    if notes:
        tags["mlflow.note.content"] = "\n\n".join(notes)
    tags["workbench.training_overlap"] = "true" if overlap else "false"
    return tags


def params_of(config: dict) -> dict[str, str]:
    """A run's config flattened into MLflow parameters (``audio.target_sr`` …; each variant's chain as JSON)."""
    out: dict[str, str] = {}

    def put(key: str, value: Any) -> None:
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        if len(text) > _PARAM_MAX:
            text = text[: _PARAM_MAX - 12] + " …[cut]"
        out[_KEY.sub("_", key)[:250]] = text

    for key, value in config.items():
        if key == "variants":
            put("variants", [v.get("name") for v in value or []])
            for v in value or []:
                put(f"variant.{v.get('name')}", v.get("steps") or [])
        elif isinstance(value, dict):
            for k, v in value.items():
                put(f"{key}.{k}", v)
        else:
            put(key, value)
    return out


def _flag_tags(reports_by_variant: dict) -> dict[str, str]:
    """``workbench.flags.<variant>``: the failed checks of the variant's logged figures (:meth:`Report.flags`, the words
    ``metrics`` prints under them), ``none`` when every check passed, so an MLflow view of WA and UAR shows them too."""
    tags = {}
    for variant, r in reports_by_variant.items():
        flags = r.flags()
        tags[f"workbench.flags.{_KEY.sub('_', str(variant))}"[:250]] = ("; ".join(f"{k}: {v}" for k, v in flags.items()) or "none")[:5000]
    return tags


def _log_values(client, run_id: str, rf: RunFolder, reports_by_variant: dict) -> None:
    from mlflow.entities import Metric, Param, RunTag

    now = int(time.time() * 1000)
    metrics: dict[str, float] = {}
    summary = rf.summary
    for key in ("rows", "failed", "seconds", "audio_seconds"):
        if isinstance(summary.get(key), (int, float)):
            metrics[key] = float(summary[key])
    for variant, r in reports_by_variant.items():
        v = _KEY.sub("_", str(variant))
        for name in ("wa", "uar", "macro_f1"):
            metrics[f"{v}.{name}"] = float(getattr(r, name))
            lo, hi = r.ci[name]
            metrics[f"{v}.{name}.ci_low"], metrics[f"{v}.{name}.ci_high"] = float(lo), float(hi)
        metrics[f"{v}.ece"] = float(r.ece)
        metrics[f"{v}.n_scored"] = float(r.n_scored)
        metrics[f"{v}.n_failed"] = float(r.n_failed)
        metrics[f"{v}.n_excluded"] = float(r.n_excluded_no_counterpart)
    params = params_of(rf.config)
    items = list(params.items())
    for start in range(0, max(len(items), 1), 100):  # MLflow takes at most 100 parameters per batch
        client.log_batch(run_id, params=[Param(k, v) for k, v in items[start : start + 100]])
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in _flag_tags(reports_by_variant).items()])
    finite = [Metric(k, v, now, 0) for k, v in metrics.items() if v == v]  # NaN (nothing scored) is left out
    for start in range(0, len(finite), 1000):
        client.log_batch(run_id, metrics=finite[start : start + 1000])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""
