"""emotion2vec+ through FunASR: loading, batched prediction, frame-level scores.

Loading goes through ``funasr.AutoModel`` as FunASR users do it: a hub id
(``iic/emotion2vec_plus_large`` by default, ModelScope or Hugging Face), a
local checkpoint directory (no network needed), or ``tiny`` (a seeded random
checkpoint the package builds); resolution, the offline policy, safe weight
reading and checksums live in :mod:`workbench.model.checkpoints`.  Two steps of
FunASR's building are replaced (:mod:`workbench.model.funasr_patches`): the
network is built without random initialisation, and the weights are read with
``weights_only=True`` (or from ``model.safetensors``) and put into the network
without copies.  The result is bitwise the network FunASR's own loading gives
(tested); a pickle that holds more than tensors is refused.

Prediction runs the *same* network FunASR loaded, batched:

* each waveform is layer-normalised over its own length first, as FunASR's
  ``inference`` does (``F.layer_norm(wav, wav.shape)``), then zero-padded;
* clips are sorted by length and grouped into buckets so padding stays small;
* the padding mask goes through FunASR's own encoder (conv output lengths,
  attention key masking); the one place padding would leak, the 5-layer
  convolutional positional encoder, runs with padded frames zeroed before
  each layer, which is exactly the zero padding a single clip sees;
* utterance scores are ``softmax(proj(mean_t x_t))`` over the clip's real
  frames, as in FunASR.

**Frame-level scores.**  FunASR's ``inference`` gives only utterance scores.
The workbench applies the same classification head ``proj`` to every frame
(50 frames/s, one per 320 samples): ``frame_logits[t] = proj(x_t)``.  Because
``proj`` is affine, the mean of the frame logits *is* the utterance logit
vector, so ``softmax(mean_t frame_logits) == utterance scores`` exactly; the
mean of the per-frame *probabilities* is in general not.  Frame scores show
where in the clip the evidence for each class sits.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from workbench import interrupts
from workbench.model.temperature import apply_temperature, check_temperature
from workbench.audio.intake import Audio, AudioConfig, load as load_audio
from workbench.model.checkpoints import (  # noqa: F401  (re-exported: the names' home before they moved)
    ALIASES,
    DEFAULT_MODEL,
    KNOWN_MODELS,
    ModelSpec,
    _require_hub,
    cached_hub_checkpoint,
    check_checkpoint,
    check_weights_fit,
    checkpoint_warning,
    read_training_card,
    generated_checksum,
    file_sha256,
    import_funasr,
    load_weights,
    offline,
    random_checkpoint_info,
    require_hub,
    resolve_model,
    slow_load,
    weights_file,
)
from workbench.errors import ConfigError, ModelError, WorkbenchError
from workbench.limits import load_yaml_file
from workbench.model.funasr_patches import (
    assign_weights,
    fused_attention,
    low_precision_front_end,
    masked_positional_encoder,
    quiet,
    replace_weights_loader,
    skip_init,
)
from workbench.labels import LABEL_KEYS, RANDOM_WEIGHTS_BANNER, key_from_token  # noqa: F401  (banner re-exported)
from workbench.model.memory import tame_malloc
from workbench.schema import FRAME_RATE, MIN_MODEL_SAMPLES, SAMPLE_RATE  # noqa: F401  (public here too)

logger = logging.getLogger(__name__)



# ---------------------------------------------------------------------------
# specs and info
# ---------------------------------------------------------------------------
@dataclass
class ModelInfo:
    """Provenance of a loaded model, stored with every result."""

    id: str
    kind: str
    hub: str | None
    revision: str | None
    path: str | None
    checksum: str | None  # sha256 of model.pt
    parameters: int | None  # None: not counted (a checkpoint described without building it)
    embed_dim: int | None
    device: str
    dtype: str
    labels: list[str]
    random_weights: bool
    load_seconds: float
    funasr_version: str | None = None
    warning: str | None = None
    temperature: float | None = None  # scores are softmax(logits / temperature); None: as the checkpoint gives them

    def to_dict(self) -> dict:
        return asdict(self)


# ---------------------------------------------------------------------------
# predictions
# ---------------------------------------------------------------------------
def _softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    z = logits - np.max(logits, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


@dataclass
class Prediction:
    """The model's output for one clip.

    ``scores``: (C,) probabilities in ``labels`` order (the model's classes: the nine
    :data:`~workbench.labels.LABEL_KEYS`, or a fine-tuned head's own).  ``embedding``: (D,)
    mean of the clip's frame features.
    ``frame_logits``: (T, C) head applied to each frame (50 frames/s), and
    ``frame_embeddings``: (T, D), present with ``granularity="frame"``.
    """

    id: str
    scores: np.ndarray
    logits: np.ndarray
    embedding: np.ndarray | None = None
    frame_logits: np.ndarray | None = None
    frame_embeddings: np.ndarray | None = None
    n_frames: int = 0
    duration: float = 0.0
    random_weights: bool = False
    labels: tuple[str, ...] = LABEL_KEYS

    @property
    def label(self) -> str:
        return self.labels[int(np.argmax(self.scores))]

    @property
    def confidence(self) -> float:
        return float(np.max(self.scores))

    @property
    def margin(self) -> float:
        """Top-1 minus top-2 probability."""
        top2 = np.sort(self.scores)[-2:]
        return float(top2[1] - top2[0])

    @property
    def entropy(self) -> float:
        """Shannon entropy of the scores in bits (max log2(9) ≈ 3.17)."""
        p = self.scores[self.scores > 0]
        return float(-(p * np.log2(p)).sum())

    @property
    def frame_scores(self) -> np.ndarray | None:
        """(T, 9) per-frame probabilities, or ``None``."""
        return None if self.frame_logits is None else _softmax(self.frame_logits, axis=-1)

    @property
    def frame_times(self) -> np.ndarray | None:
        """(T,) start time of each frame in seconds."""
        return None if self.frame_logits is None else np.arange(self.n_frames) / FRAME_RATE

    def scores_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in zip(self.labels, self.scores)}

    def to_dict(self, *, frames: bool = True) -> dict:
        out: dict[str, Any] = {
            "emotion": self.label,
            "confidence": self.confidence,
            "scores": self.scores_dict(),
            "margin": self.margin,
            "entropy_bits": self.entropy,
            "n_frames": self.n_frames,
        }
        if frames and self.frame_logits is not None:
            fs = self.frame_scores
            out["frames"] = {
                "rate_hz": FRAME_RATE,
                "labels": list(self.labels),
                "top": [self.labels[i] for i in np.argmax(fs, axis=1)],
                "scores": np.round(fs, 6).tolist(),
            }
        return out


@dataclass(frozen=True)
class BatchPolicy:
    """How clips are grouped into batches.

    Clips are sorted by length (longest first); a batch closes when adding the
    next clip would exceed ``max_batch_size`` clips, ``max_batch_seconds`` of
    padded audio, or ``max_pad_fraction`` of padding.
    """

    max_batch_size: int = 8
    max_batch_seconds: float = 120.0
    max_pad_fraction: float = 0.2

    def to_dict(self) -> dict:
        return asdict(self)


#: GPU memory one second of padded audio takes inside a batch (large architecture, bf16/fp16): the conv front
#: end's widest layers (512 channels at 3200 frames/s, kept in float32 by its layer norms on CUDA) dominate,
#: ~13 MB/s, with the transformer's (B, T, 1024/4096) buffers and a 2x margin.  gpu_suite.py measures it
#: (``model_only.bytes_per_audio_second``); an estimate until then.
CUDA_BYTES_PER_AUDIO_SECOND = 32e6
#: clips per CUDA batch at most: beyond 256 × 6 s, model-only bf16 on an H200 gained nothing measurable (issue #23)
CUDA_MAX_CLIPS = 512


def cuda_policy(free_bytes: float, *, bytes_per_audio_second: float = CUDA_BYTES_PER_AUDIO_SECOND,
                memory_share: float = 0.5, max_clips: int = CUDA_MAX_CLIPS) -> BatchPolicy:
    """The CUDA batch policy for ``free_bytes`` of free GPU memory: batches as large as half of it holds.

    A batch closes at ``memory_share * free_bytes / bytes_per_audio_second`` seconds of padded audio (between
    30 s and 4096 s), ``max_clips`` clips, or 10 % padding (clips are sorted by length, so buckets of similar
    lengths form).  The fixed 64 clips / 640 s before it left an H200 at 2.6× FunASR where one 256-clip batch
    ran 4608× real time.  Pure: tests size it for any GPU without one.
    """
    seconds = memory_share * float(free_bytes) / float(bytes_per_audio_second)
    return BatchPolicy(max_batch_size=int(max_clips), max_batch_seconds=float(min(max(seconds, 30.0), 4096.0)),
                       max_pad_fraction=0.1)


def cuda_free_bytes(device: str) -> int:
    """Free memory of a CUDA device, in bytes (``torch.cuda.mem_get_info``)."""
    import torch

    index = torch.device(device).index
    return int(torch.cuda.mem_get_info(index if index is not None else torch.cuda.current_device())[0])


def default_policy(device: str) -> BatchPolicy:
    """Batching that suits the device: small buckets on CPU; on a GPU, sized by its free memory (:func:`cuda_policy`)."""
    if str(device).startswith("cuda"):
        return cuda_policy(cuda_free_bytes(str(device)))
    # measured on 2 cores (benchmarks/README.md): padding costs more than batching gains on a CPU
    return BatchPolicy(max_batch_size=4, max_batch_seconds=60.0, max_pad_fraction=0.05)


def plan_batches(lengths: Sequence[int], policy: BatchPolicy = BatchPolicy(), sr: int = SAMPLE_RATE) -> list[list[int]]:
    """Group item indices into length-sorted batches; every index appears once."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    total = 0
    max_samples = policy.max_batch_seconds * sr
    for i in order:
        if current:
            longest = lengths[current[0]]
            n = len(current) + 1
            padded = n * longest
            pad_frac = 1.0 - (total + lengths[i]) / padded if padded else 0.0
            if n > policy.max_batch_size or padded > max_samples or pad_frac > policy.max_pad_fraction:
                batches.append(current)
                current, total = [], 0
        current.append(i)
        total += lengths[i]
    if current:
        batches.append(current)
    return batches


# ---------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------
class Emotion2vecModel:
    """A loaded emotion2vec+ model; use :func:`load_model` to get one.

    Attributes
    ----------
    automodel : funasr.AutoModel
        The FunASR object, usable as FunASR documents (``generate``).
    info : ModelInfo
    """

    def __init__(self, automodel: Any, spec: ModelSpec, info: ModelInfo, label_index: list[int], valid_tokens: np.ndarray):
        self.automodel = automodel
        self.spec = spec
        self.info = info
        self._label_index = label_index  # checkpoint output index of each of info.labels
        self._valid_tokens = valid_tokens  # bool mask over checkpoint outputs ("unuse" tokens are False)
        self._lock = threading.Lock()
        #: "fused" (scaled_dot_product_attention, default on CUDA) or "funasr" (FunASR's own, default on CPU)
        self.attention = "fused" if info.device.startswith("cuda") else "funasr"
        #: in bfloat16/float16, run the conv front end's layer norms in that dtype (no float32 copies)
        self.low_precision_front_end = True

    @property
    def network(self):
        return self.automodel.model

    @property
    def random_weights(self) -> bool:
        return self.info.random_weights

    @property
    def labels(self) -> tuple[str, ...]:
        """The model's classes in score order: the nine emotion2vec+ keys, or a fine-tuned head's own."""
        return tuple(self.info.labels)

    @property
    def temperature(self) -> float | None:
        return self.info.temperature

    def with_temperature(self, temperature: float | None) -> "Emotion2vecModel":
        """The same loaded network whose logits (utterance and frame) are divided by ``temperature``.

        A shallow copy: the network, its lock and the FunASR object are shared, so the
        process keeps one copy of the weights; ``info.temperature`` records it.  ``None``
        gives the checkpoint's own scores.  A temperature comes from
        ``workbench calibrate`` (:mod:`workbench.analysis.calibration`).
        """
        t = None if temperature is None else check_temperature(temperature)
        if t == self.info.temperature:
            return self
        twin = copy.copy(self)
        twin.info = replace(self.info, temperature=t)
        return twin

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
        """Predict the nine scores for each clip.

        Parameters
        ----------
        clips : sequence of Audio or 1-D float arrays
            Mono audio at 16 kHz (``workbench.audio.intake.load`` makes it so).
        granularity : {"utterance", "frame"}
            ``"frame"`` adds per-frame logits and embeddings (50 frames/s).
        embeddings : bool
            Keep the (D,) utterance embedding (and frame embeddings).
        policy : BatchPolicy
        hook : callable, optional
            ``hook("batch", predictions, completed=n, total=N)`` after each batch.

        Returns
        -------
        list of Prediction, in the order of ``clips``.
        """
        if granularity not in ("utterance", "frame"):
            raise ConfigError(
                f"granularity must be 'utterance' or 'frame', given {granularity!r}.",
                fix="pass granularity='frame' for frame-level scores.",
            )
        waves, names = [], []
        for k, clip in enumerate(clips):
            wave, sr, name = _as_wave(clip, ids[k] if ids else None, k)
            if sr != SAMPLE_RATE:
                raise ModelError(
                    f"audio is at {sr} Hz; emotion2vec expects {SAMPLE_RATE} Hz.",
                    source=name,
                    fix="load it with workbench.audio.intake.load(), which resamples to 16 kHz.",
                )
            if len(wave) < MIN_MODEL_SAMPLES:
                raise ModelError(
                    f"audio has {len(wave)} samples ({len(wave) / SAMPLE_RATE * 1000:.0f} ms); the model needs at least {MIN_MODEL_SAMPLES} (25 ms) for one frame.",
                    source=name,
                    fix="pad the clip or drop it; clips under 1 s are unreliable anyway.",
                )
            waves.append(wave)
            names.append(name)
        results: list[Prediction | None] = [None] * len(waves)
        batches = plan_batches([len(w) for w in waves], policy or default_policy(self.info.device))
        done = 0

        def collect(batch, handle):
            nonlocal done
            preds = self._collect(handle, [names[i] for i in batch])
            for i, p in zip(batch, preds):
                results[i] = p
            done += len(batch)
            if hook is not None:
                hook("batch", preds, completed=done, total=len(waves))

        # pipelined: batch k+1 is prepared and queued before batch k is brought back
        with self._lock:
            pending = None
            for batch in batches:
                handle = self._launch([waves[i] for i in batch], granularity, embeddings)
                if pending is not None:
                    collect(*pending)
                pending = (batch, handle)
            if pending is not None:
                collect(*pending)
        return results  # type: ignore[return-value]

    def predict_files(
        self,
        sources: Sequence[Any],
        *,
        audio_config: Any = None,
        granularity: str = "utterance",
        embeddings: bool = True,
        policy: BatchPolicy | None = None,
        workers: int | None = None,
        chunk: int = 256,
        hook: Callable[..., None] | None = None,
    ) -> list["Prediction | Exception"]:
        """Decode and predict many inputs, decoding the next chunk while the model runs.

        Returns one entry per source, in order: a :class:`Prediction`, or the
        :class:`~workbench.errors.WorkbenchError` that stopped that source (a
        bad file never stops the others).
        """
        cfg = audio_config or AudioConfig()
        policy = policy or default_policy(self.info.device)
        if workers is None:
            # on a CPU, decode threads compete with torch's threads for the same cores
            workers = 4 if self.info.device.startswith("cuda") else 1
        results: list[Any] = [None] * len(sources)

        def decode(k: int):
            try:
                return load_audio(sources[k], config=cfg)
            except WorkbenchError as exc:
                return exc

        starts = list(range(0, len(sources), chunk))
        done = 0
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            pending = [pool.submit(decode, k) for k in range(0, min(chunk, len(sources)))]
            for n, start in enumerate(starts):
                decoded = [f.result() for f in pending]
                if n + 1 < len(starts):  # the pool decodes the next chunk while the model runs on this one
                    nxt = starts[n + 1]
                    pending = [pool.submit(decode, k) for k in range(nxt, min(nxt + chunk, len(sources)))]
                ok = [(start + i, a) for i, a in enumerate(decoded) if not isinstance(a, Exception)]
                for i, a in enumerate(decoded):
                    if isinstance(a, Exception):
                        results[start + i] = a
                short = [(k, a) for k, a in ok if len(a.samples) < MIN_MODEL_SAMPLES]
                for k, a in short:
                    results[k] = ModelError(f"audio is {a.duration * 1000:.0f} ms long; the model needs at least 25 ms.", source=a.id, fix="drop the clip.")
                ok = [(k, a) for k, a in ok if len(a.samples) >= MIN_MODEL_SAMPLES]
                if ok:
                    preds = self.predict([a for _, a in ok], granularity=granularity, embeddings=embeddings, policy=policy)
                    for (k, _), p in zip(ok, preds):
                        results[k] = p
                done += len(decoded)
                if hook is not None:
                    hook("chunk", results[start : start + len(decoded)], completed=done, total=len(sources))
        return results

    # -- internals ----------------------------------------------------------
    def _launch(self, waves: list[np.ndarray], granularity: str, embeddings: bool) -> dict:
        """Queue one batch on the device; results stay there until :meth:`_collect`.

        On CUDA the kernels run asynchronously, so the caller can prepare the
        next batch on the CPU while this one computes.
        """
        import torch
        import torch.nn.functional as F

        net = self.network
        device = self.info.device
        lengths = [len(w) for w in waves]
        longest = max(lengths)
        lengths_t = torch.tensor(lengths)
        on_gpu = device.startswith("cuda")
        # on CUDA a pinned (page-locked) host buffer makes the copy below really asynchronous
        source = torch.zeros(len(waves), longest, dtype=torch.float32, pin_memory=on_gpu)
        for i, w in enumerate(waves):
            t = torch.from_numpy(np.ascontiguousarray(w, dtype=np.float32))
            if net.cfg.normalize and not on_gpu:
                t = F.layer_norm(t, t.shape)  # exactly FunASR's per-clip normalisation
            source[i, : len(w)] = t
        source = source.to(device, non_blocking=on_gpu)
        padding_mask = (torch.arange(longest)[None, :] >= lengths_t[:, None]).to(device)
        if net.cfg.normalize and on_gpu:
            # the same layer norm over each clip's own samples, computed on the device
            valid = (~padding_mask).float()
            n = valid.sum(1, keepdim=True)
            mean = (source * valid).sum(1, keepdim=True) / n
            var = (((source - mean) * valid) ** 2).sum(1, keepdim=True) / n
            source = (source - mean) / torch.sqrt(var + 1e-5) * valid
        frames = _conv_output_lengths(net, lengths_t).tolist()
        low = self.low_precision_front_end and self.info.dtype in ("bfloat16", "float16")
        with (
            torch.inference_mode(),
            self._autocast(),
            masked_positional_encoder(net, frames),
            fused_attention(net, self.attention == "fused"),
            low_precision_front_end(net, low),
        ):
            out = net.extract_features(source, padding_mask=padding_mask if bool(padding_mask.any()) else None)
            x = out["x"].float()  # (B, T, D)
            T = x.shape[1]
            valid_f = (torch.arange(T, device=x.device)[None, :] < torch.tensor(frames, device=x.device)[:, None]).float()
            pooled = (x * valid_f[..., None]).sum(1) / valid_f.sum(1, keepdim=True)
            logits = net.proj(pooled).float() if net.proj is not None else None
            frame_logits = net.proj(x).float() if (net.proj is not None and granularity == "frame") else None
        return {
            "lengths": lengths,
            "frames": frames,
            "pooled": pooled,
            "logits": logits,
            "frame_logits": frame_logits,
            "x": x if (granularity == "frame" and embeddings) else None,
            "embeddings": embeddings,
        }

    def _collect(self, handle: dict, names: list[str]) -> list[Prediction]:
        """Bring a launched batch back to the host as :class:`Prediction` objects."""
        if handle["logits"] is None:
            raise ModelError(
                "this checkpoint has no classification head (it is a representation model).",
                source=self.info.id,
                fix="use an emotion2vec+ classifier such as iic/emotion2vec_plus_large.",
            )
        pooled_np = handle["pooled"].cpu().numpy()
        logits_np = handle["logits"].cpu().numpy()
        frame_np = handle["frame_logits"].cpu().numpy() if handle["frame_logits"] is not None else None
        x_np = handle["x"].cpu().numpy() if handle["x"] is not None else None
        preds = []
        for i, name in enumerate(names):
            n = handle["frames"][i]
            lg = self._to_scheme(logits_np[i])
            preds.append(
                Prediction(
                    id=name,
                    scores=_softmax(lg),
                    logits=lg,
                    embedding=pooled_np[i] if handle["embeddings"] else None,
                    frame_logits=self._to_scheme(frame_np[i, :n]) if frame_np is not None else None,
                    frame_embeddings=x_np[i, :n] if x_np is not None else None,
                    n_frames=n,
                    duration=handle["lengths"][i] / SAMPLE_RATE,
                    random_weights=self.random_weights,
                    labels=self.labels,
                )
            )
        return preds

    def _to_scheme(self, logits: np.ndarray) -> np.ndarray:
        """Checkpoint outputs → the model's label order (``info.labels``), with unused outputs at -inf."""
        lg = np.where(self._valid_tokens, logits, -np.inf)
        # the one place a fitted temperature touches the outputs: utterance and frame logits alike, so
        # softmax(mean of frame logits) stays the utterance score
        return apply_temperature(lg[..., self._label_index].astype(np.float64), self.info.temperature)

    @contextmanager
    def _autocast(self):
        import torch

        if self.info.dtype in ("float32", "int8"):
            yield
            return
        dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}[self.info.dtype]
        device_type = "cuda" if self.info.device.startswith("cuda") else "cpu"
        with torch.autocast(device_type=device_type, dtype=dtype):
            yield


