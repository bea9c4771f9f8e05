"""bfloat16 Linear layers with their weights laid out once for oneDNN, on a CPU.

``torch.nn.functional.linear`` in bfloat16 on a CPU hands oneDNN a plain row-major weight, and oneDNN reorders
it into the blocked layout its AMX/AVX-512 kernels read on *every* call.  The large architecture has 96 such
layers (four per block), each called once per batch, so the reorders repeat thousands of times over a corpus.
Here each weight is reordered once, at load (``torch.ops.mkldnn._reorder_linear_weight``, what PyTorch's own
inductor does when it freezes a CPU graph), and each call goes straight to the kernel
(``torch.ops.mkldnn._linear_pointwise``).  In a transformer block's MLP the GELU after the first layer runs
inside the same kernel ("post-op"), so its output is not written and read back once more.

Measured on 2 cores (Xeon with AMX, interleaved, best of 20, shapes of the large architecture at 1,200 frames):
the attention's output projection 6.4 -> 2.7 ms, qkv 11.1 -> 9.5 ms, the MLP's first layer with its GELU
16.4 -> 13.8 ms, the second 13.1 -> 13.5 ms (``benchmarks/inference.py`` gives the whole model).  The values are
the same products: the packed and plain layers agree to the last bit in most outputs and within bfloat16
rounding (a few units in the last place) elsewhere; ``--dtype auto`` measures the loaded model's agreement with
float32 as before, so the record covers this path.

Only the bfloat16 CPU path uses it (:func:`prepack_linears`, called once by the loader).  Such a model scores;
it is not trained: a layer asked for gradients (or given a tensor on another device) computes with its weight
read back to a plain tensor, a copy of the model (``copy.deepcopy``) holds plain ``torch.nn.Linear`` layers (with
their GELU where it was fused), and the state dict has the plain model's keys and values.
"""

from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)

#: the activations a layer can run as oneDNN's post-op: ``torch.nn.GELU(approximate=...)`` -> (attr, algorithm)
_POST_OPS = {"none": ("gelu", "none"), "tanh": ("gelu", "tanh")}


def _torch():
    import torch

    return torch


_CLASSES: dict = {}


def packed_linear_class() -> type:
    """:class:`PackedLinear`'s class, made on first use so that importing this module does not import torch."""
    if "packed" not in _CLASSES:
        torch = _torch()
        _CLASSES["packed"] = type("PackedLinear", (_PackedLinear, torch.nn.Module), {"__module__": __name__})
    return _CLASSES["packed"]


def linear_gelu_class() -> type:
    """A ``torch.nn.Linear`` followed by GELU, with the Linear's own parameter names (``weight``, ``bias``): what a
    copy of a packed layer with its GELU fused becomes, so that its state dict keeps the plain model's keys."""
    if "linear_gelu" not in _CLASSES:
        torch = _torch()

        def forward(self, x):
            return torch.nn.functional.gelu(torch.nn.functional.linear(x, self.weight, self.bias), approximate=self.approximate)

        _CLASSES["linear_gelu"] = type("LinearGELU", (torch.nn.Linear,), {"__module__": __name__, "forward": forward,
                                                                           "approximate": "none"})
    return _CLASSES["linear_gelu"]


def PackedLinear(linear: Any, gelu: str | None = None, rows_hint: int = 1024) -> Any:  # noqa: N802  (a class's name)
    """A :class:`_PackedLinear` module made from ``linear`` (and the GELU that follows it, if ``gelu``)."""
    return packed_linear_class()(linear, gelu, rows_hint)


