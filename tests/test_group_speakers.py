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


def test_a_classs_recall_interval_resampling_speakers_covers_the_population_recall_the_exact_clip_one_misses():
    """Per-class precision and recall had exact binomial intervals over clips while F1's resampled speakers."""
    from workbench.analysis.metrics_groups import speaker_class_intervals
    from workbench.analysis.stats import class_table

    z = 1.5 * np.random.default_rng(99).standard_normal(2_000_000)
    true = float(np.mean(_sigmoid(0.5 + z)))  # each class's recall: the mean of the speakers' accuracies
    rng = np.random.default_rng(2)
    reps = 150
    covered = {"items": 0, "speakers": 0}
    for r in range(reps):
        t, p, _, spk = _two_genders(rng)
        keep = np.isin(spk, [f"s{i}" for i in range(SPEAKERS)])
        t, p, spk = t[keep], p[keep], spk[keep]
        exact = class_table(t, p, ["angry", "sad"])["angry"]["recall_ci"]
        boot = speaker_class_intervals(t, p, ["angry", "sad"], spk, n=300, seed=r)["angry"]["recall_ci"]
        covered["items"] += exact[0] <= true <= exact[1]
        covered["speakers"] += boot[0] <= true <= boot[1]
    assert covered["items"] / reps < 0.75, covered  # about 0.67 (300 runs)
    assert covered["speakers"] / reps > 0.85, covered  # about 0.89 (300 runs; 30 speakers: a bootstrap a little narrow)


def test_metrics_per_class_intervals_resample_speakers_and_say_so(tmp_path):
    from workbench.analysis.stats import resample_intervals

    t, p, gender, spk = _two_genders(np.random.default_rng(6))
    rows = [synthetic_row(f"i{i}", emotion=a, pred=b, speaker=s) for i, (a, b, s) in enumerate(zip(t, p, spk))]
    r = evaluate(write_run(tmp_path / "run", rows, [[1.0, 0.0]] * len(rows)).results(), n_boot=200, seed=1, by=())
    angry = r.per_class["angry"]
    assert angry["ci_unit"] == "60 speakers" and angry["recall_ci"] != angry["recall_ci_items"]
    width = lambda ci: ci[1] - ci[0]  # noqa: E731
    assert width(angry["recall_ci"]) > 1.3 * width(angry["recall_ci_items"])
    assert "  per-class intervals: 95 % bootstrap resampling the 60 speakers (precision, recall and F1, as the headline's)" in r.render()
    # the resamples of F1's: a class that is always right has recall 1 in every resample
    vocab = sorted(set(t) | set(p))
    f1 = resample_intervals([vocab.index(x) for x in t], [vocab.index(x) for x in p], [0, 1], n=200, seed=1, clusters=list(spk))[1]
    assert tuple(angry["f1_ci"]) == tuple(f1[0])
    none = evaluate(write_run(tmp_path / "none", [{**row, "speaker": ""} for row in rows], [[1.0, 0.0]] * len(rows)).results(), n_boot=50, by=())
    assert "recall_ci_items" not in none.per_class["angry"] and "exact binomial over items" in none.render()


def test_the_ece_over_each_class_set_has_the_headlines_interval_and_check():
    """The ECE over the corpus's classes was printed bare beside the headline's ("0.256 over the corpus's 2 classes"):
    no interval, no check.  Each class set's ECE now has the headline ECE's interval (same resamples) and its flag."""
    import pandas as pd

    from workbench.analysis.stats import ece_interval
    from workbench.labels import LABEL_KEYS

    t, p, _, spk = _two_genders(np.random.default_rng(7), speakers=10, clips=10)
    rows = [synthetic_row(f"i{i}", emotion=a, pred=b, speaker=s) for i, (a, b, s) in enumerate(zip(t, p, spk))]
    r = evaluate(pd.DataFrame(rows), n_boot=200, seed=2, by=())
    corpus = r.ece_by_class_set["corpus"]
    scores = pd.DataFrame(rows)[["score_angry", "score_sad"]].to_numpy()
    right = np.asarray(["angry", "sad"])[scores.argmax(1)] == t
    assert tuple(corpus["ece_ci"]) == ece_interval(scores.max(1) / scores.sum(1), right, n=200, seed=2, clusters=list(spk))
    assert f"{corpus['ece']:.3f} [{corpus['ece_ci'][0]:.3f}, {corpus['ece_ci'][1]:.3f}] over the corpus's 2 classes" in r.render()
    # every clip right with all its mass on its class: ECE 0 [0, 0] over each set, which shows no uncertainty
    sure = [synthetic_row(f"i{i}", emotion=a, pred=a, speaker=s, scores={k: float(k == a) for k in LABEL_KEYS}) for i, (a, s) in enumerate(zip(t, spk))]
    flat = evaluate(pd.DataFrame(sure), n_boot=100, by=())
    assert "zero-width interval" in flat.ece_by_class_set["corpus"]["note"]
    assert "0.000 [0.000, 0.000] over the corpus's 2 classes (as `workbench calibrate` measures it) (!! zero-width interval" in flat.render()


def test_the_breakdown_figure_says_what_its_intervals_resampled(tmp_path):
    import matplotlib.pyplot as plt
    import pandas as pd

    from workbench.analysis.metrics import breakdown_frame, plot_breakdown

    t, p, gender, spk = _two_genders(np.random.default_rng(8), speakers=10, clips=10)
    rows = [synthetic_row(f"i{i}", emotion=a, pred=b, speaker=s) for i, (a, b, s) in enumerate(zip(t, p, spk))]
    for row, g in zip(rows, gender):
        row["gender"] = g
    df = pd.DataFrame(rows)
    report = evaluate(df, n_boot=100, by=("gender",))
    for table in (None, breakdown_frame(report.breakdowns["gender"])):  # computed by the figure, or the report's
        fig = plot_breakdown(df, "gender", n_boot=100, overall=report, table=table)
        texts = " ".join(" ".join(t.get_text().split()) for t in fig.axes[0].texts)
        assert "Group intervals: 95 % bootstrap resampling each group's speakers (f 10 speakers, m 10 speakers)." in texts, texts
        plt.close(fig)
