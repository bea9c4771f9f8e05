"""``workbench report``: a template executed with papermill into ``reports/<name>/<timestamp>/``, its parameters
checked against the template's ``parameters`` cell and resolved against the caller's folder (the executed notebook
keeps them relative to its own folder), the executed notebook turned into one self-contained HTML page, a failed
run's folder marked ``_FAILED``."""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import warnings
from datetime import datetime
from pathlib import Path

from workbench import files
from workbench.data.cards import run_training_overlap
from workbench.errors import ConfigError, ModelError, did_you_mean
from workbench.data.demoset import choose_model
from workbench.model.generated import random_checkpoint_info, read_training_card
from workbench.paths import portable_path
from workbench.runs.folder import RunFolderError, as_run_folder
from workbench.serialize import load_yaml_text, shown
from workbench.views.html import notebook_html

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
#: the widget notebooks of a checkout (absent from an installed package)
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
#: parameters that name files or folders: made absolute before the notebook runs (it may run elsewhere)
PATH_PARAMS = ("run_dir", "sweep_path", "segment_dir", "path", "manifest")
LOG_NAME = "report.log"


def write_metrics(report_dir: str | os.PathLike, payload: dict) -> None:
    """Write ``metrics.json`` (returns nothing, so a template's last line shows nothing).  A ``run_dir`` (the machine's
    that made the page, home as ``~``) gets ``run_dir_from_report`` beside it, the run folder relative to the report's
    folder where both lie in one project: the file says where a copy of both finds the run."""
    run = payload.get("run_dir")
    if isinstance(run, str) and run and "run_dir_from_report" not in payload:
        rel = portable_path(os.path.expanduser(run), report_dir, home=False)
        if rel.startswith("."):
            payload = {**payload, "run_dir_from_report": rel}
    files.write_json(Path(report_dir) / "metrics.json", payload)  # strict JSON (NaN -> null), never through a link


def template_path(template: str | os.PathLike) -> Path:
    p = Path(template)
    if p.suffix == ".ipynb" and p.is_file():
        return p
    cand = TEMPLATES / f"{p.name if p.suffix == '.ipynb' else p.name + '.ipynb'}"
    if cand.is_file():
        return cand
    known = sorted(x.stem for x in TEMPLATES.glob("*.ipynb"))
    close = difflib.get_close_matches(p.stem, known, n=1)  # "experiment_reprot" was refused without the closest one named
    guess = f"did you mean {close[0]!r}? " if close else ""
    raise ConfigError(f"unknown report template {str(template)!r}; {guess}templates: {', '.join(known)}.",
                      fix="pass one of them, or a path to a notebook.")


_PARAM_LINE = re.compile(r"^([A-Za-z_]\w*)\s*=\s*(.*?)(?:\s+#\s*(.*))?$")


