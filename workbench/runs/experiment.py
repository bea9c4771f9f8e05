"""An experiment is one YAML file: the one way to describe, re-run and share a run.

::

    # experiment.yaml
    manifest: data/manifest.csv        # relative paths start at this file's folder
    model: iic/emotion2vec_plus_large  # hub id, local checkpoint folder, or "tiny"
    hub: ms
    revision: null
    device: auto
    dtype: auto                        # the default, as `workbench run`'s: the fastest path that agrees with float32
    seed: 0
    variants:
      raw: []
      telephone: [{name: telephone}]
    frame_embeddings: false
    reports: [experiment_report]       # templates rendered after the run
    tracking: {mlflow: {uri: null, experiment: null}}

``workbench run experiment.yaml`` runs it; every run folder writes the
``experiment.yaml`` that reproduces it exactly (the manifest and a checkpoint folder
relative to the run folder, or under ``~``, the model as resolved, the precision
``auto`` chose, every setting), so ``workbench run RUN_DIR/experiment.yaml --out NEW``
repeats a run.  (nkululeko users know the idea from its INI files.)
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from workbench import __version__
from workbench.model.temperature import check_temperature
from workbench.audio.intake import AudioConfig
from workbench.engine.findings import DiagnosticsConfig
from workbench.errors import ConfigError, WorkbenchError, did_you_mean, printable
from workbench.paths import from_portable, portable_path, refuse_url, shell_command
from workbench.model.checkpoints import cached_hub_checkpoint, resolve_model
from workbench.serialize import load_yaml_file, shown
from workbench.model.ref import ModelRef
from workbench.audio.variants import RAW, Variant, variants_from

EXPERIMENT_FILE = "experiment.yaml"
#: the seeds an experiment may name: what ``--seed`` takes (numpy's generators), 0 to 2**32 - 1
MAX_SEED = 2**32 - 1
#: the most rows one part may hold (``--chunk``, ``chunk_size``): each part is written when its chunk is scored
MAX_CHUNK = 100_000


@dataclass
class Experiment:
    """Everything a run needs, as one YAML file; ``manifest`` is an absolute path once loaded from a file.

    Parameters
    ----------
    manifest : str
        The manifest file (relative paths in a file start at the file's folder).
    model : ModelRef
        The model: name, hub, revision, device, dtype, the weights' checksum and temperature.  Files written
        before it held the whole reference (``hub:``, ``dtype:``, ``model_checksum:`` … beside ``model:``) still read.
    manifest_sha256 : str, optional
        The manifest's items as the run read them.
    seed : int
        The seed of anything random the reports do.
    variants : list of dict
        Preprocessing variants (``{name, steps}``).
    audio, diagnostics : dict
        Decoding settings and the findings' thresholds that differ from the defaults.
    frame_embeddings : bool
        Keep each row's frame embeddings.
    chunk_size : int
        Rows per part.
    engine : {"local", "ray"}
        Where the rows are scored.
    out : str, optional
        The run folder.
    reports : list of str
        Built-in report templates rendered after the run.
    tracking : dict
        ``{mlflow: {uri, experiment}}``; nothing is sent unless the command line says so.

    Examples
    --------
    >>> run_dir = wb.demo_run("runs/demo", model="tiny")
    >>> exp = wb.Experiment.load(run_dir / "experiment.yaml")
    >>> exp.model.model, exp.model.dtype, [v["name"] for v in exp.variants]
    ('tiny', 'float32', ['raw'])
    >>> print(exp.to_yaml().splitlines()[0])
    # Re-run with: workbench run experiment.yaml --out NEW_FOLDER
    """

    manifest: str
    #: the model: name, hub, revision, device, dtype, the weights' checksum (a re-run with other weights under the
    #: same name is refused) and the temperature that divides the logits (``workbench calibrate`` fits it)
    model: ModelRef = field(default_factory=ModelRef)
    #: sha256 of the manifest's items as the run read them
    manifest_sha256: str | None = None
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
    #: not a key of the file: the file named no dtype, so the run takes the default (``auto``, as ``workbench run``) and
    #: records it as the default, not as asked for
    dtype_default: bool = field(default=False, repr=False)

    # ------------------------------------------------------------------ reading
    @classmethod
    def from_dict(cls, data: Any, *, base: Path | None = None, source: str = "experiment") -> "Experiment":
        if not isinstance(data, dict):
            raise ConfigError("an experiment file must be a YAML mapping (key: value lines).", source=source,
                              fix="start from `workbench run --help`'s example, or a run folder's experiment.yaml.")
        known = {f.name for f in fields(cls)} - {"dtype_default"} | set(_FLAT_MODEL_KEYS)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown key(s) {unknown}; {did_you_mean(unknown[0], known)}an experiment has {sorted(known)}.", source=source,
                              fix="remove or rename them (a typo in a key would otherwise be silently ignored).")
        if not data.get("manifest"):
            raise ConfigError("has no `manifest:`.", source=source, fix="add `manifest: path/to/manifest.csv`.")
        kw = dict(data)
        refuse_url(str(kw["manifest"]), "the manifest", source=source)
        manifest = Path(str(kw["manifest"])).expanduser()
        if base is not None and not manifest.is_absolute():
            manifest = Path(os.path.normpath(base / manifest))
        kw["manifest"] = str(manifest)
        if base is not None:  # `./head`, `../../models/tiny` start at the file's folder too (a ModelRef takes them from the cwd)
            kw["model"] = _beside(kw.get("model"), base)
        if kw.get("out") and base is not None and not Path(str(kw["out"])).is_absolute():
            kw["out"] = str(base / str(kw["out"]))
        kw["variants"] = [v.to_dict() for v in variants_from(kw.get("variants") or [RAW.to_dict()], source=source)]
        audio = kw.get("audio") or {}
        checked = AudioConfig.from_dict(audio, source=f"{source}: audio").to_dict()  # types and ranges, before any model loads
        kw["audio"] = {k: checked[k] for k in audio}
        diagnostics = kw.get("diagnostics") or {}  # unknown keys, text, NaN: refused before any model loads
        checked = DiagnosticsConfig.from_dict(diagnostics, source=f"{source}: diagnostics").to_dict()
        kw["diagnostics"] = {k: checked[k] for k in diagnostics}
        if isinstance(kw.get("reports"), str):
            kw["reports"] = [kw["reports"]]
        model = kw.get("model")
        named = "dtype" in kw or isinstance(model, ModelRef) or (isinstance(model, dict) and "dtype" in model)
        kw["model"] = ref = model_from(kw, source=source)
        if not named:  # `workbench run`'s default, said as the default in the run's record (issue #28)
            kw["model"] = ref = replace(ref, dtype="auto")
            kw["dtype_default"] = True
        # a path (`models/tiny`, `./head`), not a name such as `tiny`
        folder = base / str(ref.model) if base is not None and ref.model and ("/" in ref.model or ref.model.startswith(".")) else None
        if folder is not None and not Path(str(ref.model)).expanduser().is_absolute() and folder.is_dir():
            kw["model"] = replace(ref, model=str(folder))  # a checkpoint folder beside the file, as the manifest: not a hub id
        try:
            return cls(**kw)
        except TypeError as exc:
            raise ConfigError(f"cannot be read as an experiment ({exc}).", source=source, fix="check its keys and values.") from None

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Experiment":
        """Read an experiment file, or a run folder's ``config.yaml`` (older runs wrote only that)."""
        p = Path(os.path.abspath(Path(path).expanduser()))
        if p.is_symlink() and all(os.path.lexists(p.parent / n) for n in ("config.yaml", "results.parquet")):
            # a received run folder's experiment.yaml -> ~/elsewhere.yaml was read, and its manifest taken from there
            raise ConfigError("is a symbolic link in a run folder (the workbench writes experiment.yaml itself, never as a "
                              f"link), to {printable(os.readlink(p))}; it is not read.", source=str(p),
                              fix="replace the link by the run's own experiment.yaml, or run the file it points to by its own path.")
        data = load_yaml_file(p, unique_keys=True)  # no aliases, bounded depth and size, before any value is used
        if is_run_config(data):  # a run folder's config.yaml (its paths relative to the run folder, or under ~)
            data = from_run_config(run_config_paths(data, p.parent))
        return cls.from_dict(data, base=p.resolve().parent, source=str(p))

    # ------------------------------------------------------------------ using
    @property
    def hub(self) -> str:
        return self.model.hub

    def variant_objects(self) -> list[Variant]:
        return [Variant.from_dict(v) for v in self.variants]

    def audio_config(self) -> AudioConfig:
        return AudioConfig(**self.audio)

    def diagnostics_config(self) -> DiagnosticsConfig:
        return DiagnosticsConfig(**self.diagnostics)

    def to_dict(self) -> dict:
        d = asdict(self)
        del d["dtype_default"]  # the written file names the precision the run used
        d["model"] = {f.name: getattr(self.model, f.name) for f in fields(ModelRef)}
        d["variants"] = {v["name"]: v["steps"] for v in self.variants}
        return d

    #: what must match for a run folder to be resumed (keys of :meth:`run_record`)
    IDENTITY = ("manifest_sha256", "model", "hub", "revision", "dtype", "variants", "audio", "frame_embeddings", "temperature")

    def run_record(self, *, manifest: str, device: str, dtype: str, manifest_root: str, cache_dir: str | None,
                   run_dir: str | os.PathLike | None = None, precision: dict | None = None) -> dict:
        """The run folder's ``config.yaml``: this experiment as the run resolved it.

        It keeps the layout older versions wrote (variants as a list of ``{name, steps, chain_hash}``, the
        manifest as read, the device the model ran on, the package version, the folder relative item paths
        start at), so this version reads older run folders; :data:`IDENTITY` says what a resumed run must share
        with it.  With ``run_dir``, the manifest, its folder, a checkpoint folder and the cache are recorded relative to
        the run folder where they lie in one project with it, else with the home folder as ``~`` (:data:`RUN_CONFIG_PATHS`;
        :func:`run_config_paths` reads them back; a workbench older than this would take them from its current folder),
        and the first three also in ``manifest_from_run``,
        ``manifest_root_from_run``, ``model_from_run``: a project copied whole to another place or machine finds its
        audio, manifest and checkpoint there, and the file names no user's home.
        """
        m = self.model
        return _portable_paths({
            "manifest": manifest, "manifest_sha256": self.manifest_sha256, "model": m.model, "hub": m.hub,
            "revision": m.revision, "device": device, "dtype": dtype, "variants": list(self.variants),
            "audio": dict(self.audio), "diagnostics": dict(self.diagnostics), "frame_embeddings": self.frame_embeddings,
            "chunk_size": self.chunk_size, "cache_dir": cache_dir, "workbench_version": __version__,
            "manifest_root": manifest_root, "model_checksum": m.checksum, "temperature": m.temperature,
            "manifest_from_run": from_run(manifest, run_dir), "manifest_root_from_run": from_run(manifest_root, run_dir),
            "model_from_run": from_run(m.model or "", run_dir),
            # how the dtype was chosen (asked for, auto's choice, the default): a run resumed without --dtype records it again
            "precision": {k: precision.get(k) for k in PRECISION_KEYS} if precision else None,
        }, run_dir)

    def to_yaml(self, folder: str | os.PathLike | None = None) -> str:
        """The file's text; written into ``folder``, its manifest and a checkpoint folder relative to it where they lie
        in one project with it, else under ``~`` (:func:`~workbench.paths.portable_path`): it names no user's home, and
        a project copied whole re-runs it."""
        import yaml

        d = self.to_dict()
        if folder is not None:
            folder = Path(folder).resolve()
            d["manifest"] = portable_path(self.manifest, folder) if Path(self.manifest).is_absolute() else self.manifest
            model = d["model"]["model"]
            d["model"]["model"] = portable_path(model, folder) if model and Path(model).is_absolute() else model
        head = "# Re-run with: workbench run experiment.yaml --out NEW_FOLDER\n"
        return head + yaml.safe_dump(d, sort_keys=False, allow_unicode=True)


#: what ``config.yaml``'s ``precision`` keeps of the run's precision record: how its dtype was chosen
PRECISION_KEYS = ("requested", "chosen", "reason", "default")


def precision_record(precision: dict, dtype_default: bool, recorded: Any) -> dict:
    """``summary.json``'s ``precision``: ``precision`` with ``default`` (no dtype was asked for).  A dtype with no dtype asked
    for is the one of the run being resumed (``workbench run`` without ``--dtype`` keeps it), which was recorded "asked
    for": now the record that run began with (``recorded``, its ``config.yaml``'s ``precision``) is kept, marked
    ``resumed``; a folder of an older version, which recorded none, says that its dtype was kept and not asked for."""
    record = {**precision, "default": bool(dtype_default)}
    if not dtype_default or precision.get("requested") in (None, "auto"):
        return record
    kept = {k: recorded.get(k) for k in PRECISION_KEYS} if isinstance(recorded, dict) else {}
    if kept.get("chosen") == precision.get("chosen") and all(v is None or isinstance(v, (str, bool)) for v in kept.values()):
        return {**record, **kept, "resumed": True}
    return {**record, "reason": "the precision of the run in this folder, which a resumed run keeps (no --dtype given; how "
                                "that run chose it was not recorded)", "default": None, "resumed": True}


def from_run(path: str, run_dir: str | os.PathLike | None) -> str | None:
    """``path`` relative to the run folder (``../../data/manifest.csv``), or None (no run folder, an in-memory manifest,
    another drive)."""
    if run_dir is None or not path or not Path(path).is_absolute():
        return None
    try:
        return Path(os.path.relpath(path, Path(run_dir).resolve())).as_posix()
    except ValueError:
        return None


#: the keys of a run folder's ``config.yaml`` that hold paths, written relative to the run folder or under ``~``
RUN_CONFIG_PATHS = ("manifest", "manifest_root", "cache_dir", "model")


def _portable_paths(config: dict, run_dir: str | os.PathLike | None) -> dict:
    """``config`` with its absolute paths (:data:`RUN_CONFIG_PATHS`) as :func:`~workbench.paths.portable_path` writes them."""
    if run_dir is None:
        return config
    folder = Path(run_dir).resolve()
    return {k: portable_path(v, folder) if k in RUN_CONFIG_PATHS and isinstance(v, str) and Path(v).is_absolute() else v
            for k, v in config.items()}


def _beside(model: Any, base: Path) -> Any:
    """An experiment's ``model:`` with a name starting ``./``, ``../`` or ``~`` made absolute from the file's folder."""
    if isinstance(model, dict) and isinstance(model.get("model"), str):
        return {**model, "model": _beside(model["model"], base)}
    return from_portable(model, base) if isinstance(model, str) else model


def run_config_paths(config: Any, run_dir: str | os.PathLike) -> Any:
    """A run folder's ``config.yaml`` with its paths absolute again: relative ones start at the run folder, ``~`` is
    this machine's home (older runs recorded absolute paths, kept as they are)."""
    if not isinstance(config, dict):
        return config
    return {k: from_portable(v, run_dir) if k in RUN_CONFIG_PATHS and isinstance(v, str) else v for k, v in config.items()}


#: the paths ``summary.json`` records (where the run's checkpoint, ``--dtype auto``'s measurement and the ONNX export it
#: used lay; the model's ``id``, which for a fine-tuned head's folder is that folder, absolute: a published run named the
#: author's /home/alice/proj/models/head there beside the relative ``path``): written as ``config.yaml`` writes its paths
#: (:func:`portable_summary`; a name such as a hub id stays as it is), read back absolute (:func:`summary_paths`)
SUMMARY_PATHS = (("model", "path"), ("model", "id"), ("precision", "measurement"), ("precision", "export", "folder"),
                 ("precision", "fallback", "folder"))


#: the paths the other JSON files a command writes into a run folder record, beside :data:`SUMMARY_PATHS` (the run's
#: model, which ``calibration.json`` and an explain entry's record carry as summary.json does): the run
#: ``reproduction.json`` re-ran, the text model ``fusion.json`` used (and its key).  Written and read back as those
#: (:meth:`~workbench.runs.artifacts.Artifacts.write_json`, :meth:`~workbench.runs.artifacts.Artifacts.artifact`).
ARTIFACT_PATHS = SUMMARY_PATHS + (("reference_dir",), ("text_model",), ("key", "text_model"))


def _summary_with(summary: Any, convert, keys: tuple[tuple[str, ...], ...]) -> Any:
    """``summary`` (never changed) with each of ``keys`` that holds a path text passed through ``convert``."""
    if not isinstance(summary, dict):
        return summary
    out = dict(summary)
    for path in keys:
        parent = out
        for k in path[:-1]:
            if not isinstance(parent.get(k), dict):
                break
            parent[k] = dict(parent[k])  # copied on the way down: the caller's dict stays as it was
            parent = parent[k]
        else:
            if isinstance(parent.get(path[-1]), str) and parent[path[-1]]:
                parent[path[-1]] = convert(parent[path[-1]])
    return out


def portable_summary(summary: Any, run_dir: str | os.PathLike, keys: tuple[tuple[str, ...], ...] = SUMMARY_PATHS) -> Any:
    """``summary.json``'s paths (or ``keys``) as ``config.yaml`` records them: relative to the run folder where both lie
    in one project, else with the home folder as ``~`` (a name that is no absolute path, such as a hub id, stays as it is)."""
    return _summary_with(summary, lambda p: portable_path(p, run_dir) if os.path.isabs(os.path.expanduser(p)) else p, keys)


def summary_paths(summary: Any, run_dir: str | os.PathLike, keys: tuple[tuple[str, ...], ...] = SUMMARY_PATHS) -> Any:
    """A run folder's ``summary.json`` (or a file with ``keys``) with its paths absolute again on this machine (older
    runs recorded them absolute)."""
    return _summary_with(summary, lambda p: from_portable(p, run_dir), keys)


#: the model keys an experiment file wrote flat before ``model:`` held the whole reference (still read)
_FLAT_MODEL_KEYS = {"hub": "hub", "revision": "revision", "device": "device", "dtype": "dtype", "model_checksum": "checksum",
                    "temperature": "temperature"}
#: the type each model key must have
_MODEL_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str, type(None)), "hub": (str,), "revision": (str, type(None)), "device": (str,), "dtype": (str,),
    "checksum": (str, type(None)), "temperature": (int, float, type(None)),
}


