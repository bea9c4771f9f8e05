"""``workbench run``: a manifest or an experiment file through the model into a run folder."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from workbench.engine.ray_executor import RayOptions
from workbench.runs.experiment import Experiment, check_untrusted, is_experiment_file
from workbench.data.cards import card_for, is_folder
from workbench.data.manifest import read_manifest
from workbench.analysis.groups import BLANK_EMOTION_FIX, FIGURE_NAMES, blank_emotion_words, chance_words, unmapped_labels
from workbench.analysis.metrics import headline_summary, run_training_overlap
from workbench.model.network import DEFAULT_MODEL
from workbench.errors import ConfigError, WorkbenchError
from workbench.schema import score_labels
from workbench.paths import shell_command
from workbench.serialize import load_yaml_file
from workbench.model.ref import DTYPES, ModelRef
from workbench.views.report_run import TEMPLATES, run_report
from workbench.runs.folder import RunFolder
from workbench.runs.driver import load_variants, run, run_experiment
from workbench.runs.reproduce import check_and_record, relocate
from workbench.views.tracking import log_run
from workbench.cli import onnx
from workbench.cli.common import (model_ref_from_args, typed_command, screen_text, EXIT_FAILED_ITEMS, EXIT_OK, add_command, banner, check_out_dir, model_options, non_negative_float, add_out_option,
                     non_negative_int, positive_float, positive_int, say_loading)


def add_run(sub) -> None:
    r = add_command(sub, "run", help="run a manifest (× preprocessing variants) or an experiment file through the model into a run folder",
             example=("workbench run datasets/emodb.csv --model tiny --out runs/emodb",
                      "workbench run my_wavs.csv --variants variants.yaml --skip-missing --out runs/my_wavs",
                      "workbench run runs/emodb/experiment.yaml --out runs/emodb_again"))
    r.add_argument("manifest", help="manifest file (.csv, .jsonl or .parquet), or an experiment file (.yaml: manifest, model, "
                                    "variants, dtype … — every run folder writes the one that reproduces it); with an experiment "
                                    "file, only --out, --model, --device, the cache, engine and --workers options apply")
    model_options(r, dtype=None)  # auto, or the precision of the run being resumed (resolved in cmd_run)
    r.add_argument("--variants", default=None, help="YAML file of preprocessing variants (default: raw only)")
    add_out_option(r, what="the run folder; an existing run folder of the same settings is resumed", default="a new runs/<manifest>_<timestamp>")
    r.add_argument("--skip-missing", action="store_true",
                   help="run even when some manifest files are missing: they become failed rows "
                        "(default: refuse the manifest and list them)")
    r.add_argument("--frame-embeddings", action="store_true", help="also store frame-level embeddings")
    r.add_argument("--chunk", type=positive_int, default=64, help="items per flushed chunk")
    r.add_argument("--workers", type=non_negative_int, default=None,
                   help="decoding processes (0: decode in the main process; default: all cores for 48 items or more, else 0)")
    r.add_argument("--no-cache", action="store_true", help="do not read or write the prediction cache")
    r.add_argument("--cache-dir", default=None, help="prediction cache folder (default: $WORKBENCH_CACHE/predictions, else ~/.cache/emotion-workbench/predictions)")
    r.add_argument("--engine", default=None, choices=["local", "ray"],
                   help="local: this process (default); ray: Ray Data actors, one model each (same run folder and results); "
                        "an experiment file's `engine: ray` needs --engine ray or --allow-ray")
    r.add_argument("--allow-ray", action="store_true", help="let an experiment file's `engine: ray` start Ray (never without this or --engine ray)")
    r.add_argument("--allow-hub", action="store_true",
                   help="let an experiment file's hub model id download from the hub (never without this or --model)")
    r.add_argument("--ray-address", default=None, help="Ray cluster to join ('auto', 'ray://host:10001'; default: RAY_ADDRESS or a new local one)")
    r.add_argument("--ray-actors", type=positive_int, default=None, help="model copies (default: one per GPU, or per --ray-cpus-per-actor CPUs)")
    r.add_argument("--ray-cpus-per-actor", type=positive_float, default=1.0, help="CPUs reserved by each Ray actor")
    r.add_argument("--ray-gpus-per-actor", type=non_negative_float, default=None, help="GPUs per Ray actor (default: 1 on a CUDA run, 0 otherwise)")
    onnx.add_backend_option(r)
    r.add_argument("--track", default=None, choices=["mlflow"], help="log the finished run (config, model, metrics with intervals, artifacts) to MLflow")
    r.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else the embedded store in ./mlruns)")
    r.add_argument("--allow-tracking-uri", action="store_true",
                   help="with --track: send the run to the tracking URI the experiment file names (never without this flag)")
    r.add_argument("--experiment", default=None, help="MLflow experiment (default: MLFLOW_EXPERIMENT_NAME, else emotion-workbench)")


def cmd_run(args) -> int:
    # everything the user typed is checked before the model loads
    experiment = Experiment.load(args.manifest) if is_experiment_file(args.manifest) else None
    if experiment:
        refuse_ignored_options(args)
    if experiment:  # a file someone else wrote: no network, no writes outside its folder, unless the command line says so
        experiment, notes = check_untrusted(experiment, args.manifest, {
            "out": args.out, "track": args.track, "tracking_uri": args.tracking_uri, "allow_tracking_uri": args.allow_tracking_uri,
            "model": args.model, "allow_hub": args.allow_hub, "engine": args.engine, "allow_ray": args.allow_ray,
        }, templates=sorted(t.stem for t in TEMPLATES.glob("*.ipynb")))
        # recorded on another machine: found beside the run folder (a project copied whole), or one line saying what to change
        experiment, moved = relocate(experiment, args.manifest, model_given=bool(args.model))
        for note in notes + moved:
            print(f"note: {note}", file=sys.stderr)
    manifest_path = experiment.manifest if experiment else args.manifest
    manifest = read_manifest(manifest_path, missing="keep" if args.skip_missing else "error")
    out = args.out or (experiment.out if experiment else None) or \
        f"runs/{Path(manifest_path).stem}_{datetime.now().strftime('%Y%m%d_%H%M%S')}"
    check_out_dir(out)
    variants = experiment.variant_objects() if experiment else load_variants(args.variants)
    ray_options = None
    engine = args.engine or (experiment.engine if experiment else "local")  # the file's ray was agreed to in check_untrusted
    if engine == "ray":
        ray_options = RayOptions(address=args.ray_address, actors=args.ray_actors, cpus_per_actor=args.ray_cpus_per_actor,
                                 gpus_per_actor=args.ray_gpus_per_actor)
    if args.skip_missing:
        missing = manifest.validate().missing_files
        if missing:
            print(f"warning: {len(missing)} of {len(manifest)} manifest entries are missing and become failed rows "
                  f"(--skip-missing): {', '.join(missing[:10])}{f' … and {len(missing) - 10} more' if len(missing) > 10 else ''}",
                  file=sys.stderr)
    # no --dtype: auto, as an experiment file without `dtype:`, recorded as the default; or the resumed run's precision
    dtype_default = args.dtype is None and not experiment  # also when resumed: its run's record is kept (precision_record)
    if dtype_default:
        args.dtype = resumed_dtype(out) or "auto"
    # an experiment file names its model; only --model and --device on the command line change it
    model = args.model if experiment else model_ref_from_args(args)
    if args.backend == "onnxruntime":  # an export folder run by ONNX Runtime in this process
        chosen = args.model or (experiment.model.model if experiment else None)
        model = onnx.onnx_model_for(argparse.Namespace(**{**vars(args), "model": chosen, "engine": engine}), progress=say_loading)
    print(f"model {model_name(model) or (experiment.model.model if experiment else None) or DEFAULT_MODEL}:", file=sys.stderr, flush=True)
    named = model.model if isinstance(model, ModelRef) else model if isinstance(model, str) else None
    if named and is_folder(named):  # a head's card read before the model loads: a parent chain that loops is refused now, not after scoring
        card_for(str(named))
    options = dict(use_cache=not args.no_cache, cache_dir=args.cache_dir, progress=True, engine=engine, ray_options=ray_options,
                   workers=args.workers, load_progress=say_loading, resume_command=resume_command(args, out),
                   command_line=typed_command(args))
    if experiment:
        device = args.device if args.device != "auto" else experiment.model.device
        exp = replace(experiment, manifest=str(Path(manifest_path)), model=replace(experiment.model, device=device))
        # the manifest as read here: with --skip-missing its missing files become failed rows, as without a file
        result = run_experiment(exp, out_dir=out, model=model, manifest=manifest, **{k: v for k, v in options.items() if k != "engine"})
    else:
        result = run(manifest, out_dir=out, model=model, variants=variants, frame_embeddings=args.frame_embeddings, chunk_size=args.chunk,
                     dtype_default=dtype_default, **options)
    banner(result.summary.get("random_weights"), result.summary.get("model"))
    # a misspelt column's hint was printed before the model loaded and has scrolled away: said again beside the counts
    print_run_summary(result, hints=[n for n in manifest.notes if "did you mean" in n])
    reproduction = check_and_record(args.manifest, result.run_dir, model_given=args.model) if experiment else None
    if reproduction:  # a run folder's experiment.yaml run again: whether its figures are the published ones
        print(reproduction["line"])
    if args.track == "mlflow" or (experiment and "mlflow" in (experiment.tracking or {})):
        mlflow_cfg = (experiment.tracking or {}).get("mlflow") or {} if experiment else {}
        uri = args.tracking_uri or mlflow_cfg.get("uri")
        run_id = log_run(result.run_dir, uri=uri, experiment=args.experiment or mlflow_cfg.get("experiment"))
        print(f"MLflow run {run_id} logged ({uri or 'MLFLOW_TRACKING_URI or ./mlruns'})")
    if experiment and experiment.reports:
        make_reports(experiment, args, result.run_dir)
    return EXIT_OK if result.n_failed == 0 else EXIT_FAILED_ITEMS


def make_reports(experiment: Experiment, args, run_dir: Path) -> None:
    """The built-in templates an experiment file lists (``reports:``), where :func:`reports_folder` says."""
    where = reports_folder(args.out, experiment.out, args.manifest, run_dir)
    if where is None:
        print(f"note: the file's reports ({', '.join(experiment.reports)}) were not made: its run folder {run_dir} is the "
              "experiment file's own folder, and a received run folder is not written into. Make one where you choose: "
              + shell_command("workbench", "report", experiment.reports[0], "-p", f"run_dir={run_dir}", "--out", "DIR"),
              file=sys.stderr)
        return
    for template in experiment.reports:  # built-in templates only (check_untrusted)
        paths = run_report(template, {"run_dir": str(run_dir)}, out=where)
        print(f"report: {paths['html']}")


def reports_folder(typed_out: str | None, file_out: str | None, experiment_file: str | os.PathLike, run_dir: str | os.PathLike) -> Path | None:
    """Where the reports an experiment file lists (``reports:``) go: never where the file says, never the current folder.

    Under ``reports/`` of the ``--out`` folder the user typed, or of the new default run folder; where the run folder came
    from the file's ``out:`` (inside the file's folder), beside it in its parent's ``reports/`` while that parent lies
    inside the file's folder; ``None`` (no report) when the run folder is the file's folder itself: a received run folder."""
    run_dir = Path(run_dir)
    if typed_out:
        return Path(typed_out) / "reports"
    folder = Path(os.path.realpath(Path(experiment_file).expanduser().absolute().parent))
    real = Path(os.path.realpath(run_dir))
    if not file_out:  # a default runs/<name>_<stamp> folder the run made
        return run_dir / "reports"
    if real == folder or not real.is_relative_to(folder):
        return None
    return run_dir.parent / "reports"


#: options an experiment file settles itself: (option, its value when not typed, the file's key that sets it)
_FILE_SETS = (("--variants", None, "variants:"), ("--dtype", None, "dtype: under model:"), ("--hub", "ms", "hub: under model:"),
              ("--revision", None, "revision: under model:"), ("--temperature", None, "temperature: under model:"),
              ("--frame-embeddings", False, "frame_embeddings: true"), ("--chunk", 64, "chunk_size:"))


def refuse_ignored_options(args) -> None:
    """An option an experiment file sets itself is refused, not ignored: `run exp.yaml --dtype bfloat16` ran float32, and
    `--variants x.yaml` (a file that did not even exist) ran the file's variants, without a word."""
    given = [(o, key) for o, default, key in _FILE_SETS if getattr(args, o[2:].replace("-", "_"), default) != default]
    if given:
        names = ", ".join(o for o, _ in given)
        raise ConfigError(f"{names} {'does' if len(given) == 1 else 'do'} not apply to an experiment file, which sets "
                          f"{'it' if len(given) == 1 else 'them'} itself (only --out, --model, --device, the cache, engine and "
                          "--workers options apply).", source=str(args.manifest),
                          fix="write " + "; ".join(key for _, key in given) + " in a copy of the file, or leave out " + names + ".")


