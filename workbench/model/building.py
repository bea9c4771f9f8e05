"""Building an emotion2vec+ network through ``funasr.AutoModel``, and describing a checkpoint without building it.

Two steps of FunASR's building are replaced (:mod:`workbench.model.funasr_patches`): the network is built
without random initialisation, and the weights are read with ``weights_only=True`` (or from
``model.safetensors``) and put into the network without copies.  The result is bitwise the network FunASR's
own loading gives (tested); a pickle that holds more than tensors is refused.  Every checkpoint folder passes
:func:`~workbench.model.checkpoint_safety.check_checkpoint` before FunASR sees it.

:func:`build` returns the parts a loaded model is made of (the FunASR object, its provenance record, the label
order); :class:`~workbench.model.network.Emotion2vecModel` wraps them.  :func:`describe_checkpoint` gives the same
provenance record from the files alone (what a Ray driver records).
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import sys
import time
import unicodedata
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from workbench import files, interrupts
from workbench.errors import CONTROL_CHARACTERS, ConfigError, ModelError, WorkbenchError, printable
from workbench.labels import LABEL_KEYS, RANDOM_WEIGHTS_BANNER, key_from_token
from workbench.serialize import load_yaml_file, shown, size_text
from workbench.model.checkpoints import _Resolved, resolve_model
from workbench.model.checkpoint_safety import check_checkpoint
from workbench.model.funasr_patches import assign_weights, import_funasr, quiet, replace_weights_loader, skip_init, slow_load
from workbench.model.generated import checkpoint_warning, generated_checksum, random_checkpoint_info, read_training_card, remake_command
from workbench.model.hub import cached_hub_checkpoint, require_hub
from workbench.model.memory import keep_freed_memory, release_freed_memory
from workbench.model.prepack import float32_linear_route, prepack_linears, route_float32_linears
from workbench.model.precision import cpu_vendor
from workbench.model.weights import check_weights_fit, checkpoint_identity, file_sha256, identity_files, load_weights, short_error, weights_file

#: the precisions the PyTorch network loads in
TORCH_DTYPES = ("float32", "bfloat16", "float16", "int8")
#: passed to ``funasr.AutoModel`` on every load: FunASR merges a checkpoint's config *under* these, so even a
#: hub download that :func:`check_checkpoint` has not seen yet cannot switch remote code or extra models on
NEUTRAL_LOADER_SETTINGS = dict(trust_remote_code=False, remote_code=None, vad_model=None, punc_model=None, spk_model=None,
                               frontend=None)
#: FunASR's CharTokenizer refuses a token list without it
UNK_TOKEN = "<unk>"


@dataclass
class _ModelInfo:
    """Provenance of a loaded model, stored with every result (``net.info``; private: ``ModelRef`` is the model type)."""

    id: str
    kind: str
    hub: str | None
    revision: str | None
    path: str | None
    checksum: str | None  # sha256 of model.pt
    parameters: int | None  # None: not counted (a checkpoint described without building it)
    embed_dim: int | None
    device: str
    dtype: str
    labels: list[str]
    random_weights: bool
    load_seconds: float
    funasr_version: str | None = None
    warning: str | None = None
    temperature: float | None = None  # scores are softmax(logits / temperature); None: as the checkpoint gives them
    float32_math: str | None = None  # float32 on CUDA: how its matmuls and convolutions run (:func:`exact_float32`)
    remake: str | None = None  # a seeded random checkpoint: the command that writes it again (its seed and architecture)
    #: what the caches of its outputs are keyed by: sha256 over the weights' sha256, config.yaml, tokens.txt and a
    #: head's card (:func:`~workbench.model.weights.checkpoint_identity`); ``checksum`` stays the weights' own
    identity: str | None = None
    #: the sha256 of each file the identity covers (``"absent"`` where the folder has none): a later mismatch names the
    #: file that differs, for a hub id as for a folder (a run of before it recorded none: it can only say one differs)
    identity_files: dict[str, str] | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def check_dtype(dtype: str) -> None:
    """Refuse a precision the PyTorch network does not load in."""
    if dtype not in TORCH_DTYPES:
        raise ConfigError(f"dtype must be float32, bfloat16, float16 or int8, given {dtype!r}.",
                          fix="pass dtype='float32' (exact), 'bfloat16' on a GPU, or 'int8' for the fast CPU mode.")


# ---------------------------------------------------------------------------
# building
# ---------------------------------------------------------------------------
def build(spec: _Resolved, device: str, dtype: str, say: Callable[[str], None]) -> tuple[Any, _ModelInfo, list[int], np.ndarray]:
    """Build the network ``spec`` names on ``device`` in ``dtype``.

    Returns ``(automodel, info, label_index, valid_tokens)``: the FunASR object, its provenance, the checkpoint
    output of each of ``info.labels``, and the mask of used outputs.
    """
    say("importing FunASR")
    with interrupts.deferred():  # see network.auto_device
        import torch

    keep_freed_memory()  # the process's allocator policy, when the caller did not set it (see workbench.model.memory)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} asked for, but CUDA is not available.", fix="pass --device cpu or --device auto.")
    t0 = time.perf_counter()
    funasr = import_funasr()
    kwargs, weights = _loader_settings(spec, device, torch.get_num_threads())
    # the fast path: the network is built without random initialisation and the workbench's own
    # safe loader puts the weights in (no copies); WORKBENCH_SLOW_LOAD=1 keeps FunASR's own
    # loading for benchmarks/startup.py, after the same safe read and check
    fast = not (slow_load() and weights is not None and weights.suffix == ".pt")
    automodel, source = _auto_model(funasr, kwargs, spec, weights, fast, say)
    model_dir = automodel.kwargs.get("model_path") or str(source.parent)
    say("verifying checksum")
    checksum = file_sha256(source, remember=fast)
    _set_precision(automodel, spec, device, dtype)
    float32_math = exact_float32(device, dtype)
    tokens = list(automodel.kwargs.get("token_list") or getattr(automodel.kwargs.get("tokenizer"), "token_list", []) or [])
    labels, label_index, valid = _label_mapping(tokens, spec.model)
    net = automodel.model
    parameters = int(sum(p.numel() for p in net.parameters()))
    if dtype == "bfloat16" and device.startswith("cpu"):
        if prepack_linears(net):  # each Linear's weight laid out for oneDNN once (workbench.model.prepack)
            release_freed_memory()  # the plain weights' pages (large: 600 MB), else kept by the allocator policy
    elif dtype == "float32" and device.startswith("cpu"):
        float32_math = float32_linear_route(cpu_vendor())  # None: PyTorch's own BLAS (an Intel CPU)
        if float32_math and not route_float32_linears(net):
            float32_math = None
    info = _ModelInfo(
        id="", kind=spec.kind, hub=spec.hub if spec.kind == "hub" else None,
        revision=spec.revision or automodel.kwargs.get("model_revision"), path=model_dir, checksum=checksum,
        parameters=parameters, embed_dim=int(net.cfg.get("embed_dim")),
        device=device, dtype=dtype, labels=labels, random_weights=False, load_seconds=time.perf_counter() - t0,
        funasr_version=getattr(funasr, "__version__", None), float32_math=float32_math)
    return automodel, _with_generated_facts(info, spec, model_dir), label_index, valid


def _loader_settings(spec: _Resolved, device: str, threads: int) -> tuple[dict[str, Any], Path | None]:
    """``funasr.AutoModel``'s keyword arguments for ``spec``, and the weights file when it is on this machine."""
    kwargs: dict[str, Any] = dict(model=spec.model, device=device, disable_update=True, disable_pbar=True, log_level="ERROR",
                                  ncpu=threads, **NEUTRAL_LOADER_SETTINGS)
    weights: Path | None = None
    if spec.kind == "hub":
        cached = cached_hub_checkpoint(spec.model, spec.hub) if not spec.revision else None
        if cached is not None:
            kwargs["model"] = str(cached)  # a complete local download: no network needed
            weights = weights_file(cached)
        else:
            require_hub(spec.model, spec.hub)
            kwargs.update(hub=spec.hub, check_latest=False)
            if spec.revision:
                kwargs["model_revision"] = spec.revision
    else:
        weights = weights_file(spec.model)
    if weights is not None:
        check_checkpoint(Path(kwargs["model"]))  # nothing a folder asks for runs, installs or fetches
        if os.path.lexists(Path(kwargs["model"]) / "tokens.txt"):  # FunASR reads it unchecked: a FIFO there hung the load
            checkpoint_tokens(kwargs["model"])
        kwargs["init_param"] = str(weights)  # model.safetensors when the checkpoint has one
    return kwargs, weights


