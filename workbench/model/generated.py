"""Checkpoints the workbench generates: seeded random ones, their markers, and the registry of their checksums.

Model weights cannot be downloaded where this project is built and tested, so the workbench writes
checkpoints itself: the real ``config.yaml`` format, the real nine ``tokens.txt`` entries and a ``model.pt``
whose weights come from a seeded random initialisation.  They load through the same
``funasr.AutoModel(model=<dir>)`` path as a downloaded checkpoint.

* ``tiny``  – a few hundred KB; for tests and offline demos.
* ``large`` – the ``emotion2vec_plus_large`` sizes (1024-d, 8 + 16 blocks, about 300 M parameters); for
  speed benchmarks, since weights do not change speed.

**Predictions made with these checkpoints mean nothing.**  A ``RANDOM_MARKER`` file inside the directory,
and the registry of generated checksums (:func:`generated_checksum`), let the loader flag every output made
with one.  A fine-tuned checkpoint's training card (:func:`read_training_card`) can carry the same warning.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from workbench import files
from workbench.errors import ConfigError, ModelError, printable
from workbench.labels import TOKENS
from workbench.model.funasr_patches import import_funasr
from workbench.model.weights import MEMO_LOCK, file_sha256, read_memo, short_error
from workbench.paths import cache_dir, from_portable, installed_version, portable_path
from workbench.serialize import YAML_MAX_BYTES, loads_json, read_bytes_capped

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


#: the published emotion2vec+ ``config.yaml`` (``plus_large``'s sizes), shipped as data beside this module
CONFIG_TEMPLATE = Path(__file__).with_name("emotion2vec_config.json")


def emotion2vec_config(arch: ArchSpec) -> dict:
    """Return a FunASR ``config.yaml`` dict for an emotion2vec+ classifier.

    Keys and values follow the published emotion2vec checkpoints (:data:`CONFIG_TEMPLATE`); only the
    sizes in ``arch`` vary.  Dropout values are kept as published (they are inactive in ``eval()`` mode).
    """
    config = json.loads(CONFIG_TEMPLATE.read_text(encoding="utf-8"))
    conf = config["model_conf"]
    conf.update(depth=arch.depth, num_heads=arch.num_heads, embed_dim=arch.embed_dim, average_top_k_layers=arch.depth)
    audio = conf["modalities"]["audio"]
    audio.update(prenet_depth=arch.prenet_depth, num_alibi_heads=arch.num_heads, model_depth=arch.depth,
                 feature_encoder_spec=_FEATURE_STRIDES.format(c=arch.conv_dim), conv_pos_groups=arch.conv_pos_groups)
    audio["decoder"].update(decoder_dim=arch.decoder_dim, decoder_groups=arch.decoder_groups, decoder_layers=arch.decoder_layers)
    return config


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
    digest = hashlib.sha256(weights).hexdigest()

    def write(folder: Path, root: Path) -> None:
        files.write_text(folder / "config.yaml", yaml.safe_dump(config, sort_keys=False, allow_unicode=True), root=root)
        files.write_text(folder / "tokens.txt", "\n".join(TOKENS) + "\n", root=root)
        files.write_bytes(folder / "model.pt", weights, root=root)
        record_generated(digest, name=out.name, kind=kind, warning=warning)
        # the marker goes last so a half-written directory is never mistaken for a checkpoint
        files.write_json(folder / marker_name, {**marker, "weights_sha256": digest}, root=root)

    if out.absolute().is_relative_to(cache_dir().absolute()):
        # in the shared cache, every level below the cache root is checked for links (a linked checkpoints/ is refused)
        write(out, cache_dir())
        return
    held = {p.name for p in out.iterdir()} if out.is_dir() and not out.is_symlink() else set()
    if held and not held <= {"config.yaml", "tokens.txt", "model.pt", marker_name}:
        write(out, out)  # a folder of other files (the Python API allows it): written in place, as before
        return
    # filled beside `out` and renamed onto it: an interrupted `model make-tiny` left config.yaml and model.pt without
    # the marker, which the next `make-tiny` into the folder refused as 'not an empty folder'
    with files.atomic_folder(out, replace=bool(held)) as tmp:
        write(tmp, tmp)


def random_checkpoint_info(model_dir: str | os.PathLike) -> dict | None:
    """Return the marker of a workbench-made random checkpoint, or ``None``."""
    path = Path(model_dir) / RANDOM_MARKER
    if not os.path.lexists(path):  # a marker that is a FIFO, a device or a folder is refused below, never taken for none
        return None
    try:
        return loads_json(_small_file(path))
    except (ConfigError, ValueError) as exc:
        raise ModelError(f"cannot read {RANDOM_MARKER} ({exc.message.rstrip('.') if isinstance(exc, ConfigError) else short_error(exc)}).",
                         source=str(path), fix="build the checkpoint again (workbench model make-tiny DIR).") from None


def remake_command(marker: Any) -> str | None:
    """The command that writes a random checkpoint again from its marker (``workbench model make-tiny DIR --arch tiny
    --seed 0``), or None when the marker names no architecture and seed this package builds (it comes from anyone)."""
    arch = (marker.get("arch") or {}).get("name") if isinstance(marker, dict) and isinstance(marker.get("arch"), dict) else None
    seed = marker.get("seed") if isinstance(marker, dict) else None
    if arch in ARCHS and isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed < 2 ** 32:
        return f"workbench model make-tiny DIR --arch {arch} --seed {seed}"
    return None


def _small_file(path: Path) -> bytes:
    """A marker's or card's bytes, at most a megabyte and from a regular file (raises ConfigError): a checkpoint
    folder comes from anyone, and a 6 GB sparse training_card.json ended `workbench model info` in MemoryError."""
    return read_bytes_capped(path, max_bytes=YAML_MAX_BYTES, what="a checkpoint's marker or card", decompress=False)


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
    if not os.path.lexists(path):  # a card planted as a FIFO or a link to /dev/zero is refused, never read as no card: it
        return None  # would drop the random-weights banner its parent gives and the speakers the head trained on
    try:
        card = loads_json(_small_file(path))
    except ConfigError as exc:
        raise ModelError(f"cannot read {TRAINING_CARD} ({exc.message.rstrip('.')}).", source=str(path),
                         fix="restore the card `workbench finetune` wrote, or fine-tune again.") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {TRAINING_CARD} ({short_error(exc)}).", source=str(path),
                         fix="restore the card `workbench finetune` wrote, or fine-tune again.") from None
    if not isinstance(card, dict):
        raise ModelError(f"{TRAINING_CARD} is not a JSON object.", source=str(path), fix="restore the card `workbench finetune` wrote.")
    _say_paths_elsewhere(card, path.parent)
    return _card_paths_absolute(card, path.parent)


#: the heads whose card's absolute paths from another machine were said (once a process each)
_SAID_ELSEWHERE: set[str] = set()


def card_paths_elsewhere(card: dict) -> dict[str, str]:
    """The :data:`CARD_PATHS` a card holds as absolute paths (a card written before they were written relative to the
    head) that do not exist on this machine: ``{"parent.path": "/home/…/ckpt", …}``."""
    out = {}
    for section, key in CARD_PATHS:
        value = (card.get(section) or {}).get(key) if isinstance(card.get(section), dict) else None
        if isinstance(value, str) and value and os.path.isabs(value) and not os.path.exists(value):
            out[f"{section}.{key}"] = value
    return out


def _say_paths_elsewhere(card: dict, head: Path) -> None:
    """Say once per head (a warning on screen, for explain, run, export-onnx and report alike) that its card points at
    absolute paths from another machine, with the fix; its provenance never points nowhere silently."""
    missing = card_paths_elsewhere(card)
    key = str(head.resolve())
    if not missing or key in _SAID_ELSEWHERE:
        return
    _SAID_ELSEWHERE.add(key)
    logger.warning("%s holds absolute paths from another machine that do not exist here (%s): the head's parent, training "
                   "run and manifest cannot be found from it. Fix: `workbench finetune --fix-card %s` saves the card again with "
                   "the paths found near the head, relative to it (the card is part of the head's identity: runs made with it "
                   "before then say training_card.json differs).", printable(str(head / TRAINING_CARD)),
                   printable("; ".join(f"{k} {v}" for k, v in missing.items()))[:600], printable(str(head)))


#: the card's paths, written relative to the head's folder (or under ``~``); an older card's absolute ones read as they are.
#: The parent's ``id`` is one for a head of a head (its run's model id, the parent head's folder): a published head of a
#: head named its author's /home/alice/… there (a hub id or ``random-tiny`` is no path and stays as it is)
CARD_PATHS = (("parent", "path"), ("parent", "id"), ("data", "run_dir"), ("data", "manifest"))


def _card_paths_absolute(card: dict, folder: Path) -> dict:
    """``card`` with its :data:`CARD_PATHS` absolute on this machine (:func:`~workbench.paths.from_portable`)."""
    for section, key in CARD_PATHS:
        part = card.get(section)
        if isinstance(part, dict) and isinstance(part.get(key), str) and part[key]:
            card[section] = {**part, key: from_portable(part[key], folder)}
    return card


def card_paths_portable(card: dict, folder: str | os.PathLike) -> dict:
    """A copy of ``card`` (as :func:`read_training_card` read it) with its :data:`CARD_PATHS` as a card kept in
    ``folder`` writes them (:func:`~workbench.paths.portable_path`): an export's copy of the card leaks no home either."""
    card = dict(card)
    for section, key in CARD_PATHS:
        part = card.get(section)
        if isinstance(part, dict) and isinstance(part.get(key), str) and os.path.isabs(part[key]):
            card[section] = {**part, key: portable_path(part[key], folder)}
    return card


