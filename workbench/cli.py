"""``workbench`` command line.

    workbench infer PATH... [--model ID|DIR|tiny] [--granularity utterance|frame] [--embedding] [--out DIR]
    workbench model make-tiny DIR [--seed N] [--arch tiny|base|large]
    workbench model info [--model ID|DIR|tiny]
    workbench manifest FOLDER -o MANIFEST [--label-from-folder]
    workbench datasets prepare CORPUS CORPUS_DIR --out MANIFEST
    workbench datasets import-emobox JSONL... --root DIR [--label-map FILE] --out MANIFEST
    workbench datasets import-hf SOURCE --out MANIFEST [--split S] [--label-column C] [--map MAP]
    workbench datasets import-lhotse (--recordings R [--supervisions S] | --cuts C) --out MANIFEST
    workbench export-lhotse RUN_DIR [--variant V] [--out SUPERVISIONS.jsonl.gz]
    workbench run MANIFEST [--model …] [--variants FILE] [--out RUN_DIR] [--skip-missing] [--engine local|ray]
    workbench metrics RUN_DIR [--restrict] [--by speaker gender]
    workbench compare RUN_DIR [--baseline NAME] | RUN_A RUN_B [RUN_C …] [--out DIR]
    workbench probe RUN_DIR [--folds speaker|session|emobox|split] [--target emotion|label] [--mlp]
    workbench sweep PATH|MANIFEST --kind sample-rate|trim|snr|denoise [--out DIR]
    workbench diagnose PATH [--model …]
    workbench segment PATH [--max 25] [--min-silence 0.3] [--vad silero|energy] [--out DIR]
    workbench embeddings RUN_DIR [--project pca|tsne|umap] [--color-by emotion] [--cluster kmeans|agglomerative] [--neighbours ID|PATH]
    workbench similar A B [--model …]
    workbench fuse RUN_DIR [--text-model NAME|DIR] [--folds 5]
    workbench report TEMPLATE [--param key=value …] [--out reports/]
    workbench demo [--out DIR]

Exit status: 0 when every input succeeded, 1 when some input failed (its
error record is written), 2 for a usage or configuration error (printed as
``error: <input>: <what is wrong>`` and ``fix: <what to do>``), 3 for an
unexpected error (``--debug`` shows its traceback), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import shlex
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from . import __version__
from .audio import AudioConfig, check_audio_path
from .checkpoints import build_random_checkpoint, random_checkpoint_info
from .compare import compare_run, compare_runs, write_runs_comparison
from .corpora import PREPARERS, import_emobox, prepare, prepare_folder
from .demo import run_demo
from .engine import diagnose
from .distributed import RayOptions
from .embeddings import cluster, load_run_embeddings, neighbours, plot_projection, project, similar
from .errors import ConfigError, WorkbenchError
from .explain import cli_explain
from .experiment import Experiment, is_experiment_file
from .fusion import fuse_run
from .hf import import_hf
from .lhotse_io import export_lhotse, import_lhotse
from .logs import routed_logs
from .longform import SegmentConfig, segment_file
from .manifest import Manifest, read_manifest, write_manifest
from .metrics import evaluate, run_metrics
from .model import DEFAULT_MODEL, RANDOM_WEIGHTS_BANNER, load_model
from .outputs import infer_files, print_outcomes  # noqa: F401  (print_outcomes: public here too)
from .probe import FOLDS_CSV, ITEMS_CSV, PROBE_JSON, probe_run
from .reporting import parse_params, run_report
from .runfolder import RunFolder
from .runs import load_variants, run, run_experiment
from .sweep import summarise_sweep, sweep
from .tracking import log_run

EXIT_OK, EXIT_FAILED_ITEMS, EXIT_USAGE, EXIT_UNEXPECTED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the epilog's line breaks and appends each option's default to its help.

    A default is shown unless the help already says it, or it is ``None`` /
    ``False`` (then the help text says what happens by default).
    """

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if "default" in text.lower() or default in (None, False, argparse.SUPPRESS) or not action.option_strings:
            return text
        if isinstance(default, (list, tuple)):
            shown = " ".join(str(d) for d in default) or "nothing"
            return f"{text} (default: {shown.replace('%', '%%')})"
        return f"{text} (default: %(default)s)"


def _example(*lines: str) -> str:
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


_positive_int = _number(int, low=0, strict=True, fails="is not a positive number (1 or more)")
_non_negative_int = _number(int, low=0, strict=False, fails="is negative (0 or more)")
_positive_float = _number(float, low=0, strict=True, fails="is not a positive, finite number")
_non_negative_float = _number(float, low=0, strict=False, fails="is not a finite number >= 0")


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None,
                   help="hub id, local checkpoint directory, 'tiny' (seeded random weights; predictions mean nothing) or 'cue' (trained on synthetic planted cues; means nothing on speech) "
                        "(default: iic/emotion2vec_plus_large)")
    p.add_argument("--hub", default="ms", choices=["ms", "hf"], help="model hub for ids: ms (ModelScope) or hf (Hugging Face)")
    p.add_argument("--revision", default=None, help="hub revision to pin (default: the hub's latest)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:1 …")


