"""emotion workbench: find out why emotion2vec+ labels a clip the way it does.

``import workbench`` is cheap: torch, funasr and the other heavy libraries are
imported inside the functions that need them.  The public names below are
resolved lazily on first use.
"""

from __future__ import annotations

from workbench import interrupts  # noqa: F401, I001  (first, standard library only: the Ctrl-C handler of the `workbench` command)

import importlib

__version__ = "0.1.0"

#: the researcher's API: ``import workbench as wb`` and every name below (notebooks and templates use only these)
_PUBLIC = {
    # errors
    "WorkbenchError": "errors",
    "AudioError": "errors",
    "ModelError": "errors",
    "ConfigError": "errors",
    # labels and the constants every stage shares
    "LABELS": "labels",
    "LABEL_KEYS": "labels",
    "SAMPLE_RATE": "schema",
    "FRAME_RATE": "schema",
    # audio in
    "Audio": "audio.intake",
    "AudioConfig": "audio.intake",
    "load_audio": ("audio.intake", "load"),
    "ProcessingLog": "audio.processing",
    "Variant": "audio.variants",
    # the model: one reference type, loaded once
    "ModelRef": "model.ref",
    "load_model": "model.network",
    "Prediction": "model.network",
    "Emotion2vecModel": "model.network",
    "DEFAULT_MODEL": "model.network",
    # data in
    "read_manifest": "data.manifest",
    "DEMO_DATA": "data.demoset",
    "demo_manifest": "data.demoset",
    "choose_model": "data.demoset",
    # scoring: single files, whole corpora, long audio
    "infer_files": "runs.outputs",
    "score_sources": "engine.core",
    "diagnose": "engine.diagnosis",
    "run": "runs.driver",
    "run_experiment": "runs.driver",
    "demo_run": "runs.driver",
    "Experiment": "runs.experiment",
    "RunFolder": "runs.folder",
    "segment_file": "runs.longform",
    "sweep": "runs.sweep",
    # what a run's results say
    "evaluate": "analysis.metrics",
    "run_metrics": "analysis.metrics",
    "compare_run": "analysis.compare",
    "compare_runs": "analysis.compare",
    "calibrate": "analysis.calibration",
    "calibrate_run": "analysis.calibration",
    "evaluate_listeners": "analysis.listeners",
    "run_listeners": "analysis.listeners",
    "probe_run": "analysis.probe",
    "fuse_run": "analysis.fusion",
    # why the model said it
    "explain_clip": "explain.explanation",
    "run_features": "explain.cues",
    "voice_measures": "explain.voice",
    "read_alignment": "explain.words",
    "per_word_scores": "explain.words",
    "score_transcript": "explain.transcript",
    # views
    "TrimmingInspector": "views.widgets",
    "SampleRateExplorer": "views.widgets",
    "LowConfidenceBrowser": "views.widgets",
    "EmbeddingMap": "views.widgets",
    "ConfusionExplorer": "views.widgets",
    "ListenerErrorsBrowser": "views.widgets",
    "VariantDiff": "views.widgets",
    "LongAudioTimeline": "views.widgets",
    "run_report": "views.reporting",
    "reporting": ("views.reporting", None),  # the report sections the templates are made of
    "route_logs": "logs",
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name: str):
    target = _PUBLIC.get(name)
    if target is None:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    module, attr = target if isinstance(target, tuple) else (target, name)
    found = importlib.import_module(f".{module}", __name__)
    value = found if attr is None else getattr(found, attr)  # (module, None): the module itself
    globals()[name] = value
    return value


def __dir__():
    return __all__
