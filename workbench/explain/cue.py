"""A checkpoint with known evidence: the tiny emotion2vec network trained on planted cues.

Attribution methods are only worth something if they find evidence that is
known to be there.  Real emotion2vec+ weights cannot be downloaded where the
workbench is tested, and a random network has no evidence to find, so this
module trains one: the *real* architecture (the ``tiny`` sizes of
:data:`workbench.model.checkpoints.ARCHS`, built by FunASR's own ``Emotion2vec``
class, written in the same ``config.yaml``/``model.pt``/``tokens.txt`` format
and loaded through the same ``funasr.AutoModel`` path) is trained, seeded, on
CPU, on synthetic clips whose class is decided by a short cue at a random time:

======== ===================================================== ===============
label    cue (300 ms, at a random time)                         why it differs
======== ===================================================== ===============
angry    five 30 ms beeps at 1 kHz (pulse train)               temporal pattern
happy    a rising chirp 500 Hz → 1.5 kHz                       moving pitch
sad      a steady 3 kHz tone                                   high band
neutral  no cue                                                 absence
======== ===================================================== ===============

Every clip has the same background (speech-like harmonic babble with a
wandering F0 plus white noise), so only the cue can tell the classes apart;
``neutral`` clips force the network to detect each cue positively rather than
learn one class as "none of the others".  The cue span of every clip is known,
which makes the planted-cue test of :mod:`workbench.explain.faithfulness`
possible.

**Its predictions mean something on this synthetic task only**; every output
made with it carries :data:`CUE_BANNER`.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from workbench.model.checkpoints import (ARCHS, cache_dir, checkpoint_bytes, emotion2vec_config, file_sha256, generated_checksum,
                                         import_funasr, write_checkpoint_files)
from workbench.errors import ConfigError
from workbench.labels import LABEL_KEYS, TOKENS
from workbench.schema import SAMPLE_RATE
from workbench.serialize import YAML_MAX_BYTES, loads_json, read_bytes_capped

logger = logging.getLogger(__name__)

#: file written into every planted-cue checkpoint directory (the loader reads it for the banner)
CUE_MARKER = "WORKBENCH_CUE_CHECKPOINT.json"
CUE_BANNER = (
    "SYNTHETIC CUES: this result comes from a tiny checkpoint trained on synthetic planted cues "
    "(beeps, chirps, tones over babble); it means nothing on speech."
)
#: label of each cue kind, in the order of :func:`cue_waveform` kinds
CUE_LABELS: tuple[str, ...] = ("angry", "happy", "sad", "neutral")
CUE_SECONDS = 0.3


@dataclass(frozen=True)
class CueClip:
    """One synthetic clip: ``y`` (n,) float32 at 16 kHz, its label and the cue span in seconds."""

    y: np.ndarray
    label: str
    start: float  # s; NaN when the clip has no cue
    end: float

    @property
    def has_cue(self) -> bool:
        return bool(np.isfinite(self.start))


def cue_waveform(label: str, sr: int = SAMPLE_RATE, seconds: float = CUE_SECONDS) -> np.ndarray:
    """The cue of ``label`` alone, (round(sr*seconds),) float32 peak 1, with 10 ms fades.

    Raises :class:`ConfigError` for a label without a cue.
    """
    n = int(round(sr * seconds))
    t = np.arange(n) / sr
    if label == "angry":
        y = np.sin(2 * np.pi * 1000 * t) * ((t % 0.06) < 0.03)
    elif label == "happy":
        f = 500 + (1500 - 500) * t / seconds
        y = np.sin(2 * np.pi * np.cumsum(f) / sr)
    elif label == "sad":
        y = np.sin(2 * np.pi * 3000 * t)
    else:
        raise ConfigError(
            f"label {label!r} has no planted cue.",
            fix=f"use one of {', '.join(CUE_LABELS[:3])} ('neutral' clips have no cue).",
        )
    fade = min(n // 2, int(0.01 * sr))
    ramp = np.ones(n)
    ramp[:fade] = np.linspace(0, 1, fade)
    ramp[n - fade :] = np.linspace(1, 0, fade)
    return (y * ramp).astype(np.float32)


def _babble(rng: np.random.Generator, n: int, sr: int) -> np.ndarray:
    """Speech-like harmonic babble: wandering F0 (90–250 Hz), 11 harmonics, syllable-rate envelope."""
    t = np.arange(n) / sr
    f0 = rng.uniform(110, 200) + 40 * np.sin(2 * np.pi * rng.uniform(0.3, 1.2) * t + rng.uniform(0, 6))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    y = sum((1.0 / k) * np.sin(k * phase + rng.uniform(0, 6)) for k in range(1, 12))
    env = np.clip(np.sin(2 * np.pi * rng.uniform(3, 5) * t + rng.uniform(0, 6)), 0, None) ** 0.7
    return y * env


def make_cue_clip(rng: np.random.Generator, label: str, *, seconds: float = 1.0, sr: int = SAMPLE_RATE) -> CueClip:
    """One synthetic clip of ``label`` (see the module docstring), drawn from ``rng``.

    Levels are drawn per clip: babble RMS 0.05–0.15, white noise RMS 0.01–0.04,
    cue peak 0.15–0.35 (a cue-to-background ratio around 0 to +10 dB).
    """
    if label not in CUE_LABELS:
        raise ConfigError(f"unknown cue label {label!r}.", fix=f"use one of {', '.join(CUE_LABELS)}.")
    n = int(round(seconds * sr))
    bab = _babble(rng, n, sr)
    bab *= rng.uniform(0.05, 0.15) / (np.sqrt(np.mean(bab**2)) + 1e-9)
    y = bab + rng.uniform(0.01, 0.04) * rng.standard_normal(n)
    start = end = float("nan")
    if label != "neutral":
        cue = cue_waveform(label, sr)
        i0 = int(rng.integers(int(0.1 * sr), n - len(cue) - int(0.1 * sr)))
        y[i0 : i0 + len(cue)] += rng.uniform(0.15, 0.35) * cue
        start, end = i0 / sr, (i0 + len(cue)) / sr
    return CueClip(y.astype(np.float32), label, start, end)


def make_cue_set(n: int, *, seed: int, seconds: float = 1.0, labels: tuple[str, ...] = CUE_LABELS) -> list[CueClip]:
    """``n`` clips cycling through ``labels`` (balanced), seeded."""
    rng = np.random.default_rng(seed)
    return [make_cue_clip(rng, labels[i % len(labels)], seconds=seconds) for i in range(n)]


@dataclass(frozen=True)
class CueTraining:
    """How the planted-cue checkpoint is trained (stored in its marker)."""

    seed: int = 0
    steps: int = 600  # 300 steps: beeps and chirps learnt, the 3 kHz tone not yet told from "no cue"
    batch: int = 16
    seconds: float = 1.0  # a 300 ms cue is 30 % of the clip; 2 s clips doubled the cost per step
    #: 5e-3 diverged on this 2-core machine (loss spikes, held-out 0.75 at 600 steps, 0.25 when trained on); 1e-3 reached
    #: held-out 1.00 at a loss of 0.001 by step 600 (measured with both, /tmp experiment, seed 0)
    lr: float = 1e-3
    held_out: int = 64
    #: training goes on in rounds of ``check_every`` steps past ``steps`` until the accuracy on fresh validation clips
    #: (another seed than the held-out set) reaches ``target_accuracy``, or ``max_steps``: a recipe that reached 16 of
    #: 16 on one machine reached 0.5 on another (float32 sums differ between CPUs); a fixed count is no guarantee
    target_accuracy: float = 0.95
    check_every: int = 200
    max_steps: int = 3000

    def to_dict(self) -> dict:
        return asdict(self)


def train_cue_checkpoint(out_dir: str | os.PathLike, config: CueTraining = CueTraining()) -> Path:
    """Train the tiny emotion2vec network on planted cues and write a checkpoint into ``out_dir``.

    Training is seeded and runs on the CPU on one thread.  It does NOT meet
    the two-minute goal on the shared 2-core machine: measured 0.7–7 s per
    step of 16 one-second clips depending on the load (load average 5–16), so
    the default 600 steps take about 10–60 min; the marker records the seconds
    and the held-out accuracy on 64 fresh clips.

    Returns the directory.
    """
    import torch

    import_funasr()
    from funasr.models.emotion2vec.model import Emotion2vec

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arch = ARCHS["tiny"]
    cfg = emotion2vec_config(arch)
    targets_of = {lab: LABEL_KEYS.index(lab) for lab in CUE_LABELS}
    t0 = time.perf_counter()
    threads = torch.get_num_threads()
    # one thread: measured 2-3x faster per step than two on a shared 2-core machine (load ~15), where
    # OpenMP threads wait for each other; an idle machine loses little with small tensors like these
    torch.set_num_threads(1)
    try:
        state, accuracy, losses = _train(net_builder=lambda: Emotion2vec(model_conf=cfg["model_conf"], vocab_size=len(TOKENS)),
                                         config=config, targets_of=targets_of)
    finally:
        torch.set_num_threads(threads)
    seconds = time.perf_counter() - t0
    _write_checkpoint(out, cfg, state, config, accuracy, losses, seconds)
    logger.info("trained the planted-cue checkpoint in %.0f s (held-out accuracy %.2f) at %s", seconds, accuracy, out)
    return out


def _train(net_builder, config: CueTraining, targets_of: dict) -> tuple[dict, float, list]:
    import torch
    import torch.nn.functional as F

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        net = net_builder()
        # eval mode throughout: dropout and layer drop off (layer drop could skip the only block)
        net.eval()
        opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=1e-4)
        rng = np.random.default_rng(config.seed)
        losses = []
        validation = make_cue_set(config.held_out, seed=config.seed + 20_000, seconds=config.seconds)

        def accuracy_on(clips) -> float:
            with torch.no_grad():
                x = torch.from_numpy(np.stack([c.y for c in clips]))
                x = F.layer_norm(x, x.shape[-1:])
                pred = net.proj(net.extract_features(x, padding_mask=None)["x"]).mean(1).argmax(1).numpy()
            return float(np.mean([pred[i] == targets_of[c.label] for i, c in enumerate(clips)]))

        step = 0
        while step < config.max_steps:
            if step >= config.steps and step % config.check_every == 0:
                reached = accuracy_on(validation)
                logger.info("cue training step %d: validation accuracy %.2f", step, reached)
                if reached >= config.target_accuracy:
                    break
            clips = [make_cue_clip(rng, CUE_LABELS[int(k)], seconds=config.seconds) for k in rng.integers(0, len(CUE_LABELS), config.batch)]
            x = torch.from_numpy(np.stack([c.y for c in clips]))
            x = F.layer_norm(x, x.shape[-1:])  # FunASR's per-clip wave normalisation
            feats = net.extract_features(x, padding_mask=None)["x"]
            logits = net.proj(feats).mean(1)  # the utterance logit is the mean of the frame logits
            y = torch.tensor([targets_of[c.label] for c in clips])
            loss = F.cross_entropy(logits, y)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            losses.append(loss.detach().item())  # a detached scalar: no autograd warning per step
            if step % 20 == 0:
                logger.info("cue training step %d loss %.3f", step, loss.item())
            step += 1
        accuracy = accuracy_on(make_cue_set(config.held_out, seed=config.seed + 10_000, seconds=config.seconds))
        state = {k: v.detach().clone().contiguous() for k, v in net.state_dict().items()}
    return state, accuracy, losses


def _write_checkpoint(out: Path, cfg: dict, state: dict, config: CueTraining, accuracy: float, losses: list, seconds: float) -> None:
    arch = ARCHS["tiny"]
    marker = {
        "warning": CUE_BANNER,
        "arch": asdict(arch),
        "training": config.to_dict(),
        "cues": {lab: ("no cue" if lab == "neutral" else f"{CUE_SECONDS * 1000:.0f} ms cue") for lab in CUE_LABELS},
        "held_out_accuracy": accuracy,
        "steps_run": len(losses),
        "final_loss": float(np.mean(losses[-20:])),
        "train_seconds": round(seconds, 1),
        "parameters": int(sum(v.numel() for v in state.values())),
        "made_by": "workbench.explain.cue.train_cue_checkpoint",
    }
    write_checkpoint_files(out, config=cfg, weights=checkpoint_bytes(state), marker_name=CUE_MARKER, marker=marker,
                           kind="cue", warning=CUE_BANNER)


def cue_checkpoint_info(model_dir: str | os.PathLike) -> dict | None:
    """The marker of a planted-cue checkpoint, or ``None``."""
    path = Path(model_dir) / CUE_MARKER
    if not path.is_file():
        return None
    return loads_json(read_bytes_capped(path, max_bytes=YAML_MAX_BYTES, what=CUE_MARKER, decompress=False))


def ensure_cue_checkpoint(config: CueTraining = CueTraining()) -> Path:
    """The cached planted-cue checkpoint (``$WORKBENCH_CACHE/checkpoints/cue-tiny-seedN``), trained once, verified every time.

    Its ``model.pt`` must have the sha256 the package recorded when it trained it (the registry of generated
    checkpoints); a replaced or edited one is trained again, and a warning says so.
    """
    target = cache_dir() / "checkpoints" / f"cue-tiny-seed{config.seed}"
    if cue_checkpoint_info(target) is None:
        train_cue_checkpoint(target, config)
        return target
    weights = target / "model.pt"
    actual = file_sha256(weights) if weights.is_file() and not weights.is_symlink() else None
    known = generated_checksum(actual)
    if known is None or known.get("kind") != "cue":
        logger.warning("the cached planted-cue checkpoint at %s is not the one the workbench trained (its model.pt has sha256 %s); "
                       "training it again (about a minute).", target, (actual or "none")[:16])
        train_cue_checkpoint(target, config)
    return target
