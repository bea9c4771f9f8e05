"""The network as a scoring function for explanations: raw waves in, log-probabilities out, batched to the memory
budget, with gradients in PyTorch and the gradient-free passes on the checkpoint's verified ONNX export when cached."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from workbench.errors import ConfigError, ModelError, did_you_mean
from workbench.model import fastpath
from workbench.model.batching import default_policy
from workbench.model.funasr_patches import fused_attention, low_precision_front_end
from workbench.model.network import Emotion2vecModel, float32_sibling
from workbench.model.onnx_backend import cpu_threads, load_onnx_model, run_bounded
from workbench.schema import SAMPLE_RATE

logger = logging.getLogger(__name__)

FRAME_SAMPLES = 320  # 20 ms: the model's frame hop
#: precisions whose rounding makes a gradient path a staircase: Integrated Gradients differentiates float32 instead
LOW_PRECISION = ("bfloat16", "float16")
#: seconds of audio one batched pass may hold when the device's policy is unknown (a gradient pass counts three times)
BATCH_AUDIO_S = 48.0


def batch_for(n_samples: int, wanted: int, *, gradients: bool = False, budget_s: float = BATCH_AUDIO_S) -> int:
    """The batch size for clips of ``n_samples``: ``wanted``, made smaller so a batch holds at most
    ``budget_s`` seconds of audio (a third of it with gradients), never below 1."""
    budget = budget_s * SAMPLE_RATE / (3 if gradients else 1)
    return max(1, min(int(wanted), int(budget // max(1, n_samples))))


class ClassScore:
    """The network as a differentiable function: raw waves (B, n) → (B, 9) log-probabilities.

    Parameters
    ----------
    model : Emotion2vecModel
        A float32 model (int8 layers cannot be differentiated).
    network : torch.nn.Module, optional
        Another network of the same architecture (e.g. a re-initialised copy
        for the randomisation check); default the model's own.
    """

    def __init__(self, model: Emotion2vecModel, network: Any = None, *, max_batch: int | None = None, forward: Any = "auto"):
        import torch

        if model.info.dtype == "int8":
            raise ConfigError(
                "attribution needs gradients and exact scores; this model was loaded with dtype int8.",
                fix="load the model with dtype='float32' (`--dtype float32` on the command line; `workbench explain` "
                    "does so itself for a run scored in int8).",
            )
        self.model = model
        self.net = network if network is not None else model.network
        self.device = model.info.device
        self.label_index = torch.tensor(model._label_index, device=self.device)
        #: the model's classes in score order (the nine, or a fine-tuned head's own)
        self.labels: tuple[str, ...] = tuple(getattr(model, "labels", None) or model.info.labels)
        # "unuse" outputs of the checkpoint never win; a large negative keeps gradients finite
        self.invalid = torch.tensor(~np.asarray(model._valid_tokens), device=self.device)
        self.temperature = float(model.info.temperature or 1.0)
        #: the precision the scores and the curves are computed in (the model's: a run's dtype is kept; IG of a bfloat16/
        #: float16 model differentiates its float32 weights, :func:`gradient_model`)
        self.dtype = model.info.dtype
        if max_batch is not None and int(max_batch) < 1:
            raise ConfigError(f"max_batch={max_batch} clips per pass is below 1.", fix="pass max_batch=None (the memory budget) or a count ≥ 1.")
        #: clips per forward pass at most (``None``: the memory budget alone; 1: one clip at a time, the unbatched reference)
        self.max_batch = None if max_batch is None else int(max_batch)
        #: seconds of audio one batch may hold: the device's batch policy (the engine's memory budget)
        self.budget_s = float(default_policy(str(self.device)).max_batch_seconds)
        #: what scores the passes that need no gradient (perturbations, curves): the checkpoint's verified ONNX Runtime
        #: float32 graph when the cache holds one and it measured faster here (``forward="auto"``, the model's own weights), else PyTorch
        if isinstance(forward, str):  # "auto": the export, for the model's own weights only (never a randomised copy)
            forward = onnx_forward(model) if network is None else None
        self.forward = forward
        if self.forward is not None and tuple(self.forward.labels) != self.labels:
            self.forward = None
        #: the conv front end time-major, as the model runs it (:attr:`Emotion2vecModel.time_major_front_end`): on a
        #: CPU in float32 too, where FunASR's (B, C, T) layout transposes around every layer norm and GELU's backward
        #: runs on the strided result: on ``tiny``, 8 clips of 5 s, forward and backward 0.58 -> 0.27 s,
        #: max |Δ log p| 2.4e-7, gradients within 2e-6 (relative)
        self.time_major_front_end = model.time_major_front_end
        self.forward_name = "onnxruntime float32 (the verified export)" if self.forward is not None else f"torch {self.dtype}"

    def batch_size(self, n_samples: int, wanted: int, *, gradients: bool = False) -> int:
        """Clips of ``n_samples`` per pass: ``wanted``, within the memory budget (:attr:`budget_s`, a third with
        gradients) and :attr:`max_batch`, never below 1."""
        size = batch_for(n_samples, wanted, gradients=gradients, budget_s=self.budget_s)
        return size if self.max_batch is None else min(size, self.max_batch)

    def __call__(self, waves):
        """(B, n) float32 waves → (B, C) log-probabilities, in :attr:`labels` order.

        The same operations as :meth:`Emotion2vecModel.predict` on one clip:
        the model's precision (autocast for bfloat16/float16, the front end's
        layer norms in that precision), frame features pooled *before* the
        head, the model's temperature; so the scores equal a run's row.
        """
        import torch

        if not torch.is_grad_enabled():
            if self.forward is not None:
                return self._forward_log_probs(waves)
            # a pass without gradients runs in inference mode (no version counters or views tracked: explaining a 5 s
            # clip with tiny, alternating, 10.4-10.9 s against 10.6-11.8 s); the result is copied out of it, an
            # ordinary tensor, so a caller (Captum) may still write into what it derives from it
            with torch.inference_mode():
                out = self._torch_log_probs(waves)
            return out.clone()
        # FunASR caches its ALiBi biases per model; one built under inference mode (predict(), the passes above)
        # cannot enter a gradient ("Inference tensors cannot be saved for backward"): give the cache ordinary copies
        cache = getattr(self.net, "alibi_biases", None) or {}
        for key, bias in list(cache.items()):
            if bias.is_inference():
                cache[key] = bias.clone()
        return self._torch_log_probs(waves)

    def _torch_log_probs(self, waves):
        import torch
        import torch.nn.functional as F

        x = F.layer_norm(waves, waves.shape[-1:])  # FunASR's per-clip normalisation of the raw wave
        with self.model._autocast(), fused_attention(self.net, self.model.attention == "fused"), \
                low_precision_front_end(self.net, self.time_major_front_end):
            feats = self.net.extract_features(x, padding_mask=None)["x"].float()
            logits = self.net.proj(feats.mean(1)).float()  # pooled then the head, as predict() does
        logits = logits.masked_fill(self.invalid, -1e4)
        if self.temperature != 1.0:
            logits = logits / self.temperature
        return torch.log_softmax(logits, dim=-1)[:, self.label_index]

    def _forward_log_probs(self, waves):
        """The same log-probabilities from the ONNX Runtime graph (no gradients): its logits, the temperature, the
        log-softmax over the labels (the masked outputs weigh e^-10000 in the PyTorch path: nothing)."""
        import torch

        w = np.ascontiguousarray(waves.detach().cpu().numpy(), dtype=np.float32)
        feeds = {"waveforms": w, "lengths": np.full(len(w), w.shape[1], dtype=np.int64)}
        (logits,) = run_bounded(self.forward.session, ["logits"], feeds, budget_s=self.forward.time_budget_s, source=self.forward_name,
                                split=_FORWARD_SPLIT)
        z = np.asarray(logits, dtype=np.float64) / self.temperature
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return torch.from_numpy(logp.astype(np.float32)).to(waves.device)

    def frame_logits(self, wave: np.ndarray) -> np.ndarray:
        """(T_model, C) head applied to each frame, in :attr:`labels` order, divided by the model's temperature like predict()'s (no gradients)."""
        import torch
        import torch.nn.functional as F

        with torch.no_grad(), self.model._autocast():
            w = torch.as_tensor(wave, dtype=torch.float32, device=self.device)[None]
            feats = self.net.extract_features(F.layer_norm(w, w.shape[-1:]), padding_mask=None)["x"].float()
            return self.net.proj(feats).float()[0][:, self.label_index].cpu().numpy() / self.temperature

    def log_probs(self, waves: np.ndarray, batch: int = 16) -> np.ndarray:
        """(B, 9) log-probabilities of a stack of same-length waves (no gradients)."""
        import torch

        out = []
        batch = self.batch_size(np.asarray(waves).shape[-1], batch)
        with torch.no_grad():
            for i in range(0, len(waves), batch):
                w = torch.as_tensor(np.asarray(waves[i : i + batch]), dtype=torch.float32, device=self.device)
                out.append(self(w).cpu().numpy())
        return np.concatenate(out)


_FORWARDS: dict[str, Any] = {}
#: parts a batch of gradient-free passes is cut into, one per core (each part one single-threaded ONNX Runtime run)
_FORWARD_SPLIT = max(1, cpu_threads())


def onnx_forward(model: Any) -> Any | None:
    """The verified ONNX Runtime float32 graph of ``model``'s checkpoint for passes without gradients, or ``None``.

    Used when the model cache already holds the export ``--dtype auto`` (or ``onnx-*``) made and checked against
    PyTorch float32 (:func:`workbench.model.fastpath.cached_export`), for a float32 model on the CPU, where this
    machine measured it faster than PyTorch (:func:`forward_backend`); never made here. Max |Δ log p| ~5e-7.
    """
    info = getattr(model, "info", None)
    key = getattr(info, "identity", None) if info is not None else None  # the export's key: weights + config + tokens
    if info is None or str(info.device) != "cpu" or info.dtype != "float32" or not key:
        return None
    if forward_backend(key, info.dtype, str(info.device)) != "onnxruntime":
        return None  # asked each time: a measurement made since may have found PyTorch faster
    if key not in _FORWARDS:
        try:
            # one intra-op thread, a batch's parts run at once on the cores (run_bounded's split)
            _FORWARDS[key] = load_onnx_model(fastpath.export_folder(key), dtype="float32", device="cpu", threads=1)
        except (ModelError, ConfigError, OSError) as exc:  # a damaged export: PyTorch scores, as without one
            logger.info("the ONNX export of %s is not used for explanations: %s", info.id, exc)
            return None
    return _FORWARDS[key]


def forward_backend(checksum: str | None, dtype: str, device: str) -> str:
    """What :class:`ClassScore` scores gradient-free passes with for such a model: ``"onnxruntime"`` when the cache
    holds its verified float32 export (see :func:`onnx_forward`) *and* this machine's measurement of the checkpoint
    (:func:`workbench.model.fastpath.measured_faster`) found that graph faster than PyTorch float32, else ``"torch"``
    (an explanation's cache key holds it). On ``tiny`` here PyTorch's time-major front end is the faster one now:
    5 s clips, 4.1 ms a clip against ONNX Runtime's 6.5 ms."""
    if not checksum or dtype != "float32" or device != "cpu":
        return "torch"
    found = fastpath.cached_export(checksum)
    verified = found is not None and bool(((found[1].get("graphs") or {}).get("float32") or {}).get("ok"))
    return "onnxruntime" if verified and fastpath.measured_faster(checksum, "onnx-float32") else "torch"


def gradient_model(model: Emotion2vecModel, scorer: "ClassScore") -> tuple[Emotion2vecModel, "ClassScore"]:
    """The model and scorer Integrated Gradients differentiates: ``model``'s own, or for a bfloat16/float16 model the
    same checkpoint in float32 (same weights, device and temperature): the process cache's float32 model when it holds
    one, else :func:`~workbench.model.network.float32_sibling`'s, built once and freed with the model it mirrors.

    In bfloat16 the class log-probability along IG's path moves in rounding steps (8 bits of mantissa for the wave
    and every activation), which gradients do not see: the completeness error cannot fall below the tolerance, and
    the path is split until the cap. A 5 s clip with ``tiny`` here: 4,094 gradient evaluations, error 5.2 % (FAILED),
    78 s and 2.6 GB, against float32's 10 s. The float32 map is of the same weights; its faithfulness curves are still
    measured on ``model`` as loaded (the precision the run scored in), and the explanation says which precision made
    which figure."""
    if scorer.dtype not in LOW_PRECISION or scorer.net is not model.network:
        return model, scorer  # float32 already, or a randomised copy (its own network, whose precision it keeps)
    exact = float32_sibling(model).with_temperature(model.info.temperature)
    return exact, ClassScore(exact, max_batch=scorer.max_batch)


def resolve_target(scorer: ClassScore, wave: np.ndarray, target: str | None) -> str:
    """The class to explain: ``target`` checked against the model's labels, or the predicted one."""
    if target is None:
        return scorer.labels[int(np.argmax(scorer.log_probs(wave[None])[0]))]
    if target not in scorer.labels:
        raise ConfigError(f"unknown class {target!r}; {did_you_mean(target, scorer.labels)}this model's classes are "
                          f"{', '.join(scorer.labels)}.", source="--class",
                          fix=f"use one of {', '.join(scorer.labels)} (or leave it out for the predicted class).")
    return target
