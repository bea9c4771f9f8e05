"""The experiment commands as a user types them."""

from __future__ import annotations

import json

import pandas as pd

from test_corpora import wav
from workbench.cli import main


def test_prepare_run_metrics_diagnose(tmp_path, capsys):
    corpus = tmp_path / "emodb"
    for i, name in enumerate(["03a01Fa", "08b10Wb", "10a04Lc", "16b03Tb", "09a05Ea", "13a07Na"]):
        wav(corpus / "wav" / f"{name}.wav", dur=1.2, seed=i)
    manifest = tmp_path / "emodb.csv"
    assert main(["datasets", "prepare", "emodb", str(corpus), "--out", str(manifest)]) == 0
    out = capsys.readouterr().out
    assert "6 items" in out and "5 with an emotion2vec+ counterpart, 1 without" in out and "L →" in out

    run_dir = tmp_path / "run"
    assert main(["run", str(manifest), "--model", "tiny", "--out", str(run_dir), "--cache-dir", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("!! RANDOM WEIGHTS") and "6 rows, 0 failed" in out and "5 labelled with one of the model's classes, 1 labelled with none of them (L 1), 0 unlabelled" in out
    df = pd.read_parquet(run_dir / "results.parquet")
    assert len(df) == 6 and set(df["speaker"]) == {"03", "08", "10", "16", "09", "13"}

    assert main(["metrics", str(run_dir), "--by", "gender"]) == 0
    out = capsys.readouterr().out
    assert "5 scored, 1 excluded" in out and "UAR" in out and "by gender" in out
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["raw"]["n_scored"] == 5
    assert (run_dir / "confusion_raw.png").stat().st_size > 1000 and (run_dir / "reliability_raw.png").is_file()

    assert main(["diagnose", str(corpus / "wav" / "03a01Fa.wav"), "--model", "tiny", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["random_weights"] is True and payload["stability"]["rows"] and isinstance(payload["findings"], list)


def test_run_of_a_missing_manifest_is_a_usage_error(tmp_path, capsys):
    assert main(["run", str(tmp_path / "nope.csv"), "--model", "tiny"]) == 2
    assert "manifest file not found" in capsys.readouterr().err


def test_own_folder_recipe_manifest_run_metrics(tmp_path, capsys, monkeypatch):
    """The README's recipe: a folder of WAVs → workbench manifest → run → metrics."""
    monkeypatch.chdir(tmp_path)
    for i, (folder, name) in enumerate([("angry", "a1"), ("angry", "a2"), ("sad", "s1"), ("sad", "s2"), ("calm", "c1")]):
        wav(tmp_path / "my_wavs" / folder / f"{name}.wav", dur=0.8, seed=i)
    assert main(["manifest", "my_wavs", "-o", "lists/my_wavs.csv", "--label-from-folder"]) == 0
    out = capsys.readouterr().out
    assert "wrote lists/my_wavs.csv: 5 items; 4 with an emotion2vec+ counterpart, 1 without" in out
    assert "calm → —" in out and "next: workbench run lists/my_wavs.csv" in out
    df = pd.read_csv(tmp_path / "lists" / "my_wavs.csv", keep_default_na=False)
    assert list(df["path"]) == ["../my_wavs/angry/a1.wav", "../my_wavs/angry/a2.wav", "../my_wavs/calm/c1.wav",
                                "../my_wavs/sad/s1.wav", "../my_wavs/sad/s2.wav"]  # relative to the manifest's folder
    assert main(["run", "lists/my_wavs.csv", "--model", "tiny", "--out", "runs/my_wavs", "--cache-dir", "cache"]) == 0
    assert "5 rows, 0 failed" in capsys.readouterr().out
    assert main(["metrics", "runs/my_wavs", "--by", "--no-figures"]) == 0
    assert "4 scored, 1 excluded" in capsys.readouterr().out


def test_infer_prints_the_fix_of_a_failed_input_on_the_console(tmp_path, capsys):
    good = wav(tmp_path / "good.wav", dur=0.8)
    rc = main(["infer", str(good), str(tmp_path / "missing.wav"), "--model", "tiny", "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert rc == 1 and "1 succeeded, 1 failed" in out
    line = next(line for line in out.splitlines() if line.startswith("missing.wav"))
    assert "FAILED" in line and "file not found." in line and "Fix: check the path" in line