def _auto_model(funasr: Any, kwargs: dict, spec: _Resolved, weights: Path | None, fast: bool,
                say: Callable[[str], None]) -> tuple[Any, Path]:
    """``funasr.AutoModel(**kwargs)`` with the weights put in safely; returns it and the weights file read."""
    loaded: dict[str, Any] = {}
    screen = sys.stdout  # FunASR's stdout is muted while it builds; a progress hook may print

    def install(network: Any, path: str) -> None:
        candidate = weights_file(Path(path).parent) or Path(path)
        with contextlib.redirect_stdout(screen):
            say(f"loading weights ({_size(candidate)})")
        state, source = load_weights(path)
        check_weights_fit(network.state_dict(), state, spec.model)
        assign_weights(network, state)
        loaded["file"] = source

    if not fast:
        say(f"loading weights ({_size(weights)})")
        loaded["state"], loaded["file"] = load_weights(weights)
    say("building network")
    try:
        # guard: AutoModel's update check sits in a bare `except:` that would swallow a Ctrl-C
        with interrupts.guard(), quiet(), (_fast_build(install) if fast else contextlib.nullcontext()):
            automodel = funasr.AutoModel(**kwargs)
    except WorkbenchError:
        raise
    except Exception as exc:
        raise _load_error(exc, spec) from exc
    net = automodel.model
    if type(net).__name__ != "Emotion2vec":
        raise ModelError(f"checkpoint builds a {type(net).__name__}, not an Emotion2vec model.", source=spec.model,
                         fix="pass an emotion2vec+ checkpoint such as iic/emotion2vec_plus_large.")
    if "file" not in loaded:  # FunASR found no weights file and kept the network as built
        raise ModelError("checkpoint has no weights file (model.pt); FunASR would run with random weights.", source=spec.model,
                         fix="download the complete checkpoint.")
    if "state" in loaded:
        check_weights_fit(net.state_dict(), loaded.pop("state"), spec.model)
    return automodel, Path(loaded["file"])


