"""float32 Linear layers through oneDNN where PyTorch's BLAS is slow (workbench.model.prepack): the same products.

On AMD CPUs MKL's sgemm, which a float32 ``torch.nn.Linear`` calls, runs at about half the speed oneDNN gets from
the same CPU (2.1-2.3× per Linear of the large architecture, 1.75× for the whole model on a 2-core EPYC).  The
routed layer must compute what the plain one does (float32 rounding apart), keep the plain layer's gradients,
parameters and state dict, and fall back to the plain kernel where oneDNN's cannot serve (gradients, tracing).
"""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch

from conftest import speech_like

from workbench.model.prepack import ONEDNN_FLOAT32_VENDORS, float32_linear_route, onednn_linear_class, route_float32_linears

pytestmark = pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this PyTorch has no oneDNN")


def _net():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 96), torch.nn.GELU(), torch.nn.Linear(96, 7))
    return net.eval()


def _ops(fn) -> set[str]:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return {e.name for e in prof.events()}


def test_routed_layers_compute_what_the_plain_ones_do_through_onednn():
    plain, routed = _net(), _net()
    assert route_float32_linears(routed) == 2 and all(type(m) is onednn_linear_class() for m in (routed[0], routed[2]))
    x = torch.randn(3, 50, 64)
    with torch.no_grad():
        a, b = plain(x), routed(x)
        ops = _ops(lambda: routed(x))
    assert "mkldnn::_linear_pointwise" in ops and "aten::addmm" not in ops
    torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)
    assert routed.state_dict().keys() == plain.state_dict().keys()
    assert all(torch.equal(routed.state_dict()[k], plain.state_dict()[k]) for k in plain.state_dict())


def test_gradients_and_tracing_take_the_plain_kernel_and_copies_and_pickles_keep_the_route():
    plain, routed = _net(), _net()
    route_float32_linears(routed)
    x = torch.randn(2, 10, 64, requires_grad=True)
    assert "mkldnn::_linear_pointwise" not in _ops(lambda: routed(x).sum())
    (ga,) = torch.autograd.grad(plain(x).sum(), x)
    (gb,) = torch.autograd.grad(routed(x).sum(), x)
    assert torch.equal(ga, gb)  # the same kernel: the same bits
    traced = torch.jit.trace(routed, torch.randn(2, 10, 64), check_trace=False)
    assert "mkldnn" not in str(traced.graph)  # what an ONNX export records: plain linear ops
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):  # a caller's autocast still applies
        assert routed(x).dtype == torch.bfloat16 == plain(x).dtype
    clone = copy.deepcopy(routed)
    buf = io.BytesIO()
    torch.save(routed, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    with torch.no_grad():
        for other in (clone, loaded):
            assert type(other[0]) is onednn_linear_class()
            assert torch.equal(other(x.detach()), routed(x.detach()))


def test_the_route_is_taken_on_the_vendors_it_was_measured_for_and_said():
    assert float32_linear_route("GenuineIntel") is None and float32_linear_route(None) is None
    for vendor in ONEDNN_FLOAT32_VENDORS:
        assert vendor in float32_linear_route(vendor) and "oneDNN" in float32_linear_route(vendor)


def test_a_float32_cpu_model_loads_routed_where_its_vendor_is_listed_and_scores_as_the_plain_one(tiny_model):
    from workbench.model.precision import cpu_vendor

    routed = [m for m in tiny_model.network.modules() if type(m) is onednn_linear_class()]
    reason = float32_linear_route(cpu_vendor())
    assert tiny_model.info.float32_math == reason and bool(routed) == bool(reason)
    if not routed:
        pytest.skip(f"this CPU ({cpu_vendor()}) keeps PyTorch's BLAS")
    clips = [speech_like(dur=d, seed=s).astype(np.float32) for d, s in ((1.5, 1), (3.2, 2))]
    fast = tiny_model.predict(clips)
    for m in routed:
        m.__class__ = torch.nn.Linear
    try:
        slow = tiny_model.predict(clips)
    finally:
        for m in routed:
            m.__class__ = onednn_linear_class()
    for a, b in zip(fast, slow):
        assert a.label == b.label
        np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)
        np.testing.assert_allclose(a.embedding, b.embedding, rtol=1e-4, atol=1e-5)


def test_torch_compile_gets_the_plain_layer():
    """Dynamo traced the oneDNN op and inductor could not lower it (gpu_suite.sh's compiled step failed on the CPU)."""
    routed = _net()
    route_float32_linears(routed)
    x = torch.randn(2, 5, 64)
    compiled = torch.compile(routed, backend="eager")  # Dynamo's graph capture, without a C compiler
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), routed(x), rtol=1e-5, atol=1e-6)
    graphs = []
    torch._dynamo.reset()

    def capture(gm, example_inputs):
        graphs.append(str(gm.graph))
        return gm.forward

    with torch.no_grad():
        torch.compile(routed, backend=capture)(x)
    assert graphs and not any("mkldnn" in g for g in graphs)

