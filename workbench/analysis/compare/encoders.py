"""Runs of a comparison that share one encoder: a head-only fine-tune keeps its parent's, so whatever is measured on
its frozen embeddings (the probe) is its parent's by construction, and the page says so."""

from __future__ import annotations

from typing import Sequence


def shared_encoder_note(runs: Sequence[dict], name: str) -> str:
    """Why run ``name``'s probe repeats an earlier run's, or ``""``: the probe trains on frozen embeddings, and a head-only
    fine-tune keeps its parent's encoder, so its probe is the parent's by construction (it measures the encoder, not the
    head).  ``runs``: a comparison's runs (:func:`~workbench.analysis.compare.runs.describe_run`); runs of other weights
    with one ``encoder_checksum``.  Nothing is said where no encoder checksum is recorded."""
    me = next((r for r in runs if r.get("name") == name), None)
    if me is None or not me.get("encoder_checksum"):
        return ""
    for r in runs:
        if r is me:
            return ""
        if r.get("encoder_checksum") == me["encoder_checksum"] and r.get("weights_checksum") != me.get("weights_checksum"):
            return (f"run {name}'s encoder is run {r.get('name')}'s (encoder checksum {me['encoder_checksum']}: a head-only "
                    f"fine-tune keeps its parent's), and the probe trains on those frozen embeddings, so this probe repeats "
                    f"run {r.get('name')}'s (the same where both ran at one precision and device): it measures the encoder, "
                    f"not run {name}'s head")
    return ""
