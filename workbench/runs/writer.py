"""Writing a run folder: the lock, ``config.yaml``, the parts and the final table (:class:`RunWriter`).

:class:`~workbench.runs.folder.RunFolder` reads a run folder; this module is the only code that writes its
own files (derived outputs go through :meth:`RunFolder.write_artifact`).  The integrity rules it keeps are
listed in :mod:`workbench.runs.folder`: temporaries under dot-names, fsync and rename, parts validated on
resume and moved to ``parts/rejected/`` when they fail, one writer at a time under an OS lock, no link followed.
Long audio (:mod:`workbench.runs.longform`) writes its folder through the same writer (:meth:`RunWriter.write_file`,
:meth:`RunWriter.stream_file`).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, ContextManager, Iterator

import numpy as np

from workbench import files
from workbench.errors import printable
from workbench.files import json_default, strict_json
from workbench.paths import cache_dir
from workbench.runs.experiment import EXPERIMENT_FILE, MAX_CHUNK, Experiment, portable_summary, run_config_paths
from workbench.runs.artifacts import _ARTIFACT_RE, check_embeddings_header, check_run_table, held_here
from workbench.runs.folder import (
    _LEGACY_TMP_RE, _PART_RE, _TMP_RE, CONFIG, FRAME_EMBEDDINGS, LOCK, LOG, MANIFEST_COPY, PART_IDENTITY_KEY, PARTS,
    REJECTED, RESULTS, EMBEDDINGS, SUMMARY, CHECKPOINT_NOT_RUN, RunFolder, RunFolderError, _read_yaml, atomic_write, check_rows,
    frame_embedding_name, is_checkpoint_folder, select_mask,
)

logger = logging.getLogger(__name__)

#: the bytes of the parts (embeddings and tables) a writer keeps in memory for :meth:`RunWriter.finalize`; past it,
#: finalize reads the later parts back from disk
WRITTEN_KEPT_BYTES = 256 << 20
#: a part's parquet metadata: the number of values in each row of its .emb.npy (an .emb.npy put in its place with
#: another model's embeddings was taken, and finalize padded every other part's embeddings to its width with NaN)
PART_EMBEDDING_DIM_KEY = b"workbench.embedding_dim"


def _write_text(path: Path, text: str, *, root: Path | None = None) -> None:
    atomic_write(path, lambda f: f.write(text), text=True, root=root)


class RunWriter:
    """The writer of one run folder: :meth:`lock`, :meth:`prepare` (``config.yaml``), :meth:`write_part` per chunk,
    :meth:`finalize` (``results.parquet``, ``embeddings.npy``, ``summary.json``), :meth:`log`.

    ``RunWriter(path)`` or ``RunWriter(run_folder)``; :attr:`folder` is the reader of the same folder, which sees
    what the writer wrote (its config and final table are handed over, not read again).
    """

    def __init__(self, folder: "str | os.PathLike | RunFolder"):
        self.folder = folder if isinstance(folder, RunFolder) else RunFolder(folder)
        self._expected_rows: set[tuple[str, str]] | None = None
        # the parts this writer read as whole or made whole, by file identity (dev, inode) → name, and the names of the
        # parts it rejected: what finalize's account of missing rows tells apart (a part rejected, a part gone)
        self._known_parts: dict[tuple[int, int], str] = {}
        self._seen_parts: set[tuple[int, int]] = set()
        # the parts this writer made whole, kept for finalize: identity → ((parquet, embeddings) stamps, table, embeddings)
        self._written: dict[tuple[int, int], tuple[tuple, Any, np.ndarray]] = {}
        self._written_bytes = 0
        self.rejected: list[str] = []

    def __repr__(self) -> str:
        return f"RunWriter({str(self.path)!r})"

    @property
    def path(self) -> Path:
        return self.folder.path

    @property
    def config(self) -> dict:
        return self.folder.config

    @property
    def run_identity(self) -> str:
        return self.folder.run_identity

    def labels(self, table: Any = None) -> list[str]:
        return self.folder.labels(table)

    def check_links(self) -> None:
        self.folder.check_links()

    def write_file(self, name: str, writer: Callable[[Any], None], *, text: bool = False) -> Path:
        """Write one of the folder's own files (``summary.json``, ``log.txt`` …) atomically; ``name`` is a plain file name."""
        self._check_name(name)
        target = self.path / name
        atomic_write(target, writer, text=text, root=self.path)
        return target

    def stream_file(self, name: str) -> ContextManager[Any]:
        """A text file written row by row that appears under ``name`` only when the ``with`` block ends without an error."""
        self._check_name(name)
        try:
            return files.atomic_file(self.path / name, text=True)
        except files.UnsafePathError as exc:
            raise RunFolderError(exc.message, source=exc.source, fix=exc.fix) from None

    def _check_name(self, name: str) -> None:
        if not isinstance(name, str) or not _ARTIFACT_RE.match(name):
            raise RunFolderError(f"refuses to write a file named {name!r}: names are plain lower-case file names, never paths.",
                                 source=str(self.path), fix="use a fixed name such as summary.json.")
        self.check_links()

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the run folder's exclusive OS lock; refuse if another live process holds it."""
        import fcntl

        self._refuse_checkpoint()  # before the .lock: nothing of a run lands in a checkpoint folder
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
            with held_here(self.path):
                yield
        finally:
            os.close(fd)  # closing drops the flock; the file stays (deleting it would race a waiting run)

    def recorded_setting(self, key: str) -> Any:
        """The value ``config.yaml`` holds for ``key`` when this folder has a run (``None``: no run, or unreadable)."""
        cfg_path = self.path / CONFIG
        if not cfg_path.is_file():
            return None
        try:
            old = _read_yaml(cfg_path)
        except Exception:  # noqa: BLE001 — an unreadable config.yaml is prepare's to report, with its own message
            return None
        return old.get(key) if isinstance(old, dict) else None

    def _refuse_checkpoint(self) -> None:
        """A checkpoint folder's config.yaml is the model's: never read it as a run's, never write a run beside it."""
        if is_checkpoint_folder(self.path):
            raise RunFolderError(CHECKPOINT_NOT_RUN, source=str(self.path),
                                 fix="choose another --out folder for the run (the checkpoint goes to --model).")

    def refuse_foreign_folder(self) -> None:
        """Before a run starts: refuse an existing folder that holds no run but other files (the audio folder, infer's
        outputs), where a run's config.yaml, results and parts would land among them."""
        self._refuse_checkpoint()
        cache, here = cache_dir().absolute(), self.path.absolute()
        if cache == here or here in cache.parents:  # its logs/ read as "other files"; inside a run, written among its files
            raise RunFolderError(f"holds the workbench's cache (WORKBENCH_CACHE={printable(str(cache))}): its logs, checkpoints and "
                                 "exports would be written among the run's files.", source=str(self.path),
                                 fix="set WORKBENCH_CACHE to a folder outside your runs (unset, it is ~/.cache/emotion-workbench), "
                                     "or choose another --out folder.")
        if not self.path.is_dir() or (self.path / CONFIG).is_file():
            return
        foreign = sorted(e.name for e in os.scandir(self.path)
                         if e.name not in RunFolder.OWN_NAMES and not _TMP_RE.match(e.name) and not _LEGACY_TMP_RE.search(e.name))
        if foreign:
            shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise RunFolderError(f"holds other files ({shown}) and no run (no config.yaml); a run is not written among them.",
                                 source=str(self.path), fix="choose a new --out folder (it is created), or an empty one.")

    def check_resumable(self, known: dict) -> None:
        """Before the model loads: refuse a folder whose ``config.yaml`` differs in one of the ``known`` settings
        (those a run knows without its model, e.g. an explicit dtype), as :meth:`prepare` would after loading."""
        self._refuse_checkpoint()
        cfg_path = self.path / CONFIG
        if not cfg_path.is_file():
            return
        try:
            old = _read_yaml(cfg_path)
        except Exception:  # noqa: BLE001 — an unreadable config.yaml is prepare's to report, with its own message
            return
        if isinstance(old, dict):
            self._refuse_other_settings(old, known, tuple(known))

    def _refuse_other_settings(self, old: dict, config: dict, keys: tuple[str, ...]) -> None:
        diff = [k for k in keys if old.get(k) != config.get(k)]
        if not diff:
            return
        shown = []
        for k in diff:  # a short value says itself: "dtype float32 in the folder, int8 now"
            a, b = old.get(k), config.get(k)
            if all(v is None or isinstance(v, (str, int, float, bool)) and len(str(v)) <= 40 for v in (a, b)):
                shown.append(f"{k} {a} in the folder, {b} now")
            else:
                shown.append(k)
        raise RunFolderError(
            f"holds a run with other settings ({'; '.join(shown)}); it cannot be resumed with these.",
            source=str(self.path), fix="choose a new --out folder, or re-run with the settings in its config.yaml.",
        )

    def prepare(self, config: dict, identity_keys: tuple[str, ...]) -> bool:
        """Write ``config.yaml`` for a new run, or check that an existing one matches. Returns True when resuming."""
        import yaml

        self._refuse_checkpoint()
        cfg_path = self.path / CONFIG
        if cfg_path.is_file():  # compared and read with its paths absolute (older versions wrote them so)
            old = run_config_paths(_read_yaml(cfg_path), self.path)
            self._refuse_other_settings(old, run_config_paths(config, self.path), identity_keys)
            self.folder._config = old
            return True
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError("exists and is not a folder.", source=str(self.path), fix="choose another --out folder.")
        try:
            files.ensure_folder(self.path / PARTS, root=self.path)
        except files.UnsafePathError as exc:
            raise RunFolderError(exc.message, source=exc.source, fix=exc.fix) from None
        _write_text(cfg_path, yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
        self.folder._config = run_config_paths(config, self.path)
        return False

    def write_experiment(self, experiment: Experiment) -> None:
        _write_text(self.path / EXPERIMENT_FILE, experiment.to_yaml(self.path))

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
            files.append_text(self.path / LOG, f"{stamp} {printable(line)}\n")
        except files.UnsafePathError as exc:
            raise RunFolderError(exc.message, source=exc.source, fix=exc.fix) from None
        logger.info(line)

    def has_parts(self) -> bool:
        """Whether any part is on disk (a run resuming, or one whose parts were set aside to score again)."""
        return bool(self._parts())

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
        """Remove what dead writers left: our dot-temporaries (never a live process's) and earlier versions' ``*.tmp*`` names."""
        for d in (self.path, self.path / PARTS, self.path / FRAME_EMBEDDINGS):
            if not d.is_dir():
                continue
            for p in d.iterdir():
                if p.is_file() and not files.live_temporary(p.name) and (_TMP_RE.match(p.name) or (d.name == PARTS and _LEGACY_TMP_RE.search(p.name))
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
        self.rejected.append(part.name)
        self.log(f"WARNING: rejected {part.name}: {reason}; its rows will be computed again")

    def _check_part(self, part: Path):
        """Read a part and its embeddings; return (frame, emb) or the reason it is not whole.

        A part this writer made whole, whose two files are still the ones it wrote (device, inode, size, mtime and
        ctime, and the bytes' sha256: :func:`_fingerprint`), is taken from memory, not read back (issue #28: reading a 400-clip run's parts again
        took ~0.15 s at its end, with nothing else to do); its rows get the same checks."""
        import pandas as pd
        import pyarrow.parquet as pq

        if part.is_symlink() or _emb_path(part).is_symlink():
            return "a link, not a part this run wrote"
        written = self._written.get(_identity(part))
        if written is not None and written[0] == (_fingerprint(part), _fingerprint(_emb_path(part))):
            return self._check_rows_of(written[1].to_pandas(), written[2])
        try:
            check_run_table(part, max_rows=MAX_CHUNK)  # a planted part of a few MB that would unpack to gigabytes
            df = pd.read_parquet(part)
            meta = pq.read_schema(part).metadata or {}
        except Exception as exc:  # a torn or foreign file
            return f"unreadable parquet ({getattr(exc, 'message', '').rstrip('.') or type(exc).__name__})"
        identity = meta.get(PART_IDENTITY_KEY)
        if identity is not None and identity.decode("ascii", "replace") != self.run_identity:
            return (f"written by another run (run identity {identity.decode('ascii', 'replace')[:16]}, "
                    f"this run's is {self.run_identity}): other settings, other manifest or other model")
        for col in ("id", "variant", "status"):
            if col not in df.columns:
                return f"no {col!r} column"
        ep = _emb_path(part)
        try:
            check_embeddings_header(ep, len(df))  # a planted header may declare gigabytes of a sparse file
            emb = np.load(ep, allow_pickle=False)
        except Exception as exc:
            return f"embeddings unreadable ({str(exc)[:200] if isinstance(exc, ValueError) else type(exc).__name__})"
        declared = meta.get(PART_EMBEDDING_DIM_KEY)  # (parts written before it was recorded have none)
        if declared is not None and (emb.ndim != 2 or str(emb.shape[1]).encode("ascii") != declared):
            return (f"its embeddings have shape {emb.shape} where its table says {declared.decode('ascii', 'replace')[:20]} "
                    "values a row: not the embeddings written with it")
        return self._check_rows_of(df, emb)

    def _check_rows_of(self, df: Any, emb: np.ndarray):
        """A part's rows and embeddings checked as a whole part's must be: (df, emb), or the reason they are not."""
        if len(emb) != len(df):
            return f"{len(emb)} embeddings for {len(df)} rows"
        ok = select_mask(df)
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
        self._seen_parts = set()
        for _, part in self._parts():
            ident = _identity(part)
            if ident is not None:
                self._seen_parts.add(ident)  # found: kept, or rejected with its reason logged
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
                if ident is not None:
                    self._known_parts[ident] = part.name
        return out

    def parts_gone(self) -> list[str]:
        """The names of the parts this writer read as whole or wrote that the last :meth:`valid_parts` did not find in
        ``parts/`` (moved or deleted while the run went on; ``parts/`` moved away is made again by the next part)."""
        return [name for ident, name in self._known_parts.items() if ident not in self._seen_parts]

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

    def write_part(self, rows: list[dict], embs: list, frame_embs: dict | None = None, *,
                   commit: Callable[[Callable[[], None]], None] | None = None) -> Path | None:
        """Write one chunk's rows: frame embeddings, then embeddings, then the parquet that makes the part whole.

        ``commit(write)``: runs that last write (:class:`PartsInBackground` runs it under its lock, or refuses it)."""
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
        wrote: dict[str, os.stat_result] = {}  # each file as written, before its rename: what finalize may trust
        atomic_write(Path(f"{base}.emb.npy"), lambda f: _saved(f, wrote, "emb", np.save, mat), root=self.path)
        emb_stamp = _stamp_if_written(Path(f"{base}.emb.npy"), wrote.get("emb"))  # now: a swap before the parquet shows
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(pd.DataFrame(rows), preserve_index=False)
        # the part names the run that wrote it: a part copied in from another run is rejected on resume
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), PART_IDENTITY_KEY: self.run_identity.encode("ascii"),
                                               PART_EMBEDDING_DIM_KEY: str(dim).encode("ascii")})
        def whole() -> None:
            atomic_write(Path(f"{base}.parquet"), lambda f: _saved(f, wrote, "parquet", pq.write_table, table), root=self.path)

        whole() if commit is None else commit(whole)
        ident = _identity(Path(f"{base}.parquet"))
        if ident is not None:
            self._known_parts[ident] = f"{base.name}.parquet"
            stamps = (_stamp_if_written(Path(f"{base}.parquet"), wrote.get("parquet")), emb_stamp)
            size = mat.nbytes + table.nbytes  # the table too: a run of failed rows has no embeddings, long texts a big table
            # finalize takes it from here (see _check_part), if both files were still the ones written when stamped
            if None not in stamps and self._written_bytes + size <= WRITTEN_KEPT_BYTES:
                self._written[ident] = (stamps, table, mat)
                self._written_bytes += size
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
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(results, preserve_index=False)  # what DataFrame.to_parquet writes
        atomic_write(self.path / RESULTS, lambda f: pq.write_table(table, f))
        atomic_write(self.path / EMBEDDINGS, lambda f: np.save(f, emb))
        # the table as results.parquet gives it to any reader: the parts' frames concatenated held a column that one
        # part had all empty as objects (None), where the file has float64 (NaN); the summary and the run's own
        # reader (RunResult.results(), the closing lines) see what every later command reads
        results = table.to_pandas()
        data = summary(results)
        _write_text(self.path / SUMMARY, strict_json(portable_summary(data, self.path)))  # paths as config.yaml's
        self.folder._results = results
        return data


