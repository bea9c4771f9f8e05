"""Derived outputs of a run: metrics, figures, comparisons, calibration, features, cached projections.

Each feature declares the names of its own outputs (``calibration.json`` in :mod:`workbench.analysis.calibration`,
``features_<set>.parquet`` in :mod:`workbench.explain.cues` …); they enter a run folder only through
:meth:`Artifacts.write_artifact` (plain lower-case names, never paths or the run's own files, written atomically,
no link followed) and are read back with :meth:`Artifacts.artifact`.  :class:`~workbench.runs.folder.RunFolder`
has these methods.
"""

from __future__ import annotations

import hashlib
import io
import re
import textwrap
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np

import contextlib
import errno
import os

from workbench import files
from workbench.errors import ConfigError, WorkbenchError
from workbench.labels import RANDOM_WEIGHTS_MARK
from workbench.data.cards import overlap_short, run_training_overlap
from workbench.data.parquet_check import check_parquet
from workbench.files import json_safe as _json_safe, strict_json
from workbench.runs.experiment import ARTIFACT_PATHS, portable_summary, summary_paths
from workbench.serialize import TABLE_MAX_BYTES, loads_json, read_bytes_capped, read_spreadsheet_csv, shown

ARTIFACT_INDEX = "artifacts.json"
#: artifact names: lower-case words, digits, ``_`` and ``-`` with one extension; never a path
_ARTIFACT_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,80}\.(png|json|csv|html|txt|parquet|npy|npz|wav)$")
_PLAIN_PART_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_MISSING = object()


class RunFolderError(ConfigError):
    """A run folder that is busy, incomplete, inconsistent, or cannot be written."""

    code = "run_folder"


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



#: the run folders whose ``.lock`` this process holds (:meth:`RunWriter.lock`): its own derived writes go on
_HELD_HERE: set[str] = set()
RUN_LOCK = ".lock"  # RunWriter's lock file (workbench.runs.folder.LOCK)


@contextlib.contextmanager
def held_here(folder: Path) -> Iterator[None]:
    """While this process holds ``folder``'s run lock: :func:`refuse_while_a_run_writes` lets its writes through."""
    key = os.path.abspath(folder)
    _HELD_HERE.add(key)
    try:
        yield
    finally:
        _HELD_HERE.discard(key)


