"""The run folder: the only code that knows its layout, writes it and reads it.

::

    RUN_DIR/
        config.yaml          the run's settings and identity (manifest hash, model, variants, audio settings)
        experiment.yaml      the experiment file that reproduces it: `workbench run experiment.yaml --out NEW`
        manifest.jsonl       a copy of the manifest when it came from memory (absolute paths)
        .lock                held (an OS file lock) while a run writes; names the process holding it
        parts/               part-NNNNN.parquet + part-NNNNN.emb.npy, one pair per chunk
        parts/rejected/      parts that failed validation on resume (kept for inspection, never read)
        frame_embeddings/    <hash>.npy per (item, variant), only when asked for
        results.parquet      one row per item × variant
        embeddings.npy       (rows, D) float32, row i ↔ results row i (NaN for failed rows)
        log.txt              progress and failures
        summary.json         counts, cache hits, timings, headline metrics
        calibration.json     fitted temperature, calibration errors, conformal coverage (workbench calibrate)
        calibration_<kind>_<k>.png   its figures; kind reliability|risk_coverage|set_sizes, k the variant's position

Integrity rules, all enforced here:

* Every file is written under a temporary name that starts with a dot (``.NAME.tmp-PID``),
  which no reader pattern matches, then flushed, fsynced and renamed into place; the
  folder is fsynced after the rename.  A part is complete only when its parquet exists:
  the embeddings and frame embeddings it refers to are renamed into place before it.
* Parts are validated on read (row count = embedding rows, unique (id, variant), finite
  embeddings for ok rows, frame embeddings present when the run keeps them, and
  :func:`check_rows`: the schema, finite scores summing to 1, predictions among the model's
  labels); a part that fails is moved to ``parts/rejected/`` with a log line, and its rows
  are redone.  ``results.parquet``, ``embeddings.npy`` and ``summary.json`` are checked the
  same way when read: a damaged one is refused naming the file and how to rebuild it.
* A run holds an exclusive ``flock`` on ``.lock`` while it writes; the OS drops it when
  the process dies, so a killed run never blocks the next one, and a second live run
  on the same folder is refused with the first one's pid.
* File names never come from ids or variant names: frame embeddings are named by a
  hash of (variant, id); derived outputs (metrics, figures, comparisons, fusion) are written
  by :meth:`RunFolder.write_artifact` under plain names or hashes (:func:`artifact_name`),
  with what they show recorded in ``artifacts.json``, and every JSON is strict (NaN → null).
* Nothing is written through a link: a folder whose own files are symbolic links is refused
  naming them (:meth:`RunFolder.check_links`), every file goes through
  :func:`workbench.files.write_atomic` (folders below the run folder opened ``O_NOFOLLOW``,
  temporaries created ``O_EXCL | O_NOFOLLOW``, a destination that is a link refused), ``.lock``
  and ``log.txt`` are opened ``O_NOFOLLOW``, and ``parts/rejected`` must be a real folder.
* A part carries its run's identity (a hash of ``config.yaml``) in its parquet metadata; a part
  of another run, one with rows outside the manifest × variants, or one repeating rows of an
  earlier part is rejected.
* Rows are unique by (id, variant) whatever happened: resumption skips finished rows
  and the final table keeps the first copy of any duplicate.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import re
import socket
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from workbench import files
from workbench.audio.intake import Audio, AudioConfig, decode_mono
from workbench.errors import ConfigError
from workbench.files import json_safe as _json_safe, strict_json  # noqa: F401  (strict_json public here too)
from workbench.limits import load_yaml_file
from workbench.model.checkpoints import generated_checksum
from workbench.runs.experiment import EXPERIMENT_FILE, Experiment
from workbench.schema import SCORE_PREFIX
from workbench.files import json_default
from workbench.audio.variants import Variant, scored_audio

logger = logging.getLogger(__name__)

CONFIG = "config.yaml"
MANIFEST_COPY = "manifest.jsonl"
RESULTS = "results.parquet"
EMBEDDINGS = "embeddings.npy"
SUMMARY = "summary.json"
LISTENERS = "listeners.json"
LOG = "log.txt"
LOCK = ".lock"
PARTS = "parts"
REJECTED = "rejected"
FRAME_EMBEDDINGS = "frame_embeddings"
ARTIFACT_INDEX = "artifacts.json"
#: the run folder's own files and folders (besides parts and artifacts): never links
OWN_NAMES = (CONFIG, EXPERIMENT_FILE, MANIFEST_COPY, RESULTS, EMBEDDINGS, SUMMARY, LOG, LOCK, PARTS, FRAME_EMBEDDINGS, ARTIFACT_INDEX)
#: parquet key-value metadata key that ties a part to the run that wrote it
PART_IDENTITY_KEY = b"workbench.run_identity"
#: artifact names: lower-case words, digits, ``_`` and ``-`` with one extension; never a path
_ARTIFACT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,80}\.(png|json|csv|html|txt|parquet|npy|wav)$")
_PLAIN_PART_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
CALIBRATION = "calibration.json"
CALIBRATION_FIGURES = ("reliability", "risk_coverage", "set_sizes")
#: cached 2-D projections, one fixed file per slow method (PCA is fast and never cached)
PROJECTION_CACHE = {"umap": "projection_umap.cache.npz", "tsne": "projection_tsne.cache.npz"}
#: voice features of a run (`workbench features`), one fixed name per feature set
VOICE_FEATURES = {"praat": "features_praat.parquet", "egemaps": "features_egemaps.parquet", "all": "features_all.parquet",
                  "egemaps_lld": "features_egemaps_lld.parquet"}
_PART_RE = re.compile(r"^part-(\d{5,})\.parquet$")
_TMP_RE = re.compile(r"^\..+\.tmp-")  # our own temporary names
_LEGACY_TMP_RE = re.compile(r"\.tmp(\.|$)")  # earlier versions' part-N.tmp.parquet, results.parquet.tmp …


class RunFolderError(ConfigError):
    """A run folder that is busy, incomplete, inconsistent, or cannot be written."""

    code = "run_folder"


class VariantNotInRunError(RunFolderError):
    """A variant asked for that the run does not have (the one message every reader of a run gives)."""

    code = "variant_not_in_run"


#: what ``status`` may select in :func:`select_rows`
STATUSES = ("ok", "failed")


def run_variants(table: Any) -> list[str]:
    """The variants of a results table, in the order the run scored them."""
    return list(dict.fromkeys(table["variant"].astype(str))) if len(table) else []


def pick_variant(table: Any, variant: str | None = None, *, default: str = "first", source: str | None = None) -> str:
    """``variant`` checked against the run's variants; ``None`` gives ``raw`` (``default="raw"``, when the run has it)
    or the first variant.  An unknown name raises :class:`VariantNotInRunError` with the run's variants."""
    names = run_variants(table)
    if not names:
        raise RunFolderError("has no rows.", source=source, fix="run `workbench run` with this --out first.")
    if variant is None:
        return "raw" if default == "raw" and "raw" in names else names[0]
    if str(variant) not in names:
        raise VariantNotInRunError(f"variant {variant!r} is not in the run; it has {names}.", source=source,
                                   fix=f"pass one of {names}.")
    return str(variant)


