"""Variant comparison (McNemar, paired bootstrap, flips) and sweeps."""

from __future__ import annotations

import json
from math import comb

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from conftest import speech_like
from test_runs import make_dataset

from workbench.cli import main
from workbench.analysis.compare import compare_results, mcnemar_exact, paired_bootstrap_delta
from workbench.errors import ConfigError
from workbench.labels import LABEL_KEYS
from workbench.analysis.metrics import uar, wa
from workbench.runs.sweep import grid, sweep

# ---------------------------------------------------------------- McNemar


def test_mcnemar_exact_matches_hand_computed_binomial_tails():
    # b=1, c=5: n=6, P[X<=1] = (C(6,0)+C(6,1))/2^6 = 7/64, two-sided 14/64
    assert mcnemar_exact(1, 5) == pytest.approx(14 / 64)
    assert mcnemar_exact(5, 1) == pytest.approx(14 / 64)
    # b=0, c=6: 2 * 1/64
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    # b=2, c=10: 2 * (1 + 12 + 66) / 4096
    assert mcnemar_exact(2, 10) == pytest.approx(2 * (comb(12, 0) + comb(12, 1) + comb(12, 2)) / 4096)
    # balanced: capped at 1; no discordant pairs: 1
    assert mcnemar_exact(3, 3) == 1.0
    assert mcnemar_exact(0, 0) == 1.0


# ------------------------------------------------------- paired bootstrap


def test_paired_bootstrap_resamples_items_jointly():
    # 20 items; the variant fixes exactly one item and changes nothing else.
    y = np.array(["happy"] * 10 + ["sad"] * 10)
    pa = y.copy()
    pa[0] = "sad"
    pb = y.copy()
    delta, lo, hi = paired_bootstrap_delta(wa, y, pa, pb, n=1000, seed=0)
    assert delta == pytest.approx(1 / 20)
    # In a paired resample the difference is k/20 with k ~ Binomial(20, 1/20) copies of the fixed item:
    # P[k=0] = 0.358 > 2.5 % so the lower bound is exactly 0 (never negative, as an unpaired bootstrap
    # would give); P[k<=2] = 0.925 < 97.5 % <= P[k<=3] = 0.984 so the upper bound is 3/20.
    assert lo == 0.0 and hi == pytest.approx(3 / 20)


def test_paired_bootstrap_of_identical_predictions_is_exactly_zero():
    rng = np.random.default_rng(1)
    y = rng.choice(["a", "b", "c"], 50)
    p = rng.choice(["a", "b", "c"], 50)
    assert paired_bootstrap_delta(lambda t, q: uar(t, q, ["a", "b", "c"]), y, p, p.copy(), n=200) == (0.0, 0.0, 0.0)
    assert all(np.isnan(paired_bootstrap_delta(wa, y[:0], p[:0], p[:0])))


# ---------------------------------------------------------- compare_results


def _results(rows):
    out = []
    for r in rows:
        item_id, variant, emotion, pred, conf = r[:5]
        status = r[5] if len(r) > 5 else "ok"
        scores = {f"score_{k}": (conf if k == pred else (1 - conf) / 8) for k in LABEL_KEYS}
        out.append({"id": item_id, "variant": variant, "status": status, "emotion": emotion, "pred": pred,
                    "confidence": conf, "finding_codes": "low_confidence" if conf < 0.6 else "", "path": f"{item_id}.wav",
                    **scores})
    return pd.DataFrame(out)


