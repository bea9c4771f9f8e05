"""``workbench explain``: why the model said that, for one file, one item of a run, or a run's worst rows.

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

A run item's explanation is kept in the run folder (:mod:`workbench.explain.cache`), keyed by the
item's audio, the model's checksum and every setting: the same call again reads it (the screen and
``explanation.json``'s ``cache`` say so), any changed setting recomputes, and an entry that is
damaged or foreign is recomputed, never trusted.  ``--worst N`` explains the run's N worst rows
(:mod:`workbench.explain.worst` says which) with the model loaded once, each into that cache, and
writes ``explain_worst.json`` and ``explain_worst.png`` into the run folder for the report.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from workbench.analysis.stats import counted
from workbench.audio.intake import check_audio_path, decode, load as load_audio, to_mono
from workbench.errors import ConfigError, WorkbenchError, did_you_mean
from workbench.explain.attribution import METHODS, SAMPLE_RATE, STABILITY_SEEDS, forward_backend
from workbench.explain.cache import FIGURE_MARKS, Rendered, cache_key, entry_names, read_cached, write_cached
from workbench.explain.explanation import check_explain_length, explain_clip, report_lines, run_row_gap
from workbench.explain.faithfulness import N_RANDOM
from workbench.explain.figure import figure_titles, pitch_track, plot_explanation
from workbench.explain.item_overlap import item_training_overlap
from workbench.explain.worst import RULE_LABELLED, WORST_JSON, WORST_PNG, case_record, model_record, plot_worst, select_worst, summary_lines, summary_record, write_summary
from workbench.explain.voice import contours_on_frames
from workbench.explain.words import Word, item_alignment, read_alignment, validate_words, words_record
from workbench.data.corpora.folder import FOLDER_AUDIO_EXTS

from workbench.data.manifest import read_manifest
from workbench.labels import LABEL_KEYS
from workbench.files import is_sha256, strict_json
from workbench.model.fastpath import cache_precision
from workbench.model.network import FRAME_RATE, auto_device
from workbench.model.ref import ModelRef, check_same_model
from workbench.model.weights import identity_mismatch
from workbench.paths import shell_command
from workbench.schema import score_column
from workbench.runs.experiment import portable_summary
from workbench.runs.folder import CONFIG, RunFolder, mark_random_weights
from workbench.runs.reproduce import check_run_checkpoint
from workbench.cli.common import (model_ref_from_args, screen_text, EXIT_OK, EXIT_FAILED_ITEMS, add_command, add_json_option, add_out_option,
                                  check_out_dir, model_options, say_loading)


def add_explain(sub: Any) -> Any:
    """``workbench explain FILE``, ``workbench explain RUN --item ID`` or ``workbench explain RUN --worst N``."""
    p = add_command(sub, "explain", help="why the model said that: attribution (IG, occlusion, time-frequency occlusion) checked for faithfulness",
            example=("workbench explain clip.wav --model tiny --method occlusion --out explain_clip",
                     "workbench explain runs/emodb --item 03a01Fa --method all  # an EmoDB id; your run's ids are in its results",
                     "workbench explain runs/my_wavs --worst 5"))
    p.add_argument("source", help="an audio file, or a run folder (with --item or --worst)")
    p.add_argument("--item", default=None, help="item id in the run folder")
    p.add_argument("--worst", type=int, default=None, metavar="N",
                   help=f"explain the run's N worst scored rows in one process, the model loaded once: {RULE_LABELLED} "
                        f"(without reference labels: least confident first). Each explanation goes to the run folder's cache, "
                        f"the summary to {WORST_JSON} and {WORST_PNG} there (the report reads them); N from 1 to the number of ok rows")
    p.add_argument("--variant", default=None, help="variant of the item (default: the run's first; with --worst: every variant)")
    p.add_argument("--class", dest="target", default=None, metavar="CLASS",
                   help=f"class to explain: one of the model's labels ({', '.join(LABEL_KEYS)} for emotion2vec+; a fine-tuned "
                        "head's own) (default: the predicted one)")
    p.add_argument("--method", default="all", choices=[*METHODS, "all"], help="attribution method")
    p.add_argument("--steps", type=int, default=20, metavar="N",
                   help="equal steps of each deletion/insertion curve, from nothing to all of the clip removed: N steps are "
                        "N + 1 points (2 to 200)")
    p.add_argument("--randomisation", default="full", choices=["full", "cascading", "none"],
                   help="model-randomisation sanity check (none skips it, and every output says so; it costs one attribution per stage)")
    p.add_argument("--words", default=None, help="word alignment (TextGrid, CTM, SRT/WebVTT …): the words row of the figure and "
                   "per-word scores and attribution shares in explanation.json (default for a run item: its manifest's words column)")
    p.add_argument("--no-cache", action="store_true",
                   help="for a run item: compute again even when the run folder holds this explanation (the new one replaces it)")
    add_out_option(p, what="explanation.json, explanation.png and top_evidence.wav",
                   default="explain_<name> in the working folder; not with --worst, which writes into the run folder")
    add_json_option(p, "explanation.json (with --worst: the summary)")
    model_options(p, reads_run=True)
    p.add_argument("--other-model", action="store_true",
                   help="for a run item: explain with --model although its weights differ from the run's (said in every output)")
    return p


class _Session:
    """One ``workbench explain`` call: the source, the run folder and its model, loaded once and only when needed."""

    def __init__(self, args: Any):
        self.args = args
        self.src = Path(args.source)
        self.rf = RunFolder(self.src) if self.src.is_dir() else None
        self.recorded = ModelRef.from_run(self.rf.config, self.rf.summary) if self.rf is not None else None
        self.methods = METHODS if args.method == "all" else (args.method,)
        self.net: Any = None
        self.other: str | None = None  # why the loaded model is not the run's, when it is not
        if self.rf is not None and args.target is not None and args.model is None:
            self.check_target()  # before the model loads; resolve_target checks it again against the loaded model

    def check_target(self) -> None:
        """Refuse ``--class`` when it is none of the run's classes (its score columns: a fine-tuned head's own labels),
        so that a typo or another label set's class fails before the model loads."""
        classes = self.rf.labels(self.rf.results())
        if classes and self.args.target not in classes:
            raise ConfigError(f"unknown class {self.args.target!r}; {did_you_mean(self.args.target, classes)}the run's model has "
                              f"the classes {', '.join(classes)}.",
                              source="--class", fix=f"use one of {', '.join(classes)} (or leave it out for the predicted class).")

    def model(self) -> Any:
        """The model, loaded on first use: a run's own (dtype included) unless told otherwise, refused when its
        weights differ from the run's unless ``--other-model``."""
        if self.net is None:
            self.check_checkpoint()
            base = replace(self.recorded, checksum=None) if self.recorded is not None else ModelRef(dtype="float32")
            self.net = model_ref_from_args(self.args, base=base).load(progress=say_loading, gradients=True)
            if self.recorded is not None:
                self.other = check_same_model(self.net, self.recorded, allow_other=self.args.other_model) or self.other_files()
                if self.other:
                    print(f"!! {self.other}", file=sys.stderr if self.args.json else sys.stdout)  # --json: stdout holds the document only
        return self.net

    def other_files(self) -> str | None:
        """The run's weights under another config.yaml, tokens.txt or card than the run recorded (summary.json's
        ``model.identity_files``: the file is named, for a hub id as for a folder): refused unless ``--other-model``,
        else the line every output carries."""
        problem = identity_mismatch(self.rf.summary.get("model") if self.rf is not None else None, self.net.info.to_dict())
        if problem is None:
            return None
        if not self.args.other_model:
            raise ConfigError(f"the model loaded is not the run's: {problem}; another network, whose scores need not be the run's rows'.",
                              source="--model" if self.args.model else str(self.rf.path),
                              fix="put the run's file back (or pass the checkpoint the run used with --model), or pass --other-model to explain with this one anyway.")
        return f"OTHER MODEL: {problem} (not the run's model)"

    def check_checkpoint(self) -> None:
        """The run's own checkpoint folder, when it is the model and is not on this machine, refused with the fix."""
        if self.recorded is not None and self.args.model is None:
            check_run_checkpoint(self.rf.path, self.recorded)

    def run_dtype(self) -> str | None:
        """The precision the run's rows were scored in (its summary's model record; ``auto`` resolved), if a run."""
        if self.rf is None:
            return None
        info = self.rf.summary.get("model")
        dtype = info.get("dtype") if isinstance(info, dict) else None
        return str(dtype) if dtype else (self.recorded.dtype if self.recorded else None)

    def model_key(self) -> dict | None:
        """The model part of a cache key: the loaded model's identity (weights, config, tokens, card: a config edited
        since is another model), dtype, temperature and device kind; before loading, the run's recorded ones when the
        model is the run's (``None``: only loading can tell)."""
        if self.net is not None:
            i = self.net.info
            return _model_key(getattr(i, "identity", None) or i.checksum, i.dtype, i.temperature, str(i.device))
        ref = model_ref_from_args(self.args, base=self.recorded or ModelRef())
        info = self.rf.summary.get("model") if self.rf is not None and self.args.model is None else None
        identity = info.get("identity") if isinstance(info, dict) else None
        if not ref.checksum or not is_sha256(identity):
            return None
        dtype = "float32" if ref.dtype in ("auto", "int8") or ref.dtype.startswith("onnx-") else ref.dtype  # as load(gradients=True) does
        return _model_key(identity, dtype, ref.temperature, auto_device() if ref.device == "auto" else ref.device)

    def settings(self, words_digest: str | None) -> dict:
        """The explanation's parameters, as the cache key holds them."""
        a = self.args
        return {"methods": list(self.methods), "target": a.target, "steps": a.steps, "randomisation": a.randomisation,
                "n_random": N_RANDOM, "seeds": len(STABILITY_SEEDS), "span_s": 0.3, "words": words_digest}


