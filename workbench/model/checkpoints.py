"""Checkpoints: what ``--model`` names, where its files are, and loading their weights safely.

**Resolution.**  :func:`resolve_model` turns a ``--model`` value into a
:class:`ModelSpec`: a hub id (ModelScope or Hugging Face, with aliases), a
local checkpoint directory, or a generated random checkpoint.  The offline
policy (:func:`offline`, :func:`require_hub`) and the lookup of complete local
hub downloads (:func:`cached_hub_checkpoint`) live here too.

**Weights.**  :func:`load_weights` reads a checkpoint's state dict with
``torch.load(weights_only=True)`` (or from ``model.safetensors`` where the
checkpoint has one): a ``model.pt`` whose pickle holds anything beyond tensors
is refused with a :class:`~workbench.errors.ModelError`, whatever
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` says.  :func:`check_weights_fit` refuses
weights that do not fit the network.  :func:`file_sha256` hashes a weights
file once and remembers the digest by (path, inode, size, mtime, ctime) in a small JSON memo
under :func:`cache_dir`.

**Random checkpoints.**

Model weights cannot be downloaded where this project is built and tested, so
the workbench writes checkpoints itself: the real ``config.yaml`` format, the
real nine ``tokens.txt`` entries and a ``model.pt`` whose weights come from a
seeded random initialisation.  They load through the same
``funasr.AutoModel(model=<dir>)`` path as a downloaded checkpoint.

* ``tiny``  – a few hundred KB; for tests and offline demos.
* ``large`` – the ``emotion2vec_plus_large`` sizes (1024-d, 8 + 16 blocks,
  about 300 M parameters); for speed benchmarks, since weights do not change
  speed.

**Predictions made with these checkpoints mean nothing.**  A ``RANDOM_MARKER``
file inside the directory lets the loader flag every output made with one.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import pickle
import socket
import sys
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

from workbench import files, interrupts
from workbench.errors import ConfigError, ModelError
from workbench.labels import TOKENS
from workbench.limits import load_yaml_file
from workbench.paths import cache_dir  # noqa: F401  (public here too)

logger = logging.getLogger(__name__)

#: file written into every generated checkpoint directory
RANDOM_MARKER = "WORKBENCH_RANDOM_CHECKPOINT.json"

# the conv feature encoder of every emotion2vec model: 320 samples per frame at
# 16 kHz, i.e. 50 frames per second.  Only the channel count is scaled.
_FEATURE_STRIDES = "[({c}, 10, 5)] + [({c}, 3, 2)] * 4 + [({c}, 2, 2)] + [({c}, 2, 2)]"


@dataclass(frozen=True)
class ArchSpec:
    """Sizes of an emotion2vec network (everything else is the real config)."""

    name: str
    embed_dim: int
    num_heads: int
    depth: int  # transformer blocks after the prenet
    prenet_depth: int  # transformer blocks inside the audio encoder
    conv_dim: int  # channels of the conv feature encoder
    conv_pos_groups: int
    decoder_dim: int
    decoder_groups: int
    decoder_layers: int


ARCHS: dict[str, ArchSpec] = {
    "tiny": ArchSpec("tiny", 32, 2, 1, 1, 32, 16, 16, 4, 1),
    # the sizes of iic/emotion2vec_plus_base (data2vec 2.0 base audio)
    "base": ArchSpec("base", 768, 12, 8, 4, 512, 16, 384, 16, 4),
    # the sizes of iic/emotion2vec_plus_large (data2vec 2.0 large audio)
    "large": ArchSpec("large", 1024, 16, 16, 8, 512, 16, 384, 16, 4),
}


def emotion2vec_config(arch: ArchSpec) -> dict:
    """Return a FunASR ``config.yaml`` dict for an emotion2vec+ classifier.

    Keys and values follow the published emotion2vec checkpoints; only the
    sizes in ``arch`` vary.  Dropout values are kept as published (they are
    inactive in ``eval()`` mode).
    """
    d = arch
    return {
        "model": "Emotion2vec",
        "model_conf": {
            "loss_beta": 0.0,
            "loss_scale": None,
            "depth": d.depth,
            "start_drop_path_rate": 0.0,
            "end_drop_path_rate": 0.0,
            "num_heads": d.num_heads,
            "norm_eps": 1e-05,
            "norm_affine": True,
            "encoder_dropout": 0.1,
            "post_mlp_drop": 0.1,
            "attention_dropout": 0.1,
            "activation_dropout": 0.0,
            "dropout_input": 0.0,
            "layerdrop": 0.05,
            "embed_dim": d.embed_dim,
            "mlp_ratio": 4.0,
            "layer_norm_first": False,
            "average_top_k_layers": d.depth,
            "end_of_block_targets": False,
            "clone_batch": 8,
            "layer_norm_target_layer": False,
            "batch_norm_target_layer": False,
            "instance_norm_target_layer": True,
            "instance_norm_targets": False,
            "layer_norm_targets": False,
            "ema_decay": 0.999,
            "ema_same_dtype": True,
            "log_norms": True,
            "ema_end_decay": 0.99999,
            "ema_anneal_end_step": 20000,
            "ema_encoder_only": False,
            "max_update": 100000,
            "extractor_mode": "layer_norm",
            "shared_decoder": None,
            "min_target_var": 0.1,
            "min_pred_var": 0.01,
            "supported_modality": "AUDIO",
            "mae_init": False,
            "seed": 1,
            "skip_ema": False,
            "cls_loss": 1.0,
            "recon_loss": 0.0,
            "d2v_loss": 1.0,
            "decoder_group": False,
            "adversarial_training": False,
            "adversarial_hidden_dim": 128,
            "adversarial_weight": 0.1,
            "cls_type": "chunk",
            "normalize": True,
            "modalities": {
                "audio": {
                    "type": "AUDIO",
                    "prenet_depth": d.prenet_depth,
                    "prenet_layerdrop": 0.05,
                    "prenet_dropout": 0.1,
                    "start_drop_path_rate": 0.0,
                    "end_drop_path_rate": 0.0,
                    "num_extra_tokens": 10,
                    "init_extra_token_zero": True,
                    "mask_noise_std": 0.01,
                    "mask_prob_min": None,
                    "mask_prob": 0.5,
                    "inverse_mask": False,
                    "mask_prob_adjust": 0.05,
                    "keep_masked_pct": 0.0,
                    "mask_length": 5,
                    "add_masks": False,
                    "remove_masks": False,
                    "mask_dropout": 0.0,
                    "encoder_zero_mask": True,
                    "mask_channel_prob": 0.0,
                    "mask_channel_length": 64,
                    "ema_local_encoder": False,
                    "local_grad_mult": 1.0,
                    "use_alibi_encoder": True,
                    "alibi_scale": 1.0,
                    "learned_alibi": False,
                    "alibi_max_pos": None,
                    "learned_alibi_scale": True,
                    "learned_alibi_scale_per_head": True,
                    "learned_alibi_scale_per_layer": False,
                    "num_alibi_heads": d.num_heads,
                    "model_depth": d.depth,
                    "decoder": {
                        "decoder_dim": d.decoder_dim,
                        "decoder_groups": d.decoder_groups,
                        "decoder_kernel": 7,
                        "decoder_layers": d.decoder_layers,
                        "input_dropout": 0.1,
                        "add_positions_masked": False,
                        "add_positions_all": False,
                        "decoder_residual": True,
                        "projection_layers": 1,
                        "projection_ratio": 2.0,
                    },
                    "extractor_mode": "layer_norm",
                    "feature_encoder_spec": _FEATURE_STRIDES.format(c=d.conv_dim),
                    "conv_pos_width": 95,
                    "conv_pos_groups": d.conv_pos_groups,
                    "conv_pos_depth": 5,
                    "conv_pos_pre_ln": False,
                }
            },
        },
        "tokenizer": "CharTokenizer",
        "tokenizer_conf": {"unk_symbol": "<unk>", "split_with_space": True},
    }


def build_random_checkpoint(
    out_dir: str | os.PathLike,
    *,
    arch: str | ArchSpec = "tiny",
    seed: int = 0,
) -> Path:
    """Write a seeded random emotion2vec+ checkpoint into ``out_dir``.

    The directory receives ``config.yaml``, ``model.pt`` (``{"model":
    state_dict}`` as FunASR saves it), ``tokens.txt`` and the random marker.
    The same ``arch`` and ``seed`` always give the same weights.

    Returns the directory.
    """
    if isinstance(arch, str):
        if arch not in ARCHS:
            raise ConfigError(
                f"unknown architecture {arch!r}; expected one of {', '.join(ARCHS)}.",
                fix="pass arch='tiny' for tests or arch='large' for benchmarks.",
            )
        arch = ARCHS[arch]
    out = Path(out_dir)
    config = emotion2vec_config(arch)

    state = _random_state(arch, seed, config)
    n_params = sum(v.numel() for v in state.values())
    marker = {
        "warning": "Random weights: predictions made with this checkpoint mean nothing.",
        "arch": asdict(arch),
        "seed": seed,
        "parameters": int(n_params),
        "made_by": "workbench.model.checkpoints.build_random_checkpoint",
    }
    weights = checkpoint_bytes(state)
    write_checkpoint_files(out, config=config, weights=weights, marker_name=RANDOM_MARKER, marker=marker,
                           kind="random", warning=marker["warning"])
    logger.info("wrote random %s checkpoint (%d parameters, seed %d) to %s", arch.name, n_params, seed, out)
    return out


def _random_state(arch: ArchSpec, seed: int, config: dict) -> dict:
    """The seeded random state dict of ``arch`` (the same ``arch`` and ``seed`` give the same tensors)."""
    import torch

    import_funasr()
    from funasr.models.emotion2vec.model import Emotion2vec

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = Emotion2vec(model_conf=config["model_conf"], vocab_size=len(TOKENS))
        # the fine-tuned checkpoints have non-zero extra tokens and alibi
        # scales; random ones keep every code path numerically active
        with torch.no_grad():
            enc = net.modality_encoders["AUDIO"]
            enc.extra_tokens.normal_(0.0, 0.02)
            if enc.alibi_scale is not None:
                enc.alibi_scale.uniform_(0.5, 1.5)
        return {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}


def checkpoint_bytes(state: dict) -> bytes:
    """``model.pt`` as the workbench writes it (``torch.save({"model": state})`` to a file object: the same bytes every time)."""
    import torch

    buf = io.BytesIO()
    torch.save({"model": state}, buf)
    return buf.getvalue()


def write_checkpoint_files(out: Path, *, config: dict, weights: bytes, marker_name: str, marker: dict, kind: str, warning: str) -> None:
    """Write a generated checkpoint (config.yaml, tokens.txt, model.pt, then its marker) with the safe write,
    and record the weights' sha256 in the registry of generated checkpoints (:func:`generated_checksum`)."""
    import yaml

    out = Path(out)
    # in the shared cache, every level below the cache root is checked for links (a linked checkpoints/ is refused)
    root = cache_dir() if out.absolute().is_relative_to(cache_dir().absolute()) else out
    files.write_text(out / "config.yaml", yaml.safe_dump(config, sort_keys=False, allow_unicode=True), root=root)
    files.write_text(out / "tokens.txt", "\n".join(TOKENS) + "\n", root=root)
    files.write_bytes(out / "model.pt", weights, root=root)
    digest = hashlib.sha256(weights).hexdigest()
    record_generated(digest, name=out.name, kind=kind, warning=warning)
    # the marker goes last so a half-written directory is never mistaken for a checkpoint
    files.write_json(out / marker_name, {**marker, "weights_sha256": digest}, root=root)


