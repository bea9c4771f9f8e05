"""``workbench finetune``: a new classification head for a corpus's own labels, written as a checkpoint folder.

The probe (:mod:`workbench.analysis.probe`) says how well a linear classifier on the frozen utterance
embeddings separates a corpus's classes; this module turns that classifier into a model anyone can run.
emotion2vec+'s utterance logits are ``proj(mean of the frame features)``, and a run keeps that mean as
its utterance embedding, so a head trained on a run's embeddings *is* a new ``proj``: written into a
copy of the parent checkpoint (``config.yaml``, ``model.safetensors``, ``tokens.txt`` naming the new
labels), it loads through the same path as any checkpoint, runs no code, and gives frame scores, ONNX
exports and explanations like the published heads.

* labels: the corpus's own classes under readable names (EmoDB ``L`` is ``boredom``;
  :func:`workbench.data.corpora.class_name`), or with ``labels="nine"`` the nine-class mapping;
* training (:func:`train_head`): plain PyTorch (``torch.optim.AdamW``), class-balanced cross-entropy,
  inputs standardised (folded back into the weights), seeded, early stopping on held-out
  *speakers*; a progress bar shows the validation UAR;
* speakers: split into train / validation / test (:func:`split_speakers`); the test speakers are never
  seen in training or stopping and give the held-out figure on the card;
* the training card (``training_card.json``, :data:`~workbench.model.checkpoints.TRAINING_CARD`): parent
  checksum, manifest sha256, the speakers of each side, hyper-parameters, curves, seed.  Through it
  :mod:`workbench.data.cards` warns when the corpus or the training speakers are evaluated again;
* evaluation (:func:`evaluate_finetune`): the whole training procedure under speaker-independent
  cross-validation (or EmoBox folds), UAR/WA/macro-F1 with bootstrap intervals, beside the parent's
  predictions mapped onto the same classes and beside the probe on the same folds.

Measured: head-only training on a CPU takes seconds (``benchmarks/README.md``).
"""

from __future__ import annotations

import json
import logging
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from workbench import files
from workbench.analysis.fusion import embedded_rows
from workbench.analysis.metrics import macro_f1, uar, wa
from workbench.analysis.probe import METRICS, ProbeData, _interval, assign_folds, evaluate_probe, fold_bootstrap
from workbench.data.corpora import LABEL_MAPS, class_name
from workbench.errors import ConfigError, ModelError
from workbench.model.checkpoints import TRAINING_CARD, check_checkpoint, load_weights, weights_file
from workbench.labels import LABEL_KEYS, TOKENS
from workbench.model.network import UNK_TOKEN, checkpoint_labels
from workbench.runs.driver import run as score
from workbench.runs.folder import RunFolder, as_run_folder, select_rows

logger = logging.getLogger(__name__)

LABEL_SETS = ("corpus", "nine")
CARD_FORMAT = "emotion-workbench-finetune/1"
#: the checkpoint files a finetune folder holds (nothing else is written into it)
CHECKPOINT_FILES = ("config.yaml", "model.safetensors", "tokens.txt", TRAINING_CARD)


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
        if not self.lr > 0:
            raise ConfigError(f"lr must be positive, given {self.lr}.", source="lr", fix="pass a learning rate such as 0.01.")

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------
# data: targets and speakers
# ---------------------------------------------------------------------------
def _corpus_of(meta: Any) -> str:
    if isinstance(meta, str) and meta.strip():
        try:
            meta = json.loads(meta)
        except ValueError:
            return ""
    return str(meta.get("corpus", "")) if isinstance(meta, dict) else ""