def _model_key(identity: str | None, dtype: str, temperature: float | None, device: str) -> dict:
    device = "cuda" if str(device).startswith("cuda") else str(device)
    return {"checksum": identity, "dtype": dtype, "temperature": None if temperature in (None, 1.0) else float(temperature),
            "device": device, "forward": forward_backend(identity, dtype, device), "path": cache_precision(dtype, device)}


#: a run item's scores, recomputed by explain, must equal the row's within this (probability units), float32
ROW_TOLERANCE = 1e-4
#: the same for rows scored in a 16-bit precision: bfloat16 keeps 8 bits of mantissa (2^-8 = 0.0039), and a clip
#: scored alone (explain) and in a padded batch (the run) is rounded differently: up to 6.2e-4 apart on the demo
#: set with ``tiny`` (9 clips, 2-5.3 s), where float32 agrees within 1e-5
ROW_TOLERANCES = {"float32": ROW_TOLERANCE, "bfloat16": 5e-3, "float16": 5e-3}


def _compare_with_row(expl: Any, row: dict, run_dtype: str | None = None) -> dict:
    """How the explained scores compare with the run's row: the largest absolute difference, whether it is within
    tolerance, and the precision each was scored in (``run_dtype``: the run's, from its summary)."""
    labels = [k for k in expl.labels if score_column(k) in row]
    stored = np.array([float(row[score_column(k)]) for k in labels], dtype=np.float64)
    got = np.array([expl.scores[k] for k in labels], dtype=np.float64)
    gap = float(np.max(np.abs(stored - got))) if labels else float("nan")
    row_dtype, explained = run_dtype or expl.model.get("dtype"), expl.model.get("dtype")
    # the same precision: its own rounding; two precisions: float32's (the gap is then put down to them by name)
    tolerance = ROW_TOLERANCES.get(explained, ROW_TOLERANCE) if row_dtype == explained else ROW_TOLERANCE
    return {"max_abs_difference": gap, "tolerance": tolerance, "equal": bool(gap <= tolerance),
            "row_dtype": row_dtype, "explained_dtype": explained, "classes_compared": len(labels)}


