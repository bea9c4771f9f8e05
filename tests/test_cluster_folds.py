"""The intervals and the test that still took a speaker's clips as independent: the probe's and the fine-tune's
fold intervals, compare's McNemar test, and listeners' divergences and rho.

With a strong speaker effect (each speaker's accuracy, lean or level drawn around the population's) the clip-level
versions covered the population value far less than 95 % of the time (McNemar rejected a true null far more than 5 %);
resampling speakers (and the clustered McNemar) brings them back near nominal.  Data without speakers keeps the old
numbers, and every output says what its intervals resampled.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from test_cluster_intervals import CLIPS, SPEAKERS, _clustered_labels, _sigmoid
from test_probe import synthetic_row, write_run

from workbench.analysis.probe_intervals import fold_bootstrap, interval, speaker_fold_bootstrap
from workbench.analysis.stats import clustered_mcnemar, mcnemar_exact



def _clustered(rng, speakers=SPEAKERS, clips=CLIPS):
    """test_cluster_intervals' clustered labels (two balanced classes, each speaker right with its own probability), named."""
    truth, pred, spk = _clustered_labels(rng, speakers, clips)
    names = np.array(["angry", "sad"])
    return names[truth], names[pred], np.array([f"spk{s}" for s in spk], dtype=object)


POPULATION_WA = float(np.mean(_sigmoid(0.5 + 1.5 * np.random.default_rng(99).standard_normal(2_000_000))))


def test_probe_mean_over_speaker_folds_interval_resampling_speakers_covers_the_population_wa():
    """5 speaker folds of 6 speakers: the mean over folds' interval over clips (every clip its own cluster, the item
    bootstrap's spread) covered the population WA about half the time, the one over speakers near 95 %."""
    rng, reps = np.random.default_rng(21), 80
    covered = {"items": 0, "speakers": 0}
    for r in range(reps):
        t, p, spk = _clustered(rng)
        folds = [np.flatnonzero(np.isin(spk, [f"spk{i}" for i in range(f, SPEAKERS, 5)])) for f in range(5)]
        for unit, ids in (("items", np.arange(len(t)).astype(str)), ("speakers", spk)):
            draws = speaker_fold_bootstrap([t[i] for i in folds], [p[i] for i in folds], [["angry", "sad"]] * 5,
                                           [ids[i] for i in folds], n=200, seed=r)
            lo, hi = interval(np.nanmean(draws[:, :, 0], axis=1))
            covered[unit] += lo <= POPULATION_WA <= hi
    assert covered["items"] / reps < 0.7, covered
    assert covered["speakers"] / reps > 0.85, covered


def test_speaker_fold_bootstrap_with_every_clip_its_own_speaker_is_an_item_bootstrap_of_the_figures():
    t, p, _ = _clustered(np.random.default_rng(2), speakers=8, clips=10)
    draws = speaker_fold_bootstrap([t], [p], [["angry", "sad"]], [[""] * len(t)], n=300, seed=0)
    assert np.nanstd(draws[:, 0, 0]) == pytest.approx(np.sqrt(np.mean(t == p) * (1 - np.mean(t == p)) / len(t)), rel=0.2)
    full = speaker_fold_bootstrap([t], [p], [["angry", "sad"]], [["s"] * len(t)], n=5, seed=0)  # one speaker: the set itself
    assert np.allclose(full[:, 0, 0], np.mean(t == p))


def _probe_rows(speaker, split=lambda s: ""):
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((2, 8)) * 0.35
    rows, emb = [], []
    for s in range(20):
        for c, cls in enumerate(("angry", "sad")):
            for k in range(6):
                rows.append(synthetic_row(f"s{s}_{cls}_{k}", emotion=cls, speaker=speaker(s), split=split(s)))
                emb.append(centres[c] + rng.standard_normal(8) + rng.standard_normal() * 2)
    return rows, emb


