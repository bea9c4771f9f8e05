"""The linear head: class-balanced cross-entropy on a run's utterance embeddings, early-stopped on held-out speakers or a dev set."""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np

from workbench.errors import ConfigError


def check_step_sizes(values: dict[str, float | None]) -> None:
    """Refuse a learning rate (``*lr``, ``lora_alpha``: positive) or weight decay (``weight_decay``: 0 or more) that is
    not a finite number: ``--lr inf`` wrote a head of NaN weights with exit 0, ``--weight-decay -1`` (or ``-nan``)
    ended in 'unexpected ValueError' from the optimiser after the run was scored."""
    for name, value in values.items():
        if value is None:
            continue
        try:
            v = float(value)
        except (TypeError, ValueError):
            v = float("nan")
        zero_ok = name == "weight_decay"
        if not (np.isfinite(v) and (v >= 0 if zero_ok else v > 0)):
            kind = "a finite number of 0 or more" if zero_ok else "a finite positive number"
            example = {"weight_decay": "1e-3 (0 for none)", "lora_alpha": "16", "head_lr": "1e-3"}.get(name, "0.01 (a head) or 5e-5 (encoder blocks)")
            raise ConfigError(f"{name} must be {kind}, given {value}.", source=name, fix=f"pass a {name} such as {example}.")


@dataclass(frozen=True)
class HeadTraining:
    """Hyper-parameters of the head (all recorded on the training card)."""

    epochs: int = 300
    lr: float = 0.01
    weight_decay: float = 1e-3
    batch_size: int = 128
    #: epochs without a better validation UAR (or, at equal UAR, a loss 1 % lower) before stopping
    patience: int = 30
    seed: int = 0
    #: share of the speakers held out for early stopping, and for the test figure
    validation_speakers: float = 0.2
    test_speakers: float = 0.2

    def __post_init__(self):
        for name in ("epochs", "batch_size", "patience"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be at least 1, given {getattr(self, name)}.", source=name, fix=f"pass a positive {name}.")
        for name in ("validation_speakers", "test_speakers"):
            v = float(getattr(self, name))
            if not 0.0 <= v < 0.5:
                raise ConfigError(f"{name} must be in [0, 0.5), given {v}.", source=name, fix="pass a share such as 0.2.")
        check_step_sizes({"lr": self.lr, "weight_decay": self.weight_decay})

    def to_dict(self) -> dict:
        return asdict(self)



@dataclass
class HeadFit:
    """A trained head in the raw embedding space: ``logits = embedding @ weight.T + bias``."""

    weight: np.ndarray  # (C, D)
    bias: np.ndarray  # (C,)
    classes: list[str]
    best_epoch: int
    epochs_run: int
    curves: dict[str, list[float]]
    seconds: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.classes, dtype=object)[np.argmax(np.asarray(x, np.float64) @ self.weight.T + self.bias, axis=1)]


