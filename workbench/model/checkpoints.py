"""Checkpoints: what ``--model`` names, where its files are, and loading their weights safely.

:func:`resolve_model` turns a ``--model`` value into what it names: a hub id (ModelScope or Hugging Face,
with aliases), a local checkpoint directory, or a checkpoint the workbench generates.  The other ideas of
the checkpoint family live beside it, and their names stay importable from here:

* :mod:`workbench.model.hub` — hub ids, complete local downloads, the offline policy;
* :mod:`workbench.model.generated` — seeded random checkpoints, markers, the registry of generated
  checksums, training cards;
* :mod:`workbench.model.weights` — the weights file, safe reading, fit, the memoised sha256;
* :mod:`workbench.model.checkpoint_safety` — refusing a folder that would run, install or fetch anything;
* :func:`~workbench.model.funasr_patches.import_funasr` — FunASR, imported only as far as emotion2vec needs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from workbench.errors import ModelError
from workbench.model.checkpoint_safety import (  # noqa: F401  (the family's names, importable from here)
    CODE_FILES,
    CONFIG_KEYS,
    DANGEROUS_CONFIG_KEYS,
    TOKENIZER_CONF_KEYS,
    check_checkpoint,
)
from workbench.model.funasr_patches import import_funasr, slow_load  # noqa: F401
from workbench.model.generated import (  # noqa: F401
    ARCHS,
    GENERATED_CHECKPOINTS,
    GENERATED_MARKERS,
    RANDOM_MARKER,
    TRAINING_CARD,
    ArchSpec,
    build_random_checkpoint,
    checkpoint_bytes,
    checkpoint_warning,
    emotion2vec_config,
    ensure_generated_checkpoint,
    ensure_random_checkpoint,
    generated_checksum,
    generated_registry_path,
    random_checkpoint_info,
    read_training_card,
    record_generated,
    write_checkpoint_files,
)
from workbench.model.hub import ALIASES, DEFAULT_MODEL, KNOWN_MODELS, cached_hub_checkpoint, display_name, offline, require_hub  # noqa: F401
from workbench.model.weights import (  # noqa: F401
    OPTIONAL_PREFIXES,
    WEIGHTS_FILES,
    check_weights_fit,
    checksum_memo_path,
    file_sha256,
    load_weights,
    weights_file,
)
from workbench.paths import cache_dir  # noqa: F401  (public here too)

#: ``--model`` names of the seeded random checkpoints, and the architecture each builds
RANDOM_NAMES = {"tiny": "tiny", "random-tiny": "tiny", "random-base": "base", "random-large": "large"}


@dataclass(frozen=True)
class _Resolved:
    """What ``--model`` resolved to (private: :class:`~workbench.model.ref.ModelRef` is the model type that travels)."""

    requested: str
    kind: str  # "hub" | "local" | "random"
    model: str  # hub id or directory
    hub: str = "ms"
    revision: str | None = None


def resolve_model(model: str | os.PathLike | None = None, *, hub: str = "ms", revision: str | None = None) -> _Resolved:
    """Turn a ``--model`` value into its resolved form (kind, hub id or folder).

    * ``None`` → :data:`DEFAULT_MODEL` on ``hub``;
    * ``"tiny"`` (or ``"random-large"``) → a generated random checkpoint;
    * an existing directory → a local checkpoint (must hold ``config.yaml``
      and ``model.pt`` or ``model.safetensors``);
    * anything else → a hub id (aliases ``large``, ``base``, ``seed``).
    """
    hub = {"modelscope": "ms", "huggingface": "hf"}.get(hub, hub)
    if hub not in ("ms", "hf"):
        raise ModelError(f"unknown hub {hub!r}; expected 'ms' (ModelScope) or 'hf' (Hugging Face).", fix="pass --hub ms or --hub hf.")
    requested = str(model) if model is not None else DEFAULT_MODEL
    if requested in RANDOM_NAMES:
        return _Resolved(requested, "random", str(ensure_random_checkpoint(RANDOM_NAMES[requested])), hub, None)
    if requested in GENERATED_CHECKPOINTS:
        return _Resolved(requested, "trained", str(ensure_generated_checkpoint(requested)), hub, None)
    path = Path(requested).expanduser()
    if path.is_dir():
        missing = [] if (path / "config.yaml").is_file() else ["config.yaml missing"]
        if weights_file(path) is None:  # one that is there and is no file (a FIFO, /dev/zero, a folder) is named as such
            odd = [name for name in WEIGHTS_FILES if os.path.lexists(path / name)]
            missing.append(f"{odd[0]} is a folder, a pipe, a device or a broken link, not a file" if odd else "model.pt missing")
        if missing and (path / "model.onnx").is_file():
            raise ModelError(
                "is an ONNX export (model.onnx) of `workbench model export-onnx`, not a PyTorch checkpoint.", source=str(path),
                fix="score it with --backend onnxruntime (`workbench run MANIFEST --backend onnxruntime --model DIR`, `workbench "
                f"infer`), or pass the checkpoint it was exported from{_export_source(path)} to --model.")
        if missing:
            raise ModelError(
                f"directory is not an emotion2vec checkpoint: {', '.join(missing)}.",
                source=str(path),
                fix="point --model at the folder that holds config.yaml, model.pt (or model.safetensors) and tokens.txt "
                "(e.g. a ModelScope download of iic/emotion2vec_plus_large).",
            )
        kind = "random" if random_checkpoint_info(path) else ("trained" if checkpoint_warning(path) else "local")
        return _Resolved(requested, kind, str(path.resolve()), hub, None)
    if requested.startswith((".", "/", "~")) or os.sep in requested and requested.count("/") > 1:
        raise ModelError(
            "no such checkpoint directory.",
            source=requested,
            fix="check the path, or give a hub id such as iic/emotion2vec_plus_large.",
        )
    if "/" not in requested and requested not in ALIASES:
        # hub ids are owner/name: a bare name that is no alias is a folder that is not there (a typo of `ckpt`)
        names = ", ".join([*ALIASES, *RANDOM_NAMES, *GENERATED_CHECKPOINTS])
        raise ModelError(
            "no such checkpoint directory, and not a hub id (hub ids are owner/name, e.g. iic/emotion2vec_plus_large).",
            source=requested,
            fix="check the folder name" + _checkpoints_near(path) + f", or give a hub id or one of the names {names}.",
        )
    near = _checkpoints_near(path) if "/" in requested and requested not in KNOWN_MODELS and path.parent.is_dir() else ""
    if near:  # `models/demo-hed` beside `models/demo-head` was taken for a hub id: "not in the local ModelScope cache"
        raise ModelError("no such checkpoint directory (read as a hub id owner/name, but its folder is here and holds "
                         "checkpoints).", source=requested, fix=f"check the folder name{near}.")
    return _Resolved(requested, "hub", ALIASES.get(requested, requested), hub, revision)


def _checkpoints_near(path: Path, limit: int = 5) -> str:
    """``" (the checkpoint folders here: a, b)"``: folders beside ``path`` holding a checkpoint, the nearest name first."""
    import difflib

    parent = path.parent
    try:
        found = [e.name for e in os.scandir(parent) if e.is_dir() and weights_file(Path(e.path)) is not None
                 and (Path(e.path) / "config.yaml").is_file()]
    except OSError:
        return ""
    found.sort(key=lambda n: (-difflib.SequenceMatcher(None, path.name, n).ratio(), n))
    shown = [str(parent / n) if str(parent) not in ("", ".") else n for n in found[:limit]]
    return f" (the checkpoint folders here: {', '.join(shown)})" if found else ""


def _export_source(folder: Path) -> str:
    """`` (SOURCE)``: the checkpoint an ONNX export folder's ``model.json`` names as its source, or "" when it names none."""
    try:
        meta = json.loads((folder / "model.json").read_text(encoding="utf-8")[:1_000_000])
        source = meta.get("source_path") or meta.get("source_model")
    except (OSError, ValueError, AttributeError):
        return ""
    return f" ({source})" if isinstance(source, str) and source else ""
