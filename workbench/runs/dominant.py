"""The dominant emotion of a long recording's segments, and the check that makes it one.

"dominant emotion: sad (segments per label: sad 3, happy 2)" named a winner that one segment more of happy would have
unseated, and a tie (3 and 3) was broken by mean confidence unsaid.  :func:`dominant_check` says when the label is
not measurably ahead of the runner-up: a tie, or an exact binomial test of its count against the runner-up's among the
segments of the two (scipy's ``binomtest``, p = 1/2 under no preference) at 0.05.
"""

from __future__ import annotations

from workbench.errors import printable


def dominant_emotion(segments) -> str | None:
    """The most frequent segment label; ties go to the higher mean confidence."""
    if not len(segments):
        return None
    g = segments.groupby("label")["confidence"].agg(["count", "mean"])
    g = g.sort_values(["count", "mean"], ascending=False)
    return str(g.index[0])


def dominant_check(dominant: str | None, counts: dict, seconds: dict | None = None) -> str:
    """Words for a dominant label that is not measurably ahead of the runner-up, or ``""`` (also for one label only).

    ``seconds`` (label → seconds of audio its segments hold): the count is of segments, whose lengths differ (a VAD
    cuts speech at pauses, up to ``--max`` seconds), so a label ahead by count while another holds more of the time is
    said too ("sad 3 segments of 1 s, happy 1 of 20 s" named sad)."""
    from scipy.stats import binomtest

    if dominant is None or len(counts) < 2:
        return ""
    top = int(counts.get(dominant, 0))
    second, k = max(((str(c), int(n)) for c, n in counts.items() if str(c) != dominant), key=lambda x: x[1])
    words = ""
    if k >= top:
        words = (f"not measurably dominant: a tie, {printable(dominant)} and {printable(second)} {top} each; "
                 f"{printable(dominant)} is picked by its higher mean confidence")
    elif (p := float(binomtest(top, top + k, 0.5).pvalue)) >= 0.05:
        words = (f"not measurably dominant: {printable(dominant)} {top} against {printable(second)} {k} is within chance "
                 f"(exact binomial p = {p:.2g} over their {top + k} segments), so the runner-up could be it")
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


def dominant_words(dominant: str | None, counts: dict, what: str) -> str:
    """'dominant emotion: sad (segments per label: sad 4, happy 1)'; it read 'sad  sad 4, happy 1', a count list
    that looked like part of the label."""
    per = ", ".join(f"{k} {v}" for k, v in counts.items())
    return f"dominant emotion: {dominant or '—'} ({f'{what} per label: {per}' if per else f'no {what} scored'})"
