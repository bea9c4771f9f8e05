"""``workbench explain``: why the model said that, for one file or one item of a run.

Writes into ``--out``: ``explanation.json`` (strict JSON), ``explanation.png``
(the figure of :mod:`workbench.explain.figure`) and, only when a method that
passed its checks finds evidence for the class, ``top_evidence.wav`` (the
top-evidence span, playable; otherwise the screen and the JSON say "no span
supports this class").  A run item is scored with the run's model, dtype
included; the JSON records the dtype and how far the scores are from the
run's row.

``explanation.json`` carries the voice (F0 and intensity on the model's 50 frames/s, measured
by Praat at the audio's own rate, digital silence left out and counted) and, with ``--words``
or a run item's ``words`` column, each word's span, score per class (softmax of its mean frame
logit) and attribution share per method.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from workbench.audio.intake import check_audio_path, decode, load as load_audio, to_mono
from workbench.errors import ConfigError
from workbench.explain.attribution import METHODS, SAMPLE_RATE
from workbench.explain.explanation import check_explain_length, explain_clip, report_lines
from workbench.explain.figure import pitch_track, plot_explanation
from workbench.explain.voice import contours_on_frames
from workbench.explain.words import Word, item_alignment, read_alignment, validate_words, words_record
from workbench.data.manifest import read_manifest
from workbench.labels import LABEL_KEYS
from workbench.model.network import FRAME_RATE
from workbench.model.ref import ModelRef, check_same_model
from workbench.schema import SCORE_COLUMNS
from workbench.runs.folder import RunFolder
from workbench.cli.common import (model_ref_from_args, screen_text, EXIT_OK, add_command, add_json_option, add_out_option, check_out_dir,
                                  model_options, say_loading)


def add_explain(sub: Any) -> Any:
    """``workbench explain FILE`` or ``workbench explain RUN --item ID``."""
    p = add_command(sub, "explain", help="why the model said that: attribution (IG, occlusion, time-frequency occlusion) checked for faithfulness",
            example=("workbench explain clip.wav --model tiny --method occlusion --out explain_clip",
                     "workbench explain runs/my_wavs --item 03a01Fa --method all"))
    p.add_argument("source", help="an audio file, or a run folder (with --item)")
    p.add_argument("--item", default=None, help="item id in the run folder")
    p.add_argument("--variant", default=None, help="variant of the item (default: the run's first)")
    p.add_argument("--class", dest="target", default=None, metavar="CLASS",
                   help=f"class to explain: one of the model's labels ({', '.join(LABEL_KEYS)} for emotion2vec+; a fine-tuned "
                        "head's own) (default: the predicted one)")
    p.add_argument("--method", default="all", choices=[*METHODS, "all"], help="attribution method")
    p.add_argument("--steps", type=int, default=20, help="points on each deletion/insertion curve")
    p.add_argument("--randomisation", default="full", choices=["full", "cascading", "none"],
                   help="model-randomisation sanity check (none skips it; it costs one attribution per stage)")
    p.add_argument("--words", default=None, help="word alignment (TextGrid, CTM, SRT/WebVTT …): the words row of the figure and "
                   "per-word scores and attribution shares in explanation.json (default for a run item: its manifest's words column)")
    add_out_option(p, what="explanation.json, explanation.png and top_evidence.wav", default="explain_<name> in the working folder")
    add_json_option(p, "explanation.json")
    model_options(p, reads_run=True)
    p.add_argument("--other-model", action="store_true",
                   help="for a run item: explain with --model although its weights differ from the run's (said in every output)")
    return p


def _source_audio(args: Any) -> tuple[Any, Any, str, dict | None]:
    """(audio, model, name, row) from a file or a run item; for a run item the run's own model, dtype included, and its row."""
    src = Path(args.source)
    if src.is_dir():
        if not args.item:
            raise ConfigError("is a folder; explaining a run item needs --item ID.", source=str(src),
                              fix="pass --item with an id from the run's results (or give an audio file).")
        rf = RunFolder(src)
        row = rf.row(args.item, args.variant)
        audio = rf.scored_audio(row)
        check_explain_length(len(audio.samples), source=f"{src.absolute()}: item {args.item}")  # before the model loads
        # the run's own model unless told otherwise, and then refused when its weights differ (unless --other-model)
        recorded = ModelRef.from_run(rf.config, rf.summary)
        net = model_ref_from_args(args, base=replace(recorded, checksum=None)).load(progress=say_loading, gradients=True)
        other = check_same_model(net, recorded, allow_other=args.other_model)
        if other:
            print(f"!! {other}", file=sys.stderr if args.json else sys.stdout)  # --json: stdout holds the document only
        return audio, net, f"{args.item}" + (f"_{row.get('variant')}" if args.variant else ""), row
    if args.item or args.variant:
        raise ConfigError("--item and --variant apply to a run folder, and SOURCE is not a folder.", source=str(src),
                          fix="drop --item/--variant, or pass the run folder as SOURCE.")
    check_audio_path(src)
    audio = load_audio(src)
    check_explain_length(len(audio.samples), source=str(src.absolute()))  # before the model loads
    net = model_ref_from_args(args, base=ModelRef(dtype="float32")).load(progress=say_loading, gradients=True)
    return audio, net, src.stem, None


