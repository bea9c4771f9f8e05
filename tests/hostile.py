#!/usr/bin/env python3
"""A generated corpus of hostile inputs (never committed as binaries) and the harness that counts what they do.

Each generator writes its cases under a folder the caller gives and returns them as :class:`Case`
values.  A case that would run code names a *marker* file the code creates: the marker must never
appear.  The harness (``python tests/hostile.py``) runs every case through the commands that read it
and counts inputs tried, refused clearly (non-zero exit with an ``error:`` line and a ``fix:``), code
executed (markers found), files written outside their folder (a before/after listing of a temporary
root and of /tmp), network connections made unasked (a listener on 127.0.0.1 that every URI in the
corpus points at), and the peak memory of the largest input.

    python tests/hostile.py [--keep DIR]
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path

import yaml


@dataclass
class Case:
    """One hostile input: what it is, where it lies, and the marker its code would create."""

    kind: str  # checkpoint | run_folder | experiment | data
    name: str
    path: Path
    marker: Path | None = None
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------

def loop_body():
    """The body of an ONNX Loop that adds 1 to a scalar each turn: with 10^15 turns, a graph that never ends."""
    from onnx import TensorProto, helper

    return helper.make_graph(
        [helper.make_node("Add", ["x_in", "one"], ["x_out"]), helper.make_node("Identity", ["cond_in"], ["cond_out"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("x_in", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), helper.make_tensor_value_info("x_out", TensorProto.FLOAT, [1])],
        initializer=[helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])])

def _marker_code(marker: Path) -> str:
    # what an attacker's code would do: leave a trace we can look for
    return f"open({str(marker)!r}, 'w').write('code ran')\n"


def _copy_checkpoint(base: Path, dst: Path) -> Path:
    shutil.copytree(base, dst)
    return dst


def _edit_config(folder: Path, **changes) -> None:
    cfg = yaml.safe_load((folder / "config.yaml").read_text(encoding="utf-8"))
    cfg.update(changes)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")


class _Payload:
    """A pickle that runs code when unpickled (what a hostile model.pt carries)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('code ran')",))


def hostile_checkpoints(base: Path, root: Path) -> list[Case]:
    """Copies of the tiny checkpoint ``base`` made hostile, under ``root``; each names a marker file."""
    root.mkdir(parents=True, exist_ok=True)
    markers = root / "markers"
    markers.mkdir(exist_ok=True)
    cases = []

    def case(name: str) -> tuple[Path, Path]:
        d = _copy_checkpoint(base, root / name)
        return d, markers / f"{name}.ran"

    d, m = case("remote_code")
    (d / "x.py").write_text(_marker_code(m), encoding="utf-8")
    _edit_config(d, trust_remote_code=True, remote_code=str(d / "x.py"))
    cases.append(Case("checkpoint", "trust_remote_code + remote_code: x.py", d, m))

    d, m = case("remote_code_default")
    (d / "model.py").write_text(_marker_code(m), encoding="utf-8")  # FunASR's default remote_code is "model"
    _edit_config(d, trust_remote_code=True)
    cases.append(Case("checkpoint", "trust_remote_code alone (imports ./model.py)", d, m))

    d, m = case("remote_code_only")
    (d / "x.py").write_text(_marker_code(m), encoding="utf-8")
    _edit_config(d, remote_code=str(d / "x.py"))
    cases.append(Case("checkpoint", "remote_code without trust_remote_code", d, m))

    d, m = case("requirements")
    (d / "setup.py").write_text(_marker_code(m), encoding="utf-8")
    (d / "requirements.txt").write_text(f"-e {d}\n", encoding="utf-8")  # pip would run setup.py
    cases.append(Case("checkpoint", "requirements.txt (pip -e of a setup.py)", d, m))

    d, m = case("pickle")
    import torch

    state = torch.load(base / "model.pt", weights_only=True)
    state["payload"] = _Payload(m)
    with open(d / "model.pt", "wb") as f:
        pickle.dump(state, f)  # a legacy (non-zip) pickle holding code
    cases.append(Case("checkpoint", "pickled payload in model.pt (legacy format)", d, m))

    d, m = case("pickle_zip")
    state = torch.load(base / "model.pt", weights_only=True)
    state["payload"] = _Payload(m)
    torch.save(state, d / "model.pt")
    cases.append(Case("checkpoint", "pickled payload in model.pt (torch zip format)", d, m))

    d, m = case("vad_model")
    _edit_config(d, vad_model="http://127.0.0.1:{port}/vad")
    cases.append(Case("checkpoint", "vad_model: a second model from the network", d, m))

    d, m = case("init_param")
    _edit_config(d, init_param="/etc/passwd")
    cases.append(Case("checkpoint", "init_param outside the folder", d, m))

    d, m = case("frontend")
    _edit_config(d, frontend="WavFrontend", frontend_conf={"cmvn_file": "/etc/passwd"})
    cases.append(Case("checkpoint", "frontend from FunASR's tables", d, m))

    d, m = case("other_model")
    _edit_config(d, model="SenseVoiceSmall")
    cases.append(Case("checkpoint", "model: another FunASR class", d, m))

    d, m = case("unknown_key")
    _edit_config(d, please_run="rm -rf /")
    cases.append(Case("checkpoint", "unknown top-level key", d, m))

    d, m = case("tokenizer")
    _edit_config(d, tokenizer="SentencepiecesTokenizer", tokenizer_conf={"bpemodel": "/etc/passwd"})
    cases.append(Case("checkpoint", "another tokenizer", d, m))

    d, m = case("configuration_json")
    (d / "evil.yaml").write_text(yaml.safe_dump({"model": "Emotion2vec", "trust_remote_code": True,
                                                 "remote_code": str(d / "x.py")}), encoding="utf-8")
    (d / "x.py").write_text(_marker_code(m), encoding="utf-8")
    (d / "configuration.json").write_text(json.dumps({"file_path_metas": {"config": "evil.yaml", "init_param": "model.pt"}}),
                                          encoding="utf-8")
    cases.append(Case("checkpoint", "configuration.json naming a config that asks for remote code", d, m))

    d, m = case("configuration_json_outside")
    (d / "configuration.json").write_text(json.dumps({"file_path_metas": {"config": "../remote_code/config.yaml"}}),
                                          encoding="utf-8")
    cases.append(Case("checkpoint", "configuration.json naming a config outside the folder", d, m))

    d, m = case("yaml_tag")
    (d / "config.yaml").write_text("model: !!python/object/apply:os.system ['touch " + str(m) + "']\n", encoding="utf-8")
    cases.append(Case("checkpoint", "config.yaml with a python YAML tag", d, m))

    d, m = case("not_mapping")
    (d / "config.yaml").write_text("- just\n- a list\n", encoding="utf-8")
    cases.append(Case("checkpoint", "config.yaml that is a list", d, m))
    return cases


