"""Figures of compare, finetune's card … with the denominators and families that make them meaningful (audit checks14)."""

from __future__ import annotations

from workbench.data.cards import finetuned_card


def _training(**extra):
    return {"parent": {}, "created": "2026-12-07T00:00:00+00:00",
            "data": {"corpora": ["demo"], "n_items": 100},
            "labels": {"counts": {"train": {"a": 30, "b": 30}, "validation": {"a": 10, "b": 10}, "test": {"a": 12, "b": 8}}},
            "speakers": {"train": ["s1", "s2", "s3"], "validation": ["s3", "s4"], "test": ["s5"]}, **extra}


def test_a_heads_card_counts_the_items_it_trained_on_not_its_test_items():
    # the card read "head trained on 100 items of 5 train/validation speakers": 20 of the 100 were its held-out test items,
    # and s3, on both sides, counted twice
    words = finetuned_card("heads/x", _training()).stages[-1].description
    assert "trained on 60 items" in words and "early-stopped on 20" in words and "of 4 train/validation speakers" in words
    assert "20 held-out test items" in words and "100" not in words
    old = _training()
    del old["labels"]
    assert "100 items (train, validation and test together)" in finetuned_card("heads/x", old).stages[-1].description


def _variant_rows(variant, preds, emotions, status=None):
    from test_probe import synthetic_row
    return [synthetic_row(f"i{i}", emotion=e, pred=p, variant=variant, status=(status or {}).get(i, "ok"), speaker="")
            for i, (p, e) in enumerate(zip(preds, emotions))]


def _three_variants(status=None):
    emotions = ["angry", "sad"] * 6
    raw = ["sad", "angry"] * 3 + ["angry", "sad"] * 3  # 6 wrong, 6 right
    return (_variant_rows("raw", raw, emotions) + _variant_rows("loud", emotions, emotions, status)  # right on every item: b=0 c=6, p 0.031
            + _variant_rows("tel", raw, emotions))  # the baseline's labels: p = 1


