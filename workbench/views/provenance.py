"""A report's reproduction lines: how to make the run and the page again, what made the run, and whether it repeats
the run it came from.

A page others read shows paths with the home folder as ``~`` (:func:`workbench.paths.published_path`): it names the
run folder a reader needs for the commands, not the author's user name.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from workbench.errors import WorkbenchError
from workbench.model.generated import read_training_card
from workbench.paths import published_path, published_word, shell_command
from workbench.runs.experiment import EXPERIMENT_FILE
from workbench.runs.reproduce import REPRODUCTION_FILE, PACKAGES, version_note
from workbench.views.html import code, esc

#: the versions a report's header names (the rest are in summary.json's ``environment``)
SHOWN_PACKAGES = ("torch", "funasr", "numpy", "soxr", "noisereduce", "librosa", "scikit-learn")


def model_item(rf: Any) -> str:
    """The header's model line (HTML): the checkpoint, its size, device, precision and checksum; for a head that
    ``workbench finetune`` trained (its folder, or its ONNX export, holds the training card), what it is: its classes and
    the checkpoint whose embeddings it was trained on, and that a head on random weights means nothing.  The line named
    only the folder: a head trained for four classes of one's own on a random checkpoint read as any checkpoint."""
    model = rf.model_ref
    line = (f"<b>model</b>: {code(model.get('id', '?'))} ({int(model.get('parameters') or 0):,} parameters, "
            f"{esc(model.get('device', '?'))}, {esc(model.get('dtype', '?'))}), checksum {code(str(model.get('checksum'))[:16])}")
    try:
        card = read_training_card(rf.model().model)
    except (WorkbenchError, OSError, ValueError, TypeError):  # a copy without the checkpoint folder: the line as it was
        card = None
    if not card:
        return line
    parent = card.get("parent") if isinstance(card.get("parent"), dict) else {}
    classes = [str(c) for c in ((card.get("labels") or {}).get("classes") or model.get("labels") or [])]
    meaning = ("; its parent has RANDOM WEIGHTS, so the head means nothing either" if parent.get("random_weights") or
               rf.random_weights else "")
    return (line + f" — a head <code>workbench finetune</code> trained for {len(classes)} classes ({esc(', '.join(classes))}) "
            f"on the embeddings of {code(parent.get('id', '?'))} (its training card: <code>training_card.json</code> in the "
            f"checkpoint folder){meaning}")


def reproduce_items(rf: Any, template: str = "experiment_report", params: dict | None = None,
                    given: str | os.PathLike | None = None) -> list[str]:
    """``<li>`` items (HTML) for the header: the commands that make the run and this page (``template`` with its
    ``params`` besides ``run_dir``; None left out) again, what made the run, and where a copy finds the run folder
    (``given``: the ``run_dir`` the page was made with)."""
    run = published_path(rf.path)
    again = f"workbench run {_home_word(f'{run}/{EXPERIMENT_FILE}')} --out NEW_FOLDER"
    # a parameter naming a file or folder (the sweep's clip, a checkpoint) is given to the notebook relative to the page's
    # folder, where it runs: the command typed elsewhere names it absolute (home as ~), the copy's keeps it relative
    extra = [w for k, v in (params or {}).items() if v is not None for w in ("-p", f"{k}={v}")]
    shown = " ".join(f"-p {_path_param(k, v)}" for k, v in (params or {}).items() if v is not None)
    page = f"workbench report {shell_command(template)} -p {_home_word(run, 'run_dir=')} {shown}".rstrip()
    items = [f"<b>reproduce</b>: the run with {code(again)} (it says whether the new rows repeat these); this page with {code(page)} "
             f"(its bootstrap intervals draw with the run's seed, {esc(rf.seed)})", typed_item(rf.summary.get("command_line"))]
    env = rf.summary.get("environment") or {}
    made_by = rf.config.get("workbench_version") or env.get("workbench")
    if env:
        packages = env.get("packages") or {}
        shown = ", ".join(f"{k} {packages[k]}" for k in SHOWN_PACKAGES if packages.get(k))
        commit = f" (commit {env['workbench_commit'][:10]})" if isinstance(env.get("workbench_commit"), str) else ""
        items.append(f"<b>run made with</b>: workbench {esc(made_by)}{esc(commit)}, Python {esc(env.get('python'))} on {esc(env.get('platform'))}; "
                     f"{esc(shown)} (all {len(PACKAGES)} in summary.json's <code>environment</code>)")
    else:
        items.append(f"<b>run made with</b>: workbench {esc(made_by or '?')}; package versions not recorded (a run of an older version)")
    return items + ([copy_item(rf, given, template, extra)] if given is not None else [])


