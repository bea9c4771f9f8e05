"""Patches of FunASR internals, each a context manager that undoes itself.

The workbench runs FunASR's own emotion2vec network; these are the few places
where it changes how FunASR builds or runs it, kept here so that the model
module holds only the engine's model.

Building (:func:`skip_init`, :func:`replace_weights_loader`, :func:`quiet`):

* FunASR builds the network with random initialisation (``kaiming_uniform_``
  over 300 M parameters, ~3 s) only to overwrite every value from the
  checkpoint; :func:`skip_init` makes ``torch.nn.init`` a no-op while the
  network is built.
* FunASR's ``load_pretrained_model`` calls ``torch.load`` without
  ``weights_only`` (``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` turns that into a
  full unpickle that can run code), deep-copies the whole state dict and
  copies it again into the network; :func:`replace_weights_loader` hands that
  step to the workbench's own safe loader instead.

Running (:func:`masked_positional_encoder`, :func:`fused_attention`,
:func:`low_precision_front_end`):

* the convolutional positional encoder would see padded frames in a batch;
* FunASR's hand-written attention is replaced by the fused kernel on CUDA, and
  in bfloat16/float16 on a CPU;
* in bfloat16/float16, the conv front end's layer norms stop converting every
  activation to float32 and back, and on a CPU the front end runs channels-last.

Every patch applies to the thread that entered it only; other threads see
FunASR unchanged.

Importing (:func:`import_funasr`): only the FunASR modules emotion2vec needs, quietly, once.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import threading
from contextlib import contextmanager
from functools import partial, wraps
from pathlib import Path
from typing import Any, Callable, Iterator

from workbench import interrupts
from workbench.errors import ModelError

logger = logging.getLogger(__name__)

_AUTO_MODEL = "funasr.auto.auto_model"


# ---------------------------------------------------------------------------
# building
# ---------------------------------------------------------------------------
@contextmanager
def skip_init() -> Iterator[None]:
    """Make every ``torch.nn.init`` function a no-op in this thread while the block runs.

    Parameters keep the uninitialised memory ``torch.empty`` gave them; the
    caller must then set every one of them (see :func:`assign_weights`).
    """
    import torch.nn.init as init

    owner = threading.get_ident()
    names = [n for n in dir(init) if n.endswith("_") and not n.startswith("_") and callable(getattr(init, n))]
    saved = {n: getattr(init, n) for n in names}

    def noop(original):
        @wraps(original)
        def skipped(tensor, *args, **kwargs):
            if threading.get_ident() != owner:
                return original(tensor, *args, **kwargs)
            return tensor

        return skipped

    for n, fn in saved.items():
        setattr(init, n, noop(fn))
    try:
        yield
    finally:
        for n, fn in saved.items():
            setattr(init, n, fn)


@contextmanager
def replace_weights_loader(load: Callable[[Any, str], None]) -> Iterator[None]:
    """While the block runs, ``AutoModel`` calls ``load(network, path)`` instead of FunASR's ``load_pretrained_model``.

    ``load`` must set every parameter and buffer of the network.
    """
    module = sys.modules[_AUTO_MODEL]
    original = module.load_pretrained_model
    owner = threading.get_ident()

    @wraps(original)
    def patched(*args, **kwargs):
        if threading.get_ident() != owner:
            return original(*args, **kwargs)
        model = kwargs.pop("model", None) if "model" in kwargs else args[1]
        path = kwargs.pop("path", None) if "path" in kwargs else args[0]
        load(model, path)
        on_loaded = getattr(model, "on_pretrained_model_loaded", None)
        if callable(on_loaded):
            on_loaded(frozenset(model.state_dict()))

    module.load_pretrained_model = patched
    try:
        yield
    finally:
        module.load_pretrained_model = original


def assign_weights(network: Any, state: dict) -> None:
    """Put ``state``'s tensors into ``network`` without copying them (``load_state_dict(assign=True)``).

    Every key of the network must be in ``state`` or start with one of the
    optional prefixes (checked before by
    :func:`workbench.model.checkpoints.check_weights_fit`); those the checkpoint
    lacks (the pre-training decoder, unused in inference) are set to zeros,
    so no value is left uninitialised.  A tensor of another floating dtype is
    converted to the network's dtype, as ``load_state_dict`` would copy it.
    """
    import torch

    new = {}
    for key, own in network.state_dict().items():
        value = state.get(key)
        if value is None:
            value = torch.zeros_like(own)
        elif value.dtype != own.dtype:
            value = value.to(own.dtype)
        new[key] = value
    network.load_state_dict(new, strict=True, assign=True)


@contextmanager
def quiet() -> Iterator[None]:
    """FunASR prints to stdout and logs through the root logger: keep both off the user's screen."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(max(level, logging.ERROR))
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


