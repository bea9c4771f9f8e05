"""bfloat16 Linear layers with oneDNN-packed weights (workbench.model.prepack): the same products as the plain layers."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from workbench.model.prepack import available, packed_linear_class, prepack_linears, supported
from workbench.model.ref import ModelRef

pytestmark = pytest.mark.skipif(not supported(), reason="this CPU or PyTorch has no oneDNN bfloat16 kernels")


def test_the_packed_layer_passes_its_own_check_where_onednn_has_bfloat16():
    assert available()


def _block(dim: int = 48, hidden: int = 96, approximate: str = "none"):
    from funasr.models.emotion2vec.timm_modules import Mlp

    torch.manual_seed(0)
    net = torch.nn.Module()
    net.attn = torch.nn.Module()
    net.attn.qkv = torch.nn.Linear(dim, 3 * dim)
    net.mlp = Mlp(dim, hidden, act_layer=lambda: torch.nn.GELU(approximate=approximate))
    net.proj = torch.nn.Linear(dim, 5)  # the head: left as it is
    return net.to(torch.bfloat16).eval()


def _forward(net, x):
    return net.proj(net.mlp(net.attn.qkv(x)[..., : x.shape[-1]]))


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_packed_layers_compute_what_the_plain_ones_do_with_the_gelu_inside_the_first_mlp_layer(approximate):
    plain = _block(approximate=approximate)
    packed = copy.deepcopy(plain)
    assert prepack_linears(packed) == 3  # qkv and the MLP's two layers (the first with its GELU); not the head
    P = packed_linear_class()
    assert isinstance(packed.attn.qkv, P) and isinstance(packed.mlp.fc2, P) and type(packed.proj) is torch.nn.Linear
    assert packed.mlp.fc1.gelu == approximate and type(packed.mlp.act) is torch.nn.Identity
    x = torch.randn(3, 17, 48).to(torch.bfloat16)
    with torch.inference_mode():
        want, got = _forward(plain, x).float(), _forward(packed, x).float()
    # the same products: equal within bfloat16 rounding (a dropped or doubled GELU moves them by ~0.1)
    assert torch.allclose(got, want, atol=0.03, rtol=0.02)
    assert float((got - want).abs().mean()) < 2e-3
    # a float32 input is cast as autocast casts it for a bfloat16 Linear
    with torch.inference_mode():
        assert torch.equal(packed.attn.qkv(x.float()), packed.attn.qkv(x))


def test_the_plain_weight_reads_back_and_gradients_take_the_plain_route():
    plain = _block()
    packed = copy.deepcopy(plain)
    prepack_linears(packed)
    assert torch.equal(packed.attn.qkv.weight, plain.attn.qkv.weight)
    assert torch.equal(packed.mlp.fc1.bias, plain.mlp.fc1.bias)
    x = torch.randn(2, 5, 48).to(torch.bfloat16).requires_grad_(True)
    y = packed.mlp(x)  # oneDNN's packed kernel has no backward: this must not use it
    y.float().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    x2 = x.detach().clone().requires_grad_(True)
    plain.mlp(x2).float().sum().backward()
    assert torch.allclose(x.grad.float(), x2.grad.float(), atol=0.03)


def test_a_copy_holds_plain_layers_that_compute_the_same():
    plain = _block()
    packed = copy.deepcopy(plain)
    prepack_linears(packed)
    twin = copy.deepcopy(packed)  # oneDNN's opaque tensors cannot be copied; the copy is plain
    assert not any(isinstance(m, packed_linear_class()) for m in twin.modules())
    x = torch.randn(2, 9, 48).to(torch.bfloat16)
    with torch.inference_mode():
        assert torch.allclose(_forward(twin, x).float(), _forward(plain, x).float(), atol=0.03, rtol=0.02)
        assert torch.allclose(_forward(twin.float(), x.float()), _forward(plain.float(), x.float()), atol=1e-5)


def test_a_float32_model_is_left_alone():
    net = _block().float()
    assert prepack_linears(net) == 0 and type(net.attn.qkv) is torch.nn.Linear


def test_the_bfloat16_cpu_model_is_packed_at_load_and_scores_as_its_plain_copy():
    net = ModelRef("tiny", device="cpu", dtype="bfloat16").load()
    body = net.automodel.model
    P = packed_linear_class()
    packed = [m for m in body.modules() if isinstance(m, P)]
    assert packed and any(m.gelu for m in packed) and not isinstance(body.proj, P)
    assert net.info.parameters == ModelRef("tiny", device="cpu", dtype="float32").load().info.parameters
    twin = copy.copy(net)
    twin.automodel = copy.copy(net.automodel)
    twin.automodel.model = copy.deepcopy(body)
    rng = np.random.default_rng(3)
    clips = [0.1 * rng.standard_normal(int(16000 * s)).astype(np.float32) for s in (0.8, 2.1, 3.4)]
    a, b = net.predict(clips), twin.predict(clips)
    assert [p.label for p in a] == [p.label for p in b]
    assert max(float(np.abs(p.scores - q.scores).max()) for p, q in zip(a, b)) < 2e-3
    assert not any(isinstance(m, P) for m in ModelRef("tiny", device="cpu", dtype="float32").load().automodel.model.modules())


def test_loading_hands_the_plain_weights_pages_back():
    """The allocator policy keeps freed memory; the plain weights freed by packing (large: 600 MB) are handed back."""
    import os
    import subprocess
    import sys

    script = ("import workbench.model.building as b\n"
              "calls = []\n"
              "b.release_freed_memory = lambda: calls.append(1)\n"
              "from workbench.model.ref import ModelRef\n"
              "ModelRef('tiny', device='cpu', dtype='bfloat16').load()\n"
              "print('released', len(calls))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "released 1" in proc.stdout


def test_the_state_dict_keeps_the_plain_models_keys_and_values_and_so_does_a_copy():
    # the packed weights are oneDNN tensors no state dict held: 49 keys of tiny's 69 were left, and a copy renamed the
    # fused layer's (mlp.fc1.0.weight), so neither saved as a checkpoint the plain model could read
    plain = _block()
    packed = copy.deepcopy(plain)
    prepack_linears(packed)
    want = plain.state_dict()
    for got in (packed.state_dict(), copy.deepcopy(packed).state_dict()):
        assert list(got) == list(want)
        assert all(torch.equal(got[k], want[k]) for k in want)
    fresh = _block()
    fresh.load_state_dict(packed.state_dict())  # what a saved checkpoint gives back
    x = torch.randn(2, 7, 48).to(torch.bfloat16)
    with torch.inference_mode():
        assert torch.equal(_forward(fresh, x), _forward(plain, x))
