"""Where log lines go: the workbench's own to the screen, everybody else's to a file.

FunASR, ModelScope, jieba, matplotlib, UMAP, numba, Ray, papermill,
transformers … log to the root logger or to their own loggers, warn with
``warnings.warn`` and draw tqdm bars.  None of that is for the user's screen or
for a report ("trust_remote_code: False", "scope_map", "generated new
fontManager", "Loading weights 0%").  :func:`route_logs` is the one switch:

* every log record, whoever logs it, goes to a log file (the CLI's rolling
  ``<cache>/logs/workbench.log``, a report's ``report.log``);
* ``warnings.warn`` goes through logging (``py.warnings``), so to the file;
* on the console (stderr) only the workbench's own records appear, as one short
  line each; the random-weights banner is left to the command's own output,
  which states it once;
* the progress bars of Hugging Face libraries are switched off; in a report
  kernel every tqdm bar is (``TQDM_DISABLE``).

Calling it again replaces what an earlier call installed; handlers that others
installed on purpose (pytest's capture, a user's own) stay.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import logging.handlers
import os
import stat
import sys
import warnings
from pathlib import Path
from typing import Iterator

from workbench import files
from workbench.labels import RANDOM_WEIGHTS_BANNER
from workbench.paths import cache_dir

__all__ = ["route_logs", "routed_logs", "default_log_file", "is_own_record", "log_file"]

OWN = "workbench"
_MARK = "_workbench_route"  # attribute set on the handlers this module installs


def default_log_file() -> Path:
    """The CLI's log file: ``$WORKBENCH_LOG`` or ``<cache>/logs/workbench.log``."""
    return Path(os.path.expanduser(os.environ.get("WORKBENCH_LOG") or cache_dir() / "logs" / "workbench.log"))  # "~/wb.log" quoted


def is_own_record(record: logging.LogRecord) -> bool:
    return record.name == OWN or record.name.startswith(OWN + ".")


class _ConsoleFilter(logging.Filter):
    """Only the workbench's own records, at ``level`` and above, without the banner (``everyone``: all records)."""

    def __init__(self, level: int, everyone: bool = False):
        super().__init__()
        self.level = level
        self.everyone = everyone
        self.said: set[str] = set()  # the model's warnings already on the screen

    def filter(self, record: logging.LogRecord) -> bool:
        if self.everyone:
            return record.levelno >= self.level
        if not is_own_record(record) or record.levelno < self.level:
            return False
        # a checkpoint's warning once on the screen: `infer --model cue` said SYNTHETIC CUES 10 times, once per network
        # `--dtype auto` built to measure (walk18); the log file keeps every record
        if record.name.startswith(OWN + ".model") and record.levelno == logging.WARNING:
            if record.getMessage() in self.said:
                return False
            self.said.add(record.getMessage())
        # every command that loads random weights prints the banner itself, once
        return RANDOM_WEIGHTS_BANNER not in record.getMessage()


class _ConciseFormatter(logging.Formatter):
    """``message`` for INFO, ``warning: message`` above it: no logger names on the screen."""

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        if record.exc_info and record.levelno >= logging.ERROR:
            msg += "\n" + self.formatException(record.exc_info)
        return msg if record.levelno < logging.WARNING else f"{record.levelname.lower()}: {msg}"


def _quiet_progress_bars(all_bars: bool) -> None:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if all_bars:
        os.environ["TQDM_DISABLE"] = "1"
    # already imported: the environment variables above were read at import time
    if "huggingface_hub" in sys.modules:
        sys.modules["huggingface_hub"].utils.disable_progress_bars()
    if "transformers" in sys.modules:
        sys.modules["transformers"].utils.logging.disable_progress_bar()


