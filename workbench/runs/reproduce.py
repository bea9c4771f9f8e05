"""Reproduction: what a run records about the machine that made it, and a re-run checked against the run it repeats.

A published run folder carries the ``experiment.yaml`` that repeats it (``workbench run RUN/experiment.yaml --out
NEW``).  The new run's figures are only the published ones if the same audio went through the same chains and the
same weights; :func:`compare_runs` checks that row by row (each row's audio sha256, chain hash, scores and label) and
names every difference it finds, with the versions of the packages that differ, so a changed clip, a missing one,
other weights, another preprocessing option or another library version is said in one line, never left as silently
different figures.  ``workbench run`` writes the result as ``reproduction.json`` into the new run folder (the
experiment report shows it) and prints its line.
"""

from __future__ import annotations

import functools
import os
import re
import platform
from dataclasses import replace
from pathlib import Path
from typing import Any

from workbench import __version__
from workbench.errors import ConfigError, WorkbenchError, printable
from workbench.runs.experiment import Experiment
from workbench.runs.folder import CONFIG, RESULTS, RunFolder, RunFolderError
from workbench.model.weights import identity_mismatch
from workbench.schema import SCORE_PREFIX
from workbench.model.checkpoints import cached_hub_checkpoint, resolve_model
from workbench.paths import installed_version, shell_command

REPRODUCTION_FILE = "reproduction.json"
#: the packages whose version can change a figure: decoding, resampling, preprocessing steps, the network, the statistics
PACKAGES = ("numpy", "scipy", "torch", "funasr", "soundfile", "av", "soxr", "noisereduce", "librosa", "pyloudnorm",
            "praat-parselmouth", "scikit-learn", "pandas", "pyarrow", "onnxruntime")
#: the largest |Δ score| two runs may differ by and still count as the same figures (float32 sums in another order)
SCORE_TOLERANCE = 1e-5


def environment() -> dict:
    """The workbench, Python and package versions of this process (``None`` for a package not installed)."""
    versions = {name: installed_version(name) for name in PACKAGES}
    return {"workbench": __version__, "workbench_commit": workbench_commit(), "python": platform.python_version(),
            "platform": f"{platform.system()} {platform.machine()}", "packages": versions}


@functools.lru_cache(maxsize=1)
def workbench_commit() -> str | None:
    """The git commit of the workbench's own code when it runs from a checkout (its version string does not change
    between commits), else None.  Read from the checkout's ``.git`` files (``HEAD``, the ref it names, ``packed-refs``;
    a linked worktree's ``gitdir``/``commondir``): no ``git`` program is run."""
    return commit_of(Path(__file__).resolve().parents[2])


def commit_of(root: Path) -> str | None:
    """The commit the checkout at ``root`` has out (:func:`workbench_commit`), or None."""
    try:
        gitdir = _gitdir(root / ".git")
        if gitdir is None:
            return None
        head = _small_text(gitdir / "HEAD")
        if _SHA_RE.fullmatch(head):
            return head  # a detached HEAD
        ref = head[len("ref: "):] if head.startswith("ref: ") else ""
        if not ref.startswith("refs/") or ".." in ref.split("/"):
            return None
        common = (gitdir / _small_text(gitdir / "commondir")).resolve() if (gitdir / "commondir").is_file() else gitdir
        for folder in (gitdir, common):
            if (folder / ref).is_file():
                sha = _small_text(folder / ref)
                return sha if _SHA_RE.fullmatch(sha) else None
        if (common / "packed-refs").is_file():
            for line in _small_text(common / "packed-refs", 1 << 22).splitlines():
                sha, _, name = line.partition(" ")
                if name == ref and _SHA_RE.fullmatch(sha):
                    return sha
    except (OSError, ValueError):
        return None
    return None


_SHA_RE = re.compile(r"[0-9a-f]{40}")


def _gitdir(dot_git: Path) -> Path | None:
    """The git folder of a checkout: ``.git`` itself, or the folder a worktree's ``.git`` file names (``gitdir: …``)."""
    if dot_git.is_dir():
        return dot_git
    if dot_git.is_file():
        text = _small_text(dot_git)
        if text.startswith("gitdir:"):
            return (dot_git.parent / text[len("gitdir:"):].strip()).resolve()
    return None


def _small_text(path: Path, limit: int = 4096) -> str:
    with open(path, "rb") as f:
        return f.read(limit).decode("utf-8", "replace").strip()


