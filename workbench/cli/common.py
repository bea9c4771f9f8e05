"""What every ``workbench`` command shares: help formatting, number types, the model options, output folders,
the random-weights banner, and turning any error into a message (exit codes below)."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
from datetime import datetime
import re
import sys
from pathlib import Path

from dataclasses import replace
from typing import Any

from workbench.errors import ConfigError, WorkbenchError, printable
from workbench.serialize import cut_middle
from workbench.labels import RANDOM_WEIGHTS_BANNER
from workbench.logs import routed_logs
from workbench.paths import cache_dir, shell_command
from workbench.model.checkpoints import resolve_model
from workbench.model.hub import DEFAULT_MODEL
from workbench.model.ref import DTYPES, ModelRef
from workbench.model.temperature import check_temperature
from workbench.data.cards import random_weights_banner
from workbench.engine.ahead import decode_ahead_mode
from workbench.analysis.calibration_measures import T_BOUNDS, temperature_at_edge
from workbench.runs.folder import RunFolder, RunFolderError, saved_calibration

EXIT_OK, EXIT_FAILED_ITEMS, EXIT_USAGE, EXIT_UNEXPECTED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
#: the reader of stdout went away (`workbench similar … | head`): what a shell reports for a program SIGPIPE ended
EXIT_PIPE = 141


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's line breaks and appends each option's default to its help.

    A default is shown unless the help already says it, or it is ``None`` /
    ``False`` (then the help text says what happens by default).  A default of ``0`` is a value and is shown
    (``--seed``'s 0): ``0 in (None, False)`` is true in Python, so the test is by identity.
    """

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if "default" in text.lower() or any(default is v for v in (None, False, argparse.SUPPRESS)) or not action.option_strings:
            return text
        if isinstance(default, (list, tuple)):
            shown = " ".join(str(d) for d in default) or "nothing"
            return f"{text} (default: {shown.replace('%', '%%')})"
        return f"{text} (default: %(default)s)"


def screen_text(text: object) -> str:
    """A string from a user's file (a word, a subtitle) for the terminal: control characters (escape sequences) shown as escapes."""
    return printable(text)


#: characters printed as they are without a look: what a terminal never acts on
_PLAIN = re.compile(r"[^\n\t\x20-\x7e]")


def terminal_text(text: str) -> str:
    """``text`` as a terminal may receive it: line ends and tabs kept, every other character a terminal acts on or hides
    (escape sequences, carriage returns, BEL, right-to-left overrides) shown as its escape."""
    return _PLAIN.sub(lambda m: m.group() if m.group().isprintable() else repr(m.group())[1:-1], text)


#: a command-line word that is a negative number in any form ``float()`` reads: argparse knows only ``-1`` and ``-0.5``
_NEGATIVE_NUMBER = re.compile(r"^-(\d+\.?\d*(e[-+]?\d+)?|\.\d+(e[-+]?\d+)?|inf(inity)?|nan)$", re.IGNORECASE)


class Parser(argparse.ArgumentParser):
    """argparse's parser whose refusal of a value outside the choices names the closest one (``--scheme speakers``,
    ``workbench metrcs``), as an unknown option's refusal does, and which reads every negative number as a value;
    sub-command parsers are made of the same class."""

    def _parse_optional(self, arg_string):
        # `--temperature -inf`, `--max-duration -1e3`: argparse took those words for options ("expected one argument"),
        # or for a short option and its value (`-nan` as `-n an`), so the option's own check never saw them
        if _NEGATIVE_NUMBER.match(arg_string) and arg_string not in self._option_string_actions and not self._has_negative_number_optionals:
            return None
        return super()._parse_optional(arg_string)

    def _check_value(self, action, value):
        import difflib

        if action.choices is not None and value not in action.choices:
            choices = [str(c) for c in action.choices]
            close = difflib.get_close_matches(str(value), choices, n=1)
            if close:
                raise argparse.ArgumentError(action, f"invalid choice: {value!r}; did you mean {close[0]!r}? "
                                                     f"(choose from {', '.join(map(repr, choices))})")
        super()._check_value(action, value)