def test_probe_resamples_the_test_speakers_and_says_so_on_screen_in_json_and_page(tmp_path):
    from workbench.analysis.probe import probe_run

    rf = write_run(tmp_path / "run", *_probe_rows(lambda s: f"spk{s}"))
    res = probe_run(rf, scheme="speaker", folds=4, n_boot=100, seed=1, out=tmp_path / "out")
    assert res.mean["ci_unit"]["unit"] == "speaker" and res.mean["ci_unit"]["clusters"] == 20
    assert all(f["ci_unit"]["clusters"] == 5 for f in res.folds)  # each fold's own test speakers
    words = "intervals: 95 % bootstrap resampling the 20 speakers"
    assert words in res.render() and words in res.html()
    assert "fold 1: intervals resampling the 5 speakers" in res.render() and "too narrow" in res.render()
    written = json.loads((tmp_path / "out" / "probe.json").read_text())
    assert written["ci_unit"].startswith(words) and written["mean_over_folds"]["ci_unit"]["unit"] == "speaker"
    assert list(pd.read_csv(tmp_path / "out" / "probe_folds.csv")["ci_unit"]) == ["5 speakers"] * 4 + ["20 speakers"]
    # the interval is the speaker one: the cluster draws of the same folds, not the item draws
    pred = res.predictions
    folds = [pred[pred["fold"] == f["fold"]] for f in res.folds]
    args = ([f["target"].to_numpy(str) for f in folds], [f["pred"].to_numpy(str) for f in folds], [["angry", "sad"]] * 4)
    speakers = [f["speaker"].to_numpy() for f in folds]
    draws = speaker_fold_bootstrap(*args, speakers, n=100, seed=1)[:, :, 1]
    # the draws that reach every fold, t-corrected over the 20 speakers (stats.speaker_interval_bounds)
    expected = interval(draws[np.isfinite(draws).all(axis=1)].mean(axis=1), clusters=20)
    items = interval(np.nanmean(fold_bootstrap(*args, n=100, seed=1)[:, :, 1], axis=1))
    assert res.mean["uar_ci"] == pytest.approx(expected) and res.mean["uar_ci"] != pytest.approx(items)


def test_probe_without_speakers_keeps_the_item_intervals_number_for_number(tmp_path):
    from workbench.analysis.probe import probe_run

    rf = write_run(tmp_path / "run", *_probe_rows(lambda s: "", split=lambda s: "test" if s % 4 == 0 else "train"))
    res = probe_run(rf, scheme="split", n_boot=150, seed=2)
    pred = res.predictions
    draws = fold_bootstrap([pred["target"].to_numpy(str)], [pred["pred"].to_numpy(str)], [["angry", "sad"]], n=150, seed=2)
    for m, name in enumerate(("wa", "uar", "macro_f1")):
        assert res.folds[0][f"{name}_ci"] == interval(draws[:, 0, m]) and res.mean[f"{name}_ci"] == interval(draws[:, :, m].mean(axis=1))
    assert res.mean["ci_unit"]["unit"] == "item" and "resampling items (no speaker known" in res.render()


def test_finetune_scores_resample_speakers_say_so_and_without_speakers_are_unchanged():
    from workbench.analysis.finetune.core import _figures
    from workbench.analysis.finetune.evaluate import scores

    t, p, spk = _clustered(np.random.default_rng(6))
    clustered = scores(t, p, ["angry", "sad"], n_boot=150, seed=0, speakers=spk)
    plain = scores(t, p, ["angry", "sad"], n_boot=150, seed=0)
    draws = fold_bootstrap([t], [p], [["angry", "sad"]], n=150, seed=0)
    assert plain["wa_ci"] == interval(draws[:, 0, 0]) and plain["ci_unit"]["unit"] == "item"  # the old numbers
    assert clustered["ci_unit"]["clusters"] == SPEAKERS
    width = lambda ci: ci[1] - ci[0]  # noqa: E731
    assert width(clustered["wa_ci"]) > 1.5 * width(plain["wa_ci"])
    assert f"intervals resample {SPEAKERS} speakers" in _figures(clustered) and "intervals resample items" in _figures(plain)
    few = scores(t, p, ["angry", "sad"], n_boot=50, seed=0, speakers=[f"s{i % 3}" for i in range(len(t))])
    assert any("only 3 speaker(s)" in f for f in few["flags"])


def test_finetune_pooled_interval_resampling_speakers_covers_the_population_wa():
    from workbench.analysis.finetune.evaluate import scores

    rng, reps = np.random.default_rng(22), 60
    covered = 0
    for r in range(reps):
        t, p, spk = _clustered(rng)
        lo, hi = scores(t, p, ["angry", "sad"], n_boot=200, seed=r, speakers=spk)["wa_ci"]
        covered += lo <= POPULATION_WA <= hi
    assert covered / reps > 0.85, covered