def test_compare_results_counts_discordant_pairs_and_lists_flips():
    rows = []
    # 6 items: 0,1 right in both; 2 right only in raw; 3,4 right only in denoise; 5 wrong in both (label changes)
    truth = ["happy", "sad", "angry", "neutral", "happy", "sad"]
    raw = ["happy", "sad", "angry", "sad", "sad", "angry"]
    den = ["happy", "sad", "neutral", "neutral", "happy", "happy"]
    for i, (t, a, b) in enumerate(zip(truth, raw, den)):
        rows.append((f"i{i}", "raw", t, a, 0.7))
        rows.append((f"i{i}", "denoise", t, b, 0.5 if a != b else 0.7))
    # an item that failed under the variant is not paired; an unlabelled item flips but has no 'fixed'
    rows.append(("i6", "raw", "happy", "happy", 0.9))
    rows.append(("i6", "denoise", "happy", "", float("nan"), "failed"))
    rows.append(("u0", "raw", "", "happy", 0.8))
    rows.append(("u0", "denoise", "", "sad", 0.8))
    reports, comps, flips = compare_results(_results(rows), baseline="raw", n_boot=200)
    (c,) = comps
    assert (c.baseline, c.variant, c.n_paired) == ("raw", "denoise", 6)
    assert (c.mcnemar_b, c.mcnemar_c) == (1, 2)
    assert c.mcnemar_p == pytest.approx(1.0)  # 2 * P[X<=1 | n=3] = 2 * 4/8
    assert c.delta_wa[0] == pytest.approx(4 / 6 - 3 / 6)
    assert c.n_flips == 4  # items 2, 3, 4, 5: the paired items; the unlabelled u0 is counted apart
    assert (c.n_unlabelled, c.n_flips_unlabelled) == (1, 1)
    assert set(flips["id"]) == {"i2", "i3", "i4", "i5", "u0"}
    f = flips.set_index("id")
    assert bool(f.loc["i3", "fixed"]) and not bool(f.loc["i3", "broke"])
    assert bool(f.loc["i2", "broke"]) and not bool(f.loc["i2", "fixed"])
    assert not bool(f.loc["i5", "fixed"]) and not bool(f.loc["i5", "broke"])
    assert f.loc["i3", "findings_variant"] == "low_confidence" and f.loc["i3", "pred_baseline"] == "sad"
    assert c.confidence_shift_mean == pytest.approx((-0.2 * 4) / 7)
    assert reports["denoise"].n_failed == 1


def test_compare_restricted_uses_the_dataset_classes_only():
    # i0's top label is 'other' under both variants; among the dataset's classes (happy, sad)
    # happy wins under raw and sad wins under v, so only the restricted comparison sees a change.
    df = _results([("i0", "raw", "happy", "other", 0.6), ("i0", "v", "happy", "other", 0.6),
                   ("i1", "raw", "sad", "sad", 0.9), ("i1", "v", "sad", "sad", 0.9)])
    df["score_happy"] = [0.3, 0.01, 0.0125, 0.0125]
    df["score_sad"] = [0.05, 0.2, 0.9, 0.9]
    _, (c,), _ = compare_results(df, baseline="raw", restrict=False, n_boot=50)
    reports, (cr,), _ = compare_results(df, baseline="raw", restrict=True, n_boot=50)
    assert c.delta_wa[0] == 0.0 and (c.mcnemar_b, c.mcnemar_c) == (0, 0)
    assert cr.delta_wa[0] == -0.5 and (cr.mcnemar_b, cr.mcnemar_c) == (1, 0)
    assert reports["raw"].wa == 1.0 and reports["v"].wa == 0.5


def test_unknown_baseline_is_a_config_error_that_lists_the_variants():
    df = _results([("i0", "raw", "happy", "happy", 0.9)])
    with pytest.raises(ConfigError, match=r"baseline variant 'clean'.*\['raw'\]"):
        compare_results(df, baseline="clean")


# ------------------------------------------------------------------ sweeps


def test_sweep_grids_cover_the_documented_points():
    assert [c["sample_rate"] for _, c in grid("sample-rate")][1:] == [8000, 11025, 16000, 22050, 44100, 48000]
    snr = grid("snr")
    assert snr[0][0].name == "clean" and len(snr) == 1 + 2 * 6
    assert {c["denoise"] for _, c in snr[1:]} == {True, False}
    assert [c["top_db"] for _, c in grid("trim")][1:] == [60, 50, 40, 30, 20]
    with pytest.raises(ConfigError, match="unknown sweep kind 'formant'"):
        grid("formant")


