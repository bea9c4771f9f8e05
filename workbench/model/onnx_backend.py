"""ONNX Runtime backend: an exported model (:mod:`workbench.model.onnx_export`) with the model's ``predict``.

:class:`OnnxModel` has the interface the engine uses from
:class:`~workbench.model.network.Emotion2vecModel` — ``info``, ``random_weights``, ``predict`` returning
:class:`~workbench.model.network.Prediction` objects in the package's label order — so ``workbench run``
and ``workbench infer`` take ``--backend onnxruntime`` with the engine unchanged.  Batching is
the model's own (:func:`~workbench.model.network.plan_batches`, length-sorted buckets).

:func:`compare_backends` scores the same clips with two models and reports the workbench's
agreement figures (:func:`workbench.analysis.compare.agreement`: Cohen's kappa, top-1 agreement, max
|Δ score|, embedding cosines), e.g. the int8 graph against the float32 one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from workbench.analysis.compare import agreement
from workbench.errors import ConfigError, ModelError
from workbench.model.labels import LABEL_KEYS
from workbench.model.network import (
    RANDOM_WEIGHTS_BANNER,
    SAMPLE_RATE,
    BatchPolicy,
    ModelInfo,
    Prediction,
    _as_wave,
    _softmax,
    default_policy,
    plan_batches,
)
from workbench.model.onnx_export import META_FILE, ONNX_FILE, ONNX_INT8_FILE

logger = logging.getLogger(__name__)

BACKENDS = ("torch", "onnxruntime")
ONNX_DTYPES = ("auto", "float32", "int8")


def is_onnx_folder(path: Any) -> bool:
    """True for a folder written by ``workbench model export-onnx`` (it holds model.json and model.onnx)."""
    try:
        p = Path(path).expanduser()
        return (p / META_FILE).is_file() and (p / ONNX_FILE).is_file()
    except (TypeError, OSError):
        return False


def resolve_onnx_dtype(requested: str, folder: str | os.PathLike) -> tuple[str, str]:
    """Which graph of an export folder to run, and why: ``float32`` (model.onnx) or ``int8`` (model.int8.onnx).

    ``auto`` takes the int8 graph when the folder has one (it exists only when ``--int8`` asked for it), else float32.
    """
    if requested not in ONNX_DTYPES:
        raise ConfigError(f"dtype {requested!r} is not available with the onnxruntime backend; it runs {', '.join(ONNX_DTYPES)}.",
                          source="--dtype", fix="pass --dtype float32, int8 (export with --int8) or auto, or use --backend torch.")
    has_int8 = (Path(folder) / ONNX_INT8_FILE).is_file()
    if requested == "int8" and not has_int8:
        raise ConfigError(f"the export folder has no {ONNX_INT8_FILE}.", source=str(folder),
                          fix="export again with `workbench model export-onnx --int8`, or pass --dtype float32.")
    if requested != "auto":
        return requested, "asked for"
    return ("int8", f"the export has {ONNX_INT8_FILE}") if has_int8 else ("float32", f"the export has no {ONNX_INT8_FILE}")


def _threads() -> int:
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class OnnxModel:
    """An exported emotion2vec+ graph run by ONNX Runtime, with :class:`Emotion2vecModel`'s ``predict``.

    Use :func:`load_onnx_model`.  ``info.kind`` is ``"onnx"``, ``info.checksum`` the sha256 of
    the graph file it runs (so cached predictions of the torch model are never reused for it),
    ``info.path`` the export folder.
    """

    def __init__(self, session: Any, meta: dict, info: ModelInfo):
        self.session = session
        self.meta = meta
        self.info = info
        self.labels = tuple(meta["labels"])
        #: why this graph's precision was chosen, for the run's provenance
        self.dtype_reason: str | None = None

    @property
    def random_weights(self) -> bool:
        return self.info.random_weights

    def predict(
        self,
        clips: Sequence[Any],
        *,
        granularity: str = "utterance",
        embeddings: bool = True,
        policy: BatchPolicy | None = None,
        ids: Sequence[str] | None = None,
        hook: Callable[..., None] | None = None,
    ) -> list[Prediction]:
        """Predict the nine scores for each clip (same contract as :meth:`Emotion2vecModel.predict`).

        Parameters
        ----------
        clips : sequence of Audio or 1-D float arrays
            Mono audio at 16 kHz, at least 400 samples each.
        granularity : {"utterance", "frame"}
        embeddings : bool
        policy : BatchPolicy, optional
        ids : sequence of str, optional
        hook : callable, optional
            ``hook("batch", predictions, completed=n, total=N)`` after each batch.

        Returns
        -------
        list of Prediction, in the order of ``clips``.
        """
        if granularity not in ("utterance", "frame"):
            raise ConfigError(f"granularity must be 'utterance' or 'frame', given {granularity!r}.",
                              fix="pass granularity='frame' for frame-level scores.")
        waves, names = [], []
        for k, clip in enumerate(clips):
            wave, sr, name = _as_wave(clip, ids[k] if ids else None, k)
            if sr != SAMPLE_RATE:
                raise ModelError(f"audio is at {sr} Hz; emotion2vec expects {SAMPLE_RATE} Hz.", source=name,
                                 fix="load it with workbench.audio.intake.load(), which resamples to 16 kHz.")
            if len(wave) < 400:
                raise ModelError(f"audio has {len(wave)} samples; the model needs at least 400 (25 ms) for one frame.",
                                 source=name, fix="pad the clip or drop it.")
            waves.append(np.ascontiguousarray(wave, dtype=np.float32))
            names.append(name)
        wanted = ["logits", "embedding", "frame_lengths"]
        if granularity == "frame":
            wanted += ["frame_logits"] + (["frame_embeddings"] if embeddings else [])
        results: list[Prediction | None] = [None] * len(waves)
        done = 0
        for batch in plan_batches([len(w) for w in waves], policy or default_policy(self.info.device)):
            lengths = np.array([len(waves[i]) for i in batch], dtype=np.int64)
            block = np.zeros((len(batch), int(lengths.max())), dtype=np.float32)
            for row, i in enumerate(batch):
                block[row, : lengths[row]] = waves[i]
            out = dict(zip(wanted, self.session.run(wanted, {"waveforms": block, "lengths": lengths})))
            preds = []
            for row, i in enumerate(batch):
                n = int(out["frame_lengths"][row])
                logits = out["logits"][row].astype(np.float64)
                pred = Prediction(
                    id=names[i], scores=_softmax(logits), logits=logits,
                    embedding=out["embedding"][row] if embeddings else None,
                    frame_logits=out["frame_logits"][row, :n].astype(np.float64) if "frame_logits" in out else None,
                    frame_embeddings=out["frame_embeddings"][row, :n] if "frame_embeddings" in out else None,
                    n_frames=n, duration=len(waves[i]) / SAMPLE_RATE, random_weights=self.random_weights, labels=self.labels,
                )
                results[i] = pred
                preds.append(pred)
            done += len(batch)
            if hook is not None:
                hook("batch", preds, completed=done, total=len(waves))
        return results  # type: ignore[return-value]


def read_meta(folder: str | os.PathLike) -> dict:
    """``model.json`` of an export folder, checked."""
    p = Path(folder).expanduser()
    if not is_onnx_folder(p):
        raise ModelError(f"is not an ONNX export folder (it needs {ONNX_FILE} and {META_FILE}).", source=str(p),
                         fix="export one with `workbench model export-onnx --model CHECKPOINT --out DIR` and pass --model DIR.")
    try:
        meta = json.loads((p / META_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {META_FILE}: {exc}.", source=str(p), fix="export the model again.") from None
    labels = meta.get("labels") if isinstance(meta, dict) else None
    good_labels = (isinstance(labels, list) and len(labels) >= 2 and all(isinstance(k, str) and k.strip() for k in labels)
                   and len(set(labels)) == len(labels))
    if not isinstance(meta, dict) or not good_labels or meta.get("sample_rate") != SAMPLE_RATE:
        raise ModelError(f"{META_FILE} does not describe a 16 kHz emotion2vec export with a label set (two or more distinct "
                         f"labels, e.g. {list(LABEL_KEYS)}); it has labels {labels!r}.",
                         source=str(p), fix="export the model again with this version of the workbench.")
    return meta


def load_onnx_model(folder: str | os.PathLike, *, dtype: str = "float32", device: str = "cpu",
                    threads: int | None = None) -> OnnxModel:
    """Open an export folder with ONNX Runtime.

    Parameters
    ----------
    folder : path
        Written by :func:`workbench.model.onnx_export.export_onnx`.
    dtype : {"auto", "float32", "int8"}
        Which graph to run (see :func:`resolve_onnx_dtype`).
    device : {"cpu", "cuda", "auto"}
        ``cuda`` needs onnxruntime-gpu (``CUDAExecutionProvider``); ``auto`` takes it when present.
    threads : int, optional
        Intra-op threads (default: ``OMP_NUM_THREADS``, else the cores this process may use).
    """
    import onnxruntime as ort

    t0 = time.perf_counter()
    meta = read_meta(folder)
    folder = Path(folder).expanduser()
    chosen, _ = resolve_onnx_dtype(dtype, folder)
    graph = folder / (ONNX_INT8_FILE if chosen == "int8" else ONNX_FILE)
    available = ort.get_available_providers()
    if device == "auto":
        device = "cuda" if "CUDAExecutionProvider" in available and chosen == "float32" else "cpu"
    if str(device).startswith("cuda"):
        if "CUDAExecutionProvider" not in available:
            raise ConfigError(f"ONNX Runtime here has no CUDA provider (it has {', '.join(available)}).", source="--device",
                              fix="install onnxruntime-gpu, or pass --device cpu.")
        index = str(device).partition(":")[2] or "0"
        providers: list = [("CUDAExecutionProvider", {"device_id": int(index)}), "CPUExecutionProvider"]
    elif device == "cpu":
        providers = ["CPUExecutionProvider"]
    else:
        raise ConfigError(f"unknown device {device!r} for the onnxruntime backend.", source="--device", fix="pass cpu, cuda or auto.")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: ORT's warnings would reach the screen otherwise
    options.intra_op_num_threads = threads or _threads()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        session = ort.InferenceSession(str(graph), sess_options=options, providers=providers)
    except Exception as exc:  # noqa: BLE001 — ORT raises its own exception types for a bad file
        raise ModelError(f"ONNX Runtime cannot open {graph.name}: {str(exc).strip().splitlines()[-1][:300]}.", source=str(folder),
                         fix="export the model again.") from exc
    random_weights = bool(meta.get("random_weights"))
    info = ModelInfo(
        id=f"{meta.get('source_model')} (onnx {chosen})", kind="onnx", hub=None, revision=None, path=str(folder.resolve()),
        checksum=_sha256(graph), parameters=int(meta.get("parameters") or 0), embed_dim=int(meta.get("embed_dim") or 0),
        device=str(device), dtype=chosen, labels=list(meta["labels"]), random_weights=random_weights,
        load_seconds=time.perf_counter() - t0, funasr_version=None,
        warning=RANDOM_WEIGHTS_BANNER if random_weights else None,
    )
    if random_weights:
        logger.warning(RANDOM_WEIGHTS_BANNER)
    return OnnxModel(session, meta, info)


def compare_backends(reference: Any, other: Any, clips: Sequence[Any]) -> dict:
    """Score ``clips`` with both models and return :func:`workbench.analysis.compare.agreement` of ``other`` against ``reference``.

    Returns the agreement dict (``kappa``, ``top1_agreement``, ``max_abs_delta_score``, ``cosine_min`` …).
    """
    a = reference.predict(clips, embeddings=True)
    b = other.predict(clips, embeddings=True)
    return agreement([p.label for p in a], [p.label for p in b], np.stack([p.scores for p in a]), np.stack([p.scores for p in b]),
                     np.stack([p.embedding for p in a]), np.stack([p.embedding for p in b]))


def check_clips(n: int = 12, seed: int = 0) -> list[np.ndarray]:
    """Seeded speech-like clips (harmonic voice with vibrato and syllable envelope, 1.5–6 s) for export checks."""
    rng = np.random.default_rng(seed)
    clips = []
    for _ in range(n):
        t = np.arange(int(rng.uniform(1.5, 6.0) * SAMPLE_RATE)) / SAMPLE_RATE
        f0 = 100 + 120 * rng.random() + 20 * np.sin(2 * np.pi * rng.uniform(0.3, 2.0) * t)
        phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
        y = sum((0.5 / k) * np.sin(k * phase) for k in range(1, 12))
        y = 0.3 * y * np.clip(np.sin(2 * np.pi * rng.uniform(2, 6) * t), 0, None) + 0.01 * rng.standard_normal(len(t))
        clips.append(y.astype(np.float32))
    return clips
