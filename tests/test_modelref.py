"""ModelRef: one value for "which model", portable, and checked against what a run recorded (issue #20, defects 1, 6, 9)."""

from __future__ import annotations

import argparse
from dataclasses import replace

import pytest
import soundfile as sf
import yaml

from conftest import speech_like
from workbench.model.checkpoints import build_random_checkpoint, ensure_random_checkpoint
from workbench.cli import build_parser, main
from workbench.errors import ConfigError, ModelError
from workbench.data.manifest import Item, Manifest, write_manifest
from workbench.model.ref import ModelRef, portable_name
from workbench.runs.driver import run


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A run of six synthetic clips with the tiny checkpoint, written through the real run path."""
    root = tmp_path_factory.mktemp("modelref")
    items = []
    for i in range(6):
        sf.write(root / f"c{i}.wav", speech_like(16000, 1.0 + 0.2 * i, seed=i), 16000)
        items.append(Item(id=f"c{i}", path=f"c{i}.wav", label="happy", emotion="happy", speaker=f"s{i % 2}"))
    manifest = write_manifest(Manifest(items, root=root), root / "manifest.csv")
    run(manifest, out_dir=root / "run", model=ModelRef("tiny", device="cpu"), use_cache=False, workers=0)
    return root


def test_a_reference_round_trips_and_refuses_unknown_keys():
    ref = ModelRef("tiny", device="cpu", dtype="int8", checksum="a" * 64, temperature=1.5)
    assert ModelRef.from_dict(ref.to_dict()) == ref
    with pytest.raises(ConfigError) as info:
        ModelRef.from_dict({"model": "tiny", "dtpye": "int8"})
    assert "dtpye" in str(info.value) and "dtype" in str(info.value)
    with pytest.raises(ConfigError, match="float32"):
        ModelRef("tiny", dtype="fp8")


def test_the_random_checkpoint_cache_folder_is_recorded_as_its_name():
    # defect 9: a run recorded ~/.cache/…/random-tiny-seed0, a path of the machine that ran it
    assert portable_name(ensure_random_checkpoint("tiny")) == "tiny"
    assert portable_name("/home/someone/.cache/emotion-workbench/checkpoints/random-large-seed0") == "random-large"
    assert portable_name("iic/emotion2vec_plus_large") == "iic/emotion2vec_plus_large"


def test_load_refuses_weights_with_another_checksum(tmp_path, tiny_model):
    assert ModelRef("tiny", device="cpu", checksum=tiny_model.info.checksum).load() is tiny_model
    with pytest.raises(ModelError, match="recorded"):
        ModelRef("tiny", device="cpu", checksum="0" * 64).load()


def test_the_run_records_a_portable_model_with_its_checksum(small_run, tiny_model):
    exp = yaml.safe_load((small_run / "run" / "experiment.yaml").read_text())
    assert exp["model"]["model"] == "tiny" and exp["model"]["checksum"] == tiny_model.info.checksum  # nested: a ModelRef
    assert len(exp["manifest_sha256"]) == 64
    cfg = yaml.safe_load((small_run / "run" / "config.yaml").read_text())
    assert cfg["model"] == "tiny"


@pytest.mark.parametrize("command", ["infer", "segment", "sweep", "diagnose", "similar", "model info", "embeddings", "run"])
def test_every_command_that_loads_a_model_takes_the_same_model_options(command):
    # defect 6: only `run` took --dtype
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    p = sub.choices[command.split()[0]]
    if " " in command:
        p = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction)).choices[command.split()[1]]
    options = {o for a in p._actions for o in a.option_strings}
    assert {"--model", "--hub", "--revision", "--device", "--dtype"} <= options, command


def test_neighbours_of_a_file_use_the_runs_model_by_default(small_run, capsys):
    # defect 1: without --model the default hub model was loaded (offline: exit 2 after writing the figures)
    code = main(["embeddings", str(small_run / "run"), "--neighbours", str(small_run / "c3.wav"), "--cluster", "none",
                 "--color-by", "--device", "cpu", "--top", "2"])
    out = capsys.readouterr().out
    assert code == 0, out
    table = out.split("nearest to", 1)[1].splitlines()[2:]
    first = table[0].split()
    assert float(first[0]) == pytest.approx(1.0, abs=1e-4) and first[1] == "c3"  # a file of the run is its own neighbour
    assert "OTHER MODEL" not in out


def test_neighbours_with_another_checkpoint_are_refused_unless_asked_and_then_labelled(small_run, tmp_path, capsys):
    other = build_random_checkpoint(tmp_path / "seed1", arch="tiny", seed=1)  # same shape, other weights
    args = ["embeddings", str(small_run / "run"), "--neighbours", str(small_run / "c3.wav"), "--cluster", "none",
            "--color-by", "--device", "cpu", "--model", str(other)]
    for name in ("projection_pca.csv",):
        (small_run / "run" / name).unlink(missing_ok=True)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--other-model" in err and "not the run's model" in err
    assert not (small_run / "run" / "projection_pca.csv").exists()  # refused before anything was written
    assert main(args + ["--other-model"]) == 0
    out = capsys.readouterr().out
    assert out.count("OTHER MODEL") == 2 and "embedded with another model" in out


def test_embeddings_out_writes_elsewhere(small_run, tmp_path):
    assert main(["embeddings", str(small_run / "run"), "--cluster", "none", "--color-by", "pred", "--out", str(tmp_path / "emb")]) == 0
    assert (tmp_path / "emb" / "projection_pca.csv").is_file() and (tmp_path / "emb" / "projection_pca_pred.png").is_file()


def test_coerce_is_the_one_converter(tiny_model):
    """ModelRef.coerce replaces as_model/as_model_ref: a reference, a name or a loaded model, one type out."""
    ref = ModelRef(model="tiny", dtype="float32")
    assert ModelRef.coerce(ref) is ref
    assert ModelRef.coerce("tiny", device="cpu") == ModelRef(model="tiny", device="cpu")
    assert ModelRef.coerce(None).model is None and not ModelRef.coerce(None).is_loaded
    loaded = ModelRef.coerce(tiny_model)
    assert loaded.is_loaded and loaded.load() is tiny_model  # never loaded a second time
    assert loaded.model == "tiny" and loaded.checksum == tiny_model.info.checksum
    assert not replace(loaded, dtype="float32").is_loaded  # another request is another model
    with pytest.raises(ConfigError, match=r"unknown model option\(s\) \['dtyp'\]"):
        ModelRef.coerce("tiny", dtyp="int8")


def test_pinned_fills_what_the_load_settled(tiny_model):
    """pinned(net): the checksum of the weights, the precision loaded in and the temperature applied; the name stays portable."""
    ref = ModelRef("tiny", device="cpu", dtype="auto")
    tempered = tiny_model.with_temperature(1.5)
    pinned = ref.pinned(tempered)
    assert pinned.model == "tiny" and pinned.device == "cpu"
    assert pinned.checksum == tiny_model.info.checksum and len(pinned.checksum) == 64
    assert pinned.dtype == tiny_model.info.dtype  # "auto" became what was loaded
    assert pinned.temperature == 1.5
    assert ref.pinned(tiny_model).temperature is None  # a model without one records none, whatever was asked
    assert ModelRef.from_dict(pinned.to_dict()) == pinned
    # the pinned reference refuses other weights
    other = replace(pinned, checksum="0" * 64, temperature=None)
    with pytest.raises(ModelError, match="not the 000000000000"):
        other.load()


def test_describe_checks_and_hashes_without_building(tiny_model, tmp_path, monkeypatch):
    import workbench.model.building as building

    monkeypatch.setattr(building, "build", lambda *a, **k: pytest.fail("the network was built"))
    described = ModelRef(tiny_model.info.path, dtype="int8").describe()
    assert described.info.checksum == tiny_model.info.checksum and described.info.parameters is None
    assert described.random_weights and described.labels == tiny_model.labels and described.info.dtype == "int8"
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_model.info.path, bad)
    (bad / "requirements.txt").write_text("evil\n", encoding="utf-8")
    with pytest.raises(ModelError, match="requirements.txt"):
        ModelRef(str(bad)).describe()


def test_the_model_types_other_than_modelref_are_private():
    """One noun: no module of the package defines a public ModelSpec, ModelInfo or CheckpointRef."""
    import ast
    from pathlib import Path

    import workbench

    pkg = Path(workbench.__file__).parent
    public = {(p.relative_to(pkg).as_posix(), n.name) for p in pkg.rglob("*.py")
              for n in ast.walk(ast.parse(p.read_text(encoding="utf-8"))) if isinstance(n, ast.ClassDef)
              and n.name in ("ModelSpec", "ModelInfo", "CheckpointRef")}
    assert not public, public