def version_note(rf: RunFolder) -> str | None:
    """One line when the run was made by another workbench version than the one reading it, else None."""
    env = rf.summary.get("environment") or {}
    made_by, made_at, now = rf.config.get("workbench_version") or env.get("workbench"), env.get("workbench_commit"), workbench_commit()
    if made_by and made_by != __version__:
        by, read = made_by, __version__
    elif made_at and now and made_at != now:  # one version string, other code
        by, read = f"{made_by} (commit {made_at[:10]})", f"{__version__} (commit {now[:10]})"
    else:
        return None
    return (f"the run was made by workbench {by} and is read by {read}: these figures are recomputed from its rows by this "
            "version and may differ from the ones its own version printed")


def _folder_of(experiment_file: str | os.PathLike) -> Path:
    """The folder of an experiment file, absolute and without ``..``: `workbench run ../../../experiment.yaml` typed in a
    report's folder (as its page says) named the run it repeats "..", on screen, in reproduction.json and the report."""
    return Path(os.path.abspath(Path(experiment_file).expanduser())).parent


def reference_run(experiment_file: str | os.PathLike) -> Path | None:
    """The finished run folder an experiment file lies in (``RUN/experiment.yaml``): the run a re-run of it repeats."""
    folder = _folder_of(experiment_file)
    rf = RunFolder(folder)
    if all(os.path.lexists(folder / name) for name in (RESULTS, CONFIG)):
        # a run folder received from someone else: its rows, settings and versions are read from its own files, never
        # through a link (`results.parquet -> ../elsewhere.parquet` was compared, and called reproduced, silently)
        rf.check_links()
    if not rf.finished or not rf.config:
        return None
    return folder


def compare_runs(reference: str | os.PathLike, new: str | os.PathLike) -> dict:
    """Row-by-row check that the run in ``new`` reproduces the run in ``reference``.

    Returns
    -------
    dict
        ``reproduced`` (bool), ``line`` (one sentence: what matched, or every difference), ``rows`` (compared),
        ``missing_rows``/``extra_rows`` (``id [variant]``), ``failed_now``/``failed_before``, ``audio_changed``
        (ids whose audio sha256 differs), ``audio_unrecorded`` (ids the reference recorded no sha256 for),
        ``chains_changed`` (variants), ``truth_changed`` (ids whose label differs), ``rows_changed`` (``{id: [column,
        …]}``: another segment, speaker, split … in the manifest's row), ``max_score_diff_row`` (``id [variant]`` of the
        largest score difference, None without one),
        ``model_files_changed`` (the same weights, another config.yaml, tokens.txt or card: which, in words, else None),
        ``settings_changed`` (``{"audio.resampler": [before, now]}``: decoding, findings, dtype, temperature; a setting
        the reference did not record is left out), ``model_changed``, ``manifest_changed``, ``max_abs_score_diff``, ``labels_flipped``, ``versions`` (``{name: [before, now]}`` that differ; a run from a
        version that recorded none says so in ``versions_unknown``), ``float32_math_changed`` (``[then, now]`` when the
        two runs computed float32 by other routes, else None), ``reference`` (its folder's name) and ``reference_dir``
        (the folder itself: a report shows the line away from the command that named it).
    """
    ref_rf, new_rf = RunFolder(reference), RunFolder(new)
    a, b = ref_rf.results(), new_rf.results()
    ref_dir = Path(os.path.abspath(Path(reference).expanduser()))  # `../../..` normalised: its name, not ".."
    out: dict[str, Any] = {"reference": ref_dir.name, "reference_dir": str(ref_dir)}
    key = lambda df: (df["id"].astype(str) + " [" + df["variant"].astype(str) + "]")  # noqa: E731
    a, b = a.set_index(key(a)), b.set_index(key(b))
    common = a.index.intersection(b.index)
    out["rows"] = int(len(common))
    out["missing_rows"] = sorted(set(a.index) - set(b.index))
    out["extra_rows"] = sorted(set(b.index) - set(a.index))
    ok_a, ok_b = a.loc[common, "status"] == "ok", b.loc[common, "status"] == "ok"
    out["failed_now"] = sorted(common[ok_a.to_numpy() & ~ok_b.to_numpy()])
    out["failed_before"] = sorted(common[~ok_a.to_numpy() & ok_b.to_numpy()])
    both = common[ok_a.to_numpy() & ok_b.to_numpy()]
    sha_a, sha_b = a.loc[both, "source_sha256"].astype(str), b.loc[both, "source_sha256"].astype(str)
    # a reference row without its audio's sha256 (an edited or foreign table) says nothing of its audio: named as such,
    # not as audio that "differs"
    unknown = ~a.loc[both, "source_sha256"].map(lambda v: isinstance(v, str) and len(v) == 64).to_numpy()
    out["audio_unrecorded"] = sorted(set(a.loc[both][unknown]["id"].astype(str)))
    out["audio_changed"] = sorted(set(a.loc[both][(sha_a != sha_b).to_numpy() & ~unknown]["id"].astype(str)))
    chain_a, chain_b = a.loc[both, "chain_hash"].astype(str), b.loc[both, "chain_hash"].astype(str)
    out["chains_changed"] = sorted(set(a.loc[both][(chain_a != chain_b).to_numpy()]["variant"].astype(str)))
    label_a, label_b = a.loc[common, "label"].astype(str), b.loc[common, "label"].astype(str)
    out["truth_changed"] = sorted(set(a.loc[common][(label_a != label_b).to_numpy()]["id"].astype(str)))
    out["rows_changed"] = _rows_changed(a.loc[common], b.loc[common])
    out.update(_score_diff(a.loc[both], b.loc[both]))
    # rows the prediction cache served were not scored again: their match shows the cache, not this machine's scoring
    out["from_cache"] = int(b.loc[both, "cache_hit"].fillna(False).astype(bool).sum()) if "cache_hit" in b.columns else 0
    out.update(_settings_diff(ref_rf, new_rf))
    out["float32_math_changed"] = _float32_math_diff(ref_rf, new_rf)
    out["manifest_paths_only"] = out["manifest_changed"] and _paths_only(out, a.loc[common], b.loc[common])
    if out["manifest_paths_only"]:  # the audio moved (or was installed elsewhere): the items scored are the same
        out["manifest_changed"] = False
    out["reproduced"] = not any(out[k] for k in ("missing_rows", "extra_rows", "failed_now", "failed_before", "audio_changed", "audio_unrecorded",
                                                 "chains_changed", "truth_changed", "rows_changed", "settings_changed", "model_changed", "manifest_changed",
                                                 "labels_flipped", "model_files_changed")) \
        and out["max_abs_score_diff"] <= SCORE_TOLERANCE
    out["line"] = reproduction_line(out)
    return out


