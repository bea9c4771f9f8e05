"""``--unfreeze K``: the head and the top K transformer blocks of emotion2vec, trained on the audio.

A head-only fine-tuning sees the run's cached utterance embeddings; adapting encoder blocks changes those
embeddings, so this path re-reads each item's audio exactly as the run scored it
(:meth:`~workbench.runs.folder.RunFolder.scored_audio`: its segment, its variant's chain, 16 kHz) and runs the
network forward as the workbench's inference does (FunASR's per-clip layer norm, padding masks, the masked
positional encoder, the mean of the frame features into ``proj``), with gradients.

* blocks (:func:`encoder_blocks`): the audio encoder's own transformer blocks (``prenet_depth``) and then the
  network's (``depth``), in the order they run; "the top K" are the last K (``plus_large``: 8 + 16 = 24);
* ``adapt="full"``: every weight of those blocks trains; ``adapt="lora"``: low-rank adapters (``peft``) on their
  attention and MLP linear layers, merged into the weights before saving, so the folder is a plain checkpoint
  that loads without ``peft`` and runs no code;
* the start is the head trained on the cached embeddings (linear probing, then fine-tuning: a random head would
  pull the blocks towards noise first); epoch 0 of the curves is that start, and early stopping keeps it when no
  epoch beats it on the validation speakers;
* dropout and layer drop stay off (``eval()`` mode): the training is deterministic for a seed on one device;
* before training, the network's forward is checked against the run's own embeddings (a training that adapts
  another function than the one the run scored would be a silent wrong result).

Measured (``benchmarks/finetune_unfreeze.py``, ``benchmarks/README.md``): time per epoch and held-out accuracy of
head-only, full and LoRA on the tiny checkpoint on a CPU; the script runs on CUDA as it is.
"""

from __future__ import annotations

import copy
import logging
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from workbench.analysis.finetune.head import (EarlyStopping, balanced_accuracy, check_step_sizes, class_indices, class_weights,
                                             one_thread)
from workbench.errors import ConfigError, ModelError, WorkbenchError
from workbench.serialize import load_yaml_file
from workbench.model.funasr_patches import masked_positional_encoder
from workbench.model.network import _conv_output_lengths, load_model
from workbench.runs.folder import RunFolder

logger = logging.getLogger(__name__)

ADAPT_MODES = ("full", "lora")
#: the linear layers of a block that LoRA adapts: attention's input and output projections, the MLP's two layers
LORA_TARGETS = ("attn.qkv", "attn.proj", "mlp.fc1", "mlp.fc2")
#: the network's forward must reproduce the run's embeddings within this share of their norm (float32 runs) …
EMBEDDING_TOLERANCE = 1e-3
#: … or this one for a run scored in a lower precision (bfloat16, int8: the cached embeddings carry its rounding)
EMBEDDING_TOLERANCE_LOW_PRECISION = 5e-2


