"""``workbench explain``: why the model said that, for one file or one item of a run.

Writes into ``--out``: ``explanation.json`` (strict JSON), ``explanation.png``
(the figure of :mod:`workbench.explain.figure`) and ``top_evidence.wav`` (the
top-evidence span, playable).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..audio import check_audio_path, load as load_audio
from ..errors import ConfigError
from ..labels import LABEL_KEYS
from ..model import load_model
from ..runfolder import RunFolder
from .attribution import METHODS, SAMPLE_RATE
from .explanation import explain_clip
from .figure import plot_explanation

# OPTIONAL HOOK (issue 21 item 5 is built in the explain-voice worktree): word timings for --words.
# The lead replaces this guard with a plain top-of-file import at merge.
try:  # pragma: no cover - depends on the other branch
    from . import words as _words
except ImportError:  # pragma: no cover
    _words = None

EXIT_OK = 0


def add_parser(sub: Any, add: Callable[..., Any], model_args: Callable[[Any], None]) -> Any:
    """Register ``explain`` on ``sub`` with cli.py's ``_add`` and ``_model_args`` helpers."""
    p = add(sub, "explain", help="why the model said that: attribution (IG, occlusion, time-frequency occlusion) checked for faithfulness",
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
    model_args(p)
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
        ref = rf.model_ref
        model_ref = args.model or ref.get("path") or ref.get("model") or ref.get("id")
        net = load_model(model_ref, hub=args.hub, revision=args.revision, device=args.device)
        return audio, net, f"{args.item}" + (f"_{row.get('variant')}" if args.variant else "")
    if args.item or args.variant:
        raise ConfigError("--item and --variant apply to a run folder, and SOURCE is not a folder.", source=str(src),
                          fix="drop --item/--variant, or pass the run folder as SOURCE.")
    check_audio_path(src)
    audio = load_audio(src)
    net = load_model(args.model, hub=args.hub, revision=args.revision, device=args.device)
    return audio, net, src.stem


def _write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def cmd_explain(args: Any, *, check_out_dir: Callable[[str], Path] = Path) -> int:
    """Handler of ``workbench explain``; ``check_out_dir`` is cli.py's folder check (cli.py binds it)."""
    import io

    import soundfile as sf

    if args.steps < 2 or args.steps > 200:
        raise ConfigError(f"--steps must be between 2 and 200, given {args.steps}.", fix="pass --steps 20.")
    out = check_out_dir(args.out or f"explain_{Path(args.source).stem}")
    words = None
    if args.words:
        if _words is None:
            raise ConfigError("word alignments are not available in this build (workbench.explain.words is missing).",
                              source=args.words, fix="run without --words.")
        words = _words.read_alignment(args.words)
    audio, net, name = _source_audio(args)
    methods = METHODS if args.method == "all" else (args.method,)
    expl = explain_clip(net, audio, target=args.target, methods=methods, steps=args.steps,
                        randomisation=None if args.randomisation == "none" else args.randomisation, item_id=name)
    out.mkdir(parents=True, exist_ok=True)
    _write_bytes(out / "explanation.json", expl.to_json().encode("utf-8"))
    fig = plot_explanation(expl, audio.samples, words=words)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    _write_bytes(out / "explanation.png", buf.getvalue())
    s0, s1 = expl.top_span
    span = np.asarray(audio.samples[int(s0 * SAMPLE_RATE): int(s1 * SAMPLE_RATE)], dtype=np.float32)
    wav = io.BytesIO()
    sf.write(wav, span, SAMPLE_RATE, format="WAV", subtype="FLOAT")
    _write_bytes(out / "top_evidence.wav", wav.getvalue())
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