def resume_command(args, out: str | os.PathLike) -> str:
    """The command line that resumes this run: the one typed, with ``--out`` added when the folder was the default."""
    typed = getattr(args, "command_line", None) or ["run", args.manifest]
    return shell_command("workbench", *typed, *([] if args.out else ["--out", out]))


def resumed_dtype(out: str | os.PathLike) -> str | None:
    """The precision an unfinished run in ``out`` was started in (``--dtype`` left out resumes it in that one, so that a
    run begun under the old float32 default, or with ``auto``'s choice, is continued, not refused); ``None``: no run there."""
    try:
        config = load_yaml_file(Path(out) / "config.yaml")
    except (OSError, WorkbenchError):
        return None
    dtype = config.get("dtype") if isinstance(config, dict) else None
    if dtype in DTYPES and dtype != "auto":
        print(f"resuming {out} in its dtype {dtype} (pass --dtype to choose another)", file=sys.stderr)
        return dtype
    return None


def model_name(model) -> str | None:
    """What to call ``model`` on the screen: a ModelRef's label, a loaded model's id and folder, or the name given."""
    if model is None or isinstance(model, str):
        return model
    if isinstance(model, ModelRef):
        return model.label
    info = getattr(model, "info", None)
    if info is not None:
        where = getattr(info, "path", None)
        return f"{info.id} ({info.kind}{f', {where}' if where else ''})"
    return type(model).__name__