class _PackedLinear:
    """A bfloat16 ``torch.nn.Linear`` (optionally followed by GELU) whose weight oneDNN reordered once.

    Mixed into ``torch.nn.Module`` by :func:`packed_linear_class`.
    """

    def __init__(self, linear: Any, gelu: str | None = None, rows_hint: int = 1024):
        torch = _torch()
        torch.nn.Module.__init__(self)
        self.in_features, self.out_features = int(linear.in_features), int(linear.out_features)
        self.gelu = gelu
        with torch.no_grad():
            dense = linear.weight.detach().to(torch.bfloat16).contiguous()
            self._packed = torch.ops.mkldnn._reorder_linear_weight(dense, rows_hint)
            self._bias = None if linear.bias is None else linear.bias.detach().to(torch.bfloat16).contiguous()
        self._post = ("none", "") if gelu is None else _POST_OPS[gelu]

    @property
    def weight(self):
        """The plain (out, in) weight, read back from oneDNN's layout (a new tensor each time)."""
        return self._packed.to_dense()

    @property
    def bias(self):
        return self._bias

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, packed bfloat16" + (
            f", GELU({self.gelu}) fused" if self.gelu else "")

    def forward(self, x):
        torch = _torch()
        if x.device.type != "cpu" or (torch.is_grad_enabled() and x.requires_grad):
            y = torch.nn.functional.linear(x.to(torch.bfloat16), self.weight, self._bias)
            return y if self.gelu is None else torch.nn.functional.gelu(y, approximate=self.gelu)
        if x.dtype != torch.bfloat16:
            x = x.to(torch.bfloat16)  # what autocast gives a bfloat16 Linear
        attr, algorithm = self._post
        return torch.ops.mkldnn._linear_pointwise(x, self._packed, self._bias, attr, [], algorithm)

    def plain(self) -> Any:
        """The plain layer this one computes: a ``torch.nn.Linear``, or a :func:`linear_gelu_class` where the GELU is fused."""
        torch = _torch()
        cls = torch.nn.Linear if self.gelu is None else linear_gelu_class()
        lin = cls(self.in_features, self.out_features, bias=self._bias is not None, dtype=torch.bfloat16)
        if self.gelu is not None:
            lin.approximate = self.gelu
        with torch.no_grad():
            lin.weight.copy_(self.weight)
            if self._bias is not None:
                lin.bias.copy_(self._bias)
        return lin

    def __deepcopy__(self, memo):
        """A copy holds the plain layer (oneDNN's opaque tensors cannot be copied): :meth:`plain`."""
        return self.plain()

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        """The state dict holds the plain weight and bias under the Linear's keys, as the unpacked model's does."""
        destination[prefix + "weight"] = self.weight
        if self._bias is not None:
            destination[prefix + "bias"] = self._bias


def supported() -> bool:
    """Whether this PyTorch and CPU have oneDNN's bfloat16 kernels."""
    torch = _torch()
    try:
        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (RuntimeError, AttributeError):
        return False


def available() -> bool:
    """Whether a packed bfloat16 Linear (with its GELU) runs here and gives what the plain layer gives."""
    torch = _torch()
    if not supported():
        return False
    try:
        lin = torch.nn.Linear(32, 16).to(torch.bfloat16)
        x = torch.randn(3, 5, 32).to(torch.bfloat16)
        with torch.no_grad():
            ok = torch.allclose(PackedLinear(lin, "none")(x).float(), torch.nn.functional.gelu(lin(x)).float(), atol=0.05)
    except (RuntimeError, AttributeError) as exc:  # an older PyTorch, or oneDNN without bf16 on this CPU
        logger.debug("packed bfloat16 Linear not available: %s", exc)
        return False
    return bool(ok)


def _fusable_gelu(module: Any) -> str | None:
    """The GELU variant of a timm-style ``Mlp`` (fc1 -> act -> drop -> norm -> fc2) whose act can run in fc1."""
    torch = _torch()
    act = getattr(module, "act", None)
    if (type(module).__name__ == "Mlp" and isinstance(getattr(module, "fc1", None), torch.nn.Linear)
            and type(act) is torch.nn.GELU and act.approximate in _POST_OPS):
        return act.approximate
    return None