def _load_error(exc: BaseException, spec: _Resolved) -> ModelError:
    if spec.kind == "hub":
        return ModelError(
            f"could not load {spec.model!r} from the {'ModelScope' if spec.hub == 'ms' else 'Hugging Face'} hub: {short_error(exc)}.",
            source=spec.requested,
            fix="without network access, download the checkpoint elsewhere and pass its directory to --model, "
            "or use --model tiny for an offline test (random weights).",
        )
    return ModelError(f"FunASR could not load the checkpoint: {short_error(exc)}.", source=spec.model,
                      fix="check that the directory holds a complete emotion2vec checkpoint.")


def _set_precision(automodel: Any, spec: _Resolved, device: str, dtype: str) -> None:
    """int8: Linear weights quantised (CPU only); bfloat16 on a CPU: weights converted once."""
    import torch

    if dtype == "int8":
        if not device.startswith("cpu"):
            raise ModelError("int8 dynamic quantisation runs on the CPU only.", source=spec.model, fix="use dtype='bfloat16' on a GPU.")
        # fast CPU mode: Linear weights in int8, activations quantised per batch on the fly
        automodel.model = torch.ao.quantization.quantize_dynamic(automodel.model, {torch.nn.Linear}, dtype=torch.qint8)
    if dtype == "bfloat16" and device.startswith("cpu"):
        # weights converted once (autocast alone re-casts every weight on every call: 1.14x float32
        # against 1.71x converted, large architecture, benchmarks/README.md); autocast still casts the input
        automodel.model.to(torch.bfloat16)


