"""Hostile and careless inputs, round seven: audio that overflows the network, segments the model refuses, fine-tuned
heads received from others, interrupts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from workbench.cli import main


def _overflowing(path, seconds: float = 2.0):
    """A float WAV whose samples reach 1e30: finite, so intake takes it, and the network's float32 normalisation overflows."""
    import soundfile as sf

    t = np.arange(int(16000 * seconds)) / 16000
    sf.write(path, (1e30 * np.sin(2 * np.pi * 220 * t) * (0.5 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32), 16000,
             subtype="FLOAT")
    return path


def test_a_clip_whose_scores_come_back_nan_is_a_failed_row_not_an_ok_one(tmp_path, tiny_model, capsys):
    """A float WAV at 1e30 scored 'angry conf nan' as an ok row (torch backend; the ONNX backend refused such outputs)."""
    import soundfile as sf

    bad = _overflowing(tmp_path / "loud.wav")
    sf.write(tmp_path / "fine.wav", (0.3 * np.sin(np.arange(32000) / 7)).astype(np.float32), 16000)
    code = main(["infer", str(bad), str(tmp_path / "fine.wav"), "--model", "tiny", "--dtype", "float32", "--out", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert code == 1, out  # one failed input, the other scored
    row = next(line for line in out.splitlines() if line.startswith("loud.wav"))
    assert "FAILED" in row and "NaN or infinite scores" in row and "rescale it" in row
    assert "nan" not in next(line for line in out.splitlines() if line.startswith("fine.wav"))


def test_segment_counts_a_segment_the_model_refused_and_never_says_no_speech(tmp_path, tiny_model, capsys):
    """The voice activity detector found the speech, the model refused it, and segment said 'no speech found: the detector
    marked none of the 2.0 s as speech' with exit status 0."""
    bad = _overflowing(tmp_path / "loud.wav")
    code = main(["segment", str(bad), "--model", "tiny", "--dtype", "float32", "--vad", "energy", "--no-figures",
                 "--out", str(tmp_path / "seg")])
    out = capsys.readouterr().out
    assert code == 1, out
    assert "no speech found" not in out and "not scored" in out and "NaN or infinite scores" in out
    summary = json.loads((tmp_path / "seg" / "summary.json").read_text())
    assert summary["n_failed"] == 1 and summary["n_segments"] == 0 and "NaN" in summary["failed"][0]["error"]
    assert "no speech found" not in summary["note"]
