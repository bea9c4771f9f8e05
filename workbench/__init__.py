"""emotion workbench: find out why emotion2vec+ labels a clip the way it does.

``import workbench`` is cheap: torch, funasr and the other heavy libraries are
imported inside the functions that need them.  The public names below are
resolved lazily on first use.
"""

from __future__ import annotations

from . import interrupts  # noqa: F401, I001  (first, standard library only: the Ctrl-C handler of the `workbench` command)

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
    "Audio": "audio",
    "AudioConfig": "audio",
    "SourceInfo": "audio",
    "load_audio": ("audio", "load"),
    # processing log
    "ProcessingLog": "processing",
    "StepRecord": "processing",
    # model
    "load_model": "model",
    "resolve_model": "model",
    "describe_checkpoint": "model",
    "Prediction": "model",
    "BatchPolicy": "model",
    "Emotion2vecModel": "model",
    "DEFAULT_MODEL": "model",
    "ModelRef": "modelref",
    # the results schema and the constants every stage shares
    "FRAME_RATE": "schema",
    "SAMPLE_RATE": "schema",
    "MIN_MODEL_SAMPLES": "schema",
    "SCORE_COLUMNS": "schema",
    "RESULT_COLUMNS": "schema",
    # checkpoints
    "build_random_checkpoint": "checkpoints",
    # outputs
    "infer_files": "outputs",
    # the engine, runs and their folders
    "score_sources": "engine",
    "diagnose": "engine",
    "run": "runs",
    "run_experiment": "runs",
    "Variant": "variants",
    "RunFolder": "runfolder",
    "Experiment": "experiment",
    "read_manifest": "manifest",
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
