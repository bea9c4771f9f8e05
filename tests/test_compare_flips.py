"""Flip counts and paired counts count the same items (issue #22, item 7)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from workbench.analysis.compare import compare_results
from workbench.labels import LABEL_KEYS


def _rows(variant, preds, emotions):
    rows = []
    for i, (p, e) in enumerate(zip(preds, emotions)):
        s = np.full(9, 0.01)
        s[LABEL_KEYS.index(p)] = 0.92
        rows.append({"id": f"i{i}", "variant": variant, "status": "ok", "emotion": e, "pred": p, "confidence": 0.92,
                     "path": f"i{i}.wav", **{f"score_{k}": float(x) for k, x in zip(LABEL_KEYS, s)}})
    return rows


def test_flips_are_counted_over_the_paired_items_only():
    # 4 labelled items (1 flips) and 3 unlabelled items (all 3 flip): today's code said "4 paired items … 4 label flips"
    emotions = ["angry", "sad", "angry", "sad", "", "", ""]
    raw = ["angry", "sad", "angry", "sad", "happy", "happy", "happy"]
    loud = ["angry", "sad", "sad", "sad", "neutral", "neutral", "neutral"]
    df = pd.DataFrame(_rows("raw", raw, emotions) + _rows("loud", loud, emotions))
    _, (c,), flips = compare_results(df, baseline="raw", n_boot=50)
    assert c.n_paired == 4
    assert c.n_flips == 1  # the flips of the paired items
    assert (c.n_unlabelled, c.n_flips_unlabelled) == (3, 3)
    assert c.mcnemar_b == 1 and c.mcnemar_c == 0
    text = c.render()
    assert "4 paired items" in text and "1 label flips among them" in text and "+3 among 3 unlabelled items" in text
    # the flips table still lists every changed prediction, the unlabelled ones with an empty emotion
    assert len(flips) == 4 and (flips["emotion"] == "").sum() == 3
