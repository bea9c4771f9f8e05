"""Diagnostics: each rule on facts that should and should not trigger it, and the stability test."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from conftest import clipped, noise, silence, speech_like
from workbench.audio.intake import load
from workbench.engine.diagnosis import diagnose
from workbench.engine.findings import (
    DEFAULT_PERTURBATIONS, DiagnosticsConfig, Perturbation, audio_facts, findings_from, prediction_facts, signal_facts, stability,
)
from workbench.audio.processing import StepRecord


def codes(facts, **cfg):
    return {f.code for f in findings_from(facts, DiagnosticsConfig(**cfg))}


@pytest.mark.parametrize(
    "facts,code",
    [
        ({"duration_s": 0.6}, "short_clip"),
        ({"duration_s": 45.0}, "long_clip"),
        ({"source_sample_rate": 8000}, "low_sample_rate"),
        ({"resample_ratio": 6.0}, "large_resample_ratio"),
        ({"file_mb": 12.0}, "large_file"),
        ({"cut_start_s": 0.03}, "onset_cut"),
        ({"clipped_fraction": 0.01}, "clipping"),
        ({"snr_db": 8.0}, "low_snr"),
        ({"silence_fraction": 0.8}, "mostly_silence"),
        ({"confidence": 0.41}, "low_confidence"),
        ({"margin": 0.03}, "small_margin"),
        ({"entropy_bits": 2.9}, "high_entropy"),
        ({"unknown_frame_fraction": 0.55}, "unknown_frames"),
        ({"flip_rate": 0.4, "flipped_by": ["gain +6 dB"]}, "unstable"),
    ],
)
def test_each_rule_fires_on_its_fact(facts, code):
    found = findings_from(facts)
    assert code in {f.code for f in found}
    f = next(f for f in found if f.code == code)
    assert f.severity in ("info", "warning", "error") and f.message and f.suggestion and f.evidence


def test_a_suggestion_to_run_a_test_names_the_command_that_runs_it():
    """small_margin said "(run the stability test)" in every report and run row, and no command is called that."""
    (f,) = [f for f in findings_from({"margin": 0.03}) if f.code == "small_margin"]
    assert "(`workbench diagnose FILE` runs the stability test unless given --no-stability)" in f.suggestion


def test_diagnose_does_not_send_its_reader_to_diagnose_for_the_test_it_printed():
    """diagnose's own small_margin finding said "workbench diagnose FILE runs the stability test", under the stability
    test that command had just printed: with the test's facts it points at those lines instead."""
    (f,) = [f for f in findings_from({"margin": 0.03, "flip_rate": 0.0}) if f.code == "small_margin"]
    assert "(the stability lines above show whether they do)" in f.suggestion and "workbench diagnose" not in f.suggestion


def test_rules_stay_quiet_on_a_clean_clip():
    facts = {"duration_s": 4.0, "source_sample_rate": 16000, "resample_ratio": 1.0, "file_mb": 0.2, "cut_start_s": 0.0,
             "clipped_fraction": 0.0, "snr_db": 40.0, "silence_fraction": 0.2, "confidence": 0.9, "margin": 0.7,
             "entropy_bits": 0.6, "unknown_frame_fraction": 0.0, "flip_rate": 0.0, "first_45ms_db_below_peak": 60.0}
    assert codes(facts) == set()


def test_thresholds_come_from_the_config():
    assert "low_confidence" in codes({"confidence": 0.65}, low_confidence=0.7)
    assert "low_confidence" not in codes({"confidence": 0.65})
    assert "onset_cut" in codes({"cut_start_s": 0.012}, onset_cut_ms=10)


def test_onset_cut_is_read_from_the_processing_log():
    audio = load((speech_like(16000, 2.0), 16000))
    audio = audio.with_samples(audio.samples[480:], record=StepRecord(name="trim", sr_in=16000, sr_out=16000, duration_in=2.0, duration_out=1.97, cut_start=0.03))
    assert audio_facts(audio)["cut_start_s"] == pytest.approx(0.03)
    assert "onset_cut" in codes(audio_facts(audio))