class TerminalGuard:
    """A stdout/stderr whose text goes through :func:`terminal_text`: a file name, a label or an id from someone's
    data cannot clear the screen, retitle the window or reverse what a printed command shows, wherever it is printed."""

    def __init__(self, stream: Any):
        self.stream = stream
        self.unguarded = stream  # for progress lines (workbench.logs.progress_stream): their \r is the point

    def write(self, text: str) -> int:
        self.stream.write(terminal_text(text))
        return len(text)

    def __getattr__(self, name: str) -> Any:  # flush, fileno, isatty, encoding, buffer ...
        return getattr(self.stream, name)


@contextlib.contextmanager
def guarded_terminal():
    """While a command runs: :class:`TerminalGuard` on ``sys.stdout`` and ``sys.stderr``."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = TerminalGuard(sys.stdout), TerminalGuard(sys.stderr)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def example_text(*lines: str) -> str:
    """The ``Example:`` epilog of a parser, one indented command per line."""
    return "Example:\n" + "\n".join(f"  {line}" for line in lines)


def _number(cast, *, low: float, strict: bool, fails: str):
    """An argparse type: a whole number (``cast=int``) or a finite number above ``low`` (``strict``) or at least ``low``."""
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {'whole number' if cast is int else 'number'}") from None
        if not ((value > low if strict else value >= low) and value != float("inf")):
            raise argparse.ArgumentTypeError(f"{text} {fails}")
        return value
    return parse


positive_int = _number(int, low=0, strict=True, fails="is not a positive number (1 or more)")
non_negative_int = _number(int, low=0, strict=False, fails="is negative (0 or more)")
positive_float = _number(float, low=0, strict=True, fails="is not a positive, finite number")
non_negative_float = _number(float, low=0, strict=False, fails="is not a finite number >= 0")


#: the most bootstrap resamples a command takes: intervals settle by a few thousand, and --bootstrap 1000000000
#: ran for ever
MAX_BOOTSTRAP = 100_000
#: seeds are what numpy's generators take everywhere: 0 to 2**32 - 1 (--seed -1 ended in 'unexpected ValueError')
MAX_SEED = 2**32 - 1


def bootstrap_count(text: str, *, low: int = 1) -> int:
    """An argparse type for ``--bootstrap``: a whole number from ``low`` to :data:`MAX_BOOTSTRAP`."""
    value = _number(int, low=low, strict=False, fails=f"is under {low}")(text)
    if value > MAX_BOOTSTRAP:
        raise argparse.ArgumentTypeError(f"{text} is over {MAX_BOOTSTRAP:,} resamples (intervals settle by a few thousand)")
    return value


def seed_value(text: str) -> int:
    """An argparse type for ``--seed``: a whole number from 0 to :data:`MAX_SEED`."""
    value = _number(int, low=0, strict=False, fails=f"is negative; a seed is a whole number from 0 to {MAX_SEED}")(text)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"{text} is over {MAX_SEED}; a seed is a whole number from 0 to {MAX_SEED}")
    return value


def add_run_seed_option(p: argparse.ArgumentParser, what: str, *, whose: str = "the run's") -> None:
    """``--seed`` of a command that reads a run: left out, the run's recorded seed (what its summary, ``metrics`` and
    its reports drew with); typed, that seed, and the command says so (:func:`run_seed`)."""
    p.add_argument("--seed", type=seed_value, default=None,
                   help=f"random seed of {what} (default: {whose} recorded seed, `seed:` of its experiment.yaml; 0 for a run "
                        "that recorded none; a typed seed is said on stderr)")


def run_seed(args, run_dir) -> int:
    """The seed a command reading ``run_dir`` draws with: ``--seed`` where typed (said on stderr, with the run's own
    seed beside it, as a typed ``--model`` is said), else the run's recorded seed (0 for a run that recorded none,
    and for a source that is no run folder, such as a manifest).  Sets ``args.seed`` to it."""
    is_run = Path(run_dir).is_dir()
    recorded = RunFolder(run_dir).seed if is_run else 0
    if args.seed is None:
        args.seed = recorded
    elif is_run:
        print(f"seed {args.seed} (typed with --seed; the run's recorded seed is {recorded})", file=sys.stderr)
    return args.seed


def add_temperature_option(p: argparse.ArgumentParser) -> None:
    """``--temperature T|RUN`` for a command that scores audio."""
    p.add_argument("--temperature", default=None, metavar="T|RUN",
                   help="divide the model's logits by T before the softmax: a positive number, or a run folder calibrated "
                        "with `workbench calibrate` (its fitted T); recorded with the results (default: the checkpoint's scores)")


def _model_keys(model: Any, hub: str = "ms") -> set[str]:
    """What names one checkpoint: its folder (resolved) or its hub id; empty when ``model`` cannot be resolved here."""
    try:
        r = resolve_model(model, hub=hub or "ms")
    except WorkbenchError:
        return set()
    return {r.model} if r.kind == "hub" else {str(Path(r.model).expanduser().resolve())}


def _check_fitted_on(saved: dict, path: Path, model: Any, hub: str) -> None:
    """Refuse a calibrated run's T for another model: a temperature rescales one network's logits, not any's."""
    fitted = saved.get("model") if isinstance(saved.get("model"), dict) else RunFolder(path).model_ref
    if not isinstance(fitted, dict):
        return
    keys = {str(fitted["id"])} if fitted.get("id") else set()
    if fitted.get("path") and Path(str(fitted["path"])).expanduser().is_dir():
        keys.add(str(Path(str(fitted["path"])).expanduser().resolve()))
    wanted = _model_keys(model, hub)
    if keys and wanted and not keys & wanted:
        fitted_name = fitted.get("path") or fitted.get("id")
        raise ConfigError(f"its temperature was fitted on the logits of {fitted_name}; this command scores with "
                          f"{model if model is not None else 'the default model'} ({', '.join(sorted(wanted))}).",
                          source=str(path / "calibration.json"),
                          fix=f"calibrate a run of this model (`workbench run … --model {model}` then `workbench calibrate`), "
                              "or give --model the checkpoint that run scored with.")


