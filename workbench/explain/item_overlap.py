"""Training data, said of one explained item: whether this item's speaker trained the run's fine-tuned head.

A run-level warning ("speakers s0, s1 (2 of 4) trained head h4") drawn at the foot of one item's figure read as a claim
about that item, also on an item whose speaker the head held out.  Here the warnings are those of the item alone (its
corpus on the checkpoint's card, its speaker among the head's training speakers), and the record says which of was /
was not / unknown holds for its speaker."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pandas as pd

from workbench.data.cards import OverlapWarning, head_name, onnx_source, run_training_overlap
from workbench.errors import WorkbenchError
from workbench.model.checkpoints import read_training_card


def _head_card(model: dict) -> tuple[str | None, dict | None]:
    """The run's fine-tuned head folder and its training card (``None`` where the model is no head or unreadable)."""
    path = model.get("path")
    if path and model.get("kind") == "onnx":
        path = onnx_source(path)
    if not path:
        return None, None
    try:
        return str(path), read_training_card(path)
    except WorkbenchError:
        return str(path), None


def item_speaker_training(model: dict, speaker: str) -> dict | None:
    """Whether ``speaker`` trained the head of ``model`` (a run's model reference): ``{"head", "speaker",
    "in_training": True | False | None, "words"}``; ``None`` when the model is not a fine-tuned head with a card.
    ``in_training`` is None ("unknown") when the card lists no speakers or the item has none."""
    folder, card = _head_card(model)
    if card is None:
        return None
    head = head_name(folder)
    sides = card.get("speakers") or {}
    seen = {str(s) for side in ("train", "validation") for s in (sides.get(side) or ())}
    listed = seen | {str(s) for s in (sides.get("test") or ())}
    if not speaker or not listed:
        why = "the item has no speaker" if not speaker else "the head's training card lists no speakers"
        return {"head": head, "speaker": speaker, "in_training": None,
                "words": f"unknown whether this item's speaker trained head {head} ({why})"}
    if speaker in seen:
        return {"head": head, "speaker": speaker, "in_training": True,
                "words": f"this item's speaker {speaker} trained head {head} (train/validation side of its card)"}
    held = "held out (test side of its card)" if speaker in listed else "not on its card"
    return {"head": head, "speaker": speaker, "in_training": False,
            "words": f"this item's speaker {speaker} was not in head {head}'s training data: {held}"}


def item_training_overlap(rf: Any, row: dict) -> tuple[list, dict | None]:
    """The training-data warnings of one run item (``row``, the run's row) and :func:`item_speaker_training` of its
    speaker: the run's warnings computed on this item alone, so a held-out speaker's item carries no speaker mark."""
    one = pd.DataFrame([row])
    warnings = run_training_overlap(SimpleNamespace(model_ref=rf.model_ref, results=lambda: one))
    speaker = str(row.get("speaker") or "").strip()
    if speaker.lower() == "nan":
        speaker = ""
    info = item_speaker_training(rf.model_ref or {}, speaker)
    if info is not None and info["in_training"]:  # the run's wording ("speakers s0 (1 of 1) …") said of this item
        warnings = [OverlapWarning(f"speaker overlap: {info['words']}; its figures are not speaker-independent.", info["words"])
                    if str(w).startswith("speaker overlap:") else w for w in warnings]
    return warnings, info