def test_sample_rate_sweep_of_one_file(tmp_path, tiny_model):
    path = tmp_path / "clip.wav"
    sf.write(path, speech_like(44100, 1.5, seed=3), 44100, subtype="PCM_16")
    df = sweep(path, kind="sample-rate", out_dir=tmp_path / "sw", model=tiny_model, cache_dir=tmp_path / "cache")
    assert (df["status"] == "ok").all() and len(df) == 7
    by = df.set_index("variant")
    # the 8 kHz point really lost the band above 4 kHz: its log says so, and its scores differ from 44.1 kHz
    assert by.loc["sr_8000", "sample_rate"] == 8000
    scores = [f"score_{k}" for k in LABEL_KEYS]
    assert not np.allclose(by.loc["sr_8000", scores].astype(float), by.loc["sr_44100", scores].astype(float), atol=1e-6)
    summary = pd.read_csv(tmp_path / "sw" / "sweep_summary.csv")
    assert list(summary["sample_rate"]) == [44100, 8000, 11025, 16000, 22050, 44100, 48000]  # the reference: the original file
    assert summary["same_label_as_reference"].iloc[0] == 1.0
    assert (tmp_path / "sw" / "sweep.png").stat().st_size > 5000
    assert json.loads((tmp_path / "sw" / "summary.json").read_text())["random_weights"] is True
    # sweep.png is written through its run folder, as its tables are: recorded, and marked as a random-weights figure
    # (it was saved beside them with no word of the weights, and missing from artifacts.json)
    from workbench.labels import RANDOM_WEIGHTS_MARK

    index = json.loads((tmp_path / "sw" / "artifacts.json").read_text())
    assert index["sweep.png"]["random_weights_mark"] == RANDOM_WEIGHTS_MARK and "titles" in index["sweep.png"]


def test_compare_and_sweep_commands(tmp_path, capsys):
    manifest = make_dataset(tmp_path, n=8, bad=False)
    variants = tmp_path / "variants.yaml"
    variants.write_text(
        "variants:\n"
        "  - name: raw\n"
        "  - name: telephone\n"
        "    steps: [{name: telephone}]\n"
        "  - name: trimmed\n"
        "    steps: [{name: trim, top_db: 20}]\n",
        encoding="utf-8",
    )
    run_dir = tmp_path / "run"
    cache = str(tmp_path / "cache")
    assert main(["run", str(manifest), "--model", "tiny", "--variants", str(variants), "--out", str(run_dir), "--cache-dir", cache]) == 0
    capsys.readouterr()
    assert main(["compare", str(run_dir), "--bootstrap", "200"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("!! RANDOM WEIGHTS")
    assert "telephone vs raw (8 paired items)" in out and "trimmed vs raw (8 paired items)" in out and "McNemar" in out
    payload = json.loads((run_dir / "compare.json").read_text())
    assert payload["baseline"] == "raw" and [c["variant"] for c in payload["comparisons"]] == ["telephone", "trimmed"]
    assert set(payload["metrics"]) == {"raw", "telephone", "trimmed"}
    flips = pd.read_csv(run_dir / "flips.csv")
    assert list(flips.columns)[:4] == ["id", "baseline", "variant", "emotion"]
    assert sum(c["n_flips"] for c in payload["comparisons"]) == len(flips)
    # figures are numbered in comparison order, never named after a variant (a config value)
    assert (run_dir / "compare_1.png").is_file() and (run_dir / "compare_2.png").is_file()
    assert not list(run_dir.glob("compare_telephone*"))

    elsewhere = tmp_path / "variants_cmp"
    assert main(["compare", str(run_dir), "--bootstrap", "50", "--no-figures", "--out", str(elsewhere)]) == 0
    assert {p.name for p in elsewhere.iterdir()} == {"compare.json", "flips.csv"}
    again = json.loads((elsewhere / "compare.json").read_text())["comparisons"]
    counts = [("variant", "mcnemar_b", "mcnemar_c", "n_flips")]
    assert [[c[k] for k in counts[0]] for c in again] == [[c[k] for k in counts[0]] for c in payload["comparisons"]]
    capsys.readouterr()

    assert main(["compare", str(run_dir), "--baseline", "nope"]) == 2
    assert "baseline variant 'nope'" in capsys.readouterr().err

    clip = tmp_path / "audio" / "c001.wav"
    assert main(["sweep", str(clip), "--kind", "trim", "--model", "tiny", "--out", str(tmp_path / "sw"), "--cache-dir", cache, "--no-figures"]) == 0
    out = capsys.readouterr().out
    assert "no_trim" in out and "trim_20db" in out and "same label as the reference [exact 95% CI] same/compared" in out
    # text left-aligned, numbers right: the variant names, labels and shares stood right-aligned like the numbers
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("variant "))
    rows = [line for line in lines if line.startswith(("no_trim (reference) ", "trim_"))]
    assert len(rows) == 6, out
    end, label = header.index("items") + len("items"), header.index("top label")
    assert all(r[end - 1].isdigit() and r[end] == " " and r[label] != " " and r[label - 1] == " " for r in rows), out
