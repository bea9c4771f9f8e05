"""Issue #29: untrusted files read with bounds, consent for what leaves the machine, CSV cells, careless inputs.

Each test builds the hostile or careless input and sees the refusal (or the note) it must give; the
big-memory measurements live in ``tests/hostile.py`` (``--only limits``).
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import yaml

from workbench.errors import ConfigError, WorkbenchError
from workbench.serialize import load_yaml_text, shown, spreadsheet_safe

REPO = Path(__file__).resolve().parent.parent


def bomb(levels: int = 9, width: int = 9) -> str:
    lines = ['a0: &a0 ["xxxxxxxx"]'] + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels)]
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# YAML
# ---------------------------------------------------------------------------
def test_yaml_refuses_aliases_depth_and_size():
    assert load_yaml_text("a: [1, {b: two}]\nc: null\n", source="x") == {"a": [1, {"b": "two"}], "c": None}
    with pytest.raises(ConfigError, match="alias"):
        load_yaml_text(bomb() + "\nmanifest: *a8\n", source="x")
    with pytest.raises(ConfigError, match="nests deeper"):
        load_yaml_text("seed: " + "[" * 100_000, source="x")
    with pytest.raises(ConfigError, match="more than 10 values"):
        load_yaml_text("[" + ", ".join(["1"] * 20) + "]", source="x", max_nodes=10)
    with pytest.raises(ConfigError, match="characters long"):
        load_yaml_text("# x\n" * 300_000, source="x")


def test_yaml_memo_gives_copies_and_keeps_the_bounds():
    text = "model: x\nconf: {layers: [1, 2, 3]}\n"
    first = load_yaml_text(text, source="x")
    first["conf"]["layers"].append(99)  # a caller changing what it got must not change the next parse
    assert load_yaml_text(text, source="x") == {"model": "x", "conf": {"layers": [1, 2, 3]}}
    # a text parsed under loose bounds is still refused under tight ones (the bounds are part of the memo's key)
    many = "[" + ", ".join(["1"] * 20) + "]"
    assert len(load_yaml_text(many, source="x")) == 20
    with pytest.raises(ConfigError, match="more than 10 values"):
        load_yaml_text(many, source="x", max_nodes=10)


def test_settings_files_refuse_a_key_set_twice_and_an_integer_past_python(tmp_path):
    """An experiment or variants file setting a key twice ran with the last one silently (`dtype: float32` then
    `dtype: int8` ran int8); a 5000-digit integer stopped the command with an unexpected ValueError."""
    from workbench.audio.variants import load_variants
    from workbench.runs.experiment import Experiment

    exp = tmp_path / "exp.yaml"
    exp.write_text("manifest: m.csv\nmodel:\n  model: tiny\n  dtype: float32\n  dtype: int8\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sets 'dtype' twice in one mapping \(line 5\)") as info:
        Experiment.load(exp)
    assert str(exp) in str(info.value) and info.value.fix
    var = tmp_path / "variants.yaml"
    var.write_text("quiet:\n  - gain: {db: -6}\nquiet:\n  - gain: {db: -20}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="sets 'quiet' twice"):
        load_variants(var)
    with pytest.raises(ConfigError, match=r"line 1: the whole number '9+… is past ±9,223,372,036,854,775,807"):
        load_yaml_text("seed: " + "9" * 5000 + "\n", source="x")  # named with its line and the bound (round nine)
    # a checkpoint's own config keeps PyYAML's reading (the last value), as the model's loader always had it
    assert load_yaml_text("a: 1\na: 2\n", source="x") == {"a": 2}


def test_experiment_file_alias_bomb_is_refused_before_use(tmp_path):
    from workbench.runs.experiment import Experiment

    p = tmp_path / "exp.yaml"  # anchors inside the one value: no unknown key to refuse the file for
    levels = ['&a0 ["xxxxxxxx"]'] + [f"&a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 9)]
    p.write_text("manifest: m.csv\nseed: [" + ", ".join(levels) + "]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="alias") as info:
        Experiment.load(p)
    assert len(str(info.value)) < 1000
    assert str(tmp_path) in str(info.value)  # the absolute path of the file


def test_wrong_type_error_shows_a_short_value(tmp_path):
    from workbench.runs.experiment import Experiment, check_untrusted

    p = tmp_path / "exp.yaml"
    p.write_text(yaml.safe_dump({"manifest": "m.csv", "seed": "x" * 900_000}), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        check_untrusted(Experiment.load(p), p)
    assert "seed" in str(info.value) and len(str(info.value)) < 600


def test_run_config_yaml_with_aliases_is_a_damaged_run(tmp_path):
    from workbench.runs.folder import RunFolder, RunFolderError

    (tmp_path / "config.yaml").write_text(bomb() + "\nmanifest_sha256: *a8\n", encoding="utf-8")
    with pytest.raises(RunFolderError, match="alias"):
        RunFolder(tmp_path).config


# ---------------------------------------------------------------------------
# consent: hub, ray, out
# ---------------------------------------------------------------------------
def _untrusted(tmp_path, cli=None, **keys):
    from workbench.runs.experiment import Experiment, check_untrusted

    p = tmp_path / "exp.yaml"
    p.write_text(yaml.safe_dump({"manifest": "m.csv", **keys}), encoding="utf-8")
    return check_untrusted(Experiment.load(p), p, cli or {})


def test_hub_model_in_a_file_needs_the_command_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    with pytest.raises(ConfigError, match="--allow-hub"):
        _untrusted(tmp_path, model="someone/name", hub="hf")
    assert _untrusted(tmp_path, {"allow_hub": True}, model="someone/name", hub="hf")[0].model.model == "someone/name"
    assert _untrusted(tmp_path, {"model": "tiny"}, model="someone/name", hub="hf")[0].model.model == "someone/name"
    assert _untrusted(tmp_path, model="tiny")[0].model.model == "tiny"  # nothing leaves the machine


def test_engine_ray_in_a_file_needs_the_command_line(tmp_path):
    with pytest.raises(ConfigError, match="--engine ray"):
        _untrusted(tmp_path, engine="ray", model="tiny")
    assert _untrusted(tmp_path, {"engine": "ray"}, engine="ray", model="tiny")[0].engine == "ray"
    assert _untrusted(tmp_path, {"allow_ray": True}, engine="ray", model="tiny")[0].engine == "ray"


def test_out_refuses_a_folder_of_foreign_files(tmp_path):
    (tmp_path / "summary.json").write_text("precious", encoding="utf-8")
    with pytest.raises(ConfigError, match="did not write") as info:
        _untrusted(tmp_path, out=".", model="tiny")
    assert "summary.json" in str(info.value)
    assert _untrusted(tmp_path, out="new_run", model="tiny")[0].out.endswith("new_run")  # absent: fine
    run = tmp_path / "old_run"  # a run folder: resuming checks it is the same experiment
    run.mkdir()
    (run / "config.yaml").write_text(yaml.safe_dump({"manifest_sha256": "x", "workbench_version": "1"}), encoding="utf-8")
    (run / "results.parquet").write_bytes(b"")
    assert _untrusted(tmp_path, out="old_run", model="tiny")[0].out.endswith("old_run")


def test_cli_run_refuses_a_file_asking_for_ray(tmp_path, capsys):
    from workbench import cli

    (tmp_path / "m.csv").write_text("id,path\na,a.wav\n", encoding="utf-8")
    p = tmp_path / "exp.yaml"
    p.write_text(yaml.safe_dump({"manifest": "m.csv", "model": "tiny", "engine": "ray"}), encoding="utf-8")
    assert cli.main(["run", str(p)]) == 2
    assert "engine: ray" in capsys.readouterr().err


# ---------------------------------------------------------------------------
# steps
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("spec, word", [
    ({"name": "pad", "end": 600}, "end"), ({"name": "trim", "frame_length": 10**9}, "frame_length"),
    ({"name": "trim", "frame_length": 512, "hop_length": 2048}, "hop_length"), ({"name": "gain", "db": 1e308}, "db"),
    ({"name": "resample", "sr": 10**9}, "sr"), ({"name": "resample", "method": "ffmpeg"}, "method"),
    ({"name": "highpass", "order": 100}, "order"), ({"name": "telephone", "low_hz": 5000}, "band"),
    ({"name": "add_noise", "seed": -1}, "seed"), ({"name": "denoise", "prop_decrease": 3}, "prop_decrease"),
])
def test_step_parameters_out_of_range_are_refused(spec, word):
    from workbench.audio.steps import make_step

    with pytest.raises(ConfigError, match=word) as info:
        make_step(spec, source="variants.yaml: variant 'v'")
    assert "variants.yaml" in str(info.value)


def test_chain_longer_than_the_limit_is_refused_before_it_runs():
    from workbench.audio.intake import AudioConfig, load
    from workbench.audio.variants import Variant, scored_audio

    clip = load((np.zeros(16000, np.float32), 16000))
    v = Variant("long", ({"name": "pad", "start": 30, "end": 30}, {"name": "tempo", "factor": 0.5}))
    with pytest.raises(WorkbenchError, match="122.0 s long, over the 60 s"):
        scored_audio(clip, v, AudioConfig(max_duration_s=60))
    assert scored_audio(clip, Variant("pad", ({"name": "pad", "end": 2},)), AudioConfig()).duration == pytest.approx(3.0)


# ---------------------------------------------------------------------------
# votes
# ---------------------------------------------------------------------------
def _crema(path: Path, rows) -> Path:
    lines = [",fileName,A,D,F,H,N,S,numResponses"] + [f"{100001 + i},{n},{a},0,0,1,0,0,3" for i, (n, a) in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("value", ["-3", "nan", "inf", "1e308", "2.5", "", "1_000", "\uff11", "1e3"])  # float() read the last three
def test_crema_d_counts_must_be_whole_finite_non_negative(tmp_path, value):
    from workbench.data.listeners import read_crema_d_tabulated

    with pytest.raises(ConfigError, match="vote count") as info:
        read_crema_d_tabulated(_crema(tmp_path / "v.csv", [("1001_DFA_ANG_XX", value)]))
    assert "1001_DFA_ANG_XX" in str(info.value)


def test_crema_d_duplicate_ids_are_named(tmp_path):
    from workbench.data.listeners import read_crema_d_tabulated

    ok = read_crema_d_tabulated(_crema(tmp_path / "ok.csv", [("a", 2), ("b", 1)]))
    assert ok.records["a"]["votes_angry"] == 2.0
    with pytest.raises(ConfigError, match="more than once: 'a'"):
        read_crema_d_tabulated(_crema(tmp_path / "v.csv", [("a", 2), ("b", 1), ("a", 5)]))


def test_generic_votes_refuse_infinite_counts_and_duplicates(tmp_path):
    from workbench.data.listeners import read_generic, record_from_vote_columns

    with pytest.raises(ConfigError, match="vote count"):
        record_from_vote_columns({"votes_angry": "inf", "votes_sad": "1"})
    assert record_from_vote_columns({"votes_angry": "", "votes_sad": "1"})["agreement"] == 1.0  # empty beside counts: 0
    p = tmp_path / "g.csv"
    p.write_text("id,votes_angry,votes_sad\nx,1,2\nx,3,0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="more than once"):
        read_generic(p)


def test_votes_field_over_the_cap_is_refused_not_a_crash(tmp_path):
    from workbench.data.listeners import read_crema_d_tabulated

    p = tmp_path / "v.csv"
    p.write_text(",fileName,A,D,F,H,N,S\n100001,\"" + "x" * 200_000 + "\",1,0,0,0,0,0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="field|line"):
        read_crema_d_tabulated(p)


# ---------------------------------------------------------------------------
# alignments and explain
# ---------------------------------------------------------------------------
def test_alignments_are_capped(tmp_path):
    from workbench.explain.words import MAX_WORDS, read_alignment, validate_words, Word

    ctm = tmp_path / "big.ctm"
    ctm.write_text("".join(f"u 1 {i * 1e-4:.4f} 0.0001 w{i}\n" for i in range(MAX_WORDS + 1)), encoding="utf-8")
    with pytest.raises(ConfigError, match="words"):
        read_alignment(ctm)
    gz = tmp_path / "bomb.jsonl.gz"
    with gzip.open(gz, "wb") as f:
        f.write(b" " * 30_000_000)
    assert gz.stat().st_size < 100_000
    with pytest.raises(ConfigError, match="decompressed"):
        read_alignment(gz)
    with pytest.raises(ConfigError, match="beyond the clip"):
        validate_words([Word(359998.0, 359999.0, "late")], duration=2.0)


def test_explain_refuses_a_clip_over_its_cap(tiny_model):
    from workbench.explain.explanation import MAX_EXPLAIN_S, explain_clip

    with pytest.raises(ConfigError, match="at most 30 s"):
        explain_clip(tiny_model, np.zeros(int((MAX_EXPLAIN_S + 1) * 16000), np.float32), methods=("occlusion",))


# ---------------------------------------------------------------------------
# manifests
# ---------------------------------------------------------------------------
def test_manifest_field_over_the_cap_is_refused(tmp_path):
    from workbench.data.manifest import read_manifest

    p = tmp_path / "m.csv"
    p.write_text("id,path,text\na,a.wav," + "x" * 20_000 + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="characters; the cap"):
        read_manifest(p, validate_files=False)


def test_manifest_folder_names_fifos_and_broken_links(tmp_path):
    from workbench.data.corpora import prepare_folder

    sf.write(tmp_path / "ok.wav", np.zeros(1600, np.float32), 16000)
    os.mkfifo(tmp_path / "pipe.wav")
    os.symlink(tmp_path / "gone.wav", tmp_path / "broken.wav")
    m = prepare_folder(tmp_path)
    assert [it.id for it in m.items] == ["ok"]
    assert len(m.notes) == 1 and "pipe.wav (not a regular file)" in m.notes[0] and "broken.wav (a broken link" in m.notes[0]


def test_broken_links_in_a_folder_are_named_by_bounded_targets(tmp_path):
    """The unusable-files note printed each broken link's target whole: ten targets of ~3,000 characters made it 30 KB."""
    from workbench.data.corpora import prepare_folder

    sf.write(tmp_path / "ok.wav", np.zeros(1600, np.float32), 16000)
    target = "/" + "/".join(["d" * 240] * 12) + "/gone.wav"
    for k in range(12):
        os.symlink(target + str(k), tmp_path / f"broken{k}.wav")
    m = prepare_folder(tmp_path)
    assert [it.id for it in m.items] == ["ok"]
    note = next(n for n in m.notes if "a broken link" in n)
    assert note.count("a broken link to") == 10 and note.endswith(" …") and len(note) < 2_500, len(note)
    assert "gone.wav0)" in note  # the file name of the target stays


