"""``workbench metrics``, ``compare``, ``probe``, ``embeddings`` and ``fuse``: what a run's results say.

Every one of them takes ``--json`` (one strict JSON document on stdout, nothing else there) and ``--out`` (the
output folder; by default the run folder for what is derived from one run, a new timestamped folder otherwise).
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from workbench.analysis.compare import compare_run, compare_runs, family_line, flags_text, mcnemar_family, metric_flags, metrics_text, write_runs_comparison
from workbench.analysis.embeddings import (check_k, cluster, identical_words, label_agreement, load_run_embeddings, names_a_file,
                                          neighbours, plot_projection, project_run, projection_trust)
from workbench.analysis.fusion import FUSION_BOOTSTRAP, fuse_run
from workbench.analysis.stats import permutation_p_words
from workbench.analysis.metrics import metrics_file_name, output_folder, run_metrics
from workbench.errors import ConfigError, printable_table
from workbench.files import strict_json
from workbench.data.cards import random_weights_banner
from workbench.model.ref import ModelRef, check_same_model
from workbench.analysis.probe import FOLDS_CSV, ITEMS_CSV, PROBE_JSON, probe_run
from workbench.runs.folder import RunFolder, artifact_name, as_run_folder
from workbench.runs.reproduce import check_run_checkpoint, version_note
from workbench.cli.common import (
    add_run_seed_option, run_seed, bootstrap_count, DEFAULT_FOLDS, FOLD_SCHEMES, RUN_FOLDER_DEFAULT, model_ref_from_args, EXIT_OK, add_command, add_json_option,
                                  add_out_option, check_out_dir, deprecated, fold_count, model_options, new_folder, non_negative_int,
                                  positive_int, random_banner_for, renamed, say_loading, speaker_folds)
from workbench.serialize import spreadsheet_safe
from workbench.schema import text_values


def add_metrics(sub) -> None:
    mt_ = add_command(sub, "metrics", help="WA, UAR, macro-F1, confusion, calibration and intervals of a run",
               example=("workbench metrics runs/emodb --restrict --by speaker gender", "workbench metrics runs/emodb --json > metrics.json"))
    mt_.add_argument("run_dir", help="run folder written by `workbench run`")
    mt_.add_argument("--restrict", action="store_true", help="take the argmax over the dataset's classes only")
    mt_.add_argument("--by", nargs="*", action=_Gathered, default=["speaker", "gender"], help="manifest columns to break the metrics down by (grouping)")
    mt_.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    mt_.add_argument("--checkpoint", default=None,
                     help="the published checkpoint the run's model is (id or alias: large, base, seed, base_finetuned), for its "
                          "training-data card when the model was loaded from a folder of another name (default: the run's model id)")
    add_out_option(mt_, what="metrics.json and the figures", default=RUN_FOLDER_DEFAULT)
    add_json_option(mt_, "every variant's report")


#: compare's, probe's and fuse's screens say "resampling the 5 speakers"; their --help said only "for the intervals"
BOOTSTRAP_HELP = ("bootstrap resamples for the intervals, which resample speakers where the manifest names them (all clips "
                  "of a drawn speaker together), else clips; the output names the unit")


def add_compare(sub) -> None:
    cp = add_command(sub, "compare", help="compare the preprocessing variants of a run, or runs of one manifest (checkpoints, precisions, engines)",
              description="One run folder: its preprocessing variants against a baseline variant. Two or more run folders of "
                          "the same manifest (other checkpoints, precisions or engines): their rows paired by (id, variant), "
                          "each run against the first, with agreement (Cohen's kappa, top-1, score distances, embedding "
                          "cosines) and the items where they differ most; refused, with the ids, when the items or the audio differ. "
                          "Where the manifest names speakers, the intervals resample speakers and, with 5 or more, McNemar's "
                          "p is the clustered test's: each speaker counts as one unit (Durkalski et al. 2003), the exact "
                          "test over clips, which takes them as independent, beside it.",
              example=("workbench compare runs/emodb_variants --baseline raw",
                       "workbench compare runs/emodb_f32 runs/emodb_bf16 --out runs/precision_check --top 10"))
    cp.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                    help="one run folder: its variants against a baseline; two or more: the runs row by row against the first")
    cp.add_argument("--baseline", default=None, help="one run: variant to compare against (default: raw if present, else the first)")
    cp.add_argument("--variant", action="append", default=None,
                    help="several runs: a variant to pair, repeatable (default: every variant they share)")
    add_out_option(cp, what="the comparison files", default=f"one run: {RUN_FOLDER_DEFAULT}; several runs: a new "
                   "runs/compare_<timestamp>, never inside a run folder")
    cp.add_argument("--top", type=non_negative_int, default=5, help="several runs: most different items to print per pair")
    cp.add_argument("--restrict", action="store_true", help="take the argmax over the dataset's classes only")
    cp.add_argument("--bootstrap", type=bootstrap_count, default=1000, help=BOOTSTRAP_HELP)
    add_run_seed_option(cp, "the bootstrap", whose="the (first) run's")
    cp.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    add_json_option(cp, "the comparison")


def add_probe(sub) -> None:
    pb = add_command(sub, "probe", help="linear probe (or small MLP) on a run's frozen embeddings under EmoBox-style folds",
              description="Train a probe on a run's frozen utterance embeddings under published folds and report WA, UAR and "
                          "macro-F1 per fold and their mean over folds (as EmoBox does), with bootstrap intervals.",
              example=("workbench probe runs/iemocap --scheme session --out runs/iemocap_probe",
                       "workbench probe runs/emodb --scheme speaker --folds 5 --target label --mlp"))
    pb.add_argument("run_dir", help="run folder written by `workbench run`")
    pb.add_argument("--scheme", default="speaker", choices=list(FOLD_SCHEMES),
                    help="the fold scheme: speaker: k-fold grouped by speaker; session: leave-one-session-out (IEMOCAP); "
                         "emobox: the folds of `datasets import-emobox`; split: the manifest's train/test split")
    pb.add_argument("--folds", type=fold_count, default=None, help=f"folds of --scheme speaker (capped at the number of speakers; "
                    f"default: {DEFAULT_FOLDS}; refused with another scheme, which brings its own folds)")
    deprecated(pb, "--k", new="--folds", dest="folds", type=fold_count)
    pb.add_argument("--target", default="emotion", choices=["emotion", "label"],
                    help="emotion: the nine-class counterpart; label: the corpus's own label (classes the head lacks)")
    pb.add_argument("--mlp", action="store_true", help="a small MLP (sklearn MLPClassifier) instead of the logistic regression")
    pb.add_argument("--variant", default=None, help="variant whose embeddings to probe (default: the run's first)")
    add_out_option(pb, what="probe.json and the tables", default="a new runs/probe_<timestamp>, never inside the run folder")
    pb.add_argument("--bootstrap", type=bootstrap_count, default=1000, help=BOOTSTRAP_HELP)
    add_run_seed_option(pb, "the MLP and the bootstrap")
    add_json_option(pb, "probe.json")


class _Gathered(argparse.Action):
    """A list option (``nargs="*"``) given more than once: the values of every occurrence, in order and once each
    (``--by speaker --by gender`` broke the metrics down by gender alone: the last occurrence won without a word)."""

    def __call__(self, parser, namespace, values, option_string=None):
        current = getattr(namespace, self.dest, None)
        so_far = [] if current is self.default or current is None else list(current)
        setattr(namespace, self.dest, list(dict.fromkeys([*so_far, *values])))


def add_embeddings(sub) -> None:
    em = add_command(sub, "embeddings", help="2-D projection, clusters and nearest neighbours of a run's utterance embeddings",
              example=("workbench embeddings runs/emodb --project pca --color-by emotion pred --neighbours 03a01Fa --top 5",))
    em.add_argument("run_dir", help="run folder written by `workbench run`")
    em.add_argument("--variant", default=None, help="variant whose embeddings to use (default: the first)")
    em.add_argument("--project", default="pca", choices=["pca", "tsne", "umap"],
                    help="2-D projection method (pca: fast, the default; umap and tsne take tens of seconds the first time and are then read from the run folder)")
    em.add_argument("--color-by", nargs="*", action=_Gathered, default=["emotion", "pred", "correct", "speaker"], help="columns to colour the projection by (one figure each)")
    em.add_argument("--cluster", default="kmeans", choices=["kmeans", "agglomerative", "none"], help="clustering method")
    em.add_argument("--k", type=positive_int, default=None, help="number of clusters (default: best silhouette for k=2..10)")
    em.add_argument("--neighbours", default=None, help="an item id of the run, or an audio file, to list its nearest items (default: none)")
    em.add_argument("--top", type=positive_int, default=5, help="how many neighbours")
    renamed(em, "-n", new="--top")
    model_options(em, reads_run=True)
    em.add_argument("--other-model", action="store_true",
                    help="embed a --neighbours file with a --model whose weights are not the run's (refused otherwise; "
                         "the output then says so)")
    add_run_seed_option(em, "projection and clustering")
    add_out_option(em, what="the projection table and figures", default=RUN_FOLDER_DEFAULT)
    add_json_option(em, "the projection's summary, clusters and neighbours")


def add_fuse(sub) -> None:
    fu = add_command(sub, "fuse", help="speech, text, early and late fusion under speaker-independent cross-validation",
              example=("workbench fuse runs/emodb --folds 5",))
    fu.add_argument("run_dir", help="run folder written by `workbench run` (its manifest needs text and speaker)")
    fu.add_argument("--variant", default=None, help="variant whose embeddings to use (default: the first)")
    fu.add_argument("--text-model", default=None, help="sentence-transformers name or folder (default: the bundled English all-MiniLM-L6-v2)")
    fu.add_argument("--folds", type=fold_count, default=5, help="cross-validation folds (grouped by speaker)")
    add_run_seed_option(fu, "the speaker folds, the classifiers and the bootstrap")
    fu.add_argument("--bootstrap", type=bootstrap_count, default=FUSION_BOOTSTRAP, help=BOOTSTRAP_HELP)
    fu.add_argument("--no-figures", action="store_true", help="skip fusion.png")
    add_out_option(fu, what="fusion.json, the tables and fusion.png", default=RUN_FOLDER_DEFAULT)
    add_json_option(fu, "fusion.json")


def _warning(run_dir) -> str | None:
    """The random-weights banner of a run (for --json), or None."""
    return random_weights_banner(RunFolder(run_dir).model_ref) if RunFolder(run_dir).random_weights else None


def cmd_metrics(args) -> int:
    if args.out is not None:
        check_out_dir(args.out)
    reports = run_metrics(args.run_dir, restrict=args.restrict, by=args.by, figures=not args.no_figures, checkpoint=args.checkpoint,
                          out=args.out)
    where = args.out or args.run_dir
    if args.json:
        print(strict_json({"run": str(args.run_dir), "written_to": str(where), "warning": _warning(args.run_dir),
                           "variants": {v: r.to_dict() for v, r in reports.items()}}))
        return EXIT_OK
    random_banner_for(args.run_dir)
    note = version_note(as_run_folder(args.run_dir))
    if note:  # a run of another version: its own printed figures may differ from these
        print(f"!! {note}")
    for r in reports.values():
        print(r.render())
    # the file this call wrote: --restrict writes metrics_restricted.json (the screen said metrics.json, which it leaves alone)
    if not any(r.n_scored for r in reports.values()):  # "and figures written" of a run that scored nothing: none were
        print(f"{metrics_file_name(args.restrict)} written to {where}: no item is scored, so it holds no figures and no "
              "figure was drawn (the fix is above)")
        return EXIT_OK
    print(f"{metrics_file_name(args.restrict)}{'' if args.no_figures else ' and figures'} written to {where}")
    return EXIT_OK


def _compare_runs(args) -> int:
    out = Path(args.out) if args.out else new_folder(f"runs/compare_{datetime.now().strftime('%Y%m%d_%H%M%S')}")
    check_out_dir(out)
    run_seed(args, args.run_dirs[0])
    cmp = compare_runs(args.run_dirs, variants=args.variant, n_boot=args.bootstrap, seed=args.seed, restrict=args.restrict)
    paths = write_runs_comparison(cmp, out, figures=not args.no_figures)
    if args.json:
        print(strict_json({**cmp.to_dict(), "written_to": str(out), "files": [p.name for p in paths.values()]}))
        return EXIT_OK
    print(cmp.render(top=args.top))
    print(f"{', '.join(p.name for p in paths.values())} written to {out}")
    return EXIT_OK


def cmd_compare(args) -> int:
    if len(args.run_dirs) > 1:
        return _compare_runs(args)
    (run_dir,) = args.run_dirs
    if args.out is not None:
        check_out_dir(args.out)
    rf = as_run_folder(run_dir)
    run_seed(args, run_dir)
    names = list(dict.fromkeys(rf.results()["variant"].astype(str)))
    if len(names) < 2:  # metrics alone, and compare.json / flips.csv of no comparison, said nothing about it
        raise ConfigError(f"holds one variant ({', '.join(names)}): there is nothing to compare it with.", source=str(run_dir),
                          fix="compare runs of one manifest (`workbench compare RUN_A RUN_B`: checkpoints, precisions), or "
                              "score the manifest under preprocessing variants (`workbench run MANIFEST --variants FILE`).")
    reports, comparisons, flips = compare_run(run_dir, baseline=args.baseline, n_boot=args.bootstrap, seed=args.seed,
                                              restrict=args.restrict, figures=not args.no_figures, out=args.out)
    if args.json:
        print(strict_json({"run": str(run_dir), "written_to": str(args.out or run_dir), "warning": _warning(run_dir),
                           "training_overlap": next(iter(reports.values())).training_overlap if reports else [],
                           "metrics": {v: {**r.to_dict(), "flags": metric_flags(r)} for v, r in reports.items()},
                           "comparisons": [c.to_dict() for c in comparisons], "mcnemar_family": mcnemar_family(comparisons),
                           "n_flips": int(len(flips)), "flips": flips.head(50).to_dict(orient="records")}))
        return EXIT_OK
    random_banner_for(run_dir)
    for w in next(iter(reports.values())).training_overlap if reports else []:  # before any figure, as metrics does
        print(f"!! {w}")
    for name, r in reports.items():  # macro-F1 too: its flags were printed under a line that did not show it
        print(f"{name:>20}: {metrics_text(r)}  ({r.n_scored} scored)" + flags_text(metric_flags(r)))
    for c in comparisons:
        print(c.render())
    if family := mcnemar_family(comparisons):  # several p-values: one under 0.05 by chance is expected, said beside them
        print(family_line(family))
    if len(flips):
        print(f"\n{len(flips)} flips (showing {min(10, len(flips))} of {len(flips)}; all in flips.csv):")
        print(printable_table(flips.head(10)[["id", "variant", "emotion", "pred_baseline", "confidence_baseline", "pred_variant", "confidence_variant"]], index=False))
    print(f"compare.json, flips.csv{'' if args.no_figures else ' and figures'} written to {args.out or run_dir}")
    return EXIT_OK


def cmd_probe(args) -> int:
    folds = speaker_folds(args)  # before any folder is made
    out = Path(args.out) if args.out else new_folder(f"runs/probe_{datetime.now().strftime('%Y%m%d_%H%M%S')}")
    check_out_dir(out)
    run_seed(args, args.run_dir)
    res = probe_run(args.run_dir, scheme=args.scheme, folds=folds, target=args.target, mlp=args.mlp, variant=args.variant,
                    n_boot=args.bootstrap, seed=args.seed, out=out)
    if args.json:
        print(strict_json({**res.to_dict(), "written_to": str(out)}))
        return EXIT_OK
    print(res.render())
    print(f"{PROBE_JSON}, {FOLDS_CSV}, {ITEMS_CSV} written to {out}")
    return EXIT_OK


def _neighbour_model(args):
    """The model that embeds a ``--neighbours`` file: the run's own unless the user named another one, which is
    refused when its weights differ from the run's unless ``--other-model``.  Returns (model, warning or None)."""
    rf = RunFolder.open(args.run_dir)
    recorded = ModelRef.from_run(rf.config, rf.summary)
    if args.model is None:
        check_run_checkpoint(rf.path, recorded)
    net = model_ref_from_args(args, base=replace(recorded, checksum=None)).load(progress=say_loading)
    return net, check_same_model(net, recorded, allow_other=args.other_model)