def random_checkpoint_info(model_dir: str | os.PathLike) -> dict | None:
    """Return the marker of a workbench-made random checkpoint, or ``None``."""
    path = Path(model_dir) / RANDOM_MARKER
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


#: checkpoints trained here from synthetic data, by ``--model`` name: (module, function returning the directory).
#: The builders live with what they are for (the planted-cue checkpoint with the explain stage) and are
#: imported by name when asked for, as entry points are, so this low-level module depends on none of them.
GENERATED_CHECKPOINTS: dict[str, tuple[str, str]] = {
    "cue": ("workbench.explain.cue", "ensure_cue_checkpoint"),
    "tiny-cue": ("workbench.explain.cue", "ensure_cue_checkpoint"),
}
#: marker files of generated checkpoints; each holds a ``warning`` that every output made with it must carry
GENERATED_MARKERS = (RANDOM_MARKER, "WORKBENCH_CUE_CHECKPOINT.json")


#: the card ``workbench finetune`` writes beside a checkpoint it made: parent, data, speakers, hyper-parameters, curves
TRAINING_CARD = "training_card.json"


def read_training_card(model_dir: str | os.PathLike | None) -> dict | None:
    """The training card of a fine-tuned checkpoint folder (``training_card.json``), or ``None`` when it has none.

    Plain JSON, read as data: loading a checkpoint never runs anything it holds.
    """
    if not model_dir:
        return None
    path = Path(str(model_dir)).expanduser() / TRAINING_CARD
    if not path.is_file():
        return None
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {TRAINING_CARD} ({_short(exc)}).", source=str(path),
                         fix="restore the card `workbench finetune` wrote, or fine-tune again.") from None
    if not isinstance(card, dict):
        raise ModelError(f"{TRAINING_CARD} is not a JSON object.", source=str(path), fix="restore the card `workbench finetune` wrote.")
    return card


