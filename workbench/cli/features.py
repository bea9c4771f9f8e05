"""`workbench features RUN`: the voice's measurable cues for every scored row of a run.

Measures the audio each row was scored on (Praat cues, eGeMAPS functionals, or both), stores
the table in the run folder (``features_<set>.parquet``, through :class:`~workbench.runs.folder.RunFolder`),
and prints which cues differ between the predicted classes or, with ``--by emotion``, the
manifest's emotions (Cliff's delta with bootstrap intervals) and, with ``--probe``, how well the run's embeddings predict each cue (ridge, R²
under speaker-grouped cross-validation).  ``--out DIR`` also writes both tables as CSV there.

Every output says the rate the cues were measured at (the audio's own rate by default,
``--rate model`` for the model's 16 kHz input) and how much digital silence was left out
(per row in the table, per run on screen and in ``--json``).  A class that is too small by the
one rule of :mod:`workbench.analysis.groups` is listed as such, never ranked as a difference.
"""

from __future__ import annotations

import argparse

from workbench.errors import ConfigError, printable_table
from workbench.analysis.fusion import embedded_rows, fold_plan
from workbench.model.network import RANDOM_WEIGHTS_BANNER
from workbench.files import strict_json
from workbench.runs.folder import as_run_folder
from workbench.analysis.metrics import output_folder
from workbench.runs.writer import RunWriter
from workbench.explain.cues import (FDR, RATES, cue_differences, cue_probe, differing, excluded_summary, reportable_differences, run_features,
                                    run_lld, few_voiced_words, unvoiced_summary, unvoiced_words, write_voice_features)
from workbench.explain.voice import FEATURE_SETS
from workbench.cli.common import add_run_seed_option, run_seed, bootstrap_count, add_command, add_json_option, add_out_option, check_out_dir, deprecated, fold_count
from workbench.serialize import spreadsheet_safe
from workbench.schema import text_values

#: the cues printed when the set is eGeMAPS (all 88 are stored)
SHOWN = 15
#: where the rows a table on the screen leaves out are
_ALL = "; --json or --out DIR for all"


def add_features(sub) -> argparse.ArgumentParser:
    """``workbench features RUN``."""
    p = add_command(sub, "features", help="the voice's cues (Praat F0/intensity/HNR/jitter/shimmer, eGeMAPS) for every row of a run",
            example=("workbench features runs/emodb --set praat",
                     "workbench features runs/emodb --set egemaps --probe --out runs/emodb_cues"))
    p.add_argument("run_dir", help="run folder written by `workbench run`")
    p.add_argument("--set", dest="feature_set", default="praat", choices=list(FEATURE_SETS),
                   help="praat (13 cues), egemaps (88 functionals) or all")
    p.add_argument("--variant", default=None, help="only this variant's rows (default: all; the probe uses the first)")
    p.add_argument("--rate", default="source", choices=list(RATES),
                   help="measure at the audio's own rate before the model's resampling (source, default) or on the 16 kHz model input")
    p.add_argument("--lld", action="store_true", help="also store eGeMAPS' 25 low-level descriptors per 10 ms frame (features_egemaps_lld.parquet)")
    p.add_argument("--by", default="pred", choices=["pred", "emotion"],
                   help="group the cue differences by the predicted label or by the manifest's emotion")
    p.add_argument("--probe", action="store_true", help="also predict each cue from the run's embeddings (ridge, speaker-grouped CV)")
    p.add_argument("--folds", type=fold_count, default=5,
                   help="cross-validation folds of the probe (grouped by speaker: at most one per speaker; the folds used are printed)")
    p.add_argument("--bootstrap", type=bootstrap_count, default=999, help="bootstrap resamples of the intervals (10 or more)")
    add_run_seed_option(p, "the bootstrap")
    add_out_option(p, what="cue_differences.csv (and cue_probe.csv) as CSV; the feature table itself always goes into the run "
                   "folder (features_<set>.parquet)", default="no CSV")
    deprecated(p, "--csv", new="--out", dest="out")
    add_json_option(p, "one object (rate, silence left out, differences, too-small classes; with --probe every cue's R² and "
                       "the folds used)")
    return p


def _rates_text(rates: dict) -> str:
    return ", ".join(f"{n} row(s) at {r} Hz" for r, n in rates.items()) or "no row measured"


