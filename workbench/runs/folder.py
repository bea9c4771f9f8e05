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
        artifacts.json       what each derived output shows (its variant, its column …)
        <output files>       derived outputs, each written by its feature through :meth:`RunFolder.write_artifact`
                             under names the feature declares (``calibration.json`` in analysis.calibration,
                             ``features_<set>.parquet`` in explain.cues, ``listeners.json`` in analysis.listeners,
                             ``projection_<method>_cache.npz`` in analysis.embeddings, figures and metrics …)

:class:`RunFolder` reads; :class:`~workbench.runs.writer.RunWriter` writes the run's own files (lock, config,
parts, final table, log).

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

import difflib
import hashlib
import logging
import os
import re
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from workbench.audio.intake import Audio, AudioConfig, decode_mono
from workbench.errors import ConfigError
from workbench.files import strict_json  # noqa: F401  (public here too)
from workbench.serialize import load_yaml_file, loads_json, shown
from workbench.model.checkpoints import generated_checksum
from workbench.model.ref import ModelRef
from workbench.runs.artifacts import (  # noqa: F401  (public here too)
    ARTIFACT_INDEX, Artifacts, RunFolderError, check_embeddings_header, check_run_table, read_arrays_capped, artifact_name,
    atomic_write, _capped_bytes, _write_text, RUN_LOCK, mark_random_weights, summary_problem,
)
from workbench.runs.experiment import EXPERIMENT_FILE, Experiment, run_config_paths, summary_paths
from workbench.schema import SCORE_PREFIX
from workbench.audio.variants import Variant, scored_audio

logger = logging.getLogger(__name__)

CONFIG = "config.yaml"
MANIFEST_COPY = "manifest.jsonl"
RESULTS = "results.parquet"
EMBEDDINGS = "embeddings.npy"
SUMMARY = "summary.json"
LOG = "log.txt"
LOCK = RUN_LOCK  # ".lock"
PARTS = "parts"
REJECTED = "rejected"
FRAME_EMBEDDINGS = "frame_embeddings"
#: the run folder's own files and folders (besides parts and artifacts): never links
OWN_NAMES = (CONFIG, EXPERIMENT_FILE, MANIFEST_COPY, RESULTS, EMBEDDINGS, SUMMARY, LOG, LOCK, PARTS, FRAME_EMBEDDINGS, ARTIFACT_INDEX)
#: parquet key-value metadata key that ties a part to the run that wrote it
PART_IDENTITY_KEY = b"workbench.run_identity"
#: artifact names: lower-case words, digits, ``_`` and ``-`` with one extension; never a path
_PART_RE = re.compile(r"^part-(\d{5,})\.parquet$")
_TMP_RE = re.compile(r"^\..+\.tmp-")  # our own temporary names
_LEGACY_TMP_RE = re.compile(r"\.tmp(\.|$)")  # earlier versions' part-N.tmp.parquet, results.parquet.tmp …


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


def _read_yaml(path: Path) -> dict:
    try:
        data = load_yaml_file(path)  # a run folder may have been edited by anyone: no aliases, bounded size
    except ConfigError as exc:
        raise RunFolderError(f"cannot read {path.name} ({exc.message}).", source=str(path.parent.absolute()),
                             fix="the run folder is damaged: run again into a new --out folder.") from None
    return data if isinstance(data, dict) else {}


def _row_fix(res: Any, item_id: str, variant: str | None) -> str:
    """What to pass instead of an id (or variant) the run has no row for: the variants the id has, or the closest ids."""
    ids = list(dict.fromkeys(res["id"].astype(str)))
    if item_id in ids:  # the id is there, the variant is not
        have = list(dict.fromkeys(res.loc[res["id"].astype(str) == item_id, "variant"].astype(str)))
        return f"{shown(item_id, 80)} was scored in the variant(s) {shown(have, 200)}: pass one of them."
    close = difflib.get_close_matches(item_id, ids, n=3, cutoff=0.6)
    return (f"did you mean {' or '.join(shown(c, 80) for c in close)}? " if close else "") + \
        f"The run has {len(ids)} item id(s) (the id column of results.parquet), e.g. {', '.join(shown(c, 80) for c in ids[:3])}."