def _voice_audio(session: _Session, row: dict | None) -> Any:
    """The clip at its own rate (before the model's resampling), for Praat: the file, or the run item's chain output."""
    if row is not None:
        return session.rf.scored_audio(row, model_rate=False)
    return to_mono(decode(session.src))


def _item_words(session: _Session, item_id: str | None, duration: float) -> tuple[Any, str | None]:
    """(words, where from): ``--words``, else a run item's ``words`` column in the run's manifest, else none.

    A manifest's alignment is timed from the start of the file; for a segment item (``start``) the
    words are shifted to the segment's own clock and those outside it are left out (said in ``source``).
    """
    if session.args.words:
        return read_alignment(session.args.words, duration=duration), str(session.args.words)
    if session.rf is None:
        return None, None
    manifest = (session.rf.config or {}).get("manifest")
    if not manifest or not Path(str(manifest)).is_file():
        return None, None
    m = read_manifest(manifest, validate_files=False)
    item = next((it for it in m if str(it.id) == str(item_id)), None)
    if item is None or not str((item.meta or {}).get("words") or "").strip():
        return None, None
    start = float(item.start or 0.0)
    segment = item.start is not None or item.duration is not None
    words = item_alignment(item, root=m.root, duration=None if segment else duration)
    where = f"words column of {manifest}"
    if segment:
        inside = [Word(max(w.start - start, 0.0), min(w.end - start, duration), w.label, w.line) for w in words
                  if w.end > start and w.start < start + duration]
        # the file's spans that cannot be read: those timed within (or across) the segment, and the untimed (anywhere)
        left_out = [r for r in words.left_out if _touches(r, start, start + duration)]
        others = len(words.left_out) - len(left_out)
        words = validate_words(inside, duration=duration, source=where)
        words.left_out[:0] = left_out
        where += (f" (file times shifted by -{start:g} s to the segment; {len(inside)} of the alignment's words fall inside it"
                  + (f"; {others} other left-out span{'s' if others != 1 else ''} of the file {'fall' if others != 1 else 'falls'} outside the segment" if others else "")
                  + ("; the left-out spans are named by the file's lines and times, not the segment's" if left_out else "")
                  + ")")
    return words, where