def test_several_mcnemar_p_values_are_read_as_a_family(tmp_path, capsys, monkeypatch):
    # three variants against raw gave two McNemar p-values side by side (loud's 0.031 read as significant) with no word
    # that one of two tests falls under 0.05 by chance one time in ten; the per-class table named Bonferroni, this did not
    import json
    import numpy as np
    import pandas as pd
    from test_probe import write_run
    import workbench.views.reporting as R
    from workbench.analysis.compare import compare_results, compare_runs, mcnemar_family, plot_comparison
    from workbench.cli import main

    rows = _three_variants()
    _, comps, _ = compare_results(pd.DataFrame(rows), baseline="raw", n_boot=50)
    fam = mcnemar_family(comps)
    assert fam["tests"] == 2 and fam["bound"] == 0.025 and fam["below_005_only"] == ["loud"]
    assert "2 McNemar tests here (one per variant against raw)" in fam["note"] and "Bonferroni: read each p against 0.025" in fam["note"]
    assert mcnemar_family(comps[:1]) == {}  # one test: no family
    assert "1 of 2 tests" in plot_comparison(pd.DataFrame(rows), comps[0], family=2).axes[1].get_title()
    rf = write_run(tmp_path / "run", rows, [np.ones(4)] * len(rows))
    assert main(["compare", str(rf.path), "--bootstrap", "50", "--no-figures", "--out", str(tmp_path / "c")]) == 0
    assert "!! 2 McNemar tests here" in capsys.readouterr().out
    assert json.loads((tmp_path / "c" / "compare.json").read_text())["mcnemar_family"]["tests"] == 2
    assert main(["compare", str(rf.path), "--bootstrap", "50", "--no-figures", "--out", str(tmp_path / "c2"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mcnemar_family"]["below_005_only"] == ["loud"]
    shown = []
    monkeypatch.setattr(R, "show_html", shown.append)  # the report's section, its html as the page gets it
    monkeypatch.setattr(R, "show_figure", lambda *a, **k: None)
    assert R.comparison_section(rf.path)["mcnemar_family"]["tests"] == 2 and "<b>!! 2 McNemar tests here" in shown[0]
    # between runs: each later run against the first, per variant, is one family too
    other = write_run(tmp_path / "other", rows, [np.ones(4)] * len(rows), dtype="int8")
    cmp = compare_runs([rf, other], n_boot=50)
    assert cmp.to_dict()["mcnemar_family"]["tests"] == 3 and "3 McNemar tests here (one per run and variant" in cmp.render()
    assert "3 McNemar tests here" in cmp.html()


def test_items_failed_under_one_variant_are_said_beside_the_pairs_figures():
    # loud failed on 4 of 12 items: "loud vs raw (8 paired items)" beside raw's WA over 12 and loud's over 8, with no word
    # that 4 of raw's items are in neither ΔWA nor McNemar
    import pandas as pd
    from workbench.analysis.compare import compare_results, plot_comparison

    rows = _three_variants(status={0: "error", 1: "error", 2: "error", 3: "error"})
    reports, (loud, tel), _ = compare_results(pd.DataFrame(rows), baseline="raw", n_boot=50)
    assert (reports["raw"].n_scored, reports["loud"].n_scored, loud.n_paired) == (12, 8, 8)
    assert loud.left_out == {"loud": 4} and not tel.left_out
    flag = loud.interval_flags()["left_out"]
    assert "4 items finished under only one of the two (4 failed under loud)" in flag
    assert "!! paired items: 4 items" in loud.render() and loud.to_dict()["interval_flags"]["left_out"] == flag
    assert "4 item(s) failed under one variant" in plot_comparison(pd.DataFrame(rows), loud).axes[1].get_title()


def test_a_spread_flagged_over_three_speakers_gives_no_speaker_resampled_interval():
    # 3 speakers in one fold, one of them never covered: the flag said "resampling speakers, the coverage 0.667 has
    # [0.000, 1.000]" (a percentile bootstrap of 3 speakers), where every other speaker interval needs 5 (MIN_CLUSTERS)
    import numpy as np
    from workbench.analysis.conformal_groups import group_coverage

    groups = np.repeat(["a", "b", "c"], 30)
    hit = np.r_[np.ones(30), np.ones(30), np.zeros(30)].astype(bool)
    g = group_coverage(hit, groups, [np.arange(90)], n_perm=199)
    assert g["flag"] and g["cluster_ci"] is None and "only 3 speaker(s)" in g["cluster_note"]
    assert "no interval resampling speakers (only 3 speaker(s)" in g["words"] and "has [" not in g["words"]
    # 6 speakers: the interval, with the caveat that six are too few for it to be wide enough
    six = group_coverage(np.r_[np.ones(150), np.zeros(30)].astype(bool), np.repeat(list("abcdef"), 30), [np.arange(180)], n_perm=199)
    assert six["flag"] and six["cluster_ci"] is not None and "resampling speakers, the coverage 0.833 has [" in six["words"]
    assert "only 6 speakers: a bootstrap over so few is too narrow" in six["words"]


def test_a_class_failing_its_coverage_check_is_read_among_the_classes_checked():
    # nine classes, each checked at 95 %: one FAILED class is what chance alone gives about every other calibration
    # (1 - 0.95^9 = 0.37), and the warning named the class with no word of the nine checks behind it
    from workbench.analysis.calibration_measures import COVERAGE_FAIL, COVERAGE_PASS, COVERAGE_TOO_FEW, conformal_checks

    def cls(check, direction=""):
        return {"check": check, "coverage": 0.7, "coverage_ci": (0.6, 0.8), "n": 60, "direction": direction,
                "uninformative": False, "mean_size": 1.5}

    per = {f"c{i}": cls(COVERAGE_PASS) for i in range(7)} | {"c7": cls(COVERAGE_FAIL, "below"), "c8": cls(COVERAGE_TOO_FEW)}
    d = {"coverage_ci": (0.85, 0.92), "level": 0.95, "per_class": per, "check": COVERAGE_PASS, "target": 0.9, "coverage": 0.89,
         "n": 540, "uninformative": False, "mean_size": 1.5, "n_classes": 9}
    checks, warnings = conformal_checks({"lac": d})
    assert checks["set_coverage"]["lac"]["classes_checked"] == 8
    assert any("8 classes checked, each at 95 %: about 0.4 would fail by chance alone" in w for w in warnings), warnings


def test_spearman_rho_says_why_it_is_undefined_and_which_resamples_its_interval_left_out():
    # 40 items all listeners agree on and 1 split: a third of the resamples miss the split item (rho undefined there) and
    # were dropped, so "rho 0.127 [0.074, 0.273]" read as a measured association resting on one item; with one agreement
    # for every item "rho n/a [n/a, n/a]" gave no reason
    import pandas as pd
    from test_listeners_analysis import _row
    from workbench.analysis import listeners as A

    rows = [_row(i, ["angry", "sad"][i % 2], {["angry", "sad"][i % 2]: 0.5 + 0.01 * i}, {["angry", "sad"][i % 2]: 10}) for i in range(40)]
    one_split = rows + [_row(50, "angry", {"neutral": 0.6}, {"angry": 4, "sad": 3, "neutral": 3})]
    rep = A.evaluate_listeners(pd.DataFrame(one_split), n_boot=200)
    words = [c for c in rep.checks if "resamples" in c]
    assert len(words) == 1 and "of 200 resamples" in words[0] and "the rarest held by 1 item(s)" in words[0]
    assert f"!! {words[0]}" in rep.render() and words[0] in rep.to_dict()["checks"]
    same = A.evaluate_listeners(pd.DataFrame(rows[:10]), n_boot=200)
    assert "!! Spearman rho(confidence, agreement) n/a: all 10 items have the same agreement (1.000)" in same.render()
    # a rho defined in every resample says nothing of the kind
    mixed = rows[:20] + [_row(60 + i, "angry", {"neutral": 0.6}, {"angry": 4, "sad": 3, "neutral": 3}) for i in range(20)]
    assert not [c for c in A.evaluate_listeners(pd.DataFrame(mixed), n_boot=200).checks if "Spearman rho" in c and "resamples" in c]


def test_an_accuracy_at_coverage_says_how_many_items_it_averages(tmp_path):
    # "accuracy answering the most confident 50%: 0.800 [...]" gave no denominator: over 12 items that is 6 of them
    from test_calibration import planted_run
    from workbench.analysis.calibration import calibrate

    rep = calibrate(planted_run(n_speakers=12, per_speaker=20, seed=0), folds=2, n_boot=20)
    n = rep.accuracy_at["100%"]["of"]
    assert rep.accuracy_at["50%"]["items"] == -(-n // 2) and rep.accuracy_at["100%"]["items"] == n
    assert f"accuracy answering the most confident 50% ({-(-n // 2)} of {n} items)" in rep.render()
