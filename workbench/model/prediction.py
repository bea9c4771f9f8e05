"""``Prediction``: what the model says about one clip (scores, logits, embeddings, frame scores)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from workbench.errors import ModelError
from workbench.labels import LABEL_KEYS
from workbench.model.temperature import softmax
from workbench.schema import FRAME_RATE


@dataclass
class Prediction:
    """The model's output for one clip.

    Parameters
    ----------
    id : str
        The clip's name.
    scores : ndarray, shape (C,)
        Probabilities in ``labels`` order (the model's classes: the nine :data:`~workbench.labels.LABEL_KEYS`,
        or a fine-tuned head's own).
    logits : ndarray, shape (C,)
        The head's outputs (divided by the model's temperature, if it has one); ``scores`` is their softmax.
    embedding : ndarray, shape (D,), optional
        Mean of the clip's frame features.
    frame_logits : ndarray, shape (T, C), optional
        The head applied to each frame (50 frames/s); present with ``granularity="frame"``.
    frame_embeddings : ndarray, shape (T, D), optional
        Each frame's features; present with ``granularity="frame"`` and ``embeddings=True``.
    n_frames : int
        Frames the clip made (``T``).
    duration : float
        Seconds of audio scored.
    random_weights : bool
        The model had seeded random weights: the scores mean nothing.
    labels : tuple of str
        The model's classes, in score order.

    Examples
    --------
    >>> net = wb.load_model("tiny", device="cpu")
    >>> clip = 0.1 * np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    >>> p = net.predict([clip], granularity="frame")[0]
    >>> (p.scores.shape, p.n_frames, p.frame_scores.shape, p.duration)
    ((9,), 49, (49, 9), 1.0)
    >>> p.label in p.labels and 0 < p.confidence <= 1 and p.random_weights
    True
    >>> sorted(p.to_dict(frames=False))
    ['confidence', 'emotion', 'entropy_bits', 'margin', 'n_frames', 'scores']
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
        return None if self.frame_logits is None else softmax(self.frame_logits)

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


def refuse_non_finite(names: list[str], logits: np.ndarray, pooled: np.ndarray, frames: list[int],
                      frame_logits: np.ndarray | None, *, source: str) -> None:
    """Raise a ModelError naming the clips of a batch whose logits, embedding or frame logits hold NaN or ±inf.

    A float file whose samples reach far past full scale (1e30) overflows the network's per-clip normalisation in
    float32: its scores came back NaN and the clip was an ``ok`` row labelled with the first class.  The engine
    retries a refused batch one clip at a time, so only the clips with bad outputs become failed rows (as the ONNX
    backend's ``check_outputs`` does).
    """
    bad = [name for i, name in enumerate(names) if not (np.isfinite(logits[i]).all() and np.isfinite(pooled[i]).all()
                                                         and (frame_logits is None or np.isfinite(frame_logits[i, : frames[i]]).all()))]
    if bad:
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise ModelError(f"the network gave NaN or infinite scores for {', '.join(repr(b) for b in bad[:5])}{more}, so they mean nothing.",
                         source=source, fix="check the clip's samples: a float file whose values reach far past full scale "
                                            "(its peak in the log) overflows the network; rescale it to [-1, 1] and run it again "
                                            "(if every clip fails so, the checkpoint's weights hold NaN: download it again).")
