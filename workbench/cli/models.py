"""``workbench model make-tiny``, ``model info`` and ``model export-onnx``: make, inspect or export checkpoints."""

from __future__ import annotations

from pathlib import Path

from workbench.errors import ConfigError
from workbench.files import strict_json

from workbench.model.checkpoints import build_random_checkpoint, random_checkpoint_info
from workbench.model.generated import RANDOM_MARKER
from workbench.cli import onnx
from workbench.cli.common import seed_value, model_ref_from_args, EXIT_OK, add_command, model_options


def add_model(sub) -> None:
    m = add_command(sub, "model", help="make or inspect checkpoints",
             example=("workbench model make-tiny /tmp/tiny", "workbench model info --model /tmp/tiny"))
    msub = m.add_subparsers(dest="model_command", required=True, metavar="ACTION", help="make-tiny, info or export-onnx")
    mt = add_command(msub, "make-tiny", help="write a seeded random emotion2vec+ checkpoint (predictions mean nothing)",
              example=("workbench model make-tiny /tmp/tiny --seed 1 --arch tiny",))
    mt.add_argument("dir", help="folder to write config.yaml, model.pt and tokens.txt into")
    mt.add_argument("--seed", type=seed_value, default=0, help="random seed of the weights")
    mt.add_argument("--arch", default="tiny", choices=["tiny", "base", "large"], help="architecture size (weights stay random)")
    mi = add_command(msub, "info", help="load a model and print what is loaded",
              example=("workbench model info --model ~/models/emotion2vec_plus_large --json",))
    model_options(mi, dtype="float32")  # describes the checkpoint as it is
    mi.add_argument("--json", action="store_true", help="print JSON instead of a table")
    onnx.add_export_onnx(msub)


#: what `model make-tiny` writes: a folder holding only these (and the marker) is a random checkpoint it may write again
_TINY_FILES = {"config.yaml", "model.pt", "tokens.txt"}


def cmd_make_tiny(args) -> int:
    out = Path(args.dir)
    if out.exists():
        names = {p.name for p in out.iterdir()} if out.is_dir() else None
        # a fine-tuned head, a downloaded checkpoint or a run folder is never written over (a run's config.yaml would
        # become a model's, a checkpoint a hybrid of two); an earlier random checkpoint may be made again
        if names is None or (names and not (RANDOM_MARKER in names and names <= _TINY_FILES | {RANDOM_MARKER})):
            raise ConfigError("exists and is not an empty folder; a random checkpoint is never written over other files.",
                              source=str(out), fix="choose a new folder (it is created), or an empty one.")
    path = build_random_checkpoint(args.dir, arch=args.arch, seed=args.seed)
    info = random_checkpoint_info(path)
    print(f"wrote a random {args.arch} emotion2vec+ checkpoint ({info['parameters']:,} parameters, seed {args.seed}) to {path}")
    print("load it with --model", path, " — its predictions mean nothing.")
    return EXIT_OK


def cmd_model_info(args) -> int:
    net = model_ref_from_args(args).load()
    info = net.info.to_dict()
    if args.json:
        print(strict_json(info))
        return EXIT_OK
    if info.get("warning"):
        print(f"!! {info['warning']}")
    for key in ("id", "kind", "hub", "revision", "path", "parameters", "embed_dim", "checksum", "device", "dtype", "temperature",
                "funasr_version", "load_seconds"):
        value = info[key]
        if key == "parameters":
            value = f"{value:,}"
        if key == "load_seconds":
            value = f"{value:.2f}"
        if value is None:  # the screen said "hub: None", Python's word for a field that does not apply
            value = "— (the checkpoint's own scores)" if key == "temperature" else "—"
        print(f"{key:>15}: {value}")
    print(f"{'labels':>15}: {', '.join(info['labels'])}")
    return EXIT_OK


COMMANDS = {"model make-tiny": cmd_make_tiny, "model info": cmd_model_info, "model export-onnx": onnx.cmd_export_onnx}