def model_from(kw: dict, *, source: str) -> ModelRef:
    """The experiment's :class:`ModelRef` from its ``model:`` (a name, or a mapping of the reference's keys) and the
    flat keys older files wrote beside it (``hub``, ``revision``, ``device``, ``dtype``, ``model_checksum``,
    ``temperature``), which are taken out of ``kw``.  Every value's type is checked."""
    model = kw.pop("model", None)
    flat = {_FLAT_MODEL_KEYS[k]: kw.pop(k) for k in list(kw) if k in _FLAT_MODEL_KEYS}
    if isinstance(model, ModelRef):
        return replace(model, **flat) if flat else model
    if isinstance(model, dict):
        if flat:
            raise ConfigError(f"gives {sorted(flat)} both inside `model:` and beside it.", source=source,
                              fix="keep them inside `model:` only.")
        unknown = sorted(set(model) - set(_MODEL_TYPES))
        if unknown:
            raise ConfigError(f"`model` has unknown key(s) {unknown}; it takes {sorted(_MODEL_TYPES)}.", source=source,
                              fix="remove or rename them.")
        flat, model = {k: v for k, v in model.items() if k != "model"}, model.get("model")
    values = {"model": model, **flat}
    for key, value in values.items():
        want = _MODEL_TYPES[key]
        if not isinstance(value, want) or (isinstance(value, bool) and bool not in want):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in want)
            raise ConfigError(f"`{key}` is {shown(value)} ({type(value).__name__}); it must be {names}.", source=source,
                              fix=f"write `{key}:` as {names} (quote a string, write numbers without quotes).")
    if values.get("temperature") is not None:  # `temperature: true` is not 1; 1e308 or 5e-324 is not a temperature
        values["temperature"] = check_temperature(values["temperature"], source=f"{source}: temperature")
    return ModelRef(**{k: v for k, v in values.items() if v is not None or k in ("model", "revision", "checksum", "temperature")})