def refuse_while_a_run_writes(folder: Path) -> None:
    """Refuse (:class:`RunFolderError`) a derived output while another process's ``workbench run`` holds the folder's
    lock: `calibrate` (`metrics`, `explain` …) during a resumed run wrote figures of the rows read before the run
    replaced results.parquet, and nothing said they were stale."""
    import fcntl

    if os.path.abspath(folder) in _HELD_HERE:
        return
    try:
        fd = os.open(Path(folder) / RUN_LOCK, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return  # no lock file (or a link, which the writer reports): no run holds it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        holder = os.pread(fd, 512, 0).decode("utf-8", "replace").strip() or "another process"
        raise RunFolderError(f"is being written by a run ({holder}); an output written now would describe rows that are "
                             "about to change.", source=str(folder),
                             fix="wait for that run to finish (or stop it), then run this command again.") from None
    finally:
        os.close(fd)  # drops the shared lock at once: outputs never keep a run from starting


@contextlib.contextmanager
def _folder_flock(folder: Path) -> Iterator[None]:
    """An exclusive ``flock`` on the folder itself, held for a read-modify-write of milliseconds (no file is added)."""
    import fcntl

    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


#: what a figure of a run on its checkpoint's training data carries at its foot (the PNG travels without the run's warning),
#: when its warnings name nothing shorter (:func:`training_overlap_mark`)
TRAINING_OVERLAP_MARK = "TRAINING DATA: the checkpoint saw this corpus or these speakers in training; not an independent test"


def training_overlap_mark(overlap: "list[str] | tuple[str, ...]") -> str:
    """The mark of a figure of a run with training-data warnings ``overlap``: which corpus or speakers, in short
    ("TRAINING DATA: speakers spk0, spk1 (2 of 4) trained head ckpt; not an independent test"), else the generic one."""
    short = overlap_short(overlap)
    return f"TRAINING DATA: {short}; not an independent test" if short else TRAINING_OVERLAP_MARK


def mark_random_weights(fig: Any, *, overlap: "list[str] | tuple[str, ...]" = (), random_weights: bool = True) -> dict:
    """Write :data:`~workbench.labels.RANDOM_WEIGHTS_MARK` at the foot of ``fig`` (a figure of a random-weights model);
    returns what ``artifacts.json`` records beside the file (``random_weights_mark``).  :meth:`Artifacts.write_figure`
    calls it; a figure saved to bytes first (explain's) calls it before saving.  A figure laid out by an engine
    (``layout="constrained"``) keeps a strip at its foot for it, so it covers no axis label; any other figure whose
    content reaches into that strip (rotated tick labels, a legend under the axes) grows at its foot instead, its
    content moved up, so the mark is written under the lowest label, not across it.

    ``overlap``: the run's training-data warnings (:func:`workbench.data.cards.run_training_overlap`); when there are
    any, :func:`training_overlap_mark` is written too (recorded as ``training_overlap_mark`` and ``training_overlap``),
    above the random-weights mark, or alone with ``random_weights=False``."""
    from matplotlib.layout_engine import ConstrainedLayoutEngine, TightLayoutEngine

    lines = ([RANDOM_WEIGHTS_MARK] if random_weights else []) + ([training_overlap_mark(overlap)] if overlap else [])
    if not lines:
        return {}
    marked, lines = lines[-1], _fit_width(fig, lines)
    engine = fig.get_layout_engine()
    height = float(fig.get_size_inches()[1])
    if isinstance(engine, (ConstrainedLayoutEngine, TightLayoutEngine)):
        strip = 0.16 * len(lines) / max(height, 1.0)
        engine.set(rect=(0.0, strip, 1.0, 1.0 - strip))
    else:
        _room_at_foot(fig, 0.16 * len(lines))
        height = float(fig.get_size_inches()[1])
    for k, line in enumerate(lines):  # the first at the very foot, each next one a line above it
        fig.text(0.5, (0.02 + k * 0.14) / height, line, ha="center", va="bottom", fontsize=7, color="crimson")
    meta = {"random_weights_mark": RANDOM_WEIGHTS_MARK} if random_weights else {}
    return {**meta, **({"training_overlap_mark": marked, "training_overlap": list(overlap)} if overlap else {})}


def _fit_width(fig: Any, lines: list[str]) -> list[str]:
    """``lines`` of a mark, each broken at its spaces into pieces no wider than ``fig`` (measured at the mark's 7 pt), in
    stacking order: the foot first, a broken line's first piece on top.  A 5.5-inch reliability diagram cut the
    training-data mark ("TRAINING DATA: speakers …; not an independent test") at both edges."""
    renderer = fig._get_renderer()
    room = 0.88 * fig.bbox.width  # text hinting makes a line up to 8 % wider at one dpi than another (110 against 100)
    fitted: list[str] = []
    for line in lines:
        probe = fig.text(0.5, 0.0, line, fontsize=7)
        width = probe.get_window_extent(renderer).width
        probe.remove()
        chars = len(line) if width <= room else max(20, int(len(line) * room / width))
        fitted.extend(reversed(textwrap.wrap(line, chars) or [line]))
    return fitted


def _room_at_foot(fig: Any, strip_in: float) -> None:
    """Grow ``fig`` at its foot until its lowest drawn content (tick labels, axis labels, legends; measured, in inches)
    lies ``strip_in`` above the bottom edge, moving every axes and figure text up by what was added."""
    bottom = fig.get_tightbbox(fig._get_renderer()).y0  # inches from the figure's bottom edge; below 0 when it spills
    need = strip_in - bottom
    if need <= 0:
        return
    w, h = (float(v) for v in fig.get_size_inches())
    fig.set_size_inches(w, h + need)
    lift = lambda y: (y * h + need) / (h + need)  # noqa: E731 - a figure fraction, kept at its inches above the content
    for ax in fig.axes:
        pos = ax.get_position(original=True)
        ax.set_position([pos.x0, lift(pos.y0), pos.width, pos.height * h / (h + need)])
    for text in fig.texts:
        x, y = text.get_position()
        text.set_y(lift(y))


class Artifacts:
    """The derived-output methods of :class:`~workbench.runs.folder.RunFolder` (it supplies ``path``,
    ``check_links``, ``random_weights`` and its own file names)."""

    path: Path
    OWN_NAMES: tuple = ()

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
        if not isinstance(name, str) or not _ARTIFACT_RE.match(name) or name in self.OWN_NAMES:
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
        refuse_while_a_run_writes(self.path)
        atomic_write(target, writer, text=text)
        if meta:
            with _folder_flock(self.path):  # read, add, write: two commands adding entries at once kept only one's
                index = self._artifact_index()
                index[name] = _json_safe(meta)
                atomic_write(self.path / ARTIFACT_INDEX, lambda f: f.write(strict_json(index)), text=True)
        return target

    def write_json(self, name: str, payload: Any, *, meta: dict | None = None) -> Path:
        """Write ``payload`` as strict JSON (NaN → null) through :meth:`write_artifact`.

        A dict payload gets ``random_weights: true`` when the run was scored with random weights, and its paths
        (:data:`~workbench.runs.experiment.ARTIFACT_PATHS`: the run's model …) are written as ``summary.json`` writes
        them, relative to this folder or under ``~`` (calibration.json named the author's home folder in full);
        :meth:`artifact` reads them back absolute.
        """
        if isinstance(payload, dict) and self.random_weights:
            payload = {**payload, "random_weights": True}
        payload = portable_summary(payload, self.path, ARTIFACT_PATHS)
        text = strict_json(payload)
        return self.write_artifact(name, lambda f: f.write(text), text=True, meta=meta)

    def write_figure(self, name: str, fig: Any, *, meta: dict | None = None, dpi: int = 110) -> Path:
        """Save a matplotlib figure as PNG through :meth:`write_artifact` and close it.  Its titles (the figure's and each
        axes', where a failed check is said) are recorded in ``artifacts.json`` beside ``meta``, so what the PNG says can
        be read without looking at it."""
        import matplotlib.pyplot as plt

        try:
            titles = shown_titles(fig)
            meta = {**(meta or {}), "titles": titles} if titles else meta
            # a PNG travels without the screen's banner and the run's warnings: it says so itself
            meta = {**(meta or {}), **mark_random_weights(fig, random_weights=self.figures_of_random_weights(),
                                                           overlap=self.figures_training_overlap())} or meta
            return self.write_artifact(name, lambda f: fig.savefig(f, format="png", dpi=dpi), meta=meta)
        finally:
            plt.close(fig)

    def remove_outputs(self, family: "re.Pattern[str]", *, keep: "set[str] | frozenset[str]" = frozenset()) -> list[str]:
        """Remove the derived outputs whose names ``family`` matches (but for ``keep``) and their ``artifacts.json``
        entries: what an earlier invocation of a command wrote that this one does not write again (``calibrate
        --variant a`` after ``calibrate``: the first one's figures of the other variants beside the second's
        ``calibration.json``).  Refused as a write is: while another process's run writes the folder, and where the
        folder's own files are links (so nothing is removed through one).  Returns the names removed."""
        self.check_links()
        refuse_while_a_run_writes(self.path)
        try:
            names = sorted(e.name for e in os.scandir(self.path) if e.is_file(follow_symlinks=False))
        except FileNotFoundError:
            names = []
        stale = [n for n in names if _ARTIFACT_RE.match(n) and n not in self.OWN_NAMES and family.match(n) and n not in keep]
        for name in stale:
            files.remove_file(self.path / name)
        with _folder_flock(self.path):
            index = self._artifact_index()
            gone = [n for n in index if family.match(n) and n not in keep and not (self.path / n).is_file()]
            if gone:
                for name in gone:
                    del index[name]
                atomic_write(self.path / ARTIFACT_INDEX, lambda f: f.write(strict_json(index)), text=True)
        return stale

    #: for an output folder (``--out``): whether the run it was made from has random weights (set by ``output_folder``);
    #: ``None`` for a run folder, whose own summary says
    random_weights_source: bool | None = None

    def figures_of_random_weights(self) -> bool:
        """Whether figures written here show a random-weights run: this run's own, or the run an output folder
        (``--out``) was made from (:attr:`random_weights_source`)."""
        if self.random_weights_source is not None:
            return self.random_weights_source
        return bool(getattr(self, "random_weights", False))

    #: for an output folder (``--out``): the training-data warnings of the run it was made from (set by ``output_folder``);
    #: ``None`` for a run folder, whose model and rows say
    training_overlap_source: "list[str] | None" = None

    def figures_training_overlap(self) -> list[str]:
        """The training-data warnings of the run the figures written here show (a fine-tuned head on speakers it trained
        on, a corpus on the checkpoint's card): this run folder's own, or :attr:`training_overlap_source`."""
        if self.training_overlap_source is not None:
            return list(self.training_overlap_source)
        if not (self.path / "results.parquet").is_file():
            return []
        try:
            return run_training_overlap(self)
        except WorkbenchError:  # an unreadable card or table says nothing about overlap; the figure is still written
            return []

    def artifact(self, name: str, default: Any = _MISSING) -> Any:
        """A derived output written by :meth:`write_artifact`, read by its extension: ``.json`` → the parsed value,
        ``.parquet``/``.csv`` → a DataFrame, ``.npy`` → an array, ``.npz`` → a dict of arrays, ``.txt``/``.html`` →
        text, ``.png``/``.wav`` → bytes.

        Parameters
        ----------
        name : str
            The output's file name (each feature declares its own: ``calibration.json``, ``features_praat.parquet`` …).
        default : optional
            Returned when the run has no such output; without it a missing output raises :class:`RunFolderError`.
        """
        if not isinstance(name, str) or not _ARTIFACT_RE.match(name):
            raise RunFolderError(f"has no output named {name!r}: output names are plain lower-case file names.",
                                 source=str(self.path), fix="pass the name the feature wrote (e.g. 'calibration.json').")
        p = self.path / name
        if p.is_symlink() or not p.is_file():
            if default is not _MISSING:
                return default
            raise RunFolderError(f"has no {name}.", source=str(self.path), fix="run the command that writes it on this run first.")
        try:
            data = _read_artifact(p)
            return summary_paths(data, self.path, ARTIFACT_PATHS) if p.suffix == ".json" else data  # paths absolute here
        except ConfigError:
            raise  # over the cap, or not a regular file: the message names the file and the fix
        except Exception as exc:  # a torn or foreign file: json, numpy and pyarrow raise their own types
            raise RunFolderError(f"cannot read {name} ({type(exc).__name__}: {str(exc)[:200]}).", source=str(self.path),
                                 fix="run the command that writes it on this run again.") from None

    def artifacts(self) -> dict[str, dict]:
        """``{file name: meta}`` of the derived outputs written with a ``meta`` (which variant a figure shows …)."""
        return self._artifact_index()

    def _artifact_index(self) -> dict:
        p = self.path / ARTIFACT_INDEX
        if p.is_symlink() or not p.is_file():
            return {}
        try:
            data = loads_json(_capped_bytes(p))
        except (OSError, ValueError, ConfigError):
            return {}
        return data if isinstance(data, dict) else {}


#: the most bytes a run folder's .json or .csv output is read to (a table's cap): they were read whole, so a planted or
#: runaway file of gigabytes filled memory before anything was said
OUTPUT_MAX_BYTES = TABLE_MAX_BYTES
#: the most rows a run folder's table may hold (a corpus of 1.3 million clips × a few variants is about 5 million)
RESULTS_MAX_ROWS = 50_000_000


def check_run_table(p: Path, *, max_rows: int = RESULTS_MAX_ROWS,
                    fix: str = "check that this is the file the run wrote; remove it and run the command that writes it again.") -> None:
    """Refuse (:class:`RunFolderError`) a run folder's parquet table that would unpack past the cap before it is read
    (:func:`workbench.data.parquet_check.check_parquet`): a 0.5 MB results.parquet of one repeated note took 1.5 GB."""
    try:
        check_parquet(p, max_bytes=OUTPUT_MAX_BYTES, max_rows=max_rows, name=p.name, what="a run folder's table")
    except ConfigError as exc:
        raise RunFolderError(exc.message, source=str(p), fix=fix) from None


#: the sections of a run's summary.json that are JSON objects: every reader looks into them (`.get`)
SUMMARY_OBJECTS = ("model", "engine", "variants", "environment", "precision")


def summary_problem(data: Any) -> str | None:
    """What makes a parsed ``summary.json`` unusable (``data`` is the parse error, or the value), or None.

    A received run's summary whose ``environment`` was a list ended ``workbench metrics`` and the re-run check of
    ``workbench run RUN/experiment.yaml`` in 'unexpected AttributeError' (after the whole re-run had scored), and a
    package version holding a line break printed a line of its own on the terminal."""
    if isinstance(data, Exception):
        return str(getattr(data, "message", data)).rstrip(".")
    if not isinstance(data, dict):
        return "not a JSON object"
    for key in SUMMARY_OBJECTS:
        if data.get(key) is not None and not isinstance(data[key], dict):
            return f"its {key!r} is {type(data[key]).__name__}, not an object"
    if not all(isinstance(v, dict) for v in (data.get("variants") or {}).values()):
        return "a variant of its 'variants' is not an object"
    env = data.get("environment") or {}
    texts = {"workbench": env.get("workbench"), "workbench_commit": env.get("workbench_commit"), "python": env.get("python"),
             "platform": env.get("platform")}
    packages = env.get("packages")
    if packages is not None and not isinstance(packages, dict):
        return f"its environment's 'packages' is {type(packages).__name__}, not an object"
    texts.update({f"packages.{k}": v for k, v in (packages or {}).items()})
    for key, value in texts.items():  # versions: short words, shown on screens and pages as they are
        if value is not None and not (isinstance(value, str) and len(value) <= 200 and value.isprintable()):
            return f"its environment's {shown(key, 40)} is {shown(value, 40)}, not a version (one short line of text)"
    return None


def _capped_bytes(p: Path) -> bytes:
    """The bytes of a run folder's output, refused past :data:`OUTPUT_MAX_BYTES` with its name, size and the cap."""
    size = p.stat().st_size
    if size > OUTPUT_MAX_BYTES:
        raise RunFolderError(f"{p.name} is {size:,} bytes; the cap for a run folder's .json or .csv output is "
                             f"{OUTPUT_MAX_BYTES:,}, so it is not read.", source=str(p),
                             fix="check that this is the file the run wrote; remove it and run the command that writes it again.")
    return read_bytes_capped(p, max_bytes=OUTPUT_MAX_BYTES, what="a run folder's output", decompress=False)


def read_output_csv(p: Path, *, numeric: Sequence[str] = (), text: Sequence[str] = ()) -> Any:
    """A CSV a command wrote (:func:`read_spreadsheet_csv`, under the output cap), refused in one line naming the file
    when it does not read as one: a ragged row, bytes that are not UTF-8, no columns, a column of ``numeric`` or
    ``text`` missing, or a ``numeric`` column holding text.  A hand-edited or foreign file raised pandas' ParserError,
    UnicodeDecodeError, a KeyError or a TypeError from inside the view."""
    import pandas as pd

    fix = "check that this is the file the command wrote; remove the folder and run the command that writes it again."
    try:
        frame = read_spreadsheet_csv(_capped_bytes(p))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, ValueError) as exc:
        raise RunFolderError(f"does not read as the CSV table it should be ({shown(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)}).",
                             source=str(p), fix=fix) from None
    missing = [c for c in (*numeric, *text) if c not in frame.columns]
    if missing:
        raise RunFolderError(f"has no column {', '.join(missing)} (its columns: {shown(', '.join(map(str, frame.columns)))}).",
                             source=str(p), fix=fix)
    for c in numeric:
        values = pd.to_numeric(frame[c], errors="coerce")
        bad = np.flatnonzero(values.isna().to_numpy() & frame[c].notna().to_numpy())
        if len(bad):
            raise RunFolderError(f"column {c} holds {shown(frame[c].iloc[bad[0]])} on row {bad[0] + 2}, not a number"
                                 + (f" (and {len(bad) - 1} more row(s))" if len(bad) > 1 else "") + ".", source=str(p), fix=fix)
        frame[c] = values
    return frame


