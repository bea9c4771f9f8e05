"""The figures of a calibration (axes in, figure out): reliability before and after, risk–coverage, conformal set sizes."""

from __future__ import annotations

import numpy as np

from workbench.analysis.metrics import _axes
from workbench.serialize import plain_text


def plot_reliability_before_after(report, *, ax=None):
    """Reliability before and after temperature scaling: accuracy against mean confidence per non-empty bin.

    Marker area grows with the bin's item count; the diagonal is perfect calibration.
    ``ax``: axes or None for a new figure.  Returns the figure.
    """
    fig, ax = _axes(ax, (5, 4.5))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="perfect calibration")
    for rows, name, colour, ece_value in ((report.reliability_before, "before", "#cc3311", report.before["ece"]),
                                          (report.reliability_after, f"after (T = {report.temperature:.2f})", "#0077bb",
                                           report.after["ece"])):
        kept = [b for b in rows if b["n"]]
        if kept:
            sizes = np.array([b["n"] for b in kept], dtype=float)
            ax.plot([b["confidence"] for b in kept], [b["accuracy"] for b in kept], "-", color=colour, lw=1)
            ax.scatter([b["confidence"] for b in kept], [b["accuracy"] for b in kept], s=12 + 150 * sizes / sizes.max(),
                       color=colour, alpha=0.8, label=f"{name}: ECE {ece_value:.3f}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("mean confidence of the bin", fontsize=10)
    ax.set_ylabel("accuracy of the bin", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    title = plain_text(f"{report.variant}: reliability, {report.n} items (held-out folds after)")
    if not report.recommended:  # the flag on a line of its own (escaped apart: plain_text shows a break as a literal \n)
        title += "\n⚠ " + ("T at the search bound: degenerate scores, not miscalibration"
                           if report.temperature_edge else "T not recommended (see the NLL check)")
    ax.set_title(title, fontsize=11)
    return fig


def plot_risk_coverage(report, *, ax=None):
    """Risk (error rate) of the most confident share of the items against that share, before and after.

    ``ax``: axes or None.  Returns the figure.
    """
    fig, ax = _axes(ax, (5.5, 4))
    for curve, name, colour, area in ((report.curve_before, "before", "#cc3311", report.aurc_before),
                                      (report.curve_after, "after", "#0077bb", report.aurc_after)):
        if curve.get("coverage"):
            ax.plot(curve["coverage"], curve["risk"], color=colour, lw=1.5, label=f"{name}: AURC {area:.3f}")
    if report.curve_before.get("risk"):
        ax.axhline(report.curve_before["risk"][-1], color="grey", lw=0.8, ls=":", label="error rate answering everything")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("coverage (share of items answered, most confident first)", fontsize=10)
    ax.set_ylabel("risk (error rate of the answered)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(plain_text(f"{report.variant}: risk–coverage"), fontsize=11)
    return fig


def plot_set_sizes(report, *, ax=None):
    """Mean conformal set size per true class (LAC and APS), each bar labelled with its coverage.

    ``ax``: axes or None.  Returns the figure.
    """
    fig, ax = _axes(ax, (1.5 + 0.9 * max(len(report.classes), 1), 4))
    scores = list(report.conformal)
    width = 0.8 / max(len(scores), 1)
    classes = [c for c in report.classes if any(c in report.conformal[s]["per_class"] for s in scores)]
    x = np.arange(len(classes))
    for j, (s, colour) in enumerate(zip(scores, ("#4477aa", "#ee7733"))):
        per = report.conformal[s]["per_class"]
        sizes = [per[c]["mean_size"] for c in classes]
        bars = ax.bar(x + (j - (len(scores) - 1) / 2) * width, sizes, width=width * 0.95, color=colour,
                      label=f"{s.upper()}: coverage {report.conformal[s]['coverage']:.3f}, mean size {report.conformal[s]['mean_size']:.2f}")
        for b, c in zip(bars, classes):
            ax.text(b.get_x() + b.get_width() / 2, b.get_height() + 0.03, f"{per[c]['coverage']:.2f}", ha="center", va="bottom",
                    fontsize=7)
    ax.set_xticks(x, [plain_text(c) for c in classes], rotation=30, ha="right", fontsize=9)
    ax.set_ylim(0, len(report.classes) + 0.5)
    ax.set_ylabel("mean set size (classes)", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(plain_text(f"{report.variant}: conformal sets at alpha {report.alpha} (labels: coverage per class)"), fontsize=10)
    return fig
