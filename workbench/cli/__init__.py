"""``workbench`` command line.

    workbench infer PATH... [--model ID|DIR|tiny] [--granularity utterance|frame] [--embedding] [--out DIR]
    workbench model make-tiny DIR [--seed N] [--arch tiny|base|large]
    workbench model info [--model ID|DIR|tiny]
    workbench manifest FOLDER -o MANIFEST [--label-from-folder]
    workbench datasets prepare CORPUS CORPUS_DIR --out MANIFEST
    workbench datasets import-emobox JSONL... --root DIR [--label-map FILE] --out MANIFEST
    workbench datasets import-hf SOURCE --out MANIFEST [--split S] [--label-column C] [--map MAP]
    workbench datasets import-lhotse (--recordings R [--supervisions S] | --cuts C) --out MANIFEST
    workbench datasets export-lhotse RUN_DIR [--variant V] [--out SUPERVISIONS.jsonl.gz]
    workbench run MANIFEST [--model …] [--variants FILE] [--out RUN_DIR] [--skip-missing] [--engine local|ray]
    workbench metrics RUN_DIR [--restrict] [--by speaker gender] [--out DIR] [--json]
    workbench compare RUN_DIR [--baseline NAME] | RUN_A RUN_B [RUN_C …] [--top K] [--out DIR] [--json]
    workbench probe RUN_DIR [--scheme speaker|session|emobox|split] [--folds K] [--target emotion|label] [--mlp] [--json]
    workbench sweep PATH|MANIFEST --kind sample-rate|trim|snr|denoise [--out DIR]
    workbench diagnose PATH [--model …] [--json]
    workbench segment PATH [--max 25] [--min-silence 0.3] [--vad silero|energy] [--out DIR] [--json]
    workbench embeddings RUN_DIR [--project pca|tsne|umap] [--cluster kmeans|agglomerative] [--neighbours ID|PATH] [--top K] [--json]
    workbench similar A B [--model …]
    workbench calibrate RUN_DIR [--scheme speaker|none] [--folds K] [--alpha 0.1] [--json]   (then --temperature RUN_DIR on any scoring command)
    workbench fuse RUN_DIR [--text-model NAME|DIR] [--folds 5] [--json]
    workbench report TEMPLATE [--param key=value …] [--out reports/]
    workbench demo [--out DIR]

One grammar on every command: ``--out`` is the output folder (the output file for a command that writes exactly one
file); without it, what is derived from one run goes into that run folder, anything else into a folder named after
the command (timestamped where a command makes a new one each time); each ``--help`` says which. ``--json`` prints
one strict JSON document on stdout and nothing else there (every analysis command has it). ``--folds`` is always a
count of folds, ``--scheme`` the fold scheme, ``--by`` a grouping, ``--top`` a top-k. Old spellings
(``export-lhotse`` at the top, ``--k``, ``--csv``, calibrate's ``--by``) still work for one release and warn on stderr;
``probe --folds SCHEME`` and ``embeddings -n`` are refused with the new option named.

Exit status: 0 when every input succeeded, 1 when some input failed (its
error record is written), 2 for a usage or configuration error (printed as
``error: <input>: <what is wrong>`` and ``fix: <what to do>``), 3 for an
unexpected error (``--debug`` shows its traceback), 130 when interrupted (143 for SIGTERM), 141 when the reader of the output
stopped reading (``| head``), quietly.
"""

from __future__ import annotations

import argparse
import atexit
import errno
import os
import select
import signal
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import NoReturn

from workbench import __version__, interrupts  # interrupts first: Ctrl-C is handled from here on
from workbench.cli.common import (  # noqa: F401  (check_out_dir, console_logging: public here too)
    EXIT_FAILED_ITEMS, EXIT_INTERRUPTED, EXIT_OK, EXIT_PIPE, EXIT_UNEXPECTED, EXIT_USAGE, HelpFormatter, check_out_dir,
    Parser, cache_fault, console_logging, disk_full, example_text, guarded_terminal, one_line, path_fault,
    parse_argv,
)
from workbench.errors import WorkbenchError
from workbench.model.memory import MALLOC_TUNING, collect_as_one_command, keep_freed_memory  # noqa: F401  (public here: every process calls it)


@dataclass(frozen=True)
class Command:
    """One sub-command: the module of :mod:`workbench.cli` that holds its parser (``adder``) and its handlers
    (``COMMANDS``), and the one-line help ``workbench --help`` lists without importing that module."""

    name: str
    module: str
    adder: str
    help: str  # the same words the adder registers (tests/test_cli_lazy.py checks that they agree)
    handlers: tuple[str, ...] = ()  # further modules whose COMMANDS hold some of its actions