def _excluded_text(ex: dict) -> str:
    if not ex["rows_with_silence"]:
        return "digital silence left out: none"
    rows = ex["by_row"][:5]
    worst = "; ".join(f"{w['id']} [{w['variant']}] {w['silence_s']:.2f} s, {w['silence_frames']}/{w['frames']} frames" for w in rows)
    shown = f"showing {len(rows)} of {len(ex['by_row'])} rows, most first" if len(ex["by_row"]) > len(rows) else "by row"
    return (f"digital silence left out of every cue: {ex['silence_s']:.2f} s in {ex['rows_with_silence']} of {ex['rows']} rows, "
            f"{ex['silence_frames']} of {ex['frames']} 10 ms frames ({shown}: {worst}; every row in the table's silence_s column and --json)")


def _differences(args, measured, report: dict, say):
    """Which cues differ between the classes of ``--by`` (Cliff's delta, class vs rest); the too-small classes named."""
    what = "predicted classes" if args.by == "pred" else "the manifest's emotions"
    groups = sorted(set(text_values(measured[args.by])) - {""})
    diffs = cue_differences(measured, label_column=args.by, n_boot=args.bootstrap, seed=args.seed)
    found = reportable_differences(diffs)
    differ = differing(found)  # large enough is not yet a difference: its interval excludes 0 and it passes the FDR
    small = diffs[diffs["too_small"] != ""].drop_duplicates("label")
    report["by"] = args.by
    report["differences"], report["compared"] = differ.to_dict(orient="records"), found.to_dict(orient="records")
    report["too_small"] = [{"label": str(r["label"]), "n_class": int(r["n_class"]), "n_rest": int(r["n_rest"]), "reason": str(r["too_small"])}
                           for _, r in small.iterrows()]
    if len(groups) < 2:  # "the measured rows have 1 of predicted classes" said neither what 1 was of nor why it is too few
        noun = ("predicted class", "predicted classes") if args.by == "pred" else ("emotion in the manifest", "emotions in the manifest")
        report["no_differences"] = (f"the measured rows have {len(groups)} {noun[len(groups) != 1]} ({', '.join(groups) or 'none'}); "
                                    "a comparison needs at least 2")
        say(f"\nno cue differences: {report['no_differences']}" + (" (try --by emotion)" if args.by == "pred" else "") + ".")
    elif found.empty:  # never a bare empty table
        report["no_differences"] = "every class is too small for a comparison"
        say(f"\nno cue differs measurably between {what}: every class (or its rest) is too small for a comparison.")
    else:
        unit = diffs.attrs.get("interval_unit", {})
        report["interval_unit"] = unit  # speakers resampled (p from that bootstrap's standard error), or items (Mann-Whitney p)
        rule = (f"a 95 % bootstrap interval excluding 0 and Benjamini-Hochberg q < {FDR:g} over the {len(found)} comparison(s) "
                f"large enough; intervals {unit.get('words', 'resampling items')}, p {found['test'].iloc[0]}")
        if unit.get("note"):
            say(f"!! cue differences: {unit['note']}")
        shown = differ.head(SHOWN).drop(columns=["too_small", "differs", "test"])
        if shown.empty:  # the largest |delta| of a sample where nothing differs is not a cue
            top = found.iloc[0]
            report["no_differences"] = (f"none of the {len(found)} comparison(s) large enough has {rule.split(' over ')[0]} (largest "
                                        f"|delta| {abs(top['delta']):.2f}: {top['cue']}, {top['label']}, q = {top['q']:.2g})")
            say(f"\nno cue differs measurably between {what}: {report['no_differences']}; all of them in --json or --out DIR.")
        else:
            say(f"\ncues that differ measurably between {what} (Cliff's delta, class vs rest; {rule}; "
                f"showing {len(shown)} of {len(differ)}{_ALL if len(shown) < len(differ) else ''}):")
            say(printable_table(shown, index=False, float_format=lambda v: f"{v:.3g}"))
    if len(small) and len(groups) >= 2:  # one class: said above; "too small to rank: disgusted" of 53 items misread it (walk18)
        say("too small to rank (not a finding): " + "; ".join(f"{r['label']} ({r['too_small']})" for _, r in small.iterrows()))
    return diffs