def resolve_temperature(value, *, model: Any = None, hub: str = "ms") -> float | None:
    """A ``--temperature`` value: a positive number, or a run folder whose ``calibration.json`` holds one.

    ``None`` stays None.  A folder without ``calibration.json`` is refused with the command that writes it, and so is
    a folder calibrated for another checkpoint than ``model`` (when ``model`` is given and both can be told apart here).
    """
    if value is None:
        return None
    text = str(value).strip()
    try:
        return check_temperature(float(text), source="--temperature")
    except ValueError:
        pass
    except ConfigError:
        raise
    path = Path(text).expanduser()
    if not text or not path.is_dir():  # '' would be the current folder
        raise ConfigError(f"{text!r} is neither a number nor a run folder.", source="--temperature",
                          fix="pass a positive number such as 1.5, or the folder of a run you calibrated with `workbench calibrate`.")
    saved = saved_calibration(RunFolder(path))
    source = str(path / "calibration.json")
    if "temperature" not in saved and saved.get("recommended") is False:
        # calibrate saved no temperature because the fit failed its checks (at a bound of its search, or no better
        # than a uniform guess): refused with the reasons calibrate printed
        given = saved.get("not_recommended_because")
        # the file's own words, each on the error's one line and cut (a reason holding a line break printed a line of its own)
        reasons = "; ".join(printable(str(r)[:200]).rstrip(". ") for r in (given[:10] if isinstance(given, list) else [given] if given else []))
        fitted = saved.get("temperature_fitted")
        fitted = f"{float(fitted):.3f}" if isinstance(fitted, (int, float)) and not isinstance(fitted, bool) else printable(repr(fitted)[:80])
        raise ConfigError(f"its calibration fitted T = {fitted} but did not recommend it: {reasons}.", source=source,
                          fix="score without --temperature (or pass a number you have checked); fix the scores rather than their temperature.")
    if "temperature" not in saved:
        there = (path / "calibration.json").is_file()
        raise RunFolderError("holds no fitted temperature (" + ("its calibration.json has none" if there else "no calibration.json") + ").",
                             source=str(path), fix=f"run `{shell_command('workbench', 'calibrate', text)}`"
                             + (" again" if there else " first") + ", or pass a number.")
    if model is not None:
        _check_fitted_on(saved, path, model, hub)
    temperature = check_temperature(saved["temperature"], source=source)
    edge = temperature_at_edge(temperature)
    if edge:  # calibrate never recommends such a fit; a file that does was written by hand or by something else
        raise ConfigError(f"its temperature {temperature:g} lies at the {edge} bound of calibrate's search {T_BOUNDS[0]:g}–{T_BOUNDS[1]:g}: "
                          "a fit there found no optimum, and calibrate does not recommend it.", source=source,
                          fix=f"run `{shell_command('workbench', 'calibrate', text)}` again, or pass a number you have checked.")
    return temperature