def _touches(span: dict, start: float, end: float) -> bool:
    """Whether a left-out span (file times, possibly reversed) lies within or across ``start``–``end``; untimed: yes."""
    times = [float(t) for t in (span.get("start"), span.get("end")) if t is not None]
    return not times or (max(times) >= start and min(times) <= end)


def _words_digest(words: Any, where: str | None) -> str | None:
    """A hash of the words an explanation shows (part of the cache key), ``None`` without words."""
    if words is None:
        return None
    text = json.dumps([[float(w.start), float(w.end), str(w.label)] for w in words] + [str(where)]
                      + [getattr(words, "left_out", [])], ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _voice_line(voice: dict) -> str:
    if "unavailable" in voice:
        return f"  voice: unavailable ({voice['unavailable']})"
    ex = voice.get("excluded") or {}
    left = (f"{ex.get('silence_s', 0):.2f} s digital silence left out ({ex.get('silence_frames', 0)} of {ex.get('frames', 0)} frames)"
            if ex.get("silence_frames") else "no digital silence")
    return f"  voice: Praat at {voice.get('sample_rate_hz')} Hz, pitch range {voice['pitch_range_hz'][0]:.0f}–{voice['pitch_range_hz'][1]:.0f} Hz; {left}"


def _screen_lines(expl: Any, words_from: str | None) -> list[str]:
    """What the screen shows of one explanation (warnings first), kept with the cache entry so a hit shows the same."""
    lines = [f"!! {expl.banner}"] if expl.banner else []
    gap = run_row_gap(expl.model.get("run_row"))
    if gap:
        lines.append(f"!! {gap}")
    lines += report_lines(expl)
    lines.append(_voice_line(expl.voice))
    if expl.words is not None:
        if (expl.words.get("left_out") or {}).get("count"):
            lines.append(f"!! words: {screen_text(expl.words['left_out']['words'])} (the others are used)")
        lines.append(f"  words ({len(expl.words['items'])}, from {words_from}): score = {expl.words['rule']}")
        for w in expl.words["items"][:12]:
            share = ", ".join(f"{m} {v:.2f}" + (" (map unreliable)" if expl.words["methods"][m]["reliable"] is False else "")
                              for m, v in w["attribution_share"].items() if v is not None)
            # the score's frames and the share a flat map gives the word: a share means something only beside it
            # (0.41 of the attribution on a word that holds 0.41 of the frames is no concentration at all)
            flat = f" (a flat map gives {w['uniform_share']:.2f})" if w.get("uniform_share") is not None else ""
            lines.append(f"    {w['start_s']:6.2f}–{w['end_s']:6.2f} s  {screen_text(w['label'])[:30]:<30} {w['top'] or '(no frame)'}"
                         + (f" {w['scores'][w['top']]:.2f} ({counted(int(w['n_frames']), 'frame')})" if w["top"] else "")
                         + (f"; share of attribution{flat}: {share}" if share else ""))
        if len(expl.words["items"]) > 12:
            lines.append(f"    (showing 12 of {len(expl.words['items'])} words; all are in explanation.json)")
    return lines


def _render(session: _Session, audio: Any, row: dict | None, name: str, words: Any, words_from: str | None) -> Rendered:
    """Explain one clip and make every output in memory (JSON record, figure, span, screen lines): nothing half-written."""
    import matplotlib.pyplot as plt
    import soundfile as sf

    args = session.args
    expl = explain_clip(session.model(), audio, target=args.target, methods=session.methods, steps=args.steps,
                        randomisation=None if args.randomisation == "none" else args.randomisation, item_id=name)
    if args.randomisation == "none":
        expl.randomisation_skipped = "--randomisation none was given"
    if session.other:
        expl.model["other_than_run"] = session.other
    if row is not None:  # the run's row is the reference: the explained scores must be the ones the run stored
        expl.model["run_row"] = _compare_with_row(expl, row, session.run_dtype())
    at_rate = _voice_audio(session, row)
    pitch = pitch_track(at_rate.samples, at_rate.sr)  # {"unavailable": reason} when Praat cannot measure the clip
    expl.voice = pitch if "unavailable" in pitch else contours_on_frames(pitch, len(expl.frame_logits), frame_rate=FRAME_RATE)
    if words is not None:
        expl.words = words_record(words, expl.frame_logits, list(expl.scores), source=words_from,
                                  frame_relevance={m: a.frame_relevance for m, a in expl.attributions.items()},
                                  problems={m: expl.problems(m) for m in expl.attributions})
    record = {**expl.to_dict(), "figure_titles": figure_titles(expl, pitch)}  # the titles whole (the figure wraps or cuts them)
    fig = plot_explanation(expl, audio.samples, words=words, pitch=pitch)
    random_weights = session.model().info.random_weights or (session.rf is not None and session.rf.random_weights)
    # an item of a run scored on its checkpoint's training data: its figure says so too, as explain_worst.png does
    # this item's own: its speaker trained the head or was held out (the run's mark named the run's speakers)
    overlap, speaker_info = item_training_overlap(session.rf, row) if row is not None and not session.other else ([], None)
    if speaker_info is not None:
        record["item_speaker_training"] = speaker_info
    if random_weights or overlap:  # the PNG says so at its foot, in --out and in the run's cache alike
        record.update(mark_random_weights(fig, random_weights=bool(random_weights), overlap=overlap))
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=110)
    finally:
        plt.close(fig)
    wav = None
    if expl.top_span is not None:  # a span only when a method that passed its checks finds evidence for the class
        s0, s1 = expl.top_span
        span = np.asarray(audio.samples[int(s0 * SAMPLE_RATE): int(s1 * SAMPLE_RATE)], dtype=np.float32)
        wav_buf = io.BytesIO()  # in memory: the cache writes it through the run folder
        sf.write(wav_buf, span, SAMPLE_RATE, format="WAV", subtype="FLOAT")
        wav = wav_buf.getvalue()
    speaker_line = [f"{'!! TRAINING DATA: ' if speaker_info['in_training'] else '  training data: '}{speaker_info['words']}"] if speaker_info else []
    return Rendered(record, buf.getvalue(), wav, speaker_line + _screen_lines(expl, words_from))