class RunFolder(Artifacts):
    """A run folder on disk, read: one typed view for every reader of a run.

    The run's own files are written by :class:`~workbench.runs.writer.RunWriter`; derived outputs enter only
    through :meth:`write_artifact` and are read back with :meth:`artifact`.

    Parameters
    ----------
    path : path
        The run folder (the ``--out`` of ``workbench run``); :meth:`open` checks that it holds a run.

    Examples
    --------
    >>> run_dir = wb.demo_run("runs/demo", model="tiny")
    >>> rf = wb.RunFolder.open(run_dir)
    >>> ok = rf.results(status="ok")           # one variant: rf.results("raw"); any status: status=None
    >>> rf.embeddings(status="ok").shape[0] == len(ok)
    True
    >>> rf.model().model
    'tiny'
    >>> audio = rf.scored_audio(ok.iloc[0])     # the audio exactly as the model scored it
    >>> audio.sr
    16000
    """

    OWN_NAMES = OWN_NAMES

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._results = None
        self._config: dict | None = None

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r})"

    def __str__(self) -> str:
        # errors name their input with str(): "error: RunFolder('runs/head'): …" named a Python object, not the folder
        return str(self.path)

    # ------------------------------------------------------------------ reading
    @classmethod
    def open(cls, path: str | os.PathLike) -> "RunFolder":
        """A run folder that exists and holds a run (its ``config.yaml``)."""
        rf = cls(path)
        fix = "pass the --out folder of a `workbench run`"
        if not rf.path.is_dir():
            # a misspelt folder or a manifest given for its run: say which, and name the runs beside it
            fact = "does not exist." if not rf.path.exists() else "is a file, not a run folder."
            raise RunFolderError(fact, source=str(path), fix=fix + _runs_in(rf.path.parent, "beside it", rf.path.name) + ".")
        rf.check_links()
        if is_checkpoint_folder(rf.path):
            raise RunFolderError(CHECKPOINT_NOT_RUN, source=str(path),
                                 fix="give it to --model (`workbench run MANIFEST --model DIR --out RUN`), and this command "
                                     "the run's --out folder" + _runs_in(rf.path.parent, "beside it", rf.path.name) + ".")
        if not (rf.path / CONFIG).is_file():
            what = " It is an output folder of `workbench infer` (result.json), not a run." if (rf.path / "result.json").is_file() else ""
            raise RunFolderError(f"holds no run (no config.yaml).{what}", source=str(path), fix=fix + _runs_in(rf.path, "in it") + ".")
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
                f"holds symbolic links where the workbench keeps its own files ({shown}); reading or writing through them "
                "would reach files outside the run folder.",
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
            self._config = run_config_paths(_read_yaml(p), self.path) if p.is_file() else {}  # paths absolute on this machine
        return self._config

    @property
    def summary(self) -> dict:
        p = self.path / SUMMARY
        if not p.is_file():
            return {}
        try:
            data = loads_json(_capped_bytes(p))  # a 6 GB sparse summary.json ended `workbench metrics` in MemoryError
        except (OSError, ValueError, ConfigError) as exc:
            data = exc
        problem = summary_problem(data)  # not an object, or a section of it not what every reader looks into
        if problem:
            raise RunFolderError(f"cannot read summary.json ({problem}).", source=str(self.path), fix=_REBUILD_FIX) from None
        return summary_paths(data, self.path)  # its paths absolute on this machine, as config's

    def results(self, variant: str | None = None, status: str | None = None):
        """The results table (a pandas DataFrame, one row per item × variant), or the rows of one ``variant`` and/or
        ``status`` (``"ok"``, ``"failed"``; :func:`select_rows`).  An unknown variant raises :class:`VariantNotInRunError`."""
        if variant is not None or status is not None:
            return select_rows(self.results(), variant, status, source=str(self.path))
        import pandas as pd

        if self._results is None:
            p = self.path / RESULTS
            if not p.is_file():
                if is_checkpoint_folder(self.path):  # a reader that did not go through open(): the same message
                    RunFolder.open(self.path)
                raise RunFolderError("has no results.parquet (the run did not finish).", source=str(self.path),
                                     fix="run `workbench run` again with the same --out to finish it.")
            check_run_table(p, fix=_REBUILD_FIX)  # a few MB that would unpack to gigabytes
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

    def embeddings(self, variant: str | None = None, status: str | None = None) -> np.ndarray:
        """``(rows, D)`` float32 utterance embeddings; row i belongs to results row i (NaN when it failed).

        ``variant`` and/or ``status`` select rows as :meth:`results` does (same order), e.g.
        ``rf.embeddings("raw", "ok")`` beside ``rf.results("raw", "ok")``.
        """
        emb = self._embeddings()
        if variant is None and status is None:
            return emb
        return emb[select_mask(self.results(), variant, status, source=str(self.path))]

    def _embeddings(self) -> np.ndarray:
        p = self.path / EMBEDDINGS
        if not p.is_file():
            raise RunFolderError("has no embeddings.npy.", source=str(self.path), fix="run `workbench run` again with the same --out to finish it.")
        n = len(self.results())
        try:
            check_embeddings_header(p, n)  # before the data: a header may declare gigabytes that a sparse file "holds"
        except Exception as exc:  # noqa: BLE001 — not .npy, or another shape
            raise RunFolderError(f"embeddings.npy cannot be this run's ({str(exc) or type(exc).__name__}).", source=str(self.path),
                                 fix="the folder is inconsistent: delete results.parquet and embeddings.npy and re-run the same command.") from None
        try:
            emb = np.load(p, allow_pickle=False)
        except Exception as exc:  # truncated, not .npy, or an object array
            raise RunFolderError(f"embeddings.npy cannot be read ({type(exc).__name__}).", source=str(self.path), fix=_REBUILD_FIX) from None
        if emb.ndim != 2 or emb.shape[0] != n:
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
        return read_arrays_capped(p)  # under the run folder's cap, its header checked against the file before any array

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

    def model(self) -> ModelRef:
        """The model that scored this run as a :class:`~workbench.model.ref.ModelRef` (name, hub, revision, dtype,
        weights' checksum, temperature), ready to :meth:`~workbench.model.ref.ModelRef.load` on this machine."""
        ref = ModelRef.from_run(self.config, self.summary)
        temperature = self.config.get("temperature")
        return replace(ref, temperature=float(temperature)) if temperature is not None and ref.temperature is None else ref

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
        moved = cfg.get("manifest_root_from_run")  # the project copied elsewhere whole: the audio where it lies beside the run
        if isinstance(moved, str) and moved and not Path(root).is_dir() and (self.path / moved).is_dir():
            root = str(self.path / moved)
        return Path(root) / p

    def row(self, item_id: str, variant: str | None = None) -> dict:
        res = self.results()
        sel = res[res["id"].astype(str) == str(item_id)]
        if variant is not None:
            sel = sel[sel["variant"].astype(str) == str(variant)]
        if sel.empty:
            # the id and variant cut to a line: a 40,000-character --item was echoed whole (a 75 KB error)
            raise RunFolderError(f"has no row for {shown(str(item_id), 80)}{f' [{shown(str(variant), 40)}]' if variant else ''}.",
                                 source=str(self.path),
                                 fix=_row_fix(res, str(item_id), variant))
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
        if not os.path.lexists(path):  # a run folder moved, or made on another machine: said as such, not as a typo
            rel = self.config.get("manifest_root_from_run")
            raise RunFolderError(f"the audio this row was scored from, {path}, is not here (the run folder was moved or made on "
                                 "another machine; the figures come from its rows and are unaffected).", source=str(r["id"]),
                                 fix="put the audio back at that path" + (f", or copy the project whole, so that the audio lies at "
                                                                          f"{rel} from the run folder" if rel else "") + ".")
        decoded = decode_mono(path, config=cfg, id=str(r["id"]))
        want = r.get("source_sha256")
        got = decoded.source.sha256
        if want and got and isinstance(want, str) and want != got:
            raise RunFolderError(f"{path} changed since it was scored (sha256 {got[:12]}… ≠ {want[:12]}…).", source=str(r["id"]),
                                 fix="restore the file the run scored, or run again to score the new one.")
        start, duration = _num(r.get("start")), _num(r.get("duration"))
        return scored_audio(decoded, self.variant(str(r["variant"])), cfg, start=start, duration=duration, source=str(r["id"]),
                            model_rate=model_rate)

    def experiment(self) -> Experiment:
        """The experiment that reproduces this run (from ``experiment.yaml``, or ``config.yaml`` for older runs)."""
        p = self.path / EXPERIMENT_FILE
        return Experiment.load(p if p.is_file() else self.path / CONFIG)

    @property
    def seed(self) -> int:
        """The run's seed (``experiment.yaml``'s ``seed:``): what the bootstrap of its figures draws with; 0 for a run
        that recorded none, or whose experiment cannot be read (its reader says why)."""
        try:
            seed = self.experiment().seed if (self.path / EXPERIMENT_FILE).is_file() else 0
        except ConfigError:
            return 0
        return seed if isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 else 0

    def log_text(self) -> str:
        p = self.path / LOG
        return _capped_bytes(p).decode("utf-8", errors="replace") if p.is_file() else ""

    # ------------------------------------------------------------------ derived outputs
    @property
    def run_identity(self) -> str:
        """The run's identity: a hash of its ``config.yaml`` (the settings the rows were scored with)."""
        try:
            return hashlib.sha256((self.path / CONFIG).read_bytes()).hexdigest()[:16]
        except OSError:
            return ""



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
    if not _one_row_each(table):  # a table merged from two runs, or a row copied by hand: metrics counted it twice
        first = table.loc[table.duplicated(["id", "variant"], keep=False)].iloc[0]
        n = int(table.duplicated(["id", "variant"]).sum())
        return f"{n} repeated row(s) of one id and variant (first: {str(first['id'])[:60]!r} [{str(first['variant'])[:40]}])"
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


