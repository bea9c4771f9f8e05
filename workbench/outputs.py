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
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from . import __version__
from .audio import Audio, AudioConfig
from .errors import WorkbenchError
from .labels import LABELS
from .model import BatchPolicy, Emotion2vecModel, Prediction, RANDOM_WEIGHTS_BANNER
from .processing import ProcessingLog

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

    @property
    def ok(self) -> bool:
        return self.error is None


def infer_files(
    inputs: Sequence[Any],
    *,
    model: Emotion2vecModel | str | None = None,
    hub: str = "ms",
    revision: str | None = None,
    device: str = "auto",
    granularity: str = "utterance",
    embedding: bool = False,
    out_dir: str | os.PathLike = "outputs",
    audio_config: AudioConfig | None = None,
    policy: BatchPolicy | None = None,
    hook: Callable[..., None] | None = None,
) -> list[ItemOutcome]:
    """Predict every input and write its output folder; never stops on a bad input.

    ``hook(step, artifact, *, completed=None, total=None)`` is called with
    ``"decoded"``, ``"batch"`` and ``"written"`` steps.
    """
    from .audio import load as load_audio
    from .model import load_model

    t_start = time.perf_counter()
    audio_config = audio_config or AudioConfig()
    out_root = Path(out_dir)

    if isinstance(model, Emotion2vecModel):
        net, load_s = model, 0.0
    else:
        t0 = time.perf_counter()
        net = load_model(model, hub=hub, revision=revision, device=device)
        load_s = time.perf_counter() - t0

    out_root.mkdir(parents=True, exist_ok=True)  # only once the model has loaded
    outcomes: list[ItemOutcome] = []
    audios: dict[int, Audio] = {}
    decode_ms: dict[int, float] = {}
    for k, item in enumerate(inputs):
        name = str(item) if isinstance(item, (str, os.PathLike)) else f"input{k}"
        outcome = ItemOutcome(input=name, folder=None)
        t0 = time.perf_counter()
        try:
            audio = load_audio(item, config=audio_config)
            if len(audio.samples) < 400:
                from .errors import AudioError

                raise AudioError(
                    f"is {audio.duration * 1000:.0f} ms long; the model needs at least 25 ms (one frame).",
                    source=name,
                    fix="clips under 1 s are unreliable anyway: drop it or record a longer one.",
                )
            audios[k] = audio
            outcome.log = audio.log.copy()
        except WorkbenchError as exc:
            outcome.error = exc.to_dict()
            outcome.log.note(str(exc), level="ERROR", name="error")
        decode_ms[k] = (time.perf_counter() - t0) * 1000
        outcomes.append(outcome)
        if hook:
            hook("decoded", outcome, completed=k + 1, total=len(inputs))

    # batched inference over what decoded; a failing batch falls back to one clip at a time
    infer_ms: dict[int, float] = {}
    keys = list(audios)
    if keys:
        predictions = _predict_all(net, keys, audios, granularity, embedding, policy, infer_ms, outcomes, hook)
        for k, pred in predictions.items():
            outcomes[k].prediction = pred

    for k, outcome in enumerate(outcomes):
        log = outcome.log
        log.steps.insert(0, _note(f"Model loaded in {load_s:.1f}s ({net.info.id} on {net.info.device})", name="model_load"))
        if net.random_weights:
            log.steps.insert(0, _note(RANDOM_WEIGHTS_BANNER, level="WARNING", name="random_weights"))
        timings = {
            "model_load_ms": round(load_s * 1000, 1),
            "decode_preprocess_ms": round(decode_ms.get(k, 0.0), 1),
            "inference_ms": round(infer_ms.get(k, 0.0), 1),
        }
        if outcome.prediction is not None:
            p = outcome.prediction
            log.note(f"Inference completed. Top emotion: {p.label} ({p.confidence:.3f})", name="inference")
        total = time.perf_counter() - t_start
        timings["total_ms"] = round(total * 1000, 1)
        log.note(f"Done. Total processing time: {total:.1f}s", name="done")
        outcome.folder = _write_item(out_root, outcome, audios.get(k), net, granularity, embedding, timings)
        if hook:
            hook("written", outcome, completed=k + 1, total=len(outcomes))
    return outcomes