def prepack_linears(model: Any, *, skip: tuple[str, ...] = ("proj",)) -> int:
    """Replace ``model``'s bfloat16 ``torch.nn.Linear`` layers by :class:`PackedLinear` (GELU fused into an MLP's first
    layer); returns how many were replaced (0 where this CPU or PyTorch cannot).  ``skip``: names of direct children
    of ``model`` left as they are (the classification head, which fine-tuning reads and writes)."""
    torch = _torch()
    if not available():
        return 0
    n = 0
    for name, module in list(model.named_modules()):
        gelu = _fusable_gelu(module)
        if gelu is not None and module.fc1.weight.dtype == torch.bfloat16:
            module.fc1, module.act = PackedLinear(module.fc1, gelu), torch.nn.Identity()
            n += 1
        for child_name, child in list(module.named_children()):
            if name == "" and child_name in skip:
                continue
            if type(child) is torch.nn.Linear and child.weight.dtype == torch.bfloat16:
                setattr(module, child_name, PackedLinear(child))
                n += 1
    return n


# ---------------------------------------------------------------------------
# float32: the same products through oneDNN where the BLAS PyTorch calls is slow
# ---------------------------------------------------------------------------
#: x86 vendors whose float32 BLAS (MKL's sgemm, which PyTorch's CPU build calls for a float32 Linear) takes a generic
#: code path: measured on an AMD EPYC (2 cores, AVX-512), 1,200 × 1,024 by 1,024 × 3,072 ran at 210 GFLOP/s through
#: ``torch.nn.functional.linear`` and 2.1-2.3× faster through oneDNN (``torch.ops.mkldnn._linear_pointwise``), for
#: each Linear shape of the large architecture.  On Intel CPUs MKL takes its own kernels; nothing changes there.
ONEDNN_FLOAT32_VENDORS = ("AuthenticAMD", "HygonGenuine")


def _edge_runs(ctx: Any, i: int) -> bool:
    """Whether the backward under way uses the gradient of the ``i``-th input of ``ctx``'s node: False for a
    ``torch.autograd.grad(out, inputs)`` that does not ask for it (Captum's Integrated Gradients asks for the wave's
    gradient only, not the weights'), True for ``.backward()`` or where this PyTorch cannot tell."""
    torch = _torch()
    if not ctx.needs_input_grad[i]:
        return False
    node = ctx.next_functions[i][0]
    if node is None:
        return False
    try:
        return bool(torch._C._will_engine_execute_node(node))
    except (AttributeError, RuntimeError):  # a PyTorch without the query, or asked outside its graph task
        return True


def _onednn_linear_backward(ctx: Any, grad: Any) -> tuple:
    """The gradients of x, weight and bias that the backward under way uses: ``grad @ W`` and ``gradᵀ @ x`` through
    oneDNN (2-3× MKL's sgemm on AMD CPUs), the bias's a sum; the others ``None`` (not computed)."""
    torch = _torch()
    x, weight = ctx.saved_tensors
    if torch.is_grad_enabled():  # create_graph=True: the plain, differentiable products (a double backward)
        gx = grad.matmul(weight) if ctx.needs_input_grad[0] else None
        gw = grad.flatten(0, -2).t().matmul(x.flatten(0, -2)) if ctx.needs_input_grad[1] else None
        gb = grad.flatten(0, -2).sum(0) if ctx.needs_input_grad[2] else None
        return gx, gw, gb
    gx = gw = gb = None
    if _edge_runs(ctx, 0):  # (…, out) by the (out, in) weight: oneDNN reads W.t() as an (in, out) "weight" as it is
        gx = torch.ops.mkldnn._linear_pointwise(grad, weight.t(), None, "none", [], "")
    rows = grad.reshape(-1, grad.shape[-1])
    if _edge_runs(ctx, 1):  # (out, rows) by (rows, in): oneDNN reads both transposed views as they are
        gw = torch.ops.mkldnn._linear_pointwise(rows.t(), x.reshape(-1, x.shape[-1]).t(), None, "none", [], "")
    if _edge_runs(ctx, 2):
        gb = rows.sum(0)
    return gx, gw, gb


