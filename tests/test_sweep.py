"""Sweeps measure every grid point against the unmodified audio, and say so."""

from __future__ import annotations

import re

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
    assert "same label as the original audio, exact 95 % interval" in legend and not any("sr_8000" in t for t in legend)
    assert any("original audio (22.05, 44.1 kHz source)" in t and "reference" in t for t in legend)
    fig.canvas.draw()
    assert [t.get_text().strip() for t in ax2.get_xticklabels()] == ["8", "11.025", "16", "22.05", "44.1", "48"]
    assert "kHz" in ax2.get_xlabel() and "reference: the original audio (raw)" in ax1.get_title()
    assert ax2.get_xlabel().startswith("source sample rate (kHz)") and "16 kHz (kHz)" not in ax2.get_xlabel()  # walk18
    # the reference is a level, not a grid point: 6 points per curve
    assert all(len(line.get_xdata()) == 6 for line in ax2.get_lines() if line.get_linestyle() != ":")
    plt.close(fig)


def test_the_same_label_share_comes_with_its_denominator_and_exact_interval(sr_sweep):
    """The share of items keeping the reference's label was printed, written and drawn bare (0.7188 of 96 items, no
    interval): it now has its denominator and its exact 95 % interval in the summary, and error bars in the figure."""
    import matplotlib.pyplot as plt
    from scipy.stats import binomtest

    d, df = sr_sweep
    summary = pd.read_csv(d / "sw" / "sweep_summary.csv").set_index("variant")
    assert summary.loc["raw", "same_label_as_reference"] == 1 and np.isnan(summary.loc["raw", "same_label_ci_low"])  # by definition
    for name, row in summary.drop(index="raw").iterrows():
        assert row["compared"] == 2
        ci = binomtest(round(row["same_label_as_reference"] * 2), 2).proportion_ci(method="exact")
        assert (row["same_label_ci_low"], row["same_label_ci_high"]) == pytest.approx((ci.low, ci.high), abs=1e-4)
        assert row["same_label_ci_low"] <= row["same_label_as_reference"] <= row["same_label_ci_high"]
    fig = plot_sweep(df, "sample-rate")
    assert any(type(c).__name__ == "LineCollection" for c in fig.axes[1].collections)  # the error bars
    plt.close(fig)


def test_an_snr_sweeps_score_panel_says_which_noise_reduction_it_shows():
    """Two groups of curves below (denoise False and True), one set of score curves above: its axis names the group."""
    import matplotlib.pyplot as plt

    from workbench.schema import score_column

    rows = []
    for variant, snr, den in (("clean", np.inf, False), ("snr_10", 10.0, False), ("snr_10+denoise", 10.0, True),
                              ("snr_0", 0.0, False), ("snr_0+denoise", 0.0, True)):
        for i in range(3):
            scores = np.full(len(LABEL_KEYS), 0.5 / (len(LABEL_KEYS) - 1))
            scores[i] = 0.5
            rows.append({"id": f"i{i}", "variant": variant, "status": "ok", "pred": LABEL_KEYS[i], "confidence": 0.5,
                         "snr_db": snr, "denoise": den, **{score_column(k): v for k, v in zip(LABEL_KEYS, scores)}})
    fig = plot_sweep(pd.DataFrame(rows), "snr")
    assert fig.axes[0].get_ylabel() == "mean score (without noise reduction)"
    # the legend names the groups in words (it said "denoise=False"), and the groups' markers differ: equal values of
    # the two drew one marker exactly over the other
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert not any("denoise=" in t or "False" in t or "True" in t for t in legend), legend
    for group in ("mean confidence (without noise reduction)", "mean confidence (with noise reduction)"):
        assert f"{group},\nStudent-t 95 % interval over the items" in legend, legend
    markers = {bars.get_label(): (bars.lines[0].get_marker(), bars.lines[0].get_markerfacecolor()) for bars in fig.axes[1].containers
               if bars.get_label().startswith("mean confidence (")}  # drawn with their intervals: error bar containers
    assert len(set(markers.values())) == 2, markers
    plt.close(fig)