def _read_artifact(p: Path) -> Any:
    ext = p.suffix.lower()
    if ext == ".json":
        return loads_json(_capped_bytes(p).decode("utf-8"))
    if ext in (".parquet", ".csv"):
        import pandas as pd

        if ext == ".parquet":
            check_run_table(p)
        # a CSV the workbench wrote: its cells decoded back to the values written (``'=1+2`` is ``=1+2``)
        return pd.read_parquet(p) if ext == ".parquet" else read_output_csv(p)
    if ext in (".npy", ".npz"):
        return read_arrays_capped(p)
    if ext in (".txt", ".html"):
        return _capped_bytes(p).decode("utf-8")
    return _capped_bytes(p)


#: the widest embedding a run may hold (an emotion2vec network's embed_dim is at most this, checkpoint_safety's limit)
MAX_EMBED_DIM = 16384


def npy_shape(p: Path) -> tuple[tuple, Any]:
    """``(shape, dtype)`` an ``.npy`` file's header declares, read without its data (``ValueError`` for no .npy)."""
    fmt = np.lib.format
    with open(p, "rb") as f:
        read = fmt.read_array_header_1_0 if fmt.read_magic(f) == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = read(f)
    return tuple(shape), dtype


def check_embeddings_header(p: Path, rows: int) -> None:
    """Raise ``ValueError`` saying why a run's embeddings file cannot be ``rows`` × (at most :data:`MAX_EMBED_DIM`)
    numbers, judged from its header before the data is read: a 4 kB sparse embeddings.npy declaring 9 × 40 million took
    `workbench embeddings` to 12 GB and past 5 minutes."""
    shape, dtype = npy_shape(p)
    if len(shape) != 2 or dtype.kind not in "fiu":
        raise ValueError(f"shape {shape} of {dtype}, not (rows, dimensions) of numbers")
    if shape[0] != rows or not 0 <= shape[1] <= MAX_EMBED_DIM:
        raise ValueError(f"{shape[0]} rows of {shape[1]} dimensions for {rows} result rows (at most {MAX_EMBED_DIM} dimensions)")