def onednn_linear_function() -> type:
    """The ``torch.autograd.Function`` a routed layer computes with when gradients are needed: forward and backward
    products through oneDNN, each gradient only where the backward under way uses it (:func:`_edge_runs`)."""
    if "onednn_fn" not in _CLASSES:
        torch = _torch()

        def forward(x, weight, bias):
            return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")

        def setup_context(ctx, inputs, output):
            x, weight, _ = inputs
            # x is read back only for the weight's gradient; the weight for x's (or a double backward's)
            ctx.save_for_backward(x if ctx.needs_input_grad[1] else None, weight)

        _CLASSES["onednn_fn"] = type("OneDNNLinearFunction", (torch.autograd.Function,), {
            "__module__": __name__, "forward": staticmethod(forward), "setup_context": staticmethod(setup_context),
            "backward": staticmethod(_onednn_linear_backward)})
    return _CLASSES["onednn_fn"]


def onednn_linear_class() -> type:
    """A ``torch.nn.Linear`` whose float32 forward on a CPU goes to oneDNN's kernel, and its backward too.

    Same weights, parameter names, state dict and copies as the plain layer: only the kernel differs (float32
    products summed in another order, within float32 rounding).  Asked for gradients (Integrated Gradients,
    fine-tuning) it computes through :func:`onednn_linear_function`; traced (an ONNX export), compiled, under a caller's
    autocast, on another device or in another dtype, it is the plain layer."""
    if "onednn" not in _CLASSES:
        torch = _torch()

        def forward(self, x):
            if (x.dtype == torch.float32 and x.device.type == "cpu" and self.weight.dtype == torch.float32
                    and not torch.jit.is_tracing()  # an ONNX export traces the plain layer
                    and not torch.compiler.is_compiling()  # torch.compile lowers the plain layer (inductor packs it itself)
                    and not torch.is_autocast_enabled("cpu")):  # a caller's autocast casts the plain layer's inputs
                if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad
                                                or (self.bias is not None and self.bias.requires_grad)):
                    return onednn_linear_function().apply(x, self.weight, self.bias)
                return torch.ops.mkldnn._linear_pointwise(x, self.weight, self.bias, "none", [], "")
            return torch.nn.functional.linear(x, self.weight, self.bias)

        _CLASSES["onednn"] = type("OneDNNLinear", (torch.nn.Linear,), {"__module__": __name__, "forward": forward,
                                                                        "__qualname__": "OneDNNLinear"})
        globals()["OneDNNLinear"] = _CLASSES["onednn"]  # found by name where a model is pickled
    return _CLASSES["onednn"]


def float32_linear_route(vendor: str | None) -> str | None:
    """Why this CPU's float32 Linear layers go through oneDNN (recorded as the model's ``float32_math``), or ``None``
    where PyTorch's own BLAS is kept (an Intel CPU, another architecture, a PyTorch without oneDNN)."""
    if vendor not in ONEDNN_FLOAT32_VENDORS:
        return None
    torch = _torch()
    try:
        if not torch.backends.mkldnn.is_available():
            return None
        # fixed values, no random draw: loading a model must not move torch's global random state
        weight, bias = torch.linspace(-0.3, 0.3, 16 * 32).reshape(16, 32), torch.linspace(-0.1, 0.1, 16)
        x = torch.linspace(-1.0, 1.0, 2 * 3 * 32).reshape(2, 3, 32)
        with torch.no_grad():
            ok = torch.allclose(torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], ""),
                                torch.nn.functional.linear(x, weight, bias), atol=1e-5)
    except (RuntimeError, AttributeError) as exc:  # a PyTorch without the op
        logger.debug("oneDNN float32 Linear not available: %s", exc)
        return None
    if not ok:
        return None
    return (f"float32 Linear layers through oneDNN: on this {vendor} CPU PyTorch's BLAS (MKL sgemm) runs float32 at about "
            "half the speed (workbench.model.prepack)")


def route_float32_linears(model: Any) -> int:
    """Turn ``model``'s float32 ``torch.nn.Linear`` layers into :func:`onednn_linear_class` layers (in place, same
    parameters); returns how many."""
    torch = _torch()
    cls, n = onednn_linear_class(), 0
    for module in model.modules():
        if type(module) is torch.nn.Linear and module.weight.dtype == torch.float32:
            module.__class__ = cls
            n += 1
    return n