def _as_wave(clip: Any, name: str | None, k: int) -> tuple[np.ndarray, int, str]:
    if isinstance(clip, Audio):
        return clip.samples, clip.sr, name or clip.id
    if isinstance(clip, tuple) and len(clip) == 2:
        return np.asarray(clip[0], dtype=np.float32), int(clip[1]), name or f"clip{k}"
    arr = np.asarray(clip, dtype=np.float32)
    if arr.ndim != 1:
        raise ModelError(
            f"clip has shape {arr.shape}; expected mono samples of shape (n,).",
            source=name or f"clip{k}",
            fix="load it with workbench.audio.intake.load(), which mixes down to mono.",
        )
    return arr, SAMPLE_RATE, name or f"clip{k}"


def _conv_output_lengths(net: Any, lengths):
    """Frames the conv feature encoder makes from each input length (FunASR's formula)."""
    import torch

    out = lengths.clone().double()
    for _, kernel, stride in net.modality_encoders["AUDIO"].feature_enc_layers:
        out = torch.floor((out - kernel) / stride + 1)
    return out.long()


# ---------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------
_CACHE: dict[tuple, Emotion2vecModel] = {}
_CACHE_LOCK = threading.Lock()


#: what a machine with a GPU torch can use has (NVIDIA's driver, or ROCm's kernel driver)
GPU_DRIVER_PATHS = ("/proc/driver/nvidia/version", "/dev/nvidiactl", "/dev/kfd")