#: what :func:`exact_float32` records in a CUDA float32 model's info (and so in a run's summary)
EXACT_FLOAT32 = "ieee: TF32 off for matmuls and cuDNN (torch.backends.cuda.matmul.allow_tf32 and cudnn.allow_tf32 False)"


def exact_float32(device: str, dtype: str) -> str | None:
    """Keep ``--dtype float32`` exact on a CUDA device: TF32 (10 bits of mantissa) turned off for float32 matmuls and
    cuDNN convolutions and RNNs, which PyTorch runs in TF32 on Ampere and later when allowed (cuDNN convolutions are by
    default: the feature extractor's), so the scores are float32's, as the CPU's and the shared ``float32`` cache key
    (:func:`workbench.model.fastpath.cache_precision`) say.  Returns :data:`EXACT_FLOAT32`, recorded in the model's
    info; ``None`` elsewhere (the CPU has no TF32; bfloat16/float16 are their own precisions).  The switches are the
    process's: other float32 work in it runs without TF32 too."""
    if dtype != "float32" or not str(device).startswith("cuda"):
        return None
    import torch

    # the legacy switches, not torch 2.9's fp32_precision: setting that one makes every later read of the legacy
    # switches (a library's, the user's) raise "mix of the legacy and new APIs"; these set it too (matmul "ieee")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False  # convolutions and RNNs
    return EXACT_FLOAT32


#: what ONNX Runtime's CUDA provider is told for a float32 graph, and what the model's info records
ORT_EXACT_FLOAT32 = "ieee: TF32 off in ONNX Runtime's CUDA provider (use_tf32 0)"


def onnx_providers(device: str, dtype: str, available: Sequence[str]) -> tuple[list, str | None]:
    """ONNX Runtime's providers for ``device`` (``cpu``, ``cuda`` or ``cuda:N``) and a graph of ``dtype``, and what
    float32 math on CUDA is (:data:`ORT_EXACT_FLOAT32`, for the model's info, as :func:`exact_float32` for torch).

    The CUDA provider runs float32 MatMul and Conv in TF32 on Ampere and later unless told ``use_tf32: 0``: a float32
    graph on the GPU would then differ from the CPU's by TF32's 10-bit mantissa while calling itself float32.
    An int8 graph's quantised products are integer; its float parts follow the provider's default."""
    if str(device).startswith("cuda"):
        if "CUDAExecutionProvider" not in available:
            raise ConfigError(f"ONNX Runtime here has no CUDA provider (it has {', '.join(available)}).", source="--device",
                              fix="install onnxruntime-gpu, or pass --device cpu.")
        options: dict = {"device_id": int(str(device).partition(":")[2] or "0")}
        if dtype == "float32":
            options["use_tf32"] = "0"
        return [("CUDAExecutionProvider", options), "CPUExecutionProvider"], (ORT_EXACT_FLOAT32 if dtype == "float32" else None)
    if device == "cpu":
        return ["CPUExecutionProvider"], None
    raise ConfigError(f"unknown device {device!r} for the onnxruntime backend.", source="--device", fix="pass cpu, cuda or auto.")


def _with_generated_facts(info: _ModelInfo, spec: _Resolved, model_dir: str | None) -> _ModelInfo:
    """``info`` with its id, the random-weights flag and the warning a generated or fine-tuned checkpoint carries.

    The banner comes from the weights' checksum (generated by the package) as well as from the marker: an edited
    marker adds, never removes.
    """
    random_info = random_checkpoint_info(model_dir) if model_dir else None
    generated = generated_checksum(info.checksum)
    if random_info is None and generated is not None and generated.get("kind") == "random":
        random_info = {"arch": {"name": str(generated.get("name") or "random")}}
    if spec.kind == "hub":
        info.id = spec.model
    elif random_info is not None:
        info.id = f"random-{random_info['arch']['name']}"
    else:
        info.id = spec.requested if spec.kind == "trained" else spec.model
    info.warning = (RANDOM_WEIGHTS_BANNER if random_info is not None
                    else (checkpoint_warning(model_dir) if model_dir else None) or (generated or {}).get("warning"))
    # a head fine-tuned on a random parent is as meaningless as its parent (the card can add the flag, never remove it)
    card = _card_of_these_weights(model_dir, info.checksum) if model_dir else None
    card_parent = (card or {}).get("parent") or {}
    info.random_weights = random_info is not None or bool(card_parent.get("random_weights"))
    # a reader of the run without its checkpoint folder makes the same weights again (the recorded sha256 checks them)
    info.remake = remake_command(random_info)
    info.identity_files = identity_files(model_dir) if info.checksum else None
    info.identity = checkpoint_identity(model_dir, info.checksum, info.identity_files)
    return info


