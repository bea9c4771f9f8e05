"""Batching: clips sorted by length into buckets whose padding stays small, sized for the device."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

from workbench.schema import SAMPLE_RATE


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


#: precisions whose activations are quantized at run time with one scale per tensor (torch's dynamic quantisation,
#: ONNX Runtime's DynamicQuantizeLinear): the scale was the whole batch's, so a clip's scores depended on the clips
#: scored beside it (max |Δ score| alone against in a batch of 8: tiny onnx-int8 5.8e-4, int8 7.2e-5; base onnx-int8
#: 7.8e-4; float32 9e-9).  Each clip is its own batch there (:func:`default_policy`); measured on 2 cores, 200 clips
#: of 2–10 s: tiny onnx-int8 0.88–0.96 s against 0.89–0.90 batched, base onnx-int8 (40 clips) 4.25–4.67 s against 5.09
DYNAMIC_QUANTIZED = ("int8", "onnx-int8")


def default_policy(device: str, dtype: str | None = None) -> BatchPolicy:
    """Batching that suits the device: small buckets on CPU; on a GPU, sized by its free memory (:func:`cuda_policy`);
    a clip alone in its batch for a :data:`DYNAMIC_QUANTIZED` ``dtype``, so that its scores are its own."""
    if str(device).startswith("cuda"):
        return cuda_policy(cuda_free_bytes(str(device)))
    if str(dtype) in DYNAMIC_QUANTIZED:
        return BatchPolicy(max_batch_size=1, max_batch_seconds=60.0, max_pad_fraction=0.05)
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
