"""A new researcher following the README from a fresh clone (demo, own folder, fine-tuned head, explain, the report and
the notebooks in Chromium): each defect met on the way, constructed here (runs written through :class:`RunFolder`, no
model), then the fixed behaviour."""

from __future__ import annotations

import json

from test_probe import synthetic_row, write_run
from workbench.views import reporting
from workbench.views.widgets import _findings_html

DIAGNOSE = "the two leading classes are nearly tied: small changes can flip the label (`workbench diagnose FILE` runs the stability test)"


def test_the_worst_cases_and_the_widgets_show_a_findings_command_as_code_not_as_backticks(tmp_path, monkeypatch):
    # the report's worst cases showed "(`workbench diagnose FILE` runs the stability test …)" with the backticks on the page
    findings = json.dumps([{"code": "small_margin", "severity": "warning", "message": "top-1 leads by <0.05", "suggestion": DIAGNOSE}])
    rows = [{**synthetic_row(f"i{k}", emotion="happy", pred="sad", speaker="s1"), "findings": findings, "margin": 0.01} for k in range(2)]
    rf = write_run(tmp_path / "run", rows, [[1.0, 0.0]] * 2)
    shown: list[str] = []
    monkeypatch.setattr(reporting, "show_html", lambda markup: shown.append(str(markup)))
    monkeypatch.setattr(reporting, "_display", lambda obj: None)
    reporting.worst_cases(rf.path, n=1)
    item = next(h for h in shown if "i0" in h or "i1" in h)
    assert "(<code>workbench diagnose FILE</code> runs the stability test)." in item and "`" not in item, item
    widget = _findings_html(json.loads(findings))
    assert "<code>workbench diagnose FILE</code>" in widget and "`" not in widget, widget
    assert "top-1 leads by &lt;0.05" in widget  # the data around it still escaped
