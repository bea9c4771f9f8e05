"""Attribution over time and frequency with Captum, on the network the workbench runs.

What is attributed.  :class:`ClassScore` is the loaded FunASR ``Emotion2vec``
network wrapped as a differentiable function of the **raw waveform the user
gave**: it applies FunASR's per-clip normalisation itself
(``layer_norm(wave, wave.shape)``), runs ``extract_features``, applies the
classification head ``proj`` to every frame and averages the frame logits,
which is exactly the utterance logit of :meth:`Emotion2vecModel.predict`
(``proj`` is affine).  The output is the nine **log-probabilities** in
:data:`~workbench.labels.LABEL_KEYS` order; log-probabilities do not
saturate as probabilities do, so gradients stay informative for confident
predictions.

Three methods, all Captum's own implementations (no hand-written integrated
gradients):

``ig``
    :class:`captum.attr.IntegratedGradients` on the waveform, summed over each
    20 ms frame (320 samples).  Baseline: seeded white noise at the clip's own
    RMS.  The zero baseline is degenerate here: the per-clip layer norm makes
    the network blind to the scale of its input, so along the straight path
    from zeros every point beyond ~1 % of the way looks the same to the
    network and the whole integral happens in the first step.
``occlusion``
    :class:`captum.attr.Occlusion` over time windows (default 200 ms, stride
    40 ms) of the waveform; occluded samples are set to zero (digital silence)
    in the raw input, before the model's normalisation.  The attribution of a
    frame is the mean drop of the class log-probability over the windows that
    cover it.
``tf-occlusion``
    :class:`captum.attr.FeatureAblation` on the STFT (512-point, 10 ms hop):
    each cell of a band × window grid (bands with edges at 0, 250, 500, 1000,
    2000, 4000, 8000 Hz; 200 ms windows) is zeroed and the spectrogram is
    turned back into a waveform (inverse STFT) for the model.  Gives a
    saliency map over the spectrogram and, summed over bands, a time profile.

All three are batched through Captum (``internal_batch_size`` and
``perturbations_per_eval``).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workbench.audio.intake import Audio
from workbench.errors import ConfigError, ModelError
from workbench.labels import LABEL_KEYS
from workbench.model.funasr_patches import fused_attention
from workbench.model.network import Emotion2vecModel
from workbench.schema import SAMPLE_RATE

logger = logging.getLogger(__name__)

FRAME_SAMPLES = 320  # 20 ms: the model's frame hop
#: seconds of audio one batched forward pass may hold (a gradient pass counts three times): the memory of a batch
#: grows with its length, so long clips run in smaller batches (explain's memory budget; see MAX_EXPLAIN_S)
BATCH_AUDIO_S = 48.0


def batch_for(n_samples: int, wanted: int, *, gradients: bool = False) -> int:
    """The batch size for clips of ``n_samples``: ``wanted``, made smaller so a batch holds at most
    :data:`BATCH_AUDIO_S` seconds of audio (a third of it with gradients), never below 1."""
    budget = BATCH_AUDIO_S * SAMPLE_RATE / (3 if gradients else 1)
    return max(1, min(int(wanted), int(budget // max(1, n_samples))))
METHODS = ("ig", "occlusion", "tf-occlusion")
#: edges of the time-frequency occlusion bands in Hz (octaves above 250 Hz)
TF_BAND_EDGES_HZ = (0.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0)
STFT_N_FFT = 512
STFT_HOP = 160


@dataclass
class Attribution:
    """One method's evidence for one class of one clip.

    ``frame_relevance``: (T,) relevance of each 20 ms frame (T = ceil(n / 320)),
    in units of the class log-probability; positive = evidence *for* the class.
    ``tf_map``: (bands, windows) for ``tf-occlusion`` (drop of the class
    log-probability when that band × window cell is removed), else ``None``.
    """

    method: str
    target: str
    frame_relevance: np.ndarray
    seconds: float
    params: dict = field(default_factory=dict)
    tf_map: np.ndarray | None = None
    tf_band_edges_hz: tuple[float, ...] | None = None
    tf_window_times: np.ndarray | None = None  # (windows,) start of each window in s
    convergence_delta: float | None = None  # IG: sum of attributions minus (f(x) - f(baseline))

    @property
    def frame_times(self) -> np.ndarray:
        """(T,) start time of each frame in seconds."""
        return np.arange(len(self.frame_relevance)) * FRAME_SAMPLES / SAMPLE_RATE

    def to_dict(self) -> dict:
        out: dict[str, Any] = {
            "method": self.method,
            "target": self.target,
            "frame_rate_hz": SAMPLE_RATE / FRAME_SAMPLES,
            "frame_relevance": [float(v) for v in np.round(self.frame_relevance, 7)],
            "seconds": round(self.seconds, 3),
            "params": self.params,
        }
        if self.convergence_delta is not None:
            out["convergence_delta"] = float(self.convergence_delta)
        if self.tf_map is not None:
            out["tf_map"] = np.round(self.tf_map, 7).tolist()
            out["tf_band_edges_hz"] = list(self.tf_band_edges_hz or ())
            out["tf_window_times_s"] = [float(t) for t in self.tf_window_times]
        return out


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

    def __init__(self, model: Emotion2vecModel, network: Any = None):
        import torch

        if model.info.dtype == "int8":
            raise ConfigError(
                "attribution needs gradients and exact scores; this model was loaded with dtype int8.",
                fix="load the model with dtype='float32' (the default) for `workbench explain`.",
            )
        self.model = model
        self.net = network if network is not None else model.network
        self.device = model.info.device
        self.label_index = torch.tensor(model._label_index, device=self.device)
        # "unuse" outputs of the checkpoint never win; a large negative keeps gradients finite
        self.invalid = torch.tensor(~np.asarray(model._valid_tokens), device=self.device)

    def __call__(self, waves):
        import torch
        import torch.nn.functional as F

        x = F.layer_norm(waves, waves.shape[-1:])  # FunASR's per-clip normalisation of the raw wave
        with fused_attention(self.net, self.model.attention == "fused"):
            feats = self.net.extract_features(x, padding_mask=None)["x"]
        logits = self.net.proj(feats).float().mean(1)  # == proj(mean_t x_t): proj is affine
        logits = logits.masked_fill(self.invalid, -1e4)
        return torch.log_softmax(logits, dim=-1)[:, self.label_index]

    def frame_logits(self, wave: np.ndarray) -> np.ndarray:
        """(T_model, 9) head applied to each frame, LABEL_KEYS order (no gradients)."""
        import torch
        import torch.nn.functional as F

        with torch.no_grad():
            w = torch.as_tensor(wave, dtype=torch.float32, device=self.device)[None]
            feats = self.net.extract_features(F.layer_norm(w, w.shape[-1:]), padding_mask=None)["x"]
            return self.net.proj(feats).float()[0][:, self.label_index].cpu().numpy()

    def log_probs(self, waves: np.ndarray, batch: int = 16) -> np.ndarray:
        """(B, 9) log-probabilities of a stack of same-length waves (no gradients)."""
        import torch

        out = []
        batch = batch_for(np.asarray(waves).shape[-1], batch)
        with torch.no_grad():
            for i in range(0, len(waves), batch):
                w = torch.as_tensor(np.asarray(waves[i : i + batch]), dtype=torch.float32, device=self.device)
                out.append(self(w).cpu().numpy())
        return np.concatenate(out)


def resolve_target(scorer: ClassScore, wave: np.ndarray, target: str | None) -> str:
    """The class to explain: ``target`` checked against the nine labels, or the predicted one."""
    if target is None:
        return LABEL_KEYS[int(np.argmax(scorer.log_probs(wave[None])[0]))]
    if target not in LABEL_KEYS:
        raise ConfigError(f"unknown class {target!r}.", fix=f"use one of {', '.join(LABEL_KEYS)} (or leave it out for the predicted class).")
    return target


def as_wave(clip: Any) -> np.ndarray:
    """(n,) float32 samples at 16 kHz from an :class:`Audio` or an array; checks rate and length."""
    if isinstance(clip, Audio):
        if clip.sr != SAMPLE_RATE:
            raise ModelError(f"audio is at {clip.sr} Hz; emotion2vec expects {SAMPLE_RATE} Hz.", source=clip.id,
                             fix="load it with workbench.audio.intake.load(), which resamples to 16 kHz.")
        wave = clip.samples
    else:
        wave = np.asarray(clip, dtype=np.float32)
    if wave.ndim != 1:
        raise ModelError(f"clip has shape {wave.shape}; expected mono samples (n,).", fix="load it with workbench.audio.intake.load().")
    if len(wave) < 4000:
        raise ModelError(f"clip has {len(wave)} samples ({len(wave) / SAMPLE_RATE * 1000:.0f} ms); attribution needs at least 250 ms.",
                         fix="explain a longer clip.")
    if not np.all(np.isfinite(wave)):
        raise ModelError("clip holds NaN or infinite samples.", fix="repair or drop the clip.")
    return np.ascontiguousarray(wave, dtype=np.float32)


def pool_frames(per_sample: np.ndarray, how: str = "sum") -> np.ndarray:
    """(n,) per-sample values → (ceil(n/320),) per 20 ms frame, by ``sum`` or ``mean``."""
    n = len(per_sample)
    T = -(-n // FRAME_SAMPLES)
    padded = np.zeros(T * FRAME_SAMPLES, dtype=np.float64)
    padded[:n] = per_sample
    blocks = padded.reshape(T, FRAME_SAMPLES)
    if how == "sum":
        return blocks.sum(1)
    counts = np.full(T, FRAME_SAMPLES, dtype=np.float64)
    counts[-1] = n - (T - 1) * FRAME_SAMPLES
    return blocks.sum(1) / counts


def integrated_gradients(scorer: ClassScore, wave: np.ndarray, target: str, *, n_steps: int = 32,
                         internal_batch_size: int = 8, seed: int = 0) -> Attribution:
    """Integrated Gradients (Captum) on the waveform, summed per 20 ms frame.

    Baseline: white noise at the clip's RMS, seeded (see the module docstring
    for why not zeros).  Returns an :class:`Attribution` whose
    ``convergence_delta`` is Captum's completeness error (small is good).
    """
    import torch
    from captum.attr import IntegratedGradients

    t0 = time.perf_counter()
    rms = float(np.sqrt(np.mean(wave.astype(np.float64) ** 2))) or 1e-3
    base = (np.random.default_rng(seed).standard_normal(len(wave)) * rms).astype(np.float32)
    x = torch.as_tensor(wave, device=scorer.device)[None]
    b = torch.as_tensor(base, device=scorer.device)[None]
    ig = IntegratedGradients(scorer)
    attr, delta = ig.attribute(x, baselines=b, target=LABEL_KEYS.index(target), n_steps=n_steps,
                               internal_batch_size=batch_for(len(wave), internal_batch_size, gradients=True),
                               return_convergence_delta=True)
    rel = pool_frames(attr[0].detach().cpu().numpy().astype(np.float64), "sum")
    return Attribution("ig", target, rel, time.perf_counter() - t0,
                       params={"n_steps": n_steps, "baseline": "white noise at the clip's RMS", "seed": seed,
                               "pooling": "sum over 20 ms"},
                       convergence_delta=float(delta.abs().max()))


def time_occlusion(scorer: ClassScore, wave: np.ndarray, target: str, *, window_s: float = 0.2, stride_s: float = 0.04,
                   perturbations_per_eval: int = 16) -> Attribution:
    """Occlusion (Captum) over time windows of the waveform; removed samples are zeros."""
    import torch
    from captum.attr import Occlusion

    _check_window(window_s, stride_s, len(wave))
    t0 = time.perf_counter()
    win, stride = int(round(window_s * SAMPLE_RATE)), int(round(stride_s * SAMPLE_RATE))
    x = torch.as_tensor(wave, device=scorer.device)[None]
    attr = Occlusion(scorer).attribute(x, sliding_window_shapes=(win,), strides=(stride,), baselines=0.0,
                                        target=LABEL_KEYS.index(target), perturbations_per_eval=batch_for(len(wave), perturbations_per_eval))
    rel = pool_frames(attr[0].detach().cpu().numpy().astype(np.float64), "mean")
    return Attribution("occlusion", target, rel, time.perf_counter() - t0,
                       params={"window_s": window_s, "stride_s": stride_s, "removal": "zeros in the raw input"})


def tf_occlusion(scorer: ClassScore, wave: np.ndarray, target: str, *, window_s: float = 0.2,
                 band_edges_hz: tuple[float, ...] = TF_BAND_EDGES_HZ, perturbations_per_eval: int = 16) -> Attribution:
    """Band × window occlusion on the STFT (Captum ``FeatureAblation``), applied back to the waveform.

    Returns an :class:`Attribution` with ``tf_map`` (bands, windows): the drop
    of the class log-probability when that cell is zeroed; ``frame_relevance``
    is the sum over bands spread evenly over the window's 20 ms frames.
    """
    import torch
    from captum.attr import FeatureAblation

    _check_window(window_s, window_s, len(wave))
    edges = tuple(float(e) for e in band_edges_hz)
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])) or edges[0] < 0 or edges[-1] > SAMPLE_RATE / 2:
        raise ConfigError(f"band edges {edges} are not increasing within 0–8000 Hz.", fix="pass e.g. (0, 500, 1000, 2000, 4000, 8000).")
    t0 = time.perf_counter()
    n = len(wave)
    dev = scorer.device
    window = torch.hann_window(STFT_N_FFT, device=dev)
    spec = torch.stft(torch.as_tensor(wave, device=dev), STFT_N_FFT, STFT_HOP, window=window, return_complex=True)
    F_bins, T_stft = spec.shape
    spec_ri = torch.view_as_real(spec).permute(2, 0, 1)[None].contiguous()  # (1, 2, F, T)
    freqs = np.arange(F_bins) * SAMPLE_RATE / STFT_N_FFT
    band_of = np.clip(np.searchsorted(edges, freqs, side="right") - 1, 0, len(edges) - 2)
    win_frames = max(1, int(round(window_s * SAMPLE_RATE / STFT_HOP)))
    win_of = np.arange(T_stft) // win_frames
    n_win = int(win_of.max()) + 1
    n_bands = len(edges) - 1
    cell = band_of[:, None] * n_win + win_of[None, :]  # (F, T) group id of every STFT cell
    mask = torch.as_tensor(np.broadcast_to(cell, (2, F_bins, T_stft))[None].copy(), device=dev)

    def forward(spec_batch):
        z = torch.view_as_complex(spec_batch.permute(0, 2, 3, 1).contiguous())
        y = torch.istft(z, STFT_N_FFT, STFT_HOP, window=window, length=n)
        return scorer(y)

    attr = FeatureAblation(forward).attribute(spec_ri, baselines=0.0, target=LABEL_KEYS.index(target), feature_mask=mask,
                                               perturbations_per_eval=batch_for(len(wave), perturbations_per_eval))
    a = attr[0, 0].detach().cpu().numpy()  # (F, T): every cell of a group holds the group's value
    tf_map = np.zeros((n_bands, n_win))
    for b in range(n_bands):
        fb = np.where(band_of == b)[0]
        for w in range(n_win):
            tw = np.where(win_of == w)[0]
            if len(fb) and len(tw):
                tf_map[b, w] = a[fb[0], tw[0]]
    T = -(-n // FRAME_SAMPLES)
    frame_win = np.minimum((np.arange(T) * FRAME_SAMPLES // STFT_HOP) // win_frames, n_win - 1)
    frames_per_win = np.bincount(frame_win, minlength=n_win).astype(float)
    rel = tf_map.sum(0)[frame_win] / frames_per_win[frame_win]
    return Attribution("tf-occlusion", target, rel, time.perf_counter() - t0,
                       params={"window_s": window_s, "n_fft": STFT_N_FFT, "hop": STFT_HOP, "removal": "zeroed STFT cells, inverse STFT"},
                       tf_map=tf_map, tf_band_edges_hz=edges, tf_window_times=np.arange(n_win) * win_frames * STFT_HOP / SAMPLE_RATE)


def attribute(model: Emotion2vecModel, clip: Any, *, target: str | None = None, method: str = "ig",
              scorer: ClassScore | None = None, **options: Any) -> Attribution:
    """Evidence for ``target`` (default: the predicted class) in ``clip`` by one method.

    Parameters
    ----------
    model : Emotion2vecModel
    clip : Audio or (n,) float array at 16 kHz
    target : str, optional
        One of :data:`~workbench.labels.LABEL_KEYS`.
    method : {"ig", "occlusion", "tf-occlusion"}
    **options
        Passed to the method's function (e.g. ``window_s``, ``n_steps``).

    Returns
    -------
    Attribution
    """
    if method not in METHODS:
        raise ConfigError(f"unknown attribution method {method!r}.", fix=f"use one of {', '.join(METHODS)}.")
    scorer = scorer or ClassScore(model)
    wave = as_wave(clip)
    target = resolve_target(scorer, wave, target)
    fn = {"ig": integrated_gradients, "occlusion": time_occlusion, "tf-occlusion": tf_occlusion}[method]
    try:
        return fn(scorer, wave, target, **options)
    except TypeError as exc:
        if "unexpected keyword" in str(exc):
            raise ConfigError(f"option not accepted by method {method!r}: {exc}.", fix="see `help(workbench.explain.attribution)` for each method's options.") from None
        raise


def _check_window(window_s: float, stride_s: float, n: int) -> None:
    if not (0.02 <= window_s <= n / SAMPLE_RATE):
        raise ConfigError(f"occlusion window {window_s} s is outside 0.02 s – the clip's length ({n / SAMPLE_RATE:.2f} s).", fix="pass window_s=0.2.")
    if not (0.01 <= stride_s <= window_s):
        raise ConfigError(f"occlusion stride {stride_s} s is outside 0.01 s – the window ({window_s} s).", fix="pass stride_s=0.04.")