def test_the_sweep_command_prints_each_share_with_its_interval_and_count_in_one_cell(tmp_path, capsys):
    """`workbench sweep` printed summarise_sweep's raw frame: True/False, NaN on the reference's row and the share's
    interval as columns named same_label_ci_low/high; the report's table (sweep_display) is what it prints now."""
    from workbench.cli import main

    for i in range(2):
        sf.write(tmp_path / f"c{i}.wav", speech_like(16000, 0.8, seed=i), 16000, subtype="PCM_16")
    (tmp_path / "m.csv").write_text("id,path\nc0,c0.wav\nc1,c1.wav\n")
    assert main(["sweep", str(tmp_path / "m.csv"), "--kind", "snr", "--model", "tiny", "--out", str(tmp_path / "s"),
                 "--no-cache", "--no-figures"]) == 0
    out = capsys.readouterr().out
    for raw in ("True", "False", "NaN", "same_label_ci_low", "mean_confidence"):
        assert raw not in out, out
    assert "clean (reference)" in out and "— (the reference itself)" in out and "same label as the reference [exact 95% CI] same/compared" in out
    assert "inf" not in out and "none added (clean)" in out  # the clean reference's SNR in words
    assert re.search(r"snr_40\+denoise .* yes .* \d\.\d{3} \[\d\.\d{3}, \d\.\d{3}\] \d/2", out), out


def test_an_interrupted_sweep_says_how_to_resume_it_and_the_same_command_does(tmp_path, monkeypatch, capsys):
    """Ctrl-C in a sweep printed a bare "interrupted" and its log.txt said "run() again with out_dir=…", Python's
    words; a sweep is a run folder, which the same command with its --out resumes: the screen and log.txt now say so."""
    from workbench.cli import main
    from workbench.runs import sweep as sweep_module

    sf.write(tmp_path / "clip.wav", speech_like(16000, 1.0, seed=5), 16000, subtype="PCM_16")
    real_run = sweep_module.run

    def interrupted_run(*args, **kwargs):  # the real run, with a Ctrl-C arriving once its first chunk is on disk
        def hook(step, rows, **_):
            raise KeyboardInterrupt
        return real_run(*args, **{**kwargs, "hook": hook, "chunk_size": 2})

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sweep_module, "run", interrupted_run)
    assert main(["sweep", "clip.wav", "--kind", "trim", "--model", "tiny", "--no-cache"]) == 130
    assert "`workbench sweep` with the same --out resumes where it stopped" in capsys.readouterr().err
    (out,) = (tmp_path / "runs").iterdir()
    log = (out / "log.txt").read_text(encoding="utf-8")
    assert f"`workbench sweep clip.wav --kind trim --model tiny --no-cache --out runs/{out.name}` resumes from them" in log, log
    monkeypatch.setattr(sweep_module, "run", real_run)
    assert main(["sweep", "clip.wav", "--kind", "trim", "--model", "tiny", "--no-cache", "--out", f"runs/{out.name}"]) == 0
    assert "done: 6 rows (0 failed)" in (out / "log.txt").read_text(encoding="utf-8").split("interrupted")[1]


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


def _confidence_frame():
    """Three items at the reference and two grid points: 22.05 kHz moves each confidence a little, up and down (its
    change holds 0), 8 kHz drops every one by about 0.3 (it does not)."""
    conf = {"raw": [0.5, 0.6, 0.7], "sr_22050": [0.52, 0.58, 0.71], "sr_8000": [0.2, 0.3, 0.35]}
    rate = {"raw": 44100.0, "sr_22050": 22050.0, "sr_8000": 8000.0}
    return pd.DataFrame([{"id": i, "variant": v, "status": "ok", "sample_rate": rate[v], "confidence": c, "margin": 0.1, "pred": "sad",
                          **{f"score_{k}": 1 / len(LABEL_KEYS) for k in LABEL_KEYS}}
                         for v, cs in conf.items() for i, c in zip("abc", cs)])