def auto_device() -> str:
    """``"cuda"`` when torch sees a GPU, else ``"cpu"``.

    Without a GPU driver on the machine the answer is ``"cpu"`` without importing torch (1–2 s of a
    short run's start-up, and the ONNX Runtime path needs no torch at all).
    """
    if not any(os.path.exists(p) for p in GPU_DRIVER_PATHS):
        return "cpu"
    with interrupts.deferred():  # a Ctrl-C inside torch's C++ start-up aborts the process (exit -6)
        import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def load_model(
    model: str | os.PathLike | None = None,
    *,
    hub: str = "ms",
    revision: str | None = None,
    device: str = "auto",
    dtype: str = "float32",
    progress: Callable[[str], None] | None = None,
    temperature: float | None = None,
) -> Emotion2vecModel:
    """Load (once per process) and return an :class:`Emotion2vecModel`.

    Parameters
    ----------
    model : str or path, optional
        Hub id (default ``iic/emotion2vec_plus_large``), local checkpoint
        directory, or ``"tiny"``.
    hub : {"ms", "hf"}
    revision : str, optional
        Hub revision (tag or commit) to pin.
    device : str
        ``"auto"`` picks CUDA when available, else CPU.
    dtype : {"float32", "bfloat16", "float16", "int8"}
        ``float32`` is exact.  ``bfloat16``/``float16`` use autocast; on the CPU the bfloat16
        weights are converted once at load.
        ``int8`` is the fast CPU mode: dynamic int8 quantisation of every
        Linear layer (see ``benchmarks/README.md`` for its speed and cost).
    progress : callable, optional
        Called with a short line for each loading step (``"importing FunASR"``,
        ``"building network"``, ``"loading weights (1.3 GB)"``,
        ``"verifying checksum"``), e.g. to print them to stderr.  Not called
        when the model is already loaded.
    temperature : float, optional
        Divide the logits by this (``workbench calibrate`` fits it); recorded in
        ``info.temperature``.  The cached network is shared with untempered users.

    Weights are read with ``torch.load(weights_only=True)`` or from
    ``model.safetensors``: a checkpoint whose pickle holds anything beyond
    tensors is refused with a :class:`ModelError`.
    """
    say = progress or _silent
    spec = resolve_model(model, hub=hub, revision=revision)
    if dtype not in ("float32", "bfloat16", "float16", "int8"):
        raise ConfigError(
            f"dtype must be float32, bfloat16, float16 or int8, given {dtype!r}.",
            fix="pass dtype='float32' (exact), 'bfloat16' on a GPU, or 'int8' for the fast CPU mode.",
        )
    dev = auto_device() if device == "auto" else device
    key = (spec.kind, spec.model, spec.hub, spec.revision, dev, dtype)
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = _load(spec, dev, dtype, say)
        return _CACHE[key].with_temperature(temperature)


