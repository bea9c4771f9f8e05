"""The attention memory check before a forward pass (workbench.model.memory), decided from the free bytes given: the
CPU side (torch, ONNX Runtime) and the CUDA side (torch's network, ONNX Runtime's CUDA provider), with no GPU here."""

from __future__ import annotations

import pytest

from workbench.errors import ModelError
from workbench.model.memory import ATTENTION_BYTES, ATTENTION_BYTES_CUDA, attention_need, check_attention_fits, cuda_free_bytes

GB = 10**9
#: the large model (16 heads) on 4 clips of 120 s (6,000 frames of 20 ms): 2.3 billion (frame, frame) pairs
LARGE = dict(heads=16, clips=4, frames=6000, seconds=120.0, source="large")


def test_a_cuda_forward_pass_whose_attention_does_not_fit_the_free_gpu_memory_is_refused_before_it_runs():
    """torch on CUDA and ONNX Runtime's CUDA provider went unchecked: four 120 s clips of the large model in bfloat16
    need about 60 GB of attention, and a 40 GB card ran out of memory mid-batch instead of refusing by name."""
    need = attention_need(16, 4, 6000, dtype="bfloat16", device="cuda")
    assert need == 26 * 4 * 16 * 6000**2
    with pytest.raises(ModelError) as err:
        check_attention_fits(**LARGE, dtype="bfloat16", device="cuda:0", free=40 * GB)
    assert "needs about 59.9 GB for its bfloat16 attention (16 heads, 6,000 frames), and 40.0 GB is free on cuda:0" in err.value.message
    assert "workbench segment" in err.value.fix
    check_attention_fits(**LARGE, dtype="bfloat16", device="cuda:0", free=80 * GB)  # an 80 GB card has room


def test_the_cuda_side_counts_no_freed_heap_and_charges_an_onnx_graph_its_own_figure():
    need = attention_need(16, 4, 6000, dtype="onnx-float32", device="cuda")
    assert need == 56 * 4 * 16 * 6000**2  # (120.9 GB)
    with pytest.raises(ModelError, match="onnx-float32 attention .* is free on cuda"):
        check_attention_fits(**LARGE, dtype="onnx-float32", device="cuda", free=100 * GB)
    check_attention_fits(**LARGE, dtype="onnx-float32", device="cuda", free=130 * GB)
    # a CPU is granted the 1 GB of freed heap its allocator keeps; a GPU is not
    cpu_need = attention_need(1, 1, 1000, dtype="float32")
    check_attention_fits(1, 1, 1000, dtype="float32", seconds=20.0, source="x", free=cpu_need - GB // 2)
    with pytest.raises(ModelError):
        check_attention_fits(1, 1, 1000, dtype="float32", seconds=20.0, source="x", device="cuda", free=attention_need(1, 1, 1000, dtype="float32", device="cuda") - 1)


def test_every_precision_has_a_cuda_figure_no_smaller_than_the_cpus_low_precision_one():
    assert set(ATTENTION_BYTES_CUDA) == set(ATTENTION_BYTES)
    assert ATTENTION_BYTES_CUDA["float16"] == ATTENTION_BYTES_CUDA["bfloat16"] < ATTENTION_BYTES_CUDA["float32"]
    assert all(ATTENTION_BYTES_CUDA[k] >= ATTENTION_BYTES[k] for k in ("onnx-float32", "onnx-int8"))
    assert attention_need(2, 1, 100, dtype="float8", device="cuda") == max(ATTENTION_BYTES_CUDA.values()) * 2 * 100**2


def test_free_gpu_memory_is_a_count_of_bytes_or_none_where_it_cannot_be_asked():
    free = cuda_free_bytes("cuda", torch_cache=True)
    assert free is None or free >= 0


@pytest.mark.parametrize("free", [-1, -GB, float("nan"), float("-inf"), float("inf")])
def test_a_free_figure_that_means_nothing_refuses_nothing(free):
    """Free memory not known as a count (negative, NaN, infinite) is no reason to refuse: a 1-clip pass that needs
    no attention at all (a network without attention heads, no clip) was refused as needing 0.0 GB with -0.0 GB free."""
    for heads, clips in ((0, 1), (12, 0), (12, 1)):
        for device in ("cpu", "cuda:0"):
            check_attention_fits(heads, clips, 100_000, dtype="float32", seconds=2000.0, source="x", device=device, free=free)


def test_no_heads_is_never_refused_and_an_absurd_frame_count_is_refused_by_name():
    check_attention_fits(0, 1, 10**9, dtype="float32", seconds=1.0, source="x", device="cuda", free=0)
    check_attention_fits(12, 0, 10**9, dtype="float32", seconds=1.0, source="x", device="cpu", free=0)
    with pytest.raises(ModelError, match=r"needs about more than 1e300 GB .* 0.0 GB is free on cuda"):
        check_attention_fits(12, 1, 10**200, dtype="float32", seconds=float("nan"), source="x", device="cuda", free=0)


def test_free_bytes_as_a_numpy_integer_still_decide():
    import numpy as np

    with pytest.raises(ModelError):
        check_attention_fits(**LARGE, dtype="bfloat16", device="cuda:0", free=np.int64(40 * GB))
