"""The RANDOM WEIGHTS mark at a figure's foot never covers the figure's own labels (report pages and run folders)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

from workbench.runs.artifacts import mark_random_weights  # noqa: E402


def _figure_with_low_labels():
    """A figure as the report draws the conformal set sizes: no layout engine, rotated two-line tick labels that
    reach the figure's bottom edge and below it."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.4))
    ax.bar(range(5), [1, 0.5, 1, 1, 1])
    ax.set_xticks(range(5), [f"class {i}\nn=12, too few to check" for i in range(5)], rotation=30, ha="right")
    ax.set_xlabel("a label under the ticks")
    return fig


def _overlaps(fig, mark) -> list[str]:
    renderer = fig._get_renderer()
    box = mark.get_window_extent(renderer)
    ax = fig.axes[0]
    labels = [*ax.get_xticklabels(), ax.xaxis.label]
    return [t.get_text() for t in labels if t.get_text() and t.get_window_extent(renderer).overlaps(box)]


def test_the_mark_goes_under_the_tick_labels_of_a_figure_without_a_layout_engine():
    """The experiment report's conformal set-size figure: the mark was written across its rotated class labels
    ("RANDOM WEIGHTS: a seeded test checkpoint…" through "happy n=15"); now the figure grows at its foot."""
    fig = _figure_with_low_labels()
    mark_random_weights(fig)
    fig.savefig(io.BytesIO(), format="png", dpi=90, bbox_inches="tight")  # as the report's show_figure saves it
    mark = fig.texts[-1]
    assert "RANDOM WEIGHTS" in mark.get_text()
    assert _overlaps(fig, mark) == []


def test_the_mark_stays_inside_a_figure_saved_without_a_tight_box():
    """A run folder's figure is saved at its own size: the mark and every label lie inside it."""
    fig = _figure_with_low_labels()
    mark_random_weights(fig)
    fig.savefig(io.BytesIO(), format="png", dpi=110)
    renderer = fig._get_renderer()
    assert _overlaps(fig, fig.texts[-1]) == []
    assert fig.get_tightbbox(renderer).y0 >= 0  # nothing drawn below the figure's edge, where the PNG cuts it


def test_the_reports_sweep_figure_of_a_random_checkpoint_carries_the_mark(tmp_path, monkeypatch):
    """The variant comparison's sweep figure, scored with `tiny` (the run's model as a ModelRef, or `-p model=tiny`),
    went out without the RANDOM WEIGHTS mark: the section asked the model reference, which carries no such flag."""
    from workbench.data.demoset import DEMO_DATA
    from workbench.model.ref import ModelRef
    from workbench.views import reporting

    shown = []
    monkeypatch.setattr(reporting, "show_figure", lambda fig, **kw: shown.append(kw.get("random_weights")))
    monkeypatch.setattr(reporting, "show_html", lambda markup: None)
    reporting.sweep_section(DEMO_DATA / "happy_zh_onset0.wav", "sample-rate", tmp_path / "sweep",
                            ModelRef("tiny", device="cpu", dtype="float32"))
    assert shown == [True]
