"""Hostile and careless inputs, round thirteen: the surfaces added last rounds at sizes and shapes nobody tried."""

from __future__ import annotations

from math import comb

import numpy as np
from scipy.special import gammaln, logsumexp

from workbench.runs.dominant import _runs_p, dominant_check, dominant_test


def _exact_runs_p(order):
    """The run test's p by counting compositions with Python integers (the definition; fine for a few hundred)."""
    n = len(order)
    runs = 1 + sum(a != b for a, b in zip(order, order[1:]))
    r1, r2 = (runs + 1) // 2, runs // 2
    observed = abs(2 * sum(order) - n)
    hits = sum(comb(m - 1, r1 - 1) * comb(n - m - 1, r2 - 1) for m in range(r1, n - r2 + 1) if abs(2 * m - n) >= observed)
    return min(1.0, hits / comb(n - 1, runs - 1))


def _log_runs_p(order):
    """The same sum in logs (gammaln), every term at once: an independent reference at 10^5 segments."""
    n, order = len(order), np.asarray(order)
    runs = 1 + int(np.count_nonzero(order[1:] != order[:-1]))
    r1, r2 = (runs + 1) // 2, runs // 2
    m = np.arange(r1, n - r2 + 1)
    m = m[np.abs(2 * m - n) >= abs(2 * int(order.sum()) - n)]

    def log_comb(a, b):
        return gammaln(np.asarray(a, float) + 1) - gammaln(np.asarray(b, float) + 1) - gammaln(np.asarray(a, float) - b + 1)

    return float(np.exp(logsumexp(log_comb(m - 1, r1 - 1) + log_comb(n - m - 1, r2 - 1)) - log_comb(n - 1, runs - 1)))


def test_the_run_test_equals_the_exact_count_of_compositions():
    rng = np.random.default_rng(13)
    for t in range(400):
        n = int(rng.integers(2, 200))
        seq = [bool(x) for x in rng.random(n) < rng.random()]
        seq = sorted(seq) if t % 3 == 0 else seq
        if len(set(seq)) < 2:
            continue
        assert abs(_runs_p(seq)[0] - _exact_runs_p(seq)) <= 1e-9 * max(_exact_runs_p(seq), 1e-300), seq


def test_the_run_test_of_100_000_segments_is_computed_not_hours_of_integer_sums():
    """A transcript of 10^5 sentences (or days of audio) reached the integer sum: 16 s at 10^4 segments, 215 s at
    3 * 10^4, hours at 10^5 (one product of numbers with thousands of digits per possible count)."""
    rng = np.random.default_rng(0)
    lead, other = [3] * 10250 + [2] * 9750, [3] * 9750 + [2] * 10250
    rng.shuffle(lead), rng.shuffle(other)
    seq = [x for a, b in zip(lead, other) for x in [True] * a + [False] * b]  # 10^5 segments in 40,000 runs
    p, runs = _runs_p(seq)
    assert runs == 40000 and abs(p - _log_runs_p(seq)) < 1e-9 and 0.15 < p < 0.25, p
    labels = ["sad" if x else "happy" for x in seq]
    test = dominant_test("sad", {"sad": 50250, "happy": 49750}, labels)
    assert test["runs"] == 40000 and test["p"] == p and test["binomial_p_if_independent"] < 0.2
    assert "not measurably dominant" in dominant_check("sad", {"sad": 50250, "happy": 49750}, None, labels)


def test_one_label_has_no_runner_up_and_no_test():
    labels = ["sad"] * 100000
    assert dominant_test("sad", {"sad": 100000}, labels)["reason"] == "one label"
    assert dominant_check("sad", {"sad": 100000}, None, labels) == ""


def _peak_mb(fn) -> float:
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def test_kappa_and_agreement_intervals_of_100_000_items_draw_their_resamples_a_block_at_a_time():
    """compare's agreement interval drew all 1000 x 10^5 resample indices at once: 2.3 GB (10^6 items: 23 GB); the
    cluster bootstrap over 10^5 speakers the same; now blocks of them, the same numbers."""
    from workbench.analysis.stats import kappa_interval

    rng = np.random.default_rng(0)
    a = rng.choice(["a", "b", "c"], 100_000)
    b = np.where(rng.random(100_000) < 0.7, a, rng.choice(["a", "b", "c"], 100_000))
    speakers = [f"s{i}" for i in range(100_000)]
    for clusters in (None, speakers):
        assert _peak_mb(lambda: kappa_interval(a, b, n=1000, clusters=clusters)) < 400
    small = kappa_interval(a[:500], b[:500], n=300, clusters=speakers[:500])
    assert 0.4 < small[0] < small[1] < 0.8


def test_the_cue_probe_r2_interval_of_many_clips_stays_bounded():
    """features' cue probe weighed every item in every resample at once: (999, items) floats, 924 MB at 4 x 10^4 clips."""
    from workbench.explain.cues import r2_interval

    rng = np.random.default_rng(1)
    y = rng.normal(size=40_000)
    pred = 0.5 * y + rng.normal(size=40_000)
    speakers = [f"s{i % 13_000}" for i in range(40_000)]
    assert _peak_mb(lambda: r2_interval(y, pred, speakers, n_boot=999)) < 400