def _card_of_these_weights(model_dir: str, checksum: str | None) -> dict | None:
    """The folder's training card, refused when it was written for other weights or other tokens than the folder holds.

    A head's weights copied into another head's folder kept that folder's card: its parent, training speakers and
    held-out test were reported for weights they never trained; tokens.txt reordered (two lines swapped) gave every
    score the other class's name, silently.  ``workbench finetune`` records both in the card (``checkpoint``)."""
    card = read_training_card(model_dir)
    written = (card or {}).get("checkpoint")
    if not isinstance(written, dict):
        return card
    where, fix = str(Path(model_dir) / "training_card.json"), ("use the folder `workbench finetune` wrote as it is (config.yaml, model.safetensors, "
                                                             "tokens.txt and training_card.json together), or fine-tune again.")
    sha = written.get("weights_sha256")
    if checksum and isinstance(sha, str) and sha != checksum:
        raise ModelError(f"the card was written for weights with sha256 {sha[:12]}…, and the folder's weights file has {checksum[:12]}…: "
                         "its parent, training speakers and test figures belong to another head.", source=where, fix=fix)
    config = written.get("config_sha256")  # the network's shape: num_heads 2 → 4 kept the weights and changed every score
    if isinstance(config, str) and (now := _sha256_or_none(Path(model_dir) / "config.yaml")) != config:
        raise ModelError(f"the card was written for a config.yaml with sha256 {config[:12]}…, and the folder's config.yaml has {now[:12]}…: "
                         "the same weights in another network give other scores than the card's figures.", source=where, fix=fix)
    tokens = written.get("tokens")
    if isinstance(tokens, list) and tokens != checkpoint_tokens(model_dir):
        raise ModelError(f"the card names the head's outputs {', '.join(map(printable, tokens))} and tokens.txt names them "
                         f"{', '.join(map(printable, checkpoint_tokens(model_dir)))}: the scores would be given other classes' names.",
                         source=where, fix=fix)
    return card


def _sha256_or_none(path: Path) -> str:
    try:
        return files.sha256_file(path)
    except OSError:
        return "none (it cannot be read)"


@contextmanager
def _fast_build(install: Callable[[Any, str], None]):
    with skip_init(), replace_weights_loader(install):
        yield


def _size(path: Path | None) -> str:
    return size_text(path.stat().st_size if path is not None and path.is_file() else 0)


