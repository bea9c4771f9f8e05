"""Hostile and careless inputs met by the commands (this round's attacks): each refused early with the input named, the
fact and the fix, and nothing written outside where asked."""

from __future__ import annotations

import json
import os

import pytest

from workbench.errors import WorkbenchError


@pytest.mark.parametrize("content, says", [
    ({"recommended": False, "temperature_fitted": "x", "not_recommended_because": [1, {"a": 2}]}, "T = 'x' but did not recommend it: 1; {'a': 2}."),
    ({"recommended": False, "temperature_fitted": 7.0, "not_recommended_because": "at a bound"}, "T = 7.000 but did not recommend it: at a bound"),
    ([1, 2], "its calibration.json has none"),
    ({"temperature": 0.05, "recommended": True}, "lies at the lower bound of calibrate's search"),
    ({"temperature": 100, "recommended": True}, "lies at the upper bound of calibrate's search"),
])
def test_a_hostile_calibration_json_is_refused_with_what_it_holds(tmp_path, content, says):
    """A calibration.json with reasons that are not strings raised 'unexpected TypeError'; a string of reasons was
    joined letter by letter; one holding a list said 'no calibration.json'; a temperature at a bound of calibrate's
    search (which calibrate never recommends) was used."""
    from workbench.cli.common import resolve_temperature

    (tmp_path / "calibration.json").write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(WorkbenchError) as err:
        resolve_temperature(str(tmp_path))
    assert says in str(err.value)


def test_an_empty_temperature_is_not_the_current_folder(tmp_path, monkeypatch):
    from workbench.cli.common import resolve_temperature

    monkeypatch.chdir(tmp_path)
    with pytest.raises(WorkbenchError) as err:
        resolve_temperature("")
    assert "'' is neither a number nor a run folder" in str(err.value)


@pytest.mark.parametrize("section, setting, says", [
    ("diagnostics", "{low_snr_db: abc}", "low_snr_db must be a finite number, given 'abc'"),
    ("diagnostics", "{low_snr_db: .nan}", "low_snr_db must be a finite number, given nan"),
    ("diagnostics", "{max_duration_s: .inf}", "max_duration_s must be a finite number of 0 or more, given inf"),
    ("diagnostics", "{min_sample_rate_hz: 1.5}", "min_sample_rate_hz must be a whole number"),
    ("diagnostics", "{max_file_mb: -1}", "max_file_mb must be a finite number of 0 or more, given -1"),
    ("audio", "{max_duration_s: 1e308}", "max_duration_s must be a number above 0 and at most 86400"),
])
def test_an_experiment_file_with_thresholds_out_of_reason_is_refused_before_the_model_loads(tmp_path, section, setting, says):
    """diagnostics: {low_snr_db: abc} loaded the model and crashed with 'unexpected TypeError'; NaN turned a rule off
    silently; audio: {max_duration_s: 1e308} failed every file with 'cannot convert float infinity to integer'."""
    from workbench.runs.experiment import Experiment

    (tmp_path / "e.yaml").write_text(f"manifest: m.csv\nmodel: tiny\n{section}: {setting}\n", encoding="utf-8")
    with pytest.raises(WorkbenchError) as err:
        Experiment.load(tmp_path / "e.yaml")
    assert says in str(err.value) and f"{section}" in str(err.value)


def test_thresholds_written_as_yaml_1_1_text_still_read():
    from workbench.engine.findings import DiagnosticsConfig

    cfg = DiagnosticsConfig.from_dict({"low_snr_db": "1e1", "no_signal_db": -60, "min_sample_rate_hz": 8000.0})
    assert (cfg.low_snr_db, cfg.no_signal_db, cfg.min_sample_rate_hz) == (10.0, -60.0, 8000)
    assert isinstance(cfg.min_sample_rate_hz, int)


def test_infer_max_duration_out_of_reach_is_refused(tmp_path, capsys):
    from workbench.cli import main

    wav = tmp_path / "a.wav"
    wav.write_bytes(b"")
    assert main(["infer", str(wav), "--model", "tiny", "--max-duration", "1e308", "--out", str(tmp_path / "o")]) == 2
    assert "--max-duration" in capsys.readouterr().err and not (tmp_path / "o").exists()