def test_one_speaker_holding_99_percent_of_the_clips_is_flagged_where_the_interval_is_shown():
    """990 clips of one speaker and 10 of ten others passed as "resampling the 11 speakers" with no note, while each
    resample's figure hinged on whether that one speaker was drawn (effective number of speakers 1.0)."""
    from test_figures import _results
    from workbench.analysis.metrics import evaluate
    from workbench.analysis.stats import speaker_resampling

    speakers = ["big"] * 990 + [f"s{i}" for i in range(10)]
    clusters, unit = speaker_resampling(speakers)
    assert clusters is not None and unit["clusters"] == 11
    assert "very uneven" in unit["note"] and "99%" in unit["note"] and "effective number of speakers 1.0" in unit["note"]
    assert speaker_resampling([f"s{i % 20}" for i in range(1000)])[1]["note"] == ""  # even speakers: no note
    res = _results(1000).assign(speaker=speakers)
    report = evaluate(res, n_boot=50)
    assert "very uneven" in report.ci_unit["note"] and any("very uneven" in line for line in str(report).splitlines())


def _folds(n, k):
    return [np.arange(n)[f::k] for f in range(k)]


def test_a_per_speaker_coverage_check_that_cannot_move_a_hit_says_so_instead_of_within_chance():
    """One speaker, a clip per speaker, or one speaker per fold: shuffling hits within a fold leaves the per-speaker
    spread as it is, so the permutation p is 1 by construction; it printed "spread within chance (permutation p = 1)"."""
    from workbench.analysis.conformal_groups import conformal_line, group_coverage, spread_words

    rng = np.random.default_rng(0)
    hit = rng.random(60) < 0.8
    blocks = [np.arange(60)[f * 12:(f + 1) * 12] for f in range(5)]
    for groups, folds in ((np.array(["s0"] * 60), _folds(60, 5)),                      # one speaker
                          (np.array([f"s{i}" for i in range(60)]), _folds(60, 5)),      # a clip per speaker
                          (np.repeat([f"s{i}" for i in range(5)], 12), blocks)):        # a speaker per fold
        g = group_coverage(hit, groups, folds)
        assert g["p"] == 1.0 and not g["flag"] and "nothing to test" in g["untestable"], g
        assert spread_words(g).startswith("spread NOT CHECKED")
        d = {"coverage_ci": (0.7, 0.9), "per_class": {}, "coverage": 0.8, "n": 60, "level": 0.95, "check": "pass",
             "mean_size": 1.2, "n_classes": 3, "uninformative": False, "assumption": g["assumption"], "by_group": g}
        line = conformal_line("lac", d, 0.2)
        assert "spread NOT CHECKED" in line and "within chance" not in line
    g = group_coverage(hit, np.array([f"s{i % 7}" for i in range(60)]), _folds(60, 5))  # speakers span folds: testable
    assert g["untestable"] == "" and spread_words(g).startswith("spread within chance")


def test_the_per_speaker_coverage_interval_over_100_000_speakers_draws_a_block_at_a_time():
    from workbench.analysis.conformal_groups import group_coverage

    rng = np.random.default_rng(0)
    hit = rng.random(100_000) < 0.8
    groups = np.array([f"s{i // 2}" for i in range(100_000)])
    assert _peak_mb(lambda: group_coverage(hit, groups, _folds(100_000, 5), n_perm=99)) < 400


def test_a_run_folder_csv_with_a_hundred_thousand_columns_is_refused_before_pandas_parses_it(tmp_path):
    """timeline.csv / segments.csv of a shared run folder read through read_spreadsheet_csv: 10^6 columns took 48 s,
    2 * 10^5 text columns minutes (a column at a time through the spreadsheet unescaping)."""
    import pytest

    from workbench.errors import read_spreadsheet_csv
    from workbench.runs.artifacts import RunFolderError, read_output_csv

    wide = ",".join(f"c{i}" for i in range(100_000)) + "\n" + ",".join("x" for _ in range(100_000)) + "\n"
    with pytest.raises(ValueError, match="100,000 columns; a table the workbench writes has at most 10,000"):
        read_spreadsheet_csv(wide)
    (tmp_path / "timeline.csv").write_text(wide)
    with pytest.raises(RunFolderError, match=r"timeline\.csv.*does not read as the CSV table.*100,000 columns"):
        read_output_csv(tmp_path / "timeline.csv", text=("label",))
    # a byte-order mark, a formula kept as the text it is, a quoted comma in the header: read as written
    frame = read_spreadsheet_csv('\ufeffid,"a,b"\nc1,"\'=1+1"\n'.encode())
    assert list(frame.columns) == ["id", "a,b"] and frame.iloc[0].tolist() == ["c1", "=1+1"]