def select_mask(table: Any, variant: str | None = None, status: str | None = "ok", *, source: str | None = None) -> np.ndarray:
    """Boolean mask of the rows of ``variant`` (``None``: every variant) with ``status`` (``None``: any status)."""
    if status is not None and status not in STATUSES:
        raise ConfigError(f"unknown row status {status!r}; rows are {list(STATUSES)}.", fix="select 'ok', 'failed' or None (both).")
    mask = np.ones(len(table), dtype=bool)
    if variant is not None:
        mask &= (table["variant"].astype(str) == pick_variant(table, variant, source=source)).to_numpy()
    if status is not None:
        mask &= (table["status"] == status).to_numpy()
    return mask


def select_rows(table: Any, variant: str | None = None, status: str | None = "ok", *, source: str | None = None):
    """The rows of a results table that one variant (``None``: all) scored with ``status`` (``None``: any):
    the one way every reader of a run selects, with the one error for a variant the run does not have."""
    return table[select_mask(table, variant, status, source=source)]


def frame_embedding_name(item_id: str, variant: str) -> str:
    """The file name of an item's frame embeddings: a hash, never the id itself."""
    return hashlib.sha256(f"{variant}\0{item_id}".encode("utf-8")).hexdigest()[:32] + ".npy"


def artifact_name(stem: str, *keys: Any, ext: str) -> str:
    """A file name for a derived output of ``stem`` about ``keys`` (a variant, a column …) that is always safe.

    Keys that are plain lower-case words (``raw``, ``tel-8k``, ``speaker``) are kept, so the usual names stay
    readable (``confusion_raw.png``); any other key (``tel/8k``, ``../../x``, markup, non-ASCII) is replaced by
    the first 8 hex digits of its sha256 (``confusion_3f2a9c1e.png``).  The real key goes into the run folder's
    ``artifacts.json`` index through :meth:`RunFolder.write_artifact`'s ``meta``.
    """
    parts = [stem]
    for k in keys:
        text = str(k)
        parts.append(text if _PLAIN_PART_RE.match(text) else hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8])
    return "_".join(parts) + f".{ext}"


def _log_safe(line: str) -> str:
    """One log line whatever the ids hold: newlines, carriage returns, NUL and other controls escaped."""
    return "".join(ch if ch == "\t" or (ch.isprintable() and ch not in "\u2028\u2029") else repr(ch)[1:-1] for ch in str(line))


def atomic_write(path: Path, write: Callable[[Any], None], *, text: bool = False, root: Path | None = None) -> None:
    """Write ``path`` through ``write(fileobj)`` with :func:`workbench.files.write_atomic` (temporary name,
    ``O_EXCL | O_NOFOLLOW`` in a folder opened without following links, fsync, atomic rename; a link at the
    destination or at any folder level below ``root`` is refused).  A full disk or a read-only folder becomes a
    :class:`RunFolderError` that says what to do; a planted link one that names it.
    """
    path = Path(path)
    try:
        files.write_atomic(path, write, text=text, root=root)
    except files.UnsafePathError as exc:
        raise RunFolderError(exc.message, source=exc.source, fix=exc.fix) from None
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise RunFolderError(
                f"the disk is full while writing {path.name}.", source=str(path.parent),
                fix="free some space and run the same command again: every finished part is kept and the run resumes.",
            ) from None
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise RunFolderError(
                f"cannot write {path.name}: the folder is read-only ({os.strerror(exc.errno)}).", source=str(path.parent),
                fix="make the folder writable (chmod u+w), or copy the run folder somewhere writable and pass the copy.",
            ) from None
        raise


def _write_text(path: Path, text: str, *, root: Path | None = None) -> None:
    atomic_write(path, lambda f: f.write(text), text=True, root=root)


def _read_yaml(path: Path) -> dict:
    try:
        data = load_yaml_file(path)  # a run folder may have been edited by anyone: no aliases, bounded size
    except ConfigError as exc:
        raise RunFolderError(f"cannot read {path.name} ({exc.message}).", source=str(path.parent.absolute()),
                             fix="the run folder is damaged: run again into a new --out folder.") from None
    return data if isinstance(data, dict) else {}


