"""``workbench manifest`` and ``datasets …`` (``prepare``, the imports and ``export-lhotse``): manifests in, predictions out."""

from __future__ import annotations

import contextlib
import logging
import sys
from pathlib import Path
from typing import Iterator, Sequence

from workbench.data.corpora import PREPARERS, import_emobox, prepare, prepare_folder
from workbench.data.demoset import choose_model
from workbench.model.hub import DEFAULT_MODEL
from workbench.data.hf import import_hf
from workbench.data.lhotse_io import import_lhotse
from workbench.runs.lhotse_export import export_lhotse
from workbench.data.manifest import Manifest, read_manifest, rebased, write_manifest
from workbench.cli import listeners
from workbench.paths import shell_command
from workbench.cli.common import (EXIT_FAILED_ITEMS, EXIT_OK, RUN_FOLDER_DEFAULT, add_command, add_out_option, add_overwrite_option,
                                  check_out_file, random_banner_for)



#: what --map's absence does, said in its help (it hid the default)
NO_MAP = " (default: none: a label that is a common emotion name or abbreviation, such as anger, joy or hap, gets its emotion2vec+ class; any other keeps an empty emotion)"

def add_manifest(sub) -> None:
    mf = add_command(sub, "manifest", help="write a manifest (id, path[, label]) for a folder of audio files",
              description="Write a manifest for every audio file under FOLDER (subfolders included). Paths are "
                          "stored relative to the manifest's folder; ids are the file names without extension.",
              example=("workbench manifest my_wavs/ -o my_wavs.csv --label-from-folder",
                       "workbench run my_wavs.csv --model tiny --out runs/my_wavs"))
    mf.add_argument("folder", help="folder holding the audio files")
    add_out_option(mf, what="the manifest to write (.csv, .jsonl or .parquet)", file=True, required=True, short=True)
    add_overwrite_option(mf)
    mf.add_argument("--speaker-pattern", default=None, metavar="REGEX",
                    help="set speaker from each file's path (relative to FOLDER) with a regular expression of one group: "
                         "'^(spk\\d+)/' for speaker folders, '^([^_]+)_' for f1_angry_03.wav (default: no speaker)")
    mf.add_argument("--label-from-folder", action="store_true",
                    help="set label to each file's parent folder name (angry/a1.wav → angry) and emotion to its "
                         "emotion2vec+ key when the name is a common English emotion word")


