"""The figures of a calibration (axes in, figure out): reliability before and after, risk–coverage, conformal set sizes."""

from __future__ import annotations

import textwrap

import numpy as np

from workbench.analysis.calibration_measures import COVERAGE_FAIL, COVERAGE_TOO_FEW
from workbench.analysis.metrics import _axes
from workbench.analysis.stats import SMALL_BIN  # noqa: F401  (public here too) the one rule for hollow bins
from workbench.serialize import plain_text


#: room around [0, 1] on both axes, so a marker on 0 or 1 (the largest has a 6.4 pt radius) is drawn whole
_EDGE = 0.05


def _count_box(ax, x: float, y: float, text: str, side: int) -> tuple[float, float, float, float]:
    """The box (inches from the axes' corner: x0, y0, x1, y1) a 7 pt count beside the marker at (x, y) will take;
    estimated from the axes' size and limits without drawing the figure."""
    fig_w, fig_h = ax.figure.get_size_inches()
    pos = ax.get_position()
    (x_lo, x_hi), (y_lo, y_hi) = ax.get_xlim(), ax.get_ylim()
    px = (x - x_lo) / (x_hi - x_lo) * pos.width * fig_w + side * 6 / 72
    py = (y - y_lo) / (y_hi - y_lo) * pos.height * fig_h + 4 / 72
    width = len(text) * 7 * 0.6 / 72
    return (px, py, px + width, py + 9 / 72) if side > 0 else (px - width, py, px, py + 9 / 72)


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def plot_reliability_before_after(report, *, ax=None):
    """Reliability before and after temperature scaling: accuracy against mean confidence per non-empty bin.

    Marker area grows with the bin's item count; a bin with fewer than :data:`SMALL_BIN` items is hollow, with its n
    beside it (the legend says so).  The diagonal is perfect calibration.  The axes reach a little past 0 and 1, so a
    bin at confidence 1.0 or accuracy 0 is not cut by the frame.
    ``ax``: axes or None for a new figure.  Returns the figure.
    """
    fig, ax = _axes(ax, (5, 5.4))
    ax.plot([0, 1], [0, 1], "--", color="grey", lw=1, label="perfect calibration")
    ax.set_xlim(-_EDGE, 1 + _EDGE)
    ax.set_ylim(-_EDGE, 1 + _EDGE)
    small_seen, placed = False, []
    # "after" is the held-out folds, each scaled by its own fold's temperature (not the T fitted on all items)
    for rows, name, colour, ece_value, ci, side in ((report.reliability_before, "before", "#cc3311", report.before["ece"],
                                                     report.ci_before["ece"], -1),
                                                    (report.reliability_after, "after (held-out folds, each its fold's T)", "#0077bb",
                                                     report.after["ece"], report.ci_after["ece"], 1)):
        kept = [b for b in rows if b["n"]]
        if not kept:
            continue
        # the figure with its interval and its marks (zero width, point outside its interval), as the table gives it
        ece_value = f"{ece_value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" + report.flat_mark(f"ECE {name.split(' ')[0]}")
        x, y = np.array([b["confidence"] for b in kept]), np.array([b["accuracy"] for b in kept])
        n = np.array([b["n"] for b in kept], dtype=float)
        sizes, small = 12 + 150 * n / n.max(), n < SMALL_BIN
        ax.plot(x, y, "-", color=colour, lw=1)
        ax.scatter(x[~small], y[~small], s=sizes[~small], color=colour, alpha=0.8, label=f"{name}: ECE {ece_value}")
        ax.scatter(x[small], y[small], s=sizes[small], facecolors="white", edgecolors=colour, linewidths=1.3, zorder=3,
                   label=None if (~small).any() else f"{name}: ECE {ece_value}")
        for xi, yi, ni in zip(x[small], y[small], n[small]):  # before's counts left of the marker, after's right
            box = _count_box(ax, xi, yi, f"n={int(ni)}", side)
            if not any(_overlap(box, other) for other in placed):  # a count that would cover another is left out
                placed.append(box)
                ax.annotate(f"n={int(ni)}", (xi, yi), xytext=(6 * side, 4), textcoords="offset points", fontsize=7,
                            color=colour, ha="left" if side > 0 else "right", va="bottom")
        small_seen = small_seen or bool(small.any())
    if small_seen:
        ax.scatter([], [], s=40, facecolors="white", edgecolors="black", linewidths=1.3,
                   label=f"hollow: a bin of fewer than {SMALL_BIN} items (its n beside it where there is room)")
    ticks = np.linspace(0, 1, 6)
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    ax.set_xlabel("mean confidence of the bin", fontsize=10)
    ax.set_ylabel("accuracy of the bin", fontsize=10)
    # under the axes: inside, it covered the bins of an under-confident corner (accuracy 1 at confidence 0.4)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    title = plain_text(f"{report.variant}: reliability, {report.n} items (held-out folds after)")
    flags = [] if report.recommended else ["T at the search bound: degenerate scores, not miscalibration" if report.temperature_edge
                                           else "T not recommended (see the NLL check)"]
    flags += figure_marks(report, [f"ECE {w}" for w in ("before", "after")])
    _flag_title(ax, title, flags, fontsize=11)
    return fig