@dataclass(frozen=True)
class EncoderTraining:
    """Hyper-parameters of ``--unfreeze K`` (all recorded on the training card)."""

    unfreeze: int = 1
    adapt: str = "full"
    epochs: int = 20
    #: learning rate of the adapted blocks; None: 5e-5 for full, 5e-4 for LoRA (adapters start at zero)
    lr: float | None = None
    head_lr: float = 1e-3
    weight_decay: float = 1e-2
    batch_size: int = 8
    patience: int = 5
    lora_rank: int = 8
    lora_alpha: float = 16.0

    def __post_init__(self):
        if self.adapt not in ADAPT_MODES:
            raise ConfigError(f"unknown adaptation {self.adapt!r}; expected one of {', '.join(ADAPT_MODES)}.", source="--adapt",
                              fix="pass --adapt full (every weight of the top K blocks) or --adapt lora (low-rank adapters).")
        for name in ("unfreeze", "epochs", "batch_size", "patience", "lora_rank"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be at least 1, given {getattr(self, name)}.", source=name, fix=f"pass a positive {name}.")
        check_step_sizes({"head_lr": self.head_lr, "lora_alpha": self.lora_alpha, "lr": self.lr, "weight_decay": self.weight_decay})

    @property
    def encoder_lr(self) -> float:
        return float(self.lr) if self.lr is not None else (5e-5 if self.adapt == "full" else 5e-4)

    def to_dict(self) -> dict:
        return asdict(self) | {"lr": self.encoder_lr}


# ---------------------------------------------------------------------------
# blocks
# ---------------------------------------------------------------------------
def encoder_blocks(network: Any) -> list[str]:
    """The names of the network's transformer blocks in the order they run (bottom first)."""
    names = [f"modality_encoders.AUDIO.context_encoder.blocks.{i}"
             for i in range(len(network.modality_encoders["AUDIO"].context_encoder.blocks))]
    return names + [f"blocks.{i}" for i in range(len(network.blocks))]


def configured_blocks(model_dir: str | Path) -> int | None:
    """Blocks a checkpoint folder's ``config.yaml`` declares (``prenet_depth + depth``); None when it does not say."""
    conf = (load_yaml_file(Path(model_dir) / "config.yaml") or {}).get("model_conf") or {}
    audio = (conf.get("modalities") or {}).get("audio") or {}
    if not isinstance(conf.get("depth"), int) or not isinstance(audio.get("prenet_depth"), int):
        return None
    return conf["depth"] + audio["prenet_depth"]


def check_unfreeze(k: int, n_blocks: int | None, source: str) -> None:
    """Refuse a K outside ``0..n_blocks`` (or below 0 while the network is not known yet), naming the range."""
    whole = isinstance(k, (int, np.integer)) and not isinstance(k, bool)
    if whole and k >= 0 and (n_blocks is None or k <= n_blocks):
        return
    if n_blocks is None:
        raise ConfigError(f"--unfreeze {k!r}: K counts transformer blocks, a whole number ≥ 0.", source=source,
                          fix="pass --unfreeze 0 (head only) or the number of top blocks to adapt.")
    raise ConfigError(f"--unfreeze {k!r}: the network has {n_blocks} transformer blocks; K must be in 0 ≤ K ≤ {n_blocks}.",
                      source=source, fix=f"pass --unfreeze between 0 (head only) and {n_blocks} (every block).")


def _mark_trainable(net: Any, top: Sequence[str], config: EncoderTraining) -> Any:
    """Freeze everything, then open the top blocks (full) or put LoRA adapters on them; the head always trains.

    Returns the ``peft`` model wrapping ``net`` for LoRA (its ``merge_and_unload`` gives the plain network back), else None.
    """
    for p in net.parameters():
        p.requires_grad_(False)
    wrapper = None
    if config.adapt == "full":
        for name in top:
            for p in net.get_submodule(name).parameters():
                p.requires_grad_(True)
    else:
        from peft import LoraConfig, get_peft_model

        targets = [f"{b}.{t}" for b in top for t in LORA_TARGETS]
        # a string is matched against each module's full name: exactly these layers (a list would also match any
        # module whose name *ends* with one, e.g. the audio encoder's blocks.0 for the top "blocks.0")
        pattern = "^(?:" + "|".join(re.escape(t) for t in targets) + ")$"
        wrapper = get_peft_model(net, LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=0.0, bias="none",
                                                 target_modules=pattern))
    for p in net.proj.parameters():
        p.requires_grad_(True)
    return wrapper


# ---------------------------------------------------------------------------
# the forward, with gradients
# ---------------------------------------------------------------------------
def forward(net: Any, waves: Sequence[np.ndarray], device: str = "cpu"):
    """``(logits (B, C), pooled (B, D))`` of 16 kHz mono clips: the inference path's forward, differentiable.

    Each clip is layer-normalised over its own samples (FunASR), zero-padded with a padding mask, its padded
    frames kept out of the positional encoder and out of the mean that ``proj`` sees.
    """
    import torch
    import torch.nn.functional as F

    lengths = torch.tensor([len(w) for w in waves])
    longest = int(lengths.max())
    source = torch.zeros(len(waves), longest)
    for i, w in enumerate(waves):
        t = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
        source[i, : len(w)] = F.layer_norm(t, t.shape) if net.cfg.normalize else t
    padding = torch.arange(longest)[None, :] >= lengths[:, None]
    frames = _conv_output_lengths(net, lengths)
    with masked_positional_encoder(net, frames.tolist()):
        x = net.extract_features(source.to(device), padding_mask=padding.to(device) if bool(padding.any()) else None)["x"].float()
    valid = (torch.arange(x.shape[1])[None, :] < frames[:, None]).float().to(x.device)
    pooled = (x * valid[..., None]).sum(1) / valid.sum(1, keepdim=True)
    return net.proj(pooled), pooled


