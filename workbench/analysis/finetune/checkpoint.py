"""The checkpoint a fine-tuning writes: the parent's folder with a new head (and adapted blocks), tokens and the card."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from workbench import files
from workbench.errors import ModelError, printable
from workbench.labels import LABEL_KEYS, TOKENS
from workbench.model.checkpoints import TRAINING_CARD, check_checkpoint, load_weights, weights_file
from workbench.model.generated import card_paths_elsewhere, card_paths_portable, read_training_card
from workbench.model.weights import file_sha256
from workbench.model.network import UNK_TOKEN, checkpoint_labels, checkpoint_tokens
from workbench.runs.folder import RunFolder
from workbench.serialize import YAML_MAX_BYTES

CARD_FORMAT = "emotion-workbench-finetune/1"
#: the checkpoint files a finetune folder holds (nothing else is written into it)
CHECKPOINT_FILES = ("config.yaml", "model.safetensors", "tokens.txt", TRAINING_CARD)


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
    # the folder the run names may hold other weights than scored it (a received run's relative path, another seed or
    # checkpoint there): the head was written on them, trained on the run's embeddings, its card naming the run's sha256
    recorded, actual = model.get("checksum"), file_sha256(weights_file(path))
    if isinstance(recorded, str) and len(recorded) == 64 and actual != recorded:
        raise ModelError(f"the run's checkpoint folder {Path(path).name} holds weights with sha256 {actual[:12]}…, and the run was "
                         f"scored by {printable(recorded[:12])}…: a head on these weights would sit on a network whose embeddings it "
                         "never saw.", source=str(path), fix="put the checkpoint that scored the run there, or score the manifest "
                         "with this checkpoint (workbench run MANIFEST --model DIR) and fine-tune that run.")
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
    # filled beside `out` and renamed onto it whole: an interrupt never leaves weights without their card (a folder
    # `--model` loads as a checkpoint), and of two fine-tunes into one --out the second is refused, never mixed in
    with files.atomic_folder(out) as tmp:
        files.write_text(tmp / "config.yaml", (parent / "config.yaml").read_text(encoding="utf-8"))
        files.write_text(tmp / "tokens.txt", "\n".join(tokens) + "\n")
        files.write_bytes(tmp / "model.safetensors", _safetensors_bytes(state))
        card = {**card, "checkpoint": {"weights_sha256": files.sha256_file(tmp / "model.safetensors"), "tokens": tokens,
                                       "config_sha256": files.sha256_file(tmp / "config.yaml")}}
        text = files.strict_json(card) + "\n"  # NaN as null: the card is strict JSON
        if len(text.encode("utf-8")) > YAML_MAX_BYTES:  # loading reads a card up to this: the head was written, then refused
            raise ModelError(f"the training card of a head of {len(classes):,} classes holds {len(text.encode('utf-8')):,} bytes, over the "
                             f"{YAML_MAX_BYTES:,} a checkpoint's card may hold, so the head would not load.", source=str(out),
                             fix="train on a label column of classes (a few to a few dozen), not on ids or speakers.")
        files.write_text(tmp / TRAINING_CARD, text)
        check_checkpoint(tmp)
    return out


def _safetensors_bytes(state: dict) -> bytes:
    from safetensors.torch import save

    return save(state)



def parent_head(parent: Path, classes: Sequence[str]) -> tuple[np.ndarray, np.ndarray] | None:
    """The parent's ``proj`` rows of ``classes`` (for ``labels="nine"``: the new head starts from the old one)."""
    state, _ = load_weights(weights_file(parent))
    tokens = checkpoint_tokens(parent)
    if checkpoint_labels(parent) != list(LABEL_KEYS) or "proj.weight" not in state:
        return None
    keys = ["unknown" if t == "<unk>" else t.split("/")[-1].strip() for t in tokens]
    rows = [keys.index(c) for c in classes]
    return state["proj.weight"].double().numpy()[rows], state["proj.bias"].double().numpy()[rows]



#: how many folders above a head :func:`fix_card` looks in for a path its card names on another machine
FIX_CARD_LEVELS = 6


def _found_near(head: Path, old: str, accept) -> Path | None:
    """The path near ``head`` that stands for ``old`` (an absolute path of another machine): the longest tail of its
    parts that exists under the head's folder or one of its :data:`FIX_CARD_LEVELS` parents and passes ``accept``."""
    parts = Path(old).parts[1:]
    for k in range(len(parts), 0, -1):
        for base in [head, *head.parents][: FIX_CARD_LEVELS + 1]:
            cand = base.joinpath(*parts[-k:])
            if cand.exists() and accept(cand):
                return cand
    return None


def fix_card(head: str | os.PathLike) -> list[str]:
    """Save a head's training card again with the absolute paths it holds from another machine (a card written before
    they were written relative to the head: :func:`~workbench.model.generated.card_paths_elsewhere`) replaced by the
    ones found near the head (the parent checked by its weights' sha256, the run by its config.yaml), relative to it.
    Returns the lines to say: each path found, or not found (kept as it was)."""
    head = Path(head).expanduser().resolve()
    card = read_training_card(head) if head.is_dir() else None
    if card is None:
        raise ModelError("is no fine-tuned head: it has no training_card.json.", source=str(head),
                         fix="pass the folder `workbench finetune --out` wrote.")
    missing = card_paths_elsewhere(card)
    if not missing:
        return [f"{head / TRAINING_CARD}: every path it names exists here (or is relative to the head); nothing to fix."]
    want = (card.get("parent") or {}).get("checksum_sha256")
    accept = {"parent.path": lambda p: p.is_dir() and (w := weights_file(p)) is not None and (not want or file_sha256(w) == want),
              "data.run_dir": lambda p: p.is_dir() and (p / "config.yaml").is_file(), "data.manifest": lambda p: p.is_file()}
    lines, fixed = [], dict(card)
    for name, old in missing.items():
        section, key = name.split(".")
        found = _found_near(head, old, accept[name])
        if found is None:
            lines.append(f"  {name}: {old} — not found near the head; kept as it was (put it back, or fine-tune again)")
            continue
        fixed[section] = {**fixed[section], key: str(found)}
        lines.append(f"  {name}: {old} → {found}")
    if len(lines) == sum("not found" in ln for ln in lines):
        return [f"{head / TRAINING_CARD}: none of its paths from another machine was found near the head; the card is unchanged:"] + lines
    files.write_text(head / TRAINING_CARD, files.strict_json(card_paths_portable(fixed, head)) + "\n", root=head)
    return ([f"{head / TRAINING_CARD} saved again, its paths relative to the head (runs made with the head before now say "
             "training_card.json differs: the card is part of the head's identity):"] + lines)
