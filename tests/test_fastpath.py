"""``--dtype auto`` on the CPU: the measured choice, the cached ONNX export, and every fast path against float32 (tiny)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from tests.conftest import speech_like
from workbench.errors import ConfigError
from workbench.model import fastpath
from workbench.model.fastpath import acceptable, agreement_figures, choose
from workbench.model.network import Prediction


def _record(**paths):
    base = {"float32": {"seconds": 1.0, "x_float32": 1.0, "ok": True}}
    good = {"clips": 4, "top1_same": 4, "top1_agreement": 1.0, "max_abs_delta_score": 0.001, "cosine_min": 0.9999}
    for name, (seconds, agreement) in paths.items():
        name = name.replace("_", "-")
        base[name] = {"seconds": seconds, "agreement": agreement or good, "ok": acceptable(agreement or good)}
    return {"paths": base}


# ---------------------------------------------------------------------------
# the choice (pure)
# ---------------------------------------------------------------------------
def test_choose_takes_the_fastest_path_that_agrees():
    record = _record(bfloat16=(0.5, None), int8=(0.4, None), onnx_int8=(0.2, None))
    assert choose(record)[0] == "onnx-int8"
    assert choose(record, allow_onnx=False)[0] == "int8"  # a temperature: no ONNX path


def test_choose_never_takes_a_path_that_disagrees_with_float32():
    flips = {"clips": 4, "top1_same": 2, "top1_agreement": 0.5, "max_abs_delta_score": 0.3, "cosine_min": 0.999}
    bent = {"clips": 4, "top1_same": 4, "top1_agreement": 1.0, "max_abs_delta_score": 0.01, "cosine_min": 0.9}
    record = _record(bfloat16=(0.6, None), int8=(0.1, flips), onnx_int8=(0.1, bent))
    assert choose(record)[0] == "bfloat16"
    assert choose(_record(int8=(0.1, flips)))[0] == "float32"


def test_choose_keeps_float32_when_nothing_is_faster():
    name, reason = choose(_record(bfloat16=(0.99, None), int8=(1.3, None)))
    assert name == "float32" and "beat float32" in reason


def _timed_record():
    """float32 and bfloat16 start in ~2.5 s (torch, 1.4 s of it); ONNX Runtime in 0.5 s but scores 3x slower."""
    record = _record(bfloat16=(0.01, None), onnx_int8=(0.03, None))
    record["clips"] = {"n": 4}
    for name, start in (("float32", 2.5), ("bfloat16", 2.6), ("onnx-int8", 0.5)):
        record["paths"][name]["start_seconds"] = start
        record["paths"][name]["start_imports_torch"] = name != "onnx-int8"
        if name != "onnx-int8":
            record["paths"][name]["torch_import_seconds"] = 1.4
    record["paths"]["float32"]["seconds"] = 0.04
    return record


def test_auto_chooses_by_the_jobs_time_start_up_included(monkeypatch):
    record = _timed_record()
    monkeypatch.delitem(sys.modules, "torch", raising=False)  # a fresh process: torch not imported yet
    small, reason = choose(record, job_clips=24)
    assert small == "onnx-int8" and "24 clips" in reason and "start-up included" in reason
    # 24 clips: 0.5 + 0.03/4*24 = 0.68 s through ONNX Runtime against 2.6 + 0.06 = 2.66 s in bfloat16
    assert fastpath.expected_seconds(record, "onnx-int8", 24) == pytest.approx(0.68)
    assert fastpath.expected_seconds(record, "bfloat16", 24) == pytest.approx(2.66)
    assert choose(record, job_clips=100_000)[0] == "bfloat16"  # a corpus: the fastest model wins
    assert choose(record)[0] == "bfloat16"  # no job size: the model time alone, as before


def test_a_process_that_has_torch_already_does_not_pay_for_it_twice(monkeypatch):
    record = _timed_record()
    monkeypatch.setitem(sys.modules, "torch", sys.modules.get("torch") or object())
    assert fastpath.expected_seconds(record, "bfloat16", 24) == pytest.approx(2.6 - 1.4 + 0.06)
    assert fastpath.expected_seconds(record, "onnx-int8", 24) == pytest.approx(0.68)


def test_an_unmeasured_start_up_falls_back_to_the_model_time():
    record = _timed_record()
    del record["paths"]["onnx-int8"]["start_seconds"]  # its probe failed
    assert choose(record, job_clips=24)[0] == "bfloat16"


def test_agreement_figures_see_a_flip_and_a_turned_embedding():
    def pred(scores, emb):
        return Prediction(id="x", scores=np.array(scores), logits=np.log(scores), embedding=np.array(emb, dtype=np.float32))

    ref = [pred([0.7, 0.3], [1, 0]), pred([0.4, 0.6], [0, 1])]
    other = [pred([0.45, 0.55], [1, 0]), pred([0.4, 0.6], [1, 1])]
    f = agreement_figures(ref, other)
    assert f["top1_same"] == 1 and f["top1_agreement"] == 0.5
    assert f["max_abs_delta_score"] == pytest.approx(0.25)
    assert f["cosine_min"] == pytest.approx(1 / np.sqrt(2), abs=1e-6)
    assert not acceptable(f)


def test_the_auto_line_gives_top1_agreement_its_exact_interval_and_ignores_an_edited_one():
    """'top-1 4/4' had its denominator but no interval: 4 of 4 seeded clips allow an agreement as low as 0.40."""
    from scipy.stats import beta

    from workbench.model.agreement import describe_agreement

    def pred(label_scores):
        return Prediction(id="x", scores=np.array(label_scores), logits=np.log(label_scores), embedding=np.ones(2, np.float32))

    same = [pred([0.7, 0.3])] * 4
    f = agreement_figures(same, same)
    assert f["top1_ci"] == [round(beta.ppf(0.025, 4, 1), 4), 1.0]
    assert "top-1 4/4 (95 % CI 0.40–1.00)" in describe_agreement(f)
    assert "CI" not in describe_agreement({**f, "top1_ci": ["<b>", 2]}) and "CI" not in describe_agreement({**f, "top1_ci": None})


# ---------------------------------------------------------------------------
# the measurement and the export, cached (one measurement for the module)
# ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def auto_net(tiny_model):
    from workbench.model.ref import ModelRef

    heard = []
    net = ModelRef("tiny", device="cpu", dtype="auto").load(progress=heard.append)
    return net, heard


def test_auto_loads_a_measured_path_and_says_so_once(auto_net, tiny_model):
    net, heard = auto_net
    precision = net.precision
    assert precision["chosen"] in ("float32",) + fastpath.CPU_PATHS
    assert net.info.dtype == precision["chosen"] and net.info.checksum == tiny_model.info.checksum
    record = json.loads(open(precision["measurement"]).read())
    assert set(record["paths"]) == {"float32", *fastpath.CPU_PATHS}
    assert record["cpu"] == fastpath.cpu_identity() and record["checkpoint_sha256"] == tiny_model.info.checksum and record["checkpoint_identity_sha256"] == tiny_model.info.identity
    assert sum(line.startswith("dtype auto → ") for line in heard) == 1
    for name, p in record["paths"].items():  # every usable path's start-up, from a fresh process
        if p.get("ok"):
            assert p["start_seconds"] > 0, name
            assert p["start_imports_torch"] is (name not in fastpath.ONNX_PATHS), name


def test_auto_told_the_job_size_records_its_expected_times(auto_net):
    from workbench.model.ref import ModelRef

    ref = ModelRef("tiny", device="cpu", dtype="auto")
    ref.forget()
    net = ref.load(job_clips=24)
    expected = net.precision["expected_seconds"]
    assert net.precision["job_clips"] == 24 and "float32" in expected
    assert expected[net.precision["chosen"]] * fastpath.MIN_SPEEDUP <= expected["float32"] or net.precision["chosen"] == "float32"
    # the fastest of the paths that could be chosen; the recorded times are rounded to 0.01 s, so two paths within
    # that of each other may come out in either order here (onnx-float32 and onnx-int8 of `tiny` do)
    paths = json.loads(open(net.precision["measurement"]).read())["paths"]
    candidates = {name: v for name, v in expected.items() if name == "float32" or paths[name].get("ok")}
    assert expected[net.precision["chosen"]] <= min(candidates.values()) + 0.01 or net.precision["chosen"] == "float32"


def test_the_measurement_is_reused_and_redone_when_versions_change(auto_net, tiny_model, monkeypatch):
    from workbench.model.ref import ModelRef

    net, _ = auto_net
    again = ModelRef("tiny", device="cpu", dtype="auto").load()
    assert again.precision["measured_now"] is False and again.precision["measured"] == net.precision["measured"]
    checksum = tiny_model.info.identity
    assert fastpath.cached_record(checksum) is not None
    monkeypatch.setattr(fastpath, "versions", lambda: {"torch": "0.0", "onnxruntime": "0.0", "workbench": "0"})
    assert fastpath.cached_record(checksum) is None  # another torch/onnxruntime: measured again
    monkeypatch.undo()
    monkeypatch.setattr(fastpath, "PATHS_REVISION", fastpath.PATHS_REVISION + 1)
    assert fastpath.cached_record(checksum) is None  # the workbench's own paths changed speed: measured again
    monkeypatch.undo()
    monkeypatch.setattr(fastpath, "cpu_identity", lambda: {"model": "another CPU", "threads": 64, "flags": []})
    assert fastpath.cached_record(checksum) is None


def test_the_export_is_made_once_verified_and_reused(auto_net, tiny_model):
    folder, verified = fastpath.ensure_export(tiny_model)
    assert folder == fastpath.export_folder(tiny_model.info.identity)  # keyed by weights + config.yaml + tokens.txt
    assert verified["source_checksum_sha256"] == tiny_model.info.checksum
    assert verified["source_identity_sha256"] == tiny_model.info.identity != tiny_model.info.checksum
    for graph in ("float32", "int8"):
        assert verified["graphs"][graph]["agreement"]["clips"] == fastpath.VERIFY_CLIPS
    assert verified["graphs"]["float32"]["ok"] and verified["graphs"]["float32"]["agreement"]["max_abs_delta_score"] < 1e-3
    stamp = (folder / "model.onnx").stat().st_mtime_ns
    assert fastpath.ensure_export(tiny_model)[0] == folder
    assert (folder / "model.onnx").stat().st_mtime_ns == stamp  # reused, not exported again


def test_an_export_of_another_checkpoint_is_not_trusted(auto_net, tiny_model):
    folder = fastpath.export_folder(tiny_model.info.identity)
    verified_path = folder / fastpath.VERIFIED_FILE
    original = verified_path.read_text()
    try:
        tampered = json.loads(original)
        tampered["source_identity_sha256"] = "0" * 64
        verified_path.write_text(json.dumps(tampered))
        assert fastpath.cached_export(tiny_model.info.identity) is None
        (folder / "model.int8.onnx").rename(folder / "gone")
        verified_path.write_text(original)
        assert fastpath.cached_export(tiny_model.info.identity) is None  # a graph missing
        (folder / "gone").rename(folder / "model.int8.onnx")
        assert fastpath.cached_export(tiny_model.info.identity) is not None
        undigested = json.loads(original)
        del undigested["graph_sha256"]  # an export verified by a workbench that recorded no digests: made again
        verified_path.write_text(json.dumps(undigested))
        assert fastpath.cached_export(tiny_model.info.identity) is None
        older = json.loads(original)  # graphs built by an older recipe (slower, or other values): exported again
        for revision in (fastpath.EXPORT_REVISION - 1, None):
            older["export_revision"] = revision
            verified_path.write_text(json.dumps(older))
            assert fastpath.cached_export(tiny_model.info.identity) is None
    finally:
        verified_path.write_text(original)


def test_a_damaged_cached_export_is_made_again_not_refused_on_every_run(auto_net, tiny_model):
    """A graph in the cache truncated after it was verified: the export counts as missing and the next onnx path
    load rebuilds it (before, every run was refused with "model.onnx is not a readable ONNX graph" naming a cache
    folder the user never chose)."""
    from workbench.model.ref import ModelRef

    fastpath.ensure_export(tiny_model)
    folder = fastpath.export_folder(tiny_model.info.identity)
    graph = folder / "model.onnx"
    good = graph.read_bytes()
    graph.write_bytes(good[: len(good) // 3])
    assert fastpath.cached_export(tiny_model.info.identity) is None
    net = ModelRef("tiny", device="cpu", dtype="onnx-float32").load()
    assert len(graph.read_bytes()) > len(good) // 3  # exported again
    assert fastpath.cached_export(tiny_model.info.identity) is not None
    clip = np.sin(np.arange(16000, dtype=np.float32) / 7) * 0.1
    assert np.allclose(net.predict([clip])[0].scores, tiny_model.predict([clip])[0].scores, atol=1e-4)


def test_auto_names_a_path_that_failed_when_measured():
    line = fastpath.describe_auto({"chosen": "float32", "reason": "no path beat float32 by 1.05x on this CPU",
                                   "failed_paths": ["onnx-float32", "onnx-int8"], "measurement": "/c/fastpath/x.json"})
    assert "not a candidate, it failed when measured: onnx-float32, onnx-int8" in line and "/c/fastpath/x.json" in line
    assert "failed" not in fastpath.describe_auto({"chosen": "int8", "reason": "fastest", "failed_paths": []})


@pytest.mark.parametrize("dtype", ["bfloat16", "int8", "onnx-float32", "onnx-int8"])
def test_every_fast_path_agrees_with_float32(auto_net, tiny_model, dtype):
    from workbench.model.ref import ModelRef

    net = ModelRef("tiny", device="cpu", dtype=dtype).load()
    assert net.info.dtype == dtype and net.info.checksum == tiny_model.info.checksum
    clips = [speech_like(dur=d, seed=40 + k).astype(np.float32) for k, d in enumerate((0.8, 2.3, 3.7, 1.4, 5.1, 2.9))]
    f = agreement_figures(tiny_model.predict(clips), net.predict(clips))
    assert f["top1_same"] == len(clips) and f["cosine_min"] >= 0.99, (dtype, f)
    if dtype == "onnx-float32":
        assert f["max_abs_delta_score"] < 1e-4


def test_onnx_paths_refuse_a_temperature_and_a_gpu():
    from workbench.model.ref import ModelRef

    with pytest.raises(ConfigError, match="temperature"):
        ModelRef("tiny", device="cpu", dtype="onnx-int8", temperature=2.0).load()
    with pytest.raises(ConfigError, match="CPU only"):
        ModelRef("tiny", device="cuda", dtype="onnx-int8").load()


def test_auto_with_a_temperature_keeps_to_pytorch(auto_net):
    from workbench.model.ref import ModelRef

    net = ModelRef("tiny", device="cpu", dtype="auto", temperature=2.0).load()
    assert net.info.dtype in ("float32", "bfloat16", "int8") and net.info.temperature == 2.0


def test_explanations_load_pytorch_float32_for_auto_and_onnx(auto_net):
    from workbench.model.ref import ModelRef

    for dtype in ("auto", "onnx-int8"):
        heard = []
        net = ModelRef("tiny", device="cpu", dtype=dtype).load(progress=heard.append, gradients=True)
        assert net.info.dtype == "float32" and hasattr(net, "network")
        assert any("gradients" in line for line in heard)


# ---------------------------------------------------------------------------
# the CUDA batch policy (pure: sized for any GPU without one)
# ---------------------------------------------------------------------------
def test_cuda_policy_fills_a_large_gpu_and_stays_inside_a_small_one():
    from workbench.model.network import CUDA_BYTES_PER_AUDIO_SECOND, cuda_policy, plan_batches

    big = cuda_policy(140e9)  # an H200's free memory
    six_s = [6 * 16000] * 256
    assert len(plan_batches(six_s, big)) == 1  # the 256-clip batch that ran 4608x real time; 64 / 640 s made 4
    small = cuda_policy(8e9)
    assert small.max_batch_seconds * CUDA_BYTES_PER_AUDIO_SECOND <= 0.5 * 8e9 + 1
    assert all(sum(six_s[i] for i in b) / 16000 <= small.max_batch_seconds for b in plan_batches(six_s, small))
    assert cuda_policy(1e6).max_batch_seconds == 30.0  # never below one long clip's worth


def test_cuda_policy_buckets_lengths_with_little_padding():
    from workbench.model.network import cuda_policy, plan_batches

    rng = np.random.default_rng(0)
    lengths = [int(rng.uniform(2, 10) * 16000) for _ in range(2000)]
    batches = plan_batches(lengths, cuda_policy(80e9))
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    padded = sum(len(b) * max(lengths[i] for i in b) for b in batches)
    assert 1 - sum(lengths) / padded <= 0.1


def test_the_ray_engine_refuses_an_onnx_path_before_any_work(tmp_path):
    import soundfile as sf

    from workbench.data.manifest import Item, Manifest
    from workbench.model.ref import ModelRef
    from workbench.runs.driver import run

    sf.write(tmp_path / "a.wav", speech_like(dur=1.0, seed=1), 16000)
    with pytest.raises(ConfigError, match="Ray") as e:
        run(Manifest([Item(id="a", path=str(tmp_path / "a.wav"))], root=tmp_path), out_dir=tmp_path / "run",
            model=ModelRef("tiny", device="cpu", dtype="onnx-int8"), engine="ray", use_cache=False)
    assert "--engine local" in str(e.value)
    assert not (tmp_path / "run").exists()


def test_a_record_path_taken_by_a_folder_or_a_link_costs_the_record_not_the_run(auto_net, tiny_model, monkeypatch, tmp_path, caplog):
    """Someone sharing the cache put a folder (or a link) where this CPU's record goes: every `--dtype auto` run measured
    and then stopped ('is a folder where a file goes'); it now uses its measurement and leaves the record unwritten."""
    from workbench.model.ref import ModelRef

    monkeypatch.setattr(fastpath, "_measure_start_ups", lambda *a, **k: None)  # the fresh-process timing is not at issue
    path = fastpath.record_path(tiny_model.info.identity)
    saved = path.read_bytes()
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text("{}")
    try:
        path.unlink()
        path.mkdir()
        chosen, precision = fastpath.measured_choice(ModelRef("tiny", device="cpu", dtype="auto"))
        assert precision["measured_now"] and chosen in ("float32",) + fastpath.CPU_PATHS
        assert path.is_dir() and "used but not recorded" in caplog.text and "WORKBENCH_CACHE" in caplog.text
        path.rmdir()
        path.symlink_to(elsewhere)
        chosen, precision = fastpath.measured_choice(ModelRef("tiny", device="cpu", dtype="auto"))
        assert precision["measured_now"] and elsewhere.read_text() == "{}" and path.is_symlink()
    finally:
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        elif path.is_symlink():
            path.unlink()
        path.write_bytes(saved)


def test_the_paths_are_timed_in_turns_so_a_slow_minute_hits_them_all():
    """Timed one after another, a slow minute fell on one path (large bfloat16: 3.3 s for 4 clips, 1.4 s alone minutes
    later) and auto chose a slower one; every round now times each path once, in a rotated order."""
    calls = []

    class Clock:  # a scorer that records when it ran (the scheduler is what is tested; the models are elsewhere)
        def __init__(self, name, fail=False):
            self.name, self.fail = name, fail

        def predict(self, clips):
            calls.append((self.name, len(clips)))
            if self.fail and len(clips) > 1:
                raise RuntimeError("no such kernel")
            return [self.name] * len(clips)

    models = {"float32": Clock("float32"), "bfloat16": Clock("bfloat16"), "int8": Clock("int8", fail=True)}
    failed: dict = {}
    timed = fastpath._interleaved(models, [1, 2, 3], failed, rounds=3)
    assert set(timed) == {"float32", "bfloat16"} and timed["bfloat16"][1] == ["bfloat16"] * 3
    assert failed["int8"]["ok"] is False and "no such kernel" in failed["int8"]["error"]
    warm, rounds = calls[:3], calls[3:]
    assert sorted(warm) == [("bfloat16", 1), ("float32", 1), ("int8", 1)]
    # round 1: all three in turn (int8 fails and leaves); rounds 2 and 3 alternate, the first to go rotating
    assert [n for n, _ in rounds] == ["bfloat16", "int8", "float32", "float32", "bfloat16", "bfloat16", "float32"]
    with pytest.raises(RuntimeError):
        fastpath._interleaved({"float32": Clock("float32", fail=True)}, [1, 2], {}, rounds=1)


def test_an_export_of_another_checkpoint_under_this_ones_name_is_made_again(auto_net, tiny_model, tmp_path, caplog):
    """Another checkpoint's export copied into this checkpoint's cache folder, verified.json's source checksum edited
    to this one's (its graph digests are the copied graphs' own): `run --dtype auto` scored with the other network
    while summary.json named this checkpoint.  model.json and the graphs' own stamps name their source: checked."""
    import shutil

    from workbench.model.generated import build_random_checkpoint
    from workbench.model.network import load_model

    other = load_model(str(build_random_checkpoint(tmp_path / "seed1", seed=1)), device="cpu")
    theirs, _ = fastpath.ensure_export(other)
    ours, _ = fastpath.ensure_export(tiny_model)
    kept = tmp_path / "ours"
    shutil.copytree(ours, kept)
    try:
        shutil.rmtree(ours)
        shutil.copytree(theirs, ours)
        verified = json.loads((ours / fastpath.VERIFIED_FILE).read_text())
        verified["source_identity_sha256"] = tiny_model.info.identity
        (ours / fastpath.VERIFIED_FILE).write_text(json.dumps(verified))
        with caplog.at_level("WARNING", logger="workbench.model.fastpath"):
            assert fastpath.cached_export(tiny_model.info.identity) is None
        assert f"is not of checkpoint {tiny_model.info.identity[:16]} (its files name {other.info.identity[:16]})" in caplog.text
    finally:
        shutil.rmtree(ours, ignore_errors=True)
        shutil.copytree(kept, ours)
    assert fastpath.cached_export(tiny_model.info.identity) is not None  # this checkpoint's own export is used