# ---------------------------------------------------------------------------
# run folders
# ---------------------------------------------------------------------------
#: every file or folder the workbench writes in a run folder (derived outputs included)
RUN_FOLDER_FILES = (".lock", "log.txt", "config.yaml", "experiment.yaml", "results.parquet", "embeddings.npy", "summary.json",
                    "metrics.json", "metrics_restricted.json", "artifacts.json", "confusion_raw.png", "reliability_raw.png",
                    "breakdown_speaker_raw.png", "parts", "parts/rejected", "parts/part-00001.parquet", "frame_embeddings")


def hostile_run_folders(finished_run: Path, root: Path) -> list[Case]:
    """Copies of a finished run with one planted link each, pointing at a victim outside the folder.

    ``extra["victim"]`` is the outside file (or folder) and ``extra["content"]`` what it must still hold.
    """
    cases = []
    for i, name in enumerate(RUN_FOLDER_FILES):
        d = root / f"link_{i:02d}"
        shutil.copytree(finished_run, d, symlinks=True)
        victim = root / "outside" / f"victim_{i:02d}"
        victim.parent.mkdir(parents=True, exist_ok=True)
        target = d / name
        if name in ("parts", "parts/rejected", "frame_embeddings"):
            victim.mkdir()
            (victim / "keep.txt").write_text("precious", encoding="utf-8")
            if target.exists():
                shutil.rmtree(target)
            content = None
        else:
            victim.write_text("precious", encoding="utf-8")
            if target.exists() or target.is_symlink():
                target.unlink()
            content = "precious"
        target.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(victim, target)
        cases.append(Case("run_folder", f"{name} is a link outside", d, None, {"victim": victim, "content": content, "link": name}))
    return cases


def foreign_part_run(finished_run: Path, other_run: Path, root: Path, *, duplicate: bool = False) -> Case:
    """A copy of ``finished_run`` without its final tables, with a part of ``other_run`` copied (not linked) in,
    or (``duplicate``) a second copy of one of its own parts."""
    d = root / ("duplicate_part" if duplicate else "foreign_part")
    shutil.copytree(finished_run, d)
    for name in ("results.parquet", "embeddings.npy", "summary.json"):
        (d / name).unlink()
    src_dir = d / "parts" if duplicate else other_run / "parts"
    src = sorted(src_dir.glob("part-*.parquet"))[0]
    shutil.copy(src, d / "parts" / "part-00099.parquet")
    shutil.copy(src.with_name(src.name.replace(".parquet", ".emb.npy")), d / "parts" / "part-00099.emb.npy")
    return Case("run_folder", "duplicate part" if duplicate else "part of another run", d)


# ---------------------------------------------------------------------------
# writes and trust (issue #29: links, hostile ONNX graphs, caches, tampered run folders)
# ---------------------------------------------------------------------------
#: the temporary names earlier versions of `model export-onnx` wrote through
OLD_EXPORT_TEMPORARIES = (".model.onnx.tmp", ".model.json.tmp", ".model.int8.onnx.tmp")


def planted_export_links(root: Path) -> list[Case]:
    """Export folders with planted links: at the old temporary names, and at ``model.onnx`` itself.

    ``extra["victims"]`` are the outside files that must still hold ``"precious"``.
    """
    outside = root / "outside"
    outside.mkdir(parents=True, exist_ok=True)
    cases = []
    for name, links in (("temporaries", OLD_EXPORT_TEMPORARIES), ("destination", ("model.onnx",))):
        d = root / f"export_{name}"
        d.mkdir(parents=True, exist_ok=True)
        victims = []
        for k, link in enumerate(links):
            victim = outside / f"victim_{name}_{k}"
            victim.write_text("precious", encoding="utf-8")
            os.symlink(victim, d / link)
            victims.append(victim)
        cases.append(Case("export", f"export folder with links at {', '.join(links)}", d, None, {"victims": victims}))
    return cases


def planted_cache_links(cache_root: Path, outside: Path) -> Case:
    """A prediction cache whose 256 shard folders (``00`` … ``ff``) are all links to one outside folder."""
    outside.mkdir(parents=True, exist_ok=True)
    cache_root.mkdir(parents=True, exist_ok=True)
    for i in range(256):
        os.symlink(outside, cache_root / f"{i:02x}")
    return Case("cache", "prediction cache with linked shard folders", cache_root, None, {"outside": outside})


def _rewire(proto, output: str, build) -> None:
    """Make graph output ``output`` pass through nodes from ``build(raw_name) -> (nodes, initializers, final_name)``."""
    raw = f"{output}__raw"
    for node in proto.graph.node:
        for k, name in enumerate(node.output):
            if name == output:
                node.output[k] = raw
    nodes, inits, final = build(raw)
    proto.graph.node.extend(nodes)
    proto.graph.initializer.extend(inits)
    for node in proto.graph.node:
        for k, name in enumerate(node.output):
            if name == final:
                node.output[k] = output