def _predict_all(net, keys, audios, granularity, embedding, policy, infer_ms, outcomes, hook) -> dict[int, Prediction]:
    clips = [audios[k] for k in keys]
    last = [time.perf_counter()]
    results: dict[int, Prediction] = {}

    def timing_hook(step, preds, *, completed=None, total=None):
        now = time.perf_counter()
        per_clip = (now - last[0]) * 1000 / max(len(preds), 1)
        last[0] = now
        for p in preds:
            timing_by_obj[id(p)] = per_clip
        if hook:
            hook("batch", preds, completed=completed, total=total)

    timing_by_obj: dict[int, float] = {}
    try:
        preds = net.predict(clips, granularity=granularity, embeddings=embedding, policy=policy, hook=timing_hook)
        for k, p in zip(keys, preds):
            results[k] = p
            infer_ms[k] = timing_by_obj.get(id(p), 0.0)
        return results
    except Exception as exc:  # one clip must not take the others with it
        logger.warning("batched inference failed (%s); retrying one clip at a time", exc)
    for k in keys:
        t0 = time.perf_counter()
        try:
            results[k] = net.predict([audios[k]], granularity=granularity, embeddings=embedding)[0]
        except Exception as exc:
            err = exc.to_dict() if isinstance(exc, WorkbenchError) else {
                "type": type(exc).__name__, "code": "inference", "source": audios[k].id,
                "message": str(exc), "fix": None, "text": f"inference failed: {exc}",
            }
            outcomes[k].error = err
            outcomes[k].log.note(err["text"], level="ERROR", name="error")
        infer_ms[k] = (time.perf_counter() - t0) * 1000
    return results


def _note(message: str, *, level: str = "INFO", name: str = "note"):
    from .processing import StepRecord

    return StepRecord(name=name, level=level, message=message)


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
    assert p is not None
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
    payload["label_scheme"] = [{"key": lb.key, "chinese": lb.chinese, "emoji": lb.emoji} for lb in LABELS]
    payload["input"] = audio.source.to_dict() if audio else {"id": outcome.input}
    payload["audio"] = {
        "sample_rate": audio.sr,
        "samples": int(len(audio.samples)),
        "duration": audio.duration,
        "sha256": audio.content_hash(),
    } if audio else None
    payload["processing_chain"] = [s.to_dict() for s in (audio.log.audio_steps if audio else [])]
    payload["model"] = net.info.to_dict()
    payload["timings"] = timings
    payload["package"] = {"name": "workbench", "version": __version__}
    payload["files"] = files
    return payload


def _write_item(out_root: Path, outcome: ItemOutcome, audio: Audio | None, net, granularity: str, embedding: bool, timings: dict) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=".outputs-tmp-", dir=out_root))
    try:
        files: dict[str, str] = {"log": "log.txt"}
        if outcome.ok and outcome.prediction is not None and audio is not None:
            import soundfile as sf

            sf.write(tmp / "processed_audio.wav", audio.samples, audio.sr, subtype="FLOAT")
            files["processed_audio"] = "processed_audio.wav"
            p = outcome.prediction
            if embedding:
                emb = p.frame_embeddings if (granularity == "frame" and p.frame_embeddings is not None) else p.embedding
                np.save(tmp / "embedding.npy", emb)
                files["embedding"] = "embedding.npy"
            payload = result_payload(outcome, audio, net, granularity, timings, files)
            outcome.result = payload
            (tmp / "result.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
        else:
            err = {
                "input": outcome.input,
                "error": outcome.error,
                "timestamp": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "model": net.info.to_dict(),
                "package": {"name": "workbench", "version": __version__},
                "timings": timings,
            }
            (tmp / "error.json").write_text(json.dumps(err, indent=2, ensure_ascii=False), encoding="utf-8")
        (tmp / "log.txt").write_text(outcome.log.render() + "\n", encoding="utf-8")
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
            os.rename(tmp, final)  # atomic; fails if another writer took the name first
            return final
        except OSError:
            continue
    raise WorkbenchError(f"could not find a free folder name under {out_root} ({uuid.uuid4().hex})")
