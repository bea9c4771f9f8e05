"""Voice cues of a clip with no voice: openSMILE's eGeMAPS wrote F0 0 semitones, jitter 0, shimmer 0, HNR 0 dB and
formants at 0 Hz for a clip of noise, and `workbench features` compared those zeros between classes as measurements (the
Praat set gives NaN for the same clip).  Now the voiced-only functionals are NaN there, and the rows with no voiced frame
are counted and named on the screen and in --json, as are those with fewer than 20 voiced frames, whose Praat F0 range
(5th to 95th percentile) is the range of the extremes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from workbench.cli import main
from workbench.explain.cues import voice_features
from workbench.explain.voice import EGEMAPS_VOICING, egemaps_functionals
from workbench.runs.driver import run
from workbench.runs.folder import RunFolder

SR = 16000


def _tone(f0: float, seed: int = 0) -> np.ndarray:
    t = np.arange(SR) / SR
    y = 0.2 * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8)) + 0.002 * np.random.default_rng(seed).standard_normal(SR)
    return y.astype(np.float32)


def _noise(seed: int) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(SR)).astype(np.float32)


def _burst() -> np.ndarray:
    """A 120 ms vowel-like tone in a second of faint noise: 12 voiced 10 ms frames, under the 20 a 5th percentile needs."""
    y = (0.01 * np.random.default_rng(9).standard_normal(SR)).astype(np.float32)
    t = np.arange(int(0.12 * SR)) / SR
    y[4000:4000 + len(t)] += (0.3 * np.sin(2 * np.pi * 180 * t)).astype(np.float32)
    return y


def test_egemaps_of_a_clip_with_no_voiced_frame_has_no_f0_jitter_shimmer_or_hnr():
    noise, tone = egemaps_functionals(_noise(0), SR), egemaps_functionals(_tone(180.0), SR)
    voiced_only = [k for k in noise if "_sma3nz_" in k]
    assert len(voiced_only) > 10 and all(np.isnan(noise[k]) for k in voiced_only)  # were 0.0
    assert np.isnan(noise["MeanVoicedSegmentLengthSec"]) and noise["VoicedSegmentsPerSec"] == 0.0  # a rate of 0 stays
    assert np.isfinite(noise["loudness_sma3_amean"])  # the cues of every frame are still measured
    assert tone[EGEMAPS_VOICING] > 0 and np.isfinite(tone["HNRdBACF_sma3nz_amean"])  # a voiced clip keeps its values


@pytest.mark.slow
def test_features_names_the_rows_with_no_voiced_frame_on_screen_and_in_json(tmp_path, tiny_model, capsys):
    lines = ["id,path,speaker,emotion"]
    for i in range(4):
        sf.write(tmp_path / f"v{i}.wav", _tone(120.0 + 30 * i, seed=i), SR)
        lines.append(f"v{i},v{i}.wav,s{i % 2},happy")
    for i in range(2):
        sf.write(tmp_path / f"n{i}.wav", _noise(i), SR)
        lines.append(f"n{i},n{i}.wav,s{i},sad")
    sf.write(tmp_path / "burst.wav", _burst(), SR)
    lines.append("burst,burst.wav,s1,sad")
    (tmp_path / "m.csv").write_text("\n".join(lines) + "\n")
    run(tmp_path / "m.csv", out_dir=tmp_path / "run", model=tiny_model, workers=0)
    assert main(["features", str(tmp_path / "run"), "--set", "all", "--by", "emotion", "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out.splitlines()
    flag = next(x for x in out if "no voiced frame" in x)
    assert flag.startswith("!! 2 of 7 measured row(s) have no voiced frame") and "n0 [raw]" in flag and "n1 [raw]" in flag
    few = next(x for x in out if "fewer than 20 voiced" in x)
    assert few.startswith("!! 1 of 7 measured row(s) have fewer than 20 voiced 10 ms frames (burst [raw] 12)")
    assert main(["features", str(tmp_path / "run"), "--set", "all", "--by", "emotion", "--bootstrap", "20", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["unvoiced"]["rows"] == 2 and report["unvoiced"]["of"] == 7
    assert report["unvoiced"]["few_voiced"] == {"rows": 1, "by_row": [{"id": "burst", "variant": "raw", "voiced_frames": 12}]}
    assert report["unvoiced"]["by_set"] == {"praat": 2, "egemaps": 2}
    table = voice_features(RunFolder(tmp_path / "run"), "all").set_index("id")
    assert table.loc[["n0", "n1"], f"egemaps.{EGEMAPS_VOICING}"].isna().all()  # was 0.0, compared as a value
    assert (table.loc[["v0", "v1", "v2", "v3"], f"egemaps.{EGEMAPS_VOICING}"] > 0).all()
