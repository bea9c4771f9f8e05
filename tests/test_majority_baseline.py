"""WA against its own baseline: the WA of always answering the largest class.

UAR's chance level (1/K) is no baseline for WA.  On 40 neutral items of 50, a model that says neutral every time scores
WA 0.800; a model one angry item better scored 'WA 0.820 [0.700, 0.921]' with nothing said, on every surface.  Now the
WA line names its majority baseline and a WA interval that reaches it is flagged on the screen of `metrics`, in
metrics.json, in the confusion figure's title, on the report page, in the ConfusionExplorer widget, in run's closing
line and finetune's figures (headline_summary / figure_flags), and in the probe's fold notes."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from test_probe import synthetic_row, write_run
from workbench.analysis.groups import figure_flags, majority_baseline, majority_flag
from workbench.analysis.metrics import evaluate, headline_summary
from workbench.cli import main


def _skewed_rows(right_angry: int, n_angry: int = 10, n_neutral: int = 40):
    """``n_neutral`` neutral items all answered neutral, ``n_angry`` angry items of which ``right_angry`` are right."""
    rows = [synthetic_row(f"n{i}", emotion="neutral", pred="neutral", speaker=f"s{i % 5}") for i in range(n_neutral)]
    return rows + [synthetic_row(f"a{i}", emotion="angry", pred="angry" if i < right_angry else "neutral", speaker=f"s{i % 5}")
                   for i in range(n_angry)]


def test_the_majority_baseline_and_its_flag():
    assert majority_baseline({"neutral": 40, "angry": 10, "sad": 0}) == ("neutral", 40, 50)
    assert majority_baseline({"neutral": 40, "sad": 0}) is None  # one class present: nothing to beat
    assert majority_flag(0.70, 0.92, {"neutral": 40, "angry": 10}).startswith("AT THE MAJORITY BASELINE: the interval reaches 0.800")
    assert majority_flag(0.50, 0.70, {"neutral": 40, "angry": 10}).startswith("BELOW THE MAJORITY BASELINE")
    assert majority_flag(0.81, 0.95, {"neutral": 40, "angry": 10}) == ""
    assert majority_flag(float("nan"), float("nan"), {"neutral": 40, "angry": 10}) == ""
    flags = figure_flags({"wa": (0.7, 0.92), "uar": (0.6, 0.9), "macro_f1": (0.5, 0.8)}, 50, {"neutral": 40, "angry": 10})
    assert any(f.startswith("WA AT THE MAJORITY BASELINE") for f in flags)


def test_a_wa_at_the_majority_baseline_is_flagged_and_a_clear_one_is_not():
    text = evaluate(pd.DataFrame(_skewed_rows(1)), n_boot=200).render()
    wa_line = next(x for x in text.splitlines() if x.strip().startswith("WA "))
    assert "majority baseline 0.800: always neutral, 40/50" in wa_line and "AT THE MAJORITY BASELINE" in wa_line
    good = evaluate(pd.DataFrame(_skewed_rows(10)), n_boot=200)  # every item right: WA 1.000, clear of 0.800
    assert "MAJORITY BASELINE" not in good.render() and "wa_majority" not in good.flags()
    assert "majority baseline 0.800" in good.render()  # the baseline is said beside the WA either way


def test_every_surface_of_metrics_carries_the_flag(tmp_path, capsys, monkeypatch):
    from workbench.views import reporting
    from workbench.views.error_views import ConfusionExplorer

    rows = _skewed_rows(1)
    rf = write_run(tmp_path / "run", rows, [np.ones(4)] * len(rows))
    assert main(["metrics", str(rf.path), "--by", "speaker"]) == 0
    out = capsys.readouterr().out
    assert "AT THE MAJORITY BASELINE" in next(x for x in out.splitlines() if x.strip().startswith("WA "))
    saved = json.loads((rf.path / "metrics.json").read_text())
    report = saved["variants"]["raw"] if "variants" in saved else saved["raw"]
    assert report["flags"]["wa_majority"].startswith("AT THE MAJORITY BASELINE")
    titles = json.loads((rf.path / "artifacts.json").read_text())
    assert "!! WA: AT THE MAJORITY BASELINE" in " ".join(titles["confusion_raw.png"]["titles"])
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    reporting.metrics_section(rf.path, by=("speaker",), n_boot=200)
    html = "".join(str(getattr(o, "data", "")) for o in shown if type(o).__name__ == "HTML")
    row = next(r for r in html.split("<tr") if ">WA<" in r)
    assert "AT THE MAJORITY BASELINE" in row and "majority baseline 0.800: always neutral, 40/50" in html
    assert "AT THE MAJORITY BASELINE" in ConfusionExplorer(rf).heading.value
    # run's closing line and finetune's figures print headline_summary's / figure_flags' words
    assert any(f.startswith("WA AT THE MAJORITY BASELINE") for f in headline_summary(pd.DataFrame(rows), variant="raw", n_boot=200)["flags"])


def test_the_probe_flags_a_fold_whose_wa_does_not_clear_its_majority_baseline(tmp_path):
    """A probe on embeddings that carry nothing, over 4:1 classes: WA near 0.8 is what answering the largest class scores."""
    from workbench.analysis.probe import probe_run

    rng = np.random.default_rng(0)
    rows, emb = [], []
    for s in range(6):
        for i in range(25):
            cls = "neutral" if i < 20 else "angry"
            rows.append(synthetic_row(f"s{s}_{i}", emotion=cls, speaker=f"spk{s}"))
            emb.append(rng.standard_normal(8))
    rf = write_run(tmp_path / "noise", rows, emb)
    res = probe_run(rf.path, folds=3, n_boot=100)
    notes = res.notes()
    assert any("WA" in n and "MAJORITY BASELINE" in n for n in notes), notes
    assert any("MAJORITY BASELINE" in n for n in res.to_dict()["fold_notes"])
    assert "MAJORITY BASELINE" in res.render() and "MAJORITY BASELINE" in res.html()


def test_fusion_flags_a_methods_wa_that_does_not_clear_the_majority_baseline():
    """fuse printed 'WA 0.400 [0.300, 0.500]' for each method beside nothing: on 40 neutral items of 50, always
    answering neutral scores 0.800.  fusion_checks carries the words to the screen, fusion.json, the page and fusion.png."""
    from workbench.analysis.fusion import fusion_checks, plot_fusion
    from workbench.views.reporting import fusion_html

    y = np.array(["neutral"] * 40 + ["angry"] * 10)
    metrics = {"speech": {"uar": 0.70, "uar_ci": (0.60, 0.80), "wa": 0.84, "wa_ci": (0.72, 0.94)},
               "late": {"uar": 0.90, "uar_ci": (0.85, 0.95), "wa": 0.95, "wa_ci": (0.88, 1.00)}}
    checks = fusion_checks(y, metrics, {})
    flagged = [c for c in checks if "MAJORITY BASELINE" in c]
    assert flagged == ["speech WA 0.840 [0.720, 0.940]: AT THE MAJORITY BASELINE: the interval reaches 0.800, the WA of "
                       "always answering neutral (40/50), so the figure cannot be told from a constant guess"]
    payload = {"metrics": metrics, "checks": checks, "chance_uar": 0.5, "n_items": 50, "n_speakers": 5, "folds": 5,
               "classes": ["angry", "neutral"], "text_model": "a-text-model", "late_weights": [0.5] * 5}  # fusion.json's keys the page reads
    assert f"Check failed:</b> {flagged[0]}" in str(fusion_html(payload))
    assert "speech WA 0.840" in plot_fusion(payload).axes[0].get_title().replace("\n", " ")


def test_runs_closing_line_and_finetunes_figures_carry_the_flag(tmp_path):
    """run's closing line and finetune's held-out figures (screen and card) print figure_flags' words, as metrics does."""
    import io
    from types import SimpleNamespace

    from workbench.analysis.finetune.core import _flag_lines
    from workbench.analysis.finetune.evaluate import scores
    from workbench.cli.running import print_run_summary

    rows = _skewed_rows(1)
    rf = write_run(tmp_path / "run", rows, [np.zeros(4)] * len(rows))
    result = SimpleNamespace(run_dir=rf.path, n_rows=50, n_failed=0, n_cached=0, n_resumed=0, seconds=0.1,
                             summary={"variants": {"raw": {"labelled": 50, "excluded_no_counterpart": 0, "failed": 0}}})
    buf = io.StringIO()
    print_run_summary(result, out=buf)
    assert "!! WA AT THE MAJORITY BASELINE: the interval reaches 0.800" in buf.getvalue()
    t, p = np.array([r["emotion"] for r in rows]), np.array([r["pred"] for r in rows])
    held_out = scores(t, p, ["angry", "neutral"], n_boot=200, seed=0)
    assert any("WA AT THE MAJORITY BASELINE" in line for line in _flag_lines(held_out, "  "))
    right = scores(t, t, ["angry", "neutral"], n_boot=200, seed=0)  # every item right: clear of the baseline
    assert not any("MAJORITY" in f for f in right["flags"])
