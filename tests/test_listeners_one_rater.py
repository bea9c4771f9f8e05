"""Listener agreement with one listener: an item judged by a single listener has agreement 1 of 1 by construction, and
`workbench listeners` put it in the top band and among 'listeners agree, model wrong' as if listeners had agreed.  Now a
check says how many items rest on one listener on the screen, in listeners.json's checks and on the report page."""

from __future__ import annotations

import json

import numpy as np

from test_probe import synthetic_row, write_run
from workbench.analysis.listeners import evaluate_listeners
from workbench.cli import main


def _rows(one_rater: int, n: int = 30):
    rows = []
    for i in range(n):
        emo = ["angry", "sad"][i % 2]
        raters = 1.0 if i < one_rater else 5.0
        meta = {f"votes_{emo}": raters, "n_raters": raters, "agreement": 1.0, "listener_majority": emo}
        rows.append(synthetic_row(f"i{i:02d}", emotion=emo, pred="neutral" if i % 3 == 0 else emo, meta=meta))
    return rows


def test_items_judged_by_one_listener_are_said_everywhere_the_checks_go(tmp_path, capsys, monkeypatch):
    from workbench.views import reporting

    rf = write_run(tmp_path / "run", _rows(8), [np.ones(4)] * 30)
    rep = evaluate_listeners(rf.results(), n_boot=20)
    check = next(c for c in rep.checks if "one listener's judgement" in c)
    assert check.startswith("8 of 30 items have one listener's judgement (n_raters 1)") and "[0.75, 1]" in check
    assert "3 of the 10 items 'listeners agree, model wrong'" in check  # i00, i03, i06 are wrong and judged by one
    assert main(["listeners", str(rf.path), "--bootstrap", "20"]) == 0
    assert f"!! {check}" in capsys.readouterr().out
    saved = json.loads((rf.path / "listeners.json").read_text())["variants"]["raw"]
    assert check in saved["checks"]
    shown = []
    monkeypatch.setattr(reporting, "_display", lambda obj: shown.append(obj))
    reporting.listeners_section(rf.path, n_boot=10)
    assert "one listener&#x27;s judgement" in "".join(str(getattr(o, "data", "")) for o in shown)
    from workbench.views.error_views import ListenerErrorsBrowser

    assert "⚠ 3 of them judged by one listener" in ListenerErrorsBrowser(rf).caption.value
    # every item judged by five listeners: nothing to say
    assert not any("one listener" in c for c in evaluate_listeners(write_run(tmp_path / "five", _rows(0), [np.ones(4)] * 30).results(),
                                                                   n_boot=20).checks)