def route_logs(log_path: str | os.PathLike | None = None, *, console: bool = True, verbose: bool = False,
               debug: bool = False, all_progress_bars: bool = False) -> Path:
    """Send every log record to ``log_path`` and only the workbench's own to stderr.

    Parameters
    ----------
    log_path
        File that receives all records (INFO and above, any logger, with time
        and logger name); default :func:`default_log_file`.  Its folder is made.
    console
        Show the workbench's own records on stderr (CLI).  A report kernel
        passes ``False``: everything goes to the file, nothing into the page.
    verbose
        Show the workbench's INFO records on the console, not only warnings.
    debug
        Show every record of every library on the console too (``--debug``).
    all_progress_bars
        Switch off every tqdm bar (a report has no use for them), not only the
        Hugging Face ones.

    Returns
    -------
    Path
        The log file's path.

    Examples
    --------
    >>> import logging
    >>> root = logging.getLogger()
    >>> before = list(root.handlers)
    >>> path = wb.route_logs("logs/example.log", console=False)
    >>> logging.getLogger("some.library").warning("a library's line goes to the file, not the screen")
    >>> "a library's line" in path.read_text(encoding="utf-8")
    True
    >>> for handler in set(root.handlers) - set(before): root.removeHandler(handler); handler.close()
    """
    path = Path(log_path) if log_path is not None else default_log_file()
    unwritable = _make_log_folder(path, explicit=log_path is not None)
    root = logging.getLogger()
    for h in list(root.handlers):
        # ours from an earlier call, and bare stream handlers that a library's basicConfig put there
        if getattr(h, _MARK, False) or type(h) is logging.StreamHandler:
            root.removeHandler(h)
            if getattr(h, _MARK, False) and isinstance(h, logging.FileHandler):
                h.close()
    file_handler, unwritable = _file_handler(path, explicit=log_path is not None, unwritable=unwritable)
    if file_handler is not None:
        file_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        file_handler.setLevel(logging.INFO)
        setattr(file_handler, _MARK, True)
        root.addHandler(file_handler)
    if console:
        screen = logging.StreamHandler(sys.stderr)
        screen.addFilter(_ConsoleFilter(logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING, everyone=debug))
        screen.setFormatter(_ConciseFormatter())
        setattr(screen, _MARK, True)
        root.addHandler(screen)
    # records below the root level are never made; INFO feeds the file
    root.setLevel(logging.DEBUG if debug else logging.INFO)
    logging.getLogger(OWN).setLevel(logging.INFO)
    # a later logging.basicConfig (FunASR calls it while loading) finds handlers and does nothing
    logging.captureWarnings(True)
    _quiet_progress_bars(all_progress_bars)
    if unwritable is not None:
        logging.getLogger(OWN).warning(
            "the log file %s cannot be written (%s): this command's log goes to the screen only; make %s a writable "
            "folder, or set WORKBENCH_LOG to a file elsewhere", path, unwritable, path.parent)
    return path


def _make_log_folder(path: Path, *, explicit: bool) -> str | None:
    """Make the log file's folder; for the default file in the cache, why it cannot be (a cache folder that is a file,
    or read-only, costs the file, not the command), else None.  A log file the caller named raises."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        if explicit:
            raise
        return _why(exc)
    if not explicit and not os.environ.get("WORKBENCH_LOG") and os.path.islink(path.parent):  # the cache's logs/ a link
        return f"its folder {path.parent} is a symbolic link, which the workbench does not write through"
    return None


def _why(exc: OSError) -> str:
    """Why a log file cannot be opened, in words (a link: said as such, not as 'Too many levels of symbolic links')."""
    if exc.errno == errno.ELOOP:
        return "it is a symbolic link, which the workbench does not write through"
    if exc.errno == errno.ENXIO:  # files.open_append's O_NONBLOCK open of a FIFO without a reader, or of a socket
        if exc.filename and os.path.exists(exc.filename) and stat.S_ISSOCK(os.stat(exc.filename).st_mode):
            return "it is a socket, which is no file to write lines into"
        return "it is a named pipe (FIFO) that no process reads, so writing to it would wait for ever"
    return os.strerror(exc.errno) if exc.errno else str(exc)


class _SaysOnce:
    """A log file that stops taking lines (a full disk, a file size limit) says so once on stderr; logging printed
    '--- Logging error ---' and a traceback for every record after it."""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 (logging's name)
        if getattr(self, "_failed", False):
            return
        self._failed = True
        exc = sys.exc_info()[1]
        why = os.strerror(exc.errno) if isinstance(exc, OSError) and exc.errno else str(exc)
        with contextlib.suppress(Exception):
            sys.stderr.write(f"warning: the log file {self.baseFilename} cannot be written ({why}): the rest of this "
                             "command's log is not kept there; free space or set WORKBENCH_LOG to a file elsewhere\n")

    def _open(self):  # noqa: D401 — logging's own open followed a link: a planted workbench.log → ~/.bashrc took every line
        return files.open_append(self.baseFilename, encoding=self.encoding, errors=self.errors)

    def close(self) -> None:  # its last flush fails the same way: a traceback after the command's own last line
        try:
            super().close()
        except OSError:
            self._failed = True


class _FileHandler(_SaysOnce, logging.FileHandler):
    pass


class _RotatingFileHandler(_SaysOnce, logging.handlers.RotatingFileHandler):
    pass


def _file_handler(path: Path, *, explicit: bool, unwritable: str | None) -> tuple[logging.Handler | None, str | None]:
    """The log file's handler (a named file, or the rotating default), or None with why the default cannot be written."""
    if explicit:
        return _FileHandler(path, encoding="utf-8"), None
    if unwritable is not None:
        return None, unwritable
    try:
        return _RotatingFileHandler(path, maxBytes=5_000_000, backupCount=2, encoding="utf-8"), None
    except OSError as exc:
        return None, _why(exc)


