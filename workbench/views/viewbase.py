"""What every view shares: the ``_View`` base (self-display, the 'working…' line), audio players, PNG
figures, escaping, the stored scores of a results row, re-predictions through the one engine, and
:func:`plot_item` (one scored item: waveform, frame scores, stored scores).
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from typing import Any, Sequence

import numpy as np

from workbench.analysis.embeddings import RunEmbeddings, load_run_embeddings
from workbench.audio.intake import Audio
from workbench.data.cards import run_training_overlap
from workbench.engine.core import score_sources
from workbench.errors import ConfigError, WorkbenchError
from workbench.labels import LABEL_KEYS
from workbench.model.network import RANDOM_WEIGHTS_BANNER, Emotion2vecModel
from workbench.model.ref import ModelRef
from workbench.runs.folder import RunFolder
from workbench.runs.reproduce import check_run_checkpoint
from workbench.schema import FRAME_RATE, SCORE_PREFIX, score_column
from workbench.serialize import figure_text
from workbench.views.html import esc, prose

#: a re-prediction of a row's scored audio must give the row's scores within this (max |Δ| over the nine)
REPREDICTION_TOLERANCE = 1e-4



def _w():
    import ipywidgets

    return ipywidgets


def _plt():
    import matplotlib

    if "inline" not in matplotlib.get_backend().lower():
        matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def wav_bytes(y: np.ndarray, sr: int) -> bytes:
    """32-bit float WAV bytes for an audio player: the samples exactly as given, not requantised."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(y, dtype=np.float32), sr, format="WAV", subtype="FLOAT")
    return buf.getvalue()


def player(y: np.ndarray, sr: int):
    return _w().Audio(value=wav_bytes(y, sr), format="wav", autoplay=False, loop=False)


def player_samples(widget) -> tuple[np.ndarray, int]:
    """What an audio player holds: ``(samples, sr)`` decoded from its WAV bytes."""
    import soundfile as sf

    y, sr = sf.read(io.BytesIO(bytes(widget.value)), dtype="float32")
    return y, sr


def png_widget(fig):
    """A matplotlib figure as an Image widget (works headless and in HTML exports)."""
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    plt.close(fig)
    return _w().Image(value=buf.getvalue(), format="png")


def _esc(x: Any) -> str:
    """Text from data inside a widget's HTML, as the reports show it (:func:`workbench.views.html.esc`: markup, control,
    bidirectional and zero-width characters escaped); a speaker "\u202espk" showed the rest of its line reversed."""
    return str(esc(str(x)))


def _banner(random_weights: bool) -> str:
    if not random_weights:
        return ""
    return f"<div style='background:#fdd;padding:4px;border:1px solid #c00'><b>{_esc(RANDOM_WEIGHTS_BANNER)}</b></div>"


def _run_banner(rf: RunFolder) -> str:
    """A run widget's banner: the random-weights one, then each training-data warning of the run (a head's run on the
    speakers that trained it said nothing of it in any widget, while metrics, compare and the report warn)."""
    overlap = "".join(f"<div style='background:#fdd;padding:4px;border:1px solid #c00'><b>⚠ {_esc(w)}</b></div>"
                      for w in run_training_overlap(rf))
    return _banner(rf.random_weights) + overlap


def _findings_html(findings: Sequence[dict]) -> str:
    if not findings:
        return "<div><i>no findings</i></div>"  # a block: after a bold heading it must not run on ("…audiono findings")
    items = "".join(
        f"<li><b>{_esc(f.get('severity', ''))}</b> <code>{_esc(f['code'])}</code>: {_esc(f.get('message', ''))}"
        f"<br><small>→ {prose(str(f.get('suggestion', '')))}</small></li>" for f in findings)
    return f"<ul>{items}</ul>"


def _codes(codes: Any) -> str:
    """A row's ``finding_codes`` ("low_snr,low_confidence") as a list a reader can scan: "low_snr, low_confidence"."""
    return ", ".join(c for c in str(codes or "").split(",") if c)


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if f != f else f


def row_labels(row: Any) -> list[str]:
    """The classes a results row was scored over, in the model's order (its ``score_*`` keys): the nine, or a
    fine-tuned head's own labels."""
    keys = row.keys() if hasattr(row, "keys") else row.index
    return [str(k)[len(SCORE_PREFIX):] for k in keys if str(k).startswith(SCORE_PREFIX)] or list(LABEL_KEYS)


def row_scores(row: Any) -> np.ndarray:
    """The stored scores of a results row, in :func:`row_labels` order."""
    return np.array([float(row[score_column(k)]) for k in row_labels(row)], dtype=np.float64)


def _segment_text(row: Any) -> str:
    start, duration = _num(row.get("start")), _num(row.get("duration"))
    if start is None and duration is None:
        return "whole file"
    a = start or 0.0
    return f"segment {a:.2f}–{a + duration:.2f} s" if duration is not None else f"segment from {a:.2f} s"


SPINNER = ("<style>@keyframes wb-spin{to{transform:rotate(360deg)}}</style>"
           "<span class='wb-spinner' style='display:inline-block;width:0.9em;height:0.9em;border:2px solid #888;"
           "border-top-color:transparent;border-radius:50%;animation:wb-spin 0.8s linear infinite;vertical-align:middle'></span>")