def class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Balanced weights ``n / (C_present × count)`` (scikit-learn's ``class_weight="balanced"``); 0 for an absent class."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    present = counts > 0
    w = np.zeros(n_classes)
    w[present] = len(y) / (present.sum() * counts[present])
    return w


def class_indices(names: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """Each name's position in ``classes``; a name not among them is refused (a target the head cannot output)."""
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({str(c) for c in names if c not in index})
    if unknown:
        raise ConfigError(f"targets {unknown[:5]} are not among the head's classes {list(classes)}.", source="finetune",
                          fix="pass the classes the targets use.")
    return np.array([index[c] for c in names], dtype=np.int64)


class EarlyStopping:
    """The best epoch so far and the curves: a better validation UAR, or the same UAR with a validation loss lower by
    more than 1 %, is progress; ``patience`` epochs without progress stop the training.  Without validation items
    the last epoch is the best (the training runs its epochs)."""

    def __init__(self, patience: int):
        self.patience = patience
        self.uar, self.loss, self.epoch, self.state = -1.0, float("inf"), 0, None
        self.curves: dict[str, list[float]] = {"train_loss": [], "val_loss": [], "val_uar": []}

    def update(self, epoch: int, state: Callable[[], dict], train_loss: float, val_loss: float | None = None,
               val_uar: float | None = None) -> bool:
        """Record one epoch (``state()`` is called only for a new best); True when the training should stop."""
        self.curves["train_loss"].append(train_loss)
        if val_uar is None:
            self.uar, self.loss, self.epoch, self.state = float("nan"), float("nan"), epoch, state()
            return False
        self.curves["val_loss"].append(val_loss)
        self.curves["val_uar"].append(val_uar)
        if val_uar > self.uar + 1e-9 or (val_uar >= self.uar - 1e-9 and val_loss < self.loss * 0.99):
            self.uar, self.loss, self.epoch, self.state = val_uar, val_loss, epoch, state()
        return epoch - self.epoch >= self.patience

    def last(self) -> dict:
        """The last epoch's figures, as the progress hook takes them."""
        c = self.curves
        return {"train_loss": c["train_loss"][-1], "val_loss": c["val_loss"][-1] if c["val_loss"] else None,
                "val_uar": c["val_uar"][-1] if c["val_uar"] else None, "best_epoch": self.epoch}


def train_head(x_train: np.ndarray, y_train: Sequence[str], x_val: np.ndarray | None, y_val: Sequence[str] | None,
               classes: Sequence[str], config: HeadTraining = HeadTraining(), *, init: tuple[np.ndarray, np.ndarray] | None = None,
               progress: Callable[[int, dict], None] | None = None) -> HeadFit:
    """Train a linear head with class-balanced cross-entropy and early stopping on the validation speakers.

    Parameters
    ----------
    x_train : (N, D) float
        Utterance embeddings (the run's ``embeddings.npy`` rows).
    y_train : (N,) str
        Class names, each one of ``classes``.
    x_val, y_val : (M, D), (M,), optional
        Held-out speakers for early stopping; without them the head trains ``config.epochs`` epochs.
    classes : sequence of str
        The head's outputs, in order.
    init : (weight (C, D), bias (C,)), optional
        Start from these (raw embedding space), e.g. the parent's head for ``labels="nine"``.
    progress : callable, optional
        ``progress(epoch, {"train_loss", "val_loss", "val_uar", "best_epoch"})`` after each epoch.

    Returns
    -------
    HeadFit
        The best epoch's head (highest validation UAR; among equals, a validation loss lower by over 1 %),
        standardisation folded into the weights.
    """
    import torch
    import torch.nn.functional as F

    t0 = time.perf_counter()
    classes = list(classes)
    ytr = class_indices(list(y_train), classes)
    has_val = x_val is not None and y_val is not None and len(y_val) > 0
    yv = class_indices(list(y_val), classes) if has_val else None
    x_train = np.asarray(x_train, dtype=np.float64)
    mean, scale = x_train.mean(axis=0), x_train.std(axis=0)
    scale[scale < 1e-8] = 1.0
    with torch.random.fork_rng(devices=[]), one_thread(torch):
        torch.manual_seed(config.seed)
        head = _standardised_head(torch, x_train.shape[1], len(classes), init, mean, scale)
        opt = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        weights = torch.tensor(class_weights(ytr, len(classes)), dtype=torch.float32)
        xt, yt = torch.tensor((x_train - mean) / scale, dtype=torch.float32), torch.from_numpy(ytr)
        if has_val:
            xv = torch.tensor((np.asarray(x_val, np.float64) - mean) / scale, dtype=torch.float32)
            val_weights = torch.tensor(class_weights(yv, len(classes)), dtype=torch.float32)
        gen = torch.Generator().manual_seed(config.seed)
        stop = EarlyStopping(config.patience)
        epoch = 0
        for epoch in range(1, config.epochs + 1):
            perm, total = torch.randperm(len(yt), generator=gen), 0.0
            for s in range(0, len(yt), config.batch_size):
                i = perm[s:s + config.batch_size]
                loss = F.cross_entropy(head(xt[i]), yt[i], weight=weights)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(i)
            figures = {}
            if has_val:
                with torch.no_grad():
                    logits = head(xv)
                figures = {"val_loss": float(F.cross_entropy(logits, torch.from_numpy(yv), weight=val_weights)),
                           "val_uar": balanced_accuracy(yv, logits.argmax(1).numpy())}
            done = stop.update(epoch, lambda: {k: v.detach().clone() for k, v in head.state_dict().items()}, total / len(yt), **figures)
            if progress is not None:
                progress(epoch, stop.last())
            if done:
                break
    # standardised space → raw embeddings: logits = W'(x − μ)/σ + b' = (W'/σ) x + (b' − (W'/σ) μ)
    weight = stop.state["weight"].double().numpy() / scale
    bias = stop.state["bias"].double().numpy() - weight @ mean
    return HeadFit(weight, bias, classes, int(stop.epoch), int(epoch), stop.curves, time.perf_counter() - t0)


def _standardised_head(torch, dim: int, n_classes: int, init, mean: np.ndarray, scale: np.ndarray):
    """A linear head on standardised inputs: zeros, or ``init`` (raw-space W, b) as W' = W·σ, b' = b + W·μ."""
    head = torch.nn.Linear(dim, n_classes)
    with torch.no_grad():
        if init is not None:
            w0, b0 = (np.asarray(a, dtype=np.float64) for a in init)
            head.weight.copy_(torch.tensor(w0 * scale, dtype=torch.float32))
            head.bias.copy_(torch.tensor(b0 + w0 @ mean, dtype=torch.float32))
        else:
            head.weight.zero_()
            head.bias.zero_()
    return head


@contextmanager
def one_thread(torch):
    """Train on one thread: a (N, D) × (D, C) product per step is faster on one than on several waiting for each
    other (2 shared cores: 500 epochs of 300 × 16 took 120 s on the default threads), and the result does not
    depend on the machine's thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean recall over the classes present in ``y`` (integer codes): UAR, without the per-epoch cost of string labels."""
    recalls = [float(np.mean(pred[y == c] == c)) for c in np.unique(y)]
    return float(np.mean(recalls)) if recalls else float("nan")