def figure_marks(report, names) -> list[str]:
    """The marks of the figures ``names`` (``ECE before``, ``AURC after`` …) that a figure shows, in the screen's words:
    ``ECE before: !! outside its interval``; empty when none is marked (:meth:`CalibrationReport.flat_mark`)."""
    return [f"{name}:{mark}" for name in names if (mark := report.flat_mark(name))]


def _flag_title(ax, title: str, flags, *, fontsize: float) -> None:
    """``title`` and, on a line of its own, ``⚠`` with the failed checks (escaped apart: plain_text shows a break as a
    literal \\n), in crimson when there are any."""
    if flags:
        chars = max(30, int(ax.figure.get_size_inches()[0] * 72 / (fontsize * 0.6)))  # a line as wide as the figure
        title += "\n" + "\n".join(plain_text(line) for line in textwrap.wrap("⚠ " + "; ".join(flags), chars))
    ax.set_title(title, fontsize=fontsize, color="crimson" if flags else "black")


def plot_risk_coverage(report, *, ax=None):
    """Risk (error rate) of the most confident share of the items against that share, before and after.

    ``ax``: axes or None.  Returns the figure.
    """
    fig, ax = _axes(ax, (5.5, 4))
    for curve, name, colour, area, ci in ((report.curve_before, "before", "#cc3311", report.aurc_before, report.aurc_ci_before),
                                          (report.curve_after, "after", "#0077bb", report.aurc_after, report.aurc_ci_after)):
        if curve.get("coverage"):
            ax.plot(curve["coverage"], curve["risk"], color=colour, lw=1.5,
                    label=f"{name}: AURC {area:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]{report.flat_mark(f'AURC {name}')}")
    if report.curve_before.get("risk"):
        ax.axhline(report.curve_before["risk"][-1], color="grey", lw=0.8, ls=":",
                   label="error rate answering everything (a random order's AURC)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)  # a risk of 1 (every item wrong) drawn above the frame, not hidden in it
    ax.set_xlabel("coverage (share of items answered, most confident first)", fontsize=10)
    ax.set_ylabel("risk (error rate of the answered)", fontsize=10)
    ax.legend(fontsize=8, loc="best")  # placed where the curves are not
    # an AURC no lower than a random order's: the check's words up to its details ("AURC before 0.680 is NOT measurably
    # below 0.719, the error rate answering everything (a random order's AURC)"), as flagged_title shortens a note
    flags = [w.split(":")[0] for w in (report.checks or {}).get("aurc_not_below_random_order", ())]
    _flag_title(ax, plain_text(f"{report.variant}: risk–coverage"), flags + figure_marks(report, ["AURC before", "AURC after"]), fontsize=11)
    return fig


def _room_for_legend(ax, legend, *, top: float) -> None:
    """Headroom above the size labels (the highest at ``top`` in data units, one 7-point line tall) for the legend at the
    axes' top, measured: a fixed y-limit of 1.55 left the legend's five lines (two scores of two lines, the target) over
    the labels of the intervals that reach 1 (walk15, the demo run's figure)."""
    renderer = ax.figure.canvas.get_renderer()
    ax.figure.tight_layout()  # as the figure is written: the title's lines and the ticks shrink the axes, not the legend
    height = ax.get_window_extent(renderer).height
    legend_share = legend.get_window_extent(renderer).height / height
    label_share = 12 / 72 * ax.figure.dpi / height  # one 7-point label with its white box
    ax.set_ylim(0, max(1.3, top / max(1 - legend_share - label_share - 0.03, 0.25)))


def plot_set_sizes(report, *, ax=None):
    """Conformal sets per true class (LAC and APS): the coverage with its exact binomial 95 % interval, against the
    target 1 − alpha (dashed line); each bar labelled with its mean set size, each class with its n.

    A bar whose interval misses the target is hatched and edged red (its check failed); a class with too few items to
    check is drawn faded.  The legend says each score's overall coverage, interval, check and mean size (and when the sets
    are uninformative), and the title repeats the failed checks on a line of its own (a class whose own sets are
    uninformative included).
    ``ax``: axes or None for a new figure.  Returns the figure.
    """
    # never under 7.5 inches: at 5.1 (four classes) the title and the legend's lines ran past the PNG's edges
    fig, ax = _axes(ax, (max(7.5, 1.5 + 0.9 * max(len(report.classes), 1)), 4.4))
    scores = list(report.conformal)
    width = 0.8 / max(len(scores), 1)
    classes = [c for c in report.classes if any(c in report.conformal[s]["per_class"] for s in scores)]
    x = np.arange(len(classes))
    target = 1 - report.alpha
    flags = []
    for j, (s, colour) in enumerate(zip(scores, ("#4477aa", "#ee7733"))):
        d = report.conformal[s]
        per = d["per_class"]
        cov = np.array([per[c]["coverage"] for c in classes])
        lo = np.array([per[c]["coverage_ci"][0] for c in classes])
        hi = np.array([per[c]["coverage_ci"][1] for c in classes])
        failed = [per[c]["check"] == COVERAGE_FAIL for c in classes]
        few = [per[c]["check"] == COVERAGE_TOO_FEW for c in classes]
        (glo, ghi) = d["coverage_ci"]
        g = d.get("guarantee")  # the check's range: what valid split-conformal sets of these folds cover (95 %)
        label = (f"{s.upper()}: coverage {d['coverage']:.3f} [{glo:.3f}, {ghi:.3f}] ({d['check']}"
                 + (f" against valid sets' {g['range'][0]:.3f}-{g['range'][1]:.3f}" if g else "") + "), "
                 f"mean size {d['mean_size']:.2f} of {d['n_classes']}" + (" UNINFORMATIVE" if d["uninformative"] else "")
                 + (f"\nassumes exchangeable {gb['by']}s: per {gb['by']} {gb['coverage_range'][0]:.2f}-{gb['coverage_range'][1]:.2f}"
                    if (gb := d.get("by_group") or {}).get("grouped") else "\nassumes exchangeable items" if gb else ""))
        xs = x + (j - (len(scores) - 1) / 2) * width
        bars = ax.bar(xs, cov, width=width * 0.95, color=colour, label=label)
        ax.errorbar(xs, cov, yerr=[cov - lo, hi - cov], fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
        for b, c, bad, thin, top in zip(bars, classes, failed, few, hi):
            if bad:
                b.set_hatch("///")
                b.set_edgecolor("#cc3311")
                b.set_linewidth(1.5)
            elif thin:
                b.set_alpha(0.35)
            # on a white ground above the target line: a label at an interval's top near the target was struck through
            ax.text(b.get_x() + b.get_width() / 2, top + 0.02, f"{per[c]['mean_size']:.1f}" + (" ✗" if bad else ""),
                    ha="center", va="bottom", fontsize=7, color="#cc3311" if bad else "black", zorder=4,
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.6})
        if d["check"] == COVERAGE_FAIL:
            flags.append(f"{s.upper()} coverage {d['direction']} target")
        failed_classes = [c for c, bad in zip(classes, failed) if bad]
        if failed_classes:
            # the class's coverage check FAILED, with its BH q as the table beside it gives it ("LAC per class: happy"
            # did not say what happened to happy)
            flags.append(f"{s.upper()} coverage FAILS for " + ", ".join(
                c + (f" (BH q {per[c]['q']:.2g})" if "q" in per[c] else "") for c in failed_classes))
        if d["uninformative"]:
            flags.append(f"{s.upper()} sets uninformative")
        if (d.get("by_group") or {}).get("flag"):  # the guarantee's exchangeability fails between speakers
            flags.append(f"{s.upper()} coverage differs between {d['by_group']['by']}s beyond chance")
        useless = [c for c in classes if per[c].get("uninformative")]
        if useless:
            flags.append(f"{s.upper()} uninformative for {', '.join(useless)}")
    ax.axhline(target, color="#cc3311", lw=1, ls="--", label=f"target coverage 1 − alpha = {target:.2f}")
    first = report.conformal[scores[0]]["per_class"] if scores else {}
    ticks = [plain_text(c) + (f"\nn={first[c]['n']}" + (", too few to check" if first[c]["check"] == COVERAGE_TOO_FEW else "")
                              if c in first else "") for c in classes]
    ax.set_xticks(x, ticks, rotation=30, ha="right", fontsize=9)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("coverage of the true class", fontsize=10)
    legend = ax.legend(fontsize=7, loc="upper left", ncol=1, frameon=False)
    title = plain_text(f"{report.variant}: conformal sets at alpha {report.alpha} (exact 95 % intervals; labels: mean set size)")
    skipped = getattr(report, "conformal_skipped", None) or {}
    if skipped:  # a score that was not run says so on the figure too (two classes: APS skipped, LAC only)
        reason = next(iter(skipped.values())).split(":", 1)[-1].split(", so ")[0].strip()  # "the corpus has 2 classes"
        title += "\n" + plain_text(f"{', '.join(k.upper() for k in skipped)} sets skipped ({reason}): "
                                   f"{', '.join(k.upper() for k in scores)} only")
    _flag_title(ax, title, flags, fontsize=10)  # the failed checks on lines of their own, in crimson, as the other figures
    _room_for_legend(ax, legend, top=1.02)
    return fig