@contextlib.contextmanager
def routed_logs(log_path: str | os.PathLike | None = None, *, verbose: bool = False, debug: bool = False) -> Iterator[Path]:
    """:func:`route_logs` while a command runs; the logging set-up before it is restored afterwards.

    The CLI uses this, so that calling ``main()`` in-process (tests, scripts)
    leaves no handler behind that writes to a stream that is gone.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    own_level = logging.getLogger(OWN).level
    showwarning = warnings.showwarning
    try:
        yield route_logs(log_path, verbose=verbose, debug=debug)
    finally:
        for h in list(root.handlers):
            if h not in handlers:
                root.removeHandler(h)
                h.close()
        for h in handlers:
            if h not in root.handlers:
                root.addHandler(h)
        root.setLevel(level)
        logging.getLogger(OWN).setLevel(own_level)
        logging.captureWarnings(False)
        warnings.showwarning = showwarning


def log_file() -> Path | None:
    """The file :func:`route_logs` writes to now, or ``None``."""
    for h in logging.getLogger().handlers:
        if getattr(h, _MARK, False) and isinstance(h, logging.FileHandler):
            return Path(h.baseFilename)
    return None


#: seconds between two progress lines when stderr is a pipe or a file (each a whole line there, not a redraw)
PIPED_PROGRESS_EVERY_S = 10.0


def progress_stream():
    """Where a progress line goes: stderr itself, under the command line's guard (``cli.common.TerminalGuard``), which
    escapes the carriage returns a progress line is made of.  Progress lines print the workbench's own counts, never
    text from data, so they need no guard.  When stderr is not a terminal (``2>&1 | cat``, a log file, a notebook's
    capture) each redraw becomes a whole line (:class:`WholeLines`): carriage returns there made one endless line."""
    stream = getattr(sys.stderr, "unguarded", sys.stderr)
    isatty = getattr(stream, "isatty", None)
    return stream if callable(isatty) and isatty() else WholeLines(stream)


def progress_bar_class() -> type:
    """tqdm's bar class: the notebook's widget bar where IPython runs (``tqdm.auto``), else the terminal's (``tqdm.std``;
    ``tqdm.auto`` would also import asyncio, ~15 ms of every ``workbench run``'s start, issue #28)."""
    if "IPython" in sys.modules:
        from tqdm.auto import tqdm
    else:
        from tqdm.std import tqdm
    return tqdm


def progress_options() -> dict:
    """tqdm's ``file`` and ``mininterval``: a redraw every 0.1 s on a terminal, a whole line every
    :data:`PIPED_PROGRESS_EVERY_S` seconds (and the first and last) into a pipe or a file."""
    stream = progress_stream()
    return {"file": stream, "mininterval": PIPED_PROGRESS_EVERY_S if isinstance(stream, WholeLines) else 0.1}


class WholeLines:
    """A progress stream for a pipe or a file: each carriage-return redraw is written as one whole line; the blank
    redraw that clears a bar and cursor moves are dropped."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        line = text.replace("\x1b[A", "").replace("\r", "").strip()
        if line:
            self.stream.write(line + "\n")
        return len(text)

    def isatty(self) -> bool:
        return False

    def __getattr__(self, name: str):  # flush, fileno, encoding ...
        return getattr(self.stream, name)

