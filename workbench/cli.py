"""``workbench`` command line.

    workbench infer PATH... [--model ID|DIR|tiny] [--granularity utterance|frame] [--embedding] [--out DIR]
    workbench model make-tiny DIR [--seed N] [--arch tiny|base|large]
    workbench model info [--model ID|DIR|tiny]
    workbench datasets prepare CORPUS CORPUS_DIR --out MANIFEST
    workbench datasets import-emobox JSONL... --root DIR [--label-map FILE] --out MANIFEST
    workbench run MANIFEST [--model …] [--variants FILE] [--out RUN_DIR] [--engine local|ray]
    workbench metrics RUN_DIR [--restrict] [--by speaker gender]
    workbench compare RUN_DIR [--baseline NAME]
    workbench sweep PATH|MANIFEST --kind sample-rate|trim|snr|denoise [--out DIR]
    workbench diagnose PATH [--model …]
    workbench segment PATH [--max 25] [--min-silence 0.3] [--vad silero|energy] [--out DIR]
    workbench embeddings RUN_DIR [--project pca|tsne|umap] [--color-by emotion] [--cluster kmeans|agglomerative] [--neighbours ID|PATH]
    workbench similar A B [--model …]
    workbench fuse RUN_DIR [--text-model NAME|DIR] [--folds 5]
    workbench report TEMPLATE [--param key=value …] [--out reports/]
    workbench demo [--out DIR]

Exit status: 0 when every input succeeded, 1 when some input failed (its
error record is written), 2 for a usage or configuration error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import __version__
from .errors import WorkbenchError
from .logs import route_logs


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="hub id (default iic/emotion2vec_plus_large), local checkpoint directory, or 'tiny'")
    p.add_argument("--hub", default="ms", choices=["ms", "hf"], help="model hub for ids: ms (ModelScope) or hf (Hugging Face)")
    p.add_argument("--revision", default=None, help="hub revision to pin")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:1 …")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description="Speech emotion recognition workbench around emotion2vec+.")
    parser.add_argument("--version", action="version", version=f"workbench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("infer", help="predict the emotion of audio files and write seed-compatible output folders")
    p.add_argument("paths", nargs="+", help="audio files (wav, flac, ogg, opus, mp3, m4a, …)")
    _model_args(p)
    p.add_argument("--granularity", default="utterance", choices=["utterance", "frame"])
    p.add_argument("--embedding", action="store_true", help="write embedding.npy")
    p.add_argument("--out", default="outputs", help="folder that receives outputs_YYYYMMDD_HHMMSS/ (default: outputs)")
    p.add_argument("--max-duration", type=float, default=None, help="refuse inputs longer than this many seconds (default 120)")
    p.add_argument("--resampler", default="soxr", choices=["soxr", "scipy", "librosa"])
    p.add_argument("--show-log", action="store_true", help="print each input's processing log")

    m = sub.add_parser("model", help="make or inspect checkpoints")
    msub = m.add_subparsers(dest="model_command", required=True)
    mt = msub.add_parser("make-tiny", help="write a seeded random emotion2vec+ checkpoint (predictions mean nothing)")
    mt.add_argument("dir")
    mt.add_argument("--seed", type=int, default=0)
    mt.add_argument("--arch", default="tiny", choices=["tiny", "base", "large"])
    mi = msub.add_parser("info", help="load a model and print what is loaded")
    _model_args(mi)
    mi.add_argument("--json", action="store_true")

    ds = sub.add_parser("datasets", help="prepare manifests from corpora")
    dsub = ds.add_subparsers(dest="datasets_command", required=True)
    dp = dsub.add_parser("prepare", help="write a manifest for a corpus folder as distributed")
    dp.add_argument("corpus", help="emodb, ravdess, crema-d, tess, iemocap, esd or casia")
    dp.add_argument("corpus_dir")
    dp.add_argument("--out", required=True, help="manifest file (.csv, .jsonl or .parquet)")
    de = dsub.add_parser("import-emobox", help="read EmoBox metadata / fold files into a manifest")
    de.add_argument("jsonl", nargs="+")
    de.add_argument("--root", required=True, help="folder the 'wav' paths are relative to")
    de.add_argument("--label-map", default=None, help="JSON {emobox label: emotion}")
    de.add_argument("--out", required=True)

    r = sub.add_parser("run", help="run a manifest (× preprocessing variants) through the model into a run folder")
    r.add_argument("manifest")
    _model_args(r)
    r.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16", "int8"])
    r.add_argument("--variants", default=None, help="YAML file of preprocessing variants (default: raw only)")
    r.add_argument("--out", default=None, help="run folder (default: runs/<manifest>_<timestamp>; an existing one is resumed)")
    r.add_argument("--frame-embeddings", action="store_true", help="also store frame-level embeddings")
    r.add_argument("--chunk", type=int, default=64, help="items per flushed chunk")
    r.add_argument("--no-cache", action="store_true", help="do not read or write the prediction cache")
    r.add_argument("--cache-dir", default=None)
    r.add_argument("--engine", default="local", choices=["local", "ray"],
                   help="local: this process; ray: Ray Data actors, one model each (same run folder and results)")
    r.add_argument("--ray-address", default=None, help="Ray cluster to join ('auto', 'ray://host:10001'; default: RAY_ADDRESS or a new local one)")
    r.add_argument("--ray-actors", type=int, default=None, help="model copies (default: one per GPU, or per --ray-cpus-per-actor CPUs)")
    r.add_argument("--ray-cpus-per-actor", type=float, default=1.0)
    r.add_argument("--ray-gpus-per-actor", type=float, default=None, help="default: 1 on a CUDA run, 0 otherwise")

    mt_ = sub.add_parser("metrics", help="WA, UAR, macro-F1, confusion, calibration and intervals of a run")
    mt_.add_argument("run_dir")
    mt_.add_argument("--restrict", action="store_true", help="take the argmax over the dataset's classes only")
    mt_.add_argument("--by", nargs="*", default=["speaker", "gender"], help="manifest columns to break down by")
    mt_.add_argument("--no-figures", action="store_true")

    cp = sub.add_parser("compare", help="compare the preprocessing variants of a run against a baseline")
    cp.add_argument("run_dir")
    cp.add_argument("--baseline", default=None, help="variant to compare against (default: raw if present, else the first)")
    cp.add_argument("--restrict", action="store_true", help="take the argmax over the dataset's classes only")
    cp.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the intervals")
    cp.add_argument("--seed", type=int, default=0)
    cp.add_argument("--no-figures", action="store_true")

    sw = sub.add_parser("sweep", help="one file or manifest through a grid of sample rates, trims, SNRs or noise reduction")
    sw.add_argument("source", help="an audio file or a manifest (.csv, .jsonl, .parquet)")
    sw.add_argument("--kind", required=True, choices=["sample-rate", "trim", "snr", "denoise"])
    _model_args(sw)
    sw.add_argument("--out", default=None, help="sweep folder (default: runs/sweep_<kind>_<name>_<timestamp>)")
    sw.add_argument("--no-cache", action="store_true")
    sw.add_argument("--cache-dir", default=None)
    sw.add_argument("--no-figures", action="store_true")

    dg = sub.add_parser("diagnose", help="log, prediction, stability and findings for one file")
    dg.add_argument("path")
    _model_args(dg)
    dg.add_argument("--no-stability", action="store_true", help="skip the perturbation test")
    dg.add_argument("--json", action="store_true")

    sg = sub.add_parser("segment", help="long audio: VAD segments, per-segment emotions, dominant emotion, timeline and heatmap")
    sg.add_argument("path")
    _model_args(sg)
    sg.add_argument("--max", type=float, default=25.0, help="longest segment in seconds (default 25)")
    sg.add_argument("--min-silence", type=float, default=0.3, help="silence that ends a segment, seconds (default 0.3)")
    sg.add_argument("--min-speech", type=float, default=0.25, help="shorter speech is dropped, seconds (default 0.25)")
    sg.add_argument("--vad", default="silero", choices=["silero", "energy"])
    sg.add_argument("--threshold", type=float, default=0.5, help="silero speech probability that starts speech (default 0.5)")
    sg.add_argument("--merge-gap", type=float, default=2.0, help="timeline: merge same-label neighbours closer than this (default 2 s)")
    sg.add_argument("--out", default=None, help="output folder (default outputs/segment_<name>_<timestamp>)")
    sg.add_argument("--no-figures", action="store_true")
    sg.add_argument("--json", action="store_true", help="print summary.json instead of the timeline")

    em = sub.add_parser("embeddings", help="2-D projection, clusters and nearest neighbours of a run's utterance embeddings")
    em.add_argument("run_dir")
    em.add_argument("--variant", default=None)
    em.add_argument("--project", default="pca", choices=["pca", "tsne", "umap"])
    em.add_argument("--color-by", nargs="*", default=["emotion", "pred", "correct", "speaker"], help="columns to colour the projection by (one figure each)")
    em.add_argument("--cluster", default="kmeans", choices=["kmeans", "agglomerative", "none"])
    em.add_argument("--k", type=int, default=None, help="number of clusters (default: best silhouette for k=2..10)")
    em.add_argument("--neighbours", default=None, help="an item id of the run, or an audio file, to list its nearest items")
    em.add_argument("-n", type=int, default=5, help="how many neighbours")
    _model_args(em)
    em.add_argument("--seed", type=int, default=0)

    si = sub.add_parser("similar", help="cosine similarity of two files' emotion2vec+ embeddings")
    si.add_argument("a")
    si.add_argument("b")
    _model_args(si)
    si.add_argument("--json", action="store_true")

    fu = sub.add_parser("fuse", help="speech, text, early and late fusion under speaker-independent cross-validation")
    fu.add_argument("run_dir")
    fu.add_argument("--variant", default=None)
    fu.add_argument("--text-model", default=None, help="sentence-transformers name or folder (default: the bundled English all-MiniLM-L6-v2)")
    fu.add_argument("--folds", type=int, default=5)
    fu.add_argument("--seed", type=int, default=0)
    fu.add_argument("--bootstrap", type=int, default=1000)
    fu.add_argument("--no-figures", action="store_true")

    rp = sub.add_parser("report", help="execute a report template with papermill into reports/<name>/<timestamp>/ (notebook, HTML, metrics.json)")
    rp.add_argument("template", help="experiment_report, variant_comparison, or a notebook path")
    rp.add_argument("--param", "-p", action="append", default=[], help="key=value (repeatable), e.g. run_dir=runs/my_run")
    rp.add_argument("--out", default="reports")

    d = sub.add_parser("demo", help="infer on the demo clips, then an experiment report on the demo set")
    d.add_argument("--out", default="outputs")
    d.add_argument("--model", default=None, help="defaults to $WORKBENCH_MODEL, a local emotion2vec_plus_large download, or tiny")
    d.add_argument("--no-report", action="store_true", help="skip the experiment report at the end")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # third-party log lines, warnings and bars go to the log file; the workbench's own lines to stderr
    route_logs(verbose=args.verbose)
    try:
        if args.command == "infer":
            return cmd_infer(args)
        if args.command == "model" and args.model_command == "make-tiny":
            return cmd_make_tiny(args)
        if args.command == "model" and args.model_command == "info":
            return cmd_model_info(args)
        if args.command == "datasets":
            return cmd_datasets(args)
        if args.command == "run":
            return cmd_run(args)
        if args.command == "metrics":
            return cmd_metrics(args)
        if args.command == "diagnose":
            return cmd_diagnose(args)
        if args.command == "segment":
            return cmd_segment(args)
        if args.command == "embeddings":
            return cmd_embeddings(args)
        if args.command == "similar":
            return cmd_similar(args)
        if args.command == "fuse":
            return cmd_fuse(args)
        if args.command == "report":
            return cmd_report(args)
        if args.command == "compare":
            return cmd_compare(args)
        if args.command == "sweep":
            return cmd_sweep(args)
        if args.command == "demo":
            from .demo import run_demo

            return run_demo(out=args.out, model=args.model, report=not args.no_report)
    except WorkbenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 2


def cmd_infer(args) -> int:
    from .audio import AudioConfig
    from .outputs import infer_files

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
    )
    print_outcomes(outcomes, show_log=args.show_log)
    return 0 if all(o.ok for o in outcomes) else 1


def print_outcomes(outcomes, *, show_log: bool = False, out=None) -> None:
    """Print the random-weights banner (once), optional logs and a results table."""
    out = out or sys.stdout
    if any(o.result and o.result.get("random_weights") for o in outcomes):
        from .model import RANDOM_WEIGHTS_BANNER

        print(f"!! {RANDOM_WEIGHTS_BANNER}", file=out)
    if show_log:
        for o in outcomes:
            print(f"\n== {o.input}", file=out)
            print(o.log.render(), file=out)
        print(file=out)
    rows = [("input", "emotion", "conf", "margin", "dur s", "folder / error")]
    for o in outcomes:
        name = Path(o.input).name if o.input else "?"
        if o.ok and o.prediction is not None:
            p = o.prediction
            rows.append((name, p.label, f"{p.confidence:.3f}", f"{p.margin:.3f}", f"{p.duration:.2f}", str(o.folder)))
        else:
            msg = (o.error or {}).get("message", "failed")
            rows.append((name, "FAILED", "-", "-", "-", f"{msg}  [{o.folder}]"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5], file=out)
    failed = sum(not o.ok for o in outcomes)
    print(f"{len(outcomes) - failed} succeeded, {failed} failed", file=out)


def cmd_datasets(args) -> int:
    from .corpora import import_emobox, prepare
    from .manifest import write_manifest

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
    mapped = sum(1 for it in m.items if it.emotion)
    print(f"wrote {out}: {report.summary()}; {mapped} with an emotion2vec+ counterpart, {len(m) - mapped} without")
    by_label: dict = {}
    for it in m.items:
        by_label.setdefault((it.label, it.emotion or "—"), 0)
        by_label[(it.label, it.emotion or "—")] += 1
    for (label, emo), n in sorted(by_label.items()):
        print(f"  {label:>12} → {emo:<10} {n}")
    return 0 if report.ok else 1


def _ray_options(args):
    from .distributed import RayOptions

    return RayOptions(address=args.ray_address, actors=args.ray_actors, cpus_per_actor=args.ray_cpus_per_actor,
                      gpus_per_actor=args.ray_gpus_per_actor)


def cmd_run(args) -> int:
    from datetime import datetime

    from .runs import load_variants, run

    out = args.out or f"runs/{Path(args.manifest).stem}_{datetime.now().strftime('%Y%m%d_%H%M%S')}"
    result = run(
        args.manifest, out_dir=out, model=args.model, hub=args.hub, revision=args.revision, device=args.device,
        dtype=args.dtype, variants=load_variants(args.variants), frame_embeddings=args.frame_embeddings,
        chunk_size=args.chunk, use_cache=not args.no_cache, cache_dir=args.cache_dir, progress=True,
        engine=args.engine, ray_options=_ray_options(args) if args.engine == "ray" else None,
    )
    if result.summary.get("random_weights"):
        from .model import RANDOM_WEIGHTS_BANNER

        print(f"!! {RANDOM_WEIGHTS_BANNER}")
    print(f"run folder: {result.run_dir}")
    print(f"{result.n_rows} rows, {result.n_failed} failed, {result.n_cached} from cache, {result.n_resumed} resumed, {result.seconds:.1f} s")
    for v, d in result.summary.get("variants", {}).items():
        acc = "n/a" if d["accuracy"] is None else f"{d['accuracy']:.3f}"
        print(f"  {v}: {d['labelled']} labelled (accuracy {acc}), {d['excluded_no_counterpart']} without counterpart, {d['failed']} failed")
    return 0


def cmd_metrics(args) -> int:
    import json as _json

    from .metrics import run_metrics

    reports = run_metrics(args.run_dir, restrict=args.restrict, by=args.by, figures=not args.no_figures)
    summary = Path(args.run_dir) / "summary.json"
    if summary.is_file() and _json.loads(summary.read_text()).get("random_weights"):
        from .model import RANDOM_WEIGHTS_BANNER

        print(f"!! {RANDOM_WEIGHTS_BANNER}")
    for r in reports.values():
        print(r.render())
    print(f"metrics.json{'' if args.no_figures else ' and figures'} written to {args.run_dir}")
    return 0


def _random_banner_for(run_dir) -> None:
    summary = Path(run_dir) / "summary.json"
    if summary.is_file() and json.loads(summary.read_text(encoding="utf-8")).get("random_weights"):
        from .model import RANDOM_WEIGHTS_BANNER

        print(f"!! {RANDOM_WEIGHTS_BANNER}")


def cmd_compare(args) -> int:
    import pandas as pd

    from .compare import compare_run

    baseline = args.baseline
    if baseline is None:
        path = Path(args.run_dir) / "results.parquet"
        variants = list(dict.fromkeys(pd.read_parquet(path, columns=["variant"])["variant"])) if path.is_file() else ["raw"]
        baseline = "raw" if "raw" in variants else variants[0]
    reports, comparisons, flips = compare_run(args.run_dir, baseline=baseline, n_boot=args.bootstrap, seed=args.seed,
                                              restrict=args.restrict, figures=not args.no_figures)
    _random_banner_for(args.run_dir)
    for name, r in reports.items():
        ci = r.ci
        print(f"{name:>20}: WA {r.wa:.3f} [{ci['wa'][0]:.3f}, {ci['wa'][1]:.3f}]  UAR {r.uar:.3f} [{ci['uar'][0]:.3f}, {ci['uar'][1]:.3f}]  ({r.n_scored} scored)")
    for c in comparisons:
        print(c.render())
    if len(flips):
        print(f"\n{len(flips)} flips (first 10; all in flips.csv):")
        print(flips.head(10)[["id", "variant", "emotion", "pred_baseline", "confidence_baseline", "pred_variant", "confidence_variant"]].to_string(index=False))
    print(f"compare.json, flips.csv{'' if args.no_figures else ' and figures'} written to {args.run_dir}")
    return 0


def cmd_sweep(args) -> int:
    from datetime import datetime

    from .sweep import sweep, summarise_sweep

    out = args.out or f"runs/sweep_{args.kind}_{Path(args.source).stem}_{datetime.now().strftime('%Y%m%d_%H%M%S')}"
    df = sweep(args.source, kind=args.kind, out_dir=out, model=args.model, hub=args.hub, revision=args.revision,
               device=args.device, use_cache=not args.no_cache, cache_dir=args.cache_dir, figures=not args.no_figures)
    _random_banner_for(out)
    print(summarise_sweep(df, args.kind).to_string(index=False))
    print(f"sweep.csv{'' if args.no_figures else ', sweep.png'} and the run written to {out}")
    return 0 if (df["status"] == "ok").all() else 1


def cmd_segment(args) -> int:
    from .longform import SegmentConfig, segment_file

    cfg = SegmentConfig(vad=args.vad, max_segment_s=args.max, min_silence_s=args.min_silence, min_speech_s=args.min_speech,
                        threshold=args.threshold, merge_gap_s=args.merge_gap)
    res = segment_file(args.path, model=args.model, hub=args.hub, revision=args.revision, device=args.device, out_dir=args.out,
                       config=cfg, figures=not args.no_figures, progress=sys.stderr.isatty())
    if args.json:
        print(json.dumps(res.summary, indent=2, ensure_ascii=False, default=str))
    else:
        print(res.render())
        print(f"segments.csv, timeline.csv, heatmap.npz{'' if args.no_figures else ', heatmap.png'} and summary.json written to {res.out_dir}")
    return 0


def cmd_embeddings(args) -> int:
    from .embeddings import cluster, load_run_embeddings, neighbours, plot_projection, project

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
            from .model import load_model

            model = load_model(args.model, hub=args.hub, revision=args.revision, device=args.device)
        print(f"nearest to {args.neighbours}:")
        print(neighbours(emb, args.neighbours, args.n, model=model).to_string(index=False))
    return 0


def cmd_similar(args) -> int:
    from .embeddings import similar
    from .model import load_model

    net = load_model(args.model, hub=args.hub, revision=args.revision, device=args.device)
    r = similar(args.a, args.b, net)
    if args.json:
        print(json.dumps(r, indent=2, ensure_ascii=False))
        return 0
    if r["random_weights"]:
        from .model import RANDOM_WEIGHTS_BANNER

        print(f"!! {RANDOM_WEIGHTS_BANNER}")
    print(f"cosine similarity {r['cosine']:.4f}")
    print(f"  {r['a']}: {r['label_a']} ({r['confidence_a']:.3f})")
    print(f"  {r['b']}: {r['label_b']} ({r['confidence_b']:.3f})")
    return 0


def cmd_fuse(args) -> int:
    from .fusion import fuse_run

    res = fuse_run(args.run_dir, variant=args.variant, text_model=args.text_model, folds=args.folds, seed=args.seed,
                   n_boot=args.bootstrap, figures=not args.no_figures)
    _random_banner_for(args.run_dir)
    print(res.render())
    fixed = res.changes
    if len(fixed):
        print(f"\n{len(fixed)} fixed/broken predictions relative to speech (first 10; all in fusion_changes.csv):")
        print(fixed.head(10)[["method", "change", "id", "emotion", "pred_speech", "pred_method"]].to_string(index=False))
    print(f"fusion.json, fusion_items.csv, fusion_changes.csv{'' if args.no_figures else ', fusion.png'} written to {args.run_dir}")
    return 0


def cmd_report(args) -> int:
    from .reporting import parse_params, run_report

    paths = run_report(args.template, parse_params(args.param), out=args.out)
    metrics = json.loads(paths["metrics"].read_text(encoding="utf-8"))
    if metrics.get("random_weights"):
        from .model import RANDOM_WEIGHTS_BANNER

        print(f"!! {RANDOM_WEIGHTS_BANNER}")
    size = paths["html"].stat().st_size
    print(f"report: {paths['html']} ({size / 1e6:.1f} MB, self-contained)")
    print(f"executed notebook: {paths['notebook']}\nmetrics: {paths['metrics']}")
    return 0


def cmd_diagnose(args) -> int:
    from .diagnostics import diagnose
    from .model import load_model

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
    return 0


def cmd_make_tiny(args) -> int:
    from .checkpoints import build_random_checkpoint, random_checkpoint_info

    path = build_random_checkpoint(args.dir, arch=args.arch, seed=args.seed)
    info = random_checkpoint_info(path)
    print(f"wrote a random {args.arch} emotion2vec+ checkpoint ({info['parameters']:,} parameters, seed {args.seed}) to {path}")
    print("load it with --model", path, " — its predictions mean nothing.")
    return 0


def cmd_model_info(args) -> int:
    from .model import load_model

    net = load_model(args.model, hub=args.hub, revision=args.revision, device=args.device)
    info = net.info.to_dict()
    if args.json:
        print(json.dumps(info, indent=2, ensure_ascii=False))
        return 0
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
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