def checkpoint_warning(model_dir: str | os.PathLike) -> str | None:
    """The ``warning`` of a generated checkpoint's marker (random weights, synthetic cues), or of a fine-tuned
    checkpoint's training card (a head trained on a generated parent), or ``None``."""
    card = read_training_card(model_dir)
    if card is not None and card.get("warning"):
        return str(card["warning"])
    for name in GENERATED_MARKERS:
        path = Path(model_dir) / name
        if path.is_file():
            try:
                return str(json.loads(path.read_text(encoding="utf-8")).get("warning") or "generated checkpoint")
            except (OSError, ValueError):
                return "generated checkpoint (its marker file is unreadable)"
    return None


def ensure_generated_checkpoint(name: str) -> Path:
    """The directory of the generated checkpoint ``name`` (a key of :data:`GENERATED_CHECKPOINTS`), built once."""
    import importlib

    if name not in GENERATED_CHECKPOINTS:
        raise ConfigError(f"unknown generated checkpoint {name!r}.", fix=f"use one of {', '.join(GENERATED_CHECKPOINTS)}.")
    module, function = GENERATED_CHECKPOINTS[name]
    return Path(getattr(importlib.import_module(module), function)())


def ensure_random_checkpoint(arch: str = "tiny", *, seed: int = 0) -> Path:
    """Return the cached random checkpoint for ``arch``/``seed``, building it once, verified every time.

    The ``model.pt`` in the cache must have the checksum the package builds: for ``tiny`` the weights are
    rebuilt in memory (milliseconds) and hashed, so nothing editable decides; for larger architectures the
    registry entry written when the package built it.  A cached checkpoint whose weights differ (replaced,
    edited, truncated) is rebuilt, and a warning says so.
    """
    target = cache_dir() / "checkpoints" / f"random-{arch}-seed{seed}"
    if random_checkpoint_info(target) is None:
        build_random_checkpoint(target, arch=arch, seed=seed)
        return target
    expected = _expected_random_sha256(arch, seed)
    weights = target / "model.pt"
    try:
        actual = file_sha256(weights) if weights.is_file() and not weights.is_symlink() else None
    except OSError:
        actual = None
    known = generated_checksum(actual) if actual else None
    if actual is None or (expected is not None and actual != expected) or (expected is None and known is None):
        logger.warning("the cached %s checkpoint at %s is not the one the workbench built (its model.pt has sha256 %s, "
                       "expected %s); building it again.", arch, target, (actual or "none")[:16], (expected or "a registered one")[:16])
        build_random_checkpoint(target, arch=arch, seed=seed)
    return target


_EXPECTED: dict[tuple[str, int], str] = {}


