"""Hugging Face datasets → manifest, with datasets built by the `datasets` library itself, offline."""

from __future__ import annotations

import os

os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

datasets = pytest.importorskip("datasets")
# the repo's own datasets/ folder has no __init__.py, so it must never shadow the library
assert hasattr(datasets, "load_from_disk"), f"`import datasets` found {datasets.__path__}, not Hugging Face's library"

from conftest import speech_like  # noqa: E402
from workbench.audio.intake import load as load_audio  # noqa: E402
from workbench.errors import ConfigError  # noqa: E402
from workbench.data.hf import import_hf  # noqa: E402
from workbench.data.manifest import read_manifest  # noqa: E402

CLASSES = ["ang", "hap", "calm", "sad"]  # calm has no emotion2vec+ counterpart


def _wav(path: Path, seed: int, sr: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, speech_like(sr, 0.5, seed=seed), sr, subtype="PCM_16")
    return path


def _dataset(tmp_path: Path, n: int, *, labels, ids=None, with_bytes=True, extra=None):
    from datasets import Audio, ClassLabel, Dataset, Features, Value

    files = [_wav(tmp_path / "src" / f"clip{i}.wav", seed=i) for i in range(n)]
    cells = [{"bytes": f.read_bytes() if with_bytes else None, "path": str(f) if not with_bytes else f"clip{i}.wav"} for i, f in enumerate(files)]
    # Dataset.from_dict with an Audio feature encodes through torchcodec, which the workbench does
    # not install; a {bytes, path} struct column cast to Audio is stored exactly the same way
    data = {"audio": cells, "emotion": labels}
    feats = {"audio": {"bytes": Value("binary"), "path": Value("string")}, "emotion": ClassLabel(names=CLASSES)}
    if ids is not None:
        data["id"], feats["id"] = ids, Value("string")
    for k, v in (extra or {}).items():
        data[k], feats[k] = v, Value("string")
    ds = Dataset.from_dict(data, features=Features(feats)).cast_column("audio", Audio())
    return ds, files


def test_saved_dataset_dict_writes_hashed_audio_and_maps_class_labels(tmp_path):
    from datasets import DatasetDict

    train, files = _dataset(tmp_path / "a", 4, labels=[0, 1, 2, 3], extra={"speaker": ["s1", "s1", "s2", "s2"], "text": ["a", "b", "c", "d"]})
    test, _ = _dataset(tmp_path / "b", 2, labels=[3, 0])
    DatasetDict({"train": train, "test": test}).save_to_disk(str(tmp_path / "saved"))

    res = import_hf(tmp_path / "saved", tmp_path / "out" / "m.csv")
    m = read_manifest(tmp_path / "out" / "m.csv")  # validates: every path exists
    assert len(m) == 6 and res.written == 6 and res.referenced == 0 and not res.skipped
    assert [it.split for it in m] == ["train"] * 4 + ["test"] * 2
    # ClassLabel integers become their names; calm has no counterpart and stays visible with an empty emotion
    assert [it.label for it in m][:4] == ["ang", "hap", "calm", "sad"]
    assert [it.emotion for it in m][:4] == ["angry", "happy", "", "sad"]
    assert [it.speaker for it in m][:4] == ["s1", "s1", "s2", "s2"] and m.items[2].text == "c"
    # files are named by their content's hash, hold exactly the dataset's bytes, and the intake decodes them
    first = m.resolve(m.items[0])
    assert first.name == hashlib.sha256(files[0].read_bytes()).hexdigest()[:32] + ".wav"
    assert first.read_bytes() == files[0].read_bytes()
    assert first.parent == (tmp_path / "out" / "m_audio").resolve()
    np.testing.assert_allclose(load_audio(first).samples, load_audio(files[0]).samples)
    # --split picks one
    only = import_hf(tmp_path / "saved", tmp_path / "out" / "t.jsonl", split="test")
    assert [it.label for it in only.manifest] == ["sad", "ang"]


def test_ids_from_the_dataset_never_name_files(tmp_path):
    ds, _ = _dataset(tmp_path, 2, labels=[0, 1], ids=["../../escape", "/etc/passwd"])
    ds.save_to_disk(str(tmp_path / "saved"))
    res = import_hf(tmp_path / "saved", tmp_path / "out" / "m.csv")
    assert [it.id for it in res.manifest] == ["../../escape", "/etc/passwd"]
    written = sorted(p.name for p in (tmp_path / "out" / "m_audio").iterdir())
    assert len(written) == 2 and all(len(n) == 36 and n.endswith(".wav") for n in written)
    assert not (tmp_path / "escape").exists()


def test_existing_paths_are_referenced_not_copied(tmp_path):
    # (save_to_disk embeds the files' bytes; a dataset in memory keeps the paths)
    ds, files = _dataset(tmp_path, 2, labels=[1, 3], with_bytes=False)
    res = import_hf(ds, tmp_path / "out" / "m.csv")
    assert res.referenced == 2 and res.written == 0
    assert [Path(it.path) for it in res.manifest] == [f.resolve() for f in files]
    assert not (tmp_path / "out" / "m_audio").exists()


def test_rows_without_audio_are_skipped_and_counted(tmp_path):
    ds, files = _dataset(tmp_path, 3, labels=[0, 1, 3], with_bytes=False)
    files[1].unlink()
    res = import_hf(ds, tmp_path / "out" / "m.csv")
    assert len(res.manifest) == 2 and len(res.skipped) == 1 and "[1]" in res.skipped[0] and "no file" in res.skipped[0]