CLUSTER_CLASSES_SHOWN = 4  # classes of a cluster named on screen, most frequent first; the JSON keeps them all


def cluster_composition(counts: dict[str, int], shown: int = CLUSTER_CLASSES_SHOWN) -> str:
    """A cluster's labels, most frequent first, with its total; classes past ``shown`` are counted, never dropped silently."""
    items = list(counts.items())
    text = f"(n={sum(counts.values())}): " + ", ".join(f"{k} {v}" for k, v in items[:shown])
    rest = items[shown:]
    if rest:
        n_rest = sum(v for _, v in rest)
        text += (f", … and {len(rest)} more class{'es' if len(rest) != 1 else ''} of {len(items)} "
                 f"({n_rest} item{'s' if n_rest != 1 else ''})")
    return text


def _clusters(args, emb, rows, say) -> dict | None:
    """Cluster the embeddings (``--cluster``), add the ``cluster`` column to ``rows`` and say what each cluster holds."""
    if args.cluster == "none":
        return None
    cl = cluster(emb.matrix, args.cluster, k=args.k, seed=args.seed)
    rows["cluster"] = cl.labels
    # the k searched, each with its silhouette; a k set by --k is said to be (it read "k=4 (silhouette 0.445; k=4: 0.445)")
    by_k = "" if args.k else "; " + ", ".join(f"k={k}: {v:.3f}" if v == v else f"k={k}: undefined" for k, v in cl.silhouette_by_k.items())
    say(f"{'!! ' if cl.silhouette != cl.silhouette else ''}{args.cluster}: k={cl.k} ({'set by --k; ' if args.k else ''}"
        f"{cl.silhouette_words()}{by_k})")
    say(f"  {'' if cl.above_null else '!! '}silhouette check: {cl.null_words()}")
    if cl.bound_words():
        say(f"  !! {cl.bound_words()}")
    members = {}
    if "emotion" in rows.columns:
        # the model's class where the item has one, else the corpus's own label (calm, boredom …), else "unlabelled"
        # (a bare "—" read as a class named "—")
        shown = text_values(rows["emotion"])
        if "label" in rows.columns:
            shown = shown.where(shown != "", text_values(rows["label"]))
        table = shown.groupby(rows["cluster"]).agg(lambda s: {str(k or "unlabelled"): int(v) for k, v in s.value_counts().items()})
        for c, counts in table.items():
            members[str(c)] = counts
            say(f"  cluster {c} {cluster_composition(counts)}")
        # the composition reads as "cluster 0 is sad": whether the clusters hold the labels better than a shuffle
        agreement = label_agreement(rows["cluster"], shown, seed=args.seed, speakers=rows["speaker"] if "speaker" in rows.columns else None)
        say(f"  {'!! ' if agreement['passed'] is False or agreement.get('confounded') else ''}{agreement['words']}")
    failed = cl.failed_checks() + ([agreement["words"]] if members and (agreement["passed"] is False or agreement.get("confounded")) else [])
    return {"method": args.cluster, "k": int(cl.k), "silhouette": cl.silhouette, "silhouette_by_k": cl.silhouette_by_k,
            "silhouette_null": cl.null_silhouettes, "silhouette_above_null": cl.above_null, "silhouette_check": cl.null_words(),
            "silhouette_words": cl.silhouette_words(), "k_at_search_bound": cl.bound_words() or None,
            "failed_checks": failed,  # the figure coloured by cluster says them in its title
            "figure_checks": _cluster_checks(cl, agreement if members else None),  # and these, passed or not
            "emotions_by_cluster": members, "label_check": agreement if members else None}