#: the manifest columns besides the label whose edit changes a figure: the segment scored, the breakdowns and folds, the
#: transcript fusion reads, its other columns (``meta``: a breakdown by any of them) (an edited row was only "the
#: manifest differs", its item and column unnamed)
ROW_FIELDS = ("start", "duration", "speaker", "gender", "split", "text", "meta")


def _paths_only(d: dict, a, b) -> bool:
    """Whether two manifests whose recorded sha256 differ hold the same items, fields and audio, so that only where the
    audio lies (each item's ``path``, which the sha256 covers) differs: the demo set's manifest names its clips by the
    installation's absolute path, and a published run re-run with the same audio elsewhere was "does NOT reproduce: the
    manifest differs", the same figures called another result.  Each row is found in both runs, scored in both with the
    same recorded audio sha256 or failed in both (a clip missing on both machines: no figure of either), and at least one
    scored in both."""
    if any(d[k] for k in ("missing_rows", "extra_rows", "failed_now", "failed_before", "truth_changed", "rows_changed",
                          "audio_changed", "audio_unrecorded")):
        return False
    return bool(((a["status"] == "ok") & (b["status"] == "ok")).any())  # audio_changed compared every row scored in both


def _rows_changed(a, b) -> dict[str, list[str]]:
    """``{id: [column, …]}`` of the rows both runs hold whose manifest fields (:data:`ROW_FIELDS`) differ."""
    out: dict[str, list[str]] = {}
    for col in ROW_FIELDS:
        if col not in a.columns or col not in b.columns:
            continue
        differ = a[col].map(_field).to_numpy() != b[col].map(_field).to_numpy()
        for item in a["id"].astype(str).to_numpy()[differ]:
            if col not in out.setdefault(item, []):  # one item, one entry per variant row: named once
                out[item].append(col)
    return dict(sorted(out.items()))