def read_arrays_capped(p: Path) -> Any:
    """The array of a ``.npy`` or the ``{name: array}`` of a ``.npz`` someone else may have written, refused
    (:class:`RunFolderError`) before any array is made when the file, the sizes its zip directory declares unpacked,
    or the shape an array's header claims, is over the cap (:data:`OUTPUT_MAX_BYTES`); never a pickle.  A 2 MB
    ``projection_tsne_cache.npz`` of zeros unpacked to 2.3 GB in `workbench embeddings --project tsne`."""
    import zipfile

    cap = OUTPUT_MAX_BYTES
    fmt = np.lib.format

    def claimed(f) -> int:
        read = fmt.read_array_header_1_0 if fmt.read_magic(f) == (1, 0) else fmt.read_array_header_2_0  # 3.0 as 2.0
        shape, _, dtype = read(f)
        return int(np.prod(shape, dtype=object)) * dtype.itemsize

    def refuse(fact: str):
        raise RunFolderError(f"{p.name} {fact}, so it is not read.", source=str(p),
                             fix="check that this is the file that was written; remove it and write it again.")

    data = io.BytesIO(_capped_bytes(p))
    if p.suffix.lower() == ".npy":
        if claimed(data) > len(data.getvalue()):
            refuse(f"declares an array of {claimed(io.BytesIO(data.getvalue())):,} bytes in a file of {len(data.getvalue()):,}")
        data.seek(0)
        return fmt.read_array(data, allow_pickle=False)
    with zipfile.ZipFile(data) as zf:
        infos = zf.infolist()
        if sum(i.file_size for i in infos) > cap:
            refuse(f"unpacks to {sum(i.file_size for i in infos):,} bytes, over the cap of {cap:,}")
        out = {}
        for info in infos:
            with zf.open(info) as member:
                if claimed(member) > info.file_size:
                    refuse(f"declares an array {info.filename!r} larger than the {info.file_size:,} bytes it unpacks to")
            with zf.open(info) as member:
                out[info.filename.removesuffix(".npy")] = fmt.read_array(member, allow_pickle=False)
        return out


def shown_titles(fig: Any) -> list[str]:
    """The titles of a matplotlib figure as drawn (its suptitle, then each axes' centre, left and right titles), non-empty
    ones only; mathtext escapes (``\\$``) undone, so they read as the figure shows them."""
    sup = getattr(fig, "_suptitle", None)
    texts = [sup.get_text()] if sup is not None else []
    texts += [ax.get_title(loc) for ax in fig.axes for loc in ("center", "left", "right")]
    return [t.replace("\\$", "$") for t in texts if t]
