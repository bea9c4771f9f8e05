"""Seed-compatible output folders, the CLI, and the demo."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import soundfile as sf

from conftest import DEMO, sine, speech_like
from workbench.audio.intake import file_sha256
from workbench.cli import main
from workbench.labels import LABEL_KEYS
from workbench.runs.outputs import infer_files


@pytest.fixture
def inputs(tmp_path):
    good44 = tmp_path / "good44.wav"
    sf.write(good44, speech_like(44100, 2.0, seed=1), 44100, subtype="PCM_16")
    good8 = tmp_path / "tel8.wav"
    sf.write(good8, speech_like(8000, 1.5, seed=2), 8000, subtype="PCM_16")
    bad = tmp_path / "broken.wav"
    bad.write_text("not audio at all" * 10)
    return good44, good8, bad


def test_one_folder_per_input_and_a_bad_one_becomes_an_error_record(tmp_path, inputs, tiny_model):
    out = tmp_path / "outputs"
    outcomes = infer_files(list(inputs), model=tiny_model, out_dir=out, embedding=True)
    assert [o.ok for o in outcomes] == [True, True, False]
    folders = sorted(p.name for p in out.iterdir())
    assert len(folders) == 3 and all(f.startswith("outputs_") for f in folders)
    assert len(set(o.folder for o in outcomes)) == 3

    good = outcomes[0].folder
    assert sorted(os.listdir(good)) == ["embedding.npy", "log.txt", "processed_audio.wav", "result.json"]
    res = json.loads((good / "result.json").read_text())
    for key in ("emotion", "confidence", "scores", "granularity", "timestamp"):
        assert key in res
    assert set(res["scores"]) == set(LABEL_KEYS) and abs(sum(res["scores"].values()) - 1) < 1e-6
    assert res["random_weights"] is True and "mean nothing" in res["warning"]
    assert res["input"]["sha256"] == file_sha256(inputs[0])
    assert res["input"]["sample_rate"] == 44100
    assert [s["name"] for s in res["processing_chain"]] == ["decode", "resample"]
    assert res["model"]["checksum"] == tiny_model.info.checksum
    assert res["package"]["name"] == "workbench" and res["timings"]["total_ms"] > 0
    # processed_audio.wav is exactly what the model saw
    y, sr = sf.read(good / "processed_audio.wav", dtype="float32")
    assert sr == 16000 and y.ndim == 1 and abs(len(y) - 32000) <= 1
    assert res["audio"]["samples"] == len(y)
    emb = np.load(good / "embedding.npy")
    assert emb.shape == (tiny_model.info.embed_dim,)
    np.testing.assert_allclose(emb, tiny_model.predict([y])[0].embedding, atol=1e-5)

    log = (good / "log.txt").read_text()
    assert log.splitlines()[0].startswith("WARNING: RANDOM WEIGHTS")
    for line in ("INFO: Model loaded in", "INFO: File size:", "INFO: Inference completed. Top emotion:", "INFO: Done. Total processing time:"):
        assert line in log

    bad = outcomes[2].folder
    assert sorted(os.listdir(bad)) == ["error.json", "log.txt"]
    err = json.loads((bad / "error.json").read_text())
    assert err["error"]["type"] == "AudioError" and "could not decode" in err["error"]["message"]
    assert "broken.wav" in err["error"]["text"] and err["error"]["fix"]
    # nothing half-written left behind
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_two_runs_in_the_same_second_never_collide(tmp_path, inputs, tiny_model):
    out = tmp_path / "o"
    a = infer_files([inputs[0]], model=tiny_model, out_dir=out)
    b = infer_files([inputs[0]], model=tiny_model, out_dir=out)
    c = infer_files([inputs[0]], model=tiny_model, out_dir=out)
    names = {a[0].folder.name, b[0].folder.name, c[0].folder.name}
    assert len(names) == 3
    assert all((out / n / "result.json").is_file() for n in names)


def test_frame_granularity_writes_frame_scores(tmp_path, inputs, tiny_model):
    outcomes = infer_files([inputs[1]], model=tiny_model, out_dir=tmp_path, granularity="frame", embedding=True)
    res = outcomes[0].result
    frames = res["frames"]
    assert frames["rate_hz"] == 50 and len(frames["scores"]) == res["n_frames"] == 74
    assert all(abs(sum(row) - 1) < 1e-4 for row in frames["scores"])
    assert np.load(outcomes[0].folder / "embedding.npy").shape == (74, tiny_model.info.embed_dim)


def test_cli_infer_prints_a_table_and_exit_codes(tmp_path, inputs, capsys):
    rc = main(["infer", str(inputs[0]), "--model", "tiny", "--out", str(tmp_path / "a")])
    out = capsys.readouterr().out
    assert rc == 0
    assert out.startswith("!! RANDOM WEIGHTS")
    assert "good44.wav" in out and "1 succeeded, 0 failed" in out
    rc = main(["infer", str(inputs[0]), str(inputs[2]), "--model", "tiny", "--out", str(tmp_path / "b")])
    out = capsys.readouterr().out
    assert rc == 1 and "FAILED" in out and "1 succeeded, 1 failed" in out


def test_cli_usage_error_exit_code(tmp_path, capsys):
    rc = main(["infer", str(tmp_path / "x.wav"), "--model", str(tmp_path / "no_such_dir/")])
    assert rc == 2
    assert "no such checkpoint directory" in capsys.readouterr().err


def test_cli_make_tiny_and_model_info(tmp_path, capsys):
    assert main(["model", "make-tiny", str(tmp_path / "ck"), "--seed", "5"]) == 0
    assert (tmp_path / "ck" / "model.pt").is_file()
    assert "mean nothing" in capsys.readouterr().out
    assert main(["model", "info", "--model", str(tmp_path / "ck"), "--device", "cpu", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["random_weights"] is True and info["parameters"] > 0 and info["path"].endswith("ck")
    assert main(["model", "info", "--model", "tiny", "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "checksum" in text and "parameters" in text and "RANDOM WEIGHTS" in text
    # a field that does not apply (no hub, no revision, no temperature) is a dash, not Python's None
    assert "None" not in text and "            hub: —" in text and "    temperature: — (the checkpoint's own scores)" in text


def test_demo_runs_offline_on_the_committed_demo_set(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("WORKBENCH_MODEL", raising=False)
    monkeypatch.setenv("MODELSCOPE_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    here = tmp_path / "cwd"
    here.mkdir()
    monkeypatch.chdir(here)
    assert main(["demo", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("OFFLINE DEMO") and "mean nothing" in out.splitlines()[0]
    assert "9 succeeded, 0 failed" in out
    assert sum(1 for p in (tmp_path / "demo").iterdir() if p.name.startswith("outputs_")) == 9
    assert not any(here.iterdir())  # --out DIR holds everything the demo writes: nothing lands where it was started
    # make demo ends with the experiment report, and says where it is
    (html,) = (tmp_path / "demo" / "reports" / "experiment_report").glob("*/experiment_report.html")
    assert f"report: {html.resolve()}" in out and "RANDOM WEIGHTS" in html.read_text(encoding="utf-8")[:3000]
    # and, as every command, with what to do next: the report to open, then a folder of one's own with the demo's model
    # (the run's default model is a download: offline it fails where the demo just used tiny)
    after = out.split("\nnext:\n", 1)[1]
    assert f"open {html.resolve()} in a browser" in after and "workbench manifest my_wavs/ -o my_wavs.csv --label-from-folder" in after
    assert "workbench run my_wavs.csv --out runs/my_wavs --model tiny" in after


def test_demo_set_is_small_and_covers_the_cases():
    import csv

    rows = list(csv.DictReader(open(DEMO / "manifest.csv", encoding="utf-8")))
    total = sum((DEMO / r["path"]).stat().st_size for r in rows)
    assert total < 3_000_000
    suffixes = {os.path.splitext(r["path"])[1] for r in rows}
    assert {".wav", ".flac", ".mp3", ".ogg", ".m4a"} <= suffixes
    notes = " ".join(r["notes"] for r in rows)
    for case in ("44.1 kHz", "8 kHz", "VBR", "sample 0", "SNR"):
        assert case in notes


def test_infer_prints_the_findings_that_void_a_label(tmp_path, tiny_model):
    import io

    from workbench.runs.outputs import print_outcomes

    sf.write(tmp_path / "silence.wav", np.zeros(32000, np.float32), 16000)
    sf.write(tmp_path / "dc.wav", np.full(32000, 0.5, np.float32), 16000)
    sf.write(tmp_path / "voice.wav", speech_like(16000, 1.5, seed=3), 16000)
    outcomes = infer_files([tmp_path / "silence.wav", tmp_path / "dc.wav", tmp_path / "voice.wav"], model=tiny_model,
                           out_dir=tmp_path / "out")
    codes = [{f["code"] for f in o.findings} for o in outcomes]
    assert "digital_silence" in codes[0] and "dc_only" in codes[1] and not codes[2] & {"digital_silence", "dc_only", "no_signal"}
    # the finding is in result.json and on the console, under the table
    assert "digital_silence" in json.dumps(json.loads((outcomes[0].folder / "result.json").read_text())["findings"])
    buf = io.StringIO()
    print_outcomes(outcomes, out=buf)
    text = buf.getvalue()
    assert "2 finding(s) that make a label meaningless" in text
    assert "silence.wav: digital_silence" in text and "dc.wav: dc_only" in text and "voice.wav:" not in text.split("meaningless")[1]


def test_infer_shows_info_findings_on_screen_and_in_log_txt(tmp_path, tiny_model):
    """The demo clip happy_zh_onset0.wav exists to show speech_at_sample_0, an info-level finding: it must reach the
    screen and log.txt, not only result.json."""
    import io

    from workbench.runs.outputs import print_outcomes

    (o,) = infer_files([DEMO / "happy_zh_onset0.wav"], model=tiny_model, out_dir=tmp_path / "out")
    info = [f for f in o.findings if f["severity"] == "info"]
    assert "speech_at_sample_0" in {f["code"] for f in info}
    log = (o.folder / "log.txt").read_text(encoding="utf-8")
    buf = io.StringIO()
    print_outcomes([o], out=buf)
    for f in o.findings:
        assert f"{f['code']}: {f['message']}" in log, log
        assert f"happy_zh_onset0.wav: {f['code']} ({f['severity']}): {f['message']}" in buf.getvalue(), buf.getvalue()
    assert "INFO: speech_at_sample_0: the first 45 ms" in log


def test_the_model_load_is_said_once_above_the_logs_of_a_several_file_command(tmp_path, inputs, tiny_model):
    """`workbench demo` printed "Model loaded in 1.6s (… once for the 9 inputs …)" nine times, once per file's log;
    each folder's log.txt keeps its own line."""
    import io

    from workbench.runs.outputs import print_logs, print_outcomes

    outcomes = infer_files(list(inputs[:2]), model=tiny_model, out_dir=tmp_path / "out")
    for show in (lambda buf: print_logs(outcomes, buf), lambda buf: print_outcomes(outcomes, show_log=True, out=buf)):
        buf = io.StringIO()
        show(buf)
        text = buf.getvalue()
        assert text.count("Model loaded in") == 1 and "once for the 2 inputs of this command, not part of any file's time" in text
        assert text.index("Model loaded in") < text.index("== ") and "RANDOM WEIGHTS" not in text.split("== ", 1)[1]
    for o in outcomes:
        assert "Model loaded in" in (o.folder / "log.txt").read_text(encoding="utf-8")