def row_targets(rows, labels: str = "corpus") -> np.ndarray:
    """Each row's class: its corpus class by readable name (``labels="corpus"``) or its nine-class key (``"nine"``); "" when none."""
    if labels not in LABEL_SETS:
        raise ConfigError(f"unknown label set {labels!r}; expected one of {', '.join(LABEL_SETS)}.", source="--labels",
                          fix="pass --labels corpus (the corpus's own classes) or --labels nine.")
    if labels == "nine":
        return rows["emotion"].fillna("").astype(str).str.strip().to_numpy()
    metas = rows["meta"].tolist() if "meta" in rows.columns else [None] * len(rows)
    return np.array([class_name(_corpus_of(m), str(lab or "")) for m, lab in zip(metas, rows["label"].fillna("").tolist())], dtype=object)


def class_order(targets: Sequence[str], labels: str, corpora: Sequence[str] = ()) -> list[str]:
    """The head's classes: the nine in checkpoint order, or the corpus's classes in its table's order (then by name)."""
    present = {t for t in targets if t}
    if labels == "nine":
        return [k for k in LABEL_KEYS if k in present]
    order: list[str] = []
    for corpus in corpora:
        for lab in (LABEL_MAPS.get(corpus) or {}):
            name = class_name(corpus, lab)
            if name in present and name not in order:
                order.append(name)
    return order + sorted(present - set(order))


def split_speakers(speakers: Sequence[str], *, validation: float, test: float, seed: int) -> dict[str, list[str]]:
    """Speakers shuffled (seeded) into ``train`` / ``validation`` / ``test``; each asked-for side gets at least one."""
    unique = sorted({s for s in speakers if s})
    need = 1 + (validation > 0) + (test > 0)
    if len(unique) < need:
        raise ConfigError(f"a speaker-independent split into train{', validation' if validation else ''}{', test' if test else ''} "
                          f"needs {need} speakers; the items have {len(unique)}.", source="speaker",
                          fix="add speakers to the manifest (the corpus loaders do), or train on a corpus with more speakers.")
    order = [unique[i] for i in np.random.default_rng(seed).permutation(len(unique))]
    n_test = max(1, int(round(test * len(unique)))) if test > 0 else 0
    n_val = max(1, int(round(validation * len(unique)))) if validation > 0 else 0
    n_test = min(n_test, len(unique) - n_val - 1)
    return {"test": sorted(order[:n_test]), "validation": sorted(order[n_test:n_test + n_val]),
            "train": sorted(order[n_test + n_val:])}


