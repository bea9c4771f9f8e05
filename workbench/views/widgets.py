"""ipywidgets views for notebooks: look at one clip, one run, one long file.

Every view is a class whose ``.widget`` is the ipywidgets container (the class
displays itself in a notebook).  Controls are public attributes, so tests and
scripts drive a view exactly as a user does: set ``.value``, call
``.click()``, call a plotly figure's registered click callbacks, then read what
the view shows (``.summary.value``, ``.table.options``, ``.shown`` …).  Logic
lives in the rest of the package; these classes only wire it to controls.

=======================  ====================================================
view                     what it shows
=======================  ====================================================
TrimmingInspector        source and processed waveform on one time axis,
                         removed regions shaded, samples cut, both playable
SampleRateExplorer       spectrograms before/after a source rate, resampler
                         or telephone channel, the class scores, label change
LowConfidenceBrowser     a run's items filtered by confidence, finding,
                         label, variant, speaker; one item in detail
EmbeddingMap             a run's embeddings in 2-D; click a point to open it
ConfusionExplorer        the confusion matrix as buttons; a cell's items
ListenerErrorsBrowser    items listeners agree on and the model gets wrong
VariantDiff              the flips between two variants, both playable
LongAudioTimeline        a segmented file's heatmap and timeline (click a
                         span to play it)
=======================  ====================================================

Every view of a run item shows the audio the row was scored on
(:meth:`RunFolder.scored_audio`: its segment, its variant's chain, 16 kHz) and
the scores stored in the row; a re-prediction (the frame heatmap) is made from
that same audio and is checked against the row's scores.
"""

from __future__ import annotations

from workbench.views.viewbase import (  # noqa: F401  (the helpers tests and notebooks use)
    REPREDICTION_TOLERANCE,
    _findings_html,
    player,
    player_samples,
    plot_item,
    png_widget,
    row_labels,
    row_scores,
    wav_bytes,
)
from workbench.views.clip_views import SampleRateExplorer, TrimmingInspector
from workbench.views.run_browser import EmbeddingMap, LowConfidenceBrowser
from workbench.views.error_views import ConfusionExplorer, ListenerErrorsBrowser, VariantDiff
from workbench.views.timeline import LongAudioTimeline

__all__ = ["ConfusionExplorer", "EmbeddingMap", "ListenerErrorsBrowser", "LongAudioTimeline", "LowConfidenceBrowser", "SampleRateExplorer",
           "TrimmingInspector", "VariantDiff", "plot_item", "player", "player_samples", "wav_bytes"]
