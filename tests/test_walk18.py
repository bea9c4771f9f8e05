"""walk18: what a newcomer's walk through the product found said twice, contradicting itself, or not runnable as printed."""

from __future__ import annotations

import pandas as pd

from test_majority_baseline import _skewed_rows
from test_probe import write_run
from workbench.analysis.metrics import evaluate


def _said_once(text: str, words: str) -> bool:
    return text.count(words) == 1


def test_metrics_says_the_wa_baseline_once_on_screen_and_in_the_report(tmp_path, monkeypatch):
    """`metrics` printed "WA 0.000 … (majority baseline 0.288: always happy, 15/52) — BELOW THE MAJORITY BASELINE,
    interval and all: always answering happy scores 0.288 (15/52)"; the report's check cell repeated the baseline the
    paragraph under the table gives.  The flag beside the stated baseline now says only the verdict; metrics.json keeps
    the whole sentence."""
    from workbench.views import reporting

    rows = _skewed_rows(1)  # 40 neutral of 50: WA's interval reaches the baseline 0.800
    wa_line = next(x for x in evaluate(pd.DataFrame(rows), n_boot=200).render().splitlines() if x.strip().startswith("WA "))
    assert "AT THE MAJORITY BASELINE" in wa_line and _said_once(wa_line, "baseline 0.800"), wa_line
    assert _said_once(wa_line, "40/50") and "always answering" not in wa_line
    rf = write_run(tmp_path / "run", rows, [[1.0] * 4] * len(rows))
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    out = reporting.metrics_section(rf.path, n_boot=200)
    html = "".join(str(getattr(o, "data", "")) for o in shown if type(o).__name__ == "HTML")
    assert "AT THE MAJORITY BASELINE" in next(r for r in html.split("<tr") if ">WA<" in r)
    assert _said_once(html, "40/50"), html
    assert "always answering neutral" in out["raw"]["majority_flag"]  # the JSON keeps the whole sentence