def _probe(args, rf, measured, report: dict, say):
    """How well the run's embeddings predict each cue (ridge, out-of-fold R² grouped by speaker)."""
    rows, emb = embedded_rows(rf, variant=args.variant)
    feats = measured[measured["variant"] == str(rows["variant"].iloc[0])] if len(rows) else measured
    joined = rows[["id", "speaker"]].merge(feats.drop(columns=["speaker"]), on="id", how="inner")
    keep = rows["id"].isin(joined["id"]).to_numpy()
    speakers = text_values(joined["speaker"]).to_numpy()
    has = speakers != ""  # a row without a speaker cannot be kept off the other side of a fold: left out
    if len(set(speakers[has])) < 2:
        raise ConfigError(f"the probe needs rows of at least two speakers; found {len(set(speakers[has]))}.",
                          source=str(rf.path), fix="add speakers to the manifest, or run without --probe.")
    if (~has).any():
        say(f"\nprobe: {int((~has).sum())} row(s) without a speaker left out")
    probe = cue_probe(emb[keep][has], joined[has].reset_index(drop=True), speakers[has], folds=args.folds,
                      n_boot=args.bootstrap, seed=args.seed)
    plan = fold_plan(speakers[has], args.folds)
    report["probe"] = probe.to_dict(orient="records")
    report["probe_folds"] = {**plan, "grouped_by": "speaker"}
    folds = (f"{plan['used']} folds grouped by speaker ({plan['groups']} speakers)" if "note" not in plan else
             f"{plan['asked']} folds asked, but the rows have only {plan['groups']} speakers: {plan['used']} folds used "
             "(leave-one-speaker-out)")
    fewer = sorted(set(probe["folds"]) - {plan["used"], 0})  # a cue measured on fewer speakers' rows (0: not probed)
    if fewer:
        folds += f"; cues measured on fewer speakers' rows used {', '.join(map(str, fewer))} (the folds column)"
    shown = probe.sort_values("r2", ascending=False).head(SHOWN)
    fix = probe.attrs["correction"]  # the multiple-comparison correction and its family, beside the result everywhere
    report["probe_correction"] = fix
    unit = sorted(set(probe.loc[probe["folds"] > 0, "resampled"]))
    report["probe_interval"] = ("95 % percentile bootstrap resampling " + " / ".join(unit) + " (all clips of a drawn speaker "
                                "together, as the folds keep them; the resampled column)" if unit else "")
    say(f"\nhow well the embeddings predict each cue (ridge, out-of-fold R², {folds}; {report['probe_interval'] or '95 % bootstrap interval'}; "
        f"showing {len(shown)} of {len(probe)} cues, best first{_ALL if len(shown) < len(probe) else ''}; carried: interval "
        f"above 0 and q < {fix['fdr']:g}, {fix['words']}):")
    # one format per column: 3 significant digits printed 0.08, -0.0923 and -1.2 side by side
    say(printable_table(shown.drop(columns=["note", "correction"]), index=False, float_format=lambda v: f"{v:.3f}"))
    probed = probe[probe["folds"] > 0]
    if fix["uncorrected"] > fix["carried"]:  # an interval above 0 that does not survive the family's correction
        say(f"!! {fix['uncorrected'] - fix['carried']} cue(s) with an R² interval above 0 are not carried after the correction "
            f"({fix['words']}); uncorrected, {fix['uncorrected']} of {fix['family']} would be")
    if len(probed) and not probed["carried"].all():  # R² 0.04 [-0.10, 0.15] is no cue the embeddings carry
        flat = probed[~probed["carried"]]
        report["probe_not_carried"] = (f"{len(flat)} of {len(probed)} probed cue(s) have an R² interval that reaches 0 or lies "
                                       f"below it, or q ≥ {fix['fdr']:g} ({fix['words']}), so the embeddings do not measurably "
                                       f"carry them (carried False): ")
        names = list(flat["cue"].astype(str))  # 88 eGeMAPS names in one line were a screenful nobody read
        more = f", … and {len(names) - SHOWN} more (the carried column{_ALL})" if len(names) > SHOWN else ""
        say(f"!! {report['probe_not_carried']}{', '.join(names[:SHOWN])}{more}")
        report["probe_not_carried"] += ", ".join(names)  # --json names them all
    for note in sorted(set(probe.loc[probe["folds"] > 0, "note"]) - {""}):  # too few speakers to resample
        say(f"!! R² intervals: {note}")
    skipped = probe[probe["folds"] == 0]  # a NaN row in the table said nothing of why
    if len(skipped):
        report["probe_not_probed"] = {str(r["cue"]): str(r["note"]) for _, r in skipped.iterrows()}
        say(f"!! {len(skipped)} cue(s) not probed (R² n/a): " + "; ".join(f"{c}: {w}" for c, w in report["probe_not_probed"].items()))
    return probe