@pytest.mark.parametrize("reader", ["votes", "manifest"])
def test_a_table_of_one_enormous_line_is_refused_without_holding_it_four_times(tmp_path, reader):
    """csv.reader read the text through io.StringIO, which holds it again at 4 bytes a character: a 150 MB votes file
    of one line took 920 MB (and a table may be 512 MB).  The lines are now handed to csv one at a time."""
    import tracemalloc

    from workbench.data.manifest import read_manifest
    from workbench.data.votes import csv_rows

    size = 8_000_000
    p = tmp_path / "t.csv"
    p.write_bytes(b"id,path\n" + b"a" * size)
    tracemalloc.start()
    try:
        with pytest.raises(WorkbenchError) as err:
            csv_rows(p, ("id",)) if reader == "votes" else read_manifest(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "field larger than field limit" in str(err.value)
    assert peak < 3.5 * size, f"peak {peak / size:.1f} × the file"


def test_a_giant_label_map_is_refused_unread(tmp_path):
    """A 56 MB label map of 3 million labels was parsed whole (980 MB RSS); a label map is a few kB."""
    from workbench.cli.listeners import _label_map
    from workbench.data.corpora.emobox import import_emobox
    from workbench.data.hf import label_table

    p = tmp_path / "map.json"
    p.write_text("{" + ",".join(f'"k{i}": "angry"' for i in range(120_000)) + "}", encoding="utf-8")
    for read in (lambda: _label_map(str(p)), lambda: label_table(str(p)), lambda: import_emobox([], root=tmp_path, label_map=p)):
        with pytest.raises(WorkbenchError) as err:
            read()
        assert "the cap for a label map is 1,000,000" in str(err.value) and str(p) in str(err.value)
    p.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(WorkbenchError, match="nests too deeply"):
        _label_map(str(p))
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps({"wut": "angry"}).encode())  # a BOM is read past
    assert _label_map(str(p)) == {"wut": "angry"}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_votes_file_that_is_a_fifo_a_device_or_a_folder_says_what_it_is(tmp_path):
    """A FIFO, /dev/zero or a folder given as --votes was reported as 'votes file not found'."""
    from workbench.data.listeners import read_generic

    os.mkfifo(tmp_path / "fifo.csv")
    for path, kind in ((tmp_path / "fifo.csv", "is a named pipe (FIFO), not a votes file"), ("/dev/zero", "is a device"),
                       (tmp_path, "is a folder")):
        with pytest.raises(WorkbenchError, match=kind.replace("(", r"\(").replace(")", r"\)")):
            read_generic(path)


def test_a_cached_onnx_export_that_is_or_holds_a_link_is_made_again_not_refused(tmp_path, monkeypatch):
    """model.onnx replaced by a link to the same bytes passed the digest check, and the loader then refused the cache
    with 'export the model again into a new folder' (a folder the user does not choose); the folder itself a link
    was followed.  Either now counts as no export, which ensure_export makes again."""
    from workbench.model import fastpath
    from workbench.model.weights import file_sha256

    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    checksum = "ab" * 32
    folder = fastpath.export_folder(checksum)
    folder.mkdir(parents=True)
    import onnx
    from onnx import TensorProto, helper

    for name in (fastpath.ONNX_FILE, fastpath.ONNX_INT8_FILE):  # graphs stamped with their source, as the exporter does
        one = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
        graph = helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], name, [one],
                                                    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])]))
        graph.metadata_props.add(key="workbench.source_identity_sha256", value=json.dumps(checksum))
        onnx.save(graph, str(folder / name))
    (folder / "model.json").write_text(json.dumps({"source_identity_sha256": checksum}))
    (folder / fastpath.VERIFIED_FILE).write_text(json.dumps({
        "source_identity_sha256": checksum, "onnxruntime": fastpath.ort_version(), "export_revision": fastpath.EXPORT_REVISION,
        "graph_sha256": {n: file_sha256(folder / n, remember=False) for n in (fastpath.ONNX_FILE, fastpath.ONNX_INT8_FILE)}}))
    assert fastpath.cached_export(checksum)[0] == folder
    (folder / fastpath.ONNX_FILE).rename(folder / "real.onnx")
    (folder / fastpath.ONNX_FILE).symlink_to(folder / "real.onnx")
    assert fastpath.cached_export(checksum) is None
    (folder / fastpath.ONNX_FILE).unlink()
    (folder / "real.onnx").rename(folder / fastpath.ONNX_FILE)
    assert fastpath.cached_export(checksum)[0] == folder
    folder.rename(tmp_path / "elsewhere")
    folder.symlink_to(tmp_path / "elsewhere")
    assert fastpath.cached_export(checksum) is None