@pytest.mark.parametrize("with_file", [True, False])
def test_emodb_prepare_says_whether_it_found_erkennung(tmp_path, with_file):
    from workbench.data.corpora import prepare_emodb

    wav = tmp_path / "emodb" / "wav"
    wav.mkdir(parents=True)
    sf.write(wav / "03a01Fa.wav", np.zeros(1600, np.float32), 16000)
    if with_file:
        (tmp_path / "emodb" / "erkennung.txt").write_text("Nr.\tSatz\terkannt\tnatuerlich\n1\t03a01Fa\t90,5\t80,0\n", encoding="latin-1")
    m = prepare_emodb(wav)
    assert len(m.notes) == 1
    if with_file:
        assert "erkennung.txt" in m.notes[0] and "attached to 1" in m.notes[0]
        assert m.items[0].meta.get("agreement") == pytest.approx(0.905) or "agreement" in str(m.items[0].meta)
    else:
        assert m.notes[0].startswith("no erkennung.txt")


# ---------------------------------------------------------------------------
# CSV cells
# ---------------------------------------------------------------------------
def test_spreadsheet_cells_are_escaped():
    df = pd.DataFrame({"id": ['=HYPERLINK("http://x")', "+1", "-2", "@SUM(1)", "\tx", "\rx", "ok"], "n": [-1.0, 1, 2, 3, 4, 5, 6]})
    out = spreadsheet_safe(df)
    # a leading tab or carriage return is written as its escape (no control character stays raw), which starts no formula
    assert out["id"].tolist() == ['\'=HYPERLINK("http://x")', "'+1", "'-2", "'@SUM(1)", "\\x09x", "\\x0dx", "ok"]
    assert out["n"].tolist() == df["n"].tolist()  # numbers stay numbers
    assert df["id"].iloc[0].startswith("=")  # the caller's frame is not changed


