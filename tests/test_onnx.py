"""--dtype auto, the ONNX export and the ONNX Runtime backend (tiny checkpoint)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import speech_like
from workbench.errors import ConfigError, ModelError
from workbench.labels import LABEL_KEYS
from workbench.model.precision import MEASURED, static_cpu_choice
from workbench.model.ref import resolve_dtype

REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------
# ONNX Runtime's providers
# ---------------------------------------------------------------------------
def test_a_float32_graph_on_cuda_asks_onnxruntime_for_ieee_float32_and_records_it():
    """ONNX Runtime's CUDA provider runs float32 MatMul/Conv in TF32 unless told use_tf32 0: a float32 graph on the GPU
    would differ from the CPU's by TF32's rounding while calling itself float32 (no GPU needed: the options are checked)."""
    from workbench.model.building import ORT_EXACT_FLOAT32, onnx_providers

    both = ["CUDAExecutionProvider", "CPUExecutionProvider"]
    providers, math = onnx_providers("cuda:1", "float32", both)
    assert providers == [("CUDAExecutionProvider", {"device_id": 1, "use_tf32": "0"}), "CPUExecutionProvider"]
    assert math == ORT_EXACT_FLOAT32
    providers, math = onnx_providers("cuda", "int8", both)  # integer products: the provider's default stays
    assert providers[0] == ("CUDAExecutionProvider", {"device_id": 0}) and math is None
    assert onnx_providers("cpu", "float32", both) == (["CPUExecutionProvider"], None)
    with pytest.raises(ConfigError, match="no CUDA provider"):
        onnx_providers("cuda", "float32", ["CPUExecutionProvider"])
    with pytest.raises(ConfigError, match="unknown device 'tpu'"):
        onnx_providers("tpu", "float32", both)


# ---------------------------------------------------------------------------
# precision
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("flags, expected", [
    (frozenset({"avx512f", "avx512_bf16", "avx512_vnni"}), ("bfloat16", "CPU has avx512_bf16")),
    (frozenset({"avx512f", "amx_bf16", "amx_tile", "avx512_bf16"}), ("bfloat16", "CPU has amx_bf16")),
    (frozenset({"avx2", "fma"}), ("int8", None)),
    (frozenset(), ("int8", None)),
])
def test_static_cpu_choice_follows_cpu_flags(flags, expected):
    # the rule the Ray driver records (its actors load the model, so nothing is measured there)
    dtype, reason = static_cpu_choice(flags=flags)
    assert dtype == expected[0]
    if expected[1]:
        assert reason == expected[1]
    else:
        assert "no bf16" in reason


def test_auto_on_a_cpu_is_measured_whatever_the_flags():
    for flags in (frozenset({"avx512_bf16"}), frozenset()):
        assert resolve_dtype("auto", "cpu", flags=flags)[0] == MEASURED


@pytest.mark.parametrize("asked", ["float32", "bfloat16", "int8"])
def test_explicit_dtype_is_never_changed(asked):
    # even on a CPU without bf16 kernels, bfloat16 stays bfloat16 when asked for
    assert resolve_dtype(asked, "cpu", flags=frozenset({"avx2"})) == (asked, "asked for")


def test_bad_dtype_requests_are_refused():
    with pytest.raises(ConfigError) as e:
        resolve_dtype("fp8", "cpu")
    assert "auto" in str(e.value) and "float32" in str(e.value)
    with pytest.raises(ConfigError, match="CPU only"):
        resolve_dtype("int8", "cuda")


def test_run_records_the_dtype_choice(tiny_model, tmp_path):
    from workbench.model.checkpoints import build_random_checkpoint
    from workbench.data.manifest import Item, Manifest
    from workbench.model.fastpath import CPU_PATHS, MIN_SPEEDUP
    from workbench.runs.folder import RunFolder
    from workbench.model.ref import ModelRef
    from workbench.runs.driver import run

    ck = build_random_checkpoint(tmp_path / "ck", arch="tiny", seed=0)
    wav = tmp_path / "a.wav"
    sf.write(wav, speech_like(dur=1.5, seed=3), 16000)
    heard = []
    res = run(Manifest([Item(id="a", path=str(wav))], root=tmp_path), out_dir=tmp_path / "run",
              model=ModelRef(str(ck), device="cpu", dtype="auto"), use_cache=False, load_progress=heard.append)
    rf = RunFolder(res.run_dir)
    precision = rf.summary["precision"]
    assert precision["requested"] == "auto" and precision["chosen"] in ("float32",) + CPU_PATHS
    assert rf.summary["model"]["dtype"] == precision["chosen"] == rf.config["dtype"]
    if precision["chosen"] != "float32":  # the agreement figures of the chosen path travel with the run
        agreement = precision["agreement_with_float32"]
        assert agreement["top1_agreement"] >= 0.95 and agreement["cosine_min"] >= 0.99
        expected = precision.get("expected_seconds") or {}
        if len(expected) > 1:  # chosen for this job of 1 clip, start-up included: its model alone may be no faster
            assert precision["job_clips"] == 1
            assert expected[precision["chosen"]] * MIN_SPEEDUP <= expected["float32"]
        else:
            assert precision["x_float32"] > 1.0
    assert Path(precision["measurement"]).is_file()
    said = [line for line in heard if line.startswith("dtype auto → ")]
    assert len(said) == 1 and precision["chosen"] in said[0]  # printed once
    assert rf.summary["model"]["checksum"] == tiny_model.info.checksum  # the checkpoint's, whatever path ran it


# ---------------------------------------------------------------------------
# export and equivalence
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def exported(tiny_model, tmp_path_factory):
    from workbench.model.onnx_export import export_onnx

    # FunASR caches its ALiBi bias at the longest length it has seen: score a 3 s clip first (longer than
    # the 2 s the export traces with, shorter than the 4.6 s held-back clip), so a
    # graph that froze that cache would fail on the held-back clips
    tiny_model.predict([speech_like(dur=3.0, seed=1).astype(np.float32)])
    return export_onnx(tiny_model, tmp_path_factory.mktemp("onnx"), int8=True)


def _held_back_clips():
    # lengths other than the two the export traced with (2.0 s and 1.3 s), one of them barely one frame
    return [speech_like(dur=d, seed=s).astype(np.float32) for d, s in ((3.1, 11), (0.43, 12), (2.27, 13), (1.0, 14), (4.6, 15))]


def test_export_writes_graph_and_metadata(exported, tiny_model):
    meta = json.loads((exported.folder / "model.json").read_text())
    assert meta["labels"] == list(LABEL_KEYS)
    assert meta["sample_rate"] == 16000 and meta["frame_rate"] == 50
    assert meta["source_checksum_sha256"] == tiny_model.info.checksum
    assert meta["random_weights"] is True and "RANDOM WEIGHTS" in meta["warning"]
    assert "layer norm" in meta["normalisation"]["what"]
    import onnx

    graph = onnx.load(str(exported.onnx)).graph
    assert [i.name for i in graph.input] == ["waveforms", "lengths"]
    assert {"scores", "frame_scores", "embedding", "frame_embeddings"} <= {o.name for o in graph.output}
    dims = [d.dim_param for d in graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "samples"]  # dynamic batch and length


def test_onnx_equals_pytorch_within_1e4_on_a_padded_batch(exported, tiny_model):
    import onnxruntime as ort

    clips = _held_back_clips()
    lengths = np.array([len(c) for c in clips], dtype=np.int64)
    batch = np.zeros((len(clips), lengths.max()), np.float32)
    for i, c in enumerate(clips):
        batch[i, : len(c)] = c
    session = ort.InferenceSession(str(exported.onnx), providers=["CPUExecutionProvider"])
    names = ["scores", "frame_scores", "embedding", "frame_embeddings", "frame_lengths"]
    scores, frame_scores, emb, frame_emb, frames = session.run(names, {"waveforms": batch, "lengths": lengths})
    ref = tiny_model.predict(clips, granularity="frame")
    for i, p in enumerate(ref):
        n = int(frames[i])
        assert n == p.n_frames
        np.testing.assert_allclose(scores[i], p.scores, atol=1e-4, rtol=0)
        np.testing.assert_allclose(emb[i], p.embedding, atol=1e-4, rtol=0)
        np.testing.assert_allclose(frame_scores[i, :n], p.frame_scores, atol=1e-4, rtol=0)
        np.testing.assert_allclose(frame_emb[i, :n], p.frame_embeddings, atol=1e-4, rtol=0)
    # each row alone gives what it gives in the batch: padding does not leak
    alone = session.run(["scores"], {"waveforms": clips[1][None, :], "lengths": lengths[1:2]})[0]
    np.testing.assert_allclose(alone[0], scores[1], atol=1e-5, rtol=0)


def test_backend_predict_matches_the_torch_model(exported, tiny_model):
    from workbench.model.onnx_backend import load_onnx_model

    onnx_model = load_onnx_model(exported.folder)
    clips = _held_back_clips()
    got = onnx_model.predict(clips, granularity="frame", ids=[f"c{i}" for i in range(len(clips))])
    ref = tiny_model.predict(clips, granularity="frame")
    assert [p.id for p in got] == [f"c{i}" for i in range(len(clips))]
    for g, r in zip(got, ref):
        assert g.label == r.label and g.n_frames == r.n_frames and g.random_weights
        np.testing.assert_allclose(g.scores, r.scores, atol=1e-4, rtol=0)
        np.testing.assert_allclose(g.frame_scores, r.frame_scores, atol=1e-4, rtol=0)
    assert onnx_model.info.kind == "onnx" and onnx_model.info.checksum != tiny_model.info.checksum
    assert onnx_model.info.to_dict()["float32_math"] is None  # the CPU has no TF32
    with pytest.raises(ModelError, match="400"):
        onnx_model.predict([np.zeros(300, np.float32)])


def test_int8_graph_is_quantised_and_compared(exported):
    import onnx

    from workbench.model.onnx_backend import check_clips, compare_backends, load_onnx_model

    ops = {n.op_type for n in onnx.load(str(exported.int8)).graph.node}
    assert "DynamicQuantizeLinear" in ops or "MatMulInteger" in ops
    a = compare_backends(load_onnx_model(exported.folder, dtype="float32"), load_onnx_model(exported.folder, dtype="int8"), check_clips(6))
    assert a["n"] == 6 and set(a) >= {"kappa", "top1_agreement", "max_abs_delta_score", "cosine_min"}
    # int8 really changes the numbers, and not by much
    assert 0 < a["max_abs_delta_score"] < 0.05
    assert a["cosine_min"] > 0.99


def test_the_front_end_is_exported_as_matmuls_that_int8_takes_but_the_layer_on_the_wave(exported, tiny_model):
    """Export revision 2: the conv front end time-major as MatMuls (no Conv, no transposes around its layer norms),
    quantised in the int8 graph but for its first layer (10 samples of the raw wave).  (The attention's one mask per
    forward cannot show in ``tiny``'s graph, one layer per encoder; the tests above show its values.)"""
    import onnx

    from workbench.model.onnx_export import EXPORT_REVISION, INT8_MIN_ROWS, float32_matmuls

    assert json.loads((exported.folder / "model.json").read_text())["export_revision"] == EXPORT_REVISION == 2
    graph = onnx.load(str(exported.onnx)).graph
    front = [n for n in graph.node if n.name.startswith("/AUDIO/local_encoder/")]
    n_convs = len(tiny_model.network.modality_encoders["AUDIO"].local_encoder.conv_layers)
    assert not [n for n in front if n.op_type in ("Conv", "Transpose")]
    assert len([n for n in front if n.op_type == "MatMul"]) == n_convs
    kept = float32_matmuls(exported.onnx)
    assert kept == [next(n.name for n in front if n.op_type == "MatMul")]  # the first front-end layer only
    rows = {i.name: i.dims[0] for i in graph.initializer if len(i.dims) == 2}
    assert rows[next(n for n in graph.node if n.name == kept[0]).input[1]] < INT8_MIN_ROWS
    int8 = onnx.load(str(exported.int8)).graph
    plain = [n.name for n in int8.node if n.op_type == "MatMul" and n.name.startswith("/AUDIO/local_encoder/")]
    assert plain == kept  # every other front-end layer was quantised


def test_onnx_dtype_requests(exported, tmp_path):
    from workbench.model.onnx_backend import load_onnx_model, resolve_onnx_dtype

    assert resolve_onnx_dtype("auto", exported.folder)[0] == "int8"
    with pytest.raises(ConfigError, match="bfloat16"):
        resolve_onnx_dtype("bfloat16", exported.folder)
    bare = tmp_path / "bare"
    shutil.copytree(exported.folder, bare)
    (bare / "model.int8.onnx").unlink()
    assert resolve_onnx_dtype("auto", bare)[0] == "float32"
    with pytest.raises(ConfigError, match="--int8"):
        load_onnx_model(bare, dtype="int8")
    with pytest.raises(ModelError, match="export-onnx"):
        load_onnx_model(tmp_path)


def _cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "workbench.cli", *args], capture_output=True, text=True, cwd=cwd, env=env)