@pytest.mark.parametrize("blocked", ["", "onnx"])
def test_a_cache_folder_that_is_a_file_is_told_not_a_traceback(tmp_path, monkeypatch, capsys, blocked):
    """~/.cache/emotion-workbench a file: every command died with a traceback (the log file's folder); cache/onnx a
    file: 'unexpected NotADirectoryError'.  The log goes to the screen only, with a warning, and the command that needs
    the cache names the file in the way and the fix."""
    from workbench.cli import main

    cache = tmp_path / "cache"
    if blocked:
        cache.mkdir()
    (cache / blocked if blocked else cache).write_text("x")
    monkeypatch.setenv("WORKBENCH_CACHE", str(cache))
    monkeypatch.delenv("WORKBENCH_LOG", raising=False)
    wav = tmp_path / "a.wav"
    import soundfile as sf
    import numpy as np

    sf.write(wav, np.zeros(16000, np.float32), 16000)
    code = main(["infer", str(wav), "--model", "tiny", "--dtype", "onnx-float32", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "unexpected" not in err and "Traceback" not in err, err
    assert f"{cache / blocked if blocked else cache}: is a file, where the workbench keeps a folder of its cache" in err
    assert "set WORKBENCH_CACHE to another folder" in err
    if not blocked:
        assert "cannot be written" in err and "this command's log goes to the screen only" in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_hostile_checksum_memo_is_ignored_without_reading_it(tmp_path, monkeypatch):
    """checksums.json a link to /dev/zero was read until memory ran out (22 GB RSS, then 'unexpected MemoryError');
    a FIFO in its place made every command that loads a model wait for ever.  A memo that is a link, a FIFO, a device,
    a folder or over the cap is now no memo: the file is hashed, and the memo written again where it can be."""
    from workbench.model import weights

    monkeypatch.setenv("WORKBENCH_CACHE", str(tmp_path / "cache"))
    memo = weights.checksum_memo_path()
    memo.parent.mkdir(parents=True)
    target = tmp_path / "weights.bin"
    target.write_bytes(b"w" * 1000)
    import hashlib

    want = hashlib.sha256(b"w" * 1000).hexdigest()
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"x": 1}))
    for plant in (lambda: memo.symlink_to("/dev/zero"), lambda: os.mkfifo(memo), lambda: memo.symlink_to(good),
                  lambda: memo.write_bytes(b" " * (weights.MEMO_MAX_BYTES + 1)), lambda: memo.write_text("[" * 100_000)):
        plant()
        assert weights.read_memo(memo) == {}
        assert weights.file_sha256(target) == want
        if memo.is_symlink() or not memo.is_dir():
            memo.unlink()
    memo.write_text(json.dumps({"a": 1}))
    assert weights.read_memo(memo) == {"a": 1}
    assert good.read_text() == json.dumps({"x": 1})


