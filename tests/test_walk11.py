"""Walk 11: a new researcher's fine-tuning path (a head for a corpus's own labels) through every command and report."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

from workbench.data.cards import OverlapWarning  # noqa: E402
from workbench.runs.artifacts import mark_random_weights  # noqa: E402

#: the warning a run of a fine-tuned head carried in this walk (four speakers of the corpus trained the head)
OVERLAP = [OverlapWarning("speaker overlap: 4 of the 5 speakers evaluated here (espeak-ng, spk_f1, spk_m1, spk_m2) trained or "
                          "early-stopped the fine-tuned head head; figures on them are not speaker-independent. Its held-out "
                          "speakers: spk_f2.", "speakers espeak-ng, spk_f1, spk_m1, … (4 of 5) trained head head")]


def test_the_training_data_mark_fits_inside_a_narrow_figure():
    """`workbench metrics` of the head's run drew reliability_raw.png 5 inches wide: its mark "TRAINING DATA: speakers
    espeak-ng, spk_f1, spk_m1, … (4 of 5) trained head head; not an independent test" ran past both edges of the PNG
    ("ING DATA: … not an independen"). Now a mark wider than the figure is broken over lines, all of it inside."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4.5), layout="constrained")  # as plot_reliability draws it
    ax.plot([0, 1], [0, 1])
    meta = mark_random_weights(fig, overlap=OVERLAP)
    fig.savefig(io.BytesIO(), format="png", dpi=110)
    renderer = fig._get_renderer()
    width = fig.bbox.width
    marks = [t for t in fig.texts if t.get_color() == "crimson"]
    said = " ".join(t.get_text() for t in marks)
    for word in ("TRAINING", "espeak-ng,", "independent", "RANDOM", "nothing"):
        assert word in said.split(), said
    for t in marks:
        box = t.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= width, (t.get_text(), box.x0, box.x1, width)
    assert meta["training_overlap_mark"].startswith("TRAINING DATA: speakers espeak-ng") and "\n" not in meta["training_overlap_mark"]
    plt.close(fig)