def copy_item(rf: Any, given: str | os.PathLike, template: str = "experiment_report", extra: list[str] | None = None) -> str:
    """An ``<li>`` item (HTML): the paths on the page are the ones of the machine that made it, and where a copy of the
    run folder and the page finds the run.  ``given`` relative is the executed notebook's ``run_dir``, kept relative to
    its own folder (the page's) where both lie in one project; absolute, they do not, and the reader is told what to
    replace.  (A page that named /tmp/proj/runs/x said nothing of it: copied, its commands named a folder not there.)
    ``template`` and ``extra`` (``-p NAME=VALUE`` words besides ``run_dir``) make the page's own command for the copy:
    the line gave the run's only, and a reader who pasted the page's `run_dir=/tmp/…` met a folder not there."""
    run = published_path(rf.path)
    word = str(given)
    if isinstance(given, (str, os.PathLike)) and not Path(word).is_absolute() and not word.startswith("~"):
        rel = Path(os.path.normpath(word)).as_posix()
        again = f"workbench run {shell_command(f'{rel}/{EXPERIMENT_FILE}')} --out NEW_FOLDER"
        inside = all(part == ".." for part in Path(rel).parts)  # the page lies in the run folder (RUN/reports/…)
        copy = "a copy of the run folder, this page in it," if inside else "a copy of the project, this page and the run in it,"
        page = f"workbench report {shell_command(template)} -p {shell_command('run_dir=' + rel)} {shell_command(*(extra or []))}".rstrip()
        page += " --out NEW_REPORTS"  # a folder the reader names, as NEW_FOLDER: the default reports/ is a name they did not choose
        return (f"<b>in a copy</b>: the paths above are the ones of the machine that made this page; the run folder is "
                f"{code(rel)} from this page's folder, so {copy} re-runs with {code(again)} and makes this page again with "
                f"{code(page)}, each typed in this page's folder")
    return (f"<b>in a copy</b>: the paths above are the ones of the machine that made this page (the run folder and this "
            f"page lie in no one project): elsewhere, write where your copy of the run folder lies instead of {code(run)}")


def reproduce_warnings(rf: Any) -> list[str]:
    """Blockquotes (HTML) for what makes this page's figures differ from the run's own: a newer workbench reading it,
    and a re-run that does not repeat the run it came from."""
    out = []
    note = version_note(rf)
    if note:
        out.append(f"<blockquote><b>⚠ {esc(note[0].upper() + note[1:])}</b> (its <code>metrics.json</code>).</blockquote>")
    repro = rf.artifact(REPRODUCTION_FILE, default=None)
    if isinstance(repro, dict) and repro.get("line"):
        mark = "" if repro.get("reproduced") else "⚠ "
        # "does NOT reproduce head" named a folder by its last word only: a reader of the page could not tell which run
        of = f" of {code(published_path(repro['reference_dir']))}" if isinstance(repro.get("reference_dir"), str) else ""
        # a re-run that reproduces is good news: in the warnings' red box under the RANDOM WEIGHTS banner it read as one
        # more alarm; green, inline, so a notebook without the page's stylesheet shows it so too
        box = "<blockquote style='background:#efe;border-left-color:#393'>" if repro.get("reproduced") else "<blockquote>"
        out.append(f"{box}<b>{esc(mark)}Re-run check</b>{of}: {esc(str(repro['line']).removeprefix('!! '))}</blockquote>")
    return out



def _path_param(key: str, value: Any) -> str:
    """``key=value`` for a page's own command: a relative value that names an existing file or folder from the page's
    folder (where the notebook runs) as :func:`published_path` shows it; another value as it is.  (A page made with
    ``-p sweep_path=clip.wav`` printed a command without it, which makes a page sweeping the demo clip instead.)"""
    text = str(value)
    if not Path(text).is_absolute() and not text.startswith("~") and os.path.exists(text):
        return _home_word(published_path(text), f"{key}=")
    return shell_command(f"{key}={text}")


def _home_word(path: str, prefix: str = "") -> str:
    """``prefix + path`` as one shell word (``prefix`` is a plain word such as ``run_dir=``), a leading ``~/`` left
    unquoted: quoted, a shell would not expand it (the workbench expands a ``~`` it is given itself, too)."""
    if path.startswith("~/"):
        return f"{prefix}~/{shell_command(path[2:])}"
    return shell_command(prefix + path)


def typed_item(typed: Any) -> str:
    """An ``<li>`` item (HTML) for the command line the run was made with (``summary.json``'s ``command_line``, the
    home folder as ``~``), or that none was recorded (a run made from Python, or by an older version)."""
    argv = typed.get("argv") if isinstance(typed, dict) else None
    if not isinstance(argv, list) or not argv:
        return "<b>typed</b>: no command line recorded (a run made from Python, or by an older version)"
    line = " ".join(_home_word(published_word(w)) for w in argv)  # recorded with ~; a path under this home shown so too
    cwd = typed.get("cwd")
    where = f" in {code(published_path(cwd))}" if isinstance(cwd, str) and cwd else ""
    return f"<b>typed</b>: {code(line)}{where}"