def _identity(part: Path) -> tuple[int, int] | None:
    """A file's (device, inode): a part moved away keeps it, the part later written under its name has another."""
    try:
        st = os.lstat(part)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _stamp(path: Path) -> tuple[int, ...] | None:
    """What changes when a file is written, replaced or edited in place (a ctime cannot be set back): see
    :func:`workbench.model.weights.file_sha256`."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _saved(f: Any, wrote: dict, key: str, save: Callable[[Any, Any], None], data: Any) -> None:
    """``save(data, f)`` (or ``save(f, data)`` for ``np.save``), then ``wrote[key]``: the written file's own stat."""
    save(f, data) if save is np.save else save(data, f)
    f.flush()
    wrote[key] = os.fstat(f.fileno())


def _stamp_if_written(path: Path, written: "os.stat_result | None") -> tuple[int, ...] | None:
    """:func:`_stamp` of ``path`` if it is still the file written (``written``: its stat before the rename, which keeps
    device, inode, size and mtime), else ``None``: a file put in its place or edited in between is never trusted."""
    stamp = _fingerprint(path)
    if written is None or stamp is None or stamp[:4] != (written.st_dev, written.st_ino, written.st_size, written.st_mtime_ns):
        return None
    return stamp


def _fingerprint(path: Path) -> tuple | None:
    """:func:`_stamp` and the sha256 of the bytes: a same-size edit within one tick of a coarse file-system clock keeps the
    stamp, not the digest (reading a part's bytes costs little; parsing it was what finalize spent its time on)."""
    stamp = _stamp(path)
    try:
        return None if stamp is None else (*stamp, files.sha256_file(path))
    except OSError:
        return None


def _emb_path(part: Path) -> Path:
    return part.with_name(part.name[: -len(".parquet")] + ".emb.npy")