def add_datasets(sub) -> None:
    ds = add_command(sub, "datasets", help="prepare manifests from corpora",
              example=("workbench datasets prepare emodb /data/emodb --out datasets/emodb.csv",
                       "workbench datasets import-emobox data/iemocap/*.jsonl --root /data --out datasets/iemocap.csv"))
    dsub = ds.add_subparsers(dest="datasets_command", required=True, metavar="ACTION",
                             help="prepare, import-emobox, import-hf, import-lhotse, import-votes or export-lhotse")
    dp = add_command(dsub, "prepare", help="write a manifest for a corpus folder as distributed",
              example=("workbench datasets prepare ravdess /data/RAVDESS --out datasets/ravdess.csv",
                       "workbench datasets prepare ravdess /data/RAVDESS --channel song --out datasets/ravdess_song.csv"))
    dp.add_argument("corpus", help=", ".join(PREPARERS))
    dp.add_argument("corpus_dir", help="the folder the corpus was unpacked into")
    dp.add_argument("--channel", choices=("speech", "song", "both"), default=None,
                    help="RAVDESS only: the vocal channel(s) to keep (default: speech; song is a different task, "
                         "without disgust or surprised)")
    dp.add_argument("--classes", choices=("all", "four"), default=None,
                    help="IEMOCAP only: all (default: every category with a counterpart among the nine) or four (the "
                         "4-class protocol: neutral, happy = happiness + excited, sad, angry; other turns get no emotion)")
    add_out_option(dp, what="the manifest to write (.csv, .jsonl or .parquet)", file=True, required=True)
    add_overwrite_option(dp)
    de = add_command(dsub, "import-emobox", help="read EmoBox metadata / fold files into a manifest",
              example=("workbench datasets import-emobox EmoBox/data/iemocap/fold_1/*.jsonl --root /data --out iemocap.csv",))
    de.add_argument("jsonl", nargs="+", help="EmoBox .jsonl metadata or fold files")
    de.add_argument("--root", required=True, help="folder the 'wav' paths are relative to")
    de.add_argument("--label-map", default=None, help="JSON {emobox label: emotion} overriding the built-in tables (default: none)")
    add_out_option(de, what="the manifest to write (.csv, .jsonl or .parquet)", file=True, required=True)
    add_overwrite_option(de)
    dh = add_command(dsub, "import-hf", help="a Hugging Face dataset (save_to_disk folder, audiofolder or hub id) into a manifest",
              example=("workbench datasets import-hf data/my_hf_dataset --out manifests/my.csv --map ravdess",))
    dh.add_argument("source", help="save_to_disk folder, audiofolder, or hub id (user/name)")
    add_out_option(dh, what="the manifest to write (.csv, .jsonl or .parquet); audio bytes go to <out stem>_audio/ beside it", file=True, required=True)
    dh.add_argument("--split", default=None, help="one split (default: all, each item keeping its split)")
    dh.add_argument("--label-column", default=None, help="column holding the label (default: emotion, label, labels … whichever the dataset has)")
    dh.add_argument("--map", default=None, help="label map: a corpus table (ravdess, emodb …), a JSON file {label: emotion}, or 'hap=happy,exc=happy'"
                    + NO_MAP)
    dh.add_argument("--audio-column", default=None, help="column of the Audio feature (default: the dataset's Audio column)")
    dh.add_argument("--id-column", default=None, help="column to take item ids from (default: the dataset's id column, else row numbers)")
    dh.add_argument("--revision", default=None, help="hub revision (default: the hub's latest)")
    dl = add_command(dsub, "import-lhotse", help="a lhotse RecordingSet (+ SupervisionSet) or CutSet into a manifest",
              example=("workbench datasets import-lhotse --recordings rec.jsonl.gz --supervisions sup.jsonl.gz --out m.csv",))
    dl.add_argument("--recordings", default=None, help="RecordingSet manifest (.jsonl.gz, .jsonl, .json)")
    dl.add_argument("--supervisions", default=None, help="SupervisionSet manifest: one item per supervision segment")
    dl.add_argument("--cuts", default=None, help="CutSet manifest (instead of --recordings)")
    dl.add_argument("--emotion-field", default="emotion", help="supervision custom field holding the label")
    dl.add_argument("--map", default=None, help="label map: a corpus table (iemocap …), a JSON file, or 'hap=happy,exc=happy'" + NO_MAP)
    add_out_option(dl, what="the manifest to write (.csv, .jsonl or .parquet)", file=True, required=True)
    listeners.add_import_votes(dsub)
    _export_lhotse_args(add_command(dsub, "export-lhotse", help=EXPORT_LHOTSE_HELP,
                                    example=("workbench datasets export-lhotse runs/iemocap --variant raw --out iemocap_emotions.jsonl.gz",)))


EXPORT_LHOTSE_HELP = "a run's predictions as a lhotse SupervisionSet (JSONL.gz) for k2/icefall-style pipelines"


def _export_lhotse_args(xl) -> None:
    xl.add_argument("run_dir", help="run folder written by `workbench run`")
    xl.add_argument("--variant", default=None, help="variant to export (default: raw, else the run's first variant)")
    add_out_option(xl, what="the SupervisionSet (.jsonl.gz)", file=True, default=f"{RUN_FOLDER_DEFAULT}: RUN_DIR/supervisions.jsonl.gz")


def add_export_lhotse(sub) -> None:
    """The top-level ``export-lhotse``: the old spelling of ``datasets export-lhotse``, kept for one release (it warns)."""
    _export_lhotse_args(add_command(sub, "export-lhotse", help="deprecated: use `workbench datasets export-lhotse` (same options)",
                                    example=("workbench datasets export-lhotse runs/iemocap --variant raw --out iemocap_emotions.jsonl.gz",)))


@contextlib.contextmanager
def _warnings_said() -> Iterator[list[str]]:
    """The workbench's warnings logged (so shown on the screen) inside the block: a corpus reader logs a note as it
    adds it to ``Manifest.notes``, which the summary printed again ('warning: iemocap: … left out' then 'note: … left out')."""
    said: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("workbench").addHandler(handler)
    try:
        yield said
    finally:
        logging.getLogger("workbench").removeHandler(handler)