def _batched(net: Any, waves: Sequence[np.ndarray], device: str, batch_size: int, what: int = 0) -> np.ndarray:
    """Logits (``what=0``) or pooled features (``what=1``) of many clips, without gradients, in input order."""
    import torch

    out = []
    with torch.no_grad():
        for s in range(0, len(waves), batch_size):
            out.append(forward(net, waves[s:s + batch_size], device)[what].float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def check_forward(net: Any, waves: Sequence[np.ndarray], embeddings: np.ndarray, *, device: str, low_precision: bool) -> dict:
    """The forward's pooled features against the run's cached embeddings of the same clips; refuses a mismatch."""
    got = _batched(net, waves, device, 8, what=1)
    scale = max(float(np.max(np.linalg.norm(embeddings, axis=1))), 1e-12)
    rel = float(np.max(np.abs(got - embeddings))) / scale
    tol = EMBEDDING_TOLERANCE_LOW_PRECISION if low_precision else EMBEDDING_TOLERANCE
    check = {"items": int(len(waves)), "max_abs_diff_over_norm": rel, "tolerance": tol, "passed": bool(rel <= tol)}
    if not check["passed"]:
        raise ModelError(f"the training forward gives embeddings {rel:.2e} of their norm away from the run's (tolerance {tol:g}): "
                         "the blocks would be trained on another function than the one the run scored.", source="--unfreeze",
                         fix="score the manifest again with --dtype float32 and this checkpoint, and fine-tune that run.")
    return check


# ---------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------
@dataclass
class EncoderFit:
    """A network whose top blocks and head were trained (LoRA already merged), on the CPU, in ``eval()`` mode."""

    network: Any
    classes: list[str]
    blocks: list[str]  # the adapted blocks' names
    n_blocks: int
    best_epoch: int
    epochs_run: int
    curves: dict[str, list[float]]
    seconds: float
    parameters: dict = field(default_factory=dict)  # trainable / total counts

    def logits(self, waves: Sequence[np.ndarray], *, batch_size: int = 8) -> np.ndarray:
        """(N, C) logits over :attr:`classes` of 16 kHz mono clips."""
        return _batched(self.network, waves, "cpu", batch_size)

    def predict(self, waves: Sequence[np.ndarray]) -> np.ndarray:
        return np.asarray(self.classes, dtype=object)[np.argmax(self.logits(waves), axis=1)] if len(waves) else np.array([], object)

    def trained_state(self) -> dict:
        """The tensors training changed: the adapted blocks' and the head's."""
        prefixes = tuple(f"{b}." for b in self.blocks) + ("proj.",)
        return {k: v.detach().cpu().clone().contiguous() for k, v in self.network.state_dict().items() if k.startswith(prefixes)}


def parent_network(parent: Path) -> Any:
    """A private float32 copy of the parent's network (the process's loaded model is shared and stays untouched)."""
    loaded = load_model(str(parent), device="cpu", dtype="float32")
    return copy.deepcopy(loaded.network).float().eval()


def train_encoder(network: Any, train: tuple[Sequence[np.ndarray], Sequence[str]], val: tuple[Sequence[np.ndarray], Sequence[str]],
                  classes: Sequence[str], head: tuple[np.ndarray, np.ndarray], config: EncoderTraining = EncoderTraining(), *,
                  seed: int = 0, device: str = "cpu", progress: Callable[[int, dict], None] | None = None) -> EncoderFit:
    """Train the head and the top ``config.unfreeze`` blocks of ``network`` (a private copy, changed in place).

    Parameters
    ----------
    network : emotion2vec network (``funasr`` ``Emotion2vec``)
        From :func:`parent_network`.
    train, val : (clips, class names)
        16 kHz mono clips (float32 arrays) and their classes; ``val`` (the held-out speakers) stops the training.
    classes : sequence of str
        The head's outputs.
    head : (weight (C, D), bias (C,))
        The start of the head: the one trained on the run's cached embeddings.
    progress : callable, optional
        ``progress(epoch, {"train_loss", "val_loss", "val_uar", "best_epoch"})`` after each epoch (epoch 0: the start).
    """
    import torch

    t0 = time.perf_counter()
    blocks = encoder_blocks(network)
    check_unfreeze(config.unfreeze, len(blocks), "--unfreeze")
    top = blocks[len(blocks) - config.unfreeze:]
    classes = list(classes)
    ytr, yv = class_indices(list(train[1]), classes), class_indices(list(val[1]), classes)
    with torch.random.fork_rng(devices=[]), (one_thread(torch) if device == "cpu" else _nothing()):
        torch.manual_seed(seed)
        network.proj = torch.nn.Linear(head[0].shape[1], len(classes))
        with torch.no_grad():
            network.proj.weight.copy_(torch.tensor(np.asarray(head[0]), dtype=torch.float32))
            network.proj.bias.copy_(torch.tensor(np.asarray(head[1]), dtype=torch.float32))
        wrapper = _mark_trainable(network, top, config)
        network.to(device).eval()
        named = list(network.named_parameters())
        # total: the network as saved (LoRA's adapters are merged away); trainable: what the optimiser moves
        counts = {"trainable": sum(p.numel() for _, p in named if p.requires_grad),
                  "total": sum(p.numel() for n, p in named if "lora_" not in n)}
        stop, epochs_run = _epochs(network, (list(train[0]), ytr), (list(val[0]), yv), len(classes), config, seed, device, progress)
        _load_trainable(network, stop.state)
        if wrapper is not None:
            network = wrapper.merge_and_unload()
        network.to("cpu").eval()
    return EncoderFit(network, classes, top, len(blocks), int(stop.epoch), epochs_run, stop.curves, time.perf_counter() - t0, counts)


def _epochs(net, train, val, n_classes: int, config: EncoderTraining, seed: int, device: str, progress) -> tuple[EarlyStopping, int]:
    """The training loop: epoch 0 is the start; then seeded shuffles, class-balanced loss, clipped gradients, early stopping."""
    import torch
    import torch.nn.functional as F

    groups = [{"params": [p for n, p in net.named_parameters() if p.requires_grad and not n.startswith("proj.")], "lr": config.encoder_lr},
              {"params": list(net.proj.parameters()), "lr": config.head_lr}]
    opt = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    weights = torch.tensor(class_weights(train[1], n_classes), dtype=torch.float32, device=device)
    val_weights = torch.tensor(class_weights(val[1], n_classes), dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    stop = EarlyStopping(config.patience)
    stop.curves["epoch_seconds"] = []
    epoch = 0
    for epoch in range(0, config.epochs + 1):
        t0, total = time.perf_counter(), float("nan")
        if epoch > 0:
            perm, total = torch.randperm(len(train[1]), generator=gen).tolist(), 0.0
            for s in range(0, len(perm), config.batch_size):
                i = perm[s:s + config.batch_size]
                logits, _ = forward(net, [train[0][j] for j in i], device)
                loss = F.cross_entropy(logits, torch.from_numpy(train[1][i]).to(device), weight=weights)
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 1.0)
                opt.step()
                total += loss.item() * len(i)
            total /= len(perm)
        figures = {}
        if len(val[1]):
            logits = torch.from_numpy(_batched(net, val[0], device, config.batch_size))
            figures = {"val_loss": float(F.cross_entropy(logits, torch.from_numpy(val[1]), weight=val_weights)),
                       "val_uar": balanced_accuracy(val[1], logits.argmax(1).numpy())}
        stop.curves["epoch_seconds"].append(round(time.perf_counter() - t0, 3))
        done = stop.update(epoch, lambda: {n: p.detach().cpu().clone() for n, p in net.named_parameters() if p.requires_grad},
                           total, **figures)
        if progress is not None:
            progress(epoch, stop.last())
        if done:
            break
    return stop, epoch


def _load_trainable(net: Any, state: dict) -> None:
    import torch

    params = dict(net.named_parameters())
    with torch.no_grad():
        for name, value in state.items():
            params[name].copy_(value.to(params[name].device))


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ---------------------------------------------------------------------------
# the audio of a run's rows
# ---------------------------------------------------------------------------
def scored_clips(run: RunFolder, rows: Any) -> tuple[list[np.ndarray | None], dict[str, str]]:
    """Each row's audio as the run scored it (16 kHz mono float32), None for an item that cannot be read again.

    A batch never dies on one bad item: the reason of each failure is returned by item id.
    """
    clips: list[np.ndarray | None] = []
    failed: dict[str, str] = {}
    for _, row in rows.iterrows():
        try:
            clips.append(np.asarray(run.scored_audio(row.to_dict()).samples, dtype=np.float32))
        except WorkbenchError as exc:
            clips.append(None)
            failed[str(row["id"])] = str(exc)
    return clips, failed
