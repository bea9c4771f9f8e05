"""The dominant label's test respects neighbouring segments' dependence (the run test of workbench.runs.dominant).

``segment``'s check of the dominant label was an exact binomial test of its count against the runner-up's, as if the
segments were independent draws; neighbouring segments of one recording share a speaker's mood, so labels come in runs.
A persistent chain of labels with no preference was called dominant in about half of the recordings."""

from __future__ import annotations

import collections
import html
import json

import numpy as np

from test_longform import three_tones_file
from workbench.runs.dominant import RUN_TEST, _runs_p, dominant_check, dominant_test


def _chain(rng, n: int, k: int, stay: float) -> list[str]:
    """A Markov chain of ``k`` labels that keeps its label with probability ``stay``: equal shares, no dominant one."""
    x = [int(rng.integers(k))]
    for _ in range(n - 1):
        x.append(x[-1] if rng.random() < stay else int(rng.choice([j for j in range(k) if j != x[-1]])))
    return [f"label{v}" for v in x]


def _called_dominant(labels: list[str], order: bool) -> bool:
    counts = dict(collections.Counter(labels))
    top = max(counts, key=counts.get)
    return dominant_check(top, counts, None, labels if order else None) == ""


def test_a_persistent_chain_with_no_dominant_label_is_called_dominant_at_about_the_nominal_rate():
    """stay 0.9, 40 segments, 2 or 3 labels with equal shares: the binomial test called a label dominant in ~50 % of the
    recordings; the run test in at most ~5 % (recordings holding one label only have no runner-up and are left out)."""
    for k in (2, 3):
        rng = np.random.default_rng(k)
        chains = [c for c in (_chain(rng, 40, k, 0.9) for _ in range(400)) if len(set(c)) > 1]
        old = np.mean([_called_dominant(c, order=False) for c in chains])
        new = np.mean([_called_dominant(c, order=True) for c in chains])
        assert old > 0.3, (k, old)  # the failure the binomial test made
        assert new <= 0.075, (k, new)  # 0.05 nominal; 400 draws leave about ±0.02
    # independent segments: the run test is still a valid test (at most the nominal rate), and not blind
    rng = np.random.default_rng(7)
    iid = [[f"label{v}" for v in rng.integers(0, 2, 40)] for _ in range(400)]
    assert np.mean([_called_dominant(c, order=True) for c in iid]) <= 0.075
    assert _called_dominant(["a", "b"] * 5 + ["a"] * 30, order=True)  # 35 a, 5 b, alternating at first: a leads


def test_the_run_test_p_matches_a_simulation_of_uniform_random_run_lengths():
    """Under the null every sequence with s switches is equally likely: s cut points drawn uniformly from the n − 1 gaps."""
    rng = np.random.default_rng(3)
    for seq in (list("aaabbbbbbaaaab"), list("aaaaaaaaaaaaaaaaaaabb"), list("abbbbaaaaabbbbbbbbbbbbbbbbbbba")):
        lead = [c == "b" for c in seq]
        n, switches = len(lead), sum(a != b for a, b in zip(lead, lead[1:]))
        observed = abs(2 * sum(lead) - n)
        cuts = np.sort(np.array([rng.choice(np.arange(1, n), switches, replace=False) for _ in range(20000)]), axis=1)
        parts = np.diff(np.concatenate([np.zeros((len(cuts), 1), int), cuts, np.full((len(cuts), 1), n)], axis=1), axis=1)
        simulated = np.mean(np.abs(2 * parts[:, ::2].sum(axis=1) - n) >= observed)
        p, runs = _runs_p(lead)
        assert runs == switches + 1 and abs(p - simulated) < 0.015, (seq, p, simulated)


def test_the_test_is_named_in_summary_screen_figure_and_widget(tmp_path, tiny_model):
    from workbench.runs.longform import SegmentConfig, plot_longform, segment_file
    from workbench.views.widgets import LongAudioTimeline

    assert dominant_test("a", {"a": 3})["testable"] is False and dominant_test("a", {"a": 3, "b": 1}, None)["test"].startswith("exact binomial")
    three_tones_file(tmp_path / "long.wav")
    res = segment_file(tmp_path / "long.wav", model=tiny_model, out_dir=tmp_path / "seg", config=SegmentConfig(vad="energy"))
    test = json.loads((tmp_path / "seg" / "summary.json").read_text())["dominant_test"]
    assert len(res.summary["label_counts"]) >= 2 and test["test"] == RUN_TEST and test["runs"] >= 2, test
    assert "binomial_p_if_independent" in test
    assert f"{RUN_TEST}: p = " in res.render()
    assert "run test of the runner-up (segments in time order) p = " in plot_longform(res).axes[0].get_title()
    assert html.escape(RUN_TEST[:40]) in LongAudioTimeline(tmp_path / "seg").widget.children[0].value  # escaped
