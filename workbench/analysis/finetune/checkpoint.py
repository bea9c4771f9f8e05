"""The checkpoint a fine-tuning writes: the parent's folder with a new head (and adapted blocks), tokens and the card."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from workbench import files
from workbench.errors import ModelError, printable
from workbench.labels import LABEL_KEYS, TOKENS
from workbench.model.checkpoints import TRAINING_CARD, check_checkpoint, file_sha256, load_weights, weights_file
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