class RunFolder:
    """A run folder on disk: one typed view for every reader, and the writer's integrity duties.

    Readers: :meth:`results`, :meth:`embeddings`, :meth:`frame_embeddings`, :attr:`config`,
    :attr:`summary`, :meth:`variants`, :meth:`audio_config`, :meth:`item_path` and
    :meth:`scored_audio` (the audio of a row exactly as it was scored).
    The writer (:mod:`workbench.runs.driver`) uses :meth:`lock`, :meth:`prepare`,
    :meth:`finished_rows`, :meth:`write_part` and :meth:`finalize`.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._results = None
        self._config: dict | None = None
        self._expected_rows: set[tuple[str, str]] | None = None

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    # ------------------------------------------------------------------ reading
    @classmethod
    def open(cls, path: str | os.PathLike) -> "RunFolder":
        """A run folder that exists and holds a run (its ``config.yaml``)."""
        rf = cls(path)
        if not rf.path.is_dir():
            raise RunFolderError("is not a folder.", source=str(path), fix="pass the --out folder of a `workbench run`.")
        rf.check_links()
        if not (rf.path / CONFIG).is_file():
            raise RunFolderError("holds no run (no config.yaml).", source=str(path), fix="pass the --out folder of a `workbench run`.")
        return rf

    def links(self) -> list[str]:
        """The run folder's own entries that are symbolic links (relative names), e.g. ``['.lock', 'parts/rejected']``.

        Looks at every entry of the folder, of ``parts/``, ``parts/rejected/`` and ``frame_embeddings/``:
        the workbench never makes links there, so any link was planted and writing through it would
        write elsewhere.
        """
        found = []
        for sub in ("", PARTS, f"{PARTS}/{REJECTED}", FRAME_EMBEDDINGS):
            d = self.path / sub if sub else self.path
            if sub and d.is_symlink():
                continue  # reported as an entry of its parent
            try:
                entries = list(os.scandir(d))
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError:
                continue
            for e in entries:
                if e.is_symlink():
                    found.append(f"{sub}/{e.name}" if sub else e.name)
        return sorted(found)

    def check_links(self) -> None:
        """Refuse a run folder whose own files are links (a planted link would redirect a write); say which."""
        found = self.links()
        if found:
            shown = ", ".join(repr(f) for f in found[:8]) + (f" and {len(found) - 8} more" if len(found) > 8 else "")
            raise RunFolderError(
                f"holds symbolic links where the workbench keeps its own files ({shown}); writing through them "
                "would change files outside the run folder.",
                source=str(self.path),
                fix="delete the links (the workbench never makes them) or copy the run's real files into a new folder.",
            )

    @property
    def finished(self) -> bool:
        return (self.path / RESULTS).is_file()

    @property
    def config(self) -> dict:
        if self._config is None:
            p = self.path / CONFIG
            self._config = _read_yaml(p) if p.is_file() else {}
        return self._config

    @property
    def summary(self) -> dict:
        p = self.path / SUMMARY
        if not p.is_file():
            return {}
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            data = exc
        if not isinstance(data, dict):
            raise RunFolderError(f"cannot read summary.json ({data if isinstance(data, Exception) else 'not a JSON object'}).",
                                 source=str(self.path), fix=_REBUILD_FIX) from None
        return data

    def results(self, variant: str | None = None, status: str | None = None):
        """The results table (a pandas DataFrame, one row per item × variant), or the rows of one ``variant`` and/or
        ``status`` (``"ok"``, ``"failed"``; :func:`select_rows`).  An unknown variant raises :class:`VariantNotInRunError`."""
        if variant is not None or status is not None:
            return select_rows(self.results(), variant, status, source=str(self.path))
        import pandas as pd

        if self._results is None:
            p = self.path / RESULTS
            if not p.is_file():
                raise RunFolderError("has no results.parquet (the run did not finish).", source=str(self.path),
                                     fix="run `workbench run` again with the same --out to finish it.")
            try:
                table = pd.read_parquet(p)
            except Exception as exc:  # a truncated or foreign file: pyarrow raises its own types
                raise RunFolderError(f"results.parquet cannot be read ({type(exc).__name__}: {str(exc)[:200]}).",
                                     source=str(self.path), fix=_REBUILD_FIX) from None
            problem = check_rows(table, self.labels(table))
            if problem:
                raise RunFolderError(f"results.parquet is not a table the workbench wrote: {problem}.", source=str(self.path),
                                     fix=_REBUILD_FIX)
            self._results = table
        return self._results

    def labels(self, table: Any = None) -> list[str]:
        """The model's labels for this run: the summary's model labels, else the table's score columns."""
        model = self.summary.get("model") if self.path.joinpath(SUMMARY).is_file() else None
        labels = model.get("labels") if isinstance(model, dict) else None
        if isinstance(labels, list) and labels and all(isinstance(x, str) for x in labels):
            return labels
        columns = [] if table is None else [str(c) for c in table.columns]
        return [c[len(SCORE_PREFIX):] for c in columns if c.startswith(SCORE_PREFIX)]

    def embeddings(self) -> np.ndarray:
        """``(rows, D)`` float32 utterance embeddings; row i belongs to results row i (NaN when it failed)."""
        p = self.path / EMBEDDINGS
        if not p.is_file():
            raise RunFolderError("has no embeddings.npy.", source=str(self.path), fix="run `workbench run` again with the same --out to finish it.")
        try:
            emb = np.load(p, allow_pickle=False)
        except Exception as exc:  # truncated, not .npy, or an object array
            raise RunFolderError(f"embeddings.npy cannot be read ({type(exc).__name__}).", source=str(self.path), fix=_REBUILD_FIX) from None
        if emb.ndim != 2:
            raise RunFolderError(f"embeddings.npy has shape {emb.shape}, not (rows, dimensions).", source=str(self.path), fix=_REBUILD_FIX)
        n = len(self.results())
        if emb.shape[0] != n:
            raise RunFolderError(f"embeddings.npy has {emb.shape[0]} rows but results.parquet has {n}.", source=str(self.path),
                                 fix="the folder is inconsistent: delete results.parquet and embeddings.npy and re-run the same command.")
        return emb

    def frame_embeddings(self, item_id: str, variant: str) -> np.ndarray:
        """``(T, D)`` frame embeddings of one row (the run must have kept them)."""
        p = self.path / FRAME_EMBEDDINGS / frame_embedding_name(str(item_id), str(variant))
        if not p.is_file():
            fix = ("re-run with --frame-embeddings into a new --out." if not self.config.get("frame_embeddings")
                   else "check the id and variant (results.parquet lists them); failed rows have none.")
            raise RunFolderError(f"has no frame embeddings for {item_id!r} [{variant}].", source=str(self.path), fix=fix)
        return np.load(p, allow_pickle=False)

    def variants(self) -> list[Variant]:
        return [Variant.from_dict(v) for v in self.config.get("variants") or [{"name": "raw"}]]

    def variant(self, name: str) -> Variant:
        for v in self.variants():
            if v.name == name:
                return v
        raise RunFolderError(f"has no variant {name!r}; it has {[v.name for v in self.variants()]}.", source=str(self.path),
                             fix="pick one of the run's variants.")

    def audio_config(self) -> AudioConfig:
        known = {f.name for f in fields(AudioConfig)}
        return AudioConfig(**{k: v for k, v in (self.config.get("audio") or {}).items() if k in known})

    @property
    def model_ref(self) -> dict:
        """What scored this run: the model info of the summary, or the config's reference before it finished."""
        return self.summary.get("model") or {k: self.config.get(k) for k in ("model", "hub", "revision", "device", "dtype")}

    @property
    def random_weights(self) -> bool:
        """True when the run was scored with random weights, by any sign: the summary's flag, the model's, or the
        weights' checksum being one the package generated.  An edited ``summary.json`` (``random_weights: false``)
        cannot remove the banner: the checksums in ``summary.json`` and ``config.yaml`` are checked too."""
        summary = self.summary
        model = summary.get("model") if isinstance(summary.get("model"), dict) else {}
        if summary.get("random_weights") or model.get("random_weights"):
            return True
        for checksum in (model.get("checksum"), self.config.get("model_checksum")):
            known = generated_checksum(checksum)
            if known is not None and known.get("kind") == "random":
                return True
        return False

    def item_path(self, path: str) -> Path:
        """An item's audio file: manifest paths may be relative to the manifest's folder."""
        p = Path(str(path)).expanduser()
        if p.is_absolute():
            return p
        cfg = self.config
        root = cfg.get("manifest_root") or (str(Path(cfg["manifest"]).parent) if cfg.get("manifest") else ".")
        return Path(root) / p

    def row(self, item_id: str, variant: str | None = None) -> dict:
        res = self.results()
        sel = res[res["id"].astype(str) == str(item_id)]
        if variant is not None:
            sel = sel[sel["variant"].astype(str) == str(variant)]
        if sel.empty:
            raise RunFolderError(f"has no row for {item_id!r}{f' [{variant}]' if variant else ''}.", source=str(self.path),
                                 fix="check the id and variant (results.parquet lists them).")
        return sel.iloc[0].to_dict()

    def scored_audio(self, row: Any, *, model_rate: bool = True) -> Audio:
        """The audio of a results row exactly as the model scored it (its segment, its variant's chain, 16 kHz).

        ``model_rate=False``: the same audio before the last resampling to the model's rate (the
        source rate, or the rate the variant's chain left it at).  Refuses when the file changed
        since the run (its sha256 differs from the row's).
        """
        r = dict(row)
        cfg = self.audio_config()
        path = self.item_path(r["path"])
        decoded = decode_mono(path, config=cfg, id=str(r["id"]))
        want = r.get("source_sha256")
        got = decoded.source.sha256
        if want and got and isinstance(want, str) and want != got:
            raise RunFolderError(f"{path} changed since it was scored (sha256 {got[:12]}… ≠ {want[:12]}…).", source=str(r["id"]),
                                 fix="restore the file the run scored, or run again to score the new one.")
        start, duration = _num(r.get("start")), _num(r.get("duration"))
        return scored_audio(decoded, self.variant(str(r["variant"])), cfg, start=start, duration=duration, source=str(r["id"]),
                            model_rate=model_rate)

    def calibration(self) -> dict:
        """What ``workbench calibrate`` wrote (``calibration.json``), or ``{}`` when the run was never calibrated."""
        p = self.path / CALIBRATION
        if not p.is_file():
            return {}
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RunFolderError(f"cannot read calibration.json ({exc}).", source=str(self.path),
                                 fix="run `workbench calibrate` on this folder again to rewrite it.") from None
        return data if isinstance(data, dict) else {}

    def write_calibration(self, payload: dict) -> Path:
        """Write ``calibration.json`` (atomically; the name is fixed)."""
        p = self.path / CALIBRATION
        _write_text(p, strict_json(payload))
        return p

    def write_calibration_figure(self, kind: str, variant_index: int, fig) -> Path:
        """Write a calibration figure as ``calibration_<kind>_<variant_index>.png`` and close it.

        ``kind`` is one of :data:`CALIBRATION_FIGURES`; the name never holds a variant's own name.
        """
        if kind not in CALIBRATION_FIGURES:
            raise ConfigError(f"unknown calibration figure {kind!r}.", fix=f"use one of {list(CALIBRATION_FIGURES)}.")
        import matplotlib.pyplot as plt

        p = self.path / f"calibration_{kind}_{int(variant_index)}.png"
        fig.tight_layout()
        atomic_write(p, lambda f: fig.savefig(f, format="png", dpi=110))
        plt.close(fig)
        return p

    def experiment(self) -> Experiment:
        """The experiment that reproduces this run (from ``experiment.yaml``, or ``config.yaml`` for older runs)."""
        p = self.path / EXPERIMENT_FILE
        return Experiment.load(p if p.is_file() else self.path / CONFIG)

    def write_voice_features(self, table: Any, feature_set: str) -> Path:
        """Store a voice-feature table (a DataFrame) atomically under the set's fixed name (:data:`VOICE_FEATURES`)."""
        name = VOICE_FEATURES.get(feature_set)
        if name is None:
            raise ConfigError(f"unknown feature set {feature_set!r}.", source=str(self.path), fix=f"use one of: {', '.join(VOICE_FEATURES)}.")
        path = self.path / name
        atomic_write(path, lambda f: table.to_parquet(f, index=False))
        return path

    def voice_features(self, feature_set: str):
        """The voice-feature table stored by :meth:`write_voice_features` (a DataFrame)."""
        import pandas as pd

        name = VOICE_FEATURES.get(feature_set)
        if name is None:
            raise ConfigError(f"unknown feature set {feature_set!r}.", source=str(self.path), fix=f"use one of: {', '.join(VOICE_FEATURES)}.")
        if not (self.path / name).is_file():
            raise RunFolderError(f"has no {name}.", source=str(self.path), fix=f"run `workbench features {self.path} --set {feature_set}` first.")
        return pd.read_parquet(self.path / name)

    def log_text(self) -> str:
        p = self.path / LOG
        return p.read_text(encoding="utf-8") if p.is_file() else ""

    # ------------------------------------------------------------------ writing
    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run folder's exclusive OS lock; refuse if another live process holds it."""
        import fcntl

        self.path.mkdir(parents=True, exist_ok=True)
        self.check_links()
        try:
            fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
        except OSError as exc:
            if exc.errno == errno.ELOOP:  # a link planted after the check
                raise RunFolderError("its .lock is a symbolic link.", source=str(self.path), fix="delete the link and run again.") from None
            if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise RunFolderError(f"cannot be written ({os.strerror(exc.errno)}).", source=str(self.path),
                                     fix="make the folder writable, or choose another --out folder.") from None
            raise
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "another process"
                raise RunFolderError(f"is in use by another run ({holder}).", source=str(self.path),
                                     fix="wait for that run to finish (or stop it), or choose another --out folder.") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {datetime.now():%Y-%m-%d %H:%M:%S}".encode(), 0)
            self._clean_temporaries()
            yield
        finally:
            os.close(fd)  # closing drops the flock; the file stays (deleting it would race a waiting run)

    def prepare(self, config: dict, identity_keys: tuple[str, ...]) -> bool:
        """Write ``config.yaml`` for a new run, or check that an existing one matches. Returns True when resuming."""
        import yaml

        cfg_path = self.path / CONFIG
        if cfg_path.is_file():
            old = _read_yaml(cfg_path)
            diff = [k for k in identity_keys if old.get(k) != config.get(k)]
            if diff:
                raise RunFolderError(
                    f"holds a run with other settings ({', '.join(diff)} differ); it cannot be resumed with these.",
                    source=str(self.path), fix="choose a new --out folder, or re-run with the settings in its config.yaml.",
                )
            self._config = old
            return True
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError("exists and is not a folder.", source=str(self.path), fix="choose another --out folder.")
        try:
            files.ensure_folder(self.path / PARTS, root=self.path)
        except files.UnsafePathError as exc:
            raise RunFolderError(exc.message, source=exc.source, fix=exc.fix) from None
        _write_text(cfg_path, yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
        self._config = config
        return False

    def write_experiment(self, experiment: Experiment) -> None:
        _write_text(self.path / EXPERIMENT_FILE, experiment.to_yaml())

    def write_listeners(self, payload: dict) -> Path:
        """Write ``listeners.json`` (metrics against the listeners' judgements), atomically, under its fixed name."""
        p = self.path / LISTENERS
        _write_text(p, strict_json(payload))
        return p

    def listeners(self) -> dict:
        """The run's ``listeners.json`` ({} when `workbench listeners` has not been run)."""
        p = self.path / LISTENERS
        if not p.is_file():
            return {}
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RunFolderError(f"cannot read listeners.json ({exc}).", source=str(self.path),
                                 fix="run `workbench listeners RUN` again to rewrite it.") from None

    def write_manifest_copy(self, manifest: Any) -> Path:
        """Keep an in-memory manifest with the run (absolute paths), so its experiment file can name it."""
        lines = []
        for it in manifest:
            d = it.to_dict()
            d["path"] = str(manifest.resolve(it).absolute())
            lines.append(json.dumps(d, ensure_ascii=False, default=json_default))
        p = self.path / MANIFEST_COPY
        _write_text(p, "\n".join(lines) + "\n")
        return p

    def log(self, line: str) -> None:
        stamp = datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        try:
            files.append_text(self.path / LOG, f"{stamp} {_log_safe(line)}\n")
        except files.UnsafePathError as exc:
            raise RunFolderError(exc.message, source=exc.source, fix=exc.fix) from None
        logger.info(line)

    # ------------------------------------------------------------------ derived outputs
    @property
    def run_identity(self) -> str:
        """The run's identity: a hash of its ``config.yaml`` (the settings the rows were scored with)."""
        try:
            return hashlib.sha256((self.path / CONFIG).read_bytes()).hexdigest()[:16]
        except OSError:
            return ""

    def write_artifact(self, name: str, writer: Callable[[Any], None], *, text: bool = False, meta: dict | None = None) -> Path:
        """Write a derived output (metrics, a figure, a comparison …) into the run folder, atomically.

        Parameters
        ----------
        name : str
            A plain file name (lower-case words, digits, ``_``, ``-``, one extension; see :func:`artifact_name`
            for names about variants or columns).  Paths, ``..``, and the run's own files are refused.
        writer : callable
            ``writer(fileobj)`` writes the content (text when ``text``, else bytes), e.g.
            ``lambda f: fig.savefig(f, format="png")``.
        meta : dict, optional
            What the file is about (``{"variant": "tel/8k"}``), recorded in ``artifacts.json``.

        Returns
        -------
        Path
            The written file.
        """
        if not isinstance(name, str) or not _ARTIFACT_RE.match(name) or name in OWN_NAMES:
            raise RunFolderError(
                f"refuses to write an output named {name!r}: output names are plain lower-case file names, "
                "never paths or the run's own files.",
                source=str(self.path),
                fix="name the output with workbench.runs.folder.artifact_name(stem, key, ext=...).",
            )
        self.check_links()
        target = self.path / name
        if target.is_dir() and not target.is_symlink():
            raise RunFolderError(f"holds a folder named {name}, where an output file goes.", source=str(self.path),
                                 fix=f"remove the folder {name!r}; the workbench never makes it.")
        atomic_write(target, writer, text=text)
        if meta:
            index = self._artifact_index()
            index[name] = _json_safe(meta)
            atomic_write(self.path / ARTIFACT_INDEX, lambda f: f.write(strict_json(index)), text=True)
        return target

    def write_json(self, name: str, payload: Any, *, meta: dict | None = None) -> Path:
        """Write ``payload`` as strict JSON (NaN → null) through :meth:`write_artifact`.

        A dict payload gets ``random_weights: true`` when the run was scored with random weights.
        """
        if isinstance(payload, dict) and self.random_weights:
            payload = {**payload, "random_weights": True}
        text = strict_json(payload)
        return self.write_artifact(name, lambda f: f.write(text), text=True, meta=meta)

    def write_figure(self, name: str, fig: Any, *, meta: dict | None = None, dpi: int = 110) -> Path:
        """Save a matplotlib figure as PNG through :meth:`write_artifact` and close it."""
        import matplotlib.pyplot as plt

        try:
            return self.write_artifact(name, lambda f: fig.savefig(f, format="png", dpi=dpi), meta=meta)
        finally:
            plt.close(fig)

    def artifacts(self) -> dict[str, dict]:
        """``{file name: meta}`` of the derived outputs written with a ``meta`` (which variant a figure shows …)."""
        return self._artifact_index()

    def _artifact_index(self) -> dict:
        p = self.path / ARTIFACT_INDEX
        if p.is_symlink() or not p.is_file():
            return {}
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def cached_projection(self, method: str, key: str) -> np.ndarray | None:
        """The ``(n, 2)`` projection stored by :meth:`save_projection` under ``key``, or ``None`` (none, another key, unreadable)."""
        name = PROJECTION_CACHE.get(method)
        if name is None or not (self.path / name).is_file():
            return None
        try:
            with np.load(self.path / name, allow_pickle=False) as z:
                if str(z["key"]) != key:
                    return None
                xy = np.asarray(z["xy"], dtype=np.float32)
        except (OSError, ValueError, KeyError) as exc:  # a damaged cache is recomputed, never trusted
            logger.debug("ignoring the projection cache %s: %s", name, exc)
            return None
        return xy if xy.ndim == 2 and xy.shape[1] == 2 else None

    def save_projection(self, method: str, key: str, xy: np.ndarray) -> None:
        """Keep a slow projection (``umap``, ``tsne``) in the run folder, replacing the previous one of that method.

        ``key`` says what it was computed from (the caller hashes the embeddings and the settings); one
        file per method with a fixed name, written atomically.
        """
        if method not in PROJECTION_CACHE:
            raise ConfigError(f"no projection cache for {method!r}; cached methods are {sorted(PROJECTION_CACHE)}.",
                              source="RunFolder.save_projection", fix="cache only umap or tsne projections.")
        arr = np.asarray(xy, dtype=np.float32)
        atomic_write(self.path / PROJECTION_CACHE[method], lambda f: np.savez(f, key=np.asarray(key), xy=arr))

    def _parts(self) -> list[tuple[int, Path]]:
        d = self.path / PARTS
        if not d.is_dir():
            return []
        out = []
        for p in d.iterdir():
            m = _PART_RE.match(p.name)
            if m:
                out.append((int(m.group(1)), p))
        return sorted(out)

    def _clean_temporaries(self) -> None:
        """Remove what dead writers left: our dot-temporaries and earlier versions' ``*.tmp*`` names."""
        for d in (self.path, self.path / PARTS, self.path / FRAME_EMBEDDINGS):
            if not d.is_dir():
                continue
            for p in d.iterdir():
                if p.is_file() and (_TMP_RE.match(p.name) or (d.name == PARTS and _LEGACY_TMP_RE.search(p.name))
                                    or p.name in ("results.parquet.tmp", "embeddings.tmp.npy", "config.yaml.tmp")):
                    try:
                        p.unlink()
                        logger.info("removed a leftover temporary file %s", p)
                    except OSError:
                        pass

    def _reject(self, part: Path, reason: str) -> None:
        rej = self.path / PARTS / REJECTED
        if rej.is_symlink() or (rej.exists() and not rej.is_dir()):
            raise RunFolderError(f"{PARTS}/{REJECTED} is a link or a file, not the folder the workbench keeps.", source=str(self.path),
                                 fix=f"delete {PARTS}/{REJECTED} and run again.")
        try:
            files.ensure_folder(rej, root=self.path)
        except files.UnsafePathError as exc:
            raise RunFolderError(exc.message, source=exc.source, fix=exc.fix) from None
        stamp = datetime.now().strftime("%Y%m%d%H%M%S")
        for p in (part, _emb_path(part)):
            if p.exists():
                os.replace(p, rej / f"{stamp}-{p.name}")
        self.log(f"WARNING: rejected {part.name}: {reason}; its rows will be computed again")

    def _check_part(self, part: Path):
        """Read a part and its embeddings; return (frame, emb) or the reason it is not whole."""
        import pandas as pd

        import pyarrow.parquet as pq

        if part.is_symlink() or _emb_path(part).is_symlink():
            return "a link, not a part this run wrote"
        try:
            df = pd.read_parquet(part)
            meta = pq.read_schema(part).metadata or {}
        except Exception as exc:  # a torn or foreign file
            return f"unreadable parquet ({type(exc).__name__})"
        identity = meta.get(PART_IDENTITY_KEY)
        if identity is not None and identity.decode("ascii", "replace") != self.run_identity:
            return (f"written by another run (run identity {identity.decode('ascii', 'replace')[:16]}, "
                    f"this run's is {self.run_identity}): other settings, other manifest or other model")
        for col in ("id", "variant", "status"):
            if col not in df.columns:
                return f"no {col!r} column"
        ep = _emb_path(part)
        try:
            emb = np.load(ep, allow_pickle=False)
        except Exception as exc:
            return f"embeddings unreadable ({type(exc).__name__})"
        if emb.ndim != 2 or emb.shape[0] != len(df):
            return f"{emb.shape[0] if emb.ndim else 0} embedding rows for {len(df)} result rows"
        ok = (df["status"] == "ok").to_numpy()
        if emb.shape[1] and ok.any() and not np.isfinite(emb[ok]).all():
            return "missing or non-finite embeddings for finished rows"
        if df.duplicated(["id", "variant"]).any():
            return "duplicate (id, variant) rows"
        problem = check_rows(df, self.labels(df))
        if problem:
            return problem
        if self._expected_rows is not None:
            foreign = [(i, v) for i, v in zip(df["id"].astype(str), df["variant"].astype(str)) if (i, v) not in self._expected_rows]
            if foreign:
                return (f"{len(foreign)} of its {len(df)} rows are not in this run's manifest × variants "
                        f"(first: {foreign[0][0]!r} [{foreign[0][1]}])")
        if self.config.get("frame_embeddings"):
            for i, v in zip(df.loc[ok, "id"].astype(str), df.loc[ok, "variant"].astype(str)):
                if not (self.path / FRAME_EMBEDDINGS / frame_embedding_name(i, v)).is_file():
                    return f"frame embeddings of {i!r} [{v}] are missing"
        return df, emb

    def expect_rows(self, rows: "set[tuple[str, str]] | None") -> None:
        """The (id, variant) pairs this run scores (manifest × variants): a part holding any other row is rejected."""
        self._expected_rows = None if rows is None else {(str(i), str(v)) for i, v in rows}

    def valid_parts(self) -> list[tuple[Any, np.ndarray]]:
        """Every whole part as (frame, embeddings); parts that fail the checks are rejected (moved aside, logged).

        Besides each part's own checks (:meth:`_check_part`), a part that repeats rows of an earlier
        valid part is rejected: a run never writes a row twice, so a repeat comes from elsewhere.
        """
        out = []
        seen: dict[tuple[str, str], str] = {}
        for _, part in self._parts():
            checked = self._check_part(part)
            if not isinstance(checked, str):
                keys = list(zip(checked[0]["id"].astype(str), checked[0]["variant"].astype(str)))
                again = next((k for k in keys if k in seen), None)
                if again is not None:
                    checked = f"its row {again[0]!r} [{again[1]}] is already in {seen[again]}"
                else:
                    seen.update((k, part.name) for k in keys)
            if isinstance(checked, str):
                self._reject(part, checked)
            else:
                out.append(checked)
        return out

    def retry_failed(self, code: str) -> int:
        """Set aside the parts whose every row failed with error ``code``, so that this run scores those rows again.

        For failures that are the machinery's, not the item's (``actor_lost``: a Ray actor lost at each attempt);
        the engine writes such rows as a part of their own.  Returns the number of rows set aside."""
        n = 0
        for _, part in self._parts():
            checked = self._check_part(part)
            if isinstance(checked, str) or not len(checked[0]) or "error_code" not in checked[0].columns:
                continue  # a part that is not whole is rejected by valid_parts, with its reason
            df = checked[0]
            if (df["status"] == "failed").all() and (df["error_code"] == code).all():
                self._reject(part, f"its {len(df)} rows failed with {code!r}, a fault of the machinery that a resume retries")
                n += len(df)
        return n

    def finished_rows(self) -> set[tuple[str, str]]:
        done: set[tuple[str, str]] = set()
        for df, _ in self.valid_parts():
            done.update(zip(df["id"].astype(str), df["variant"].astype(str)))
        return done

    def write_part(self, rows: list[dict], embs: list, frame_embs: dict | None = None) -> Path | None:
        """Write one chunk's rows: frame embeddings, then embeddings, then the parquet that makes the part whole."""
        import pandas as pd

        if not rows:
            return None
        if frame_embs:
            d = self.path / FRAME_EMBEDDINGS
            for (item_id, variant), arr in frame_embs.items():
                a = np.asarray(arr, dtype=np.float32)
                atomic_write(d / frame_embedding_name(str(item_id), str(variant)), lambda f, a=a: np.save(f, a), root=self.path)
        dim = next((np.asarray(e).shape[0] for e in embs if e is not None), 0)
        mat = np.full((len(rows), dim), np.nan, dtype=np.float32)
        for i, e in enumerate(embs):
            if e is not None:
                mat[i] = e
        parts = self._parts()
        n = (parts[-1][0] + 1) if parts else 1
        base = self.path / PARTS / f"part-{n:05d}"
        atomic_write(Path(f"{base}.emb.npy"), lambda f: np.save(f, mat), root=self.path)
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False)
        # the part names the run that wrote it: a part copied in from another run is rejected on resume
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), PART_IDENTITY_KEY: self.run_identity.encode("ascii")})
        atomic_write(Path(f"{base}.parquet"), lambda f: pq.write_table(table, f), root=self.path)
        return Path(f"{base}.parquet")

    def finalize(self, *, item_order: dict[str, int], variant_order: dict[str, int], summary: Callable[[Any], dict]) -> dict:
        """Assemble ``results.parquet`` and ``embeddings.npy`` from the valid parts, then ``summary.json``.

        Rows are ordered by variant, then manifest order; a duplicate (id, variant) keeps its first copy.
        ``summary(results)`` returns the summary dict to write.
        """
        import pandas as pd

        frames, embs = [], []
        for df, e in self.valid_parts():
            frames.append(df)
            embs.append(e)
        if not frames:
            raise RunFolderError("has no finished rows to assemble.", source=str(self.path), fix="run `workbench run` with this --out.")
        results = pd.concat(frames, ignore_index=True)
        dim = max(e.shape[1] for e in embs)
        emb = np.concatenate([e if e.shape[1] == dim else np.full((len(e), dim), np.nan, np.float32) for e in embs])
        dup = results.duplicated(["id", "variant"]).to_numpy()
        if dup.any():
            self.log(f"WARNING: {int(dup.sum())} duplicate (id, variant) rows dropped; the first copy of each is kept")
            results, emb = results[~dup].reset_index(drop=True), emb[~dup]
        item_rank = results["id"].astype(str).map(item_order).fillna(len(item_order)).to_numpy()
        variant_rank = results["variant"].astype(str).map(variant_order).fillna(len(variant_order)).to_numpy()
        idx = np.lexsort((item_rank, variant_rank))
        results, emb = results.iloc[idx].reset_index(drop=True), emb[idx]
        atomic_write(self.path / RESULTS, lambda f: results.to_parquet(f, index=False))
        atomic_write(self.path / EMBEDDINGS, lambda f: np.save(f, emb))
        data = summary(results)
        _write_text(self.path / SUMMARY, strict_json(data))
        self._results = results
        return data