#: sha256 of the tiny ``model.pt`` the package builds, by (torch, funasr, seed): the same bytes on every machine with
#: these versions (measured on two machines' fresh caches).  With other versions it is rebuilt in memory once per
#: process, which imports torch and FunASR (about 13 s of a short `workbench run --model tiny` on 2 loaded cores).
_KNOWN_TINY = {
    ("2.13.0+cpu", "1.4.16", 0): "3aa1b4e756771192142383f1777e862ddee2218e104a3817827ff504ef9d4dc6",
}


def _installed_versions() -> tuple[str, str]:
    import importlib.metadata as md

    try:
        return md.version("torch"), md.version("funasr")
    except md.PackageNotFoundError:
        return "", ""


def _expected_random_sha256(arch: str, seed: int) -> str | None:
    """sha256 of the ``model.pt`` the package builds for ``arch``/``seed`` (``tiny`` only): from :data:`_KNOWN_TINY` for
    the versions installed, else computed in memory."""
    if arch != "tiny" or arch not in ARCHS:
        return None
    known = _KNOWN_TINY.get((*_installed_versions(), seed))
    if known is not None:
        _EXPECTED[(arch, seed)] = known
    if (arch, seed) not in _EXPECTED:
        state = _random_state(ARCHS[arch], seed, emotion2vec_config(ARCHS[arch]))
        _EXPECTED[(arch, seed)] = hashlib.sha256(checkpoint_bytes(state)).hexdigest()
    return _EXPECTED[(arch, seed)]


def generated_registry_path() -> Path:
    """The registry of generated checkpoints: ``{sha256 of model.pt: {name, kind, warning}}`` (written when built)."""
    return cache_dir() / "generated.json"


def record_generated(digest: str, *, name: str, kind: str, warning: str) -> None:
    """Remember that the weights with ``digest`` were generated by the package (random or synthetic-cue)."""
    with _MEMO_LOCK:
        path = generated_registry_path()
        registry = _read_memo(path)
        registry[digest] = {"name": name, "kind": kind, "warning": warning}
        try:
            files.write_json(path, registry, indent=1, root=cache_dir())
        except (OSError, files.UnsafePathError) as exc:
            logger.warning("cannot record the generated checkpoint in %s: %s", path, exc)


def generated_checksum(digest: str | None) -> dict | None:
    """``{name, kind, warning}`` when ``digest`` is the sha256 of weights the package generated, else ``None``.

    The random-weights/synthetic banners come from this (the weights' checksum) as well as from marker files:
    an edited marker, ``model.json`` or ``summary.json`` can add a banner but never remove one.
    """
    if not isinstance(digest, str) or len(digest) != 64:
        return None
    if digest in _EXPECTED.values() or digest in _KNOWN_TINY.values():
        return {"name": "random-tiny", "kind": "random", "warning": "Random weights: predictions made with this checkpoint mean nothing."}
    entry = _read_memo(generated_registry_path()).get(digest)
    return entry if isinstance(entry, dict) else None


# ---------------------------------------------------------------------------
# what --model names
# ---------------------------------------------------------------------------
DEFAULT_MODEL = "iic/emotion2vec_plus_large"
#: hub ids the workbench knows; any other id is passed to FunASR as it is
KNOWN_MODELS = (
    "iic/emotion2vec_plus_large",
    "iic/emotion2vec_plus_base",
    "iic/emotion2vec_plus_seed",
    "iic/emotion2vec_base_finetuned",
)
ALIASES = {
    "large": "iic/emotion2vec_plus_large",
    "plus_large": "iic/emotion2vec_plus_large",
    "base": "iic/emotion2vec_plus_base",
    "plus_base": "iic/emotion2vec_plus_base",
    "seed": "iic/emotion2vec_plus_seed",
    "plus_seed": "iic/emotion2vec_plus_seed",
    "base_finetuned": "iic/emotion2vec_base_finetuned",
}
#: weights files a checkpoint directory may hold, preferred first
WEIGHTS_FILES = ("model.safetensors", "model.pt")


@dataclass(frozen=True)
class ModelSpec:
    """What ``--model`` resolved to."""

    requested: str
    kind: str  # "hub" | "local" | "random"
    model: str  # hub id or directory
    hub: str = "ms"
    revision: str | None = None


def resolve_model(model: str | os.PathLike | None = None, *, hub: str = "ms", revision: str | None = None) -> ModelSpec:
    """Turn a ``--model`` value into a :class:`ModelSpec`.

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
    if requested in ("tiny", "random-tiny", "random-large", "random-base"):
        arch = "tiny" if requested in ("tiny", "random-tiny") else requested.split("-", 1)[1]
        return ModelSpec(requested, "random", str(ensure_random_checkpoint(arch)), hub, None)
    if requested in GENERATED_CHECKPOINTS:
        return ModelSpec(requested, "trained", str(ensure_generated_checkpoint(requested)), hub, None)
    path = Path(requested).expanduser()
    if path.is_dir():
        missing = [] if (path / "config.yaml").is_file() else ["config.yaml"]
        if weights_file(path) is None:
            missing.append("model.pt")
        if missing:
            raise ModelError(
                f"directory is not an emotion2vec checkpoint: {', '.join(missing)} missing.",
                source=str(path),
                fix="point --model at the folder that holds config.yaml, model.pt (or model.safetensors) and tokens.txt "
                "(e.g. a ModelScope download of iic/emotion2vec_plus_large).",
            )
        kind = "random" if random_checkpoint_info(path) else ("trained" if checkpoint_warning(path) else "local")
        return ModelSpec(requested, kind, str(path.resolve()), hub, None)
    if requested.startswith((".", "/", "~")) or os.sep in requested and requested.count("/") > 1:
        raise ModelError(
            "no such checkpoint directory.",
            source=requested,
            fix="check the path, or give a hub id such as iic/emotion2vec_plus_large.",
        )
    return ModelSpec(requested, "hub", ALIASES.get(requested, requested), hub, revision)


def weights_file(model_dir: str | os.PathLike) -> Path | None:
    """The weights file of a checkpoint directory (``model.safetensors`` first, then ``model.pt``), or ``None``."""
    for name in WEIGHTS_FILES:
        if (Path(model_dir) / name).is_file():
            return Path(model_dir) / name
    return None


_HUB_HOSTS = {"ms": "www.modelscope.cn", "hf": "huggingface.co"}


def offline() -> bool:
    """True when ``WORKBENCH_OFFLINE``, ``HF_HUB_OFFLINE`` or ``MODELSCOPE_OFFLINE`` is set to 1/true."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("WORKBENCH_OFFLINE", "HF_HUB_OFFLINE", "MODELSCOPE_OFFLINE"))