#: a run item's scores, recomputed by explain, must equal the row's within this (probability units)
ROW_TOLERANCE = 1e-4


def _compare_with_row(expl: Any, row: dict) -> dict:
    """How the explained scores compare with the run's row: the largest absolute difference and whether it is within tolerance."""
    stored = np.array([float(row[c]) for c in SCORE_COLUMNS], dtype=np.float64)
    got = np.array([expl.scores[k] for k in LABEL_KEYS], dtype=np.float64)
    gap = float(np.max(np.abs(stored - got)))
    return {"max_abs_difference": gap, "tolerance": ROW_TOLERANCE, "equal": bool(gap <= ROW_TOLERANCE),
            "row_dtype": expl.model.get("dtype")}


def _voice_audio(args: Any) -> Any:
    """The clip at its own rate (before the model's resampling), for Praat: the file, or the run item's chain output."""
    src = Path(args.source)
    if src.is_dir():
        rf = RunFolder(src)
        return rf.scored_audio(rf.row(args.item, args.variant), model_rate=False)
    audio = decode(src)
    return to_mono(audio)


def _item_words(args: Any, duration: float) -> tuple[Any, str | None]:
    """(words, where from): ``--words``, else a run item's ``words`` column in the run's manifest, else none.

    A manifest's alignment is timed from the start of the file; for a segment item (``start``) the
    words are shifted to the segment's own clock and those outside it are left out (said in ``source``).
    """
    if args.words:
        return read_alignment(args.words, duration=duration), str(args.words)
    src = Path(args.source)
    if not src.is_dir():
        return None, None
    manifest = (RunFolder(src).config or {}).get("manifest")
    if not manifest or not Path(str(manifest)).is_file():
        return None, None
    m = read_manifest(manifest, validate_files=False)
    item = next((it for it in m if str(it.id) == str(args.item)), None)
    if item is None or not str((item.meta or {}).get("words") or "").strip():
        return None, None
    start = float(item.start or 0.0)
    segment = item.start is not None or item.duration is not None
    words = item_alignment(item, root=m.root, duration=None if segment else duration)
    where = f"words column of {manifest}"
    if segment:
        inside = [Word(max(w.start - start, 0.0), min(w.end - start, duration), w.label) for w in words
                  if w.end > start and w.start < start + duration]
        words = validate_words(inside, duration=duration, source=where)
        where += f" (file times shifted by -{start:g} s to the segment; {len(inside)} of the alignment's words fall inside it)"
    return words, where


def _voice_line(voice: dict) -> str:
    if "unavailable" in voice:
        return f"  voice: unavailable ({voice['unavailable']})"
    ex = voice.get("excluded") or {}
    left = (f"{ex.get('silence_s', 0):.2f} s digital silence left out ({ex.get('silence_frames', 0)} of {ex.get('frames', 0)} frames)"
            if ex.get("silence_frames") else "no digital silence")
    return f"  voice: Praat at {voice.get('sample_rate_hz')} Hz, pitch range {voice['pitch_range_hz'][0]:.0f}–{voice['pitch_range_hz'][1]:.0f} Hz; {left}"


