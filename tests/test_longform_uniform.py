"""`workbench segment`'s timeline: each span's mean confidence beside the uniform-guess reference 1/K (K classes), and
the spans at or under it flagged on the screen, in timeline.csv, in summary.json and in the figure."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest

from test_longform import bursts_file
from workbench.cli import main
from workbench.runs.longform import SegmentConfig, merge_timeline, plot_longform, segment_file


def _segments(rows):
    return pd.DataFrame([{"segment": i, "start": s, "end": e, "duration": e - s, "label": lab, "confidence": c}
                         for i, (s, e, lab, c) in enumerate(rows)])


def test_each_span_carries_the_uniform_guess_and_whether_it_is_at_or_under_it():
    tl = merge_timeline(_segments([(0, 1, "sad", 1 / 9), (3, 4, "happy", 0.5), (4.5, 5, "happy", 0.2)]), 2.0, n_classes=9)
    assert tl["uniform_guess"].tolist() == pytest.approx([1 / 9, 1 / 9])
    assert tl["at_or_under_uniform"].tolist() == [True, False]
    two = merge_timeline(_segments([(0, 1, "a", 0.5 + 1e-9), (3, 4, "b", 0.6)]), 2.0, n_classes=2)  # float rounding of 1/2
    assert two["at_or_under_uniform"].tolist() == [True, False]
    assert "uniform_guess" not in merge_timeline(_segments([(0, 1, "sad", 0.4)]), 2.0).columns  # no K: no reference invented


def test_segment_shows_the_reference_on_screen_csv_summary_and_figure(tmp_path, capsys, tiny_model):
    path = bursts_file(tmp_path / "long.wav")
    assert main(["segment", str(path), "--vad", "energy", "--model", "tiny", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "conf: the span's mean top probability, against 0.111 (1/9) for a uniform guess" in out, out
    csv = pd.read_csv(tmp_path / "o" / "timeline.csv")
    assert csv["uniform_guess"].tolist() == pytest.approx([1 / 9] * len(csv))
    assert csv["at_or_under_uniform"].tolist() == (csv["confidence"] <= 1 / 9 + 1e-6).tolist()
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["uniform_guess"] == pytest.approx(1 / 9) and summary["n_classes"] == 9
    assert summary["spans_at_or_under_uniform"] == int(csv["at_or_under_uniform"].sum())
    # a span at the uniform guess (a model that cannot tell the classes apart) is flagged everywhere
    res = segment_file(path, model=tiny_model, out_dir=tmp_path / "s", config=SegmentConfig(vad="energy"), figures=False)
    flat = res.segments.assign(confidence=1 / 9)
    timeline = merge_timeline(flat, res.summary["config"]["merge_gap_s"], n_classes=9)
    low = dataclasses.replace(res, timeline=timeline, summary={**res.summary, "spans_at_or_under_uniform": len(timeline)})
    screen = low.render()
    assert f"!! {len(timeline)} of {len(timeline)} spans at or under the uniform guess 0.111" in screen
    assert screen.count("!! at or under the uniform guess") == len(timeline)
    fig = plot_longform(low)
    assert f"hatched (≤ 1/K): mean confidence at or under the uniform guess 0.111, {len(timeline)} of {len(timeline)} spans" in fig.axes[1].get_xlabel()
    assert all(p.get_hatch() == "xx" for p in fig.axes[1].patches)
    hatched = [bool(p.get_hatch()) for p in plot_longform(res).axes[1].patches]
    assert hatched == res.timeline["at_or_under_uniform"].tolist()