def as_model(model: Any = None, **load_options: Any) -> Emotion2vecModel:
    """A loaded model from a model or a reference (hub id, local folder, ``"tiny"``, ``None`` for the default).

    Anything that already behaves as a loaded model (``predict`` and ``info``) is returned as it is;
    a :class:`~workbench.model.ref.ModelRef` loads itself (``load_options`` other than ``progress`` do not
    apply to it); the rest goes to :func:`load_model` with ``load_options``.
    """
    if hasattr(model, "predict") and hasattr(model, "info"):
        return model
    if callable(getattr(model, "load", None)) and hasattr(model, "checksum"):
        # a workbench.model.ref.ModelRef: it names hub, device and dtype itself (modelref imports this module)
        return model.load(progress=load_options.get("progress"))
    return load_model(model, **load_options)


@dataclass
class CheckpointRef:
    """A checkpoint checked and hashed without building its network: what a Ray driver records of the model."""

    info: ModelInfo

    @property
    def random_weights(self) -> bool:
        return self.info.random_weights


def describe_checkpoint(model: str | os.PathLike | None = None, *, hub: str = "ms", revision: str | None = None,
                        device: str = "auto", dtype: str = "float32",
                        progress: Callable[[str], None] | None = None) -> CheckpointRef:
    """Check a checkpoint and hash its weights file without importing FunASR or building the network.

    The Ray engine's driver uses this: the actors load the model; the driver only needs to know
    what it is (id, folder, sha256 of the weights, random or not) to record it and to check
    that every actor loaded the same file.  The sha256 is memoised by (path, size, mtime), so a
    second run reads nothing.  A hub id that is not downloaded on the driver has no checksum
    here (``checksum=None``); the actors' own record of it goes into the summary.

    Returns a :class:`CheckpointRef`: ``info`` is a :class:`ModelInfo` with ``parameters=None``
    (counting them would mean building the network), ``device``/``dtype`` as asked.
    """
    say = progress or _silent
    if dtype not in ("float32", "bfloat16", "float16", "int8"):
        raise ConfigError(f"dtype must be float32, bfloat16, float16 or int8, given {dtype!r}.",
                          fix="pass dtype='float32' (exact), 'bfloat16' on a GPU, or 'int8' for the fast CPU mode.")
    spec = resolve_model(model, hub=hub, revision=revision)
    model_dir: Path | None = Path(spec.model) if spec.kind != "hub" else (
        cached_hub_checkpoint(spec.model, spec.hub) if not spec.revision else None)
    checksum = embed_dim = None
    random_info = None
    if model_dir is not None:
        _check_config(model_dir, spec)
        weights = weights_file(model_dir)
        if weights is None:
            raise ModelError("checkpoint has no weights file (model.pt); FunASR would run with random weights.",
                             source=str(model_dir), fix="download the complete checkpoint.")
        say("verifying checksum")
        checksum = file_sha256(weights)

        cfg = load_yaml_file(model_dir / "config.yaml") or {}  # bounded: checked by _check_config already
        embed_dim = (cfg.get("model_conf") or {}).get("embed_dim")
        random_info = random_checkpoint_info(model_dir)
        if random_info is None and (generated_checksum(checksum) or {}).get("kind") == "random":
            random_info = {"arch": {"name": "random"}}
    info = ModelInfo(
        id=spec.model if spec.kind == "hub" else (f"random-{random_info['arch']['name']}" if random_info else spec.model),
        kind=spec.kind, hub=spec.hub if spec.kind == "hub" else None, revision=spec.revision,
        path=str(model_dir) if model_dir is not None else None, checksum=checksum, parameters=None, embed_dim=embed_dim,
        device=device, dtype=dtype, labels=checkpoint_labels(model_dir) if model_dir is not None else list(LABEL_KEYS),
        random_weights=random_info is not None, load_seconds=0.0,
        warning=RANDOM_WEIGHTS_BANNER if random_info is not None else None,
    )
    return CheckpointRef(info)


