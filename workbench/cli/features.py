"""`workbench features RUN`: the voice's measurable cues for every scored row of a run.

Measures the audio each row was scored on (Praat cues, eGeMAPS functionals, or both), stores
the table in the run folder (``features_<set>.parquet``, through :class:`~workbench.runs.folder.RunFolder`),
and prints which cues differ between the predicted classes or, with ``--by emotion``, the
manifest's emotions (Cliff's delta with bootstrap intervals) and, with ``--probe``, how well the run's embeddings predict each cue (ridge, R²
under speaker-grouped cross-validation).  ``--csv DIR`` also writes both tables as CSV there.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from workbench import files
from workbench.errors import ConfigError
from workbench.analysis.fusion import embedded_rows
from workbench.model.network import RANDOM_WEIGHTS_BANNER
from workbench.runs.folder import RunFolder
from workbench.explain.cues import cue_differences, cue_probe, run_features, run_lld
from workbench.explain.voice import FEATURE_SETS
from workbench.cli.common import add_command
from workbench.limits import spreadsheet_safe

#: the cues printed when the set is eGeMAPS (all 88 are stored)
SHOWN = 15


def add_features(sub) -> argparse.ArgumentParser:
    """``workbench features RUN``."""
    p = add_command(sub, "features", help="the voice's cues (Praat F0/intensity/HNR/jitter/shimmer, eGeMAPS) for every row of a run",
            example=("workbench features runs/emodb --set praat",
                     "workbench features runs/emodb --set egemaps --probe --csv runs/emodb_cues"))
    p.add_argument("run_dir", help="run folder written by `workbench run`")
    p.add_argument("--set", dest="feature_set", default="praat", choices=list(FEATURE_SETS),
                   help="praat (13 cues), egemaps (88 functionals) or all")
    p.add_argument("--variant", default=None, help="only this variant's rows (default: all; the probe uses the first)")
    p.add_argument("--lld", action="store_true", help="also store eGeMAPS' 25 low-level descriptors per 10 ms frame (features_egemaps_lld.parquet)")
    p.add_argument("--by", default="pred", choices=["pred", "emotion"],
                   help="group the cue differences by the predicted label or by the manifest's emotion")
    p.add_argument("--probe", action="store_true", help="also predict each cue from the run's embeddings (ridge, speaker-grouped CV)")
    p.add_argument("--folds", type=int, default=5, help="cross-validation folds of the probe (grouped by speaker)")
    p.add_argument("--bootstrap", type=int, default=999, help="bootstrap resamples of the intervals")
    p.add_argument("--seed", type=int, default=0, help="random seed of the bootstrap")
    p.add_argument("--csv", default=None, help="folder that receives cue_differences.csv (and cue_probe.csv)")
    return p


def cmd_features(args) -> int:
    for name, value, low in (("--folds", args.folds, 2), ("--bootstrap", args.bootstrap, 10)):
        if value < low:
            raise ConfigError(f"{name} {value} is under {low}.", fix=f"give {name} {low} or more.")
    rf = RunFolder.open(args.run_dir)
    if rf.random_weights:
        print(f"!! {RANDOM_WEIGHTS_BANNER} (the cues are measured on the audio and are real; the predicted classes and the "
              "embeddings the probe reads are not)")
    table = run_features(rf, feature_set=args.feature_set, variant=args.variant)
    with rf.lock():
        path = rf.write_voice_features(table, args.feature_set)
    if args.lld:
        lld = run_lld(rf, variant=args.variant)
        with rf.lock():
            lld_path = rf.write_voice_features(lld, "egemaps_lld")
        print(f"{len(lld)} frames of eGeMAPS descriptors ({lld['id'].nunique() if len(lld) else 0} rows) written to {lld_path}")
    failed = table[table["feature_error"] != ""] if len(table) else table
    print(f"{len(table) - len(failed)} rows measured, {len(failed)} failed; written to {path}")
    for _, row in failed.head(5).iterrows():
        print(f"  {row['id']} [{row['variant']}]: {row['feature_error']}")
    measured = table[table["feature_error"] == ""] if len(table) else table
    if measured.empty:
        return 1
    what = "predicted classes" if args.by == "pred" else "the manifest's emotions"
    groups = sorted(set(measured[args.by].fillna("").astype(str)) - {""})
    diffs = cue_differences(measured, label_column=args.by, n_boot=args.bootstrap, seed=args.seed)
    if len(groups) < 2:
        print(f"\nno cue differences: the measured rows have {len(groups)} of {what} ({', '.join(groups) or 'none'}); "
              "there is nothing to compare" + (" (try --by emotion)" if args.by == "pred" else "") + ".")
    else:
        shown = diffs.dropna(subset=["delta"]).head(SHOWN)
        if shown.empty:  # never a bare empty table
            print(f"\nno cue differs measurably between {what}: too few rows per class for an interval "
                  "(each class needs several scored rows).")
        else:
            print(f"\ncues that differ between {what} (Cliff's delta, class vs rest, 95 % bootstrap interval):")
            print(shown.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    out = None
    if args.csv:
        out = Path(args.csv)
        out.mkdir(parents=True, exist_ok=True)
        files.write_atomic(out / "cue_differences.csv", lambda f: spreadsheet_safe(diffs).to_csv(f, index=False), text=True)
    if args.probe:
        rows, emb = embedded_rows(rf, variant=args.variant)
        feats = measured[measured["variant"] == str(rows["variant"].iloc[0])] if len(rows) else measured
        joined = rows[["id", "speaker"]].merge(feats.drop(columns=["speaker"]), on="id", how="inner")
        keep = rows["id"].isin(joined["id"]).to_numpy()
        speakers = joined["speaker"].fillna("").astype(str).to_numpy()
        has = speakers != ""  # a row without a speaker cannot be kept off the other side of a fold: left out
        if len(set(speakers[has])) < 2:
            raise ConfigError(f"the probe needs rows of at least two speakers; found {len(set(speakers[has]))}.",
                              source=str(rf.path), fix="add speakers to the manifest, or run without --probe.")
        if (~has).any():
            print(f"\nprobe: {int((~has).sum())} row(s) without a speaker left out")
        probe = cue_probe(emb[keep][has], joined[has].reset_index(drop=True), speakers[has], folds=args.folds,
                          n_boot=args.bootstrap, seed=args.seed)
        print("\nhow well the embeddings predict each cue (ridge, out-of-fold R² grouped by speaker, 95 % bootstrap interval):")
        print(probe.sort_values("r2", ascending=False).head(SHOWN).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        if out is not None:
            files.write_atomic(out / "cue_probe.csv", lambda f: spreadsheet_safe(probe).to_csv(f, index=False), text=True)
    return 0


COMMANDS = {"features": cmd_features}
