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
    assert out.startswith("!! RANDOM WEIGHTS") and "6 rows, 0 failed" in out and "1 without counterpart" in out
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
