"""explainfix16: claims on explain pages and long-audio views that said more than was checked (walk16)."""

import json

import numpy as np


def _sine(seconds: float = 0.5, hz: float = 1000.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * 16000)) / 16000
    return (amp * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_a_worst_case_map_whose_randomisation_check_was_skipped_is_not_said_to_pass_every_check(tiny_model):
    """`explain RUN --worst N --randomisation none`: each map with its other checks passed was drawn green, "green =
    passed every check", and the report's table counted it under "maps that passed every check". A skipped check is
    no pass: the cell is its own colour and says SKIPPED, the summary counts it apart with why, on screen too."""
    import matplotlib
    import matplotlib.pyplot as plt

    matplotlib.use("Agg")
    from workbench.explain.explanation import explain_clip
    from workbench.explain.worst import case_record, passed_cell, plot_worst, summary_lines, summary_record

    expl = explain_clip(tiny_model, _sine(), target="happy", methods=("occlusion",), n_random=10, randomisation=None)
    record = json.loads(expl.to_json())
    record["methods"]["occlusion"]["reliable"] = True  # its other checks passed: only the skipped one is in question
    case = case_record({"id": "c1", "variant": "raw", "pred": "happy", "confidence": 0.9}, record, entry=None, cache="computed")
    method = case["methods"]["occlusion"]
    assert "randomisation" in method["checks_skipped"] and "randomisation" not in method["checks_ran"], method
    assert "faithfulness" in method["checks_ran"]
    summary = summary_record([case], rule="r", n=1, m=1, variant=None, settings={}, warning=None)
    counts = summary["methods"]["occlusion"]
    assert counts["passed_every_check"] == 0 and counts["reliable"] == 1 and counts["randomisation_skipped_why"], counts
    fig = plot_worst(summary)
    ax = fig.axes[0]
    cell = ax.images[0].cmap(ax.images[0].norm(ax.images[0].get_array()[0, 0]))
    green = matplotlib.colors.to_rgba("#b7e4c7")
    assert not np.allclose(cell, green), cell  # not drawn as a pass
    assert "randomisation SKIPPED" in " ".join(t.get_text() for t in ax.texts)
    assert "SKIPPED (not a pass)" in fig._suptitle.get_text().replace("\n", " ")
    plt.close(fig)
    screen = "\n".join(summary_lines(summary))
    assert "0 of 1 maps passed every check" in screen and "SKIPPED" in screen and "not requested" in screen, screen
    shown = passed_cell(counts)
    assert shown.startswith("0 of 1") and "SKIPPED" in shown and "not requested" in shown, shown