def test_a_prediction_cache_entry_that_unpacks_to_more_than_an_entry_holds_is_recomputed(tmp_path):
    """A shared prediction cache of 32 MB on disk whose entries each unpacked to 400 MB (a compressed zip member)
    took a run of 40 clips to 16 GB RSS, every row 'from cache'.  The sizes the entry's zip declares are now read first."""
    import io
    import zipfile

    import numpy as np

    from workbench.engine import prediction_cache as pc
    from workbench.model.network import Prediction

    cache = pc.PredictionCache(tmp_path / "predictions")
    key = "0" * 64
    pred = Prediction(labels=("a", "b"), id="x", scores=np.array([0.5, 0.5]), logits=np.array([0.0, 0.0], np.float32),
                      embedding=np.ones(4, np.float32), frame_logits=None, frame_embeddings=None, n_frames=3, duration=0.06,
                      random_weights=True)
    cache.put(key, pred)
    good = cache.get(key)
    assert good is not None and np.array_equal(good["logits"], [0.0, 0.0])
    p = cache._path(key)
    arrays = dict(good)
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, value in arrays.items():
            b = io.BytesIO()
            np.save(b, value)
            zf.writestr(name + ".npy", b.getvalue())
        b = io.BytesIO()
        np.save(b, np.zeros(pc.ENTRY_MAX_BYTES // 4 + 1024, np.float32))
        zf.writestr("frame_embeddings.npy", b.getvalue())
    assert p.stat().st_size < 1_000_000
    assert cache.get(key) is None


@pytest.mark.parametrize("name, text, says", [
    ("neg.srt", "1\n-00:00:05,000 --> 00:00:01,000\nneg\n", "none of its 1 span can be used (1 span of the alignment left out: line 2: negative time"),
    ("nan.vtt", "WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nok\n\n00:00:nan --> 00:00:04.000\nbad\n",
     "1 span of the alignment left out: line 6: unparsable time, '00:00:nan --> 00:00:04.000'"),
])
def test_a_subtitle_cue_whose_times_cannot_be_read_is_named_not_dropped_unsaid(tmp_path, name, text, says):
    """webvtt-py skips a cue whose timing line it cannot read: `segment --transcript` scored the rest (or nothing,
    'dominant emotion: —') and said nothing of the cues left out.  Now each is named by its line (the others used);
    a file with no cue left is refused."""
    from workbench.explain.words import left_out_words, read_alignment

    (tmp_path / name).write_text(text, encoding="utf-8")
    try:
        said = left_out_words(read_alignment(tmp_path / name).left_out)
    except WorkbenchError as err:
        said = str(err)
    assert says in said


def test_a_transcript_with_no_span_is_refused_before_the_audio_is_read(tmp_path):
    """An empty CTM made `segment --transcript` load the model, score nothing and write an empty table."""
    from workbench.explain.transcript import transcript_file

    (tmp_path / "t.ctm").write_text("", encoding="utf-8")
    with pytest.raises(WorkbenchError, match="holds no timed span with text"):
        transcript_file(tmp_path / "missing.wav", tmp_path / "t.ctm", model="tiny", out_dir=tmp_path / "o")
    assert not (tmp_path / "o").exists()


def _labelled_run(root, labels, tiny_model):
    import numpy as np
    import soundfile as sf

    from workbench.data.manifest import Item, Manifest
    from workbench.runs.driver import run
    from workbench.runs.folder import RunFolder

    import pandas as pd

    stand_in = {label: f"class{j}" for j, label in enumerate(dict.fromkeys(labels))}
    items = []
    for i, label in enumerate(labels):
        p = root / f"c{i}.wav"
        sf.write(p, (0.1 * np.random.default_rng(i).standard_normal(16000)).astype(np.float32), 16000)
        items.append(Item(id=f"c{i}", path=str(p), label=stand_in[label], speaker=f"s{i % 4}"))
    run(Manifest(items, root=root), out_dir=root / "run", model=tiny_model, use_cache=False)
    # a manifest refuses a label with a control character now; a run folder written before that (or edited) may hold one
    table = pd.read_parquet(root / "run" / "results.parquet")
    table["label"] = table["label"].map({v: k for k, v in stand_in.items()})
    table.to_parquet(root / "run" / "results.parquet", index=False)
    return RunFolder(root / "run")


def test_finetune_refuses_class_names_with_line_breaks_and_id_like_label_columns(tmp_path, tiny_model):
    """A label 'a\\nb' became two lines of the head's tokens.txt: finetune wrote a checkpoint that then failed to load
    ('weights do not fit the network'); ESC and a right-to-left override went into tokens.txt raw.  A label column
    with a class per item (10,000 classes) trained for minutes and listed all 10,000 names on one line."""
    from workbench.analysis.finetune.data import tune_data
    from workbench.analysis.groups import small_class_note

    (tmp_path / "a").mkdir()
    rf = _labelled_run(tmp_path / "a", ["ok", "a\nb", "ok", "a\nb", "\x1b[31mred", "\x1b[31mred", "ok", "\u202eevil"], tiny_model)
    with pytest.raises(WorkbenchError) as err:
        tune_data(rf)
    assert "3 class name(s) hold a line break" in str(err.value) and "a\\nb" in str(err.value) and "\n" not in err.value.message
    (tmp_path / "b").mkdir()
    rf = _labelled_run(tmp_path / "b", [f"k{i}" for i in range(6)] + ["k0"], tiny_model)
    with pytest.raises(WorkbenchError, match="5 of the 6 classes have a single item"):
        tune_data(rf)
    note = small_class_note({f"c{i}": 1 for i in range(10_000)})
    assert note.startswith("10000 class(es)") and "and 9990 more" in note and len(note) < 300


def _patched_checkpoint(root, edit):
    import shutil

    import yaml

    from workbench.model.checkpoints import ensure_random_checkpoint

    src = ensure_random_checkpoint("tiny")
    shutil.copytree(src, root)
    cfg = yaml.safe_load((root / "config.yaml").read_text(encoding="utf-8"))
    edit(cfg)
    (root / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return root


def test_a_checkpoint_config_cannot_run_code_through_feature_encoder_spec(tmp_path, capsys):
    """FunASR builds the audio encoder with eval(feature_encoder_spec): a config.yaml whose spec was
    "__import__('os').system(...) or [...]" ran its command on `workbench infer --model FOLDER`, and the file scored."""
    import numpy as np
    import soundfile as sf

    from workbench.cli import main

    marker = tmp_path / "ran"
    spec = f"__import__('os').system('touch {marker}') or [(32, 10, 5)] + [(32, 3, 2)] * 4 + [(32, 2, 2)] + [(32, 2, 2)]"
    ckpt = _patched_checkpoint(tmp_path / "ckpt", lambda c: c["model_conf"]["modalities"]["audio"].update(feature_encoder_spec=spec))
    sf.write(tmp_path / "a.wav", np.zeros(16000, np.float32), 16000)
    assert main(["infer", str(tmp_path / "a.wav"), "--model", str(ckpt), "--dtype", "float32", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert not marker.exists(), "the config's code ran"
    assert "feature_encoder_spec" in err and "FunASR evaluates it as Python code" in err


@pytest.mark.parametrize("edit, says", [
    (lambda c: c["model_conf"].update(depth=100_000), "model_conf.depth is 100000"),
    (lambda c: c["model_conf"]["modalities"]["audio"].update(feature_encoder_spec="[(32, 10, 5)] * 64 + [(32, 3, 2)]"),
     "has more than 64 layers"),
    (lambda c: c["model_conf"]["modalities"]["audio"].update(feature_encoder_spec="[(32, 10, 5)] * 1000000000"), "combines its parts"),
    (lambda c: c["model_conf"]["modalities"]["audio"].update(feature_encoder_spec="[(32, 10, 5)] * 10**9"), "holds BinOp"),
    (lambda c: c["model_conf"].update(embed_dim="32"), "model_conf.embed_dim is '32'"),
])
def test_network_sizes_no_emotion2vec_has_are_refused_before_building(tmp_path, edit, says):
    """depth: 100000 built 100,000 transformer blocks (7.5 GB, 88 s) before the weights were found not to fit."""
    from workbench.model.checkpoints import check_checkpoint

    ckpt = _patched_checkpoint(tmp_path / "ckpt", edit)
    with pytest.raises(WorkbenchError) as err:
        check_checkpoint(ckpt)
    assert says in str(err.value)


def test_a_config_implying_an_absurd_network_is_refused_without_building_it(tmp_path):
    """embed_dim: 16384 with mlp_ratio: 64 (each within its own limit) made the builder ask for one 64 GB weight before
    the weights file was looked at; check_checkpoint (which builds nothing) now refuses it from the numbers alone."""
    from workbench.model.checkpoints import check_checkpoint

    ckpt = _patched_checkpoint(tmp_path / "ckpt", lambda c: c["model_conf"].update(embed_dim=16384, mlp_ratio=64, num_heads=16))
    with pytest.raises(WorkbenchError) as err:
        check_checkpoint(ckpt)
    assert "describes a network of at least" in str(err.value) and "config.yaml" in str(err.value)
    assert "the workbench builds at most 2,000,000,000" in str(err.value)


def test_a_config_implying_more_parameters_than_its_weights_file_holds_is_refused_before_building(tmp_path, capsys):
    """A config for a network 50 times the size of its weights file was built in full before the weights were found
    not to fit; it is refused from the file sizes, before FunASR builds anything."""
    import numpy as np
    import soundfile as sf

    from workbench.cli import main

    ckpt = _patched_checkpoint(tmp_path / "ckpt", lambda c: c["model_conf"].update(embed_dim=256, mlp_ratio=8.0))
    sf.write(tmp_path / "a.wav", np.zeros(16000, np.float32), 16000)
    assert main(["infer", str(tmp_path / "a.wav"), "--model", str(ckpt), "--dtype", "float32", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "but its weights file model.pt holds only" in err and "do not belong together" in err
    assert "building network" not in err


@pytest.mark.parametrize("argv, says", [
    (["calibrate", "RUN", "--bootstrap", "1000000000"], "is over 100,000 resamples"),
    (["calibrate", "RUN", "--seed", "-1"], "-1 is negative; a seed is a whole number from 0 to 4294967295"),
    (["probe", "RUN", "--seed", "4294967296"], "is over 4294967295"),
    (["listeners", "RUN", "--bootstrap", "100001"], "is over 100,000 resamples"),
    (["finetune", "RUN", "--out", "X", "--bootstrap", "10000000000"], "is over 100,000 resamples"),
])
def test_bootstrap_counts_and_seeds_out_of_reach_are_refused_by_the_parser(tmp_path, capsys, argv, says):
    """calibrate --bootstrap 1000000000 ran for ever; --seed -1 ended in 'unexpected ValueError' after the work."""
    from workbench.cli import main

    argv = [str(tmp_path / a) if a in ("RUN", "X") else a for a in argv]
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2 and says in capsys.readouterr().err


@pytest.mark.parametrize("code", [0, 130])
def test_a_ctrl_c_while_the_exit_handlers_run_ends_with_one_line_not_a_traceback(code):
    """A second Ctrl-C after `interrupted` landed in torch's atexit handler and printed 'Exception ignored in atexit
    callback' with a traceback."""
    import subprocess
    import sys

    prog = ("import atexit, signal\n"
            "from workbench import cli\n"
            "atexit.register(lambda: (signal.raise_signal(signal.SIGINT), print('handler went on')))\n"
            f"cli.end_process({code})\n")
    done = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=120)
    assert done.returncode == 130
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr and "handler went on" not in done.stdout
    assert done.stderr.count("interrupted") == (1 if code == 0 else 0)


def test_finetune_checks_a_manifests_classes_before_scoring_it(tmp_path, capsys):
    # a manifest given to finetune was scored in full (a run folder written) before its id-like label column was refused
    import numpy as np
    import soundfile as sf

    from workbench.cli import main

    lines = ["id,path,label,speaker"]
    for i in range(6):
        sf.write(tmp_path / f"c{i}.wav", np.zeros(16000, np.float32), 16000)
        lines.append(f"c{i},c{i}.wav,item{i},s{i % 2}")
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["finetune", str(tmp_path / "m.csv"), "--model", "tiny", "--out", str(tmp_path / "head")]) == 2
    err = capsys.readouterr().err
    assert "6 of the 6 classes have a single item" in err and str(tmp_path / "m.csv") in err
    assert not (tmp_path / "head-run").exists() and not (tmp_path / "head").exists()


def test_a_chunk_of_a_whole_corpus_is_refused_before_the_model_loads(tmp_path, capsys):
    # --chunk 1000000000000 made the whole manifest one part: nothing reached disk until the end, a Ctrl-C lost it all
    import numpy as np
    import soundfile as sf

    from workbench.cli import main

    sf.write(tmp_path / "a.wav", np.zeros(16000, np.float32), 16000)
    (tmp_path / "m.csv").write_text("id,path\na,a.wav\n", encoding="utf-8")
    assert main(["run", str(tmp_path / "m.csv"), "--model", "tiny", "--chunk", "1000000000000", "--out", str(tmp_path / "r")]) == 2
    assert "chunk_size is 1000000000000; a part holds at most 100,000 rows" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
    (tmp_path / "exp.yaml").write_text("manifest: m.csv\nmodel: tiny\nchunk_size: 200000\n", encoding="utf-8")
    assert main(["run", str(tmp_path / "exp.yaml"), "--out", str(tmp_path / "r")]) == 2
    assert "`chunk_size` is 200000; it must be from 1 to 100,000" in capsys.readouterr().err


def test_a_wav_cut_short_is_told_as_cut_short_not_only_as_too_short(tmp_path, capsys):
    # a header declaring 4 GB of audio in front of 100 bytes failed as "the file is 3 ms long; the model needs 25 ms"
    import struct

    import numpy as np
    import soundfile as sf

    from workbench.cli import main

    sf.write(tmp_path / "full.wav", (0.3 * np.sin(np.arange(16000) / 5)).astype(np.float32), 16000, subtype="PCM_16")
    head = bytearray((tmp_path / "full.wav").read_bytes()[:44 + 100])
    head[40:44] = struct.pack("<I", 0xFFFFFF00)
    (tmp_path / "cut.wav").write_bytes(bytes(head))
    assert main(["infer", str(tmp_path / "cut.wav"), "--model", "tiny", "--dtype", "float32", "--out", str(tmp_path / "o")]) == 1
    out = capsys.readouterr()
    text = out.out + out.err
    assert "The file is cut short: WAV data is truncated: the header declares 4294967040 bytes of audio, the file holds 100" in text
    assert "re-copy or re-download the file whole" in text


def test_segment_interrupted_before_it_kept_anything_leaves_no_empty_folder(tmp_path, monkeypatch):
    # Ctrl-C during `segment --out DIR` left DIR behind, empty but for its lock
    import numpy as np
    import soundfile as sf

    from workbench.runs import longform

    sf.write(tmp_path / "long.wav", (0.3 * np.sin(np.arange(16000 * 5) / 7)).astype(np.float32), 16000)

    def stopped(self, stream, progress):  # the user presses Ctrl-C during the scan
        raise KeyboardInterrupt

    monkeypatch.setattr(longform._Scan, "run", stopped)
    with pytest.raises(KeyboardInterrupt):
        longform.segment_file(tmp_path / "long.wav", model="tiny", out_dir=tmp_path / "seg", figures=False)
    assert not (tmp_path / "seg").exists()
    (tmp_path / "mine").mkdir()  # a folder the user made is never removed
    with pytest.raises(KeyboardInterrupt):
        longform.segment_file(tmp_path / "long.wav", model="tiny", out_dir=tmp_path / "mine", figures=False)
    assert (tmp_path / "mine").is_dir()


@pytest.mark.parametrize("line, key", [
    ('{"id":"a","path":"a.wav","label":"happy","label":"angry"}', "label"),
    ('{"id": "a", "path": "C:/a.wav", "label" :"happy", "label"\t: "angry"}', "label"),
    ('{"id":"a","path":"a.wav","meta":{"x":1,"x":2}}', "x"),
])
def test_a_jsonl_manifest_line_naming_a_key_twice_is_refused(tmp_path, line, key):
    """{"label":"happy","label":"angry"} on one line ran with angry, silently."""
    from workbench.data.manifest import read_manifest

    (tmp_path / "m.jsonl").write_text('{"id":"b","path":"b.wav","label":"sad"}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(WorkbenchError) as err:
        read_manifest(tmp_path / "m.jsonl", validate_files=False)
    assert "m.jsonl" in str(err.value) and f"line 2 names the key '{key}' twice" in str(err.value)
    assert "keep one value for each key" in str(err.value)