def test_signal_facts_from_real_signals(tmp_path):
    clean = speech_like(16000, 3.0, onset=0.5)
    noisy = clean + noise(16000, 3.0, amp=0.08)
    assert signal_facts(clean, 16000)["snr_db"] > 30
    assert signal_facts(noisy, 16000)["snr_db"] < 15
    quiet = np.concatenate([silence(16000, 4.0), speech_like(16000, 1.0)])
    assert signal_facts(quiet, 16000)["silence_fraction"] > 0.6
    p = tmp_path / "clip.wav"
    sf.write(p, clipped(44100, 1.0), 44100, subtype="PCM_16")
    assert audio_facts(load(p))["clipped_fraction"] > 0.1
    at0 = speech_like(16000, 2.0, seed=4)
    f0 = signal_facts(at0[int(0.06 * 16000):], 16000)  # cut into a syllable
    assert "speech_at_sample_0" in codes(f0)
    assert "speech_at_sample_0" not in codes(signal_facts(speech_like(16000, 2.0, onset=0.3), 16000))


def test_perturbations_do_what_they_say():
    y = speech_like(16000, 1.0)
    rng = np.random.default_rng(0)
    assert len(Perturbation("s", "shift", 0.05).apply(y, 16000, rng)) == 16000 + 800
    assert len(Perturbation("s", "shift", -0.05).apply(y, 16000, rng)) == 16000 - 800
    assert len(Perturbation("l", "lead_silence", 0.2).apply(y, 16000, rng)) == 16000 + 3200
    g = Perturbation("g", "gain", -6.0).apply(y, 16000, rng)
    assert np.abs(g).max() == pytest.approx(np.abs(y).max() * 10 ** (-6 / 20), rel=1e-5)
    n = Perturbation("n", "noise", 30.0).apply(y, 16000, rng)
    snr = 10 * np.log10(np.mean(y**2) / np.mean((n - y) ** 2))
    assert snr == pytest.approx(30.0, abs=0.5)
    assert len(Perturbation("t", "tempo", 1.1).apply(y, 16000, rng)) == pytest.approx(16000 / 1.1, rel=0.02)
    p = Perturbation("p", "pitch", 1.0).apply(y, 16000, rng)
    assert len(p) == len(y) and not np.allclose(p, y)
    assert {q.kind for q in DEFAULT_PERTURBATIONS} >= {"pitch", "tempo"}


def test_stability_and_diagnose_with_the_model(tiny_model, tmp_path):
    audio = load((speech_like(16000, 2.0, seed=9), 16000))
    rep = stability(tiny_model, audio)
    assert len(rep.rows) == len(DEFAULT_PERTURBATIONS)
    assert rep.flip_rate == pytest.approx(np.mean([r["label"] != rep.base_label for r in rep.rows]))
    p = tmp_path / "tel.wav"
    sf.write(p, speech_like(8000, 2.0), 8000)
    d = diagnose(p, tiny_model)
    text = d.render()
    assert "low_sample_rate" in text and "→" in text and "stability:" in text and "RANDOM WEIGHTS" in text
    assert "unknown_frame_fraction" in prediction_facts(d.prediction)


# ---------------------------------------------------------------------------
# no sound at all: the model still answers, so the findings must say it
# ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "signal,code",
    [
        (np.zeros(32000, np.float32), "digital_silence"),
        (np.full(32000, 0.5, np.float32), "dc_only"),
        (np.full(32000, -0.02, np.float32) + (1e-6 * np.random.default_rng(0).standard_normal(32000)).astype(np.float32), "dc_only"),
        ((1e-5 * np.random.default_rng(1).standard_normal(32000)).astype(np.float32), "no_signal"),
    ],
)
def test_silence_dc_and_no_signal_are_error_findings(tmp_path, signal, code):
    p = tmp_path / "x.wav"
    sf.write(p, signal, 16000, subtype="FLOAT")
    found = findings_from(audio_facts(load(p)))
    f = next(f for f in found if f.code == code)
    assert f.severity == "error" and f.message and f.suggestion and f.evidence
    assert {"digital_silence", "dc_only", "no_signal"} & {g.code for g in found} == {code}  # one of the three, the right one
    assert "low_snr" not in {g.code for g in found}  # no sound, no SNR: the finding would only add noise