def print_run_summary(result, out=None, hints=()) -> None:
    """Counts, then WA / UAR / macro-F1 with 95 % bootstrap intervals per variant, ``hints`` about the manifest (a
    misspelt column), then what to run next."""
    out = out or sys.stdout
    print(f"run folder: {result.run_dir}", file=out)
    start = result.summary.get("engine", {}).get("timing_s", {}).get("start_s")
    # the parts as printed add up to the total as printed (each rounded alone, 0.64 = 0.14 + 0.50 read "0.6 = 0.1 + 0.5")
    # "--dtype auto's choice" only where auto chose: an explicit --dtype bfloat16 run was said to have spent time on it
    chose = ", --dtype auto's choice" if (result.summary.get("precision") or {}).get("requested") == "auto" else ""
    split = (f" ({round(start, 1):.1f} s starting: model load{chose}; "
             f"{max(round(result.seconds, 1) - round(start, 1), 0.0):.1f} s scoring and writing)") if start is not None else ""
    print(f"{result.n_rows} rows, {result.n_failed} failed, {result.n_cached} from cache, {result.n_resumed} resumed, "
          f"{result.seconds:.1f} s{split}", file=out)
    rf = result.folder if getattr(result, "folder", None) is not None else RunFolder(result.run_dir)  # the table as written
    results = rf.results()
    failed = results[results["status"] == "failed"]
    if len(failed):  # name them: "2 failed" alone sends the user to log.txt
        shown = [f"{screen_text(r.id)} [{screen_text(r.variant)}] ({r.error_code})" for r in failed.head(10).itertuples()]  # an id from a file name may hold a newline
        more = f" … and {len(failed) - 10} more (results.parquet, status == 'failed')" if len(failed) > 10 else ""
        print(f"failed: {', '.join(shown)}{more}", file=out)
        first = str(failed["error"].iloc[0]) if "error" in failed.columns else ""
        if first:  # the code alone ("(audio)") does not say what is wrong with the input, nor the fix
            print(f"  first error: {first} (every row's error is in log.txt)", file=out)
    if any(d["labelled"] for d in result.summary.get("variants", {}).values()):
        # the first figures a user sees carry the same warning as `metrics`: speakers a fine-tuned head trained on,
        # or a corpus on the checkpoint's protocol card
        for warning in run_training_overlap(rf):
            print(f"!! {warning}", file=out)
    for v, d in result.summary.get("variants", {}).items():
        # labels none of the model's classes (a head's, before one is trained) are no "unlabelled" items: said apart, by name
        other = unmapped_labels(results[(results["variant"].astype(str) == str(v)) & (results["status"] == "ok")])
        rest = d["excluded_no_counterpart"] - sum(other.values())
        line = (f"  {v}: {d['labelled']} labelled" + (f" with one of the model's classes, {sum(other.values())} labelled with none of them "
                f"({', '.join(f'{screen_text(k)} {n}' for k, n in other.items())}), {rest} unlabelled" if other and rest >= 0 else
                f", {d['excluded_no_counterpart']} unlabelled or without counterpart") + f", {d['failed']} failed")
        flags = []
        if d["labelled"]:  # evaluate()'s headline figures without importing scikit-learn (seconds of a short run)
            r = headline_summary(results, variant=v, n_boot=1000, seed=rf.seed)  # the run's seed, as metrics and reports
            if r["n"]:  # each figure with the checks `metrics` applies to it: n, chance, zero-width intervals, small classes
                line += "; " + ", ".join(f"{FIGURE_NAMES[name]} {r[name]:.3f} [{r['ci'][name][0]:.3f}, {r['ci'][name][1]:.3f}]"
                                         for name in ("wa", "uar", "macro_f1")) + f" (n={r['n']}; UAR {chance_words(r['classes'])}; intervals resample {r['ci_unit']['short']})"
                flags = r["flags"] + [r["ci_unit"]["note"]] * bool(r["ci_unit"]["note"])
        print(line, file=out)
        for flag in flags:
            print(f"    !! {flag}", file=out)
    for hint in hints:
        print(f"!! manifest: {hint}", file=out)
    run_dir = result.run_dir
    print("next:", file=out)
    steps = []  # (command, what it gives): the comments in one column, whatever the commands' lengths
    if any(d["labelled"] for d in result.summary.get("variants", {}).values()):
        steps.append((shell_command("workbench", "metrics", run_dir), "per-class report, confusion, calibration, breakdowns"))
    else:  # `metrics` on this run scores nothing: what would give it something to score (a comment line of its own)
        steps.append((unlabelled_next_step(results, run_dir), ""))
    if len(variants := list(result.summary.get("variants", {}))) > 1:
        steps.append((shell_command("workbench", "compare", run_dir), "paired deltas and flips between the variants"))
        baseline = "raw" if "raw" in variants else variants[0]  # the template's own default, named so it can be changed
        steps.append((shell_command("workbench", "report", "variant_comparison", "-p", f"run_dir={run_dir}", "-p", f"baseline={baseline}"),
                      "the same comparison as an HTML report, with a sweep curve"))
    steps.append((shell_command("workbench", "report", "experiment_report", "-p", f"run_dir={run_dir}"), "a self-contained HTML report"))
    width = max(len(command) for command, why in steps if why)
    for command, why in steps:
        print(f"  {command.ljust(width)}   # {why}" if why else f"  {command}", file=out)


