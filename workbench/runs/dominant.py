"""The dominant emotion of a long recording's segments, and the check that makes it one.

"dominant emotion: sad (segments per label: sad 3, happy 2)" named a winner that one segment more of happy would have
unseated, and a tie (3 and 3) was broken by mean confidence unsaid.  :func:`dominant_check` says when the label is
not measurably ahead of the runner-up: a tie, or an exact binomial test of its count against the runner-up's among the
segments of the two (scipy's ``binomtest``, p = 1/2 under no preference) at 0.05.

That binomial test takes the segments as independent draws, and neighbouring segments of one recording are not: a
speaker stays sad for minutes, so segments come in runs of one label, and a persistent chain of labels with no
preference was called dominant in a third of recordings or more.  Given the labels in time order, :func:`dominant_test`
uses the **run test** instead: the segments of the two labels, in time order, as a two-state Markov chain (any
persistence) with equal shares under the null; conditional on its number of label switches every such sequence is
equally likely, so the count of the leader has an exact distribution (the runs' lengths are a uniformly random
composition of the segments).  It respects the dependence: 20 segments in 2 runs weigh as little as they should.
"""

from __future__ import annotations

from workbench.errors import printable

#: the test named wherever the dominant label's check is shown (screen, summary.json, figure, widget)
RUN_TEST = ("run test (the two labels' segments in time order as a persistent two-state Markov chain; exact, "
            "conditional on the label switches)")
BINOMIAL_TEST = "exact binomial test (assumes independent segments)"


def dominant_emotion(segments) -> str | None:
    """The most frequent segment label; ties go to the higher mean confidence."""
    if not len(segments):
        return None
    g = segments.groupby("label")["confidence"].agg(["count", "mean"])
    g = g.sort_values(["count", "mean"], ascending=False)
    return str(g.index[0])


def _runs_p(order: list[bool]) -> tuple[float, int]:
    """Two-sided p of the run test for a True/False sequence (True: the leader), and its number of runs.

    Given ``s`` switches, a symmetric two-state Markov chain makes every sequence with ``s`` switches equally likely:
    the ``s + 1`` runs' lengths are a uniform composition of ``n`` (``C(n - 1, s)`` of them), alternating labels.  The
    runs at odd places (``ceil((s + 1) / 2)`` of them) sum to ``m`` in ``C(m - 1, r1 - 1) C(n - m - 1, r2 - 1)``
    compositions; p = P(|odd − even| ≥ observed)."""
    import numpy as np
    from scipy.stats import betabinom

    n = len(order)
    runs = 1 + sum(a != b for a, b in zip(order, order[1:]))
    if runs < 2:
        return 1.0, runs
    r1, r2 = (runs + 1) // 2, runs // 2
    lead = int(sum(order))
    low, high = min(lead, n - lead), max(lead, n - lead)
    if low == high:
        return 1.0, runs
    # the n - runs segments beyond each run's first fall into the odd runs as a beta-binomial(n - runs, r1, r2): the
    # count of compositions above over C(n - 1, runs - 1).  Summing those integers (thousands of digits each for 10^4
    # segments, one product per m) took 16 s for 10^4 segments, 215 s for 3 * 10^4 and hours for 10^5.
    # (scipy's cdf of it sums one term at a time: 16 s for 10^4 segments; the pmf over both tails at once is exact too)
    tails = np.concatenate([np.arange(0, low - r1 + 1), np.arange(high - r1, n - runs + 1)])
    return min(1.0, float(betabinom.pmf(tails, n - runs, r1, r2).sum())), runs


def untestable(dominant: str | None, counts: dict) -> tuple[str, str]:
    """``(reason, words)`` when the dominant label cannot be tested against a runner-up ("one segment": a single
    segment; "one label": every segment has it), else ``("", "")``.  Both passed with no check line at all, so a label
    backed by one segment read as firmly as one ahead by 40 to 2."""
    total = sum(int(n) for n in counts.values())
    if dominant is None or not total:
        return "", ""
    if total == 1:
        return "one segment", (f"not testable: one segment ({printable(dominant)} is the only segment scored; one "
                               "segment cannot show a label ahead of another)")
    if len(counts) < 2:
        return "one label", (f"not testable: one label (all {total} segments are {printable(dominant)}: no runner-up "
                             "to test against)")
    return "", ""


def dominant_test(dominant: str | None, counts: dict, order=None) -> dict:
    """The test of the dominant label against the runner-up: ``{"test", "p", "segments", "runs",
    "binomial_p_if_independent"}``; ``{"test": "not testable", "testable": False, "reason", "words", "segments"}``
    with one segment or one label (:func:`untestable`); ``{}`` with none.  ``order``: the segments' labels in time
    order (the run test, :func:`_runs_p`); None: the exact binomial test, which assumes independent segments."""
    from scipy.stats import binomtest

    reason, words = untestable(dominant, counts)
    if reason:
        return {"test": "not testable", "testable": False, "reason": reason, "words": words,
                "segments": sum(int(n) for n in counts.values())}
    if dominant is None or len(counts) < 2:
        return {}
    top = int(counts.get(dominant, 0))
    second, k = max(((str(c), int(n)) for c, n in counts.items() if str(c) != dominant), key=lambda x: x[1])
    binomial = float(binomtest(top, top + k, 0.5).pvalue) if top + k else 1.0
    out = {"test": BINOMIAL_TEST, "p": binomial, "segments": top + k, "runner_up": second, "binomial_p_if_independent": binomial}
    if order is not None:
        seq = [str(x) == str(dominant) for x in order if str(x) in (str(dominant), second)]
        p, runs = _runs_p(seq)
        out.update(test=RUN_TEST, p=p, runs=runs)
    return out