def _explain_run_row(session: _Session, row: dict, name: str, *, words: Any = None, words_from: str | None = None) -> tuple[Rendered, dict]:
    """A run item's explanation from the run folder's cache when its key matches and its checksums hold, else computed
    and stored there.  Returns ``(rendered, cache)``, ``cache`` saying which (``hit``, ``entry``, ``note``, ``key``)."""
    settings = session.settings(_words_digest(words, words_from))
    model_key = session.model_key()
    key = cache_key(row, model=model_key, settings=settings) if model_key is not None else None
    note = "another model than the run's: its checksum is known once loaded"
    if key is not None and not session.args.no_cache:
        cached, note = read_cached(session.rf, key)
        if cached is not None:
            return cached, {"hit": True, "entry": entry_names(key)["json"], "note": note, "key": key}
    elif session.args.no_cache:
        note = "--no-cache was given"
    audio = session.rf.scored_audio(row)
    check_explain_length(len(audio.samples), source=f"{session.src.absolute()}: item {row.get('id')}")  # before the model loads
    rendered = _render(session, audio, row, name, words, words_from)
    key = cache_key(row, model=session.model_key(), settings=settings)  # the loaded model's own facts
    entry = write_cached(session.rf, key, rendered)
    return rendered, {"hit": False, "entry": entry, "note": f"computed ({note}); stored as {entry}", "key": key}