def test_audiofolder_with_metadata_csv(tmp_path):
    root = tmp_path / "af"
    for split, names in (("train", ["a", "b", "c"]), ("test", ["d"])):
        for i, n in enumerate(names):
            _wav(root / split / f"{n}.wav", seed=i)
    (root / "train" / "metadata.csv").write_text("file_name,emotion,speaker\na.wav,anger,spk1\nb.wav,joy,spk2\nc.wav,calm,spk1\n")
    (root / "test" / "metadata.csv").write_text("file_name,emotion,speaker\nd.wav,sadness,spk3\n")
    res = import_hf(root, tmp_path / "m.parquet")
    m = read_manifest(tmp_path / "m.parquet")
    by_label = {it.label: it for it in m}
    assert {k: v.emotion for k, v in by_label.items()} == {"anger": "angry", "joy": "happy", "calm": "", "sadness": "sad"}
    assert by_label["anger"].split == "train" and by_label["sadness"].split == "test" and by_label["joy"].speaker == "spk2"
    assert Path(by_label["anger"].path) == (root / "train" / "a.wav").resolve() and res.referenced == 4
    # an explicit map wins over the generic names, and may give calm a counterpart on purpose
    res = import_hf(root, tmp_path / "m2.csv", label_map="calm=neutral,joy=surprised")
    assert {it.label: it.emotion for it in res.manifest}["calm"] == "neutral"
    assert {it.label: it.emotion for it in res.manifest}["joy"] == "surprised"


def test_audiofolder_labels_from_folder_names(tmp_path):
    root = tmp_path / "af"
    _wav(root / "angry" / "x.wav", 1)
    _wav(root / "neutral" / "y.wav", 2)
    _wav(root / "boredom" / "z.wav", 3)
    m = import_hf(root, tmp_path / "m.csv").manifest
    assert sorted((it.label, it.emotion) for it in m) == [("angry", "angry"), ("boredom", ""), ("neutral", "neutral")]


def test_corpus_table_as_map(tmp_path):
    root = tmp_path / "af"
    _wav(root / "a.wav", 1)
    _wav(root / "b.wav", 2)
    (root / "metadata.jsonl").write_text('{"file_name": "a.wav", "emo": "W"}\n{"file_name": "b.wav", "emo": "L"}\n')
    m = import_hf(root, tmp_path / "m.csv", label_map="emodb").manifest
    assert [(it.label, it.emotion) for it in m] == [("W", "angry"), ("L", "")]


def test_clear_errors(tmp_path):
    ds, _ = _dataset(tmp_path, 2, labels=[0, 1])
    ds.save_to_disk(str(tmp_path / "saved"))
    with pytest.raises(ConfigError, match=r"no label column 'mood'.*'emotion'"):
        import_hf(tmp_path / "saved", tmp_path / "m.csv", label_column="mood")
    with pytest.raises(ConfigError, match="'hap' to 'joyful', which is not an emotion2vec\\+ class"):
        import_hf(tmp_path / "saved", tmp_path / "m.csv", label_map={"hap": "joyful"})
    with pytest.raises(ConfigError, match=r"labels the dataset does not have: \['hapy'\]"):
        import_hf(tmp_path / "saved", tmp_path / "m.csv", label_map="hapy=happy")
    with pytest.raises(ConfigError, match="has no split 'dev'"):
        import_hf(tmp_path / "saved", tmp_path / "m.csv", split="dev")
    with pytest.raises(ConfigError, match="could not load 'nobody/no-such-dataset' from the Hugging Face hub"):
        import_hf("nobody/no-such-dataset", tmp_path / "m.csv")
    with pytest.raises(ConfigError, match="not a dataset folder"):
        import_hf(tmp_path / "missing", tmp_path / "m.csv")
    bad = tmp_path / "af"
    _wav(bad / "a.wav", 1)
    (bad / "metadata.csv").write_text("file_name,emotion\n../../outside.wav,angry\n")
    with pytest.raises(ConfigError, match="points outside the metadata file's folder"):
        import_hf(bad, tmp_path / "m.csv")
    assert not (tmp_path / "m.csv").exists()


def test_cli_import_hf(tmp_path, capsys):
    from workbench.cli import main

    ds, _ = _dataset(tmp_path, 3, labels=[0, 2, 3])
    ds.save_to_disk(str(tmp_path / "saved"))
    assert main(["datasets", "import-hf", str(tmp_path / "saved"), "--out", str(tmp_path / "m.csv"), "--map", "calm=neutral"]) == 0
    out = capsys.readouterr().out
    assert "3 items" in out and "calm" in out and "neutral" in out
    assert f"next: workbench run {tmp_path / 'm.csv'} --out runs/m" in out  # as `manifest` and `datasets prepare` say
    assert main(["datasets", "import-hf", str(tmp_path / "saved"), "--out", str(tmp_path / "m.csv"), "--label-column", "nope"]) == 2
    assert "has no label column 'nope'" in capsys.readouterr().err


def test_a_hub_id_without_network_looks_in_the_local_cache_only_and_says_so(tmp_path, monkeypatch, capfd):
    # no network: huggingface_hub retried every request five times (24 s of "Retrying in 8s" lines on the screen)
    # before the same refusal; now the local cache only, at once, and the refusal says why
    import datasets
    from huggingface_hub import constants

    monkeypatch.setenv("WORKBENCH_OFFLINE", "1")  # what an unreachable hub gives, without depending on this machine's network
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    kept = datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE
    with pytest.raises(ConfigError) as e:
        import_hf("someone/no_such_emotion_set", out=tmp_path / "m.csv")
    assert "offline mode is set, so only the local cache was looked in" in str(e.value)
    assert "Retrying" not in capfd.readouterr().err
    assert (datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE) == kept  # the libraries' own settings put back