def test_the_mean_confidence_of_each_point_has_its_t_interval_and_a_change_within_it_is_flagged(sr_sweep):
    """`workbench sweep` gave each grid point's mean confidence bare (0.603 of 3 items, no interval), on screen, in
    sweep_summary.csv and in the figure, so a point that moved by noise read like one that moved.  Each mean now has
    its Student-t 95 % interval over the items, each point its change from the reference with a paired t interval, and
    a point whose change interval holds 0 is flagged: ``≈ reference`` on screen, ``change_within_interval`` in the CSV,
    ringed in the figure."""
    import matplotlib.pyplot as plt
    from scipy.stats import t

    from workbench.runs.sweep import sweep_display

    def t_interval(x):  # computed here independently: mean ± t(0.975, n − 1) · s / √n
        x = np.asarray(x)
        half = t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
        return x.mean() - half, x.mean() + half

    df = _confidence_frame()
    summ = summarise_sweep(df, "sample-rate").set_index("variant")
    for v in ("raw", "sr_22050", "sr_8000"):
        conf = df[df["variant"] == v]["confidence"].to_numpy()
        assert (summ.loc[v, "mean_confidence_ci_low"], summ.loc[v, "mean_confidence_ci_high"]) == pytest.approx(t_interval(conf), abs=1e-4)
    ref = df[df["variant"] == "raw"]["confidence"].to_numpy()
    for v, within in (("sr_22050", True), ("sr_8000", False)):
        diff = df[df["variant"] == v]["confidence"].to_numpy() - ref
        assert summ.loc[v, "confidence_change"] == pytest.approx(diff.mean(), abs=1e-4) and summ.loc[v, "change_paired"] == 3
        assert (summ.loc[v, "change_ci_low"], summ.loc[v, "change_ci_high"]) == pytest.approx(t_interval(diff), abs=1e-4)
        assert summ.loc[v, "change_within_interval"] is within
    assert summ.loc["raw", "change_within_interval"] is None  # the reference is not compared with itself
    shown = sweep_display(summ.reset_index()).set_index("variant")
    assert shown.loc["sr_22050", "mean confidence [95% t CI over items]"] == "0.603 [0.362, 0.845]"
    assert shown.loc["sr_22050", "Δ confidence vs reference [paired 95% t CI] n"].endswith("3  ≈ reference: interval holds 0")
    assert "≈" not in shown.loc["sr_8000", "Δ confidence vs reference [paired 95% t CI] n"]
    fig = plot_sweep(df, "sample-rate")
    rings = [c for c in fig.axes[1].collections if type(c).__name__ == "PathCollection" and len(c.get_offsets())]
    assert [tuple(o) for c in rings for o in c.get_offsets()] == [pytest.approx((22050.0, summ.loc["sr_22050", "mean_confidence"]), abs=1e-4)]
    assert any("within its paired 95 % t interval" in x.get_text() for x in fig.axes[1].get_legend().get_texts())
    plt.close(fig)
    d, _ = sr_sweep  # the sweep's own table on disk carries the columns
    written = pd.read_csv(d / "sw" / "sweep_summary.csv")
    assert {"mean_confidence_ci_low", "mean_confidence_ci_high", "confidence_change", "change_ci_low", "change_ci_high",
            "change_within_interval"} <= set(written.columns)
    # a point scored exactly as the reference: a zero-width interval shows no uncertainty, so it is said in words
    same = df.copy()
    same.loc[same["variant"] == "sr_22050", "confidence"] = ref
    cell = sweep_display(summarise_sweep(same, "sample-rate")).set_index("variant").loc["sr_22050", "Δ confidence vs reference [paired 95% t CI] n"]
    assert cell == "+0.000 (all 3 items as at the reference)  ≈ reference" and "[+0.000, +0.000]" not in cell


