"""Sweeps measure every grid point against the unmodified audio, and say so."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import speech_like
from workbench.labels import LABEL_KEYS
from workbench.runs.sweep import REFERENCE, grid, plot_sweep, summarise_sweep, sweep


def test_every_grid_starts_with_the_unmodified_audio():
    for kind, name in REFERENCE.items():
        (first, _), *rest = grid(kind)
        assert first.name == name and first.steps == ()  # no processing at all
        assert all(v.steps for v, _ in rest)


@pytest.fixture(scope="module")
def sr_sweep(tmp_path_factory, tiny_model):
    d = tmp_path_factory.mktemp("sweep")
    for i, sr in enumerate((44100, 22050)):
        sf.write(d / f"clip{i}.wav", speech_like(sr, 1.5, seed=3 + i), sr, subtype="PCM_16")
    pd.DataFrame({"id": ["a", "b"], "path": ["clip0.wav", "clip1.wav"]}).to_csv(d / "manifest.csv", index=False)
    df = sweep(d / "manifest.csv", kind="sample-rate", out_dir=d / "sw", model=tiny_model, cache_dir=d / "cache")
    return d, df


def test_sample_rate_sweep_reference_is_the_original_audio(sr_sweep):
    d, df = sr_sweep
    assert list(dict.fromkeys(df["variant"])) == ["raw", "sr_8000", "sr_11025", "sr_16000", "sr_22050", "sr_44100", "sr_48000"]
    raw = df[df["variant"] == "raw"].set_index("id")
    assert raw["reference"].all() and not df[df["variant"] != "raw"]["reference"].any()
    assert dict(raw["sample_rate"]) == {"a": 44100, "b": 22050}  # the original file's own rate
    summary = pd.read_csv(d / "sw" / "sweep_summary.csv")
    assert summary["variant"].iloc[0] == "raw" and bool(summary["reference"].iloc[0]) and summary["same_label_as_reference"].iloc[0] == 1.0
    # agreement is measured against the raw rows, not against the first resampled point
    for name in ("sr_8000", "sr_16000", "sr_48000"):
        point = df[df["variant"] == name].set_index("id")["pred"]
        want = float((point.reindex(raw.index) == raw["pred"]).mean())
        assert summary.set_index("variant").loc[name, "same_label_as_reference"] == pytest.approx(want)
    # the raw variant's scores are those of the file as it is: resampling 22.05 → 22.05 kHz changes nothing, 8 kHz does
    scores = [f"score_{k}" for k in LABEL_KEYS]
    same = df[(df["variant"] == "sr_22050") & (df["id"] == "b")][scores].to_numpy(float)
    assert np.allclose(same, raw.loc[["b"], scores].to_numpy(float), atol=1e-6)
    low = df[(df["variant"] == "sr_8000") & (df["id"] == "b")][scores].to_numpy(float)
    assert not np.allclose(low, raw.loc[["b"], scores].to_numpy(float), atol=1e-6)


def test_sample_rate_sweep_figure_labels_the_reference_and_rates_in_khz(sr_sweep):
    import matplotlib.pyplot as plt

    _, df = sr_sweep
    fig, axes = plt.subplots(2, 1)
    assert plot_sweep(df, "sample-rate", axes=axes) is fig
    ax1, ax2 = axes
    legend = [t.get_text() for t in ax2.get_legend().get_texts()]
    assert "same label as the original audio" in legend and not any("sr_8000" in t for t in legend)
    assert any("original audio (22.05, 44.1 kHz source)" in t and "reference" in t for t in legend)
    fig.canvas.draw()
    assert [t.get_text().strip() for t in ax2.get_xticklabels()] == ["8", "11.025", "16", "22.05", "44.1", "48"]
    assert "kHz" in ax2.get_xlabel() and "reference: the original audio (raw)" in ax1.get_title()
    # the reference is a level, not a grid point: 6 points per curve
    assert all(len(line.get_xdata()) == 6 for line in ax2.get_lines() if line.get_linestyle() != ":")
    plt.close(fig)


def test_summary_refuses_a_sweep_without_its_reference(sr_sweep):
    from workbench.errors import ConfigError

    _, df = sr_sweep
    with pytest.raises(ConfigError, match="no reference variant 'raw'"):
        summarise_sweep(df[df["variant"] != "raw"], "sample-rate")


@pytest.mark.slow
def test_pitch_sweep_scores_psola_shifted_audio_and_counts_flips(tmp_path, tiny_model):
    """The audio each pitch point was scored on is the original shifted by its semitones (replayed from the run)."""
    from workbench.explain.voice import pitch_intensity
    from workbench.runs.folder import RunFolder

    for i in range(2):
        sf.write(tmp_path / f"c{i}.wav", speech_like(16000, 1.5, seed=10 + i), 16000, subtype="PCM_16")
    pd.DataFrame({"id": ["a", "b"], "path": ["c0.wav", "c1.wav"]}).to_csv(tmp_path / "m.csv", index=False)
    df = sweep(tmp_path / "m.csv", kind="pitch", out_dir=tmp_path / "sw", model=tiny_model, cache_dir=tmp_path / "cache", figures=False)
    assert (df["status"] == "ok").all() and df[df["reference"]]["variant"].unique().tolist() == ["no_shift"]
    rf = RunFolder(tmp_path / "sw")
    rows = {r["variant"]: r for _, r in df[df["id"] == "a"].iterrows()}
    base = pitch_intensity(rf.scored_audio(rows["no_shift"]).samples, 16000, f0_floor=60, f0_ceiling=400)
    up = pitch_intensity(rf.scored_audio(rows["pitch_+2st"]).samples, 16000, f0_floor=60, f0_ceiling=400)
    both = base["voiced"] & up["voiced"]
    assert np.median(12 * np.log2(up["f0_hz"][both] / base["f0_hz"][both])) == pytest.approx(2.0, abs=0.3)
    flips = pd.read_csv(tmp_path / "sw" / "sweep_flips.csv")
    ref = df[df["variant"] == "no_shift"].set_index("id")["pred"]
    for name in ("pitch_-4st", "pitch_+4st"):
        changed = (df[df["variant"] == name].set_index("id")["pred"] != ref).to_numpy()
        got = flips[flips["edit"] == name].drop_duplicates("base_label")
        assert np.isclose((got["flip_rate"] * got["n"]).sum(), changed.sum())
    assert set(summarise_sweep(df, "pitch")["semitones"].dropna()) == {0.0, -4.0, -2.0, -1.0, 1.0, 2.0, 4.0}


def test_the_same_label_share_carries_its_fraction_and_exact_interval_in_the_table_page_and_figure(sr_sweep, tiny_model, monkeypatch):
    """sweep printed 'same_label_as_reference 0.9062' (29 of 32, whose exact interval reaches 0.75) and, for one file,
    0 or 1 as if measured, with no denominator or interval in the table, sweep_summary.csv, the report or sweep.png."""
    import matplotlib.pyplot as plt
    from scipy.stats import binomtest

    from workbench.views import reporting

    d, df = sr_sweep
    summary = pd.read_csv(d / "sw" / "sweep_summary.csv").set_index("variant")
    raw = df[df["variant"] == "raw"].set_index("id")["pred"]
    for name in ("raw", "sr_8000", "sr_48000"):
        k = int((df[df["variant"] == name].set_index("id")["pred"].reindex(raw.index) == raw).sum())
        ci = binomtest(k, 2).proportion_ci(method="exact")
        row = summary.loc[name]
        assert row["same_label_of"] == f"{k}/2"
        assert (row["same_label_ci_low"], row["same_label_ci_high"]) == pytest.approx((ci.low, ci.high), abs=1e-4)
    assert summary.loc["raw", "same_label_ci_low"] == pytest.approx(0.1581, abs=1e-4)  # 2 of 2 could be a 0.16 share
    table = summarise_sweep(df, "sample-rate")
    assert {"same_label_of", "same_label_ci_low", "same_label_ci_high"} <= set(table.columns)
    shown = []
    monkeypatch.setattr(reporting, "show_html", shown.append)
    monkeypatch.setattr(reporting, "show_figure", lambda fig: plt.close(fig))
    out = reporting.sweep_section(d / "manifest.csv", "sample-rate", d / "sw_page", model=tiny_model)
    assert "same_label_ci_low" in str(shown[0]) and "2/2" in str(shown[0]) and out["points"][0]["same_label_of"] == "2/2"
    fig, axes = plt.subplots(2, 1)
    plot_sweep(df, "sample-rate", axes=axes)
    assert axes[1].collections, "no interval bars on the share"  # errorbar's bars are a LineCollection
    assert "share of 2 item(s), exact 95% CI" in axes[1].get_ylabel()
    plt.close(fig)