def is_run_config(data: Any) -> bool:
    """A run folder's ``config.yaml`` (it has keys an experiment does not: the package version, the cache folder)."""
    return isinstance(data, dict) and "manifest_sha256" in data and any(
        k in data for k in ("workbench_version", "cache_dir", "manifest_root"))


def from_run_config(cfg: dict) -> dict:
    """The experiment keys of a run folder's ``config.yaml``."""
    keep = ("manifest", "manifest_sha256", "model", "model_checksum", "hub", "revision", "dtype", "temperature", "variants", "audio",
            "diagnostics", "frame_embeddings", "chunk_size")
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


# ---------------------------------------------------------------------------
# an experiment file written by someone else
# ---------------------------------------------------------------------------
#: the type each experiment key must have (``None`` allowed where the default is ``None``)
_TYPES: dict[str, tuple[type, ...]] = {
    "manifest": (str,), "model": (ModelRef,), "seed": (int,), "variants": (list,), "audio": (dict,), "diagnostics": (dict,), "frame_embeddings": (bool,),
    "chunk_size": (int,), "engine": (str,), "out": (str, type(None)), "reports": (list,), "tracking": (dict,),
}
_TRACKING_KEYS = {"mlflow": ("uri", "experiment")}


def hub_model(experiment: Experiment) -> str | None:
    """The hub id an experiment names when running it would download it (not ``tiny``, a folder, or a cached id)."""
    ref = experiment.model
    if not ref.model:
        return None
    try:
        spec = resolve_model(ref.model, hub=ref.hub, revision=ref.revision)
    except WorkbenchError:
        return None  # the run refuses it with its own message
    if spec.kind != "hub" or cached_hub_checkpoint(spec.model, spec.hub) is not None:
        return None
    return spec.model