# ---------------------------------------------------------------------------
# running: padding-exact positional encoder
# ---------------------------------------------------------------------------
class MaskedPositionalEncoder:
    """Runs FunASR's conv positional encoder with padded frames zeroed before each conv.

    A clip alone sees zeros beyond its last frame at every conv layer; in a
    padded batch the frames beyond it hold features of the padding.  Zeroing
    them before each conv reproduces the single-clip computation exactly.
    """

    def __init__(self, original, frames: list[int]):
        self.original = original
        self.frames = frames
        #: the encoder's blocks while :func:`low_precision_front_end` runs it time-major (on a CPU), else ``None``
        self.time_major_blocks: list | None = None

    def __call__(self, x):
        import torch

        T = x.shape[1]
        valid = (torch.arange(T, device=x.device)[None, :] < torch.tensor(self.frames, device=x.device)[:, None]).to(x.dtype)
        if self.time_major_blocks and x.device.type == "cpu":
            return time_major_positional_encoder(self.time_major_blocks, x, valid=valid)
        return run_masked(self.original, x, valid)


def run_masked(module, x, valid):
    import torch.nn as nn

    if isinstance(module, nn.Sequential):
        if len(module) and isinstance(module[0], nn.Conv1d):
            # inside the encoder the tensor is (B, C, T) when it reaches a conv
            return module(x * valid[:, None, :])
        for child in module:
            x = run_masked(child, x, valid)
        return x
    return module(x)


@contextmanager
def masked_positional_encoder(net: Any, frames: list[int]) -> Iterator[None]:
    """Run ``net``'s positional encoder with each clip's padded frames zeroed (no-op for equal lengths)."""
    enc = net.modality_encoders["AUDIO"]
    original = enc.relative_positional_encoder
    if original is None or len(set(frames)) == 1:
        yield
        return
    masked = MaskedPositionalEncoder(original, frames)
    # nn.Module.__setattr__ refuses a non-Module for a registered submodule
    enc._modules["relative_positional_encoder"] = None
    object.__setattr__(enc, "relative_positional_encoder", masked)
    try:
        yield
    finally:
        object.__delattr__(enc, "relative_positional_encoder")
        enc._modules["relative_positional_encoder"] = original