def typed_command(args: Any) -> list[str] | None:
    """The command line the user typed (``workbench`` and its words), which a folder's ``summary.json`` records as its
    ``command_line`` (home as ``~``: :func:`workbench.paths.published_command`); None for a command called without one."""
    typed = getattr(args, "command_line", None)
    return ["workbench", *typed] if typed else None


def model_ref_from_args(args: Any, *, base: ModelRef | None = None) -> ModelRef:
    """The :class:`ModelRef` the model options of a command line name (:func:`model_options`).

    An option left at ``None`` keeps ``base``'s value (a run's model, for commands that read a run).
    ``--temperature`` is a number or a calibrated run's fitted T (:func:`resolve_temperature`).
    """
    decode_ahead_mode()  # WORKBENCH_DECODE_AHEAD misspelt: refused before any command loads its model (infer, sweep …)
    base = base or ModelRef()
    given = {k: getattr(args, k, None) for k in ("model", "hub", "revision", "device", "dtype")}
    if given["model"] is not None and given["model"] != base.model:
        base = ModelRef(hub=base.hub, device=base.device, dtype=base.dtype)  # another model: its revision and checksum go
    # T, or a calibrated run's T (fitted on this model's logits)
    given["temperature"] = resolve_temperature(getattr(args, "temperature", None), model=given["model"] or base.model or DEFAULT_MODEL,
                                               hub=given["hub"] or base.hub)
    return replace(base, **{k: v for k, v in given.items() if v is not None})


def model_options(p: argparse.ArgumentParser, *, reads_run: bool = False, dtype: str | None = "auto") -> None:
    """The model options every command that loads a model takes, with one meaning everywhere
    (:func:`model_ref_from_args` reads them).

    ``reads_run``: the command reads a run folder, and the model, hub, revision and dtype default to the
    run's own (left at ``None`` here).  ``dtype``: the default precision of a command that does not read a run —
    ``auto`` (the fastest path that agrees with float32) for commands that score, ``float32`` for those that train
    or describe the checkpoint itself, ``None`` for ``run``, which resumes a folder in the precision it was started in.
    """
    if reads_run:
        p.add_argument("--model", default=None,
                       help="hub id, local checkpoint directory, or 'tiny' (default: the model that made the run; "
                            "another model is refused unless --other-model)")
        p.add_argument("--hub", default=None, choices=["ms", "hf"], help="model hub for ids (default: the run's)")
        p.add_argument("--revision", default=None, help="hub revision to pin (default: the run's)")
    else:
        p.add_argument("--model", default=None,
                       help="hub id, local checkpoint directory, 'tiny' (seeded random weights; predictions mean nothing) or 'cue' "
                            "(trained on synthetic planted cues; means nothing on speech) "
                            "(default: iic/emotion2vec_plus_large)")
        p.add_argument("--hub", default="ms", choices=["ms", "hf"], help="model hub for ids: ms (ModelScope) or hf (Hugging Face)")
        p.add_argument("--revision", default=None, help="hub revision to pin (default: the hub's latest)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:1 …")
    p.add_argument("--dtype", default=None if reads_run or dtype is None else dtype, choices=list(DTYPES),
                   help="model precision: auto (on a CPU the fastest of bfloat16, int8 and ONNX Runtime that agrees with float32, "
                        "measured once per CPU and checkpoint and recorded with its agreement; bfloat16 on a GPU, float16 "
                        "without bf16); float32 (exact); "
                        "onnx-float32/onnx-int8 (ONNX Runtime through an export cached in the model cache)"
                        + (" (default: the run's)" if reads_run else
                           " (default: auto; a folder being resumed: its run's)" if dtype is None else ""))
    add_temperature_option(p)


