"""Ctrl-C stops every command at every moment: exit 130, one line, no traceback.

Python turns SIGINT into a ``KeyboardInterrupt`` raised wherever the main thread is.  Third-party
code can swallow it: FunASR 1.4 wraps parts of its start-up in bare ``except:`` clauses (its update
check in ``AutoModel.__init__``, optional imports of its model modules), so a Ctrl-C 2-3.5 s into
``workbench run`` was ignored in 4 of 9 tries (issue #19), and once left a half-imported scipy
behind (``NameError: name '_ndimage_api' is not defined`` later on).

So the command line installs :func:`handler`, which *records* the interrupt before raising, and
wraps the places where third-party code runs during start-up in :func:`guard`: when the block
returns although an interrupt was recorded, the interrupt is raised again.  :func:`check` does the
same between chunks of work.  An interrupt that reaches the top of the process (while the CLI's
own modules import) prints the same line and exits 130 through :func:`_excepthook`.

SIGTERM (``kill PID``, ``timeout``, a job scheduler or container stopping the command) goes through the same handler:
it killed the process outright before (exit -15, no line, the temporary of the file being written left behind); now
the command stops as on Ctrl-C, with exit 143 (128 + SIGTERM) and the same line, "interrupted by SIGTERM".

This module imports only the standard library: it must be usable before anything heavy loads.
"""

from __future__ import annotations

import os
import signal
import sys

if sys.argv[:1] == ["-m"] or os.path.basename(sys.argv[0] if sys.argv else "") == "workbench":
    # the `workbench` command: count the Ctrl-C from the first line of the package on (the rest of this
    # module, and the install below, follow); until then Python's own handler would print a traceback
    def _early(signum, frame):
        run = [a for a in sys.argv[1:] if not a.startswith("-")][:1] == ["run"]
        by = b" by SIGTERM" if signum == signal.SIGTERM else b""
        os.write(2, b"interrupted" + by + (b"; `workbench run` with the same --out resumes where it stopped" if run else b"") + b"\n")
        os._exit(128 + signum)

    signal.signal(signal.SIGINT, _early)
    signal.signal(signal.SIGTERM, _early)  # `kill PID`, a job scheduler's stop, a container's: as a Ctrl-C

import threading  # noqa: E402  (after the early handler: each import is a moment a Ctrl-C can arrive)
from contextlib import contextmanager  # noqa: E402
from typing import Iterator  # noqa: E402

#: the exit status of an interrupted command (128 + SIGINT), as shells report it
EXIT_INTERRUPTED = 130
RESUME_HINT = "; `workbench run` with the same --out resumes where it stopped"
#: a sweep is a run folder too: the same command with its --out (the sweep's log.txt names it) resumes it
SWEEP_RESUME_HINT = "; `workbench sweep` with the same --out resumes where it stopped (its log.txt has the command)"

#: the signals that stop a command the way a Ctrl-C does: SIGTERM (``kill PID``, ``timeout``, a scheduler or container
#: stopping the job) killed the process outright before, leaving ``.NAME.tmp-…`` files and no line (exit -15)
SIGNALS = (signal.SIGINT, signal.SIGTERM)

_pending = threading.Event()
_installed = False
_signum = signal.SIGINT  # the signal recorded last: the exit status is 128 + it (130 for Ctrl-C, 143 for SIGTERM)


_deferring = 0  # > 0 inside deferred(): the handler records and returns


def handler(signum, frame) -> None:
    """The SIGINT handler: remember the interrupt (a bare ``except:`` may eat the exception), then raise it.

    Inside :func:`deferred` it only records: the block raises it when it ends.  SIGTERM is handled the same way.
    """
    note(signum)
    if _deferring:
        return
    raise KeyboardInterrupt


def note(signum: int) -> None:
    """Record an interrupt by ``signum`` (SIGINT or SIGTERM) without raising it."""
    global _signum
    _signum = signum if signum in SIGNALS else signal.SIGINT
    _pending.set()


def pending() -> bool:
    """Whether an interrupt arrived that has not been acted on."""
    return _pending.is_set()


