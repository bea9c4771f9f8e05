"""Paths stored in segment folders resolve from anywhere; infer's timings are each file's own (issue #20, defects 5, 8)."""

from __future__ import annotations

import json

import numpy as np
import soundfile as sf

from conftest import speech_like
from workbench.runs.longform import SegmentConfig, segment_file, source_path
from workbench.runs.outputs import infer_files


def test_a_segment_folder_made_from_a_relative_path_plays_from_another_folder(tmp_path, tiny_model, monkeypatch):
    # defect 5: `workbench segment data/long.wav` stored data/long.wav; notebook 05 elsewhere found no file
    (tmp_path / "work" / "data").mkdir(parents=True)
    y = np.zeros(16000 * 5, np.float32)
    y[16000:16000 * 3] = speech_like(16000, 2.0, seed=1)
    sf.write(tmp_path / "work" / "data" / "long.wav", y, 16000, subtype="PCM_16")
    monkeypatch.chdir(tmp_path / "work")
    res = segment_file("data/long.wav", model=tiny_model, out_dir="seg", config=SegmentConfig(vad="energy"), figures=False)
    monkeypatch.chdir(tmp_path)  # the notebook runs somewhere else
    seg_dir = tmp_path / "work" / "seg"
    summary = json.loads((seg_dir / "summary.json").read_text())
    src = source_path(seg_dir, summary)
    assert src.is_absolute() and src.is_file() and src.samefile(tmp_path / "work" / "data" / "long.wav")
    assert res.summary["source"]["path"] == str(src)
    # kept relative to the folder, as run folders keep paths (the author's home folder was written out in full)
    assert summary["source"]["path"] == "../data/long.wav" and not summary["model"]["path"].startswith("/")
    from workbench.views.widgets import LongAudioTimeline

    w = LongAudioTimeline(seg_dir)
    w.spans.value = 0
    w.play_button.click()  # reads the span from the source file
    assert w.current[0].size > 0


def test_an_old_relative_source_is_tried_beside_the_segment_folder(tmp_path):
    (tmp_path / "seg").mkdir()
    (tmp_path / "seg" / "a.wav").write_bytes(b"")
    assert source_path(tmp_path / "seg", {"source": {"path": "a.wav"}}) == tmp_path / "seg" / "a.wav"


def test_infer_timings_are_each_files_own_and_the_model_load_is_the_commands(tmp_path, tiny_model):
    # defect 8: every file carried the batch's average inference_ms and "Model loaded in 2.9s"
    paths = []
    for k, dur in enumerate((0.6, 3.0, 1.5)):
        sf.write(tmp_path / f"c{k}.wav", speech_like(16000, dur, seed=k), 16000)
        paths.append(tmp_path / f"c{k}.wav")
    outcomes = infer_files(paths, model=tiny_model, out_dir=tmp_path / "out")
    res = [json.loads((o.folder / "result.json").read_text()) for o in outcomes]
    infer_ms = [r["timings"]["inference_ms"] for r in res]
    # measured per file, not one number shared out: a shared average gives three equal numbers; two short clips may
    # still take the same time to 0.1 ms (0.6 s and 1.5 s clips both 6.0 ms once the tiny model got faster)
    assert len(set(infer_ms)) > 1, infer_ms
    assert all("model_load_ms" not in r["timings"] for r in res)
    assert {r["timings"]["command"]["inputs"] for r in res} == {3}
    for r in res:
        t = r["timings"]
        assert t["total_ms"] >= t["inference_ms"] and t["total_ms"] <= t["command"]["elapsed_ms"]
    assert res[2]["timings"]["command"]["elapsed_ms"] > res[0]["timings"]["command"]["elapsed_ms"]
    log = (outcomes[1].folder / "log.txt").read_text()
    assert "Model loaded in" in log and "once for the 3 inputs of this command" in log