def _cluster_checks(cl, agreement: dict | None) -> list[str]:
    """The clusters' checks in short words for the figure coloured by cluster: the silhouette against single blobs', and
    the adjusted Rand index against label shuffles'."""
    finite = [v for v in cl.null_silhouettes if v == v]
    out = [f"k={cl.k}: silhouette {cl.silhouette:.3f}, single blobs up to {max(finite):.3f}" if finite and cl.silhouette == cl.silhouette
           else f"k={cl.k}: {cl.null_words().split(':')[0]}"]
    if agreement and agreement.get("confounded"):
        out.append(f"labels: adjusted Rand {agreement['ari']:.3f}, not testable (each speaker speaks one label)")
    elif agreement and agreement["ari"] is not None:
        within = " within speakers" if agreement["shuffled"].startswith("within") else ""
        out.append(f"labels: adjusted Rand {agreement['ari']:.3f}, shuffles{within} up to {agreement['null_95']:.3f} ({permutation_p_words(agreement['p'], agreement['permutations'])})")
    return out


def _map_check(trust: dict) -> str:
    """The map's trustworthiness beside a random layout's, in short words, or why it was not measured."""
    t = trust["trustworthiness"]
    return f"map trustworthiness {t:.3f}, a random layout {trust['random_layout']:.3f}" if t is not None else trust["words"]


