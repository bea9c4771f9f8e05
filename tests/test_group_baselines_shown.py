"""A group's (metrics --by) and a listener band's baselines are shown beside their figures, passing too.

The run's headline always shows its WA's majority baseline and its UAR's chance level; a group's or a band's check was
said only when it failed, so a group that cleared them showed its figures with no baseline to read them against.  Now
every shown group carries both, on screen, in metrics.json, in the breakdown figure's footnote and in the report.
"""

from __future__ import annotations

import json

import pytest

from test_groups import _frame, metrics_page
from workbench.analysis.metrics import plot_breakdown, run_metrics

plt = pytest.importorskip("matplotlib.pyplot")

CLASSES = ["angry", "happy", "neutral", "sad"]
WA_BASE = "majority baseline 0.250: always angry, 10/40"
UAR_BASE = "chance 0.250 over 4 classes"


def _rows():
    # "good": 10 items of each class, 9 right (clears both); "guess": 14 neutral and 6 each of the rest, never right
    rows = [("good", c, c if k < 9 else CLASSES[(i + 1) % 4]) for i, c in enumerate(CLASSES) for k in range(10)]
    return rows + [("guess", c, CLASSES[(i + 1) % 4]) for i, c in enumerate(CLASSES) for _ in range(14 if c == "neutral" else 6)]


def test_a_group_that_clears_its_baselines_shows_them_on_screen_in_the_json_figure_and_report(tmp_path, monkeypatch):
    from test_calibration_cli import _run_folder

    df = _frame(_rows())
    _run_folder(tmp_path / "run", df)
    rep = run_metrics(tmp_path / "run", by=("speaker",), figures=True, n_boot=200)["raw"]
    line = next(ln for ln in rep.render().splitlines() if "by speaker" in ln)
    good = line.split("guess")[0]
    assert f"WA 0.900 [" in good and f"] ({WA_BASE}) UAR 0.900 [" in good and f"] ({UAR_BASE}) (n=40)" in good, line
    assert "(majority baseline 0.438: always neutral, 14/32)" in line.split("guess")[1]  # the failing group's too
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())["raw"]["breakdowns"]["speaker"]
    assert saved["good"]["wa_baseline"] == WA_BASE and saved["good"]["uar_baseline"] == UAR_BASE
    assert "wa_majority" not in saved["good"] and saved["guess"]["wa_majority"].startswith("WA BELOW THE MAJORITY")
    for metric, words in (("uar", "UAR against chance over the classes each group has: 1 of 2 groups clear it (the 1 that do "
                                  "not are noted *)"),
                          ("wa", "WA against each group's own majority baseline (always its largest class): 1 of 2 groups clear it")):
        fig, ax = plt.subplots()
        plot_breakdown(df, "speaker", metric=metric, n_boot=200, ax=ax)
        foot = " ".join(" ".join(t.get_text().split()) for t in ax.texts)
        assert words in foot, foot
        plt.close(fig)
    fig, ax = plt.subplots()  # every group clears it: the check is said all the same
    plot_breakdown(df[df["speaker"] == "good"], "speaker", n_boot=200, ax=ax)
    foot = " ".join(" ".join(t.get_text().split()) for t in ax.texts)
    assert "UAR against chance over the classes each group has: 1 of 1 groups clear it; each one's baseline in metrics.json." in foot
    plt.close(fig)
    page = metrics_page(monkeypatch, tmp_path / "run")
    assert WA_BASE in page and UAR_BASE in page


def test_a_listener_band_that_clears_its_baselines_shows_them_on_screen_in_json_and_on_the_page(tmp_path, capsys, monkeypatch):
    from test_probe import synthetic_row, write_run
    from workbench.cli import main
    from workbench.data.listeners import record_from_counts
    from workbench.labels import LABEL_KEYS
    from workbench.views import reporting as R

    rows = []
    for i in range(48):  # 24 clear items the model gets wrong, 24 split ones it gets right, 6 of each of 4 classes in each
        emo = CLASSES[i % 4]
        pred = CLASSES[(i + 1) % 4] if i < 24 else emo
        votes = {emo: 10} if i < 24 else {emo: 6, CLASSES[(i + 1) % 4]: 4}
        rows.append(synthetic_row(f"v{i}", emotion=emo, pred=pred, scores={k: 0.9 if k == pred else 0.1 / 8 for k in LABEL_KEYS},
                                  speaker=f"s{i % 4}", meta=record_from_counts(votes)))
    rf = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * len(rows))
    assert main(["listeners", str(rf.path), "--bootstrap", "50", "--out", str(tmp_path / "l")]) == 0
    screen = capsys.readouterr().out
    mid = json.loads((tmp_path / "l" / "listeners.json").read_text())["variants"]["raw"]["bands"][1]
    base = "majority baseline 0.250: always angry, 6/24"
    assert mid["n"] == 24 and mid["accuracy_baseline"] == base and mid["uar_baseline"] == UAR_BASE
    assert mid["accuracy_majority"] == mid["uar_chance"] == ""  # it clears both: no flag, the baselines all the same
    line = next(ln for ln in screen.splitlines() if f"agreement {mid['band']}" in ln)
    assert f"accuracy 1.000 [1.000, 1.000] ({base})  UAR 1.000 [1.000, 1.000] ({UAR_BASE})" in line, line
    shown = []
    monkeypatch.setattr(R, "_display", lambda obj: shown.append(getattr(obj, "data", str(obj))))
    R.listeners_section(rf.path, n_boot=50)
    assert f"accuracy: {base}; UAR: {UAR_BASE}" in "".join(shown)