def dominant_test_words(test: dict, short: bool = False) -> str:
    """'run test (…): p = 0.41, 30 segments in 4 runs (binomial p if they were independent: 0.0014)', or ``""``;
    ``short`` (a figure's title): 'run test p = 0.41: 30 segments in 4 runs (binomial p as if independent: 0.0014)'."""
    if not test:
        return ""
    if test.get("testable") is False:
        return test["words"]
    if short and "runs" in test:
        return (f"run test of the runner-up (segments in time order) p = {test['p']:.2g}: {test['segments']} segments in "
                f"{test['runs']} runs (binomial p as if independent: {test['binomial_p_if_independent']:.2g})")
    if "runs" not in test:
        return f"{test['test']}: p = {test['p']:.2g} over {test['segments']} segments"
    return (f"{test['test']}: p = {test['p']:.2g}, {test['segments']} segments in {test['runs']} runs "
            f"(binomial p if they were independent: {test['binomial_p_if_independent']:.2g})")


def dominant_check(dominant: str | None, counts: dict, seconds: dict | None = None, order=None) -> str:
    """Words for a dominant label that is not measurably ahead of the runner-up, or ``""`` (also for one label only).

    ``seconds`` (label → seconds of audio its segments hold): the count is of segments, whose lengths differ (a VAD
    cuts speech at pauses, up to ``--max`` seconds), so a label ahead by count while another holds more of the time is
    said too ("sad 3 segments of 1 s, happy 1 of 20 s" named sad).  ``order``: the labels in time order, for the run
    test that respects neighbouring segments' dependence (:func:`dominant_test`); without it the binomial test.
    One segment: "not measurably dominant: not testable: one segment …" (:func:`untestable`; one label over several
    segments is said beside the label, :func:`dominant_words`, not flagged: nothing disagrees with it)."""
    if untestable(dominant, counts)[0] == "one segment":
        return f"not measurably dominant: {untestable(dominant, counts)[1]}"
    if dominant is None or len(counts) < 2:
        return ""
    top = int(counts.get(dominant, 0))
    second, k = max(((str(c), int(n)) for c, n in counts.items() if str(c) != dominant), key=lambda x: x[1])
    words = ""
    if k >= top:
        words = (f"not measurably dominant: a tie, {printable(dominant)} and {printable(second)} {top} each; "
                 f"{printable(dominant)} is picked by its higher mean confidence")
    elif (test := dominant_test(dominant, counts, order))["p"] >= 0.05:
        how = (f"exact binomial p = {test['p']:.2g} over their {top + k} segments" if "runs" not in test else
               f"run test p = {test['p']:.2g}, which lets neighbouring segments depend on each other: their {top + k} "
               f"segments come in {test['runs']} runs of one label")
        words = (f"not measurably dominant: {printable(dominant)} {top} against {printable(second)} {k} is within chance "
                 f"({how}), so the runner-up could be it")
    return "; ".join(w for w in (words, _time_words(dominant, counts, seconds or {})) if w)


def _time_words(dominant: str, counts: dict, seconds: dict) -> str:
    """Words for a label that holds more of the time than the dominant one (by count), or ``""``."""
    seconds = {str(c): float(t) for c, t in seconds.items()}
    longest = max(seconds, key=lambda c: seconds[c], default=None)
    if longest is None or longest == str(dominant) or seconds[longest] <= seconds.get(str(dominant), 0.0):
        return ""
    total = sum(seconds.values())
    return (f"not dominant by time: {printable(longest)} holds {seconds[longest]:.1f} s of the {total:.1f} s scored "
            f"({int(counts.get(longest, 0))} segment(s)) against {printable(dominant)}'s {seconds.get(str(dominant), 0.0):.1f} s "
            f"({int(counts.get(dominant, 0))}): the count is of segments, whose lengths differ")


def dominant_words(dominant: str | None, counts: dict, what: str, test: dict | None = None) -> str:
    """'dominant emotion: sad (segments per label: sad 4, happy 1)'; it read 'sad  sad 4, happy 1', a count list
    that looked like part of the label.  ``test`` (:func:`dominant_test`): the test against the runner-up, named."""
    per = ", ".join(f"{k} {v}" for k, v in counts.items())
    against = (f"; {test['words']}" if test and test.get("testable") is False else
               f"; against {printable(test['runner_up'])}: {dominant_test_words(test)}" if test else "")
    return f"dominant emotion: {dominant or '—'} ({f'{what} per label: {per}' if per else f'no {what} scored'}){against}"