def _one_row_each(table: Any) -> bool:
    """Whether every (id, variant) pair of a results table is one row (a MultiIndex: 1 s for 2 million rows)."""
    import pandas as pd

    return bool(pd.MultiIndex.from_frame(table[["id", "variant"]]).is_unique)


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if f != f else f


#: a model checkpoint's own files (`workbench finetune --out`, a ModelScope download): its config.yaml is the model's
CHECKPOINT_WEIGHTS = ("model.pt", "model.safetensors")
CHECKPOINT_NOT_RUN = "is a model checkpoint (config.yaml, tokens.txt, model weights), not a run folder."


def is_checkpoint_folder(path: str | os.PathLike) -> bool:
    """True for a folder laid out as an emotion2vec checkpoint (tokens.txt and model weights beside config.yaml); a run
    folder never holds them."""
    p = Path(path)
    return (p / "tokens.txt").is_file() and any((p / w).is_file() for w in CHECKPOINT_WEIGHTS)


def _runs_in(folder: Path, where: str, near: str = "", limit: int = 5) -> str:
    """``"; the runs <where>: a, b"``: the run folders (holding config.yaml) directly in ``folder``, those whose name is
    nearest ``near`` first; or ``""``.  Checkpoint folders hold a config.yaml too, and are not runs."""
    try:
        runs = [e.path for e in os.scandir(folder) if e.is_dir(follow_symlinks=False) and os.path.isfile(os.path.join(e.path, CONFIG))
                and not is_checkpoint_folder(e.path)]
    except OSError:
        return ""
    runs.sort(key=lambda r: (-difflib.SequenceMatcher(None, near, os.path.basename(r)).ratio() if near else 0, r))
    more = f" and {len(runs) - limit} more" if len(runs) > limit else ""
    return f"; the runs {where}: {', '.join(runs[:limit])}{more}" if runs else ""


def as_run_folder(run_dir: "str | os.PathLike | RunFolder") -> RunFolder:
    """A :class:`RunFolder` from a path or an existing one (the one place readers turn arguments into it)."""
    return run_dir if isinstance(run_dir, RunFolder) else RunFolder.open(run_dir)



#: what ``workbench calibrate`` writes into a run
CALIBRATION_FILE = "calibration.json"


def saved_calibration(run_dir: "str | os.PathLike | RunFolder") -> dict:
    """What ``workbench calibrate`` wrote into a run (``calibration.json``), or ``{}`` when it was never calibrated."""
    saved = as_run_folder(run_dir).artifact(CALIBRATION_FILE, default={})
    return saved if isinstance(saved, dict) else {}
