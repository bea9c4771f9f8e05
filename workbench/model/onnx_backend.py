"""ONNX Runtime backend: an exported model (:mod:`workbench.model.onnx_export`) with the model's ``predict``.

:class:`OnnxModel` has the interface the engine uses from
:class:`~workbench.model.network.Emotion2vecModel` — ``info``, ``random_weights``, ``predict`` returning
:class:`~workbench.model.network.Prediction` objects in the package's label order — so ``workbench run``
and ``workbench infer`` take ``--backend onnxruntime`` with the engine unchanged.  Batching is
the model's own (:func:`~workbench.model.network.plan_batches`, length-sorted buckets).

:func:`compare_backends` scores the same clips with two models and reports the workbench's
agreement figures (:func:`workbench.analysis.compare.agreement`: Cohen's kappa, top-1 agreement, max
|Δ score|, embedding cosines), e.g. the int8 graph against the float32 one.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from workbench import files
from workbench.model.agreement import agreement, certain_top1
from workbench.errors import ConfigError, ModelError
from workbench.labels import RANDOM_WEIGHTS_BANNER
from workbench.model.batching import DYNAMIC_QUANTIZED, BatchPolicy, default_policy, plan_batches
from workbench.model.building import _ModelInfo, onnx_providers
from workbench.model.generated import generated_checksum
from workbench.model.memory import check_attention_fits
from workbench.model.network import _as_wave
from workbench.model.prediction import Prediction
from workbench.model.temperature import check_temperature, softmax
from workbench.model.weights import GRAPH_MAX_BYTES, MEMO_LOCK, file_sha256, read_memo
from workbench.paths import cache_dir
from workbench.schema import SAMPLE_RATE
from workbench.model.onnx_export import (
    MAX_META_BYTES, META_FILE, ONNX_FILE, ONNX_INT8_FILE, OUTPUT_NAMES, UNFINISHED, failed_checks, interrupted_export, recorded_check)
from workbench.serialize import loads_json, read_bytes_capped
from workbench.model.onnx_run import run_bounded  # noqa: F401  (public here too)
from workbench.model.onnx_optimized import open_session, wanted

logger = logging.getLogger(__name__)

BACKENDS = ("torch", "onnxruntime")
ONNX_DTYPES = ("auto", "float32", "int8")


def is_onnx_folder(path: Any) -> bool:
    """True for a folder written by ``workbench model export-onnx`` (it holds model.json and model.onnx)."""
    try:
        p = Path(path).expanduser()
        return (p / META_FILE).is_file() and (p / ONNX_FILE).is_file()
    except (TypeError, OSError):
        return False


def refuse_unfinished(folder: str | os.PathLike) -> None:
    """Refuse an export folder whose ``model.json`` says its export stopped before its check ended
    (:func:`~workbench.model.onnx_export.pending_check`), naming the folder and the command that redoes it."""
    redo = interrupted_export(Path(folder).expanduser())
    if redo is not None:
        raise ModelError(f"{UNFINISHED}; they are not run.", source=str(folder), fix=f"export it again: {redo}")


def resolve_onnx_dtype(requested: str, folder: str | os.PathLike) -> tuple[str, str]:
    """Which graph of an export folder to run, and why: ``float32`` (model.onnx) or ``int8`` (model.int8.onnx).

    ``auto`` takes the int8 graph when the folder has one (it exists only when ``--int8`` asked for it), else float32.
    A graph that ``model.json`` records as having failed the export check (``check.graphs.<dtype>.ok`` false) is
    refused (``ModelError``), and ``auto`` then takes float32 when that one passed.
    """
    if requested not in ONNX_DTYPES:
        raise ConfigError(f"dtype {requested!r} is not available with the onnxruntime backend; it runs {', '.join(ONNX_DTYPES)}.",
                          source="--dtype", fix="pass --dtype float32, int8 (export with --int8) or auto, or use --backend torch.")
    refuse_unfinished(folder)
    has_int8 = (Path(folder) / ONNX_INT8_FILE).is_file()
    if requested == "int8" and not has_int8:
        raise ConfigError(f"the export folder has no {ONNX_INT8_FILE}.", source=str(folder),
                          fix="export again with `workbench model export-onnx --int8`, or pass --dtype float32.")
    failed = failed_checks(recorded_check(folder), folder)
    if requested == "auto":
        if has_int8 and "int8" in failed and "float32" not in failed:
            return "float32", f"the export's {ONNX_INT8_FILE} failed its check at export ({failed['int8']})"
        chosen, reason = ("int8", f"the export has {ONNX_INT8_FILE}") if has_int8 else ("float32", f"the export has no {ONNX_INT8_FILE}")
    else:
        chosen, reason = requested, "asked for"
    # the int8 graph was checked against the float32 one: a float32 graph that failed makes both untrustworthy
    bad = next((name for name in ("float32", chosen) if name in failed), None)
    if bad is not None:
        graph = ONNX_INT8_FILE if bad == "int8" else ONNX_FILE
        usable = "" if bad == "float32" else ", or pass --dtype float32 (its graph passed)"
        raise ModelError(f"{META_FILE} records that {graph} FAILED its check at export: {failed[bad]}; "
                         "its scores would not be the model's.", source=str(folder),
                         fix=f"export again (workbench model export-onnx) and look at the check's figures{usable}.")
    return chosen, reason


def cpu_threads() -> int:
    """Cores this process may use: ``OMP_NUM_THREADS`` when set, else the CPU affinity."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class OnnxModel:
    """An exported emotion2vec+ graph run by ONNX Runtime, with :class:`Emotion2vecModel`'s ``predict``.

    Use :func:`load_onnx_model`.  ``info.kind`` is ``"onnx"``, ``info.checksum`` the sha256 of
    the graph file it runs (so cached predictions of the torch model are never reused for it),
    ``info.path`` the export folder.
    """

    def __init__(self, session: Any, meta: dict, info: _ModelInfo):
        self.session = session
        self.meta = meta
        self.info = info
        self.labels = tuple(meta["labels"])
        #: why this graph's precision was chosen, for the run's provenance
        self.dtype_reason: str | None = None
        #: seconds one batch may run before it is stopped (:func:`run_bounded`)
        self.time_budget_s: float = time_budget_for(meta)
        #: the graph's attention heads, for the memory check: ``model.json``'s ``attention_heads``, or for an export that
        #: does not say, its width over 64 (the stock models' head width: 12 and 16 heads), at least 1 (an underestimate
        #: never refuses a clip that fits)
        self.attention_heads: int = int(meta.get("attention_heads") or max(1, int(meta.get("embed_dim") or 0) // 64))
        #: parts each batch is cut into and run at once (:func:`run_bounded`'s ``split``; :func:`load_onnx_model`)
        self.split: int = 1

    @property
    def random_weights(self) -> bool:
        return self.info.random_weights

    def predict(
        self,
        clips: Sequence[Any],
        *,
        granularity: str = "utterance",
        embeddings: bool = True,
        policy: BatchPolicy | None = None,
        ids: Sequence[str] | None = None,
        hook: Callable[..., None] | None = None,
    ) -> list[Prediction]:
        """Predict the scores of the model's classes for each clip (same contract as :meth:`Emotion2vecModel.predict`).

        Parameters
        ----------
        clips : sequence of Audio or 1-D float arrays
            Mono audio at 16 kHz, at least 400 samples each.
        granularity : {"utterance", "frame"}
        embeddings : bool
        policy : BatchPolicy, optional
        ids : sequence of str, optional
        hook : callable, optional
            ``hook("batch", predictions, completed=n, total=N)`` after each batch.

        Returns
        -------
        list of Prediction, in the order of ``clips``.
        """
        if granularity not in ("utterance", "frame"):
            raise ConfigError(f"granularity must be 'utterance' or 'frame', given {granularity!r}.",
                              fix="pass granularity='frame' for frame-level scores.")
        waves, names = [], []
        for k, clip in enumerate(clips):
            wave, sr, name = _as_wave(clip, ids[k] if ids else None, k)
            if sr != SAMPLE_RATE:
                raise ModelError(f"audio is at {sr} Hz; emotion2vec expects {SAMPLE_RATE} Hz.", source=name,
                                 fix="load it with workbench.audio.intake.load(), which resamples to 16 kHz.")
            if len(wave) < 400:
                raise ModelError(f"audio has {len(wave)} samples; the model needs at least 400 (25 ms) for one frame.",
                                 source=name, fix="pad the clip or drop it.")
            waves.append(np.ascontiguousarray(wave, dtype=np.float32))
            names.append(name)
        wanted = ["logits", "embedding", "frame_lengths"]
        if granularity == "frame":
            wanted += ["frame_logits"] + (["frame_embeddings"] if embeddings else [])
        results: list[Prediction | None] = [None] * len(waves)
        done = 0
        own = policy is None and str(self.info.dtype) in DYNAMIC_QUANTIZED  # a clip's int8 scores its own: one clip a part
        policy = replace(default_policy(self.info.device), max_batch_size=self.split, max_pad_fraction=1.0) if own else policy
        for batch in plan_batches([len(w) for w in waves], policy or default_policy(self.info.device)):
            lengths = np.array([len(waves[i]) for i in batch], dtype=np.int64)
            block = np.zeros((len(batch), int(lengths.max())), dtype=np.float32)
            for row, i in enumerate(batch):
                block[row, : lengths[row]] = waves[i]
            # (B, H, T, T) attention: refused where the kernel would kill the process, or the CUDA provider run out
            check_attention_fits(self.attention_heads, len(batch), int(lengths.max()) // (SAMPLE_RATE // 50),
                                 dtype="onnx-" + str(self.info.dtype).removeprefix("onnx-"), seconds=lengths.max() / SAMPLE_RATE,
                                 source=self.info.id, device=str(self.info.device))
            out = dict(zip(wanted, run_bounded(self.session, wanted, {"waveforms": block, "lengths": lengths},
                                               budget_s=self.time_budget_s, source=self.info.path, split=self.split, own_length=own)))
            check_outputs(out, lengths, n_labels=len(self.labels), names=[names[i] for i in batch], source=self.info.path)
            preds = []
            for row, i in enumerate(batch):
                n = int(out["frame_lengths"][row])
                logits = out["logits"][row].astype(np.float64)
                pred = Prediction(
                    id=names[i], scores=softmax(logits), logits=logits,
                    embedding=out["embedding"][row] if embeddings else None,
                    frame_logits=out["frame_logits"][row, :n].astype(np.float64) if "frame_logits" in out else None,
                    frame_embeddings=out["frame_embeddings"][row, :n] if "frame_embeddings" in out else None,
                    n_frames=n, duration=len(waves[i]) / SAMPLE_RATE, random_weights=self.random_weights, labels=self.labels,
                )
                results[i] = pred
                preds.append(pred)
            done += len(batch)
            if hook is not None:
                hook("batch", preds, completed=done, total=len(waves))
        return results  # type: ignore[return-value]


def read_meta(folder: str | os.PathLike) -> dict:
    """``model.json`` of an export folder, checked: labels (distinct non-empty strings), 16 kHz, a temperature in range."""
    p = Path(folder).expanduser()
    refuse_unfinished(p)
    if not is_onnx_folder(p):
        raise ModelError(f"is not an ONNX export folder (it needs {ONNX_FILE} and {META_FILE}).", source=str(p),
                         fix="export one with `workbench model export-onnx --model CHECKPOINT --out DIR` and pass --model DIR.")
    for name in (META_FILE, ONNX_FILE, ONNX_INT8_FILE):
        if (p / name).is_symlink():
            raise ModelError(f"{name} is a symbolic link; an export folder holds its own files.", source=str(p),
                             fix="export the model again into a new folder.")
    try:
        meta = loads_json(read_bytes_capped(p / META_FILE, max_bytes=MAX_META_BYTES, what=META_FILE, decompress=False).decode("utf-8"))
    except ConfigError as exc:
        raise ModelError(f"cannot read {META_FILE}: it {exc.message}", source=str(p), fix="export the model again.") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read {META_FILE}: {exc}.", source=str(p), fix="export the model again.") from None
    labels = meta.get("labels") if isinstance(meta, dict) else None
    if (not isinstance(labels, list) or not labels or len(labels) > 1000
            or not all(isinstance(x, str) and x and len(x) <= 100 for x in labels) or len(set(labels)) != len(labels)):
        raise ModelError(f"{META_FILE} has no valid 'labels' (a list of distinct, non-empty names).", source=str(p),
                         fix="export the model again with this version of the workbench.")
    if meta.get("sample_rate") != SAMPLE_RATE:
        raise ModelError(f"{META_FILE} says sample_rate {meta.get('sample_rate')!r}; the workbench feeds {SAMPLE_RATE} Hz.",
                         source=str(p), fix="export the model again with this version of the workbench.")
    heads = meta.get("attention_heads")
    if heads is not None and (isinstance(heads, bool) or not isinstance(heads, int) or not 1 <= heads <= 4096):
        raise ModelError(f"{META_FILE} says attention_heads {heads!r}; an export has a whole number of 1 to 4096.",
                         source=str(p), fix="export the model again with this version of the workbench.")
    if meta.get("temperature") is not None:
        try:
            check_temperature(meta["temperature"], source=f"{p / META_FILE}: temperature")
        except ConfigError as exc:
            raise ModelError(exc.message, source=exc.source, fix="export the model again (--temperature bakes T into the graph).") from None
    return meta


#: ONNX operators an export of this workbench contains (torch 2.13, opset 17, float32 and int8): a graph with any
#: other operator did not come from ``export-onnx`` and is refused before it runs.  ``Loop``/``Scan``/``If`` (graphs that
#: run for as long as their inputs say) are never in it.
EXPORT_OPS = frozenset({
    "Abs", "Add", "And", "Cast", "Ceil", "Concat", "Constant", "ConstantOfShape", "Conv", "ConvInteger", "Div", "DynamicQuantizeLinear",
    "DynamicQuantizeMatMul", "Equal", "Erf", "Exp", "Expand", "Flatten", "Floor", "Gather", "GatherElements", "Gelu", "Gemm",
    "Greater", "GreaterOrEqual", "Identity", "LayerNormalization", "Less", "LessOrEqual", "MatMul", "MatMulInteger", "Max", "Min",
    "Mod", "Mul", "Neg", "Not", "Or", "Pad", "Pow", "Range", "ReduceMax", "ReduceMean", "ReduceSum", "Relu", "Reshape", "Shape",
    "Sigmoid", "Slice", "Softmax", "Split", "Sqrt", "Squeeze", "Sub", "Tanh", "Tile", "Transpose", "Trilu", "Unsqueeze", "Where",
    "Xor", "Clip", "Sum", "Size", "Log", "Reciprocal", "ScatterND", "CumSum", "NonZero", "Einsum", "InstanceNormalization",
    "GroupNormalization", "BatchNormalization", "Dropout", "ReduceProd", "QuantizeLinear", "DequantizeLinear", "MatMulNBits",
})
#: a constant tensor larger than this (elements) in a ConstantOfShape/Expand/Tile shape is refused (an export has none over 1e6)
MAX_CONSTANT_ELEMENTS = 50_000_000

#: ONNX's element types the checks name (``onnx.TensorProto.FLOAT`` / ``INT64``), so judging needs no ``import onnx``
_FLOAT, _INT64 = 1, 7
#: revision of what :func:`graph_facts` reads; memoised facts of another revision are read again
GRAPH_FACTS_REVISION = 2  # bump when _read_graph_facts reads more or differently


def graph_checks_memo_path() -> Path:
    """The JSON file that remembers each checked graph's facts by the sha256 of its bytes."""
    return cache_dir() / "onnx_graph_facts.json"


#: the memo keeps the facts of this many graphs (the newest) ...
MAX_REMEMBERED_GRAPHS = 64
#: ... and none whose facts take more than this as JSON (an export's take ~2 kB; a graph stamped with megabytes of
#: metadata is parsed on every load rather than slowing every later load by its size)
MAX_REMEMBERED_BYTES = 64 * 1024


def graph_facts(graph: Path, *, source: str, sha256: str | None = None) -> tuple[dict, bool]:
    """What :func:`check_graph` judges, read from the graph once per content, and whether it came from the memo:
    inputs, outputs, operators, the largest constant shape, the ``workbench.*`` metadata.

    Parsing the protobuf needs the ``onnx`` package, whose import (``ml_dtypes``' extension) took 0.8-1.1 s here, as
    long as a whole ``workbench run`` of 24 clips with ``tiny`` through ONNX Runtime.  The facts are a function of
    the file's bytes, so a graph that passed the check has them remembered by its sha256 (``sha256``, from the
    stat-keyed checksum memo) in :func:`graph_checks_memo_path` (:func:`remember_graph_facts`), and they are read
    again only for bytes never seen; a memo that cannot be read is ignored.  The judgement against ``model.json``
    is made every time.
    """
    if sha256 is not None:
        with MEMO_LOCK:
            entry = read_memo(graph_checks_memo_path()).get(sha256)
        if isinstance(entry, dict) and entry.get("revision") == GRAPH_FACTS_REVISION and isinstance(entry.get("facts"), dict):
            return entry["facts"], True
    return _read_graph_facts(graph, source=source), False


def remember_graph_facts(sha256: str, facts: dict) -> None:
    """Keep the facts of a graph that passed the check (at most :data:`MAX_REMEMBERED_GRAPHS`, none larger than
    :data:`MAX_REMEMBERED_BYTES`); a memo that cannot be written is ignored."""
    if len(json.dumps(facts)) > MAX_REMEMBERED_BYTES:
        return
    with MEMO_LOCK:
        memo = read_memo(graph_checks_memo_path())
        memo.pop(sha256, None)
        memo[sha256] = {"revision": GRAPH_FACTS_REVISION, "facts": facts}
        memo = dict(list(memo.items())[-MAX_REMEMBERED_GRAPHS:])
        try:
            files.write_json(graph_checks_memo_path(), memo, indent=1, root=cache_dir())
        except (OSError, files.UnsafePathError) as exc:
            logger.debug("cannot write the graph-check memo: %s", exc)


def _read_graph_facts(graph: Path, *, source: str) -> dict:
    import onnx

    try:
        proto = onnx.load(str(graph), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 — protobuf raises its own errors for a damaged file
        raise ModelError(f"{graph.name} is not a readable ONNX graph ({type(exc).__name__}).", source=source,
                         fix=_GRAPH_FIX) from None
    g = proto.graph

    def dims(value_info):
        t = value_info.type.tensor_type
        return [int(t.elem_type), [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]]

    initialisers = {i.name for i in g.initializer}
    ops = set()
    constants = {t.name: t for t in g.initializer}
    largest = None  # [op_type, elements, any negative size] of the worst constant shape a ConstantOfShape/Expand/Tile asks for
    for node in g.node:
        ops.add(node.op_type if node.domain in ("", "ai.onnx", "com.microsoft") else f"{node.domain}.{node.op_type}")
        if node.op_type == "Constant":
            for a in node.attribute:
                if a.name == "value" and a.t is not None:
                    constants[node.output[0]] = a.t
        if node.op_type in ("ConstantOfShape", "Expand", "Tile") and node.input:
            shape_input = node.input[1] if node.op_type in ("Expand", "Tile") and len(node.input) > 1 else node.input[0]
            if shape_input in constants:
                try:
                    values = onnx.numpy_helper.to_array(constants[shape_input]).astype(np.float64).ravel()
                except Exception:  # noqa: BLE001
                    values = np.array([])
                if values.size:
                    elements, negative = float(np.prod(np.abs(values))), bool(np.any(values < 0))
                    if largest is None or (negative, elements) > (largest[2], largest[1]):
                        largest = [node.op_type, elements, negative]
    # tensors whose bytes live in another file, which neither the checksum nor the export check's record covers
    ext = onnx.TensorProto.EXTERNAL
    external = sorted({t.name for t in g.initializer if t.data_location == ext} | {n.output[0] for n in g.node if n.op_type == "Constant"
                       and any(a.t.data_location == ext for a in n.attribute if a.name == "value")})
    stamped = {}
    for prop in proto.metadata_props:
        if prop.key.startswith("workbench."):
            try:
                stamped[prop.key[len("workbench."):]] = loads_json(prop.value)
            except ValueError:
                stamped[prop.key[len("workbench."):]] = prop.value
    return {
        "inputs": {v.name: dims(v) for v in g.input if v.name not in initialisers},
        "outputs": {v.name: dims(v) for v in g.output},
        "ops": sorted(ops),
        "largest_constant": largest,
        "external": external,
        "stamped": stamped,
    }


_GRAPH_FIX = "use a folder written by `workbench model export-onnx` (or export the model again)."


#: the operators of onnxruntime's int8 quantisation: an int8 graph has some, a float32 export none
QUANT_OPS = frozenset({"DynamicQuantizeLinear", "MatMulInteger", "ConvInteger", "DynamicQuantizeMatMul", "QuantizeLinear",
                       "DequantizeLinear", "MatMulNBits"})


def check_graph(graph: Path, meta: dict, *, source: str, sha256: str | None = None, dtype: str | None = None) -> dict:
    """Refuse a graph that is not an export of this workbench, and return its ``workbench.*`` metadata.

    Checked: the inputs are ``waveforms`` (float, rank 2) and ``lengths`` (int64, rank 1); the outputs are the seven
    of :data:`OUTPUT_NAMES`, with the label count of ``model.json`` as the last size of ``scores``/``logits``/frame
    outputs; every operator is one the exporter emits (:data:`EXPORT_OPS`: no ``Loop``/``Scan``/``If``); no
    constant shape asks for more than :data:`MAX_CONSTANT_ELEMENTS` elements; the labels stamped into the graph
    agree with ``model.json``; with ``dtype`` (``float32``/``int8``), the graph is of that precision (int8 quantisation
    operators in it, or none).  The facts come from :func:`graph_facts` (parsed once per content) and are remembered
    only for a graph that passes.
    """
    facts, remembered = graph_facts(graph, source=source, sha256=sha256)
    fix = _GRAPH_FIX
    quantised = sorted(set(facts["ops"]) & QUANT_OPS)
    if dtype is not None and bool(quantised) != (dtype == "int8"):  # model.onnx replaced by the int8 graph ran as "onnx float32"
        what = (f"holds int8 quantisation operators ({', '.join(quantised)}): it is an int8 graph" if quantised
                else "has no int8 quantisation operator: it is a float32 graph")
        raise ModelError(f"{graph.name} {what} under the {dtype} graph's name (a file put in its place?), so its scores would "
                         f"be recorded as {dtype}'s.", source=source, fix=fix)
    n = len(meta["labels"])
    inputs = {k: (v[0], v[1]) for k, v in facts["inputs"].items()}
    want_in = {"waveforms": (_FLOAT, 2), "lengths": (_INT64, 1)}
    if set(inputs) != set(want_in) or any(inputs[k][0] != t or len(inputs[k][1]) != r for k, (t, r) in want_in.items()):
        raise ModelError(f"{graph.name} takes inputs {sorted(inputs)}; an export takes waveforms (float32, batch × samples) "
                         "and lengths (int64, batch).", source=source, fix=fix)
    outputs = {k: (v[0], v[1]) for k, v in facts["outputs"].items()}
    if set(outputs) != set(OUTPUT_NAMES):
        raise ModelError(f"{graph.name} gives outputs {sorted(outputs)}; an export gives {list(OUTPUT_NAMES)}.", source=source, fix=fix)
    for name, rank in (("scores", 2), ("logits", 2), ("frame_scores", 3), ("frame_logits", 3)):
        shape = outputs[name][1]
        if len(shape) != rank or shape[-1] != n:
            shown = "×".join("?" if d is None else str(d) for d in shape)
            raise ModelError(f"{graph.name}'s output {name!r} has shape {shown}, but {META_FILE} names {n} labels "
                             f"(the last size must be {n}).", source=source, fix=fix)
    if facts.get("external"):
        raise ModelError(f"{graph.name} keeps tensor(s) {facts['external'][:3]} in external data files; an export keeps every "
                         "weight inside the graph, which its checksum covers.", source=source, fix=fix)
    largest = facts["largest_constant"]
    if largest is not None and (bool(largest[2]) or float(largest[1]) > MAX_CONSTANT_ELEMENTS):
        raise ModelError(f"{graph.name} has a {largest[0]} node asking for {float(largest[1]):.3g} "
                         f"elements (more than {MAX_CONSTANT_ELEMENTS:.0e}).", source=source, fix=fix)
    unknown = sorted(set(facts["ops"]) - EXPORT_OPS)
    if unknown:
        raise ModelError(f"{graph.name} uses operator(s) {unknown} that no export of the workbench contains "
                         "(Loop/Scan/If would run for as long as the graph says).", source=source, fix=fix)
    stamped = facts["stamped"]
    if "labels" in stamped and stamped["labels"] != meta["labels"]:
        raise ModelError(f"{META_FILE} names labels {meta['labels']}, but the graph was exported with {stamped['labels']}.",
                         source=source, fix=fix)
    if "temperature" in stamped and stamped["temperature"] != meta.get("temperature"):
        raise ModelError(f"{META_FILE} says temperature {meta.get('temperature')!r}, but the graph has "
                         f"{stamped['temperature']!r} baked in.", source=source, fix=fix)
    if sha256 is not None and not remembered:
        remember_graph_facts(sha256, facts)
    return stamped


def time_budget_for(meta: dict) -> float:
    """Seconds one batch may take: ``WORKBENCH_ONNX_BUDGET_S`` or 600 (a 120 s clip of ``large`` takes ~10 s on one core)."""
    env = os.environ.get("WORKBENCH_ONNX_BUDGET_S", "").strip()
    if not env:
        return 600.0
    try:
        value = float(env)
    except ValueError:
        value = float("nan")
    if not (np.isfinite(value) and value > 0):  # 'ten', -5, inf and 0 ran silently under 600 s
        raise ConfigError(f"this environment variable is {env[:80]!r}, not a number of seconds above 0.", source="WORKBENCH_ONNX_BUDGET_S",
                          fix="set it to the seconds one batch may take (e.g. 600, the default), or unset it.")
    return value


def check_outputs(out: dict, lengths: np.ndarray, *, n_labels: int, names: list[str], source: str) -> None:
    """Refuse a batch whose outputs a real export cannot give: wrong label count, NaN/±inf, impossible frame counts.

    Raises :class:`ModelError` naming the clips; the engine then retries them one at a time, so only the clips
    with bad outputs become failed rows (never ``ok`` rows with NaN scores).
    """
    b = len(lengths)
    logits = np.asarray(out["logits"])
    if logits.ndim != 2 or logits.shape != (b, n_labels):
        raise ModelError(f"the graph gave logits of shape {logits.shape} for {b} clip(s) and {n_labels} labels.", source=source,
                         fix="use a folder written by `workbench model export-onnx`.")
    frames = np.asarray(out["frame_lengths"])
    # the conv front end gives floor((L - 400) / 320) + 1 frames; allow one either way for rounding of other strides
    most = (lengths.astype(np.int64) - 400) // 320 + 2
    if frames.shape != (b,) or not np.issubdtype(frames.dtype, np.integer) or np.any(frames < 1) or np.any(frames > most):
        raise ModelError(f"the graph gave frame_lengths {frames.tolist()[:5]} for clips of {lengths.tolist()[:5]} samples "
                         "(each must be from 1 to the clip's 50 frames/s count).", source=source,
                         fix="use a folder written by `workbench model export-onnx`.")
    bad = [names[r] for r in range(b) if not np.isfinite(logits[r]).all()]
    if "embedding" in out:
        emb = np.asarray(out["embedding"])
        bad += [names[r] for r in range(b) if emb.ndim == 2 and emb.shape[0] == b and not np.isfinite(emb[r]).all() and names[r] not in bad]
    if bad:
        raise ModelError(f"the graph gave NaN or infinite outputs for {', '.join(repr(x) for x in bad[:5])}"
                         f"{f' and {len(bad) - 5} more' if len(bad) > 5 else ''}.", source=source,
                         fix="these scores mean nothing; check the graph (export the model again) and the clips.")
    for key in ("frame_logits", "frame_embeddings"):
        if key in out:
            arr = np.asarray(out[key])
            if arr.ndim != 3 or arr.shape[0] != b or arr.shape[1] < int(frames.max()):
                raise ModelError(f"the graph gave {key} of shape {arr.shape} for frame_lengths up to {int(frames.max())}.",
                                 source=source, fix="use a folder written by `workbench model export-onnx`.")
            if key == "frame_logits" and arr.shape[2] != n_labels:
                raise ModelError(f"the graph gave {key} with {arr.shape[2]} labels, not {n_labels}.", source=source,
                                 fix="use a folder written by `workbench model export-onnx`.")
            if not all(np.isfinite(arr[r, : int(frames[r])]).all() for r in range(b)):
                raise ModelError(f"the graph gave NaN or infinite {key}.", source=source,
                                 fix="these scores mean nothing; check the graph (export the model again) and the clips.")


def load_onnx_model(folder: str | os.PathLike, *, dtype: str = "float32", device: str = "cpu",
                    threads: int | None = None, split: int = 1) -> OnnxModel:
    """Open an export folder with ONNX Runtime.

    Parameters
    ----------
    folder : path
        Written by :func:`workbench.model.onnx_export.export_onnx`.
    dtype : {"auto", "float32", "int8"}
        Which graph to run (see :func:`resolve_onnx_dtype`).
    device : {"cpu", "cuda", "auto"}
        ``cuda`` needs onnxruntime-gpu (``CUDAExecutionProvider``); ``auto`` takes it when present.
    threads : int, optional
        Intra-op threads (default: ``OMP_NUM_THREADS``, else the cores this process may use; with ``split``, that
        many cores shared among the parts).
    split : int
        On the CPU, each batch cut into this many parts run at once on the one session (:func:`run_bounded`), each
        with its share of the cores as intra-op threads: ``--dtype auto`` measures 1 against 2 (``tiny``'s operators
        are too small for two threads to share one run).
    """
    import onnxruntime as ort

    t0 = time.perf_counter()
    meta = read_meta(folder)
    folder = Path(folder).expanduser()
    chosen, _ = resolve_onnx_dtype(dtype, folder)
    graph = folder / (ONNX_INT8_FILE if chosen == "int8" else ONNX_FILE)
    available = ort.get_available_providers()
    if device == "auto":
        device = "cuda" if "CUDAExecutionProvider" in available and chosen == "float32" else "cpu"
    providers, float32_math = onnx_providers(device, chosen, available)
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: ORT's warnings would reach the screen otherwise
    if isinstance(split, bool) or not isinstance(split, int) or not 1 <= split <= max(1, cpu_threads()):
        raise ConfigError(f"split must be a whole number from 1 to the {cpu_threads()} core(s) this process may use (each part "
                          f"runs in a thread of its own), given {split!r}.", source=str(folder),
                          fix="pass split=1 (one run a batch) or the number of parts to run at once.")
    options.intra_op_num_threads = max(1, (threads or cpu_threads()) // split) if device == "cpu" else (threads or cpu_threads())
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE":  # the workbench's CLI sets it (cli.share_the_cores):
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # ORT's own threads wait alike
    # judged before ONNX Runtime sees the graph (its constant folding would already build a hostile constant); the
    # checksum comes from the stat-keyed memo, so a graph already checked is neither hashed nor parsed again
    try:  # a published graph of 10 GB (sparse) was hashed for minutes, then parsed whole into memory
        checksum = file_sha256(graph, max_bytes=GRAPH_MAX_BYTES)
    except OSError as exc:
        raise ModelError(f"{graph.name} cannot be read ({exc.strerror or exc}); an export's graph is at most 2 GiB (protobuf's "
                         "limit).", source=str(folder), fix=_GRAPH_FIX) from None
    stamped = check_graph(graph, meta, source=str(folder), sha256=checksum, dtype=chosen)
    keep = wanted(providers)  # a bad WORKBENCH_ORT_OPTIMIZED is refused here, not as ONNX Runtime's error below
    try:
        # through the optimised graph kept for this CPU where one passed its check (issue #28: opening optimises again)
        session, opened = open_session(graph, checksum, options, providers, keep=keep)
    except Exception as exc:  # noqa: BLE001 — ORT raises its own exception types for a bad file
        raise ModelError(f"ONNX Runtime cannot open {graph.name}: {str(exc).strip().splitlines()[-1][:300]}.", source=str(folder),
                         fix="export the model again.") from exc
    # the banner comes from what cannot be edited away: the graph's own stamp and the source weights' checksum
    # against the generated checkpoints this machine knows; model.json can add it, never remove it
    # (a generated checkpoint of another kind, the `cue` one, says its own warning: "RANDOM WEIGHTS" contradicted PyTorch's
    # SYNTHETIC CUES and random_weights false for the same weights)
    generated = [g for c in (stamped.get("source_checksum_sha256"), meta.get("source_checksum_sha256"), checksum) if (g := generated_checksum(c))]
    random_weights = bool(meta.get("random_weights")) or bool(stamped.get("random_weights")) or any(g.get("kind") == "random" for g in generated)
    own = next((str(g["warning"]) for g in generated if isinstance(g.get("warning"), str)), None)
    temperature = meta.get("temperature")
    info = _ModelInfo(
        id=f"{meta.get('source_model')} (onnx {chosen})", kind="onnx", hub=None, revision=None, path=str(folder.resolve()),
        checksum=checksum, parameters=int(meta.get("parameters") or 0), embed_dim=int(meta.get("embed_dim") or 0),
        device=str(device), dtype=chosen, labels=list(meta["labels"]), random_weights=random_weights,
        load_seconds=time.perf_counter() - t0, funasr_version=None,
        warning=RANDOM_WEIGHTS_BANNER if random_weights else own, temperature=temperature, float32_math=float32_math,
    )
    if info.warning:
        logger.warning(info.warning)
    model = OnnxModel(session, meta, info)
    model.split = split if device == "cpu" else 1
    model.opened = opened  # "kept": the optimised graph kept for this CPU (onnx_optimized); "made", "source", "failed check"
    return model


def compare_backends(reference: Any, other: Any, clips: Sequence[Any]) -> dict:
    """Score ``clips`` with both models and return :func:`workbench.analysis.compare.agreement` of ``other`` against ``reference``.

    Returns the agreement dict (``kappa``, ``top1_agreement``, ``max_abs_delta_score``, ``cosine_min`` …).
    """
    a = reference.predict(clips, embeddings=True)
    b = other.predict(clips, embeddings=True)
    sa, sb = np.stack([p.scores for p in a]), np.stack([p.scores for p in b])
    out = agreement([p.label for p in a], [p.label for p in b], sa, sb, np.stack([p.embedding for p in a]), np.stack([p.embedding for p in b]))
    return {**out, "top1_certain": certain_top1(sa, sb)}  # the clips whose label no |Δ score| of this size could flip


def check_clips(n: int = 12, seed: int = 0) -> list[np.ndarray]:
    """Seeded speech-like clips (harmonic voice with vibrato and syllable envelope, 1.5–6 s) for export checks."""
    rng = np.random.default_rng(seed)
    clips = []
    for _ in range(n):
        t = np.arange(int(rng.uniform(1.5, 6.0) * SAMPLE_RATE)) / SAMPLE_RATE
        f0 = 100 + 120 * rng.random() + 20 * np.sin(2 * np.pi * rng.uniform(0.3, 2.0) * t)
        phase = 2 * np.pi * np.cumsum(f0) / SAMPLE_RATE
        y = sum((0.5 / k) * np.sin(k * phase) for k in range(1, 12))
        y = 0.3 * y * np.clip(np.sin(2 * np.pi * rng.uniform(2, 6) * t), 0, None) + 0.01 * rng.standard_normal(len(t))
        clips.append(y.astype(np.float32))
    return clips
