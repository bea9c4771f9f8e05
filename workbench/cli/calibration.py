"""`workbench calibrate RUN` and the `--temperature T|RUN` model option (parser next to its handler)."""

from __future__ import annotations

import argparse

from workbench.analysis.calibration import calibrate_run
from workbench.errors import ConfigError
from workbench.model.network import RANDOM_WEIGHTS_BANNER
from workbench.runs.folder import as_run_folder

from workbench.cli.common import EXIT_OK, add_command


def add_calibrate(sub) -> argparse.ArgumentParser:
    """``workbench calibrate RUN``."""
    cb = add_command(sub, "calibrate",
             help="temperature scaling, ECE/MCE/Brier/NLL, risk-coverage and conformal sets of a run, cross-validated by speaker",
             example=("workbench calibrate runs/emodb --by speaker --alpha 0.1",
                      "workbench run more.csv --out runs/more --temperature runs/emodb"))
    cb.add_argument("run_dir", help="run folder written by `workbench run` (labelled items)")
    cb.add_argument("--by", default="speaker",
                    help="column whose values never straddle calibration and evaluation folds; 'none' for shuffled folds")
    cb.add_argument("--alpha", type=float, default=0.1, help="miscoverage of the conformal sets (0.1: 90 %% sets)")
    cb.add_argument("--folds", type=int, default=5, help="cross-validation folds (fewer when there are fewer speakers)")
    cb.add_argument("--variant", default=None, help="calibrate only this variant (default: every variant; the first one's T is saved)")
    cb.add_argument("--all-classes", action="store_true",
                    help="calibrate over all nine model classes instead of the corpus's classes")
    cb.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the intervals")
    cb.add_argument("--seed", type=int, default=0, help="random seed (shuffled folds, bootstrap, APS)")
    cb.add_argument("--no-figures", action="store_true", help="skip the calibration figures")
    return cb


def cmd_calibrate(args) -> int:
    if not 0 < args.alpha < 1:
        raise ConfigError(f"--alpha is {args.alpha}; it must lie strictly between 0 and 1.", source="--alpha", fix="pass --alpha 0.1 for 90 % sets.")
    if args.folds < 2 or args.bootstrap < 1:
        raise ConfigError(f"--folds {args.folds} / --bootstrap {args.bootstrap}: need at least 2 folds and 1 resample.",
                          source="calibrate", fix="pass --folds 5 --bootstrap 1000.")
    rf = as_run_folder(args.run_dir)
    by = None if str(args.by).lower() == "none" else args.by
    reports = calibrate_run(rf, variant=args.variant, by=by, folds=args.folds, alpha=args.alpha, restrict=not args.all_classes,
                            n_boot=args.bootstrap, seed=args.seed, figures=not args.no_figures)
    if rf.random_weights:
        print(f"!! {RANDOM_WEIGHTS_BANNER}")
    for r in reports.values():
        print(r.render())
    first = next(iter(reports.values()))
    written = f"calibration.json{'' if args.no_figures else ' and figures'} written to {args.run_dir}"
    if first.recommended:
        print(f"{written}; apply T = {first.temperature:.3f} with --temperature {args.run_dir}")
    else:
        # a temperature that failed its checks is never offered (and `--temperature RUN` refuses it)
        print(f"{written}; !! no temperature recommended for variant {first.variant}: T = {first.temperature:.3f} failed its checks (above)")
    return EXIT_OK


COMMANDS = {"calibrate": cmd_calibrate}
