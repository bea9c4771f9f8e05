"""emotion2vec+ through FunASR: loading, batched prediction, frame-level scores.

Loading goes through ``funasr.AutoModel`` as FunASR users do it: a hub id
(``iic/emotion2vec_plus_large`` by default, ModelScope or Hugging Face), a
local checkpoint directory (no network needed), or ``tiny`` (a seeded random
checkpoint the package builds); resolution, the offline policy, safe weight
reading and checksums live in :mod:`workbench.model.checkpoints`, building the
network in :mod:`workbench.model.building`, the batch plan in
:mod:`workbench.model.batching` and the output record in
:mod:`workbench.model.prediction`.  A model is loaded once per process and
reused (:func:`load_model`).

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

import copy
import logging
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Callable, Sequence

import numpy as np

from workbench import interrupts
from workbench.audio.intake import Audio, AudioConfig, load as load_audio
from workbench.errors import ConfigError, ModelError, WorkbenchError
from workbench.labels import LABEL_KEYS, RANDOM_WEIGHTS_BANNER  # noqa: F401  (banner re-exported)
from workbench.model.batching import (  # noqa: F401  (the names' home before they moved)
    CUDA_BYTES_PER_AUDIO_SECOND, CUDA_MAX_CLIPS, BatchPolicy, cuda_free_bytes, cuda_policy, default_policy, plan_batches)
from workbench.model.building import (  # noqa: F401
    NEUTRAL_LOADER_SETTINGS,
    UNK_TOKEN,
    _label_mapping,
    _ModelInfo,
    _Resolved,
    build,
    check_dtype,
    checkpoint_labels,
    checkpoint_tokens,
    describe_checkpoint,
)
from workbench.model.checkpoints import DEFAULT_MODEL, cached_hub_checkpoint, import_funasr, resolve_model  # noqa: F401
from workbench.model.funasr_patches import fused_attention, low_precision_front_end, masked_positional_encoder
from workbench.model.memory import attention_heads, check_attention_fits
from workbench.model.prediction import Prediction, refuse_non_finite
from workbench.model.temperature import apply_temperature, check_temperature, softmax
from workbench.model.weights import folder_stamp
from workbench.schema import FRAME_RATE, MIN_MODEL_SAMPLES, SAMPLE_RATE  # noqa: F401  (public here too)

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------------
# the model
# ---------------------------------------------------------------------------
class Emotion2vecModel:
    """A loaded emotion2vec+ model; use :func:`load_model` (or :meth:`ModelRef.load <workbench.model.ref.ModelRef.load>`)
    to get one.

    Parameters
    ----------
    automodel : funasr.AutoModel
        The FunASR object, usable as FunASR documents (``generate``).
    spec
        What ``--model`` resolved to (private; :class:`~workbench.model.ref.ModelRef` is the model type that travels).
    info
        The provenance record (below).
    label_index : list of int
        The checkpoint output of each of ``info.labels``.
    valid_tokens : ndarray of bool
        The checkpoint outputs in use (``unuse`` tokens are not).

    Examples
    --------
    >>> net = wb.load_model("tiny", device="cpu")
    >>> (len(net.labels), net.random_weights, net.info.dtype, net.info.device)
    (9, True, 'float32', 'cpu')
    >>> clips = [0.1 * np.random.default_rng(k).standard_normal(n).astype(np.float32) for k, n in ((0, 16000), (1, 24000))]
    >>> [p.n_frames for p in net.predict(clips)]  # batched, in the order given
    [49, 74]
    >>> tempered = net.with_temperature(2.0)
    >>> (tempered.temperature, tempered.network is net.network)  # the same weights, shared
    (2.0, True)

    Attributes
    ----------
    info
        The provenance record stored with every result: ``id``, ``kind``, ``hub``, ``revision``, ``path``,
        ``checksum`` (sha256 of the weights), ``device``, ``dtype``, ``labels``, ``random_weights``,
        ``temperature``, ``warning``.
    """

    def __init__(self, automodel: Any, spec: _Resolved, info: _ModelInfo, label_index: list[int], valid_tokens: np.ndarray):
        self.automodel = automodel
        self.spec = spec
        self.info = info
        self._label_index = label_index  # checkpoint output index of each of info.labels
        self._valid_tokens = valid_tokens  # bool mask over checkpoint outputs ("unuse" tokens are False)
        self._lock = threading.Lock()
        #: "fused" (scaled_dot_product_attention: on CUDA, and in bfloat16/float16/int8 on a CPU) or "funasr" (FunASR's own,
        #: float32 on a CPU, the exact path).  FunASR's casts each layer's (B, H, T, T) scores to float32, adds ALiBi,
        #: masks and casts back: on 2 cores the fused kernel made 8 clips of large in bf16 1.3x faster (7.2 -> 5.4 s), 24 in
        #: int8 1.13x (9.4 -> 8.3 s; max |d score| to float32 5.0e-3 -> 4.1e-3), agreeing as closely (benchmarks/README.md)
        self.attention = "fused" if info.device.startswith("cuda") or info.dtype in ("bfloat16", "float16", "int8") else "funasr"
        #: run the conv front end time-major (:func:`~workbench.model.funasr_patches.channels_last_front_end`): in
        #: bfloat16/float16 with its layer norms in that dtype (no float32 copies), and on a CPU in every precision
        #: (:attr:`time_major_front_end`); ``False`` runs FunASR's own (B, C, T) front end
        self.low_precision_front_end = True

    @property
    def time_major_front_end(self) -> bool:
        """Whether the conv front end runs time-major: in bfloat16/float16, and on a CPU in float32/int8 too.

        FunASR keeps (B, C, T) and transposes around every layer norm; oneDNN's convolutions work channels-last, so
        each layer also reorders.  The same convolutions, norms and activations time-major: the large model in float32
        on 2 cores 3.15/3.15/2.86x -> 3.48/3.00/3.69x real time on 6 clips (alternating), max |Δ score| 4.6e-8; on
        ``tiny`` forward and backward 2.1x faster (what ``workbench explain`` runs).  On CUDA, float32 keeps FunASR's.
        """
        return bool(self.low_precision_front_end) and (
            self.info.dtype in ("bfloat16", "float16") or str(self.info.device).startswith("cpu"))

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
        """Predict the scores of the model's classes (:attr:`labels`) for each clip.

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
        batches = plan_batches([len(w) for w in waves], policy or default_policy(self.info.device, self.info.dtype))
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
        policy = policy or default_policy(self.info.device, self.info.dtype)
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
        # (B, H, T, T) attention: refused by name where the kernel would kill the process, or CUDA run out mid-batch
        check_attention_fits(attention_heads(net), len(waves), max(frames), dtype=self.info.dtype, seconds=longest / SAMPLE_RATE, source=self.info.id, device=device)
        with (
            torch.inference_mode(),
            self._autocast(),
            masked_positional_encoder(net, frames),
            fused_attention(net, self.attention == "fused"),
            low_precision_front_end(net, self.time_major_front_end),
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
        pooled_np, logits_np = handle["pooled"].cpu().numpy(), handle["logits"].cpu().numpy()
        frame_np = handle["frame_logits"].cpu().numpy() if handle["frame_logits"] is not None else None
        x_np = handle["x"].cpu().numpy() if handle["x"] is not None else None
        refuse_non_finite(names, logits_np, pooled_np, handle["frames"], frame_np, source=self.info.id)
        preds = []
        for i, name in enumerate(names):
            n = handle["frames"][i]
            lg = self._to_scheme(logits_np[i])
            preds.append(
                Prediction(
                    id=name,
                    scores=softmax(lg),
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
    """Load (once per process; again when its checkpoint folder's files changed) and return an :class:`Emotion2vecModel`.

    Parameters
    ----------
    model : str or path, optional
        Hub id (default ``iic/emotion2vec_plus_large``), local checkpoint directory, or ``"tiny"``.
    hub : {"ms", "hf"}
    revision : str, optional
        Hub revision (tag or commit) to pin.
    device : str
        ``"auto"``: CUDA when available, else CPU.
    dtype : {"float32", "bfloat16", "float16", "int8"}
        ``float32`` is exact.  ``bfloat16``/``float16`` use autocast; on the CPU the bfloat16 weights are converted once
        at load.  ``int8`` is the fast CPU mode: dynamic int8 quantisation of every Linear layer (see
        ``benchmarks/README.md`` for its speed and cost).
    progress : callable, optional
        Called with a short line for each loading step (``"importing FunASR"``, ``"building network"``, ``"loading
        weights (1.3 GB)"``, ``"verifying checksum"``), e.g. to print them to stderr.  Not called when the model is
        already loaded (and its folder unchanged since).
    temperature : float, optional
        Divide the logits by this (``workbench calibrate`` fits it); in ``info.temperature``.  The network is shared.

    Weights: ``torch.load(weights_only=True)`` or ``model.safetensors``; a pickle beyond tensors is a :class:`ModelError`.

    Examples
    --------
    >>> net = wb.load_model("tiny", device="cpu")
    >>> net is wb.load_model("tiny", device="cpu")  # loaded once per process
    True
    >>> (net.info.id, net.info.kind, len(net.info.checksum))
    ('random-tiny', 'random', 64)
    >>> wb.load_model("tiny", dtype="float8")
    Traceback (most recent call last):
    ...
    workbench.errors.ConfigError: dtype must be float32, bfloat16, float16 or int8, given 'float8'. Fix: ...
    """
    spec = resolve_model(model, hub=hub, revision=revision)
    return cached_network(spec, device, dtype, progress).with_temperature(temperature)


def _key(spec: _Resolved, device: str, dtype: str) -> tuple:
    return (spec.kind, spec.model, spec.hub, spec.revision, auto_device() if device == "auto" else device, dtype)


def cached_network(spec: _Resolved, device: str, dtype: str, progress: Callable[[str], None] | None = None) -> Emotion2vecModel:
    """The network of the checkpoint ``spec`` names on ``device`` in ``dtype``, built once per process (untempered:
    the instance is shared).  :meth:`ModelRef.load <workbench.model.ref.ModelRef.load>` and :func:`load_model` come here.
    A folder whose files changed since (:func:`folder_stamp`: a head saved again in a notebook) is loaded again, said once."""
    check_dtype(dtype)
    key = _key(spec, device, dtype)
    stamp = folder_stamp(spec.model, required=True) if spec.kind != "hub" else ()  # a folder edited since its load is loaded again
    with _CACHE_LOCK:
        if key in _CACHE and getattr(_CACHE[key], "folder_stamp", stamp) != stamp:
            logger.warning("reloaded %s: its files changed since it was loaded", spec.model)
        elif key in _CACHE:
            return _CACHE[key]
        _CACHE[key] = _load(spec, key[-2], dtype, progress or _silent)
        _CACHE[key].folder_stamp = stamp
        return _CACHE[key]


#: the float32 network IG differentiates for bfloat16/float16 models (:func:`float32_sibling`): ``key``, ``net``, ``mirrors``
_SIBLING: dict[str, Any] = {}


def float32_sibling(model: Emotion2vecModel) -> Emotion2vecModel:
    """``model``'s checkpoint in float32 on its device (untempered), for a bfloat16/float16 ``model`` whose gradients
    need float32 (:func:`workbench.explain.scoring.gradient_model`): the cache's float32 network when it holds one, else
    one held outside the cache (in it, it stayed for the process's life: 1.2 GB for large in a long notebook session):
    at most one (another checkpoint's replaces it), freed with the last low-precision network it served."""
    key, low, stamp = _key(model.spec, str(model.info.device), "float32"), model.network, getattr(model, "folder_stamp", ())
    with _CACHE_LOCK:  # of the files ``model`` was loaded from: a folder saved again since had a stale sibling served
        if key in _CACHE and getattr(_CACHE[key], "folder_stamp", stamp) == stamp:
            return _CACHE[key]
        if (_SIBLING.get("key"), _SIBLING.get("stamp")) != (key, stamp):
            _SIBLING.clear()  # another checkpoint's sibling (or this folder's before it changed) is freed first
            if model.spec.kind != "hub" and folder_stamp(model.spec.model) != stamp:
                raise ModelError("its files changed since this model was loaded, so no float32 copy of the weights it "
                                 "scores with can be built.", source=model.spec.model, fix="load the model again and use that one.")
            _SIBLING.update(key=key, stamp=stamp, net=_load(model.spec, key[-2], "float32", _silent), mirrors=[])
        if not any(ref() is low for ref in _SIBLING["mirrors"]):
            _SIBLING["mirrors"].append(weakref.ref(low, _mirror_freed))
        return _SIBLING["net"]


def _mirror_freed(ref: weakref.ref) -> None:
    """The sibling goes with the last network it served (called by the collector, maybe under ``_CACHE_LOCK``: no lock)."""
    mirrors = _SIBLING.get("mirrors")
    if mirrors is not None and ref in mirrors:
        mirrors.remove(ref)
        if not mirrors:
            _SIBLING.clear()


def forget_network(spec: _Resolved, device: str, dtype: str) -> None:
    """Drop one built network from the process cache (the precision measurement frees the candidates it lost)."""
    with _CACHE_LOCK:
        _CACHE.pop(_key(spec, device, dtype), None)


def _load(spec: _Resolved, device: str, dtype: str, say: Callable[[str], None]) -> Emotion2vecModel:
    """Build the network ``spec`` names (:func:`workbench.model.building.build`) and wrap it."""
    automodel, info, label_index, valid = build(spec, device, dtype, say)
    if info.warning:
        logger.warning(info.warning)
    logger.info("model %s loaded in %.1fs on %s (%s)", info.id, info.load_seconds, device, dtype)
    return Emotion2vecModel(automodel, spec, info, label_index, valid)


def _silent(line: str) -> None:
    pass


def clear_cache(*, dtype: str | None = None) -> None:
    """Forget loaded models (tests use this); with ``dtype``, only those loaded in it."""
    with _CACHE_LOCK:
        for key in [k for k in _CACHE if dtype is None or k[-1] == dtype]:
            del _CACHE[key]
        if dtype in (None, "float32"):
            _SIBLING.clear()