def checkpoint_warning(model_dir: str | os.PathLike) -> str | None:
    """The ``warning`` of a generated checkpoint's marker (random weights, synthetic cues), or of a fine-tuned
    checkpoint's training card (a head trained on a generated parent), or ``None``."""
    card = read_training_card(model_dir)
    if card is not None and card.get("warning"):
        return str(card["warning"])
    for name in GENERATED_MARKERS:
        path = Path(model_dir) / name
        if os.path.lexists(path):  # unreadable (a FIFO, a device): the warning below, never none
            try:
                return str(loads_json(_small_file(path)).get("warning") or "generated checkpoint")
            except (OSError, ValueError, ConfigError, AttributeError):
                return "generated checkpoint (its marker file is unreadable)"
    return None


def ensure_generated_checkpoint(name: str) -> Path:
    """The directory of the generated checkpoint ``name`` (a key of :data:`GENERATED_CHECKPOINTS`), built once."""
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
    torch, funasr = installed_version("torch"), installed_version("funasr")
    return (torch, funasr) if torch is not None and funasr is not None else ("", "")


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
    with MEMO_LOCK:
        path = generated_registry_path()
        registry = read_memo(path)
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
    entry = read_memo(generated_registry_path()).get(digest)
    return entry if isinstance(entry, dict) else None