def _print_manifest_summary(m: Manifest, out: Path, said: Sequence[str] = ()) -> None:
    for note in m.notes:
        if not any(line.endswith(note) for line in said):  # already on the screen as a warning
            print(f"note: {note}", file=sys.stderr)
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
    _print_next_run(Path(res.path))
    return 0


def cmd_import_lhotse(args) -> int:
    res = import_lhotse(recordings=args.recordings, supervisions=args.supervisions, cuts=args.cuts, out=args.out,
                        emotion_field=args.emotion_field, label_map=args.map)
    print(f"wrote {args.out}: {res.summary()}")
    _print_next_run(Path(args.out))
    return 0


def cmd_export_lhotse(args) -> int:
    if args.command == "export-lhotse":  # the old top-level spelling
        print("warning: `workbench export-lhotse` is deprecated and goes in the next release; use `workbench datasets export-lhotse`",
              file=sys.stderr)
    exp = export_lhotse(args.run_dir, args.out, variant=args.variant)
    random_banner_for(args.run_dir)
    print(f"wrote {exp.path}: {exp.written} supervisions of variant {exp.variant} ({exp.failed} failed rows left out)")
    return 0


def cmd_datasets(args) -> int:
    if args.datasets_command == "import-hf":
        return cmd_import_hf(args)
    if args.datasets_command == "import-lhotse":
        return cmd_import_lhotse(args)
    check_out_file(args.out, overwrite=args.overwrite)
    with _warnings_said() as said:
        if args.datasets_command == "prepare":
            m = prepare(args.corpus, args.corpus_dir, channel=args.channel, classes=args.classes)
        else:
            m = import_emobox(args.jsonl, root=args.root, label_map=args.label_map)
    report = m.validate()
    out = Path(args.out)
    write_manifest(m, out)  # relative to where the manifest lives (write_manifest rebases them)
    _print_manifest_summary(m, out, said)
    if not report.ok:  # its run would fail on what the fix names: no next line before it is fixed
        print(f"warning: {out} is not valid yet: {report.summary()}", file=sys.stderr)
        print(f"  fix: {report.fixes()}", file=sys.stderr)
        return EXIT_FAILED_ITEMS
    _print_next_run(out)  # `manifest` said what to run next, `datasets prepare` did not
    return EXIT_OK


def cmd_manifest(args) -> int:
    check_out_file(args.out, overwrite=args.overwrite)
    with _warnings_said() as said:
        m = prepare_folder(args.folder, label_from_folder=args.label_from_folder, speaker_pattern=args.speaker_pattern)
    m.validate().raise_for_errors(str(args.folder))
    out = Path(args.out).expanduser()
    m = rebased(m, out.absolute().parent)  # relative to where the manifest lives, so the pair can move together
    write_manifest(m, out)
    read_manifest(out)  # what `workbench run` will read: checked once more
    _print_manifest_summary(m, out, said)
    _print_next_run(out)
    return EXIT_OK


def _print_next_run(out: Path) -> None:
    """The ``next:`` line under a manifest written (``manifest``, ``datasets prepare``/``import-*``): the
    run of it, with the model to add where the default one is not cached here."""
    print("next: " + shell_command("workbench", "run", out, "--out", f"runs/{out.stem}"))
    model, _ = choose_model()  # what `workbench demo` would use: the run's default model is a download
    if model != DEFAULT_MODEL:  # offline, the line above ended in "… cannot be reached" (the README's hint was not here)
        print("  (" + ("no emotion2vec+ checkpoint is cached here: add --model tiny to try it with random weights (its "
                       "predictions mean nothing), or --model DIR for a downloaded checkpoint" if model == "tiny" else
                       f"the default model is not cached here: add --model {shell_command(model)} (your $WORKBENCH_MODEL)") + ")")


COMMANDS = {"manifest": cmd_manifest, "datasets prepare": cmd_datasets, "datasets import-emobox": cmd_datasets,
            "datasets import-hf": cmd_import_hf, "datasets import-lhotse": cmd_import_lhotse,
            "datasets export-lhotse": cmd_export_lhotse, "export-lhotse": cmd_export_lhotse}