def add_command(sub, name: str, *, help: str, example: tuple[str, ...], description: str | None = None) -> argparse.ArgumentParser:
    """A sub-command parser with the project's help formatter and an ``Example:`` epilog."""
    return sub.add_parser(name, help=help, description=description or help[:1].upper() + help[1:] + ".",
                          epilog=example_text(*example), formatter_class=HelpFormatter,
                          allow_abbrev=False)  # `--dtyp` is refused, never taken for `--dtype`


#: the one default rule of ``--out``, said in every command's help: where a command writes when ``--out`` is left out
RUN_FOLDER_DEFAULT = "the run folder, beside its results"


def add_out_option(p: argparse.ArgumentParser, *, what: str, default: str | None = None, file: bool = False,
                   required: bool = False, value: str | None = None, short: bool = False) -> None:
    """``--out``, with one meaning on every command: the output folder the command writes into, or the output file
    for a command that writes exactly one file.

    ``what``: what goes there; ``default``: where it goes without ``--out`` (one rule: a command that derives files
    from one run writes them into that run folder; anything else into a folder named after the command, timestamped
    where the command makes a new one each time); ``value``: the default value itself, when it is a fixed path.
    """
    kind = "output file" if file else "output folder"
    where = "required" if required else f"default: {default or value}"
    p.add_argument(*(("-o", "--out") if short else ("--out",)), default=value, required=required, metavar="FILE" if file else "DIR",
                   help=f"{kind}: {what} ({where})")


def add_json_option(p: argparse.ArgumentParser, what: str = "the command's results") -> None:
    """``--json``: one strict JSON document on stdout (NaN as null) and nothing else there; warnings go into it."""
    p.add_argument("--json", action="store_true",
                   help=f"print {what} as one strict JSON document on stdout instead of text (files are still written)")


def fold_count(text: str) -> int:
    """``--folds``: a count of cross-validation folds (2 or more).  A fold scheme's name is refused with the option that takes it."""
    if text in FOLD_SCHEMES:
        raise argparse.ArgumentTypeError(f"{text!r} is a fold scheme; --folds is a count now: pass --scheme {text} (and --folds K)")
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"{text} folds cannot cross-validate (2 or more)")
    return value


#: the fold schemes of the probe and finetune (``--scheme``); ``--folds`` is always a count
FOLD_SCHEMES = ("speaker", "session", "emobox", "split")
#: ``--folds`` when it is left out (``probe``, ``finetune``: k of the speaker folds)
DEFAULT_FOLDS = 5


def speaker_folds(args, *, cross_validates: bool = True) -> int:
    """``--folds`` of ``probe``/``finetune`` (default :data:`DEFAULT_FOLDS`): a count for ``--scheme speaker`` only.  Given
    with another scheme (whose folds are its sessions, EmoBox's folds or the split column) or with nothing to
    cross-validate, it is refused, not silently ignored."""
    if args.folds is None:
        return DEFAULT_FOLDS
    if args.scheme != "speaker":
        raise ConfigError(f"{args.folds} counts speaker folds; --scheme {args.scheme} takes its folds from "
                          + {"session": "the sessions (one per fold)", "emobox": "EmoBox's fold column",
                             "split": "the split column"}.get(args.scheme, "its own column") + ".",
                          source="--folds", fix="leave --folds out, or pass --scheme speaker --folds K.")
    if not cross_validates:
        raise ConfigError(f"{args.folds} with --no-evaluation: there is no cross-validation to fold.", source="--folds",
                          fix="leave --folds out, or drop --no-evaluation.")
    return args.folds


class DeprecatedOption(argparse.Action):
    """An old spelling kept for one release: it sets the new option's value and warns on stderr."""

    def __init__(self, option_strings, dest, *, new: str, **kwargs):
        self.new = new
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"warning: {option_string} is deprecated and goes in the next release; use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


class RenamedOption(argparse.Action):
    """An old spelling that is refused, naming the option that replaced it."""

    def __init__(self, option_strings, dest, *, new: str, **kwargs):
        self.new = new
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        parser.error(f"{option_string} is now {self.new}")


