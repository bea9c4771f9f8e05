"""Single-file inference with outputs compatible with the seeds' tool.

:func:`infer_files` loads the model once, decodes every input (a bad one
becomes an error record; the others go on), predicts in length-sorted
batches, and writes one folder per input::

    outputs/outputs_YYYYMMDD_HHMMSS[_N]/
        processed_audio.wav   16 kHz mono float32: exactly what the model saw
        result.json           emotion, confidence, scores{9}, granularity,
                              timestamp + provenance (model, input sha256,
                              processing chain, timings, package version)
        embedding.npy         (D,) or, with frame granularity, (T, D)
        log.txt               the processing log, seeds' format

A failed input gets ``error.json`` and ``log.txt`` instead of ``result.json``.
Each folder is filled under a temporary name and renamed into place, so a
reader never sees a half-written folder, and two runs in the same second get
``_1``, ``_2``… suffixes instead of overwriting each other.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from workbench import __version__
from workbench.model.ref import ModelRef
from workbench.audio.intake import Audio, AudioConfig
from workbench.engine.findings import DiagnosticsConfig
from workbench.engine.core import score_sources
from workbench.files import UnsafePathError, rename_folder, sweep_folder, write_atomic, write_json, write_npy, write_text
from workbench.errors import ConfigError, WorkbenchError, printable
from workbench.serialize import cut_middle
from workbench.labels import LABEL_KEYS, LABELS
from workbench.model.network import RANDOM_WEIGHTS_BANNER, BatchPolicy, Emotion2vecModel, Prediction
from workbench.audio.processing import ProcessingLog, StepRecord

logger = logging.getLogger(__name__)


@dataclass
class ItemOutcome:
    """What happened to one input of :func:`infer_files`."""

    input: str
    folder: Path | None
    prediction: Prediction | None = None
    error: dict | None = None
    log: ProcessingLog = field(default_factory=ProcessingLog)
    result: dict | None = None
    findings: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None


def infer_files(
    inputs: Sequence[Any],
    *,
    model: Any = None,
    granularity: str = "utterance",
    embedding: bool = False,
    out_dir: str | os.PathLike = "outputs",
    audio_config: AudioConfig | None = None,
    policy: BatchPolicy | None = None,
    hook: Callable[..., None] | None = None,
    diagnostics: DiagnosticsConfig | None = None,
    load_progress: Callable[[str], None] | None = None,
) -> list[ItemOutcome]:
    """Predict every input with the engine and write its output folder; never stops on a bad input.

    Parameters
    ----------
    inputs : sequence of paths or arrays
        Audio files, or ``(samples, sr)`` pairs (named ``input<k>``).
    model : model or reference, optional
        A loaded model, a :class:`~workbench.model.ref.ModelRef` (hub, revision, device and dtype with it), or a
        name (hub id, checkpoint folder, ``"tiny"``).
    granularity : {"utterance", "frame"}
        ``"frame"`` adds frame scores to ``result.json``.
    embedding, out_dir : bool, path
        Also write ``embedding.npy``; the parent of the ``outputs_YYYYMMDD_HHMMSS/`` folders (one per input).
    audio_config, policy, diagnostics, load_progress : optional
        Decoding settings, the batch policy, the findings' thresholds, a listener to the model load.
    hook : callable, optional
        ``hook(step, artifact, *, completed=None, total=None)``: ``"scored"`` as results come back from the model
        (``artifact`` is the number just finished), ``"written"`` after each output folder.

    Returns
    -------
    list of ItemOutcome
        One per input, in order: its folder, prediction or error, processing log and findings.

    Examples
    --------
    >>> run_dir = wb.demo_run("runs/demo", model="tiny")
    >>> wav = sorted(wb.DEMO_DATA.glob("*.wav"))[0]
    >>> out = wb.infer_files([wav, "missing.wav"], model="tiny", out_dir="outputs_doc")
    >>> [o.ok for o in out], sorted(p.name for p in out[0].folder.iterdir())
    ([True, False], ['log.txt', 'processed_audio.wav', 'result.json'])
    """
    t_start = time.perf_counter()
    audio_config = audio_config or AudioConfig()
    out_root = Path(out_dir)
    if out_root.exists() and not out_root.is_dir():  # refused before the model loads
        raise ConfigError("exists and is not a folder.", source=str(out_root), fix="pass --out a folder (it is created if missing).")
    t0 = time.perf_counter()
    net = ModelRef.coerce(model).load(progress=load_progress, job_clips=len(inputs))
    load_s = 0.0 if net is model else time.perf_counter() - t0
    out_root.mkdir(parents=True, exist_ok=True)  # only once the model has loaded
    names = [str(x) if isinstance(x, (str, os.PathLike)) else f"input{k}" for k, x in enumerate(inputs)]
    finished = [0]

    def progress(n: int) -> None:
        finished[0] += n
        if hook:
            hook("scored", n, completed=finished[0], total=len(inputs))

    outcomes: list[ItemOutcome] = []
    for k, (name, source) in enumerate(zip(names, inputs)):
        # one file at a time through the engine: its decode and model times are its own, as measured, not a
        # batch's total shared out (``workbench run`` is the batched path for many files)
        t_file = time.perf_counter()
        (s,) = score_sources(net, [source], ids=[name], audio_config=audio_config, diagnostics=diagnostics,
                             granularity=granularity, keep_audio=True, workers=0, policy=policy, progress=progress)
        outcome, timings = _outcome(name, s, net, load_s, len(inputs))
        total = time.perf_counter() - t_file  # this file's own time: decode, model, findings
        timings["total_ms"] = round(total * 1000, 1)
        timings["command"]["elapsed_ms"] = round((time.perf_counter() - t_start) * 1000, 1)
        outcome.log.note(f"Done. Total processing time: {total:.2f}s", name="done")
        outcome.folder = _write_item(out_root, outcome, s.audio if s.ok else None, net, granularity, embedding, timings)
        outcomes.append(outcome)
        if hook:
            hook("written", outcome, completed=k + 1, total=len(inputs))
    return outcomes


def _outcome(name: str, s: Any, net: Any, load_s: float, n_inputs: int) -> tuple[ItemOutcome, dict]:
    """One input's outcome (prediction or error, its processing log with the command's notes) and its timings."""
    outcome = ItemOutcome(input=name, folder=None)
    if s.audio is not None:
        outcome.log = s.audio.log.copy()
    if s.ok:
        outcome.prediction = s.prediction
        outcome.findings = [f.to_dict() for f in s.findings]
    else:
        outcome.error = s.error
        outcome.log.note(s.error["text"], level="ERROR", name="error")
    log = outcome.log
    shared = f"once for the {n_inputs} inputs of this command, not part of this file's time" if n_inputs > 1 else "once"
    log.steps.insert(0, _note(f"Model loaded in {load_s:.1f}s ({net.info.id} on {net.info.device}; {shared})", name="model_load"))
    if net.random_weights:
        log.steps.insert(0, _note(RANDOM_WEIGHTS_BANNER, level="WARNING", name="random_weights"))
    timings = {
        "decode_preprocess_ms": round(s.decode_ms, 1),
        "inference_ms": round(s.infer_ms, 1),
        # the command's one model load, the same for every file of the command
        "command": {"model_load_ms": round(load_s * 1000, 1), "inputs": n_inputs},
    }
    if outcome.prediction is not None:
        p = outcome.prediction
        log.note(f"Inference completed. Top emotion: {p.label} ({p.confidence:.3f})", name="inference")
        for f in s.findings:  # every finding result.json holds, info ones too (speech_at_sample_0 is an info finding)
            log.note(f"{f.code}: {f.message}", level="WARNING" if f.severity in ("high", "error", "warning") else "INFO",
                     name="finding")
    return outcome, timings


def _note(message: str, *, level: str = "INFO", name: str = "note"):
    return StepRecord(name=name, level=level, message=message)


def label_scheme(labels: Sequence[str]) -> list[dict]:
    """``result.json``'s ``label_scheme``: the model's classes in its order, as its ``scores`` are keyed.  The nine carry
    their checkpoint names and emoji; a fine-tuned head's classes carry their names alone (its ``neutral`` is its own
    class, not emotion2vec+'s 中立), ``chinese`` and ``emoji`` null."""
    if tuple(labels) == LABEL_KEYS:
        return [{"key": lb.key, "chinese": lb.chinese, "emoji": lb.emoji} for lb in LABELS]
    return [{"key": str(k), "chinese": None, "emoji": None} for k in labels]


