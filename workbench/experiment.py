"""An experiment is one YAML file: the one way to describe, re-run and share a run.

::

    # experiment.yaml
    manifest: data/manifest.csv        # relative paths start at this file's folder
    model: iic/emotion2vec_plus_large  # hub id, local checkpoint folder, or "tiny"
    hub: ms
    revision: null
    device: auto
    dtype: float32
    seed: 0
    variants:
      raw: []
      telephone: [{name: telephone}]
    frame_embeddings: false
    reports: [experiment_report]       # templates rendered after the run
    tracking: {mlflow: {uri: null, experiment: null}}

``workbench run experiment.yaml`` runs it; every run folder writes the
``experiment.yaml`` that reproduces it exactly (absolute manifest path, the model
as resolved, every setting), so ``workbench run RUN_DIR/experiment.yaml --out NEW``
repeats a run.  (nkululeko users know the idea from its INI files.)
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .audio import AudioConfig
from .diagnostics import DiagnosticsConfig
from .errors import ConfigError
from .variants import RAW, Variant, variants_from

EXPERIMENT_FILE = "experiment.yaml"


@dataclass
class Experiment:
    """Everything a run needs; ``manifest`` is an absolute path once loaded from a file."""

    manifest: str
    model: str | None = None
    hub: str = "ms"
    revision: str | None = None
    device: str = "auto"
    dtype: str = "float32"
    temperature: float | None = None  # divide the logits by this (workbench calibrate fits it); None: the checkpoint's scores
    seed: int = 0
    variants: list[dict] = field(default_factory=lambda: [RAW.to_dict()])
    audio: dict = field(default_factory=dict)
    diagnostics: dict = field(default_factory=dict)
    frame_embeddings: bool = False
    chunk_size: int = 64
    engine: str = "local"
    out: str | None = None
    reports: list[str] = field(default_factory=list)
    tracking: dict = field(default_factory=dict)

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_dict(cls, data: Any, *, base: Path | None = None, source: str = "experiment") -> "Experiment":
        if not isinstance(data, dict):
            raise ConfigError("an experiment file must be a YAML mapping (key: value lines).", source=source,
                              fix="start from `workbench run --help`'s example, or a run folder's experiment.yaml.")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown key(s) {unknown}; an experiment has {sorted(known)}.", source=source,
                              fix="remove or rename them (a typo in a key would otherwise be silently ignored).")
        if not data.get("manifest"):
            raise ConfigError("has no `manifest:`.", source=source, fix="add `manifest: path/to/manifest.csv`.")
        kw = dict(data)
        manifest = Path(str(kw["manifest"])).expanduser()
        if base is not None and not manifest.is_absolute():
            manifest = base / manifest
        kw["manifest"] = str(manifest)
        if kw.get("out") and base is not None and not Path(str(kw["out"])).is_absolute():
            kw["out"] = str(base / str(kw["out"]))
        kw["variants"] = [v.to_dict() for v in variants_from(kw.get("variants") or [RAW.to_dict()], source=source)]
        for key, config in (("audio", AudioConfig), ("diagnostics", DiagnosticsConfig)):
            allowed = {f.name for f in fields(config)}
            bad = sorted(set(kw.get(key) or {}) - allowed)
            if bad:
                raise ConfigError(f"`{key}` has unknown setting(s) {bad}; it takes {sorted(allowed)}.", source=source,
                                  fix=f"remove or rename them under `{key}:`.")
        if isinstance(kw.get("reports"), str):
            kw["reports"] = [kw["reports"]]
        try:
            return cls(**kw)
        except TypeError as exc:
            raise ConfigError(f"cannot be read as an experiment ({exc}).", source=source, fix="check its keys and values.") from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Experiment":
        """Read an experiment file, or a run folder's ``config.yaml`` (older runs wrote only that)."""
        import yaml

        p = Path(path)
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read the experiment file ({type(exc).__name__}: {exc}).", source=str(p),
                              fix="pass a readable UTF-8 YAML file.") from None
        if isinstance(data, dict) and "manifest_sha256" in data:  # a run folder's config.yaml
            data = from_run_config(data)
        return cls.from_dict(data, base=p.resolve().parent, source=str(p))

    # ------------------------------------------------------------------ using
    def variant_objects(self) -> list[Variant]:
        return [Variant.from_dict(v) for v in self.variants]

    def audio_config(self) -> AudioConfig:
        return AudioConfig(**self.audio)

    def diagnostics_config(self) -> DiagnosticsConfig:
        return DiagnosticsConfig(**self.diagnostics)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["variants"] = {v["name"]: v["steps"] for v in self.variants}
        return d

    def to_yaml(self) -> str:
        import yaml

        head = "# Re-run with: workbench run experiment.yaml --out NEW_FOLDER\n"
        return head + yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)


def from_run_config(cfg: dict) -> dict:
    """The experiment keys of a run folder's ``config.yaml``."""
    keep = ("manifest", "model", "hub", "revision", "dtype", "temperature", "variants", "audio", "diagnostics", "frame_embeddings",
            "chunk_size")
    d = {k: cfg[k] for k in keep if k in cfg}
    for key, config in (("audio", AudioConfig), ("diagnostics", DiagnosticsConfig)):  # settings of other versions drop out
        allowed = {f.name for f in fields(config)}
        d[key] = {k: v for k, v in (d.get(key) or {}).items() if k in allowed}
    device = str(cfg.get("device") or "auto")
    d["device"] = device.split(":", 1)[1] if device.startswith("ray:") else device
    if device.startswith("ray:"):
        d["engine"] = "ray"
    return d


def is_experiment_file(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in (".yaml", ".yml")