def deprecated(p: argparse.ArgumentParser, old: str, *, new: str, dest: str, type=None) -> None:
    """Keep ``old`` as a hidden alias of ``new`` (same ``dest``) that warns when used."""
    p.add_argument(old, dest=dest, action=DeprecatedOption, new=new, type=type, default=argparse.SUPPRESS)


def renamed(p: argparse.ArgumentParser, old: str, *, new: str) -> None:
    """Refuse ``old`` with the name of ``new`` (no silent second spelling)."""
    p.add_argument(old, dest=f"_renamed_{old.strip('-')}", action=RenamedOption, new=new, default=argparse.SUPPRESS)


_DASH_HINT = "hint: to pass a file whose name starts with '-', put `--` before it: workbench {command} -- {name}"


def _command_parser(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.ArgumentParser:
    """The (sub-)command parser ``argv`` reaches: ``workbench model info …`` gives ``model info``'s parser."""
    words = [a for a in argv if not a.startswith("-")]
    while True:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        nxt = next((w for w in words if subs and w in subs[0].choices), None)
        if nxt is None:
            return parser
        parser = subs[0].choices[nxt]
        words = words[words.index(nxt) + 1:]


def parse_argv(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse a command line; an unknown option is refused by its command, with the closest valid option named."""
    import difflib

    try:
        args, extras = parser.parse_known_args(argv)
        if extras:
            command = _command_parser(parser, argv)
            options = sorted({o for a in command._actions for o in a.option_strings  # not the hidden old spellings (probe's --k)
                              if o.startswith("--") and not isinstance(a, (DeprecatedOption, RenamedOption))})
            unknown = [e for e in extras if e.startswith("-")] or extras
            close = difflib.get_close_matches(unknown[0].split("=", 1)[0], options, n=1)
            command.error(f"unknown option {unknown[0]!r}" + (f"; did you mean {close[0]}?" if close else "")
                          + f" (its options: {' '.join(options)})" if unknown[0].startswith("-") else
                          f"unexpected argument(s) {' '.join(extras)}")
        return args
    except SystemExit as exc:
        if exc.code not in (0, None):
            dashed = [a for a in argv if a.startswith("-") and a not in ("-", "--") and Path(a).exists()]
            if dashed:
                command = next((a for a in argv if not a.startswith("-")), "COMMAND")
                print(_DASH_HINT.format(command=command, name=shell_command(dashed[0])), file=sys.stderr)
        raise


def disk_full(exc: BaseException) -> OSError | None:
    """The ENOSPC/EDQUOT/EFBIG (a file size limit, `ulimit -f`) error behind ``exc`` (itself, its cause or its context), if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and (exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) or "No space left on device" in str(exc)):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def path_fault(exc: BaseException) -> str | None:
    """The message for a path the file system refuses (a name of 300 letters; an output on a read-only mount), which
    ended every command in 'unexpected OSError'; else ``None``."""
    name = os.fsdecode(exc.filename) if isinstance(exc, OSError) and exc.filename is not None else ""
    if name and exc.errno == errno.ENAMETOOLONG and (part := max(len(os.fsencode(p)) for p in name.split(os.sep))):  # which limit
        return (f"error: {printable(cut_middle(name, 120))}: is no possible path: " + (f"one name in it ({part:,} bytes) is longer than this file system allows a file name (255 bytes)" if part > 255
                else f"its {len(os.fsencode(name)):,} bytes are longer than this file system allows a path (4,096)") + ".\n  fix: check the name you typed (a value meant as text, given where a path goes?).")
    if name and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return (f"error: {printable(cut_middle(name, 120))}: cannot be used: {os.strerror(exc.errno)}.\n  fix: choose a path "
                "in a folder you may write to (and read from), or change the folder's permissions.")
    return None


def cache_fault(exc: BaseException) -> str | None:
    """The message for an error of the workbench's cache folder behind ``exc`` (a cache that is a file, a folder of it
    that is a file, one that cannot be written), or ``None``: the cache is not the user's input, but it is theirs to fix."""
    root = os.path.abspath(cache_dir())
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        name = getattr(exc, "filename", None) if isinstance(exc, OSError) else None
        if name and exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR):
            where = os.path.abspath(os.fsdecode(name))
            if where == root or where.startswith(root + os.sep):
                parts = Path(os.path.relpath(where, os.path.dirname(root))).parts
                levels = [os.path.join(os.path.dirname(root), *parts[:i]) for i in range(1, len(parts) + 1)]
                blocked = next((lv for lv in levels if os.path.lexists(lv) and not os.path.isdir(lv)), None)
                if blocked is not None:  # the cache, or a folder in it, is a file (or a link to one)
                    fact, where = "is a file, where the workbench keeps a folder of its cache", blocked
                    fix = f"move {printable(blocked)} away (the workbench makes the folder again)"
                else:  # a temporary folder being made is no name to fix: the folder it was made in is
                    while not os.path.lexists(where) and os.path.dirname(where) not in (where, os.path.dirname(root)):
                        where = os.path.dirname(where)
                    fact = f"cannot be used for the workbench's cache ({os.strerror(exc.errno)})"
                    fix = f"make {printable(root)} a folder you can write in"
                return f"error: {printable(where)}: {fact}.\n  fix: {fix}, or set WORKBENCH_CACHE to another folder."
        exc = exc.__cause__ or exc.__context__
    return None