#: the sub-commands in the order ``workbench --help`` lists them.  A command line imports only its own command's
#: module: importing all of them (analysis, explanation, reports …) took 0.6 s, the light table 0.3 s (2 cores, load 2.5).
COMMAND_TABLE = (
    Command("infer", "predict", "add_infer", "predict the emotion of audio files: one output folder each (result.json, processed audio, log)"),
    Command("model", "models", "add_model", "make or inspect checkpoints"),
    Command("manifest", "data", "add_manifest", "write a manifest (id, path[, label]) for a folder of audio files"),
    Command("datasets", "data", "add_datasets", "prepare manifests from corpora", handlers=("listeners",)),
    Command("export-lhotse", "data", "add_export_lhotse", "deprecated: use `workbench datasets export-lhotse` (same options)"),
    Command("run", "running", "add_run",
            "run a manifest (× preprocessing variants) or an experiment file through the model into a run folder"),
    Command("metrics", "analysis", "add_metrics", "WA, UAR, macro-F1, confusion, calibration and intervals of a run"),
    Command("listeners", "listeners", "add_listeners",
            "a run's predictions against its listeners' judgements (agreement bands, divergences, the lists to act on)"),
    Command("compare", "analysis", "add_compare",
            "compare the preprocessing variants of a run, or runs of one manifest (checkpoints, precisions, engines)"),
    Command("probe", "analysis", "add_probe", "linear probe (or small MLP) on a run's frozen embeddings under EmoBox-style folds"),
    Command("finetune", "finetune", "add_finetune",
            "train a new head on a run's embeddings for the corpus's own labels; write a checkpoint folder for --model"),
    Command("sweep", "signals", "add_sweep", "one file or manifest through a grid of sample rates, trims, SNRs, noise reduction, pitch shifts or tempo changes"),
    Command("diagnose", "predict", "add_diagnose", "log, prediction, stability and findings for one file"),
    Command("segment", "signals", "add_segment", "long audio: VAD segments (or a timed transcript's sentences), per-segment "
            "emotions, dominant emotion, timeline and heatmap"),
    Command("embeddings", "analysis", "add_embeddings", "2-D projection, clusters and nearest neighbours of a run's utterance embeddings"),
    Command("explain", "explain", "add_explain",
            "why the model said that: attribution (IG, occlusion, time-frequency occlusion) checked for faithfulness"),
    Command("features", "features", "add_features",
            "the voice's cues (Praat F0/intensity/HNR/jitter/shimmer, eGeMAPS) for every row of a run"),
    Command("calibrate", "calibration", "add_calibrate",
            "temperature scaling, ECE/MCE/Brier/NLL, risk-coverage and conformal sets of a run, cross-validated by speaker"),
    Command("similar", "predict", "add_similar", "cosine similarity of two files' emotion2vec+ embeddings, placed among reference pairs"),
    Command("fuse", "analysis", "add_fuse", "speech, text, early and late fusion under speaker-independent cross-validation"),
    Command("report", "reports", "add_report",
            "execute a report template with papermill into reports/<name>/<timestamp>/ (notebook, HTML, metrics.json)"),
    Command("demo", "reports", "add_demo", "infer on the demo clips, then an experiment report on the demo set"),
)
_BY_NAME = {c.name: c for c in COMMAND_TABLE}


def _module(name: str) -> ModuleType:
    # the import statement's own route, not importlib.import_module: `python -X importtime` sees only the former
    return __import__(f"workbench.cli.{name}", fromlist=["COMMANDS"])


def handlers_of(command: Command) -> dict:
    """``"command[ action]"`` → handler, for one command (its module imported now)."""
    out: dict = {}
    for name in (command.module, *command.handlers):
        out.update({k: v for k, v in _module(name).COMMANDS.items() if k.split(" ", 1)[0] == command.name})
    return out


class _AllCommands(Mapping):
    """``"command[ action]"`` → handler for every command; imports every command module on first use (tests, docs).
    :func:`main` never uses it: it imports only the module of the command it runs."""

    def _all(self) -> dict:
        return {k: v for c in COMMAND_TABLE for k, v in handlers_of(c).items()}

    def __getitem__(self, key):
        return self._all()[key]

    def __iter__(self):
        return iter(self._all())

    def __len__(self):
        return len(self._all())


# "command[ action]" → handler
COMMANDS: Mapping = _AllCommands()