def _add(sub, name: str, *, help: str, example: tuple[str, ...], description: str | None = None) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help, description=description or help[:1].upper() + help[1:] + ".",
                          epilog=_example(*example), formatter_class=HelpFormatter)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="workbench", description="Speech emotion recognition workbench around emotion2vec+.",
        formatter_class=HelpFormatter,
        epilog=_example("workbench infer clip.wav --model tiny",
                        "workbench manifest my_wavs/ -o my_wavs.csv --label-from-folder",
                        "workbench run my_wavs.csv --out runs/my_wavs && workbench metrics runs/my_wavs",
                        "", "`workbench COMMAND --help` explains each command's options."),
    )
    parser.add_argument("--version", action="version", version=f"workbench {__version__}", help="print the version and exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    parser.add_argument("--debug", action="store_true", help="print the full traceback of an error instead of a one-line message")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="one of the commands below")

    p = _add(sub, "infer", help="predict the emotion of audio files and write seed-compatible output folders",
             example=("workbench infer clip.wav other.mp3 --model tiny --granularity frame --embedding --out outputs",
                      "workbench infer -- -strange-name.wav      # `--` before names that start with '-'"))
    p.add_argument("paths", nargs="+", help="audio files (wav, flac, ogg, opus, mp3, m4a, …)")
    _model_args(p)
    p.add_argument("--granularity", default="utterance", choices=["utterance", "frame"],
                   help="utterance: one prediction per file; frame: also 50 per-frame scores per second")
    p.add_argument("--embedding", action="store_true", help="also write embedding.npy")
    p.add_argument("--out", default="outputs", help="folder that receives one outputs_YYYYMMDD_HHMMSS/ folder per input")
    p.add_argument("--max-duration", type=_positive_float, default=None,
                   help="refuse inputs longer than this many seconds (default: 120)")
    p.add_argument("--resampler", default="soxr", choices=["soxr", "scipy", "librosa"], help="resampler to 16 kHz")
    p.add_argument("--show-log", action="store_true", help="print each input's processing log")

    m = _add(sub, "model", help="make or inspect checkpoints",
             example=("workbench model make-tiny /tmp/tiny", "workbench model info --model /tmp/tiny"))
    msub = m.add_subparsers(dest="model_command", required=True, metavar="ACTION", help="make-tiny or info")
    mt = _add(msub, "make-tiny", help="write a seeded random emotion2vec+ checkpoint (predictions mean nothing)",
              example=("workbench model make-tiny /tmp/tiny --seed 1 --arch tiny",))
    mt.add_argument("dir", help="folder to write config.yaml, model.pt and tokens.txt into")
    mt.add_argument("--seed", type=int, default=0, help="random seed of the weights")
    mt.add_argument("--arch", default="tiny", choices=["tiny", "base", "large"], help="architecture size (weights stay random)")
    mi = _add(msub, "info", help="load a model and print what is loaded",
              example=("workbench model info --model ~/models/emotion2vec_plus_large --json",))
    _model_args(mi)
    mi.add_argument("--json", action="store_true", help="print JSON instead of a table")

    mf = _add(sub, "manifest", help="write a manifest (id, path[, label]) for a folder of audio files",
              description="Write a manifest for every audio file under FOLDER (subfolders included). Paths are "
                          "stored relative to the manifest's folder; ids are the file names without extension.",
              example=("workbench manifest my_wavs/ -o my_wavs.csv --label-from-folder",
                       "workbench run my_wavs.csv --model tiny --out runs/my_wavs"))
    mf.add_argument("folder", help="folder holding the audio files")
    mf.add_argument("-o", "--out", required=True, help="manifest file to write (.csv, .jsonl or .parquet)")
    mf.add_argument("--label-from-folder", action="store_true",
                    help="set label to each file's parent folder name (angry/a1.wav → angry) and emotion to its "
                         "emotion2vec+ key when the name is a common English emotion word")

    ds = _add(sub, "datasets", help="prepare manifests from corpora",
              example=("workbench datasets prepare emodb /data/emodb --out datasets/emodb.csv",
                       "workbench datasets import-emobox data/iemocap/*.jsonl --root /data --out datasets/iemocap.csv"))
    dsub = ds.add_subparsers(dest="datasets_command", required=True, metavar="ACTION", help="prepare or import-emobox")
    dp = _add(dsub, "prepare", help="write a manifest for a corpus folder as distributed",
              example=("workbench datasets prepare ravdess /data/RAVDESS --out datasets/ravdess.csv",))
    dp.add_argument("corpus", help=", ".join(PREPARERS))
    dp.add_argument("corpus_dir", help="the folder the corpus was unpacked into")
    dp.add_argument("--out", required=True, help="manifest file (.csv, .jsonl or .parquet)")
    de = _add(dsub, "import-emobox", help="read EmoBox metadata / fold files into a manifest",
              example=("workbench datasets import-emobox EmoBox/data/iemocap/fold_1/*.jsonl --root /data --out iemocap.csv",))
    de.add_argument("jsonl", nargs="+", help="EmoBox .jsonl metadata or fold files")
    de.add_argument("--root", required=True, help="folder the 'wav' paths are relative to")
    de.add_argument("--label-map", default=None, help="JSON {emobox label: emotion} overriding the built-in tables (default: none)")
    de.add_argument("--out", required=True, help="manifest file (.csv, .jsonl or .parquet)")
    dh = _add(dsub, "import-hf", help="a Hugging Face dataset (save_to_disk folder, audiofolder or hub id) into a manifest",
              example=("workbench datasets import-hf data/my_hf_dataset --out manifests/my.csv --map ravdess",))
    dh.add_argument("source", help="save_to_disk folder, audiofolder, or hub id (user/name)")
    dh.add_argument("--out", required=True, help="manifest file (.csv, .jsonl or .parquet); audio bytes go to <out stem>_audio/ beside it")
    dh.add_argument("--split", default=None, help="one split (default: all, each item keeping its split)")
    dh.add_argument("--label-column", default=None, help="column holding the label (default: emotion, label, labels … whichever the dataset has)")
    dh.add_argument("--map", default=None, help="label map: a corpus table (ravdess, emodb …), a JSON file {label: emotion}, or 'hap=happy,exc=happy'")
    dh.add_argument("--audio-column", default=None, help="column of the Audio feature (default: the dataset's Audio column)")
    dh.add_argument("--id-column", default=None, help="column to take item ids from (default: the dataset's id column, else row numbers)")
    dh.add_argument("--revision", default=None, help="hub revision")
    dl = _add(dsub, "import-lhotse", help="a lhotse RecordingSet (+ SupervisionSet) or CutSet into a manifest",
              example=("workbench datasets import-lhotse --recordings rec.jsonl.gz --supervisions sup.jsonl.gz --out m.csv",))
    dl.add_argument("--recordings", default=None, help="RecordingSet manifest (.jsonl.gz, .jsonl, .json)")
    dl.add_argument("--supervisions", default=None, help="SupervisionSet manifest: one item per supervision segment")
    dl.add_argument("--cuts", default=None, help="CutSet manifest (instead of --recordings)")
    dl.add_argument("--emotion-field", default="emotion", help="supervision custom field holding the label")
    dl.add_argument("--map", default=None, help="label map: a corpus table (iemocap …), a JSON file, or 'hap=happy,exc=happy'")
    dl.add_argument("--out", required=True, help="manifest file (.csv, .jsonl or .parquet)")

    xl = _add(sub, "export-lhotse", help="a run's predictions as a lhotse SupervisionSet (JSONL.gz) for k2/icefall-style pipelines",
              example=("workbench export-lhotse runs/iemocap --variant raw --out iemocap_emotions.jsonl.gz",))
    xl.add_argument("run_dir", help="run folder written by `workbench run`")
    xl.add_argument("--variant", default=None, help="variant to export (default: raw, else the run's first variant)")
    xl.add_argument("--out", default=None, help="SupervisionSet file (default: RUN_DIR/supervisions.jsonl.gz)")

    r = _add(sub, "run", help="run a manifest (× preprocessing variants) or an experiment file through the model into a run folder",
             example=("workbench run datasets/emodb.csv --model tiny --out runs/emodb",
                      "workbench run my_wavs.csv --variants variants.yaml --skip-missing --out runs/my_wavs",
                      "workbench run runs/emodb/experiment.yaml --out runs/emodb_again"))
    r.add_argument("manifest", help="manifest file (.csv, .jsonl or .parquet), or an experiment file (.yaml: manifest, model, "
                                    "variants, dtype … — every run folder writes the one that reproduces it); with an experiment "
                                    "file, only --out, --model, --device, the cache, engine and --workers options apply")
    _model_args(r)
    r.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16", "int8"], help="model precision")
    r.add_argument("--variants", default=None, help="YAML file of preprocessing variants (default: raw only)")
    r.add_argument("--out", default=None, help="run folder (default: runs/<manifest>_<timestamp>; an existing one is resumed)")
    r.add_argument("--skip-missing", action="store_true",
                   help="run even when some manifest files are missing: they become failed rows "
                        "(default: refuse the manifest and list them)")
    r.add_argument("--frame-embeddings", action="store_true", help="also store frame-level embeddings")
    r.add_argument("--chunk", type=_positive_int, default=64, help="items per flushed chunk")
    r.add_argument("--workers", type=_non_negative_int, default=None,
                   help="decoding processes (0: decode in the main process; default: all cores for 48 items or more, else 0)")
    r.add_argument("--no-cache", action="store_true", help="do not read or write the prediction cache")
    r.add_argument("--cache-dir", default=None, help="prediction cache folder (default: $WORKBENCH_CACHE/predictions, else ~/.cache/emotion-workbench/predictions)")
    r.add_argument("--engine", default="local", choices=["local", "ray"],
                   help="local: this process; ray: Ray Data actors, one model each (same run folder and results)")
    r.add_argument("--ray-address", default=None, help="Ray cluster to join ('auto', 'ray://host:10001'; default: RAY_ADDRESS or a new local one)")
    r.add_argument("--ray-actors", type=_positive_int, default=None, help="model copies (default: one per GPU, or per --ray-cpus-per-actor CPUs)")
    r.add_argument("--ray-cpus-per-actor", type=_positive_float, default=1.0, help="CPUs reserved by each Ray actor")
    r.add_argument("--ray-gpus-per-actor", type=_non_negative_float, default=None, help="GPUs per Ray actor (default: 1 on a CUDA run, 0 otherwise)")
    r.add_argument("--track", default=None, choices=["mlflow"], help="log the finished run (config, model, metrics with intervals, artifacts) to MLflow")
    r.add_argument("--tracking-uri", default=None, help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else the embedded store in ./mlruns)")
    r.add_argument("--experiment", default=None, help="MLflow experiment (default: MLFLOW_EXPERIMENT_NAME, else emotion-workbench)")

    mt_ = _add(sub, "metrics", help="WA, UAR, macro-F1, confusion, calibration and intervals of a run",
               example=("workbench metrics runs/emodb --restrict --by speaker gender",))
    mt_.add_argument("run_dir", help="run folder written by `workbench run`")
    mt_.add_argument("--restrict", action="store_true", help="take the argmax over the dataset's classes only")
    mt_.add_argument("--by", nargs="*", default=["speaker", "gender"], help="manifest columns to break down by")
    mt_.add_argument("--no-figures", action="store_true", help="skip the PNG figures")

    cp = _add(sub, "compare", help="compare the preprocessing variants of a run, or runs of one manifest (checkpoints, precisions, engines)",
              description="One run folder: its preprocessing variants against a baseline variant. Two or more run folders of "
                          "the same manifest (other checkpoints, precisions or engines): their rows paired by (id, variant), "
                          "each run against the first, with agreement (Cohen's kappa, top-1, score distances, embedding "
                          "cosines) and the items where they differ most; refused, with the ids, when the items or the audio differ.",
              example=("workbench compare runs/emodb_variants --baseline raw",
                       "workbench compare runs/emodb_f32 runs/emodb_bf16 --out runs/precision_check"))
    cp.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                    help="one run folder: its variants against a baseline; two or more: the runs row by row against the first")
    cp.add_argument("--baseline", default=None, help="one run: variant to compare against (default: raw if present, else the first)")
    cp.add_argument("--variant", action="append", default=None,
                    help="several runs: a variant to pair, repeatable (default: every variant they share)")
    cp.add_argument("--out", default=None, help="folder for the comparison files (default: several runs: a new runs/compare_<timestamp>, "
                                                 "never inside a run folder; one run: the run folder)")
    cp.add_argument("--top", type=_non_negative_int, default=5, help="several runs: most different items to print per pair")
    cp.add_argument("--restrict", action="store_true", help="take the argmax over the dataset's classes only")
    cp.add_argument("--bootstrap", type=_positive_int, default=1000, help="bootstrap resamples for the intervals")
    cp.add_argument("--seed", type=int, default=0, help="random seed of the bootstrap")
    cp.add_argument("--no-figures", action="store_true", help="skip the PNG figures")

    pb = _add(sub, "probe", help="linear probe (or small MLP) on a run's frozen embeddings under EmoBox-style folds",
              description="Train a probe on a run's frozen utterance embeddings under published folds and report WA, UAR and "
                          "macro-F1 per fold and their mean over folds (as EmoBox does), with bootstrap intervals.",
              example=("workbench probe runs/iemocap --folds session --out runs/iemocap_probe",
                       "workbench probe runs/emodb --folds speaker --k 5 --target label --mlp"))
    pb.add_argument("run_dir", help="run folder written by `workbench run`")
    pb.add_argument("--folds", default="speaker", choices=["speaker", "session", "emobox", "split"],
                    help="speaker: k-fold grouped by speaker; session: leave-one-session-out (IEMOCAP); "
                         "emobox: the folds of `datasets import-emobox`; split: the manifest's train/test split")
    pb.add_argument("--k", type=_positive_int, default=5, help="folds for --folds speaker (capped at the number of speakers)")
    pb.add_argument("--target", default="emotion", choices=["emotion", "label"],
                    help="emotion: the nine-class counterpart; label: the corpus's own label (classes the head lacks)")
    pb.add_argument("--mlp", action="store_true", help="a small MLP (sklearn MLPClassifier) instead of the logistic regression")
    pb.add_argument("--variant", default=None, help="variant whose embeddings to probe (default: the run's first)")
    pb.add_argument("--out", default=None, help="folder for probe.json and the tables (default: a new runs/probe_<timestamp>)")
    pb.add_argument("--bootstrap", type=_positive_int, default=1000, help="bootstrap resamples for the intervals")
    pb.add_argument("--seed", type=int, default=0, help="random seed of the MLP and the bootstrap")

    sw = _add(sub, "sweep", help="one file or manifest through a grid of sample rates, trims, SNRs or noise reduction",
              example=("workbench sweep clip.wav --kind sample-rate --model tiny",
                       "workbench sweep datasets/emodb.csv --kind snr --out runs/emodb_snr"))
    sw.add_argument("source", help="an audio file or a manifest (.csv, .jsonl, .parquet)")
    sw.add_argument("--kind", required=True, choices=["sample-rate", "trim", "snr", "denoise"], help="what the grid varies")
    _model_args(sw)
    sw.add_argument("--out", default=None, help="sweep folder (default: runs/sweep_<kind>_<name>_<timestamp>)")
    sw.add_argument("--no-cache", action="store_true", help="do not read or write the prediction cache")
    sw.add_argument("--cache-dir", default=None, help="prediction cache folder (default: $WORKBENCH_CACHE/predictions, else ~/.cache/emotion-workbench/predictions)")
    sw.add_argument("--no-figures", action="store_true", help="skip sweep.png")

    cli_explain.add_parser(sub, _add, _model_args)

    dg = _add(sub, "diagnose", help="log, prediction, stability and findings for one file",
              example=("workbench diagnose clip.wav --model tiny --json",))
    dg.add_argument("path", help="an audio file")
    _model_args(dg)
    dg.add_argument("--no-stability", action="store_true", help="skip the perturbation test")
    dg.add_argument("--json", action="store_true", help="print JSON instead of text")

    sg = _add(sub, "segment", help="long audio: VAD segments, per-segment emotions, dominant emotion, timeline and heatmap",
              example=("workbench segment meeting.mp3 --max 25 --min-silence 0.3 --vad energy --model tiny",))
    sg.add_argument("path", help="a (long) audio file")
    _model_args(sg)
    sg.add_argument("--max", type=_positive_float, default=25.0, help="longest segment in seconds")
    sg.add_argument("--min-silence", type=_non_negative_float, default=0.3, help="silence that ends a segment, seconds")
    sg.add_argument("--min-speech", type=_non_negative_float, default=0.25, help="shorter speech is dropped, seconds")
    sg.add_argument("--vad", default="silero", choices=["silero", "energy"], help="voice activity detector")
    sg.add_argument("--threshold", type=float, default=0.5, help="silero speech probability that starts speech")
    sg.add_argument("--merge-gap", type=_non_negative_float, default=2.0, help="timeline: merge same-label neighbours closer than this many seconds")
    sg.add_argument("--out", default=None, help="output folder (default: outputs/segment_<name>_<timestamp>)")
    sg.add_argument("--no-figures", action="store_true", help="skip heatmap.png")
    sg.add_argument("--json", action="store_true", help="print summary.json instead of the timeline")

    em = _add(sub, "embeddings", help="2-D projection, clusters and nearest neighbours of a run's utterance embeddings",
              example=("workbench embeddings runs/emodb --project pca --color-by emotion pred --neighbours 03a01Fa",))
    em.add_argument("run_dir", help="run folder written by `workbench run`")
    em.add_argument("--variant", default=None, help="variant whose embeddings to use (default: the first)")
    em.add_argument("--project", default="pca", choices=["pca", "tsne", "umap"], help="2-D projection method")
    em.add_argument("--color-by", nargs="*", default=["emotion", "pred", "correct", "speaker"], help="columns to colour the projection by (one figure each)")
    em.add_argument("--cluster", default="kmeans", choices=["kmeans", "agglomerative", "none"], help="clustering method")
    em.add_argument("--k", type=_positive_int, default=None, help="number of clusters (default: best silhouette for k=2..10)")
    em.add_argument("--neighbours", default=None, help="an item id of the run, or an audio file, to list its nearest items (default: none)")
    em.add_argument("-n", type=_positive_int, default=5, help="how many neighbours")
    _model_args(em)
    em.add_argument("--seed", type=int, default=0, help="random seed of projection and clustering")

    si = _add(sub, "similar", help="cosine similarity of two files' emotion2vec+ embeddings",
              example=("workbench similar a.wav b.wav --model tiny",))
    si.add_argument("a", help="first audio file")
    si.add_argument("b", help="second audio file")
    _model_args(si)
    si.add_argument("--json", action="store_true", help="print JSON instead of text")

    fu = _add(sub, "fuse", help="speech, text, early and late fusion under speaker-independent cross-validation",
              example=("workbench fuse runs/emodb --folds 5",))
    fu.add_argument("run_dir", help="run folder written by `workbench run` (its manifest needs text and speaker)")
    fu.add_argument("--variant", default=None, help="variant whose embeddings to use (default: the first)")
    fu.add_argument("--text-model", default=None, help="sentence-transformers name or folder (default: the bundled English all-MiniLM-L6-v2)")
    fu.add_argument("--folds", type=_positive_int, default=5, help="cross-validation folds (grouped by speaker)")
    fu.add_argument("--seed", type=int, default=0, help="random seed")
    fu.add_argument("--bootstrap", type=_positive_int, default=1000, help="bootstrap resamples for the intervals")
    fu.add_argument("--no-figures", action="store_true", help="skip fusion.png")

    rp = _add(sub, "report", help="execute a report template with papermill into reports/<name>/<timestamp>/ (notebook, HTML, metrics.json)",
              example=("workbench report experiment_report -p run_dir=runs/emodb",))
    rp.add_argument("template", help="experiment_report, variant_comparison, checkpoint_comparison, or a notebook path")
    rp.add_argument("--param", "-p", action="append", default=[], help="key=value (repeatable), e.g. run_dir=runs/my_run")
    rp.add_argument("--out", default="reports", help="folder that receives <template>/<timestamp>/")

    d = _add(sub, "demo", help="infer on the demo clips, then an experiment report on the demo set",
             example=("workbench demo --out outputs",))
    d.add_argument("--out", default="outputs", help="folder that receives the output folders")
    d.add_argument("--model", default=None, help="checkpoint (default: $WORKBENCH_MODEL, a local emotion2vec_plus_large download, or tiny)")
    d.add_argument("--no-report", action="store_true", help="skip the experiment report at the end")
    return parser