def one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@contextlib.contextmanager
def console_logging(*, verbose: bool = False, debug: bool = False):
    """While a command runs: the workbench's warnings (INFO with -v) on stderr, every library's lines,
    warnings and bars in the log file (--debug: on stderr too); see :mod:`workbench.logs`."""
    with routed_logs(verbose=verbose, debug=debug):
        yield


def add_overwrite_option(parser) -> None:
    """``--overwrite``: a command that writes one file (a manifest) replaces an existing one only when asked."""
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the output file when it exists (default: an existing file is refused, so that a "
                             "hand-edited manifest is never lost to a re-scan)")


def check_out_file(out: str | os.PathLike, *, overwrite: bool, option: str = "--out") -> Path:
    """Refuse an output file that exists already unless ``overwrite``: before any scanning, nothing is replaced that the
    user did not ask to replace."""
    p = Path(out).expanduser()
    if overwrite or not (p.exists() or p.is_symlink()) or p.is_dir():
        return p  # a folder in the way is told by the writer
    try:
        st = p.stat()
        when = datetime.fromtimestamp(st.st_mtime).strftime("%Y-%m-%d %H:%M")
        what = f" ({st.st_size:,} bytes, last written {when})"
    except OSError:
        what = ""
    raise ConfigError(f"exists already{what}; writing would replace it, and any hand edits in it with it.", source=str(p),
                      fix=f"pass --overwrite to replace it, or choose another {option}.")


def check_out_dir(out: str | os.PathLike, *, option: str = "--out") -> Path:
    """Refuse an output folder that cannot be one, before any model loads.

    The path must be a folder or not exist yet; its nearest existing parent
    must be a folder this user can write in.
    """
    p = Path(out).expanduser()
    if p.exists() and not p.is_dir():
        raise ConfigError("is a file, not a folder.", source=str(p),
                          fix=f"choose a folder for {option} (it is created when missing).")
    parent = p.absolute()
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"cannot be created: {parent} is a file, not a folder.", source=str(p),
                          fix=f"choose a folder for {option} that is not inside a file.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"cannot be written: no write permission in {parent}.", source=str(p),
                          fix=f"choose a folder you can write to for {option}.")
    return p


def banner(flag, model: Any = None) -> None:
    """The random-weights banner, printed when ``flag`` is true: a head's names it and its random parent, as explain's."""
    if flag:
        print(f"!! {random_weights_banner(model) if model is not None else RANDOM_WEIGHTS_BANNER}")


def random_banner_for(run_dir) -> None:
    """The random-weights banner when the run in ``run_dir`` was made with random weights."""
    banner(RunFolder(run_dir).random_weights, RunFolder(run_dir).model_ref)


def say_loading(line: str) -> None:
    """What the model load is doing, on stderr while it happens (it takes seconds on a large checkpoint)."""
    print(f"  {line} …", file=sys.stderr, flush=True)


def new_folder(base: str) -> Path:
    """``base``, or ``base_1``, ``base_2`` … when it exists: a default output folder is always a new one."""
    out, k = Path(base), 1
    while out.exists():
        out, k = Path(f"{base}_{k}"), k + 1
    return out