def test_compare_writes_escaped_flips(tmp_path):
    from workbench.analysis import compare

    src = Path(compare.variants.__file__).read_text(encoding="utf-8")  # compare_run writes the flips
    # every CSV writer of the package goes through spreadsheet_safe (a new writer without it fails here)
    for path in (REPO / "workbench").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for line in text.splitlines():
            if ".to_csv(" in line and "spreadsheet_safe" not in line and "manifest" not in path.name:
                pytest.fail(f"{path.relative_to(REPO)}: CSV written without spreadsheet_safe: {line.strip()}")
    assert "spreadsheet_safe(flips)" in src


# ---------------------------------------------------------------------------
# careless: paths, names, notebooks, memory
# ---------------------------------------------------------------------------
def test_error_shows_the_absolute_path(tmp_path, monkeypatch):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "x.csv").write_text("", encoding="utf-8")
    monkeypatch.chdir(tmp_path / "a" / "b")
    text = ConfigError("is empty.", source="../../x.csv, row 3", fix="f").render()
    assert text.startswith(f"error: {tmp_path / 'x.csv'}, row 3: is empty.")


def test_model_names_for_screen_and_figures():
    from types import SimpleNamespace

    from workbench.cli.running import model_name
    from workbench.model.checkpoints import display_name

    onnx = SimpleNamespace(info=SimpleNamespace(id="random-tiny", kind="onnx", path="/tmp/export"))
    assert model_name(onnx) == "random-tiny (onnx, /tmp/export)" and "object at" not in model_name(onnx)
    assert display_name("/root/.cache/modelscope/hub/models/iic/emotion2vec_plus_large") == "iic/emotion2vec_plus_large"
    assert display_name("/h/hub/models--emotion2vec--emotion2vec_plus_base/snapshots/1a2b") == "emotion2vec/emotion2vec_plus_base"
    assert display_name("random-tiny") == "random-tiny"


