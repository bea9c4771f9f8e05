"""``workbench sweep`` and ``segment``: one signal through a grid of conditions, or long audio in segments."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

from workbench.audio.intake import check_audio_path
from workbench.runs.longform import SegmentConfig, segment_file
from workbench.runs.sweep import summarise_sweep, sweep
from workbench.cli.common import (model_ref_from_args, EXIT_FAILED_ITEMS, EXIT_OK, add_command, check_out_dir, model_options, non_negative_float,
                     positive_float, random_banner_for)


def add_sweep(sub) -> None:
    sw = add_command(sub, "sweep", help="one file or manifest through a grid of sample rates, trims, SNRs or noise reduction",
              example=("workbench sweep clip.wav --kind sample-rate --model tiny",
                       "workbench sweep datasets/emodb.csv --kind snr --out runs/emodb_snr"))
    sw.add_argument("source", help="an audio file or a manifest (.csv, .jsonl, .parquet)")
    sw.add_argument("--kind", required=True, choices=["sample-rate", "trim", "snr", "denoise", "pitch", "tempo"], help="what the grid varies")
    model_options(sw)
    sw.add_argument("--out", default=None, help="sweep folder (default: runs/sweep_<kind>_<name>_<timestamp>)")
    sw.add_argument("--no-cache", action="store_true", help="do not read or write the prediction cache")
    sw.add_argument("--cache-dir", default=None, help="prediction cache folder (default: $WORKBENCH_CACHE/predictions, else ~/.cache/emotion-workbench/predictions)")
    sw.add_argument("--no-figures", action="store_true", help="skip sweep.png")


def add_segment(sub) -> None:
    sg = add_command(sub, "segment", help="long audio: VAD segments, per-segment emotions, dominant emotion, timeline and heatmap",
              example=("workbench segment meeting.mp3 --max 25 --min-silence 0.3 --vad energy --model tiny",))
    sg.add_argument("path", help="a (long) audio file")
    model_options(sg)
    sg.add_argument("--max", type=positive_float, default=25.0, help="longest segment in seconds")
    sg.add_argument("--min-silence", type=non_negative_float, default=0.3, help="silence that ends a segment, seconds")
    sg.add_argument("--min-speech", type=non_negative_float, default=0.25, help="shorter speech is dropped, seconds")
    sg.add_argument("--vad", default="silero", choices=["silero", "energy"], help="voice activity detector")
    sg.add_argument("--threshold", type=float, default=0.5, help="silero speech probability that starts speech")
    sg.add_argument("--merge-gap", type=non_negative_float, default=2.0, help="timeline: merge same-label neighbours closer than this many seconds")
    sg.add_argument("--out", default=None, help="output folder (default: outputs/segment_<name>_<timestamp>)")
    sg.add_argument("--no-figures", action="store_true", help="skip heatmap.png")
    sg.add_argument("--json", action="store_true", help="print summary.json instead of the timeline")


def cmd_sweep(args) -> int:
    out = args.out or f"runs/sweep_{args.kind}_{Path(args.source).stem}_{datetime.now().strftime('%Y%m%d_%H%M%S')}"
    check_out_dir(out)
    df = sweep(args.source, kind=args.kind, out_dir=out, model=model_ref_from_args(args), use_cache=not args.no_cache, cache_dir=args.cache_dir, figures=not args.no_figures)
    random_banner_for(out)
    print(summarise_sweep(df, args.kind).to_string(index=False))
    print(f"sweep.csv{'' if args.no_figures else ', sweep.png'} and the run written to {out}")
    return EXIT_OK if (df["status"] == "ok").all() else EXIT_FAILED_ITEMS


def cmd_segment(args) -> int:
    check_audio_path(Path(args.path))
    if args.out is not None:
        check_out_dir(args.out)
    cfg = SegmentConfig(vad=args.vad, max_segment_s=args.max, min_silence_s=args.min_silence, min_speech_s=args.min_speech,
                        threshold=args.threshold, merge_gap_s=args.merge_gap)
    res = segment_file(args.path, model=model_ref_from_args(args), out_dir=args.out,
                       config=cfg, figures=not args.no_figures, progress=sys.stderr.isatty())
    if args.json:
        print(json.dumps(res.summary, indent=2, ensure_ascii=False, default=str))
    else:
        print(res.render())
        print(f"segments.csv, timeline.csv, heatmap.npz{'' if args.no_figures else ', heatmap.png'} and summary.json written to {res.out_dir}")
    return EXIT_OK


COMMANDS = {"sweep": cmd_sweep, "segment": cmd_segment}
