"""`workbench features RUN`: cues of every scored row, stored in the run folder; one bad clip does not stop it."""

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from workbench.cli import main
from workbench.errors import ConfigError
from workbench.explain.cues import voice_features, write_voice_features
from workbench.runs.folder import RunFolder
from workbench.runs.driver import run

SR = 16000
pytestmark = pytest.mark.slow  # a run with the tiny model first (about 8 s on 2 busy cores)


def tone(f0, dur=1.0, seed=0):
    t = np.arange(int(SR * dur)) / SR
    rng = np.random.default_rng(seed)
    y = 0.2 * sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 8)) + 0.002 * rng.standard_normal(len(t))
    return y.astype(np.float32)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, tiny_model):
    root = tmp_path_factory.mktemp("feat")
    lines = ["id,path,speaker"]
    for i, (spk, f0) in enumerate([(s, f) for s in ("a", "b", "c", "d") for f in (110.0, 220.0)]):
        sf.write(root / f"c{i}.wav", tone(f0 * (1 + 0.05 * i), seed=i), SR)
        lines.append(f"c{i},c{i}.wav,{spk}")
    sf.write(root / "short.wav", tone(200.0, 0.04), SR)  # scored by the model (> 25 ms), too short for Praat's pitch
    lines.append("short,short.wav,d")
    (root / "m.csv").write_text("\n".join(lines) + "\n")
    out = root / "run"
    run(root / "m.csv", out_dir=out, model=tiny_model, workers=0)
    return out


def test_features_command_stores_the_table_and_survives_a_bad_clip(small_run, tmp_path, capsys):
    assert main(["features", str(small_run), "--set", "praat", "--probe", "--folds", "2", "--bootstrap", "50", "--out", str(tmp_path / "csv")]) == 0
    text = capsys.readouterr().out
    assert "RANDOM WEIGHTS" in text and "8 rows measured, 1 failed" in text and "short [raw]" in text
    table = voice_features(RunFolder(small_run), "praat")
    assert len(table) == 9 and (table["feature_error"] != "").sum() == 1
    ok = table[table["feature_error"] == ""].sort_values("id")
    # the cues are of the audio the model scored: the tones' F0 within half a semitone
    truth = np.array([f * (1 + 0.05 * i) for i, f in enumerate([110.0, 220.0] * 4)])
    assert np.all(np.abs(12 * np.log2(ok["f0_median_hz"].to_numpy() / truth)) < 0.5)
    assert set(pd.read_csv(tmp_path / "csv" / "cue_probe.csv")["cue"]) >= {"f0_median_hz", "hnr_db"}
    assert (tmp_path / "csv" / "cue_differences.csv").is_file()


