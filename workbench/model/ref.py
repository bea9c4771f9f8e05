"""``ModelRef``: which model, as one value that travels.

Before this module a model choice travelled as five keyword arguments (``model, hub, revision,
device, dtype``) through every call site, and what a run recorded was the resolved *path* of the
checkpoint — for ``tiny`` a cache folder of the machine that ran it.  A :class:`ModelRef` is the
one value instead: what the user named (a hub id, a checkpoint folder, ``"tiny"``), how to load it,
and, once loaded, the sha256 of its weights, so that the same reference means the same weights on
another machine or is refused there.

A command that reads a run builds the run's reference with :meth:`ModelRef.from_run` and loads
that; a model whose checksum differs from the run's is refused unless the user asks for it
(:func:`check_same_model`).
"""

from __future__ import annotations

import copy
import logging
import os
import re
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Callable

from workbench.errors import ConfigError, ModelError, WorkbenchError
from workbench.model import fastpath
from workbench.model.auto_fallback import not_exported, torch_instead
from workbench.model.fastpath import describe_auto
from workbench.model.building import describe_checkpoint
from workbench.model.checkpoints import DEFAULT_MODEL, RANDOM_NAMES as _RANDOM_ARCHS, cache_dir, resolve_model
from workbench.model.onnx_backend import load_onnx_model
from workbench.model.network import Emotion2vecModel, auto_device, cached_network, forget_network
from workbench.model.precision import DTYPE_CHOICES, DTYPES as PRECISIONS, MEASURED, cuda_bf16, describe_choice

logger = logging.getLogger(__name__)

#: the precisions a model loads in (``auto``: :func:`resolve_dtype` chooses, and says why;
#: on a CPU :mod:`workbench.model.fastpath` measures the fastest path that agrees with float32)
DTYPES = PRECISIONS + ("auto",)
#: names of the seeded random checkpoints (``--model tiny``): built the same on every machine
RANDOM_NAMES = tuple(_RANDOM_ARCHS)
_RANDOM_CACHE_NAME = re.compile(r"random-(tiny|base|large)-seed0")