# ---------------------------------------------------------------------------
# running: fused attention
# ---------------------------------------------------------------------------
class FusedAttention:
    """FunASR's ``AltAttention`` through ``F.scaled_dot_product_attention``.

    FunASR computes attention by hand: the (B, H, T, T) scores are cast to
    fp32, the ALiBi bias added, padded keys filled with -inf and a softmax
    taken, in every layer.  On a GPU those elementwise passes cost more than
    the matrix products.  Here ALiBi bias and padding become one additive mask,
    built once per forward and shared by every layer, and the fused kernel
    does the rest.  Used on CUDA and in bfloat16/float16 on a CPU (where FunASR's
    float32 casts of the scores were the larger share of the attention's time);
    float32 and int8 on a CPU keep FunASR's own attention, the exact path.
    """

    def __init__(self):
        self._mask_key = None
        self._mask = None

    def mask(self, alibi_bias, padding_mask, n_heads: int, n: int, dtype, device):
        import torch

        key = (id(alibi_bias), id(padding_mask), dtype)
        if key == self._mask_key:
            return self._mask
        mask = None
        if alibi_bias is not None:
            b = alibi_bias.shape[0]
            mask = torch.zeros(b, n_heads, n, n, dtype=dtype, device=device)
            mask[:, : alibi_bias.size(1)] = alibi_bias.to(dtype)
        if padding_mask is not None and padding_mask.any():
            pad = padding_mask.to(torch.bool)[:, None, None, :]
            if mask is None:
                mask = torch.zeros(pad.shape[0], n_heads, n, n, dtype=dtype, device=device)
            mask = mask.masked_fill(pad, float("-inf"))
        # keep the keys' tensors alive so their ids stay unique for this forward
        self._mask_key, self._mask, self._refs = key, mask, (alibi_bias, padding_mask)
        return mask

    def forward(self, attn, x, padding_mask=None, alibi_bias=None):
        import torch.nn.functional as F

        B, N, C = x.shape
        H = attn.num_heads
        qkv = attn.qkv(x).reshape(B, N, 3, H, C // H).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        mask = self.mask(alibi_bias, padding_mask, H, N, q.dtype, q.device)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=0.0, scale=attn.scale)
        return attn.proj(out.transpose(1, 2).reshape(B, N, C))


@contextmanager
def fused_attention(net: Any, enabled: bool) -> Iterator[None]:
    """Run ``net``'s attention layers through :class:`FusedAttention` while the block runs (if ``enabled``)."""
    if not enabled:
        yield
        return
    fused = FusedAttention()
    with _forwards_replaced((m for m in net.modules()
                             if type(m).__name__ == "AltAttention" and not getattr(m, "cosine_attention", False)), fused.forward):
        yield


@contextmanager
def _forwards_replaced(modules, forward) -> Iterator[None]:
    """Give each module ``forward(module, x, …)`` as its forward while the block runs, then its class's own again."""
    patched = []
    for module in modules:
        module.forward = partial(forward, module)
        patched.append(module)
    try:
        yield
    finally:
        for module in patched:
            del module.forward


# ---------------------------------------------------------------------------
# running: the conv front end in low precision
# ---------------------------------------------------------------------------
def _layer_norm_in_input_dtype(norm, x):
    """FunASR's ``Fp32LayerNorm`` without the float32 copies, for bfloat16/float16 input.

    ``Fp32LayerNorm`` converts its input to float32, normalises and converts
    back: in the conv front end, where activations are largest (512 channels
    at 3200 frames/s after the first conv), that is three passes over float32
    copies per layer.  ``F.layer_norm`` on low-precision input with float32
    weights accumulates in float32 itself and writes low-precision output
    once; only the rounding of intermediate sums may differ.  Autocast is off
    for the call, since on CUDA it would convert the input to float32 again.
    """
    import torch
    import torch.nn.functional as F

    if x.dtype not in (torch.bfloat16, torch.float16) or x.device.type != "cpu":
        # CUDA's layer_norm refuses bfloat16 input with float32 weights ("expected scalar type BFloat16 but found
        # Float", seen on an H200 with torch 2.11): there FunASR's own float32 path runs
        return type(norm).forward(norm, x)
    with torch.autocast(device_type=x.device.type, enabled=False):
        return F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps)


def _layer_norm_blocks(encoder: Any) -> list[tuple[Any, Any, Any]] | None:
    """``(conv, norm, activation)`` of each block of FunASR's conv front end in ``layer_norm`` mode, or ``None`` when
    a block is built otherwise (group norm, padding, groups, dropout in training): then FunASR's own forward runs."""
    import torch.nn as nn

    blocks = []
    for block in getattr(encoder, "conv_layers", None) or [None]:
        parts = list(block) if isinstance(block, nn.Sequential) else []
        inner = list(parts[2]) if len(parts) == 4 and isinstance(parts[2], nn.Sequential) else []
        if not (len(inner) == 3 and isinstance(parts[0], nn.Conv1d) and isinstance(parts[1], nn.Dropout)
                and isinstance(inner[1], nn.LayerNorm) and isinstance(parts[3], nn.GELU)
                and all(type(t).__name__ == "TransposeLast" and t.deconstruct_idx is None for t in (inner[0], inner[2]))):
            return None
        conv = parts[0]
        if conv.padding != (0,) or conv.dilation != (1,) or conv.groups != 1 or (parts[1].training and parts[1].p > 0):
            return None
        blocks.append((conv, inner[1], parts[3]))
    return blocks