# ---------------------------------------------------------------------------
# the head
# ---------------------------------------------------------------------------
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
        ``progress(epoch, {"train_loss", "val_loss", "val_uar"})`` after each epoch.

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
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({str(c) for c in list(y_train) + list(y_val if y_val is not None else []) if c not in index})
    if unknown:
        raise ConfigError(f"targets {unknown[:5]} are not among the head's classes {classes}.", source="finetune",
                          fix="pass the classes the targets use.")
    x_train = np.asarray(x_train, dtype=np.float64)
    mean = x_train.mean(axis=0)
    scale = x_train.std(axis=0)
    scale[scale < 1e-8] = 1.0
    ytr = np.array([index[c] for c in y_train], dtype=np.int64)
    weights = torch.tensor(class_weights(ytr, len(classes)), dtype=torch.float32)
    with torch.random.fork_rng(devices=[]), _one_thread(torch):
        torch.manual_seed(config.seed)
        head = torch.nn.Linear(x_train.shape[1], len(classes))
        with torch.no_grad():
            if init is not None:  # raw-space (W, b) → standardised space: W' = W·σ, b' = b + W·μ
                w0, b0 = (np.asarray(a, dtype=np.float64) for a in init)
                head.weight.copy_(torch.tensor(w0 * scale, dtype=torch.float32))
                head.bias.copy_(torch.tensor(b0 + w0 @ mean, dtype=torch.float32))
            else:
                head.weight.zero_()
                head.bias.zero_()
        opt = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        xt = torch.tensor((x_train - mean) / scale, dtype=torch.float32)
        yt = torch.from_numpy(ytr)
        has_val = x_val is not None and y_val is not None and len(y_val) > 0
        if has_val:
            xv = torch.tensor((np.asarray(x_val, np.float64) - mean) / scale, dtype=torch.float32)
            yv_names = np.asarray(list(y_val), dtype=object)
            yv = torch.tensor([index[c] for c in yv_names], dtype=torch.int64)
            val_weights = torch.tensor(class_weights(yv.numpy(), len(classes)), dtype=torch.float32)
        gen = torch.Generator().manual_seed(config.seed)
        curves: dict[str, list[float]] = {"train_loss": [], "val_loss": [], "val_uar": []}
        # best so far: (validation UAR, validation loss, epoch, state); a better UAR, or the same UAR with a loss
        # lower by more than 1 %, is progress; `patience` epochs without progress stop the training
        best = (-1.0, float("inf"), 0, {k: v.detach().clone() for k, v in head.state_dict().items()})
        epoch = 0
        for epoch in range(1, config.epochs + 1):
            perm = torch.randperm(len(yt), generator=gen)
            total = 0.0
            for s in range(0, len(yt), config.batch_size):
                i = perm[s:s + config.batch_size]
                loss = F.cross_entropy(head(xt[i]), yt[i], weight=weights)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.item() * len(i)
            curves["train_loss"].append(total / len(yt))
            if has_val:
                with torch.no_grad():
                    logits = head(xv)
                    val_loss = float(F.cross_entropy(logits, yv, weight=val_weights))
                    val_uar = _balanced_accuracy(yv.numpy(), logits.argmax(1).numpy())
                curves["val_loss"].append(val_loss)
                curves["val_uar"].append(val_uar)
                if val_uar > best[0] + 1e-9 or (val_uar >= best[0] - 1e-9 and val_loss < best[1] * 0.99):
                    best = (val_uar, val_loss, epoch, {k: v.detach().clone() for k, v in head.state_dict().items()})
            else:
                best = (float("nan"), float("nan"), epoch, {k: v.detach().clone() for k, v in head.state_dict().items()})
            if progress is not None:
                progress(epoch, {"train_loss": curves["train_loss"][-1], "val_loss": curves["val_loss"][-1] if has_val else None,
                                 "val_uar": curves["val_uar"][-1] if has_val else None})
            if has_val and epoch - best[2] >= config.patience:
                break
        w_std = best[3]["weight"].double().numpy()
        b_std = best[3]["bias"].double().numpy()
    # standardised space → raw embeddings: logits = W'(x − μ)/σ + b' = (W'/σ) x + (b' − (W'/σ) μ)
    weight = w_std / scale
    bias = b_std - weight @ mean
    return HeadFit(weight, bias, classes, int(best[2]), int(epoch), curves, time.perf_counter() - t0)


@contextmanager
def _one_thread(torch):
    """Train on one thread: a (N, D) × (D, C) product per step is faster on one than on several waiting for each
    other (2 shared cores: 500 epochs of 300 × 16 took 120 s on the default threads), and the result does not
    depend on the machine's thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean recall over the classes present in ``y`` (integer codes): UAR, without the per-epoch cost of string labels."""
    recalls = [float(np.mean(pred[y == c] == c)) for c in np.unique(y)]
    return float(np.mean(recalls)) if recalls else float("nan")


# ---------------------------------------------------------------------------
# the data of a run
# ---------------------------------------------------------------------------
@dataclass
class TuneData:
    rows: Any  # DataFrame of the usable rows, index 0..n-1
    x: np.ndarray  # (n, D)
    y: np.ndarray  # (n,) class names
    classes: list[str]
    labels: str
    variant: str
    corpora: list[str]
    excluded: dict = field(default_factory=dict)