# ---------------------------------------------------------------------------
# labels
# ---------------------------------------------------------------------------
def _label_mapping(tokens: list[str], name: str) -> tuple[list[str], list[int], np.ndarray]:
    """The model's labels, the checkpoint output of each, and the mask of used outputs.

    An emotion2vec+ checkpoint (its tokens name all nine classes) keeps the workbench's order
    (:data:`LABEL_KEYS`); any other (a head trained by ``workbench finetune``) has its own labels, the
    keys of its used tokens in checkpoint order.  The nine are one label set among others.
    """
    if not tokens:
        raise ModelError("checkpoint has no tokens.txt: cannot name its outputs.", source=name, fix="add the tokens.txt that came with the model.")
    keys = [key_from_token(t) for t in tokens]
    _check_labels(keys, name)
    valid = np.array([not t.startswith("unuse") for t in tokens])
    if all(k in keys for k in LABEL_KEYS):
        return list(LABEL_KEYS), [keys.index(k) for k in LABEL_KEYS], valid
    # FunASR's tokenizer needs its unknown symbol in the list: a fine-tuned head writes <unk> as an output it never
    # trained (zero weights), masked here like the "unuse" tokens
    valid = valid & np.array([t != UNK_TOKEN for t in tokens])
    used = [k for k, ok in zip(keys, valid) if ok]
    seen = Counter(used)  # used.count(k) for each k was quadratic: 20,000 labels took 6.7 s
    bad = sorted({k for k in used if not k or seen[k] > 1 or k != k.strip()})
    looks = Counter(map(_as_shown, set(used)))  # 'calm' and 'calm\u200b' are two classes every screen shows alike
    alike = sorted(k for k in set(used) if looks[_as_shown(k)] > 1)
    if len(used) < 2 or bad or alike:
        raise ModelError(
            f"checkpoint tokens do not name a label set: {', '.join(shown(t, 40) for t in tokens[:12])}{' …' if len(tokens) > 12 else ''}"
            + (f" (empty or repeated: {', '.join(shown(k, 40) if k else 'a blank line' for k in bad)})" if bad else "")
            + (f" (repeated as shown: {', '.join(shown(k, 40) for k in alike[:12])}{' …' if len(alike) > 12 else ''})" if alike else "")
            + ("" if bad or alike else " (fewer than two used labels)") + ".",
            source=name,
            fix="use an emotion2vec+ 9-class checkpoint, or one written by `workbench finetune` (one distinct label per line of tokens.txt).",
        )
    return used, [i for i, ok in enumerate(valid) if ok], valid


def _as_shown(label: str) -> str:
    """``label`` as a screen shows it: composed (NFC: 'e' + U+0301 is 'é'), without the invisible format characters
    (zero-width space, soft hyphen, joiners: Unicode category Cf)."""
    return "".join(c for c in unicodedata.normalize("NFC", label) if unicodedata.category(c) != "Cf")


#: the most bytes a checkpoint's tokens.txt may hold: one label a line (nine lines, or a head's few dozen)
TOKENS_MAX_BYTES = 1_000_000
#: the longest line of tokens.txt, characters: a class label is a word or two ("生气/angry", "calm")
TOKEN_MAX_CHARS = 100
#: what a label may not hold: a character a screen acts on or hides, and the byte-order mark FunASR keeps in the first line
_BAD_IN_LABEL = re.compile(CONTROL_CHARACTERS.pattern[:-1] + "\ufeff]")


def _check_labels(keys: list[str], name: str) -> None:
    """Refuse a label (a tokens.txt line's key: ``生气/angry`` → ``angry``) too long to be one, or holding a control
    character, a line break FunASR does not split at (U+2028, U+0085), a text-direction override or a byte-order mark:
    every label is printed on screens, in logs, reports and column names (``votes_<class>``), and a 100,000-character
    label filled the screen with one error."""
    fix = "rename that class in tokens.txt (one plain label a line, as `workbench finetune` writes them) and fine-tune again if needed."
    for n, t in enumerate(keys, 1):
        if len(t) > TOKEN_MAX_CHARS:
            raise ModelError(f"the label of line {n} of tokens.txt is {len(t):,} characters long ({shown(t, 40)}); a class label holds at most "
                             f"{TOKEN_MAX_CHARS}.", source=name, fix=fix)
        if _BAD_IN_LABEL.search(t):
            raise ModelError(f"the label of line {n} of tokens.txt, {printable(t)}, holds a control character, a line separator, a text-direction "
                             "override or a byte-order mark, which a screen would act on or hide.", source=name, fix=fix)