def channels_last_front_end(blocks: list[tuple[Any, Any, Any]], wave):
    """FunASR's conv front end on ``wave`` (B, T) with the activations kept time-major, on a CPU (any precision).

    FunASR keeps (B, C, T) between the convs and transposes to (B, T, C) and back around every layer norm: with
    oneDNN's convolutions, which work in channels-last, each 512-channel layer made four full copies (layout
    reorders and the transposes), 1.3 s of the 8.4 s of 8 clips of the large model in bfloat16 (2 cores, torch
    profiler).  Here the activations stay (B, T, C): the layer norm over C and the GELU run on them without a
    transpose.  A conv whose windows do not overlap (kernel = stride) or that reads one channel (the first, on the
    wave) is a matrix product over its strided windows (the first conv: 29 ms against 290 ms for 3 × 5.7 s, the
    same values); the others run as a 1-row Conv2d on a channels-last view.  The same convolutions, norms (in the
    input's dtype, as :func:`_layer_norm_in_input_dtype`) and activations; returns the (B, C, T) view FunASR returns.
    """
    import torch
    import torch.nn.functional as F

    h = wave.contiguous()[:, :, None]  # (B, T, C=1)
    for conv, norm, act in blocks:
        k, s = conv.kernel_size[0], conv.stride[0]
        B, T, C = h.shape
        if C == 1 or k == s:
            n = (T - k) // s + 1
            windows = h.as_strided((B, n, k * C), (h.stride(0), s * C, 1), h.storage_offset())  # h is contiguous
            y = F.linear(windows, conv.weight.permute(0, 2, 1).reshape(conv.out_channels, k * C), conv.bias)
        else:
            y = F.conv2d(h.permute(0, 2, 1)[:, :, None, :], conv.weight.unsqueeze(2), conv.bias, stride=(1, s))
            y = y.contiguous(memory_format=torch.channels_last)[:, :, 0, :].permute(0, 2, 1)  # (B, T', C): no copy
        with torch.autocast(device_type=y.device.type, enabled=False):
            y = F.layer_norm(y, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
        h = act(y).contiguous()
    return h.transpose(1, 2)


def matmul_front_end(blocks: list[tuple[Any, Any, Any]], wave):
    """FunASR's conv front end on ``wave`` (B, T) time-major with every convolution a matrix product, for the ONNX
    export (traceable: no ``as_strided``, lengths from the input's shape).

    Each conv's windows are ``k`` strided slices of the (B, T, C) activations side by side, times the kernel as a
    (k·C, C') matrix.  In the graph they are MatMuls, which ONNX Runtime's dynamic int8 quantisation takes (it leaves
    a Conv in float32), and the layer norms run over the last axis with no transposes around them.  Large model, 24
    clips, one process: the front end was a quarter of the int8 graph's time (float32 Convs and FunASR's transposes).
    Returns the (B, C, T) view FunASR returns."""
    import torch
    import torch.nn.functional as F

    h = wave[:, :, None]  # (B, T, C=1)
    for conv, norm, act in blocks:
        k, s = conv.kernel_size[0], conv.stride[0]
        n = (h.shape[1] - k) // s + 1  # FunASR's output length; traced from the input's shape
        windows = torch.cat([h[:, j: j + s * n: s] for j in range(k)], dim=-1) if k > 1 else h[:, : s * n: s]
        y = F.linear(windows, conv.weight.permute(0, 2, 1).reshape(conv.out_channels, -1), conv.bias)
        h = act(F.layer_norm(y, norm.normalized_shape, norm.weight, norm.bias, norm.eps))
    return h.transpose(1, 2)


@contextmanager
def exportable_front_end(net: Any) -> Iterator[None]:
    """Trace ``net``'s conv front end as :func:`matmul_front_end` while the block runs (FunASR's own where its blocks
    are built otherwise)."""
    encoder = net.modality_encoders["AUDIO"].local_encoder
    blocks = _layer_norm_blocks(encoder)
    with _forwards_replaced([encoder] if blocks else [], lambda _module, wave: matmul_front_end(blocks, wave)):
        yield


def _positional_blocks(encoder: Any) -> list[tuple[Any, Any, Any]] | None:
    """``(conv, norm, activation)`` of each block of FunASR's relative positional encoder (a grouped conv, then a
    layer norm over channels between two transposes, then GELU), or ``None`` when it is built otherwise: then
    FunASR's own forward runs."""
    import torch.nn as nn

    parts = list(encoder) if isinstance(encoder, nn.Sequential) else []
    ends = parts[:1] + parts[-1:]
    if len(parts) < 3 or not all(type(t).__name__ == "TransposeLast" and t.deconstruct_idx is None for t in ends):
        return None
    blocks = []
    for block in parts[1:-1]:
        inner = list(block) if isinstance(block, nn.Sequential) else []
        if not (len(inner) == 6 and isinstance(inner[0], nn.Conv1d) and type(inner[1]).__name__ == "SamePad"
                and getattr(inner[1], "remove", None) == 0 and isinstance(inner[3], nn.LayerNorm) and isinstance(inner[5], nn.GELU)
                and all(type(t).__name__ == "TransposeLast" and t.deconstruct_idx is None for t in (inner[2], inner[4]))):
            return None
        conv = inner[0]
        if (conv.stride != (1,) or conv.dilation != (1,) or conv.padding_mode != "zeros" or not isinstance(conv.padding, tuple)
                or 2 * conv.padding[0] != conv.kernel_size[0] - 1):  # "same" length, as SamePad with nothing to remove
            return None
        blocks.append((conv, inner[3], inner[5]))
    return blocks


def time_major_positional_encoder(blocks: list[tuple[Any, Any, Any]], x, *, valid=None):
    """FunASR's relative positional encoder on ``x`` (B, T, C) with the activations kept time-major, on a CPU.

    FunASR transposes to (B, C, T) for each grouped conv and back around each layer norm.  Here each conv runs as a
    1-row grouped Conv2d on a channels-last view of the (B, T, C) activations and writes (B, T, C) memory, so the
    norm over C and the GELU (the modules themselves, under the caller's autocast) need no transpose.  The grouped
    conv alone, kernel 19, 16 groups, 250 frames: tiny 12 clips 1.62 -> 0.44 ms; large float32 8 clips
    40 -> 27 ms, bfloat16 9.3 -> 5.4 ms.  ``valid`` (B, T): each clip's frames in a padded batch, the padding zeroed
    before every conv as :class:`MaskedPositionalEncoder` does.  Returns (B, T, C), as FunASR's."""
    import torch
    import torch.nn.functional as F

    h = x.contiguous()
    for conv, norm, act in blocks:
        if valid is not None:
            h = h * valid[:, :, None]
        y = F.conv2d(h.permute(0, 2, 1)[:, :, None, :], conv.weight.unsqueeze(2), conv.bias, padding=(0, conv.padding[0]),
                     groups=conv.groups)
        y = y.contiguous(memory_format=torch.channels_last)[:, :, 0, :].permute(0, 2, 1)  # (B, T, C): no copy
        h = act(norm(y))
    return h


def _positional_forward(encoder: Any, x, *, blocks):
    if x.device.type == "cpu":
        return time_major_positional_encoder(blocks, x)
    return type(encoder).forward(encoder, x)


def _front_end_forward(encoder: Any, wave, *, blocks):
    if wave.device.type == "cpu":
        return channels_last_front_end(blocks, wave)
    return type(encoder).forward(encoder, wave)


@contextmanager
def low_precision_front_end(net: Any, enabled: bool) -> Iterator[None]:
    """Run ``net``'s conv front end in the input's dtype while the block runs (if ``enabled``): its layer norms without
    float32 copies in bfloat16/float16 and, on a CPU in every precision, the whole front end and the relative
    positional encoder time-major (:func:`channels_last_front_end`, :func:`time_major_positional_encoder`;
    :attr:`Emotion2vecModel.time_major_front_end` says when it is enabled)."""
    if not enabled:
        yield
        return
    audio = net.modality_encoders["AUDIO"]
    encoder = audio.local_encoder
    norms = (m for m in encoder.modules() if type(m).__name__ == "Fp32LayerNorm")
    blocks = _layer_norm_blocks(encoder)
    positional = getattr(audio, "relative_positional_encoder", None)
    masked = positional if isinstance(positional, MaskedPositionalEncoder) else None  # a padded batch's (predict)
    pos_blocks = _positional_blocks(masked.original if masked is not None else positional) if positional is not None else None
    plain = [positional] if pos_blocks and masked is None else []
    if masked is not None:
        masked.time_major_blocks = pos_blocks
    try:
        with (_forwards_replaced(norms, _layer_norm_in_input_dtype),
              _forwards_replaced([encoder] if blocks else [], partial(_front_end_forward, blocks=blocks)),
              _forwards_replaced(plain, partial(_positional_forward, blocks=pos_blocks))):
            yield
    finally:
        if masked is not None:
            masked.time_major_blocks = None


# ---------------------------------------------------------------------------
# importing: FunASR, once and only as far as emotion2vec needs it
# ---------------------------------------------------------------------------
_FUNASR_LOCK = threading.Lock()
#: the FunASR modules emotion2vec needs: AutoModel, the Emotion2vec network and the CharTokenizer
#: FunASR modules AutoModel imports only for what emotion2vec never does (speaker diarization)
_FUNASR_UNUSED = ("funasr.models.campplus.cluster_backend",)
_FUNASR_MODULES = ("funasr.utils.version_checker", "funasr.auto.auto_model", "funasr.models.emotion2vec.model", "funasr.tokenizer.char_tokenizer")


def slow_load() -> bool:
    """``WORKBENCH_SLOW_LOAD=1``: load as before the fast path (benchmarks/startup.py compares both)."""
    return os.environ.get("WORKBENCH_SLOW_LOAD", "").lower() in ("1", "true", "yes")


def import_funasr():
    """Import what emotion2vec needs from FunASR, quietly, or raise a :class:`ModelError` with the fix.

    ``import funasr`` imports every model FunASR has (about 4 s, most of it
    spent reading the source of each registered class).  Unless FunASR is
    imported already, only the modules emotion2vec needs are imported, under a
    stand-in for the ``funasr`` package that is removed again afterwards, so
    a later ``import funasr`` elsewhere runs FunASR's own ``__init__`` and
    registers everything as usual.  Returns a module with ``AutoModel`` and
    ``__version__``.
    """
    # deferred: FunASR's bare `except:` clauses would otherwise swallow a Ctrl-C during its imports, or leave a
    # half-imported module behind; the Ctrl-C is raised once the imports are done
    with _FUNASR_LOCK, interrupts.deferred(), contextlib.redirect_stdout(io.StringIO()):  # FunASR prints its version
        try:
            if "funasr" in sys.modules or slow_load():
                import funasr

                for name in _FUNASR_MODULES:
                    __import__(name)
                return funasr
            return _import_funasr_light()
        except ImportError as exc:
            raise ModelError(
                f"funasr is not installed or broken ({exc}).",
                fix="install the workbench with its dependencies: `make test` or `pip install -e .` (funasr==1.4.16).",
            ) from None


def _import_funasr_light():
    import importlib
    import importlib.util
    import types

    spec = importlib.util.find_spec("funasr")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("No module named 'funasr'")
    package = types.ModuleType("funasr")
    package.__path__ = list(spec.submodule_search_locations)
    package.__spec__ = spec
    package.__file__ = spec.origin
    package.__version__ = (Path(spec.origin).parent / "version.txt").read_text(encoding="utf-8").strip()
    before = set(sys.modules)
    sys.modules["funasr"] = package
    # AutoModel imports FunASR's speaker clustering inside a bare `try/except` (sklearn and scipy: about 1 s);
    # emotion2vec never clusters speakers, so that import is made to fail here and AutoModel goes on without it
    blocked = [m for m in _FUNASR_UNUSED if m not in sys.modules]
    sys.modules.update(dict.fromkeys(blocked))
    try:
        for name in _FUNASR_MODULES:
            importlib.import_module(name)
        package.AutoModel = sys.modules["funasr.auto.auto_model"].AutoModel
    except Exception:
        # leave no half-imported FunASR behind; fall back to the full import
        for name in set(sys.modules) - before:
            if name == "funasr" or name.startswith("funasr."):
                del sys.modules[name]
        logger.debug("partial FunASR import failed; importing all of FunASR", exc_info=True)
        import funasr

        for name in _FUNASR_MODULES:
            importlib.import_module(name)
        return funasr
    finally:
        for m in blocked:
            if m in sys.modules and sys.modules[m] is None:
                del sys.modules[m]  # a later import of them works as usual
        if sys.modules.get("funasr") is package:
            del sys.modules["funasr"]  # a later `import funasr` runs FunASR's own __init__
    return package