@pytest.mark.slow
def test_cli_run_with_onnxruntime_equals_torch(exported, tiny_model, tmp_path):
    for i, d in enumerate((1.2, 2.6, 0.8)):
        sf.write(tmp_path / f"c{i}.wav", speech_like(dur=d, seed=20 + i), 16000)
    (tmp_path / "m.csv").write_text("id,path\n" + "".join(f"c{i},c{i}.wav\n" for i in range(3)))
    ck = tiny_model.info.path
    a = _cli("run", "m.csv", "--model", ck, "--dtype", "float32", "--out", "torch", "--no-cache", cwd=tmp_path)
    b = _cli("run", "m.csv", "--backend", "onnxruntime", "--model", str(exported.folder), "--dtype", "float32", "--out", "ort",
             "--no-cache", cwd=tmp_path)
    assert a.returncode == 0 and b.returncode == 0, b.stderr[-2000:]
    from workbench.runs.folder import RunFolder

    ra, rb = RunFolder(tmp_path / "torch").results(), RunFolder(tmp_path / "ort").results()
    cols = [f"score_{k}" for k in LABEL_KEYS]
    np.testing.assert_allclose(ra[cols].to_numpy(float), rb[cols].to_numpy(float), atol=1e-4, rtol=0)
    assert RunFolder(tmp_path / "ort").summary["model"]["kind"] == "onnx"
    bad = _cli("run", "m.csv", "--backend", "onnxruntime", "--model", ck, "--out", "bad", cwd=tmp_path)
    assert bad.returncode == 2 and "export-onnx" in bad.stderr