def test_a_checkpoints_own_warning_is_said_when_auto_loads_it_through_onnx(tmp_path, caplog):
    """``--model cue`` (or a head fine-tuned on it: the card's warning) said SYNTHETIC CUES when PyTorch loaded it, and
    nothing once ``auto`` chose its ONNX export (the default after the first run): the export's load said only the
    random-weights banner, which the screen leaves to the command."""
    from workbench.analysis.finetune import write_checkpoint
    from workbench.model.checkpoints import ensure_random_checkpoint
    from workbench.model.ref import ModelRef

    warning = "fine-tuned from a generated checkpoint: SYNTHETIC CUES: it means nothing on speech."
    rng = np.random.default_rng(0)
    head = write_checkpoint(tmp_path / "head", ensure_random_checkpoint("tiny"), ["calm", "tense"],
                            rng.standard_normal((2, 32)), rng.standard_normal(2), {"warning": warning})
    ModelRef(str(head), device="cpu", dtype="onnx-float32").load()  # the export is made (PyTorch loads and says it)
    caplog.clear()
    with caplog.at_level("WARNING"):
        net = ModelRef(str(head), device="cpu", dtype="onnx-float32").load()  # as any later command: the export only
    assert net.info.warning == warning
    assert warning in [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]


def _pred(scores, emb=(1.0, 0.0)):
    from types import SimpleNamespace

    labels = ("a", "b", "c")
    return SimpleNamespace(label=labels[int(np.argmax(scores))], scores=np.asarray(scores, dtype=float), embedding=np.asarray(emb))