def hostile_onnx_exports(export_dir: Path, root: Path) -> list[Case]:
    """Copies of a real export (``model.onnx`` + ``model.json``), each changed in one hostile way.

    ``extra["refused"]``: True when loading must refuse it (with ``extra["says"]`` in the message); False when it
    loads and its predictions must become failed rows (``nan_logits``, ``negative_frames``) or carry the banner
    (``json_says_real``).
    """
    import onnx
    from onnx import TensorProto, helper

    def copy(name: str) -> Path:
        d = root / name
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        for f in ("model.onnx", "model.json"):
            shutil.copy(export_dir / f, d / f)
        return d

    def edit_json(d: Path, **changes) -> None:
        meta = json.loads((d / "model.json").read_text(encoding="utf-8"))
        meta.update(changes)
        (d / "model.json").write_text(json.dumps(meta), encoding="utf-8")

    def edit_graph(d: Path, output: str, build) -> None:
        proto = onnx.load(str(d / "model.onnx"))
        _rewire(proto, output, build)
        onnx.save(proto, str(d / "model.onnx"))

    cases = []
    meta = json.loads((export_dir / "model.json").read_text(encoding="utf-8"))
    d = copy("five_labels")  # the graph gives 9 scores, model.json names 5: labels would be silently misread
    edit_json(d, labels=meta["labels"][:5])
    cases.append(Case("onnx", "model.json names 5 labels for a 9-output graph", d, None, {"refused": True, "says": "labels"}))

    d = copy("loop")  # a Loop of 10^15 iterations added to the logits
    body = loop_body()
    edit_graph(d, "logits", lambda raw: (
        [helper.make_node("Loop", ["loop_m", "loop_c", "loop_x"], ["loop_y"], body=body), helper.make_node("Add", [raw, "loop_y"], ["loop_out"])],
        [helper.make_tensor("loop_m", TensorProto.INT64, [], [10 ** 15]), helper.make_tensor("loop_c", TensorProto.BOOL, [], [True]),
         helper.make_tensor("loop_x", TensorProto.FLOAT, [1], [0.0])], "loop_out"))
    cases.append(Case("onnx", "a Loop of 10^15 iterations", d, None, {"refused": True, "says": "Loop"}))

    d = copy("constant_of_shape")  # a 10^5 × 10^5 float tensor (40 GB) summed into the logits
    edit_graph(d, "logits", lambda raw: (
        [helper.make_node("ConstantOfShape", ["cos_shape"], ["cos_big"]), helper.make_node("ReduceSum", ["cos_big"], ["cos_sum"], keepdims=0),
         helper.make_node("Add", [raw, "cos_sum"], ["cos_out"])],
        [helper.make_tensor("cos_shape", TensorProto.INT64, [2], [100_000, 100_000])], "cos_out"))
    cases.append(Case("onnx", "a ConstantOfShape of 10^10 elements", d, None, {"refused": True, "says": "ConstantOfShape"}))

    d = copy("nan_logits")  # logits × NaN
    edit_graph(d, "logits", lambda raw: ([helper.make_node("Mul", [raw, "nan_c"], ["nan_out"])],
                                         [helper.make_tensor("nan_c", TensorProto.FLOAT, [], [float("nan")])], "nan_out"))
    cases.append(Case("onnx", "NaN logits", d, None, {"refused": False, "says": "NaN"}))

    d = copy("negative_frames")  # frame_lengths × -1e9
    edit_graph(d, "frame_lengths", lambda raw: ([helper.make_node("Mul", [raw, "neg_c"], ["neg_out"])],
                                                [helper.make_tensor("neg_c", TensorProto.INT64, [], [-1_000_000_000])], "neg_out"))
    cases.append(Case("onnx", "frame_lengths of -1e9", d, None, {"refused": False, "says": "frame_lengths"}))

    d = copy("json_says_real")  # an export of random weights whose model.json claims otherwise
    edit_json(d, random_weights=False, warning=None)
    cases.append(Case("onnx", "model.json says random_weights: false", d, None, {"refused": False, "says": "banner"}))
    return cases