def __getattr__(name: str):
    # public here too, without importing the run's and the outputs' modules for every command
    if name == "print_run_summary":
        return _module("running").print_run_summary
    if name == "print_outcomes":
        return __import__("workbench.runs.outputs", fromlist=["print_outcomes"]).print_outcomes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


DESCRIPTION = """Speech emotion recognition workbench around emotion2vec+.

One grammar on every command: --out is the output folder (the output file for a command that writes one file);
without it, what is derived from one run goes into that run folder, anything else into a folder named after the
command (timestamped where a command makes a new one each time); each command's --help says which. --json prints one
strict JSON document on stdout and nothing else there. --folds is a count of folds, --scheme a fold scheme, --by a
grouping, --top a top-k."""


def build_parser(commands: "list[str] | None" = None) -> argparse.ArgumentParser:
    """The ``workbench`` parser: global options, then each command's parser from its module (:data:`COMMAND_TABLE`).

    ``commands``: the commands whose parsers are built in full (their modules imported); every other command is
    listed by its name and help only, enough for ``workbench --help`` and for refusing an unknown command.
    ``None`` builds all of them.
    """
    parser = Parser(
        prog="workbench", description=DESCRIPTION,
        formatter_class=HelpFormatter, allow_abbrev=False,
        epilog=example_text("workbench infer clip.wav --model tiny",
                             "workbench manifest my_wavs/ -o my_wavs.csv --label-from-folder",
                             "workbench run my_wavs.csv --out runs/my_wavs && workbench metrics runs/my_wavs",
                             "", "`workbench COMMAND --help` explains each command's options."),
    )
    parser.add_argument("--version", action="version", version=f"workbench {__version__}", help="print the version and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    parser.add_argument("--debug", action="store_true", help="print the full traceback of an error instead of a one-line message")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="one of the commands below")
    for c in COMMAND_TABLE:
        if commands is None or c.name in commands:
            getattr(_module(c.module), c.adder)(sub)
        else:
            sub.add_parser(c.name, help=c.help, add_help=False)  # listed only: never parses (its command line builds it)
    return parser


def chosen_command(argv: list[str]) -> str | None:
    """The command a command line runs: its first word that is not an option (the global options take no value)."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in _BY_NAME else None


#: what :func:`share_the_cores` sets, unless the user set either variable
OPENMP_WAIT = {"OMP_WAIT_POLICY": "PASSIVE"}


def share_the_cores() -> None:
    """Let torch's OpenMP threads sleep, rather than spin, while they wait (``OMP_WAIT_POLICY=PASSIVE``).

    By default each of torch's threads spins for a while at the end of every parallel region.  When other
    processes want the same cores, a spinning thread burns the time slice the thread it waits for needs.  On the
    2-core build machine with other work running (load average 4-5), model-only times for 48 clips were 4.8-16 s
    with the default against 1.9-2.3 s waiting passively (tiny), and 13-20 s against 9-10.5 s for 6 clips of a
    94 M-parameter model; with a core to spare (load 2) the default was faster (tiny: 1.0-1.2 s against
    1.5-2.1 s).  A ``workbench`` process is usually one program among others, so it waits passively; a user who
    owns the machine sets ``OMP_WAIT_POLICY=ACTIVE`` (or ``GOMP_SPINCOUNT``), which is kept.  Scores are the same
    either way (the policy changes how idle threads wait, not how work is split).  Effective only before torch
    is imported (``benchmarks/inference.py`` applies it to its model-only paths too).
    """
    if "torch" in sys.modules or any(k in os.environ for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")):
        return
    os.environ.update(OPENMP_WAIT)


def prepare_process() -> None:
    """What every ``workbench`` process does first: :func:`share_the_cores`, :func:`keep_freed_memory`, :func:`collect_as_one_command`
    (``benchmarks/`` and the test session call it too, so they measure what users run)."""
    share_the_cores()
    keep_freed_memory()
    collect_as_one_command()


def main(argv: list[str] | None = None) -> int:
    """Run one ``workbench`` command line; returns the exit status (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    prepare_process()
    with guarded_terminal():  # argparse's errors repeat what was typed: escape sequences in a file name too
        name = chosen_command(argv)
        args = parse_argv(build_parser([name] if name else []), argv)
        args.command_line = argv  # what the user typed: an interrupted run's log.txt names the command that resumes it
        with interrupts.installed(), console_logging(verbose=args.verbose, debug=args.debug):
            return _dispatch(args)


def console() -> NoReturn:
    """The ``workbench`` program (``python -m workbench.cli`` and the installed script): :func:`main`, then
    :func:`end_process`."""
    end_process(main())


def end_process(code: int) -> NoReturn:
    """End this process with ``code`` as Python would, without tearing down every module first.

    What Python does at exit is done here too: while another non-daemon thread runs, plain ``sys.exit`` (which
    waits for it); otherwise the ``atexit`` handlers run (logging's last flush, temporary folders, process pools,
    Ray), stdout and stderr are flushed, and ``os._exit`` ends the process.  Skipped: the interpreter's
    clean-up of every module and object, which with torch loaded took 0.5-1.1 s of a 5 s ``workbench run`` of
    48 clips (2 cores, load 3.4).  Files the workbench writes are closed (and synced) when written, never at exit.
    """
    if any(t.is_alive() and not t.daemon and t is not threading.main_thread() for t in threading.enumerate()):
        sys.exit(code)
    if threading.current_thread() is threading.main_thread():
        # a Ctrl-C while the exit handlers run (a second one, after `interrupted`, is the usual) ends the process now,
        # with one line: raised inside a handler it printed 'Exception ignored in atexit callback' and a traceback
        def now(signum, frame):
            if code not in (128 + s for s in interrupts.SIGNALS):
                interrupts.note(signum)
                os.write(2, (interrupts.message() + "\n").encode())
            os._exit(128 + signum)

        for signum in interrupts.SIGNALS:
            signal.signal(signum, now)
    atexit._run_exitfuncs()
    if code == 0 and interrupts.pending():  # a Ctrl-C after the work was done (an exit handler may have eaten it)
        print(interrupts.message(), file=sys.stderr)
        code = interrupts.exit_status()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            pass
    os._exit(code)


def stdout_gone() -> bool:
    """Whether stdout is a pipe whose reader closed it; if so it is pointed at ``os.devnull``, so that the flush at exit
    stays quiet.  A broken pipe elsewhere (a subprocess of the command's own) is an error like any other."""
    try:
        fd = sys.stdout.fileno()
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        gone = any(events & select.POLLERR for _, events in poller.poll(0))  # a pipe's write end once its reader closed
    except (OSError, ValueError, AttributeError):
        return False
    if gone:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        os.close(devnull)
    return gone


def _dispatch(args: argparse.Namespace) -> int:
    key = args.command + (f" {args.model_command}" if args.command == "model" else "")
    key += f" {args.datasets_command}" if args.command == "datasets" else ""
    try:
        handler = handlers_of(_BY_NAME[args.command])[key]
        interrupts.gate("command")
        code = handler(args)
        interrupts.check()  # a Ctrl-C that third-party code swallowed still ends the command as interrupted
        return code
    except KeyboardInterrupt as exc:
        if args.debug:
            raise
        kept = getattr(exc, "kept", None)  # what an interrupted command kept (a report's folder), told with the line
        line = interrupts.message(getattr(args, "command_line", [args.command]))
        print(line + (f"; {kept}" if isinstance(kept, str) else ""), file=sys.stderr)
        return interrupts.exit_status()
    except Exception as exc:  # noqa: BLE001 — the one place that turns any error into a message
        if args.debug:
            raise
        if isinstance(exc, BrokenPipeError) and stdout_gone():  # `| head` stopped reading: stop quietly, as cat does
            return EXIT_PIPE
        if interrupts.pending():  # the error is what a swallowed Ctrl-C left behind (a half-imported module …)
            print(interrupts.message(getattr(args, "command_line", [args.command])), file=sys.stderr)
            return interrupts.exit_status()
        full = disk_full(exc)
        if full is not None:
            path = full.filename or getattr(args, "out", None) or "the output folder"
            limit = full.errno == errno.EFBIG  # a file past the process's file size limit ended in 'unexpected OSError'
            print(f"error: {'a file outgrew the file size limit (ulimit -f)' if limit else 'disk full'} while writing {path}; "
                  f"{'raise the limit' if limit else 'free space'} or choose --out elsewhere", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(exc, WorkbenchError):
            print(exc.render(), file=sys.stderr)
            return EXIT_USAGE
        cache = cache_fault(exc) or path_fault(exc)
        if cache is not None:
            print(cache, file=sys.stderr)
            return EXIT_USAGE
        print(f"error: unexpected {type(exc).__name__} in `workbench {key}`: {one_line(exc)}", file=sys.stderr)
        print("  run with --debug for the traceback (and report it if the input looks fine)", file=sys.stderr)
        return EXIT_UNEXPECTED
