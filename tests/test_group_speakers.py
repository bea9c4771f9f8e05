"""A breakdown's group intervals resample the group's speakers (`metrics --by gender`), as the headline's do.

Each gender's interval resampled its clips within each class, as if a speaker's twenty clips were twenty independent
people.  With a strong speaker effect (each speaker's accuracy drawn around the gender's) the clip interval covered the
gender's population value about half the time; resampling the gender's speakers covers it near 95 %."""

from __future__ import annotations

import json

import numpy as np
from test_probe import synthetic_row, write_run

from workbench.analysis.groups import analyse_groups
from workbench.analysis.metrics import evaluate

SPEAKERS, CLIPS = 30, 20  # per gender


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _two_genders(rng, speakers=SPEAKERS, clips=CLIPS):
    """Two balanced classes; speaker s of gender g right with probability sigmoid(base_g + 1.5 z_s) on each clip."""
    spk = np.repeat(np.arange(2 * speakers), clips)
    gender = np.where(spk < speakers, "f", "m")
    base = np.where(np.arange(2 * speakers) < speakers, 0.5, 1.0)
    truth = rng.integers(0, 2, len(spk))
    right = rng.random(len(spk)) < _sigmoid(base + 1.5 * rng.standard_normal(2 * speakers))[spk]
    names = np.array(["angry", "sad"])
    return names[truth], names[np.where(right, truth, 1 - truth)], gender, np.array([f"s{s}" for s in spk])


def test_a_genders_uar_interval_resampling_its_speakers_covers_the_population_value_the_clip_one_misses():
    z = 1.5 * np.random.default_rng(99).standard_normal(2_000_000)
    true = {"f": float(np.mean(_sigmoid(0.5 + z))), "m": float(np.mean(_sigmoid(1.0 + z)))}
    rng = np.random.default_rng(1)
    reps = 120
    covered = {"items": 0, "speakers": 0}
    for r in range(reps):
        t, p, gender, spk = _two_genders(rng)
        for unit, speakers in (("items", None), ("speakers", spk)):
            table = analyse_groups(t, p, gender, ["angry", "sad"], by="gender", n_boot=300, seed=r, speakers=speakers).table
            covered[unit] += sum(lo <= true[g] <= hi for g, lo, hi in zip(table["group"], table["uar_lo"], table["uar_hi"]))
    items, speakers = covered["items"] / (2 * reps), covered["speakers"] / (2 * reps)
    assert items < 0.7, items  # about 0.51: the old interval
    assert speakers > 0.88, speakers  # about 0.94: nominal 0.95


def test_metrics_by_gender_resamples_each_genders_speakers_and_says_so_on_screen_json_and_report(tmp_path, capsys, monkeypatch):
    from workbench.cli import main
    from workbench.views import reporting

    t, p, gender, spk = _two_genders(np.random.default_rng(4))
    rows = [synthetic_row(f"i{i}", emotion=a, pred=b, speaker=s) for i, (a, b, s) in enumerate(zip(t, p, spk))]
    for row, g in zip(rows, gender):
        row["gender"] = g
    rf = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * len(rows))
    r = evaluate(rf.results(), n_boot=200, seed=0, by=("gender", "speaker"))
    assert {g: d["ci_unit"] for g, d in r.breakdowns["gender"].items()} == {"f": "30 speakers", "m": "30 speakers"}
    assert {d["ci_unit"] for d in r.breakdowns["speaker"].values()} == {"items"}  # a speaker's own clips
    text = r.render()
    assert "    group intervals: 95 % bootstrap resampling each group's speakers (f 30 speakers, m 30 speakers)" in text
    assert "    group intervals: 95 % bootstrap resampling items within each class of a group" in text
    assert main(["metrics", str(rf.path), "--json", "--no-figures", "--by", "gender"]) == 0
    shown = json.loads(capsys.readouterr().out)["variants"]["raw"]["breakdowns"]["gender"]
    assert shown["f"]["ci_unit"] == "30 speakers"
    html: list[str] = []
    monkeypatch.setattr(reporting, "show_html", lambda markup: html.append(str(markup)))
    monkeypatch.setattr(reporting, "_display", lambda obj: None)
    monkeypatch.setattr(reporting, "show_figure", lambda *a, **k: None)
    reporting.metrics_section(rf.path, n_boot=50, by=("gender",))
    page = "\n".join(html)
    assert "CIs resampled" in page and "30 speakers" in page


def test_a_group_of_few_speakers_resamples_items_and_its_note_says_so():
    t, p, gender, spk = _two_genders(np.random.default_rng(5), speakers=3, clips=40)
    table = analyse_groups(t, p, gender, ["angry", "sad"], by="gender", n_boot=100, speakers=spk).table
    assert list(table["ci_unit"]) == ["items", "items"]
    assert all("only 3 speaker(s)" in note for note in table["note"])
