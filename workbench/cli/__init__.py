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
unexpected error (``--debug`` shows its traceback), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import sys

from workbench import __version__, interrupts  # interrupts first: Ctrl-C is handled from here on
from workbench.cli import analysis, calibration, data, explain, features, finetune, listeners, models, predict, reports, running, signals
from workbench.cli.common import (  # noqa: F401  (check_out_dir, console_logging: public here too)
    EXIT_FAILED_ITEMS, EXIT_INTERRUPTED, EXIT_OK, EXIT_UNEXPECTED, EXIT_USAGE, HelpFormatter, check_out_dir,
    console_logging, disk_full, example_text, one_line, parse_argv,
)
from workbench.errors import WorkbenchError
from workbench.runs.outputs import print_outcomes  # noqa: F401  (public here too)
from workbench.cli.running import print_run_summary  # noqa: F401  (public here too)

# the sub-commands in the order `workbench --help` lists them; each module keeps a command's parser next to its handler
ADDERS = (
    predict.add_infer, models.add_model, data.add_manifest, data.add_datasets, data.add_export_lhotse, running.add_run,
    analysis.add_metrics, listeners.add_listeners, analysis.add_compare, analysis.add_probe, finetune.add_finetune, signals.add_sweep, predict.add_diagnose,
    signals.add_segment, analysis.add_embeddings, explain.add_explain, features.add_features, calibration.add_calibrate, predict.add_similar, analysis.add_fuse, reports.add_report,
    reports.add_demo,
)

# "command[ action]" → handler
COMMANDS = {**predict.COMMANDS, **models.COMMANDS, **data.COMMANDS, **running.COMMANDS, **analysis.COMMANDS,
            **signals.COMMANDS, **reports.COMMANDS, **listeners.COMMANDS, **calibration.COMMANDS, **features.COMMANDS, **explain.COMMANDS,
            **finetune.COMMANDS}


DESCRIPTION = """Speech emotion recognition workbench around emotion2vec+.

One grammar on every command: --out is the output folder (the output file for a command that writes one file);
without it, what is derived from one run goes into that run folder, anything else into a folder named after the
command (timestamped where a command makes a new one each time); each command's --help says which. --json prints one
strict JSON document on stdout and nothing else there. --folds is a count of folds, --scheme a fold scheme, --by a
grouping, --top a top-k."""


def build_parser() -> argparse.ArgumentParser:
    """The ``workbench`` parser: global options, then each command's parser from its module (:data:`ADDERS`)."""
    parser = argparse.ArgumentParser(
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
    for add in ADDERS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one ``workbench`` command line; returns the exit status (see the module docstring)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_argv(build_parser(), argv)
    with interrupts.installed(), console_logging(verbose=args.verbose, debug=args.debug):
        return _dispatch(args)


def _dispatch(args: argparse.Namespace) -> int:
    key = args.command + (f" {args.model_command}" if args.command == "model" else "")
    key += f" {args.datasets_command}" if args.command == "datasets" else ""
    try:
        code = COMMANDS[key](args)
        interrupts.check()  # a Ctrl-C that third-party code swallowed still ends the command as interrupted
        return code
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(interrupts.message([args.command]), file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 — the one place that turns any error into a message
        if args.debug:
            raise
        if interrupts.pending():  # the error is what a swallowed Ctrl-C left behind (a half-imported module …)
            print(interrupts.message([args.command]), file=sys.stderr)
            return EXIT_INTERRUPTED
        full = disk_full(exc)
        if full is not None:
            path = full.filename or getattr(args, "out", None) or "the output folder"
            print(f"error: disk full while writing {path}; free space or choose --out elsewhere", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(exc, WorkbenchError):
            print(exc.render(), file=sys.stderr)
            return EXIT_USAGE
        print(f"error: unexpected {type(exc).__name__} in `workbench {key}`: {one_line(exc)}", file=sys.stderr)
        print("  run with --debug for the traceback (and report it if the input looks fine)", file=sys.stderr)
        return EXIT_UNEXPECTED