def _silent(line: str) -> None:
    pass


def _load(spec: ModelSpec, device: str, dtype: str, say: Callable[[str], None]) -> Emotion2vecModel:
    say("importing FunASR")
    with interrupts.deferred():  # see auto_device
        import torch

    tame_malloc()  # variable-length batches otherwise fragment glibc's heap (see workbench.model.memory)

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} asked for, but CUDA is not available.", fix="pass --device cpu or --device auto.")
    t0 = time.perf_counter()
    funasr = import_funasr()
    kwargs: dict[str, Any] = dict(
        model=spec.model,
        device=device,
        disable_update=True,
        disable_pbar=True,
        log_level="ERROR",
        ncpu=torch.get_num_threads(),
        **NEUTRAL_LOADER_SETTINGS,
    )
    weights: Path | None = None
    if spec.kind == "hub":
        cached = cached_hub_checkpoint(spec.model, spec.hub) if not spec.revision else None
        if cached is not None:
            kwargs["model"] = str(cached)  # a complete local download: no network needed
            weights = weights_file(cached)
        else:
            require_hub(spec)
            kwargs.update(hub=spec.hub, check_latest=False)
            if spec.revision:
                kwargs["model_revision"] = spec.revision
    else:
        weights = weights_file(spec.model)
    if weights is not None:
        _check_config(Path(kwargs["model"]), spec)
        kwargs["init_param"] = str(weights)  # model.safetensors when the checkpoint has one

    # the fast path: the network is built without random initialisation and the workbench's own
    # safe loader puts the weights in (no copies); WORKBENCH_SLOW_LOAD=1 keeps FunASR's own
    # loading for benchmarks/startup.py, after the same safe read and check
    fast = not (slow_load() and weights is not None and weights.suffix == ".pt")
    loaded: dict[str, Any] = {}

    screen = sys.stdout  # FunASR's stdout is muted while it builds; a progress hook may print

    def install(network: Any, path: str) -> None:
        candidate = weights_file(Path(path).parent) or Path(path)
        with contextlib.redirect_stdout(screen):
            say(f"loading weights ({_size(candidate)})")
        state, source = load_weights(path)
        check_weights_fit(network.state_dict(), state, spec.model)
        assign_weights(network, state)
        loaded["file"] = source

    if not fast:
        say(f"loading weights ({_size(weights)})")
        loaded["state"], loaded["file"] = load_weights(weights, mmap=False)
    say("building network")
    try:
        # guard: AutoModel's update check sits in a bare `except:` that would swallow a Ctrl-C
        with interrupts.guard(), quiet(), (_fast_build(install) if fast else contextlib.nullcontext()):
            automodel = funasr.AutoModel(**kwargs)
    except WorkbenchError:
        raise
    except Exception as exc:
        if spec.kind == "hub":
            raise ModelError(
                f"could not load {spec.model!r} from the {'ModelScope' if spec.hub == 'ms' else 'Hugging Face'} hub: {_short(exc)}.",
                source=spec.requested,
                fix="without network access, download the checkpoint elsewhere and pass its directory to --model, "
                "or use --model tiny for an offline test (random weights).",
            ) from exc
        raise ModelError(f"FunASR could not load the checkpoint: {_short(exc)}.", source=spec.model, fix="check that the directory holds a complete emotion2vec checkpoint.") from exc
    net = automodel.model
    if type(net).__name__ != "Emotion2vec":
        raise ModelError(
            f"checkpoint builds a {type(net).__name__}, not an Emotion2vec model.",
            source=spec.model,
            fix="pass an emotion2vec+ checkpoint such as iic/emotion2vec_plus_large.",
        )
    if "file" not in loaded:
        # FunASR found no weights file and kept the network as built
        raise ModelError("checkpoint has no weights file (model.pt); FunASR would run with random weights.", source=spec.model, fix="download the complete checkpoint.")
    if "state" in loaded:
        check_weights_fit(net.state_dict(), loaded.pop("state"), spec.model)
    source = Path(loaded["file"])
    model_dir = automodel.kwargs.get("model_path") or str(source.parent)
    say("verifying checksum")
    checksum = file_sha256(source, remember=fast)
    if dtype == "int8":
        if not device.startswith("cpu"):
            raise ModelError("int8 dynamic quantisation runs on the CPU only.", source=spec.model, fix="use dtype='bfloat16' on a GPU.")
        # fast CPU mode: Linear weights in int8, activations quantised per batch on the fly
        automodel.model = torch.ao.quantization.quantize_dynamic(net, {torch.nn.Linear}, dtype=torch.qint8)
        net = automodel.model
    if dtype == "bfloat16" and device.startswith("cpu"):
        # weights converted once (autocast alone re-casts every weight on every call: 1.14x float32
        # against 1.71x converted, large architecture, benchmarks/README.md); autocast still casts the input
        net.to(torch.bfloat16)
    tokens = list(automodel.kwargs.get("token_list") or getattr(automodel.kwargs.get("tokenizer"), "token_list", []) or [])
    labels, label_index, valid = _label_mapping(tokens, spec.model)
    random_info = random_checkpoint_info(model_dir) if model_dir else None
    # the banner from the weights' checksum (generated by the package) as well as from the marker: an edited marker adds, never removes
    generated = generated_checksum(checksum)
    if random_info is None and generated is not None and generated.get("kind") == "random":
        random_info = {"arch": {"name": str(generated.get("name") or "random")}}
    warning = (RANDOM_WEIGHTS_BANNER if random_info is not None
               else (checkpoint_warning(model_dir) if model_dir else None) or (generated or {}).get("warning"))
    info = ModelInfo(
        id=spec.model if spec.kind == "hub" else (f"random-{random_info['arch']['name']}" if random_info else (spec.requested if spec.kind == "trained" else spec.model)),
        kind=spec.kind,
        hub=spec.hub if spec.kind == "hub" else None,
        revision=spec.revision or automodel.kwargs.get("model_revision"),
        path=model_dir,
        checksum=checksum,
        parameters=int(sum(p.numel() for p in net.parameters())),
        embed_dim=int(net.cfg.get("embed_dim")),
        device=device,
        dtype=dtype,
        labels=labels,
        # a head fine-tuned on a random parent is as meaningless as its parent (the card can add the flag, never remove it)
        random_weights=random_info is not None or bool(((read_training_card(model_dir) or {}).get("parent") or {}).get("random_weights")),
        load_seconds=time.perf_counter() - t0,
        funasr_version=getattr(funasr, "__version__", None),
        warning=warning,
    )
    if info.warning:
        logger.warning(info.warning)
    logger.info("model %s loaded in %.1fs on %s (%s)", info.id, info.load_seconds, device, dtype)
    return Emotion2vecModel(automodel, spec, info, label_index, valid)


