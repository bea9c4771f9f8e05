"""A run's predictions out as a lhotse ``SupervisionSet``, so k2/icefall-style pipelines read them.

The way in (lhotse manifests → a workbench manifest) is :mod:`workbench.data.lhotse_io`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench import files
from workbench.data.lhotse_io import _lhotse
from workbench.errors import ConfigError
from workbench.runs.folder import RunFolder, as_run_folder, pick_variant
from workbench.schema import score_column, score_labels
from workbench.serialize import loads_json

__all__ = ["export_lhotse", "LhotseExport"]


@dataclass
class LhotseExport:
    path: Path
    written: int
    failed: int  # rows that failed in the run: no prediction, no supervision
    variant: str


def export_lhotse(run_dir: "str | os.PathLike | RunFolder", out: str | os.PathLike | None = None, *, variant: str | None = None) -> LhotseExport:
    """Write one variant's predictions of a finished run as a lhotse ``SupervisionSet``.

    ``out`` defaults to ``RUN_DIR/supervisions.jsonl.gz``; the variant to ``raw`` when
    the run has it, else its first.  Failed rows have no prediction and are left out
    (counted in the result).  Items that came from lhotse keep their recording id
    and channel; others use the item id as the recording id.
    """
    lhotse = _lhotse()
    rf = as_run_folder(run_dir)
    variant = pick_variant(rf.results(), variant, default="raw", source=str(rf.path))
    rows = rf.results(variant=variant, status="ok")
    failed = len(rf.results(variant=variant, status="failed"))
    model = rf.model_ref
    model_id = str(model.get("id") or model.get("model") or "")
    labels = rf.labels(rows) or score_labels(rows)  # the run's classes: the nine, or a fine-tuned head's own
    segments = []
    for row in rows.to_dict("records"):
        meta = _meta(row.get("meta"))
        lh = meta.get("lhotse") or {}
        start = _num(row.get("start")) or 0.0
        duration = _num(row.get("duration")) or _num(lh.get("recording_duration")) or _num(row.get("audio_seconds"))
        scores = {k: float(row[score_column(k)]) for k in labels}
        custom: dict[str, Any] = {
            "predicted_emotion": str(row["pred"]), "emotion_confidence": float(row["confidence"]),
            "emotion_margin": float(row["margin"]), "emotion_scores": scores,
            "emotion_model": model_id, "emotion_variant": variant, "random_weights": rf.random_weights,
        }
        if row.get("label"):
            custom["emotion"] = str(row["label"])
        if row.get("emotion"):
            custom["reference_emotion"] = str(row["emotion"])
        segments.append(lhotse.SupervisionSegment(
            id=str(row["id"]), recording_id=str(lh.get("recording_id") or row["id"]), start=float(start), duration=float(duration),
            channel=lh.get("channel", 0), text=row.get("text") or None, language=meta.get("language") or None,
            speaker=row.get("speaker") or None, gender=row.get("gender") or None, custom=custom,
        ))
    target = Path(out) if out is not None else rf.path / "supervisions.jsonl.gz"
    if not target.name.endswith((".jsonl.gz", ".jsonl", ".json")):
        raise ConfigError(f"{target.name!r} is not a lhotse manifest name.", source=str(target), fix="end it with .jsonl.gz (or .jsonl).")
    suffix = "".join(s for s in (".jsonl", ".gz", ".json") if s in target.suffixes)
    with tempfile.TemporaryDirectory(prefix="workbench-lhotse-") as private:  # lhotse writes by name: in a private folder
        tmp = Path(private) / f"supervisions{suffix}"
        lhotse.SupervisionSet.from_segments(segments).to_file(tmp)
        files.copy_file(tmp, target)  # atomic, never through a link
    return LhotseExport(target, len(segments), failed, variant)


def _meta(value) -> dict:
    if isinstance(value, dict):
        return value
    try:
        return loads_json(value) if value else {}
    except (TypeError, ValueError):
        return {}


def _num(v) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if f != f else f