def _field(value: Any) -> str:
    """A manifest field as the comparison reads it: empty (None, NaN, <NA>, "") alike, a number by its value (0 and
    0.0 alike), else its text."""
    import pandas as pd

    if value is None or (not isinstance(value, str) and pd.isna(value)) or value == "":
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(float(value))
    return str(value)


def _score_diff(a, b) -> dict:
    """The largest |Δ score| over the rows both runs scored, and how many top labels differ."""
    import numpy as np

    cols = [c for c in a.columns if str(c).startswith(SCORE_PREFIX) and c in b.columns]
    if not len(a) or not cols:
        return {"max_abs_score_diff": 0.0, "labels_flipped": 0}
    diff = np.abs(a[cols].to_numpy(float) - b[cols].to_numpy(float))
    diff = np.where(np.isnan(diff), np.inf, diff)  # a class scored in one run only
    worst = int(diff.max(axis=1).argmax())
    return {"max_abs_score_diff": float(diff.max()), "max_score_diff_row": str(a.index[worst]) if diff.max() > 0 else None,
            "labels_flipped": int((a["pred"].astype(str).to_numpy() != b["pred"].astype(str).to_numpy()).sum())}


def _settings_diff(ref_rf: RunFolder, new_rf: RunFolder) -> dict:
    """Weights, manifest and versions: what each run recorded."""
    ca, cb = ref_rf.config, new_rf.config
    ea, eb = (ref_rf.summary.get("environment") or {}), (new_rf.summary.get("environment") or {})
    out: dict[str, Any] = {
        "model_changed": bool(ca.get("model_checksum") and ca.get("model_checksum") != cb.get("model_checksum")),
        "manifest_changed": bool(ca.get("manifest_sha256") and ca.get("manifest_sha256") != cb.get("manifest_sha256")),
    }
    # the same weights under another config.yaml, tokens.txt or card (a hub download edited, a folder's file replaced):
    # another network, named by the file that differs (summary.json's model.identity_files; a run of before it: "one of")
    model_files = identity_mismatch(ref_rf.summary.get("model"), new_rf.summary.get("model"))
    out["model_files_changed"] = model_files if model_files and not out["model_changed"] else None
    out["settings_changed"] = {f"{k}.{s}" if s else k: [x, y] for k in ("audio", "diagnostics", "dtype", "temperature")
                               for s, x, y in _pairs(ca.get(k), cb.get(k)) if x != y and (x is not None or not s)}
    before = {"workbench": ca.get("workbench_version") or ea.get("workbench"), "workbench commit": ea.get("workbench_commit"),
              "python": ea.get("python"), **(ea.get("packages") or {})}
    now = {"workbench": cb.get("workbench_version") or eb.get("workbench"), "workbench commit": eb.get("workbench_commit"),
           "python": eb.get("python"), **(eb.get("packages") or {})}
    out["versions"] = {k: [before[k], now.get(k)] for k in now if before.get(k) is not None and before[k] != now.get(k)}
    out["versions_unknown"] = not ea
    return out


def _float32_math_diff(ref_rf: RunFolder, new_rf: RunFolder) -> list[str] | None:
    """How each run computed float32 when the two differ (oneDNN on an AMD CPU, PyTorch's BLAS elsewhere, TF32 off on
    CUDA): the same products summed in another order, so scores that differ by ~1e-7 are explained, not unexplained.
    None when they agree or a run recorded nothing (a run of an older version)."""
    ma, mb = (ref_rf.summary.get("model") or {}), (new_rf.summary.get("model") or {})
    if "float32_math" not in ma or "float32_math" not in mb or ma["float32_math"] == mb["float32_math"]:
        return None
    word = lambda m: str(m).split(":")[0] if m else "PyTorch's own float32 kernels"  # noqa: E731
    return [word(ma["float32_math"]), word(mb["float32_math"])]


