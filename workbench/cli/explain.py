"""``workbench explain``: why the model said that, for one file or one item of a run.

Writes into ``--out``: ``explanation.json`` (strict JSON), ``explanation.png``
(the figure of :mod:`workbench.explain.figure`) and ``top_evidence.wav`` (the
top-evidence span, playable).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from workbench.audio.intake import check_audio_path, load as load_audio
from workbench.errors import ConfigError
from workbench.explain.attribution import METHODS, SAMPLE_RATE
from workbench.explain.explanation import check_explain_length, explain_clip
from workbench.explain.figure import plot_explanation
from workbench.explain.words import read_alignment, validate_words
from workbench.labels import LABEL_KEYS
from workbench.model.ref import ModelRef, check_same_model
from workbench.runs.folder import RunFolder
from workbench.cli.common import model_ref_from_args, EXIT_OK, add_command, check_out_dir, model_options, say_loading


def add_explain(sub: Any) -> Any:
    """``workbench explain FILE`` or ``workbench explain RUN --item ID``."""
    p = add_command(sub, "explain", help="why the model said that: attribution (IG, occlusion, time-frequency occlusion) checked for faithfulness",
            example=("workbench explain clip.wav --model tiny --method occlusion --out explain_clip",
                     "workbench explain runs/my_wavs --item 03a01Fa --method all"))
    p.add_argument("source", help="an audio file, or a run folder (with --item)")
    p.add_argument("--item", default=None, help="item id in the run folder")
    p.add_argument("--variant", default=None, help="variant of the item (default: the run's first)")
    p.add_argument("--class", dest="target", default=None, choices=list(LABEL_KEYS), metavar="CLASS",
                   help=f"class to explain, one of {', '.join(LABEL_KEYS)} (default: the predicted one)")
    p.add_argument("--method", default="all", choices=[*METHODS, "all"], help="attribution method")
    p.add_argument("--steps", type=int, default=20, help="points on each deletion/insertion curve")
    p.add_argument("--randomisation", default="full", choices=["full", "cascading", "none"],
                   help="model-randomisation sanity check (none skips it; it costs one attribution per stage)")
    p.add_argument("--words", default=None, help="word alignment (TextGrid, CTM, SRT/WebVTT …) for the words row")
    p.add_argument("--out", default=None, help="output folder (default: explain_<name>)")
    model_options(p, reads_run=True)
    p.add_argument("--other-model", action="store_true",
                   help="for a run item: explain with --model although its weights differ from the run's (said in every output)")
    return p


def _source_audio(args: Any) -> tuple[Any, Any, str]:
    """(audio, model, name) from a file or a run item; the run's own model for a run item."""
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
        net = model_ref_from_args(args, base=replace(recorded, checksum=None)).load(progress=say_loading)
        other = check_same_model(net, recorded, allow_other=args.other_model)
        if other:
            print(f"!! {other}")
        return audio, net, f"{args.item}" + (f"_{row.get('variant')}" if args.variant else "")
    if args.item or args.variant:
        raise ConfigError("--item and --variant apply to a run folder, and SOURCE is not a folder.", source=str(src),
                          fix="drop --item/--variant, or pass the run folder as SOURCE.")
    check_audio_path(src)
    audio = load_audio(src)
    check_explain_length(len(audio.samples), source=str(src.absolute()))  # before the model loads
    net = model_ref_from_args(args, base=ModelRef(dtype="float32")).load(progress=say_loading)
    return audio, net, src.stem


def cmd_explain(args: Any) -> int:
    """Handler of ``workbench explain``: explanation.json, explanation.png and top_evidence.wav in the output folder."""
    import io

    import soundfile as sf

    if args.steps < 2 or args.steps > 200:
        raise ConfigError(f"--steps must be between 2 and 200, given {args.steps}.", fix="pass --steps 20.")
    out = Path(args.out or f"explain_{Path(args.source).stem}")
    check_out_dir(out)
    words = None
    if args.words:
        words = read_alignment(args.words)
    audio, net, name = _source_audio(args)
    if words is not None:  # every word inside the clip before anything is computed or written (a cue at 99:59:59)
        words = validate_words(words, duration=audio.duration, source=str(Path(args.words).absolute()))
    methods = METHODS if args.method == "all" else (args.method,)
    expl = explain_clip(net, audio, target=args.target, methods=methods, steps=args.steps,
                        randomisation=None if args.randomisation == "none" else args.randomisation, item_id=name)
    # every output is made in memory first, so a failure (a figure that cannot draw) leaves no half-written folder
    text = expl.to_json()
    fig = plot_explanation(expl, audio.samples, words=words)
    buf = io.BytesIO()
    import matplotlib.pyplot as plt

    try:
        fig.savefig(buf, format="png", dpi=110)
    finally:
        plt.close(fig)
    s0, s1 = expl.top_span
    span = np.asarray(audio.samples[int(s0 * SAMPLE_RATE): int(s1 * SAMPLE_RATE)], dtype=np.float32)
    wav = io.BytesIO()
    sf.write(wav, span, SAMPLE_RATE, format="WAV", subtype="FLOAT")
    out.mkdir(parents=True, exist_ok=True)
    folder = RunFolder(out)  # atomic writes (workbench.files), fixed names, no link followed
    folder.write_artifact("explanation.json", lambda f: f.write(text), text=True)
    folder.write_artifact("explanation.png", lambda f: f.write(buf.getvalue()))
    folder.write_artifact("top_evidence.wav", lambda f: f.write(wav.getvalue()))
    if expl.banner:
        print(f"!! {expl.banner}")
    print(f"{expl.id}: predicted {expl.predicted} ({expl.scores[expl.predicted]:.2f}); explaining '{expl.target}'")
    for m, f in expl.faithfulness.items():
        r = expl.randomisation.get(m)
        extra = f"; randomised-model rank corr {r.spearman[-1]:.2f}" if r is not None and r.spearman else ""
        print(f"  {m:>12}: {f.summary()}{extra}")
    print(f"  top evidence {s0:.2f}–{s1:.2f} s (from {expl.top_span_method})")
    print(f"wrote {out / 'explanation.json'}, {out / 'explanation.png'}, {out / 'top_evidence.wav'}", file=sys.stderr)
    return EXIT_OK


COMMANDS = {"explain": cmd_explain}