def tune_data(run: RunFolder, *, labels: str = "corpus", variant: str | None = None) -> TuneData:
    """The finished, embedded rows of one variant of ``run`` that have a class under ``labels``; the rest counted by reason."""
    rows, x = embedded_rows(run, variant=variant)
    results = run.results()
    variant = variant or str(results["variant"].iloc[0])
    of_variant = results[results["variant"].astype(str) == variant]
    excluded: dict[str, list[str]] = {}
    failed = select_rows(of_variant, status="failed")["id"].astype(str).tolist()
    if failed:
        excluded["failed"] = failed
    y = row_targets(rows, labels)
    has = y != ""
    if (~has).any():
        excluded["no class" + (" (label with no emotion2vec+ counterpart)" if labels == "nine" else "")] = rows.loc[~has, "id"].astype(str).tolist()
    rows, x, y = rows[has].reset_index(drop=True), x[has], y[has].astype(str)
    corpora = list(dict.fromkeys(c for c in (_corpus_of(m) for m in (rows["meta"].tolist() if "meta" in rows.columns else [])) if c))
    classes = class_order(y.tolist(), labels, corpora)
    if len(classes) < 2:
        raise ConfigError(f"a head needs at least two classes; the rows have {classes}.", source=str(run.path),
                          fix="train on a dataset with more classes" + (", or --labels corpus for its own labels." if labels == "nine" else "."))
    return TuneData(rows, x.astype(np.float32), y, classes, labels, variant, corpora, excluded)


def _speakers(rows) -> np.ndarray:
    return rows["speaker"].fillna("").astype(str).to_numpy() if "speaker" in rows.columns else np.full(len(rows), "", dtype=object)


def _scores(t: np.ndarray, p: np.ndarray, classes: Sequence[str], *, n_boot: int, seed: int) -> dict:
    """WA, UAR, macro-F1 with seeded percentile-bootstrap intervals (and n)."""
    cl = [c for c in classes if c in set(t.tolist())]
    out: dict[str, Any] = {"n": int(len(t))}
    if not len(t):
        return out | {m: float("nan") for m in METRICS}
    draws = fold_bootstrap([t], [p], [cl], n=n_boot, seed=seed)
    for m, (name, value) in enumerate(zip(METRICS, (wa(t, p), uar(t, p, cl), macro_f1(t, p, cl)))):
        out[name] = float(value)
        out[f"{name}_ci"] = _interval(draws[:, 0, m])
    return out


# ---------------------------------------------------------------------------
# the checkpoint
# ---------------------------------------------------------------------------
def parent_folder(run: RunFolder) -> tuple[Path, dict]:
    """The checkpoint folder that scored ``run`` (its embeddings are that network's) and the run's model record."""
    model = run.model_ref
    path = model.get("path")
    if not path or not Path(path).is_dir() or weights_file(path) is None:
        raise ModelError("the run does not name a checkpoint folder this machine has, so its head cannot be replaced.",
                         source=str(run.path), fix="score the manifest with a local checkpoint (--model DIR, tiny, cue) and fine-tune that run.")
    if model.get("kind") == "onnx":
        raise ModelError("the run was scored by an ONNX export; a head is written into a PyTorch checkpoint.", source=str(run.path),
                         fix="score the manifest with the checkpoint folder the export came from.")
    return Path(path), model