@contextmanager
def _fast_build(install: Callable[[Any, str], None]):
    with skip_init(), replace_weights_loader(install):
        yield


def _check_config(model_dir: Path, spec: ModelSpec) -> None:
    """Refuse a checkpoint of another FunASR model, or one that would run, install or fetch code, before building it."""
    check_checkpoint(model_dir)


#: passed to ``funasr.AutoModel`` on every load: FunASR merges a checkpoint's config *under* these, so even a
#: hub download that :func:`check_checkpoint` has not seen yet cannot switch remote code or extra models on
NEUTRAL_LOADER_SETTINGS = dict(trust_remote_code=False, remote_code=None, vad_model=None, punc_model=None, spk_model=None,
                               frontend=None)


def _size(path: Path | None) -> str:
    n = path.stat().st_size if path is not None and path.is_file() else 0
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"


def _label_mapping(tokens: list[str], name: str) -> tuple[list[str], list[int], np.ndarray]:
    """The model's labels, the checkpoint output of each, and the mask of used outputs.

    An emotion2vec+ checkpoint (its tokens name all nine classes) keeps the workbench's order
    (:data:`LABEL_KEYS`); any other (a head trained by ``workbench finetune``) has its own labels, the
    keys of its used tokens in checkpoint order.  The nine are one label set among others.
    """
    if not tokens:
        raise ModelError("checkpoint has no tokens.txt: cannot name its outputs.", source=name, fix="add the tokens.txt that came with the model.")
    keys = [key_from_token(t) for t in tokens]
    valid = np.array([not t.startswith("unuse") for t in tokens])
    if all(k in keys for k in LABEL_KEYS):
        return list(LABEL_KEYS), [keys.index(k) for k in LABEL_KEYS], valid
    # FunASR's tokenizer needs its unknown symbol in the list: a fine-tuned head writes <unk> as an output it never
    # trained (zero weights), masked here like the "unuse" tokens
    valid = valid & np.array([t != UNK_TOKEN for t in tokens])
    used = [k for k, ok in zip(keys, valid) if ok]
    bad = sorted({k for k in used if not k or used.count(k) > 1 or k != k.strip()})
    if len(used) < 2 or bad:
        raise ModelError(
            f"checkpoint tokens do not name a label set: {tokens[:12]}"
            + (f" (empty or repeated: {bad})" if bad else " (fewer than two used labels)") + ".",
            source=name,
            fix="use an emotion2vec+ 9-class checkpoint, or one written by `workbench finetune` (one distinct label per line of tokens.txt).",
        )
    return used, [i for i, ok in enumerate(valid) if ok], valid


#: FunASR's CharTokenizer refuses a token list without it
UNK_TOKEN = "<unk>"


def checkpoint_labels(model_dir: str | os.PathLike) -> list[str]:
    """The labels a checkpoint folder's ``tokens.txt`` names, in score order, without building the network."""
    p = Path(model_dir) / "tokens.txt"
    try:
        tokens = [t.strip() for t in p.read_text(encoding="utf-8").splitlines() if t.strip()]
    except OSError as exc:
        raise ModelError(f"cannot read tokens.txt ({exc.strerror}).", source=str(model_dir), fix="add the tokens.txt that came with the model.") from None
    return _label_mapping(tokens, str(model_dir))[0]


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[-1] if text else type(exc).__name__)[:300]


def clear_cache(*, dtype: str | None = None) -> None:
    """Forget loaded models (tests use this); with ``dtype``, only those loaded in it."""
    with _CACHE_LOCK:
        for key in [k for k in _CACHE if dtype is None or k[-1] == dtype]:
            del _CACHE[key]