def _measure(args, rf, report: dict, say):
    """The feature table (and with --lld the frame descriptors), stored in the run folder; the failed rows named."""
    table = run_features(rf, feature_set=args.feature_set, variant=args.variant, rate=args.rate)
    with RunWriter(rf).lock():
        path = write_voice_features(rf, table, args.feature_set)
    report["table"] = str(path)
    if args.lld:
        lld = run_lld(rf, variant=args.variant, rate=args.rate)
        with RunWriter(rf).lock():
            lld_path = write_voice_features(rf, lld, "egemaps_lld")
        say(f"{len(lld)} frames of eGeMAPS descriptors ({lld['id'].nunique() if len(lld) else 0} rows) written to {lld_path}")
        report["lld"] = {"frames": int(len(lld)), "table": str(lld_path)}
    failed = table[table["feature_error"] != ""] if len(table) else table
    report.update(rows=int(len(table)), measured=int(len(table) - len(failed)),
                  failed=[{"id": str(r["id"]), "variant": str(r["variant"]), "error": str(r["feature_error"])} for _, r in failed.iterrows()])
    say(f"{len(table) - len(failed)} rows measured, {len(failed)} failed; written to {path}")
    for _, row in failed.head(5).iterrows():
        say(f"  {row['id']} [{row['variant']}]: {row['feature_error']}")
    measured = table[table["feature_error"] == ""] if len(table) else table
    ex = excluded_summary(measured)
    report["sample_rates_hz"], report["excluded"] = ex["sample_rates_hz"], ex
    where = "the audio's own rate, before the model's resampling" if args.rate == "source" else "the model's 16 kHz input"
    say(f"measured at {where}: {_rates_text(ex['sample_rates_hz'])}")
    say(_excluded_text(ex))
    report["unvoiced"] = unvoiced_summary(measured)  # noise, a breath: no F0, jitter, shimmer or HNR to measure
    for words in (unvoiced_words(report["unvoiced"]), few_voiced_words(report["unvoiced"])):
        if words:
            say(f"!! {words}")
    return measured


def cmd_features(args) -> int:
    if args.bootstrap < 10:
        raise ConfigError(f"--bootstrap {args.bootstrap} is under 10.", source="--bootstrap", fix="give --bootstrap 10 or more.")
    if args.out is not None:
        check_out_dir(args.out)
    rf = as_run_folder(args.run_dir)
    run_seed(args, args.run_dir)
    rf.results()  # a missing or corrupt results table fails here, before anything is printed
    say = (lambda *a, **k: None) if args.json else print
    if rf.random_weights:
        say(f"!! {RANDOM_WEIGHTS_BANNER} (the cues are measured on the audio and are real; the predicted classes and the "
            "embeddings the probe reads are not)")
    report: dict = {"run": str(rf.path), "feature_set": args.feature_set, "rate": args.rate,
                    "warning": RANDOM_WEIGHTS_BANNER if rf.random_weights else None}
    measured = _measure(args, rf, report, say)
    if measured.empty:
        if args.json:
            print(strict_json(report))
        return 1
    diffs = _differences(args, measured, report, say)
    # the tables go to --out through RunFolder, as every derived output does (atomic, never through a link)
    dest = None if args.out is None else output_folder(rf, args.out)
    if dest is not None:
        dest.write_artifact("cue_differences.csv", lambda f: spreadsheet_safe(diffs).to_csv(f, index=False), text=True)
    if args.probe:
        probe = _probe(args, rf, measured, report, say)
        if dest is not None:
            dest.write_artifact("cue_probe.csv", lambda f: spreadsheet_safe(probe).to_csv(f, index=False), text=True)
    if args.json:
        print(strict_json(report))
    return 0


COMMANDS = {"features": cmd_features}