def write_checkpoint(out: Path, parent: Path, classes: Sequence[str], weight: np.ndarray, bias: np.ndarray, card: dict,
                     *, state: dict | None = None) -> Path:
    """``out``: the parent's ``config.yaml``, its weights with ``proj`` replaced (``model.safetensors``), ``tokens.txt`` and the card.

    ``state`` (a full state dict, e.g. after ``--unfreeze``) replaces the parent's weights.  The
    folder passes :func:`~workbench.model.checkpoints.check_checkpoint` before anything is written.
    """
    import torch

    check_checkpoint(parent)
    if state is None:
        state, _ = load_weights(weights_file(parent))
    if "proj.weight" not in state:
        raise ModelError("the parent checkpoint has no classification head (proj) to replace.", source=str(parent),
                         fix="fine-tune an emotion2vec+ classifier checkpoint (plus_large, plus_base, tiny, cue).")
    state = {k: v.detach().to("cpu").clone().contiguous() for k, v in state.items()}
    dtype = state["proj.weight"].dtype
    weight, bias = np.asarray(weight, dtype=np.float64), np.asarray(bias, dtype=np.float64)
    if tuple(classes) == LABEL_KEYS:
        tokens = list(TOKENS)
    else:
        # FunASR's tokenizer needs <unk> in the list: one more output, never trained (zeros), masked by the loader
        tokens = list(classes) + [UNK_TOKEN]
        weight = np.vstack([weight, np.zeros((1, weight.shape[1]))])
        bias = np.append(bias, 0.0)
    state["proj.weight"] = torch.tensor(weight, dtype=dtype).contiguous()
    state["proj.bias"] = torch.tensor(bias, dtype=dtype).contiguous()
    files.ensure_folder(out)
    files.write_text(out / "config.yaml", (parent / "config.yaml").read_text(encoding="utf-8"))
    files.write_text(out / "tokens.txt", "\n".join(tokens) + "\n")
    files.write_bytes(out / "model.safetensors", _safetensors_bytes(state))
    card = {**card, "checkpoint": {"weights_sha256": files.sha256_file(out / "model.safetensors"), "tokens": tokens}}
    files.write_text(out / TRAINING_CARD, files.strict_json(card) + "\n")  # NaN as null: the card is strict JSON
    check_checkpoint(out)
    return out


def _safetensors_bytes(state: dict) -> bytes:
    from safetensors.torch import save

    return save(state)


@dataclass
class FinetuneResult:
    out: Path
    card: dict
    run_dir: Path

    def render(self) -> str:
        c = self.card
        test = c.get("test") or {}
        lines = [f"checkpoint {self.out}: {len(c['labels']['classes'])} classes ({', '.join(c['labels']['classes'])})",
                 f"  parent {c['parent']['id']} (sha256 {str(c['parent']['checksum_sha256'])[:12]}…), from run {self.run_dir}",
                 f"  speakers: train {len(c['speakers']['train'])}, validation {len(c['speakers']['validation'])}, "
                 f"test {len(c['speakers']['test'])}; best epoch {c['training']['best_epoch']} of {c['training']['epochs_run']} "
                 f"in {c['training']['seconds']:.2f} s"]
        if test.get("n"):
            lines.append("  held-out test speakers: " + _figures(test))
        else:
            lines.append("  no test speakers held out: no held-out figure (pass a test share above 0)")
        ev = c.get("evaluation")
        if ev:
            lines.append(f"  cross-validation ({ev['scheme']}, {ev['n_folds']} folds, pooled test items):")
            for name in ("finetuned", "probe", "parent_mapped"):
                if ev.get(name):
                    lines.append(f"    {name:<14} " + _figures(ev[name]) + (f"  [{ev[name]['note']}]" if ev[name].get("note") else ""))
        if c.get("warning"):
            lines.append(f"WARNING: {c['warning']}")
        return "\n".join(lines)


def _figures(d: dict) -> str:
    parts = []
    for m in METRICS:
        if m in d and d[m] == d[m]:
            lo, hi = d.get(f"{m}_ci", (float("nan"), float("nan")))
            parts.append(f"{m.upper() if m != 'macro_f1' else 'F1'} {d[m]:.3f} [{lo:.3f}, {hi:.3f}]")
    return ", ".join(parts) + f" (n={d.get('n', 0)})"


def _progress_bar(enabled: bool, total: int, desc: str):
    if not enabled:
        return None, None
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="epoch", dynamic_ncols=True, leave=False)

    def hook(epoch: int, figures: dict) -> None:
        bar.update(1)
        if figures.get("val_uar") is not None:
            bar.set_postfix(val_uar=f"{figures['val_uar']:.3f}", val_loss=f"{figures['val_loss']:.3f}")

    return bar, hook