def test_probe_reports_the_folds_it_used_and_how_many_cues_it_shows(small_run, capsys, monkeypatch):
    import json

    import workbench.cli.features as features_cli

    monkeypatch.setattr(features_cli, "SHOWN", 5)  # as eGeMAPS' 88 cues against the 15 shown
    # 4 speakers: 100 folds asked, 4 used (leave-one-speaker-out), said on screen and in --json
    assert main(["features", str(small_run), "--set", "praat", "--probe", "--folds", "100", "--bootstrap", "20"]) == 0
    text = capsys.readouterr().out
    head = next(x for x in text.splitlines() if x.startswith("how well the embeddings predict each cue"))
    assert "100 folds asked, but the rows have only 4 speakers: 4 folds used (leave-one-speaker-out)" in head
    table = [x for x in text.split(head, 1)[1].strip().splitlines() if not x.startswith("!! ")]  # a flag under it is no row
    n_cues = len(voice_features(RunFolder(small_run), "praat").select_dtypes("number").columns)
    shown = len(table) - 1  # the table's header line
    assert shown == 5 and "showing 5 of " in head and "--json or --out DIR for all" in head
    assert main(["features", str(small_run), "--set", "praat", "--probe", "--folds", "100", "--bootstrap", "20", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["probe_folds"] == {"asked": 100, "used": 4, "groups": 4, "grouped_by": "speaker",
                                     "note": report["probe_folds"]["note"]}
    assert f"showing {shown} of {len(report['probe'])} cues" in head and len(report["probe"]) <= n_cues
    assert {r["folds"] for r in report["probe"]} <= {0, 4} and any(r["folds"] == 4 for r in report["probe"])


def test_features_stores_egemaps_descriptors_per_frame(small_run, capsys):
    assert main(["features", str(small_run), "--set", "praat", "--lld", "--bootstrap", "20"]) == 0
    lld = voice_features(RunFolder(small_run), "egemaps_lld")
    one = lld[lld["id"] == "c0"]
    assert lld["id"].nunique() == 9 and np.allclose(np.diff(one["start_s"]), 0.01)
    assert len(one) == pytest.approx(1.0 / 0.01, abs=5)  # a 1 s clip: about 100 frames
    assert "F0semitoneFrom27.5Hz_sma3nz" in lld.columns


def test_features_refuses_bad_options(small_run, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["features", str(small_run), "--folds", "1"])
    assert exc.value.code == 2 and "1 folds cannot cross-validate (2 or more)" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="unknown feature set"):
        write_voice_features(RunFolder(small_run), pd.DataFrame(), "mfcc")


@pytest.fixture(scope="module")
def rate_run(tmp_path_factory, tiny_model):
    """A 44.1 kHz file, a tone, and the same tone with 0.5 s of digital silence on each side."""
    root = tmp_path_factory.mktemp("rates")
    y = tone(150.0, 1.0, seed=3)
    t44 = np.arange(44100) / 44100
    sf.write(root / "hi.wav", (0.2 * np.sin(2 * np.pi * 180 * t44) + 0.002 * np.random.default_rng(1).standard_normal(44100)).astype(np.float32),
             44100, subtype="FLOAT")
    sf.write(root / "plain.wav", y, SR, subtype="FLOAT")
    sf.write(root / "pad.wav", np.concatenate([np.zeros(SR // 2, np.float32), y, np.zeros(SR // 2, np.float32)]), SR, subtype="FLOAT")
    (root / "m.csv").write_text("id,path,speaker\nhi,hi.wav,a\nplain,plain.wav,b\npad,pad.wav,c\n")
    out = root / "run"
    run(root / "m.csv", out_dir=out, model=tiny_model, workers=0)
    return out


def test_features_say_the_rate_and_the_silence_left_out_and_flag_small_classes(rate_run, capsys):
    import json

    assert main(["features", str(rate_run), "--set", "praat", "--bootstrap", "20"]) == 0
    screen = capsys.readouterr().out
    assert "measured at the audio's own rate" in screen and "1 row(s) at 44100 Hz" in screen and "2 row(s) at 16000 Hz" in screen
    assert "digital silence left out of every cue: 1.00 s in 1 of 3 rows" in screen and "pad [raw]" in screen
    assert "too small to rank (not a finding)" in screen and "cues that differ" not in screen
    table = voice_features(RunFolder(rate_run), "praat").set_index("id")
    assert table.loc["hi", "sample_rate_hz"] == 44100 and table.loc["pad", "silence_s"] == pytest.approx(1.0, abs=0.01)
    # the constructed failure: zero padding moves no intensity figure
    assert abs(table.loc["pad", "intensity_sd_db"] - table.loc["plain", "intensity_sd_db"]) < 0.1
    assert table.loc["pad", "intensity_sd_db"] < 10
    assert main(["features", str(rate_run), "--set", "praat", "--bootstrap", "20", "--rate", "model", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rate"] == "model" and report["sample_rates_hz"] == {"16000": 3}
    assert report["excluded"]["rows_with_silence"] == 1 and report["excluded"]["by_row"][0]["id"] == "pad"
    assert report["differences"] == [] and {r["label"] for r in report["too_small"]} and report["warning"]
    assert all("items (< " in r["reason"] for r in report["too_small"])


def test_egemaps_descriptors_at_the_files_rate_without_the_silent_frames(rate_run, capsys):
    assert main(["features", str(rate_run), "--set", "praat", "--lld", "--bootstrap", "20"]) == 0
    lld = voice_features(RunFolder(rate_run), "egemaps_lld")
    assert set(lld.groupby("id")["sample_rate_hz"].first().items()) == {("hi", 44100), ("plain", 16000), ("pad", 16000)}
    pad, plain = lld[lld["id"] == "pad"], lld[lld["id"] == "plain"]
    mid = (pad["start_s"] + pad["end_s"]) / 2
    assert mid.between(0.5, 1.5).all() and abs(len(pad) - len(plain)) <= 8  # the 1 s of zeros gave no frame


def test_a_cue_difference_is_listed_only_when_its_interval_excludes_0_and_it_passes_the_fdr():
    """`features` printed 'cues that differ between predicted classes' over every comparison large enough, sorted by
    |delta|: with 13 noise cues and two classes of 30, the first rows looked like findings, though their intervals held 0
    (and 26 intervals at 95 % give about one that excludes 0 by chance).  Now a cue differs when its interval excludes 0
    and its Benjamini-Hochberg q < 0.05; every comparison, with p and q, stays in --json's 'compared' and the CSV."""
    import argparse

    from scipy.stats import false_discovery_control, mannwhitneyu

    from workbench.cli.features import _differences

    rng = np.random.default_rng(5)
    noise = pd.DataFrame({"pred": ["angry"] * 30 + ["sad"] * 30, **{f"cue_{i}": rng.normal(0, 1, 60) for i in range(13)}})
    args = argparse.Namespace(by="pred", bootstrap=200, seed=0)
    shown, report = [], {}
    diffs = _differences(args, noise, report, shown.append)
    screen = "\n".join(shown)
    assert "cues that differ" not in screen and report["differences"] == [] and len(report["compared"]) == 26
    assert "no cue differs measurably between predicted classes: none of the 26 comparison(s) large enough has" in screen
    p = [mannwhitneyu(noise.loc[noise["pred"] == lab, c], noise.loc[noise["pred"] != lab, c], method="asymptotic").pvalue
         for c, lab in zip(diffs["cue"], diffs["label"])]
    assert diffs["p"].to_numpy() == pytest.approx(p) and diffs["q"].to_numpy() == pytest.approx(false_discovery_control(p, method="bh"))
    planted = noise.assign(cue_0=np.r_[rng.normal(2, 1, 30), rng.normal(0, 1, 30)])
    shown, report = [], {}
    _differences(args, planted, report, shown.append)
    screen = "\n".join(shown)
    assert "cues that differ measurably between predicted classes" in screen and "Benjamini-Hochberg q < 0.05" in screen
    assert {(d["cue"], d["label"]) for d in report["differences"]} == {("cue_0", "angry"), ("cue_0", "sad")}
    assert all(d["q"] < 0.05 and (d["low"] > 0 or d["high"] < 0) for d in report["differences"])


def _probe_planted(tmp_path, *, n: int, speakers: int, other: tuple, bootstrap: int):
    """features --probe on a run of ``n`` items whose embeddings carry the cue ``carried`` and not ``other`` (name, make)."""
    import argparse

    from test_probe import synthetic_row, write_run

    from workbench.cli.features import _probe

    rng = np.random.default_rng(0)
    emb = rng.standard_normal((n, 8)).astype(np.float32)
    rows = [synthetic_row(f"i{k}", emotion="happy", speaker=f"s{k % speakers}") for k in range(n)]
    rf = write_run(tmp_path / "run", rows, list(emb))
    carried = emb[:, 0] * 2 + 0.1 * rng.standard_normal(n)
    measured = pd.DataFrame({"id": [r["id"] for r in rows], "variant": "raw", "speaker": [r["speaker"] for r in rows],
                             "carried": carried, other[0]: other[1](rng, n)})
    shown, report = [], {}
    probe = _probe(argparse.Namespace(variant=None, folds=4, bootstrap=bootstrap, seed=0), rf, measured, report, shown.append)
    return probe, report, shown


def test_a_probed_cue_whose_r2_interval_reaches_0_is_marked_not_carried_on_screen_in_json_and_csv(tmp_path):
    """features --probe printed every cue's R² best first, 'absent 0.02 [-0.09, 0.11]' beside 'carried 0.95 [0.93, 0.97]'
    with nothing to tell a cue the embeddings carry from one whose interval holds 0."""
    probe, report, shown = _probe_planted(tmp_path, n=96, speakers=8, other=("absent", lambda rng, n: rng.standard_normal(n)),
                                          bootstrap=200)
    table = probe.set_index("cue")
    assert bool(table.loc["carried", "carried"]) and table.loc["carried", "low"] > 0
    assert not table.loc["absent", "carried"] and table.loc["absent", "low"] <= 0
    note = ("1 of 2 probed cue(s) have an R² interval that reaches 0 or lies below it, or q ≥ 0.025 (Benjamini-Hochberg "
            "over 2 probed cue(s), FDR 0.025), so the embeddings do not measurably carry them (carried False): absent")
    assert report["probe_not_carried"] == note and f"!! {note}" in "\n".join(shown)
    assert {r["cue"]: r["carried"] for r in report["probe"]} == {"carried": True, "absent": False}


def test_a_cue_of_one_value_is_said_not_probed_not_left_a_bare_nan(tmp_path):
    """features --probe printed 'voiced_fraction 32 4 NaN NaN NaN False' and counted it among the cues whose R² interval
    'reaches 0': a cue with the same value on every item has no variance, so R² (1 − SSE/SST) is undefined."""
    probe, report, shown = _probe_planted(tmp_path, n=48, speakers=4, other=("voiced_fraction", lambda rng, n: np.ones(n)),
                                          bootstrap=100)
    row = probe.set_index("cue").loc["voiced_fraction"]
    assert row["folds"] == 0 and "the same value (1) on every item, so R² is undefined" in row["note"]
    assert "probe_not_carried" not in report  # 'carried' is carried; the constant cue is not counted as a flat R²
    text = "\n".join(shown)
    assert "!! 1 cue(s) not probed (R² n/a): voiced_fraction: not probed: the same value (1) on every item" in text, text
    assert report["probe_not_probed"] == {"voiced_fraction": row["note"]}


def test_the_tables_go_to_out_through_runfolder_never_through_a_link(small_run, tmp_path, capsys):
    """cue_differences.csv and cue_probe.csv were written with a plain atomic write into --out; now through RunFolder:
    a link planted under their names is not followed, and artifacts.json lists them."""
    out, outside = tmp_path / "csv", tmp_path / "outside.txt"
    out.mkdir()
    outside.write_text("keep me\n")
    (out / "cue_differences.csv").symlink_to(outside)
    rc = main(["features", str(small_run), "--set", "praat", "--probe", "--folds", "2", "--bootstrap", "50", "--out", str(out)])
    err = capsys.readouterr().err
    assert outside.read_text() == "keep me\n"  # a plain atomic write replaced the link; RunFolder refuses the folder
    assert rc == 2 and "cue_differences.csv" in err and "link" in err, err
    (out / "cue_differences.csv").unlink()
    assert main(["features", str(small_run), "--set", "praat", "--probe", "--folds", "2", "--bootstrap", "50", "--out", str(out)]) == 0
    assert (out / "cue_differences.csv").is_file() and (out / "cue_probe.csv").is_file()


def test_the_probe_table_prints_one_number_format_and_no_differences_reads_as_a_sentence(small_run, capsys):
    """The probe's table printed 3 significant digits (0.08, -0.0923 and -1.2 in one column), and --json's
    no_differences read "the measured rows have 1 of predicted classes" (1 what, and why too few?)."""
    import json
    import re

    assert main(["features", str(small_run), "--set", "praat", "--probe", "--folds", "2", "--bootstrap", "20", "--by", "emotion"]) == 0
    text = capsys.readouterr().out
    head = next(x for x in text.splitlines() if x.startswith("how well the embeddings predict each cue"))
    table = [x.split() for x in text.split(head, 1)[1].strip().splitlines() if not x.startswith("!! ")]
    columns = table[0]
    for row in table[1:]:
        for name in ("r2", "low", "high"):
            cell = row[columns.index(name)]
            assert re.fullmatch(r"-?\d+\.\d{3}", cell) or cell == "NaN", (name, row)
    assert main(["features", str(small_run), "--set", "praat", "--bootstrap", "20", "--by", "emotion", "--json"]) == 0
    said = json.loads(capsys.readouterr().out)["no_differences"]
    assert said == "the measured rows have 0 emotions in the manifest (none); a comparison needs at least 2", said


def test_a_cue_table_with_one_class_says_there_is_nothing_to_compare_it_with():
    """One predicted class: "rest 0 items (< 20)" read as a small group, not as no other class (found by the newcomer walk)."""
    import pandas as pd

    from workbench.explain.cues import cue_differences

    table = pd.DataFrame({"id": [f"i{k}" for k in range(30)], "pred": ["sad"] * 30, "f0_mean_hz": np.linspace(100, 200, 30)})
    out = cue_differences(table, cues=["f0_mean_hz"], n_boot=20)
    assert out["too_small"].tolist() == ["every item with a value is 'sad': no other class to compare it with"]


def test_the_probe_names_its_correction_and_family_on_screen_in_json_and_csv(small_run, tmp_path, capsys):
    """features --probe called each cue carried by its own interval, with no correction for the cues probed together
    and no word of how many there were (tests/test_probe_correction.py simulates the family)."""
    import json

    out = tmp_path / "csv"
    assert main(["features", str(small_run), "--set", "praat", "--probe", "--folds", "2", "--bootstrap", "50", "--out", str(out)]) == 0
    screen = capsys.readouterr().out
    probe = pd.read_csv(out / "cue_probe.csv")
    family = int(probe["p"].notna().sum())
    words = f"Benjamini-Hochberg over {family} probed cue(s), FDR 0.025"
    assert f"carried: interval above 0 and q < 0.025, {words}" in screen, screen
    assert {"p", "q", "carried", "correction"} <= set(probe.columns) and (probe.loc[probe["p"].notna(), "correction"] == words).all()
    assert main(["features", str(small_run), "--set", "praat", "--probe", "--folds", "2", "--bootstrap", "50", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["probe_correction"]["family"] == family and report["probe_correction"]["method"].startswith("Benjamini-Hochberg")