def test_quiet_speech_and_a_dc_offset_under_speech_are_not_no_signal():
    speech = speech_like(16000, 2.0) * 0.01  # -40 dBFS speech is quiet, not absent
    assert not {"digital_silence", "dc_only", "no_signal"} & codes(signal_facts(speech, 16000))
    assert not {"digital_silence", "dc_only", "no_signal"} & codes(signal_facts(speech + 0.3, 16000))


def test_digital_silence_counts_as_silence():
    # it used to be 0 % silence: every frame is as loud as the loudest (-120 dB) one
    assert signal_facts(silence(16000, 2.0), 16000)["silence_fraction"] == 1.0
    assert "mostly_silence" in codes(signal_facts(silence(16000, 2.0), 16000))


def test_the_no_signal_threshold_comes_from_the_config():
    facts = signal_facts((1e-3 * np.random.default_rng(2).standard_normal(32000)).astype(np.float32), 16000)  # about -60 dBFS
    assert "no_signal" not in codes(facts)
    assert "no_signal" in codes(facts, no_signal_db=-50.0)


def test_high_entropy_is_measured_against_the_models_own_classes():
    # a fine-tuned head over 4 classes tops out at 2 bits: a uniform spread (1.999 bits) never passed the nine-class
    # threshold of 2 bits, and the message said "of 3.17 max"
    uniform4 = findings_from({"entropy_bits": 1.999, "n_classes": 4})
    (f,) = [f for f in uniform4 if f.code == "high_entropy"]
    assert "of 2.00 max over 4 classes" in f.message and f.evidence["n_classes"] == 4
    assert "high_entropy" not in codes({"entropy_bits": 0.5, "n_classes": 4})
    # the nine classes keep their threshold and message (facts without n_classes are the nine's)
    assert "high_entropy" in codes({"entropy_bits": 2.9}) and "high_entropy" not in codes({"entropy_bits": 1.9})
    (g,) = [f for f in findings_from({"entropy_bits": 2.9, "n_classes": 9}) if f.code == "high_entropy"]
    assert "of 3.17 max over 9 classes" in g.message


def test_prediction_facts_carry_the_number_of_classes():
    class Pred:
        label, confidence, margin, entropy, frame_logits, n_frames = "hot", 0.26, 0.01, 1.99, None, 0
        labels = ["bright", "flat", "hot", "low"]
    assert prediction_facts(Pred())["n_classes"] == 4


@pytest.mark.parametrize("mixed_db", [0.0, 5.0, 10.0])
def test_the_low_snr_finding_says_what_its_figure_measures_and_it_reads_above_the_mixing_snr(mixed_db):
    # the demo's happy_zh_noisy5db (mixed at 5 dB) read "estimated SNR is 9.8 dB" with no word that the estimate is the
    # loud frames over the noise floor, not the mixing SNR a user compares it with
    from workbench.engine.findings import SNR_DEFINITION

    clean = speech_like(16000, 3.0, seed=3)
    active = np.abs(clean) > 0.01 * np.abs(clean).max()
    rng = np.random.default_rng(0)
    noisy = clean + rng.standard_normal(len(clean)) * np.sqrt(np.mean(clean[active] ** 2) / 10 ** (mixed_db / 10))
    snr = signal_facts(noisy.astype(np.float32), 16000)["snr_db"]
    assert snr > mixed_db  # what the message says of it, on speech mixed at a known SNR
    (f,) = [g for g in findings_from({"snr_db": snr}) if g.code == "low_snr"]
    assert f"estimated SNR is {snr:.1f} dB" in f.message and SNR_DEFINITION in f.message