def _pairs(a: Any, b: Any) -> list[tuple[str, Any, Any]]:
    """``(key, a's value, b's value)`` of two settings mappings (``("", a, b)`` for plain values)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b), key=str)]
    return [("", a, b)]


def reproduction_line(d: dict) -> str:
    """One line: ``reproduces RUN: …`` or ``!! does NOT reproduce RUN: <every difference>``."""
    # a commit by its first 10 hex digits, as the report's header names it (40 each way made the line's longest part)
    short = lambda k, x: str(x)[:10] if k == "workbench commit" and isinstance(x, str) and _SHA_RE.fullmatch(x) else x  # noqa: E731
    versions = "; ".join(printable(f"{k} {short(k, v[0])} → {short(k, v[1])}")[:200] for k, v in d.get("versions", {}).items())
    if d["reproduced"]:
        line = (f"reproduces {printable(d['reference'])}: {d['rows']} rows, same audio, chains, weights and labels, "
                f"max |Δ score| {d['max_abs_score_diff']:.1e}")
        if versions:
            line += f" (with other versions: {versions})"
        if d.get("float32_math_changed"):  # scores ~1e-7 apart: said why, on a line that calls them reproduced
            line += " (float32 math {} then, {} now)".format(*d["float32_math_changed"])
        if d.get("manifest_paths_only"):
            line += " (its manifest names the audio at other paths; each item's audio sha256 is the run's)"
        if d.get("from_cache"):
            line += (f"; {d['from_cache']} of the {d['rows']} rows came from the prediction cache, not scored again "
                     "(--no-cache scores them anew)")
        return line + (" (the run it repeats recorded no package versions)" if d.get("versions_unknown") else "")
    causes = []
    for k, words in (("missing_rows", "rows missing"), ("extra_rows", "rows it did not have"), ("failed_now", "rows failed now"),
                     ("failed_before", "rows that had failed")):
        if d[k]:
            causes.append(f"{len(d[k])} {words} ({_few(d[k])})")
    if d["audio_changed"]:
        causes.append(f"the audio of {len(d['audio_changed'])} item(s) differs (sha256): {_few(d['audio_changed'])}")
    if d.get("audio_unrecorded"):
        causes.append(f"the run recorded no audio sha256 for {len(d['audio_unrecorded'])} item(s), so whether their audio is the "
                      f"same cannot be told: {_few(d['audio_unrecorded'])}")
    if d["chains_changed"]:
        causes.append(f"other preprocessing in variant(s) {_few(d['chains_changed'])}")
    if d["truth_changed"]:
        causes.append(f"the manifest's label of {len(d['truth_changed'])} item(s) differs: {_few(d['truth_changed'])}")
    if d.get("rows_changed"):
        causes.append(f"the manifest's row of {len(d['rows_changed'])} item(s) differs: "
                      + _few([f"{k} ({', '.join(v)})" for k, v in d["rows_changed"].items()]))
    if d.get("settings_changed"):
        causes.append("other settings: " + _few([f"{k} {v[0]} → {v[1]}" for k, v in d["settings_changed"].items()]))
    if d["model_changed"]:
        causes.append("other weights (the checkpoint's sha256 differs)")
    if d.get("model_files_changed"):
        causes.append(f"another model: {printable(d['model_files_changed'])}")
    if d["manifest_changed"]:
        causes.append("the manifest differs from the one recorded (manifest_sha256)")
    worst = f" ({printable(d['max_score_diff_row'])[:80]})" if d.get("max_score_diff_row") else ""
    causes.append(f"max |Δ score| {d['max_abs_score_diff']:.1e}{worst}, {d['labels_flipped']} label(s) flipped")
    if d.get("float32_math_changed"):
        causes.append("float32 math {} then, {} now".format(*d["float32_math_changed"]))
    if versions:
        causes.append(f"versions differ: {versions}")
    if d.get("model_given"):  # --model chose another checkpoint on purpose: a comparison, differences expected
        return (f"compared with {printable(d['reference'])} (--model {printable(d['model_given'])[:200]} replaced the run's "
                "checkpoint, so this is no reproduction and its differences are expected): " + "; ".join(causes))
    return f"!! does NOT reproduce {printable(d['reference'])}: " + "; ".join(causes)


def _few(names: list[str], k: int = 5) -> str:
    """The first ``k`` names, each on one line and cut to 80 characters: ids, variants and settings come from the run
    folder's own files (someone else's), and an id holding a line break printed a line of its own in the re-run's line."""
    cut = [printable(n if len(n) <= 80 else n[:79] + "…") for n in map(str, names[:k])]
    return ", ".join(cut) + (f" … {len(names)} in all" if len(names) > k else "")