def unlabelled_next_step(results, run_dir) -> str:
    """What to do about a run with no row ``workbench metrics`` can score, and why: no labels at all, or labels that
    are none of the model's classes."""
    ok = results[results["status"] == "ok"]
    if not len(ok):  # every row failed: `metrics` would score nothing, and a resume keeps a failed row's result
        return ("# every row failed (the first error above), so `workbench metrics` would score nothing: fix the files or "
                "the manifest's paths, then run it again into a new folder (a resume of this one keeps its failed rows): "
                f"{rerun_elsewhere(run_dir)}")
    labels = sorted({str(x) for x in ok.get("label", []) if isinstance(x, str) and x.strip()})
    if not labels:
        classes = score_labels(results)  # the run's own classes (a head's, or the nine): a head of 10^5 printed a 780 kB line
        listed = ", ".join(screen_text(c) for c in classes[:12]) + (f" … and {len(classes) - 12:,} more" if len(classes) > 12 else "")
        return ("# no row has an emotion label, so `workbench metrics` would score nothing: add an `emotion` column to the "
                f"manifest (one of the model's classes per row: {listed}) and run it "
                "again; the predictions alone are in the report below")
    blank = unmapped_labels(ok, blank=True)  # the model's own classes, their emotion cells empty: no head is the fix
    if blank:
        return f"# `workbench metrics` would score nothing: {screen_text(blank_emotion_words(blank))} Fix: {BLANK_EMOTION_FIX}"
    shown = ", ".join(screen_text(x) for x in labels[:10]) + (f" … and {len(labels) - 10} more" if len(labels) > 10 else "")
    return (f"{shell_command('workbench', 'finetune', run_dir, '--out', f'heads/{Path(run_dir).name}')}   # the labels ({shown}) are "
            "none of the model's classes, so `workbench metrics` would score nothing: train a head for them, or map them "
            "onto the model's classes in the manifest's emotion column")


def rerun_elsewhere(run_dir) -> str:
    """The run's own command line (summary.json's) with ``--out`` naming a new folder beside ``run_dir``."""
    fresh = f"{run_dir}-2"
    try:
        argv = list((RunFolder(run_dir).summary.get("command_line") or {}).get("argv") or [])
    except (OSError, WorkbenchError, ValueError):
        argv = []
    if not argv:  # called from Python: the manifest is not known here
        return shell_command("workbench", "run", "MANIFEST", "--out", fresh)
    if "--out" in argv[:-1]:
        argv[argv.index("--out") + 1] = fresh
    else:
        argv += ["--out", fresh]
    return shell_command(*argv)


COMMANDS = {"run": cmd_run}
