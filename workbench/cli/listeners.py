"""The listeners' commands: ``workbench listeners RUN`` and ``workbench datasets import-votes``.

Kept beside their parsers (lhotse's recipe-next-to-its-command layout);
:mod:`workbench.cli` registers them with :func:`add_listeners`, :func:`add_import_votes` and ``COMMANDS``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.analysis.listeners import DEFAULT_BANDS, LISTENERS_FILE, run_listeners
from workbench.data.listeners import attach, FORMATS, read_votes, records_from_manifest
from workbench.errors import ConfigError, printable
from workbench.labels import LABEL_KEYS
from workbench.model.checkpoints import resolve_model
from workbench.model.network import checkpoint_labels
from workbench.data.manifest import read_manifest, write_manifest
from workbench.data.votes import check_vote_classes
from workbench.model.network import RANDOM_WEIGHTS_BANNER
from workbench.runs.folder import RunFolder, as_run_folder

from workbench.cli.common import add_run_seed_option, run_seed, bootstrap_count, EXIT_OK, RUN_FOLDER_DEFAULT, add_command, add_json_option, add_out_option, check_out_dir
from workbench.files import strict_json
from workbench.serialize import load_json_file


def _share(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a share of listeners in (0, 1]")
    return v


def _count(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative (0 or more)")
    return v


def add_listeners(sub) -> None:
    """``workbench listeners RUN``."""
    p = add_command(sub, "listeners", help="a run's predictions against its listeners' judgements (agreement bands, divergences, the lists to act on)",
            description="Accuracy and UAR per listener-agreement band with intervals, Jensen-Shannon divergence and "
                        "cross-entropy to the vote distribution, Spearman of confidence with agreement, the items where "
                        "listeners agree and the model is wrong, and the items listeners split on. Writes listeners.json "
                        "into the run folder. The manifest needs listener columns (datasets import-votes, or a corpus "
                        "loader that reads them such as EmoDB's erkennung.txt).",
            example=("workbench listeners runs/crema_d --restrict", "workbench listeners runs/emodb --agree 0.8 --json"))
    p.add_argument("run_dir", help="run folder written by `workbench run`")
    p.add_argument("--restrict", action="store_true", help="compare distributions and take the argmax over the corpus's classes only")
    p.add_argument("--bands", nargs="+", type=_share, default=list(DEFAULT_BANDS), help="inner edges of the agreement bands")
    p.add_argument("--agree", type=_share, default=0.75, help="agreement at or above this is 'listeners agree'")
    p.add_argument("--split", type=_share, default=0.5, help="agreement below this is 'listeners split'")
    p.add_argument("--bootstrap", type=lambda text: bootstrap_count(text, low=0), default=1000, help="bootstrap resamples for the intervals")
    add_run_seed_option(p, "the bootstrap")
    p.add_argument("--top", type=_count, default=5, help="rows of each list to print (listeners.json keeps 50)")
    add_out_option(p, what="listeners.json", default=RUN_FOLDER_DEFAULT)
    add_json_option(p, "listeners.json")


def add_import_votes(datasets_sub) -> None:
    """``workbench datasets import-votes``."""
    iv = add_command(datasets_sub, "import-votes", help="attach listeners' judgements (votes, raters, agreement) to a manifest",
             description="Read a corpus's listener judgements and write them into the manifest's columns votes_<class> "
                         "(counts), votes_unmapped, n_raters, agreement, listener_majority, plus the corpus's own figures. "
                         "Formats: " + "; ".join(f"{k}: {v}" for k, v in FORMATS.items()) + "; manifest: the manifest's own "
                         "rater_labels or votes_<class> columns (HF datasets, lhotse custom fields).",
             example=("workbench datasets import-votes datasets/crema_d.csv --format crema-d-tabulated "
                      "--votes CREMA-D/processedResults/tabulatedVotes.csv --out datasets/crema_d_votes.csv",
                      "workbench datasets import-votes datasets/iemocap.csv --format iemocap --votes /data/IEMOCAP --out iemocap_votes.csv"))
    iv.add_argument("manifest", help="manifest to annotate (.csv, .jsonl or .parquet)")
    iv.add_argument("--format", required=True, choices=[*FORMATS, "manifest"], help="the votes file's format")
    iv.add_argument("--votes", default=None, help="the votes file or folder (not with --format manifest)")
    add_out_option(iv, what="the manifest to write (.csv, .jsonl or .parquet)", file=True, required=True)
    iv.add_argument("--modality", default=None, choices=["voice", "face", "audio-visual"], help="CREMA-D: which ratings (default: voice)")
    iv.add_argument("--emo-responses", default=None, help="CREMA-D responses: finishedEmoResponses.csv (default: beside the votes file)")
    iv.add_argument("--include-self", action="store_true", help="IEMOCAP: count the actors' self-evaluations as votes")
    iv.add_argument("--consensus", default=None, help="MSP-Podcast: labels_consensus.csv (or the release's "
                    "labels_consensus.json) to keep its consensus class and dimensions")
    iv.add_argument("--id-column", default=None, help="generic: the votes file's id column (default: id)")
    iv.add_argument("--label-map", default=None, help="generic/manifest: JSON file {rater label: one of the classes or \"\"}")
    iv.add_argument("--model", default=None, help="generic/manifest: vote over this checkpoint's classes (a fine-tuned head's "
                    "own, e.g. calm, tense) instead of the nine emotion2vec+ keys; rater labels that are these classes need no map")


def _label_map(path: str | None) -> dict | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise ConfigError("label map file not found.", source=str(p), fix="pass a JSON file {label: class or \"\"}.")
    data = load_json_file(p, what="a label map")  # capped: a label map is a few kB
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ConfigError("must be a JSON object {label: class or \"\"}.", source=str(p), fix="write {\"label\": \"angry\", …}.")
    return data


def _vote_classes(model: str | None) -> list[str] | None:
    """The classes ``--model`` scores (a local or generated checkpoint's tokens.txt; a hub id's are the nine); None without it."""
    if model is None:
        return None
    resolved = resolve_model(model)
    return list(LABEL_KEYS) if resolved.kind == "hub" else check_vote_classes(checkpoint_labels(resolved.model), source=printable(str(model)))


def cmd_import_votes(args) -> int:
    per_format = {"modality": ("crema-d-tabulated", "crema-d-responses"), "emo_responses": ("crema-d-responses",),
                  "include_self": ("iemocap",), "consensus": ("msp-podcast",), "id_column": ("generic",),
                  "label_map": ("generic", "manifest"), "model": ("generic", "manifest")}
    for opt, formats in per_format.items():
        given = getattr(args, opt)
        if given not in (None, False) and args.format not in formats:
            raise ConfigError(f"--{opt.replace('_', '-')} does not apply to --format {args.format}; it is for {', '.join(formats)}.",
                              fix="leave it out.")
    manifest = read_manifest(args.manifest, validate_files=False)
    if args.format == "manifest":
        if args.votes is not None:
            raise ConfigError("--votes does not apply to --format manifest (the votes are the manifest's own columns).", fix="leave it out.")
        report = records_from_manifest(manifest, label_map=_label_map(args.label_map), classes=_vote_classes(args.model))
    else:
        if args.votes is None:
            raise ConfigError(f"--format {args.format} needs --votes (the {FORMATS[args.format]}).", fix="pass its path.")
        options = {"modality": args.modality, "emo_responses": args.emo_responses, "include_self": args.include_self or None,
                   "consensus": args.consensus, "id_column": args.id_column, "label_map": _label_map(args.label_map),
                   "classes": _vote_classes(args.model)}
        report = read_votes(args.format, args.votes, **options)
    attached = attach(manifest, report)
    if not report.records and args.format in ("generic", "manifest"):  # every row empty: "no manifest id matches" blamed the ids
        raise ConfigError("holds no vote: every row's rater_labels or votes_<class> cells are empty.", source=args.votes or args.manifest,
                          fix="pass the file that holds the listeners' judgements (rater_labels 'angry;angry;neutral', or counts).")
    if not attached.n_attached:
        raise ConfigError(f"no manifest id matches an item of the votes ({len(report.records)} read, e.g. "
                          f"{', '.join(map(printable, list(report.records)[:3])) or 'none'}; manifest ids e.g. {', '.join(it.id for it in manifest.items[:3])}).",
                          source=args.votes or args.manifest, fix="check that the manifest and the votes come from the same corpus (ids are file names without extension).")
    write_manifest(manifest, args.out)
    print(report.summary())
    print(attached.summary())
    print(f"wrote {args.out}")
    return EXIT_OK


def cmd_listeners(args) -> int:
    if args.out is not None:
        check_out_dir(args.out)
    rf = as_run_folder(args.run_dir)
    run_seed(args, args.run_dir)
    reports = run_listeners(rf, restrict=args.restrict, bands=args.bands, agree=args.agree, split=args.split,
                            n_boot=args.bootstrap, seed=args.seed, out=args.out)
    where = args.out or rf.path
    if args.json:
        saved = RunFolder(where).artifact(LISTENERS_FILE)
        print(strict_json({**saved, "written_to": str(where), "warning": RANDOM_WEIGHTS_BANNER if rf.random_weights else None}))
        return EXIT_OK
    if rf.random_weights:
        print(f"!! {RANDOM_WEIGHTS_BANNER}")
    for r in reports.values():
        print(r.render(top=args.top))
    print(f"listeners.json written to {where}")
    return EXIT_OK


COMMANDS = {"listeners": cmd_listeners, "datasets import-votes": cmd_import_votes}