_REBUILD_FIX = ("delete results.parquet, embeddings.npy and summary.json and run the same `workbench run` with this --out: "
                "the results are assembled again from the checked parts (a damaged part is set aside and its rows scored again).")
#: how far the scores of an ``ok`` row may sum from 1 (float32 softmax outputs sum to 1 within ~1e-6)
SCORE_SUM_TOLERANCE = 1e-3


def check_rows(table: Any, labels: list[str]) -> str | None:
    """Why a results table (or a part) is not one the workbench wrote, or ``None``.

    Checks the schema (``id``, ``variant``, ``status`` columns; a score column per label), the status values,
    and for every ``ok`` row: finite scores in [0, 1] summing to 1 (within :data:`SCORE_SUM_TOLERANCE`) and a
    ``pred`` among the model's ``labels``.  A hand-edited row (NaN scores, markup in ``pred``) fails here.
    """
    for col in ("id", "variant", "status"):
        if col not in table.columns:
            return f"no {col!r} column"
    status = table["status"].astype(str)
    odd = sorted(set(status) - {"ok", "failed"})
    if odd:
        return f"status values {odd[:3]} (a row is 'ok' or 'failed')"
    ok = (status == "ok").to_numpy()
    if not ok.any():
        return None
    cols = [SCORE_PREFIX + k for k in labels]
    missing = [c for c in cols if c not in table.columns]
    if not labels or missing:
        return f"no score columns for the model's labels ({missing[:3] or 'no labels'})"
    try:
        scores = table.loc[ok, cols].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        return "score columns that are not numbers"
    finite = np.isfinite(scores).all(axis=1)
    if not finite.all():
        first = table.loc[ok].iloc[int(np.argmin(finite))]
        return f"NaN or infinite scores in an 'ok' row ({str(first['id'])[:60]!r} [{str(first['variant'])[:40]}])"
    sums = scores.sum(axis=1)
    if (scores < 0).any() or (scores > 1 + SCORE_SUM_TOLERANCE).any() or (np.abs(sums - 1) > SCORE_SUM_TOLERANCE).any():
        worst = int(np.argmax(np.abs(sums - 1)))
        return f"scores of an 'ok' row that are not probabilities (they sum to {sums[worst]:.6g})"
    if "pred" in table.columns:
        preds = set(table.loc[ok, "pred"].astype(str))
        unknown = sorted(preds - set(labels))
        if unknown:
            return f"predicted labels {[u[:40] for u in unknown[:3]]} that the model does not have (its labels: {labels})"
    return None


def _emb_path(part: Path) -> Path:
    return part.with_name(part.name[: -len(".parquet")] + ".emb.npy")


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if f != f else f


def as_run_folder(run_dir: "str | os.PathLike | RunFolder") -> RunFolder:
    """A :class:`RunFolder` from a path or an existing one (the one place readers turn arguments into it)."""
    return run_dir if isinstance(run_dir, RunFolder) else RunFolder.open(run_dir)