def template_parameter_help() -> str:
    """Each built-in template's parameters as ``-p NAME=VALUE`` takes them, with the default and the words of its
    ``parameters`` cell (read as JSON, papermill not imported): `workbench report --help` named only ``run_dir``, so
    ``baseline``, ``fusion`` or ``run_dirs`` were found by reading the notebooks."""
    lines = ["Parameters (-p NAME=VALUE) of each template, NAME=default: what it is:"]
    # in a checkout, the widget notebooks too: `report notebooks/05_long_audio.ipynb` took path= and segment_dir=, said
    # nowhere but in the notebook's first cell
    shipped = sorted(NOTEBOOKS.glob("[0-9]*.ipynb")) if NOTEBOOKS.is_dir() else []
    for path in [*sorted(TEMPLATES.glob("*.ipynb")), *shipped]:
        cells = json.loads(path.read_text(encoding="utf-8")).get("cells", [])
        cell = next((c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
        source = "".join(cell["source"]) if cell else ""
        found = [m for line in source.splitlines() if (m := _PARAM_LINE.match(line.strip())) and m[1] != "report_dir"]
        lines.append(f"  {path.stem if path.parent == TEMPLATES else 'notebooks/' + path.name}:")
        lines += [f"    {m[1]}={m[2]}" + (f": {m[3]}" if m[3] else "") for m in found]
    return "\n".join(lines)


def parse_params(pairs: list[str], template: str | os.PathLike | None = None, notes: list | None = None) -> dict:
    """``key=value`` strings; values parse as YAML (numbers, true/false, null), else stay strings.  ``None`` and
    ``none`` are null too: the templates say "None skips …" in Python's spelling, and YAML read it as the string
    ``'None'``, which turned ``-p probe_folds=None`` into a probe with an unknown scheme instead of none.  Values are
    parsed with the bounds of every YAML file the workbench reads: an alias (nine of them in one ``-p title=[&a …]``
    expanded to gigabytes) or a number of thousands of digits (``unexpected ValueError``) stays the text it was typed
    as.  A name given twice is refused (the last one won without a word).  With ``template``, the values are also
    checked against it (:func:`check_params`), and every problem of the list (not key=value, a name given twice, an
    unknown name, a bad value) is said in one refusal: they were refused one at a time, so a user met them in turn.
    A template's old parameter name (:data:`RENAMED_PARAMS`) is read as its new one, and ``notes`` (a list) receives
    one line per such name, for the caller to print."""
    out, typed, problems = {}, {}, []  # typed: each value as it was typed, for the refusals
    given: dict[str, list[str]] = {}
    bare: list[str] = []  # the ones without "=", said in one problem (300 of them were 300 problems, 12 KB of one line)
    for s in pairs or []:
        if "=" not in s:
            bare.append(s)
            continue
        k, v = s.split("=", 1)
        if len(k.strip()) > MAX_NAME_CHARS:  # a name of 10^5 characters was echoed whole, three times once given twice
            problems.append((f"parameter name {shown(k.strip())} has {len(k.strip()):,} characters; no template declares one "
                             f"over {MAX_NAME_CHARS}", "spell each as one of the template's names, e.g. -p run_dir=…"))
            continue
        given.setdefault(k.strip(), []).append(v)
        if k.strip() in out:
            continue
        typed[k.strip()] = v
        try:
            out[k.strip()] = None if v.strip() in ("None", "none") else load_yaml_text(v, source=f"--param {k.strip()}")
        except ConfigError:  # YAML that does not parse, an alias (`*draft*`), a number past 2**63: the text itself
            out[k.strip()] = v
    if bare:
        problems.insert(0, (f"parameter {shown(bare[0])} is not key=value" if len(bare) == 1 else
                            f"{len(bare)} parameters are not key=value (" + ", ".join(shown(b) for b in bare[:MAX_PROBLEMS])
                            + (", …" if len(bare) > MAX_PROBLEMS else "") + ")", "write each as -p NAME=VALUE, e.g. -p run_dir=runs/my_run"))
    twice = [k for k, values in given.items() if len(values) > 1]
    if len(twice) > 3:  # one problem for them all: one each pushed the other kinds of problem out of the refusal
        problems.append((f"{len(twice)} parameters are given more than once ({', '.join(twice[:MAX_PROBLEMS])}"
                         + (", …" if len(twice) > MAX_PROBLEMS else "") + "); which value counts would be a guess",
                         "pass each name once"))
        given = {}
    for k, values in given.items():
        if len(values) > 1:
            shown_values = (", ".join(shown(v) for v in values[:min(len(values) - 1, 3)])
                            + (f", … {len(values) - 4} more" if len(values) > 4 else "") + f", then {shown(values[-1])}")
            problems.append((f"parameter {k} is given {'twice' if len(values) == 2 else f'{len(values)} times'} ({shown_values}); "
                             "which one counts would be a guess", f"pass -p {k}=… once"))
    if template is not None:
        out, said, renaming = renamed_params(template, out)
        typed = {RENAMED_PARAMS.get(Path(str(template)).stem, {}).get(k, k): v for k, v in typed.items()}
        problems += renaming + param_problems(template, out, typed)
        if notes is not None:
            notes += said
    refuse_params(problems)
    return out


#: a template's parameters renamed, old name -> new name: checkpoint_comparison's ``probe_folds`` held a fold SCHEME and
#: ``probe_k`` a fold COUNT, where every command says ``--scheme`` and ``--folds``; the old count name still works
RENAMED_PARAMS = {"checkpoint_comparison": {"probe_k": "probe_folds"}}
#: (template, name) -> the parameter that name meant before: ``-p probe_folds=speaker`` (a scheme, or None to skip the
#: probe) is refused naming ``probe_scheme``, never read as a count
REUSED_PARAMS = {("checkpoint_comparison", "probe_folds"): "probe_scheme"}


def _checked_params(src: Path, params: dict | None) -> dict:
    """``params`` for the template ``src`` with its old names given their new ones (a FutureWarning each), checked."""
    params, notes, problems = renamed_params(src, dict(params or {}))
    refuse_params(problems)
    for note in notes:
        warnings.warn(note, FutureWarning, stacklevel=3)
    check_params(src, params)
    return params


def renamed_params(template: str | os.PathLike, params: dict) -> tuple[dict, list[str], list[tuple[str, str]]]:
    """``params`` with ``template``'s old names (:data:`RENAMED_PARAMS`) given their new ones; a note for each one
    renamed (said as deprecated), and a (problem, fix) where the old and the new name are both given."""
    renames = RENAMED_PARAMS.get(Path(str(template)).stem, {})
    out, notes, problems = {}, [], []
    for k, v in params.items():
        new = renames.get(k)
        if new is None:
            out.setdefault(k, v)
        elif new in params:
            problems.append((f"parameter {k} is the old name of {new}, and both are given", f"pass -p {new}=… alone"))
        else:
            out[new] = v
            notes.append(f"-p {k} is deprecated: it is now -p {new} ({new}={v!r} used)")
    return out, notes, problems


def refuse_params(problems: list[tuple[str, str]]) -> None:
    """One refusal naming every (problem, its fix) of a ``-p`` list; nothing when there is none."""
    if problems:
        more = len(problems) - MAX_PROBLEMS  # hundreds of them at once made one line of kilobytes nobody reads
        fixes = list(dict.fromkeys(f for _, f in problems))
        raise ConfigError("; ".join(p for p, _ in problems[:MAX_PROBLEMS]) + (f"; and {more} more problem(s)" if more > 0 else "")
                          + ".", source="--param", fix="; ".join(fixes[:MAX_PROBLEMS]) + ("; …" if len(fixes) > MAX_PROBLEMS else "") + ".")


#: a -p list's refusal names this many problems (and each list in it this many names), then counts the rest
MAX_PROBLEMS = 8
#: the longest parameter name echoed: the templates' are a few words (``probe_folds``)
MAX_NAME_CHARS = 100


#: parameters holding a comma-separated list of paths
LIST_PATH_PARAMS = ("run_dirs",)
#: the largest count a report parameter takes (bootstrap resamples, as every command's --bootstrap; rows listed; folds)
MAX_COUNT_PARAM = 100_000
#: counts that need more than 1: folds (-p probe_k=1 passed, and the page said "Probe not evaluated … pass folds=5", a
#: Python argument, not the report's -p probe_k)
MIN_COUNT_PARAM = {"probe_folds": 2}
#: parameters that are text, never a path: `-p title=runs` in a folder holding runs/ was titled '/home/…/runs'
TEXT_PARAMS = ("title",)


def template_parameters(template: str | os.PathLike) -> list[str]:
    """The names a template's ``parameters`` cell declares (papermill's own reading of the notebook)."""
    import papermill as pm

    return list(pm.inspect_notebook(str(template_path(template))))


def check_params(template: str | os.PathLike, params: dict) -> None:
    """Refuse a parameter the template does not declare: papermill would inject it unread, and a misspelt
    ``rundir=`` would give a report of the template's default data (issue #20, defect 2); and a value its parameter
    cannot take (:func:`param_problems`): every problem in one refusal."""
    refuse_params(param_problems(template, params))


def param_problems(template: str | os.PathLike, params: dict, typed: dict | None = None) -> list[tuple[str, str]]:
    """Each (problem, fix) of ``params`` for ``template``: the unknown names (with the closest and the valid ones),
    ``report_dir``, a yes/no parameter given something else, a count given no whole number in its range (a yes/no
    too: ``-p probe_k=true`` is no count).  ``typed``: the values as typed, echoed as the user wrote them."""
    import papermill as pm

    typed = typed or {}
    specs = pm.inspect_notebook(str(template_path(template)))
    declared = list(specs)
    settable = [k for k in declared if k != "report_dir"]  # report_dir is set by run_report
    unknown = sorted(k for k in params if k not in declared)
    problems = []
    if unknown:
        # names and the closest one, as a misspelt option is refused ("['rundir'] … takes ['run_dir', …]" named no correction)
        said = "; ".join(f"{shown(k)}" + (f" ({did_you_mean(k, settable).strip()})" if did_you_mean(k, settable) else "")
                         for k in unknown[:MAX_PROBLEMS]) + (f"; … {len(unknown) - MAX_PROBLEMS} more" if len(unknown) > MAX_PROBLEMS else "")
        problems.append((f"unknown parameter{'s' if len(unknown) > 1 else ''} {said}; template {Path(str(template)).stem} takes "
                         f"{', '.join(settable)}", f"spell each as one of them, e.g. -p {settable[0]}=…"))
    if "report_dir" in params:
        problems.append(("report_dir is chosen by `workbench report` (under --out)", "leave out -p report_dir=…, and pass --out FOLDER instead"))
    for name, spec in specs.items():
        if name not in params:
            continue
        value, default, least = params[name], str(spec.get("default")), MIN_COUNT_PARAM.get(name, 1)
        as_typed = shown(typed[name]) if name in typed else shown(value)
        meant = REUSED_PARAMS.get((Path(str(template)).stem, name))
        if meant and (value is None or isinstance(value, str)):  # the old meaning of the name: a scheme, or None
            problems.append((f"parameter {name}={as_typed} reads as a fold scheme, but {name} is now the number of folds "
                             f"(as --folds); the scheme is {meant}", f"pass -p {meant}={shown(str(typed.get(name, value)))[1:-1]} (and -p {name}=N for the count)"))
            continue
        # a yes/no parameter (its default True or False) given another value: `-p fusion=maybe` ran the report up to the
        # cell that reads it, then failed there and left a _FAILED folder
        if default in ("True", "False") and not isinstance(value, bool):
            problems.append((f"parameter {name}={as_typed} is not true or false", f"pass -p {name}=true or -p {name}=false"))
        # a count (its default a whole number: n_boot, top, probe_k) given text, 0 or 10**12 failed in a cell or ran for
        # ever; a yes/no (``true``, which Python counts as 1) is no count
        if default.isdigit() and (type(value) is not int or not least <= value <= MAX_COUNT_PARAM):
            problems.append((f"parameter {name}={as_typed} is not a whole number from {least} to {MAX_COUNT_PARAM:,}"
                             + (" (it reads as a yes/no)" if isinstance(value, bool) else ""),
                             f"pass -p {name}={default} (the default) or another whole number in that range"))
    return problems


def resolve_params(params: dict, *, cwd: str | os.PathLike | None = None) -> dict:
    """Parameters with paths made absolute against ``cwd`` (the caller's), and ``run_dir`` checked.

    The notebook runs in its own process and may run in another folder, so a
    relative ``run_dir=runs/r50v`` must mean the folder the *caller* sees:
    :data:`PATH_PARAMS` are always made absolute; any other string value is
    when it names a file or folder that exists there.
    """
    base = Path(cwd) if cwd is not None else Path.cwd()
    out = dict(params)
    for k, v in params.items():
        if k in LIST_PATH_PARAMS and isinstance(v, str) and v.strip():  # "A,B": each one against the caller's folder
            out[k] = ",".join(str((base / Path(d.strip()).expanduser()).resolve()) for d in v.split(",") if d.strip())
            missing = [d for d in out[k].split(",") if not Path(d).is_dir()]
            if missing:
                raise ConfigError(f"parameter {k}: {', '.join(missing)} is not a folder.",
                                  fix="pass run folders of finished `workbench run`s, comma-separated (relative paths start where you run the command).")
            continue
        if not isinstance(v, str) or not v.strip() or k in TEXT_PARAMS:
            continue
        full = _named_path(k, v, base)
        if full is not None:
            out[k] = str(full)
    if out.get("run_dir"):
        try:
            rf = as_run_folder(out["run_dir"])
            rf.results()
        except RunFolderError as exc:  # the folder's own fact and fix (the runs beside it, a checkpoint named as one), once
            fix = (exc.fix or "pass the --out folder of a finished `workbench run`").rstrip(".")
            raise ConfigError(f"parameter run_dir={params['run_dir']!r} ({out['run_dir']}): {exc.message}",
                              fix=f"{fix} (relative paths start where you run the command).") from None
        check_baseline(params.get("baseline"), [str(v) for v in dict.fromkeys(rf.results()["variant"])])
    for k in PATH_PARAMS:
        if k != "run_dir" and out.get(k) and not Path(out[k]).exists():
            raise ConfigError(f"parameter {k}={params[k]!r}: {out[k]} does not exist.", fix="check the path (relative paths start where you run the command).")
    return out


def _named_path(name: str, value: str, base: Path) -> "Path | None":
    """``value`` of parameter ``name`` as an absolute path when it is one (:data:`PATH_PARAMS`, or another value naming
    a file or folder that exists, such as ``model=ckpt/``), else None.  A value no file can have (longer than a file
    name may be, or holding a NUL) is no path: ``-p model=<300 characters>`` ended in 'unexpected OSError'."""
    try:
        p = Path(value).expanduser()
        full = p if p.is_absolute() else base / p
        return full.resolve() if name in PATH_PARAMS or full.exists() else None
    except (OSError, ValueError) as exc:
        if name in PATH_PARAMS:
            raise ConfigError(f"parameter {name}={shown(value)} cannot be a path ({getattr(exc, 'strerror', None) or exc}).",
                              source="--param", fix="pass the path of an existing file or folder.") from None
        return None


def check_baseline(baseline, variants: list[str]) -> None:
    """Refuse a ``baseline`` parameter that is none of the run's variants before the notebook starts: it failed in a
    cell, leaving a ``_FAILED`` folder, with the fix "pass --baseline", an option `workbench report` does not have."""
    if baseline is None or str(baseline) in variants:
        return
    close = difflib.get_close_matches(str(baseline), variants, n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    raise ConfigError(f"parameter baseline={baseline!r}: the run has no such variant; {guess}its variants: {', '.join(variants)}.",
                      source="--param", fix=f"pass -p baseline= one of them, e.g. -p baseline={close[0] if close else variants[0]}.")


def notebook_params(params: dict, report_dir: Path) -> dict:
    """The parameters as the executed notebook keeps them: ``report_dir`` is ``.`` (the notebook runs in its folder, and
    Jupyter starts its kernel there), and an absolute path relative to that folder where both lie in one project
    (:func:`~workbench.paths.portable_path`), so the notebook names no home folder and runs again in a project copied whole."""
    def portable(value: str) -> str:
        return portable_path(value, report_dir, home=False) if Path(value).is_absolute() and Path(value).exists() else value

    out = {}
    for k, v in params.items():
        if k == "report_dir":
            out[k] = "."
        elif k in LIST_PATH_PARAMS and isinstance(v, str):
            out[k] = ",".join(portable(d) for d in v.split(","))
        else:
            out[k] = portable(v) if isinstance(v, str) else v
    return out


def _published_notebook(nb_out: Path, template: "Path | None"):
    """The executed notebook re-written without the machine's paths papermill records in its metadata (the template's
    and the notebook's own): a built-in template by its place in the package, another one relative to the report folder
    or under ``~``, the notebook by its file name; returns it (nbformat)."""
    import nbformat

    nb = nbformat.read(nb_out, as_version=4)
    meta = nb.metadata.get("papermill")
    if isinstance(meta, dict):
        source = Path(str(template or meta.get("input_path") or ""))
        meta["input_path"] = (f"workbench/templates/{source.name}" if source.parent == TEMPLATES  # in the package
                              else portable_path(source, nb_out.parent)) if source.name else None
        meta["output_path"] = nb_out.name
        files.write_text(nb_out, nbformat.writes(nb))
    return nb


def _kernel_manager_logging_to(log_path: Path):
    """A kernel manager whose kernel writes its own stdout/stderr (start-up warnings, C libraries) to ``log_path``."""
    from jupyter_client.manager import AsyncKernelManager

    class ReportKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):
            with open(log_path, "ab") as fh:  # the kernel keeps its own copy of the descriptor
                kw.setdefault("stdout", fh)
                kw.setdefault("stderr", fh)
                return await super().start_kernel(**kw)

    return ReportKernelManager


def run_report(template: str | os.PathLike, params: dict | None = None, *, out: str | os.PathLike = "reports",
               timeout: int = 1800) -> dict:
    """Execute a template with papermill; return the paths written (``dir``, ``notebook``, ``html``, ``metrics``, ``log``)
    and ``random_weights`` (a run it read was scored with random weights: its page says so first).

    Relative path parameters mean paths relative to the current folder.  When
    the notebook fails or stops, its folder is renamed ``<stamp>_FAILED`` (the
    executed notebook and HTML show how far it got) and a :class:`ConfigError`
    names it; when it cannot start, the half-made folder is removed.

    Parameters
    ----------
    template : str or Path
        ``experiment_report``, ``variant_comparison``, ``checkpoint_comparison``, or a notebook path.
    params : dict, optional
        The template's parameters (those of its ``parameters`` cell; another name is refused with
        the valid ones), e.g. ``{"run_dir": "runs/my_run", "fusion": True}``.
    out : str or Path
        The folder that receives ``<template>/<timestamp>/``.
    timeout : int
        Seconds one cell may run.

    Examples
    --------
    >>> run_dir = wb.demo_run("runs/demo", model="tiny")
    >>> written = wb.run_report("experiment_report", {"run_dir": str(run_dir)}, out="reports")
    >>> sorted(p.name for p in written["dir"].iterdir())
    ['experiment_report.html', 'experiment_report.ipynb', 'metrics.json', 'report.log']
    >>> wb.run_report("experiment_report", {"rundir": str(run_dir)})
    Traceback (most recent call last):
        ...
    workbench.errors.ConfigError: --param: unknown parameter 'rundir' (did you mean 'run_dir'?); template experiment_report takes run_dir, model, title, fusion. Fix: ...
    """
    import papermill as pm

    src = template_path(template)
    params = _checked_params(src, params)
    params = resolve_params(dict(params or {}))
    name = src.stem
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    base = Path(out) / name
    report_dir = base / stamp
    k = 1
    while report_dir.exists():
        report_dir = base / f"{stamp}_{k}"
        k += 1
    # <out>/<template>/<stamp>/ below the folder the caller chose, no level a link (a reports/experiment_report link
    # committed in a cloned repository sent the notebook, its HTML and log wherever it pointed)
    with files.open_folder(base, root=Path(out), create=True) as dfd:
        os.mkdir(report_dir.name, 0o755, dir_fd=dfd)  # exclusive: a folder of this run alone (papermill writes into it by name)
    report_dir = report_dir.resolve()
    params["report_dir"] = str(report_dir)
    nb_out = report_dir / f"{name}.ipynb"
    html_path = report_dir / f"{name}.html"
    log = report_dir / LOG_NAME
    try:
        # the notebook runs in its report folder, beside its executed copy: what it makes (a notebook's runs/) lands
        # there, not in the caller's folder; path parameters were made absolute against the caller's folder above
        pm.execute_notebook(str(src), str(nb_out), parameters=notebook_params(params, report_dir), kernel_name="python3",
                            progress_bar=False, log_output=False, execution_timeout=timeout,
                            kernel_manager_class=_kernel_manager_logging_to(log), cwd=str(report_dir))
    except pm.PapermillExecutionError as exc:
        failed = _mark_failed(report_dir, nb_out, html_path, name, f"{exc.ename}: {exc.evalue}")
        raise ConfigError(f"the report notebook failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue}", source=str(failed),
                          fix=f"open {failed / nb_out.name} (or the .html beside it) for the traceback, and {failed / LOG_NAME}; check the parameters.") from None
    except BaseException as exc:  # the kernel died, a cell timed out, Ctrl-C …
        if not nb_out.is_file():
            shutil.rmtree(report_dir, ignore_errors=True)  # nothing worth keeping: the notebook never started
            raise
        failed = _mark_stopped(exc, report_dir, nb_out, html_path, name)
        if not isinstance(exc, Exception):
            raise
        raise ConfigError(f"the report notebook did not finish: {type(exc).__name__}: {exc}", source=str(failed),
                          fix=f"see {failed / LOG_NAME} and the executed notebook for how far it got.") from exc
    random_weights, overlap = read_random_weights(params, report_dir, src), read_training_overlap(params)
    files.write_text(html_path, notebook_html(_published_notebook(nb_out, src), title=name, random_weights=random_weights, overlap=overlap, notebook=nb_out.name))
    metrics = report_dir / "metrics.json"
    if not metrics.is_file():
        write_metrics(report_dir, {"note": "the template wrote no metrics"})
    return {"dir": report_dir, "notebook": nb_out, "html": html_path, "metrics": metrics, "log": log, "random_weights": random_weights}


def read_training_overlap(params: dict) -> list[tuple[str, str]]:
    """The training-data warnings of the runs a report read (``run_dir``, ``run_dirs``; a run's name before each when
    there are several): a widget notebook's page of a head's run said only RANDOM WEIGHTS, never that its speakers
    trained the head.  Each as ``(run, warning)``, ``run`` "" for a report of one run."""
    named = [d for d in [params.get("run_dir"), *str(params.get("run_dirs") or "").split(",")] if d]
    said: list[tuple[str, str]] = []
    for d in named:
        try:
            warnings = run_training_overlap(as_run_folder(Path(d)))
        except (RunFolderError, OSError):  # not a run folder: nothing to say
            continue
        said += [(f"run {Path(d).name}: " if len(named) > 1 else "", str(w)) for w in warnings]
    return said


def read_random_weights(params: dict, report_dir: Path, template: str | os.PathLike | None = None) -> bool:
    """Whether a run the report read was scored with random weights: its ``run_dir`` or ``run_dirs``, or a run the
    notebook made in its own folder (a template's demo run under ``runs/``), as the experiment report's header tells.
    A ``template`` that read no run and takes a ``model`` scored with the checkpoint its ``model`` parameter chose (the
    demo's choice when not given, as the notebook makes it): ``tiny`` or a random checkpoint folder is random too
    (02_sample_rate_effects and 05_long_audio with ``-p model=tiny`` drew a page of random scores without a banner)."""
    named = [params.get("run_dir"), *str(params.get("run_dirs") or "").split(",")]
    read = False
    for d in [Path(d) for d in named if d] + [p.parent for p in sorted(report_dir.glob("runs/*/summary.json"))]:
        try:
            if as_run_folder(d).random_weights:
                return True
            read = True
        except (RunFolderError, OSError):  # not a run folder: nothing to say about its weights
            continue
    if params.get("segment_dir"):  # 05_long_audio on a `segment` folder: its summary says what scored it
        try:  # a folder from anyone: a summary past 1 MB is not one `segment` wrote
            path = Path(params["segment_dir"]) / "summary.json"
            summary = json.loads(path.read_text(encoding="utf-8")) if path.stat().st_size <= 1 << 20 else None
            return bool(summary.get("random_weights")) if isinstance(summary, dict) else False
        except (OSError, ValueError):
            pass
    if read or template is None or "model" not in template_parameters(template):
        return False
    chosen = choose_model(params.get("model"))[0]
    if chosen == "tiny" or (Path(chosen).is_dir() and random_checkpoint_info(chosen) is not None):
        return True
    try:  # a head fine-tuned from a random parent (`-p model=models/head`): its card says so, the page said nothing
        card = read_training_card(chosen) if Path(chosen).is_dir() else None
    except ModelError:
        return False
    return bool(((card or {}).get("parent") or {}).get("random_weights"))


def _mark_stopped(exc: BaseException, report_dir: Path, nb_out: Path, html_path: Path, name: str) -> Path:
    """Mark a report the kernel's death, a timeout or a Ctrl-C stopped; a Ctrl-C is told as one (not "KeyboardInterrupt: "),
    and the exception carries where what ran is kept, for the command line's "interrupted" line."""
    stopped = isinstance(exc, KeyboardInterrupt)
    why = ("interrupted (Ctrl-C or a termination signal) before the notebook finished: what ran is kept, the rest never ran; "
           "run the same command again for a whole report") if stopped else f"{type(exc).__name__}: {exc}"
    failed = _mark_failed(report_dir, nb_out, html_path, name, why, status="INTERRUPTED" if stopped else "FAILED")
    if stopped:
        try:
            exc.kept = f"what ran of the report is kept in {failed}"  # type: ignore[attr-defined]
        except AttributeError:
            pass
    return failed


def _mark_failed(report_dir: Path, nb_out: Path, html_path: Path, name: str, why: str, status: str = "FAILED") -> Path:
    """Mark a report that did not finish: its HTML titled ``(FAILED)`` or ``(INTERRUPTED)``, ``FAILED`` saying why, the
    folder renamed ``<stamp>_FAILED``."""
    if nb_out.is_file():
        files.write_text(html_path, notebook_html(_published_notebook(nb_out, None), title=f"{name} ({status})"))
    files.write_text(report_dir / "FAILED", why + "\n")
    failed = report_dir.with_name(report_dir.name + "_FAILED")
    files.rename_folder(report_dir, failed)
    return failed