def check_and_record(experiment_file: str | os.PathLike, new_run: str | os.PathLike, *, model_given: str | None = None) -> dict | None:
    """A re-run of a run folder's ``experiment.yaml`` compared with that run; the result written into the new run
    folder as ``reproduction.json``.  ``None`` when the file lies in no finished run folder (nothing to compare).
    ``model_given``: the ``--model`` that replaced the run's checkpoint (the line then calls it a comparison)."""
    folder = _folder_of(experiment_file)
    try:
        ref = reference_run(experiment_file)
        if ref is None or ref.resolve() == Path(new_run).resolve():
            return None
        d = compare_runs(ref, new_run)
        if model_given and (d.get("model_changed") or d.get("model_files_changed")):  # other weights on purpose (the same weights elsewhere still reproduce)
            d["model_given"] = str(model_given)
            d["line"] = reproduction_line(d)
    except WorkbenchError as exc:  # a reference that cannot be read (or holds links): said, not a crash after a finished run
        d = {"reproduced": False, "reference": folder.name, "reference_dir": str(folder),
             "line": f"!! cannot compare with {printable(folder.name)}: {exc.message}"}
    RunFolder(new_run).write_json(REPRODUCTION_FILE, d)
    return d


def relocate(experiment: Experiment, experiment_file: str | os.PathLike, *, model_given: bool = False) -> tuple[Experiment, list[str]]:
    """A run folder's experiment whose recorded manifest or checkpoint folder is not on this machine (the run was made
    elsewhere, or its project moved): each looked for where the run folder the file lies in recorded it relative to itself (a
    project copied whole), with a note; otherwise one error naming what to change.  A checkpoint found so keeps the
    recorded sha256, which the load checks; ``model_given``: ``--model`` chose the model, nothing to look for."""
    notes: list[str] = []
    source = str(experiment_file)
    folder = _folder_of(experiment_file)
    if reference_run(experiment_file) is None:  # an experiment file of one's own: a wrong path is the reader's own error
        return experiment, notes
    cfg = RunFolder(folder).config
    manifest = Path(experiment.manifest)
    if not manifest.exists():
        moved = _beside_run(folder, cfg.get("manifest_from_run"), "file")
        if moved is None:
            raise ConfigError(f"names the manifest {manifest}, which is not here (the run was made on another machine, or its "
                              "data moved).", source=source,
                              fix=f"write the path of your copy as `manifest:` in {experiment_file} (a relative path starts at "
                                  "the file's folder): a re-run of a run folder's experiment.yaml then says whether its items "
                                  "and audio are the ones that run scored.")
        notes.append(f"{source}: the manifest recorded at {manifest} is not here; using {moved}, where the run folder "
                     "recorded it relative to itself (the re-run checks it against the run).")
        experiment = replace(experiment, manifest=str(moved))
    model = experiment.model.model
    if not model_given and model and Path(model).is_absolute() and not Path(model).exists():
        moved = _beside_run(folder, cfg.get("model_from_run"), "dir")
        if moved is None:
            checksum = experiment.model.checksum
            raise ConfigError(f"names the checkpoint folder {model}, which is not here (the run was made on another machine, or "
                              "it moved).", source=source,
                              fix="pass your copy with --model DIR" + (f": the re-run checks its weights against the recorded "
                                                                         f"sha256 {checksum[:12]}… and says whether it reproduces the run."
                                                                         if checksum else ".") + _remake_hint(folder))
        notes.append(f"{source}: the checkpoint recorded at {model} is not here; using {moved}, where the run folder recorded "
                     "it relative to itself (its weights are checked against the recorded sha256).")
        experiment = replace(experiment, model=replace(experiment.model, model=str(moved)))
    return experiment, notes


def check_resumed_model(rf: RunFolder, info: Any) -> None:
    """Refuse to resume the run in ``rf`` with a model (``info``: the loaded one's) other than the one that scored its
    rows: its summary's model record (identity and each file's sha256), else its config.yaml's weights' sha256.  The
    same weights under an edited config.yaml were resumed: every row kept from the old network, and summary.json then
    gave them the new network's identity."""
    summary_model = rf.summary.get("model")
    recorded = summary_model if isinstance(summary_model, dict) else {"checksum": rf.config.get("model_checksum")}
    problem = identity_mismatch(recorded, info.to_dict() if hasattr(info, "to_dict") else info, ("now", "in the folder's run"))
    if problem:
        raise RunFolderError(f"holds rows scored by another model: {printable(problem)}; resuming would mix two networks' scores.",
                             source=str(rf.path), fix="choose a new --out folder, or put back the checkpoint files the folder's run used.")