def result_payload(
    outcome: ItemOutcome,
    audio: Audio | None,
    net: Emotion2vecModel,
    granularity: str,
    timings: dict,
    files: dict,
) -> dict:
    """The ``result.json`` document of one successful item."""
    p = outcome.prediction
    body = p.to_dict(frames=granularity == "frame")
    payload: dict[str, Any] = {
        "emotion": body.pop("emotion"),
        "confidence": body.pop("confidence"),
        "scores": body.pop("scores"),
        "granularity": granularity,
        "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if net.random_weights:
        payload["random_weights"] = True
        payload["warning"] = RANDOM_WEIGHTS_BANNER
    payload.update(body)
    payload["label_scheme"] = label_scheme(net.info.labels)
    payload["input"] = audio.source.to_dict() if audio else {"id": outcome.input}
    payload["audio"] = {
        "sample_rate": audio.sr,
        "samples": int(len(audio.samples)),
        "duration": audio.duration,
        "sha256": audio.content_hash(),
    } if audio else None
    payload["processing_chain"] = [s.to_dict() for s in (audio.log.audio_steps if audio else [])]
    payload["findings"] = outcome.findings
    payload["model"] = net.info.to_dict()
    payload["timings"] = timings
    payload["package"] = {"name": "workbench", "version": __version__}
    payload["files"] = files
    return payload


def _write_item(out_root: Path, outcome: ItemOutcome, audio: Audio | None, net, granularity: str, embedding: bool, timings: dict) -> Path:
    sweep_folder(out_root)  # the temporary folders of a killed `infer` (kill -9) go at the next one into the folder
    tmp = Path(tempfile.mkdtemp(prefix=f".outputs.tmp-{os.getpid()}-", dir=out_root))
    try:
        files: dict[str, str] = {"log": "log.txt"}
        if outcome.ok and outcome.prediction is not None and audio is not None:
            import soundfile as sf

            write_atomic(tmp / "processed_audio.wav", lambda f: sf.write(f, audio.samples, audio.sr, format="WAV", subtype="FLOAT"))
            files["processed_audio"] = "processed_audio.wav"
            p = outcome.prediction
            if embedding:
                emb = p.frame_embeddings if (granularity == "frame" and p.frame_embeddings is not None) else p.embedding
                write_npy(tmp / "embedding.npy", emb)
                files["embedding"] = "embedding.npy"
            payload = result_payload(outcome, audio, net, granularity, timings, files)
            outcome.result = payload
            write_json(tmp / "result.json", payload)
        else:
            err = {
                "input": outcome.input,
                "error": outcome.error,
                "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "model": net.info.to_dict(),
                "package": {"name": "workbench", "version": __version__},
                "timings": timings,
            }
            write_json(tmp / "error.json", err)
        # a file name that is not UTF-8 (bytes \xff\xfe) arrives with surrogates: written as escapes, never an error
        write_text(tmp / "log.txt", outcome.log.render() + "\n")
        return _publish(tmp, out_root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _publish(tmp: Path, out_root: Path) -> Path:
    """Rename a finished temporary folder to ``outputs_YYYYMMDD_HHMMSS[_N]``."""
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    for n in range(0, 10_000):
        final = out_root / (f"outputs_{stamp}" if n == 0 else f"outputs_{stamp}_{n}")
        if final.exists():
            continue
        try:
            return rename_folder(tmp, final)  # atomic; fails if another writer took the name first, refuses a link
        except UnsafePathError:
            continue
        except OSError:
            continue
    raise WorkbenchError(f"could not find a free folder name under {out_root} ({uuid.uuid4().hex})")


def print_logs(outcomes, out=None) -> None:
    """Each input's processing log under its name, the command's one model load said once above them (each folder's
    log.txt keeps its own copy) and the random-weights line left to the banner (said once too)."""
    out = out or sys.stdout
    loads = [s for o in outcomes for s in o.log.steps if s.name == "model_load"]
    if loads:  # above every file: no file's time ("this file's" is said in each log.txt)
        print(ProcessingLog(loads[:1]).render().replace("not part of this file's time", "not part of any file's time"), file=out)
    for o in outcomes:
        print(f"\n== {printable(o.input)}", file=out)
        print(ProcessingLog([s for s in o.log.steps if s.name not in ("random_weights", "model_load")]).render(), file=out)
    print(file=out)


def _shown_name(source: Any) -> str:
    """An input's file name as the summary shows it: on one line (a line break in a name started a fake row of the
    table or a fake finding), and cut in the middle past 80 characters (a 250-character name widened every row)."""
    return cut_middle(printable(Path(source).name), 80) if source else "?"


def print_outcomes(outcomes, *, show_log: bool = False, out=None) -> None:
    """Print the random-weights banner (once), optional logs, a results table, every finding (info ones too), and
    again the findings that void a label (digital silence, a DC-only or signal-free input: severity ``error``)."""
    out = out or sys.stdout
    if any(o.result and o.result.get("random_weights") for o in outcomes):
        print(f"!! {RANDOM_WEIGHTS_BANNER}", file=out)
    if show_log:
        print_logs(outcomes, out)
    rows = [("input", "emotion", "conf", "margin", "dur s", "folder / error")]
    for o in outcomes:
        name = _shown_name(o.input)
        if o.ok and o.prediction is not None:
            p = o.prediction
            rows.append((name, p.label, f"{p.confidence:.3f}", f"{p.margin:.3f}", f"{p.duration:.2f}", str(o.folder)))
        else:
            msg = (o.error or {}).get("message", "failed")
            fix = (o.error or {}).get("fix")
            rows.append((name, "FAILED", "-", "-", "-", f"{msg}{f' Fix: {fix}' if fix else ''}  [{o.folder}]"))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5], file=out)
    failed = sum(not o.ok for o in outcomes)
    print(f"{len(outcomes) - failed} succeeded, {failed} failed", file=out)
    found = [(o, f) for o in outcomes for f in o.findings]
    if found:
        print(f"\nfindings ({len(found)}; their suggestions are in each folder's log.txt and result.json):", file=out)
        for o, f in found:
            print(f"  {_shown_name(o.input)}: {f['code']} ({f.get('severity', '?')}): {f['message']}", file=out)
    serious = [(o, f) for o, f in found if f.get("severity") in ("error", "high")]
    if serious:
        print(f"\n{len(serious)} finding(s) that make a label meaningless — check these inputs:", file=out)
        for o, f in serious:
            print(f"  {_shown_name(o.input)}: {f['code']}: {f['message']}" + (f" → {f['suggestion']}" if f.get("suggestion") else ""),
                  file=out)