def foreign_files(folder: Path) -> list[str]:
    """Entries of ``folder`` a run must not write among: everything, unless the folder is a run folder
    (its ``config.yaml`` is a run record: resuming checks that it is a run of the same experiment)."""
    try:
        names = sorted(os.listdir(folder))
    except FileNotFoundError:
        return []
    except OSError as exc:
        return [f"(unreadable: {exc.strerror})"]
    if not names:
        return []
    config = folder / "config.yaml"
    if config.is_file() and not config.is_symlink():
        try:
            if is_run_config(load_yaml_file(config)):
                return []
        except ConfigError:
            pass
    return names


def check_untrusted(experiment: Experiment, file_path: str | os.PathLike, cli_overrides: dict | None = None, *,
                    templates: "list[str] | None" = None) -> tuple[Experiment, list[str]]:
    """What an experiment file may do on its own: nothing that reaches the network or writes outside its folder.

    An experiment file is often written by someone else (shared in a repository, sent by a
    colleague); running it must not send results anywhere or choose where files go unless the
    command line says so.

    Parameters
    ----------
    experiment : Experiment
        As read from ``file_path``.
    file_path : path
        The experiment file; its folder bounds every path the file may write to.
    cli_overrides : dict, optional
        What the command line said: ``out`` (``--out``), ``track`` (``--track``), ``tracking_uri``
        (``--tracking-uri``), ``allow_tracking_uri`` (``--allow-tracking-uri``), ``model`` (``--model``),
        ``allow_hub`` (``--allow-hub``), ``engine`` (``--engine``), ``allow_ray`` (``--allow-ray``).
    templates : list of str, optional
        The built-in report templates ``reports:`` may name (paths to notebooks are refused: a
        notebook is code).

    Returns
    -------
    (Experiment, list of str)
        The experiment to run (``tracking`` without a URI the command line did not confirm) and
        notes to print (what the file asked for and was not given).

    Raises
    ------
    ConfigError
        A key of the wrong type, ``out:`` outside the file's folder or at a folder holding other files
        without ``--out``, an unknown tracking key, a report that is not a built-in template, ``engine: ray``
        without ``--engine ray``/``--allow-ray``, a hub model that is not cached without ``--model``/``--allow-hub``.
    """
    cli = dict(cli_overrides or {})
    source = str(file_path)
    _check_types(experiment, source)
    _check_out(experiment, file_path, cli, source)
    _check_network(experiment, cli, source)
    for name in experiment.reports:
        if not isinstance(name, str) or (templates is not None and name not in templates):
            raise ConfigError(
                f"`reports` names {name!r}, which is not a built-in report template; {did_you_mean(name, templates or [])}"
                "an experiment file may only ask "
                "for the workbench's own templates (a notebook elsewhere is code).",
                source=source,
                fix=f"use one of {sorted(templates or [])}, or run `workbench report NOTEBOOK -p run_dir=RUN` yourself.",
            )
    return _check_tracking(experiment, cli, source)