def _cache_line(cache: dict, run: Path) -> str:
    if cache["hit"]:
        return (f"  cache: {cache['note']} in {run} (same item, audio, model checksum, methods and parameters); "
                "--no-cache or any other setting recomputes")
    return f"  cache: {cache['note']}"


def _write_outputs(out: Path, rendered: Rendered, cache: dict | None) -> tuple[list[Path], str]:
    """explanation.json (with the cache's word when a run item), explanation.png, top_evidence.wav into ``out``;
    returns the files written and the JSON text (the model's path absolute: it is read where the command ran)."""
    record = rendered.record if cache is None else {**rendered.record, "cache": cache}
    out.mkdir(parents=True, exist_ok=True)
    kept = strict_json(portable_summary(record, out), indent=1)  # the model's path as summary.json records it (no home)
    folder = RunFolder(out)  # atomic writes (workbench.files), fixed names, no link followed
    folder.write_artifact("explanation.json", lambda f: f.write(kept), text=True)
    mark = {k: record[k] for k in FIGURE_MARKS if record.get(k)} or None
    folder.write_artifact("explanation.png", lambda f: f.write(rendered.png), meta=mark)
    written = [out / "explanation.json", out / "explanation.png"]
    if rendered.wav is not None:
        folder.write_artifact("top_evidence.wav", lambda f: f.write(rendered.wav))
        written.append(out / "top_evidence.wav")
    return written, strict_json(record, indent=1)


def _check_args(args: Any) -> None:
    """Refuse what cannot go together, before anything loads."""
    if args.steps < 2 or args.steps > 200:
        raise ConfigError(f"--steps must be between 2 and 200, given {args.steps}.", fix="pass --steps 20.")
    is_run = Path(args.source).is_dir()
    if not Path(args.source).exists() and (args.worst is not None or args.item):  # a misspelt run folder: say so, name the runs
        RunFolder.open(args.source)
    if args.worst is not None:
        clash = [o for o, v in (("--item", args.item), ("--out", args.out), ("--words", args.words)) if v]
        if not is_run or clash:
            raise ConfigError(f"--worst explains a run folder's rows and writes into it; {'SOURCE is not a folder' if not is_run else ', '.join(clash) + ' cannot go with it'}.",
                              source=str(args.source), fix="pass a run folder and --worst N alone (each item's words come from the run's manifest).")
    elif is_run and not (Path(args.source) / CONFIG).is_file() and not args.item:  # dir.wav: no run in it, whatever its name
        named = f" (despite its name ending {Path(args.source).suffix})" if Path(args.source).suffix.lower() in FOLDER_AUDIO_EXTS else ""
        raise ConfigError(f"is a folder{named}, not an audio file, and not a run folder either (no {CONFIG} in it).", source=str(args.source),
                          fix="pass one audio file (one inside this folder?), or the --out folder of a `workbench run` with --item ID.")
    elif is_run and not args.item:
        raise ConfigError("is a folder; explaining a run item needs --item ID (or --worst N for the run's worst rows).", source=str(args.source),
                          fix="pass --item with an id from the run's results, --worst N, or give an audio file.")
    elif not is_run and (args.item or args.variant or args.no_cache):
        raise ConfigError("--item, --variant and --no-cache apply to a run folder, and SOURCE is not a folder.", source=str(args.source),
                          fix="drop them, or pass the run folder as SOURCE.")


def cmd_explain(args: Any) -> int:
    """Handler of ``workbench explain``: explanation.json, explanation.png and top_evidence.wav in the output folder
    (a run item: from or into the run folder's cache); with ``--worst N`` the run's worst rows and their summary."""
    _check_args(args)
    if args.worst is not None:
        return _explain_worst(_Session(args))
    out = Path(args.out or f"explain_{Path(args.source).stem}")
    check_out_dir(out)
    if args.words:
        read_alignment(args.words)  # a bad alignment fails before the model loads
    session = _Session(args)
    cache = None
    if session.rf is not None:
        row = session.rf.row(args.item, args.variant)
        words, words_from = _item_words(session, args.item, float(row.get("audio_seconds") or 0.0) or session.rf.scored_audio(row).duration)
        name = f"{args.item}" + (f"_{row.get('variant')}" if args.variant else "")
        rendered, cache = _explain_run_row(session, row, name, words=words, words_from=words_from)
    else:
        check_audio_path(session.src)
        audio = load_audio(session.src)
        check_explain_length(len(audio.samples), source=str(session.src.absolute()))  # before the model loads
        words, words_from = _item_words(session, None, audio.duration)
        rendered = _render(session, audio, None, session.src.stem, words, words_from)
    written, text = _write_outputs(out, rendered, cache)
    if args.json:  # the banner, the checks, the run-row comparison and the cache's word are in the document
        print(text)
    else:
        for line in rendered.lines:
            print(line)
        if cache is not None:
            print(_cache_line(cache, session.src))
    print(f"wrote {', '.join(map(str, written))}", file=sys.stderr)
    return EXIT_OK