def checked_run_model(rf: RunFolder, *, flag: str = "--model ") -> Any:
    """The model of run folder ``rf`` (:meth:`RunFolder.model`), refused as :func:`check_run_checkpoint` refuses it, its
    fix naming ``flag`` (a report's ``-p model=``): the sweep of `report variant_comparison` loaded a received run's hub id."""
    ref = rf.model()
    check_run_checkpoint(rf.path, ref, flag=flag)
    return ref


def check_run_checkpoint(run_dir: str | os.PathLike, ref: Any, *, flag: str = "--model ") -> None:
    """Refuse a run's own checkpoint folder (``ref``: its :class:`~workbench.model.ref.ModelRef`) that is not on this
    machine, before anything loads, with the fix a re-run gives (:func:`relocate`): ``explain`` on a received run failed
    each of its items with "no such checkpoint directory … give a hub id", the run's own weights never named."""
    model = getattr(ref, "model", None)
    _refuse_uncached_hub(run_dir, ref, flag)
    if not isinstance(model, (str, os.PathLike)) or not model or not Path(model).is_absolute() or Path(model).exists():
        return
    checksum = getattr(ref, "checksum", None)  # the run folder's text, from anyone: a line break or a number there
    checksum = printable(checksum[:12]) if isinstance(checksum, str) else None  # printed a line of its own / crashed
    raise ConfigError(f"the run's checkpoint folder {printable(str(model))} is not here (the run was made on another machine, "
                      "or it moved).", source=str(run_dir),
                      fix=f"pass your copy with {flag}DIR" + (f" (its weights are checked against the run's sha256 {checksum}…)"
                                                                 if checksum else "") + "." + _remake_hint(Path(run_dir)))


def _refuse_uncached_hub(run_dir: str | os.PathLike, ref: Any, flag: str = "--model ") -> None:
    """Refuse a run whose model is a hub id not downloaded on this machine, unless the user named the model: a run folder
    comes from anyone, and `explain RUN --item`, `embeddings --neighbours` and the views contacted ModelScope (or Hugging
    Face) for whatever id its config.yaml named, which an experiment file may not do without ``--model``/``--allow-hub``."""
    model, hub = getattr(ref, "model", None), getattr(ref, "hub", None) or "ms"
    if model is not None and not isinstance(model, str):
        return
    try:
        spec = resolve_model(model, hub=hub, revision=getattr(ref, "revision", None))
    except WorkbenchError:
        return  # loading refuses it with its own message
    if spec.kind != "hub" or cached_hub_checkpoint(spec.model, spec.hub) is not None:
        return
    where = "Hugging Face" if spec.hub == "hf" else "ModelScope"
    raise ConfigError(f"the run names the hub model {printable(spec.model)}, which is not in the local {where} cache: loading it would "
                      f"contact {where}; a run folder someone else wrote may not do that on its own.", source=str(run_dir),
                      fix=f"agree on the command line with {flag}{shell_command(spec.model)} (the run's weights' sha256 is "
                      f"still checked), or pass a local copy of the checkpoint with {flag}DIR.")


_REMAKE_RE = re.compile(r"workbench model make-tiny DIR --arch [a-z]+ --seed [0-9]{1,10}")


def _remake_hint(folder: Path) -> str:
    """For a run of a seeded random checkpoint, the command that writes its weights again (``summary.json``'s
    ``model.remake``; a run folder comes from anyone, so only that command's own shape is repeated), else ""."""
    remake = (RunFolder(folder).summary.get("model") or {}).get("remake")
    if isinstance(remake, str) and _REMAKE_RE.fullmatch(remake):
        return (f" It is a seeded random test checkpoint: `{remake}` writes the same weights again with the torch and "
                "funasr versions of summary.json's `environment` (other versions can draw other weights: the sha256 check says so).")
    return ""


def _beside_run(folder: Path, rel: Any, kind: str) -> Path | None:
    """``folder / rel`` when it is a file (``kind="file"``) or folder (``"dir"``), else None."""
    if not isinstance(rel, str) or not rel:
        return None
    p = Path(os.path.normpath(folder / rel))
    return p if (p.is_file() if kind == "file" else p.is_dir()) else None