class _View:
    """Base of the views: self-display, and a 'working…' line for the waits (model load, decode, inference)."""

    widget: Any
    status: Any = None

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)

    def _make_status(self):
        self.status = _w().HTML(layout=_w().Layout(min_height="1.4em"))
        self.error = None
        return self.status

    @contextmanager
    def busy(self, what: str):
        """Show a spinner and ``working… what`` while the block runs; a WorkbenchError is shown, not raised."""
        self.error = None
        self.status.value = f"{SPINNER} <i>working… {_esc(what)}</i>"
        try:
            yield
        except WorkbenchError as exc:  # bad input the user can fix: said where they look, with the fix
            self.error = exc
            self.status.value = f"<span style='color:#c00'><b>{_esc(what)} failed</b>: {prose(str(exc))}</span>"
            return
        except BaseException as exc:  # a bug: never leave the spinner turning; the traceback goes to the log
            self.status.value = f"<span style='color:#c00'><b>{_esc(what)} failed</b>: {_esc(type(exc).__name__)}: {_esc(exc)}</span>"
            raise
        self.status.value = ""


def _repredict(net: Emotion2vecModel, clips: list, *, granularity: str = "utterance") -> list:
    """Predictions of audio a view already holds (16 kHz), through the one engine; a clip it cannot score raises."""
    return [s.prediction_or_raise() for s in score_sources(net, clips, granularity=granularity, workers=0)]


def _run_model(rf: RunFolder, model: Any, *, gradients: bool = False) -> Emotion2vecModel:
    """The model that scored the run (or the one given), for re-predictions: the run's
    :class:`~workbench.model.ref.ModelRef`, whose checksum refuses other weights under the same name
    (a random checkpoint of another seed is another model).  ``gradients``: for an explanation, which differentiates
    it: a run scored through ONNX Runtime or in int8 gets the float32 PyTorch network of the same weights."""
    if model:
        return ModelRef.coerce(model).load(gradients=gradients)
    ref = ModelRef.from_run(rf.config, rf.summary)
    check_run_checkpoint(rf.path, ref)
    return ref.load(gradients=gradients)


def _run_embeddings(rf: RunFolder, variant: str) -> RunEmbeddings:
    return load_run_embeddings(rf, variant=variant)


# ---------------------------------------------------------------------------
# figures shared by the views
# ---------------------------------------------------------------------------
def plot_item(audio: Audio, scores: Sequence[float], *, frame_scores: np.ndarray | None = None, true: str | None = None,
              pred: str | None = None, title: str = "", axes=None, labels: Sequence[str] | None = None):
    """One scored item: waveform of the audio as scored, frame-level scores, the utterance scores.

    ``audio`` is the scored audio (16 kHz mono), ``scores`` the ``(C,)`` stored scores over ``labels`` (the
    model's classes; default the nine), ``frame_scores`` ``(T, C)`` at 50 frames/s.  ``axes``: three matplotlib
    axes, or None for a new figure.  Returns the figure.
    """
    labels = list(labels) if labels is not None else list(LABEL_KEYS)
    if len(scores) != len(labels):
        raise ConfigError(f"{len(scores)} scores for {len(labels)} labels.", source="plot_item",
                          fix="pass the labels the scores are over (row_labels(row) for a results row).")
    plt = _plt()
    if axes is None:
        fig, axes = plt.subplots(1, 3, figsize=(12, 2.8), gridspec_kw={"width_ratios": [2, 2, 1.3]})
    a1, a2, a3 = axes
    fig = a1.figure
    a1.plot(np.arange(len(audio.samples)) / audio.sr, audio.samples, lw=0.5)
    a1.set_title(f"waveform as scored ({audio.sr / 1000:g} kHz, {audio.duration:.2f} s)", fontsize=9)
    a1.set_xlabel("time (s)", fontsize=8)
    if frame_scores is not None and len(frame_scores):
        im = a2.imshow(np.asarray(frame_scores).T, aspect="auto", origin="lower", cmap="magma", vmin=0, vmax=1,
                       extent=(0, len(frame_scores) / FRAME_RATE, -0.5, len(labels) - 0.5), interpolation="nearest")
        fig.colorbar(im, ax=a2, fraction=0.05, pad=0.02)
    a2.set_yticks(range(len(labels)), [figure_text(k) for k in labels], fontsize=8)
    a2.set_xlabel("time (s)", fontsize=8)
    a2.set_title("frame-level scores of this audio (50 /s)", fontsize=9)
    colors = ["#c00" if k == true else ("#e69f00" if k == pred else "#4477aa") for k in labels]
    a3.barh(range(len(labels)), scores, color=colors)
    for i, s in enumerate(scores):
        a3.text(min(float(s), 0.75) + 0.02, i, f"{float(s):.3f}", va="center", fontsize=7)
    a3.set_xlim(0, 1)
    a3.set_yticks(range(len(labels)), [figure_text(k) for k in labels], fontsize=8)
    a3.set_title("stored scores (red: true, orange: predicted)", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