def cached_hub_checkpoint(model_id: str, hub: str = "ms") -> Path | None:
    """A complete local download of a hub id (ModelScope or Hugging Face cache), or ``None``."""
    candidates: list[Path] = []
    if hub == "ms":
        roots = [Path(os.environ["MODELSCOPE_CACHE"])] if os.environ.get("MODELSCOPE_CACHE") else []
        roots.append(Path.home() / ".cache" / "modelscope" / "hub")
        for root in roots:
            candidates += [root / "models" / model_id, root / model_id]
    else:
        hf_id = model_id.replace("iic/", "emotion2vec/", 1) if model_id.startswith("iic/emotion2vec") else model_id
        root = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub")
        snapshots = root / ("models--" + hf_id.replace("/", "--")) / "snapshots"
        if snapshots.is_dir():
            candidates += sorted(snapshots.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
    for c in candidates:
        if (c / "config.yaml").is_file() and weights_file(c) is not None:
            return c
    return None


def display_name(model_id: str | None) -> str | None:
    """A model's name for figures and titles: a hub cache folder as its hub id (``iic/emotion2vec_plus_large``),
    another folder by its last two parts, anything else as given."""
    if not model_id or not os.path.isabs(str(model_id)):
        return model_id
    parts = Path(str(model_id)).parts
    for part in parts:
        if part.startswith("models--"):  # Hugging Face: models--org--name/snapshots/<revision>
            return part[len("models--"):].replace("--", "/")
    return "/".join(parts[-2:])  # ModelScope: .../models/org/name; a folder: parent/name


def require_hub(spec: ModelSpec) -> None:
    """Fail fast, with the fix, when a hub id is not cached and the hub cannot be reached."""
    where = "ModelScope" if spec.hub == "ms" else "Hugging Face"
    fix = (
        "download the checkpoint where there is network access and pass its directory to --model "
        "(config.yaml, model.pt, tokens.txt), or use --model tiny for an offline test (random weights)."
    )
    if offline():
        raise ModelError(f"is not in the local {where} cache and offline mode is set.", source=spec.model, fix=fix)
    host = _HUB_HOSTS[spec.hub]
    if spec.hub == "hf" and os.environ.get("HF_ENDPOINT"):
        host = urlparse(os.environ["HF_ENDPOINT"]).hostname or host
    try:
        socket.create_connection((host, 443), timeout=3).close()
    except OSError as exc:
        raise ModelError(
            f"is not in the local {where} cache and {host} cannot be reached ({exc}).", source=spec.model, fix=fix
        ) from None


_require_hub = require_hub  # the name before the move


# ---------------------------------------------------------------------------
# FunASR, imported once and only as far as emotion2vec needs it
# ---------------------------------------------------------------------------
_FUNASR_LOCK = threading.Lock()
#: the FunASR modules emotion2vec needs: AutoModel, the Emotion2vec network and the CharTokenizer
#: FunASR modules AutoModel imports only for what emotion2vec never does (speaker diarization)
_FUNASR_UNUSED = ("funasr.models.campplus.cluster_backend",)
_FUNASR_MODULES = ("funasr.utils.version_checker", "funasr.auto.auto_model", "funasr.models.emotion2vec.model", "funasr.tokenizer.char_tokenizer")


def slow_load() -> bool:
    """``WORKBENCH_SLOW_LOAD=1``: load as before the fast path (benchmarks/startup.py compares both)."""
    return os.environ.get("WORKBENCH_SLOW_LOAD", "").lower() in ("1", "true", "yes")


def import_funasr():
    """Import what emotion2vec needs from FunASR, quietly, or raise a :class:`ModelError` with the fix.

    ``import funasr`` imports every model FunASR has (about 4 s, most of it
    spent reading the source of each registered class).  Unless FunASR is
    imported already, only the modules emotion2vec needs are imported, under a
    stand-in for the ``funasr`` package that is removed again afterwards, so
    a later ``import funasr`` elsewhere runs FunASR's own ``__init__`` and
    registers everything as usual.  Returns a module with ``AutoModel`` and
    ``__version__``.
    """
    # deferred: FunASR's bare `except:` clauses would otherwise swallow a Ctrl-C during its imports, or leave a
    # half-imported module behind; the Ctrl-C is raised once the imports are done
    with _FUNASR_LOCK, interrupts.deferred(), contextlib.redirect_stdout(io.StringIO()):  # FunASR prints its version
        try:
            if "funasr" in sys.modules or slow_load():
                import funasr

                for name in _FUNASR_MODULES:
                    __import__(name)
                return funasr
            return _import_funasr_light()
        except ImportError as exc:
            raise ModelError(
                f"funasr is not installed or broken ({exc}).",
                fix="install the workbench with its dependencies: `make test` or `pip install -e .` (funasr==1.4.16).",
            ) from None


def _import_funasr_light():
    import importlib
    import importlib.util
    import types

    spec = importlib.util.find_spec("funasr")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("No module named 'funasr'")
    package = types.ModuleType("funasr")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    package.__file__ = spec.origin
    package.__version__ = (Path(spec.origin).parent / "version.txt").read_text(encoding="utf-8").strip()
    before = set(sys.modules)
    sys.modules["funasr"] = package
    # AutoModel imports FunASR's speaker clustering inside a bare `try/except` (sklearn and scipy: about 1 s);
    # emotion2vec never clusters speakers, so that import is made to fail here and AutoModel goes on without it
    blocked = [m for m in _FUNASR_UNUSED if m not in sys.modules]
    sys.modules.update(dict.fromkeys(blocked))
    try:
        for name in _FUNASR_MODULES:
            importlib.import_module(name)
        package.AutoModel = sys.modules["funasr.auto.auto_model"].AutoModel
    except Exception:
        # leave no half-imported FunASR behind; fall back to the full import
        for name in set(sys.modules) - before:
            if name == "funasr" or name.startswith("funasr."):
                del sys.modules[name]
        logger.debug("partial FunASR import failed; importing all of FunASR", exc_info=True)
        import funasr

        for name in _FUNASR_MODULES:
            importlib.import_module(name)
        return funasr
    finally:
        for m in blocked:
            if m in sys.modules and sys.modules[m] is None:
                del sys.modules[m]  # a later import of them works as usual
        if sys.modules.get("funasr") is package:
            del sys.modules["funasr"]  # a later `import funasr` runs FunASR's own __init__
    return package


# ---------------------------------------------------------------------------
# weights: safe loading, fit, checksum
# ---------------------------------------------------------------------------
_UNWRAP_KEYS = ("state_dict", "model_state_dict", "model")
#: keys of the network a fine-tuned checkpoint need not carry (EMA teacher, pre-training decoder)
OPTIONAL_PREFIXES = ("ema.", "modality_encoders.AUDIO.decoder.")


def load_weights(path: str | os.PathLike, *, mmap: bool = True) -> tuple[dict, Path]:
    """Read a checkpoint's state dict safely.

    ``model.safetensors`` beside ``path`` is preferred; a ``model.pt`` is read
    with ``torch.load(weights_only=True)`` (explicitly, so that
    ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` cannot re-open it) and memory-mapped
    where the file's format allows.  ``{"model": ...}``, ``{"state_dict": ...}``
    wrappers and ``module.`` prefixes are removed.

    With ``mmap`` the tensors are backed by a private (copy-on-write) mapping
    of the file: pages are read as the network first touches them and
    processes that load the same file share them in the page cache.  Replace
    a weights file by writing a new one and renaming it (as
    :func:`build_random_checkpoint` does), not by rewriting it in place.

    Returns ``(state_dict, file_read)``.  Raises :class:`ModelError` for a
    pickle that holds more than tensors, or a file that is not a checkpoint.
    """
    import torch

    path = Path(path)
    st = path if path.suffix == ".safetensors" else path.with_name("model.safetensors")
    if st.is_file():
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state: Any = load_file(str(st), device="cpu")
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelError(f"cannot read the safetensors weights ({exc}).", source=str(st), fix="download the checkpoint again.") from None
        source = st
    else:
        source = path
        try:
            try:
                state = torch.load(str(path), map_location="cpu", weights_only=True, mmap=mmap)
            except RuntimeError as exc:
                if not mmap or "mmap" not in str(exc):
                    raise
                state = torch.load(str(path), map_location="cpu", weights_only=True)  # legacy (non-zip) format
        except pickle.UnpicklingError as exc:
            if "weights only load failed" not in str(exc).lower():
                raise ModelError(f"cannot read the weights file ({_short(exc)}).", source=str(path), fix="download the checkpoint again.") from None
            raise ModelError(
                "the weights file contains pickled objects beyond tensors; the workbench does not unpickle them "
                f"(unpickling can run arbitrary code). {_first_unsafe(exc)}",
                source=str(path),
                fix="load it once in a trusted environment and save only its tensors "
                "(torch.save({'model': state_dict}, 'model.pt')), or convert it to model.safetensors.",
            ) from None
        except (RuntimeError, OSError, EOFError, ValueError) as exc:
            raise ModelError(f"cannot read the weights file ({_short(exc)}).", source=str(path), fix="download the checkpoint again.") from None
    for key in _UNWRAP_KEYS:
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(
            "the weights file holds no state dict of tensors.",
            source=str(source),
            fix="point --model at an emotion2vec checkpoint (model.pt as FunASR saves it).",
        )
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    return state, source


def _first_unsafe(exc: BaseException) -> str:
    """The line of torch's message that names what the pickle wanted to run, if any."""
    for line in str(exc).splitlines():
        if "unsupported global" in line.lower() or "unsupported operand" in line.lower():
            return line.strip().rstrip(".")[:200] + "."
    return ""


def check_weights_fit(network_state: dict, state: dict, name: str) -> None:
    """Refuse weights that do not fit the network (FunASR would silently keep random values)."""
    needed = [k for k in network_state if not k.startswith(OPTIONAL_PREFIXES)]
    missing = [k for k in needed if k not in state]
    mismatched = [k for k in needed if k in state and tuple(state[k].shape) != tuple(network_state[k].shape)]
    if missing or mismatched:
        raise ModelError(
            f"weights do not fit the network in config.yaml: {len(missing)} missing, {len(mismatched)} of another shape "
            f"(e.g. {(missing + mismatched)[0]}). FunASR would silently keep random values for them.",
            source=name,
            fix="use the config.yaml that came with this model.pt.",
        )


_MEMO_LOCK = threading.Lock()


def checksum_memo_path() -> Path:
    """The JSON file that remembers weights checksums by (path, inode, size, mtime, ctime)."""
    return cache_dir() / "checksums.json"


def file_sha256(path: str | os.PathLike, *, remember: bool = True) -> str:
    """sha256 of a file, hashed once: the digest is remembered by (path, inode, size, mtime_ns, ctime_ns).

    Why this is enough to re-verify only when the key changes: any write to the file or replacement of it
    changes its inode (a rename onto it), its size, or its ctime — and the ctime cannot be set back by a
    user (``touch``/``os.utime`` restore mtime, and set ctime to *now*).  Bytes changed in place with the
    same size and mtime restored therefore still get a new ctime and are hashed again; only someone who
    can change the system clock or write the block device could keep the key, and such a user owns the
    machine.  (Trusting size and mtime alone, as before, let an edited ``model.pt`` keep its old checksum.)
    A memo that cannot be read or written is ignored (the file is hashed).
    """
    p = Path(path).resolve()
    stat = p.stat()
    stamp = {"inode": stat.st_ino, "device": stat.st_dev, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns}
    memo_path = checksum_memo_path()
    if remember:
        with _MEMO_LOCK:
            entry = _read_memo(memo_path).get(str(p))
        if isinstance(entry, dict) and all(entry.get(k) == v for k, v in stamp.items()):
            digest = entry.get("sha256")
            if isinstance(digest, str) and len(digest) == 64:
                return digest
    digest = files.sha256_file(p)
    if remember:
        with _MEMO_LOCK:
            memo = _read_memo(memo_path)
            memo[str(p)] = {**stamp, "sha256": digest}
            try:
                files.write_json(memo_path, memo, indent=1, root=cache_dir())
            except (OSError, files.UnsafePathError) as exc:
                logger.debug("cannot write the checksum memo %s: %s", memo_path, exc)
    return digest


def _read_memo(memo_path: Path) -> dict:
    try:
        memo = json.loads(memo_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return memo if isinstance(memo, dict) else {}


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:300]


# ---------------------------------------------------------------------------
# what a checkpoint folder may ask the loader to do
# ---------------------------------------------------------------------------
#: top-level ``config.yaml`` keys an emotion2vec+ checkpoint needs; FunASR merges every other key into
#: its loader's settings, and some of them import or install code or contact the network (below)
CONFIG_KEYS = ("model", "model_conf", "tokenizer", "tokenizer_conf", "scope_map", "ignore_init_mismatch", "excludes")
#: keys FunASR 1.4 acts on that make loading run code, install packages, fetch other models or read other files;
#: each value says what FunASR would do with it (funasr/download/download_model_from_hub.py, funasr/auto/auto_model.py)
DANGEROUS_CONFIG_KEYS = {
    "trust_remote_code": "makes FunASR import the checkpoint's Python code and pip-install its requirements.txt",
    "remote_code": "names a Python file (or URL) FunASR imports and runs when trust_remote_code is set",
    "init_param": "points FunASR's loader at another weights file (possibly outside the folder)",
    "model_path": "points FunASR at another folder",
    "config": "points FunASR at another config file",
    "vad_model": "makes FunASR download and build a second model",
    "punc_model": "makes FunASR download and build a second model",
    "spk_model": "makes FunASR download and build a second model",
    "frontend": "makes FunASR build a feature frontend emotion2vec does not have",
    "frontend_conf": "configures a frontend emotion2vec does not have",
    "hub": "makes FunASR download from a hub",
    "oss_bucket": "makes FunASR's loader read weights from a remote bucket",
    "jieba_usr_dict": "makes FunASR read another file",
}
TOKENIZER_CONF_KEYS = ("unk_symbol", "split_with_space", "token_list")
#: files whose presence means the checkpoint expects code to run or be installed
CODE_FILES = ("requirements.txt",)


def check_checkpoint(model_dir: str | os.PathLike) -> dict:
    """Refuse a checkpoint folder that would make loading execute, install or fetch anything.

    FunASR's loader reads ``configuration.json`` (when present) and ``config.yaml`` and merges every key
    into its settings; ``trust_remote_code``/``remote_code`` import Python files from the folder, a
    ``requirements.txt`` is pip-installed, ``vad_model``/``spk_model``/``punc_model`` download other
    models, and paths such as ``init_param`` or ``file_path_metas`` can point outside the folder.
    Only what an emotion2vec+ checkpoint needs is accepted (:data:`CONFIG_KEYS`, ``model: Emotion2vec``,
    ``tokenizer: CharTokenizer``); no flag turns this off.

    Parameters
    ----------
    model_dir : path
        The checkpoint folder (``config.yaml``, ``model.pt`` or ``model.safetensors``, ``tokens.txt``).

    Returns
    -------
    dict
        The parsed ``config.yaml``.

    Raises
    ------
    ModelError
        Naming the file, the key or file that is refused, what FunASR would do with it, and the fix.
    """
    root = Path(model_dir)
    for name in CODE_FILES:
        if (root / name).exists() or (root / name).is_symlink():
            raise ModelError(
                f"holds {name}, which FunASR pip-installs when a checkpoint asks for remote code; "
                "the workbench never installs or runs code from a checkpoint.",
                source=str(root / name),
                fix=f"an emotion2vec+ checkpoint needs no code: delete {name} if you trust the rest of the folder, "
                "or use the checkpoint from its original publisher.",
            )
    config_name = "config.yaml"
    cj = root / "configuration.json"
    if cj.is_file():
        try:
            conf_json = json.loads(cj.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ModelError(f"cannot be read ({_short(exc)}).", source=str(cj), fix="download the complete checkpoint.") from None
        metas = conf_json.get("file_path_metas") if isinstance(conf_json, dict) else None
        for key, value in _flat_items(metas or {}):
            _check_inside(root, cj, f"file_path_metas.{key}", value)
        if isinstance(metas, dict) and isinstance(metas.get("config"), str):
            config_name = metas["config"]
    cfg_path = root / config_name
    if cfg_path.is_symlink() and not _inside(root, cfg_path):
        raise ModelError("is a link to a file outside the checkpoint folder.", source=str(cfg_path), fix="copy the real config.yaml into the folder.")
    try:
        cfg = load_yaml_file(cfg_path)  # no aliases, bounded depth and size: a checkpoint may come from anyone
    except ConfigError as exc:
        raise ModelError(f"cannot read {config_name} ({exc.message}).", source=str(root), fix="download the complete checkpoint.") from None
    if not isinstance(cfg, dict):
        raise ModelError(f"is a {type(cfg).__name__}, not a mapping of settings.", source=str(cfg_path), fix="download the complete checkpoint.")
    for key in cfg:
        if key in DANGEROUS_CONFIG_KEYS:
            raise ModelError(
                f"sets {key!r}, which {DANGEROUS_CONFIG_KEYS[key]}; the workbench never runs, installs or fetches "
                "anything a checkpoint asks for.",
                source=str(cfg_path),
                fix=f"delete the {key!r} line: an emotion2vec+ checkpoint needs only {', '.join(CONFIG_KEYS)}.",
            )
        if key not in CONFIG_KEYS:
            raise ModelError(
                f"sets {key!r}, which an emotion2vec+ checkpoint does not use (FunASR would pass it on to its loader).",
                source=str(cfg_path),
                fix=f"delete the {key!r} line; the keys an emotion2vec+ config.yaml may hold are {', '.join(CONFIG_KEYS)}.",
            )
    if cfg.get("model") != "Emotion2vec":
        raise ModelError(
            f"checkpoint builds a {cfg.get('model')}, not an Emotion2vec model.",
            source=str(cfg_path),
            fix="pass an emotion2vec+ checkpoint such as iic/emotion2vec_plus_large.",
        )
    if not isinstance(cfg.get("model_conf"), dict):
        raise ModelError("has no model_conf mapping.", source=str(cfg_path), fix="use the config.yaml that came with the checkpoint.")
    tok = cfg.get("tokenizer")
    if tok not in (None, "CharTokenizer"):
        raise ModelError(f"asks for the tokenizer {tok!r}; emotion2vec+ uses 'CharTokenizer'.", source=str(cfg_path),
                         fix="set `tokenizer: CharTokenizer` as in the published checkpoints.")
    tconf = cfg.get("tokenizer_conf") or {}
    if not isinstance(tconf, dict):
        raise ModelError("tokenizer_conf is not a mapping.", source=str(cfg_path), fix="use the config.yaml that came with the checkpoint.")
    for key, value in tconf.items():
        if key not in TOKENIZER_CONF_KEYS:
            raise ModelError(f"sets tokenizer_conf.{key}, which emotion2vec+ does not use.", source=str(cfg_path),
                             fix=f"delete it; tokenizer_conf may hold {', '.join(TOKENIZER_CONF_KEYS)}.")
        if key == "token_list":
            _check_inside(root, cfg_path, "tokenizer_conf.token_list", value)
    return cfg


def _flat_items(d: Any, prefix: str = ""):
    if isinstance(d, dict):
        for k, v in d.items():
            yield from _flat_items(v, f"{prefix}{k}.")
    elif isinstance(d, (list, tuple)):
        for i, v in enumerate(d):
            yield from _flat_items(v, f"{prefix}{i}.")
    else:
        yield prefix.rstrip("."), d


def _inside(root: Path, path: Path) -> bool:
    try:
        return Path(os.path.realpath(path)).is_relative_to(Path(os.path.realpath(root)))
    except (OSError, ValueError):
        return False


def _check_inside(root: Path, file: Path, key: str, value: Any) -> None:
    """A path a checkpoint file names must be a plain file name inside the checkpoint folder."""
    if value is None:
        return
    text = str(value)
    if text.startswith(("http://", "https://", "ftp://", "oss://", "s3://")) or not _inside(root, root / text):
        raise ModelError(
            f"{key} names {text!r}, outside the checkpoint folder; FunASR would read it from there.",
            source=str(file),
            fix="a checkpoint's files must all lie in its own folder: copy the file in and name it relative to the folder.",
        )
