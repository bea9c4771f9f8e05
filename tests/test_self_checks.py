"""Issue #26, parts 3-5: calibration, listeners, groups and comparisons against independent implementations, and each
self-check made to fire on a constructed failure (screen and JSON)."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from test_calibration import planted_run
from test_calibration_cli import _run_folder
from test_listeners_data import _emodb_erkennung
from test_probe import synthetic_row, write_run
from workbench.analysis import calibration as C
from workbench.analysis.compare import compare_runs
from workbench.analysis.groups import analyse_groups, describe_gap, small_group_reason
from workbench.analysis.listeners import evaluate_listeners
from workbench.analysis.metrics import evaluate
from workbench.cli import main
from workbench.cli.common import resolve_temperature
from workbench.data import listeners as L
from workbench.errors import ConfigError
from workbench.labels import LABEL_KEYS


# --------------------------------------------------------------------------- calibration: oracles
def _logits(n=600, k=5, t_true=2.5, seed=3):
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 3, size=(n, k))
    p = np.exp(z / t_true)
    p /= p.sum(1, keepdims=True)
    y = np.array([rng.choice(k, p=row) for row in p])
    return z, y


def test_the_temperature_fit_equals_scipy_minimize_on_the_nll():
    from scipy.optimize import minimize
    from scipy.special import log_softmax

    z, y = _logits()

    def nll(u):
        return -log_softmax(z / np.exp(u[0]), axis=1)[np.arange(len(y)), y].mean()

    ref = float(np.exp(minimize(nll, x0=[0.0], method="L-BFGS-B").x[0]))
    assert C.fit_temperature(z, y) == pytest.approx(ref, rel=1e-3)
    assert not C.temperature_at_edge(ref)


def test_brier_nll_and_accuracy_match_scikit_learn():
    from sklearn.metrics import accuracy_score, log_loss

    z, y = _logits(k=4)
    p = C.softmax(z)
    got = C.calibration_errors(p, y)
    onehot = np.eye(4)[y]
    assert got["nll"] == pytest.approx(log_loss(y, p, labels=range(4)), rel=1e-9)
    # sklearn's multi-class Brier is the mean squared distance summed over classes (scale_by_half=False)
    from sklearn.metrics import brier_score_loss
    assert got["brier"] == pytest.approx(brier_score_loss(y, p, labels=range(4), scale_by_half=False), rel=1e-9)
    assert got["brier"] == pytest.approx(((p - onehot) ** 2).sum(1).mean())
    cov, risk, _ = C.risk_coverage(p, y)
    assert C.accuracy_at_coverage(cov, risk, 1.0) == pytest.approx(accuracy_score(y, p.argmax(1)))


def _lac_reference(cal_p, cal_y, test_p, alpha):
    """Split conformal with the LAC score, a few lines: the ceil((n+1)(1-alpha))-th smallest of 1 - p_true."""
    scores = np.sort(1 - cal_p[np.arange(len(cal_y)), cal_y])
    n = len(scores)
    q = scores[min(int(math.ceil((n + 1) * (1 - alpha))) - 1, n - 1)]
    return test_p >= 1 - q


def test_lac_sets_match_a_few_lines_of_split_conformal_and_cover_held_out_items():
    z, y = _logits(n=2000, k=5, seed=7)
    p = C.softmax(z / 2.5)
    cal, test = np.arange(1000), np.arange(1000, 2000)
    got = C.conformal_sets(p[cal], y[cal], p[test], alpha=0.1, score="lac")
    ref = _lac_reference(p[cal], y[cal], p[test], 0.1)
    assert (got == ref).all(axis=1).mean() > 0.99
    assert abs(got[np.arange(1000), y[test]].mean() - 0.9) < 0.03


def test_temperature_and_conformal_threshold_are_fitted_on_disjoint_speakers():
    groups = np.repeat([f"s{i}" for i in range(6)], 10)
    train = np.arange(50)
    a, b, kind = C._halves(train, groups, 0)
    assert kind == "by speaker" and not set(a) & set(b) and set(a) | set(b) == set(train)
    assert not set(groups[a]) & set(groups[b])
    rep = C.calibrate(planted_run(n_speakers=6, per_speaker=60), n_boot=30, folds=3)
    assert "half of the training part" in rep.conformal_protocol and "by speaker" in rep.conformal_protocol


def test_calibrate_gives_intervals_on_t_aurc_and_accuracy_and_per_class_n():
    rep = C.calibrate(planted_run(n_speakers=6, per_speaker=80, t_true=2.0), n_boot=60, folds=3)
    lo, hi = rep.temperature_ci
    assert lo < rep.temperature < hi and hi - lo > 0.01 and rep.temperature_bootstrap["resamples"] == 60
    assert rep.aurc_ci_before[0] <= rep.aurc_before <= rep.aurc_ci_before[1]
    assert all(c["before"][0] <= rep.accuracy_at[s]["before"] <= c["before"][1] for s, c in rep.accuracy_at_ci.items())
    assert rep.search_interval == C.T_BOUNDS and rep.recommended and not rep.warnings
    text = rep.render()
    for c, v in rep.conformal["lac"]["per_class"].items():
        assert f"{c} {v['coverage']:.2f}/{v['mean_size']:.2f} (n={v['n']})" in text
    assert "better than a uniform guess over 4 classes (log 4 = 1.386)" in text and "lower than the uncalibrated" in text


def test_the_ece_of_metrics_and_calibrate_is_one_definition_over_two_named_class_sets():
    df = planted_run(n_speakers=4, per_speaker=80, t_true=2.0)
    cal = C.calibrate(df, n_boot=10, folds=2)
    met = evaluate(df, n_boot=10, by=())
    assert met.ece_by_class_set["corpus"]["ece"] == pytest.approx(cal.before["ece"])
    assert met.ece_by_class_set["model"]["ece"] == pytest.approx(met.ece)
    assert cal.ece_by_class_set["model"]["ece"] == pytest.approx(met.ece)
    assert met.ece != pytest.approx(cal.before["ece"])  # the class sets differ, and so do the values: both are shown
    for text in (met.render(), cal.render()):
        assert "over all 9 model classes" in text and "over the corpus's 4 classes" in text


# --------------------------------------------------------------------------- calibration: constructed failures
def _degenerate_run():
    """Scores whose true class is always the least likely one: the softmax's smallest entry grows with T all the way
    to a uniform guess, so the NLL falls monotonically and its optimum lies beyond any bound (T = infinity)."""
    df = planted_run(n_speakers=4, per_speaker=60, t_true=2.0)
    classes = ["angry", "happy", "neutral", "sad"]
    df["emotion"] = np.asarray(classes)[df[[f"score_{c}" for c in classes]].to_numpy().argmin(1)]
    return df


def test_a_zero_width_calibration_figure_is_marked_in_its_row_on_screen_and_in_the_report(tmp_path, monkeypatch):
    """The walk's `BRIER after 0.750 [0.750, 0.750]`: the self-check listed it in a note at the end, the row itself
    showed the interval as a certainty. And the accuracy rows now say whose top class they count."""
    from workbench.views import reporting

    rep = C.calibrate(_degenerate_run(), n_boot=20, folds=2)
    flat = [name for name in rep.checks["zero_width_intervals"] if name != "T"]
    assert flat  # every item wrong: the accuracies collapse onto 0
    text = rep.render()
    for name in flat:
        metric = name.rsplit(" ", 1)[0]  # "ECE before" -> "ECE"; "accuracy at 100% after" -> "accuracy at 100%"
        key = f"most confident {metric.split(' at ')[1]} (" if metric.startswith("accuracy") else f"  {metric} "  # "(k of n items)"
        row = next(line for line in text.splitlines() if key in line)
        assert "!! zero width" in row, (name, row)
    assert "top class among the corpus's classes" in text
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    _run_folder(tmp_path / "run", _degenerate_run())
    reporting.calibration_section(tmp_path / "run", n_boot=20)
    html = "".join(str(getattr(o, "data", "")) for o in shown if type(o).__name__ == "HTML")
    assert "<b>!! zero width</b>" in html and "top class among the corpus" in html
    n = rep.accuracy_at["100%"]["of"]
    assert f"most confident 100% ({n} of {n} items)" in html  # the row's denominator, as the screen's


def test_a_temperature_at_the_edge_is_flagged_and_never_recommended(tmp_path, capsys):
    rep = C.calibrate(_degenerate_run(), n_boot=20, folds=2)
    assert rep.temperature_edge == "upper" and not rep.recommended
    assert rep.checks["nll_worse_than_uniform"] and rep.after["nll"] >= math.log(4)
    run_dir = tmp_path / "run"
    _run_folder(run_dir, _degenerate_run())
    assert main(["calibrate", str(run_dir), "--bootstrap", "20", "--folds", "2", "--no-figures"]) == 0
    out = capsys.readouterr().out
    assert "degenerate scores, not miscalibration" in out.lower() and "AT THE UPPER BOUND" in out
    assert "WORSE than a uniform guess over 4 classes (log 4 = 1.386)" in out
    assert "apply T" not in out and "no temperature recommended" in out
    saved = json.loads((run_dir / "calibration.json").read_text())
    assert "temperature" not in saved and saved["recommended"] is False and saved["search_interval"] == list(C.T_BOUNDS)
    assert saved["temperature_fitted"] == pytest.approx(C.T_BOUNDS[1], rel=C.EDGE_TOLERANCE)
    assert any("Degenerate scores" in w for w in saved["not_recommended_because"])
    assert saved["variants"]["raw"]["checks"]["temperature_at_edge"] == "upper"
    # every resample's fit stops at the bound too: the interval [20, 20] is flagged, not shown as certainty
    assert "T" in saved["variants"]["raw"]["checks"]["zero_width_intervals"] and "zero-width intervals (T" in out
    with pytest.raises(ConfigError, match="did not recommend"):
        resolve_temperature(str(run_dir))


def test_the_edge_check_on_both_sides():
    hi = C.T_BOUNDS[1]
    assert C.temperature_at_edge(hi) == "upper" and C.temperature_at_edge(hi * 0.995) == "upper"
    assert C.temperature_at_edge(0.05) == "lower" and C.temperature_at_edge(0.0504) == "lower"
    assert C.temperature_at_edge(19.0) == "" and C.temperature_at_edge(1.0) == ""
    # perfectly separated items: the NLL falls as T shrinks until it is 0 in floating point, flat out to the lower bound;
    # the search stops somewhere on the flat part, which is no optimum either
    z = np.array([[5.0, 0.0], [0.0, 5.0]] * 20)
    y = np.array([0, 1] * 20)
    assert C.fit_edge(z, y, C.fit_temperature(z, y)) == "lower"
    zz, yy = _logits()
    assert C.fit_edge(zz, yy, C.fit_temperature(zz, yy)) == ""


# --------------------------------------------------------------------------- listeners
def test_a_21_rater_emodb_corpus_is_read_as_21_raters_with_whole_votes(tmp_path):
    p = _emodb_erkennung(tmp_path / "erkennung.txt", [
        ("03b03Wc", "95,24", "80,95"),   # 20 of 21 listeners
        ("03b03Ta", "85,71", "71,43"),   # 18 of 21
        ("03a01Fa", "85,00", "90,00"),   # 17 of 20
        ("03b03Lb", "61,90", "70,00"),   # boredom, 13 of 21
    ])
    rep = L.read_emodb_erkennung(p)
    angry = rep.records["03b03Wc"]
    assert angry["n_raters"] == 21 and angry["votes_angry"] == 20.0 and angry["agreement"] == pytest.approx(20 / 21)
    assert rep.records["03b03Ta"]["n_raters"] == 21 and rep.records["03b03Ta"]["votes_sad"] == 18.0
    assert rep.records["03a01Fa"]["n_raters"] == 20 and rep.records["03a01Fa"]["votes_happy"] == 17.0
    assert rep.records["03b03Lb"]["votes_unmapped"] == 13.0
    assert all(float(v).is_integer() for r in rep.records.values() for k, v in r.items() if k.startswith("votes_") and v == v)
    assert rep.raters_inferred == {21: 3} and "3 rows have rates k/21, not k/20" in rep.summary()


def test_infer_raters_keeps_the_documented_count_when_it_fits():
    assert L.infer_raters(95.24, 2, 20) == (21, 20)
    assert L.infer_raters(45.0, 0, 20) == (20, 9)
    assert L.infer_raters(100.0, 1, 20) == (20, 20)


def _emodb_style_rows(n_wrong: int):
    rows = []
    for i in range(n_wrong + 30):
        emo = ["angry", "sad"][i % 2]
        wrong = i < n_wrong
        pred = ("sad" if emo == "angry" else "angry") if wrong else emo
        meta = {**{c: float("nan") for c in L.VOTE_COLUMNS}, f"votes_{emo}": 18.0, "n_raters": 20.0, "agreement": 0.9,
                "listener_majority": emo, "emodb_recognition_pct": 90.0}
        top = 0.9 - 0.001 * i  # scores that sum to 1, as a run folder requires on read
        scores = {k: (top if k == pred else (1 - top) / (len(LABEL_KEYS) - 1)) for k in LABEL_KEYS}
        rows.append(synthetic_row(f"e{i:03d}", emotion=emo, pred=pred, scores=scores, speaker=f"s{i % 3}",
                                  meta=json.loads(json.dumps(meta).replace("NaN", "null"))))
    for i in range(3):  # boredom: a corpus label the model's classes lack
        meta = {"votes_unmapped": 17.0, "n_raters": 20.0, "agreement": 0.85, "listener_majority": "", "emodb_recognition_pct": 85.0}
        rows.append(synthetic_row(f"b{i}", emotion="", label="boredom", pred="neutral", meta=meta))
    return rows


def test_listeners_print_true_totals_and_say_why_figures_are_missing(tmp_path, capsys):
    rf = write_run(tmp_path / "emodb", _emodb_style_rows(60), [np.ones(4)] * 93)
    rep = evaluate_listeners(rf.results(), n_boot=20, top=50)
    assert len(rep.listeners_agree_model_wrong) == 50 and rep.n_agree_model_wrong == 60
    low, mid, high = rep.bands
    assert low["n"] == mid["n"] == 0 and "empty by design" in low["empty_reason"] and "80 %" in mid["empty_reason"]
    assert rep.confusion_votes is None and "no vote distribution" in rep.soft_labels_reason
    assert any("corpus label is not one of the model's classes (boredom 3)" in n for n in rep.notes)
    assert not any("without a corpus label" in n for n in rep.notes)
    assert main(["listeners", str(tmp_path / "emodb"), "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    assert "model wrong: 60 items (showing 5 of 60)" in out and "empty by design" in out
    assert "Jensen-Shannon divergence n/a" in out and "vote-weighted confusion n/a" in out
    saved = json.loads((tmp_path / "emodb" / "listeners.json").read_text())["variants"]["raw"]
    assert saved["n_agree_model_wrong"] == 60 and len(saved["listeners_agree_model_wrong"]) == 50
    assert saved["confusion_votes"] is None and saved["soft_labels_reason"] and saved["bands"][0]["empty_reason"]


def test_listener_bands_use_the_one_too_small_rule(tmp_path):
    rows = []
    for i in range(12):  # 12 items in the low band: fewer than 20
        meta = {"votes_angry": 4.0, "votes_sad": 6.0, "n_raters": 10.0, "agreement": 0.4 if i < 12 else 0.9,
                "listener_majority": "sad"}
        rows.append(synthetic_row(f"x{i}", emotion=["angry", "sad"][i % 2], pred="sad", meta=meta))
    rep = evaluate_listeners(pd.DataFrame(rows), n_boot=10)
    low = rep.bands[0]
    assert low["too_small"] and low["too_small_reason"] == small_group_reason({"angry": 6, "sad": 6})
    assert "accuracy — UAR —  [too small: 12 items (< 20)]" in rep.render()


def test_the_report_section_shows_the_listener_flags(tmp_path, monkeypatch):
    from workbench.views import reporting

    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    write_run(tmp_path / "emodb", _emodb_style_rows(20), [np.ones(4)] * 53)
    reporting.listeners_section(tmp_path / "emodb", n_boot=10, top=15)
    html = "".join(str(getattr(o, "data", "")) for o in shown)
    assert "(20; showing 15 of 20)" in html and "empty by design" in html and "Vote-weighted confusion n/a" in html
    assert "Soft-label figures n/a" in html


# --------------------------------------------------------------------------- groups
def _group_rows(spec):
    """spec: group → list of (true, pred)."""
    t, p, g = [], [], []
    for name, pairs in spec.items():
        for a, b in pairs:
            t.append(a), p.append(b), g.append(name)
    return t, p, g


def test_group_uar_equals_scikit_learn_balanced_accuracy():
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(0)
    classes = ["angry", "happy", "sad"]
    t = rng.choice(classes, 300)
    p = np.where(rng.random(300) < 0.6, t, rng.choice(classes, 300))
    g = rng.choice(["a", "b", "c"], 300)
    table = analyse_groups(t, p, g, classes, n_boot=20).table.set_index("group")
    for name in "abc":
        assert table.loc[name, "uar"] == pytest.approx(balanced_accuracy_score(t[g == name], p[g == name]))


def test_a_tie_is_printed_as_a_tie_and_a_group_without_a_class_is_named():
    classes = ["angry", "sad"]
    good = [(c, c) for c in classes for _ in range(12)]
    half = [(c, c if i % 2 else "angry" if c == "sad" else "sad") for c in classes for i in range(12)]
    no_sad = [("angry", "angry")] * 25
    t, p, g = _group_rows({"13": good, "14": good, "09": half, "nosad": no_sad})
    ga = analyse_groups(t, p, g, classes, n_boot=50)
    gap = ga.disparities["uar"]
    assert gap["tie"] and gap["highest_groups"] == ["13", "14"] and gap["lowest_groups"] == ["09"]
    line = describe_gap(gap)
    assert "13, 14 tie highest − 09" in line and "13 − 13" not in line
    assert "nosad" in ga.disparities["excluded_why"] and "no sad items" in ga.disparities["excluded_why"]["nosad"]
    t, p, g = _group_rows({"13": good, "14": good})
    flat = analyse_groups(t, p, g, classes, n_boot=20).disparities["uar"]
    assert describe_gap(flat).startswith("UAR gap 0.000: all 2 eligible groups tie")
    # the zero-width note's denominator is the 48 items of the two groups, not the count of groups
    assert "from 48 item(s) in 2 groups" in flat["note"] and "from 2 item(s)" not in describe_gap(flat)
    assert "from 24 item(s) in 2 groups" in analyse_groups(t, p, g, classes, n_boot=20).disparities["recall"]["sad"]["note"]


def test_metrics_names_the_group_left_out_and_flags_a_zero_width_interval(tmp_path, capsys):
    rows = []
    for s in ("13", "14"):
        rows += [synthetic_row(f"{s}-{c}-{i}", emotion=c, pred=c if i % 3 else "sad" if c == "angry" else "angry", speaker=s)
                 for c in ("angry", "sad") for i in range(12)]
    rows += [synthetic_row(f"09-{i}", emotion="angry", pred="angry", speaker="09") for i in range(24)]  # no sad items
    rows += [synthetic_row(f"one-{c}", emotion=c, pred=c, speaker="one") for c in ("angry", "sad")]  # one item per class
    write_run(tmp_path / "run", rows, [np.ones(4)] * len(rows))
    assert main(["metrics", str(tmp_path / "run"), "--by", "speaker", "--no-figures"]) == 0
    out = capsys.readouterr().out
    assert "UAR gap 0.000: all 2 eligible groups tie" in out and "13 − 13" not in out
    assert "left out of the gap: 09 (no sad items" in out and "one (too small: 2 items (< 20))" in out
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())["raw"]
    assert "09" in saved["disparities"]["speaker"]["excluded_why"]
    one = analyse_groups(["angry", "sad"], ["angry", "sad"], ["one", "one"], ["angry", "sad"], n_boot=20).table.iloc[0]
    # the table keeps the fact; the note (screen, JSON, figure, page) leaves it out of a too-small group, whose figures
    # are shown as — (as it leaves out their baselines)
    assert one["uar_lo"] == one["uar_hi"] and "uar" in one["zero_width_interval"] and "zero-width" not in one["note"]


# --------------------------------------------------------------------------- compare
def test_no_embedding_cosine_between_two_checkpoints(tmp_path, capsys):
    rows = [synthetic_row(f"i{k}", emotion="sad", pred="sad") for k in range(4)]
    emb = [np.array([1.0, k, 0, 0]) for k in range(4)]
    a = write_run(tmp_path / "A", rows, emb, checksum="a" * 64, model="large")
    b = write_run(tmp_path / "B", rows, emb, checksum="b" * 64, model="base")
    c = write_run(tmp_path / "C", rows, emb, checksum="a" * 64, model="large", dtype="bfloat16")
    cmp = compare_runs([a, b, c], n_boot=10)
    ag = cmp.agreement.set_index(["run_a", "run_b"])
    assert pd.isna(ag.loc[("A", "B"), "cosine_min"]) and "different checkpoints" in ag.loc[("A", "B"), "cosine_note"]
    assert ag.loc[("A", "C"), "cosine_min"] == pytest.approx(1.0) and ag.loc[("A", "C"), "cosine_note"] == ""
    assert main(["compare", str(a.path), str(b.path), "--out", str(tmp_path / "cmp"), "--no-figures", "--bootstrap", "10"]) == 0
    out = capsys.readouterr().out
    assert "embedding cosine min/mean n/a (runs A and B used different checkpoints" in out
    saved = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert saved["agreement"][0]["cosine_min"] is None and "different checkpoints" in saved["agreement"][0]["cosine_note"]


def test_the_report_section_shows_the_calibration_flags(tmp_path, monkeypatch):
    from workbench.views import reporting

    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    _run_folder(tmp_path / "run", _degenerate_run())
    out = reporting.calibration_section(tmp_path / "run", n_boot=20)
    html = "".join(str(getattr(o, "data", "")) for o in shown if type(o).__name__ == "HTML")
    assert out["recommended"] is False and out["checks"]["temperature_at_edge"] == "upper"
    assert "Degenerate scores, not miscalibration" in html and "<b>not recommended</b>" in html
    assert "searched in [0.05, 100], at its upper bound" in html and "WORSE than a uniform guess" in html


def test_scores_independent_of_the_labels_are_not_better_than_a_uniform_guess():
    """The walk's case: labels permuted against the scores give a calibrated NLL a hair under log K whose interval
    reaches it; that is no evidence of calibration, so nothing is recommended."""
    df = planted_run(n_speakers=4, per_speaker=60, t_true=2.0)
    df["emotion"] = np.random.default_rng(3).permutation(df["emotion"].to_numpy())
    rep = C.calibrate(df, n_boot=50, folds=2)
    lo, hi = rep.ci_after["nll"]
    assert hi >= math.log(4) or rep.after["nll"] >= math.log(4)
    assert rep.checks["nll_not_better_than_uniform"] and not rep.recommended
    assert any("uniform guess" in w for w in rep.warnings)
    # and a run whose scores do carry the labels still passes
    good = C.calibrate(planted_run(n_speakers=4, per_speaker=60, t_true=2.0), n_boot=50, folds=2)
    assert not good.checks["nll_not_better_than_uniform"] and good.recommended


def test_metrics_say_n_chance_and_when_an_interval_measures_nothing():
    """The walk's `WA 0.000 [0.000, 0.000]`: every item wrong gives a zero-width interval, which is no certainty."""
    classes = ["angry", "happy", "sad", "neutral", "fearful"]
    rows = [synthetic_row(f"x{i}", emotion=classes[i % 5], pred=classes[(i + 1) % 5]) for i in range(8)]
    text = evaluate(pd.DataFrame(rows), n_boot=50).render()
    assert "WA       0.000  [0.000, 0.000]  n=8" in text and "zero-width interval" in text
    assert "chance 0.200 over 5 classes" in text and "BELOW CHANCE" in text
    assert "fewer than 5 items" in text
    # a run that does carry the labels is not flagged
    good = [synthetic_row(f"y{i}", emotion=classes[i % 5], pred=classes[i % 5] if i % 7 else classes[(i + 1) % 5]) for i in range(100)]
    text = evaluate(pd.DataFrame(good), n_boot=50).render()
    assert "BELOW CHANCE" not in text and "zero-width" not in text.split("ECE")[0]