def cmd_embeddings(args) -> int:
    if args.out is not None:
        check_out_dir(args.out)
    say = (lambda *a, **k: None) if args.json else print
    emb = load_run_embeddings(args.run_dir, variant=args.variant)
    if args.neighbours and not names_a_file(args.neighbours):
        emb.index_of(args.neighbours)  # an unknown id is refused (closest ids named) before anything is written
    run_seed(args, args.run_dir)
    colourable = {*emb.rows.columns, "correct", "x", "y", *(["cluster"] if args.cluster != "none" else [])}
    unknown = [c for c in args.color_by if c not in colourable]
    if unknown:  # skipped without a word: `--color-by spekaer` gave no figure and no reason
        raise ConfigError(f"--color-by: the run has no column {', '.join(map(repr, unknown))}; it has {sorted(colourable)}.",
                          fix="pass columns of the run's results (emotion, pred, correct, speaker, cluster …).")
    if args.cluster != "none":
        check_k(len(emb), args.k)
    # the model loads (and is checked against the run's) before anything is written
    model, other = _neighbour_model(args) if names_a_file(args.neighbours) else (None, None)
    if not args.json:
        random_banner_for(args.run_dir)
    if other:
        say(f"!! {other}")
    out = Path(args.out) if args.out is not None else Path(args.run_dir)
    out.mkdir(parents=True, exist_ok=True)
    say(f"{len(emb)} embeddings of dimension {emb.matrix.shape[1]} (variant {emb.variant})")
    xy, cached = project_run(emb, args.project, seed=args.seed)
    if cached:
        say(f"{args.project.upper()} projection read from the run folder's cache (same embeddings and seed)")
    one = identical_words(emb.matrix)
    if one:
        say(f"!! {one}")
    trust = projection_trust(emb.matrix, xy, seed=args.seed)  # does the map keep the embeddings' neighbourhoods?
    say(f"{args.project.upper()} map: {trust['words']}" + (f"\n!! {trust['flag']}" if trust["flag"] else ""))
    rows = emb.rows.copy()
    rows["x"], rows["y"] = xy[:, 0], xy[:, 1]
    clusters = _clusters(args, emb, rows, say)
    cols = [c for c in ("id", "variant", "emotion", "pred", "speaker", "x", "y", "cluster") if c in rows.columns]
    # written through RunFolder (no links followed, names never built from data), in the run folder or the --out folder
    rf = output_folder(RunFolder.open(args.run_dir), args.out)  # --out: its figures carry the run's random-weights mark
    rf.write_artifact(artifact_name("projection", args.project, ext="csv"), lambda f: spreadsheet_safe(rows[cols]).to_csv(f, index=False), text=True)
    for col in args.color_by:
        if col == "correct" or col in rows.columns:
            fig = plot_projection(xy, rows, col, title=f"{args.project.upper()} of {len(rows)} embeddings, coloured by {col}",
                                  method=args.project, matrix=emb.matrix,
                                  flags=[*(clusters["failed_checks"] if col == "cluster" and clusters else ()), *filter(None, [trust["flag"]])],
                                  checks=[_map_check(trust), *(clusters["figure_checks"] if col == "cluster" and clusters else ())])
            rf.write_figure(artifact_name("projection", args.project, col, ext="png"), fig, meta={"color_by": col})
    say(f"projection_{args.project}.csv and figures written to {out}")
    near = neighbours(emb, args.neighbours, args.top, model=model) if args.neighbours else None
    if args.json:
        print(strict_json({"run": str(args.run_dir), "written_to": str(out), "warning": _warning(args.run_dir), "other_model": other,
                           "variant": emb.variant, "n": len(emb), "dimension": int(emb.matrix.shape[1]), "projection": args.project,
                           "projection_cached": bool(cached),
                           "projection_note": one or None, "projection_check": trust, "clusters": clusters, "neighbours_of": args.neighbours,
                           "neighbours": None if near is None else near.to_dict(orient="records"),
                           "neighbours_reference": None if near is None else near.attrs["reference"]}))
        return EXIT_OK
    if near is not None:
        print(f"nearest to {args.neighbours}" + (f" (embedded with another model: {model.info.id}):" if other else ":"))
        print(printable_table(near, index=False))
        ref = near.attrs["reference"]
        if ref["items"]:  # never a bare cosine: the query's cosines with all the run's other items beside them
            print(f"  (its cosine with each of the run's {ref['items']} other items: median {ref['median']:.4f}, range "
                  f"{ref['min']:.4f} to {ref['max']:.4f}; the embeddings are anisotropic, so a high cosine alone says little)")
        if other:
            print(f"!! {other}")
    return EXIT_OK


