"""``workbench model export-onnx`` and the ``--backend onnxruntime`` model for ``run`` and ``infer``.

The parser-building function takes the CLI's helpers as arguments (``add``: the subcommand
maker, ``model_args``: the --model/--hub/--revision/--device options), so this module does not
import :mod:`workbench.cli` and the CLI imports it in one direction.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any, Callable

from workbench import files
from workbench.errors import ConfigError
from workbench.analysis.stats import proportion_interval
from workbench.model.network import RANDOM_WEIGHTS_BANNER, load_model
from workbench.model.onnx_backend import (
    BACKENDS, check_clips, compare_backends, is_onnx_folder, load_onnx_model, refuse_unfinished, resolve_onnx_dtype)
from workbench.model.fastpath import MIN_COSINE, MIN_TOP1_AGREEMENT, shortfalls
from workbench.model.onnx_export import (
    META_FILE, ONNX_FILE, ONNX_INT8_FILE, export_onnx, pending_check, publish_export, record_check, refuse_links)
from workbench.model.precision import describe_choice
from workbench.paths import shell_command
from workbench.cli.common import EXIT_FAILED_ITEMS, EXIT_OK, add_command, model_options, resolve_temperature, add_out_option


def add_export_onnx(msub: Any) -> None:
    """Register ``export-onnx`` in the ``model`` command group."""
    p = add_command(msub, "export-onnx", help="export a checkpoint to ONNX (scores, frame scores, embeddings; dynamic batch and length)",
            description="Write DIR/model.onnx (inputs: waveforms (batch, samples) float32 at 16 kHz and lengths (batch,) int64; "
                        "outputs: scores, logits, frame_scores, frame_logits, embedding, frame_embeddings, frame_lengths) and "
                        "DIR/model.json (labels, sample rate, normalisation, frame rate, source checksum). The export is then "
                        "checked against PyTorch on seeded speech-like clips; with --int8 the quantised graph is compared with "
                        "the float32 one (Cohen's kappa, top-1 agreement, max |Δ score|, embedding cosine). A graph passes with "
                        "the bounds --dtype auto uses (top-1 agreement and minimum embedding cosine); the figures and verdicts "
                        "are recorded in model.json, a failing graph is kept but refused by --backend onnxruntime, and the "
                        "command exits 1. The graphs are checked before they are moved into DIR; until then DIR/model.json "
                        "marks the export unfinished, and a folder whose export stopped half-way is refused with the command "
                        "that redoes it.",
            example=("workbench model export-onnx --model tiny --out /tmp/e2v_onnx --int8",
                     "workbench run my_wavs.csv --backend onnxruntime --model /tmp/e2v_onnx --dtype int8"))
    model_options(p, dtype="float32")  # the export traces the exact model
    add_out_option(p, what="model.onnx and model.json (and model.int8.onnx)", value="onnx")
    p.add_argument("--int8", action="store_true", help="also write model.int8.onnx (onnxruntime dynamic int8 quantisation) and compare it")
    p.add_argument("--no-check", action="store_true", help="skip the comparison with PyTorch after the export")
    p.add_argument("--check-clips", type=int, default=12, help="seeded speech-like clips (1.5–6 s) the check scores")


def add_backend_option(p: Any) -> None:
    """``--backend torch|onnxruntime`` for a command that scores."""
    p.add_argument("--backend", default="torch", choices=list(BACKENDS),
                   help="torch: the FunASR network; onnxruntime: an export folder of `workbench model export-onnx` given as --model")


def onnx_model_for(args: Any, *, progress: Callable[[str], None] | None = None):
    """The ONNX Runtime model ``--backend onnxruntime --model DIR [--dtype] [--device]`` asks for (checked first)."""
    if getattr(args, "engine", "local") == "ray":
        raise ConfigError("--backend onnxruntime runs in this process only.", source="--engine ray",
                          fix="use --engine local with --backend onnxruntime, or --backend torch with Ray.")
    if getattr(args, "temperature", None) is not None:  # never a silently untempered score
        raise ConfigError("--temperature is not applied by the onnxruntime backend at run time.", source="--temperature",
                          fix="bake it into the graph: `workbench model export-onnx --temperature T`, or use --backend torch.")
    if args.model:
        refuse_unfinished(args.model)
    if not args.model or not is_onnx_folder(args.model):
        raise ConfigError("--backend onnxruntime needs --model to be an ONNX export folder (model.onnx + model.json).",
                          source=str(args.model or "--model"),
                          fix="export one first: workbench model export-onnx --model CHECKPOINT --out DIR, then pass --model DIR.")
    requested = getattr(args, "dtype", "float32")
    chosen, reason = resolve_onnx_dtype(requested, args.model)
    if progress is not None:
        progress(describe_choice(requested, chosen, reason) + " (onnxruntime)")
    device = "cpu" if args.device == "auto" else args.device
    model = load_onnx_model(args.model, dtype=chosen, device=device)
    model.dtype_reason = f"{reason} (onnxruntime)"  # recorded by workbench.runs.driver.run
    return model


def cmd_export_onnx(args: Any) -> int:
    if args.check_clips < 1:
        raise ConfigError(f"--check-clips must be 1 or more, given {args.check_clips}.", source="--check-clips", fix="pass e.g. 12.")
    if args.device not in ("auto", "cpu"):
        raise ConfigError(f"the export traces the model on the CPU; --device {args.device} is not used.", source="--device",
                          fix="leave --device out (the exported graph runs on a GPU through onnxruntime-gpu).")
    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise ConfigError("is a file, not a folder.", source=str(out), fix="choose a folder for --out (it is created when missing).")
    temperature = resolve_temperature(getattr(args, "temperature", None))  # checked (0.05-100) before the model loads
    net = load_model(args.model, hub=args.hub, revision=args.revision, device="cpu", dtype="float32",
                     progress=lambda line: print(f"  {line} …", file=sys.stderr, flush=True))
    if temperature is not None:
        net = net.with_temperature(temperature)  # the check below compares the graph with the tempered PyTorch model
    with files.folder_lock(out):  # a second export into --out meanwhile is refused: model.onnx of one, model.json of the other
        return _export_and_check(args, net, out, temperature)


def _redo_command(args: Any, out: Path) -> str:
    """The command line that makes this export again (what a folder whose export stopped half-way names)."""
    words = ["workbench", "model", "export-onnx", "--model", args.model or "iic/emotion2vec_plus_large", "--out", out]
    words += ["--hub", args.hub] if args.hub != "ms" else []
    words += ["--revision", args.revision] if args.revision else []
    words += ["--temperature", args.temperature] if getattr(args, "temperature", None) is not None else []
    words += ["--int8"] if args.int8 else []
    words += ["--no-check"] if args.no_check else ["--check-clips", args.check_clips] if args.check_clips != 12 else []
    return shell_command(*words)


def _export_and_check(args: Any, net: Any, out: Path, temperature: float | None) -> int:
    """Export into a folder of its own inside ``out``, check the graphs there, and only then move them into ``out``
    (:func:`~workbench.model.onnx_export.publish_export`).  Meanwhile ``out/model.json`` marks the export unfinished
    (:func:`~workbench.model.onnx_export.pending_check`): a kill before the end leaves graphs that are refused with the
    command that redoes them, never graphs that look like a ``--no-check`` export (or an earlier export's check)."""
    refuse_links(out)
    unfinished = {"format": "emotion-workbench-onnx/1", "file": ONNX_FILE, "check": pending_check(_redo_command(args, out))}
    files.write_json(out / META_FILE, unfinished)
    staging = files.ensure_folder(out / files.temporary_name("export"), root=out)  # swept as a dead writer's if killed
    try:
        result = export_onnx(net, staging, int8=args.int8, temperature=temperature)
        ok = _check_export(net, result, args.check_clips) if not args.no_check else True
        result = publish_export(result, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    if result.meta.get("random_weights"):
        print(f"!! {RANDOM_WEIGHTS_BANNER}")
    print(f"wrote {result.onnx}{f' and {result.int8}' if result.int8 else ''} and {out / META_FILE} ({result.seconds:.1f} s)"
          + ("" if args.no_check else f", {'checked' if ok else 'its check FAILED'}"))
    if temperature is not None:
        print(f"temperature T = {temperature:g} is baked into the graph: its logits are divided by T, its scores are softmax(logits / T)")
    if not ok:
        failed = ", ".join(ONNX_INT8_FILE if name == "int8" else ONNX_FILE for name, g in result.check["graphs"].items() if not g["ok"])
        print(f"!! the export check FAILED for {failed}: the files are kept for inspection, {out / META_FILE} "
              f"marks them failing (check.ok false), and `--backend onnxruntime` refuses to run a failing graph")
    if ok:
        print("score files with: " + shell_command("workbench", "run", "MANIFEST", "--backend", "onnxruntime", "--model", out,
                                                   *(["--dtype", "int8"] if result.int8 else []))
              + "   (or examples/onnx_score.py with only onnxruntime, numpy, soundfile)")
    return EXIT_OK if ok else EXIT_FAILED_ITEMS


def _check_export(net: Any, result: Any, n_clips: int) -> bool:
    """Each graph against its reference on seeded clips, judged by the bounds ``--dtype auto`` uses
    (:func:`workbench.model.fastpath.acceptable`); figures and verdicts go into ``model.json``.  Whether all passed."""
    clips = check_clips(n_clips)
    print(f"check on {len(clips)} seeded speech-like clips (1.5–6 s), batched; each graph passes with top-1 agreement "
          f"≥ {MIN_TOP1_AGREEMENT} and min embedding cosine ≥ {MIN_COSINE} (the bounds of --dtype auto):")
    float_graph = load_onnx_model(result.folder, dtype="float32")
    graphs = {"float32": _judged("onnxruntime float32", "PyTorch float32", compare_backends(net, float_graph, clips))}
    if result.int8:
        int8_graph = load_onnx_model(result.folder, dtype="int8")
        graphs["int8"] = _judged("onnxruntime int8", "onnxruntime float32", compare_backends(float_graph, int8_graph, clips))
    ok = all(g["ok"] for g in graphs.values())
    record_check(result, {"clips": len(clips), "seed": 0, "bounds": {"min_top1_agreement": MIN_TOP1_AGREEMENT,
                                                                     "min_cosine": MIN_COSINE},
                          "graphs": graphs, "ok": ok})
    return ok


def _judged(name: str, against: str, a: dict) -> dict:
    """One comparison on the screen (figures, bounds, passed/FAILED) and as model.json records it."""
    failed = shortfalls(a)
    cos = "n/a" if a.get("cosine_min") is None else f"{a['cosine_min']:.6f}"
    kappa = "n/a (one label)" if a["kappa"] != a["kappa"] else f"{a['kappa']:.3f}"
    verdict = "passed" if not failed else "FAILED: " + "; ".join(failed)
    same = a["n"] - a["n_label_flips"]
    low, high = proportion_interval(same, a["n"])
    print(f"  {name} vs {against}: top-1 agreement {a['top1_agreement']:.3f} ({same}/{a['n']}, exact 95 % interval "
          f"[{low:.3f}, {high:.3f}]; bound ≥ {MIN_TOP1_AGREEMENT}; {a.get('top1_certain', 'n/a')}/{a['n']} beyond a near tie), kappa {kappa}, max |Δ score| {a['max_abs_delta_score']:.2e}, "
          f"min embedding cosine {cos} (bound ≥ {MIN_COSINE}): {verdict}")
    figures = {k: a.get(k) for k in ("n", "top1_agreement", "top1_certain", "n_label_flips", "kappa", "max_abs_delta_score", "mean_max_abs_delta_score",
                                     "cosine_min", "cosine_mean")}
    figures["top1_agreement_ci"] = [low, high]
    # a top-1 share on a dozen clips cannot show the bound by itself: what its interval allows is said, not hidden
    figures["top1_interval_below_bound"] = bool(low < MIN_TOP1_AGREEMENT)
    if figures["top1_interval_below_bound"] and not failed:
        print(f"    ({a['n']} clips cannot show top-1 agreement ≥ {MIN_TOP1_AGREEMENT} by themselves: its interval reaches "
              f"{low:.3f}; the closeness of the scores and embeddings carries this check)")
    return {"against": against, "agreement": figures, "ok": not failed, "failed": failed}
