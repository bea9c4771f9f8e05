"""The prediction cache: content-addressed predictions on disk, safe to share between runs, workers and users.

``<root>/<key[:2]>/<key>.npz``, keyed by the source's sha256, the segment, the audio settings, the
variant's chain, the model's checksum and its precision (:meth:`PredictionCache.key`).  An entry that is
damaged, edited to hold non-finite scores or reached through a link is recomputed, never served.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from workbench import files
from workbench.files import json_default
from workbench.labels import LABEL_KEYS
from workbench.model.network import Prediction
from workbench.model.temperature import softmax
from workbench.paths import cache_dir
from workbench.serialize import loads_json

logger = logging.getLogger(__name__)

_KEY_RE = re.compile(r"^[0-9a-f]{64}$")


class PredictionCache:
    """Content-addressed store of predictions: ``<root>/<key[:2]>/<key>.npz``."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.unwritable = ""  # why entries are not written (said once: a read-only cache warned once per entry, a run's worth)
        #: a cache folder that is itself a link is neither read nor written (entries planted behind it would be served)
        self.linked = files.is_link(self.root)
        if self.linked:
            logger.warning("the prediction cache %s is a symbolic link (to %s): it is not used, so nothing is read or written "
                           "through it. Fix: pass the folder it points to (--cache-dir %s), or remove the link.",
                           self.root, os.path.realpath(self.root), os.path.realpath(self.root))

    @staticmethod
    def key(*, source_sha256: str, start: float | None, duration: float | None, audio_config: dict, chain_hash: str,
            model_checksum: str, dtype: str) -> str:
        blob = json.dumps([source_sha256, start, duration, audio_config, chain_hash, model_checksum, dtype], sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def get(self, key: str) -> dict | None:
        p = self._path(key)
        if self.linked or files.is_link(p) or files.is_link(p.parent) or not p.is_file():
            return None  # a link in a shared cache was planted: never read through it
        try:
            entry = _read_entry(p, self.root)
        except Exception:  # a damaged entry is recomputed
            return None
        if entry is None:  # over the size an entry can have: planted, recomputed
            return None
        return entry if _well_formed(entry) else None  # an edited or foreign entry is recomputed, never served

    def put(self, key: str, pred: Prediction, audio_info: dict | None = None) -> None:
        """Store a prediction; ``audio_info`` (the processed audio's facts and chain) lets a later run
        build the whole row without decoding.

        The cache may be shared (Ray workers, several users): the shard folder is opened below the
        cache root without following links and the entry is written with :func:`workbench.files.write_atomic`,
        so a planted temporary or a shard folder that is a link is never written through (refused with a warning).
        """
        if not _KEY_RE.match(key):
            raise ValueError(f"not a cache key: {key!r}")
        if self.linked or self.unwritable:
            return
        p = self._path(key)
        arrays = {"logits": pred.logits, "n_frames": np.array(pred.n_frames), "duration": np.array(pred.duration)}
        for name in ("embedding", "frame_logits", "frame_embeddings"):
            if getattr(pred, name) is not None:
                arrays[name] = getattr(pred, name)
        if audio_info is not None:
            arrays["audio_info"] = np.array(json.dumps(audio_info, default=json_default))
        try:
            files.write_npz(p, root=self.root, **arrays)
        except files.UnsafePathError as exc:
            logger.warning("prediction cache not written: %s", exc)
        except OSError as exc:  # a cache that cannot be written costs speed, never results
            self.unwritable = f"{p.parent}: {exc}"
            logger.warning("prediction cache not written (%s); no further entry is written in this run. Fix: make %s a folder "
                           "you can write in, pass --cache-dir elsewhere, or --no-cache.", self.unwritable, self.root)

    @staticmethod
    def to_prediction(entry: dict, item_id: str, random_weights: bool, labels: Sequence[str] = LABEL_KEYS) -> Prediction:
        lg = entry["logits"]
        return Prediction(labels=tuple(labels),
            id=item_id, scores=softmax(lg), logits=lg, embedding=entry.get("embedding"),
            frame_logits=entry.get("frame_logits"), frame_embeddings=entry.get("frame_embeddings"),
            n_frames=int(entry["n_frames"]), duration=float(entry["duration"]), random_weights=random_weights,
        )


#: the most bytes an entry may hold, on disk and once unpacked: a 120 s clip's frame embeddings of a 1024-wide model
#: take 25 MB; an entry of 32 MB on disk that unpacked to 400 MB, 40 of them, took a run to 16 GB
ENTRY_MAX_BYTES = 64 * 2**20
#: the most arrays an entry holds (it writes at most seven)
ENTRY_MAX_ARRAYS = 16


def _read_entry(p: Path, root: Path) -> dict | None:
    """The arrays of an entry, or ``None`` when its size on disk or the sizes its zip directory declares unpacked are
    over :data:`ENTRY_MAX_BYTES` (read before any array; an array is never read past its declared size).

    The entry is opened below ``root`` without following a link at any level and without waiting (``O_NONBLOCK``), and
    judged on what was opened (``fstat``): in a shared cache, an entry or shard folder swapped for a link (to a FIFO,
    which hung the run, or to another user's file) between :meth:`PredictionCache.get`'s look and the read was opened.
    Raises ``OSError`` for a link, :class:`~workbench.files.UnsafePathError` for a linked shard folder."""
    import stat

    with files.open_folder(p.parent, root=root, create=False) as folder:
        fd = os.open(p.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0), dir_fd=folder)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size > ENTRY_MAX_BYTES:
            return None
        return _unpack(f)


def _unpack(f) -> dict | None:
    import zipfile

    with zipfile.ZipFile(f) as zf:
        infos = zf.infolist()
        if len(infos) > ENTRY_MAX_ARRAYS or sum(i.file_size for i in infos) > ENTRY_MAX_BYTES:
            return None
        entry = {}
        for info in infos:
            if not info.filename.endswith(".npy"):
                return None
            with zf.open(info) as f:
                entry[info.filename[: -len(".npy")]] = np.lib.format.read_array(f, allow_pickle=False)
    return entry


_INFO_KEYS = ("audio_seconds", "source_sample_rate", "source_sha256", "chain", "facts")


def _finite_scalar(a: np.ndarray) -> bool:
    return a.ndim == 0 and a.dtype.kind in "iuf" and bool(np.isfinite(a))


def _well_formed(entry: dict) -> bool:
    """Whether an entry holds what a results row is built from: finite 1-D logits, scalar frame count and duration,
    and audio facts (when present) that parse to the mapping :func:`workbench.engine.core.audio_info` writes."""
    logits = entry.get("logits")
    if logits is None or logits.ndim != 1 or logits.dtype.kind not in "iuf" or not np.isfinite(logits).all():
        return False
    if not all(k in entry and _finite_scalar(entry[k]) for k in ("n_frames", "duration")):
        return False
    if "audio_info" not in entry:
        return True
    raw = entry["audio_info"]
    try:
        info = loads_json(str(raw)) if raw.ndim == 0 and raw.dtype.kind == "U" else None
    except ValueError:
        return False
    return (isinstance(info, dict) and all(k in info for k in _INFO_KEYS) and isinstance(info["facts"], dict)
            and isinstance(info["chain"], list))


def default_cache_dir() -> Path:
    return cache_dir() / "predictions"