def _check_types(experiment: Experiment, source: str) -> None:
    """Every key of the type it must have (the model's keys were checked when the file was read)."""
    for f in fields(Experiment):
        value = getattr(experiment, f.name)
        want = _TYPES.get(f.name)
        if want and (not isinstance(value, want) or (isinstance(value, bool) and bool not in want)):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in want)
            raise ConfigError(f"`{f.name}` is {shown(value)} ({type(value).__name__}); it must be {names}.", source=source,
                              fix=f"write `{f.name}:` as {names} (quote a string, write numbers without quotes).")
    if not 0 <= experiment.seed <= MAX_SEED:  # -1 was kept, and the reports drew with 0 instead
        raise ConfigError(f"`seed` is {shown(experiment.seed)}; it must be a whole number from 0 to {MAX_SEED} (numpy's seed range).",
                          source=source, fix="write e.g. `seed: 0`.")
    if not 1 <= experiment.chunk_size <= MAX_CHUNK:  # a bigger part keeps everything off disk: a Ctrl-C would lose it all
        raise ConfigError(f"`chunk_size` is {experiment.chunk_size}; it must be from 1 to {MAX_CHUNK:,}.", source=source, fix="use e.g. 64.")
    if experiment.engine not in ("local", "ray"):
        raise ConfigError(f"`engine` is {shown(experiment.engine)}; it must be local or ray.", source=source, fix="write `engine: local`.")