def _null_discordance(rng):
    spk = np.repeat(np.arange(SPEAKERS), CLIPS)
    disc = rng.random(len(spk)) < 0.3
    a_only = rng.random(len(spk)) < _sigmoid(1.5 * rng.standard_normal(SPEAKERS))[spk]  # each speaker's own lean, 0 on average
    return disc & a_only, disc & ~a_only, spk.astype(str)


def test_clustered_mcnemar_holds_its_size_where_the_exact_one_over_clips_rejects_a_true_null():
    """No difference between the runs in the population, each speaker leaning one way: the exact test over clips
    rejected at 0.05 in about 22 % of runs, the clustered one in about 5 %."""
    rng, reps = np.random.default_rng(23), 400
    exact = clustered = 0
    for _ in range(reps):
        a_only, b_only, spk = _null_discordance(rng)
        exact += mcnemar_exact(int(a_only.sum()), int(b_only.sum())) < 0.05
        clustered += clustered_mcnemar(a_only, b_only, spk)["p"] < 0.05  # right under one run only
    assert exact / reps > 0.15 and clustered / reps < 0.08, (exact, clustered)


def test_clustered_mcnemar_with_every_item_its_own_cluster_is_the_asymptotic_mcnemar():
    from scipy.stats import chi2

    right_a = np.array([1, 1, 0, 0, 1, 0, 1, 1, 0, 1] * 3, dtype=bool)
    right_b = np.array([1, 0, 1, 0, 0, 0, 1, 0, 0, 0] * 3, dtype=bool)
    got = clustered_mcnemar(right_a, right_b, [""] * 30)
    assert (got["b"], got["c"]) == (12, 3) and got["statistic"] == pytest.approx(81 / 15) and got["p"] == pytest.approx(chi2.sf(81 / 15, 1))
    assert clustered_mcnemar(right_a, right_a, ["s"] * 30)["p"] == 1.0  # no discordant item


def test_compare_names_the_clustered_mcnemar_beside_the_exact_one_and_without_speakers_keeps_the_exact(tmp_path, monkeypatch):
    from workbench.analysis.compare import compare_results

    t, p, spk = _clustered(np.random.default_rng(9))
    raw = [synthetic_row(f"i{i}", emotion=a, pred=b, speaker=s) for i, (a, b, s) in enumerate(zip(t, p, spk))]
    other = [dict(r, variant="denoised", pred="sad" if k % 3 == 0 else r["pred"]) for k, r in enumerate(raw)]
    _, (c,), _ = compare_results(pd.DataFrame(raw + other), baseline="raw", n_boot=50)
    right_a = np.array([r["pred"] == r["emotion"] for r in raw])
    right_b = np.array([r["pred"] == r["emotion"] for r in other])
    assert c.mcnemar_clustered == clustered_mcnemar(right_a, right_b, spk) and c.p_value == c.mcnemar_clustered["p"]
    assert c.mcnemar_p == mcnemar_exact(c.mcnemar_b, c.mcnemar_c)  # the plain one, beside it
    text = c.render()
    assert f"clustered McNemar (Durkalski et al. 2003), over the {SPEAKERS} speakers" in text and "exact test over clips" in text
    assert c.to_dict()["mcnemar_clustered"]["clusters"] == SPEAKERS and "clustered McNemar over 30 speakers" in c.p_cell()
    _, (plain,), _ = compare_results(pd.DataFrame([dict(r, speaker="") for r in raw + other]), baseline="raw", n_boot=50)
    assert plain.mcnemar_clustered is None and plain.p_value == plain.mcnemar_p == c.mcnemar_p
    assert f"McNemar b={plain.mcnemar_b} c={plain.mcnemar_c} p" in plain.render() and "clustered" not in plain.render()


