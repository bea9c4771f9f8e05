"""``workbench sweep`` and ``segment``: one signal through a grid of conditions, or long audio in segments.

``segment`` cuts by voice activity, or with ``--transcript FILE`` by the spans of a timed
transcript (TextGrid, CTM, SubRip, WebVTT, lhotse): one emotion per sentence
(:func:`workbench.explain.transcript.transcript_file`).
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

from workbench.audio.intake import check_audio_path
from workbench.errors import ConfigError, WorkbenchError, printable, printable_table
from workbench.explain.transcript import transcript_file
from workbench.explain.words import ALIGNMENT_SUFFIXES
from workbench.files import strict_json
from workbench.model.generated import read_training_card
from workbench.paths import shell_command
from workbench.runs.folder import select_mask
from workbench.runs.longform import SegmentConfig, dominant_words, segment_file
from workbench.runs.sweep import summarise_sweep, sweep, sweep_display
from workbench.cli.common import (model_ref_from_args, typed_command, screen_text, EXIT_FAILED_ITEMS, EXIT_OK, add_command, check_out_dir, model_options, non_negative_float, add_out_option,
                     positive_float, random_banner_for)


def add_sweep(sub) -> None:
    sw = add_command(sub, "sweep", help="one file or manifest through a grid of sample rates, trims, SNRs, noise reduction, pitch shifts or tempo changes",
              example=("workbench sweep clip.wav --kind sample-rate --model tiny",
                       "workbench sweep datasets/emodb.csv --kind snr --out runs/emodb_snr"))
    sw.add_argument("source", help="an audio file or a manifest (.csv, .jsonl, .parquet)")
    sw.add_argument("--kind", required=True, choices=["sample-rate", "trim", "snr", "denoise", "pitch", "tempo"], help="what the grid varies")
    model_options(sw)
    add_out_option(sw, what="the sweep's run folder, sweep.csv and sweep.png", default="a new runs/sweep_<kind>_<name>_<timestamp>")
    sw.add_argument("--no-cache", action="store_true", help="do not read or write the prediction cache")
    sw.add_argument("--cache-dir", default=None, help="prediction cache folder (default: $WORKBENCH_CACHE/predictions, else ~/.cache/emotion-workbench/predictions)")
    sw.add_argument("--no-figures", action="store_true", help="skip sweep.png")


def add_segment(sub) -> None:
    sg = add_command(sub, "segment", help="long audio: VAD segments (or a timed transcript's sentences), per-segment emotions, "
                     "dominant emotion, timeline and heatmap",
              example=("workbench segment meeting.mp3 --max 25 --min-silence 0.3 --vad energy --model tiny",
                       "workbench segment interview.wav --transcript interview.srt --model tiny"))
    sg.add_argument("path", help="a (long) audio file")
    model_options(sg)
    sg.add_argument("--transcript", default=None, metavar="FILE",
                    help="score each span of this timed transcript instead of VAD segments (per-sentence emotion): "
                         f"{', '.join(ALIGNMENT_SUFFIXES)} or lhotse .jsonl[.gz]; writes sentences.csv, transcript_summary.json and log.txt; the recording may be of any length, each span at most 120 s")
    sg.add_argument("--tier", default=None, help="with --transcript: the TextGrid tier (default: 'words'/'word') or lhotse alignment type")
    defaults = SegmentConfig()
    # VAD options default to None so that giving one with --transcript (which replaces the VAD) is refused, not ignored
    sg.add_argument("--max", type=positive_float, default=None, help=f"longest segment in seconds (default: {defaults.max_segment_s:g})")
    sg.add_argument("--min-silence", type=non_negative_float, default=None, help=f"silence that ends a segment, seconds (default: {defaults.min_silence_s:g})")
    sg.add_argument("--min-speech", type=non_negative_float, default=None, help=f"shorter speech is dropped, seconds (default: {defaults.min_speech_s:g})")
    sg.add_argument("--vad", default=None, choices=["silero", "energy"], help=f"voice activity detector (default: {defaults.vad})")
    sg.add_argument("--threshold", type=float, default=None, help=f"silero speech probability that starts speech (default: {defaults.threshold:g})")
    sg.add_argument("--merge-gap", type=non_negative_float, default=2.0, help="timeline: merge same-label neighbours closer than this many seconds")
    add_out_option(sg, what="segments, timeline, summary and heatmap (sentences.csv with --transcript)",
                   default="a new outputs/segment_<name>_<timestamp> (outputs/transcript_<name>_<timestamp> with --transcript)")
    sg.add_argument("--no-figures", action="store_true", help="skip heatmap.png")
    sg.add_argument("--json", action="store_true", help="print the summary (summary.json, or transcript_summary.json with --transcript) instead of the timeline")


#: options of the VAD that a transcript replaces
VAD_OPTIONS = (("--max", "max"), ("--min-silence", "min_silence"), ("--min-speech", "min_speech"), ("--vad", "vad"),
               ("--threshold", "threshold"))
#: sentences printed on screen (all are in sentences.csv)
SHOWN_SPANS = 40


def cmd_sweep(args) -> int:
    out = args.out or f"runs/sweep_{args.kind}_{Path(args.source).stem}_{datetime.now().strftime('%Y%m%d_%H%M%S')}"
    check_out_dir(out)
    typed = getattr(args, "command_line", None) or ["sweep", args.source, "--kind", args.kind]  # log.txt names the command that resumes it
    df = sweep(args.source, kind=args.kind, out_dir=out, model=model_ref_from_args(args), use_cache=not args.no_cache, cache_dir=args.cache_dir,
               figures=not args.no_figures, resume_command=shell_command("workbench", *typed, *([] if args.out else ["--out", out])),
               command_line=typed_command(args))
    random_banner_for(out)
    print(printable_table(sweep_display(summarise_sweep(df, args.kind)), index=False, na_rep="—", text_left=True))
    print(f"sweep.csv{'' if args.no_figures else ', sweep.png'} and the run written to {out}")
    return EXIT_OK if select_mask(df).all() else EXIT_FAILED_ITEMS


def cmd_segment(args) -> int:
    check_audio_path(Path(args.path))
    if args.out is not None:
        check_out_dir(args.out)
    if args.transcript is not None:
        return _segment_transcript(args)
    if args.tier is not None:
        raise ConfigError("--tier applies to --transcript, and no transcript is given.", fix="add --transcript FILE, or drop --tier.")
    d = SegmentConfig()
    pick = lambda given, default: default if given is None else given  # noqa: E731
    cfg = SegmentConfig(vad=pick(args.vad, d.vad), max_segment_s=pick(args.max, d.max_segment_s), min_silence_s=pick(args.min_silence, d.min_silence_s),
                        min_speech_s=pick(args.min_speech, d.min_speech_s), threshold=pick(args.threshold, d.threshold), merge_gap_s=args.merge_gap)
    res = segment_file(args.path, model=model_ref_from_args(args), out_dir=args.out, config=cfg, figures=not args.no_figures,
                       progress=sys.stderr.isatty(), command_line=typed_command(args))
    if args.json:
        print(strict_json(res.summary))
    else:
        print(res.render())
        print(model_words(res.summary.get("model")))
        print(f"segments.csv, timeline.csv, heatmap.npz{'' if args.no_figures else ', heatmap.png'} and summary.json written to {res.out_dir}")
    return EXIT_FAILED_ITEMS if res.summary["n_failed"] else EXIT_OK  # a segment found and not scored is a failed item


def _segment_transcript(args) -> int:
    """``segment PATH --transcript FILE``: one prediction per transcript span, written to sentences.csv, transcript_summary.json and log.txt."""
    given = [flag for flag, name in VAD_OPTIONS if getattr(args, name) is not None]
    if given:
        raise ConfigError(f"{', '.join(given)} set the voice activity detector, and --transcript replaces it (its spans are the segments).",
                          fix=f"drop {', '.join(given)}, or drop --transcript to segment by voice activity.")
    # the transcript is read first: an unknown format or a bad time fails before the audio is decoded
    res = transcript_file(args.path, args.transcript, tier=args.tier, model=model_ref_from_args(args), out_dir=args.out,
                          command_line=typed_command(args))
    table, summary = res.table, res.summary
    failed = summary["n_failed"] + summary["n_left_out"]  # a span left out of the transcript is a span not scored
    if args.json:
        print(strict_json(summary))
        return EXIT_OK if not failed else EXIT_FAILED_ITEMS
    if summary["warning"]:
        print(f"!! {summary['warning']}")
    for w in summary["decode_warnings"]:
        print(f"!! {screen_text(w)}")
    if summary["overlaps"]["pairs"]:
        print(f"!! {summary['overlaps']['words']}")
    if summary["n_left_out"]:
        print(f"!! {screen_text(summary['left_out']['words'])} (the others are scored)")
    print(f"{Path(args.path).name}: {summary['duration_s']:.1f} s, {len(table)} transcript spans from {Path(args.transcript).name}, "
          f"{summary['n_scored']} scored, {summary['n_failed']} failed"
          + (f", {summary['n_left_out']} left out (named above)" if summary["n_left_out"] else ""))
    print(dominant_words(summary["dominant"], summary["label_counts"], "spans", summary.get("dominant_test")))
    if summary.get("dominant_check"):
        print(f"!! {summary['dominant_check']}")
    shown = table.head(SHOWN_SPANS)
    print(f"per span (showing {len(shown)} of {len(table)}):" if len(table) > SHOWN_SPANS else "per span:")
    for r in shown.itertuples():
        what = f"{r.label:<9} conf {r.confidence:.3f}" if r.status == "ok" else f"failed: {r.error}"
        text = screen_text(" ".join(str(r.text).split()))
        shared = f"  [{r.overlap_s:.2f} s overlapped]" if r.overlap_s > 0 else ""
        print(f"  {r.start:8.2f} – {r.end:8.2f} s  {what}  {text[:60]}{'…' if len(text) > 60 else ''}{shared}")
    print(model_words(summary.get("model")))
    print(f"sentences.csv, transcript_summary.json and log.txt written to {res.out_dir}")
    return EXIT_OK if not failed else EXIT_FAILED_ITEMS


def model_words(model) -> str:
    """The model that labelled the segments, its precision and classes, and for a head ``workbench finetune`` trained,
    what it was trained on: the screen named no model, so a head's own labels read as the checkpoint's."""
    model = model if isinstance(model, dict) else {}
    line = f"model: {model.get('id', '?')} ({model.get('dtype', '?')}), classes {', '.join(map(str, model.get('labels') or [])) or '?'}"
    try:
        card = read_training_card(model.get("id"))
    except (WorkbenchError, OSError, TypeError, ValueError):  # an unreadable card: the line names the model alone
        card = None
    parent = card.get("parent") if isinstance(card, dict) and isinstance(card.get("parent"), dict) else None
    if parent is None:
        return line
    return (line + f": a head `workbench finetune` trained on the embeddings of {printable(parent.get('id', '?'))}"
            + (" (RANDOM WEIGHTS: the head means nothing either)" if parent.get("random_weights") else ""))


COMMANDS = {"sweep": cmd_sweep, "segment": cmd_segment}