def tampered_run_folders(finished_run: Path, root: Path) -> list[Case]:
    """Copies of a finished run, each tampered in one way.

    ``extra["resume"]``: a part edited by hand (the final tables removed), which a resumed run must reject;
    otherwise a finished run whose ``results.parquet`` is truncated, holds NaN scores, or whose ``summary.json``
    claims real weights.
    """
    import pandas as pd

    cases = []

    def copy(name: str) -> Path:
        d = root / name
        if d.exists():
            shutil.rmtree(d)
        shutil.copytree(finished_run, d)
        return d

    def edit_part(d: Path, change) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        for name in ("results.parquet", "embeddings.npy", "summary.json"):
            (d / name).unlink()
        part = sorted((d / "parts").glob("part-*.parquet"))[0]
        table = pq.read_table(part)
        df = change(table.to_pandas())
        out = pa.Table.from_pandas(df, preserve_index=False).replace_schema_metadata(table.schema.metadata)
        pq.write_table(out, part)

    def nan_scores(df):
        df.loc[df.index[0], [c for c in df.columns if c.startswith("score_")]] = float("nan")
        return df

    def markup_pred(df):
        df.loc[df.index[0], "pred"] = "<script>alert(1)</script>"
        return df

    d = copy("part_nan_scores")
    edit_part(d, nan_scores)
    cases.append(Case("run_folder", "a part edited to hold NaN scores", d, None, {"resume": True}))
    d = copy("part_markup_pred")
    edit_part(d, markup_pred)
    cases.append(Case("run_folder", "a part edited to predict '<script>'", d, None, {"resume": True}))
    d = copy("results_truncated")
    data = (d / "results.parquet").read_bytes()
    (d / "results.parquet").write_bytes(data[: len(data) // 2])
    cases.append(Case("run_folder", "a truncated results.parquet", d, None, {"resume": False, "says": "results.parquet"}))
    d = copy("results_nan")
    res = pd.read_parquet(d / "results.parquet")
    res.loc[res.index[0], [c for c in res.columns if c.startswith("score_")]] = float("nan")
    res.to_parquet(d / "results.parquet", index=False)
    cases.append(Case("run_folder", "NaN scores in results.parquet", d, None, {"resume": False, "says": "NaN"}))
    d = copy("summary_says_real")
    summary = json.loads((d / "summary.json").read_text(encoding="utf-8"))
    summary["random_weights"] = False
    if isinstance(summary.get("model"), dict):
        summary["model"]["random_weights"] = False
    (d / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    cases.append(Case("run_folder", "summary.json says random_weights: false", d, None, {"resume": False, "says": "banner"}))
    return cases


def safe_attempts(root: Path, manifest: Path, finished_run: Path, clip: Path, attempt) -> None:
    """Run the writes-and-trust corpus through the commands that meet it (``attempt(label, argv, expect_refusal, allowed)``).

    ``finished_run``: a run of ``manifest`` (variant raw, chunks of 8) to tamper with.
    """
    base = root / "safe"
    for name in ("onnx_out", "cache_run"):  # made first, so a command writing into them does not count as touching `safe/`
        (base / name).mkdir(parents=True, exist_ok=True)
    for case in planted_export_links(base / "exports"):
        attempt(f"export-onnx: {case.name}", ["model", "export-onnx", "--model", "tiny", "--out", case.path, "--no-check"],
                expect_refusal="model.onnx" in case.name and "tmp" not in case.name, allowed=[case.path])
    export = base / "exports" / "export_temporaries"
    for case in hostile_onnx_exports(export, base / "onnx"):
        attempt(f"onnx: {case.name} (infer)", ["infer", "--backend", "onnxruntime", "--model", case.path, "--out", base / "onnx_out", clip],
                expect_refusal=case.extra["refused"], allowed=[base / "onnx_out"])
    cache = planted_cache_links(base / "cache", base / "cache_outside")
    attempt("prediction cache with linked shard folders (run)", ["run", manifest, "--out", base / "cache_run", "--model", "tiny",
            "--cache-dir", cache.path], expect_refusal=False, allowed=[base / "cache_run"])
    for value in ("1e308", "5e-324", "1e-300", "true", "nan"):
        attempt(f"temperature {value} (infer)", ["infer", "--model", "tiny", "--temperature", value, "--out", base / "t_out", clip],
                expect_refusal=True, allowed=[])
    attempt("export-onnx --temperature 1e308", ["model", "export-onnx", "--model", "tiny", "--temperature", "1e308",
                                                "--out", base / "t_export", "--no-check"], expect_refusal=True, allowed=[])
    for case in tampered_run_folders(finished_run, base / "tampered"):
        argv = (["run", manifest, "--out", case.path, "--model", "tiny", "--no-cache", "--chunk", "8"] if case.extra["resume"]
                else ["metrics", case.path, "--no-figures"])
        attempt(f"run folder: {case.name} ({argv[0]})", argv, expect_refusal=not case.extra["resume"] and case.extra["says"] != "banner",
                allowed=[case.path])


# ---------------------------------------------------------------------------
# data strings
# ---------------------------------------------------------------------------
#: strings that end up in file names, log lines, HTML and figures
HOSTILE_STRINGS = ("$\\frac{a}{$", "$\\alpha$", "<script>alert(1)</script>", "a\nb\rc", "nul\x00byte", "tel/8k",
                   "../../x", "..", "\u202eevil", "ünïcödé", "x" * 300)


# ---------------------------------------------------------------------------
# a listener that counts connections
# ---------------------------------------------------------------------------
class Listener:
    """A TCP listener on 127.0.0.1 that accepts and counts connections (every URI in the corpus points here)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.accepted += 1
            try:
                conn.close()
            except OSError:
                pass

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


# ---------------------------------------------------------------------------
# experiment files
# ---------------------------------------------------------------------------
def hostile_experiments(manifest: Path, root: Path, uri: str) -> list[Case]:
    """Experiment files that try to reach ``uri``, write outside their folder, or smuggle wrong types and YAML tags.

    ``extra["refused"]`` says whether ``workbench run FILE`` must refuse it (exit 2) or run it without
    doing what it asks (exit 0, a note, no connection).
    """
    root.mkdir(parents=True, exist_ok=True)
    marker = root / "yaml_tag.ran"
    base = {"manifest": str(manifest), "model": "tiny", "chunk_size": 8}
    specs = [
        ("tracking_uri", {"tracking": {"mlflow": {"uri": uri, "experiment": "x"}}}, False),
        ("tracking_no_uri", {"tracking": {"mlflow": {"uri": None}}}, False),
        ("out_escapes", {"out": "../../../../tmp/hostile_out_escape"}, True),
        ("out_absolute", {"out": "/tmp/hostile_out_absolute"}, True),
        ("seed_string", {"seed": "abc"}, True),
        ("frame_embeddings_string", {"frame_embeddings": "yes"}, True),
        ("chunk_size_string", {"chunk_size": "64"}, True),
        ("chunk_size_zero", {"chunk_size": 0}, True),
        ("tracking_unknown_backend", {"tracking": {"wandb": {"uri": uri}}}, True),
        ("tracking_bad_shape", {"tracking": {"mlflow": {"uri": uri, "token": "x"}}}, True),
        ("report_notebook_path", {"reports": [str(root / "evil.ipynb")]}, True),
        ("unknown_key", {"callback": "os.system"}, True),
    ]
    cases = []
    for name, extra, refused in specs:
        p = root / f"{name}.yaml"
        p.write_text(yaml.safe_dump({**base, **extra}, sort_keys=False), encoding="utf-8")
        cases.append(Case("experiment", name, p, None, {"refused": refused}))
    p = root / "yaml_tag.yaml"
    p.write_text(f"manifest: {manifest}\nmodel: !!python/object/apply:os.system ['touch {marker}']\n", encoding="utf-8")
    cases.append(Case("experiment", "yaml_tag", p, marker, {"refused": True}))
    return cases


# ---------------------------------------------------------------------------
# issue #29, limits: files that exhaust the machine, reach out, overwrite; unbounded explain, votes, CSV cells
# (each case runs in its own process, so its peak memory is its own; a watchdog kills one past KILL_MB)
# ---------------------------------------------------------------------------
KILL_MB = 3000


@dataclass
class LimitCase:
    """One input of the limits section: the command line, what it must do, and what it may write."""

    name: str
    argv: list
    expect: str  # "refuse" (exit 2, error + fix) | "run" (exit 0/1, no hostile effect)
    allowed: list = field(default_factory=list)
    check: object = None  # callable(stderr) -> problem string or None
    big: bool = False  # a peak-memory measurement (skipped with --no-big)
    want_rc: int | None = None  # the exit status "run" must give, when it matters


def _alias_bomb(levels: int = 9, width: int = 9) -> str:
    lines = ['a0: &a0 ["' + "x" * 8 + '"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines)


def _crema_votes(path: Path, rows: list[tuple], extra_header: str = "") -> Path:
    head = ",fileName,A,D,F,H,N,S,numResponses,agreement,emoVote" + extra_header
    body = [f"{100000 + i},{name},{a},0,0,1,0,0,3,0.5,A" for i, (name, a) in enumerate(rows, 1)]
    path.write_text("\n".join([head, *body]) + "\n", encoding="utf-8")
    return path


def limits_cases(root: Path, manifest: Path, base_run: Path, clip: Path, uri: str, *, big: bool) -> list[LimitCase]:
    """The inputs of issue #29's items 2, 3, 7, 8, 9 and 12 (generated under ``root``; nothing is committed)."""
    import gzip

    import numpy as np
    import soundfile as sf

    root.mkdir(parents=True, exist_ok=True)
    cases: list[LimitCase] = []
    base = {"manifest": str(manifest), "model": "tiny", "chunk_size": 8}

    def exp(name: str, text: str | None = None, **extra) -> Path:
        p = root / "experiments" / f"{name}.yaml"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text if text is not None else yaml.safe_dump({**base, **extra}, sort_keys=False), encoding="utf-8")
        return p

    short_error = lambda err: None if len(err) < 4000 else f"error output of {len(err):,} characters"  # noqa: E731
    # item 2: experiment files that exhaust the machine
    bomb = _alias_bomb()
    cases.append(LimitCase("experiment: alias bomb under manifest:", ["run", exp("bomb_manifest", bomb + "\nmanifest: *a8\nmodel: tiny\n")],
                           "refuse", check=short_error))
    cases.append(LimitCase("experiment: alias bomb under seed:", ["run", exp("bomb_seed", f"manifest: {manifest}\nmodel: tiny\n" + bomb + "\nseed: *a8\n")],
                           "refuse", check=short_error))
    cases.append(LimitCase("experiment: 100,000 nested [", ["run", exp("nested", f"manifest: {manifest}\nseed: " + "[" * 100000 + "\n")],
                           "refuse", check=short_error))
    cases.append(LimitCase("experiment: 900 kB string under seed:", ["run", exp("seed_long", seed="x" * 900_000)], "refuse", check=short_error))
    cases.append(LimitCase("experiment: 2 MB file", ["run", exp("huge", f"manifest: {manifest}\n" + "# pad\n" * 400_000)], "refuse"))
    for name, step in (("pad end 600 s", {"name": "pad", "end": 600}), ("trim frame_length 1e9", {"name": "trim", "frame_length": 10**9}),
                       ("gain 1e308 dB", {"name": "gain", "db": 1e308}), ("resample to 1e9 Hz", {"name": "resample", "sr": 10**9}),
                       ("highpass order 1000", {"name": "highpass", "order": 1000})):
        cases.append(LimitCase(f"experiment step: {name}", ["run", exp(name.split()[0] + "_" + name.split()[1], variants={"v": [step]})], "refuse"))
    # a chain inside the step bounds whose output passes max_duration_s: each row fails with the reason, the run goes on
    over = exp("chain_over_limit", variants={"v": [{"name": "pad", "start": 30, "end": 30}, {"name": "tempo", "factor": 0.5}]},
               audio={"max_duration_s": 60})
    cases.append(LimitCase("experiment: chain longer than max_duration_s", ["run", over, "--out", root / "runs" / "chain", "--no-cache"],
                           "run", allowed=[root / "runs"], want_rc=1))  # every row failed, with the reason
    # a tampered run folder: config.yaml with an unbounded step, and with an alias bomb
    for name, edit in (("pad end 600 s", "pad"), ("alias bomb", "bomb")):
        d = root / "tampered" / edit
        shutil.copytree(base_run, d)
        cfg = (d / "config.yaml").read_text(encoding="utf-8")
        if edit == "pad":
            data = yaml.safe_load(cfg)
            data["variants"][0]["steps"] = [{"name": "pad", "end": 600.0}]
            (d / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        else:
            (d / "config.yaml").write_text(cfg + bomb.replace("a", "zz") + "\nextra: *zz8\n", encoding="utf-8")
        cases.append(LimitCase(f"run config.yaml: {name} (explain --item)", ["explain", d, "--item", "c0", "--method", "occlusion",
                                                                               "--randomisation", "none", "--steps", "2", "--out", root / "explain_out" / edit],
                               "refuse", allowed=[root / "explain_out"]))
        # metrics reads the results, not the chain: it runs, and nothing grows
        cases.append(LimitCase(f"run config.yaml: {name} (metrics)", ["metrics", d], "run", allowed=[d]))
    # item 3: reach out or overwrite
    cases.append(LimitCase("experiment: hub model someone/name, hub hf", ["run", exp("hub", model="someone/name", hub="hf")], "refuse"))
    cases.append(LimitCase("experiment: engine: ray", ["run", exp("ray", engine="ray")], "refuse"))
    victim = root / "victim_folder"
    victim.mkdir(exist_ok=True)
    for n in ("summary.json", "embeddings.npy"):
        (victim / n).write_text("precious", encoding="utf-8")
    (victim / "experiment.yaml").write_text(yaml.safe_dump({**base, "out": "."}), encoding="utf-8")
    cases.append(LimitCase("experiment: out: . beside a user's files", ["run", victim / "experiment.yaml"], "refuse"))
    # item 7: explain without bounds
    long_clip = root / "clip_60s.wav"
    sf.write(long_clip, (0.1 * np.sin(2 * np.pi * 200 * np.arange(60 * 16000) / 16000)).astype(np.float32), 16000)
    cases.append(LimitCase("explain: 60 s of audio", ["explain", long_clip, "--model", "tiny", "--out", root / "explain_out" / "long"],
                           "refuse", allowed=[root / "explain_out"]))
    ctm = root / "million.ctm"
    with open(ctm, "w", encoding="utf-8") as f:
        for i in range(1_000_000):
            f.write(f"utt 1 {i * 1e-6:.6f} 0.000001 w{i}\n")
    srt = root / "late.srt"
    srt.write_text("1\n99:59:58,000 --> 99:59:59,000\nlate\n", encoding="utf-8")
    bomb_gz = root / "bomb.jsonl.gz"
    with gzip.open(bomb_gz, "wb", compresslevel=9) as f:
        chunk = b" " * (1 << 20)
        for _ in range(1500):
            f.write(chunk)
    for name, words in (("1,000,000-word CTM", ctm), ("SRT cue at 99:59:59", srt), ("gzip bomb (1.5 GB unpacked)", bomb_gz)):
        cases.append(LimitCase(f"explain --words: {name}", ["explain", clip, "--model", "tiny", "--words", words, "--method", "occlusion",
                                                             "--randomisation", "none", "--steps", "2", "--out", root / "explain_out" / name[:6]],
                               "refuse", allowed=[root / "explain_out"]))
    # item 8: vote files
    crema_manifest = root / "crema" / "manifest.csv"
    crema_manifest.parent.mkdir(parents=True, exist_ok=True)
    wav = root / "crema" / "1001_DFA_ANG_XX.wav"
    shutil.copy(clip, wav)
    crema_manifest.write_text(f"id,path,label\n1001_DFA_ANG_XX,{wav.name},ANG\n", encoding="utf-8")
    for name, value in (("count -3", "-3"), ("count NaN", "nan"), ("count Inf", "inf"), ("count 1e308", "1e308"), ("count 2.5", "2.5")):
        v = _crema_votes(root / "crema" / f"votes_{name.split()[1]}.csv", [("1001_DFA_ANG_XX", value)])
        cases.append(LimitCase(f"votes: CREMA-D {name}", ["datasets", "import-votes", crema_manifest, "--format", "crema-d-tabulated",
                                                           "--votes", v, "--out", root / "crema" / "out.csv"], "refuse", allowed=[root / "crema"]))
    v = _crema_votes(root / "crema" / "votes_dup.csv", [("1001_DFA_ANG_XX", 2), ("1001_DFA_ANG_XX", 5)])
    cases.append(LimitCase("votes: duplicate id", ["datasets", "import-votes", crema_manifest, "--format", "crema-d-tabulated", "--votes", v,
                                                    "--out", root / "crema" / "out.csv"], "refuse", allowed=[root / "crema"]))
    v = root / "crema" / "votes_field.csv"
    v.write_text(",fileName,A,D,F,H,N,S\n100001,1001_DFA_ANG_XX,1,0,0,0,0,0\n100002,\"" + "x" * 200_000 + "\",1,0,0,0,0,0\n", encoding="utf-8")
    cases.append(LimitCase("votes: a 200 kB field", ["datasets", "import-votes", crema_manifest, "--format", "crema-d-tabulated", "--votes", v,
                                                      "--out", root / "crema" / "out.csv"], "refuse", allowed=[root / "crema"]))
    v = _crema_votes(root / "crema" / "votes_rows.csv", [("1001_DFA_ANG_XX", 1)] + [(f"1001_X{i}", 1) for i in range(1, 1_000_000)])
    cases.append(LimitCase("votes: 10^6 rows", ["datasets", "import-votes", crema_manifest, "--format", "crema-d-tabulated", "--votes", v,
                                                 "--out", root / "crema" / "out_rows.csv"], "run", allowed=[root / "crema"]))
    # manifests
    m = root / "manifest_field.csv"
    m.write_text("id,path,text\na,a.wav," + "x" * 200_000 + "\n", encoding="utf-8")
    cases.append(LimitCase("manifest: a 200 kB field", ["run", m, "--model", "tiny", "--out", root / "runs" / "field"], "refuse", allowed=[root / "runs"]))
    # item 9: formula cells
    fdir = root / "formula"
    fdir.mkdir(exist_ok=True)
    for i, n in enumerate(('=HYPERLINK("evil")', "+1+1", "@SUM(1)")):
        shutil.copy(clip, fdir / f"{n}.wav")
    fm = fdir / "manifest.csv"
    fm.write_text("id,path,label\n" + "".join(f'"{n.replace(chr(34), chr(34) * 2)}","{n.replace(chr(34), chr(34) * 2)}.wav",happy\n'
                                                for n in ('=HYPERLINK("evil")', "+1+1", "@SUM(1)")), encoding="utf-8")
    fvar = fdir / "variants.yaml"
    fvar.write_text(yaml.safe_dump({"variants": {"raw": [], "quiet": [{"name": "gain", "db": -20}]}}), encoding="utf-8")
    cases.append(LimitCase("formula ids: run", ["run", fm, "--model", "tiny", "--variants", fvar, "--out", root / "runs" / "formula", "--no-cache"],
                           "run", allowed=[root / "runs"]))
    cases.append(LimitCase("formula ids: compare (flips.csv)", ["compare", root / "runs" / "formula"], "run", allowed=[root / "runs"]))
    # item 12: careless — a FIFO and a broken link in a folder given to `manifest`
    cf = root / "careless"
    cf.mkdir(exist_ok=True)
    shutil.copy(clip, cf / "ok.wav")
    os.mkfifo(cf / "pipe.wav")
    os.symlink(cf / "gone.wav", cf / "broken.wav")
    cases.append(LimitCase("manifest: FIFO and broken link", ["manifest", cf, "--out", root / "careless_manifest.csv"], "run",
                           allowed=[root / "careless_manifest.csv"],
                           check=lambda err: None if "pipe.wav" in err and "broken.wav" in err else "the skipped FIFO or link is not named"))
    # bounded memory: the peaks of accepted inputs
    if big:
        big_wav = _big_wav(root / "big.wav")
        cases.append(LimitCase("infer: 200 MB WAV (32 s, 8 ch, 192 kHz float)", ["infer", "--model", "tiny", "--out", root / "big_out", big_wav],
                               "run", allowed=[root / "big_out"], big=True))
        w115 = root / "clip_115s.wav"
        sf.write(w115, (0.1 * np.sin(2 * np.pi * 200 * np.arange(115 * 16000) / 16000)).astype(np.float32), 16000)
        cases.append(LimitCase("infer: 115 s WAV (under the 120 s limit)", ["infer", "--model", "tiny", "--out", root / "big_out", w115],
                               "run", allowed=[root / "big_out"], big=True))
        w30 = root / "clip_30s.wav"
        sf.write(w30, (0.1 * np.sin(2 * np.pi * 200 * np.arange(30 * 16000) / 16000)).astype(np.float32), 16000)
        cases.append(LimitCase("explain: 30 s (the cap), 3 methods, no randomisation", ["explain", w30, "--model", "tiny", "--randomisation",
                                                                                      "none", "--out", root / "explain_out" / "w30"],
                               "run", allowed=[root / "explain_out"], big=True))
    return cases


def _run_measured(argv: list, *, timeout: float = 900) -> tuple[int, str, float, bool]:
    """Run ``workbench ARGV`` in its own process: exit status, stderr, peak resident memory (MB), killed by the watchdog."""
    import subprocess
    import sys
    import time

    import tempfile

    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1", "WORKBENCH_OFFLINE": "1"}
    # a forked child's ru_maxrss starts at its parent's size (Linux keeps it across exec): /usr/bin/time, a small
    # process, forks the command and reports the command's own peak; without it, VmHWM is sampled
    time_file = tempfile.NamedTemporaryFile(prefix="hostile-time-", delete=False)
    time_file.close()
    timer = ["/usr/bin/time", "-f", "%M", "-o", time_file.name] if os.path.exists("/usr/bin/time") else []
    proc = subprocess.Popen([*timer, sys.executable, "-m", "workbench.cli", *map(str, argv)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    hwm_kb = 0
    killed = False
    err_chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: err_chunks.append(proc.stderr.read()), daemon=True)
    reader.start()
    t0 = time.monotonic()
    while True:  # os.wait4, not Popen.poll: its rusage is this child's own peak
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        rss_kb = 0
        for pid_ in [proc.pid, *_children(proc.pid)]:
            try:
                with open(f"/proc/{pid_}/status") as f:
                    fields_ = {line.split(":")[0]: line.split()[1] for line in f if line.startswith(("VmRSS", "VmHWM"))}
                rss_kb = max(rss_kb, int(fields_.get("VmRSS", 0)))
                hwm_kb = max(hwm_kb, int(fields_.get("VmHWM", 0)))
            except (OSError, ValueError, IndexError):
                pass
        if rss_kb > KILL_MB * 1024 or time.monotonic() - t0 > timeout:
            killed = True
            for child in _children(proc.pid):  # the command under /usr/bin/time
                try:
                    os.kill(child, 9)
                except OSError:
                    pass
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.1)
    rc = os.waitstatus_to_exitcode(status)
    proc.returncode = rc
    reader.join(timeout=5)
    try:
        timed = [line for line in Path(time_file.name).read_text().splitlines() if line.strip().isdigit()]
        peak = int(timed[-1]) / 1024 if timed else hwm_kb / 1024
    finally:
        os.unlink(time_file.name)
    return rc, b"".join(err_chunks).decode("utf-8", "replace"), peak, killed


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def limits_section(root: Path, manifest: Path, base_run: Path, clip: Path, listener: "Listener", *, big: bool) -> dict:
    """Run :func:`limits_cases`; return the tallies and one row per case (name, exit, verdict, peak MB)."""
    cases = limits_cases(root, manifest, base_run, clip, listener.uri, big=big)
    out = {"tried": 0, "refused": 0, "ran_ok": 0, "unclear": [], "exit3": 0, "outside": [], "rows": [], "formula_cells": 0}
    for case in cases:
        before = _listing(root)
        accepted = listener.accepted
        rc, err, peak, killed = _run_measured(case.argv)
        after = _listing(root)
        out["tried"] += 1
        clear = rc == 2 and "error:" in err and "fix:" in err and "Traceback" not in err
        problem = case.check(err) if case.check else None
        if killed:
            verdict = f"killed over {KILL_MB} MB"
        elif case.expect == "refuse" and clear and not problem:
            verdict = "refused"
            out["refused"] += 1
        elif case.expect == "run" and rc in (0, 1) and (case.want_rc is None or rc == case.want_rc) and not problem:
            verdict = f"ran (exit {rc})"
            out["ran_ok"] += 1
        else:
            last = err.strip().splitlines()[-1][:160] if err.strip() else ""
            verdict = f"UNCLEAR exit {rc}: {problem or last}"
            out["unclear"].append(f"{case.name}: {verdict}")
        out["exit3"] += rc == 3
        if listener.accepted != accepted:
            out["unclear"].append(f"{case.name}: {listener.accepted - accepted} connection(s)")
        changed = [p for p, st in after.items() if before.get(p) != st]
        out["outside"] += [p for p in changed if not any(p == str(a) or p.startswith(str(a) + os.sep) for a in case.allowed)]
        out["rows"].append((case.name, rc, verdict, peak))
    for csv_path in (root / "runs" / "formula").rglob("*.csv"):
        for line in csv_path.read_text(encoding="utf-8").splitlines():
            out["formula_cells"] += sum(1 for cell in line.split(",") if cell.lstrip('"').startswith(("=", "+", "@")))
    return out


# ---------------------------------------------------------------------------
# the harness
# ---------------------------------------------------------------------------
def _cli(*argv) -> tuple[int, str]:
    import contextlib
    import io

    from conftest import private_model_cache
    from workbench import cli
    from workbench.model.network import clear_cache

    out, err = io.StringIO(), io.StringIO()
    with private_model_cache(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        clear_cache()
        try:
            rc = cli.main([str(a) for a in argv])
        except SystemExit as exc:  # argparse
            rc = exc.code if isinstance(exc.code, int) else 2
    return rc, err.getvalue()


def _listing(root: Path) -> dict[str, tuple[int, int]]:
    seen = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in filenames + dirnames:
            p = os.path.join(dirpath, n)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            seen[p] = (st.st_size, st.st_mtime_ns)
    return seen


def _big_wav(path: Path, seconds: float = 32.0, sr: int = 192000, channels: int = 8) -> Path:
    """A float WAV of ``seconds`` × ``channels`` at ``sr`` (32 s × 8 × 192 kHz ≈ 197 MB), written in blocks."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", samplerate=sr, channels=channels, subtype="FLOAT") as f:
        for _ in range(int(seconds)):
            t = np.arange(sr) / sr
            block = 0.1 * np.sin(2 * np.pi * 220 * t)[:, None] + 0.01 * rng.standard_normal((sr, channels))
            f.write(block.astype(np.float32))
    return path


def _peak_rss_mb(argv: list[str]) -> tuple[float, int]:
    """Peak resident memory (MB) of a ``workbench`` subprocess, and its exit status."""
    import resource
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(repo), "OMP_NUM_THREADS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    rc = subprocess.run([sys.executable, "-m", "workbench.cli", *argv], env=env, capture_output=True).returncode
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(after, before) / 1024, rc


def main(argv: list[str] | None = None) -> int:
    import argparse
    import tempfile

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keep", default=None, help="keep the corpus in this folder")
    ap.add_argument("--no-big", action="store_true", help="skip the peak-memory measurements (200 MB WAV, 115 s WAV, 30 s explain)")
    ap.add_argument("--only", action="append", choices=["round1", "safe", "limits"], default=None,
                    help="run only this section (repeatable; default: all): round1 = issue #19's corpus; safe = issue #29's "
                         "planted links, ONNX graphs, tampered runs, temperatures; limits = issue #29's files that exhaust, "
                         "reach out or overwrite, explain, votes, CSV cells, careless inputs, peak memory")
    args = ap.parse_args(argv)
    sections = set(args.only or ["round1", "safe", "limits"])
    os.environ.setdefault("WORKBENCH_OFFLINE", "1")
    root = Path(args.keep or tempfile.mkdtemp(prefix="hostile-"))
    root.mkdir(parents=True, exist_ok=True)
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from conftest import speech_like  # noqa: E402
    import soundfile as sf

    from workbench.model.checkpoints import ensure_random_checkpoint
    from workbench.data.manifest import Item, Manifest, write_manifest
    from workbench.runs.driver import Variant, run

    listener = Listener()
    tally = {"tried": 0, "refused": 0, "ran_ok": 0, "unclear": 0}
    unclear: list[str] = []
    markers: list[Path] = []
    tmp_before = {p.name for p in Path("/tmp").iterdir()}

    def attempt(label: str, argv, *, expect_refusal: bool, allowed: list[Path]) -> None:
        before = _listing(root)
        rc, err = _cli(*argv)
        after = _listing(root)
        tally["tried"] += 1
        if rc == 2 and "error:" in err and "fix:" in err and "Traceback" not in err:
            tally["refused"] += 1
        elif rc in (0, 1) and not expect_refusal:
            tally["ran_ok"] += 1
        else:
            tally["unclear"] += 1
            unclear.append(f"{label}: exit {rc}: {err.strip().splitlines()[-1] if err.strip() else ''}")
        changed = [p for p, st in after.items() if before.get(p) != st]
        outside = [p for p in changed if not any(p == str(a) or p.startswith(str(a) + os.sep) for a in allowed)]
        tally.setdefault("outside", []).extend(outside)

    # data: a small corpus with hostile speakers and variant names
    data = root / "data"
    (data / "audio").mkdir(parents=True, exist_ok=True)
    items = []
    for i, spk in enumerate(HOSTILE_STRINGS[:8]):
        sf.write(data / "audio" / f"c{i}.wav", speech_like(16000, 1.0, seed=i), 16000)
        items.append(Item(id=f"c{i}", path=f"audio/c{i}.wav", label="happy" if i % 2 else "sad",
                          emotion="happy" if i % 2 else "sad", speaker=spk.replace("\x00", "NUL")))
    manifest = write_manifest(Manifest(items, root=data), data / "manifest.jsonl")
    base_run = root / "base_run"
    variants = [Variant("raw"), Variant("tel/8k", ({"name": "gain", "db": -3.0},)), Variant("../../x", ({"name": "gain", "db": -6.0},))]
    run(manifest, out_dir=base_run, model="tiny", variants=variants, use_cache=False, chunk_size=4)
    other = root / "other_run"
    run(manifest, out_dir=other, model="tiny", use_cache=False, chunk_size=8)
    clip = data / "audio" / "c0.wav"

    # checkpoints through infer and model info
    for case in (hostile_checkpoints(ensure_random_checkpoint("tiny"), root / "checkpoints") if "round1" in sections else []):
        markers.append(case.marker)
        attempt(f"checkpoint {case.name} (infer)", ["infer", "--model", case.path, "--out", root / "infer_out", clip],
                expect_refusal=True, allowed=[root / "infer_out"])
        attempt(f"checkpoint {case.name} (model info)", ["model", "info", "--model", case.path], expect_refusal=True, allowed=[])
    # run folders with planted links through metrics, compare, embeddings and run (resume)
    for case in (hostile_run_folders(base_run, root / "linked") if "round1" in sections else []):
        for cmd in (["metrics", case.path], ["compare", case.path], ["embeddings", case.path, "--cluster", "none"],
                    ["run", manifest, "--out", case.path, "--model", "tiny", "--no-cache"]):
            attempt(f"run folder {case.name} ({cmd[0]})", cmd, expect_refusal=True, allowed=[])
    for dup in ((False, True) if "round1" in sections else ()):
        # `other` (raw only, chunks of 8) with a part of `base_run` (three variants) or a copy of its own part
        case = foreign_part_run(other, base_run, root / "parts", duplicate=dup)
        attempt(f"run folder {case.name} (run)", ["run", manifest, "--out", case.path, "--model", "tiny", "--no-cache", "--chunk", "8"],
                expect_refusal=False, allowed=[case.path])
        rejected = list((case.path / "parts" / "rejected").glob("*part-00099.parquet"))
        if not rejected:
            unclear.append(f"{case.name}: the part was not rejected")
    # hostile variant names and data strings through the commands that write figures and tables
    for cmd in ((["metrics", base_run, "--by", "speaker"], ["compare", base_run], ["embeddings", base_run, "--cluster", "none"])
                if "round1" in sections else ()):
        attempt(f"hostile strings ({cmd[0]})", cmd, expect_refusal=False, allowed=[base_run])
    # experiment files
    for case in (hostile_experiments(manifest, root / "experiments", listener.uri) if "round1" in sections else []):
        if case.marker:
            markers.append(case.marker)
        attempt(f"experiment {case.name}", ["run", case.path, "--out", root / "exp_runs" / case.name, "--no-cache"]
                if not case.extra["refused"] else ["run", case.path],
                expect_refusal=case.extra["refused"], allowed=[root / "exp_runs"])
    # writes and trust (issue #29): planted links, hostile graphs, caches, temperatures, tampered run folders
    if "safe" in sections:
        safe_attempts(root, manifest, other, clip, attempt)
    # non-UTF-8 file name beside a valid one
    bad_name = os.fsdecode(b"\xff\xfe.wav")
    shutil.copy(clip, data / bad_name)
    if "round1" in sections:
        attempt("non-UTF-8 file name (infer)", ["infer", "--model", "tiny", "--out", root / "infer_names", data / bad_name, clip],
                expect_refusal=False, allowed=[root / "infer_names"])

    ran = [m for m in markers if m is not None and m.exists()]
    # /tmp is shared with other processes: look for the names the corpus aims at (out: /tmp/hostile_out_*)
    tmp_new = sorted(n for n in ({p.name for p in Path("/tmp").iterdir()} - tmp_before) if n.startswith("hostile_out"))
    limits = limits_section(root / "limits", manifest, base_run, clip, listener, big=not args.no_big) if "limits" in sections else None
    peak = None
    if not args.no_big and "round1" in sections:
        big = _big_wav(root / "big.wav")
        peak, rc = _peak_rss_mb(["infer", "--model", "tiny", "--out", str(root / "big_out"), str(big)])
        peak = (peak, rc, big.stat().st_size / 1e6)
    listener.close()
    print(f"inputs tried (input × command): {tally['tried']}")
    print(f"refused clearly (exit 2, error + fix, no traceback): {tally['refused']}")
    print(f"ran as asked without the hostile effect (exit 0/1): {tally['ran_ok']}")
    print(f"neither: {tally['unclear']}")
    for line in unclear:
        print(f"  {line}")
    print(f"code executed (marker files found): {len(ran)}")
    print(f"files written outside their folder: {len(tally.get('outside', [])) + len(tmp_new)}")
    for p in tally.get("outside", [])[:10] + tmp_new:
        print(f"  {p}")
    print(f"network connections made unasked: {listener.accepted}")
    if peak:
        print(f"peak memory of `infer` on the largest file ({peak[2]:.0f} MB, 32 s, 8 ch, 192 kHz float): {peak[0]:.0f} MB (exit {peak[1]})")
    if limits is not None:
        print("\nissue #29 (limits): each input in its own process; peak = its maximum resident memory")
        print(f"  {'input':<58} {'exit':>4}  {'peak MB':>7}  verdict")
        for name, rc, verdict, peak_mb in limits["rows"]:
            print(f"  {name[:58]:<58} {rc:>4}  {peak_mb:>7.0f}  {verdict}")
        print(f"  inputs tried: {limits['tried']}; refused clearly: {limits['refused']}; ran as asked: {limits['ran_ok']}; "
              f"neither: {len(limits['unclear'])}; exit 3: {limits['exit3']}")
        for line in limits["unclear"]:
            print(f"    {line}")
        print(f"  files written outside their folder: {len(limits['outside'])}")
        for p in limits["outside"][:10]:
            print(f"    {p}")
        print(f"  CSV cells that would run as formulas: {limits['formula_cells']}")
        print(f"  largest peak: {max(r[3] for r in limits['rows']):.0f} MB")
    print(f"corpus in {root}")
    bad = bool(ran or tally.get("outside") or tmp_new or listener.accepted)
    if limits is not None:
        bad = bad or bool(limits["unclear"] or limits["outside"] or limits["exit3"] or limits["formula_cells"])
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