def _voted_table(rng, speaker):
    """Clips whose listeners' votes and model scores vary by speaker: JSD and agreement cluster by voice."""
    from test_listeners_analysis import _row

    rows = []
    for s in range(SPEAKERS):
        lean, sure = rng.random(), rng.random()
        for k in range(CLIPS):
            votes = int(np.clip(round(10 * lean + rng.normal(0, 1)), 1, 9))
            score = float(np.clip(0.5 + 0.45 * sure + rng.normal(0, 0.05), 0.51, 0.99))
            rows.append(dict(_row(s * CLIPS + k, "angry", {"angry": score, "sad": 1 - score}, {"angry": votes, "sad": 10 - votes}),
                             speaker=speaker(s)))
    return pd.DataFrame(rows)


def test_listeners_divergences_and_rho_resample_speakers_say_so_and_without_speakers_are_unchanged(monkeypatch):
    from workbench.analysis import listeners as A

    table = _voted_table(np.random.default_rng(10), lambda s: f"spk{s}")
    rep = A.evaluate_listeners(table, n_boot=150, seed=3)
    plain = A.evaluate_listeners(table.assign(speaker=""), n_boot=150, seed=3)
    assert rep.interval_units["divergences"]["clusters"] == SPEAKERS and rep.interval_units["spearman"]["unit"] == "speaker"
    lines = rep.render().splitlines()
    assert any(line.strip().startswith("Jensen-Shannon") and f"(intervals resampling the {SPEAKERS} speakers, t-corrected percentile)" in line for line in lines)
    assert any(line.strip().startswith("Spearman") and f"(intervals resampling the {SPEAKERS} speakers, t-corrected percentile)" in line for line in lines)
    assert "intervals resampling" not in plain.render()
    assert rep.jsd_mean == plain.jsd_mean and rep.jsd_ci != plain.jsd_ci
    width = lambda ci: ci[1] - ci[0]  # noqa: E731
    assert width(rep.jsd_ci) > 1.5 * width(plain.jsd_ci) and width(rep.spearman_ci) > 1.3 * width(plain.spearman_ci)
    # without speakers: the item bootstrap, number for number
    from workbench.analysis.stats import bootstrap_ci

    scored = A._scored(table.assign(speaker=""), "raw", False)
    jsd = A._divergences(scored, False, A.corpus_listener_facts(scored.rows))[0]
    jsd = jsd[~np.isnan(jsd)]
    assert plain.jsd_ci == tuple(bootstrap_ci(lambda a, _b: float(np.mean(a)), jsd, jsd, n=150, seed=3))
    assert plain.spearman_ci == tuple(bootstrap_ci(A._spearman, scored.conf, scored.agreement, n=150, seed=3))
    assert plain.interval_units["divergences"]["unit"] == "item"
    few = A.evaluate_listeners(table.assign(speaker=[f"s{i % 3}" for i in range(len(table))]), n_boot=50)
    assert "only 3 speaker(s)" in few.render()


def test_listeners_mean_interval_resampling_speakers_covers_the_population_mean():
    from workbench.analysis.divergence_checks import bootstrap_interval, mean_ci

    rng, reps = np.random.default_rng(24), 80
    covered = {"items": 0, "speakers": 0}
    for r in range(reps):
        spk = np.repeat(np.arange(SPEAKERS), CLIPS)
        x = 0.3 + 0.12 * rng.standard_normal(SPEAKERS)[spk] + 0.05 * rng.standard_normal(len(spk))
        for unit, speakers in (("items", None), ("speakers", spk.astype(str))):
            _, (lo, hi) = mean_ci(x, bootstrap_interval(200, r), speakers)
            covered[unit] += lo <= 0.3 <= hi
    assert covered["items"] / reps < 0.6 and covered["speakers"] / reps > 0.85, covered


def test_listeners_report_says_what_the_divergence_and_rho_intervals_resampled(tmp_path, monkeypatch):
    from workbench.views import reporting

    table = _voted_table(np.random.default_rng(11), lambda s: f"spk{s}")
    rows = [synthetic_row(r["id"], emotion=r["emotion"], pred=r["pred"], speaker=r["speaker"], meta=json.loads(r["meta"]),
                          scores={k[6:]: r[k] for k in table.columns if k.startswith("score_")}) for r in table.to_dict(orient="records")]
    rf = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * len(rows))
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(str(getattr(obj, "data", obj))))
    reporting.listeners_section(rf.path, n_boot=50)
    page = "".join(shown)
    # one sentence for both figures, which resampled the same speakers (walk18: two paragraphs said it in the same words,
    # each wrapped in "(intervals …)" after "Intervals of the …:")
    assert f"Intervals of the divergences and ρ: resampling the {SPEAKERS} speakers, t-corrected percentile" in page
    assert page.count("Intervals of the") == 1 and "(intervals resampling" not in page.split("Intervals of the")[1][:20]