@dataclass(frozen=True)
class ModelRef:
    """A model as the user chose it, loadable anywhere.

    Parameters
    ----------
    model : str, optional
        Hub id (``iic/emotion2vec_plus_large``; ``None`` is that default), an absolute checkpoint
        folder, or a random checkpoint's name (``"tiny"``: seeded, the same weights everywhere).
    hub : {"ms", "hf"}
        Hub of an id.
    revision : str, optional
        Hub revision to pin.
    device : str
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"`` …  Not part of the model's identity.
    dtype : str
        One of :data:`DTYPES`.
    checksum : str, optional
        sha256 of the weights file.  When set, :meth:`load` refuses weights with another checksum.
    temperature : float, optional
        Scaling of the logits fitted by calibration (``None``: none).

    Examples
    --------
    >>> ref = wb.ModelRef("tiny", device="cpu")
    >>> ref.label
    'tiny'
    >>> wb.ModelRef.coerce(ref) is ref
    True
    >>> net = ref.load()
    >>> pinned = ref.pinned(net)
    >>> (pinned.model, pinned.dtype, len(pinned.checksum))
    ('tiny', 'float32', 64)
    >>> wb.ModelRef.from_dict(pinned.to_dict()) == pinned
    True
    >>> ref.describe().info.checksum == pinned.checksum  # from the files alone, nothing built
    True
    """

    model: str | None = None
    hub: str = "ms"
    revision: str | None = None
    device: str = "auto"
    dtype: str = "float32"
    checksum: str | None = None
    temperature: float | None = None

    def __post_init__(self) -> None:
        if self.hub not in ("ms", "hf"):
            raise ConfigError(f"unknown hub {self.hub!r}; expected 'ms' (ModelScope) or 'hf' (Hugging Face).",
                              source="hub", fix="pass --hub ms or --hub hf.")
        if not isinstance(self.device, str) or not re.fullmatch(r"auto|cpu|cuda(:\d+)?", self.device):
            # "gpu" ran on the CPU without a word (a measured CPU precision moves the model there)
            raise ConfigError(f"unknown device {self.device!r}; expected auto, cpu, cuda or cuda:N.", source="device",
                              fix="pass --device cuda (the first GPU), cuda:1 …, cpu, or auto (CUDA when available).")
        if self.dtype not in DTYPES:
            raise ConfigError(f"unknown dtype {self.dtype!r}; expected one of {', '.join(DTYPES)}.", source="dtype",
                              fix="pass --dtype auto (the fastest path that agrees with float32) or float32 (exact).")
        if self.model is not None:
            object.__setattr__(self, "model", portable_name(self.model))

    # ------------------------------------------------------------------ building
    @classmethod
    def from_dict(cls, data: Any, *, source: str = "model") -> "ModelRef":
        """A reference from :meth:`to_dict`'s mapping; an unknown key is refused with the valid ones."""
        if isinstance(data, str):
            return cls(model=data)
        if not isinstance(data, dict):
            raise ConfigError(f"a model reference must be a name or a mapping, not {type(data).__name__}.", source=source,
                              fix="write `model: tiny` or `model: {model: iic/emotion2vec_plus_large, hub: ms}`.")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ConfigError(f"unknown model key(s) {unknown}; a model reference has {known}.", source=source,
                              fix="remove or rename them.")
        return cls(**data)

    @classmethod
    def coerce(cls, model: Any = None, **options: Any) -> "ModelRef":
        """``model`` as a reference, whatever shape it came in (``check_random_state``'s idea for models).

        A :class:`ModelRef` is returned as it is; a name, folder or ``None`` (the default model) becomes a reference
        with ``options`` (``hub``, ``revision``, ``device``, ``dtype``, ``temperature``); an already loaded model
        (anything with ``predict`` and ``info``) becomes its portable reference whose :meth:`load` returns that same
        object.  Unknown options are refused with the valid ones.
        """
        known = {f.name for f in fields(cls)} - {"model", "checksum"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigError(f"unknown model option(s) {unknown}; a model reference takes {sorted(known)}.", source="model",
                              fix="remove or rename them.")
        if isinstance(model, cls):
            return replace(model, **options) if options else model
        if hasattr(model, "predict") and hasattr(model, "info"):
            try:
                ref = cls.of_loaded(model)
            except (AttributeError, TypeError, WorkbenchError):  # a model object without the full record (a stand-in)
                ref = cls()
            object.__setattr__(ref, "_loaded", model)  # not a field: equality, to_dict and replace() ignore it
            return ref
        return cls(model=None if model is None else str(model), **{k: v for k, v in options.items() if v is not None})

    @property
    def is_loaded(self) -> bool:
        """True when this reference stands for a model already loaded (:meth:`coerce` of a loaded model)."""
        return getattr(self, "_loaded", None) is not None

    @classmethod
    def of_loaded(cls, net: Emotion2vecModel, requested: "ModelRef | None" = None) -> "ModelRef":
        """The portable reference of a loaded model: the name the user gave for a hub id or a random
        checkpoint, the absolute folder of a local one, and the weights' checksum."""
        requested = requested or cls()
        info, spec = net.info, getattr(net, "spec", None)
        if info.kind == "hub":
            name = info.id
        elif spec is not None and spec.kind == "random" and str(spec.requested) in RANDOM_NAMES:
            name = str(spec.requested)
        elif spec is None and info.random_weights and str(requested.model) in RANDOM_NAMES:  # checked, not built (Ray driver)
            name = str(requested.model)
        else:
            name = info.path
        return cls(model=name, hub=info.hub or requested.hub, revision=info.revision if info.kind == "hub" else None,
                   device=requested.device, dtype=info.dtype if requested.dtype != "auto" else requested.dtype,
                   checksum=info.checksum, temperature=requested.temperature)

    @classmethod
    def from_run(cls, config: dict, summary: dict | None = None) -> "ModelRef":
        """The model a run folder recorded: its ``config.yaml`` (or ``experiment.yaml``) and ``summary.json``.

        The checksum comes from the summary's model info (a finished run) or the config.
        """
        summary = summary or {}
        info = summary.get("model") or {}
        recorded = config.get("model")
        if isinstance(recorded, dict):  # an experiment that stores the reference itself
            ref = cls.from_dict(recorded, source="run model")
            return ref if ref.checksum or not info.get("checksum") else replace(ref, checksum=info["checksum"])
        return cls(model=recorded, hub=config.get("hub") or "ms", revision=config.get("revision"),
                   device="auto",  # where the run ran says nothing about this machine
                   dtype=config.get("dtype") or info.get("dtype") or "float32",
                   checksum=config.get("model_checksum") or info.get("checksum"))

    # ------------------------------------------------------------------ using
    def settled(self) -> tuple["ModelRef", dict]:
        """This reference with its precision decided where it can be before loading, and the record of the decision.

        An explicit precision stays as asked; ``auto`` becomes ``bfloat16``/``float16`` on a GPU, and stays ``auto``
        on a CPU, where :meth:`load` measures the fastest path that agrees with float32 (once per CPU and checkpoint).
        The record (``requested``, ``chosen``, ``reason``) is what a run keeps in ``config.yaml`` and ``summary.json``.

        Examples
        --------
        >>> wb.ModelRef("tiny", dtype="int8").settled()[1]
        {'requested': 'int8', 'chosen': 'int8', 'reason': 'asked for'}
        """
        chosen, reason = resolve_dtype(self.dtype, self.device)
        precision = {"requested": self.dtype, "chosen": chosen, "reason": reason}
        return (self if chosen == MEASURED else replace(self, dtype=chosen)), precision

    def load(self, *, progress: Callable[[str], None] | None = None, gradients: bool = False,
             job_clips: int | None = None) -> Any:
        """Load the model (once per process); refuse weights whose sha256 is not :attr:`checksum`.

        ``dtype="auto"`` on a CPU loads the fastest path that agrees with float32, measured once on this machine
        (:func:`workbench.model.fastpath.measured_choice`); the loaded model's ``precision`` attribute says what was
        chosen, why, and its agreement with float32.  ``gradients``: the caller differentiates the model
        (explanations), so ``auto``, ``int8`` and the ONNX paths load PyTorch float32 instead, and say so.
        ``job_clips``: how many clips the caller is about to score; ``auto`` then chooses by the whole job's expected
        time, start-up included (a handful of clips: the path that does not import torch), else by the model's time.

        The whole route from a command line to the built network is: the command (``cli``), the driver
        (:func:`workbench.runs.driver.run`), this method, and :func:`workbench.model.network.cached_network` (or
        ONNX Runtime's session) — the choice travels as this one type (``tests/test_model_route.py``).
        """
        if self.is_loaded:
            if gradients and (self.dtype == "int8" or self.dtype.startswith("onnx-")):
                # a loaded model without gradients (ONNX Runtime, int8) cannot be differentiated: its reference
                # loads the float32 network, as an unloaded one does (the run browser's Evidence panel failed on
                # a run scored through ONNX Runtime with "'OnnxModel' object has no attribute 'network'")
                return replace(self).load(progress=progress, gradients=True, job_clips=job_clips)
            return self._loaded
        ref, precision = self._decided(progress, gradients, job_clips)
        net = None
        if ref.dtype.startswith("onnx-"):
            try:
                net = ref._load_onnx(progress, split=int((precision or {}).get("onnx_split") or 1))
            except OSError as exc:  # auto's ONNX path, its export damaged in a cache that cannot be written: PyTorch, said
                ref, precision = torch_instead(ref, precision, exc, job_clips=job_clips)
                if progress is not None:  # said now, before PyTorch loads: the line above it said an export was being made
                    progress(not_exported(precision))
        if net is not None:
            precision = precision or {"requested": ref.dtype, "chosen": ref.dtype, "reason": "asked for",
                                      "agreement_with_float32": net.verification.get("agreement")}
            if precision["requested"] == "auto":
                precision["export"] = {"folder": net.export_folder, "check": net.verification}
        else:
            spec = resolve_model(ref.model, hub=ref.hub, revision=ref.revision)
            net = cached_network(spec, ref.device, ref.dtype, progress).with_temperature(ref.temperature)
            if precision is not None:
                net = copy.copy(net)  # the cached instance is shared; the record belongs to this load
        if precision is not None:
            net.precision = precision
            if progress is not None and precision.get("requested") == "auto" and "measured" in precision:
                progress(describe_auto(precision))
        if self.checksum and net.info.checksum and net.info.checksum != self.checksum:
            raise ModelError(
                f"the weights loaded have sha256 {net.info.checksum[:12]}…, not the {self.checksum[:12]}… recorded.",
                source=self.label, fix="point --model at the checkpoint that was recorded, or pass another model explicitly.")
        return net

    def _decided(self, progress: Callable[[str], None] | None, gradients: bool,
                 job_clips: int | None = None) -> tuple["ModelRef", dict | None]:
        """The concrete precision to load, and its record when the workbench chose it (``None``: as asked)."""
        dtype = self.dtype
        if gradients and (dtype in ("auto", "int8") or dtype.startswith("onnx-")):
            # int8's quantised Linear layers have no gradients either: a run that auto scored in int8 is explained in
            # float32 like one scored through ONNX Runtime (its row comparison then names both precisions)
            if progress is not None:
                progress(f"dtype {dtype} → float32 (explanations need the PyTorch model's gradients)")
            return replace(self, dtype="float32"), None
        if dtype != "auto":
            resolve_dtype(dtype, self.device)  # refuses int8 and the ONNX paths on a GPU
            return self, None
        chosen, reason = resolve_dtype("auto", self.device)
        if chosen == MEASURED:  # on this CPU: measured once, then read back
            chosen, precision = fastpath.measured_choice(self, progress=progress, job_clips=job_clips)
            return replace(self, dtype=chosen, device="cpu"), precision
        if progress is not None:  # never silently another precision than asked: say what auto chose and why
            progress(describe_choice("auto", chosen, reason))
        return replace(self, dtype=chosen), {"requested": "auto", "chosen": chosen, "reason": reason}

    def _load_onnx(self, progress: Callable[[str], None] | None, split: int = 1) -> Any:
        """The checkpoint run by ONNX Runtime through its cached, verified export (made on first use); ``split``: each
        batch cut into that many parts run at once (``auto``'s measured layout, :func:`~workbench.model.fastpath.measure_paths`).

        The model's ``info`` is the checkpoint's (id, path, checksum of the weights) with ``dtype`` set to
        ``onnx-float32`` or ``onnx-int8``, so a run records the checkpoint, and its cached predictions are its own.
        """
        if self.temperature is not None:  # never a silently untempered score
            raise ConfigError(f"--temperature is not applied by the ONNX Runtime paths ({self.dtype}) yet.", source="--temperature",
                              fix="use --dtype float32, bfloat16 or int8 with --temperature, or leave --temperature out.")
        folder, verified, base = fastpath.onnx_export_for(self, progress=progress)
        graph_dtype = self.dtype.removeprefix("onnx-")
        t0 = time.perf_counter()
        net = load_onnx_model(folder, dtype=graph_dtype, device="cpu", split=split)
        if base.warning and base.warning != net.info.warning:  # the checkpoint's own warning (a cue checkpoint's SYNTHETIC
            logger.warning(base.warning)  # CUES, a head's card), as its PyTorch load says it: `auto` on ONNX said nothing
        net.info = replace(base, dtype=self.dtype, device="cpu", parameters=net.info.parameters,
                           load_seconds=time.perf_counter() - t0)
        net.export_folder = str(folder)
        net.verification = verified["graphs"][graph_dtype]
        return net

    def forget(self) -> None:
        """Drop this reference's built network from the process cache (a later :meth:`load` builds it again)."""
        if self.dtype in PRECISIONS and not self.dtype.startswith("onnx-"):
            forget_network(resolve_model(self.model, hub=self.hub, revision=self.revision), self.device, self.dtype)

    def pinned(self, net: Any) -> "ModelRef":
        """This reference with what loading ``net`` settled: the weights' checksum, the precision loaded in
        (``auto`` becomes what was chosen) and the temperature applied; the name stays portable.

        A run records the pinned reference, so that the same record loads the same weights elsewhere, or is
        refused there (:meth:`load`).

        Parameters
        ----------
        net : Emotion2vecModel
            The model this reference loaded (or one a caller gave already loaded).

        Examples
        --------
        >>> ref = wb.ModelRef("tiny", device="cpu")
        >>> ref.pinned(ref.load()).checksum == ref.load().info.checksum
        True
        """
        ref = type(self).of_loaded(net, self)
        dtype = net.info.dtype if net.info.dtype in DTYPES else ref.dtype
        return replace(ref, dtype=dtype, temperature=getattr(net.info, "temperature", None))

    def describe(self, *, progress: Callable[[str], None] | None = None) -> Any:
        """What this reference names, from its files alone: checked and hashed, no network built, no FunASR imported.

        Returns an object with ``info`` (the record a loaded model carries, with ``parameters=None``),
        ``random_weights`` and ``labels``.  A hub id not downloaded on this machine has ``info.checksum=None``;
        ``info.dtype`` is the reference's precision (``float32`` for ``auto`` and the ONNX paths, chosen only when loading).
        The Ray engine's driver records this while its actors load the model.

        Parameters
        ----------
        progress : callable, optional
            Hears ``"verifying checksum"`` before the weights are hashed.

        Examples
        --------
        >>> d = wb.ModelRef("tiny").describe()
        >>> (d.info.parameters, d.random_weights, len(d.labels))
        (None, True, 9)
        """
        dtype = self.dtype if self.dtype in ("float32", "bfloat16", "float16", "int8") else "float32"
        return describe_checkpoint(self.model, hub=self.hub, revision=self.revision, device=self.device, dtype=dtype,
                                   progress=progress)

    @property
    def label(self) -> str:
        """What to call the model in a message: its name, hub and revision."""
        name = self.model or DEFAULT_MODEL
        return name + (f" ({self.hub}{'@' + self.revision if self.revision else ''})" if self.is_hub else "")

    @property
    def is_hub(self) -> bool:
        return self.model is None or resolve_kind(self.model) == "hub"

    def to_dict(self) -> dict:
        """A plain mapping (YAML/JSON) that :meth:`from_dict` reads back."""
        return asdict(self)


def resolve_dtype(requested: str, device: str, *, flags: frozenset[str] | None = None) -> tuple[str, str]:
    """The precision to run in, and why.

    Parameters
    ----------
    requested : {"auto", "float32", "bfloat16", "float16", "int8"}
        What the user asked for.
    device : str
        ``"cpu"``, ``"cuda"``, ``"cuda:1"`` … (``"auto"`` is resolved to CUDA when available).
    flags : frozenset of str, optional
        CPU flags to decide from (tests); default: this machine's.

    Returns
    -------
    (dtype, reason) : tuple of str
        ``dtype`` is one of :data:`DTYPES`, or :data:`MEASURED` for ``auto`` on a CPU; ``reason`` is a short phrase for the screen and the
        provenance, e.g. ``"CPU has avx512_bf16"``.

    Raises
    ------
    ConfigError
        For an unknown value, or int8 on a GPU (dynamic quantisation runs on the CPU only).
    """
    if requested not in DTYPE_CHOICES:
        raise ConfigError(f"unknown dtype {requested!r}; expected one of {', '.join(DTYPE_CHOICES)}.", source="--dtype",
                          fix="pass --dtype auto (the fastest precision this machine runs well) or float32 (exact).")
    if device == "auto":
        device = auto_device()
    on_gpu = str(device).startswith("cuda")
    if requested in ("int8", "onnx-float32", "onnx-int8") and on_gpu:
        raise ConfigError(f"{requested} runs on the CPU only.", source=f"--dtype {requested}",
                          fix=f"use --dtype bfloat16 or auto on a GPU, or --device cpu for {requested}.")
    if requested != "auto":
        return requested, "asked for"
    if on_gpu:
        if cuda_bf16():
            return "bfloat16", "GPU supports bfloat16"
        return "float16", "GPU lacks bfloat16"
    return MEASURED, "the fastest path that agrees with float32, measured on this CPU"


def resolve_kind(model: str) -> str:
    """``"hub"``, ``"local"`` or ``"random"``, as :func:`~workbench.model.checkpoints.resolve_model` sees ``model``
    (without building a random checkpoint)."""
    if model in RANDOM_NAMES:
        return "random"
    try:
        return resolve_model(model).kind
    except WorkbenchError:  # a folder that is not (or no longer) a checkpoint
        return "local"


def portable_name(model: str | os.PathLike) -> str:
    """``model`` as it means the same on another machine: a folder of the random-checkpoint cache becomes its
    name (``tiny``), a local folder its absolute path, a hub id stays as it is."""
    text = str(model)
    if text in RANDOM_NAMES:
        return text
    p = Path(text).expanduser()
    m = _RANDOM_CACHE_NAME.fullmatch(p.name)
    if m and (p.parent.name == "checkpoints" or p.parent == cache_dir() / "checkpoints"):
        return "tiny" if m.group(1) == "tiny" else f"random-{m.group(1)}"
    if p.is_dir() or text.startswith((".", "/", "~")):
        return str(p.resolve())
    return text


def check_same_model(net: Emotion2vecModel, recorded: ModelRef, *, allow_other: bool, option: str = "--other-model") -> str | None:
    """Refuse ``net`` when its weights are not the ones a run recorded, unless ``allow_other``.

    Returns ``None`` for the run's model, else the line every output of the command must carry.
    """
    if not recorded.checksum or net.info.checksum == recorded.checksum:
        return None
    what = (f"{net.info.id} (sha256 {str(net.info.checksum)[:12]}…) is not the run's model "
            f"{recorded.label} (sha256 {recorded.checksum[:12]}…)")
    if not allow_other:
        raise ConfigError(f"{what}: its embeddings live in another space, so distances to the run's items mean nothing.",
                          source="--model", fix=f"leave out --model to use the run's model, or pass {option} to compare anyway.")
    return f"OTHER MODEL: {what}; distances compare two different embedding spaces."
