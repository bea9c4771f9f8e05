"""`workbench calibrate` and `--temperature`: a fitted temperature is saved with the run and applied when scoring."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from test_calibration import planted_run
from test_corpora import wav
from workbench.analysis.calibration import calibrate_run
from workbench.cli.common import resolve_temperature
from workbench.cli import main
from workbench.errors import ConfigError
from workbench.runs.folder import RESULTS, RunFolder, atomic_write
from workbench.runs.writer import RunWriter


def _run_folder(path, results: pd.DataFrame) -> RunFolder:
    """A finished run folder holding ``results`` (what `workbench run` leaves, without scoring audio)."""
    rf = RunFolder(path)
    RunWriter(rf).prepare({"manifest": "planted", "model": "planted"}, ())
    atomic_write(rf.path / RESULTS, lambda f: results.to_parquet(f, index=False))
    return rf


@pytest.mark.slow
def test_calibrate_writes_the_temperature_and_figures_and_prints_the_table(tmp_path, capsys):
    run_dir = tmp_path / "run"
    _run_folder(run_dir, planted_run(n_speakers=8, per_speaker=200, t_true=2.0))
    assert main(["calibrate", str(run_dir), "--alpha", "0.1", "--bootstrap", "50", "--folds", "4"]) == 0
    out = capsys.readouterr().out
    assert "ECE" in out and "MCE" in out and "BRIER" in out and "NLL" in out and "AURC" in out and "LAC sets" in out
    saved = json.loads((run_dir / "calibration.json").read_text())
    assert abs(saved["temperature"] - 2.0) / 2.0 < 0.05
    assert saved["protocol"]["ece_binning"] == "equal-width" and "GroupKFold" in saved["protocol"]["folds"]
    for kind in ("reliability", "risk_coverage", "set_sizes"):
        assert (run_dir / f"calibration_{kind}_0.png").stat().st_size > 1000
    assert resolve_temperature(str(run_dir)) == pytest.approx(saved["temperature"])


def test_calibrate_refuses_an_unknown_grouping_column(tmp_path, capsys):
    run_dir = tmp_path / "run"
    _run_folder(run_dir, planted_run(n_speakers=3, per_speaker=40))
    assert main(["calibrate", str(run_dir), "--by", "accent"]) == 2
    err = capsys.readouterr().err
    assert "accent" in err and "speaker" in err


def test_resolve_temperature_refuses_what_is_not_a_temperature(tmp_path):
    assert resolve_temperature("1.5") == 1.5 and resolve_temperature(None) is None
    for bad in ("0", "-2", "nan", str(tmp_path / "missing")):
        with pytest.raises(ConfigError):
            resolve_temperature(bad)
    _run_folder(tmp_path / "uncalibrated", planted_run(n_speakers=2, per_speaker=10))
    with pytest.raises(ConfigError, match="workbench calibrate"):
        resolve_temperature(str(tmp_path / "uncalibrated"))


def test_a_tempered_model_divides_utterance_and_frame_logits(tiny_model, factories):
    clip = factories["speech_like"](dur=1.0, seed=3)
    plain = tiny_model.predict([clip], granularity="frame")[0]
    warm = tiny_model.with_temperature(2.5)
    tempered = warm.predict([clip], granularity="frame")[0]
    assert warm.info.temperature == 2.5 and tiny_model.info.temperature is None  # the shared model is untouched
    np.testing.assert_allclose(tempered.logits, plain.logits / 2.5, rtol=1e-12)
    np.testing.assert_allclose(tempered.frame_logits, plain.frame_logits / 2.5, rtol=1e-12)
    z = plain.logits / 2.5
    np.testing.assert_allclose(tempered.scores, np.exp(z - z.max()) / np.exp(z - z.max()).sum(), rtol=1e-9)
    assert tempered.confidence < plain.confidence  # T > 1 softens


@pytest.mark.slow
def test_run_with_a_temperature_records_it_and_never_reuses_untempered_cache(tmp_path, capsys):
    corpus = tmp_path / "emodb"
    for i, name in enumerate(["03a01Fa", "08b10Wb", "10a04Lc"]):
        wav(corpus / "wav" / f"{name}.wav", dur=1.0, seed=i)
    manifest = tmp_path / "emodb.csv"
    assert main(["datasets", "prepare", "emodb", str(corpus), "--out", str(manifest)]) == 0
    cache = str(tmp_path / "cache")
    assert main(["run", str(manifest), "--model", "tiny", "--out", str(tmp_path / "plain"), "--cache-dir", cache]) == 0
    assert main(["run", str(manifest), "--model", "tiny", "--out", str(tmp_path / "warm"), "--cache-dir", cache,
                 "--temperature", "3"]) == 0
    capsys.readouterr()
    plain = pd.read_parquet(tmp_path / "plain" / "results.parquet")
    warm = pd.read_parquet(tmp_path / "warm" / "results.parquet")
    assert (warm["confidence"].to_numpy() < plain["confidence"].to_numpy()).all()  # not the cached untempered scores
    config = yaml.safe_load((tmp_path / "warm" / "config.yaml").read_text())
    summary = json.loads((tmp_path / "warm" / "summary.json").read_text())
    assert config["temperature"] == 3.0 and summary["model"]["temperature"] == 3.0
    # resuming the folder with another temperature is refused
    assert main(["run", str(manifest), "--model", "tiny", "--out", str(tmp_path / "warm"), "--cache-dir", cache]) == 2
    assert "temperature" in capsys.readouterr().err
    # the folder's experiment.yaml reproduces the tempered scores
    assert yaml.safe_load((tmp_path / "warm" / "experiment.yaml").read_text())["model"]["temperature"] == 3.0  # in its model reference
    assert main(["run", str(tmp_path / "warm" / "experiment.yaml"), "--out", str(tmp_path / "again"), "--cache-dir", cache]) == 0
    again = pd.read_parquet(tmp_path / "again" / "results.parquet")
    np.testing.assert_allclose(again["confidence"].to_numpy(), warm["confidence"].to_numpy(), rtol=1e-6)
    # infer records it in result.json
    clip = corpus / "wav" / "03a01Fa.wav"
    assert main(["infer", str(clip), "--model", "tiny", "--temperature", "3", "--out", str(tmp_path / "inf")]) == 0
    (result,) = list((tmp_path / "inf").rglob("result.json"))
    payload = json.loads(result.read_text())
    assert payload["model"]["temperature"] == 3.0


def test_the_report_section_shows_the_calibration_escaped_and_refuses_quietly_when_too_small(tmp_path, monkeypatch):
    from workbench.views import reporting
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    df = planted_run(n_speakers=4, per_speaker=60, t_true=2.0)
    df.loc[df["variant"] == "raw", "variant"] = "<b>raw</b>"
    _run_folder(tmp_path / "run", df)
    out = reporting.calibration_section(tmp_path / "run", n_boot=20)
    html = "".join(str(getattr(o, "data", "")) for o in shown if type(o).__name__ == "HTML")
    assert out["temperature"] > 1 and "Calibration" in html and "&lt;b&gt;raw&lt;/b&gt;" in html and "<b>raw</b>" not in html
    assert "ECE" in html and "LAC" in html and "APS" in html
    assert sum(type(o).__name__ == "Image" for o in shown) == 3  # reliability, risk-coverage, set sizes
    shown.clear()
    _run_folder(tmp_path / "small", planted_run(n_speakers=2, per_speaker=3))
    assert reporting.calibration_section(tmp_path / "small") is None
    assert "Not calibrated" in str(shown[0].data)


def test_the_report_section_calibrates_as_the_cli_does_when_an_unscored_row_has_no_speaker(tmp_path, monkeypatch):
    """An unlabelled row without a speaker (the demo's tone) is not calibrated: the folds stay grouped by speaker, as in the CLI."""
    from workbench.views import reporting
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    df = planted_run(n_speakers=4, per_speaker=30, t_true=2.0)
    extra = df.iloc[[0]].copy()
    extra["id"], extra["emotion"], extra["speaker"] = "tone", "", None
    _run_folder(tmp_path / "run", pd.concat([df, extra], ignore_index=True))
    out = reporting.calibration_section(tmp_path / "run", n_boot=20)
    cli = calibrate_run(tmp_path / "run", n_boot=20, figures=False)["raw"]
    assert out["folds"].startswith("GroupKFold by speaker") and out["folds"] == cli.folds
    assert out["fold_temperatures"] == cli.fold_temperatures
    html = "".join(str(getattr(o, "data", "")) for o in shown if type(o).__name__ == "HTML")
    assert "coverage measured on held-out speakers" in html


def test_a_two_class_run_is_calibrated_with_lac_sets_and_says_so_on_screen_in_json_and_in_the_report(tmp_path, capsys, monkeypatch):
    """`workbench calibrate` refused a two-class run (MAPIE's APS refuses a binary target); now it calibrates it with LAC
    sets, and the screen, calibration.json and the report's calibration section each say APS was skipped and why."""
    import matplotlib

    matplotlib.use("Agg")
    from workbench.views import reporting

    run_dir = tmp_path / "run"
    _run_folder(run_dir, planted_run(n_speakers=6, per_speaker=60, classes=("angry", "happy")))
    assert main(["calibrate", str(run_dir), "--folds", "3", "--bootstrap", "20", "--no-figures"]) == 0
    out = capsys.readouterr().out
    saved = json.loads((run_dir / "calibration.json").read_text())["variants"]["raw"]
    why = saved["conformal_skipped"]["aps"]
    assert "APS sets skipped, LAC sets only" in why and "target is binary" in why and why in saved["notes"]
    assert list(saved["conformal"]) == ["lac"] and saved["conformal"]["lac"]["n"] == 360
    assert f"note: {why}" in out and "LAC sets at alpha 0.1: coverage" in out
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    section = reporting.calibration_section(run_dir, n_boot=20)
    html = "".join(str(getattr(o, "data", "")) for o in shown if type(o).__name__ == "HTML")
    assert section is not None and section["conformal_skipped"] == {"aps": why}
    assert "<b>APS sets skipped:</b>" in html and "Not calibrated" not in html


@pytest.mark.parametrize("command", ["infer", "diagnose"])
@pytest.mark.parametrize("value", ["-inf", "-nan", "-1e3", "-Infinity", "-.5e-2", "-2"])
def test_a_negative_temperature_is_refused_by_its_check_with_or_without_the_equals_sign(tmp_path, capsys, command, value):
    # `--temperature -inf` ended in argparse's "expected one argument" (it read -inf as an option; -2 it read as a
    # number), while `--temperature=-inf` reached the temperature's own check: both forms now give that check's words
    clip = wav(tmp_path / "a.wav")
    out = ["--out", str(tmp_path / "o")] if command == "infer" else []
    said = []
    for form in (["--temperature", value], [f"--temperature={value}"]):
        assert main([command, str(clip), "--model", "tiny", *form, *out]) == 2
        said.append(capsys.readouterr().err)
    assert said[0] == said[1] and said[0].startswith("error: --temperature: the temperature is ") and "fix:" in said[0]
    assert "expected one argument" not in said[0] and not (tmp_path / "o").exists()


def test_other_number_options_read_a_negative_value_too(tmp_path, capsys):
    clip = wav(tmp_path / "a.wav")
    with pytest.raises(SystemExit):
        main(["infer", str(clip), "--model", "tiny", "--max-duration", "-inf", "--out", str(tmp_path / "o")])
    assert "argument --max-duration: -inf is not a positive, finite number" in capsys.readouterr().err
    # a command with a short option `-n` (the refused old spelling of --top): -nan is still a value, not `-n an`
    with pytest.raises(SystemExit):
        main(["embeddings", str(tmp_path), "--k", "-nan"])
    assert "argument --k: '-nan' is not a whole number" in capsys.readouterr().err


def test_an_aurc_measurably_above_a_random_orders_is_not_said_to_reach_0():
    """A run whose most confident items are its wrong ones printed 'AURC − it +0.127 [+0.019, +0.225] reaches 0': the
    interval lies wholly above 0, so the confidence puts the errors first, measurably worse than a random order."""
    from workbench.analysis.calibration import calibrate

    df = planted_run(n_speakers=4, per_speaker=60, t_true=2.0)
    classes = ["angry", "happy", "neutral", "sad"]
    top = df["confidence"] >= df["confidence"].median()
    pred = df[[f"score_{c}" for c in classes]].to_numpy().argmax(1)
    df["emotion"] = np.where(top, np.asarray(classes)[(pred + 1) % 4], np.asarray(classes)[pred])  # confident: wrong
    rep = calibrate(df, n_boot=50, folds=4)
    flag = next(f for f in rep.checks["aurc_not_below_random_order"] if f.startswith("AURC before"))
    assert "reaches 0" not in flag and "lies above 0" in flag and "errors FIRST" in flag, flag
    assert f"!! {flag}" in rep.render()


def test_an_aurc_no_lower_than_a_random_orders_is_flagged_on_screen_in_json_and_on_the_page(tmp_path, monkeypatch, capsys):
    """calibrate printed 'AURC 0.680 [0.445, 0.876]' with nothing to set it against: a random order of the items has an
    AURC equal to the error rate answering everything (0.719 there), inside the interval.  The check is paired (the same
    resamples): AURC minus that error rate, flagged unless its interval lies below 0."""
    from workbench.analysis.calibration import calibrate
    from workbench.views import reporting

    informative = planted_run(n_speakers=4, per_speaker=60, t_true=2.0)
    rep = calibrate(informative, n_boot=50, folds=4)
    assert rep.checks["aurc_not_below_random_order"] == [] and not any("random order" in w for w in rep.warnings)
    shuffled = informative.copy()  # each item keeps its label, its scores are another item's: confidence says nothing
    scores = [c for c in shuffled.columns if c.startswith("score")] + ["pred", "confidence"]
    order = np.random.default_rng(1).permutation(len(shuffled))
    shuffled[scores] = shuffled[scores].iloc[order].to_numpy()
    rep = calibrate(shuffled, n_boot=50, folds=4)
    flags = rep.checks["aurc_not_below_random_order"]
    assert flags and flags[0].startswith("AURC before") and "the error rate answering everything (a random order's AURC)" in flags[0]
    err = 1 - rep.accuracy_at["100%"]["before"]
    assert f"is NOT measurably below {err:.3f}" in flags[0]
    assert all(f"!! {f}" in rep.render() for f in flags) and all(f in rep.to_dict()["warnings"] for f in flags)
    _run_folder(tmp_path / "run", shuffled)
    assert main(["calibrate", str(tmp_path / "run"), "--bootstrap", "50", "--folds", "4", "--json", "--no-figures"]) == 0
    doc = json.loads(capsys.readouterr().out)
    variant = doc["variants"]["raw"] if "variants" in doc else doc
    assert variant["checks"]["aurc_not_below_random_order"][0].startswith("AURC before")
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    reporting.calibration_section(tmp_path / "run", n_boot=50)
    html = "".join(str(getattr(o, "data", "")) for o in shown if type(o).__name__ == "HTML")
    assert "AURC before" in html and "is NOT measurably below" in html


def test_an_unknown_fold_column_is_refused_with_the_manifest_columns_and_the_closest_one(tmp_path, capsys):
    """`calibrate RUN --scheme spk` listed every results column as the fix (cache_key, confidence, decode_ms, pred …),
    none of which is a grouping, and did not name 'speaker'."""
    _run_folder(tmp_path / "run", planted_run(n_speakers=3, per_speaker=20))
    assert main(["calibrate", str(tmp_path / "run"), "--scheme", "speker", "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert "cannot group the folds by 'speker': not a manifest column of this run" in err and "did you mean 'speaker'?" in err, err
    assert "confidence" not in err and "cache_key" not in err and "'id'" not in err, err


def test_a_second_calibrate_replaces_the_first_ones_outputs_as_a_set(tmp_path, capsys):
    """`calibrate` then `calibrate --variant raw` left the first one's figures of variant `tel` beside the second's
    calibration.json, and `--no-figures` left every earlier figure: the folder and artifacts.json showed a mix of two
    invocations.  Now each invocation's calibration figures replace the earlier ones as a set, listed in calibration.json."""
    one = planted_run(n_speakers=4, per_speaker=60, t_true=2.0)
    run_dir = tmp_path / "run"
    _run_folder(run_dir, pd.concat([one, one.assign(variant="tel")], ignore_index=True))
    common = ["--bootstrap", "20", "--folds", "2"]

    def calibration_figures() -> tuple[list[str], list[str], list[str]]:
        on_disk = sorted(p.name for p in run_dir.glob("calibration_*.png"))
        indexed = sorted(n for n in RunFolder(run_dir).artifacts() if n.startswith("calibration_"))
        return on_disk, indexed, json.loads((run_dir / "calibration.json").read_text()).get("figures", on_disk)

    assert main(["calibrate", str(run_dir), *common]) == 0
    both = sorted(f"calibration_{kind}_{k}.png" for kind in ("reliability", "risk_coverage", "set_sizes") for k in (0, 1))
    assert calibration_figures() == (both, both, both)
    assert main(["calibrate", str(run_dir), "--variant", "raw", *common]) == 0
    raw = [name for name in both if name.endswith("_0.png")]
    assert calibration_figures() == (raw, raw, raw)
    assert RunFolder(run_dir).artifacts()["calibration_reliability_0.png"]["variant"] == "raw"
    assert main(["calibrate", str(run_dir), "--variant", "tel", "--no-figures", *common]) == 0
    assert calibration_figures() == ([], [], [])
    assert json.loads((run_dir / "calibration.json").read_text())["variant"] == "tel"
    outside = tmp_path / "mine.png"  # a planted link under a calibration figure's name: refused, nothing removed through it
    outside.write_bytes(b"not the workbench's")
    (run_dir / "calibration_reliability_3.png").symlink_to(outside)
    capsys.readouterr()
    assert main(["calibrate", str(run_dir), *common]) == 2
    assert "symbolic links" in capsys.readouterr().err and outside.read_bytes() == b"not the workbench's"
    assert (run_dir / "calibration_reliability_3.png").is_symlink()


def test_the_kfold_note_is_said_once_on_screen_and_on_the_page(tmp_path, capsys, monkeypatch):
    """`--scheme none` (or items without a speaker) printed "KFold, 5 shuffled folds: ..." in the header and again as a note."""
    run_dir = tmp_path / "run"
    _run_folder(run_dir, planted_run(n_speakers=6, per_speaker=40))
    assert main(["calibrate", str(run_dir), "--scheme", "none", "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    assert out.count("shuffled folds") == 1, out
    from workbench.views import reporting
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    df = planted_run(n_speakers=6, per_speaker=40)
    df["speaker"] = None  # no speaker: the section folds by item and says so
    _run_folder(tmp_path / "nospk", df)
    reporting.calibration_section(tmp_path / "nospk", n_boot=20)
    html = "".join(str(getattr(o, "data", "")) for o in shown if type(o).__name__ == "HTML")
    assert html.count("shuffled folds") == 1, html