def cmd_explain(args: Any) -> int:
    """Handler of ``workbench explain``: explanation.json, explanation.png and top_evidence.wav in the output folder."""
    import io

    import soundfile as sf

    if args.steps < 2 or args.steps > 200:
        raise ConfigError(f"--steps must be between 2 and 200, given {args.steps}.", fix="pass --steps 20.")
    out = Path(args.out or f"explain_{Path(args.source).stem}")
    check_out_dir(out)
    if args.words:
        read_alignment(args.words)  # a bad alignment fails before the model loads
    audio, net, name, row = _source_audio(args)
    words, words_from = _item_words(args, audio.duration)
    methods = METHODS if args.method == "all" else (args.method,)
    expl = explain_clip(net, audio, target=args.target, methods=methods, steps=args.steps,
                        randomisation=None if args.randomisation == "none" else args.randomisation, item_id=name)
    if row is not None:  # the run's row is the reference: the explained scores must be the ones the run stored
        expl.model["run_row"] = _compare_with_row(expl, row)
    at_rate = _voice_audio(args)
    pitch = pitch_track(at_rate.samples, at_rate.sr)  # {"unavailable": reason} when Praat cannot measure the clip
    expl.voice = pitch if "unavailable" in pitch else contours_on_frames(pitch, len(expl.frame_logits), frame_rate=FRAME_RATE)
    if words is not None:
        expl.words = words_record(words, expl.frame_logits, list(expl.scores), source=words_from,
                                  frame_relevance={m: a.frame_relevance for m, a in expl.attributions.items()},
                                  problems={m: expl.problems(m) for m in expl.attributions})
    # every output is made in memory first, so a failure (a figure that cannot draw) leaves no half-written folder
    text = expl.to_json()
    fig = plot_explanation(expl, audio.samples, words=words, pitch=pitch)
    buf = io.BytesIO()
    import matplotlib.pyplot as plt

    try:
        fig.savefig(buf, format="png", dpi=110)
    finally:
        plt.close(fig)
    wav = None
    if expl.top_span is not None:  # a span only when a method that passed its checks finds evidence for the class
        s0, s1 = expl.top_span
        span = np.asarray(audio.samples[int(s0 * SAMPLE_RATE): int(s1 * SAMPLE_RATE)], dtype=np.float32)
        wav = io.BytesIO()
        sf.write(wav, span, SAMPLE_RATE, format="WAV", subtype="FLOAT")
    out.mkdir(parents=True, exist_ok=True)
    folder = RunFolder(out)  # atomic writes (workbench.files), fixed names, no link followed
    folder.write_artifact("explanation.json", lambda f: f.write(text), text=True)
    folder.write_artifact("explanation.png", lambda f: f.write(buf.getvalue()))
    written = [out / "explanation.json", out / "explanation.png"]
    if wav is not None:
        folder.write_artifact("top_evidence.wav", lambda f: f.write(wav.getvalue()))
        written.append(out / "top_evidence.wav")
    if args.json:  # the banner, the checks and the run-row comparison are in the document
        print(text)
        print(f"wrote {', '.join(map(str, written))}", file=sys.stderr)
        return EXIT_OK
    if expl.banner:
        print(f"!! {expl.banner}")
    rr = expl.model.get("run_row")
    if rr is not None and not rr["equal"]:
        print(f"!! the scores differ from the run's row by up to {rr['max_abs_difference']:.2g} (tolerance {rr['tolerance']:g}) "
              f"although the run's model and dtype ({rr['row_dtype']}) were used")
    for line in report_lines(expl):
        print(line)
    print(_voice_line(expl.voice))
    if expl.words is not None:
        print(f"  words ({len(expl.words['items'])}, from {words_from}): score = {expl.words['rule']}")
        for w in expl.words["items"][:12]:
            share = ", ".join(f"{m} {v:.2f}" + (" (map unreliable)" if expl.words["methods"][m]["reliable"] is False else "")
                              for m, v in w["attribution_share"].items() if v is not None)
            print(f"    {w['start_s']:6.2f}–{w['end_s']:6.2f} s  {screen_text(w['label'])[:30]:<30} {w['top'] or '(no frame)'}"
                  + (f" {w['scores'][w['top']]:.2f}" if w["top"] else "") + (f"; share of attribution: {share}" if share else ""))
        if len(expl.words["items"]) > 12:
            print(f"    (showing 12 of {len(expl.words['items'])} words; all are in explanation.json)")
    print(f"wrote {', '.join(map(str, written))}", file=sys.stderr)
    return EXIT_OK


COMMANDS = {"explain": cmd_explain}