# ---------------------------------------------------------------------------
# running a command: errors become a message and a fix, never a traceback
# ---------------------------------------------------------------------------
_DASH_HINT = "hint: to pass a file whose name starts with '-', put `--` before it: workbench {command} -- {name}"


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    try:
        return parser.parse_args(argv)
    except SystemExit as exc:
        if exc.code not in (0, None):
            dashed = [a for a in argv if a.startswith("-") and a not in ("-", "--") and Path(a).exists()]
            if dashed:
                command = next((a for a in argv if not a.startswith("-")), "COMMAND")
                print(_DASH_HINT.format(command=command, name=dashed[0]), file=sys.stderr)
        raise


def _disk_full(exc: BaseException) -> OSError | None:
    """The ENOSPC/EDQUOT error behind ``exc`` (itself, its cause or its context), if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and (exc.errno in (errno.ENOSPC, errno.EDQUOT) or "No space left on device" in str(exc)):
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


@contextlib.contextmanager
def console_logging(*, verbose: bool = False, debug: bool = False):
    """While a command runs: the workbench's warnings (INFO with -v) on stderr, every library's lines,
    warnings and bars in the log file (--debug: on stderr too); see :mod:`workbench.logs`."""
    with routed_logs(verbose=verbose, debug=debug):
        yield


COMMANDS = {}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parse(build_parser(), argv)
    with console_logging(verbose=args.verbose, debug=args.debug):
        return _dispatch(args)


def _dispatch(args: argparse.Namespace) -> int:
    key = args.command + (f" {args.model_command}" if args.command == "model" else "")
    key += f" {args.datasets_command}" if args.command == "datasets" else ""
    try:
        return COMMANDS[key](args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("interrupted" + ("; `workbench run` with the same --out resumes where it stopped" if args.command == "run" else ""),
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 — the one place that turns any error into a message
        if args.debug:
            raise
        full = _disk_full(exc)
        if full is not None:
            path = full.filename or getattr(args, "out", None) or "the output folder"
            print(f"error: disk full while writing {path}; free space or choose --out elsewhere", file=sys.stderr)
            return EXIT_USAGE
        if isinstance(exc, WorkbenchError):
            print(exc.render(), file=sys.stderr)
            return EXIT_USAGE
        print(f"error: unexpected {type(exc).__name__} in `workbench {key}`: {_one_line(exc)}", file=sys.stderr)
        print("  run with --debug for the traceback (and report it if the input looks fine)", file=sys.stderr)
        return EXIT_UNEXPECTED


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


def _banner(flag) -> None:
    if flag:
        print(f"!! {RANDOM_WEIGHTS_BANNER}")


def _random_banner_for(run_dir) -> None:
    _banner(RunFolder(run_dir).random_weights)


# ---------------------------------------------------------------------------
# commands
# ---------------------------------------------------------------------------
def _say_loading(line: str) -> None:
    """What the model load is doing, on stderr while it happens (it takes seconds on a large checkpoint)."""
    print(f"  {line} …", file=sys.stderr, flush=True)


def cmd_infer(args) -> int:
    check_out_dir(args.out)
    cfg = AudioConfig(resampler=args.resampler)
    if args.max_duration is not None:
        cfg = AudioConfig(resampler=args.resampler, max_duration_s=args.max_duration)
    outcomes = infer_files(
        args.paths,
        model=args.model,
        hub=args.hub,
        revision=args.revision,
        device=args.device,
        granularity=args.granularity,
        embedding=args.embedding,
        out_dir=args.out,
        audio_config=cfg,
        load_progress=_say_loading,
    )
    print_outcomes(outcomes, show_log=args.show_log)
    return EXIT_OK if all(o.ok for o in outcomes) else EXIT_FAILED_ITEMS


def _print_manifest_summary(m: Manifest, out: Path) -> None:
    report = m.validate(check_files=False)
    mapped = sum(1 for it in m.items if it.emotion)
    print(f"wrote {out}: {report.summary()}; {mapped} with an emotion2vec+ counterpart, {len(m) - mapped} without")
    by_label: dict = {}
    for it in m.items:
        by_label.setdefault((it.label, it.emotion or "—"), 0)
        by_label[(it.label, it.emotion or "—")] += 1
    for (label, emo), n in sorted(by_label.items()):
        print(f"  {label or '(no label)':>12} → {emo:<10} {n}")


def cmd_import_hf(args) -> int:
    res = import_hf(args.source, args.out, split=args.split, label_column=args.label_column, label_map=args.map,
                    audio_column=args.audio_column, id_column=args.id_column, revision=args.revision)
    print(f"wrote {res.path}: {res.summary()}")
    counts: dict = {}
    for it in res.manifest.items:
        counts[(it.label, it.emotion or "—")] = counts.get((it.label, it.emotion or "—"), 0) + 1
    for (label, emo), n in sorted(counts.items()):
        print(f"  {label:>12} → {emo:<10} {n}")
    return 0


def cmd_import_lhotse(args) -> int:
    res = import_lhotse(recordings=args.recordings, supervisions=args.supervisions, cuts=args.cuts, out=args.out,
                        emotion_field=args.emotion_field, label_map=args.map)
    print(f"wrote {args.out}: {res.summary()}")
    return 0


def cmd_export_lhotse(args) -> int:
    exp = export_lhotse(args.run_dir, args.out, variant=args.variant)
    _random_banner_for(args.run_dir)
    print(f"wrote {exp.path}: {exp.written} supervisions of variant {exp.variant} ({exp.failed} failed rows left out)")
    return 0


def cmd_datasets(args) -> int:
    if args.datasets_command == "import-hf":
        return cmd_import_hf(args)
    if args.datasets_command == "import-lhotse":
        return cmd_import_lhotse(args)
    if args.datasets_command == "prepare":
        m = prepare(args.corpus, args.corpus_dir)
    else:
        m = import_emobox(args.jsonl, root=args.root, label_map=args.label_map)
    report = m.validate()
    out = Path(args.out)
    if not Path(m.root).resolve() == out.resolve().parent:
        # paths in the manifest are relative to the corpus folder; store them absolute when the manifest lives elsewhere
        for it in m.items:
            it.path = str(m.resolve(it))
    write_manifest(m, out)
    _print_manifest_summary(m, out)
    if not report.ok:
        print(f"warning: {out} is not valid yet: {report.summary()}", file=sys.stderr)
        print(f"  fix: {report.fixes()}", file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_FAILED_ITEMS


def cmd_manifest(args) -> int:
    m = prepare_folder(args.folder, label_from_folder=args.label_from_folder)
    m.validate().raise_for_errors(str(args.folder))
    out = Path(args.out).expanduser()
    base = out.absolute().parent
    for it in m.items:  # relative to where the manifest lives, so the pair can move together
        target = m.resolve(it)
        try:
            it.path = Path(os.path.relpath(target, base)).as_posix()
        except ValueError:  # another drive (Windows)
            it.path = str(target)
    m.root = base
    write_manifest(m, out)
    read_manifest(out)  # what `workbench run` will read: checked once more
    _print_manifest_summary(m, out)
    print(f"next: workbench run {out} --out runs/{out.stem}")
    return EXIT_OK


def cmd_run(args) -> int:
    # everything the user typed is checked before the model loads
    experiment = Experiment.load(args.manifest) if is_experiment_file(args.manifest) else None
    manifest_path = experiment.manifest if experiment else args.manifest
    manifest = read_manifest(manifest_path, missing="keep" if args.skip_missing else "error")
    out = args.out or (experiment.out if experiment else None) or \
        f"runs/{Path(manifest_path).stem}_{datetime.now().strftime('%Y%m%d_%H%M%S')}"
    check_out_dir(out)
    variants = experiment.variant_objects() if experiment else load_variants(args.variants)
    ray_options = None
    engine = experiment.engine if experiment and args.engine == "local" else args.engine
    if engine == "ray":
        ray_options = RayOptions(address=args.ray_address, actors=args.ray_actors, cpus_per_actor=args.ray_cpus_per_actor,
                                 gpus_per_actor=args.ray_gpus_per_actor)
    if args.skip_missing:
        missing = manifest.validate().missing_files
        if missing:
            print(f"warning: {len(missing)} of {len(manifest)} manifest entries are missing and become failed rows "
                  f"(--skip-missing): {', '.join(missing[:10])}{f' … and {len(missing) - 10} more' if len(missing) > 10 else ''}",
                  file=sys.stderr)
    model = args.model if args.model is not None else (experiment.model if experiment else None)
    print(f"model {model or DEFAULT_MODEL}:", file=sys.stderr, flush=True)
    options = dict(use_cache=not args.no_cache, cache_dir=args.cache_dir, progress=True, engine=engine, ray_options=ray_options,
                   workers=args.workers, load_progress=_say_loading)
    if experiment:
        exp = replace(experiment, manifest=str(Path(manifest_path)), device=args.device if args.device != "auto" else experiment.device)
        result = run_experiment(exp, out_dir=out, model=model, **{k: v for k, v in options.items() if k != "engine"})
    else:
        result = run(
            manifest, out_dir=out, model=model, hub=args.hub, revision=args.revision, device=args.device,
            dtype=args.dtype, variants=variants, frame_embeddings=args.frame_embeddings, chunk_size=args.chunk, **options,
        )
    _banner(result.summary.get("random_weights"))
    print_run_summary(result)
    if args.track == "mlflow" or (experiment and "mlflow" in (experiment.tracking or {})):
        mlflow_cfg = (experiment.tracking or {}).get("mlflow") or {} if experiment else {}
        uri = args.tracking_uri or mlflow_cfg.get("uri")
        run_id = log_run(result.run_dir, uri=uri, experiment=args.experiment or mlflow_cfg.get("experiment"))
        print(f"MLflow run {run_id} logged ({uri or 'MLFLOW_TRACKING_URI or ./mlruns'})")
    return EXIT_OK if result.n_failed == 0 else EXIT_FAILED_ITEMS


def print_run_summary(result, out=None) -> None:
    """Counts, then WA / UAR / macro-F1 with 95 % bootstrap intervals per variant, then what to run next."""
    out = out or sys.stdout
    print(f"run folder: {result.run_dir}", file=out)
    print(f"{result.n_rows} rows, {result.n_failed} failed, {result.n_cached} from cache, {result.n_resumed} resumed, "
          f"{result.seconds:.1f} s", file=out)
    results = RunFolder(result.run_dir).results()
    for v, d in result.summary.get("variants", {}).items():
        line = f"  {v}: {d['labelled']} labelled, {d['excluded_no_counterpart']} without counterpart, {d['failed']} failed"
        if d["labelled"]:
            r = evaluate(results, variant=v, n_boot=1000, by=())
            line += "; " + ", ".join(f"{name.upper()} {getattr(r, name):.3f} [{r.ci[name][0]:.3f}, {r.ci[name][1]:.3f}]"
                                     for name in ("wa", "uar", "macro_f1"))
        print(line, file=out)
    run_dir = shlex.quote(str(result.run_dir))
    print("next:", file=out)
    print(f"  workbench metrics {run_dir}            # per-class report, confusion, calibration, breakdowns", file=out)
    if len(result.summary.get("variants", {})) > 1:
        print(f"  workbench compare {run_dir}            # paired deltas and flips between the variants", file=out)
    print(f"  workbench report experiment_report -p run_dir={run_dir}   # a self-contained HTML report", file=out)


def cmd_metrics(args) -> int:
    reports = run_metrics(args.run_dir, restrict=args.restrict, by=args.by, figures=not args.no_figures)
    _random_banner_for(args.run_dir)
    for r in reports.values():
        print(r.render())
    print(f"metrics.json{'' if args.no_figures else ' and figures'} written to {args.run_dir}")
    return EXIT_OK


def cmd_compare(args) -> int:
    if len(args.run_dirs) > 1:
        out = Path(args.out) if args.out else _new_folder(f"runs/compare_{datetime.now().strftime('%Y%m%d_%H%M%S')}")
        check_out_dir(out)
        cmp = compare_runs(args.run_dirs, variants=args.variant, n_boot=args.bootstrap, seed=args.seed, restrict=args.restrict)
        paths = write_runs_comparison(cmp, out, figures=not args.no_figures)
        print(cmp.render(top=args.top))
        print(f"{', '.join(p.name for p in paths.values())} written to {out}")
        return EXIT_OK
    (run_dir,) = args.run_dirs
    if args.out is not None:
        check_out_dir(args.out)
    reports, comparisons, flips = compare_run(run_dir, baseline=args.baseline, n_boot=args.bootstrap, seed=args.seed,
                                              restrict=args.restrict, figures=not args.no_figures, out=args.out)
    _random_banner_for(run_dir)
    for name, r in reports.items():
        ci = r.ci
        print(f"{name:>20}: WA {r.wa:.3f} [{ci['wa'][0]:.3f}, {ci['wa'][1]:.3f}]  UAR {r.uar:.3f} [{ci['uar'][0]:.3f}, {ci['uar'][1]:.3f}]  ({r.n_scored} scored)")
    for c in comparisons:
        print(c.render())
    if len(flips):
        print(f"\n{len(flips)} flips (first 10; all in flips.csv):")
        print(flips.head(10)[["id", "variant", "emotion", "pred_baseline", "confidence_baseline", "pred_variant", "confidence_variant"]].to_string(index=False))
    print(f"compare.json, flips.csv{'' if args.no_figures else ' and figures'} written to {args.out or run_dir}")
    return EXIT_OK


def _new_folder(base: str) -> Path:
    """``base``, or ``base_1``, ``base_2`` … when it exists: a default output folder is always a new one."""
    out, k = Path(base), 1
    while out.exists():
        out, k = Path(f"{base}_{k}"), k + 1
    return out


def cmd_probe(args) -> int:
    out = Path(args.out) if args.out else _new_folder(f"runs/probe_{datetime.now().strftime('%Y%m%d_%H%M%S')}")
    check_out_dir(out)
    res = probe_run(args.run_dir, folds=args.folds, k=args.k, target=args.target, mlp=args.mlp, variant=args.variant,
                    n_boot=args.bootstrap, seed=args.seed, out=out)
    print(res.render())
    print(f"{PROBE_JSON}, {FOLDS_CSV}, {ITEMS_CSV} written to {out}")
    return EXIT_OK


def cmd_sweep(args) -> int:
    out = args.out or f"runs/sweep_{args.kind}_{Path(args.source).stem}_{datetime.now().strftime('%Y%m%d_%H%M%S')}"
    check_out_dir(out)
    df = sweep(args.source, kind=args.kind, out_dir=out, model=args.model, hub=args.hub, revision=args.revision,
               device=args.device, use_cache=not args.no_cache, cache_dir=args.cache_dir, figures=not args.no_figures)
    _random_banner_for(out)
    print(summarise_sweep(df, args.kind).to_string(index=False))
    print(f"sweep.csv{'' if args.no_figures else ', sweep.png'} and the run written to {out}")
    return EXIT_OK if (df["status"] == "ok").all() else EXIT_FAILED_ITEMS


def cmd_segment(args) -> int:
    check_audio_path(Path(args.path))
    if args.out is not None:
        check_out_dir(args.out)
    cfg = SegmentConfig(vad=args.vad, max_segment_s=args.max, min_silence_s=args.min_silence, min_speech_s=args.min_speech,
                        threshold=args.threshold, merge_gap_s=args.merge_gap)
    res = segment_file(args.path, model=args.model, hub=args.hub, revision=args.revision, device=args.device, out_dir=args.out,
                       config=cfg, figures=not args.no_figures, progress=sys.stderr.isatty())
    if args.json:
        print(json.dumps(res.summary, indent=2, ensure_ascii=False, default=str))
    else:
        print(res.render())
        print(f"segments.csv, timeline.csv, heatmap.npz{'' if args.no_figures else ', heatmap.png'} and summary.json written to {res.out_dir}")
    return EXIT_OK


def cmd_embeddings(args) -> int:
    emb = load_run_embeddings(args.run_dir, variant=args.variant)
    _random_banner_for(args.run_dir)
    out = Path(args.run_dir)
    print(f"{len(emb)} embeddings of dimension {emb.matrix.shape[1]} (variant {emb.variant})")
    xy = project(emb.matrix, args.project, seed=args.seed)
    rows = emb.rows.copy()
    rows["x"], rows["y"] = xy[:, 0], xy[:, 1]
    if args.cluster != "none":
        cl = cluster(emb.matrix, args.cluster, k=args.k, seed=args.seed)
        rows["cluster"] = cl.labels
        by_k = ", ".join(f"k={k}: {v:.3f}" for k, v in cl.silhouette_by_k.items())
        print(f"{args.cluster}: k={cl.k} (silhouette {cl.silhouette:.3f}; {by_k})")
        if "emotion" in rows.columns:
            table = rows.groupby("cluster")["emotion"].agg(lambda s: ", ".join(f"{k or '—'} {v}" for k, v in s.value_counts().head(4).items()))
            for c, desc in table.items():
                print(f"  cluster {c}: {desc}")
    cols = [c for c in ("id", "variant", "emotion", "pred", "speaker", "x", "y", "cluster") if c in rows.columns]
    rows[cols].to_csv(out / f"projection_{args.project}.csv", index=False)
    for col in args.color_by:
        if col == "correct" or col in rows.columns:
            plot_projection(xy, rows, col, title=f"{args.project.upper()} of {len(rows)} embeddings, coloured by {col}",
                            path=out / f"projection_{args.project}_{col}.png")
    print(f"projection_{args.project}.csv and figures written to {out}")
    if args.neighbours:
        model = None
        if Path(args.neighbours).is_file():
            model = load_model(args.model, hub=args.hub, revision=args.revision, device=args.device)
        print(f"nearest to {args.neighbours}:")
        print(neighbours(emb, args.neighbours, args.n, model=model).to_string(index=False))
    return EXIT_OK


def cmd_similar(args) -> int:
    check_audio_path(Path(args.a))
    check_audio_path(Path(args.b))
    net = load_model(args.model, hub=args.hub, revision=args.revision, device=args.device)
    r = similar(args.a, args.b, net)
    if args.json:
        print(json.dumps(r, indent=2, ensure_ascii=False))
        return EXIT_OK
    _banner(r["random_weights"])
    print(f"cosine similarity {r['cosine']:.4f}")
    print(f"  {r['a']}: {r['label_a']} ({r['confidence_a']:.3f})")
    print(f"  {r['b']}: {r['label_b']} ({r['confidence_b']:.3f})")
    return EXIT_OK


def cmd_fuse(args) -> int:
    res = fuse_run(args.run_dir, variant=args.variant, text_model=args.text_model, folds=args.folds, seed=args.seed,
                   n_boot=args.bootstrap, figures=not args.no_figures)
    _random_banner_for(args.run_dir)
    print(res.render())
    fixed = res.changes
    if len(fixed):
        print(f"\n{len(fixed)} fixed/broken predictions relative to speech (first 10; all in fusion_changes.csv):")
        print(fixed.head(10)[["method", "change", "id", "emotion", "pred_speech", "pred_method"]].to_string(index=False))
    print(f"fusion.json, fusion_items.csv, fusion_changes.csv{'' if args.no_figures else ', fusion.png'} written to {args.run_dir}")
    return EXIT_OK


def cmd_report(args) -> int:
    check_out_dir(args.out)
    paths = run_report(args.template, parse_params(args.param), out=args.out)
    metrics = json.loads(paths["metrics"].read_text(encoding="utf-8"))
    _banner(metrics.get("random_weights"))
    size = paths["html"].stat().st_size
    print(f"report: {paths['html']} ({size / 1e6:.1f} MB, self-contained)")
    print(f"executed notebook: {paths['notebook']}\nmetrics: {paths['metrics']}")
    return EXIT_OK


def cmd_diagnose(args) -> int:
    check_audio_path(Path(args.path))
    net = load_model(args.model, hub=args.hub, revision=args.revision, device=args.device)
    d = diagnose(args.path, net, run_stability=not args.no_stability)
    if args.json:
        payload = {
            "input": d.audio.source.to_dict(), "log": d.audio.log.to_list(), "prediction": d.prediction.to_dict(frames=False),
            "facts": d.facts, "findings": [f.to_dict() for f in d.findings],
            "stability": d.stability.to_dict() if d.stability else None, "random_weights": net.random_weights,
        }
        print(json.dumps(payload, indent=2, ensure_ascii=False, default=str))
    else:
        print(d.render())
    return EXIT_OK


def cmd_make_tiny(args) -> int:
    path = build_random_checkpoint(args.dir, arch=args.arch, seed=args.seed)
    info = random_checkpoint_info(path)
    print(f"wrote a random {args.arch} emotion2vec+ checkpoint ({info['parameters']:,} parameters, seed {args.seed}) to {path}")
    print("load it with --model", path, " — its predictions mean nothing.")
    return EXIT_OK


def cmd_model_info(args) -> int:
    net = load_model(args.model, hub=args.hub, revision=args.revision, device=args.device)
    info = net.info.to_dict()
    if args.json:
        print(json.dumps(info, indent=2, ensure_ascii=False))
        return EXIT_OK
    if info.get("warning"):
        print(f"!! {info['warning']}")
    for key in ("id", "kind", "hub", "revision", "path", "parameters", "embed_dim", "checksum", "device", "dtype", "funasr_version", "load_seconds"):
        value = info[key]
        if key == "parameters":
            value = f"{value:,}"
        if key == "load_seconds":
            value = f"{value:.2f}"
        print(f"{key:>15}: {value}")
    print(f"{'labels':>15}: {', '.join(info['labels'])}")
    return EXIT_OK


def cmd_demo(args) -> int:
    check_out_dir(args.out)
    return run_demo(out=args.out, model=args.model, report=not args.no_report)


COMMANDS.update({
    "infer": cmd_infer, "model make-tiny": cmd_make_tiny, "model info": cmd_model_info, "manifest": cmd_manifest,
    "datasets prepare": cmd_datasets, "datasets import-emobox": cmd_datasets, "run": cmd_run, "metrics": cmd_metrics,
    "compare": cmd_compare, "probe": cmd_probe, "sweep": cmd_sweep, "diagnose": cmd_diagnose, "segment": cmd_segment,
    "embeddings": cmd_embeddings, "similar": cmd_similar, "fuse": cmd_fuse, "report": cmd_report, "demo": cmd_demo,
    "datasets import-hf": cmd_import_hf, "datasets import-lhotse": cmd_import_lhotse, "export-lhotse": cmd_export_lhotse,
    "explain": lambda args: cli_explain.cmd_explain(args, check_out_dir=check_out_dir),
})


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
