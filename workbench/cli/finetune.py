"""``workbench finetune MANIFEST|RUN --out DIR``: a new head for a corpus's labels, as a checkpoint folder (parser next to its handler)."""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench.analysis.finetune import ADAPT_MODES, LABEL_SETS, VALIDATION_MODES, EncoderTraining, HeadTraining, finetune, fix_card
from workbench.errors import ConfigError
from workbench.files import strict_json
from workbench.paths import shell_command
from workbench.cli.common import (
    run_seed, seed_value, bootstrap_count, DEFAULT_FOLDS, EXIT_OK, FOLD_SCHEMES, add_command, add_out_option, check_out_dir, deprecated, fold_count, model_options,
                                  model_ref_from_args, non_negative_int, positive_int, say_loading, speaker_folds)

#: --unfreeze's own options (flag → EncoderTraining field); refused without --unfreeze, never ignored
ENCODER_OPTIONS = {"adapt": "adapt", "encoder_epochs": "epochs", "encoder_lr": "lr", "head_lr": "head_lr",
                   "encoder_batch_size": "batch_size", "encoder_patience": "patience", "lora_rank": "lora_rank",
                   "lora_alpha": "lora_alpha"}


def _share(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= v < 0.5:
        raise argparse.ArgumentTypeError(f"{v} is not a share in [0, 0.5)")
    return v


class _GivenShare(argparse.Action):
    """Store a share and note that the user gave it: the split refuses a share given, never one left at its default."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        setattr(namespace, "shares_given", [*getattr(namespace, "shares_given", []), option_string])


def add_finetune(sub) -> argparse.ArgumentParser:
    ft = add_command(sub, "finetune",
                     help="train a new head on a run's embeddings for the corpus's own labels; write a checkpoint folder for --model",
                     description="Train a classification head on the utterance embeddings of a run (a MANIFEST is scored first), "
                                 "for the corpus's own classes by readable name (EmoDB: anger, boredom, disgust, fear, happiness, "
                                 "sadness, neutral) or the nine-class mapping, with class-balanced loss and early stopping. Where the "
                                 "manifest's split column has a train and a dev set (MSP-Podcast Train/Development, ESD "
                                 "train/evaluation, EmoBox train/valid) the head trains on train, early-stops on dev and is "
                                 "tested on each test set on its own (--validation auto, the default); with a train and a test "
                                 "set but no dev set (EmoBox folds) it early-stops on a share of the train speakers and is tested "
                                 "on the test set; otherwise on held-out speakers. The folder (config.yaml, model.safetensors, tokens.txt, training_card.json) "
                                 "works with --model everywhere. The training procedure is cross-validated by speaker beside "
                                 "the parent's mapped predictions and the probe.",
                     example=("workbench finetune runs/emodb --out models/emodb-head",
                              "workbench finetune emodb.csv --model tiny --out models/emodb-tiny --labels corpus",
                              "workbench finetune runs/emodb --out models/emodb-lora --unfreeze 2 --adapt lora --device cuda",
                              "workbench run emodb.csv --model models/emodb-head --out runs/emodb-head"))
    ft.add_argument("source", nargs="?", help="run folder written by `workbench run`, or a manifest to score first")
    add_out_option(ft, what="the new checkpoint folder (must not exist, or be empty); required, except with --fix-card", value=None)
    ft.add_argument("--fix-card", default=None, metavar="HEAD",
                    help="instead of training: save HEAD's training_card.json again with the absolute paths it holds from another "
                         "machine (a head fine-tuned before they were written relative to it) replaced by those found near HEAD")
    ft.add_argument("--labels", default="corpus", choices=list(LABEL_SETS),
                    help="corpus: the corpus's own classes by name; nine: the nine emotion2vec+ classes (items without one left out)")
    ft.add_argument("--run-dir", default=None, help="with a MANIFEST: where its scoring run goes (default: <out>-run)")
    ft.add_argument("--variant", default=None, help="the run's variant whose embeddings to train on (default: the first)")
    ft.add_argument("--unfreeze", type=non_negative_int, default=0,
                    help="also adapt the top K transformer blocks (0..the network's blocks: tiny 2, plus_large 24), trained on the "
                         "items' audio as the run scored it, starting from the head; for a GPU (--device)")
    enc = ft.add_argument_group("with --unfreeze K")
    enc.add_argument("--adapt", default=None, choices=list(ADAPT_MODES),
                     help="full: every weight of the K blocks; lora: low-rank adapters (peft), merged into the weights before "
                          "saving (loading needs no peft) (default full)")
    enc.add_argument("--encoder-epochs", type=positive_int, default=None, help=f"most epochs over the audio (default {EncoderTraining.epochs})")
    enc.add_argument("--encoder-lr", type=float, default=None, help="learning rate of the blocks (default 5e-5 full, 5e-4 lora)")
    enc.add_argument("--head-lr", type=float, default=None, help=f"learning rate of the head on the audio (default {EncoderTraining.head_lr})")
    enc.add_argument("--encoder-batch-size", type=positive_int, default=None, help=f"clips per step (default {EncoderTraining.batch_size})")
    enc.add_argument("--encoder-patience", type=positive_int, default=None,
                     help=f"epochs without a better validation UAR before stopping (default {EncoderTraining.patience})")
    enc.add_argument("--lora-rank", type=positive_int, default=None, help=f"LoRA rank (default {EncoderTraining.lora_rank})")
    enc.add_argument("--lora-alpha", type=float, default=None, help=f"LoRA alpha (default {EncoderTraining.lora_alpha:g})")
    ft.add_argument("--epochs", type=positive_int, default=HeadTraining.epochs, help="most epochs")
    ft.add_argument("--lr", type=float, default=HeadTraining.lr, help="AdamW learning rate")
    ft.add_argument("--weight-decay", type=float, default=HeadTraining.weight_decay, help="AdamW weight decay")
    ft.add_argument("--batch-size", type=positive_int, default=HeadTraining.batch_size, help="items per step")
    ft.add_argument("--patience", type=positive_int, default=HeadTraining.patience,
                    help="epochs without a better validation UAR (or, at equal UAR, a 1 %% lower loss) before stopping")
    ft.add_argument("--validation", default="auto", choices=list(VALIDATION_MODES),
                    help="what the saved head early-stops and is tested on. auto (default): the split column's train / dev / "
                         "test sets when it has a train and a dev set (each test set scored on its own, never pooled; items "
                         "whose split is no set, e.g. Session1, left out and counted), or a train and a test set (then a share "
                         "of the train speakers, --validation-speakers, early-stops), else held-out speakers; split: the split "
                         "column, refused without a train set and a dev or test set; speakers: the shares below")
    ft.set_defaults(shares_given=[])
    ft.add_argument("--validation-speakers", type=_share, default=HeadTraining.validation_speakers, action=_GivenShare,
                    help="with --validation speakers: share of the speakers held out for early stopping (of the sessions, where "
                         "sessions are held out whole); with a split of train and test sets and no dev set, the share of the "
                         "train speakers; refused with a split's dev set")
    ft.add_argument("--test-speakers", type=_share, default=HeadTraining.test_speakers, action=_GivenShare,
                    help="with --validation speakers: share of the speakers held out for the test figure on the card (of the "
                         "sessions, where sessions are held out whole); refused with the split")
    ft.add_argument("--seed", type=seed_value, default=None, help="seed of the speaker split, the head's training and the bootstrap "
                    "(default: a run folder's recorded seed, `seed:` of its experiment.yaml, 0 for a run that recorded none; "
                    "0 for a manifest; a seed typed with a run folder is said on stderr)")
    ft.add_argument("--scheme", default="speaker", choices=list(FOLD_SCHEMES),
                    help="fold scheme of the cross-validation of the training procedure: speaker k-fold, IEMOCAP sessions, "
                         "EmoBox folds or the split column; session also holds out whole sessions for the validation and test "
                         "sides (as happens anyway where the speakers of a session share its dialogs)")
    ft.add_argument("--folds", type=fold_count, default=None, help=f"folds of --scheme speaker (default: {DEFAULT_FOLDS}; "
                    "refused with another scheme, which brings its own folds, or with --no-evaluation)")
    deprecated(ft, "--k", new="--folds", dest="folds", type=fold_count)
    ft.add_argument("--no-evaluation", action="store_true", help="skip the cross-validation (the held-out test figure is still given)")
    ft.add_argument("--bootstrap", type=bootstrap_count, default=1000, help="bootstrap resamples for the intervals")
    ft.add_argument("--json", action="store_true", help="print the training card as JSON")
    model_options(ft, dtype="float32")  # the head is trained on exact embeddings
    return ft


def cmd_finetune(args) -> int:
    if args.fix_card is not None:
        if args.source or args.out:
            raise ConfigError("--fix-card rewrites a head's card and trains nothing: it takes no SOURCE or --out.", source="--fix-card",
                              fix=f"run {shell_command('workbench', 'finetune', '--fix-card', args.fix_card)} on its own.")
        print("\n".join(fix_card(args.fix_card)))
        return EXIT_OK
    if not args.source or not args.out:
        raise ConfigError(f"training a head needs {'SOURCE and ' if not args.source else ''}--out DIR.", source="finetune",
                          fix="pass a run folder (or a manifest) and --out DIR, e.g. `workbench finetune runs/emodb --out models/emodb-head`.")
    k = speaker_folds(args, cross_validates=not args.no_evaluation)
    out = check_out_dir(args.out)
    run_seed(args, args.source)  # a manifest (no run folder) has no recorded seed: 0
    config = HeadTraining(epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay, batch_size=args.batch_size,
                          patience=args.patience, seed=args.seed, validation_speakers=args.validation_speakers,
                          test_speakers=args.test_speakers)
    is_manifest = Path(args.source).is_file()
    model = model_ref_from_args(args) if is_manifest else None
    if not is_manifest and args.model is not None:
        model = args.model  # refused by finetune(): a run folder was scored by its own model
    result = finetune(args.source, out, model=model, labels=args.labels, config=config, variant=args.variant, run_dir=args.run_dir,
                      validation=args.validation, speaker_options=list(dict.fromkeys(args.shares_given)),
                      unfreeze=args.unfreeze, adapt=args.adapt, encoder=_encoder_config(args), device=args.device,
                      evaluate=not args.no_evaluation, folds=args.scheme, k=k, n_boot=args.bootstrap,
                      progress=not args.json, load_progress=say_loading)
    print(strict_json(result.card) if args.json else result.render())
    if not args.json:
        print("\n".join(finetune_next_steps(result)))
    return EXIT_OK


def finetune_next_steps(result) -> list[str]:
    """What to run with the new head: score the manifest with it, its metrics, and the parent's run against it (the
    README's flow; "use it with --model DIR" named the option and no command)."""
    out, run_dir = Path(result.out), Path(result.run_dir)
    # a folder beside the run that is neither the head's nor the parent's run: finetune MANIFEST --out models/h scores into
    # models/h-run, and the line said `run … --out models/h-run` (refused: a run with other settings) and `compare X X`
    taken = {out.resolve(), run_dir.resolve()}
    names = [out.name, f"{out.name}-run", *(f"{out.name}-scored{f'-{k}' if k else ''}" for k in range(100))]
    scored = next((c for c in (run_dir.with_name(n) for n in names) if c.resolve() not in taken and not (c.exists() and any(c.iterdir()))),
                  run_dir.with_name(f"{out.name}-scored"))
    manifest = (result.card.get("data") or {}).get("manifest") or "MANIFEST"
    if Path(manifest).is_absolute() and Path(manifest).is_relative_to(Path.cwd()):  # as typed here: `demo4.csv`, not /home/…/demo4.csv
        manifest = str(Path(manifest).relative_to(Path.cwd()))
    return ["next:",
            f"  {shell_command('workbench', 'run', manifest, '--model', out, '--out', scored)}   # the manifest scored by the "
            "head: one score column per class of it",
            f"  {shell_command('workbench', 'metrics', scored)}   # speakers that trained or early-stopped the head are named",
            f"  {shell_command('workbench', 'compare', run_dir, scored)}   # the parent's run against the head's: each "
            "against its own truth, recall per class before and after"]


def _encoder_config(args) -> EncoderTraining | None:
    """--unfreeze's options as an EncoderTraining; one given without --unfreeze is refused (it would change nothing)."""
    given = {field: getattr(args, flag) for flag, field in ENCODER_OPTIONS.items() if getattr(args, flag) is not None}
    if not args.unfreeze:
        if given:
            flags = ", ".join("--" + flag.replace("_", "-") for flag in ENCODER_OPTIONS if getattr(args, flag) is not None)
            raise ConfigError(f"{flags} apply to the encoder blocks, and --unfreeze is 0 (head only).", source=flags.split(",")[0],
                              fix="pass --unfreeze K to adapt the top K blocks, or leave those options out.")
        return None
    given.pop("adapt", None)  # passed on its own
    return EncoderTraining(unfreeze=args.unfreeze, adapt=args.adapt or "full", **given)


COMMANDS = {"finetune": cmd_finetune}