# ---------------------------------------------------------------------------
# the README's torch-free example, in a virtual environment without torch or FunASR
# ---------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.slow_ci
def test_example_runs_without_torch_and_matches_the_workbench(exported, tiny_model, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = venv / "bin" / "python"
    pip = subprocess.run([str(py), "-m", "pip", "install", "-q", "onnxruntime", "numpy", "soundfile"], capture_output=True, text=True)
    if pip.returncode != 0:
        pytest.skip(f"pip could not install from the registry: {pip.stderr[-500:]}")
    check = subprocess.run([str(py), "-c", "import importlib.util as u; print(u.find_spec('torch'), u.find_spec('funasr'))"],
                           capture_output=True, text=True, check=True)
    assert check.stdout.split() == ["None", "None"]
    clips = _held_back_clips()[:3]
    files = []
    for i, c in enumerate(clips):
        files.append(tmp_path / f"clip{i}.wav")
        sf.write(files[-1], c, 16000, subtype="FLOAT")
    out = subprocess.run([str(py), str(REPO / "examples" / "onnx_score.py"), str(exported.folder), *map(str, files), "--json"],
                         capture_output=True, text=True, env={"PATH": os.environ.get("PATH", "")})
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    ref = tiny_model.predict(clips)
    assert len(rows) == len(ref)
    for row, p in zip(rows, ref):
        assert row["emotion"] == p.label
        np.testing.assert_allclose([row["scores"][k] for k in LABEL_KEYS], p.scores, atol=1e-4, rtol=0)


def test_the_example_refuses_unknown_options_and_unreadable_inputs_in_a_line_not_a_traceback(exported, tmp_path):
    """`onnx_score.py EXPORT clip.wav --int8` opened '--int8' as audio and died in a libsndfile traceback, as did a missing
    file or EXPORT_DIR; now each is one line with the fix, --help exits 0, and a file named like an option goes after --."""
    clip, odd = tmp_path / "clip.wav", tmp_path / "-odd.wav"
    for f in (clip, odd):
        sf.write(f, _held_back_clips()[0], 16000, subtype="FLOAT")

    def example(*args):
        return subprocess.run([sys.executable, str(REPO / "examples" / "onnx_score.py"), *map(str, args)], capture_output=True,
                              text=True, cwd=tmp_path)

    for args, words in (((exported.folder, clip.name, "--fp16"), "unknown option --fp16; the options are --json, --int8"),
                        ((exported.folder, tmp_path / "missing.wav"), "missing.wav: cannot read it as audio"),
                        ((tmp_path / "nowhere", clip.name), "nowhere/model.json: cannot read it")):
        out = example(*args)
        assert out.returncode == 1 and words in out.stderr and "Traceback" not in out.stderr, out.stderr
    out = example("--help")
    assert out.returncode == 0 and "EXPORT_DIR" in out.stdout
    out = example(exported.folder, "--json", "--", odd.name)
    assert out.returncode == 0 and json.loads(out.stdout)["file"] == "-odd.wav"


def test_export_onnx_command_checks_against_pytorch(tiny_model, tmp_path, capsys):
    from workbench.cli import main

    out = tmp_path / "onnx head"  # a space: the suggested command must quote it
    assert main(["model", "export-onnx", "--model", "tiny", "--out", str(out), "--int8", "--check-clips", "4"]) == 0
    text = capsys.readouterr().out
    suggested = next(x for x in text.splitlines() if x.startswith("score files with: ")).split(": ", 1)[1].split("   (")[0]
    assert shlex.split(suggested) == ["workbench", "run", "MANIFEST", "--backend", "onnxruntime", "--model", str(out), "--dtype", "int8"]
    assert (out / "model.onnx").is_file() and (out / "model.int8.onnx").is_file() and (out / "model.json").is_file()
    assert "RANDOM WEIGHTS" in text
    line = next(x for x in text.splitlines() if "onnxruntime float32 vs PyTorch float32" in x)
    assert float(line.split("max |Δ score| ")[1].split(",")[0]) < 1e-4
    assert "onnxruntime int8 vs onnxruntime float32" in text and "kappa" in text
    # each comparison is a gate with auto's bounds, printed with its verdict and recorded in model.json
    from workbench.model.fastpath import MIN_COSINE, MIN_TOP1_AGREEMENT

    for title in ("onnxruntime float32 vs PyTorch float32", "onnxruntime int8 vs onnxruntime float32"):
        line = next(x for x in text.splitlines() if title in x)
        assert f"bound ≥ {MIN_TOP1_AGREEMENT}" in line and f"bound ≥ {MIN_COSINE}" in line and line.endswith(": passed")
    check = json.loads((out / "model.json").read_text())["check"]
    assert check["ok"] is True and check["clips"] == 4
    assert check["bounds"] == {"min_top1_agreement": MIN_TOP1_AGREEMENT, "min_cosine": MIN_COSINE}
    assert set(check["graphs"]) == {"float32", "int8"} and all(g["ok"] and g["agreement"]["n"] == 4 for g in check["graphs"].values())
    # top-1 on 4 clips comes with its denominator and exact interval: 4/4 is [0.025^(1/4), 1] = [0.398, 1] (Clopper-Pearson
    # for k = n), far under the bound, and the screen says that the scores and embeddings carry the check
    fig = check["graphs"]["float32"]["agreement"]
    assert fig["top1_agreement_ci"] == pytest.approx([0.025 ** (1 / 4), 1.0]) and fig["top1_interval_below_bound"] is True
    line = next(x for x in text.splitlines() if "onnxruntime float32 vs PyTorch float32" in x)
    assert "(4/4, exact 95 % interval [0.398, 1.000]" in line
    assert "4 clips cannot show top-1 agreement ≥ 0.95 by themselves: its interval reaches 0.398" in text
    assert main(["model", "export-onnx", "--model", "tiny", "--out", str(out), "--device", "cuda"]) == 2
    # the check names the bytes it judged: a graph swapped after it (here the float32 graph copied over the int8 one)
    # is refused, not run on the strength of another graph's verdict
    from workbench.model.onnx_backend import resolve_onnx_dtype

    assert all(len(g["sha256"]) == 64 for g in check["graphs"].values())
    assert resolve_onnx_dtype("int8", out)[0] == "int8"
    (out / "model.int8.onnx").write_bytes((out / "model.onnx").read_bytes())
    with pytest.raises(ModelError, match="model.int8.onnx changed since its check"):
        resolve_onnx_dtype("int8", out)
    assert resolve_onnx_dtype("auto", out)[0] == "float32"  # the float32 graph is still the one judged


def test_an_export_without_int8_into_a_folder_of_one_with_it_leaves_no_int8_graph_to_run(tiny_model, tmp_path, capsys):
    """An export without --int8 into the folder of one with it kept the earlier model.int8.onnx: `--dtype auto` ran
    that graph, of another export and checked against nobody, under the new model.json's check."""
    from workbench.cli import main
    from workbench.model.onnx_backend import resolve_onnx_dtype

    out = tmp_path / "e"
    assert main(["model", "export-onnx", "--model", "tiny", "--out", str(out), "--int8", "--check-clips", "2"]) == 0
    assert main(["model", "export-onnx", "--model", "tiny", "--out", str(out), "--check-clips", "2"]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["model.json", "model.onnx"]
    assert resolve_onnx_dtype("auto", out) == ("float32", "the export has no model.int8.onnx")
    assert set(json.loads((out / "model.json").read_text())["check"]["graphs"]) == {"float32"}


def test_onnxruntime_backend_refuses_a_temperature_it_would_not_apply(tmp_path, capsys):
    from workbench import cli

    rc = cli.main(["infer", str(tmp_path / "a.wav"), "--backend", "onnxruntime", "--model", str(tmp_path), "--temperature", "2",
                   "--out", str(tmp_path / "out")])
    assert rc == cli.EXIT_USAGE and "--temperature is not applied by the onnxruntime backend" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# the graph check: before ONNX Runtime opens the graph, parsed once per content
# ---------------------------------------------------------------------------
def test_a_checked_graph_is_parsed_once_and_a_changed_one_again_before_onnx_runtime_opens_it(exported, tmp_path, monkeypatch):
    """The facts the check judges are remembered by the graph's sha256: a second load parses nothing, and a graph
    whose bytes changed after a clean load (here a Loop added) is parsed and refused before a session exists."""
    import onnx
    import onnxruntime as ort
    from onnx import helper

    from workbench.model import onnx_backend

    folder = tmp_path / "export"
    shutil.copytree(exported.folder, folder)
    onnx_backend.graph_checks_memo_path().unlink(missing_ok=True)  # other tests loaded the same bytes
    monkeypatch.setenv("WORKBENCH_ORT_OPTIMIZED", "0")  # one session a load (the kept optimised graph: test_onnx_optimized)
    parsed, opened = [], []
    read = onnx_backend._read_graph_facts
    monkeypatch.setattr(onnx_backend, "_read_graph_facts", lambda graph, **kw: parsed.append(graph.name) or read(graph, **kw))
    session = ort.InferenceSession
    monkeypatch.setattr(ort, "InferenceSession", lambda *a, **kw: opened.append(a[0]) or session(*a, **kw))
    first = onnx_backend.load_onnx_model(folder)
    second = onnx_backend.load_onnx_model(folder)
    assert parsed == ["model.onnx"] and len(opened) == 2
    assert first.info.checksum == second.info.checksum

    proto = onnx.load(str(folder / "model.onnx"))
    proto.graph.node.append(helper.make_node("Loop", ["lengths", "", ""], ["looped"]))
    onnx.save(proto, str(folder / "model.onnx"))
    with pytest.raises(ModelError, match="Loop"):
        onnx_backend.load_onnx_model(folder)
    assert parsed == ["model.onnx", "model.onnx"] and len(opened) == 2  # judged again, and ORT never saw it


def test_loading_a_checked_export_again_does_not_import_onnx(exported):
    """Importing the onnx package (its ml_dtypes extension) cost ~1 s, as much as a small run through ONNX Runtime:
    the second process to load the same export finds its facts in the memo and never imports it."""
    code = ("import sys; from workbench.model.onnx_backend import load_onnx_model; "
            "load_onnx_model(sys.argv[1]); print('ONNX IMPORTED', 'onnx' in sys.modules)")
    seen = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", code, str(exported.folder)], capture_output=True, text=True, timeout=300, cwd=REPO)
        assert out.returncode == 0, out.stderr[-2000:]
        seen.append(out.stdout.strip().splitlines()[-1])
    assert seen[1] == "ONNX IMPORTED False", seen


def test_the_graph_memo_is_bounded_in_entry_size_and_count(exported, tmp_path, monkeypatch):
    """Facts are remembered only when small (a graph stamped with megabytes of metadata would slow every later
    load) and for the newest graphs only."""
    import onnx

    from workbench.model import onnx_backend
    from workbench.model.weights import file_sha256

    memo = lambda: json.loads(onnx_backend.graph_checks_memo_path().read_text(encoding="utf-8"))  # noqa: E731
    stamped = tmp_path / "stamped"
    shutil.copytree(exported.folder, stamped)
    proto = onnx.load(str(stamped / "model.onnx"))
    onnx.helper.set_model_props(proto, {**{p.key: p.value for p in proto.metadata_props},
                                        "workbench.note": json.dumps("x" * (onnx_backend.MAX_REMEMBERED_BYTES + 1))})
    onnx.save(proto, str(stamped / "model.onnx"))
    onnx_backend.load_onnx_model(stamped)  # a valid export with a large stamp loads ...
    assert file_sha256(stamped / "model.onnx") not in memo()  # ... and is not remembered

    monkeypatch.setattr(onnx_backend, "MAX_REMEMBERED_GRAPHS", 2)
    for key in ("a" * 64, "b" * 64, "c" * 64):
        onnx_backend.remember_graph_facts(key, {"ops": []})
    assert list(memo())[-2:] == ["b" * 64, "c" * 64] and len(memo()) == 2


def test_a_refused_graph_is_judged_again_each_time_never_remembered(exported, tmp_path):
    import onnx
    from onnx import helper

    from workbench.model import onnx_backend
    from workbench.model.weights import file_sha256

    folder = tmp_path / "if"
    shutil.copytree(exported.folder, folder)
    proto = onnx.load(str(folder / "model.onnx"))
    proto.graph.node.append(helper.make_node("If", ["lengths"], ["branch"]))  # the clean export plus an If
    onnx.save(proto, str(folder / "model.onnx"))
    for _ in range(2):
        with pytest.raises(ModelError, match="If"):
            onnx_backend.load_onnx_model(folder)
    path = onnx_backend.graph_checks_memo_path()
    assert not path.exists() or file_sha256(folder / "model.onnx") not in json.loads(path.read_text(encoding="utf-8"))


def test_an_int8_graph_that_fails_the_export_check_is_flagged_kept_recorded_and_refused(tiny_model, tmp_path, capsys, monkeypatch):
    import workbench.cli.onnx as onnx_cli
    from workbench.cli import main
    from workbench.model.onnx_backend import load_onnx_model, resolve_onnx_dtype

    real = onnx_cli.compare_backends

    def int8_flips_labels(reference, other, clips):  # as a quantisation that broke the head would
        figures = real(reference, other, clips)
        if other.info.dtype == "int8":
            figures.update(top1_agreement=0.5, n_label_flips=len(clips) // 2)
        return figures

    monkeypatch.setattr(onnx_cli, "compare_backends", int8_flips_labels)
    out = tmp_path / "e"
    assert main(["model", "export-onnx", "--model", "tiny", "--out", str(out), "--int8", "--check-clips", "4"]) == 1
    text = capsys.readouterr().out
    line = next(x for x in text.splitlines() if "onnxruntime int8 vs onnxruntime float32" in x)
    assert "FAILED: top-1 agreement 0.500 < 0.95" in line
    assert next(x for x in text.splitlines() if "vs PyTorch float32" in x).endswith(": passed")
    assert "score files with" not in text and "check FAILED for model.int8.onnx" in text
    assert (out / "model.onnx").is_file() and (out / "model.int8.onnx").is_file()  # kept, marked
    check = json.loads((out / "model.json").read_text())["check"]
    assert check["ok"] is False and check["graphs"]["float32"]["ok"] is True
    assert check["graphs"]["int8"]["ok"] is False and check["graphs"]["int8"]["agreement"]["top1_agreement"] == 0.5
    # auto takes the graph that passed; the failing one is refused by name
    chosen, reason = resolve_onnx_dtype("auto", out)
    assert chosen == "float32" and "failed its check" in reason
    with pytest.raises(ModelError, match="model.int8.onnx FAILED its check"):
        load_onnx_model(out, dtype="int8")
    assert load_onnx_model(out, dtype="float32").labels == tuple(LABEL_KEYS)


def test_a_float32_graph_that_failed_its_check_rules_out_both_graphs(exported, tmp_path):
    from workbench.model.onnx_backend import load_onnx_model, resolve_onnx_dtype

    folder = tmp_path / "e"
    shutil.copytree(exported.folder, folder)
    meta = json.loads((folder / "model.json").read_text())
    meta["check"] = {"ok": False, "graphs": {"float32": {"ok": False, "failed": ["min embedding cosine 0.9 < 0.99"]},
                                             "int8": {"ok": True, "failed": []}}}
    (folder / "model.json").write_text(json.dumps(meta))
    for dtype in ("auto", "float32", "int8"):
        with pytest.raises(ModelError, match="model.onnx FAILED its check at export: min embedding cosine 0.9 < 0.99"):
            resolve_onnx_dtype(dtype, folder)
    with pytest.raises(ModelError, match="export again"):
        load_onnx_model(folder, dtype="int8")


def test_the_example_scores_with_the_int8_graph_and_refuses_one_changed_since_its_check(exported, tmp_path):
    """`--int8` was refused as an unknown option though export-onnx --int8 wrote the graph; now it scores with it,
    and a graph whose bytes differ from the ones export-onnx's check judged is refused, as the workbench refuses it."""
    import hashlib
    import shutil

    clip = tmp_path / "clip.wav"
    sf.write(clip, _held_back_clips()[0], 16000, subtype="FLOAT")
    folder = tmp_path / "export"
    shutil.copytree(exported.folder, folder)

    def example(*args):
        return subprocess.run([sys.executable, str(REPO / "examples" / "onnx_score.py"), str(folder), clip.name, "--json", *args],
                              capture_output=True, text=True, cwd=tmp_path)

    f32, i8 = (json.loads(example(*a).stdout) for a in ((), ("--int8",)))
    assert f32["scores"] != i8["scores"]  # a different graph answered
    assert max(abs(f32["scores"][k] - i8["scores"][k]) for k in f32["scores"]) < 0.05
    meta = json.loads((folder / "model.json").read_text())
    digest = hashlib.sha256((folder / meta["int8_file"]).read_bytes()).hexdigest()
    meta["check"] = {"graphs": {"int8": {"ok": True, "sha256": digest}, "float32": {"ok": True}}}
    (folder / "model.json").write_text(json.dumps(meta))
    assert example("--int8").returncode == 0
    with open(folder / meta["int8_file"], "ab") as f:
        f.write(b"\0")
    out = example("--int8")
    assert out.returncode == 1 and "model.int8.onnx: changed since export-onnx checked it" in out.stderr
    del meta["int8_file"]
    (folder / "model.json").write_text(json.dumps(meta))
    out = example("--int8")
    assert out.returncode == 1 and "has no int8 graph" in out.stderr and "Traceback" not in out.stderr

