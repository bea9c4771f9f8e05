"""Reusing ``fusion.json``: what a fusion result depends on (:func:`fusion_key`), and a checksum over its contents.

A report reuses a run's ``fusion.json`` instead of refitting when its key matches.  The key names the inputs, not the
figures: numbers edited under an intact key were reused and the report said "Reused…".  :func:`write_sealed_json`
records a sha256 of what was written (``content_sha256``), and :func:`cached_fusion` refuses a file whose contents do
not match it, with a warning (it is computed again).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from workbench.analysis.text_model import resolve_text_model
from workbench.errors import ConfigError
from workbench.files import sha256_file
from workbench.runs.experiment import ARTIFACT_PATHS, summary_paths
from workbench.runs.folder import RunFolder, as_run_folder, pick_variant
from workbench.serialize import TABLE_MAX_BYTES, loads_json, read_bytes_capped

logger = logging.getLogger(__name__)

#: bump when what fuse_run computes changes: a fusion.json of another version is not reused
FUSION_CACHE_VERSION = 10  # 10: intervals from under 90 % of their resamples flagged; 9: speaker intervals t-corrected, McNemar's too-few-speakers note; 8: McNemar clustered over speakers; 7: intervals resample speakers; 2: fusion.json carries the intervals' checks; 3: and the UAR chance check; 4: the WA majority check; 5: and training_overlap; 6: adapted blocks in it
#: bootstrap resamples of every fusion interval: `workbench fuse`'s default and the report's, so one figure has one interval
FUSION_BOOTSTRAP = 1000
#: the field of a sealed JSON file that holds the sha256 of the rest of it
SEAL = "content_sha256"


def content_sha256(stored: dict) -> str:
    """sha256 of a JSON object as stored (read back), its :data:`SEAL` left out: keys sorted, no spaces."""
    rest = {k: v for k, v in stored.items() if k != SEAL}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()).hexdigest()


def write_sealed_json(dest: RunFolder, name: str, payload: dict) -> Path:
    """Write ``payload`` through :meth:`RunFolder.write_json` with :data:`SEAL`: the sha256 of the contents as they were
    written (the folder adds its random-weights flag and makes paths portable: the checksum covers what is read back)."""
    path = dest.write_json(name, {k: v for k, v in payload.items() if k != SEAL})
    stored = loads_json(read_bytes_capped(path, max_bytes=TABLE_MAX_BYTES, what=name, decompress=False))
    return dest.write_json(name, {**payload, SEAL: content_sha256(stored)})


def seal_problem(stored: Any, name: str) -> str:
    """Why a sealed JSON file's contents cannot be trusted ("" when they match their checksum)."""
    if not isinstance(stored, dict):
        return f"{name} is not a JSON object"
    if not isinstance(stored.get(SEAL), str):
        return f"{name} records no checksum of its contents (written before checksums, or edited)"
    if stored[SEAL] != content_sha256(stored):
        return f"{name}'s contents do not match the checksum written with them (edited since)"
    return ""


def fusion_key(run_dir: str | Path | RunFolder, *, variant: str | None = None, text_model: str | None = None, folds: int = 5,
               seed: int = 0, n_boot: int = FUSION_BOOTSTRAP) -> dict:
    """What a fusion result depends on: the run's results and embeddings (sha256 of the files), the variant, the text
    model, the folds, the seed, the resamples and :data:`FUSION_CACHE_VERSION`.  ``fusion.json`` records it."""
    rf = as_run_folder(run_dir)
    files = {name: (sha256_file(rf.path / name) if (rf.path / name).is_file() else None) for name in ("results.parquet", "embeddings.npy")}
    return {"version": FUSION_CACHE_VERSION, "results_sha256": files["results.parquet"], "embeddings_sha256": files["embeddings.npy"],
            "variant": pick_variant(rf.results(), variant, source=str(rf.path)), "text_model": resolve_text_model(text_model)[0],
            "folds": int(folds), "seed": int(seed), "n_boot": int(n_boot)}


def cached_fusion(run_dir: str | Path | RunFolder, **params: Any) -> dict | None:
    """The run folder's ``fusion.json`` when :func:`~workbench.analysis.fusion.fuse_run` wrote it with the same
    :func:`fusion_key` (same run files, variant, text model, folds, seed and resamples) and its contents match their
    checksum, else None: a reader reuses it instead of refitting (a mismatch is said, and the result computed again)."""
    rf = as_run_folder(run_dir)
    path = rf.path / "fusion.json"
    if not path.is_file() or path.is_symlink():
        return None
    try:
        stored = loads_json(read_bytes_capped(path, max_bytes=TABLE_MAX_BYTES, what="fusion.json", decompress=False))
    except (OSError, ValueError, ConfigError):
        return None
    if not isinstance(stored, dict):
        return None
    # its text model's path absolute again, as written (a run and the model under one folder store it relative), before
    # the key is compared: compared as stored, a relative path never matched and the cache was never reused
    resolved = summary_paths(stored, rf.path, ARTIFACT_PATHS)
    if not isinstance(resolved, dict) or resolved.get("key") != fusion_key(rf, **params):
        return None
    if problem := seal_problem(stored, str(path)):  # the seal covers the file as stored
        logger.warning("%s: it is not reused, the fusion is computed again", problem)
        return None
    return {k: v for k, v in resolved.items() if k != SEAL}  # checked: a storage detail, not a figure