def _check_out(experiment: Experiment, file_path: str | os.PathLike, cli: dict, source: str) -> None:
    """``out:`` only inside the file's folder, and never at a folder holding files the workbench did not write."""
    if not experiment.out or cli.get("out"):
        return
    # the folder its relative paths start at (Experiment.load: the file's own, a link to it followed); the link's folder
    # refused `out: run` of a linked experiment as "outside the experiment file's folder", naming the file's own folder
    folder = Path(os.path.realpath(Path(file_path).expanduser())).parent
    target = Path(os.path.realpath(Path(experiment.out).expanduser()))
    if not target.is_relative_to(folder):
        raise ConfigError(
            f"`out: {shown(experiment.out)}` resolves to {target}, outside the experiment file's folder {folder}; "
            "an experiment file may only write inside its own folder.",
            source=source,
            fix=f"if you want the run there, say so on the command line: {shell_command('--out', target)}",
        )
    foreign = foreign_files(target)
    if foreign:
        raise ConfigError(
            f"`out: {shown(experiment.out)}` is {target}, a folder that holds files the workbench did not write "
            f"({', '.join(foreign[:5])}{f' … {len(foreign)} in all' if len(foreign) > 5 else ''}); a run there could "
            "overwrite them.",
            source=source,
            fix=f"choose an empty or new folder on the command line ({shell_command('--out', target / 'run')}), or remove `out:` from the file.",
        )