def _parent_head(parent: Path, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """The parent's ``proj`` rows of ``classes`` (for ``labels="nine"``: the new head starts from the old one)."""
    state, _ = load_weights(weights_file(parent))
    tokens = [t.strip() for t in (parent / "tokens.txt").read_text(encoding="utf-8").splitlines() if t.strip()]
    if checkpoint_labels(parent) != list(LABEL_KEYS) or "proj.weight" not in state:
        return None
    keys = ["unknown" if t == "<unk>" else t.split("/")[-1].strip() for t in tokens]
    rows = [keys.index(c) for c in classes]
    return state["proj.weight"].double().numpy()[rows], state["proj.bias"].double().numpy()[rows]


def finetune(source: str | os.PathLike | RunFolder, out: str | os.PathLike, *, model: Any = None, labels: str = "corpus",
             config: HeadTraining = HeadTraining(), variant: str | None = None, run_dir: str | os.PathLike | None = None,
             unfreeze: int = 0, evaluate: bool = True, folds: str = "speaker", k: int = 5, n_boot: int = 1000,
             progress: bool = False, load_progress: Callable[[str], None] | None = None) -> FinetuneResult:
    """Train a head for ``labels`` on a run's embeddings (a MANIFEST is scored first) and write the checkpoint ``out``.

    Parameters
    ----------
    source : run folder or manifest path
        A run folder (``results.parquet``, ``embeddings.npy``) or a manifest, scored first with ``model`` into ``run_dir``
        (default ``<out>-run``) through :func:`workbench.runs.driver.run`.
    out : path
        The new checkpoint folder; it must not exist yet (or be empty).
    labels : {"corpus", "nine"}
    config : HeadTraining
    unfreeze : int
        Encoder blocks to adapt as well (0: head only).  Not available yet: refused with the reason.
    evaluate : bool
        Also cross-validate the training procedure (:func:`evaluate_finetune`) under ``folds``/``k``.
    """
    if unfreeze:
        raise ConfigError(f"--unfreeze {unfreeze}: adapting encoder blocks is not implemented yet; only the head is trained "
                          "(from the run's cached embeddings).", source="--unfreeze", fix="leave --unfreeze out (head only).")
    if labels not in LABEL_SETS:
        raise ConfigError(f"unknown label set {labels!r}; expected one of {', '.join(LABEL_SETS)}.", source="--labels",
                          fix="pass --labels corpus or --labels nine.")
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError("exists and is not an empty folder; a checkpoint is never written over another.", source=str(out),
                          fix="choose a new --out folder.")
    src = source if isinstance(source, RunFolder) else Path(source)
    if isinstance(src, Path) and src.is_file():
        run_path = Path(run_dir) if run_dir is not None else out.with_name(out.name + "-run")
        score(src, out_dir=run_path, model=model, progress=progress, load_progress=load_progress)
        run = RunFolder(run_path)
    else:
        if model is not None:
            raise ConfigError("--model applies to a manifest; a run folder was scored by its own model.", source="--model",
                              fix="leave --model out, or pass the manifest to score it with another model.")
        run = as_run_folder(src)
    parent, parent_ref = parent_folder(run)
    data = tune_data(run, labels=labels, variant=variant)
    speakers = _speakers(data.rows)
    sides = split_speakers(speakers, validation=config.validation_speakers, test=config.test_speakers, seed=config.seed)
    side_of = {s: side for side, names in sides.items() for s in names}
    no_speaker = data.rows.loc[speakers == "", "id"].astype(str).tolist()
    excluded = dict(data.excluded)
    if no_speaker:
        excluded["no speaker"] = no_speaker
    mask = {side: np.array([side_of.get(s) == side for s in speakers]) for side in ("train", "validation", "test")}
    if len(set(data.y[mask["train"]].tolist())) < 2:
        raise ConfigError("the training speakers have fewer than two classes.", source=str(run.path),
                          fix="lower --test-speakers / --validation-speakers, or pass another --seed.")
    init = _parent_head(parent, data.classes) if labels == "nine" else None
    bar, hook = _progress_bar(progress, config.epochs, "finetune")
    try:
        fit = train_head(data.x[mask["train"]], data.y[mask["train"]], data.x[mask["validation"]], data.y[mask["validation"]],
                         data.classes, config, init=init, progress=hook)
    finally:
        if bar is not None:
            bar.close()
    test = _scores(data.y[mask["test"]], fit.predict(data.x[mask["test"]]), data.classes, n_boot=n_boot, seed=config.seed)
    cfg = run.config
    card: dict[str, Any] = {
        "format": CARD_FORMAT,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "parent": {"id": parent_ref.get("id"), "path": str(parent), "checksum_sha256": parent_ref.get("checksum"),
                   "labels": list(parent_ref.get("labels") or [])},
        "data": {"run_dir": str(run.path.resolve()), "manifest": cfg.get("manifest"), "manifest_sha256": cfg.get("manifest_sha256"),
                 "corpora": data.corpora, "variant": data.variant, "n_items": int(len(data.y)),
                 "excluded": {k_: len(v) for k_, v in excluded.items()}},
        "labels": {"scheme": labels, "classes": data.classes,
                   "counts": {side: {c: int(np.sum(data.y[m] == c)) for c in data.classes} for side, m in mask.items()},
                   "label_map": _label_map(data)},
        "speakers": sides,
        "training": {"mode": "head", "unfreeze": 0, **config.to_dict(), "optimizer": "torch.optim.AdamW",
                     "loss": "class-balanced cross-entropy", "early_stopping": "validation UAR, then loss (held-out speakers)",
                     "init": "parent head" if init is not None else "zeros", "best_epoch": fit.best_epoch, "epochs_run": fit.epochs_run,
                     "seconds": round(fit.seconds, 3)},
        "curves": fit.curves,
        "test": test,
    }
    warning = parent_ref.get("warning")
    if warning:
        card["warning"] = f"fine-tuned from a generated checkpoint: {warning}"
    # a head on random features means nothing either: the flag travels, so every output of the head carries the banner
    card["parent"]["random_weights"] = bool(parent_ref.get("random_weights"))
    if evaluate:
        card["evaluation"] = evaluate_finetune(data, scheme=folds, k=k, config=config, n_boot=n_boot, parent_labels=card["parent"]["labels"])
    write_checkpoint(out, parent, data.classes, fit.weight, fit.bias, card)
    card = json.loads((out / TRAINING_CARD).read_text(encoding="utf-8"))
    logger.info("fine-tuned head (%d classes) written to %s", len(data.classes), out)
    return FinetuneResult(out, card, run.path)


def _label_map(data: TuneData) -> dict[str, str]:
    """Corpus label → the head's class, as the training data used it."""
    pairs = dict(zip(data.rows["label"].fillna("").astype(str), data.y))
    return {k: v for k, v in sorted(pairs.items()) if k}


# ---------------------------------------------------------------------------
# honest evaluation
# ---------------------------------------------------------------------------
def mapped_parent_predictions(rows, classes: Sequence[str], labels: str, parent_labels: Sequence[str]) -> tuple[np.ndarray, str]:
    """The parent's predictions (``pred``) on the head's classes, and a note of how they were mapped.

    Same label set: as they are.  Corpus classes from the nine: each nine-class key goes to the corpus
    class whose label maps to it (EmoDB ``angry`` → ``anger``); a key with no corpus class, and a corpus
    class the nine lack (``boredom``), can never be right — which is the point of the comparison.
    """
    pred = rows["pred"].fillna("").astype(str).to_numpy()
    if labels == "nine" or list(parent_labels) == list(classes):
        return pred, "the parent's own predictions"
    back: dict[str, str] = {}
    for corpus in dict.fromkeys(_corpus_of(m) for m in (rows["meta"].tolist() if "meta" in rows.columns else [])):
        for lab, key in (LABEL_MAPS.get(corpus) or {}).items():
            name = class_name(corpus, lab)
            if key and name in classes:
                back.setdefault(key, name)
    if not back:  # no corpus table: a class named like a nine-class key is that key
        back = {c: c for c in classes if c in LABEL_KEYS}
    lacking = [c for c in classes if c not in back.values()]
    note = "nine-class predictions mapped onto the corpus's classes" + (f"; the parent has no {', '.join(lacking)}" if lacking else "")
    return np.array([back.get(p, "") for p in pred], dtype=object), note


def evaluate_finetune(data: TuneData, *, scheme: str = "speaker", k: int = 5, config: HeadTraining = HeadTraining(),
                      n_boot: int = 1000, parent_labels: Sequence[str] = LABEL_KEYS) -> dict:
    """The training procedure under ``scheme`` folds (speaker-independent k-fold, or EmoBox's), pooled over the test sides.

    In each fold the head is trained on the training side, early-stopped on a share of *its* speakers,
    and tested on the held-out side; the probe (:func:`~workbench.analysis.probe.evaluate_probe`) runs on
    the same folds, and the parent's predictions, mapped onto the same classes, are scored on the same
    items.  Figures: WA, UAR, macro-F1 with bootstrap intervals over the pooled test items.
    """
    folds, excluded = assign_folds(data.rows, scheme, k=k)
    speakers = _speakers(data.rows)
    truth, preds, test_rows = [], [], []
    for fold in folds:
        tr = fold.train
        if len(fold.test) == 0 or len(set(data.y[tr].tolist())) < 2:
            continue
        inner = split_speakers(speakers[tr], validation=config.validation_speakers, test=0.0, seed=config.seed) \
            if len(set(speakers[tr].tolist()) - {""}) >= 2 and config.validation_speakers > 0 else {"train": sorted(set(speakers[tr].tolist())), "validation": []}
        val_set = set(inner["validation"])
        in_val = np.array([s in val_set for s in speakers[tr]])
        fit = train_head(data.x[tr[~in_val]], data.y[tr[~in_val]], data.x[tr[in_val]], data.y[tr[in_val]], data.classes, config)
        truth.append(data.y[fold.test])
        preds.append(fit.predict(data.x[fold.test]))
        test_rows.append(fold.test)
    if not truth:
        raise ConfigError("no fold could be evaluated (no test items, or a training side with one class).", source=scheme,
                          fix="use more speakers or another --folds scheme.")
    t, p = np.concatenate(truth), np.concatenate(preds)
    idx = np.concatenate(test_rows)
    probe = evaluate_probe(ProbeData(data.rows, data.x, data.y, data.classes, "class", data.variant, {}), scheme, k=k, n_boot=n_boot,
                           seed=config.seed)
    probe_pooled = probe.predictions
    parent_pred, note = mapped_parent_predictions(data.rows.iloc[idx], data.classes, data.labels, parent_labels)
    out = {"scheme": scheme, "k": k, "n_folds": len(truth), "classes": data.classes,
           "finetuned": _scores(t, p, data.classes, n_boot=n_boot, seed=config.seed),
           "probe": _scores(probe_pooled["target"].astype(str).to_numpy(), probe_pooled["pred"].astype(str).to_numpy(), data.classes,
                            n_boot=n_boot, seed=config.seed) | {"note": "logistic regression on the same folds"},
           "parent_mapped": _scores(t, parent_pred, data.classes, n_boot=n_boot, seed=config.seed) | {"note": note},
           "excluded": {k_: len(v) for k_, v in excluded.items()}}
    per_class = {}
    for c in data.classes:
        m = t == c
        per_class[c] = {"n": int(m.sum()), "recall_finetuned": float(np.mean(p[m] == c)) if m.any() else float("nan"),
                        "recall_parent_mapped": float(np.mean(parent_pred[m] == c)) if m.any() else float("nan")}
    out["per_class"] = per_class
    return out
