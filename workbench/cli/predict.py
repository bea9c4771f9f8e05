"""``workbench infer``, ``diagnose`` and ``similar``: predictions for single files."""

from __future__ import annotations

from workbench.files import strict_json
from workbench.paths import refuse_url
from pathlib import Path

from workbench.audio.intake import AudioConfig, check_audio_path
from workbench.analysis.similarity import REFERENCE_MAX_CLIPS, reference_set, similar
from workbench.engine.diagnosis import diagnose
from workbench.runs.outputs import infer_files, print_outcomes
from workbench.cli import onnx
from workbench.cli.common import (model_ref_from_args, EXIT_FAILED_ITEMS, EXIT_OK, add_command, banner, check_out_dir, model_options, positive_float, add_out_option,
                     say_loading, screen_text)


def add_infer(sub) -> None:
    p = add_command(sub, "infer", help="predict the emotion of audio files: one output folder each (result.json, processed audio, log)",
             example=("workbench infer clip.wav other.mp3 --model tiny --granularity frame --embedding --out outputs",
                      "workbench infer -- -strange-name.wav      # `--` before names that start with '-'"))
    p.add_argument("paths", nargs="+", help="audio files (wav, flac, ogg, opus, mp3, m4a, …)")
    model_options(p)
    onnx.add_backend_option(p)
    p.add_argument("--granularity", default="utterance", choices=["utterance", "frame"],
                   help="utterance: one prediction per file; frame: also 50 per-frame scores per second")
    p.add_argument("--embedding", action="store_true", help="also write embedding.npy")
    add_out_option(p, what="receives one new outputs_YYYYMMDD_HHMMSS/ folder per input (processed_audio.wav, result.json, log.txt; embedding.npy with --embedding)", value="outputs")
    p.add_argument("--max-duration", type=positive_float, default=None,
                   help="refuse inputs longer than this many seconds (default: 120)")
    p.add_argument("--resampler", default="soxr", choices=["soxr", "scipy", "librosa"], help="resampler to 16 kHz")
    p.add_argument("--show-log", action="store_true", help="print each input's processing log")


def add_diagnose(sub) -> None:
    dg = add_command(sub, "diagnose", help="log, prediction, stability and findings for one file",
              example=("workbench diagnose clip.wav --model tiny --json",))
    dg.add_argument("path", help="an audio file")
    model_options(dg)
    dg.add_argument("--no-stability", action="store_true", help="skip the perturbation test")
    dg.add_argument("--json", action="store_true", help="print JSON instead of text")


def add_similar(sub) -> None:
    si = add_command(sub, "similar", help="cosine similarity of two files' emotion2vec+ embeddings, placed among reference pairs",
              example=("workbench similar a.wav b.wav --model tiny",
                       "workbench similar a.wav b.wav --reference corpus/manifest.csv   # pairs of your own corpus as the reference"))
    si.add_argument("a", help="first audio file")
    si.add_argument("b", help="second audio file")
    model_options(si)
    si.add_argument("--reference", metavar="MANIFEST_OR_FOLDER", default=None,
                    help="clips whose pairwise cosines (same checkpoint) give the pair's cosine its scale: embeddings are "
                         "anisotropic, so different clips often reach 0.8+ (default: the shipped demo clips; "
                         f"at most {REFERENCE_MAX_CLIPS} clips are scored, a seeded sample of a larger set)")
    si.add_argument("--no-cache", action="store_true", help="do not read or write the prediction cache (the reference clips are "
                    "scored again on every call)")
    si.add_argument("--cache-dir", default=None, help="prediction cache folder (default: $WORKBENCH_CACHE/predictions, else "
                    "~/.cache/emotion-workbench/predictions)")
    si.add_argument("--json", action="store_true", help="print JSON instead of text")


def cmd_infer(args) -> int:
    check_out_dir(args.out)
    cfg = AudioConfig(resampler=args.resampler)
    if args.max_duration is not None:  # checked as a file's setting is: 1e308 made every file fail to decode
        cfg = AudioConfig.from_dict({"resampler": args.resampler, "max_duration_s": args.max_duration}, source="--max-duration")
    outcomes = infer_files(
        args.paths,
        model=onnx.onnx_model_for(args, progress=say_loading) if args.backend == "onnxruntime" else model_ref_from_args(args),
        granularity=args.granularity,
        embedding=args.embedding,
        out_dir=args.out,
        audio_config=cfg,
        load_progress=say_loading,
    )
    print_outcomes(outcomes, show_log=args.show_log)
    return EXIT_OK if all(o.ok for o in outcomes) else EXIT_FAILED_ITEMS


def cmd_similar(args) -> int:
    for name, path in (("A", args.a), ("B", args.b)):
        refuse_url(path, name)  # Path folded http:// into http:/, and the error named a file the user never wrote
        check_audio_path(Path(path))
    reference = reference_set(args.reference)  # refused before the model loads
    net = model_ref_from_args(args).load()
    r = similar(args.a, args.b, net, reference=reference, use_cache=not args.no_cache, cache_dir=args.cache_dir)
    if args.json:
        print(strict_json(r))
        return EXIT_OK
    banner(r["random_weights"])
    for line in r["errors"]:  # said before the cosine, which they make meaningless
        print(f"!! {line}")
    ref = r["reference"]
    print(f"cosine similarity {r['cosine']:.4f}: {ref['words']}")
    print(f"  {screen_text(r['a'])}: {r['label_a']} ({r['confidence_a']:.3f})")
    print(f"  {screen_text(r['b'])}: {r['label_b']} ({r['confidence_b']:.3f})")
    notes = ref["notes"] + ([f"{ref['clips_failed']} reference clip(s) could not be scored: {'; '.join(ref['failed'])}"]
                            if ref["clips_failed"] else [])
    cached = f" ({ref['clips_from_cache']} from the prediction cache)" if ref["clips_from_cache"] else ""
    print(f"  reference: {ref['source']}, {ref['clips_scored']} clip(s) scored{cached}" + "".join(f"; {n}" for n in notes))
    print(f"  model: {screen_text(r['model'])} ({r['dtype']}), for the pair and the reference alike")
    return EXIT_OK


def cmd_diagnose(args) -> int:
    refuse_url(args.path, "PATH")
    check_audio_path(Path(args.path))
    net = model_ref_from_args(args).load()
    d = diagnose(args.path, net, run_stability=not args.no_stability)
    if args.json:
        payload = {
            "input": d.audio.source.to_dict(), "log": d.audio.log.to_list(), "prediction": d.prediction.to_dict(frames=False),
            "facts": d.facts, "findings": [f.to_dict() for f in d.findings],
            "stability": d.stability.to_dict() if d.stability else None, "random_weights": net.random_weights,
            "model": {"id": net.info.id, "dtype": net.info.dtype, "checksum": net.info.checksum},
        }
        print(strict_json(payload))
    else:
        print(d.render())
        # --dtype auto may pick onnx-int8: the label and the stability verdict depend on the precision that scored them
        print(f"model: {screen_text(net.info.id)} ({net.info.dtype}), for the prediction and every perturbation alike")
    return EXIT_OK


COMMANDS = {"infer": cmd_infer, "diagnose": cmd_diagnose, "similar": cmd_similar}
