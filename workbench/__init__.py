"""emotion workbench: find out why emotion2vec+ labels a clip the way it does.

``import workbench`` is cheap: torch, funasr and the other heavy libraries are
imported inside the functions that need them.  The public names below are
resolved lazily on first use.
"""

from __future__ import annotations

from workbench import interrupts  # noqa: F401, I001  (first, standard library only: the Ctrl-C handler of the `workbench` command)

import importlib

__version__ = "0.1.0"

_PUBLIC = {
    # errors
    "WorkbenchError": "errors",
    "AudioError": "errors",
    "ModelError": "errors",
    "ConfigError": "errors",
    # labels
    "LABELS": "labels",
    "LABEL_KEYS": "labels",
    "TOKENS": "labels",
    # audio intake
    "Audio": "audio.intake",
    "AudioConfig": "audio.intake",
    "SourceInfo": "audio.intake",
    "load_audio": ("audio.intake", "load"),
    # processing log
    "ProcessingLog": "audio.processing",
    "StepRecord": "audio.processing",
    # model
    "load_model": "model.network",
    "resolve_model": "model.network",
    "describe_checkpoint": "model.network",
    "Prediction": "model.network",
    "BatchPolicy": "model.network",
    "Emotion2vecModel": "model.network",
    "DEFAULT_MODEL": "model.network",
    "ModelRef": "model.ref",
    # the results schema and the constants every stage shares
    "FRAME_RATE": "schema",
    "SAMPLE_RATE": "schema",
    "MIN_MODEL_SAMPLES": "schema",
    "SCORE_COLUMNS": "schema",
    "RESULT_COLUMNS": "schema",
    # checkpoints
    "build_random_checkpoint": "model.checkpoints",
    # outputs
    "infer_files": "runs.outputs",
    # the engine, runs and their folders
    "score_sources": "engine.core",
    "diagnose": "engine.core",
    "run": "runs.driver",
    "run_experiment": "runs.driver",
    "Variant": "audio.variants",
    "RunFolder": "runs.folder",
    "Experiment": "runs.experiment",
    "read_manifest": "data.manifest",
}

__all__ = sorted(_PUBLIC) + ["__version__"]


def __getattr__(name: str):
    target = _PUBLIC.get(name)
    if target is None:
        raise AttributeError(f"module 'workbench' has no attribute {name!r}")
    module, attr = target if isinstance(target, tuple) else (target, name)
    value = getattr(importlib.import_module(f".{module}", __name__), attr)
    globals()[name] = value
    return value


def __dir__():
    return __all__