def cmd_fuse(args) -> int:
    if args.out is not None:
        check_out_dir(args.out)
    run_seed(args, args.run_dir)
    res = fuse_run(args.run_dir, variant=args.variant, text_model=args.text_model, folds=args.folds, seed=args.seed,
                   n_boot=args.bootstrap, figures=not args.no_figures, out=args.out)
    where = args.out or args.run_dir
    if args.json:
        print(strict_json({**res.to_dict(), "run": str(args.run_dir), "written_to": str(where), "warning": _warning(args.run_dir),
                           "n_changes": int(len(res.changes))}))
        return EXIT_OK
    random_banner_for(args.run_dir)
    print(res.render())
    fixed = res.changes
    if len(fixed):
        print(f"\n{len(fixed)} fixed/broken predictions relative to speech (showing {min(10, len(fixed))} of {len(fixed)}; "
              "all in fusion_changes.csv):")
        print(printable_table(fixed.head(10)[["method", "change", "id", "emotion", "pred_speech", "pred_method"]], index=False))
    print(f"fusion.json, fusion_items.csv, fusion_changes.csv{'' if args.no_figures else ', fusion.png'} written to {where}")
    return EXIT_OK


COMMANDS = {"metrics": cmd_metrics, "compare": cmd_compare, "probe": cmd_probe, "embeddings": cmd_embeddings,
            "fuse": cmd_fuse}