def _check_network(experiment: Experiment, cli: dict, source: str) -> None:
    """No Ray cluster and no hub download unless the command line agreed."""
    if experiment.engine == "ray" and cli.get("engine") != "ray" and not cli.get("allow_ray"):
        raise ConfigError(
            "asks for `engine: ray`, which starts a Ray cluster (processes that listen on network ports); a file "
            "someone else wrote may not do that on its own.",
            source=source,
            fix="agree on the command line with --engine ray (or --allow-ray), or run it here with --engine local.",
        )
    hub_id = hub_model(experiment)
    if hub_id and not cli.get("model") and not cli.get("allow_hub"):
        where = "Hugging Face" if experiment.model.hub == "hf" else "ModelScope"
        raise ConfigError(
            f"names the hub model {shown(hub_id)}, which is not in the local {where} cache: running it would contact "
            f"{where}; a file someone else wrote may not do that on its own.",
            source=source,
            fix=f"agree on the command line with {shell_command('--model', hub_id)} (or --allow-hub), or pass a local checkpoint with --model DIR.",
        )


def _check_tracking(experiment: Experiment, cli: dict, source: str) -> tuple[Experiment, list[str]]:
    """Tracking keys checked; nothing sent unless ``--track`` says so, and the file's URI only with the command line's consent."""
    notes: list[str] = []
    tracking = experiment.tracking or {}
    for backend, conf in tracking.items():
        if backend not in _TRACKING_KEYS:
            raise ConfigError(f"`tracking` has an unknown backend {backend!r}.", source=source,
                              fix=f"use one of {sorted(_TRACKING_KEYS)}.")
        if conf is None:
            continue
        if not isinstance(conf, dict) or set(conf) - set(_TRACKING_KEYS[backend]) or \
                any(v is not None and not isinstance(v, str) for v in conf.values()):
            raise ConfigError(f"`tracking.{backend}` must be a mapping of {list(_TRACKING_KEYS[backend])} to strings; it is {conf!r}.",
                              source=source, fix=f"write `tracking: {{{backend}: {{uri: null, experiment: null}}}}`.")
    mlflow = dict(tracking.get("mlflow") or {})
    file_uri = mlflow.get("uri")
    if "mlflow" in tracking and not cli.get("track"):
        notes.append(f"{source}: asks to log the run to MLflow{f' at {file_uri}' if file_uri else ''}; not done — nothing is "
                     "sent unless the command line says so (add --track mlflow).")
        return replace(experiment, tracking={}), notes
    if file_uri and not cli.get("tracking_uri") and not cli.get("allow_tracking_uri"):
        notes.append(f"{source}: names the tracking URI {file_uri}; not used — pass --tracking-uri {file_uri} or "
                     "--allow-tracking-uri to send the run there (MLFLOW_TRACKING_URI or ./mlruns is used instead).")
        mlflow["uri"] = None
        return replace(experiment, tracking={**tracking, "mlflow": mlflow}), notes
    return experiment, notes
