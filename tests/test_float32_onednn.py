"""float32 Linear layers through oneDNN where PyTorch's BLAS is slow (workbench.model.prepack): the same products.

On AMD CPUs MKL's sgemm, which a float32 ``torch.nn.Linear`` calls, runs at about half the speed oneDNN gets from
the same CPU (2.1-2.3× per Linear of the large architecture, 1.75× for the whole model on a 2-core EPYC).  The
routed layer must compute what the plain one does (float32 rounding apart), its gradients too (through oneDNN, only
those the backward uses), keep the plain layer's parameters and state dict, and take the plain kernel where oneDNN's
cannot serve (tracing, autocast, a double backward).
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


def _count(fn, name: str = "mkldnn::_linear_pointwise") -> int:
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return sum(e.name == name for e in prof.events())


def _grads(net, x, loss, wrt):
    return torch.autograd.grad(loss(net(x)), wrt)


@pytest.mark.parametrize("loss", [lambda y: y.sum(), lambda y: (y ** 2).sum(), lambda y: y[:, ::3].pow(3).mean()])
def test_gradients_go_through_onednn_and_equal_the_plain_layers_in_float32_and_float64(loss):
    plain, routed = _net(), _net()
    route_float32_linears(routed)
    x = torch.randn(3, 40, 64, requires_grad=True)
    wrt_r, wrt_p = [x, *routed.parameters()], [x, *plain.parameters()]
    fast = _grads(routed, x, loss, wrt_r)
    same = _grads(plain, x, loss, wrt_p)  # PyTorch's BLAS, float32
    exact = _grads(plain.double(), x.double(), loss, [x, *plain.parameters()])  # float64: the reference
    for f, s, e in zip(fast, same, exact):
        assert f.dtype == torch.float32 and f.shape == e.shape
        scale = float(e.abs().max())
        assert float((f.double() - e).abs().max()) <= 1e-5 * scale  # float32 rounding of the float64 gradient
        torch.testing.assert_close(f, s, rtol=1e-4, atol=1e-5 * scale)
    # 2 Linear layers: 2 forward products, then x's and the weights' gradients of each (the first layer's x too)
    assert _count(lambda: _grads(routed, x, loss, wrt_r)) == 2 + 4
    assert _count(lambda: _grads(routed, x, loss, wrt_r), "aten::addmm") == 0


def test_a_gradient_of_the_input_alone_computes_no_weight_gradients():
    """Captum's Integrated Gradients asks ``torch.autograd.grad(out, wave)``; the parameters require grad all the same
    (a loaded model's default) and their gradients are not computed, as the plain layer's addmm does not compute them."""
    plain, routed = _net(), _net()
    route_float32_linears(routed)
    assert all(p.requires_grad for p in routed.parameters())
    x = torch.randn(2, 30, 64, requires_grad=True)
    assert _count(lambda: _grads(routed, x, torch.sum, [x])) == 2 + 2  # forward, then x's gradient per layer
    torch.testing.assert_close(_grads(routed, x, torch.sum, [x])[0], _grads(plain, x, torch.sum, [x])[0])
    assert all(p.grad is None for p in routed.parameters())
    for p in routed[2].parameters():  # a frozen layer (fine-tuning's lower blocks, LoRA's base layer): no gradient of it
        p.requires_grad_(False)
    y = routed(x).sum()
    assert _count(lambda: y.backward()) == 2 + 1  # the first layer's x and weight; the second layer's x (its weight frozen)
    assert routed[2].weight.grad is None and routed[0].weight.grad is not None and x.grad is not None


def test_a_double_backward_takes_the_plain_differentiable_products():
    plain, routed = _net(), _net()
    route_float32_linears(routed)
    x = torch.randn(2, 10, 64, requires_grad=True)

    def twice(net):
        (g,) = torch.autograd.grad(net(x).pow(2).sum(), x, create_graph=True)
        return torch.autograd.grad(g.pow(2).sum(), [x, *net.parameters()])

    for a, b in zip(twice(routed), twice(plain)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * float(b.abs().max()))


def test_tracing_and_autocast_take_the_plain_kernel_and_copies_and_pickles_keep_the_route():
    plain, routed = _net(), _net()
    route_float32_linears(routed)
    x = torch.randn(2, 10, 64, requires_grad=True)
    traced = torch.jit.trace(routed, torch.randn(2, 10, 64), check_trace=False)
    assert "mkldnn" not in str(traced.graph)  # what an ONNX export records: plain linear ops
    for grad in (False, True):
        with torch.set_grad_enabled(grad), torch.autocast("cpu", dtype=torch.bfloat16):  # a caller's autocast still applies
            assert routed(x).dtype == torch.bfloat16 == plain(x).dtype
            assert _count(lambda: routed(x)) == 0
    clone = copy.deepcopy(routed)
    buf = io.BytesIO()
    torch.save(routed, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    with torch.no_grad():
        for other in (clone, loaded):
            assert type(other[0]) is onednn_linear_class()
            assert torch.equal(other(x.detach()), routed(x.detach()))
    assert routed.state_dict().keys() == plain.state_dict().keys()


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


def _with_class(layers, cls, fn):
    """``fn()`` with ``layers`` switched to ``cls``, their classes restored after (the session's model is shared)."""
    old = [type(m) for m in layers]
    for m in layers:
        m.__class__ = cls
    try:
        return fn()
    finally:
        for m, c in zip(layers, old):
            m.__class__ = c


def test_integrated_gradients_on_the_model_go_through_onednn_and_give_the_plain_layers_map(tiny_model):
    from workbench.explain.attribution import integrated_gradients
    from workbench.explain.scoring import ClassScore

    layers = [m for m in tiny_model.network.modules() if isinstance(m, torch.nn.Linear)]
    scorer = ClassScore(tiny_model, forward=None)
    wave = speech_like(dur=1.2, seed=3).astype(np.float32)

    def ig():
        return integrated_gradients(scorer, wave, "happy", max_steps=64)

    # the shared model may hold gradients an earlier test left (fine-tuning): IG must add none and change none
    before = {id(p): None if p.grad is None else p.grad.clone() for p in tiny_model.network.parameters()}
    fast = _with_class(layers, onednn_linear_class(), ig)
    slow = _with_class(layers, torch.nn.Linear, ig)
    n = _with_class(layers, onednn_linear_class(), lambda: _count(ig, "OneDNNLinearFunctionBackward"))
    assert n > 0 and _with_class(layers, torch.nn.Linear, lambda: _count(ig, "OneDNNLinearFunctionBackward")) == 0
    assert [p[:2] for p in fast.params["path_pieces"]] == [p[:2] for p in slow.params["path_pieces"]]  # the same pieces
    scale = float(np.abs(slow.frame_relevance).max())
    np.testing.assert_allclose(fast.frame_relevance, slow.frame_relevance, rtol=1e-3, atol=1e-4 * scale)
    assert abs(fast.checks["completeness"]["error"] - slow.checks["completeness"]["error"]) < 1e-4
    for p in tiny_model.network.parameters():  # the wave's gradient only
        assert (p.grad is None) if before[id(p)] is None else torch.equal(p.grad, before[id(p)])


def test_deciding_the_route_draws_no_random_number():
    """The route's own check of the kernel drew from torch's global generator at every load, so a seeded computation
    after loading a model gave other numbers on an AMD CPU than on an Intel one."""
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    float32_linear_route(ONEDNN_FLOAT32_VENDORS[0])
    assert torch.equal(torch.rand(3), expected)