def test_a_ring_says_which_of_two_coinciding_points_is_within_its_interval_of_the_reference():
    """An SNR sweep's two groups (without and with noise reduction) at the same point with the same mean confidence,
    only the second within its paired interval of the reference: the ring was grey and of one size, so it could belong
    to either.  It is now in the colour of the curve it marks (the second group's wider), said in the legend."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba

    from workbench.runs.sweep import confidence_change
    from workbench.schema import score_column

    conf = {("clean", np.inf, False): [0.5, 0.6, 0.7], ("snr_10", 10.0, False): [0.2, 0.3, 0.4],
            ("snr_10+denoise", 10.0, True): [0.0, 0.3, 0.6]}  # both at 0.3; changes -0.3 ×3 (no), -0.5/-0.3/-0.1 (holds 0)
    rows = [{"id": f"i{i}", "variant": v, "status": "ok", "pred": LABEL_KEYS[0], "confidence": c, "snr_db": snr, "denoise": den,
             **{score_column(k): 1 / len(LABEL_KEYS) for k in LABEL_KEYS}}
            for (v, snr, den), cs in conf.items() for i, c in enumerate(cs)]
    df = pd.DataFrame(rows)
    ref = df[df["variant"] == "clean"].set_index("id")["confidence"]
    assert confidence_change(df[df["variant"] == "snr_10"], ref)[4] is False
    assert confidence_change(df[df["variant"] == "snr_10+denoise"], ref)[4] is True
    fig = plot_sweep(df, "snr")
    ax = fig.axes[1]
    curve = {b.get_label().split(",")[0]: b.lines[0].get_color() for b in ax.containers if b.get_label().startswith("mean confidence (")}
    rings = [c for c in ax.collections if type(c).__name__ == "PathCollection" and len(c.get_offsets())]
    assert len(rings) == 1 and tuple(rings[0].get_offsets()[0]) == pytest.approx((10.0, 0.3))
    assert tuple(rings[0].get_edgecolors()[0]) == pytest.approx(to_rgba(curve["mean confidence (with noise reduction)"]))
    assert tuple(rings[0].get_edgecolors()[0]) != pytest.approx(to_rgba(curve["mean confidence (without noise reduction)"]))
    assert any("ringed (ring in the curve's colour)" in t.get_text() for t in ax.get_legend().get_texts())
    plt.close(fig)


def test_a_grid_points_top_label_names_every_tied_label_with_its_count():
    """The top label was ``pred.mode().iloc[0]``: with two items sad and two angry at a point, the table said "angry"
    (first alphabetically), a ranking decided by the tie; and it never said how many items had it."""
    from workbench.runs.sweep import sweep_display

    df = _confidence_frame()
    df = pd.concat([df, df[df["id"] == "a"].assign(id="d")], ignore_index=True)  # four items at each point
    df.loc[(df["variant"] == "sr_22050") & df["id"].isin(["a", "b"]), "pred"] = "angry"
    summ = summarise_sweep(df, "sample-rate").set_index("variant")
    assert summ.loc["sr_22050", "top_label"] == "angry = sad (tie)" and summ.loc["sr_22050", "top_label_items"] == 2
    assert summ.loc["raw", "top_label"] == "sad" and (summ.loc["raw", "top_label_items"], summ.loc["raw", "top_label_of"]) == (4, 4)
    shown = sweep_display(summ.reset_index()).set_index("variant")
    assert shown.loc["sr_22050", "top label"] == "angry = sad (tie) 2/4 items each"
    assert shown.loc["sr_8000", "top label"] == "sad 4/4 items"


def test_a_grid_point_with_no_item_scored_under_both_has_a_row_of_n_0():
    """sweep_flips.csv left out a grid point whose every item failed: a reader could not tell it from one never run."""
    import pandas as pd

    from workbench.labels import LABEL_KEYS
    from workbench.runs.sweep import FLIP_COLUMNS, flip_table_from_results
    from workbench.schema import score_columns

    scores = {c: [1.0 / len(LABEL_KEYS)] * 4 for c in score_columns(LABEL_KEYS)}
    df = pd.DataFrame({"id": ["a", "b"] * 2, "variant": ["raw", "raw", "snr_0", "snr_0"], "status": ["ok", "ok", "error", "error"],
                       "pred": ["angry", "sad", "", ""], **scores})
    table = flip_table_from_results(df, "raw")
    assert list(table.columns) == FLIP_COLUMNS
    row = table[table["edit"] == "snr_0"]
    assert len(row) == 1 and int(row["n"].iloc[0]) == 0 and np.isnan(row["flip_rate"].iloc[0])
