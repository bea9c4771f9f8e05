"""emotion2vec+ to ONNX, with the classifier head, frame outputs, embeddings and batching.

:func:`export_onnx` writes a folder::

    model.onnx       float32 graph (opset 17), dynamic batch and length
    model.int8.onnx  with ``int8=True``: onnxruntime's dynamic int8 quantisation of it
    model.json       labels, sample rate, normalisation, frame rate, checksum, version, random-weights flag

The graph is the workbench's batched model (:meth:`Emotion2vecModel.predict`), traced:

inputs
    ``waveforms`` (B, L) float32 at 16 kHz, zero-padded at the end;
    ``lengths`` (B,) int64, each waveform's real sample count (the padding mask is
    ``arange(L) >= lengths[:, None]``).
outputs
    ``scores`` (B, 9) utterance probabilities, in ``labels`` order;
    ``logits`` (B, 9) the head's outputs before the softmax;
    ``frame_scores`` (B, T, 9) and ``frame_logits`` (B, T, 9), the head on every frame
    (50 frames/s); ``embedding`` (B, D) mean of the real frames' features;
    ``frame_embeddings`` (B, T, D); ``frame_lengths`` (B,) int64, the real frames of each
    waveform (frames beyond it are padding and hold no meaning).

FunASR's per-waveform layer norm (``F.layer_norm(wav, wav.shape)``, eps 1e-5) happens inside
the graph over each waveform's own samples, so callers feed raw samples in [-1, 1].

The exporter is the TorchScript one (``torch.onnx.export(..., dynamo=False)``).  The dynamo
exporter (``dynamo=True``, onnxscript 0.7, torch 2.13) was tried first and fails in step 1
(``torch.export``): FunASR's ``convert_padding_mask`` (``emotion2vec/audio.py``) branches on
``if padding_mask.any():`` — data-dependent control flow (``GuardOnDataDependentSymNode``)
that ``torch.export`` refuses without editing FunASR.  Tracing records the path a padded
batch takes, with the shape arithmetic as graph operations; the tests check the graph at
other batch sizes and lengths than the one it was traced with.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from workbench import __version__, files
from workbench.model.temperature import check_temperature
from workbench.errors import ConfigError, ModelError
from workbench.model.funasr_patches import exportable_front_end, fused_attention, quiet, run_masked
from workbench.model.generated import TRAINING_CARD, card_paths_portable, read_training_card
from workbench.model.network import FRAME_RATE, RANDOM_WEIGHTS_BANNER, SAMPLE_RATE, Emotion2vecModel, load_model
from workbench.model.weights import file_sha256
from workbench.model.agreement import shortfalls
from workbench.model.memory import attention_heads
from workbench.serialize import loads_json, read_bytes_capped

logger = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
ONNX_INT8_FILE = "model.int8.onnx"
META_FILE = "model.json"
OPSET = 17
#: largest model.json read (the real one is ~2 kB)
MAX_META_BYTES = 1 << 20
INPUT_NAMES = ("waveforms", "lengths")
OUTPUT_NAMES = ("scores", "logits", "frame_scores", "frame_logits", "embedding", "frame_embeddings", "frame_lengths")
LAYER_NORM_EPS = 1e-5  # F.layer_norm's default, which FunASR's inference uses
#: how the graph is built, recorded in ``model.json`` (and by the model cache, which exports again when it changes).
#: 2: the conv front end time-major as MatMuls (:func:`~workbench.model.funasr_patches.matmul_front_end`), int8 but
#: for its first layer, and the attention through one additive mask per forward (ALiBi and padding, built once, not
#: scattered and masked in every layer).  Large model, 24 clips of 2-6 s, 2 cores, one process, alternating: int8
#: graph 6.7-7.8 -> 4.8-6.7 s idle, top-1 24 of 24 against PyTorch float32 either way (benchmarks/README.md)
EXPORT_REVISION = 2
#: a MatMul whose weight has fewer input rows than this stays float32 in the int8 graph.  In emotion2vec that is the
#: front end's first layer alone (its windows are 10 samples of the raw wave: one int8 scale per batch would leave a
#: quiet passage a few levels; about 0.1 % of the FLOPs); every other layer reads 32 features or more, even ``tiny``'s
INT8_MIN_ROWS = 16


def _export_graph(model: Emotion2vecModel, temperature: float | None = None):
    """The workbench's batched forward as one ``nn.Module`` over (waveforms, lengths).

    ``temperature``: the utterance and frame logits are divided by it inside the graph (``logits`` and
    ``frame_logits`` are then the tempered ones, ``scores`` their softmax), so a tempered export scores as the
    tempered PyTorch model does.
    """
    import torch
    import torch.nn as nn

    net = model.network
    label_index = list(model._label_index)
    if not all(model._valid_tokens[i] for i in label_index):
        raise ModelError("a label of the scheme maps to an unused checkpoint output.", source=model.info.id,
                         fix="use an emotion2vec+ 9-class checkpoint.")
    if net.proj is None:
        raise ModelError("this checkpoint has no classification head (it is a representation model).", source=model.info.id,
                         fix="use an emotion2vec+ classifier such as iic/emotion2vec_plus_large.")
    conv_layers = [(int(k), int(s)) for _, k, s in net.modality_encoders["AUDIO"].feature_enc_layers]
    normalize = bool(net.cfg.normalize)
    scale = 1.0 if temperature is None else 1.0 / float(temperature)

    class Graph(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net
            self.register_buffer("label_index", torch.tensor(label_index, dtype=torch.long), persistent=False)

        def forward(self, waveforms, lengths):
            n_samples = waveforms.shape[1]
            valid = (torch.arange(n_samples, device=waveforms.device)[None, :] < lengths[:, None]).to(waveforms.dtype)
            source = waveforms * valid
            if normalize:
                # FunASR's layer norm over each waveform's own samples, padding excluded
                count = valid.sum(1, keepdim=True)
                mean = source.sum(1, keepdim=True) / count
                var = (((source - mean) * valid) ** 2).sum(1, keepdim=True) / count
                source = (source - mean) / torch.sqrt(var + LAYER_NORM_EPS) * valid
            frames = lengths
            for kernel, stride in conv_layers:  # FunASR's conv output-length formula
                frames = torch.div(frames - kernel, stride, rounding_mode="floor") + 1
            # the front end as MatMuls (int8 takes them) and one attention mask per forward (:data:`EXPORT_REVISION`)
            with (_masked_positions(self.net, frames), _alibi_from_shapes(self.net), exportable_front_end(self.net),
                  fused_attention(self.net, True)):
                out = self.net.extract_features(source, padding_mask=valid == 0)
            x = out["x"]  # (B, T, D)
            n_frames = x.shape[1]
            valid_f = (torch.arange(n_frames, device=x.device)[None, :] < frames[:, None]).to(x.dtype)
            pooled = (x * valid_f[..., None]).sum(1) / valid_f.sum(1, keepdim=True)
            logits = self.net.proj(pooled).index_select(-1, self.label_index)
            frame_logits = self.net.proj(x).index_select(-1, self.label_index)
            if scale != 1.0:
                logits, frame_logits = logits * scale, frame_logits * scale
            return (torch.softmax(logits, -1), logits, torch.softmax(frame_logits, -1), frame_logits, pooled, x, frames)

    return Graph().eval()


@contextmanager
def _masked_positions(net: Any, frames) -> Iterator[None]:
    """The conv positional encoder with padded frames zeroed, from a tensor of frame counts (traceable)."""
    import torch

    enc = net.modality_encoders["AUDIO"]
    original = enc.relative_positional_encoder
    if original is None:
        yield
        return

    def masked(x):
        valid = (torch.arange(x.shape[1], device=x.device)[None, :] < frames[:, None]).to(x.dtype)
        return run_masked(original, x, valid)

    enc._modules["relative_positional_encoder"] = None  # nn.Module refuses a plain callable for a registered child
    object.__setattr__(enc, "relative_positional_encoder", masked)
    try:
        yield
    finally:
        object.__delattr__(enc, "relative_positional_encoder")
        enc._modules["relative_positional_encoder"] = original


@contextmanager
def _alibi_from_shapes(net: Any) -> Iterator[None]:
    """FunASR's ALiBi bias computed from the frame count in the graph, not sliced from its cache.

    FunASR keeps the bias for the longest input seen so far in ``net.alibi_biases`` and slices
    it; traced, that cache becomes a constant and the graph fails on inputs longer than the
    longest the model had seen before the export (a bug found by the test that exports after
    scoring longer clips).  Here the same values, ``-slope_h * |i - j|``, are built from
    ``arange(T)``, so any length works.
    """
    import torch
    from funasr.models.emotion2vec.base import get_alibi

    enc = net.modality_encoders["AUDIO"]
    original = enc.get_alibi_bias
    if original is None:
        yield
        return

    def alibi_bias(batch_size, time_steps, heads, dtype, device, dims=1, distance="manhattan"):
        if dims != 1:
            raise ModelError(f"ALiBi with {dims} dimensions is not exportable here.", source="export-onnx",
                             fix="export an audio emotion2vec+ checkpoint (1-D ALiBi).")
        slopes = -get_alibi(2, heads)[:, 0, 1]  # FunASR's own slopes: the bias one position away is -slope
        pos = torch.arange(time_steps, device=device)
        distance_matrix = (pos[None, :] - pos[:, None]).abs().to(dtype)
        bias = -slopes.to(device=device, dtype=dtype)[:, None, None] * distance_matrix[None]
        return bias.unsqueeze(0).expand(batch_size, -1, -1, -1)

    enc.get_alibi_bias = alibi_bias
    try:
        yield
    finally:
        enc.get_alibi_bias = original


@dataclass
class ExportResult:
    """What :func:`export_onnx` wrote."""

    folder: Path
    onnx: Path
    int8: Path | None
    meta: dict
    seconds: float
    check: dict | None = None  # the graphs' check after the export (see :func:`record_check`), when one was made


def export_onnx(model: Any = None, out: str | os.PathLike = "onnx", *, int8: bool = False, opset: int = OPSET,
                temperature: float | None = None, **load_options: Any) -> ExportResult:
    """Export a model to ``out/model.onnx`` (+ ``model.json``, and ``model.int8.onnx`` with ``int8``).

    Parameters
    ----------
    model : Emotion2vecModel or str, optional
        A loaded model, or a reference for :func:`workbench.model.network.load_model` (hub id, folder, ``"tiny"``).
        It is exported in float32 on the CPU whatever it was loaded in.
    out : path
        Folder to write into (created; existing files of the same names are replaced).
    int8 : bool
        Also write the dynamically quantised variant (``onnxruntime.quantization.quantize_dynamic``:
        int8 weights of MatMul/Gemm, activations quantised per batch at run time).
    opset : int
        ONNX opset (17: LayerNormalization as one op).
    temperature : float, optional
        Baked into the graph (logits / T); default: the model's own ``info.temperature`` (None: untempered).
        Recorded in ``model.json`` and in the graph's metadata.

    Every file is written with :func:`workbench.files.write_atomic`: the exporter and the quantiser write
    into a private temporary folder (mode 0700, made for this export), and the finished files are copied into
    ``out`` exclusively and renamed, never through a link planted in ``out`` (refused, naming it).

    Returns
    -------
    ExportResult
    """
    import torch

    if load_options.get("dtype", "float32") != "float32" or str(load_options.get("device", "cpu")) != "cpu":
        raise ConfigError("the ONNX export traces the float32 model on the CPU.", source="export-onnx",
                          fix="leave --dtype/--device out; use --int8 for the quantised variant.")
    load_options.update(device="cpu", dtype="float32")
    # a loaded model (what every caller passes), or a name loaded here; ModelRef.coerce lives above this module
    net = model if hasattr(model, "predict") and hasattr(model, "info") else load_model(model, **load_options)
    if net.info.dtype != "float32" or not str(net.info.device).startswith("cpu"):
        raise ConfigError(f"the model is loaded in {net.info.dtype} on {net.info.device}; the export needs float32 on the CPU.",
                          source=net.info.id, fix="load it with device='cpu', dtype='float32'.")
    if temperature is None:
        temperature = getattr(net.info, "temperature", None)
    if temperature is not None:
        temperature = check_temperature(temperature, source="--temperature")
    folder = Path(out).expanduser()
    refuse_links(folder)
    files.ensure_folder(folder)
    t0 = time.perf_counter()
    graph = _export_graph(net, temperature)
    # two waveforms of other lengths, so the trace sees padding and a batch
    example = (torch.zeros(2, 2 * SAMPLE_RATE), torch.tensor([2 * SAMPLE_RATE, int(1.3 * SAMPLE_RATE)], dtype=torch.long))
    example[0][:, :] = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 2 * SAMPLE_RATE)).astype(np.float32) * 0.1)
    onnx_path = folder / ONNX_FILE
    dynamic_axes = {"waveforms": {0: "batch", 1: "samples"}, "lengths": {0: "batch"}, "scores": {0: "batch"},
                    "logits": {0: "batch"}, "frame_scores": {0: "batch", 1: "frames"}, "frame_logits": {0: "batch", 1: "frames"},
                    "embedding": {0: "batch"}, "frame_embeddings": {0: "batch", 1: "frames"}, "frame_lengths": {0: "batch"}}
    meta = model_metadata(net, temperature=temperature)
    int8_path = None
    with tempfile.TemporaryDirectory(prefix="workbench-onnx-") as private:  # 0700: nobody else can plant a link in it
        tmp = Path(private) / ONNX_FILE
        with quiet(), warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            # the tracer warns about every Python value it records as a constant (FunASR's shape checks);
            # the equivalence tests at other batch sizes and lengths are what show the trace holds
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, example, str(tmp), input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES),
                              dynamic_axes=dynamic_axes, opset_version=opset, dynamo=False, do_constant_folding=True)
        _stamp_identity(tmp, meta)
        if int8:
            tmp8 = quantize_int8(tmp, Path(private) / ONNX_INT8_FILE)
            meta["int8_file"] = ONNX_INT8_FILE
            int8_path = files.copy_file(tmp8, folder / ONNX_INT8_FILE)
        files.copy_file(tmp, onnx_path)
    files.write_json(folder / META_FILE, meta)
    if (card := read_training_card(net.info.path) if net.info.path else None) is not None:  # a head's card travels with it
        files.write_json(folder / TRAINING_CARD, card_paths_portable(card, folder))  # so runs of the export still say whose speakers trained it
    seconds = time.perf_counter() - t0
    logger.info("exported %s to %s in %.1f s", net.info.id, onnx_path, seconds)
    return ExportResult(folder=folder, onnx=onnx_path, int8=int8_path, meta=meta, seconds=seconds)


def refuse_links(folder: Path) -> None:
    """Refuse an export folder where a file of the export is a symbolic link (before anything is written)."""
    for name in (ONNX_FILE, META_FILE, ONNX_INT8_FILE, TRAINING_CARD):
        if files.is_link(folder / name):
            raise files.UnsafePathError(f"{name} is a symbolic link; writing the export there would change a file outside the folder.",
                                        source=str(folder), fix=f"delete the link {folder / name} (or choose another --out).")


def record_check(result: ExportResult, check: dict) -> None:
    """Add the export check (each graph's agreement figures, bounds and verdict; ``check["ok"]``) to ``model.json``.

    Written through the same :func:`workbench.files.write_json` as the export itself; a graph that failed stays in the
    folder and :func:`workbench.model.onnx_backend.resolve_onnx_dtype` refuses to run it.
    """
    for name, graph in (check.get("graphs") or {}).items():  # the bytes judged: a graph swapped after it is not
        path = result.folder / (ONNX_INT8_FILE if name == "int8" else ONNX_FILE)
        if isinstance(graph, dict) and path.is_file():
            graph["sha256"] = file_sha256(path)
    result.check = check
    result.meta["check"] = check
    files.write_json(result.folder / META_FILE, result.meta)


#: why every graph of an unfinished export is refused (:func:`pending_check`)
UNFINISHED = "the export into this folder did not finish: it stopped before its check against PyTorch ended, so its graphs are unchecked"


def pending_check(redo: str) -> dict:
    """``model.json``'s ``check`` while ``workbench model export-onnx`` writes and checks a folder: every graph marked
    unchecked (``ok`` false), with the command that redoes the export.

    Written into the folder before anything else of the export, and replaced by the check (or, with ``--no-check``,
    by no check) only once the checked graphs are in place (:func:`publish_export`): a folder whose export was killed
    on the way is refused by every reader (:func:`interrupted_export`), never taken for a ``--no-check`` export.
    Readers that know only ``graphs.<name>.ok`` (examples/onnx_score.py, earlier versions) refuse it as a failed check.
    """
    return {"pending": True, "redo": redo, "ok": False,
            "graphs": {name: {"ok": False, "failed": [UNFINISHED]} for name in ("float32", "int8")}}


def interrupted_export(folder: str | os.PathLike) -> str | None:
    """The command that redoes the export into ``folder`` when its ``model.json`` is still the mark of
    :func:`pending_check` (the export stopped before its check ended); ``None`` otherwise."""
    check = recorded_check(folder)
    if not (isinstance(check, dict) and check.get("pending")):
        return None
    redo = check.get("redo")
    return redo if isinstance(redo, str) and redo.isprintable() and len(redo) < 4000 else \
        f"workbench model export-onnx --model CHECKPOINT --out {folder}"


def publish_export(result: ExportResult, out: str | os.PathLike) -> ExportResult:
    """Move a finished export (its graphs checked, or ``--no-check``) from the folder it was written and checked in
    (``result.folder``, inside ``out``) into ``out``: the graphs and the training card by renames (an earlier export's
    int8 graph or card that this one lacks is removed), and ``model.json`` (the check in it) last.  Until that last
    write ``out``'s ``model.json`` is the mark of :func:`pending_check`."""
    out = Path(out)
    names = [name for name in (ONNX_FILE, ONNX_INT8_FILE, TRAINING_CARD) if (result.folder / name).is_file()]
    for name in (ONNX_INT8_FILE, TRAINING_CARD):  # an earlier export's int8 graph would be run under this one's check
        if name not in names:
            files.remove_file(out / name)
    for name in names:
        files.move_file(result.folder / name, out / name)
    files.write_json(out / META_FILE, result.meta)
    return ExportResult(folder=out, onnx=out / ONNX_FILE, int8=out / ONNX_INT8_FILE if result.int8 else None,
                        meta=result.meta, seconds=result.seconds, check=result.check)


def failed_checks(check: Any, folder: "str | os.PathLike | None" = None) -> dict[str, str]:
    """The graphs the export check of ``model.json`` (``check``, see :func:`record_check`)
    found failing, each with what failed; empty when every graph passed or no check was recorded (``--no-check``).
    With ``folder``: a graph whose bytes are no longer those the check judged (its recorded sha256) fails too."""
    if check is None:
        return {}
    changed = {}
    for name, g in ((check.get("graphs") or {}).items() if isinstance(check, dict) and isinstance(check.get("graphs"), dict) else ()):
        path = Path(folder) / (ONNX_INT8_FILE if name == "int8" else ONNX_FILE) if folder is not None else None
        if isinstance(g, dict) and g.get("ok") is True and path is not None and path.is_file() and "sha256" in g \
                and file_sha256(path) != g["sha256"]:
            changed[name] = f"{path.name} changed since its check (sha256 {str(g['sha256'])[:12]}… then)"
    graphs = check.get("graphs") if isinstance(check, dict) else None
    for name, g in (graphs.items() if isinstance(graphs, dict) else ()):  # an `ok: true` is judged again from its figures
        if isinstance(g, dict) and g.get("ok") is True and isinstance(g.get("agreement"), dict) and (why := shortfalls(g["agreement"])):
            changed[name] = f"its recorded figures do not pass ({'; '.join(why)})"
    if not isinstance(graphs, dict):  # an edited or damaged record is no evidence that a graph passed
        why = f"{META_FILE}'s check is not a record of graphs and verdicts ({type(check).__name__})"
        return {"float32": why, "int8": why}
    return changed | {name: ("; ".join(map(str, g.get("failed") or [])) or "failed") if isinstance(g, dict)
                      else f"its entry is not a verdict ({type(g).__name__})"
                      for name, g in graphs.items() if not isinstance(g, dict) or g.get("ok") is not True}


def recorded_check(folder: str | os.PathLike) -> Any:
    """``model.json``'s ``check`` entry, or ``None`` when there is none (the file itself is judged by
    :func:`workbench.model.onnx_backend.read_meta`)."""
    try:
        raw = read_bytes_capped(Path(folder).expanduser() / META_FILE, max_bytes=MAX_META_BYTES, what=META_FILE, decompress=False)
        meta = loads_json(raw.decode("utf-8"))
    except (OSError, ValueError, ConfigError):
        return None
    return meta.get("check") if isinstance(meta, dict) else None


#: keys of the graph's own metadata (``metadata_props``): what model.json says about identity, inside the file it describes
GRAPH_META_KEYS = ("labels", "source_checksum_sha256", "source_identity_sha256", "random_weights", "temperature")


def _stamp_identity(path: Path, meta: dict) -> None:
    """Copy the identity facts of ``model.json`` into the graph file's ``metadata_props`` (``workbench.<key>``).

    The loader takes the banner from the graph and from the weights' checksum, so editing ``model.json``
    (``random_weights: false``) cannot remove it.
    """
    import onnx

    proto = onnx.load(str(path))
    for key in GRAPH_META_KEYS:
        entry = proto.metadata_props.add()
        entry.key, entry.value = f"workbench.{key}", json.dumps(meta.get(key))
    onnx.save(proto, str(path))


def model_metadata(model: Emotion2vecModel, *, temperature: float | None = None) -> dict:
    """``model.json``: what a program needs to feed the graph and read its outputs."""
    info = model.info
    n = len(info.labels)
    return {
        "format": "emotion-workbench-onnx/1",
        "file": ONNX_FILE,
        "labels": list(info.labels),
        "sample_rate": SAMPLE_RATE,
        "frame_rate": FRAME_RATE,
        "frame_hop_samples": SAMPLE_RATE // FRAME_RATE,
        "min_samples": 400,
        "inputs": {"waveforms": "float32 (batch, samples), mono 16 kHz in [-1, 1], zero-padded at the end",
                   "lengths": "int64 (batch,), real samples of each waveform"},
        "outputs": {"scores": f"(batch, {n}) utterance probabilities in 'labels' order", "logits": f"(batch, {n})",
                    "frame_scores": f"(batch, frames, {n})", "frame_logits": f"(batch, frames, {n})",
                    "embedding": f"(batch, {info.embed_dim}) mean of the real frames' features",
                    "frame_embeddings": f"(batch, frames, {info.embed_dim})", "frame_lengths": "int64 (batch,) real frames"},
        "normalisation": {"where": "inside the graph", "what": "layer norm of each waveform over its own samples "
                          "(FunASR: F.layer_norm(wav, wav.shape)), padding excluded", "eps": LAYER_NORM_EPS},
        "embed_dim": info.embed_dim,
        "attention_heads": attention_heads(model.network),
        "source_model": info.id,
        "source_checksum_sha256": info.checksum,
        "source_identity_sha256": getattr(info, "identity", None),  # weights + config.yaml + tokens.txt + card
        "source_path": info.path,
        "parameters": info.parameters,
        "workbench_version": __version__,
        "opset": OPSET,
        "export_revision": EXPORT_REVISION,
        "temperature": temperature,
        "random_weights": bool(info.random_weights),
        **({"warning": RANDOM_WEIGHTS_BANNER} if info.random_weights else {}),
    }


def float32_matmuls(graph: str | os.PathLike) -> list[str]:
    """The MatMul nodes of ``graph`` whose constant weight has fewer than :data:`INT8_MIN_ROWS` input rows."""
    import onnx

    model = onnx.load(str(graph))
    rows = {init.name: init.dims[0] for init in model.graph.initializer if len(init.dims) == 2}
    return [node.name for node in model.graph.node
            if node.op_type == "MatMul" and len(node.input) == 2 and rows.get(node.input[1], INT8_MIN_ROWS) < INT8_MIN_ROWS]


def quantize_int8(src: str | os.PathLike, dst: str | os.PathLike) -> Path:
    """onnxruntime's dynamic int8 quantisation of ``src`` into ``dst`` (weights int8, activations per batch)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    dst = Path(dst)
    with tempfile.TemporaryDirectory(prefix="workbench-onnx-int8-") as private:  # the quantiser writes by name: in a private folder
        tmp = Path(private) / dst.name
        with quiet():
            # MatMul and Gemm only (the front end's convs are MatMuls in the graph), but for the layer on the raw wave
            quantize_dynamic(str(src), str(tmp), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul", "Gemm"],
                             nodes_to_exclude=float32_matmuls(src))
        files.copy_file(tmp, dst)
    return dst