def clear() -> None:
    global _signum
    _pending.clear()
    _signum = signal.SIGINT


def exit_status() -> int:
    """The exit status of the interrupted command: 128 + the signal, as shells report it (130 Ctrl-C, 143 SIGTERM)."""
    return 128 + int(_signum)


def check() -> None:
    """Raise ``KeyboardInterrupt`` if an interrupt was recorded (and perhaps swallowed) since the last clear."""
    if _pending.is_set():
        raise KeyboardInterrupt


@contextmanager
def guard() -> Iterator[None]:
    """Run third-party code that may swallow ``KeyboardInterrupt``; raise it again after the block if it did.

    ::

        with interrupts.guard():
            import funasr   # its bare ``except:`` clauses cannot hide a Ctrl-C any more
    """
    yield
    check()


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a Ctrl-C until the block ends, then raise it: for imports that must not be cut in half.

    A ``KeyboardInterrupt`` raised inside ``import torch`` can abort the process (SIGABRT, exit -6: it
    crosses torch's C++ start-up), and one raised inside FunASR's imports can leave a half-imported
    module behind (scipy's ``_ndimage_api``).  The block is short (seconds at most), so the command
    still stops, just after it.

    Where :func:`handler` is not the SIGINT handler (the Python API, a notebook), the block holds the
    Ctrl-C too: in the main thread, Python's own handler is replaced for the block by one that records,
    and the interrupt is raised (or a handler of the caller's called) when the block ends.
    """
    global _deferring
    previous = _take_over()
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if previous is not None:
            _give_back(previous)
    check()


_held = threading.Event()  # a Ctrl-C recorded by _record while deferred() holds Python's own handler's place
_taken = False


def _record(signum, frame) -> None:
    _held.set()


def _take_over():
    """In the main thread, outside our handler's reign and any enclosing deferred(): put _record in place; return
    what was there (None: nothing taken)."""
    global _taken
    if _taken or threading.current_thread() is not threading.main_thread():
        return None
    try:
        previous = signal.getsignal(signal.SIGINT)
    except (ValueError, OSError):
        return None
    if previous is handler or not callable(previous):  # ours (it records itself), SIG_IGN, SIG_DFL, or set from C
        return None
    _held.clear()
    try:
        signal.signal(signal.SIGINT, _record)
    except (ValueError, OSError):
        return None
    _taken = True
    return previous


def _give_back(previous) -> None:
    """Restore the SIGINT handler deferred() replaced; a Ctrl-C held meanwhile goes to it now."""
    global _taken
    signal.signal(signal.SIGINT, previous)
    _taken = False
    if _held.is_set():
        _held.clear()
        previous(signal.SIGINT, sys._getframe(1))  # Python's own raises KeyboardInterrupt here, a caller's does its part


#: ``WHERE=PATH``: at the moment named WHERE (:func:`gate`), the process creates PATH and waits there (60 s at most)
#: for a signal, so that a test sends it at that moment by waiting for PATH to appear, never for a fixed sleep
GATE_ENV = "WORKBENCH_TEST_GATE"


def gate(where: str) -> None:
    """A moment a test can stop the command at (:data:`GATE_ENV`): ``command`` (the handler is about to run, every
    import done), ``write:NAME`` (NAME's temporary is written and synced, not yet renamed onto NAME).  The process
    goes on when the test removes PATH (or after 60 s)."""
    spec = os.environ.get(GATE_ENV)
    if not spec or spec.partition("=")[0] != where:
        return
    import time

    flag = spec.partition("=")[2]
    os.close(os.open(flag, os.O_WRONLY | os.O_CREAT, 0o644))
    end = time.monotonic() + 60
    while time.monotonic() < end and os.path.exists(flag):
        time.sleep(0.01)
        check()


#: what every other command says: its files are whole (each written under a temporary name and renamed), and the redo
REDO_HINT = "; no file is left half-written (what was finished is kept): `{command}` again redoes it"


def message(argv: list[str] | None = None) -> str:
    """The one line an interrupted command prints: the resume hint for ``run`` and ``sweep``, for any other command
    what was kept and the command line that redoes it (``argv``: the command line after ``workbench``)."""
    import shlex

    argv = list(sys.argv[1:] if argv is None else argv)
    args = [a for a in argv if not a.startswith("-")]
    line = "interrupted" + (" by SIGTERM" if _signum == signal.SIGTERM else "")
    if not args:
        return line
    if args[0] in ("run", "sweep"):
        return line + {"run": RESUME_HINT, "sweep": SWEEP_RESUME_HINT}[args[0]]
    command = shlex.join(["workbench", *argv])
    if len(command) > 400:  # `infer` of a thousand files: the command word, then "the same command line"
        command = shlex.join(["workbench", *argv[:argv.index(args[0]) + 1]]) + " … (the same command line)"
    return line + REDO_HINT.format(command=command)


def caused_by_interrupt(exc: BaseException | None) -> bool:
    """Whether ``exc`` is a ``KeyboardInterrupt`` or was raised because of one: Python 3.11 wraps one raised inside a
    class's ``__set_name__`` (a dataclass field, while a module imports) in ``RuntimeError: Error calling __set_name__``,
    and a Ctrl-C 0.1 s into ``workbench report`` ended in that traceback and exit 1 (tests/test_interrupts.py)."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, KeyboardInterrupt):
            return True
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return False


def _excepthook(kind, value, tb) -> None:
    if (issubclass(kind, KeyboardInterrupt) or caused_by_interrupt(value)) and "--debug" not in sys.argv:
        try:
            sys.stderr.write(message() + "\n")
            sys.stderr.flush()
        finally:
            os._exit(exit_status())
    _previous_excepthook(kind, value, tb)


_previous_excepthook = sys.excepthook


def _unraisable(unraisable) -> None:
    """A ``KeyboardInterrupt`` raised where Python cannot raise: in a finalizer or a weakref callback.

    Python runs the signal handler at the next safe point of any Python code, a garbage-collection callback
    included (importlib's module-lock callback runs during every import); the exception cannot leave it, and Python
    printed "Exception ignored in: …" with a traceback and went on as if no Ctrl-C had come (``workbench compare``,
    stopped 6.6 s in).  Now nothing is printed and the signal is sent again to the main thread a moment later, when
    the callback is over: the handler raises it there, and the command stops with its one line.
    """
    if isinstance(unraisable.exc_value, KeyboardInterrupt) and "--debug" not in sys.argv:
        try:
            timer = threading.Timer(0.01, signal.pthread_kill, (threading.main_thread().ident, _signum))
            timer.daemon = True
            timer.start()
        except RuntimeError:  # the interpreter is shutting down (no new thread): the command's work is over
            pass
        return
    _previous_unraisablehook(unraisable)


_previous_unraisablehook = sys.unraisablehook


def install() -> None:
    """Install :func:`handler` for SIGINT and SIGTERM (main thread only; idempotent), the top-level exit-130 hook and
    the hook that sends again a Ctrl-C that landed in a finalizer (:func:`_unraisable`)."""
    global _installed
    if _installed or threading.current_thread() is not threading.main_thread():
        return
    for signum in SIGNALS:
        signal.signal(signum, handler)
    sys.excepthook = _excepthook
    sys.unraisablehook = _unraisable
    _installed = True


def running_as_command() -> bool:
    """Whether this process is the ``workbench`` command (the script, or ``python -m workbench.cli``)."""
    argv0 = sys.argv[0] if sys.argv else ""
    # "-m" is argv[0] while `python -m workbench.cli` imports the package and compiles the module
    return argv0 == "-m" or os.path.basename(argv0) == "workbench" or argv0.endswith(os.path.join("workbench", "cli.py"))


@contextmanager
def installed() -> Iterator[None]:
    """While a command runs in-process (``cli.main`` from Python): the handler, then the previous one again."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in SIGNALS}
    for signum in SIGNALS:
        signal.signal(signum, handler)
    clear()
    try:
        yield
    finally:
        for signum, was in previous.items():
            signal.signal(signum, was if was is not None else signal.SIG_DFL)


if running_as_command():  # the `workbench` process: handled from the first import of the package on
    install()