def test_a_class_mcnemar_between_runs_is_clustered_over_its_speakers_and_exact_without():
    from workbench.analysis.compare.classes import class_test, per_class_note

    a_only, b_only, spk = _null_discordance(np.random.default_rng(12))
    items = pd.DataFrame({"run_a": "A", "run_b": "B", "variant": "raw", "emotion": "angry", "speaker": spk,
                          "pred_a": np.where(a_only, "angry", "sad"), "pred_b": np.where(b_only, "angry", "sad")})
    b, c, p, test = class_test(items, "A", "B", "raw", "angry")
    assert (b, c) == (int(a_only.sum()), int(b_only.sum())) and test == f"clustered over {SPEAKERS} speakers"
    assert p == clustered_mcnemar(a_only, b_only, spk)["p"]
    assert class_test(items.drop(columns="speaker"), "A", "B", "raw", "angry") == (b, c, mcnemar_exact(b, c), "exact")
    table = pd.DataFrame([{"class": "angry", "p B−A": p, "McNemar test B−A": test}])
    assert per_class_note(table).startswith("p: McNemar (clustered over speakers, Durkalski et al. 2003")
    assert per_class_note(table.drop(columns="McNemar test B−A")).startswith("p: exact McNemar")


def test_one_speaker_holding_every_changed_clip_flags_the_clustered_mcnemar_wherever_it_is_shown():
    """Every discordant clip one speaker's: the statistic is (b − c)² / (b − c)² = 1, p = 0.32, whatever b and c
    (50 against 0 read as no evidence, unflagged); with fewer than 5 speakers holding the changes the p is flagged in
    the result, in compare's checks (screen, JSON) and in the per-class test words."""
    from workbench.analysis.compare import compare_results
    from workbench.analysis.compare.classes import class_test

    spk = np.array([f"s{i % 10}" for i in range(200)], dtype=object)
    right_a = np.ones(200, dtype=bool)
    right_b = right_a.copy()
    right_b[spk == "s3"] = False  # speaker s3's 20 clips all broke
    got = clustered_mcnemar(right_a, right_b, spk)
    assert (got["b"], got["c"], got["statistic"], got["discordant_clusters"]) == (20, 0, 1.0, 1)
    assert "only 1 speaker holds the 20 clips that changed" in got["note"]
    assert "speaker" not in clustered_mcnemar(right_a, right_b, np.arange(200).astype(str))["note"]  # 20 clusters hold them
    raw = [synthetic_row(f"i{i}", emotion="angry", pred="angry", speaker=s) for i, s in enumerate(spk)]
    other = [dict(r, variant="denoised", pred="sad" if r["speaker"] == "s3" else "angry") for r in raw]
    _, (c,), _ = compare_results(pd.DataFrame(raw + other), baseline="raw", n_boot=20)
    assert "only 1 speaker holds" in c.interval_flags().get("mcnemar", "") and "only 1 speaker holds" in c.render()
    assert "only 1 speaker holds" in c.to_dict()["interval_flags"]["mcnemar"]
    items = pd.DataFrame({"run_a": "a", "run_b": "b", "variant": "raw", "emotion": "angry", "speaker": spk,
                          "pred_a": "angry", "pred_b": np.where(spk == "s3", "sad", "angry")})
    assert "flagged: only 1 speaker holds" in class_test(items, "a", "b", "raw", "angry")[3]


def test_clustered_mcnemar_on_all_one_clip_speakers_and_on_100000_speakers():
    rng = np.random.default_rng(5)
    right_a, right_b = rng.random(100_000) < 0.7, rng.random(100_000) < 0.7
    one_each = clustered_mcnemar(right_a, right_b, np.arange(100_000))
    b, c = one_each["b"], one_each["c"]
    assert one_each["clusters"] == 100_000 and one_each["statistic"] == pytest.approx((b - c) ** 2 / (b + c)) and not one_each["note"]