def checkpoint_tokens(model_dir: str | os.PathLike) -> list[str]:
    """The lines of a checkpoint folder's ``tokens.txt`` as FunASR reads them when it loads the checkpoint (the labels
    the scores get): split at ``\n``, ``\r\n`` and ``\r`` only, each right-stripped, blank lines kept (each is an output).
    ``str.splitlines`` also split at U+2028 and U+0085 and blank lines were dropped, so a head's labels here (import-votes'
    classes, a fine-tune's parent rows) could differ from the model's own.  A FIFO, a device or a file over
    :data:`TOKENS_MAX_BYTES` is refused unread (a tokens.txt linked to /dev/zero filled memory, a FIFO hung)."""
    p = Path(model_dir) / "tokens.txt"
    fix = "add the tokens.txt that came with the model (one label a line)."
    try:
        st = os.stat(p)
        if not stat.S_ISREG(st.st_mode) or st.st_size > TOKENS_MAX_BYTES:
            why = "is not a regular file (a pipe, a device or a socket)" if not stat.S_ISREG(st.st_mode) else f"holds {st.st_size:,} bytes"
            raise ModelError(f"tokens.txt {why}; a checkpoint's tokens.txt is a text file of at most {TOKENS_MAX_BYTES:,} bytes.",
                             source=str(model_dir), fix=fix)
        with open(p, "rb") as f:
            data = f.read(TOKENS_MAX_BYTES + 1)
        text = data[:TOKENS_MAX_BYTES].decode("utf-8")
    except OSError as exc:
        raise ModelError(f"cannot read tokens.txt ({exc.strerror}).", source=str(model_dir), fix=fix) from None
    except UnicodeDecodeError:
        raise ModelError("tokens.txt is not UTF-8 text.", source=str(model_dir), fix=fix) from None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [t.rstrip() for t in (lines[:-1] if lines[-1] == "" else lines)]  # the last line end ends a line, not one more


def checkpoint_labels(model_dir: str | os.PathLike) -> list[str]:
    """The labels a checkpoint folder's ``tokens.txt`` names, in score order, without building the network."""
    return _label_mapping(checkpoint_tokens(model_dir), str(model_dir))[0]


# ---------------------------------------------------------------------------
# describing without building
# ---------------------------------------------------------------------------
@dataclass
class _Described:
    """A checkpoint checked and hashed without building its network: what a Ray driver records of the model."""

    info: _ModelInfo

    @property
    def random_weights(self) -> bool:
        return self.info.random_weights

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(self.info.labels)


def describe_checkpoint(model: str | os.PathLike | None = None, *, hub: str = "ms", revision: str | None = None,
                        device: str = "auto", dtype: str = "float32",
                        progress: Callable[[str], None] | None = None) -> _Described:
    """Check a checkpoint and hash its weights file without importing FunASR or building the network.

    The Ray engine's driver uses this (through :meth:`~workbench.model.ref.ModelRef.describe`): the actors load the
    model; the driver only needs to know what it is (id, folder, sha256 of the weights, random or not) to record it
    and to check that every actor loaded the same file.  The sha256 is memoised by (path, size, mtime), so a second
    run reads nothing.  A hub id that is not downloaded on the driver has no checksum here (``checksum=None``); the
    actors' own record of it goes into the summary.

    Returns an object with ``info`` (the loaded model's provenance record with ``parameters=None``: counting them
    would mean building the network; ``device``/``dtype`` as asked), ``random_weights`` and ``labels``.
    """
    say = progress or (lambda line: None)
    check_dtype(dtype)
    spec = resolve_model(model, hub=hub, revision=revision)
    model_dir: Path | None = Path(spec.model) if spec.kind != "hub" else (
        cached_hub_checkpoint(spec.model, spec.hub) if not spec.revision else None)
    checksum = embed_dim = None
    if model_dir is not None:
        check_checkpoint(model_dir)
        weights = weights_file(model_dir)
        if weights is None:
            raise ModelError("checkpoint has no weights file (model.pt); FunASR would run with random weights.",
                             source=str(model_dir), fix="download the complete checkpoint.")
        say("verifying checksum")
        checksum = file_sha256(weights)
        cfg = load_yaml_file(model_dir / "config.yaml") or {}  # bounded: checked by check_checkpoint already
        embed_dim = (cfg.get("model_conf") or {}).get("embed_dim")
    info = _ModelInfo(
        id="", kind=spec.kind, hub=spec.hub if spec.kind == "hub" else None, revision=spec.revision,
        path=str(model_dir) if model_dir is not None else None, checksum=checksum, parameters=None, embed_dim=embed_dim,
        device=device, dtype=dtype, labels=checkpoint_labels(model_dir) if model_dir is not None else list(LABEL_KEYS),
        random_weights=False, load_seconds=0.0)
    return _Described(_with_generated_facts(info, spec, str(model_dir) if model_dir is not None else None))
