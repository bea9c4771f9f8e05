"""`workbench calibrate RUN` and the `--temperature T|RUN` model option (parser next to its handler)."""

from __future__ import annotations

import argparse

from workbench.analysis.calibration import calibrate_run
from workbench.errors import ConfigError
from workbench.files import strict_json
from workbench.data.cards import random_weights_banner
from workbench.paths import shell_command
from workbench.runs.folder import as_run_folder

from workbench.cli.common import (
    add_run_seed_option, run_seed, bootstrap_count, EXIT_OK, RUN_FOLDER_DEFAULT, add_command, add_json_option, add_out_option, check_out_dir, deprecated,
    fold_count)


def add_calibrate(sub) -> argparse.ArgumentParser:
    """``workbench calibrate RUN``."""
    cb = add_command(sub, "calibrate",
             help="temperature scaling, ECE/MCE/Brier/NLL, risk-coverage and conformal sets of a run, cross-validated by speaker",
             example=("workbench calibrate runs/emodb --scheme speaker --alpha 0.1",
                      "workbench run more.csv --out runs/more --temperature runs/emodb"))
    cb.add_argument("run_dir", help="run folder written by `workbench run` (labelled items)")
    cb.add_argument("--scheme", default="speaker", metavar="COLUMN|none",
                    help="the fold scheme: folds grouped by this column, whose values never straddle calibration and evaluation "
                         "folds (speaker), or 'none' for shuffled folds")
    deprecated(cb, "--by", new="--scheme", dest="scheme")
    cb.add_argument("--alpha", type=float, default=0.1, help="miscoverage of the conformal sets (0.1: 90 %% sets)")
    cb.add_argument("--folds", type=fold_count, default=5, help="cross-validation folds (fewer when there are fewer speakers)")
    cb.add_argument("--variant", default=None, help="calibrate only this variant (default: every variant; the first one's T is saved)")
    cb.add_argument("--all-classes", action="store_true",
                    help="calibrate over all the model's classes (nine for the stock model) instead of the corpus's classes")
    cb.add_argument("--bootstrap", type=bootstrap_count, default=1000, help="bootstrap resamples for the intervals")
    add_run_seed_option(cb, "the shuffled folds, the bootstrap and APS")
    cb.add_argument("--no-figures", action="store_true", help="skip the calibration figures")
    add_out_option(cb, what="calibration.json and the figures (a folder --temperature can then name)", default=RUN_FOLDER_DEFAULT)
    add_json_option(cb, "calibration.json")
    return cb


def cmd_calibrate(args) -> int:
    if not 0 < args.alpha < 1:
        raise ConfigError(f"--alpha is {args.alpha}; it must lie strictly between 0 and 1.", source="--alpha", fix="pass --alpha 0.1 for 90 % sets.")
    if args.out is not None:
        check_out_dir(args.out)
    rf = as_run_folder(args.run_dir)
    run_seed(args, args.run_dir)
    scheme = None if str(args.scheme).lower() == "none" else args.scheme
    reports = calibrate_run(rf, variant=args.variant, by=scheme, folds=args.folds, alpha=args.alpha, restrict=not args.all_classes,
                            n_boot=args.bootstrap, seed=args.seed, figures=not args.no_figures, out=args.out)
    where = args.out or args.run_dir
    first = next(iter(reports.values()))
    if args.json:
        print(strict_json({"run": str(args.run_dir), "written_to": str(where), "warning": random_weights_banner(rf.model_ref) if rf.random_weights else None,
                           "recommended": first.recommended, "temperature": first.temperature if first.recommended else None,
                           "temperature_fitted": first.temperature, "variants": {v: r.to_dict() for v, r in reports.items()}}))
        return EXIT_OK
    if rf.random_weights:
        print(f"!! {random_weights_banner(rf.model_ref)}")
    for r in reports.values():
        print(r.render())
    written = f"calibration.json{'' if args.no_figures else ' and figures'} written to {where}"
    if first.recommended:
        print(f"{written}; apply T = {first.temperature:.3f} with " + shell_command("--temperature", where))
    else:
        # a temperature that failed its checks is never offered (and `--temperature RUN` refuses it)
        print(f"{written}; !! no temperature recommended for variant {first.variant}: T = {first.temperature:.3f} failed its checks (above)")
    return EXIT_OK


COMMANDS = {"calibrate": cmd_calibrate}