def _explain_worst(session: _Session) -> int:
    """``--worst N``: the run's N worst ok rows explained with one model, each into the cache; the summary beside them."""
    args, rf = session.args, session.rf
    out = sys.stderr if args.json else sys.stdout  # --json: stdout holds the summary document only
    ok = rf.results(args.variant, status="ok")
    rows, rule = select_worst(ok, args.worst)
    session.check_checkpoint()  # a checkpoint that is not here fails every item alike: said once, before any
    print(f"explaining the {len(rows)} worst of the {len(ok)} rows the model scored, labelled or not ({rule})", file=out)
    cases, warnings = [], []
    for i, row in enumerate(rows.to_dict("records"), 1):
        name = f"{row['id']}_{row['variant']}"
        try:
            audio_s = float(row.get("audio_seconds") or 0.0)
            words, words_from = _item_words(session, row["id"], audio_s or rf.scored_audio(row).duration)
            rendered, cache = _explain_run_row(session, row, name, words=words, words_from=words_from)
        except WorkbenchError as exc:  # one bad item never stops the others: it is a failed case, said
            print(f"  [{i}/{len(rows)}] {screen_text(row['id'])} [{screen_text(row['variant'])}]: FAILED: {screen_text(str(exc))}", file=out)
            cases.append(case_record(row, None, entry=None, cache="failed", error=str(exc)))
            continue
        banner = f"!! {rendered.record['warning']}" if rendered.record.get("warning") else None
        if banner and not any(warnings):  # the model's banner once per command, above the first case, not in every case
            print(banner, file=out)
        # why the row is among the worst: reference → prediction (a missing reference may be None, "" or NaN)
        truth = next((v for v in (row.get("emotion"), row.get("label")) if isinstance(v, str) and v.strip()), "unlabelled")
        print(f"  [{i}/{len(rows)}] {screen_text(row['id'])} [{screen_text(row['variant'])}] {screen_text(str(truth))} → "
              f"{screen_text(str(row['pred']))} ({row['confidence']:.2f}), {'from the cache' if cache['hit'] else 'computed'} "
              f"({cache['entry']})", file=out)
        for line in rendered.lines:
            if line != banner:
                print("    " + line, file=out)
        cases.append(case_record(row, rendered.record, entry=cache["entry"], cache="hit" if cache["hit"] else "computed"))
        warnings.append(rendered.record.get("warning"))
    warning = next((w for w in warnings if w), None)  # the model's banner (random weights …), from any explained case
    summary = summary_record(cases, rule=rule, n=len(rows), m=len(ok), variant=args.variant, settings=session.settings(None),
                             warning=warning,  # the model loaded, else (every case from the cache, keyed by it) the run's
                             model=model_record(session.net.info if session.net is not None else rf.summary.get("model")))
    written = write_summary(rf, summary, plot_worst(summary))
    failed = summary["failed"]
    for line in summary_lines(summary):  # which maps passed every check, and which only the checks that ran
        print(line, file=out)
    print(f"summary: {summary['showing']}, {failed} failed; wrote {', '.join(str(rf.path / w) for w in written)}", file=out)
    # the summary is read by the report, which does not change by itself: the command that shows it (none was named)
    print(f"next: {shell_command('workbench', 'report', 'experiment_report', '-p', f'run_dir={rf.path}')}   # its "
          "'Explained worst cases' section: which maps passed their checks", file=out)
    if args.json:
        print(strict_json(summary, indent=1))
    return EXIT_OK if not failed else EXIT_FAILED_ITEMS


COMMANDS = {"explain": cmd_explain}