def test_a_path_that_keeps_top1_only_on_near_ties_is_not_acceptable():
    """walk16: a head with near-uniform scores kept 4 of 4 seeded clips under int8 and `auto` chose it; its run then
    flipped 3 of 53 labels.  A clip whose float32 top-two margin is within twice the path's |Δ score| keeps its label by
    luck: agreement counts the clips beyond such a near tie, and a path needs them as it needs top-1 agreement."""
    from workbench.model.agreement import acceptable, agreement_figures, certain_top1, describe_agreement, shortfalls

    clear = [[0.6, 0.3, 0.1], [0.1, 0.7, 0.2], [0.2, 0.2, 0.6]]
    ref = [_pred(s) for s in clear] + [_pred([0.34, 0.335, 0.325])]
    other = [_pred(np.add(s, [0.004, -0.004, 0.0])) for s in clear] + [_pred([0.337, 0.336, 0.327])]  # the same labels
    figures = agreement_figures(ref, other)
    assert figures["top1_same"] == 4 and figures["top1_certain"] == 3  # 0.005 margin, 0.003 |Δ|: within 2 × 0.003
    assert not acceptable(figures) and any("top-1 certain on 3/4" in s and "near ties" in s for s in shortfalls(figures))
    assert "3/4 beyond a near tie" in describe_agreement(figures)
    assert certain_top1([s.scores for s in ref[:3]], [s.scores for s in other[:3]]) == 3
    assert acceptable(agreement_figures(ref[:3], other[:3]))
    flipped = [_pred([0.3, 0.6, 0.1])]  # a changed label is never certain
    assert agreement_figures(ref[:1], flipped)["top1_certain"] == 0
    assert any("is not a count" in s for s in shortfalls({**figures, "top1_certain": "4"}))  # a hand-edited record
    old = {k: v for k, v in agreement_figures(ref[:3], other[:3]).items() if k != "top1_certain"}
    assert acceptable(old)  # a record made before the count existed is judged as before