def test_probe_shows_corpus_class_names():
    from workbench.data.corpora import LABEL_MAPS, LABEL_NAMES

    assert set(LABEL_NAMES["emodb"]) == set(LABEL_MAPS["emodb"]) and LABEL_NAMES["emodb"]["L"] == "boredom"


def test_notebook_setup_outside_the_repository_stays_in_its_folder(tmp_path):
    """Notebook 05 copied elsewhere climbed to / and wrote /runs/…: the setup cell now finds the package by import
    and puts what it makes in runs/ beside the notebook, wherever that is."""
    sys.path.insert(0, str(REPO / "notebooks"))
    try:
        import make_notebooks
    finally:
        sys.path.pop(0)
    code = make_notebooks.SETUP + "\nprint(RUNS)\nprint(DEMO.is_dir())\n"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out == [str(tmp_path / "runs"), "True"]
    inside = subprocess.run([sys.executable, "-c", code], cwd=REPO / "notebooks", env=env, capture_output=True, text=True, check=True)
    assert inside.stdout.split()[0] == str(REPO / "notebooks" / "runs")


def test_decode_mono_never_holds_all_channels(tmp_path):
    from workbench.audio.intake import decode_mono

    p = tmp_path / "wide.wav"
    sr, seconds, channels = 48000, 20, 16
    with sf.SoundFile(p, "w", samplerate=sr, channels=channels, subtype="FLOAT") as f:
        for _ in range(seconds):
            f.write(np.full((sr, channels), 0.1, np.float32))
    all_channels = sr * seconds * channels * 4
    tracemalloc.start()
    audio = decode_mono(p)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert audio.samples.shape == (sr * seconds,)
    assert peak < 0.5 * all_channels, f"peak {peak / 1e6:.1f} MB for {all_channels / 1e6:.1f} MB of channels"
    assert shown("x" * 10_000_000).endswith("…")
